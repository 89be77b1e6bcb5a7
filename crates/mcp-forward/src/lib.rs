//! A stdio MCP endpoint that forwards every message, both ways, to one remote streamable-HTTP MCP
//! server: what `mcp-auth-proxy` runs on the user's machine.
//!
//! Each JSON-RPC message the local client writes on stdin is POSTed to the remote as it is: only
//! its envelope (`id`, `method`) is read, so methods, capabilities and fields this crate has never
//! heard of pass through unchanged, in both directions (tools, resources, prompts, completions,
//! progress, cancellation, elicitation and sampling requests from the remote). What the transport
//! needs is done here, invisibly to the client:
//!
//! - the session: `Mcp-Session-Id` and `MCP-Protocol-Version` on every request after `initialize`;
//!   a session the remote forgot (404) is opened again with the client's own `initialize`, its
//!   log level and resource subscriptions, and the request is sent once more; the session is
//!   ended (DELETE) when stdin closes;
//! - protocol 2026-07-28: the routing headers (`Mcp-Method`, `Mcp-Name`) and the `Mcp-Param-*`
//!   headers of the arguments a tool's schema marks with `x-mcp-header` (learnt from the
//!   `tools/list` answers that pass); a cancellation aborts its request;
//! - streams: answers that come as SSE are read event by event; a stream that breaks before the
//!   answer is resumed with `Last-Event-ID`; the standalone GET stream carries what the remote
//!   sends on its own, and is reopened where it left off;
//! - credentials: asked of a [`Credentials`] before each request, and offered one more try after a
//!   401 or 403 (a refresh, a login, a wider scope); redirects are never followed, so a token
//!   never reaches another host.
//!
//! Must not depend on: an MCP server stack (rmcp's server side, `mcp-transports`), any backend or
//! any OAuth flow. How a token is obtained is the caller's business.

mod error;
mod remote;

pub use error::ForwardError;
pub use remote::{Credentials, ForwardConfig, NoCredentials, Refusal, forward};
