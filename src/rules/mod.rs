//! Rules: `rules/defaults.toml` (engine settings and the rules every brand gets) and one
//! `rules/<brand>.toml` per brand (keywords per language, exclusions, rule overrides).
//! Parsed into raw structs with `deny_unknown_fields`, then validated into a [`RuleSet`];
//! every problem becomes a [`Diagnostic`] with file, line and column, all reported at once.
//!
//! A rule names exactly one detector kind as a sub-table: `[rule.volume]`,
//! `[rule.negative]`, `[rule.reach]` or `[rule.flatline]`, and may narrow its scope to some
//! sources or languages. A brand file's rule with the same name as a default replaces it;
//! `disable = ["reach-spike"]` removes a default. `[[planned]]` declares planned events
//! ([`planned`]).

pub mod names;
pub mod planned;

use crate::detect::baseline::BaselineParams;
pub use crate::detect::{Detector, DetectorKind};
use crate::diag::{Diagnostic, Diagnostics};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    #[serde(default)]
    engine: RawEngine,
    #[serde(default)]
    rule: Vec<RawRule>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawEngine {
    allowed_lateness: Option<Spanned<String>>,
    max_clock_jump: Option<Spanned<String>>,
    max_line_bytes: Option<Spanned<u64>>,
    negative_threshold: Option<Spanned<f64>>,
    false_alarms_per_week: Option<Spanned<f64>>,
    warmup: Option<Spanned<String>>,
    prior_negative_share: Option<Spanned<f64>>,
    prior_dispersion: Option<Spanned<f64>>,
    hold: Option<Spanned<String>>,
    cooldown: Option<Spanned<String>>,
    max_freeze: Option<Spanned<String>>,
    sensitivity: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBrandFile {
    brand: RawBrand,
    #[serde(default)]
    rule: Vec<RawRule>,
    #[serde(default)]
    disable: Vec<Spanned<String>>,
    #[serde(default)]
    planned: Vec<planned::RawPlanned>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBrand {
    id: Spanned<String>,
    name: String,
    #[serde(default)]
    keywords: BTreeMap<Spanned<String>, Vec<Spanned<String>>>,
    #[serde(default)]
    exclusions: Vec<String>,
    sensitivity: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Spanned<String>,
    #[serde(default)]
    sources: Vec<String>,
    #[serde(default)]
    langs: Vec<String>,
    min_mentions: Option<Spanned<u32>>,
    min_ratio: Option<Spanned<f64>>,
    volume: Option<Spanned<RawEmpty>>,
    negative: Option<Spanned<RawEmpty>>,
    reach: Option<Spanned<RawEmpty>>,
    flatline: Option<Spanned<RawFlatline>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawEmpty {}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFlatline {
    min_expected: Option<f64>,
}

/// Engine-wide settings from `[engine]` in `defaults.toml`.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// How far behind the newest event time a mention may arrive and still be counted.
    pub allowed_lateness_min: i64,
    /// A mention further than this ahead of the clock is held until the next mention confirms
    /// the jump, and rejected as a wrong timestamp otherwise.
    pub max_clock_jump_min: i64,
    /// Input lines longer than this are rejected unparsed.
    pub max_line_bytes: usize,
    /// A provider `sentiment` below this is negative.
    pub negative_threshold: f64,
    /// Target false alarms per brand per week, all rules together.
    pub false_alarms_per_week: f64,
    /// Baseline tunables (warm-up, priors, freeze limit).
    pub baseline: BaselineParams,
    /// Minutes a metric must stay back within its baseline before the incident resolves.
    pub hold_min: i64,
    /// Minutes after resolution before the same key may fire again.
    pub cooldown_min: i64,
    /// Sensitivity of brands that do not set their own.
    pub sensitivity: Sensitivity,
}

/// How many alerts a PR lead wants to trade for how early: each step scales the brand's
/// false-alarm budget (`false_alarms_per_week`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sensitivity {
    /// A third of the budget (0.03 false alarms per brand-week at the default 0.1: about one
    /// in eight months); crises are found a little later, the smallest ones not at all.
    Fewer,
    /// The budget as set (default 0.1 per brand-week: about one false alarm in ten weeks).
    #[default]
    Balanced,
    /// Five times the budget (0.5 per brand-week: about two a month); smaller and earlier.
    More,
}

impl Sensitivity {
    /// The factor on the false-alarm budget.
    pub fn factor(self) -> f64 {
        match self {
            Sensitivity::Fewer => 0.3,
            Sensitivity::Balanced => 1.0,
            Sensitivity::More => 5.0,
        }
    }

    /// Parses `fewer`, `balanced` or `more`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "fewer" => Some(Sensitivity::Fewer),
            "balanced" => Some(Sensitivity::Balanced),
            "more" => Some(Sensitivity::More),
            _ => None,
        }
    }
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            allowed_lateness_min: 5,
            max_clock_jump_min: 1440,
            max_line_bytes: 1 << 20,
            negative_threshold: -0.25,
            false_alarms_per_week: 0.1,
            baseline: BaselineParams::default(),
            hold_min: 30,
            cooldown_min: 60,
            sensitivity: Sensitivity::Balanced,
        }
    }
}

