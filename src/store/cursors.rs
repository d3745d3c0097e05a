//! Where each source got to: its cursor, written by the sequencer right after the mentions
//! it covers are durable in the ingest log (so a cursor never runs ahead of the log; when
//! the process dies between the two, the source fetches those items again and the id
//! de-duplication drops them).
//!
//! Also the cluster's followers of the alert stream (`serve::cluster::share`): their
//! cursors, and the messages they **parked**: one that cannot be applied yet (an action on
//! an incident whose events have not reached this store) is kept here and the cursor moves
//! on; the follower applies it once it can, so nothing after it waits and nothing is lost.

use super::Result;
use crate::time::Millis;
use rusqlite::{params, Connection};

/// Stores the cursors of sources, each replacing the one before.
///
/// # Errors
/// SQLite errors.
pub fn save(c: &Connection, cursors: &[(String, String)], now: Millis) -> Result<()> {
    let mut st = c.prepare_cached(
        "INSERT INTO source_cursors (source, cursor, updated_ms) VALUES (?1, ?2, ?3)
         ON CONFLICT(source) DO UPDATE SET cursor = excluded.cursor, updated_ms = excluded.updated_ms",
    )?;
    for (source, cursor) in cursors {
        st.execute(params![source, cursor, now])?;
    }
    Ok(())
}

/// The stored cursor of every source.
///
/// # Errors
/// SQLite errors.
pub fn load(c: &Connection) -> Result<Vec<(String, String)>> {
    let mut st = c.prepare("SELECT source, cursor FROM source_cursors ORDER BY source")?;
    let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// Creates the parked messages' table if this store has none yet.
fn ensure_parked(c: &Connection) -> Result<()> {
    c.execute_batch(
        "CREATE TABLE IF NOT EXISTS parked_messages (
             follower TEXT NOT NULL, seq INTEGER NOT NULL, payload BLOB NOT NULL, parked_ms INTEGER NOT NULL,
             PRIMARY KEY (follower, seq))",
    )
}

/// Parks message `seq` of follower `name` (parking it again changes nothing).
///
/// # Errors
/// SQLite errors.
pub fn park(c: &Connection, name: &str, seq: u64, payload: &[u8], now: Millis) -> Result<()> {
    ensure_parked(c)?;
    c.execute(
        "INSERT OR IGNORE INTO parked_messages (follower, seq, payload, parked_ms) VALUES (?1, ?2, ?3, ?4)",
        params![name, seq as i64, payload, now],
    )?;
    Ok(())
}

/// Follower `name`'s parked messages, oldest first: (sequence, payload, parked at).
///
/// # Errors
/// SQLite errors.
pub fn parked(c: &Connection, name: &str) -> Result<Vec<(u64, Vec<u8>, Millis)>> {
    ensure_parked(c)?;
    let mut st =
        c.prepare_cached("SELECT seq, payload, parked_ms FROM parked_messages WHERE follower = ?1 ORDER BY seq")?;
    let rows = st.query_map([name], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get(2)?)))?;
    rows.collect()
}

/// Removes a parked message once applied.
///
/// # Errors
/// SQLite errors.
pub fn unpark(c: &Connection, name: &str, seq: u64) -> Result<()> {
    ensure_parked(c)?;
    c.execute("DELETE FROM parked_messages WHERE follower = ?1 AND seq = ?2", params![name, seq as i64])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_cursor_replaces_the_one_before() {
        let dir = std::env::temp_dir().join(format!("cw-cursors-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let c = super::super::open(&dir.join("s.db"), false).unwrap();
        super::save(&c, &[("news".into(), "a".into()), ("hn".into(), "1".into())], 1).unwrap();
        super::save(&c, &[("news".into(), "b".into())], 2).unwrap();
        assert_eq!(super::load(&c).unwrap(), vec![("hn".into(), "1".into()), ("news".into(), "b".into())]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn parked_messages_stay_until_unparked_per_follower() {
        let dir = tempfile::tempdir().unwrap();
        let c = super::super::open(&dir.path().join("s.db"), false).unwrap();
        assert!(super::parked(&c, "cluster:actions").unwrap().is_empty());
        super::park(&c, "cluster:actions", 9, b"later", 1).unwrap();
        super::park(&c, "cluster:actions", 4, b"first", 2).unwrap();
        super::park(&c, "cluster:actions", 4, b"again", 3).unwrap();
        super::park(&c, "cluster:outbox", 4, b"other", 4).unwrap();
        let got = super::parked(&c, "cluster:actions").unwrap();
        assert_eq!(got, vec![(4, b"first".to_vec(), 2), (9, b"later".to_vec(), 1)]);
        super::unpark(&c, "cluster:actions", 4).unwrap();
        assert_eq!(super::parked(&c, "cluster:actions").unwrap(), vec![(9, b"later".to_vec(), 1)]);
        assert_eq!(super::parked(&c, "cluster:outbox").unwrap().len(), 1);
    }
}
