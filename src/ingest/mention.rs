//! The mention: one social-media post about a brand (DESIGN §1), parsed from one JSON line
//! with borrowed strings so that the per-mention path allocates nothing for ordinary text
//! (strings with escapes are the exception: they are unescaped into a `Cow::Owned`).

use crate::time::Millis;
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
#[derive(Debug, Deserialize, PartialEq)]
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
