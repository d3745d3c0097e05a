//! Alert assembly: an incident's state change becomes an [`AlertEvent`] with its evidence
//! (window, observed vs expected, top posts and terms, authors, curve, source mix), its
//! language and category, and the playbook's first-reply drafts.

use super::incident::Incident;
use super::Engine;
use crate::alert::playbook::Facts;
use crate::alert::{AlertEvent, Severity, Status};
use crate::detect::DetectorKind;
use crate::detect::Signal;
use crate::time::{format_rfc3339, MINUTE_MS};
use std::cmp::Reverse;

impl Engine {
    /// Appends an alert event. `closed_category`: for `resolved`, the category the incident had.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn emit(
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
            tightened: Some(brand.guard.kappa()).filter(|&k| k < 0.99).map(|k| (k * 1000.0).round() / 1000.0),
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

    /// Emits the `resolved` event of a closed incident and releases its scope.
    pub(super) fn report_resolved(&mut self, b: u32, ri: usize, closed: &crate::engine::incident::OpenIncident) {
        let (now_min, cooldown) = (self.now_min, self.settings.cooldown_min);
        {
            {
                // report the window of the strongest evidence as it is now
                let brand = &self.brands[b as usize];
                let scope = &brand.scopes[brand.rules[ri].scope];
                let w = closed.strongest.window.min(3);
                let s = scope.windows.sums[w];
                let kind = &brand.rules[ri].rule.detector.kind;
                let now_sig = crate::detect::p_value(kind, &s, &scope.ex, w).unwrap_or(Signal {
                    window: w,
                    observed: f64::from(s.count),
                    expected: scope.ex.mentions[w],
                    p_value: 1.0,
                });
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
}
