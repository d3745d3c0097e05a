//! Silences end to end, on the real `crisiswatch serve` with its SQLite file and a local
//! signed-webhook receiver: a silenced brand's incident is recorded and shown with its
//! silence in `/v1/alerts` but not delivered; deleting the silence (or letting a short one
//! expire) delivers the still-open incident exactly once; silences of another brand, rule or
//! metric do not hold it; bad requests are refused with precise messages; the creator is the
//! token's name; no token is `401`. Telegram's "Mute 1h" button becomes a silence of the
//! incident's brand and rule, listed by `GET /v1/silences`.

mod support;

use reqwest::blocking::{Client, RequestBuilder};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};
use support::server::Server;
use support::telegram::FakeTelegram;
use support::webhook::Webhook as Hook;

/// `tool` ingests and reads; `desk` reads and responds.
fn config(receivers: &str, ladder: &str) -> String {
    format!(
        "clock = \"event\"\n\
         [[tokens]]\nname = \"tool\"\nenv = \"CW_TOOL\"\n\
         [[tokens]]\nname = \"desk\"\nenv = \"CW_DESK\"\nscopes = [\"read\", \"respond\"]\n\
         [notify]\ngroup_wait = \"1s\"\nretry_base = \"100ms\"\nretry_max = \"1s\"\n{receivers}\n\
         [[notify.team]]\nname = \"pr\"\nreceivers = [\"pr-hook\"]\n\
         [[notify.team]]\nname = \"execs\"\nreceivers = [\"exec-hook\"]\n\
         [[notify.route]]\nladder = [{ladder}]\n"
    )
}

fn hooks(pr: &str, execs: &str) -> String {
    format!(
        "[[notify.receiver]]\nname = \"pr-hook\"\nkind = \"webhook\"\nurl = \"{pr}\"\nsecret_env = \"CW_HOOK_SECRET\"\n\
         [[notify.receiver]]\nname = \"exec-hook\"\nkind = \"webhook\"\nurl = \"{execs}\"\nsecret_env = \"CW_HOOK_SECRET\"\n"
    )
}

fn serve(dir: &Path, config: &str) -> Server {
    Server::builder(dir)
        .config(config)
        .env("CW_TOOL", "tool-token")
        .env("CW_DESK", "desk-token")
        .env("CW_HOOK_SECRET", "hook-key")
        .start()
}

fn client() -> Client {
    Client::builder().timeout(Duration::from_secs(60)).build().unwrap()
}

fn post_stream(s: &Server) {
    for b in support::crisis_stream("Acme app is down again, can't log in") {
        let r = client()
            .post(s.url("/v1/mentions"))
            .bearer_auth("tool-token")
            .header("content-type", "application/x-ndjson");
        assert_eq!(r.body(b).send().unwrap().status(), 202);
    }
}

