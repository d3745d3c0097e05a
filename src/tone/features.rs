//! Feature extraction, the hot path of scoring: [`Featurizer`] folds, tokenises and hashes in
//! one pass over the bytes (word unigrams and bigrams, prefixes, character 4-grams, emoji and
//! emoticons, negation marking, word-lexicon polarity) without building the normalised
//! string, feeding any [`FeatureSink`].

use crate::ingest::lang::Lang;
use crate::ingest::normalize::{fold_stable, is_word_char, normalize_into};
use std::collections::HashMap;

pub(super) const CLASSES: usize = 3;
/// Hashed feature rows per language, as a power of two: as many as the training data can
/// fill (more rows for a small set only add empty ones), and together small enough to stay
/// in a core's 1 MiB L2 cache when scoring: 2 bytes a row, 832 KiB for all five.
pub fn hash_bits(lang: Lang) -> u32 {
    match lang {
        Lang::En | Lang::Ar => 17,
        Lang::He | Lang::Ru => 16,
        Lang::Fa => 15,
    }
}
pub(super) const NEG_SALT: u64 = 0x9e37_79b9_7f4a_7c15;
pub(super) const BIGRAM_SALT: u64 = 0xc2b2_ae3d_27d4_eb4f;
pub(super) const PREFIX_SALT: u64 = 0x1656_67b1_9e37_79f9;
pub(super) const NEGATION_SCOPE: u8 = 3;
pub(super) const CHAR_SALT: u64 = 0x27d4_eb2f_1656_67c5;
pub(super) const LEX_SALT: u64 = 0x85eb_ca77_c2b2_ae63;

/// A polarity lexicon, word hash → valence: for English the VADER lexicon
/// (MIT, shipped with its licence in `src/tone/weights/`, valence rounded to −4..4), for
/// Hebrew, Persian, Russian and Arabic the project's own word lists
/// (`src/tone/weights/lexicon/`, −2..2; no redistributable lexicon exists for them), with
/// the Hebrew and Arabic clitic prefixes (ו ה ב ל מ ש כ; ال و ف ب ل) added here.
///
/// Kept as word hashes with a 64 Kbit filter of them (8 KiB, stays in L1): most words of a
/// post are not in the lexicon, and the filter says so without a table lookup. The
/// language's negation words are in the same map (flagged, valence 0 unless listed), so one
/// probe per word answers both questions.
pub(super) struct Lexicon {
    /// Word hash → (valence, 0 when not in the lexicon; whether it is a negation word).
    pub(super) words: HashMap<u64, (i8, bool), PreHashed>,
    pub(super) filter: Box<[u64; 1024]>,
}

impl Lexicon {
    pub(super) fn slot(hash: u64) -> usize {
        (hash.wrapping_mul(0xff51_afd7_ed55_8ccd) >> 48) as usize
    }

    /// The lexicon of `lang` (built on first use).
    pub(super) fn of(lang: Lang) -> &'static Lexicon {
        use std::sync::OnceLock;
        static LEXICONS: [OnceLock<Lexicon>; 5] = [const { OnceLock::new() }; 5];
        LEXICONS[lang as usize].get_or_init(|| Lexicon::build(lang))
    }

    pub(super) fn build(lang: Lang) -> Lexicon {
        let mut words = HashMap::with_hasher(PreHashed::default());
        let mut filter = Box::new([0u64; 1024]);
        for_each_lexicon_word(lang, |norm, valence, listed| {
            let r = valence.round() as i8;
            if r == 0 {
                return;
            }
            let h = word_hash(norm);
            // a word as listed wins over another word with a clitic added
            if listed {
                words.insert(h, (r, false));
            } else {
                words.entry(h).or_insert((r, false));
            }
            let s = Lexicon::slot(h);
            filter[s >> 6] |= 1 << (s & 63);
        });
        let mut norm = String::new();
        for w in negator_words(lang) {
            normalize_into(w, &mut norm);
            let h = word_hash(&norm);
            words.entry(h).or_insert((0, false)).1 = true;
            let s = Lexicon::slot(h);
            filter[s >> 6] |= 1 << (s & 63);
        }
        Lexicon { words, filter }
    }

    /// The valence of the word with hash `hash` (if listed) and whether it is a negation
    /// word; `None` for the other words.
    #[inline(always)]
    pub(super) fn lookup(&self, hash: u64) -> Option<(i8, bool)> {
        let s = Lexicon::slot(hash);
        if self.filter[s >> 6] >> (s & 63) & 1 == 0 {
            return None;
        }
        self.words.get(&hash).copied()
    }

    /// The valence of the word with hash `hash`, if listed.
    #[cfg(test)]
    pub(super) fn valence(&self, hash: u64) -> Option<i8> {
        self.lookup(hash).map(|(v, _)| v).filter(|&v| v != 0)
    }
}

