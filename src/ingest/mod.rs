//! Ingest: from one input line to a mention the engine can count. The first stages of
//! the flow (mention → parse → normalise → brand match → language):
//!
//! * [`mention`]: the input record (DESIGN §1) with borrowed strings, and [`Rejection`];
//! * [`parse`]: one JSON line → [`Mention`], with [`fastjson`] as the fast path for
//!   plain lines and serde_json for the rest;
//! * [`normalize`]: text normalisation for every script we serve;
//! * [`brands`]: keyword matching of mentions to brands (Aho-Corasick, word boundaries);
//! * [`lang`]: language identification from the UTF-8 bytes;
//! * [`dedup`]: memory of recent mention ids (a mention sent twice counts once).
//!
//! Pure: no I/O, no clock. May import `time` and `hash` only.

pub mod brands;
pub mod dedup;
pub mod fastjson;
pub mod lang;
pub mod mention;
pub mod normalize;
pub mod parse;

pub use mention::{Mention, RawMention, Rejection, Str};
pub use parse::parse_line;
