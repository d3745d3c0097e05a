//! Sources benchmark (`cargo bench --bench sources`), against the release binary and the
//! tests' local servers:
//!
//! 1. **Throughput of one Jetstream-style source through the whole path.** A local Jetstream
//!    (`tests/support/jetstream.rs`) holds `CW_BENCH_EVENTS` post events (default 1,000,000),
//!    half of them naming a brand; `crisiswatch serve` with one `bluesky` source, started
//!    on CPU 0 alone (`taskset`, when the machine has it; this process and the fake move to
//!    CPU 1), reads them from its start:
//!    keyword filter, mention lines, sequencer, log with fsync, engine. Reported: events/s
//!    read and mentions/s through to the engine (`crisiswatch_engine_mentions`).
//! 2. **Memory per source.** Resident memory (`VmRSS`) of the service idle without sources,
//!    then with `CW_BENCH_SOURCES` (default 200) `rss` sources each polling a local 20-entry
//!    feed every second; the difference divided by the count.

use std::time::{Duration, Instant};

#[path = "../tests/support/mod.rs"]
mod support;
use support::http::{HttpFake, Reply};
use support::jetstream::{post, FakeJetstream};
use support::server::Server;

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Pins every thread of `pid` to the CPUs in `cpus` (`taskset`).
fn pin(pid: u32, cpus: &str) -> bool {
    std::process::Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &pid.to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn throughput() {
    let n = env_usize("CW_BENCH_EVENTS", 1_000_000);
    let js = FakeJetstream::start();
    let now_us = crisiswatch::clock::wall_ms() * 1000;
    let mut matching = 0;
    for i in 0..n {
        let text = if i % 2 == 0 {
            matching += 1;
            format!("acme app is down again, post {i}")
        } else {
            format!("nothing to see here, post {i}")
        };
        let t = now_us - 60_000_000 + i as i64; // the last minute, one µs apart
        js.push(t, post(&format!("did:plc:bench{}", i % 5000), &format!("3l{i:011}"), t, &text));
    }
    let dir = tempfile::tempdir().unwrap();
    let config = format!("[[source]]\nname = \"bsky\"\nkind = \"bluesky\"\nurl = \"{}\"\n", js.url);
    // the service inherits CPU 0 from this process, which then moves itself (and the fake
    // Jetstream's threads) to CPU 1: the time counts from the process start
    let me = std::process::id();
    let pinned = pin(me, "0");
    let t = Instant::now();
    let s = Server::start(dir.path(), &config, &[]);
    let pinned = pinned && pin(me, "1");
    let deadline = t + Duration::from_secs(600);
    while s.metric("crisiswatch_engine_mentions") < matching as f64 {
        assert!(Instant::now() < deadline, "not through in 600 s: {}", s.metric("crisiswatch_engine_mentions"));
        std::thread::sleep(Duration::from_millis(20));
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "jetstream source: {n} events ({matching} naming the brand) in {secs:.2} s from the service's start: {:.0} events/s, {:.0} mentions/s to the engine{}; peak RSS {} MiB",
        n as f64 / secs,
        matching as f64 / secs,
        if pinned { ", the service pinned to one core" } else { " (taskset missing: not pinned)" },
        rss_kib(s.pid()) / 1024
    );
    s.terminate();
}

fn memory() {
    let k = env_usize("CW_BENCH_SOURCES", 200);
    let feed = {
        let at = httpdate::fmt_http_date(std::time::SystemTime::now() - Duration::from_secs(60));
        let mut s = String::from("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title>");
        for i in 0..20 {
            s.push_str(&format!(
                "<item><title>Acme news {i}</title><link>http://news.test/{i}</link><description>Acme did a thing, story {i}</description><pubDate>{at}</pubDate></item>"
            ));
        }
        s + "</channel></rss>"
    };
    let http = HttpFake::start(move |req| {
        if !req.header("if-none-match").is_empty() {
            return Reply::status(304).header("etag", "\"v1\"");
        }
        Reply::status(200).header("etag", "\"v1\"").body(feed.clone().into_bytes())
    });
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), "", &[]);
    std::thread::sleep(Duration::from_secs(5));
    let idle = rss_kib(s.pid());
    s.terminate();
    let dir = tempfile::tempdir().unwrap();
    let mut config = String::new();
    for i in 0..k {
        config.push_str(&format!(
            "[[source]]\nname = \"feed{i}\"\nkind = \"rss\"\nurl = \"{}/feed{i}.xml\"\ninterval = \"1s\"\n",
            http.base()
        ));
    }
    let s = Server::start(dir.path(), &config, &[]);
    std::thread::sleep(Duration::from_secs(15));
    let with = rss_kib(s.pid());
    let polls = http.requests().len();
    println!(
        "memory: idle {} MiB; with {k} rss sources polling every second ({polls} requests in 15 s) {} MiB: {:.1} KiB per source",
        idle / 1024,
        with / 1024,
        (with.saturating_sub(idle)) as f64 / k as f64
    );
    s.terminate();
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    throughput();
    memory();
}
