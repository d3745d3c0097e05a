//! The live service against hostile load and faults (issue 17), each defect reproduced as
//! it was reported and now passing:
//! * an event-clock backfill posted in one long in-order request, and by three clients in
//!   parallel, loses nothing and invents nothing (the events equal an uninterrupted replay);
//! * on a full disk a request is refused whole (nothing of it in the log, its retry is not a
//!   "duplicate"), and the service takes writes again by itself when space returns;
//! * brands created from `brand` fields are capped, across a restart;
//! * the decoded-bytes budget refuses a body while another holds it;
//! * dead letters are kept within their retention.

mod support;

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::server::{client, Server};
use support::stream::{batches, reference_in_time_order, simulated, stored_events, wait_processed};

fn post(s: &Server, body: Vec<u8>) -> reqwest::blocking::Response {
    client().post(s.url("/v1/mentions")).header("content-type", "application/x-ndjson").body(body).send().unwrap()
}

#[test]
fn event_clock_backfills_in_one_request_or_in_parallel_lose_nothing_and_invent_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, lines) = simulated(dir.path(), 11, 8, 4);
    let reference = reference_in_time_order(dir.path(), &sim);
    assert!(reference.len() >= 4, "the stream has incidents: {reference:?}");

    // 1. the first 99,000 lines (over a day of event time) in ONE request: before, everything
    // after engine clock + 1 day was rejected with a 202
    let (one, rest) = lines.split_at(99_000.min(lines.len() / 2));
    let s = Server::start(dir.path(), "clock = \"event\"\n", &[]);
    let v: Value = post(&s, batches(one, one.len()).remove(0)).json().unwrap();
    assert_eq!((v["accepted"].as_u64(), v["rejected"].as_u64()), (Some(one.len() as u64), Some(0)), "{}", v["errors"]);

    // 2. the rest by three clients in parallel, each taking every third batch in order
    let bodies = batches(rest, 500);
    let accepted: u64 = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..3)
            .map(|k| {
                let (s, bodies) = (&s, &bodies);
                sc.spawn(move || {
                    let mut n = 0;
                    for b in bodies.iter().skip(k).step_by(3) {
                        let v: Value = post(s, b.clone()).json().unwrap();
                        assert_eq!(v["rejected"], 0, "client {k}: {}", v["errors"]);
                        n += v["accepted"].as_u64().unwrap();
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(accepted, rest.len() as u64, "every mention of the parallel part accepted");
    wait_processed(&s, lines.len() as u64);
    let stored = stored_events(&s);
    let silent = stored.iter().filter(|(id, _, _)| id.contains("silent")).count();
    assert_eq!(silent, reference.iter().filter(|(id, _, _)| id.contains("silent")).count(), "no invented feed-silent");
    assert_eq!(stored, reference, "the service found exactly what an uninterrupted replay finds");
    assert_eq!(s.metric("crisiswatch_mentions_refused_late_total"), 0.0);

    // 3. the contract is enforced, not silent: far too late, and too far ahead, per line
    let late = support::mention("late-1", "2000-01-01T00:00:00Z", Some("acme"), "acme", None);
    let ahead = support::mention("ahead-1", "2100-01-01T00:00:00Z", Some("acme"), "acme", None);
    let v: Value = post(&s, format!("{late}\n{ahead}\n").into_bytes()).json().unwrap();
    assert_eq!(v["accepted"], 0);
    let reasons: Vec<&str> = v["errors"].as_array().unwrap().iter().map(|e| e["reason"].as_str().unwrap()).collect();
    assert!(reasons[0].contains("too late") && reasons[0].contains("allowed_lateness"), "{reasons:?}");
    assert!(reasons[1].contains("max_clock_jump"), "{reasons:?}");
    assert_eq!(s.metric("crisiswatch_dead_letters"), 2.0);
    s.terminate();
}

/// A tmpfs of `mib` MiB mounted on `path` (root only), unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(path: &Path, mib: u32) -> Tmpfs {
        std::fs::create_dir_all(path).unwrap();
        let o = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs", path.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "this test fills a small disk: it mounts a tmpfs and must run as root: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        Tmpfs(path.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").args(["-l", self.0.to_str().unwrap()]).status();
    }
}

/// Fills the file system of `dir` with a ballast file until it refuses more.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("ballast");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![7u8; 64 << 10];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.sync_all();
    path
}

fn lines_at(prefix: &str, from: usize, n: usize, minute0: i64) -> Vec<u8> {
    let t0 = crisiswatch::time::parse_timestamp("2026-04-01T00:00:00Z").unwrap();
    (from..from + n)
        .map(|i| {
            let ts = crisiswatch::time::format_rfc3339(t0 + (minute0 + i as i64 / 20) * 60_000);
            format!("{}\n", support::mention(&format!("{prefix}{i}"), &ts, Some("acme"), "acme shoes", Some(0.1)))
        })
        .collect::<String>()
        .into_bytes()
}

/// `n` mentions of acme at the wall clock's time (ids `prefix0`…).
fn lines_now(prefix: &str, n: usize) -> Vec<u8> {
    let now = crisiswatch::clock::wall_ms();
    (0..n)
        .map(|i| {
            let ts = crisiswatch::time::format_rfc3339(now - 1000 + i as i64);
            format!("{}\n", support::mention(&format!("{prefix}{i}"), &ts, Some("acme"), "acme shoes", Some(0.1)))
        })
        .collect::<String>()
        .into_bytes()
}

#[test]
fn a_full_disk_refuses_whole_requests_and_the_service_recovers_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _fs = Tmpfs::mount(&data, 24);
    // the wall clock, and an engine slow enough that the disk fills before it has processed
    // a batch: the snapshot it then wants to store must fail without harming the last one
    let config = "[storage]\nsnapshot_interval = \"1s\"\n[testing]\nengine_batch_delay = \"300ms\"\n";
    let s = Server::start(dir.path(), config, &[]);
    let v: Value = post(&s, lines_now("a", 2000)).json().unwrap();
    assert_eq!(v["accepted"], 2000);
    wait_processed(&s, 2000);
    std::thread::sleep(Duration::from_millis(1500)); // a snapshot covers them
    assert_eq!(post(&s, lines_now("b", 500)).status(), 202);
    let ballast = fill(&data);

    // a batch with a bad line too: neither its mentions nor its dead letter may stay
    let mut body = lines_now("c", 1000);
    body.extend_from_slice(b"not json\n");
    let r = post(&s, body.clone());
    assert_eq!(r.status(), 503, "{}", r.text().unwrap_or_default());
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(s.metric("crisiswatch_ingest_writable"), 0.0);
    assert_eq!(post(&s, lines_now("d", 10)).status(), 503, "still full");
    std::thread::sleep(Duration::from_millis(2500));
    assert!(s.logs().contains("cannot store the engine snapshot"), "a snapshot write failed: {}", s.logs());

    std::fs::remove_file(&ballast).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while s.metric("crisiswatch_ingest_writable") != 1.0 {
        assert!(Instant::now() < deadline, "the service did not take writes again: {}", s.logs());
        std::thread::sleep(Duration::from_millis(100));
    }
    // the refused request is resent: all of it is new, nothing was half-applied
    let v: Value = post(&s, body).json().unwrap();
    assert_eq!(
        (v["accepted"].as_u64(), v["duplicates"].as_u64(), v["rejected"].as_u64()),
        (Some(1000), Some(0), Some(1))
    );
    assert_eq!(s.metric("crisiswatch_dead_letters"), 1.0, "the refused request's dead letter was removed");
    wait_processed(&s, 3500);
    let events = stored_events(&s);
    s.kill();

    // the last good snapshot and the log are intact: a crash now recovers everything
    let s = Server::start(dir.path(), config, &[]);
    assert!(s.logs().contains("restored the engine snapshot"), "{}", s.logs());
    wait_processed(&s, 3500);
    assert_eq!(stored_events(&s), events);
    s.terminate();
}

#[test]
fn brands_created_from_brand_fields_are_capped_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let config = "clock = \"event\"\n[limits]\nmax_new_brands = 50\n";
    let s = Server::start(dir.path(), config, &[]);
    let body: String = (0..200)
        .map(|i| {
            let ts = format!("2026-04-01T00:{:02}:00Z", i % 60);
            format!("{}\n", support::mention(&format!("u{i}"), &ts, Some(&format!("brand-{i}")), "hello", None))
        })
        .collect();
    let v: Value = post(&s, body.into_bytes()).json().unwrap();
    assert_eq!((v["accepted"].as_u64(), v["rejected"].as_u64()), (Some(50), Some(150)));
    let reason = v["errors"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("`brand-50`") && reason.contains("max_new_brands"), "{reason}");
    assert_eq!(s.metric("crisiswatch_mentions_refused_brand_cap_total"), 150.0);
    assert_eq!(s.metric("crisiswatch_brands_created"), 50.0);
    // a configured brand is never refused
    let v: Value = post(&s, lines_at("k", 0, 5, 70)).json().unwrap();
    assert_eq!(v["accepted"], 5);
    wait_processed(&s, 55);
    s.terminate();

    let s = Server::start(dir.path(), config, &[]);
    assert_eq!(s.metric("crisiswatch_brands_created"), 50.0, "remembered across the restart");
    let known = support::mention("again", "2026-04-01T01:20:00Z", Some("brand-7"), "hi", None);
    let new = support::mention("new", "2026-04-01T01:20:00Z", Some("brand-999"), "hi", None);
    let v: Value = post(&s, format!("{known}\n{new}\n").into_bytes()).json().unwrap();
    assert_eq!((v["accepted"].as_u64(), v["rejected"].as_u64()), (Some(1), Some(1)));
    s.terminate();
}

