//! `[[planned]]` tables of a brand file: events that will make the brand talked about on
//! purpose (a launch, a TV ad, a campaign), with the volume they are expected to bring.
//!
//! ```toml
//! [[planned]]
//! name = "spring-launch"
//! start = "2026-03-04T10:00:00+02:00"
//! duration = "6h"                        # or end = "2026-03-04T16:00:00+02:00"
//! uplift = 5.0                           # 5× the usual volume
//! ```
//!
//! Volume and reach rules expect the uplift inside the window; the negative-share rules stay
//! as they are (see [`crate::detect::planned`]). The same fields make `POST /v1/planned`.

use crate::detect::planned::MAX_UPLIFT;
use crate::time::{format_rfc3339, parse_timestamp, Millis};
use serde::Deserialize;
use toml::Spanned;

/// Longest planned event.
pub const MAX_DURATION_MS: Millis = 31 * 86_400_000;

/// One `[[planned]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPlanned {
    name: Spanned<String>,
    start: Spanned<String>,
    end: Option<Spanned<String>>,
    duration: Option<Spanned<String>>,
    uplift: Spanned<f64>,
}

/// A validated planned event of one brand.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedEvent {
    /// What it is (shown with the brand; unique per brand file).
    pub name: String,
    /// Start, milliseconds since the epoch.
    pub start_ms: Millis,
    /// End (exclusive).
    pub end_ms: Millis,
    /// Expected volume as a multiple of the usual.
    pub uplift: f64,
}

/// Why a planned event's fields do not make one (shared with the API's validation).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlannedError {
    /// `start` or `end` is not a timestamp.
    #[error("`{field}`: {reason} (RFC 3339, e.g. \"2026-03-04T10:00:00+02:00\")")]
    Timestamp {
        /// Which field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// Both or neither of `end` and `duration`.
    #[error("give `end` or `duration`, exactly one of them")]
    EndOrDuration,
    /// `duration` is not a duration.
    #[error("`duration`: {0}")]
    Duration(String),
    /// Nothing between start and end, or too long.
    #[error("the event must last between 1 minute and 31 days (from {start} to {end})")]
    Length {
        /// Start, RFC 3339.
        start: String,
        /// End, RFC 3339.
        end: String,
    },
    /// An uplift out of range.
    #[error("`uplift` = {0} must be between 1 (no change) and {MAX_UPLIFT} (times the usual volume)")]
    Uplift(f64),
}

/// The end of an event from `start` and exactly one of `end` and `duration`.
///
/// # Errors
/// [`PlannedError`] saying which field is wrong.
pub fn span(start: &str, end: Option<&str>, duration: Option<&str>) -> Result<(Millis, Millis), PlannedError> {
    let ts = |field, s: &str| {
        parse_timestamp(s.trim()).map_err(|e| PlannedError::Timestamp { field, reason: e.to_string() })
    };
    let start_ms = ts("start", start)?;
    let end_ms = match (end, duration) {
        (Some(e), None) => ts("end", e)?,
        (None, Some(d)) => {
            let d = crate::units::parse_duration(d).map_err(|e| PlannedError::Duration(e.to_string()))?;
            start_ms.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        }
        _ => return Err(PlannedError::EndOrDuration),
    };
    if end_ms - start_ms < 60_000 || end_ms - start_ms > MAX_DURATION_MS {
        return Err(PlannedError::Length { start: format_rfc3339(start_ms), end: format_rfc3339(end_ms) });
    }
    Ok((start_ms, end_ms))
}

/// Checks an uplift.
///
/// # Errors
/// [`PlannedError::Uplift`] when it is not in `[1, MAX_UPLIFT]`.
pub fn uplift(x: f64) -> Result<f64, PlannedError> {
    if (1.0..=MAX_UPLIFT).contains(&x) {
        Ok(x)
    } else {
        Err(PlannedError::Uplift(x))
    }
}

