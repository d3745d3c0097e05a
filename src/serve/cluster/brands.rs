//! The brand cap (`max_new_brands`) across a cluster. A single node counts the brands it
//! created from mentions' `brand` fields; a cluster counts them once for all nodes, in the
//! `cw_brands` bucket: a key per created brand (`b.<hash>`) and a `count` of them, both
//! replicated and kept. A node admits a brand it does not know yet by reading its key (it
//! exists: another node created it) or else by taking a place under the cap: the count
//! raised by compare-and-set, then the brand's key created. Every read goes to the bucket's
//! leader, so a replica back from a cut cannot hand out places already taken, and each write
//! carries this node's tag, so a write whose answer was lost is read back to learn whether
//! it landed.
//!
//! Every place is taken before its brand's key exists, so the count never falls below the
//! brands: two nodes that create one brand at once take two places and the loser gives its
//! back; a node that dies between the two steps leaves one place taken for nothing (the cap
//! errs on the side of refusing). A reload that configures a brand created from mentions
//! frees its place, as on a single node (the node that marks its key `freed` first gives the
//! place back; what a reload could not free is tried again at the next).
//!
//! Each node remembers the brands it saw, so a known brand costs no request; a request's
//! unknown brands are looked up together ([`Brands::prefetch`], one lookup each, 64 at a
//! time, in every request that names them: a brand refused at the cap costs its lookup
//! again), and once the cap is found full a node refuses new brands for a second without
//! reading the count again.

use super::bus::Bus;
use crate::serve::order::BrandMemory;
use async_nats::jetstream::kv::UpdateErrorKind;
use async_nats::jetstream::stream::LastRawMessageErrorKind;
use futures_util::StreamExt;
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// The key of the number of places taken.
const COUNT: &str = "count";

/// The value of a brand's key once a reload gave its place back (then it counts as absent).
const FREED: &str = "freed";

/// How often a node tries to raise the count against other nodes' raises before the
/// request fails (and the client retries).
const ATTEMPTS: usize = 50;

/// How long a full cap is taken as still full without reading the count again.
const FULL_FOR: Duration = Duration::from_secs(1);

/// Lookups of a request's unknown brands in flight at once.
const LOOKUPS: usize = 64;

/// The key of a created brand.
fn key(h: u64) -> String {
    format!("b.{h:016x}")
}

/// A key as the bucket's leader holds it.
enum Entry {
    /// Written and not deleted: its value and revision.
    Live(Vec<u8>, u64),
    /// Never written (revision 0) or deleted (the delete marker's revision).
    Absent(u64),
}

/// Reads `key` from the bucket's leader.
async fn read(bus: &Bus, key: &str) -> Result<Entry, String> {
    let stream =
        bus.js.get_stream_no_info("KV_cw_brands").await.map_err(|e| format!("cannot read the brand bucket: {e}"))?;
    match stream.get_last_raw_message_by_subject(&format!("$KV.cw_brands.{key}")).await {
        Ok(m) => {
            let deleted = m.headers.get("KV-Operation").is_some_and(|op| matches!(op.as_str(), "DEL" | "PURGE"));
            // a brand whose place a reload gave back holds `freed …`
            let freed = m.payload.starts_with(FREED.as_bytes());
            Ok(if deleted || freed { Entry::Absent(m.sequence) } else { Entry::Live(m.payload.to_vec(), m.sequence) })
        }
        Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(Entry::Absent(0)),
        Err(e) => Err(format!("cannot read the brand bucket: {e}")),
    }
}

/// Writes `value` to `key` if the leader still holds revision `rev` there (0: nothing):
/// `Ok(true)` written, `Ok(false)` another node's write came first. A write whose answer is
/// lost is read back: `value` is unique to this attempt, so finding it means it landed,
/// finding another value that another write came first; finding nothing, or no answer
/// again, is an error (the outcome is unknown, or nothing was written).
async fn write(bus: &Bus, key: &str, value: &str, rev: u64) -> Result<bool, String> {
    match bus.brands.update(key, value.to_string().into(), rev).await {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => Ok(false),
        Err(e) => match read(bus, key).await {
            Ok(Entry::Live(v, _)) if v == value.as_bytes() => Ok(true),
            Ok(Entry::Live(..)) => Ok(false),
            _ => Err(format!("cannot write to the brand bucket: {e}")),
        },
    }
}

/// The brands this node knows, and the cluster's cap.
pub struct Brands {
    local: BrandMemory,
    cap: usize,
    /// The cluster's count, as last read.
    count: usize,
    /// When the cap was last found full.
    full_at: Option<Instant>,
    /// Configured brands whose place a reload could not give back yet.
    to_free: HashSet<u64>,
    /// Places freed (their keys marked) whose count was not yet moved down.
    owed: usize,
    /// This node's tag for its writes, and a counter making each write's value unique.
    tag: String,
    writes: u64,
}

