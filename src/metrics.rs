//! Operational metrics of the service, rendered in the Prometheus text format: counters,
//! gauges, and per-stage latency histograms (hdrhistogram, microseconds) exported as
//! summaries with quantiles.

use hdrhistogram::Histogram;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A latency histogram for one stage.
pub struct Stage {
    name: &'static str,
    help: &'static str,
    hist: Mutex<Histogram<u64>>,
}

impl Stage {
    fn new(name: &'static str, help: &'static str) -> Self {
        // 1 µs .. 10 min at 3 significant digits: about 30 KiB each
        let hist = Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid bounds");
        Stage { name, help, hist: Mutex::new(hist) }
    }

    /// Records one duration.
    pub fn record(&self, d: Duration) {
        let us = (d.as_micros() as u64).clamp(1, 600_000_000);
        if let Ok(mut h) = self.hist.lock() {
            let _ = h.record(us);
        }
    }

    /// (count, p50, p99) in microseconds.
    pub fn summary(&self) -> (u64, u64, u64) {
        let h = self.hist.lock().map(|h| h.clone()).unwrap_or_else(|e| e.into_inner().clone());
        (h.len(), h.value_at_quantile(0.5), h.value_at_quantile(0.99))
    }
}

/// What the HTTP listener counts (`serve::listener`): shared with its connection tasks.
#[derive(Debug, Default)]
pub struct Connections {
    /// Connections being served now.
    pub open: AtomicU64,
    /// Connections closed at once because `max_connections` were open.
    pub refused: AtomicU64,
    /// Connections closed because their first request's headers did not arrive within
    /// `header_timeout`.
    pub header_timeouts: AtomicU64,
    /// Requests answered `408` because their body did not arrive within `body_timeout`.
    pub body_timeouts: AtomicU64,
}

/// Every metric of the service.
pub struct Metrics {
    /// Mentions accepted (durable, new).
    pub accepted: AtomicU64,
    /// Items rejected (dead-lettered).
    pub rejected: AtomicU64,
    /// Duplicate mentions (id already seen).
    pub duplicates: AtomicU64,
    /// Requests refused with 503 (queue full).
    pub refused_busy: AtomicU64,
    /// Requests refused with 429 (rate limit).
    pub refused_rate: AtomicU64,
    /// Requests refused with 401.
    pub unauthorized: AtomicU64,
    /// Mentions processed by the engine.
    pub processed: AtomicU64,
    /// Alert events recorded.
    pub events: AtomicU64,
    /// Snapshots taken.
    pub snapshots: AtomicU64,
    /// Reloads applied (SIGHUP, `POST /v1/reload`).
    pub reloads: AtomicU64,
    /// Reloads refused (invalid files: the running configuration stayed).
    pub reloads_refused: AtomicU64,
    /// Mentions refused as too late for the engine's clock.
    pub refused_late: AtomicU64,
    /// Mentions accepted that the engine found older than its allowed lateness: counted,
    /// not placed in windows (in a cluster, another node's clock can move a partition
    /// past what this node admitted).
    pub late_in_engine: AtomicU64,
    /// Mentions refused as too far ahead of the clock.
    pub refused_future: AtomicU64,
    /// Mentions refused because the cap on brands created from `brand` fields is reached.
    pub refused_brand: AtomicU64,
    /// Requests refused because the ingest log or the store could not be written.
    pub refused_write: AtomicU64,
    /// Requests refused because the decoded-bytes budget was spent.
    pub refused_memory: AtomicU64,
    /// Gauge: mentions held in the reorder buffer (event clock).
    pub reorder_buffered: AtomicU64,
    /// Gauge: brands created from `brand` fields.
    pub brands_created: AtomicU64,
    /// Gauge: 1 when the ingest log takes writes, 0 while it is refused (disk full).
    pub log_writable: AtomicU64,
    /// Gauge: decoded request bytes in flight.
    pub decoded_in_flight: AtomicU64,
    /// The HTTP listener's connections.
    pub connections: Arc<Connections>,
    /// Whole ingest request, from body received to reply.
    pub ingest: Stage,
    /// Body decoding and validation.
    pub decode: Stage,
    /// Appending and fsyncing a group of requests to the ingest log.
    pub durable: Stage,
    /// From durable to processed by the engine.
    pub queue_wait: Stage,
    /// Engine processing of one batch.
    pub engine: Stage,
    /// Taking and storing a snapshot.
    pub snapshot: Stage,
    /// From a notification queued to its delivery.
    pub notify: Stage,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            accepted: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            refused_busy: AtomicU64::new(0),
            refused_rate: AtomicU64::new(0),
            unauthorized: AtomicU64::new(0),
            processed: AtomicU64::new(0),
            events: AtomicU64::new(0),
            snapshots: AtomicU64::new(0),
            reloads: AtomicU64::new(0),
            reloads_refused: AtomicU64::new(0),
            refused_late: AtomicU64::new(0),
            late_in_engine: AtomicU64::new(0),
            refused_future: AtomicU64::new(0),
            refused_brand: AtomicU64::new(0),
            refused_write: AtomicU64::new(0),
            refused_memory: AtomicU64::new(0),
            reorder_buffered: AtomicU64::new(0),
            brands_created: AtomicU64::new(0),
            log_writable: AtomicU64::new(1),
            decoded_in_flight: AtomicU64::new(0),
            connections: Arc::default(),
            ingest: Stage::new("ingest_request", "POST /v1/mentions from body received to reply"),
            decode: Stage::new("decode", "body decoding and per-item validation"),
            durable: Stage::new("durable", "ingest log append and fsync of a group of requests"),
            queue_wait: Stage::new("queue_wait", "from durable to processed by the engine"),
            engine: Stage::new("engine_batch", "engine processing of one batch"),
            snapshot: Stage::new("snapshot", "taking and storing an engine snapshot"),
            notify: Stage::new("notify_delivery", "from a notification queued to its delivery"),
        }
    }
}

