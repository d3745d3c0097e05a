//! Where each source got to: its cursor, written by the sequencer right after the mentions
//! it covers are durable in the ingest log (so a cursor never runs ahead of the log; when
//! the process dies between the two, the source fetches those items again and the id
//! de-duplication drops them).

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
}
