//! `kind = "bluesky"`: Bluesky posts from a Jetstream WebSocket (`url`, by default
//! `wss://jetstream2.us-east.bsky.network/subscribe`), asked for
//! `wantedCollections=app.bsky.feed.post` only.
//!
//! Of Jetstream's events only commits that create an `app.bsky.feed.post` are read
//! (identity and account events, deletes and updates are skipped). A post becomes a mention
//! with the id `at://{did}/app.bsky.feed.post/{rkey}`, its link on bsky.app, the author's
//! DID, its first language, its `createdAt` (the event's `time_us` when that is missing or
//! unreadable) and the parent it replies to. Unless the source pins a brand, a post that
//! names no brand keyword is dropped before anything is stored: the firehose is large.
//!
//! The cursor is the last event's `time_us` (microseconds). Jetstream replays from a cursor,
//! so a reconnection, and a restart after a crash, asks for `cursor = time_us − 5 s`: what is
//! read twice is dropped by the id memory, nothing is lost. Mentions are submitted every
//! [`BATCH_WAIT`] or [`BATCH_ITEMS`] items with the cursor, and the cursor alone at least
//! every [`CURSOR_EVERY`] when nothing matched. A message larger than `max_item_bytes × 4` or
//! that is not a Jetstream event is dead-lettered and the stream goes on; a closed or broken
//! connection is a failure, and the source reconnects after the backoff.

use super::{Bad, Ctx, Item, SourceError};
use crate::clock::wall_ms;
use futures_util::StreamExt;
use serde::Deserialize;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

/// A batch is submitted when it has this many mentions…
pub const BATCH_ITEMS: usize = 500;
/// …or when its first one has waited this long.
pub const BATCH_WAIT: Duration = Duration::from_secs(1);
/// The cursor is stored at least this often, even when no post matched.
pub const CURSOR_EVERY: Duration = Duration::from_secs(10);
/// How far before the cursor a reconnection replays (microseconds).
pub const REPLAY_US: i64 = 5_000_000;
/// A connection silent for this long is taken for dead.
const IDLE: Duration = Duration::from_secs(90);
/// The only collection read.
const POST: &str = "app.bsky.feed.post";

/// Streams until the service stops.
pub async fn run(mut ctx: Ctx) {
    loop {
        let err = match tls_config() {
            Ok(tls) => session(&mut ctx, tls).await,
            Err(e) => e,
        };
        if ctx.failed(&err).await.is_err() {
            return;
        }
    }
}

