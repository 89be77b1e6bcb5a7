//! Finding the authorization server of a remote MCP server: its protected-resource metadata
//! (RFC 9728, named by the 401's challenge or at the path-inserted well-known URL), then the
//! authorization server's metadata (RFC 8414, then OpenID Connect discovery, both with path
//! insertion). The issuer a document names must be the one asked for, and every fetch is bounded
//! in time, so a broken server gives an error within seconds instead of a hang.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::challenge::Challenge;
use crate::error::OAuthError;

/// How long one metadata request may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// How long all of discovery may take.
pub const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(12);
/// The largest metadata document read.
const MAX_DOCUMENT: usize = 256 * 1024;

/// RFC 9728 protected-resource metadata (the fields the proxy uses).
#[derive(Clone, Debug, Deserialize)]
pub struct ResourceMetadata {
    pub resource: Option<String>,
    #[serde(default)]
    pub authorization_servers: Vec<String>,
    #[serde(default)]
    pub scopes_supported: Vec<String>,
}

/// RFC 8414 / OpenID Connect metadata (the fields the proxy uses), kept in the token cache so a
/// refresh needs no discovery.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct ServerMetadata {
    pub issuer: String,
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_authorization_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grant_types_supported: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub code_challenge_methods_supported: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub token_endpoint_auth_methods_supported: Vec<String>,
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
    #[serde(default)]
    pub client_id_metadata_document_supported: bool,
}

impl ServerMetadata {
    /// Refresh tokens are on offer: the grant is listed (or no grant list is given, RFC 8414's
    /// default of code and implicit aside, most servers that omit it refresh).
    pub fn offers_refresh(&self) -> bool {
        self.grant_types_supported.is_empty()
            || self.grant_types_supported.iter().any(|g| g == "refresh_token")
    }
}

/// Where the remote's tokens come from, and for which resource.
#[derive(Clone, Debug)]
pub struct Discovered {
    /// The RFC 8707 resource: the metadata's `resource`, else the MCP URL itself.
    pub resource: String,
    pub server: ServerMetadata,
    /// Scopes the resource asks for (challenge first, then its metadata).
    pub scopes: Vec<String>,
}

/// Discovers the authorization server for `backend`, from the 401's challenge (if any) and the
/// configured issuer (which wins over the one the resource names).
pub async fn discover(
    http: &reqwest::Client,
    backend: &Url,
    challenge: Option<&Challenge>,
    configured_issuer: Option<&str>,
) -> Result<Discovered, OAuthError> {
    tokio::time::timeout(
        DISCOVERY_TIMEOUT,
        discover_inner(http, backend, challenge, configured_issuer),
    )
    .await
    .map_err(|_| {
        OAuthError::Discovery(format!(
            "discovery took longer than {} s; the authorization server (or {}) does not answer",
            DISCOVERY_TIMEOUT.as_secs(),
            origin(backend)
        ))
    })?
}