/// Which mentions a rule looks at. Empty lists mean all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Scope {
    /// Sources (`twitter`, `news`, …) included.
    pub sources: Vec<String>,
    /// Languages included.
    pub langs: Vec<String>,
}

impl Scope {
    /// Whether a mention with this source and language is in scope.
    pub fn contains(&self, source: Option<&str>, lang: Option<&str>) -> bool {
        (self.sources.is_empty() || source.is_some_and(|s| self.sources.iter().any(|x| x == s)))
            && (self.langs.is_empty() || lang.is_some_and(|l| self.langs.iter().any(|x| x == l)))
    }

    /// Suffix for the dedup key (`""` for the whole brand).
    pub fn key_suffix(&self) -> String {
        let mut s = String::new();
        if !self.sources.is_empty() {
            s.push_str(&format!("/source={}", self.sources.join(",")));
        }
        if !self.langs.is_empty() {
            s.push_str(&format!("/lang={}", self.langs.join(",")));
        }
        s
    }
}

/// One validated rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Unique per brand; part of the dedup key.
    pub name: String,
    /// Mentions the rule looks at.
    pub scope: Scope,
    /// What it tests, with its guards.
    pub detector: Detector,
}

/// One brand and its rules (defaults merged).
#[derive(Debug, Clone)]
pub struct BrandDef {
    /// Stable id used in `brand` fields and alerts.
    pub id: String,
    /// Display name for alerts.
    pub name: String,
    /// Keywords of all languages (`*` suffix = stem).
    pub keywords: Vec<String>,
    /// Phrases that veto a match.
    pub exclusions: Vec<String>,
    /// Effective rules.
    pub rules: Vec<Rule>,
    /// The brand's own sensitivity (else the engine's).
    pub sensitivity: Option<Sensitivity>,
    /// Planned events (`[[planned]]`): volume expected to rise on purpose.
    pub planned: Vec<planned::PlannedEvent>,
}

/// Everything loaded from a rules directory.
#[derive(Debug, Clone)]
pub struct RuleSet {
    /// Engine settings.
    pub settings: EngineSettings,
    /// Rules every brand gets (also brands first seen in `brand` fields).
    pub default_rules: Vec<Rule>,
    /// Brands defined by files.
    pub brands: Vec<BrandDef>,
}

impl RuleSet {
    /// The built-in defaults (what `rules/defaults.toml` ships with).
    pub fn builtin() -> Self {
        let (defaults, diags) = parse_defaults(Path::new("<builtin defaults>"), BUILTIN_DEFAULTS);
        debug_assert!(diags.is_empty(), "{diags:?}");
        RuleSet { settings: defaults.0, default_rules: defaults.1, brands: Vec::new() }
    }

    /// The level per test and minute of a balanced brand: the weekly false-alarm budget
    /// divided by the tests a brand makes (one per rule and window it tests, flatline aside)
    /// and the 10,080 minutes of a week. A calibrated p̂ below it starts an alarm; the alert
    /// `score` is 0.5 at this level and 1 at its square, the same for every brand.
    pub fn alpha(&self) -> f64 {
        let tests: usize = self
            .default_rules
            .iter()
            .filter(|r| !matches!(r.detector.kind, DetectorKind::Flatline { .. }))
            .map(|r| r.detector.kind.windows().len())
            .sum();
        (self.settings.false_alarms_per_week / (tests.max(1) as f64 * 10_080.0)).clamp(1e-15, 0.01)
    }
}

/// The defaults compiled into the binary, identical to the shipped `rules/defaults.toml`.
pub const BUILTIN_DEFAULTS: &str = include_str!("../../rules/defaults.toml");

