//! What an incident tells people: the alert event (DESIGN §3) and what goes into it.
//!
//! * [`event`]: the alert event, one JSON object per incident state change;
//! * [`explain`]: the post log and the top posts (re-shares collapsed) and terms;
//! * [`playbook`]: the crisis category of an incident and first-reply drafts.
//!
//! Pure apart from loading playbook files. May import `ingest`, `detect` (severity),
//! `diag`, `time`; never the engine, notify, store or serve.

pub mod event;
pub mod explain;
pub mod playbook;

pub use event::{AlertEvent, Severity, Status, SuggestedResponse};
