//! The engine: mentions in, alert events out, in event time. It owns the brand table, the
//! per-scope windows and baselines, the incidents, and the post log used for explanations.
//! `replay`, `nab` and (later) the live service all drive this same type.
//!
//! Per mention: attribute brands (the `brand` field or keyword matching), place the mention
//! in its minute bucket of every scope it belongs to, and test the rules of those scopes
//! (guards first, exact tails only when the guards pass). When event time enters a new
//! minute: open incidents are re-tested for escalation and resolution; every five minutes
//! the silence (flatline) rules of all brands are checked.

pub mod incident;
pub mod snapshot;

use crate::alert::explain::PostLog;
use crate::alert::playbook::{Facts, Playbooks};
use crate::alert::{AlertEvent, Severity, Status};
use crate::detect::baseline::Baseline;
use crate::detect::window::{Bucket, MinuteHistory, Windows, WINDOW_MINUTES};
use crate::detect::DetectorKind;
use crate::detect::{self, Expectation, Signal};
use crate::engine::incident::{Incident, Step};
use crate::engine::snapshot::{BrandSnapshot, EngineSnapshot, RestoreReport, ScopeSnapshot, SNAPSHOT_VERSION};
use crate::hash::fnv1a;
use crate::ingest::brands::{BrandKeywords, BrandMatcher};
use crate::ingest::Mention;
use crate::rules::{BrandDef, EngineSettings, Rule, RuleSet, Scope};
use crate::time::{format_rfc3339, minute_of, Millis, MINUTE_MS};
use crate::tone::{self, NoToneModel, ToneModel, ToneSource};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

const AUTHOR_SLOTS: usize = 32;
/// Memory budget of the post log that explanations draw on.
const POST_LOG_BYTES: usize = 256 << 20;
/// Authors with at least this many followers count as influential for the reach rule.
pub const INFLUENTIAL_FOLLOWERS: u64 = 10_000;

/// Windows, baseline and bookkeeping for one brand and one scope.
#[derive(Debug, Clone)]
struct ScopeState {
    windows: Windows,
    baseline: Baseline,
    /// Running totals of the (at most two) hours not yet learned, keyed by hour index.
    hours: [(i64, Bucket); 2],
    next_hour: i64,
    last_seen: i64,
    ex: Expectation,
    ex_minute: i64,
    /// Direct-mapped (author hash, minute last seen) for approximate distinct authors.
    authors: [(u32, u32); AUTHOR_SLOTS],
    open_incidents: u8,
}

impl ScopeState {
    fn new(s: &EngineSettings) -> Self {
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
        }
    }

    /// Brings the scope up to `now_min`: learns every closed hour, advances the windows and
    /// refreshes the expectation.
    fn sync(&mut self, now_min: i64, s: &EngineSettings, z_alpha: f64) {
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
            self.baseline.learn_hour(&s.baseline, h, &b, self.open_incidents > 0);
            self.next_hour += 1;
        }
        self.windows.advance(now_min);
        if self.ex_minute != now_min {
            self.ex_minute = now_min;
            let mut mentions = [0.0; 4];
            for (i, m) in mentions.iter_mut().enumerate() {
                *m = self.baseline.expected_minutes(self.windows.window_start(i), now_min);
            }
            self.ex = Expectation {
                mentions,
                phi: self.baseline.phi(),
                negative_share: self.baseline.negative_share(),
                rho: self.baseline.rho(),
                influential_share: self.baseline.influential_share(),
                warm: self.baseline.is_warm(&s.baseline),
                minute_rate: self.baseline.expected_minutes(now_min, now_min),
                z_alpha,
                volume_failed: [0; 4],
            };
        }
    }

    fn add(&mut self, minute: i64, b: &Bucket) {
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

    fn is_new_author(&mut self, author_hash: u64, minute: i64) -> bool {
        let slot = &mut self.authors[(author_hash as usize) % AUTHOR_SLOTS];
        let h = (author_hash >> 32) as u32;
        let m = minute as u32;
        let new = slot.0 != h || m.wrapping_sub(slot.1) >= 60;
        *slot = (h, m);
        new
    }
}

