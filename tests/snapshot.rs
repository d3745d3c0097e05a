//! Engine snapshots: stopping mid-stream, restoring from the encoded snapshot and going on
//! gives the same alerts as never stopping (explanations aside: the post log is not saved).

use crisiswatch::alert::AlertEvent;
use crisiswatch::cmd::simulate::{simulate, SimOptions};
use crisiswatch::engine::snapshot::{decode, encode, SnapshotError};
use crisiswatch::engine::Engine;
use crisiswatch::ingest::parse_line;
use crisiswatch::rules::{load_dir, RuleSet};
use std::path::Path;

fn key(e: &AlertEvent) -> String {
    format!("{} {:?} {:?} {} {} {} {:.6}", e.id, e.status, e.severity, e.rule, e.at, e.observed, e.expected)
}

fn rules() -> RuleSet {
    load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")).expect("project rules load")
}

#[test]
fn restored_engine_continues_exactly() {
    let mut stream = Vec::new();
    let opts = SimOptions { seed: 7, days: 10, brands: 6, ..SimOptions::default() };
    simulate(&opts, &mut stream).unwrap();
    let lines: Vec<&[u8]> = stream.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
    let rules = rules();

    let mut whole = Engine::new(&rules).unwrap();
    let cut = lines.len() * 2 / 3;
    let mut first = Engine::new(&rules).unwrap();
    for l in &lines[..cut] {
        let m = parse_line(l, 1 << 20).unwrap();
        whole.process(&m);
        first.process(&m);
    }
    let before: Vec<String> = whole.events.iter().map(key).collect();
    assert!(!before.is_empty(), "the first part has alerts");
    let open_at_cut = first.open_incidents();

    let bytes = encode(&first.snapshot()).unwrap();
    let mut resumed = Engine::new(&rules).unwrap();
    let report = resumed.restore(decode(&bytes).unwrap());
    assert_eq!(report.dropped, 0);
    assert!(report.brands >= 6, "{report:?}");
    assert_eq!(resumed.open_incidents(), open_at_cut);
    assert_eq!(resumed.now(), first.now());

    whole.events.clear();
    for l in &lines[cut..] {
        let m = parse_line(l, 1 << 20).unwrap();
        whole.process(&m);
        resumed.process(&m);
    }
    let a: Vec<String> = whole.events.iter().map(key).collect();
    let b: Vec<String> = resumed.events.iter().map(key).collect();
    assert!(!a.is_empty(), "the second part has alerts");
    assert_eq!(a, b);
    assert_eq!(whole.snapshot().stats.mentions, resumed.snapshot().stats.mentions);
}

#[test]
fn snapshots_of_another_version_or_garbage_are_refused() {
    let rules = rules();
    let mut e = Engine::new(&rules).unwrap();
    let m = parse_line(br#"{"id":"1","ts":"2026-01-01T00:00:00Z","text":"acme","brand":"acme"}"#, 4096).unwrap();
    e.process(&m);
    let mut snap = e.snapshot();
    snap.version += 1;
    let err = decode(&encode(&snap).unwrap()).unwrap_err();
    assert!(matches!(err, SnapshotError::Version(v) if v == snap.version), "{err}");
    assert!(err.to_string().contains("version"), "{err}");
    assert!(matches!(decode(b"\x01\x02garbage"), Err(SnapshotError::Unreadable(_))));
}

#[test]
fn rules_that_are_gone_drop_their_state_and_say_so() {
    let rules = rules();
    let mut e = Engine::new(&rules).unwrap();
    let m = parse_line(br#"{"id":"1","ts":"2026-01-01T00:00:00Z","text":"acme","brand":"acme"}"#, 4096).unwrap();
    e.process(&m);
    let mut snap = e.snapshot();
    snap.brands[0].rules.push(("no-such-rule".into(), Default::default(), 0));
    let scope = snap.brands[0].scopes[0].1.clone();
    snap.brands[0].scopes.push(("/lang=xx".into(), scope));
    let mut fresh = Engine::new(&rules).unwrap();
    let report = fresh.restore(snap);
    assert_eq!(report.dropped, 2);
    assert_eq!(report.brands, 1);
}

/// The live service's wall-clock tick: with no mentions at all, open incidents still resolve
/// and silences are still noticed; a person's resolution closes an incident at once.
#[test]
fn the_clock_moves_without_mentions_and_people_can_resolve() {
    let mut stream = Vec::new();
    simulate(&SimOptions { seed: 7, days: 10, brands: 6, ..SimOptions::default() }, &mut stream).unwrap();
    let rules = rules();
    let mut e = Engine::new(&rules).unwrap();
    let mut lines = stream.split(|&b| b == b'\n').filter(|l| !l.is_empty());
    // feed until two incidents (other than silences) are open
    let mut open = Vec::new();
    for l in lines.by_ref() {
        e.process(&parse_line(l, 1 << 20).unwrap());
        open = e.events.iter().filter(|ev| ev.metric != "flatline").map(|ev| ev.id.clone()).collect::<Vec<_>>();
        open.retain(|id| !e.events.iter().any(|ev| &ev.id == id && ev.status == crisiswatch::alert::Status::Resolved));
        open.dedup(); // an incident that escalated has two events with its id
        if open.len() >= 2 {
            break;
        }
    }
    assert!(open.len() >= 2, "the stream has incidents");
    let (by_hand, by_clock) = (open[0].clone(), open[1].clone());
    e.events.clear();

    assert!(e.resolve_incident(&by_hand));
    assert!(!e.resolve_incident(&by_hand), "only once");
    assert!(!e.resolve_incident("no-such-incident"));
    let ev = e.events.pop().expect("a resolved event");
    assert_eq!((ev.id.as_str(), ev.status), (by_hand.as_str(), crisiswatch::alert::Status::Resolved));

    let now = e.now().unwrap();
    for minute in 1..=12 * 60 {
        e.advance_to(now + minute * 60_000);
    }
    let resolved = e.events.iter().any(|ev| ev.id == by_clock && ev.status == crisiswatch::alert::Status::Resolved);
    assert!(resolved, "the open incident resolved while nothing was said");
    assert!(
        e.events.iter().any(|ev| ev.metric == "flatline" && ev.status == crisiswatch::alert::Status::Firing),
        "twelve hours of total silence is a feed outage: {:?}",
        e.events.iter().map(|ev| (&ev.brand, &ev.metric, ev.status)).collect::<Vec<_>>()
    );
}
