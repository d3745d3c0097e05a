//! The notification side of the store: what the notify pipeline reads (state changes since
//! its cursor, open incidents with their ladder clocks) and writes (the outbox, the
//! `notified` dedup keys, delivery outcomes). The pipeline's stages stay pure; all of their
//! SQL is here, with typed rows (severities and statuses parsed once).

use crate::alert::{Severity, Status};
use crate::time::Millis;
use rusqlite::{params, Connection, OptionalExtension, Result};
use serde_json::Value;
use std::collections::HashSet;

/// An incident's state change after the notify cursor.
#[derive(Debug, Clone)]
pub struct StateChange {
    /// Event sequence number.
    pub seq: i64,
    /// Incident id.
    pub incident: String,
    /// New status.
    pub status: Status,
    /// Severity at the change (as stored; unknown names read as `watch`).
    pub severity: String,
    /// The alert event.
    pub event: Value,
    /// Receivers already told about the incident.
    pub told: Vec<String>,
}

/// An open incident no silence holds, for the escalation ladders.
#[derive(Debug, Clone)]
pub struct OpenIncident {
    /// Incident id.
    pub id: String,
    /// Brand id.
    pub brand: String,
    /// Current severity.
    pub severity: Severity,
    /// When it was recorded (wall clock; 0 after "escalate now").
    pub created_ms: Millis,
    /// Its latest alert event.
    pub latest: Value,
    /// Whether the brand has an unresolved critical incident (this one included).
    pub brand_has_critical: bool,
}

/// One notification to queue: its receiver, kind, brand, the incidents it covers, the
/// rendered body and the dedup keys it satisfies (key, incident).
#[derive(Debug, Clone)]
pub struct NewNotification {
    /// Receiver name.
    pub receiver: String,
    /// `alert`, `escalated`, `resolved`.
    pub kind: &'static str,
    /// Brand id.
    pub brand: String,
    /// Incident ids covered.
    pub incidents: Vec<String>,
    /// Rendered body.
    pub body: String,
    /// (dedup key, incident) pairs recorded as notified.
    pub keys: Vec<(String, String)>,
}

/// A notification due for delivery.
#[derive(Debug, Clone)]
pub struct PendingNotification {
    /// Outbox row id.
    pub id: i64,
    /// Receiver name.
    pub receiver: String,
    /// Kind (`alert`, `ops`, …).
    pub kind: String,
    /// Rendered body.
    pub body: String,
    /// Attempts so far.
    pub attempts: u32,
    /// When it was queued.
    pub created_ms: Millis,
}

/// The last event sequence the planner has seen.
///
/// # Errors
/// SQLite errors.
pub fn cursor(c: &Connection) -> Result<i64> {
    Ok(c.query_row("SELECT seq FROM notify_cursor WHERE id = 1", [], |r| r.get(0)).optional()?.unwrap_or(0))
}

