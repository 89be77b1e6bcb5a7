//! The DiracX tool set of dirac-mcp: MCP tools over `diracx-client`, the access policy that runs
//! before a request reaches DiracX, and the extension points (a [`ToolSet`] trait, a [`Registry`],
//! a [`Policy`] trait) through which a community adds its own tools from its own crate.
//!
//! It depends on `diracx-client` and `rmcp`, on `mcp-oauth-bridge` only for the signed-in
//! [`mcp_oauth_bridge::Identity`] a multi-user request carries, and on `mcp-tool-metrics`; it
//! knows nothing of HTTP servers or transports beyond rmcp's handler trait, so the stdio and
//! HTTP binaries (and a host service embedding it) all compose it.

pub mod args;
pub mod errors;
pub mod filters;
pub mod format;
pub mod identity;
pub mod jdl;
pub mod policy;
pub mod server;
pub mod session;
pub mod tools;
pub mod toolset;
pub mod users;

pub use errors::{ErrorCategory, ToolError};
pub use identity::DiracUser;
pub use mcp_tool_metrics::ToolMetrics;
pub use policy::{Action, Policy, WmsPolicy};
pub use server::{DiracMcpServer, ServerOptions, default_registry};
pub use session::DiracSession;
pub use tools::CoreTools;
pub use toolset::{Registry, ToolContext, ToolDef, ToolOutput, ToolResult, ToolSet};
pub use users::DiracUsers;
