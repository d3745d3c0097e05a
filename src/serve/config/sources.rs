//! `[[source]]` tables: where the service collects mentions itself. Validated here (every
//! problem at its value), the token read later with the other secrets.

use super::token_from::TokenFrom;
use crate::diag::{Diagnostic, Source};
use serde::Deserialize;
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;
use toml::Spanned;

/// One `[[source]]` table as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceRaw {
    /// Unique name: metrics, `/v1/sources`, each mention's `source`.
    pub name: Spanned<String>,
    /// `rss`, `mastodon`, `bluesky`, `telegram` or `hackernews`.
    pub kind: Spanned<String>,
    /// Feed, instance, Jetstream or API base URL (`http://` or `https://`).
    pub url: Option<Spanned<String>>,
    /// How often a polling source polls (default 2m).
    pub interval: Option<Spanned<String>>,
    /// Every item is this brand's: no keyword matching.
    pub brand: Option<Spanned<String>>,
    /// Environment variable holding the source's token.
    pub token_env: Option<Spanned<String>>,
    /// File holding the source's token (first line).
    pub token_file: Option<Spanned<PathBuf>>,
    /// Mastodon: the hashtag stream to follow (without `#`); without it, the public stream.
    pub tag: Option<Spanned<String>>,
    /// Mastodon: only the instance's local public posts.
    pub local: Option<bool>,
    /// Items larger than this are dead-lettered (default 64KiB).
    pub max_item_bytes: Option<Spanned<String>>,
    /// Responses larger than this are cut off and count as an error (default 8MiB).
    pub max_response_bytes: Option<Spanned<String>>,
    /// A source failing for this long raises an ops notice (default 15m).
    pub alert_after: Option<Spanned<String>>,
}

/// The built-in kinds of source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// RSS 2.0 and Atom feeds, polled.
    Rss,
    /// A Mastodon instance's streaming API (server-sent events).
    Mastodon,
    /// Bluesky posts from a Jetstream WebSocket.
    Bluesky,
    /// Channel and group posts through the Telegram Bot API (`getUpdates`).
    Telegram,
    /// Hacker News stories and comments through the Algolia search API, polled per keyword.
    Hackernews,
}

impl SourceKind {
    /// Every kind, by its config name.
    pub const ALL: [(&'static str, SourceKind); 5] = [
        ("rss", SourceKind::Rss),
        ("mastodon", SourceKind::Mastodon),
        ("bluesky", SourceKind::Bluesky),
        ("telegram", SourceKind::Telegram),
        ("hackernews", SourceKind::Hackernews),
    ];

    /// The config name.
    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(_, k)| *k == self).map_or("?", |(n, _)| n)
    }

    /// The URL used when the table gives none (`None`: `url` is required).
    pub fn default_url(self) -> Option<&'static str> {
        match self {
            SourceKind::Rss | SourceKind::Mastodon => None,
            SourceKind::Bluesky => Some("wss://jetstream2.us-east.bsky.network/subscribe"),
            SourceKind::Telegram => Some("https://api.telegram.org"),
            SourceKind::Hackernews => Some("https://hn.algolia.com/api/v1"),
        }
    }

    /// Whether the kind polls (and so uses `interval`).
    pub fn polls(self) -> bool {
        matches!(self, SourceKind::Rss | SourceKind::Hackernews)
    }
}

/// One validated source.
#[derive(Clone)]
pub struct SourceSpec {
    /// Unique name.
    pub name: String,
    /// Kind.
    pub kind: SourceKind,
    /// Base URL.
    pub url: String,
    /// Polling interval.
    pub interval: Duration,
    /// Pinned brand.
    pub brand: Option<String>,
    /// Mastodon hashtag.
    pub tag: Option<String>,
    /// Mastodon: local posts only.
    pub local: bool,
    /// Largest item.
    pub max_item_bytes: usize,
    /// Largest response.
    pub max_response_bytes: usize,
    /// Failing this long raises an ops notice.
    pub alert_after: Duration,
    /// The token, once read (never printed).
    pub token: Option<String>,
}

impl std::fmt::Debug for SourceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceSpec")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("url", &self.url)
            .field("interval", &self.interval)
            .field("brand", &self.brand)
            .field("tag", &self.tag)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

/// Where a source's token is read from, and where the file says so.
#[derive(Debug, Clone)]
pub struct SourceTokenSlot {
    /// Index into the validated sources.
    pub index: usize,
    /// Where it is read from.
    pub from: TokenFrom,
    /// Its place in the file.
    pub span: Range<usize>,
}

