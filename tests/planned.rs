//! Planned events end to end. A stream of two quiet days of acme, then three six-hour
//! launches at five times the usual volume: A (declared, talk as usual), B (declared, talk
//! turning negative), C (undeclared, talk as usual). Whether declared in a rules file and
//! replayed, or through `POST /v1/planned` on the real service: A raises nothing, B pages for
//! the negative share and not for volume, C pages for volume. The API refuses bad requests
//! precisely, wants the `respond` scope, records the creator, lists and deletes.

mod support;

use crisiswatch::time::{format_rfc3339, parse_timestamp};
use reqwest::blocking::{Client, RequestBuilder};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::server::Server;
use support::{mention, read_events, run};

const DAY: i64 = 86_400_000;
const LAUNCH_MS: i64 = 6 * 3_600_000;

fn t0() -> i64 {
    parse_timestamp("2026-03-02T00:00:00Z").unwrap()
}

/// Launch starts: A on day 3 at 00:00, B on day 3 at 12:00, C on day 4 at 12:00.
fn launches() -> [i64; 3] {
    [t0() + 2 * DAY, t0() + 2 * DAY + DAY / 2, t0() + 3 * DAY + DAY / 2]
}

/// The stream as NDJSON lines: quiet (2 a minute, mild) everywhere, and 10 a minute during
/// the launches; B's talk is 70 % negative.
fn stream() -> Vec<String> {
    let [a, b, c] = launches();
    let mut lines = Vec::new();
    let end = t0() + 4 * DAY + DAY / 2;
    let mut t = t0();
    let mut i = 0u64;
    while t < end {
        let in_launch = [a, b, c].iter().find(|&&s| (s..s + LAUNCH_MS).contains(&t)).copied();
        let step = if in_launch.is_some() { 6_000 } else { 30_000 };
        let (text, sentiment) = match in_launch {
            Some(s) if s == b && i % 10 < 7 => ("acme launch is broken, what a mess", -0.8),
            Some(_) => ("acme launch today, looks nice", 0.5),
            None => ("bought acme shoes today", 0.2),
        };
        lines.push(mention(&format!("m{i}"), &format_rfc3339(t), Some("acme"), text, Some(sentiment)));
        i += 1;
        t += step;
    }
    lines
}

/// What fired, as (metric, which launch: 0 = A, 1 = B, 2 = C, 9 = none).
fn fired_during(events: impl Iterator<Item = (String, String, String)>) -> Vec<(String, usize)> {
    let l = launches();
    events
        .filter(|(status, _, _)| status == "firing")
        .map(|(_, metric, at)| {
            let at = parse_timestamp(&at).unwrap();
            // an incident opens during a launch or in the hours after it
            let which = l.iter().position(|&s| (s..s + LAUNCH_MS + 3_600_000).contains(&at)).unwrap_or(9);
            (metric, which)
        })
        .collect()
}

fn check(fired: &[(String, usize)]) {
    assert!(
        !fired.iter().any(|(_, w)| *w == 0 || *w == 9),
        "A (declared, as planned) and calm raise nothing: {fired:?}"
    );
    assert!(
        fired.iter().any(|(m, w)| m == "negative" && *w == 1),
        "B (declared, goes wrong) pages for tone: {fired:?}"
    );
    assert!(!fired.iter().any(|(m, w)| m == "volume" && *w == 1), "B's volume was as planned: {fired:?}");
    assert!(fired.iter().any(|(m, w)| m == "volume" && *w == 2), "C (undeclared) pages for volume: {fired:?}");
}

