//! The tower layers every HTTP request passes, each built by one small function, composed in
//! [`crate::HttpServer`] in this order (outermost first):
//!
//! 1. [`trace`]: one span per request (method and path, never the query, which may hold secrets);
//! 2. [`forwarded`]: `X-Forwarded-*` honoured from trusted proxies only, stripped otherwise;
//! 3. HTTP metrics ([`crate::metrics::HttpMetrics::track`]), by route template;
//! 4. [`InFlight`]: counts requests until their response body ends, so shutdown can wait for them;
//! 5. load shedding + [`concurrency`] limit (503 beyond it) and [`timeout`] (504);
//! 6. per route group: [`host_and_origin`] validation (403) and the body size limit (413),
//!    and per site the bearer check ([`crate::auth::require_bearer`], 401), then
//!    [`json_rpc_errors`] (400 with a JSON-RPC error for what is not JSON-RPC).

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use http_body_util::BodyExt;
use ipnet::IpNet;

/// The address of the TCP peer, set per connection by the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// The client's address: the peer, or what a trusted proxy says the client is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// Request tracing: a span per request, its outcome logged at debug level.
pub fn trace() -> tower_http::trace::TraceLayer<
    tower_http::classify::SharedClassifier<tower_http::classify::ServerErrorsAsFailures>,
    impl Fn(&Request<Body>) -> tracing::Span + Clone,
> {
    tower_http::trace::TraceLayer::new_for_http().make_span_with(|request: &Request<Body>| {
        tracing::debug_span!("http", method = %request.method(), path = %request.uri().path())
    })
}

/// Bounds the time to a response head (a streamed body, like an SSE stream, may last longer).
pub fn timeout(limit: Duration) -> tower_http::timeout::TimeoutLayer {
    tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::GATEWAY_TIMEOUT, limit)
}

/// Bounds concurrent requests; beyond `max` the server sheds load with 503 instead of queueing.
pub fn concurrency(max: usize) -> tower::limit::GlobalConcurrencyLimitLayer {
    tower::limit::GlobalConcurrencyLimitLayer::new(max)
}

/// Refuses bodies over `max` bytes with 413, also when they come chunked without a length.
pub fn body_limit(max: usize) -> tower_http::limit::RequestBodyLimitLayer {
    tower_http::limit::RequestBodyLimitLayer::new(max)
}

/// Which proxies may speak for clients through `X-Forwarded-For`, `-Proto` and `-Host`.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies {
    any: bool,
    nets: Vec<IpNet>,
}

impl FromStr for TrustedProxies {
    type Err = String;

    /// Comma-separated addresses or networks, or `*` for any peer (uvicorn's syntax).
    fn from_str(list: &str) -> Result<Self, String> {
        let mut trusted = Self::default();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if item == "*" {
                trusted.any = true;
            } else if let Ok(net) = item.parse::<IpNet>() {
                trusted.nets.push(net);
            } else if let Ok(ip) = item.parse::<IpAddr>() {
                trusted.nets.push(IpNet::from(ip));
            } else {
                return Err(format!("`{item}` is not an IP address, a network (CIDR) or `*`"));
            }
        }
        Ok(trusted)
    }
}

impl TrustedProxies {
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.any || self.nets.iter().any(|net| net.contains(&ip))
    }
}

const X_FORWARDED_FOR: &str = "x-forwarded-for";
const X_FORWARDED_PROTO: &str = "x-forwarded-proto";
const X_FORWARDED_HOST: &str = "x-forwarded-host";

/// The forwarded-headers middleware: a trusted proxy's `X-Forwarded-Host` becomes the `Host` the
/// rest of the stack validates, its `X-Forwarded-For` the [`ClientAddr`]; from anyone else these
/// headers are removed, so no later layer can be fooled by them.
pub async fn forwarded(
    State(trusted): State<Arc<TrustedProxies>>,
    mut request: Request<Body>,
    next: Next,
) -> Response {
    let peer = request.extensions().get::<PeerAddr>().map(|p| p.0.ip());
    let headers = request.headers_mut();
    let client = match peer {
        Some(peer) if trusted.trusts(peer) => {
            if let Some(host) = last_value(headers, X_FORWARDED_HOST)
                && let Ok(value) = HeaderValue::from_str(&host)
            {
                headers.insert(header::HOST, value);
            }
            client_from_forwarded_for(headers, &trusted).unwrap_or(peer)
        }
        Some(peer) => {
            for name in [X_FORWARDED_FOR, X_FORWARDED_PROTO, X_FORWARDED_HOST] {
                headers.remove(name);
            }
            peer
        }
        None => return next.run(request).await,
    };
    request.extensions_mut().insert(ClientAddr(client));
    request.extensions_mut().insert(mcp_oauth_bridge::ClientAddress(client));
    next.run(request).await
}