/// Validates every `[[source]]` table; `errs` gets every problem.
pub fn validate(
    raw: &[Spanned<SourceRaw>],
    src: &Source<'_>,
    errs: &mut Vec<Diagnostic>,
) -> (Vec<SourceSpec>, Vec<SourceTokenSlot>) {
    let mut out = Vec::new();
    let mut slots = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for table in raw {
        let r = table.get_ref();
        let name = r.name.get_ref().trim().to_string();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            errs.push(src.at(r.name.span(), "[[source]] `name`: use letters, digits, `-`, `_` or `.`"));
        } else if seen.contains(&name) {
            errs.push(src.at(r.name.span(), format!("[[source]] `name`: `{name}` is already used by another source")));
        }
        seen.push(name.clone());
        let kind = match SourceKind::ALL.iter().find(|(n, _)| *n == r.kind.get_ref().as_str()) {
            Some((_, k)) => *k,
            None => {
                let names: Vec<&str> = SourceKind::ALL.iter().map(|(n, _)| *n).collect();
                errs.push(src.at(
                    r.kind.span(),
                    format!("[[source]] `kind`: unknown kind `{}` ({})", r.kind.get_ref(), names.join(", ")),
                ));
                continue;
            }
        };
        let url = match (&r.url, kind.default_url()) {
            (Some(u), _) => {
                let s = u.get_ref().trim().to_string();
                let schemes: &[&str] =
                    if kind == SourceKind::Bluesky { &["ws://", "wss://"] } else { &["http://", "https://"] };
                match reqwest::Url::parse(&s) {
                    Ok(_) if schemes.iter().any(|p| s.starts_with(p)) => s,
                    Ok(_) => {
                        errs.push(
                            src.at(u.span(), format!("[[source]] `url`: must start with {}", schemes.join(" or "))),
                        );
                        continue;
                    }
                    Err(e) => {
                        errs.push(src.at(u.span(), format!("[[source]] `url`: `{s}` is not a URL ({e})")));
                        continue;
                    }
                }
            }
            (None, Some(d)) => d.to_string(),
            (None, None) => {
                errs.push(src.at(table.span(), format!("[[source]] `{name}`: kind `{}` needs a `url`", kind.name())));
                continue;
            }
        };
        let interval =
            parsed(src, errs, &r.interval, "interval", Duration::from_secs(120), crate::units::parse_duration);
        if let Some(i) = &r.interval {
            if !kind.polls() {
                errs.push(
                    src.at(
                        i.span(),
                        format!("[[source]] `interval`: kind `{}` streams, it does not poll", kind.name()),
                    ),
                );
            } else if interval < Duration::from_secs(1) {
                errs.push(src.at(i.span(), "[[source]] `interval`: at least 1s"));
            }
        }
        if let Some(t) = &r.tag {
            if kind != SourceKind::Mastodon {
                errs.push(src.at(t.span(), "[[source]] `tag`: only for kind `mastodon`"));
            } else if t.get_ref().trim_start_matches('#').is_empty() {
                errs.push(src.at(t.span(), "[[source]] `tag`: empty"));
            }
        }
        let size = |v: &Option<Spanned<String>>, key: &str, d: u64, errs: &mut Vec<Diagnostic>| {
            let n = parsed(src, errs, v, key, d, crate::units::parse_size);
            if let (Some(s), 0) = (v, n) {
                errs.push(src.at(s.span(), format!("[[source]] `{key}`: must be more than 0")));
            }
            n as usize
        };
        let max_item_bytes = size(&r.max_item_bytes, "max_item_bytes", 64 << 10, errs);
        let max_response_bytes = size(&r.max_response_bytes, "max_response_bytes", 8 << 20, errs);
        let alert_after =
            parsed(src, errs, &r.alert_after, "alert_after", Duration::from_secs(900), crate::units::parse_duration);
        let from = match (&r.token_env, &r.token_file) {
            (None, None) => None,
            (Some(v), None) => Some((TokenFrom::Env(v.get_ref().clone()), v.span())),
            (None, Some(p)) => Some((TokenFrom::File(p.get_ref().clone()), p.span())),
            (Some(v), Some(_)) => {
                errs.push(src.at(v.span(), "[[source]]: give at most one of `token_env` or `token_file`"));
                None
            }
        };
        if kind == SourceKind::Telegram && from.is_none() {
            errs.push(src.at(
                table.span(),
                format!("[[source]] `{name}`: kind `telegram` needs the bot's token (`token_env` or `token_file`)"),
            ));
        }
        if let Some((from, span)) = from {
            slots.push(SourceTokenSlot { index: out.len(), from, span });
        }
        out.push(SourceSpec {
            name,
            kind,
            url,
            interval,
            brand: r.brand.as_ref().map(|b| b.get_ref().trim().to_string()),
            tag: r.tag.as_ref().map(|t| t.get_ref().trim_start_matches('#').to_string()),
            local: r.local.unwrap_or(false),
            max_item_bytes,
            max_response_bytes,
            alert_after,
            token: None,
        });
    }
    (out, slots)
}

fn parsed<T, E: std::fmt::Display>(
    src: &Source<'_>,
    errs: &mut Vec<Diagnostic>,
    v: &Option<Spanned<String>>,
    key: &str,
    default: T,
    parse: fn(&str) -> Result<T, E>,
) -> T {
    src.parsed(errs, v, &format!("[[source]] `{key}`"), default, parse)
}
