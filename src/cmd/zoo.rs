//! `crisiswatch evaluate --zoo`: the detector against every background process of the noise
//! zoo ([`NoiseFamily`]), in-process: each family is simulated into memory, its lines go
//! straight through the [`Engine`] as they are written, and the alerts are scored against
//! the labels with [`evaluate`].
//!
//! Calibration: with a budget of `false_alarms_per_week` per brand-week, an honest detector
//! raises about λ = budget × brand-weeks false alarms; more than the Poisson critical count
//! k (P(Poisson(λ) > k) ≤ 0.005, see [`band`]) says it is not calibrated on that family. A
//! detector far *below* its budget is suspicious too (it is deaf, or its budget is spent
//! elsewhere): [`band_low`] is reported, never asserted.

use super::evaluate::{evaluate, Report};
use super::simulate::{simulate, NoiseFamily, Scenario, SimOptions};
use crate::alert::AlertEvent;
use crate::engine::Engine;
use crate::ingest::parse_line;
use crate::rules::RuleSet;
use serde::Serialize;
use std::fmt::Write as _;
use std::io::Write;

/// The tail probability of the calibration band, each side.
pub const BAND_ALPHA: f64 = 0.005;

/// The crisis kinds whose delays the table shows, in its column order.
pub const DELAY_KINDS: [Scenario; 4] =
    [Scenario::Outage, Scenario::ViralComplaint, Scenario::NegativeDrift, Scenario::Boycott];

/// Sizes of the simulated streams of a zoo run.
#[derive(Debug, Clone)]
pub struct ZooOptions {
    /// Days per stream.
    pub days: u32,
    /// Brands per stream.
    pub brands: u32,
    /// The largest brand's daily rate (brands spread log-uniformly from 20 up to it).
    pub max_rate_per_day: f64,
    /// Crises adding fewer mentions than this are left out of recall.
    pub min_extra: f64,
}

impl Default for ZooOptions {
    fn default() -> Self {
        ZooOptions { days: 21, brands: 12, max_rate_per_day: 20_000.0, min_extra: 30.0 }
    }
}

/// How the detector did on one noise family, over all seeds.
#[derive(Debug, Clone, Serialize)]
pub struct FamilyReport {
    /// The background process.
    pub family: NoiseFamily,
    /// Seeds simulated.
    pub seeds: Vec<u64>,
    /// Mentions replayed.
    pub mentions: u64,
    /// Brands × weeks over all seeds.
    pub brand_weeks: f64,
    /// Firing events matching no label.
    pub false_alarms: usize,
    /// `false_alarms / brand_weeks`.
    pub false_alarms_per_brand_week: f64,
    /// The rules' budget, false alarms per brand-week.
    pub budget: f64,
    /// `budget × brand_weeks`.
    pub expected_false_alarms: f64,
    /// Upper critical count: more false alarms than this is miscalibration.
    pub band_max: u64,
    /// Lower critical count: fewer is suspiciously deaf (reported only).
    pub band_min: u64,
    /// Crises with at least `min_extra` extra mentions.
    pub crises: usize,
    /// Of which alerted.
    pub detected: usize,
    /// `detected / crises` (`None` without crises).
    pub recall: Option<f64>,
    /// Benign bursts.
    pub benign: usize,
    /// Benign bursts with an event above `watch`.
    pub benign_above_watch: usize,
    /// Median minutes to the first alert per crisis kind ([`DELAY_KINDS`] order).
    pub median_delay_min: Vec<(Scenario, Option<f64>)>,
    /// Feed outages (labelled gaps), and how many raised a flatline alert.
    pub feed_outages: usize,
    /// Of which detected.
    pub feed_outages_detected: usize,
    /// Crises missed, `seed: brand kind start (+extra)`.
    pub missed: Vec<String>,
    /// False alarms, `seed: brand rule at severity`.
    pub false_alarm_list: Vec<String>,
}

impl FamilyReport {
    /// Whether the false alarms are within the upper band.
    pub fn calibrated(&self) -> bool {
        self.false_alarms as u64 <= self.band_max
    }
}

