//! The `replay` command end to end: bad input is reported and dead-lettered without stopping
//! the replay, stdin and `.gz` inputs work, keyword rules attribute brands, and exit codes
//! follow DESIGN §4.

mod support;

use std::io::Write;
use support::{mention, read_events, run, run_with_stdin, stderr};

/// A day of quiet traffic for `acme` then a burst of complaints, as JSON lines.
fn burst_lines(with_brand: bool) -> Vec<String> {
    let mut lines = Vec::new();
    let start = crisiswatch::time::parse_timestamp("2026-03-02T00:00:00Z").unwrap();
    let brand = with_brand.then_some("acme");
    // two days at ~4 per hour, then 200 complaints within 10 minutes
    for i in 0..(2 * 24 * 4) {
        let ts = crisiswatch::time::format_rfc3339(start + i * 15 * 60_000);
        lines.push(mention(&format!("q{i}"), &ts, brand, "bought something at Acme today", Some(0.3)));
    }
    let t0 = start + 2 * 24 * 3_600_000 + 600_000;
    for i in 0..200 {
        let ts = crisiswatch::time::format_rfc3339(t0 + i * 3_000);
        lines.push(mention(&format!("c{i}"), &ts, brand, "Acme app is down, cannot pay", Some(-0.8)));
    }
    lines
}

#[test]
fn bad_lines_are_reported_dead_lettered_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let mut good = burst_lines(true);
    let bad: Vec<Vec<u8>> = vec![
        b"{not json".to_vec(),
        b"{\"id\":\"x\",\"ts\":\"2026-03-02T00:00:00Z\"}".to_vec(),
        b"{\"id\":\"y\",\"ts\":\"31/02/2026\",\"text\":\"hi\"}".to_vec(),
        b"{\"id\":\"z\",\"ts\":\"2026-03-02T00:00:00Z\",\"text\":\"\xff\xfe\"}".to_vec(),
        [b"{\"id\":\"big\",\"ts\":\"2026-03-02T00:00:00Z\",\"text\":\"".as_slice(), &vec![b'a'; 1_100_000], b"\"}"]
            .concat(),
    ];
    let mut bytes = Vec::new();
    let mut bad_line_numbers = Vec::new();
    let tail = good.split_off(100);
    for l in &good {
        bytes.extend_from_slice(l.as_bytes());
        bytes.push(b'\n');
    }
    for b in &bad {
        bytes.extend_from_slice(b);
        bytes.push(b'\n');
        bad_line_numbers.push(bytes.iter().filter(|&&c| c == b'\n').count());
    }
    for l in &tail {
        bytes.extend_from_slice(l.as_bytes());
        bytes.push(b'\n');
    }
    std::fs::write(&input, &bytes).unwrap();
    let out = dir.path().join("alerts.jsonl");
    let o = run(&["replay", input.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    for (n, want) in bad_line_numbers.iter().zip([
        "key must be a string",
        "missing field `text`",
        "field `ts`",
        "invalid UTF-8",
        "over the cap",
    ]) {
        let line = err
            .lines()
            .find(|l| l.contains(&format!("in.jsonl:{n}: rejected")))
            .unwrap_or_else(|| panic!("no report for line {n}: {err}"));
        assert!(line.contains(want), "line {n}: {line}");
    }
    assert!(err.contains("rejected lines     5"), "{err}");
    let dead = std::fs::read(dir.path().join("alerts.jsonl.rejected.jsonl")).unwrap();
    let mut want = Vec::new();
    for b in &bad {
        want.extend_from_slice(b);
        want.push(b'\n');
    }
    assert_eq!(dead, want, "dead letters are the rejected lines, unchanged");
    // the replay went on after the bad lines: the burst is still detected
    let events = read_events(&out);
    assert!(events.iter().any(|e| e.brand == "acme" && e.rule == "volume-spike"), "{events:?}");
}

#[test]
fn stdin_and_gzip_inputs_give_the_same_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let text = burst_lines(true).join("\n") + "\n";
    let plain = run_with_stdin(&["replay", "-", "--quiet"], text.as_bytes());
    assert!(plain.status.success(), "{}", stderr(&plain));
    let gz = dir.path().join("in.jsonl.gz");
    let mut enc = flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), flate2::Compression::fast());
    enc.write_all(text.as_bytes()).unwrap();
    enc.finish().unwrap();
    let zipped = run(&["replay", gz.to_str().unwrap(), "--quiet"]);
    assert!(zipped.status.success(), "{}", stderr(&zipped));
    assert!(!plain.stdout.is_empty());
    assert_eq!(plain.stdout, zipped.stdout);
    let first: serde_json::Value = serde_json::from_slice(plain.stdout.split(|&b| b == b'\n').next().unwrap()).unwrap();
    assert_eq!(first["schema"], "crisiswatch.alert.v1");
    assert_eq!(first["status"], "firing");
    for field in [
        "id",
        "dedup_key",
        "severity",
        "window_start",
        "window_end",
        "observed",
        "expected",
        "p_value",
        "score",
        "negative_share",
        "baseline_negative_share",
        "top_posts",
        "top_terms",
        "category",
        "suggested_responses",
    ] {
        assert!(first.get(field).is_some(), "missing `{field}` in {first}");
    }
}

