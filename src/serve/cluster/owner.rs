//! One partition's engine, run by the node that holds the partition's lease.
//!
//! 1. **Restore**: the partition's snapshot from the object store (`p<N>`: the stream
//!    sequence it covers, then the engine state), or a fresh engine.
//! 2. **Replay and follow**: an ordered consumer of `cw.mentions.<N>` from the sequence after
//!    the snapshot; every record is applied with the single node's `pipeline::apply`.
//! 3. **Publish** the alert events each record causes to the alert stream, each with the
//!    event's store key as its message id, and wait for JetStream's acknowledgement before
//!    going on: an event is never covered by a snapshot before it is stored.
//! 4. **Snapshot** every `snapshot_interval` (and when the partition is handed over).
//! 5. **Wall clock**: tick the partition (`#t <now>`) once a minute, as the sequencer does.
//! 6. **Event clock**: the single node's reorder buffer ([`Order`]), here per partition:
//!    mentions and the ingest nodes' minute marks (`#t`) are held and released in `ts`
//!    order when a watermark record `#w <ms>` passes them. The owner publishes the
//!    watermarks to the partition's own subject: the newest `ts` of the partition as it was
//!    `reorder_hold` ago (or all of it when the buffer is over its bound). Being records of
//!    the stream, they release the same mentions in the same order for every later owner;
//!    a snapshot stores where the oldest held record is, and a new owner reads from there
//!    and holds again what its predecessor held. So concurrent requests through several
//!    nodes interleave in `ts` order, as on a single node, instead of counting late.
//!
//! Because the engine is a pure function of the records in stream order, an owner that
//! takes over after a crash republishes exactly the events its predecessor published after
//! the snapshot, with the same ids: they are dropped as duplicates, so incident state is
//! recorded exactly once however often a partition changes hands.

use super::bus::{Bus, ALERT_SUBJECT, MENTIONS};
use super::engines::EngineFactory;
use super::partition;
use super::reorder::{encode_snapshot, over_bound, pos, split_snapshot, Feed, Restored, Watermarks};
use crate::clock::wall_ms;
use crate::engine::{snapshot, Engine};
use crate::serve::config::ClockMode;
use crate::serve::order::{Cursor, Order};
use crate::serve::pipeline::{order_limits, Shared};
use anyhow::Context as _;
use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use async_nats::jetstream::message::PublishMessage;
use futures_util::StreamExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

pub use super::engines::{Partition, Registry};

/// The snapshot object of partition `p`.
pub fn snapshot_name(p: u32) -> String {
    format!("p{p}")
}

/// How long restoring a snapshot may wait for its next piece.
const RESTORE_IDLE: Duration = Duration::from_secs(15);

/// Loads partition `p`'s snapshot into `engine`.
async fn restore(bus: &Bus, p: u32, engine: &mut Engine) -> anyhow::Result<Restored> {
    let none = Restored { applied: 0, cursor: None };
    // The snapshot's chunks come through a consumer that the client makes again, silently,
    // for as long as the stream cannot serve it (no quorum): a read waited for ever, and the
    // node held the partition's lease with no engine running. Each step gets `RESTORE_IDLE`.
    let idle = |what: &'static str| move |_| anyhow::anyhow!("{what}: nothing for {} s", RESTORE_IDLE.as_secs());
    let mut obj = match tokio::time::timeout(RESTORE_IDLE, bus.snapshots.get(snapshot_name(p)))
        .await
        .map_err(idle("cannot read the partition snapshot"))?
    {
        Ok(o) => o,
        Err(e) if e.kind() == async_nats::jetstream::object_store::GetErrorKind::NotFound => return Ok(none),
        Err(e) => return Err(e).context("cannot read the partition snapshot"),
    };
    let mut bytes = Vec::new();
    let mut chunk = vec![0u8; 128 * 1024];
    loop {
        let n = tokio::time::timeout(RESTORE_IDLE, obj.read(&mut chunk))
            .await
            .map_err(idle("cannot read the partition snapshot"))?
            .context("cannot read the partition snapshot")?;
        if n == 0 {
            break;
        }
        bytes.extend_from_slice(&chunk[..n]);
    }
    let Some((applied, cursor, state)) = split_snapshot(&bytes) else {
        anyhow::bail!("partition {p}'s snapshot is truncated ({} bytes)", bytes.len());
    };
    match snapshot::decode(state) {
        Ok(s) => {
            engine.restore(s);
            Ok(Restored { applied, cursor })
        }
        Err(e) => {
            // an incompatible snapshot (another version): rebuild from the whole stream
            tracing::warn!(partition = p, error = %e, "partition snapshot unreadable; replaying the partition from its start");
            Ok(none)
        }
    }
}

/// Stores partition `p`'s snapshot covering stream sequence `seq` (with the reorder
/// buffer's cursor, event clock).
async fn save(bus: &Bus, p: u32, engine_bytes: Vec<u8>, seq: u64, cursor: Option<Cursor>) -> anyhow::Result<()> {
    let bytes = encode_snapshot(seq, cursor, &engine_bytes);
    bus.snapshots
        .put(snapshot_name(p).as_str(), &mut bytes.as_slice())
        .await
        .map_err(|e| anyhow::anyhow!("cannot store partition {p}'s snapshot: {e}"))?;
    Ok(())
}

