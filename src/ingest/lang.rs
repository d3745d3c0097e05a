//! Language identification for the tone model, fast enough for every mention: the script
//! decides first (Hebrew, Arabic script, Cyrillic, Latin), then Persian and Arabic are told
//! apart by their distinct letters (پ چ ژ گ ی ک against ة ى ي ك) and frequent words
//! ("است", "می", "را" against "في", "على", "الذي"). Latin text is taken as English, the only
//! Latin-script language with a tone model. A `lang` field on the mention wins when present.

/// The languages with a tone model (and of the messages' fixed wording, `notify::words`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Lang {
    /// English.
    #[default]
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

    /// Written right to left (Hebrew, Persian, Arabic).
    pub fn is_rtl(self) -> bool {
        matches!(self, Lang::He | Lang::Fa | Lang::Ar)
    }

    /// `rtl` or `ltr`, for HTML's `dir`.
    pub fn dir(self) -> &'static str {
        if self.is_rtl() {
            "rtl"
        } else {
            "ltr"
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

/// How many bytes of a post the script count looks at: 96 letters of a two-byte script or
/// about 160 Latin ones are plenty of evidence, and keep long posts cheap.
const WINDOW: usize = 192;

/// Detects the language of `text`, `None` when no supported script dominates.
///
/// Counts the UTF-8 lead bytes of each script in the first 192 bytes (every script we
/// tell apart lives in two-byte sequences with its own lead bytes, and continuation bytes
/// never look like a lead or an ASCII letter, so no character is decoded and the loop
/// vectorises); Arabic-script text is then told apart as Persian or Arabic by letters and
/// frequent words.
pub fn detect(text: &str) -> Option<Lang> {
    let window = &text.as_bytes()[..text.len().min(WINDOW)];
    let [latin, hebrew, arabic, cyrillic] = count_scripts(window);
    let best = latin.max(hebrew).max(arabic).max(cyrillic);
    if best == 0 {
        return presentation_forms(text);
    }
    if arabic == best {
        Some(persian_or_arabic(window))
    } else if hebrew == best {
        Some(Lang::He)
    } else if cyrillic == best {
        Some(Lang::Ru)
    } else {
        Some(Lang::En)
    }
}

/// Script of each byte as an increment of a packed counter: ASCII letters in bits 0..16,
/// Hebrew lead bytes (U+0580..U+05FF) in 16..32, Arabic-script lead bytes (U+0600..U+06FF,
/// U+0740..U+077F) in 32..48, Cyrillic lead bytes (U+0400..U+04FF) in 48..64. A window has
/// at most 192 bytes, so no field overflows into the next.
const SCRIPT: [u64; 256] = {
    let mut t = [0u64; 256];
    let mut b = 0;
    while b < 256 {
        let x = b as u8;
        t[b] = if x.is_ascii_alphabetic() {
            1
        } else if x == 0xD6 || x == 0xD7 {
            1 << 16
        } else if x & 0xFC == 0xD8 || x == 0xDD {
            1 << 32
        } else if x & 0xFC == 0xD0 {
            1 << 48
        } else {
            0
        };
        b += 1;
    }
    t
};

/// Letters only Persian uses (پ چ ژ گ ی ک ۀ, counted in bits 0..16) or only Arabic (ة ى ي ك
/// إ ؤ, bits 16..32), indexed by the low two bits of the lead byte (D8..DB) and the second
/// byte.
const MARKS: [u32; 1024] = {
    let mut t = [0u32; 1024];
    let persian: [(u8, u8); 7] =
        [(0xD9, 0xBE), (0xDA, 0x86), (0xDA, 0x98), (0xDA, 0xAF), (0xDA, 0xA9), (0xDB, 0x8C), (0xDB, 0x80)];
    let arabic: [(u8, u8); 6] = [(0xD8, 0xA9), (0xD8, 0xA5), (0xD8, 0xA4), (0xD9, 0x89), (0xD9, 0x8A), (0xD9, 0x83)];
    let mut i = 0;
    while i < persian.len() {
        t[((persian[i].0 as usize & 3) << 8) | persian[i].1 as usize] = 1;
        i += 1;
    }
    i = 0;
    while i < arabic.len() {
        t[((arabic[i].0 as usize & 3) << 8) | arabic[i].1 as usize] = 1 << 16;
        i += 1;
    }
    t
};

/// Per window: ASCII letters, Hebrew, Arabic-script and Cyrillic lead bytes. Whole chunks
/// of 16 bytes are counted in byte-wide lanes (a window has at most twelve chunks, so no
/// lane overflows), which the compiler turns into vector compares; the rest by table.
fn count_scripts(window: &[u8]) -> [u32; 4] {
    const LANES: usize = 16;
    let (mut latin, mut hebrew, mut arabic, mut cyrillic) = ([0u8; LANES], [0u8; LANES], [0u8; LANES], [0u8; LANES]);
    let chunks = window.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for k in 0..LANES {
            let b = chunk[k];
            latin[k] += u8::from((b | 0x20).wrapping_sub(b'a') < 26);
            hebrew[k] += u8::from(b.wrapping_sub(0xD6) < 2);
            arabic[k] += u8::from(b & 0xFC == 0xD8) | u8::from(b == 0xDD);
            cyrillic[k] += u8::from(b & 0xFC == 0xD0);
        }
    }
    let packed: u64 = rest.iter().map(|&b| SCRIPT[usize::from(b)]).sum();
    let lanes = |l: [u8; LANES]| l.iter().map(|&x| u32::from(x)).sum::<u32>();
    let from_rest = |shift: u32| ((packed >> shift) & 0xFFFF) as u32;
    [
        lanes(latin) + from_rest(0),
        lanes(hebrew) + from_rest(16),
        lanes(arabic) + from_rest(32),
        lanes(cyrillic) + from_rest(48),
    ]
}

