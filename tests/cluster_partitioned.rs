//! The cluster's partitioning, checked without servers: a simulated stream routed onto
//! partitions (`serve::cluster::partition::Router`), each partition applied to its own
//! engine with the clock records the ingest nodes add (`serve::cluster::Clock`), gives the same incidents, statuses
//! and severities as one engine replaying the whole stream, and counts every mention once.
//! This is what makes the cluster's alerts equal a `replay` of the same stream.

use crisiswatch::alert::AlertEvent;
use crisiswatch::cmd::simulate::{simulate, SimOptions};
use crisiswatch::engine::Engine;
use crisiswatch::ingest::parse_line;
use crisiswatch::rules::{load_dir, RuleSet};
use crisiswatch::serve::cluster::partition::{self, Router};
use crisiswatch::serve::cluster::Clock;
use crisiswatch::serve::pipeline::apply;
use std::collections::BTreeSet;
use std::path::Path;

fn rules() -> RuleSet {
    load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")).expect("project rules load")
}

fn key(e: &AlertEvent) -> (String, String, String) {
    (e.id.clone(), e.status.as_str().to_string(), e.severity.as_str().to_string())
}

/// Replays `lines` whole and partitioned (requests of `batch` lines) and compares.
fn same_incidents(opts: SimOptions, partitions: u32, batch: usize) {
    let mut stream = Vec::new();
    simulate(&opts, &mut stream).unwrap();
    let lines: Vec<&[u8]> = stream.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
    let rules = rules();
    let mut whole = Engine::new(&rules).unwrap();
    whole.set_prior_pools(partitions);
    for l in &lines {
        whole.process(&parse_line(l, 1 << 20).unwrap());
    }
    let mut router = Router::new(&rules, partitions).unwrap();
    // each partition's engine with its own brands only, as the cluster's nodes build them
    let mut engines: Vec<Engine> =
        (0..partitions).map(|p| Engine::new(&partition::rules_of(&rules, p, partitions)).unwrap()).collect();
    let mut clock = Clock::default();
    let mut routed = Vec::new();
    let mut copies = 0u64;
    for req in lines.chunks(batch) {
        routed.clear();
        // what one request publishes, in order: clock records and routed mentions
        let mut published: Vec<(Option<u32>, Vec<u8>)> = Vec::new();
        for l in req {
            if let Some(tick) = clock.mark(parse_line(l, 1 << 20).unwrap().at) {
                published.push((None, tick.into_bytes()));
            }
            routed.clear();
            router.route(l, &mut routed).unwrap();
            copies += routed.len() as u64;
            published.extend(routed.drain(..).map(|r| (Some(r.partition), r.record)));
        }
        for (p, rec) in &published {
            match p {
                Some(p) => apply(&mut engines[*p as usize], rec),
                None => engines.iter_mut().for_each(|e| apply(e, rec)),
            }
        }
    }
    let want: BTreeSet<_> = whole.events.iter().map(key).collect();
    let got: BTreeSet<_> = engines.iter().flat_map(|e| e.events.iter().map(key)).collect();
    assert!(want.len() > 10, "the stream has incidents: {}", want.len());
    let missing: Vec<_> = want.difference(&got).collect();
    let extra: Vec<_> = got.difference(&want).collect();
    if !(missing.is_empty() && extra.is_empty()) {
        let ids: BTreeSet<&String> = missing.iter().chain(&extra).map(|k| &k.0).collect();
        for e in whole.events.iter().chain(engines.iter().flat_map(|e| e.events.iter())) {
            if ids.contains(&e.id) {
                eprintln!(
                    "{} {} {} {} {} {} {}",
                    e.id,
                    e.brand,
                    e.rule,
                    e.status.as_str(),
                    e.at,
                    e.observed,
                    e.expected
                );
            }
        }
    }
    assert!(
        missing.is_empty() && extra.is_empty(),
        "({partitions} partitions, requests of {batch}) missing {missing:?}\nextra {extra:?}"
    );
    let matched: u64 = engines.iter().map(|e| e.stats.mentions - e.stats.unmatched).sum();
    assert_eq!(engines.iter().map(|e| e.stats.mentions).sum::<u64>(), copies);
    assert!(matched >= whole.stats.mentions - whole.stats.unmatched);
}

#[test]
fn partitioned_engines_find_what_one_engine_finds() {
    same_incidents(SimOptions { seed: 3, days: 8, brands: 8, ..SimOptions::default() }, 4, 200);
}

#[test]
fn any_partition_count_and_request_size_gives_the_same_incidents() {
    for (seed, partitions, batch) in [(5, 1, 1000), (6, 7, 37), (8, 16, 500)] {
        same_incidents(SimOptions { seed, days: 5, brands: 10, ..SimOptions::default() }, partitions, batch);
    }
}
