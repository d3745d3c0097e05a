//! The built-in tone model: per language, a multinomial logistic regression (negative,
//! neutral, positive) over hashed features of the normalised text: word unigrams and
//! bigrams, word prefixes (a crude stem for Hebrew, Arabic, Persian and Russian morphology),
//! emoji and emoticons, with negation marking (the three words after "not", "לא", "نه", "не",
//! "لا" … carry a negated feature). The negative probability is calibrated on held-out
//! training data (Platt scaling) and the negative threshold is chosen there too; the test
//! split is only ever used to report.
//!
//! Weights are trained by [`train`] (deterministic: fixed seed and order) and stored in a
//! compact binary file per language ([`ToneWeights::to_bytes`]).

use crate::lang::{detect, Lang};
use crate::normalize::{is_word_char, normalize_into};
use crate::tone::ToneModel;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::collections::HashMap;

/// Classes, in weight order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Label {
    /// Negative tone.
    Negative = 0,
    /// Neither.
    Neutral = 1,
    /// Positive tone.
    Positive = 2,
}

impl Label {
    /// Parses `negative` / `neutral` / `positive`.
    pub fn parse(s: &str) -> Option<Label> {
        match s.trim() {
            "negative" => Some(Label::Negative),
            "neutral" => Some(Label::Neutral),
            "positive" => Some(Label::Positive),
            _ => None,
        }
    }
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Label::Negative => "negative",
            Label::Neutral => "neutral",
            Label::Positive => "positive",
        }
    }
    const ALL: [Label; 3] = [Label::Negative, Label::Neutral, Label::Positive];
}

const CLASSES: usize = 3;
/// Hash space per language: 2^17 features × 3 classes × 4 bytes = 1.5 MiB.
pub const HASH_BITS: u32 = 17;
const NEG_SALT: u64 = 0x9e37_79b9_7f4a_7c15;
const BIGRAM_SALT: u64 = 0xc2b2_ae3d_27d4_eb4f;
const PREFIX_SALT: u64 = 0x1656_67b1_9e37_79f9;
const NEGATION_SCOPE: u8 = 3;
const CHAR_SALT: u64 = 0x27d4_eb2f_1656_67c5;
const LEX_SALT: u64 = 0x85eb_ca77_c2b2_ae63;

/// Word hash → rounded valence (−4..4) from the VADER lexicon (MIT, shipped with its licence
/// in `src/tone_weights/`), for English.
fn lexicon_valence(lang: Lang, word_hash: u64) -> Option<i8> {
    use std::sync::OnceLock;
    static EN: OnceLock<HashMap<u64, i8>> = OnceLock::new();
    if lang != Lang::En {
        return None;
    }
    let table = EN.get_or_init(|| {
        let mut m = HashMap::new();
        let mut norm = String::new();
        for line in include_str!("tone_weights/vader_lexicon.txt").lines() {
            let mut cols = line.split('\t');
            let (Some(w), Some(v)) = (cols.next(), cols.next().and_then(|v| v.parse::<f32>().ok())) else { continue };
            normalize_into(w, &mut norm);
            let r = v.round() as i8;
            if r != 0 {
                m.insert(fnv(norm.as_bytes(), 0), r);
            }
        }
        m
    });
    table.get(&word_hash).copied()
}

/// Hashes of the negation words of `lang` (compared with each word's hash).
fn negators(lang: Lang) -> &'static [u64] {
    use std::sync::OnceLock;
    static HASHES: OnceLock<Vec<Vec<u64>>> = OnceLock::new();
    let all = HASHES.get_or_init(|| {
        let mut norm = String::new();
        Lang::ALL
            .iter()
            .map(|&l| {
                negator_words(l)
                    .iter()
                    .map(|w| {
                        normalize_into(w, &mut norm);
                        fnv(norm.as_bytes(), 0)
                    })
                    .collect()
            })
            .collect()
    });
    &all[Lang::ALL.iter().position(|&l| l == lang).unwrap_or(0)]
}

