//! Shared helpers for the integration tests: running the real binary, building mentions, and
//! the one harness of each kind that every test uses: [`server`] (the real `serve` binary on
//! a port it picks itself), [`webhook`] (a recording, scripted webhook receiver),
//! [`telegram`] (a fake Bot API), [`smtp`] (aiosmtpd), all on `127.0.0.1:0`; and
//! [`browser`], a headless chromium driven over WebDriver, for the dashboard.
#![allow(dead_code)]

pub mod browser;
pub mod http;
pub mod server;
pub mod smtp;
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
