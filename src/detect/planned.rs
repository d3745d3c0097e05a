//! Planned events: a window in which a brand expects more talk than usual on purpose (a
//! launch, a TV ad, a campaign), and by how much (`uplift`, e.g. 5× the usual volume).
//!
//! The model. Inside the window the usual expectation μ of each minute becomes `uplift`·μ:
//! a window of the volume and reach tests that overlaps the event expects
//! `μ_w + (uplift − 1)·μ_planned`, μ_planned being the baseline's expectation over the
//! overlapping minutes. A forecast is only a forecast, so the planned part also carries a
//! relative error: its volume is taken as lognormal around the forecast with a coefficient of
//! variation [`FORECAST_CV`] (0.35: the real uplift lies within a factor of two of the
//! forecast about 95 % of the time). That adds `CV² · f²` to the window's dispersion φ_w, `f`
//! being the planned share of the window's expectation; a launch pages for volume only when
//! it beats its own forecast by as much as normal talk must beat the usual to page, after that
//! error (and, as always, by `min_ratio`: 2× the forecast at the defaults).
//!
//! What does not change: the negative-share test (a launch that goes wrong must still page:
//! the share is tested against the usual share, whatever the volume), the silence test, and
//! severity grading. What is not learned: the hours and minutes of a planned event teach the
//! baseline and the tail calibration nothing, as an open incident's do not.
//!
//! Pure: minutes in, expectations out.

use super::baseline::Baseline;

/// Relative error of a forecast uplift (coefficient of variation of the planned part).
pub const FORECAST_CV: f64 = 0.35;

/// Largest uplift a planned event may declare.
pub const MAX_UPLIFT: f64 = 1000.0;

/// One planned event of a brand, in whole minutes since the epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Planned {
    /// First minute of the event.
    pub start_min: i64,
    /// First minute after it.
    pub end_min: i64,
    /// Expected volume as a multiple of the usual (≥ 1).
    pub uplift: f64,
}

impl Planned {
    /// The event for the time span `[start_ms, end_ms)`, minutes rounded outwards.
    pub fn from_millis(start_ms: i64, end_ms: i64, uplift: f64) -> Planned {
        Planned {
            start_min: start_ms.div_euclid(60_000),
            end_min: end_ms.div_euclid(60_000) + i64::from(end_ms.rem_euclid(60_000) != 0),
            uplift,
        }
    }

    /// Whether minute `m` is inside the event.
    pub fn covers(&self, m: i64) -> bool {
        (self.start_min..self.end_min).contains(&m)
    }

    /// Whether any minute of `[from, to]` is inside the event.
    pub fn overlaps(&self, from: i64, to: i64) -> bool {
        self.start_min <= to && from < self.end_min
    }
}

/// Whether any event overlaps the minutes `[from, to]`.
pub fn any_overlaps(plans: &[Planned], from: i64, to: i64) -> bool {
    plans.iter().any(|p| p.overlaps(from, to))
}

/// The expected mentions over `[from, to]` that the events add to the baseline's:
/// `Σ (uplift − 1) · μ(overlap)`. Overlapping events add their excesses.
pub fn extra(plans: &[Planned], baseline: &Baseline, from: i64, to: i64) -> f64 {
    plans
        .iter()
        .filter(|p| p.overlaps(from, to) && p.uplift > 1.0)
        .map(|p| (p.uplift - 1.0) * baseline.expected_minutes(from.max(p.start_min), to.min(p.end_min - 1)))
        .sum()
}

/// The window's expectation with the events' extra mentions: `(μ', added φ)`, the added
/// dispersion being the forecast error of the planned part ([`FORECAST_CV`]).
pub fn expect(usual: f64, extra: f64) -> (f64, f64) {
    if extra <= 0.0 {
        return (usual, 0.0);
    }
    let total = usual + extra;
    let f = extra / total;
    (total, FORECAST_CV * FORECAST_CV * f * f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::baseline::BaselineParams;
    use crate::detect::window::Bucket;

    fn flat(per_hour: u32) -> Baseline {
        let p = BaselineParams { warmup_hours: 24, ..BaselineParams::default() };
        let mut b = Baseline::new(&p);
        for h in 0..48 {
            b.learn_hour(&p, h, &Bucket { count: per_hour, ..Bucket::default() }, false);
        }
        b
    }

    #[test]
    fn minutes_round_outwards_and_cover_half_open() {
        let p = Planned::from_millis(90_000, 180_001, 5.0);
        assert_eq!((p.start_min, p.end_min), (1, 4));
        assert!(p.covers(1) && p.covers(3) && !p.covers(4) && !p.covers(0));
        assert!(p.overlaps(3, 10) && !p.overlaps(4, 10) && p.overlaps(-5, 1) && !p.overlaps(-5, 0));
    }

    #[test]
    fn extra_counts_only_the_overlap() {
        let b = flat(60); // one a minute
        let launch = Planned { start_min: 100, end_min: 160, uplift: 5.0 };
        // a window of 60 minutes, half inside: 30 minutes × 4 extra
        let x = extra(&[launch], &b, 130, 189);
        assert!((x - 120.0).abs() < 1e-6 * 120.0 + 1.0, "{x}");
        assert_eq!(extra(&[launch], &b, 160, 200), 0.0);
        let (mu, phi) = expect(60.0, x);
        assert!((mu - 60.0 - x).abs() < 1e-9 && phi > 0.0 && phi < FORECAST_CV * FORECAST_CV);
        assert_eq!(expect(60.0, 0.0), (60.0, 0.0));
        // an uplift of 1 (or below) adds nothing
        assert_eq!(extra(&[Planned { uplift: 1.0, ..launch }], &b, 100, 159), 0.0);
    }
}
