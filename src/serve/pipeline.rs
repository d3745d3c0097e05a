//! The service's two worker threads and its recovery.
//!
//! * The **sequencer** owns the ingest log and the de-duplication memory. It takes validated
//!   batches from the HTTP handlers, drops ids it has seen, appends the rest (plus a clock tick
//!   each wall-clock minute, and manual resolutions) to the log, fsyncs once per group of
//!   requests, and only then answers the handlers, which answer `202`. Then it hands the same
//!   bytes to the engine.
//! * The **engine thread** owns the [`Engine`]: it applies records in log order, stores the
//!   alert events, answers status and series queries, and snapshots the engine together with
//!   the log position it covers, deleting the log segments the snapshot makes unnecessary.
//!
//! Memory is bounded by a semaphore of `max_queued_mentions` permits taken by the handler for
//! every valid item and released when the engine has processed it: when none are left the
//! handler answers `503` with `Retry-After` instead of queueing.
//!
//! Recovery replays the log from the snapshot's position. Because ticks and resolutions are
//! in the log too, the replay is deterministic: it produces the very events already stored,
//! which the store recognises and ignores, so an incident is never duplicated by a restart.

use crate::engine::snapshot;
use crate::engine::{BrandStatus, Engine, SeriesPoint};
use crate::ingest::parse_line;
use crate::metrics::Metrics;
use crate::serve::config::{ClockMode, ServeConfig};
use crate::serve::error::IngestError;
use crate::serve::ingest::{Decoded, Rejected};
use crate::serve::log::{self, Dedup, IngestLog, LogPos};
use crate::store;
use crate::time::{minute_of, Millis};
use rusqlite::Connection;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

/// State shared by the HTTP handlers and the worker threads.
pub struct Shared {
    /// The configuration.
    pub cfg: ServeConfig,
    /// Metrics.
    pub metrics: Metrics,
    /// Permits for queued mentions.
    pub queue: Arc<Semaphore>,
    /// The engine's clock (event time), for the future-timestamp check in event mode.
    pub engine_now: AtomicI64,
    /// Mentions the engine has processed since its state began (snapshots carry it over).
    pub engine_mentions: AtomicU64,
    /// False once the ingest log cannot be written: ingest answers 503, `/readyz` fails.
    pub log_ok: AtomicBool,
    /// Wakes the notifier when alert events were stored.
    pub notify_wake: Arc<tokio::sync::Notify>,
    /// Set at shutdown: the notifier finishes its current delivery and stops.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// The ingest log directory.
    pub log_dir: PathBuf,
    /// The SQLite file.
    pub db_path: PathBuf,
}

use crate::clock::wall_ms;

/// What the sequencer did with one batch.
#[derive(Debug, Clone, Copy, Default)]
pub struct Receipt {
    /// New mentions, now durable.
    pub accepted: usize,
    /// Mentions whose id was already accepted.
    pub duplicates: usize,
}

/// Work for the sequencer.
pub enum WriterMsg {
    /// A validated request body.
    Batch {
        /// The valid items.
        decoded: Decoded,
        /// The rejected items, for the dead letters.
        rejected: Vec<Rejected>,
        /// Name of the client's token.
        token: String,
        /// Queue permits for the valid items.
        permit: Option<OwnedSemaphorePermit>,
        /// Where the receipt goes once the batch is durable.
        reply: oneshot::Sender<Result<Receipt, IngestError>>,
    },
    /// A person resolved incident `id`.
    Resolve {
        /// Incident id.
        id: String,
        /// Answered once it is in the log.
        reply: oneshot::Sender<Result<(), IngestError>>,
    },
    /// Drain and stop.
    Shutdown,
}

/// Work for the engine thread.
pub enum EngineMsg {
    /// Durable records, in log order.
    Records {
        /// The records.
        data: Vec<u8>,
        /// Log position after them.
        end: LogPos,
        /// Released once processed.
        permits: Vec<OwnedSemaphorePermit>,
        /// When they became durable.
        durable_at: Instant,
    },
    /// `GET /v1/brands`.
    Status(oneshot::Sender<Vec<BrandStatus>>),
    /// The dashboard's brands page: every brand's status with its series of the last
    /// `minutes` minutes.
    Overview(i64, oneshot::Sender<Vec<(BrandStatus, Vec<SeriesPoint>)>>),
    /// `GET /v1/brands/{id}/series`.
    Series(String, i64, oneshot::Sender<Option<Vec<SeriesPoint>>>),
    /// The same, answered on a blocking channel (the notifier's charts).
    SeriesBlocking(String, i64, std::sync::mpsc::Sender<Option<Vec<SeriesPoint>>>),
    /// Snapshot and stop.
    Shutdown,
}

