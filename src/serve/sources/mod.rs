//! Sources: tasks that collect mentions themselves (`[[source]]` in the service config) and
//! feed them into the same durable path as `POST /v1/mentions`: every item becomes a mention
//! line (DESIGN §1), is validated like an HTTP line, goes through the sequencer (admission,
//! id de-duplication, the ingest log, one fsync) and only then counts as taken.
//!
//! Each kind is a module with one `run(Ctx)` future: `rss`, `mastodon`, `bluesky`, `telegram`,
//! `hackernews`. What they share is here, in [`Ctx`]:
//!
//! * [`Ctx::submit`]: items, bad items (dead-lettered as `source:<name>` with their reason)
//!   and the cursor reached; returns once the mentions are durable. The sequencer stores the
//!   cursor right after the log write, so a restart (also `kill -9`) resumes from a cursor
//!   that never runs ahead of the log; items fetched again are dropped by the id memory.
//! * [`Ctx::get`]: an HTTP GET with the polite User-Agent, a cap on the response, and 429/5xx
//!   turned into [`SourceError::Http`] with the `Retry-After` the server gave.
//! * [`Ctx::failed`] / [`Ctx::succeeded`]: the health record behind `/v1/sources` and the
//!   metrics; backoff with jitter; an ops notice through the notify pipeline when a source
//!   has failed for longer than its `alert_after`, and another when it works again.
//! * [`Keywords`]: the brands' keywords, to filter firehoses before anything is stored and
//!   to build search queries.

pub mod bluesky;
pub mod hackernews;
pub mod mastodon;
pub mod rss;
pub mod start;
pub mod telegram;

use crate::clock::wall_ms;
use crate::ingest::brands::{BrandKeywords, BrandMatcher};
use crate::rules::RuleSet;
use crate::serve::config::sources::SourceSpec;
use crate::serve::ingest::{self, Framing, Limits};
use crate::serve::pipeline::{Receipt, Shared, WriterMsg};
use crate::time::{format_rfc3339, Millis};
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The User-Agent of every request a source makes.
pub const USER_AGENT: &str = concat!(
    "crisiswatch/",
    env!("CARGO_PKG_VERSION"),
    " (brand monitoring; +https://github.com/crisiswatch/crisiswatch)"
);

/// One item a source made into a mention. `source` and `brand` are set from the source.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Item {
    /// Upstream id, stable across fetches and shared by every way to the same post (the
    /// guid or link, `at://…` URI, status URI, `tg:<chat>:<message>`, `hn:<id>`).
    pub id: String,
    /// Publication time.
    #[serde(serialize_with = "rfc3339")]
    pub ts: Millis,
    /// Plain text (HTML already stripped).
    pub text: String,
    /// Link to the post.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Author handle or name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// The author's audience, when the source tells.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author_followers: Option<u64>,
    /// ISO 639-1 language, when the source tells.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    /// Shares/boosts/reposts, when the source tells.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shares: Option<u64>,
    /// Id of the post this one replies to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// Id of the post this one re-shares.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_of: Option<String>,
}

fn rfc3339<S: serde::Serializer>(ts: &Millis, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_rfc3339(*ts))
}

/// An item a source could not make into a mention: dead-lettered with the reason.
#[derive(Debug, Clone)]
pub struct Bad {
    /// The item as received (cut to [`crate::serve::ingest::KEEP_RAW`] bytes).
    pub raw: Vec<u8>,
    /// Why.
    pub reason: String,
}

impl Bad {
    /// A bad item: its bytes (kept up to the dead letters' cap) and why.
    pub fn new(raw: &[u8], reason: impl Into<String>) -> Self {
        Bad { raw: raw[..raw.len().min(crate::serve::ingest::KEEP_RAW)].to_vec(), reason: reason.into() }
    }
}

