//! Detectors: pure tests of a scope's window sums against its baseline expectation. Each
//! returns a [`Signal`] (window, observed, expected, calibrated p-value) when the evidence
//! clears the scope's calibrated threshold and the guards (minimum mentions, minimum ratio),
//! and severity is graded here from the strength of evidence, the negative share and
//! influential authors.
//!
//! Raw statistics (see [`super::calibrate`] for how their tails are calibrated):
//! * volume: the window count against μ_w, the baseline sum over the window's minutes, with
//!   the dispersion φ_w learned at that window's own length;
//! * negative: negatives among the n toned mentions against the usual share p₀ (ρ_w);
//! * reach: mentions by 10k+-follower authors against μ_w · q, q their usual share;
//! * flatline: P(no mention in the silent stretch) = NegBin(μ_s, φ) at zero.

use super::calibrate::{count_z, share_z, TailFit};
use super::severity::Severity;
use super::spec::{Detector, DetectorKind};
use super::stats::nb_zero;
use super::window::Bucket;

/// Metric index of the calibration tables: volume.
pub const VOLUME: usize = 0;
/// Metric index: negative share.
pub const NEGATIVE: usize = 1;
/// Metric index: influential authors.
pub const REACH: usize = 2;

/// The baseline expectation and the calibrated thresholds for the windows ending at the
/// current minute, refreshed when the minute changes.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Expectation {
    /// Expected mentions per window ([`super::window::WINDOW_MINUTES`]).
    pub mentions: [f64; 4],
    /// Hourly dispersion φ of the baseline (used for silences).
    pub phi: f64,
    /// Dispersion φ_w learned at each window length.
    pub phi_w: [f64; 4],
    /// Dispersion added to φ_w by the forecast error of planned events in each window
    /// ([`super::planned`]); set with the expectation every minute, so not stored.
    #[serde(skip)]
    pub planned_phi: [f64; 4],
    /// Usual negative share.
    pub negative_share: f64,
    /// Its overdispersion ρ (hourly, from the baseline).
    pub rho: f64,
    /// Usual share of influential authors.
    pub influential_share: f64,
    /// Whether the baseline is past warm-up.
    pub warm: bool,
    /// Expected mentions in the current minute alone: a window ending now holds only the
    /// elapsed part of it, so the expectation is reduced by the part still to come.
    pub minute_rate: f64,
    /// Fitted tails per metric ([`VOLUME`], [`NEGATIVE`], [`REACH`]) and window.
    pub fits: [[TailFit; 4]; 3],
    /// Alarm thresholds on the raw statistic, per metric and window.
    pub alarm: [[f64; 4]; 3],
    /// Thresholds an open incident must stay above (the relaxed level √q, hysteresis).
    pub relaxed: [[f64; 4]; 3],
    /// The level q each threshold stands for (after warm-up strictness and the budget guard).
    pub level: [[f64; 4]; 3],
}

impl Default for Expectation {
    fn default() -> Self {
        Expectation {
            mentions: [0.0; 4],
            phi: 0.0,
            phi_w: [0.0; 4],
            planned_phi: [0.0; 4],
            negative_share: 0.2,
            rho: 0.0,
            influential_share: 0.0,
            warm: false,
            minute_rate: 0.0,
            fits: [[TailFit::default_prior(); 4]; 3],
            alarm: [[f64::INFINITY; 4]; 3],
            relaxed: [[f64::INFINITY; 4]; 3],
            level: [[0.0; 4]; 3],
        }
    }
}

/// Evidence that a metric is anomalous in one window.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Signal {
    /// Index into [`super::window::WINDOW_MINUTES`].
    pub window: usize,
    /// Observed value (count, negatives, influential mentions).
    pub observed: f64,
    /// What the baseline expected.
    pub expected: f64,
    /// Calibrated exceedance probability of the window's statistic.
    pub p_value: f64,
}

/// The raw statistic of metric `kind` in window `w` with `mu` expected mentions: (z,
/// observed, expected). `None` for flatline.
pub fn statistic(kind: &DetectorKind, s: &Bucket, ex: &Expectation, w: usize, mu: f64) -> Option<(f64, f64, f64)> {
    match kind {
        DetectorKind::Volume => {
            let n = f64::from(s.count);
            Some((count_z(n, mu, ex.phi_w[w] + ex.planned_phi[w]), n, mu))
        }
        DetectorKind::Reach => {
            let (c, mu) = (f64::from(s.influential), mu * ex.influential_share);
            Some((count_z(c, mu, ex.phi_w[w] + ex.planned_phi[w]), c, mu))
        }
        DetectorKind::Negative => {
            let (n, k) = (f64::from(s.toned), f64::from(s.negative));
            Some((share_z(k, n, ex.negative_share, window_rho(ex, w)), k, n * ex.negative_share))
        }
        DetectorKind::Flatline { .. } => None,
    }
}

