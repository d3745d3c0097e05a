//! A reload in cluster mode, with real servers: three `nats-server`s and two
//! `crisiswatch serve --cluster` nodes with a rules directory this test edits. After acme's
//! quiet days, a new brand is added and one node is asked to reload (`POST /v1/reload`): it
//! asks the other, which reloads its own files; the partitions keep acme's state, the
//! publisher places the new brand's keyword mentions, and the new brand's rules (its name)
//! hold on both nodes. The node that runs the new brand's partition
//! is then killed: the other takes the partition over with the new rules, and acme's spike
//! is an incident (its baseline survived the reload and the handover). A broken rules file
//! is refused whole.

mod support;

use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use support::nats;
use support::server::{client, Server};
use support::wait_for;

const PARTITIONS: u32 = 4;

fn node(dir: &Path, rules: &Path, name: &str, urls: &str) -> Server {
    std::fs::create_dir_all(dir).unwrap();
    let config = nats::node_config(urls, PARTITIONS, name) + "[storage]\nsnapshot_interval = \"2s\"\n";
    Server::builder(dir).config(&config).rules(rules).args(&["--clock", "event"]).start()
}

fn post(s: &Server, body: String) {
    let r = client()
        .post(s.url("/v1/mentions"))
        .header("content-type", "application/x-ndjson")
        .timeout(Duration::from_secs(30))
        .body(body)
        .send()
        .unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().unwrap_or_default());
}

