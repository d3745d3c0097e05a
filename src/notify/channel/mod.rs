//! The receivers a notification is delivered through, each behind the one
//! [`Notifier`](super::Notifier) trait: [`webhook`] (signed JSON), [`email`] (SMTP),
//! [`telegram`] (Bot API, with buttons acting on the incident through
//! [`IncidentActions`](super::IncidentActions)), and [`chart`], the PNG the people-facing
//! receivers attach.
//!
//! The I/O edge of notify: may import `notify` (its types and rendered messages),
//! `alert`, `time`, `clock`, `hash`; never `serve` or `store`.

pub mod chart;
pub mod email;
pub mod telegram;
pub mod webhook;
