//! Training (deterministic: fixed seed and order): multinomial logistic regression per
//! language, calibration and threshold on held-out training data, `tone-train` over a data
//! directory, and a lexicon induced from a training split.

use super::error::ToneError;
use super::example::*;
use super::features::*;
use super::label::*;
use super::weights::*;
use crate::ingest::lang::Lang;
use crate::ingest::normalize::{is_word_char, normalize_into};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::collections::HashMap;

/// Trains weights for `lang` on `train`: 85 % fits the regression (SGD, 8 epochs, seeded
/// order), 15 % (every seventh example) calibrates the negative probability and chooses the
/// threshold that maximises negative F1 there. Each example counts its weight in all three
/// (1, or more for in-domain texts).
pub fn train(lang: Lang, train: &[Example]) -> ToneWeights {
    let fit: Vec<&Example> = train.iter().enumerate().filter(|(i, _)| i % 7 != 3).map(|(_, e)| e).collect();
    let held: Vec<&Example> = train.iter().enumerate().filter(|(i, _)| i % 7 == 3).map(|(_, e)| e).collect();
    let bits = hash_bits(lang);
    let mut weights = vec![[0.0f32; CLASSES]; 1 << bits];
    // class weights: the rarer classes count more, so the negative class is not drowned
    let mut counts = [0.0f32; CLASSES];
    for e in &fit {
        counts[e.label as usize] += e.weight;
    }
    let total: f32 = counts.iter().sum::<f32>().max(1.0);
    let class_weight = counts.map(|c| (total / (CLASSES as f32 * c.max(1.0))).sqrt());
    let mut order: Vec<usize> = (0..fit.len()).collect();
    let mut rng = rand_pcg::Pcg64::seed_from_u64(17);
    let (epochs, lr0, l2) = (8, 0.5f32, 1e-6f32);
    for epoch in 0..epochs {
        order.shuffle(&mut rng);
        let lr = lr0 / (1.0 + epoch as f32);
        for &k in &order {
            let e = fit[k];
            let p = softmax(exact_logits(&weights, &e.features));
            let scale = 1.0 / (e.features.len() as f32).sqrt();
            let cw = class_weight[e.label as usize] * e.weight;
            for &f in &e.features {
                for (c, (pc, wc)) in p.iter().zip(&mut weights[row(f, bits)]).enumerate() {
                    let y = if c == e.label as usize { 1.0 } else { 0.0 };
                    let g = (pc - y) * scale * cw;
                    *wc -= lr * (g + l2 * *wc);
                }
            }
        }
    }
    // Platt scaling on held-out data, of the logits as scored (quantised)
    let mut w = ToneWeights::new(lang, weights, (1.0, 0.0), 0.5);
    let zs: Vec<(f32, bool, f32)> = held
        .iter()
        .map(|e| {
            let p = softmax(w.logits(&e.features))[0].clamp(1e-6, 1.0 - 1e-6);
            ((p / (1.0 - p)).ln(), e.label == Label::Negative, e.weight)
        })
        .collect();
    let (mut a, mut b) = (1.0f32, 0.0f32);
    let n = zs.iter().map(|z| z.2).sum::<f32>().max(1.0);
    for _ in 0..500 {
        let (mut ga, mut gb) = (0.0f32, 0.0f32);
        for &(z, y, weight) in &zs {
            let p = 1.0 / (1.0 + (-(a * z + b)).exp());
            let d = (p - if y { 1.0 } else { 0.0 }) * weight;
            ga += d * z;
            gb += d;
        }
        a -= 0.5 * ga / n;
        b -= 0.5 * gb / n;
    }
    w.platt = (a, b);
    // threshold maximising negative F1 on the held-out part
    let probs: Vec<(f32, bool, f32)> =
        zs.iter().map(|&(z, y, weight)| (1.0 / (1.0 + (-(a * z + b)).exp()), y, weight)).collect();
    let mut best = (0.0f32, 0.5f32);
    for step in 5..95 {
        let t = step as f32 / 100.0;
        let (mut tp, mut fp, mut fneg) = (0.0f32, 0.0f32, 0.0f32);
        for &(p, y, weight) in &probs {
            match (p >= t, y) {
                (true, true) => tp += weight,
                (true, false) => fp += weight,
                (false, true) => fneg += weight,
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
    w.held_out_f1 = Some(best.0);
    w
}

/// Trains every language of `langs` on `data/<lang>/train.tsv` (unless `without_public`:
/// for a language whose public set may not ship in weights, like Persian's), `extras` and
/// the in-domain texts of `domain` if any, and writes `out/<lang>.bin`; returns one
/// [`Trained`] per model written.
///
/// # Errors
/// Unreadable or malformed data (an extra set named on the command line included), or a
/// write failure, naming the file.
pub fn train_dir(
    data: &std::path::Path,
    out: &std::path::Path,
    langs: &[Lang],
    extras: &Extras,
    domain: Option<&crate::tone::domain::DomainSet>,
    without_public: bool,
) -> Result<Vec<Trained>, ToneError> {
    std::fs::create_dir_all(out).map_err(|source| ToneError::Write { path: out.to_path_buf(), source })?;
    let mut done = Vec::new();
    for &lang in langs {
        let mut examples = Vec::new();
        if !without_public {
            let path = data.join(lang.code()).join("train.tsv");
            let text =
                std::fs::read_to_string(&path).map_err(|source| ToneError::Read { path: path.clone(), source })?;
            examples = read_tsv(&text, lang).map_err(|e| e.in_file(&path))?;
        }
        let public = examples.len();
        let extra_used = add_extras(data, lang, extras, &mut examples)?;
        let in_domain = match domain {
            Some(d) => d.examples(lang)?,
            None => Vec::new(),
        };
        let with_extras = examples.len();
        examples.extend(in_domain);
        if examples.is_empty() {
            return Err(ToneError::NoTrainingData(lang.code()));
        }
        let mut w = train(lang, &examples);
        w.domain_texts = u32::try_from(examples.len() - with_extras).unwrap_or(u32::MAX);
        let dest = out.join(format!("{}.bin", lang.code()));
        std::fs::write(&dest, w.to_bytes()).map_err(|source| ToneError::Write { path: dest.clone(), source })?;
        done.push(Trained {
            lang,
            public,
            extras: extra_used,
            in_domain: examples.len() - with_extras,
            held_out_f1: w.held_out_f1.unwrap_or(0.0),
            dest,
        });
    }
    Ok(done)
}

/// What [`train_dir`] trained for one language.
#[derive(Debug, Clone)]
pub struct Trained {
    /// The language.
    pub lang: Lang,
    /// Texts of `data/<lang>/train.tsv`.
    pub public: usize,
    /// Extra sets used: (path under the data directory, texts, weight of each).
    pub extras: Vec<(String, usize, f32)>,
    /// In-domain texts.
    pub in_domain: usize,
    /// Negative F1 on the held-out seventh.
    pub held_out_f1: f32,
    /// The weights file written.
    pub dest: std::path::PathBuf,
}

/// One training-only extra set: the TSV at `path` under the data directory, trained into
/// `lang`'s model with each text counting `weight` public texts (a weak or off-domain set
/// counts less).
#[derive(Debug, Clone, PartialEq)]
pub struct ExtraSet {
    /// The model it trains.
    pub lang: Lang,
    /// Relative to the data directory, e.g. `extra/he/hebert.tsv`.
    pub path: String,
    /// How many public texts one of its texts counts as (0 to 100].
    pub weight: f32,
}

impl std::str::FromStr for ExtraSet {
    type Err = String;

    /// `LANG:PATH=WEIGHT`, e.g. `he:extra/he/xed.tsv=0.3`, or `LANG:PATH` (weight 1).
    fn from_str(s: &str) -> Result<Self, String> {
        let (lang, rest) = s
            .split_once(':')
            .ok_or_else(|| format!("`{s}`: expected LANG:PATH=WEIGHT, e.g. he:extra/he/xed.tsv=0.3"))?;
        let lang = Lang::from_code(lang.trim())
            .ok_or_else(|| format!("`{s}`: unknown language `{lang}` (one of en, he, fa, ru, ar)"))?;
        let (path, weight) = match rest.rsplit_once('=') {
            Some((p, w)) => {
                let weight: f32 = w.trim().parse().map_err(|_| format!("`{s}`: weight `{w}` is not a number"))?;
                (p, weight)
            }
            None => (rest, 1.0),
        };
        if !(weight > 0.0 && weight <= 100.0) {
            return Err(format!("`{s}`: weight must be above 0 and at most 100"));
        }
        let path = path.trim();
        if path.is_empty() || path.starts_with('/') || path.split('/').any(|c| c == "..") {
            return Err(format!("`{s}`: PATH must be a relative path inside the data directory"));
        }
        Ok(ExtraSet { lang, path: path.to_string(), weight })
    }
}

/// Which extra sets to train with: the built-in choice ([`DEFAULT_EXTRAS`], each skipped
/// when its file is absent from the data directory) or the ones given (each must exist).
#[derive(Debug, Clone, PartialEq)]
pub enum Extras {
    /// [`DEFAULT_EXTRAS`], those present.
    Default,
    /// Exactly these (empty: none).
    Given(Vec<ExtraSet>),
}

/// The extra sets the built-in weights are trained with (language, path under the data
/// directory, weight); see the model card for what each was measured to add. Sets measured
/// and left out: XED for ar and fa; CEDR for ru; the emoji-labelled Arabic tweets.
pub const DEFAULT_EXTRAS: &[(&str, &str, f32)] = &[
    ("ar", "ar/extra/semeval2017_xlmt/train.tsv", 1.0),
    ("en", "extra/en/xed.tsv", 0.3),
    ("he", "extra/he/hebert.tsv", 1.0),
    ("he", "extra/he/xed.tsv", 0.3),
    ("ru", "extra/ru/xed.tsv", 0.3),
];

impl Extras {
    fn sets(&self) -> (Vec<ExtraSet>, bool) {
        match self {
            Extras::Default => (
                DEFAULT_EXTRAS
                    .iter()
                    .filter_map(|&(lang, path, weight)| {
                        Some(ExtraSet { lang: Lang::from_code(lang)?, path: path.to_string(), weight })
                    })
                    .collect(),
                false,
            ),
            Extras::Given(sets) => (sets.clone(), true),
        }
    }
}

/// Adds `lang`'s extra sets to `examples`, each text weighted; returns (path, texts,
/// weight) per set used.
pub(super) fn add_extras(
    data: &std::path::Path,
    lang: Lang,
    extras: &Extras,
    examples: &mut Vec<Example>,
) -> Result<Vec<(String, usize, f32)>, ToneError> {
    let (sets, required) = extras.sets();
    let mut used = Vec::new();
    for set in sets.iter().filter(|s| s.lang == lang) {
        let path = data.join(&set.path);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(ToneError::Read { path, source }),
        };
        let mut more = read_tsv(&text, lang).map_err(|e| e.in_file(&path))?;
        for e in &mut more {
            e.weight = set.weight;
        }
        used.push((set.path.clone(), more.len(), set.weight));
        examples.extend(more);
    }
    Ok(used)
}

/// A word lexicon induced from labelled training text (`label<TAB>text`): every normalised
/// word seen in at least 5 texts whose negative and positive rates differ by a factor of 2
/// or more (add-one smoothed) gets polarity −1 or +1. What a team without a published
/// lexicon could build in an afternoon; the peer for Persian and Arabic, where no word
/// lexicon may be redistributed.
pub fn induce_lexicon(train_tsv: &str) -> HashMap<String, f32> {
    let mut counts: HashMap<String, [u32; CLASSES]> = HashMap::new();
    let mut totals = [0u32; CLASSES];
    let mut norm = String::new();
    for line in train_tsv.lines().skip(1) {
        let Some((label, text)) = line.split_once('\t') else { continue };
        let Some(label) = Label::parse(label) else { continue };
        totals[label as usize] += 1;
        normalize_into(text, &mut norm);
        let mut seen: Vec<&str> = norm.split(|c: char| !is_word_char(c)).filter(|w| !w.is_empty()).collect();
        seen.sort_unstable();
        seen.dedup();
        for w in seen {
            counts.entry(w.to_string()).or_default()[label as usize] += 1;
        }
    }
    let rate = |n: u32, total: u32| (f64::from(n) + 1.0) / (f64::from(total) + 2.0);
    counts
        .into_iter()
        .filter(|(_, c)| c.iter().sum::<u32>() >= 5)
        .filter_map(|(w, c)| {
            let ratio = rate(c[0], totals[0]) / rate(c[2], totals[2]);
            if ratio >= 2.0 {
                Some((w, -1.0))
            } else if ratio <= 0.5 {
                Some((w, 1.0))
            } else {
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &std::path::Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn an_extra_set_is_language_path_and_weight_and_a_bad_one_says_why() {
        let e: ExtraSet = "he:extra/he/xed.tsv=0.3".parse().unwrap();
        assert_eq!((e.lang, e.path.as_str(), e.weight), (Lang::He, "extra/he/xed.tsv", 0.3));
        assert_eq!("fa:ar/train.tsv".parse::<ExtraSet>().unwrap().weight, 1.0);
        for (bad, why) in [
            ("extra/he/xed.tsv=1", "expected LANG:PATH=WEIGHT"),
            ("de:x.tsv=1", "unknown language `de`"),
            ("he:x.tsv=lots", "weight `lots` is not a number"),
            ("he:x.tsv=0", "above 0"),
            ("he:../secret.tsv=1", "relative path inside the data directory"),
            ("he:/etc/passwd=1", "relative path inside the data directory"),
        ] {
            let err = bad.parse::<ExtraSet>().unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn extras_are_weighted_a_named_missing_one_is_an_error_and_no_texts_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path();
        write(&data.join("en/train.tsv"), "label\ttext\nnegative\tawful\npositive\tlovely\n");
        write(&data.join("extra/en/more.tsv"), "label\ttext\nnegative\tbad\nneutral\tok\npositive\tgood\n");
        let mut ex = Vec::new();
        let given = Extras::Given(vec!["en:extra/en/more.tsv=0.25".parse().unwrap()]);
        let used = add_extras(data, Lang::En, &given, &mut ex).unwrap();
        assert_eq!(used, vec![("extra/en/more.tsv".to_string(), 3, 0.25)]);
        assert!(ex.len() == 3 && ex.iter().all(|e| e.weight == 0.25));
        // another language's set is not added
        assert!(add_extras(data, Lang::He, &given, &mut ex).unwrap().is_empty());
        let missing = Extras::Given(vec!["en:extra/en/nope.tsv=1".parse().unwrap()]);
        let err = add_extras(data, Lang::En, &missing, &mut ex).unwrap_err().to_string();
        assert!(err.contains("nope.tsv"), "{err}");
        // the built-in choice skips sets this data directory does not have
        assert!(add_extras(data, Lang::He, &Extras::Default, &mut ex).unwrap().is_empty());
        let out = data.join("out");
        let err = train_dir(data, &out, &[Lang::En], &Extras::Given(Vec::new()), None, true).unwrap_err();
        assert!(err.to_string().contains("no training texts for `en`"), "{err}");
        let done = train_dir(data, &out, &[Lang::En], &given, None, true).unwrap();
        assert_eq!((done[0].public, done[0].extras.len()), (0, 1));
        assert!(out.join("en.bin").exists());
    }
}
