//! Button presses from Slack (pure): the request signature check and the `block_actions`
//! payload.
//!
//! Slack signs every request to the interactivity URL: `X-Slack-Signature` is `v0=` and the
//! hex HMAC-SHA256, keyed with the app's signing secret, of `v0:{X-Slack-Request-Timestamp}:
//! {raw body}`. A request is accepted only when that matches (compared in constant time) and
//! its timestamp is within five minutes of now (a captured request cannot be replayed later).
//! The body is `application/x-www-form-urlencoded` with one field, `payload`, a JSON document.

use super::blocks;
use crate::notify::channel::IncidentAction;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

/// How far a request's timestamp may be from now, in seconds.
pub const MAX_SKEW_SECS: i64 = 300;

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// No timestamp, or not within [`MAX_SKEW_SECS`].
    #[error("the request timestamp is missing or too old")]
    Stale,
    /// The signature does not match.
    #[error("bad signature")]
    BadSignature,
}

/// `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{body}` with `secret`.
pub fn signature(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("v0={hex}")
}

/// Checks a request against each of `secrets` (one per Slack receiver): `Ok(i)`, the index
/// of the secret that signed it.
///
/// # Errors
/// [`Refused`]: a stale timestamp (checked first) or no secret's signature matches.
pub fn verify(secrets: &[&[u8]], timestamp: &str, sig: &str, body: &[u8], now_secs: i64) -> Result<usize, Refused> {
    let ts: i64 = timestamp.trim().parse().map_err(|_| Refused::Stale)?;
    if (now_secs - ts).abs() > MAX_SKEW_SECS {
        return Err(Refused::Stale);
    }
    for (i, s) in secrets.iter().enumerate() {
        let want = signature(s, timestamp.trim(), body);
        if want.len() == sig.len() && bool::from(subtle::ConstantTimeEq::ct_eq(want.as_bytes(), sig.as_bytes())) {
            return Ok(i);
        }
    }
    Err(Refused::BadSignature)
}

/// One button press.
#[derive(Debug, Clone, PartialEq)]
pub struct Press {
    /// Who pressed, as recorded: `@username (Slack)`.
    pub who: String,
    /// What to do.
    pub action: IncidentAction,
    /// What the message will say was done (`Acknowledged`, …).
    pub label: &'static str,
    /// The incident (the button's `value`).
    pub incident: String,
    /// The message's channel and `ts`, to edit it.
    pub channel: Option<String>,
    /// The message's `ts`.
    pub ts: Option<String>,
    /// The message as Slack has it (its blocks), to edit it.
    pub message: Value,
    /// Where Slack takes a replacement message for 30 minutes.
    pub response_url: Option<String>,
}

/// Decodes `application/x-www-form-urlencoded` field `name`.
pub fn form_field(body: &[u8], name: &str) -> Option<String> {
    for pair in body.split(|b| *b == b'&') {
        let mut kv = pair.splitn(2, |b| *b == b'=');
        let k = kv.next().unwrap_or_default();
        if percent_decode(k)? == name {
            return percent_decode(kv.next().unwrap_or_default());
        }
    }
    None
}

fn percent_decode(s: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(s.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The button press in a signed request body, or `None` for anything else (another kind of
/// interaction, a button that is not ours).
pub fn parse(body: &[u8]) -> Option<Press> {
    let payload: Value = serde_json::from_str(&form_field(body, "payload")?).ok()?;
    if payload["type"] != "block_actions" {
        return None;
    }
    let a = &payload["actions"][0];
    let (action, label) = match a["action_id"].as_str()? {
        blocks::ACK => (IncidentAction::Acknowledge, "Acknowledged"),
        blocks::ESCALATE => (IncidentAction::EscalateNow, "Escalated"),
        blocks::MUTE => (IncidentAction::Mute(std::time::Duration::from_secs(3600)), "Muted for 1 h"),
        _ => return None,
    };
    let user = &payload["user"];
    let name = user["username"].as_str().or(user["name"].as_str()).or(user["id"].as_str()).unwrap_or("someone");
    let who = format!("@{} (Slack)", blocks::cut(name, 80));
    let channel = payload["channel"]["id"].as_str().or(payload["container"]["channel_id"].as_str()).map(String::from);
    let ts = payload["message"]["ts"].as_str().or(payload["container"]["message_ts"].as_str()).map(String::from);
    Some(Press {
        who,
        action,
        label,
        incident: a["value"].as_str()?.to_string(),
        channel,
        ts,
        message: payload["message"].clone(),
        response_url: payload["response_url"].as_str().map(String::from),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_checked_with_the_time_window() {
        // the example of Slack's "Verifying requests from Slack"
        let secret = b"8f742231b10e8888abcd99yyyzzz85a5";
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let sig = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        assert_eq!(signature(secret, "1531420618", body), sig);
        let now = 1531420618 + 60;
        assert_eq!(verify(&[b"other", secret], "1531420618", sig, body, now), Ok(1));
        assert_eq!(verify(&[secret], "1531420618", sig, b"tampered", now), Err(Refused::BadSignature));
        assert_eq!(verify(&[secret], "1531420618", "v0=00", body, now), Err(Refused::BadSignature));
        assert_eq!(verify(&[secret], "1531420618", sig, body, 1531420618 + 301), Err(Refused::Stale));
        assert_eq!(verify(&[secret], "", sig, body, now), Err(Refused::Stale));
    }

    #[test]
    fn a_block_action_is_read_from_the_form() {
        let payload = serde_json::json!({"type": "block_actions", "user": {"id": "U1", "username": "dana", "name": "dana"},
            "actions": [{"action_id": blocks::MUTE, "value": "inc-1", "type": "button"}],
            "channel": {"id": "C1"}, "message": {"ts": "17.5", "blocks": []}, "response_url": "https://hooks.slack.com/a"});
        let enc: String = payload
            .to_string()
            .bytes()
            .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
            .collect();
        let p = parse(format!("payload={enc}").as_bytes()).unwrap();
        assert_eq!((p.who.as_str(), p.incident.as_str(), p.label), ("@dana (Slack)", "inc-1", "Muted for 1 h"));
        assert_eq!((p.channel.as_deref(), p.ts.as_deref()), (Some("C1"), Some("17.5")));
        assert_eq!(p.action, IncidentAction::Mute(std::time::Duration::from_secs(3600)));
        assert_eq!(form_field(b"a=1&payload=x+y%21", "payload").as_deref(), Some("x y!"));
        assert!(parse(b"payload=%7B%22type%22%3A%22view_submission%22%7D").is_none());
    }
}
