//! The calibration state of one scope: per window length a learned dispersion, and per
//! metric and window a peaks-over-threshold tail ([`super::calibrate`]). Learned once per
//! closed minute from the windows ending at that minute; turned every five minutes into the
//! thresholds the per-mention tests compare against ([`Expectation::alarm`]).
//!
//! Memory: 4 dispersions and 12 tails, about 800 bytes per scope.

use super::calibrate::{cold_level, count_z, ScaleDispersion, Tail, TailFit};
use super::detectors::{statistic, Expectation, NEGATIVE, REACH, VOLUME};
use super::spec::DetectorKind;
use super::window::{Bucket, WINDOW_MINUTES};

/// The raw statistic at which a count is winsorised before the dispersion learns it.
const DISP_CAP_Z: f64 = 4.0;

/// Pooled prior fits, per metric and window.
pub type Priors = [[TailFit; 4]; 3];

/// Learned calibration of one scope.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScopeCalibration {
    /// Dispersion per window length (volume and reach).
    pub disp: [ScaleDispersion; 4],
    /// Tails per metric ([`VOLUME`], [`NEGATIVE`], [`REACH`]) and window.
    pub tails: [[Tail; 4]; 3],
}

/// Samples back below `U` that end an excursion of a window of `minutes`: a fifth of the
/// window (one minute for 5 minutes, 72 for six hours), so that one burst leaving a long
/// window counts once.
fn gap(minutes: i64) -> u32 {
    (minutes / 5).max(1) as u32
}

impl ScopeCalibration {
    /// Learns the windows `sums` ending at a closed minute; `ex` holds that minute's
    /// expectation (full minute) and thresholds, `hourly_phi` the baseline's φ (the prior of
    /// every window's dispersion). Before the baseline is `warm` only the negative share is
    /// learned (it does not depend on the volume baseline).
    pub fn learn(&mut self, sums: &[Bucket; 4], ex: &Expectation, hourly_phi: f64, warm: bool) {
        for w in 0..4 {
            if w >= 1 && sums[w].toned > 0 {
                if let Some((z, _, _)) = statistic(&DetectorKind::Negative, &sums[w], ex, w, ex.mentions[w]) {
                    self.tails[NEGATIVE][w].observe(
                        z,
                        ex.alarm[NEGATIVE][w],
                        ex.fits[NEGATIVE][w].max_excess(),
                        gap(WINDOW_MINUTES[w]),
                    );
                }
            }
            if !warm {
                continue;
            }
            let mu = ex.mentions[w];
            for (k, kind) in [(VOLUME, DetectorKind::Volume), (REACH, DetectorKind::Reach)] {
                if let Some((z, _, _)) = statistic(&kind, &sums[w], ex, w, mu) {
                    self.tails[k][w].observe(z, ex.alarm[k][w], ex.fits[k][w].max_excess(), gap(WINDOW_MINUTES[w]));
                }
            }
            // the dispersion does not learn counts beyond z = 4 (a crisis below the alarm must
            // not widen the noise it is judged against)
            let phi = ex.phi_w[w];
            let r = (mu + 0.375).sqrt() + 0.5 * DISP_CAP_Z * (1.0 + phi * mu).sqrt();
            let cap = r * r - 0.375;
            debug_assert!(count_z(cap, mu, phi) >= DISP_CAP_Z - 1e-6);
            self.disp[w].learn(f64::from(sums[w].count), mu, hourly_phi, WINDOW_MINUTES[w], cap);
        }
    }

    /// Fills `ex`'s dispersions, fits and thresholds for a brand level `level` (per test and
    /// minute, after the budget guard), given the pooled `priors`.
    pub fn refresh(&self, ex: &mut Expectation, hourly_phi: f64, priors: &Priors, level: f64) {
        for w in 0..4 {
            ex.phi_w[w] = self.disp[w].phi(hourly_phi, WINDOW_MINUTES[w]);
            for (k, prior) in priors.iter().enumerate() {
                let tail = &self.tails[k][w];
                let fit = tail.fit(&prior[w]);
                let q = cold_level(level, tail.progress());
                ex.fits[k][w] = fit;
                ex.level[k][w] = q;
                ex.alarm[k][w] = fit.threshold(q);
                ex.relaxed[k][w] = fit.threshold(q.sqrt());
            }
        }
    }

    /// This scope's own fits (shrunk only to the default prior), for pooling; `None` for a
    /// metric and window with fewer than [`POOL_MIN_EXCESSES`] excesses of its own.
    pub fn own_fits(&self) -> [[Option<TailFit>; 4]; 3] {
        let prior = TailFit::default_prior();
        let mut out = [[None; 4]; 3];
        for (o, t) in out.iter_mut().flatten().zip(self.tails.iter().flatten()) {
            if t.excesses() >= POOL_MIN_EXCESSES {
                *o = Some(t.fit(&prior));
            }
        }
        out
    }
}

/// Excesses a scope needs before its tail takes part in the pooled prior.
pub const POOL_MIN_EXCESSES: f64 = 10.0;

/// The pooled prior of one metric and window: the median ζ, σ and ξ of the scopes' own fits
/// (a median, so that one scope with a wild tail cannot move every brand's prior), or the
/// default prior when no scope has enough excesses.
pub fn pooled_prior(fits: &mut [TailFit]) -> TailFit {
    if fits.is_empty() {
        return TailFit::default_prior();
    }
    let mid = fits.len() / 2;
    let mut median = |f: fn(&TailFit) -> f64| {
        fits.sort_by(|a, b| f(a).total_cmp(&f(b)));
        f(&fits[mid])
    };
    TailFit { zeta: median(|t| t.zeta), sigma: median(|t| t.sigma), xi: median(|t| t.xi) }
}
