//! Evaluation: scores (precision, recall, F1, macro-F1), the peers a model is compared with
//! (majority, lexicon counts), reliability of the calibrated probability, the in-domain
//! cross-validation, and `tone-eval` over a data directory. The test split is only read here.

use super::error::ToneError;
use super::example::*;
use super::features::*;
use super::label::*;
use super::train::*;
use super::weights::*;
use crate::ingest::lang::Lang;
use crate::ingest::normalize::{is_word_char, normalize_into};
use std::collections::HashMap;

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

/// As the windows count: negative at a calibrated p ≥ 0.5 (a text the threshold calls
/// negative below that counts as neutral), else the model's label. Pairs as
/// [`predict_all`].
pub fn predict_windows(w: &ToneWeights, examples: &[Example]) -> Vec<(Label, Label)> {
    examples
        .iter()
        .map(|e| {
            let (p, label) = w.predict(&e.features);
            let pred = match (p >= 0.5, label) {
                (true, _) => Label::Negative,
                (false, Label::Negative) => Label::Neutral,
                (false, l) => l,
            };
            (pred, e.label)
        })
        .collect()
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
    /// Plain lexicon count with the project's word list (`src/tone/weights/lexicon/`; the
    /// model uses the same list as features), for Hebrew, Persian, Russian and Arabic.
    pub project_lexicon: Option<Scores>,
    /// Plain lexicon count with a lexicon induced from the training split
    /// ([`induce_lexicon`]): a peer for every language, Persian and Arabic included.
    pub induced: Scores,
    /// Reliability of the calibrated probability on the test split: per decile of predicted
    /// p, (mean predicted, observed negative rate, texts).
    pub reliability: Vec<(f64, f64, usize)>,
    /// Expected calibration error: the text-weighted mean |predicted − observed| over deciles.
    pub ece: f64,
    /// The model on in-domain text (the seed set, or the user's `--domain` set).
    pub in_domain: Scores,
    /// 5-fold cross-validation on the in-domain text: (retrained on the public data alone,
    /// retrained with the other four fifths added).
    pub in_domain_cv: (Scores, Scores),
    /// The in-domain text as the windows count it (negative at p ≥ 0.5): the model as
    /// loaded, and the cross-validation with the other four fifths added.
    pub in_domain_windows: (Scores, Scores),
    /// The model on the held-out in-domain test split (never trained on).
    pub in_domain_test: Scores,
    /// The test split as the windows count it (negative at p ≥ 0.5).
    pub in_domain_test_windows: Scores,
    /// On its tagged lines, per tag (`sarcasm`, `negated-praise`, `negated-complaint`):
    /// (tag, lines labelled right, lines).
    pub in_domain_groups: Vec<(&'static str, usize, usize)>,
    /// In-domain texts the evaluated weights were trained with (their file says so): when
    /// they are the texts evaluated on, `in_domain` is in-sample and only the cross-validation
    /// says how the model does on unseen ones.
    pub trained_with_domain: u32,
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
/// `lexicons` has one for the language, a plain lexicon count; and on the in-domain text of
/// `domain`, with what training on it brings (5-fold).
///
/// # Errors
/// Unreadable data, naming the file.
pub fn eval_dir(
    data: &std::path::Path,
    models: &[ToneWeights],
    lexicons: Option<&std::path::Path>,
    domain: &crate::tone::domain::DomainSet,
) -> Result<Vec<EvalRow>, ToneError> {
    let mut rows = Vec::new();
    for w in models {
        let read = |name: &str| {
            let path = data.join(w.lang.code()).join(name);
            std::fs::read_to_string(&path).map_err(|source| ToneError::Read { path, source })
        };
        let (train_text, test_text) = (read("train.tsv")?, read("test.tsv")?);
        let train = read_tsv(&train_text, w.lang)?;
        let test = read_tsv(&test_text, w.lang)?;
        let model = score(&predict_all(w, &test));
        let majority = score(&majority(&train, &test));
        let test_texts: Vec<(Label, String)> = test_text
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once('\t'))
            .filter_map(|(l, t)| Label::parse(l).map(|l| (l, t.to_string())))
            .collect();
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
            Some((name, score(&lexicon_count(&lex, &test_texts))))
        });
        let induced = score(&lexicon_count(&induce_lexicon(&train_text), &test_texts));
        let project_lexicon = project_lexicon(w.lang).map(|lex| score(&lexicon_count(&lex, &test_texts)));
        let (reliability, ece) = reliability(w, &test);
        let in_domain_texts = domain.examples(w.lang)?;
        // the training split is parsed once above; the cross-validation adds the extra sets
        let mut public = train;
        add_extras(data, w.lang, &Extras::Default, &mut public)?;
        let in_domain = score(&predict_all(w, &in_domain_texts));
        let (cv_before, cv_after, cv_windows) = cross_validate(w.lang, &public, &in_domain_texts, 5);
        let held_out = crate::tone::domain::read(crate::tone::domain::builtin_test_tsv(w.lang), w.lang, 1.0)?;
        let held_out_pairs = predict_all(w, &held_out);
        let mut in_domain_groups: Vec<(&'static str, usize, usize)> = Vec::new();
        for (row, tag) in crate::tone::domain::builtin_test_tags(w.lang) {
            let Some((pred, gold)) = held_out_pairs.get(row.wrapping_sub(1)) else { continue };
            let i = match in_domain_groups.iter().position(|g| g.0 == tag) {
                Some(i) => i,
                None => {
                    in_domain_groups.push((tag, 0, 0));
                    in_domain_groups.len() - 1
                }
            };
            in_domain_groups[i].1 += usize::from(pred == gold);
            in_domain_groups[i].2 += 1;
        }
        in_domain_groups.sort_by_key(|g| g.0);
        rows.push(EvalRow {
            lang: w.lang,
            model,
            majority,
            lexicon,
            project_lexicon,
            induced,
            reliability,
            ece,
            in_domain,
            in_domain_cv: (cv_before, cv_after),
            in_domain_windows: (score(&predict_windows(w, &in_domain_texts)), cv_windows),
            in_domain_test: score(&held_out_pairs),
            in_domain_test_windows: score(&predict_windows(w, &held_out)),
            in_domain_groups,
            trained_with_domain: w.domain_texts,
        });
    }
    Ok(rows)
}

/// What in-domain training brings, measured on in-domain texts the model did not see:
/// (a model trained on `public` alone, scored on all of `domain`; `folds`-fold
/// cross-validation of models trained on `public` + the other folds of `domain`; the same
/// as the windows count, negative at p ≥ 0.5).
pub fn cross_validate(lang: Lang, public: &[Example], domain: &[Example], folds: usize) -> (Scores, Scores, Scores) {
    let before = score(&predict_all(&train(lang, public), domain));
    let folds = folds.max(2);
    let mut pairs = Vec::with_capacity(domain.len());
    let mut windows = Vec::with_capacity(domain.len());
    for k in 0..folds {
        let (held, rest): (Vec<_>, Vec<_>) = domain.iter().enumerate().partition(|(i, _)| i % folds == k);
        let mut set = public.to_vec();
        set.extend(rest.into_iter().map(|(_, e)| e.clone()));
        let w = train(lang, &set);
        let held: Vec<Example> = held.into_iter().map(|(_, e)| e.clone()).collect();
        pairs.extend(predict_all(&w, &held));
        windows.extend(predict_windows(&w, &held));
    }
    (before, score(&pairs), score(&windows))
}
