//! Language identification for the tone model, fast enough for every mention: the script
//! decides first (Hebrew, Arabic script, Cyrillic, Latin), then Persian and Arabic are told
//! apart by their distinct letters (پ چ ژ گ ی ک against ة ى ي ك) and frequent words
//! ("است", "می", "را" against "في", "على", "الذي"). Latin text is taken as English, the only
//! Latin-script language with a tone model. A `lang` field on the mention wins when present.

/// The languages with a tone model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lang {
    /// English.
    En,
    /// Hebrew.
    He,
    /// Persian.
    Fa,
    /// Russian.
    Ru,
    /// Arabic.
    Ar,
}

impl Lang {
    /// All of them, in a fixed order.
    pub const ALL: [Lang; 5] = [Lang::En, Lang::He, Lang::Fa, Lang::Ru, Lang::Ar];

    /// ISO 639-1 code.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::He => "he",
            Lang::Fa => "fa",
            Lang::Ru => "ru",
            Lang::Ar => "ar",
        }
    }

    /// From an ISO 639-1 code, any case (`iw` is accepted for Hebrew). Called per mention:
    /// compares in place rather than lowercasing into a new string.
    pub fn from_code(code: &str) -> Option<Lang> {
        let code = code.trim();
        let is = |name: &str| code.eq_ignore_ascii_case(name);
        if is("en") {
            Some(Lang::En)
        } else if is("he") || is("iw") {
            Some(Lang::He)
        } else if is("fa") {
            Some(Lang::Fa)
        } else if is("ru") {
            Some(Lang::Ru)
        } else if is("ar") {
            Some(Lang::Ar)
        } else {
            None
        }
    }
}

/// Detects the language of `text`, `None` when no supported script dominates.
pub fn detect(text: &str) -> Option<Lang> {
    let (mut latin, mut hebrew, mut arabic, mut cyrillic) = (0u32, 0u32, 0u32, 0u32);
    let (mut persian_marks, mut arabic_marks) = (0u32, 0u32);
    // the first 96 letters are plenty of evidence, and keep long posts cheap
    for c in text.chars() {
        if latin + hebrew + arabic + cyrillic >= 96 {
            break;
        }
        match c {
            'a'..='z' | 'A'..='Z' => latin += 1,
            '\u{0590}'..='\u{05FF}' | '\u{FB1D}'..='\u{FB4F}' => hebrew += 1,
            '\u{0400}'..='\u{04FF}' => cyrillic += 1,
            '\u{0600}'..='\u{06FF}' | '\u{0750}'..='\u{077F}' | '\u{FB50}'..='\u{FDFF}' | '\u{FE70}'..='\u{FEFF}' => {
                arabic += 1;
                match c {
                    'پ' | 'چ' | 'ژ' | 'گ' | 'ی' | 'ک' | '\u{06C0}' => persian_marks += 1,
                    'ة' | 'ى' | 'ي' | 'ك' | 'إ' | 'ؤ' => arabic_marks += 1,
                    _ => {}
                }
            }
            _ => {}
        }
    }
    let best = latin.max(hebrew).max(arabic).max(cyrillic);
    if best == 0 {
        return None;
    }
    if arabic == best {
        return Some(persian_or_arabic(text, persian_marks, arabic_marks));
    }
    if hebrew == best {
        Some(Lang::He)
    } else if cyrillic == best {
        Some(Lang::Ru)
    } else {
        Some(Lang::En)
    }
}

fn persian_or_arabic(text: &str, mut persian: u32, mut arabic: u32) -> Lang {
    let end = text.char_indices().nth(200).map_or(text.len(), |(i, _)| i);
    let text = &text[..end];
    const FA: &[&str] = &["است", "می", "را", "این", "که", "برای", "نمی", "هست", "خیلی", "باید"];
    const AR: &[&str] = &["في", "على", "الذي", "التي", "هذا", "هذه", "إلى", "الى", "عن", "لا", "ما"];
    for w in text.split(|c: char| !crate::normalize::is_word_char(c)) {
        if FA.contains(&w) {
            persian += 2;
        } else if AR.contains(&w) {
            arabic += 2;
        } else if w.starts_with("ال") {
            arabic += 1;
        }
    }
    if persian > arabic {
        Lang::Fa
    } else {
        Lang::Ar
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_and_persian_versus_arabic() {
        let cases = [
            ("Acme is down again", Some(Lang::En)),
            ("שירות גרוע באקמה היום", Some(Lang::He)),
            ("Сбербанк опять не работает", Some(Lang::Ru)),
            ("پشتیبانی این شرکت افتضاح است", Some(Lang::Fa)),
            ("خدمة العملاء سيئة جدا في هذه الشركة", Some(Lang::Ar)),
            ("من این رو که گرفتم خیلی بد بود", Some(Lang::Fa)),
            ("مع فيدرر يا آجا والكبار", Some(Lang::Ar)),
            ("😡😡😡 12345", None),
        ];
        for (text, want) in cases {
            assert_eq!(detect(text), want, "{text}");
        }
        assert_eq!(Lang::from_code("IW"), Some(Lang::He));
        assert_eq!(Lang::from_code("de"), None);
    }
}
