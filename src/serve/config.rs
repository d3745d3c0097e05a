//! The service configuration (`crisiswatch.toml`): typed, `deny_unknown_fields`, every error
//! positioned (file:line:col), command-line flags layered on top, and API tokens resolved
//! from environment variables or files (never written inline in the file).

use crate::diag::{Diagnostic, Diagnostics};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How the engine's clock moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ClockMode {
    /// Mention time, and the wall clock ticks too: incidents resolve and silences are noticed
    /// while the stream is quiet.
    #[default]
    Wall,
    /// Only the mentions' `ts` moves time (backfills, tests).
    Event,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `crisiswatch.toml` as written.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Listen address, default `127.0.0.1:8686`.
    pub listen: Option<String>,
    /// Data directory (SQLite store, ingest log), default `./data`.
    pub data_dir: Option<PathBuf>,
    /// Rules directory, default `./rules` when it exists, else the built-in defaults.
    pub rules: Option<PathBuf>,
    /// `wall` (default) or `event`.
    pub clock: Option<ClockMode>,
    /// `text` (default) or `json`.
    pub log_format: Option<LogFormat>,
    /// API tokens, each named and read from an env var or a file.
    #[serde(default)]
    pub tokens: Vec<TokenSource>,
    /// Limits.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Durability.
    #[serde(default)]
    pub storage: StorageConfig,
    /// Knobs for tests of the service itself.
    #[serde(default)]
    pub testing: TestingConfig,
    /// Notifications: receivers, teams, routes and escalation.
    #[serde(default)]
    pub notify: crate::notify::config::NotifyConfig,
}

/// Where one API token comes from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSource {
    /// Name recorded with what the token's client sends (dead letters, acks, logs).
    pub name: String,
    /// Environment variable holding the token.
    pub env: Option<String>,
    /// File holding the token (first line; surrounding whitespace ignored).
    pub file: Option<PathBuf>,
}

/// Request and queue limits.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest request body as sent (compressed or not), e.g. `"32MiB"`.
    pub max_body: Option<String>,
    /// Largest body after gzip decoding.
    pub max_decoded_body: Option<String>,
    /// Largest single mention line.
    pub max_line: Option<String>,
    /// Mentions accepted but not yet processed by the engine; beyond it, `503`.
    pub max_queued_mentions: Option<u32>,
    /// Sustained mentions per second per token (0 = unlimited).
    pub rate_per_token: Option<u32>,
    /// Burst allowance per token, in mentions (default: one second's worth, at least 10,000).
    pub burst_per_token: Option<u32>,
    /// How many recent mention ids are remembered for de-duplication.
    pub dedup_ids: Option<u32>,
    /// How long a mention id is remembered, e.g. `"24h"`.
    pub dedup_window: Option<String>,
}

/// Durability settings.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// Interval between engine snapshots, e.g. `"5m"`.
    pub snapshot_interval: Option<String>,
    /// Ingest log segment size before a new segment starts.
    pub segment_size: Option<String>,
    /// `true` (default): the ingest log is fsynced before `202`. `false` trades the
    /// guarantee against power loss (not against a process crash) for speed.
    pub fsync: Option<bool>,
}

/// Test knobs (documented, not for production).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TestingConfig {
    /// Sleep this long after each engine batch, to exercise backpressure.
    pub engine_batch_delay: Option<String>,
}

/// Command-line overrides.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<String>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--rules`.
    pub rules: Option<PathBuf>,
    /// `--clock`.
    pub clock: Option<ClockMode>,
    /// `--log-format`.
    pub log_format: Option<LogFormat>,
}

/// One API token, resolved.
#[derive(Clone)]
pub struct ApiToken {
    /// Its name.
    pub name: String,
    /// The secret.
    pub secret: Vec<u8>,
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiToken({}, <redacted>)", self.name) // never print the secret
    }
}

