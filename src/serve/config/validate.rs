//! `crisiswatch.toml` as written (plus command-line overrides) → [`ServeConfig`]: a pure
//! function of the text, reporting every problem at once at the value it is about. Secrets
//! (API tokens, and the notify section's) are recorded as slots for
//! [`super::secrets::resolve`], not read here.

use super::model::{DeadLetterRetention, LinkSettings, Overrides, Role, Scope, ServeConfig};
use super::raw::FileConfig;
use crate::diag::{Diagnostic, Source};
use crate::notify::config::secrets::SecretSlot;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;
use toml::Spanned;

pub use super::token_from::TokenFrom;

/// One API token named in the file.
#[derive(Debug, Clone)]
pub struct TokenSlot {
    /// The token's name.
    pub name: String,
    /// Where it is read from.
    pub from: TokenFrom,
    /// Where the file names that source.
    pub span: Range<usize>,
    /// What it may do.
    pub scopes: Vec<Scope>,
}

/// Where a user's credential comes from.
#[derive(Debug, Clone)]
pub enum CredentialFrom {
    /// A PHC string written in the file (already checked).
    Hash(String),
    /// A PHC string from an environment variable or a file.
    HashFrom(TokenFrom),
    /// A personal API token from an environment variable or a file.
    TokenFrom(TokenFrom),
}

/// One user named in the file, its credential still to be read.
#[derive(Debug, Clone)]
pub struct UserSlot {
    /// The name.
    pub name: String,
    /// The role.
    pub role: Role,
    /// Where the credential comes from.
    pub from: CredentialFrom,
    /// Where the file names it.
    pub span: Range<usize>,
}

/// Where the link signing key is read from, and where the file says so.
pub type LinkKeySlot = Option<(TokenFrom, Range<usize>)>;

/// Checks that `s` is an argon2 PHC string (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`).
///
/// # Errors
/// What is wrong with it.
pub fn check_password_hash(s: &str) -> Result<(), String> {
    match argon2::PasswordHash::new(s.trim()) {
        Ok(h) if h.algorithm.as_str().starts_with("argon2") && h.hash.is_some() => Ok(()),
        Ok(h) => Err(format!("algorithm `{}` is not argon2 (make one with `crisiswatch hash-password`)", h.algorithm)),
        Err(e) => Err(format!("not a PHC string ({e}); make one with `crisiswatch hash-password`")),
    }
}

/// The validated configuration and the secrets still to be read.
#[derive(Debug)]
pub struct Validated {
    /// Settings; `tokens` and the notify secrets are empty until resolved.
    pub cfg: ServeConfig,
    /// API tokens named in the file.
    pub tokens: Vec<TokenSlot>,
    /// Users named in the file.
    pub users: Vec<UserSlot>,
    /// The link signing key, when the file names one.
    pub link_key: LinkKeySlot,
    /// Secrets named in `[notify]`.
    pub notify_secrets: Vec<SecretSlot>,
    /// The sources' tokens.
    pub source_tokens: Vec<super::sources::SourceTokenSlot>,
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

    /// A duration that must not be zero (a timeout).
    fn timeout(&mut self, key: &str, v: &Option<Spanned<String>>, default: Duration) -> Duration {
        let d = self.duration(key, v, default);
        match v {
            Some(s) if d.is_zero() => {
                self.errs.push(self.src.at(s.span(), format!("`{key}`: must be longer than 0")));
                default
            }
            _ => d,
        }
    }

