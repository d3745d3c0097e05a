//! The step after validation that reads secrets: API tokens from environment variables or
//! files (and `CRISISWATCH_API_TOKENS`), then the notify section's. Only here does the
//! configuration touch the environment and the filesystem. The loopback rule (no tokens:
//! loopback only) is checked here, once the tokens are known.

use super::model::{ApiToken, ServeConfig};
use super::validate::{TokenFrom, TokenSlot};
use crate::diag::{Diagnostic, Source};
use crate::notify::config::secrets::SecretSlot;

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
        Env { var: &|v| std::env::var(v).ok(), file: &|p| std::fs::read_to_string(p) }
    }
}

/// Fills `cfg`'s tokens and notify secrets.
///
/// # Errors
/// Every missing or empty secret, at the place that names it; a non-loopback listen
/// address without any token.
pub fn resolve(
    cfg: &mut ServeConfig,
    tokens: &[TokenSlot],
    notify: &[SecretSlot],
    src: &Source<'_>,
    env: &Env<'_>,
) -> Result<(), Vec<Diagnostic>> {
    let mut errs = Vec::new();
    for t in tokens {
        match &t.from {
            TokenFrom::Env(var) => match (env.var)(var) {
                Some(v) if !v.trim().is_empty() => {
                    cfg.tokens.push(ApiToken { name: t.name.clone(), secret: v.trim().as_bytes().to_vec() })
                }
                _ => errs.push(src.at(
                    t.span.clone(),
                    format!("token `{}`: environment variable `{var}` is not set or empty", t.name),
                )),
            },
            TokenFrom::File(p) => match (env.file)(p) {
                Ok(v) if !v.trim().is_empty() => cfg.tokens.push(ApiToken {
                    name: t.name.clone(),
                    secret: v.lines().next().unwrap_or("").trim().as_bytes().to_vec(),
                }),
                Ok(_) => {
                    errs.push(src.at(t.span.clone(), format!("token `{}`: file `{}` is empty", t.name, p.display())))
                }
                Err(e) => {
                    errs.push(src.at(t.span.clone(), format!("token `{}`: cannot read `{}`: {e}", t.name, p.display())))
                }
            },
        }
    }
    if let Some(list) = (env.var)("CRISISWATCH_API_TOKENS") {
        for (i, t) in list.split(',').map(str::trim).filter(|t| !t.is_empty()).enumerate() {
            cfg.tokens.push(ApiToken { name: format!("env-{}", i + 1), secret: t.as_bytes().to_vec() });
        }
    }
    if cfg.tokens.is_empty() && !cfg.listen.ip().is_loopback() {
        errs.push(Diagnostic::file(
            src.path,
            format!(
                "refusing to listen on non-loopback address {} without API tokens \
                 (configure [[tokens]] or set CRISISWATCH_API_TOKENS)",
                cfg.listen
            ),
        ));
    }
    if let Err(list) = crate::notify::config::secrets::resolve(&mut cfg.notify, notify, src, env.var) {
        errs.extend(list);
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs)
    }
}
