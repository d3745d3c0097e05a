//! Ingest on any node of a cluster: the cluster's counterpart of the sequencer. It takes the
//! same validated requests from the HTTP handlers and the sources ([`WriterMsg`]), applies
//! the same admission (clock limits, the brand cap, counted for the whole cluster by
//! [`super::brands`]), routes every accepted mention to its
//! partitions ([`Router`]) and publishes the records to the mention stream, each with its
//! message id, and answers `202` only once JetStream acknowledged every one of them.
//! JetStream's de-duplication window replaces the single node's id memory: a mention
//! published again (a client's retry, a source's re-fetch) is acknowledged as a duplicate.
//!
//! Requests are published one after another, in arrival order, so that the clock records
//! of an event-clock cluster ([`Clock`]) sit where the minutes begin.

use super::brands::Brands;
use super::bus::Bus;
use super::engines::NextRouter;
use super::partition::{self, Router};
use super::{Clock, Newest};
use crate::clock::wall_ms;
use crate::serve::config::ClockMode;
use crate::serve::error::IngestError;
use crate::serve::order::{brand_of, Clocks};
use crate::serve::pipeline::{order_limits, Receipt, Shared, WriterMsg};
use crate::store;
use async_nats::jetstream::context::PublishAckFuture;
use async_nats::jetstream::message::PublishMessage;
use rusqlite::Connection;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::sync::Arc;

/// The publisher's state.
pub struct Publisher {
    shared: Arc<Shared>,
    bus: Bus,
    router: Router,
    /// The router of a reload's rules, taken at the next request.
    next_router: NextRouter,
    brands: Brands,
    clock: Clock,
    /// Newest accepted `ts` (event clock: the base of `max_clock_jump`).
    newest: i64,
    /// The newest `ts` of the whole cluster, shared through `cw_meta` by the coordinator.
    cluster: Arc<Newest>,
    /// Since when requests fail on message ids "in process" at the stream's leader, and
    /// when this node last asked the leader to step down.
    in_process_since: Option<std::time::Instant>,
    stepped_down: Option<std::time::Instant>,
    /// The request being published failed on a message id "in process" (set by [`drain`]).
    in_process_failed: bool,
    store: Connection,
}

impl Publisher {
    /// A publisher for `configured` brands; `next_router` is where a reload leaves the
    /// router of its rules; `cluster` is where the coordinator brings the cluster's newest
    /// `ts` and takes this node's.
    pub fn new(
        shared: Arc<Shared>,
        bus: Bus,
        router: Router,
        next_router: NextRouter,
        configured: &[String],
        cluster: Arc<Newest>,
        store: Connection,
    ) -> Self {
        let brands = Brands::new(configured.iter().map(String::as_str), shared.cfg.max_new_brands);
        Publisher {
            shared,
            bus,
            router,
            next_router,
            brands,
            clock: Clock::default(),
            newest: i64::MIN,
            cluster,
            in_process_since: None,
            stepped_down: None,
            in_process_failed: false,
            store,
        }
    }

    /// Takes the router a reload left, if any.
    fn take_new_router(&mut self) {
        if let Some(r) = self.next_router.lock().expect("router lock").take() {
            self.router = r;
        }
    }

    /// Publishes one record, with its message id if any, and a mention with its `ts` (the
    /// [`TS_HEADER`](partition::TS_HEADER): the partition's reorder buffer need not parse it).
    async fn send(
        &self,
        subject: String,
        id: Option<String>,
        ts: Option<i64>,
        payload: Vec<u8>,
    ) -> Result<PublishAckFuture, String> {
        let mut msg = PublishMessage::build().payload(payload.into());
        if let Some(id) = id {
            msg = msg.message_id(id);
        }
        if let Some(ts) = ts {
            msg = msg.header(partition::TS_HEADER, ts.to_string());
        }
        self.bus.js.send_publish(subject, msg).await.map_err(|e| e.to_string())
    }

