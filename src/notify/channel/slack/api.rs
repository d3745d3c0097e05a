//! Delivering a Slack message, in either of Slack's ways:
//!
//! * an **incoming webhook** (`webhook_url_env`): the message is POSTed to the secret URL;
//!   `200 ok` is delivered, 429 (after `Retry-After`) and 5xx are retried, other answers fail
//!   with Slack's error text (`invalid_payload`, `channel_not_found`, `no_service`, …), as the
//!   webhook receiver classifies them;
//! * the **Web API** with a bot token (`bot_token_env` + `channel`): `chat.postMessage` for the
//!   first notification of an incident, whose `channel` and `ts` are remembered through
//!   [`MessageRefs`]; later notifications of the same incident (escalated, resolved, a
//!   further ladder step or repeat) edit that message with `chat.update`, and, but for a
//!   resolution, add a reply in its thread, broadcast to the channel (an edit alerts nobody).
//!   The first message of an alert gets its chart as a reply in its thread, through Slack's
//!   upload flow (`files.getUploadURLExternal`, the bytes to the URL it gives,
//!   `files.completeUploadExternal` with the channel and thread; scope `files:write`); a
//!   failed upload is logged, the alert stays delivered. The Web API answers HTTP 200 with `{"ok": false,
//!   "error": …}`: `ratelimited` (HTTP 429 with `Retry-After`) and unknown errors are
//!   retried; `invalid_auth`, `channel_not_found`, `not_in_channel` and the other errors that
//!   a retry cannot cure fail at once.
//!
//! The webhook URL and the token are secrets: never in an error, a log line or `Debug`.

use super::blocks;
use crate::notify::channel::{Delivery, Notifier, Outgoing};
use serde_json::{json, Value};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// Where the message of each incident was posted, per receiver: the `channel` and `ts` that
/// `chat.postMessage` returned, so that later notifications update it in place. The service
/// keeps them in its store; receivers never open the store themselves.
pub trait MessageRefs: Send + Sync {
    /// The message posted for `incident` by `receiver`: `(channel, ts)`.
    fn get(&self, receiver: &str, incident: &str) -> Option<(String, String)>;
    /// Remembers the message posted for `incident` by `receiver`.
    fn put(&self, receiver: &str, incident: &str, channel: &str, ts: &str);
}

/// Web API errors that a retry will not cure.
const PERMANENT: &[&str] = &[
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "token_expired",
    "no_permission",
    "missing_scope",
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "invalid_blocks",
    "invalid_blocks_format",
    "invalid_arguments",
    "msg_too_long",
    "too_many_attachments",
    "restricted_action",
    "ekm_access_denied",
];

/// Default Web API base URL.
pub const DEFAULT_API_URL: &str = "https://slack.com/api";

enum Via {
    Webhook(reqwest::Url),
    Bot { token: String, channel: String, api: String },
}

/// A Slack receiver.
pub struct Slack {
    name: String,
    client: reqwest::Client,
    via: Via,
    refs: Option<Arc<dyn MessageRefs>>,
}

impl std::fmt::Debug for Slack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slack").field("name", &self.name).finish_non_exhaustive()
    }
}

fn client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder().timeout(Duration::from_secs(15)).redirect(reqwest::redirect::Policy::none()).build()
}

impl Slack {
    /// A receiver posting to an incoming webhook.
    ///
    /// # Errors
    /// The URL is not an http(s) URL, or the HTTP client cannot be built.
    pub fn webhook(name: &str, url: &str) -> Result<Self, crate::notify::channel::BuildError> {
        let url =
            reqwest::Url::parse(url).ok().filter(|u| matches!(u.scheme(), "http" | "https")).ok_or_else(|| {
                crate::notify::channel::BuildError::Url(format!(
                    "receiver `{name}`: the Slack webhook URL is not an http(s) URL"
                ))
            })?;
        Ok(Slack { name: name.to_string(), client: client()?, via: Via::Webhook(url), refs: None })
    }

