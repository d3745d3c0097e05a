//! Silences (`silences` table): a window of time during which the notifier holds the
//! incidents of a brand (or of every brand, `*`), optionally only those of some rules or
//! metrics. Held incidents are still recorded and shown (with the silences holding them);
//! they are only not notified, and once no silence holds them any more (expired or deleted)
//! the escalation ladder picks them up where it stands. The "Mute" buttons of messages and
//! of the dashboard are silences too, scoped to the incident's brand and rule and
//! remembering the incident they came from ([`mute_incident`]).
//!
//! In a cluster every node keeps every silence: the changes made on a node (made, ended) are
//! shipped ([`changed_after`]) and applied on the others ([`apply_shared`]), where a copy
//! keeps the key `node/id` of where it was made (`origin`).
//!
//! This is not `engine::silence`, which detects a brand going quiet (a flatline).

use super::{end_mutes, open_incident, ActionError, Result, NEXT_CHANGE};
use crate::time::{format_rfc3339, Millis};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde_json::{json, Value};

/// Longest silence: from its start to its end.
pub const MAX_DURATION_MS: Millis = 90 * 86_400_000;
/// How far ahead a silence may start.
pub const MAX_START_AHEAD_MS: Millis = 90 * 86_400_000;
/// Silences active or pending at once, per installation; creating one more is refused.
pub const MAX_CURRENT: i64 = 1000;

/// One silence as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Silence {
    /// Row id, used in `/v1/silences/{id}`.
    pub id: i64,
    /// Brand id, or `*` for every brand.
    pub brand: String,
    /// Rule names it is limited to (empty: every rule).
    pub rules: Vec<String>,
    /// Metrics it is limited to (`volume`, `negative`, …; empty: every metric).
    pub metrics: Vec<String>,
    /// When it starts holding (wall clock).
    pub start_ms: Millis,
    /// When it stops holding; set to the deletion time when deleted.
    pub end_ms: Millis,
    /// Why, as its creator wrote it.
    pub reason: String,
    /// Who made it: the authenticated name, or the person behind a message button.
    pub creator: String,
    /// When it was made.
    pub created_ms: Millis,
    /// The incident whose "Mute" made it, so that "Escalate now" on that incident ends it.
    pub incident: Option<String>,
    /// Who deleted it, if it was deleted.
    pub ended_by: Option<String>,
}

/// Where a silence stands at some time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not started yet.
    Pending,
    /// Holding.
    Active,
    /// Over (ended or deleted).
    Expired,
}

impl State {
    /// The name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Active => "active",
            State::Expired => "expired",
        }
    }
}

impl Silence {
    /// Its state at `now`.
    pub fn state(&self, now: Millis) -> State {
        if self.end_ms <= now {
            State::Expired
        } else if self.start_ms > now {
            State::Pending
        } else {
            State::Active
        }
    }

    /// Whether it covers an incident of `brand` raised by rule `rule` on `metric` (its
    /// time aside: see [`Silence::holds`]).
    pub fn matches(&self, brand: &str, rule: &str, metric: &str) -> bool {
        (self.brand == "*" || self.brand == brand)
            && (self.rules.is_empty() || self.rules.iter().any(|r| r == rule))
            && (self.metrics.is_empty() || self.metrics.iter().any(|m| m == metric))
    }

    /// Whether it holds such an incident at `now`.
    pub fn holds(&self, brand: &str, rule: &str, metric: &str, now: Millis) -> bool {
        self.state(now) == State::Active && self.matches(brand, rule, metric)
    }

    /// The API's view of it at `now`.
    pub fn to_json(&self, now: Millis) -> Value {
        json!({
            "id": self.id,
            "brand": self.brand,
            "rules": self.rules,
            "metrics": self.metrics,
            "start": format_rfc3339(self.start_ms),
            "end": format_rfc3339(self.end_ms),
            "reason": self.reason,
            "creator": self.creator,
            "created_at": format_rfc3339(self.created_ms),
            "state": self.state(now).as_str(),
            "incident": self.incident,
            "ended_by": self.ended_by,
        })
    }
}

/// A silence to create, already validated (see `serve::silences::validate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSilence {
    /// Brand id or `*`.
    pub brand: String,
    /// Rule names (empty: all).
    pub rules: Vec<String>,
    /// Metrics (empty: all).
    pub metrics: Vec<String>,
    /// Start (wall clock).
    pub start_ms: Millis,
    /// End, after the start.
    pub end_ms: Millis,
    /// Why.
    pub reason: String,
    /// Who.
    pub creator: String,
}