/// A rule duration in whole minutes, in the one duration syntax of [`crate::units`].
fn parse_duration_min(s: &str) -> Result<i64, MinutesError> {
    let d = crate::units::parse_duration(s)?;
    let ms = d.as_millis();
    if ms % 60_000 != 0 {
        return Err(MinutesError::NotWholeMinutes(s.trim().to_string()));
    }
    Ok(i64::try_from(ms / 60_000).unwrap_or(i64::MAX))
}

/// Why a rule duration is not a number of minutes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum MinutesError {
    /// Not a duration at all.
    #[error("invalid duration: {0}")]
    Unit(#[from] crate::units::UnitError),
    /// Rules count in minutes.
    #[error("duration `{0}` is not a whole number of minutes (rules count in minutes, e.g. `15m`, `1h`)")]
    NotWholeMinutes(String),
}

struct Ctx<'a> {
    path: &'a Path,
    text: &'a str,
    diags: Vec<Diagnostic>,
}

impl Ctx<'_> {
    fn err(&mut self, span: std::ops::Range<usize>, msg: impl Into<String>) {
        self.diags.push(Diagnostic::at(self.path, self.text, Some(span), msg));
    }
    fn duration(&mut self, v: &Option<Spanned<String>>, default: i64, min: i64, max: i64) -> i64 {
        let Some(v) = v else { return default };
        match parse_duration_min(v.get_ref()) {
            Ok(d) if (min..=max).contains(&d) => d,
            Ok(d) => {
                self.err(
                    v.span(),
                    format!("duration `{}` ({d} min) must be between {min} and {max} minutes", v.get_ref()),
                );
                default
            }
            Err(e) => {
                self.err(v.span(), e.to_string());
                default
            }
        }
    }
    fn sensitivity(&mut self, v: &Option<Spanned<String>>) -> Option<Sensitivity> {
        let v = v.as_ref()?;
        let parsed = Sensitivity::parse(v.get_ref());
        if parsed.is_none() {
            self.err(v.span(), format!("`sensitivity` = `{}` must be `fewer`, `balanced` or `more`", v.get_ref()));
        }
        parsed
    }
    fn number(&mut self, v: &Option<Spanned<f64>>, default: f64, lo: f64, hi: f64, what: &str) -> f64 {
        let Some(v) = v else { return default };
        let x = *v.get_ref();
        if !(lo..=hi).contains(&x) {
            self.err(v.span(), format!("`{what}` = {x} must be between {lo} and {hi}"));
            return default;
        }
        x
    }
}

fn parse_toml<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T, Diagnostic> {
    toml::from_str::<T>(text).map_err(|e| Diagnostic::at(path, text, e.span(), e.message().trim().to_string()))
}

fn validate_rule(cx: &mut Ctx<'_>, r: &RawRule) -> Option<Rule> {
    let name = r.name.get_ref().trim().to_string();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        cx.err(r.name.span(), format!("rule name `{name}` must be non-empty ASCII letters, digits, `-` or `_`"));
    }
    let mut kinds = Vec::new();
    if r.volume.is_some() {
        kinds.push(DetectorKind::Volume);
    }
    if r.negative.is_some() {
        kinds.push(DetectorKind::Negative);
    }
    if r.reach.is_some() {
        kinds.push(DetectorKind::Reach);
    }
    if let Some(f) = &r.flatline {
        let min_expected = f.get_ref().min_expected.unwrap_or(30.0);
        if min_expected < 1.0 {
            cx.err(f.span(), "`min_expected` must be at least 1");
        }
        kinds.push(DetectorKind::Flatline { min_expected });
    }
    if kinds.len() != 1 {
        cx.err(
            r.name.span(),
            format!(
                "rule `{name}` must have exactly one detector table (found {}; available: `[rule.volume]`, `[rule.negative]`, `[rule.reach]`, `[rule.flatline]`)",
                kinds.len()
            ),
        );
        return None;
    }
    let kind = kinds.remove(0);
    let default_min = if kind == DetectorKind::Negative { 8 } else { 10 };
    let min_mentions = match &r.min_mentions {
        Some(v) if *v.get_ref() == 0 => {
            cx.err(v.span(), "`min_mentions` must be at least 1: never conclude from nothing");
            default_min
        }
        Some(v) => *v.get_ref(),
        None => default_min,
    };
    let default_ratio = if kind == DetectorKind::Negative { 1.5 } else { 2.0 };
    let min_ratio = cx.number(&r.min_ratio, default_ratio, 1.0, 1000.0, "min_ratio");
    let scope = Scope { sources: r.sources.clone(), langs: r.langs.clone() };
    Some(Rule { name, scope, detector: Detector { kind, min_mentions, min_ratio } })
}