/// Publishes alert events and waits until JetStream stored each (or knew it already).
async fn publish_events(bus: &Bus, events: &[crate::alert::AlertEvent]) -> anyhow::Result<()> {
    let mut acks = Vec::with_capacity(events.len());
    for e in events {
        let payload = serde_json::to_vec(e).expect("alert events serialise");
        let msg = PublishMessage::build().payload(payload.into()).message_id(partition::alert_msg_id(e));
        acks.push(bus.js.send_publish(ALERT_SUBJECT, msg).await.context("cannot publish an alert event")?);
    }
    for a in acks {
        a.await.context("the alert stream did not acknowledge an event")?;
    }
    Ok(())
}

/// Runs partition `p` with an engine of `factory` until `stop` is cancelled (then snapshots
/// once more) or the stream fails (returns the error; the node starts it again while it
/// holds the lease). The partition is in `registry` while it runs.
///
/// # Errors
/// The engine cannot be built; NATS failures.
pub async fn run(
    bus: Bus,
    shared: Arc<Shared>,
    p: u32,
    factory: EngineFactory,
    registry: Registry,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let (mut engine, generation) = factory.build(p)?;
    let restored = restore(&bus, p, &mut engine).await?;
    let event = shared.cfg.clock == ClockMode::Event;
    let order = event.then(|| {
        let (clock, newest) = match restored.cursor {
            Some(c) => (c.clock, c.newest),
            // a snapshot without a cursor released everything it covers
            None => {
                let now = engine.now().unwrap_or(i64::MIN);
                (now, now)
            }
        };
        Order::new(order_limits(&shared.cfg), clock, newest)
    });
    let part = Arc::new(Partition {
        id: p,
        engine: Mutex::new(engine),
        order: Mutex::new(order),
        applied: AtomicU64::new(restored.applied),
        lag: AtomicU64::new(0),
        generation: AtomicU64::new(generation),
        snapshot_due: Default::default(),
    });
    registry.lock().expect("registry lock").insert(p, part.clone());
    // out of the registry however this task ends: returned, failed or aborted
    let _registered = Registered { registry, part: part.clone() };
    // a reload between the build and now missed this partition: it catches up itself, and
    // the owner snapshots it once the buffer it restores is whole
    if factory.refresh(&part)?.is_some() {
        part.snapshot_due.store(true, Ordering::Relaxed);
    }
    follow(&bus, &shared, &part, restored, &stop).await
}

/// A partition's place in the registry, removed when its task ends (even aborted), and only
/// its own: a successor on this node may have registered its partition since.
struct Registered {
    registry: Registry,
    part: Arc<Partition>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        let mut reg = self.registry.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if reg.get(&self.part.id).is_some_and(|r| Arc::ptr_eq(r, &self.part)) {
            reg.remove(&self.part.id);
        }
    }
}