#[derive(Debug, Clone)]
struct RuleState {
    rule: Arc<Rule>,
    scope: usize,
    incident: Incident,
    /// Event time of the last exact tone test per window, to run it at most every 10 s.
    last_exact: Millis,
}

#[derive(Debug, Clone)]
struct BrandState {
    id: String,
    name: String,
    scope_defs: Vec<Scope>,
    scopes: Vec<ScopeState>,
    rules: Vec<RuleState>,
    /// Per-minute counts of the last day, for charts; allocated on the first mention.
    history: Option<MinuteHistory>,
}

impl BrandState {
    fn new(id: String, name: String, rules: &[Arc<Rule>], s: &EngineSettings) -> Self {
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
        BrandState { id, name, scope_defs, scopes, rules: states, history: None }
    }
}

/// How the mentions of one brand in one language got their tone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ToneMix {
    /// With a provider sentiment.
    pub provider: u64,
    /// Of which negative.
    pub provider_negative: u64,
    /// Judged by the tone model.
    pub model: u64,
    /// Of which negative.
    pub model_negative: u64,
    /// Neither (no sentiment, and no model for the language).
    pub untoned: u64,
}

/// Counters for the replay summary.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct EngineStats {
    /// Mentions processed (valid lines).
    pub mentions: u64,
    /// Mentions older than the allowed lateness (counted, not placed in windows).
    pub late: u64,
    /// Mentions that matched no brand.
    pub unmatched: u64,
    /// (mention, brand) pairs counted.
    pub attributed: u64,
    /// Mentions whose tone is known (provider sentiment, or the tone model).
    pub toned: u64,
    /// Firing and escalated events by severity: watch, warning, critical.
    pub by_severity: [u64; 3],
    /// Resolved events.
    pub resolved: u64,
}

/// The detection engine.
pub struct Engine {
    settings: EngineSettings,
    default_rules: Vec<Arc<Rule>>,
    alpha: f64,
    /// The normal quantile of α, for the cheap gate in front of the exact volume test.
    z_alpha: f64,
    brands: Vec<BrandState>,
    by_id: HashMap<String, u32>,
    matcher: BrandMatcher,
    matched: Vec<u32>,
    fired: Vec<(usize, Signal)>,
    posts: PostLog,
    now: Millis,
    now_min: i64,
    open: Vec<(u32, usize)>,
    last_flatline_scan: i64,
    /// Silence rules by the minute they are next due to be tested.
    silence_queue: BinaryHeap<Reverse<(i64, u32, u32)>>,
    /// Judges the tone of mentions without a provider sentiment.
    tone_model: Box<dyn ToneModel>,
    /// Response playbooks: category and first-reply drafts of alerts.
    playbooks: Option<Arc<Playbooks>>,
    /// Tone mix per (brand, language), when asked for (`replay --tone-stats`).
    tone_mix: Option<HashMap<(u32, &'static str), ToneMix>>,
    /// Events produced since the caller last drained them, in event-time order.
    pub events: Vec<AlertEvent>,
    /// Counters.
    pub stats: EngineStats,
}

impl Engine {
    /// Builds the engine for a rule set.
    ///
    /// # Errors
    /// When the keyword automaton cannot be built.
    pub fn new(rules: &RuleSet) -> Result<Self, aho_corasick::BuildError> {
        let default_rules: Vec<Arc<Rule>> = rules.default_rules.iter().cloned().map(Arc::new).collect();
        let mut e = Engine {
            settings: rules.settings.clone(),
            default_rules,
            alpha: rules.alpha(),
            z_alpha: crate::detect::stats::normal_quantile_upper(rules.alpha()),
            brands: Vec::with_capacity(rules.brands.len()),
            by_id: HashMap::with_capacity(rules.brands.len()),
            matcher: BrandMatcher::new(&[])?,
            matched: Vec::new(),
            fired: Vec::new(),
            posts: PostLog::new(10 * 60, POST_LOG_BYTES),
            now: i64::MIN,
            now_min: i64::MIN,
            open: Vec::new(),
            last_flatline_scan: i64::MIN,
            silence_queue: BinaryHeap::new(),
            tone_model: Box::new(NoToneModel),
            playbooks: None,
            tone_mix: None,
            events: Vec::new(),
            stats: EngineStats::default(),
        };
        let mut keywords = Vec::new();
        for b in &rules.brands {
            let idx = e.add_brand(b);
            keywords.push(BrandKeywords { brand: idx, keywords: b.keywords.clone(), exclusions: b.exclusions.clone() });
        }
        e.matcher = BrandMatcher::new(&keywords)?;
        Ok(e)
    }

