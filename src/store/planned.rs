//! Planned events declared through the API (`planned` table): a brand, a window and the
//! uplift its volume rules should expect there (see `detect::planned`). The rules files
//! declare theirs in `[[planned]]` tables; these are the API's. A deleted one is kept, with who
//! deleted it and when, and no longer given to the engine.
//!
//! In a cluster every node keeps every planned event, and every partition engine gets them:
//! the changes made on a node (declared, deleted) are shipped ([`changed_after`]) and
//! applied on the others ([`apply_shared`]), where a copy keeps the key `node/id` of where
//! it was declared (`origin`).

use crate::time::{format_rfc3339, Millis};
use rusqlite::{params, Connection, OptionalExtension, Result};
use serde_json::{json, Value};

/// Planned events not yet over and not deleted, per installation; creating one more is
/// refused.
pub const MAX_CURRENT: i64 = 1000;

/// A planned event to store, already validated (`serve::planned::validate`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NewPlanned {
    /// Brand id.
    pub brand: String,
    /// What it is.
    pub name: String,
    /// Start.
    pub start_ms: Millis,
    /// End (exclusive), after the start.
    pub end_ms: Millis,
    /// Expected volume as a multiple of the usual.
    pub uplift: f64,
    /// The authenticated name of who declared it.
    pub creator: String,
}

/// One stored planned event.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedRow {
    /// Row id, used in `/v1/planned/{id}`.
    pub id: i64,
    /// What was declared.
    pub event: NewPlanned,
    /// When.
    pub created_ms: Millis,
    /// Who deleted it and when, if deleted.
    pub deleted: Option<(String, Millis)>,
}

impl PlannedRow {
    /// The API's view of it at `now`.
    pub fn to_json(&self, now: Millis) -> Value {
        let e = &self.event;
        let state = if self.deleted.is_some() {
            "deleted"
        } else if e.end_ms <= now {
            "over"
        } else if e.start_ms > now {
            "pending"
        } else {
            "active"
        };
        json!({
            "id": self.id,
            "brand": e.brand,
            "name": e.name,
            "start": format_rfc3339(e.start_ms),
            "end": format_rfc3339(e.end_ms),
            "uplift": e.uplift,
            "creator": e.creator,
            "created_at": format_rfc3339(self.created_ms),
            "state": state,
            "deleted_by": self.deleted.as_ref().map(|d| &d.0),
            "deleted_at": self.deleted.as_ref().map(|d| format_rfc3339(d.1)),
        })
    }
}

/// Why a planned event was not created or deleted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlannedRefused {
    /// No planned event with this id.
    #[error("no planned event {0}")]
    NotFound(i64),
    /// Deleted already.
    #[error("planned event {0} was deleted already (by {1})")]
    Deleted(i64, String),
    /// [`MAX_CURRENT`] are current already.
    #[error("{0} planned events are pending or active, the most allowed; delete one first")]
    TooMany(i64),
    /// The request is invalid: what is wrong, said precisely.
    #[error("{0}")]
    Invalid(String),
}

/// The `changed` number of a change made here: above every earlier one.
const NEXT_CHANGE: &str = "(SELECT coalesce(max(changed), 0) + 1 FROM planned)";

const COLUMNS: &str = "id, brand, name, start_ms, end_ms, uplift, creator, created_ms, deleted_by, deleted_ms";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PlannedRow> {
    let deleted_by: Option<String> = r.get(8)?;
    let deleted_ms: Option<i64> = r.get(9)?;
    Ok(PlannedRow {
        id: r.get(0)?,
        event: NewPlanned {
            brand: r.get(1)?,
            name: r.get(2)?,
            start_ms: r.get(3)?,
            end_ms: r.get(4)?,
            uplift: r.get(5)?,
            creator: r.get(6)?,
        },
        created_ms: r.get(7)?,
        deleted: deleted_by.map(|w| (w, deleted_ms.unwrap_or(0))),
    })
}

/// Stores a planned event, unless [`MAX_CURRENT`] are current at `now`.
///
/// # Errors
/// SQLite errors (outer); the refusal (inner).
pub fn create(
    c: &mut Connection,
    p: &NewPlanned,
    now: Millis,
) -> Result<std::result::Result<PlannedRow, PlannedRefused>> {
    let tx = c.transaction()?;
    let current: i64 =
        tx.query_row("SELECT count(*) FROM planned WHERE end_ms > ?1 AND deleted_by IS NULL", [now], |r| r.get(0))?;
    if current >= MAX_CURRENT {
        return Ok(Err(PlannedRefused::TooMany(MAX_CURRENT)));
    }
    tx.execute(
        &format!(
            "INSERT INTO planned (brand, name, start_ms, end_ms, uplift, creator, created_ms, changed)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, {NEXT_CHANGE})"
        ),
        params![p.brand, p.name, p.start_ms, p.end_ms, p.uplift, p.creator, now],
    )?;
    let id = tx.last_insert_rowid();
    tx.commit()?;
    Ok(Ok(PlannedRow { id, event: p.clone(), created_ms: now, deleted: None }))
}

