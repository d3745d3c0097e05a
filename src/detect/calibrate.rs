//! Self-calibrating tails: each window's evidence becomes a raw statistic, and that
//! statistic is calibrated against its own history, so that the alarm threshold means the
//! same false-alarm rate whatever the noise of the stream.
//!
//! **Raw statistics** (variance-stabilised, so one scale serves quiet and busy hours):
//! * counts (volume, influential authors): `z = 2(√(n + ⅜) − √(μ + ⅜)) / √(1 + φ_w μ)`, the
//!   Anscombe transform of a negative binomial count with mean μ and dispersion φ_w, about
//!   N(0, 1) for Poisson and for multiplicative noise alike;
//! * shares (negatives k of n toned mentions, usual share p₀, intra-class correlation ρ):
//!   `z = 2√(n + ½)(asin √((k + ⅜)/(n + ¾)) − asin √p₀) / √(1 + (n − 1)ρ)`.
//!
//! **Dispersion at the tested scale** ([`ScaleDispersion`]): φ_w is learned from the window
//! sums themselves, once per closed minute, by weighted moments (`E[(n − μ)² − μ] = φ_w μ²`).
//! The hourly φ of the baseline is only its prior: noise correlated over minutes averages out
//! in hourly counts, and a 5-minute window tested with the hourly φ is far too confident.
//!
//! **Peaks over threshold** ([`Tail`]): above a fixed `u` (the model's 97.7 % point) the
//! excesses of `z` follow a generalised Pareto distribution (Pickands–Balkema–de Haan; the
//! streaming SPOT method of Siffer et al., KDD 2017). Shape ξ and scale σ are fitted by the
//! method of moments on exponentially forgotten sums (a week of minutes), the exceedance
//! frequency ζ by the same forgetting, and a scope's own estimates are shrunk towards a
//! prior pooled over every scope of the engine ([`super::tracker::pooled_prior`]), so a new brand borrows
//! the population's tail until it has its own. Values at or above the alarm threshold do not
//! teach the tail (an alarm is not a sample of normal behaviour). The calibrated exceedance
//! probability is `p̂(z) = ζ (1 + ξ (z − u)/σ)^(−1/ξ)` and the threshold for a level `q` is
//! its inverse.
//!
//! Pure and allocation-free; the engine samples once per closed minute per scope, the
//! per-mention path only compares a `z` with a precomputed threshold.

use super::stats::normal_upper_tail;

/// The fixed threshold `u` above which excesses are fitted (P(Z > 2) = 2.3 % under N(0, 1)).
pub const U: f64 = 2.0;
/// Per-sample forgetting of the tails: about a week of minutes (the baseline improves in its first weeks, and the tail must follow).
const TAIL_FORGET: f64 = 1.0 / (7.0 * 1440.0);
/// Per-sample forgetting of the scale dispersion: about a day of minutes.
const DISP_FORGET: f64 = 1.0 / 1440.0;
/// Prior weight of the pooled tail shape, in excesses.
const PRIOR_EXCESSES: f64 = 30.0;
/// Prior weight of the pooled exceedance frequency, in samples (a day of minutes).
const PRIOR_SAMPLES: f64 = 1440.0;
/// Effective excursions a scale needs before its own level is used in full.
pub const ENOUGH_EXCESSES: f64 = 20.0;
/// Until then the level is this fraction of the nominal one, rising linearly.
pub const COLD_LEVEL: f64 = 0.1;
const XI_MIN: f64 = -0.2;
/// See [`TailFit::max_excess`].
const MAX_EXCESS: f64 = 3.0;
const XI_MAX: f64 = 0.45;

/// Variance-stabilised deviation of a count `n` from its expectation `mu` under a negative
/// binomial with dispersion `phi`.
pub fn count_z(n: f64, mu: f64, phi: f64) -> f64 {
    2.0 * ((n + 0.375).sqrt() - (mu.max(0.0) + 0.375).sqrt()) / (1.0 + phi * mu.max(0.0)).sqrt()
}

