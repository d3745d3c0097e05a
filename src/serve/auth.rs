//! Who is asking, and what they may do. One function, [`identify`], turns a request's
//! headers into an [`Identity`]: an API token or a user's personal token
//! (`Authorization: Bearer`, compared in constant time against every one), or a login
//! session (the `cw_session` cookie). [`require`] adds the scope check. With no tokens and
//! no users configured the service is open (loopback only): everyone is `anonymous` with
//! every scope.
//!
//! Sessions live in memory (a restart logs everyone out): random 256-bit ids, 12 hours,
//! at most [`MAX_SESSIONS`], each with its own CSRF token for the forms of the dashboard
//! ([`csrf_ok`]). The JSON API's state-changing routes take bearer tokens only
//! ([`require_bearer`]), so a cookie alone cannot act there.

// Helpers return the HTTP answer itself as their error: built once per request, not worth boxing.
#![allow(clippy::result_large_err)]

pub use super::config::{grants, Scope};
use super::config::{ApiToken, Credential, Role, ServeConfig, User};
use super::error::ApiError;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use rand::RngCore;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "cw_session";
/// How long a login lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Sessions kept at most; beyond it the oldest is dropped.
pub const MAX_SESSIONS: usize = 10_000;
/// Failed logins per name per [`FAILURE_WINDOW`] before further attempts are refused.
pub const MAX_FAILURES: usize = 5;
/// The window of [`MAX_FAILURES`].
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// How an identity was established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityKind {
    /// An API token from `[[tokens]]` or `CRISISWATCH_API_TOKENS`.
    Token,
    /// A named user: by personal token or login session.
    User,
    /// A signed action link (acts on one incident only).
    Link,
    /// Nobody: the service is open (no tokens, no users).
    Anonymous,
}

/// Who is asking.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Recorded as `who` of what they do.
    pub name: String,
    /// How it was established.
    pub kind: IdentityKind,
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// The session's CSRF token when the identity comes from the session cookie; forms
    /// must send it back ([`csrf_ok`]).
    pub csrf: Option<String>,
}

impl Identity {
    /// Whether the identity has `scope` (`admin` has all).
    pub fn can(&self, scope: Scope) -> bool {
        grants(&self.scopes, scope)
    }
}

struct Session {
    user: String,
    scopes: Vec<Scope>,
    csrf: String,
    expires: Instant,
}

/// The credentials the service knows and the sessions it has handed out.
pub struct Auth {
    tokens: Vec<ApiToken>,
    users: Vec<User>,
    /// No tokens and no users: everyone is anonymous with every scope.
    open: bool,
    /// Cookies get `Secure` (the public URL is https).
    secure: bool,
    sessions: Mutex<HashMap<String, Session>>,
    failures: Mutex<HashMap<String, Vec<Instant>>>,
}