/// Why a silence was not created or deleted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SilenceRefused {
    /// No silence with this id.
    #[error("no silence {0}")]
    NotFound(i64),
    /// It is over already (deleted or expired at this time).
    #[error("silence {0} is already over (it ended at {1})")]
    Over(i64, String),
    /// [`MAX_CURRENT`] silences are active or pending already.
    #[error("{0} silences are active or pending, the most allowed; delete one first")]
    TooMany(i64),
    /// The request is invalid: what is wrong, said precisely (`serve::silences::validate`).
    #[error("{0}")]
    Invalid(String),
}

const COLUMNS: &str = "id, brand, rules, metrics, start_ms, end_ms, reason, creator, created_ms, incident, ended_by";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Silence> {
    let list = |s: String| serde_json::from_str::<Vec<String>>(&s).unwrap_or_default();
    Ok(Silence {
        id: r.get(0)?,
        brand: r.get(1)?,
        rules: list(r.get(2)?),
        metrics: list(r.get(3)?),
        start_ms: r.get(4)?,
        end_ms: r.get(5)?,
        reason: r.get(6)?,
        creator: r.get(7)?,
        created_ms: r.get(8)?,
        incident: r.get(9)?,
        ended_by: r.get(10)?,
    })
}

fn insert(tx: &Transaction<'_>, s: &NewSilence, incident: Option<&str>, now: Millis) -> Result<Silence> {
    tx.execute(
        &format!(
            "INSERT INTO silences (brand, rules, metrics, start_ms, end_ms, reason, creator, created_ms, incident, changed)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, {NEXT_CHANGE})"
        ),
        params![
            s.brand,
            serde_json::to_string(&s.rules).unwrap_or_default(),
            serde_json::to_string(&s.metrics).unwrap_or_default(),
            s.start_ms,
            s.end_ms,
            s.reason,
            s.creator,
            now,
            incident
        ],
    )?;
    let id = tx.last_insert_rowid();
    tx.query_row(&format!("SELECT {COLUMNS} FROM silences WHERE id = ?1"), [id], row)
}

/// Creates a silence, unless [`MAX_CURRENT`] are active or pending at `now`.
///
/// # Errors
/// `Ok(Err(..))` at the limit, `Err` for SQLite errors.
pub fn create(c: &mut Connection, s: &NewSilence, now: Millis) -> Result<std::result::Result<Silence, SilenceRefused>> {
    let tx = c.transaction()?;
    let current: i64 = tx.query_row("SELECT count(*) FROM silences WHERE end_ms > ?1", [now], |r| r.get(0))?;
    if current >= MAX_CURRENT {
        return Ok(Err(SilenceRefused::TooMany(MAX_CURRENT)));
    }
    let made = insert(&tx, s, None, now)?;
    tx.commit()?;
    Ok(Ok(made))
}

/// Silence `id`.
///
/// # Errors
/// SQLite errors.
pub fn get(c: &Connection, id: i64) -> Result<Option<Silence>> {
    c.query_row(&format!("SELECT {COLUMNS} FROM silences WHERE id = ?1"), [id], row).optional()
}

/// Silences by state at `now` (`None`: active and pending), newest first, at most `limit`.
///
/// # Errors
/// SQLite errors.
pub fn list(c: &Connection, state: Option<State>, now: Millis, limit: usize) -> Result<Vec<Silence>> {
    let filter = match state {
        None => "end_ms > ?1",
        Some(State::Active) => "end_ms > ?1 AND start_ms <= ?1",
        Some(State::Pending) => "end_ms > ?1 AND start_ms > ?1",
        Some(State::Expired) => "end_ms <= ?1",
    };
    let sql = format!("SELECT {COLUMNS} FROM silences WHERE {filter} ORDER BY id DESC LIMIT ?2");
    let mut st = c.prepare(&sql)?;
    let rows = st.query_map(params![now, limit as i64], row)?;
    rows.collect()
}

/// Every silence active at `now`.
///
/// # Errors
/// SQLite errors.
pub fn active(c: &Connection, now: Millis) -> Result<Vec<Silence>> {
    list(c, Some(State::Active), now, MAX_CURRENT as usize + 1000)
}

