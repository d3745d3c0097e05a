//! One node of the cluster: what runs beside the HTTP API in place of the single node's
//! sequencer and engine threads.
//!
//! * **Membership**: a heartbeat key in `cw_nodes` (TTL `lease_ttl`), renewed every third
//!   of it; the live nodes are the bucket's keys.
//! * **Partition leases** (KV `cw_leases`, TTL `lease_ttl`, compare-and-set): each round,
//!   for every partition, the node that rendezvous hashing picks among the live nodes
//!   creates the lease `p<N>` (create fails while another holds it) and runs the partition's
//!   engine ([`owner`]); the holder renews it with the revision it holds, and
//!   a node that is no longer the pick stops the engine (snapshot) and deletes the lease, so
//!   the pick takes over at its next round. A renewal refused (another revision) or
//!   impossible for a whole TTL stops the engine at once. Leases in a KV bucket work on
//!   every JetStream server (Debian ships 2.9); consumer priority groups with pinned
//!   clients (2.11+) would hand over a consumer, not the engine's state and its snapshot,
//!   and would tie the cluster to a newer server.
//! * **Notifications** are planned and sent by one node, the holder of the `notify` lease
//!   (picked the same way); the others keep a copy of its outbox ([`share`]).
//! * **What the nodes share** ([`share`]): the alert events, projected into every node's
//!   SQLite store, and people's actions, shipped from the node that took them to all others.
//! * **Queries** of the engines (`/v1/brands`, series, the dashboard's brands page) are
//!   answered from the partitions this node runs.

use super::bus::{self, Bus};
use super::engines::{self, EngineFactory, NextRouter};
use super::owner::{self, Registry};
use super::partition::{self, Router};
use super::publish::{self, Publisher};
use super::query::{self, Answer, Question};
use super::reloads;
use super::share;
use crate::rules::RuleSet;
use crate::serve::pipeline::{EngineMsg, Shared, WriterMsg};
use crate::store;
use anyhow::Context as _;
use futures_util::TryStreamExt;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The lease key of the notifier.
const NOTIFY_KEY: &str = "notify";

