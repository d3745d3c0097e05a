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
    /// `--cluster`: NATS URLs, comma-separated (replaces `[cluster] servers`).
    pub cluster: Option<String>,
}

/// What an identity may do. `Admin` implies every other scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// `POST /v1/mentions`.
    Ingest,
    /// `GET /v1/alerts*`, `/v1/brands*`, the dashboard's pages.
    Read,
    /// Acknowledge and resolve incidents.
    Respond,
    /// Everything.
    Admin,
}

impl Scope {
    /// Every scope, in the order they are written.
    pub const ALL: [Scope; 4] = [Scope::Ingest, Scope::Read, Scope::Respond, Scope::Admin];

    /// The name used in the config file and in errors.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Read => "read",
            Scope::Respond => "respond",
            Scope::Admin => "admin",
        }
    }

    /// The scope called `s`.
    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// Whether `scopes` grant `wanted` (`admin` grants everything).
pub fn grants(scopes: &[Scope], wanted: Scope) -> bool {
    scopes.iter().any(|s| *s == wanted || *s == Scope::Admin)
}

/// A named user's role, which fixes its scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Reads alerts and brands.
    Viewer,
    /// Reads, acknowledges and resolves.
    Responder,
    /// Everything.
    Admin,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Responder, Role::Admin];

    /// The name used in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Responder => "responder",
            Role::Admin => "admin",
        }
    }

    /// The role called `s`.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The scopes the role grants.
    pub fn scopes(self) -> Vec<Scope> {
        match self {
            Role::Viewer => vec![Scope::Read],
            Role::Responder => vec![Scope::Read, Scope::Respond],
            Role::Admin => vec![Scope::Admin],
        }
    }
}

/// One API token, resolved.
#[derive(Clone)]
pub struct ApiToken {
    /// Its name: recorded as `who` of what the token does (dead letters, acks, logs).
    pub name: String,
    /// The secret.
    pub secret: Vec<u8>,
    /// What it may do (default `ingest` and `read`: a listening tool cannot acknowledge).
    pub scopes: Vec<Scope>,
}

/// How a named user proves who they are.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// An argon2id PHC string, checked at `POST /login`.
    PasswordHash(String),
    /// A personal API token, presented as `Authorization: Bearer`.
    Token(Vec<u8>),
}

/// A named user, resolved.
#[derive(Clone)]
pub struct User {
    /// The name recorded with what the user does.
    pub name: String,
    /// What the user may do.
    pub role: Role,
    /// The credential (never logged).
    pub credential: Credential,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.credential {
            Credential::PasswordHash(_) => "password",
            Credential::Token(_) => "token",
        };
        write!(f, "User({}, {}, {kind} <redacted>)", self.name, self.role.as_str())
    }
}

/// The signed action links of notifications (`[links]`).
#[derive(Clone, Default)]
pub struct LinkSettings {
    /// The HMAC key from `secret_env` or `secret_file`; `None`: `<data_dir>/link.key`,
    /// generated at the first start.
    pub secret: Option<Vec<u8>>,
    /// How long a link stays valid.
    pub ttl: Duration,
}

impl std::fmt::Debug for LinkSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let from = if self.secret.is_some() { "configured <redacted>" } else { "data dir" };
        write!(f, "LinkSettings(key from {from}, ttl {:?})", self.ttl)
    }
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scopes: Vec<&str> = self.scopes.iter().map(|s| s.as_str()).collect();
        write!(f, "ApiToken({}, {scopes:?}, <redacted>)", self.name) // never print the secret
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
    /// API tokens (with `users` empty: no authentication, loopback only).
    pub tokens: Vec<ApiToken>,
    /// Named users with roles.
    pub users: Vec<User>,
    /// Signed action links.
    pub links: LinkSettings,
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
    /// HTTP connections served at once (more are closed at once).
    pub max_connections: usize,
    /// Time to receive a request's headers; also how long an idle keep-alive connection
    /// stays open.
    pub header_timeout: Duration,
    /// Time to receive a whole request body once the headers are in (`408` beyond).
    pub body_timeout: Duration,
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
    /// Mentions whose minute is this far behind the engine's clock are refused (from the
    /// rules' `allowed_lateness`).
    pub allowed_lateness_min: i64,
    /// Decoded request bytes all requests in flight may hold together (at least one
    /// `max_decoded_body`).
    pub max_decoded_in_flight: u64,
    /// Event clock: how long accepted mentions wait for older ones from concurrent requests.
    pub reorder_hold: Duration,
    /// Event clock: reorder buffer bound in mentions.
    pub reorder_max_mentions: usize,
    /// Brands that may be created from `brand` fields.
    pub max_new_brands: usize,
    /// Retention of dead letters.
    pub dead_letters: DeadLetterRetention,
    /// Notifications (no receivers: none are sent).
    pub notify: crate::notify::config::Notify,
    /// Built-in sources (`[[source]]`), their tokens read.
    pub sources: Vec<super::sources::SourceSpec>,
    /// `[cluster]` / `--cluster`: a node of a cluster on NATS JetStream (`None`: single
    /// node).
    pub cluster: Option<super::cluster::Cluster>,
}

/// How long and how many dead letters are kept.
#[derive(Debug, Clone, Copy)]
pub struct DeadLetterRetention {
    /// Bytes of raw items and reasons kept; the oldest go first.
    pub max_bytes: u64,
    /// Older ones are deleted.
    pub max_age: Duration,
}
