//! The OAuth 2.1 sign-in of a person for an MCP client, as the MCP authorization specification
//! asks of clients: the remote's 401 names its protected-resource metadata (RFC 9728), which names
//! the authorization server (RFC 8414 or OpenID Connect discovery, the `issuer` checked); the
//! person signs in in the browser (authorization code with PKCE S256, a loopback redirect bound
//! before the browser opens, `state` and RFC 9207 `iss` checked, RFC 8707 `resource` sent) or with
//! the device flow; the client is a static id (or a client metadata document URL) or registers
//! itself (RFC 7591); tokens are kept per (issuer, client, resource) in 0600 files of a 0700
//! directory, refreshed before they expire and after a 401, and widened after a 403
//! `insufficient_scope`.
//!
//! [`OAuthCredentials`] plugs all of it into `mcp-forward` as its [`mcp_forward::Credentials`].
//!
//! Must not depend on: an MCP server stack, any backend. It knows the remote only by its URL and
//! its HTTP answers.

mod cache;
mod challenge;
mod credentials;
mod discovery;
mod error;
mod login;
mod loopback;
mod oauth;
mod register;

pub use cache::TokenCache;
pub use challenge::Challenge;
pub use credentials::{LoginMode, OAuthCredentials, OAuthSettings};
pub use discovery::{Discovered, ServerMetadata, discover};
pub use error::OAuthError;