/// The running node; [`NodeHandle::stop`] hands its partitions over.
pub struct NodeHandle {
    /// The cluster's record of signed links used, for the link routes.
    pub link_uses: Arc<dyn crate::serve::links::SharedUses>,
    client: async_nats::Client,
    node: String,
    shared: Arc<Shared>,
    stop: CancellationToken,
    rt: tokio::runtime::Runtime,
    tasks: Vec<JoinHandle<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl NodeHandle {
    /// Answers the other nodes' reload requests with `reloader`; the other nodes, for
    /// `reloader` to ask after each of its reloads.
    pub fn serve_reloads(
        &mut self,
        reloader: Arc<crate::serve::reload::Reloader>,
    ) -> Arc<dyn crate::serve::reload::Peers> {
        let answer = reloads::answer(self.client.clone(), self.node.clone(), reloader, self.stop.clone());
        self.tasks.push(self.rt.spawn(answer));
        Arc::new(reloads::NatsPeers::new(self.client.clone(), self.node.clone(), self.shared.clone()))
    }

    /// Stops the node: its engines snapshot and release their leases, the publisher and
    /// the query thread end (the caller sent the publisher `Shutdown`).
    pub fn stop(self) {
        self.stop.cancel();
        for t in self.threads {
            let _ = t.join();
        }
        let tasks = self.tasks;
        self.rt.block_on(async move {
            for t in tasks {
                let _ = tokio::time::timeout(Duration::from_secs(30), t).await;
            }
        });
        self.rt.shutdown_timeout(Duration::from_secs(5));
    }
}

/// This node's name: `[cluster] node`, else the host name and the listen port.
pub fn node_name(shared: &Shared) -> String {
    if let Some(n) = shared.cfg.cluster.as_ref().and_then(|c| c.node.clone()) {
        return n;
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_else(|_| "node".into());
    let host: String =
        host.trim().chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).take(48).collect();
    format!("{host}-{}", shared.cfg.listen.port())
}

/// Connects to the cluster and starts the node: the publisher (taking `writer_rx`), the
/// query thread (taking `engine_rx`), the lease coordinator and the alert projection.
///
/// # Errors
/// No NATS server answers, the cluster's settings differ, the store cannot be opened.
#[allow(clippy::too_many_arguments)]
pub fn start(
    shared: Arc<Shared>,
    rules: &RuleSet,
    tone: Box<dyn crate::tone::ToneModel>,
    playbooks: Option<Arc<crate::alert::playbook::Playbooks>>,
    configured: &[String],
    writer_rx: Receiver<WriterMsg>,
    engine_rx: Receiver<EngineMsg>,
    engine_tx: Sender<EngineMsg>,
) -> anyhow::Result<NodeHandle> {
    let cfg = shared.cfg.cluster.clone().context("not in cluster mode")?;
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).thread_name("cluster").enable_all().build()?;
    let node = node_name(&shared);
    let bus = rt.block_on(bus::connect(&cfg, &node, shared.cfg.dedup_window))?;
    let db = shared.db_path.clone();
    let conn = store::open(&db, false)?;
    store::installation::adopt(&conn, &bus.installation)?;
    share::forget_unshipped(&shared)?;
    tracing::info!(node = %node, partitions = bus.partitions, replicas = cfg.replicas, servers = %cfg.servers.join(","),
        installation = %bus.installation, "cluster node connected");
    let link_uses = Arc::new(super::links::KvUses::new(bus.links.clone(), node.clone()));
    let registry: Registry = Arc::new(Mutex::new(BTreeMap::new()));
    let factory = EngineFactory::new(rules, tone, playbooks, db.clone(), bus.partitions);
    factory.build(0)?; // fail at start, not in a partition task
    let stop = CancellationToken::new();
    let router = Router::new(rules, bus.partitions).context("cannot build the keyword matcher")?;
    let next_router: NextRouter = Arc::default();
    let newest: Arc<super::Newest> = Arc::default();
    let publisher = Publisher::new(
        shared.clone(),
        bus.clone(),
        router,
        next_router.clone(),
        configured,
        newest.clone(),
        store::open(&db, false)?,
    );
    let handle = rt.handle().clone();
    let publisher = std::thread::Builder::new().name("publisher".into()).spawn(move || {
        publish::run(publisher, handle, writer_rx);
        let _ = engine_tx.send(EngineMsg::Shutdown);
    })?;
    let queries = {
        let q = Queries {
            registry: registry.clone(),
            partitions: bus.partitions,
            client: bus.client.clone(),
            bus: bus.clone(),
            factory: factory.clone(),
            next_router,
            handle: rt.handle().clone(),
            shared: shared.clone(),
            node: node.clone(),
        };
        std::thread::Builder::new().name("queries".into()).spawn(move || run_queries(engine_rx, &q))?
    };
    let answers =
        rt.spawn(query::answer(bus.client.clone(), node.clone(), registry.clone(), bus.partitions, stop.clone()));
    let ship_lock = share::ShipLock::default();
    let coordinator = rt.spawn(coordinate(
        Coordinator {
            bus: bus.clone(),
            shared: shared.clone(),
            node,
            ttl: cfg.lease_ttl,
            ship_lock: ship_lock.clone(),
            newest,
        },
        factory,
        registry.clone(),
        stop.clone(),
    ));
    let name = node_name(&shared);
    let projection = rt.spawn(share::project_alerts(bus.clone(), shared.clone(), stop.clone()));
    let shipper = rt.spawn(share::ship_actions(bus.clone(), shared.clone(), name.clone(), stop.clone()));
    let applier = rt.spawn(share::apply_actions(bus.clone(), shared.clone(), name.clone(), stop.clone()));
    let outbox = rt.spawn(share::ship_outbox(bus.clone(), shared.clone(), name.clone(), ship_lock, stop.clone()));
    let copies = rt.spawn(share::apply_outbox(bus.clone(), shared.clone(), name.clone(), stop.clone()));
    let silences_out = rt.spawn(share::ship_silences(bus.clone(), shared.clone(), name.clone(), stop.clone()));
    let silences_in = rt.spawn(share::apply_silences(bus.clone(), shared.clone(), name.clone(), stop.clone()));
    let planned_out = rt.spawn(share::ship_planned(bus.clone(), shared.clone(), name.clone(), stop.clone()));
    let planned_in =
        rt.spawn(share::apply_planned(bus.clone(), shared.clone(), name.clone(), registry.clone(), stop.clone()));
    Ok(NodeHandle {
        link_uses,
        client: bus.client.clone(),
        node: name.clone(),
        shared: shared.clone(),
        stop,
        rt,
        tasks: vec![
            coordinator,
            answers,
            projection,
            shipper,
            applier,
            outbox,
            copies,
            silences_out,
            silences_in,
            planned_out,
            planned_in,
        ],
        threads: vec![publisher, queries],
    })
}

