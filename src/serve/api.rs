//! The HTTP API (axum): ingest, alerts, brands, health, metrics and the OpenAPI document.
//! Handlers validate and authenticate; the durable work happens in the sequencer and the
//! engine thread (see `pipeline`), reached over channels.

// Helpers return the HTTP answer itself as their error: built once per request, not worth boxing.
#![allow(clippy::result_large_err)]

use crate::clock::wall_ms;
use crate::metrics::Gauges;
use crate::serve::auth::{self, Auth, Identity, Scope};
use crate::serve::error::ApiError;
use crate::serve::ingest::{self, BodyError, Framing, Limits};
use crate::serve::pipeline::{EngineMsg, Shared, WriterMsg};
use crate::store;
use crate::time::{parse_timestamp, MINUTE_MS};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRef, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rusqlite::Connection;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::oneshot;

/// Everything a handler needs.
#[derive(Clone)]
pub struct App {
    /// Shared state.
    pub shared: Arc<Shared>,
    /// To the sequencer.
    pub writer: Sender<WriterMsg>,
    /// To the engine thread.
    pub engine: Sender<EngineMsg>,
    /// The API's own store connection (reads, acknowledgements).
    pub db: Arc<Mutex<Connection>>,
    /// Token buckets per token name: (available mentions, last refill).
    pub rate: Arc<Mutex<HashMap<String, (f64, Instant)>>>,
    /// Cancelled when the service begins to stop: long-lived responses (the dashboard's
    /// server-sent events) end, so the graceful shutdown does not wait for them.
    pub stopping: tokio_util::sync::CancellationToken,
    /// Credentials and login sessions.
    pub auth: Arc<Auth>,
    /// The signed action links.
    pub links: Arc<crate::serve::links::Links>,
    /// The Slack receivers that take button presses.
    pub slack: Arc<crate::serve::slack::SlackHooks>,
    /// The decoded-bytes budget of requests in flight, in KiB (see [`budget_units`]).
    pub decoded: Arc<tokio::sync::Semaphore>,
    /// The built-in sources, for `GET /v1/sources` and the metrics.
    pub sources: Arc<Vec<Arc<crate::serve::sources::Running>>>,
    /// `POST /v1/reload`.
    pub reloader: Arc<crate::serve::reload::Reloader>,
}

impl FromRef<App> for Arc<Auth> {
    fn from_ref(app: &App) -> Self {
        app.auth.clone()
    }
}

impl FromRef<App> for Arc<crate::serve::links::Links> {
    fn from_ref(app: &App) -> Self {
        app.links.clone()
    }
}

impl FromRef<App> for Arc<crate::serve::slack::SlackHooks> {
    fn from_ref(app: &App) -> Self {
        app.slack.clone()
    }
}

/// The router.
pub fn router(app: App) -> Router {
    let max_body = app.shared.cfg.max_body;
    Router::new()
        .route("/v1/mentions", post(ingest_mentions))
        .route("/v1/alerts", get(list_alerts))
        .route("/v1/alerts/{id}", get(get_alert))
        .route("/v1/alerts/{id}/ack", post(ack_alert))
        .route("/v1/alerts/{id}/resolve", post(resolve_alert))
        .route("/v1/brands", get(list_brands))
        .route("/v1/sources", get(list_sources))
        .route("/v1/reload", post(reload))
        .route("/v1/brands/{id}/series", get(brand_series))
        .route("/v1/openapi.json", get(openapi))
        .route("/v1/cluster", get(cluster_status))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(crate::serve::login::routes())
        .merge(crate::serve::links::routes())
        .merge(crate::serve::slack::routes())
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(app)
}

/// The identity of the request if it has `scope` (see [`auth`]); `bearer_only` for the
/// routes that change state. Refusals are counted.
pub(crate) fn authenticate(
    app: &App,
    headers: &HeaderMap,
    scope: Scope,
    bearer_only: bool,
) -> Result<Identity, Response> {
    let r = if bearer_only {
        auth::require_bearer(&app.auth, headers, scope)
    } else {
        auth::require(&app.auth, headers, scope)
    };
    if let Err(resp) = &r {
        if resp.status() == StatusCode::UNAUTHORIZED {
            app.shared.metrics.unauthorized.fetch_add(1, Ordering::Relaxed);
        }
    }
    r
}

