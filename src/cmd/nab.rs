//! `crisiswatch nab`: runs the volume model on every NAB series (DESIGN §2 CSV) and writes
//! NAB result files `OUT/<category>/crisiswatch_<file>.csv` with
//! `timestamp,value,anomaly_score,alert`, one row per input row, in file order.
//!
//! NAB values are not mention counts (CPU load, temperatures, prices), so each series is
//! first put on a count-like scale: values are divided by `s = σ²/m` (σ from the median
//! absolute first difference, m the mean, both over the first rows), which makes the
//! scaled series quasi-Poisson. Then the same [`Baseline`] as live learns the level, the
//! time-of-week profile and the dispersion hour by hour, and every row's last 1, 3 and 12
//! values become the live raw statistic (the variance-stabilised deviation with the
//! dispersion learned at that length), tested two-sided (drops matter in NAB as silences do
//! live) and calibrated exactly as live ([`crate::detect::calibrate`]: declustered
//! peaks-over-threshold tails per length and side). The score is
//! [`crate::detect::stats::score`] of the smallest calibrated p̂ against the live level per
//! row, so one threshold means the same on every series; `alert` is 1 where p̂ clears it.
//! As live, an incident alerts once and then only when it escalates: a row scores only when
//! its evidence exceeds every row's of the last day (300 rows), else 0.

use crate::detect::baseline::{Baseline, BaselineParams};
use crate::detect::calibrate::{count_z, ScaleDispersion, Tail, TailFit};
use crate::detect::stats::score;
use crate::rules::RuleSet;
use crate::time::{format_nab, parse_timestamp, Millis, HOUR_MS};
use anyhow::{bail, Context};
use std::collections::VecDeque;
use std::io::Write;
use std::path::Path;

const SUMS: [usize; 3] = [1, 3, 12];
/// Rows used to fix the scale before scoring starts.
const SCALE_ROWS: usize = 200;
/// Rows (a day of 5-minute rows) within which a weaker deviation is part of the same incident.
const ESCALATION_ROWS: usize = 300;
/// The raw statistic at which a sum is winsorised before the dispersion learns it (as live).
const DISP_CAP_Z: f64 = 4.0;

/// The calibration of one sum length: its dispersion and its upper and lower tails.
#[derive(Debug, Clone, Copy, Default)]
struct SumCalibration {
    disp: ScaleDispersion,
    up: Tail,
    down: Tail,
}

/// Online anomaly scorer for one series.
#[derive(Debug)]
pub struct SeriesDetector {
    params: BaselineParams,
    baseline: Baseline,
    /// Level per row and test (the live level per minute, times the minutes of a row, over
    /// the two sides).
    alpha: f64,
    warmup: Vec<(Millis, f64)>,
    scale: f64,
    offset: f64,
    rows_per_hour: f64,
    hour: i64,
    hour_sum: f64,
    hour_rows: u32,
    recent: VecDeque<(f64, f64)>,
    cal: [SumCalibration; 3],
    peaks: VecDeque<f64>,
}

impl SeriesDetector {
    /// A scorer with the live baseline settings and significance level.
    pub fn new(rules: &RuleSet) -> Self {
        let params = BaselineParams { warmup_hours: 24, ..rules.settings.baseline };
        SeriesDetector {
            params,
            baseline: Baseline::new(&params),
            alpha: rules.alpha(),
            warmup: Vec::new(),
            scale: 1.0,
            offset: 0.0,
            rows_per_hour: 12.0,
            hour: i64::MIN,
            hour_sum: 0.0,
            hour_rows: 0,
            recent: VecDeque::with_capacity(12),
            cal: [SumCalibration::default(); 3],
            peaks: VecDeque::with_capacity(ESCALATION_ROWS),
        }
    }

    fn fix_scale(&mut self) {
        let vals: Vec<f64> = self.warmup.iter().map(|&(_, v)| v).collect();
        let min = vals.iter().copied().fold(f64::INFINITY, f64::min);
        let mut diffs: Vec<f64> = vals.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
        diffs.sort_by(f64::total_cmp);
        let mad = diffs.get(diffs.len() / 2).copied().unwrap_or(0.0);
        let mean_abs = vals.iter().map(|v| v.abs()).sum::<f64>() / vals.len().max(1) as f64;
        let sigma = (mad * 1.4826 / std::f64::consts::SQRT_2).max(mean_abs * 1e-3).max(1e-9);
        self.offset = if min < 0.0 { -min + sigma } else { 0.0 };
        let mean = (vals.iter().sum::<f64>() / vals.len().max(1) as f64 + self.offset).max(sigma);
        self.scale = (sigma * sigma / mean).max(1e-12);
        let mut gaps: Vec<i64> = self.warmup.windows(2).map(|w| w[1].0 - w[0].0).filter(|&g| g > 0).collect();
        gaps.sort_unstable();
        let gap = gaps.get(gaps.len() / 2).copied().unwrap_or(300_000).max(1000);
        self.rows_per_hour = HOUR_MS as f64 / gap as f64;
        // the live level is per minute and test; a row covers several minutes, two sides
        self.alpha = (self.alpha * 60.0 / self.rows_per_hour / 2.0).min(0.01);
    }

    /// Scores one row; returns (score, alert).
    pub fn push(&mut self, at: Millis, value: f64) -> (f64, bool) {
        if self.warmup.len() < SCALE_ROWS {
            self.warmup.push((at, value));
            if self.warmup.len() == SCALE_ROWS {
                self.fix_scale();
                let rows = std::mem::take(&mut self.warmup);
                for &(t, v) in &rows {
                    self.observe(t, v);
                }
                self.warmup = rows; // keeps len == SCALE_ROWS: scoring from now on
            }
            return (0.0, false);
        }
        self.observe(at, value)
    }