/// Marks planned event `id` deleted by `who` at `now`.
///
/// # Errors
/// SQLite errors (outer); the refusal (inner).
pub fn delete(
    c: &Connection,
    id: i64,
    who: &str,
    now: Millis,
) -> Result<std::result::Result<PlannedRow, PlannedRefused>> {
    let Some(mut p) = c.query_row(&format!("SELECT {COLUMNS} FROM planned WHERE id = ?1"), [id], row).optional()?
    else {
        return Ok(Err(PlannedRefused::NotFound(id)));
    };
    if let Some((by, _)) = p.deleted {
        return Ok(Err(PlannedRefused::Deleted(id, by)));
    }
    c.execute(
        &format!("UPDATE planned SET deleted_by = ?2, deleted_ms = ?3, changed = {NEXT_CHANGE} WHERE id = ?1"),
        params![id, who, now],
    )?;
    p.deleted = Some((who.to_string(), now));
    Ok(Ok(p))
}

/// Planned events newest first, at most `limit`; deleted ones only when `deleted`.
///
/// # Errors
/// SQLite errors.
pub fn list(c: &Connection, deleted: bool, limit: usize) -> Result<Vec<PlannedRow>> {
    let filter = if deleted { "1" } else { "deleted_by IS NULL" };
    let mut st = c.prepare(&format!("SELECT {COLUMNS} FROM planned WHERE {filter} ORDER BY id DESC LIMIT ?1"))?;
    let rows = st.query_map([limit as i64], row)?;
    rows.collect()
}

/// What the engine expects: every planned event not deleted (over ones too: they shape the
/// windows that still hold their minutes, and the engine replays the log after a restart).
///
/// # Errors
/// SQLite errors.
pub fn for_engine(c: &Connection) -> Result<Vec<(String, crate::detect::Planned)>> {
    let mut st = c.prepare(&format!("SELECT {COLUMNS} FROM planned WHERE deleted_by IS NULL ORDER BY start_ms"))?;
    let rows = st.query_map([], row)?;
    rows.map(|r| {
        r.map(|p| {
            let e = p.event;
            (e.brand, crate::detect::Planned::from_millis(e.start_ms, e.end_ms, e.uplift))
        })
    })
    .collect()
}

/// A planned event as shipped between the nodes of a cluster: its whole state, under the
/// key of the node where it was declared.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SharedPlanned {
    /// The node that made the change.
    pub node: String,
    /// `node/id`: where it was declared and its row there.
    pub key: String,
    /// The change's number on `node`.
    pub changed: i64,
    /// What was declared.
    #[serde(flatten)]
    pub event: NewPlanned,
    /// When.
    pub created_ms: Millis,
    /// Who deleted it and when.
    pub deleted: Option<(String, Millis)>,
}

/// The planned events declared or deleted here (`node`) after change number `after`, in
/// change order.
///
/// # Errors
/// SQLite errors.
pub fn changed_after(c: &Connection, node: &str, after: i64) -> Result<Vec<SharedPlanned>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {COLUMNS}, coalesce(origin, ?2 || '/' || id), changed FROM planned WHERE changed > ?1 ORDER BY changed, id"
    ))?;
    let rows = st.query_map(params![after, node], |r| Ok((row(r)?, r.get::<_, String>(10)?, r.get::<_, i64>(11)?)))?;
    rows.map(|x| {
        let (p, key, changed) = x?;
        Ok(SharedPlanned {
            node: node.to_string(),
            key,
            changed,
            event: p.event,
            created_ms: p.created_ms,
            deleted: p.deleted,
        })
    })
    .collect()
}

