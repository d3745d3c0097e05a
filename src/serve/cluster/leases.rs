//! The lease coordinator of a cluster node: its heartbeat, the partition leases and the
//! notifier lease (the design is in `node`'s documentation).
//!
//! * **Heartbeat** (its own task): every third of `lease_ttl`, the node's key in `cw_nodes`
//!   and the cluster's newest `ts` in `cw_meta` (read, then written back with
//!   compare-and-set); a node that has done neither within `lease_ttl` is out of touch
//!   (ingest and `/readyz` answer `503`). The heartbeat does not wait behind lease work: a
//!   node that kept it in the lease loop stopped taking requests while a round was slow
//!   (renewals timing out while the servers re-elect after a cut heals, engines stopping
//!   one by one, each waited for). It stops when no round ended within three TTLs.
//! * **Rounds** (every third of `lease_ttl`): all renewals at once, then all takes at
//!   once, each NATS call bounded by a round. A renewal refused (another revision) or
//!   unanswered for a round drops the partition; one that failed at once (no server
//!   answering) is tried again next round while the lease surely holds (half its time to
//!   live). Engines that stop are not waited for in the round: the lease of one handed over
//!   is deleted at a later round, once its last snapshot is stored (30 s at most, then the
//!   task is aborted), and this node does not take the partition again before its old
//!   engine ended. (The lease is not renewed meanwhile: when the last snapshot takes longer
//!   than the TTL, the next owner may start from the one before, and replays more.)

use super::bus::Bus;
use super::engines::EngineFactory;
use super::owner::{self, Registry};
use super::partition;
use super::share;
use crate::serve::pipeline::Shared;
use async_nats::jetstream::kv::{UpdateError, UpdateErrorKind};
use futures_util::TryStreamExt;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The lease key of the notifier.
const NOTIFY_KEY: &str = "notify";

/// How long an engine that stops may take for its last snapshot before it is aborted.
const STOP_WAIT: Duration = Duration::from_secs(30);

