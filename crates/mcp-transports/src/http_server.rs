//! The HTTP server: binds, composes the layer stack around the sites, serves with hyper, and shuts
//! down gracefully.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::response::IntoResponse as _;
use axum::routing::get;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use prometheus_client::registry::Registry;
use rmcp::transport::streamable_http_server::StreamableHttpServerConfig;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;
use url::Url;

use crate::health::{self, Readiness};
use crate::landing::LandingPage;
use crate::layers::{self, HostPolicy, InFlight, PeerAddr, TrustedProxies};
use crate::linger::LingeringStream;
use crate::metrics::{self, HttpMetrics, ProcessCollector, SessionsCollector};
use crate::sessions::SessionTimes;
use crate::{Site, TransportError};

/// How the HTTP server runs; `Default` gives safe values for everything but the addresses.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    pub listen: SocketAddr,
    /// The public base URL clients use (`https://mcp.example.org/`): its host is the one `Host`
    /// must name, its origin the one browsers may send. Defaults to `http://{listen}/`.
    pub resource_url: Option<Url>,
    /// More browser origins to accept (`https://app.example.org`).
    pub allowed_origins: Vec<String>,
    pub trusted_proxies: TrustedProxies,
    pub max_body_bytes: usize,
    /// Time to a response head.
    pub request_timeout: Duration,
    pub max_concurrent_requests: usize,
    /// How long shutdown waits for running calls.
    pub shutdown_grace: Duration,
    /// An MCP session without requests for this long is forgotten (the client initializes again).
    pub session_idle_timeout: Duration,
    /// An MCP session with nothing running for this long after its last request is put to sleep:
    /// it keeps only its client's `initialize` parameters and wakes at its next request.
    pub session_sleep_after: Duration,
    /// Where `/metrics` is served; `None`: not at all.
    pub metrics_listen: Option<SocketAddr>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8000)),
            resource_url: None,
            allowed_origins: Vec::new(),
            trusted_proxies: TrustedProxies::default(),
            max_body_bytes: 4 * 1024 * 1024,
            request_timeout: Duration::from_secs(60),
            max_concurrent_requests: 1024,
            shutdown_grace: Duration::from_secs(30),
            session_idle_timeout: Duration::from_secs(30 * 60),
            session_sleep_after: Duration::from_secs(5),
            metrics_listen: Some(SocketAddr::from(([127, 0, 0, 1], 9001))),
        }
    }
}

/// An HTTP server being put together: options, sites and the metrics registry.
#[derive(Debug)]
pub struct HttpServer {
    options: HttpOptions,
    product: String,
    version: String,
    sites: Vec<Site>,
    registry: Registry,
}

impl HttpServer {
    /// `product` and `version` name the server on its landing page.
    pub fn new(options: HttpOptions, product: &str, version: &str) -> Self {
        Self {
            options,
            product: product.to_owned(),
            version: version.to_owned(),
            sites: Vec::new(),
            registry: Registry::default(),
        }
    }

    pub fn site(mut self, site: Site) -> Self {
        self.sites.push(site);
        self
    }

