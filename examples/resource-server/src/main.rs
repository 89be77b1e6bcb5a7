//! An MCP server that only checks the access tokens of an existing authorization server: one
//! tool, `whoami`, behind `ResourceServer` (RFC 9728 metadata, JWTs, RFC 7662 introspection).
//! `ISSUER=URL PUBLIC_URL=http://127.0.0.1:8080/mcp/ [INTROSPECTION_CLIENT_ID=…
//! INTROSPECTION_CLIENT_SECRET=…] [REQUIRED_SCOPE=mcp:tools] cargo run -p resource-server`
#![allow(clippy::print_stderr)]

use std::sync::Arc;

use mcp_oauth_bridge::{Identity, IntrospectionClient, ResourceServer, ResourceServerConfig};
use rmcp::model::{CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock};
use rmcp::model::{
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};

#[derive(Clone)]
struct Whoami;

impl ServerHandler for Whoami {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let schema = serde_json::Map::from_iter([("type".into(), "object".into())]);
        Ok(ListToolsResult::with_all_items(vec![Tool::new("whoami", "Who the token is", schema)]))
    }

    async fn call_tool(
        &self,
        _: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        // The verified identity travels in the HTTP request's extensions.
        let caller = Identity::of_request(context.extensions.get()).map(|id| id.subject.clone());
        let text = format!("you are {}", caller.unwrap_or_else(|| "nobody".into()));
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]).into())
    }
}

fn setting(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let issuer = setting("ISSUER").ok_or("set ISSUER to the authorization server")?;
    let public = setting("PUBLIC_URL").unwrap_or_else(|| "http://127.0.0.1:8080/mcp/".into());
    let public = url::Url::parse(&public).map_err(|e| format!("PUBLIC_URL: {e}"))?;
    let mut config = ResourceServerConfig::new("mcp", issuer, public.clone());
    config.required_scopes = setting("REQUIRED_SCOPE").into_iter().collect();
    if let (Some(client_id), Some(secret)) =
        (setting("INTROSPECTION_CLIENT_ID"), setting("INTROSPECTION_CLIENT_SECRET"))
    {
        config.introspection =
            Some(IntrospectionClient { client_id, client_secret: secret.into() });
    }
    let http = ResourceServer::http_client().map_err(|e| e.to_string())?;
    let checks = Arc::new(ResourceServer::discover(config, http).await.map_err(|e| e.to_string())?);

    let authority = public[url::Position::BeforeHost..url::Position::AfterPort].to_owned();
    let mcp = StreamableHttpService::new(
        || Ok(Whoami),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default().with_allowed_hosts([authority]),
    );
    let path = public.path().trim_end_matches('/').to_owned();
    let app = axum::Router::new()
        .route_service(&path, mcp.clone())
        .route_service(&format!("{path}/"), mcp)
        .route_layer(axum::middleware::from_fn_with_state(checks.clone(), ResourceServer::require))
        .merge(checks.router());

    let port = public.port_or_known_default().unwrap_or(8080);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    eprintln!("resource-server: MCP at {public}, tokens of {}", checks.issuer());
    axum::serve(listener, app).await.map_err(|e| e.to_string())
}