/// Sends `r`; the status and the JSON answer.
fn send(r: RequestBuilder) -> (u16, Value) {
    let r = r.send().unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

fn silence(s: &Server, token: &str, body: Value) -> (u16, Value) {
    send(client().post(s.url("/v1/silences")).bearer_auth(token).json(&body))
}

fn open_alerts(s: &Server) -> Vec<Value> {
    let (status, v) = send(client().get(s.url("/v1/alerts?status=open")).bearer_auth("tool-token"));
    assert_eq!(status, 200);
    v["alerts"].as_array().unwrap().clone()
}

/// The open incidents once there are some (60 s at most).
fn wait_for_incidents(s: &Server) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let open = open_alerts(s);
        if !open.is_empty() {
            return open;
        }
        assert!(Instant::now() < deadline, "no incident: {}", s.logs());
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn held_by(alert: &Value) -> Vec<i64> {
    alert["silenced_by"].as_array().map(|a| a.iter().map(|s| s["id"].as_i64().unwrap()).collect()).unwrap_or_default()
}

#[test]
fn a_silenced_incident_is_recorded_not_notified_and_notified_once_the_silence_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let (pr, execs) = (Hook::start(&[]), Hook::start(&[]));
    let s = serve(dir.path(), &config(&hooks(&pr.url(), &execs.url()), "{ teams = [\"pr\"] }"));

    // who may: nobody without a token, not an ingest token
    let body = json!({"brand": "acme", "duration": "1h", "reason": "product launch"});
    assert_eq!(send(client().post(s.url("/v1/silences")).json(&body)).0, 401);
    assert_eq!(send(client().get(s.url("/v1/silences"))).0, 401);
    let (status, v) = silence(&s, "tool-token", body.clone());
    assert_eq!(status, 403);
    assert!(v["error"].as_str().unwrap().contains("`respond`"), "{v}");
    assert_eq!(send(client().delete(s.url("/v1/silences/1")).bearer_auth("tool-token")).0, 403);

    // bad requests, each said precisely
    let bad = [
        (json!({"brand": "nope", "duration": "1h", "reason": "r"}), "unknown brand `nope` (known brands: `acme`"),
        (json!({"duration": "1h", "reason": "r"}), "`brand` is required"),
        (
            json!({"brand": "acme", "rules": ["volume-spikes"], "duration": "1h", "reason": "r"}),
            "unknown rule `volume-spikes` for brand `acme`",
        ),
        (
            json!({"brand": "acme", "metrics": ["mood"], "duration": "1h", "reason": "r"}),
            "unknown metric `mood` (metrics: ",
        ),
        (
            json!({"brand": "acme", "start": "2030-01-02T00:00:00Z", "end": "2030-01-01T00:00:00Z", "reason": "r"}),
            "`end` (2030-01-01T00:00:00Z) must be after `start` (2030-01-02T00:00:00Z)",
        ),
        (
            json!({"brand": "acme", "duration": "120d", "reason": "r"}),
            "a silence lasts at most 90 days (this one: 120.0 days)",
        ),
        (json!({"brand": "acme", "duration": "1h"}), "`reason` is required"),
        (
            json!({"brand": "acme", "duration": "1h", "reason": "r", "creator": "someone-else"}),
            "`creator` is recorded from the credentials (`desk`)",
        ),
        (json!({"brand": "acme", "duration": "1h", "reason": "r", "matchers": []}), "body: unknown field `matchers`"),
    ];
    for (body, want) in bad {
        let (status, v) = silence(&s, "desk-token", body.clone());
        assert_eq!(status, 400, "{body}: {v}");
        assert!(v["error"].as_str().unwrap().contains(want), "{body}: {v}");
    }
    assert!(send(client().get(s.url("/v1/silences")).bearer_auth("tool-token")).1["silences"]
        .as_array()
        .unwrap()
        .is_empty());

    // silence acme; the crisis comes
    let (status, held) = silence(&s, "desk-token", body);
    assert_eq!(status, 201, "{held}");
    assert_eq!((held["creator"].as_str(), held["state"].as_str()), (Some("desk"), Some("active")), "{held}");
    let held_id = held["id"].as_i64().unwrap();
    post_stream(&s);
    let incidents = wait_for_incidents(&s);
    for a in &incidents {
        assert_eq!(held_by(a), [held_id], "recorded and shown with its silence: {a}");
        assert_eq!(a["silenced_by"][0]["reason"], "product launch");
    }
    let id = incidents[0]["id"].as_str().unwrap().to_string();
    let (_, history) = send(client().get(s.url(&format!("/v1/alerts/{id}"))).bearer_auth("tool-token"));
    assert_eq!(held_by(&history), [held_id], "{history}");

    // silences of another brand, rule or metric do not hold it
    let rules: Vec<&str> = incidents.iter().map(|a| a["rule"].as_str().unwrap()).collect();
    let metrics: Vec<&str> = incidents.iter().map(|a| a["metric"].as_str().unwrap()).collect();
    let other_rule =
        ["reach-spike", "negative-surge-twitter", "volume-spike"].into_iter().find(|r| !rules.contains(r)).unwrap();
    let other_metric = ["reach", "flatline", "volume"].into_iter().find(|m| !metrics.contains(m)).unwrap();
    let others = [
        json!({"brand": "lunteck", "duration": "1h", "reason": "another brand"}),
        json!({"brand": "acme", "rules": [other_rule], "duration": "1h", "reason": "another rule"}),
        json!({"brand": "*", "metrics": [other_metric], "duration": "1h", "reason": "another metric"}),
    ];
    for body in others {
        let (status, v) = silence(&s, "desk-token", body);
        assert_eq!(status, 201, "{v}");
    }
    std::thread::sleep(Duration::from_secs(4)); // group_wait is 1 s: it would have gone by now
    assert!(pr.requests().is_empty(), "held: nothing delivered");
    for a in open_alerts(&s) {
        assert_eq!(held_by(&a), [held_id], "only the acme silence holds it: {a}");
    }

    // the silence is deleted: the still-open incident goes out, once
    let (status, ended) = send(client().delete(s.url(&format!("/v1/silences/{held_id}"))).bearer_auth("desk-token"));
    assert_eq!(status, 200, "{ended}");
    assert_eq!((ended["state"].as_str(), ended["ended_by"].as_str()), (Some("expired"), Some("desk")));
    let got = pr.wait_for(1, 30);
    assert_eq!(got.len(), 1, "notified once the silence is gone");
    let v: Value = serde_json::from_slice(&got[0].body).unwrap();
    let mut told: Vec<&str> =
        v["notification"]["incidents"].as_array().unwrap().iter().map(|i| i.as_str().unwrap()).collect();
    let mut all: Vec<&str> = incidents.iter().map(|a| a["id"].as_str().unwrap()).collect();
    told.sort();
    all.sort();
    assert_eq!(told, all);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(pr.requests().len(), 1, "exactly once");
    assert!(open_alerts(&s).iter().all(|a| a.get("silenced_by").is_none()));

    // the list, and deleting what is gone
    let (_, current) = send(client().get(s.url("/v1/silences")).bearer_auth("tool-token"));
    let reasons: Vec<&str> =
        current["silences"].as_array().unwrap().iter().map(|s| s["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons, ["another metric", "another rule", "another brand"], "newest first, the deleted one gone");
    let (_, expired) = send(client().get(s.url("/v1/silences?state=expired")).bearer_auth("tool-token"));
    assert_eq!(expired["silences"][0]["id"], held_id);
    assert_eq!(send(client().get(s.url("/v1/silences?state=sideways")).bearer_auth("tool-token")).0, 400);
    let (status, v) = send(client().delete(s.url(&format!("/v1/silences/{held_id}"))).bearer_auth("desk-token"));
    assert_eq!(status, 409);
    assert!(v["error"].as_str().unwrap().starts_with(&format!("silence {held_id} is already over")), "{v}");
    assert_eq!(send(client().delete(s.url("/v1/silences/9999")).bearer_auth("desk-token")).0, 404);
    assert_eq!(send(client().delete(s.url("/v1/silences/abc")).bearer_auth("desk-token")).0, 404);
    let (_, spec) = send(client().get(s.url("/v1/openapi.json")).bearer_auth("tool-token"));
    assert!(
        spec["paths"]["/v1/silences"]["post"].is_object() && spec["paths"]["/v1/silences/{id}"]["delete"].is_object()
    );
    s.terminate();
}

#[test]
fn an_expired_silence_releases_the_incident() {
    let dir = tempfile::tempdir().unwrap();
    let (pr, execs) = (Hook::start(&[]), Hook::start(&[]));
    let s = serve(dir.path(), &config(&hooks(&pr.url(), &execs.url()), "{ teams = [\"pr\"] }"));
    let (status, held) = silence(&s, "desk-token", json!({"brand": "*", "duration": "30s", "reason": "short"}));
    assert_eq!(status, 201, "{held}");
    let t = Instant::now();
    post_stream(&s);
    let incidents = wait_for_incidents(&s);
    assert!(t.elapsed() < Duration::from_secs(25), "the incident came while the silence held");
    assert!(incidents.iter().all(|a| held_by(a) == [held["id"].as_i64().unwrap()]));
    assert!(pr.requests().is_empty(), "held");
    let got = pr.wait_for(1, 60);
    assert_eq!(got.len(), 1);
    assert!(t.elapsed() >= Duration::from_secs(29), "not before the silence ended");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(pr.requests().len(), 1, "exactly once");
    let (_, expired) = send(client().get(s.url("/v1/silences?state=expired")).bearer_auth("tool-token"));
    assert_eq!(expired["silences"][0]["ended_by"], Value::Null, "expired, not deleted");
    s.terminate();
}

#[test]
fn telegrams_mute_1h_is_a_silence_of_the_incidents_brand_and_rule() {
    let dir = tempfile::tempdir().unwrap();
    let tg = FakeTelegram::start();
    let execs = Hook::start(&[]);
    let receivers = format!(
        "[notify.telegram]\ntoken_env = \"CW_HOOK_SECRET\"\napi_url = \"{}\"\n\
         [[notify.receiver]]\nname = \"pr-hook\"\nkind = \"telegram\"\nchat_id = 4242\n\
         [[notify.receiver]]\nname = \"exec-hook\"\nkind = \"webhook\"\nurl = \"{}\"\nsecret_env = \"CW_HOOK_SECRET\"\n",
        tg.api_url(),
        execs.url()
    );
    let s = serve(dir.path(), &config(&receivers, "{ teams = [\"pr\"] }, { teams = [\"execs\"], after = \"8s\" }"));
    post_stream(&s);
    let sent = tg.wait_for("sendmessage", 60).expect("sendMessage called");
    let mute = sent["reply_markup"]["inline_keyboard"][0][2]["callback_data"].as_str().unwrap().to_string();
    let incident = mute.strip_prefix("mute:").expect("the third button mutes").to_string();
    tg.push_update(json!({
        "update_id": 7,
        "callback_query": {
            "id": "cb1", "chat_instance": "ci", "data": mute,
            "from": {"id": 9, "is_bot": false, "first_name": "Dana", "username": "dana"},
            "message": {"message_id": 101, "date": 1_700_000_000, "text": "alert", "chat": {"id": 4242, "type": "private", "first_name": "PR"}}
        }
    }));
    let edited = tg.wait_for("editmessagetext", 30).expect("message edited");
    assert!(edited["text"].as_str().unwrap().contains("Muted for 1 h by @dana (Telegram)"), "{edited}");
    let (_, list) = send(client().get(s.url("/v1/silences")).bearer_auth("tool-token"));
    let silences = list["silences"].as_array().unwrap();
    assert_eq!(silences.len(), 1, "{list}");
    let (_, history) = send(client().get(s.url(&format!("/v1/alerts/{incident}"))).bearer_auth("tool-token"));
    let rule = history["events"][0]["rule"].clone();
    let m = &silences[0];
    assert_eq!((m["brand"].as_str(), m["creator"].as_str()), (Some("acme"), Some("@dana (Telegram)")), "{m}");
    assert_eq!((&m["rules"], m["reason"].as_str()), (&json!([rule]), Some("Mute 1h from Telegram")), "{m}");
    assert_eq!(m["incident"].as_str(), Some(incident.as_str()));
    let start = crisiswatch::time::parse_timestamp(m["start"].as_str().unwrap()).unwrap();
    let end = crisiswatch::time::parse_timestamp(m["end"].as_str().unwrap()).unwrap();
    assert_eq!(end - start, 3_600_000);
    assert_eq!(held_by(&history), [m["id"].as_i64().unwrap()], "{history}");
    // the executives' step comes due while it is muted: held
    std::thread::sleep(Duration::from_secs(10));
    for g in execs.requests() {
        let v: Value = serde_json::from_slice(&g.body).unwrap();
        assert!(!v["notification"]["incidents"].as_array().unwrap().iter().any(|i| i == incident.as_str()), "{v}");
    }
    s.terminate();
}

#[test]
fn the_dashboard_makes_shows_and_deletes_a_silence_in_a_browser() {
    if !support::browser::browser_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (pr, execs) = (Hook::start(&[]), Hook::start(&[]));
    // open mode (no tokens, loopback): everyone is `anonymous` with every scope
    let cfg = config(&hooks(&pr.url(), &execs.url()), "{ teams = [\"pr\"] }")
        .replace("[[tokens]]\nname = \"tool\"\nenv = \"CW_TOOL\"\n", "")
        .replace("[[tokens]]\nname = \"desk\"\nenv = \"CW_DESK\"\nscopes = [\"read\", \"respond\"]\n", "");
    let s = serve(dir.path(), &cfg);
    let b = support::browser::Browser::start();
    b.goto(&s.url("/silences"));
    assert!(b.find("p.empty").text().contains("No silences"));
    b.execute("document.querySelector('select[name=brand]').value = 'acme';", &[]);
    b.execute("document.querySelector('select[name=duration]').value = '4h';", &[]);
    b.find("input[name=reason]").send_keys("spring launch");
    b.find("form.silence-new button[type=submit]").click();
    let row = b.wait_for("tr.silence", Duration::from_secs(10));
    assert!(row.text().contains("spring launch") && row.text().contains("anonymous"), "{}", row.text());
    for batch in support::crisis_stream("Acme app is down again") {
        s.post_ndjson(batch);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let id = loop {
        let open = s.get("/v1/alerts?status=open");
        if let Some(a) = open["alerts"].as_array().and_then(|a| a.first()) {
            break a["id"].as_str().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "no incident");
        std::thread::sleep(Duration::from_millis(200));
    };
    b.goto(&s.url(&format!("/incidents/{id}")));
    let note = b.find("p.silenced").text();
    assert!(note.contains("silence #1") && note.contains("spring launch"), "{note}");
    b.goto(&s.url("/incidents?status=open"));
    assert!(b.find("tr.incident").text().contains("silenced"));
    std::thread::sleep(Duration::from_secs(3));
    assert!(pr.requests().is_empty(), "held");
    b.goto(&s.url("/silences"));
    b.find("tr.silence button.danger").click();
    b.wait_for("p.empty", Duration::from_secs(10));
    assert_eq!(pr.wait_for(1, 30).len(), 1, "released by the delete");
    let (_, expired) = send(client().get(s.url("/v1/silences?state=expired")));
    assert_eq!(expired["silences"][0]["ended_by"], "anonymous");
    s.terminate();
}
