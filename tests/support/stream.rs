//! A simulated stream for the service's end-to-end tests, its reference (what an
//! uninterrupted `replay` finds), and the checks against it: the events the service stored,
//! and waiting until the engine has processed every accepted mention.

use super::server::Server;
use super::{read_events, run, stderr};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// (incident id, status, severity): an engine event as the service and `replay` report it.
pub type EventKey = (String, String, String);

/// `crisiswatch simulate --seed --days --brands` into `dir/sim.jsonl`; its lines.
pub fn simulated(dir: &Path, seed: u64, days: u32, brands: u32) -> (PathBuf, Vec<Vec<u8>>) {
    let sim = dir.join("sim.jsonl");
    let (seed, days, brands) = (seed.to_string(), days.to_string(), brands.to_string());
    let o = run(&["simulate", "--out", sim.to_str().unwrap(), "--seed", &seed, "--days", &days, "--brands", &brands]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<Vec<u8>> =
        BufReader::new(std::fs::File::open(&sim).unwrap()).split(b'\n').map(Result::unwrap).collect();
    (sim, lines)
}

/// The events an uninterrupted `replay` of `sim` with the repository's rules finds.
pub fn reference(dir: &Path, sim: &Path) -> BTreeSet<EventKey> {
    let alerts = dir.join("alerts.jsonl");
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let o = run(&[
        "replay",
        sim.to_str().unwrap(),
        "--rules",
        rules.to_str().unwrap(),
        "--out",
        alerts.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    read_events(&alerts)
        .iter()
        .map(|e| (e.id.clone(), e.status.as_str().to_string(), e.severity.as_str().to_string()))
        .collect()
}

/// The events an uninterrupted `replay` of `sim` in time order finds: what an event-clock
/// service must find, since its reorder buffer hands the engine the mentions in `ts` order
/// (a stable sort: equal times keep the file's order), where `replay` takes the file's
/// order. The simulated streams have a few hundred lines out of order (late re-shares); an
/// incident that fires on one of them may fire a few seconds apart, with another id.
pub fn reference_in_time_order(dir: &Path, sim: &Path) -> BTreeSet<EventKey> {
    let text = std::fs::read(sim).unwrap();
    let mut lines: Vec<&[u8]> = text.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
    let ts = |l: &[u8]| -> i64 {
        let v: serde_json::Value = serde_json::from_slice(l).unwrap();
        crisiswatch::time::parse_timestamp(v["ts"].as_str().unwrap()).unwrap()
    };
    lines.sort_by_cached_key(|l| ts(l));
    let sorted = dir.join("sim-in-time-order.jsonl");
    std::fs::write(&sorted, lines.join(&b'\n')).unwrap();
    reference(dir, &sorted)
}

/// NDJSON bodies of `n` lines each.
pub fn batches(lines: &[Vec<u8>], n: usize) -> Vec<Vec<u8>> {
    lines
        .chunks(n)
        .map(|c| {
            let mut b = Vec::new();
            for l in c {
                b.extend_from_slice(l);
                b.push(b'\n');
            }
            b
        })
        .collect()
}

/// Every engine event of every incident in the service's store; an event stored twice fails.
pub fn stored_events(s: &Server) -> BTreeSet<EventKey> {
    let mut out = BTreeSet::new();
    let mut cursor: Option<i64> = None;
    loop {
        let page = s.get(&format!("/v1/alerts?limit=50{}", cursor.map(|c| format!("&cursor={c}")).unwrap_or_default()));
        for a in page["alerts"].as_array().unwrap() {
            let h = s.get(&format!("/v1/alerts/{}", a["id"].as_str().unwrap()));
            for e in h["events"].as_array().unwrap() {
                if e["status"] != "acknowledged" {
                    let f = |k: &str| e[k].as_str().unwrap().to_string();
                    assert!(out.insert((f("id"), f("status"), f("severity"))), "event stored twice: {e}");
                }
            }
        }
        match page["next_cursor"].as_i64() {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
}

/// Waits (2 min at most) until the engine has processed `n` mentions; returns `/v1/brands`.
pub fn wait_processed(s: &Server, n: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    while (s.metric("crisiswatch_engine_mentions") as u64) < n {
        assert!(Instant::now() < deadline, "engine stuck below {n}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(s.metric("crisiswatch_engine_mentions") as u64, n);
    s.get("/v1/brands")
}
