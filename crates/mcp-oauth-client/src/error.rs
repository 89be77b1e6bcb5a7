//! What can go wrong in the proxy, each with text a person can act on (never a token).

#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// The settings do not make sense.
    #[error("{0}")]
    Config(String),
    /// The remote's or the authorization server's metadata cannot be found or is not to be trusted.
    #[error("discovery failed: {0}")]
    Discovery(String),
    /// Signing in did not work (refused, cancelled, tampered with, timed out).
    #[error("sign-in failed: {0}")]
    Login(String),
    /// The token cache cannot be read or written.
    #[error("token cache: {0}")]
    Cache(String),
    /// The remote MCP server cannot be reached or answered with nonsense.
    #[error("{0}")]
    Remote(String),
}
