//! Receivers down for an hour: the notify pipeline (`notify::plan`, `notify::deliver_due`
//! over a real store) driven on a simulated clock — `now` is passed in, one tick every 5 s
//! of simulated time, no sleeping — against two real local webhook receivers
//! (`support::http`) that answer `503` for the first simulated hour and `200` after.
//!
//! Four incidents, each firing, escalating and resolving while the receivers are down. Once
//! they are back, every notification must be delivered exactly once (one `200` per
//! idempotency key, none dead, none left), each receiver must hear each incident's events in
//! their order (alert, escalated, resolved), and the retries during the outage must follow
//! the backoff: doubling from `retry_base`, never more than `retry_max` apart.
//!
//! With the shipped defaults (`max_attempts` 300, about a day at the 5-minute cap): after
//! `notify::OPS_NOTICE_AFTER` failed attempts each receiver is also told that the other one
//! is failing (an ops notice, delivered once it is back), and delivery goes on.

mod support;

use crisiswatch::alert::AlertEvent;
use crisiswatch::notify::{self, Backoff};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use support::http::{HttpFake, Reply};

const SEC: i64 = 1000;
const MIN: i64 = 60 * SEC;
/// Simulated time between two passes of the pipeline.
const TICK: i64 = 5 * SEC;
/// The receivers answer 503 until this long after the start.
const OUTAGE: i64 = 60 * MIN;
const RETRY_BASE: i64 = 2 * SEC;
const RETRY_MAX: i64 = 5 * MIN;
const RECEIVERS: [&str; 2] = ["pr", "execs"];
const BRANDS: [&str; 4] = ["acme", "globex", "initech", "umbrella"];

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Hit {
    receiver: &'static str,
    /// Simulated time of the request.
    at: i64,
    status: u16,
    key: String,
    kind: String,
    incidents: Vec<String>,
}

/// A webhook receiver answering 503 while the simulated clock is before `back`, then 200;
/// every request is recorded in `hits`, in the order received.
fn receiver(name: &'static str, clock: Arc<AtomicI64>, back: i64, hits: Arc<Mutex<Vec<Hit>>>) -> HttpFake {
    HttpFake::start(move |req| {
        let at = clock.load(Ordering::SeqCst);
        let status = if at < back { 503 } else { 200 };
        let body = req.json();
        let incidents = body["notification"]["incidents"].as_array().into_iter().flatten().filter_map(Value::as_str);
        hits.lock().unwrap().push(Hit {
            receiver: name,
            at,
            status,
            key: req.header("idempotency-key").to_string(),
            kind: body["notification"]["kind"].as_str().unwrap_or("").to_string(),
            incidents: incidents.map(str::to_string).collect(),
        });
        Reply::status(status)
    })
}

fn event(id: &str, brand: &str, status: &str, severity: &str, at: i64) -> AlertEvent {
    let mut v = notify::sample_event(at);
    v["id"] = id.into();
    v["brand"] = brand.into();
    v["brand_name"] = brand.into();
    v["status"] = status.into();
    v["severity"] = severity.into();
    v["at"] = crisiswatch::time::format_rfc3339(at).into();
    serde_json::from_value(v).unwrap()
}

/// The retry delays `Backoff` may choose after attempt k = 1, 2, …: jitter keeps the upper
/// half of base·2^(k−1), capped at the maximum.
fn delay_bounds(k: u32) -> (i64, i64) {
    let full = (RETRY_BASE << (k - 1).min(20)).min(RETRY_MAX);
    (full / 2, full)
}

