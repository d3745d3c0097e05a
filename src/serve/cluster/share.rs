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
//!   store yet waits for them.
//!
//! The cursors are kept with the sources' (`store::cursors`), after what they cover is stored.

use super::bus::{Bus, ACTION_SUBJECT, ALERTS, ALERT_SUBJECT};
use crate::serve::pipeline::Shared;
use crate::store::{self, replicated};
use anyhow::Context as _;
use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use async_nats::jetstream::message::PublishMessage;
use futures_util::StreamExt;
use rusqlite::Connection;
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

/// Runs `handle` on every message of `subject` after the stream sequence saved as `name`,
/// saving the sequence after each; restarts after a failure, until `stop`. A message
/// `handle` cannot take yet (`Ok(false)`) is tried again every 100 ms, for a minute at most.
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
            loop {
                let msg = tokio::select! {
                    () = stop.cancelled() => return anyhow::Ok(()),
                    m = messages.next() => m,
                };
                let Some(msg) = msg else { anyhow::bail!("the consumer ended") };
                let msg = msg.map_err(|e| anyhow::anyhow!("reading the alert stream: {e}"))?;
                let seq = msg.info().map_err(|e| anyhow::anyhow!("{e}"))?.stream_sequence;
                if seq <= last {
                    continue; // delivered again after the consumer restarted
                }
                let mut tries = 0;
                while !handle(&mut conn, &msg.payload)? {
                    tries += 1;
                    if tries == 600 {
                        tracing::warn!(subject, seq, "a message could not be applied for a minute (skipped)");
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
    loop {
        let res = async {
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
        }
        .await;
        match res {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = format!("{e:#}"), "shipping actions interrupted; resuming");
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
}
