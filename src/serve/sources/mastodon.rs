//! `kind = "mastodon"`: a Mastodon instance's streaming API over server-sent events.
//! `url` is the instance (`https://mastodon.social`); the stream is
//! `/api/v1/streaming/hashtag?tag=…` when `tag` is set (`hashtag/local` with `local`), else
//! `/api/v1/streaming/public` (`public/local`); the token, when given, goes as
//! `Authorization: Bearer`.
//!
//! Each `update` event carries a status: it becomes a mention with the status `uri` as id
//! (global: the same post seen through two instances is one mention), its HTML content
//! stripped (after the content warning, when there is one), the account's `acct` and
//! followers, its language and boosts. A boost is a mention of its own (the boost's uri),
//! with the boosted status's text and `shared_of` set to the boosted status's uri. Other
//! events (`delete`, `status.update`, …) are ignored. Unless the source pins a brand, a
//! status that names no brand keyword is dropped before anything is stored.
//!
//! The cursor is the newest status id seen. On every (re)connection the stream is opened
//! first, then the gap since the cursor is filled through the REST timeline
//! (`since_id`, paging back with `max_id`, a few pages at most), then the stream is read:
//! what the two share is dropped by the id memory. Mentions are submitted in batches (every
//! [`BATCH_ITEMS`] items or [`BATCH_WAIT`]) with the cursor. An event that is not a status,
//! or larger than `max_item_bytes × 4`, is dead-lettered and the stream goes on; a stream
//! that ends, cleanly or not, is a failure, and the source reconnects after the backoff.

use super::{Bad, Ctx, Item, SourceError};
use crate::clock::wall_ms;
use crate::serve::ingest::KEEP_RAW;
use crate::time::Millis;
use serde::Deserialize;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::time::Instant;

/// A batch is submitted when it has this many mentions…
pub const BATCH_ITEMS: usize = 200;
/// …or when its first one has waited this long.
pub const BATCH_WAIT: Duration = Duration::from_secs(1);
/// Statuses per page of the gap fill (Mastodon's maximum).
const PAGE: usize = 40;
/// Pages of the gap fill at most (older statuses are not fetched).
const MAX_PAGES: usize = 5;

/// Streams until the service stops.
pub async fn run(mut ctx: Ctx) {
    loop {
        let err = session(&mut ctx).await;
        if ctx.failed(&err).await.is_err() {
            return;
        }
    }
}

/// The stream's path (with its query) under the instance.
fn stream_path(tag: Option<&str>, local: bool) -> String {
    match tag {
        Some(t) => format!("/api/v1/streaming/hashtag{}?tag={}", if local { "/local" } else { "" }, urlencode(t)),
        None => format!("/api/v1/streaming/public{}", if local { "/local" } else { "" }),
    }
}

/// The REST timeline matching the stream, with statuses newer than `since`, older than `max`.
fn timeline_path(tag: Option<&str>, local: bool, since: &str, max: Option<&str>) -> String {
    let mut p = match tag {
        Some(t) => format!("/api/v1/timelines/tag/{}?", urlencode(t)),
        None => "/api/v1/timelines/public?".to_string(),
    };
    if local {
        p.push_str("local=true&");
    }
    p.push_str(&format!("since_id={}&limit={PAGE}", urlencode(since)));
    if let Some(m) = max {
        p.push_str(&format!("&max_id={}", urlencode(m)));
    }
    p
}

fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What a batch collects between submits.
#[derive(Default)]
struct Pending {
    items: Vec<Item>,
    bad: Vec<Bad>,
    /// The newest status id seen (the next cursor).
    newest: Option<String>,
    since: Option<Instant>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.items.is_empty() && self.bad.is_empty()
    }

    fn saw(&mut self, id: &str) {
        if newer(id, self.newest.as_deref()) {
            self.newest = Some(id.to_string());
        }
    }

    fn touch(&mut self) {
        self.since.get_or_insert_with(Instant::now);
    }
}

