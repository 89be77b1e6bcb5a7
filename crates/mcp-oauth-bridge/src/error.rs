//! The bridge's errors. None of them carries a token, a key or a secret.

use std::path::PathBuf;

/// A key set that cannot be loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the token key file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("in the token key file {path}: {source}")]
    InFile { path: PathBuf, source: Box<KeyError> },
    #[error("no token key found (expected one base64 key of 32 bytes per line)")]
    Empty,
    #[error("token key {index} is not base64")]
    Encoding { index: usize },
    #[error(
        "a token key must be 32 bytes, this one has {0} (generate one with `openssl rand -base64 32`)"
    )]
    Length(usize),
    #[error("the system random generator failed")]
    Random,
    #[error("cannot encode the token claims")]
    Encode,
}

/// The shared store failed (Redis unreachable, ...).
#[derive(Debug, thiserror::Error)]
#[error("the bridge's store failed: {0}")]
pub struct StoreError(pub String);

/// Why the upstream login or refresh failed; shown to the user, so it never holds a secret.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The upstream refused (bad code, expired refresh token, unknown identity).
    #[error("{0}")]
    Refused(String),
    /// The upstream is down, slow or answered nonsense: worth retrying later.
    #[error("{0}")]
    Unavailable(String),
}

/// A bridge that cannot be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid bridge configuration: {0}")]
    Invalid(String),
    #[error(transparent)]
    Key(#[from] KeyError),
}
