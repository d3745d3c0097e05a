//! Notifications end to end: the real `crisiswatch serve` raises an incident from a stream
//! with a spike and delivers it to real local HTTP receivers (signed webhooks). Faults: a
//! receiver answering 500 twice, a receiver that is down across a restart; escalation to the
//! next ladder step after the acknowledgement timeout, and none once acknowledged. The service,
//! the receivers, the Bot API and the SMTP server are the shared harnesses in `support/`.

mod support;

use hmac::{KeyInit, Mac};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use support::http::Request as Got;
use support::server::Server;
use support::smtp::FakeSmtp;
use support::telegram::FakeTelegram;
use support::webhook::Webhook as Hook;

/// The service with `config`, the event clock and the webhook secret.
fn serve(dir: &Path, config: &str) -> Server {
    Server::builder(dir).config(config).args(&["--clock", "event"]).env("CW_HOOK_SECRET", "hook-key").start()
}

/// The shared crisis stream ([`support::crisis_stream`]) with this file's angry text.
fn crisis_stream() -> Vec<String> {
    support::crisis_stream("Acme app is down again, can't log in <b>&</b> \u{202e}nwod\u{202c}")
}

fn verify(g: &Got) {
    let ts = g.header("x-crisiswatch-timestamp");
    let sig = g.header("x-crisiswatch-signature").strip_prefix("sha256=").expect("sha256= prefix");
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(b"hook-key").unwrap();
    mac.update(format!("{ts}.{}", g.text()).as_bytes());
    let want: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(sig, want, "signature over timestamp.body");
    let age = crisiswatch::clock::wall_ms() / 1000 - ts.parse::<i64>().unwrap();
    assert!((0..120).contains(&age), "fresh timestamp");
}

fn config(receivers: &str, ladder: &str) -> String {
    format!(
        "[notify]\ngroup_wait = \"1s\"\nretry_base = \"100ms\"\nretry_max = \"1s\"\nmax_attempts = 5\n{receivers}\n\
         [[notify.team]]\nname = \"pr\"\nreceivers = [\"pr-hook\"]\n\
         [[notify.team]]\nname = \"execs\"\nreceivers = [\"exec-hook\"]\n\
         [[notify.route]]\nladder = [{ladder}]\n"
    )
}

fn receivers(pr: &str, execs: &str) -> String {
    format!(
        "[[notify.receiver]]\nname = \"pr-hook\"\nkind = \"webhook\"\nurl = \"{pr}\"\nsecret_env = \"CW_HOOK_SECRET\"\n\
         [[notify.receiver]]\nname = \"exec-hook\"\nkind = \"webhook\"\nurl = \"{execs}\"\nsecret_env = \"CW_HOOK_SECRET\"\n"
    )
}

#[test]
fn a_failing_receiver_gets_it_once_it_answers_with_the_same_key() {
    let dir = tempfile::tempdir().unwrap();
    let (pr, execs) = (Hook::start(&[500, 500]), Hook::start(&[]));
    let s = serve(dir.path(), &config(&receivers(&pr.url(), &execs.url()), "{ teams = [\"pr\"] }"));
    for b in crisis_stream() {
        s.post_ndjson(b);
    }
    let got = pr.wait_for(3, 30);
    assert!(got.len() >= 3, "two 500s, then delivered: {got:?}");
    let key = got[0].header("idempotency-key").to_string();
    // crisiswatch-<16 hex digits of the installation>-k<16 hex digits of what it is about>:
    // unique across installations, the same on every node of a cluster
    let parts: Vec<&str> = key.splitn(3, '-').collect();
    let hex16 = |s: &str| s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit());
    assert!(
        parts.len() == 3
            && parts[0] == "crisiswatch"
            && hex16(parts[1])
            && parts[2].strip_prefix('k').is_some_and(hex16),
        "{key}"
    );
    assert!(got[..3].iter().all(|g| g.header("idempotency-key") == key), "one key across retries");
    assert!(got[..3].iter().all(|g| g.body == got[0].body), "identical bytes across retries");
    for g in &got {
        verify(g);
    }
    let v: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(v["schema"], "crisiswatch.alert.v1");
    assert_eq!(v["brand"], "acme");
    assert_eq!(v["notification"]["kind"], "alert");
    assert_eq!(v["category"], "outage", "{v}");
    assert!(v["suggested_responses"].as_array().unwrap().iter().any(|r| r["lang"] == "en"));
    assert!(
        v["notification"]["ack_url"].as_str().unwrap().starts_with(&format!("{}/l/", s.base)),
        "a signed link: {v}"
    );
    let dashboard = format!("{}/incidents/{}", s.base, v["id"].as_str().unwrap());
    assert_eq!(v["notification"]["dashboard_url"].as_str(), Some(dashboard.as_str()), "{v}");
    std::thread::sleep(Duration::from_millis(500));
    let again = pr.requests().iter().filter(|g| g.header("idempotency-key") == key).count();
    assert_eq!(again, 3, "nothing re-sent after the 200");
    assert!(execs.requests().is_empty(), "one-step ladder: executives not involved");
    s.terminate();
}