/// Applies one log record to the engine.
fn apply(engine: &mut Engine, rec: &[u8]) {
    let rec = rec.strip_suffix(b"\n").unwrap_or(rec);
    if let Some(t) = rec.strip_prefix(b"#t ") {
        if let Some(ms) = std::str::from_utf8(t).ok().and_then(|s| s.parse::<Millis>().ok()) {
            engine.advance_to(ms);
        }
    } else if let Some(id) = rec.strip_prefix(b"#r ") {
        engine.resolve_incident(&String::from_utf8_lossy(id));
    } else {
        // validated on acceptance (with the limits of that time): no cap here
        match parse_line(rec, usize::MAX) {
            Ok(m) => engine.process(&m),
            Err(e) => tracing::error!(reason = %e, "unreadable record in the ingest log (skipped)"),
        }
    }
}

fn id_hash(rec: &[u8]) -> Option<u64> {
    if rec.first() == Some(&b'#') {
        return None;
    }
    let rec = rec.strip_suffix(b"\n").unwrap_or(rec);
    parse_line(rec, usize::MAX).ok().map(|m| crate::hash::fnv1a(m.raw.id.as_bytes()))
}

/// What recovery found.
pub struct Recovered {
    /// The engine, at the end of the log.
    pub engine: Engine,
    /// The log, opened on a new segment.
    pub log: IngestLog,
    /// The dedup memory.
    pub dedup: Dedup,
    /// The end of the log (what the engine has seen).
    pub end: LogPos,
    /// Records replayed.
    pub replayed: u64,
}

/// Restores the last snapshot and replays the log after it.
///
/// # Errors
/// I/O and SQLite errors.
pub fn recover(shared: &Shared, mut engine: Engine, store: &mut Connection) -> anyhow::Result<Recovered> {
    let cfg = &shared.cfg;
    let segs = log::segments(&shared.log_dir)?;
    let first = segs.first().copied().unwrap_or(0);
    let mut from = LogPos { segment: first, offset: 0 };
    if let Some((bytes, pos)) = store::load_snapshot(store)? {
        match snapshot::decode(&bytes) {
            Ok(s) => {
                let r = engine.restore(s);
                tracing::info!(
                    brands = r.brands,
                    scopes = r.scopes,
                    open = r.open_incidents,
                    dropped = r.dropped,
                    segment = pos.segment,
                    offset = pos.offset,
                    "restored the engine snapshot"
                );
                from = pos;
            }
            Err(e) => tracing::warn!("{e}; rebuilding the engine from the ingest log instead"),
        }
    }
    let window_ms = cfg.dedup_window.as_millis() as i64;
    let mut dedup = log::read_dedup(&shared.log_dir, from.segment, cfg.dedup_ids as usize, window_ms)?;
    let now = wall_ms();
    let mut replayed = 0u64;
    let end = log::read_from(&shared.log_dir, from, |rec, _pos, replay| {
        if let Some(h) = id_hash(rec) {
            dedup.insert(h, now);
        }
        if replay {
            apply(&mut engine, rec);
            replayed += 1;
            if engine.events.len() >= 1000 {
                store::record_events(store, &engine.events)?;
                engine.events.clear();
            }
        }
        Ok(())
    })?;
    store::record_events(store, &engine.events)?;
    engine.events.clear();
    let next = segs.last().map_or(1, |s| s + 1);
    let log = IngestLog::create(&shared.log_dir, next, cfg.segment_size, cfg.fsync, &dedup)?;
    if let Some(t) = engine.now() {
        shared.engine_now.store(t, Ordering::Relaxed);
    }
    shared.engine_mentions.store(engine.stats.mentions, Ordering::Relaxed);
    Ok(Recovered { engine, log, dedup, end, replayed })
}