fn negator_words(lang: Lang) -> &'static [&'static str] {
    match lang {
        Lang::En => &[
            "not", "no", "never", "dont", "don", "doesn", "didn", "isn", "wasn", "aren", "won", "can", "cannot",
            "nothing", "nobody", "without", "t",
        ],
        Lang::He => &["לא", "אין", "בלי", "אף", "מעולם"],
        Lang::Fa => &["نه", "نمي", "نيست", "هرگز", "بدون", "هيچ"],
        Lang::Ru => &["не", "нет", "ни", "никогда", "без", "ничего"],
        Lang::Ar => &["لا", "لم", "لن", "ليس", "ما", "بدون", "غير", "مش"],
    }
}

fn fnv(bytes: &[u8], seed: u64) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A cheap 64-bit mixer for combining hashes.
fn mix(x: u64) -> u64 {
    let x = x.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^ (x >> 29)
}

fn is_emoji(c: char) -> bool {
    matches!(c, '\u{1F300}'..='\u{1FAFF}' | '\u{2600}'..='\u{27BF}' | '\u{2B50}')
}

/// Reusable scratch space for feature extraction (no allocation once warm).
#[derive(Debug, Default)]
pub struct Featurizer {
    norm: String,
    /// Feature indices of the last text.
    pub features: Vec<u32>,
}

impl Featurizer {
    /// Extracts the hashed features of `text` in `lang` into `self.features`.
    pub fn extract(&mut self, text: &str, lang: Lang) {
        self.features.clear();
        normalize_into(text, &mut self.norm);
        let mask = (1u64 << HASH_BITS) - 1;
        let mut prev: u64 = 0x5eed;
        let mut neg_left = 0u8;
        let norm = self.norm.as_str();
        let push = |h: u64, feats: &mut Vec<u32>| feats.push((h & mask) as u32);
        push(fnv(b"<bias>", 0), &mut self.features);
        let bytes = norm.as_bytes();
        let mut i = 0;
        while i < norm.len() {
            let c = norm[i..].chars().next().unwrap_or(' ');
            let clen = c.len_utf8();
            if is_word_char(c) {
                let start = i;
                while i < norm.len() {
                    let d = norm[i..].chars().next().unwrap_or(' ');
                    if !is_word_char(d) {
                        break;
                    }
                    i += d.len_utf8();
                }
                let word = &norm[start..i];
                let negated = neg_left > 0;
                neg_left = neg_left.saturating_sub(1);
                let salt = if negated { NEG_SALT } else { 0 };
                let base = fnv(word.as_bytes(), 0);
                let h = if negated { mix(base ^ NEG_SALT) } else { base };
                push(h, &mut self.features);
                if let Some(v) = lexicon_valence(lang, base) {
                    // the lexicon's polarity and strength, flipped side under negation
                    let class: u64 = match (v >= 0, v.unsigned_abs() >= 2) {
                        (true, false) => 1,
                        (true, true) => 2,
                        (false, false) => 3,
                        (false, true) => 4,
                    };
                    push(mix(class ^ LEX_SALT ^ salt), &mut self.features);
                }
                push(mix(h ^ prev.rotate_left(17) ^ BIGRAM_SALT), &mut self.features);
                prev = h;
                if word.len() > 5 && word.chars().nth(5).is_some() {
                    let cut = word.char_indices().nth(4).map_or(word.len(), |(k, _)| k);
                    push(fnv(&word.as_bytes()[..cut], PREFIX_SALT ^ salt), &mut self.features);
                }
                // character 4-grams inside words: inflections and spelling variants of Hebrew,
                // Arabic, Persian and Russian (English gains nothing from them here)
                if lang != Lang::En {
                    let mut last = [0u64; 4];
                    let mut seen = 0usize;
                    for ch in word.chars() {
                        last = [last[1], last[2], last[3], u64::from(ch)];
                        seen += 1;
                        if seen >= 4 {
                            let g = ((last[0] * 0x1_0003 + last[1]) * 0x1_0003 + last[2]) * 0x1_0003 + last[3];
                            push(mix(g ^ CHAR_SALT ^ salt), &mut self.features);
                        }
                    }
                }
                if negators(lang).contains(&base) {
                    neg_left = NEGATION_SCOPE;
                }
                continue;
            }
            if is_emoji(c) {
                push(fnv(&bytes[i..i + clen], 0x0e0e), &mut self.features);
            } else if matches!(c, ':' | ';' | '=') {
                // emoticons: :) :( :-) :-( ;) :d =)
                let rest = &norm[i + 1..];
                let rest = rest.strip_prefix('-').unwrap_or(rest);
                if let Some(m) = rest.chars().next().filter(|m| matches!(m, ')' | '(' | 'd' | 'p' | '/' | '*')) {
                    let mut buf = [0u8; 4];
                    push(fnv(m.encode_utf8(&mut buf).as_bytes(), 0xe0e0), &mut self.features);
                }
            } else if matches!(c, '.' | '!' | '?' | ',' | ';') {
                neg_left = 0;
            }
            i += clen;
        }
    }
}

