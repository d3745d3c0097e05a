//! The browser harness itself (`support::browser`: headless chromium over WebDriver), proved
//! against a tiny HTTP server of the test's own (std `TcpListener` on `127.0.0.1:0`, a thread
//! per connection): a click handler changing a text, right-to-left Hebrew, typing, cookies, a
//! server-sent event updating the page without a reload, the viewport of a phone, a screenshot,
//! and what a failure says.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::browser::{browser_available, Browser};

const WAIT: Duration = Duration::from_secs(10);

const INDEX: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>crisiswatch harness</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font: 16px sans-serif; margin: 1em; }
  .banner { padding: 1em; color: #fff; background: linear-gradient(90deg, #c0392b, #2c3e99); }
  @media (max-width: 480px) { .banner { background: #8e44ad; } }
</style></head>
<body>
<h1 class="banner">crisiswatch harness</h1>
<p id="status">idle</p>
<button id="ack" type="button">Acknowledge</button>
<p id="brand" dir="rtl" lang="he">משבר ברשתות: חברת החשמל</p>
<label>Note <input id="note" type="text"></label>
<p id="echo"></p>
<ul id="list"><li>one</li><li>two</li><li>three</li></ul>
<script>
  document.getElementById('ack').addEventListener('click', () => {
    document.getElementById('status').textContent = 'acknowledged by דנה';
    document.cookie = 'acked=yes; path=/';
  });
  document.getElementById('note').addEventListener('input', (e) => {
    document.getElementById('echo').textContent = e.target.value;
  });
</script>
</body></html>
"#;

const LIVE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>live</title></head>
<body>
<p id="feed">waiting</p>
<script>
  window.pageMarker = Math.random().toString(36);
  const es = new EventSource('/events');
  es.onmessage = (e) => { document.getElementById('feed').textContent = e.data; };
</script>
</body></html>
"#;

/// The test's web server: `/` and `/live` above, `/events` a server-sent event stream of
/// whatever the test [`push`](Site::push)es; it records each request's path.
struct Site {
    addr: SocketAddr,
    paths: Arc<Mutex<Vec<String>>>,
    events: Arc<Mutex<Vec<String>>>,
}

impl Site {
    fn start() -> Site {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let paths = Arc::new(Mutex::new(Vec::new()));
        let events = Arc::new(Mutex::new(Vec::new()));
        let (p, e) = (paths.clone(), events.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (p, e) = (p.clone(), e.clone());
                std::thread::spawn(move || serve(conn, &p, &e));
            }
        });
        Site { addr, paths, events }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Sends `data` as one event to the open `/events` streams.
    fn push(&self, data: &str) {
        self.events.lock().unwrap().push(data.to_string());
    }

    fn requests_of(&self, path: &str) -> usize {
        self.paths.lock().unwrap().iter().filter(|p| *p == path).count()
    }
}

fn serve(mut conn: TcpStream, paths: &Mutex<Vec<String>>, events: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) | Err(_) => return,
            Ok(_) if header == "\r\n" => break,
            Ok(_) => {}
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/").to_string();
    paths.lock().unwrap().push(path.clone());
    let page = |status: &str, extra: &str, body: &str| {
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\n{extra}connection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let answer = match path.as_str() {
        "/" => page("200 OK", "set-cookie: sid=s3cr3t; Path=/; HttpOnly; SameSite=Lax\r\n", INDEX),
        "/live" => page("200 OK", "", LIVE),
        "/events" => {
            let head =
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n\r\nretry: 60000\n\n";
            if conn.write_all(head.as_bytes()).is_err() {
                return;
            }
            // every event pushed (the test opens one stream at a time), until the browser goes
            let mut sent = 0;
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                let new: Vec<String> = events.lock().unwrap()[sent..].to_vec();
                sent += new.len();
                for data in new {
                    if conn.write_all(format!("data: {data}\n\n").as_bytes()).is_err() {
                        return;
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            return;
        }
        _ => page("404 Not Found", "", "not found"),
    };
    let _ = conn.write_all(answer.as_bytes());
}

#[test]
fn click_changes_text_and_rtl_hebrew_is_kept() {
    if !browser_available() {
        return;
    }
    let site = Site::start();
    let b = Browser::start();
    b.goto(&site.url("/"));
    assert_eq!(b.current_url(), site.url("/"));
    assert_eq!(b.title(), "crisiswatch harness");

    let status = b.find("#status");
    assert_eq!(status.text(), "idle");
    b.find("button#ack").click();
    assert_eq!(b.wait_until_text("#status", "acknowledged", WAIT).text(), "acknowledged by דנה");

    let brand = b.find("#brand");
    assert_eq!(brand.attr("dir").as_deref(), Some("rtl"));
    assert_eq!(brand.attr("lang").as_deref(), Some("he"));
    assert_eq!(brand.attr("data-none"), None);
    assert_eq!(brand.text(), "משבר ברשתות: חברת החשמל");
    let direction = b.execute("return getComputedStyle(arguments[0]).direction", &[brand.as_arg()]);
    assert_eq!(direction, "rtl");

    let note = b.find("#note");
    note.send_keys("שלום world");
    assert_eq!(note.prop("value"), "שלום world");
    assert_eq!(b.wait_until_text("#echo", "world", WAIT).text(), "שלום world");
    note.clear();
    assert_eq!(note.prop("value"), "");

    assert_eq!(b.find_all("#list li").iter().map(|e| e.text()).collect::<Vec<_>>(), ["one", "two", "three"]);
    assert!(b.find_all("#list p").is_empty());
    assert!(b.try_find("#nowhere").is_none());
    assert!(b.page_source().contains(r#"dir="rtl""#));

    // the server's HttpOnly cookie and the one the click handler set
    let mut cookies: Vec<(String, String, bool)> =
        b.cookies().into_iter().map(|c| (c.name, c.value, c.http_only)).collect();
    cookies.sort();
    let expected =
        [("acked", "yes", false), ("sid", "s3cr3t", true)].map(|(n, v, h)| (n.to_string(), v.to_string(), h));
    assert_eq!(cookies, expected);
    assert_eq!(b.cookie("sid").unwrap().same_site.as_deref(), Some("Lax"));
    b.delete_all_cookies();
    assert!(b.cookies().is_empty());
}

#[test]
fn server_sent_events_update_the_page_without_a_reload() {
    if !browser_available() {
        return;
    }
    let site = Site::start();
    let b = Browser::start();
    b.goto(&site.url("/live"));
    let marker = b.execute("return window.pageMarker", &[]);
    assert!(marker.as_str().is_some_and(|m| !m.is_empty()), "{marker}");
    // the stream is open before anything is pushed (else the event would be lost)
    let deadline = Instant::now() + WAIT;
    while site.requests_of("/events") == 0 {
        assert!(Instant::now() < deadline, "the page never opened /events");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(b.find("#feed").text(), "waiting");

    site.push("incident #7 opened: אל על");
    assert_eq!(b.wait_until_text("#feed", "incident #7", WAIT).text(), "incident #7 opened: אל על");
    site.push("incident #7 acknowledged");
    b.wait_until_js("return document.getElementById('feed').textContent.endsWith('acknowledged')", WAIT);

    // the same document all along: one load, one stream
    assert_eq!(b.execute("return window.pageMarker", &[]), marker);
    assert_eq!(site.requests_of("/live"), 1);
    assert_eq!(site.requests_of("/events"), 1);
}

#[test]
fn phone_viewport_and_screenshot() {
    if !browser_available() {
        return;
    }
    let site = Site::start();
    let b = Browser::start();
    b.goto(&site.url("/"));
    assert_eq!(b.execute("return window.innerWidth", &[]), 1280);
    b.set_window_size(390, 844);
    assert_eq!(b.execute("return window.innerWidth", &[]), 390);
    assert_eq!(b.execute("return matchMedia('(max-width: 480px)').matches", &[]), true);
    let banner = b.execute("return getComputedStyle(document.querySelector('.banner')).backgroundColor", &[]);
    assert_eq!(banner, "rgb(142, 68, 173)", "the phone-width rule applies");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.png");
    let returned = b.screenshot_png(&path);
    let png = std::fs::read(&path).unwrap();
    assert_eq!(png, returned);
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG: {:?}", &png[..png.len().min(8)]);
    assert!(png.len() > 1024, "{} bytes", png.len());
    // IHDR: the image is the viewport, 390 CSS pixels wide
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let ratio = b.execute("return window.devicePixelRatio", &[]).as_f64().unwrap();
    assert_eq!(f64::from(width), 390.0 * ratio);
}

#[test]
fn a_failure_says_where_and_what_the_page_was() {
    if !browser_available() {
        return;
    }
    let site = Site::start();
    let mut b = Browser::start();
    b.goto(&site.url("/"));
    b.execute("console.error('dashboard exploded')", &[]);
    b.set_timeout(Duration::from_millis(300));
    let started = Instant::now();
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        b.find("#incident-42");
    }))
    .expect_err("finding a missing element must fail");
    assert!(started.elapsed() < Duration::from_secs(5), "waited {:?}", started.elapsed());
    let msg = err.downcast_ref::<String>().expect("a formatted panic message");
    assert!(msg.contains("no element matches `#incident-42` after 300ms"), "{msg}");
    assert!(msg.contains(&format!("at URL: {}", site.url("/"))), "{msg}");
    assert!(msg.contains(r#"<p id="status">idle</p>"#), "{msg}");
    assert!(msg.contains("dashboard exploded"), "{msg}");
    // the browser is still usable afterwards
    b.find("#ack").click();
    b.wait_until_text("#status", "acknowledged", WAIT);
}