#[test]
fn a_receiver_down_across_a_restart_gets_it_after() {
    let dir = tempfile::tempdir().unwrap();
    let pr = Hook::down(); // its port is held, every connection closed unanswered
    let execs = Hook::start(&[]);
    let cfg = config(&receivers(&pr.url(), &execs.url()), "{ teams = [\"pr\"] }")
        .replace("max_attempts = 5", "max_attempts = 1000");
    let s = serve(dir.path(), &cfg);
    for b in crisis_stream() {
        s.post_ndjson(b);
    }
    // wait until a delivery was attempted and failed
    let db = dir.path().join("data/crisiswatch.db");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let c = rusqlite::Connection::open(&db).unwrap();
        let n: i64 = c
            .query_row("SELECT count(*) FROM notifications WHERE status = 'pending' AND attempts > 0", [], |r| r.get(0))
            .unwrap_or(0);
        if n > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "no failed attempt recorded");
        std::thread::sleep(Duration::from_millis(50));
    }
    s.terminate();
    pr.set_down(false);
    let s = serve(dir.path(), &cfg);
    let got = pr.wait_for(1, 30);
    assert!(!got.is_empty(), "delivered after the restart");
    verify(&got[0]);
    let c = rusqlite::Connection::open(&db).unwrap();
    let (delivered, pending): (i64, i64) = c
        .query_row(
            "SELECT sum(status = 'delivered'), sum(status = 'pending') FROM notifications WHERE receiver = 'pr-hook'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(delivered >= 1 && pending == 0, "{delivered} delivered, {pending} pending");
    let metrics = reqwest::blocking::get(format!("{}/metrics", s.base)).unwrap().text().unwrap();
    assert!(metrics.contains("crisiswatch_notifications_pending 0\n"), "{metrics}");
    assert!(metrics.contains("crisiswatch_notifications_dead 0\n"));
    s.terminate();
}

#[test]
fn executives_after_the_ack_timeout_and_not_once_acknowledged() {
    let ladder = "{ teams = [\"pr\"] }, { teams = [\"execs\"], after = \"3s\" }";
    // nobody acknowledges: the executives hear of it
    let dir = tempfile::tempdir().unwrap();
    let (pr, execs) = (Hook::start(&[]), Hook::start(&[]));
    let s = serve(dir.path(), &config(&receivers(&pr.url(), &execs.url()), ladder));
    for b in crisis_stream() {
        s.post_ndjson(b);
    }
    let first = pr.wait_for(1, 30);
    assert!(!first.is_empty());
    let t = Instant::now();
    let got = execs.wait_for(1, 30);
    assert!(!got.is_empty(), "escalated to executives");
    assert!(t.elapsed() >= Duration::from_millis(1500), "not before the timeout");
    let v: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(v["notification"]["step"], 1);
    s.terminate();

    // PR acknowledges at once: the executives are not bothered
    let dir = tempfile::tempdir().unwrap();
    let (pr, execs) = (Hook::start(&[]), Hook::start(&[]));
    let s = serve(dir.path(), &config(&receivers(&pr.url(), &execs.url()), ladder));
    for b in crisis_stream() {
        s.post_ndjson(b);
    }
    let got = pr.wait_for(1, 30);
    let v: Value = serde_json::from_slice(&got[0].body).unwrap();
    let c = reqwest::blocking::Client::new();
    for id in v["notification"]["incidents"].as_array().unwrap() {
        let r = c.post(format!("{}/v1/alerts/{}/ack", s.base, id.as_str().unwrap())).send().unwrap();
        assert_eq!(r.status(), 200);
    }
    std::thread::sleep(Duration::from_secs(5));
    assert!(execs.requests().is_empty(), "acknowledged in time: no escalation");
    s.terminate();
}

