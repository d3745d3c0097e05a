//! Notifications: what PR teams, executives and playbook webhooks receive. The pipeline is a
//! sequence of explicit stages over the SQLite store, so that every step survives a restart:
//!
//! 1. **route**: an incident's brand and severity pick the first matching route and its ladder;
//! 2. **group**: a new incident waits `group_wait` so that other rules firing for the same
//!    brand join it; everything due for one receiver and brand goes out as one notification;
//! 3. **hold** and **inhibit**: an incident an active silence covers (its brand, rule and
//!    metric; "Mute" buttons are silences too) is recorded but left out of the ladders until
//!    no silence holds it ([`crate::store::outbox::open_not_held`]); while a brand has an
//!    unresolved `critical` incident, its lesser incidents are not notified (the critical one
//!    says it all);
//! 4. **dedup**: every (incident, ladder step or state change, receiver) is notified once:
//!    the `notified` table's key;
//! 5. **render**: the message is built when it is queued, so retries send identical bytes;
//! 6. **outbox**: it is written to `notifications` before any attempt;
//! 7. **deliver**: due notifications are sent through the receiver's [`Notifier`]; failures are
//!    retried with exponential backoff and jitter (honouring `Retry-After`); after
//!    `max_attempts`, or on a permanent failure, the notification is dead-lettered and an
//!    operational notice goes to every other receiver (after [`OPS_NOTICE_AFTER`] failed
//!    attempts already, while retries go on). At least once, never silently lost.
//!
//! Escalation is evaluated on every tick from the store: a ladder step is reached when the
//! incident has been unacknowledged for the step's `after` (wall clock, since the incident
//! was recorded) or its severity reaches the step's `severity`; `repeat` re-notifies reached
//! steps while nobody acknowledges; an acknowledged or resolved incident escalates no further.
//! `watch` incidents wait out the quiet hours. A resolution is sent to every receiver that
//! was told about the incident; so is an escalation of its severity.

pub mod channel;
pub mod config;
pub mod link;
pub mod locale;
pub mod render;
pub mod stages;
pub mod words;

pub use channel::{BuildError, Delivery, IncidentAction, IncidentActions, Notifier, Outgoing};

use crate::store::outbox;
use config::{Notify, Receiver};
use rusqlite::Connection;
use serde_json::{json, Value};
use stages::Due;
use std::time::Duration;

/// Retry timing.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// First retry delay.
    pub base: Duration,
    /// Longest delay.
    pub max: Duration,
}

impl Backoff {
    /// Delay before attempt `attempts + 1`: base·2^(attempts−1), capped, with full jitter in
    /// its upper half; at least `retry_after`.
    pub fn delay(&self, attempts: u32, retry_after: Option<Duration>, unit_random: f64) -> Duration {
        let exp = self.base.saturating_mul(1u32 << attempts.saturating_sub(1).min(20));
        let d = exp.min(self.max);
        let jittered = d.mul_f64(0.5 + 0.5 * unit_random.clamp(0.0, 1.0));
        jittered.max(retry_after.unwrap_or_default())
    }
}

/// Draws the chart of an alert (its latest event): PNG bytes, or `None` when unavailable.
pub type Charts<'a> = dyn Fn(&Value) -> Option<Vec<u8>> + 'a;