#[test]
fn an_hour_down_then_everything_once_and_in_order() {
    std::env::set_var("CW_OUTAGE_HOOK_KEY", "outage-key");
    let t0 = crisiswatch::clock::wall_ms() / MIN * MIN;
    let clock = Arc::new(AtomicI64::new(t0));
    let hits = Arc::new(Mutex::new(Vec::new()));
    let fakes: Vec<HttpFake> =
        RECEIVERS.iter().map(|name| receiver(name, clock.clone(), t0 + OUTAGE, hits.clone())).collect();
    let mut text =
        format!("group_wait = \"0s\"\nretry_base = \"{}s\"\nretry_max = \"{}s\"\n", RETRY_BASE / SEC, RETRY_MAX / SEC);
    for (name, fake) in RECEIVERS.iter().zip(&fakes) {
        text += &format!(
            "[[receiver]]\nname = \"{name}\"\nkind = \"webhook\"\nurl = \"{}/hook\"\nsecret_env = \"CW_OUTAGE_HOOK_KEY\"\n\
             [[team]]\nname = \"{name}\"\nreceivers = [\"{name}\"]\n",
            fake.base()
        );
    }
    text += "[[route]]\nladder = [{ teams = [\"pr\", \"execs\"] }]\n";
    let n = notify::config::from_toml_str(&text, "127.0.0.1:1").unwrap();
    let backoff = Backoff { base: n.retry_base, max: n.retry_max };
    let dir = tempfile::tempdir().unwrap();
    let mut db = crisiswatch::store::open(&dir.path().join("crisiswatch.db"), false).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let notifiers = {
        let _inside = rt.enter();
        notify::notifiers(&n).unwrap()
    };

    // incident k fires at 2 + 7k minutes, escalates 10 minutes later, resolves 15 after that
    let mut script: Vec<(i64, AlertEvent)> = Vec::new();
    for (k, brand) in BRANDS.iter().enumerate() {
        let id = format!("inc-{brand}");
        let fired = t0 + (2 + 7 * k as i64) * MIN;
        script.push((fired, event(&id, brand, "firing", "warning", fired)));
        script.push((fired + 10 * MIN, event(&id, brand, "escalated", "critical", fired + 10 * MIN)));
        script.push((fired + 25 * MIN, event(&id, brand, "resolved", "critical", fired + 25 * MIN)));
    }
    assert!(script.iter().all(|(at, _)| *at < t0 + OUTAGE), "everything happens during the outage");
    script.sort_by_key(|(at, _)| *at);

    let pending = |db: &rusqlite::Connection| -> i64 {
        db.query_row("SELECT count(*) FROM notifications WHERE status = 'pending'", [], |r| r.get(0)).unwrap()
    };
    let mut now = t0;
    let mut next_event = 0;
    let wall = std::time::Instant::now();
    loop {
        clock.store(now, Ordering::SeqCst);
        let happened: Vec<AlertEvent> =
            script[next_event..].iter().take_while(|(at, _)| *at <= now).map(|(_, e)| e.clone()).collect();
        next_event += happened.len();
        crisiswatch::store::record_events(&mut db, &happened).unwrap();
        notify::plan(&mut db, &n, now, None).unwrap();
        rt.block_on(notify::deliver_due(&mut db, &n, &notifiers, backoff, now, i64::MAX, None)).unwrap();
        if next_event == script.len() && now >= t0 + OUTAGE && pending(&db) == 0 {
            break;
        }
        assert!(now < t0 + 3 * 60 * MIN, "still pending 2 hours after the outage: {}", pending(&db));
        now += TICK;
    }
    // the ops notices ("the other receiver is failing") apart: kind of each notification
    let installation = crisiswatch::store::installation::id(&db).unwrap();
    let ops: HashSet<String> = db
        .prepare("SELECT id FROM notifications WHERE kind = 'ops'")
        .unwrap()
        .query_map([], |r| r.get::<_, i64>(0))
        .unwrap()
        .map(|id| format!("crisiswatch-{installation}-n{}", id.unwrap()))
        .collect();
    let all_hits = hits.lock().unwrap().clone();
    let (ops_hits, hits): (Vec<Hit>, Vec<Hit>) = all_hits.into_iter().partition(|h| ops.contains(&h.key));
    // notifications by status, ops notices (`=`) or the others (`!=`)
    let by_status = |op: &str| -> BTreeMap<String, i64> {
        db.prepare(&format!("SELECT status, count(*) FROM notifications WHERE kind {op} 'ops' GROUP BY status"))
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let ops_outcomes = by_status("=");
    // each incident's first notice, failing for minutes, told the other receiver once (the
    // later ones wait behind it), and those notices were delivered once it was back
    assert_eq!(ops_outcomes, BTreeMap::from([("delivered".to_string(), (RECEIVERS.len() * BRANDS.len()) as i64)]));
    assert_eq!(ops_hits.iter().filter(|h| h.status == 200).count(), ops.len(), "each ops notice once");
    let outcomes = by_status("!=");
    let delivered: Vec<&Hit> = hits.iter().filter(|h| h.status == 200).collect();
    let last = delivered.iter().map(|h| h.at).max().unwrap_or(0);
    eprintln!(
        "{} requests ({} answered 503) over {} simulated minutes in {:?}; outbox {outcomes:?}; \
         last delivery {} s after the receivers came back",
        hits.len(),
        hits.len() - delivered.len(),
        (now - t0) / MIN,
        wall.elapsed(),
        (last - t0 - OUTAGE) / SEC
    );

    // everything delivered, exactly once
    let expected = RECEIVERS.len() * BRANDS.len() * 3;
    assert_eq!(outcomes, BTreeMap::from([("delivered".to_string(), expected as i64)]), "none dead, none pending");
    let keys: HashSet<&str> = delivered.iter().map(|h| h.key.as_str()).collect();
    assert_eq!(delivered.len(), expected, "one 200 per notification");
    assert_eq!(keys.len(), expected, "idempotency keys distinct: no notification delivered twice");
    let mut told: HashMap<(&str, &str), Vec<&str>> = HashMap::new();
    for h in &delivered {
        assert_eq!(h.incidents.len(), 1, "one incident per brand: {h:?}");
        told.entry((h.receiver, h.incidents[0].as_str())).or_default().push(h.kind.as_str());
    }
    // each receiver heard each incident's events once, in their order
    assert_eq!(told.len(), RECEIVERS.len() * BRANDS.len());
    for ((receiver, incident), kinds) in &told {
        assert_eq!(kinds, &["alert", "escalated", "resolved"], "{receiver} heard {incident} out of order");
    }

    // the retries during the outage followed the backoff, up to its cap
    let mut attempts: HashMap<&str, Vec<&Hit>> = HashMap::new();
    for h in &hits {
        attempts.entry(h.key.as_str()).or_default().push(h);
    }
    let mut most = 0;
    for tries in attempts.values() {
        let failed = tries.iter().filter(|h| h.status == 503).count();
        most = most.max(failed);
        assert!(tries[..failed].iter().all(|h| h.status == 503) && tries.len() == failed + 1, "{tries:?}");
        for (k, pair) in tries.windows(2).enumerate() {
            let (lo, hi) = delay_bounds(k as u32 + 1);
            let gap = pair[1].at - pair[0].at;
            // attempts happen on ticks: a retry comes on the first tick after its delay
            assert!(
                gap >= lo && gap <= hi + TICK + SEC,
                "retry {} of {} after {gap} ms, not in [{lo}, {hi}] (+ a tick)",
                k + 1,
                pair[0].key
            );
        }
    }
    // the first alert, down for 58 minutes: 7 doubling delays (2 s … 128 s, 254 s at most)
    // then one every 150–300 s
    let first = &attempts[delivered.iter().find(|h| h.incidents[0] == "inc-acme").unwrap().key.as_str()];
    let failed = first.len() - 1;
    eprintln!("the first alert: {failed} failed attempts; the most of any notification: {most}");
    assert!((18..=30).contains(&failed), "{failed} attempts in 58 minutes");
}
