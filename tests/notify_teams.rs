//! The Teams receiver end to end: the real `crisiswatch serve` raises an incident from a
//! stream with a spike and posts it as an Adaptive Card to a fake Teams workflow webhook on
//! `127.0.0.1` (`support::teams`, which checks every message against the workflow envelope
//! and the Adaptive Card rules on its own). The first answer is `429` with `Retry-After: 1`:
//! the card is posted again no sooner than a second later, identical, answered `202` and
//! delivered once. The card's buttons open the service's signed links; the incident's
//! escalation and its resolution each arrive as a new card. And `crisiswatch notify-test`
//! through a Teams receiver: delivered, refused (the reason without the URL's secret),
//! without links when `public_url` is not an address people can open, and in the receiver's
//! `lang` and `timezone` (Russian, Moscow time).

mod support;

use serde_json::Value;
use std::process::Command;
use std::time::Duration;
use support::server::Server;
use support::teams::{error, FakeTeams, Post, SIG};

fn config(extra: &str) -> String {
    format!(
        "[notify]\ngroup_wait = \"1s\"\nretry_base = \"100ms\"\nretry_max = \"1s\"\nmax_attempts = 5\n{extra}\
         [[notify.receiver]]\nname = \"comms-teams\"\nkind = \"teams\"\nurl_env = \"CW_TEAMS_WEBHOOK\"\n\
         [[notify.team]]\nname = \"comms\"\nreceivers = [\"comms-teams\"]\n\
         [[notify.route]]\nladder = [{{ teams = [\"comms\"] }}]\n"
    )
}

/// The banner's first line: status, severity and brand.
fn banner(p: &Post) -> String {
    p.card()["body"][0]["items"][0]["inlines"][0]["text"].as_str().unwrap_or("").to_string()
}

/// The card's actions as (title, url).
fn actions(card: &Value) -> Vec<(String, String)> {
    card["actions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| (a["title"].as_str().unwrap().to_string(), a["url"].as_str().unwrap().to_string()))
        .collect()
}

/// Every `TextRun` text of a card.
fn runs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            if o.get("type").and_then(Value::as_str) == Some("TextRun") {
                out.push(o["text"].as_str().unwrap_or("").to_string());
            }
            o.values().for_each(|x| runs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| runs(x, out)),
        _ => {}
    }
}

