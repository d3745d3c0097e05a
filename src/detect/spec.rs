//! What a detector tests: the metric ([`DetectorKind`], with its kind-specific
//! parameters) and the guards that keep it from firing on a handful of posts. Built by
//! `rules` from the rule files; read by the detectors and the engine.
//!
//! Pure; imports only `window` (the window lengths).

/// Which metric a rule tests, with its kind-specific parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum DetectorKind {
    /// Mention count against the negative binomial baseline.
    Volume,
    /// Negative count given the window count, against the beta-binomial baseline share.
    Negative,
    /// Sum of reach weights against its compound baseline.
    Reach,
    /// Silence: no mentions where the baseline expected many.
    Flatline {
        /// Minimum expected mentions in the silent stretch before silence is news.
        min_expected: f64,
    },
}

impl DetectorKind {
    /// Metric name used in alert events.
    pub fn metric(&self) -> &'static str {
        match self {
            DetectorKind::Volume => "volume",
            DetectorKind::Negative => "negative",
            DetectorKind::Reach => "reach",
            DetectorKind::Flatline { .. } => "flatline",
        }
    }

    /// Indices into [`super::window::WINDOW_MINUTES`] this kind tests.
    pub fn windows(&self) -> &'static [usize] {
        match self {
            DetectorKind::Volume => &[0, 1, 2, 3],
            DetectorKind::Negative => &[1, 2, 3],
            DetectorKind::Reach => &[1, 2],
            DetectorKind::Flatline { .. } => &[2],
        }
    }
}

/// One detector: what it tests and its guards.
#[derive(Debug, Clone, PartialEq)]
pub struct Detector {
    /// What it tests.
    pub kind: DetectorKind,
    /// Never fire on fewer mentions (negatives for the tone rule) in the window.
    pub min_mentions: u32,
    /// Never fire unless observed ≥ this × expected.
    pub min_ratio: f64,
}
