//! An OAuth 2.1 authorization server for MCP resource servers (MCP authorization spec
//! 2025-11-25) that logs users in at an upstream and issues its own tokens.
//!
//! MCP clients discover it (RFC 9728, RFC 8414), register (CIMD, stateless DCR, or static), send
//! the user through a consent page to the upstream's login, and receive sealed access and refresh
//! tokens that carry the upstream token inside (DESIGN decision 3: no token passthrough; any replica
//! holding the key set can open them). The resource server checks them with [`TokenVerifier`],
//! which puts the [`Identity`] in the request's extensions.
//!
//! Cargo features (both default): `redis` (the [`RedisStore`] of several replicas) and
//! `polling` (upstreams whose login the bridge polls, with a waiting page: Rucio's). A host
//! that embeds the bridge with a redirecting OpenID upstream turns both off.
//!
//! This crate knows nothing of Rucio, DiracX or MCP transports: backends plug in an [`Upstream`],
//! servers mount [`Bridge::router`] (axum) and check tokens with [`TokenVerifier`]. A server that
//! trusts an issuer's own JWT access tokens checks them with [`JwtVerifier`] (alone, or behind
//! the [`TokenVerifier`] through [`BridgeConfig::upstream_jwt`]). It must not
//! depend on `rucio-client`, `mcp-transports` or any tool crate.

mod cache;
mod clients;
mod error;
mod http_client;
mod jwt;
mod machine;
pub mod metrics;
pub mod oidc;
mod pages;
mod per_user;
mod resource_server;
mod routes;
mod seal;
mod store;
mod tokens;
mod upstream;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::{get, post};
use url::Url;

pub use clients::{ClientInfo, ClientKind, MetadataFetcher, StaticClient};
pub use error::{ConfigError, KeyError, StoreError, UpstreamError};
pub use http_client::builder as http_client_builder;
pub use jwt::{Audience, JWT_BEARER_CLIENT, JwtVerifier, JwtVerifierConfig};
pub use machine::{ClientCredential, MachineClient, MachineIdentity};
pub use metrics::{BridgeMetrics, Outcome};
pub use oidc::{OidcUpstream, OidcUpstreamConfig, RefreshGrant};
pub use per_user::PerUser;
pub use resource_server::{
    IntrospectionClient, IssuerMetadata, ResourceServer, ResourceServerConfig,
};
pub use seal::{KeySet, Purpose};
#[cfg(feature = "redis")]
pub use store::RedisStore;
pub use store::{MemoryStore, Store, StoreFuture, open_store};
#[doc(hidden)]
pub use tokens::bench_support;
pub use tokens::{Identity, TokenRejection, TokenVerifier};
pub use upstream::{LoginStart, Progress, Upstream, UpstreamFuture, UpstreamGrant};

/// The address a request came from (after trusted proxies), set by the embedding server; rate
/// limits count per address when it is there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

/// What the sites of one server share: keys, store, metadata fetcher, metrics.
#[derive(Debug)]
pub struct BridgeShared {
    keys: Arc<KeySet>,
    store: Arc<dyn Store>,
    fetcher: MetadataFetcher,
    metrics: BridgeMetrics,
    /// Logins in progress in this process (for the `sessions{status="pending"}` gauge).
    pending: Mutex<HashMap<String, Instant>>,
}

impl std::fmt::Debug for dyn Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

impl BridgeShared {
    pub fn new(
        keys: Arc<KeySet>,
        store: Arc<dyn Store>,
        fetcher: MetadataFetcher,
        metrics: BridgeMetrics,
    ) -> Self {
        Self { keys, store, fetcher, metrics, pending: Mutex::default() }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Whether `key` has been counted more than `limit` times in the current minute.
    async fn rate_limited(&self, key: &str, limit: u64) -> Result<bool, StoreError> {
        let count = self.store.count(&format!("rate:{key}"), Duration::from_secs(60)).await?;
        Ok(count > limit)
    }

    fn login_started(&self, site: &str, id: &str, timeout: Duration) {
        self.update_pending(site, |p| {
            p.insert(id.to_owned(), Instant::now() + timeout);
        });
    }

    fn login_ended(&self, site: &str, id: &str) {
        self.update_pending(site, |p| {
            p.remove(id);
        });
    }

    fn update_pending(&self, site: &str, change: impl FnOnce(&mut HashMap<String, Instant>)) {
        let mut pending = match self.pending.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        change(&mut pending);
        let now = Instant::now();
        pending.retain(|_, until| *until > now);
        self.metrics.pending(site).set(i64::try_from(pending.len()).unwrap_or(i64::MAX));
    }
}

/// One site's authorization server settings.
#[derive(Clone, Debug)]
pub struct BridgeConfig {
    /// The site name (token audience check, metrics label).
    pub site: String,
    /// How pages name the site ("Rucio at atlas").
    pub site_title: String,
    /// The MCP endpoint clients use, e.g. `https://mcp.example.org/site/atlas/`. The issuer is
    /// this URL without its trailing slash; the bridge's routes live below it.
    pub resource: Url,
    /// Scopes to advertise (none by default: the upstream decides what a user may do).
    pub scopes: Vec<String>,
    pub static_clients: Vec<StaticClient>,
    /// Programs without a person, for the `client_credentials` grant.
    pub machine_clients: Vec<MachineClient>,
    /// How long a user has to finish the upstream login.
    pub login_timeout: Duration,
    /// How long a refresh token lives (the upstream may end it earlier).
    pub refresh_token_ttl: Duration,
    /// Dynamic registrations allowed per client address per minute.
    pub registrations_per_minute: u64,
    /// Access tokens expire this much before the upstream token they carry, so clients refresh
    /// while the upstream can still refresh (Rucio refreshes only unexpired tokens).
    pub expiry_margin: Duration,
    /// A trusted issuer whose JWT access tokens the site's [`TokenVerifier`] also accepts, as
    /// that issuer's users (none by default). Its site must be this one.
    pub upstream_jwt: Option<Arc<JwtVerifier>>,
}

impl BridgeConfig {
    pub fn new(site: impl Into<String>, resource: Url) -> Self {
        let site = site.into();
        Self {
            site_title: site.clone(),
            site,
            resource,
            scopes: Vec::new(),
            static_clients: Vec::new(),
            machine_clients: Vec::new(),
            login_timeout: Duration::from_secs(300),
            refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
            registrations_per_minute: 20,
            expiry_margin: Duration::from_secs(300),
            upstream_jwt: None,
        }
    }
}

/// The authorization server of one site.
pub struct Bridge {
    config: BridgeConfig,
    shared: Arc<BridgeShared>,
    upstream: Arc<dyn Upstream>,
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge").field("site", &self.config.site).finish_non_exhaustive()
    }
}