    /// A clock record to every partition.
    async fn tick_all(&self, rec: &str, acks: &mut Vec<(PublishAckFuture, Option<usize>)>) -> Result<(), String> {
        for p in 0..self.bus.partitions {
            acks.push((self.send(partition::subject(p), None, None, rec.as_bytes().to_vec()).await?, None));
        }
        Ok(())
    }

    /// One request: admit, route, publish, wait for every acknowledgement. A request that
    /// fails leaves the clocks as they were, so that the client's retry is admitted as the
    /// first attempt was (what the failed attempt stored is then answered as duplicates).
    async fn batch(
        &mut self,
        decoded: &crate::serve::ingest::Decoded,
        rejected: Vec<crate::serve::ingest::Rejected>,
        token: &str,
    ) -> Result<Receipt, IngestError> {
        self.take_new_router();
        if !self.shared.in_touch() {
            return Err(IngestError::Cluster(
                "this node is out of touch with the cluster; send to another node or retry".into(),
            ));
        }
        // what the other nodes accepted since: `max_clock_jump` measures against the
        // cluster's newest `ts` (lateness stays measured against this node's own clock: it
        // has no reorder buffer, and a cluster-wide clock refused concurrent requests that
        // a single node's buffer takes)
        self.newest = self.newest.max(self.cluster.seen());
        let saved = (self.clock.clone(), self.newest);
        let res = self.publish_batch(decoded, rejected, token).await;
        match &res {
            Ok(_) => {
                self.cluster.accepted(self.newest);
                self.in_process_since = None;
            }
            Err(_) => {
                (self.clock, self.newest) = saved;
                if std::mem::take(&mut self.in_process_failed) {
                    self.unstick().await;
                }
            }
        }
        res
    }

    /// A request failed on a message id "in process" at the mention stream's leader. Most
    /// often the first copy is being stored and the client's retry gets a duplicate ack;
    /// but after the cluster re-elects, a leader can keep a staged id whose proposal was
    /// lost, and answer every retry of that request with the same error until the id ages
    /// out of the de-duplication window (a stress run on three hosts, seed 83: no node
    /// took a request for two minutes after a heal). A leader change clears staged ids, so
    /// when the failures last [`STUCK_AFTER`], the node asks the leader to step down (at most
    /// once per [`STEPDOWN_EVERY`]).
    async fn unstick(&mut self) {
        let since = *self.in_process_since.get_or_insert_with(std::time::Instant::now);
        if since.elapsed() < STUCK_AFTER || self.stepped_down.is_some_and(|t| t.elapsed() < STEPDOWN_EVERY) {
            return;
        }
        self.stepped_down = Some(std::time::Instant::now());
        let subject = format!("$JS.API.STREAM.LEADER.STEPDOWN.{}", super::bus::MENTIONS);
        let ask = self.bus.client.request(subject, Vec::new().into());
        match tokio::time::timeout(std::time::Duration::from_secs(5), ask).await {
            Ok(Ok(m)) => tracing::warn!(
                answer = %String::from_utf8_lossy(&m.payload),
                "message ids stuck in process at the mention stream's leader for {} s: asked it to step down",
                since.elapsed().as_secs()
            ),
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot ask the mention stream's leader to step down"),
            Err(_) => tracing::warn!("no answer asking the mention stream's leader to step down"),
        }
    }

