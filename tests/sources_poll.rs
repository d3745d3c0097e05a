//! The `telegram` and `hackernews` sources through the real `crisiswatch serve`, against a
//! local Bot API (updates kept until a `getUpdates` offset passes them, as Telegram does) and
//! a local server answering like the Algolia Hacker News search API: posts arrive as
//! mentions of the matching brand, a `kill -9` neither loses nor duplicates, bad items are
//! dead-lettered while the source goes on, a 429 is waited out.

mod support;

use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::http::{HttpFake, Reply};
use support::server::Server;
use support::telegram::FakeTelegram;

fn source(s: &Server, name: &str) -> Value {
    let v = s.get("/v1/sources");
    v["sources"].as_array().unwrap().iter().find(|x| x["name"] == name).cloned().unwrap_or(Value::Null)
}

fn wait(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let t = Instant::now();
    while !ok() {
        assert!(t.elapsed() < Duration::from_secs(secs), "{what} within {secs} s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn now_s() -> i64 {
    crisiswatch::clock::wall_ms() / 1000
}

fn channel_post(update_id: i64, message_id: i64, text: &str) -> Value {
    json!({"update_id": update_id, "channel_post": {"message_id": message_id, "date": now_s() - 30,
        "chat": {"id": -1001234567890i64, "title": "Acme watchers", "username": "acmewatch", "type": "channel"},
        "text": text}})
}

#[test]
fn telegram_channel_posts_become_mentions_once_across_kills() {
    let dir = tempfile::tempdir().unwrap();
    let tg = FakeTelegram::start();
    let config = format!(
        "[[source]]\nname = \"tg\"\nkind = \"telegram\"\nurl = \"{}\"\ntoken_env = \"CW_SOURCE_BOT\"\n",
        tg.api_url().trim_end_matches('/')
    );
    let env = [("CW_SOURCE_BOT", "123456:source-bot-token")];
    tg.push_update(channel_post(1, 10, "Acme app is down again"));
    tg.push_update(channel_post(2, 11, "unrelated chatter"));
    tg.push_update(json!({"update_id": 3, "message": {"text": "Acme but no chat"}})); // dead-lettered
    tg.push_update(channel_post(4, 12, "Acme refund refused"));
    let s = Server::start(dir.path(), &config, &env);
    wait("two Acme posts", 30, || source(&s, "tg")["accepted"] == 2);
    let v = source(&s, "tg");
    assert_eq!((v["filtered"].as_u64(), v["rejected"].as_u64()), (Some(1), Some(1)), "{v}");
    wait("the engine counts them", 30, || s.metric("crisiswatch_engine_mentions") == 2.0);
    let logs = s.logs();
    assert!(!logs.contains("source-bot-token"), "the token stays out of the logs");
    // kill -9 while new posts are being taken, twice
    for (i, text) in ["Acme outage in Haifa", "Acme outage in Eilat"].iter().enumerate() {
        tg.push_update(channel_post(5 + i as i64, 13 + i as i64, text));
    }
    std::thread::sleep(Duration::from_millis(300));
    s.kill();
    let s = Server::start(dir.path(), &config, &env);
    tg.push_update(channel_post(7, 15, "Acme charged me twice"));
    std::thread::sleep(Duration::from_millis(200));
    s.kill();
    let s = Server::start(dir.path(), &config, &env);
    wait("every Acme post once", 30, || s.metric("crisiswatch_engine_mentions") == 5.0);
    // the offset asked after the restart is the stored one: the posts are confirmed
    wait("getUpdates past every update", 10, || {
        tg.requests().iter().any(|r| r.path.ends_with("/getUpdates") && r.json()["offset"] == 8)
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(s.metric("crisiswatch_engine_mentions"), 5.0, "nothing twice");
    assert!(tg.requests().iter().all(|r| r.header("user-agent").starts_with("crisiswatch/")));
    s.terminate();
}

/// A search server holding hits, answering `search_by_date` like hn.algolia.com/api/v1.
fn search_server(hits: Arc<Mutex<Vec<Value>>>, first: Arc<Mutex<Option<Reply>>>) -> HttpFake {
    HttpFake::start(move |req| {
        if let Some(r) = first.lock().unwrap().take() {
            return r;
        }
        let url = reqwest::Url::parse(&format!("http://x{}", req.path)).unwrap();
        let q = |k: &str| url.query_pairs().find(|(n, _)| n == k).map(|(_, v)| v.into_owned()).unwrap_or_default();
        let query = q("query").to_lowercase();
        let after: i64 = q("numericFilters").trim_start_matches("created_at_i>").parse().unwrap_or(0);
        let found: Vec<Value> = hits
            .lock()
            .unwrap()
            .iter()
            .filter(|h| h["created_at_i"].as_i64().is_none_or(|t| t > after))
            .filter(|h| h.to_string().to_lowercase().contains(&query))
            .cloned()
            .collect();
        Reply::json(200, &json!({"hits": found, "nbHits": found.len(), "page": 0, "nbPages": 1, "hitsPerPage": 100}))
    })
}

fn story(id: u64, title: &str, ago_s: i64) -> Value {
    let at = now_s() - ago_s;
    json!({"created_at": crisiswatch::time::format_rfc3339(at * 1000), "title": title, "url": "https://example.com/",
        "author": "pg", "points": 3, "story_text": null, "objectID": id.to_string(), "created_at_i": at, "_tags": ["story"]})
}

#[test]
fn hacker_news_hits_become_mentions_once_after_a_429() {
    let dir = tempfile::tempdir().unwrap();
    let hits = Arc::new(Mutex::new(vec![
        story(1, "Acme corp leaks user data", 120), // found by `acme` and by `acme corp`: once
        story(2, "Show HN: acmeology", 100),        // the search's loose match, not the brand: filtered
        json!({"title": "Acme without an id"}),     // dead-lettered
    ]));
    let first = Arc::new(Mutex::new(Some(Reply::status(429).header("retry-after", "2"))));
    let http = search_server(hits.clone(), first);
    let config = format!(
        "[[source]]\nname = \"hn\"\nkind = \"hackernews\"\nurl = \"{}/api/v1\"\ninterval = \"1s\"\nbrand = \"acme\"\n",
        http.base()
    );
    let s = Server::start(dir.path(), &config, &[]);
    wait("the 429 is waited out and the story taken", 30, || source(&s, "hn")["accepted"] == 1);
    let v = source(&s, "hn");
    assert_eq!(v["errors"], 1, "{v}");
    assert!(v["rejected"].as_u64() >= Some(1), "{v}");
    let reqs = http.requests();
    assert!(reqs.iter().any(|r| r.path.contains("query=acme&")), "one query per keyword: {:?}", reqs[1].path);
    hits.lock().unwrap().push(story(3, "Ask HN: is Acme down for anyone?", 10));
    wait("the new story", 15, || source(&s, "hn")["accepted"] == 2);
    let before = http.requests().len();
    wait("more polls", 15, || http.requests().len() >= before + 4);
    let v = source(&s, "hn");
    assert_eq!((v["accepted"].as_u64(), v["duplicates"].as_u64()), (Some(2), Some(0)), "the overlap is skipped: {v}");
    s.kill();
    let s = Server::start(dir.path(), &config, &[]);
    let before = http.requests().len();
    wait("polls after the restart", 15, || http.requests().len() >= before + 4);
    let v = source(&s, "hn");
    assert_eq!((v["accepted"].as_u64(), v["duplicates"].as_u64()), (Some(0), Some(0)), "{v}");
    assert_eq!(s.metric("crisiswatch_engine_mentions"), 2.0);
    s.terminate();
}
