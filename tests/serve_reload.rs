//! Reload end to end, with the real `crisiswatch serve`, a rules directory and a config file
//! this test edits while the service runs, and a real local webhook receiver:
//! `POST /v1/reload` needs the admin scope; a valid change (a new brand in the rules, a
//! receiver and route in the config) is applied without a restart and keeps the engine's
//! state; an invalid one (a broken rules file and an unknown config key at once) is refused
//! with both errors positioned, and the running configuration stays; `SIGHUP` reloads too.

mod support;

use serde_json::Value;
use std::process::Command;
use support::server::{client, Server};
use support::wait_for;
use support::webhook::Webhook as Hook;

const ADMIN: &str = "admin-secret-token";
const READER: &str = "reader-secret-token";

/// The config file: `top` (top-level keys), the tokens, `[notify]` with `extra`.
fn config(top: &str, extra: &str) -> String {
    format!(
        "{top}[[tokens]]\nname = \"ops\"\nenv = \"CW_ADMIN\"\nscopes = [\"admin\"]\n\
         [[tokens]]\nname = \"reader\"\nenv = \"CW_READER\"\nscopes = [\"ingest\", \"read\"]\n\
         [notify]\ngroup_wait = \"1s\"\nretry_base = \"100ms\"\nretry_max = \"1s\"\n{extra}"
    )
}

fn receiver(url: &str) -> String {
    format!(
        "[[notify.receiver]]\nname = \"pr-hook\"\nkind = \"webhook\"\nurl = \"{url}\"\nsecret_env = \"CW_HOOK_SECRET\"\n\
         [[notify.team]]\nname = \"pr\"\nreceivers = [\"pr-hook\"]\n\
         [[notify.route]]\nladder = [{{ teams = [\"pr\"] }}]\n"
    )
}

fn brand_file(id: &str, keyword: &str) -> String {
    format!("[brand]\nid = \"{id}\"\nname = \"{id}\"\n\n[brand.keywords]\nen = [\"{keyword}\"]\n")
}

fn reload(s: &Server, token: Option<&str>) -> (u16, Value) {
    let mut r = client().post(s.url("/v1/reload"));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let r = r.send().unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

fn post(s: &Server, body: String) {
    let r = client()
        .post(s.url("/v1/mentions"))
        .bearer_auth(READER)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().unwrap_or_default());
}

fn brands(s: &Server) -> Vec<String> {
    let v: Value = client().get(s.url("/v1/brands")).bearer_auth(READER).send().unwrap().json().unwrap();
    v["brands"].as_array().unwrap().iter().map(|b| b["id"].as_str().unwrap().to_string()).collect()
}

/// One mention without a `brand` field: only the rules' keywords can place it.
fn keyword_mention(id: &str, ts: &str, text: &str) -> String {
    support::mention(id, ts, None, text, Some(0.1)) + "\n"
}

