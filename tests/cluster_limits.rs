//! Admission limits across a cluster, with real servers: three `nats-server`s and two
//! `crisiswatch serve --cluster` nodes.
//!
//! * The brand cap (`max_new_brands`), three brands created from `brand` fields: brands
//!   created through one node count on the other; a brand another node created is admitted
//!   at the cap; the count survives a node's restart; a reload that configures a created
//!   brand gives its place back.
//! * Order with `--clock event`: mentions posted through two nodes out of time order within
//!   the reorder hold are put in time order by the partition's owner (none late); one that
//!   a node admits after the owner released an hour later (lateness is measured per node)
//!   is counted as late by the engine, in `/v1/cluster` and the metrics, not hidden.

mod support;

use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use support::nats;
use support::server::{client, Server};

const PARTITIONS: u32 = 4;

fn node(dir: &Path, rules: &Path, name: &str, urls: &str) -> Server {
    std::fs::create_dir_all(dir).unwrap();
    let config = nats::node_config(urls, PARTITIONS, name) + "[limits]\nmax_new_brands = 3\nreorder_hold = \"5s\"\n";
    Server::builder(dir).config(&config).rules(rules).args(&["--clock", "event"]).start()
}

/// Posts one mention of `brand`: (accepted, the refusal's reason if refused).
fn post(s: &Server, id: &str, brand: &str) -> (bool, String) {
    post_at(s, id, brand, "2026-03-04T00:00:00Z")
}

/// Posts one mention of `brand` at `ts`: (accepted, the refusal's reason if refused).
fn post_at(s: &Server, id: &str, brand: &str, ts: &str) -> (bool, String) {
    let body = support::mention(id, ts, Some(brand), "hello", None) + "\n";
    let r = client()
        .post(s.url("/v1/mentions"))
        .header("content-type", "application/x-ndjson")
        .timeout(Duration::from_secs(30))
        .body(body)
        .send()
        .unwrap();
    assert_eq!(r.status(), 202);
    let v: Value = r.json().unwrap();
    let reason = v["errors"][0]["reason"].as_str().unwrap_or_default().to_string();
    (v["accepted"] == 1 || v["duplicates"] == 1, reason)
}

/// Posts one mention of `brand` and checks it was admitted.
fn admitted(s: &Server, id: &str, brand: &str) {
    let (ok, reason) = post(s, id, brand);
    assert!(ok, "{brand} refused: {reason}");
}

/// Three NATS servers under a new directory with acme's rules: (the directory, the rules,
/// the servers, their URLs).
fn cluster() -> (tempfile::TempDir, std::path::PathBuf, Vec<nats::NatsServer>, String) {
    if let Some(why) = nats::missing() {
        panic!("{why}");
    }
    let dir = tempfile::tempdir().unwrap();
    let rules = support::acme_rules(dir.path());
    let servers = nats::cluster(dir.path(), 3);
    let urls = servers.iter().map(|s| s.url()).collect::<Vec<_>>().join(",");
    (dir, rules, servers, urls)
}

