//! The Slack receiver: [`blocks`] renders a notification as a Block Kit message (pure),
//! [`api`] delivers it through an incoming webhook or the Web API (updating the message of an
//! incident in place).

pub mod api;
pub mod blocks;

pub use api::{MessageRefs, Slack};
