//! dirac-mcp hosted over MCP streamable HTTP: the tool set of `dirac-mcp-tools` mounted as
//! `mcp-transports` sites, either as one DiracX identity behind a shared secret, or for many
//! users, each signed in through `mcp-oauth-bridge` with DiracX as the standard OpenID upstream
//! (authorization code + PKCE at DiracX's `/api/auth/authorize`, its rotating refresh tokens).
//!
//! Composition, and nothing else: this is where the tool crate, the transport and the bridge
//! meet (they do not know each other). It parses no command line: the binary hands it sites and
//! typed settings.

pub mod machine;

use std::sync::Arc;
use std::time::Duration;

use dirac_mcp_tools::{DiracMcpServer, DiracUsers, Registry, ServerOptions, ToolMetrics};
use diracx_client::oidc::{DiracMetadata, login_scope};
use diracx_client::{DiracxClient, HttpClient, StaticToken};
use mcp_oauth_bridge::{
    Bridge, BridgeConfig, BridgeMetrics, BridgeShared, JwtVerifier, JwtVerifierConfig, KeySet,
    MachineClient, MetadataFetcher, OidcUpstream, OidcUpstreamConfig, RefreshGrant, ResourceServer,
    ResourceServerConfig, StaticClient, open_store,
};
use mcp_transports::{HttpOptions, HttpServer, Site, TransportError};
use secrecy::SecretString;
use url::Url;

const PRODUCT: &str = "dirac-mcp";
/// The metric names' prefix (`dirac_mcp_tool_calls_total`, …).
pub const METRICS_PREFIX: &str = "dirac_mcp";

/// Why a hosted server could not start.
#[derive(Debug, thiserror::Error)]
pub enum HostingError {
    /// A site that cannot be served this way, or a setting that does not fit.
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// One DiracX VO (and group) served under `/site/{name}/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiracSite {
    pub name: String,
    /// Where this server calls DiracX.
    pub diracx_url: Url,
    /// DiracX's token issuer, where users sign in: its public URL, which may differ from
    /// `diracx_url` (an in-cluster service address).
    pub issuer: Url,
    pub vo: String,
    /// The group users act in; `None`: the VO's default group.
    pub group: Option<String>,
}

