//! A real browser for the dashboard's tests: Debian's `chromium`, headless, driven through
//! `chromedriver` over the W3C WebDriver protocol with a small client on `reqwest` (blocking).
//!
//! Each [`Browser`] starts its own `chromedriver` (on a port the OS gives it: `--port=0`, read
//! back from its "started successfully on port N" line) and one session with a fresh profile in
//! a temporary directory; dropping it ends the session (which closes chromium) and kills the
//! driver. Every failure panics with what was attempted, the current URL and an excerpt of the
//! page's source.
//!
//! The binaries are `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian's `chromium` and
//! `chromium-driver`; `scripts/test` installs them), or `$CW_CHROMIUM` and `$CW_CHROMEDRIVER`.
//! A missing browser fails the test — unless `CW_SKIP_BROWSER=1`, see [`browser_available`].
//!
//! ```ignore
//! if !browser_available() { return; }
//! let b = Browser::start();
//! b.goto(&server.url("/dashboard"));
//! b.find("button#ack").click();
//! b.wait_until_text("#status", "acknowledged", Duration::from_secs(5));
//! ```

use base64::Engine as _;
use reqwest::blocking::Client;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};
use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// How long [`Browser::find`] (and the other waits without an explicit timeout) wait by
/// default; see [`Browser::set_timeout`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Between two polls of a wait.
const POLL: Duration = Duration::from_millis(50);

/// The W3C key of an element reference in JSON.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How much of the page's source a failure message shows.
const SOURCE_EXCERPT: usize = 2500;

/// `$CW_CHROMIUM`, or `/usr/bin/chromium`.
pub fn chromium_path() -> PathBuf {
    std::env::var_os("CW_CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// `$CW_CHROMEDRIVER`, or `/usr/bin/chromedriver`.
pub fn chromedriver_path() -> PathBuf {
    std::env::var_os("CW_CHROMEDRIVER").map_or_else(|| PathBuf::from("/usr/bin/chromedriver"), PathBuf::from)
}

/// Why no browser can be started (a binary is missing), or `None`.
pub fn missing_browser() -> Option<String> {
    let missing: Vec<String> =
        [("chromium", chromium_path(), "CW_CHROMIUM"), ("chromedriver", chromedriver_path(), "CW_CHROMEDRIVER")]
            .into_iter()
            .filter(|(_, p, _)| !p.is_file())
            .map(|(what, p, var)| format!("{what} not found at {} (set ${var} to override)", p.display()))
            .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "{}; `scripts/test` installs Debian's chromium and chromium-driver \
             (apt-get install chromium chromium-driver)",
            missing.join("; ")
        )
    })
}

/// Whether the browser tests can run. `true` when chromium and chromedriver are there. When
/// they are not: with `CW_SKIP_BROWSER=1` it says why on stderr and returns `false` (the test
/// then returns early); without it, it panics — a missing browser is a failure, never a silent
/// skip.
pub fn browser_available() -> bool {
    let Some(why) = missing_browser() else { return true };
    if std::env::var("CW_SKIP_BROWSER").as_deref() == Ok("1") {
        eprintln!("browser test skipped (CW_SKIP_BROWSER=1): {why}");
        false
    } else {
        panic!("no browser for the browser tests: {why}. Set CW_SKIP_BROWSER=1 to skip them knowingly.");
    }
}

/// An error answered by the driver (or the transport to it).
#[derive(Debug, Clone)]
pub struct WdError {
    /// HTTP status (0 for a transport error).
    pub status: u16,
    /// The W3C error code: `no such element`, `stale element reference`, `javascript error`, …
    pub error: String,
    /// The driver's message.
    pub message: String,
}

impl fmt::Display for WdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // chromedriver appends a native stack trace and session info: not useful here
        let msg = self.message.lines().next().unwrap_or_default();
        write!(f, "{} (HTTP {}): {msg}", self.error, self.status)
    }
}

/// A cookie as the browser holds it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cookie {
    /// Name.
    pub name: String,
    /// Value.
    pub value: String,
    /// Path.
    #[serde(default)]
    pub path: Option<String>,
    /// Domain.
    #[serde(default)]
    pub domain: Option<String>,
    /// `Secure`.
    #[serde(default)]
    pub secure: bool,
    /// `HttpOnly`.
    #[serde(default)]
    pub http_only: bool,
    /// Expiry, seconds since the epoch (none for a session cookie).
    #[serde(default)]
    pub expiry: Option<u64>,
    /// `SameSite`: `Strict`, `Lax` or `None`.
    #[serde(default)]
    pub same_site: Option<String>,
}

