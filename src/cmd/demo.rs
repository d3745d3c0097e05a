//! `crisiswatch demo`: the whole product with no set-up. The live service runs with the
//! built-in rules, playbooks, templates and tone weights; a simulated stream of a dozen
//! brands in five languages is sent to it over its own HTTP ingest API: first a few weeks of
//! history as fast as the service takes it (so baselines and calibration are warm and past
//! incidents exist), then a live stream paced at `speed` times real time, in which an outage
//! at the busiest brand and a viral complaint at another begin about a minute after the live
//! part starts.
//!
//! The service runs on the event clock (time moves with the mentions), so at `speed` 10 an
//! hour of the stream passes in six minutes and the dashboard's times are the stream's.

use super::simulate::{self, Scenario, Scripted, SimOptions};
use crate::serve::config::{self, ClockMode, Overrides};
use crate::time::{parse_timestamp, Millis, MINUTE_MS};
use anyhow::{bail, Context};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Options of `crisiswatch demo`.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Listen address (default `127.0.0.1:8686`, or a free port when that one is taken).
    pub listen: Option<String>,
    /// Data directory (must not hold a crisiswatch store already); default a fresh directory
    /// under the system's temporary directory, removed at exit.
    pub data_dir: Option<PathBuf>,
    /// Live stream speed, times real time.
    pub speed: f64,
    /// Days of history backfilled before the live part.
    pub history_days: u32,
    /// Brands in the stream.
    pub brands: u32,
    /// Seed of the simulated stream.
    pub seed: u64,
    /// A service configuration (users, tokens, receivers, routes) to run the demo with;
    /// its listen address, data directory and clock are the demo's.
    pub config: Option<PathBuf>,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions { listen: None, data_dir: None, speed: 1.0, history_days: 14, brands: 12, seed: 1, config: None }
    }
}

/// Days of live stream after the history (the feed stops after them; the service stays up).
const LIVE_DAYS: u32 = 2;
/// History mentions per ingest request.
const BATCH_LINES: usize = 5_000;
/// The feeder waits while the service's queue holds more than this many mentions, so the
/// engine's clock never falls a day behind what is sent.
const MAX_QUEUED: f64 = 20_000.0;

