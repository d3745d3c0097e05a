//! `crisiswatch evaluate`: scoring alert events against the labels of a simulated stream
//! (recall, delay, false alarms per brand-week), and comparing two runs crisis by crisis.

use super::simulate::{Label, Scenario};
use crate::alert::{AlertEvent, Severity, Status};
use crate::time::{parse_timestamp, MINUTE_MS};
use serde::Serialize;

/// How alerts compare with the labels.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Report {
    /// Crises in the labels with at least `min_extra` extra mentions.
    pub crises: usize,
    /// Of which alerted (any severity) during the crisis or within two hours after.
    pub detected: usize,
    /// Of which reached `warning` or `critical`.
    pub detected_warning_or_above: usize,
    /// Crises missed: `brand kind start`.
    pub missed: Vec<String>,
    /// Minutes from start to first alert, per detected crisis kind: (kind, delays).
    pub delays_min: Vec<(Scenario, Vec<f64>)>,
    /// Median delay for sudden outages, minutes.
    pub median_outage_delay_min: Option<f64>,
    /// Firing events matching no label.
    pub false_alarms: usize,
    /// Brands × months in the stream.
    pub brand_months: f64,
    /// False alarms per brand per month.
    pub false_alarms_per_brand_month: f64,
    /// False alarms, `brand rule at`.
    pub false_alarm_list: Vec<String>,
    /// Benign bursts.
    pub benign: usize,
    /// Benign bursts with any event above `watch`.
    pub benign_above_watch: usize,
    /// Feed outages, and how many raised a flatline alert.
    pub feed_outages: usize,
    /// Of which detected by the flatline rule.
    pub feed_outages_detected: usize,
    /// Every crisis counted in `crises`, with its first alert.
    pub per_crisis: Vec<CrisisOutcome>,
}

/// One crisis and when it was first alerted.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CrisisOutcome {
    /// `brand kind start`.
    pub crisis: String,
    /// Minutes from its start to the first alert, `None` when missed.
    pub delay_min: Option<f64>,
}

/// Compares two runs over the same labels (e.g. with and without provider sentiment): per
/// crisis, the delay in each and the difference.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Comparison {
    /// Crises in both reports.
    pub crises: usize,
    /// Detected by the reference run.
    pub detected_reference: usize,
    /// Detected by the other run.
    pub detected_other: usize,
    /// Detected by the reference run and missed by the other.
    pub lost: Vec<String>,
    /// Detected by the other run only.
    pub gained: Vec<String>,
    /// Detected by both, more than `slack_min` later in the other run: (crisis, extra minutes).
    pub later: Vec<(String, f64)>,
    /// The largest extra delay among crises detected by both, minutes (negative = earlier).
    pub max_extra_delay_min: f64,
    /// The median extra delay, minutes.
    pub median_extra_delay_min: f64,
}

/// Per-crisis comparison of `other` against `reference`.
pub fn compare(reference: &Report, other: &Report, slack_min: f64) -> Comparison {
    let mut c = Comparison { crises: reference.per_crisis.len(), ..Comparison::default() };
    let mut extra = Vec::new();
    for r in &reference.per_crisis {
        let o = other.per_crisis.iter().find(|o| o.crisis == r.crisis).and_then(|o| o.delay_min);
        c.detected_reference += usize::from(r.delay_min.is_some());
        c.detected_other += usize::from(o.is_some());
        match (r.delay_min, o) {
            (Some(_), None) => c.lost.push(r.crisis.clone()),
            (None, Some(_)) => c.gained.push(r.crisis.clone()),
            (Some(a), Some(b)) => {
                extra.push(b - a);
                if b - a > slack_min {
                    c.later.push((r.crisis.clone(), b - a));
                }
            }
            (None, None) => {}
        }
    }
    extra.sort_by(f64::total_cmp);
    c.max_extra_delay_min = extra.last().copied().unwrap_or(0.0);
    c.median_extra_delay_min = if extra.is_empty() { 0.0 } else { extra[extra.len() / 2] };
    c
}

