//! `crisiswatch tone`: one JSON object per text, in order, with the language, the calibrated
//! negative probability and the label, from the weights built into the binary.

mod support;

use support::{run, run_with_stdin, stderr};

#[test]
fn scores_a_text_and_a_file_in_order() {
    let o = run(&["tone", "Worst service ever, the app is broken again and nobody answers"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["lang"], "en");
    assert_eq!(v["label"], "negative");
    assert!(v["p_negative"].as_f64().unwrap() > 0.5);

    let input = "I love this, thank you so much!\n\nשירות מעולה, תודה רבה\n12345\nخدمة ممتازة شكرا\n";
    let o = run_with_stdin(&["tone", "--input", "-"], input.as_bytes());
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> =
        String::from_utf8(o.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 5, "one line out per line in, blank ones included");
    assert_eq!(lines[0]["label"], "positive");
    assert!(lines[1]["lang"].is_null() && lines[3]["lang"].is_null(), "no language, no judgement");
    assert_eq!(lines[2]["lang"], "he");
    assert_eq!(lines[2]["label"], "positive");
    assert_eq!(lines[4]["lang"], "ar");
}

#[test]
fn every_line_is_scored_and_a_bad_one_answered_with_its_line_number() {
    // the issue's example: the line after the bad one is scored too, outputs stay aligned
    let o = run_with_stdin(
        &["tone", "--input", "-"],
        b"ok\n\xff\n\xd0\xbf\xd1\x80\xd0\xb8\xd0\xbb\xd0\xbe\xd0\xb6\xd0\xb5\xd0\xbd\xd0\xb8\xd0\xb5\n",
    );
    assert_eq!(o.status.code(), Some(1), "a line could not be scored");
    assert!(stderr(&o).contains("1 of 3 lines could not be scored"), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> =
        String::from_utf8(o.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[1]["line"], 2);
    assert!(lines[1]["error"].as_str().unwrap().contains("not UTF-8"), "{lines:?}");
    assert_eq!(lines[2]["lang"], "ru");
}

#[test]
fn all_five_languages_are_built_in_and_the_issues_complaints_come_out_negative() {
    // the examples of issue 16, with the binary as shipped (no flags)
    for (text, lang) in [
        ("دوباره قطع است، نمی‌توانم وارد شوم. بدترین خدمات", "fa"),
        ("опять не работает, худший сервис, верните деньги", "ru"),
        ("השירות הכי גרוע שיש, מבטל", "he"),
        ("the app is down again, worst service, refund me", "en"),
        ("خدمة سيئة جدا والتطبيق لا يعمل", "ar"),
    ] {
        let o = run(&["tone", text]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!((v["lang"].as_str(), v["label"].as_str()), (Some(lang), Some("negative")), "{text}: {v}");
        assert!(v["p_negative"].as_f64().unwrap() >= 0.5, "the windows count it too: {v}");
    }
    // no judgement is said, not a bare null
    let o = run(&["tone", "12345 !!!"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["label"].is_null() && v["reason"].as_str().unwrap().contains("no language identified"), "{v}");
    let o = run(&["tone", "--lang", "de", "hallo"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["reason"].as_str().unwrap().contains("(loaded: en, he, ar, fa, ru)"), "{v}");
    // the non-commercial Persian model stays opt-in, and overrides the built-in one
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/tone/weights/share-alike");
    let text = "پشتیبانی این شرکت افتضاح است";
    let p = |args: &[&str]| -> f64 {
        let v: serde_json::Value = serde_json::from_slice(&run(args).stdout).unwrap();
        assert_eq!((v["lang"].as_str(), v["label"].as_str()), (Some("fa"), Some("negative")), "{v}");
        v["p_negative"].as_f64().unwrap()
    };
    assert_ne!(p(&["tone", text]), p(&["tone", "--models", dir, text]), "other weights were used");
}

#[test]
fn bad_weights_are_refused_with_the_file_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("en.bin"), b"not weights").unwrap();
    let o = run(&["tone", "--models", dir.path().to_str().unwrap(), "hello"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("en.bin: not a crisiswatch tone weights file"), "{}", stderr(&o));
}

#[test]
fn tone_train_adds_a_teams_own_labelled_mentions_and_the_file_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("en")).unwrap();
    let public = three_classes(90, ["the film was terrible", "the match starts at nine", "great song, love it"]);
    std::fs::write(data.join("en/train.tsv"), public).unwrap();
    let domain = dir.path().join("mine");
    std::fs::create_dir_all(&domain).unwrap();
    std::fs::write(
        domain.join("en.tsv"),
        "label\ttext\nnegative\t{b} hotline queue again\npositive\t{b} refund came fast\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let (data, domain, out) = (data.to_str().unwrap(), domain.to_str().unwrap(), out.to_str().unwrap());
    let train = ["tone-train", "--data", data, "--out", out, "--langs", "en", "--domain", domain];
    let o = run(&train);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("90 public + 2 in-domain texts"), "{}", stderr(&o));
    let en = std::path::Path::new(out).join("en.bin");
    let w = crisiswatch::tone::ToneWeights::from_bytes(&std::fs::read(en).unwrap()).unwrap();
    assert_eq!(w.domain_texts, 2);

    // a malformed line names the file and the line; a weight that is no weight is refused
    std::fs::write(std::path::Path::new(domain).join("en.tsv"), "label\ttext\nnegative\tok\nangry\t{b} again\n")
        .unwrap();
    let o = run(&train);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("en.tsv: line 3: unknown label `angry`"), "{}", stderr(&o));
    let o = run(&["tone-train", "--data", data, "--out", out, "--langs", "en", "--domain-weight=0"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--domain-weight must be a positive number, got 0"), "{}", stderr(&o));
}

#[test]
fn tone_eval_reports_in_domain_scores_and_says_when_they_are_in_sample() {
    // toy data in all five languages, weights trained from it, one of them with the team's
    // own labelled mentions: tone-eval must score those mentions and flag that one model
    // has seen them
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mine = dir.path().join("mine");
    std::fs::create_dir_all(&mine).unwrap();
    let texts = [
        ("en", "awful terrible service", "the shop opens at nine", "great lovely staff"),
        ("he", "שירות גרוע ונורא", "החנות נפתחת בתשע", "צוות מעולה ונחמד"),
        ("fa", "خدمات افتضاح و بد", "فروشگاه ساعت نه باز می‌شود", "کارکنان عالی و مهربان"),
        ("ru", "ужасный плохой сервис", "магазин открывается в девять", "отличный добрый персонал"),
        ("ar", "خدمة سيئة جدا ومقرفة", "المحل يفتح الساعة التاسعة", "موظفون رائعون ولطيفون"),
    ];
    for (lang, neg, neu, pos) in texts {
        std::fs::create_dir_all(data.join(lang)).unwrap();
        let rows = three_classes(60, [neg, neu, pos]);
        std::fs::write(data.join(lang).join("train.tsv"), &rows).unwrap();
        std::fs::write(data.join(lang).join("test.tsv"), three_classes(30, [neg, neu, pos])).unwrap();
        std::fs::write(
            mine.join(format!("{lang}.tsv")),
            format!(
                "label\ttext\nnegative\t{{b}} {neg}\nneutral\t{{b}} {neu}\npositive\t{{b}} {pos}\n\
                 negative\t{neg} {{b}}\nneutral\t{neu} {{b}}\npositive\t{pos} {{b}}\n"
            ),
        )
        .unwrap();
    }
    let out = dir.path().join("out");
    let (data_s, out_s, mine_s) = (data.to_str().unwrap(), out.to_str().unwrap(), mine.to_str().unwrap());
    let o = run(&["tone-train", "--data", data_s, "--out", out_s, "--langs", "en,he,fa,ru"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&["tone-train", "--data", data_s, "--out", out_s, "--langs", "ar", "--domain", mine_s]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&["tone-eval", "--data", data_s, "--models", out_s, "--domain", mine_s]);
    assert!(o.status.success(), "{}", stderr(&o));
    let table = String::from_utf8(o.stdout).unwrap();
    assert!(table.contains(&format!("`{mine_s}`")), "{table}");
    let rows: Vec<&str> = table
        .lines()
        .skip_while(|l| !l.starts_with("| lang | n | model trained"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .collect();
    assert_eq!(rows.len(), 5, "{table}");
    for row in &rows {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert_eq!(cells[2], "6", "six in-domain texts per language: {row}");
        let in_sample = cells[3].contains("in-sample");
        assert_eq!(in_sample, cells[1] == "ar", "only the Arabic model was trained on them: {row}");
    }
}

/// A labelled TSV of `n` rows cycling through a negative, a neutral and a positive text.
fn three_classes(n: usize, [neg, neu, pos]: [&str; 3]) -> String {
    let rows: String = (0..n)
        .map(|i| format!("{}\t{}\n", ["negative", "neutral", "positive"][i % 3], [neg, neu, pos][i % 3]))
        .collect();
    format!("label\ttext\n{rows}")
}
