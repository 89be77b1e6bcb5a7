//! Where access tokens come from: the [`TokenSource`] seam, a fixed token, and (in the modules
//! around it) the DiracX CLI's credentials file, the device flow and refresh.

use std::fmt;

use async_trait::async_trait;
use secrecy::SecretString;

/// Why no usable access token could be had. Never carries a token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// There is no login (no credentials file, or its refresh token is gone or expired).
    #[error("not logged in to DiracX: {0}")]
    NotLoggedIn(String),
    /// The server refused the token or the refresh token.
    #[error("DiracX refused the credentials: {0}")]
    Rejected(String),
    /// The credentials file exists but cannot be read or written.
    #[error("credentials file {path}: {reason}")]
    CredentialsFile { path: String, reason: String },
    /// A request of the auth flow failed (no answer, or an answer DiracX does not send).
    #[error("DiracX auth request failed: {0}")]
    Request(String),
    /// A JWT failed local verification (signature, algorithm, issuer, expiry) or is malformed.
    #[error("invalid DiracX token: {0}")]
    InvalidToken(String),
    /// The device login did not complete: it expired, was refused, or DiracX gave up on it.
    #[error("DiracX device login failed: {0}")]
    DeviceFlow(String),
}

/// What to tell a user whose login is gone: both CLIs write the same credentials file.
pub const LOGIN_HINT: &str = "log in again with `dirac login <vo>` or `dirac-mcp login`";

/// Gives the client its bearer token for each request.
#[async_trait]
pub trait TokenSource: Send + Sync + fmt::Debug {
    /// A token valid for a while yet (refreshed first where the source can).
    async fn access_token(&self) -> Result<SecretString, AuthError>;

    /// DiracX answered 401 to `rejected`: a fresh token if the source can get one (the caller
    /// retries once with it), `None` if not.
    async fn after_rejection(
        &self,
        rejected: &SecretString,
    ) -> Result<Option<SecretString>, AuthError> {
        let _ = rejected;
        Ok(None)
    }
}

/// One access token, given by the caller (a verified bearer, a minted test token).
#[derive(Clone)]
pub struct StaticToken(SecretString);

impl StaticToken {
    pub fn new(token: SecretString) -> Self {
        Self(token)
    }
}

impl fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StaticToken(..)")
    }
}

#[async_trait]
impl TokenSource for StaticToken {
    async fn access_token(&self) -> Result<SecretString, AuthError> {
        Ok(self.0.clone())
    }
}
