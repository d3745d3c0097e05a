//! The commands' logic, each driven by `main.rs` (which only parses the command line and
//! dispatches): `demo`, `replay`, `simulate`, `evaluate` (and its noise `zoo`), `nab`, `tone-eval`,
//! `check`, and the loaders they share.
//!
//! The top of the house: may import anything in the library; nothing imports it. anyhow
//! is used here and in `main.rs` only.

pub mod check;
pub mod demo;
pub mod evaluate;
pub mod load;
pub mod nab;
pub mod replay;
pub mod simulate;
pub mod tone;
pub mod tone_eval;
pub mod zoo;
