//! The Telegram receiver (teloxide; the Bot API base URL is configurable): an HTML message
//! with every piece of user text escaped and cut to Telegram's limits, and inline buttons
//! *Acknowledge*, *Escalate now* and *Mute 1h*. A poller reads the button presses
//! (`getUpdates`), acts on the incident in the store, answers the callback and edits the
//! message to say who did what. The message itself is posted with the bot's HTTP client
//! directly, so that its answer is classified by HTTP status like a webhook's: 429 and 5xx
//! retried (after `parameters.retry_after`), other errors not.

use super::{Delivery, IncidentAction, IncidentActions, Notifier, Outgoing};
use crate::notify::locale::Locale;
use crate::notify::words;
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use teloxide::payloads::setters::*;
use teloxide::payloads::SendMessage;
use teloxide::prelude::*;
use teloxide::types::{ChatId, InlineKeyboardButton, InlineKeyboardMarkup, ParseMode, UpdateKind};

/// Telegram's limit for a message text, in characters.
pub const MAX_MESSAGE_CHARS: usize = 4096;

/// Escapes text for Telegram's HTML parse mode (it knows `&lt;`, `&gt;`, `&amp;`, `&quot;`).
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Renders the Telegram message of a notification (HTML, within the length limit), ending
/// with `open_url`: the signed read-only link to the incident (the buttons act on it).
pub fn render(kind: &str, lead: &Value, related: &[Value], open_url: &str, loc: &Locale) -> String {
    let w = words::of(loc.lang);
    let brand = lead["brand_name"].as_str().or(lead["brand"].as_str()).unwrap_or("");
    let sev = w.severity_name(lead["severity"].as_str().unwrap_or("")).to_uppercase();
    let head = if kind == "resolved" { w.resolved.to_string() } else { sev };
    let mut out = format!(
        "<b>[{}] {}</b>: {}\n",
        escape(&head),
        escape(brand),
        escape(&crate::notify::render::headline(lead, w))
    );
    out.push_str(&format!(
        "{} · {} {} ({} {})\n",
        escape(&crate::notify::render::odds(lead["p_value"].as_f64().unwrap_or(1.0), w)),
        w.negative_share,
        lead["negative_share"].as_f64().map_or("?".into(), |x| format!("{:.0}%", x * 100.0)),
        w.usually,
        lead["baseline_negative_share"].as_f64().map_or("?".into(), |x| format!("{:.0}%", x * 100.0)),
    ));
    let window = crate::notify::render::window(lead, loc);
    if !window.is_empty() {
        out.push_str(&format!("{}: {}\n", w.window, escape(&window)));
    }
    if let Some(c) = lead["category"].as_str() {
        out.push_str(&format!("{}: {}\n", w.category, escape(c)));
    }
    if let Some(src) = lead["sources"].as_array().filter(|a| !a.is_empty()) {
        let mix: Vec<String> =
            src.iter().take(5).map(|x| format!("{} {}", escape(x[0].as_str().unwrap_or("")), x[1])).collect();
        out.push_str(&format!("{}: {}\n", w.sources, mix.join(" · ")));
    }
    if kind != "resolved" {
        for p in lead["top_posts"].as_array().into_iter().flatten().take(3) {
            let text = cut(p["text"].as_str().unwrap_or(""), 280);
            let reshares = p["reshares"].as_u64().unwrap_or(0);
            out.push_str(&format!("\n• {}", escape(&text)));
            if let Some(a) = p["author"].as_str() {
                out.push_str(&format!(" — @{}", escape(&cut(a, 64))));
            }
            if reshares > 0 {
                out.push_str(&format!(" ({})", words::fill(w.reshared, &[("n", &reshares.to_string())])));
            }
        }
        if let Some(r) = lead["suggested_responses"].as_array().and_then(|a| a.first()) {
            out.push_str(&format!(
                "\n\n<i>{} ({})</i>:\n{}",
                w.suggested_reply,
                escape(r["lang"].as_str().unwrap_or("")),
                escape(&cut(r["text"].as_str().unwrap_or(""), 700))
            ));
        }
        if !related.is_empty() {
            let rules: Vec<String> = related.iter().map(|r| escape(r["rule"].as_str().unwrap_or(""))).collect();
            out.push_str(&format!("\n\n{}: {}", w.also_open, rules.join(", ")));
        }
    }
    out.push_str(&format!("\n\n<a href=\"{}\">{}</a>", escape(open_url), w.open_incident));
    if out.chars().count() > MAX_MESSAGE_CHARS {
        // cut at a line boundary so no tag or entity is split
        let mut kept = String::new();
        for line in out.lines() {
            if kept.chars().count() + line.chars().count() + 2 > MAX_MESSAGE_CHARS {
                break;
            }
            kept.push_str(line);
            kept.push('\n');
        }
        kept.push('…');
        out = kept;
    }
    out
}