/// Units of the decoded-bytes semaphore (KiB, so that the budget fits its `u32` permits).
pub fn budget_units(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX)
}

/// Decoded bytes a request holds, given back (with the gauge) when it ends.
struct InFlight {
    bytes: u64,
    metrics: Arc<Shared>,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.metrics.metrics.decoded_in_flight.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// Takes `n` mentions from the token's bucket; the seconds to wait when it cannot.
fn rate_limit(app: &App, token: &str, n: usize) -> Result<(), u64> {
    let cfg = &app.shared.cfg;
    if cfg.rate_per_token == 0 || n == 0 {
        return Ok(());
    }
    let (rate, burst) = (f64::from(cfg.rate_per_token), f64::from(cfg.burst_per_token.max(1)));
    let mut buckets = app.rate.lock().unwrap_or_else(|e| e.into_inner());
    let now = Instant::now();
    let b = buckets.entry(token.to_string()).or_insert((burst, now));
    b.0 = (b.0 + now.duration_since(b.1).as_secs_f64() * rate).min(burst);
    b.1 = now;
    if b.0 >= n as f64 {
        b.0 -= n as f64;
        Ok(())
    } else {
        Err(((n as f64 - b.0) / rate).ceil().max(1.0) as u64)
    }
}

async fn ingest_mentions(State(app): State<App>, headers: HeaderMap, body: axum::body::Body) -> Response {
    let started = Instant::now();
    let token = match authenticate(&app, &headers, Scope::Ingest, true) {
        Ok(i) => i.name,
        Err(r) => return r,
    };
    let shared = app.shared.clone();
    if !shared.log_ok.load(Ordering::Relaxed) {
        return ApiError::Unavailable(30, "the ingest log cannot be written; see the logs".into()).into_response();
    }
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let Some(framing) = Framing::from_content_type(ct) else {
        return ApiError::UnsupportedMediaType(format!(
            "unsupported Content-Type `{}`: use application/x-ndjson or application/json",
            ct.unwrap_or("")
        ))
        .into_response();
    };
    let gzip = match headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()) {
        None | Some("identity") => false,
        Some(e) if e.eq_ignore_ascii_case("gzip") => true,
        Some(e) => {
            return ApiError::UnsupportedMediaType(format!("unsupported Content-Encoding `{e}`")).into_response()
        }
    };
    // the memory budget: every request holds, while in flight, what its body may take as
    // sent, decoded and validated into a copy, so concurrent large bodies cannot exhaust memory
    let cap = shared.cfg.max_decoded_body;
    let max_body = shared.cfg.max_body;
    let sent = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        .map_or(max_body, |n| n.min(max_body));
    let want = sent.saturating_add(if gzip { cap.saturating_mul(2) } else { sent });
    let budget = match app.decoded.clone().try_acquire_many_owned(budget_units(want)) {
        Ok(p) => p,
        Err(_) => {
            shared.metrics.refused_memory.fetch_add(1, Ordering::Relaxed);
            return ApiError::Unavailable(
                1,
                "too many large request bodies in flight (max_decoded_in_flight); retry later".into(),
            )
            .into_response();
        }
    };
    shared.metrics.decoded_in_flight.fetch_add(want as u64, Ordering::Relaxed);
    let _held = InFlight { bytes: want as u64, metrics: shared.clone(), _permit: budget };
    let body = match axum::body::to_bytes(body, max_body).await {
        Ok(b) => b,
        Err(e) => {
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
            let mut too_large = false;
            while let Some(s) = source {
                too_large |= s.is::<http_body_util::LengthLimitError>();
                source = s.source();
            }
            return if too_large {
                ApiError::PayloadTooLarge(format!("body is larger than {max_body} bytes (max_body)")).into_response()
            } else {
                ApiError::BadRequest(format!("cannot read the request body: {e}")).into_response()
            };
        }
    };
    let limits = Limits { max_line: shared.cfg.max_line };
    let t = Instant::now();
    let decoded = tokio::task::spawn_blocking(move || {
        let raw = ingest::decode_body(&body, gzip, cap)?;
        ingest::validate(&raw, framing, limits)
    })
    .await;
    shared.metrics.decode.record(t.elapsed());
    let mut decoded = match decoded {
        Ok(Ok(d)) => d,
        Ok(Err(BodyError::TooLarge(n))) => {
            return ApiError::PayloadTooLarge(format!("body is larger than {n} bytes after decoding")).into_response()
        }
        Ok(Err(BodyError::Malformed(m))) => return ApiError::BadRequest(m).into_response(),
        Err(e) => return ApiError::Internal(format!("validation failed: {e}")).into_response(),
    };
    let n = decoded.index.len();
    if let Err(secs) = rate_limit(&app, &token, n) {
        shared.metrics.refused_rate.fetch_add(1, Ordering::Relaxed);
        return ApiError::RateLimited(secs).into_response();
    }
    let capacity = shared.cfg.max_queued_mentions as usize;
    // a place in the queue per mention, and per started KiB of a longer one: the queue bounds
    // the bytes waiting for the engine as well as the count
    let mut places = 0usize;
    let mut start = 0u32;
    for item in &decoded.index {
        places += ((item.end - start) as usize).div_ceil(1024).max(1);
        start = item.end;
    }
    if places > capacity {
        return ApiError::PayloadTooLarge(format!(
            "{n} mentions ({places} queue places, one per started KiB) in one request is more than the queue holds ({capacity}); split the batch"
        ))
        .into_response();
    }
    let permit = if n == 0 {
        None
    } else {
        match shared.queue.clone().try_acquire_many_owned(places as u32) {
            Ok(p) => Some(p),
            Err(_) => {
                shared.metrics.refused_busy.fetch_add(1, Ordering::Relaxed);
                return ApiError::Unavailable(1, "ingest queue is full; retry later".into()).into_response();
            }
        }
    };
    let rejected = std::mem::take(&mut decoded.rejected);
    let mut errors: Vec<(usize, String)> = rejected.iter().map(|r| (r.line, r.reason.clone())).collect();
    let (tx, rx) = oneshot::channel();
    let msg = WriterMsg::Batch { decoded, rejected, token, permit, reply: tx, cursor: None };
    if app.writer.send(msg).is_err() {
        return ApiError::shutting_down().into_response();
    }
    let receipt = match rx.await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return ApiError::from(e).into_response(),
        Err(_) => return ApiError::shutting_down().into_response(),
    };
    errors.extend(receipt.refused);
    errors.sort_by_key(|e| e.0);
    let n_rejected = errors.len();
    let errors: Vec<serde_json::Value> =
        errors.into_iter().map(|(line, reason)| json!({ "line": line, "reason": reason })).collect();
    shared.metrics.rejected.fetch_add(n_rejected as u64, Ordering::Relaxed);
    shared.metrics.ingest.record(started.elapsed());
    (
        StatusCode::ACCEPTED,
        Json(json!({
            "accepted": receipt.accepted,
            "duplicates": receipt.duplicates,
            "rejected": n_rejected,
            "errors": errors,
        })),
    )
        .into_response()
}

