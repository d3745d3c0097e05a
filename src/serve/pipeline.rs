//! The service's shared state, the engine thread, snapshots, recovery and the notifier
//! thread (the sequencer, which feeds the engine, is in `sequencer`).
//!
//! * The **engine thread** owns the [`Engine`]: it applies the records the sequencer hands
//!   it (in the order `order` releases them), stores the alert events (retrying them while
//!   the store refuses writes), answers status and series queries, and snapshots the engine
//!   with the [`Cursor`] it covers; the snapshot writer deletes the log segments it makes
//!   unnecessary.
//!
//! Memory is bounded by a semaphore of `max_queued_mentions` places taken by the handler (a
//! place per mention, and per started KiB of a longer one) and released when the engine has
//! processed the group: when none are left the handler answers `503` with `Retry-After`.
//!
//! Recovery replays the log from the snapshot's cursor through the same [`Order`] as the
//! live service. Because ticks, watermark steps and resolutions are in the log too, the
//! replay is deterministic: it produces the very events already stored, which the store
//! recognises and ignores, so an incident is never duplicated by a restart.

use crate::engine::snapshot;
use crate::engine::{BrandStatus, Engine, SeriesPoint};
use crate::ingest::parse_line;
use crate::metrics::Metrics;
use crate::serve::config::{ClockMode, ServeConfig};
use crate::serve::error::IngestError;
use crate::serve::ingest::{Decoded, Rejected};
use crate::serve::log::{self, Dedup, IngestLog, LogPos};
use crate::serve::order::{self, BrandMemory, Cursor, Limits as OrderLimits, Order};
use crate::store;
use crate::time::{minute_of, Millis};
use rusqlite::Connection;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    /// The notification settings in force: `cfg.notify` at start, replaced by a reload
    /// (read them here, never from `cfg`).
    pub notify: crate::serve::live::Live<crate::notify::config::Notify>,
    /// What silences and planned events may name (brands, rules, metrics of the rules
    /// files); replaced at a reload.
    pub known: crate::serve::live::Live<crate::rules::names::Names>,
    /// Whether this node sends notifications: always on a single node; in a cluster, while
    /// it holds the `notify` lease.
    pub notify_active: AtomicBool,
    /// In a cluster, until when the `notify` lease is surely this node's: half its time to
    /// live after the last renewal was sent (the server counts from when it arrives), so
    /// that a node whose renewals stall stops notifying before another can take the lease
    /// over, even while the renewal is still waiting for its answer. `None`: no limit.
    pub notify_until: std::sync::Mutex<Option<Instant>>,
    /// The highest row id of a notification planned here that may be delivered: in a
    /// cluster, the last one shipped to the shared outbox (`serve::cluster::share`), so that
    /// nothing goes out that a successor would not know of; `i64::MAX` on a single node.
    pub outbox_shipped: std::sync::atomic::AtomicI64,
    /// Cluster mode: what `/v1/cluster` answers, refreshed by the lease coordinator.
    pub cluster_status: std::sync::Mutex<Option<serde_json::Value>>,
    /// A digest of the rules files in force ([`crate::rules::digest_dir`]), replaced at a
    /// reload: cluster nodes compare theirs.
    pub rules_digest: std::sync::Mutex<String>,
    /// Cluster mode: when this node last heard from the cluster (its heartbeat taken and
    /// the cluster's newest `ts` read, `serve::cluster::node`).
    pub cluster_contact: std::sync::Mutex<Option<Instant>>,
}

impl Shared {
    /// Whether this node is in touch with its cluster: it heard from it within the lease
    /// time to live (always on a single node). A node out of touch is not ready and takes
    /// no mentions: what it would measure them against (the cluster's newest `ts`) may be
    /// out of date, and it cannot publish them anyway.
    pub fn in_touch(&self) -> bool {
        match &self.cfg.cluster {
            None => true,
            Some(c) => self.cluster_contact.lock().expect("contact lock").is_some_and(|t| t.elapsed() < c.lease_ttl),
        }
    }

