//! Exact outputs of the per-post path (language identification, feature extraction,
//! scoring), so that speed work cannot change a result unnoticed:
//!
//! - a golden hash of the detected language and the features (their 32-bit hashes, as a
//!   sorted multiset) of every language for a fixed corpus generated here: the trained
//!   weight files depend on those hashes. It does not involve the weights, so retraining
//!   leaves it alone; changing the lexicon lists (`weights/lexicon/`, VADER) changes the
//!   lexicon-class features and with them this hash, on purpose.
//! - the probabilities and labels of the fast path (features summed as they are extracted)
//!   against a plain reference (the feature list, summed row by row, calibrated by a copy of
//!   the original formula), bit for bit, within the same build and weights.

use super::{features::*, label::*, model::*, weights::*};
use crate::ingest::lang::{detect, Lang};

/// SplitMix64: a fixed, dependency-free stream (the corpus must never change).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[self.below(list.len())]
    }
}

const EN: &[&str] = &[
    "acme",
    "Acme",
    "ACME",
    "app",
    "is",
    "down",
    "again",
    "not",
    "don't",
    "dont",
    "never",
    "good",
    "great",
    "terrible",
    "horrible",
    "love",
    "hate",
    "service",
    "support",
    "the",
    "a",
    "refund",
    "waiting",
    "customer",
    "cannot",
    "nobody",
    "without",
    "wonderful",
    "disappointed",
    "absolutely",
    "thanks",
    "t",
    "isn't",
    "won't",
    "LOL",
    "sucks",
    "amazing",
    "best",
    "worst",
    "charged",
    "twice",
    "order",
    "fix",
    "it",
    "third",
    "week",
    "theft",
    "helpful",
    "staff",
    "no",
];
const HE: &[&str] = &[
    "האפליקציה",
    "לא",
    "עובדת",
    "כבר",
    "שעתיים",
    "אין",
    "בלי",
    "שירות",
    "גרוע",
    "והגרוע",
    "מעולה",
    "תודה",
    "רבה",
    "אף",
    "אחד",
    "עונה",
    "מעולם",
    "ממש",
    "מרוצה",
    "שָׁלוֹם",
    "באקמה",
    "היום",
    "הכי",
    "נורא",
    "טוב",
    "הלקוחות",
    "ו",
    "ה",
];
const AR: &[&str] = &[
    "خدمة",
    "العملاء",
    "سيئة",
    "جدا",
    "ولا",
    "أحد",
    "يرد",
    "لا",
    "لم",
    "لن",
    "ليس",
    "ما",
    "بدون",
    "غير",
    "مش",
    "في",
    "على",
    "الذي",
    "هذه",
    "الشركة",
    "ممتازة",
    "بالسيئة",
    "شكرا",
    "التوصيل",
    "السريع",
    "المنتج",
    "ممتاز",
    "إلى",
    "ســلام",
    "مُمتاز",
    "ة",
    "ى",
    "ي",
    "ك",
    "ؤ",
    "عن",
    "هذا",
    "التي",
    "الى",
];
const FA: &[&str] = &[
    "پشتیبانی",
    "این",
    "شرکت",
    "افتضاح",
    "است",
    "و",
    "سفارشم",
    "هنوز",
    "نرسیده",
    "می\u{200C}خواهم",
    "خیلی",
    "خيلي",
    "بد",
    "بود",
    "خوب",
    "نه",
    "نمي",
    "نیست",
    "هرگز",
    "هیچ",
    "را",
    "که",
    "برای",
    "گرفتم",
    "ژ",
    "گ",
    "ک",
    "ی",
    "ۀ",
    "می",
    "باید",
    "هست",
    "چرا",
];
const RU: &[&str] = &[
    "Сервис",
    "ужасный",
    "приложение",
    "опять",
    "не",
    "работает",
    "и",
    "никто",
    "отвечает",
    "Ёлка",
    "нет",
    "ни",
    "никогда",
    "без",
    "ничего",
    "отличный",
    "Ужасная",
    "магазин",
    "спасибо",
    "СБЕРБАНК",
    "ё",
    "Ё",
    "хорошо",
    "плохо",
];
/// Emoji, emoticons, punctuation, and characters on the edges of the fast path: dropped
/// ones, spaces and "…" (which NFKC would change), accents, digits, other scripts' digits.
const MISC: &[&str] = &[
    "😡",
    "❤️",
    "👍",
    "⭐",
    "🙃",
    "👏👏",
    "☹",
    ":)",
    ":(",
    ":-)",
    ":-(",
    ";)",
    ":D",
    ":d",
    "=)",
    ":P",
    ":/",
    ":*",
    ":-D",
    ":\u{200B})",
    ":\u{FE0F}(",
    ":-\u{200D})",
    ":",
    ":-",
    "=",
    ";",
    "…",
    "...",
    "!!!",
    "?",
    ",",
    ".",
    "—",
    "«terrible»",
    "’",
    "“quoted”",
    "\u{00A0}",
    "\u{2009}",
    "\u{3000}",
    "\u{202F}",
    "Café",
    "crème",
    "très",
    "naïve",
    "ß",
    "12345",
    "3",
    "_",
    "#acme",
    "@acme",
    "http://acme.com/x?y=1",
    "\u{200F}",
    "\u{202E}",
    "\u{00AD}",
    "ـ",
    "\t",
    "\n",
    "\u{0591}",
    "\u{064B}",
    "٣",
    "۴",
    "(",
    ")",
    "-",
    "'",
    "\"",
    "&amp;",
    "€5",
    "→",
];
/// Characters that send a text through NFKC: full-width and presentation forms, private
/// use, ligatures, combining sequences, letters outside the folding table.
const RARE: &[&str] = &[
    "ＡＣＭＥ",
    "ｓｕｃｋｓ",
    "ﺍﻟﺨﺪﻣﺔ",
    "ﻻ",
    "שׁ",
    "\u{E404}",
    "\u{FE334}",
    "№",
    "中文",
    "𝐛𝐚𝐝",
    "e\u{0301}",
    "a\u{0308}",
    "Ǆ",
    "İ",
    "ΣΑΣ",
    "ﬁ",
    "\u{2126}",
    "\u{212A}",
    "ℌ",
    ":\u{FF09}",
];