    fn add_brand(&mut self, b: &BrandDef) -> u32 {
        let rules: Vec<Arc<Rule>> = if b.rules.len() == self.default_rules.len()
            && b.rules
                .iter()
                .zip(&self.default_rules)
                .all(|(x, y)| x.name == y.name && x.detector == y.detector && x.scope == y.scope)
        {
            self.default_rules.clone() // share the defaults: 100k brands, one copy of the rules
        } else {
            b.rules.iter().cloned().map(Arc::new).collect()
        };
        let idx = self.brands.len() as u32;
        self.brands.push(BrandState::new(b.id.clone(), b.name.clone(), &rules, &self.settings));
        self.by_id.insert(b.id.clone(), idx);
        idx
    }

    /// The index of brand `id`, registering it with the default rules when first seen (a
    /// `brand` field may name a brand that no rule file defines).
    fn brand_by_id(&mut self, id: &str) -> u32 {
        if let Some(&i) = self.by_id.get(id) {
            return i;
        }
        let idx = self.brands.len() as u32;
        self.brands.push(BrandState::new(id.to_string(), id.to_string(), &self.default_rules, &self.settings));
        self.by_id.insert(id.to_string(), idx);
        idx
    }

    /// Starts counting the tone mix per brand and language.
    pub fn enable_tone_mix(&mut self) {
        self.tone_mix.get_or_insert_with(HashMap::new);
    }

    /// The tone mix counted so far: (brand id, language, counts), sorted.
    pub fn tone_mix(&self) -> Vec<(String, &'static str, ToneMix)> {
        let mut rows: Vec<_> = self
            .tone_mix
            .iter()
            .flatten()
            .map(|(&(b, lang), &mix)| (self.brands[b as usize].id.clone(), lang, mix))
            .collect();
        rows.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        rows
    }

    /// Uses `playbooks` to name the category of alerts and suggest first responses.
    pub fn set_playbooks(&mut self, playbooks: Arc<Playbooks>) {
        self.playbooks = Some(playbooks);
    }

    /// Uses `model` for mentions without a provider sentiment.
    pub fn set_tone_model(&mut self, model: Box<dyn ToneModel>) {
        self.tone_model = model;
    }

    /// The event-time clock: the newest mention time seen, `None` before the first.
    pub fn now(&self) -> Option<Millis> {
        (self.now != i64::MIN).then_some(self.now)
    }

    /// Per-test significance level in use.
    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    /// Incidents still open, as (brand id, rule name).
    pub fn open_incidents(&self) -> Vec<(String, String)> {
        self.open
            .iter()
            .map(|&(b, r)| (self.brands[b as usize].id.clone(), self.brands[b as usize].rules[r].rule.name.clone()))
            .collect()
    }

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
                self.on_minute(minute);
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
                let scope = &mut brand.scopes[si];
                let first_in_scope = scope.last_seen == i64::MIN;
                scope.sync(self.now_min, &self.settings, self.z_alpha);
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
                    if let Some(sig) =
                        detect::evaluate(&rs.rule.detector, &scope.windows.sums, &mut scope.ex, self.alpha, elapsed)
                    {
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
        let matched = std::mem::take(&mut self.matched);
        self.posts.record(m, &matched, minute, negative);
        self.matched = matched;
    }