#[test]
fn the_decoded_bytes_budget_refuses_a_body_while_another_holds_it_and_dead_letters_are_trimmed() {
    let dir = tempfile::tempdir().unwrap();
    // one request at its largest (1 MiB sent + 2 x 4 MiB) fills the budget
    let config = "clock = \"event\"\n[limits]\nmax_body = \"1MiB\"\nmax_decoded_body = \"4MiB\"\n\
                  max_decoded_in_flight = \"9MiB\"\n[dead_letters]\nmax_bytes = \"256KiB\"\n";
    let s = Server::start(dir.path(), config, &[]);
    // a slow upload of a large body holds its share of the budget while it arrives
    let mut slow = std::net::TcpStream::connect(s.addr).unwrap();
    write!(
        slow,
        "POST /v1/mentions HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\nContent-Encoding: gzip\r\nContent-Length: 1048576\r\n\r\n"
    )
    .unwrap();
    slow.write_all(&[0u8; 1000]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let r = post(&s, lines_at("x", 0, 10, 0));
    assert_eq!(r.status(), 503, "the budget is held by the slow upload");
    assert!(r.text().unwrap().contains("max_decoded_in_flight"));
    assert_eq!(s.metric("crisiswatch_requests_memory_total"), 1.0);
    drop(slow);
    let deadline = Instant::now() + Duration::from_secs(10);
    while post(&s, lines_at("x", 0, 10, 0)).status() != 202 {
        assert!(Instant::now() < deadline, "the budget was not given back");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(s.metric("crisiswatch_decoded_bytes_in_flight"), 0.0);

    // junk bodies: every line a dead letter; what is kept stays within max_bytes
    for k in 0..5 {
        let junk: String = (0..900).map(|i| format!("junk {k} {i} {}\n", "z".repeat(1000))).collect();
        let v: Value = post(&s, junk.into_bytes()).json().unwrap();
        assert_eq!(v["rejected"], 900);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n = s.metric("crisiswatch_dead_letters");
        // each is about 1 KB of raw item and a reason: 256 KiB keeps a couple of hundred
        if n <= 260.0 {
            assert!(n >= 100.0, "the newest are kept: {n}");
            break;
        }
        assert!(Instant::now() < deadline, "dead letters not trimmed: {n}");
        std::thread::sleep(Duration::from_millis(200));
    }
    s.terminate();
}

/// The service's peak resident memory (VmHWM) and current (VmRSS), in MiB.
fn memory_mib(s: &Server) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{}/status", s.pid())).unwrap();
    let kib = |key: &str| -> f64 {
        let line = status.lines().find(|l| l.starts_with(key)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse::<f64>().unwrap() / 1024.0
    };
    (kib("VmHWM:"), kib("VmRSS:"))
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Peak memory of the service under the hostile loads of issue 17, each on a fresh service
/// with the default limits: three concurrent gzip bodies decoding past `max_decoded_body`,
/// three concurrent gzip bodies of valid mentions just under it, and 50,000 mentions with
/// unknown brands. A measurement (`cargo test --release --test serve_hardening peak_memory
/// -- --ignored --nocapture`); the bounds asserted are loose.
#[test]
#[ignore = "a measurement, run by hand (see the doc comment)"]
fn peak_memory_under_hostile_load() {
    let concurrent = |s: &Server, body: &[u8]| -> Vec<u16> {
        std::thread::scope(|sc| {
            let hs: Vec<_> = (0..3)
                .map(|_| {
                    sc.spawn(|| {
                        client()
                            .post(s.url("/v1/mentions"))
                            .header("content-type", "application/x-ndjson")
                            .header("content-encoding", "gzip")
                            .body(body.to_vec())
                            .send()
                            .unwrap()
                            .status()
                            .as_u16()
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        })
    };
    // 1. bombs: 256 MiB of newlines, 2 MB or so compressed
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), "clock = \"event\"\n", &[]);
    let idle = memory_mib(&s);
    let bomb = gzip(&vec![b'\n'; 256 << 20]);
    let codes = concurrent(&s, &bomb);
    let bombs = memory_mib(&s);
    eprintln!("idle {idle:?} MiB; 3 gzip bombs of {} bytes -> {codes:?}: peak {:.0} MiB", bomb.len(), bombs.0);
    s.terminate();

    // 2. valid mentions just under the 64 MiB cap, three at once
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), "clock = \"event\"\n", &[]);
    let mut body = Vec::new();
    let mut i = 0;
    while body.len() < (63 << 20) {
        let ts = crisiswatch::time::format_rfc3339(1_775_000_000_000 + i * 1000);
        let text = "acme shoes are fine, the delivery was on time and the support answered quickly ".repeat(2);
        body.extend_from_slice(support::mention(&format!("v{i}"), &ts, Some("acme"), &text, None).as_bytes());
        body.push(b'\n');
        i += 1;
    }
    let codes = concurrent(&s, &gzip(&body));
    wait_processed(&s, codes.iter().filter(|&&c| c == 202).count() as u64 * i as u64);
    let full = memory_mib(&s);
    eprintln!("3 x {} valid mentions ({} MiB decoded) -> {codes:?}: peak {:.0} MiB", i, body.len() >> 20, full.0);
    s.terminate();

    // 3. 50,000 unknown brands
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), "clock = \"event\"\n", &[]);
    let mut rejected = 0;
    for chunk in 0..50 {
        let body: String = (0..1000)
            .map(|j| {
                let n = chunk * 1000 + j;
                let ts = crisiswatch::time::format_rfc3339(1_775_000_000_000 + n as i64 * 1000);
                format!("{}\n", support::mention(&format!("b{n}"), &ts, Some(&format!("brand-{n}")), "hi", None))
            })
            .collect();
        rejected += post(&s, body.into_bytes()).json::<Value>().unwrap()["rejected"].as_u64().unwrap();
    }
    let brands = memory_mib(&s);
    let db = std::fs::metadata(dir.path().join("data/crisiswatch.db")).unwrap().len();
    eprintln!(
        "50,000 unknown brands: {rejected} rejected (max_new_brands 1000): peak {:.0} MiB, database {} KiB",
        brands.0,
        db >> 10
    );
    assert_eq!(rejected, 49_000);
    s.terminate();
    for (what, peak) in [("bombs", bombs.0), ("valid", full.0), ("brands", brands.0)] {
        assert!(peak < 1024.0, "{what}: peak {peak} MiB");
    }
}
