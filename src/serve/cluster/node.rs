//! One node of the cluster: what runs beside the HTTP API in place of the single node's
//! sequencer and engine threads.
//!
//! * **Membership**: a heartbeat key in `cw_nodes` (TTL `lease_ttl`), renewed every third
//!   of it by its own task; the live nodes are the bucket's keys ([`super::leases`]).
//! * **Partition leases** (KV `cw_leases`, TTL `lease_ttl`, compare-and-set; [`super::leases`]): each round,
//!   for every partition, the node that rendezvous hashing picks among the live nodes
//!   creates the lease `p<N>` (create fails while another holds it) and runs the partition's
//!   engine ([`super::owner`]); the holder renews it with the revision it holds, and
//!   a node that is no longer the pick stops the engine (snapshot) and deletes the lease, so
//!   the pick takes over at its next round. A renewal refused (another revision) stops
//!   the engine at once, one unanswered for half a TTL too. Leases in a KV bucket work on
//!   every JetStream server (Debian ships 2.9); consumer priority groups with pinned
//!   clients (2.11+) would hand over a consumer, not the engine's state and its snapshot,
//!   and would tie the cluster to a newer server.
//! * **Notifications** are planned and sent by one node, the holder of the `notify` lease
//!   (picked the same way); the others keep a copy of its outbox ([`share`]).
//! * **What the nodes share** ([`share`]): the alert events, projected into every node's
//!   SQLite store, and people's actions, shipped from the node that took them to all others.
//! * **Queries** of the engines (`/v1/brands`, series, the dashboard's brands page) are
//!   answered from the partitions this node runs.

use super::bus;
use super::engines::{self, EngineFactory, NextRouter};
use super::leases::{coordinate, Coordinator};
use super::owner::Registry;
use super::partition::Router;
use super::publish::{self, Publisher};
use super::query::{self, Answer, Question};
use super::reloads;
use super::share;
use crate::rules::RuleSet;
use crate::serve::pipeline::{EngineMsg, Shared, WriterMsg};
use crate::store;
use anyhow::Context as _;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

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
                    // a later owner must not replay the records before the reload with the
                    // new rules: each owner snapshots at its next step (the owner only: a
                    // snapshot taken here could hold a record it does not count as applied)
                    for part in rebuilt {
                        part.snapshot_due.store(true, Ordering::Relaxed);
                    }
                }
                let _ = reply.send(res.map(|(report, _)| report));
            }
            EngineMsg::Records { .. } => {}
            EngineMsg::Shutdown => return,
        }
    }
}