impl DiracSite {
    /// A site from `NAME`, `NAME=VO`, `NAME=VO/GROUP`, each optionally followed by `@URL`
    /// (another DiracX than `default_url`). A bare `NAME` is also the VO.
    pub fn parse(spec: &str, default_url: &Url) -> Result<Self, String> {
        let (spec, url) = match spec.split_once('@') {
            Some((spec, url)) => {
                let url = Url::parse(url.trim())
                    .map_err(|e| format!("--site {spec}@{url}: `{url}` is not a URL: {e}"))?;
                (spec, url)
            }
            None => (spec, default_url.clone()),
        };
        let (name, rest) = match spec.split_once('=') {
            Some((name, rest)) => (name.trim(), rest.trim()),
            None => (spec.trim(), spec.trim()),
        };
        let (vo, group) = match rest.split_once('/') {
            Some((vo, group)) => (vo.trim(), Some(group.trim().to_owned())),
            None => (rest, None),
        };
        let word = |s: &str| {
            !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if !word(name) {
            return Err(format!("--site {spec}: a site name is letters, digits, `-` and `_`"));
        }
        if !word(vo) || group.as_deref().is_some_and(|g| !word(g)) {
            return Err(format!("--site {spec}: expected NAME[=VO[/GROUP]][@URL]"));
        }
        Ok(Self {
            name: name.to_owned(),
            issuer: url.clone(),
            diracx_url: url,
            vo: vo.to_owned(),
            group,
        })
    }

    /// One site per VO of the DiracX at `url`, named after the VO, when none are given.
    pub async fn every_vo(http: &HttpClient, url: &Url) -> Result<Vec<Self>, String> {
        let metadata = DiracMetadata::fetch(http, url)
            .await
            .map_err(|e| format!("cannot read DiracX's VOs at {url}: {e}"))?;
        let sites: Vec<Self> = metadata
            .vo_names()
            .map(|vo| Self {
                name: vo.to_owned(),
                diracx_url: url.clone(),
                issuer: url.clone(),
                vo: vo.to_owned(),
                group: None,
            })
            .collect();
        if sites.is_empty() {
            return Err(format!("DiracX at {url} lists no VO; name one with --site"));
        }
        Ok(sites)
    }

    fn title(&self) -> String {
        match &self.group {
            Some(group) => format!("DiracX ({}, group {group})", self.vo),
            None => format!("DiracX ({})", self.vo),
        }
    }
}

/// Shared-secret mode: `server` (one DiracX identity) as site `site`, behind `secret`; serves
/// until SIGTERM or Ctrl-C.
pub async fn serve_shared_secret(
    options: HttpOptions,
    version: &str,
    site: &str,
    server: DiracMcpServer,
    secret: SecretString,
    metrics: ToolMetrics,
) -> Result<(), HostingError> {
    let backend = server.clone();
    let mount = mounted(site, server)?
        .with_description(format!("DiracX ({site}), as this server's own DiracX identity"))
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
    /// How long a sign-in at DiracX may take.
    pub login_timeout: Duration,
    pub read_only: bool,
    /// This server's OAuth client at DiracX (a public client: PKCE, no secret).
    pub client_id: String,
    /// The HTTP client every DiracX call goes through (its CA settings).
    pub http: HttpClient,
    /// How many times idempotent DiracX calls are retried.
    pub retries: u32,
    /// Programs without a person (`client_credentials`), each for one site or (`None`) all.
    pub machine_clients: Vec<(Option<String>, MachineClient)>,
    /// Also accept DiracX's own access tokens as bearers (checked against DiracX's keys), for
    /// agents that signed in with `dirac login`.
    pub accept_diracx_tokens: bool,
}

/// OIDC bridge mode: every site under `/site/{name}/`, each user signed in at the site's DiracX
/// through the bridge, every call run as that user; serves until SIGTERM or Ctrl-C.
pub async fn serve_bridge(
    options: HttpOptions,
    version: &str,
    settings: BridgeSettings,
    sites: Vec<DiracSite>,
    registry: Registry,
) -> Result<(), HostingError> {
    let store = open_store(settings.redis_url.as_deref(), "dirac-mcp:")
        .await
        .map_err(|e| HostingError::Setup(e.to_string()))?;
    if settings.allow_loopback_cimd {
        tracing::warn!(
            "--allow-loopback-cimd is on: client metadata may come from loopback addresses (tests only)"
        );
    }
    let bridge_metrics = BridgeMetrics::default();
    let shared = Arc::new(BridgeShared::new(
        Arc::new(settings.keys),
        store.clone(),
        MetadataFetcher::new(settings.allow_loopback_cimd),
        bridge_metrics.clone(),
    ));
    let metrics = ToolMetrics::new(METRICS_PREFIX);
    let mut server = HttpServer::new(options, PRODUCT, version);
    metrics.register(server.registry_mut());
    bridge_metrics.register(server.registry_mut(), METRICS_PREFIX);
    let base = settings.resource_url.as_str().trim_end_matches('/').to_owned();
    if let Some((Some(unknown), client)) = settings
        .machine_clients
        .iter()
        .find(|(site, _)| site.as_ref().is_some_and(|s| !sites.iter().any(|d| &d.name == s)))
    {
        return Err(HostingError::Setup(format!(
            "machine client {} is for site {unknown}, which is not served",
            client.client_id
        )));
    }
    let mut urls = Vec::new();
    for site in sites {
        let name = site.name.clone();
        let resource = Url::parse(&format!("{base}/site/{name}/"))
            .map_err(|e| HostingError::Setup(format!("--resource-url: {e}")))?;
        let upstream = OidcUpstream::discover(OidcUpstreamConfig {
            issuer: site.issuer.clone(),
            client_id: settings.client_id.clone(),
            client_secret: None,
            scopes: login_scope::<&str>(&site.vo, site.group.as_deref(), &[])
                .split(' ')
                .map(str::to_owned)
                .collect(),
            display_name: site.title(),
            subject_claim: Some("preferred_username".into()),
            extra_auth_params: Vec::new(),
            // DiracX rotates refresh tokens but does not list the grant in its metadata.
            refresh: RefreshGrant::Supported,
        })
        .await
        .map_err(|e| HostingError::Setup(format!("site {name}: DiracX login: {e}")))?;
        let mut config = BridgeConfig::new(name.clone(), resource.clone());
        config.site_title = site.title();
        config.login_timeout = settings.login_timeout;
        config.static_clients = settings.static_clients.clone();
        config.machine_clients = settings
            .machine_clients
            .iter()
            .filter(|(only, _)| only.as_ref().is_none_or(|only| *only == name))
            .map(|(_, client)| client.clone())
            .collect();
        if settings.accept_diracx_tokens {
            config.upstream_jwt = Some(Arc::new(
                diracx_token_verifier(&name, &site, &settings.http, &config.resource).await?,
            ));
        }
        let bridge = Arc::new(
            Bridge::new(config, shared.clone(), Arc::new(upstream))
                .map_err(|e| HostingError::Setup(e.to_string()))?,
        );
        // No token: each call gets its user's, through `DiracUsers`.
        let base_client = DiracxClient::with_http(
            site.diracx_url.as_str(),
            Arc::new(StaticToken::new(SecretString::from(String::new()))),
            settings.http.clone(),
            settings.retries,
        )
        .map_err(|e| HostingError::Setup(format!("site {name}: {e}")))?;
        let options = ServerOptions {
            read_only: settings.read_only,
            local_files: false,
            site: name.clone(),
            metrics: Some(metrics.clone()),
        };
        let tools =
            DiracMcpServer::for_users(options, DiracUsers::new(base_client), registry.clone());
        tracing::info!(
            site = %name,
            diracx = %site.diracx_url,
            vo = %site.vo,
            group = site.group.as_deref().unwrap_or("(default)"),
            redirect_uri = %format!("{}callback", resource),
            "site {name}: DiracX must allow this redirect URI for client {}",
            settings.client_id
        );
        let backend = tools.clone();
        let store = store.clone();
        let mount = mounted(&name, tools)?
            .with_description(format!("{}, as each signed-in user", site.title()))
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

/// Who calls DiracX in resource-server mode.
pub enum CallsAs {
    /// Each user with their own token: the authorization server is DiracX itself.
    Users { http: HttpClient, retries: u32 },
    /// This server's own DiracX login (one site), each caller written to the log: the tokens
    /// come from another issuer, and DiracX would not take them.
    Server(Box<DiracMcpServer>),
}

impl std::fmt::Debug for CallsAs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Users { .. } => "CallsAs::Users",
            Self::Server(_) => "CallsAs::Server",
        })
    }
}