/// What the queries thread works with.
struct Queries {
    registry: Registry,
    partitions: u32,
    client: async_nats::Client,
    /// For the snapshots after a reload.
    bus: Bus,
    /// Rebuilds the engines on a reload.
    factory: EngineFactory,
    /// The publisher's router after a reload.
    next_router: NextRouter,
    handle: tokio::runtime::Handle,
    shared: Arc<Shared>,
    /// This node's name.
    node: String,
}

impl Queries {
    /// `q` answered from this node's partitions, with the other live nodes' answers for
    /// theirs merged in (all of them, or only until one has it: `first`).
    fn ask(&self, q: &Question, first: bool) -> Answer {
        let mine = query::local(q, &self.registry, self.partitions);
        if first && matches!(mine, Answer::Series(Some(_))) {
            return mine;
        }
        let others: Vec<String> = {
            let status = self.shared.cluster_status.lock().expect("status lock");
            let live = status.as_ref().and_then(|s| s["nodes"].as_array().cloned()).unwrap_or_default();
            live.iter().filter_map(|n| n.as_str()).filter(|n| *n != self.node).map(str::to_string).collect()
        };
        let mut answers = vec![mine];
        if !others.is_empty() {
            answers.extend(self.handle.block_on(query::ask(&self.client, &others, q)));
        }
        query::merge(q, answers)
    }
}

/// Answers the engine queries from every partition: this node's own and, asked over NATS,
/// the other nodes' (`query`). Planned events go to this node's partitions.
fn run_queries(rx: Receiver<EngineMsg>, q: &Queries) {
    let series = |brand: String, minutes: i64| match q.ask(&Question::Series { brand, minutes }, true) {
        Answer::Series(s) => s,
        _ => None,
    };
    while let Ok(msg) = rx.recv() {
        match msg {
            EngineMsg::Status(reply) => {
                if let Answer::Status(all) = q.ask(&Question::Status, false) {
                    let _ = reply.send(all);
                }
            }
            EngineMsg::Overview(minutes, reply) => {
                if let Answer::Overview(all) = q.ask(&Question::Overview { minutes }, false) {
                    let _ = reply.send(all);
                }
            }
            EngineMsg::Series(id, minutes, reply) => {
                let _ = reply.send(series(id, minutes));
            }
            EngineMsg::SeriesBlocking(id, minutes, reply) => {
                let _ = reply.send(series(id, minutes));
            }
            EngineMsg::Planned(all) => {
                for p in q.registry.lock().expect("registry lock").values() {
                    p.engine.lock().expect("engine lock").set_planned(all.clone());
                }
            }
            EngineMsg::Reload { rules, playbooks, reply } => {
                let res = engines::reload(&q.factory, &q.registry, &q.next_router, &rules, playbooks);
                if let Ok((_, rebuilt)) = &res {
                    // a later owner must not replay the records before the reload with the new rules
                    for part in rebuilt {
                        if let Err(e) = q.handle.block_on(owner::snapshot_now(&q.bus, part)) {
                            tracing::warn!(
                                partition = part.id,
                                error = format!("{e:#}"),
                                "no snapshot after the reload"
                            );
                        }
                    }
                }
                let _ = reply.send(res.map(|(report, _)| report));
            }
            EngineMsg::Records { .. } => {}
            EngineMsg::Shutdown => return,
        }
    }
}

