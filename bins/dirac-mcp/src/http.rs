//! `dirac-mcp serve --transport http`: shared-secret mode (this server's own DiracX login, one
//! site), OIDC bridge mode (every user signs in at DiracX; one site per VO or group), or
//! resource-server mode (tokens of an existing authorization server).

use std::time::Duration;

use dirac_mcp_hosting::{BridgeSettings, CallsAs, DiracSite, METRICS_PREFIX};
use dirac_mcp_tools::{DiracMcpServer, Registry, ServerOptions, ToolMetrics};
use mcp_cli::http::AuthMode;

use crate::cli::ServeArgs;
use crate::{Settings, session_of_login};

pub(crate) async fn serve(args: ServeArgs, registry: Registry) -> Result<(), String> {
    let version = env!("CARGO_PKG_VERSION");
    let mode = args.http.mode()?;
    let mut bridge_only = Vec::new();
    if args.machine_clients.is_some() {
        bridge_only.push("--machine-clients");
    }
    if args.no_diracx_tokens {
        bridge_only.push("--no-diracx-tokens");
    }
    if args.diracx_issuer.is_some() && mode == AuthMode::SharedSecret {
        bridge_only.push("--diracx-issuer");
    }
    if !bridge_only.is_empty() && mode != AuthMode::Bridge {
        let verb = if bridge_only.len() == 1 { "is" } else { "are" };
        return Err(format!("{} {verb} only for OIDC bridge mode", bridge_only.join(", ")));
    }
    match mode {
        AuthMode::Bridge => return serve_bridge(&args, registry).await,
        AuthMode::ResourceServer => return serve_resource_server(&args, registry).await,
        AuthMode::SharedSecret => {}
    }
    let http = &args.http;
    let Some(secret) = http.shared_secret()? else {
        return Err("shared-secret mode needs a secret".into());
    };
    let (site, server, metrics) = own_login_site(&args, registry, "shared-secret mode").await?;
    dirac_mcp_hosting::serve_shared_secret(http.options()?, version, &site, server, secret, metrics)
        .await
        .map_err(|e| e.to_string())
}

/// The one site served as this server's own DiracX login (shared-secret mode, and
/// resource-server mode with another issuer than DiracX).
async fn own_login_site(
    args: &ServeArgs,
    registry: Registry,
    mode: &str,
) -> Result<(String, DiracMcpServer, ToolMetrics), String> {
    let session = session_of_login(args, false).await?;
    let url = Settings::new(&args.diracx)?.url;
    let site = match args.site.as_slice() {
        [] => session.listing_user().map(|u| u.vo.clone()).filter(|vo| !vo.is_empty()).ok_or(
            "name the site with --site NAME (the login holds no VO: sign in first with `dirac-mcp login`)",
        )?,
        [one] => DiracSite::parse(one, &url)?.name,
        several => {
            return Err(format!(
                "one site in {mode} (one DiracX login), got {}: run one server per login, or use OIDC bridge mode",
                several.len()
            ));
        }
    };
    let metrics = ToolMetrics::new(METRICS_PREFIX);
    let options = ServerOptions {
        read_only: args.read_only,
        local_files: false,
        site: site.clone(),
        metrics: Some(metrics.clone()),
    };
    Ok((site, DiracMcpServer::with_registry(options, session, registry), metrics))
}

/// Resource-server mode: tokens of `--issuer`. When that is DiracX itself, every call runs with
/// the user's DiracX token (sites as in OIDC bridge mode); otherwise as this server's own login.
async fn serve_resource_server(args: &ServeArgs, registry: Registry) -> Result<(), String> {
    let http = &args.http;
    let template = http.resource_server.settings()?;
    let settings = Settings::new(&args.diracx)?;
    let diracx_issuer = args.diracx_issuer.clone().unwrap_or_else(|| settings.url.clone());
    let (sites, calls_as) =
        if template.issuer.trim_end_matches('/') == diracx_issuer.as_str().trim_end_matches('/') {
            let client = settings.options.http_client().map_err(|e| e.to_string())?;
            let mut sites = resolve_sites(args, &settings.url, &client).await?;
            for site in sites.iter_mut().filter(|s| s.diracx_url == settings.url) {
                site.issuer = diracx_issuer.clone();
            }
            let retries = settings.options.retries;
            (sites, CallsAs::Users { http: client, retries })
        } else {
            let (name, server, _) = own_login_site(
                args,
                registry.clone(),
                "resource-server mode with another issuer than DiracX",
            )
            .await?;
            (vec![DiracSite::parse(&name, &settings.url)?], CallsAs::Server(Box::new(server)))
        };
    dirac_mcp_hosting::serve_resource_server(
        http.options()?,
        env!("CARGO_PKG_VERSION"),
        &template,
        sites,
        calls_as,
        registry,
        args.read_only,
    )
    .await
    .map_err(|e| e.to_string())
}

