//! In-domain text: labelled brand mentions, to measure the tone model on what crisiswatch
//! actually scores and to train it on a team's own labelled posts.
//!
//! None of the public labelled sets is what crisiswatch scores: they are tweets about
//! anything, comments on a president's page, film and food reviews, publicistic prose. The
//! in-domain set in `src/tone/weights/domain/<lang>.tsv` is written by the project: per
//! language 410 complaints (billing, delivery, outages, support, quality, safety, data leaks,
//! prices, ads, calls to stop buying), 290 neutral posts (questions, company news) and 330
//! praises, as posts, reviews and forum replies (Persian also 500 product and food reviews), and a held-out test split of 100 more (`test/<lang>.tsv`, never trained on, its sarcastic,
//! negated-praise and negated-complaint lines tagged in `test/<lang>.tags.tsv`). Texts
//! say `{b}` where the brand goes; each line is given one of several fictional brand names
//! in turn, so no name is tied to a label.
//!
//! 5-fold cross-validation on it ([`cross_validate`](super::eval::cross_validate), `crisiswatch tone-eval`) measures what
//! adding in-domain texts to training brings: at 630 lines it raised negative F1 on the
//! held-out folds in every language (+0.04 to +0.08, model card), so every built-in model is
//! trained with it, and the default Persian model on it alone. A team with its own labelled mentions trains
//! with them the same way (`tone-train --domain DIR`, `DIR/<lang>.tsv`, each text counting
//! [`DOMAIN_WEIGHT`] public texts) and measures them with `tone-eval --domain DIR`.

use super::error::ToneError;
use super::example::{read_tsv, Example};
use crate::ingest::lang::Lang;

/// How many public texts one in-domain text counts as. A sweep (before the lexicon features;
/// never on the test splits) gave mean cross-validated negative F1 on the seed set over the
/// five languages of 0.579, 0.588, 0.595, 0.587, 0.574 at 1, 3, 5, 10, 20, with F1 on a
/// held-out fifth of the public training data within ±0.01 at 3 and 5: within noise of each
/// other, so the smaller weight, which leans less on a small set written by one author.
pub const DOMAIN_WEIGHT: f32 = 3.0;

/// The project's seed set for `lang` (TSV, `label<TAB>text`, `{b}` for the brand).
pub fn builtin_tsv(lang: Lang) -> &'static str {
    match lang {
        Lang::En => include_str!("weights/domain/en.tsv"),
        Lang::He => include_str!("weights/domain/he.tsv"),
        Lang::Fa => include_str!("weights/domain/fa.tsv"),
        Lang::Ru => include_str!("weights/domain/ru.tsv"),
        Lang::Ar => include_str!("weights/domain/ar.tsv"),
    }
}

/// The held-out in-domain test split for `lang` (`weights/domain/test/<lang>.tsv`): brand
/// mentions never trained on, to measure the model on what crisiswatch scores.
pub fn builtin_test_tsv(lang: Lang) -> &'static str {
    match lang {
        Lang::En => include_str!("weights/domain/test/en.tsv"),
        Lang::He => include_str!("weights/domain/test/he.tsv"),
        Lang::Fa => include_str!("weights/domain/test/fa.tsv"),
        Lang::Ru => include_str!("weights/domain/test/ru.tsv"),
        Lang::Ar => include_str!("weights/domain/test/ar.tsv"),
    }
}

/// The tags of the test split's special lines (`line<TAB>tag`, 1-based data rows):
/// `sarcasm`, `negated-praise`, `negated-complaint`.
pub fn builtin_test_tags(lang: Lang) -> Vec<(usize, &'static str)> {
    let text = match lang {
        Lang::En => include_str!("weights/domain/test/en.tags.tsv"),
        Lang::He => include_str!("weights/domain/test/he.tags.tsv"),
        Lang::Fa => include_str!("weights/domain/test/fa.tags.tsv"),
        Lang::Ru => include_str!("weights/domain/test/ru.tags.tsv"),
        Lang::Ar => include_str!("weights/domain/test/ar.tags.tsv"),
    };
    text.lines()
        .skip(1)
        .filter_map(|l| l.split_once('\t'))
        .filter_map(|(n, t)| Some((n.trim().parse().ok()?, t.trim())))
        .collect()
}