impl Bridge {
    pub fn new(
        config: BridgeConfig,
        shared: Arc<BridgeShared>,
        upstream: Arc<dyn Upstream>,
    ) -> Result<Self, ConfigError> {
        if !matches!(config.resource.scheme(), "https" | "http") || !config.resource.has_host() {
            return Err(ConfigError::Invalid(format!(
                "the resource URL {} must be http(s) with a host",
                config.resource
            )));
        }
        if config.resource.query().is_some() || config.resource.fragment().is_some() {
            return Err(ConfigError::Invalid(
                "the resource URL must not have a query or fragment".into(),
            ));
        }
        if let Some(jwt) = &config.upstream_jwt
            && jwt.site() != config.site
        {
            return Err(ConfigError::Invalid(format!(
                "the trusted JWT issuer is configured for the site `{}`, not `{}`",
                jwt.site(),
                config.site
            )));
        }
        Ok(Self { config, shared, upstream })
    }

    /// The issuer: the resource URL without its trailing slash (`…/site/atlas`).
    pub fn issuer(&self) -> String {
        canonical(self.config.resource.as_str()).to_owned()
    }

    /// The path of the issuer (`/site/atlas`), under which the endpoints live.
    fn path(&self) -> String {
        canonical(self.config.resource.path()).to_owned()
    }

    fn audience(&self) -> &str {
        canonical(self.config.resource.as_str())
    }

    /// Where the protected-resource metadata is (RFC 9728 §3.1, path inserted).
    pub fn resource_metadata_url(&self) -> String {
        let mut url = self.config.resource.clone();
        url.set_path(&format!("/.well-known/oauth-protected-resource{}", self.path()));
        url.to_string()
    }

    /// The token check of this site's MCP endpoint.
    pub fn verifier(&self) -> TokenVerifier {
        let scope = (!self.config.scopes.is_empty()).then(|| self.config.scopes.join(" "));
        TokenVerifier::new(
            self.shared.keys.clone(),
            self.config.site.clone(),
            self.audience().to_owned(),
            self.resource_metadata_url(),
            scope,
            self.config.upstream_jwt.clone(),
        )
    }

    pub fn metrics(&self) -> &BridgeMetrics {
        &self.shared.metrics
    }

    pub fn site(&self) -> &str {
        &self.config.site
    }

    /// The bridge's routes (full paths): metadata at both RFC 8414 places, and the endpoints
    /// under the issuer path. Metadata, token, register and revoke answer cross-origin requests
    /// (browser-based clients); the pages do not.
    pub fn router(self: &Arc<Self>) -> Router {
        let path = self.path();
        let cors = tower_http::cors::CorsLayer::new()
            .allow_origin(tower_http::cors::Any)
            .allow_methods([http::Method::GET, http::Method::POST, http::Method::OPTIONS])
            .allow_headers([
                http::header::CONTENT_TYPE,
                http::header::AUTHORIZATION,
                http::HeaderName::from_static("mcp-protocol-version"),
            ]);
        let api = Router::new()
            .route(
                &format!("/.well-known/oauth-protected-resource{path}"),
                get(routes::protected_resource),
            )
            .route(
                &format!("/.well-known/oauth-protected-resource{path}/"),
                get(routes::protected_resource),
            )
            .route(
                &format!("{path}/.well-known/oauth-protected-resource"),
                get(routes::protected_resource),
            )
            .route(
                &format!("/.well-known/oauth-authorization-server{path}"),
                get(routes::authorization_server),
            )
            .route(
                &format!("{path}/.well-known/oauth-authorization-server"),
                get(routes::authorization_server),
            )
            .route(&format!("{path}/register"), post(routes::register))
            .route(&format!("{path}/token"), post(routes::token))
            .route(&format!("{path}/revoke"), post(routes::revoke))
            .layer(cors);
        let pages = Router::new()
            .route(&format!("{path}/authorize"), get(routes::authorize))
            .route(&format!("{path}/consent"), post(routes::consent))
            .route(&format!("{path}/callback"), get(routes::callback));
        #[cfg(feature = "polling")]
        let pages = pages.route(&format!("{path}/login/{{id}}"), get(routes::login_status));
        api.merge(pages).with_state(self.clone())
    }
}

/// A stable, irreversible key for a secret (cache keys): SHA-256, base64url.
pub fn token_key(secret: &str) -> String {
    seal::sha256_b64(secret.as_bytes())
}

fn canonical(url: &str) -> &str {
    url.trim_end_matches('/')
}

// The end-to-end tests of the routes run with a polling upstream.
#[cfg(all(test, feature = "polling"))]
mod tests;
