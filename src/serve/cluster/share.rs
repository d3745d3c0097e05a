//! What every node of a cluster shares through the alert stream (`CW_ALERTS`):
//!
//! * **Alert events** (`cw.alerts`), published by the partitions' owners, are projected into
//!   this node's SQLite store (`store::record_events`, idempotent: the store's unique key is
//!   the message id), so any node answers `/v1/alerts` and the dashboard, and the notifying
//!   node plans from its own store. Cursor: `cluster:alerts`.
//! * **People's actions** (`cw.actions`): the acknowledgements, escalations and resolutions
//!   recorded in this node's store are shipped (cursor `cluster:actions-shipped`), each with
//!   the message id `<node>/<row>`; the other nodes' are applied here (`store::replicated`,
//!   cursor `cluster:actions`). An action on an incident whose events have not reached this
//!   store yet waits for them (parked in the store after a few seconds, applied once they
//!   arrive: never dropped).
//! * **Silences** (`cw.silences`): each silence made or ended here is shipped whole (cursor
//!   `cluster:silences-shipped`, the store's change number) and applied on the others
//!   (`store::silences::apply_shared`, cursor `cluster:silences`), so that a silence or a
//!   "Mute" made on any node holds on the notifying one, and one ended anywhere ends
//!   everywhere. **Planned events** (`cw.planned`) the same way (cursors
//!   `cluster:planned-shipped`, `cluster:planned`), and the engines of the partitions this
//!   node runs get the new list.
//!
//! * **The outbox** (`cw.outbox`): the notifying node ships each notification it plans and
//!   each it delivers (cursors `cluster:outbox-planned`, `cluster:outbox-delivered`); the
//!   others keep a copy, pending until delivered (cursor `cluster:outbox`). A node that takes
//!   over the notifications sends only what was not sent yet, under the same idempotency
//!   keys, and plans nothing twice (the copied dedup keys are its planner's). Write-ahead:
//!   a notification goes out only once its copy is on the stream; what a node planned and
//!   did not ship (it crashed, or lost the role) was never sent and is forgotten, to be
//!   planned again by whoever notifies ([`forget_unshipped`]).
//!
//! The cursors are kept with the sources' (`store::cursors`), after what they cover is stored.

use super::bus::{Bus, ACTION_SUBJECT, ALERTS, ALERT_SUBJECT, OUTBOX_SUBJECT, PLANNED_SUBJECT, SILENCE_SUBJECT};
use super::owner::Registry;
use crate::serve::pipeline::Shared;
use crate::store::{self, planned, replicated, silences};
use anyhow::Context as _;
use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use async_nats::jetstream::message::PublishMessage;
use futures_util::StreamExt;
use rusqlite::Connection;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn cursor(c: &Connection, name: &str) -> anyhow::Result<u64> {
    Ok(store::cursors::load(c)?.into_iter().find(|(s, _)| s == name).and_then(|(_, v)| v.parse().ok()).unwrap_or(0))
}

fn save_cursor(c: &Connection, name: &str, v: u64) -> anyhow::Result<()> {
    store::cursors::save(c, &[(name.to_string(), v.to_string())], crate::clock::wall_ms())?;
    Ok(())
}

/// How long a follower waits for a message it cannot apply yet before it parks it.
const PARK_AFTER: Duration = Duration::from_secs(5);

/// How often a follower tries its parked messages again.
const RETRY_PARKED: Duration = Duration::from_secs(1);

/// Tries follower `name`'s parked messages again, oldest first, removing each `handle`
/// takes; returns how many are still parked.
fn retry_parked<F>(conn: &mut Connection, name: &str, handle: &mut F) -> anyhow::Result<usize>
where
    F: FnMut(&mut Connection, &[u8]) -> anyhow::Result<bool>,
{
    let mut left = 0;
    for (seq, payload, _) in store::cursors::parked(conn, name)? {
        if handle(conn, &payload)? {
            store::cursors::unpark(conn, name, seq)?;
            tracing::info!(follower = name, seq, "a parked message was applied");
        } else {
            left += 1;
        }
    }
    Ok(left)
}