#[test]
fn keyword_rules_attribute_brands_without_a_brand_field() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, burst_lines(false).join("\n") + "\n").unwrap();
    let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/rules");
    let o = run(&["replay", input.to_str().unwrap(), "--rules", rules, "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.lines().any(|l| l.contains("\"brand\":\"acme\"") && l.contains("\"volume-spike\"")), "{text}");
    // without rules, mentions without `brand` match nothing
    let o = run(&["replay", input.to_str().unwrap(), "--quiet"]);
    assert!(o.stdout.is_empty());
    assert!(stderr(&o).contains("unmatched          392"), "{}", stderr(&o));
}

#[test]
fn exit_codes() {
    assert_eq!(run(&["replay"]).status.code(), Some(2), "missing argument is bad usage");
    assert_eq!(run(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(run(&["replay", "/nonexistent/input.jsonl", "--quiet"]).status.code(), Some(1));
}

#[test]
fn late_mentions_within_the_allowance_count_and_older_ones_are_reported() {
    let lines = [
        mention("a", "2026-03-02T10:00:00Z", Some("acme"), "x", None),
        mention("b", "2026-03-02T10:20:00Z", Some("acme"), "x", None),
        mention("c", "2026-03-02T10:17:00Z", Some("acme"), "three minutes late: placed", None),
        mention("d", "2026-03-02T10:05:00Z", Some("acme"), "fifteen minutes late: late", None),
    ];
    let o = run_with_stdin(&["replay", "-", "--quiet"], (lines.join("\n") + "\n").as_bytes());
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("mentions           4"), "{err}");
    assert!(err.contains("late mentions      1"), "{err}");
}

#[test]
fn an_endless_line_is_streamed_to_the_dead_letters() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let good = mention("a", "2026-03-02T10:00:00Z", Some("acme"), "x", None);
    // 5 MB without a newline at the end of the file, after one good line
    let huge = vec![b'z'; 5_000_000];
    std::fs::write(&input, [good.as_bytes(), b"\n", &huge].concat()).unwrap();
    let out = dir.path().join("alerts.jsonl");
    let o = run(&["replay", input.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("in.jsonl:2: rejected: line is 5000000 bytes, over the cap of 1048576 bytes"), "{err}");
    let dead = std::fs::read(dir.path().join("alerts.jsonl.rejected.jsonl")).unwrap();
    assert_eq!(dead.len(), huge.len() + 1);
    assert!(dead[..huge.len()] == huge[..] && dead.ends_with(b"\n"));
}

#[test]
fn a_scoped_rule_keeps_its_own_windows_and_incident() {
    // acme's rules add `negative-surge-twitter`, scoped to twitter: a burst of negative
    // tweets opens an incident keyed `acme/negative-surge-twitter/source=twitter`
    let start = crisiswatch::time::parse_timestamp("2026-03-02T00:00:00Z").unwrap();
    let mut lines = Vec::new();
    for i in 0..(2 * 24 * 12) {
        let ts = crisiswatch::time::format_rfc3339(start + i * 5 * 60_000);
        let source = if i % 2 == 0 { "twitter" } else { "facebook" };
        let s = if i % 5 == 0 { -0.6 } else { 0.4 };
        lines.push(format!(r#"{{"id":"q{i}","ts":"{ts}","text":"went to acme","source":"{source}","sentiment":{s}}}"#));
    }
    let t0 = start + 2 * 24 * 3_600_000;
    for i in 0..60 {
        let ts = crisiswatch::time::format_rfc3339(t0 + i * 20_000);
        lines.push(format!(
            r#"{{"id":"n{i}","ts":"{ts}","text":"acme charged me twice","source":"twitter","sentiment":-0.9}}"#
        ));
    }
    let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/rules");
    let o = run_with_stdin(&["replay", "-", "--rules", rules, "--quiet"], (lines.join("\n") + "\n").as_bytes());
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    let keys: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["dedup_key"].as_str().unwrap().to_string())
        .collect();
    assert!(keys.iter().any(|k| k == "acme/negative-surge-twitter/source=twitter"), "{keys:?}");
}

#[test]
fn a_wrong_future_timestamp_is_rejected_but_a_real_gap_is_followed() {
    let mut lines = vec![
        mention("a", "2026-03-02T10:00:00Z", Some("acme"), "x", None),
        mention("b", "2026-03-02T10:01:00Z", Some("acme"), "x", None),
        // a broken clock: years ahead, and the stream carries on where it was
        mention("bad", "2031-01-01T00:00:00Z", Some("acme"), "x", None),
        mention("c", "2026-03-02T10:02:00Z", Some("acme"), "x", None),
    ];
    // a real two-day gap in the data: the next mentions confirm the jump
    lines.push(mention("d", "2026-03-04T12:00:00Z", Some("acme"), "x", None));
    lines.push(mention("e", "2026-03-04T12:00:30Z", Some("acme"), "x", None));
    let dir = tempfile::tempdir().unwrap();
    let dl = dir.path().join("dead.jsonl");
    let o = run_with_stdin(
        &["replay", "-", "--quiet", "--dead-letter", dl.to_str().unwrap()],
        (lines.join("\n") + "\n").as_bytes(),
    );
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("-:3: rejected: field `ts`: `2031-01-01T00:00:00Z` is"), "{err}");
    assert!(err.contains("rejected lines     1"), "{err}");
    assert!(err.contains("late mentions      0"), "the bad clock must not make the rest late: {err}");
    assert_eq!(std::fs::read_to_string(&dl).unwrap(), lines[2].clone() + "\n");
}

#[test]
fn without_provider_sentiment_the_tone_model_judges() {
    // two days of ordinary posts, then complaints: no `sentiment` field anywhere
    let start = crisiswatch::time::parse_timestamp("2026-03-02T00:00:00Z").unwrap();
    let calm = [
        "I bought a new phone case at Acme",
        "Acme store opens at nine on weekdays",
        "thanks Acme, great service today",
    ];
    let mut lines = Vec::new();
    for i in 0..(2 * 24 * 12) {
        let ts = crisiswatch::time::format_rfc3339(start + i * 5 * 60_000);
        lines.push(mention(&format!("q{i}"), &ts, Some("acme"), calm[i as usize % 3], None));
    }
    let t0 = start + 2 * 24 * 3_600_000;
    for i in 0..80 {
        let ts = crisiswatch::time::format_rfc3339(t0 + i * 15_000);
        lines.push(mention(
            &format!("c{i}"),
            &ts,
            Some("acme"),
            "worst service ever, Acme charged me twice and nobody answers, terrible",
            None,
        ));
    }
    let o = run_with_stdin(&["replay", "-", "--quiet"], (lines.join("\n") + "\n").as_bytes());
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains(&format!("with a tone        {}", lines.len())), "every English mention is judged: {err}");
    let events: Vec<serde_json::Value> =
        String::from_utf8(o.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let surge = events
        .iter()
        .find(|e| e["rule"] == "negative-surge")
        .unwrap_or_else(|| panic!("no negative-surge: {events:?}"));
    assert_eq!(surge["tone_source"], "model");
}

#[test]
fn tone_stats_show_the_mix_per_brand_and_language() {
    let lines = [
        mention("a", "2026-03-02T10:00:00Z", Some("acme"), "Acme charged me twice, terrible", Some(-0.8)),
        mention("b", "2026-03-02T10:00:10Z", Some("acme"), "worst service ever, Acme never answers, awful", None),
        mention("c", "2026-03-02T10:00:20Z", Some("acme"), "پشتیبانی این شرکت افتضاح است", None),
        mention("d", "2026-03-02T10:00:30Z", Some("acme"), "👍👍 2026 !!!", None),
    ];
    let o = run_with_stdin(&["replay", "-", "--quiet", "--tone-stats"], (lines.join("\n") + "\n").as_bytes());
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("acme / en: 1 (1) · 1 (1) · 0"), "{err}");
    // Persian has a built-in model (the project's own texts) since issue 16
    assert!(err.contains("acme / fa: 0 (0) · 1 (1) · 0"), "{err}");
    // no language identified: untoned
    assert!(err.contains("acme / other: 0 (0) · 0 (0) · 1"), "{err}");
}