/// Trained weights of one language.
#[derive(Debug, Clone)]
pub struct ToneWeights {
    /// The language.
    pub lang: Lang,
    /// `w[feature * 3 + class]`.
    pub weights: Vec<f32>,
    /// Platt scaling of the negative logit: p = σ(a·z + b).
    pub platt: (f32, f32),
    /// Calibrated probability at or above which a text is negative (chosen on training data).
    pub threshold: f32,
}

fn softmax(z: [f32; CLASSES]) -> [f32; CLASSES] {
    let m = z.iter().copied().fold(f32::MIN, f32::max);
    let e = z.map(|x| (x - m).exp());
    let s: f32 = e.iter().sum();
    e.map(|x| x / s)
}

impl ToneWeights {
    fn logits(&self, features: &[u32]) -> [f32; CLASSES] {
        let mut z = [0f32; CLASSES];
        let scale = 1.0 / (features.len() as f32).sqrt();
        for &f in features {
            let base = f as usize * CLASSES;
            if let Some(w) = self.weights.get(base..base + CLASSES) {
                for c in 0..CLASSES {
                    z[c] += w[c] * scale;
                }
            }
        }
        z
    }

    /// Calibrated probability of negative, and the label.
    pub fn predict(&self, features: &[u32]) -> (f32, Label) {
        let p = softmax(self.logits(features));
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

    /// Serialises: magic, language, hash bits, Platt a/b, threshold, then the weights as
    /// little-endian f32.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + self.weights.len() * 4);
        out.extend_from_slice(b"CWTONE01");
        out.extend_from_slice(self.lang.code().as_bytes());
        out.extend_from_slice(&HASH_BITS.to_le_bytes());
        for x in [self.platt.0, self.platt.1, self.threshold] {
            out.extend_from_slice(&x.to_le_bytes());
        }
        for w in &self.weights {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out
    }

    /// Reads what [`ToneWeights::to_bytes`] wrote.
    ///
    /// # Errors
    /// A message saying what is wrong with the file.
    pub fn from_bytes(b: &[u8]) -> Result<ToneWeights, String> {
        if b.len() < 26 || &b[..8] != b"CWTONE01" {
            return Err("not a crisiswatch tone weights file (bad magic)".into());
        }
        let lang = std::str::from_utf8(&b[8..10]).ok().and_then(Lang::from_code).ok_or("unknown language code")?;
        let f32_at = |i: usize| f32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let bits = u32::from_le_bytes([b[10], b[11], b[12], b[13]]);
        if bits != HASH_BITS {
            return Err(format!("weights use {bits} hash bits, this build {HASH_BITS}"));
        }
        let n = (1usize << bits) * CLASSES;
        if b.len() != 26 + n * 4 {
            return Err(format!("expected {} bytes, found {}", 26 + n * 4, b.len()));
        }
        let weights = (0..n).map(|k| f32_at(26 + 4 * k)).collect();
        Ok(ToneWeights { lang, weights, platt: (f32_at(14), f32_at(18)), threshold: f32_at(22) })
    }
}

/// One labelled text, as features.
pub struct Example {
    features: Vec<u32>,
    label: Label,
}

/// Reads `label\ttext` TSV (header `label\ttext`) and extracts features.
///
/// # Errors
/// A line without a valid label, with its number.
pub fn read_tsv(text: &str, lang: Lang) -> Result<Vec<Example>, String> {
    let mut fz = Featurizer::default();
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if i == 0 && line.starts_with("label\t") {
            continue;
        }
        let Some((label, body)) = line.split_once('\t') else {
            return Err(format!("line {}: expected `label<TAB>text`", i + 1));
        };
        let label = Label::parse(label).ok_or_else(|| format!("line {}: unknown label `{label}`", i + 1))?;
        fz.extract(body, lang);
        out.push(Example { features: fz.features.clone(), label });
    }
    Ok(out)
}

