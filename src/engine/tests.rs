//! Unit tests of the engine without the binary: the per-mention path's bookkeeping, an
//! incident's life (firing on a burst, resolved when the burst is over), manual resolution,
//! and a snapshot taken mid-incident restoring the same open incident.

use super::snapshot::{decode, encode};
use super::Engine;
use crate::alert::{AlertEvent, Status};
use crate::ingest::parse_line;
use crate::rules::RuleSet;
use crate::time::{format_rfc3339, parse_timestamp, Millis, MINUTE_MS};

pub(super) const START: &str = "2026-03-02T00:00:00Z";

/// Feeds one mention of `brand` at `at`.
pub(super) fn feed(e: &mut Engine, id: &str, at: Millis, brand: Option<&str>, text: &str, sentiment: f64) {
    let mut v = serde_json::json!({"id": id, "ts": format_rfc3339(at), "text": text, "sentiment": sentiment});
    if let Some(b) = brand {
        v["brand"] = b.into();
    }
    let line = v.to_string();
    let m = parse_line(line.as_bytes(), 1 << 20).expect("test line parses");
    e.process(&m);
}

/// `days` of calm for brand `acme`: 3 to 5 mentions a minute (deterministic), one in ten
/// negative. Returns the time after the last mention.
pub(super) fn calm(e: &mut Engine, from: Millis, minutes: i64, seq: &mut u64) -> Millis {
    for k in 0..minutes {
        let n = 3 + (k * 7 % 3);
        for j in 0..n {
            *seq += 1;
            let at = from + k * MINUTE_MS + j * (MINUTE_MS / n);
            let s = if *seq % 10 == 0 { -0.8 } else { 0.4 };
            feed(e, &format!("c{seq}"), at, Some("acme"), "acme store visit today", s);
        }
    }
    from + minutes * MINUTE_MS
}

fn engine() -> Engine {
    Engine::new(&RuleSet::builtin()).expect("engine builds")
}

#[test]
fn per_mention_bookkeeping() {
    let mut e = engine();
    let t0 = parse_timestamp(START).unwrap();
    feed(&mut e, "a1", t0, Some("acme"), "hello", 0.1);
    feed(&mut e, "a2", t0 + MINUTE_MS, Some("acme"), "the app is down", -0.9);
    // no `brand` and no keyword rule: matches nothing
    feed(&mut e, "u1", t0 + MINUTE_MS, None, "unrelated text", 0.0);
    // far behind the newest event time (lateness 5 min): late, not placed in a window
    feed(&mut e, "l1", t0 + MINUTE_MS + 10 * MINUTE_MS, Some("acme"), "now", 0.0);
    feed(&mut e, "l2", t0, Some("acme"), "old", 0.0);
    assert_eq!(e.stats.mentions, 5);
    assert_eq!(e.stats.unmatched, 1);
    assert_eq!(e.stats.late, 1);
    assert_eq!(e.stats.attributed, 3);
    assert_eq!(e.now(), Some(t0 + 11 * MINUTE_MS));
    assert!(e.events.is_empty(), "a handful of posts never alerts");
    let status = e.brand_status(true);
    assert_eq!(status.len(), 1, "brands seen in `brand` fields get the default rules");
}

#[test]
fn an_incident_fires_on_a_burst_and_resolves_after_it() {
    let mut e = engine();
    let mut seq = 0;
    let t0 = parse_timestamp(START).unwrap();
    // two days of calm: past the one-day warm-up
    let mut t = calm(&mut e, t0, 2 * 1440, &mut seq);
    assert!(e.events.is_empty(), "calm data raises nothing: {:?}", e.events.first().map(|x| &x.rule));
    // a burst: 60 negative complaints a minute for 20 minutes
    for k in 0..20 {
        for j in 0..60 {
            seq += 1;
            let at = t + k * MINUTE_MS + j * 1000;
            feed(&mut e, &format!("b{seq}"), at, Some("acme"), "acme app down again, refund now", -0.9);
        }
    }
    t += 20 * MINUTE_MS;
    let fired: Vec<&AlertEvent> = e.events.iter().filter(|x| x.status == Status::Firing).collect();
    assert!(!fired.is_empty(), "the burst fires");
    assert!(fired.iter().all(|x| x.brand == "acme" && x.observed > x.expected));
    let open = e.open_incidents();
    assert!(!open.is_empty());
    // snapshot mid-incident: the restored engine has the same open incidents
    let mut restored = engine();
    restored.restore(decode(&encode(&e.snapshot()).unwrap()).unwrap());
    assert_eq!(restored.open_incidents(), open);
    // calm again for nine hours: once the burst has left the longest window (6 h) and
    // stayed out for the hold (30 min), every incident resolves
    e.events.clear();
    calm(&mut e, t, 9 * 60, &mut seq);
    let resolved: Vec<&AlertEvent> = e.events.iter().filter(|x| x.status == Status::Resolved).collect();
    for (brand, rule) in &open {
        assert!(
            resolved.iter().any(|x| &x.brand == brand && &x.rule == rule),
            "{brand}/{rule} resolves: {:?}",
            e.events.iter().map(|x| (&x.rule, x.status)).collect::<Vec<_>>()
        );
    }
    assert!(e.open_incidents().is_empty());
}

#[test]
fn manual_resolution_closes_the_incident_once() {
    let mut e = engine();
    let mut seq = 0;
    let t0 = parse_timestamp(START).unwrap();
    let t = calm(&mut e, t0, 2 * 1440, &mut seq);
    for j in 0..600 {
        feed(&mut e, &format!("b{j}"), t + j * 1000, Some("acme"), "acme outage", -0.9);
    }
    let id = e.events.iter().find(|x| x.status == Status::Firing).expect("the burst fires").id.clone();
    e.events.clear();
    assert!(e.resolve_incident(&id));
    assert!(e.events.iter().any(|x| x.id == id && x.status == Status::Resolved));
    assert!(!e.resolve_incident(&id), "a resolved incident cannot be resolved again");
    assert!(!e.resolve_incident("no-such-incident"));
}
