//! The dashboard in a real browser (Debian's chromium, headless, over WebDriver), against the
//! real binary running `crisiswatch demo`:
//!
//! * open mode (loopback, nobody configured): the brands page lists the demo's brands; an
//!   incident appears on an open incidents page without a reload; the incident page shows
//!   posts, drafts (right-to-left ones with `dir`), the curve; phone width is readable;
//!   screenshots of both pages (kept in `$CW_SCREENSHOTS` when set, for `docs/`);
//! * with users and a notification ladder: a viewer cannot acknowledge; a responder logs in,
//!   acknowledges from the page, is recorded by name, and the ladder's next step never
//!   fires; a signed link from the notification acknowledges once, as its recipient, and is
//!   refused when used again or altered.

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::browser::Browser;

/// The demo binary on a port of its own, killed on drop.
struct Demo {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Demo {
    fn start(config: Option<&str>, env: &[(&str, &str)]) -> Demo {
        Demo::start_with(config, env, &[])
    }

    fn start_with(config: Option<&str>, env: &[(&str, &str)], extra: &[&str]) -> Demo {
        let dir = tempfile::tempdir().unwrap();
        let mut args: Vec<String> =
            ["demo", "--listen", "127.0.0.1:0", "--data-dir", "data", "--speed", "20"].map(String::from).to_vec();
        args.extend(extra.iter().map(|s| s.to_string()));
        if let Some(c) = config {
            std::fs::write(dir.path().join("demo.toml"), c).unwrap();
            args.extend(["--config".into(), "demo.toml".into()]);
        }
        let child = Command::new(support::bin())
            .args(&args)
            .current_dir(dir.path())
            .envs(env.iter().copied())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("demo starts");
        let started = Instant::now();
        let addr = loop {
            let text = std::fs::read_to_string(dir.path().join("data/listen.addr")).unwrap_or_default();
            if let Ok(a) = text.trim().parse() {
                break a;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "demo did not listen within 60 s");
            std::thread::sleep(Duration::from_millis(100));
        };
        Demo { child, addr, _dir: dir }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn get_json(&self, path: &str) -> serde_json::Value {
        reqwest::blocking::Client::new()
            .get(self.url(path))
            .header("authorization", "Bearer reader-secret-0123456789")
            .send()
            .and_then(|r| r.json())
            .unwrap_or_default()
    }

    /// Waits until the history is loaded and the stream is live (the engine's clock, as the
    /// series shows it, is within two minutes of the wall clock).
    fn wait_live(&self) {
        let t = Instant::now();
        loop {
            let v = self.get_json("/v1/brands/shahaf/series?window=1m");
            let minute = v["points"][0]["minute"].as_str().and_then(|m| crisiswatch::time::parse_timestamp(m).ok());
            if minute.is_some_and(|m| m >= crisiswatch::clock::wall_ms() - 120_000) {
                return;
            }
            assert!(t.elapsed() < Duration::from_secs(120), "the demo did not go live: {v}");
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// The first open incident of `brand` that fired at or after `since`.
    fn wait_incident(&self, brand: &str, since: i64, secs: u64) -> serde_json::Value {
        let t = Instant::now();
        loop {
            let v = self.get_json(&format!("/v1/alerts?status=open&brand={brand}"));
            if let Some(a) = v["alerts"].as_array().and_then(|a| {
                a.iter().find(|a| {
                    crisiswatch::time::parse_timestamp(a["at"].as_str().unwrap_or("")).is_ok_and(|t| t >= since)
                })
            }) {
                return a.clone();
            }
            assert!(t.elapsed() < Duration::from_secs(secs), "no live incident at {brand} within {secs} s: {v}");
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

fn screenshot(b: &Browser, name: &str, tmp: &Path) {
    let dir = std::env::var_os("CW_SCREENSHOTS").map_or_else(|| tmp.to_path_buf(), PathBuf::from);
    std::fs::create_dir_all(&dir).unwrap();
    let png = b.screenshot_png(&dir.join(name));
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "{name}: a real picture");
}

#[test]
fn the_crisis_room_in_a_browser_open_mode() {
    let demo = Demo::start(None, &[]);
    let b = Browser::start();
    let shots = tempfile::tempdir().unwrap();
    b.set_window_size(1280, 900);

    // the brands page lists the demo's brands and the history's latest incidents (within a
    // minute of the start)
    let t = Instant::now();
    loop {
        b.goto(&demo.url("/"));
        if b.find_all("tr.brand").len() == 12 && !b.find_all("tr.brand time").is_empty() {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(60), "brands page: {}", b.page_source());
        std::thread::sleep(Duration::from_secs(1));
    }
    let names: Vec<String> = b.find_all("tr.brand td.name a").iter().map(|e| e.text()).collect();
    assert!(names.iter().any(|n| n == "Acme") && names.iter().any(|n| n == "שחף"), "{names:?}");
    assert_eq!(b.find("tr.brand td.name a[href*='shahaf']").attr("dir").as_deref(), Some("rtl"));
    assert!(b.find("#zone").text().starts_with("Times in "), "the viewer's zone is named");
    // times are shown in the viewer's zone (the script replaced the server's UTC text)
    let shown = b.execute("var t = document.querySelector('time'); return t ? t.textContent : '';", &[]);
    assert!(shown.as_str().is_some_and(|s| !s.is_empty() && !s.ends_with(" UTC UTC")), "{shown}");
    // the client-side filter
    // focused first, in the page: from then on live updates leave the page alone (one that
    // landed between finding the box and typing into it used to replace it)
    b.execute("document.getElementById('brand-filter').focus();", &[]);
    b.find("#brand-filter").send_keys("acme");
    let visible = b.execute("return [...document.querySelectorAll('tr.brand')].filter(r => !r.hidden).length;", &[]);
    assert_eq!(visible, 1);

    // an open-incidents page loaded before the live crisis shows it without a reload
    demo.wait_live();
    let live_from = crisiswatch::clock::wall_ms() - 60_000;
    b.goto(&demo.url("/incidents?status=open&brand=shahaf"));
    b.wait_until_js("return document.body.getAttribute('data-live-connected') === '1';", Duration::from_secs(10));
    assert!(b.try_find("tr.incident").is_none(), "no open incident at shahaf before the live crisis");
    b.execute("window.__marker = 42;", &[]);
    let row = b.wait_for("tr.incident", Duration::from_secs(180));
    assert!(row.text().contains("שחף"), "{}", row.text());
    assert_eq!(b.execute("return window.__marker;", &[]), 42, "the page was updated in place, not reloaded");
    let incident = demo.wait_incident("shahaf", live_from, 10);
    let id = incident["id"].as_str().unwrap().to_string();

    // the incident page: summary, posts, drafts (RTL with dir), curve, actions
    b.goto(&demo.url(&format!("/incidents/{id}")));
    assert!(b.find("p.summary").text().contains("שחף"));
    assert!(!b.find_all("li.post").is_empty(), "top posts");
    let drafts = b.find_all(".draft p");
    assert!(!drafts.is_empty(), "first-reply drafts");
    let he = b.find(".draft p[lang='he']");
    assert_eq!(he.attr("dir").as_deref(), Some("rtl"));
    assert!(he.text().contains("שחף"), "{}", he.text());
    assert!(b.find("svg.curve path.line").attr("d").is_some_and(|d| d.len() > 100), "the curve is drawn");
    b.find(".draft button.copy").click();
    b.wait_until_text(".draft button.copy", "Copied", Duration::from_secs(5));
    screenshot(&b, "incident-desktop.png", shots.path());

    // phone width: no horizontal scrolling, the actions are reachable
    b.set_window_size(390, 844);
    b.goto(&demo.url(&format!("/incidents/{id}")));
    let overflow = b.execute("return document.documentElement.scrollWidth - window.innerWidth;", &[]);
    assert!(overflow.as_i64().unwrap_or(99) <= 1, "no horizontal scroll at phone width: {overflow}");
    assert!(b.find("button[value='ack']").is_displayed());
    screenshot(&b, "incident-phone.png", shots.path());
    b.goto(&demo.url("/"));
    let overflow = b.execute("return document.documentElement.scrollWidth - window.innerWidth;", &[]);
    assert!(overflow.as_i64().unwrap_or(99) <= 1, "brands page at phone width: {overflow}");
    screenshot(&b, "brands-phone.png", shots.path());
    b.set_window_size(1280, 900);
    b.goto(&demo.url("/"));
    b.wait_for("tr.brand[data-state='warning'], tr.brand[data-state='critical']", Duration::from_secs(10));
    screenshot(&b, "brands-desktop.png", shots.path());

    // acknowledge with a note from the page: recorded with the viewer's name
    b.goto(&demo.url(&format!("/incidents/{id}")));
    b.find("#note").send_keys("checking with the app team");
    b.find("button[value='ack']").click();
    b.wait_until_text(".timeline", "Acknowledged by anonymous", Duration::from_secs(10));
    assert!(b.find(".timeline").text().contains("checking with the app team"));
    let stored = demo.get_json(&format!("/v1/alerts/{id}"));
    assert_eq!(stored["acknowledged_by"], "anonymous", "{stored}");
}

fn hash(password: &str) -> String {
    let out = support::run_with_stdin(&["hash-password"], format!("{password}\n").as_bytes());
    assert!(out.status.success(), "{}", support::stderr(&out));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The incidents a webhook notification carried, and its signed acknowledge link.
fn notified(hook: &support::webhook::Webhook) -> Vec<(String, String)> {
    hook.requests()
        .iter()
        .filter_map(|r| serde_json::from_slice::<serde_json::Value>(&r.body).ok())
        .map(|v| {
            (
                v["id"].as_str().unwrap_or("").to_string(),
                v["notification"]["ack_url"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// Every incident a webhook's notifications were about: each one's lead (`id`) and, for a
/// notification that grouped several, all of them (`notification.incidents`).
fn notified_about(hook: &support::webhook::Webhook) -> Vec<String> {
    hook.requests()
        .iter()
        .filter_map(|r| serde_json::from_slice::<serde_json::Value>(&r.body).ok())
        .flat_map(|v| {
            let mut ids: Vec<String> = v["notification"]["incidents"]
                .as_array()
                .map(|a| a.iter().filter_map(|i| i.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            ids.extend(v["id"].as_str().map(str::to_string));
            ids
        })
        .collect()
}

fn log_in(b: &Browser, demo: &Demo, name: &str, password: &str, next: &str) {
    b.delete_all_cookies();
    b.goto(&demo.url(next));
    assert!(b.current_url().contains("/login"), "an anonymous visitor is sent to log in: {}", b.current_url());
    b.find("#name").send_keys(name);
    b.find("#password").send_keys(password);
    b.find("form[action='/login'] button[type='submit']").click();
    b.wait_until_js(
        &format!("return location.pathname === '{}';", next.split('?').next().unwrap()),
        Duration::from_secs(10),
    );
    let cookie = b.cookie("cw_session").expect("a session cookie");
    assert!(cookie.http_only, "the session cookie is HttpOnly");
}

#[test]
fn people_roles_the_ladder_and_signed_links_in_a_browser() {
    let pr = support::webhook::Webhook::start(&[]);
    let execs = support::webhook::Webhook::start(&[]);
    let config = format!(
        "[[tokens]]\nname = \"reader\"\nenv = \"CW_READER\"\nscopes = [\"read\"]\n\
         [[users]]\nname = \"dana\"\nrole = \"responder\"\npassword_hash = \"{}\"\n\
         [[users]]\nname = \"vic\"\nrole = \"viewer\"\npassword_hash = \"{}\"\n\
         [notify]\ngroup_wait = \"1s\"\nretry_base = \"100ms\"\nretry_max = \"1s\"\n\
         [[notify.receiver]]\nname = \"pr-hook\"\nkind = \"webhook\"\nurl = \"{}\"\nsecret_env = \"CW_HOOK_SECRET\"\n\
         [[notify.receiver]]\nname = \"exec-hook\"\nkind = \"webhook\"\nurl = \"{}\"\nsecret_env = \"CW_HOOK_SECRET\"\n\
         [[notify.team]]\nname = \"pr\"\nreceivers = [\"pr-hook\"]\n\
         [[notify.team]]\nname = \"execs\"\nreceivers = [\"exec-hook\"]\n\
         [[notify.route]]\nbrands = [\"shahaf\", \"waha\"]\nladder = [{{ teams = [\"pr\"] }}, {{ teams = [\"execs\"], after = \"45s\" }}]\n",
        hash("dana's long passphrase"),
        hash("vic's long passphrase"),
        pr.url(),
        execs.url()
    );
    let demo = Demo::start(
        Some(&config),
        &[("CW_READER", "reader-secret-0123456789"), ("CW_HOOK_SECRET", "hook-key-0123456789")],
    );
    demo.wait_live();
    let live_from = crisiswatch::clock::wall_ms() - 60_000;
    let outage = demo.wait_incident("shahaf", live_from, 180);
    let id = outage["id"].as_str().unwrap().to_string();
    let b = Browser::start();
    let page = format!("/incidents/{id}");

    // a viewer sees the incident but cannot act on it
    log_in(&b, &demo, "vic", "vic's long passphrase", &page);
    assert!(b.find("p.summary").text().contains("שחף"));
    assert!(b.try_find("button[value='ack']").is_none(), "no acknowledge button for a viewer");
    assert!(b.find("p.note").text().contains("responder role"));
    // nor by posting the form by hand, with the session's own CSRF token
    let status = b.execute(
        "const f = new FormData(); f.append('action', 'ack'); f.append('csrf', arguments[0]);
         return fetch(location.pathname + '/act', {method: 'POST', body: new URLSearchParams(f)}).then(r => r.status);",
        &[serde_json::Value::from("")],
    );
    assert_eq!(status, 403, "a viewer's acknowledgement is refused");

    // the ladder's first step is notified (waited for here: an acknowledgement that comes
    // before it stops the ladder, first step included); grouped with another incident
    // (group_wait), the notification leads with that one and lists this one
    let t = Instant::now();
    while !notified_about(&pr).contains(&id) {
        assert!(t.elapsed() < Duration::from_secs(30), "pr-hook was never notified about {id}: {:?}", notified(&pr));
        std::thread::sleep(Duration::from_millis(300));
    }

    // a responder acknowledges from the page before the ladder's second step (45 s)
    log_in(&b, &demo, "dana", "dana's long passphrase", &page);
    assert_eq!(b.find("header .who").text(), "dana");
    b.find("#note").send_keys("on it, calling the app team");
    b.find("button[value='ack']").click();
    b.wait_until_text(".timeline", "Acknowledged by dana", Duration::from_secs(10));
    let acked_at = Instant::now();
    let stored = demo.get_json(&format!("/v1/alerts/{id}"));
    assert_eq!(stored["acknowledged_by"], "dana", "recorded as the logged-in user: {stored}");

    // a signed link from another incident's notification: no login needed, once only
    b.delete_all_cookies();
    let viral = demo.wait_incident("waha", live_from, 120);
    let vid = viral["id"].as_str().unwrap().to_string();
    let t = Instant::now();
    let link = loop {
        if let Some((_, l)) = notified(&pr).into_iter().find(|(i, l)| *i == vid && !l.is_empty()) {
            break l;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "no notification for {vid}: {:?}", notified(&pr));
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(link.contains("/l/"), "{link}");
    b.goto(&link);
    let confirm = b.find("form[method='post'] button");
    let before = demo.get_json(&format!("/v1/alerts/{vid}"));
    assert!(before["acknowledged_by"].is_null(), "opening the link changes nothing: {before}");
    confirm.click();
    b.wait_until_js(
        "return document.body.textContent.toLowerCase().includes('acknowledged');",
        Duration::from_secs(10),
    );
    let after = demo.get_json(&format!("/v1/alerts/{vid}"));
    assert_eq!(after["acknowledged_by"], "pr-hook", "recorded as the link's recipient: {after}");
    // used again: refused; altered: refused
    let client = reqwest::blocking::Client::new();
    assert_eq!(client.post(&link).send().unwrap().status().as_u16(), 410, "a link acknowledges once");
    let mut altered = link.clone();
    let last = altered.pop().unwrap();
    altered.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(client.get(&altered).send().unwrap().status().as_u16(), 403, "an altered link is refused");

    // the ladder stopped: 50 s after the acknowledgements the executives heard of neither
    let wait = Duration::from_secs(50).saturating_sub(acked_at.elapsed());
    std::thread::sleep(wait);
    let exec_got: Vec<String> = notified_about(&execs);
    assert!(
        !exec_got.contains(&id) && !exec_got.contains(&vid),
        "acknowledged incidents reached the executives: {exec_got:?}"
    );
}

/// Page weight and time to first render of the brands page with 100 brands (run by hand:
/// `cargo test --release --test dashboard_browser -- --ignored --nocapture`; the figures are
/// in the closing note of the dashboard issue). Asserts the weight stays small.
#[test]
#[ignore = "a measurement, run by hand"]
fn brands_page_with_a_hundred_brands() {
    let demo = Demo::start_with(None, &[], &["--brands", "100", "--history-days", "3"]);
    demo.wait_live();
    let b = Browser::start();
    let mut rows = Vec::new();
    for _ in 0..5 {
        b.goto(&demo.url("/"));
        assert_eq!(b.find_all("tr.brand").len(), 100);
        let m = b.execute(
            "const n = performance.getEntriesByType('navigation')[0];
             const p = performance.getEntriesByType('paint').find(e => e.name === 'first-contentful-paint');
             return [n.transferSize, n.decodedBodySize, n.responseEnd - n.requestStart, p ? p.startTime : -1, n.domContentLoadedEventEnd];",
            &[],
        );
        rows.push(m);
    }
    for m in &rows {
        println!("transfer {} B, html {} B, request→response {:.1} ms, first contentful paint {:.1} ms, DOMContentLoaded {:.1} ms",
            m[0], m[1], m[2].as_f64().unwrap_or(0.0), m[3].as_f64().unwrap_or(0.0), m[4].as_f64().unwrap_or(0.0));
    }
    assert!(rows.iter().all(|m| m[0].as_u64().unwrap_or(u64::MAX) < 80_000), "gzipped page under 80 KB: {rows:?}");
}