    fn severity_of(&self, b: u32, ri: usize, sig: &Signal) -> Severity {
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

    fn open_incident(&mut self, b: u32, ri: usize, sig: Signal) {
        let severity = self.severity_of(b, ri, &sig);
        let brand = &mut self.brands[b as usize];
        let rs = &mut brand.rules[ri];
        let key = format!("{}/{}{}", brand.id, rs.rule.name, rs.rule.scope.key_suffix());
        let id = format!("{:016x}", fnv1a(format!("{key}@{}", self.now).as_bytes()));
        rs.incident.open(id.clone(), severity, sig, self.now_min);
        brand.scopes[rs.scope].open_incidents += 1;
        self.open.push((b, ri));
        self.stats.by_severity[severity as usize] += 1;
        self.emit(b, ri, &id, Status::Firing, severity, sig, None);
    }

    /// Appends an alert event. `closed_category`: for `resolved`, the category the incident had.
    #[allow(clippy::too_many_arguments)]
    fn emit(
        &mut self,
        b: u32,
        ri: usize,
        id: &str,
        status: Status,
        severity: Severity,
        sig: Signal,
        closed_category: Option<String>,
    ) {
        let brand = &self.brands[b as usize];
        let rs = &brand.rules[ri];
        let scope = &brand.scopes[rs.scope];
        let (start, end) = match rs.rule.detector.kind {
            DetectorKind::Flatline { .. } => (scope.last_seen + 1, self.now_min),
            _ => (scope.windows.window_start(sig.window), self.now_min),
        };
        let s = scope.windows.sums[sig.window.min(3)];
        let negative_only = rs.rule.detector.kind == DetectorKind::Negative;
        let (top_posts, top_terms) = if status == Status::Resolved {
            (Vec::new(), Vec::new())
        } else {
            self.posts.explain(b, start, end, negative_only, 5, 8)
        };
        let ev = AlertEvent {
            schema: "crisiswatch.alert.v1".into(),
            id: id.to_string(),
            dedup_key: format!("{}/{}{}", brand.id, rs.rule.name, rs.rule.scope.key_suffix()),
            status,
            severity,
            brand: brand.id.clone(),
            brand_name: brand.name.clone(),
            rule: rs.rule.name.clone(),
            metric: rs.rule.detector.kind.metric().into(),
            at: format_rfc3339(self.now),
            window_start: format_rfc3339(start * MINUTE_MS),
            window_end: format_rfc3339((end + 1) * MINUTE_MS),
            observed: sig.observed,
            expected: (sig.expected * 100.0).round() / 100.0,
            p_value: sig.p_value,
            score: crate::detect::stats::score(sig.p_value, self.alpha),
            negative_share: (s.negative_share() * 1000.0).round() / 1000.0,
            baseline_negative_share: (scope.ex.negative_share * 1000.0).round() / 1000.0,
            mentions: s.count,
            reshares: s.reshares,
            authors: s.new_authors,
            tone_source: match (s.toned, s.model_toned) {
                (0, _) => "none",
                (_, 0) => "provider",
                (t, m) if t == m => "model",
                _ => "mixed",
            }
            .into(),
            top_posts,
            top_terms,
            category: closed_category.unwrap_or_else(|| "other".into()),
            suggested_responses: Vec::new(),
            curve: scope.windows.minute_counts(),
            sources: if status == Status::Resolved { Vec::new() } else { self.posts.source_mix(b, start, end) },
        };
        let may_be_positive = rs.rule.detector.kind == DetectorKind::Volume
            && (s.toned == 0 || s.negative_share() <= scope.ex.negative_share);
        let mut ev = ev;
        if let (Some(books), Status::Firing | Status::Escalated) = (&self.playbooks, status) {
            let (category, _) = books.guess(&ev.top_posts, &ev.top_terms, may_be_positive);
            let mut langs: Vec<&str> = Vec::new();
            for p in &ev.top_posts {
                if let Some(l) = crate::ingest::lang::detect(&p.text) {
                    if !langs.contains(&l.code()) {
                        langs.push(l.code());
                    }
                }
            }
            let facts = Facts {
                brand: brand.name.clone(),
                since: format!("{} UTC", &format_rfc3339(start * MINUTE_MS)[11..16]),
                mentions: s.count,
            };
            ev.suggested_responses = books.drafts(category, &langs, &facts);
            ev.category = category.to_string();
            if let Incident::Open(o) = &mut self.brands[b as usize].rules[ri].incident {
                o.category = category.to_string();
            }
        }
        self.events.push(ev);
    }

    /// Event time entered minute `minute`: re-test open incidents, check silences.
    fn on_minute(&mut self, minute: i64) {
        self.now_min = minute;
        let mut i = 0;
        while i < self.open.len() {
            let (b, ri) = self.open[i];
            if self.retest_open(b, ri) {
                self.open.swap_remove(i);
            } else {
                i += 1;
            }
        }
        if minute.saturating_sub(self.last_flatline_scan) >= 5 {
            self.last_flatline_scan = minute;
            self.scan_silence();
        }
    }

    /// Re-tests an open incident; returns true when it resolved.
    fn retest_open(&mut self, b: u32, ri: usize) -> bool {
        let (now_min, alpha) = (self.now_min, self.alpha);
        let brand = &mut self.brands[b as usize];
        let rs = &brand.rules[ri];
        let scope = &mut brand.scopes[rs.scope];
        scope.sync(now_min, &self.settings, self.z_alpha);
        let (fresh, anomalous) = match rs.rule.detector.kind {
            DetectorKind::Flatline { min_expected } => {
                let expected = scope.baseline.expected_minutes(scope.last_seen + 1, now_min - 1);
                let silent = detect::silence(min_expected / 2.0, expected, scope.ex.phi, alpha.sqrt()).is_some();
                (None, silent)
            }
            _ => {
                let sig = detect::evaluate(&rs.rule.detector, &scope.windows.sums, &mut scope.ex, alpha, 0.0);
                let still =
                    sig.is_some() || detect::still_anomalous(&rs.rule.detector, &scope.windows.sums, &scope.ex, alpha);
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

    /// Emits the `resolved` event of a closed incident and releases its scope.
    fn report_resolved(&mut self, b: u32, ri: usize, closed: &crate::engine::incident::OpenIncident) {
        let (now_min, cooldown) = (self.now_min, self.settings.cooldown_min);
        {
            {
                // report the window of the strongest evidence as it is now
                let brand = &self.brands[b as usize];
                let scope = &brand.scopes[brand.rules[ri].scope];
                let w = closed.strongest.window.min(3);
                let s = scope.windows.sums[w];
                let (observed, expected) = match brand.rules[ri].rule.detector.kind {
                    DetectorKind::Negative => (f64::from(s.negative), f64::from(s.toned) * scope.ex.negative_share),
                    DetectorKind::Reach => {
                        (f64::from(s.influential), scope.ex.mentions[w] * scope.ex.influential_share)
                    }
                    _ => (f64::from(s.count), scope.ex.mentions[w]),
                };
                let p = crate::detect::stats::nb_upper_tail(observed, expected, scope.ex.phi);
                let now_sig = Signal { window: w, observed, expected, p_value: p };
                self.stats.resolved += 1;
                self.emit(b, ri, &closed.id, Status::Resolved, closed.severity, now_sig, Some(closed.category.clone()));
                let brand = &mut self.brands[b as usize];
                let si = brand.rules[ri].scope;
                brand.scopes[si].open_incidents = brand.scopes[si].open_incidents.saturating_sub(1);
                if matches!(brand.rules[ri].rule.detector.kind, DetectorKind::Flatline { .. }) {
                    self.silence_queue.push(Reverse((now_min + cooldown.max(10), b, ri as u32)));
                }
            }
        }
    }

    /// Tests the silence rules that are due. Each watched rule has exactly one entry in the
    /// queue, due when its silence could first be significant, so a scan costs nothing for the
    /// brands that are talking or are too quiet to matter (100,000 brands stay cheap).
    fn scan_silence(&mut self) {
        let (now_min, alpha) = (self.now_min, self.alpha);
        while let Some(&Reverse((due, b, ri))) = self.silence_queue.peek() {
            if due > now_min {
                break;
            }
            self.silence_queue.pop();
            let (b_idx, ri_idx) = (b as usize, ri as usize);
            let brand = &self.brands[b_idx];
            let rs = &brand.rules[ri_idx];
            let DetectorKind::Flatline { min_expected } = rs.rule.detector.kind else { continue };
            match rs.incident {
                Incident::Open(_) => continue, // re-queued when it resolves
                Incident::Idle { cooldown_until } if now_min < cooldown_until => {
                    self.silence_queue.push(Reverse((cooldown_until, b, ri)));
                    continue;
                }
                Incident::Idle { .. } => {}
            }
            // No sync here: the baseline from before the silence is the one to test against.
            let scope = &brand.scopes[rs.scope];
            if !scope.baseline.is_warm(&self.settings.baseline) {
                self.silence_queue.push(Reverse((now_min + 60, b, ri)));
                continue;
            }
            let per_minute_peak = scope.baseline.peak_hourly() / 60.0;
            // at least ten silent minutes, and enough of them to expect `min_expected` mentions
            let earliest = if per_minute_peak > 0.0 {
                scope.last_seen + 1 + (min_expected / per_minute_peak).ceil().clamp(10.0, 7.0 * 1440.0) as i64
            } else {
                now_min + 60
            };
            if earliest > now_min {
                self.silence_queue.push(Reverse((earliest.max(now_min + 5), b, ri)));
                continue;
            }
            // completed minutes only: the current one has just begun
            let from = scope.last_seen.max(now_min - 7 * 1440) + 1;
            let expected = scope.baseline.expected_minutes(from, now_min - 1);
            match detect::silence(min_expected, expected, scope.baseline.phi(), alpha) {
                Some(p) => {
                    let sig = Signal { window: 2, observed: 0.0, expected, p_value: p };
                    self.open_incident(b, ri_idx, sig);
                }
                None => self.silence_queue.push(Reverse((now_min + 5, b, ri))),
            }
        }
    }
}

/// One brand as the service reports it (`GET /v1/brands`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct BrandStatus {
    /// Brand id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Mentions in the windows ending now, by window (`"5m"`, `"15m"`, `"1h"`, `"6h"`).
    pub mentions: Vec<WindowStatus>,
    /// Negative share of the toned mentions in the last hour.
    pub negative_share_1h: Option<f64>,
    /// The baseline's usual negative share.
    pub baseline_negative_share: f64,
    /// Baseline dispersion φ (negative binomial: variance = μ + φμ²).
    pub dispersion: f64,
    /// Whether the baseline is past warm-up (no alerts before).
    pub warm: bool,
    /// Open incidents: (incident id, rule, severity).
    pub open_incidents: Vec<OpenStatus>,
}

/// Observed and expected mentions in one window.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WindowStatus {
    /// `5m`, `15m`, `1h` or `6h`.
    pub window: &'static str,
    /// Mentions observed.
    pub observed: u32,
    /// Mentions the baseline expects.
    pub expected: f64,
}

/// An open incident in a brand status.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OpenStatus {
    /// Incident id.
    pub id: String,
    /// Rule (with scope).
    pub rule: String,
    /// Current severity.
    pub severity: Severity,
}

/// One minute of a brand's chart series.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct SeriesPoint {
    /// Start of the minute, RFC 3339.
    #[serde(serialize_with = "ser_minute")]
    pub minute: i64,
    /// Mentions.
    pub mentions: u32,
    /// Negative mentions.
    pub negative: u32,
    /// Baseline expectation for the minute.
    pub expected: f64,
    /// Band around it: the 0.5 % and 99.5 % points of the normal approximation to the
    /// negative binomial (variance μ + φμ²), clipped at zero.
    pub lower: f64,
    /// Upper edge of the band.
    pub upper: f64,
}

fn ser_minute<S: serde::Serializer>(m: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_rfc3339(m * MINUTE_MS))
}

