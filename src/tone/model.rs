//! The built-in tone model: per language, a multinomial logistic regression (negative,
//! neutral, positive) over hashed features of the normalised text: word unigrams and
//! bigrams, word prefixes (a crude stem for Hebrew, Arabic, Persian and Russian morphology),
//! emoji and emoticons, with negation marking (the three words after "not", "לא", "نه", "не",
//! "لا" … carry a negated feature). The negative probability is calibrated on held-out
//! training data (Platt scaling) and the negative threshold is chosen there too; the test
//! split is only ever used to report.
//!
//! Weights are trained by [`train`] (deterministic: fixed seed and order) and stored in a
//! compact binary file per language ([`ToneWeights::to_bytes`]).
//!
//! Scoring is the hot path (every mention without a provider sentiment): [`Featurizer`]
//! folds, tokenises and hashes in one pass over the bytes without building the normalised
//! string, and the features go straight into the logits of 2-byte quantised weight rows
//! ([`FeatureSink`]), so scoring allocates nothing and touches little memory.

use crate::ingest::lang::{detect, Lang};
use crate::ingest::normalize::{fold_stable, is_word_char, normalize_into};
use crate::tone::ToneModel;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::collections::HashMap;

/// Classes, in weight order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Label {
    /// Negative tone.
    Negative = 0,
    /// Neither.
    Neutral = 1,
    /// Positive tone.
    Positive = 2,
}

impl Label {
    /// Parses `negative` / `neutral` / `positive`.
    pub fn parse(s: &str) -> Option<Label> {
        match s.trim() {
            "negative" => Some(Label::Negative),
            "neutral" => Some(Label::Neutral),
            "positive" => Some(Label::Positive),
            _ => None,
        }
    }
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Label::Negative => "negative",
            Label::Neutral => "neutral",
            Label::Positive => "positive",
        }
    }
    pub(crate) const ALL: [Label; 3] = [Label::Negative, Label::Neutral, Label::Positive];
}

const CLASSES: usize = 3;
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
const NEG_SALT: u64 = 0x9e37_79b9_7f4a_7c15;
const BIGRAM_SALT: u64 = 0xc2b2_ae3d_27d4_eb4f;
const PREFIX_SALT: u64 = 0x1656_67b1_9e37_79f9;
const NEGATION_SCOPE: u8 = 3;
const CHAR_SALT: u64 = 0x27d4_eb2f_1656_67c5;
const LEX_SALT: u64 = 0x85eb_ca77_c2b2_ae63;

/// A polarity lexicon, word hash → valence: for English the VADER lexicon
/// (MIT, shipped with its licence in `src/tone/weights/`, valence rounded to −4..4), for
/// Hebrew, Persian, Russian and Arabic the project's own word lists
/// (`src/tone/weights/lexicon/`, −2..2; no redistributable lexicon exists for them), with
/// the Hebrew and Arabic clitic prefixes (ו ה ב ל מ ש כ; ال و ف ب ل) added here.
///
/// Kept as word hashes with a 64 Kbit filter of them (8 KiB, stays in L1): most words of a
/// post are not in the lexicon, and the filter says so without a table lookup.
struct Lexicon {
    words: HashMap<u64, i8, PreHashed>,
    filter: Box<[u64; 1024]>,
}

impl Lexicon {
    fn slot(hash: u64) -> usize {
        (hash.wrapping_mul(0xff51_afd7_ed55_8ccd) >> 48) as usize
    }

    /// The lexicon of `lang` (built on first use).
    fn of(lang: Lang) -> &'static Lexicon {
        use std::sync::OnceLock;
        static LEXICONS: [OnceLock<Lexicon>; 5] = [const { OnceLock::new() }; 5];
        LEXICONS[lang as usize].get_or_init(|| Lexicon::build(lang))
    }

    fn build(lang: Lang) -> Lexicon {
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
                words.insert(h, r);
            } else {
                words.entry(h).or_insert(r);
            }
            let s = Lexicon::slot(h);
            filter[s >> 6] |= 1 << (s & 63);
        });
        Lexicon { words, filter }
    }

    /// The valence of the word with hash `hash`, if listed.
    #[inline(always)]
    fn valence(&self, hash: u64) -> Option<i8> {
        let s = Lexicon::slot(hash);
        if self.filter[s >> 6] >> (s & 63) & 1 == 0 {
            return None;
        }
        self.words.get(&hash).copied()
    }
}

