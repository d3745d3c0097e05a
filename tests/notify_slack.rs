//! The Slack receiver end to end: the real `crisiswatch serve` raises an incident from a
//! stream with a spike and posts it to a fake Slack on `127.0.0.1` (`support::slack`, which
//! checks every message against Block Kit's rules) through the Web API (with buttons) and an
//! incoming webhook; a rate-limited `chat.postMessage` is retried after its `Retry-After`;
//! Slack's signed button presses act on the incident (recorded as `@user (Slack)`) and the
//! message is edited in place, while badly signed and expired ones are refused with 401 and
//! change nothing. And the Web API notifier on its own, with the service's store: later
//! notifications of the same incident edit the first message instead of posting another (an
//! escalation also replies in its thread, broadcast to the channel).

mod support;

use crisiswatch::notify::channel::slack::{blocks, interaction, Slack};
use crisiswatch::notify::{Delivery, Notifier, Outgoing};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::server::Server;
use support::slack::{error, FakeSlack};

const TOKEN: &str = "xoxb-1234-5678-slackTestToken";
const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const CHANNEL: &str = "C0123456789";

fn config(api_url: &str) -> String {
    format!(
        "[notify]\ngroup_wait = \"1s\"\nretry_base = \"100ms\"\nretry_max = \"1s\"\nmax_attempts = 5\n\
         [[notify.receiver]]\nname = \"comms-slack\"\nkind = \"slack\"\nbot_token_env = \"CW_SLACK_BOT_TOKEN\"\n\
         channel = \"{CHANNEL}\"\nsigning_secret_env = \"CW_SLACK_SIGNING_SECRET\"\napi_url = \"{api_url}\"\n\
         [[notify.receiver]]\nname = \"comms-hook\"\nkind = \"slack\"\nwebhook_url_env = \"CW_SLACK_WEBHOOK\"\n\
         [[notify.team]]\nname = \"comms\"\nreceivers = [\"comms-slack\", \"comms-hook\"]\n\
         [[notify.route]]\nladder = [{{ teams = [\"comms\"] }}]\n"
    )
}

/// `application/x-www-form-urlencoded` with one field, `payload`, as Slack sends it.
fn form(payload: &Value) -> String {
    let enc: String = payload
        .to_string()
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("payload={enc}")
}

