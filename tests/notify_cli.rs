//! Notifications end to end: the real `crisiswatch serve` raises an incident from a stream
//! with a spike and delivers it to real local HTTP receivers (signed webhooks). Faults: a
//! receiver answering 500 twice, a receiver that is down across a restart; escalation to the
//! next ladder step after the acknowledgement timeout, and none once acknowledged.

mod support;

use hmac::{KeyInit, Mac};
use serde_json::Value;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A request the receiver got.
#[derive(Debug, Clone)]
struct Got {
    headers: Vec<(String, String)>,
    body: String,
}

impl Got {
    fn header(&self, k: &str) -> &str {
        self.headers.iter().find(|(x, _)| x == k).map_or("", |(_, v)| v.as_str())
    }
}

/// A webhook receiver: answers with the planned statuses (then 200) and records requests.
struct Hook {
    port: u16,
    got: Arc<Mutex<Vec<Got>>>,
}

impl Hook {
    fn start(port: u16, plan: &[u16]) -> Hook {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let plan = Arc::new(Mutex::new(plan.iter().copied().collect::<VecDeque<u16>>()));
        let g = got.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut headers = Vec::new();
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    continue;
                }
                loop {
                    line.clear();
                    reader.read_line(&mut line).unwrap();
                    if line.trim().is_empty() {
                        break;
                    }
                    let (k, v) = line.split_once(':').unwrap();
                    headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                }
                let len: usize =
                    headers.iter().find(|(k, _)| k == "content-length").map_or(0, |(_, v)| v.parse().unwrap());
                let mut body = vec![0; len];
                reader.read_exact(&mut body).unwrap();
                g.lock().unwrap().push(Got { headers, body: String::from_utf8(body).unwrap() });
                let status = plan.lock().unwrap().pop_front().unwrap_or(200);
                let _ = write!(stream, "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            }
        });
        Hook { port, got }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    fn wait_for(&self, n: usize, secs: u64) -> Vec<Got> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let got = self.got.lock().unwrap().clone();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(dir: &Path, config: &str) -> Server {
        let port = free_port();
        std::fs::write(dir.join("c.toml"), config).unwrap();
        let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
        let child = Command::new(support::bin())
            .args(["serve", "--config", dir.join("c.toml").to_str().unwrap(), "--clock", "event"])
            .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir", dir.join("data").to_str().unwrap()])
            .args(["--rules", rules.to_str().unwrap()])
            .env("CW_HOOK_SECRET", "hook-key")
            .env_remove("CRISISWATCH_API_TOKENS")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::OpenOptions::new().create(true).append(true).open(dir.join("serve.log")).unwrap())
            .spawn()
            .unwrap();
        let s = Server { child, base: format!("http://127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_secs(60);
        while reqwest::blocking::get(format!("{}/readyz", s.base)).map(|r| r.status() != 200).unwrap_or(true) {
            assert!(
                Instant::now() < deadline,
                "not ready: {}",
                std::fs::read_to_string(dir.join("serve.log")).unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        s
    }

    fn post(&self, body: String) {
        let r = reqwest::blocking::Client::new()
            .post(format!("{}/v1/mentions", self.base))
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .unwrap();
        assert_eq!(r.status(), 202);
    }

    fn terminate(mut self) {
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(self.child.wait().unwrap().success());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two quiet days of acme (2 mentions a minute), then 400 angry mentions in ten minutes.
fn crisis_stream() -> Vec<String> {
    let start = crisiswatch::time::parse_timestamp("2026-03-02T00:00:00Z").unwrap();
    let mut out = Vec::new();
    let mut batch = String::new();
    for i in 0..2 * 1440 * 2 {
        let ts = crisiswatch::time::format_rfc3339(start + i * 30_000);
        batch.push_str(&support::mention(&format!("q{i}"), &ts, Some("acme"), "bought acme shoes today", Some(0.2)));
        batch.push('\n');
        if i % 1000 == 999 {
            out.push(std::mem::take(&mut batch));
        }
    }
    let spike = start + 2 * 86_400_000;
    for i in 0..400 {
        let ts = crisiswatch::time::format_rfc3339(spike + i * 1500);
        let text = "Acme app is down again, can't log in <b>&</b> \u{202e}nwod\u{202c}";
        batch.push_str(&support::mention(&format!("s{i}"), &ts, Some("acme"), text, Some(-0.8)));
        batch.push('\n');
    }
    out.push(batch);
    out
}

fn verify(g: &Got) {
    let ts = g.header("x-crisiswatch-timestamp");
    let sig = g.header("x-crisiswatch-signature").strip_prefix("sha256=").expect("sha256= prefix");
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(b"hook-key").unwrap();
    mac.update(format!("{ts}.{}", g.body).as_bytes());
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
    let (pr, execs) = (Hook::start(0, &[500, 500]), Hook::start(0, &[]));
    let s = Server::start(dir.path(), &config(&receivers(&pr.url(), &execs.url()), "{ teams = [\"pr\"] }"));
    for b in crisis_stream() {
        s.post(b);
    }
    let got = pr.wait_for(3, 30);
    assert!(got.len() >= 3, "two 500s, then delivered: {got:?}");
    let key = got[0].header("idempotency-key").to_string();
    assert!(key.starts_with("crisiswatch-"), "{key}");
    assert!(got[..3].iter().all(|g| g.header("idempotency-key") == key), "one key across retries");
    assert!(got[..3].iter().all(|g| g.body == got[0].body), "identical bytes across retries");
    for g in &got {
        verify(g);
    }
    let v: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(v["schema"], "crisiswatch.alert.v1");
    assert_eq!(v["brand"], "acme");
    assert_eq!(v["notification"]["kind"], "alert");
    assert_eq!(v["category"], "outage", "{v}");
    assert!(v["suggested_responses"].as_array().unwrap().iter().any(|r| r["lang"] == "en"));
    assert!(v["notification"]["ack_url"].as_str().unwrap().ends_with("/ack"));
    std::thread::sleep(Duration::from_millis(500));
    let again = pr.got.lock().unwrap().iter().filter(|g| g.header("idempotency-key") == key).count();
    assert_eq!(again, 3, "nothing re-sent after the 200");
    assert!(execs.got.lock().unwrap().is_empty(), "one-step ladder: executives not involved");
    s.terminate();
}

#[test]
fn a_receiver_down_across_a_restart_gets_it_after() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port(); // nothing listens here yet
    let url = format!("http://127.0.0.1:{port}/hook");
    let execs = Hook::start(0, &[]);
    let cfg = config(&receivers(&url, &execs.url()), "{ teams = [\"pr\"] }")
        .replace("max_attempts = 5", "max_attempts = 1000");
    let s = Server::start(dir.path(), &cfg);
    for b in crisis_stream() {
        s.post(b);
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
    let pr = Hook::start(port, &[]);
    let s = Server::start(dir.path(), &cfg);
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
    let (pr, execs) = (Hook::start(0, &[]), Hook::start(0, &[]));
    let s = Server::start(dir.path(), &config(&receivers(&pr.url(), &execs.url()), ladder));
    for b in crisis_stream() {
        s.post(b);
    }
    let first = pr.wait_for(1, 30);
    assert!(!first.is_empty());
    let t = Instant::now();
    let got = execs.wait_for(1, 30);
    assert!(!got.is_empty(), "escalated to executives");
    assert!(t.elapsed() >= Duration::from_millis(1500), "not before the timeout");
    let v: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(v["notification"]["step"], 1);
    s.terminate();

    // PR acknowledges at once: the executives are not bothered
    let dir = tempfile::tempdir().unwrap();
    let (pr, execs) = (Hook::start(0, &[]), Hook::start(0, &[]));
    let s = Server::start(dir.path(), &config(&receivers(&pr.url(), &execs.url()), ladder));
    for b in crisis_stream() {
        s.post(b);
    }
    let got = pr.wait_for(1, 30);
    let v: Value = serde_json::from_str(&got[0].body).unwrap();
    let c = reqwest::blocking::Client::new();
    for id in v["notification"]["incidents"].as_array().unwrap() {
        let r = c
            .post(format!("{}/v1/alerts/{}/ack", s.base, id.as_str().unwrap()))
            .json(&serde_json::json!({"who": "dana"}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    std::thread::sleep(Duration::from_secs(5));
    assert!(execs.got.lock().unwrap().is_empty(), "acknowledged in time: no escalation");
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
    let port = free_port();
    struct KillOnDrop(Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _smtp = KillOnDrop(
        Command::new("python3")
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
                maildir.to_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m aiosmtpd (run the tests with `bash scripts/test`, which installs it)"),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "aiosmtpd did not start (run the tests with `bash scripts/test`, which installs it)"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let execs = Hook::start(0, &[]);
    let receivers = format!(
        "[notify.smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\nfrom = \"crisiswatch <alerts@acme.example>\"\n\
         [[notify.receiver]]\nname = \"pr-hook\"\nkind = \"email\"\nto = [\"pr-oncall@acme.example\"]\n\
         [[notify.receiver]]\nname = \"exec-hook\"\nkind = \"webhook\"\nurl = \"{}\"\nsecret_env = \"CW_HOOK_SECRET\"\n",
        execs.url()
    );
    let s = Server::start(dir.path(), &config(&receivers, "{ teams = [\"pr\"] }"));
    for b in crisis_stream() {
        s.post(b);
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
    assert!(text.contains("/ack"));
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
    let (pr, execs) = (Hook::start(0, &[]), Hook::start(0, &[]));
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
    let v: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(v["notification"]["kind"], "test");
    assert_eq!(v["schema"], "crisiswatch.alert.v1");
    assert!(pr.got.lock().unwrap().is_empty(), "only the named receiver");
    let o = run("nobody");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no receiver `nobody`"));
    // a receiver that is down: exit 1 with the reason
    let down = format!("http://127.0.0.1:{}/hook", free_port());
    std::fs::write(&cfg, config(&receivers(&down, &execs.url()), "{ teams = [\"pr\"] }")).unwrap();
    let o = run("pr-hook");
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not delivered"));
}

#[test]
fn a_refused_notification_is_dead_lettered_and_the_others_are_told() {
    let dir = tempfile::tempdir().unwrap();
    let (pr, execs) = (Hook::start(0, &[400]), Hook::start(0, &[]));
    let s = Server::start(dir.path(), &config(&receivers(&pr.url(), &execs.url()), "{ teams = [\"pr\"] }"));
    for b in crisis_stream() {
        s.post(b);
    }
    let ops = execs.wait_for(1, 30);
    assert!(!ops.is_empty(), "an ops notice reached the other receiver");
    let v: Value = serde_json::from_str(&ops[0].body).unwrap();
    assert_eq!(v["schema"], "crisiswatch.ops.v1");
    assert!(v["problem"].as_str().unwrap().contains("HTTP 400"), "{v}");
    verify(&ops[0]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(pr.got.lock().unwrap().len(), 1, "a 4xx is not retried");
    let metrics = reqwest::blocking::get(format!("{}/metrics", s.base)).unwrap().text().unwrap();
    assert!(metrics.contains("crisiswatch_notifications_dead 1\n"), "{metrics}");
    s.terminate();
}

/// A local server speaking the Telegram Bot API (the parts crisiswatch uses): records every
/// call, answers `getUpdates` with a queued callback once asked to.
struct FakeTelegram {
    port: u16,
    calls: Arc<Mutex<Vec<(String, Value)>>>,
    updates: Arc<Mutex<Vec<Value>>>,
}

impl FakeTelegram {
    fn start() -> FakeTelegram {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let calls: Arc<Mutex<Vec<(String, Value)>>> = Arc::new(Mutex::new(Vec::new()));
        let updates: Arc<Mutex<Vec<Value>>> = Arc::new(Mutex::new(Vec::new()));
        let (c, u) = (calls.clone(), updates.clone());
        std::thread::spawn(move || {
            let mut next_id = 100;
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut first = String::new();
                if reader.read_line(&mut first).unwrap_or(0) == 0 {
                    continue;
                }
                let mut len = 0usize;
                let mut line = String::new();
                loop {
                    line.clear();
                    reader.read_line(&mut line).unwrap();
                    if line.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = line.split_once(':') {
                        if k.trim().eq_ignore_ascii_case("content-length") {
                            len = v.trim().parse().unwrap();
                        }
                    }
                }
                let mut body = vec![0; len];
                reader.read_exact(&mut body).unwrap();
                let path = first.split_whitespace().nth(1).unwrap_or("");
                // /bot<token>/<Method>: teloxide writes methods in PascalCase
                let method = path.rsplit('/').next().unwrap_or("").to_ascii_lowercase();
                let params: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let message = |id: i64, text: &str, chat: &Value| {
                    serde_json::json!({"message_id": id, "date": 1_700_000_000, "text": text,
                        "chat": {"id": chat, "type": "private", "first_name": "PR"}})
                };
                let result = match method.as_str() {
                    "sendphoto" => {
                        next_id += 1;
                        serde_json::json!({"message_id": next_id, "date": 1_700_000_000,
                            "chat": {"id": 4242, "type": "private", "first_name": "PR"},
                            "photo": [{"file_id": "f", "file_unique_id": "u", "width": 720, "height": 260}]})
                    }
                    "sendmessage" | "editmessagetext" => {
                        next_id += 1;
                        let id = params["message_id"].as_i64().unwrap_or(next_id);
                        message(id, params["text"].as_str().unwrap_or(""), &params["chat_id"])
                    }
                    "answercallbackquery" => Value::Bool(true),
                    "getupdates" => {
                        let queued: Vec<Value> = std::mem::take(&mut *u.lock().unwrap());
                        if queued.is_empty() {
                            std::thread::sleep(Duration::from_millis(100));
                        }
                        Value::Array(queued)
                    }
                    _ => Value::Null,
                };
                if method != "getupdates" {
                    // multipart bodies (sendPhoto) are not JSON: keep their size
                    let params = if params.is_null() { serde_json::json!({ "bytes": body.len() }) } else { params };
                    c.lock().unwrap().push((method.clone(), params));
                }
                let resp = serde_json::json!({"ok": true, "result": result}).to_string();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{resp}",
                    resp.len()
                );
            }
        });
        FakeTelegram { port, calls, updates }
    }

    fn wait_for(&self, method: &str, secs: u64) -> Option<Value> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some((_, p)) = self.calls.lock().unwrap().iter().find(|(m, _)| m == method) {
                return Some(p.clone());
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn telegram_message_with_buttons_and_an_acknowledging_callback() {
    let dir = tempfile::tempdir().unwrap();
    let tg = FakeTelegram::start();
    let execs = Hook::start(0, &[]);
    let receivers = format!(
        "[notify.telegram]\ntoken_env = \"CW_HOOK_SECRET\"\napi_url = \"http://127.0.0.1:{}/\"\n\
         [[notify.receiver]]\nname = \"pr-hook\"\nkind = \"telegram\"\nchat_id = 4242\n\
         [[notify.receiver]]\nname = \"exec-hook\"\nkind = \"webhook\"\nurl = \"{}\"\nsecret_env = \"CW_HOOK_SECRET\"\n",
        tg.port,
        execs.url()
    );
    let s = Server::start(dir.path(), &config(&receivers, "{ teams = [\"pr\"] }"));
    for b in crisis_stream() {
        s.post(b);
    }
    let sent = tg.wait_for("sendmessage", 30).expect("sendMessage called");
    assert_eq!(sent["chat_id"], 4242);
    assert_eq!(sent["parse_mode"], "HTML");
    let text = sent["text"].as_str().unwrap();
    assert!(text.contains("&lt;b&gt;&amp;&lt;/b&gt;"), "user text escaped: {text}");
    assert!(text.chars().count() <= 4096);
    let buttons = &sent["reply_markup"]["inline_keyboard"][0];
    let labels: Vec<&str> = buttons.as_array().unwrap().iter().map(|b| b["text"].as_str().unwrap()).collect();
    assert_eq!(labels, ["Acknowledge", "Escalate now", "Mute 1h"]);
    let photo = tg.wait_for("sendphoto", 30).expect("the chart follows as a photo");
    assert!(photo["bytes"].as_u64().unwrap() > 3000, "{photo}");
    let ack = buttons[0]["callback_data"].as_str().unwrap().to_string();
    let incident = ack.strip_prefix("ack:").unwrap().to_string();
    // Dana presses "Acknowledge"
    tg.updates.lock().unwrap().push(serde_json::json!({
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
    s.terminate();
}