/// The sequencer's loop; returns when told to shut down (after forwarding the shutdown).
pub fn run_sequencer(
    shared: Arc<Shared>,
    rx: Receiver<WriterMsg>,
    engine_tx: Sender<EngineMsg>,
    mut log: IngestLog,
    mut dedup: Dedup,
    mut store: Connection,
) {
    let mut last_tick_min = i64::MIN;
    let mut segment_started = Instant::now();
    let mut msgs = Vec::new();
    loop {
        msgs.clear();
        match rx.recv_timeout(Duration::from_millis(250)) {
            Ok(m) => msgs.push(m),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => msgs.push(WriterMsg::Shutdown),
        }
        // group commit: everything already waiting shares one fsync
        while msgs.len() < 512 {
            match rx.try_recv() {
                Ok(m) => msgs.push(m),
                Err(_) => break,
            }
        }
        let now = wall_ms();
        let mut out = Vec::new();
        if shared.cfg.clock == ClockMode::Wall && minute_of(now) > last_tick_min {
            last_tick_min = minute_of(now);
            out.extend_from_slice(format!("#t {now}\n").as_bytes());
        }
        let mut batch_replies = Vec::new();
        let mut resolve_replies = Vec::new();
        let mut permits = Vec::new();
        let mut shutdown = false;
        for m in msgs.drain(..) {
            match m {
                WriterMsg::Batch { decoded, rejected, token, permit, reply } => {
                    let mut r = Receipt::default();
                    let mut start = 0usize;
                    for &(end, id) in &decoded.index {
                        let rec = &decoded.records[start..end as usize];
                        start = end as usize;
                        if dedup.insert(id, now) {
                            out.extend_from_slice(rec);
                            r.accepted += 1;
                        } else {
                            r.duplicates += 1;
                        }
                    }
                    let dead: Vec<(usize, String, Vec<u8>)> =
                        rejected.into_iter().map(|x| (x.line, x.reason, x.raw)).collect();
                    if let Err(e) = store::record_dead_letters(&mut store, &token, &dead, now) {
                        // the client is told: its rejected lines are not stored
                        let _ = reply.send(Err(IngestError::DeadLetters(e)));
                        continue;
                    }
                    permits.extend(permit);
                    batch_replies.push((reply, r));
                }
                WriterMsg::Resolve { id, reply } => {
                    out.extend_from_slice(format!("#r {id}\n").as_bytes());
                    resolve_replies.push(reply);
                }
                WriterMsg::Shutdown => shutdown = true,
            }
        }
        if !out.is_empty() {
            let t = Instant::now();
            let res = log.append(&out).and_then(|pos| log.sync().map(|()| pos));
            shared.metrics.durable.record(t.elapsed());
            match res {
                Ok(end) => {
                    for (reply, r) in batch_replies {
                        shared.metrics.accepted.fetch_add(r.accepted as u64, Ordering::Relaxed);
                        shared.metrics.duplicates.fetch_add(r.duplicates as u64, Ordering::Relaxed);
                        let _ = reply.send(Ok(r));
                    }
                    for reply in resolve_replies {
                        let _ = reply.send(Ok(()));
                    }
                    let msg = EngineMsg::Records { data: out, end, permits, durable_at: Instant::now() };
                    if engine_tx.send(msg).is_err() {
                        tracing::error!("engine thread is gone; stopping the sequencer");
                        return;
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot write the ingest log; refusing ingest from now on");
                    shared.log_ok.store(false, Ordering::Relaxed);
                    for (reply, _) in batch_replies {
                        let _ = reply.send(Err(IngestError::Log(std::io::Error::new(e.kind(), e.to_string()))));
                    }
                    for reply in resolve_replies {
                        let _ = reply.send(Err(IngestError::Log(std::io::Error::new(e.kind(), e.to_string()))));
                    }
                }
            }
        } else {
            for (reply, r) in batch_replies {
                shared.metrics.duplicates.fetch_add(r.duplicates as u64, Ordering::Relaxed);
                let _ = reply.send(Ok(r));
            }
        }
        // a new segment when full, or hourly, so that snapshots can release old ones
        let hourly = segment_started.elapsed() >= Duration::from_secs(3600);
        match log.maybe_rotate(hourly, &dedup) {
            Ok(true) => segment_started = Instant::now(),
            Ok(false) => {}
            Err(e) => {
                tracing::error!(error = %e, "cannot start a new ingest log segment; refusing ingest from now on");
                shared.log_ok.store(false, Ordering::Relaxed);
            }
        }
        if shutdown {
            let _ = engine_tx.send(EngineMsg::Shutdown);
            return;
        }
    }
}

/// A snapshot on its way to the store.
pub struct SnapshotJob {
    /// Encoded engine state.
    pub bytes: Vec<u8>,
    /// The log position it covers.
    pub pos: LogPos,
    /// When the engine started taking it.
    pub started: Instant,
}

/// Encodes the engine's state (on the engine thread: it must not change meanwhile).
fn encode_snapshot(engine: &Engine, pos: LogPos) -> Option<SnapshotJob> {
    let started = Instant::now();
    match snapshot::encode(&engine.snapshot()) {
        Ok(bytes) => Some(SnapshotJob { bytes, pos, started }),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode the engine snapshot");
            None
        }
    }
}