/// Trains weights for `lang` on `train`: 85 % fits the regression (SGD, 8 epochs, seeded
/// order), 15 % (every seventh example) calibrates the negative probability and chooses the
/// threshold that maximises negative F1 there.
pub fn train(lang: Lang, train: &[Example]) -> ToneWeights {
    let fit: Vec<&Example> = train.iter().enumerate().filter(|(i, _)| i % 7 != 3).map(|(_, e)| e).collect();
    let held: Vec<&Example> = train.iter().enumerate().filter(|(i, _)| i % 7 == 3).map(|(_, e)| e).collect();
    let mut w = ToneWeights { lang, weights: vec![0.0; (1 << HASH_BITS) * CLASSES], platt: (1.0, 0.0), threshold: 0.5 };
    // class weights: the rarer classes count more, so the negative class is not drowned
    let mut counts = [0usize; CLASSES];
    for e in &fit {
        counts[e.label as usize] += 1;
    }
    let total = fit.len().max(1) as f32;
    let class_weight = counts.map(|c| (total / (CLASSES as f32 * c.max(1) as f32)).sqrt());
    let mut order: Vec<usize> = (0..fit.len()).collect();
    let mut rng = rand_pcg::Pcg64::seed_from_u64(17);
    let (epochs, lr0, l2) = (8, 0.5f32, 1e-6f32);
    for epoch in 0..epochs {
        order.shuffle(&mut rng);
        let lr = lr0 / (1.0 + epoch as f32);
        for &k in &order {
            let e = fit[k];
            let p = softmax(w.logits(&e.features));
            let scale = 1.0 / (e.features.len() as f32).sqrt();
            let cw = class_weight[e.label as usize];
            for &f in &e.features {
                let base = f as usize * CLASSES;
                for (c, (pc, wc)) in p.iter().zip(&mut w.weights[base..base + CLASSES]).enumerate() {
                    let y = if c == e.label as usize { 1.0 } else { 0.0 };
                    let g = (pc - y) * scale * cw;
                    *wc -= lr * (g + l2 * *wc);
                }
            }
        }
    }
    // Platt scaling on held-out data
    let zs: Vec<(f32, bool)> = held
        .iter()
        .map(|e| {
            let p = softmax(w.logits(&e.features))[0].clamp(1e-6, 1.0 - 1e-6);
            ((p / (1.0 - p)).ln(), e.label == Label::Negative)
        })
        .collect();
    let (mut a, mut b) = (1.0f32, 0.0f32);
    for _ in 0..500 {
        let (mut ga, mut gb) = (0.0f32, 0.0f32);
        for &(z, y) in &zs {
            let p = 1.0 / (1.0 + (-(a * z + b)).exp());
            let d = p - if y { 1.0 } else { 0.0 };
            ga += d * z;
            gb += d;
        }
        let n = zs.len().max(1) as f32;
        a -= 0.5 * ga / n;
        b -= 0.5 * gb / n;
    }
    w.platt = (a, b);
    // threshold maximising negative F1 on the held-out part
    let probs: Vec<(f32, bool)> = zs.iter().map(|&(z, y)| (1.0 / (1.0 + (-(a * z + b)).exp()), y)).collect();
    let mut best = (0.0f32, 0.5f32);
    for step in 5..95 {
        let t = step as f32 / 100.0;
        let (mut tp, mut fp, mut fneg) = (0.0f32, 0.0f32, 0.0f32);
        for &(p, y) in &probs {
            match (p >= t, y) {
                (true, true) => tp += 1.0,
                (true, false) => fp += 1.0,
                (false, true) => fneg += 1.0,
                _ => {}
            }
        }
        let f1 = if tp == 0.0 { 0.0 } else { 2.0 * tp / (2.0 * tp + fp + fneg) };
        // ties go to the threshold nearest 0.5
        if f1 > best.0 + 1e-9 || ((f1 - best.0).abs() <= 1e-9 && (t - 0.5).abs() < (best.1 - 0.5).abs()) {
            best = (f1, t);
        }
    }
    w.threshold = best.1;
    w
}

/// Precision, recall and F1 of the negative class, and macro-F1 over the three classes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Scores {
    /// Texts scored.
    pub n: usize,
    /// Negative precision.
    pub precision: f64,
    /// Negative recall.
    pub recall: f64,
    /// Negative F1.
    pub f1: f64,
    /// Macro-F1 over negative, neutral, positive.
    pub macro_f1: f64,
}

