//! The webhook receiver: the alert event as the JSON body, signed with HMAC-SHA256 over
//! `timestamp + "." + body`, an idempotency key per notification, a timeout, and only
//! redirects to the same host followed. Answers are classified for the retry stage: 2xx
//! delivered; 429, 5xx and network errors retried (honouring `Retry-After`); other 4xx and
//! refused redirects fail at once.

use super::{Delivery, Notifier, Outgoing};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// Hex-encoded HMAC-SHA256 of `timestamp.body`: the `X-Crisiswatch-Signature` value after
/// `sha256=`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// A signed-webhook receiver.
pub struct Webhook {
    client: reqwest::Client,
    url: reqwest::Url,
    secret: Vec<u8>,
    alertmanager: bool,
}

impl Webhook {
    /// A webhook to `url` signing with `secret`.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(url: reqwest::Url, secret: Vec<u8>, timeout: Duration) -> Result<Self, reqwest::Error> {
        let policy = reqwest::redirect::Policy::custom(|attempt| {
            let first = attempt
                .previous()
                .first()
                .map(|u| (u.scheme().to_string(), u.host_str().map(str::to_string), u.port_or_known_default()));
            let next = (
                attempt.url().scheme().to_string(),
                attempt.url().host_str().map(str::to_string),
                attempt.url().port_or_known_default(),
            );
            if attempt.previous().len() < 5 && first.as_ref() == Some(&next) {
                attempt.follow()
            } else {
                attempt.stop() // another host (or too many hops): never followed
            }
        });
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(policy)
            .user_agent(concat!("crisiswatch/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Webhook { client, url, secret, alertmanager: false })
    }
}

/// `Retry-After` in either form: delta-seconds or an HTTP-date.
fn retry_after(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = h.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    super::retry_after(v, crate::clock::wall_ms())
}

impl Webhook {
    /// Sends the body in the Alertmanager webhook format (version 4) when `on`.
    pub fn alertmanager(mut self, on: bool) -> Self {
        self.alertmanager = on;
        self
    }
}

impl Notifier for Webhook {
    fn deliver<'a>(&'a self, n: &'a Outgoing) -> Pin<Box<dyn Future<Output = Delivery> + Send + 'a>> {
        Box::pin(async move {
            let ts = crate::clock::wall_ms() / 1000;
            let body = if self.alertmanager { super::alertmanager::render(&n.body) } else { n.body.clone() };
            let sig = signature(&self.secret, ts, body.as_bytes());
            let res = self
                .client
                .post(self.url.clone())
                .header("content-type", "application/json")
                .header("x-crisiswatch-timestamp", ts.to_string())
                .header("x-crisiswatch-signature", format!("sha256={sig}"))
                .header("idempotency-key", &n.idempotency_key)
                .body(body)
                .send()
                .await;
            match res {
                Ok(r) if r.status().is_success() => Delivery::Delivered,
                Ok(r) if r.status() == 429 || r.status().is_server_error() => {
                    Delivery::Retry { after: retry_after(r.headers()), error: format!("HTTP {}", r.status()) }
                }
                Ok(r) if r.status().is_redirection() => {
                    Delivery::Fail(format!("HTTP {}: redirect to another host refused", r.status()))
                }
                Ok(r) => Delivery::Fail(format!("HTTP {} (not retried)", r.status())),
                Err(e) => Delivery::Retry { after: None, error: format!("{e}") },
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn signature_matches_a_known_vector() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?"
        let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::KeyInit>::new_from_slice(b"Jefe").unwrap();
        hmac::Mac::update(&mut mac, b"what do ya want for nothing?");
        let hex: String = hmac::Mac::finalize(mac).into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        assert_eq!(super::signature(b"k", 1700000000, b"{}").len(), 64);
        assert_ne!(super::signature(b"k", 1700000000, b"{}"), super::signature(b"k", 1700000001, b"{}"));
    }
}