/// Runs the demo until SIGINT/SIGTERM.
///
/// # Errors
/// The data directory is not empty or cannot be created, the address cannot be bound, the
/// service fails to start.
pub fn run(opts: &DemoOptions) -> anyhow::Result<()> {
    if !(opts.speed.is_finite() && opts.speed > 0.0 && opts.speed <= 10_000.0) {
        bail!("--speed must be a number in (0, 10000], got {}", opts.speed);
    }
    let (data_dir, temporary) = match &opts.data_dir {
        Some(d) => {
            if d.join("crisiswatch.db").exists() {
                bail!(
                    "`{}` already holds a crisiswatch store; the demo needs an empty directory (or leave out --data-dir for a temporary one)",
                    d.display()
                );
            }
            (d.clone(), false)
        }
        None => (std::env::temp_dir().join(format!("crisiswatch-demo-{}", std::process::id())), true),
    };
    std::fs::create_dir_all(&data_dir).with_context(|| format!("cannot create `{}`", data_dir.display()))?;
    let listener = bind(opts.listen.as_deref())?;
    let addr = listener.local_addr()?;
    let o = Overrides {
        listen: Some(addr.to_string()),
        data_dir: Some(data_dir.clone()),
        clock: Some(ClockMode::Event),
        ..Default::default()
    };
    let mut cfg = config::load(opts.config.as_deref(), &o).map_err(|d| anyhow::anyhow!("{d}"))?;
    cfg.fsync = false; // a demo: a power cut may lose the last second, a crash loses nothing
                       // with credentials configured, the simulated feed ingests with a token of its own
    let feed_token = (!cfg.tokens.is_empty() || !cfg.users.is_empty()).then(crate::serve::auth::random_hex);
    if let Some(secret) = &feed_token {
        cfg.tokens.push(config::ApiToken {
            name: "demo-feed".into(),
            secret: secret.as_bytes().to_vec(),
            scopes: vec![config::Scope::Ingest],
        });
    }
    crate::serve::init_logging(cfg.log_format);
    let rules = rules(opts.brands.max(2) as usize);
    let playbooks = crate::alert::playbook::Playbooks::builtin();
    let tone = super::load::tone(None)?;
    let used = super::load::used(None, None, playbooks.books.len(), &tone, None);
    let brands = format!("built-in defaults and the {} simulated brands", rules.brands.len());
    tracing::info!("{}", used.replace("built-in defaults (a brand for every `brand` field)", &brands));
    let stop = Arc::new(AtomicBool::new(false));
    let url = format!("http://{addr}");
    let feeder = {
        let (opts, url, stop) = (opts.clone(), url.clone(), stop.clone());
        std::thread::Builder::new().name("demo-feed".into()).spawn(move || {
            if let Err(e) = feed(&opts, &url, feed_token.as_deref(), &stop) {
                if !stop.load(Ordering::Relaxed) {
                    tracing::error!("demo feed stopped: {e:#}");
                }
            }
        })?
    };
    eprintln!(
        "\ncrisiswatch demo: open {url}/ in a browser (data in `{}`{})\n\
         history of {} days is loading; the live stream then runs at {}x real time and a crisis \
         starts about a minute in. Ctrl-C stops.\n",
        data_dir.display(),
        if temporary { ", removed at exit" } else { "" },
        opts.history_days,
        opts.speed
    );
    let served = crate::serve::run_until(
        cfg,
        rules,
        Box::new(tone),
        Some(Arc::new(playbooks)),
        None,
        Some(listener),
        crate::serve::shutdown_signal(),
    );
    stop.store(true, Ordering::Relaxed);
    let _ = feeder.join();
    if temporary {
        let _ = std::fs::remove_dir_all(&data_dir);
    }
    served
}

/// The built-in defaults, with the simulated brands named (their keyword is their name).
fn rules(n: usize) -> crate::rules::RuleSet {
    let mut set = crate::rules::RuleSet::builtin();
    for (id, name) in simulate::brand_names(n) {
        set.brands.push(crate::rules::BrandDef {
            id,
            keywords: vec![name.to_lowercase()],
            name,
            exclusions: Vec::new(),
            rules: set.default_rules.clone(),
            sensitivity: None,
            planned: Vec::new(),
        });
    }
    set
}

/// Binds `listen`, or `127.0.0.1:8686` falling back to a free port when it is taken.
fn bind(listen: Option<&str>) -> anyhow::Result<std::net::TcpListener> {
    match listen {
        Some(a) => std::net::TcpListener::bind(a).with_context(|| format!("cannot listen on {a}")),
        None => std::net::TcpListener::bind("127.0.0.1:8686")
            .or_else(|_| std::net::TcpListener::bind("127.0.0.1:0"))
            .context("cannot listen on 127.0.0.1"),
    }
}

/// The simulation options of a demo whose live part starts at `live_start`.
pub fn sim_options(opts: &DemoOptions, live_start: Millis) -> SimOptions {
    let live_start = live_start - live_start % MINUTE_MS;
    let history_min = i64::from(opts.history_days) * 1440;
    let n = opts.brands.max(2) as usize;
    // a minute of real time into the live part, in stream minutes
    let first = history_min + (opts.speed.ceil() as i64).max(1);
    SimOptions {
        seed: opts.seed,
        days: opts.history_days + LIVE_DAYS,
        brands: n as u32,
        start: live_start - history_min * MINUTE_MS,
        scripted: vec![
            Scripted { brand: n - 1, kind: Scenario::Outage, start_min: first, mult: 8.0 },
            Scripted { brand: n - 3, kind: Scenario::ViralComplaint, start_min: first + 1, mult: 1.0 },
        ],
        ..SimOptions::default()
    }
}