/// The planning stages for everything new in the store: read the state changes since the
/// cursor and the open incidents ([`crate::store::outbox`]), decide what is due
/// ([`stages::state_changes`], [`stages::ladders`]), drop what was already notified
/// ([`stages::dedup`]), group per receiver, brand and kind ([`stages::group`]), render, and
/// queue it all with its dedup keys in one transaction (the outbox). Returns how many
/// notifications were queued.
///
/// # Errors
/// SQLite errors.
pub fn plan(c: &mut Connection, n: &Notify, now: i64, charts: Option<&Charts<'_>>) -> rusqlite::Result<usize> {
    let cursor = outbox::cursor(c)?;
    let (changes, last) = outbox::state_changes(c, cursor, 1000)?;
    let mut due = stages::state_changes(&changes, n);
    due.extend(stages::ladders(&outbox::open_not_held(c, now)?, n, now));
    let already = outbox::notified(c, due.iter().map(|d| d.key.as_str()))?;
    let fresh = stages::dedup(due, &already);
    let batch: Vec<outbox::NewNotification> = stages::group(fresh)
        .into_iter()
        .map(|((ri, brand, kind), items)| {
            let receiver = &n.receivers[ri];
            outbox::NewNotification {
                receiver: receiver.name().to_string(),
                kind,
                brand,
                incidents: items.iter().map(|d| d.incident.clone()).collect(),
                body: render(receiver, kind, &items, n, charts, now),
                keys: items.iter().map(|d| (d.key.clone(), d.incident.clone())).collect(),
            }
        })
        .collect();
    outbox::enqueue(c, &batch, last, now)
}

/// The links a message carries for its lead incident: `(ack, open, dashboard)`. The
/// acknowledge and open links are signed for `recipient` (see [`link`]) and expire after the
/// signer's ttl from `now`; without a signer both are the dashboard's page of the incident.
fn links(n: &Notify, id: &str, recipient: &str, now: i64) -> (String, String, String) {
    let base = n.public_url.trim_end_matches('/');
    let dashboard = format!("{base}/incidents/{id}");
    match &n.links {
        Some(s) => (
            s.url(base, id, link::LinkAction::Ack, recipient, now),
            s.url(base, id, link::LinkAction::Open, recipient, now),
            dashboard,
        ),
        None => (dashboard.clone(), dashboard.clone(), dashboard),
    }
}

/// Renders a notification's body for its receiver.
///
/// Who a signed acknowledge link names (and so who is recorded when it is used): for an
/// email to a single address, that address; for an email to several addresses (one message,
/// so one link) and for Telegram and webhooks, the receiver's name.
fn render(receiver: &Receiver, kind: &str, items: &[Due], n: &Notify, charts: Option<&Charts<'_>>, now: i64) -> String {
    // the most severe incident leads; the others are related
    let mut events: Vec<&Value> = Vec::new();
    for d in items {
        if !events.iter().any(|e| e["id"] == d.event["id"]) {
            events.push(&d.event);
        }
    }
    events.sort_by_key(|e| std::cmp::Reverse(severity_rank(e["severity"].as_str().unwrap_or(""))));
    let step = items.iter().filter_map(|d| d.step).max();
    let mut lead = events.first().map(|e| (*e).clone()).unwrap_or(Value::Null);
    let id = lead["id"].as_str().unwrap_or("").to_string();
    let recipient = match receiver {
        Receiver::Email { to, .. } if to.len() == 1 => to[0].as_str(),
        _ => receiver.name(),
    };
    let (ack_url, open_url, dashboard_url) = links(n, &id, recipient, now);
    if let Receiver::Email { .. } = receiver {
        let related: Vec<Value> = events.iter().skip(1).map(|e| (*e).clone()).collect();
        let chart = if kind == "resolved" { None } else { charts.and_then(|f| f(&lead)) };
        let locale = n.locale(receiver.name());
        let message =
            render::email(kind, &lead, &related, &ack_url, &dashboard_url, chart.as_deref(), &locale, &n.templates);
        return serde_json::to_string(&message).unwrap_or_default();
    }
    if let Receiver::Telegram { .. } = receiver {
        let related: Vec<Value> = events.iter().skip(1).map(|e| (*e).clone()).collect();
        let locale = n.locale(receiver.name());
        let html = channel::telegram::render(kind, &lead, &related, &open_url, &locale);
        let w = words::of(locale.lang);
        use base64::Engine as _;
        let chart = if kind == "resolved" { None } else { charts.and_then(|f| f(&lead)) };
        let chart = chart.map(|c| base64::engine::general_purpose::STANDARD.encode(c));
        let buttons = [w.acknowledge, w.escalate_now, w.mute_1h];
        return json!({ "telegram_html": html, "incident": id, "chart_png": chart, "buttons": buttons }).to_string();
    }
    if let Receiver::Slack { via, .. } = receiver {
        let related: Vec<Value> = events.iter().skip(1).map(|e| (*e).clone()).collect();
        let buttons = matches!(via, config::SlackVia::Bot { .. });
        let locale = n.locale(receiver.name());
        let message = channel::slack::blocks::render(kind, &lead, &related, &open_url, buttons, &locale);
        // the chart goes into the first message's thread: only with a bot token (a webhook
        // cannot upload files)
        let chart = if kind == "resolved" || !buttons { None } else { charts.and_then(|f| f(&lead)) };
        use base64::Engine as _;
        let chart = chart.map(|c| base64::engine::general_purpose::STANDARD.encode(c));
        // `id`, `brand`, `severity`: for the ops notice should it fail
        return json!({ "slack": message, "incident": id, "id": id, "brand": lead["brand"], "severity": lead["severity"],
            "chart_png": chart })
        .to_string();
    }
    if let Receiver::Teams { .. } = receiver {
        let related: Vec<Value> = events.iter().skip(1).map(|e| (*e).clone()).collect();
        // links people cannot open (no usable `public_url`) are left out, not sent broken
        let links = channel::teams::card::Links::checked(&open_url, &ack_url);
        let locale = n.locale(receiver.name());
        let message = channel::teams::card::render(kind, &lead, &related, &links, &locale);
        return json!({ "teams": message, "incident": id, "id": id, "brand": lead["brand"], "severity": lead["severity"] })
            .to_string();
    }
    let info = json!({
        "kind": kind,
        "receiver": receiver.name(),
        "step": step,
        "incidents": events.iter().map(|e| e["id"].clone()).collect::<Vec<_>>(),
        "ack_url": ack_url,
        "dashboard_url": dashboard_url,
    });
    if let Value::Object(m) = &mut lead {
        m.insert("notification".into(), info);
        m.insert("related".into(), Value::Array(events.iter().skip(1).map(|e| (*e).clone()).collect()));
    }
    serde_json::to_string(&lead).unwrap_or_default()
}

