//! Signed, expiring action links for the people a notification reaches:
//! `{public_url}/l/{payload}.{sig}`, where `payload` is base64url of a small JSON object
//! (incident, action, recipient, expiry in ms) and `sig` is base64url of its HMAC-SHA256
//! under the service's link key. Pure: signing and checking take the time as an argument.
//!
//! The codec lives in `notify` (which signs) rather than in `serve` (which checks and acts
//! on links, `serve::links`) because `notify` must not import `serve`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// What following a link does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkAction {
    /// Shows the incident and a button that acknowledges it (once).
    Ack,
    /// Shows the incident, read-only.
    Open,
}

/// What a link says, signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkClaims {
    /// The incident.
    #[serde(rename = "i")]
    pub incident: String,
    /// What the link does.
    #[serde(rename = "a")]
    pub action: LinkAction,
    /// Who it was sent to: recorded as `who` of the acknowledgement.
    #[serde(rename = "r")]
    pub recipient: String,
    /// Wall-clock milliseconds after which it no longer works.
    #[serde(rename = "e")]
    pub expires_ms: i64,
}

/// Why a link is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Not a link we signed (altered, truncated, another key).
    #[error("invalid link")]
    Invalid,
    /// Signed by us, but past its expiry.
    #[error("this link has expired")]
    Expired(LinkClaims),
}

/// Signs and checks links with the service's key.
#[derive(Clone)]
pub struct Signer {
    key: Vec<u8>,
    /// How long a new link stays valid.
    pub ttl: Duration,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer(<redacted>, ttl {:?})", self.ttl) // never print the key
    }
}

impl Signer {
    /// A signer with `key` (any length; the service uses 32 random bytes) whose links last `ttl`.
    pub fn new(key: Vec<u8>, ttl: Duration) -> Self {
        Signer { key, ttl }
    }

    fn mac(&self, payload: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(payload.as_bytes());
        mac
    }

    /// The link's last path segment, `{payload}.{sig}`, for `claims`.
    pub fn token(&self, claims: &LinkClaims) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialise"));
        let sig = URL_SAFE_NO_PAD.encode(self.mac(&payload).finalize().into_bytes());
        format!("{payload}.{sig}")
    }

    /// The full link `{public_url}/l/{token}` for `action` on `incident`, sent to `recipient`
    /// at `now` (ms), valid for [`Signer::ttl`].
    pub fn url(&self, public_url: &str, incident: &str, action: LinkAction, recipient: &str, now: i64) -> String {
        let claims = LinkClaims {
            incident: incident.to_string(),
            action,
            recipient: recipient.to_string(),
            expires_ms: now.saturating_add(self.ttl.as_millis() as i64),
        };
        format!("{}/l/{}", public_url.trim_end_matches('/'), self.token(&claims))
    }

    /// The claims of `token` if we signed it and it has not expired at `now` (ms). The
    /// signature is checked first, in constant time, so an expired link is only reported as
    /// such when it is genuine.
    ///
    /// # Errors
    /// [`LinkError::Invalid`] or [`LinkError::Expired`].
    pub fn verify(&self, token: &str, now: i64) -> Result<LinkClaims, LinkError> {
        let (payload, sig) = token.split_once('.').ok_or(LinkError::Invalid)?;
        let sig = URL_SAFE_NO_PAD.decode(sig).map_err(|_| LinkError::Invalid)?;
        self.mac(payload).verify_slice(&sig).map_err(|_| LinkError::Invalid)?;
        let json = URL_SAFE_NO_PAD.decode(payload).map_err(|_| LinkError::Invalid)?;
        let claims: LinkClaims = serde_json::from_slice(&json).map_err(|_| LinkError::Invalid)?;
        if now >= claims.expires_ms {
            return Err(LinkError::Expired(claims));
        }
        Ok(claims)
    }
}

/// What the store keeps of a used link: SHA-256 of its signature part, hex. Enough to
/// recognise the link again, useless to forge one.
pub fn used_key(token: &str) -> String {
    let sig = token.rsplit_once('.').map_or(token, |(_, s)| s);
    Sha256::digest(sig.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> Signer {
        Signer::new(b"0123456789abcdef0123456789abcdef".to_vec(), Duration::from_secs(3600))
    }

    #[test]
    fn a_link_round_trips_until_it_expires() {
        let s = signer();
        let url = s.url("https://cw.example/", "inc1", LinkAction::Ack, "dana@acme", 1_000);
        assert!(url.starts_with("https://cw.example/l/"), "{url}");
        let token = url.rsplit('/').next().unwrap();
        let c = s.verify(token, 2_000).unwrap();
        assert_eq!((c.incident.as_str(), c.action, c.recipient.as_str()), ("inc1", LinkAction::Ack, "dana@acme"));
        assert_eq!(c.expires_ms, 1_000 + 3_600_000);
        assert!(matches!(s.verify(token, 1_000 + 3_600_000), Err(LinkError::Expired(_))));
    }

    #[test]
    fn altered_or_foreign_links_are_invalid() {
        let s = signer();
        let claims =
            LinkClaims { incident: "inc1".into(), action: LinkAction::Open, recipient: "x".into(), expires_ms: 10 };
        let token = s.token(&claims);
        let (payload, sig) = token.split_once('.').unwrap();
        // another action under the same signature
        let forged = LinkClaims { action: LinkAction::Ack, ..claims.clone() };
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        let mut flipped = sig.to_string().into_bytes();
        flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
        for bad in [
            format!("{forged_payload}.{sig}"),
            format!("{payload}.{}", String::from_utf8(flipped).unwrap()),
            payload.to_string(),
            format!("{payload}."),
            "..".to_string(),
        ] {
            assert_eq!(s.verify(&bad, 0), Err(LinkError::Invalid), "{bad}");
        }
        let other = Signer::new(b"another key, also 32 bytes long!".to_vec(), Duration::from_secs(1));
        assert_eq!(other.verify(&token, 0), Err(LinkError::Invalid));
        // an expired link is only called expired when it is genuine
        let old = LinkClaims { expires_ms: -1, ..claims };
        assert!(matches!(s.verify(&s.token(&old), 0), Err(LinkError::Expired(_))));
        assert_eq!(other.verify(&s.token(&old), 0), Err(LinkError::Invalid));
    }

    #[test]
    fn the_used_key_names_the_signature_only() {
        let k = used_key("payload.sig");
        assert_eq!(k.len(), 64);
        assert_eq!(k, used_key("other.sig"));
        assert_ne!(k, used_key("payload.sig2"));
        assert!(!format!("{:?}", signer()).contains("0123"), "the key stays out of Debug");
    }
}