/// The last value of a possibly repeated, comma-separated header.
fn last_value(headers: &HeaderMap, name: &str) -> Option<String> {
    let joined =
        headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>().join(",");
    joined.rsplit(',').map(str::trim).find(|v| !v.is_empty()).map(str::to_owned)
}

/// The rightmost address in `X-Forwarded-For` that is not itself a trusted proxy.
fn client_from_forwarded_for(headers: &HeaderMap, trusted: &TrustedProxies) -> Option<IpAddr> {
    let chain: Vec<IpAddr> = headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|item| item.trim().parse().ok())
        .collect();
    chain.iter().rev().find(|ip| !trusted.trusts(**ip)).or(chain.first()).copied()
}

/// The `Host` and `Origin` values this server answers to (DNS rebinding protection).
#[derive(Clone, Debug, Default)]
pub struct HostPolicy {
    hosts: Vec<(String, u16)>,
    /// `Host` values accepted as they are, without parsing (the common case, checked on every
    /// request): each allowed `host:port`, and the bare host for ports 80 and 443.
    exact_hosts: Vec<String>,
    origins: Vec<url::Origin>,
}

impl HostPolicy {
    /// Hosts as `host[:port]` (port defaulting to the scheme's), origins as `scheme://host[:port]`.
    pub fn new<'a>(
        hosts: impl IntoIterator<Item = &'a str>,
        origins: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, String> {
        let mut policy = Self::default();
        for host in hosts {
            let authority = authority_of(host, "http")
                .ok_or_else(|| format!("`{host}` is not a host name with an optional port"))?;
            if matches!(authority.1, 80 | 443) {
                policy.exact_hosts.push(authority.0.clone());
            }
            policy.exact_hosts.push(format!("{}:{}", authority.0, authority.1));
            policy.hosts.push(authority);
        }
        for origin in origins {
            let parsed = url::Url::parse(origin)
                .ok()
                .map(|u| u.origin())
                .filter(url::Origin::is_tuple)
                .ok_or_else(|| format!("`{origin}` is not an origin like https://host[:port]"))?;
            policy.origins.push(parsed);
        }
        Ok(policy)
    }

    /// The lists in rmcp's syntax, so its own check agrees with ours.
    pub fn rmcp_hosts(&self) -> Vec<String> {
        // rmcp compares ports literally and a Host without one has none: name default ports
        // without a port (rmcp then accepts any port; our own check stays exact).
        self.hosts
            .iter()
            .map(|(host, port)| match port {
                80 | 443 => host.clone(),
                port => format!("{host}:{port}"),
            })
            .collect()
    }

    pub fn rmcp_origins(&self) -> Vec<String> {
        self.origins.iter().map(url::Origin::ascii_serialization).collect()
    }

    /// A Host without a port names the default port of whichever scheme the client used, which
    /// behind a TLS-terminating proxy is not ours to know: it matches an allowed 80 or 443.
    fn allows_host(&self, host: &str) -> bool {
        if self.exact_hosts.iter().any(|exact| exact == host) {
            return true;
        }
        let Some((name, port)) = authority_of(host, "http") else { return false };
        let explicit_port =
            if host.starts_with('[') { host.contains("]:") } else { host.contains(':') };
        self.hosts.iter().any(|(allowed, allowed_port)| {
            *allowed == name
                && (*allowed_port == port || (!explicit_port && matches!(allowed_port, 80 | 443)))
        })
    }

    fn allows_origin(&self, origin: &str) -> bool {
        url::Url::parse(origin).is_ok_and(|u| self.origins.contains(&u.origin()))
    }
}

/// `host[:port]` normalised: lowercase, IPv6 in brackets, the default port filled in.
fn authority_of(host: &str, scheme: &str) -> Option<(String, u16)> {
    let url = url::Url::parse(&format!("{scheme}://{host}/")).ok()?;
    if url.path() != "/" || !url.username().is_empty() || url.query().is_some() {
        return None;
    }
    Some((url.host_str()?.to_owned(), url.port_or_known_default()?))
}

/// Refuses requests whose `Host` is not ours (403) and browser requests from foreign origins (403).
/// Requests without `Origin` (every non-browser MCP client) pass the origin check.
pub async fn host_and_origin(
    State(policy): State<Arc<HostPolicy>>,
    request: Request<Body>,
    next: Next,
) -> Response {
    if let Some(refusal) = refuse_foreign_host(&policy, &request) {
        return refusal;
    }
    if let Some(origin) = request.headers().get(header::ORIGIN) {
        let allowed = origin.to_str().is_ok_and(|o| policy.allows_origin(o));
        if !allowed {
            tracing::info!(origin = ?origin, "refused a request from a foreign Origin");
            return (StatusCode::FORBIDDEN, "Forbidden: requests from this Origin are not allowed")
                .into_response();
        }
    }
    next.run(request).await
}

