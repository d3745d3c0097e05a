//! Cluster mode with real servers: three `nats-server`s (JetStream, every stream and bucket
//! with 3 replicas) and three `crisiswatch serve --cluster` nodes. A simulated multi-brand
//! stream is posted through all nodes in turn while nodes and servers are killed with
//! `kill -9` and cut off the network; all come back. Afterwards the engines have counted
//! every mention exactly once and every node's store holds the same (incident, status,
//! severity) events as an uninterrupted `replay --partitions` of the same stream: none lost,
//! none twice.
//!
//! Two networks ([`Net`]): three hosts in network namespaces, each with one server and one
//! node, where a cut takes a whole host off the network (`support::netns`: a node and its
//! server on the minority side, the others' connections to that server dead without a
//! word); and loopback, where each node talks to every server through a forwarder of its
//! own that can cut the line (`support::proxy`: a node cut off from every server).

mod support;

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};
use support::nats;
use support::netns::Hosts;
use support::proxy::Proxy;
use support::server::{client, Server};
use support::webhook::Webhook;

const PARTITIONS: u32 = 8;

/// Where the processes run.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Net {
    /// Three hosts in network namespaces: server k and node k on host k.
    Hosts,
    /// Everything on loopback; node k reaches each server through a forwarder of its own.
    Loopback,
}

/// Starts node `name` under `dir`, with `urls` for its servers, in namespace `at.0` on
/// address `at.1` if given.
fn node(dir: &Path, name: &str, urls: &str, hook: &str, at: Option<(String, String)>) -> Server {
    std::fs::create_dir_all(dir).unwrap();
    // (links in messages need an address people can open, once it is not loopback)
    let public = at.as_ref().map(|(_, ip)| format!("public_url = \"http://{ip}\"\n")).unwrap_or_default();
    let servers = urls.split(',').map(|u| format!("\"{u}\"")).collect::<Vec<_>>().join(", ");
    let config = format!(
        "[cluster]\nservers = [{servers}]\npartitions = {PARTITIONS}\nreplicas = 3\nnode = \"{name}\"\nlease_ttl = \"3s\"\n\n\
         [storage]\nsnapshot_interval = \"2s\"\n\n\
         [notify]\n{public}group_wait = \"1s\"\nretry_base = \"100ms\"\nretry_max = \"1s\"\n\
         [[notify.receiver]]\nname = \"pr-hook\"\nkind = \"webhook\"\nurl = \"{hook}\"\nsecret_env = \"CW_HOOK_SECRET\"\n\
         [[notify.team]]\nname = \"pr\"\nreceivers = [\"pr-hook\"]\n\
         [[notify.route]]\nladder = [{{ teams = [\"pr\"] }}]\n\
         [links]\nsecret_env = \"CW_LINK_KEY\"\n"
    );
    let b = match at {
        Some((ns, ip)) => Server::builder(dir).netns(&ns).listen(&format!("{ip}:0")),
        None => Server::builder(dir),
    };
    b.config(&config)
        .args(&["--clock", "event"])
        .token("cluster-test-token")
        .env("CW_HOOK_SECRET", "hook-key")
        .env("CW_LINK_KEY", "one-link-key-for-every-node-of-the-cluster")
        .start()
}

