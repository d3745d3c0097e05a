//! The Slack receiver: [`blocks`] renders a notification as a Block Kit message (pure),
//! [`api`] delivers it through an incoming webhook or the Web API (updating the message of an
//! incident in place), and [`interaction`] checks and reads the button presses Slack posts
//! to the service (`POST /v1/slack/interactions`, served by `serve::slack`).

pub mod api;
pub mod blocks;
pub mod interaction;

pub use api::{MessageRefs, Slack};
