//! Shared helpers for the integration tests: running the real binary, building mentions, and
//! the one harness of each kind that every test uses: [`server`] (the real `serve` binary on
//! a port it picks itself), [`webhook`] (a recording, scripted webhook receiver),
//! [`telegram`] (a fake Bot API), [`slack`] (a fake Web API and incoming webhook),
//! [`teams`] (a fake Teams workflow webhook), [`smtp`] (aiosmtpd), [`sse`] (a fake Mastodon instance),
//! [`jetstream`] (a fake Bluesky Jetstream), all on `127.0.0.1:0`; [`nats`] (real
//! `nats-server`s), [`proxy`] (a line to a server that can be cut) and [`netns`] (hosts in
//! network namespaces whose links can be cut); and
//! [`browser`], a headless chromium driven over WebDriver, for the dashboard.
#![allow(dead_code)]

pub mod browser;
pub mod http;
pub mod jetstream;
pub mod nats;
pub mod netns;
pub mod proxy;
pub mod server;
pub mod slack;
pub mod smtp;
pub mod sse;
pub mod stream;
pub mod teams;
pub mod telegram;
pub mod webhook;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Path of the built `crisiswatch` binary.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_crisiswatch"))
}

/// Runs the binary with `args`, returning its output.
pub fn run(args: &[&str]) -> Output {
    Command::new(bin()).args(args).stdin(Stdio::null()).output().expect("binary runs")
}

/// Runs the binary feeding `stdin`.
pub fn run_with_stdin(args: &[&str], stdin: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new(bin())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || input.write_all(&data));
    let out = child.wait_with_output().expect("binary finishes");
    writer.join().expect("writer thread").expect("stdin written");
    out
}

/// Stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// One mention as a JSON line (no newline).
pub fn mention(id: &str, ts: &str, brand: Option<&str>, text: &str, sentiment: Option<f64>) -> String {
    let mut v = serde_json::json!({"id": id, "ts": ts, "text": text});
    if let Some(b) = brand {
        v["brand"] = b.into();
    }
    if let Some(s) = sentiment {
        v["sentiment"] = s.into();
    }
    v.to_string()
}

/// Reads a JSON Lines file of alert events.
pub fn read_events(path: &Path) -> Vec<crisiswatch::alert::AlertEvent> {
    std::fs::read_to_string(path)
        .expect("alerts file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("alert event parses"))
        .collect()
}

/// Two quiet days of acme (2 mentions a minute, event time from 2026-03-02), then 400
/// mentions of `angry` in ten minutes: one incident, as ndjson batches.
pub fn crisis_stream(angry: &str) -> Vec<String> {
    let start = crisiswatch::time::parse_timestamp("2026-03-02T00:00:00Z").unwrap();
    let mut out = Vec::new();
    let mut batch = String::new();
    for i in 0..2 * 1440 * 2 {
        let ts = crisiswatch::time::format_rfc3339(start + i * 30_000);
        batch.push_str(&mention(&format!("q{i}"), &ts, Some("acme"), "bought acme shoes today", Some(0.2)));
        batch.push('\n');
        if i % 1000 == 999 {
            out.push(std::mem::take(&mut batch));
        }
    }
    let spike = start + 2 * 86_400_000;
    for i in 0..400 {
        let ts = crisiswatch::time::format_rfc3339(spike + i * 1500);
        batch.push_str(&mention(&format!("s{i}"), &ts, Some("acme"), angry, Some(-0.8)));
        batch.push('\n');
    }
    out.push(batch);
    out
}

/// Polls `done` every 100 ms until it holds; fails the test after `secs` seconds, naming
/// `what` it waited for.
pub fn wait_for(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out after {secs} s waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// `dir/rules` with the repository's `rules/defaults.toml` and `rules/acme.toml` in it: a
/// rules directory a test may edit.
pub fn acme_rules(dir: &Path) -> PathBuf {
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    for f in ["defaults.toml", "acme.toml"] {
        std::fs::copy(repo.join(f), rules.join(f)).unwrap();
    }
    rules
}