    /// A receiver posting to `channel` through the Web API at `api_url` with `token`,
    /// remembering its messages in `refs` (without: every notification is a new message).
    ///
    /// # Errors
    /// The HTTP client cannot be built.
    pub fn bot(
        name: &str,
        token: &str,
        channel: &str,
        api_url: &str,
        refs: Option<Arc<dyn MessageRefs>>,
    ) -> Result<Self, crate::notify::channel::BuildError> {
        let via = Via::Bot {
            token: token.to_string(),
            channel: channel.to_string(),
            api: api_url.trim_end_matches('/').to_string(),
        };
        Ok(Slack { name: name.to_string(), client: client()?, via, refs })
    }
}

/// The message of a notification body, its lead incident and its chart: the rendered Block
/// Kit message (`{"slack": …, "incident": …, "chart_png": …}`), or a notice of anything
/// else (ops notices).
fn message_of(body: &str) -> (Value, Option<String>, Option<Vec<u8>>) {
    use base64::Engine as _;
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    match v.get("slack") {
        Some(m) if m.is_object() => {
            // the chart PNG the body carries (`chart_png`, base64), if any
            let chart = v["chart_png"].as_str().and_then(|c| base64::engine::general_purpose::STANDARD.decode(c).ok());
            (m.clone(), v["incident"].as_str().map(String::from), chart)
        }
        _ => (blocks::notice(v["problem"].as_str().unwrap_or(body)), None, None),
    }
}

/// `application/x-www-form-urlencoded` of `args`.
fn form(args: &[(&str, &str)]) -> String {
    let mut u = reqwest::Url::parse("http://form.invalid/").expect("a valid URL");
    u.query_pairs_mut().extend_pairs(args);
    u.query().unwrap_or("").to_string()
}

fn retry_after(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    h.get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| crate::notify::channel::retry_after(v, crate::clock::wall_ms()))
}

/// An incoming webhook's answer, by HTTP status; its body is Slack's error word.
fn classify_webhook(status: u16, after: Option<Duration>, body: &str) -> Delivery {
    let why = || format!("Slack webhook: HTTP {status} {}", blocks::cut(body.trim(), 200));
    match status {
        200..=299 => Delivery::Delivered,
        429 | 500..=599 => Delivery::Retry { after, error: why() },
        _ => Delivery::Fail(why()),
    }
}

/// A Web API answer: `Ok(answer)` when `ok`, else how the delivery ends.
fn classify_api(status: u16, after: Option<Duration>, body: &[u8], method: &str) -> Result<Value, Delivery> {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if (200..300).contains(&status) && v["ok"] == true {
        return Ok(v);
    }
    let word = v["error"].as_str().map_or_else(|| format!("HTTP {status}"), |e| blocks::cut(e, 100));
    let error = format!("Slack {method}: {word}");
    if status == 429 || word == "ratelimited" || status >= 500 {
        return Err(Delivery::Retry { after, error });
    }
    if PERMANENT.contains(&word.as_str()) || (status >= 300 && status != 408) {
        return Err(Delivery::Fail(error));
    }
    Err(Delivery::Retry { after, error })
}

impl Slack {
    /// Calls Web API `method` with a JSON body.
    async fn call(&self, token: &str, api: &str, method: &str, body: &Value) -> Result<Value, Delivery> {
        self.send(token, api, method, "application/json; charset=utf-8", body.to_string()).await
    }

    /// Calls Web API `method` with form-encoded arguments (the upload methods).
    async fn call_form(&self, token: &str, api: &str, method: &str, args: &[(&str, &str)]) -> Result<Value, Delivery> {
        self.send(token, api, method, "application/x-www-form-urlencoded", form(args)).await
    }

    async fn send(&self, token: &str, api: &str, method: &str, ctype: &str, body: String) -> Result<Value, Delivery> {
        let r = self
            .client
            .post(format!("{api}/{method}"))
            .bearer_auth(token)
            .header("content-type", ctype)
            .body(body)
            .send()
            .await
            .map_err(|e| Delivery::Retry { after: None, error: format!("Slack {method}: {}", e.without_url()) })?;
        let status = r.status().as_u16();
        let after = retry_after(r.headers());
        let bytes = r
            .bytes()
            .await
            .map_err(|e| Delivery::Retry { after: None, error: format!("Slack {method}: {}", e.without_url()) })?;
        classify_api(status, after, &bytes, method)
    }