const WINDOW_NAMES: [&str; 4] = ["5m", "15m", "1h", "6h"];

impl BrandState {
    /// The scope that sees every mention of the brand, else the first one.
    fn main_scope(&self) -> usize {
        self.scope_defs.iter().position(|s| s.sources.is_empty() && s.langs.is_empty()).unwrap_or(0)
    }
}

impl Engine {
    /// Advances the clock to `at` without a mention (the live service's wall-clock tick):
    /// open incidents are re-tested and silences checked when a new minute begins.
    pub fn advance_to(&mut self, at: Millis) {
        if self.now == i64::MIN || at <= self.now {
            if self.now == i64::MIN {
                self.now = at;
                self.now_min = minute_of(at);
            }
            return;
        }
        self.now = at;
        let minute = minute_of(at);
        if minute > self.now_min {
            self.on_minute(minute);
        }
    }

    /// Closes the open incident `id` because a person resolved it: a `resolved` event is
    /// emitted and the rule cools down as after an automatic resolution. Returns false when
    /// no open incident has this id.
    pub fn resolve_incident(&mut self, id: &str) -> bool {
        let Some(pos) = self
            .open
            .iter()
            .position(|&(b, ri)| self.brands[b as usize].rules[ri].incident.as_open().is_some_and(|o| o.id == id))
        else {
            return false;
        };
        let (b, ri) = self.open.swap_remove(pos);
        let until = self.now_min.saturating_add(self.settings.cooldown_min);
        let incident = &mut self.brands[b as usize].rules[ri].incident;
        let closed = incident.as_open().cloned().expect("found open above");
        *incident = Incident::Idle { cooldown_until: until };
        self.report_resolved(b, ri, &closed);
        true
    }

