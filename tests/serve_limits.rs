//! Issue 17, stalled uploads: the real `crisiswatch serve` binary (the `support::server`
//! harness), with 2-second header and body timeouts and a connection cap, against 800
//! connections that connect and then stall: silent, stopped in the headers, or stopped in
//! a body. Each must be closed by the server within its timeout and some slack (over the
//! cap: at once), be counted in `/metrics`, and leave the service serving and its memory
//! bounded. And what must not be cut: an upload that is slow but arrives within the body
//! timeout, and the dashboard's `/events` stream, which lasts longer than both timeouts.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};
use support::server::{client, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOKEN: &str = "limits-t0ken";
const TIMEOUT: Duration = Duration::from_secs(2);
const CAP: usize = 500;
const STALLED: usize = 800;
/// Beyond the timeout, for the server's timers and a busy two-core machine.
const SLACK: Duration = Duration::from_secs(3);

fn config(max_connections: usize) -> String {
    format!(
        "clock = \"event\"\n[limits]\nmax_connections = {max_connections}\nheader_timeout = \"2s\"\nbody_timeout = \"2s\"\n"
    )
}

fn start(dir: &std::path::Path, max_connections: usize) -> Server {
    Server::builder(dir).config(&config(max_connections)).env("CRISISWATCH_API_TOKENS", TOKEN).start()
}

/// `n` mention lines (NDJSON) of acme, event time 2026-03-02.
fn mentions(n: usize, prefix: &str) -> String {
    (0..n)
        .map(|i| {
            let ts = format!("2026-03-02T00:{:02}:{:02}Z", i / 60 % 60, i % 60);
            support::mention(&format!("{prefix}{i}"), &ts, Some("acme"), "bought acme shoes today", Some(0.2)) + "\n"
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Stall {
    /// Connects and sends nothing.
    Silent,
    /// Stops in the middle of the headers.
    InHeaders,
    /// Sends whole headers (`Content-Length: 100000`, no token) and 1000 bytes of the body:
    /// answered `401` at once, before the body is read.
    InBody,
    /// The same with a valid token: the body timeout closes it (`408`).
    InBodyAuthed,
}

/// What one stalled connection saw.
#[derive(Debug)]
struct Outcome {
    stall: Stall,
    /// From connected to closed by the server.
    open_for: Duration,
    /// What the server sent before closing.
    answer: String,
}

fn partial_request(stall: Stall) -> Vec<u8> {
    match stall {
        Stall::Silent => Vec::new(),
        Stall::InHeaders => b"POST /v1/mentions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-nd".to_vec(),
        Stall::InBody | Stall::InBodyAuthed => {
            let body = mentions(20, "stall");
            let auth =
                if stall == Stall::InBodyAuthed { format!("Authorization: Bearer {TOKEN}\r\n") } else { String::new() };
            let mut r = format!(
                "POST /v1/mentions HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Type: application/x-ndjson\r\n\
                 Content-Length: 100000\r\n\r\n"
            )
            .into_bytes();
            r.extend_from_slice(&body.as_bytes()[..1000]);
            r
        }
    }
}

/// The server's peak resident memory so far (`VmHWM`), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status")
}

/// Opens `STALLED` connections one after the other (kinds in turn), sends each its partial
/// request, and waits for the server to close every one (30 s at most each).
async fn stall_all(addr: SocketAddr) -> (Vec<Outcome>, Duration) {
    let kinds = [Stall::Silent, Stall::InHeaders, Stall::InBody, Stall::InBodyAuthed];
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(STALLED);
    for i in 0..STALLED {
        let stall = kinds[i % kinds.len()];
        let mut s = TcpStream::connect(addr).await.expect("connect");
        let opened = Instant::now();
        let bytes = partial_request(stall);
        tasks.push(tokio::spawn(async move {
            // a connection over the cap may already be closed: writing can fail
            let _ = s.write_all(&bytes).await;
            let mut answer = Vec::new();
            let read = tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut answer)).await;
            assert!(read.is_ok(), "a {stall:?} connection still open after 30 s");
            Outcome { stall, open_for: opened.elapsed(), answer: String::from_utf8_lossy(&answer).into_owned() }
        }));
    }
    let opening = started.elapsed();
    let mut out = Vec::with_capacity(STALLED);
    for t in tasks {
        out.push(t.await.unwrap());
    }
    eprintln!(
        "opened {STALLED} stalled connections in {opening:?}; all closed {:?} after the first",
        started.elapsed()
    );
    (out, started.elapsed())
}

#[test]
fn stalled_connections_are_closed_counted_and_cost_little() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), CAP);
    let rss_before = peak_rss_kib(s.pid());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (outcomes, all_closed) = rt.block_on(stall_all(s.addr));
    let rss_after = peak_rss_kib(s.pid());

    // over the cap: closed at once (a 503 when the socket took it); the others after their
    // timeout, a body with a 408
    let unauthenticated = |o: &&Outcome| o.answer.starts_with("HTTP/1.1 401");
    let answered: Vec<&Outcome> = outcomes.iter().filter(unauthenticated).collect();
    for o in &answered {
        assert!(o.stall == Stall::InBody && o.open_for < Duration::from_secs(1), "{o:?}");
    }
    let refused: Vec<&Outcome> =
        outcomes.iter().filter(|o| o.open_for < Duration::from_secs(1) && !unauthenticated(o)).collect();
    let timed_out: Vec<&Outcome> = outcomes.iter().filter(|o| o.open_for >= Duration::from_secs(1)).collect();
    for o in &refused {
        assert!(o.answer.is_empty() || o.answer.starts_with("HTTP/1.1 503"), "{o:?}");
    }
    for o in &timed_out {
        assert!(o.open_for >= TIMEOUT - Duration::from_millis(50), "not before its timeout: {o:?}");
        assert!(o.open_for <= TIMEOUT + SLACK, "closed within timeout + slack: {o:?}");
        match o.stall {
            Stall::InBodyAuthed => assert!(o.answer.starts_with("HTTP/1.1 408"), "{o:?}"),
            Stall::Silent | Stall::InHeaders => assert!(o.answer.is_empty(), "{o:?}"),
            Stall::InBody => panic!("an unauthenticated body waited for its timeout: {o:?}"),
        }
    }
    let slowest = outcomes.iter().map(|o| o.open_for).max().unwrap();
    eprintln!(
        "unauthenticated bodies answered 401 at once: {}; refused at once: {}; timed out: {} (slowest close {slowest:?} after connecting); \
         peak RSS {} MiB before, {} MiB after",
        answered.len(),
        refused.len(),
        timed_out.len(),
        rss_before / 1024,
        rss_after / 1024
    );
    assert!(all_closed <= 2 * TIMEOUT + SLACK, "all closed in {all_closed:?}");
    assert!(!refused.is_empty() && timed_out.len() <= CAP, "the cap holds: {} served at once", timed_out.len());
    assert!(rss_after < 256 * 1024, "peak RSS {} MiB", rss_after / 1024);
    assert!(rss_after - rss_before < 128 * 1024, "peak RSS grew {} MiB", (rss_after - rss_before) / 1024);

    // counted
    let count = |stalls: &[Stall]| timed_out.iter().filter(|o| stalls.contains(&o.stall)).count() as f64;
    assert_eq!(s.metric("crisiswatch_connections_refused_total"), refused.len() as f64);
    assert_eq!(s.metric("crisiswatch_connections_header_timeout_total"), count(&[Stall::Silent, Stall::InHeaders]));
    assert_eq!(s.metric("crisiswatch_requests_body_timeout_total"), count(&[Stall::InBodyAuthed]));
    assert_eq!(s.metric("crisiswatch_mentions_accepted_total"), 0.0, "nothing of a stalled body was kept");
    assert!(s.metric("crisiswatch_connections_open") <= 1.0, "only the scrape itself");

    // and the service serves
    let r = client()
        .post(s.url("/v1/mentions"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/x-ndjson")
        .body(mentions(5, "ok"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(r.json::<serde_json::Value>().unwrap()["accepted"], 5);
    s.terminate();
}

#[test]
fn a_slow_steady_upload_and_the_event_stream_are_not_cut() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), 64);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut sse = rt.block_on(async {
        // 40 mentions in 8 pieces, 200 ms apart: 1.4 s of a 2 s body timeout
        let body = mentions(40, "slow");
        let mut c = TcpStream::connect(s.addr).await.unwrap();
        let head = format!(
            "POST /v1/mentions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n\
             Content-Type: application/x-ndjson\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        c.write_all(head.as_bytes()).await.unwrap();
        let t = Instant::now();
        for (i, piece) in body.as_bytes().chunks(body.len().div_ceil(8)).enumerate() {
            if i > 0 {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            c.write_all(piece).await.unwrap();
        }
        let sending = t.elapsed();
        let mut answer = String::new();
        c.read_to_string(&mut answer).await.unwrap();
        eprintln!("slow upload: body sent over {sending:?}");
        assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");
        assert!(answer.contains("\"accepted\":40"), "{answer}");

        // the event stream outlives both timeouts
        let mut sse = TcpStream::connect(s.addr).await.unwrap();
        let req = format!("GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n\r\n");
        sse.write_all(req.as_bytes()).await.unwrap();
        let mut seen = String::new();
        let mut buf = [0u8; 4096];
        let opened = Instant::now();
        while !seen.contains("event: hello") {
            let n = tokio::time::timeout(Duration::from_secs(10), sse.read(&mut buf)).await.unwrap().unwrap();
            assert!(n > 0, "closed before its first event: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        assert!(seen.starts_with("HTTP/1.1 200") && seen.contains("text/event-stream"), "{seen}");
        let hold = 2 * TIMEOUT;
        while opened.elapsed() < hold {
            match tokio::time::timeout(hold - opened.elapsed(), sse.read(&mut buf)).await {
                Err(_) => break, // nothing to read, still open
                Ok(Ok(0)) => panic!("/events closed after {:?}", opened.elapsed()),
                Ok(Ok(n)) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
                Ok(Err(e)) => panic!("/events failed after {:?}: {e}", opened.elapsed()),
            }
        }
        assert!(!seen.contains("408"), "{seen}");
        eprintln!("/events open for {:?} (body and header timeouts {TIMEOUT:?})", opened.elapsed());
        sse
    });
    assert_eq!(s.metric("crisiswatch_requests_body_timeout_total"), 0.0);
    assert_eq!(s.metric("crisiswatch_connections_header_timeout_total"), 0.0);
    // a graceful stop ends the stream, and the service exits 0
    let stopping = Instant::now();
    let stopper = std::thread::spawn(move || s.terminate());
    let end = rt.block_on(async {
        let mut buf = [0u8; 4096];
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match sse.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await
    });
    assert!(end.is_ok(), "/events still open 10 s after SIGTERM");
    eprintln!("/events closed {:?} after SIGTERM", stopping.elapsed());
    stopper.join().unwrap();
}