/// A partition this node holds.
struct Held {
    rev: u64,
    /// When the lease was last renewed (or taken).
    renewed: Instant,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

/// An engine told to stop, not yet ended.
struct Stopping {
    task: JoinHandle<()>,
    /// The lease to delete once it ended (handed over); `None`: lost, nothing to delete.
    rev: Option<u64>,
    /// When it is aborted.
    deadline: Instant,
}

fn lease_value(node: &str, part: Option<&owner::Partition>) -> Vec<u8> {
    let v = match part {
        Some(p) => serde_json::json!({
            "node": node,
            "applied": p.applied.load(Ordering::Relaxed),
            "lag": p.lag.load(Ordering::Relaxed),
            "mentions": p.engine.lock().map(|e| e.stats.mentions).unwrap_or(0),
            "late": p.engine.lock().map(|e| e.stats.late).unwrap_or(0),
            "held": p.order.lock().ok().and_then(|o| o.as_ref().map(|o| o.clocks().buffered)).unwrap_or(0),
        }),
        None => serde_json::json!({ "node": node }),
    };
    serde_json::to_vec(&v).expect("JSON")
}

/// What the lease coordinator works with.
pub struct Coordinator {
    /// The connection and the cluster's resources.
    pub bus: Bus,
    /// What the node's parts share.
    pub shared: Arc<Shared>,
    /// This node's name.
    pub node: String,
    /// The leases' time to live.
    pub ttl: Duration,
    /// Taken to forget unshipped plans when the notifier role changes.
    pub ship_lock: share::ShipLock,
    /// The newest accepted `ts`: this node's goes out with the heartbeat, the others'
    /// come in.
    pub newest: Arc<super::Newest>,
}

/// The heartbeat's loop: this node's key in `cw_nodes` and the cluster's newest `ts`, every
/// `round`; `beat` is when the heartbeat was last taken.
///
/// The heartbeat says the node is alive *and* that its leases are looked after: when no
/// lease round ended within three `lease_ttl`s (a round whose every call times out takes
/// about two: the coordinator is stuck, or gone after a panic), it stops, the node's key
/// lapses and the other nodes take its partitions.
async fn heartbeat(
    c: Arc<Coordinator>,
    round: Duration,
    beat: Arc<Mutex<Instant>>,
    rounds: Arc<Mutex<Instant>>,
    stop: CancellationToken,
) {
    let started = crate::clock::wall_ms();
    loop {
        if rounds.lock().expect("rounds lock").elapsed() >= 3 * c.ttl {
            tracing::warn!("no lease round ended within three lease TTLs: heartbeat withheld");
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(round) => continue,
            }
        }
        let rules = c.shared.rules_digest.lock().expect("digest lock").clone();
        let value = serde_json::json!({
            "node": c.node, "started_ms": started, "listen": c.shared.cfg.listen.to_string(), "rules": rules,
        });
        let sent = Instant::now();
        match tokio::time::timeout(round, c.bus.nodes.put(&c.node, serde_json::to_vec(&value).expect("JSON").into()))
            .await
        {
            Ok(Ok(_)) => {
                *beat.lock().expect("beat lock") = sent;
                // in touch with the cluster: the heartbeat was taken, and the cluster's
                // newest `ts` read where `cw_meta`'s leader has it
                if tokio::time::timeout(round, share_newest(&c.bus, &c.newest)).await == Ok(true) {
                    if !c.shared.in_touch() {
                        c.newest.regained(crate::clock::wall_ms());
                    }
                    *c.shared.cluster_contact.lock().expect("contact lock") = Some(sent);
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "cluster heartbeat failed"),
            Err(_) => tracing::warn!("cluster heartbeat timed out"),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(round.saturating_sub(sent.elapsed())) => {}
        }
    }
}

/// `f`, given at most `round`; `None` when it took longer.
async fn within<T>(round: Duration, f: impl std::future::Future<Output = T>) -> Option<T> {
    tokio::time::timeout(round, f).await.ok()
}

/// The lease coordinator's loop (see the module documentation).
pub async fn coordinate(c: Coordinator, factory: EngineFactory, registry: Registry, stop: CancellationToken) {
    let c = Arc::new(c);
    let (bus, shared, node, ttl, ship_lock) = (&c.bus, &c.shared, &c.node, c.ttl, &c.ship_lock);
    let round = ttl / 3;
    let beat = Arc::new(Mutex::new(Instant::now()));
    // when the last round ended (the heartbeat stops when rounds do)
    let rounds = Arc::new(Mutex::new(Instant::now()));
    let beats = tokio::spawn(heartbeat(c.clone(), round, beat.clone(), rounds.clone(), stop.clone()));
    let mut held: BTreeMap<u32, Held> = BTreeMap::new();
    let mut stopping: BTreeMap<u32, Stopping> = BTreeMap::new();
    let mut notify_rev: Option<u64> = None;
    let mut live: Vec<String> = Vec::new();
    // whether the nodes' rules digests agreed at the last status (warned once per change)
    let mut rules_agreed = true;
    let spawn = |p: u32, held_stop: CancellationToken| {
        let (bus, shared, factory, registry) = (bus.clone(), shared.clone(), factory.clone(), registry.clone());
        tokio::spawn(async move {
            let res = owner::run(bus, shared, p, factory, registry, held_stop).await;
            if let Err(e) = res {
                tracing::error!(partition = p, error = format!("{e:#}"), "partition engine failed; restarting it");
            }
        })
    };
    loop {
        let round_start = Instant::now();
        let fenced = beat.lock().expect("beat lock").elapsed() >= ttl;
        // the live nodes; when they cannot be read, the last set read stands (a node that
        // took itself for the only one would only try leases the others still hold)
        let listed = async {
            let keys = bus.nodes.keys().await.map_err(|e| e.to_string())?;
            keys.try_collect::<Vec<String>>().await.map_err(|e| e.to_string())
        };
        match within(round, listed).await {
            Some(Ok(mut k)) => {
                k.sort();
                live = k;
            }
            Some(Err(e)) => tracing::warn!(error = %e, "cannot list the cluster's nodes; keeping the last list"),
            None => tracing::warn!("listing the cluster's nodes timed out; keeping the last list"),
        }
        if !live.contains(node) && !fenced {
            live.push(node.clone());
            live.sort();
        }
        // engines that stopped: a handed-over lease is freed once the last snapshot is stored
        let ended: Vec<u32> = stopping
            .iter()
            .filter(|(_, s)| s.task.is_finished() || s.deadline <= Instant::now())
            .map(|(p, _)| *p)
            .collect();
        for p in ended {
            let s = stopping.remove(&p).expect("stopping");
            if !s.task.is_finished() {
                tracing::warn!(
                    partition = p,
                    "partition engine did not stop within {} s; aborted",
                    STOP_WAIT.as_secs()
                );
                s.task.abort();
            }
            if let Some(rev) = s.rev {
                let _ = within(round, bus.leases.delete_expect_revision(format!("p{p}"), Some(rev))).await;
                tracing::info!(partition = p, "partition handed over");
            }
        }
        let wants = |p: u32| !fenced && partition::owner(p, &live) == Some(node.as_str());
        // every renewal and every take of this round at once: a round lasts one NATS
        // timeout at most, however many partitions time out
        // (renewed: the round's start, before the renewal was sent; the server counts the
        // time to live from when it stored it)
        let renewals: BTreeMap<u32, Option<Result<u64, UpdateError>>> = {
            let asks = held.iter().filter(|(p, _)| wants(**p)).map(|(&p, h)| {
                let part = registry.lock().expect("registry lock").get(&p).cloned();
                let value = lease_value(node, part.as_deref());
                async move { (p, within(round, bus.leases.update(format!("p{p}"), value.into(), h.rev)).await) }
            });
            futures_util::future::join_all(asks).await.into_iter().collect()
        };
        let takes: BTreeMap<u32, u64> = {
            let asks = (0..bus.partitions)
                .filter(|p| wants(*p) && !held.contains_key(p) && !stopping.contains_key(p))
                .map(|p| async move {
                    let r = within(round, bus.leases.create(format!("p{p}"), lease_value(node, None).into())).await;
                    (p, r)
                });
            futures_util::future::join_all(asks)
                .await
                .into_iter()
                .filter_map(|(p, r)| match r {
                    Some(Ok(rev)) => Some((p, rev)),
                    _ => None,
                })
                .collect()
        };
        for p in 0..bus.partitions {
            let want = wants(p);
            if let Some(h) = held.get_mut(&p) {
                if h.task.is_finished() && want {
                    // the engine failed (a NATS hiccup): start it again from the snapshot
                    h.task = spawn(p, h.stop.clone());
                }
                let keep = match renewals.get(&p) {
                    Some(Some(Ok(rev))) => {
                        (h.rev, h.renewed) = (*rev, round_start);
                        true
                    }
                    // another revision: the lease lapsed, or another node holds it
                    Some(Some(Err(e))) if e.kind() == UpdateErrorKind::WrongLastRevision => false,
                    // failed at once (no server answering): tried again next round while the
                    // lease surely holds; unanswered for a round: it may have lapsed
                    Some(Some(Err(_))) => h.renewed.elapsed() < ttl / 2,
                    Some(None) => false,
                    // not wanted any more: handed over
                    None => false,
                };
                if !keep {
                    let h = held.remove(&p).expect("held");
                    h.stop.cancel();
                    if want {
                        tracing::warn!(partition = p, "partition lease lost");
                    }
                    let rev = (!want).then_some(h.rev);
                    stopping.insert(p, Stopping { task: h.task, rev, deadline: Instant::now() + STOP_WAIT });
                }
            } else if let Some(&rev) = takes.get(&p) {
                let s = stop.child_token();
                held.insert(p, Held { rev, renewed: round_start, task: spawn(p, s.clone()), stop: s });
                tracing::info!(partition = p, "partition taken");
            }
        }
        // the notifier: one node at a time
        let want_notify = !fenced && partition::owner(u32::MAX, &live) == Some(node.as_str());
        let sent = Instant::now();
        notify_rev = match (notify_rev, want_notify) {
            (Some(rev), true) => within(round, bus.leases.update(NOTIFY_KEY, lease_value(node, None).into(), rev))
                .await
                .and_then(Result::ok),
            (None, true) => {
                within(round, bus.leases.create(NOTIFY_KEY, lease_value(node, None).into())).await.and_then(Result::ok)
            }
            (Some(rev), false) => {
                // planner and shipping of plans stopped before the next notifier can start
                if let Err(e) = share::set_notifying(shared, ship_lock, false).await {
                    tracing::error!(error = format!("{e:#}"), "giving up the notifier role");
                }
                let _ = within(round, bus.leases.delete_expect_revision(NOTIFY_KEY, Some(rev))).await;
                None
            }
            (None, false) => None,
        };
        // held until half the time to live after this renewal was sent (`Shared::notifying`)
        *shared.notify_until.lock().expect("notify_until lock") =
            Some(if notify_rev.is_some() { sent + ttl / 2 } else { sent });
        // a new notifier starts once it holds a full copy of its predecessor's outbox
        let active = shared.notify_active.load(Ordering::Relaxed);
        let ready = notify_rev.is_some()
            && (active
                || within(round, share::outbox_caught_up(bus, shared)).await.is_some_and(|r| r.unwrap_or(false)));
        if let Err(e) = share::set_notifying(shared, ship_lock, ready).await {
            tracing::error!(error = format!("{e:#}"), "the notifier role could not change");
        }
        if let Some(Some(status)) = within(round, status(bus, node, &live, notify_rev.is_some())).await {
            let agree = status["rules_agree"].as_bool().unwrap_or(true);
            if !agree && rules_agreed {
                tracing::warn!(rules = %status["rules"], "the nodes run different rules files: reload or redeploy them alike");
            }
            rules_agreed = agree;
            *shared.cluster_status.lock().expect("status lock") = Some(status);
        }
        *rounds.lock().expect("rounds lock") = Instant::now();
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(round.saturating_sub(round_start.elapsed())) => {}
        }
    }
    // hand everything over: snapshot, then free the leases for the others
    if let Err(e) = share::set_notifying(shared, ship_lock, false).await {
        tracing::error!(error = format!("{e:#}"), "giving up the notifier role");
    }
    for h in held.values() {
        h.stop.cancel();
    }
    // an engine that does not stop in time is aborted before its lease is freed
    for (p, mut h) in std::mem::take(&mut held) {
        if tokio::time::timeout(STOP_WAIT, &mut h.task).await.is_err() {
            h.task.abort();
        }
        let _ = within(round, bus.leases.delete_expect_revision(format!("p{p}"), Some(h.rev))).await;
    }
    for (p, mut s) in std::mem::take(&mut stopping) {
        if tokio::time::timeout(s.deadline.saturating_duration_since(Instant::now()), &mut s.task).await.is_err() {
            s.task.abort();
        }
        if let Some(rev) = s.rev {
            let _ = within(round, bus.leases.delete_expect_revision(format!("p{p}"), Some(rev))).await;
        }
    }
    if let Some(rev) = notify_rev {
        let _ = within(round, bus.leases.delete_expect_revision(NOTIFY_KEY, Some(rev))).await;
    }
    let _ = beats.await;
    let _ = within(round, bus.nodes.delete(node)).await;
    tracing::info!("left the cluster");
}

