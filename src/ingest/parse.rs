//! One JSON line → one [`Mention`], or a [`Rejection`] saying where and why: the fast path
//! ([`super::fastjson`]) for plain lines, serde_json for everything else, then the checks
//! every mention must pass (timestamp, non-empty id, sentiment range, line length).

use super::mention::{Mention, RawMention, Rejection};
use crate::time::parse_timestamp;

/// Parses one JSON line (without its newline) into a [`Mention`].
///
/// # Errors
/// A [`Rejection`] naming the column and reason; the caller owns line numbers.
pub fn parse_line(line: &[u8], max_len: usize) -> Result<Mention<'_>, Rejection> {
    if line.len() > max_len {
        return Err(Rejection::TooLong { len: line.len(), cap: max_len });
    }
    let raw = match super::fastjson::parse_plain(line) {
        Some(raw) => raw,
        None => parse_slow(line)?,
    };
    check(raw)
}

/// [`parse_line`] without the fast path: every line through serde_json (borrowed), then the
/// same checks. Accepts and rejects exactly what [`parse_line`] does; kept for
/// `benches/mention_parse.rs`, which weighs the fast path against it.
///
/// # Errors
/// As [`parse_line`].
pub fn parse_line_serde(line: &[u8], max_len: usize) -> Result<Mention<'_>, Rejection> {
    if line.len() > max_len {
        return Err(Rejection::TooLong { len: line.len(), cap: max_len });
    }
    check(parse_slow(line)?)
}

/// The checks every parsed mention must pass: a valid timestamp, a non-empty id, a
/// sentiment within [-1, 1]. Public so that other parsers (the sonic-rs variant in
/// `benches/mention_parse.rs`) finish a line exactly as [`parse_line`] does.
///
/// # Errors
/// [`Rejection::Timestamp`] or [`Rejection::Field`].
pub fn check(raw: RawMention<'_>) -> Result<Mention<'_>, Rejection> {
    let at = parse_timestamp(&raw.ts).map_err(|e| Rejection::Timestamp(format!("`{}`: {e}", raw.ts)))?;
    if raw.id.is_empty() {
        return Err(Rejection::Field("field `id`: must not be empty".into()));
    }
    if let Some(s) = raw.sentiment {
        if !(-1.0..=1.0).contains(&s) {
            return Err(Rejection::Field(format!("field `sentiment`: {s} is outside [-1, 1]")));
        }
    }
    Ok(Mention { raw, at })
}

/// serde_json, for lines the fast path leaves alone (escapes, unusual shapes, errors): it
/// accepts them or says precisely what is wrong.
fn parse_slow(line: &[u8]) -> Result<RawMention<'_>, Rejection> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Err(Rejection::Empty);
    }
    serde_json::from_slice(line).map_err(|e| {
        if let Err(u) = std::str::from_utf8(line) {
            return Rejection::Utf8 { column: u.valid_up_to() + 1 };
        }
        let msg = e.to_string();
        // serde_json appends " at line L column C"; the column is reported separately.
        let message = match msg.rfind(" at line ") {
            Some(i) => msg[..i].to_string(),
            None => msg,
        };
        Rejection::Json { column: e.column(), message }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    #[test]
    fn parses_borrowed_fields() {
        let line = br#"{"id":"tw:1","ts":"2026-01-05T10:00:00Z","text":"Acme is down","brand":"acme","author_followers":999,"sentiment":-0.8,"extra":{"x":1}}"#;
        let m = parse_line(line, 1 << 20).unwrap();
        assert!(matches!(m.raw.text, Cow::Borrowed(_)));
        assert!(matches!(m.raw.brand.as_ref().map(|b| &b.0), Some(Cow::Borrowed(_))));
        assert_eq!(m.raw.brand.as_deref(), Some("acme"));
        assert!((m.reach() - 3.0).abs() < 1e-6);
        assert_eq!(m.at, parse_timestamp("2026-01-05T10:00:00Z").unwrap());
    }

    #[test]
    fn rejects_with_reasons() {
        let cases: &[(&[u8], &str)] = &[
            (b"{\"id\":\"1\",\"ts\":\"2026-01-05T10:00:00Z\"}", "missing field `text`"),
            (b"{\"id\":\"1\",\"ts\":\"soon\",\"text\":\"\"}", "field `ts`"),
            (b"{\"id\":\"1\",\"ts\":", "EOF while parsing"),
            (b"{\"id\":\"1\",\"ts\":\"2026-01-05T10:00:00Z\",\"text\":\"\xff\"}", "invalid UTF-8"),
            (b"{\"id\":\"1\",\"ts\":\"2026-01-05T10:00:00Z\",\"text\":\"\",\"sentiment\":3}", "outside [-1, 1]"),
            (b"   ", "empty line"),
        ];
        for (line, want) in cases {
            let err = parse_line(line, 1 << 20).unwrap_err();
            assert!(err.to_string().contains(want), "{err:?} should contain {want:?}");
            assert_eq!(parse_line_serde(line, 1 << 20).unwrap_err(), err);
        }
        assert!(matches!(parse_line(&[b'x'; 100], 10), Err(Rejection::TooLong { len: 100, cap: 10 })));
        assert!(matches!(parse_line_serde(&[b'x'; 100], 10), Err(Rejection::TooLong { len: 100, cap: 10 })));
    }
}

#[cfg(test)]
mod no_panic {
    use super::parse_line;

    /// Arbitrary bytes, and valid lines cut or spliced at random, never panic the parser.
    #[test]
    fn arbitrary_input_never_panics() {
        let base = br#"{"id":"tw:1","ts":"2026-01-05T10:00:00.123+02:00","text":"Acme \u05e9 down \"x\"","brand":"acme","author_followers":999,"sentiment":-0.8,"x":[{"y":null}]}"#;
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let mut line = base.to_vec();
            for _ in 0..(next() % 4) {
                let i = (next() as usize) % line.len();
                match next() % 3 {
                    0 => line[i] = next() as u8,
                    1 => line.truncate(i),
                    _ => line.insert(i, next() as u8),
                }
                if line.is_empty() {
                    break;
                }
            }
            let _ = parse_line(&line, 1 << 20);
        }
        for _ in 0..5_000 {
            let len = (next() % 64) as usize;
            let line: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let _ = parse_line(&line, 1 << 20);
        }
    }
}
