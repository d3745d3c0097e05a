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

/// Trains every language found under `data/<lang>/train.tsv`, plus the in-domain texts of
/// `domain` if any, and writes `out/<lang>.bin`; returns (language, public training texts,
/// in-domain texts, held-out negative F1) per model written.
///
/// # Errors
/// Unreadable or malformed data, or a write failure, naming the file.
pub fn train_dir(
    data: &std::path::Path,
    out: &std::path::Path,
    langs: &[Lang],
    domain: Option<&crate::tone::domain::DomainSet>,
) -> Result<Vec<(Lang, usize, usize, f32)>, ToneError> {
    std::fs::create_dir_all(out).map_err(|source| ToneError::Write { path: out.to_path_buf(), source })?;
    let mut done = Vec::new();
    for &lang in langs {
        let mut examples = public_training(data, lang)?;
        let in_domain = match domain {
            Some(d) => d.examples(lang)?,
            None => Vec::new(),
        };
        let public = examples.len();
        examples.extend(in_domain);
        let mut w = train(lang, &examples);
        w.domain_texts = u32::try_from(examples.len() - public).unwrap_or(u32::MAX);
        let dest = out.join(format!("{}.bin", lang.code()));
        std::fs::write(&dest, w.to_bytes()).map_err(|source| ToneError::Write { path: dest.clone(), source })?;
        done.push((lang, public, examples.len() - public, w.held_out_f1.unwrap_or(0.0)));
    }
    Ok(done)
}

/// The public training texts of `lang`: `data/<lang>/train.tsv` and the permissive extra
/// sets.
pub(super) fn public_training(data: &std::path::Path, lang: Lang) -> Result<Vec<Example>, ToneError> {
    let path = data.join(lang.code()).join("train.tsv");
    let text = std::fs::read_to_string(&path).map_err(|source| ToneError::Read { path: path.clone(), source })?;
    let mut examples = read_tsv(&text, lang).map_err(|e| e.in_file(&path))?;
    add_permissive_extra(data, lang, &mut examples)?;
    Ok(examples)
}

/// Adds the extra training sets of `lang` under permissive terms (GPL ones, like ASTD, are
/// never used) to `examples`.
pub(super) fn add_permissive_extra(
    data: &std::path::Path,
    lang: Lang,
    examples: &mut Vec<Example>,
) -> Result<(), ToneError> {
    for (code, name) in PERMISSIVE_EXTRA {
        if *code != lang.code() {
            continue;
        }
        let extra = data.join(code).join("extra").join(name).join("train.tsv");
        if let Ok(text) = std::fs::read_to_string(&extra) {
            examples.extend(read_tsv(&text, lang).map_err(|e| e.in_file(&extra))?);
        }
    }
    for (code, name) in TRAINING_EXTRA {
        if *code != lang.code() {
            continue;
        }
        let extra = data.join("extra").join(code).join(format!("{name}.tsv"));
        if let Ok(text) = std::fs::read_to_string(&extra) {
            examples.extend(read_tsv(&text, lang).map_err(|e| e.in_file(&extra))?);
        }
    }
    Ok(())
}

/// Extra training sets whose licence allows shipping weights in the default build
/// (`data/<lang>/extra/<name>/train.tsv`).
pub(super) const PERMISSIVE_EXTRA: &[(&str, &str)] = &[("ar", "semeval2017_xlmt")];

/// Training-only extra sets kept where they helped (`data/extra/<lang>/<name>.tsv`, each
/// text counting once): HeBERT news comments for Hebrew (MIT). Measured unweighted, the
/// others did not help (XED for en, he, ar, ru; CEDR for ru; the emoji-labelled Arabic
/// tweets): see the model card.
pub(super) const TRAINING_EXTRA: &[(&str, &str)] = &[("he", "hebert")];

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