/// Fictional brand names put in place of `{b}`, in turn (a Latin-script name among them:
/// brands are often written in Latin letters in Hebrew, Persian, Russian and Arabic posts).
fn brand_names(lang: Lang) -> &'static [&'static str] {
    match lang {
        Lang::En => &["Northwind", "Zentra", "Bluecrest", "Harlow", "Pixelo", "Vantor", "Kelby"],
        Lang::He => &["אורנים", "ספיר", "גלית", "Zentra", "כרמלית", "תבור", "רימון"],
        Lang::Fa => &["نارون", "پارسه", "رایان", "Zentra", "کیمیا", "آسمان", "البرز"],
        Lang::Ru => &["Зенит", "Орбита", "Ладога", "Zentra", "Прима", "Радуга", "Сокол"],
        Lang::Ar => &["النخبة", "ريم", "سدرة", "Zentra", "الأفق", "نجمة", "الواحة"],
    }
}

/// Reads a seed-set TSV for `lang`: `{b}` becomes a brand name, and every text counts
/// `weight` times.
///
/// # Errors
/// A line without a tab or with an unknown label, with its number.
pub fn read(tsv: &str, lang: Lang, weight: f32) -> Result<Vec<Example>, ToneError> {
    let names = brand_names(lang);
    let filled: String =
        tsv.lines().enumerate().map(|(i, line)| line.replace("{b}", names[i % names.len()]) + "\n").collect();
    let mut examples = read_tsv(&filled, lang)?;
    for e in &mut examples {
        e.weight = weight;
    }
    Ok(examples)
}

/// In-domain texts: a directory of the user's own `<lang>.tsv` files, or the built-in
/// seed set.
#[derive(Debug, Clone)]
pub struct DomainSet {
    /// A directory of `<lang>.tsv` files (`label<TAB>text`, `{b}` may stand for the brand);
    /// `None`: the built-in seed set.
    pub dir: Option<std::path::PathBuf>,
    /// How many public texts one in-domain text counts as.
    pub weight: f32,
}

