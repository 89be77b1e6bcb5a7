//! How MCP servers meet their clients: stdio for one user on their own machine, and the MCP
//! streamable HTTP transport for a hosted server with many sites and many clients.
//!
//! The HTTP side serves rmcp's `StreamableHttpService` with hyper, behind tower and tower-http
//! layers composed in one place ([`layers`]): request tracing, trusted proxy headers, Host and
//! Origin validation, body size limit, timeout, concurrency limit, HTTP metrics, and per site a
//! bearer-verification layer ([`auth`]) that puts the verified identity in the request's
//! extensions, where rmcp hands it on to the tools (`http::request::Parts` in the request context).
//!
//! It depends on rmcp, hyper, tower, axum and `mcp-oauth-bridge` (mounted per site by
//! [`Site::with_oauth`], its token check adapted in [`oauth`]); it knows nothing of Rucio or
//! DiracX. Tool crates plug in an `rmcp::ServerHandler` per site.

pub mod auth;
mod error;
mod health;
mod http_server;
mod landing;
pub mod layers;
mod linger;
pub mod metrics;
pub mod oauth;
pub mod sessions;
mod shared_secret;
mod site;
mod stdio;
mod tool_list;

pub use error::TransportError;
pub use health::{Readiness, ReadinessCheck};
pub use http_server::{HttpOptions, HttpServer, Listening, shutdown_signal};
pub use landing::{LandingPage, SiteAccess};
pub use shared_secret::{metrics_url, serve_shared_secret, serve_sites};
pub use site::Site;
pub use stdio::serve_stdio;
