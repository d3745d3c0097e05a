//! The learned baseline of one brand scope, updated online once per closed hour:
//!
//! * **level**: deseasonalised mentions per hour, an EWMA (half-life about 1.5 days);
//! * **time-of-week profile**: 168 hourly multipliers with mean 1, held as the product of a
//!   24-slot daily shape and a 7-slot day-of-week factor, so that each slot learns from every
//!   day rather than once a week (a smoothed, rank-one time-of-week profile);
//! * **dispersion** φ of the negative binomial (variance μ + φμ²), a weighted moment
//!   estimate from hourly residuals, so it includes the baseline's own prediction error;
//! * **negative share** p₀ and its overdispersion ρ (beta-binomial intra-class correlation);
//! * **influential share**: the fraction of mentions by authors with 10,000+ followers.
//!
//! Robustness: each hourly observation is winsorised at the baseline's upper band before it
//! is learned, and while an incident is open on the scope the level, profile and dispersion
//! are frozen (for at most a day, after which a lasting shift is accepted as the new normal).
//!
//! Warm-up: for the first `warmup_hours` the level is the plain mean of the hours seen, the
//! profile is flat and φ keeps its conservative prior; [`Baseline::is_warm`] is false and the
//! volume and reach detectors stay silent (the tone detector uses a prior share instead).

use super::window::Bucket;

/// Tunables of the baseline; fixed per rule set.
#[derive(Debug, Clone, Copy)]
pub struct BaselineParams {
    /// Hours of history before the volume detector may fire.
    pub warmup_hours: u32,
    /// Prior dispersion φ, kept through warm-up.
    pub prior_phi: f64,
    /// Prior negative share until the brand's own is learned.
    pub prior_negative_share: f64,
    /// Hours an open incident may freeze the baseline.
    pub max_freeze_hours: u32,
}

impl Default for BaselineParams {
    fn default() -> Self {
        BaselineParams { warmup_hours: 24, prior_phi: 0.25, prior_negative_share: 0.2, max_freeze_hours: 72 }
    }
}

const LEVEL_RATE: f64 = 0.02;
const DAILY_RATE: f64 = 0.15;
const DOW_RATE: f64 = 0.01;
const DISPERSION_RATE: f64 = 0.01;
/// Hours of data the dispersion prior is worth once warm-up ends.
const PRIOR_HOURS: f64 = 24.0;
const SHARE_RATE: f64 = 0.005;
/// Consecutive out-of-band hours skipped before they are accepted as a lasting change.
const MAX_OUTLIER_RUN: u32 = 6;
const MIN_PHI: f64 = 0.005;
const MAX_PHI: f64 = 3.0;

/// Online baseline; about 250 bytes.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Baseline {
    level: f64,
    daily: [f32; 24],
    dow: [f32; 7],
    hours: u32,
    frozen_hours: u32,
    outlier_run: u32,
    warm_sum: f64,
    warm_hourly: [f32; 24],
    disp_num: f64,
    disp_den: f64,
    neg_num: f64,
    neg_den: f64,
    rho_num: f64,
    rho_den: f64,
    infl_num: f64,
    infl_den: f64,
    /// Last hour index (hours since the epoch) that was learned.
    pub last_hour: i64,
}

impl Baseline {
    /// A fresh baseline holding only the priors.
    pub fn new(p: &BaselineParams) -> Self {
        Baseline {
            level: 0.0,
            daily: [1.0; 24],
            dow: [1.0; 7],
            hours: 0,
            frozen_hours: 0,
            outlier_run: 0,
            warm_sum: 0.0,
            warm_hourly: [0.0; 24],
            // re-weighted when warm-up ends, see `learn_volume`
            disp_num: p.prior_phi,
            disp_den: 1.0,
            neg_num: p.prior_negative_share * 20.0,
            neg_den: 20.0,
            rho_num: 0.02 * 500.0,
            rho_den: 500.0,
            infl_num: 0.02 * 200.0,
            infl_den: 200.0,
            last_hour: i64::MIN,
        }
    }

    /// Whether enough history exists for the volume and reach detectors.
    pub fn is_warm(&self, p: &BaselineParams) -> bool {
        self.hours >= p.warmup_hours
    }

