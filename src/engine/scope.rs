//! The state of one brand and its scopes: windows, baseline, the hours not yet learned,
//! approximate distinct authors, and per rule its incident. Owned by the [`Engine`](super::Engine).

use super::incident::Incident;
use crate::detect::baseline::Baseline;
use crate::detect::calibrate::BudgetGuard;
use crate::detect::planned::{self, Planned};
use crate::detect::tracker::{Priors, ScopeCalibration};
use crate::detect::window::{Bucket, MinuteHistory, Windows};
use crate::detect::Expectation;
use crate::rules::{EngineSettings, Rule, Scope};
use crate::time::Millis;
use std::sync::Arc;

pub(super) const AUTHOR_SLOTS: usize = 32;
/// Authors with at least this many followers count as influential for the reach rule.
pub const INFLUENTIAL_FOLLOWERS: u64 = 10_000;

/// Windows, baseline and bookkeeping for one brand and one scope.
#[derive(Debug, Clone)]
pub(super) struct ScopeState {
    pub(super) windows: Windows,
    pub(super) baseline: Baseline,
    /// Running totals of the (at most two) hours not yet learned, keyed by hour index.
    pub(super) hours: [(i64, Bucket); 2],
    pub(super) next_hour: i64,
    pub(super) last_seen: i64,
    pub(super) ex: Expectation,
    pub(super) ex_minute: i64,
    /// Direct-mapped (author hash, minute last seen) for approximate distinct authors.
    pub(super) authors: [(u32, u32); AUTHOR_SLOTS],
    pub(super) open_incidents: u8,
    /// Learned dispersions and tails of the raw statistics, per window.
    pub(super) cal: ScopeCalibration,
}

/// What a scope needs from its brand and the engine to turn its calibration into thresholds.
pub(super) struct Levels<'a> {
    /// Tails pooled over every warm scope of the engine.
    pub(super) priors: &'a Priors,
    /// The brand's level per test and minute, after its budget guard.
    pub(super) level: f64,
}

/// Minutes between refreshes of a scope's calibrated thresholds.
const REFRESH_MIN: i64 = 5;

/// Longest silence, in minutes, whose closed minutes are still learned one by one (after six
/// hours every window is empty and further minutes teach nothing new).
const MAX_CATCH_UP_MIN: i64 = 360;

impl ScopeState {
    pub(super) fn new(s: &EngineSettings) -> Self {
        ScopeState {
            windows: Windows::default(),
            baseline: Baseline::new(&s.baseline),
            hours: [(i64::MIN, Bucket::default()); 2],
            next_hour: i64::MIN,
            last_seen: i64::MIN,
            ex: Expectation::default(),
            ex_minute: i64::MIN,
            authors: [(0, 0); AUTHOR_SLOTS],
            open_incidents: 0,
            cal: ScopeCalibration::default(),
        }
    }

    /// Brings the scope up to `now_min`: learns every closed hour and every closed minute,
    /// advances the windows and refreshes the expectation and its thresholds.
    pub(super) fn sync(&mut self, now_min: i64, s: &EngineSettings, lv: &Levels<'_>, plans: &[Planned]) {
        if self.next_hour == i64::MIN {
            return;
        }
        let last_closed = (now_min - s.allowed_lateness_min - 60).div_euclid(60);
        if last_closed - self.next_hour > 24 * 14 {
            self.next_hour = last_closed - 24 * 14;
        }
        while self.next_hour <= last_closed {
            let h = self.next_hour;
            let slot = &mut self.hours[h.rem_euclid(2) as usize];
            let b = if slot.0 == h { std::mem::take(&mut slot.1) } else { Bucket::default() };
            if planned::any_overlaps(plans, h * 60, h * 60 + 59) {
                self.baseline.skip_hour(h); // a launch's hours are not the usual
            } else {
                self.baseline.learn_hour(&s.baseline, h, &b, self.open_incidents > 0);
            }
            self.next_hour += 1;
        }
        self.learn_closed_minutes(now_min, s, plans);
        self.windows.advance(now_min);
        if self.ex_minute != now_min {
            // thresholds move slowly (a week of history each): refreshed every five minutes
            let refresh_thresholds =
                self.ex_minute == i64::MIN || now_min.div_euclid(REFRESH_MIN) != self.ex_minute.div_euclid(REFRESH_MIN);
            self.ex_minute = now_min;
            let mut mentions = [0.0; 4];
            let mut planned_phi = [0.0; 4];
            for (i, m) in mentions.iter_mut().enumerate() {
                let start = self.windows.window_start(i);
                let usual = self.baseline.expected_minutes(start, now_min);
                (*m, planned_phi[i]) = planned::expect(usual, planned::extra(plans, &self.baseline, start, now_min));
            }
            let minute_rate = self.baseline.expected_minutes(now_min, now_min)
                + planned::extra(plans, &self.baseline, now_min, now_min);
            self.ex = Expectation {
                mentions,
                phi: self.baseline.phi(),
                negative_share: self.baseline.negative_share(),
                rho: self.baseline.rho(),
                influential_share: self.baseline.influential_share(),
                warm: self.baseline.is_warm(&s.baseline),
                minute_rate,
                planned_phi,
                ..self.ex
            };
            if refresh_thresholds || !self.ex.warm {
                self.cal.refresh(&mut self.ex, self.baseline.phi(), lv.priors, lv.level);
            }
        }
    }