/// A partition this node holds.
struct Held {
    rev: u64,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

fn lease_value(node: &str, part: Option<&owner::Partition>) -> Vec<u8> {
    let v = match part {
        Some(p) => serde_json::json!({
            "node": node,
            "applied": p.applied.load(Ordering::Relaxed),
            "lag": p.lag.load(Ordering::Relaxed),
            "mentions": p.engine.lock().map(|e| e.stats.mentions).unwrap_or(0),
        }),
        None => serde_json::json!({ "node": node }),
    };
    serde_json::to_vec(&v).expect("JSON")
}

/// What the lease coordinator works with.
struct Coordinator {
    bus: Bus,
    shared: Arc<Shared>,
    /// This node's name.
    node: String,
    /// The leases' time to live.
    ttl: Duration,
    /// Taken to forget unshipped plans when the notifier role changes.
    ship_lock: share::ShipLock,
    /// The newest accepted `ts`: this node's goes out with the heartbeat, the others'
    /// come in.
    newest: Arc<super::Newest>,
}

/// The lease coordinator's loop (see the module documentation).
async fn coordinate(c: Coordinator, factory: EngineFactory, registry: Registry, stop: CancellationToken) {
    let Coordinator { bus, shared, node, ttl, ship_lock, newest } = c;
    let round = ttl / 3;
    let mut held: BTreeMap<u32, Held> = BTreeMap::new();
    let mut notify_rev: Option<u64> = None;
    let mut last_heartbeat = Instant::now();
    let mut live: Vec<String> = Vec::new();
    let started = crate::clock::wall_ms();
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
        let rules = shared.rules_digest.lock().expect("digest lock").clone();
        let beat = serde_json::json!({
            "node": node, "started_ms": started, "listen": shared.cfg.listen.to_string(), "rules": rules,
        });
        let beat_taken = match bus.nodes.put(&node, serde_json::to_vec(&beat).expect("JSON").into()).await {
            Ok(_) => {
                last_heartbeat = Instant::now();
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "cluster heartbeat failed");
                false
            }
        };
        let fenced = last_heartbeat.elapsed() >= ttl;
        // the live nodes; when they cannot be read, the last set read stands (a node that
        // took itself for the only one would only try leases the others still hold)
        let listed = async {
            let keys = bus.nodes.keys().await.map_err(|e| e.to_string())?;
            keys.try_collect::<Vec<String>>().await.map_err(|e| e.to_string())
        };
        match tokio::time::timeout(round, listed).await {
            Ok(Ok(mut k)) => {
                k.sort();
                live = k;
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot list the cluster's nodes; keeping the last list"),
            Err(_) => tracing::warn!("listing the cluster's nodes timed out; keeping the last list"),
        }
        // in touch with the cluster: this round's heartbeat was taken, and the cluster's
        // newest `ts` read where `cw_meta`'s leader has it
        if beat_taken && tokio::time::timeout(round, share_newest(&bus, &newest)).await == Ok(true) {
            *shared.cluster_contact.lock().expect("contact lock") = Some(last_heartbeat);
        }
        if !live.contains(&node) && !fenced {
            live.push(node.clone());
            live.sort();
        }
        for p in 0..bus.partitions {
            let key = format!("p{p}");
            let want = !fenced && partition::owner(p, &live) == Some(node.as_str());
            if let Some(h) = held.get_mut(&p) {
                if h.task.is_finished() && want {
                    // the engine failed (a NATS hiccup): start it again from the snapshot
                    h.task = spawn(p, h.stop.clone());
                }
                let part = registry.lock().expect("registry lock").get(&p).cloned();
                let renewed = if want {
                    bus.leases.update(&key, lease_value(&node, part.as_deref()).into(), h.rev).await.ok()
                } else {
                    None
                };
                match renewed {
                    Some(rev) => h.rev = rev,
                    None => {
                        let h = held.remove(&p).expect("held");
                        h.stop.cancel();
                        let _ = tokio::time::timeout(Duration::from_secs(30), h.task).await;
                        if !want {
                            let _ = bus.leases.delete_expect_revision(&key, Some(h.rev)).await;
                            tracing::info!(partition = p, "partition handed over");
                        } else {
                            tracing::warn!(partition = p, "partition lease lost");
                        }
                    }
                }
            } else if want {
                if let Ok(rev) = bus.leases.create(&key, lease_value(&node, None).into()).await {
                    let s = stop.child_token();
                    held.insert(p, Held { rev, task: spawn(p, s.clone()), stop: s });
                    tracing::info!(partition = p, "partition taken");
                }
            }
        }
        // the notifier: one node at a time
        let want_notify = !fenced && partition::owner(u32::MAX, &live) == Some(node.as_str());
        let sent = Instant::now();
        notify_rev = match (notify_rev, want_notify) {
            (Some(rev), true) => bus.leases.update(NOTIFY_KEY, lease_value(&node, None).into(), rev).await.ok(),
            (None, true) => bus.leases.create(NOTIFY_KEY, lease_value(&node, None).into()).await.ok(),
            (Some(rev), false) => {
                // planner and shipping of plans stopped before the next notifier can start
                if let Err(e) = share::set_notifying(&shared, &ship_lock, false).await {
                    tracing::error!(error = format!("{e:#}"), "giving up the notifier role");
                }
                let _ = bus.leases.delete_expect_revision(NOTIFY_KEY, Some(rev)).await;
                None
            }
            (None, false) => None,
        };
        // held until half the time to live after this renewal was sent (`Shared::notifying`)
        *shared.notify_until.lock().expect("notify_until lock") =
            Some(if notify_rev.is_some() { sent + ttl / 2 } else { sent });
        // a new notifier starts once it holds a full copy of its predecessor's outbox
        let active = shared.notify_active.load(Ordering::Relaxed);
        let ready = notify_rev.is_some() && (active || share::outbox_caught_up(&bus, &shared).await.unwrap_or(false));
        if let Err(e) = share::set_notifying(&shared, &ship_lock, ready).await {
            tracing::error!(error = format!("{e:#}"), "the notifier role could not change");
        }
        if let Some(status) = status(&bus, &node, &live, notify_rev.is_some()).await {
            let agree = status["rules_agree"].as_bool().unwrap_or(true);
            if !agree && rules_agreed {
                tracing::warn!(rules = %status["rules"], "the nodes run different rules files: reload or redeploy them alike");
            }
            rules_agreed = agree;
            *shared.cluster_status.lock().expect("status lock") = Some(status);
        }
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(round) => {}
        }
    }
    // hand everything over: snapshot, then free the leases for the others
    if let Err(e) = share::set_notifying(&shared, &ship_lock, false).await {
        tracing::error!(error = format!("{e:#}"), "giving up the notifier role");
    }
    for (p, h) in std::mem::take(&mut held) {
        h.stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(30), h.task).await;
        let _ = bus.leases.delete_expect_revision(&format!("p{p}"), Some(h.rev)).await;
    }
    if let Some(rev) = notify_rev {
        let _ = bus.leases.delete_expect_revision(NOTIFY_KEY, Some(rev)).await;
    }
    let _ = bus.nodes.delete(&node).await;
    tracing::info!("left the cluster");
}

