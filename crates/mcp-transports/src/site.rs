//! A site: one MCP endpoint under `/site/{name}/` with its own tool set (an rmcp handler), its own
//! backend, its own bearer check and, optionally, routes of its own (the OAuth bridge's).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use rmcp::ServerHandler;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use crate::auth::{BearerAuth, BearerVerifier, require_bearer};
use crate::health::ReadinessCheck;
use crate::landing::SiteAccess;

type BuildEndpoint = Box<dyn FnOnce(StreamableHttpServerConfig, Duration) -> Router + Send>;

/// One site to mount.
pub struct Site {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) access: SiteAccess,
    pub(crate) build: BuildEndpoint,
    pub(crate) verifier: Option<Arc<dyn BearerVerifier>>,
    pub(crate) readiness: Option<Arc<dyn ReadinessCheck>>,
    pub(crate) routes: Option<Router>,
    /// Routes that browsers and other origins reach (the OAuth bridge's): Host-checked only.
    pub(crate) public_routes: Option<Router>,
}

impl std::fmt::Debug for Site {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Site").field("name", &self.name).finish_non_exhaustive()
    }
}

impl Site {
    /// A site serving `handler`; each MCP session gets a clone of it.
    pub fn new<S>(name: impl Into<String>, handler: S) -> Self
    where
        S: ServerHandler + Clone + Send + Sync + 'static,
    {
        let name = name.into();
        let path = format!("/site/{name}");
        let build: BuildEndpoint = Box::new(move |config, idle| {
            let mut sessions = LocalSessionManager::default();
            sessions.session_config.keep_alive = Some(idle);
            let service =
                StreamableHttpService::new(move || Ok(handler.clone()), Arc::new(sessions), config);
            Router::new()
                .route_service(&path, service.clone())
                .route_service(&format!("{path}/"), service)
        });
        Self {
            name,
            description: String::new(),
            access: SiteAccess::Open,
            build,
            verifier: None,
            readiness: None,
            routes: None,
            public_routes: None,
        }
    }

    /// A line for the landing page.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Requests must pass `verifier` before they reach the MCP endpoint.
    pub fn with_verifier(mut self, verifier: Arc<dyn BearerVerifier>, access: SiteAccess) -> Self {
        self.verifier = Some(verifier);
        self.access = access;
        self
    }

    /// Part of `/readyz`: the backend of this site.
    pub fn with_readiness(mut self, check: Arc<dyn ReadinessCheck>) -> Self {
        self.readiness = Some(check);
        self
    }

    /// Extra routes (full paths), served behind the same Host/Origin checks but not the bearer.
    pub fn with_routes(mut self, routes: Router) -> Self {
        self.routes = Some(routes);
        self
    }

    /// Puts the site behind the OAuth bridge: its tokens are required at the MCP endpoint and
    /// its discovery, registration, authorization and token routes are mounted beside it. They
    /// answer other origins (browser-based clients; the bridge sets CORS and guards its own
    /// forms), so only the Host check applies to them.
    pub fn with_oauth(mut self, bridge: &Arc<mcp_oauth_bridge::Bridge>) -> Self {
        let (verifier, routes) = crate::oauth::parts(bridge);
        self.verifier = Some(verifier);
        self.access = SiteAccess::OAuth;
        self.public_routes = Some(routes);
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The site's router: the MCP endpoint behind its bearer check, and its extra routes.
    /// The site's routers: (behind Host and Origin checks, behind the Host check only).
    pub(crate) fn into_routers(
        mut self,
        config: StreamableHttpServerConfig,
        idle: Duration,
    ) -> (Router, Option<Router>) {
        let public = self.public_routes.take();
        (self.into_router(config, idle), public)
    }

    fn into_router(self, config: StreamableHttpServerConfig, idle: Duration) -> Router {
        let mut endpoint = (self.build)(config, idle)
            .route_layer(axum::middleware::from_fn(crate::layers::json_rpc_errors));
        if let Some(verifier) = self.verifier {
            endpoint = endpoint.route_layer(axum::middleware::from_fn_with_state(
                BearerAuth::new(verifier),
                require_bearer,
            ));
        }
        match self.routes {
            Some(routes) => endpoint.merge(routes),
            None => endpoint,
        }
    }
}
