//! Unit tests of the tone model across its parts (features, weights, training, evaluation).

use super::{example::*, features::*, label::*, train::*, weights::*};
use crate::ingest::lang::Lang;
use crate::ingest::normalize::normalize_into;

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
    let err = ToneWeights::from_bytes(&old).unwrap_err().to_string();
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