/// Text without a letter of the basic blocks may still be written in presentation forms
/// (Hebrew U+FB1D..U+FB4F, Arabic U+FB50..U+FDFF and U+FE70..U+FEFF): rare, so decoded.
fn presentation_forms(text: &str) -> Option<Lang> {
    let (mut hebrew, mut arabic) = (0u32, 0u32);
    for c in text.chars().take(WINDOW) {
        match c {
            '\u{FB1D}'..='\u{FB4F}' => hebrew += 1,
            '\u{FB50}'..='\u{FDFF}' | '\u{FE70}'..='\u{FEFF}' => arabic += 1,
            _ => {}
        }
    }
    match (hebrew, arabic) {
        (0, 0) => None,
        (h, a) if h > a => Some(Lang::He),
        _ => Some(Lang::Ar),
    }
}

/// Persian or Arabic, in one pass over the window's bytes: letters only one of them uses
/// (پ چ ژ گ ی ک ۀ against ة ى ي ك إ ؤ, one point each) and frequent words (two points each;
/// a word starting with the article ال is one point for Arabic). Words are the
/// space-separated tokens, compared as packed integers. A lead byte of U+0600..U+06FF is
/// never a continuation byte, so byte pairs need no decoding.
fn persian_or_arabic(window: &[u8]) -> Lang {
    let (mut persian, mut arabic) = count_marks(window);
    // the words between the spaces of a bit mask, each packed with one load
    let mut start = 0;
    for (block, bytes) in window.chunks(64).enumerate() {
        let mut spaces = space_mask(bytes);
        while spaces != 0 {
            let end = block * 64 + spaces.trailing_zeros() as usize;
            spaces &= spaces - 1;
            let (p, a) = word_points(window, start, end);
            persian += p;
            arabic += a;
            start = end + 1;
        }
    }
    let (p, a) = word_points(window, start, window.len());
    persian += p;
    arabic += a;
    if persian > arabic {
        Lang::Fa
    } else {
        Lang::Ar
    }
}