/// The key of `cw_meta` holding the newest `ts` the cluster accepted.
const NEWEST_KEY: &str = "newest_ts";

/// Reads the newest `ts` the cluster accepted from `cw_meta`, as the bucket's leader has it
/// (a replica that was cut off may hold an old value), and raises it to this node's own
/// with compare-and-set when that is newer. True when the value was read. The key never
/// expires, unlike the heartbeats, which all lapse together when the cluster stalls: read
/// from them, a node back from a cut found no one else's and took its old clock for the
/// cluster's.
async fn share_newest(bus: &Bus, newest: &super::Newest) -> bool {
    use async_nats::jetstream::stream::LastRawMessageErrorKind;
    let Ok(stream) = bus.js.get_stream_no_info("KV_cw_meta").await else { return false };
    let (value, revision) = match stream.get_last_raw_message_by_subject(&format!("$KV.cw_meta.{NEWEST_KEY}")).await {
        Ok(m) => {
            let v = std::str::from_utf8(&m.payload).ok().and_then(|t| t.parse::<i64>().ok()).unwrap_or(i64::MIN);
            (v, Some(m.sequence))
        }
        Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => (i64::MIN, None),
        Err(_) => return false,
    };
    newest.saw(value);
    let mine = newest.here();
    if mine > value {
        // another node's write in between wins; this one's goes in at the next round
        let value = mine.to_string();
        let _written = match revision {
            Some(rev) => bus.meta.update(NEWEST_KEY, value.into(), rev).await.is_ok(),
            None => bus.meta.create(NEWEST_KEY, value.into()).await.is_ok(),
        };
    }
    true
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