fn parse_defaults(path: &Path, text: &str) -> ((EngineSettings, Vec<Rule>), Vec<Diagnostic>) {
    let raw: RawDefaults = match parse_toml(path, text) {
        Ok(r) => r,
        Err(d) => return ((EngineSettings::default(), Vec::new()), vec![d]),
    };
    let mut cx = Ctx { path, text, diags: Vec::new() };
    let d = EngineSettings::default();
    let e = &raw.engine;
    let mut s = EngineSettings {
        allowed_lateness_min: cx.duration(&e.allowed_lateness, d.allowed_lateness_min, 0, 30),
        max_clock_jump_min: cx.duration(&e.max_clock_jump, d.max_clock_jump_min, 10, 365 * 1440),
        hold_min: cx.duration(&e.hold, d.hold_min, 1, 1440),
        cooldown_min: cx.duration(&e.cooldown, d.cooldown_min, 0, 10_080),
        negative_threshold: cx.number(&e.negative_threshold, d.negative_threshold, -1.0, 1.0, "negative_threshold"),
        false_alarms_per_week: cx.number(
            &e.false_alarms_per_week,
            d.false_alarms_per_week,
            1e-6,
            100.0,
            "false_alarms_per_week",
        ),
        ..d
    };
    if let Some(v) = &e.max_line_bytes {
        if *v.get_ref() < 256 {
            cx.err(v.span(), "`max_line_bytes` must be at least 256");
        } else {
            s.max_line_bytes = *v.get_ref() as usize;
        }
    }
    s.baseline.warmup_hours = (cx.duration(&e.warmup, 24 * 60, 60, 30 * 1440) / 60) as u32;
    s.baseline.max_freeze_hours = (cx.duration(&e.max_freeze, 72 * 60, 60, 30 * 1440) / 60) as u32;
    s.baseline.prior_negative_share = cx.number(&e.prior_negative_share, 0.2, 0.001, 0.999, "prior_negative_share");
    s.baseline.prior_phi = cx.number(&e.prior_dispersion, 0.1, 0.0, 10.0, "prior_dispersion");
    s.sensitivity = cx.sensitivity(&e.sensitivity).unwrap_or_default();
    let rules = validate_rules(&mut cx, &raw.rule);
    ((s, rules), cx.diags)
}

fn validate_rules(cx: &mut Ctx<'_>, raw: &[RawRule]) -> Vec<Rule> {
    let mut rules: Vec<Rule> = Vec::new();
    for r in raw {
        if rules.iter().any(|x| x.name == r.name.get_ref().trim()) {
            cx.err(r.name.span(), format!("duplicate rule name `{}`", r.name.get_ref()));
            continue;
        }
        if let Some(rule) = validate_rule(cx, r) {
            rules.push(rule);
        }
    }
    rules
}

fn parse_brand(
    path: &Path,
    text: &str,
    defaults: &[Rule],
) -> (Option<(BrandDef, std::ops::Range<usize>)>, Vec<Diagnostic>) {
    let raw: RawBrandFile = match parse_toml(path, text) {
        Ok(r) => r,
        Err(d) => return (None, vec![d]),
    };
    let mut cx = Ctx { path, text, diags: Vec::new() };
    let id = raw.brand.id.get_ref().trim().to_string();
    if id.is_empty() || id.contains('/') || id.chars().any(char::is_whitespace) {
        cx.err(raw.brand.id.span(), format!("brand id `{id}` must be non-empty without spaces or `/`"));
    }
    let mut keywords = Vec::new();
    for (lang, list) in &raw.brand.keywords {
        let l = lang.get_ref();
        if !(l == "any" || (l.len() == 2 && l.bytes().all(|b| b.is_ascii_lowercase()))) {
            cx.err(
                lang.span(),
                format!(
                    "keyword language `{l}` must be an ISO 639-1 code such as `en`, `he`, `fa`, `ru`, `ar` (or `any`)"
                ),
            );
        }
        for k in list {
            if crate::ingest::normalize::normalize(k.get_ref().trim_end_matches('*')).trim().is_empty() {
                cx.err(k.span(), "empty keyword");
            } else {
                keywords.push(k.get_ref().clone());
            }
        }
    }
    let own = validate_rules(&mut cx, &raw.rule);
    let mut rules: Vec<Rule> = defaults.to_vec();
    for d in &raw.disable {
        let before = rules.len();
        rules.retain(|r| r.name != *d.get_ref());
        if rules.len() == before {
            let names: Vec<_> = defaults.iter().map(|r| format!("`{}`", r.name)).collect();
            cx.err(
                d.span(),
                format!("cannot disable unknown rule `{}` (default rules: {})", d.get_ref(), names.join(", ")),
            );
        }
    }
    for r in own {
        rules.retain(|x| x.name != r.name);
        rules.push(r);
    }
    let sensitivity = cx.sensitivity(&raw.brand.sensitivity);
    let planned = planned::validate(&raw.planned, |span, msg| cx.err(span, msg));
    let def =
        BrandDef { id, name: raw.brand.name, keywords, exclusions: raw.brand.exclusions, rules, sensitivity, planned };
    (Some((def, raw.brand.id.span())), cx.diags)
}