    async fn deliver_bot(&self, token: &str, channel: &str, api: &str, n: &Outgoing) -> Delivery {
        let (mut message, incident, chart) = message_of(&n.body);
        let known = match (&self.refs, &incident) {
            (Some(refs), Some(id)) => refs.get(&self.name, id),
            _ => None,
        };
        if let Some((ch, ts)) = known {
            message["channel"] = json!(ch);
            message["ts"] = json!(ts);
            match self.call(token, api, "chat.update", &message).await {
                Ok(_) => {
                    if n.kind != "resolved" {
                        // an edit alerts nobody: an escalation or a repeat also gets a reply
                        // in the message's thread, shown in the channel too
                        let reply = json!({"channel": ch, "thread_ts": ts, "reply_broadcast": true,
                            "text": message["text"].clone()});
                        if let Err(d) = self.call(token, api, "chat.postMessage", &reply).await {
                            tracing::warn!(outcome = ?d, "Slack: the thread reply of an updated message was not posted");
                        }
                    }
                    return Delivery::Delivered;
                }
                // the message was deleted, or is too old to edit: post a new one
                Err(Delivery::Fail(e)) if e.contains("message_not_found") || e.contains("cant_update_message") => {}
                Err(d) => return d,
            }
            if let Value::Object(m) = &mut message {
                m.remove("ts");
            }
        }
        message["channel"] = json!(channel);
        match self.call(token, api, "chat.postMessage", &message).await {
            Ok(answer) => {
                if let (Some(ch), Some(ts)) = (answer["channel"].as_str(), answer["ts"].as_str()) {
                    if let (Some(refs), Some(id)) = (&self.refs, &incident) {
                        refs.put(&self.name, id, ch, ts);
                    }
                    if let Some(png) = &chart {
                        let title = message["text"].as_str().unwrap_or("chart");
                        if let Err(e) = self.upload_chart(token, api, ch, ts, png, title).await {
                            tracing::warn!(receiver = %self.name, error = %e, "Slack: the chart could not be uploaded (the alert is delivered)");
                        }
                    }
                }
                Delivery::Delivered
            }
            Err(d) => d,
        }
    }

    /// Shares `png` as a reply in the thread of message `ts` in `channel`, through Slack's
    /// upload flow.
    async fn upload_chart(
        &self,
        token: &str,
        api: &str,
        channel: &str,
        ts: &str,
        png: &[u8],
        title: &str,
    ) -> Result<(), String> {
        let why = |d: Delivery| match d {
            Delivery::Fail(e) | Delivery::Retry { error: e, .. } => e,
            Delivery::Delivered => String::new(),
        };
        let len = png.len().to_string();
        let title = blocks::cut(title, 200);
        let args = [("filename", "chart.png"), ("length", len.as_str()), ("alt_txt", title.as_str())];
        let got = self.call_form(token, api, "files.getUploadURLExternal", &args).await.map_err(why)?;
        let (Some(url), Some(id)) = (got["upload_url"].as_str(), got["file_id"].as_str()) else {
            return Err("Slack files.getUploadURLExternal: no upload_url or file_id in the answer".into());
        };
        let url = reqwest::Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or("Slack files.getUploadURLExternal: the upload_url is not an http(s) URL")?;
        let r = self
            .client
            .post(url)
            .header("content-type", "application/octet-stream")
            .body(png.to_vec())
            .send()
            .await
            .map_err(|e| format!("Slack file upload: {}", e.without_url()))?;
        if !r.status().is_success() {
            return Err(format!("Slack file upload: HTTP {}", r.status().as_u16()));
        }
        let files = json!([{ "id": id, "title": title }]).to_string();
        let args = [("files", files.as_str()), ("channel_id", channel), ("thread_ts", ts)];
        self.call_form(token, api, "files.completeUploadExternal", &args).await.map_err(why)?;
        Ok(())
    }