    /// A count that must be at least 1.
    fn count(&mut self, key: &str, v: &Option<Spanned<u32>>, default: u32) -> u32 {
        match v {
            None => default,
            Some(n) if *n.get_ref() == 0 => {
                self.errs.push(self.src.at(n.span(), format!("`{key}`: must be at least 1")));
                default
            }
            Some(n) => *n.get_ref(),
        }
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
    let max_decoded_body = c.size("max_decoded_body", &fc.limits.max_decoded_body, 64 << 20) as usize;
    let max_line = c.size("max_line", &fc.limits.max_line, 1 << 20) as usize;
    let segment_size = c.size("segment_size", &fc.storage.segment_size, 256 << 20);
    let dedup_window = c.duration(
        "dedup_window",
        &fc.limits.dedup_window,
        Duration::from_millis(crate::ingest::dedup::DEFAULT_WINDOW_MS as u64),
    );
    let max_connections = c.count("max_connections", &fc.limits.max_connections, 1024) as usize;
    let header_timeout = c.timeout("header_timeout", &fc.limits.header_timeout, Duration::from_secs(10));
    let body_timeout = c.timeout("body_timeout", &fc.limits.body_timeout, Duration::from_secs(30));
    let snapshot_interval = c.duration("snapshot_interval", &fc.storage.snapshot_interval, Duration::from_secs(300));
    let engine_batch_delay = c.duration("engine_batch_delay", &fc.testing.engine_batch_delay, Duration::ZERO);
    let max_decoded_in_flight = c.size("max_decoded_in_flight", &fc.limits.max_decoded_in_flight, 512 << 20);
    let reorder_hold = c.duration("reorder_hold", &fc.limits.reorder_hold, Duration::from_secs(2));
    let cluster = super::cluster::validate(fc.cluster.as_ref(), o.cluster.as_deref(), src, &mut c.errs);
    let dead_letters = DeadLetterRetention {
        max_bytes: c.size("max_bytes", &fc.dead_letters.max_bytes, 64 << 20),
        max_age: c.duration("max_age", &fc.dead_letters.max_age, Duration::from_secs(30 * 86_400)),
    };

    let tokens = validate_tokens(&fc.tokens, &mut c.errs, src);
    let users = validate_users(&fc.users, &mut c.errs, src);
    let link_ttl = c.duration("ttl", &fc.links.ttl, Duration::from_secs(72 * 3600));
    let link_key = match (&fc.links.secret_env, &fc.links.secret_file) {
        (None, None) => None,
        (Some(v), None) => Some((TokenFrom::Env(v.get_ref().clone()), v.span())),
        (None, Some(p)) => Some((TokenFrom::File(p.get_ref().clone()), p.span())),
        (Some(v), Some(_)) => {
            c.errs.push(src.at(v.span(), "[links]: give at most one of `secret_env` or `secret_file`"));
            None
        }
    };
    let notify = crate::notify::config::validate::validate(&fc.notify, src, &listen.to_string());
    let (notify, notify_secrets) = match notify {
        Ok(v) => (v.notify, v.secrets),
        Err(list) => {
            c.errs.extend(list);
            (Default::default(), Vec::new())
        }
    };
    let (sources, source_tokens) = super::sources::validate(&fc.sources, src, &mut c.errs);
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
        users: Vec::new(),
        links: LinkSettings { secret: None, ttl: link_ttl },
        max_body,
        max_decoded_body,
        max_line,
        max_queued_mentions,
        rate_per_token,
        burst_per_token: fc.limits.burst_per_token.unwrap_or(rate_per_token.max(10_000)),
        dedup_ids: fc.limits.dedup_ids.unwrap_or(crate::ingest::dedup::DEFAULT_IDS as u32),
        dedup_window,
        max_connections,
        header_timeout,
        body_timeout,
        snapshot_interval,
        segment_size,
        fsync: fc.storage.fsync.unwrap_or(true),
        engine_batch_delay,
        max_clock_jump_ms: 86_400_000,
        allowed_lateness_min: 5,
        // one request at its largest must fit: sent, decoded and validated
        max_decoded_in_flight: max_decoded_in_flight.max((max_body + 2 * max_decoded_body) as u64),
        reorder_hold,
        reorder_max_mentions: fc.limits.reorder_max_mentions.unwrap_or(200_000).max(1) as usize,
        max_new_brands: fc.limits.max_new_brands.unwrap_or(1000) as usize,
        dead_letters,
        notify,
        sources,
        cluster,
    };
    Ok(Validated { cfg, tokens, users, link_key, notify_secrets, source_tokens })
}