/// Whether status id `a` is newer than `b` (as numbers when both are, else as strings).
pub fn newer(a: &str, b: Option<&str>) -> bool {
    let Some(b) = b else { return true };
    match (a.parse::<u128>(), b.parse::<u128>()) {
        (Ok(x), Ok(y)) => x > y,
        _ => (a.len(), a) > (b.len(), b),
    }
}

/// One connection: open the stream, fill the gap, read until it fails (always an error).
async fn session(ctx: &mut Ctx) -> SourceError {
    let url = format!("{}{}", ctx.spec.url.trim_end_matches('/'), stream_path(ctx.spec.tag.as_deref(), ctx.spec.local));
    let mut req = ctx.http.get(&url).header("accept", "text/event-stream");
    if let Some(t) = &ctx.spec.token {
        req = req.bearer_auth(t);
    }
    let resp = tokio::select! {
        r = req.send() => r,
        () = ctx.shutdown.cancelled() => return SourceError::Stopping,
    };
    let resp = match resp {
        Ok(r) => r,
        Err(e) => return SourceError::Network(super::without_url(e)),
    };
    let status = resp.status().as_u16();
    if !(200..300).contains(&status) {
        let retry_after =
            resp.headers().get("retry-after").and_then(|v| super::parse_retry_after(v.to_str().ok()?, wall_ms()));
        let body = ctx.read_capped(resp).await.unwrap_or_default();
        return SourceError::Http {
            status,
            retry_after,
            message: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
        };
    }
    ctx.succeeded();
    if let Err(e) = fill_gap(ctx).await {
        return e;
    }
    let mut resp = resp;
    let mut parser = SseParser::new(ctx.spec.max_item_bytes.saturating_mul(4));
    let mut pending = Pending::default();
    loop {
        let flush_at = pending.since.map(|s| s + BATCH_WAIT);
        let chunk = tokio::select! {
            // `chunk` is cancel-safe: a frame is only taken from the body when it completes
            c = resp.chunk() => c.transpose(),
            () = sleep_until(flush_at) => {
                if let Err(e) = flush(ctx, &mut pending).await {
                    return e;
                }
                continue;
            }
            () = ctx.shutdown.cancelled() => return SourceError::Stopping,
        };
        let err = match chunk {
            Some(Ok(bytes)) => {
                let mut events = 0;
                for frame in parser.feed(&bytes) {
                    events += 1;
                    on_frame(ctx, &mut pending, frame);
                }
                if events > 0 || parser.heartbeats > 0 {
                    parser.heartbeats = 0;
                    ctx.succeeded();
                }
                if pending.items.len() >= BATCH_ITEMS {
                    if let Err(e) = flush(ctx, &mut pending).await {
                        return e;
                    }
                }
                continue;
            }
            Some(Err(e)) => SourceError::Network(super::without_url(e)),
            None => SourceError::Network("the stream ended".into()),
        };
        return match flush(ctx, &mut pending).await {
            Ok(()) => err,
            Err(e) => e,
        };
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// Submits what is pending, with the newest id as the cursor.
async fn flush(ctx: &mut Ctx, p: &mut Pending) -> Result<(), SourceError> {
    let cursor = p.newest.clone().filter(|n| newer(n, ctx.cursor()));
    if p.is_empty() && cursor.is_none() {
        p.since = None;
        return Ok(());
    }
    let items = std::mem::take(&mut p.items);
    let bad = std::mem::take(&mut p.bad);
    p.since = None;
    ctx.submit(items, bad, cursor).await?;
    Ok(())
}

/// An event of the stream: a status to take, or a dead letter.
fn on_frame(ctx: &mut Ctx, p: &mut Pending, frame: Frame) {
    let name = ctx.spec.name.clone();
    match frame {
        Frame::TooLarge { event, size, head } => {
            p.bad.push(Bad::new(
                &head,
                format!(
                    "source `{name}`: event `{event}` of {size} bytes is larger than max_item_bytes × 4 ({})",
                    ctx.spec.max_item_bytes.saturating_mul(4)
                ),
            ));
            p.touch();
        }
        Frame::Event { event, data } if event == "update" => {
            ctx.stats().items.fetch_add(1, Ordering::Relaxed);
            match parse_status(data.as_bytes(), wall_ms()) {
                Ok((id, item)) => {
                    p.saw(&id);
                    take(ctx, p, item);
                }
                Err(why) => {
                    p.bad.push(Bad::new(data.as_bytes(), format!("source `{name}`: {why}")));
                    p.touch();
                }
            }
        }
        Frame::Event { .. } => {}
    }
}

/// Keeps `item` when it names a brand (or the source pins one).
fn take(ctx: &mut Ctx, p: &mut Pending, item: Item) {
    if ctx.keywords.matches(&item.text) {
        p.items.push(item);
        p.touch();
    } else {
        ctx.stats().filtered.fetch_add(1, Ordering::Relaxed);
    }
}

/// Fetches the statuses posted since the cursor through the REST timeline and submits them.
async fn fill_gap(ctx: &mut Ctx) -> Result<(), SourceError> {
    let Some(since) = ctx.cursor().map(str::to_string) else { return Ok(()) };
    let base = ctx.spec.url.trim_end_matches('/').to_string();
    let auth = ctx.spec.token.as_ref().map(|t| format!("Bearer {t}"));
    let mut pending = Pending::default();
    let mut max: Option<String> = None;
    let mut complete = false;
    for _ in 0..MAX_PAGES {
        let path = timeline_path(ctx.spec.tag.as_deref(), ctx.spec.local, &since, max.as_deref());
        let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
        let (_, _, body) = ctx.get(&format!("{base}{path}"), &headers).await?;
        let page: Vec<serde_json::Value> = serde_json::from_slice(&body)
            .map_err(|e| SourceError::Protocol(format!("the timeline is not a JSON array of statuses: {e}")))?;
        let n = page.len();
        let mut oldest: Option<String> = None;
        for v in page {
            ctx.stats().items.fetch_add(1, Ordering::Relaxed);
            let raw = v.to_string();
            match parse_status(raw.as_bytes(), wall_ms()) {
                Ok((id, item)) => {
                    pending.saw(&id);
                    if oldest.as_deref().is_none_or(|o| newer(o, Some(&id))) {
                        oldest = Some(id);
                    }
                    take(ctx, &mut pending, item);
                }
                Err(why) => pending.bad.push(Bad::new(raw.as_bytes(), format!("source `{}`: {why}", ctx.spec.name))),
            }
        }
        if n < PAGE || oldest.is_none() {
            complete = true;
            break;
        }
        max = oldest;
    }
    if !complete {
        tracing::warn!(source = %ctx.spec.name, pages = MAX_PAGES, "the gap since the cursor is longer than the pages fetched; older statuses are not taken");
    }
    flush(ctx, &mut pending).await
}

#[derive(Deserialize)]
struct Status {
    id: String,
    uri: String,
    #[serde(default)]
    url: Option<String>,
    created_at: String,
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    spoiler_text: Option<String>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    account: Option<Account>,
    #[serde(default)]
    reblogs_count: Option<u64>,
    #[serde(default)]
    in_reply_to_id: Option<String>,
    #[serde(default)]
    reblog: Option<Box<Status>>,
}

#[derive(Deserialize)]
struct Account {
    acct: String,
    #[serde(default)]
    followers_count: Option<u64>,
}

/// A status (JSON) as (its id on the instance, the item), `now` capping its time.
///
/// # Errors
/// When it is not a status.
pub fn parse_status(data: &[u8], now: Millis) -> Result<(String, Item), String> {
    let s: Status = serde_json::from_slice(data).map_err(|e| format!("the event is not a status: {e}"))?;
    let ts = crate::time::parse_timestamp(&s.created_at)
        .map_err(|e| format!("status {}: `created_at` {:?} is not a time: {e}", s.id, s.created_at))?
        .min(now);
    if s.uri.trim().is_empty() {
        return Err(format!("status {} has no uri", s.id));
    }
    let (body, shared_of) = match &s.reblog {
        Some(inner) => (inner.as_ref(), Some(inner.uri.clone())),
        None => (&s, None),
    };
    let content = super::rss::strip_html(body.content.as_deref().unwrap_or(""));
    let spoiler = super::rss::strip_html(body.spoiler_text.as_deref().unwrap_or(""));
    let text = match (spoiler.is_empty(), content.is_empty()) {
        (true, _) => content,
        (false, true) => spoiler,
        (false, false) => format!("{spoiler}. {content}"),
    };
    let lang = body
        .language
        .as_deref()
        .map(|l| l.chars().take_while(|c| c.is_ascii_alphabetic()).collect::<String>().to_lowercase())
        .filter(|l| l.len() == 2);
    let item = Item {
        id: s.uri.clone(),
        ts,
        text,
        url: s.url.clone().or_else(|| body.url.clone()).filter(|u| !u.is_empty()),
        author: s.account.as_ref().map(|a| a.acct.clone()).filter(|a| !a.is_empty()),
        author_followers: s.account.as_ref().and_then(|a| a.followers_count),
        lang,
        shares: body.reblogs_count,
        reply_to: body.in_reply_to_id.clone(),
        shared_of,
    };
    Ok((s.id, item))
}

/// One dispatched server-sent event, or one that was too large to keep.
#[derive(Debug, PartialEq)]
pub enum Frame {
    /// `event:` (default `message`) and its data lines joined with `\n`.
    Event {
        /// The event type.
        event: String,
        /// The data.
        data: String,
    },
    /// An event whose data went over the cap: its type, size and first bytes.
    TooLarge {
        /// The event type.
        event: String,
        /// Bytes of data (and of the line being read) when it went over.
        size: usize,
        /// The first bytes of its data.
        head: Vec<u8>,
    },
}

/// An incremental parser of the `text/event-stream` format (HTML Living Standard §9.2):
/// lines ending in LF or CRLF, `field: value` lines, `:` comments (heartbeats), a blank
/// line dispatching the event. Memory is bounded by the cap on one event.
pub struct SseParser {
    cap: usize,
    line: Vec<u8>,
    line_len: usize,
    event: String,
    data: Vec<u8>,
    has_data: bool,
    over: Option<usize>,
    head: Vec<u8>,
    /// Comment lines seen since the caller last reset it.
    pub heartbeats: u64,
}

impl SseParser {
    /// A parser that refuses events whose data is over `cap` bytes.
    pub fn new(cap: usize) -> Self {
        SseParser {
            cap,
            line: Vec::new(),
            line_len: 0,
            event: String::new(),
            data: Vec::new(),
            has_data: false,
            over: None,
            head: Vec::new(),
            heartbeats: 0,
        }
    }

    /// Feeds bytes; returns the events they complete.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Vec<Frame> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            let (part, rest, eol) = match memchr::memchr(b'\n', bytes) {
                Some(i) => (&bytes[..i], &bytes[i + 1..], true),
                None => (bytes, &[][..], false),
            };
            bytes = rest;
            self.line_len += part.len();
            if self.line_len > self.cap {
                // a line alone over the cap: keep its start for the dead letter only
                let room = KEEP_RAW.saturating_sub(self.line.len());
                self.line.truncate(KEEP_RAW);
                self.line.extend_from_slice(&part[..part.len().min(room)]);
            } else {
                self.line.extend_from_slice(part);
            }
            if eol {
                let len = std::mem::take(&mut self.line_len);
                let line = std::mem::take(&mut self.line);
                let line = line.strip_suffix(b"\r").unwrap_or(&line);
                if len > self.cap {
                    self.too_large(len, line);
                } else if let Some(f) = self.on_line(line) {
                    out.push(f);
                }
            }
        }
        out
    }

    /// The event being read went over the cap with `more` bytes, `start` the first of them.
    fn too_large(&mut self, more: usize, start: &[u8]) {
        let size = self.over.unwrap_or(self.data.len()) + more;
        if self.over.is_none() {
            self.head = std::mem::take(&mut self.data);
            self.head.extend_from_slice(start);
            self.head.truncate(KEEP_RAW);
        }
        self.over = Some(size);
        self.data.clear();
        self.has_data = true;
    }

    fn on_line(&mut self, line: &[u8]) -> Option<Frame> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line[0] == b':' {
            self.heartbeats += 1;
            return None;
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(i) => (&line[..i], line[i + 1..].strip_prefix(b" ").unwrap_or(&line[i + 1..])),
            None => (line, &[][..]),
        };
        match field {
            b"event" => self.event = String::from_utf8_lossy(value).into_owned(),
            b"data" if self.over.is_some() || self.data.len() + value.len() + 1 > self.cap => {
                self.too_large(value.len() + 1, value);
            }
            b"data" => {
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<Frame> {
        let event = std::mem::take(&mut self.event);
        let event = if event.is_empty() { "message".to_string() } else { event };
        let data = std::mem::take(&mut self.data);
        let had = std::mem::take(&mut self.has_data);
        if let Some(size) = self.over.take() {
            return Some(Frame::TooLarge { event, size, head: std::mem::take(&mut self.head) });
        }
        had.then(|| Frame::Event { event, data: String::from_utf8_lossy(&data).into_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A status shaped like the example of Mastodon's `Status` entity documentation.
    const STATUS: &str = r#"{
  "id": "103270115826048975",
  "created_at": "2019-12-08T03:48:33.901Z",
  "in_reply_to_id": null,
  "in_reply_to_account_id": null,
  "sensitive": false,
  "spoiler_text": "",
  "visibility": "public",
  "language": "en",
  "uri": "https://mastodon.social/users/Gargron/statuses/103270115826048975",
  "url": "https://mastodon.social/@Gargron/103270115826048975",
  "replies_count": 5,
  "reblogs_count": 6,
  "favourites_count": 11,
  "favourited": false,
  "reblogged": false,
  "muted": false,
  "bookmarked": false,
  "content": "<p>&quot;I lost my inheritance with one wrong digit on my sort code&quot;</p><p><a href=\"https://www.theguardian.com/money/2019/dec/07/i-lost-my-193000-inheritance-with-one-wrong-digit-on-my-sort-code\" rel=\"nofollow noopener noreferrer\" target=\"_blank\"><span class=\"invisible\">https://www.</span><span class=\"ellipsis\">theguardian.com/money/2019/dec</span><span class=\"invisible\">/07/i-lost-my-193000-inheritance-with-one-wrong-digit-on-my-sort-code</span></a></p>",
  "reblog": null,
  "application": {"name": "Web", "website": null},
  "account": {
    "id": "1",
    "username": "Gargron",
    "acct": "Gargron",
    "display_name": "Eugen",
    "followers_count": 322930,
    "following_count": 459,
    "statuses_count": 61323
  },
  "media_attachments": [],
  "mentions": [],
  "tags": [],
  "emojis": [],
  "card": null,
  "poll": null
}"#;

    const NOW: Millis = 1_800_000_000_000;

    #[test]
    fn a_status_becomes_an_item() {
        let (id, it) = parse_status(STATUS.as_bytes(), NOW).unwrap();
        assert_eq!(id, "103270115826048975");
        assert_eq!(it.id, "https://mastodon.social/users/Gargron/statuses/103270115826048975");
        assert_eq!(it.url.as_deref(), Some("https://mastodon.social/@Gargron/103270115826048975"));
        assert_eq!(
            it.text,
            "\"I lost my inheritance with one wrong digit on my sort code\" https://www.theguardian.com/money/2019/dec/07/i-lost-my-193000-inheritance-with-one-wrong-digit-on-my-sort-code"
        );
        assert_eq!(it.ts, crate::time::parse_timestamp("2019-12-08T03:48:33.901Z").unwrap());
        assert_eq!(it.author.as_deref(), Some("Gargron"));
        assert_eq!(it.author_followers, Some(322930));
        assert_eq!((it.lang.as_deref(), it.shares, it.shared_of.as_deref()), (Some("en"), Some(6), None));
    }

    #[test]
    fn a_boost_carries_the_boosted_text_and_a_content_warning_comes_first() {
        let mut inner: serde_json::Value = serde_json::from_str(STATUS).unwrap();
        inner["spoiler_text"] = "bank news".into();
        let boost = serde_json::json!({
            "id": "103270200000000000", "created_at": "2019-12-08T04:00:00.000Z",
            "uri": "https://fosstodon.org/users/dana/statuses/103270200000000000/activity",
            "url": null, "content": "", "language": null, "reblogs_count": 0,
            "account": {"acct": "dana@fosstodon.org", "followers_count": 12},
            "reblog": inner,
        });
        let (id, it) = parse_status(boost.to_string().as_bytes(), NOW).unwrap();
        assert_eq!(id, "103270200000000000");
        assert_eq!(it.id, "https://fosstodon.org/users/dana/statuses/103270200000000000/activity");
        assert_eq!(it.shared_of.as_deref(), Some("https://mastodon.social/users/Gargron/statuses/103270115826048975"));
        assert!(it.text.starts_with("bank news. \"I lost my inheritance"), "{}", it.text);
        assert_eq!((it.author.as_deref(), it.author_followers), (Some("dana@fosstodon.org"), Some(12)));
        assert_eq!(it.url.as_deref(), Some("https://mastodon.social/@Gargron/103270115826048975"));
        assert!(parse_status(b"{\"id\": 1}", NOW).unwrap_err().contains("not a status"));
        assert!(parse_status(STATUS.replace("2019-12-08T03:48:33.901Z", "yesterday").as_bytes(), NOW).is_err());
    }

    #[test]
    fn sse_framing_heartbeats_multi_line_data_and_chunk_boundaries() {
        let stream = ":)\n:thump\r\nevent: update\ndata: {\"a\":\ndata:1}\n\n: thump\nevent: delete\ndata: 42\n\n\
                      data: plain\nid: 7\nretry: 100\nunknown\n\nevent: update\n\n";
        let whole = SseParser::new(1000).feed(stream.as_bytes());
        let mut p = SseParser::new(1000);
        let mut bytewise = Vec::new();
        for b in stream.as_bytes() {
            bytewise.extend(p.feed(std::slice::from_ref(b)));
        }
        assert_eq!(p.heartbeats, 3);
        let ev = |e: &str, d: &str| Frame::Event { event: e.into(), data: d.into() };
        let want = vec![ev("update", "{\"a\":\n1}"), ev("delete", "42"), ev("message", "plain")];
        assert_eq!(whole, want);
        assert_eq!(bytewise, want, "an event split anywhere reads the same");
    }

    #[test]
    fn an_event_over_the_cap_is_cut_and_the_stream_goes_on() {
        let mut p = SseParser::new(20);
        let big = "x".repeat(100);
        let mut out = p.feed(format!("event: update\ndata: {big}\n\n").as_bytes());
        out.extend(p.feed(b"event: update\ndata: 0123456789\ndata: 0123456789\n\n"));
        out.extend(p.feed(b"event: update\ndata: ok\n\n"));
        assert_eq!(out.len(), 3, "{out:?}");
        assert!(
            matches!(&out[0], Frame::TooLarge { event, size, head } if event == "update" && *size > 100 && head.starts_with(b"data: xxx")),
            "{:?}",
            out[0]
        );
        assert!(matches!(&out[1], Frame::TooLarge { size: 21, .. }), "{:?}", out[1]);
        assert_eq!(out[2], Frame::Event { event: "update".into(), data: "ok".into() });
    }

    #[test]
    fn ids_compare_as_numbers_and_paths_follow_the_spec() {
        assert!(newer("110000000000000010", Some("99999999999999999")));
        assert!(!newer("9", Some("10")));
        assert!(newer("1", None));
        assert_eq!(stream_path(Some("acme fail"), true), "/api/v1/streaming/hashtag/local?tag=acme%20fail");
        assert_eq!(stream_path(None, false), "/api/v1/streaming/public");
        assert_eq!(
            timeline_path(Some("acme"), false, "5", Some("9")),
            "/api/v1/timelines/tag/acme?since_id=5&limit=40&max_id=9"
        );
        assert_eq!(timeline_path(None, true, "5", None), "/api/v1/timelines/public?local=true&since_id=5&limit=40");
    }
}
