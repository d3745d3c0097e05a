//! Notification pipeline benchmark (`cargo bench --bench notify_pipeline`): alerts per second
//! from the store to a local webhook receiver, and the latency from the engine's decision
//! (the event being stored) to the receiver's 2xx, through every stage: record → route →
//! group → inhibit → dedup → render → outbox → signed HTTP delivery → marked delivered.
//!
//! Each of `ALERTS` (default 2,000) incidents fires, is notified, then resolves and its
//! resolution is notified too (so the open set stays small, as in real life). The receiver is
//! the tests' fake webhook receiver (`tests/support/webhook.rs`: axum on loopback, in a thread
//! of its own, answering 200). Latency is recorded with hdrhistogram.

use crisiswatch::alert::AlertEvent;
use crisiswatch::clock::wall_ms;
use crisiswatch::notify::{self, config, Backoff};
use crisiswatch::store;
use hdrhistogram::Histogram;
use std::time::{Duration, Instant};

#[path = "../tests/support/mod.rs"]
mod support;
use support::webhook::Webhook;

fn main() {
    let n_alerts: usize = std::env::var("ALERTS").ok().and_then(|s| s.parse().ok()).unwrap_or(2000);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let hook = Webhook::start(&[]);
    std::env::set_var("CW_BENCH_SECRET", "bench-key");
    let toml_text = format!(
        "group_wait = \"0s\"\n[[receiver]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"{}\"\n\
         secret_env = \"CW_BENCH_SECRET\"\n[[team]]\nname = \"pr\"\nreceivers = [\"hook\"]\n[[route]]\nladder = [{{ teams = [\"pr\"] }}]\n",
        hook.url()
    );
    let n = config::from_toml_str(&toml_text, "127.0.0.1:8686").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut db = store::open(&dir.path().join("crisiswatch.db"), false).unwrap();
    let notifiers = {
        let _in = rt.enter();
        notify::notifiers(&n).unwrap()
    };
    let backoff = Backoff { base: Duration::from_millis(100), max: Duration::from_secs(1) };
    let template: AlertEvent = serde_json::from_value(notify::sample_event(wall_ms())).unwrap();
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    let started = Instant::now();
    let mut delivered = 0usize;
    for i in 0..n_alerts {
        let mut ev = template.clone();
        ev.id = format!("bench-{i:08}");
        ev.brand = format!("brand{}", i % 50);
        ev.severity = crisiswatch::alert::Severity::Critical;
        let t0 = Instant::now();
        store::record_events(&mut db, std::slice::from_ref(&ev)).unwrap();
        notify::plan(&mut db, &n, wall_ms(), None).unwrap();
        let (ok, failed) =
            rt.block_on(notify::deliver_due(&mut db, &n, &notifiers, backoff, wall_ms(), i64::MAX, None)).unwrap();
        assert_eq!((ok, failed), (1, 0), "one alert delivered");
        hist.record((t0.elapsed().as_micros() as u64).max(1)).unwrap();
        delivered += ok;
        ev.status = crisiswatch::alert::Status::Resolved;
        store::record_events(&mut db, std::slice::from_ref(&ev)).unwrap();
        notify::plan(&mut db, &n, wall_ms(), None).unwrap();
        let (ok, _) =
            rt.block_on(notify::deliver_due(&mut db, &n, &notifiers, backoff, wall_ms(), i64::MAX, None)).unwrap();
        delivered += ok;
    }
    let secs = started.elapsed().as_secs_f64();
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    println!("notify_pipeline: {n_alerts} incidents, each fired and resolved; webhook on loopback, fsync NORMAL (WAL)");
    println!(
        "  throughput  {:.0} alerts/s fired+resolved ({:.0} notifications/s; {delivered} delivered, receiver saw {})",
        n_alerts as f64 / secs,
        delivered as f64 / secs,
        hook.requests().len()
    );
    println!(
        "  decision → webhook 2xx  p50 {:.2} ms · p90 {:.2} ms · p99 {:.2} ms · max {:.2} ms",
        ms(0.5),
        ms(0.9),
        ms(0.99),
        hist.max() as f64 / 1000.0
    );
}