/// Poisson upper critical count: the least k with P(Poisson(λ) > k) ≤ `alpha`.
pub fn band(lambda: f64, alpha: f64) -> u64 {
    let lambda = lambda.max(0.0);
    let (mut k, mut cdf, mut log_fact) = (0u64, 0.0f64, 0.0f64);
    loop {
        if k > 0 {
            log_fact += (k as f64).ln();
        }
        let log_pmf = if lambda == 0.0 {
            if k == 0 {
                0.0
            } else {
                f64::NEG_INFINITY
            }
        } else {
            -lambda + k as f64 * lambda.ln() - log_fact
        };
        cdf += log_pmf.exp();
        if 1.0 - cdf <= alpha || k > 10 * (lambda as u64 + 10) {
            return k;
        }
        k += 1;
    }
}

/// Poisson lower critical count: the largest k with P(Poisson(λ) < k) ≤ `alpha` (0 when
/// even none at all is not unlikely).
pub fn band_low(lambda: f64, alpha: f64) -> u64 {
    let lambda = lambda.max(0.0);
    let (mut k, mut cdf_below, mut log_fact) = (0u64, 0.0f64, 0.0f64);
    loop {
        // cdf_below = P(X < k)
        if k > 0 {
            log_fact += (k as f64).ln();
        }
        let log_pmf = if lambda == 0.0 { f64::NEG_INFINITY } else { -lambda + k as f64 * lambda.ln() - log_fact };
        let next = cdf_below + log_pmf.exp();
        if next > alpha {
            return k;
        }
        cdf_below = next;
        k += 1;
    }
}

/// A sink for `simulate` that feeds every complete line to the engine as it is written.
struct EngineSink {
    engine: Engine,
    pending: Vec<u8>,
    cap: usize,
    events: Vec<AlertEvent>,
    mentions: u64,
    rejected: u64,
}

impl Write for EngineSink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(data);
        let mut start = 0;
        while let Some(i) = memchr::memchr(b'\n', &self.pending[start..]) {
            let line = &self.pending[start..start + i];
            match parse_line(line, self.cap) {
                Ok(m) => {
                    self.engine.process(&m);
                    self.mentions += 1;
                    self.events.append(&mut self.engine.events);
                }
                Err(_) => self.rejected += 1,
            }
            start += i + 1;
        }
        self.pending.drain(..start);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One stream: its score and how many mentions it had.
fn run_seed(family: NoiseFamily, seed: u64, opts: &ZooOptions, rules: &RuleSet) -> (Report, u64) {
    let sim = SimOptions {
        seed,
        days: opts.days,
        brands: opts.brands,
        noise: family,
        max_rate_per_day: opts.max_rate_per_day,
        ..SimOptions::default()
    };
    let engine = Engine::new(rules).expect("the rules' brand matcher builds (validated rules)");
    let mut sink = EngineSink {
        engine,
        pending: Vec::new(),
        cap: rules.settings.max_line_bytes,
        events: Vec::new(),
        mentions: 0,
        rejected: 0,
    };
    let labels = simulate(&sim, &mut sink).expect("writing into memory does not fail");
    debug_assert_eq!(sink.rejected, 0, "simulated lines parse");
    let report = evaluate(&labels, &sink.events, f64::from(opts.days), opts.brands.max(1) as usize, opts.min_extra);
    (report, sink.mentions)
}

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