/// The sites of `--site` (each once), or one per VO of the DiracX at `url`.
async fn resolve_sites(
    args: &ServeArgs,
    url: &url::Url,
    client: &diracx_client::HttpClient,
) -> Result<Vec<DiracSite>, String> {
    let mut sites = Vec::new();
    for spec in &args.site {
        let site = DiracSite::parse(spec, url)?;
        if sites.iter().any(|s: &DiracSite| s.name == site.name) {
            return Err(format!("--site {}: the name is given twice", site.name));
        }
        sites.push(site);
    }
    if sites.is_empty() {
        sites = DiracSite::every_vo(client, url).await?;
    }
    Ok(sites)
}

/// OIDC bridge mode: every user signs in at DiracX through the bridge, and every call runs as
/// that user.
async fn serve_bridge(args: &ServeArgs, registry: Registry) -> Result<(), String> {
    let http = &args.http;
    let Some(resource_url) = http.resource_url.clone() else {
        return Err("OIDC bridge mode (--transport http without --shared-secret) needs --resource-url: \
                    the public URL clients reach this server at (e.g. https://mcp.example.org/); tokens are bound to it"
            .into());
    };
    let settings = Settings::new(&args.diracx)?;
    let client = settings.options.http_client().map_err(|e| e.to_string())?;
    let mut sites = resolve_sites(args, &settings.url, &client).await?;
    if let Some(issuer) = &args.diracx_issuer {
        for site in sites.iter_mut().filter(|s| s.diracx_url == settings.url) {
            site.issuer = issuer.clone();
        }
    }
    let machine_clients = match &args.machine_clients {
        Some(path) => dirac_mcp_hosting::machine::load(path, &client, &sites, &args.client_id)?,
        None => Vec::new(),
    };
    let bridge = &http.bridge;
    let bridge_settings = BridgeSettings {
        resource_url,
        keys: bridge.keys()?,
        redis_url: bridge.redis_url.clone(),
        allow_loopback_cimd: bridge.allow_loopback_cimd,
        static_clients: bridge.static_clients()?,
        login_timeout: Duration::from_secs(bridge.poll_timeout.unwrap_or(300).max(10)),
        read_only: args.read_only,
        client_id: args.client_id.clone(),
        http: client,
        retries: settings.options.retries,
        machine_clients,
        accept_diracx_tokens: !args.no_diracx_tokens,
    };
    dirac_mcp_hosting::serve_bridge(
        http.options()?,
        env!("CARGO_PKG_VERSION"),
        bridge_settings,
        sites,
        registry,
    )
    .await
    .map_err(|e| e.to_string())
}

/// `config check FILE`: `serve --config FILE` prepared up to the point of serving (settings, the
/// files they name, the sites), without reaching DiracX; and what it would serve.
pub(crate) fn check(file: &std::path::Path) -> Result<String, String> {
    use clap::{CommandFactory as _, FromArgMatches as _, ValueEnum as _};

    let command = mcp_cli::http::with_env_prefix(crate::cli::Cli::command(), "DIRAC_MCP_");
    let (_, matches, _) =
        mcp_cli::config_file::serve_under::<crate::cli::DiracKeys>(command, file)?;
    let mut args = ServeArgs::from_arg_matches(&matches).map_err(|e| e.to_string())?;
    args.http.env_prefix = "DIRAC_MCP_";
    args.http.bridge.env_prefix = "DIRAC_MCP_";
    let settings = Settings::new(&args.diracx)?;
    if args.transport == mcp_cli::Transport::Stdio {
        return Ok(format!("stdio, DiracX {}", settings.url));
    }
    let http = &args.http;
    let mode = http.mode()?;
    http.options()?;
    for spec in &args.site {
        DiracSite::parse(spec, &settings.url)?;
    }
    match mode {
        AuthMode::SharedSecret => {
            http.shared_secret()?;
        }
        AuthMode::Bridge => {
            http.resource_url.as_ref().ok_or("OIDC bridge mode needs resource_url")?;
            http.bridge.keys()?;
            http.bridge.static_clients()?;
        }
        AuthMode::ResourceServer => {
            http.resource_url.as_ref().ok_or("resource-server mode needs resource_url")?;
            http.resource_server.settings()?;
        }
    }
    let sites = if args.site.is_empty() { "every VO".to_owned() } else { args.site.join(", ") };
    let mode = mode.to_possible_value().map(|v| v.get_name().to_owned()).unwrap_or_default();
    Ok(format!("http, {mode} mode, DiracX {}, sites {sites}", settings.url))
}
