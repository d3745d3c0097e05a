//! The `rss` source against a real local HTTP server serving RSS 2.0 and Atom with `ETag`s
//! and `304`s, through the real `crisiswatch serve`: new entries become mentions of the
//! matching brand; a graceful restart and a `kill -9` neither lose nor count an entry twice;
//! a malformed feed and a bad entry are dead-lettered while the source goes on; a feed that
//! is down backs off, raises an ops notice, and clears it when it is back.

mod support;

use crisiswatch::time::format_rfc3339;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::http::{HttpFake, Reply};
use support::server::Server;

/// The feed's state: its entries (id, text, minutes ago) and whether it serves garbage.
#[derive(Default)]
struct Feed {
    entries: Vec<(String, String)>,
    version: u64,
    garbage: bool,
    atom: bool,
}

fn now_ms() -> i64 {
    crisiswatch::clock::wall_ms()
}

fn render(f: &Feed) -> String {
    let at = format_rfc3339(now_ms() - 60_000);
    if f.atom {
        let mut s = String::from(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>t</title>",
        );
        for (id, text) in &f.entries {
            s.push_str(&format!(
                "<entry><id>{id}</id><title>{text}</title><link href=\"http://news.test/{id}\"/><updated>{at}</updated></entry>"
            ));
        }
        return s + "</feed>";
    }
    let mut s = String::from("<?xml version=\"1.0\"?>\n<rss version=\"2.0\"><channel><title>News</title>");
    for (id, text) in &f.entries {
        if id.is_empty() {
            s.push_str(&format!("<item><description>{text}</description></item>"));
        } else {
            s.push_str(&format!(
                "<item><title>{text}</title><link>http://news.test/{id}</link><guid>{id}</guid><description>&lt;p&gt;{text} &amp;amp; more&lt;/p&gt;</description><pubDate>{}</pubDate></item>",
                httpdate::fmt_http_date(std::time::UNIX_EPOCH + Duration::from_millis((now_ms() - 60_000) as u64))
            ));
        }
    }
    s + "</channel></rss>"
}

/// A feed server: `ETag` per version, `304` when the client has it.
fn feed_server(feed: Arc<Mutex<Feed>>) -> HttpFake {
    HttpFake::start(move |req| {
        let f = feed.lock().unwrap();
        if f.garbage {
            return Reply::status(200)
                .header("content-type", "text/html")
                .body(b"<html><body>oops</body></html>".to_vec());
        }
        let etag = format!("\"v{}\"", f.version);
        if req.header("if-none-match") == etag {
            return Reply::status(304).header("etag", &etag);
        }
        Reply::status(200)
            .header("etag", &etag)
            .header("content-type", "application/rss+xml")
            .body(render(&f).into_bytes())
    })
}

fn source(s: &Server) -> Value {
    let v = s.get("/v1/sources");
    v["sources"][0].clone()
}

