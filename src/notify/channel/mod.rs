//! The receivers a notification is delivered through, each behind the one
//! [`Notifier`] trait: [`webhook`] (signed JSON), [`email`] (SMTP),
//! [`telegram`] (Bot API, with buttons acting on the incident through
//! [`IncidentActions`]), and [`chart`], the PNG the people-facing
//! receivers attach.
//!
//! The I/O edge of notify: may import `notify` (its types and rendered messages),
//! `alert`, `time`, `clock`, `hash`; never `serve` or `store`.

pub mod chart;
pub mod email;
pub mod telegram;
pub mod webhook;

use crate::time::Millis;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A notification as handed to a receiver.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// Outbox row id.
    pub id: i64,
    /// Stable across retries and restarts.
    pub idempotency_key: String,
    /// `alert`, `escalated`, `resolved`, `ops` or `test`.
    pub kind: String,
    /// The rendered message (for webhooks: the exact JSON body).
    pub body: String,
}

/// How one delivery attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// Accepted by the receiver.
    Delivered,
    /// Worth trying again (network error, 429, 5xx), after at least `after` if given.
    Retry {
        /// The receiver's `Retry-After`.
        after: Option<Duration>,
        /// What went wrong.
        error: String,
    },
    /// Will not succeed by retrying.
    Fail(String),
}

/// One receiver channel (webhook, email, Telegram): delivers one rendered notification.
pub trait Notifier: Send + Sync {
    /// Sends `n` once.
    fn deliver<'a>(&'a self, n: &'a Outgoing) -> Pin<Box<dyn Future<Output = Delivery> + Send + 'a>>;
}

/// What a person can do to an incident from a message (the Telegram buttons).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentAction {
    /// Someone is on it: the ladder stops.
    Acknowledge,
    /// Reach every ladder step now.
    EscalateNow,
    /// Hold further steps for this long.
    Mute(Duration),
}

/// Why an action was not applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionRefused {
    /// No such incident.
    #[error("NotFound")]
    NotFound,
    /// The incident is already resolved.
    #[error("Resolved")]
    Resolved,
    /// The store failed.
    #[error("{0}")]
    Store(String),
}

/// The service's side of a button press: applies an action to an incident in its durable
/// state. Receivers never open the store themselves.
pub trait IncidentActions: Send {
    /// Applies `action` to incident `id` on behalf of `who` at `now`.
    ///
    /// # Errors
    /// [`ActionRefused`] when the incident is unknown or resolved, or the store failed.
    fn act(&mut self, id: &str, action: IncidentAction, who: &str, now: Millis) -> Result<(), ActionRefused>;
}