/// A Telegram chat receiver.
pub struct Telegram {
    bot: Bot,
    chat: ChatId,
}

impl Telegram {
    /// A receiver posting to `chat_id` through `bot`.
    pub fn new(bot: Bot, chat_id: i64) -> Self {
        Telegram { bot, chat: ChatId(chat_id) }
    }
}

impl Telegram {
    /// Posts `sendMessage` to the Bot API: (HTTP status, `Retry-After`, body), or a network
    /// error (its text without the URL, which holds the token).
    async fn send_message(&self, req: &SendMessage) -> Result<(u16, Option<String>, Vec<u8>), String> {
        let mut url = self.bot.api_url();
        url.path_segments_mut()
            .map_err(|()| "Telegram: the API URL cannot take a path".to_string())?
            .pop_if_empty()
            .push(&format!("bot{}", self.bot.token()))
            .push("SendMessage");
        let body = serde_json::to_vec(req).map_err(|e| format!("Telegram: {e}"))?;
        let r = self
            .bot
            .client()
            .post(url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| format!("Telegram: {}", e.without_url()))?;
        let status = r.status().as_u16();
        let retry_after = r.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
        let body = r.bytes().await.map_err(|e| format!("Telegram: {}", e.without_url()))?;
        Ok((status, retry_after, body.to_vec()))
    }
}

/// A bot for `token`, talking to `api_url` when given.
///
/// # Errors
/// A bad URL.
pub fn bot(token: &str, api_url: Option<&str>) -> Result<Bot, super::BuildError> {
    let bot = Bot::new(token);
    Ok(match api_url {
        Some(u) => bot.set_api_url(reqwest::Url::parse(u).map_err(|e| super::BuildError::Url(e.to_string()))?),
        None => bot,
    })
}

/// Classifies a Bot API answer by its HTTP status, as the webhook does: 2xx delivered; 429
/// and 5xx retried, after `parameters.retry_after` (the Bot API's flood control, seconds) or
/// else a `Retry-After` header (either form; a proxy's); other answers fail. (teloxide's own
/// requests hide the status, turning a 5xx into a permanent error after sleeping 10 s, hence
/// this call is made directly.)
fn classify(status: u16, retry_after_header: Option<&str>, body: &[u8]) -> Delivery {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if (200..300).contains(&status) && v["ok"] == true {
        return Delivery::Delivered;
    }
    let description = v["description"].as_str().map_or_else(|| format!("HTTP {status}"), |d| format!("{status} {d}"));
    let error = format!("Telegram: {}", cut(&description, 300));
    let after = v["parameters"]["retry_after"]
        .as_u64()
        .map(std::time::Duration::from_secs)
        .or_else(|| retry_after_header.and_then(|h| super::retry_after(h, crate::clock::wall_ms())));
    if status == 429 || status >= 500 || v["parameters"]["retry_after"].is_u64() {
        Delivery::Retry { after, error }
    } else {
        Delivery::Fail(error)
    }
}

impl Notifier for Telegram {
    fn deliver<'a>(&'a self, n: &'a Outgoing) -> Pin<Box<dyn Future<Output = Delivery> + Send + 'a>> {
        Box::pin(async move {
            let v: Value = serde_json::from_str(&n.body).unwrap_or(Value::Null);
            let (text, incident) = match v["telegram_html"].as_str() {
                Some(t) => (t.to_string(), v["incident"].as_str().map(String::from)),
                None => (escape(&cut(v["problem"].as_str().unwrap_or(&n.body), 3000)), None),
            };
            let mut req = SendMessage::new(self.chat, text).parse_mode(ParseMode::Html);
            if let Some(id) = incident.filter(|_| n.kind != "resolved") {
                // the labels in the receiver's language, rendered with the message
                let label =
                    |i: usize, default: &str| -> String { cut(v["buttons"][i].as_str().unwrap_or(default), 40) };
                req = req.reply_markup(InlineKeyboardMarkup::new(vec![vec![
                    InlineKeyboardButton::callback(label(0, "Acknowledge"), format!("ack:{id}")),
                    InlineKeyboardButton::callback(label(1, "Escalate now"), format!("esc:{id}")),
                    InlineKeyboardButton::callback(label(2, "Mute 1h"), format!("mute:{id}")),
                ]]));
            }
            let sent = match self.send_message(&req).await {
                Ok((status, retry_after, body)) => classify(status, retry_after.as_deref(), &body),
                Err(error) => Delivery::Retry { after: None, error },
            };
            if sent != Delivery::Delivered {
                return sent;
            }
            // the chart follows as a photo; the alert itself is already delivered, so a
            // failure here is logged, not retried (a retry would repeat the message)
            use base64::Engine as _;
            if let Some(png) =
                v["chart_png"].as_str().and_then(|c| base64::engine::general_purpose::STANDARD.decode(c).ok())
            {
                let photo = teloxide::types::InputFile::memory(png).file_name("chart.png");
                if let Err(e) = self.bot.send_photo(self.chat, photo).await {
                    tracing::warn!(error = %e, "Telegram: the chart could not be sent");
                }
            }
            Delivery::Delivered
        })
    }
}

