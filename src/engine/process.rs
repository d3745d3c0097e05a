//! The per-mention path: attribute brands, place the mention in the minute bucket of every
//! scope it belongs to, test the rules of those scopes (guards first, exact tails only when
//! the guards pass); and, when event time enters a new minute, re-test open incidents for
//! escalation and resolution.

use super::incident::Step;
use super::scope::INFLUENTIAL_FOLLOWERS;
use super::Engine;
use crate::alert::{Severity, Status};
use crate::detect::window::{Bucket, MinuteHistory};
use crate::detect::DetectorKind;
use crate::detect::{self, Signal};
use crate::hash::fnv1a;
use crate::ingest::Mention;
use crate::time::{minute_of, MINUTE_MS};
use crate::tone::{self, ToneSource};
use std::cmp::Reverse;

/// The most minutes [`Engine::enter_minute`] enters one by one after a gap (a week); the
/// minutes before them are skipped, as an engine restarted after a long stop would.
pub const MAX_CATCH_UP_MIN: i64 = 7 * 1440;

/// The priors a brand borrows: its pool's when the engine pools by partition.
fn priors_of<'a>(
    all: &'a crate::detect::tracker::Priors,
    pools: &'a [crate::detect::tracker::Priors],
    brand: &str,
) -> &'a crate::detect::tracker::Priors {
    if pools.is_empty() {
        return all;
    }
    &pools[(crate::hash::fnv1a(brand.as_bytes()) % pools.len() as u64) as usize]
}