/// Variance-stabilised deviation of `k` negatives among `n` toned mentions from the usual
/// share `p0`, with intra-class correlation `rho`.
pub fn share_z(k: f64, n: f64, p0: f64, rho: f64) -> f64 {
    if n <= 0.0 {
        return 0.0;
    }
    let a = ((k + 0.375) / (n + 0.75)).clamp(0.0, 1.0).sqrt().asin();
    let a0 = p0.clamp(1e-6, 1.0 - 1e-6).sqrt().asin();
    2.0 * (n + 0.5).sqrt() * (a - a0) / (1.0 + (n - 1.0).max(0.0) * rho).sqrt()
}

/// The dispersion φ_w of one window length, learned from that window's sums.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScaleDispersion {
    num: f64,
    den: f64,
    n: f64,
}

impl ScaleDispersion {
    /// φ_w of a window of `minutes`: the learned moments shrunk towards `prior` (the hourly φ),
    /// which weighs as much as 12 samples per minute of window length (an hour of samples for
    /// 5 minutes, three days for six hours): successive sums of a long window share almost all
    /// their minutes, so its samples say little each.
    pub fn phi(&self, prior: f64, minutes: i64) -> f64 {
        if self.n <= 0.0 || self.den <= 0.0 {
            return prior;
        }
        let k = 12.0 * minutes as f64 * self.den / self.n;
        ((self.num + prior * k) / (self.den + k)).clamp(0.0, 5.0)
    }

    /// Learns one window sum `n` against its expectation `mu`; a sum above `cap` is not
    /// learned (a crisis below the alarm must not widen the noise it is judged against).
    pub fn learn(&mut self, n: f64, mu: f64, prior: f64, minutes: i64, cap: f64) {
        if n > cap {
            return;
        }
        if mu < 0.5 {
            return; // Poisson noise swamps φ: a window expecting under one mention says nothing
        }
        let phi = self.phi(prior, minutes);
        let w = 1.0 / (1.0 + phi * mu).powi(2);
        let d = 1.0 - DISP_FORGET;
        self.num = d * self.num + w * ((n - mu).powi(2) - mu);
        self.den = d * self.den + w * mu * mu;
        self.n = d * self.n + 1.0;
    }
}

/// Exponentially forgotten sums of one statistic's samples and of its declustered excesses
/// over [`U`]: successive minutes of a window overlap, so one excursion above `U` lasts
/// several samples; only its peak is learned (runs declustering: an excursion ends after
/// `gap` samples back below `U`), and ζ is the rate of excursions per sample. The
/// calibrated p̂ is then the probability per minute that an excursion with a peak that high
/// starts, and an alarm level per minute is directly a number of alarms per week.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Tail {
    samples: f64,
    excesses: f64,
    s1: f64,
    s2: f64,
    /// Peak of the excursion in progress (negative when none).
    run_peak: f64,
    /// Samples back below `U` since the excursion's last excess.
    below: u32,
    /// The excursion in progress touched an alarm or an unlearnable value: it is not learned.
    tainted: bool,
}

impl Default for Tail {
    fn default() -> Self {
        Tail { samples: 0.0, excesses: 0.0, s1: 0.0, s2: 0.0, run_peak: -1.0, below: 0, tainted: false }
    }
}

impl Tail {
    /// Learns one sample `z` (one closed minute). An excursion that reaches `alarm` is not
    /// learned (alarms are not normal behaviour), nor one that goes beyond `U + max_excess`
    /// (a crisis that stays below the alarm must not teach the tail that crises are noise).
    /// `gap`: samples below `U` that end an excursion.
    pub fn observe(&mut self, z: f64, alarm: f64, max_excess: f64, gap: u32) {
        if !z.is_finite() {
            return;
        }
        if z >= alarm || z > U + max_excess {
            self.tainted = true;
            self.below = 0;
            return;
        }
        let d = 1.0 - TAIL_FORGET;
        self.samples = d * self.samples + 1.0;
        self.excesses *= d;
        self.s1 *= d;
        self.s2 *= d;
        if z > U {
            self.run_peak = self.run_peak.max(z);
            self.below = 0;
            return;
        }
        if self.run_peak < 0.0 && !self.tainted {
            return;
        }
        self.below += 1;
        if self.below >= gap.max(1) {
            if self.run_peak >= 0.0 && !self.tainted {
                let y = self.run_peak - U;
                self.excesses += 1.0;
                self.s1 += y;
                self.s2 += y * y;
            }
            self.run_peak = -1.0;
            self.tainted = false;
            self.below = 0;
        }
    }