/// `[[tokens]]`: each with exactly one source, and its scopes (default `ingest` and `read`).
fn validate_tokens(
    list: &[Spanned<super::raw::TokenSource>],
    errs: &mut Vec<Diagnostic>,
    src: &Source<'_>,
) -> Vec<TokenSlot> {
    let mut tokens = Vec::new();
    for t in list {
        let t = t.get_ref();
        let name = t.name.get_ref().clone();
        let mut scopes = Vec::new();
        match &t.scopes {
            None => scopes = vec![Scope::Ingest, Scope::Read],
            Some(list) => {
                for s in list.get_ref() {
                    match Scope::parse(s.get_ref()) {
                        Some(x) if !scopes.contains(&x) => scopes.push(x),
                        Some(_) => {}
                        None => errs.push(src.at(
                            s.span(),
                            format!("token `{name}`: unknown scope `{}` (ingest, read, respond, admin)", s.get_ref()),
                        )),
                    }
                }
                if list.get_ref().is_empty() {
                    errs.push(src.at(
                        list.span(),
                        format!("token `{name}`: `scopes` is empty; a token must be able to do something"),
                    ));
                }
            }
        }
        match (&t.env, &t.file) {
            (Some(var), None) => {
                tokens.push(TokenSlot { name, from: TokenFrom::Env(var.get_ref().clone()), span: var.span(), scopes })
            }
            (None, Some(p)) => {
                tokens.push(TokenSlot { name, from: TokenFrom::File(p.get_ref().clone()), span: p.span(), scopes })
            }
            _ => errs.push(src.at(
                t.name.span(),
                format!("token `{name}`: give exactly one of `env` or `file` (tokens are never written inline)"),
            )),
        }
    }
    tokens
}

/// `[[users]]`: a known role, a unique name and exactly one credential; never a plain password.
fn validate_users(
    list: &[Spanned<super::raw::UserSource>],
    errs: &mut Vec<Diagnostic>,
    src: &Source<'_>,
) -> Vec<UserSlot> {
    let mut users: Vec<UserSlot> = Vec::new();
    for u in list {
        let u = u.get_ref();
        let name = u.name.get_ref().clone();
        if name.trim().is_empty() {
            errs.push(src.at(u.name.span(), "user: `name` is empty"));
        } else if users.iter().any(|x| x.name == name) {
            errs.push(src.at(u.name.span(), format!("user `{name}` is defined twice")));
        }
        let role = Role::parse(u.role.get_ref());
        if role.is_none() {
            errs.push(src.at(
                u.role.span(),
                format!("user `{name}`: unknown role `{}` (viewer, responder, admin)", u.role.get_ref()),
            ));
        }
        if let Some(p) = &u.password {
            errs.push(src.at(
                p.span(),
                format!(
                    "user `{name}`: plain passwords are not accepted; put an argon2id hash in `password_hash` \
                     (make one with `crisiswatch hash-password`)"
                ),
            ));
            continue;
        }
        let mut given: Vec<(CredentialFrom, Range<usize>)> = Vec::new();
        if let Some(h) = &u.password_hash {
            match check_password_hash(h.get_ref()) {
                Ok(()) => given.push((CredentialFrom::Hash(h.get_ref().trim().to_string()), h.span())),
                Err(e) => {
                    errs.push(src.at(h.span(), format!("user `{name}`: `password_hash`: {e}")));
                    continue;
                }
            }
        }
        if let Some(v) = &u.password_hash_env {
            given.push((CredentialFrom::HashFrom(TokenFrom::Env(v.get_ref().clone())), v.span()));
        }
        if let Some(p) = &u.password_hash_file {
            given.push((CredentialFrom::HashFrom(TokenFrom::File(p.get_ref().clone())), p.span()));
        }
        if let Some(v) = &u.token_env {
            given.push((CredentialFrom::TokenFrom(TokenFrom::Env(v.get_ref().clone())), v.span()));
        }
        if let Some(p) = &u.token_file {
            given.push((CredentialFrom::TokenFrom(TokenFrom::File(p.get_ref().clone())), p.span()));
        }
        let credential = match given.len() {
            1 => given.pop(),
            0 => {
                errs.push(src.at(
                    u.name.span(),
                    format!(
                        "user `{name}`: give one credential: `password_hash`, `password_hash_env`, \
                         `password_hash_file`, `token_env` or `token_file`"
                    ),
                ));
                None
            }
            _ => {
                errs.push(src.at(
                    given[1].1.clone(),
                    format!(
                        "user `{name}`: give only one credential (one of `password_hash`, `password_hash_env`, \
                         `password_hash_file`, `token_env`, `token_file`)"
                    ),
                ));
                None
            }
        };
        if let (Some(role), Some((from, span))) = (role, credential) {
            users.push(UserSlot { name, role, from, span });
        }
    }
    users
}