/// Calls `f` with every normalised word form of the lexicon of `lang`, its valence, and
/// whether it is listed as is (true) or is a listed word with a clitic prefix added.
fn for_each_lexicon_word(lang: Lang, mut f: impl FnMut(&str, f32, bool)) {
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
type PreHashed = std::hash::BuildHasherDefault<KeyIsHash>;

/// A hasher for `u64` keys that are hashes themselves.
#[derive(Default)]
struct KeyIsHash(u64);

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

/// Hashes of the negation words of `lang` (compared with each word's hash).
fn negators(lang: Lang) -> &'static [u64] {
    use std::sync::OnceLock;
    static HASHES: OnceLock<[Vec<u64>; 5]> = OnceLock::new();
    let all = HASHES.get_or_init(|| {
        let mut norm = String::new();
        Lang::ALL.map(|l| {
            negator_words(l)
                .iter()
                .map(|w| {
                    normalize_into(w, &mut norm);
                    word_hash(&norm)
                })
                .collect()
        })
    });
    &all[lang as usize]
}

fn negator_words(lang: Lang) -> &'static [&'static str] {
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

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// One step of FNV-1a over code points: words are hashed as their characters stream by.
#[inline]
fn step(h: u64, cp: u32) -> u64 {
    (h ^ u64::from(cp)).wrapping_mul(0x0100_0000_01b3)
}

/// The hash of a normalised word, as extraction computes it.
fn word_hash(norm: &str) -> u64 {
    norm.chars().fold(FNV_OFFSET, |h, c| step(h, u32::from(c)))
}

/// A cheap 64-bit mixer (for the negated form of a word hash, which is itself hashed again
/// in bigrams).
#[inline]
fn mix(x: u64) -> u64 {
    let x = x.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^ (x >> 29)
}

/// Feature of a hash: Fibonacci hashing keeps the well-mixed high bits (FNV's low bits depend
/// only on the low bits of its input). A model with 2^b rows uses the top b bits.
#[inline]
fn index(h: u64) -> u32 {
    (h.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as u32
}

/// The weight row of a feature in a model with 2^`bits` rows.
#[inline]
fn row(feature: u32, bits: u32) -> usize {
    (feature >> (32 - bits)) as usize
}

fn is_emoji(c: char) -> bool {
    matches!(c, '\u{1F300}'..='\u{1FAFF}' | '\u{2600}'..='\u{27BF}' | '\u{2B50}')
}

const BIAS: u64 = 0xb1a5;
const EMOJI_SALT: u64 = 0x0e0e_0e0e;
const EMOTICON_SALT: u64 = 0xe0e0_e0e0;

/// Reusable scratch space for feature extraction (no allocation once warm).
#[derive(Debug, Default)]
pub struct Featurizer {
    norm: String,
    /// Feature indices of the last text.
    pub features: Vec<u32>,
}

/// What a (folded) character is to the featurizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CharKind {
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

fn classify(c: char) -> CharKind {
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

/// Folded character and kind of U+0000..U+06FF (ASCII, Cyrillic, Hebrew, Arabic), where
/// nearly every character of the posts we score comes from; one lookup instead of the
/// folding and word-character rules. Everything here is NFKC-stable.
fn char_table() -> &'static [(u16, CharKind); 0x700] {
    use std::sync::OnceLock;
    static TABLE: OnceLock<Box<[(u16, CharKind); 0x700]>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = Box::new([(0u16, CharKind::Dropped); 0x700]);
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
struct Word {
    /// FNV state over the characters so far.
    hash: u64,
    /// The hash after four characters (the prefix feature).
    prefix: u64,
    /// Characters so far.
    len: u32,
    /// The last four characters, 16 bits each (character 4-grams; the words they matter
    /// for are in the Basic Multilingual Plane).
    grams: u64,
    /// Inside a negation scope: every feature of the word is salted.
    salt: u64,
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

/// The weights as they are scored. Softmax does not change when the same amount is taken
/// from every class, so a row keeps only negative − neutral and positive − neutral, one
/// signed byte each with one scale per language; the bias row stays exact. 2 bytes a row
/// instead of 12, so the rows a post touches are far more often in cache; the rounding
/// moves a logit by about 0.01 and no test-set score by more than noise (model card).
#[derive(Debug, Clone)]
struct Quantized {
    rows: Vec<[i8; 2]>,
    bits: u32,
    scale: f32,
    bias: [f32; 2],
}

impl Quantized {
    fn new(weights: &[[f32; CLASSES]], bits: u32) -> Quantized {
        let bias_row = row(index(BIAS), bits);
        let diff = |w: &[f32; CLASSES]| [w[0] - w[1], w[2] - w[1]];
        let bias = weights.get(bias_row).map(diff).unwrap_or_default();
        let max = weights
            .iter()
            .enumerate()
            .filter(|&(k, _)| k != bias_row)
            .flat_map(|(_, w)| diff(w).map(f32::abs))
            .fold(0.0f32, f32::max);
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        let rows =
            weights
                .iter()
                .enumerate()
                .map(|(k, w)| {
                    if k == bias_row {
                        [0; 2]
                    } else {
                        diff(w).map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8)
                    }
                })
                .collect();
        Quantized { rows, bits, scale, bias }
    }
}

/// Sums the weights of the features as they are extracted.
struct Logits<'a> {
    weights: &'a Quantized,
    sum: [i32; 2],
    features: u32,
}

impl Logits<'_> {
    /// The class logits (neutral fixed at 0): the sum of the weights over √(features), so
    /// long posts are not more confident for their length alone.
    fn logits(&self) -> [f32; CLASSES] {
        let norm = 1.0 / (self.features.max(1) as f32).sqrt();
        let q = self.weights;
        let z = [0, 1].map(|c| (self.sum[c] as f32 * q.scale + q.bias[c]) * norm);
        [z[0], 0.0, z[1]]
    }
}

impl FeatureSink for Logits<'_> {
    fn clear(&mut self) {
        self.sum = [0; 2];
        self.features = 0;
    }
    #[inline]
    fn add(&mut self, feature: u32) {
        if let Some(w) = self.weights.rows.get(row(feature, self.weights.bits)) {
            self.sum[0] += i32::from(w[0]);
            self.sum[1] += i32::from(w[1]);
        }
        self.features += 1;
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
fn decode(b: &[u8], i: usize) -> (u32, usize) {
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

/// The folded code point and kind of the character at `i`, and its width; `None` when an
/// unfolded text needs NFKC.
#[inline(always)]
fn next_char(bytes: &[u8], i: usize, folded: bool, table: &[(u16, CharKind); 0x700]) -> Option<(u32, CharKind, usize)> {
    let (cp, width) = decode(bytes, i);
    if let Some(&(f, kind)) = table.get(cp as usize) {
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
fn extract_from(text: &str, lang: Lang, folded: bool, sink: &mut impl FeatureSink) -> bool {
    sink.add(index(BIAS));
    let grams = lang != Lang::En;
    let ctx = LangContext { negators: negators(lang), lexicon: Lexicon::of(lang) };
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
                    let Some((cp, kind, width)) = next_char(bytes, i, folded, table) else { return false };
                    let at = i;
                    i += width;
                    if kind == CharKind::Dropped {
                        continue;
                    }
                    if kind != CharKind::Word {
                        after = Some((kind, at));
                        break;
                    }
                    w.hash = step(w.hash, cp);
                    w.len += 1;
                    if w.len == 4 {
                        w.prefix = w.hash;
                    }
                    // character 4-grams inside words: inflections and spelling variants of
                    // Hebrew, Arabic, Persian and Russian (English gains nothing from them)
                    if grams {
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
fn separator(kind: CharKind, at: usize, bytes: &[u8], neg_left: &mut u8, sink: &mut impl FeatureSink) {
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
struct LangContext {
    negators: &'static [u64],
    lexicon: &'static Lexicon,
}

/// The features of a whole word: the word (salted under negation), its lexicon class, the
/// bigram with the previous word and its 4-character prefix.
#[inline(always)]
fn end_word(w: &Word, ctx: &LangContext, prev: &mut u64, neg_left: &mut u8, sink: &mut impl FeatureSink) {
    let h = if w.salt != 0 { mix(w.hash ^ NEG_SALT) } else { w.hash };
    sink.add(index(h));
    if let Some(v) = ctx.lexicon.valence(w.hash) {
        // the lexicon's polarity and strength, flipped side under negation
        let class: u64 = match (v >= 0, v.unsigned_abs() >= 2) {
            (true, false) => 1,
            (true, true) => 2,
            (false, false) => 3,
            (false, true) => 4,
        };
        sink.add(index(class ^ LEX_SALT ^ w.salt));
    }
    sink.add(index(h ^ prev.rotate_left(17) ^ BIGRAM_SALT));
    *prev = h;
    if w.len > 5 {
        sink.add(index(w.prefix ^ PREFIX_SALT ^ w.salt));
    }
    if ctx.negators.contains(&w.hash) {
        *neg_left = NEGATION_SCOPE;
    }
}

/// Trained weights of one language.
#[derive(Debug, Clone)]
pub struct ToneWeights {
    /// The language.
    pub lang: Lang,
    /// `weights[row][class]`, a power of two of rows (2^[`hash_bits`] when trained here).
    pub weights: Vec<[f32; CLASSES]>,
    /// Platt scaling of the negative logit: p = σ(a·z + b).
    pub platt: (f32, f32),
    /// Calibrated probability at or above which a text is negative (chosen on training data).
    pub threshold: f32,
    /// Negative F1 on the held-out seventh of the training data at `threshold` (after
    /// training; not stored in the file).
    pub held_out_f1: Option<f32>,
    /// In-domain texts (`tone-train --domain`) among the training data, as the file records
    /// it: an evaluation on those texts is then in-sample.
    pub domain_texts: u32,
    /// The weights as scored.
    quantized: Quantized,
}

/// Logits of `f32` weights (training).
fn exact_logits(weights: &[[f32; CLASSES]], features: &[u32]) -> [f32; CLASSES] {
    let bits = weights.len().trailing_zeros();
    let mut z = [0f32; CLASSES];
    for &f in features {
        if let Some(w) = weights.get(row(f, bits)) {
            for c in 0..CLASSES {
                z[c] += w[c];
            }
        }
    }
    let norm = 1.0 / (features.len().max(1) as f32).sqrt();
    z.map(|x| x * norm)
}

fn softmax(z: [f32; CLASSES]) -> [f32; CLASSES] {
    let m = z.iter().copied().fold(f32::MIN, f32::max);
    let e = z.map(|x| (x - m).exp());
    let s: f32 = e.iter().sum();
    e.map(|x| x / s)
}

impl ToneWeights {
    /// From trained `f32` weights (quantised for scoring here).
    fn new(lang: Lang, weights: Vec<[f32; CLASSES]>, platt: (f32, f32), threshold: f32) -> ToneWeights {
        let quantized = Quantized::new(&weights, weights.len().trailing_zeros());
        ToneWeights { lang, weights, platt, threshold, held_out_f1: None, domain_texts: 0, quantized }
    }

    /// Logits as scored (quantised weights).
    fn logits(&self, features: &[u32]) -> [f32; CLASSES] {
        let mut sink = Logits { weights: &self.quantized, sum: [0; 2], features: 0 };
        for &f in features {
            sink.add(f);
        }
        sink.logits()
    }

    /// Calibrated probability of negative, and the label.
    pub fn predict(&self, features: &[u32]) -> (f32, Label) {
        self.calibrate(self.logits(features))
    }

    /// Extracts the features of `text` and scores them as they are extracted.
    pub fn judge(&self, fz: &mut Featurizer, text: &str) -> (f32, Label) {
        let mut sink = Logits { weights: &self.quantized, sum: [0; 2], features: 0 };
        fz.extract_into(text, self.lang, &mut sink);
        self.calibrate(sink.logits())
    }

    fn calibrate(&self, logits: [f32; CLASSES]) -> (f32, Label) {
        let p = softmax(logits);
        let raw = p[0].clamp(1e-6, 1.0 - 1e-6);
        let z = (raw / (1.0 - raw)).ln();
        let cal = 1.0 / (1.0 + (-(self.platt.0 * z + self.platt.1)).exp());
        let label = if cal >= self.threshold {
            Label::Negative
        } else if p[2] > p[1] {
            Label::Positive
        } else {
            Label::Neutral
        };
        (cal, label)
    }

    /// Serialises: magic, language, hash bits, in-domain training texts, Platt a/b,
    /// threshold, then the weights as little-endian f32.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + self.weights.len() * 4);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(self.lang.code().as_bytes());
        out.extend_from_slice(&self.quantized.bits.to_le_bytes());
        out.extend_from_slice(&self.domain_texts.to_le_bytes());
        for x in [self.platt.0, self.platt.1, self.threshold] {
            out.extend_from_slice(&x.to_le_bytes());
        }
        for w in self.weights.iter().flatten() {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out
    }

    /// Reads what [`ToneWeights::to_bytes`] wrote.
    ///
    /// # Errors
    /// A message saying what is wrong with the file.
    pub fn from_bytes(b: &[u8]) -> Result<ToneWeights, String> {
        if b.starts_with(b"CWTONE0") && !b.starts_with(MAGIC) {
            return Err(format!(
                "tone weights of an older format ({}): the features changed since, retrain them with `crisiswatch tone-train`",
                String::from_utf8_lossy(&b[..8.min(b.len())])
            ));
        }
        if b.len() < HEADER || &b[..8] != MAGIC {
            return Err("not a crisiswatch tone weights file (bad magic)".into());
        }
        let lang = std::str::from_utf8(&b[8..10]).ok().and_then(Lang::from_code).ok_or("unknown language code")?;
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let f32_at = |i: usize| f32::from_bits(u32_at(i));
        let bits = u32_at(10);
        if !(8..=24).contains(&bits) {
            return Err(format!("weights claim {bits} hash bits (8 to 24 expected)"));
        }
        let n = (1usize << bits) * CLASSES;
        if b.len() != HEADER + n * 4 {
            return Err(format!("expected {} bytes, found {}", HEADER + n * 4, b.len()));
        }
        let weights = (0..n / CLASSES).map(|k| [0, 1, 2].map(|c| f32_at(HEADER + 4 * (k * CLASSES + c)))).collect();
        let mut w = ToneWeights::new(lang, weights, (f32_at(18), f32_at(22)), f32_at(26));
        w.domain_texts = u32_at(14);
        Ok(w)
    }
}

/// Weights file magic: `CWTONE03` since the lexicon features cover every language and the
/// header records the in-domain training texts.
const MAGIC: &[u8; 8] = b"CWTONE03";
/// Magic, language code, hash bits, in-domain texts, Platt a and b, threshold.
const HEADER: usize = 8 + 2 + 4 + 4 + 3 * 4;

/// One labelled text, as features.
#[derive(Debug, Clone)]
pub struct Example {
    pub(crate) features: Vec<u32>,
    pub(crate) label: Label,
    /// How many texts this one counts as in training and calibration (1 for the public
    /// sets; more for the in-domain seed set, see `tone_domain`).
    pub(crate) weight: f32,
}

/// Reads `label\ttext` TSV (header `label\ttext`) and extracts features.
///
/// # Errors
/// A line without a valid label, with its number.
pub fn read_tsv(text: &str, lang: Lang) -> Result<Vec<Example>, String> {
    let mut fz = Featurizer::default();
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if i == 0 && line.starts_with("label\t") {
            continue;
        }
        let Some((label, body)) = line.split_once('\t') else {
            return Err(format!("line {}: expected `label<TAB>text`", i + 1));
        };
        let label = Label::parse(label).ok_or_else(|| format!("line {}: unknown label `{label}`", i + 1))?;
        fz.extract(body, lang);
        out.push(Example { features: fz.features.clone(), label, weight: 1.0 });
    }
    Ok(out)
}

/// Trains weights for `lang` on `train`: 85 % fits the regression (SGD, 8 epochs, seeded
/// order), 15 % (every seventh example) calibrates the negative probability and chooses the
/// threshold that maximises negative F1 there. Each example counts its weight in all three
/// (1, or more for in-domain texts).
pub fn train(lang: Lang, train: &[Example]) -> ToneWeights {
    let fit: Vec<&Example> = train.iter().enumerate().filter(|(i, _)| i % 7 != 3).map(|(_, e)| e).collect();
    let held: Vec<&Example> = train.iter().enumerate().filter(|(i, _)| i % 7 == 3).map(|(_, e)| e).collect();
    let bits = hash_bits(lang);
    let mut weights = vec![[0.0f32; CLASSES]; 1 << bits];
    // class weights: the rarer classes count more, so the negative class is not drowned
    let mut counts = [0.0f32; CLASSES];
    for e in &fit {
        counts[e.label as usize] += e.weight;
    }
    let total: f32 = counts.iter().sum::<f32>().max(1.0);
    let class_weight = counts.map(|c| (total / (CLASSES as f32 * c.max(1.0))).sqrt());
    let mut order: Vec<usize> = (0..fit.len()).collect();
    let mut rng = rand_pcg::Pcg64::seed_from_u64(17);
    let (epochs, lr0, l2) = (8, 0.5f32, 1e-6f32);
    for epoch in 0..epochs {
        order.shuffle(&mut rng);
        let lr = lr0 / (1.0 + epoch as f32);
        for &k in &order {
            let e = fit[k];
            let p = softmax(exact_logits(&weights, &e.features));
            let scale = 1.0 / (e.features.len() as f32).sqrt();
            let cw = class_weight[e.label as usize] * e.weight;
            for &f in &e.features {
                for (c, (pc, wc)) in p.iter().zip(&mut weights[row(f, bits)]).enumerate() {
                    let y = if c == e.label as usize { 1.0 } else { 0.0 };
                    let g = (pc - y) * scale * cw;
                    *wc -= lr * (g + l2 * *wc);
                }
            }
        }
    }
    // Platt scaling on held-out data, of the logits as scored (quantised)
    let mut w = ToneWeights::new(lang, weights, (1.0, 0.0), 0.5);
    let zs: Vec<(f32, bool, f32)> = held
        .iter()
        .map(|e| {
            let p = softmax(w.logits(&e.features))[0].clamp(1e-6, 1.0 - 1e-6);
            ((p / (1.0 - p)).ln(), e.label == Label::Negative, e.weight)
        })
        .collect();
    let (mut a, mut b) = (1.0f32, 0.0f32);
    let n = zs.iter().map(|z| z.2).sum::<f32>().max(1.0);
    for _ in 0..500 {
        let (mut ga, mut gb) = (0.0f32, 0.0f32);
        for &(z, y, weight) in &zs {
            let p = 1.0 / (1.0 + (-(a * z + b)).exp());
            let d = (p - if y { 1.0 } else { 0.0 }) * weight;
            ga += d * z;
            gb += d;
        }
        a -= 0.5 * ga / n;
        b -= 0.5 * gb / n;
    }
    w.platt = (a, b);
    // threshold maximising negative F1 on the held-out part
    let probs: Vec<(f32, bool, f32)> =
        zs.iter().map(|&(z, y, weight)| (1.0 / (1.0 + (-(a * z + b)).exp()), y, weight)).collect();
    let mut best = (0.0f32, 0.5f32);
    for step in 5..95 {
        let t = step as f32 / 100.0;
        let (mut tp, mut fp, mut fneg) = (0.0f32, 0.0f32, 0.0f32);
        for &(p, y, weight) in &probs {
            match (p >= t, y) {
                (true, true) => tp += weight,
                (true, false) => fp += weight,
                (false, true) => fneg += weight,
                _ => {}
            }
        }
        let f1 = if tp == 0.0 { 0.0 } else { 2.0 * tp / (2.0 * tp + fp + fneg) };
        // ties go to the threshold nearest 0.5
        if f1 > best.0 + 1e-9 || ((f1 - best.0).abs() <= 1e-9 && (t - 0.5).abs() < (best.1 - 0.5).abs()) {
            best = (f1, t);
        }
    }
    w.threshold = best.1;
    w.held_out_f1 = Some(best.0);
    w
}

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

/// Tone models for the languages whose weights are loaded; implements [`ToneModel`].
#[derive(Debug, Default)]
pub struct MultilingualTone {
    models: Vec<ToneWeights>,
}

/// Weights compiled in (MIT-licensed training data only).
const BUILTIN: &[&[u8]] =
    &[include_bytes!("weights/en.bin"), include_bytes!("weights/he.bin"), include_bytes!("weights/ar.bin")];

thread_local! {
    static SCRATCH: std::cell::RefCell<Featurizer> = std::cell::RefCell::new(Featurizer::default());
}

impl MultilingualTone {
    /// From weights.
    pub fn new(models: Vec<ToneWeights>) -> Self {
        MultilingualTone { models }
    }

    /// The weights of every loaded language.
    pub fn weights(&self) -> &[ToneWeights] {
        &self.models
    }

    /// Loads every `<lang>.bin` in `dir`.
    ///
    /// # Errors
    /// An unreadable or malformed weights file, named.
    pub fn load_dir(dir: &std::path::Path) -> Result<Self, String> {
        let mut models = Vec::new();
        for lang in Lang::ALL {
            let path = dir.join(format!("{}.bin", lang.code()));
            match std::fs::read(&path) {
                Ok(bytes) => {
                    models.push(ToneWeights::from_bytes(&bytes).map_err(|e| format!("{}: {e}", path.display()))?)
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("cannot read `{}`: {e}", path.display())),
            }
        }
        if models.is_empty() {
            return Err(format!("no `<lang>.bin` weights in `{}`", dir.display()));
        }
        Ok(MultilingualTone { models })
    }

    /// The weights built into the binary: the languages whose training data is under
    /// permissive terms (see `src/tone/weights/README.md`).
    pub fn builtin() -> Self {
        let models = BUILTIN.iter().filter_map(|b| ToneWeights::from_bytes(b).ok()).collect();
        MultilingualTone { models }
    }

    /// The built-in weights plus every `<lang>.bin` in `dir` (which win for their language),
    /// e.g. `src/tone/weights/share-alike` for Persian and Russian.
    ///
    /// # Errors
    /// As [`MultilingualTone::load_dir`].
    pub fn builtin_plus(dir: Option<&std::path::Path>) -> Result<Self, String> {
        let mut all = Self::builtin();
        if let Some(d) = dir {
            for w in Self::load_dir(d)?.models {
                all.models.retain(|m| m.lang != w.lang);
                all.models.push(w);
            }
        }
        Ok(all)
    }

    /// Calibrated negative probability with the language detected (bench helper).
    pub fn p_negative_detected(&self, text: &str) -> Option<f32> {
        self.judge(text, None).map(|(_, p, _)| p)
    }

    /// Language (given or detected), calibrated negative probability and label.
    pub fn judge(&self, text: &str, lang: Option<&str>) -> Option<(Lang, f32, Label)> {
        let lang = lang.and_then(Lang::from_code).or_else(|| detect(text))?;
        let model = self.models.iter().find(|m| m.lang == lang)?;
        SCRATCH.with(|s| {
            let (p, label) = model.judge(&mut s.borrow_mut(), text);
            Some((lang, p, label))
        })
    }
}

impl ToneModel for MultilingualTone {
    fn p_negative(&self, text: &str, lang: Option<&str>) -> Option<f32> {
        self.judge(text, lang).map(|(_, p, _)| p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negation_marks_the_following_words() {
        let mut a = Featurizer::default();
        let mut b = Featurizer::default();
        a.extract("this is good", Lang::En);
        b.extract("this is not good", Lang::En);
        let good = index(word_hash("good"));
        assert!(a.features.contains(&good));
        assert!(!b.features.contains(&good), "`good` after `not` is a negated feature");
    }

    #[test]
    fn streaming_extraction_equals_extraction_of_the_normalised_text() {
        let texts = [
            "The app is DOWN again… not good :( 😡😡",
            "don’t buy — «terrible» service\u{00A0}!!! :-)",
            "ＡＣＭＥ ｓｕｃｋｓ", // full-width: NFKC first
            "Café crème, très bien ;)",
            "האפליקציה לא עובדת כבר שעתיים, שָׁלוֹם",
            "خدمة العملاء سيئة جدا ولا أحد يرد ❤️",
            "پشتیبانی این شرکت افتضاح است و سفارشم هنوز نرسیده",
            "Сервис ужасный, приложение опять не работает. Ёлка",
        ];
        for text in texts {
            for lang in Lang::ALL {
                let mut streamed = Featurizer::default();
                streamed.extract(text, lang);
                let mut folded = Vec::new();
                assert!(extract_from(&crate::ingest::normalize::normalize(text), lang, true, &mut folded));
                assert_eq!(streamed.features, folded, "{text} ({})", lang.code());
            }
        }
    }

    #[test]
    fn induced_lexicon_keeps_words_that_lean_one_way() {
        let mut tsv = String::from("label\ttext\n");
        for _ in 0..6 {
            tsv.push_str("negative\tthe service is awful\npositive\tthe service is lovely\nneutral\tthe store opens\n");
        }
        let lex = induce_lexicon(&tsv);
        assert_eq!(lex.get("awful"), Some(&-1.0));
        assert_eq!(lex.get("lovely"), Some(&1.0));
        assert_eq!(lex.get("service"), None, "seen as often in both");
        assert_eq!(lex.get("opens"), None, "neutral only: neither rate leans");
    }

    #[test]
    fn every_language_has_lexicon_classes_with_clitics_for_hebrew_and_arabic() {
        let mut norm = String::new();
        let mut valence = |lang, w: &str| {
            normalize_into(w, &mut norm);
            Lexicon::of(lang).valence(word_hash(&norm))
        };
        assert_eq!(valence(Lang::En, "horrible"), Some(-3));
        assert_eq!(valence(Lang::Ru, "Ужасная"), Some(-2));
        assert_eq!(valence(Lang::Ru, "отличный"), Some(2));
        assert_eq!(valence(Lang::Fa, "افتضاح"), Some(-2));
        assert_eq!(valence(Lang::He, "גרוע"), Some(-2));
        assert_eq!(valence(Lang::He, "והגרוע"), Some(-2), "ו + ה + the word");
        assert_eq!(valence(Lang::Ar, "سيئة"), Some(-2));
        assert_eq!(valence(Lang::Ar, "بالسيئة"), Some(-2), "ب + ال + the word");
        assert_eq!(valence(Lang::Ar, "ممتازة"), Some(2));
        // words outside the lists, and a word of another language
        assert_eq!(valence(Lang::Ru, "магазин"), None);
        assert_eq!(valence(Lang::He, "horrible"), None);
        // the same lists as a plain word map, for the word-list peer of tone-eval
        assert!(project_lexicon(Lang::En).is_none());
        let ar = project_lexicon(Lang::Ar).unwrap();
        normalize_into("بالسيئة", &mut norm);
        assert_eq!(ar.get(norm.as_str()), Some(&-2.0));
        assert_eq!(project_lexicon(Lang::Ru).unwrap().get("ужасная"), Some(&-2.0));
    }

    #[test]
    fn a_weights_file_of_the_old_format_is_refused_with_what_to_do() {
        let mut old = b"CWTONE02en".to_vec();
        old.extend_from_slice(&[0; 64]);
        let err = ToneWeights::from_bytes(&old).unwrap_err();
        assert!(err.contains("CWTONE02") && err.contains("tone-train"), "{err}");
    }

    #[test]
    fn learns_a_toy_task_and_round_trips() {
        let mut ex = Vec::new();
        let mut fz = Featurizer::default();
        for i in 0..700 {
            let (text, label) = match i % 3 {
                0 => ("the service was terrible and slow", Label::Negative),
                1 => ("the store opens at nine", Label::Neutral),
                _ => ("great staff, love it", Label::Positive),
            };
            fz.extract(text, Lang::En);
            ex.push(Example { features: fz.features.clone(), label, weight: 1.0 });
        }
        let w = train(Lang::En, &ex);
        fz.extract("terrible service", Lang::En);
        assert_eq!(w.predict(&fz.features).1, Label::Negative);
        fz.extract("love the staff", Lang::En);
        assert_eq!(w.predict(&fz.features).1, Label::Positive);
        let mut w = w;
        w.domain_texts = 42;
        let back = ToneWeights::from_bytes(&w.to_bytes()).unwrap();
        assert_eq!(back.predict(&fz.features), w.predict(&fz.features));
        assert_eq!(back.domain_texts, 42, "the file records the in-domain texts it was trained with");
        assert!(ToneWeights::from_bytes(b"nonsense").is_err());
    }
}

/// Reads a lexicon file: `word<TAB>score…` (VADER, AFINN) or one word per line with a fixed
/// polarity (Chen–Skiena lists).
pub fn read_lexicon(text: &str, fixed: Option<f32>, into: &mut HashMap<String, f32>) {
    let mut norm = String::new();
    for line in text.lines() {
        let mut cols = line.split('\t');
        let Some(word) = cols.next().map(str::trim).filter(|w| !w.is_empty()) else { continue };
        let value = match fixed {
            Some(v) => v,
            None => match cols.next().and_then(|v| v.trim().parse::<f32>().ok()) {
                Some(v) => v,
                None => continue,
            },
        };
        normalize_into(word, &mut norm);
        into.insert(norm.clone(), value);
    }
}

/// Trains every language found under `data/<lang>/train.tsv`, plus the in-domain texts of
/// `domain` if any, and writes `out/<lang>.bin`; returns (language, public training texts,
/// in-domain texts, held-out negative F1) per model written.
///
/// # Errors
/// Unreadable or malformed data, or a write failure, naming the file.
pub fn train_dir(
    data: &std::path::Path,
    out: &std::path::Path,
    langs: &[Lang],
    domain: Option<&crate::tone::domain::DomainSet>,
) -> Result<Vec<(Lang, usize, usize, f32)>, String> {
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create `{}`: {e}", out.display()))?;
    let mut done = Vec::new();
    for &lang in langs {
        let mut examples = public_training(data, lang)?;
        let in_domain = match domain {
            Some(d) => d.examples(lang)?,
            None => Vec::new(),
        };
        let public = examples.len();
        examples.extend(in_domain);
        let mut w = train(lang, &examples);
        w.domain_texts = u32::try_from(examples.len() - public).unwrap_or(u32::MAX);
        let dest = out.join(format!("{}.bin", lang.code()));
        std::fs::write(&dest, w.to_bytes()).map_err(|e| format!("cannot write `{}`: {e}", dest.display()))?;
        done.push((lang, public, examples.len() - public, w.held_out_f1.unwrap_or(0.0)));
    }
    Ok(done)
}

/// The public training texts of `lang`: `data/<lang>/train.tsv` and the permissive extra
/// sets.
fn public_training(data: &std::path::Path, lang: Lang) -> Result<Vec<Example>, String> {
    let path = data.join(lang.code()).join("train.tsv");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    let mut examples = read_tsv(&text, lang).map_err(|e| format!("{}: {e}", path.display()))?;
    add_permissive_extra(data, lang, &mut examples)?;
    Ok(examples)
}

/// Adds the extra training sets of `lang` under permissive terms (GPL ones, like ASTD, are
/// never used) to `examples`.
fn add_permissive_extra(data: &std::path::Path, lang: Lang, examples: &mut Vec<Example>) -> Result<(), String> {
    for (code, name) in PERMISSIVE_EXTRA {
        if *code != lang.code() {
            continue;
        }
        let extra = data.join(code).join("extra").join(name).join("train.tsv");
        if let Ok(text) = std::fs::read_to_string(&extra) {
            examples.extend(read_tsv(&text, lang).map_err(|e| format!("{}: {e}", extra.display()))?);
        }
    }
    Ok(())
}

/// Extra training sets whose licence allows shipping weights in the default build.
const PERMISSIVE_EXTRA: &[(&str, &str)] = &[("ar", "semeval2017_xlmt")];

/// A word lexicon induced from labelled training text (`label<TAB>text`): every normalised
/// word seen in at least 5 texts whose negative and positive rates differ by a factor of 2
/// or more (add-one smoothed) gets polarity −1 or +1. What a team without a published
/// lexicon could build in an afternoon; the peer for Persian and Arabic, where no word
/// lexicon may be redistributed.
pub fn induce_lexicon(train_tsv: &str) -> HashMap<String, f32> {
    let mut counts: HashMap<String, [u32; CLASSES]> = HashMap::new();
    let mut totals = [0u32; CLASSES];
    let mut norm = String::new();
    for line in train_tsv.lines().skip(1) {
        let Some((label, text)) = line.split_once('\t') else { continue };
        let Some(label) = Label::parse(label) else { continue };
        totals[label as usize] += 1;
        normalize_into(text, &mut norm);
        let mut seen: Vec<&str> = norm.split(|c: char| !is_word_char(c)).filter(|w| !w.is_empty()).collect();
        seen.sort_unstable();
        seen.dedup();
        for w in seen {
            counts.entry(w.to_string()).or_default()[label as usize] += 1;
        }
    }
    let rate = |n: u32, total: u32| (f64::from(n) + 1.0) / (f64::from(total) + 2.0);
    counts
        .into_iter()
        .filter(|(_, c)| c.iter().sum::<u32>() >= 5)
        .filter_map(|(w, c)| {
            let ratio = rate(c[0], totals[0]) / rate(c[2], totals[2]);
            if ratio >= 2.0 {
                Some((w, -1.0))
            } else if ratio <= 0.5 {
                Some((w, 1.0))
            } else {
                None
            }
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
) -> Result<Vec<EvalRow>, String> {
    let mut rows = Vec::new();
    for w in models {
        let read = |name: &str| {
            let path = data.join(w.lang.code()).join(name);
            std::fs::read_to_string(&path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))
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
        add_permissive_extra(data, w.lang, &mut public)?;
        let in_domain = score(&predict_all(w, &in_domain_texts));
        let in_domain_cv = crate::tone::domain::cross_validate(w.lang, &public, &in_domain_texts, 5);
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
            in_domain_cv,
            trained_with_domain: w.domain_texts,
        });
    }
    Ok(rows)
}
