//! A cluster's people's actions, shared between its nodes' stores: every node ships the
//! acknowledgements, escalations and resolutions recorded here (`actions` rows without an
//! `origin`) to the cluster's alert stream, and applies the ones the other nodes shipped
//! (recorded with the sending node as their `origin`, so they are never shipped again).
//! So an acknowledgement made on any node stops the ladder of the node that notifies.
//!
//! The outbox too: only the notifying node plans and sends; it ships what it planned
//! ([`planned_after`]) and what it delivered ([`delivered_after`]), and the others keep a
//! copy ([`apply_outbox`]): the same notifications with the same dedup keys, pending until
//! delivered. A node that takes over the notifications sends what was not sent yet, under
//! the same idempotency keys ([`content_key`]), and its planner finds every earlier
//! notification's keys already recorded.

use super::{act_at, escalate_in, ActionError};
use crate::time::parse_timestamp;
use rusqlite::{params, Connection, OptionalExtension, Result};
use serde::{Deserialize, Serialize};

/// One action as shipped between nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedAction {
    /// The node that recorded it.
    pub node: String,
    /// Its row in that node's store (with `node`, the message id).
    pub seq: i64,
    /// The incident.
    pub incident: String,
    /// `ack`, `resolve` or `escalate`.
    pub action: String,
    /// Who did it.
    pub who: String,
    /// Their note.
    pub note: Option<String>,
    /// When (RFC 3339).
    pub at: String,
}

/// This node's own actions after row `seq`, oldest first (at most `limit`).
///
/// # Errors
/// SQLite errors.
pub fn local_since(c: &Connection, node: &str, seq: i64, limit: usize) -> Result<Vec<SharedAction>> {
    let mut st = c.prepare_cached(
        "SELECT seq, incident_id, action, who, note, at FROM actions WHERE seq > ?1 AND origin IS NULL ORDER BY seq LIMIT ?2",
    )?;
    let rows = st.query_map(params![seq, limit as i64], |r| {
        Ok(SharedAction {
            node: node.to_string(),
            seq: r.get(0)?,
            incident: r.get(1)?,
            action: r.get(2)?,
            who: r.get(3)?,
            note: r.get(4)?,
            at: r.get(5)?,
        })
    })?;
    rows.collect()
}

/// What applying another node's action did.
#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    /// Recorded.
    Done,
    /// Recorded before (the same node and row).
    Already,
    /// The incident is not in this store yet (its events are still on their way): try again.
    Unknown,
    /// The incident is resolved here: nothing to do.
    Resolved,
}

/// Applies action `a` shipped by another node.
///
/// # Errors
/// SQLite errors.
pub fn apply(c: &mut Connection, a: &SharedAction) -> Result<Applied> {
    let origin = format!("{}/{}", a.node, a.seq);
    let tx = c.transaction()?;
    let seen: Option<i64> =
        tx.query_row("SELECT seq FROM actions WHERE origin = ?1", [&origin], |r| r.get(0)).optional()?;
    if seen.is_some() {
        return Ok(Applied::Already);
    }
    let res = match a.action.as_str() {
        "escalate" => {
            let now = parse_timestamp(&a.at).unwrap_or_else(|_| crate::clock::wall_ms());
            escalate_in(&tx, &a.incident, &a.who, a.note.as_deref(), now, Some(&origin))?
        }
        _ => act_at(&tx, &a.incident, &a.action, &a.who, a.note.as_deref(), &a.at, Some(&origin))?,
    };
    match res {
        Ok(()) => {
            tx.commit()?;
            Ok(Applied::Done)
        }
        Err(ActionError::NotFound) => Ok(Applied::Unknown),
        Err(ActionError::Resolved) => Ok(Applied::Resolved),
    }
}