    /// The registry `/metrics` serves: register the application's metrics here.
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// Binds the listeners (so port 0 becomes a real port) and builds the whole service.
    pub async fn bind(self) -> Result<Listening, TransportError> {
        let Self { options, product, version, sites, mut registry } = self;
        if sites.is_empty() {
            return Err(TransportError::InvalidOption {
                option: "sites",
                reason: "at least one site must be mounted".into(),
            });
        }
        let listener = bind(options.listen).await?;
        let local = listener
            .local_addr()
            .map_err(|source| TransportError::Bind { addr: options.listen, source })?;
        let metrics_listener = match options.metrics_listen {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        let resource_url = match &options.resource_url {
            Some(url) => url.clone(),
            None if local.ip().is_unspecified() => {
                return Err(TransportError::InvalidOption {
                    option: "resource URL",
                    reason: format!(
                        "listening on all interfaces ({local}) needs the public URL clients use, to know which Host to accept"
                    ),
                });
            }
            None => Url::parse(&format!("http://{local}/")).map_err(|e| {
                TransportError::InvalidOption { option: "listen address", reason: e.to_string() }
            })?,
        };
        let policy = host_policy(&resource_url, local, &options.allowed_origins)?;

        let cancel = CancellationToken::new();
        let rmcp_config = StreamableHttpServerConfig::default()
            .with_allowed_hosts(policy.rmcp_hosts())
            .with_allowed_origins(policy.rmcp_origins())
            .with_max_request_body_bytes(options.max_body_bytes)
            .with_cancellation_token(cancel.clone());

        let site_names: Vec<String> = sites.iter().map(|s| s.name.clone()).collect();
        let base = resource_url.as_str().trim_end_matches('/').to_owned();
        let landing = Arc::new(LandingPage {
            product,
            version,
            sites: sites
                .iter()
                .map(|s| {
                    (
                        s.name.clone(),
                        s.description.clone(),
                        s.access,
                        format!("{base}/site/{}/", s.name),
                    )
                })
                .collect(),
        });
        let session_times = SessionTimes {
            sleep_after: options.session_sleep_after.min(options.session_idle_timeout),
            expire_after: options.session_idle_timeout,
        };
        let mut readiness = Readiness::default();
        let mut guarded = Router::new();
        let mut public = Router::new();
        let mut sessions = SessionsCollector::default();
        for site in sites {
            if let Some(check) = &site.readiness {
                readiness.add(&site.name, check.clone());
            }
            let name = site.name.clone();
            let (site_routes, public_routes, records) =
                site.into_routers(rmcp_config.clone(), session_times);
            sessions.sites.push((name, records));
            guarded = guarded.merge(site_routes);
            if let Some(routes) = public_routes {
                public = public.merge(routes);
            }
        }
        let policy = Arc::new(policy);
        let guarded = guarded
            .route("/", get(move || std::future::ready(landing.response())))
            .layer(layers::body_limit(options.max_body_bytes))
            .layer(axum::middleware::from_fn_with_state(policy.clone(), layers::host_and_origin));
        let public = public
            .layer(layers::body_limit(options.max_body_bytes))
            .layer(axum::middleware::from_fn_with_state(policy, layers::host_only));
        let guarded = guarded.merge(public);
        let probes = Router::new()
            .route("/healthz", get(health::healthz))
            .route("/readyz", get(health::readyz))
            .with_state(readiness);

        let http_metrics = HttpMetrics::new(site_names);
        http_metrics.register(&mut registry);
        registry.register_collector(Box::new(ProcessCollector::default()));
        registry.register_collector(Box::new(sessions));
        let in_flight = InFlight::default();
        let app = guarded.merge(probes).fallback(not_found).layer(
            ServiceBuilder::new()
                .layer(layers::trace())
                .layer(axum::middleware::from_fn_with_state(
                    Arc::new(options.trusted_proxies.clone()),
                    layers::forwarded,
                ))
                .layer(axum::middleware::from_fn_with_state(http_metrics, HttpMetrics::track))
                .layer(axum::middleware::from_fn_with_state(
                    in_flight.clone(),
                    layers::track_in_flight,
                ))
                .layer(HandleErrorLayer::new(layers::overload_response))
                .load_shed()
                .layer(layers::concurrency(options.max_concurrent_requests))
                .layer(layers::timeout(options.request_timeout)),
        );
        Ok(Listening {
            listener,
            local,
            metrics_listener,
            app,
            registry: Arc::new(registry),
            in_flight,
            cancel,
            grace: options.shutdown_grace,
            resource_url,
        })
    }
}

async fn not_found() -> (http::StatusCode, &'static str) {
    (http::StatusCode::NOT_FOUND, "not found: MCP endpoints are under /site/{name}/")
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, TransportError> {
    TcpListener::bind(addr).await.map_err(|source| TransportError::Bind { addr, source })
}

/// The Host and Origin values to accept: the resource URL's, the loopback names when the server
/// listens on loopback (or everywhere), and the extra origins.
fn host_policy(
    resource_url: &Url,
    local: SocketAddr,
    extra_origins: &[String],
) -> Result<HostPolicy, TransportError> {
    let invalid = |reason: String| TransportError::InvalidOption {
        option: "allowed hosts or origins",
        reason,
    };
    let public_host =
        resource_url.host_str().ok_or_else(|| invalid(format!("{resource_url} has no host")))?;
    let public_port = resource_url.port_or_known_default().unwrap_or(80);
    let public_host = if public_host.contains(':') && !public_host.starts_with('[') {
        format!("[{public_host}]")
    } else {
        public_host.to_owned()
    };
    let mut hosts = vec![format!("{public_host}:{public_port}")];
    let mut origins = vec![resource_url.origin().ascii_serialization()];
    let ip = local.ip();
    if ip.is_loopback() || ip.is_unspecified() {
        let port = local.port();
        for name in ["127.0.0.1", "localhost", "[::1]"] {
            hosts.push(format!("{name}:{port}"));
            origins.push(format!("http://{name}:{port}"));
        }
    }
    origins.extend(extra_origins.iter().cloned());
    HostPolicy::new(hosts.iter().map(String::as_str), origins.iter().map(String::as_str))
        .map_err(invalid)
}

/// A bound server, ready to serve.
pub struct Listening {
    listener: TcpListener,
    local: SocketAddr,
    metrics_listener: Option<TcpListener>,
    app: Router,
    registry: Arc<Registry>,
    in_flight: InFlight,
    cancel: CancellationToken,
    grace: Duration,
    resource_url: Url,
}

impl std::fmt::Debug for Listening {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listening").field("local", &self.local).finish_non_exhaustive()
    }
}

impl Listening {
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The public base URL (the resource URL, or the listen address).
    pub fn resource_url(&self) -> &Url {
        &self.resource_url
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets running calls finish (at most
    /// the grace period), closes the remaining streams and sessions, and returns.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), TransportError> {
        let Self { listener, metrics_listener, app, registry, in_flight, cancel, grace, .. } = self;
        let stop_metrics = CancellationToken::new();
        let metrics_task = metrics_listener
            .map(|l| tokio::spawn(serve_metrics(l, registry, stop_metrics.clone())));

        let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        builder.http1().timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(30));
        let graceful = GracefulShutdown::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            // Answers are small writes (an SSE event, a JSON body): without this, Nagle's
            // algorithm and the peer's delayed ACK can hold each one back for tens of ms.
            if let Err(e) = stream.set_nodelay(true) {
                tracing::debug!(error = %e, "cannot set TCP_NODELAY");
            }
            let service = tower::ServiceExt::map_request(
                app.clone(),
                move |mut request: http::Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(PeerAddr(peer));
                    request
                },
            );
            let connection = builder
                .serve_connection_with_upgrades(
                    // Lingers on close, so an answer sent before the whole request was read
                    // (413, 401) reaches a client that is still writing, instead of a reset.
                    TokioIo::new(LingeringStream::new(stream)),
                    hyper_util::service::TowerToHyperService::new(service),
                )
                .into_owned();
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, %peer, "connection ended with an error");
                }
            });
        }
        drop(listener);
        tracing::info!(
            calls = in_flight.calls(),
            "shutting down: no new connections; waiting for running calls"
        );
        let started = Instant::now();
        while in_flight.calls() > 0 && started.elapsed() < grace {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if in_flight.calls() > 0 {
            tracing::warn!(
                calls = in_flight.calls(),
                "grace period over; cancelling the calls still running"
            );
        }
        // Ends the MCP sessions and their open streams, so the connections can close.
        cancel.cancel();
        if tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await.is_err() {
            tracing::warn!("some connections did not close in time");
        }
        stop_metrics.cancel();
        if let Some(task) = metrics_task {
            let _ = task.await;
        }
        tracing::info!("HTTP server stopped");
        Ok(())
    }
}

async fn serve_metrics(listener: TcpListener, registry: Arc<Registry>, stop: CancellationToken) {
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let registry = registry.clone();
            async move {
                match metrics::render(&registry) {
                    Ok(text) => ([(http::header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text)
                        .into_response(),
                    Err(_) => {
                        (http::StatusCode::INTERNAL_SERVER_ERROR, "metrics could not be encoded")
                            .into_response()
                    }
                }
            }
        }),
    );
    let served = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned()).await;
    if let Err(e) = served {
        tracing::warn!(error = %e, "the metrics server stopped");
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::terminate(),
        ) {
            Ok(term) => term,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the server");
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => tracing::info!("SIGINT received"),
            _ = term.recv() => tracing::info!("SIGTERM received"),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
