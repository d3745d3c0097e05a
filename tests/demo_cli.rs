//! `crisiswatch demo`, run as a newcomer would: from an empty directory, nothing configured.
//! The dashboard lists the demo's brands, incidents appear (history at once, the live crisis
//! a minute into the live stream), the incident page shows posts and drafts, and SIGTERM
//! stops it cleanly even with a live-update stream open.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let r = reqwest::blocking::Client::new()
        .get(format!("http://{addr}{path}"))
        .timeout(Duration::from_secs(30))
        .send()
        .expect("request");
    (r.status().as_u16(), r.text().unwrap_or_default())
}

#[test]
fn the_demo_runs_from_an_empty_directory_and_shows_a_live_crisis() {
    let cwd = tempfile::tempdir().unwrap();
    let data = cwd.path().join("data");
    let started = Instant::now();
    let mut child = Command::new(support::bin())
        .args(["demo", "--listen", "127.0.0.1:0", "--data-dir", "data", "--speed", "20"])
        .current_dir(cwd.path())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("demo starts");
    let addr: SocketAddr = loop {
        if let Some(a) = std::fs::read_to_string(data.join("listen.addr")).ok().and_then(|t| t.trim().parse().ok()) {
            break a;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no listen.addr after 60 s");
        assert!(child.try_wait().unwrap().is_none(), "demo exited early");
        std::thread::sleep(Duration::from_millis(100));
    };

    // the brands page lists the twelve demo brands within 60 s
    let brands = loop {
        let (status, body) = get(addr, "/");
        if status == 200 && body.matches(r#"<tr class="brand""#).count() == 12 {
            break body;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "brands page after 60 s: {status} {body:.300}");
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(brands.contains("Acme") && brands.contains("שחף") && brands.contains(r#"<svg class="spark""#));
    assert!(brands.starts_with("<!doctype html>"));

    // the live crisis: an open incident at the busiest brand, from the live part of the stream
    let live_from = crisiswatch::clock::wall_ms() - 120_000;
    let incident = loop {
        let (_, body) = get(addr, "/v1/alerts?status=open&brand=shahaf");
        let v: serde_json::Value = serde_json::from_str(&body).expect("alerts JSON");
        let live =
            v["alerts"].as_array().unwrap().iter().find(|a| {
                crisiswatch::time::parse_timestamp(a["at"].as_str().unwrap_or("")).is_ok_and(|t| t >= live_from)
            });
        if let Some(a) = live {
            break a.clone();
        }
        assert!(started.elapsed() < Duration::from_secs(180), "no live incident after 180 s: {body:.500}");
        std::thread::sleep(Duration::from_secs(1));
    };
    assert_eq!(incident["category"], "outage", "{incident}");
    let id = incident["id"].as_str().unwrap();
    let (status, page) = get(addr, &format!("/incidents/{id}"));
    assert_eq!(status, 200);
    assert!(page.contains(r#"<li class="post"#), "a top post: {page:.2000}");
    assert!(page.contains(r#"<div class="draft">"#) && page.contains(r#"dir="rtl""#), "a Hebrew draft");
    assert!(page.contains(r#"value="ack""#), "open mode on loopback: the viewer may act");
    let (_, list) = get(addr, "/v1/alerts?limit=1000");
    let n: usize = serde_json::from_str::<serde_json::Value>(&list).unwrap()["alerts"].as_array().unwrap().len();
    assert!(n > 5, "the backfilled history has past incidents too: {n}");

    // a live-update stream is open; SIGTERM still stops the demo promptly and cleanly
    let mut sse = std::net::TcpStream::connect(addr).unwrap();
    sse.write_all(b"GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n").unwrap();
    sse.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut reader = BufReader::new(sse.try_clone().unwrap());
    let mut first = String::new();
    let mut got_hello = false;
    for _ in 0..20 {
        first.clear();
        if reader.read_line(&mut first).unwrap_or(0) == 0 {
            break;
        }
        if first.starts_with("event: hello") {
            got_hello = true;
            break;
        }
    }
    assert!(got_hello, "the event stream greets");
    let term = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(term.success());
    let stop = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(stop.elapsed() < Duration::from_secs(30), "demo did not stop within 30 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(status.success(), "exit {status:?}: {err}");
    assert!(err.contains(&format!("open http://{addr}/")), "the URL is printed: {err}");
    assert!(data.join("crisiswatch.db").exists(), "a given data directory is kept");
}

#[test]
fn the_demo_refuses_a_used_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("crisiswatch.db"), b"").unwrap();
    let out = support::run(&["demo", "--listen", "127.0.0.1:0", "--data-dir", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(support::stderr(&out).contains("already holds a crisiswatch store"), "{}", support::stderr(&out));
}

#[test]
fn the_demo_reports_a_bad_config_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("demo.toml");
    std::fs::write(&cfg, "[[users]]\nname = \"dana\"\nrole = \"boss\"\npassword_hash_env = \"X\"\n").unwrap();
    let out = support::run(&["demo", "--listen", "127.0.0.1:0", "--config", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", support::stderr(&out));
    assert!(support::stderr(&out).contains("demo.toml:3:"), "file:line of the bad role: {}", support::stderr(&out));
}