fn wait(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let t = Instant::now();
    while !ok() {
        assert!(t.elapsed() < Duration::from_secs(secs), "{what} within {secs} s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn add(feed: &Arc<Mutex<Feed>>, id: &str, text: &str) {
    let mut f = feed.lock().unwrap();
    f.entries.insert(0, (id.to_string(), text.to_string()));
    f.version += 1;
}

#[test]
fn feed_entries_become_mentions_once_across_a_restart_and_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let feed = Arc::new(Mutex::new(Feed::default()));
    add(&feed, "n1", "Acme app is down again");
    add(&feed, "n2", "Weather: sunny all week"); // no brand keyword: filtered
    add(&feed, "", "an entry without guid or link about Acme"); // dead-lettered
    add(&feed, "n3", "Acme support does not answer");
    let http = feed_server(feed.clone());
    let config =
        format!("[[source]]\nname = \"news\"\nkind = \"rss\"\nurl = \"{}/feed.xml\"\ninterval = \"1s\"\n", http.base());
    let s = Server::start(dir.path(), &config, &[]);
    wait("the first two Acme entries taken", 30, || source(&s)["accepted"] == 2);
    let v = source(&s);
    assert_eq!(
        (v["filtered"].as_u64(), v["rejected"].as_u64(), v["state"].as_str()),
        (Some(1), Some(1), Some("ok")),
        "{v}"
    );
    wait("the engine counts them", 30, || s.metric("crisiswatch_engine_mentions") == 2.0);
    // later polls are conditional and answered 304
    wait("a conditional request", 10, || http.requests().iter().any(|r| r.header("if-none-match") == "\"v4\""));
    let metrics = support::server::client().get(s.url("/metrics")).send().unwrap().text().unwrap();
    assert!(
        metrics.contains("crisiswatch_source_mentions_accepted_total{source=\"news\",kind=\"rss\"} 2"),
        "{metrics}"
    );
    // a new entry arrives within one interval
    add(&feed, "n4", "#acmefail refund refused");
    wait("the new entry", 10, || source(&s)["accepted"] == 3);
    s.terminate();

    // a graceful restart: the cursor is back, nothing is counted again
    let s = Server::start(dir.path(), &config, &[]);
    let before = http.requests().len();
    wait("two polls after the restart", 20, || http.requests().len() >= before + 2);
    let v = source(&s);
    assert_eq!((v["accepted"].as_u64(), v["duplicates"].as_u64()), (Some(0), Some(0)), "the cursor came back: {v}");
    assert_eq!(http.requests()[before].header("if-none-match"), "\"v5\"", "the stored ETag is sent");
    assert_eq!(s.metric("crisiswatch_engine_mentions"), 3.0);

    // kill -9 right after new entries are taken, and again while they may be in flight
    add(&feed, "n5", "Acme charged me twice");
    wait("n5 taken", 10, || source(&s)["accepted"] == 1);
    s.kill();
    let s = Server::start(dir.path(), &config, &[]);
    add(&feed, "n6", "Acme outage in Haifa");
    add(&feed, "n7", "Acme outage in Tel Aviv");
    std::thread::sleep(Duration::from_millis(700));
    s.kill();
    let s = Server::start(dir.path(), &config, &[]);
    wait("every Acme entry exactly once", 30, || s.metric("crisiswatch_engine_mentions") == 6.0);
    let before = http.requests().len();
    wait("two more polls", 20, || http.requests().len() >= before + 2);
    assert_eq!(s.metric("crisiswatch_engine_mentions"), 6.0, "no entry twice");
    s.terminate();
}

#[test]
fn a_failing_feed_is_dead_lettered_backs_off_and_raises_then_clears_an_ops_notice() {
    let dir = tempfile::tempdir().unwrap();
    let feed = Arc::new(Mutex::new(Feed { atom: true, garbage: true, ..Feed::default() }));
    let http = feed_server(feed.clone());
    let hook = support::webhook::Webhook::start(&[]);
    let config = format!(
        "[notify]\ngroup_wait = \"1s\"\nretry_base = \"100ms\"\nretry_max = \"1s\"\n\
         [[notify.receiver]]\nname = \"ops-hook\"\nkind = \"webhook\"\nurl = \"{}\"\nsecret_env = \"CW_HOOK_SECRET\"\n\
         [[notify.team]]\nname = \"ops\"\nreceivers = [\"ops-hook\"]\n\
         [[notify.route]]\nbrands = [\"acme\"]\nladder = [{{ teams = [\"ops\"] }}]\n\
         [[source]]\nname = \"blog\"\nkind = \"rss\"\nurl = \"{}/atom.xml\"\ninterval = \"1s\"\nalert_after = \"2s\"\n",
        hook.url(),
        http.base()
    );
    let s = Server::start(dir.path(), &config, &[("CW_HOOK_SECRET", "hook-key-0123456789")]);
    wait("the source failing", 20, || source(&s)["state"] == "failing");
    let v = source(&s);
    assert!(v["last_error"].as_str().unwrap_or("").contains("not an RSS or Atom feed"), "{v}");
    assert!(v["rejected"].as_u64() >= Some(1), "the page is dead-lettered: {v}");
    assert!(s.metric("crisiswatch_dead_letters") >= 1.0);
    // an ops notice once it has failed for alert_after
    let ops = |hook: &support::webhook::Webhook| -> Vec<String> {
        hook.requests()
            .iter()
            .map(|r| r.json())
            .filter(|j| j["kind"] == "ops")
            .map(|j| j["problem"].to_string())
            .collect()
    };
    wait("an ops notice", 30, || ops(&hook).iter().any(|p| p.contains("source `blog`") && p.contains("has failed")));
    // backoff: far fewer requests than one a second
    let fetched = http.requests().len();
    assert!(fetched <= 6, "{fetched} requests in the failing period: backoff");
    // the feed comes back: mentions flow and the notice is cleared
    {
        let mut f = feed.lock().unwrap();
        f.garbage = false;
    }
    add(&feed, "urn:a1", "Acme blog: we are sorry");
    wait("the source ok again", 60, || source(&s)["state"] == "ok");
    wait("the entry taken", 10, || source(&s)["accepted"] == 1);
    wait("the all-clear", 30, || ops(&hook).iter().any(|p| p.contains("works again")));
    s.terminate();
}