/// Mentions of acme as ndjson, `per_min` a minute for `minutes` from `from`, every
/// `negative_every`-th one (0: none) angry with `angry`, the others neutral.
fn mentions(from: &str, minutes: i64, per_min: i64, negative_every: i64, angry: &str, tag: &str) -> String {
    let start = crisiswatch::time::parse_timestamp(from).unwrap();
    let mut out = String::new();
    for i in 0..minutes * per_min {
        let ts = crisiswatch::time::format_rfc3339(start + i * 60_000 / per_min);
        let id = format!("{tag}{i}");
        let line = if negative_every > 0 && i % negative_every == 0 {
            support::mention(&id, &ts, Some("acme"), angry, Some(-0.8))
        } else {
            support::mention(&id, &ts, Some("acme"), "bought acme shoes today", Some(0.2))
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[test]
fn a_card_retried_after_429_delivered_once_then_escalated_and_resolved_cards() {
    let dir = tempfile::tempdir().unwrap();
    let throttled = error(429, "WorkflowRequestsThrottled", "Rate limit is exceeded.").header("retry-after", "1");
    let teams = FakeTeams::scripted(vec![throttled]);
    let s = Server::builder(dir.path())
        .config(&config(""))
        .args(&["--clock", "event"])
        .env("CW_TEAMS_WEBHOOK", &teams.url())
        .start();
    let hostile = "Acme is down [click](https://evil.example) **now** _x_ {{DATE(2017-02-14T06:08:39Z, SHORT)}} \u{202e}nwod\u{202c}";
    // two quiet days, then a mixed burst: six times the usual volume, a third of it angry
    // (warning: more negative than usual, not mostly negative)
    for day in ["2026-03-02T00:00:00Z", "2026-03-03T00:00:00Z"] {
        s.post_ndjson(mentions(day, 1440, 2, 0, "", &format!("q{}-", &day[8..10])));
    }
    s.post_ndjson(mentions("2026-03-04T00:00:00Z", 15, 12, 3, hostile, "a"));
    // throttled once, then posted again after the `Retry-After`, the same bytes
    let posts = teams.wait_until(30, |p| p.len() >= 2);
    assert_eq!(posts.len(), 2, "{:?}\n{}", teams.malformed(), s.logs());
    assert_eq!((posts[0].status, posts[1].status), (429, 202));
    assert!(posts[1].at - posts[0].at >= Duration::from_secs(1), "retried after Retry-After: 1");
    assert_eq!(posts[0].body, posts[1].body, "a retry sends the same card");
    assert_eq!(teams.malformed(), Vec::<String>::new(), "well-formed for Teams");
    let card = posts[1].card();
    assert!(banner(&posts[1]).contains("WARNING · Acme"), "{}", banner(&posts[1]));
    let links = actions(card);
    let titles: Vec<&str> = links.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(titles, ["Open in dashboard", "Acknowledge"]);
    assert!(links.iter().all(|(_, u)| u.starts_with(&format!("{}/l/", s.base))), "signed links: {links:?}");
    let mut texts = Vec::new();
    runs(card, &mut texts);
    let post =
        texts.iter().find(|t| t.contains("[click](https://evil.example) **now** _x_")).expect("the post, as written");
    assert!(!post.contains('\u{202e}') && !post.contains("{{"), "{post:?}");
    assert!(!posts[1].body.to_string().contains("\"url\":\"https://evil.example"), "no link from post text");
    // the links work: the open link shows the incident, the acknowledge link asks to confirm
    let c = support::server::client();
    let page = c.get(&links[1].1).send().unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().unwrap().contains("Acknowledge as comms-teams"));
    assert_eq!(c.get(&links[0].1).send().unwrap().status(), 200);
    // delivered once: nothing more for the alert
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(teams.posts().len(), 2, "{:?}", teams.posts().iter().map(banner).collect::<Vec<_>>());

    // louder and mostly angry: the incident escalates to critical, a new card
    s.post_ndjson(mentions("2026-03-04T00:15:00Z", 10, 40, 1, hostile, "b"));
    let posts = teams.wait_until(30, |p| p.iter().any(|p| banner(p).contains("ESCALATED")));
    let Some(escalated) = posts.iter().find(|p| banner(p).contains("ESCALATED")) else {
        panic!("no escalation card: {:?}\n{}", posts.iter().map(banner).collect::<Vec<_>>(), s.get("/v1/alerts"));
    };
    assert_eq!(escalated.status, 202);
    assert_eq!(escalated.card()["body"][0]["style"], "attention", "{}", banner(escalated));
    // resolved: another new card, without Acknowledge
    let incidents = s.get("/v1/alerts");
    let id = incidents["alerts"][0]["id"].as_str().unwrap().to_string();
    let r = c.post(s.url(&format!("/v1/alerts/{id}/resolve"))).send().unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap_or_default());
    let posts = teams.wait_until(30, |p| p.iter().any(|p| banner(p).contains("RESOLVED")));
    let resolved = posts.iter().find(|p| banner(p).contains("RESOLVED")).expect("a resolution card");
    assert_eq!(resolved.card()["body"][0]["style"], "good");
    let titles: Vec<String> = actions(resolved.card()).into_iter().map(|(t, _)| t).collect();
    assert_eq!(titles, ["Open in dashboard"]);
    assert_eq!(teams.malformed(), Vec::<String>::new());
    assert!(!s.logs().contains(SIG), "the workflow URL is never logged");
    s.terminate();
}

#[test]
fn notify_test_posts_a_sample_card_and_says_why_not_without_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    let run = |teams: &FakeTeams| {
        Command::new(support::bin())
            .args(["notify-test", "--config", cfg.to_str().unwrap(), "--receiver", "comms-teams"])
            .env("CW_TEAMS_WEBHOOK", teams.url())
            .output()
            .unwrap()
    };
    std::fs::write(&cfg, config("public_url = \"https://cw.example.com\"\n")).unwrap();
    let teams = FakeTeams::start();
    let o = run(&teams);
    assert!(o.status.success(), "{}", support::stderr(&o));
    let posts = teams.posts();
    assert_eq!((posts.len(), teams.malformed()), (1, Vec::<String>::new()));
    assert!(banner(&posts[0]).contains("TEST") && banner(&posts[0]).contains("Acme (TEST)"), "{}", banner(&posts[0]));
    let links = actions(posts[0].card());
    assert_eq!(links.len(), 2);
    assert!(links.iter().all(|(_, u)| u.starts_with("https://cw.example.com/")), "{links:?}");

    // refused: the status and Power Automate's code, never the URL's `sig`
    let echo = format!("The trigger at '{}' did not match its schema.", teams.url());
    let refusing = FakeTeams::scripted(vec![error(400, "TriggerInputSchemaMismatch", &echo)]);
    let o = run(&refusing);
    assert_eq!(o.status.code(), Some(1));
    let err = support::stderr(&o);
    assert!(err.contains("HTTP 400") && err.contains("TriggerInputSchemaMismatch"), "{err}");
    assert!(!err.contains(SIG), "{err}");

    // an address nobody can open: the card goes without links rather than with broken ones
    std::fs::write(&cfg, config("public_url = \"http://0.0.0.0:8686\"\n")).unwrap();
    let teams = FakeTeams::start();
    let o = run(&teams);
    assert!(o.status.success(), "{}", support::stderr(&o));
    let card = teams.posts()[0].card().clone();
    assert!(card.get("actions").is_none(), "{card}");
    assert!(card.to_string().contains("No links"), "{card}");
}

