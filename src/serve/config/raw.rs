//! `crisiswatch.toml` as written: serde structs with the position of every value that
//! validation may refuse (`toml::Spanned`), unknown keys refused. Tokens are named by
//! environment variable or file, never written inline.

use super::model::{ClockMode, LogFormat};
use serde::Deserialize;
use std::path::PathBuf;
use toml::Spanned;

/// `crisiswatch.toml` as written.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Listen address, default `127.0.0.1:8686`.
    pub listen: Option<Spanned<String>>,
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
    pub tokens: Vec<Spanned<TokenSource>>,
    /// Named users with a role and one credential.
    #[serde(default)]
    pub users: Vec<Spanned<UserSource>>,
    /// Signed action links in notifications.
    #[serde(default)]
    pub links: LinksConfig,
    /// Limits.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Durability.
    #[serde(default)]
    pub storage: StorageConfig,
    /// `[dead_letters]`.
    #[serde(default)]
    pub dead_letters: DeadLettersConfig,
    /// Knobs for tests of the service itself.
    #[serde(default)]
    pub testing: TestingConfig,
    /// Notifications: receivers, teams, routes and escalation.
    #[serde(default)]
    pub notify: crate::notify::config::raw::NotifyConfig,
    /// `[cluster]`: one node of a cluster on NATS JetStream.
    pub cluster: Option<super::cluster::ClusterRaw>,
    /// `[[source]]`: where the service collects mentions itself.
    #[serde(default, rename = "source")]
    pub sources: Vec<Spanned<super::sources::SourceRaw>>,
}

/// Where one API token comes from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSource {
    /// Name recorded with what the token's client sends (dead letters, acks, logs).
    pub name: Spanned<String>,
    /// Environment variable holding the token.
    pub env: Option<Spanned<String>>,
    /// File holding the token (first line; surrounding whitespace ignored).
    pub file: Option<Spanned<PathBuf>>,
    /// What the token may do: `ingest`, `read`, `respond`, `admin` (default `["ingest",
    /// "read"]`).
    pub scopes: Option<Spanned<Vec<Spanned<String>>>>,
}

/// A named user: a role and exactly one credential. Passwords are given as argon2id hashes
/// (`crisiswatch hash-password`), never in plain text.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSource {
    /// The name recorded with what the user does.
    pub name: Spanned<String>,
    /// `viewer`, `responder` or `admin`.
    pub role: Spanned<String>,
    /// An argon2id PHC string (`$argon2id$v=19$...`).
    pub password_hash: Option<Spanned<String>>,
    /// Environment variable holding the PHC string.
    pub password_hash_env: Option<Spanned<String>>,
    /// File holding the PHC string (first line).
    pub password_hash_file: Option<Spanned<PathBuf>>,
    /// Environment variable holding a personal API token.
    pub token_env: Option<Spanned<String>>,
    /// File holding a personal API token (first line).
    pub token_file: Option<Spanned<PathBuf>>,
    /// Refused: here only so that its error can say what to write instead.
    pub password: Option<Spanned<toml::Value>>,
}

/// `[links]`: the signed, expiring acknowledge and open links of notifications.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LinksConfig {
    /// Environment variable holding the signing key (at least 32 bytes).
    pub secret_env: Option<Spanned<String>>,
    /// File holding the signing key (first line, at least 32 bytes).
    pub secret_file: Option<Spanned<PathBuf>>,
    /// How long a link stays valid, default `"72h"`.
    pub ttl: Option<Spanned<String>>,
}

/// Request and queue limits.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest request body as sent (compressed or not), e.g. `"32MiB"`.
    pub max_body: Option<Spanned<String>>,
    /// Largest body after gzip decoding.
    pub max_decoded_body: Option<Spanned<String>>,
    /// Largest single mention line.
    pub max_line: Option<Spanned<String>>,
    /// Mentions accepted but not yet processed by the engine; beyond it, `503`.
    pub max_queued_mentions: Option<u32>,
    /// Sustained mentions per second per token (0 = unlimited).
    pub rate_per_token: Option<u32>,
    /// Burst allowance per token, in mentions (default: one second's worth, at least 10,000).
    pub burst_per_token: Option<u32>,
    /// How many recent mention ids are remembered for de-duplication.
    pub dedup_ids: Option<u32>,
    /// How long a mention id is remembered, e.g. `"24h"`.
    pub dedup_window: Option<Spanned<String>>,
    /// Decoded request bytes all requests in flight may hold together; beyond it, `503`.
    pub max_decoded_in_flight: Option<Spanned<String>>,
    /// `--clock event`: how long (wall time) accepted mentions wait in the reorder buffer
    /// for concurrent requests with older ones, e.g. `"2s"`.
    pub reorder_hold: Option<Spanned<String>>,
    /// `--clock event`: reorder buffer bound in mentions; past it everything is released.
    pub reorder_max_mentions: Option<u32>,
    /// Brands that may be created from mentions' `brand` fields (beyond the configured ones).
    pub max_new_brands: Option<u32>,
    /// Connections served at once; beyond it a new connection is closed at once (default
    /// 1024).
    pub max_connections: Option<Spanned<u32>>,
    /// How long a client may take to send a request's headers, and how long an idle
    /// keep-alive connection is kept, e.g. `"10s"`.
    pub header_timeout: Option<Spanned<String>>,
    /// How long a client may take to send a whole request body once its headers are in,
    /// e.g. `"30s"` (then `408` and the connection is closed).
    pub body_timeout: Option<Spanned<String>>,
}

/// Retention of rejected items (`[dead_letters]`).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DeadLettersConfig {
    /// Dead letters kept, in bytes of raw items and reasons, e.g. `"64MiB"`; the oldest go first.
    pub max_bytes: Option<Spanned<String>>,
    /// Dead letters older than this are deleted, e.g. `"30d"`.
    pub max_age: Option<Spanned<String>>,
}

/// Durability settings.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// Interval between engine snapshots, e.g. `"5m"`.
    pub snapshot_interval: Option<Spanned<String>>,
    /// Ingest log segment size before a new segment starts.
    pub segment_size: Option<Spanned<String>>,
    /// `true` (default): the ingest log is fsynced before `202`. `false` trades the
    /// guarantee against power loss (not against a process crash) for speed.
    pub fsync: Option<bool>,
}

/// Test knobs (documented, not for production).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TestingConfig {
    /// Sleep this long after each engine batch, to exercise backpressure.
    pub engine_batch_delay: Option<Spanned<String>>,
}
