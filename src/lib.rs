//! crisiswatch: crisis alerting and spike detection for brands on social media.
//!
//! # Layout
//! The folders follow the flow of a mention (see `docs/architecture.md`):
//!
//! ```text
//! ingest ─▶ tone ─▶ engine (detect, rules) ─▶ alert event ─▶ notify ─▶ receivers
//!                                   │                            │
//!                                 store ◀──────── serve ─────────┘
//! ```
//!
//! * Foundations (import nothing else of the crate but each other): [`time`] (event time),
//!   [`clock`] (wall time, behind a trait), [`units`] (the one duration/size syntax),
//!   [`hash`], [`diag`] (positioned diagnostics), [`metrics`].
//! * [`ingest`]: the input record, parsing, normalisation, brand matching, language id.
//! * [`tone`]: what counts as negative; the built-in multilingual model and its training.
//! * [`detect`]: windows, baselines, tail probabilities, detectors, severity (pure).
//! * [`rules`]: rule files → a validated rule set, every diagnostic at once.
//! * [`alert`]: the alert event, its explanation (top posts and terms) and playbooks.
//! * [`engine`]: the stateful core: brands, scopes, the per-mention path, incidents,
//!   snapshots, status queries. Pure in event time: time is passed in.
//! * [`notify`]: the notification pipeline (route, group, inhibit, dedup, render, outbox,
//!   deliver) and its receivers in [`notify::channel`].
//! * [`store`]: the SQLite store; the only place with SQL.
//! * [`serve`]: the live service (HTTP ingest, write-ahead log, alert API, workers).
//! * [`cmd`]: the commands' logic (`replay`, `simulate`, `evaluate`, `nab`, …).
//! * `fuzz_checks` (hidden): the properties the fuzz targets in `fuzz/` check, also run on
//!   their corpus by `tests/fuzz_corpus.rs`.
//!
//! Dependencies point one way: foundations ← ingest ← tone ← detect ← rules ← alert ←
//! engine ← notify ← store ← serve ← cmd. `tests/architecture.rs` checks that there are no
//! import cycles.

pub mod alert;
pub mod clock;
pub mod cmd;
pub mod detect;
pub mod diag;
pub mod engine;
#[doc(hidden)]
pub mod fuzz_checks;
pub mod hash;
pub mod ingest;
pub mod metrics;
pub mod notify;
pub mod rules;
pub mod serve;
pub mod store;
pub mod time;
pub mod tone;
pub mod units;
