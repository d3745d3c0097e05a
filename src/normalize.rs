//! Text normalisation shared by brand matching and term extraction: Unicode NFKC, lower
//! case, Hebrew niqqud and Arabic harakat removed, Arabic/Persian letter variants unified,
//! invisible joiners, bidi controls and tatweel removed, Russian ё→е. ASCII text takes a
//! fast path that only lowercases.

use unicode_normalization::UnicodeNormalization;

/// Characters dropped entirely: they change how text looks, not what it says.
fn is_dropped(c: char) -> bool {
    matches!(c,
        '\u{0591}'..='\u{05BD}' | '\u{05BF}' | '\u{05C1}'..='\u{05C2}' | '\u{05C4}'..='\u{05C5}' | '\u{05C7}' // niqqud, cantillation
        | '\u{064B}'..='\u{065F}' | '\u{0670}' | '\u{06D6}'..='\u{06ED}' // Arabic harakat, Quranic marks
        | '\u{0640}' // tatweel
        | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}' | '\u{00AD}')
}

/// Maps letter variants to one canonical letter so that spellings from different keyboards
/// and countries match each other.
fn unify(c: char) -> char {
    match c {
        'ی' | 'ى' | 'ئ' => 'ي', // Persian yeh, alef maksura, yeh with hamza → Arabic yeh
        'ک' => 'ك',             // Persian keheh → Arabic kaf
        'ة' => 'ه',             // teh marbuta is written heh in Persian and informal Arabic
        'أ' | 'إ' | 'آ' | 'ٱ' => 'ا',
        'ؤ' => 'و',
        'ё' => 'е',
        _ => c,
    }
}

/// Writes the normalised form of `text` into `out` (cleared first). `out` is reused across
/// calls so that the hot path does not allocate once it has grown.
pub fn normalize_into(text: &str, out: &mut String) {
    out.clear();
    if text.is_ascii() {
        out.push_str(text);
        out.make_ascii_lowercase();
        return;
    }
    for c in text.nfkc() {
        if is_dropped(c) {
            continue;
        }
        for l in c.to_lowercase() {
            out.push(unify(l));
        }
    }
}

/// Convenience wrapper returning a new string (tests, rule loading).
pub fn normalize(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    normalize_into(text, &mut s);
    s
}

/// True for characters that are part of a word in any script.
pub fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn normalises_every_script() {
        assert_eq!(normalize("ACME Down"), "acme down");
        assert_eq!(normalize("ＡＣＭＥ"), "acme"); // full-width, NFKC
        assert_eq!(normalize("שָׁלוֹם"), "שלום"); // niqqud
        assert_eq!(normalize("كتاب ی"), normalize("کتاب ي")); // Persian/Arabic variants
        assert_eq!(normalize("شركة"), "شركه");
        assert_eq!(normalize("ســلام"), "سلام"); // tatweel
        assert_eq!(normalize("می\u{200C}خواهم"), "ميخواهم"); // ZWNJ
        assert_eq!(normalize("Ёлка"), "елка");
        assert_eq!(normalize("a\u{202E}b"), "ab"); // bidi override
    }
}