/// Calls `f` with every normalised word form of the lexicon of `lang`, its valence, and
/// whether it is listed as is (true) or is a listed word with a clitic prefix added.
pub(super) fn for_each_lexicon_word(lang: Lang, mut f: impl FnMut(&str, f32, bool)) {
    let (text, prefixes): (&str, &[&str]) = match lang {
        Lang::En => (include_str!("weights/vader_lexicon.txt"), &[]),
        Lang::He => (
            include_str!("weights/lexicon/he.tsv"),
            &["ו", "ה", "ב", "ל", "מ", "ש", "כ", "וה", "וב", "ול", "ומ", "וש", "שה", "שב", "של", "שמ", "כש", "מה"],
        ),
        Lang::Fa => (include_str!("weights/lexicon/fa.tsv"), &[]),
        Lang::Ru => (include_str!("weights/lexicon/ru.tsv"), &[]),
        Lang::Ar => {
            (include_str!("weights/lexicon/ar.tsv"), &["ال", "و", "ف", "ب", "ل", "وال", "بال", "فال", "لل", "كال"])
        }
    };
    let mut norm = String::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let mut cols = line.split('\t');
        let (Some(w), Some(v)) = (cols.next(), cols.next().and_then(|v| v.parse::<f32>().ok())) else { continue };
        for prefix in std::iter::once(&"").chain(prefixes) {
            normalize_into(&format!("{prefix}{w}"), &mut norm);
            f(&norm, v, prefix.is_empty());
        }
    }
}

/// The project's word list of `lang` (`src/tone/weights/lexicon/`, clitics added) as a
/// plain word → valence map, for the lexicon-count peer in `tone-eval`; `None` for English,
/// whose lexicon is VADER's.
pub fn project_lexicon(lang: Lang) -> Option<HashMap<String, f32>> {
    if lang == Lang::En {
        return None;
    }
    let mut map = HashMap::new();
    for_each_lexicon_word(lang, |norm, valence, listed| {
        if listed {
            map.insert(norm.to_string(), valence);
        } else {
            map.entry(norm.to_string()).or_insert(valence);
        }
    });
    Some(map)
}

/// The keys are word hashes already: hashing them again (SipHash) only costs time.
pub(super) type PreHashed = std::hash::BuildHasherDefault<KeyIsHash>;

/// A hasher for `u64` keys that are hashes themselves.
#[derive(Default)]
pub(super) struct KeyIsHash(u64);

impl std::hash::Hasher for KeyIsHash {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = step(self.0, u32::from(b));
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = x.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// The negation words of `lang`: a word's features after one of them are salted, for
/// [`NEGATION_SCOPE`] words or up to `.` `!` `?` `,` (flagged in [`Lexicon`]).
pub(super) fn negator_words(lang: Lang) -> &'static [&'static str] {
    match lang {
        Lang::En => &[
            "not", "no", "never", "dont", "don", "doesn", "didn", "isn", "wasn", "aren", "won", "can", "cannot",
            "nothing", "nobody", "without", "t",
        ],
        Lang::He => &["לא", "אין", "בלי", "אף", "מעולם"],
        Lang::Fa => &["نه", "نمي", "نيست", "هرگز", "بدون", "هيچ"],
        Lang::Ru => &["не", "нет", "ни", "никогда", "без", "ничего"],
        Lang::Ar => &["لا", "لم", "لن", "ليس", "ما", "بدون", "غير", "مش"],
    }
}

pub(super) const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// One step of FNV-1a over code points: words are hashed as their characters stream by.
#[inline]
pub(super) fn step(h: u64, cp: u32) -> u64 {
    (h ^ u64::from(cp)).wrapping_mul(0x0100_0000_01b3)
}

/// The hash of a normalised word, as extraction computes it.
pub(super) fn word_hash(norm: &str) -> u64 {
    norm.chars().fold(FNV_OFFSET, |h, c| step(h, u32::from(c)))
}

/// A cheap 64-bit mixer (for the negated form of a word hash, which is itself hashed again
/// in bigrams).
#[inline]
pub(super) fn mix(x: u64) -> u64 {
    let x = x.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^ (x >> 29)
}

