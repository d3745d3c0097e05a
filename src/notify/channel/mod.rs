//! The receivers a notification is delivered through, each behind the one
//! [`Notifier`] trait: [`webhook`] (signed JSON), [`email`] (SMTP),
//! [`telegram`] (Bot API, with buttons acting on the incident through
//! [`IncidentActions`]), [`slack`] (Block Kit through an incoming webhook or the Web API,
//! its buttons pressed through the service's interactivity endpoint), [`teams`] (an Adaptive
//! Card posted to a workflow webhook, with links, no buttons that act in place), and
//! [`chart`], the PNG the people-facing receivers attach.
//!
//! The I/O edge of notify: may import `notify` (its types and rendered messages),
//! `alert`, `time`, `clock`, `hash`; never `serve` or `store`.

pub mod alertmanager;
pub mod chart;
pub mod email;
pub mod slack;
pub mod teams;
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

/// The wait a `Retry-After` value asks for, in either of its forms (RFC 9110 §10.2.3):
/// delta-seconds (`120`) or an HTTP-date (`Wed, 21 Oct 2026 07:28:00 GMT`; the obsolete
/// RFC 850 and asctime forms too), a date counted from `now_ms` (a date already past: no
/// wait). `None` when the value is neither.
pub fn retry_after(value: &str, now_ms: crate::time::Millis) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    let now = std::time::UNIX_EPOCH + Duration::from_millis(u64::try_from(now_ms).unwrap_or(0));
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// One receiver channel (webhook, email, Telegram, Slack, Teams): delivers one rendered notification.
pub trait Notifier: Send + Sync {
    /// Sends `n` once.
    fn deliver<'a>(&'a self, n: &'a Outgoing) -> Pin<Box<dyn Future<Output = Delivery> + Send + 'a>>;
}

/// Why a receiver's client could not be built, or a receiver is not available.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// An email receiver without `[notify.smtp]`.
    #[error("receiver `{0}`: email receivers need [notify.smtp]")]
    NoSmtp(String),
    /// A Telegram receiver without `[notify.telegram]`.
    #[error("receiver `{0}`: Telegram receivers need [notify.telegram]")]
    NoTelegram(String),
    /// No receiver of that name.
    #[error("no receiver `{name}` (configured: {configured})")]
    UnknownReceiver {
        /// The name asked for.
        name: String,
        /// The names configured, comma-separated.
        configured: String,
    },
    /// The HTTP client (webhook, Bot API) could not be built.
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    /// A receiver's URL does not parse (the Bot API, a Slack or Teams webhook).
    #[error("Bot API URL: {0}")]
    Url(String),
    /// The SMTP transport could not be set up (TLS, relay).
    #[error("SMTP: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
    /// A sender or recipient is not an address.
    #[error("email address: {0}")]
    Address(#[from] lettre::address::AddressError),
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

#[cfg(test)]
mod tests {
    use super::retry_after;
    use std::time::Duration;

    #[test]
    fn retry_after_in_both_forms() {
        // 2026-10-21T07:28:00Z
        let now = crate::time::parse_timestamp("2026-10-21T07:28:00Z").unwrap();
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(retry_after("Wed, 21 Oct 2026 07:29:30 GMT", now), Some(Duration::from_secs(90)));
        assert_eq!(retry_after("Wednesday, 21-Oct-26 07:29:30 GMT", now), Some(Duration::from_secs(90)), "RFC 850");
        assert_eq!(retry_after("Wed Oct 21 07:29:30 2026", now), Some(Duration::from_secs(90)), "asctime");
        assert_eq!(retry_after("Wed, 21 Oct 2026 07:00:00 GMT", now), Some(Duration::ZERO), "already past");
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("-5", now), None);
    }
}
