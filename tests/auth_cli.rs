//! People, roles and one-tap actions end to end, on the real `crisiswatch serve` with its
//! SQLite store: token scopes (an ingest token cannot acknowledge), users with roles
//! (a viewer's token cannot acknowledge; a responder logs in with a password and gets a
//! `HttpOnly; SameSite=Strict` session cookie, which alone cannot act through the JSON API),
//! and the signed acknowledge link of a webhook notification (a GET only shows it; a POST
//! acknowledges once, as the recipient; altered links are refused, expired and used ones
//! are gone).

mod support;

use crisiswatch::notify::link::{LinkAction, LinkClaims, Signer};
use reqwest::blocking::Client;
use serde_json::Value;
use std::time::Duration;
use support::server::Server;
use support::webhook::Webhook as Hook;

/// argon2id of `password` (m=256 KiB: cheap, for tests), from the argon2 crate's vectors.
const PHC: &str = "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4";
const LINK_KEY: &str = "a link key of at least thirty-two bytes";

fn config(hook: &str) -> String {
    format!(
        "clock = \"event\"\n\
         [[tokens]]\nname = \"tool\"\nenv = \"CW_TOOL\"\n\
         [[tokens]]\nname = \"desk\"\nenv = \"CW_DESK\"\nscopes = [\"read\", \"respond\"]\n\
         [[users]]\nname = \"dana\"\nrole = \"responder\"\npassword_hash = \"{PHC}\"\n\
         [[users]]\nname = \"vic\"\nrole = \"viewer\"\ntoken_env = \"CW_VIC\"\n\
         [links]\nsecret_env = \"CW_LINK_KEY\"\n\
         [notify]\ngroup_wait = \"1s\"\n\
         [[notify.receiver]]\nname = \"pr-hook\"\nkind = \"webhook\"\nurl = \"{hook}\"\nsecret_env = \"CW_HOOK_SECRET\"\n\
         [[notify.team]]\nname = \"pr\"\nreceivers = [\"pr-hook\"]\n\
         [[notify.route]]\nladder = [{{ teams = [\"pr\"] }}]\n"
    )
}

/// The shared crisis stream ([`support::crisis_stream`]) with this file's angry text.
fn crisis_stream() -> Vec<String> {
    support::crisis_stream("Acme app is down again")
}