#[test]
fn the_brand_cap_counts_once_for_the_whole_cluster() {
    let (dir, rules, _servers, urls) = cluster();
    let start = |i: usize| node(&dir.path().join(format!("node{i}")), &rules, &format!("cw{i}"), &urls);
    let mut nodes: Vec<Server> = (0..2).map(start).collect();

    // one new brand through both nodes at once: both admit it, and it takes one place
    // (when both took a place, one gave its back: south and east still fit under the cap)
    std::thread::scope(|t| {
        for (k, s) in nodes.iter().enumerate() {
            t.spawn(move || admitted(s, &format!("a1-{k}"), "north"));
        }
    });
    // then one brand more through node 0 and one through node 1: the cap of three is reached
    admitted(&nodes[0], "a2", "south");
    admitted(&nodes[1], "a3", "east");
    // a fourth, on either node, is refused, and says why
    for (k, s) in nodes.iter().enumerate() {
        let (ok, reason) = post(s, &format!("w{k}"), "west");
        assert!(!ok, "west admitted on cw{k} beyond the cluster's cap");
        assert!(reason.contains("`west`") && reason.contains("max_new_brands"), "{reason}");
        assert_eq!(s.metric("crisiswatch_brands_created"), 3.0, "cw{k}");
    }
    // a brand the other node created is known: admitted at the cap
    admitted(&nodes[1], "a4", "north");
    admitted(&nodes[0], "a5", "east");
    // a configured brand is never counted
    admitted(&nodes[1], "a6", "acme");

    // the count outlives a node: node 0 restarted still refuses a fourth, knows the three
    nodes.remove(0).kill();
    nodes.insert(0, start(0));
    support::wait_for("node 0 ready again", 60, || {
        client().get(nodes[0].url("/readyz")).send().is_ok_and(|r| r.status() == 200)
    });
    assert!(!post(&nodes[0], "w2", "west").0, "west admitted after a restart");
    admitted(&nodes[0], "a7", "south");

    // a reload that configures `north` frees its place: `west` is then admitted
    std::fs::write(
        rules.join("north.toml"),
        "[brand]\nid = \"north\"\nname = \"North\"\n\n[brand.keywords]\nen = [\"north\"]\n",
    )
    .unwrap();
    let r = client().post(nodes[1].url("/v1/reload")).send().unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap_or_default());
    // each node applies the reload's brands in its own time: the place comes back once
    // one of them deleted north's key and gave it back
    let mut k = 3;
    support::wait_for("west admitted in the place north gave back", 20, || {
        k += 1;
        post(&nodes[k % 2], &format!("w{k}"), "west").0
    });
    assert!(!post(&nodes[1], "u1", "up").0, "the cap is full again");
    for s in nodes {
        s.terminate();
    }
}

#[test]
fn mentions_through_two_nodes_are_put_in_time_order_and_one_later_than_the_buffer_counts_late_in_the_open() {
    let (dir, rules, _servers, urls) = cluster();
    let nodes: Vec<Server> =
        (0..2).map(|i| node(&dir.path().join(format!("node{i}")), &rules, &format!("cw{i}"), &urls)).collect();
    let status = |s: &Server, field: &str| -> u64 {
        let v = s.get("/v1/cluster");
        v["partitions"].as_array().unwrap().iter().filter_map(|p| p[field].as_u64()).sum()
    };
    // both nodes' clocks at midnight; then node 0 posts a mention an hour on and node 1, at
    // once, one of 00:01: within the reorder hold (5 s here), so acme's engine takes them
    // in time order and nothing is late
    admitted(&nodes[0], "m0", "acme");
    admitted(&nodes[1], "m1", "acme");
    let (ok, why) = post_at(&nodes[0], "m2", "acme", "2026-03-04T01:00:00Z");
    assert!(ok, "{why}");
    let (ok, why) = post_at(&nodes[1], "m3", "acme", "2026-03-04T00:01:00Z");
    assert!(ok, "node 1 refused what its own clock allows: {why}");
    support::wait_for("the four mentions released and counted", 30, || status(&nodes[0], "mentions") == 4);
    assert_eq!(status(&nodes[0], "late") + status(&nodes[1], "late"), 0, "put in time order: none late");
    // released, acme's engine is at 01:00; node 1's own clock is at 00:01, so it admits a
    // mention of 00:02 ...
    let (ok, why) = post_at(&nodes[1], "m4", "acme", "2026-03-04T00:02:00Z");
    assert!(ok, "{why}");
    // ... which the engine counts as late: in the open
    support::wait_for("the late mention in /v1/cluster", 30, || {
        status(&nodes[0], "late") == 1 && status(&nodes[1], "late") == 1
    });
    assert_eq!(status(&nodes[0], "mentions"), 5);
    let metric: f64 = nodes.iter().map(|s| s.metric("crisiswatch_mentions_late_in_engine_total")).sum();
    assert_eq!(metric, 1.0, "the owner of acme's partition counts it");
    for s in nodes {
        s.terminate();
    }
}