    async fn publish_batch(
        &mut self,
        decoded: &crate::serve::ingest::Decoded,
        rejected: Vec<crate::serve::ingest::Rejected>,
        token: &str,
    ) -> Result<Receipt, IngestError> {
        let now = wall_ms();
        let lim = order_limits(&self.shared.cfg);
        let event = self.shared.cfg.clock == ClockMode::Event;
        let m = &self.shared.metrics;
        let mut r = Receipt::default();
        let mut dead: Vec<store::DeadLetter> = rejected.into_iter().map(|x| (x.line, x.reason, x.raw)).collect();
        // per accepted mention: how many records it became and how many came back duplicate
        let mut copies: Vec<(usize, usize)> = Vec::new();
        let mut acks: Vec<(PublishAckFuture, Option<usize>)> = Vec::new();
        let mut routed = Vec::new();
        let mut start = 0usize;
        let fail = |e: String| IngestError::Cluster(e);
        // the request's brands this node does not know, looked up together
        self.brands.prefetch(&self.bus, decoded.index.iter().filter_map(|i| i.brand)).await.map_err(fail)?;
        for item in &decoded.index {
            let rec = &decoded.records[start..item.end as usize];
            start = item.end as usize;
            let marked = self.clock.marked();
            let clocks =
                Clocks { newest: self.newest, clock: if event { marked } else { now }, buffered: 0, buffered_bytes: 0 };
            let mut refuse = clocks.refuse(item.ts, now, &lim);
            if refuse.is_some() && event && item.ts > self.newest {
                // a clock jump, as this node sees the cluster: just back in touch, its view
                // may be behind the others' (they write theirs again within a round)
                let window = 2 * self.shared.cfg.cluster.as_ref().map_or(0, |c| c.lease_ttl.as_millis() as i64);
                if self.cluster.regained_within(now, window) {
                    return Err(IngestError::Cluster(
                        "this node came back in touch with the cluster moments ago and cannot tell a clock jump yet; retry"
                            .into(),
                    ));
                }
            }
            if refuse.is_some() {
                let c = if item.ts > self.newest.max(now) { &m.refused_future } else { &m.refused_late };
                c.fetch_add(1, Ordering::Relaxed);
            } else if let Some(b) = item.brand {
                let admitted = self.brands.admit(&self.bus, b).await.map_err(fail)?;
                m.brands_created.store(self.brands.created() as u64, Ordering::Relaxed);
                if let Err(cap) = admitted {
                    m.refused_brand.fetch_add(1, Ordering::Relaxed);
                    refuse = Some(format!(
                        "unknown brand {}: {cap} brands were already created from `brand` fields across the cluster (max_new_brands); configure it in the rules or raise the limit",
                        brand_of(rec)
                    ));
                }
            }
            if let Some(reason) = refuse {
                let line = item.line as usize;
                r.refused.push((line, reason.clone()));
                dead.push((line, reason, rec.strip_suffix(b"\n").unwrap_or(rec).to_vec()));
                continue;
            }
            if event {
                if let Some(tick) = self.clock.mark(item.ts) {
                    self.tick_all(&tick, &mut acks).await.map_err(fail)?;
                }
            }
            self.newest = self.newest.max(item.ts);
            routed.clear();
            self.router.route(rec, &mut routed).map_err(fail)?;
            let k = copies.len();
            copies.push((routed.len(), 0));
            for x in routed.drain(..) {
                let ack = self
                    .send(partition::subject(x.partition), Some(x.msg_id), Some(item.ts), x.record)
                    .await
                    .map_err(fail)?;
                acks.push((ack, Some(k)));
            }
            if acks.len() >= MAX_IN_FLIGHT {
                // JetStream bounds the acknowledgements awaited per connection
                drain(&mut acks, &mut copies, &mut self.in_process_failed).await.map_err(fail)?;
            }
        }
        drain(&mut acks, &mut copies, &mut self.in_process_failed).await.map_err(fail)?;
        // after the last acknowledgement: a request that fails is retried whole, and its
        // refused lines are recorded once, by the attempt that succeeds
        if !dead.is_empty() {
            store::record_dead_letter_groups(&mut self.store, &[(token.to_string(), dead)], now)
                .map_err(IngestError::DeadLetters)?;
        }
        for (n, dup) in copies {
            if n > 0 && dup == n {
                r.duplicates += 1;
            } else {
                r.accepted += 1;
            }
        }
        m.accepted.fetch_add(r.accepted as u64, Ordering::Relaxed);
        m.duplicates.fetch_add(r.duplicates as u64, Ordering::Relaxed);
        Ok(r)
    }