/// A headless chromium with its own chromedriver and profile; both end when it is dropped.
pub struct Browser {
    client: Client,
    /// `http://127.0.0.1:PORT/session/ID`
    session: String,
    driver: Child,
    /// chromedriver's stdout (after the port line) and stderr, for failure messages.
    driver_log: Arc<Mutex<String>>,
    timeout: Duration,
    /// The profile (`--user-data-dir`); removed after the browser is gone.
    _profile: tempfile::TempDir,
}

/// An element of the page, found by a CSS selector.
pub struct Element<'b> {
    browser: &'b Browser,
    id: String,
    css: String,
}

/// Reads `r` line by line into `log`; the first "started successfully on port N" line's N is
/// sent on `port`.
fn drain(r: impl std::io::Read, log: Arc<Mutex<String>>, port: Option<mpsc::Sender<u16>>) {
    let mut port = port;
    for line in BufReader::new(r).lines() {
        let Ok(line) = line else { break };
        if let Some(p) = port.as_ref().and_then(|_| line.split("started successfully on port ").nth(1)) {
            if let Ok(n) = p.trim_end_matches(['.', ' ']).parse() {
                let _ = port.take().unwrap().send(n);
            }
        }
        let mut l = log.lock().unwrap();
        l.push_str(&line);
        l.push('\n');
    }
}