/// Feature of a hash: Fibonacci hashing keeps the well-mixed high bits (FNV's low bits depend
/// only on the low bits of its input). A model with 2^b rows uses the top b bits.
#[inline]
pub(super) fn index(h: u64) -> u32 {
    (h.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as u32
}

/// The weight row of a feature in a model with 2^`bits` rows.
#[inline]
pub(super) fn row(feature: u32, bits: u32) -> usize {
    (feature >> (32 - bits)) as usize
}

pub(super) fn is_emoji(c: char) -> bool {
    matches!(c, '\u{1F300}'..='\u{1FAFF}' | '\u{2600}'..='\u{27BF}' | '\u{2B50}')
}

pub(super) const BIAS: u64 = 0xb1a5;
pub(super) const EMOJI_SALT: u64 = 0x0e0e_0e0e;
pub(super) const EMOTICON_SALT: u64 = 0xe0e0_e0e0;

/// Reusable scratch space for feature extraction (no allocation once warm).
#[derive(Debug, Default)]
pub struct Featurizer {
    pub(super) norm: String,
    /// Feature indices of the last text.
    pub features: Vec<u32>,
}

/// What a (folded) character is to the featurizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CharKind {
    /// Removed by normalisation.
    Dropped,
    /// Part of a word.
    Word,
    /// An emoji (a feature of its own).
    Emoji,
    /// `:` `;` `=`, which may start an emoticon.
    EmoticonStart,
    /// `.` `!` `?` `,`: ends a negation scope.
    ScopeEnd,
    /// Anything else: separates words.
    Other,
    /// Not in the table's fast path: NFKC may change it.
    Unstable,
}

pub(super) fn classify(c: char) -> CharKind {
    if is_word_char(c) {
        CharKind::Word
    } else if is_emoji(c) {
        CharKind::Emoji
    } else if matches!(c, ':' | ';' | '=') {
        CharKind::EmoticonStart
    } else if matches!(c, '.' | '!' | '?' | ',') {
        CharKind::ScopeEnd
    } else {
        CharKind::Other
    }
}

/// Folded character and kind of U+0000..U+07FF (every one- and two-byte character: ASCII,
/// Cyrillic, Hebrew, Arabic), where nearly every character of the posts we score comes
/// from; one lookup instead of the folding and word-character rules. Entries that NFKC may
/// change (Latin-1, Greek, U+0700 on…) are [`CharKind::Unstable`] and take the general path.
pub(super) fn char_table() -> &'static [(u16, CharKind); 0x800] {
    use std::sync::OnceLock;
    static TABLE: OnceLock<Box<[(u16, CharKind); 0x800]>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = Box::new([(0u16, CharKind::Dropped); 0x800]);
        for (cp, slot) in t.iter_mut().enumerate() {
            let c = char::from_u32(cp as u32).unwrap_or(' ');
            match fold_stable(c) {
                Some(Some(f)) => *slot = (u16::try_from(u32::from(f)).unwrap_or(0x20), classify(f)),
                // Latin-1, Greek…: NFKC may change them, so the text takes the general path
                None => *slot = (u16::try_from(cp).unwrap_or(0x20), CharKind::Unstable),
                Some(None) => {}
            }
        }
        t
    })
}

/// The word being read, while its characters stream by.
pub(super) struct Word {
    /// FNV state over the characters so far.
    pub(super) hash: u64,
    /// The hash after four characters (the prefix feature).
    pub(super) prefix: u64,
    /// Characters so far.
    pub(super) len: u32,
    /// The last four characters, 16 bits each (character 4-grams; the words they matter
    /// for are in the Basic Multilingual Plane).
    pub(super) grams: u64,
    /// Inside a negation scope: every feature of the word is salted.
    pub(super) salt: u64,
}

/// Where extracted features go: a list (training, tests) or straight into the logits of a
/// model (scoring, so the hot path writes no feature list and reads each weight once).
pub trait FeatureSink {
    /// Starts over (the text needs NFKC first).
    fn clear(&mut self);
    /// One feature index.
    fn add(&mut self, index: u32);
}

impl FeatureSink for Vec<u32> {
    fn clear(&mut self) {
        Vec::clear(self);
    }
    #[inline]
    fn add(&mut self, index: u32) {
        self.push(index);
    }
}

impl Featurizer {
    /// Extracts the hashed features of `text` in `lang` into `self.features`.
    pub fn extract(&mut self, text: &str, lang: Lang) {
        let mut feats = std::mem::take(&mut self.features);
        feats.clear();
        self.extract_into(text, lang, &mut feats);
        self.features = feats;
    }