/// Why a fetch or a submit failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SourceError {
    /// The server answered with an error status.
    #[error("HTTP {status}: {message}")]
    Http {
        /// The status.
        status: u16,
        /// What the server asked us to wait (`Retry-After`, Telegram's `retry_after`).
        retry_after: Option<Duration>,
        /// The start of its answer.
        message: String,
    },
    /// Connection, TLS, timeout.
    #[error("network: {0}")]
    Network(String),
    /// The answer could not be read (not a feed, bad JSON, too large, …).
    #[error("{0}")]
    Protocol(String),
    /// The service did not take the mentions (log not writable, shutting down).
    #[error("ingest refused: {0}")]
    Ingest(String),
    /// The service is stopping.
    #[error("stopping")]
    Stopping,
}

impl SourceError {
    fn retry_after(&self) -> Option<Duration> {
        match self {
            SourceError::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Counters and health of one source, for `/metrics` and `GET /v1/sources`.
#[derive(Debug, Default)]
pub struct SourceStats {
    /// Items read from upstream (before filtering).
    pub items: AtomicU64,
    /// Mentions accepted (new and durable).
    pub accepted: AtomicU64,
    /// Mentions whose id was already taken.
    pub duplicates: AtomicU64,
    /// Items dead-lettered (bad items, and mentions the sequencer refused).
    pub rejected: AtomicU64,
    /// Items older than the engine takes (`allowed_lateness`), skipped.
    pub skipped_old: AtomicU64,
    /// Items of a firehose that matched no brand keyword, dropped before storing.
    pub filtered: AtomicU64,
    /// Failed fetches, connections or submits.
    pub errors: AtomicU64,
    health: Mutex<Health>,
}

#[derive(Debug, Default, Clone)]
struct Health {
    last_success_ms: Option<Millis>,
    last_error: Option<String>,
    failing_since_ms: Option<Millis>,
    noticed: bool,
    newest_item_ms: Option<Millis>,
    connected: bool,
}

/// What `GET /v1/sources` shows of one source.
#[derive(Debug, Clone, Serialize)]
pub struct SourceView {
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: &'static str,
    /// `ok`, `starting` or `failing`.
    pub state: &'static str,
    /// Items read.
    pub items: u64,
    /// Mentions accepted.
    pub accepted: u64,
    /// Duplicates dropped.
    pub duplicates: u64,
    /// Items dead-lettered.
    pub rejected: u64,
    /// Items too old for the engine, skipped.
    pub skipped_old: u64,
    /// Items that matched no brand (firehoses).
    pub filtered: u64,
    /// Errors.
    pub errors: u64,
    /// Last successful fetch (or, for a stream, last event), RFC 3339.
    pub last_success: Option<String>,
    /// Failing since, RFC 3339.
    pub failing_since: Option<String>,
    /// The last error.
    pub last_error: Option<String>,
    /// Seconds from the newest item's time to now.
    pub lag_seconds: Option<f64>,
}

/// A running source: its spec and its stats.
#[derive(Debug)]
pub struct Running {
    /// The spec (token included; never serialised).
    pub spec: SourceSpec,
    /// Its stats.
    pub stats: SourceStats,
}

impl Running {
    /// The view for `GET /v1/sources`.
    pub fn view(&self, now: Millis) -> SourceView {
        let h = self.stats.health.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let s = &self.stats;
        let state = if h.failing_since_ms.is_some() {
            "failing"
        } else if h.last_success_ms.is_some() {
            "ok"
        } else {
            "starting"
        };
        SourceView {
            name: self.spec.name.clone(),
            kind: self.spec.kind.name(),
            state,
            items: s.items.load(Ordering::Relaxed),
            accepted: s.accepted.load(Ordering::Relaxed),
            duplicates: s.duplicates.load(Ordering::Relaxed),
            rejected: s.rejected.load(Ordering::Relaxed),
            skipped_old: s.skipped_old.load(Ordering::Relaxed),
            filtered: s.filtered.load(Ordering::Relaxed),
            errors: s.errors.load(Ordering::Relaxed),
            last_success: h.last_success_ms.map(format_rfc3339),
            failing_since: h.failing_since_ms.map(format_rfc3339),
            last_error: h.last_error,
            lag_seconds: h.newest_item_ms.map(|t| (now - t).max(0) as f64 / 1000.0),
        }
    }
}

/// Renders the sources' metrics (Prometheus text format), one series per source.
pub fn render_metrics(list: &[Arc<Running>], now: Millis, out: &mut String) {
    use std::fmt::Write as _;
    if list.is_empty() {
        return;
    }
    let views: Vec<SourceView> = list.iter().map(|r| r.view(now)).collect();
    type Get = fn(&SourceView) -> Option<f64>;
    let series: [(&str, &str, &str, Get); 10] = [
        ("source_items_total", "counter", "items read from the source", |v| Some(v.items as f64)),
        ("source_mentions_accepted_total", "counter", "mentions the source delivered, new and durable", |v| {
            Some(v.accepted as f64)
        }),
        ("source_duplicates_total", "counter", "items whose id was already taken", |v| Some(v.duplicates as f64)),
        ("source_rejected_total", "counter", "items dead-lettered", |v| Some(v.rejected as f64)),
        ("source_skipped_old_total", "counter", "items older than allowed_lateness, skipped", |v| {
            Some(v.skipped_old as f64)
        }),
        ("source_filtered_total", "counter", "items matching no brand keyword, not stored", |v| {
            Some(v.filtered as f64)
        }),
        ("source_errors_total", "counter", "failed fetches, connections or submits", |v| Some(v.errors as f64)),
        ("source_up", "gauge", "1 when the source's last attempt worked", |v| {
            Some(f64::from(u8::from(v.state == "ok")))
        }),
        ("source_lag_seconds", "gauge", "time from the newest item to now", |v| v.lag_seconds),
        ("source_last_success_seconds", "gauge", "unix time of the last success", |v| {
            v.last_success.as_deref().and_then(|s| crate::time::parse_timestamp(s).ok()).map(|t| t as f64 / 1000.0)
        }),
    ];
    for (name, kind, help, get) in series {
        let _ = writeln!(out, "# HELP crisiswatch_{name} {help}\n# TYPE crisiswatch_{name} {kind}");
        for v in &views {
            if let Some(x) = get(v) {
                let _ = writeln!(out, "crisiswatch_{name}{{source=\"{}\",kind=\"{}\"}} {x}", v.name, v.kind);
            }
        }
    }
}

/// The brands' keywords: a filter for firehoses, and the terms of search queries.
pub struct Keywords {
    matcher: BrandMatcher,
    terms: Vec<String>,
    pinned: bool,
    /// The pinned brand is not in the rules (or has no keywords): nothing to match.
    unmatched_pin: bool,
    out: Vec<u32>,
}

impl Keywords {
    /// The keywords of `rules`, or only the pinned brand's (which then matches everything).
    ///
    /// # Errors
    /// When the automaton cannot be built.
    pub fn new(rules: &RuleSet, pinned: Option<&str>) -> Result<Self, aho_corasick::BuildError> {
        let brands: Vec<BrandKeywords> = rules
            .brands
            .iter()
            .enumerate()
            .filter(|(_, b)| pinned.is_none_or(|p| p == b.id))
            .map(|(i, b)| BrandKeywords {
                brand: i as u32,
                keywords: b.keywords.clone(),
                exclusions: b.exclusions.clone(),
            })
            .collect();
        let mut terms: Vec<String> =
            brands.iter().flat_map(|b| b.keywords.iter().map(|k| k.trim_end_matches('*').trim().to_string())).collect();
        let unmatched_pin = pinned.is_some() && terms.is_empty();
        if let (Some(p), true) = (pinned, unmatched_pin) {
            terms.push(p.to_string());
        }
        terms.retain(|t| !t.is_empty());
        terms.sort();
        terms.dedup();
        Ok(Keywords {
            matcher: BrandMatcher::new(&brands)?,
            terms,
            pinned: pinned.is_some(),
            unmatched_pin,
            out: Vec::new(),
        })
    }

    /// Whether `text` is about one of the brands (always, for a pinned source).
    pub fn matches(&mut self, text: &str) -> bool {
        if self.pinned {
            return true;
        }
        self.out.clear();
        self.matcher.match_into(text, &mut self.out);
        !self.out.is_empty()
    }

    /// Whether `text` names one of the brands by its keywords, also for a pinned source
    /// (for search APIs, whose matches are looser than ours); true when the pinned brand has
    /// no keywords.
    pub fn names_brand(&mut self, text: &str) -> bool {
        if self.pinned && self.unmatched_pin {
            return true;
        }
        self.out.clear();
        self.matcher.match_into(text, &mut self.out);
        !self.out.is_empty()
    }

    /// The keywords, each once (stems without their `*`), for search queries.
    pub fn terms(&self) -> &[String] {
        &self.terms
    }
}

/// What [`Ctx::submit`] did.
#[derive(Debug, Clone, Copy, Default)]
pub struct Submitted {
    /// New mentions, durable.
    pub accepted: usize,
    /// Already taken.
    pub duplicates: usize,
    /// Dead-lettered (bad items and refused mentions).
    pub rejected: usize,
}

/// Everything a source task needs.
pub struct Ctx {
    /// The source's settings.
    pub spec: SourceSpec,
    /// An HTTP client with the User-Agent and timeouts.
    pub http: reqwest::Client,
    /// The brands' keywords.
    pub keywords: Keywords,
    /// Cancelled when the service stops.
    pub shutdown: CancellationToken,
    running: Arc<Running>,
    cursor: Option<String>,
    shared: Arc<Shared>,
    writer: Sender<WriterMsg>,
    attempt: u32,
    /// The engine clock's lateness bound in ms (items older are skipped); `None` in event mode.
    lateness_ms: Option<i64>,
}

impl Ctx {
    /// The cursor stored by the last successful submit (or found at start-up).
    pub fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }

    /// The source's stats.
    pub fn stats(&self) -> &SourceStats {
        &self.running.stats
    }

    /// Submits `items` (mentions) and `bad` (dead letters), moving the cursor to `cursor`
    /// once they are durable. Items older than the engine takes (`allowed_lateness`, wall
    /// clock) are skipped and counted; items over `max_item_bytes` are dead-lettered.
    ///
    /// # Errors
    /// The service did not take them; nothing was stored and the cursor did not move.
    pub async fn submit(
        &mut self,
        items: Vec<Item>,
        mut bad: Vec<Bad>,
        cursor: Option<String>,
    ) -> Result<Submitted, SourceError> {
        let now = wall_ms();
        let mut body = Vec::with_capacity(items.len() * 256);
        let mut newest = None::<Millis>;
        for it in items {
            if let Some(l) = self.lateness_ms {
                if it.ts < now - l {
                    self.running.stats.skipped_old.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            }
            newest = newest.max(Some(it.ts));
            let line = mention_line(&it, &self.spec);
            if line.len() > self.spec.max_item_bytes {
                bad.push(Bad::new(
                    &line,
                    format!(
                        "item of {} bytes is larger than max_item_bytes ({})",
                        line.len(),
                        self.spec.max_item_bytes
                    ),
                ));
                continue;
            }
            body.extend_from_slice(&line);
            body.push(b'\n');
        }
        let limits = Limits { max_line: self.shared.cfg.max_line };
        let mut decoded = ingest::validate(&body, Framing::Ndjson, limits)
            .map_err(|e| SourceError::Protocol(format!("mentions made from items do not validate: {e}")))?;
        let mut rejected = std::mem::take(&mut decoded.rejected);
        for r in &mut rejected {
            r.reason = format!("{} (made from an item of source `{}`)", r.reason, self.spec.name);
        }
        let first_bad = rejected.len() + decoded.index.len() + 1;
        rejected.extend(bad.into_iter().enumerate().map(|(i, b)| ingest::Rejected {
            line: first_bad + i,
            reason: b.reason,
            raw: b.raw,
        }));
        let n_rejected = rejected.len();
        if decoded.index.is_empty() && rejected.is_empty() && cursor == self.cursor {
            return Ok(Submitted::default());
        }
        let mut places = 0u32;
        let mut start = 0u32;
        for item in &decoded.index {
            places += (item.end - start).div_ceil(1024).max(1);
            start = item.end;
        }
        let places = places.min(self.shared.cfg.max_queued_mentions);
        let permit = if places == 0 {
            None
        } else {
            tokio::select! {
                p = self.shared.queue.clone().acquire_many_owned(places) => Some(p.map_err(|_| SourceError::Stopping)?),
                () = self.shutdown.cancelled() => return Err(SourceError::Stopping),
            }
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let msg = WriterMsg::Batch {
            decoded,
            rejected,
            token: format!("source:{}", self.spec.name),
            permit,
            reply: tx,
            cursor: cursor.clone().map(|c| (self.spec.name.clone(), c)),
        };
        self.writer.send(msg).map_err(|_| SourceError::Stopping)?;
        let receipt: Receipt = match rx.await {
            Ok(Ok(r)) => r,
            Err(_) => return Err(SourceError::Stopping),
            Ok(Err(e)) => return Err(SourceError::Ingest(e.to_string())),
        };
        let s = &self.running.stats;
        let rejected = n_rejected + receipt.refused.len();
        s.accepted.fetch_add(receipt.accepted as u64, Ordering::Relaxed);
        s.duplicates.fetch_add(receipt.duplicates as u64, Ordering::Relaxed);
        s.rejected.fetch_add(rejected as u64, Ordering::Relaxed);
        if let Some(t) = newest {
            let mut h = self.running.stats.health.lock().unwrap_or_else(|e| e.into_inner());
            h.newest_item_ms = h.newest_item_ms.max(Some(t));
        }
        if cursor.is_some() {
            self.cursor = cursor;
        }
        Ok(Submitted { accepted: receipt.accepted, duplicates: receipt.duplicates, rejected })
    }

    /// An HTTP GET with the source's User-Agent, `headers`, and the response cap: the
    /// status, headers and body of a 2xx or 304 answer.
    ///
    /// # Errors
    /// Network errors, error statuses (with `Retry-After`), a body over `max_response_bytes`.
    pub async fn get(
        &self,
        url: &str,
        headers: &[(&str, &str)],
    ) -> Result<(u16, reqwest::header::HeaderMap, Vec<u8>), SourceError> {
        let mut req = self.http.get(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.send(req).await
    }

    /// Sends `req` (built on [`Ctx::http`]) like [`Ctx::get`] does.
    ///
    /// # Errors
    /// As [`Ctx::get`].
    pub async fn send(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<(u16, reqwest::header::HeaderMap, Vec<u8>), SourceError> {
        let resp = tokio::select! {
            r = req.send() => r.map_err(|e| SourceError::Network(without_url(e)))?,
            () = self.shutdown.cancelled() => return Err(SourceError::Stopping),
        };
        let status = resp.status().as_u16();
        let head = resp.headers().clone();
        let body = self.read_capped(resp).await?;
        if !(200..300).contains(&status) && status != 304 {
            return Err(SourceError::Http {
                status,
                retry_after: head.get("retry-after").and_then(|v| parse_retry_after(v.to_str().ok()?, wall_ms())),
                message: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
            });
        }
        Ok((status, head, body))
    }

    /// Reads a response body up to `max_response_bytes`.
    ///
    /// # Errors
    /// A larger body, or the connection failing.
    pub async fn read_capped(&self, mut resp: reqwest::Response) -> Result<Vec<u8>, SourceError> {
        let cap = self.spec.max_response_bytes;
        let mut body = Vec::new();
        loop {
            let chunk = tokio::select! {
                c = resp.chunk() => c.map_err(|e| SourceError::Network(without_url(e)))?,
                () = self.shutdown.cancelled() => return Err(SourceError::Stopping),
            };
            let Some(chunk) = chunk else { return Ok(body) };
            if body.len() + chunk.len() > cap {
                return Err(SourceError::Protocol(format!("response larger than max_response_bytes ({cap})")));
            }
            body.extend_from_slice(&chunk);
        }
    }

    /// Records a success: the source is healthy; clears a raised ops notice.
    pub fn succeeded(&mut self) {
        self.attempt = 0;
        let now = wall_ms();
        let recovered = {
            let mut h = self.running.stats.health.lock().unwrap_or_else(|e| e.into_inner());
            h.last_success_ms = Some(now);
            h.connected = true;
            let was = h.failing_since_ms.take().filter(|_| h.noticed);
            h.noticed = false;
            was
        };
        if let Some(since) = recovered {
            let secs = (now - since) / 1000;
            tracing::info!(source = %self.spec.name, down_s = secs, "source works again");
            self.ops_notice(&format!("source `{}` works again after {secs} s of failures", self.spec.name), now);
        }
    }

    /// Records a failure, raises the ops notice when the source has failed for longer than
    /// `alert_after`, and waits before the next attempt: exponential backoff from 1 s to
    /// 5 min with full jitter, at least what the server asked (`Retry-After`).
    ///
    /// # Errors
    /// `Stopping` when the service stops during the wait.
    pub async fn failed(&mut self, err: &SourceError) -> Result<(), SourceError> {
        if matches!(err, SourceError::Stopping) || self.shutdown.is_cancelled() {
            return Err(SourceError::Stopping);
        }
        self.attempt = self.attempt.saturating_add(1);
        self.running.stats.errors.fetch_add(1, Ordering::Relaxed);
        let now = wall_ms();
        let notice = {
            let mut h = self.running.stats.health.lock().unwrap_or_else(|e| e.into_inner());
            h.last_error = Some(err.to_string());
            h.connected = false;
            let since = *h.failing_since_ms.get_or_insert(now);
            let due = !h.noticed && now - since >= self.spec.alert_after.as_millis() as i64;
            h.noticed |= due;
            due.then_some(since)
        };
        let wait = backoff(self.attempt, err.retry_after(), jitter(&self.spec.name, self.attempt));
        tracing::warn!(source = %self.spec.name, attempt = self.attempt, error = %err, retry_in_ms = wait.as_millis() as u64, "source failed");
        if let Some(since) = notice {
            self.ops_notice(
                &format!(
                    "source `{}` ({}) has failed for {} s: {err}; no mentions arrive from it",
                    self.spec.name,
                    self.spec.kind.name(),
                    (now - since) / 1000
                ),
                now,
            );
        }
        self.sleep(wait).await
    }

    /// Sleeps, unless the service stops first.
    ///
    /// # Errors
    /// `Stopping` when it does.
    pub async fn sleep(&self, d: Duration) -> Result<(), SourceError> {
        tokio::select! {
            () = tokio::time::sleep(d) => Ok(()),
            () = self.shutdown.cancelled() => Err(SourceError::Stopping),
        }
    }

    fn ops_notice(&self, problem: &str, now: Millis) {
        let receivers: Vec<String> = self.shared.notify.get().receivers.iter().map(|r| r.name().to_string()).collect();
        if receivers.is_empty() {
            return;
        }
        let body = serde_json::json!({
            "schema": "crisiswatch.ops.v1",
            "kind": "ops",
            "problem": problem,
            "source": self.spec.name,
        })
        .to_string();
        let (db, wake) = (self.shared.db_path.clone(), self.shared.notify_wake.clone());
        let brand = self.spec.brand.clone().unwrap_or_default();
        tokio::task::spawn_blocking(move || {
            let names: Vec<&str> = receivers.iter().map(String::as_str).collect();
            let res = crate::store::open(&db, false)
                .and_then(|c| crate::store::outbox::enqueue_ops(&c, &names, &brand, &body, now));
            match res {
                Ok(()) => wake.notify_one(),
                Err(e) => tracing::error!(error = %e, "cannot queue a source's ops notice"),
            }
        });
    }
}

/// Runs a polling source until the service stops: `poll` once, then (after a success)
/// `pause` (`None`: at once, for long polls), or after a failure the backoff of
/// [`Ctx::failed`].
pub async fn poll_loop(
    mut ctx: Ctx,
    pause: Option<Duration>,
    mut poll: impl AsyncFnMut(&mut Ctx) -> Result<(), SourceError>,
) {
    loop {
        let next = match poll(&mut ctx).await {
            Ok(()) => {
                ctx.succeeded();
                match pause {
                    Some(d) => ctx.sleep(d).await,
                    None => Ok(()),
                }
            }
            Err(e) => ctx.failed(&e).await,
        };
        if next.is_err() {
            return;
        }
    }
}

/// The mention line of `item` from source `spec` (no newline).
pub(crate) fn mention_line(item: &Item, spec: &SourceSpec) -> Vec<u8> {
    #[derive(Serialize)]
    struct Line<'a> {
        #[serde(flatten)]
        item: &'a Item,
        source: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        brand: Option<&'a str>,
    }
    serde_json::to_vec(&Line { item, source: &spec.name, brand: spec.brand.as_deref() }).unwrap_or_default()
}

/// An error's message without the URL (it may carry a token in its path or query).
fn without_url(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

/// `Retry-After`: seconds or an HTTP date, as a wait from `now` (the notifier's reading,
/// [`crate::notify::channel::retry_after`]), at most an hour.
pub fn parse_retry_after(v: &str, now: Millis) -> Option<Duration> {
    crate::notify::channel::retry_after(v, now).map(|d| d.min(Duration::from_secs(3600)))
}

/// The wait before attempt `attempt + 1`: the notifier's [`crate::notify::Backoff`] from 1 s
/// doubling to 5 min with jitter, never less than what the server asked. `unit` is uniform
/// in [0, 1).
pub fn backoff(attempt: u32, asked: Option<Duration>, unit: f64) -> Duration {
    crate::notify::Backoff { base: Duration::from_secs(1), max: Duration::from_secs(300) }.delay(attempt, asked, unit)
}

fn jitter(name: &str, attempt: u32) -> f64 {
    let seed = format!("{name}:{attempt}:{:?}", std::time::SystemTime::now());
    (crate::hash::fnv1a(seed.as_bytes()) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::config::sources::SourceKind;

    #[test]
    fn backoff_grows_with_jitter_and_honours_retry_after() {
        assert!(backoff(1, None, 0.0) >= Duration::from_millis(500));
        assert!(backoff(1, None, 0.999) <= Duration::from_secs(1));
        assert!(backoff(4, None, 0.0) >= Duration::from_secs(4));
        assert!(backoff(40, None, 0.999) <= Duration::from_secs(300));
        assert_eq!(backoff(1, Some(Duration::from_secs(60)), 0.5), Duration::from_secs(60));
        assert_eq!(parse_retry_after("120", 0), Some(Duration::from_secs(120)));
        let now = crate::time::parse_timestamp("2026-01-01T00:00:00Z").unwrap();
        assert_eq!(parse_retry_after("Thu, 01 Jan 2026 00:00:30 GMT", now), Some(Duration::from_secs(30)));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn an_item_becomes_a_mention_line_with_its_source() {
        let spec = SourceSpec {
            name: "news".into(),
            kind: SourceKind::Rss,
            url: "http://x/".into(),
            interval: Duration::from_secs(60),
            brand: Some("acme".into()),
            tag: None,
            local: false,
            max_item_bytes: 1000,
            max_response_bytes: 1000,
            alert_after: Duration::from_secs(60),
            token: None,
        };
        let it = Item {
            id: "https://x/1".into(),
            ts: crate::time::parse_timestamp("2026-01-01T10:00:00Z").unwrap(),
            text: "Acme \"down\"".into(),
            url: Some("https://x/1".into()),
            ..Item::default()
        };
        let line = mention_line(&it, &spec);
        let m = crate::ingest::parse_line(&line, 10_000).unwrap();
        assert_eq!(m.raw.id, "https://x/1");
        assert_eq!(m.raw.text, "Acme \"down\"");
        assert_eq!(m.raw.source.as_deref(), Some("news"));
        assert_eq!(m.raw.brand.as_deref(), Some("acme"));
        assert_eq!(m.raw.url.as_deref(), Some("https://x/1"));
    }
}