async fn discover_inner(
    http: &reqwest::Client,
    backend: &Url,
    challenge: Option<&Challenge>,
    configured_issuer: Option<&str>,
) -> Result<Discovered, OAuthError> {
    let resource_metadata = resource_metadata(http, backend, challenge).await;
    let mut scopes: Vec<String> = challenge
        .and_then(|c| c.scope.as_deref())
        .map(|s| s.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    let mut resource = backend.as_str().to_owned();
    let mut named_issuer = None;
    match resource_metadata {
        Ok(Some(meta)) => {
            if let Some(named) = meta.resource.as_deref() {
                if !covers(named, backend) {
                    return Err(OAuthError::Discovery(format!(
                        "the protected-resource metadata is for {}, which is not {backend} nor above it; refusing it",
                        outbound_http::quote(named)
                    )));
                }
                resource = named.to_owned();
            }
            if scopes.is_empty() {
                scopes = meta.scopes_supported;
            }
            named_issuer = meta.authorization_servers.into_iter().next();
        }
        Ok(None) => {}
        Err(e) if configured_issuer.is_some() => {
            tracing::debug!("protected-resource metadata: {e}; using the configured issuer");
        }
        Err(e) => return Err(e),
    }
    let issuer = match (configured_issuer, named_issuer) {
        (Some(issuer), _) => issuer.to_owned(),
        (None, Some(issuer)) => issuer,
        // MCP 2025-03-26: no resource metadata; the server's origin is its authorization server.
        (None, None) => return legacy(http, backend, resource, scopes).await,
    };
    let server = server_metadata(http, &issuer).await?;
    Ok(Discovered { resource, server, scopes })
}

/// The authorization server of a 2025-03-26 server: its origin's RFC 8414 metadata, else the
/// default endpoints `/authorize`, `/token` and `/register` there.
async fn legacy(
    http: &reqwest::Client,
    backend: &Url,
    resource: String,
    scopes: Vec<String>,
) -> Result<Discovered, OAuthError> {
    let origin = origin(backend);
    let url = Url::parse(&origin)
        .map_err(|_| OAuthError::Discovery(format!("{backend} has no origin to sign in at")))?;
    let server = match fetch_json::<ServerMetadata>(
        http,
        &well_known(&url, "oauth-authorization-server", false)[0],
    )
    .await
    {
        // 2025-03-26 asks for no issuer equality: one of the same origin is the server's own.
        Ok(Some(meta)) => {
            let same_origin =
                Url::parse(&meta.issuer).is_ok_and(|issuer| issuer.origin() == url.origin());
            let issuer = if same_origin { meta.issuer.clone() } else { origin.clone() };
            checked(meta, &issuer, &url)?
        }
        Ok(None) => {
            tracing::info!(
                "{backend} names no authorization server; using the default endpoints of {origin}"
            );
            ServerMetadata {
                issuer: origin.clone(),
                authorization_endpoint: Some(format!("{origin}/authorize")),
                token_endpoint: format!("{origin}/token"),
                registration_endpoint: Some(format!("{origin}/register")),
                device_authorization_endpoint: None,
                revocation_endpoint: None,
                scopes_supported: Vec::new(),
                grant_types_supported: Vec::new(),
                code_challenge_methods_supported: Vec::new(),
                token_endpoint_auth_methods_supported: Vec::new(),
                authorization_response_iss_parameter_supported: false,
                client_id_metadata_document_supported: false,
            }
        }
        Err(e) => {
            return Err(OAuthError::Discovery(format!(
                "{backend} names no authorization server (no RFC 9728 metadata) and {origin} has none: {e}; give one with --oidc-issuer-url"
            )));
        }
    };
    Ok(Discovered { resource, server, scopes })
}

/// The resource's RFC 9728 document: `Ok(None)` when it has none (404 at every place).
async fn resource_metadata(
    http: &reqwest::Client,
    backend: &Url,
    challenge: Option<&Challenge>,
) -> Result<Option<ResourceMetadata>, OAuthError> {
    let mut candidates = Vec::new();
    if let Some(named) = challenge.and_then(|c| c.resource_metadata.as_deref()) {
        let url = Url::parse(named).map_err(|_| {
            OAuthError::Discovery(format!(
                "the 401 names an invalid resource_metadata URL: {named}"
            ))
        })?;
        candidates.push(url);
    } else {
        candidates.extend(well_known(backend, "oauth-protected-resource", true));
    }
    for url in candidates {
        match fetch_json::<ResourceMetadata>(http, &url).await? {
            Some(meta) => return Ok(Some(meta)),
            None => continue,
        }
    }
    Ok(None)
}

/// The issuer's metadata from the first place that has it; its `issuer` must be the one asked for.
pub async fn server_metadata(
    http: &reqwest::Client,
    issuer: &str,
) -> Result<ServerMetadata, OAuthError> {
    let url = Url::parse(issuer)
        .map_err(|_| OAuthError::Discovery(format!("the issuer {issuer} is not a URL")))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(OAuthError::Discovery(format!("the issuer {issuer} is not an http(s) URL")));
    }
    let mut candidates = well_known(&url, "oauth-authorization-server", false);
    candidates.extend(well_known(&url, "openid-configuration", false));
    if url.path() != "/" && !url.path().is_empty() {
        // OpenID Connect discovery appends, rather than inserts
        let mut appended = url.clone();
        appended.set_path(&format!(
            "{}/.well-known/openid-configuration",
            url.path().trim_end_matches('/')
        ));
        candidates.push(appended);
    }
    for candidate in &candidates {
        let Some(meta) = fetch_json::<ServerMetadata>(http, candidate).await? else { continue };
        return checked(meta, issuer, candidate);
    }
    Err(OAuthError::Discovery(format!(
        "{issuer} publishes no authorization server metadata (tried {})",
        candidates.iter().map(Url::as_str).collect::<Vec<_>>().join(", ")
    )))
}

/// An authorization server's metadata from `candidate`, if it is for `issuer`, names http(s)
/// endpoints and allows PKCE with S256.
fn checked(
    meta: ServerMetadata,
    issuer: &str,
    candidate: &Url,
) -> Result<ServerMetadata, OAuthError> {
    if trim(&meta.issuer) != trim(issuer) {
        return Err(OAuthError::Discovery(format!(
            "{candidate} describes the issuer {}, not {issuer}; refusing it (a mix-up or a misconfigured server)",
            outbound_http::quote(&meta.issuer)
        )));
    }
    for endpoint in
        [meta.authorization_endpoint.as_deref(), Some(&meta.token_endpoint)].into_iter().flatten()
    {
        let ok = Url::parse(endpoint).is_ok_and(|u| matches!(u.scheme(), "https" | "http"));
        if !ok {
            return Err(OAuthError::Discovery(format!(
                "{candidate} names an endpoint that is not an http(s) URL"
            )));
        }
    }
    if !meta.code_challenge_methods_supported.is_empty()
        && !meta.code_challenge_methods_supported.iter().any(|m| m == "S256")
    {
        return Err(OAuthError::Discovery(format!(
            "{issuer} does not support PKCE with S256, which the proxy requires"
        )));
    }
    Ok(meta)
}