/// The generated corpus: 4,000 texts, mostly in one language with misc pieces mixed in,
/// some mixed-script, some long (past language identification's window), some empty, about
/// one in five through NFKC.
pub(super) fn corpus() -> Vec<String> {
    let langs = [EN, HE, AR, FA, RU];
    let seps = [" ", " ", " ", " ", " ", " ", "", ", ", ". ", "! ", "\u{00A0}", "  ", "\n", "-", "…"];
    let mut rng = Rng(0x5eed_2026);
    let mut out = Vec::new();
    for i in 0..4000 {
        let main = langs[i % 5];
        let len = match rng.below(10) {
            0 => rng.below(3),
            1 => 40 + rng.below(120),
            _ => 1 + rng.below(30),
        };
        let mut t = String::new();
        for _ in 0..len {
            let piece = match rng.below(20) {
                0..=13 => rng.pick(main),
                14..=17 => rng.pick(MISC),
                18 if rng.below(4) == 0 => rng.pick(RARE),
                _ => {
                    let other = langs[rng.below(5)];
                    rng.pick(other)
                }
            };
            t.push_str(piece);
            t.push_str(rng.pick(&seps));
        }
        out.push(t);
    }
    out
}

fn fnv(h: u64, x: u64) -> u64 {
    (h ^ x).wrapping_mul(0x0100_0000_01b3)
}

/// Detected language and the sorted features of every language, hashed over the corpus.
fn golden_hash(texts: &[String]) -> u64 {
    let mut fz = Featurizer::default();
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for t in texts {
        h = fnv(h, detect(t).map_or(99, |l| l as u64));
        for lang in Lang::ALL {
            fz.extract(t, lang);
            let mut f = fz.features.clone();
            f.sort_unstable();
            h = fnv(h, f.len() as u64);
            for x in f {
                h = fnv(h, u64::from(x));
            }
        }
    }
    h
}

/// Produced by the code before the speed work (commit e755910, `cargo test --lib
/// tone::fixture_tests -- --nocapture` prints it on a mismatch).
const GOLDEN: u64 = 0x0c58_ca12_1697_fdb3;