    fn profile_at(&self, hour: i64) -> f64 {
        let how = ((hour + 72).rem_euclid(168)) as usize; // epoch hour 0 is Thursday 00:00
        f64::from(self.daily[how % 24]) * f64::from(self.dow[how / 24])
    }

    /// Expected mentions in hour `hour` (hours since the epoch).
    pub fn expected_hour(&self, hour: i64) -> f64 {
        self.level * self.profile_at(hour)
    }

    /// The highest expected mentions in any hour of the week (a cheap upper bound).
    pub fn peak_hourly(&self) -> f64 {
        let d = self.daily.iter().copied().fold(0f32, f32::max);
        let w = self.dow.iter().copied().fold(0f32, f32::max);
        self.level * f64::from(d) * f64::from(w)
    }

    /// Expected mentions in the minutes `[start, end]` (inclusive minute indices).
    pub fn expected_minutes(&self, start: i64, end: i64) -> f64 {
        let mut total = 0.0;
        let mut m = start;
        while m <= end {
            let hour = m.div_euclid(60);
            let hour_end = hour * 60 + 59;
            let upto = hour_end.min(end);
            total += self.expected_hour(hour) * (upto - m + 1) as f64 / 60.0;
            m = upto + 1;
        }
        total
    }

    /// Negative binomial dispersion φ at the hourly scale, as used by the tests: the learned
    /// φ plus 2/h for the uncertainty of a baseline learned from only h hours (young
    /// baselines mispredict, and their residuals have not yet taught φ so).
    pub fn phi(&self) -> f64 {
        self.learned_phi() + 2.0 / f64::from(self.hours.max(1))
    }

    fn learned_phi(&self) -> f64 {
        (self.disp_num / self.disp_den).clamp(MIN_PHI, MAX_PHI)
    }

    /// The brand's usual negative share.
    pub fn negative_share(&self) -> f64 {
        (self.neg_num / self.neg_den).clamp(0.001, 0.999)
    }

    /// Beta-binomial intra-class correlation ρ of the negative share.
    pub fn rho(&self) -> f64 {
        (self.rho_num / self.rho_den).clamp(0.001, 0.1)
    }

    /// Usual fraction of mentions by influential authors (10,000+ followers).
    pub fn influential_share(&self) -> f64 {
        (self.infl_num / self.infl_den).clamp(1e-4, 1.0)
    }

    /// Learns one closed hour. `anomalous` is true while an incident is open on this scope.
    pub fn learn_hour(&mut self, p: &BaselineParams, hour: i64, b: &Bucket, anomalous: bool) {
        let freeze = anomalous && self.hours >= p.warmup_hours && self.frozen_hours < p.max_freeze_hours;
        self.learn_tone_and_reach(b, freeze);
        self.learn_volume(p, hour, f64::from(b.count), anomalous);
    }

    /// Passes over hour `hour` without learning from it: an hour of a planned event is not a
    /// sample of the usual (see [`super::planned`]).
    pub fn skip_hour(&mut self, hour: i64) {
        self.last_hour = hour;
    }