/// Simulates `family` for every seed, replays it through the engine and scores it.
pub fn run_family(family: NoiseFamily, seeds: &[u64], opts: &ZooOptions, rules: &RuleSet) -> FamilyReport {
    // the budget of a brand without its own sensitivity (simulated brands have none)
    let budget = rules.settings.false_alarms_per_week * rules.settings.sensitivity.factor();
    let mut r = FamilyReport {
        family,
        seeds: seeds.to_vec(),
        mentions: 0,
        brand_weeks: 0.0,
        false_alarms: 0,
        false_alarms_per_brand_week: 0.0,
        budget,
        expected_false_alarms: 0.0,
        band_max: 0,
        band_min: 0,
        crises: 0,
        detected: 0,
        recall: None,
        benign: 0,
        benign_above_watch: 0,
        median_delay_min: Vec::new(),
        feed_outages: 0,
        feed_outages_detected: 0,
        missed: Vec::new(),
        false_alarm_list: Vec::new(),
    };
    let mut delays: Vec<Vec<f64>> = vec![Vec::new(); DELAY_KINDS.len()];
    for &seed in seeds {
        let (rep, mentions) = run_seed(family, seed, opts, rules);
        r.mentions += mentions;
        r.brand_weeks += f64::from(opts.brands.max(1)) * f64::from(opts.days) / 7.0;
        r.false_alarms += rep.false_alarms;
        r.crises += rep.crises;
        r.detected += rep.detected;
        r.benign += rep.benign;
        r.benign_above_watch += rep.benign_above_watch;
        r.feed_outages += rep.feed_outages;
        r.feed_outages_detected += rep.feed_outages_detected;
        r.missed.extend(rep.missed.iter().map(|m| format!("{seed}: {m}")));
        r.false_alarm_list.extend(rep.false_alarm_list.iter().map(|f| format!("{seed}: {f}")));
        for (kind, d) in &rep.delays_min {
            if let Some(i) = DELAY_KINDS.iter().position(|k| k == kind) {
                delays[i].extend(d);
            }
        }
    }
    r.false_alarms_per_brand_week = r.false_alarms as f64 / r.brand_weeks.max(1e-9);
    r.expected_false_alarms = budget * r.brand_weeks;
    r.band_max = band(r.expected_false_alarms, BAND_ALPHA);
    r.band_min = band_low(r.expected_false_alarms, BAND_ALPHA);
    r.recall = (r.crises > 0).then(|| r.detected as f64 / r.crises as f64);
    r.median_delay_min = DELAY_KINDS.iter().zip(&mut delays).map(|(k, d)| (*k, median(d))).collect();
    r
}

/// The zoo as a Markdown table, one row per family, and a legend.
pub fn markdown(reports: &[FamilyReport]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| family | brand-weeks | false alarms | per brand-week | budget | band (≤ k) | recall | benign > watch | median delay min (outage/viral/drift/boycott) |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---|");
    for r in reports {
        let mark = if !r.calibrated() {
            " ✗"
        } else if (r.false_alarms as u64) < r.band_min {
            " ↓"
        } else {
            ""
        };
        let recall = match r.recall {
            Some(x) => format!("{:.2} ({}/{})", x, r.detected, r.crises),
            None => "–".to_string(),
        };
        let delays: Vec<String> =
            r.median_delay_min.iter().map(|(_, d)| d.map_or_else(|| "–".to_string(), |d| format!("{d:.0}"))).collect();
        let _ = writeln!(
            s,
            "| {} | {:.0} | {}{} | {:.3} | {} | ≤ {} | {} | {}/{} | {} |",
            r.family,
            r.brand_weeks,
            r.false_alarms,
            mark,
            r.false_alarms_per_brand_week,
            r.budget,
            r.band_max,
            recall,
            r.benign_above_watch,
            r.benign,
            delays.join(" / ")
        );
    }
    let _ = writeln!(
        s,
        "\nband: the Poisson critical count k with P(Poisson(budget × brand-weeks) > k) ≤ {BAND_ALPHA}; ✗ = above it \
         (miscalibrated), ↓ = below the lower critical count (suspiciously deaf; reported only)."
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn band_is_the_poisson_critical_count() {
        // P(Poisson(3.6) > 9) ≈ 0.0042 and P(> 8) ≈ 0.0118
        assert_eq!(band(3.6, 0.005), 9);
        assert_eq!(band(0.0, 0.005), 0);
        // P(Poisson(1) > 4) ≈ 0.0037, P(> 3) ≈ 0.019
        assert_eq!(band(1.0, 0.005), 4);
        // large λ: about λ + 2.58 √λ
        let k = band(1000.0, 0.005);
        assert!((1075..=1085).contains(&k), "{k}");
        assert_eq!(band_low(3.6, 0.005), 0);
        let lo = band_low(1000.0, 0.005);
        assert!((915..=925).contains(&lo), "{lo}");
    }
}
