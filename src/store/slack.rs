//! The Slack message posted for each incident, per receiver (`slack_messages`): the
//! `channel` and `ts` that `chat.postMessage` answered, so that later notifications of the
//! incident edit that message (`chat.update`) instead of posting another.

use super::Result;
use crate::time::Millis;
use rusqlite::{params, Connection, OptionalExtension};

/// The message posted for `incident` by `receiver`: `(channel, ts)`.
///
/// # Errors
/// SQLite errors.
pub fn message(c: &Connection, receiver: &str, incident: &str) -> Result<Option<(String, String)>> {
    c.prepare_cached("SELECT channel, ts FROM slack_messages WHERE receiver = ?1 AND incident = ?2")?
        .query_row(params![receiver, incident], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
}

/// Remembers the message posted for `incident` by `receiver` (replacing an earlier one:
/// after the first was deleted, a new one is posted and followed).
///
/// # Errors
/// SQLite errors.
pub fn remember(c: &Connection, receiver: &str, incident: &str, channel: &str, ts: &str, now: Millis) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO slack_messages (receiver, incident, channel, ts, posted_ms) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(receiver, incident) DO UPDATE SET channel = excluded.channel, ts = excluded.ts,
           posted_ms = excluded.posted_ms",
    )?
    .execute(params![receiver, incident, channel, ts, now])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_message_is_remembered_per_receiver_and_incident() {
        let dir = tempfile::tempdir().unwrap();
        let c = super::super::open(&dir.path().join("s.db"), false).unwrap();
        assert_eq!(super::message(&c, "comms", "i1").unwrap(), None);
        super::remember(&c, "comms", "i1", "C1", "1.1", 1).unwrap();
        super::remember(&c, "other", "i1", "C2", "2.2", 1).unwrap();
        super::remember(&c, "comms", "i1", "C1", "3.3", 2).unwrap();
        assert_eq!(super::message(&c, "comms", "i1").unwrap(), Some(("C1".into(), "3.3".into())));
        assert_eq!(super::message(&c, "other", "i1").unwrap(), Some(("C2".into(), "2.2".into())));
    }
}
