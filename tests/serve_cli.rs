//! The live service, end to end: the real binary (the `support::server` harness: a port it
//! picks itself, a temporary data directory), driven over HTTP. A simulated stream with crises is ingested across a graceful
//! restart (SIGTERM) and a crash (SIGKILL); the incidents must be exactly those an
//! uninterrupted `replay` of the same stream finds (none lost, none duplicated), every accepted
//! mention must reach the engine, and the baseline must survive. Then the edges: tokens,
//! body caps, per-line errors, gzip, JSON arrays, a full queue.

mod support;

use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};
use support::server::{client, Server};
use support::stream::{batches, reference_in_time_order, simulated, stored_events, wait_processed};
use support::{bin, run, stderr};

// no periodic snapshot during the test: after the crash everything since the graceful
// restart must come back from the ingest log
const CONFIG: &str = "[storage]\nsnapshot_interval = \"1h\"\n";

#[test]
fn restarts_lose_nothing_and_duplicate_no_incident() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, lines) = simulated(dir.path(), 3, 10, 3);
    // the reference: an uninterrupted replay of the same stream, in the order the service
    // takes it (time order)
    let reference = reference_in_time_order(dir.path(), &sim);
    assert!(reference.len() >= 4, "the stream has incidents: {reference:?}");

    let batches = batches(&lines, 1000);
    let (a, b) = (batches.len() * 5 / 10, batches.len() * 8 / 10);
    let config = format!("clock = \"event\"\n{CONFIG}");
    let mut accepted = 0u64;

    // part 1, then a graceful restart
    let s = Server::start(dir.path(), &config, &[]);
    for body in &batches[..a] {
        accepted += s.post_ndjson(body.clone())["accepted"].as_u64().unwrap();
    }
    // a client retry of the last batch is counted once
    let retry = s.post_ndjson(batches[a - 1].clone());
    assert_eq!((retry["accepted"].as_u64(), retry["duplicates"].as_u64()), (Some(0), Some(1000)));
    let brands_before = wait_processed(&s, accepted);
    let open = s.get("/v1/alerts?status=open");
    let first = open["alerts"].as_array().unwrap().first().cloned();
    assert!(first.is_some(), "an incident is open at the graceful restart");
    if let Some(inc) = &first {
        let id = inc["id"].as_str().unwrap();
        let r = client()
            .post(s.url(&format!("/v1/alerts/{id}/ack")))
            .json(&serde_json::json!({"note": "on it"}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    s.terminate();

    let s = Server::start(dir.path(), &config, &[]);
    assert!(s.logs().contains("restored the engine snapshot"), "{}", s.logs());
    assert_eq!(s.metric("crisiswatch_engine_mentions") as u64, accepted, "engine state carried over");
    assert_eq!(s.get("/v1/brands"), brands_before, "baselines and windows survive a restart");
    if let Some(inc) = &first {
        let h = s.get(&format!("/v1/alerts/{}", inc["id"].as_str().unwrap()));
        assert_eq!(h["actions"][0]["who"], "anonymous", "no credentials configured: who is anonymous");
        assert_eq!(h["actions"][0]["note"], "on it");
    }

    // part 2, then a crash right after the last 202
    for body in &batches[a..b] {
        accepted += s.post_ndjson(body.clone())["accepted"].as_u64().unwrap();
    }
    s.kill();

    let s = Server::start(dir.path(), &config, &[]);
    let replayed: u64 = s
        .logs()
        .split("replayed=")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .expect("recovery reports what it replayed");
    assert!(replayed >= ((b - a) * 1000) as u64, "part 2 came back from the log: {replayed}");
    wait_processed(&s, accepted);
    for body in &batches[b..] {
        accepted += s.post_ndjson(body.clone())["accepted"].as_u64().unwrap();
    }
    wait_processed(&s, accepted);
    assert_eq!(accepted, lines.len() as u64, "every mention accepted once");
    let stored = stored_events(&s);
    assert_eq!(stored, reference, "the service found exactly what an uninterrupted replay finds");
    assert_eq!(std::fs::read_to_string(dir.path().join("data/listen.addr")).unwrap(), format!("{}\n", s.addr));
    s.terminate();
    assert!(!dir.path().join("data/listen.addr").exists(), "listen.addr is removed at a clean stop");
}

fn mention_line(id: &str, minute: u32) -> String {
    support::mention(
        id,
        &format!("2026-01-05T10:{minute:02}:00Z"),
        Some("acme"),
        "Acme <b>support</b> & \u{202e}RTL",
        Some(-0.6),
    )
}

#[test]
fn tokens_limits_and_per_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let config = "clock = \"event\"\n\n[[tokens]]\nname = \"listening-tool\"\nenv = \"CW_TEST_TOKEN\"\n\n\
                  [[tokens]]\nname = \"pr-desk\"\nenv = \"CW_DESK_TOKEN\"\nscopes = [\"read\", \"respond\"]\n\n\
                  [limits]\nmax_body = \"64KiB\"\nmax_decoded_body = \"1MiB\"\n";
    let s = Server::start(
        dir.path(),
        config,
        &[("CW_TEST_TOKEN", "t0k3n-one"), ("CW_DESK_TOKEN", "d3sk"), ("CRISISWATCH_API_TOKENS", "second,third")],
    );
    assert!(!s.logs().contains("t0k3n-one"), "secrets never appear in logs");
    let c = client();
    let post = |token: Option<&str>, ct: &str, body: Vec<u8>, gzip: bool| {
        let mut r = c.post(s.url("/v1/mentions")).header("content-type", ct).body(body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if gzip {
            r = r.header("content-encoding", "gzip");
        }
        r.send().unwrap()
    };
    let one = format!("{}\n", mention_line("m1", 0)).into_bytes();

    // authentication
    let r = post(None, "application/x-ndjson", one.clone(), false);
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    assert_eq!(post(Some("t0k3n-on"), "application/x-ndjson", one.clone(), false).status(), 401);
    assert_eq!(c.get(s.url("/v1/alerts")).send().unwrap().status(), 401);
    assert_eq!(c.get(s.url("/v1/brands")).bearer_auth("nope").send().unwrap().status(), 401);
    assert_eq!(post(Some("third"), "application/x-ndjson", one.clone(), false).status(), 202, "env token list");
    assert_eq!(s.metric("crisiswatch_requests_unauthorized_total"), 4.0);

    // per-line errors, reported and dead-lettered
    let body = format!(
        "{}\n{{\"id\":\"m3\",\"ts\":\"not a time\",\"text\":\"x\"}}\n{}\n{{\"id\":\"m5\"\n\n{}\n",
        mention_line("m2", 1),
        mention_line("m4", 2),
        mention_line("m6", 3)
    );
    let r = post(Some("t0k3n-one"), "application/x-ndjson", body.into_bytes(), false);
    assert_eq!(r.status(), 202);
    let v: Value = r.json().unwrap();
    assert_eq!(v["accepted"], 3);
    assert_eq!(v["rejected"], 2);
    let lines: Vec<u64> = v["errors"].as_array().unwrap().iter().map(|e| e["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, vec![2, 4]);
    assert!(v["errors"][0]["reason"].as_str().unwrap().contains("ts"), "{v}");
    assert_eq!(s.metric("crisiswatch_dead_letters"), 2.0);

    // a pretty JSON array, and gzip
    let arr = format!("[\n  {},\n  {}\n]", mention_line("a1", 4), mention_line("a2", 4));
    let v: Value = post(Some("second"), "application/json", arr.into_bytes(), false).json().unwrap();
    assert_eq!((v["accepted"].as_u64(), v["rejected"].as_u64()), (Some(2), Some(0)), "{v}");
    let gz = |data: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut e, data).unwrap();
        e.finish().unwrap()
    };
    let v: Value =
        post(Some("second"), "application/x-ndjson", gz(format!("{}\n", mention_line("g1", 5)).as_bytes()), true)
            .json()
            .unwrap();
    assert_eq!(v["accepted"], 1);

    // caps: body as sent, body decoded, unsupported types, broken gzip
    assert_eq!(post(Some("second"), "application/x-ndjson", vec![b' '; 70 * 1024], false).status(), 413);
    assert_eq!(
        post(Some("second"), "application/x-ndjson", gz(&vec![b'\n'; 2 << 20]), true).status(),
        413,
        "gzip bomb"
    );
    assert_eq!(post(Some("second"), "text/csv", one.clone(), false).status(), 415);
    assert_eq!(post(Some("second"), "application/x-ndjson", b"not gzip".to_vec(), true).status(), 400);
    let r = post(Some("second"), "application/json", b"[{\"id\":".to_vec(), false);
    assert_eq!(r.status(), 400);
    assert!(r.text().unwrap().contains("line 1 column"));

    // the API
    let auth = |path: &str| c.get(s.url(path)).bearer_auth("second").send().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while s.metric("crisiswatch_engine_mentions") < 7.0 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    let brands: Value = auth("/v1/brands").json().unwrap();
    assert_eq!(brands["brands"][0]["id"], "acme");
    assert_eq!(brands["brands"][0]["mentions"][3]["observed"], 7, "{brands}");
    let series: Value = auth("/v1/brands/acme/series?window=1h").json().unwrap();
    let points = series["points"].as_array().unwrap();
    assert_eq!(points.len(), 60);
    let total: u64 = points.iter().map(|p| p["mentions"].as_u64().unwrap()).sum();
    assert_eq!(total, 7);
    assert_eq!(points.last().unwrap()["minute"], "2026-01-05T10:05:00Z");
    assert_eq!(auth("/v1/brands/nobody/series").status(), 404);
    assert_eq!(auth("/v1/brands/acme/series?window=3d").status(), 400);
    assert_eq!(auth("/v1/alerts?status=sideways").status(), 400);
    assert_eq!(auth("/v1/alerts?since=yesterday").status(), 400);
    assert_eq!(auth("/v1/alerts/0000/ack").status(), 405, "ack is a POST");
    let r = c.post(s.url("/v1/alerts/0000/ack")).bearer_auth("second").send().unwrap();
    assert_eq!(r.status(), 403, "ingest and read only: tokens without `scopes` cannot acknowledge");
    assert!(r.text().unwrap().contains("`respond`"));
    assert_eq!(c.post(s.url("/v1/alerts/0000/ack")).bearer_auth("d3sk").send().unwrap().status(), 404);
    assert_eq!(c.post(s.url("/v1/mentions")).bearer_auth("d3sk").body("").send().unwrap().status(), 403);
    let spec: Value = c.get(s.url("/v1/openapi.json")).bearer_auth("second").send().unwrap().json().unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    assert!(spec["paths"]["/v1/mentions"]["post"].is_object());
    assert_eq!(c.get(s.url("/healthz")).send().unwrap().status(), 200);
    s.terminate();
}

#[test]
fn a_full_queue_answers_503_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let config = "clock = \"event\"\n[limits]\nmax_queued_mentions = 100\n[testing]\nengine_batch_delay = \"2s\"\n";
    let s = Server::start(dir.path(), config, &[]);
    let body = |from: usize, n: usize| -> Vec<u8> {
        (from..from + n).map(|i| format!("{}\n", mention_line(&format!("q{i}"), 0))).collect::<String>().into_bytes()
    };
    let c = client();
    let post = |b: Vec<u8>| {
        c.post(s.url("/v1/mentions")).header("content-type", "application/x-ndjson").body(b).send().unwrap()
    };
    assert_eq!(post(body(0, 100)).status(), 202);
    // the engine holds those 100 for two seconds: nothing more fits
    let r = post(body(100, 1));
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(s.metric("crisiswatch_requests_busy_total"), 1.0);
    assert_eq!(post(body(200, 101)).status(), 413, "a batch larger than the whole queue can never fit");
    // after the engine catches up, the retry is accepted
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = post(body(100, 1));
        if r.status() == 202 {
            break;
        }
        assert_eq!(r.status(), 503);
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(200));
    }
    s.terminate();
}