/// The key of `cw_meta` holding the newest `ts` the cluster accepted.
const NEWEST_KEY: &str = "newest_ts";

/// Reads the newest `ts` the cluster accepted from `cw_meta` and writes it back, raised to
/// this node's own, with compare-and-set on the revision read. True when the write went
/// through: only then was the value read the cluster's latest. A read alone is not enough:
/// a server just back from a cut answered for a while from its own stale copy (a stress run
/// on three hosts, seed 60: the healed node read its own day-old value, took itself for in
/// touch and refused a day of mentions as a clock jump), and a write is decided by the
/// stream's leader with a quorum. A write that loses to another node's makes this round fail;
/// the next one reads again. The key never expires, unlike the heartbeats, which all lapse
/// together when the cluster stalls.
async fn share_newest(bus: &Bus, newest: &super::Newest) -> bool {
    use async_nats::jetstream::stream::LastRawMessageErrorKind;
    let Ok(stream) = bus.js.get_stream_no_info("KV_cw_meta").await else { return false };
    // another node's write between the read and the write: read again (five times at most)
    for _ in 0..5 {
        let (value, revision) = match stream.get_last_raw_message_by_subject(&format!("$KV.cw_meta.{NEWEST_KEY}")).await
        {
            Ok(m) => {
                let v = std::str::from_utf8(&m.payload).ok().and_then(|t| t.parse::<i64>().ok()).unwrap_or(i64::MIN);
                (v, m.sequence)
            }
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => (i64::MIN, 0),
            Err(_) => return false,
        };
        let value = value.max(newest.here());
        // revision 0: the key must not exist yet
        match bus.meta.update(NEWEST_KEY, value.to_string().into(), revision).await {
            Ok(_) => {
                newest.saw(value);
                return true;
            }
            Err(e) if e.kind() == async_nats::jetstream::kv::UpdateErrorKind::WrongLastRevision => continue,
            Err(_) => return false,
        }
    }
    false
}