/// Simulates the stream and sends it to the service at `url`: history at full speed, the
/// live part paced.
fn feed(opts: &DemoOptions, url: &str, token: Option<&str>, stop: &AtomicBool) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    // reqwest's futures start their timers when built: build them inside the runtime
    let _inside = rt.enter();
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(t) = token {
        headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {t}").parse()?);
    }
    let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).default_headers(headers).build()?;
    // the service is up once it answers
    let deadline = Instant::now() + Duration::from_secs(120);
    while rt.block_on(client.get(format!("{url}/healthz")).send()).is_err() {
        if stop.load(Ordering::Relaxed) || Instant::now() > deadline {
            bail!("the service did not start");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // stream time `live_start` is now: what the simulator puts between the minute's start
    // and now is sent at once, the rest when its time comes
    let live_start = crate::clock::wall_ms();
    let anchor = Instant::now();
    let sim = sim_options(opts, live_start);
    let mut sink = Feed {
        rt: &rt,
        client,
        url: url.to_string(),
        stop,
        live_start: live_start - live_start % MINUTE_MS,
        anchor: (live_start, anchor),
        speed: opts.speed,
        live: false,
        partial: Vec::new(),
        batch: String::new(),
        lines: 0,
        batch_first: None,
        sent: 0,
        since_check: 0,
        history_started: Instant::now(),
        last_post: Instant::now(),
    };
    simulate::simulate(&sim, &mut sink).map_err(|e| anyhow::anyhow!("{e}"))?;
    sink.flush()?;
    tracing::info!(mentions = sink.sent, "demo stream finished; the service keeps running");
    Ok(())
}

/// A `Write` that takes the simulator's JSON lines and posts them to the service in batches.
struct Feed<'a> {
    rt: &'a tokio::runtime::Runtime,
    client: reqwest::Client,
    url: String,
    stop: &'a AtomicBool,
    live_start: Millis,
    speed: f64,
    /// Stream time and the instant it corresponds to.
    anchor: (Millis, Instant),
    /// Whether the history is sent.
    live: bool,
    partial: Vec<u8>,
    batch: String,
    lines: usize,
    batch_first: Option<Millis>,
    sent: u64,
    since_check: u64,
    history_started: Instant,
    last_post: Instant,
}

