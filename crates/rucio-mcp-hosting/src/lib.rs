//! rucio-mcp hosted over MCP streamable HTTP: the tool set of `rucio-mcp-tools` mounted as
//! `mcp-transports` sites, either as one robot identity behind a shared secret, for many users,
//! each signed in through `mcp-oauth-bridge` with their site's Rucio OIDC login, or for many users
//! with tokens of an existing authorization server (resource-server mode).
//!
//! Composition, and nothing else: this is where the tool crate, the transport and the bridge
//! meet (they do not know each other). It parses no command line and reads no configuration
//! file: the binary hands it resolved sites and typed settings.

use std::sync::Arc;
use std::time::Duration;

use mcp_oauth_bridge::{
    Bridge, BridgeConfig, BridgeMetrics, BridgeShared, KeySet, MetadataFetcher, ResourceServer,
    ResourceServerConfig, StaticClient, open_store,
};
use mcp_transports::{HttpOptions, HttpServer, Site, TransportError};
use rucio_client::RucioClient;
use rucio_mcp_tools::bridge::{RucioUpstream, UserClients};
use rucio_mcp_tools::site_config::SiteConfig;
use rucio_mcp_tools::{RucioMcpServer, RucioSession, ServerOptions, ToolMetrics};
use secrecy::SecretString;
use url::Url;

const PRODUCT: &str = "rucio-mcp";

