//! What the commands load before they run: rules, playbooks, tone weights and JSON Lines
//! files, with the same defaults for every command.

use crate::alert::playbook::Playbooks;
use crate::diag::Diagnostics;
use crate::rules::{self, RuleSet};
use crate::tone::model::MultilingualTone;
use anyhow::Context;
use std::path::Path;
use std::sync::Arc;

/// Rules from `dir`, or the built-in defaults for every brand named in `brand` fields.
///
/// # Errors
/// Every diagnostic of every rule file.
pub fn rules(dir: Option<&Path>) -> Result<RuleSet, Diagnostics> {
    match dir {
        None => Ok(RuleSet::builtin()),
        Some(d) => rules::load_dir(d),
    }
}

/// Playbooks from `dir`, else the built-in ones (the same from any working directory).
///
/// # Errors
/// Every diagnostic of every playbook file.
pub fn playbooks(dir: Option<&Path>) -> Result<Option<Arc<Playbooks>>, Diagnostics> {
    match dir {
        Some(dir) => Playbooks::load_dir(dir).map(|p| Some(Arc::new(p))),
        None => Ok(Some(Arc::new(Playbooks::builtin()))),
    }
}

/// One line saying what a command runs with, e.g. `using rules: built-in defaults; playbooks:
/// built-in (8); templates: built-in; tone: built-in en, he, ar`, so nobody wonders whether a
/// directory on disk was read.
pub fn used(
    rules: Option<&Path>,
    playbooks: Option<&Path>,
    n_playbooks: usize,
    tone: &MultilingualTone,
    tone_dir: Option<&Path>,
) -> String {
    let rules = rules.map_or_else(
        || "built-in defaults (a brand for every `brand` field)".to_string(),
        |d| format!("`{}`", d.display()),
    );
    let books = playbooks.map_or_else(|| "built-in".to_string(), |d| format!("`{}`", d.display()));
    let langs = tone.languages();
    let tone = match tone_dir {
        None => format!("built-in {}", langs.join(", ")),
        Some(d) => format!("{} (built-in + `{}`)", langs.join(", "), d.display()),
    };
    format!("using rules: {rules}; playbooks: {books} ({n_playbooks}); templates: built-in; tone: {tone}")
}

/// The built-in tone weights, plus those in `dir`.
///
/// # Errors
/// When a weights file in `dir` cannot be read or is not a weights file.
pub fn tone(dir: Option<&Path>) -> anyhow::Result<MultilingualTone> {
    MultilingualTone::builtin_plus(dir).map_err(anyhow::Error::msg)
}

/// Every non-blank line of a JSON Lines file, parsed.
///
/// # Errors
/// When the file cannot be read, or a line does not parse (with its file:line).
pub fn jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<Vec<T>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).with_context(|| format!("{}:{}: invalid line", path.display(), i + 1)))
        .collect()
}