/// 32 random bytes from the operating system, hex.
pub fn random_hex() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Auth {
    /// The credentials of `cfg`; cookies are `Secure` when `public_url` is https.
    pub fn new(cfg: &ServeConfig) -> Self {
        Auth {
            tokens: cfg.tokens.clone(),
            users: cfg.users.clone(),
            open: cfg.tokens.is_empty() && cfg.users.is_empty(),
            secure: cfg.notify.public_url.starts_with("https://"),
            sessions: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Whether requests need no credentials at all.
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// The argon2 hash and role of user `name`, if it logs in with a password.
    pub fn password_of(&self, name: &str) -> Option<(String, Role)> {
        self.users.iter().find(|u| u.name == name).and_then(|u| match &u.credential {
            Credential::PasswordHash(h) => Some((h.clone(), u.role)),
            Credential::Token(_) => None,
        })
    }

    /// Starts a session for `user` at `now`; returns the `Set-Cookie` value.
    pub fn start_session(&self, user: &str, role: Role, now: Instant) -> String {
        let id = random_hex();
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if sessions.len() >= MAX_SESSIONS {
            sessions.retain(|_, s| s.expires > now);
        }
        if sessions.len() >= MAX_SESSIONS {
            let oldest = sessions.iter().min_by_key(|(_, s)| s.expires).map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                sessions.remove(&k);
            }
        }
        let session =
            Session { user: user.to_string(), scopes: role.scopes(), csrf: random_hex(), expires: now + SESSION_TTL };
        sessions.insert(id.clone(), session);
        self.cookie(&id, SESSION_TTL.as_secs())
    }

    /// Ends the session the request carries, if any; returns the `Set-Cookie` value that
    /// clears the cookie.
    pub fn end_session(&self, headers: &HeaderMap) -> String {
        if let Some(id) = session_id(headers) {
            self.sessions.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
        }
        self.cookie("", 0)
    }

    fn cookie(&self, value: &str, max_age: u64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("{SESSION_COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}")
    }

    /// Whether `name` has had [`MAX_FAILURES`] failed logins in the last [`FAILURE_WINDOW`].
    pub fn throttled(&self, name: &str, now: Instant) -> bool {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures
            .get(name)
            .is_some_and(|f| f.iter().filter(|t| now.duration_since(**t) < FAILURE_WINDOW).count() >= MAX_FAILURES)
    }

    /// Counts a failed login for `name` (names that are not users too, so that probing for
    /// names is throttled alike).
    pub fn record_failure(&self, name: &str, now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= MAX_SESSIONS {
            failures.retain(|_, f| f.iter().any(|t| now.duration_since(*t) < FAILURE_WINDOW));
        }
        let list = failures.entry(name.to_string()).or_default();
        list.retain(|t| now.duration_since(*t) < FAILURE_WINDOW);
        list.push(now);
    }

    fn bearer(&self, given: &str) -> Option<Identity> {
        // compare against every token and user token, without stopping at the first match
        let mut found = None;
        for t in &self.tokens {
            if bool::from(t.secret.as_slice().ct_eq(given.as_bytes())) {
                found = Some(Identity {
                    name: t.name.clone(),
                    kind: IdentityKind::Token,
                    scopes: t.scopes.clone(),
                    csrf: None,
                });
            }
        }
        for u in &self.users {
            if let Credential::Token(secret) = &u.credential {
                if bool::from(secret.as_slice().ct_eq(given.as_bytes())) {
                    found = Some(Identity {
                        name: u.name.clone(),
                        kind: IdentityKind::User,
                        scopes: u.role.scopes(),
                        csrf: None,
                    });
                }
            }
        }
        found.filter(|_| !given.is_empty())
    }

    fn session(&self, id: &str, now: Instant) -> Option<Identity> {
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let s = sessions.get(id)?;
        if s.expires <= now {
            sessions.remove(id);
            return None;
        }
        Some(Identity {
            name: s.user.clone(),
            kind: IdentityKind::User,
            scopes: s.scopes.clone(),
            csrf: Some(s.csrf.clone()),
        })
    }
}

/// The value of the `cw_session` cookie, if the request carries one.
fn session_id(headers: &HeaderMap) -> Option<String> {
    for v in headers.get_all(header::COOKIE) {
        let Ok(v) = v.to_str() else { continue };
        for pair in v.split(';') {
            if let Some((k, val)) = pair.trim().split_once('=') {
                if k == SESSION_COOKIE && !val.is_empty() {
                    return Some(val.to_string());
                }
            }
        }
    }
    None
}

/// Who sent the request: a bearer token (API or user token), else the session cookie when
/// `sessions` allows it, else `anonymous` when the service is open.
///
/// # Errors
/// [`ApiError::Unauthorized`]: an unknown token, or no credentials at all.
pub fn identify(auth: &Auth, headers: &HeaderMap, sessions: bool) -> Result<Identity, ApiError> {
    if auth.open {
        return Ok(Identity {
            name: "anonymous".into(),
            kind: IdentityKind::Anonymous,
            scopes: vec![Scope::Admin],
            csrf: None,
        });
    }
    if let Some(v) = headers.get(header::AUTHORIZATION) {
        let given = v.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")).map(str::trim).unwrap_or("");
        return auth.bearer(given).ok_or(ApiError::Unauthorized);
    }
    if sessions {
        if let Some(id) = session_id(headers) {
            return auth.session(&id, Instant::now()).ok_or(ApiError::Unauthorized);
        }
    }
    Err(ApiError::Unauthorized)
}

fn check(identity: Identity, scope: Scope) -> Result<Identity, ApiError> {
    if identity.can(scope) {
        Ok(identity)
    } else {
        Err(ApiError::Forbidden(format!("`{}` lacks the `{}` scope this needs", identity.name, scope.as_str())))
    }
}

/// The identity of a request (bearer token or session cookie) if it has `scope`: for the
/// dashboard's pages and forms (forms must also pass [`csrf_ok`]).
///
/// # Errors
/// The `401` or `403` answer (JSON `{"error": …}` naming the missing scope).
pub fn require(auth: &Auth, headers: &HeaderMap, scope: Scope) -> Result<Identity, Response> {
    identify(auth, headers, true).and_then(|i| check(i, scope)).map_err(IntoResponse::into_response)
}

/// As [`require`], for the JSON API's routes that change state: a bearer token only, so
/// that a browser's cookie alone cannot act (no CSRF through the API).
///
/// # Errors
/// The `401` or `403` answer.
pub fn require_bearer(auth: &Auth, headers: &HeaderMap, scope: Scope) -> Result<Identity, Response> {
    identify(auth, headers, false).and_then(|i| check(i, scope)).map_err(IntoResponse::into_response)
}

/// Whether a form may act for `identity`: a session's forms must carry its CSRF token
/// (compared in constant time); bearer and anonymous identities carry no ambient
/// credential a foreign site could use, so they pass.
pub fn csrf_ok(identity: &Identity, form_token: &str) -> bool {
    match &identity.csrf {
        Some(t) => !form_token.is_empty() && bool::from(t.as_bytes().ct_eq(form_token.as_bytes())),
        None => true,
    }
}

/// Hashes `password` to an argon2id PHC string (random salt, the crate's default cost).
///
/// # Errors
/// The hasher's error (no randomness available).
pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::PasswordHasher;
    argon2::Argon2::default().hash_password(password.as_bytes()).map(|h| h.to_string()).map_err(|e| e.to_string())
}

