//! Shared-secret mode, whole: one site behind one static bearer, served until SIGTERM or Ctrl-C;
//! and the start of a server of many sites. What rucio-mcp and dirac-mcp do the same way; their
//! hosting crates build the sites.

use std::sync::Arc;

use prometheus_client::registry::Registry;
use secrecy::SecretString;

use crate::auth::SharedSecret;
use crate::{HttpOptions, HttpServer, Listening, Site, SiteAccess, TransportError};

/// Serves `site` behind `secret` (realm `product`); `register` adds the caller's metrics to the
/// server's registry first.
pub async fn serve_shared_secret(
    options: HttpOptions,
    product: &str,
    version: &str,
    site: Site,
    secret: SecretString,
    register: impl FnOnce(&mut Registry),
) -> Result<(), TransportError> {
    let name = site.name().to_owned();
    let site =
        site.with_verifier(Arc::new(SharedSecret::new(secret, product)), SiteAccess::SharedSecret);
    let mut http = HttpServer::new(options, product, version);
    register(http.registry_mut());
    let listening = http.site(site).bind().await?;
    let base = listening.resource_url().as_str().trim_end_matches('/').to_owned();
    tracing::info!(
        mcp = %format!("{base}/site/{name}/"),
        listen = %listening.local_addr(),
        metrics = %metrics_url(&listening),
        "serving MCP over streamable HTTP (shared-secret mode)"
    );
    listening.serve(crate::shutdown_signal()).await
}

/// The servers of many sites (OIDC bridge and resource-server modes), whole: binds `server`,
/// writes the start-up line naming `mode` and the sites' URLs, and serves until SIGTERM or
/// Ctrl-C.
pub async fn serve_sites(
    server: HttpServer,
    urls: &[String],
    mode: &str,
    read_only: bool,
) -> Result<(), TransportError> {
    let listening = server.bind().await?;
    tracing::info!(
        mcp = %urls.first().cloned().unwrap_or_default(),
        sites = %urls.join(","),
        listen = %listening.local_addr(),
        metrics = %metrics_url(&listening),
        read_only,
        "serving MCP over streamable HTTP ({mode})"
    );
    listening.serve(crate::shutdown_signal()).await
}

/// Where `/metrics` is, for the start-up line: `http://ADDR/metrics`, or `off`.
pub fn metrics_url(listening: &Listening) -> String {
    listening.metrics_addr().map_or_else(|| "off".to_owned(), |a| format!("http://{a}/metrics"))
}
