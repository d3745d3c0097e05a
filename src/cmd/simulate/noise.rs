//! The noise zoo: the background processes `simulate --noise FAMILY` can draw a brand's
//! normal stream from, so that no single simulator decides whether the detector is
//! calibrated. The labelled scenarios go on top of every one of them.
//!
//! | family | background |
//! |---|---|
//! | `hourly` (default) | today's stream: diurnal × weekly (weekends 0.75) rate, a Gamma rate multiplier per hour (shape 20), Poisson counts |
//! | `poisson` | plain Poisson at the diurnal × weekly rate, no rate noise |
//! | `negbin` | a Gamma multiplier (mean 1, variance φ = 0.3) drawn per minute per brand: i.i.d. negative binomial counts |
//! | `gamma5`, `gamma10`, `gamma30` | a Gamma level multiplier (mean 1, variance 0.2) shared over 5-, 10- or 30-minute blocks |
//! | `hawkes` | self-exciting cascades: every post spawns Poisson(0.6) re-shares of its root after an exponential delay (mean 4 min); immigrants at 0.4 × the rate, so the mean is unchanged |
//! | `steps` | hourly noise, times unlabelled level steps (×0.6–1.6 for 1–4 days, at random times) and a slow trend (up to ±50 % a week) |
//! | `cycles` | hourly noise, a heavy daily cycle (peak/trough = 10) shifted by the brand's time zone (UTC−8 … UTC+9), weekends ×0.5 or ×1.3 by brand |
//! | `lowcount` | hourly noise, every brand at 5–140 mentions a day (≤ 0.1 a minute) |
//! | `gaps` | hourly noise, and every brand loses its whole stream for 20–180 minutes every five days or so, labelled as `FeedOutage` |
//!
//! Only `hourly` draws its noise from the scenario RNG (so its output is what it always
//! was); every other family draws its own numbers from a second RNG seeded from the seed.

use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Exp, Gamma, Poisson};
use serde::{Deserialize, Serialize};

/// The background process of a simulated stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum NoiseFamily {
    /// Today's stream: a Gamma rate multiplier per hour (φ = 0.05), Poisson counts.
    #[default]
    #[value(name = "hourly")]
    Hourly,
    /// Plain Poisson at the diurnal × weekly rate.
    #[value(name = "poisson")]
    Poisson,
    /// I.i.d. negative binomial counts per minute (φ = 0.3).
    #[value(name = "negbin")]
    Negbin,
    /// Gamma level noise (variance 0.2) shared over 5-minute blocks.
    #[value(name = "gamma5")]
    Gamma5,
    /// Gamma level noise (variance 0.2) shared over 10-minute blocks.
    #[value(name = "gamma10")]
    Gamma10,
    /// Gamma level noise (variance 0.2) shared over 30-minute blocks.
    #[value(name = "gamma30")]
    Gamma30,
    /// Self-exciting re-share cascades (branching ratio 0.6, delays of about 4 minutes).
    #[value(name = "hawkes")]
    Hawkes,
    /// Unlabelled level steps and slow trends.
    #[value(name = "steps")]
    Steps,
    /// Heavy daily cycles, per-brand time zones and weekend levels.
    #[value(name = "cycles")]
    Cycles,
    /// Every brand at 5–140 mentions a day.
    #[value(name = "lowcount")]
    Lowcount,
    /// Feed gaps of 20–180 minutes, labelled as feed outages.
    #[value(name = "gaps")]
    Gaps,
}

impl NoiseFamily {
    /// Every family, the default first.
    pub const ALL: [NoiseFamily; 11] = [
        NoiseFamily::Hourly,
        NoiseFamily::Poisson,
        NoiseFamily::Negbin,
        NoiseFamily::Gamma5,
        NoiseFamily::Gamma10,
        NoiseFamily::Gamma30,
        NoiseFamily::Hawkes,
        NoiseFamily::Steps,
        NoiseFamily::Cycles,
        NoiseFamily::Lowcount,
        NoiseFamily::Gaps,
    ];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            NoiseFamily::Hourly => "hourly",
            NoiseFamily::Poisson => "poisson",
            NoiseFamily::Negbin => "negbin",
            NoiseFamily::Gamma5 => "gamma5",
            NoiseFamily::Gamma10 => "gamma10",
            NoiseFamily::Gamma30 => "gamma30",
            NoiseFamily::Hawkes => "hawkes",
            NoiseFamily::Steps => "steps",
            NoiseFamily::Cycles => "cycles",
            NoiseFamily::Lowcount => "lowcount",
            NoiseFamily::Gaps => "gaps",
        }
    }

    /// Whether the stream keeps today's hour-to-hour Gamma rate multiplier.
    pub(super) fn hourly_noise(self) -> bool {
        matches!(
            self,
            NoiseFamily::Hourly | NoiseFamily::Steps | NoiseFamily::Cycles | NoiseFamily::Lowcount | NoiseFamily::Gaps
        )
    }

    /// The range of daily brand rates, given the usual `(min, max)`.
    pub(super) fn rate_range(self, usual: (f64, f64)) -> (f64, f64) {
        match self {
            NoiseFamily::Lowcount => (5.0, 140.0),
            _ => usual,
        }
    }

    /// Branching ratio of the `hawkes` cascades (0 for the other families).
    pub(super) fn branching(self) -> f64 {
        if self == NoiseFamily::Hawkes {
            BRANCHING
        } else {
            0.0
        }
    }
}

