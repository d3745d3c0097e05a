//! crisiswatch: crisis alerting and spike detection for brands on social media.
//!
//! # Layout
//! * `time`: event-time parsing, formatting and calendar arithmetic.
//! * `mention`: the input record (DESIGN §1) and per-line parsing with precise rejections;
//!   `fastjson` is its fast path for plain lines.
//! * `normalize`: text normalisation for every script we serve.
//! * `brands`: keyword matching of mentions to brands (Aho-Corasick, word boundaries).
//! * `window`: per-minute buckets and rolling window sums.
//! * `tone`: provider sentiment or a `ToneModel` decides what counts as negative;
//!   `lang` identifies the language, `tone_model` is the built-in model and its training,
//!   `tone_domain` the in-domain seed set it is trained with.
//! * `baseline`: the learned expectation (level × time-of-week profile, dispersion, tone).
//! * `stats`: tail probabilities of the count models.
//! * `detect`: the detectors and severity grading (pure).
//! * `explain`: top posts (re-shares collapsed) and over-represented terms.
//! * `alert`: the alert event (DESIGN §3); `playbook` guesses its category and drafts replies.
//! * `incident`: the alert state machine (firing → escalated → resolved → cooldown).
//! * `engine`: ties the above together: brand table, scopes, the per-mention path;
//!   `snapshot` is its saved form for the live service.
//! * `rules`: rule files → validated rule set, with positioned diagnostics (`diag`).
//! * `replay`, `simulate`, `nab`: the commands' logic, driven by `main.rs`.
//! * `notify`: the notification pipeline (route, group, inhibit, dedup, render, outbox,
//!   deliver) and its receivers.
//! * `serve`: the live service (HTTP ingest, alert API, durable state, metrics).

pub mod alert;
pub mod baseline;
pub mod brands;
pub mod detect;
pub mod diag;
pub mod engine;
pub mod explain;
pub mod fastjson;
pub mod incident;
pub mod lang;
pub mod mention;
pub mod nab;
pub mod normalize;
pub mod notify;
pub mod playbook;
pub mod replay;
pub mod rules;
pub mod serve;
pub mod simulate;
pub mod snapshot;
pub mod stats;
pub mod time;
pub mod tone;
pub mod tone_domain;
pub mod tone_model;
pub mod window;
