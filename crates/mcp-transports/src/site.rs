//! A site: one MCP endpoint under `/site/{name}/` with its own tool set (an rmcp handler), its own
//! backend, its own bearer check and, optionally, routes of its own (the OAuth bridge's).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use futures_util::future::BoxFuture;
use http::Request;
use rmcp::ServerHandler;
use rmcp::model::ListToolsResult;
use rmcp::transport::streamable_http_server::session::SessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use crate::auth::{BearerAuth, BearerVerifier, require_bearer};
use crate::health::ReadinessCheck;
use crate::landing::SiteAccess;
use crate::sessions::{SessionRecords, SessionTimes, SleepingSessions};
use crate::tool_list::{self, CachedToolList};

type BuildEndpoint = Box<
    dyn FnOnce(StreamableHttpServerConfig, SessionTimes) -> (Router, Arc<SessionRecords>) + Send,
>;

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
    /// The serialized `tools/list` result, when the tool list never changes.
    pub(crate) tool_list: Option<bytes::Bytes>,
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
        let build: BuildEndpoint = Box::new(move |mut config, times| {
            let (sessions, records) =
                SleepingSessions::new(times, config.cancellation_token.clone());
            config.session_store = Some(records.clone());
            let service = SharedEndpoint(Arc::new(StreamableHttpService::new(
                move || Ok(handler.clone()),
                sessions,
                config,
            )));
            let router = Router::new()
                .route_service(&path, service.clone())
                .route_service(&format!("{path}/"), service);
            (router, records)
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
            tool_list: None,
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

    /// Declares the site's tool list fixed: `tools/list` is then answered from these bytes,
    /// serialized once, instead of by the handler. The list must be what the handler's
    /// `list_tools` returns, for every session.
    pub fn with_tool_list(mut self, list: &ListToolsResult) -> Result<Self, serde_json::Error> {
        self.tool_list = Some(tool_list::serialize(list)?);
        Ok(self)
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

    /// Puts the site behind an external authorization server's tokens (resource-server mode):
    /// checked by `server` at the MCP endpoint, its RFC 9728 metadata mounted beside it (Host
    /// check only: browser-based clients read it).
    pub fn with_resource_server(mut self, server: &Arc<mcp_oauth_bridge::ResourceServer>) -> Self {
        self.verifier = Some(Arc::new(crate::oauth::ResourceServerVerifier::new(server.clone())));
        self.access = SiteAccess::ResourceServer;
        self.public_routes = Some(server.router());
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The site's routers (behind Host and Origin checks, behind the Host check only) and its
    /// session records.
    pub(crate) fn into_routers(
        mut self,
        config: StreamableHttpServerConfig,
        times: SessionTimes,
    ) -> (Router, Option<Router>, Arc<SessionRecords>) {
        let public = self.public_routes.take();
        let (router, sessions) = self.into_router(config, times);
        (router, public, sessions)
    }

    fn into_router(
        self,
        config: StreamableHttpServerConfig,
        times: SessionTimes,
    ) -> (Router, Arc<SessionRecords>) {
        let (mut endpoint, sessions) = (self.build)(config, times);
        if let Some(list) = self.tool_list {
            endpoint = endpoint.route_layer(axum::middleware::from_fn_with_state(
                CachedToolList::new(list, sessions.clone()),
                tool_list::answer,
            ));
        }
        let mut endpoint =
            endpoint.route_layer(axum::middleware::from_fn(crate::layers::json_rpc_errors));
        if let Some(verifier) = self.verifier {
            endpoint = endpoint.route_layer(axum::middleware::from_fn_with_state(
                BearerAuth::new(verifier),
                require_bearer,
            ));
        }
        let router = match self.routes {
            Some(routes) => endpoint.merge(routes),
            None => endpoint,
        };
        (router, sessions)
    }
}

/// rmcp's service behind an `Arc`. The router clones its service for every request, and rmcp's
/// own `call` clones it again: with its configuration (host lists, a cancellation token) that was
/// a tenth of the server's CPU under load. Here a request costs one reference count.
struct SharedEndpoint<S, M>(Arc<StreamableHttpService<S, M>>);

impl<S, M> Clone for SharedEndpoint<S, M> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<S, M> tower::Service<Request<Body>> for SharedEndpoint<S, M>
where
    S: ServerHandler + Send + 'static,
    M: SessionManager,
{
    type Response = http::Response<
        http_body_util::combinators::BoxBody<bytes::Bytes, std::convert::Infallible>,
    >;
    type Error = std::convert::Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let service = self.0.clone();
        Box::pin(async move { Ok(service.handle(request).await) })
    }
}
