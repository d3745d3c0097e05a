//! The service configuration (`crisiswatch.toml`), in the same steps as the rules:
//! [`raw`] (serde structs, unknown keys refused, the position of every value) →
//! [`validate`] (pure: every problem at once, at its value, command-line flags on top) →
//! [`secrets`] (API tokens and notify secrets from the environment or files) → [`model`],
//! what the service runs with. [`load()`] does all three.

pub mod cluster;
pub mod load;
pub mod model;
pub mod raw;
pub mod secrets;
pub mod sources;
pub mod token_from;
pub mod validate;

pub use load::{load, load_str};
pub use model::{
    grants, ApiToken, ClockMode, Credential, DeadLetterRetention, LinkSettings, LogFormat, Overrides, Role, Scope,
    ServeConfig, User,
};