/// Parses every message in a maildir with Python's `email` package: subject, and each part's
/// content type and decoded text.
fn read_maildir(dir: &Path) -> Vec<Value> {
    let script = r#"
import email, email.policy, json, os, sys
out = []
d = os.path.join(sys.argv[1], "new")
for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
    m = email.message_from_bytes(open(os.path.join(d, name), "rb").read(), policy=email.policy.default)
    parts = []
    for i, p in enumerate(x for x in m.walk() if not x.is_multipart()):
        c = p.get_content()
        if isinstance(c, bytes):
            path = os.path.join(sys.argv[1], "part-%d.bin" % i)
            open(path, "wb").write(c)
            parts.append({"type": p.get_content_type(), "cid": p["content-id"], "path": path, "len": len(c)})
        else:
            parts.append({"type": p.get_content_type(), "text": c})
    out.append({"subject": m["subject"], "to": m["to"], "type": m.get_content_type(), "message_id": m["message-id"], "parts": parts})
print(json.dumps(out))
"#;
    let o = Command::new("python3").args(["-c", script, dir.to_str().unwrap()]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn email_arrives_as_readable_text_and_html_through_a_real_smtp_server() {
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("maildir");
    let smtp = FakeSmtp::start(&maildir, None, &[]);
    let port = smtp.port;
    let execs = Hook::start(&[]);
    let receivers = format!(
        "[notify.smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\nfrom = \"crisiswatch <alerts@acme.example>\"\n\
         [[notify.receiver]]\nname = \"pr-hook\"\nkind = \"email\"\nto = [\"pr-oncall@acme.example\"]\n\
         [[notify.receiver]]\nname = \"exec-hook\"\nkind = \"webhook\"\nurl = \"{}\"\nsecret_env = \"CW_HOOK_SECRET\"\n",
        execs.url()
    );
    let s = serve(dir.path(), &config(&receivers, "{ teams = [\"pr\"] }"));
    for b in crisis_stream() {
        s.post_ndjson(b);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let mails = loop {
        let m = read_maildir(&maildir);
        if !m.is_empty() || Instant::now() > deadline {
            break m;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    s.terminate();
    assert_eq!(mails.len(), 1, "one grouped email: {mails:?}");
    let m = &mails[0];
    let subject = m["subject"].as_str().unwrap();
    assert!(subject.starts_with("[CRITICAL] Acme: ") || subject.starts_with("[WARNING] Acme: "), "{subject}");
    assert!(subject.contains("usual (") && subject.contains(" min)"), "{subject}");
    assert_eq!(m["type"], "multipart/alternative");
    assert_eq!(m["to"], "pr-oncall@acme.example");
    let part = |t: &str| {
        m["parts"].as_array().unwrap().iter().find(|p| p["type"] == t).unwrap()["text"].as_str().unwrap().to_string()
    };
    let (text, html) = (part("text/plain"), part("text/html"));
    assert!(text.contains("Acme app is down again"), "{text}");
    assert!(text.contains("Suggested first responses") && text.contains("[en]"), "{text}");
    assert!(text.contains("Acknowledge (works once, expires): http://") && text.contains("/l/"), "{text}");
    assert!(text.contains("Open in dashboard: http://") && text.contains("/incidents/"), "{text}");
    assert!(html.contains(">Acknowledge</a>") && html.contains(">Open in dashboard</a>"), "{html}");
    assert!(!text.contains("curl"), "no more curl instructions");
    assert!(html.contains("&lt;b&gt;&amp;&lt;"), "post markup is escaped in HTML");
    assert!(!html.contains("<b>&</b>"));
    assert!(html.contains("dir=\"auto\""), "RTL-safe post blocks");
    // the chart, inline
    let png = m["parts"].as_array().unwrap().iter().find(|p| p["type"] == "image/png").expect("an inline chart");
    assert_eq!(png["cid"], "<chart>");
    assert!(html.contains("src=\"cid:chart\""));
    let bytes = std::fs::read(png["path"].as_str().unwrap()).unwrap();
    assert_eq!(&bytes[..4], b"\x89PNG");
    assert!(bytes.len() > 3000);
    // `CW_WRITE_DOCS=1 cargo test --test notify_cli email` refreshes the pictures in docs/
    if std::env::var_os("CW_WRITE_DOCS").is_some() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::write(docs.join("example-alert-email.html"), html.replace("cid:chart", "example-alert-chart.png"))
            .unwrap();
        std::fs::write(docs.join("example-alert-chart.png"), &bytes).unwrap();
        std::fs::write(docs.join("example-alert-email.txt"), format!("Subject: {subject}\n\n{text}")).unwrap();
    }
}

#[test]
fn notify_test_sends_a_sample_through_one_receiver() {
    let dir = tempfile::tempdir().unwrap();
    let (pr, execs) = (Hook::start(&[]), Hook::start(&[]));
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, config(&receivers(&pr.url(), &execs.url()), "{ teams = [\"pr\"] }")).unwrap();
    let run = |name: &str| {
        Command::new(support::bin())
            .args(["notify-test", "--config", cfg.to_str().unwrap(), "--receiver", name])
            .env("CW_HOOK_SECRET", "hook-key")
            .output()
            .unwrap()
    };
    let o = run("exec-hook");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got = execs.wait_for(1, 10);
    verify(&got[0]);
    let v: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(v["notification"]["kind"], "test");
    assert_eq!(v["schema"], "crisiswatch.alert.v1");
    assert!(pr.requests().is_empty(), "only the named receiver");
    let o = run("nobody");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no receiver `nobody`"));
    // a receiver that is down: exit 1 with the reason
    let down = Hook::down();
    std::fs::write(&cfg, config(&receivers(&down.url(), &execs.url()), "{ teams = [\"pr\"] }")).unwrap();
    let o = run("pr-hook");
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not delivered"));
}

#[test]
fn a_refused_notification_is_dead_lettered_and_the_others_are_told() {
    let dir = tempfile::tempdir().unwrap();
    let (pr, execs) = (Hook::start(&[400]), Hook::start(&[]));
    let s = serve(dir.path(), &config(&receivers(&pr.url(), &execs.url()), "{ teams = [\"pr\"] }"));
    for b in crisis_stream() {
        s.post_ndjson(b);
    }
    let ops = execs.wait_for(1, 30);
    assert!(!ops.is_empty(), "an ops notice reached the other receiver");
    let v: Value = serde_json::from_slice(&ops[0].body).unwrap();
    assert_eq!(v["schema"], "crisiswatch.ops.v1");
    assert!(v["problem"].as_str().unwrap().contains("HTTP 400"), "{v}");
    verify(&ops[0]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(pr.requests().len(), 1, "a 4xx is not retried");
    let metrics = reqwest::blocking::get(format!("{}/metrics", s.base)).unwrap().text().unwrap();
    assert!(metrics.contains("crisiswatch_notifications_dead 1\n"), "{metrics}");
    s.terminate();
}

#[test]
fn telegram_message_with_buttons_and_an_acknowledging_callback() {
    let dir = tempfile::tempdir().unwrap();
    let tg = FakeTelegram::start();
    let execs = Hook::start(&[]);
    let receivers = format!(
        "[notify.telegram]\ntoken_env = \"CW_HOOK_SECRET\"\napi_url = \"{}\"\n\
         [[notify.receiver]]\nname = \"pr-hook\"\nkind = \"telegram\"\nchat_id = 4242\n\
         [[notify.receiver]]\nname = \"pr-ru\"\nkind = \"telegram\"\nchat_id = 4343\nlang = \"ru\"\n\
         [[notify.receiver]]\nname = \"exec-hook\"\nkind = \"webhook\"\nurl = \"{}\"\nsecret_env = \"CW_HOOK_SECRET\"\n",
        tg.api_url(),
        execs.url()
    );
    let s = serve(dir.path(), &config(&receivers, "{ teams = [\"pr\"] }"));
    for b in crisis_stream() {
        s.post_ndjson(b);
    }
    let sent = tg.wait_for("sendmessage", 30).expect("sendMessage called");
    assert_eq!(sent["chat_id"], 4242);
    assert_eq!(sent["parse_mode"], "HTML");
    let text = sent["text"].as_str().unwrap();
    assert!(text.contains("&lt;b&gt;&amp;&lt;/b&gt;"), "user text escaped: {text}");
    assert!(text.chars().count() <= 4096);
    assert!(text.contains("/l/") && text.contains(">Open the incident</a>"), "a signed open link: {text}");
    let buttons = &sent["reply_markup"]["inline_keyboard"][0];
    let labels: Vec<&str> = buttons.as_array().unwrap().iter().map(|b| b["text"].as_str().unwrap()).collect();
    assert_eq!(labels, ["Acknowledge", "Escalate now", "Mute 1h"]);
    let photo = tg.wait_for("sendphoto", 30).expect("the chart follows as a photo");
    assert!(photo["bytes"].as_u64().unwrap() > 3000, "{photo}");
    let ack = buttons[0]["callback_data"].as_str().unwrap().to_string();
    let incident = ack.strip_prefix("ack:").unwrap().to_string();
    // Dana presses "Acknowledge"
    tg.push_update(serde_json::json!({
        "update_id": 7,
        "callback_query": {
            "id": "cb1", "chat_instance": "ci", "data": ack,
            "from": {"id": 9, "is_bot": false, "first_name": "Dana", "username": "dana"},
            "message": {"message_id": 101, "date": 1_700_000_000, "text": "alert", "chat": {"id": 4242, "type": "private", "first_name": "PR"}}
        }
    }));
    let answered = tg.wait_for("answercallbackquery", 30).expect("callback answered");
    assert_eq!(answered["callback_query_id"], "cb1");
    let edited = tg.wait_for("editmessagetext", 30).expect("message edited");
    assert!(edited["text"].as_str().unwrap().contains("Acknowledged by @dana (Telegram)"), "{edited}");
    let h: Value = reqwest::blocking::get(format!("{}/v1/alerts/{incident}", s.base)).unwrap().json().unwrap();
    assert_eq!(h["acknowledged_by"], "@dana (Telegram)", "{h}");
    // a press on a message of the Russian receiver's chat is answered in Russian
    tg.push_update(serde_json::json!({
        "update_id": 8,
        "callback_query": {
            "id": "cb2", "chat_instance": "ci", "data": format!("mute:{incident}"),
            "from": {"id": 9, "is_bot": false, "first_name": "Dana", "username": "dana"},
            "message": {"message_id": 102, "date": 1_700_000_000, "text": "alert", "chat": {"id": 4343, "type": "private", "first_name": "PR"}}
        }
    }));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let russian = loop {
        let edits: Vec<Value> =
            tg.calls().into_iter().filter(|(m, _)| m == "editmessagetext").map(|(_, v)| v).collect();
        if edits.len() >= 2 || std::time::Instant::now() > deadline {
            break edits.get(1).cloned().unwrap_or_default();
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(russian["text"].as_str().unwrap_or("").contains("Тишина на 1 ч: @dana (Telegram)"), "{russian}");
    s.terminate();
}

#[test]
fn an_alertmanager_format_webhook_gets_version_4_signed_like_ours() {
    let dir = tempfile::tempdir().unwrap();
    let (pr, execs) = (Hook::start(&[]), Hook::start(&[]));
    let cfg = dir.path().join("c.toml");
    let receivers = receivers(&pr.url(), &execs.url()).replace(
        "name = \"exec-hook\"\nkind = \"webhook\"\n",
        "name = \"exec-hook\"\nkind = \"webhook\"\nformat = \"alertmanager\"\n",
    );
    std::fs::write(&cfg, config(&receivers, "{ teams = [\"pr\"] }")).unwrap();
    let o = Command::new(support::bin())
        .args(["notify-test", "--config", cfg.to_str().unwrap(), "--receiver", "exec-hook"])
        .env("CW_HOOK_SECRET", "hook-key")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got = execs.wait_for(1, 10);
    verify(&got[0]);
    let v: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!((v["version"].as_str(), v["receiver"].as_str()), (Some("4"), Some("exec-hook")), "{v}");
    let a = &v["alerts"][0];
    assert_eq!(a["labels"]["brand"], "acme", "{v}");
    assert!(a["labels"]["alertname"].as_str().unwrap().starts_with("crisiswatch_"), "{v}");
    assert!(a["fingerprint"].as_str().is_some_and(|f| f.len() == 16), "{v}");
    // a format that does not exist: refused at its place
    std::fs::write(&cfg, config(&receivers.replace("\"alertmanager\"", "\"pagerduty\""), "{ teams = [\"pr\"] }"))
        .unwrap();
    let o = Command::new(support::bin())
        .args(["check", "--config", cfg.to_str().unwrap()])
        .env("CW_HOOK_SECRET", "k")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("`format` `pagerduty` is not `crisiswatch` or `alertmanager`"));
}
