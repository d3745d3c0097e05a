//! Response playbooks (`alerts/playbooks/<category>.toml`): per crisis category, weighted
//! keyword lists per language for guessing the category of an incident, guidance for the
//! person answering, and first-reply drafts in en, he, fa, ru and ar, filled in with the
//! brand's name and the facts of the incident (minijinja templates).
//!
//! How the category is guessed: the texts of the incident's top posts and its top terms are
//! normalised like brand keywords; every keyword found adds its weight to its category, once
//! per post (a long post cannot outvote many) and once more if it is among the top terms. The
//! category with the largest total wins if it reaches [`MIN_SCORE`]; otherwise `other`.
//! `positive_viral` is only possible for volume incidents whose negative share is not above
//! the usual one, and never wins over a negative category for a negative-tone incident.

use crate::alert::explain::{TopPost, TopTerm};
use crate::alert::SuggestedResponse;
use crate::diag::{Diagnostic, Diagnostics};
use crate::ingest::normalize::normalize;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `alerts/playbooks/*.toml` of the source tree, compiled in.
const BUILTIN: &[(&str, &str)] = &[
    ("data_breach.toml", include_str!("../../alerts/playbooks/data_breach.toml")),
    ("misconduct.toml", include_str!("../../alerts/playbooks/misconduct.toml")),
    ("outage.toml", include_str!("../../alerts/playbooks/outage.toml")),
    ("positive_viral.toml", include_str!("../../alerts/playbooks/positive_viral.toml")),
    ("pricing.toml", include_str!("../../alerts/playbooks/pricing.toml")),
    ("rumor.toml", include_str!("../../alerts/playbooks/rumor.toml")),
    ("safety.toml", include_str!("../../alerts/playbooks/safety.toml")),
    ("service.toml", include_str!("../../alerts/playbooks/service.toml")),
];
use toml::Spanned;

/// Categories, as in DESIGN §3.
pub const CATEGORIES: [&str; 8] =
    ["outage", "data_breach", "safety", "pricing", "service", "misconduct", "rumor", "positive_viral"];
/// Languages every playbook must have a draft in.
pub const LANGS: [&str; 5] = ["en", "he", "fa", "ru", "ar"];
/// Smallest total keyword weight that names a category.
pub const MIN_SCORE: f64 = 4.0;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlaybook {
    category: Spanned<String>,
    title: String,
    guidance: String,
    keywords: BTreeMap<Spanned<String>, BTreeMap<String, Spanned<f64>>>,
    response: Vec<RawResponse>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResponse {
    lang: Spanned<String>,
    text: Spanned<String>,
}

/// One playbook.
#[derive(Debug, Clone)]
pub struct Playbook {
    /// Category id.
    pub category: String,
    /// Human title.
    pub title: String,
    /// How to answer (for the person, not sent).
    pub guidance: String,
    /// (language, normalised keyword, weight).
    pub keywords: Vec<(String, String, f64)>,
    /// (language, template).
    pub responses: Vec<(String, String)>,
}

/// All playbooks.
#[derive(Debug, Clone, Default)]
pub struct Playbooks {
    /// By category.
    pub books: Vec<Playbook>,
}

/// Facts an incident's drafts are filled with.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Facts {
    /// Brand display name.
    pub brand: String,
    /// When it started (`HH:MM UTC`).
    pub since: String,
    /// Mentions in the window.
    pub mentions: u32,
}

fn env() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env
}

fn sample_facts() -> Facts {
    Facts { brand: "Acme".into(), since: "09:40 UTC".into(), mentions: 120 }
}

impl Playbooks {
    /// Loads every `*.toml` in `dir`; all problems are reported, positioned.
    ///
    /// # Errors
    /// Unreadable files, unknown keys, unknown categories or languages, missing drafts,
    /// templates that do not render.
    pub fn load_dir(dir: &Path) -> Result<Self, Diagnostics> {
        let mut paths: Vec<_> = match std::fs::read_dir(dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect(),
            Err(e) => {
                return Err(Diagnostics(vec![Diagnostic::file(dir, format!("cannot read playbooks directory: {e}"))]))
            }
        };
        paths.sort();
        let mut diags = Vec::new();
        let mut files = Vec::new();
        for path in paths {
            match std::fs::read_to_string(&path) {
                Ok(t) => files.push((path, t)),
                Err(e) => diags.push(Diagnostic::file(&path, format!("cannot read: {e}"))),
            }
        }
        match Self::parse_files(&files) {
            Ok(b) if diags.is_empty() => Ok(b),
            Ok(_) => Err(Diagnostics(diags)),
            Err(Diagnostics(more)) => {
                diags.extend(more);
                Err(Diagnostics(diags))
            }
        }
    }

    /// The playbooks compiled into the binary (`alerts/playbooks/*.toml` of the source tree),
    /// used when no directory is given.
    pub fn builtin() -> Self {
        let files: Vec<(PathBuf, String)> = BUILTIN
            .iter()
            .map(|(name, text)| (Path::new("<built-in>/alerts/playbooks").join(name), (*text).to_string()))
            .collect();
        Self::parse_files(&files).expect("the built-in playbooks are checked by the tests")
    }

