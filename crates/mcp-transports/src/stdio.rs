//! MCP over stdin/stdout: one client, one session, ended when the client closes stdin.

use rmcp::service::QuitReason;
use rmcp::{ServerHandler, ServiceExt};

use crate::TransportError;

/// Serves `handler` over stdio until the client goes away.
pub async fn serve_stdio<S: ServerHandler>(handler: S) -> Result<QuitReason, TransportError> {
    let running = handler
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| TransportError::Stdio(format!("the MCP session failed to start: {e}")))?;
    running
        .waiting()
        .await
        .map_err(|e| TransportError::Stdio(format!("the MCP session ended with an error: {e}")))
}
