//! `serve --cluster`: the service as one of any number of identical nodes on NATS
//! JetStream, so that no single process or disk holds the only copy of anything.
//!
//! * [`partition`] (pure): mentions to partitions by brand, partitions to owners
//!   (rendezvous hashing), idempotent message ids;
//! * [`bus`]: the connection and the JetStream resources (streams, buckets), created by
//!   whichever node comes first and checked by the others;
//! * [`publish`]: ingest on any node: validated requests are routed and published to the
//!   mention stream, `202` once JetStream acknowledged every record;
//! * [`engines`]: how this node builds partition engines, and rebuilds them on a reload;
//! * [`owner`]: one partition's engine: restore its snapshot, replay the stream after it,
//!   follow the stream, publish alert events, snapshot;
//! * [`node`]: one node: its tasks and threads, the queries of the engines;
//! * [`leases`]: membership (the heartbeat), partition leases, starting and stopping
//!   owners, the notifier lease and `/v1/cluster`;
//! * [`share`]: the alert stream projected into this node's SQLite store; people's actions
//!   (acknowledge, escalate, resolve), silences and the notifier's outbox shipped to and
//!   applied from the other nodes;
//! * [`query`]: brand status and series from every node's partitions, for `/v1/brands`
//!   and the dashboard on any node;
//! * [`links`]: signed links used once in the whole cluster;
//! * [`brands`]: the brand cap (`max_new_brands`) counted once for the whole cluster;
//! * [`reloads`]: a reload on one node asked of every other;
//! * [`respond`]: answering the other nodes' requests (for `query` and `reloads`).
//!
//! The design, its guarantees and what it does not do yet are in `docs/deployment.md`.

pub mod brands;
pub mod bus;
pub mod engines;
pub mod leases;
pub mod links;
pub mod node;
pub mod owner;
pub mod partition;
pub mod publish;
pub mod query;
pub mod reloads;
pub mod reorder;
pub mod respond;
pub mod share;

use crate::time::{minute_of, Millis};
use std::sync::atomic::{AtomicI64, Ordering};

/// The event clock across partitions. Each partition's engine moves its clock with its own
/// mentions only, so the ingest nodes carry time to all of them: before the first mention
/// of a minute not marked yet, a clock record `#t <ts>` goes to every partition, so every
/// engine enters the minute where one engine seeing all brands would (and counts a late
/// mention as late, as that engine would). Wall-clock clusters need none: each partition's
/// owner ticks its own partition.
#[derive(Debug, Default, Clone)]
pub struct Clock {
    marked_min: Option<i64>,
}

impl Clock {
    /// The start of the newest minute marked (`i64::MIN` before the first): the event clock
    /// admission measures lateness against.
    pub fn marked(&self) -> Millis {
        self.marked_min.map_or(i64::MIN, |m| m * crate::time::MINUTE_MS)
    }

    /// The clock record to publish to every partition before a mention at `ts`, if `ts`
    /// starts a minute not marked yet.
    pub fn mark(&mut self, ts: Millis) -> Option<String> {
        let m = minute_of(ts);
        if self.marked_min.is_some_and(|k| k >= m) {
            return None;
        }
        self.marked_min = Some(m);
        Some(format!("#t {ts}"))
    }
}

/// The newest `ts` the cluster accepted, which each ingest node's `max_clock_jump` measures
/// against: `here`, the newest this node's requests had acknowledged, is raised into the
/// key `newest_ts` of `cw_meta` at each heartbeat; `seen`, that key's value, comes back,
/// confirmed by a compare-and-set write ([`leases`]). Without it, a node that was cut off or restarted measured against its
/// own last request: after a day away it refused every mention as a clock jump.
///
/// `regained`: when (wall ms) the node last came back in touch after being out. For a
/// while after that its view may still be behind (a stress run on three hosts, seed 100:
/// the healed node read and confirmed the key's value before the others had written theirs
/// again, and refused a day of mentions as clock jumps), so a clock jump is then answered
/// `503` (retry) instead of refused.
#[derive(Debug)]
pub struct Newest {
    here: AtomicI64,
    seen: AtomicI64,
    regained: AtomicI64,
}

impl Default for Newest {
    fn default() -> Self {
        Newest { here: AtomicI64::new(i64::MIN), seen: AtomicI64::new(i64::MIN), regained: AtomicI64::new(i64::MIN) }
    }
}

impl Newest {
    /// The node came back in touch with the cluster at `now` (wall ms).
    pub fn regained(&self, now: Millis) {
        self.regained.store(now, Ordering::Relaxed);
    }

    /// Whether the node came back in touch less than `window` ms before `now`.
    pub fn regained_within(&self, now: Millis, window: Millis) -> bool {
        now.saturating_sub(self.regained.load(Ordering::Relaxed)) < window
    }

    /// This node's requests were acknowledged up to `ts`.
    pub fn accepted(&self, ts: Millis) {
        self.here.fetch_max(ts, Ordering::Relaxed);
    }

    /// The newest `ts` this node accepted (`i64::MIN` before any).
    pub fn here(&self) -> Millis {
        self.here.load(Ordering::Relaxed)
    }

    /// Another node says it accepted up to `ts`.
    pub fn saw(&self, ts: Millis) {
        self.seen.fetch_max(ts, Ordering::Relaxed);
    }

    /// The newest `ts` other nodes said they accepted (`i64::MIN` before any).
    pub fn seen(&self) -> Millis {
        self.seen.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::Newest;

    #[test]
    fn the_newest_ts_only_grows() {
        let n = Newest::default();
        assert_eq!((n.here(), n.seen()), (i64::MIN, i64::MIN));
        n.accepted(50);
        n.accepted(40);
        n.saw(70);
        n.saw(60);
        assert_eq!((n.here(), n.seen()), (50, 70));
    }
}