async fn follow(
    bus: &Bus,
    shared: &Shared,
    part: &Arc<Partition>,
    restored: Restored,
    stop: &CancellationToken,
) -> anyhow::Result<()> {
    let p = part.id;
    let stream = bus.js.get_stream(MENTIONS).await.context("cannot open the mention stream")?;
    let subject = partition::subject(p);
    let start = restored.start();
    let deliver =
        if start <= 1 { DeliverPolicy::All } else { DeliverPolicy::ByStartSequence { start_sequence: start } };
    let consumer = stream
        .create_consumer(pull::OrderedConfig {
            filter_subject: subject.clone(),
            deliver_policy: deliver,
            ..Default::default()
        })
        .await
        .context("cannot create the partition's consumer")?;
    let mut messages = consumer.messages().await.context("cannot read the partition")?;
    tracing::info!(partition = p, from = restored.applied, start, "partition engine started");
    let wall = shared.cfg.clock == ClockMode::Wall;
    let mut last_tick_min = i64::MIN;
    let mut last_snapshot = Instant::now();
    let mut dirty = false;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut check = super::bus::StallCheck::default();
    let mut feed = Feed::new(restored);
    let mut marks = Watermarks::new(shared.cfg.reorder_hold);
    const FLUSH_EVERY: Duration = Duration::from_millis(100);
    let mut last_flush = Instant::now().checked_sub(FLUSH_EVERY).unwrap_or_else(Instant::now);
    let (max_held, partitions) = (shared.cfg.reorder_max_mentions, bus.partitions);
    loop {
        let mut watermark = None;
        tokio::select! {
            () = stop.cancelled() => break,
            _ = tick.tick() => {
                if check.stalled(&stream, &subject, part.applied.load(Ordering::Relaxed)).await {
                    // started again by the node, from the snapshot
                    anyhow::bail!("partition {p}'s consumer stalled: the stream holds records it did not deliver");
                }
                if let Some(order) = part.order.lock().expect("order lock").as_ref() {
                    let c = order.clocks();
                    marks.tick(Instant::now(), c.newest);
                    watermark = marks.due(&c, over_bound(&c, max_held, partitions));
                }
                let now = wall_ms();
                if wall && crate::time::minute_of(now) > last_tick_min {
                    let msg = PublishMessage::build().payload(format!("#t {now}").into_bytes().into());
                    if let Ok(ack) = bus.js.send_publish(subject.clone(), msg).await {
                        if ack.await.is_ok() {
                            last_tick_min = crate::time::minute_of(now);
                        }
                    }
                }
            }
            next = messages.next() => {
                let Some(msg) = next else { anyhow::bail!("the partition's consumer ended") };
                check.heard();
                let msg = msg.map_err(|e| anyhow::anyhow!("reading partition {p}: {e}"))?;
                let (seq, pending) = match msg.info() {
                    Ok(i) => (i.stream_sequence, i.pending),
                    Err(e) => anyhow::bail!("a message without JetStream metadata: {e}"),
                };
                let (events, late) = {
                    let mut engine = part.engine.lock().expect("engine lock");
                    let before = engine.stats.late;
                    let mut order = part.order.lock().expect("order lock");
                    let applied = part.applied.load(Ordering::Relaxed);
                    let ts = msg.headers.as_ref().and_then(|h| h.get(partition::TS_HEADER)).and_then(|v| v.as_str().parse().ok());
                    if !feed.record(&mut engine, order.as_mut(), applied, seq, &msg.payload, ts) {
                        // seen by the snapshot, or delivered again (the ordered consumer
                        // restarted after a server failed): applying twice would count twice
                        continue;
                    }
                    if let Some(c) = order.as_ref().map(Order::clocks) {
                        // past the bound: everything out, at most every 100 ms (not a
                        // publish for each record of a backfill that keeps it there)
                        if over_bound(&c, max_held, partitions) && last_flush.elapsed() >= FLUSH_EVERY {
                            watermark = marks.due(&c, true);
                            if watermark.is_some() {
                                last_flush = Instant::now();
                            }
                        }
                    }
                    (std::mem::take(&mut engine.events), engine.stats.late - before)
                };
                if late > 0 {
                    // admitted by a node whose clock was behind the partition's
                    shared.metrics.late_in_engine.fetch_add(late, Ordering::Relaxed);
                    tracing::debug!(partition = p, seq, "a mention older than the allowed lateness: counted, not in windows");
                }
                if !events.is_empty() {
                    publish_events(bus, &events).await?;
                    shared.metrics.events.fetch_add(events.len() as u64, Ordering::Relaxed);
                }
                if msg.payload.first() != Some(&b'#') {
                    shared.metrics.processed.fetch_add(1, Ordering::Relaxed);
                }
                part.applied.store(seq, Ordering::Relaxed);
                part.lag.store(pending, Ordering::Relaxed);
                dirty = true;
            }
        }
        if let Some(w) = watermark {
            // a record of the partition like the others: every later owner releases the same
            let msg = PublishMessage::build().payload(format!("#w {w}").into_bytes().into());
            if let Ok(ack) = bus.js.send_publish(subject.clone(), msg).await {
                if ack.await.is_ok() {
                    marks.sent(w);
                }
            }
        }
        let whole = feed.whole();
        let due = part.snapshot_due.load(Ordering::Relaxed) && whole;
        if due || (whole && dirty && last_snapshot.elapsed() >= shared.cfg.snapshot_interval) {
            snapshot_now(bus, part).await?;
            if due {
                // cleared once stored (a failed one fails the engine, started again)
                part.snapshot_due.store(false, Ordering::Relaxed);
            }
            last_snapshot = Instant::now();
            dirty = false;
        }
    }
    // handed over: the last snapshot, also for a reload's rules on an idle partition (not
    // while the restored buffer is not whole: the last snapshot stands then)
    if feed.whole() && (dirty || part.snapshot_due.load(Ordering::Relaxed)) {
        snapshot_now(bus, part).await?;
        part.snapshot_due.store(false, Ordering::Relaxed);
    }
    tracing::info!(partition = p, applied = part.applied.load(Ordering::Relaxed), "partition engine stopped");
    Ok(())
}

/// Snapshots the partition as it stands: only from its owner task, between records (or
/// before it follows the stream), where the engine and `applied` agree.
///
/// # Errors
/// The snapshot cannot be encoded or stored.
async fn snapshot_now(bus: &Bus, part: &Partition) -> anyhow::Result<()> {
    let (bytes, seq, cursor) = {
        let engine = part.engine.lock().expect("engine lock");
        let seq = part.applied.load(Ordering::Relaxed);
        let cursor = part.order.lock().expect("order lock").as_ref().map(|o| o.cursor(pos(seq + 1)));
        let bytes =
            snapshot::encode(&engine.snapshot()).map_err(|e| anyhow::anyhow!("cannot encode a snapshot: {e}"))?;
        (bytes, seq, cursor)
    };
    save(bus, part.id, bytes, seq, cursor).await
}