fn metric_index(kind: &DetectorKind) -> usize {
    match kind {
        DetectorKind::Negative => NEGATIVE,
        DetectorKind::Reach => REACH,
        _ => VOLUME,
    }
}

/// The calibrated p-value of window `w` as it is now (for reports, e.g. on resolution).
pub fn p_value(kind: &DetectorKind, s: &Bucket, ex: &Expectation, w: usize) -> Option<Signal> {
    let (z, observed, expected) = statistic(kind, s, ex, w, ex.mentions[w])?;
    Some(Signal { window: w, observed, expected, p_value: ex.fits[metric_index(kind)][w].p(z) })
}

/// Tests `rule` against the window sums, `elapsed` (0..1) into the current minute. The
/// guards come first; the statistic is a few floating-point operations, compared with the
/// threshold precomputed for the minute.
pub fn evaluate(rule: &Detector, sums: &[Bucket; 4], ex: &Expectation, elapsed: f64) -> Option<Signal> {
    let still_to_come = (1.0 - elapsed.clamp(0.0, 1.0)) * ex.minute_rate;
    let k = metric_index(&rule.kind);
    let mut best: Option<Signal> = None;
    for &w in rule.kind.windows() {
        let s = &sums[w];
        let mu = (ex.mentions[w] - still_to_come).max(1e-9);
        let (observed, expected) = match rule.kind {
            DetectorKind::Volume => (f64::from(s.count), mu),
            DetectorKind::Reach => (f64::from(s.influential), mu * ex.influential_share),
            DetectorKind::Negative => (f64::from(s.negative), f64::from(s.toned) * ex.negative_share),
            DetectorKind::Flatline { .. } => continue, // tested on silence, see `silence`
        };
        // every rule waits for the baseline's warm-up: the tails are learned from then on
        if !ex.warm || observed < f64::from(rule.min_mentions) || observed < rule.min_ratio * expected {
            continue;
        }
        let Some((z, _, _)) = statistic(&rule.kind, s, ex, w, mu) else { continue };
        if z < ex.alarm[k][w] {
            continue;
        }
        let sig = Signal { window: w, observed, expected, p_value: ex.fits[k][w].p(z) };
        if best.is_none_or(|b| sig.p_value < b.p_value) {
            best = Some(sig);
        }
    }
    best
}

/// The share's overdispersion for window `w`. ρ is learned from hourly shares;
/// hour-to-hour deviations are taken as independent, so a window of h > 1 hours averages them
/// and its ρ is ρ/h. Before warm-up the share is mostly prior, so ρ is widened.
pub fn window_rho(ex: &Expectation, w: usize) -> f64 {
    let rho = if ex.warm { ex.rho } else { ex.rho.max(0.1) };
    rho * (60.0 / super::window::WINDOW_MINUTES[w] as f64).min(1.0)
}

/// Tests a silence of `silent_minutes` in which the baseline expected `expected` mentions.
pub fn silence(min_expected: f64, expected: f64, phi: f64, alpha: f64) -> Option<f64> {
    if expected < min_expected {
        return None;
    }
    let p = nb_zero(expected, phi);
    (p <= alpha).then_some(p)
}

/// Whether the metric is still outside its baseline at the relaxed level used for
/// resolution (hysteresis: an incident opens at level q and closes only once the statistic
/// is back below the √q threshold for the hold).
pub fn still_anomalous(rule: &Detector, sums: &[Bucket; 4], ex: &Expectation) -> bool {
    let k = metric_index(&rule.kind);
    ex.warm
        && rule.kind.windows().iter().any(|&w| {
            statistic(&rule.kind, &sums[w], ex, w, ex.mentions[w]).is_some_and(|(z, _, _)| z >= ex.relaxed[k][w])
        })
}