#[test]
fn a_receiver_with_lang_and_timezone_gets_its_card_in_russian_in_moscow_time() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    let text = config("public_url = \"https://cw.example.com\"\n").replace(
        "url_env = \"CW_TEAMS_WEBHOOK\"\n",
        "url_env = \"CW_TEAMS_WEBHOOK\"\nlang = \"ru\"\ntimezone = \"Europe/Moscow\"\n",
    );
    assert!(text.contains("lang = \"ru\""));
    std::fs::write(&cfg, text).unwrap();
    let teams = FakeTeams::start();
    let o = Command::new(support::bin())
        .args(["notify-test", "--config", cfg.to_str().unwrap(), "--receiver", "comms-teams"])
        .env("CW_TEAMS_WEBHOOK", teams.url())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", support::stderr(&o));
    let posts = teams.posts();
    assert_eq!((posts.len(), teams.malformed()), (1, Vec::<String>::new()));
    let card = posts[0].card();
    assert_eq!(banner(&posts[0]), "🧪 ТЕСТ · ПРЕДУПРЕЖДЕНИЕ · Acme (TEST)");
    assert!(card.get("rtl").is_none(), "Russian reads left to right");
    let titles: Vec<String> = actions(card).into_iter().map(|(t, _)| t).collect();
    assert_eq!(titles, ["Открыть в панели", "Беру в работу"]);
    let facts: Vec<(&str, &str)> = card["body"][1]["facts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["title"].as_str().unwrap(), f["value"].as_str().unwrap()))
        .collect();
    let names: Vec<&str> = facts.iter().map(|f| f.0).collect();
    assert_eq!(names, ["Сейчас", "Обычно", "Период", "Вероятность", "Доля негатива", "Тип"]);
    // Moscow is UTC+3 all year; the zone is shown with the window
    assert!(facts[2].1.ends_with("(Europe/Moscow, UTC+03:00)"), "{facts:?}");
    let mut texts = Vec::new();
    runs(card, &mut texts);
    assert!(texts.iter().any(|t| t.starts_with("негативные упоминания: в 8 раз больше обычного")), "{texts:?}");
    assert!(texts.iter().any(|t| t.contains("1 пост, репостнутый 120 раз")), "{texts:?}");
}
