//! What the engine can tell about itself while it runs: per-brand status (windows against
//! expectations, open incidents), the per-minute series behind the chart, and the
//! operations the service drives (advance the clock, resolve an incident).

use super::incident::Incident;
use super::scope::BrandState;
use super::Engine;
use crate::alert::Severity;
use crate::detect::window::WINDOW_MINUTES;
use crate::time::{format_rfc3339, minute_of, Millis, MINUTE_MS};

/// One brand as the service reports it (`GET /v1/brands`; read back by the nodes of a
/// cluster from one another).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
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
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct OpenStatus {
    /// Incident id.
    pub id: String,
    /// Rule (with scope).
    pub rule: String,
    /// Current severity.
    pub severity: Severity,
}

/// One minute of a brand's chart series.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct SeriesPoint {
    /// Start of the minute, RFC 3339.
    #[serde(serialize_with = "ser_minute", deserialize_with = "de_minute")]
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

fn de_minute<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let s = <String as serde::Deserialize>::deserialize(d)?;
    crate::time::parse_timestamp(&s).map(|ms| ms.div_euclid(MINUTE_MS)).map_err(serde::de::Error::custom)
}

impl<'de> serde::Deserialize<'de> for WindowStatus {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        struct Raw {
            window: String,
            observed: u32,
            expected: f64,
        }
        let r = Raw::deserialize(d)?;
        let Some(window) = WINDOW_NAMES.iter().find(|w| **w == r.window) else {
            let known = WINDOW_NAMES.join(", ");
            return Err(serde::de::Error::custom(format!("`{}` is not a window ({known})", r.window)));
        };
        Ok(WindowStatus { window, observed: r.observed, expected: r.expected })
    }
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
            self.enter_minute(minute);
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

    /// Every brand's id: configured ones and those created from `brand` fields.
    pub fn brand_ids(&self) -> impl Iterator<Item = &str> {
        self.brands.iter().map(|b| b.id.as_str())
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
}