/// `/v1/cluster`: the nodes, and each partition's owner and progress, from the leases.
async fn status(bus: &Bus, node: &str, live: &[String], notifier: bool) -> Option<serde_json::Value> {
    let mut parts = Vec::new();
    for p in 0..bus.partitions {
        let v = bus.leases.get(format!("p{p}")).await.ok()?;
        let lease: serde_json::Value = v.and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
        parts.push(serde_json::json!({
            "partition": p,
            "owner": lease.get("node"),
            "applied_seq": lease.get("applied"),
            "lag": lease.get("lag"),
            "mentions": lease.get("mentions"),
            "late": lease.get("late"),
            "held": lease.get("held"),
        }));
    }
    let notify = bus.leases.get(NOTIFY_KEY).await.ok().flatten();
    let notify: serde_json::Value = notify.and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
    // each live node's rules digest, from its heartbeat
    let mut rules = serde_json::Map::new();
    for k in live {
        if let Ok(Some(v)) = bus.nodes.get(k).await {
            let beat: serde_json::Value = serde_json::from_slice(&v).unwrap_or_default();
            if let Some(d) = beat["rules"].as_str() {
                rules.insert(k.clone(), d.into());
            }
        }
    }
    let rules_agree = rules.values().filter_map(|d| d.as_str()).collect::<std::collections::BTreeSet<_>>().len() <= 1;
    Some(serde_json::json!({
        "node": node,
        "nodes": live,
        "partition_count": bus.partitions,
        "notifier": notify.get("node"),
        "this_node_notifies": notifier,
        "partitions": parts,
        "rules": rules,
        "rules_agree": rules_agree,
    }))
}