/// Scores predicted labels against gold labels.
pub fn score(pairs: &[(Label, Label)]) -> Scores {
    let mut f1s = [0f64; CLASSES];
    let mut neg = (0.0, 0.0, 0.0);
    for c in Label::ALL {
        let tp = pairs.iter().filter(|(p, g)| *p == c && *g == c).count() as f64;
        let fp = pairs.iter().filter(|(p, g)| *p == c && *g != c).count() as f64;
        let fneg = pairs.iter().filter(|(p, g)| *p != c && *g == c).count() as f64;
        let precision = if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 };
        let recall = if tp + fneg > 0.0 { tp / (tp + fneg) } else { 0.0 };
        let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
        f1s[c as usize] = f1;
        if c == Label::Negative {
            neg = (precision, recall, f1);
        }
    }
    Scores { n: pairs.len(), precision: neg.0, recall: neg.1, f1: neg.2, macro_f1: f1s.iter().sum::<f64>() / 3.0 }
}

/// Predictions of the model on examples, paired with the gold labels.
pub fn predict_all(w: &ToneWeights, examples: &[Example]) -> Vec<(Label, Label)> {
    examples.iter().map(|e| (w.predict(&e.features).1, e.label)).collect()
}

/// The majority class of the training data, predicted for everything.
pub fn majority(train: &[Example], test: &[Example]) -> Vec<(Label, Label)> {
    let mut counts: HashMap<Label, usize> = HashMap::new();
    for e in train {
        *counts.entry(e.label).or_default() += 1;
    }
    let m = Label::ALL.into_iter().max_by_key(|l| counts.get(l).copied().unwrap_or(0)).unwrap_or(Label::Neutral);
    test.iter().map(|e| (m, e.label)).collect()
}

/// A plain lexicon count: the sum of word polarities decides the label (0 = neutral).
pub fn lexicon_count(lexicon: &HashMap<String, f32>, texts: &[(Label, String)]) -> Vec<(Label, Label)> {
    let mut norm = String::new();
    texts
        .iter()
        .map(|(gold, text)| {
            normalize_into(text, &mut norm);
            let mut s: f32 = norm.split(|c: char| !is_word_char(c)).filter_map(|w| lexicon.get(w)).sum();
            // emoji entries are single characters that the word split drops
            let mut buf = [0u8; 4];
            s += text
                .chars()
                .filter(|&c| is_emoji(c))
                .filter_map(|c| lexicon.get(&*c.encode_utf8(&mut buf)))
                .sum::<f32>();
            let p = if s < 0.0 {
                Label::Negative
            } else if s > 0.0 {
                Label::Positive
            } else {
                Label::Neutral
            };
            (p, *gold)
        })
        .collect()
}

/// Tone models for the languages whose weights are loaded; implements [`ToneModel`].
#[derive(Debug, Default)]
pub struct MultilingualTone {
    models: Vec<ToneWeights>,
}

/// Weights compiled in (MIT-licensed training data only).
const BUILTIN: &[&[u8]] = &[
    include_bytes!("tone_weights/en.bin"),
    include_bytes!("tone_weights/he.bin"),
    include_bytes!("tone_weights/ar.bin"),
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
    pub fn load_dir(dir: &std::path::Path) -> Result<Self, String> {
        let mut models = Vec::new();
        for lang in Lang::ALL {
            let path = dir.join(format!("{}.bin", lang.code()));
            match std::fs::read(&path) {
                Ok(bytes) => {
                    models.push(ToneWeights::from_bytes(&bytes).map_err(|e| format!("{}: {e}", path.display()))?)
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("cannot read `{}`: {e}", path.display())),
            }
        }
        if models.is_empty() {
            return Err(format!("no `<lang>.bin` weights in `{}`", dir.display()));
        }
        Ok(MultilingualTone { models })
    }

    /// The weights built into the binary: the languages whose training data is under
    /// permissive terms (see `src/tone_weights/README.md`).
    pub fn builtin() -> Self {
        let models = BUILTIN.iter().filter_map(|b| ToneWeights::from_bytes(b).ok()).collect();
        MultilingualTone { models }
    }

    /// The built-in weights plus every `<lang>.bin` in `dir` (which win for their language),
    /// e.g. `src/tone_weights/share-alike` for Persian and Russian.
    ///
    /// # Errors
    /// As [`MultilingualTone::load_dir`].
    pub fn builtin_plus(dir: Option<&std::path::Path>) -> Result<Self, String> {
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
            let mut fz = s.borrow_mut();
            fz.extract(text, lang);
            let (p, label) = model.predict(&fz.features);
            Some((lang, p, label))
        })
    }
}