    /// Current state of every brand that has had mentions (or all brands with `all`).
    pub fn brand_status(&self, all: bool) -> Vec<BrandStatus> {
        self.brands
            .iter()
            .filter(|b| all || b.history.is_some())
            .map(|b| {
                let scope = &b.scopes[b.main_scope()];
                let sums = &scope.windows.sums;
                let current = self.now_min;
                // counted from the history: the windows of a quiet brand move only when it is
                // next mentioned or re-tested
                let mentions = (0..4)
                    .map(|i| {
                        let start = current - WINDOW_MINUTES[i] + 1;
                        let observed = b.history.as_ref().map_or(0, |h| (start..=current).map(|m| h.at(m).0).sum());
                        let expected = scope.baseline.expected_minutes(start, current);
                        WindowStatus { window: WINDOW_NAMES[i], observed, expected: (expected * 100.0).round() / 100.0 }
                    })
                    .collect();
                BrandStatus {
                    id: b.id.clone(),
                    name: b.name.clone(),
                    mentions,
                    negative_share_1h: (sums[2].toned > 0)
                        .then(|| (sums[2].negative_share() * 1000.0).round() / 1000.0),
                    baseline_negative_share: (scope.baseline.negative_share() * 1000.0).round() / 1000.0,
                    dispersion: scope.baseline.phi(),
                    warm: scope.baseline.is_warm(&self.settings.baseline),
                    open_incidents: b
                        .rules
                        .iter()
                        .filter_map(|r| {
                            r.incident.as_open().map(|o| OpenStatus {
                                id: o.id.clone(),
                                rule: format!("{}{}", r.rule.name, r.rule.scope.key_suffix()),
                                severity: o.severity,
                            })
                        })
                        .collect(),
                }
            })
            .collect()
    }