/// Ends silence `id` now ("delete": the row stays, for the record, with who ended it).
///
/// # Errors
/// `Ok(Err(..))` for an unknown or already ended silence, `Err` for SQLite errors.
pub fn end(
    c: &mut Connection,
    id: i64,
    who: &str,
    now: Millis,
) -> Result<std::result::Result<Silence, SilenceRefused>> {
    let tx = c.transaction()?;
    let Some(s) = tx.query_row(&format!("SELECT {COLUMNS} FROM silences WHERE id = ?1"), [id], row).optional()? else {
        return Ok(Err(SilenceRefused::NotFound(id)));
    };
    if s.state(now) == State::Expired {
        return Ok(Err(SilenceRefused::Over(id, format_rfc3339(s.end_ms))));
    }
    tx.execute(
        &format!("UPDATE silences SET end_ms = ?2, start_ms = min(start_ms, ?2), ended_by = ?3, changed = {NEXT_CHANGE} WHERE id = ?1"),
        params![id, now, who],
    )?;
    let ended = tx.query_row(&format!("SELECT {COLUMNS} FROM silences WHERE id = ?1"), [id], row)?;
    tx.commit()?;
    Ok(Ok(ended))
}

/// "Mute" on incident `id` for `ms`: a silence of the incident's brand and rule from `now`,
/// made by `who` for `reason`, replacing an earlier mute of the same incident; the
/// incident's timeline gets a `mute` action naming the silence. A mute is never refused
/// for [`MAX_CURRENT`]: there is at most one per open incident.
///
/// # Errors
/// `Ok(Err(..))` for an unknown or resolved incident, `Err` for SQLite errors.
pub fn mute_incident(
    c: &mut Connection,
    id: &str,
    who: &str,
    reason: &str,
    now: Millis,
    ms: Millis,
) -> Result<std::result::Result<Silence, ActionError>> {
    let tx = c.transaction()?;
    if let Err(e) = open_incident(&tx, id)? {
        return Ok(Err(e));
    }
    let (brand, rule): (String, String) =
        tx.query_row("SELECT brand, rule FROM incidents WHERE id = ?1", [id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    end_mutes(&tx, id, who, now)?;
    let new = NewSilence {
        brand,
        rules: vec![rule],
        metrics: Vec::new(),
        start_ms: now,
        end_ms: now + ms,
        reason: reason.to_string(),
        creator: who.to_string(),
    };
    let made = insert(&tx, &new, Some(id), now)?;
    tx.execute(
        "INSERT INTO actions (incident_id, action, who, note, at) VALUES (?1, 'mute', ?2, ?3, ?4)",
        params![id, who, format!("{} min, silence {}: {reason}", ms / 60_000, made.id), format_rfc3339(now)],
    )?;
    tx.commit()?;
    Ok(Ok(made))
}

/// The silences among `active` holding an incident of `brand`, `rule` and `metric`.
pub fn holding<'a>(active: &'a [Silence], brand: &str, rule: &str, metric: &str, now: Millis) -> Vec<&'a Silence> {
    active.iter().filter(|s| s.holds(brand, rule, metric, now)).collect()
}

/// Adds `silenced_by` (the silences holding it at `now`, in their API form) to each
/// unresolved incident in `items` (alert events: `brand`, `rule`, `metric`, `status`).
///
/// # Errors
/// SQLite errors.
pub fn annotate(c: &Connection, items: &mut [Value], now: Millis) -> Result<()> {
    let active = active(c, now)?;
    if active.is_empty() {
        return Ok(());
    }
    for v in items {
        if v["status"] == "resolved" {
            continue;
        }
        let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
        let held: Vec<Value> =
            holding(&active, &s("brand"), &s("rule"), &s("metric"), now).iter().map(|s| s.to_json(now)).collect();
        if !held.is_empty() {
            v["silenced_by"] = Value::Array(held);
        }
    }
    Ok(())
}

/// [`annotate`] for an incident's history (`store::incident_history`): `silenced_by` at
/// its top level, from its latest event.
///
/// # Errors
/// SQLite errors.
pub fn annotate_history(c: &Connection, hist: &mut Value, now: Millis) -> Result<()> {
    let Some(last) = hist["events"].as_array().and_then(|e| e.last()).cloned() else { return Ok(()) };
    let mut one =
        [json!({ "brand": last["brand"], "rule": last["rule"], "metric": last["metric"], "status": hist["status"] })];
    annotate(c, &mut one, now)?;
    if let Some(held) = one[0].get("silenced_by") {
        hist["silenced_by"] = held.clone();
    }
    Ok(())
}