/// Runs `handle` on every message of `subject` after the stream sequence saved as `name`,
/// saving the sequence after each; restarts after a failure, until `stop`. A message
/// `handle` cannot take yet (`Ok(false)`: what it refers to has not reached this store) is
/// tried again every 100 ms for [`PARK_AFTER`], then parked in the store
/// (`store::cursors::park`) and tried again every [`RETRY_PARKED`] until it applies: the
/// follower goes on meanwhile and never drops it. While messages are parked, one that
/// cannot be applied is parked at once (what it refers to is late too).
async fn follow<F>(bus: &Bus, shared: &Shared, subject: &str, name: &str, stop: &CancellationToken, mut handle: F)
where
    F: FnMut(&mut Connection, &[u8]) -> anyhow::Result<bool>,
{
    loop {
        let res = async {
            let mut conn = store::open(&shared.db_path, false)?;
            let from = cursor(&conn, name)?;
            let stream = bus.js.get_stream(ALERTS).await.context("cannot open the alert stream")?;
            let deliver = if from == 0 {
                DeliverPolicy::All
            } else {
                DeliverPolicy::ByStartSequence { start_sequence: from + 1 }
            };
            let consumer = stream
                .create_consumer(pull::OrderedConfig {
                    filter_subject: subject.into(),
                    deliver_policy: deliver,
                    ..Default::default()
                })
                .await
                .context("cannot create a consumer of the alert stream")?;
            let mut messages = consumer.messages().await.context("cannot read the alert stream")?;
            let mut last = from;
            let mut check = super::bus::StallCheck::default();
            let mut parked = retry_parked(&mut conn, name, &mut handle)?;
            let mut retried = std::time::Instant::now();
            loop {
                if parked > 0 && retried.elapsed() >= RETRY_PARKED {
                    parked = retry_parked(&mut conn, name, &mut handle)?;
                    retried = std::time::Instant::now();
                }
                let msg = tokio::select! {
                    () = stop.cancelled() => return anyhow::Ok(()),
                    m = messages.next() => m,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {
                        if check.stalled(&stream, subject, last).await {
                            anyhow::bail!("the consumer stalled: the stream holds messages after {last}");
                        }
                        continue;
                    }
                };
                check.heard();
                let Some(msg) = msg else { anyhow::bail!("the consumer ended") };
                let msg = msg.map_err(|e| anyhow::anyhow!("reading the alert stream: {e}"))?;
                let seq = msg.info().map_err(|e| anyhow::anyhow!("{e}"))?.stream_sequence;
                if seq <= last {
                    continue; // delivered again after the consumer restarted
                }
                let waiting = std::time::Instant::now();
                while !handle(&mut conn, &msg.payload)? {
                    if parked > 0 || waiting.elapsed() >= PARK_AFTER {
                        store::cursors::park(&conn, name, seq, &msg.payload, crate::clock::wall_ms())?;
                        parked += 1;
                        tracing::info!(subject, seq, parked, "a message waits for what it refers to (parked)");
                        break;
                    }
                    tokio::select! {
                        () = stop.cancelled() => return anyhow::Ok(()),
                        () = tokio::time::sleep(Duration::from_millis(100)) => {}
                    }
                }
                save_cursor(&conn, name, seq)?;
                last = seq;
            }
        }
        .await;
        match res {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(subject, error = format!("{e:#}"), "following the alert stream interrupted; resuming");
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
}

/// Runs `run` until it returns `Ok` (it returns at `stop`), starting it again a second
/// after each failure, which is logged as `what` interrupted.
async fn resuming<F, Fut>(what: &str, stop: &CancellationToken, mut run: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    loop {
        match run().await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = format!("{e:#}"), "{what} interrupted; resuming");
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
}

/// Whether this node's copy of the notifying node's outbox (and so its planner's dedup keys)
/// has caught up with the stream: a node taking over the notifications waits for it, so
/// that it does not plan again what its predecessor planned just before it stopped.
///
/// # Errors
/// NATS or SQLite errors.
pub async fn outbox_caught_up(bus: &Bus, shared: &Shared) -> anyhow::Result<bool> {
    let stream = bus.js.get_stream(ALERTS).await.context("cannot open the alert stream")?;
    let last = match stream.get_last_raw_message_by_subject(OUTBOX_SUBJECT).await {
        Ok(m) => m.sequence,
        Err(e) if e.kind() == async_nats::jetstream::stream::LastRawMessageErrorKind::NoMessageFound => {
            return Ok(true)
        }
        Err(e) => return Err(e).context("cannot read the outbox's last message"),
    };
    let conn = store::open(&shared.db_path, false)?;
    // nor with a message parked in the last minute (a delivery whose plan has not arrived
    // yet); one parked longer must not keep the cluster without a notifier
    let now = crate::clock::wall_ms();
    let waiting = store::cursors::parked(&conn, "cluster:outbox")?.iter().any(|(_, _, at)| now - at < 60_000);
    Ok(cursor(&conn, "cluster:outbox")? >= last && !waiting)
}

/// The alert events into this node's store.
pub async fn project_alerts(bus: Bus, shared: Arc<Shared>, stop: CancellationToken) {
    let wake = shared.notify_wake.clone();
    follow(&bus, &shared, ALERT_SUBJECT, "cluster:alerts", &stop, |conn, payload| {
        match serde_json::from_slice::<crate::alert::AlertEvent>(payload) {
            Ok(e) => {
                if store::record_events(conn, std::slice::from_ref(&e))? > 0 {
                    wake.notify_one();
                }
            }
            Err(e) => tracing::error!(error = %e, "an alert stream message is not an alert event (skipped)"),
        }
        Ok(true)
    })
    .await;
}

/// The other nodes' actions into this node's store.
pub async fn apply_actions(bus: Bus, shared: Arc<Shared>, node: String, stop: CancellationToken) {
    let wake = shared.notify_wake.clone();
    follow(&bus, &shared, ACTION_SUBJECT, "cluster:actions", &stop, |conn, payload| {
        let a: replicated::SharedAction = match serde_json::from_slice(payload) {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, "an action message is not an action (skipped)");
                return Ok(true);
            }
        };
        if a.node == node {
            return Ok(true);
        }
        match replicated::apply(conn, &a)? {
            // the incident's events are still on their way to this store
            replicated::Applied::Unknown => Ok(false),
            replicated::Applied::Done => {
                tracing::info!(incident = %a.incident, action = %a.action, who = %a.who, from = %a.node, "action from another node");
                wake.notify_one();
                Ok(true)
            }
            replicated::Applied::Already | replicated::Applied::Resolved => Ok(true),
        }
    })
    .await;
}

