//! The `[notify]` part of the service configuration, in three steps like the rules:
//! [`raw`] (serde structs with the position of every value) → [`validate`] (pure: every
//! problem at once, at its value; typed receivers) → [`secrets`] (reads the secrets the
//! file names by environment variable). [`model`] holds the result the service runs with.
//!
//! May import `alert` (severity), `diag`, `units`; never `serve`.

pub mod load;
pub mod model;
pub mod raw;
pub mod secrets;
pub mod validate;

pub use load::{from_raw, from_toml_str};
pub use model::{Notify, Receiver, Route, Secret, SlackVia, Smtp, SmtpTls, Step, TelegramBot};
pub use raw::NotifyConfig;