    /// Extracts the hashed features of `text` in `lang` into `sink`.
    ///
    /// One pass over the bytes folds each character as [`normalize_into`] would and hashes
    /// words, bigrams, prefixes and character 4-grams as they stream by; only text with
    /// characters that NFKC may change (full-width forms, ligatures, accents) is normalised
    /// into a buffer first.
    pub fn extract_into(&mut self, text: &str, lang: Lang, sink: &mut impl FeatureSink) {
        if !extract_from(text, lang, false, sink) {
            sink.clear();
            normalize_into(text, &mut self.norm);
            extract_from(&self.norm, lang, true, sink);
        }
    }
}

/// Decodes the character at `i` of valid UTF-8: (code point, width).
#[inline(always)]
pub(super) fn decode(b: &[u8], i: usize) -> (u32, usize) {
    let lead = b[i];
    if lead < 0x80 {
        return (u32::from(lead), 1);
    }
    let cont = |k: usize| u32::from(b.get(i + k).copied().unwrap_or(0x80) & 0x3F);
    if lead < 0xE0 {
        ((u32::from(lead & 0x1F) << 6) | cont(1), 2)
    } else if lead < 0xF0 {
        ((u32::from(lead & 0x0F) << 12) | (cont(1) << 6) | cont(2), 3)
    } else {
        ((u32::from(lead & 0x07) << 18) | (cont(1) << 12) | (cont(2) << 6) | cont(3), 4)
    }
}

/// The table's entry for the character at `i` and its width, without the general path:
/// [`CharKind::Unstable`] for a character of three or four bytes or one the table does not
/// fold (the caller then takes [`other_char`]).
#[inline(always)]
pub(super) fn table_char(bytes: &[u8], i: usize, table: &[(u16, CharKind); 0x800]) -> (u32, CharKind, usize) {
    let lead = bytes[i];
    if lead < 0x80 {
        let (f, kind) = table[usize::from(lead)];
        return (u32::from(f), kind, 1);
    }
    if lead < 0xE0 {
        // two bytes: below U+0800, so inside the table
        let cont = usize::from(bytes.get(i + 1).copied().unwrap_or(0x80) & 0x3F);
        let (f, kind) = table[(usize::from(lead & 0x1F) << 6) | cont];
        return (u32::from(f), kind, 2);
    }
    (0, CharKind::Unstable, 0)
}

/// The folded code point and kind of the character at `i`, and its width; `None` when an
/// unfolded text needs NFKC. ASCII and two-byte characters are looked up inline; everything
/// else takes [`other_char`], out of line so that the hot loop keeps its registers.
#[inline(always)]
pub(super) fn next_char(
    bytes: &[u8],
    i: usize,
    folded: bool,
    table: &[(u16, CharKind); 0x800],
) -> Option<(u32, CharKind, usize)> {
    let c = table_char(bytes, i, table);
    if c.1 != CharKind::Unstable {
        return Some(c);
    }
    other_char(bytes, i, folded)
}

/// [`next_char`] for characters outside the table's fast path.
#[cold]
#[inline(never)]
pub(super) fn other_char(bytes: &[u8], i: usize, folded: bool) -> Option<(u32, CharKind, usize)> {
    let (cp, width) = decode(bytes, i);
    if let Some(&(f, kind)) = char_table().get(cp as usize) {
        if kind != CharKind::Unstable {
            return Some((u32::from(f), kind, width));
        }
    }
    let c = char::from_u32(cp).unwrap_or(' ');
    let f = if folded {
        c
    } else {
        match fold_stable(c) {
            Some(Some(f)) => f,
            Some(None) => return Some((0, CharKind::Dropped, width)),
            // NFKC would make these "..." and a space: the same features either way
            None if c == '\u{2026}' => return Some((u32::from('.'), CharKind::ScopeEnd, width)),
            None if matches!(c, '\u{00A0}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}') => {
                return Some((u32::from(' '), CharKind::Other, width))
            }
            None => return None,
        }
    };
    Some((u32::from(f), classify(f), width))
}

/// The pass behind [`Featurizer::extract_into`]. `folded`: `text` is already normalised.
/// Returns false (features incomplete) when an unfolded text needs NFKC.
pub(super) fn extract_from(text: &str, lang: Lang, folded: bool, sink: &mut impl FeatureSink) -> bool {
    // character 4-grams inside words: inflections and spelling variants of Hebrew, Arabic,
    // Persian and Russian (English gains nothing from them); one loop for each case
    if lang == Lang::En {
        scan::<false>(text, lang, folded, sink)
    } else {
        scan::<true>(text, lang, folded, sink)
    }
}