/// Bit k set when `bytes[k]` is a space (at most 64 bytes), eight bytes at a time without a
/// branch per byte: a zero-byte test on the bytes XOR space, its high bits gathered by a
/// multiply (the partial products land on distinct bits, so nothing carries).
fn space_mask(bytes: &[u8]) -> u64 {
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    let groups = bytes.chunks_exact(8);
    let rest = groups.remainder();
    let mut mask = 0u64;
    for (j, group) in groups.enumerate() {
        let mut b = [0u8; 8];
        b.copy_from_slice(group);
        let t = u64::from_le_bytes(b) ^ 0x2020_2020_2020_2020;
        let zero = !(((t & LOW7) + LOW7) | t | LOW7);
        mask |= ((zero >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) << (8 * j);
    }
    let base = bytes.len() - rest.len();
    for (k, &b) in rest.iter().enumerate() {
        mask |= u64::from(b == b' ') << (base + k);
    }
    mask
}

/// The points of the word `window[start..end]`: (Persian, Arabic).
#[inline(always)]
fn word_points(window: &[u8], start: usize, end: usize) -> (u32, u32) {
    const ARTICLE: &[u8] = "ال".as_bytes();
    let word = &window[start..end];
    let n = word.len();
    if (1..=8).contains(&n) {
        // big-endian, as `pack` does: one 8-byte load when the window has the bytes
        let packed = match window.get(start..start + 8) {
            Some(&[a, b, c, d, e, f, g, h]) => u64::from_be_bytes([a, b, c, d, e, f, g, h]) >> (8 * (8 - n)),
            _ => word.iter().fold(0u64, |v, &b| (v << 8) | u64::from(b)),
        };
        if maybe_listed(packed) {
            if PERSIAN_WORDS.contains(&packed) {
                return (2, 0);
            }
            if ARABIC_WORDS.contains(&packed) {
                return (0, 2);
            }
        }
    }
    (0, u32::from(n >= 4 && word.starts_with(ARTICLE)))
}

/// Letters only Persian uses and letters only Arabic uses, in the window: byte pairs
/// compared in sixteen byte-wide lanes, as [`count_scripts`] does.
fn count_marks(window: &[u8]) -> (u32, u32) {
    const LANES: usize = 16;
    let (mut persian, mut arabic) = ([0u8; LANES], [0u8; LANES]);
    let pairs = window.len().saturating_sub(1);
    let (firsts, seconds) = (&window[..pairs], &window[window.len() - pairs..]);
    let whole = pairs / LANES * LANES;
    for start in (0..whole).step_by(LANES) {
        let (a, b) = (&firsts[start..start + LANES], &seconds[start..start + LANES]);
        for k in 0..LANES {
            let (x, y) = (a[k], b[k]);
            persian[k] += u8::from(x == 0xD9) & u8::from(y == 0xBE)
                | u8::from(x == 0xDA)
                    & (u8::from(y == 0x86) | u8::from(y == 0x98) | u8::from(y == 0xAF) | u8::from(y == 0xA9))
                | u8::from(x == 0xDB) & (u8::from(y == 0x8C) | u8::from(y == 0x80));
            arabic[k] += u8::from(x == 0xD8) & (u8::from(y == 0xA9) | u8::from(y == 0xA5) | u8::from(y == 0xA4))
                | u8::from(x == 0xD9) & (u8::from(y == 0x89) | u8::from(y == 0x8A) | u8::from(y == 0x83));
        }
    }
    let mut rest = 0u32;
    for k in whole..pairs {
        let (x, y) = (firsts[k], seconds[k]);
        if x & 0xFC == 0xD8 {
            rest += MARKS[(usize::from(x & 3) << 8) | usize::from(y)];
        }
    }
    let sum = |l: [u8; LANES]| l.iter().map(|&x| u32::from(x)).sum::<u32>();
    (sum(persian) + (rest & 0xFFFF), sum(arabic) + (rest >> 16))
}

/// A 256-bit filter of the listed words: most words are not listed, and one multiply and a
/// bit test say so without comparing against the lists.
const LISTED: [u64; 4] = {
    let mut bits = [0u64; 4];
    let mut i = 0;
    while i < PERSIAN_WORDS.len() + ARABIC_WORDS.len() {
        let w = if i < PERSIAN_WORDS.len() { PERSIAN_WORDS[i] } else { ARABIC_WORDS[i - PERSIAN_WORDS.len()] };
        let slot = filter_slot(w);
        bits[slot >> 6] |= 1 << (slot & 63);
        i += 1;
    }
    bits
};

const fn filter_slot(packed: u64) -> usize {
    (packed.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as usize
}

#[inline]
fn maybe_listed(packed: u64) -> bool {
    let slot = filter_slot(packed);
    LISTED[slot >> 6] >> (slot & 63) & 1 == 1
}

/// Packs a word of up to four two-byte letters into an integer, big-endian.
const fn pack(word: &str) -> u64 {
    let b = word.as_bytes();
    let mut v = 0u64;
    let mut i = 0;
    while i < b.len() {
        v = (v << 8) | b[i] as u64;
        i += 1;
    }
    v
}

// with Persian ی and, as typed on Arabic keyboards, with ي
const PERSIAN_WORDS: [u64; 14] = [
    pack("است"),
    pack("می"),
    pack("را"),
    pack("این"),
    pack("که"),
    pack("برای"),
    pack("نمی"),
    pack("هست"),
    pack("خیلی"),
    pack("باید"),
    pack("خيلي"),
    pack("براي"),
    pack("نمي"),
    pack("بايد"),
];
const ARABIC_WORDS: [u64; 11] = [
    pack("في"),
    pack("على"),
    pack("الذي"),
    pack("التي"),
    pack("هذا"),
    pack("هذه"),
    pack("إلى"),
    pack("الى"),
    pack("عن"),
    pack("لا"),
    pack("ما"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn space_mask_marks_exactly_the_spaces() {
        let mut bytes: Vec<u8> = (0..=255u8).collect();
        bytes.extend_from_slice("  a b\u{A0}c  ".as_bytes());
        for block in bytes.chunks(64) {
            for len in 0..=block.len() {
                let want = block[..len].iter().enumerate().fold(0u64, |m, (k, &b)| m | u64::from(b == b' ') << k);
                assert_eq!(space_mask(&block[..len]), want);
            }
        }
    }

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
            // Persian typed on an Arabic keyboard (ي ك): the frequent words decide
            ("اين كتاب خيلي خوب است و من آن را دوست دارم", Some(Lang::Fa)),
            ("الخدمة، سيئة؟ نعم", Some(Lang::Ar)),
        ];
        for (text, want) in cases {
            assert_eq!(detect(text), want, "{text}");
        }
        assert_eq!(Lang::from_code("IW"), Some(Lang::He));
        assert_eq!(Lang::from_code("de"), None);
    }
}