/// Up to `limit` state changes after `after`, with who was told of each incident, and
/// the last sequence number read (`after` when there was none).
///
/// # Errors
/// SQLite errors.
pub fn state_changes(c: &Connection, after: i64, limit: u32) -> Result<(Vec<StateChange>, i64)> {
    let mut st = c.prepare_cached(
        "SELECT seq, incident_id, status, severity, event FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    )?;
    let mut told = c.prepare_cached("SELECT DISTINCT receiver FROM notified WHERE incident = ?1")?;
    let rows: Vec<(i64, String, String, String, String)> = st
        .query_map(params![after, limit], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?
        .collect::<Result<_>>()?;
    let last = rows.last().map_or(after, |r| r.0);
    let mut out = Vec::with_capacity(rows.len());
    for (seq, incident, status, severity, event) in rows {
        let Some(status) = Status::parse(&status) else { continue };
        let told: Vec<String> = if matches!(status, Status::Resolved | Status::Escalated) {
            told.query_map([&incident], |r| r.get(0))?.collect::<Result<_>>()?
        } else {
            Vec::new()
        };
        let event = serde_json::from_str(&event).unwrap_or(Value::Null);
        out.push(StateChange { seq, incident, status, severity, event, told });
    }
    Ok((out, last))
}

/// Every open (firing or escalated) incident not held at `now`: the one notion of "held"
/// for the notifier is an active silence covering the incident (brand, rule, metric; see
/// [`super::silences`]), a mute from a button included. Once none holds it, the incident is
/// here again and its ladder goes on where it stands.
///
/// # Errors
/// SQLite errors.
pub fn open_not_held(c: &Connection, now: Millis) -> Result<Vec<OpenIncident>> {
    let mut st = c.prepare_cached(
        "SELECT id, brand, rule, severity, created_ms, latest FROM incidents WHERE status IN ('firing', 'escalated')",
    )?;
    let rows: Vec<(String, String, String, String, i64, String)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))?
        .collect::<Result<_>>()?;
    let silences = super::silences::active(c, now)?;
    let mut crit = c.prepare_cached(
        "SELECT count(*) FROM incidents WHERE brand = ?1 AND severity = 'critical' AND status != 'resolved'",
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for (id, brand, rule, severity, created_ms, latest) in rows {
        let latest: Value = serde_json::from_str(&latest).unwrap_or(Value::Null);
        let metric = latest["metric"].as_str().unwrap_or("");
        if silences.iter().any(|s| s.holds(&brand, &rule, metric, now)) {
            continue;
        }
        let brand_has_critical = crit.query_row([&brand], |r| r.get::<_, i64>(0))? > 0;
        out.push(OpenIncident {
            id,
            brand,
            severity: Severity::parse(&severity).unwrap_or(Severity::Watch),
            created_ms,
            latest,
            brand_has_critical,
        });
    }
    Ok(out)
}

/// Which of `keys` were already notified.
///
/// # Errors
/// SQLite errors.
pub fn notified<'a>(c: &Connection, keys: impl IntoIterator<Item = &'a str>) -> Result<HashSet<String>> {
    let mut seen = c.prepare_cached("SELECT 1 FROM notified WHERE key = ?1")?;
    let mut out = HashSet::new();
    for k in keys {
        if seen.query_row([k], |_| Ok(())).optional()?.is_some() {
            out.insert(k.to_string());
        }
    }
    Ok(out)
}

/// Queues `batch` and records its dedup keys, and moves the cursor to `cursor`, in one
/// transaction. Returns how many notifications were queued.
///
/// The batch was planned from reads made before this transaction; in a cluster another
/// task may have recorded some of its keys since (a copy of the previous notifier's plan).
/// Then nothing is written, the cursor stays, and `Ok(0)` asks the planner to plan again
/// from what is recorded now: a notification is never queued without its keys (it would go
/// out under a key of its own, a second time).
///
/// # Errors
/// SQLite errors (nothing is written then).
pub fn enqueue(c: &mut Connection, batch: &[NewNotification], cursor: i64, now: Millis) -> Result<usize> {
    let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let recorded = notified(&tx, batch.iter().flat_map(|n| n.keys.iter().map(|(k, _)| k.as_str())))?;
    if !recorded.is_empty() {
        return Ok(0);
    }
    for n in batch {
        tx.execute(
            "INSERT INTO notifications (receiver, kind, brand, incidents, body, next_ms, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
            params![n.receiver, n.kind, n.brand, serde_json::to_string(&n.incidents).unwrap_or_default(), n.body, now],
        )?;
        let id = tx.last_insert_rowid();
        for (key, incident) in &n.keys {
            tx.execute(
                "INSERT OR IGNORE INTO notified (key, incident, receiver, notification) VALUES (?1, ?2, ?3, ?4)",
                params![key, incident, n.receiver, id],
            )?;
        }
    }
    tx.execute("INSERT OR REPLACE INTO notify_cursor (id, seq) VALUES (1, ?1)", [cursor])?;
    tx.commit()?;
    Ok(batch.len())
}

