//! The sequencer thread: admission (the clock contract and the brand cap, see `order`),
//! de-duplication, the ingest log and the reorder buffer. It takes validated batches from
//! the HTTP handlers, writes each group of requests to the log with one fsync, all or
//! nothing, and only then answers them (`202`) and hands the records the engine may apply
//! now to the engine thread. Between groups: segment rotation, the dead letters' retention,
//! and, after a failed write, probing the disk until it takes writes again.

use crate::clock::wall_ms;
use crate::serve::error::IngestError;
use crate::serve::log::{Dedup, IngestLog, LogPos};
use crate::serve::order::{brand_of, BrandMemory, Order};
use crate::serve::pipeline::{EngineMsg, Receipt, Shared, WriterMsg};
use crate::store;
use crate::time::{minute_of, Millis};
use rusqlite::Connection;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// A request waiting in the sequencer for its group's write.
struct Pending {
    receipt: Receipt,
    reply: oneshot::Sender<Result<Receipt, IngestError>>,
}

/// The sequencer: admission, de-duplication, the ingest log, the reorder buffer. Owned by
/// its thread; see [`run_sequencer`].
pub struct Sequencer {
    shared: Arc<Shared>,
    engine_tx: Sender<EngineMsg>,
    log: IngestLog,
    dedup: Dedup,
    store: Connection,
    order: Order,
    brands: BrandMemory,
    /// The newest accepted `ts` over wall time, for the reorder hold.
    history: VecDeque<(Instant, Millis)>,
    last_tick_min: i64,
    segment_started: Instant,
    /// The last dead-letter retention sweep.
    swept: Instant,
    /// Dead-letter bytes written since then.
    dead_bytes: u64,
}

impl Sequencer {
    /// The sequencer over what recovery found.
    pub fn new(
        shared: Arc<Shared>,
        engine_tx: Sender<EngineMsg>,
        log: IngestLog,
        dedup: Dedup,
        order: Order,
        brands: BrandMemory,
        store: Connection,
    ) -> Self {
        shared.metrics.brands_created.store(brands.created() as u64, Ordering::Relaxed);
        let c = order.clocks();
        shared.metrics.reorder_buffered.store(c.buffered as u64, Ordering::Relaxed);
        // mentions held when the service stopped are released after one hold, new data or not
        let history = if c.buffered > 0 { VecDeque::from([(Instant::now(), c.newest)]) } else { VecDeque::new() };
        Sequencer {
            shared,
            engine_tx,
            log,
            dedup,
            store,
            order,
            brands,
            history,
            last_tick_min: i64::MIN,
            segment_started: Instant::now(),
            swept: Instant::now() - Duration::from_secs(3600),
            dead_bytes: 0,
        }
    }

    /// The watermark the reorder hold allows now: the newest `ts` accepted at least
    /// `reorder_hold` ago.
    /// How many entries of the history that takes (to drop once the step is durable).
    fn held_watermark(&self, now: Instant) -> Option<(usize, Millis)> {
        let hold = self.shared.cfg.reorder_hold;
        let n = self.history.iter().take_while(|&&(at, _)| now.duration_since(at) >= hold).count();
        n.checked_sub(1).map(|last| (n, self.history[last].1))
    }

    /// Stores sources' cursors once what they cover is durable. A failure is logged: the
    /// source then fetches those items again after a restart, and the id memory drops them.
    fn save_cursors(&self, cursors: &[(String, String)], now: Millis) {
        if cursors.is_empty() {
            return;
        }
        if let Err(e) = store::cursors::save(&self.store, cursors, now) {
            tracing::warn!(error = %e, "cannot store the sources' cursors; they will fetch some items again");
        }
    }

