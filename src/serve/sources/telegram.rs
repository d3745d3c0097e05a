//! `kind = "telegram"`: posts of the public channels and groups the bot is a member of,
//! through the Bot API's `getUpdates` long polling (`channel_post` and `message` updates;
//! in a group the bot must be an administrator, or have privacy mode off, to see every
//! message).
//!
//! Telegram keeps an update until a `getUpdates` call asks for a higher offset, and the
//! offset asked is the cursor: it moves only once the posts of the previous answer are
//! durable, so a restart (also `kill -9`) gets the same updates again, and the id memory
//! drops whatever was already taken. Use a bot of its own: Telegram gives each bot's
//! updates to one reader, and the alerting bot already reads its button presses.

use super::{Bad, Ctx, Item, SourceError};
use serde_json::{json, Value};
use std::time::Duration;

/// Seconds one `getUpdates` call waits for updates.
const LONG_POLL_S: u64 = 25;

/// Reads updates until the service stops.
pub async fn run(ctx: Ctx) {
    super::poll_loop(ctx, None, poll).await;
}

async fn poll(ctx: &mut Ctx) -> Result<(), SourceError> {
    let offset: i64 = ctx.cursor().and_then(|c| c.parse().ok()).unwrap_or(0);
    let token = ctx.spec.token.clone().unwrap_or_default();
    let url = format!("{}/bot{token}/getUpdates", ctx.spec.url.trim_end_matches('/'));
    let body = json!({"offset": offset, "timeout": LONG_POLL_S, "limit": 100,
        "allowed_updates": ["channel_post", "message"]});
    let req = ctx.http.post(&url).json(&body).timeout(Duration::from_secs(LONG_POLL_S + 15));
    let answer = ctx.send(req).await.map_err(|e| bot_error(e, &token));
    let (_, _, bytes) = answer?;
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|e| SourceError::Protocol(format!("getUpdates answer is not JSON: {e}")))?;
    if v["ok"] != true {
        return Err(SourceError::Protocol(format!("getUpdates: {}", v["description"].as_str().unwrap_or("not ok"))));
    }
    let updates = v["result"].as_array().cloned().unwrap_or_default();
    if updates.is_empty() {
        return Ok(());
    }
    let mut next = offset;
    let mut items = Vec::new();
    let mut bad = Vec::new();
    ctx.stats().items.fetch_add(updates.len() as u64, std::sync::atomic::Ordering::Relaxed);
    for u in &updates {
        if let Some(id) = u["update_id"].as_i64() {
            next = next.max(id + 1);
        }
        match update_item(u) {
            Ok(Some(item)) if ctx.keywords.matches(&item.text) => items.push(item),
            Ok(Some(_)) => {
                ctx.stats().filtered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Ok(None) => {}
            Err(why) => bad.push(Bad::new(u.to_string().as_bytes(), format!("source `{}`: {why}", ctx.spec.name))),
        }
    }
    ctx.submit(items, bad, Some(next.to_string())).await?;
    Ok(())
}

/// A Bot API error without the token (it is in the URL and could be echoed).
fn bot_error(e: SourceError, token: &str) -> SourceError {
    match e {
        SourceError::Http { status, retry_after, message } => {
            let v: Value = serde_json::from_str(&message).unwrap_or(Value::Null);
            let asked = v["parameters"]["retry_after"].as_u64().map(Duration::from_secs);
            let mut message = v["description"].as_str().map_or(message.clone(), str::to_string);
            if status == 409 {
                message.push_str(" (another reader takes this bot's updates: give the source a bot of its own)");
            }
            SourceError::Http { status, retry_after: asked.or(retry_after), message: message.replace(token, "<token>") }
        }
        SourceError::Network(m) if !token.is_empty() => SourceError::Network(m.replace(token, "<token>")),
        other => other,
    }
}