impl Brands {
    /// A node's view: the `configured` brands, and `cap` brands at most created from
    /// `brand` fields across the cluster.
    pub fn new<'a>(configured: impl IntoIterator<Item = &'a str>, cap: usize) -> Self {
        let tag = crate::serve::auth::random_hex()[..16].to_string();
        Brands {
            local: BrandMemory::new(configured, usize::MAX),
            cap,
            count: 0,
            full_at: None,
            to_free: HashSet::new(),
            owed: 0,
            tag,
            writes: 0,
        }
    }

    /// The brands created from `brand` fields across the cluster, as last read.
    pub fn created(&self) -> usize {
        self.count
    }

    /// A value no other write has: `<prefix> <nonce>/<n>`.
    fn value(&mut self, prefix: &str) -> String {
        self.writes += 1;
        format!("{prefix} {}/{}", self.tag, self.writes)
    }

    /// The count in the leader's hands and its revision (0: never written).
    async fn count(&mut self, bus: &Bus) -> Result<(usize, u64), String> {
        Ok(match read(bus, COUNT).await? {
            Entry::Live(v, rev) => {
                let n = std::str::from_utf8(&v).ok().and_then(|t| t.split(' ').next()?.parse().ok()).unwrap_or(0);
                self.count = n;
                (n, rev)
            }
            Entry::Absent(rev) => (0, rev),
        })
    }

    /// Moves the count by one (`up`: takes a place; else gives one back); `Ok(false)` when
    /// a place was asked for and none is left.
    async fn move_count(&mut self, bus: &Bus, up: bool) -> Result<bool, String> {
        for _ in 0..ATTEMPTS {
            let (n, rev) = self.count(bus).await?;
            if up && n >= self.cap {
                self.full_at = Some(Instant::now());
                return Ok(false);
            }
            let next = if up { n + 1 } else { n.saturating_sub(1) };
            let value = self.value(&next.to_string());
            if write(bus, COUNT, &value, rev).await? {
                self.count = next;
                return Ok(true);
            }
            // another node moved it first: read again
        }
        Err(format!("the brand count changed under this node {ATTEMPTS} times in a row; retry"))
    }

    /// Looks up a request's brand hashes this node does not know, together (a request of
    /// many new brands costs one round trip per 64, not one each): those another
    /// node created become known.
    ///
    /// # Errors
    /// The cluster did not answer.
    pub async fn prefetch(&mut self, bus: &Bus, hashes: impl IntoIterator<Item = u64>) -> Result<(), String> {
        let mut unknown: Vec<u64> = hashes.into_iter().filter(|h| !self.local.knows(*h)).collect();
        unknown.sort_unstable();
        unknown.dedup();
        let found: Vec<Result<Option<u64>, String>> = futures_util::stream::iter(unknown)
            .map(|h| async move {
                Ok(match read(bus, &key(h)).await? {
                    Entry::Live(..) => Some(h),
                    Entry::Absent(_) => None,
                })
            })
            .buffer_unordered(LOOKUPS)
            .collect()
            .await;
        for f in found {
            if let Some(h) = f? {
                self.local.know_hash(h);
            }
        }
        Ok(())
    }

    /// Admits brand hash `h` (after [`Brands::prefetch`] of its request): `Ok(Ok(()))` when
    /// it is configured, known or created now; `Ok(Err(cap))` when the cluster's cap is
    /// reached.
    ///
    /// # Errors
    /// The cluster did not answer (the request fails and is retried whole).
    pub async fn admit(&mut self, bus: &Bus, h: u64) -> Result<Result<(), usize>, String> {
        if self.local.knows(h) {
            return Ok(Ok(()));
        }
        if self.full_at.is_some_and(|t| t.elapsed() < FULL_FOR) {
            return Ok(Err(self.cap));
        }
        let k = key(h);
        if !self.move_count(bus, true).await? {
            // created by another node since the request's lookup?
            if let Entry::Live(..) = read(bus, &k).await? {
                self.local.know_hash(h);
                return Ok(Ok(()));
            }
            return Ok(Err(self.cap));
        }
        // a place is taken: create the brand's key where the leader has none
        let created = match read(bus, &k).await {
            Ok(Entry::Absent(rev)) => {
                let value = self.value("brand");
                write(bus, &k, &value, rev).await
            }
            Ok(Entry::Live(..)) => Ok(false),
            Err(e) => Err(e),
        };
        match created {
            Ok(true) => {}
            // another node created it meanwhile and holds a place for it
            Ok(false) => {
                self.move_count(bus, false).await?;
            }
            // the key may exist or not: the place stays taken (the cap errs on refusing),
            // and the request fails, to be retried
            Err(e) => return Err(e),
        }
        self.local.know_hash(h);
        Ok(Ok(()))
    }

    /// A reload configured brands `ids`: those created from `brand` fields before give
    /// their places back (the node that marks a key `freed` first moves the count). At the
    /// first failure (the cluster does not answer) it stops; what is left is tried again at
    /// the next reload.
    ///
    /// # Errors
    /// The failure; the local view is updated anyway.
    pub async fn configure(&mut self, bus: &Bus, ids: &[String]) -> Result<(), String> {
        for h in ids.iter().map(|id| crate::hash::fnv1a(id.as_bytes())) {
            if !self.local.is_configured(h) {
                self.to_free.insert(h);
            }
        }
        self.local.configure(ids.iter().map(String::as_str));
        self.full_at = None;
        while self.owed > 0 {
            self.move_count(bus, false).await?;
            self.owed -= 1;
        }
        let mut left: Vec<u64> = self.to_free.iter().copied().collect();
        left.sort_unstable();
        for h in left {
            let k = key(h);
            if let Entry::Live(_, rev) = read(bus, &k).await? {
                let value = self.value(FREED);
                // written first by another node: that one gives the place back
                if write(bus, &k, &value, rev).await? {
                    self.owed += 1;
                }
            }
            self.to_free.remove(&h);
            while self.owed > 0 {
                self.move_count(bus, false).await?;
                self.owed -= 1;
            }
        }
        Ok(())
    }
}