    /// Learns the windows ending at every minute closed since the head, up to `now_min`
    /// (exclusive): the samples the scope's tails are calibrated on. Not while an incident is
    /// open (a crisis is not a sample of normal noise); during warm-up only the tone.
    fn learn_closed_minutes(&mut self, now_min: i64, s: &EngineSettings, plans: &[Planned]) {
        let head = self.windows.head();
        if head == i64::MIN || now_min <= head || self.open_incidents > 0 {
            return;
        }
        let warm = self.baseline.is_warm(&s.baseline);
        let last = (now_min - 1).min(head + MAX_CATCH_UP_MIN);
        let hourly_phi = self.baseline.phi();
        let mut ex = self.ex;
        ex.planned_phi = [0.0; 4];
        for m in head..=last {
            self.windows.advance(m);
            if planned::any_overlaps(plans, self.windows.window_start(3), m) {
                continue; // a window holding planned minutes is no sample of normal noise
            }
            for (i, mu) in ex.mentions.iter_mut().enumerate() {
                *mu = self.baseline.expected_minutes(self.windows.window_start(i), m);
            }
            self.cal.learn(&self.windows.sums, &ex, hourly_phi, warm);
        }
    }

    pub(super) fn add(&mut self, minute: i64, b: &Bucket) {
        if self.next_hour == i64::MIN {
            self.next_hour = minute.div_euclid(60);
            self.windows.advance(minute);
        }
        if !self.windows.add(minute, b) {
            return;
        }
        self.last_seen = self.last_seen.max(minute);
        let h = minute.div_euclid(60);
        let slot = &mut self.hours[h.rem_euclid(2) as usize];
        if slot.0 != h {
            *slot = (h, Bucket::default());
        }
        slot.1.add(b);
    }

    pub(super) fn is_new_author(&mut self, author_hash: u64, minute: i64) -> bool {
        let slot = &mut self.authors[(author_hash as usize) % AUTHOR_SLOTS];
        let h = (author_hash >> 32) as u32;
        let m = minute as u32;
        let new = slot.0 != h || m.wrapping_sub(slot.1) >= 60;
        *slot = (h, m);
        new
    }
}

#[derive(Debug, Clone)]
pub(super) struct RuleState {
    pub(super) rule: Arc<Rule>,
    pub(super) scope: usize,
    pub(super) incident: Incident,
    /// Event time of the last exact tone test per window, to run it at most every 10 s.
    pub(super) last_exact: Millis,
}

#[derive(Debug, Clone)]
pub(super) struct BrandState {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) scope_defs: Vec<Scope>,
    pub(super) scopes: Vec<ScopeState>,
    pub(super) rules: Vec<RuleState>,
    /// Per-minute counts of the last day, for charts; allocated on the first mention.
    pub(super) history: Option<MinuteHistory>,
    /// False alarms per week this brand may raise (engine budget × sensitivity).
    pub(super) budget: f64,
    /// The budget per test and minute: `budget / (tests × 10,080)`, one test per rule and
    /// window (flatline aside).
    pub(super) level: f64,
    /// Tightens the level when the brand's realised alarm rate runs above its budget.
    pub(super) guard: BudgetGuard,
    /// Planned events (from the rules files and the API), by start.
    pub(super) planned: Arc<[Planned]>,
}

impl BrandState {
    pub(super) fn new(id: String, name: String, rules: &[Arc<Rule>], s: &EngineSettings, budget: f64) -> Self {
        let mut scope_defs: Vec<Scope> = Vec::new();
        let mut states = Vec::new();
        for r in rules {
            let idx = match scope_defs.iter().position(|x| *x == r.scope) {
                Some(i) => i,
                None => {
                    scope_defs.push(r.scope.clone());
                    scope_defs.len() - 1
                }
            };
            states.push(RuleState { rule: r.clone(), scope: idx, incident: Incident::default(), last_exact: i64::MIN });
        }
        let scopes = scope_defs.iter().map(|_| ScopeState::new(s)).collect();
        let tests: usize = rules
            .iter()
            .filter(|r| !matches!(r.detector.kind, crate::detect::DetectorKind::Flatline { .. }))
            .map(|r| r.detector.kind.windows().len())
            .sum();
        let level = budget / (tests.max(1) as f64 * 10_080.0);
        BrandState {
            id,
            name,
            scope_defs,
            scopes,
            rules: states,
            history: None,
            budget,
            level,
            guard: BudgetGuard::default(),
            planned: Arc::from(Vec::new()),
        }
    }

    /// The scope-independent inputs of a threshold refresh at `now_min`.
    pub(super) fn levels<'a>(&mut self, now_min: i64, priors: &'a Priors) -> Levels<'a> {
        self.guard.advance(now_min, self.budget);
        Levels { priors, level: self.level * self.guard.kappa() }
    }
}
