//! Cluster mode with real servers: three `nats-server`s (JetStream, every stream and bucket
//! with 3 replicas) and three `crisiswatch serve --cluster` nodes on loopback. A simulated
//! multi-brand stream is posted through all nodes in turn while one node is killed with
//! `kill -9`, then one NATS server; both come back. Afterwards the engines have counted every
//! mention exactly once and every node's store holds the same (incident, status, severity)
//! events as an uninterrupted `replay --partitions` of the same stream: none lost, none
//! twice.

mod support;

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};
use support::nats;
use support::server::{client, Server};

const PARTITIONS: u32 = 8;

fn node(dir: &Path, name: &str, urls: &str) -> Server {
    std::fs::create_dir_all(dir).unwrap();
    let config = format!(
        "[cluster]\nservers = [{}]\npartitions = {PARTITIONS}\nreplicas = 3\nnode = \"{name}\"\nlease_ttl = \"3s\"\n\n[storage]\nsnapshot_interval = \"2s\"\n",
        urls.split(',').map(|u| format!("\"{u}\"")).collect::<Vec<_>>().join(", ")
    );
    Server::builder(dir).config(&config).args(&["--clock", "event"]).start()
}

/// Posts `body` to the first node that takes it, from `first` on; returns (accepted, duplicates).
fn post(nodes: &[Option<Server>], first: usize, body: &[u8]) -> (u64, u64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut k = first;
    loop {
        if let Some(s) = &nodes[k % nodes.len()] {
            let r = client()
                .post(s.url("/v1/mentions"))
                .header("content-type", "application/x-ndjson")
                .timeout(Duration::from_secs(30))
                .body(body.to_vec())
                .send();
            if let Ok(r) = r {
                if r.status() == 202 {
                    let v: Value = r.json().unwrap();
                    let errors = &v["errors"];
                    assert_eq!(v["rejected"], 0, "node {}: {:.2000}", k % nodes.len(), errors.to_string());
                    return (v["accepted"].as_u64().unwrap(), v["duplicates"].as_u64().unwrap());
                }
            }
        }
        assert!(Instant::now() < deadline, "no node took a request for 120 s");
        k += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The (incident, status, severity) events in a node's store.
fn stored(dir: &Path) -> BTreeSet<(String, String, String)> {
    let c = rusqlite::Connection::open(dir.join("data").join("crisiswatch.db")).unwrap();
    let mut st = c.prepare("SELECT incident_id, status, severity FROM events").unwrap();
    let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap();
    rows.map(Result::unwrap).collect()
}

#[test]
fn killing_a_node_and_a_server_loses_and_duplicates_nothing() {
    if let Some(why) = nats::missing() {
        panic!("{why}");
    }
    let dir = tempfile::tempdir().unwrap();
    let stream = dir.path().join("sim.jsonl");
    let out =
        support::run(&["simulate", "--out", stream.to_str().unwrap(), "--seed", "11", "--days", "4", "--brands", "6"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let expected_file = dir.path().join("replay.jsonl");
    let p = PARTITIONS.to_string();
    let out = support::run(&[
        "replay",
        stream.to_str().unwrap(),
        "--out",
        expected_file.to_str().unwrap(),
        "--quiet",
        "--partitions",
        &p,
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let expected: BTreeSet<(String, String, String)> = std::fs::read_to_string(&expected_file)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["id"].as_str().unwrap().into(),
                v["status"].as_str().unwrap().into(),
                v["severity"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(expected.len() >= 10, "the stream has incidents: {}", expected.len());

    let mut servers = nats::cluster(dir.path(), 3);
    let urls = servers.iter().map(|s| s.url()).collect::<Vec<_>>().join(",");
    let dirs: Vec<_> = (0..3).map(|i| dir.path().join(format!("node{i}"))).collect();
    let mut nodes: Vec<Option<Server>> =
        dirs.iter().enumerate().map(|(i, d)| Some(node(d, &format!("cw{i}"), &urls))).collect();

    let text = std::fs::read(&stream).unwrap();
    let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
    let requests: Vec<Vec<u8>> = lines.chunks(2000).map(|c| c.join(&b'\n')).collect();
    let n = requests.len();
    let (mut accepted, mut duplicates) = (0u64, 0u64);
    for (i, body) in requests.iter().enumerate() {
        if i == n / 4 {
            nodes[1].take().unwrap().kill(); // kill -9 a node
        }
        if i == n / 2 {
            servers[2].kill(); // kill -9 a NATS server
        }
        if i == 3 * n / 4 {
            servers[2].restart();
            nodes[1] = Some(node(&dirs[1], "cw1", &urls));
        }
        let (a, d) = post(&nodes, i, body);
        accepted += a;
        duplicates += d;
    }
    assert_eq!(accepted + duplicates, lines.len() as u64);
    assert_eq!(accepted, lines.len() as u64, "every mention is new: retries of a request count as duplicates only");

    // wait until every partition has applied everything and every store has every event
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let status = nodes[0].as_ref().unwrap().get("/v1/cluster");
        let parts = status["partitions"].as_array().unwrap();
        let counted: u64 = parts.iter().map(|p| p["mentions"].as_u64().unwrap_or(0)).sum();
        let caught_up = parts.iter().all(|p| p["lag"].as_u64() == Some(0) && p["owner"].is_string());
        let stores: Vec<_> = dirs.iter().map(|d| stored(d)).collect();
        let rejoined = status["nodes"].as_array().unwrap().len() == 3;
        if caught_up && rejoined && counted == lines.len() as u64 && stores.iter().all(|s| *s == expected) {
            // every mention counted once, every node's store equal to the replay, and the
            // restarted node back in the cluster with partitions of its own
            let owners: BTreeSet<&str> = parts.iter().filter_map(|p| p["owner"].as_str()).collect();
            assert!(owners.len() >= 2, "partitions rebalanced after the rejoin: {status}");
            break;
        }
        if Instant::now() > deadline {
            let s = &stores[0];
            panic!(
                "after 180 s: counted {counted} of {}, caught up {caught_up}, rejoined {rejoined}\nmissing {:?}\nextra {:?}\nstatus {status}\n{}",
                lines.len(),
                expected.difference(s).collect::<Vec<_>>(),
                s.difference(&expected).collect::<Vec<_>>(),
                nodes.iter().flatten().map(|s| s.logs()).collect::<Vec<_>>().join("\n----\n")
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    for s in nodes.into_iter().flatten() {
        s.terminate();
    }
}
