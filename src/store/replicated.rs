//! A cluster's people's actions, shared between its nodes' stores: every node ships the
//! acknowledgements, escalations and resolutions recorded here (`actions` rows without an
//! `origin`) to the cluster's alert stream, and applies the ones the other nodes shipped
//! (recorded with the sending node as their `origin`, so they are never shipped again).
//! So an acknowledgement made on any node stops the ladder of the node that notifies.

use super::{act_at, escalate_in, ActionError};
use crate::time::parse_timestamp;
use rusqlite::{params, Connection, OptionalExtension, Result};
use serde::{Deserialize, Serialize};

/// Adds `actions.origin` to a store made before clusters existed.
pub(super) fn migrate(c: &Connection) -> Result<()> {
    let has: bool =
        c.query_row("SELECT EXISTS (SELECT 1 FROM pragma_table_info('actions') WHERE name = 'origin')", [], |r| {
            r.get(0)
        })?;
    if !has {
        // two connections opening a new store together: the second finds the column there
        match c.execute("ALTER TABLE actions ADD COLUMN origin TEXT", []) {
            Err(e) if e.to_string().contains("duplicate column") => {}
            r => {
                r?;
            }
        }
    }
    Ok(())
}

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
}