fn severity_rank(s: &str) -> u8 {
    match s {
        "critical" => 2,
        "warning" => 1,
        _ => 0,
    }
}

/// The deliver stage: sends every due notification once, records the outcome in the
/// outbox (delivered; retry later with backoff; or dead-lettered, telling every other
/// receiver). Returns (delivered, failed).
///
/// Time is `now` (plus the time the pass has taken so far): retries are scheduled on the
/// caller's clock, never the wall clock's, so a simulated clock drives the backoff too.
/// Notifications planned here with a row id above `shipped_through` wait (see
/// [`outbox::due`]); a single node passes `i64::MAX`.
///
/// # Errors
/// SQLite errors.
pub async fn deliver_due(
    c: &mut Connection,
    n: &Notify,
    notifiers: &[Box<dyn Notifier>],
    backoff: Backoff,
    now: i64,
    shipped_through: i64,
    latency: Option<&crate::metrics::Stage>,
) -> rusqlite::Result<(usize, usize)> {
    let (mut ok, mut failed) = (0, 0);
    let pass = std::time::Instant::now();
    let installation = crate::store::installation::id(c)?;
    for p in outbox::due(c, now, 200, shipped_through)? {
        // in a cluster another task may have replaced the row since it was listed: only a
        // row still pending goes out (under the key its dedup keys give it now)
        if !outbox::is_pending(c, p.id)? {
            continue;
        }
        // unique across installations and data-directory resets (row ids start again), and
        // the same on every node of a cluster: from what the notification is about
        let key = crate::store::replicated::content_key(c, p.id)?.unwrap_or_else(|| format!("n{}", p.id));
        let out = Outgoing {
            id: p.id,
            idempotency_key: format!("crisiswatch-{installation}-{key}"),
            kind: p.kind.clone(),
            body: p.body.clone(),
        };
        let result = match n.receivers.iter().position(|r| r.name() == p.receiver) {
            Some(i) => notifiers[i].deliver(&out).await,
            None => Delivery::Fail(format!("receiver `{}` is no longer configured", p.receiver)),
        };
        let attempts = p.attempts + 1;
        let done = now + pass.elapsed().as_millis() as i64;
        match result {
            Delivery::Delivered => {
                outbox::delivered(c, p.id, attempts, done)?;
                if let Some(stage) = latency {
                    stage.record(Duration::from_millis((done - p.created_ms).max(0) as u64));
                }
                ok += 1;
            }
            Delivery::Retry { after, error } if attempts < n.max_attempts => {
                // jitter from the clock and the row: enough to spread retries apart
                let seed = format!("{}:{attempts}:{:?}", p.id, std::time::SystemTime::now());
                let unit = (crate::hash::fnv1a(seed.as_bytes()) >> 11) as f64 / (1u64 << 53) as f64;
                let wait = backoff.delay(attempts, after, unit);
                tracing::warn!(notification = p.id, receiver = %p.receiver, attempts, %error, retry_in_ms = wait.as_millis() as u64, "delivery failed; will retry");
                outbox::retry_at(c, p.id, attempts, done + wait.as_millis() as i64, &error)?;
                if attempts == OPS_NOTICE_AFTER && p.kind != "ops" {
                    // a receiver down for long: the others hear of it now, delivery goes on
                    raise_ops(c, n, &p, &format!("{error}; still retrying"), done)?;
                }
            }
            Delivery::Retry { error, .. } | Delivery::Fail(error) => {
                tracing::error!(notification = p.id, receiver = %p.receiver, attempts, %error, "delivery failed for good; dead-lettered");
                outbox::dead(c, p.id, attempts, &error)?;
                if p.kind != "ops" {
                    raise_ops(c, n, &p, &error, done)?;
                }
                failed += 1;
            }
        }
    }
    Ok((ok, failed))
}