/// The content key of notification `id`: a hash of all its dedup keys (`incident|step|
/// receiver`, each in one notification only), so the same notification has the same key on
/// every node that holds it, and two notifications about different things never share one;
/// `None` for one without dedup keys.
///
/// # Errors
/// SQLite errors.
pub fn content_key(c: &Connection, id: i64) -> Result<Option<String>> {
    let keys = keys_of(c, id)?;
    if keys.is_empty() {
        return Ok(None);
    }
    let joined = keys.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join("\n");
    Ok(Some(format!("k{:016x}", crate::hash::fnv1a(joined.as_bytes()))))
}

/// What the notifying node shares about its outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutboxNews {
    /// A notification it planned (the others keep a copy, pending).
    Planned {
        /// The node.
        node: String,
        /// Its row there.
        id: i64,
        /// Receiver name.
        receiver: String,
        /// Kind.
        kind: String,
        /// Brand.
        brand: String,
        /// The incidents (JSON array).
        incidents: String,
        /// The rendered body.
        body: String,
        /// Its dedup keys with their incidents.
        keys: Vec<(String, String)>,
    },
    /// A notification it delivered, by its dedup keys.
    Delivered {
        /// The node.
        node: String,
        /// Its row there.
        id: i64,
        /// When (the shipping cursor).
        at_ms: i64,
        /// Its dedup keys.
        keys: Vec<String>,
    },
}

impl OutboxNews {
    /// The node that sent it.
    pub fn node(&self) -> &str {
        match self {
            OutboxNews::Planned { node, .. } | OutboxNews::Delivered { node, .. } => node,
        }
    }
}

fn keys_of(c: &Connection, id: i64) -> Result<Vec<(String, String)>> {
    let mut st = c.prepare_cached("SELECT key, incident FROM notified WHERE notification = ?1 ORDER BY key")?;
    let rows = st.query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// The notifications this node queued itself (not copies) after row `after`, oldest first
/// (at most `limit`).
///
/// # Errors
/// SQLite errors.
pub fn planned_after(c: &Connection, node: &str, after: i64, limit: usize) -> Result<Vec<OutboxNews>> {
    let mut st = c.prepare_cached(
        "SELECT id, receiver, kind, brand, incidents, body FROM notifications WHERE id > ?1 AND origin IS NULL ORDER BY id LIMIT ?2",
    )?;
    let rows: Vec<(i64, String, String, String, String, String)> = st
        .query_map(params![after, limit as i64], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
        })?
        .collect::<Result<_>>()?;
    rows.into_iter()
        .map(|(id, receiver, kind, brand, incidents, body)| {
            Ok(OutboxNews::Planned {
                node: node.to_string(),
                id,
                receiver,
                kind,
                brand,
                incidents,
                body,
                keys: keys_of(c, id)?,
            })
        })
        .collect()
}

/// Forgets the notifications this node planned after row `shipped` that are still pending:
/// never shipped, so never delivered (`outbox::due` holds them back until they are), and
/// whoever notifies now may have planned the same incidents since, under other keys. Their
/// dedup keys go with them, so that the notifier (this node or another) plans them again
/// from the events. Returns how many were forgotten.
///
/// # Errors
/// SQLite errors.
pub fn forget_unshipped(c: &mut Connection, shipped: i64) -> Result<usize> {
    let tx = c.transaction()?;
    let unshipped = "SELECT id FROM notifications WHERE id > ?1 AND origin IS NULL AND status = 'pending'";
    // escalations and resolutions are planned from the events after the planner's cursor:
    // it goes back before the first event of the forgotten notifications' incidents
    let first: Option<i64> = tx.query_row(
        &format!(
            "SELECT min(e.seq) FROM events e JOIN notified n ON n.incident = e.incident_id
             WHERE n.notification IN ({unshipped})"
        ),
        [shipped],
        |r| r.get(0),
    )?;
    if let Some(first) = first {
        tx.execute("UPDATE notify_cursor SET seq = min(seq, ?1) WHERE id = 1", [first - 1])?;
    }
    tx.execute(&format!("DELETE FROM notified WHERE notification IN ({unshipped})"), [shipped])?;
    let n = tx.execute(&format!("DELETE FROM notifications WHERE id IN ({unshipped})"), [shipped])?;
    tx.commit()?;
    Ok(n)
}