/// Whether `password` matches the PHC string `hash` (constant time). Slow on purpose
/// (tens of milliseconds): call it off the async workers.
pub fn verify_password(hash: &str, password: &str) -> bool {
    use argon2::PasswordVerifier;
    match argon2::PasswordHash::new(hash) {
        Ok(h) => argon2::Argon2::default().verify_password(password.as_bytes(), &h).is_ok(),
        Err(_) => false,
    }
}

/// A hash no password matches, verified for unknown names so that they take as long as
/// known ones.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password(&random_hex()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::config::Overrides;
    use axum::http::HeaderValue;

    fn auth(tokens: Vec<ApiToken>, users: Vec<User>) -> Auth {
        let mut cfg = crate::serve::config::load(None, &Overrides::default()).unwrap();
        cfg.tokens = tokens;
        cfg.users = users;
        Auth::new(&cfg)
    }

    fn bearer(t: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {t}")).unwrap());
        h
    }

    #[test]
    fn tokens_users_and_sessions_resolve_to_identities_with_their_scopes() {
        let a = auth(
            vec![ApiToken { name: "tool".into(), secret: b"t1".to_vec(), scopes: vec![Scope::Ingest, Scope::Read] }],
            vec![
                User { name: "vic".into(), role: Role::Viewer, credential: Credential::Token(b"u1".to_vec()) },
                User { name: "dana".into(), role: Role::Responder, credential: Credential::PasswordHash("x".into()) },
            ],
        );
        let tool = identify(&a, &bearer("t1"), true).unwrap();
        assert_eq!((tool.name.as_str(), tool.kind), ("tool", IdentityKind::Token));
        assert!(tool.can(Scope::Read) && !tool.can(Scope::Respond));
        let vic = require(&a, &bearer("u1"), Scope::Read).unwrap();
        assert_eq!(vic.kind, IdentityKind::User);
        assert_eq!(require(&a, &bearer("u1"), Scope::Respond).unwrap_err().status(), 403);
        assert_eq!(require(&a, &bearer("t"), Scope::Read).unwrap_err().status(), 401);
        assert_eq!(require(&a, &HeaderMap::new(), Scope::Read).unwrap_err().status(), 401);

        let cookie = a.start_session("dana", Role::Responder, Instant::now());
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && !cookie.contains("Secure"));
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("a=b; {}", cookie.split(';').next().unwrap())).unwrap(),
        );
        let dana = require(&a, &h, Scope::Respond).unwrap();
        assert_eq!(dana.name, "dana");
        let csrf = dana.csrf.clone().unwrap();
        assert!(csrf_ok(&dana, &csrf) && !csrf_ok(&dana, "") && !csrf_ok(&dana, "nope"));
        assert!(csrf_ok(&tool, ""), "bearer identities need no form token");
        assert_eq!(require_bearer(&a, &h, Scope::Respond).unwrap_err().status(), 401, "no cookies for the API");
        a.end_session(&h);
        assert_eq!(require(&a, &h, Scope::Read).unwrap_err().status(), 401, "logged out");
    }

    #[test]
    fn open_without_credentials_and_admin_implies_every_scope() {
        let a = auth(Vec::new(), Vec::new());
        let i = require(&a, &HeaderMap::new(), Scope::Respond).unwrap();
        assert_eq!((i.name.as_str(), i.kind), ("anonymous", IdentityKind::Anonymous));
        assert!(grants(&[Scope::Admin], Scope::Ingest));
        assert!(!grants(&[Scope::Read], Scope::Ingest));
    }

    #[test]
    fn failures_are_throttled_per_name_within_the_window() {
        let a = auth(Vec::new(), Vec::new());
        let t0 = Instant::now();
        for _ in 0..MAX_FAILURES {
            assert!(!a.throttled("dana", t0));
            a.record_failure("dana", t0);
        }
        assert!(a.throttled("dana", t0));
        assert!(!a.throttled("eve", t0));
        assert!(!a.throttled("dana", t0 + FAILURE_WINDOW));
    }

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password(&h, "correct horse"));
        assert!(!verify_password(&h, "wrong"));
        assert!(!verify_password("not a hash", "x"));
        assert!(!verify_password(decoy_hash(), ""));
    }
}