fn press(s: &Server, body: &str, timestamp: i64, secret: &str) -> u16 {
    let ts = timestamp.to_string();
    reqwest::blocking::Client::new()
        .post(s.url("/v1/slack/interactions"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", &ts)
        .header("x-slack-signature", interaction::signature(secret.as_bytes(), &ts, body.as_bytes()))
        .body(body.to_string())
        .send()
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn slack_message_with_buttons_a_signed_acknowledgement_and_the_message_updated_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let slack = FakeSlack::scripted(TOKEN, vec![error(429, "ratelimited").header("retry-after", "1")]);
    let s = Server::builder(dir.path())
        .config(&config(&slack.api_url()))
        .args(&["--clock", "event"])
        .env("CW_SLACK_BOT_TOKEN", TOKEN)
        .env("CW_SLACK_SIGNING_SECRET", SIGNING_SECRET)
        .env("CW_SLACK_WEBHOOK", &slack.webhook_url())
        .start();
    for b in support::crisis_stream("Acme app is down again <!channel> <b>&</b> \u{202e}nwod\u{202c}") {
        s.post_ndjson(b);
    }
    // rate limited once, then posted after the `Retry-After`
    let posts = slack.wait_for("chat.postMessage", 2, 30);
    assert_eq!(posts.len(), 2, "{:?}\n{}", slack.calls(), s.logs());
    assert!(posts[1].at - posts[0].at >= Duration::from_secs(1), "retried after Retry-After: 1");
    let hooks = slack.wait_for("webhook", 1, 30);
    assert_eq!(hooks.len(), 1, "the incoming webhook got it too");
    assert_eq!(slack.malformed(), Vec::<String>::new(), "well-formed Block Kit");
    let m = &posts[1].body;
    assert_eq!(m["channel"], CHANNEL);
    let all = m.to_string();
    assert!(all.contains("&lt;!channel&gt; &lt;b&gt;&amp;&lt;/b&gt;") && !all.contains("<!channel>"), "{all}");
    assert!(all.contains("/l/") && all.contains("|Open the incident>"), "a signed open link: {all}");
    let actions = m["blocks"].as_array().unwrap().iter().find(|b| b["type"] == "actions").expect("buttons").clone();
    let labels: Vec<&str> =
        actions["elements"].as_array().unwrap().iter().map(|b| b["text"]["text"].as_str().unwrap()).collect();
    assert_eq!(labels, ["Acknowledge", "Escalate now", "Mute 1h"]);
    assert!(
        hooks[0].body["blocks"].as_array().unwrap().iter().all(|b| b["type"] != "actions"),
        "no buttons on a webhook"
    );
    assert!(s.logs().find(TOKEN).is_none() && s.logs().find("XXXXsecretXXXX").is_none(), "secrets never logged");
    // the chart, in the first message's thread, through Slack's upload flow
    let done = slack.wait_for("files.completeUploadExternal", 1, 30);
    assert_eq!(done.len(), 1, "{:?}\n{}", slack.calls(), s.logs());
    let posted_ts = slack.calls().into_iter().rev().find(|c| c.method == "chat.postMessage").map(|c| c.at);
    assert!(posted_ts.is_some_and(|at| at <= done[0].at), "uploaded after the message was posted");
    assert_eq!(done[0].body["channel_id"], CHANNEL);
    assert!(done[0].body["thread_ts"].as_str().is_some_and(|t| t.ends_with(".000100")), "{:?}", done[0].body);
    let uploads = slack.uploads();
    assert_eq!(uploads.len(), 1);
    assert_eq!(&uploads[0].1[..4], b"\x89PNG", "a PNG chart");
    assert!(done[0].body["files"].as_str().unwrap().contains(&uploads[0].0), "{:?}", done[0].body);
    let incident = actions["elements"][0]["value"].as_str().unwrap().to_string();
    let posted_ts = "1700000001.000100"; // the fake's first ts
    let payload = json!({
        "type": "block_actions", "user": {"id": "U1", "username": "dana", "name": "dana", "team_id": "T1"},
        "api_app_id": "A1", "token": "legacy", "container": {"type": "message", "message_ts": posted_ts, "channel_id": CHANNEL},
        "channel": {"id": CHANNEL, "name": "comms"}, "response_url": "https://hooks.slack.com/actions/T1/1/x",
        "message": {"type": "message", "ts": posted_ts, "text": m["text"], "blocks": m["blocks"]},
        "actions": [{"type": "button", "action_id": actions["elements"][0]["action_id"], "block_id": "crisiswatch_actions",
            "value": incident, "action_ts": "1700000002.1"}]
    });
    let body = form(&payload);
    let now = crisiswatch::clock::wall_ms() / 1000;
    let acked = || s.get(&format!("/v1/alerts/{incident}"))["acknowledged_by"].clone();
    assert_eq!(press(&s, &body, now, "not-the-secret"), 401, "badly signed");
    assert_eq!(press(&s, &body, now - 600, SIGNING_SECRET), 401, "expired timestamp");
    assert_eq!(acked(), Value::Null, "refused presses change nothing");
    assert_eq!(press(&s, &body, now, SIGNING_SECRET), 200);
    assert_eq!(acked(), "@dana (Slack)");
    let updates = slack.wait_for("chat.update", 1, 30);
    assert_eq!(updates.len(), 1, "{:?}", slack.calls());
    let u = &updates[0].body;
    assert_eq!((u["channel"].as_str(), u["ts"].as_str()), (Some(CHANNEL), Some(posted_ts)), "the same message");
    assert!(u.to_string().contains("Acknowledged by @dana (Slack)"), "{u}");
    assert!(u["blocks"].as_array().unwrap().iter().all(|b| b["type"] != "actions"), "buttons gone");
    assert_eq!(slack.malformed(), Vec::<String>::new());
    s.terminate();
}

#[test]
fn a_later_notification_of_an_incident_updates_its_message_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let store = crisiswatch::store::open(&dir.path().join("crisiswatch.db"), false).unwrap();
    let refs = Arc::new(crisiswatch::serve::actions::StoreMessageRefs(Mutex::new(store)));
    let slack = FakeSlack::start(TOKEN);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let notifier = Slack::bot("comms-slack", TOKEN, CHANNEL, &slack.api_url(), Some(refs)).unwrap();
    let lead = crisiswatch::notify::sample_event(crisiswatch::clock::wall_ms());
    let out = |kind: &str, id: i64| {
        Outgoing {
        id,
        idempotency_key: format!("k{id}"),
        kind: kind.into(),
        body: json!({"slack": blocks::render(kind, &lead, &[], "https://cw.example.com/incidents/x", true, &Default::default()),
            "incident": lead["id"]})
        .to_string(),
    }
    };
    assert_eq!(rt.block_on(notifier.deliver(&out("alert", 1))), Delivery::Delivered);
    assert_eq!(rt.block_on(notifier.deliver(&out("escalated", 2))), Delivery::Delivered);
    assert_eq!(rt.block_on(notifier.deliver(&out("resolved", 3))), Delivery::Delivered);
    let first = "1700000001.000100";
    let posted = slack.wait_for("chat.postMessage", 2, 5);
    let updated = slack.wait_for("chat.update", 2, 5);
    assert_eq!((posted.len(), updated.len()), (2, 2), "{:?}", slack.calls());
    assert!(updated.iter().all(|u| u.body["ts"] == first && u.body["channel"] == CHANNEL), "the first message edited");
    assert!(updated[1].body["text"].as_str().unwrap().contains("RESOLVED"));
    // the escalation also pings, in the message's thread and the channel; the resolution not
    assert_eq!((&posted[1].body["thread_ts"], &posted[1].body["reply_broadcast"]), (&json!(first), &json!(true)));
    // an ops notice is no incident's message: always a new one
    let ops = Outgoing {
        id: 4,
        idempotency_key: "k4".into(),
        kind: "ops".into(),
        body: json!({"problem": "x <y>"}).to_string(),
    };
    assert_eq!(rt.block_on(notifier.deliver(&ops)), Delivery::Delivered);
    let posted = slack.wait_for("chat.postMessage", 3, 5);
    assert_eq!(posted.len(), 3);
    assert!(posted[2].body["thread_ts"].is_null());
    assert_eq!(slack.malformed(), Vec::<String>::new());
}