impl Feed<'_> {
    fn line(&mut self, line: &str) -> anyhow::Result<()> {
        let ts = line
            .split_once("\"ts\":\"")
            .and_then(|(_, rest)| rest.split_once('"'))
            .and_then(|(t, _)| parse_timestamp(t).ok())
            .context("a simulated line without a timestamp")?;
        if ts >= self.live_start {
            if !self.live {
                self.post()?;
                self.wait_for_queue(0.0)?;
                self.live = true;
                tracing::info!(
                    mentions = self.sent,
                    elapsed_s = self.history_started.elapsed().as_secs(),
                    "demo history loaded; the live stream begins"
                );
            }
            let (t0, at) = self.anchor;
            let ahead = (ts - t0) as f64 / 1000.0 / self.speed;
            let due = if ahead > 0.0 { at + Duration::from_secs_f64(ahead) } else { at };
            if due > Instant::now() {
                self.post()?;
                while Instant::now() < due {
                    if self.stop.load(Ordering::Relaxed) {
                        bail!("stopped");
                    }
                    std::thread::sleep((due - Instant::now()).min(Duration::from_millis(200)));
                }
            }
        }
        self.batch_first.get_or_insert(ts);
        self.batch.push_str(line);
        self.batch.push('\n');
        self.lines += 1;
        let span_too_long = self.batch_first.is_some_and(|f| ts - f > 3 * 60 * MINUTE_MS);
        let live_and_stale = self.live && self.last_post.elapsed() >= Duration::from_secs(1);
        if self.lines >= BATCH_LINES || span_too_long || live_and_stale {
            self.post()?;
        }
        Ok(())
    }

    /// Sends the batch; every mention must be accepted (a rejection is a bug worth stopping for).
    fn post(&mut self) -> anyhow::Result<()> {
        if self.lines == 0 {
            return Ok(());
        }
        if self.stop.load(Ordering::Relaxed) {
            bail!("stopped");
        }
        if self.since_check >= 50_000 {
            self.wait_for_queue(MAX_QUEUED)?;
        }
        let body = std::mem::take(&mut self.batch);
        let n = std::mem::take(&mut self.lines);
        self.batch_first = None;
        let mut tries = 0;
        loop {
            let sent = self.rt.block_on(
                self.client
                    .post(format!("{}/v1/mentions", self.url))
                    .header("content-type", "application/x-ndjson")
                    .body(body.clone())
                    .send(),
            );
            match sent {
                Ok(r) if r.status().as_u16() == 202 => {
                    let v: serde_json::Value = self.rt.block_on(r.json())?;
                    if v["rejected"].as_u64().unwrap_or(0) > 0 {
                        bail!("the service rejected simulated mentions: {}", v["errors"]);
                    }
                    break;
                }
                Ok(r) if r.status().as_u16() == 503 && tries < 60 => {}
                Ok(r) => bail!("ingest answered {}: {}", r.status(), self.rt.block_on(r.text()).unwrap_or_default()),
                Err(e) if tries < 60 && !self.stop.load(Ordering::Relaxed) => {
                    tracing::debug!("ingest failed, retrying: {e}");
                }
                Err(e) => return Err(e.into()),
            }
            tries += 1;
            std::thread::sleep(Duration::from_millis(500));
        }
        self.sent += n as u64;
        self.since_check += n as u64;
        self.last_post = Instant::now();
        Ok(())
    }

    /// Waits until the service's queue holds at most `max` mentions.
    fn wait_for_queue(&mut self, max: f64) -> anyhow::Result<()> {
        self.since_check = 0;
        loop {
            let text = self
                .rt
                .block_on(async { self.client.get(format!("{}/metrics", self.url)).send().await?.text().await })?;
            let depth = text
                .lines()
                .find_map(|l| l.strip_prefix("crisiswatch_queue_depth "))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .context("no crisiswatch_queue_depth in /metrics")?;
            if depth <= max {
                return Ok(());
            }
            if self.stop.load(Ordering::Relaxed) {
                bail!("stopped");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        self.post()
    }
}

impl Write for Feed<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.partial.extend_from_slice(buf);
        while let Some(i) = memchr::memchr(b'\n', &self.partial) {
            let line: Vec<u8> = self.partial.drain(..=i).collect();
            let line = std::str::from_utf8(&line[..i]).map_err(std::io::Error::other)?.to_string();
            self.line(&line).map_err(|e| std::io::Error::other(format!("{e:#}")))?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The live crisis is scheduled a minute of real time after the live start, at any speed,
    /// on the busiest brand, and the history ends where the live part begins.
    #[test]
    fn the_demo_crisis_starts_a_real_minute_into_the_live_part() {
        let live = parse_timestamp("2026-11-30T12:00:30Z").unwrap();
        for speed in [1.0, 10.0, 60.0] {
            let o = DemoOptions { speed, ..DemoOptions::default() };
            let s = sim_options(&o, live);
            let live_min = i64::from(o.history_days) * 1440;
            assert_eq!(s.start + live_min * MINUTE_MS, parse_timestamp("2026-11-30T12:00:00Z").unwrap());
            let outage = s.scripted.iter().find(|x| x.kind == Scenario::Outage).unwrap();
            assert_eq!(outage.brand, 11);
            let real_minutes = (outage.start_min - live_min) as f64 / speed;
            assert!(
                (0.9..=1.1).contains(&real_minutes) || speed < 1.5 && real_minutes <= 1.0,
                "{speed}: {real_minutes}"
            );
        }
    }
}
