//! `crisiswatch.toml` as written (plus command-line overrides) → [`ServeConfig`]: a pure
//! function of the text, reporting every problem at once at the value it is about. Secrets
//! (API tokens, and the notify section's) are recorded as slots for
//! [`super::secrets::resolve`], not read here.

use super::model::{Overrides, ServeConfig};
use super::raw::FileConfig;
use crate::diag::{Diagnostic, Source};
use crate::notify::config::secrets::SecretSlot;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;
use toml::Spanned;

/// Where an API token is read from.
#[derive(Debug, Clone)]
pub enum TokenFrom {
    /// An environment variable.
    Env(String),
    /// A file (its first line).
    File(PathBuf),
}

/// One API token named in the file.
#[derive(Debug, Clone)]
pub struct TokenSlot {
    /// The token's name.
    pub name: String,
    /// Where it is read from.
    pub from: TokenFrom,
    /// Where the file names that source.
    pub span: Range<usize>,
}

/// The validated configuration and the secrets still to be read.
#[derive(Debug)]
pub struct Validated {
    /// Settings; `tokens` and the notify secrets are empty until resolved.
    pub cfg: ServeConfig,
    /// API tokens named in the file.
    pub tokens: Vec<TokenSlot>,
    /// Secrets named in `[notify]`.
    pub notify_secrets: Vec<SecretSlot>,
}

struct Check<'a> {
    src: &'a Source<'a>,
    errs: Vec<Diagnostic>,
}

impl Check<'_> {
    fn size(&mut self, key: &str, v: &Option<Spanned<String>>, default: u64) -> u64 {
        self.src.parsed(&mut self.errs, v, &format!("`{key}`"), default, crate::units::parse_size)
    }

    fn duration(&mut self, key: &str, v: &Option<Spanned<String>>, default: Duration) -> Duration {
        self.src.parsed(&mut self.errs, v, &format!("`{key}`"), default, crate::units::parse_duration)
    }
}

/// Validates the file's settings with the command-line overrides on top.
///
/// # Errors
/// Every problem found, each positioned at its value (a bad `--listen` at the file's start).
pub fn validate(fc: &FileConfig, src: &Source<'_>, o: &Overrides) -> Result<Validated, Vec<Diagnostic>> {
    let mut c = Check { src, errs: Vec::new() };
    let (listen_s, listen_span) = match (&o.listen, &fc.listen) {
        (Some(l), _) => (l.clone(), None),
        (None, Some(l)) => (l.get_ref().clone(), Some(l.span())),
        (None, None) => ("127.0.0.1:8686".to_string(), None),
    };
    let listen = match listen_s.parse::<SocketAddr>() {
        Ok(a) => a,
        Err(_) => {
            let msg = format!("`listen`: `{listen_s}` is not an address like 127.0.0.1:8686");
            c.errs.push(match listen_span {
                Some(s) => src.at(s, msg),
                None => Diagnostic::file(src.path, format!("{msg} (from --listen)")),
            });
            "127.0.0.1:8686".parse().expect("valid literal")
        }
    };
    let max_body = c.size("max_body", &fc.limits.max_body, 32 << 20) as usize;
    let max_decoded_body = c.size("max_decoded_body", &fc.limits.max_decoded_body, 256 << 20) as usize;
    let max_line = c.size("max_line", &fc.limits.max_line, 1 << 20) as usize;
    let segment_size = c.size("segment_size", &fc.storage.segment_size, 256 << 20);
    let dedup_window = c.duration("dedup_window", &fc.limits.dedup_window, Duration::from_secs(86_400));
    let snapshot_interval = c.duration("snapshot_interval", &fc.storage.snapshot_interval, Duration::from_secs(300));
    let engine_batch_delay = c.duration("engine_batch_delay", &fc.testing.engine_batch_delay, Duration::ZERO);

    let mut tokens = Vec::new();
    for t in &fc.tokens {
        let t = t.get_ref();
        let name = t.name.get_ref().clone();
        match (&t.env, &t.file) {
            (Some(var), None) => {
                tokens.push(TokenSlot { name, from: TokenFrom::Env(var.get_ref().clone()), span: var.span() })
            }
            (None, Some(p)) => {
                tokens.push(TokenSlot { name, from: TokenFrom::File(p.get_ref().clone()), span: p.span() })
            }
            _ => c.errs.push(src.at(
                t.name.span(),
                format!("token `{name}`: give exactly one of `env` or `file` (tokens are never written inline)"),
            )),
        }
    }
    let notify = crate::notify::config::validate::validate(&fc.notify, src, &listen.to_string());
    let (notify, notify_secrets) = match notify {
        Ok(v) => (v.notify, v.secrets),
        Err(list) => {
            c.errs.extend(list);
            (Default::default(), Vec::new())
        }
    };
    let rules = o.rules.clone().or(fc.rules.clone()).or_else(|| Some(PathBuf::from("rules")).filter(|p| p.is_dir()));
    let max_queued_mentions = fc.limits.max_queued_mentions.unwrap_or(500_000).max(1);
    let rate_per_token = fc.limits.rate_per_token.unwrap_or(0);
    if !c.errs.is_empty() {
        return Err(c.errs);
    }
    let cfg = ServeConfig {
        listen,
        data_dir: o.data_dir.clone().or(fc.data_dir.clone()).unwrap_or_else(|| PathBuf::from("data")),
        rules,
        clock: o.clock.or(fc.clock).unwrap_or_default(),
        log_format: o.log_format.or(fc.log_format).unwrap_or_default(),
        tokens: Vec::new(),
        max_body,
        max_decoded_body,
        max_line,
        max_queued_mentions,
        rate_per_token,
        burst_per_token: fc.limits.burst_per_token.unwrap_or(rate_per_token.max(10_000)),
        dedup_ids: fc.limits.dedup_ids.unwrap_or(1_000_000),
        dedup_window,
        snapshot_interval,
        segment_size,
        fsync: fc.storage.fsync.unwrap_or(true),
        engine_batch_delay,
        max_clock_jump_ms: 86_400_000,
        notify,
    };
    Ok(Validated { cfg, tokens, notify_secrets })
}
