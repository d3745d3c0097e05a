//! The service's side of the buttons in messages: [`StoreActions`] applies an
//! acknowledge, escalate-now or mute to an incident in the SQLite store, for receivers that
//! take actions from people (Telegram). Receivers see only the
//! [`IncidentActions`] interface, never the store.

use crate::notify::channel::{ActionRefused, IncidentAction, IncidentActions};
use crate::store::{self, ActionError};
use crate::time::Millis;
use rusqlite::Connection;

/// Incident actions on a store connection of their own.
pub struct StoreActions(pub Connection);

impl IncidentActions for StoreActions {
    fn act(&mut self, id: &str, action: IncidentAction, who: &str, now: Millis) -> Result<(), ActionRefused> {
        let done = match action {
            IncidentAction::Acknowledge => store::record_action(&mut self.0, id, "ack", who, Some("via Telegram"), now),
            IncidentAction::EscalateNow => store::escalate_now(&mut self.0, id, who, Some("via Telegram"), now),
            IncidentAction::Mute(d) => {
                store::mute(&mut self.0, id, who, Some("via Telegram"), now, d.as_millis() as i64)
            }
        };
        match done {
            Ok(Ok(())) => Ok(()),
            Ok(Err(ActionError::NotFound)) => Err(ActionRefused::NotFound),
            Ok(Err(ActionError::Resolved)) => Err(ActionRefused::Resolved),
            Err(e) => Err(ActionRefused::Store(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::AlertEvent;

    #[test]
    fn actions_reach_the_store_and_refusals_are_typed() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = store::open(&dir.path().join("db"), false).unwrap();
        let ev: AlertEvent = serde_json::from_value(crate::notify::sample_event(crate::clock::wall_ms())).unwrap();
        let id = ev.id.clone();
        store::record_events(&mut c, &[ev]).unwrap();
        let mut a = StoreActions(c);
        let now = crate::clock::wall_ms();
        assert_eq!(a.act(&id, IncidentAction::Mute(std::time::Duration::from_secs(60)), "dana", now), Ok(()));
        assert_eq!(a.act(&id, IncidentAction::EscalateNow, "dana", now), Ok(()));
        assert_eq!(a.act(&id, IncidentAction::Acknowledge, "dana", now), Ok(()));
        assert_eq!(a.act("nope", IncidentAction::Acknowledge, "dana", now), Err(ActionRefused::NotFound));
        assert_eq!(ActionRefused::NotFound.to_string(), "NotFound");
    }
}