/// rustls with the webpki roots and an explicit provider (the process has two, so rustls
/// has no default).
fn tls_config() -> Result<Arc<rustls::ClientConfig>, SourceError> {
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| SourceError::Protocol(format!("TLS set-up: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// The URL to connect to: the collection asked for, and the cursor less [`REPLAY_US`].
pub fn subscribe_url(base: &str, cursor: Option<&str>) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    let mut url = format!("{base}{sep}wantedCollections={POST}");
    if let Some(c) = cursor.and_then(|c| c.trim().parse::<i64>().ok()) {
        url.push_str(&format!("&cursor={}", (c - REPLAY_US).max(0)));
    }
    url
}

/// One connection, read until it fails (always an error).
async fn session(ctx: &mut Ctx, tls: Arc<rustls::ClientConfig>) -> SourceError {
    let url = subscribe_url(&ctx.spec.url, ctx.cursor());
    let cap = ctx.spec.max_item_bytes.saturating_mul(4);
    // a message over the cap is dead-lettered, not a broken connection: let through more
    let hard = cap.max(ctx.spec.max_response_bytes);
    let config = WebSocketConfig::default().max_message_size(Some(hard)).max_frame_size(Some(hard));
    let connector = tokio_tungstenite::Connector::Rustls(tls);
    let connect = tokio_tungstenite::connect_async_tls_with_config(url, Some(config), true, Some(connector));
    let connected = tokio::select! {
        c = tokio::time::timeout(Duration::from_secs(30), connect) => c,
        () = ctx.shutdown.cancelled() => return SourceError::Stopping,
    };
    let mut ws = match connected {
        Err(_) => return SourceError::Network("connecting timed out".into()),
        Ok(Err(e)) => return ws_error(e),
        Ok(Ok((ws, _))) => ws,
    };
    ctx.succeeded();
    let mut b = Batch { last_store: Some(Instant::now()), ..Batch::default() };
    loop {
        let due = b.since.map(|s| s + BATCH_WAIT);
        let cursor_due = b.last_store.unwrap_or_else(Instant::now) + CURSOR_EVERY;
        let msg = tokio::select! {
            m = tokio::time::timeout(IDLE, ws.next()) => m,
            () = sleep_until(due) => {
                if let Err(e) = flush(ctx, &mut b).await { return e; }
                continue;
            }
            () = tokio::time::sleep_until(cursor_due) => {
                if let Err(e) = flush(ctx, &mut b).await { return e; }
                continue;
            }
            () = ctx.shutdown.cancelled() => return SourceError::Stopping,
        };
        let err = match msg {
            Err(_) => SourceError::Network(format!("no message for {} s", IDLE.as_secs())),
            Ok(None) => SourceError::Network("the connection ended".into()),
            Ok(Some(Err(e))) => ws_error(e),
            Ok(Some(Ok(Message::Close(frame)))) => SourceError::Network(format!(
                "closed by the server{}",
                frame.map(|f| format!(": {} {}", u16::from(f.code), f.reason)).unwrap_or_default()
            )),
            Ok(Some(Ok(m @ (Message::Text(_) | Message::Binary(_))))) => {
                on_message(ctx, &mut b, &m.into_data(), cap);
                if b.items.len() >= BATCH_ITEMS {
                    if let Err(e) = flush(ctx, &mut b).await {
                        return e;
                    }
                }
                continue;
            }
            Ok(Some(Ok(_))) => continue,
        };
        return match flush(ctx, &mut b).await {
            Ok(()) => err,
            Err(e) => e,
        };
    }
}

fn ws_error(e: tokio_tungstenite::tungstenite::Error) -> SourceError {
    use tokio_tungstenite::tungstenite::Error as E;
    match e {
        E::Http(resp) => {
            let status = resp.status().as_u16();
            let retry_after =
                resp.headers().get("retry-after").and_then(|v| super::parse_retry_after(v.to_str().ok()?, wall_ms()));
            let body = resp.body().as_deref().unwrap_or_default();
            SourceError::Http {
                status,
                retry_after,
                message: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
            }
        }
        E::Capacity(c) => SourceError::Protocol(format!("message too large: {c}")),
        other => SourceError::Network(other.to_string()),
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// What is collected between submits.
#[derive(Default)]
struct Batch {
    items: Vec<Item>,
    bad: Vec<Bad>,
    /// The last event's `time_us`.
    time_us: Option<i64>,
    since: Option<Instant>,
    last_store: Option<Instant>,
}

/// One message: a post to take, an event to skip, or a dead letter.
fn on_message(ctx: &mut Ctx, b: &mut Batch, raw: &[u8], cap: usize) {
    ctx.succeeded();
    let name = &ctx.spec.name;
    if raw.len() > cap {
        let why = format!("source `{name}`: message of {} bytes is larger than max_item_bytes × 4 ({cap})", raw.len());
        b.bad.push(Bad::new(raw, why));
        b.since.get_or_insert_with(Instant::now);
        return;
    }
    match parse_event(raw) {
        Ok(Event { time_us, post }) => {
            b.time_us = Some(b.time_us.map_or(time_us, |t| t.max(time_us)));
            let Some(item) = post else { return };
            ctx.stats().items.fetch_add(1, Ordering::Relaxed);
            if ctx.keywords.matches(&item.text) {
                b.items.push(item);
                b.since.get_or_insert_with(Instant::now);
            } else {
                ctx.stats().filtered.fetch_add(1, Ordering::Relaxed);
            }
        }
        Err(why) => {
            b.bad.push(Bad::new(raw, format!("source `{name}`: {why}")));
            b.since.get_or_insert_with(Instant::now);
        }
    }
}

/// Submits the batch with the cursor reached.
async fn flush(ctx: &mut Ctx, b: &mut Batch) -> Result<(), SourceError> {
    b.since = None;
    b.last_store = Some(Instant::now());
    let cursor = b.time_us.map(|t| t.to_string()).filter(|c| Some(c.as_str()) != ctx.cursor());
    if b.items.is_empty() && b.bad.is_empty() && cursor.is_none() {
        return Ok(());
    }
    let (items, bad) = (std::mem::take(&mut b.items), std::mem::take(&mut b.bad));
    ctx.submit(items, bad, cursor).await?;
    Ok(())
}

/// A Jetstream event as read: its time, and the post it creates (if it is one).
#[derive(Debug)]
pub struct Event {
    /// `time_us`: when Jetstream saw it, microseconds since the epoch.
    pub time_us: i64,
    /// The post, when the event creates one.
    pub post: Option<Item>,
}

#[derive(Deserialize)]
struct Raw {
    did: String,
    time_us: i64,
    kind: String,
    #[serde(default)]
    commit: Option<Commit>,
}

#[derive(Deserialize)]
struct Commit {
    operation: String,
    collection: String,
    rkey: String,
    #[serde(default)]
    record: Option<Record>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    #[serde(default)]
    text: String,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    langs: Vec<String>,
    #[serde(default)]
    reply: Option<Reply>,
}

#[derive(Deserialize)]
struct Reply {
    parent: Ref,
}

#[derive(Deserialize)]
struct Ref {
    uri: String,
}

/// Reads one Jetstream message.
///
/// # Errors
/// When it is not a Jetstream event, or a post creation without its record.
pub fn parse_event(raw: &[u8]) -> Result<Event, String> {
    let e: Raw = serde_json::from_slice(raw).map_err(|e| format!("not a Jetstream event: {e}"))?;
    let Some(c) = e.commit.filter(|c| e.kind == "commit" && c.operation == "create" && c.collection == POST) else {
        return Ok(Event { time_us: e.time_us, post: None });
    };
    let Some(r) = c.record else {
        return Err(format!("post {} by {} is created without its record", c.rkey, e.did));
    };
    if e.did.is_empty() || c.rkey.is_empty() {
        return Err("post without did or rkey".into());
    }
    let seen = e.time_us / 1000;
    let ts = r.created_at.as_deref().and_then(|t| crate::time::parse_timestamp(t).ok()).map_or(seen, |t| t.min(seen));
    let lang = r
        .langs
        .first()
        .map(|l| l.chars().take_while(|c| c.is_ascii_alphabetic()).collect::<String>().to_lowercase())
        .filter(|l| l.len() == 2);
    let post = Item {
        id: format!("at://{}/{POST}/{}", e.did, c.rkey),
        ts,
        text: r.text,
        url: Some(format!("https://bsky.app/profile/{}/post/{}", e.did, c.rkey)),
        author: Some(e.did),
        lang,
        reply_to: r.reply.map(|r| r.parent.uri),
        ..Item::default()
    };
    Ok(Event { time_us: e.time_us, post: Some(post) })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A post, shaped like the commit example of Jetstream's README.
    const POST_EVENT: &str = r#"{
  "did": "did:plc:eygmaihciaxprqvxpfvl6flk",
  "time_us": 1725911162329308,
  "kind": "commit",
  "commit": {
    "rev": "3l3qo2vutsw2b",
    "operation": "create",
    "collection": "app.bsky.feed.post",
    "rkey": "3l3qo2vutsw2b",
    "record": {
      "$type": "app.bsky.feed.post",
      "createdAt": "2024-09-09T19:46:02.102Z",
      "langs": ["en"],
      "text": "acme support has been down all morning",
      "reply": {
        "parent": {"cid": "bafyreidc6sydkkbchcyg62v77wbhzvb2mvytlmsychqgwf2xojjtirmzj4", "uri": "at://did:plc:wa7b35aakoll7hugkrjtf3xf/app.bsky.feed.post/3l3pte3p2e325"},
        "root": {"cid": "bafyreidc6sydkkbchcyg62v77wbhzvb2mvytlmsychqgwf2xojjtirmzj4", "uri": "at://did:plc:wa7b35aakoll7hugkrjtf3xf/app.bsky.feed.post/3l3pte3p2e325"}
      }
    },
    "cid": "bafyreidwaivazkwu67xztlmuobx35hs2lnfh3kolmgfmucldvhd3sgzcqi"
  }
}"#;

    #[test]
    fn a_post_creation_becomes_an_item() {
        let e = parse_event(POST_EVENT.as_bytes()).unwrap();
        assert_eq!(e.time_us, 1725911162329308);
        let p = e.post.unwrap();
        assert_eq!(p.id, "at://did:plc:eygmaihciaxprqvxpfvl6flk/app.bsky.feed.post/3l3qo2vutsw2b");
        assert_eq!(
            p.url.as_deref(),
            Some("https://bsky.app/profile/did:plc:eygmaihciaxprqvxpfvl6flk/post/3l3qo2vutsw2b")
        );
        assert_eq!(p.author.as_deref(), Some("did:plc:eygmaihciaxprqvxpfvl6flk"));
        assert_eq!(p.text, "acme support has been down all morning");
        assert_eq!(p.lang.as_deref(), Some("en"));
        assert_eq!(p.ts, crate::time::parse_timestamp("2024-09-09T19:46:02.102Z").unwrap());
        assert_eq!(
            p.reply_to.as_deref(),
            Some("at://did:plc:wa7b35aakoll7hugkrjtf3xf/app.bsky.feed.post/3l3pte3p2e325")
        );
    }

    #[test]
    fn a_post_without_a_readable_time_takes_the_events() {
        let e = POST_EVENT.replace("2024-09-09T19:46:02.102Z", "not a date");
        assert_eq!(parse_event(e.as_bytes()).unwrap().post.unwrap().ts, 1725911162329);
        // a claimed time after Jetstream saw the post is not believed
        let e = POST_EVENT.replace("2024-09-09T19:46:02.102Z", "2030-01-01T00:00:00Z");
        assert_eq!(parse_event(e.as_bytes()).unwrap().post.unwrap().ts, 1725911162329);
    }

    #[test]
    fn other_events_are_skipped_and_garbage_is_refused() {
        let like =
            POST_EVENT.replace("\"collection\": \"app.bsky.feed.post\"", "\"collection\": \"app.bsky.feed.like\"");
        let identity = r#"{"did":"did:plc:ufbl4k27gp6kzas5glhz7fim","time_us":1725516665234703,"kind":"identity","identity":{"did":"did:plc:ufbl4k27gp6kzas5glhz7fim","handle":"yohenrique.bsky.social","seq":1409752997,"time":"2024-09-05T06:11:04.870Z"}}"#;
        let account = r#"{"did":"did:plc:ufbl4k27gp6kzas5glhz7fim","time_us":1725516665333808,"kind":"account","account":{"active":true,"did":"did:plc:ufbl4k27gp6kzas5glhz7fim","seq":1409753013,"time":"2024-09-05T06:11:04.870Z"}}"#;
        let delete = r#"{"did":"did:plc:rfov6bpyztcnedeyyzgfq42k","time_us":1725516666833633,"kind":"commit","commit":{"rev":"3l3f6nzl3cv2s","operation":"delete","collection":"app.bsky.feed.post","rkey":"3l3f6nzl3cv2s"}}"#;
        for (raw, t) in [
            (like.as_str(), 1725911162329308),
            (identity, 1725516665234703),
            (account, 1725516665333808),
            (delete, 1725516666833633),
        ] {
            let e = parse_event(raw.as_bytes()).unwrap();
            assert!(e.post.is_none(), "{raw}");
            assert_eq!(e.time_us, t);
        }
        assert!(parse_event(b"{\"kind\":\"commit\"").unwrap_err().contains("not a Jetstream event"));
        let no_record = delete.replace("\"delete\"", "\"create\"");
        assert!(parse_event(no_record.as_bytes()).unwrap_err().contains("without its record"));
    }

    #[test]
    fn the_url_asks_for_posts_and_replays_before_the_cursor() {
        let base = "wss://jetstream2.us-east.bsky.network/subscribe";
        assert_eq!(subscribe_url(base, None), format!("{base}?wantedCollections=app.bsky.feed.post"));
        assert_eq!(
            subscribe_url(base, Some("1725911162329308")),
            format!("{base}?wantedCollections=app.bsky.feed.post&cursor=1725911157329308")
        );
        assert_eq!(
            subscribe_url("ws://h/s?compress=false", Some("x")),
            "ws://h/s?compress=false&wantedCollections=app.bsky.feed.post"
        );
    }

    #[test]
    fn the_tls_config_builds() {
        assert!(tls_config().is_ok());
    }
}