/// `origin/.well-known/NAME/path` (RFC 8414 §3.1 path insertion), then, when `also_root`,
/// `origin/.well-known/NAME`.
fn well_known(url: &Url, name: &str, also_root: bool) -> Vec<Url> {
    let path = url.path().trim_end_matches('/');
    let mut out = Vec::new();
    let mut inserted = url.clone();
    inserted.set_query(None);
    inserted.set_fragment(None);
    inserted.set_path(&format!("/.well-known/{name}{path}"));
    out.push(inserted.clone());
    if also_root && !path.is_empty() {
        inserted.set_path(&format!("/.well-known/{name}"));
        out.push(inserted);
    }
    out
}

/// A JSON document; `Ok(None)` on 404/410 (look elsewhere), an error on anything else broken.
async fn fetch_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &Url,
) -> Result<Option<T>, OAuthError> {
    let response = http
        .get(url.clone())
        .header(http::header::ACCEPT, "application/json")
        .timeout(FETCH_TIMEOUT)
        .send()
        .await
        .map_err(|e| OAuthError::Discovery(format!("{url}: {}", outbound_http::describe(&e))))?;
    let status = response.status();
    if status == http::StatusCode::NOT_FOUND || status == http::StatusCode::GONE {
        return Ok(None);
    }
    if !status.is_success() {
        return Err(OAuthError::Discovery(format!("{url} answered HTTP {status}")));
    }
    let body = outbound_http::read_limited(response, MAX_DOCUMENT)
        .await
        .map_err(|e| OAuthError::Discovery(format!("{url}: {e}")))?;
    serde_json::from_slice(&body).map(Some).map_err(|e| {
        OAuthError::Discovery(format!(
            "{url} is not valid metadata: {}",
            outbound_http::quote(&e.to_string())
        ))
    })
}

pub fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// Whether the resource `named` is the MCP URL or one above it (same origin, a path prefix at
/// a segment boundary): a server may name its origin as the resource of all its endpoints.
fn covers(named: &str, backend: &Url) -> bool {
    let Ok(named) = Url::parse(named) else { return false };
    if named.origin() != backend.origin() || named.query().is_some() {
        return false;
    }
    let above = named.path().trim_end_matches('/');
    let path = backend.path().trim_end_matches('/');
    path == above || path.strip_prefix(above).is_some_and(|rest| rest.starts_with('/'))
}

fn trim(url: &str) -> &str {
    url.trim_end_matches('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resource_covers_its_own_url_and_those_below_it() {
        let mcp = Url::parse("https://mcp.example/site/atlas/").unwrap_or_else(|_| unreachable!());
        for named in [
            "https://mcp.example/site/atlas/",
            "https://mcp.example/site/atlas",
            "https://mcp.example",
            "https://mcp.example/site",
        ] {
            assert!(covers(named, &mcp), "{named}");
        }
        for named in [
            "https://mcp.example/site/atl",
            "https://other.example/",
            "http://mcp.example/",
            "https://mcp.example/site/atlas/x",
            "https://mcp.example/?a=b",
            "not a url",
        ] {
            assert!(!covers(named, &mcp), "{named}");
        }
    }

    #[test]
    fn well_known_urls_insert_the_path() {
        let u = |s: &str| Url::parse(s).unwrap_or_else(|_| panic!("{s}"));
        let got: Vec<String> =
            well_known(&u("https://as.example/realms/x"), "openid-configuration", false)
                .iter()
                .map(|u| u.to_string())
                .collect();
        assert_eq!(got, ["https://as.example/.well-known/openid-configuration/realms/x"]);
        let got: Vec<String> =
            well_known(&u("https://mcp.example/mcp?x=1"), "oauth-protected-resource", true)
                .iter()
                .map(|u| u.to_string())
                .collect();
        assert_eq!(
            got,
            [
                "https://mcp.example/.well-known/oauth-protected-resource/mcp",
                "https://mcp.example/.well-known/oauth-protected-resource"
            ]
        );
        let got = well_known(&u("https://as.example"), "oauth-authorization-server", true);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].as_str(), "https://as.example/.well-known/oauth-authorization-server");
    }
}
