//! Detectors: pure tests of a scope's window sums against its baseline expectation. Each
//! returns a [`Signal`] (window, observed, expected, p-value) when the evidence clears the
//! significance level and the guards (minimum mentions, minimum ratio), and severity is
//! graded here from the strength of evidence, the negative share and influential authors.
//!
//! Models:
//! * volume: window count ~ NegBin(μ_w, φ), μ_w the baseline sum over the window's minutes;
//! * negative: negatives ~ BetaBinomial(n, p₀, ρ) given n toned mentions in the window;
//! * reach: mentions by 10k+-follower authors ~ NegBin(μ_w · q, φ), q their usual share;
//! * flatline: P(no mention in the silent stretch) = NegBin(μ_s, φ) at zero.

use super::severity::Severity;
use super::spec::{Detector, DetectorKind};
use super::stats::{beta_binomial_upper_tail, nb_upper_tail, nb_zero};
use super::window::Bucket;

/// The baseline expectation for the windows ending at the current minute, refreshed when
/// the minute changes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Expectation {
    /// Expected mentions per window ([`super::window::WINDOW_MINUTES`]).
    pub mentions: [f64; 4],
    /// Dispersion φ.
    pub phi: f64,
    /// Usual negative share.
    pub negative_share: f64,
    /// Its overdispersion ρ.
    pub rho: f64,
    /// Usual share of influential authors.
    pub influential_share: f64,
    /// Whether the baseline is past warm-up.
    pub warm: bool,
    /// Expected mentions in the current minute alone: a window ending now holds only the
    /// elapsed part of it, so the expectation is reduced by the part still to come.
    pub minute_rate: f64,
    /// z with P(Z ≥ z) = α: a count below μ + 0.9·z·sd cannot be significant under the
    /// (right-skewed) negative binomial, so its exact tail need not be computed.
    pub z_alpha: f64,
    /// Per window, the largest count found not significant this minute (0 = none yet).
    pub volume_failed: [u32; 4],
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
    /// Tail probability under the baseline model.
    pub p_value: f64,
}

/// Tests `rule` against the window sums at significance `alpha`, `elapsed` (0..1) into the
/// current minute. The guards come first and are cheap, so the exact tail is computed only
/// for the rare windows that pass them.
pub fn evaluate(rule: &Detector, sums: &[Bucket; 4], ex: &mut Expectation, alpha: f64, elapsed: f64) -> Option<Signal> {
    let still_to_come = (1.0 - elapsed.clamp(0.0, 1.0)) * ex.minute_rate;
    let mut best: Option<Signal> = None;
    for &w in rule.kind.windows() {
        let s = &sums[w];
        let sig = match rule.kind {
            DetectorKind::Volume => {
                let (n, mu) = (s.count, (ex.mentions[w] - still_to_come).max(1e-9));
                if !ex.warm || n < rule.min_mentions || f64::from(n) < rule.min_ratio * mu {
                    continue;
                }
                let sd = (mu + ex.phi * mu * mu).sqrt();
                if f64::from(n) < mu + 0.9 * ex.z_alpha * sd || n <= ex.volume_failed[w] {
                    continue;
                }
                let p_value = nb_upper_tail(f64::from(n), mu, ex.phi);
                if p_value > alpha {
                    // counts only grow within a minute: smaller ones need no second look
                    ex.volume_failed[w] = n;
                    continue;
                }
                Signal { window: w, observed: f64::from(n), expected: mu, p_value }
            }
            DetectorKind::Negative => match negative_signal(rule, s, ex, w) {
                Some(sig) => sig,
                None => continue,
            },
            DetectorKind::Reach => {
                let (c, mu) = (s.influential, (ex.mentions[w] - still_to_come).max(1e-9) * ex.influential_share);
                if !ex.warm || c < rule.min_mentions || f64::from(c) < rule.min_ratio * mu {
                    continue;
                }
                Signal {
                    window: w,
                    observed: f64::from(c),
                    expected: mu,
                    p_value: nb_upper_tail(f64::from(c), mu, ex.phi),
                }
            }
            DetectorKind::Flatline { .. } => continue, // tested on silence, see `silence`
        };
        if sig.p_value <= alpha && best.is_none_or(|b| sig.p_value < b.p_value) {
            best = Some(sig);
        }
    }
    best
}

