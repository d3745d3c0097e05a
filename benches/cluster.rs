//! Cluster benchmark (`cargo bench --bench cluster`): the release binary as 1, 2 and 3
//! `serve --cluster` nodes on a three-server NATS JetStream cluster (replicas 3) on loopback
//! (`tests/support/nats.rs`, `tests/support/server.rs`). Needs `nats-server` (`$CW_NATS_SERVER`
//! or on the `PATH`; `scripts/test` installs it).
//!
//! For each node count, a simulated stream (`CLUSTER_DAYS` days, default 3, of 12 brands) is
//! posted in requests of 2,000 mentions by one client thread per node, each to its own node:
//! * **ingest**: mentions/s from the first request to the last `202`;
//! * **engines**: mentions/s from the first request until the partitions counted every one.
//!
//! Then, with 3 nodes, **failover**: a brand's partition owner is killed with `kill -9`
//! and 200 new mentions of that brand are posted to another node; the time from the kill
//! until the partition has a new owner that counted them. Repeated `FAILOVERS` times
//! (default 3). `lease_ttl` is 3 s here (default 6 s).
//!
//! Last, **notification delay**, on a single node and then on three cluster nodes, both
//! notifying a local webhook receiver with `group_wait` 1 s: the stream as history, then
//! bursts of complaints (`NOTIFY_BURSTS` brands, default 4) that each open an incident; for
//! each, the time from the `202` of the request holding the mention it fired at to the
//! webhook's receipt. The cluster's extra is its path: alert stream, projection, the
//! notifier's plan shipped to the others before it is sent (the write-ahead outbox).
//!
//! Everything shares the machine's cores: on a 2-core box six servers and the clients
//! compete, and the figures are what that machine does, not what the design allows.

use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

#[path = "../tests/support/mod.rs"]
mod support;
use support::nats;
use support::server::{client, Server};
use support::webhook::Webhook;

const PARTITIONS: u32 = 12;

fn node(dir: &Path, name: &str, urls: &str) -> Server {
    std::fs::create_dir_all(dir).unwrap();
    let servers = urls.split(',').map(|u| format!("\"{u}\"")).collect::<Vec<_>>().join(", ");
    let config = format!(
        "[cluster]\nservers = [{servers}]\npartitions = {PARTITIONS}\nreplicas = 3\nnode = \"{name}\"\nlease_ttl = \"3s\"\n\n[storage]\nsnapshot_interval = \"10s\"\n\n[limits]\nrate_per_token = 0\n"
    );
    Server::builder(dir).config(&config).args(&["--clock", "event"]).start()
}

fn counted(s: &Server) -> (u64, bool) {
    let Ok(r) = client().get(s.url("/v1/cluster")).send() else { return (0, false) };
    let Ok(v) = r.json::<Value>() else { return (0, false) };
    let Some(parts) = v["partitions"].as_array() else { return (0, false) };
    let n = parts.iter().map(|p| p["mentions"].as_u64().unwrap_or(0)).sum();
    (n, parts.iter().all(|p| p["owner"].is_string()))
}

