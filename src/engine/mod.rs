//! The engine: mentions in, alert events out, in event time. It owns the brand table, the
//! per-scope windows and baselines, the incidents, and the post log used for explanations.
//! `replay`, `nab` and (later) the live service all drive this same type.
//!
//! Per mention: attribute brands (the `brand` field or keyword matching), place the mention
//! in its minute bucket of every scope it belongs to, and test the rules of those scopes
//! (guards first, exact tails only when the guards pass). When event time enters a new
//! minute: open incidents are re-tested for escalation and resolution; every five minutes
//! the silence (flatline) rules of all brands are checked.

mod emit;
pub mod incident;
#[cfg(test)]
mod planned_tests;
mod process;
mod scope;
mod silence;
pub mod snapshot;
mod status;
#[cfg(test)]
mod tests;

pub use scope::INFLUENTIAL_FOLLOWERS;
pub use status::{BrandStatus, OpenStatus, SeriesPoint, WindowStatus};

use crate::alert::explain::PostLog;
use crate::alert::playbook::Playbooks;
use crate::alert::AlertEvent;
use crate::detect::{Planned, Signal};
use crate::ingest::brands::{BrandKeywords, BrandMatcher};
use crate::rules::{BrandDef, EngineSettings, Rule, RuleSet};
use crate::time::Millis;
use crate::tone::{NoToneModel, ToneModel};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use scope::BrandState;

/// Memory budget of the post log that explanations draw on.
const POST_LOG_BYTES: usize = 256 << 20;

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
    /// Tail priors pooled over every warm scope, refreshed hourly in event time.
    priors: crate::detect::tracker::Priors,
    /// With [`Engine::set_prior_pools`] above 1: the priors of each pool of brands
    /// (`fnv1a(brand id) mod pools`, the cluster's partitions), used instead of `priors`.
    pool_priors: Vec<crate::detect::tracker::Priors>,
    /// Minute of the last pooling.
    priors_minute: i64,
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
    /// Planned events per brand id: the rules files' and the API's ([`Engine::set_planned`]).
    planned_rules: HashMap<String, Vec<Planned>>,
    planned_api: Vec<(String, Planned)>,
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
            priors: [[crate::detect::calibrate::TailFit::default_prior(); 4]; 3],
            priors_minute: i64::MIN,
            pool_priors: Vec::new(),
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
            planned_rules: HashMap::new(),
            planned_api: Vec::new(),
            tone_mix: None,
            events: Vec::new(),
            stats: EngineStats::default(),
        };
        for b in &rules.brands {
            if !b.planned.is_empty() {
                let plans = b.planned.iter().map(|p| Planned::from_millis(p.start_ms, p.end_ms, p.uplift)).collect();
                e.planned_rules.insert(b.id.clone(), plans);
            }
        }
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
        self.brands.push(BrandState::new(
            b.id.clone(),
            b.name.clone(),
            &rules,
            &self.settings,
            self.settings.false_alarms_per_week,
        ));
        self.brands[idx as usize].planned = self.planned_of(&b.id);
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
        self.brands.push(BrandState::new(
            id.to_string(),
            id.to_string(),
            &self.default_rules,
            &self.settings,
            self.settings.false_alarms_per_week * self.settings.sensitivity.factor(),
        ));
        self.brands[idx as usize].planned = self.planned_of(id);
        self.by_id.insert(id.to_string(), idx);
        idx
    }

    /// The planned events of brand `id`, the rules files' and the API's, by start.
    fn planned_of(&self, id: &str) -> Arc<[Planned]> {
        let mut all: Vec<Planned> = self.planned_rules.get(id).cloned().unwrap_or_default();
        all.extend(self.planned_api.iter().filter(|(b, _)| b == id).map(|(_, p)| *p));
        all.sort_by_key(|p| p.start_min);
        Arc::from(all)
    }

    /// Replaces the planned events declared through the API (the rules files' stay): volume
    /// and reach rules of their brands expect the uplift from then on (see
    /// [`crate::detect::planned`]). Brands not seen yet get theirs when first seen.
    pub fn set_planned(&mut self, api: Vec<(String, Planned)>) {
        self.planned_api = api;
        for i in 0..self.brands.len() {
            self.brands[i].planned = self.planned_of(&self.brands[i].id);
        }
    }

    /// The planned events declared through the API (to hand to the engine that replaces this
    /// one at a reload).
    pub fn planned_api(&self) -> Vec<(String, Planned)> {
        self.planned_api.clone()
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

    /// Hands the tone model over (to the engine that replaces this one at a reload), leaving
    /// none here.
    pub fn take_tone_model(&mut self) -> Box<dyn ToneModel> {
        std::mem::replace(&mut self.tone_model, Box::new(NoToneModel))
    }

    /// The event-time clock: the newest mention time seen, `None` before the first.
    pub fn now(&self) -> Option<Millis> {
        (self.now != i64::MIN).then_some(self.now)
    }

    /// Pools the priors per group of brands, the groups being the partitions of a cluster
    /// of `pools` partitions (`serve::cluster::partition::of`): an engine then decides for
    /// every brand exactly as the cluster's engine of its partition, which pools over the
    /// brands of that partition only (`replay --partitions`). 1 (the default) pools over
    /// every brand. Snapshots keep the priors of pooling over every brand only: a setting
    /// for replays, not for the live service.
    pub fn set_prior_pools(&mut self, pools: u32) {
        let default = [[crate::detect::calibrate::TailFit::default_prior(); 4]; 3];
        self.pool_priors = if pools > 1 { vec![default; pools as usize] } else { Vec::new() };
    }

    /// Pools the tails of every warm scope into the priors new scopes borrow.
    fn pool_priors(&mut self) {
        if !self.pool_priors.is_empty() {
            let pools = self.pool_priors.len() as u64;
            for g in 0..pools {
                let mut fits: [[Vec<crate::detect::calibrate::TailFit>; 4]; 3] = Default::default();
                for brand in self.brands.iter().filter(|b| crate::hash::fnv1a(b.id.as_bytes()) % pools == g) {
                    for scope in &brand.scopes {
                        if !scope.baseline.is_warm(&self.settings.baseline) {
                            continue;
                        }
                        for (v, f) in fits.iter_mut().flatten().zip(scope.cal.own_fits().iter().flatten()) {
                            v.extend(f);
                        }
                    }
                }
                for (p, v) in self.pool_priors[g as usize].iter_mut().flatten().zip(fits.iter_mut().flatten()) {
                    *p = crate::detect::tracker::pooled_prior(v);
                }
            }
            return;
        }
        let mut fits: [[Vec<crate::detect::calibrate::TailFit>; 4]; 3] = Default::default();
        for brand in &self.brands {
            for scope in &brand.scopes {
                if !scope.baseline.is_warm(&self.settings.baseline) {
                    continue;
                }
                for (v, f) in fits.iter_mut().flatten().zip(scope.cal.own_fits().iter().flatten()) {
                    v.extend(f);
                }
            }
        }
        for (p, v) in self.priors.iter_mut().flatten().zip(fits.iter_mut().flatten()) {
            *p = crate::detect::tracker::pooled_prior(v);
        }
    }

    /// Reference significance level: the score is 0.5 at this p-value, and severity grades
    /// evidence against it (the same for every brand).
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
}