    fn observe(&mut self, at: Millis, value: f64) -> (f64, bool) {
        let x = ((value + self.offset) / self.scale).max(0.0);
        let hour = at.div_euclid(HOUR_MS);
        if self.hour == i64::MIN {
            self.hour = hour;
        }
        if hour > self.hour {
            // learn the closed hour as a count per nominal hour, and any empty hours between
            if self.hour_rows > 0 {
                let y = self.hour_sum / f64::from(self.hour_rows) * self.rows_per_hour;
                self.baseline.learn_volume(&self.params, self.hour, y, false);
            }
            self.hour = hour;
            self.hour_sum = 0.0;
            self.hour_rows = 0;
        }
        self.hour_sum += x;
        self.hour_rows += 1;
        let e_row = self.baseline.expected_hour(hour) / self.rows_per_hour;
        if self.recent.len() == 12 {
            self.recent.pop_front();
        }
        self.recent.push_back((x, e_row));
        if !self.baseline.is_warm(&self.params) {
            return (0.0, false);
        }
        let mut best_p: f64 = 1.0;
        let prior = TailFit::default_prior();
        let hourly_phi = self.baseline.phi();
        for (i, &k) in SUMS.iter().enumerate() {
            if self.recent.len() < k {
                continue;
            }
            let (obs, exp) = self.recent.iter().rev().take(k).fold((0.0, 0.0), |(o, e), &(x, ex)| (o + x, e + ex));
            let exp = exp.max(1e-6);
            let c = &mut self.cal[i];
            let phi = c.disp.phi(hourly_phi, 5 * k as i64);
            let z = count_z(obs, exp, phi);
            let (up, down) = (c.up.fit(&prior), c.down.fit(&prior));
            best_p = best_p.min(2.0 * up.p(z).min(down.p(-z)));
            let gap = k as u32;
            c.up.observe(z, up.threshold(self.alpha), up.max_excess(), gap);
            c.down.observe(-z, down.threshold(self.alpha), down.max_excess(), gap);
            let r = (exp + 0.375).sqrt() + 0.5 * DISP_CAP_Z * (1.0 + phi * exp).sqrt();
            c.disp.learn(obs, exp, hourly_phi, 5 * k as i64, r * r - 0.375);
        }
        // Incident semantics, as live: while the series stays anomalous only a stronger deviation
        // than any in the last `ESCALATION_ROWS` rows is news (an escalation); the rest scores 0.
        let evidence = -best_p.max(1e-300).log10();
        let news = self.peaks.iter().all(|&e| evidence > e);
        if self.peaks.len() == ESCALATION_ROWS {
            self.peaks.pop_front();
        }
        self.peaks.push_back(evidence);
        if !news {
            return (0.0, false);
        }
        (score(best_p, self.alpha), best_p <= 2.0 * self.alpha)
    }
}

/// Scores one NAB CSV file into `out`.
///
/// # Errors
/// Unreadable input, a malformed row (with its line number), or a write failure.
pub fn run_file(input: &Path, out: &Path, rules: &RuleSet) -> anyhow::Result<usize> {
    let text = std::fs::read_to_string(input).with_context(|| format!("cannot read `{}`", input.display()))?;
    let mut lines = text.lines();
    let header = lines.next().unwrap_or("");
    if !header.trim_start_matches('\u{feff}').starts_with("timestamp,value") {
        bail!("{}:1: expected header `timestamp,value[,negative]`, found `{header}`", input.display());
    }
    let mut det = SeriesDetector::new(rules);
    let mut w = std::io::BufWriter::new(
        std::fs::File::create(out).with_context(|| format!("cannot create `{}`", out.display()))?,
    );
    writeln!(w, "timestamp,value,anomaly_score,alert")?;
    let mut rows = 0;
    for (i, line) in lines.enumerate() {
        let lineno = i + 2;
        let mut cols = line.split(',');
        let (Some(ts), Some(v)) = (cols.next(), cols.next()) else {
            bail!("{}:{lineno}: expected `timestamp,value`, found `{line}`", input.display());
        };
        let at = parse_timestamp(ts.trim())
            .map_err(|e| anyhow::anyhow!("{}:{lineno}: timestamp `{ts}`: {e}", input.display()))?;
        let value: f64 = v
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("{}:{lineno}: value `{v}` is not a number", input.display()))?;
        let (s, alert) = det.push(at, value);
        writeln!(w, "{},{},{:.6},{}", format_nab(at), v.trim(), s, u8::from(alert))?;
        rows += 1;
    }
    w.flush()?;
    Ok(rows)
}

/// Runs every `DATA/<category>/<file>.csv` into `OUT/<category>/crisiswatch_<file>.csv`.
///
/// # Errors
/// I/O or format errors, naming the file.
pub fn run_dir(data: &Path, out: &Path) -> anyhow::Result<usize> {
    let rules = RuleSet::builtin();
    let mut n = 0;
    let mut cats: Vec<_> = std::fs::read_dir(data)
        .with_context(|| format!("cannot read `{}`", data.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    cats.sort();
    for cat in cats {
        let name = cat.file_name().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
        let odir = out.join(&name);
        std::fs::create_dir_all(&odir).with_context(|| format!("cannot create `{}`", odir.display()))?;
        let mut files: Vec<_> = std::fs::read_dir(&cat)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "csv"))
            .collect();
        files.sort();
        for f in files {
            let fname = f.file_name().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
            run_file(&f, &odir.join(format!("crisiswatch_{fname}")), &rules)?;
            n += 1;
        }
    }
    Ok(n)
}