#[test]
fn unsafe_or_invalid_configuration_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(bin())
        .args(["serve", "--listen", "0.0.0.0:0", "--data-dir", dir.path().join("d").to_str().unwrap()])
        .env_remove("CRISISWATCH_API_TOKENS")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("refusing to listen on non-loopback"), "{}", stderr(&o));
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "clock = \"event\"\n[storage]\nsnapshot_interval = \"often\"\n").unwrap();
    let o = run(&["serve", "--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    // at the value, as for rule files
    assert!(stderr(&o).contains(&format!("{}:3:21", cfg.display())), "{}", stderr(&o));
}

#[test]
fn per_token_rate_limit_and_json_logs() {
    let dir = tempfile::tempdir().unwrap();
    let config = "clock = \"event\"\nlog_format = \"json\"\n[[tokens]]\nname = \"tool\"\nenv = \"CW_RATE_TOKEN\"\n\
                  [limits]\nrate_per_token = 5\nburst_per_token = 10\n";
    let s = Server::start(dir.path(), config, &[("CW_RATE_TOKEN", "rate-secret")]);
    let c = client();
    let post = |from: usize, n: usize| {
        let b: String = (from..from + n).map(|i| format!("{}\n", mention_line(&format!("r{i}"), 0))).collect();
        c.post(s.url("/v1/mentions")).bearer_auth("rate-secret").body(b).send().unwrap()
    };
    assert_eq!(post(0, 10).status(), 202, "the burst");
    let r = post(10, 5);
    assert_eq!(r.status(), 429);
    let wait: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "5 mentions at 5/s: about a second, got {wait}");
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(post(10, 5).status(), 202, "refilled");
    assert_eq!(s.metric("crisiswatch_requests_rate_limited_total"), 1.0);
    let log_path = s.log.clone();
    s.terminate();
    let logs = std::fs::read_to_string(log_path).unwrap();
    let lines: Vec<Value> = logs.lines().map(|l| serde_json::from_str(l).expect("every log line is JSON")).collect();
    assert!(lines.iter().any(|l| l["fields"]["message"] == "listening"), "{logs}");
    assert!(!logs.contains("rate-secret"));
}