/// Up to `limit` pending notifications due at `now`, oldest first. A notification waits,
/// even when due, while an earlier one to the same receiver about one of its incidents is
/// still pending: a receiver hears an incident's changes in the order they happened (an
/// alert retried through an outage is delivered before the escalation and the resolution
/// queued behind it, whatever their own retry times).
///
/// A notification this store planned itself (no `origin`) with a row id above
/// `shipped_through` waits too: in a cluster a notification goes out only once its copy is
/// on the shared outbox stream, so that whoever notifies next knows it was planned
/// (`serve::cluster::share`). A single node passes `i64::MAX`.
///
/// # Errors
/// SQLite errors.
pub fn due(c: &Connection, now: Millis, limit: u32, shipped_through: i64) -> Result<Vec<PendingNotification>> {
    let mut pending = c.prepare_cached(
        "SELECT id, receiver, incidents, next_ms, origin IS NULL FROM notifications WHERE status = 'pending' ORDER BY id",
    )?;
    let rows = pending.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, bool>(4)?,
        ))
    })?;
    // (receiver, incident) of every pending notification seen so far, in queue order
    let mut ahead: HashSet<(String, String)> = HashSet::new();
    let mut ids = Vec::new();
    for row in rows {
        let (id, receiver, incidents, next_ms, own) = row?;
        let incidents: Vec<String> = serde_json::from_str(&incidents).unwrap_or_default();
        let waits =
            (own && id > shipped_through) || incidents.iter().any(|i| ahead.contains(&(receiver.clone(), i.clone())));
        if !waits && next_ms <= now {
            ids.push(id);
            if ids.len() >= limit as usize {
                break;
            }
        }
        ahead.extend(incidents.into_iter().map(|i| (receiver.clone(), i)));
    }
    let mut one =
        c.prepare_cached("SELECT id, receiver, kind, body, attempts, created_ms FROM notifications WHERE id = ?1")?;
    ids.iter()
        .map(|id| {
            one.query_row([id], |r| {
                Ok(PendingNotification {
                    id: r.get(0)?,
                    receiver: r.get(1)?,
                    kind: r.get(2)?,
                    body: r.get(3)?,
                    attempts: r.get(4)?,
                    created_ms: r.get(5)?,
                })
            })
        })
        .collect()
}

/// Records a delivery.
///
/// # Errors
/// SQLite errors.
pub fn delivered(c: &Connection, id: i64, attempts: u32, at: Millis) -> Result<()> {
    c.execute(
        "UPDATE notifications SET status = 'delivered', attempts = ?2, delivered_ms = ?3, last_error = NULL WHERE id = ?1",
        params![id, attempts, at],
    )?;
    Ok(())
}

/// Records a failed attempt to be retried at `next_ms`.
///
/// # Errors
/// SQLite errors.
pub fn retry_at(c: &Connection, id: i64, attempts: u32, next_ms: Millis, error: &str) -> Result<()> {
    c.execute(
        "UPDATE notifications SET attempts = ?2, next_ms = ?3, last_error = ?4 WHERE id = ?1",
        params![id, attempts, next_ms, error],
    )?;
    Ok(())
}

/// Dead-letters a notification.
///
/// # Errors
/// SQLite errors.
pub fn dead(c: &Connection, id: i64, attempts: u32, error: &str) -> Result<()> {
    c.execute(
        "UPDATE notifications SET status = 'dead', attempts = ?2, last_error = ?3 WHERE id = ?1",
        params![id, attempts, error],
    )?;
    Ok(())
}

/// Whether notification `id` is still here and pending.
///
/// # Errors
/// SQLite errors.
pub fn is_pending(c: &Connection, id: i64) -> Result<bool> {
    let mut st = c.prepare_cached("SELECT 1 FROM notifications WHERE id = ?1 AND status = 'pending'")?;
    Ok(st.query_row([id], |_| Ok(())).optional()?.is_some())
}