impl std::fmt::Display for NoiseFamily {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

const BRANCHING: f64 = 0.6;
const RESHARE_DELAY_MIN: f64 = 4.0;
const NEGBIN_PHI: f64 = 0.3;
const BLOCK_VARIANCE: f64 = 0.2;
/// Mean of the default diurnal shape over a day (the rate is divided by it).
pub(super) const DIURNAL_MEAN: f64 = 0.93;

/// The default diurnal shape: quiet at night, peak in the early evening.
pub(super) fn diurnal(hour: f64) -> f64 {
    0.35 + 1.3 * (-((hour - 18.0) / 5.0).powi(2)).exp() + 0.5 * (-((hour - 11.0) / 3.0).powi(2)).exp()
}

/// The `cycles` shape: `exp(A cos(2π(h − 18)/24))` with peak/trough = e^{2A} = 10.
fn heavy_cycle(hour: f64) -> f64 {
    let a = 10f64.ln() / 2.0;
    (a * (std::f64::consts::TAU * (hour - 18.0) / 24.0).cos()).exp()
}

/// The per-brand background state of one stream: shapes, time zones, levels and the
/// family's own RNG.
pub(super) struct Background {
    family: NoiseFamily,
    /// The family's own random numbers (never the scenario RNG).
    pub(super) rng: rand_pcg::Pcg64,
    /// Current multiplier per brand (block or per-minute Gamma noise).
    mult: Vec<f64>,
    /// `cycles`: time-zone shift per brand, minutes.
    tz_min: Vec<i64>,
    /// `cycles`: weekend level per brand.
    weekend: Vec<f64>,
    /// `cycles`: normalisation of the heavy cycle to a mean of [`DIURNAL_MEAN`].
    cycle_norm: f64,
    /// `steps`: level per brand per minute.
    level: Vec<Vec<f32>>,
}

impl Background {
    /// The background of `brands` brands over `total_min` minutes.
    pub(super) fn new(family: NoiseFamily, brands: usize, total_min: i64, seed: u64) -> Self {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(seed ^ 0x005E_ED0F_2001_u64.rotate_left(17));
        let mut bg = Background {
            family,
            mult: vec![1.0; brands],
            tz_min: vec![0; brands],
            weekend: vec![0.75; brands],
            cycle_norm: 1.0,
            level: Vec::new(),
            rng: rand_pcg::Pcg64::seed_from_u64(0),
        };
        match family {
            NoiseFamily::Cycles => {
                for i in 0..brands {
                    bg.tz_min[i] = rng.gen_range(-8i64..=9) * 60;
                    bg.weekend[i] = if i % 2 == 0 { 0.5 } else { 1.3 };
                }
                let mean = (0..1440).map(|m| heavy_cycle(f64::from(m) / 60.0)).sum::<f64>() / 1440.0;
                bg.cycle_norm = DIURNAL_MEAN / mean;
            }
            NoiseFamily::Steps => {
                bg.level = (0..brands).map(|_| step_levels(&mut rng, total_min)).collect();
            }
            _ => {}
        }
        bg.rng = rng;
        bg
    }

    /// Draws the block or per-minute multipliers due at `minute` (call once a minute, before
    /// [`Background::level`]).
    pub(super) fn advance(&mut self, minute: i64) {
        let (block, variance) = match self.family {
            NoiseFamily::Negbin => (1, NEGBIN_PHI),
            NoiseFamily::Gamma5 => (5, BLOCK_VARIANCE),
            NoiseFamily::Gamma10 => (10, BLOCK_VARIANCE),
            NoiseFamily::Gamma30 => (30, BLOCK_VARIANCE),
            _ => return,
        };
        if minute % block == 0 {
            let g = Gamma::new(1.0 / variance, variance).expect("valid gamma");
            for x in &mut self.mult {
                *x = g.sample(&mut self.rng);
            }
        }
    }