    /// Effective number of excesses learned.
    pub fn excesses(&self) -> f64 {
        self.excesses
    }

    /// How far this tail is from cold, 0 to 1: [`ENOUGH_EXCESSES`] excursions, or two days of
    /// samples without them (a quiet statistic that rarely passes `U` has shown a light
    /// tail, which is evidence too).
    pub fn progress(&self) -> f64 {
        (self.excesses / ENOUGH_EXCESSES).max(self.samples / (2.0 * 1440.0)).min(1.0)
    }

    /// The fitted tail: this tail's excess moments and excursion rate, shrunk towards `prior`'s.
    pub fn fit(&self, prior: &TailFit) -> TailFit {
        let (m0, v0) = prior.moments();
        let k = PRIOR_EXCESSES;
        let e = self.excesses + k;
        let m1 = (self.s1 + k * m0) / e;
        let m2 = (self.s2 + k * (v0 + m0 * m0)) / e;
        let v = (m2 - m1 * m1).max(1e-9);
        let r = m1 * m1 / v;
        let xi = (0.5 * (1.0 - r)).clamp(XI_MIN, XI_MAX);
        // with ξ clipped, keep the mean excess: E[Y] = σ/(1 − ξ)
        let sigma = (m1 * (1.0 - xi)).max(1e-3);
        // the fewer excesses, the wider: inflate σ by half a standard error of the mean excess
        let sigma = sigma * (1.0 + 0.5 / e.sqrt());
        let zeta = ((self.excesses + PRIOR_SAMPLES * prior.zeta) / (self.samples + PRIOR_SAMPLES)).clamp(1e-6, 0.5);
        TailFit { zeta, sigma, xi }
    }
}

/// A fitted tail: excursions above [`U`] start with frequency ζ per sample and their peak's
/// excess is GPD(σ, ξ).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TailFit {
    /// Excursions above U per sample.
    pub zeta: f64,
    /// GPD scale.
    pub sigma: f64,
    /// GPD shape.
    pub xi: f64,
}

impl TailFit {
    /// The prior before any scope has data: a standard normal statistic's tail made a little
    /// heavier. The GPD that fits a normal tail above 2 sd has ξ ≈ −0.19, σ ≈ 0.44; the prior
    /// keeps σ with ξ = −0.1 and 1.5 times the normal's ζ (as if every minute above U began
    /// an excursion), which puts the 10⁻⁶ point at 5.3 sd where the normal has it at 4.75.
    pub fn default_prior() -> Self {
        TailFit { zeta: 1.5 * normal_upper_tail(U), sigma: 0.44, xi: -0.15 }
    }

    /// The excess (standardised) beyond which a sample is not learned: a fixed 3, i.e. five
    /// standard deviations, so that a tail cannot widen itself by learning ever larger
    /// excesses (a normal statistic passes 5 sd once in 3.5 million samples).
    pub fn max_excess(&self) -> f64 {
        MAX_EXCESS
    }

    /// Mean and variance of the excesses.
    fn moments(&self) -> (f64, f64) {
        let xi = self.xi.min(0.45);
        let m = self.sigma / (1.0 - xi);
        (m, m * m / (1.0 - 2.0 * xi))
    }

    /// Calibrated P(Z ≥ z). Below `U` the normal shape is kept, scaled to meet ζ at `U`.
    pub fn p(&self, z: f64) -> f64 {
        if z <= U {
            return (normal_upper_tail(z) * self.zeta / normal_upper_tail(U)).min(1.0);
        }
        let y = z - U;
        let tail = if self.xi.abs() < 1e-6 {
            (-y / self.sigma).exp()
        } else {
            let base = 1.0 + self.xi * y / self.sigma;
            if base <= 0.0 {
                return 1e-300;
            }
            base.powf(-1.0 / self.xi)
        };
        (self.zeta * tail).max(1e-300)
    }

