//! The weights of one language: 2-byte quantised rows, calibration and threshold, the
//! binary file format (`CWTONE03`, [`ToneWeights::to_bytes`]), and scoring features into
//! calibrated probabilities.

use super::error::ToneError;
use super::features::*;
use super::label::*;
use crate::ingest::lang::Lang;

/// The weights as they are scored. Softmax does not change when the same amount is taken
/// from every class, so a row keeps only negative − neutral and positive − neutral, one
/// signed byte each with one scale per language; the bias row stays exact. 2 bytes a row
/// instead of 12, so the rows a post touches are far more often in cache; the rounding
/// moves a logit by about 0.01 and no test-set score by more than noise (model card).
#[derive(Debug, Clone)]
pub(super) struct Quantized {
    pub(super) rows: Vec<[i8; 2]>,
    pub(super) bits: u32,
    pub(super) scale: f32,
    pub(super) bias: [f32; 2],
}

impl Quantized {
    pub(super) fn new(weights: &[[f32; CLASSES]], bits: u32) -> Quantized {
        let bias_row = row(index(BIAS), bits);
        let diff = |w: &[f32; CLASSES]| [w[0] - w[1], w[2] - w[1]];
        let bias = weights.get(bias_row).map(diff).unwrap_or_default();
        let max = weights
            .iter()
            .enumerate()
            .filter(|&(k, _)| k != bias_row)
            .flat_map(|(_, w)| diff(w).map(f32::abs))
            .fold(0.0f32, f32::max);
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        let rows =
            weights
                .iter()
                .enumerate()
                .map(|(k, w)| {
                    if k == bias_row {
                        [0; 2]
                    } else {
                        diff(w).map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8)
                    }
                })
                .collect();
        Quantized { rows, bits, scale, bias }
    }
}

/// Sums the weights of the features as they are extracted.
pub(super) struct Logits<'a> {
    pub(super) weights: &'a Quantized,
    pub(super) sum: [i32; 2],
    pub(super) features: u32,
}

impl Logits<'_> {
    /// The class logits (neutral fixed at 0): the sum of the weights over √(features), so
    /// long posts are not more confident for their length alone.
    pub(super) fn logits(&self) -> [f32; CLASSES] {
        let norm = 1.0 / (self.features.max(1) as f32).sqrt();
        let q = self.weights;
        let z = [0, 1].map(|c| (self.sum[c] as f32 * q.scale + q.bias[c]) * norm);
        [z[0], 0.0, z[1]]
    }
}

impl FeatureSink for Logits<'_> {
    fn clear(&mut self) {
        self.sum = [0; 2];
        self.features = 0;
    }
    #[inline]
    fn add(&mut self, feature: u32) {
        if let Some(w) = self.weights.rows.get(row(feature, self.weights.bits)) {
            self.sum[0] += i32::from(w[0]);
            self.sum[1] += i32::from(w[1]);
        }
        self.features += 1;
    }
}

/// Trained weights of one language.
#[derive(Debug, Clone)]
pub struct ToneWeights {
    /// The language.
    pub lang: Lang,
    /// `weights[row][class]`, a power of two of rows (2^[`hash_bits`] when trained here).
    pub weights: Vec<[f32; CLASSES]>,
    /// Platt scaling of the negative logit: p = σ(a·z + b).
    pub platt: (f32, f32),
    /// Calibrated probability at or above which a text is negative (chosen on training data).
    pub threshold: f32,
    /// Negative F1 on the held-out seventh of the training data at `threshold` (after
    /// training; not stored in the file).
    pub held_out_f1: Option<f32>,
    /// In-domain texts (`tone-train --domain`) among the training data, as the file records
    /// it: an evaluation on those texts is then in-sample.
    pub domain_texts: u32,
    /// The weights as scored.
    pub(super) quantized: Quantized,
}

/// Logits of `f32` weights (training).
pub(super) fn exact_logits(weights: &[[f32; CLASSES]], features: &[u32]) -> [f32; CLASSES] {
    let bits = weights.len().trailing_zeros();
    let mut z = [0f32; CLASSES];
    for &f in features {
        if let Some(w) = weights.get(row(f, bits)) {
            for c in 0..CLASSES {
                z[c] += w[c];
            }
        }
    }
    let norm = 1.0 / (features.len().max(1) as f32).sqrt();
    z.map(|x| x * norm)
}

