//! What can go wrong loading, training or evaluating the tone model: typed, so that a
//! caller can tell an unreadable file from a malformed one; every message names the file.

use std::path::PathBuf;

/// A tone model error.
#[derive(Debug, thiserror::Error)]
pub enum ToneError {
    /// A weights file written by an older build (different features).
    #[error(
        "tone weights of an older format ({0}): the features changed since, retrain them with `crisiswatch tone-train`"
    )]
    OldFormat(String),
    /// Not a weights file.
    #[error("not a crisiswatch tone weights file (bad magic)")]
    BadMagic,
    /// The language code in the header is not one we know.
    #[error("unknown language code")]
    UnknownLanguage,
    /// The header's hash size is out of range.
    #[error("weights claim {0} hash bits (8 to 24 expected)")]
    HashBits(u32),
    /// The file is cut or padded.
    #[error("expected {expected} bytes, found {found}")]
    Length {
        /// Bytes the header implies.
        expected: usize,
        /// Bytes present.
        found: usize,
    },
    /// A bad line in a labelled TSV file.
    #[error("line {line}: {reason}")]
    Tsv {
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// An error in a named file.
    #[error("{}: {source}", path.display())]
    In {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: Box<ToneError>,
    },
    /// A file could not be read.
    #[error("cannot read `{}`: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file or directory could not be written.
    #[error("cannot write `{}`: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A weights directory without weights.
    #[error("no `<lang>.bin` weights in `{}`", .0.display())]
    NoWeights(PathBuf),
    /// Nothing to train a language on.
    #[error("no training texts for `{0}`: without its public set, give --extra or --domain texts for it")]
    NoTrainingData(&'static str),
}

impl ToneError {
    /// This error, as found in `path`.
    pub fn in_file(self, path: impl Into<PathBuf>) -> Self {
        ToneError::In { path: path.into(), source: Box::new(self) }
    }
}
