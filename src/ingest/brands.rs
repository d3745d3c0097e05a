//! Brand matching: which brands a mention is about. All brands' keywords are compiled into
//! one Aho-Corasick automaton over normalised text and searched in one pass; matches must
//! sit on word boundaries in every script, except that Hebrew and Arabic proclitics
//! (ו/ה/ב/ל/מ/ש/כ, و/ال/ب/ل/ف/ك) may precede a keyword and a keyword ending in `*` matches as a
//! stem (`сбербанк*` matches `сбербанка`). A brand's exclusion phrases veto it.

use crate::ingest::normalize::{is_word_char, normalize, normalize_into};
use aho_corasick::{AhoCorasick, MatchKind};

/// One keyword pattern of one brand.
#[derive(Debug, Clone, Copy)]
struct Pattern {
    brand: u32,
    exclusion: bool,
    stem: bool,
}

/// The compiled keyword matcher for all brands.
#[derive(Debug)]
pub struct BrandMatcher {
    automaton: Option<AhoCorasick>,
    patterns: Vec<Pattern>,
    text: String,
    hits: Vec<(u32, bool)>,
}

/// Keywords of one brand, as given in its rule file.
#[derive(Debug, Clone, Default)]
pub struct BrandKeywords {
    /// Index of the brand in the engine's brand table.
    pub brand: u32,
    /// Keywords and aliases in every language (`*` suffix = stem).
    pub keywords: Vec<String>,
    /// Phrases that mean the mention is about something else.
    pub exclusions: Vec<String>,
}

fn is_proclitic_prefix(prefix: &str) -> bool {
    const HE: &[char] = &['ו', 'ה', 'ב', 'ל', 'מ', 'ש', 'כ'];
    const AR: &[&str] = &["و", "ال", "ب", "ل", "ف", "ك", "وال", "بال", "لل", "فال", "كال", "ول", "وب"];
    if prefix.is_empty() {
        return true;
    }
    let n = prefix.chars().count();
    if n <= 3 && prefix.chars().all(|c| HE.contains(&c)) {
        return true;
    }
    AR.contains(&prefix)
}

impl BrandMatcher {
    /// Compiles the keywords of all brands.
    ///
    /// # Errors
    /// When the automaton cannot be built (pattern set too large).
    pub fn new(brands: &[BrandKeywords]) -> Result<Self, aho_corasick::BuildError> {
        let mut pats = Vec::new();
        let mut patterns = Vec::new();
        for b in brands {
            for (list, exclusion) in [(&b.keywords, false), (&b.exclusions, true)] {
                for k in list {
                    let stem = k.ends_with('*');
                    let norm = normalize(k.trim_end_matches('*').trim());
                    if norm.is_empty() {
                        continue;
                    }
                    pats.push(norm);
                    patterns.push(Pattern { brand: b.brand, exclusion, stem });
                }
            }
        }
        let automaton = if pats.is_empty() {
            None
        } else {
            Some(AhoCorasick::builder().match_kind(MatchKind::Standard).build(&pats)?)
        };
        Ok(BrandMatcher { automaton, patterns, text: String::new(), hits: Vec::new() })
    }

    /// Appends to `out` the indices of the brands `text` is about (each once, in no
    /// particular order). Reuses internal buffers: no allocation once warmed up.
    pub fn match_into(&mut self, text: &str, out: &mut Vec<u32>) {
        let Some(ac) = &self.automaton else { return };
        normalize_into(text, &mut self.text);
        self.hits.clear();
        let t = self.text.as_str();
        for m in ac.find_overlapping_iter(t) {
            let p = self.patterns[m.pattern().as_usize()];
            let before_word_start = t[..m.start()]
                .char_indices()
                .rev()
                .find(|&(_, c)| !is_word_char(c))
                .map_or(0, |(i, c)| i + c.len_utf8());
            let prefix = &t[before_word_start..m.start()];
            let left_ok = prefix.is_empty()
                || !t[m.start()..].chars().next().is_some_and(is_word_char)
                || is_proclitic_prefix(prefix);
            let last_is_word = t[..m.end()].chars().next_back().is_some_and(is_word_char);
            let right_ok = p.stem || !last_is_word || !t[m.end()..].chars().next().is_some_and(is_word_char);
            if left_ok && right_ok {
                self.hits.push((p.brand, p.exclusion));
            }
        }
        for &(brand, excl) in &self.hits {
            if excl || out.contains(&brand) {
                continue;
            }
            if !self.hits.iter().any(|&(b, e)| e && b == brand) {
                out.push(brand);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher() -> BrandMatcher {
        BrandMatcher::new(&[
            BrandKeywords {
                brand: 0,
                keywords: vec!["Acme".into(), "@acme".into(), "אקמה".into(), "آکمه".into(), "акме*".into()],
                exclusions: vec!["acme road runner".into()],
            },
            BrandKeywords { brand: 1, keywords: vec!["Globex".into(), "گلوبکس".into()], exclusions: vec![] },
        ])
        .unwrap()
    }

    fn brands(m: &mut BrandMatcher, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        m.match_into(text, &mut out);
        out.sort_unstable();
        out
    }

    #[test]
    fn matches_on_word_boundaries_in_every_script() {
        let mut m = matcher();
        let cases: &[(&str, &[u32])] = &[
            ("ACME is down again", &[0]),
            ("acmex is a different company", &[]),
            ("thanks @Acme!", &[0]),
            ("the acme road runner cartoon", &[]),
            ("Acme and Globex both", &[0, 1]),
            ("שירות גרוע באקמה היום", &[0]), // Hebrew prefix ב
            ("אקמהלה", &[]),
            ("خدمات آكمه افتضاح است", &[0]), // Arabic kaf for Persian keheh
            ("проблемы с Акмеом", &[0]),     // stem
            ("شركة گلوبكس", &[1]),
            ("", &[]),
        ];
        for (text, want) in cases {
            assert_eq!(brands(&mut m, text), *want, "{text}");
        }
    }
}
