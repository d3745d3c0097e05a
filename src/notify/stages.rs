//! The planning stages of the notify pipeline as pure, typed functions: what is due
//! (route → group wait → inhibit → quiet hours → ladder, and state changes to whoever was
//! told), dedup against what was already notified, and grouping per receiver, brand and
//! kind. No SQL and no clock: the store's rows and `now` come in, the decisions go out
//! (see [`super::plan`] for the order and the I/O around them).

use super::config::Notify;
use crate::alert::{Severity, Status};
use crate::store::outbox::{OpenIncident, StateChange};
use crate::time::Millis;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};

/// One thing due to be notified.
#[derive(Debug, Clone)]
pub struct Due {
    /// Receiver index in [`Notify::receivers`].
    pub receiver: usize,
    /// Brand id.
    pub brand: String,
    /// `alert`, `escalated`, `resolved` or `test`.
    pub kind: &'static str,
    /// Dedup key: (incident, ladder step or state change, receiver).
    pub key: String,
    /// Incident id.
    pub incident: String,
    /// The incident's alert event.
    pub event: Value,
    /// Ladder step reached, for ladder notifications.
    pub step: Option<usize>,
}

/// Escalations and resolutions go to every receiver that was told about the incident.
pub fn state_changes(changes: &[StateChange], n: &Notify) -> Vec<Due> {
    let mut due = Vec::new();
    for ch in changes {
        let kind = match ch.status {
            Status::Resolved => "resolved",
            Status::Escalated => "escalated",
            _ => continue,
        };
        let brand = ch.event["brand"].as_str().unwrap_or("").to_string();
        for name in &ch.told {
            let Some(ri) = n.receivers.iter().position(|r| r.name() == name) else { continue };
            due.push(Due {
                receiver: ri,
                brand: brand.clone(),
                kind,
                key: format!("{}|{kind}-{}|{name}", ch.incident, ch.severity),
                incident: ch.incident.clone(),
                event: ch.event.clone(),
                step: None,
            });
        }
    }
    due
}

/// The ladder of every open incident at `now`: its route by brand and severity; lesser
/// incidents wait `group_wait` so that the brand's other rules join them, are inhibited
/// while the brand has a critical incident, and `watch` ones wait out the quiet hours; a
/// step is reached by time unacknowledged or by severity, and repeats while unacknowledged.
pub fn ladders(open: &[OpenIncident], n: &Notify, now: Millis) -> Vec<Due> {
    let mut due = Vec::new();
    for inc in open {
        let sev = inc.severity;
        let Some(route) = n.route(&inc.brand, sev) else { continue };
        let age = now - inc.created_ms;
        if sev != Severity::Critical && age < n.group_wait.as_millis() as i64 {
            continue; // group: let the brand's other rules join
        }
        if sev != Severity::Critical && inc.brand_has_critical {
            continue; // inhibit: the brand's critical incident speaks for it
        }
        if sev == Severity::Watch && n.is_quiet(n.zone.minute_of_day(now)) {
            continue;
        }
        for (i, step) in route.ladder.iter().enumerate() {
            let by_time = age >= step.after_ms;
            let by_severity = step.severity.is_some_and(|s| sev >= s);
            if !(by_time || by_severity) {
                continue;
            }
            let repeats = if route.repeat_ms > 0 && by_time { (age - step.after_ms) / route.repeat_ms } else { 0 };
            for &ri in &step.receivers {
                let name = n.receivers[ri].name();
                let key = if repeats == 0 {
                    format!("{}|step{i}|{name}", inc.id)
                } else {
                    format!("{}|step{i}-repeat{repeats}|{name}", inc.id)
                };
                due.push(Due {
                    receiver: ri,
                    brand: inc.brand.clone(),
                    kind: "alert",
                    key,
                    incident: inc.id.clone(),
                    event: inc.latest.clone(),
                    step: Some(i),
                });
            }
        }
    }
    due
}

/// Drops what was already notified and repeats within `due` (first one wins).
pub fn dedup(due: Vec<Due>, already: &HashSet<String>) -> Vec<Due> {
    let mut seen: HashSet<String> = HashSet::with_capacity(due.len());
    due.into_iter().filter(|d| !already.contains(&d.key) && seen.insert(d.key.clone())).collect()
}