/// Closes incident `id` in the engine (through the sequencer, so the resolution is logged)
/// once a person's resolution is recorded in the store.
pub(crate) async fn resolve_in_engine(app: &App, id: &str) -> Result<(), ApiError> {
    let (tx, rx) = oneshot::channel();
    if app.writer.send(WriterMsg::Resolve { id: id.to_string(), reply: tx }).is_err() {
        return Err(ApiError::shutting_down());
    }
    match rx.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(ApiError::from(e)),
        Err(_) => Err(ApiError::shutting_down()),
    }
}

/// Runs a store query off the async workers.
pub(crate) async fn with_db<T: Send + 'static>(
    app: &App,
    f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
) -> Result<T, Response> {
    run_db(app, f).await.map_err(IntoResponse::into_response)
}

/// [`with_db`], failing with the typed error.
pub(crate) async fn run_db<T: Send + 'static>(
    app: &App,
    f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    let db = app.db.clone();
    tokio::task::spawn_blocking(move || {
        let mut c = db.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut c)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(ApiError::from)
}

/// A query string, or the `400` that says what is wrong with it.
fn query<T>(q: Result<Query<T>, axum::extract::rejection::QueryRejection>) -> Result<T, Response> {
    q.map(|Query(q)| q).map_err(|e| ApiError::BadRequest(e.body_text()).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertQuery {
    status: Option<String>,
    brand: Option<String>,
    since: Option<String>,
    limit: Option<usize>,
    cursor: Option<i64>,
}

async fn list_alerts(
    State(app): State<App>,
    headers: HeaderMap,
    q: Result<Query<AlertQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(r) = authenticate(&app, &headers, Scope::Read, false) {
        return r;
    }
    let q = match query(q) {
        Ok(q) => q,
        Err(r) => return r,
    };
    if let Some(s) = &q.status {
        if !["firing", "escalated", "acknowledged", "resolved", "open"].contains(&s.as_str()) {
            return ApiError::BadRequest(format!(
                "`status` must be firing, escalated, acknowledged, resolved or open, not `{s}`"
            ))
            .into_response();
        }
    }
    let since = match q.since.as_deref().map(parse_timestamp) {
        None => None,
        Some(Ok(t)) => Some(crate::time::format_rfc3339(t)),
        Some(Err(e)) => return ApiError::BadRequest(format!("`since`: {e}")).into_response(),
    };
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    match with_db(&app, move |c| {
        let (mut alerts, next) =
            store::list_incidents(c, q.status.as_deref(), q.brand.as_deref(), since.as_deref(), q.cursor, limit)?;
        store::silences::annotate(c, &mut alerts, wall_ms())?;
        Ok((alerts, next))
    })
    .await
    {
        Ok((alerts, next)) => Json(json!({ "alerts": alerts, "next_cursor": next })).into_response(),
        Err(r) => r,
    }
}

async fn get_alert(State(app): State<App>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(r) = authenticate(&app, &headers, Scope::Read, false) {
        return r;
    }
    let found = with_db(&app, move |c| {
        let mut h = store::incident_history(c, &id)?;
        if let Some(h) = &mut h {
            store::silences::annotate_history(c, h, wall_ms())?;
        }
        Ok(h)
    });
    match found.await {
        Ok(Some(v)) => Json(v).into_response(),
        Ok(None) => ApiError::NotFound("no such incident".into()).into_response(),
        Err(r) => r,
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ActionBody {
    /// Refused unless it equals the authenticated name (older clients sent it).
    who: Option<String>,
    note: Option<String>,
}

async fn act(app: App, headers: HeaderMap, id: String, body: Bytes, action: &'static str) -> Response {
    let identity = match authenticate(&app, &headers, Scope::Respond, true) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let body: ActionBody = if body.iter().all(u8::is_ascii_whitespace) {
        ActionBody::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(b) => b,
            Err(e) => return ApiError::BadRequest(format!("body: {e} (expected {{\"note\": …}})")).into_response(),
        }
    };
    // what is recorded is who authenticated; `who` may only repeat it
    let who = identity.name;
    if let Some(w) = body.who.as_deref().filter(|w| *w != who) {
        return ApiError::BadRequest(format!(
            "`who` is recorded from the credentials (`{who}`), not from the body: leave it out (got `{w}`)"
        ))
        .into_response();
    }
    let (id2, who2, note) = (id.clone(), who.clone(), body.note.clone());
    let res = with_db(&app, move |c| store::record_action(c, &id2, action, &who2, note.as_deref(), wall_ms())).await;
    match res {
        Err(r) => return r,
        Ok(Err(refused)) => return ApiError::from(refused).into_response(),
        Ok(Ok(())) => {}
    }
    if action == "resolve" {
        if let Err(e) = resolve_in_engine(&app, &id).await {
            return e.into_response();
        }
    }
    Json(json!({ "id": id, "action": action, "who": who, "note": body.note })).into_response()
}

async fn ack_alert(State(app): State<App>, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Response {
    act(app, headers, id, body, "ack").await
}

async fn resolve_alert(State(app): State<App>, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Response {
    act(app, headers, id, body, "resolve").await
}

/// `POST /v1/reload` (admin): the configuration, rules and playbooks read again, applied
/// only when all of them are valid (`422` with every error otherwise).
async fn reload(State(app): State<App>, headers: HeaderMap) -> Response {
    let who = match authenticate(&app, &headers, Scope::Admin, false) {
        Ok(i) => i,
        Err(r) => return r,
    };
    match app.reloader.reload(&who.name).await {
        Ok(summary) => Json(summary).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

async fn list_sources(State(app): State<App>, headers: HeaderMap) -> Response {
    if let Err(r) = authenticate(&app, &headers, Scope::Read, false) {
        return r;
    }
    let now = crate::clock::wall_ms();
    let list: Vec<_> = app.sources.iter().map(|s| s.view(now)).collect();
    Json(json!({ "sources": list })).into_response()
}

async fn list_brands(State(app): State<App>, headers: HeaderMap) -> Response {
    if let Err(r) = authenticate(&app, &headers, Scope::Read, false) {
        return r;
    }
    let (tx, rx) = oneshot::channel();
    if app.engine.send(EngineMsg::Status(tx)).is_err() {
        return ApiError::shutting_down().into_response();
    }
    match rx.await {
        Ok(brands) => Json(json!({ "brands": brands })).into_response(),
        Err(_) => ApiError::shutting_down().into_response(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeriesQuery {
    window: Option<String>,
}

async fn brand_series(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
    q: Result<Query<SeriesQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(r) = authenticate(&app, &headers, Scope::Read, false) {
        return r;
    }
    let q = match query(q) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let window = match crate::units::parse_duration(q.window.as_deref().unwrap_or("24h")) {
        Ok(d) if d.as_millis() >= MINUTE_MS as u128 && d.as_secs() <= 86_400 => d,
        Ok(_) => return ApiError::BadRequest("`window` must be between 1m and 24h".into()).into_response(),
        Err(e) => return ApiError::BadRequest(format!("`window`: {e}")).into_response(),
    };
    let minutes = (window.as_millis() / MINUTE_MS as u128) as i64;
    let (tx, rx) = oneshot::channel();
    if app.engine.send(EngineMsg::Series(id.clone(), minutes, tx)).is_err() {
        return ApiError::shutting_down().into_response();
    }
    match rx.await {
        Ok(Some(points)) => Json(json!({ "brand": id, "window_minutes": minutes, "points": points })).into_response(),
        Ok(None) => ApiError::NotFound(format!("no brand `{id}`")).into_response(),
        Err(_) => ApiError::shutting_down().into_response(),
    }
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], include_str!("openapi.json")).into_response()
}

/// `GET /v1/cluster`: the nodes, the partitions with their owners, progress and lag, and
/// the notifying node (cluster mode; `404` on a single node).
async fn cluster_status(State(app): State<App>, headers: HeaderMap) -> Response {
    if let Err(r) = authenticate(&app, &headers, Scope::Read, false) {
        return r;
    }
    if app.shared.cfg.cluster.is_none() {
        return ApiError::NotFound("not a cluster: this service runs as a single node".into()).into_response();
    }
    match app.shared.cluster_status.lock().expect("status lock").clone() {
        Some(s) => Json(s).into_response(),
        None => ApiError::Unavailable(2, "joining the cluster".into()).into_response(),
    }
}

async fn readyz(State(app): State<App>) -> Response {
    if app.shared.cfg.cluster.is_some() && app.shared.cluster_status.lock().expect("status lock").is_none() {
        ApiError::Unavailable(2, "joining the cluster".into()).into_response()
    } else if !app.shared.in_touch() {
        ApiError::Unavailable(2, "out of touch with the cluster".into()).into_response()
    } else if app.shared.log_ok.load(Ordering::Relaxed) {
        "ready\n".into_response()
    } else {
        ApiError::Unavailable(30, "the ingest log cannot be written".into()).into_response()
    }
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_bytes(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

async fn metrics(State(app): State<App>) -> Response {
    let shared = app.shared.clone();
    let data_dir = shared.cfg.data_dir.clone();
    let counts = with_db(&app, |c| store::counts(c)).await.unwrap_or_default();
    let store_bytes = tokio::task::spawn_blocking(move || dir_bytes(&data_dir)).await.unwrap_or(0);
    let cap = u64::from(shared.cfg.max_queued_mentions);
    let g = Gauges {
        queue_depth: cap.saturating_sub(shared.queue.available_permits() as u64),
        queue_capacity: cap,
        open_incidents: counts.open_incidents,
        dead_letters: counts.dead_letters,
        notifications_pending: counts.notifications_pending,
        notifications_dead: counts.notifications_dead,
        store_bytes,
        engine_mentions: shared.engine_mentions.load(Ordering::Relaxed),
    };
    let mut text = shared.metrics.render(g);
    crate::serve::sources::render_metrics(&app.sources, crate::clock::wall_ms(), &mut text);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}