    /// The `z` with calibrated exceedance probability `q`.
    pub fn threshold(&self, q: f64) -> f64 {
        if q >= self.zeta {
            return U;
        }
        let ratio = self.zeta / q;
        if self.xi.abs() < 1e-6 {
            U + self.sigma * ratio.ln()
        } else {
            U + self.sigma / self.xi * (ratio.powf(self.xi) - 1.0)
        }
    }
}

/// The level actually used by a scale `progress` (0 to 1, [`Tail::progress`]) from cold:
/// stricter, down to [`COLD_LEVEL`] × `q`, until it has enough history of its own.
pub fn cold_level(q: f64, progress: f64) -> f64 {
    q * (COLD_LEVEL + (1.0 - COLD_LEVEL) * progress.clamp(0.0, 1.0))
}

/// Keeps a brand's realised alarm rate at its budget (an adaptive-conformal style update):
/// every alarm multiplies the brand's levels by e^(−γ), every quiet week at the budget rate
/// gives it back, the multiplier clipped to [0.1, 1] (never looser than nominal). Real crises
/// count as alarms too, so the update is slow: one alarm takes 1/budget weeks to forgive.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BudgetGuard {
    log_kappa: f64,
    last_minute: i64,
}

impl Default for BudgetGuard {
    fn default() -> Self {
        BudgetGuard { log_kappa: 0.0, last_minute: i64::MIN }
    }
}

/// Step of the guard per alarm.
const GUARD_STEP: f64 = 0.2;
const GUARD_MIN: f64 = -std::f64::consts::LN_10; // ln 0.1

impl BudgetGuard {
    /// The multiplier κ ∈ [0.1, 1] on the brand's levels.
    pub fn kappa(&self) -> f64 {
        self.log_kappa.exp()
    }

    /// Event time moved to `minute`: credit the quiet time at `budget_per_week`.
    pub fn advance(&mut self, minute: i64, budget_per_week: f64) {
        if self.last_minute != i64::MIN && minute > self.last_minute {
            let weeks = (minute - self.last_minute) as f64 / 10_080.0;
            self.log_kappa = (self.log_kappa + GUARD_STEP * budget_per_week * weeks).min(0.0);
        }
        self.last_minute = self.last_minute.max(minute);
    }

