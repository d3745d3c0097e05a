//! The brand cap (`max_new_brands`) across a cluster. A single node counts the brands it
//! created from mentions' `brand` fields; a cluster counts them once for all nodes, in the
//! `cw_brands` bucket: a key per created brand (`b.<hash>`) and a `count` of them, both
//! replicated and kept. A node admits a brand it does not know yet by reading its key (it
//! exists: another node created it) or else by taking a place under the cap: the count
//! raised by compare-and-set, then the brand's key created. Reads go to the bucket's leader,
//! so a replica back from a cut cannot hand out places already taken.
//!
//! Every place is taken before its brand's key exists, so the count never falls below the
//! brands: two nodes that create one brand at once take two places and the loser gives its
//! back; a node that dies between the two steps leaves one place taken for nothing (the cap
//! errs on the side of refusing). A reload that configures a brand created from mentions
//! frees its place, as on a single node (the first node to delete its key gives the place
//! back). Each node remembers the brands it saw, so a known brand costs no request.

use super::bus::Bus;
use crate::serve::order::BrandMemory;
use async_nats::jetstream::kv::{CreateErrorKind, UpdateErrorKind};
use async_nats::jetstream::stream::LastRawMessageErrorKind;

/// The key of the number of places taken.
const COUNT: &str = "count";

/// How often a node tries to raise the count against other nodes' raises before the
/// request fails (and the client retries).
const ATTEMPTS: usize = 50;

/// The key of a created brand.
fn key(h: u64) -> String {
    format!("b.{h:016x}")
}

/// The brands this node knows, and the cluster's cap.
pub struct Brands {
    local: BrandMemory,
    cap: usize,
    /// The cluster's count, as last read.
    count: usize,
}

/// What the leader holds for a key: its value and revision, or nothing (never written, or
/// deleted).
async fn read(bus: &Bus, key: &str) -> Result<Option<(Vec<u8>, u64)>, String> {
    let stream =
        bus.js.get_stream_no_info("KV_cw_brands").await.map_err(|e| format!("cannot read the brand bucket: {e}"))?;
    match stream.get_last_raw_message_by_subject(&format!("$KV.cw_brands.{key}")).await {
        Ok(m) => {
            let deleted = m.headers.get("KV-Operation").is_some_and(|op| matches!(op.as_str(), "DEL" | "PURGE"));
            Ok((!deleted).then(|| (m.payload.to_vec(), m.sequence)))
        }
        Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(None),
        Err(e) => Err(format!("cannot read the brand bucket: {e}")),
    }
}

/// The count in the leader's hands and its revision (`None`: never written).
async fn count(bus: &Bus) -> Result<(usize, Option<u64>), String> {
    Ok(match read(bus, COUNT).await? {
        Some((v, rev)) => (std::str::from_utf8(&v).ok().and_then(|t| t.parse().ok()).unwrap_or(0), Some(rev)),
        None => (0, None),
    })
}

/// Moves the count by `delta` (+1: takes a place; −1: gives one back); `Ok(None)` when a
/// place was asked for and none is left (`cap` reached).
async fn move_count(bus: &Bus, delta: i64, cap: usize) -> Result<Option<usize>, String> {
    for _ in 0..ATTEMPTS {
        let (n, rev) = count(bus).await?;
        if delta > 0 && n >= cap {
            return Ok(None);
        }
        let next = (n as i64 + delta).max(0) as usize;
        let written = match rev {
            Some(rev) => bus.brands.update(COUNT, next.to_string().into(), rev).await.map_err(|e| match e.kind() {
                UpdateErrorKind::WrongLastRevision => None,
                _ => Some(e.to_string()),
            }),
            None => bus.brands.create(COUNT, next.to_string().into()).await.map_err(|e| match e.kind() {
                CreateErrorKind::AlreadyExists => None,
                _ => Some(e.to_string()),
            }),
        };
        match written {
            Ok(_) => return Ok(Some(next)),
            Err(None) => continue, // another node moved it first: read again
            Err(Some(e)) => return Err(format!("cannot update the brand count: {e}")),
        }
    }
    Err(format!("the brand count changed under this node {ATTEMPTS} times in a row; retry"))
}

impl Brands {
    /// A node's view: the `configured` brands, and `cap` brands at most created from
    /// `brand` fields across the cluster.
    pub fn new<'a>(configured: impl IntoIterator<Item = &'a str>, cap: usize) -> Self {
        Brands { local: BrandMemory::new(configured, usize::MAX), cap, count: 0 }
    }

    /// The brands created from `brand` fields across the cluster, as last read.
    pub fn created(&self) -> usize {
        self.count
    }

    /// Admits brand hash `h`: `Ok(Ok(()))` when it is configured, known or created now;
    /// `Ok(Err(cap))` when the cluster's cap is reached.
    ///
    /// # Errors
    /// The cluster did not answer (the request fails and is retried whole).
    pub async fn admit(&mut self, bus: &Bus, h: u64) -> Result<Result<(), usize>, String> {
        if self.local.knows(h) {
            return Ok(Ok(()));
        }
        let k = key(h);
        if read(bus, &k).await?.is_some() {
            self.local.know_hash(h);
            return Ok(Ok(()));
        }
        match move_count(bus, 1, self.cap).await? {
            Some(n) => self.count = n,
            None => {
                self.count = self.cap;
                // created by another node since the first read?
                if read(bus, &k).await?.is_some() {
                    self.local.know_hash(h);
                    return Ok(Ok(()));
                }
                return Ok(Err(self.cap));
            }
        }
        match bus.brands.create(&k, Vec::new().into()).await {
            Ok(_) => {}
            Err(e) if e.kind() == CreateErrorKind::AlreadyExists => {
                // another node created it at the same time and holds a place for it
                if let Some(n) = move_count(bus, -1, self.cap).await? {
                    self.count = n;
                }
            }
            Err(e) => {
                // the place stays taken if this fails too: the cap errs on refusing
                let _ = move_count(bus, -1, self.cap).await;
                return Err(format!("cannot record a new brand: {e}"));
            }
        }
        self.local.know_hash(h);
        Ok(Ok(()))
    }

    /// A reload configured brands `ids`: those created from `brand` fields before give
    /// their places back (the node that deletes a key first moves the count).
    ///
    /// # Errors
    /// The cluster did not answer; the local view is updated anyway, and a later reload
    /// frees what this one could not.
    pub async fn configure(&mut self, bus: &Bus, ids: &[String]) -> Result<(), String> {
        let new: Vec<u64> =
            ids.iter().map(|id| crate::hash::fnv1a(id.as_bytes())).filter(|h| !self.local.is_configured(*h)).collect();
        self.local.configure(ids.iter().map(String::as_str));
        for h in new {
            let k = key(h);
            let Some((_, rev)) = read(bus, &k).await? else { continue };
            if bus.brands.delete_expect_revision(&k, Some(rev)).await.is_ok() {
                if let Some(n) = move_count(bus, -1, self.cap).await? {
                    self.count = n;
                }
            }
        }
        Ok(())
    }
}