impl Engine {
    /// Processes one mention; alert events it causes are appended to [`Engine::events`].
    pub fn process(&mut self, m: &Mention<'_>) {
        self.stats.mentions += 1;
        let minute = minute_of(m.at);
        if self.now == i64::MIN {
            self.now = m.at;
            self.now_min = minute;
        }
        if m.at > self.now {
            self.now = m.at;
            if minute > self.now_min {
                self.enter_minute(minute);
            }
        }
        if minute < self.now_min - self.settings.allowed_lateness_min {
            self.stats.late += 1;
            return;
        }
        self.matched.clear();
        if let Some(id) = m.raw.brand.as_deref() {
            let idx = self.brand_by_id(id);
            self.matched.push(idx);
        } else {
            self.matcher.match_into(&m.raw.text, &mut self.matched);
        }
        if self.matched.is_empty() {
            self.stats.unmatched += 1;
            return;
        }
        let tone = tone::judge(m, self.settings.negative_threshold, self.tone_model.as_ref());
        let negative = tone.is_some_and(|(negative, _)| negative);
        if tone.is_some() {
            self.stats.toned += 1;
        }
        if let Some(table) = self.tone_mix.as_mut() {
            let lang = match m.raw.lang.as_deref() {
                Some(l) => crate::ingest::lang::Lang::from_code(l).map_or("other", |l| l.code()),
                None => crate::ingest::lang::detect(&m.raw.text).map_or("other", |l| l.code()),
            };
            for &b in &self.matched {
                let mix = table.entry((b, lang)).or_default();
                match tone {
                    Some((neg, ToneSource::Provider)) => {
                        mix.provider += 1;
                        mix.provider_negative += u64::from(neg);
                    }
                    Some((neg, ToneSource::Model)) => {
                        mix.model += 1;
                        mix.model_negative += u64::from(neg);
                    }
                    None => mix.untoned += 1,
                }
            }
        }
        let followers = m.raw.author_followers.unwrap_or(0);
        let mut bucket = Bucket {
            count: 1,
            toned: u32::from(tone.is_some()),
            model_toned: u32::from(tone.is_some_and(|(_, src)| src == ToneSource::Model)),
            negative: u32::from(negative),
            reshares: u32::from(m.raw.shared_of.is_some()),
            new_authors: 0,
            influential: u32::from(followers >= INFLUENTIAL_FOLLOWERS),
            reach: m.reach(),
        };
        // What this mention makes the engine decide is decided at the mention's own time (the
        // start of the current minute for a late one), not at the newest time any brand has
        // reached: the same whichever other brands' mentions came first, so a cluster's
        // partition decides as one engine does (see `enter_minute`). Restored below.
        let newest = self.now;
        self.now = m.at.max(self.now_min * MINUTE_MS);
        // a window ending now holds only the elapsed part of the current minute
        let elapsed = (self.now - self.now_min * MINUTE_MS) as f64 / MINUTE_MS as f64;
        let author_hash = fnv1a(m.raw.author.as_deref().unwrap_or(&m.raw.id).as_bytes());
        let source = m.raw.source.as_deref();
        let lang = m.raw.lang.as_deref();
        for i in 0..self.matched.len() {
            let b = self.matched[i];
            self.stats.attributed += 1;
            self.brands[b as usize].history.get_or_insert_with(|| MinuteHistory::new(minute)).add(minute, negative);
            let nscopes = self.brands[b as usize].scopes.len();
            for si in 0..nscopes {
                let brand = &mut self.brands[b as usize];
                if !brand.scope_defs[si].contains(source, lang) {
                    continue;
                }
                let lv = brand.levels(self.now_min, priors_of(&self.priors, &self.pool_priors, &brand.id));
                let scope = &mut brand.scopes[si];
                let first_in_scope = scope.last_seen == i64::MIN;
                scope.sync(self.now_min, &self.settings, &lv, &brand.planned);
                bucket.new_authors = u32::from(scope.is_new_author(author_hash, minute));
                scope.add(minute, &bucket);
                if first_in_scope {
                    // the scope's silence rules start being watched
                    for (ri, rs) in brand.rules.iter().enumerate() {
                        if rs.scope == si && matches!(rs.rule.detector.kind, DetectorKind::Flatline { .. }) {
                            self.silence_queue.push(Reverse((self.now_min + 10, b, ri as u32)));
                        }
                    }
                }
                self.fired.clear();
                for (ri, rs) in brand.rules.iter_mut().enumerate() {
                    if rs.scope != si {
                        continue;
                    }
                    if !rs.incident.may_open(self.now_min) {
                        continue; // open incidents are re-tested once a minute
                    }
                    if rs.rule.detector.kind == DetectorKind::Negative {
                        // the exact beta-binomial tail costs microseconds: at most every 10 s
                        if !negative || m.at < rs.last_exact.saturating_add(10_000) {
                            continue;
                        }
                    }
                    let scope = &mut brand.scopes[si];
                    if let Some(sig) = detect::evaluate(&rs.rule.detector, &scope.windows.sums, &scope.ex, elapsed) {
                        self.fired.push((ri, sig));
                    } else if rs.rule.detector.kind == DetectorKind::Negative
                        && scope.windows.sums[1].negative >= rs.rule.detector.min_mentions
                    {
                        rs.last_exact = m.at;
                    }
                }
                for k in 0..self.fired.len() {
                    let (ri, sig) = self.fired[k];
                    self.open_incident(b, ri, sig);
                }
            }
        }
        self.now = newest;
        let matched = std::mem::take(&mut self.matched);
        self.posts.record(m, &matched, minute, negative);
        self.matched = matched;
    }

    pub(super) fn severity_of(&self, b: u32, ri: usize, sig: &Signal) -> Severity {
        let brand = &self.brands[b as usize];
        let rs = &brand.rules[ri];
        let scope = &brand.scopes[rs.scope];
        let s = &scope.windows.sums[sig.window];
        let share = (s.toned > 0).then(|| s.negative_share());
        let evidence = sig.p_value.max(1e-300).ln() / self.alpha.ln();
        let ratio = match rs.rule.detector.kind {
            DetectorKind::Negative => share.unwrap_or(0.0) / scope.ex.negative_share.max(1e-3),
            _ => sig.observed / sig.expected.max(1e-9),
        };
        detect::severity(&rs.rule.detector.kind, evidence, ratio, share, scope.ex.negative_share, s.influential)
    }

