//! The alert event (DESIGN §3, schema `crisiswatch.alert.v1`): one JSON object per incident
//! state change, written by `replay`, sent by the notifiers and stored by the service.

use crate::alert::explain::{TopPost, TopTerm};
pub use crate::detect::Severity;
use serde::{Deserialize, Serialize};

/// Incident status carried by an event.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The incident opened.
    Firing,
    /// Its severity went up.
    Escalated,
    /// A person acknowledged it.
    Acknowledged,
    /// The metric is back within baseline.
    Resolved,
}

impl Status {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Firing => "firing",
            Status::Escalated => "escalated",
            Status::Acknowledged => "acknowledged",
            Status::Resolved => "resolved",
        }
    }

    /// The status named `s` (as [`Status::as_str`] writes it).
    pub fn parse(s: &str) -> Option<Status> {
        [Status::Firing, Status::Escalated, Status::Acknowledged, Status::Resolved]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// A suggested first response (filled in by the playbooks).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SuggestedResponse {
    /// Language of the draft.
    pub lang: String,
    /// The draft.
    pub text: String,
}

/// One alert event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AlertEvent {
    /// Always `crisiswatch.alert.v1`.
    pub schema: String,
    /// Incident id, stable across its events.
    pub id: String,
    /// `brand/rule` plus scope.
    pub dedup_key: String,
    /// What changed.
    pub status: Status,
    /// How urgent.
    pub severity: Severity,
    /// Brand id.
    pub brand: String,
    /// Brand display name (extension).
    pub brand_name: String,
    /// Rule name.
    pub rule: String,
    /// `volume`, `negative`, `reach`, `flatline`.
    pub metric: String,
    /// RFC 3339 event time of the change.
    pub at: String,
    /// Window tested.
    pub window_start: String,
    /// Window tested (end, exclusive).
    pub window_end: String,
    /// Observed value in the window.
    pub observed: f64,
    /// Baseline expectation for the window.
    pub expected: f64,
    /// Tail probability of `observed` under the baseline model.
    pub p_value: f64,
    /// Anomaly score in [0, 1]; 0.5 at the significance level.
    pub score: f64,
    /// Negative share in the window.
    pub negative_share: f64,
    /// The brand's usual negative share.
    pub baseline_negative_share: f64,
    /// Mentions in the window (extension).
    pub mentions: u32,
    /// Of which re-shares (extension).
    pub reshares: u32,
    /// Approximate distinct authors in the window (extension).
    pub authors: u32,
    /// Where the window's tones came from: `provider`, `model`, `mixed` or `none` (extension).
    pub tone_source: String,
    /// Posts that drive it.
    pub top_posts: Vec<TopPost>,
    /// Over-represented terms.
    pub top_terms: Vec<TopTerm>,
    /// Crisis category (`other` until the playbooks classify).
    pub category: String,
    /// First-response drafts.
    pub suggested_responses: Vec<SuggestedResponse>,
    /// Per-minute mention counts of the last hour, oldest first: the curve (extension).
    pub curve: Vec<u32>,
    /// Mentions in the window by source network, largest first: the source mix (extension).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<(String, u32)>,
    /// When the brand's realised alarm rate ran above its budget and its thresholds were
    /// tightened: the factor (0.1 to 1) on its false-alarm level. Absent when not tightened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tightened: Option<f64>,
}