/// Percent-encodes a form value.
fn urlencode(v: &str) -> String {
    v.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

fn no_redirects() -> Client {
    Client::builder().timeout(Duration::from_secs(60)).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

#[test]
fn scopes_roles_login_and_signed_links() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Hook::start(&[]);
    let s = Server::builder(dir.path())
        .config(&config(&hook.url()))
        .env("CW_TOOL", "tool-token")
        .env("CW_DESK", "desk-token")
        .env("CW_VIC", "vic-token")
        .env("CW_LINK_KEY", LINK_KEY)
        .env("CW_HOOK_SECRET", "hook-key")
        .start();
    let c = no_redirects();
    for b in crisis_stream() {
        let r = c.post(s.url("/v1/mentions")).bearer_auth("tool-token").header("content-type", "application/x-ndjson");
        assert_eq!(r.body(b).send().unwrap().status(), 202);
    }
    let got = hook.wait_for(1, 60);
    let note: Value = serde_json::from_slice(&got[0].body).unwrap();
    let id = note["id"].as_str().unwrap().to_string();
    let ack_url = note["notification"]["ack_url"].as_str().unwrap().to_string();
    assert!(ack_url.starts_with(&format!("{}/l/", s.base)), "{ack_url}");
    let history = |c: &Client| -> Value {
        c.get(s.url(&format!("/v1/alerts/{id}"))).bearer_auth("tool-token").send().unwrap().json().unwrap()
    };

    // scopes: the ingest token reads but cannot act; the viewer's token neither
    assert_eq!(c.get(s.url("/v1/alerts")).bearer_auth("tool-token").send().unwrap().status(), 200);
    for (token, action) in [("tool-token", "ack"), ("tool-token", "resolve"), ("vic-token", "ack")] {
        let r = c.post(s.url(&format!("/v1/alerts/{id}/{action}"))).bearer_auth(token).send().unwrap();
        assert_eq!(r.status(), 403, "{token} {action}");
        let e: Value = r.json().unwrap();
        assert!(e["error"].as_str().unwrap().contains("`respond` scope"), "{e}");
    }
    assert_eq!(c.get(s.url("/v1/brands")).bearer_auth("vic-token").send().unwrap().status(), 200);

    // login: a wrong password is 401 and no cookie
    let login = |name: &str, password: &str| {
        let body = format!("name={}&password={}&next=%2Fincidents%2Fx", urlencode(name), urlencode(password));
        c.post(s.url("/login")).header("content-type", "application/x-www-form-urlencoded").body(body).send().unwrap()
    };
    let r = login("dana", "wrong");
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("set-cookie").is_none());
    assert!(r.text().unwrap().contains("wrong name or password"));
    assert_eq!(login("nobody", "password").status(), 401);
    let r = login("dana", "password");
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/incidents/x");
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.starts_with("cw_session=") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain http public URL");
    let session = cookie.split(';').next().unwrap().to_string();
    // the session reads, but a cookie alone cannot act through the JSON API (no CSRF there)
    assert_eq!(c.get(s.url("/v1/alerts")).header("cookie", &session).send().unwrap().status(), 200);
    let r = c.post(s.url(&format!("/v1/alerts/{id}/ack"))).header("cookie", &session).send().unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(c.post(s.url("/logout")).header("cookie", &session).send().unwrap().status(), 403, "no CSRF token");
    assert!(history(&c)["actions"].as_array().unwrap().is_empty(), "nothing acknowledged so far");
    let page = c.get(s.url("/login?next=//evil.example")).send().unwrap().text().unwrap();
    assert!(page.contains("name=\"next\" value=\"/\""), "only local redirects: {page}");

    // the signed link: a GET shows the incident and a confirm button, and changes nothing
    let r = c.get(&ack_url).send().unwrap();
    assert_eq!(r.status(), 200);
    let page = r.text().unwrap();
    assert!(page.contains("<form method=\"post\">") && page.contains("Acknowledge as pr-hook"), "{page}");
    assert!(page.contains("Acme"), "the headline: {page}");
    assert!(history(&c)["actions"].as_array().unwrap().is_empty(), "a GET never acknowledges");

    // altered and expired links
    let mut altered = ack_url.clone().into_bytes();
    let last = altered.len() - 2;
    altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    assert_eq!(c.get(&altered).send().unwrap().status(), 403);
    let r = c.post(&altered).send().unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().unwrap().contains("invalid link"));
    let signer = Signer::new(LINK_KEY.as_bytes().to_vec(), Duration::from_secs(3600));
    let old = LinkClaims {
        incident: id.clone(),
        action: LinkAction::Ack,
        recipient: "pr-hook".into(),
        expires_ms: crisiswatch::clock::wall_ms() - 1000,
    };
    let expired = s.url(&format!("/l/{}", signer.token(&old)));
    assert_eq!(c.get(&expired).send().unwrap().status(), 410);
    let r = c.post(&expired).send().unwrap();
    assert_eq!(r.status(), 410);
    assert!(r.text().unwrap().contains("expired"));

    // a POST acknowledges as the recipient, once
    let r = c.post(&ack_url).send().unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap_or_default());
    let h = history(&c);
    assert_eq!(h["status"], "acknowledged", "{h}");
    assert_eq!(h["actions"][0]["who"], "pr-hook", "{h}");
    assert_eq!(h["actions"][0]["note"], "via signed link", "{h}");
    let r = c.post(&ack_url).send().unwrap();
    assert_eq!(r.status(), 410);
    assert!(r.text().unwrap().contains("already used"));
    assert_eq!(c.get(&ack_url).send().unwrap().status(), 410, "a used link says so");

    // a responder token acts as itself; the body cannot name someone else
    let ack = |body: &str| {
        c.post(s.url(&format!("/v1/alerts/{id}/ack"))).bearer_auth("desk-token").body(body.to_string()).send().unwrap()
    };
    assert_eq!(ack("{\"who\": \"someone else\"}").status(), 400);
    assert_eq!(ack("{\"note\": \"on it\"}").status(), 200);
    assert_eq!(history(&c)["actions"][1]["who"], "desk");
    assert!(!s.logs().contains("tool-token") && !s.logs().contains(LINK_KEY), "secrets never logged");
    s.terminate();
}

#[test]
fn hash_password_prints_an_argon2id_phc_string() {
    let o = support::run_with_stdin(&["hash-password"], b"correct horse\n");
    assert!(o.status.success(), "{}", support::stderr(&o));
    let hash = String::from_utf8(o.stdout).unwrap();
    assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
    assert!(crisiswatch::serve::auth::verify_password(hash.trim(), "correct horse"));
    assert_eq!(support::run_with_stdin(&["hash-password"], b"").status.code(), Some(2));
}