fn reload(s: &Server) -> (u16, Value) {
    let r = client().post(s.url("/v1/reload")).send().unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

/// Brand id → name, from `/v1/brands` (every partition, whichever node runs it).
fn brands(s: &Server) -> Vec<(String, String)> {
    let v = s.get("/v1/brands");
    v["brands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["id"].as_str().unwrap().to_string(), b["name"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn a_reload_rebuilds_the_partitions_with_the_new_rules_and_keeps_their_state() {
    if let Some(why) = nats::missing() {
        panic!("{why}");
    }
    let dir = tempfile::tempdir().unwrap();
    let rules = support::acme_rules(dir.path());
    let servers = nats::cluster(dir.path(), 3);
    let urls = servers.iter().map(|s| s.url()).collect::<Vec<_>>().join(",");
    let mut nodes: Vec<Option<Server>> =
        (0..2).map(|i| Some(node(&dir.path().join(format!("node{i}")), &rules, &format!("cw{i}"), &urls))).collect();

    // acme's quiet days, through both nodes: engine state worth keeping
    let stream = support::crisis_stream("Acme app is down again, cannot log in");
    let (quiet, spike) = stream.split_at(stream.len() - 1);
    for (i, b) in quiet.iter().enumerate() {
        post(nodes[i % 2].as_ref().unwrap(), b.clone());
    }
    let globex = |id: &str, ts: &str| support::mention(id, ts, None, "globex shipped my order late", Some(0.1)) + "\n";
    post(nodes[0].as_ref().unwrap(), globex("g0", "2026-03-04T00:00:00Z"));
    wait_for("acme on both nodes", 60, || nodes.iter().flatten().all(|s| brands(s).iter().any(|(id, _)| id == "acme")));
    assert!(!brands(nodes[0].as_ref().unwrap()).iter().any(|(id, _)| id == "globex"), "no globex rules yet");

    // both nodes know each other and run partitions
    wait_for("both nodes in the cluster, each with partitions", 60, || {
        nodes.iter().flatten().all(|s| {
            let v = s.get("/v1/cluster");
            let owners: std::collections::BTreeSet<&str> =
                v["partitions"].as_array().unwrap().iter().filter_map(|p| p["owner"].as_str()).collect();
            v["nodes"].as_array().unwrap().len() == 2 && owners.len() == 2
        })
    });
    // the same rules files on both nodes: one digest
    let digests = |s: &Server| -> (Value, Value) {
        let v = s.get("/v1/cluster");
        (v["rules"].clone(), v["rules_agree"].clone())
    };
    let before = digests(nodes[0].as_ref().unwrap());
    assert_eq!(before.1, true, "{before:?}");
    assert_eq!(before.0["cw0"], before.0["cw1"], "{before:?}");
    // a new brand; one reload, asked of the other node in turn
    std::fs::write(
        rules.join("globex.toml"),
        "[brand]\nid = \"globex\"\nname = \"Globex Corporation\"\n\n[brand.keywords]\nen = [\"globex\"]\n",
    )
    .unwrap();
    let (status, summary) = reload(nodes[0].as_ref().unwrap());
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["brands"], 2, "{summary}");
    // asked of the other node, which reloaded its own files
    let others = summary["others"].as_array().unwrap_or_else(|| {
        panic!(
            "no other node asked: {summary}\n{}",
            nodes
                .iter()
                .flatten()
                .map(|s| s.get("/v1/cluster").to_string() + "\n" + &s.logs())
                .collect::<Vec<_>>()
                .join("\n----\n")
        )
    });
    assert_eq!(others.len(), 1, "{summary}");
    assert_eq!((others[0]["node"].as_str(), others[0]["ok"].as_bool()), (Some("cw1"), Some(true)), "{summary}");
    assert_eq!(others[0]["summary"]["brands"], 2, "{summary}");
    assert_eq!(others[0]["summary"]["by"], "anonymous (via cw0)", "{summary}");
    let kept = summary["scopes_kept"].as_u64().unwrap() + others[0]["summary"]["scopes_kept"].as_u64().unwrap();
    assert!(kept >= 1, "acme's state carried over on the node that runs its partition: {summary}");

    // the publisher places globex's keyword mentions, on its partition with the new rules
    post(nodes[1].as_ref().unwrap(), globex("g1", "2026-03-04T00:00:10Z"));
    let named = |s: &Server| brands(s).iter().any(|(id, name)| id == "globex" && name == "Globex Corporation");
    wait_for("globex, named by its rules, on both nodes", 30, || nodes.iter().flatten().all(named));

    // the node running globex's partition dies: the other takes it with the new rules
    let p = crisiswatch::serve::cluster::partition::of("globex", PARTITIONS);
    let status = nodes[0].as_ref().unwrap().get("/v1/cluster");
    let owner = status["partitions"][p as usize]["owner"].as_str().unwrap().to_string();
    let dead: usize = owner.trim_start_matches("cw").parse().unwrap();
    let alive = 1 - dead;
    nodes[dead].take().unwrap().kill();
    let survivor = nodes[alive].as_ref().unwrap();
    let name = format!("cw{alive}");
    wait_for("the survivor owning every partition", 60, || {
        let v = survivor.get("/v1/cluster");
        v["partitions"].as_array().unwrap().iter().all(|p| p["owner"] == name.as_str())
    });
    post(survivor, globex("g2", "2026-03-04T00:00:20Z"));
    assert!(named(survivor), "globex keeps its rules after the handover: {:?}", brands(survivor));

    // acme's spike is an incident: its baseline survived the reload and the handover
    post(survivor, spike[0].clone());
    wait_for("acme's incident", 60, || {
        survivor.get("/v1/alerts?brand=acme")["alerts"].as_array().is_some_and(|a| !a.is_empty())
    });

    // a broken rules file: refused whole, nothing changes (and nobody else is asked)
    std::fs::write(rules.join("broken.toml"), "[brand]\nid = \"initech\"\nname = = \"x\"\n").unwrap();
    let (status, refused) = reload(survivor);
    assert_eq!(status, 422, "{refused}");
    assert!(refused["text"].as_str().unwrap().contains("broken.toml:3:8"), "{refused}");
    assert_eq!(brands(survivor).len(), 2, "still the last valid rules");
    let after = digests(survivor);
    assert_ne!(after.0[&name], before.0["cw0"], "the digest follows the reload: {after:?}");

    // the dead node comes back with other files (acme's only): the cluster says so
    let older = dir.path().join("rules-older");
    std::fs::create_dir_all(&older).unwrap();
    for f in std::fs::read_dir(&rules).unwrap().map(|e| e.unwrap().path()) {
        let n = f.file_name().unwrap().to_str().unwrap().to_string();
        if n != "globex.toml" && n != "broken.toml" {
            std::fs::copy(&f, older.join(&n)).unwrap();
        }
    }
    nodes[dead] = Some(node(&dir.path().join(format!("node{dead}")), &older, &format!("cw{dead}"), &urls));
    let survivor = nodes[alive].as_ref().unwrap();
    wait_for("the survivor reporting two different rules digests", 30, || {
        let (rules, agree) = digests(survivor);
        let d = |k: usize| rules[format!("cw{k}")].as_str().map(str::to_string);
        agree == false && d(0).is_some() && d(1).is_some() && d(0) != d(1)
    });
    nodes.into_iter().flatten().for_each(Server::terminate);
}
