//! Incidents: the alert state machine of one rule of one brand scope, at most one open
//! incident per dedup key.
//!
//! ```text
//! idle ──signal──▶ open (firing) ──stronger severity──▶ open (escalated)
//!   ▲                  │
//!   └── cooldown ◀── resolved: the metric has been back within its baseline for `hold`
//! ```
//!
//! Opening takes a significant signal (p ≤ α); staying open takes only p < √α, so an incident
//! does not flap around the threshold (hysteresis). Pure: time is passed in, nothing is read.

use crate::alert::Severity;
use crate::detect::Signal;

/// The state of one rule's incident.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Incident {
    /// No incident; a new one may open from `cooldown_until` (minute index) on.
    Idle {
        /// First minute a new incident may open.
        cooldown_until: i64,
    },
    /// An incident is open.
    Open(OpenIncident),
}

/// What an open incident remembers.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OpenIncident {
    /// Stable id carried by all of its events.
    pub id: String,
    /// Current severity (only ever goes up).
    pub severity: Severity,
    /// Last minute the metric was outside its baseline.
    pub last_anomalous: i64,
    /// The strongest evidence seen.
    pub strongest: Signal,
    /// Crisis category guessed from its posts (`other` until the playbooks say more).
    #[serde(default)]
    pub category: String,
}

/// What a once-a-minute re-test of an open incident changed.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Still open, nothing to report.
    Quiet,
    /// Still open at a higher severity: report an `escalated` event.
    Escalated(Severity),
    /// Closed: report a `resolved` event for this incident.
    Resolved(OpenIncident),
}

impl Default for Incident {
    fn default() -> Self {
        Incident::Idle { cooldown_until: i64::MIN }
    }
}

impl Incident {
    /// Whether a signal at minute `now` may open a new incident.
    pub fn may_open(&self, now: i64) -> bool {
        matches!(self, Incident::Idle { cooldown_until } if now >= *cooldown_until)
    }

    /// Opens an incident.
    pub fn open(&mut self, id: String, severity: Severity, signal: Signal, now: i64) {
        *self = Incident::Open(OpenIncident {
            id,
            severity,
            last_anomalous: now,
            strongest: signal,
            category: "other".into(),
        });
    }

    /// The open incident, if any.
    pub fn as_open(&self) -> Option<&OpenIncident> {
        match self {
            Incident::Open(o) => Some(o),
            Incident::Idle { .. } => None,
        }
    }

    /// Re-tests an open incident at minute `now`. `fresh` is a significant signal with its
    /// severity, if the metric cleared α again; `anomalous` whether it is still beyond √α.
    pub fn retest(
        &mut self,
        now: i64,
        fresh: Option<(Signal, Severity)>,
        anomalous: bool,
        hold: i64,
        cooldown: i64,
    ) -> Step {
        let Incident::Open(o) = self else { return Step::Quiet };
        if let Some((signal, severity)) = fresh {
            o.last_anomalous = now;
            if signal.p_value < o.strongest.p_value {
                o.strongest = signal;
            }
            if severity > o.severity {
                o.severity = severity;
                return Step::Escalated(severity);
            }
            return Step::Quiet;
        }
        if anomalous {
            o.last_anomalous = now;
            return Step::Quiet;
        }
        if now - o.last_anomalous < hold {
            return Step::Quiet;
        }
        let closed = o.clone();
        *self = Incident::Idle { cooldown_until: now + cooldown };
        Step::Resolved(closed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(p: f64) -> Signal {
        Signal { window: 1, observed: 50.0, expected: 10.0, p_value: p }
    }

    #[test]
    fn fire_escalate_hold_resolve_cool_down() {
        let (hold, cooldown) = (30, 60);
        let mut inc = Incident::default();
        assert!(inc.may_open(0));
        inc.open("x".into(), Severity::Warning, sig(1e-6), 100);
        assert!(!inc.may_open(101), "one open incident per key");
        // same severity again: nothing to report; weaker evidence does not replace the strongest
        assert_eq!(inc.retest(101, Some((sig(1e-5), Severity::Warning)), true, hold, cooldown), Step::Quiet);
        assert_eq!(inc.as_open().unwrap().strongest.p_value, 1e-6);
        assert_eq!(
            inc.retest(102, Some((sig(1e-9), Severity::Critical)), true, hold, cooldown),
            Step::Escalated(Severity::Critical)
        );
        // severity never goes down
        assert_eq!(inc.retest(103, Some((sig(1e-7), Severity::Watch)), true, hold, cooldown), Step::Quiet);
        assert_eq!(inc.as_open().unwrap().severity, Severity::Critical);
        // beyond √α for a while: stays open (hysteresis)
        assert_eq!(inc.retest(120, None, true, hold, cooldown), Step::Quiet);
        // back within baseline, but not yet for `hold` minutes
        assert_eq!(inc.retest(149, None, false, hold, cooldown), Step::Quiet);
        match inc.retest(150, None, false, hold, cooldown) {
            Step::Resolved(o) => {
                assert_eq!(o.id, "x");
                assert_eq!(o.severity, Severity::Critical);
                assert_eq!(o.strongest.p_value, 1e-9);
            }
            other => panic!("expected resolution, got {other:?}"),
        }
        assert!(!inc.may_open(209), "cooldown");
        assert!(inc.may_open(210));
        assert_eq!(inc.retest(211, None, false, hold, cooldown), Step::Quiet, "idle incidents do nothing");
    }
}
