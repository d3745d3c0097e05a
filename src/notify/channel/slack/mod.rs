//! The Slack receiver: [`blocks`] renders a notification as a Block Kit message (pure).

pub mod blocks;
