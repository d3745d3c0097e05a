//! The streaming sources end to end: the real `crisiswatch serve` binary reading a local
//! Mastodon instance (server-sent events and the REST timeline) and a local Jetstream
//! (WebSocket), through reconnections and a `kill -9`.

mod support;

use serde_json::Value;
use std::time::{Duration, Instant};
use support::jetstream::{self, FakeJetstream};
use support::server::Server;
use support::sse::{self, FakeMastodon};

/// The view of source `name` in `GET /v1/sources`.
fn source(s: &Server, name: &str) -> Value {
    let v = s.get("/v1/sources");
    v["sources"].as_array().unwrap().iter().find(|x| x["name"] == name).cloned().expect("the source is listed")
}

/// Waits (60 s at most) until `cond` holds for the source's view.
fn wait_source(s: &Server, name: &str, what: &str, cond: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v = source(s, name);
        if cond(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: {v}\n{}", s.logs());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits (60 s at most) until the engine has processed `n` mentions, then checks it stays so.
fn wait_engine(s: &Server, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while (s.metric("crisiswatch_engine_mentions") as u64) < n {
        assert!(Instant::now() < deadline, "engine below {n}: {}", s.logs());
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(s.metric("crisiswatch_engine_mentions") as u64, n, "more mentions than posts");
}

const BASE_ID: u64 = 110_000_000_000_000_000;

#[test]
fn mastodon_stream_reconnects_and_fills_the_gap_without_loss_or_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let masto = FakeMastodon::start();
    let config = format!(
        "[[source]]\nname = \"masto\"\nkind = \"mastodon\"\nurl = \"{}\"\ntag = \"acme\"\nmax_item_bytes = \"4KiB\"\n",
        masto.base
    );
    let s = Server::start(dir.path(), &config, &[]);
    masto.wait_streams(1);
    assert!(masto.requests()[0].starts_with("/api/v1/streaming/hashtag?tag=acme"), "{:?}", masto.requests());

    // live: six about the brand, two not, a heartbeat, a malformed event, a huge one
    let id = std::cell::Cell::new(BASE_ID);
    let next = |text: &str| {
        id.set(id.get() + 1);
        sse::status(id.get(), text)
    };
    for i in 0..3 {
        masto.post(next(&format!("<b>Acme</b> checkout broken again #{i}")));
    }
    masto.post(next("lovely weather today"));
    masto.send_raw(":thump\n");
    masto.send_raw("event: update\ndata: {\"id\": \"1\", \"uri\"\ndata: not json\n\n");
    masto.send_raw(&format!("event: update\ndata: {}\n\n", "x".repeat(20_000)));
    masto.send_raw("event: delete\ndata: 110000000000000001\n\n");
    masto.post(next("nothing to see"));
    for i in 3..6 {
        masto.post(next(&format!("acme support does not answer #{i}")));
    }
    let v = wait_source(&s, "masto", "six accepted", |v| v["accepted"] == 6 && v["rejected"] == 2);
    assert_eq!((v["filtered"].as_u64(), v["duplicates"].as_u64(), v["state"].as_str()), (Some(2), Some(0), Some("ok")));
    assert_eq!(s.metric("crisiswatch_dead_letters"), 2.0);
    let last_live = id.get();

    // the stream ends and the instance refuses streams for a while: 45 statuses meanwhile
    masto.refuse_streams(true);
    masto.drop_stream();
    for i in 0..45 {
        masto.post(next(&format!("acme outage day, post {i}")));
    }
    masto.post(next("unrelated"));
    wait_source(&s, "masto", "the reconnection failed", |v| v["errors"].as_u64() >= Some(2));
    masto.refuse_streams(false);
    masto.wait_streams(2);
    let v = wait_source(&s, "masto", "the gap filled", |v| v["accepted"] == 51);
    assert_eq!((v["duplicates"].as_u64(), v["filtered"].as_u64()), (Some(0), Some(3)));
    let reqs = masto.requests();
    let gap: Vec<&String> = reqs.iter().filter(|r| r.starts_with("/api/v1/timelines/tag/acme")).collect();
    assert!(gap[0].contains(&format!("since_id={last_live}")), "{gap:?}");
    assert_eq!(gap.len(), 2, "46 statuses are two pages of 40: {gap:?}");
    assert!(gap[1].contains("max_id="), "{gap:?}");

    // and live again
    masto.post(next("acme is back"));
    wait_source(&s, "masto", "live again", |v| v["accepted"] == 52);
    wait_engine(&s, 52);
    s.terminate();
}

#[test]
fn jetstream_resumes_from_its_cursor_after_kill_9_without_loss_or_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let jet = FakeJetstream::start();
    let now_us = crisiswatch::clock::wall_ms() * 1000;
    let mut t = now_us - 120_000_000;
    let mut matching = 0u64;
    let push_posts = |jet: &FakeJetstream, from: usize, to: usize, t: &mut i64, matching: &mut u64| {
        for i in from..to {
            *t += 1_000_000;
            let did = format!("did:plc:user{}", i % 7);
            let text = if i % 3 == 0 { "lovely weather".to_string() } else { format!("ACME lost my parcel ({i})") };
            *matching += u64::from(i % 3 != 0);
            jet.push(*t, jetstream::post(&did, &format!("3l3qo2vut{i:04}"), *t, &text));
            if i % 10 == 5 {
                *t += 1000;
                jet.push(*t, jetstream::identity(&did, *t));
            }
        }
    };
    push_posts(&jet, 0, 30, &mut t, &mut matching);
    jet.push_raw("{\"did\": \"did:plc:x\", \"kind\": ".into());
    jet.push_raw(format!("{{\"pad\": \"{}\"}}", "y".repeat(10_000)));
    let first = matching;
    let config =
        format!("[[source]]\nname = \"sky\"\nkind = \"bluesky\"\nurl = \"{}\"\nmax_item_bytes = \"2KiB\"\n", jet.url);
    let s = Server::start(dir.path(), &config, &[]);
    jet.wait_connections(1);
    assert!(
        jet.connections()[0].ends_with("/subscribe?wantedCollections=app.bsky.feed.post"),
        "{:?}",
        jet.connections()
    );
    let v = wait_source(&s, "sky", "the first posts", |v| v["accepted"].as_u64() == Some(first) && v["rejected"] == 2);
    assert_eq!(v["filtered"].as_u64(), Some(10));
    // more arrive while the service is connected, then it dies mid-stream
    push_posts(&jet, 30, 45, &mut t, &mut matching);
    std::thread::sleep(Duration::from_millis(300));
    s.kill();
    let last_before_restart = t;
    push_posts(&jet, 45, 90, &mut t, &mut matching);

    let s = Server::start(dir.path(), &config, &[]);
    jet.wait_connections(2);
    let uri = jet.connections()[1].clone();
    let cursor: i64 = uri.split("cursor=").nth(1).expect("the reconnection sends its cursor").parse().unwrap();
    assert!(cursor <= last_before_restart && cursor > now_us - 120_000_000, "{uri}");
    wait_engine(&s, matching);
    let v = source(&s, "sky");
    assert!(v["duplicates"].as_u64() > Some(0), "the replay before the cursor is dropped: {v}");
    s.terminate();
}