    pub(super) fn open_incident(&mut self, b: u32, ri: usize, sig: Signal) {
        let severity = self.severity_of(b, ri, &sig);
        let brand = &mut self.brands[b as usize];
        let rs = &mut brand.rules[ri];
        let key = format!("{}/{}{}", brand.id, rs.rule.name, rs.rule.scope.key_suffix());
        let id = format!("{:016x}", fnv1a(format!("{key}@{}", self.now).as_bytes()));
        rs.incident.open(id.clone(), severity, sig, self.now_min);
        brand.guard.advance(self.now_min, brand.budget);
        brand.guard.alarm();
        brand.scopes[rs.scope].open_incidents += 1;
        self.open.push((b, ri));
        self.stats.by_severity[severity as usize] += 1;
        self.emit(b, ri, &id, Status::Firing, severity, sig, None);
    }

    /// Event time entered minute `minute`: every minute since the last one is entered in
    /// turn (at most [`MAX_CATCH_UP_MIN`] of them), each at its first millisecond, so that
    /// what the engine decides at a minute's start (re-tests, silences, their event times and
    /// incident ids) does not depend on which mention, of which brand, arrived first in it,
    /// nor on whether any did: a cluster's partition, which sees its brands' mentions only,
    /// decides as one engine seeing every brand.
    pub(super) fn enter_minute(&mut self, minute: i64) {
        let now = self.now;
        let from = (self.now_min + 1).max(minute - MAX_CATCH_UP_MIN);
        for k in from..=minute {
            self.now = k * MINUTE_MS;
            self.on_minute(k);
        }
        self.now = now;
    }

    /// Event time entered minute `minute`: re-test open incidents, check silences.
    fn on_minute(&mut self, minute: i64) {
        self.now_min = minute;
        // hourly, on the hour of event time: the same hours whenever this engine started
        if self.priors_minute == i64::MIN || minute.div_euclid(60) != self.priors_minute.div_euclid(60) {
            self.priors_minute = minute;
            self.pool_priors();
        }
        let mut i = 0;
        while i < self.open.len() {
            let (b, ri) = self.open[i];
            if self.retest_open(b, ri) {
                self.open.swap_remove(i);
            } else {
                i += 1;
            }
        }
        // every five minutes of event time, on the fives (as pooling is on the hour)
        if self.last_flatline_scan == i64::MIN || minute.div_euclid(5) != self.last_flatline_scan.div_euclid(5) {
            self.last_flatline_scan = minute;
            self.scan_silence();
        }
    }

    /// Re-tests an open incident; returns true when it resolved.
    pub(super) fn retest_open(&mut self, b: u32, ri: usize) -> bool {
        let (now_min, alpha) = (self.now_min, self.alpha);
        let brand = &mut self.brands[b as usize];
        let lv = brand.levels(now_min, priors_of(&self.priors, &self.pool_priors, &brand.id));
        let rs = &brand.rules[ri];
        let scope = &mut brand.scopes[rs.scope];
        scope.sync(now_min, &self.settings, &lv, &brand.planned);
        let (fresh, anomalous) = match rs.rule.detector.kind {
            DetectorKind::Flatline { min_expected } => {
                let expected = scope.baseline.expected_minutes(scope.last_seen + 1, now_min - 1);
                let silent = detect::silence(min_expected / 2.0, expected, scope.ex.phi, alpha.sqrt()).is_some();
                (None, silent)
            }
            _ => {
                let sig = detect::evaluate(&rs.rule.detector, &scope.windows.sums, &scope.ex, 0.0);
                let still = sig.is_some() || detect::still_anomalous(&rs.rule.detector, &scope.windows.sums, &scope.ex);
                (sig, still)
            }
        };
        let fresh = fresh.map(|sig| (sig, self.severity_of(b, ri, &sig)));
        let (hold, cooldown) = (self.settings.hold_min, self.settings.cooldown_min);
        let step = self.brands[b as usize].rules[ri].incident.retest(now_min, fresh, anomalous, hold, cooldown);
        match step {
            Step::Quiet => false,
            Step::Escalated(severity) => {
                let (sig, _) = fresh.expect("escalation comes with a fresh signal");
                let id = self.brands[b as usize].rules[ri].incident.as_open().map(|o| o.id.clone()).unwrap_or_default();
                self.stats.by_severity[severity as usize] += 1;
                self.emit(b, ri, &id, Status::Escalated, severity, sig, None);
                false
            }
            Step::Resolved(closed) => {
                self.report_resolved(b, ri, &closed);
                true
            }
        }
    }
}