impl ToneModel for MultilingualTone {
    fn p_negative(&self, text: &str, lang: Option<&str>) -> Option<f32> {
        self.judge(text, lang).map(|(_, p, _)| p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negation_marks_the_following_words() {
        let mut a = Featurizer::default();
        let mut b = Featurizer::default();
        a.extract("this is good", Lang::En);
        b.extract("this is not good", Lang::En);
        let good = fnv(b"good", 0) & ((1 << HASH_BITS) - 1);
        assert!(a.features.contains(&(good as u32)));
        assert!(!b.features.contains(&(good as u32)), "`good` after `not` is a negated feature");
    }

    #[test]
    fn learns_a_toy_task_and_round_trips() {
        let mut ex = Vec::new();
        let mut fz = Featurizer::default();
        for i in 0..700 {
            let (text, label) = match i % 3 {
                0 => ("the service was terrible and slow", Label::Negative),
                1 => ("the store opens at nine", Label::Neutral),
                _ => ("great staff, love it", Label::Positive),
            };
            fz.extract(text, Lang::En);
            ex.push(Example { features: fz.features.clone(), label });
        }
        let w = train(Lang::En, &ex);
        fz.extract("terrible service", Lang::En);
        assert_eq!(w.predict(&fz.features).1, Label::Negative);
        fz.extract("love the staff", Lang::En);
        assert_eq!(w.predict(&fz.features).1, Label::Positive);
        let back = ToneWeights::from_bytes(&w.to_bytes()).unwrap();
        assert_eq!(back.predict(&fz.features), w.predict(&fz.features));
        assert!(ToneWeights::from_bytes(b"nonsense").is_err());
    }
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

/// Trains every language found under `data/<lang>/train.tsv` and writes `out/<lang>.bin`;
/// returns (language, training examples) per model written.
///
/// # Errors
/// Unreadable or malformed data, or a write failure, naming the file.
pub fn train_dir(data: &std::path::Path, out: &std::path::Path, langs: &[Lang]) -> Result<Vec<(Lang, usize)>, String> {
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create `{}`: {e}", out.display()))?;
    let mut done = Vec::new();
    for &lang in langs {
        let path = data.join(lang.code()).join("train.tsv");
        let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
        let mut examples = read_tsv(&text, lang).map_err(|e| format!("{}: {e}", path.display()))?;
        // extra training sets under permissive terms (GPL ones, like ASTD, are never used)
        for (code, name) in PERMISSIVE_EXTRA {
            if *code != lang.code() {
                continue;
            }
            let extra = data.join(code).join("extra").join(name).join("train.tsv");
            if let Ok(text) = std::fs::read_to_string(&extra) {
                examples.extend(read_tsv(&text, lang).map_err(|e| format!("{}: {e}", extra.display()))?);
            }
        }
        let w = train(lang, &examples);
        let dest = out.join(format!("{}.bin", lang.code()));
        std::fs::write(&dest, w.to_bytes()).map_err(|e| format!("cannot write `{}`: {e}", dest.display()))?;
        done.push((lang, examples.len()));
    }
    Ok(done)
}

/// Extra training sets whose licence allows shipping weights in the default build.
const PERMISSIVE_EXTRA: &[(&str, &str)] = &[("ar", "semeval2017_xlmt")];

/// One row of the evaluation table.
#[derive(Debug, Clone)]
pub struct EvalRow {
    /// Language.
    pub lang: Lang,
    /// The model's scores on the test split.
    pub model: Scores,
    /// Majority-class baseline.
    pub majority: Scores,
    /// Plain lexicon count, when a lexicon for the language is available, and its name.
    pub lexicon: Option<(&'static str, Scores)>,
    /// Reliability of the calibrated probability on the test split: per decile of predicted
    /// p, (mean predicted, observed negative rate, texts).
    pub reliability: Vec<(f64, f64, usize)>,
    /// Expected calibration error: the text-weighted mean |predicted − observed| over deciles.
    pub ece: f64,
}

/// Reliability by deciles of predicted negative probability, and the expected calibration
/// error.
pub fn reliability(w: &ToneWeights, examples: &[Example]) -> (Vec<(f64, f64, usize)>, f64) {
    let mut bins = [(0.0f64, 0usize, 0usize); 10];
    for e in examples {
        let p = f64::from(w.predict(&e.features).0);
        let b = ((p * 10.0) as usize).min(9);
        bins[b].0 += p;
        bins[b].1 += usize::from(e.label == Label::Negative);
        bins[b].2 += 1;
    }
    let n = examples.len().max(1) as f64;
    let mut ece = 0.0;
    let rows = bins
        .iter()
        .filter(|b| b.2 > 0)
        .map(|&(sum, neg, count)| {
            let (pred, obs) = (sum / count as f64, neg as f64 / count as f64);
            ece += (pred - obs).abs() * count as f64 / n;
            (pred, obs, count)
        })
        .collect();
    (rows, ece)
}

/// Evaluates weights on `data/<lang>/test.tsv` beside a majority-class baseline and, where
/// `lexicons` has one for the language, a plain lexicon count.
///
/// # Errors
/// Unreadable data, naming the file.
pub fn eval_dir(
    data: &std::path::Path,
    models: &[ToneWeights],
    lexicons: Option<&std::path::Path>,
) -> Result<Vec<EvalRow>, String> {
    let mut rows = Vec::new();
    for w in models {
        let read = |name: &str| {
            let path = data.join(w.lang.code()).join(name);
            std::fs::read_to_string(&path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))
        };
        let (train_text, test_text) = (read("train.tsv")?, read("test.tsv")?);
        let train = read_tsv(&train_text, w.lang)?;
        let test = read_tsv(&test_text, w.lang)?;
        let model = score(&predict_all(w, &test));
        let majority = score(&majority(&train, &test));
        let lexicon = lexicons.and_then(|dir| {
            let mut lex = HashMap::new();
            let name = match w.lang {
                Lang::En => {
                    read_lexicon(&std::fs::read_to_string(dir.join("vader/vader_lexicon.txt")).ok()?, None, &mut lex);
                    "VADER lexicon, count only"
                }
                Lang::He | Lang::Ru => {
                    let code = w.lang.code();
                    let pos =
                        std::fs::read_to_string(dir.join(format!("chen_skiena/positive_words_{code}.txt"))).ok()?;
                    let neg =
                        std::fs::read_to_string(dir.join(format!("chen_skiena/negative_words_{code}.txt"))).ok()?;
                    read_lexicon(&pos, Some(1.0), &mut lex);
                    read_lexicon(&neg, Some(-1.0), &mut lex);
                    "Chen–Skiena (GPL, evaluation only)"
                }
                Lang::Fa | Lang::Ar => {
                    // no redistributable word lexicon: the language-independent emoji lexicon
                    let csv =
                        std::fs::read_to_string(dir.join("emoji_sentiment_ranking/Emoji_Sentiment_Data_v1.0.csv"))
                            .ok()?;
                    for line in csv.lines().skip(1) {
                        let cols: Vec<&str> = line.split(',').collect();
                        let (Some(e), Some(occ), Some(neg), Some(pos)) =
                            (cols.first(), cols.get(2), cols.get(4), cols.get(6))
                        else {
                            continue;
                        };
                        let num = |x: &str| x.trim().parse::<f32>().ok();
                        if let (Some(o), Some(n), Some(p)) = (num(occ), num(neg), num(pos)) {
                            if o > 0.0 {
                                lex.insert((*e).to_string(), (p - n) / o);
                            }
                        }
                    }
                    "emoji sentiment ranking, count only"
                }
            };
            let texts: Vec<(Label, String)> = test_text
                .lines()
                .skip(1)
                .filter_map(|l| l.split_once('\t'))
                .filter_map(|(l, t)| Label::parse(l).map(|l| (l, t.to_string())))
                .collect();
            Some((name, score(&lexicon_count(&lex, &texts))))
        });
        let (reliability, ece) = reliability(w, &test);
        rows.push(EvalRow { lang: w.lang, model, majority, lexicon, reliability, ece });
    }
    Ok(rows)
}