    /// A person resolved incident `id`: a `#r` record on its brand's partition.
    async fn resolve(&self, id: &str) -> Result<(), IngestError> {
        let brand: Option<String> = self
            .store
            .query_row("SELECT brand FROM incidents WHERE id = ?1", [id], |r| r.get(0))
            .map(Some)
            .or_else(|e| if e == rusqlite::Error::QueryReturnedNoRows { Ok(None) } else { Err(e) })
            .map_err(IngestError::DeadLetters)?;
        let Some(brand) = brand else {
            return Err(IngestError::Cluster(format!("incident {id} is not in this node's store yet")));
        };
        let p = partition::of(&brand, self.bus.partitions);
        let ack = self
            .send(partition::subject(p), Some(format!("#r {id}")), None, format!("#r {id}").into_bytes())
            .await
            .map_err(IngestError::Cluster)?;
        ack.await.map_err(|e| IngestError::Cluster(e.to_string()))?;
        Ok(())
    }
}

/// Whether a publish failed because its message id is staged at the stream's leader and
/// not stored yet (JetStream 10158, "duplicate message id is in process").
fn in_process(e: &async_nats::jetstream::context::PublishError) -> bool {
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<async_nats::jetstream::Error>())
        .is_some_and(|j| j.error_code() == async_nats::jetstream::ErrorCode::STREAM_DUPLICATE_MESSAGE_CONFLICT)
}

/// How long a message id may stay "in process" before the stream's leader is asked to step
/// down, and how often a node asks at most.
const STUCK_AFTER: std::time::Duration = std::time::Duration::from_secs(15);
const STEPDOWN_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Records of a request published and not yet acknowledged, at most: the client waits for
/// a permit beyond its own bound (5,000 per JetStream context, shared with the partition
/// owners' alert events), and a request of any size must not hold them all.
const MAX_IN_FLIGHT: usize = 1024;

/// Waits for every acknowledgement in `acks`, counting duplicates per mention in `copies`;
/// `stuck` is set when one failed on a message id "in process" ([`in_process`]).
async fn drain(
    acks: &mut Vec<(PublishAckFuture, Option<usize>)>,
    copies: &mut [(usize, usize)],
    stuck: &mut bool,
) -> Result<(), String> {
    for (ack, k) in acks.drain(..) {
        let a = ack.await.map_err(|e| {
            *stuck |= in_process(&e);
            e.to_string()
        })?;
        if let (true, Some(k)) = (a.duplicate, k) {
            copies[k].1 += 1;
        }
    }
    Ok(())
}

/// The publisher's loop (on its own thread, with a handle of the node's runtime); returns at
/// `Shutdown` or when every sender is gone.
pub fn run(mut p: Publisher, rt: tokio::runtime::Handle, rx: Receiver<WriterMsg>) {
    while let Ok(msg) = rx.recv() {
        match msg {
            WriterMsg::Batch { decoded, rejected, token, permit, reply, cursor } => {
                let res = rt.block_on(p.batch(&decoded, rejected, &token));
                if res.is_ok() {
                    if let Some(c) = cursor {
                        if let Err(e) = store::cursors::save(&p.store, &[c], wall_ms()) {
                            tracing::warn!(error = %e, "cannot store a source's cursor; it will fetch some items again");
                        }
                    }
                }
                if let Err(e) = &res {
                    tracing::warn!(error = %e, "a request was not taken by the cluster");
                }
                let _ = reply.send(res);
                drop(permit);
            }
            WriterMsg::Resolve { id, reply } => {
                let _ = reply.send(rt.block_on(p.resolve(&id)));
            }
            WriterMsg::Brands(ids) => {
                p.take_new_router();
                if let Err(e) = rt.block_on(p.brands.configure(&p.bus, &ids)) {
                    tracing::warn!(error = %e, "reload: the brands configured now keep their places under max_new_brands until a later reload");
                }
                p.shared.metrics.brands_created.store(p.brands.created() as u64, Ordering::Relaxed);
            }
            WriterMsg::Shutdown => return,
        }
    }
}
