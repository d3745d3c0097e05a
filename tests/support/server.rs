//! The service harness: the real `crisiswatch serve` binary with a temporary data directory,
//! listening on `127.0.0.1:0`. The port is the one the service reports in
//! `<data-dir>/listen.addr` once it has bound its listener (no port is picked, dropped and
//! hoped free). Ready when `/readyz` answers 200. It can run on another address, in a network
//! namespace of `support::netns`.

use reqwest::blocking::Client;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A running service; killed when dropped (see [`Server::terminate`] for a graceful stop).
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// The address it listens on.
    pub addr: SocketAddr,
    /// Its stderr (the logs), one file per start.
    pub log: PathBuf,
    /// The API token its requests carry ([`Builder::token`]), if any.
    token: Option<String>,
}

/// How to start a [`Server`].
pub struct Builder {
    dir: PathBuf,
    config: String,
    env: Vec<(String, String)>,
    args: Vec<String>,
    rules: Option<PathBuf>,
    listen: String,
    netns: Option<String>,
    token: Option<String>,
}

/// An HTTP client with a long timeout.
pub fn client() -> Client {
    Client::builder().timeout(Duration::from_secs(60)).build().unwrap()
}

impl Builder {
    /// The configuration file's text (written to `<dir>/crisiswatch.toml`).
    pub fn config(mut self, toml: &str) -> Builder {
        self.config = toml.to_string();
        self
    }

    /// An environment variable for the service (`CRISISWATCH_API_TOKENS` is unset unless
    /// given here).
    pub fn env(mut self, key: &str, value: &str) -> Builder {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Extra command-line arguments after `serve`.
    pub fn args(mut self, args: &[&str]) -> Builder {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    /// The address to listen on (default `127.0.0.1:0`).
    pub fn listen(mut self, addr: &str) -> Builder {
        self.listen = addr.to_string();
        self
    }

    /// Runs it in network namespace `ns` (`ip netns exec`; see `support::netns`).
    pub fn netns(mut self, ns: &str) -> Builder {
        self.netns = Some(ns.to_string());
        self
    }

    /// An API token with every scope (a `[[tokens]]` entry added to the configuration, its
    /// secret in `CW_TEST_API_TOKEN`), which [`Server::client`] then sends: a service
    /// listening beyond loopback refuses to start without one.
    pub fn token(mut self, token: &str) -> Builder {
        self.token = Some(token.to_string());
        self.env("CW_TEST_API_TOKEN", token)
    }

    /// The rules directory (default: the repository's `rules/`).
    pub fn rules(mut self, dir: &Path) -> Builder {
        self.rules = Some(dir.to_path_buf());
        self
    }

    /// Starts the service and waits until it is ready (60 s at most).
    pub fn start(self) -> Server {
        let cfg = self.dir.join("crisiswatch.toml");
        let mut config = self.config.clone();
        if self.token.is_some() {
            config.push_str("\n[[tokens]]\nname = \"test\"\nenv = \"CW_TEST_API_TOKEN\"\nscopes = [\"admin\"]\n");
        }
        std::fs::write(&cfg, config).unwrap();
        let data = self.dir.join("data");
        std::fs::create_dir_all(&data).unwrap();
        // a previous run's file (after a kill) must not be taken for this one's
        let addr_file = data.join("listen.addr");
        let _ = std::fs::remove_file(&addr_file);
        let log = (0..).map(|i| self.dir.join(format!("serve-{i}.log"))).find(|p| !p.exists()).unwrap();
        let rules = self.rules.clone().unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("rules"));
        // (`ip netns exec` execs the program: the child's pid is the service's)
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_crisiswatch")]);
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_crisiswatch")),
        };
        cmd.args(["serve", "--config", cfg.to_str().unwrap(), "--listen", &self.listen])
            .args(["--data-dir", data.to_str().unwrap(), "--rules", rules.to_str().unwrap()])
            .args(&self.args)
            .env_remove("CRISISWATCH_API_TOKENS")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("serve starts");
        let logs = |log: &Path| std::fs::read_to_string(log).unwrap_or_default();
        let deadline = Instant::now() + Duration::from_secs(60);
        let addr: SocketAddr = loop {
            let text = std::fs::read_to_string(&addr_file).unwrap_or_default();
            if let Ok(a) = text.trim_end().parse() {
                break a;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("serve exited ({status}) before listening: {}", logs(&log));
            }
            assert!(Instant::now() < deadline, "serve did not report its address: {}", logs(&log));
            std::thread::sleep(Duration::from_millis(20));
        };
        let s = Server { child, base: format!("http://{addr}"), addr, log, token: self.token };
        loop {
            if let Ok(r) = client().get(s.url("/readyz")).send() {
                if r.status() == 200 {
                    return s;
                }
            }
            assert!(Instant::now() < deadline, "server not ready: {}", s.logs());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Server {
    /// A service with its files under `dir` (config, `data/`, logs).
    pub fn builder(dir: &Path) -> Builder {
        Builder {
            dir: dir.to_path_buf(),
            config: String::new(),
            env: Vec::new(),
            args: Vec::new(),
            rules: None,
            listen: "127.0.0.1:0".into(),
            netns: None,
            token: None,
        }
    }

    /// Starts a service under `dir` with `config` and `env`.
    pub fn start(dir: &Path, config: &str, env: &[(&str, &str)]) -> Server {
        env.iter().fold(Server::builder(dir).config(config), |b, (k, v)| b.env(k, v)).start()
    }

    /// An HTTP client for it: [`client`], sending its API token if it has one.
    pub fn client(&self) -> Client {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(t) = &self.token {
            headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {t}").parse().unwrap());
        }
        Client::builder().timeout(Duration::from_secs(60)).default_headers(headers).build().unwrap()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET path`, which must answer 200 with JSON.
    pub fn get(&self, path: &str) -> Value {
        let r = self.client().get(self.url(path)).send().unwrap();
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().unwrap()
    }

    /// Posts an NDJSON body to `/v1/mentions`, which must answer 202; returns the answer.
    pub fn post_ndjson(&self, body: impl Into<Vec<u8>>) -> Value {
        let r = self
            .client()
            .post(self.url("/v1/mentions"))
            .header("content-type", "application/x-ndjson")
            .body(body.into())
            .send()
            .unwrap();
        assert_eq!(r.status(), 202);
        r.json().unwrap()
    }

    /// The value of metric `name` (without labels) in `/metrics`.
    pub fn metric(&self, name: &str) -> f64 {
        let text = self.client().get(self.url("/metrics")).send().unwrap().text().unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("no metric {name}"))
            .parse()
            .unwrap()
    }

    /// SIGTERM, then waits (60 s at most) for the exit status.
    pub fn stop(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "no exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM: must drain, snapshot and exit 0, with no thread panicking.
    pub fn terminate(self) {
        let log = self.log.clone();
        let status = self.stop();
        let logs = std::fs::read_to_string(log).unwrap_or_default();
        assert!(status.success(), "exit status {status}: {logs}");
        assert!(logs.contains("stopped"), "{logs}");
        assert!(!logs.contains("panicked"), "a thread panicked on the way down: {logs}");
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
