//! Detection: the statistics of one brand scope, pure and in event time.
//!
//! * [`window`]: per-minute buckets and rolling window sums (5 min, 15 min, 1 h, 6 h);
//! * [`baseline`]: the learned expectation (level × time-of-week profile, dispersion, tone);
//! * [`stats`]: tail probabilities of the count models;
//! * [`calibrate`]: raw statistics, per-scale dispersion and self-calibrating tails;
//! * [`tracker`]: one scope's calibration state, learned per closed minute;
//! * [`planned`]: what a planned event (a launch, a campaign) adds to the expectation;
//! * [`spec`]: what a detector tests ([`DetectorKind`]) and its guards ([`Detector`]);
//! * [`detectors`]: the tests of window sums against the expectation, and severity
//!   grading ([`Severity`]).
//!
//! Pure: no I/O, no clock, no rule files. May import `time` only; `rules` builds the
//! [`Detector`]s, the engine runs them.

pub mod baseline;
pub mod calibrate;
pub mod detectors;
pub mod planned;
pub mod severity;
pub mod spec;
pub mod stats;
pub mod tracker;
pub mod window;

pub use detectors::{evaluate, p_value, severity, silence, still_anomalous, Expectation, Signal};
pub use planned::Planned;
pub use severity::Severity;
pub use spec::{Detector, DetectorKind};
