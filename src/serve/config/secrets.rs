//! The step after validation that reads secrets: API tokens and users' credentials from
//! environment variables or files (and `CRISISWATCH_API_TOKENS`, whose tokens get the
//! default scopes `ingest` and `read`), the link signing key, then the notify section's. Only here does the
//! configuration touch the environment and the filesystem. The loopback rule (no tokens
//! and no users: loopback only) is checked here, once the tokens are known.

use super::model::{ApiToken, Credential, Scope, ServeConfig, User};
use super::validate::{check_password_hash, CredentialFrom, TokenFrom, Validated};
use crate::diag::{Diagnostic, Source};

/// What the secrets are read from: the process environment and filesystem, or a test's.
pub struct Env<'a> {
    /// An environment variable's value.
    pub var: &'a dyn Fn(&str) -> Option<String>,
    /// A file's contents.
    pub file: &'a dyn Fn(&std::path::Path) -> std::io::Result<String>,
}

impl Env<'static> {
    /// The process environment and the real filesystem.
    pub fn process() -> Self {
        Env { var: &|v| std::env::var(v).ok(), file: &crate::notify::config::secrets::read_small_file }
    }
}

/// Reads one secret: the variable's value or the file's first line, trimmed.
///
/// # Errors
/// Why it could not be read (`environment variable `X` is not set or empty`, ...).
fn read(from: &TokenFrom, env: &Env<'_>) -> Result<String, String> {
    match from {
        TokenFrom::Env(var) => match crate::notify::config::secrets::env_or_file(var, env.var, env.file) {
            Ok(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
            Err(Some(why)) => Err(why),
            _ => Err(format!("environment variable `{var}` is not set or empty (nor `{var}_FILE`, a file holding it)")),
        },
        TokenFrom::File(p) => match (env.file)(p) {
            Ok(v) if !v.trim().is_empty() => Ok(v.lines().next().unwrap_or("").trim().to_string()),
            Ok(_) => Err(format!("file `{}` is empty", p.display())),
            Err(e) => Err(format!("cannot read `{}`: {e}", p.display())),
        },
    }
}

/// Fills `cfg`'s tokens, users, link key and notify secrets.
///
/// # Errors
/// Every missing or empty secret, at the place that names it; a non-loopback listen
/// address without any token or user.
pub fn resolve(cfg: &mut ServeConfig, v: &Validated, src: &Source<'_>, env: &Env<'_>) -> Result<(), Vec<Diagnostic>> {
    let mut errs = Vec::new();
    for t in &v.tokens {
        match read(&t.from, env) {
            Ok(secret) => cfg.tokens.push(ApiToken {
                name: t.name.clone(),
                secret: secret.into_bytes(),
                scopes: t.scopes.clone(),
            }),
            Err(e) => errs.push(src.at(t.span.clone(), format!("token `{}`: {e}", t.name))),
        }
    }
    if let Some(list) = (env.var)("CRISISWATCH_API_TOKENS") {
        for (i, t) in list.split(',').map(str::trim).filter(|t| !t.is_empty()).enumerate() {
            cfg.tokens.push(ApiToken {
                name: format!("env-{}", i + 1),
                secret: t.as_bytes().to_vec(),
                scopes: vec![Scope::Ingest, Scope::Read],
            });
        }
    }
    for u in &v.users {
        let credential = match &u.from {
            CredentialFrom::Hash(h) => Ok(Credential::PasswordHash(h.clone())),
            CredentialFrom::HashFrom(from) => read(from, env).and_then(|h| {
                check_password_hash(&h).map_err(|e| format!("the password hash it holds: {e}"))?;
                Ok(Credential::PasswordHash(h))
            }),
            CredentialFrom::TokenFrom(from) => read(from, env).map(|t| Credential::Token(t.into_bytes())),
        };
        match credential {
            Ok(credential) => cfg.users.push(User { name: u.name.clone(), role: u.role, credential }),
            Err(e) => errs.push(src.at(u.span.clone(), format!("user `{}`: {e}", u.name))),
        }
    }
    if let Some((from, span)) = &v.link_key {
        match read(from, env) {
            Ok(k) if k.len() >= 32 => cfg.links.secret = Some(k.into_bytes()),
            Ok(_) => errs.push(src.at(span.clone(), "[links]: the signing key must be at least 32 bytes")),
            Err(e) => errs.push(src.at(span.clone(), format!("[links]: {e}"))),
        }
    }
    for t in &v.source_tokens {
        match (read(&t.from, env), cfg.sources.get_mut(t.index)) {
            (Ok(token), Some(s)) => s.token = Some(token),
            (Err(e), Some(s)) => errs.push(src.at(t.span.clone(), format!("source `{}`: {e}", s.name))),
            (_, None) => {}
        }
    }
    if cfg.tokens.is_empty() && cfg.users.is_empty() && !cfg.listen.ip().is_loopback() {
        errs.push(Diagnostic::file(
            src.path,
            format!(
                "refusing to listen on non-loopback address {} without API tokens or users \
                 (configure [[tokens]] or [[users]], or set CRISISWATCH_API_TOKENS)",
                cfg.listen
            ),
        ));
    }
    if let Err(list) =
        crate::notify::config::secrets::resolve(&mut cfg.notify, &v.notify_secrets, src, env.var, env.file)
    {
        errs.extend(list);
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs)
    }
}
