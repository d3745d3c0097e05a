//! `crisiswatch serve`: the live service. The same [`crate::engine::Engine`] as
//! `replay`, fed over HTTP, with its state kept in a data directory:
//!
//! * `config`: the typed configuration file and flags;
//! * `ingest`: request bodies to validated records;
//! * `log`: the ingest log (write-ahead: nothing is acknowledged before it is durable);
//! * `store`: SQLite for incidents, events, actions, dead letters and snapshots;
//! * `pipeline`: the sequencer and engine threads, and recovery;
//! * `api`: the HTTP routes;
//! * `metrics`: Prometheus metrics.
//!
//! Shutdown on SIGTERM or SIGINT: stop accepting, finish the requests in flight, drain the
//! queue through the engine, snapshot, exit 0.

pub mod actions;
pub mod api;
pub mod config;
pub mod error;
pub mod ingest;
pub mod log;
pub mod pipeline;

use crate::engine::Engine;
use crate::rules::RuleSet;
use anyhow::Context;
use config::{LogFormat, ServeConfig};
use pipeline::{Shared, WriterMsg};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64};
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

/// Runs the service on `cfg.listen` until SIGTERM/SIGINT.
///
/// # Errors
/// Start-up failures (data directory, store, recovery, listen address).
pub fn run(
    cfg: ServeConfig,
    rules: RuleSet,
    tone: Box<dyn crate::tone::ToneModel>,
    playbooks: Option<Arc<crate::alert::playbook::Playbooks>>,
) -> anyhow::Result<()> {
    run_until(cfg, rules, tone, playbooks, None, shutdown_signal())
}

/// Runs the service on `listener` (already bound, e.g. to `127.0.0.1:0`; `None` binds
/// `cfg.listen` once recovery is done) until `shutdown` completes, then drains the queue,
/// takes a snapshot and returns.
///
/// # Errors
/// Start-up failures (data directory, store, recovery, listen address).
pub fn run_until(
    mut cfg: ServeConfig,
    rules: RuleSet,
    tone: Box<dyn crate::tone::ToneModel>,
    playbooks: Option<Arc<crate::alert::playbook::Playbooks>>,
    listener: Option<std::net::TcpListener>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    cfg.max_clock_jump_ms = rules.settings.max_clock_jump_min.saturating_mul(60_000);
    let log_dir = cfg.data_dir.join("ingest");
    std::fs::create_dir_all(&log_dir)
        .with_context(|| format!("cannot create the data directory `{}`", log_dir.display()))?;
    let db_path = cfg.data_dir.join("crisiswatch.db");
    let mut engine_db =
        crate::store::open(&db_path, false).with_context(|| format!("cannot open `{}`", db_path.display()))?;
    let shared = Arc::new(Shared {
        queue: Arc::new(tokio::sync::Semaphore::new(cfg.max_queued_mentions as usize)),
        metrics: crate::metrics::Metrics::default(),
        engine_now: AtomicI64::new(i64::MIN),
        engine_mentions: AtomicU64::new(0),
        log_ok: AtomicBool::new(true),
        notify_wake: Arc::new(tokio::sync::Notify::new()),
        shutdown: tokio_util::sync::CancellationToken::new(),
        log_dir,
        db_path: db_path.clone(),
        cfg,
    });
    let mut engine = Engine::new(&rules).context("cannot build the keyword matcher")?;
    engine.set_tone_model(tone);
    if let Some(p) = playbooks {
        engine.set_playbooks(p);
    }
    let t = std::time::Instant::now();
    let rec = pipeline::recover(&shared, engine, &mut engine_db).context("recovery from the data directory failed")?;
    tracing::info!(
        replayed = rec.replayed,
        ids = rec.dedup.len(),
        elapsed_ms = t.elapsed().as_millis() as u64,
        "recovered from the ingest log"
    );

    let (writer_tx, writer_rx) = std::sync::mpsc::channel::<WriterMsg>();
    let (engine_tx, engine_rx) = std::sync::mpsc::channel();
    let seq_db = crate::store::open(&db_path, false)?;
    let seq = {
        let (shared, engine_tx) = (shared.clone(), engine_tx.clone());
        std::thread::Builder::new()
            .name("sequencer".into())
            .spawn(move || pipeline::run_sequencer(shared, writer_rx, engine_tx, rec.log, rec.dedup, seq_db))?
    };
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
        let end = rec.end;
        let engine = rec.engine;
        std::thread::Builder::new()
            .name("engine".into())
            .spawn(move || pipeline::run_engine(shared, engine_rx, engine, engine_db, end, snap_tx))?
    };
    let notifier = if shared.cfg.notify.receivers.is_empty() {
        None
    } else {
        // the notifier's own runtime: SMTP and HTTP clients are built inside it
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let notifiers = {
            let _inside = rt.enter();
            crate::notify::notifiers(&shared.cfg.notify)?
        };
        let (shared, db, engine) = (shared.clone(), crate::store::open(&db_path, false)?, engine_tx.clone());
        Some(
            std::thread::Builder::new()
                .name("notifier".into())
                .spawn(move || pipeline::run_notifier(shared, db, rt, notifiers, engine))?,
        )
    };
    let app = api::App {
        shared: shared.clone(),
        writer: writer_tx.clone(),
        engine: engine_tx,
        db: Arc::new(Mutex::new(crate::store::open(&db_path, true)?)),
        rate: Arc::new(Mutex::new(HashMap::new())),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let served = runtime.block_on(async {
        let listener = match listener {
            Some(l) => {
                l.set_nonblocking(true)?;
                tokio::net::TcpListener::from_std(l)?
            }
            None => tokio::net::TcpListener::bind(shared.cfg.listen)
                .await
                .with_context(|| format!("cannot listen on {}", shared.cfg.listen))?,
        };
        tracing::info!(addr = %listener.local_addr()?, clock = ?shared.cfg.clock,
            auth = !shared.cfg.tokens.is_empty(), "listening");
        axum::serve(listener, api::router(app)).with_graceful_shutdown(shutdown).await?;
        anyhow::Ok(())
    });
    tracing::info!("shutting down: draining the queue and taking a snapshot");
    let _ = writer_tx.send(WriterMsg::Shutdown);
    drop(writer_tx);
    let _ = seq.join();
    let _ = eng.join();
    let _ = snap.join();
    shared.shutdown.cancel();
    if let Some(t) = notifier {
        let _ = t.join();
    }
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    served?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
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

    /// The service runs on a listener it is handed and stops, draining and snapshotting,
    /// when its shutdown future completes.
    #[test]
    fn runs_on_a_given_listener_and_shuts_down_when_told() {
        let dir = tempfile::tempdir().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let o = config::Overrides {
            data_dir: Some(dir.path().join("data")),
            listen: Some(addr.to_string()),
            ..Default::default()
        };
        let cfg = config::load(None, &o).expect("default config");
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = std::thread::spawn(move || {
            let stop = async move {
                let _ = stop_rx.await;
            };
            run_until(cfg, RuleSet::builtin(), Box::new(crate::tone::NoToneModel), None, Some(listener), stop)
        });
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
}