    /// Learns the volume `y` of one closed hour (also used by the NAB runner with
    /// non-integer values).
    pub fn learn_volume(&mut self, p: &BaselineParams, hour: i64, y: f64, anomalous: bool) {
        self.last_hour = hour;
        if self.hours < p.warmup_hours {
            self.warm_sum += y;
            self.warm_hourly[hour.rem_euclid(24) as usize] += y as f32;
            self.hours += 1;
            self.level = self.warm_sum / f64::from(self.hours);
            if self.hours == p.warmup_hours {
                if p.warmup_hours >= 24 {
                    self.seed_daily_shape();
                }
                // the prior φ now weighs as much as PRIOR_HOURS hours of data at this level
                let e = self.level.max(0.05);
                let w = 1.0 / (1.0 + p.prior_phi * e).powi(2);
                self.disp_den = PRIOR_HOURS * DISPERSION_RATE * w * e * e;
                self.disp_num = p.prior_phi * self.disp_den;
            }
            return;
        }
        self.hours = self.hours.saturating_add(1);
        let freeze = anomalous && self.frozen_hours < p.max_freeze_hours;
        self.frozen_hours = if anomalous { self.frozen_hours.saturating_add(1) } else { 0 };
        if freeze {
            return;
        }
        let e = self.expected_hour(hour).max(0.05);
        let phi = self.learned_phi();
        // winsorise at about ±3 sd (normal approximation: this runs once an hour per scope,
        // and the exact critical count would cost more than the whole hour's mentions)
        let sd = (e + phi * e * e).sqrt();
        let upper = e + 3.1 * sd + 1.0;
        let lower = (e - 3.0 * sd).max(0.0);
        // An hour far outside the band is skipped, not learned: the first hours of a crisis
        // must not raise the level or the dispersion before the detector has caught up (and
        // an incident freezes learning). Six such hours in a row are a lasting change and are
        // learned, winsorised.
        if y > upper || y < lower {
            self.outlier_run = self.outlier_run.saturating_add(1);
            if self.outlier_run <= MAX_OUTLIER_RUN {
                return;
            }
        } else {
            self.outlier_run = 0;
        }
        let yc = y.clamp(lower, upper);
        // dispersion: weighted method of moments, E[(y − e)² − e] = φ e². Below two mentions
        // an hour the Poisson noise swamps φ (one hour's estimate has a standard error of
        // several units), so quiet brands keep the prior.
        if e >= 2.0 {
            let w = 1.0 / (1.0 + phi * e).powi(2);
            self.disp_num = (1.0 - DISPERSION_RATE) * self.disp_num + DISPERSION_RATE * w * ((yc - e).powi(2) - e);
            self.disp_den = (1.0 - DISPERSION_RATE) * self.disp_den + DISPERSION_RATE * w * e * e;
            self.disp_num = self.disp_num.max(MIN_PHI * self.disp_den);
        }
        // level and profile (multiplicative Holt–Winters with the profile factored)
        let how = ((hour + 72).rem_euclid(168)) as usize;
        let (d, h) = (how / 24, how % 24);
        let prof = self.profile_at(hour).max(0.05);
        self.level += LEVEL_RATE * (yc / prof - self.level);
        if self.level > 0.0 {
            // shrink profile updates for thin data: 1 mention/hour says little about the shape
            let certainty = e / (e + 5.0);
            let dow = f64::from(self.dow[d]).max(0.05);
            let daily = f64::from(self.daily[h]).max(0.05);
            let target_daily = yc / (self.level * dow);
            let nd = daily + DAILY_RATE * certainty * (target_daily - daily);
            self.daily[h] = nd.clamp(0.02, 20.0) as f32;
            let target_dow = yc / (self.level * daily);
            let nw = dow + DOW_RATE * certainty * (target_dow - dow);
            self.dow[d] = nw.clamp(0.1, 10.0) as f32;
            if h == 23 {
                renormalise(&mut self.daily);
                renormalise(&mut self.dow);
            }
        }
    }

    fn learn_tone_and_reach(&mut self, b: &Bucket, freeze: bool) {
        if b.count > 0 && !freeze {
            let n = f64::from(b.count);
            let q = self.influential_share();
            let cap = n * q + 4.0 * (n * q).sqrt() + 1.0;
            self.infl_num = (1.0 - SHARE_RATE) * self.infl_num + SHARE_RATE * f64::from(b.influential).min(cap);
            self.infl_den = (1.0 - SHARE_RATE) * self.infl_den + SHARE_RATE * n;
        }
        if b.toned == 0 || freeze {
            return;
        }
        let (n, k) = (f64::from(b.toned), f64::from(b.negative));
        let p0 = self.negative_share();
        let sd = (n * p0 * (1.0 - p0) * (1.0 + (n - 1.0) * self.rho())).sqrt();
        // winsorised: a crisis hour teaches the usual share little
        let kc = k.min(n * p0 + 2.0 * sd + 1.0);
        self.neg_num = (1.0 - SHARE_RATE) * self.neg_num + SHARE_RATE * kc;
        self.neg_den = (1.0 - SHARE_RATE) * self.neg_den + SHARE_RATE * n;
        if n >= 5.0 {
            let v = n * p0 * (1.0 - p0);
            self.rho_num = (1.0 - SHARE_RATE) * self.rho_num + SHARE_RATE * ((kc - n * p0).powi(2) - v);
            self.rho_den = (1.0 - SHARE_RATE) * self.rho_den + SHARE_RATE * v * (n - 1.0);
        }
    }