/// The notifications this node delivered itself after `(at_ms, id)`, oldest first.
///
/// # Errors
/// SQLite errors.
pub fn delivered_after(c: &Connection, node: &str, after: (i64, i64), limit: usize) -> Result<Vec<OutboxNews>> {
    let mut st = c.prepare_cached(
        "SELECT id, delivered_ms FROM notifications
         WHERE status = 'delivered' AND delivered_ms IS NOT NULL
           AND (delivered_ms > ?1 OR (delivered_ms = ?1 AND id > ?2))
         ORDER BY delivered_ms, id LIMIT ?3",
    )?;
    let rows: Vec<(i64, i64)> = st
        .query_map(params![after.0, after.1, limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_>>()?;
    rows.into_iter()
        .map(|(id, at_ms)| {
            let keys = keys_of(c, id)?.into_iter().map(|(k, _)| k).collect();
            Ok(OutboxNews::Delivered { node: node.to_string(), id, at_ms, keys })
        })
        .collect()
}

/// Applies news of another node's outbox: a planned notification is copied (pending; not
/// when its keys are here already), a delivered one marks the copies holding its keys
/// delivered (with no delivery time of this node's, so they are not shipped back).
/// `Ok(false)`: a delivery of a notification not copied here yet.
///
/// The stream decides: a copy whose keys this node holds only in plans of its own that it
/// never shipped (pending rows without `origin` above the row `shipped` reads, never sent)
/// replaces those plans. `shipped` is read inside this function's write transaction, so it
/// sees every shipment recorded before: a plan shipped meanwhile, which the deliverer may be
/// sending, is never taken for an unshipped one and deleted under it. News of this node's
/// (`me`) own plan that is still here is nothing to do: it is that plan.
///
/// # Errors
/// SQLite errors.
pub fn apply_outbox(
    c: &mut Connection,
    news: &OutboxNews,
    now: crate::time::Millis,
    me: &str,
    shipped: impl FnOnce(&Connection) -> Result<i64>,
) -> Result<bool> {
    let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let done = match news {
        OutboxNews::Planned { node, id: from, .. }
            if node == me
                && tx
                    .query_row("SELECT 1 FROM notifications WHERE id = ?1 AND origin IS NULL", [from], |_| Ok(()))
                    .optional()?
                    .is_some() =>
        {
            true
        }
        OutboxNews::Planned { node, id: from, receiver, kind, brand, incidents, body, keys } => {
            let shipped = shipped(&tx)?;
            let (mut known, mut unshipped) = (false, std::collections::BTreeSet::new());
            for (k, _) in keys {
                let holder: Option<(i64, bool)> = tx
                    .query_row(
                        "SELECT n.id, n.origin IS NULL AND n.status = 'pending' AND n.id > ?2
                         FROM notified k JOIN notifications n ON n.id = k.notification WHERE k.key = ?1",
                        params![k, shipped],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?;
                match holder {
                    Some((row, true)) => {
                        unshipped.insert(row);
                    }
                    Some((_, false)) => known = true,
                    None => {}
                }
            }
            if !known {
                for row in &unshipped {
                    tx.execute("DELETE FROM notified WHERE notification = ?1", [row])?;
                    tx.execute("DELETE FROM notifications WHERE id = ?1", [row])?;
                }
                tx.execute(
                    "INSERT INTO notifications (receiver, kind, brand, incidents, body, next_ms, created_ms, origin) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7)",
                    params![receiver, kind, brand, incidents, body, now, format!("{node}/{from}")],
                )?;
                let id = tx.last_insert_rowid();
                for (key, incident) in keys {
                    tx.execute(
                        "INSERT OR IGNORE INTO notified (key, incident, receiver, notification) VALUES (?1, ?2, ?3, ?4)",
                        params![key, incident, receiver, id],
                    )?;
                }
            }
            true
        }
        OutboxNews::Delivered { node, keys, .. } => {
            let mut rows = std::collections::BTreeSet::new();
            for k in keys {
                if let Some(r) = tx
                    .query_row("SELECT notification FROM notified WHERE key = ?1", [k], |r| r.get::<_, i64>(0))
                    .optional()?
                {
                    rows.insert(r);
                }
            }
            for r in &rows {
                tx.execute(
                    "UPDATE notifications SET status = 'delivered', delivered_ms = NULL, last_error = ?2 WHERE id = ?1 AND status = 'pending'",
                    params![r, format!("delivered by {node}")],
                )?;
            }
            !rows.is_empty() || keys.is_empty()
        }
    };
    tx.commit()?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_acknowledgement_made_on_one_node_acknowledges_on_another_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = crate::store::open(&dir.path().join("a.db"), false).unwrap();
        let mut b = crate::store::open(&dir.path().join("b.db"), false).unwrap();
        let ev: crate::alert::AlertEvent =
            serde_json::from_value(crate::notify::sample_event(1_700_000_000_000)).unwrap();
        crate::store::record_events(&mut a, std::slice::from_ref(&ev)).unwrap();
        let mine = local_since(&b, "b", 0, 10).unwrap();
        assert!(mine.is_empty());
        // b does not know the incident yet
        crate::store::record_action(&mut a, &ev.id, "ack", "dana", Some("on it"), 1_700_000_000_000).unwrap().unwrap();
        let shipped = local_since(&a, "a", 0, 10).unwrap();
        assert_eq!(shipped.len(), 1);
        assert_eq!((shipped[0].action.as_str(), shipped[0].who.as_str()), ("ack", "dana"));
        assert_eq!(apply(&mut b, &shipped[0]).unwrap(), Applied::Unknown);
        crate::store::record_events(&mut b, std::slice::from_ref(&ev)).unwrap();
        assert_eq!(apply(&mut b, &shipped[0]).unwrap(), Applied::Done);
        assert_eq!(apply(&mut b, &shipped[0]).unwrap(), Applied::Already);
        let status: String = b.query_row("SELECT status FROM incidents WHERE id = ?1", [&ev.id], |r| r.get(0)).unwrap();
        assert_eq!(status, "acknowledged");
        // applied actions are not shipped again
        assert!(local_since(&b, "b", 0, 10).unwrap().is_empty());
    }

    #[test]
    fn the_notifiers_outbox_is_copied_and_its_deliveries_mark_the_copies() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = crate::store::open(&dir.path().join("b.db"), false).unwrap();
        let keys = vec![("i|step0|pr".to_string(), "i".to_string()), ("j|step0|pr".to_string(), "j".to_string())];
        let delivered = OutboxNews::Delivered {
            node: "a".into(),
            id: 7,
            at_ms: 5,
            keys: keys.iter().map(|k| k.0.clone()).collect(),
        };
        assert!(!apply_outbox(&mut b, &delivered, 1, "b", |_| Ok(0)).unwrap(), "a delivery before its copy waits");
        let planned = OutboxNews::Planned {
            node: "a".into(),
            id: 7,
            receiver: "pr-hook".into(),
            kind: "alert".into(),
            brand: "acme".into(),
            incidents: "[\"i\",\"j\"]".into(),
            body: "{}".into(),
            keys: keys.clone(),
        };
        assert!(apply_outbox(&mut b, &planned, 1, "b", |_| Ok(0)).unwrap());
        assert!(apply_outbox(&mut b, &planned, 2, "b", |_| Ok(0)).unwrap(), "copied once");
        let count = |c: &Connection, status: &str| -> i64 {
            c.query_row("SELECT count(*) FROM notifications WHERE status = ?1", [status], |r| r.get(0)).unwrap()
        };
        assert_eq!(count(&b, "pending"), 1);
        let row: i64 = b.query_row("SELECT id FROM notifications", [], |r| r.get(0)).unwrap();
        let key = content_key(&b, row).unwrap().unwrap();
        assert_eq!(
            key,
            format!("k{:016x}", crate::hash::fnv1a(b"i|step0|pr\nj|step0|pr")),
            "the same key as on the notifier"
        );
        assert!(apply_outbox(&mut b, &delivered, 3, "b", |_| Ok(0)).unwrap());
        assert_eq!((count(&b, "pending"), count(&b, "delivered")), (0, 1));
        // a copy marked delivered is not this node's delivery, and a copy is not its plan:
        // nothing to ship back
        assert!(delivered_after(&b, "b", (0, 0), 10).unwrap().is_empty());
        assert!(planned_after(&b, "b", 0, 10).unwrap().is_empty());
        // and the copy is not forgotten as if it were an unshipped plan
        assert_eq!(forget_unshipped(&mut b, 0).unwrap(), 0);
    }

    #[test]
    fn unshipped_plans_are_forgotten_with_their_keys_and_planned_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = crate::store::open(&dir.path().join("a.db"), false).unwrap();
        std::env::set_var("CW_UNIT_REPLICATED_KEY", "k");
        let n = crate::notify::config::from_toml_str(
            "group_wait = \"0s\"\n[[receiver]]\nname = \"pr\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/a\"\n\
             secret_env = \"CW_UNIT_REPLICATED_KEY\"\n[[team]]\nname = \"pr\"\nreceivers = [\"pr\"]\n\
             [[route]]\nladder = [{ teams = [\"pr\"] }]\n",
            "127.0.0.1:1",
        )
        .unwrap();
        let ev: crate::alert::AlertEvent =
            serde_json::from_value(crate::notify::sample_event(1_700_000_000_000)).unwrap();
        crate::store::record_events(&mut c, std::slice::from_ref(&ev)).unwrap();
        let now = crate::clock::wall_ms();
        assert_eq!(crate::notify::plan(&mut c, &n, now, None).unwrap(), 1);
        let planned = planned_after(&c, "a", 0, 10).unwrap();
        let OutboxNews::Planned { id, keys, .. } = &planned[0] else { panic!("{planned:?}") };
        // shipped: kept
        assert_eq!(forget_unshipped(&mut c, *id).unwrap(), 0);
        // not shipped: forgotten, keys and all, and planned again under the same keys
        assert_eq!(forget_unshipped(&mut c, id - 1).unwrap(), 1);
        assert!(planned_after(&c, "a", 0, 10).unwrap().is_empty());
        assert_eq!(crate::notify::plan(&mut c, &n, now, None).unwrap(), 1);
        let again = planned_after(&c, "a", 0, 10).unwrap();
        let OutboxNews::Planned { id, keys: again, .. } = &again[0] else { panic!("{again:?}") };
        assert_eq!(again, keys);
        // a resolution, told to whoever heard of the alert, is planned from the events after
        // the planner's cursor: forgetting it takes the cursor back
        let mut resolved = ev.clone();
        resolved.status = crate::alert::Status::Resolved;
        crate::store::record_events(&mut c, &[resolved]).unwrap();
        assert_eq!(crate::notify::plan(&mut c, &n, now, None).unwrap(), 1);
        let kinds = |c: &Connection| -> Vec<String> {
            let mut st = c.prepare("SELECT kind FROM notifications ORDER BY id").unwrap();
            st.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
        };
        assert_eq!(kinds(&c), ["alert", "resolved"]);
        assert_eq!(forget_unshipped(&mut c, *id).unwrap(), 1);
        assert_eq!(kinds(&c), ["alert"]);
        assert_eq!(crate::notify::plan(&mut c, &n, now, None).unwrap(), 1, "planned again");
        assert_eq!(kinds(&c), ["alert", "resolved"]);
        assert_eq!(crate::notify::plan(&mut c, &n, now, None).unwrap(), 0, "once");
        // the same resolution planned by the notifier since, copied here: it replaces the
        // unshipped plan (never sent), and a shipped one stays
        let mine = planned_after(&c, "a", *id, 10).unwrap();
        let OutboxNews::Planned { id: resolved_row, keys: resolved_keys, .. } = &mine[0] else { panic!("{mine:?}") };
        let copy = OutboxNews::Planned {
            node: "b".into(),
            id: 40,
            receiver: "pr".into(),
            kind: "resolved".into(),
            brand: "acme".into(),
            incidents: "[]".into(),
            body: "{}".into(),
            keys: resolved_keys.clone(),
        };
        assert!(apply_outbox(&mut c, &copy, now, "a", |_| Ok(*resolved_row)).unwrap());
        assert_eq!(kinds(&c), ["alert", "resolved"], "shipped: the copy is not taken");
        let origin = |c: &Connection| -> Option<String> {
            c.query_row("SELECT origin FROM notifications WHERE kind = 'resolved'", [], |r| r.get(0)).unwrap()
        };
        assert_eq!(origin(&c), None);
        assert!(apply_outbox(&mut c, &copy, now, "a", |_| Ok(*id)).unwrap());
        assert_eq!(kinds(&c), ["alert", "resolved"], "not shipped: replaced by the copy");
        assert_eq!(origin(&c).as_deref(), Some("b/40"));
    }

    #[test]
    fn news_of_a_nodes_own_plan_is_that_plan_and_a_plan_shipped_meanwhile_is_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = crate::store::open(&dir.path().join("a.db"), false).unwrap();
        let keys = vec![("i|step0|pr".to_string(), "i".to_string())];
        let plan = crate::store::outbox::NewNotification {
            receiver: "pr".into(),
            kind: "alert",
            brand: "acme".into(),
            incidents: vec!["i".into()],
            body: "{}".into(),
            keys: keys.clone(),
        };
        crate::store::outbox::enqueue(&mut c, &[plan], 1, 0).unwrap();
        let row: i64 = c.query_row("SELECT id FROM notifications", [], |r| r.get(0)).unwrap();
        let key = content_key(&c, row).unwrap();
        // its own plan's news, heard back before the shipment was recorded: nothing changes
        let own = planned_after(&c, "a", 0, 10).unwrap().remove(0);
        assert!(apply_outbox(&mut c, &own, 5, "a", |_| Ok(0)).unwrap());
        let rows = |c: &Connection| -> Vec<(i64, Option<String>)> {
            let mut st = c.prepare("SELECT id, origin FROM notifications ORDER BY id").unwrap();
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
        };
        assert_eq!(rows(&c), [(row, None)]);
        assert_eq!(content_key(&c, row).unwrap(), key, "its keys stay with it");
        // another node's copy of the same keys: the plan is replaced only while the store
        // says it is unshipped, read in the transaction
        let copy = OutboxNews::Planned {
            node: "b".into(),
            id: 3,
            receiver: "pr".into(),
            kind: "alert".into(),
            brand: "acme".into(),
            incidents: "[\"i\"]".into(),
            body: "{}".into(),
            keys,
        };
        let mut read_in_tx = false;
        assert!(apply_outbox(&mut c, &copy, 6, "a", |tx| {
            read_in_tx = !tx.is_autocommit();
            Ok(row)
        })
        .unwrap());
        assert!(read_in_tx, "shipped is read inside the write transaction");
        assert_eq!(rows(&c), [(row, None)], "shipped: kept");
        assert!(apply_outbox(&mut c, &copy, 7, "a", |_| Ok(row - 1)).unwrap());
        assert_eq!(rows(&c).len(), 1);
        assert_eq!(rows(&c)[0].1.as_deref(), Some("b/3"), "unshipped: replaced by the copy");
    }
}