pub(super) fn softmax(z: [f32; CLASSES]) -> [f32; CLASSES] {
    let m = z.iter().copied().fold(f32::MIN, f32::max);
    let e = z.map(|x| (x - m).exp());
    let s: f32 = e.iter().sum();
    e.map(|x| x / s)
}

impl ToneWeights {
    /// From trained `f32` weights (quantised for scoring here).
    pub(super) fn new(lang: Lang, weights: Vec<[f32; CLASSES]>, platt: (f32, f32), threshold: f32) -> ToneWeights {
        let quantized = Quantized::new(&weights, weights.len().trailing_zeros());
        ToneWeights { lang, weights, platt, threshold, held_out_f1: None, domain_texts: 0, quantized }
    }

    /// Logits as scored (quantised weights).
    pub(super) fn logits(&self, features: &[u32]) -> [f32; CLASSES] {
        let mut sink = Logits { weights: &self.quantized, sum: [0; 2], features: 0 };
        for &f in features {
            sink.add(f);
        }
        sink.logits()
    }

    /// Calibrated probability of negative, and the label.
    pub fn predict(&self, features: &[u32]) -> (f32, Label) {
        self.calibrate(self.logits(features))
    }

    /// Extracts the features of `text` and scores them as they are extracted.
    pub fn judge(&self, fz: &mut Featurizer, text: &str) -> (f32, Label) {
        let mut sink = Logits { weights: &self.quantized, sum: [0; 2], features: 0 };
        fz.extract_into(text, self.lang, &mut sink);
        self.calibrate(sink.logits())
    }

    pub(super) fn calibrate(&self, logits: [f32; CLASSES]) -> (f32, Label) {
        let p = softmax(logits);
        let raw = p[0].clamp(1e-6, 1.0 - 1e-6);
        let z = (raw / (1.0 - raw)).ln();
        let cal = 1.0 / (1.0 + (-(self.platt.0 * z + self.platt.1)).exp());
        let label = if cal >= self.threshold {
            Label::Negative
        } else if p[2] > p[1] {
            Label::Positive
        } else {
            Label::Neutral
        };
        (cal, label)
    }

    /// Serialises: magic, language, hash bits, in-domain training texts, Platt a/b,
    /// threshold, then the weights as little-endian f32.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + self.weights.len() * 4);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(self.lang.code().as_bytes());
        out.extend_from_slice(&self.quantized.bits.to_le_bytes());
        out.extend_from_slice(&self.domain_texts.to_le_bytes());
        for x in [self.platt.0, self.platt.1, self.threshold] {
            out.extend_from_slice(&x.to_le_bytes());
        }
        for w in self.weights.iter().flatten() {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out
    }

    /// Reads what [`ToneWeights::to_bytes`] wrote.
    ///
    /// # Errors
    /// [`ToneError`] saying what is wrong with the file.
    pub fn from_bytes(b: &[u8]) -> Result<ToneWeights, ToneError> {
        if b.starts_with(b"CWTONE0") && !b.starts_with(MAGIC) {
            return Err(ToneError::OldFormat(String::from_utf8_lossy(&b[..8.min(b.len())]).into_owned()));
        }
        if b.len() < HEADER || &b[..8] != MAGIC {
            return Err(ToneError::BadMagic);
        }
        let lang = std::str::from_utf8(&b[8..10]).ok().and_then(Lang::from_code).ok_or(ToneError::UnknownLanguage)?;
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let f32_at = |i: usize| f32::from_bits(u32_at(i));
        let bits = u32_at(10);
        if !(8..=24).contains(&bits) {
            return Err(ToneError::HashBits(bits));
        }
        let n = (1usize << bits) * CLASSES;
        if b.len() != HEADER + n * 4 {
            return Err(ToneError::Length { expected: HEADER + n * 4, found: b.len() });
        }
        let weights = (0..n / CLASSES).map(|k| [0, 1, 2].map(|c| f32_at(HEADER + 4 * (k * CLASSES + c)))).collect();
        let mut w = ToneWeights::new(lang, weights, (f32_at(18), f32_at(22)), f32_at(26));
        w.domain_texts = u32_at(14);
        Ok(w)
    }
}

/// Weights file magic: `CWTONE03` since the lexicon features cover every language and the
/// header records the in-domain training texts.
pub(super) const MAGIC: &[u8; 8] = b"CWTONE03";
/// Magic, language code, hash bits, in-domain texts, Platt a and b, threshold.
pub(super) const HEADER: usize = 8 + 2 + 4 + 4 + 3 * 4;