    fn seed_daily_shape(&mut self) {
        let mean = self.level.max(1e-9);
        let mut raw = [0f32; 24];
        for (h, r) in raw.iter_mut().enumerate() {
            // pseudo-counts pull thin data towards a flat shape
            *r = ((f64::from(self.warm_hourly[h]) + 5.0) / (mean + 5.0)) as f32;
        }
        for h in 0..24 {
            self.daily[h] = 0.25 * raw[(h + 23) % 24] + 0.5 * raw[h] + 0.25 * raw[(h + 1) % 24];
        }
        renormalise(&mut self.daily);
    }
}

fn renormalise(xs: &mut [f32]) {
    let mean = xs.iter().map(|&x| f64::from(x)).sum::<f64>() / xs.len() as f64;
    if mean > 0.0 {
        for x in xs {
            *x = (f64::from(*x) / mean) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_distr::{Distribution, Gamma, Poisson};

    fn hour_bucket(count: u32, negative: u32) -> Bucket {
        Bucket {
            count,
            toned: count,
            negative,
            reshares: 0,
            new_authors: count,
            influential: 0,
            reach: 2.0 * count as f32,
            ..Bucket::default()
        }
    }

    /// A diurnal Poisson stream: the baseline should learn the level and the daily shape.
    #[test]
    fn learns_level_and_daily_profile() {
        let p = BaselineParams::default();
        let mut b = Baseline::new(&p);
        let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
        let truth = |h: i64| 100.0 * (1.0 + 0.6 * ((h % 24) as f64 / 24.0 * std::f64::consts::TAU).sin());
        for h in 0..24 * 21 {
            let y = Poisson::new(truth(h)).unwrap().sample(&mut rng) as u32;
            b.learn_hour(&p, h, &hour_bucket(y, y / 5), false);
        }
        for h in 24 * 21..24 * 22 {
            let rel = b.expected_hour(h) / truth(h);
            assert!((0.85..1.15).contains(&rel), "hour {h}: expected {} truth {}", b.expected_hour(h), truth(h));
        }
        // Poisson data: what remains of φ is the profile's own prediction error (≈ 5%)
        assert!(b.phi() < 0.08, "Poisson data should give small dispersion, got {}", b.phi());
        assert!((b.negative_share() - 0.2).abs() < 0.02);
    }

    /// Gamma-mixed Poisson (negative binomial with φ = 0.1): the estimate should be close.
    #[test]
    fn estimates_overdispersion() {
        let p = BaselineParams::default();
        let mut b = Baseline::new(&p);
        let mut rng = rand_pcg::Pcg64::seed_from_u64(11);
        let g = Gamma::new(10.0, 0.1).unwrap(); // mean 1, variance 0.1
        for h in 0..24 * 60 {
            let y = Poisson::new(50.0 * g.sample(&mut rng)).unwrap().sample(&mut rng) as u32;
            b.learn_hour(&p, h, &hour_bucket(y, 0), false);
        }
        assert!((0.06..0.15).contains(&b.phi()), "phi {}", b.phi());
    }

    /// A crisis must not teach the baseline that crises are normal.
    #[test]
    fn frozen_and_winsorised_during_incidents() {
        let p = BaselineParams::default();
        let mut b = Baseline::new(&p);
        for h in 0..24 * 7 {
            b.learn_hour(&p, h, &hour_bucket(20, 2), false);
        }
        let before = b.expected_hour(24 * 7);
        for h in 24 * 7..24 * 7 + 6 {
            b.learn_hour(&p, h, &hour_bucket(2000, 1800), true);
        }
        assert!((b.expected_hour(24 * 7 + 6) / before - 1.0).abs() < 0.05);
        assert!(b.negative_share() < 0.15);
        // even unflagged, one wild hour moves the level only a little
        b.learn_hour(&p, 24 * 8, &hour_bucket(5000, 0), false);
        assert!(b.expected_hour(24 * 8 + 1) / before < 1.2);
    }
}
