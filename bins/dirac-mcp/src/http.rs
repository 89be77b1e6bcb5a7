//! `dirac-mcp serve --transport http`: shared-secret mode (this server's own DiracX login, one
//! site) or OIDC bridge mode (every user signs in at DiracX; one site per VO or group).

use std::time::Duration;

use dirac_mcp_hosting::{BridgeSettings, DiracSite, METRICS_PREFIX};
use dirac_mcp_tools::{DiracMcpServer, Registry, ServerOptions, ToolMetrics};

use crate::cli::ServeArgs;
use crate::{Settings, session_of_login};

pub(crate) async fn serve(args: ServeArgs, registry: Registry) -> Result<(), String> {
    let version = env!("CARGO_PKG_VERSION");
    let http = &args.http;
    let Some(secret) = http.shared_secret()? else {
        return serve_bridge(&args, registry).await;
    };
    let mut bridge_flags = http.bridge.given();
    if args.machine_clients.is_some() {
        bridge_flags.push("--machine-clients");
    }
    if args.diracx_issuer.is_some() {
        bridge_flags.push("--diracx-issuer");
    }
    if args.no_diracx_tokens {
        bridge_flags.push("--no-diracx-tokens");
    }
    if !bridge_flags.is_empty() {
        let verb = if bridge_flags.len() == 1 { "is" } else { "are" };
        return Err(format!(
            "{} {verb} only for OIDC bridge mode, not with --shared-secret",
            bridge_flags.join(", ")
        ));
    }
    let session = session_of_login(&args, false).await?;
    let url = Settings::new(&args.diracx)?.url;
    let site = match args.site.as_slice() {
        [] => session.listing_user().map(|u| u.vo.clone()).filter(|vo| !vo.is_empty()).ok_or(
            "name the site with --site NAME (the login holds no VO: sign in first with `dirac-mcp login`)",
        )?,
        [one] => DiracSite::parse(one, &url)?.name,
        several => {
            return Err(format!(
                "one site in shared-secret mode (one DiracX login), got {}: run one server per login, or use OIDC bridge mode",
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
    let server = DiracMcpServer::with_registry(options, session, registry);
    dirac_mcp_hosting::serve_shared_secret(http.options()?, version, &site, server, secret, metrics)
        .await
        .map_err(|e| e.to_string())
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
    let mut sites = Vec::new();
    for spec in &args.site {
        let site = DiracSite::parse(spec, &settings.url)?;
        if sites.iter().any(|s: &DiracSite| s.name == site.name) {
            return Err(format!("--site {}: the name is given twice", site.name));
        }
        sites.push(site);
    }
    if sites.is_empty() {
        sites = DiracSite::every_vo(&client, &settings.url).await?;
    }
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
