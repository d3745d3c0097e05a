//! The service's side of the buttons in messages: [`StoreActions`] applies an
//! acknowledge, escalate-now or mute to an incident in the SQLite store (a mute is a silence
//! of the incident's brand and rule, listed by `GET /v1/silences`), for receivers that
//! take actions from people (Telegram; Slack through [`apply`]), and [`StoreMessageRefs`]
//! keeps where each Slack message was posted. Receivers see only the [`IncidentActions`] and
//! [`MessageRefs`] interfaces, never the store.

use crate::notify::channel::slack::MessageRefs;
use crate::notify::channel::{ActionRefused, IncidentAction, IncidentActions};
use crate::store::{self, ActionError};
use crate::time::Millis;
use rusqlite::Connection;

/// Incident actions on a store connection of their own.
pub struct StoreActions(pub Connection);

impl IncidentActions for StoreActions {
    fn act(&mut self, id: &str, action: IncidentAction, who: &str, now: Millis) -> Result<(), ActionRefused> {
        apply(&mut self.0, id, action, who, "via Telegram", now)
    }
}

/// Applies `action` to incident `id` for `who`, noting where it came from (`via Slack`).
///
/// # Errors
/// [`ActionRefused`] when the incident is unknown or resolved, or the store failed.
pub fn apply(
    c: &mut Connection,
    id: &str,
    action: IncidentAction,
    who: &str,
    via: &str,
    now: Millis,
) -> Result<(), ActionRefused> {
    let done = match action {
        IncidentAction::Acknowledge => store::record_action(c, id, "ack", who, Some(via), now),
        IncidentAction::EscalateNow => store::escalate_now(c, id, who, Some(via), now),
        IncidentAction::Mute(d) => {
            let ms = d.as_millis() as i64;
            let reason = format!("Mute {} from {}", span(ms), via.strip_prefix("via ").unwrap_or(via));
            store::silences::mute_incident(c, id, who, &reason, now, ms).map(|r| r.map(|_| ()))
        }
    };
    match done {
        Ok(Ok(())) => Ok(()),
        Ok(Err(ActionError::NotFound)) => Err(ActionRefused::NotFound),
        Ok(Err(ActionError::Resolved)) => Err(ActionRefused::Resolved),
        Err(e) => Err(ActionRefused::Store(e.to_string())),
    }
}

/// A mute's length as people say it: `1h`, `4h`, `30 min`.
pub fn span(ms: i64) -> String {
    if ms >= 3_600_000 && ms % 3_600_000 == 0 {
        format!("{}h", ms / 3_600_000)
    } else {
        format!("{} min", ms / 60_000)
    }
}

/// Where each Slack message was posted, in the store (`store::slack`), for the Slack
/// receivers' in-place updates.
pub struct StoreMessageRefs(pub std::sync::Mutex<Connection>);

impl MessageRefs for StoreMessageRefs {
    fn get(&self, receiver: &str, incident: &str) -> Option<(String, String)> {
        let c = self.0.lock().unwrap_or_else(|e| e.into_inner());
        store::slack::message(&c, receiver, incident)
            .inspect_err(|e| tracing::warn!(error = %e, "cannot read the Slack message of an incident"))
            .ok()
            .flatten()
    }

    fn put(&self, receiver: &str, incident: &str, channel: &str, ts: &str) {
        let c = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = store::slack::remember(&c, receiver, incident, channel, ts, crate::clock::wall_ms()) {
            tracing::warn!(error = %e, "cannot remember the Slack message of an incident");
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
        assert_eq!(
            a.act(&id, IncidentAction::Mute(std::time::Duration::from_secs(3600)), "@dana (Telegram)", now),
            Ok(())
        );
        let muted = store::silences::active(&a.0, now).unwrap();
        assert_eq!(muted.len(), 1, "the mute is a silence");
        assert_eq!(
            (muted[0].creator.as_str(), muted[0].reason.as_str()),
            ("@dana (Telegram)", "Mute 1h from Telegram")
        );
        assert_eq!(muted[0].incident.as_deref(), Some(id.as_str()));
        assert_eq!(a.act(&id, IncidentAction::EscalateNow, "dana", now), Ok(()));
        assert!(store::silences::active(&a.0, now).unwrap().is_empty(), "escalating ends the incident's mute");
        assert_eq!((span(3_600_000), span(1_800_000), span(14_400_000)), ("1h".into(), "30 min".into(), "4h".into()));
        assert_eq!(a.act(&id, IncidentAction::Acknowledge, "dana", now), Ok(()));
        assert_eq!(a.act("nope", IncidentAction::Acknowledge, "dana", now), Err(ActionRefused::NotFound));
        assert_eq!(ActionRefused::NotFound.to_string(), "NotFound");
    }
}