/// Resource-server mode: every site under `/site/{name}/`, each request with an access token of
/// the configured authorization server (`template`, made per site). When DiracX is that server,
/// its tokens are checked as DiracX's (its keys, no audience, the site's VO and group) and
/// calls run with them; otherwise calls run as [`CallsAs::Server`]. Serves until SIGTERM or
/// Ctrl-C.
pub async fn serve_resource_server(
    options: HttpOptions,
    version: &str,
    template: &ResourceServerConfig,
    sites: Vec<DiracSite>,
    calls_as: CallsAs,
    registry: Registry,
    read_only: bool,
) -> Result<(), HostingError> {
    let Some(resource_url) = options.resource_url.clone() else {
        return Err(HostingError::Setup(
            "resource-server mode needs --resource-url: the public URL clients reach this server at (e.g. https://mcp.example.org/); tokens must be issued for it".into(),
        ));
    };
    if matches!(calls_as, CallsAs::Server(_)) && sites.len() != 1 {
        return Err(HostingError::Setup(format!(
            "one site when calls run as this server's own DiracX login, got {}",
            sites.len()
        )));
    }
    let http = ResourceServer::http_client().map_err(|e| HostingError::Setup(e.to_string()))?;
    let metrics = ToolMetrics::new(METRICS_PREFIX);
    let mut server = HttpServer::new(options, PRODUCT, version);
    metrics.register(server.registry_mut());
    let base = resource_url.as_str().trim_end_matches('/').to_owned();
    let mut urls = Vec::new();
    for site in sites {
        let name = site.name.clone();
        let resource = Url::parse(&format!("{base}/site/{name}/"))
            .map_err(|e| HostingError::Setup(format!("--resource-url: {e}")))?;
        let config = template.for_site(&name, &site.title(), resource.clone());
        let checks = ResourceServer::discover(config, http.clone())
            .await
            .map_err(|e| HostingError::Setup(format!("site {name}: {e}")))?;
        let options = ServerOptions {
            read_only,
            local_files: false,
            site: name.clone(),
            metrics: Some(metrics.clone()),
        };
        let (tools, checks, who) = match &calls_as {
            CallsAs::Users { http, retries } => {
                let issuer = site.issuer.as_str().trim_end_matches('/');
                if issuer != template.issuer.trim_end_matches('/') {
                    return Err(HostingError::Setup(format!(
                        "site {name}: DiracX at {} takes only its own tokens, not those of {}",
                        site.issuer, template.issuer
                    )));
                }
                let diracx = diracx_token_verifier(&name, &site, http, &resource).await?;
                let base_client = DiracxClient::with_http(
                    site.diracx_url.as_str(),
                    Arc::new(StaticToken::new(SecretString::from(String::new()))),
                    http.clone(),
                    *retries,
                )
                .map_err(|e| HostingError::Setup(format!("site {name}: {e}")))?;
                let tools = DiracMcpServer::for_users(
                    options,
                    DiracUsers::new(base_client),
                    registry.clone(),
                );
                (tools, checks.with_jwt_verifier(diracx), "as each user, with their DiracX token")
            }
            CallsAs::Server(own) => ((**own).clone(), checks, "as this server's own DiracX login"),
        };
        tracing::info!(site = %name, diracx = %site.diracx_url, issuer = %template.issuer, "site {name}: calls DiracX {who}");
        let backend = tools.clone();
        let mount = mounted(&name, tools)?
            .with_description(format!("{}, {who}", site.title()))
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

/// The check of DiracX's own access tokens for a site: DiracX's keys, its issuer, no audience
/// (DiracX's tokens carry none, and one minted for another audience is refused), the user named
/// by `preferred_username` as in DiracX's jobs; only tokens of the site's VO (and group).
async fn diracx_token_verifier(
    name: &str,
    site: &DiracSite,
    http: &diracx_client::HttpClient,
    resource: &Url,
) -> Result<JwtVerifier, HostingError> {
    let issuer = site.issuer.as_str().trim_end_matches('/');
    let mut config = JwtVerifierConfig::discover(http, name, issuer)
        .await
        .map_err(|e| HostingError::Setup(format!("site {name}: DiracX's keys: {e}")))?;
    config.subject_claim = "preferred_username".into();
    config.required_claims = vec![("vo".into(), site.vo.clone())];
    if let Some(group) = &site.group {
        config.required_claims.push(("dirac_group".into(), group.clone()));
    }
    let mut metadata = resource.clone();
    metadata.set_path(&format!(
        "/.well-known/oauth-protected-resource{}",
        resource.path().trim_end_matches('/')
    ));
    config.resource_metadata = Some(metadata.to_string());
    JwtVerifier::new(config).map_err(|e| HostingError::Setup(format!("site {name}: {e}")))
}

/// The site serving `tools`, with its tool list answered from bytes serialised once.
fn mounted(name: &str, tools: DiracMcpServer) -> Result<Site, HostingError> {
    let tool_list = tools.tool_list();
    Site::new(name, tools)
        .with_tool_list(&tool_list)
        .map_err(|e| HostingError::Setup(format!("cannot serialize the tool list: {e}")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn site_specs() {
        let url = Url::parse("https://diracx.example.org").unwrap();
        let site = DiracSite::parse("lhcb", &url).unwrap();
        assert_eq!((site.name.as_str(), site.vo.as_str(), site.group), ("lhcb", "lhcb", None));
        let site = DiracSite::parse("prod=lhcb/lhcb_prod", &url).unwrap();
        assert_eq!(site.vo, "lhcb");
        assert_eq!(site.group.as_deref(), Some("lhcb_prod"));
        assert_eq!(site.diracx_url, url);
        let site = DiracSite::parse("gd=gridpp@https://dx.gridpp.example", &url).unwrap();
        assert_eq!(site.diracx_url.as_str(), "https://dx.gridpp.example/");
        assert!(DiracSite::parse("a b", &url).is_err());
        assert!(DiracSite::parse("x=", &url).is_err());
        assert!(DiracSite::parse("x=vo/", &url).is_err());
        assert!(DiracSite::parse("x@not a url", &url).is_err());
    }
}