/// This node's own actions to the others.
pub async fn ship_actions(bus: Bus, shared: Arc<Shared>, node: String, stop: CancellationToken) {
    const NAME: &str = "cluster:actions-shipped";
    resuming("shipping actions", &stop, || async {
        let conn = store::open(&shared.db_path, false)?;
        let mut last = cursor(&conn, NAME)? as i64;
        loop {
            let rows = replicated::local_since(&conn, &node, last, 100)?;
            for a in &rows {
                let msg = PublishMessage::build()
                    .payload(serde_json::to_vec(a).expect("JSON").into())
                    .message_id(format!("{}/{}", a.node, a.seq));
                bus.js.send_publish(ACTION_SUBJECT, msg).await?.await?;
                last = a.seq;
                save_cursor(&conn, NAME, last as u64)?;
            }
            if rows.is_empty() {
                tokio::select! {
                    () = stop.cancelled() => return anyhow::Ok(()),
                    () = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
            }
        }
    })
    .await;
}

/// The other nodes' silences into this node's store.
pub async fn apply_silences(bus: Bus, shared: Arc<Shared>, node: String, stop: CancellationToken) {
    let wake = shared.notify_wake.clone();
    follow(&bus, &shared, SILENCE_SUBJECT, "cluster:silences", &stop, |conn, payload| {
        match serde_json::from_slice::<silences::SharedSilence>(payload) {
            Ok(s) if s.node == node => {}
            Ok(s) => {
                if silences::apply_shared(conn, &s, &node)? {
                    tracing::info!(silence = %s.key, brand = %s.silence.brand, from = %s.node, "silence from another node");
                    wake.notify_one();
                }
            }
            Err(e) => tracing::error!(error = %e, "a silence message is not a silence (skipped)"),
        }
        Ok(true)
    })
    .await;
}

/// A change made on this node that the others apply whole: a silence or a planned event.
trait Change: serde::Serialize {
    /// Its change number here.
    fn changed(&self) -> i64;
    /// The key of what changed (`node/row` where it was made).
    fn key(&self) -> &str;
}

impl Change for silences::SharedSilence {
    fn changed(&self) -> i64 {
        self.changed
    }
    fn key(&self) -> &str {
        &self.key
    }
}

impl Change for planned::SharedPlanned {
    fn changed(&self) -> i64 {
        self.changed
    }
    fn key(&self) -> &str {
        &self.key
    }
}

/// Ships the changes `changed_after` finds after the cursor `name` to `subject`, each with
/// the message id `<node>/<subject>/<change>/<key>`, until `stop`.
async fn ship_changes<T: Change>(
    bus: &Bus,
    shared: &Shared,
    node: &str,
    (name, subject): (&str, &str),
    changed_after: fn(&Connection, &str, i64) -> rusqlite::Result<Vec<T>>,
    stop: &CancellationToken,
) {
    resuming(&format!("shipping {subject}"), stop, || async {
        let conn = store::open(&shared.db_path, false)?;
        let mut last = cursor(&conn, name)? as i64;
        loop {
            let changed = changed_after(&conn, node, last)?;
            for c in &changed {
                let msg = PublishMessage::build()
                    .payload(serde_json::to_vec(c).expect("JSON").into())
                    .message_id(format!("{node}/{subject}/{}/{}", c.changed(), c.key()));
                bus.js.send_publish(subject.to_string(), msg).await?.await?;
                last = last.max(c.changed());
            }
            if changed.is_empty() {
                tokio::select! {
                    () = stop.cancelled() => return anyhow::Ok(()),
                    () = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
            } else {
                save_cursor(&conn, name, last as u64)?;
            }
        }
    })
    .await;
}

/// The silences made or ended on this node to the others.
pub async fn ship_silences(bus: Bus, shared: Arc<Shared>, node: String, stop: CancellationToken) {
    let at = ("cluster:silences-shipped", SILENCE_SUBJECT);
    ship_changes(&bus, &shared, &node, at, silences::changed_after, &stop).await;
}

/// The planned events declared or deleted on this node to the others.
pub async fn ship_planned(bus: Bus, shared: Arc<Shared>, node: String, stop: CancellationToken) {
    let at = ("cluster:planned-shipped", PLANNED_SUBJECT);
    ship_changes(&bus, &shared, &node, at, planned::changed_after, &stop).await;
}

/// The other nodes' planned events into this node's store, and the new list to the
/// partition engines it runs (one it takes over later reads the store).
pub async fn apply_planned(bus: Bus, shared: Arc<Shared>, node: String, registry: Registry, stop: CancellationToken) {
    follow(&bus, &shared, PLANNED_SUBJECT, "cluster:planned", &stop, |conn, payload| {
        match serde_json::from_slice::<planned::SharedPlanned>(payload) {
            Ok(p) if p.node == node => {}
            Ok(p) => {
                if planned::apply_shared(conn, &p, &node)? {
                    tracing::info!(planned = %p.key, brand = %p.event.brand, from = %p.node, "planned event from another node");
                    let all = planned::for_engine(conn)?;
                    for part in registry.lock().expect("registry lock").values() {
                        part.engine.lock().expect("engine lock").set_planned(all.clone());
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "a planned-event message is not a planned event (skipped)"),
        }
        Ok(true)
    })
    .await;
}

/// The notifying node's outbox, copied into this node's.
pub async fn apply_outbox(bus: Bus, shared: Arc<Shared>, node: String, stop: CancellationToken) {
    follow(&bus, &shared, OUTBOX_SUBJECT, "cluster:outbox", &stop, |conn, payload| {
        let news: replicated::OutboxNews = match serde_json::from_slice(payload) {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = %e, "an outbox message is not outbox news (skipped)");
                return Ok(true);
            }
        };
        // this node's own deliveries are in its store; its own plans too, but for one it
        // shipped without hearing back and then forgot: copied like another node's
        if news.node() == node && matches!(news, replicated::OutboxNews::Delivered { .. }) {
            return Ok(true);
        }
        // what this node has shipped of its own plans, as stored (before the deliverer may
        // send them), read in the transaction that may replace unshipped ones; one shipped
        // meanwhile is in the stream too, and the nodes keep whichever copy came first
        let shipped = |c: &Connection| -> rusqlite::Result<i64> {
            let stored = store::cursors::load(c)?;
            Ok(stored.iter().find(|(s, _)| s == PLANNED).and_then(|(_, v)| v.parse().ok()).unwrap_or(0))
        };
        // a delivery of a notification whose copy is still on its way: try again
        Ok(replicated::apply_outbox(conn, &news, crate::clock::wall_ms(), &node, shipped)?)
    })
    .await;
}

const PLANNED: &str = "cluster:outbox-planned";

/// Held while this node ships what it planned and while it forgets what it did not ship, so
/// that nothing is both.
pub type ShipLock = Arc<tokio::sync::Mutex<()>>;

/// Forgets the notifications this node planned and has not shipped (never delivered: see
/// [`ship_outbox`]; whoever notified since may have planned the same under other keys), so
/// that its planner plans them again if no one else did, and lets the deliverer send what
/// was shipped. Called at start, before anything runs, and under the [`ShipLock`] whenever
/// the notifier role comes or goes.
///
/// # Errors
/// SQLite errors.
pub fn forget_unshipped(shared: &Shared) -> anyhow::Result<()> {
    let mut conn = store::open(&shared.db_path, false)?;
    let shipped = cursor(&conn, PLANNED)? as i64;
    let forgotten = replicated::forget_unshipped(&mut conn, shipped)?;
    if forgotten > 0 {
        tracing::info!(forgotten, "notifications planned here and never shipped are forgotten, to be planned again");
    }
    shared.outbox_shipped.store(shipped, Ordering::Release);
    Ok(())
}

/// Takes up or gives up the notifier role; a node's plans are shipped only while it
/// notifies. Giving it up stops the planner and the shipping of plans at once, and forgets
/// what was planned and not shipped if the shipper is not busy (else the next tenure, a
/// restart or a copy of the same notification from the next notifier does). Taking it up
/// forgets them first, under the shipper's lock: if the shipper does not let go within a
/// second (a publish stuck on a dead connection), the role waits for the next round.
/// Returns whether the node now notifies as asked.
///
/// # Errors
/// SQLite errors (the node then does not notify).
pub async fn set_notifying(shared: &Shared, lock: &ShipLock, on: bool) -> anyhow::Result<bool> {
    if shared.notify_active.load(Ordering::Acquire) == on {
        return Ok(true);
    }
    shared.notify_active.store(false, Ordering::Release);
    let shipping = if on {
        match tokio::time::timeout(Duration::from_secs(1), lock.lock()).await {
            Ok(guard) => guard,
            Err(_) => return Ok(false),
        }
    } else {
        tracing::info!(notifying = false, "notifier role");
        let Ok(guard) = lock.try_lock() else { return Ok(true) };
        guard
    };
    forget_unshipped(shared)?;
    drop(shipping);
    if on {
        shared.notify_active.store(true, Ordering::Release);
        tracing::info!(notifying = true, "notifier role");
    }
    Ok(true)
}

/// This node's outbox to the others: what it planned (while it notifies), then what it
/// delivered (a notification's copy always arrives before its delivery). A notification
/// goes out only once its copy is on the stream (`shared.outbox_shipped`, read by the
/// deliverer): whoever notifies next then knows of everything that may have been sent, and
/// sends it again, if at all, under the same idempotency key.
pub async fn ship_outbox(bus: Bus, shared: Arc<Shared>, node: String, lock: ShipLock, stop: CancellationToken) {
    const DELIVERED: &str = "cluster:outbox-delivered";
    let publish = |news: &replicated::OutboxNews, id: String| {
        let msg = PublishMessage::build().payload(serde_json::to_vec(news).expect("JSON").into()).message_id(id);
        bus.js.send_publish(OUTBOX_SUBJECT, msg)
    };
    resuming("shipping the outbox", &stop, || async {
        let conn = store::open(&shared.db_path, false)?;
        let saved = store::cursors::load(&conn)?;
        let saved = |name: &str| saved.iter().find(|(s, _)| s == name).map(|(_, v)| v.clone());
        let mut planned: i64 = saved(PLANNED).and_then(|v| v.parse().ok()).unwrap_or(0);
        let mut delivered: (i64, i64) = saved(DELIVERED)
            .and_then(|v| v.split_once(':').and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?))))
            .unwrap_or((0, 0));
        loop {
            // this node's own rows only (copies of another notifier's are its news), while it
            // notifies: what it planned in a tenure and did not ship is forgotten
            let shipping = lock.lock().await;
            let news =
                if shared.notifying() { replicated::planned_after(&conn, &node, planned, 100)? } else { Vec::new() };
            for n in &news {
                let replicated::OutboxNews::Planned { id, .. } = n else { continue };
                publish(n, format!("{node}/planned/{id}")).await?.await?;
                planned = *id;
                store::cursors::save(&conn, &[(PLANNED.to_string(), planned.to_string())], crate::clock::wall_ms())?;
                shared.outbox_shipped.store(planned, Ordering::Release);
                shared.notify_wake.notify_one();
            }
            drop(shipping);
            let done = replicated::delivered_after(&conn, &node, delivered, 100)?;
            for n in &done {
                let replicated::OutboxNews::Delivered { id, at_ms, .. } = n else { continue };
                if *id > planned
                    && replicated::planned_after(&conn, &node, planned, 1)?
                        .iter()
                        .any(|p| matches!(p, replicated::OutboxNews::Planned { id: q, .. } if q <= id))
                {
                    break; // its copy first
                }
                publish(n, format!("{node}/delivered/{id}")).await?.await?;
                delivered = (*at_ms, *id);
                let v = format!("{}:{}", delivered.0, delivered.1);
                store::cursors::save(&conn, &[(DELIVERED.to_string(), v)], crate::clock::wall_ms())?;
            }
            if news.is_empty() && done.is_empty() {
                tokio::select! {
                    () = stop.cancelled() => return anyhow::Ok(()),
                    () = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parked_messages_are_applied_once_they_can_be_and_only_then_removed() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = store::open(&dir.path().join("s.db"), false).unwrap();
        for (seq, m) in [(3, "ack i1"), (5, "ack i2"), (8, "resolve i1")] {
            store::cursors::park(&conn, "cluster:actions", seq, m.as_bytes(), 0).unwrap();
        }
        // only i1's events have arrived: its two messages apply, in order; i2's stays
        let mut applied = Vec::new();
        let mut handle = |_: &mut Connection, m: &[u8]| -> anyhow::Result<bool> {
            let m = std::str::from_utf8(m).unwrap().to_string();
            let known = m.ends_with("i1");
            if known {
                applied.push(m);
            }
            Ok(known)
        };
        assert_eq!(retry_parked(&mut conn, "cluster:actions", &mut handle).unwrap(), 1);
        assert_eq!(applied, ["ack i1", "resolve i1"]);
        let left: Vec<u64> =
            store::cursors::parked(&conn, "cluster:actions").unwrap().into_iter().map(|(s, _, _)| s).collect();
        assert_eq!(left, [5]);
        // i2's events arrive: nothing is left
        let mut all = |_: &mut Connection, _: &[u8]| -> anyhow::Result<bool> { Ok(true) };
        assert_eq!(retry_parked(&mut conn, "cluster:actions", &mut all).unwrap(), 0);
        assert!(store::cursors::parked(&conn, "cluster:actions").unwrap().is_empty());
    }
}