/// Reads button presses until `shutdown` is cancelled, acting on incidents through `actions`.
pub async fn poll_callbacks(
    bot: Bot,
    mut actions: Box<dyn IncidentActions>,
    locales: std::collections::HashMap<i64, Locale>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut offset = 0i32;
    while !shutdown.is_cancelled() {
        let poll = bot.get_updates().offset(offset).timeout(1);
        let updates = tokio::select! {
            u = poll.send() => u,
            () = shutdown.cancelled() => return,
        };
        let updates = match updates {
            Ok(u) => u,
            Err(e) => {
                tracing::warn!(error = %e, "Telegram getUpdates failed");
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                continue;
            }
        };
        for u in updates {
            offset = offset.max(u.id.0 as i32 + 1);
            let UpdateKind::CallbackQuery(q) = u.kind else { continue };
            let Some((action, id)) = q.data.as_deref().and_then(|d| d.split_once(':')) else { continue };
            let who = match &q.from.username {
                Some(u) => format!("@{u} (Telegram)"),
                None => format!("{} (Telegram)", q.from.first_name),
            };
            // said in the language of the receiver whose message it was
            let chat = q.message.as_ref().map(|m| m.chat().id.0);
            let w = words::of(chat.and_then(|c| locales.get(&c)).map(|l| l.lang).unwrap_or_default());
            let (action, said) = match action {
                "ack" => (IncidentAction::Acknowledge, w.acked_by),
                "esc" => (IncidentAction::EscalateNow, w.escalated_by),
                "mute" => (IncidentAction::Mute(std::time::Duration::from_secs(3600)), w.muted_by),
                _ => continue,
            };
            let answer = match actions.act(id, action, &who, crate::clock::wall_ms()) {
                Ok(()) => words::fill(said, &[("who", &who)]),
                Err(e) => words::fill(w.not_done, &[("reason", &e.to_string())]),
            };
            let _ = bot.answer_callback_query(q.id.clone()).text(answer.clone()).await;
            if let Some(m) = q.message.as_ref().and_then(|m| m.regular_message()) {
                let text = format!("{}\n\n✅ {answer}", m.text().unwrap_or(""));
                let _ = bot.edit_message_text(m.chat.id, m.id, cut(&text, MAX_MESSAGE_CHARS)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_is_escaped_and_cut_to_the_limit() {
        let post = format!("<b>x</b> & {} \u{202e}", "😀".repeat(5000));
        let lead = serde_json::json!({"severity": "critical", "brand_name": "A<c>me", "metric": "volume", "observed": 10.0,
            "expected": 1.0, "window_start": "2026-01-01T00:00:00Z", "window_end": "2026-01-01T00:15:00Z", "p_value": 1e-9,
            "top_posts": [{"text": post, "author": "<i>"}, {"text": post}, {"text": post}],
            "suggested_responses": [{"lang": "en", "text": "Sorry & <3"}]});
        let t = render("alert", &lead, &[], "http://h/l/x.y?\"<>", &Locale::default());
        assert!(t.contains("<a href=\"http://h/l/x.y?&quot;&lt;&gt;\">Open the incident</a>"), "{t}");
        assert!(t.chars().count() <= MAX_MESSAGE_CHARS);
        assert!(!t.contains("<b>x</b>") && t.contains("&lt;b&gt;x&lt;/b&gt; &amp;"));
        assert!(t.contains("A&lt;c&gt;me") && t.contains("@&lt;i&gt;"));
        let tags: Vec<&str> = t.match_indices('<').map(|(i, _)| &t[i..(i + 4).min(t.len())]).collect();
        assert!(
            tags.iter().all(|x| x.starts_with("<b>")
                || x.starts_with("</b")
                || x.starts_with("<i>")
                || x.starts_with("</i")
                || x.starts_with("<a h")
                || x.starts_with("</a>")),
            "{tags:?}"
        );
    }
}
