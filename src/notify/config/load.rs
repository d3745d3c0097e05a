//! Validation and secret resolution in one call, for the service configuration and for
//! tests and benches that build settings from a TOML string.

use super::model::Notify;
use super::raw::NotifyConfig;
use super::secrets::{self, process_env};
use super::validate;
use crate::diag::{Diagnostic, Diagnostics, Source};
use crate::notify::render::Templates;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Validates `c` (from `src`) and resolves its secrets from `env`.
///
/// # Errors
/// Every problem of validation, or else every missing secret.
pub fn from_raw(
    c: &NotifyConfig,
    src: &Source<'_>,
    listen: &str,
    env: &dyn Fn(&str) -> Option<String>,
    file: secrets::ReadFile<'_>,
) -> Result<Notify, Vec<Diagnostic>> {
    let mut v = validate::validate(c, src, listen)?;
    secrets::resolve(&mut v.notify, &v.secrets, src, env, file)?;
    v.notify.templates = templates(c, src)?;
    Ok(v.notify)
}

/// The email templates `c` names (`templates`), else those of `alerts/templates` when that
/// directory exists, else the built-in ones; each read, compiled and test-rendered.
///
/// # Errors
/// Every problem of every template file, positioned; a named directory that is not one.
pub fn templates(c: &NotifyConfig, src: &Source<'_>) -> Result<Arc<Templates>, Vec<Diagnostic>> {
    let dir = match &c.templates {
        Some(t) => {
            let dir = PathBuf::from(t.get_ref());
            if !dir.is_dir() {
                return Err(vec![
                    src.at(t.span(), format!("[notify] `templates`: `{}` is not a directory", t.get_ref()))
                ]);
            }
            dir
        }
        None => {
            let dir = PathBuf::from(DEFAULT_TEMPLATES);
            if !dir.is_dir() {
                return Ok(Arc::new(Templates::default()));
            }
            dir
        }
    };
    Templates::load_dir(&dir).map(Arc::new).map_err(|d| d.0)
}

/// Where the email templates are read from when `[notify] templates` is not given.
pub const DEFAULT_TEMPLATES: &str = "alerts/templates";

/// `[notify]`-level TOML text (the keys of the `[notify]` table) → settings, secrets from
/// the process environment.
///
/// # Errors
/// The TOML error, or every problem found.
pub fn from_toml_str(text: &str, listen: &str) -> Result<Notify, Diagnostics> {
    let path = Path::new("<notify>");
    let raw: NotifyConfig = toml::from_str(text)
        .map_err(|e| Diagnostics(vec![Diagnostic::at(path, text, e.span(), e.message().trim().to_string())]))?;
    from_raw(&raw, &Source { path, text }, listen, &process_env, &secrets::read_small_file).map_err(Diagnostics)
}