/// The snapshot writer's loop: stores snapshots and releases the log segments they cover,
/// off the engine thread (an SQLite checkpoint or deleting a 256 MiB segment can take a few
/// hundred milliseconds under load). Returns when the engine thread hangs up.
pub fn run_snapshot_writer(shared: Arc<Shared>, rx: Receiver<SnapshotJob>, store: Connection) {
    while let Ok(mut job) = rx.recv() {
        while let Ok(newer) = rx.try_recv() {
            job = newer; // only the newest matters
        }
        if let Err(e) = store::save_snapshot(&store, &job.bytes, job.pos, wall_ms()) {
            tracing::error!(error = %e, "cannot store the engine snapshot (the ingest log is kept)");
            continue;
        }
        match log::remove_before(&shared.log_dir, job.pos) {
            Ok(n) if n > 0 => tracing::debug!(segments = n, "released ingest log segments"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot delete old ingest log segments"),
        }
        shared.metrics.snapshot.record(job.started.elapsed());
        shared.metrics.snapshots.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(bytes = job.bytes.len(), segment = job.pos.segment, offset = job.pos.offset, "snapshot stored");
    }
}

/// The engine thread's loop; returns after handing over the final snapshot.
pub fn run_engine(
    shared: Arc<Shared>,
    rx: Receiver<EngineMsg>,
    mut engine: Engine,
    mut store: Connection,
    mut pos: LogPos,
    snapshots: Sender<SnapshotJob>,
) {
    let mut last_snapshot = Instant::now();
    let mut dirty = false;
    loop {
        match rx.recv_timeout(Duration::from_millis(500)) {
            Ok(EngineMsg::Records { data, end, permits, durable_at }) => {
                shared.metrics.queue_wait.record(durable_at.elapsed());
                let t = Instant::now();
                let mut n = 0u64;
                for rec in data.split_inclusive(|&b| b == b'\n') {
                    apply(&mut engine, rec);
                    n += u64::from(rec.first() != Some(&b'#'));
                }
                if !engine.events.is_empty() {
                    match store::record_events(&mut store, &engine.events) {
                        Ok(k) => {
                            shared.metrics.events.fetch_add(k as u64, Ordering::Relaxed);
                            shared.notify_wake.notify_one();
                            for e in &engine.events {
                                tracing::info!(incident = %e.id, status = e.status.as_str(),
                                    severity = e.severity.as_str(), brand = %e.brand, rule = %e.rule, "alert");
                            }
                        }
                        // they are rebuilt from the log on the next start
                        Err(e) => tracing::error!(error = %e, "cannot store alert events"),
                    }
                    engine.events.clear();
                }
                pos = end;
                dirty = true;
                if let Some(t) = engine.now() {
                    shared.engine_now.store(t, Ordering::Relaxed);
                }
                shared.metrics.engine.record(t.elapsed());
                shared.metrics.processed.fetch_add(n, Ordering::Relaxed);
                shared.engine_mentions.store(engine.stats.mentions, Ordering::Relaxed);
                if !shared.cfg.engine_batch_delay.is_zero() {
                    std::thread::sleep(shared.cfg.engine_batch_delay); // a slow engine, for tests
                }
                drop(permits);
            }
            Ok(EngineMsg::Status(reply)) => {
                let _ = reply.send(engine.brand_status(false));
            }
            Ok(EngineMsg::Overview(minutes, reply)) => {
                let all = engine
                    .brand_status(false)
                    .into_iter()
                    .map(|b| {
                        let points = engine.series(&b.id, minutes).unwrap_or_default();
                        (b, points)
                    })
                    .collect();
                let _ = reply.send(all);
            }
            Ok(EngineMsg::Series(id, minutes, reply)) => {
                let _ = reply.send(engine.series(&id, minutes));
            }
            Ok(EngineMsg::SeriesBlocking(id, minutes, reply)) => {
                let _ = reply.send(engine.series(&id, minutes));
            }
            Ok(EngineMsg::Shutdown) | Err(RecvTimeoutError::Disconnected) => {
                if let Some(job) = encode_snapshot(&engine, pos) {
                    let _ = snapshots.send(job);
                }
                return; // the writer stores it, then sees the hang-up
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
        if dirty && last_snapshot.elapsed() >= shared.cfg.snapshot_interval {
            if let Some(job) = encode_snapshot(&engine, pos) {
                let _ = snapshots.send(job);
            }
            last_snapshot = Instant::now();
            dirty = false;
        }
    }
}

/// The notifier thread: plans and delivers notifications from the store until shutdown
/// (pending ones stay in the outbox for the next start).
pub fn run_notifier(
    shared: Arc<Shared>,
    mut store: Connection,
    rt: tokio::runtime::Runtime,
    notifiers: Vec<Box<dyn crate::notify::Notifier>>,
    engine: Sender<EngineMsg>,
) {
    // the chart of an alert: the brand's last 24 h from the engine, its window shaded
    let charts = move |lead: &serde_json::Value| -> Option<Vec<u8>> {
        let brand = lead["brand"].as_str()?.to_string();
        let (tx, rx) = std::sync::mpsc::channel();
        engine.send(EngineMsg::SeriesBlocking(brand, 1440, tx)).ok()?;
        let points = rx.recv_timeout(Duration::from_secs(5)).ok()??;
        let minute = |k: &str| lead[k].as_str().and_then(|t| crate::time::parse_timestamp(t).ok()).map(minute_of);
        let marked = minute("window_start").zip(minute("window_end").map(|m| m - 1));
        let name = lead["brand_name"].as_str().unwrap_or(lead["brand"].as_str().unwrap_or(""));
        match crate::notify::channel::chart::render(&points, marked, &format!("{name}: mentions per minute, last 24 h"))
        {
            Ok(png) => Some(png),
            Err(e) => {
                tracing::warn!(error = %e, "no chart for this alert");
                None
            }
        }
    };
    let n = shared.cfg.notify.clone();
    let backoff = crate::notify::Backoff { base: n.retry_base, max: n.retry_max };
    rt.block_on(async {
        // button presses in Telegram act on incidents
        let poller = n
            .telegram
            .as_ref()
            .filter(|_| n.receivers.iter().any(|r| matches!(r, crate::notify::config::Receiver::Telegram { .. })))
            .and_then(|t| {
                let bot =
                    crate::notify::channel::telegram::bot(&String::from_utf8_lossy(&t.token.0), t.api_url.as_deref())
                        .ok()?;
                let conn = match store::open(&shared.db_path, true) {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::error!(error = %e, "Telegram callbacks: cannot open the store");
                        return None;
                    }
                };
                let actions = Box::new(crate::serve::actions::StoreActions(conn));
                Some(tokio::spawn(crate::notify::channel::telegram::poll_callbacks(
                    bot,
                    actions,
                    shared.shutdown.clone(),
                )))
            });
        while !shared.shutdown.is_cancelled() {
            let now = wall_ms();
            if let Err(e) = crate::notify::plan(&mut store, &n, now, Some(&charts)) {
                tracing::error!(error = %e, "notification planning failed");
            }
            match crate::notify::deliver_due(&mut store, &n, &notifiers, backoff, now, Some(&shared.metrics.notify))
                .await
            {
                Ok((ok, failed)) if ok + failed > 0 => tracing::debug!(ok, failed, "deliveries"),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "notification delivery failed"),
            }
            // ticks: on new events, else every 200 ms (retries and ladder steps come due)
            tokio::select! {
                _ = tokio::time::timeout(Duration::from_millis(200), shared.notify_wake.notified()) => {}
                () = shared.shutdown.cancelled() => {}
            }
        }
        if let Some(p) = poller {
            let _ = tokio::time::timeout(Duration::from_secs(3), p).await;
        }
        // the SMTP connection pool needs the runtime when it is dropped
        drop(notifiers);
    });
}