/// Validates a brand file's `[[planned]]` tables; every problem is reported to `err` with
/// its span in the file.
pub(super) fn validate(raw: &[RawPlanned], mut err: impl FnMut(std::ops::Range<usize>, String)) -> Vec<PlannedEvent> {
    let mut out: Vec<PlannedEvent> = Vec::new();
    for r in raw {
        let name = r.name.get_ref().trim().to_string();
        if name.is_empty() || name.chars().count() > 200 {
            err(r.name.span(), "`name` must be between 1 and 200 characters".into());
        } else if out.iter().any(|p| p.name == name) {
            err(r.name.span(), format!("duplicate planned event `{name}`"));
        }
        let up = match uplift(*r.uplift.get_ref()) {
            Ok(u) => u,
            Err(e) => {
                err(r.uplift.span(), e.to_string());
                continue;
            }
        };
        let got = span(
            r.start.get_ref(),
            r.end.as_ref().map(|e| e.get_ref().as_str()),
            r.duration.as_ref().map(|d| d.get_ref().as_str()),
        );
        match got {
            Ok((start_ms, end_ms)) => out.push(PlannedEvent { name, start_ms, end_ms, uplift: up }),
            Err(e) => {
                let at = match &e {
                    PlannedError::Timestamp { field: "end", .. } => r.end.as_ref().map_or(r.name.span(), Spanned::span),
                    PlannedError::Timestamp { .. } => r.start.span(),
                    PlannedError::Duration(_) => r.duration.as_ref().map_or(r.name.span(), Spanned::span),
                    _ => r.name.span(),
                };
                err(at, e.to_string());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_takes_end_or_duration() {
        let (s, e) = span("2026-03-04T10:00:00+02:00", None, Some("6h")).unwrap();
        assert_eq!(format_rfc3339(s), "2026-03-04T08:00:00Z");
        assert_eq!(e - s, 6 * 3_600_000);
        assert_eq!(span("2026-03-04T10:00:00Z", Some("2026-03-04T12:00:00Z"), None).unwrap().1 - s, 4 * 3_600_000);
        assert_eq!(span("2026-03-04T10:00:00Z", None, None), Err(PlannedError::EndOrDuration));
        assert_eq!(
            span("2026-03-04T10:00:00Z", Some("2026-03-04T12:00:00Z"), Some("1h")),
            Err(PlannedError::EndOrDuration)
        );
        assert!(matches!(
            span("2026-03-04T10:00:00Z", Some("2026-03-04T09:00:00Z"), None),
            Err(PlannedError::Length { .. })
        ));
        assert!(matches!(span("2026-03-04T10:00:00Z", None, Some("40d")), Err(PlannedError::Length { .. })));
        assert!(matches!(span("tomorrow", None, Some("1h")), Err(PlannedError::Timestamp { field: "start", .. })));
        assert!(matches!(span("2026-03-04T10:00:00Z", None, Some("6 hours")), Err(PlannedError::Duration(_))));
        assert_eq!(uplift(0.5), Err(PlannedError::Uplift(0.5)));
        assert!(uplift(f64::NAN).is_err() && uplift(5.0).is_ok());
    }

    #[test]
    fn brand_files_report_every_bad_planned_event_at_its_position() {
        let text = "[brand]\nid = \"acme\"\nname = \"Acme\"\n\n[[planned]]\nname = \"a\"\nstart = \"soon\"\nduration = \"6h\"\nuplift = 5\n\n[[planned]]\nname = \"b\"\nstart = \"2026-03-04T10:00:00Z\"\nend = \"2026-03-04T12:00:00Z\"\nuplift = 0.5\n\n[[planned]]\nname = \"c\"\nstart = \"2026-03-04T10:00:00Z\"\nuplift = 2\n";
        let err = crate::rules::load_texts(
            (std::path::Path::new("defaults.toml"), crate::rules::BUILTIN_DEFAULTS),
            &[(std::path::Path::new("acme.toml"), text)],
        )
        .unwrap_err();
        let got: Vec<_> = err.0.iter().map(|d| (d.line, d.col, d.message.clone())).collect();
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!((got[0].0, got[0].1), (7, 9), "{got:?}");
        assert!(got[0].2.contains("`start`"), "{got:?}");
        assert_eq!((got[1].0, got[1].1), (15, 10), "{got:?}");
        assert!(got[1].2.contains("`uplift` = 0.5"), "{got:?}");
        assert_eq!(got[2].0, 18, "{got:?}");
        assert!(got[2].2.contains("`end` or `duration`"), "{got:?}");
    }
}