    /// Parses playbook files given as (path for diagnostics, text); all problems are reported.
    ///
    /// # Errors
    /// Unknown keys, unknown categories or languages, missing drafts, templates that do not
    /// render.
    pub fn parse_files(files: &[(PathBuf, String)]) -> Result<Self, Diagnostics> {
        let mut diags = Vec::new();
        let mut books: Vec<Playbook> = Vec::new();
        for (path, text) in files {
            let (path, text) = (path.as_path(), text.as_str());
            let raw: RawPlaybook = match toml::from_str(text) {
                Ok(r) => r,
                Err(e) => {
                    diags.push(Diagnostic::at(path, text, e.span(), e.message().to_string()));
                    continue;
                }
            };
            let at = |span: std::ops::Range<usize>, msg: String| Diagnostic::at(path, text, Some(span), msg);
            let category = raw.category.get_ref().clone();
            if !CATEGORIES.contains(&category.as_str()) {
                diags.push(at(
                    raw.category.span(),
                    format!("unknown category `{category}` (known: {})", CATEGORIES.join(", ")),
                ));
            }
            if books.iter().any(|b| b.category == category) {
                diags.push(at(raw.category.span(), format!("category `{category}` has two playbooks")));
            }
            let mut keywords = Vec::new();
            for (lang, words) in &raw.keywords {
                if !LANGS.contains(&lang.get_ref().as_str()) {
                    diags.push(at(
                        lang.span(),
                        format!("unknown language `{}` (known: {})", lang.get_ref(), LANGS.join(", ")),
                    ));
                }
                for (word, weight) in words {
                    let w = *weight.get_ref();
                    if !(w > 0.0 && w <= 10.0) {
                        diags.push(at(weight.span(), format!("weight of `{word}` must be in (0, 10], not {w}")));
                    }
                    let norm = normalize(word);
                    if norm.trim().is_empty() {
                        diags.push(at(weight.span(), format!("keyword `{word}` is empty after normalisation")));
                    }
                    keywords.push((lang.get_ref().clone(), norm, w));
                }
            }
            let env = env();
            let mut responses = Vec::new();
            for r in &raw.response {
                let lang = r.lang.get_ref();
                if !LANGS.contains(&lang.as_str()) {
                    diags.push(at(r.lang.span(), format!("unknown language `{lang}` (known: {})", LANGS.join(", "))));
                }
                if let Err(e) = env.render_str(r.text.get_ref(), sample_facts()) {
                    diags.push(at(
                        r.text.span(),
                        format!("draft does not render: {e} (variables: brand, since, mentions)"),
                    ));
                }
                responses.push((lang.clone(), r.text.get_ref().trim().to_string()));
            }
            for lang in LANGS {
                if !responses.iter().any(|(l, _)| l == lang) {
                    diags.push(Diagnostic::at(path, text, None, format!("no `{lang}` draft in `[[response]]`")));
                }
            }
            books.push(Playbook {
                category,
                title: raw.title,
                guidance: raw.guidance.trim().to_string(),
                keywords,
                responses,
            });
        }
        if diags.is_empty() {
            Ok(Playbooks { books })
        } else {
            Err(Diagnostics(diags))
        }
    }

    /// The playbook of `category`.
    pub fn get(&self, category: &str) -> Option<&Playbook> {
        self.books.iter().find(|b| b.category == category)
    }

