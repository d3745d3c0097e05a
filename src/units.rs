//! The one syntax for durations and sizes in every configuration file and query string:
//! durations `500ms`, `30s`, `5m` (or `5min`), `2h`, `1d`, `1w`; sizes `1048576`, `512KiB`,
//! `32MiB`, `1GiB` (powers of 1024) or `KB`/`MB`/`GB` (powers of 1000).
//!
//! Pure: no I/O; imports nothing of the crate.

use std::time::Duration;

/// Why a duration or size did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    /// No number in front of the unit.
    #[error("`{0}` is not a duration (e.g. `30s`, `5m`, `1h`)")]
    NotADuration(String),
    /// A unit this syntax does not know.
    #[error("unknown duration unit `{unit}` in `{text}` (use ms, s, m, h, d or w)")]
    DurationUnit {
        /// The unit as written.
        unit: String,
        /// The whole value.
        text: String,
    },
    /// No number in front of the unit.
    #[error("`{0}` is not a size (e.g. `32MiB`)")]
    NotASize(String),
    /// A unit this syntax does not know.
    #[error("unknown size unit `{unit}` in `{text}` (use B, KiB, MiB or GiB)")]
    SizeUnit {
        /// The unit as written.
        unit: String,
        /// The whole value.
        text: String,
    },
}

fn split(s: &str) -> (&str, &str) {
    let at = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(at);
    (num, unit.trim())
}

/// Parses a duration: a whole number and one of `ms`, `s`, `m`/`min`, `h`, `d`, `w`.
///
/// # Errors
/// [`UnitError`] when the number or the unit is missing or unknown.
pub fn parse_duration(s: &str) -> Result<Duration, UnitError> {
    let s = s.trim();
    let (num, unit) = split(s);
    let n: u64 = num.parse().map_err(|_| UnitError::NotADuration(s.to_string()))?;
    let ms: u64 = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 604_800_000,
        other => return Err(UnitError::DurationUnit { unit: other.to_string(), text: s.to_string() }),
    };
    Ok(Duration::from_millis(n.saturating_mul(ms)))
}

/// Parses a size in bytes: a whole number, optionally followed by `B`, `KiB`, `MiB`, `GiB`,
/// `KB`, `MB` or `GB`.
///
/// # Errors
/// [`UnitError`] when the number or the unit is missing or unknown.
pub fn parse_size(s: &str) -> Result<u64, UnitError> {
    let s = s.trim();
    let (num, unit) = split(s);
    let n: u64 = num.parse().map_err(|_| UnitError::NotASize(s.to_string()))?;
    let mult: u64 = match unit {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        other => return Err(UnitError::SizeUnit { unit: other.to_string(), text: s.to_string() }),
    };
    Ok(n.saturating_mul(mult))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("15min").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_duration(" 2h ").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("1d").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse_duration("1w").unwrap(), Duration::from_secs(604_800));
        assert!(matches!(parse_duration("5 weeks"), Err(UnitError::DurationUnit { .. })));
        assert!(parse_duration("5 weeks").unwrap_err().to_string().contains("unknown duration unit `weeks`"));
        assert!(matches!(parse_duration("m"), Err(UnitError::NotADuration(_))));
        assert!(matches!(parse_duration("-5m"), Err(UnitError::NotADuration(_))));
        assert!(matches!(parse_duration("1.5h"), Err(UnitError::DurationUnit { .. })));
        assert_eq!(parse_duration("99999999999999999d").unwrap(), Duration::from_millis(u64::MAX));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1000").unwrap(), 1000);
        assert_eq!(parse_size("1000B").unwrap(), 1000);
        assert_eq!(parse_size("512KiB").unwrap(), 512 << 10);
        assert_eq!(parse_size("32MiB").unwrap(), 32 << 20);
        assert_eq!(parse_size("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_size("2MB").unwrap(), 2_000_000);
        assert!(matches!(parse_size("12 parsecs"), Err(UnitError::SizeUnit { .. })));
        assert!(matches!(parse_size("MiB"), Err(UnitError::NotASize(_))));
    }
}