/// The `*.toml` files of a rules directory, in name order (the order they load in).
fn toml_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    Ok(files)
}

/// A digest of the rules a directory holds (the names and contents of its `*.toml` files,
/// in name order; `None`: the built-in rules), to tell whether two nodes of a cluster run
/// the same files. A file that cannot be read counts with its error, so it differs too.
pub fn digest_dir(dir: Option<&Path>) -> String {
    let Some(dir) = dir else { return "builtin".into() };
    let files = match toml_files(dir) {
        Ok(f) => f,
        Err(e) => return format!("unreadable: {e}"),
    };
    let mut all = Vec::new();
    for f in &files {
        all.extend_from_slice(f.file_name().map(|n| n.as_encoded_bytes()).unwrap_or_default());
        all.push(0);
        match std::fs::read(f) {
            Ok(bytes) => {
                all.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
                all.extend_from_slice(&bytes);
            }
            Err(e) => all.extend_from_slice(e.to_string().as_bytes()),
        }
    }
    format!("{:016x}", crate::hash::fnv1a(&all))
}

/// Loads `DIR/defaults.toml` (built-in defaults when absent) and every other `DIR/*.toml`
/// as a brand file.
///
/// # Errors
/// Every diagnostic found, in file order.
pub fn load_dir(dir: &Path) -> Result<RuleSet, Diagnostics> {
    let files = match toml_files(dir) {
        Ok(f) => f,
        Err(e) => return Err(Diagnostics(vec![Diagnostic::file(dir, format!("cannot read rules directory: {e}"))])),
    };
    let defaults_path = dir.join("defaults.toml");
    let defaults_text = match std::fs::read_to_string(&defaults_path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BUILTIN_DEFAULTS.to_string(),
        Err(e) => return Err(Diagnostics(vec![Diagnostic::file(&defaults_path, format!("cannot read: {e}"))])),
    };
    let brand_files: Vec<(PathBuf, Result<String, Diagnostic>)> = files
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n != "defaults.toml" && !n.to_string_lossy().starts_with('_')))
        .map(|path| {
            let text = std::fs::read_to_string(&path).map_err(|e| Diagnostic::file(&path, format!("cannot read: {e}")));
            (path, text)
        })
        .collect();
    load_sources(
        &defaults_path,
        &defaults_text,
        brand_files.iter().map(|(p, t)| (p.as_path(), t.as_ref().map(String::as_str))),
    )
}

/// [`load_dir`] from texts already in memory: `defaults` as `defaults.toml`, then each brand
/// file in order. For the fuzz targets and tests; the service reads a directory.
///
/// # Errors
/// Every diagnostic found, in file order.
#[doc(hidden)]
pub fn load_texts(defaults: (&Path, &str), brands: &[(&Path, &str)]) -> Result<RuleSet, Diagnostics> {
    load_sources(defaults.0, defaults.1, brands.iter().map(|&(p, t)| (p, Ok(t))))
}