    /// The daily shape at `minute` for brand `bi` (mean [`DIURNAL_MEAN`] over a day).
    pub(super) fn daily(&self, bi: usize, minute: i64) -> f64 {
        match self.family {
            NoiseFamily::Cycles => {
                let local = (minute + self.tz_min[bi]).rem_euclid(1440);
                heavy_cycle(local as f64 / 60.0) * self.cycle_norm
            }
            _ => diurnal((minute % 1440) as f64 / 60.0),
        }
    }

    /// The weekly factor at `minute` for brand `bi` (the stream starts on a Monday).
    pub(super) fn weekly(&self, bi: usize, minute: i64) -> f64 {
        let local = minute + self.tz_min[bi];
        let dow = local.div_euclid(1440).rem_euclid(7);
        if dow >= 5 {
            self.weekend[bi]
        } else {
            1.0
        }
    }

    /// The family's level multiplier for brand `bi` at `minute` (1 for most families).
    pub(super) fn level(&self, bi: usize, minute: i64) -> f64 {
        match self.family {
            NoiseFamily::Steps => f64::from(self.level[bi].get(minute as usize).copied().unwrap_or(1.0)),
            NoiseFamily::Negbin | NoiseFamily::Gamma5 | NoiseFamily::Gamma10 | NoiseFamily::Gamma30 => self.mult[bi],
            NoiseFamily::Hawkes => 1.0 - BRANCHING,
            _ => 1.0,
        }
    }

    /// Children of one `hawkes` post: their delays after it, in milliseconds.
    pub(super) fn offspring(&mut self) -> Vec<i64> {
        let k = Poisson::new(BRANCHING).map(|p| p.sample(&mut self.rng) as usize).unwrap_or(0);
        let delay = Exp::new(1.0 / (RESHARE_DELAY_MIN * 60_000.0)).expect("valid exponential");
        (0..k).map(|_| (delay.sample(&mut self.rng) as i64).max(1)).collect()
    }
}

/// `steps`: a level per minute: a slow trend (log-slope drawn every week, up to ±50 % a
/// week, kept within ×0.5–2) times steps of ×0.6–1.6 lasting 1–4 days with 0.5–3 quiet
/// days between them.
fn step_levels(rng: &mut impl Rng, total_min: i64) -> Vec<f32> {
    let n = total_min.max(0) as usize;
    let mut out = Vec::with_capacity(n);
    let max_slope = 1.5f64.ln() / (7.0 * 1440.0);
    let (mut log_trend, mut slope) = (0.0f64, 0.0f64);
    let mut step = 1.0;
    let mut next_change = rng.gen_range(1440..3 * 1440);
    for minute in 0..total_min {
        if minute % (7 * 1440) == 0 {
            slope = rng.gen_range(-max_slope..max_slope);
        }
        log_trend = (log_trend + slope).clamp(0.5f64.ln(), 2f64.ln());
        if minute == next_change {
            if step == 1.0 {
                step = rng.gen_range(0.6..1.6);
                next_change += rng.gen_range(1440..4 * 1440);
            } else {
                step = 1.0;
                next_change += rng.gen_range(720..3 * 1440);
            }
        }
        out.push((step * log_trend.exp()) as f32);
    }
    out
}

/// `gaps`: feed gaps of 20–180 minutes for one brand, about one every five days after the
/// first day, each at least three hours away from the brand's scenarios (`busy`, minutes).
pub(super) fn feed_gaps(rng: &mut impl Rng, total_min: i64, busy: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let n = (total_min / (5 * 1440)).max(2);
    let margin = 180;
    let mut gaps: Vec<(i64, i64)> = Vec::new();
    for _ in 0..n {
        for _attempt in 0..50 {
            let dur = rng.gen_range(20..=180);
            if total_min <= 1440 + dur + margin {
                break;
            }
            let start = rng.gen_range(1440..total_min - dur - margin);
            let clear = |&(s, e): &(i64, i64)| start + dur + margin <= s || start >= e + margin;
            if busy.iter().all(clear) && gaps.iter().all(clear) {
                gaps.push((start, start + dur));
                break;
            }
        }
    }
    gaps.sort_unstable();
    gaps
}