    /// Whether this node plans, ships and delivers notifications now: it has the role
    /// (`notify_active`) and, in a cluster, its lease has not possibly run out
    /// (`notify_until`).
    pub fn notifying(&self) -> bool {
        self.notify_active.load(Ordering::Acquire)
            && self.notify_until.lock().expect("notify_until lock").is_none_or(|t| Instant::now() < t)
    }
}

use crate::clock::wall_ms;

/// What the sequencer did with one batch.
#[derive(Debug, Clone, Default)]
pub struct Receipt {
    /// New mentions, now durable.
    pub accepted: usize,
    /// Mentions whose id was already accepted.
    pub duplicates: usize,
    /// Valid mentions the sequencer refused (too late, too far ahead, brand cap), with their
    /// line numbers: dead-lettered like the rejected items.
    pub refused: Vec<(usize, String)>,
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
        /// A source's name and the cursor the batch brings it to, stored once it is durable.
        cursor: Option<(String, String)>,
    },
    /// A person resolved incident `id`.
    Resolve {
        /// Incident id.
        id: String,
        /// Answered once it is in the log.
        reply: oneshot::Sender<Result<(), IngestError>>,
    },
    /// A reload configured these brands (rules files): they are admitted without counting
    /// towards `max_new_brands`.
    Brands(Vec<String>),
    /// Drain and stop.
    Shutdown,
}

