//! Validation and secret resolution in one call, for the service configuration and for
//! tests and benches that build settings from a TOML string.

use super::model::Notify;
use super::raw::NotifyConfig;
use super::secrets::{self, process_env};
use super::validate;
use crate::diag::{Diagnostic, Diagnostics, Source};
use std::path::Path;

/// Validates `c` (from `src`) and resolves its secrets from `env`.
///
/// # Errors
/// Every problem of validation, or else every missing secret.
pub fn from_raw(
    c: &NotifyConfig,
    src: &Source<'_>,
    listen: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Notify, Vec<Diagnostic>> {
    let mut v = validate::validate(c, src, listen)?;
    secrets::resolve(&mut v.notify, &v.secrets, src, env)?;
    Ok(v.notify)
}

/// `[notify]`-level TOML text (the keys of the `[notify]` table) → settings, secrets from
/// the process environment.
///
/// # Errors
/// The TOML error, or every problem found.
pub fn from_toml_str(text: &str, listen: &str) -> Result<Notify, Diagnostics> {
    let path = Path::new("<notify>");
    let raw: NotifyConfig = toml::from_str(text)
        .map_err(|e| Diagnostics(vec![Diagnostic::at(path, text, e.span(), e.message().trim().to_string())]))?;
    from_raw(&raw, &Source { path, text }, listen, &process_env).map_err(Diagnostics)
}
