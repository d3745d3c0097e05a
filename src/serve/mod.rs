//! `crisiswatch serve`: the live service. The same [`crate::engine::Engine`] as
//! `replay`, fed over HTTP, with its state kept in a data directory:
//!
//! * `config`: the typed configuration file and flags;
//! * `ingest`: request bodies to validated records;
//! * `log`: the ingest log (write-ahead: nothing is acknowledged before it is durable);
//! * `store`: SQLite for incidents, events, actions, dead letters and snapshots;
//! * `order`: admission and the event clock's reorder buffer (pure);
//! * `sequencer`: the thread that admits, de-duplicates and logs requests;
//! * `pipeline`: the engine thread, recovery, snapshots and the notifier;
//! * `api`: the HTTP routes;
//! * `dashboard`: the HTML pages at `/` (brands, incidents, actions, live updates);
//! * `auth`: who is asking (tokens, users, sessions) and the scope each route needs;
//! * `login`: the login and logout pages;
//! * `links`: the signed acknowledge and open links of notifications;
//! * `slack`: the button presses of Slack messages (signed by Slack);
//! * `reload`: reading the configuration, rules and playbooks again (`SIGHUP`,
//!   `POST /v1/reload`), validated first; `live`: the value a reload replaces;
//! * `silences`: `/v1/silences`: hold a brand's (or some rules') incidents from notification;
//! * `listener`: the accept loop: a connection cap, header and body read timeouts;
//! * `sources`: the built-in sources (`[[source]]`: RSS/Atom, Mastodon, Bluesky, Telegram,
//!   Hacker News), feeding the same path as HTTP ingest;
//! * `metrics`: Prometheus metrics.
//!
//! Shutdown on SIGTERM or SIGINT: stop accepting, finish the requests in flight, drain the
//! queue through the engine, snapshot, exit 0.

pub mod actions;
pub mod api;
pub mod auth;
pub mod cluster;
pub mod config;
pub mod dashboard;
pub mod error;
pub mod ingest;
pub mod links;
pub mod listener;
pub mod live;
pub mod log;
pub mod login;
pub mod order;
pub mod pipeline;
pub mod planned;
pub mod reload;
pub mod sequencer;
pub mod silences;
pub mod slack;
pub mod sources;

use crate::engine::Engine;
use crate::rules::RuleSet;
use anyhow::Context;
use config::{LogFormat, ServeConfig};
use pipeline::{Shared, WriterMsg};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};

/// Sets up logging to stderr (`RUST_LOG` filters, default `info`).
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => b.json().try_init(),
        LogFormat::Text => b.try_init(),
    };
}

/// Runs the service on `cfg.listen` until SIGTERM/SIGINT; `SIGHUP` and `POST /v1/reload`
/// read the configuration, rules and playbooks again from `origin`.
///
/// # Errors
/// Start-up failures (data directory, store, recovery, listen address).
pub fn run(
    cfg: ServeConfig,
    rules: RuleSet,
    tone: Box<dyn crate::tone::ToneModel>,
    playbooks: Option<Arc<crate::alert::playbook::Playbooks>>,
    origin: reload::Origin,
) -> anyhow::Result<()> {
    run_until(cfg, rules, tone, playbooks, Some(origin), None, shutdown_signal())
}

