//! Event time: parsing RFC 3339 / NAB timestamps into milliseconds since the Unix epoch,
//! formatting them back, and the calendar arithmetic the baselines need (minute index,
//! hour of week). Hand-written because it is on the per-mention path and needs no time zone
//! database: every timestamp is converted to UTC at parse time.

/// Milliseconds since 1970-01-01T00:00:00Z.
pub type Millis = i64;

/// One minute in milliseconds.
pub const MINUTE_MS: Millis = 60_000;
/// One hour in milliseconds.
pub const HOUR_MS: Millis = 3_600_000;

/// Why a timestamp did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeError {
    /// Not of the shape `YYYY-MM-DD[T ]HH:MM:SS[.frac][Z|±HH:MM]`.
    Shape,
    /// A field is out of range (month 13, 25 o'clock, 31 February, …).
    Range,
    /// A year before 1970 or after 9999.
    Year,
}

impl std::fmt::Display for TimeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TimeError::Shape => "not an RFC 3339 timestamp (expected e.g. `2026-03-01T12:00:00Z`)",
            TimeError::Range => "timestamp field out of range",
            TimeError::Year => "timestamp year outside 1970..=9999",
        })
    }
}

fn digits(b: &[u8], at: usize, n: usize) -> Result<u32, TimeError> {
    let mut v = 0u32;
    for i in 0..n {
        let c = *b.get(at + i).ok_or(TimeError::Shape)?;
        if !c.is_ascii_digit() {
            return Err(TimeError::Shape);
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Ok(v)
}

/// Days since the epoch of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff][Z|±HH:MM]` (RFC 3339; `t`, `z` and a space separator
/// accepted). A timestamp without an offset is taken as UTC, as NAB and listening-tool
/// exports write them.
///
/// # Errors
/// [`TimeError`] saying what is wrong.
pub fn parse_timestamp(s: &str) -> Result<Millis, TimeError> {
    let b = s.as_bytes();
    if b.len() < 19 {
        return Err(TimeError::Shape);
    }
    let year = digits(b, 0, 4)?;
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
        return Err(TimeError::Shape);
    }
    let (mo, d, h, mi, sec) =
        (digits(b, 5, 2)?, digits(b, 8, 2)?, digits(b, 11, 2)?, digits(b, 14, 2)?, digits(b, 17, 2)?);
    if year < 1970 {
        return Err(TimeError::Year);
    }
    let year = i64::from(year);
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(year, mo) || h > 23 || mi > 59 || sec > 60 {
        return Err(TimeError::Range);
    }
    let mut i = 19;
    let mut ms = 0u32;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 3 {
                ms = ms * 10 + u32::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return Err(TimeError::Shape);
        }
        for _ in (i - start).min(3)..3 {
            ms *= 10;
        }
    }
    let offset_min: i64 = match b.get(i) {
        None => 0,
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
            let (oh, om) = (digits(b, i + 1, 2)?, digits(b, i + 4, 2)?);
            if oh > 23 || om > 59 {
                return Err(TimeError::Range);
            }
            let off = i64::from(oh * 60 + om);
            if sign == b'+' {
                off
            } else {
                -off
            }
        }
        _ => return Err(TimeError::Shape),
    };
    let days = days_from_civil(year, mo, d);
    let secs = days * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(sec.min(59)) - offset_min * 60;
    Ok(secs * 1000 + i64::from(ms))
}

/// Formats as RFC 3339 UTC with second precision (`2026-03-01T12:00:00Z`), or with
/// milliseconds when they are not zero.
pub fn format_rfc3339(t: Millis) -> String {
    let secs = t.div_euclid(1000);
    let ms = t.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    if ms == 0 {
        format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", sod / 3600, sod % 3600 / 60, sod % 60)
    } else {
        format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z", sod / 3600, sod % 3600 / 60, sod % 60)
    }
}

/// Formats as NAB writes timestamps: `YYYY-MM-DD HH:MM:SS`.
pub fn format_nab(t: Millis) -> String {
    let s = format_rfc3339(t - t.rem_euclid(1000));
    format!("{} {}", &s[..10], &s[11..19])
}

/// Index of the minute since the epoch.
pub fn minute_of(t: Millis) -> i64 {
    t.div_euclid(MINUTE_MS)
}

/// Hour of the week, 0 = Monday 00:00–00:59 UTC … 167 = Sunday 23:00–23:59 UTC.
pub fn hour_of_week(t: Millis) -> usize {
    let hours = t.div_euclid(HOUR_MS);
    // 1970-01-01 was a Thursday: hour 0 of the epoch is hour 72 of its week.
    ((hours + 72).rem_euclid(168)) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc3339_and_nab_forms() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_timestamp("2015-02-26 21:42:53"), Ok(1_424_986_973_000));
        assert_eq!(parse_timestamp("2015-02-26T23:42:53+02:00"), Ok(1_424_986_973_000));
        assert_eq!(parse_timestamp("2015-02-26T21:42:53.5Z"), Ok(1_424_986_973_500));
        assert_eq!(parse_timestamp("2015-02-26T21:42:53.123456Z"), Ok(1_424_986_973_123));
        assert_eq!(parse_timestamp("2024-02-29T00:00:00Z").map(format_rfc3339), Ok("2024-02-29T00:00:00Z".into()));
    }

    #[test]
    fn rejects_bad_timestamps() {
        assert_eq!(parse_timestamp("yesterday"), Err(TimeError::Shape));
        assert_eq!(parse_timestamp("2023-02-29T00:00:00Z"), Err(TimeError::Range));
        assert_eq!(parse_timestamp("2023-13-01T00:00:00Z"), Err(TimeError::Range));
        assert_eq!(parse_timestamp("2023-01-01T00:00:00+0200"), Err(TimeError::Shape));
        assert_eq!(parse_timestamp("2023-01-01T00:00:00Zjunk"), Err(TimeError::Shape));
        assert_eq!(parse_timestamp("1969-12-31T23:59:59Z"), Err(TimeError::Year));
    }

    #[test]
    fn round_trips_and_calendar() {
        for t in [0, 1_424_986_973_000, 1_790_000_000_123] {
            assert_eq!(parse_timestamp(&format_rfc3339(t)), Ok(t));
        }
        // 2026-11-23 is a Monday.
        let monday = parse_timestamp("2026-11-23T00:30:00Z").unwrap();
        assert_eq!(hour_of_week(monday), 0);
        assert_eq!(hour_of_week(monday - HOUR_MS), 167);
        assert_eq!(format_nab(1_424_986_973_000), "2015-02-26 21:42:53");
    }
}
