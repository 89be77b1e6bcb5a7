//! A host service with routes of its own (here `/` and `/api/me`; in DiracX, its routers) that
//! mounts dirac-mcp's MCP endpoint and the OAuth bridge under `/mcp`, the way LbAPI mounts
//! routers beside DiracX's. One token check serves the host's protected routes and the MCP
//! endpoint: the bridge's [`TokenVerifier`] as an axum middleware, taking the bridge's tokens
//! and DiracX's own (checked against DiracX's keys).
//!
//! It uses `mcp-oauth-bridge` (default features off: no Redis, no polling logins),
//! `dirac-mcp-tools` and rmcp's streamable HTTP service, and nothing of `mcp-transports` or our
//! binaries: the proof that they embed.
//!
//! ```text
//! DIRACX_URL=https://diracx.example.org PUBLIC_URL=http://127.0.0.1:8080/ cargo run -p embedded-diracx
//! ```
//! Environment: `DIRACX_URL` (required), `PUBLIC_URL` (default `http://127.0.0.1:8080/`, where
//! clients reach this service; it listens on its host and port), `DIRACX_CLIENT_ID` (this
//! service's client at DiracX, which must allow the redirect URI `{PUBLIC_URL}mcp/callback`),
//! `DIRACX_VO` (default: DiracX's only VO).
#![allow(clippy::print_stderr)]

use std::sync::Arc;

use axum::extract::Extension;
use axum::routing::get;
use axum::{Json, Router};
use dirac_mcp_tools::{DiracMcpServer, DiracUsers, ServerOptions, default_registry};
use diracx_client::oidc::{DiracMetadata, login_scope};
use diracx_client::{ClientOptions, DiracxClient, StaticToken};
use mcp_oauth_bridge::{
    Bridge, BridgeConfig, BridgeMetrics, BridgeShared, Identity, JwtVerifier, JwtVerifierConfig,
    KeySet, MemoryStore, MetadataFetcher, OidcUpstream, OidcUpstreamConfig, RefreshGrant,
    TokenVerifier,
};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use url::Url;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt().with_writer(std::io::stderr).init();
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("embedded-diracx: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

fn setting(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

async fn run() -> Result<(), String> {
    let diracx = setting("DIRACX_URL").ok_or("set DIRACX_URL to the DiracX server")?;
    let diracx = Url::parse(&diracx).map_err(|e| format!("DIRACX_URL: {e}"))?;
    let public = setting("PUBLIC_URL").unwrap_or_else(|| "http://127.0.0.1:8080/".into());
    let public = Url::parse(&public).map_err(|e| format!("PUBLIC_URL: {e}"))?;
    let client_id = setting("DIRACX_CLIENT_ID").unwrap_or_else(|| "myDIRACClientID".into());
    let http = ClientOptions::default().http_client().map_err(|e| e.to_string())?;
    let vo = match setting("DIRACX_VO") {
        Some(vo) => vo,
        None => {
            let metadata = DiracMetadata::fetch(&http, &diracx).await.map_err(|e| e.to_string())?;
            let vos: Vec<&str> = metadata.vo_names().collect();
            match vos.as_slice() {
                [one] => (*one).to_owned(),
                several => return Err(format!("set DIRACX_VO to one of {}", several.join(", "))),
            }
        }
    };

    // The bridge, with DiracX as its OpenID upstream, under /mcp.
    let resource = public.join("mcp/").map_err(|e| e.to_string())?;
    let upstream = OidcUpstream::discover(OidcUpstreamConfig {
        issuer: diracx.clone(),
        client_id,
        client_secret: None,
        scopes: login_scope::<&str>(&vo, None, &[]).split(' ').map(str::to_owned).collect(),
        display_name: format!("DiracX ({vo})"),
        subject_claim: Some("preferred_username".into()),
        extra_auth_params: Vec::new(),
        refresh: RefreshGrant::Supported,
    })
    .await
    .map_err(|e| e.to_string())?;
    let shared = Arc::new(BridgeShared::new(
        Arc::new(KeySet::ephemeral().map_err(|e| e.to_string())?),
        Arc::new(MemoryStore::new()),
        MetadataFetcher::new(false),
        BridgeMetrics::default(),
    ));
    let mut config = BridgeConfig::new("mcp", resource.clone());
    config.site_title = format!("DiracX ({vo})");
    // DiracX's own access tokens pass too (agents with a `dirac login`): checked against its keys.
    let mut diracx_tokens =
        JwtVerifierConfig::discover(&http, "mcp", diracx.as_str().trim_end_matches('/'))
            .await
            .map_err(|e| e.to_string())?;
    diracx_tokens.subject_claim = "preferred_username".into();
    diracx_tokens.required_claims = vec![("vo".into(), vo.clone())];
    config.upstream_jwt =
        Some(Arc::new(JwtVerifier::new(diracx_tokens).map_err(|e| e.to_string())?));
    let bridge =
        Arc::new(Bridge::new(config, shared, Arc::new(upstream)).map_err(|e| e.to_string())?);
    // The host's token check, for its own routes and the MCP endpoint alike.
    let verifier: TokenVerifier = bridge.verifier();

    // dirac-mcp's tools, each call as the user of the request's verified token.
    let no_token = Arc::new(StaticToken::new(String::new().into()));
    let base =
        DiracxClient::with_http(diracx.as_str(), no_token, http, 1).map_err(|e| e.to_string())?;
    let tools = DiracMcpServer::for_users(
        ServerOptions { site: "mcp".into(), ..ServerOptions::default() },
        DiracUsers::new(base),
        default_registry(),
    );
    let host = public.host_str().unwrap_or("127.0.0.1").to_owned();
    let authority = match public.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.clone(),
    };
    let config = StreamableHttpServerConfig::default().with_allowed_hosts([host, authority]);
    let mcp = StreamableHttpService::new(
        move || Ok(tools.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let protected = axum::middleware::from_fn_with_state(verifier, TokenVerifier::require);
    let app = Router::new()
        .route("/api/me", get(me))
        .route_service("/mcp", mcp.clone())
        .route_service("/mcp/", mcp)
        .route_layer(protected)
        .route("/", get(|| async { "a host service, with dirac-mcp at /mcp\n" }))
        .merge(bridge.router());

    let port = public.port_or_known_default().unwrap_or(8080);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    eprintln!("embedded-diracx: serving MCP at {resource} (DiracX {diracx}, VO {vo})");
    axum::serve(listener, app).await.map_err(|e| e.to_string())
}

/// A route of the host's own, behind the same token check as the MCP endpoint.
async fn me(Extension(identity): Extension<Identity>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "user": identity.subject, "site": identity.site }))
}