impl DomainSet {
    /// The in-domain examples for `lang` (none when the directory has no file for it).
    ///
    /// # Errors
    /// An unreadable or malformed file, naming it.
    pub fn examples(&self, lang: Lang) -> Result<Vec<Example>, ToneError> {
        let Some(dir) = &self.dir else {
            return read(builtin_tsv(lang), lang, self.weight)
                .map_err(|e| e.in_file(format!("src/tone/weights/domain/{}.tsv (built in)", lang.code())));
        };
        let path = dir.join(format!("{}.tsv", lang.code()));
        match std::fs::read_to_string(&path) {
            Ok(text) => read(&text, lang, self.weight).map_err(|e| e.in_file(&path)),
            // a team may have labelled posts in some languages only
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(source) => Err(ToneError::Read { path, source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tone::eval::cross_validate;
    use crate::tone::{read_tsv, Label};

    #[test]
    fn every_test_split_reads_and_its_tags_point_at_rows_of_the_right_label() {
        for lang in Lang::ALL {
            let ex = read(builtin_test_tsv(lang), lang, 1.0).unwrap();
            assert!(ex.len() >= 100, "{lang:?}");
            let train = builtin_tsv(lang);
            for line in builtin_test_tsv(lang).lines().skip(1) {
                assert!(!train.lines().any(|t| t == line), "{lang:?}: a test line is in the training set: {line}");
            }
            let tags = builtin_test_tags(lang);
            assert!(tags.len() >= 15, "{lang:?}");
            for (row, tag) in tags {
                let want = if tag == "negated-complaint" { Label::Positive } else { Label::Negative };
                assert_eq!(ex[row - 1].label, want, "{lang:?} row {row} ({tag})");
            }
        }
    }

    #[test]
    fn every_seed_set_reads_with_all_three_labels_and_brand_names() {
        for lang in Lang::ALL {
            let ex = read(builtin_tsv(lang), lang, 2.0).unwrap();
            assert!(ex.len() >= 120, "{}: {}", lang.code(), ex.len());
            for label in Label::ALL {
                let n = ex.iter().filter(|e| e.label == label).count();
                assert!(n >= 35, "{}: {n} {label:?}", lang.code());
            }
            assert!(ex.iter().all(|e| e.weight == 2.0));
            assert!(
                !builtin_tsv(lang).lines().skip(1).any(|l| !l.contains("{b}")),
                "{}: a line without {{b}}",
                lang.code()
            );
        }
    }

    #[test]
    fn the_seed_set_copies_no_simulator_post() {
        let mut norm = String::new();
        let mut key = |t: &str| {
            crate::ingest::normalize::normalize_into(&t.replace("{b}", " "), &mut norm);
            norm.split_whitespace().collect::<Vec<_>>().join(" ")
        };
        let simulated: std::collections::HashSet<(String, String)> =
            crate::cmd::simulate::templates().map(|(lang, t)| (lang.to_string(), key(t))).collect();
        assert!(simulated.len() > 60);
        // the comparison would catch a copy, brand name and case aside
        assert!(simulated.contains(&("en".to_string(), key("{b} Website down, anyone else?"))));
        for lang in Lang::ALL {
            for line in builtin_tsv(lang).lines().skip(1) {
                let text = line.split_once('\t').unwrap().1;
                assert!(!simulated.contains(&(lang.code().to_string(), key(text))), "{}: {text}", lang.code());
            }
        }
    }

    #[test]
    fn a_bad_line_is_reported_with_its_number() {
        let err = read("label\ttext\nnegative\t{b} is down\nnegatve\toops\n", Lang::En, 1.0).unwrap_err().to_string();
        assert!(err.contains("line 3") && err.contains("negatve"), "{err}");
        let err = read("label\ttext\nno tab here\n", Lang::En, 1.0).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn cross_validation_shows_what_in_domain_texts_teach() {
        // public texts never mention hotlines, refunds or opening hours; the in-domain ones
        // do, and a held-out fold is judged by what the other folds taught
        let tsv = |n: usize, [neg, neu, pos]: [&str; 3]| -> String {
            let rows: String = (0..n)
                .map(|i| format!("{}\t{}\n", ["negative", "neutral", "positive"][i % 3], [neg, neu, pos][i % 3]))
                .collect();
            format!("label\ttext\n{rows}")
        };
        let public = read_tsv(
            &tsv(300, ["the film was terrible and boring", "the match starts at nine", "great song, love it"]),
            Lang::En,
        )
        .unwrap();
        let domain = read(
            &tsv(
                60,
                [
                    "{b} hotline queue again, still waiting",
                    "{b} opening hours on holidays?",
                    "{b} refund arrived the same day",
                ],
            ),
            Lang::En,
            DOMAIN_WEIGHT,
        )
        .unwrap();
        let (before, after, _) = cross_validate(Lang::En, &public, &domain, 5);
        assert_eq!((before.n, after.n), (60, 60));
        assert!(after.f1 > before.f1 + 0.3, "before {before:?} after {after:?}");
        assert!(after.macro_f1 > 0.9, "{after:?}");
    }

    #[test]
    fn a_user_directory_adds_its_languages_and_skips_missing_ones() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("en.tsv"), "label\ttext\nnegative\t{b} lost my order\n").unwrap();
        let set = DomainSet { dir: Some(dir.path().to_path_buf()), weight: 3.0 };
        assert_eq!(set.examples(Lang::En).unwrap().len(), 1);
        assert!(set.examples(Lang::He).unwrap().is_empty());
        std::fs::write(dir.path().join("ru.tsv"), "label\ttext\nplohо\t{b}\n").unwrap();
        let err = set.examples(Lang::Ru).unwrap_err().to_string();
        assert!(err.contains("ru.tsv") && err.contains("line 2"), "{err}");
        let builtin = DomainSet { dir: None, weight: 3.0 };
        assert_eq!(
            builtin.examples(Lang::He).unwrap().len(),
            read(builtin_tsv(Lang::He), Lang::He, 3.0).unwrap().len()
        );
    }
}
