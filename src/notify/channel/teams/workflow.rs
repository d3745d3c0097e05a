//! Posting a Teams message to a workflow webhook URL (`url_env`): one `POST` of the message
//! JSON. A workflow answers `202 Accepted` once it has taken the request; any 2xx is
//! delivered. 429 is retried after its `Retry-After`, 5xx and network errors are retried on
//! the usual backoff, and any other answer fails at once with its status and a short
//! excerpt of its body (Power Automate's error code and message).
//!
//! The URL is the credential (its `sig` parameter signs it): it is never in an error, a log
//! line or `Debug`, and the parts of it a server might echo are cut out of the excerpt.

use super::card;
use crate::notify::channel::{BuildError, Delivery, Notifier, Outgoing};
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// How much of an error answer's body is kept, in characters.
const EXCERPT: usize = 200;

/// A Teams receiver posting to a workflow webhook.
pub struct Teams {
    name: String,
    client: reqwest::Client,
    url: reqwest::Url,
    /// The parts of the URL that must never be shown, longest first.
    secret_parts: Vec<String>,
}

impl std::fmt::Debug for Teams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Teams").field("name", &self.name).finish_non_exhaustive()
    }
}

/// The parts of a workflow URL an error excerpt must not show: the URL itself (as given,
/// `raw`, and as parsed), its query, every long query value (the `sig` among them, encoded
/// and decoded) and every long path segment (the workflow id). Longest first, so a part
/// inside another goes after it.
fn secret_parts(raw: &str, url: &reqwest::Url) -> Vec<String> {
    let mut parts = vec![raw.to_string(), url.as_str().to_string()];
    if let Some(q) = url.query() {
        parts.push(q.to_string());
        for pair in q.split('&') {
            if let Some((_, v)) = pair.split_once('=') {
                parts.push(v.to_string());
            }
        }
    }
    parts.extend(url.query_pairs().map(|(_, v)| v.into_owned()));
    parts.extend(url.path_segments().into_iter().flatten().map(str::to_string));
    parts.retain(|p| p.len() >= 12);
    parts.sort_by_key(|p| std::cmp::Reverse(p.len()));
    parts.dedup();
    parts
}

/// A short, secret-free excerpt of an answer's body: the URL's secret parts cut out,
/// control characters dropped, cut to [`EXCERPT`] characters.
fn excerpt(body: &str, secret_parts: &[String]) -> String {
    let mut s = body.to_string();
    for p in secret_parts {
        s = s.replace(p.as_str(), "<redacted>");
    }
    let one_line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    card::plain(&one_line, EXCERPT, false)
}

/// A workflow's answer, by HTTP status.
fn classify(status: u16, after: Option<Duration>, body: &str, secret_parts: &[String]) -> Delivery {
    let why = || {
        let text = excerpt(body, secret_parts);
        if text.is_empty() {
            format!("Teams workflow: HTTP {status}")
        } else {
            format!("Teams workflow: HTTP {status} {text}")
        }
    };
    match status {
        200..=299 => Delivery::Delivered,
        429 | 500..=599 => Delivery::Retry { after, error: why() },
        _ => Delivery::Fail(why()),
    }
}

/// The message of a notification body: the rendered card message (`{"teams": …}`), or a
/// notice of anything else (ops notices).
fn message_of(body: &str) -> Value {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    match v.get("teams") {
        Some(m) if m.is_object() => m.clone(),
        _ => card::notice(v["problem"].as_str().unwrap_or(body)),
    }
}

impl Teams {
    /// A receiver posting to the workflow webhook `url`.
    ///
    /// # Errors
    /// The URL is not an http(s) URL, or the HTTP client cannot be built.
    pub fn new(name: &str, url: &str) -> Result<Self, BuildError> {
        let raw = url;
        let url =
            reqwest::Url::parse(raw).ok().filter(|u| matches!(u.scheme(), "http" | "https")).ok_or_else(|| {
                BuildError::Url(format!("receiver `{name}`: the Teams workflow URL is not an http(s) URL"))
            })?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Teams { name: name.to_string(), client, secret_parts: secret_parts(raw, &url), url })
    }

    async fn post(&self, n: &Outgoing) -> Delivery {
        let message = message_of(&n.body);
        let sent = self
            .client
            .post(self.url.clone())
            .header("content-type", "application/json; charset=utf-8")
            .body(message.to_string())
            .send()
            .await;
        match sent {
            Ok(r) => {
                let status = r.status().as_u16();
                let after = r
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| crate::notify::channel::retry_after(v, crate::clock::wall_ms()));
                let text = r.text().await.unwrap_or_default();
                classify(status, after, &text, &self.secret_parts)
            }
            Err(e) => Delivery::Retry { after: None, error: format!("Teams workflow: {}", e.without_url()) },
        }
    }
}

impl Notifier for Teams {
    fn deliver<'a>(&'a self, n: &'a Outgoing) -> Pin<Box<dyn Future<Output = Delivery> + Send + 'a>> {
        Box::pin(self.post(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://prod-12.westeurope.logic.azure.com:443/workflows/0123456789abcdef0123456789abcdef/\
        triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&\
        sig=teamsS3cr3tSig-AbCdEfGhIjKlMnOpQrStUvWxYz012";

    #[test]
    fn answers_are_classified_and_error_text_is_short_and_secret_free() {
        let t = Teams::new("comms", URL).unwrap();
        assert_eq!(classify(202, None, "", &t.secret_parts), Delivery::Delivered);
        assert_eq!(classify(200, None, "", &t.secret_parts), Delivery::Delivered);
        let after = Some(Duration::from_secs(1));
        assert!(matches!(classify(429, after, "", &t.secret_parts), Delivery::Retry { after: a, .. } if a == after));
        assert!(matches!(classify(503, None, "", &t.secret_parts), Delivery::Retry { after: None, .. }));
        let echo = format!(
            "{{\"error\":{{\"code\":\"TriggerInputSchemaMismatch\",\"message\":\"bad input for {URL} \
             (sig teamsS3cr3tSig-AbCdEfGhIjKlMnOpQrStUvWxYz012, workflow 0123456789abcdef0123456789abcdef)\n{}\"}}}}",
            "x".repeat(5000)
        );
        let Delivery::Fail(e) = classify(400, None, &echo, &t.secret_parts) else { panic!("400 fails") };
        assert!(e.starts_with("Teams workflow: HTTP 400 {\"error\":{\"code\":\"TriggerInputSchemaMismatch\""), "{e}");
        assert!(
            !e.contains("teamsS3cr3tSig") && !e.contains("0123456789abcdef0123") && !e.contains("logic.azure"),
            "{e}"
        );
        assert!(e.chars().count() < 260, "short: {}", e.chars().count());
        assert_eq!(classify(404, None, "", &t.secret_parts), Delivery::Fail("Teams workflow: HTTP 404".into()));
    }

    #[test]
    fn the_url_stays_out_of_debug_and_bodies_become_cards() {
        let t = Teams::new("comms", URL).unwrap();
        assert!(!format!("{t:?}").contains("teamsS3cr3tSig"));
        assert!(Teams::new("comms", "ftp://x/y").is_err());
        let ops = message_of(r#"{"schema":"crisiswatch.ops.v1","problem":"notification 3 to `x` failed <b>"}"#);
        assert_eq!(card::problems(&ops), Vec::<String>::new());
        assert!(ops.to_string().contains("notification 3 to `x` failed <b>"));
        let m = serde_json::json!({"type": "message", "attachments": []});
        assert_eq!(message_of(&serde_json::json!({"teams": m, "incident": "i"}).to_string()), m);
    }
}