/// The resolved configuration the service runs with.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Listen address.
    pub listen: SocketAddr,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Rules directory (`None`: built-in defaults).
    pub rules: Option<PathBuf>,
    /// Clock mode.
    pub clock: ClockMode,
    /// Log format.
    pub log_format: LogFormat,
    /// API tokens (empty: no authentication, loopback only).
    pub tokens: Vec<ApiToken>,
    /// Largest request body as sent.
    pub max_body: usize,
    /// Largest decoded body.
    pub max_decoded_body: usize,
    /// Largest mention line.
    pub max_line: usize,
    /// Queue bound in mentions.
    pub max_queued_mentions: u32,
    /// Mentions per second per token, 0 = unlimited.
    pub rate_per_token: u32,
    /// Burst per token.
    pub burst_per_token: u32,
    /// Ids remembered for de-duplication.
    pub dedup_ids: u32,
    /// How long an id is remembered.
    pub dedup_window: Duration,
    /// Snapshot interval.
    pub snapshot_interval: Duration,
    /// Ingest log segment size.
    pub segment_size: u64,
    /// fsync before `202`.
    pub fsync: bool,
    /// Test knob: delay after each engine batch.
    pub engine_batch_delay: Duration,
    /// Mentions more than this far ahead of the clock are refused (from the rules'
    /// `max_clock_jump`).
    pub max_clock_jump_ms: i64,
    /// Notifications (no receivers: none are sent).
    pub notify: crate::notify::config::Notify,
}

