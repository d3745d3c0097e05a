//! Labelled data as the trainer and the evaluation read it: TSV examples and word lexicons.

use super::error::ToneError;
use super::features::*;
use super::label::*;
use crate::ingest::lang::Lang;
use crate::ingest::normalize::normalize_into;
use std::collections::HashMap;

/// One labelled text, as features.
#[derive(Debug, Clone)]
pub struct Example {
    pub(crate) features: Vec<u32>,
    pub(crate) label: Label,
    /// How many texts this one counts as in training and calibration (1 for the public
    /// sets; more for the in-domain seed set, see `tone_domain`).
    pub(crate) weight: f32,
}

/// Reads `label\ttext` TSV (header `label\ttext`) and extracts features.
///
/// # Errors
/// A line without a valid label, with its number.
pub fn read_tsv(text: &str, lang: Lang) -> Result<Vec<Example>, ToneError> {
    let mut fz = Featurizer::default();
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if i == 0 && line.starts_with("label\t") {
            continue;
        }
        let Some((label, body)) = line.split_once('\t') else {
            return Err(ToneError::Tsv { line: i + 1, reason: "expected `label<TAB>text`".into() });
        };
        let label = Label::parse(label)
            .ok_or_else(|| ToneError::Tsv { line: i + 1, reason: format!("unknown label `{label}`") })?;
        fz.extract(body, lang);
        out.push(Example { features: fz.features.clone(), label, weight: 1.0 });
    }
    Ok(out)
}

/// Reads a lexicon file: `word<TAB>score…` (VADER, AFINN) or one word per line with a fixed
/// polarity (Chen–Skiena lists).
pub fn read_lexicon(text: &str, fixed: Option<f32>, into: &mut HashMap<String, f32>) {
    let mut norm = String::new();
    for line in text.lines() {
        let mut cols = line.split('\t');
        let Some(word) = cols.next().map(str::trim).filter(|w| !w.is_empty()) else { continue };
        let value = match fixed {
            Some(v) => v,
            None => match cols.next().and_then(|v| v.trim().parse::<f32>().ok()) {
                Some(v) => v,
                None => continue,
            },
        };
        normalize_into(word, &mut norm);
        into.insert(norm.clone(), value);
    }
}
