//! The service configuration as the service runs with it: validated, command-line flags
//! layered on top, API tokens resolved.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
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
