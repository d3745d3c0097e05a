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
    // Text made only of characters that NFKC leaves alone (ASCII, Hebrew, Arabic, Cyrillic,
    // emoji; no combining marks outside the Hebrew/Arabic points that are dropped anyway)
    // skips the costly normaliser.
    if text.chars().all(nfkc_stable) {
        for c in text.chars() {
            push_folded(c, out);
        }
    } else {
        for c in text.nfkc() {
            push_folded(c, out);
        }
    }
}

fn nfkc_stable(c: char) -> bool {
    matches!(c, '\0'..='\u{7F}' | '\u{0400}'..='\u{04FF}' | '\u{0590}'..='\u{06FF}' | '\u{1F300}'..='\u{1FAFF}' | '\u{200C}' | '\u{200D}')
}

/// Folding of U+0400..U+06FF (Cyrillic, Hebrew, Arabic) precomputed: 0 = dropped, else the
/// folded code point. Built once from the general rules below.
fn fold_table() -> &'static [u16; 0x300] {
    use std::sync::OnceLock;
    static TABLE: OnceLock<[u16; 0x300]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [0u16; 0x300];
        for (i, slot) in t.iter_mut().enumerate() {
            let Some(c) = char::from_u32(0x400 + i as u32) else { continue };
            if is_dropped(c) {
                continue;
            }
            let mut lower = c.to_lowercase();
            let first = lower.next().unwrap_or(c);
            // single-character folds only (all of these blocks); anything else stays itself
            let folded = if lower.next().is_none() { unify(first) } else { c };
            *slot = u16::try_from(folded as u32).unwrap_or(c as u16);
        }
        t
    })
}

fn push_folded(c: char, out: &mut String) {
    if c.is_ascii() {
        out.push(c.to_ascii_lowercase());
        return;
    }
    let cp = c as u32;
    if (0x400..0x700).contains(&cp) {
        let v = fold_table()[(cp - 0x400) as usize];
        if v != 0 {
            out.push(char::from_u32(u32::from(v)).unwrap_or(c));
        }
        return;
    }
    if is_dropped(c) {
        return;
    }
    match c {
        // caseless scripts (Hebrew, Arabic): no lowercase lookup
        '\u{0590}'..='\u{06FF}' => out.push(unify(c)),
        // basic Cyrillic capitals А–Я map 0x20 down
        '\u{0410}'..='\u{042F}' => out.push(char::from_u32(c as u32 + 0x20).unwrap_or(c)),
        _ => {
            for l in c.to_lowercase() {
                out.push(unify(l));
            }
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
    match c {
        'a'..='z' | 'A'..='Z' | '0'..='9' | '_' => true,
        _ if c.is_ascii() => false,
        // the letters of the scripts we serve, without the general Unicode table lookup
        '\u{05D0}'..='\u{05EA}'
        | '\u{0620}'..='\u{064A}'
        | '\u{0660}'..='\u{0669}'
        | '\u{066E}'..='\u{06D3}'
        | '\u{06F0}'..='\u{06F9}'
        | '\u{0400}'..='\u{045F}' => true,
        // punctuation, symbols and emoji: no letters there
        '\u{2000}'..='\u{2BFF}' | '\u{1F000}'..='\u{1FAFF}' => false,
        _ => c.is_alphanumeric(),
    }
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