/// The first `n` characters of `s` (on a character boundary), with "…" when cut.
fn excerpt(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// A running chromedriver: the process, its output so far (kept up to date) and its port.
type Driver = (Child, Arc<Mutex<String>>, u16);

/// Runs chromedriver on a port of its choosing, until it reports the port; or (exit status,
/// output) when it exits or stays silent for 20 s.
fn start_driver(path: &Path) -> Result<Driver, (String, String)> {
    let mut driver = Command::new(path)
        .arg("--port=0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()));
    let log = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = mpsc::channel();
    let (out, err) = (driver.stdout.take().unwrap(), driver.stderr.take().unwrap());
    let l = log.clone();
    std::thread::spawn(move || drain(out, l, Some(tx)));
    let l = log.clone();
    std::thread::spawn(move || drain(err, l, None));
    let waiting = Instant::now();
    while waiting.elapsed() <= Duration::from_secs(20) {
        if let Ok(port) = rx.recv_timeout(Duration::from_millis(200)) {
            return Ok((driver, log, port));
        }
        if driver.try_wait().ok().flatten().is_some() {
            std::thread::sleep(Duration::from_millis(200)); // the rest of its output
            break;
        }
    }
    let _ = driver.kill();
    let status = driver.wait().map(|s| s.to_string()).unwrap_or_default();
    let output = log.lock().unwrap().clone();
    Err((status, output))
}

impl Browser {
    /// Starts chromedriver and a headless chromium session (window 1280×900), or panics
    /// saying why (see [`browser_available`] for a test that may be skipped).
    pub fn start() -> Browser {
        if let Some(why) = missing_browser() {
            panic!("cannot start the browser: {why}");
        }
        let driver_path = chromedriver_path();
        // `--port=0`: chromedriver picks a port for one address family and may find it taken
        // on the other ("IPv4 port not available", seen with servers of other tests beside
        // it): it exits at once and is started again, up to five times
        let mut attempt = 0;
        let (mut driver, log, port) = loop {
            attempt += 1;
            match start_driver(&driver_path) {
                Ok(started) => break started,
                Err((_, output)) if attempt < 5 && output.contains("port not available") => continue,
                Err((status, output)) => panic!(
                    "chromedriver ({}) did not report its port within 20 s ({status}, attempt {attempt}); its output:\n{output}",
                    driver_path.display(),
                ),
            }
        };
        let started = Instant::now();
        let base = format!("http://127.0.0.1:{port}");
        let client = Client::builder().timeout(Duration::from_secs(90)).build().unwrap();
        // the port is reported once it listens; /status must also say ready
        loop {
            let ready = client
                .get(format!("{base}/status"))
                .timeout(Duration::from_secs(5))
                .send()
                .ok()
                .and_then(|r| r.json::<Value>().ok())
                .is_some_and(|v| v["value"]["ready"] == true);
            if ready {
                break;
            }
            if started.elapsed() > Duration::from_secs(20) {
                let _ = driver.kill();
                let _ = driver.wait();
                panic!("chromedriver at {base} not ready within 20 s; its output:\n{}", log.lock().unwrap());
            }
            std::thread::sleep(POLL);
        }

        let profile = tempfile::Builder::new().prefix("cw-chromium-").tempdir().expect("profile directory");
        let args = [
            "--headless=new".to_string(),
            "--no-sandbox".to_string(),
            "--disable-gpu".to_string(),
            "--no-first-run".to_string(),
            "--disable-background-networking".to_string(),
            "--disable-component-update".to_string(),
            "--disable-sync".to_string(),
            // shared memory in the profile's /tmp, not /dev/shm: containers give /dev/shm 64 MB,
            // too little for chromium (Debian's launcher adds this itself, when its check works)
            "--disable-dev-shm-usage".to_string(),
            "--window-size=1280,900".to_string(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": {"pageLoad": 30_000, "script": 30_000, "implicit": 0},
            "goog:chromeOptions": {"binary": chromium_path(), "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let answer = client.post(format!("{base}/session")).json(&caps).send();
        let answer: Value = match answer.and_then(|r| r.json()) {
            Ok(v) => v,
            Err(e) => {
                let _ = driver.kill();
                let _ = driver.wait();
                panic!("new session at {base}: {e}; chromedriver's output:\n{}", log.lock().unwrap());
            }
        };
        let Some(id) = answer["value"]["sessionId"].as_str() else {
            let _ = driver.kill();
            let _ = driver.wait();
            let msg = answer["value"]["message"].as_str().unwrap_or_default();
            panic!(
                "chromium did not start ({}): {}\nchromedriver's output:\n{}",
                chromium_path().display(),
                excerpt(msg, 2000),
                log.lock().unwrap()
            );
        };
        Browser {
            session: format!("{base}/session/{id}"),
            client,
            driver,
            driver_log: log,
            timeout: DEFAULT_TIMEOUT,
            _profile: profile,
        }
    }

    /// The default timeout of [`find`](Browser::find) and the other waits without one.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// One WebDriver command on the session (`path` after `/session/ID`); no panic.
    pub fn command(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value, WdError> {
        let url = format!("{}{path}", self.session);
        let mut req = self.client.request(method.clone(), &url);
        if method == Method::POST {
            req = req.json(&body.unwrap_or_else(|| json!({})));
        }
        let transport = |e: reqwest::Error| WdError { status: 0, error: "transport".into(), message: e.to_string() };
        let r = req.send().map_err(transport)?;
        let status = r.status().as_u16();
        let v: Value = r.json().map_err(transport)?;
        let value = v.get("value").cloned().unwrap_or(Value::Null);
        if status == 200 {
            Ok(value)
        } else {
            Err(WdError {
                status,
                error: value["error"].as_str().unwrap_or("unknown error").to_string(),
                message: value["message"].as_str().unwrap_or_default().to_string(),
            })
        }
    }

    /// Panics with `what`, the current URL, the page's source (from `<body`, cut) and the
    /// browser's console.
    #[track_caller]
    pub fn fail(&self, what: impl fmt::Display) -> ! {
        let url = self
            .command(Method::GET, "/url", None)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "<unknown>".into());
        let source = self.command(Method::GET, "/source", None).ok().and_then(|v| v.as_str().map(str::to_string));
        let source = source.map_or_else(
            || "<unavailable>".to_string(),
            |s| excerpt(s.find("<body").map_or(s.as_str(), |i| &s[i..]), SOURCE_EXCERPT),
        );
        let console = self.console_log();
        let console =
            if console.is_empty() { String::new() } else { format!("\n  console:\n    {}", console.join("\n    ")) };
        panic!("browser: {what}\n  at URL: {url}{console}\n  page source:\n{source}\n");
    }

    #[track_caller]
    fn must(&self, what: impl Fn() -> String, r: Result<Value, WdError>) -> Value {
        r.unwrap_or_else(|e| self.fail(format!("{}: {e}", what())))
    }

    /// Opens `url` and waits for its load event.
    #[track_caller]
    pub fn goto(&self, url: &str) {
        self.must(|| format!("goto {url}"), self.command(Method::POST, "/url", Some(json!({"url": url}))));
    }

    /// Reloads the page.
    #[track_caller]
    pub fn refresh(&self) {
        self.must(|| "refresh".into(), self.command(Method::POST, "/refresh", None));
    }

    /// The URL of the page shown.
    #[track_caller]
    pub fn current_url(&self) -> String {
        let v = self.must(|| "current URL".into(), self.command(Method::GET, "/url", None));
        v.as_str().unwrap_or_default().to_string()
    }

    /// The page's title.
    #[track_caller]
    pub fn title(&self) -> String {
        let v = self.must(|| "title".into(), self.command(Method::GET, "/title", None));
        v.as_str().unwrap_or_default().to_string()
    }

    /// The page's source (the DOM as it is now, serialised).
    #[track_caller]
    pub fn page_source(&self) -> String {
        let v = self.must(|| "page source".into(), self.command(Method::GET, "/source", None));
        v.as_str().unwrap_or_default().to_string()
    }

    fn element(&self, css: &str, v: &Value) -> Element<'_> {
        let id = v[ELEMENT_KEY].as_str().unwrap_or_else(|| self.fail(format!("`{css}`: not an element: {v}")));
        Element { browser: self, id: id.to_string(), css: css.to_string() }
    }

    /// The first element matching `css` now, or `None`.
    #[track_caller]
    pub fn try_find(&self, css: &str) -> Option<Element<'_>> {
        match self.command(Method::POST, "/element", Some(json!({"using": "css selector", "value": css}))) {
            Ok(v) => Some(self.element(css, &v)),
            Err(e) if e.error == "no such element" => None,
            Err(e) => self.fail(format!("find `{css}`: {e}")),
        }
    }

    /// Every element matching `css` now (no wait; possibly none).
    #[track_caller]
    pub fn find_all(&self, css: &str) -> Vec<Element<'_>> {
        let v = self.must(
            || format!("find all `{css}`"),
            self.command(Method::POST, "/elements", Some(json!({"using": "css selector", "value": css}))),
        );
        v.as_array().map(|a| a.iter().map(|e| self.element(css, e)).collect()).unwrap_or_default()
    }

    /// The first element matching `css`, waiting for it up to `timeout`.
    #[track_caller]
    pub fn wait_for(&self, css: &str, timeout: Duration) -> Element<'_> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self.try_find(css) {
                return e;
            }
            if Instant::now() > deadline {
                self.fail(format!("no element matches `{css}` after {timeout:?}"));
            }
            std::thread::sleep(POLL);
        }
    }

    /// The first element matching `css`, waiting for it up to the default timeout.
    #[track_caller]
    pub fn find(&self, css: &str) -> Element<'_> {
        self.wait_for(css, self.timeout)
    }

    /// The first element matching `css` whose text contains `needle`, waiting up to `timeout`
    /// (the element is looked up again at each poll: it may be replaced meanwhile).
    #[track_caller]
    pub fn wait_until_text(&self, css: &str, needle: &str, timeout: Duration) -> Element<'_> {
        let deadline = Instant::now() + timeout;
        let mut last = None;
        loop {
            if let Some(e) = self.try_find(css) {
                match e.try_text() {
                    Ok(t) if t.contains(needle) => return e,
                    Ok(t) => last = Some(t),
                    Err(err) if err.error == "stale element reference" => {}
                    Err(err) => self.fail(format!("text of `{css}`: {err}")),
                }
            }
            if Instant::now() > deadline {
                let last = last.map_or_else(|| "no element matched".to_string(), |t| format!("its text was {t:?}"));
                self.fail(format!("`{css}` did not contain {needle:?} after {timeout:?} ({last})"));
            }
            std::thread::sleep(POLL);
        }
    }

    /// Waits up to `timeout` for the script `js` (a function body: `return …`) to return a
    /// truthy value, and returns that value.
    #[track_caller]
    pub fn wait_until_js(&self, js: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.execute(js, &[]);
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return v;
            }
            if Instant::now() > deadline {
                self.fail(format!("script stayed falsy ({v}) for {timeout:?}: {js}"));
            }
            std::thread::sleep(POLL);
        }
    }

    /// Runs `js` (a function body; `arguments[i]` are `args`, see [`Element::as_arg`]) in the
    /// page and returns what it returns. A returned promise is awaited.
    #[track_caller]
    pub fn execute(&self, js: &str, args: &[Value]) -> Value {
        self.must(
            || format!("execute {}", excerpt(js, 200)),
            self.command(Method::POST, "/execute/sync", Some(json!({"script": js, "args": args}))),
        )
    }

    /// Resizes the window to `width`×`height` CSS pixels (headless chromium: the viewport is
    /// then `width` wide; its height is a little less than `height`).
    #[track_caller]
    pub fn set_window_size(&self, width: u32, height: u32) {
        self.must(
            || format!("set window size {width}x{height}"),
            self.command(Method::POST, "/window/rect", Some(json!({"width": width, "height": height}))),
        );
    }

    /// A PNG of the viewport, written to `path`; returns its bytes.
    #[track_caller]
    pub fn screenshot_png(&self, path: &Path) -> Vec<u8> {
        let v = self.must(|| "screenshot".into(), self.command(Method::GET, "/screenshot", None));
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .unwrap_or_else(|e| self.fail(format!("screenshot is not base64: {e}")));
        std::fs::write(path, &png).unwrap_or_else(|e| panic!("write screenshot {}: {e}", path.display()));
        png
    }

    /// The cookies visible to the current page.
    #[track_caller]
    pub fn cookies(&self) -> Vec<Cookie> {
        let v = self.must(|| "cookies".into(), self.command(Method::GET, "/cookie", None));
        serde_json::from_value(v.clone()).unwrap_or_else(|e| self.fail(format!("cookies {v}: {e}")))
    }

    /// The cookie `name` of the current page, if any.
    #[track_caller]
    pub fn cookie(&self, name: &str) -> Option<Cookie> {
        self.cookies().into_iter().find(|c| c.name == name)
    }

    /// Deletes the current page's cookies.
    #[track_caller]
    pub fn delete_all_cookies(&self) {
        self.must(|| "delete all cookies".into(), self.command(Method::DELETE, "/cookie", None));
    }

    /// The browser console's messages since the last call (`LEVEL message` each; empty when
    /// the driver cannot give them).
    pub fn console_log(&self) -> Vec<String> {
        let Ok(v) = self.command(Method::POST, "/se/log", Some(json!({"type": "browser"}))) else { return Vec::new() };
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|e| format!("{} {}", e["level"].as_str().unwrap_or("?"), e["message"].as_str().unwrap_or("")))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// What chromedriver wrote so far.
    pub fn driver_log(&self) -> String {
        self.driver_log.lock().unwrap().clone()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // ending the session closes chromium; then the driver goes, then the profile
        let _ = self.client.delete(&self.session).timeout(Duration::from_secs(10)).send();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Element<'_> {
    fn path(&self, tail: &str) -> String {
        format!("/element/{}{tail}", self.id)
    }

    #[track_caller]
    fn must(&self, what: &str, r: Result<Value, WdError>) -> Value {
        r.unwrap_or_else(|e| {
            let hint = if e.error == "stale element reference" { " (the page replaced it: find it again)" } else { "" };
            self.browser.fail(format!("{what} of `{}`: {e}{hint}", self.css))
        })
    }

    /// The selector it was found by.
    pub fn css(&self) -> &str {
        &self.css
    }

    /// The element as an argument of [`Browser::execute`] (`arguments[i]` in the script).
    pub fn as_arg(&self) -> Value {
        json!({ ELEMENT_KEY: self.id })
    }

    fn try_text(&self) -> Result<String, WdError> {
        self.browser.command(Method::GET, &self.path("/text"), None).map(|v| v.as_str().unwrap_or_default().to_string())
    }

    /// Its rendered text (as the user sees it: hidden parts left out).
    #[track_caller]
    pub fn text(&self) -> String {
        let v = self.must("text", self.try_text().map(Value::String));
        v.as_str().unwrap_or_default().to_string()
    }

    /// The attribute `name`, or `None`.
    #[track_caller]
    pub fn attr(&self, name: &str) -> Option<String> {
        let v = self.must(
            &format!("attribute {name}"),
            self.browser.command(Method::GET, &self.path(&format!("/attribute/{name}")), None),
        );
        v.as_str().map(str::to_string)
    }

    /// The DOM property `name` (`value` of an input, `checked`, …), `Null` when unset.
    #[track_caller]
    pub fn prop(&self, name: &str) -> Value {
        self.must(
            &format!("property {name}"),
            self.browser.command(Method::GET, &self.path(&format!("/property/{name}")), None),
        )
    }

    /// Whether it is displayed.
    #[track_caller]
    pub fn is_displayed(&self) -> bool {
        self.must("displayed", self.browser.command(Method::GET, &self.path("/displayed"), None)) == true
    }

    /// Clicks it (scrolled into view; fails when something else would get the click).
    #[track_caller]
    pub fn click(&self) {
        self.must("click", self.browser.command(Method::POST, &self.path("/click"), None));
    }

    /// Types `text` into it (focused first).
    #[track_caller]
    pub fn send_keys(&self, text: &str) {
        self.must("send keys", self.browser.command(Method::POST, &self.path("/value"), Some(json!({"text": text}))));
    }

    /// Empties an input or text area.
    #[track_caller]
    pub fn clear(&self) {
        self.must("clear", self.browser.command(Method::POST, &self.path("/clear"), None));
    }
}