/// A silence as shipped between the nodes of a cluster: its whole state (its `id` is the
/// sender's row), under the key of the node where it was made.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SharedSilence {
    /// The node that made the change.
    pub node: String,
    /// `node/id`: where the silence was made and its row there.
    pub key: String,
    /// The change's number on `node` (with `node` and `key`, the message id).
    pub changed: i64,
    /// The silence.
    #[serde(flatten)]
    pub silence: Silence,
}

/// The silences made or ended here (`node`) after change number `after`, in change order.
///
/// # Errors
/// SQLite errors.
pub fn changed_after(c: &Connection, node: &str, after: i64) -> Result<Vec<SharedSilence>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {COLUMNS}, coalesce(origin, ?2 || '/' || id), changed FROM silences WHERE changed > ?1 ORDER BY changed, id"
    ))?;
    let rows = st.query_map(params![after, node], |r| Ok((row(r)?, r.get::<_, String>(11)?, r.get::<_, i64>(12)?)))?;
    rows.map(|x| {
        let (silence, key, changed) = x?;
        Ok(SharedSilence { node: node.to_string(), key, changed, silence })
    })
    .collect()
}

/// Applies silence `s` shipped by another node to this node's (`me`) store: a silence new
/// here is copied (`origin` its key); one known here can only end earlier (ending is the
/// only change a silence takes, so applying in any order, or twice, gives the same row).
/// Returns whether anything changed.
///
/// # Errors
/// SQLite errors.
pub fn apply_shared(c: &mut Connection, shared: &SharedSilence, me: &str) -> Result<bool> {
    let (s, key) = (&shared.silence, &shared.key);
    let tx = c.transaction()?;
    // made here: the key is this store's row
    let own = key.strip_prefix(me).and_then(|k| k.strip_prefix('/')).and_then(|id| id.parse::<i64>().ok());
    let id: Option<i64> = match own {
        Some(id) => Some(id),
        None => tx.query_row("SELECT id FROM silences WHERE origin = ?1", [key], |r| r.get(0)).optional()?,
    };
    let n = match id {
        Some(id) => tx.execute(
            "UPDATE silences SET end_ms = ?2, start_ms = min(start_ms, ?3), ended_by = coalesce(ended_by, ?4)
             WHERE id = ?1 AND end_ms > ?2",
            params![id, s.end_ms, s.start_ms, s.ended_by],
        )?,
        None => {
            // stored as made here, then marked as the copy it is: its maker's key, who ended
            // it, and no change of this node's to ship
            let new = NewSilence {
                brand: s.brand.clone(),
                rules: s.rules.clone(),
                metrics: s.metrics.clone(),
                start_ms: s.start_ms,
                end_ms: s.end_ms,
                reason: s.reason.clone(),
                creator: s.creator.clone(),
            };
            let copy = insert(&tx, &new, s.incident.as_deref(), s.created_ms)?;
            tx.execute(
                "UPDATE silences SET origin = ?2, ended_by = ?3, changed = 0 WHERE id = ?1",
                params![copy.id, key, s.ended_by],
            )?
        }
    };
    tx.commit()?;
    Ok(n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn silence(brand: &str, rules: &[&str], metrics: &[&str], start_ms: Millis, end_ms: Millis) -> NewSilence {
        NewSilence {
            brand: brand.into(),
            rules: rules.iter().map(|s| s.to_string()).collect(),
            metrics: metrics.iter().map(|s| s.to_string()).collect(),
            start_ms,
            end_ms,
            reason: "launch".into(),
            creator: "dana".into(),
        }
    }

    fn stored(n: NewSilence) -> Silence {
        Silence {
            id: 1,
            brand: n.brand,
            rules: n.rules,
            metrics: n.metrics,
            start_ms: n.start_ms,
            end_ms: n.end_ms,
            reason: n.reason,
            creator: n.creator,
            created_ms: 0,
            incident: None,
            ended_by: None,
        }
    }

    #[test]
    fn a_silence_holds_its_brand_rules_and_metrics_within_its_window() {
        // (name, silence, (brand, rule, metric, now), holds)
        type Case = (&'static str, Silence, (&'static str, &'static str, &'static str, Millis), bool);
        let cases: &[Case] = &[
            (
                "brand, any rule",
                stored(silence("acme", &[], &[], 10, 20)),
                ("acme", "volume-spike", "volume", 15),
                true,
            ),
            (
                "another brand",
                stored(silence("acme", &[], &[], 10, 20)),
                ("globex", "volume-spike", "volume", 15),
                false,
            ),
            ("every brand", stored(silence("*", &[], &[], 10, 20)), ("globex", "volume-spike", "volume", 15), true),
            ("at its start", stored(silence("acme", &[], &[], 10, 20)), ("acme", "r", "volume", 10), true),
            ("at its end", stored(silence("acme", &[], &[], 10, 20)), ("acme", "r", "volume", 20), false),
            ("before", stored(silence("acme", &[], &[], 10, 20)), ("acme", "r", "volume", 9), false),
            ("its rule", stored(silence("acme", &["a", "b"], &[], 10, 20)), ("acme", "b", "volume", 15), true),
            ("another rule", stored(silence("acme", &["a"], &[], 10, 20)), ("acme", "b", "volume", 15), false),
            ("its metric", stored(silence("acme", &[], &["negative"], 10, 20)), ("acme", "r", "negative", 15), true),
            ("another metric", stored(silence("acme", &[], &["negative"], 10, 20)), ("acme", "r", "volume", 15), false),
            ("rule and metric both", stored(silence("*", &["r"], &["reach"], 10, 20)), ("x", "r", "volume", 15), false),
        ];
        for (name, s, (brand, rule, metric, now), want) in cases {
            assert_eq!(s.holds(brand, rule, metric, *now), *want, "{name}");
        }
        let s = stored(silence("acme", &[], &[], 10, 20));
        assert_eq!((s.state(5), s.state(10), s.state(20)), (State::Pending, State::Active, State::Expired));
    }

    #[test]
    fn create_list_end_and_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = super::super::open(&dir.path().join("db"), false).unwrap();
        let a = create(&mut c, &silence("acme", &["volume-spike"], &[], 100, 200), 100).unwrap().unwrap();
        let b = create(&mut c, &silence("*", &[], &[], 150, 300), 100).unwrap().unwrap();
        assert_eq!((a.rules.clone(), a.creator.as_str()), (vec!["volume-spike".to_string()], "dana"));
        let ids = |v: Vec<Silence>| v.iter().map(|s| s.id).collect::<Vec<_>>();
        assert_eq!(ids(list(&c, None, 120, 10).unwrap()), [b.id, a.id]);
        assert_eq!(ids(active(&c, 120).unwrap()), [a.id]);
        assert_eq!(ids(list(&c, Some(State::Pending), 120, 10).unwrap()), [b.id]);
        let ended = end(&mut c, b.id, "eve", 130).unwrap().unwrap();
        assert_eq!((ended.end_ms, ended.start_ms, ended.ended_by.as_deref()), (130, 130, Some("eve")));
        assert_eq!(end(&mut c, b.id, "eve", 140).unwrap(), Err(SilenceRefused::Over(b.id, format_rfc3339(130))));
        assert_eq!(end(&mut c, 99, "eve", 140).unwrap(), Err(SilenceRefused::NotFound(99)));
        assert_eq!(ids(list(&c, Some(State::Expired), 140, 10).unwrap()), [b.id]);
        assert_eq!(get(&c, a.id).unwrap().unwrap().to_json(120)["state"], "active");
        // at 140: `a` and these are current, `b` is over
        for _ in 1..MAX_CURRENT {
            create(&mut c, &silence("acme", &[], &[], 100, 200), 140).unwrap().unwrap();
        }
        assert_eq!(
            create(&mut c, &silence("acme", &[], &[], 100, 200), 140).unwrap(),
            Err(SilenceRefused::TooMany(MAX_CURRENT))
        );
        // once they are over, there is room again
        assert!(create(&mut c, &silence("acme", &[], &[], 300, 400), 250).unwrap().is_ok());
    }

    #[test]
    fn a_mute_is_a_silence_of_the_incidents_brand_and_rule() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = super::super::open(&dir.path().join("db"), false).unwrap();
        let ev: crate::alert::AlertEvent = serde_json::from_value(crate::notify::sample_event(0)).unwrap();
        super::super::record_events(&mut c, std::slice::from_ref(&ev)).unwrap();
        let s = mute_incident(&mut c, &ev.id, "@dana (Telegram)", "Mute 1h from Telegram", 1000, 3_600_000)
            .unwrap()
            .unwrap();
        assert_eq!((s.brand.as_str(), s.rules.clone(), s.end_ms), ("acme", vec![ev.rule.clone()], 3_601_000));
        assert_eq!(s.incident.as_deref(), Some(ev.id.as_str()));
        // a second mute replaces the first
        let again =
            mute_incident(&mut c, &ev.id, "eve", "Mute 30 min from the dashboard", 2000, 1_800_000).unwrap().unwrap();
        assert_eq!(ids_active(&c, 2000), [again.id]);
        let hist = super::super::incident_history(&c, &ev.id).unwrap().unwrap();
        let note = hist["actions"][0]["note"].as_str().unwrap();
        assert_eq!(note, format!("60 min, silence {}: Mute 1h from Telegram", s.id));
        // the escalation ends the incident's own mutes only
        let brand = create(&mut c, &silence("acme", &[], &[], 0, 10_000_000), 2000).unwrap().unwrap();
        super::super::escalate_now(&mut c, &ev.id, "eve", None, 3000).unwrap().unwrap();
        assert_eq!(ids_active(&c, 3000), [brand.id]);
        let mut items = [serde_json::to_value(&ev).unwrap()];
        annotate(&c, &mut items, 3000).unwrap();
        assert_eq!(items[0]["silenced_by"][0]["id"], brand.id);
        assert_eq!(mute_incident(&mut c, "nope", "eve", "x", 0, 1).unwrap(), Err(ActionError::NotFound));
    }

    fn ids_active(c: &Connection, now: Millis) -> Vec<i64> {
        active(c, now).unwrap().iter().map(|s| s.id).collect()
    }

    #[test]
    fn silences_made_and_ended_on_one_node_are_made_and_ended_on_another_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = crate::store::open(&dir.path().join("a.db"), false).unwrap();
        let mut b = crate::store::open(&dir.path().join("b.db"), false).unwrap();
        let made = create(&mut a, &silence("acme", &["r"], &[], 10, 1_000), 5).unwrap().unwrap();
        let shipped = changed_after(&a, "cw-a", 0).unwrap();
        assert_eq!(shipped.len(), 1);
        assert_eq!(
            (shipped[0].key.as_str(), shipped[0].silence.brand.as_str()),
            (format!("cw-a/{}", made.id).as_str(), "acme")
        );
        assert!(apply_shared(&mut b, &shipped[0], "cw-b").unwrap());
        assert!(!apply_shared(&mut b, &shipped[0], "cw-b").unwrap(), "copied once");
        let copy = &list(&b, None, 20, 10).unwrap()[0];
        assert_eq!((copy.brand.as_str(), copy.rules.as_slice(), copy.end_ms), ("acme", &["r".to_string()][..], 1_000));
        // a copy is not a change made on b: nothing to ship back
        assert!(changed_after(&b, "cw-b", 0).unwrap().is_empty());
        // ended on b (under b's own row id): shipped under a's key, and ends a's row
        end(&mut b, copy.id, "omer", 50).unwrap().unwrap();
        let ended = changed_after(&b, "cw-b", 0).unwrap();
        assert_eq!((ended[0].key.as_str(), ended[0].silence.end_ms), (shipped[0].key.as_str(), 50));
        assert!(apply_shared(&mut a, &ended[0], "cw-a").unwrap());
        let mine = get(&a, made.id).unwrap().unwrap();
        assert_eq!((mine.end_ms, mine.ended_by.as_deref()), (50, Some("omer")));
        // the earlier state arriving late does not revive it
        assert!(!apply_shared(&mut a, &shipped[0], "cw-a").unwrap());
        assert_eq!(get(&a, made.id).unwrap().unwrap().end_ms, 50);
        // applied changes are not shipped again
        assert_eq!(changed_after(&a, "cw-a", shipped[0].changed).unwrap(), []);
    }

    #[test]
    fn a_mute_and_the_mute_it_replaces_are_both_shipped() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = crate::store::open(&dir.path().join("a.db"), false).unwrap();
        let ev: crate::alert::AlertEvent = serde_json::from_value(crate::notify::sample_event(60_000)).unwrap();
        crate::store::record_events(&mut c, std::slice::from_ref(&ev)).unwrap();
        mute_incident(&mut c, &ev.id, "dana", "Mute 1h", 100, 3_600_000).unwrap().unwrap();
        let first = changed_after(&c, "n", 0).unwrap();
        assert_eq!(first.len(), 1);
        mute_incident(&mut c, &ev.id, "dana", "Mute 4h", 200, 4 * 3_600_000).unwrap().unwrap();
        let next = changed_after(&c, "n", first[0].changed).unwrap();
        let ends: Vec<Millis> = next.iter().map(|s| s.silence.end_ms).collect();
        assert_eq!(ends, [200, 200 + 4 * 3_600_000], "the first mute ended, the second made");
        assert!(next.iter().all(|s| s.silence.incident.as_deref() == Some(ev.id.as_str())));
    }
}