/// The mention of a `channel_post` or `message` update; `None` for other updates and posts
/// without text.
///
/// # Errors
/// A post without the fields every post has.
pub fn update_item(u: &Value) -> Result<Option<Item>, String> {
    let Some(post) = u.get("channel_post").or_else(|| u.get("message")) else { return Ok(None) };
    let text = post["text"].as_str().or(post["caption"].as_str()).unwrap_or("");
    if text.trim().is_empty() {
        return Ok(None);
    }
    let chat = &post["chat"];
    let (Some(chat_id), Some(message_id), Some(date)) =
        (chat["id"].as_i64(), post["message_id"].as_i64(), post["date"].as_i64())
    else {
        return Err("post without chat.id, message_id or date".into());
    };
    let username = chat["username"].as_str();
    let author = post["author_signature"]
        .as_str()
        .map(str::to_string)
        .or_else(|| post["from"]["username"].as_str().map(|u| format!("@{u}")))
        .or_else(|| post["sender_chat"]["title"].as_str().map(str::to_string))
        .or_else(|| chat["title"].as_str().map(str::to_string));
    let reply_to = post["reply_to_message"]["message_id"].as_i64().map(|m| format!("tg:{chat_id}:{m}"));
    let shared_of = match (post["forward_from_chat"]["id"].as_i64(), post["forward_from_message_id"].as_i64()) {
        (Some(c), Some(m)) => Some(format!("tg:{c}:{m}")),
        _ => None,
    };
    Ok(Some(Item {
        id: format!("tg:{chat_id}:{message_id}"),
        ts: date.saturating_mul(1000),
        text: text.to_string(),
        url: username.map(|u| format!("https://t.me/{u}/{message_id}")),
        author,
        reply_to,
        shared_of,
        ..Item::default()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_posts_and_group_messages_become_items() {
        // shaped like the Bot API documentation's Update and Message objects
        let u = json!({"update_id": 10, "channel_post": {"message_id": 77, "date": 1_700_000_000,
            "chat": {"id": -1001234567890i64, "title": "Acme watchers", "username": "acmewatch", "type": "channel"},
            "author_signature": "Dana", "text": "Acme is down in Haifa"}});
        let it = update_item(&u).unwrap().unwrap();
        assert_eq!(it.id, "tg:-1001234567890:77");
        assert_eq!(it.url.as_deref(), Some("https://t.me/acmewatch/77"));
        assert_eq!((it.author.as_deref(), it.ts), (Some("Dana"), 1_700_000_000_000));
        let g = json!({"update_id": 11, "message": {"message_id": 5, "date": 1_700_000_100,
            "chat": {"id": -42, "title": "Customers", "type": "supergroup"},
            "from": {"id": 1, "is_bot": false, "first_name": "N", "username": "noa"},
            "reply_to_message": {"message_id": 4, "date": 1, "chat": {"id": -42, "type": "supergroup"}},
            "caption": "photo of the broken Acme kettle"}});
        let it = update_item(&g).unwrap().unwrap();
        assert_eq!((it.author.as_deref(), it.url, it.reply_to.as_deref()), (Some("@noa"), None, Some("tg:-42:4")));
        assert!(update_item(&json!({"update_id": 12, "edited_message": {}})).unwrap().is_none());
        assert!(update_item(&json!({"update_id": 13, "message": {"text": "x"}})).is_err());
    }

    #[test]
    fn bot_errors_keep_retry_after_and_hide_the_token() {
        let e = SourceError::Http {
            status: 429,
            retry_after: None,
            message: r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}"#.into(),
        };
        let SourceError::Http { retry_after, message, .. } = bot_error(e, "123:ABC") else { panic!() };
        assert_eq!((retry_after, message.as_str()), (Some(Duration::from_secs(7)), "Too Many Requests: retry after 7"));
        let e = bot_error(SourceError::Network("error sending request for /bot123:ABC/getUpdates".into()), "123:ABC");
        assert!(!e.to_string().contains("123:ABC"), "{e}");
    }
}