/// Why a hosted server could not start.
#[derive(Debug, thiserror::Error)]
pub enum HostingError {
    /// A site that cannot be served this way, or a setting that does not fit.
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// Shared-secret mode: `server` (one Rucio identity) as site `site`, behind `secret`; serves
/// until SIGTERM or Ctrl-C.
pub async fn serve_shared_secret(
    options: HttpOptions,
    version: &str,
    site: &str,
    server: RucioMcpServer,
    secret: SecretString,
    metrics: ToolMetrics,
) -> Result<(), HostingError> {
    let backend = server.clone();
    let mount = mounted(site, server)?
        .with_description(format!("Rucio ({site}), as this server's own Rucio identity"))
        .with_readiness(Arc::new(move || {
            let backend = backend.clone();
            async move { backend.check_backend().await }
        }));
    let register = |registry: &mut _| metrics.register(registry);
    Ok(mcp_transports::serve_shared_secret(options, PRODUCT, version, mount, secret, register)
        .await?)
}

/// What OIDC bridge mode needs beyond the HTTP options.
#[derive(Debug)]
pub struct BridgeSettings {
    /// The public URL clients reach the server at; each site's resource is under it.
    pub resource_url: Url,
    pub keys: KeySet,
    /// Shared state of several replicas; `None`: in memory.
    pub redis_url: Option<String>,
    /// Client metadata documents may come from loopback addresses (tests only).
    pub allow_loopback_cimd: bool,
    pub static_clients: Vec<StaticClient>,
    /// How long a sign-in at Rucio may take.
    pub login_timeout: Duration,
    pub read_only: bool,
}

/// OIDC bridge mode: every site of `sites` under `/site/{name}/`, each user signed in through
/// the bridge with the site's Rucio OIDC login, every call run as that user; serves until
/// SIGTERM or Ctrl-C.
pub async fn serve_bridge(
    options: HttpOptions,
    version: &str,
    settings: BridgeSettings,
    sites: Vec<SiteConfig>,
) -> Result<(), HostingError> {
    let store = open_store(settings.redis_url.as_deref(), "rucio-mcp:")
        .await
        .map_err(|e| HostingError::Setup(e.to_string()))?;
    let bridge_metrics = BridgeMetrics::default();
    if settings.allow_loopback_cimd {
        tracing::warn!(
            "--allow-loopback-cimd is on: client metadata may come from loopback addresses (tests only)"
        );
    }
    let shared = Arc::new(BridgeShared::new(
        Arc::new(settings.keys),
        store.clone(),
        MetadataFetcher::new(settings.allow_loopback_cimd),
        bridge_metrics.clone(),
    ));
    let metrics = ToolMetrics::new("rucio_mcp");
    let mut server = HttpServer::new(options, PRODUCT, version);
    metrics.register(server.registry_mut());
    bridge_metrics.register(server.registry_mut(), "rucio_mcp");
    let base = settings.resource_url.as_str().trim_end_matches('/').to_owned();
    let mut urls = Vec::new();
    for resolved in sites {
        for warning in &resolved.warnings {
            tracing::warn!("{warning}");
        }
        let name = resolved.site.clone();
        if let Ok(preset) = site_presets::find(&name)
            && !preset.multi_user_http
        {
            return Err(HostingError::Setup(format!(
                "site {name} authenticates with {} only; OIDC bridge mode needs an OIDC site (or use --shared-secret for one robot identity)",
                preset.auth_types.iter().map(|t| t.as_str()).collect::<Vec<_>>().join("/")
            )));
        }
        let title = format!("Rucio ({name})");
        let upstream = Arc::new(
            RucioUpstream::new(resolved.config.clone(), title.clone())
                .map_err(|e| HostingError::Setup(format!("site {name}: {e}")))?,
        );
        let users = UserClients::new(upstream.base_client().clone());
        let tools = RucioMcpServer::for_users(
            ServerOptions::for_site(&name, settings.read_only),
            users,
            metrics.clone(),
        );
        let resource = Url::parse(&format!("{base}/site/{name}/"))
            .map_err(|e| HostingError::Setup(format!("--resource-url: {e}")))?;
        let mut config = BridgeConfig::new(name.clone(), resource.clone());
        config.site_title = title;
        config.login_timeout = settings.login_timeout;
        config.static_clients = settings.static_clients.clone();
        let bridge = Arc::new(
            Bridge::new(config, shared.clone(), upstream)
                .map_err(|e| HostingError::Setup(e.to_string()))?,
        );
        tracing::info!(site = %name, config = %resolved.source, rucio = %resolved.config.rucio_host, "site {name}");
        let backend = tools.clone();
        let store = store.clone();
        let mount = mounted(&name, tools)?
            .with_description(format!("Rucio ({name}), as each signed-in user"))
            .with_oauth(&bridge)
            .with_readiness(Arc::new(move || {
                let backend = backend.clone();
                let store = store.clone();
                async move {
                    store.ping().await.map_err(|e| e.to_string())?;
                    backend.check_backend().await
                }
            }));
        server = server.site(mount);
        urls.push(resource.to_string());
    }
    Ok(mcp_transports::serve_sites(server, &urls, "OIDC bridge mode", settings.read_only).await?)
}

/// Resource-server mode: every site of `sites` under `/site/{name}/`, each request with an
/// access token of the configured authorization server (`template`, made per site with
/// [`ResourceServerConfig::for_site`]). With `forward_user_token`, calls run at Rucio with the
/// user's own token (a Rucio that accepts that issuer's tokens); otherwise as the site's
/// configured identity, each caller written to the log. Serves until SIGTERM or Ctrl-C.
pub async fn serve_resource_server(
    options: HttpOptions,
    version: &str,
    template: &ResourceServerConfig,
    sites: Vec<SiteConfig>,
    forward_user_token: bool,
    read_only: bool,
) -> Result<(), HostingError> {
    let Some(resource_url) = options.resource_url.clone() else {
        return Err(HostingError::Setup(
            "resource-server mode needs --resource-url: the public URL clients reach this server at (e.g. https://mcp.example.org/); tokens must be issued for it".into(),
        ));
    };
    let http = ResourceServer::http_client().map_err(|e| HostingError::Setup(e.to_string()))?;
    let metrics = ToolMetrics::new("rucio_mcp");
    let mut server = HttpServer::new(options, PRODUCT, version);
    metrics.register(server.registry_mut());
    let base = resource_url.as_str().trim_end_matches('/').to_owned();
    let mut urls = Vec::new();
    for resolved in sites {
        for warning in &resolved.warnings {
            tracing::warn!("{warning}");
        }
        let name = resolved.site.clone();
        let resource = Url::parse(&format!("{base}/site/{name}/"))
            .map_err(|e| HostingError::Setup(format!("--resource-url: {e}")))?;
        let title = format!("Rucio ({name})");
        let checks = ResourceServer::discover(
            template.for_site(&name, &title, resource.clone()),
            http.clone(),
        )
        .await
        .map_err(|e| HostingError::Setup(format!("site {name}: {e}")))?;
        let options = ServerOptions::for_site(&name, read_only);
        let (tools, who) = if forward_user_token {
            let client = RucioClient::new(resolved.config.clone())
                .map_err(|e| HostingError::Setup(format!("site {name}: {e}")))?;
            (
                RucioMcpServer::for_users(options, UserClients::new(client), metrics.clone()),
                "as each user, with their own token",
            )
        } else {
            if resolved.config.auth_type == rucio_client::AuthType::Oidc {
                return Err(HostingError::Setup(format!(
                    "site {name}: calls run as this server's own Rucio identity, but its rucio.cfg signs in with OIDC (a person's login): give it a robot's rucio.cfg (x509, userpass), or pass each user's token with --forward-user-token"
                )));
            }
            let session = RucioSession::from_config(resolved.config.clone());
            (
                RucioMcpServer::new(options, session, metrics.clone()),
                "as this server's own Rucio identity",
            )
        };
        tracing::info!(
            site = %name,
            config = %resolved.source,
            rucio = %resolved.config.rucio_host,
            issuer = %checks.issuer(),
            "site {name}: calls Rucio {who}"
        );
        let backend = tools.clone();
        let mount = mounted(&name, tools)?
            .with_description(format!("Rucio ({name}), {who}"))
            .with_resource_server(&Arc::new(checks))
            .with_readiness(Arc::new(move || {
                let backend = backend.clone();
                async move { backend.check_backend().await }
            }));
        server = server.site(mount);
        urls.push(resource.to_string());
    }
    Ok(mcp_transports::serve_sites(server, &urls, "resource-server mode", read_only).await?)
}

/// The site serving `tools`, with its tool list answered from bytes serialised once.
fn mounted(name: &str, tools: RucioMcpServer) -> Result<Site, HostingError> {
    let tool_list = tools.tool_list();
    Site::new(name, tools)
        .with_tool_list(&tool_list)
        .map_err(|e| HostingError::Setup(format!("cannot serialize the tool list: {e}")))
}