#[test]
fn alerts_name_a_category_and_carry_drafts_in_the_posts_languages() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, alerts) = (dir.path().join("sim.jsonl"), dir.path().join("alerts.jsonl"));
    let o = run(&["simulate", "--out", sim.to_str().unwrap(), "--seed", "3", "--days", "14", "--brands", "6"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let books = concat!(env!("CARGO_MANIFEST_DIR"), "/alerts/playbooks");
    let o = run(&["replay", sim.to_str().unwrap(), "--out", alerts.to_str().unwrap(), "--quiet", "--playbooks", books]);
    assert!(o.status.success(), "{}", stderr(&o));
    let events = read_events(&alerts);
    let firing: Vec<_> = events.iter().filter(|e| e.status == crisiswatch::alert::Status::Firing).collect();
    let named = firing.iter().filter(|e| e.category != "other").count();
    assert!(named * 2 > firing.len(), "most incidents get a category: {named}/{}", firing.len());
    for e in &firing {
        if e.category == "other" {
            assert!(e.suggested_responses.is_empty());
            continue;
        }
        assert!(!e.suggested_responses.is_empty(), "{} has drafts", e.id);
        for r in &e.suggested_responses {
            assert!(!r.text.contains("{{") && !r.text.contains("}}"), "filled in: {}", r.text);
            if ["outage", "service", "rumor", "positive_viral"].contains(&e.category.as_str()) {
                assert!(r.text.contains(&e.brand_name), "these drafts name the brand: {}", r.text);
            }
        }
    }
    // an outage in Russian gets a Russian draft
    let ru =
        firing.iter().find(|e| e.category == "outage" && e.top_posts.iter().any(|p| p.text.contains("не работает")));
    assert!(
        ru.is_some_and(|e| e.suggested_responses.iter().any(|r| r.lang == "ru")),
        "a Russian outage has a Russian draft"
    );
    // resolved events keep the category their incident last had
    for (i, r) in events.iter().enumerate().filter(|(_, e)| e.status == crisiswatch::alert::Status::Resolved) {
        if let Some(last) = events[..i].iter().rev().find(|f| f.id == r.id) {
            assert_eq!(last.category, r.category);
        }
    }
}

/// Re-sending a slice of the stream four times (an overlapping export, a client's retries)
/// changes nothing: `replay` remembers ids as `serve` does. Before, the copies were counted
/// and raised volume alerts.
#[test]
fn a_slice_sent_four_times_is_counted_once() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, lines) = support::stream::simulated(dir.path(), 21, 6, 3);
    let reference = support::stream::reference(dir.path(), &sim);
    assert!(!reference.is_empty());
    // a six-hour slice in the middle of day 4 whose every line comes four more times (an
    // exporter retrying each page): within the lateness, so each copy would be counted
    let (a, b) = (lines.len() * 4 / 6, lines.len() * 4 / 6 + lines.len() / 24);
    let mut with_copies: Vec<&[u8]> = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let n = if (a..b).contains(&i) { 5 } else { 1 };
        with_copies.extend(std::iter::repeat_n(l.as_slice(), n));
    }
    let input = dir.path().join("copies.jsonl");
    std::fs::write(&input, with_copies.join(&b"\n"[..])).unwrap();
    let out = dir.path().join("copies-alerts.jsonl");
    let rules = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let o =
        run(&["replay", input.to_str().unwrap(), "--rules", rules.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let got: std::collections::BTreeSet<_> = read_events(&out)
        .iter()
        .map(|e| (e.id.clone(), e.status.as_str().to_string(), e.severity.as_str().to_string()))
        .collect();
    assert_eq!(got, reference, "the copies raised nothing");
    let summary = stderr(&o);
    assert!(summary.contains(&format!("duplicates         {}", 4 * (b - a))), "{summary}");
}
