//! Engine snapshots: the learned and running state of every brand (baselines, windows,
//! incidents, the 24 h minute history) in a versioned, rule-independent form, so that the
//! live service can stop and start without forgetting what it has learned.
//!
//! State is keyed by brand id, scope key and rule name, not by position: a snapshot taken
//! under one rule set restores into another, and state whose rule or scope is gone is dropped
//! (and counted) rather than attached to the wrong rule.

use super::scope::{RuleState, AUTHOR_SLOTS};
use crate::detect::baseline::Baseline;
use crate::detect::calibrate::BudgetGuard;
use crate::detect::tracker::{Priors, ScopeCalibration};
use crate::detect::window::{Bucket, MinuteHistory, Windows};
use crate::detect::Expectation;
use crate::engine::incident::Incident;
use crate::engine::EngineStats;
use crate::time::Millis;
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;

/// Format version; bumped when the layout changes (older snapshots are then refused, and the
/// service rebuilds from its ingest log).
pub const SNAPSHOT_VERSION: u32 = 2;

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
    /// Tail priors pooled over the warm scopes, and the minute they were pooled.
    pub priors: (Priors, i64),
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
    /// The brand's budget guard.
    pub guard: BudgetGuard,
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
    /// Learned dispersions and tails.
    pub cal: ScopeCalibration,
    /// The current minute's expectation and thresholds, and that minute.
    pub ex: (Expectation, i64),
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
pub fn decode(bytes: &[u8]) -> Result<EngineSnapshot, SnapshotError> {
    let s: EngineSnapshot = postcard::from_bytes(bytes).map_err(SnapshotError::Unreadable)?;
    if s.version != SNAPSHOT_VERSION {
        return Err(SnapshotError::Version(s.version));
    }
    Ok(s)
}

/// Why a stored snapshot cannot be used (the service then replays the whole log).
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Not a snapshot, or a damaged one.
    #[error("unreadable snapshot: {0}")]
    Unreadable(#[source] postcard::Error),
    /// Written by a build with another snapshot format.
    #[error("snapshot version {0} (this build reads {SNAPSHOT_VERSION})")]
    Version(u32),
}

impl super::Engine {
    /// The engine's state for a snapshot. The post log (explanations) is not included.
    pub fn snapshot(&self) -> EngineSnapshot {
        let rule_key = |r: &RuleState| format!("{}{}", r.rule.name, r.rule.scope.key_suffix());
        let brands = self
            .brands
            .iter()
            .filter(|b| b.history.is_some() || b.scopes.iter().any(|s| s.last_seen != i64::MIN))
            .map(|b| BrandSnapshot {
                id: b.id.clone(),
                scopes: b
                    .scope_defs
                    .iter()
                    .zip(&b.scopes)
                    .filter(|(_, s)| s.next_hour != i64::MIN)
                    .map(|(d, s)| {
                        (
                            d.key_suffix(),
                            ScopeSnapshot {
                                windows: s.windows.clone(),
                                baseline: s.baseline.clone(),
                                hours: s.hours,
                                next_hour: s.next_hour,
                                last_seen: s.last_seen,
                                authors: s.authors.to_vec(),
                                cal: s.cal.clone(),
                                ex: (s.ex, s.ex_minute),
                            },
                        )
                    })
                    .collect(),
                rules: b.rules.iter().map(|r| (rule_key(r), r.incident.clone(), r.last_exact)).collect(),
                history: b.history.clone(),
                guard: b.guard,
            })
            .collect();
        let silence = self
            .silence_queue
            .iter()
            .map(|Reverse((due, b, ri))| {
                let brand = &self.brands[*b as usize];
                (*due, brand.id.clone(), rule_key(&brand.rules[*ri as usize]))
            })
            .collect();
        let open = self
            .open
            .iter()
            .map(|&(b, ri)| {
                let brand = &self.brands[b as usize];
                (brand.id.clone(), rule_key(&brand.rules[ri]))
            })
            .collect();
        EngineSnapshot {
            version: SNAPSHOT_VERSION,
            open,
            now: self.now,
            now_min: self.now_min,
            last_flatline_scan: self.last_flatline_scan,
            stats: self.stats.clone(),
            brands,
            silence,
            priors: (self.priors, self.priors_minute),
        }
    }

    /// Restores a snapshot into a freshly built engine (same or changed rules). State whose
    /// scope or rule no longer exists is dropped and counted.
    pub fn restore(&mut self, snap: EngineSnapshot) -> RestoreReport {
        let mut report = RestoreReport::default();
        self.now = snap.now;
        self.now_min = snap.now_min;
        self.last_flatline_scan = snap.last_flatline_scan;
        self.stats = snap.stats;
        (self.priors, self.priors_minute) = snap.priors;
        self.open.clear();
        self.silence_queue.clear();
        let rule_key = |r: &RuleState| format!("{}{}", r.rule.name, r.rule.scope.key_suffix());
        for bs in snap.brands {
            let b = self.brand_by_id(&bs.id);
            report.brands += 1;
            let brand = &mut self.brands[b as usize];
            brand.history = bs.history;
            brand.guard = bs.guard;
            for (key, ss) in bs.scopes {
                let Some(si) = brand.scope_defs.iter().position(|d| d.key_suffix() == key) else {
                    report.dropped += 1;
                    continue;
                };
                let mut authors = [(0, 0); AUTHOR_SLOTS];
                for (slot, a) in authors.iter_mut().zip(ss.authors) {
                    *slot = a;
                }
                let scope = &mut brand.scopes[si];
                scope.windows = ss.windows;
                scope.baseline = ss.baseline;
                scope.hours = ss.hours;
                scope.next_hour = ss.next_hour;
                scope.last_seen = ss.last_seen;
                scope.authors = authors;
                scope.cal = ss.cal;
                (scope.ex, scope.ex_minute) = ss.ex;
                report.scopes += 1;
            }
            for (key, incident, last_exact) in bs.rules {
                let Some(ri) = brand.rules.iter().position(|r| rule_key(r) == key) else {
                    report.dropped += 1;
                    continue;
                };
                if incident.as_open().is_some() {
                    let si = brand.rules[ri].scope;
                    brand.scopes[si].open_incidents += 1;
                    report.open_incidents += 1;
                }
                brand.rules[ri].incident = incident;
                brand.rules[ri].last_exact = last_exact;
            }
        }
        // open incidents are re-tested in their old order, so that events come out identically
        for (id, key) in snap.open {
            let Some(&b) = self.by_id.get(&id) else { continue };
            let brand = &self.brands[b as usize];
            if let Some(ri) = brand.rules.iter().position(|r| rule_key(r) == key && r.incident.as_open().is_some()) {
                self.open.push((b, ri));
            }
        }
        for (due, id, key) in snap.silence {
            let Some(&b) = self.by_id.get(&id) else { continue };
            if let Some(ri) = self.brands[b as usize].rules.iter().position(|r| rule_key(r) == key) {
                self.silence_queue.push(Reverse((due, b, ri as u32)));
            }
        }
        report
    }
}