/// Severity from the evidence. `evidence` is log(p)/log(α) (1 at the significance level),
/// `share`/`usual` the window's and the baseline's negative share (`share` is `None` when no
/// mention in the window has a known tone).
pub fn severity(
    kind: &DetectorKind,
    evidence: f64,
    ratio: f64,
    share: Option<f64>,
    usual: f64,
    influential: u32,
) -> Severity {
    let more_negative = share.map(|s| s >= (usual * 1.3).max(usual + 0.1));
    let very_negative = share.is_some_and(|s| s >= 0.5);
    match kind {
        DetectorKind::Flatline { .. } => Severity::Warning,
        DetectorKind::Volume | DetectorKind::Reach => match more_negative {
            // a burst no more negative than usual (a campaign going well) is at most watch
            Some(false) => Severity::Watch,
            None => {
                if evidence >= 2.0 && ratio >= 5.0 {
                    Severity::Warning
                } else {
                    Severity::Watch
                }
            }
            Some(true) => {
                if very_negative && ((evidence >= 2.0 && ratio >= 4.0) || (influential >= 3 && ratio >= 3.0)) {
                    Severity::Critical
                } else {
                    Severity::Warning
                }
            }
        },
        DetectorKind::Negative => {
            if very_negative && evidence >= 2.0 && ratio >= 2.5 {
                Severity::Critical
            } else {
                Severity::Warning
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(kind: DetectorKind, min_mentions: u32, min_ratio: f64) -> Detector {
        Detector { kind, min_mentions, min_ratio }
    }

    fn ex(mu15: f64) -> Expectation {
        let fit = TailFit::default_prior();
        let (t, r) = (fit.threshold(1e-6), fit.threshold(1e-3));
        Expectation {
            mentions: [mu15 / 3.0, mu15, mu15 * 4.0, mu15 * 24.0],
            phi: 0.05,
            phi_w: [0.05; 4],
            planned_phi: [0.0; 4],
            negative_share: 0.2,
            rho: 0.02,
            influential_share: 0.02,
            warm: true,
            minute_rate: mu15 / 15.0,
            fits: [[fit; 4]; 3],
            alarm: [[t; 4]; 3],
            relaxed: [[r; 4]; 3],
            level: [[1e-6; 4]; 3],
        }
    }

    /// Window sums for a 15-minute window of `count` mentions, `negative` of them negative,
    /// in an otherwise quiet stream (the 5-min window holds a third, longer ones the same).
    fn sums(count: u32, negative: u32) -> [Bucket; 4] {
        let b = Bucket { count, toned: count, negative, ..Bucket::default() };
        let five = Bucket { count: count / 3, toned: count / 3, negative: negative / 3, ..Bucket::default() };
        [five, b, b, b]
    }

    #[test]
    fn volume_fires_on_a_big_spike_not_on_a_handful() {
        let r = rule(DetectorKind::Volume, 10, 2.0);
        assert!(evaluate(&r, &sums(200, 40), &ex(40.0), 1.0).is_some());
        assert!(evaluate(&r, &sums(50, 10), &ex(40.0), 1.0).is_none());
        // 8 posts where 0.1 were expected is hugely improbable, but a handful: no alert
        assert!(evaluate(&r, &sums(8, 8), &ex(0.1), 1.0).is_none());
        let mut cold = ex(40.0);
        cold.warm = false;
        assert!(evaluate(&r, &sums(500, 40), &cold, 1.0).is_none());
    }

    #[test]
    fn negative_fires_on_share_jump_at_flat_volume() {
        let r = rule(DetectorKind::Negative, 8, 1.5);
        let s = evaluate(&r, &sums(40, 28), &ex(40.0), 1.0).expect("28/40 negative vs 20% usual");
        assert!(s.p_value < 1e-6);
        assert!(still_anomalous(&r, &sums(40, 28), &ex(40.0)));
        assert!(!still_anomalous(&r, &sums(40, 9), &ex(40.0)));
        assert!(evaluate(&r, &sums(40, 10), &ex(40.0), 1.0).is_none());
    }

    #[test]
    fn severity_caps_positive_bursts_at_watch() {
        let k = DetectorKind::Volume;
        assert_eq!(severity(&k, 10.0, 20.0, Some(0.05), 0.2, 10), Severity::Watch);
        assert_eq!(severity(&k, 3.0, 8.0, Some(0.7), 0.2, 0), Severity::Critical);
        assert_eq!(severity(&k, 1.2, 2.5, Some(0.35), 0.2, 0), Severity::Warning);
        assert!(silence(30.0, 60.0, 0.05, 1e-5).is_some());
        assert!(silence(30.0, 10.0, 0.05, 1e-5).is_none());
    }
}