/// The Host check alone, for routes other origins may call (OAuth metadata and token endpoints).
pub async fn host_only(
    State(policy): State<Arc<HostPolicy>>,
    request: Request<Body>,
    next: Next,
) -> Response {
    match refuse_foreign_host(&policy, &request) {
        Some(refusal) => refusal,
        None => next.run(request).await,
    }
}

fn refuse_foreign_host(policy: &HostPolicy, request: &Request<Body>) -> Option<Response> {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| request.uri().authority().map(http::uri::Authority::as_str));
    if host.is_some_and(|h| policy.allows_host(h)) {
        return None;
    }
    tracing::info!(host = host.unwrap_or("-"), "refused a request for a foreign Host");
    Some(
        (StatusCode::FORBIDDEN, "Forbidden: this server does not answer to that Host")
            .into_response(),
    )
}

/// Requests whose response has not finished yet (including streamed bodies). Shutdown waits for
/// it to reach zero before it closes the long-lived streams.
#[derive(Clone, Debug, Default)]
pub struct InFlight {
    count: Arc<AtomicUsize>,
    /// Requests that wait for a result (POSTs): the ones shutdown must let finish.
    calls: Arc<AtomicUsize>,
}

impl InFlight {
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::Acquire)
    }

    pub fn requests(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }
}

