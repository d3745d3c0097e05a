//! Silence (flatline) scheduling: each flatline rule is tested when it is next due, from a
//! queue ordered by minute, so that quiet brands cost nothing between tests.

use super::incident::Incident;
use super::Engine;
use crate::detect::DetectorKind;
use crate::detect::{self, Signal};
use std::cmp::Reverse;

impl Engine {
    /// Tests the silence rules that are due. Each watched rule has exactly one entry in the
    /// queue, due when its silence could first be significant, so a scan costs nothing for the
    /// brands that are talking or are too quiet to matter (100,000 brands stay cheap).
    pub(super) fn scan_silence(&mut self) {
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