    async fn deliver_webhook(&self, url: &reqwest::Url, n: &Outgoing) -> Delivery {
        let (message, _, _) = message_of(&n.body);
        let sent = self
            .client
            .post(url.clone())
            .header("content-type", "application/json; charset=utf-8")
            .body(message.to_string())
            .send()
            .await;
        match sent {
            Ok(r) => {
                let status = r.status().as_u16();
                let after = retry_after(r.headers());
                let text = r.text().await.unwrap_or_default();
                classify_webhook(status, after, &text)
            }
            Err(e) => Delivery::Retry { after: None, error: format!("Slack webhook: {}", e.without_url()) },
        }
    }

    /// Edits a posted message (`chat.update`) to `message`: after a button press.
    ///
    /// # Errors
    /// The Web API's refusal, or a webhook receiver (which cannot edit).
    pub async fn update(&self, channel: &str, ts: &str, message: &Value) -> Result<(), String> {
        let Via::Bot { token, api, .. } = &self.via else {
            return Err("an incoming webhook cannot edit messages".into());
        };
        let mut m = message.clone();
        m["channel"] = json!(channel);
        m["ts"] = json!(ts);
        match self.call(token, api, "chat.update", &m).await {
            Ok(_) => Ok(()),
            Err(Delivery::Fail(e) | Delivery::Retry { error: e, .. }) => Err(e),
            Err(Delivery::Delivered) => Ok(()),
        }
    }
}

impl Notifier for Slack {
    fn deliver<'a>(&'a self, n: &'a Outgoing) -> Pin<Box<dyn Future<Output = Delivery> + Send + 'a>> {
        Box::pin(async move {
            match &self.via {
                Via::Webhook(url) => self.deliver_webhook(url, n).await,
                Via::Bot { token, channel, api } => self.deliver_bot(token, channel, api, n).await,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn web_api_answers_are_classified_like_slack_means_them() {
        let ok = classify_api(200, None, br#"{"ok":true,"channel":"C1","ts":"1.2"}"#, "chat.postMessage");
        assert_eq!(ok.unwrap()["ts"], "1.2");
        let limited = classify_api(429, Some(Duration::from_secs(3)), br#"{"ok":false,"error":"ratelimited"}"#, "m");
        assert_eq!(
            limited.unwrap_err(),
            Delivery::Retry { after: Some(Duration::from_secs(3)), error: "Slack m: ratelimited".into() }
        );
        for word in ["invalid_auth", "channel_not_found", "not_in_channel"] {
            let body = format!(r#"{{"ok":false,"error":"{word}"}}"#);
            assert_eq!(
                classify_api(200, None, body.as_bytes(), "m").unwrap_err(),
                Delivery::Fail(format!("Slack m: {word}"))
            );
        }
        assert!(matches!(
            classify_api(200, None, br#"{"ok":false,"error":"internal_error"}"#, "m"),
            Err(Delivery::Retry { .. })
        ));
        assert!(matches!(classify_api(502, None, b"<html>", "m"), Err(Delivery::Retry { .. })));
        assert!(matches!(classify_api(404, None, b"", "m"), Err(Delivery::Fail(_))));
        assert_eq!(classify_webhook(200, None, "ok"), Delivery::Delivered);
        assert!(matches!(classify_webhook(404, None, "no_service"), Delivery::Fail(e) if e.contains("no_service")));
        assert!(matches!(classify_webhook(503, None, ""), Delivery::Retry { .. }));
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let s = Slack::bot("comms", "xoxb-secret-token", "C1", DEFAULT_API_URL, None).unwrap();
        assert!(!format!("{s:?}").contains("xoxb"));
        let w = Slack::webhook("comms", "https://hooks.slack.com/services/T/B/secretpath").unwrap();
        assert!(!format!("{w:?}").contains("secretpath"));
        assert!(Slack::webhook("comms", "ftp://x").is_err());
    }
}