struct InFlightGuard {
    counters: Vec<Arc<AtomicUsize>>,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        for counter in &self.counters {
            counter.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// The in-flight middleware: the guard lives as long as the response body.
pub async fn track_in_flight(
    State(in_flight): State<InFlight>,
    request: Request<Body>,
    next: Next,
) -> Response {
    let mut counters = vec![in_flight.count.clone()];
    if request.method() == http::Method::POST {
        counters.push(in_flight.calls.clone());
    }
    for counter in &counters {
        counter.fetch_add(1, Ordering::AcqRel);
    }
    let guard = InFlightGuard { counters };
    let response = next.run(request).await;
    response.map(|body| {
        Body::new(body.map_frame(move |frame| {
            let _keep = &guard;
            frame
        }))
    })
}

/// Turns the errors of tower's own layers (load shedding, timeouts) into HTTP answers.
pub async fn overload_response(error: tower::BoxError) -> Response {
    if error.is::<tower::load_shed::error::Overloaded>() {
        let mut response =
            (StatusCode::SERVICE_UNAVAILABLE, "the server is busy; retry shortly").into_response();
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    }
    if error.is::<tower::timeout::error::Elapsed>() {
        return (StatusCode::GATEWAY_TIMEOUT, "the request took too long").into_response();
    }
    tracing::warn!(%error, "request failed in the layer stack");
    (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
}

/// JSON-RPC errors for what rmcp would answer with a bare 415 text: a body that is not JSON gets
/// `-32700 Parse error`, JSON that is not a JSON-RPC 2.0 message `-32600 Invalid Request`, both
/// with HTTP 400, so a client sees a JSON-RPC error it can show. Runs after the body limit, so
/// buffering is bounded.
pub async fn json_rpc_errors(request: Request<Body>, next: Next) -> Response {
    if request.method() == http::Method::DELETE {
        // rmcp ends a session with 202; clients expect 200 or 204 (the Python SDK warns otherwise).
        let mut response = next.run(request).await;
        if response.status() == StatusCode::ACCEPTED {
            *response.status_mut() = StatusCode::NO_CONTENT;
        }
        return response;
    }
    if request.method() != http::Method::POST {
        return next.run(request).await;
    }
    let json_body = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        });
    if !json_body {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(e) => {
            // The body limit below us speaks first; anything else is a broken upload.
            let over_limit =
                std::iter::successors(Some(&e as &(dyn std::error::Error + 'static)), |e| {
                    e.source()
                })
                .any(|e| e.is::<http_body_util::LengthLimitError>());
            let status =
                if over_limit { StatusCode::PAYLOAD_TOO_LARGE } else { StatusCode::BAD_REQUEST };
            return (status, "the request body could not be read").into_response();
        }
    };
    // Only the envelope is read (the rest is skipped, not built): rmcp parses the message itself.
    let envelope = match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => {
            if serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_err() {
                return json_rpc_error(-32700, "Parse error: the body is not JSON", None);
            }
            return json_rpc_error(
                -32600,
                "Invalid Request: JSON-RPC batches are not supported by MCP",
                None,
            );
        }
        Some(b'{') => match serde_json::from_slice::<Envelope>(&bytes) {
            Err(e) => {
                return json_rpc_error(
                    -32700,
                    &format!("Parse error: the body is not JSON ({e})"),
                    None,
                );
            }
            Ok(Envelope { jsonrpc, id, .. })
                if jsonrpc.as_ref().and_then(|v| v.as_str()) != Some("2.0") =>
            {
                return json_rpc_error(
                    -32600,
                    "Invalid Request: not a JSON-RPC 2.0 message (\"jsonrpc\": \"2.0\" missing)",
                    id,
                );
            }
            Ok(Envelope { id, method, .. }) => JsonRpcEnvelope { id, method },
        },
        _ if serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_err() => {
            return json_rpc_error(-32700, "Parse error: the body is not JSON", None);
        }
        _ => {
            return json_rpc_error(
                -32600,
                "Invalid Request: a JSON-RPC message is a JSON object",
                None,
            );
        }
    };
    let id = envelope.id.clone();
    let mut request = Request::from_parts(parts, Body::from(bytes));
    request.extensions_mut().insert(envelope);
    let response = next.run(request).await;
    // rmcp answers a message it cannot decode (e.g. params of the wrong shape) with 415 and text.
    if response.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE {
        return json_rpc_error(
            -32600,
            "Invalid Request: the message does not match the MCP schema",
            id,
        );
    }
    response
}

/// The members of a JSON-RPC message the edge looks at.
#[derive(serde::Deserialize)]
struct Envelope {
    jsonrpc: Option<serde_json::Value>,
    id: Option<serde_json::Value>,
    method: Option<String>,
}

/// A valid JSON-RPC message's id and method, read by [`json_rpc_errors`] and left in the
/// request's extensions for the layers inside it.
#[derive(Clone, Debug)]
pub struct JsonRpcEnvelope {
    pub id: Option<serde_json::Value>,
    pub method: Option<String>,
}

fn json_rpc_error(code: i64, message: &str, id: Option<serde_json::Value>) -> Response {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": id.unwrap_or(serde_json::Value::Null),
        "error": { "code": code, "message": message },
    });
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_proxies_parse_and_match() {
        let trusted: TrustedProxies = "127.0.0.1, 10.0.0.0/8".parse().unwrap_or_default();
        assert!(trusted.trusts("127.0.0.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))));
        assert!(trusted.trusts("10.1.2.3".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))));
        assert!(!trusted.trusts("192.168.1.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))));
        // An IPv4 peer seen through an IPv6 socket is still itself.
        assert!(trusted.trusts("::ffff:127.0.0.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))));
        assert!("bogus".parse::<TrustedProxies>().is_err());
        let any: TrustedProxies = "*".parse().unwrap_or_default();
        assert!(any.trusts(IpAddr::from([8, 8, 8, 8])));
    }

    #[test]
    fn forwarded_for_picks_the_first_untrusted_from_the_right() {
        let trusted: TrustedProxies = "127.0.0.1,10.0.0.0/8".parse().unwrap_or_default();
        let mut headers = HeaderMap::new();
        headers.insert(X_FORWARDED_FOR, HeaderValue::from_static("6.6.6.6, 1.2.3.4, 10.0.0.7"));
        assert_eq!(client_from_forwarded_for(&headers, &trusted), Some(IpAddr::from([1, 2, 3, 4])));
    }

    #[test]
    fn host_policy_normalises() {
        let policy = HostPolicy::new(
            ["mcp.example.org", "127.0.0.1:8000", "[::1]:8000"],
            ["https://mcp.example.org"],
        )
        .unwrap_or_default();
        assert!(policy.allows_host("mcp.example.org"));
        assert!(policy.allows_host("MCP.example.org:80"));
        assert!(!policy.allows_host("mcp.example.org:8080"));
        assert!(!policy.allows_host("mcp.example.org:443"), "443 was not allowed");
        assert!(!policy.allows_host("127.0.0.1"), "a bare name matches default ports only");
        assert!(policy.allows_host("127.0.0.1:8000"));
        assert!(policy.allows_host("[::1]:8000"));
        assert!(!policy.allows_host("evil.example.com"));
        assert!(!policy.allows_host("127.0.0.1:8000/x"));
        assert!(policy.allows_origin("https://mcp.example.org"));
        assert!(policy.allows_origin("https://mcp.example.org:443"));
        assert!(!policy.allows_origin("http://mcp.example.org"));
        assert!(!policy.allows_origin("null"));
        assert!(!policy.allows_origin("https://evil.example.com"));
        assert_eq!(policy.rmcp_origins(), vec!["https://mcp.example.org".to_owned()]);
        assert_eq!(
            policy.rmcp_hosts()[..2],
            ["mcp.example.org".to_owned(), "127.0.0.1:8000".to_owned()]
        );
        let https = HostPolicy::new(["mcp.example.org:443"], []).unwrap_or_default();
        assert!(https.allows_host("mcp.example.org"), "behind a TLS proxy, no port means 443");
        assert!(https.allows_host("mcp.example.org:443"));
        assert!(!https.allows_host("mcp.example.org:8443"));
    }
}