/// Runs the service on `listener` (already bound, e.g. to `127.0.0.1:0`; `None` binds
/// `cfg.listen` once recovery is done) until `shutdown` completes, then drains the queue,
/// takes a snapshot and returns. Reloads read from `origin` (`None`: they are refused).
///
/// Once the listener is bound, its address is written to `<data_dir>/`[`LISTEN_ADDR_FILE`]
/// (see [`write_listen_addr`]) and logged (`listening addr=…`), so a caller that asked for
/// port 0 learns the real one. A `public_url` left to its default (`http://` + `listen`)
/// follows the bound address, so acknowledge links point at the port actually served.
///
/// # Errors
/// Start-up failures (data directory, store, recovery, listen address).
pub fn run_until(
    mut cfg: ServeConfig,
    rules: RuleSet,
    tone: Box<dyn crate::tone::ToneModel>,
    playbooks: Option<Arc<crate::alert::playbook::Playbooks>>,
    origin: Option<reload::Origin>,
    listener: Option<std::net::TcpListener>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (as_loaded, rules_applied) = (cfg.clone(), rules.clone());
    cfg.max_clock_jump_ms = rules.settings.max_clock_jump_min.saturating_mul(60_000);
    cfg.allowed_lateness_min = rules.settings.allowed_lateness_min;
    let configured: Vec<String> = rules.brands.iter().map(|b| b.id.clone()).collect();
    let log_dir = cfg.data_dir.join("ingest");
    std::fs::create_dir_all(&log_dir)
        .with_context(|| format!("cannot create the data directory `{}`", log_dir.display()))?;
    // a file left by a crash must not announce an address nobody serves
    let addr_file = cfg.data_dir.join(LISTEN_ADDR_FILE);
    match std::fs::remove_file(&addr_file) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("cannot remove `{}`", addr_file.display()));
        }
        _ => {}
    }
    let link_signer = crate::notify::link::Signer::new(links::load_key(&cfg)?, cfg.links.ttl);
    cfg.notify.links = Some(link_signer.clone());
    let db_path = cfg.data_dir.join("crisiswatch.db");
    let mut engine_db =
        crate::store::open(&db_path, false).with_context(|| format!("cannot open `{}`", db_path.display()))?;
    let mut shared = Shared {
        queue: Arc::new(tokio::sync::Semaphore::new(cfg.max_queued_mentions as usize)),
        metrics: crate::metrics::Metrics::default(),
        engine_mentions: AtomicU64::new(0),
        log_ok: AtomicBool::new(true),
        notify_wake: Arc::new(tokio::sync::Notify::new()),
        shutdown: tokio_util::sync::CancellationToken::new(),
        log_dir,
        db_path: db_path.clone(),
        notify: live::Live::new(cfg.notify.clone()),
        known: live::Live::new(crate::rules::names::Names::of(&rules)),
        notify_active: AtomicBool::new(cfg.cluster.is_none()),
        notify_until: Mutex::new(None),
        outbox_shipped: std::sync::atomic::AtomicI64::new(if cfg.cluster.is_none() { i64::MAX } else { 0 }),
        cluster_status: Mutex::new(None),
        cluster_contact: Mutex::new(None),
        rules_digest: Mutex::new(crate::rules::digest_dir(cfg.rules.as_deref())),
        cfg,
    };
    let cluster = shared.cfg.cluster.is_some();
    let (rec, tone) = if cluster {
        (None, Some(tone)) // the cluster's partitions restore their engines themselves
    } else {
        let mut engine = Engine::new(&rules).context("cannot build the keyword matcher")?;
        engine.set_tone_model(tone);
        engine.set_planned(
            crate::store::planned::for_engine(&engine_db).context("cannot read the planned events from the store")?,
        );
        if let Some(p) = playbooks.clone() {
            engine.set_playbooks(p);
        }
        let t = std::time::Instant::now();
        let rec = pipeline::recover(&shared, engine, &mut engine_db, &configured)
            .context("recovery from the data directory failed")?;
        tracing::info!(
            replayed = rec.replayed,
            ids = rec.dedup.len(),
            elapsed_ms = t.elapsed().as_millis() as u64,
            "recovered from the ingest log"
        );
        (Some(rec), None)
    };
    let listener = match listener {
        Some(l) => l,
        None => std::net::TcpListener::bind(shared.cfg.listen)
            .with_context(|| format!("cannot listen on {}", shared.cfg.listen))?,
    };
    let bound = listener.local_addr()?;
    adopt_bound_address(&mut shared.cfg, bound);
    shared.notify = live::Live::new(shared.cfg.notify.clone());
    let shared = Arc::new(shared);

    let (writer_tx, writer_rx) = std::sync::mpsc::channel::<WriterMsg>();
    let (engine_tx, engine_rx) = std::sync::mpsc::channel();
    let seq_db = crate::store::open(&db_path, false)?;
    let cursors = crate::store::cursors::load(&seq_db).context("cannot read the sources' cursors")?;
    let stop_sources = tokio_util::sync::CancellationToken::new();
    let (sources, source_tasks) = sources::start::prepare(&shared, &rules, &writer_tx, &cursors, &stop_sources)?;
    enum Node {
        Single(Vec<std::thread::JoinHandle<()>>),
        Cluster(Box<cluster::node::NodeHandle>),
    }
    let mut node = match (rec, tone) {
        (Some(rec), _) => {
            let pipeline::Recovered { engine, log, dedup, order, brands, cursor: end, .. } = rec;
            let sequencer =
                sequencer::Sequencer::new(shared.clone(), engine_tx.clone(), log, dedup, order, brands, seq_db);
            let seq = std::thread::Builder::new()
                .name("sequencer".into())
                .spawn(move || sequencer::run_sequencer(sequencer, writer_rx))?;
            let (snap_tx, snap_rx) = std::sync::mpsc::channel();
            let snap_db = crate::store::open(&db_path, false)?;
            let snap = {
                let shared = shared.clone();
                std::thread::Builder::new()
                    .name("snapshots".into())
                    .spawn(move || pipeline::run_snapshot_writer(shared, snap_rx, snap_db))?
            };
            let eng = {
                let shared = shared.clone();
                std::thread::Builder::new()
                    .name("engine".into())
                    .spawn(move || pipeline::run_engine(shared, engine_rx, engine, engine_db, end, snap_tx))?
            };
            Node::Single(vec![seq, eng, snap])
        }
        (None, Some(tone)) => Node::Cluster(Box::new(cluster::node::start(
            shared.clone(),
            &rules,
            tone,
            playbooks.clone(),
            &configured,
            writer_rx,
            engine_rx,
            engine_tx.clone(),
        )?)),
        (None, None) => unreachable!("either recovered or in cluster mode"),
    };
    // the notifier runs even without receivers: a reload may bring some
    let notifier = {
        // the notifier's own runtime: SMTP and HTTP clients are built inside it
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let notifiers = {
            let _inside = rt.enter();
            pipeline::notifier_clients(&shared, &shared.notify.get())?
        };
        let (shared, db, engine) = (shared.clone(), crate::store::open(&db_path, false)?, engine_tx.clone());
        std::thread::Builder::new()
            .name("notifier".into())
            .spawn(move || pipeline::run_notifier(shared, db, rt, notifiers, engine))?
    };
    let api_db = Arc::new(Mutex::new(crate::store::open(&db_path, true)?));
    let slack = Arc::new(slack::SlackHooks::new(&shared.cfg.notify, api_db.clone())?);
    let reloader = Arc::new(reload::Reloader::new(
        origin,
        as_loaded,
        rules_applied,
        shared.clone(),
        engine_tx.clone(),
        writer_tx.clone(),
        slack.clone(),
        bound,
    ));
    if let Node::Cluster(h) = &mut node {
        reloader.set_peers(h.serve_reloads(reloader.clone()));
    }
    let app = api::App {
        shared: shared.clone(),
        writer: writer_tx.clone(),
        engine: engine_tx,
        db: api_db.clone(),
        rate: Arc::new(Mutex::new(HashMap::new())),
        auth: Arc::new(auth::Auth::new(&shared.cfg)),
        slack,
        reloader,
        links: Arc::new(links::Links {
            signer: link_signer,
            db: api_db,
            shared: match &node {
                Node::Cluster(h) => Some(h.link_uses.clone()),
                Node::Single(_) => None,
            },
        }),
        decoded: Arc::new(tokio::sync::Semaphore::new(
            api::budget_units(shared.cfg.max_decoded_in_flight as usize) as usize
        )),
        stopping: tokio_util::sync::CancellationToken::new(),
        sources: Arc::new(sources),
    };
    let stopping = app.stopping.clone();
    let shutdown = async move {
        shutdown.await;
        stopping.cancel();
        stop_sources.cancel();
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let served = runtime.block_on(async {
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        write_listen_addr(&shared.cfg.data_dir, bound)?;
        sources::start::spawn(source_tasks);
        tokio::spawn(reload::on_sighup(app.reloader.clone(), app.stopping.clone()));
        let cfg = &shared.cfg;
        let limits = listener::Limits {
            max_connections: cfg.max_connections,
            header_timeout: cfg.header_timeout,
            body_timeout: cfg.body_timeout,
        };
        tracing::info!(addr = %bound, clock = ?cfg.clock, auth = !app.auth.is_open(),
            max_connections = limits.max_connections, "listening");
        let router = api::router(app.clone())
            .merge(silences::router(app.clone()))
            .merge(planned::router(app.clone()))
            .merge(dashboard::router(app));
        listener::serve(listener, router, limits, shared.metrics.connections.clone(), shutdown).await;
        anyhow::Ok(())
    });
    let _ = std::fs::remove_file(&addr_file);
    tracing::info!("shutting down: draining the queue and taking a snapshot");
    let _ = writer_tx.send(WriterMsg::Shutdown);
    drop(writer_tx);
    match node {
        Node::Single(threads) => {
            for t in threads {
                let _ = t.join();
            }
        }
        Node::Cluster(handle) => handle.stop(),
    }
    shared.shutdown.cancel();
    let _ = notifier.join();
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    served?;
    tracing::info!("stopped");
    Ok(())
}