/// Failed attempts after which the other receivers are told that a receiver is failing,
/// while delivery goes on until `max_attempts`.
pub const OPS_NOTICE_AFTER: u32 = 8;

/// Tells every other receiver that a notification could not be delivered.
fn raise_ops(
    c: &Connection,
    n: &Notify,
    p: &outbox::PendingNotification,
    error: &str,
    now: i64,
) -> rusqlite::Result<()> {
    let lead: Value = serde_json::from_str(&p.body).unwrap_or(Value::Null);
    let body = json!({
        "schema": "crisiswatch.ops.v1",
        "kind": "ops",
        "problem": format!("notification {} to `{}` could not be delivered after {} attempt(s): {error}", p.id, p.receiver, p.attempts + 1),
        "incident": lead.get("id"),
        "brand": lead.get("brand"),
        "severity": lead.get("severity"),
    })
    .to_string();
    let others: Vec<&str> = n.receivers.iter().map(Receiver::name).filter(|r| *r != p.receiver).collect();
    outbox::enqueue_ops(c, &others, lead["brand"].as_str().unwrap_or(""), &body, now)
}

/// Builds the notifier of every receiver, in order.
///
/// # Errors
/// When a client cannot be built, or a receiver kind is not available yet.
pub fn notifiers(n: &Notify) -> Result<Vec<Box<dyn Notifier>>, BuildError> {
    notifiers_with(n, None)
}