/// Posts `body` to the first node that takes it, from `first` on, skipping nodes the test
/// cannot reach; returns (accepted, duplicates, the failed attempts before: each node's
/// answer or error).
fn post(nodes: &[Option<Server>], unreachable: &[bool], first: usize, body: &[u8]) -> (u64, u64, Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut k = first;
    // each node's last answer, for the message if none takes the request
    let mut last = vec![String::from("not asked"); nodes.len()];
    let mut failed = Vec::new();
    loop {
        let i = k % nodes.len();
        if let Some(s) = nodes[i].as_ref().filter(|_| !unreachable[i]) {
            let r = s
                .client()
                .post(s.url("/v1/mentions"))
                .header("content-type", "application/x-ndjson")
                .timeout(Duration::from_secs(30))
                .body(body.to_vec())
                .send();
            match r {
                Ok(r) if r.status() == 202 => {
                    let v: Value = r.json().unwrap();
                    let errors = &v["errors"];
                    assert_eq!(v["rejected"], 0, "node {i}: {:.2000}", errors.to_string());
                    return (v["accepted"].as_u64().unwrap(), v["duplicates"].as_u64().unwrap(), failed);
                }
                Ok(r) => last[i] = format!("{}: {:.300}", r.status(), r.text().unwrap_or_default()),
                Err(e) => last[i] = e.to_string(),
            }
            failed.push(format!("cw{i}: {}", last[i]));
        }
        if Instant::now() > deadline {
            let logs: Vec<String> = nodes.iter().flatten().map(|s| s.logs()).collect();
            panic!("no node took a request for 120 s; last answers {last:?}\n{}", logs.join("\n----\n"));
        }
        k += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// After node `k` is cut off: the others see it leave and take all its partitions over
/// (which also shows that the cut holds: the node reaches no server another way).
fn cut_off(nodes: &[Option<Server>], k: usize) {
    let name = format!("cw{k}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status: Vec<Value> = nodes
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != k)
            .filter_map(|(_, s)| s.as_ref())
            .map(|s| s.get("/v1/cluster"))
            .collect();
        let gone = status.iter().all(|v| {
            let parts = v["partitions"].as_array().unwrap();
            !v["nodes"].as_array().unwrap().iter().any(|n| n == &name)
                && parts.iter().all(|p| p["owner"].is_string() && p["owner"] != name.as_str())
        });
        if !status.is_empty() && gone {
            return;
        }
        if Instant::now() > deadline {
            let logs: Vec<String> = nodes.iter().flatten().map(|s| s.logs()).collect();
            panic!("60 s after the cut, {name} is still in the cluster: {status:?}\n{}", logs.join("\n----\n"));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The (incident, status, severity) events in a node's store.
fn stored(dir: &Path) -> BTreeSet<(String, String, String)> {
    let c = rusqlite::Connection::open(dir.join("data").join("crisiswatch.db")).unwrap();
    let mut st = c.prepare("SELECT incident_id, status, severity FROM events").unwrap();
    let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap();
    rows.map(Result::unwrap).collect()
}

/// What happens before a request.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// `kill -9` of node k.
    KillNode(usize),
    /// Node k starts again (same data directory).
    StartNode(usize),
    /// `kill -9` of NATS server k.
    KillServer(usize),
    /// NATS server k starts again (same store).
    StartServer(usize),
    /// Node k is cut off: on hosts, host k's link goes down (node k and server k on one
    /// side, everything else on the other); on loopback, node k's lines to every server.
    /// Nothing gets through either way.
    CutNode(usize),
    /// What was cut is back.
    HealNode(usize),
}

/// Posts the simulated stream on `net` with `faults` before the requests they name, then
/// checks the counts and every node's events against `replay --partitions`.
fn scenario(faults: &[(usize, Fault)], net: Net) {
    if let Some(why) = nats::missing() {
        panic!("{why}");
    }
    let mut dir = tempfile::tempdir().unwrap();
    if std::env::var_os("CW_KEEP_TEST_DIR").is_some() {
        // every process's log and store, to read after a failure
        dir.disable_cleanup(true);
        eprintln!("files kept in {}", dir.path().display());
    }
    // (dropped after the processes in it)
    let hosts = (net == Net::Hosts).then(|| Hosts::new(3));
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

    let hook = match &hosts {
        Some(h) => Webhook::start_on(&h.bridge_ip()),
        None => Webhook::start(&[]),
    };
    let mut servers = match &hosts {
        Some(h) => nats::cluster_on(dir.path(), h, 3),
        None => nats::cluster(dir.path(), 3),
    };
    // on loopback, each node's own line to each server
    let lines_to: Vec<Vec<Proxy>> = match &hosts {
        Some(_) => (0..3).map(|_| Vec::new()).collect(),
        None => (0..3).map(|_| servers.iter().map(|s| Proxy::start(s.port)).collect()).collect(),
    };
    let urls: Vec<String> = match &hosts {
        Some(_) => vec![servers.iter().map(|s| s.url()).collect::<Vec<_>>().join(","); 3],
        None => lines_to.iter().map(|ps| ps.iter().map(Proxy::url).collect::<Vec<_>>().join(",")).collect(),
    };
    let dirs: Vec<_> = (0..3).map(|i| dir.path().join(format!("node{i}"))).collect();
    let start = |k: usize| {
        let at = hosts.as_ref().map(|h| (h.ns(k), h.ip(k)));
        node(&dirs[k], &format!("cw{k}"), &urls[k], &hook.url(), at)
    };
    let mut nodes: Vec<Option<Server>> = (0..3).map(|k| Some(start(k))).collect();
    // the nodes on a host that is cut off, which the test cannot reach either
    let mut unreachable = [false; 3];

    let text = std::fs::read(&stream).unwrap();
    let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
    let requests: Vec<Vec<u8>> = lines.chunks(2000).map(|c| c.join(&b'\n')).collect();
    let n = requests.len();
    let (mut accepted, mut duplicates) = (0u64, 0u64);
    let mut faults = faults.to_vec();
    faults.sort_by_key(|f| f.0);
    for (i, body) in requests.iter().enumerate() {
        for &(_, f) in faults.iter().filter(|f| f.0 * n / 100 == i) {
            eprintln!("{} request {i} of {n}: {f:?}", crisiswatch::time::format_rfc3339(crisiswatch::clock::wall_ms()));
            match f {
                Fault::KillNode(k) => nodes[k].take().expect("running").kill(),
                Fault::StartNode(k) => {
                    if nodes[k].is_none() {
                        nodes[k] = Some(start(k));
                    }
                }
                Fault::KillServer(k) => servers[k].kill(),
                Fault::StartServer(k) => {
                    servers[k].restart();
                    servers[k].wait_healthy(90);
                }
                Fault::CutNode(k) => {
                    match &hosts {
                        Some(h) => {
                            h.cut(k);
                            unreachable[k] = true;
                        }
                        None => lines_to[k].iter().for_each(Proxy::cut),
                    }
                    cut_off(&nodes, k);
                }
                Fault::HealNode(k) => match &hosts {
                    Some(h) => {
                        h.heal(k);
                        unreachable[k] = false;
                    }
                    None => lines_to[k].iter().for_each(Proxy::heal),
                },
            }
        }
        let (a, d, failed) = post(&nodes, &unreachable, i, body);
        // a mention is a duplicate only if an attempt that failed may have stored it (a
        // node that published part of a request, then answered 503 or not in time)
        assert!(d == 0 || !failed.is_empty(), "request {i}: {d} duplicates with no attempt before");
        if d > 0 {
            eprintln!("request {i}: {a} accepted, {d} duplicates after the failed attempts {failed:?}");
        }
        accepted += a;
        duplicates += d;
    }
    assert_eq!(accepted + duplicates, lines.len() as u64, "every mention answered once as accepted or duplicate");

    for (_, f) in faults.iter().rev() {
        // everything back
        match *f {
            Fault::KillNode(k) if nodes[k].is_none() => nodes[k] = Some(start(k)),
            Fault::KillServer(k) => servers[k].restart_if_down(),
            Fault::CutNode(k) => match &hosts {
                Some(h) if unreachable[k] => {
                    h.heal(k);
                    unreachable[k] = false;
                }
                Some(_) => {}
                None => lines_to[k].iter().for_each(Proxy::heal),
            },
            _ => {}
        }
    }
    // wait until every partition has applied everything and every store has every event
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let status = nodes[0].as_ref().unwrap().get("/v1/cluster");
        let parts = status["partitions"].as_array().unwrap();
        let counted: u64 = parts.iter().map(|p| p["mentions"].as_u64().unwrap_or(0)).sum();
        let caught_up = parts.iter().all(|p| p["lag"].as_u64() == Some(0) && p["owner"].is_string());
        let stores: Vec<_> = dirs.iter().map(|d| stored(d)).collect();
        let rejoined = status["nodes"].as_array().unwrap().len() == 3;
        // the nodes back in the cluster take partitions of their own (a round or two after
        // they rejoin: the last owner hands them over)
        let owners: BTreeSet<&str> = parts.iter().filter_map(|p| p["owner"].as_str()).collect();
        let rebalanced = owners.len() >= 2;
        if caught_up && rejoined && rebalanced && counted == lines.len() as u64 && stores.iter().all(|s| *s == expected)
        {
            // every mention counted once, every node's store equal to the replay, and the
            // restarted nodes back in the cluster with partitions of their own
            break;
        }
        if Instant::now() > deadline {
            // each node's events against the replay's
            let diff: Vec<String> = stores
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    format!(
                        "cw{i}: {} events, missing {:?}, extra {:?}",
                        s.len(),
                        expected.difference(s).collect::<Vec<_>>(),
                        s.difference(&expected).collect::<Vec<_>>()
                    )
                })
                .collect();
            // mentions per partition: posted and counted
            let mut posted = vec![0u64; PARTITIONS as usize];
            for l in &lines {
                let v: Value = serde_json::from_slice(l).unwrap();
                posted
                    [crisiswatch::serve::cluster::partition::of(v["brand"].as_str().unwrap(), PARTITIONS) as usize] +=
                    1;
            }
            let per: Vec<(u64, u64)> =
                parts.iter().enumerate().map(|(i, p)| (posted[i], p["mentions"].as_u64().unwrap_or(0))).collect();
            panic!(
                "after 180 s: counted {counted} of {}, caught up {caught_up}, rejoined {rejoined}, rebalanced {rebalanced} (owners {owners:?})\n(posted, counted) per partition {per:?}\nthe replay's {} events\n{}\nstatus {status}\n{}",
                lines.len(),
                expected.len(),
                diff.join("\n"),
                nodes.iter().flatten().map(|s| s.logs()).collect::<Vec<_>>().join("\n----\n")
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    every_node_answers_for_every_brand(&nodes, &lines);
    one_key_per_notification(&nodes, &hook, &dirs, &expected);
    acknowledgements_reach_every_node(&nodes, &dirs, &lines);
    silences_hold_on_the_notifier_wherever_they_are_made(&nodes, &dirs, &hook, &lines);
    planned_events_reach_every_node(&nodes, &lines);
    for s in nodes.into_iter().flatten() {
        s.terminate();
    }
}

/// Any node answers `/v1/brands`, each brand's series and the dashboard's brands page for
/// every brand, whichever node runs the brand's partition (the partitions are spread over
/// the nodes: checked above).
fn every_node_answers_for_every_brand(nodes: &[Option<Server>], lines: &[&[u8]]) {
    let brands: BTreeSet<String> = lines
        .iter()
        .map(|l| serde_json::from_slice::<Value>(l).unwrap()["brand"].as_str().unwrap().to_string())
        .collect();
    // what node k is missing: brands in /v1/brands, series, the brands page
    let missing = |k: usize| -> Vec<String> {
        let s = nodes[k].as_ref().unwrap();
        let listed: BTreeSet<String> = s.get("/v1/brands")["brands"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["id"].as_str().unwrap().to_string())
            .collect();
        let page = s.client().get(s.url("/")).send().unwrap();
        assert_eq!(page.status(), 200, "the brands page of cw{k}");
        let html = page.text().unwrap();
        let mut missing = Vec::new();
        for b in &brands {
            if !listed.contains(b) {
                missing.push(format!("{b} in /v1/brands"));
            }
            let r = s.client().get(s.url(&format!("/v1/brands/{b}/series?window=1h"))).send().unwrap();
            let points =
                if r.status() == 200 { r.json::<Value>().unwrap()["points"].as_array().map(Vec::len) } else { None };
            if points.unwrap_or(0) == 0 {
                missing.push(format!("series of {b}"));
            }
            if !html.contains(b.as_str()) {
                missing.push(format!("{b} on the brands page"));
            }
        }
        missing
    };
    // a partition handed over between two nodes may be answered for by neither for a
    // moment (the rebalancing after the restarts): every node must answer in full soon
    for k in 0..nodes.len() {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let m = missing(k);
            if m.is_empty() {
                break;
            }
            assert!(Instant::now() < deadline, "cw{k} does not answer for every brand after 20 s: {m:?}");
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

/// Notifications went out once each as far as keys go: however often the notifying node
/// changed, every delivery of a notification carries the same idempotency key (it is made
/// from what the notification is about), requests with one key are about the same incidents,
/// and every node's outbox ends with every notification delivered (by itself or, shipped,
/// by another) under as many keys as the receiver saw.
fn one_key_per_notification(
    nodes: &[Option<Server>],
    hook: &Webhook,
    dirs: &[std::path::PathBuf],
    expected: &BTreeSet<(String, String, String)>,
) {
    let incidents: BTreeSet<&str> = expected.iter().map(|e| e.0.as_str()).collect();
    // per node: (status, kind, count) of its outbox
    let outbox = |dir: &Path| -> Vec<(String, String, i64)> {
        let c = rusqlite::Connection::open(dir.join("data").join("crisiswatch.db")).unwrap();
        let mut st = c.prepare("SELECT status, kind, count(*) FROM notifications GROUP BY status, kind").unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect()
    };
    let count = |o: &[(String, String, i64)], status: &str| -> i64 {
        o.iter().filter(|(s, k, _)| s == status && k != "ops").map(|x| x.2).sum()
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let mut about: std::collections::BTreeMap<String, BTreeSet<String>> = Default::default();
        for r in hook.requests() {
            let key = r.header("idempotency-key").to_string();
            let text = r.text();
            // a notification's key comes from its dedup keys (`k…`); one without them went
            // out under its row id (`n…`), and its copies elsewhere under another key
            let short = key.rsplit('-').next().unwrap_or("");
            assert!(
                short.starts_with('k') || text.contains("crisiswatch.ops.v1"),
                "notification sent without its dedup keys, under {key}: {text}"
            );
            let ids: BTreeSet<String> = incidents.iter().filter(|i| text.contains(*i)).map(|i| i.to_string()).collect();
            if let Some(before) = about.insert(key.clone(), ids.clone()) {
                assert_eq!(before, ids, "requests with key {key} are about different incidents");
            }
        }
        let outboxes: Vec<_> = dirs.iter().map(|d| outbox(d)).collect();
        let delivered =
            outboxes.iter().all(|o| count(o, "pending") == 0 && count(o, "delivered") as usize == about.len());
        if delivered && !about.is_empty() {
            return;
        }
        // nothing planned at all, by a planner that has read every event: a notifier whose
        // copy of the alert stream stalled while every incident came and went (the event
        // clock runs the stream in seconds) learns of them resolved, and a resolved incident
        // nobody was told of is not notified (docs/deployment.md); the checks after this one
        // see notifications of live incidents go out
        if delivered && about.is_empty() && dirs.iter().any(|d| planner_read_every_event(d)) {
            eprintln!("no notification planned: the notifier read every incident's events only once it was resolved");
            return;
        }
        if Instant::now() > deadline {
            // which keys each node lacks, and where they are
            let rows = |dir: &Path| -> Vec<(String, String)> {
                let c = rusqlite::Connection::open(dir.join("data").join("crisiswatch.db")).unwrap();
                let mut st = c
                    .prepare("SELECT id, status, coalesce(origin, ''), kind, incidents FROM notifications WHERE kind != 'ops'")
                    .unwrap();
                let all: Vec<(i64, String)> = st
                    .query_map([], |r| {
                        Ok((
                            r.get(0)?,
                            format!(
                                "{}/{}/{}/{}",
                                r.get::<_, String>(1)?,
                                r.get::<_, String>(2)?,
                                r.get::<_, String>(3)?,
                                r.get::<_, String>(4)?
                            ),
                        ))
                    })
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
                all.into_iter()
                    .map(|(id, what)| {
                        let key = crisiswatch::store::replicated::content_key(&c, id).unwrap().unwrap_or_default();
                        (key, format!("row {id} {what}"))
                    })
                    .collect()
            };
            let held: Vec<Vec<(String, String)>> = dirs.iter().map(|d| rows(d)).collect();
            let mut report = String::new();
            for (k, h) in held.iter().enumerate() {
                for key in about.keys() {
                    let short = key.rsplit('-').next().unwrap_or(key);
                    if !h.iter().any(|(c, _)| c == short) {
                        let elsewhere: Vec<String> = held
                            .iter()
                            .enumerate()
                            .flat_map(|(j, o)| {
                                o.iter().filter(|(c, _)| c == short).map(move |(_, w)| format!("cw{j}: {w}"))
                            })
                            .collect();
                        report.push_str(&format!("cw{k} lacks {key}, held as {elsewhere:?}\n"));
                    }
                }
            }
            let logs = nodes
                .iter()
                .flatten()
                .map(|s| {
                    s.logs()
                        .lines()
                        .filter(|l| {
                            l.contains("notifier role")
                                || l.contains("forgotten")
                                || l.contains("WARN")
                                || l.contains("ERROR")
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                })
                .collect::<Vec<_>>()
                .join("\n----\n");
            panic!("after 120 s: {} keys received; outboxes {outboxes:?}\n{report}{logs}", about.len());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Whether the notification planner of the store under `dir` has read every event there.
fn planner_read_every_event(dir: &Path) -> bool {
    let c = rusqlite::Connection::open(dir.join("data").join("crisiswatch.db")).unwrap();
    let last: i64 = c.query_row("SELECT coalesce(max(seq), 0) FROM events", [], |r| r.get(0)).unwrap();
    let read: i64 = c.query_row("SELECT coalesce(max(seq), 0) FROM notify_cursor", [], |r| r.get(0)).unwrap();
    last > 0 && read >= last
}

/// Posts 4,000 negative mentions of `brand` from `t0` on, one every 60 ms, through node
/// `via` (ids `<prefix>-<i>`), and returns the incident they open, once it is in the store
/// under `dir` (at most 60 s).
fn burst(nodes: &[Option<Server>], via: usize, brand: &str, t0: i64, prefix: &str, text: &str, dir: &Path) -> String {
    let lines: Vec<String> = (0..4000)
        .map(|i| {
            serde_json::json!({
                "id": format!("{prefix}-{i}"), "brand": brand, "lang": "en", "sentiment": 0.05,
                "ts": crisiswatch::time::format_rfc3339(t0 + i * 60),
                "text": format!("{brand} {text} ({i})"),
            })
            .to_string()
        })
        .collect();
    for chunk in lines.chunks(2000) {
        let (a, d, _) = post(nodes, &[false; 3], via, chunk.join("\n").as_bytes());
        assert_eq!(a + d, chunk.len() as u64);
    }
    let opened = || -> Option<String> {
        let c = rusqlite::Connection::open(dir.join("data").join("crisiswatch.db")).ok()?;
        c.query_row(
            "SELECT id FROM incidents WHERE brand = ?1 AND status IN ('firing', 'escalated') ORDER BY seq DESC LIMIT 1",
            [brand],
            |r| r.get(0),
        )
        .ok()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(id) = opened() {
            return id;
        }
        assert!(Instant::now() < deadline, "the burst opened no incident of {brand}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// An incident acknowledged on one node is acknowledged in every node's store (where the
/// notifying node's ladder reads it): a burst opens an incident after the stream, node 2
/// acknowledges it, nodes 0 and 1 record the acknowledgement as coming from node 2.
fn acknowledgements_reach_every_node(nodes: &[Option<Server>], dirs: &[std::path::PathBuf], lines: &[&[u8]]) {
    let last: Value = serde_json::from_slice(lines.last().unwrap()).unwrap();
    let brand = last["brand"].as_str().unwrap().to_string();
    let t0 = crisiswatch::time::parse_timestamp(last["ts"].as_str().unwrap()).unwrap() + 10 * 60_000;
    let id = burst(nodes, 0, &brand, t0, "burst", "is down again, cannot log in", &dirs[2]);
    let r = nodes[2]
        .as_ref()
        .unwrap()
        .client()
        .post(nodes[2].as_ref().unwrap().url(&format!("/v1/alerts/{id}/ack")))
        .header("content-type", "application/json")
        .body(r#"{"note":"on it"}"#)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap_or_default());
    let acked = |dir: &Path| -> Option<(String, String)> {
        let c = rusqlite::Connection::open(dir.join("data").join("crisiswatch.db")).ok()?;
        c.query_row(
            "SELECT i.status, coalesce(a.origin, '') FROM incidents i JOIN actions a ON a.incident_id = i.id AND a.action = 'ack' WHERE i.id = ?1",
            [&id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .ok()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let seen: Vec<_> = dirs.iter().map(|d| acked(d)).collect();
        let shared =
            seen[..2].iter().all(|a| a.as_ref().is_some_and(|(s, o)| s == "acknowledged" && o.starts_with("cw2/")));
        if shared && seen[2].as_ref().is_some_and(|(s, o)| s == "acknowledged" && o.is_empty()) {
            break;
        }
        assert!(Instant::now() < deadline, "the acknowledgement did not reach every node: {seen:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A silence made on a node that does not notify holds on the one that does, and ended on
/// another node it ends everywhere: a burst of a silenced brand opens an incident that no
/// notification names until the silence is deleted, then one does.
fn silences_hold_on_the_notifier_wherever_they_are_made(
    nodes: &[Option<Server>],
    dirs: &[std::path::PathBuf],
    hook: &Webhook,
    lines: &[&[u8]],
) {
    let last: Value = serde_json::from_slice(lines.last().unwrap()).unwrap();
    let acked_brand = last["brand"].as_str().unwrap().to_string();
    let brand = lines
        .iter()
        .map(|l| serde_json::from_slice::<Value>(l).unwrap()["brand"].as_str().unwrap().to_string())
        .find(|b| *b != acked_brand)
        .unwrap();
    let status = nodes[0].as_ref().unwrap().get("/v1/cluster");
    let notifier: usize = status["notifier"].as_str().unwrap().trim_start_matches("cw").parse().unwrap();
    let (maker, ender) = ((notifier + 1) % 3, (notifier + 2) % 3);
    let at = |k: usize| nodes[k].as_ref().unwrap();
    let r = at(maker)
        .client()
        .post(at(maker).url("/v1/silences"))
        .json(&serde_json::json!({ "brand": brand, "duration": "1h", "reason": "product launch" }))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().unwrap_or_default());
    // every node holds it
    let holding = |k: usize| -> Option<i64> {
        let v = at(k).get("/v1/silences");
        v["silences"].as_array()?.iter().find(|s| s["brand"] == brand.as_str()).and_then(|s| s["id"].as_i64())
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while (0..3).any(|k| holding(k).is_none()) {
        assert!(Instant::now() < deadline, "the silence made on cw{maker} did not reach every node");
        std::thread::sleep(Duration::from_millis(200));
    }
    // a burst of the silenced brand: an incident, and no notification about it
    let t0 = crisiswatch::time::parse_timestamp(last["ts"].as_str().unwrap()).unwrap() + 30 * 60_000;
    let id = burst(nodes, maker, &brand, t0, "silenced", "charged me twice, refund now", &dirs[notifier]);
    let told = || hook.requests().iter().any(|r| r.text().contains(&id));
    // the notifier plans every 200 ms and groups for 1 s: 5 s of nothing is the silence
    std::thread::sleep(Duration::from_secs(5));
    assert!(!told(), "incident {id} of silenced brand {brand} was notified");
    // deleted on the third node, under its own id for its copy: ended everywhere, and the
    // incident goes out
    let copy = holding(ender).unwrap();
    let r = at(ender).client().delete(at(ender).url(&format!("/v1/silences/{copy}"))).send().unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap_or_default());
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(told() && (0..3).all(|k| holding(k).is_none())) {
        assert!(
            Instant::now() < deadline,
            "30 s after the silence was deleted on cw{ender}: notified {}, still held on {:?}\nstatus {}\n{}",
            told(),
            (0..3).filter(|k| holding(*k).is_some()).collect::<Vec<_>>(),
            at(notifier).get("/v1/cluster"),
            nodes.iter().flatten().map(|s| s.logs()).collect::<Vec<_>>().join("\n----\n")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    a_signed_link_works_once_in_the_whole_cluster(nodes, hook, &id, notifier);
}

/// The acknowledge link of incident `id`'s notification works at a node that did not send
/// it, and is then refused (`410`, naming who used it) at the other two, the notifier too.
fn a_signed_link_works_once_in_the_whole_cluster(nodes: &[Option<Server>], hook: &Webhook, id: &str, notifier: usize) {
    let link = hook
        .requests()
        .iter()
        .find_map(|r| {
            let v: Value = serde_json::from_str(&r.text()).ok()?;
            let n = &v["notification"];
            let about = n["incidents"].as_array()?.iter().any(|i| i == id);
            n["ack_url"].as_str().filter(|u| about && u.contains("/l/")).map(str::to_string)
        })
        .unwrap_or_else(|| panic!("no notification of {id} with a signed acknowledge link"));
    let path = &link[link.find("/l/").unwrap()..];
    let at = |k: usize| nodes[k].as_ref().unwrap();
    let order = [(notifier + 1) % 3, (notifier + 2) % 3, notifier];
    // (404 while the incident has not reached that node's store: the claim is released, so
    // the link works once it has)
    let deadline = Instant::now() + Duration::from_secs(30);
    let (status, text) = loop {
        let r = client().post(at(order[0]).url(path)).send().unwrap();
        let (status, text) = (r.status(), r.text().unwrap_or_default());
        if status != 404 || Instant::now() > deadline {
            break (status, text);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(status, 200, "first use at cw{}: {text}", order[0]);
    assert!(text.contains("Acknowledged by pr-hook"), "{text}");
    for k in order[1..].iter().copied() {
        let r = client().post(at(k).url(path)).send().unwrap();
        let (status, text) = (r.status(), r.text().unwrap_or_default());
        assert_eq!(status, 410, "second use at cw{k}: {text}");
        assert!(text.contains("already used: acknowledged by pr-hook"), "{text}");
        let r = client().get(at(k).url(path)).send().unwrap();
        assert_eq!(r.status(), 410, "the link shown at cw{k} after its use");
    }
}

/// A planned event declared on one node is listed on every node; deleted on another node
/// (under that node's own id for its copy), it is gone from every list.
fn planned_events_reach_every_node(nodes: &[Option<Server>], lines: &[&[u8]]) {
    let last: Value = serde_json::from_slice(lines.last().unwrap()).unwrap();
    let brand = last["brand"].as_str().unwrap().to_string();
    let at = |k: usize| nodes[k].as_ref().unwrap();
    let body = serde_json::json!({
        "brand": brand, "name": "spring launch", "start": "2030-03-01T09:00:00Z", "duration": "6h", "uplift": 5,
    });
    let r = at(1).client().post(at(1).url("/v1/planned")).json(&body).send().unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().unwrap_or_default());
    let listed = |k: usize| -> Option<i64> {
        let v = at(k).get("/v1/planned");
        v["planned"].as_array()?.iter().find(|p| p["name"] == "spring launch").and_then(|p| p["id"].as_i64())
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while (0..3).any(|k| listed(k).is_none()) {
        assert!(Instant::now() < deadline, "the planned event declared on cw1 did not reach every node");
        std::thread::sleep(Duration::from_millis(200));
    }
    let copy = listed(2).unwrap();
    let r = at(2).client().delete(at(2).url(&format!("/v1/planned/{copy}"))).send().unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap_or_default());
    let deadline = Instant::now() + Duration::from_secs(30);
    while (0..3).any(|k| listed(k).is_some()) {
        assert!(Instant::now() < deadline, "the planned event deleted on cw2 is still listed somewhere");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The issue's sequence on three hosts: a node killed, then a server; both back; then a
/// whole host (node 0 and server 0) cut off the network while requests go on through the
/// other two, and back. The killed server is back, and has caught up, before the cut: a
/// JetStream cluster of three works on with two current servers, not with one.
#[test]
fn killing_a_node_and_a_server_and_cutting_a_host_off_loses_and_duplicates_nothing() {
    scenario(
        &[
            (15, Fault::KillNode(1)),
            (25, Fault::KillServer(2)),
            (35, Fault::StartServer(2)),
            (35, Fault::StartNode(1)),
            (55, Fault::CutNode(0)),
            (75, Fault::HealNode(0)),
        ],
        Net::Hosts,
    );
}

/// Random `kill -9`s of nodes and servers and cuts of nodes from every server (on
/// loopback; `CW_CLUSTER_NET=hosts`: cuts of whole hosts), each undone a few requests later
/// (`CW_CLUSTER_CHAOS_ROUNDS` kills, default 4; `CW_CLUSTER_CHAOS_SEED` picks them). At
/// most one node and one server are down at a time: a JetStream cluster of three keeps
/// working with one server down, not with two.
#[test]
fn random_kills_of_nodes_and_servers_lose_and_duplicate_nothing() {
    use rand::{Rng, SeedableRng};
    let rounds: usize = std::env::var("CW_CLUSTER_CHAOS_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(4);
    let seed: u64 = std::env::var("CW_CLUSTER_CHAOS_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(7);
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    let mut faults = Vec::new();
    let span = 90 / rounds.max(1);
    for r in 0..rounds {
        let at = 5 + r * span + rng.gen_range(0..span.max(2) / 2);
        let back = (at + 1 + rng.gen_range(0..span.max(2) / 2)).min(95);
        let k = rng.gen_range(0..3);
        let (fault, undo) = match rng.gen_range(0..3) {
            0 => (Fault::KillNode(k), Fault::StartNode(k)),
            1 => (Fault::KillServer(k), Fault::StartServer(k)),
            _ => (Fault::CutNode(k), Fault::HealNode(k)),
        };
        faults.push((at, fault));
        faults.push((back, undo));
    }
    let net = if std::env::var("CW_CLUSTER_NET").as_deref() == Ok("hosts") { Net::Hosts } else { Net::Loopback };
    eprintln!("seed {seed} on {net:?}: {faults:?}");
    scenario(&faults, net);
}