/// Everything for one receiver, brand and kind goes out as one notification.
pub fn group(fresh: Vec<Due>) -> BTreeMap<(usize, String, &'static str), Vec<Due>> {
    let mut groups: BTreeMap<(usize, String, &'static str), Vec<Due>> = BTreeMap::new();
    for d in fresh {
        groups.entry((d.receiver, d.brand.clone(), d.kind)).or_default().push(d);
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::config::from_toml_str;

    fn notify() -> Notify {
        std::env::set_var("CW_STAGES_KEY", "k");
        let t = "group_wait = \"5m\"\nquiet_hours = \"22:00-07:00\"\n\
            [[receiver]]\nname = \"pr\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/a\"\nsecret_env = \"CW_STAGES_KEY\"\n\
            [[receiver]]\nname = \"ceo\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/b\"\nsecret_env = \"CW_STAGES_KEY\"\n\
            [[team]]\nname = \"pr\"\nreceivers = [\"pr\"]\n[[team]]\nname = \"execs\"\nreceivers = [\"ceo\"]\n\
            [[route]]\nrepeat = \"30m\"\nladder = [{ teams = [\"pr\"] }, { teams = [\"execs\"], after = \"1h\", severity = \"critical\" }]\n";
        from_toml_str(t, "127.0.0.1:1").unwrap()
    }

    fn open(id: &str, severity: Severity, created_ms: Millis, brand_has_critical: bool) -> OpenIncident {
        OpenIncident {
            id: id.into(),
            brand: "acme".into(),
            severity,
            created_ms,
            latest: serde_json::json!({"id": id, "brand": "acme"}),
            brand_has_critical,
        }
    }

    const NOON: Millis = 1_767_268_800_000; // 2026-01-01T12:00:00Z
    const MIN: Millis = 60_000;

    fn keys(d: &[Due]) -> Vec<String> {
        d.iter().map(|x| x.key.clone()).collect()
    }

    #[test]
    fn group_wait_inhibit_and_quiet_hours() {
        let n = notify();
        // a warning 2 minutes old waits for the group; 10 minutes old it goes to step 0
        assert!(ladders(&[open("w", Severity::Warning, NOON - 2 * MIN, false)], &n, NOON).is_empty());
        assert_eq!(keys(&ladders(&[open("w", Severity::Warning, NOON - 10 * MIN, false)], &n, NOON)), ["w|step0|pr"]);
        // inhibited while the brand has a critical incident
        assert!(ladders(&[open("w", Severity::Warning, NOON - 10 * MIN, true)], &n, NOON).is_empty());
        // a critical one goes at once, to both steps (severity reaches step 1)
        assert_eq!(
            keys(&ladders(&[open("c", Severity::Critical, NOON, true)], &n, NOON)),
            ["c|step0|pr", "c|step1|ceo"]
        );
        // watch waits out the quiet hours (23:00 UTC)
        let night = NOON + 11 * 60 * MIN;
        assert!(ladders(&[open("x", Severity::Watch, night - 10 * MIN, false)], &n, night).is_empty());
        assert_eq!(ladders(&[open("x", Severity::Watch, NOON - 10 * MIN, false)], &n, NOON).len(), 1);
    }

    #[test]
    fn quiet_hours_are_kept_in_the_configured_zone() {
        std::env::set_var("CW_STAGES_KEY", "k");
        let t = "group_wait = \"5m\"\nquiet_hours = \"22:00-07:00\"\ntimezone = \"Asia/Tokyo\"\n\
            [[receiver]]\nname = \"pr\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/a\"\nsecret_env = \"CW_STAGES_KEY\"\n\
            [[team]]\nname = \"pr\"\nreceivers = [\"pr\"]\n[[route]]\nladder = [{ teams = [\"pr\"] }]\n";
        let n = from_toml_str(t, "127.0.0.1:1").unwrap();
        // 14:00 UTC is 23:00 in Tokyo (UTC+9, no daylight saving): quiet there, not in UTC
        let tokyo_night = NOON + 2 * 60 * MIN;
        assert!(ladders(&[open("x", Severity::Watch, tokyo_night - 10 * MIN, false)], &n, tokyo_night).is_empty());
        // 23:00 UTC is 08:00 in Tokyo: not quiet there
        let tokyo_morning = NOON + 11 * 60 * MIN;
        assert_eq!(ladders(&[open("x", Severity::Watch, tokyo_morning - 10 * MIN, false)], &n, tokyo_morning).len(), 1);
    }

    #[test]
    fn languages_and_zones_are_validated_at_their_values() {
        std::env::set_var("CW_STAGES_KEY", "k");
        let t = "timezone = \"Mars/Olympus\"\n\
            [[receiver]]\nname = \"pr\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/a\"\nsecret_env = \"CW_STAGES_KEY\"\nlang = \"he\"\n\
            [[receiver]]\nname = \"tg\"\nkind = \"email\"\nto = [\"a@example.com\"]\nlang = \"de\"\ntimezone = \"Jerusalem\"\n";
        let d = from_toml_str(t, "127.0.0.1:1").unwrap_err();
        let at = |needle: &str| d.0.iter().find(|x| x.message.contains(needle)).map(|x| (x.line, x.col));
        assert_eq!(at("`Mars/Olympus`"), Some((1, 12)), "{d}");
        assert_eq!(at("not webhooks"), Some((7, 8)), "{d}");
        assert_eq!(at("`de`"), Some((12, 8)), "{d}");
        assert_eq!(at("`Jerusalem`"), Some((13, 12)), "{d}");
        std::env::set_var("CW_STAGES_TEAMS", "https://example.com/workflows/x");
        let ok = "[[receiver]]\nname = \"m\"\nkind = \"email\"\nto = [\"a@example.com\"]\nlang = \"fa\"\ntimezone = \"Asia/Tehran\"\n\
            [[receiver]]\nname = \"t\"\nkind = \"teams\"\nurl_env = \"CW_STAGES_TEAMS\"\nlang = \"ru\"\ntimezone = \"Europe/Moscow\"\n";
        let n = from_toml_str(ok, "127.0.0.1:1").unwrap();
        assert_eq!((n.locale("m").lang.code(), n.locale("m").zone_name.as_str()), ("fa", "Asia/Tehran"));
        assert_eq!((n.locale("t").lang.code(), n.locale("t").zone_name.as_str()), ("ru", "Europe/Moscow"));
        assert_eq!(n.locale("other").zone_name, "UTC");
    }

    #[test]
    fn ladder_by_time_and_repeats() {
        let n = notify();
        let inc = [open("w", Severity::Warning, NOON - 95 * MIN, false)];
        // 95 min: step 0 repeated three times (30 min), step 1 reached at 60 min, repeated once
        assert_eq!(keys(&ladders(&inc, &n, NOON)), ["w|step0-repeat3|pr", "w|step1-repeat1|ceo"]);
    }

    #[test]
    fn changes_go_to_whoever_was_told_and_dedup_and_group() {
        let n = notify();
        let ch = |status, told: &[&str]| StateChange {
            seq: 1,
            incident: "i".into(),
            status,
            severity: "warning".into(),
            event: serde_json::json!({"id": "i", "brand": "acme"}),
            told: told.iter().map(|s| s.to_string()).collect(),
        };
        let due = state_changes(&[ch(Status::Resolved, &["pr", "gone"]), ch(Status::Firing, &["pr"])], &n);
        assert_eq!(keys(&due), ["i|resolved-warning|pr"], "unknown receivers and plain firing events are skipped");
        let mut all = due.clone();
        all.extend(due.clone());
        all.extend(ladders(&[open("j", Severity::Critical, NOON, false)], &n, NOON));
        let already: HashSet<String> = ["j|step1|ceo".to_string()].into();
        let fresh = dedup(all, &already);
        assert_eq!(keys(&fresh), ["i|resolved-warning|pr", "j|step0|pr"]);
        let groups = group(fresh);
        assert_eq!(groups.len(), 2, "resolved and alert are separate notifications");
    }
}