fn negative_signal(rule: &Detector, s: &Bucket, ex: &Expectation, w: usize) -> Option<Signal> {
    let (n, k) = (s.toned, s.negative);
    let p0 = ex.negative_share;
    let rho = window_rho(ex, w);
    if k < rule.min_mentions || f64::from(k) < rule.min_ratio * p0 * f64::from(n) {
        return None;
    }
    let nf = f64::from(n);
    let sd = (nf * p0 * (1.0 - p0) * (1.0 + (nf - 1.0) * rho)).sqrt();
    if (f64::from(k) - nf * p0) < 3.0 * sd {
        return None; // cheap normal gate: the exact tail cannot be below α (α < 1e-3)
    }
    Some(Signal {
        window: w,
        observed: f64::from(k),
        expected: nf * p0,
        p_value: beta_binomial_upper_tail(k, n, p0, rho),
    })
}

/// The share's overdispersion for window `w`. ρ is learned from hourly shares; hour-to-hour
/// deviations are taken as independent, so a window of h > 1 hours averages them and its ρ is
/// ρ/h. Before warm-up the share is mostly prior, so ρ is widened.
fn window_rho(ex: &Expectation, w: usize) -> f64 {
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
/// resolution (hysteresis: an incident opens at α and closes only once p > √α for the hold).
pub fn still_anomalous(rule: &Detector, sums: &[Bucket; 4], ex: &Expectation, alpha: f64) -> bool {
    let relaxed = alpha.sqrt();
    rule.kind.windows().iter().any(|&w| {
        let s = &sums[w];
        match rule.kind {
            DetectorKind::Volume => ex.warm && nb_upper_tail(f64::from(s.count), ex.mentions[w], ex.phi) < relaxed,
            DetectorKind::Negative => {
                s.negative > 0
                    && beta_binomial_upper_tail(
                        s.negative,
                        s.toned,
                        ex.negative_share,
                        if ex.warm { ex.rho } else { ex.rho.max(0.1) },
                    ) < relaxed
            }
            DetectorKind::Reach => {
                ex.warm
                    && nb_upper_tail(f64::from(s.influential), ex.mentions[w] * ex.influential_share, ex.phi) < relaxed
            }
            DetectorKind::Flatline { .. } => false,
        }
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
        Expectation {
            mentions: [mu15 / 3.0, mu15, mu15 * 4.0, mu15 * 24.0],
            phi: 0.05,
            negative_share: 0.2,
            rho: 0.02,
            influential_share: 0.02,
            warm: true,
            minute_rate: mu15 / 15.0,
            z_alpha: 4.26,
            volume_failed: [0; 4],
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
        assert!(evaluate(&r, &sums(200, 40), &mut ex(40.0), 1e-5, 1.0).is_some());
        assert!(evaluate(&r, &sums(50, 10), &mut ex(40.0), 1e-5, 1.0).is_none());
        // 8 posts where 0.1 were expected is hugely improbable, but a handful: no alert
        assert!(evaluate(&r, &sums(8, 8), &mut ex(0.1), 1e-5, 1.0).is_none());
        let mut cold = ex(40.0);
        cold.warm = false;
        assert!(evaluate(&r, &sums(500, 40), &mut cold, 1e-5, 1.0).is_none());
    }

    #[test]
    fn negative_fires_on_share_jump_at_flat_volume() {
        let r = rule(DetectorKind::Negative, 8, 1.5);
        let s = evaluate(&r, &sums(40, 28), &mut ex(40.0), 1e-5, 1.0).expect("28/40 negative vs 20% usual");
        assert!(s.p_value < 1e-5);
        assert!(evaluate(&r, &sums(40, 10), &mut ex(40.0), 1e-5, 1.0).is_none());
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