/// Gauges read at scrape time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gauges {
    /// Mentions accepted and not yet processed.
    pub queue_depth: u64,
    /// Queue capacity.
    pub queue_capacity: u64,
    /// Open incidents.
    pub open_incidents: i64,
    /// Dead letters stored.
    pub dead_letters: i64,
    /// Bytes in the data directory (store and ingest log).
    pub store_bytes: u64,
    /// Mentions processed by the engine over its whole life (carried across restarts).
    pub engine_mentions: u64,
    /// Notifications waiting for delivery.
    pub notifications_pending: i64,
    /// Notifications dead-lettered.
    pub notifications_dead: i64,
}

impl Metrics {
    /// Renders everything in the Prometheus text exposition format.
    pub fn render(&self, g: Gauges) -> String {
        let mut s = String::with_capacity(4096);
        let c = &self.connections;
        let counters: [(&str, &str, &AtomicU64); 20] = [
            ("mentions_accepted_total", "mentions accepted and made durable", &self.accepted),
            ("mentions_rejected_total", "items rejected and dead-lettered", &self.rejected),
            ("mentions_duplicate_total", "mentions whose id was already accepted", &self.duplicates),
            ("requests_busy_total", "requests refused with 503 (queue full)", &self.refused_busy),
            ("requests_rate_limited_total", "requests refused with 429", &self.refused_rate),
            ("requests_unauthorized_total", "requests refused with 401", &self.unauthorized),
            ("mentions_processed_total", "mentions processed by the engine", &self.processed),
            ("alert_events_total", "alert events recorded", &self.events),
            ("snapshots_total", "engine snapshots taken", &self.snapshots),
            ("reloads_total", "reloads applied (SIGHUP or POST /v1/reload)", &self.reloads),
            (
                "reloads_refused_total",
                "reloads refused: invalid files, the running configuration stayed",
                &self.reloads_refused,
            ),
            ("mentions_refused_late_total", "mentions refused as too late for the engine clock", &self.refused_late),
            (
                "mentions_late_in_engine_total",
                "mentions accepted but older than the engine's allowed lateness when it got them: not in windows",
                &self.late_in_engine,
            ),
            ("mentions_refused_future_total", "mentions refused as too far ahead of the clock", &self.refused_future),
            (
                "mentions_refused_brand_cap_total",
                "mentions refused: the cap on brands created from `brand` fields is reached",
                &self.refused_brand,
            ),
            (
                "requests_write_failed_total",
                "requests refused with 503: log or store not writable",
                &self.refused_write,
            ),
            ("requests_memory_total", "requests refused with 503: decoded-bytes budget spent", &self.refused_memory),
            ("connections_refused_total", "connections closed at once: max_connections were open", &c.refused),
            (
                "connections_header_timeout_total",
                "connections closed: first request's headers not received within header_timeout",
                &c.header_timeouts,
            ),
            (
                "requests_body_timeout_total",
                "requests answered 408: body not received within body_timeout",
                &c.body_timeouts,
            ),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(s, "# HELP crisiswatch_{name} {help}\n# TYPE crisiswatch_{name} counter");
            let _ = writeln!(s, "crisiswatch_{name} {}", v.load(Ordering::Relaxed));
        }
        let gauges: [(&str, &str, f64); 9] = [
            ("connections_open", "HTTP connections being served", c.open.load(Ordering::Relaxed) as f64),
            ("notifications_pending", "notifications waiting for a delivery attempt", g.notifications_pending as f64),
            ("notifications_dead", "notifications given up on (see the ops notices)", g.notifications_dead as f64),
            (
                "engine_mentions",
                "mentions processed over the engine state's life, across restarts",
                g.engine_mentions as f64,
            ),
            ("queue_depth", "mentions accepted and not yet processed", g.queue_depth as f64),
            ("queue_capacity", "queue bound in mentions", g.queue_capacity as f64),
            ("open_incidents", "incidents not resolved", g.open_incidents as f64),
            ("dead_letters", "dead letters stored", g.dead_letters as f64),
            ("store_bytes", "bytes in the data directory", g.store_bytes as f64),
        ];
        let live: [(&str, &str, &AtomicU64); 4] = [
            ("reorder_buffered", "mentions held in the reorder buffer (event clock)", &self.reorder_buffered),
            ("brands_created", "brands created from mentions' brand fields", &self.brands_created),
            ("ingest_writable", "1 when ingest is taken, 0 while the log or store refuse writes", &self.log_writable),
            ("decoded_bytes_in_flight", "decoded request bytes held by requests in flight", &self.decoded_in_flight),
        ];
        let gauges = gauges.into_iter().chain(live.map(|(n, h, v)| (n, h, v.load(Ordering::Relaxed) as f64)));
        for (name, help, v) in gauges {
            let _ = writeln!(s, "# HELP crisiswatch_{name} {help}\n# TYPE crisiswatch_{name} gauge");
            let _ = writeln!(s, "crisiswatch_{name} {v}");
        }
        for st in
            [&self.ingest, &self.decode, &self.durable, &self.queue_wait, &self.engine, &self.snapshot, &self.notify]
        {
            let h = st.hist.lock().map(|h| h.clone()).unwrap_or_else(|e| e.into_inner().clone());
            let name = format!("crisiswatch_{}_seconds", st.name);
            let _ = writeln!(s, "# HELP {name} {} (hdrhistogram)\n# TYPE {name} summary", st.help);
            for q in [0.5, 0.9, 0.99, 0.999] {
                let v = if h.is_empty() { 0.0 } else { h.value_at_quantile(q) as f64 / 1e6 };
                let _ = writeln!(s, "{name}{{quantile=\"{q}\"}} {v}");
            }
            let sum = h.iter_recorded().map(|v| v.value_iterated_to() as f64 * v.count_at_value() as f64).sum::<f64>();
            let _ = writeln!(s, "{name}_sum {}", sum / 1e6);
            let _ = writeln!(s, "{name}_count {}", h.len());
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_gauges_and_quantiles() {
        let m = Metrics::default();
        m.accepted.fetch_add(7, Ordering::Relaxed);
        for ms in 1..=100 {
            m.ingest.record(Duration::from_millis(ms));
        }
        let text = m.render(Gauges { queue_depth: 3, ..Gauges::default() });
        assert!(text.contains("crisiswatch_mentions_accepted_total 7\n"));
        assert!(text.contains("crisiswatch_queue_depth 3\n"));
        assert!(text.contains("crisiswatch_ingest_request_seconds_count 100\n"));
        let p99: f64 = text
            .lines()
            .find(|l| l.starts_with("crisiswatch_ingest_request_seconds{quantile=\"0.99\"}"))
            .and_then(|l| l.rsplit(' ').next())
            .unwrap()
            .parse()
            .unwrap();
        assert!((p99 - 0.099).abs() < 0.001, "{p99}");
    }
}
