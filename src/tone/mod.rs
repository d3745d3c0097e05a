//! Tone: whether a mention counts as negative. A provider `sentiment` wins when present;
//! otherwise a [`ToneModel`] may judge the text. `replay` and `serve` give the engine the
//! built-in [`crate::tone::model::MultilingualTone`]; an engine built without one (library
//! use, tests) runs with [`NoToneModel`], so only mentions with a provider sentiment count
//! towards the tone rules (the others are counted, untoned).

pub mod domain;
pub mod error;
pub mod eval;
pub mod example;
pub mod features;
#[cfg(test)]
mod fixture_tests;
pub mod label;
pub mod model;
#[cfg(test)]
mod model_tests;
pub mod train;
pub mod weights;

pub use error::ToneError;
pub use eval::{eval_dir, EvalRow, Scores};
pub use example::{read_tsv, Example};
pub use features::{FeatureSink, Featurizer};
pub use label::Label;
pub use model::MultilingualTone;
pub use train::{train, train_dir, ExtraSet, Extras, Trained};
pub use weights::ToneWeights;

use crate::ingest::Mention;

/// A model of the probability that a post is negative.
pub trait ToneModel: Send + Sync {
    /// Probability in [0, 1] that `text` (in `lang`, when known) is negative, or `None` when
    /// the model cannot judge it (unsupported language, empty text).
    fn p_negative(&self, text: &str, lang: Option<&str>) -> Option<f32>;

    /// Whether `text` counts as negative in the windows, with its probability: at a calibrated
    /// p ≥ 0.5 ("more likely negative than not"). The `tone` command's labels use the
    /// F1-optimal threshold per language instead, which is lower; counting with it raised
    /// false alarms tenfold on simulated streams.
    fn negative(&self, text: &str, lang: Option<&str>) -> Option<(f32, bool)> {
        self.p_negative(text, lang).map(|p| (p, p >= 0.5))
    }
}

/// No model: every mention without a provider sentiment stays untoned.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoToneModel;

impl ToneModel for NoToneModel {
    fn p_negative(&self, _text: &str, _lang: Option<&str>) -> Option<f32> {
        None
    }
}

/// Where a mention's tone came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToneSource {
    /// The listening tool's `sentiment` field.
    Provider,
    /// The tone model.
    Model,
}

/// The tone of one mention: `None` when unknown, else whether it is negative and why.
pub fn judge(m: &Mention<'_>, sentiment_threshold: f64, model: &dyn ToneModel) -> Option<(bool, ToneSource)> {
    if let Some(s) = m.raw.sentiment {
        return Some((s < sentiment_threshold, ToneSource::Provider));
    }
    let (_, negative) = model.negative(&m.raw.text, m.raw.lang.as_deref())?;
    Some((negative, ToneSource::Model))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::parse_line;

    struct Keyword;
    impl ToneModel for Keyword {
        fn p_negative(&self, text: &str, _lang: Option<&str>) -> Option<f32> {
            Some(if text.contains("down") { 0.9 } else { 0.1 })
        }
    }

    #[test]
    fn provider_sentiment_wins_then_the_model_then_unknown() {
        let with =
            parse_line(br#"{"id":"1","ts":"2026-01-01T00:00:00Z","text":"all good","sentiment":-0.9}"#, 4096).unwrap();
        let without = parse_line(br#"{"id":"2","ts":"2026-01-01T00:00:00Z","text":"app is down"}"#, 4096).unwrap();
        assert_eq!(judge(&with, -0.25, &Keyword), Some((true, ToneSource::Provider)));
        assert_eq!(judge(&without, -0.25, &Keyword), Some((true, ToneSource::Model)));
        assert_eq!(judge(&without, -0.25, &NoToneModel), None);
    }
}