/// Scores alert events against labels. `min_extra` excludes crises too small to be seen.
pub fn evaluate(labels: &[Label], events: &[AlertEvent], days: f64, brands: usize, min_extra: f64) -> Report {
    let mut r = Report { brand_months: brands as f64 * days / 30.0, ..Report::default() };
    let ts = |s: &str| parse_timestamp(s).unwrap_or(0);
    let matches = |l: &Label, e: &AlertEvent| {
        let at = ts(&e.at);
        e.brand == l.brand && at >= ts(&l.start) - 10 * MINUTE_MS && at <= ts(&l.end) + 120 * MINUTE_MS
    };
    for l in labels {
        let evs: Vec<&AlertEvent> = events.iter().filter(|e| matches(l, e)).collect();
        let non_flat: Vec<&&AlertEvent> = evs.iter().filter(|e| e.metric != "flatline").collect();
        if l.kind == Scenario::FeedOutage {
            r.feed_outages += 1;
            if evs.iter().any(|e| e.metric == "flatline" && e.status == Status::Firing) {
                r.feed_outages_detected += 1;
            }
        } else if l.crisis {
            if l.extra_mentions < min_extra {
                continue;
            }
            r.crises += 1;
            let first = non_flat
                .iter()
                .filter(|e| e.status == Status::Firing || e.status == Status::Escalated)
                .map(|e| ts(&e.at))
                .min();
            r.per_crisis.push(CrisisOutcome {
                crisis: format!("{} {:?} {}", l.brand, l.kind, l.start),
                delay_min: first.map(|t| ((t - ts(&l.start)) as f64 / MINUTE_MS as f64).max(0.0)),
            });
            match first {
                Some(t) => {
                    r.detected += 1;
                    if non_flat.iter().any(|e| e.severity >= Severity::Warning) {
                        r.detected_warning_or_above += 1;
                    }
                    let d = (t - ts(&l.start)) as f64 / MINUTE_MS as f64;
                    match r.delays_min.iter_mut().find(|(k, _)| *k == l.kind) {
                        Some((_, v)) => v.push(d.max(0.0)),
                        None => r.delays_min.push((l.kind, vec![d.max(0.0)])),
                    }
                }
                None => r.missed.push(format!("{} {:?} {} (+{} mentions)", l.brand, l.kind, l.start, l.extra_mentions)),
            }
        } else {
            r.benign += 1;
            if evs.iter().any(|e| e.severity > Severity::Watch) {
                r.benign_above_watch += 1;
            }
        }
    }
    for e in events.iter().filter(|e| e.status == Status::Firing) {
        if !labels.iter().any(|l| matches(l, e)) {
            r.false_alarms += 1;
            r.false_alarm_list.push(format!("{} {} {} {}", e.brand, e.rule, e.at, e.severity.as_str()));
        }
    }
    r.false_alarms_per_brand_month = r.false_alarms as f64 / r.brand_months.max(1e-9);
    if let Some((_, v)) = r.delays_min.iter().find(|(k, _)| *k == Scenario::Outage) {
        let mut v = v.clone();
        v.sort_by(f64::total_cmp);
        r.median_outage_delay_min =
            Some(if v.len() % 2 == 1 { v[v.len() / 2] } else { (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0 });
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(crisis: &str, delay_min: Option<f64>) -> CrisisOutcome {
        CrisisOutcome { crisis: crisis.into(), delay_min }
    }

    #[test]
    fn comparison_sorts_crises_into_lost_gained_and_later() {
        let reference = Report {
            per_crisis: vec![
                outcome("a", Some(2.0)),
                outcome("b", Some(5.0)),
                outcome("c", None),
                outcome("d", Some(1.0)),
            ],
            ..Report::default()
        };
        let other = Report {
            per_crisis: vec![
                outcome("a", Some(2.5)),
                outcome("b", Some(9.0)),
                outcome("c", Some(3.0)),
                outcome("d", None),
            ],
            ..Report::default()
        };
        let c = compare(&reference, &other, 1.0);
        assert_eq!((c.crises, c.detected_reference, c.detected_other), (4, 3, 3));
        assert_eq!(c.lost, vec!["d".to_string()]);
        assert_eq!(c.gained, vec!["c".to_string()]);
        assert_eq!(c.later, vec![("b".to_string(), 4.0)], "half a minute later is within the slack");
        assert_eq!(c.max_extra_delay_min, 4.0);
    }
}