/// Queues an operational notice (`kind = 'ops'`) for each of `receivers`.
///
/// # Errors
/// SQLite errors.
pub fn enqueue_ops(c: &Connection, receivers: &[&str], brand: &str, body: &str, now: Millis) -> Result<()> {
    for r in receivers {
        c.execute(
            "INSERT INTO notifications (receiver, kind, brand, incidents, body, next_ms, created_ms) VALUES (?1, 'ops', ?2, '[]', ?3, ?4, ?4)",
            params![r, brand, body, now],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(c: &mut Connection, receiver: &str, kind: &'static str, incidents: &[&str], now: Millis) -> i64 {
        let n = NewNotification {
            receiver: receiver.into(),
            kind,
            brand: "acme".into(),
            incidents: incidents.iter().map(|s| s.to_string()).collect(),
            body: "{}".into(),
            keys: Vec::new(),
        };
        enqueue(c, &[n], 0, now).unwrap();
        c.query_row("SELECT max(id) FROM notifications", [], |r| r.get(0)).unwrap()
    }

    fn due_ids(c: &Connection, now: Millis) -> Vec<i64> {
        due(c, now, 200, i64::MAX).unwrap().iter().map(|p| p.id).collect()
    }

    #[test]
    fn a_notification_waits_for_earlier_ones_about_its_incidents_to_its_receiver() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = crate::store::open(&dir.path().join("db"), false).unwrap();
        let alert_a = queue(&mut c, "pr", "alert", &["a"], 0);
        let alert_b = queue(&mut c, "pr", "alert", &["b"], 0);
        let resolved_a = queue(&mut c, "pr", "resolved", &["a"], 10);
        let exec_a = queue(&mut c, "execs", "alert", &["a"], 10);
        let grouped = queue(&mut c, "pr", "escalated", &["b", "c"], 10);
        assert_eq!(due_ids(&c, 10), [alert_a, alert_b, exec_a], "queue order; later ones about a and b wait");
        // the alert about `a` is retried later: what is queued behind it waits too
        retry_at(&c, alert_a, 1, 1000, "HTTP 503").unwrap();
        delivered(&c, alert_b, 1, 10).unwrap();
        assert_eq!(due_ids(&c, 20), [exec_a, grouped]);
        delivered(&c, alert_a, 2, 1000).unwrap();
        assert_eq!(due_ids(&c, 1000), [resolved_a, exec_a, grouped]);
        // a dead-lettered notification holds nothing back
        dead(&c, exec_a, 8, "HTTP 503").unwrap();
        let exec_resolved = queue(&mut c, "execs", "resolved", &["a"], 1000);
        assert_eq!(due_ids(&c, 1000), [resolved_a, grouped, exec_resolved]);
        assert_eq!(due(&c, 1000, 2, i64::MAX).unwrap().len(), 2, "at most `limit`");
    }

    #[test]
    fn a_notification_planned_here_waits_until_it_is_shipped_and_holds_its_incidents_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = crate::store::open(&dir.path().join("db"), false).unwrap();
        let own_a = queue(&mut c, "pr", "alert", &["a"], 0);
        let own_b = queue(&mut c, "pr", "alert", &["b"], 0);
        let copy_a = queue(&mut c, "pr", "resolved", &["a"], 0);
        let copy_c = queue(&mut c, "pr", "alert", &["c"], 0);
        c.execute("UPDATE notifications SET origin = 'cw1/7' WHERE id IN (?1, ?2)", [copy_a, copy_c]).unwrap();
        let ids = |through| due(&c, 10, 200, through).unwrap().iter().map(|p| p.id).collect::<Vec<_>>();
        // nothing of its own shipped: only the copy about `c` (the one about `a` waits
        // behind the unshipped alert about `a`)
        assert_eq!(ids(0), [copy_c]);
        assert_eq!(ids(own_a), [own_a, copy_c]);
        assert_eq!(ids(own_b), [own_a, own_b, copy_c]);
    }

    #[test]
    fn a_batch_planned_before_its_keys_were_recorded_elsewhere_is_not_queued_and_the_cursor_stays() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = crate::store::open(&dir.path().join("db"), false).unwrap();
        let new = |key: &str| NewNotification {
            receiver: "pr".into(),
            kind: "alert",
            brand: "acme".into(),
            incidents: vec!["a".into()],
            body: "{}".into(),
            keys: vec![(key.to_string(), "a".to_string())],
        };
        assert_eq!(enqueue(&mut c, &[new("a|step0|pr")], 5, 0).unwrap(), 1);
        assert_eq!(cursor(&c).unwrap(), 5);
        // planned from reads that did not see `a|step0|pr` yet: refused whole, cursor kept
        assert_eq!(enqueue(&mut c, &[new("b|step0|pr"), new("a|step0|pr")], 9, 0).unwrap(), 0);
        assert_eq!(cursor(&c).unwrap(), 5);
        let rows: i64 = c.query_row("SELECT count(*) FROM notifications", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 1);
        let keyless: i64 = c
            .query_row(
                "SELECT count(*) FROM notifications n WHERE NOT EXISTS (SELECT 1 FROM notified k WHERE k.notification = n.id)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(keyless, 0, "no notification without its keys");
        assert_eq!(enqueue(&mut c, &[new("b|step0|pr")], 9, 0).unwrap(), 1);
        assert_eq!(cursor(&c).unwrap(), 9);
    }
}
