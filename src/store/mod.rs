//! The SQLite store (bundled SQLite, WAL): incidents and every event of each, who
//! acknowledged or resolved what, the signed links already used, the Slack message of each
//! incident, the silences (`silences`), the planned events declared through the API
//! (`planned`), dead letters, and the engine snapshot with the log
//! position it covers. Each thread opens its own connection; WAL lets the API read while the
//! engine writes.

pub mod cursors;
pub mod installation;
pub mod outbox;
pub mod planned;
pub mod replicated;
pub mod silences;
pub mod slack;

use crate::alert::{AlertEvent, Status};
use crate::time::{format_rfc3339, Millis};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;

/// A position in the service's ingest log (`serve::log`): just after a record. The
/// snapshot row records the position it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct LogPos {
    /// Segment number.
    pub segment: u64,
    /// Byte offset in the segment.
    pub offset: u64,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS incidents (
    id TEXT PRIMARY KEY,
    brand TEXT NOT NULL,
    rule TEXT NOT NULL,
    dedup_key TEXT NOT NULL,
    status TEXT NOT NULL,
    severity TEXT NOT NULL,
    opened_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    acked_by TEXT,
    acked_at TEXT,
    latest TEXT NOT NULL,
    seq INTEGER NOT NULL,
    created_ms INTEGER NOT NULL DEFAULT 0,
    -- no longer written: mutes are silences (`silences`, see store::silences); old ones
    -- are carried over at open (`carry_over_old_mutes`)
    muted_until_ms INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS incidents_seq ON incidents(seq);
CREATE INDEX IF NOT EXISTS incidents_brand ON incidents(brand, seq);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id TEXT NOT NULL,
    status TEXT NOT NULL,
    severity TEXT NOT NULL,
    at TEXT NOT NULL,
    event TEXT NOT NULL,
    UNIQUE (incident_id, status, severity, at)
);
CREATE TABLE IF NOT EXISTS actions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id TEXT NOT NULL,
    action TEXT NOT NULL,
    who TEXT NOT NULL,
    note TEXT,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS used_links (
    key TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL,
    who TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letters (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at TEXT NOT NULL,
    token TEXT,
    line INTEGER NOT NULL,
    reason TEXT NOT NULL,
    raw BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    receiver TEXT NOT NULL,
    kind TEXT NOT NULL,
    brand TEXT NOT NULL,
    incidents TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_ms INTEGER NOT NULL,
    last_error TEXT,
    created_ms INTEGER NOT NULL,
    delivered_ms INTEGER
);
CREATE INDEX IF NOT EXISTS notifications_due ON notifications(status, next_ms);
CREATE TABLE IF NOT EXISTS notified (
    key TEXT PRIMARY KEY,
    incident TEXT NOT NULL,
    receiver TEXT NOT NULL,
    notification INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS notified_incident ON notified(incident);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS notify_cursor (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS source_cursors (
    source TEXT PRIMARY KEY,
    cursor TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS slack_messages (
    receiver TEXT NOT NULL,
    incident TEXT NOT NULL,
    channel TEXT NOT NULL,
    ts TEXT NOT NULL,
    posted_ms INTEGER NOT NULL,
    PRIMARY KEY (receiver, incident)
);
CREATE TABLE IF NOT EXISTS silences (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    brand TEXT NOT NULL,
    rules TEXT NOT NULL DEFAULT '[]',
    metrics TEXT NOT NULL DEFAULT '[]',
    start_ms INTEGER NOT NULL,
    end_ms INTEGER NOT NULL,
    reason TEXT NOT NULL,
    creator TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    incident TEXT,
    ended_by TEXT
);
CREATE INDEX IF NOT EXISTS silences_end ON silences(end_ms);
CREATE INDEX IF NOT EXISTS silences_incident ON silences(incident);
CREATE TABLE IF NOT EXISTS planned (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    brand TEXT NOT NULL,
    name TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    end_ms INTEGER NOT NULL,
    uplift REAL NOT NULL,
    creator TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    deleted_by TEXT,
    deleted_ms INTEGER
);
CREATE TABLE IF NOT EXISTS snapshots (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    taken_at TEXT NOT NULL,
    segment INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    state BLOB NOT NULL
);
";

/// Errors of the store.
pub type Result<T> = std::result::Result<T, rusqlite::Error>;

/// Opens (and creates) the store at `path`. `synchronous = FULL` for connections whose writes
/// cannot be rebuilt from the ingest log (acknowledgements); NORMAL otherwise.
///
/// # Errors
/// SQLite errors.
pub fn open(path: &Path, full_sync: bool) -> Result<Connection> {
    let mut c = Connection::open(path)?;
    c.busy_timeout(std::time::Duration::from_secs(10))?;
    // transactions take the write lock when they begin (`BEGIN IMMEDIATE`), waiting up to the
    // busy timeout: a deferred one that reads, then writes after another connection wrote,
    // fails at once with "database is locked" (seen in cluster mode, where several tasks
    // write the store), and the busy timeout cannot help it
    c.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
    c.pragma_update(None, "journal_mode", "WAL")?;
    c.pragma_update(None, "synchronous", if full_sync { "FULL" } else { "NORMAL" })?;
    // the write-ahead file is cut back to this after a checkpoint, so a burst of writes
    // (dead letters of junk bodies) does not leave it large
    c.pragma_update(None, "journal_size_limit", 64i64 << 20)?;
    c.execute_batch(SCHEMA)?;
    add_action_origin(&c)?;
    carry_over_old_mutes(&c, crate::clock::wall_ms())?;
    Ok(c)
}

/// A silence's `changed` number for a change made here: above every earlier one (a cluster
/// ships changes in this order, `silences::changed_after`; one applied from another node
/// keeps its number).
const NEXT_CHANGE: &str = "(SELECT coalesce(max(changed), 0) + 1 FROM silences)";

/// Adds the columns a cluster needs (see `replicated`) to a store made before clusters
/// existed: `origin` of `actions`, `notifications`, `silences` and `planned`, `changed` of
/// the last two.
fn add_action_origin(c: &Connection) -> Result<()> {
    let columns = [
        ("actions", "origin", "TEXT"),
        ("notifications", "origin", "TEXT"),
        ("silences", "origin", "TEXT"),
        ("silences", "changed", "INTEGER NOT NULL DEFAULT 0"),
        ("planned", "origin", "TEXT"),
        ("planned", "changed", "INTEGER NOT NULL DEFAULT 0"),
    ];
    for (table, column, kind) in columns {
        let has: bool = c.query_row(
            &format!("SELECT EXISTS (SELECT 1 FROM pragma_table_info('{table}') WHERE name = '{column}')"),
            [],
            |r| r.get(0),
        )?;
        if !has {
            // two connections opening a new store together: the second finds the column there
            match c.execute(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"), []) {
                Err(e) if e.to_string().contains("duplicate column") => {}
                r => {
                    r?;
                }
            }
        }
    }
    Ok(())
}

/// Mutes from before silences existed (`incidents.muted_until_ms`) become silences of their
/// incident's brand and rule, as a "Mute" makes them now, so an upgrade does not wake a muted
/// incident early. Idempotent: a carried mute is cleared.
fn carry_over_old_mutes(c: &Connection, now: Millis) -> Result<usize> {
    let any: bool =
        c.query_row("SELECT EXISTS (SELECT 1 FROM incidents WHERE muted_until_ms != 0)", [], |r| r.get(0))?;
    if !any {
        return Ok(0);
    }
    // one writer at a time: connections opened together must not carry a mute twice
    let tx = rusqlite::Transaction::new_unchecked(c, rusqlite::TransactionBehavior::Immediate)?;
    let n = tx.execute(
        "INSERT INTO silences (brand, rules, metrics, start_ms, end_ms, reason, creator, created_ms, incident)
         SELECT brand, json_array(rule), '[]', ?1, muted_until_ms, 'Mute carried over from before silences',
                'crisiswatch (upgrade)', ?1, id
         FROM incidents WHERE muted_until_ms > ?1 AND status != 'resolved'",
        [now],
    )?;
    tx.execute("UPDATE incidents SET muted_until_ms = 0 WHERE muted_until_ms != 0", [])?;
    tx.commit()?;
    Ok(n)
}

/// Records engine events: each at most once (replaying the ingest log after a crash
/// produces the same events again; they are recognised by incident, status, severity and
/// time), and the incident row follows its latest event.
///
/// # Errors
/// SQLite errors.
pub fn record_events(c: &mut Connection, events: &[AlertEvent]) -> Result<usize> {
    let tx = c.transaction()?;
    let mut new = 0;
    for e in events {
        let json = serde_json::to_string(e).expect("alert events serialise");
        let n = tx.execute(
            "INSERT OR IGNORE INTO events (incident_id, status, severity, at, event) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![e.id, e.status.as_str(), e.severity.as_str(), e.at, json],
        )?;
        if n == 0 {
            continue;
        }
        new += 1;
        let seq = tx.last_insert_rowid();
        tx.execute(
            "INSERT INTO incidents (id, brand, rule, dedup_key, status, severity, opened_at, updated_at, latest, seq, created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?9, ?10)
             ON CONFLICT(id) DO UPDATE SET
               status = CASE WHEN incidents.status = 'acknowledged' AND excluded.status = 'escalated'
                             THEN 'acknowledged' ELSE excluded.status END,
               severity = excluded.severity, updated_at = excluded.updated_at,
               latest = excluded.latest, seq = excluded.seq",
            params![
                e.id,
                e.brand,
                e.rule,
                e.dedup_key,
                e.status.as_str(),
                e.severity.as_str(),
                e.at,
                json,
                seq,
                crate::clock::wall_ms()
            ],
        )?;
    }
    tx.commit()?;
    Ok(new)
}

/// Why an acknowledgement or resolution was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum ActionError {
    /// No such incident.
    NotFound,
    /// The incident is already resolved.
    Resolved,
}

/// Records that `who` acknowledged (or asked to resolve) incident `id`. Acknowledging also
/// adds an `acknowledged` event to the incident's history.
///
/// # Errors
/// `Ok(Err(..))` for an unknown or resolved incident, `Err` for SQLite errors.
pub fn record_action(
    c: &mut Connection,
    id: &str,
    action: &str,
    who: &str,
    note: Option<&str>,
    now: Millis,
) -> Result<std::result::Result<(), ActionError>> {
    let tx = c.transaction()?;
    if let Err(e) = act(&tx, id, action, who, note, now)? {
        return Ok(Err(e));
    }
    tx.commit()?;
    Ok(Ok(()))
}

/// Why a signed link was not acted on.
#[derive(Debug, PartialEq, Eq)]
pub enum LinkUseError {
    /// The link was used before (by whom, when).
    Used(String, String),
    /// The incident refused the action.
    Action(ActionError),
}

/// [`record_action`] for a signed link, which works once: `key` (see
/// `notify::link::used_key`) is recorded in `used_links` in the same transaction, and a key
/// seen before refuses the action.
///
/// # Errors
/// `Ok(Err(..))` for a used link or an unknown or resolved incident, `Err` for SQLite errors.
pub fn record_link_action(
    c: &mut Connection,
    key: &str,
    id: &str,
    action: &str,
    who: &str,
    note: Option<&str>,
    now: Millis,
) -> Result<std::result::Result<(), LinkUseError>> {
    let tx = c.transaction()?;
    let used: Option<(String, String)> = tx
        .query_row("SELECT who, at FROM used_links WHERE key = ?1", [key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    if let Some((who, at)) = used {
        return Ok(Err(LinkUseError::Used(who, at)));
    }
    if let Err(e) = act(&tx, id, action, who, note, now)? {
        return Ok(Err(LinkUseError::Action(e)));
    }
    tx.execute(
        "INSERT INTO used_links (key, incident_id, who, at) VALUES (?1, ?2, ?3, ?4)",
        params![key, id, who, format_rfc3339(now)],
    )?;
    tx.commit()?;
    Ok(Ok(()))
}

/// The action itself, inside the caller's transaction.
fn act(
    tx: &rusqlite::Transaction<'_>,
    id: &str,
    action: &str,
    who: &str,
    note: Option<&str>,
    now: Millis,
) -> Result<std::result::Result<(), ActionError>> {
    act_at(tx, id, action, who, note, &format_rfc3339(now), None)
}

/// [`act`] at the time `at` (RFC 3339), recorded as coming from node `origin` (`None`: this
/// node; see `replicated`).
fn act_at(
    tx: &rusqlite::Transaction<'_>,
    id: &str,
    action: &str,
    who: &str,
    note: Option<&str>,
    at: &str,
    origin: Option<&str>,
) -> Result<std::result::Result<(), ActionError>> {
    let row: Option<(String, String)> = tx
        .query_row("SELECT status, latest FROM incidents WHERE id = ?1", [id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((status, latest)) = row else { return Ok(Err(ActionError::NotFound)) };
    if status == "resolved" {
        return Ok(Err(ActionError::Resolved));
    }
    let at = at.to_string();
    tx.execute(
        "INSERT INTO actions (incident_id, action, who, note, at, origin) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![id, action, who, note, at, origin],
    )?;
    if action == "ack" {
        let mut ev: AlertEvent = serde_json::from_str(&latest).expect("stored events parse");
        ev.status = Status::Acknowledged;
        ev.at = at.clone();
        let json = serde_json::to_string(&ev).expect("alert events serialise");
        tx.execute(
            "INSERT OR IGNORE INTO events (incident_id, status, severity, at, event) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, "acknowledged", ev.severity.as_str(), at, json],
        )?;
        tx.execute(
            "UPDATE incidents SET status = 'acknowledged', acked_by = ?2, acked_at = ?3 WHERE id = ?1",
            params![id, who, at],
        )?;
    }
    Ok(Ok(()))
}

fn open_incident(tx: &rusqlite::Transaction<'_>, id: &str) -> Result<std::result::Result<(), ActionError>> {
    let status: Option<String> =
        tx.query_row("SELECT status FROM incidents WHERE id = ?1", [id], |r| r.get(0)).optional()?;
    Ok(match status.as_deref() {
        None => Err(ActionError::NotFound),
        Some("resolved") => Err(ActionError::Resolved),
        Some(_) => Ok(()),
    })
}

/// "Escalate now": every ladder step is reached at once (as if the ack timeout had passed),
/// and the mutes of the incident end (see [`silences::mute_incident`]).
///
/// # Errors
/// SQLite errors.
pub fn escalate_now(
    c: &mut Connection,
    id: &str,
    who: &str,
    note: Option<&str>,
    now: Millis,
) -> Result<std::result::Result<(), ActionError>> {
    let tx = c.transaction()?;
    if let Err(e) = escalate_in(&tx, id, who, note, now, None)? {
        return Ok(Err(e));
    }
    tx.commit()?;
    Ok(Ok(()))
}

/// [`escalate_now`] inside the caller's transaction, recorded as coming from node `origin`
/// (`None`: this node).
fn escalate_in(
    tx: &rusqlite::Transaction<'_>,
    id: &str,
    who: &str,
    note: Option<&str>,
    now: Millis,
    origin: Option<&str>,
) -> Result<std::result::Result<(), ActionError>> {
    if let Err(e) = open_incident(tx, id)? {
        return Ok(Err(e));
    }
    tx.execute("UPDATE incidents SET created_ms = 0 WHERE id = ?1", [id])?;
    // the incident's own mutes end; silences set for the brand stay
    end_mutes(tx, id, who, now)?;
    tx.execute(
        "INSERT INTO actions (incident_id, action, who, note, at, origin) VALUES (?1, 'escalate', ?2, ?3, ?4, ?5)",
        params![id, who, note, format_rfc3339(now), origin],
    )?;
    Ok(Ok(()))
}

/// Ends the current mutes of incident `id` (the silences its "Mute" made, not the ones set
/// for its brand), inside the caller's transaction: "Escalate now" and a new mute do this.
fn end_mutes(tx: &rusqlite::Transaction<'_>, id: &str, who: &str, now: Millis) -> Result<usize> {
    tx.execute(
        &format!(
            "UPDATE silences SET end_ms = ?2, start_ms = min(start_ms, ?2), ended_by = ?3, changed = {}
             WHERE incident = ?1 AND end_ms > ?2",
            NEXT_CHANGE
        ),
        params![id, now, who],
    )
}

/// A rejected item to keep: line number, reason, raw bytes.
pub type DeadLetter = (usize, String, Vec<u8>);

/// Records the rejected items of several requests (`(token, items)`) in one transaction;
/// returns the range of rows written (`None` when there were none), so that they can be
/// removed again when the requests are refused after all.
///
/// # Errors
/// SQLite errors (nothing is written).
pub fn record_dead_letter_groups(
    c: &mut Connection,
    groups: &[(String, Vec<DeadLetter>)],
    now: Millis,
) -> Result<Option<(i64, i64)>> {
    let tx = c.transaction()?;
    let at = format_rfc3339(now);
    let mut rows: Option<(i64, i64)> = None;
    {
        let mut st = tx.prepare_cached(
            "INSERT INTO dead_letters (received_at, token, line, reason, raw) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for (token, items) in groups {
            for (line, reason, raw) in items {
                st.execute(params![at, token, *line as i64, reason, raw])?;
                let id = tx.last_insert_rowid();
                rows = Some(rows.map_or((id, id), |(a, _)| (a, id)));
            }
        }
    }
    tx.commit()?;
    Ok(rows)
}

/// Removes dead letters written by [`record_dead_letter_groups`] for requests that were
/// refused after all.
///
/// # Errors
/// SQLite errors.
pub fn delete_dead_letters(c: &Connection, rows: Option<(i64, i64)>) -> Result<()> {
    if let Some((a, b)) = rows {
        c.execute("DELETE FROM dead_letters WHERE seq BETWEEN ?1 AND ?2", params![a, b])?;
    }
    Ok(())
}

/// Applies the dead letters' retention: deletes those received before `older_than` and then
/// the oldest ones until what is left (raw bytes and reasons) fits in `max_bytes`. Returns
/// how many were deleted.
///
/// # Errors
/// SQLite errors.
pub fn trim_dead_letters(c: &Connection, max_bytes: u64, older_than: Millis) -> Result<usize> {
    let mut n = c.execute("DELETE FROM dead_letters WHERE received_at < ?1", params![format_rfc3339(older_than)])?;
    let cut: Option<i64> = c
        .query_row(
            "SELECT seq FROM (SELECT seq, SUM(length(raw) + length(reason)) OVER (ORDER BY seq DESC) AS total
               FROM dead_letters) WHERE total > ?1 ORDER BY seq DESC LIMIT 1",
            params![max_bytes as i64],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(seq) = cut {
        n += c.execute("DELETE FROM dead_letters WHERE seq <= ?1", params![seq])?;
    }
    if n > 0 {
        // give the space back to the write-ahead file's limit
        let _ = c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    }
    Ok(n)
}

/// Saves the engine snapshot and the log position it covers (replacing the previous one).
///
/// # Errors
/// SQLite errors.
pub fn save_snapshot(c: &Connection, state: &[u8], pos: LogPos, now: Millis) -> Result<()> {
    c.execute(
        "INSERT OR REPLACE INTO snapshots (id, taken_at, segment, offset, state) VALUES (1, ?1, ?2, ?3, ?4)",
        params![format_rfc3339(now), pos.segment as i64, pos.offset as i64, state],
    )?;
    Ok(())
}

/// The last snapshot: state bytes and log position.
///
/// # Errors
/// SQLite errors.
pub fn load_snapshot(c: &Connection) -> Result<Option<(Vec<u8>, LogPos)>> {
    c.query_row("SELECT state, segment, offset FROM snapshots WHERE id = 1", [], |r| {
        let seg: i64 = r.get(1)?;
        let off: i64 = r.get(2)?;
        Ok((r.get(0)?, LogPos { segment: seg as u64, offset: off as u64 }))
    })
    .optional()
}

/// A page of incidents for `GET /v1/alerts`: the latest event of each (its `status` the
/// incident's current one), newest change first. `before` is the paging cursor.
///
/// # Errors
/// SQLite errors.
pub fn list_incidents(
    c: &Connection,
    status: Option<&str>,
    brand: Option<&str>,
    since: Option<&str>,
    before: Option<i64>,
    limit: usize,
) -> Result<(Vec<serde_json::Value>, Option<i64>)> {
    let mut st = c.prepare_cached(
        "SELECT latest, status, acked_by, acked_at, seq FROM incidents
         WHERE (?1 IS NULL OR status = ?1 OR (?1 = 'open' AND status != 'resolved'))
           AND (?2 IS NULL OR brand = ?2)
           AND (?3 IS NULL OR updated_at >= ?3)
           AND (?4 IS NULL OR seq < ?4)
         ORDER BY seq DESC LIMIT ?5",
    )?;
    let rows = st.query_map(params![status, brand, since, before, limit as i64 + 1], |r| {
        let latest: String = r.get(0)?;
        let status: String = r.get(1)?;
        let acked_by: Option<String> = r.get(2)?;
        let acked_at: Option<String> = r.get(3)?;
        let seq: i64 = r.get(4)?;
        Ok((latest, status, acked_by, acked_at, seq))
    })?;
    let mut out = Vec::new();
    let mut next = None;
    for row in rows {
        let (latest, status, acked_by, acked_at, seq) = row?;
        if out.len() == limit {
            next = Some(seq + 1);
            break;
        }
        let mut v: serde_json::Value = serde_json::from_str(&latest).expect("stored events parse");
        v["status"] = status.into();
        if let Some(who) = acked_by {
            v["acknowledged_by"] = who.into();
            v["acknowledged_at"] = acked_at.into();
        }
        v["cursor"] = seq.into();
        out.push(v);
    }
    // the cursor is exclusive: the next page starts below the last item shown
    let next = next.and(out.last().and_then(|v| v["cursor"].as_i64()));
    Ok((out, next))
}

/// The full history of incident `id`: its events in order and the actions taken on it.
///
/// # Errors
/// SQLite errors.
pub fn incident_history(c: &Connection, id: &str) -> Result<Option<serde_json::Value>> {
    let status: Option<(String, Option<String>)> = c
        .query_row("SELECT status, acked_by FROM incidents WHERE id = ?1", [id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((status, acked_by)) = status else { return Ok(None) };
    let mut st = c.prepare_cached("SELECT event FROM events WHERE incident_id = ?1 ORDER BY seq")?;
    let events: Vec<serde_json::Value> = st
        .query_map([id], |r| r.get::<_, String>(0))?
        .map(|s| s.map(|s| serde_json::from_str(&s).expect("stored events parse")))
        .collect::<Result<_>>()?;
    let mut st = c.prepare_cached("SELECT action, who, note, at FROM actions WHERE incident_id = ?1 ORDER BY seq")?;
    let actions: Vec<serde_json::Value> = st
        .query_map([id], |r| {
            Ok(serde_json::json!({
                "action": r.get::<_, String>(0)?, "who": r.get::<_, String>(1)?,
                "note": r.get::<_, Option<String>>(2)?, "at": r.get::<_, String>(3)?,
            }))
        })?
        .collect::<Result<_>>()?;
    Ok(Some(serde_json::json!({
        "id": id, "status": status, "acknowledged_by": acked_by, "events": events, "actions": actions,
    })))
}

/// One notification about an incident, for its timeline.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NotificationRow {
    /// Receiver name.
    pub receiver: String,
    /// `firing`, `escalated`, `repeat`, `resolved`, …
    pub kind: String,
    /// `pending`, `delivered`, `dead`.
    pub status: String,
    /// Delivery attempts so far.
    pub attempts: i64,
    /// When it was queued (ms).
    pub created_ms: i64,
    /// When it was delivered (ms).
    pub delivered_ms: Option<i64>,
    /// The last delivery error.
    pub last_error: Option<String>,
}

/// The notifications that carried incident `id`, oldest first.
///
/// # Errors
/// SQLite errors.
pub fn notifications_for(c: &Connection, id: &str) -> Result<Vec<NotificationRow>> {
    // `incidents` is a JSON array of ids; ids are hex, so the quoted id cannot match elsewhere
    let mut st = c.prepare_cached(
        "SELECT receiver, kind, status, attempts, created_ms, delivered_ms, last_error FROM notifications
         WHERE instr(incidents, ?1) > 0 ORDER BY id",
    )?;
    let rows = st.query_map([format!("\"{id}\"")], |r| {
        Ok(NotificationRow {
            receiver: r.get(0)?,
            kind: r.get(1)?,
            status: r.get(2)?,
            attempts: r.get(3)?,
            created_ms: r.get(4)?,
            delivered_ms: r.get(5)?,
            last_error: r.get(6)?,
        })
    })?;
    rows.collect()
}

/// A number that changes whenever an alert event, an action, a notification or a silence is
/// recorded (the dashboard's live updates poll it).
///
/// # Errors
/// SQLite errors.
pub fn change_mark(c: &Connection) -> Result<String> {
    c.query_row(
        "SELECT coalesce((SELECT max(seq) FROM events), 0) || ':' || coalesce((SELECT max(seq) FROM actions), 0)
           || ':' || (SELECT count(*) || ':' || coalesce(sum(attempts), 0) || ':' || count(delivered_ms) FROM notifications)
           || ':' || (SELECT count(*) || ':' || coalesce(sum(end_ms), 0) FROM silences)",
        [],
        |r| r.get(0),
    )
}

/// Counts for `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    /// Incidents not resolved.
    pub open_incidents: i64,
    /// Rejected ingest items stored.
    pub dead_letters: i64,
    /// Notifications waiting for (another) delivery attempt.
    pub notifications_pending: i64,
    /// Notifications given up on.
    pub notifications_dead: i64,
}

/// Counts for `/metrics`.
///
/// # Errors
/// SQLite errors.
pub fn counts(c: &Connection) -> Result<Counts> {
    let n = |sql: &str| c.query_row(sql, [], |r| r.get::<_, i64>(0));
    Ok(Counts {
        open_incidents: n("SELECT count(*) FROM incidents WHERE status != 'resolved'")?,
        dead_letters: n("SELECT count(*) FROM dead_letters")?,
        notifications_pending: n("SELECT count(*) FROM notifications WHERE status = 'pending'")?,
        notifications_dead: n("SELECT count(*) FROM notifications WHERE status = 'dead'")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A transaction that reads, then writes after another connection wrote in between:
    /// with deferred transactions the write failed at once ("database is locked"); the
    /// store's connections begin theirs immediate, so the other writer waits instead.
    #[test]
    fn a_transaction_that_reads_then_writes_is_not_refused_by_another_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let mut c = open(&path, false).unwrap();
        let tx = c.transaction().unwrap();
        let _: i64 = tx.query_row("SELECT count(*) FROM source_cursors", [], |r| r.get(0)).unwrap();
        let other = {
            let path = path.clone();
            std::thread::spawn(move || {
                let o = open(&path, false).unwrap();
                o.execute("INSERT INTO source_cursors (source, cursor, updated_ms) VALUES ('other', '1', 1)", [])
                    .map(|_| ())
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(200));
        tx.execute("INSERT INTO source_cursors (source, cursor, updated_ms) VALUES ('mine', '1', 1)", []).unwrap();
        tx.commit().unwrap();
        other.join().unwrap().unwrap();
        let n: i64 = c.query_row("SELECT count(*) FROM source_cursors", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 2);
    }

    #[test]
    fn a_mute_from_before_silences_becomes_a_silence_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let c = open(&path, false).unwrap();
        let insert = "INSERT INTO incidents (id, brand, rule, dedup_key, status, severity, opened_at, updated_at, latest, seq, muted_until_ms)
                      VALUES (?1, 'acme', 'volume-spike', 'k', ?2, 'warning', 't', 't', '{}', 1, ?3)";
        let later = crate::clock::wall_ms() + 3_600_000;
        c.execute(insert, rusqlite::params!["muted", "firing", later]).unwrap();
        c.execute(insert, rusqlite::params!["over", "firing", 1_000]).unwrap();
        c.execute(insert, rusqlite::params!["closed", "resolved", later]).unwrap();
        drop(c);
        let c = open(&path, false).unwrap();
        let _again = open(&path, false).unwrap();
        let rows: Vec<(String, String, i64, Option<String>)> = c
            .prepare("SELECT brand, rules, end_ms, incident FROM silences")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(rows, vec![("acme".into(), "[\"volume-spike\"]".into(), later, Some("muted".into()))]);
        let left: i64 =
            c.query_row("SELECT count(*) FROM incidents WHERE muted_until_ms != 0", [], |r| r.get(0)).unwrap();
        assert_eq!(left, 0);
    }
}
