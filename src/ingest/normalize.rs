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
        | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}' | '\u{00AD}'
        | '\u{FE0E}' | '\u{FE0F}') // emoji/text presentation selectors
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
    matches!(c, '\0'..='\u{7F}' | '\u{0400}'..='\u{04FF}' | '\u{0590}'..='\u{06FF}') || nfkc_inert(c)
}

/// Characters outside ASCII and our scripts that NFKC leaves alone wherever they stand
/// (no decomposition change, combining class 0) and whose lower case is one such
/// character: Latin-1 and Latin Extended letters, punctuation (’ “ ” – — « »), currency,
/// arrows, symbols, dingbats, emoji, variation selectors. Generated from the Unicode 14
/// character database; `tests::inert_characters_are_nfkc_stable` checks it against the
/// normaliser in use. Lets real posts with typographic quotes or a heart skip the normaliser.
const NFKC_INERT: &[(u32, u32)] = &[
    (0x0080, 0x009F),
    (0x00A1, 0x00A7),
    (0x00A9, 0x00A9),
    (0x00AB, 0x00AE),
    (0x00B0, 0x00B1),
    (0x00B6, 0x00B7),
    (0x00BB, 0x00BB),
    (0x00BF, 0x012F),
    (0x0131, 0x0131),
    (0x0134, 0x013E),
    (0x0141, 0x0148),
    (0x014A, 0x017E),
    (0x0180, 0x01C3),
    (0x01CD, 0x01F0),
    (0x01F4, 0x024F),
    (0x200B, 0x2010),
    (0x2012, 0x2016),
    (0x2018, 0x2023),
    (0x2027, 0x202E),
    (0x2030, 0x2032),
    (0x2035, 0x2035),
    (0x2038, 0x203B),
    (0x203D, 0x203D),
    (0x203F, 0x2046),
    (0x204A, 0x2056),
    (0x2058, 0x205E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0x20A0, 0x20A7),
    (0x20A9, 0x20C0),
    (0x2104, 0x2104),
    (0x2108, 0x2108),
    (0x2114, 0x2114),
    (0x2117, 0x2118),
    (0x211E, 0x211F),
    (0x2123, 0x2123),
    (0x2125, 0x2125),
    (0x2127, 0x2127),
    (0x2129, 0x2129),
    (0x212E, 0x212E),
    (0x2132, 0x2132),
    (0x213A, 0x213A),
    (0x2141, 0x2144),
    (0x214A, 0x214F),
    (0x2180, 0x2188),
    (0x218A, 0x218B),
    (0x2190, 0x222B),
    (0x222E, 0x222E),
    (0x2231, 0x2328),
    (0x232B, 0x2426),
    (0x2440, 0x244A),
    (0x24EB, 0x2A0B),
    (0x2A0D, 0x2A73),
    (0x2A77, 0x2ADB),
    (0x2ADD, 0x2B73),
    (0x2B76, 0x2B95),
    (0x2B97, 0x2BFF),
    (0xFE00, 0xFE0F),
    (0x1F000, 0x1F02B),
    (0x1F030, 0x1F093),
    (0x1F0A0, 0x1F0AE),
    (0x1F0B1, 0x1F0BF),
    (0x1F0C1, 0x1F0CF),
    (0x1F0D1, 0x1F0F5),
    (0x1F10B, 0x1F10F),
    (0x1F12F, 0x1F12F),
    (0x1F150, 0x1F169),
    (0x1F16D, 0x1F18F),
    (0x1F191, 0x1F1AD),
    (0x1F1E6, 0x1F1FF),
    (0x1F260, 0x1F265),
    (0x1F300, 0x1F6D7),
    (0x1F6DD, 0x1F6EC),
    (0x1F6F0, 0x1F6FC),
    (0x1F700, 0x1F773),
    (0x1F780, 0x1F7D8),
    (0x1F7E0, 0x1F7EB),
    (0x1F7F0, 0x1F7F0),
    (0x1F800, 0x1F80B),
    (0x1F810, 0x1F847),
    (0x1F850, 0x1F859),
    (0x1F860, 0x1F887),
    (0x1F890, 0x1F8AD),
    (0x1F8B0, 0x1F8B1),
    (0x1F900, 0x1FA53),
    (0x1FA60, 0x1FA6D),
    (0x1FA70, 0x1FA74),
    (0x1FA78, 0x1FA7C),
    (0x1FA80, 0x1FA86),
    (0x1FA90, 0x1FAAC),
    (0x1FAB0, 0x1FABA),
    (0x1FAC0, 0x1FAC5),
    (0x1FAD0, 0x1FAD9),
    (0x1FAE0, 0x1FAE7),
    (0x1FAF0, 0x1FAF6),
];

fn nfkc_inert(c: char) -> bool {
    let cp = u32::from(c);
    NFKC_INERT
        .binary_search_by(|&(lo, hi)| {
            if hi < cp {
                std::cmp::Ordering::Less
            } else if lo > cp {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
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

/// What normalisation makes of one character, for callers that stream characters instead
/// of building the normalised string: `None` when NFKC might change the character (the
/// caller must then normalise the whole text with [`normalize_into`]), `Some(None)` when it
/// is dropped, else the folded character. Agrees with [`normalize_into`] character by
/// character on the text it accepts.
#[inline]
pub fn fold_stable(c: char) -> Option<Option<char>> {
    let cp = c as u32;
    if cp < 0x80 {
        return Some(Some(c.to_ascii_lowercase()));
    }
    if (0x400..0x700).contains(&cp) {
        let v = fold_table()[(cp - 0x400) as usize];
        return Some(if v == 0 { None } else { char::from_u32(u32::from(v)) });
    }
    if !nfkc_stable(c) {
        return None;
    }
    if is_dropped(c) {
        return Some(None);
    }
    // inert characters lower-case to a single character (checked when the list was made)
    Some(Some(c.to_lowercase().next().unwrap_or(c)))
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

    #[test]
    fn streaming_fold_agrees_with_the_string_form() {
        let text = "ACME Down שָׁלוֹם كتاب ی ســلام می\u{200C}خواهم Ёлка 😡 a\u{202E}b";
        let mut streamed = String::new();
        for c in text.chars() {
            if let Some(f) = super::fold_stable(c).expect("all stable") {
                streamed.push(f);
            }
        }
        assert_eq!(streamed, normalize(text));
        assert_eq!(super::fold_stable('Ａ'), None, "full-width forms need NFKC");
        assert_eq!(super::fold_stable('É'), Some(Some('é')));
        assert_eq!(super::fold_stable('’'), Some(Some('’')));
        assert_eq!(super::fold_stable('\u{FE0F}'), Some(None));
    }

    #[test]
    fn inert_characters_are_nfkc_stable() {
        use unicode_normalization::UnicodeNormalization;
        for &(lo, hi) in super::NFKC_INERT {
            for c in (lo..=hi).filter_map(char::from_u32) {
                let one = c.to_string();
                assert_eq!(one.nfkc().collect::<String>(), one, "U+{:04X} changes under NFKC", u32::from(c));
                // after a letter, too: nothing composes with it
                let pair = format!("a{c}");
                assert_eq!(pair.nfkc().collect::<String>(), pair, "U+{:04X} composes", u32::from(c));
                let mut lower = c.to_lowercase();
                let l = lower.next().unwrap().to_string();
                assert!(lower.next().is_none(), "U+{:04X} lowercases to more than one character", u32::from(c));
                assert_eq!(
                    l.nfkc().collect::<String>(),
                    l,
                    "the lower case of U+{:04X} changes under NFKC",
                    u32::from(c)
                );
            }
        }
    }
}
