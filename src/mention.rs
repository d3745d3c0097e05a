//! The mention: one social-media post about a brand (DESIGN §1), parsed from one JSON line
//! with borrowed strings so that the per-mention path allocates nothing for ordinary text
//! (strings with escapes are the exception: they are unescaped into a `Cow::Owned`).

use crate::time::{parse_timestamp, Millis};
use serde::Deserialize;
use std::borrow::Cow;
use std::ops::Deref;

/// A string field borrowed from the input line when it has no escapes. (A bare
/// `Option<Cow<str>>` field would always allocate: serde borrows only a `Cow` it sees
/// directly, so the optional fields wrap it in this newtype.)
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Str<'a>(#[serde(borrow)] pub Cow<'a, str>);

impl Deref for Str<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// A mention as read from the input. Unknown fields are accepted and ignored.
#[derive(Debug, Deserialize)]
pub struct RawMention<'a> {
    /// Unique id from the source; re-shares point at it with `shared_of`.
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    /// Publication time (event time), RFC 3339.
    #[serde(borrow)]
    pub ts: Cow<'a, str>,
    /// Post text; may be empty for media posts.
    #[serde(borrow)]
    pub text: Cow<'a, str>,
    /// Brand id when the upstream listener already attributed it.
    #[serde(borrow, default)]
    pub brand: Option<Str<'a>>,
    /// ISO 639-1 language code when known.
    #[serde(borrow, default)]
    pub lang: Option<Str<'a>>,
    /// Network the post came from (`twitter`, `news`, …).
    #[serde(borrow, default)]
    pub source: Option<Str<'a>>,
    /// Author handle or name.
    #[serde(borrow, default)]
    pub author: Option<Str<'a>>,
    /// Audience of the author, for reach weighting.
    #[serde(default)]
    pub author_followers: Option<u64>,
    /// Link to the post.
    #[serde(borrow, default)]
    pub url: Option<Str<'a>>,
    /// Provider tone in [-1, 1].
    #[serde(default)]
    pub sentiment: Option<f64>,
    /// Engagement counter (not used by the detectors yet, carried for explanations).
    #[serde(default)]
    pub shares: Option<u64>,
    /// Id of the post this one replies to.
    #[serde(borrow, default)]
    pub reply_to: Option<Str<'a>>,
    /// Id of the post this one re-shares: re-shares are collapsed to their root.
    #[serde(borrow, default)]
    pub shared_of: Option<Str<'a>>,
}

/// A validated mention: the raw fields plus the parsed event time.
#[derive(Debug)]
pub struct Mention<'a> {
    /// The fields as given.
    pub raw: RawMention<'a>,
    /// Event time in milliseconds since the epoch.
    pub at: Millis,
}

impl Mention<'_> {
    /// Reach weight of the author: `log10(1 + followers)`, 0 when unknown. A top blogger with a
    /// million followers weighs 6, a schoolboy with three followers 0.6.
    pub fn reach(&self) -> f32 {
        self.raw.author_followers.map_or(0.0, |f| (1.0 + f as f32).log10())
    }
}

/// Why a line was rejected; rendered as `line N: reason`.
#[derive(Debug, Clone, PartialEq)]
pub enum Rejection {
    /// Longer than the configured cap; the line was not parsed.
    TooLong {
        /// Length of the line in bytes.
        len: usize,
        /// The configured cap.
        cap: usize,
    },
    /// Not valid UTF-8 at the given byte offset.
    Utf8 {
        /// 1-based column (byte) of the first invalid byte.
        column: usize,
    },
    /// JSON syntax or type error, or a missing required field.
    Json {
        /// 1-based column reported by the JSON parser.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// `ts` is present but unparsable.
    Timestamp(String),
    /// A field has a value outside its domain.
    Field(String),
    /// Empty line (only whitespace).
    Empty,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejection::TooLong { len, cap } => {
                write!(f, "line is {len} bytes, over the cap of {cap} bytes")
            }
            Rejection::Utf8 { column } => write!(f, "column {column}: invalid UTF-8"),
            Rejection::Json { column, message } => write!(f, "column {column}: {message}"),
            Rejection::Timestamp(m) => write!(f, "field `ts`: {m}"),
            Rejection::Field(m) => f.write_str(m),
            Rejection::Empty => f.write_str("empty line"),
        }
    }
}

/// Parses one JSON line (without its newline) into a [`Mention`].
///
/// # Errors
/// A [`Rejection`] naming the column and reason; the caller owns line numbers.
pub fn parse_line(line: &[u8], max_len: usize) -> Result<Mention<'_>, Rejection> {
    if line.len() > max_len {
        return Err(Rejection::TooLong { len: line.len(), cap: max_len });
    }
    let raw = match crate::fastjson::parse_plain(line) {
        Some(raw) => raw,
        None => parse_slow(line)?,
    };
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
            let err = parse_line(line, 1 << 20).unwrap_err().to_string();
            assert!(err.contains(want), "{err:?} should contain {want:?}");
        }
        assert!(matches!(parse_line(&[b'x'; 100], 10), Err(Rejection::TooLong { len: 100, cap: 10 })));
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
