//! The Rucio tool set of rucio-mcp: 44 MCP tools over `rucio-client`, with their catalog,
//! formatting, paging, error categories, metrics and the stdio session (login through the MCP
//! client).
//!
//! It depends on `rucio-client`, `site-presets`, `rmcp` and `mcp-oauth-bridge` (whose
//! `Upstream` it implements for Rucio's OIDC login, and whose verified `Identity` it reads); it
//! knows nothing of HTTP servers or transports beyond what rmcp's handler trait needs, so the
//! stdio and HTTP binaries both compose it.

pub mod bridge;
pub mod catalog;
pub mod errors;
pub mod format;
pub mod paging;
pub mod proxy_info;
mod proxy_tool;
pub mod server;
pub mod session;
pub mod site_config;
pub mod tools;

pub use errors::{ErrorCategory, ToolError};
pub use mcp_tool_metrics::ToolMetrics;
pub use server::{RucioMcpServer, ServerOptions};
pub use session::RucioSession;
pub use tools::{ToolContext, ToolOutput};