/// [`notifiers`], the Slack ones remembering their messages in `refs` (so that later
/// notifications of an incident update its message in place).
///
/// # Errors
/// When a client cannot be built, or a receiver kind is not available yet.
pub fn notifiers_with(
    n: &Notify,
    refs: Option<std::sync::Arc<dyn channel::slack::MessageRefs>>,
) -> Result<Vec<Box<dyn Notifier>>, BuildError> {
    n.receivers
        .iter()
        .map(|r| -> Result<Box<dyn Notifier>, BuildError> {
            match r {
                Receiver::Webhook { url, secret, timeout, alertmanager, .. } => Ok(Box::new(
                    channel::webhook::Webhook::new(url.clone(), secret.0.clone(), *timeout)?
                        .alertmanager(*alertmanager),
                )),
                Receiver::Email { to, .. } => match &n.smtp {
                    Some(smtp) => Ok(Box::new(channel::email::Email::new(smtp, to)?)),
                    None => Err(BuildError::NoSmtp(r.name().to_string())),
                },
                Receiver::Telegram { chat_id, .. } => match &n.telegram {
                    Some(t) => Ok(Box::new(channel::telegram::Telegram::new(
                        channel::telegram::bot(&String::from_utf8_lossy(&t.token.0), t.api_url.as_deref())?,
                        *chat_id,
                    ))),
                    None => Err(BuildError::NoTelegram(r.name().to_string())),
                },
                Receiver::Slack { name, via, .. } => Ok(Box::new(match via {
                    config::SlackVia::Webhook { url } => {
                        channel::slack::Slack::webhook(name, &String::from_utf8_lossy(&url.0))?
                    }
                    config::SlackVia::Bot { token, channel, api_url } => channel::slack::Slack::bot(
                        name,
                        &String::from_utf8_lossy(&token.0),
                        channel,
                        api_url,
                        refs.clone(),
                    )?,
                })),
                Receiver::Teams { name, url } => {
                    Ok(Box::new(channel::teams::Teams::new(name, &String::from_utf8_lossy(&url.0))?))
                }
            }
        })
        .collect()
}

/// A sample alert (for `crisiswatch notify-test`): realistic, clearly marked as a test.
pub fn sample_event(now: i64) -> Value {
    let at = crate::time::format_rfc3339(now - now.rem_euclid(60_000));
    let start = crate::time::format_rfc3339(now - now.rem_euclid(60_000) - 15 * 60_000);
    json!({
        "schema": "crisiswatch.alert.v1", "id": "test-0000000000000000", "dedup_key": "acme/negative-surge",
        "status": "firing", "severity": "warning", "brand": "acme", "brand_name": "Acme (TEST)",
        "rule": "negative-surge", "metric": "negative", "at": at, "window_start": start, "window_end": at,
        "observed": 240.0, "expected": 31.5, "p_value": 2.0e-9, "score": 0.97,
        "negative_share": 0.64, "baseline_negative_share": 0.19, "mentions": 375, "reshares": 120, "authors": 210,
        "tone_source": "provider",
        "top_posts": [{"id": "tw:1", "text": "THIS IS A TEST of crisiswatch notifications: Acme app is down again <b>&</b>",
                        "author": "example_blogger", "author_followers": 120000, "url": "https://example.com/post/1",
                        "source": "twitter", "reshares": 120, "negative": true}],
        "top_terms": [{"term": "down", "count": 180, "llr": 412.5}, {"term": "app", "count": 150, "llr": 230.1}],
        "category": "outage",
        "suggested_responses": [{"lang": "en", "text": "(test) We're sorry, and we see it too: Acme is not working properly for many of you."}],
        "curve": [],
    })
}