/// Reads the config file (if any), applies the overrides and resolves tokens.
///
/// # Errors
/// Every problem found, positioned in the file where it has a position.
pub fn load(path: Option<&Path>, o: &Overrides) -> Result<ServeConfig, Diagnostics> {
    let (file, text, fc) = match path {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| Diagnostics(vec![Diagnostic::file(p, format!("cannot read config: {e}"))]))?;
            let fc: FileConfig = toml::from_str(&text)
                .map_err(|e| Diagnostics(vec![Diagnostic::at(p, &text, e.span(), e.message().to_string())]))?;
            (p.to_path_buf(), text, fc)
        }
        None => (PathBuf::from("<defaults>"), String::new(), FileConfig::default()),
    };
    let mut errs = Vec::new();
    // errors in values point at the key's line: find it by name (values were validated by type)
    let at = |key: &str, msg: String| {
        let span = text.find(&format!("{key} ")).or_else(|| text.find(&format!("{key}="))).map(|i| i..i + key.len());
        Diagnostic::at(&file, &text, span, msg)
    };
    let listen_s = o.listen.clone().or(fc.listen.clone()).unwrap_or_else(|| "127.0.0.1:8686".into());
    let listen = match listen_s.parse::<SocketAddr>() {
        Ok(a) => a,
        Err(_) => {
            errs.push(at("listen", format!("`listen`: `{listen_s}` is not an address like 127.0.0.1:8686")));
            "127.0.0.1:8686".parse().expect("valid literal")
        }
    };
    let mut size = |key: &str, v: &Option<String>, default: u64| match v {
        None => default,
        Some(s) => crate::units::parse_size(s).unwrap_or_else(|e| {
            errs.push(at(key, format!("`{key}`: {e}")));
            default
        }),
    };
    let max_body = size("max_body", &fc.limits.max_body, 32 << 20) as usize;
    let max_decoded_body = size("max_decoded_body", &fc.limits.max_decoded_body, 256 << 20) as usize;
    let max_line = size("max_line", &fc.limits.max_line, 1 << 20) as usize;
    let segment_size = size("segment_size", &fc.storage.segment_size, 256 << 20);
    let mut dur = |key: &str, v: &Option<String>, default: Duration| match v {
        None => default,
        Some(s) => crate::units::parse_duration(s).unwrap_or_else(|e| {
            errs.push(at(key, format!("`{key}`: {e}")));
            default
        }),
    };
    let dedup_window = dur("dedup_window", &fc.limits.dedup_window, Duration::from_secs(86_400));
    let snapshot_interval = dur("snapshot_interval", &fc.storage.snapshot_interval, Duration::from_secs(300));
    let engine_batch_delay = dur("engine_batch_delay", &fc.testing.engine_batch_delay, Duration::ZERO);

    let mut tokens = Vec::new();
    for t in &fc.tokens {
        match (&t.env, &t.file) {
            (Some(var), None) => match std::env::var(var) {
                Ok(v) if !v.trim().is_empty() => {
                    tokens.push(ApiToken { name: t.name.clone(), secret: v.trim().as_bytes().to_vec() })
                }
                _ => errs
                    .push(at("env", format!("token `{}`: environment variable `{var}` is not set or empty", t.name))),
            },
            (None, Some(p)) => match std::fs::read_to_string(p) {
                Ok(v) if !v.trim().is_empty() => tokens.push(ApiToken {
                    name: t.name.clone(),
                    secret: v.lines().next().unwrap_or("").trim().as_bytes().to_vec(),
                }),
                Ok(_) => errs.push(at("file", format!("token `{}`: file `{}` is empty", t.name, p.display()))),
                Err(e) => errs.push(at("file", format!("token `{}`: cannot read `{}`: {e}", t.name, p.display()))),
            },
            _ => errs.push(at(
                "name",
                format!("token `{}`: give exactly one of `env` or `file` (tokens are never written inline)", t.name),
            )),
        }
    }
    if let Ok(list) = std::env::var("CRISISWATCH_API_TOKENS") {
        for (i, t) in list.split(',').map(str::trim).filter(|t| !t.is_empty()).enumerate() {
            tokens.push(ApiToken { name: format!("env-{}", i + 1), secret: t.as_bytes().to_vec() });
        }
    }
    if tokens.is_empty() && !listen.ip().is_loopback() {
        errs.push(at(
            "listen",
            format!(
                "refusing to listen on non-loopback address {listen} without API tokens \
                 (configure [[tokens]] or set CRISISWATCH_API_TOKENS)"
            ),
        ));
    }
    let notify = match crate::notify::config::resolve(&fc.notify, &listen.to_string()) {
        Ok(n) => n,
        Err(list) => {
            for (key, msg) in list {
                errs.push(at(key, format!("[notify] {msg}")));
            }
            crate::notify::config::Notify::default()
        }
    };
    let rules = o.rules.clone().or(fc.rules.clone()).or_else(|| Some(PathBuf::from("rules")).filter(|p| p.is_dir()));
    let max_queued_mentions = fc.limits.max_queued_mentions.unwrap_or(500_000).max(1);
    let rate_per_token = fc.limits.rate_per_token.unwrap_or(0);
    if !errs.is_empty() {
        return Err(Diagnostics(errs));
    }
    Ok(ServeConfig {
        listen,
        data_dir: o.data_dir.clone().or(fc.data_dir.clone()).unwrap_or_else(|| PathBuf::from("data")),
        rules,
        clock: o.clock.or(fc.clock).unwrap_or_default(),
        log_format: o.log_format.or(fc.log_format).unwrap_or_default(),
        tokens,
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
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_and_bad_values_are_positioned() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "listen = \"127.0.0.1:9\"\n\n[limits]\nmax_bodyy = \"1MiB\"\n").unwrap();
        let e = load(Some(&p), &Overrides::default()).unwrap_err();
        assert_eq!((e.0[0].line, e.0[0].col), (4, 1), "{e}");
        assert!(e.0[0].message.contains("max_bodyy"), "{e}");
        std::fs::write(&p, "[limits]\nmax_body = \"lots\"\n").unwrap();
        let e = load(Some(&p), &Overrides::default()).unwrap_err();
        assert_eq!(e.0[0].line, 2, "{e}");
    }

    #[test]
    fn non_loopback_without_tokens_is_refused_and_flags_override() {
        let o = Overrides { listen: Some("0.0.0.0:8686".into()), ..Overrides::default() };
        let e = load(None, &o).unwrap_err();
        assert!(e.to_string().contains("refusing to listen"), "{e}");
        let o = Overrides { listen: Some("127.0.0.1:1".into()), clock: Some(ClockMode::Event), ..Overrides::default() };
        let c = load(None, &o).unwrap();
        assert_eq!(c.listen.port(), 1);
        assert_eq!(c.clock, ClockMode::Event);
        assert_eq!(c.data_dir, PathBuf::from("data"));
    }

    #[test]
    fn the_shipped_example_is_valid_and_states_the_defaults() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("crisiswatch.example.toml");
        let c = load(Some(&p), &Overrides::default()).unwrap();
        let d = load(None, &Overrides::default()).unwrap();
        assert_eq!(format!("{c:?}"), format!("{d:?}"), "run from the project root, where ./rules exists");
    }

    #[test]
    fn inline_tokens_are_not_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "[[tokens]]\nname = \"tool\"\nsecret = \"abc\"\n").unwrap();
        let e = load(Some(&p), &Overrides::default()).unwrap_err();
        assert!(e.to_string().contains("secret"), "{e}");
        let tf = dir.path().join("tok");
        std::fs::write(&tf, "s3cret\n").unwrap();
        std::fs::write(&p, format!("[[tokens]]\nname = \"tool\"\nfile = {:?}\n", tf.to_str().unwrap())).unwrap();
        let c = load(Some(&p), &Overrides::default()).unwrap();
        assert_eq!(c.tokens[0].secret, b"s3cret");
        assert!(!format!("{:?}", c.tokens).contains("s3cret"));
    }
}