/// Work for the engine thread.
pub enum EngineMsg {
    /// Durable records, in the order the engine applies them (see `order`).
    Records {
        /// The records.
        data: Vec<u8>,
        /// Where the log stands after them, for the snapshot.
        cursor: Cursor,
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
    /// A reload: rebuild the engine with these rules and playbooks, carry its state over
    /// (what the new rules still have), snapshot at once, and answer with what was kept.
    Reload {
        /// The new rules.
        rules: Box<crate::rules::RuleSet>,
        /// The new playbooks.
        playbooks: Option<Arc<crate::alert::playbook::Playbooks>>,
        /// What the restore kept and dropped, or why the engine could not be built.
        reply: oneshot::Sender<Result<snapshot::RestoreReport, String>>,
    },
    /// The planned events declared through the API, all of them (`serve::planned`).
    Planned(Vec<(String, crate::detect::Planned)>),
    /// Snapshot and stop.
    Shutdown,
}

/// Applies one log record to the engine: a mention (compact JSON), `#t <ms>` (a clock
/// tick) or `#r <incident id>` (resolved by a person). The cluster's partition engines apply
/// their stream's records with it too.
pub fn apply(engine: &mut Engine, rec: &[u8]) {
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

/// The admission limits of this configuration.
pub fn order_limits(cfg: &ServeConfig) -> OrderLimits {
    OrderLimits {
        event: cfg.clock == ClockMode::Event,
        lateness_min: cfg.allowed_lateness_min,
        max_jump_ms: cfg.max_clock_jump_ms,
        max_buffered: cfg.reorder_max_mentions,
    }
}

/// What recovery found.
pub struct Recovered {
    /// The engine, with every released record of the log applied.
    pub engine: Engine,
    /// The log, opened on a new segment.
    pub log: IngestLog,
    /// The dedup memory.
    pub dedup: Dedup,
    /// The reorder buffer and clocks.
    pub order: Order,
    /// The brands known.
    pub brands: BrandMemory,
    /// Where the log stands.
    pub cursor: Cursor,
    /// Records read back from the log after the snapshot (mentions among them may still be
    /// held in the reorder buffer).
    pub replayed: u64,
}

/// Restores the last snapshot and replays the log after it, through the same [`Order`] as
/// the live service, so the engine ends exactly where it was (`configured` are the rules'
/// brand ids).
///
/// # Errors
/// I/O and SQLite errors.
pub fn recover(
    shared: &Shared,
    mut engine: Engine,
    store: &mut Connection,
    configured: &[String],
) -> anyhow::Result<Recovered> {
    let cfg = &shared.cfg;
    let segs = log::segments(&shared.log_dir)?;
    let first = segs.first().copied().unwrap_or(0);
    let start = LogPos { segment: first, offset: 0 };
    let mut cursor = Cursor { low: start, end: start, clock: i64::MIN, newest: i64::MIN };
    if let Some((bytes, pos)) = store::load_snapshot(store)? {
        let (c, state) = Cursor::decode_prefix(&bytes, pos);
        match snapshot::decode(state) {
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
                let now = engine.now().unwrap_or(i64::MIN);
                // a snapshot from before the reorder buffer covered everything up to `pos`
                cursor = c.unwrap_or(Cursor { low: pos, end: pos, clock: now, newest: now });
            }
            Err(e) => tracing::warn!("{e}; rebuilding the engine from the ingest log instead"),
        }
    }
    let window_ms = cfg.dedup_window.as_millis() as i64;
    let mut dedup = log::read_dedup(&shared.log_dir, cursor.low.segment, cfg.dedup_ids as usize, window_ms)?;
    let mut order = Order::new(order_limits(cfg), cursor.clock, cursor.newest);
    let now = wall_ms();
    let mut replayed = 0u64;
    let mut ready = Vec::new();
    let end = log::read_from(&shared.log_dir, cursor.low, |rec, pos, after_low| {
        if let Some(h) = id_hash(rec) {
            dedup.insert(h, now);
        }
        if !after_low {
            return Ok(());
        }
        let begin = LogPos { segment: pos.segment, offset: pos.offset - rec.len() as u64 };
        if pos <= cursor.end {
            // the snapshot saw it: applied, unless it is a mention still held
            if rec.first() != Some(&b'#') {
                if let Some(ts) = order::record_ts(rec) {
                    order.saw(ts);
                    if order.limits().event && ts > cursor.clock {
                        order.hold(rec.to_vec(), begin, ts);
                    }
                }
            }
            return Ok(());
        }
        order.feed(rec, begin, None, &mut ready);
        replayed += 1;
        for r in ready.split_inclusive(|&b| b == b'\n') {
            apply(&mut engine, r);
        }
        ready.clear();
        if engine.events.len() >= 1000 {
            store::record_events(store, &engine.events)?;
            engine.events.clear();
        }
        Ok(())
    })?;
    store::record_events(store, &engine.events)?;
    engine.events.clear();
    let next = segs.last().map_or(1, |s| s + 1);
    let log = IngestLog::create(&shared.log_dir, next, cfg.segment_size, cfg.fsync, &dedup)?;
    shared.engine_mentions.store(engine.stats.mentions, Ordering::Relaxed);
    let mut brands = BrandMemory::new(configured.iter().map(String::as_str), cfg.max_new_brands);
    for id in engine.brand_ids() {
        brands.know(id);
    }
    for rec in order.held_records() {
        let rec = rec.strip_suffix(b"\n").unwrap_or(rec);
        if let Some(b) = parse_line(rec, usize::MAX).ok().and_then(|m| m.raw.brand.map(|b| b.to_string())) {
            brands.know(&b);
        }
    }
    let cursor = order.cursor(LogPos { segment: next, offset: 0 }.max(end));
    Ok(Recovered { engine, log, dedup, order, brands, cursor, replayed })
}

/// A snapshot on its way to the store.
pub struct SnapshotJob {
    /// Encoded engine state.
    pub bytes: Vec<u8>,
    /// Where the log stood (the snapshot's row keeps `low`; the rest is a prefix of `bytes`).
    pub cursor: Cursor,
    /// When the engine started taking it.
    pub started: Instant,
}

/// Encodes the engine's state (on the engine thread: it must not change meanwhile).
fn encode_snapshot(engine: &Engine, cursor: Cursor) -> Option<SnapshotJob> {
    let started = Instant::now();
    match snapshot::encode(&engine.snapshot()) {
        Ok(state) => {
            let mut bytes = Vec::with_capacity(state.len() + 36);
            cursor.encode_prefix(&mut bytes);
            bytes.extend_from_slice(&state);
            Some(SnapshotJob { bytes, cursor, started })
        }
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
        // one SQLite statement: a failed write leaves the previous snapshot whole
        if let Err(e) = store::save_snapshot(&store, &job.bytes, job.cursor.low, wall_ms()) {
            tracing::error!(error = %e, "cannot store the engine snapshot (the previous one and the ingest log are kept)");
            continue;
        }
        match log::remove_before(&shared.log_dir, job.cursor.low) {
            Ok(n) if n > 0 => tracing::debug!(segments = n, "released ingest log segments"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot delete old ingest log segments"),
        }
        shared.metrics.snapshot.record(job.started.elapsed());
        shared.metrics.snapshots.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            bytes = job.bytes.len(),
            segment = job.cursor.low.segment,
            offset = job.cursor.low.offset,
            "snapshot stored"
        );
    }
}

/// The engine thread's loop; returns after handing over the final snapshot.
pub fn run_engine(
    shared: Arc<Shared>,
    rx: Receiver<EngineMsg>,
    mut engine: Engine,
    mut store: Connection,
    mut pos: Cursor,
    snapshots: Sender<SnapshotJob>,
) {
    let mut last_snapshot = Instant::now();
    let mut dirty = false;
    // alert events the store refused (disk full): kept and retried, and no snapshot is
    // taken past them, so a crash cannot lose them either
    let mut unstored: Vec<crate::alert::AlertEvent> = Vec::new();
    loop {
        if !unstored.is_empty() {
            match store::record_events(&mut store, &unstored) {
                Ok(k) => {
                    tracing::info!(events = unstored.len(), "alert events stored after an earlier failure");
                    shared.metrics.events.fetch_add(k as u64, Ordering::Relaxed);
                    shared.notify_wake.notify_one();
                    unstored.clear();
                }
                Err(e) => tracing::debug!(error = %e, "alert events still cannot be stored"),
            }
        }
        match rx.recv_timeout(Duration::from_millis(500)) {
            Ok(EngineMsg::Records { data, cursor: end, permits, durable_at }) => {
                shared.metrics.queue_wait.record(durable_at.elapsed());
                let t = Instant::now();
                let mut n = 0u64;
                for rec in data.split_inclusive(|&b| b == b'\n') {
                    apply(&mut engine, rec);
                    n += u64::from(rec.first() != Some(&b'#'));
                }
                if !unstored.is_empty() {
                    unstored.append(&mut engine.events); // in order, after the older ones
                } else if !engine.events.is_empty() {
                    match store::record_events(&mut store, &engine.events) {
                        Ok(k) => {
                            shared.metrics.events.fetch_add(k as u64, Ordering::Relaxed);
                            shared.notify_wake.notify_one();
                            for e in &engine.events {
                                tracing::info!(incident = %e.id, status = e.status.as_str(),
                                    severity = e.severity.as_str(), brand = %e.brand, rule = %e.rule, "alert");
                            }
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "cannot store alert events; retrying");
                            unstored.append(&mut engine.events);
                        }
                    }
                    engine.events.clear();
                }
                pos = end;
                dirty = true;
                shared.metrics.engine.record(t.elapsed());
                shared.metrics.processed.fetch_add(n, Ordering::Relaxed);
                shared.engine_mentions.store(engine.stats.mentions, Ordering::Relaxed);
                shared.metrics.late_in_engine.store(engine.stats.late, Ordering::Relaxed);
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
            Ok(EngineMsg::Planned(all)) => engine.set_planned(all),
            Ok(EngineMsg::Reload { rules, playbooks, reply }) => {
                let mut fresh = match Engine::new(&rules) {
                    Ok(e) => e,
                    Err(e) => {
                        let _ = reply.send(Err(format!("cannot build the keyword matcher: {e}")));
                        continue;
                    }
                };
                fresh.set_tone_model(engine.take_tone_model());
                fresh.set_planned(engine.planned_api());
                if let Some(p) = playbooks {
                    fresh.set_playbooks(p);
                }
                let report = fresh.restore(engine.snapshot());
                engine = fresh;
                // from here on a restart replays the log with the new rules: snapshot now, so
                // the records before the reload are not replayed with them
                if unstored.is_empty() {
                    if let Some(job) = encode_snapshot(&engine, pos) {
                        let _ = snapshots.send(job);
                    }
                    last_snapshot = Instant::now();
                    dirty = false;
                }
                let _ = reply.send(Ok(report));
            }
            Ok(EngineMsg::Shutdown) | Err(RecvTimeoutError::Disconnected) => {
                if !unstored.is_empty() {
                    tracing::error!(events = unstored.len(), "stopping with alert events not stored: no final snapshot, the next start rebuilds them from the log");
                    return;
                }
                if let Some(job) = encode_snapshot(&engine, pos) {
                    let _ = snapshots.send(job);
                }
                return; // the writer stores it, then sees the hang-up
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
        if dirty && unstored.is_empty() && last_snapshot.elapsed() >= shared.cfg.snapshot_interval {
            if let Some(job) = encode_snapshot(&engine, pos) {
                let _ = snapshots.send(job);
            }
            last_snapshot = Instant::now();
            dirty = false;
        }
    }
}

/// The receivers' clients for `n`, in the order of `n.receivers`; Telegram's and Slack's
/// keep their message references in the store. Call inside the notifier's runtime.
///
/// # Errors
/// A client cannot be built, or the store cannot be opened.
pub fn notifier_clients(
    shared: &Shared,
    n: &crate::notify::config::Notify,
) -> anyhow::Result<Vec<Box<dyn crate::notify::Notifier>>> {
    let refs = crate::serve::actions::StoreMessageRefs(std::sync::Mutex::new(store::open(&shared.db_path, false)?));
    Ok(crate::notify::notifiers_with(n, Some(Arc::new(refs)))?)
}

/// The notifier thread: plans and delivers notifications from the store until shutdown
/// (pending ones stay in the outbox for the next start).
pub fn run_notifier(
    shared: Arc<Shared>,
    mut store: Connection,
    rt: tokio::runtime::Runtime,
    mut notifiers: Vec<Box<dyn crate::notify::Notifier>>,
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
    let (mut generation, mut n) = shared.notify.get_with_generation();
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
                let locales = n
                    .receivers
                    .iter()
                    .filter_map(|r| match r {
                        crate::notify::config::Receiver::Telegram { name, chat_id, .. } => {
                            Some((*chat_id, n.locale(name)))
                        }
                        _ => None,
                    })
                    .collect();
                Some(tokio::spawn(crate::notify::channel::telegram::poll_callbacks(
                    bot,
                    actions,
                    locales,
                    shared.shutdown.clone(),
                )))
            });
        while !shared.shutdown.is_cancelled() {
            let (g, latest) = shared.notify.get_with_generation();
            if g != generation {
                // a reload: the receivers' clients are rebuilt from the new settings (the
                // reload built them once already, so this does not fail but for a new store)
                match notifier_clients(&shared, &latest) {
                    Ok(built) => {
                        notifiers = built;
                        n = latest;
                        tracing::info!(receivers = n.receivers.len(), "notifier: new receivers in force");
                    }
                    Err(e) => tracing::error!(error = %e, "notifier: the reloaded receivers cannot be built; keeping the old ones"),
                }
                generation = g;
            }
            let backoff = crate::notify::Backoff { base: n.retry_base, max: n.retry_max };
            let now = wall_ms();
            // in a cluster only the notifying node plans and delivers (the others keep a copy
            // of its outbox: `serve::cluster::share`)
            if shared.notifying() {
                if let Err(e) = crate::notify::plan(&mut store, &n, now, Some(&charts)) {
                    tracing::error!(error = %e, "notification planning failed");
                }
                let shipped = shared.outbox_shipped.load(Ordering::Acquire);
                match crate::notify::deliver_due(&mut store, &n, &notifiers, backoff, now, shipped, Some(&shared.metrics.notify))
                    .await
                {
                    Ok((ok, failed)) if ok + failed > 0 => tracing::debug!(ok, failed, "deliveries"),
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "notification delivery failed"),
                }
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