/// [`extract_from`] with or without character 4-grams.
#[inline(always)]
fn scan<const GRAMS: bool>(text: &str, lang: Lang, folded: bool, sink: &mut impl FeatureSink) -> bool {
    sink.add(index(BIAS));
    let ctx = LangContext { lexicon: Lexicon::of(lang) };
    let mut prev: u64 = 0x5eed;
    let mut neg_left = 0u8;
    let bytes = text.as_bytes();
    let table = char_table();
    let mut i = 0;
    while i < bytes.len() {
        let Some((cp, kind, width)) = next_char(bytes, i, folded, table) else { return false };
        let at = i;
        i += width;
        match kind {
            CharKind::Word => {
                // a word: read the rest of it here, hashing as it goes
                let negated = neg_left > 0;
                neg_left = neg_left.saturating_sub(1);
                let salt = if negated { NEG_SALT } else { 0 };
                let mut w = Word { hash: step(FNV_OFFSET, cp), prefix: 0, len: 1, grams: u64::from(cp & 0xFFFF), salt };
                let mut after = None;
                while i < bytes.len() {
                    // letters first: one comparison for the common case
                    let (mut cp, mut kind, mut width) = table_char(bytes, i, table);
                    if kind != CharKind::Word {
                        if kind == CharKind::Unstable {
                            let Some(c) = other_char(bytes, i, folded) else { return false };
                            (cp, kind, width) = c;
                        }
                        if kind != CharKind::Word {
                            let at = i;
                            i += width;
                            if kind == CharKind::Dropped {
                                continue;
                            }
                            after = Some((kind, at));
                            break;
                        }
                    }
                    i += width;
                    w.hash = step(w.hash, cp);
                    w.len += 1;
                    if w.len == 4 {
                        w.prefix = w.hash;
                    }
                    if GRAMS {
                        w.grams = (w.grams << 16) | u64::from(cp & 0xFFFF);
                        if w.len >= 4 {
                            sink.add(index(w.grams ^ CHAR_SALT ^ w.salt));
                        }
                    }
                }
                end_word(&w, &ctx, &mut prev, &mut neg_left, sink);
                if let Some((kind, at)) = after {
                    separator(kind, at, bytes, &mut neg_left, sink);
                }
            }
            kind => separator(kind, at, bytes, &mut neg_left, sink),
        }
    }
    true
}

/// A character between words: emoji and emoticons are features; `.` `!` `?` `,` end a
/// negation scope.
#[inline(always)]
pub(super) fn separator(kind: CharKind, at: usize, bytes: &[u8], neg_left: &mut u8, sink: &mut impl FeatureSink) {
    match kind {
        CharKind::Emoji => {
            let (cp, _) = decode(bytes, at);
            sink.add(index(u64::from(cp) ^ EMOJI_SALT));
        }
        CharKind::EmoticonStart => {
            // emoticons: :) :( :-) :-( ;) :d =)
            let mut k = at + 1;
            if bytes.get(k) == Some(&b'-') {
                k += 1;
            }
            if let Some(m) = bytes
                .get(k)
                .map(u8::to_ascii_lowercase)
                .filter(|m| matches!(m, b')' | b'(' | b'd' | b'p' | b'/' | b'*'))
            {
                sink.add(index(u64::from(m) ^ EMOTICON_SALT));
            }
        }
        CharKind::ScopeEnd => *neg_left = 0,
        _ => {}
    }
}

/// What a word's features need of its language, looked up once per text.
pub(super) struct LangContext {
    /// Lexicon words and negation words.
    pub(super) lexicon: &'static Lexicon,
}

/// The features of a whole word: the word (salted under negation), its lexicon class, the
/// bigram with the previous word and its 4-character prefix.
#[inline(always)]
pub(super) fn end_word(w: &Word, ctx: &LangContext, prev: &mut u64, neg_left: &mut u8, sink: &mut impl FeatureSink) {
    let h = if w.salt != 0 { mix(w.hash ^ NEG_SALT) } else { w.hash };
    sink.add(index(h));
    if let Some((v, negator)) = ctx.lexicon.lookup(w.hash) {
        if v != 0 {
            // the lexicon's polarity and strength, flipped side under negation
            let class: u64 = match (v >= 0, v.unsigned_abs() >= 2) {
                (true, false) => 1,
                (true, true) => 2,
                (false, false) => 3,
                (false, true) => 4,
            };
            sink.add(index(class ^ LEX_SALT ^ w.salt));
        }
        if negator {
            // the scope starts with the next word (nothing below reads it)
            *neg_left = NEGATION_SCOPE;
        }
    }
    sink.add(index(h ^ prev.rotate_left(17) ^ BIGRAM_SALT));
    *prev = h;
    if w.len > 5 {
        sink.add(index(w.prefix ^ PREFIX_SALT ^ w.salt));
    }
}