    /// Per-minute series of brand `id` over the last `minutes` minutes (at most a day), with
    /// the baseline band; `None` for an unknown brand.
    pub fn series(&self, id: &str, minutes: i64) -> Option<Vec<SeriesPoint>> {
        let b = &self.brands[*self.by_id.get(id)? as usize];
        let scope = &b.scopes[b.main_scope()];
        if self.now == i64::MIN {
            return Some(Vec::new());
        }
        let minutes = minutes.clamp(1, crate::detect::window::HISTORY_MINUTES);
        let phi = scope.baseline.phi();
        let z = 2.5758; // two-sided 99 %
        let points = (self.now_min - minutes + 1..=self.now_min)
            .map(|m| {
                let (mentions, negative) = b.history.as_ref().map_or((0, 0), |h| h.at(m));
                let mu = scope.baseline.expected_minutes(m, m);
                let sd = (mu + phi * mu * mu).sqrt();
                let r = |x: f64| (x * 1000.0).round() / 1000.0;
                SeriesPoint {
                    minute: m,
                    mentions,
                    negative,
                    expected: r(mu),
                    lower: r((mu - z * sd).max(0.0)),
                    upper: r(mu + z * sd),
                }
            })
            .collect();
        Some(points)
    }

    /// The engine's state for a snapshot. The post log (explanations) is not included.
    pub fn snapshot(&self) -> EngineSnapshot {
        let rule_key = |r: &RuleState| format!("{}{}", r.rule.name, r.rule.scope.key_suffix());
        let brands = self
            .brands
            .iter()
            .filter(|b| b.history.is_some() || b.scopes.iter().any(|s| s.last_seen != i64::MIN))
            .map(|b| BrandSnapshot {
                id: b.id.clone(),
                scopes: b
                    .scope_defs
                    .iter()
                    .zip(&b.scopes)
                    .filter(|(_, s)| s.next_hour != i64::MIN)
                    .map(|(d, s)| {
                        (
                            d.key_suffix(),
                            ScopeSnapshot {
                                windows: s.windows.clone(),
                                baseline: s.baseline.clone(),
                                hours: s.hours,
                                next_hour: s.next_hour,
                                last_seen: s.last_seen,
                                authors: s.authors.to_vec(),
                            },
                        )
                    })
                    .collect(),
                rules: b.rules.iter().map(|r| (rule_key(r), r.incident.clone(), r.last_exact)).collect(),
                history: b.history.clone(),
            })
            .collect();
        let silence = self
            .silence_queue
            .iter()
            .map(|Reverse((due, b, ri))| {
                let brand = &self.brands[*b as usize];
                (*due, brand.id.clone(), rule_key(&brand.rules[*ri as usize]))
            })
            .collect();
        let open = self
            .open
            .iter()
            .map(|&(b, ri)| {
                let brand = &self.brands[b as usize];
                (brand.id.clone(), rule_key(&brand.rules[ri]))
            })
            .collect();
        EngineSnapshot {
            version: SNAPSHOT_VERSION,
            open,
            now: self.now,
            now_min: self.now_min,
            last_flatline_scan: self.last_flatline_scan,
            stats: self.stats.clone(),
            brands,
            silence,
        }
    }