    /// An alarm was raised.
    pub fn alarm(&mut self) {
        self.log_kappa = (self.log_kappa - GUARD_STEP).max(GUARD_MIN);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;
    use rand::SeedableRng;
    use rand_distr::{Distribution, Gamma, Normal, Poisson};

    #[test]
    fn count_z_is_standard_normal_for_poisson_and_inverts() {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(3);
        for mu in [3.0, 30.0, 3000.0] {
            let p = Poisson::new(mu).unwrap();
            let zs: Vec<f64> = (0..20_000).map(|_| count_z(p.sample(&mut rng), mu, 0.0)).collect();
            let mean = zs.iter().sum::<f64>() / zs.len() as f64;
            let var = zs.iter().map(|z| (z - mean).powi(2)).sum::<f64>() / zs.len() as f64;
            // Anscombe's bias at small μ is −1/(4√μ): −0.14 at μ = 3
            assert!(mean.abs() < 0.16 && (var - 1.0).abs() < 0.1, "μ {mu}: mean {mean} var {var}");
        }
        // multiplicative noise: with the right φ the spread is standard too
        let g = Gamma::new(5.0, 0.2).unwrap(); // φ = 0.2
        let zs: Vec<f64> = (0..20_000)
            .map(|_| count_z(Poisson::new(500.0 * g.sample(&mut rng)).unwrap().sample(&mut rng), 500.0, 0.2))
            .collect();
        let var = zs.iter().map(|z| z * z).sum::<f64>() / zs.len() as f64;
        assert!((0.8..1.2).contains(&var), "{var}");
        assert!(share_z(8.0, 10.0, 0.2, 0.0) > 3.0);
        assert!(share_z(2.0, 10.0, 0.2, 0.0).abs() < 0.5);
    }

    #[test]
    fn dispersion_is_learned_at_its_own_scale() {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(5);
        let g = Gamma::new(4.0, 0.25).unwrap(); // φ = 0.25
        let mut d = ScaleDispersion::default();
        assert_eq!(d.phi(0.05, 5), 0.05);
        for _ in 0..20_000 {
            let n = Poisson::new(40.0 * g.sample(&mut rng)).unwrap().sample(&mut rng);
            d.learn(n, 40.0, 0.05, 5, f64::INFINITY);
        }
        let phi = d.phi(0.05, 5);
        assert!((0.2..0.3).contains(&phi), "{phi}");
    }

    /// The calibrated threshold at level q is crossed by about q of fresh samples, for a light
    /// (normal) and a heavy (Pareto-like) tail alike.
    #[test]
    fn pot_threshold_holds_its_level() {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(9);
        let normal = Normal::new(0.0, 1.0).unwrap();
        let gens: [&dyn Fn(&mut rand_pcg::Pcg64) -> f64; 2] = [
            &|r| normal.sample(r),
            // a heavier tail than the prior's: ζ = 0.14, GPD excesses with σ = 1, ξ = 0.25
            &|r| {
                if r.gen_bool(0.14) {
                    let u: f64 = r.gen_range(1e-12..1.0);
                    U + (u.powf(-0.25) - 1.0) / 0.25
                } else {
                    normal.sample(r).min(1.9)
                }
            },
        ];
        for (gi, g) in gens.iter().enumerate() {
            let mut t = Tail::default();
            for _ in 0..200_000 {
                t.observe(g(&mut rng), f64::INFINITY, f64::INFINITY, 1);
            }
            let fit = t.fit(&TailFit::default_prior());
            let q = 1e-3;
            let thr = fit.threshold(q);
            let n = 400_000;
            let over = (0..n).filter(|_| g(&mut rng) >= thr).count() as f64 / n as f64;
            // conservative by design (σ inflated, ξ ≥ −0.1), never more than 1.5× the level
            assert!(over <= 1.5 * q && over >= q / 20.0, "generator {gi}: {over} at threshold {thr} ({fit:?})");
            assert!((fit.p(thr) / q - 1.0).abs() < 1e-6);
        }
    }

    #[test]
    fn alarms_do_not_teach_the_tail_and_pooling_shrinks() {
        // an excursion that reaches the alarm is not learned, not even its part below the alarm
        let mut t = Tail::default();
        for z in [2.5, 3.0, 50.0, 3.0, 1.0, 0.0] {
            t.observe(z, 10.0, f64::INFINITY, 1);
        }
        assert_eq!(t.excesses(), 0.0);
        let fit = t.fit(&TailFit::default_prior());
        // five samples learned (the alarm minute is not), none of them an excursion
        assert!((fit.zeta / (TailFit::default_prior().zeta * 1440.0 / 1445.0) - 1.0).abs() < 1e-6, "{fit:?}");
        // one excursion of three minutes is one excess, with its peak
        for z in [2.5, 3.5, 2.2, 1.0] {
            t.observe(z, 10.0, f64::INFINITY, 1);
        }
        assert!((t.excesses() - 1.0).abs() < 1e-3);
        assert!(cold_level(1e-6, 0.0) < 0.11e-6 && cold_level(1e-6, 1.0) == 1e-6);
    }

    #[test]
    fn budget_guard_tightens_slowly_and_forgives() {
        let mut g = BudgetGuard::default();
        g.advance(0, 0.1);
        for _ in 0..3 {
            g.alarm();
        }
        assert!((g.kappa() - (-0.6f64).exp()).abs() < 1e-12);
        g.advance(10_080 * 10, 0.1); // ten quiet weeks at 0.1/week give back one alarm
        assert!((g.kappa() - (-0.4f64).exp()).abs() < 1e-9, "{}", g.kappa());
        for _ in 0..100 {
            g.alarm();
        }
        assert!((g.kappa() - 0.1).abs() < 1e-9);
        g.advance(10_080 * 10_000, 0.1);
        assert_eq!(g.kappa(), 1.0);
    }
}