/// The defaults text, then every brand file (or why it could not be read), in order.
fn load_sources<'a>(
    defaults_path: &Path,
    defaults_text: &str,
    brand_files: impl Iterator<Item = (&'a Path, Result<&'a str, &'a Diagnostic>)>,
) -> Result<RuleSet, Diagnostics> {
    let mut diags = Vec::new();
    let ((settings, default_rules), d) = parse_defaults(defaults_path, defaults_text);
    diags.extend(d);
    let mut brands: Vec<BrandDef> = Vec::new();
    let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    for (path, text) in brand_files {
        let text = match text {
            Ok(t) => t,
            Err(d) => {
                diags.push(d.clone());
                continue;
            }
        };
        let (brand, d) = parse_brand(path, text, &default_rules);
        diags.extend(d);
        if let Some((b, span)) = brand {
            if let Some(other) = seen.get(&b.id) {
                diags.push(Diagnostic::at(
                    path,
                    text,
                    Some(span),
                    format!("brand id `{}` is already defined in {}", b.id, other.display()),
                ));
                continue;
            }
            seen.insert(b.id.clone(), path.to_path_buf());
            brands.push(b);
        }
    }
    if diags.is_empty() {
        Ok(RuleSet { settings, default_rules, brands })
    } else {
        Err(Diagnostics(diags))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_tells_rules_directories_apart_by_their_files_only() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        for d in [a.path(), b.path()] {
            std::fs::write(d.join("acme.toml"), "[brand]\nid = \"acme\"\n").unwrap();
            std::fs::write(d.join("notes.txt"), "not rules").unwrap();
        }
        std::fs::write(b.path().join("notes.txt"), "other notes").unwrap();
        assert_eq!(digest_dir(Some(a.path())), digest_dir(Some(b.path())), "same files, other directories");
        std::fs::write(b.path().join("globex.toml"), "[brand]\nid = \"globex\"\n").unwrap();
        assert_ne!(digest_dir(Some(a.path())), digest_dir(Some(b.path())), "a file more");
        std::fs::write(a.path().join("globex.toml"), "[brand]\nid = \"globex\" \n").unwrap();
        assert_ne!(digest_dir(Some(a.path())), digest_dir(Some(b.path())), "a byte different");
        assert_eq!(digest_dir(None), "builtin");
    }

    #[test]
    fn builtin_defaults_are_valid() {
        let (_, diags) = parse_defaults(Path::new("defaults.toml"), BUILTIN_DEFAULTS);
        assert!(diags.is_empty(), "{diags:?}");
        let rs = RuleSet::builtin();
        assert!(rs.default_rules.len() >= 3);
        assert!(rs.alpha() < 1e-4 && rs.alpha() > 1e-7, "{}", rs.alpha());
    }

    #[test]
    fn reports_every_error_with_position() {
        let text = "[brand]\nid = \"acme\"\nname = \"Acme\"\n\n[[rule]]\nname = \"x\"\nmin_ratio = 0.5\n[rule.volume]\n[rule.reach]\n\n[[rule]]\nname = \"y\"\nmin_mentions = 0\n[rule.negative]\n";
        let (_, d) = parse_brand(Path::new("acme.toml"), text, &[]);
        let got: Vec<_> = d.iter().map(|d| (d.line, d.col, d.message.clone())).collect();
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!((got[0].0, got[0].1), (6, 8));
        assert!(got[0].2.contains("exactly one detector table"));
        assert_eq!((got[1].0, got[1].1), (13, 16));
    }

    #[test]
    fn unknown_fields_and_bad_durations() {
        let (_, d) = parse_defaults(Path::new("d.toml"), "[engine]\nhold = \"15x\"\n");
        assert_eq!((d[0].line, d[0].col), (2, 8));
        assert!(d[0].message.contains("unknown duration unit `x`"), "{}", d[0].message);
        let (_, d) = parse_defaults(Path::new("d.toml"), "[engine]\nhodl = \"15m\"\n");
        assert_eq!(d[0].line, 2);
        assert!(d[0].message.contains("unknown field `hodl`"), "{}", d[0].message);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_min("15m"), Ok(15));
        assert_eq!(parse_duration_min("2h"), Ok(120));
        assert_eq!(parse_duration_min("1d"), Ok(1440));
        assert_eq!(parse_duration_min("90min"), Ok(90));
        assert_eq!(parse_duration_min("1w"), Ok(10_080));
        assert_eq!(parse_duration_min("120s"), Ok(2));
        assert!(matches!(parse_duration_min("h"), Err(MinutesError::Unit(_))));
        assert!(matches!(parse_duration_min("90s"), Err(MinutesError::NotWholeMinutes(_))));
    }
}