/// Applies planned event `p` shipped by another node to this node's (`me`) store: one new
/// here is copied (`origin` its key); one known here can only be deleted (the only change
/// a planned event takes, so any order of arrival gives the same row). Returns whether
/// anything changed (the engines then need the new list, [`for_engine`]).
///
/// # Errors
/// SQLite errors.
pub fn apply_shared(c: &mut Connection, p: &SharedPlanned, me: &str) -> Result<bool> {
    let tx = c.transaction()?;
    let own = p.key.strip_prefix(me).and_then(|k| k.strip_prefix('/')).and_then(|id| id.parse::<i64>().ok());
    let id: Option<i64> = match own {
        Some(id) => Some(id),
        None => tx.query_row("SELECT id FROM planned WHERE origin = ?1", [&p.key], |r| r.get(0)).optional()?,
    };
    let n = match (id, &p.deleted) {
        (Some(id), Some((by, at))) => tx.execute(
            "UPDATE planned SET deleted_by = ?2, deleted_ms = ?3 WHERE id = ?1 AND deleted_by IS NULL",
            params![id, by, at],
        )?,
        (Some(_), None) => 0,
        (None, deleted) => tx.execute(
            "INSERT INTO planned (brand, name, start_ms, end_ms, uplift, creator, created_ms, deleted_by, deleted_ms, origin)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                p.event.brand,
                p.event.name,
                p.event.start_ms,
                p.event.end_ms,
                p.event.uplift,
                p.event.creator,
                p.created_ms,
                deleted.as_ref().map(|d| d.0.clone()),
                deleted.as_ref().map(|d| d.1),
                p.key
            ],
        )?,
    };
    tx.commit()?;
    Ok(n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_list_delete_and_what_the_engine_gets() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = crate::store::open(&dir.path().join("s.db"), false).unwrap();
        let p = NewPlanned {
            brand: "acme".into(),
            name: "spring launch".into(),
            start_ms: 600_000,
            end_ms: 600_000 + 6 * 3_600_000,
            uplift: 5.0,
            creator: "ops".into(),
        };
        let a = create(&mut c, &p, 1_000).unwrap().unwrap();
        let b = create(&mut c, &NewPlanned { brand: "globex".into(), ..p.clone() }, 2_000).unwrap().unwrap();
        assert_eq!(a.to_json(0)["state"], "pending");
        assert_eq!(a.to_json(700_000)["state"], "active");
        assert_eq!(a.to_json(p.end_ms)["state"], "over");
        assert_eq!(for_engine(&c).unwrap().len(), 2);
        let gone = delete(&c, a.id, "lead", 3_000).unwrap().unwrap();
        assert_eq!(gone.to_json(0)["state"], "deleted");
        assert_eq!(gone.to_json(0)["deleted_by"], "lead");
        assert_eq!(delete(&c, a.id, "lead", 4_000).unwrap(), Err(PlannedRefused::Deleted(a.id, "lead".into())));
        assert_eq!(delete(&c, 99, "lead", 4_000).unwrap(), Err(PlannedRefused::NotFound(99)));
        let left = for_engine(&c).unwrap();
        assert_eq!(left, vec![("globex".to_string(), crate::detect::Planned::from_millis(p.start_ms, p.end_ms, 5.0))]);
        assert_eq!(list(&c, false, 10).unwrap().iter().map(|r| r.id).collect::<Vec<_>>(), vec![b.id]);
        assert_eq!(list(&c, true, 10).unwrap().len(), 2);
    }

    #[test]
    fn planned_events_declared_and_deleted_on_one_node_reach_another_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = crate::store::open(&dir.path().join("a.db"), false).unwrap();
        let mut b = crate::store::open(&dir.path().join("b.db"), false).unwrap();
        let p = NewPlanned {
            brand: "acme".into(),
            name: "spring launch".into(),
            start_ms: 600_000,
            end_ms: 4_200_000,
            uplift: 5.0,
            creator: "ops".into(),
        };
        let made = create(&mut a, &p, 1_000).unwrap().unwrap();
        let shipped = changed_after(&a, "cw-a", 0).unwrap();
        assert_eq!(shipped.len(), 1);
        assert_eq!(shipped[0].key, format!("cw-a/{}", made.id));
        assert!(apply_shared(&mut b, &shipped[0], "cw-b").unwrap());
        assert!(!apply_shared(&mut b, &shipped[0], "cw-b").unwrap(), "copied once");
        assert_eq!(for_engine(&b).unwrap(), for_engine(&a).unwrap());
        assert!(changed_after(&b, "cw-b", 0).unwrap().is_empty(), "a copy is not b's change");
        // deleted on b under its own id: shipped under a's key, deletes a's row
        let copy = list(&b, false, 10).unwrap()[0].id;
        delete(&b, copy, "dana", 2_000).unwrap().unwrap();
        let deleted = changed_after(&b, "cw-b", 0).unwrap();
        assert_eq!(
            (deleted[0].key.as_str(), deleted[0].deleted.clone()),
            (shipped[0].key.as_str(), Some(("dana".to_string(), 2_000)))
        );
        assert!(apply_shared(&mut a, &deleted[0], "cw-a").unwrap());
        assert!(for_engine(&a).unwrap().is_empty());
        // the declaration arriving late does not bring it back
        assert!(!apply_shared(&mut a, &shipped[0], "cw-a").unwrap());
        assert!(for_engine(&a).unwrap().is_empty());
    }
}
