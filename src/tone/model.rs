//! [`MultilingualTone`]: the built-in model as the engine uses it: language identification,
//! then the weights of that language (all five compiled in; others from a directory).

use super::error::ToneError;
use super::features::*;
use super::label::*;
use super::weights::*;
use crate::ingest::lang::{detect, Lang};
use crate::tone::ToneModel;

/// Tone models for the languages whose weights are loaded; implements [`ToneModel`].
#[derive(Debug, Default)]
pub struct MultilingualTone {
    pub(super) models: Vec<ToneWeights>,
}

impl MultilingualTone {
    /// The codes of the languages it has weights for, in load order.
    pub fn languages(&self) -> Vec<&'static str> {
        self.models.iter().map(|m| m.lang.code()).collect()
    }
}

/// Weights compiled in, all five languages: English, Hebrew and Arabic (MIT/Apache-2.0/
/// CC BY training data and the project's own texts), Persian (the project's own texts
/// only: its public set is non-commercial, so the model trained on it stays opt-in,
/// `share-alike/fa.bin` with `--models`), and Russian (CC BY-SA 3.0 training data: the
/// weights file carries that licence, attributed in `NOTICE`; share-alike does not stop it
/// being loaded by default).
pub(super) const BUILTIN: &[&[u8]] = &[
    include_bytes!("weights/en.bin"),
    include_bytes!("weights/he.bin"),
    include_bytes!("weights/ar.bin"),
    include_bytes!("weights/fa.bin"),
    include_bytes!("weights/share-alike/ru.bin"),
];

thread_local! {
    static SCRATCH: std::cell::RefCell<Featurizer> = std::cell::RefCell::new(Featurizer::default());
}

impl MultilingualTone {
    /// From weights.
    pub fn new(models: Vec<ToneWeights>) -> Self {
        MultilingualTone { models }
    }

    /// The weights of every loaded language.
    pub fn weights(&self) -> &[ToneWeights] {
        &self.models
    }

    /// Loads every `<lang>.bin` in `dir`.
    ///
    /// # Errors
    /// An unreadable or malformed weights file, named.
    pub fn load_dir(dir: &std::path::Path) -> Result<Self, ToneError> {
        let mut models = Vec::new();
        for lang in Lang::ALL {
            let path = dir.join(format!("{}.bin", lang.code()));
            match std::fs::read(&path) {
                Ok(bytes) => models.push(ToneWeights::from_bytes(&bytes).map_err(|e| e.in_file(&path))?),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(ToneError::Read { path, source }),
            }
        }
        if models.is_empty() {
            return Err(ToneError::NoWeights(dir.to_path_buf()));
        }
        Ok(MultilingualTone { models })
    }

    /// The weights built into the binary: the languages whose training data is under
    /// permissive terms (see `src/tone/weights/README.md`).
    pub fn builtin() -> Self {
        let models = BUILTIN.iter().filter_map(|b| ToneWeights::from_bytes(b).ok()).collect();
        MultilingualTone { models }
    }

    /// The built-in weights plus every `<lang>.bin` in `dir` (which win for their language),
    /// e.g. `src/tone/weights/share-alike` for Persian and Russian.
    ///
    /// # Errors
    /// As [`MultilingualTone::load_dir`].
    pub fn builtin_plus(dir: Option<&std::path::Path>) -> Result<Self, ToneError> {
        let mut all = Self::builtin();
        if let Some(d) = dir {
            for w in Self::load_dir(d)?.models {
                all.models.retain(|m| m.lang != w.lang);
                all.models.push(w);
            }
        }
        Ok(all)
    }

    /// Calibrated negative probability with the language detected (bench helper).
    pub fn p_negative_detected(&self, text: &str) -> Option<f32> {
        self.judge(text, None).map(|(_, p, _)| p)
    }

    /// Language (given or detected), calibrated negative probability and label.
    pub fn judge(&self, text: &str, lang: Option<&str>) -> Option<(Lang, f32, Label)> {
        let lang = lang.and_then(Lang::from_code).or_else(|| detect(text))?;
        let model = self.models.iter().find(|m| m.lang == lang)?;
        SCRATCH.with(|s| {
            let (p, label) = model.judge(&mut s.borrow_mut(), text);
            Some((lang, p, label))
        })
    }
}

impl ToneModel for MultilingualTone {
    fn p_negative(&self, text: &str, lang: Option<&str>) -> Option<f32> {
        self.judge(text, lang).map(|(_, p, _)| p)
    }
}