    /// Restores a snapshot into a freshly built engine (same or changed rules). State whose
    /// scope or rule no longer exists is dropped and counted.
    pub fn restore(&mut self, snap: EngineSnapshot) -> RestoreReport {
        let mut report = RestoreReport::default();
        self.now = snap.now;
        self.now_min = snap.now_min;
        self.last_flatline_scan = snap.last_flatline_scan;
        self.stats = snap.stats;
        self.open.clear();
        self.silence_queue.clear();
        let rule_key = |r: &RuleState| format!("{}{}", r.rule.name, r.rule.scope.key_suffix());
        for bs in snap.brands {
            let b = self.brand_by_id(&bs.id);
            report.brands += 1;
            let brand = &mut self.brands[b as usize];
            brand.history = bs.history;
            for (key, ss) in bs.scopes {
                let Some(si) = brand.scope_defs.iter().position(|d| d.key_suffix() == key) else {
                    report.dropped += 1;
                    continue;
                };
                let mut authors = [(0, 0); AUTHOR_SLOTS];
                for (slot, a) in authors.iter_mut().zip(ss.authors) {
                    *slot = a;
                }
                let scope = &mut brand.scopes[si];
                scope.windows = ss.windows;
                scope.baseline = ss.baseline;
                scope.hours = ss.hours;
                scope.next_hour = ss.next_hour;
                scope.last_seen = ss.last_seen;
                scope.authors = authors;
                scope.ex_minute = i64::MIN; // recomputed on the next sync
                report.scopes += 1;
            }
            for (key, incident, last_exact) in bs.rules {
                let Some(ri) = brand.rules.iter().position(|r| rule_key(r) == key) else {
                    report.dropped += 1;
                    continue;
                };
                if incident.as_open().is_some() {
                    let si = brand.rules[ri].scope;
                    brand.scopes[si].open_incidents += 1;
                    report.open_incidents += 1;
                }
                brand.rules[ri].incident = incident;
                brand.rules[ri].last_exact = last_exact;
            }
        }
        // open incidents are re-tested in their old order, so that events come out identically
        for (id, key) in snap.open {
            let Some(&b) = self.by_id.get(&id) else { continue };
            let brand = &self.brands[b as usize];
            if let Some(ri) = brand.rules.iter().position(|r| rule_key(r) == key && r.incident.as_open().is_some()) {
                self.open.push((b, ri));
            }
        }
        for (due, id, key) in snap.silence {
            let Some(&b) = self.by_id.get(&id) else { continue };
            if let Some(ri) = self.brands[b as usize].rules.iter().position(|r| rule_key(r) == key) {
                self.silence_queue.push(Reverse((due, b, ri as u32)));
            }
        }
        report
    }
}