    /// One group of messages: admit, write once, answer, hand the released records to the
    /// engine. False when the service is stopping.
    fn group(&mut self, msgs: &mut Vec<WriterMsg>) -> bool {
        let now = wall_ms();
        let now_i = Instant::now();
        let lim = *self.order.limits();
        let mut out = Vec::new();
        let mut clocks = self.order.clocks();
        let tick = !lim.event && minute_of(now) > self.last_tick_min;
        if tick {
            out.extend_from_slice(format!("#t {now}\n").as_bytes());
            clocks.clock = clocks.clock.max(now);
        }
        let mut passed = 0; // history entries the watermark step takes, dropped once durable
        if lim.event {
            if let Some((n, x)) = self.held_watermark(now_i) {
                passed = n;
                if x > clocks.clock {
                    out.extend_from_slice(format!("#w {x}\n").as_bytes());
                    clocks = self.order.clocks_after_release(x);
                }
            }
        }
        let mut pending = Vec::new();
        let mut resolve_replies = Vec::new();
        let mut permits = Vec::new();
        let mut dead: Vec<store::DeadLetter> = Vec::new();
        let mut dead_tokens: Vec<(String, usize)> = Vec::new(); // token, items in `dead`
        let mut ts_of = Vec::new(); // per mention appended to `out`: its ts
        let mut cursors: Vec<(String, String)> = Vec::new(); // sources' cursors, saved once durable
        let (mut inserted, mut created) = (0usize, Vec::new());
        let mut shutdown = false;
        let m = &self.shared.metrics;
        for msg in msgs.drain(..) {
            match msg {
                WriterMsg::Batch { decoded, rejected, token, permit, reply, cursor } => {
                    cursors.extend(cursor);
                    let mut r = Receipt::default();
                    let before = dead.len();
                    dead.extend(rejected.into_iter().map(|x| (x.line, x.reason, x.raw)));
                    let mut start = 0usize;
                    for item in &decoded.index {
                        let rec = &decoded.records[start..item.end as usize];
                        start = item.end as usize;
                        let mut refuse = clocks.refuse(item.ts, now, &lim);
                        if refuse.is_some() {
                            let c = if item.ts > clocks.newest.max(now) { &m.refused_future } else { &m.refused_late };
                            c.fetch_add(1, Ordering::Relaxed);
                        } else if let Some(b) = item.brand {
                            match self.brands.admit(b) {
                                Ok(true) => created.push(b),
                                Ok(false) => {}
                                Err(cap) => {
                                    m.refused_brand.fetch_add(1, Ordering::Relaxed);
                                    refuse = Some(format!(
                                        "unknown brand {}: {cap} brands were already created from `brand` fields (max_new_brands); configure it in the rules or raise the limit",
                                        brand_of(rec)
                                    ));
                                }
                            }
                        }
                        if let Some(reason) = refuse {
                            let line = item.line as usize;
                            r.refused.push((line, reason.clone()));
                            dead.push((line, reason, rec.strip_suffix(b"\n").unwrap_or(rec).to_vec()));
                            continue;
                        }
                        if !self.dedup.insert(item.id, now) {
                            r.duplicates += 1;
                            continue;
                        }
                        inserted += 1;
                        out.extend_from_slice(rec);
                        ts_of.push(item.ts);
                        r.accepted += 1;
                        clocks.accept(item.ts, rec.len(), &lim);
                        if clocks.over(&lim) {
                            // the buffer is full: release everything accepted
                            out.extend_from_slice(format!("#w {}\n", clocks.newest).as_bytes());
                            clocks.flush();
                        }
                    }
                    dead_tokens.push((token, dead.len() - before));
                    permits.extend(permit);
                    pending.push(Pending { receipt: r, reply });
                }
                WriterMsg::Resolve { id, reply } => {
                    out.extend_from_slice(format!("#r {id}\n").as_bytes());
                    resolve_replies.push(reply);
                }
                WriterMsg::Brands(ids) => {
                    self.brands.configure(ids.iter().map(String::as_str));
                    m.brands_created.store(self.brands.created() as u64, Ordering::Relaxed);
                }
                WriterMsg::Shutdown => shutdown = true,
            }
        }
        // dead letters first: when the store cannot take them, nothing of the group is logged
        let mut dead_rows = None;
        if !dead.is_empty() {
            self.dead_bytes += dead.iter().map(|d| (d.1.len() + d.2.len()) as u64).sum::<u64>();
            let mut it = dead.into_iter();
            let per_token: Vec<(String, Vec<store::DeadLetter>)> =
                dead_tokens.into_iter().map(|(t, n)| (t, it.by_ref().take(n).collect())).collect();
            match store::record_dead_letter_groups(&mut self.store, &per_token, now) {
                Ok(rows) => dead_rows = Some(rows),
                Err(e) => {
                    // most likely the disk is full: refuse ingest until the probe passes
                    tracing::error!(error = %e, "cannot store dead letters; refusing ingest until the disk takes writes again");
                    self.shared.log_ok.store(false, Ordering::Relaxed);
                    m.log_writable.store(0, Ordering::Relaxed);
                    return self.refuse_group(
                        pending,
                        resolve_replies,
                        inserted,
                        &created,
                        &|| IngestError::DeadLetters(rusqlite::Error::ToSqlConversionFailure(e.to_string().into())),
                        shutdown,
                    );
                }
            }
        }
        if !out.is_empty() {
            if !self.shared.log_ok.load(Ordering::Relaxed) {
                if let Some(rows) = dead_rows {
                    let _ = store::delete_dead_letters(&self.store, rows);
                }
                return self.refuse_group(
                    pending,
                    resolve_replies,
                    inserted,
                    &created,
                    &|| IngestError::Log(std::io::Error::other("the ingest log is not writable (disk full?)")),
                    shutdown,
                );
            }
            let t = Instant::now();
            let start = self.log.end();
            let res = self.log.append_durable(&out);
            m.durable.record(t.elapsed());
            match res {
                Ok(end) => {
                    if tick {
                        self.last_tick_min = minute_of(now);
                    }
                    self.history.drain(..passed);
                    // apply the group to the order exactly as recovery will
                    let mut ready = Vec::with_capacity(out.len());
                    let mut offset = start.offset;
                    let mut k = 0;
                    for rec in out.split_inclusive(|&b| b == b'\n') {
                        let begin = LogPos { segment: start.segment, offset };
                        offset += rec.len() as u64;
                        let ts = if rec.first() == Some(&b'#') {
                            None
                        } else {
                            k += 1;
                            Some(ts_of[k - 1])
                        };
                        self.order.feed(rec, begin, ts, &mut ready);
                    }
                    debug_assert_eq!(self.order.clocks(), clocks, "admission and order disagree");
                    let c = self.order.clocks();
                    if self.history.back().is_none_or(|&(_, w)| w < c.newest) {
                        self.history.push_back((now_i, c.newest));
                    }
                    m.reorder_buffered.store(c.buffered as u64, Ordering::Relaxed);
                    m.brands_created.store(self.brands.created() as u64, Ordering::Relaxed);
                    self.save_cursors(&cursors, now);
                    for p in pending {
                        m.accepted.fetch_add(p.receipt.accepted as u64, Ordering::Relaxed);
                        m.duplicates.fetch_add(p.receipt.duplicates as u64, Ordering::Relaxed);
                        let _ = p.reply.send(Ok(p.receipt));
                    }
                    for reply in resolve_replies {
                        let _ = reply.send(Ok(()));
                    }
                    let msg = EngineMsg::Records {
                        data: ready,
                        cursor: self.order.cursor(end),
                        permits,
                        durable_at: Instant::now(),
                    };
                    if self.engine_tx.send(msg).is_err() {
                        tracing::error!("engine thread is gone; stopping the sequencer");
                        return false;
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot write the ingest log; refusing ingest until it can be written again");
                    self.shared.log_ok.store(false, Ordering::Relaxed);
                    m.log_writable.store(0, Ordering::Relaxed);
                    if let Some(rows) = dead_rows {
                        if let Err(e) = store::delete_dead_letters(&self.store, rows) {
                            tracing::warn!(error = %e, "the refused requests' dead letters stay stored");
                        }
                    }
                    let kind = e.kind();
                    let msg = e.to_string();
                    return self.refuse_group(
                        pending,
                        resolve_replies,
                        inserted,
                        &created,
                        &|| IngestError::Log(std::io::Error::new(kind, msg.clone())),
                        shutdown,
                    );
                }
            }
        } else {
            self.history.drain(..passed); // passed, nothing to release
            self.save_cursors(&cursors, now);
            for p in pending {
                m.duplicates.fetch_add(p.receipt.duplicates as u64, Ordering::Relaxed);
                let _ = p.reply.send(Ok(p.receipt));
            }
        }
        !shutdown
    }

    /// Answers every request of a group that could not be made durable, and undoes its
    /// admissions: a retry is taken as new. False when the service is stopping.
    fn refuse_group(
        &mut self,
        pending: Vec<Pending>,
        resolves: Vec<oneshot::Sender<Result<(), IngestError>>>,
        inserted: usize,
        created: &[u64],
        err: &dyn Fn() -> IngestError,
        shutdown: bool,
    ) -> bool {
        self.dedup.undo(inserted);
        for &b in created {
            self.brands.forget(b);
        }
        self.shared.metrics.refused_write.fetch_add(pending.len() as u64, Ordering::Relaxed);
        for p in pending {
            let _ = p.reply.send(Err(err()));
        }
        for r in resolves {
            let _ = r.send(Err(err()));
        }
        !shutdown
    }

    /// Housekeeping between groups: a full or hour-old segment is rotated, a refused log is
    /// retried once the disk takes writes again, old dead letters are swept.
    fn housekeeping(&mut self) {
        let shared = self.shared.clone();
        if !shared.log_ok.load(Ordering::Relaxed) {
            match self.log.repair(1 << 20) {
                Ok(()) => {
                    tracing::info!("the ingest log takes writes again; accepting ingest");
                    shared.log_ok.store(true, Ordering::Relaxed);
                    shared.metrics.log_writable.store(1, Ordering::Relaxed);
                }
                Err(e) => tracing::debug!(error = %e, "the ingest log still refuses writes"),
            }
            return;
        }
        // a new segment when full, or hourly, so that snapshots can release old ones
        let hourly = self.segment_started.elapsed() >= Duration::from_secs(3600);
        match self.log.maybe_rotate(hourly, &self.dedup) {
            Ok(true) => self.segment_started = Instant::now(),
            Ok(false) => {}
            Err(e) => {
                tracing::error!(error = %e, "cannot start a new ingest log segment; refusing ingest until it can");
                shared.log_ok.store(false, Ordering::Relaxed);
                shared.metrics.log_writable.store(0, Ordering::Relaxed);
            }
        }
        let r = &shared.cfg.dead_letters;
        // every minute, and as soon as an eighth of the cap was written since the last sweep
        if self.swept.elapsed() >= Duration::from_secs(60) || self.dead_bytes > r.max_bytes / 8 {
            self.swept = Instant::now();
            self.dead_bytes = 0;
            match store::trim_dead_letters(&self.store, r.max_bytes, wall_ms() - r.max_age.as_millis() as i64) {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "dead letters past their retention deleted"),
                Err(e) => tracing::warn!(error = %e, "cannot trim the dead letters"),
            }
        }
    }
}

/// The sequencer's loop; returns when told to shut down (after forwarding the shutdown).
pub fn run_sequencer(mut seq: Sequencer, rx: Receiver<WriterMsg>) {
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
        let go_on = seq.group(&mut msgs);
        seq.housekeeping();
        if !go_on {
            let _ = seq.engine_tx.send(EngineMsg::Shutdown);
            return;
        }
    }
}