#[test]
fn language_and_features_match_the_recorded_fixture() {
    let h = golden_hash(&corpus());
    assert_eq!(h, GOLDEN, "features or language identification changed: now {h:#018x}");
}

/// The calibration as first written, kept here as the reference.
fn reference_calibrate(w: &ToneWeights, z: [f32; CLASSES]) -> (f32, Label) {
    let m = z.iter().copied().fold(f32::MIN, f32::max);
    let e = z.map(|x| (x - m).exp());
    let s: f32 = e.iter().sum();
    let p = e.map(|x| x / s);
    let raw = p[0].clamp(1e-6, 1.0 - 1e-6);
    let z = (raw / (1.0 - raw)).ln();
    let cal = 1.0 / (1.0 + (-(w.platt.0 * z + w.platt.1)).exp());
    let label = if cal >= w.threshold {
        Label::Negative
    } else if p[2] > p[1] {
        Label::Positive
    } else {
        Label::Neutral
    };
    (cal, label)
}

/// The feature list, each feature's quantised row summed, over √(features), calibrated.
fn reference_judge(w: &ToneWeights, text: &str) -> (f32, Label) {
    let mut fz = Featurizer::default();
    fz.extract(text, w.lang);
    let q = &w.quantized;
    let mut sum = [0i32; 2];
    for &f in &fz.features {
        if let Some(r) = q.rows.get(row(f, q.bits)) {
            sum[0] += i32::from(r[0]);
            sum[1] += i32::from(r[1]);
        }
    }
    let norm = 1.0 / (fz.features.len().max(1) as f32).sqrt();
    let z = [0, 1].map(|c| (sum[c] as f32 * q.scale + q.bias[c]) * norm);
    reference_calibrate(w, [z[0], 0.0, z[1]])
}

fn all_models() -> MultilingualTone {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/tone/weights/share-alike");
    MultilingualTone::builtin_plus(Some(std::path::Path::new(dir))).expect("weights")
}

/// The in-repo seed and test sets with the brand filled in, plus the generated corpus.
fn texts_with_domain_sets() -> Vec<String> {
    let sets = [
        include_str!("weights/domain/en.tsv"),
        include_str!("weights/domain/he.tsv"),
        include_str!("weights/domain/ar.tsv"),
        include_str!("weights/domain/fa.tsv"),
        include_str!("weights/domain/ru.tsv"),
        include_str!("weights/domain/test/en.tsv"),
        include_str!("weights/domain/test/he.tsv"),
        include_str!("weights/domain/test/ar.tsv"),
        include_str!("weights/domain/test/fa.tsv"),
        include_str!("weights/domain/test/ru.tsv"),
    ];
    let mut texts = corpus();
    for set in sets {
        for line in set.lines().skip(1) {
            let text = line.split_once('\t').map_or(line, |(_, t)| t);
            texts.push(text.replace("{b}", "Acme"));
            texts.push(text.replace("{b}", "Сбер"));
        }
    }
    texts
}

#[test]
fn fast_scoring_equals_the_reference_bit_for_bit() {
    let model = all_models();
    assert_eq!(model.weights().len(), 5, "all five languages loaded");
    for text in texts_with_domain_sets() {
        // every language's model on every text
        for w in model.weights() {
            let fast = model.judge(&text, Some(w.lang.code())).expect("a model for the language");
            let slow = reference_judge(w, &text);
            assert_eq!((fast.1.to_bits(), fast.2), (slow.0.to_bits(), slow.1), "{text:?} ({})", w.lang.code());
            let direct = w.judge(&mut Featurizer::default(), &text);
            assert_eq!((direct.0.to_bits(), direct.1), (slow.0.to_bits(), slow.1), "{text:?} ({})", w.lang.code());
        }
        // the language detected, then its model
        let fast = model.judge(&text, None);
        let slow = detect(&text).map(|l| {
            let w = model.weights().iter().find(|w| w.lang == l).expect("loaded");
            let (p, label) = reference_judge(w, &text);
            (l, p.to_bits(), label)
        });
        assert_eq!(fast.map(|(l, p, label)| (l, p.to_bits(), label)), slow, "{text:?}");
    }
}