/// Sends the sample alert through receiver `name` once (`crisiswatch notify-test`).
///
/// # Errors
/// Unknown receiver, or its notifier cannot be built.
pub async fn test_send(n: &Notify, name: &str) -> Result<Delivery, BuildError> {
    let Some(i) = n.receivers.iter().position(|r| r.name() == name) else {
        let names: Vec<&str> = n.receivers.iter().map(Receiver::name).collect();
        return Err(BuildError::UnknownReceiver { name: name.to_string(), configured: names.join(", ") });
    };
    let notifiers = notifiers(n)?;
    let now = crate::clock::wall_ms();
    let due = Due {
        receiver: i,
        brand: "acme".into(),
        kind: "test",
        key: String::new(),
        incident: "test-0000000000000000".into(),
        event: sample_event(now),
        step: Some(0),
    };
    let body = render(&n.receivers[i], "test", std::slice::from_ref(&due), n, None, now);
    let out = Outgoing { id: 0, idempotency_key: format!("crisiswatch-test-{now}"), kind: "test".into(), body };
    Ok(notifiers[i].deliver(&out).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_jitters_and_honours_retry_after() {
        let b = Backoff { base: Duration::from_secs(1), max: Duration::from_secs(60) };
        assert_eq!(b.delay(1, None, 1.0), Duration::from_secs(1));
        assert_eq!(b.delay(3, None, 1.0), Duration::from_secs(4));
        assert_eq!(b.delay(3, None, 0.0), Duration::from_secs(2), "jitter keeps the upper half");
        assert_eq!(b.delay(30, None, 1.0), Duration::from_secs(60), "capped");
        assert_eq!(b.delay(1, Some(Duration::from_secs(30)), 0.5), Duration::from_secs(30));
    }

    fn setup() -> (tempfile::TempDir, Connection, Notify) {
        std::env::set_var("CW_UNIT_HOOK_KEY", "k");
        let toml_text = "group_wait = \"0s\"\n\
            [[receiver]]\nname = \"pr\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/a\"\nsecret_env = \"CW_UNIT_HOOK_KEY\"\n\
            [[receiver]]\nname = \"ceo\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/b\"\nsecret_env = \"CW_UNIT_HOOK_KEY\"\n\
            [[team]]\nname = \"pr\"\nreceivers = [\"pr\"]\n[[team]]\nname = \"execs\"\nreceivers = [\"ceo\"]\n\
            [[route]]\nladder = [{ teams = [\"pr\"] }, { teams = [\"execs\"], after = \"1h\" }]\n";
        let n = config::from_toml_str(toml_text, "127.0.0.1:1").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let c = crate::store::open(&dir.path().join("db"), false).unwrap();
        (dir, c, n)
    }

    fn incident(c: &mut Connection, id: &str, brand: &str) {
        let mut ev: crate::alert::AlertEvent = serde_json::from_value(sample_event(0)).unwrap();
        ev.id = id.into();
        ev.brand = brand.into();
        crate::store::record_events(c, &[ev]).unwrap();
    }

    fn queued(c: &Connection, receiver: &str) -> i64 {
        c.query_row("SELECT count(*) FROM notifications WHERE receiver = ?1", [receiver], |r| r.get(0)).unwrap()
    }

    #[test]
    fn escalate_now_reaches_every_step_and_mute_holds_further_ones() {
        let (_d, mut c, n) = setup();
        incident(&mut c, "i1", "acme");
        incident(&mut c, "i2", "globex");
        // after recording: an incident younger than `now` would still be grouping
        let now = crate::clock::wall_ms();
        assert_eq!(plan(&mut c, &n, now, None).unwrap(), 2, "step 0 for both brands");
        assert_eq!((queued(&c, "pr"), queued(&c, "ceo")), (2, 0));
        assert_eq!(plan(&mut c, &n, now, None).unwrap(), 0, "dedup: nothing new");
        crate::store::escalate_now(&mut c, "i1", "dana", None, now).unwrap().unwrap();
        crate::store::silences::mute_incident(&mut c, "i2", "dana", "Mute 1h", now, 3_600_000).unwrap().unwrap();
        plan(&mut c, &n, now, None).unwrap();
        assert_eq!(queued(&c, "ceo"), 1, "escalated at once");
        // two hours later: i2's mute has run out, its second step is due
        plan(&mut c, &n, now + 7_200_000, None).unwrap();
        assert_eq!(queued(&c, "ceo"), 2);
        assert_eq!(
            crate::store::silences::mute_incident(&mut c, "nope", "dana", "x", now, 1).unwrap(),
            Err(crate::store::ActionError::NotFound)
        );
    }
}