fn post(s: &Server, body: &[u8]) {
    for _ in 0..100 {
        let r = client()
            .post(s.url("/v1/mentions"))
            .header("content-type", "application/x-ndjson")
            .body(body.to_vec())
            .send();
        if let Ok(r) = r {
            if r.status() == 202 {
                // a refused mention would leave the engines short of the count awaited
                let v: Value = r.json().unwrap();
                assert_eq!(v["rejected"], 0, "{:.1000}", v["errors"].to_string());
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("a request was refused 100 times");
}

fn main() {
    if let Some(why) = nats::missing() {
        eprintln!("cluster bench skipped: {why}");
        return;
    }
    let days: u32 = std::env::var("CLUSTER_DAYS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let failovers: usize = std::env::var("FAILOVERS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let bursts: usize = std::env::var("NOTIFY_BURSTS").ok().and_then(|v| v.parse().ok()).unwrap_or(4);
    let mut stream = Vec::new();
    crisiswatch::cmd::simulate::simulate(
        &crisiswatch::cmd::simulate::SimOptions { seed: 21, days, brands: 12, ..Default::default() },
        &mut stream,
    )
    .unwrap();
    let lines: Vec<&[u8]> = stream.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
    let requests: Vec<Vec<u8>> = lines.chunks(2000).map(|c| c.join(&b'\n')).collect();
    println!("stream: {} mentions, {days} days, 12 brands, requests of 2,000; {PARTITIONS} partitions", lines.len());
    for n in 1..=3usize {
        let dir = tempfile::tempdir().unwrap();
        let servers = nats::cluster(dir.path(), 3);
        let urls = servers.iter().map(|s| s.url()).collect::<Vec<_>>().join(",");
        let nodes: Vec<Server> =
            (0..n).map(|i| node(&dir.path().join(format!("node{i}")), &format!("cw{i}"), &urls)).collect();
        // every partition owned before the clock starts
        while !counted(&nodes[0]).1 {
            std::thread::sleep(Duration::from_millis(100));
        }
        let t = Instant::now();
        std::thread::scope(|sc| {
            for (k, s) in nodes.iter().enumerate() {
                let reqs = &requests;
                // in order: client k sends requests k, k+n, … (each brand's mentions stay in
                // time order across clients only approximately; fine for a throughput figure)
                sc.spawn(move || {
                    for body in reqs.iter().skip(k).step_by(n) {
                        post(s, body);
                    }
                });
            }
        });
        let ingest = t.elapsed();
        loop {
            if counted(&nodes[0]).0 >= lines.len() as u64 {
                break;
            }
            assert!(t.elapsed() < Duration::from_secs(1800), "engines did not catch up");
            std::thread::sleep(Duration::from_millis(100));
        }
        let engines = t.elapsed();
        println!(
            "{n} node(s): ingest {:>8.0} mentions/s ({:.1} s); engines counted all {:>8.0} mentions/s ({:.1} s)",
            lines.len() as f64 / ingest.as_secs_f64(),
            ingest.as_secs_f64(),
            lines.len() as f64 / engines.as_secs_f64(),
            engines.as_secs_f64()
        );
        if n == 3 {
            let newest =
                lines.iter().filter_map(|l| crisiswatch::ingest::parse_line(l, 1 << 20).ok()).map(|m| m.at).max();
            failover(&dir, nodes, &urls, failovers, newest.unwrap_or(0) + 1000);
        }
        drop(servers);
    }
    notify_delay(&lines, &requests, bursts);
}

fn failover(dir: &tempfile::TempDir, mut nodes: Vec<Server>, urls: &str, rounds: usize, after: i64) {
    let brand = "borey";
    let p = crisiswatch::serve::cluster::partition::of(brand, PARTITIONS);
    let mut times = Vec::new();
    for round in 0..rounds {
        let status = nodes[0].get("/v1/cluster");
        let owner = status["partitions"][p as usize]["owner"].as_str().unwrap().to_string();
        let before = status["partitions"][p as usize]["mentions"].as_u64().unwrap();
        let k: usize = owner.trim_start_matches("cw").parse().unwrap(); // nodes are named cw<k>
        let victim = nodes.remove(k);
        let t = Instant::now();
        victim.kill();
        let body: Vec<u8> = (0..200)
            .map(|i| {
                format!(
                    "{{\"id\":\"fo{round}-{i}\",\"ts\":\"{}\",\"brand\":\"{brand}\",\"text\":\"failover\"}}",
                    crisiswatch::time::format_rfc3339(after + i64::from(i) * 100)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
            .into_bytes();
        post(&nodes[0], &body);
        loop {
            let s = nodes[0].get("/v1/cluster");
            let part = &s["partitions"][p as usize];
            if part["owner"].as_str().is_some_and(|o| o != owner) && part["mentions"].as_u64() >= Some(before + 200) {
                break;
            }
            assert!(t.elapsed() < Duration::from_secs(120), "no failover after 120 s: {s}");
            std::thread::sleep(Duration::from_millis(50));
        }
        times.push(t.elapsed());
        println!("failover {round}: partition {p} from {owner}: {:.2} s", t.elapsed().as_secs_f64());
        nodes.insert(k, node(&dir.path().join(format!("node{k}")), &format!("cw{k}"), urls));
    }
    times.sort();
    if let (Some(a), Some(b)) = (times.first(), times.last()) {
        println!("failover time over {} kills: {:.2} s to {:.2} s", times.len(), a.as_secs_f64(), b.as_secs_f64());
    }
}

/// Starts a node (`urls`: a cluster node; `None`: a single node) that notifies `hook`.
fn notifying_node(dir: &Path, name: &str, urls: Option<&str>, hook: &str) -> Server {
    std::fs::create_dir_all(dir).unwrap();
    let cluster = urls.map_or(String::new(), |urls| {
        let servers = urls.split(',').map(|u| format!("\"{u}\"")).collect::<Vec<_>>().join(", ");
        format!("[cluster]\nservers = [{servers}]\npartitions = {PARTITIONS}\nreplicas = 3\nnode = \"{name}\"\nlease_ttl = \"3s\"\n\n")
    });
    let config = format!(
        "{cluster}[storage]\nsnapshot_interval = \"10s\"\n\n[limits]\nrate_per_token = 0\n\n\
         [notify]\ngroup_wait = \"1s\"\n\
         [[notify.receiver]]\nname = \"pr-hook\"\nkind = \"webhook\"\nurl = \"{hook}\"\nsecret_env = \"CW_HOOK_SECRET\"\n\
         [[notify.team]]\nname = \"pr\"\nreceivers = [\"pr-hook\"]\n\
         [[notify.route]]\nladder = [{{ teams = [\"pr\"] }}]\n"
    );
    Server::builder(dir).config(&config).args(&["--clock", "event"]).env("CW_HOOK_SECRET", "hook-key").start()
}

/// **Notification delay**: on a single node, then on three cluster nodes, the stream as
/// history, then bursts of complaints about one brand after another; for each incident
/// notified, the time from the `202` of the request that held the mention it fired at (its
/// `at`) to the webhook's receipt. Both include `group_wait` (1 s).
fn notify_delay(lines: &[&[u8]], requests: &[Vec<u8>], bursts: usize) {
    let newest = lines.iter().filter_map(|l| crisiswatch::ingest::parse_line(l, 1 << 20).ok()).map(|m| m.at).max();
    let brands: Vec<String> = {
        let mut b: Vec<String> = lines
            .iter()
            .filter_map(|l| serde_json::from_slice::<Value>(l).ok()?["brand"].as_str().map(str::to_string))
            .collect();
        b.sort();
        b.dedup();
        b
    };
    for cluster in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let hook = Webhook::start(&[]);
        let servers = cluster.then(|| nats::cluster(dir.path(), 3));
        let urls = servers.as_ref().map(|s| s.iter().map(|s| s.url()).collect::<Vec<_>>().join(","));
        let n = if cluster { 3 } else { 1 };
        let nodes: Vec<Server> = (0..n)
            .map(|i| {
                notifying_node(&dir.path().join(format!("node{i}")), &format!("cw{i}"), urls.as_deref(), &hook.url())
            })
            .collect();
        for (k, body) in requests.iter().enumerate() {
            post(&nodes[k % n], body);
        }
        // the history processed before the bursts
        let processed = |s: &Server| -> u64 {
            if cluster {
                counted(s).0
            } else {
                s.metric("crisiswatch_mentions_processed_total") as u64
            }
        };
        let t = Instant::now();
        while processed(&nodes[0]) < lines.len() as u64 {
            assert!(t.elapsed() < Duration::from_secs(600), "the history was not processed");
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(Duration::from_secs(3));
        let before = hook.requests().len();
        // (202 time, newest ts) of every burst request
        let mut sent: Vec<(Instant, i64)> = Vec::new();
        let t0 = newest.unwrap_or(0) + 30 * 60_000;
        for (b, brand) in brands.iter().take(bursts).enumerate() {
            let start = t0 + b as i64 * 3 * 3_600_000;
            for chunk in 0..20 {
                let body: Vec<u8> = (0..200)
                    .map(|i| {
                        let k = chunk * 200 + i;
                        serde_json::json!({
                            "id": format!("nd{b}-{k}"), "brand": brand, "lang": "en", "sentiment": 0.05,
                            "ts": crisiswatch::time::format_rfc3339(start + k * 60),
                            "text": format!("{brand} is down again, cannot log in ({k})"),
                        })
                        .to_string()
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
                    .into_bytes();
                post(&nodes[(b + chunk as usize) % n], &body);
                sent.push((Instant::now(), start + chunk * 200 * 60 + 199 * 60));
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        // each new incident's first notification: its `at`, and when it arrived
        let mut seen: std::collections::BTreeMap<String, (i64, Instant)> = Default::default();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline && seen.len() < bursts {
            for r in hook.requests().iter().skip(before) {
                let Ok(v) = serde_json::from_slice::<Value>(&r.body) else { continue };
                let (Some(id), Some(at)) = (v["id"].as_str(), v["at"].as_str()) else { continue };
                if v["status"] != "firing" {
                    continue;
                }
                let at = crisiswatch::time::parse_timestamp(at).unwrap();
                if at < t0 {
                    continue; // the history's
                }
                seen.entry(id.to_string()).or_insert((at, Instant::now()));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut delays: Vec<f64> = seen
            .values()
            .filter_map(|(at, got)| {
                let (acked, _) = sent.iter().find(|(_, last)| last >= at)?;
                Some(got.saturating_duration_since(*acked).as_secs_f64())
            })
            .collect();
        delays.sort_by(f64::total_cmp);
        let label = if cluster { "3-node cluster" } else { "single node" };
        match (delays.first(), delays.last()) {
            (Some(a), Some(b)) => println!(
                "notification delay, {label}: {} incidents, {:.2} s to {:.2} s (median {:.2} s), group_wait 1 s included",
                delays.len(),
                a,
                b,
                delays[delays.len() / 2]
            ),
            _ => println!("notification delay, {label}: no incident notified"),
        }
        drop(nodes);
        drop(servers);
    }
}