#[test]
fn reload_applies_valid_changes_refuses_invalid_ones_whole_and_answers_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let rules = support::acme_rules(dir.path());
    let cfg_path = dir.path().join("crisiswatch.toml");
    let hook = Hook::start(&[]);
    let s = Server::builder(dir.path())
        .config(&config("", ""))
        .rules(&rules)
        .args(&["--clock", "event"])
        .env("CW_ADMIN", ADMIN)
        .env("CW_READER", READER)
        .env("CW_HOOK_SECRET", "hook-key")
        .start();

    // the acme stream's quiet days: the engine has state worth keeping across the reload
    let stream = support::crisis_stream("Acme app is down again, cannot log in");
    let (quiet, spike) = stream.split_at(stream.len() - 1);
    for b in quiet {
        post(&s, b.clone());
    }
    post(&s, keyword_mention("g0", "2026-03-04T00:00:00Z", "globex shipped my order"));
    wait_for("acme in /v1/brands", 30, || brands(&s).contains(&"acme".to_string()));
    assert!(!brands(&s).contains(&"globex".to_string()), "no globex rules yet");

    // only an admin may reload
    assert_eq!(reload(&s, None).0, 401);
    assert_eq!(reload(&s, Some(READER)).0, 403);

    // valid: a new brand, a receiver with its route, a limit that needs a restart
    std::fs::write(rules.join("globex.toml"), brand_file("globex", "globex")).unwrap();
    std::fs::write(&cfg_path, config("[limits]\nmax_body = \"2MiB\"\n", &receiver(&hook.url()))).unwrap();
    let (status, summary) = reload(&s, Some(ADMIN));
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["by"], "ops", "{summary}");
    assert_eq!((summary["brands"].as_u64(), summary["receivers"].as_u64()), (Some(2), Some(1)), "{summary}");
    assert!(summary["scopes_kept"].as_u64().unwrap() >= 1, "acme's baselines carried over: {summary}");
    let restart: Vec<&str> = summary["restart_needed"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(restart, ["body and queue limits"], "{summary}");

    // the new brand's keywords place mentions now
    post(&s, keyword_mention("g1", "2026-03-04T00:00:10Z", "globex shipped my order late"));
    wait_for("globex in /v1/brands", 30, || brands(&s).contains(&"globex".to_string()));
    // the new receiver gets acme's incident: acme's baseline survived the reload, so the
    // spike is an incident (a fresh engine would still be warming up)
    post(&s, spike[0].clone());
    let got = hook.wait_for(1, 60);
    let v: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!((v["brand"].as_str(), v["notification"]["kind"].as_str()), (Some("acme"), Some("alert")), "{v}");

    // invalid, twice over: nothing of it is applied, and both errors are reported
    std::fs::write(rules.join("broken.toml"), "[brand]\nid = \"initech\"\nname = = \"x\"\n").unwrap();
    std::fs::write(&cfg_path, config("no_such_setting = 1\n", &receiver(&hook.url()))).unwrap();
    let (status, refused) = reload(&s, Some(ADMIN));
    assert_eq!(status, 422, "{refused}");
    let diags = refused["diagnostics"].as_array().unwrap();
    let at = |file: &str| diags.iter().find(|d| d["file"].as_str().unwrap().ends_with(file)).cloned();
    let broken = at("broken.toml").unwrap_or_else(|| panic!("the rules error: {refused}"));
    assert_eq!((broken["line"].as_u64(), broken["column"].as_u64()), (Some(3), Some(8)), "{refused}");
    let cfg_err = at("crisiswatch.toml").unwrap_or_else(|| panic!("the config error: {refused}"));
    assert!(cfg_err["message"].as_str().unwrap().contains("no_such_setting"), "{refused}");
    assert!(refused["text"].as_str().unwrap().contains("broken.toml:3:8"), "{refused}");
    assert_eq!(brands(&s).len(), 2, "still running with the last valid rules");

    // SIGHUP: refused while invalid (logged), applied once fixed
    let hup = || assert!(Command::new("kill").args(["-HUP", &s.pid().to_string()]).status().unwrap().success());
    hup();
    wait_for("the refusal in the log", 30, || s.logs().contains("reload refused"));
    std::fs::write(rules.join("broken.toml"), brand_file("initech", "initech")).unwrap();
    std::fs::write(&cfg_path, config("", &receiver(&hook.url()))).unwrap();
    hup();
    wait_for("the SIGHUP reload", 30, || s.logs().matches("configuration reloaded").count() == 2);
    post(&s, keyword_mention("i1", "2026-03-04T00:30:00Z", "initech printer jammed"));
    wait_for("initech in /v1/brands", 30, || brands(&s).contains(&"initech".to_string()));
    // counted: two applied (the API's and SIGHUP's), two refused
    assert_eq!((s.metric("crisiswatch_reloads_total"), s.metric("crisiswatch_reloads_refused_total")), (2.0, 2.0));
    s.terminate();
}