    /// Guesses the category of an incident from its top posts and terms (see the module
    /// docs). `may_be_positive`: whether the incident could be a positive burst.
    pub fn guess(&self, posts: &[TopPost], terms: &[TopTerm], may_be_positive: bool) -> (&'static str, f64) {
        let texts: Vec<String> = posts.iter().map(|p| format!(" {} ", normalize(&p.text))).collect();
        let terms: Vec<String> = terms.iter().map(|t| normalize(&t.term)).collect();
        let mut best: (&'static str, f64) = ("other", 0.0);
        for book in &self.books {
            let Some(cat) = CATEGORIES.iter().find(|c| **c == book.category) else { continue };
            if *cat == "positive_viral" && !may_be_positive {
                continue;
            }
            let mut score = 0.0;
            for (_, kw, w) in &book.keywords {
                let padded = format!(" {kw} ");
                score += w * texts.iter().filter(|t| contains_word(t, kw, &padded)).count() as f64;
                if terms.iter().any(|t| t == kw || t.split(' ').any(|x| x == kw)) {
                    score += w;
                }
            }
            if score > best.1 {
                best = (cat, score);
            }
        }
        if best.1 < MIN_SCORE {
            return ("other", best.1);
        }
        best
    }

    /// First-reply drafts of `category` in `langs` (those of the incident's posts; English
    /// when none is known), filled with `facts`.
    pub fn drafts(&self, category: &str, langs: &[&str], facts: &Facts) -> Vec<SuggestedResponse> {
        let Some(book) = self.get(category) else { return Vec::new() };
        let env = env();
        let wanted: Vec<&str> = if langs.is_empty() { vec!["en"] } else { langs.to_vec() };
        book.responses
            .iter()
            .filter(|(l, _)| wanted.contains(&l.as_str()))
            .filter_map(|(lang, t)| {
                let text = env.render_str(t, facts).ok()?;
                Some(SuggestedResponse { lang: lang.clone(), text: text.trim().to_string() })
            })
            .collect()
    }
}

/// Word-bounded containment: `padded` is ` kw `; texts are padded with spaces. Normalised text
/// has punctuation folded to spaces, so a space boundary is a word boundary in every script.
fn contains_word(text: &str, kw: &str, padded: &str) -> bool {
    if kw.contains(' ') {
        text.contains(padded) || text.contains(kw)
    } else {
        text.contains(padded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn books() -> Playbooks {
        Playbooks::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("alerts/playbooks"))
            .expect("shipped playbooks load")
    }

    /// Every file of `alerts/playbooks` is compiled in, and the compiled-in set is the same as
    /// the directory's: no command depends on its working directory for its playbooks.
    #[test]
    fn the_built_in_playbooks_are_the_shipped_directory() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("alerts/playbooks");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".toml"))
            .collect();
        on_disk.sort();
        let compiled: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
        assert_eq!(on_disk, compiled, "add new playbook files to playbook::BUILTIN");
        for (name, text) in BUILTIN {
            assert_eq!(std::fs::read_to_string(dir.join(name)).unwrap(), *text);
        }
        let (a, b) = (Playbooks::builtin(), books());
        assert_eq!(a.books.len(), b.books.len());
        for (x, y) in a.books.iter().zip(&b.books) {
            assert_eq!((&x.category, &x.responses, &x.keywords), (&y.category, &y.responses, &y.keywords));
        }
    }

    fn post(text: &str) -> TopPost {
        TopPost {
            id: "1".into(),
            text: text.into(),
            author: None,
            author_followers: None,
            url: None,
            source: None,
            reshares: 0,
            negative: true,
        }
    }

    #[test]
    fn every_category_has_a_playbook_with_five_languages() {
        let b = books();
        for c in CATEGORIES {
            let book = b.get(c).unwrap_or_else(|| panic!("no playbook for {c}"));
            for l in LANGS {
                assert!(book.responses.iter().any(|(x, _)| x == l), "{c} has no {l} draft");
            }
        }
    }

    #[test]
    fn categories_are_guessed_in_every_language() {
        let b = books();
        let cases = [
            ("the Acme app is down again, can't log in", "outage"),
            ("האפליקציה של אקמה לא עובדת, תקלה מהבוקר", "outage"),
            ("утечка персональных данных клиентов Acme", "data_breach"),
            ("سپیدار گران شده، قیمت ها دو برابر شد", "pricing"),
            ("تسمم بعد تناول منتج نخيل، ابني في المستشفى", "safety"),
            ("waiting 2 hours on hold, customer service is rude", "service"),
            ("is it true Acme is going bankrupt? heard that from a friend", "rumor"),
        ];
        for (text, want) in cases {
            let (got, score) = b.guess(&[post(text), post(text)], &[], false);
            assert_eq!(got, want, "{text}: {score}");
        }
        let (got, _) = b.guess(&[post("the weather is nice")], &[], false);
        assert_eq!(got, "other", "no keywords, no category");
        let praise = [post("thank you Acme, amazing service, love it"), post("love the new ad, well done")];
        assert_eq!(b.guess(&praise, &[], true).0, "positive_viral");
        assert_ne!(b.guess(&praise, &[], false).0, "positive_viral", "not for negative incidents");
    }

    #[test]
    fn drafts_are_filled_with_the_facts() {
        let b = books();
        let facts = Facts { brand: "Migdalor".into(), since: "09:40 UTC".into(), mentions: 300 };
        let d = b.drafts("outage", &["he", "en"], &facts);
        assert_eq!(d.len(), 2);
        assert!(d.iter().all(|r| r.text.contains("Migdalor") && r.text.contains("09:40 UTC")), "{d:?}");
        assert!(!d.iter().any(|r| r.text.contains("{{")));
        assert_eq!(b.drafts("outage", &[], &facts)[0].lang, "en");
    }

    #[test]
    fn bad_playbooks_are_positioned() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("x.toml"),
            "category = \"weather\"\ntitle = \"t\"\nguidance = \"g\"\n[keywords]\nen = { \"rain\" = 30 }\n\
             [[response]]\nlang = \"en\"\ntext = \"{{ brandd }}\"\n",
        )
        .unwrap();
        let e = Playbooks::load_dir(dir.path()).unwrap_err().to_string();
        assert!(e.contains("unknown category `weather`") && e.contains("x.toml:1:"), "{e}");
        assert!(e.contains("weight of `rain`") && e.contains("x.toml:5:"), "{e}");
        assert!(e.contains("does not render") && e.contains("x.toml:8:"), "{e}");
        assert!(e.contains("no `he` draft"), "{e}");
    }
}
