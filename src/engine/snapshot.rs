//! Engine snapshots: the learned and running state of every brand (baselines, windows,
//! incidents, the 24 h minute history) in a versioned, rule-independent form, so that the
//! live service can stop and start without forgetting what it has learned.
//!
//! State is keyed by brand id, scope key and rule name, not by position: a snapshot taken
//! under one rule set restores into another, and state whose rule or scope is gone is dropped
//! (and counted) rather than attached to the wrong rule.

use crate::detect::baseline::Baseline;
use crate::detect::window::{Bucket, MinuteHistory, Windows};
use crate::engine::incident::Incident;
use crate::engine::EngineStats;
use crate::time::Millis;
use serde::{Deserialize, Serialize};

/// Format version; bumped when the layout changes (older snapshots are then refused, and the
/// service rebuilds from its ingest log).
pub const SNAPSHOT_VERSION: u32 = 1;

/// Everything the engine needs to continue where it stopped.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EngineSnapshot {
    /// [`SNAPSHOT_VERSION`] at the time of writing.
    pub version: u32,
    /// Event-time clock.
    pub now: Millis,
    /// Its minute.
    pub now_min: i64,
    /// Minute of the last silence scan.
    pub last_flatline_scan: i64,
    /// Counters.
    pub stats: EngineStats,
    /// Per brand.
    pub brands: Vec<BrandSnapshot>,
    /// Open incidents in the order they are re-tested: (brand id, rule key).
    pub open: Vec<(String, String)>,
    /// Silence rules by due minute: (due, brand id, rule key).
    pub silence: Vec<(i64, String, String)>,
}

/// One brand's state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BrandSnapshot {
    /// Brand id.
    pub id: String,
    /// Per scope, by its key suffix (`""` for the whole brand).
    pub scopes: Vec<(String, ScopeSnapshot)>,
    /// Per rule, by rule key (`name` + scope key suffix): its incident and last exact test.
    pub rules: Vec<(String, Incident, Millis)>,
    /// Per-minute counts of the last 24 h, when the brand has had mentions.
    pub history: Option<MinuteHistory>,
}

/// One scope's windows and baseline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScopeSnapshot {
    /// Rolling windows.
    pub windows: Windows,
    /// Learned baseline.
    pub baseline: Baseline,
    /// Hours not yet learned.
    pub hours: [(i64, Bucket); 2],
    /// Next hour to learn.
    pub next_hour: i64,
    /// Last minute with a mention.
    pub last_seen: i64,
    /// Approximate distinct-author table.
    pub authors: Vec<(u32, u32)>,
}

/// What a restore did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreReport {
    /// Brands restored.
    pub brands: usize,
    /// Scopes restored.
    pub scopes: usize,
    /// Incidents restored open.
    pub open_incidents: usize,
    /// Scope or rule states dropped because the rules no longer have them.
    pub dropped: usize,
}

/// Encodes a snapshot (postcard: compact, versioned by [`SNAPSHOT_VERSION`]).
///
/// # Errors
/// Never in practice (all types serialise); kept for the encoder's contract.
pub fn encode(s: &EngineSnapshot) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_stdvec(s)
}

/// Decodes a snapshot, refusing other versions.
///
/// # Errors
/// When the bytes are not a snapshot of this version.
pub fn decode(bytes: &[u8]) -> Result<EngineSnapshot, String> {
    let s: EngineSnapshot = postcard::from_bytes(bytes).map_err(|e| format!("unreadable snapshot: {e}"))?;
    if s.version != SNAPSHOT_VERSION {
        return Err(format!("snapshot version {} (this build reads {SNAPSHOT_VERSION})", s.version));
    }
    Ok(s)
}