/// The file in the data directory that holds the address the service listens on (e.g.
/// `127.0.0.1:41234` and a newline) while it runs: written once the listener is bound,
/// removed at a clean stop and at the next start.
pub const LISTEN_ADDR_FILE: &str = "listen.addr";

/// Writes `addr` to `<data_dir>/`[`LISTEN_ADDR_FILE`] atomically (a temporary file renamed
/// over it), so a reader never sees a partial address.
///
/// # Errors
/// The file cannot be written.
pub fn write_listen_addr(data_dir: &std::path::Path, addr: std::net::SocketAddr) -> anyhow::Result<()> {
    let path = data_dir.join(LISTEN_ADDR_FILE);
    let tmp = data_dir.join(format!("{LISTEN_ADDR_FILE}.tmp"));
    std::fs::write(&tmp, format!("{addr}\n")).with_context(|| format!("cannot write `{}`", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write `{}`", path.display()))?;
    Ok(())
}

/// Records the address actually bound (it differs from `cfg.listen` for port 0), and moves a
/// defaulted `public_url` (`http://` + the configured listen address) to it.
fn adopt_bound_address(cfg: &mut ServeConfig, bound: std::net::SocketAddr) {
    if bound == cfg.listen {
        return;
    }
    if cfg.notify.public_url == format!("http://{}", cfg.listen) {
        cfg.notify.public_url = format!("http://{bound}");
    }
    cfg.listen = bound;
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("signal received");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// Starts the service on a thread with the built-in rules; sending on the returned
    /// channel stops it, and the thread's result is its exit.
    fn spawn_service(
        data_dir: PathBuf,
        listen: String,
        listener: Option<std::net::TcpListener>,
    ) -> (tokio::sync::oneshot::Sender<()>, std::thread::JoinHandle<anyhow::Result<()>>) {
        let o = config::Overrides { data_dir: Some(data_dir), listen: Some(listen), ..Default::default() };
        let cfg = config::load(None, &o).expect("default config");
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = std::thread::spawn(move || {
            let stop = async move {
                let _ = stop_rx.await;
            };
            run_until(cfg, RuleSet::builtin(), Box::new(crate::tone::NoToneModel), None, None, listener, stop)
        });
        (stop_tx, server)
    }

    /// The service runs on a listener it is handed and stops, draining and snapshotting,
    /// when its shutdown future completes.
    #[test]
    fn runs_on_a_given_listener_and_shuts_down_when_told() {
        let dir = tempfile::tempdir().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop_tx, server) = spawn_service(dir.path().join("data"), addr.to_string(), Some(listener));
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let status = rt.block_on(async {
            for _ in 0..600 {
                if let Ok(r) = reqwest::get(format!("http://{addr}/healthz")).await {
                    return r.status().as_u16();
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            0
        });
        assert_eq!(status, 200);
        stop_tx.send(()).unwrap();
        server.join().unwrap().expect("clean shutdown");
        assert!(dir.path().join("data").join("crisiswatch.db").exists());
    }

    /// Port 0: the service binds a free port itself and tells which in `listen.addr`, written
    /// once it listens, replacing one left by a crash, and removed at a clean stop.
    #[test]
    fn port_zero_is_announced_in_listen_addr() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(data.join(LISTEN_ADDR_FILE), "127.0.0.1:1\n").unwrap(); // left by a crash
        let (stop_tx, server) = spawn_service(data.clone(), "127.0.0.1:0".into(), None);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let addr: std::net::SocketAddr = loop {
            let text = std::fs::read_to_string(data.join(LISTEN_ADDR_FILE)).unwrap_or_default();
            if let Some(a) =
                text.strip_suffix('\n').and_then(|a| a.parse().ok()).filter(|a: &std::net::SocketAddr| a.port() != 1)
            {
                break a;
            }
            assert!(std::time::Instant::now() < deadline, "no listen.addr");
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let status = rt.block_on(async { reqwest::get(format!("http://{addr}/healthz")).await.unwrap().status() });
        assert_eq!(status, 200);
        stop_tx.send(()).unwrap();
        server.join().unwrap().expect("clean shutdown");
        assert!(!data.join(LISTEN_ADDR_FILE).exists(), "removed at a clean stop");
    }

    #[test]
    fn a_defaulted_public_url_follows_the_bound_port_and_an_explicit_one_stays() {
        let o = config::Overrides { listen: Some("127.0.0.1:0".into()), ..Default::default() };
        let mut cfg = config::load(None, &o).expect("default config");
        assert_eq!(cfg.notify.public_url, "http://127.0.0.1:0", "the default this adjusts");
        let bound: std::net::SocketAddr = "127.0.0.1:41234".parse().unwrap();
        let mut explicit = cfg.clone();
        explicit.notify.public_url = "https://cw.example.com".into();
        adopt_bound_address(&mut cfg, bound);
        assert_eq!((cfg.listen, cfg.notify.public_url.as_str()), (bound, "http://127.0.0.1:41234"));
        adopt_bound_address(&mut explicit, bound);
        assert_eq!(explicit.notify.public_url, "https://cw.example.com");
    }
}
