//! How urgent an incident is: the grades the detectors assign (see
//! [`super::detectors::severity`]) and every later stage reads.
//!
//! Pure; imports nothing of the crate.

use serde::{Deserialize, Serialize};

/// How urgent an incident is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth a look (includes benign bursts such as a campaign going well).
    Watch,
    /// Needs a response.
    Warning,
    /// Needs a response now, up the ladder.
    Critical,
}

impl Severity {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Watch => "watch",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    /// The severity named `s` (as [`Severity::as_str`] writes it).
    pub fn parse(s: &str) -> Option<Severity> {
        [Severity::Watch, Severity::Warning, Severity::Critical].into_iter().find(|x| x.as_str() == s)
    }
}