#[test]
fn replay_takes_planned_events_from_the_rules_files() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    let [a, b, _] = launches();
    let brand = format!(
        "[brand]\nid = \"acme\"\nname = \"Acme\"\n\n\
         [[planned]]\nname = \"launch A\"\nstart = \"{}\"\nduration = \"6h\"\nuplift = 5\n\n\
         [[planned]]\nname = \"launch B\"\nstart = \"{}\"\nend = \"{}\"\nuplift = 5\n",
        format_rfc3339(a),
        format_rfc3339(b),
        format_rfc3339(b + LAUNCH_MS)
    );
    std::fs::write(rules.join("acme.toml"), brand).unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, stream().join("\n") + "\n").unwrap();
    let out = dir.path().join("alerts.jsonl");
    let o = run(&[
        "replay",
        input.to_str().unwrap(),
        "--rules",
        rules.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", support::stderr(&o));
    let events = read_events(&out);
    check(&fired_during(events.into_iter().map(|e| (e.status.as_str().to_string(), e.metric, e.at))));

    // and `check` reports a bad one at its position
    std::fs::write(rules.join("bad.toml"), "[brand]\nid = \"bad\"\nname = \"Bad\"\n[[planned]]\nname = \"x\"\nstart = \"2026-03-04T10:00:00Z\"\nduration = \"6h\"\nuplift = 0\n").unwrap();
    let o = run(&["check", "--rules", rules.to_str().unwrap()]);
    assert!(!o.status.success());
    let err = support::stderr(&o) + &String::from_utf8_lossy(&o.stdout);
    assert!(err.contains("bad.toml:8:10") && err.contains("`uplift` = 0"), "{err}");
}

fn client() -> Client {
    Client::builder().timeout(Duration::from_secs(60)).build().unwrap()
}

fn send(r: RequestBuilder) -> (u16, Value) {
    let r = r.send().unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

#[test]
fn the_api_declares_lists_and_deletes_planned_events_and_the_engine_expects_them() {
    let dir = tempfile::tempdir().unwrap();
    let config = "clock = \"event\"\n\
         [[tokens]]\nname = \"tool\"\nenv = \"CW_TOOL\"\n\
         [[tokens]]\nname = \"desk\"\nenv = \"CW_DESK\"\nscopes = [\"read\", \"respond\"]\n";
    let s =
        Server::builder(dir.path()).config(config).env("CW_TOOL", "tool-token").env("CW_DESK", "desk-token").start();
    let url = s.url("/v1/planned");
    let [a, b, _] = launches();
    let body = |start: i64| json!({"brand": "acme", "name": "launch", "start": format_rfc3339(start), "duration": "6h", "uplift": 5});

    // who may
    assert_eq!(send(client().post(&url).json(&body(a))).0, 401);
    let (status, v) = send(client().post(&url).bearer_auth("tool-token").json(&body(a)));
    assert_eq!(status, 403, "{v}");
    assert!(v["error"].as_str().unwrap().contains("`respond`"), "{v}");

    // a brand neither in the rules files nor seen in mentions: refused, listing the known ones
    let (status, v) =
        send(client().post(&url).bearer_auth("desk-token").json(
            &json!({"brand": "nope", "name": "x", "start": "2026-03-04T00:00:00Z", "duration": "6h", "uplift": 5}),
        ));
    assert_eq!(status, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("unknown brand `nope` (known brands: `acme`"), "{v}");

    // bad requests, each said precisely
    let bad = [
        (json!({"brand": "acme", "name": "x", "start": "soon", "duration": "6h", "uplift": 5}), "`start`"),
        (
            json!({"brand": "acme", "name": "x", "start": "2026-03-04T00:00:00Z", "duration": "6h", "uplift": 0.5}),
            "`uplift` = 0.5",
        ),
        (json!({"brand": "acme", "name": "x", "start": "2026-03-04T00:00:00Z", "uplift": 5}), "`end` or `duration`"),
        (
            json!({"brand": "acme", "name": "x", "start": "2026-03-04T00:00:00Z", "duration": "40d", "uplift": 5}),
            "31 days",
        ),
        (
            json!({"brand": "acme", "start": "2026-03-04T00:00:00Z", "duration": "6h", "uplift": 5}),
            "`name` is required",
        ),
        (
            json!({"brand": "acme", "name": "x", "start": "2026-03-04T00:00:00Z", "duration": "6h", "uplift": 5, "why": 1}),
            "unknown field `why`",
        ),
    ];
    for (b, want) in bad {
        let (status, v) = send(client().post(&url).bearer_auth("desk-token").json(&b));
        assert_eq!(status, 400, "{b}: {v}");
        assert!(v["error"].as_str().unwrap().contains(want), "{b}: want {want}: {v}");
    }

    // A and B declared; a third declared then deleted (C stays undeclared)
    let mut ids = Vec::new();
    for start in [a, b, launches()[2]] {
        let (status, v) = send(client().post(&url).bearer_auth("desk-token").json(&body(start)));
        assert_eq!(status, 201, "{v}");
        assert_eq!(v["creator"], "desk");
        assert_eq!(v["uplift"], 5.0);
        ids.push(v["id"].as_i64().unwrap());
    }
    let (status, v) = send(client().delete(s.url(&format!("/v1/planned/{}", ids[2]))).bearer_auth("desk-token"));
    assert_eq!((status, v["state"].as_str()), (200, Some("deleted")), "{v}");
    assert_eq!(v["deleted_by"], "desk");
    assert_eq!(send(client().delete(s.url(&format!("/v1/planned/{}", ids[2]))).bearer_auth("desk-token")).0, 409);
    assert_eq!(send(client().delete(s.url("/v1/planned/999")).bearer_auth("desk-token")).0, 404);
    let (_, v) = send(client().get(&url).bearer_auth("tool-token"));
    assert_eq!(v["planned"].as_array().unwrap().len(), 2, "{v}");
    let (_, v) = send(client().get(format!("{url}?deleted=true")).bearer_auth("tool-token"));
    assert_eq!(v["planned"].as_array().unwrap().len(), 3, "{v}");

    // the stream: the engine expects A and B, not C
    let lines = stream();
    for chunk in lines.chunks(2000) {
        let body = chunk.join("\n") + "\n";
        let r = client().post(s.url("/v1/mentions")).bearer_auth("tool-token").body(body).send().unwrap();
        assert_eq!(r.status(), 202);
    }
    let total = lines.len() as f64;
    let deadline = Instant::now() + Duration::from_secs(120);
    while s.metric("crisiswatch_engine_mentions") < total {
        assert!(Instant::now() < deadline, "the engine did not catch up: {}", s.logs());
        std::thread::sleep(Duration::from_millis(200));
    }
    let (status, v) = send(client().get(s.url("/v1/alerts?limit=100")).bearer_auth("tool-token"));
    assert_eq!(status, 200, "{v}");
    let alerts = v["alerts"].as_array().unwrap();
    // each incident's firing time is its id's first event: read them all
    let mut fired = Vec::new();
    for alert in alerts {
        let id = alert["id"].as_str().unwrap();
        let (_, inc) = send(client().get(s.url(&format!("/v1/alerts/{id}"))).bearer_auth("tool-token"));
        for e in inc["events"].as_array().expect("an incident lists its events") {
            fired.push((
                e["status"].as_str().unwrap().to_string(),
                e["metric"].as_str().unwrap().to_string(),
                e["at"].as_str().unwrap().to_string(),
            ));
        }
    }
    check(&fired_during(fired.into_iter()));
}
