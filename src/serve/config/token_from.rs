//! Where a secret named in the configuration is read from: an environment variable or a
//! file. Shared by the tokens, the users, the link key and the sources.

use std::path::PathBuf;

/// Where an API token (or another secret) is read from.
#[derive(Debug, Clone)]
pub enum TokenFrom {
    /// An environment variable.
    Env(String),
    /// A file (its first line).
    File(PathBuf),
}
