//! The client: one identity at one Rucio instance, cheap to clone and share between tasks.
//!
//! Every request carries the current token; a 401 triggers one re-authentication (serialised, so
//! a burst of concurrent 401s logs in once), idempotent requests are retried with backoff on
//! connection errors and 502/503/504, and every request has a timeout.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures_util::stream::{self, BoxStream, StreamExt};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use url::Url;

use crate::config::{AuthType, RucioConfig};
use crate::error::{Error, Result, RucioErrorKind, TransportFailure, loggable_url};
use crate::tls::{self, ClientIdentity};
use crate::token::{AuthToken, TokenCache, parse_expiry};

/// Largest error body or single JSON document read into memory.
const MAX_DOCUMENT_BYTES: usize = 64 * 1024 * 1024;
/// Longest line of a JSON stream; a longer one means the server is not sending what it should.
const MAX_STREAM_LINE_BYTES: usize = 16 * 1024 * 1024;
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// An async client for Rucio's REST API.
#[derive(Clone)]
pub struct RucioClient {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) config: Arc<RucioConfig>,
    /// The token in use and a generation number that changes whenever it is replaced.
    token: RwLock<(Option<AuthToken>, u64)>,
    auth_lock: tokio::sync::Mutex<()>,
    cache: Option<TokenCache>,
    /// A caller-supplied token (HTTP bridge): used as is, never renewed by the client.
    fixed_token: bool,
}

impl std::fmt::Debug for RucioClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RucioClient")
            .field("rucio_host", &self.inner.config.rucio_host.as_str())
            .field("account", &self.inner.config.account)
            .field("auth_type", &self.auth_type())
            .finish_non_exhaustive()
    }
}

/// Builds a [`RucioClient`]; `RucioClient::new` covers the common case.
#[derive(Debug)]
pub struct ClientBuilder {
    config: RucioConfig,
    bearer: Option<SecretString>,
    token_cache: bool,
    user_agent: String,
}

impl ClientBuilder {
    /// Uses this token for every request instead of logging in (e.g. a token the HTTP bridge
    /// obtained for its user). The client never renews it: a 401 is returned to the caller.
    #[must_use]
    pub fn bearer_token(mut self, token: SecretString) -> Self {
        self.bearer = Some(token);
        self
    }

    /// Whether to read and write the Python client's token cache (default: yes).
    #[must_use]
    pub fn token_cache(mut self, enabled: bool) -> Self {
        self.token_cache = enabled;
        self
    }

    #[must_use]
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    pub fn build(self) -> Result<RucioClient> {
        let identity =
            if self.bearer.is_some() { None } else { ClientIdentity::from_config(&self.config)? };
        let tls = tls::client_config(&self.config, identity)?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .user_agent(self.user_agent)
            .connect_timeout(Duration::from_secs(15).min(self.config.request_timeout))
            .pool_idle_timeout(Duration::from_secs(90))
            .redirect(same_origin_redirects())
            .build()
            .map_err(|e| Error::Credentials(format!("cannot build the HTTP client: {e}")))?;
        let mut config = self.config;
        let initial = self.bearer.map(|token| {
            config.auth_type = AuthType::Bearer;
            AuthToken::new(token, None)
        });
        let cache =
            (self.token_cache && initial.is_none()).then(|| TokenCache::for_config(&config));
        Ok(RucioClient::assemble(http, config, initial, cache))
    }
}

/// Follows redirects only within the same origin: Rucio's token header is not one reqwest
/// strips on a cross-host redirect, so a foreign `Location` must never be followed.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if attempt.previous().len() > 5 {
            attempt.error("too many redirects")
        } else if same {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// Which server a request goes to: Rucio keeps authentication on its own host.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Host {
    Rucio,
    Auth,
}

/// One REST call, before it is sent.
#[derive(Debug)]
pub(crate) struct Call {
    pub(crate) method: Method,
    pub(crate) host: Host,
    pub(crate) segments: Vec<String>,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) body: Option<serde_json::Value>,
    pub(crate) headers: HeaderMap,
    /// Safe to send twice; POST calls that only read set this too.
    pub(crate) idempotent: bool,
    /// The call itself authenticates (sends credentials, not a token).
    pub(crate) anonymous: bool,
}

impl Call {
    pub(crate) fn new(method: Method, segments: &[&str]) -> Self {
        let idempotent =
            matches!(method, Method::GET | Method::HEAD | Method::PUT | Method::DELETE);
        Self {
            method,
            host: Host::Rucio,
            segments: segments.iter().map(|s| (*s).to_owned()).collect(),
            query: Vec::new(),
            body: None,
            headers: HeaderMap::new(),
            idempotent,
            anonymous: false,
        }
    }

    pub(crate) fn get(segments: &[&str]) -> Self {
        Self::new(Method::GET, segments)
    }

    pub(crate) fn query(mut self, key: &str, value: impl ToString) -> Self {
        self.query.push((key.to_owned(), value.to_string()));
        self
    }

    pub(crate) fn query_opt(self, key: &str, value: Option<impl ToString>) -> Self {
        match value {
            Some(v) => self.query(key, v),
            None => self,
        }
    }

    pub(crate) fn json(mut self, body: serde_json::Value) -> Self {
        self.body = Some(body);
        self
    }

    pub(crate) fn read_only(mut self) -> Self {
        self.idempotent = true;
        self
    }
}

impl RucioClient {
    /// A client for `config`, authenticating as the configuration says (on the first call).
    pub fn new(config: RucioConfig) -> Result<Self> {
        Self::builder(config).build()
    }

    pub fn builder(config: RucioConfig) -> ClientBuilder {
        ClientBuilder {
            config,
            bearer: None,
            token_cache: true,
            user_agent: concat!("rucio-client-rs/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }

    /// A client for another identity at the same server, sharing this one's connection pool.
    pub fn with_bearer_token(&self, token: SecretString) -> Self {
        let mut config = (*self.inner.config).clone();
        config.auth_type = AuthType::Bearer;
        Self::assemble(self.inner.http.clone(), config, Some(AuthToken::new(token, None)), None)
    }

    /// Like [`Self::with_bearer_token`], sending `account` as the account the token belongs to
    /// (Rucio's `/auth/oidc_refresh` looks the token up by it).
    pub fn with_bearer_token_as(&self, token: SecretString, account: &str) -> Self {
        let mut config = (*self.inner.config).clone();
        config.auth_type = AuthType::Bearer;
        config.account = Some(account.to_owned());
        Self::assemble(self.inner.http.clone(), config, Some(AuthToken::new(token, None)), None)
    }

    /// A caller-supplied `initial` token makes the client's identity fixed: never renewed.
    pub(crate) fn assemble(
        http: reqwest::Client,
        config: RucioConfig,
        initial: Option<AuthToken>,
        cache: Option<TokenCache>,
    ) -> Self {
        let fixed_token = initial.is_some();
        Self {
            inner: Arc::new(Inner {
                http,
                config: Arc::new(config),
                token: RwLock::new((initial, 0)),
                auth_lock: tokio::sync::Mutex::new(()),
                cache,
                fixed_token,
            }),
        }
    }

    pub fn config(&self) -> &RucioConfig {
        &self.inner.config
    }

    pub fn auth_type(&self) -> AuthType {
        self.inner.config.auth_type
    }

    /// The account requests are made as, when configured (otherwise the identity's default).
    pub fn account(&self) -> Option<&str> {
        self.inner.config.account.as_deref()
    }

    /// The token in use, if any, with its expiry when known.
    pub fn current_token(&self) -> Option<AuthToken> {
        self.read_token().0
    }

    /// Authenticates now (or loads a cached token) instead of at the first call.
    pub async fn authenticate(&self) -> Result<AuthToken> {
        self.token_for_request().await.map(|(t, _)| t)
    }

    fn read_token(&self) -> (Option<AuthToken>, u64) {
        match self.inner.token.read() {
            Ok(guard) => (guard.0.clone(), guard.1),
            Err(poisoned) => {
                let guard = poisoned.into_inner();
                (guard.0.clone(), guard.1)
            }
        }
    }

    /// Makes `token` the one in use (and writes it to the cache when `persist`); returns its generation.
    pub(crate) fn store_token(&self, token: AuthToken, persist: bool) -> u64 {
        if persist && let Some(cache) = &self.inner.cache {
            cache.write(&token, true);
        }
        let mut guard = match self.inner.token.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        guard.0 = Some(token);
        guard.1 += 1;
        guard.1
    }

    /// The token for the next request, logging in if there is none or it has expired.
    async fn token_for_request(&self) -> Result<(AuthToken, u64)> {
        let (token, generation) = self.read_token();
        let config = &self.inner.config;
        // OIDC tokens can only be refreshed while still valid, so with refresh on, renew early.
        let renew_margin = if config.auth_type == AuthType::Oidc && config.oidc.refresh_active {
            chrono::Duration::minutes(i64::from(config.oidc.refresh_before_exp_minutes))
        } else {
            chrono::Duration::seconds(30)
        };
        match token {
            Some(t) if self.inner.fixed_token || !t.expires_within(renew_margin) => {
                Ok((t, generation))
            }
            Some(t) if !t.expires_within(chrono::Duration::seconds(30)) => {
                match self.renew_token(generation).await {
                    Ok(renewed) => Ok(renewed),
                    Err(e) => {
                        // An early refresh that fails leaves the still-valid token in use.
                        tracing::debug!(error = %e, "early token renewal failed; using the current token");
                        Ok((t, generation))
                    }
                }
            }
            _ => self.renew_token(generation).await,
        }
    }

    /// Replaces the token of generation `stale` (unless another task already did).
    async fn renew_token(&self, stale: u64) -> Result<(AuthToken, u64)> {
        let _guard = self.inner.auth_lock.lock().await;
        let (current, generation) = self.read_token();
        if generation != stale
            && let Some(t) = current
        {
            return Ok((t, generation));
        }
        if self.inner.fixed_token {
            return Err(Error::Server {
                kind: RucioErrorKind::CannotAuthenticate,
                class: "CannotAuthenticate".into(),
                message: "the bearer token was rejected or has expired".into(),
                status: 401,
            });
        }
        let first_login = generation == 0;
        // Boxed: logging in sends requests, which may need a token in turn.
        let (token, persist) = Box::pin(crate::auth::obtain_token(
            self,
            current.as_ref(),
            first_login,
            self.inner.cache.as_ref(),
        ))
        .await?;
        let generation = self.store_token(token.clone(), persist);
        Ok((token, generation))
    }

    pub(crate) fn url_for(&self, host: Host, segments: &[String]) -> Result<Url> {
        let base = match host {
            Host::Rucio => &self.inner.config.rucio_host,
            Host::Auth => &self.inner.config.auth_host,
        };
        let mut url = base.clone();
        url.path_segments_mut()
            .map_err(|()| Error::InvalidArgument(format!("{base} cannot be a base URL")))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// Sends a call and returns the successful response; Rucio errors become [`Error::Server`].
    pub(crate) async fn send(&self, call: &Call) -> Result<reqwest::Response> {
        let mut url = self.url_for(call.host, &call.segments)?;
        if !call.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&call.query);
        }
        self.send_to(call, url).await
    }

    pub(crate) async fn send_to(&self, call: &Call, url: Url) -> Result<reqwest::Response> {
        let mut reauthenticated = false;
        loop {
            let (token, generation) = if call.anonymous {
                (None, 0)
            } else {
                let (t, g) = self.token_for_request().await?;
                (Some(t), g)
            };
            let response = self.send_with_retries(call, &url, token.as_ref()).await?;
            if response.status() == StatusCode::UNAUTHORIZED
                && !call.anonymous
                && !reauthenticated
                && !self.inner.fixed_token
            {
                tracing::debug!(url = %loggable_url(url.as_str()), "token rejected; authenticating again");
                reauthenticated = true;
                self.renew_token(generation).await?;
                continue;
            }
            return check_status(response, &url).await;
        }
    }

    async fn send_with_retries(
        &self,
        call: &Call,
        url: &Url,
        token: Option<&AuthToken>,
    ) -> Result<reqwest::Response> {
        let config = &self.inner.config;
        let attempts = if call.idempotent { config.request_retries + 1 } else { 1 };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = self
                .inner
                .http
                .request(call.method.clone(), url.clone())
                .timeout(config.request_timeout)
                .headers(call.headers.clone());
            if let Some(token) = token {
                let mut value =
                    HeaderValue::from_str(token.value.expose_secret()).map_err(|_| {
                        Error::Credentials(
                            "the auth token contains characters not allowed in a header".into(),
                        )
                    })?;
                value.set_sensitive(true);
                request = request.header("X-Rucio-Auth-Token", value);
            }
            if let Some(account) = &config.account {
                request = request.header("X-Rucio-Account", account);
            }
            request = request.header("X-Rucio-VO", &config.vo);
            if let Some(body) = &call.body {
                request = request.json(body);
            }
            tracing::debug!(method = %call.method, url = %loggable_url(url.as_str()), attempt, "rucio request");
            let retry_reason = match request.send().await {
                Ok(response)
                    if matches!(response.status().as_u16(), 502..=504) && attempt < attempts =>
                {
                    format!("server returned {}", response.status())
                }
                Ok(response) => return Ok(response),
                Err(e) => {
                    let err = Error::transport(url.as_str(), e);
                    let retriable = matches!(
                        &err,
                        Error::Transport {
                            failure: TransportFailure::Connect | TransportFailure::Timeout,
                            ..
                        }
                    );
                    if !retriable || attempt >= attempts {
                        return Err(err);
                    }
                    err.to_string()
                }
            };
            let backoff =
                Duration::from_millis(250 * (1u64 << (attempt - 1).min(6))).min(MAX_BACKOFF);
            tracing::warn!(url = %loggable_url(url.as_str()), attempt, reason = %retry_reason, ?backoff, "retrying rucio request");
            tokio::time::sleep(backoff).await;
        }
    }

    /// Sends a call and parses the whole body as one JSON document.
    pub(crate) async fn json<T: DeserializeOwned>(&self, call: Call) -> Result<T> {
        let response = self.send(&call).await?;
        read_json(response).await
    }

    /// Sends a call and streams its `application/x-json-stream` body one document at a time.
    pub(crate) async fn stream<T: DeserializeOwned + Send + 'static>(
        &self,
        call: Call,
    ) -> Result<BoxStream<'static, Result<T>>> {
        let response = self.send(&call).await?;
        Ok(json_stream(response))
    }

    /// Sends a call whose answer carries nothing of interest beyond success.
    pub(crate) async fn execute(&self, call: Call) -> Result<()> {
        self.send(&call).await.map(drop)
    }
}

/// Turns a non-success response into the error Rucio meant.
pub(crate) async fn check_status(
    response: reqwest::Response,
    url: &Url,
) -> Result<reqwest::Response> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    if status.is_redirection() {
        return Err(Error::invalid(
            url.as_str(),
            status.as_u16(),
            "redirected to another host, which is not followed",
        ));
    }
    Err(server_error(response, url).await)
}

async fn server_error(response: reqwest::Response, url: &Url) -> Error {
    let status = response.status().as_u16();
    let header =
        |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (mut class, mut message) = (header("ExceptionClass"), header("ExceptionMessage"));
    let content_type = header(CONTENT_TYPE.as_str()).unwrap_or_default();
    let body = read_capped(response, 64 * 1024).await.unwrap_or_default();
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(&body) {
        if let Some(c) = map.get("ExceptionClass").and_then(|v| v.as_str()) {
            class = Some(c.to_owned());
        }
        if let Some(m) = map.get("ExceptionMessage").and_then(|v| v.as_str()) {
            message = Some(m.to_owned());
        }
    }
    match class {
        Some(class) => Error::Server {
            kind: RucioErrorKind::from_class(&class),
            message: message.unwrap_or_else(|| format!("HTTP {status}")),
            class,
            status,
        },
        None => Error::invalid(url.as_str(), status, describe_body(&content_type, &body)),
    }
}

/// A short, safe description of a body that is not what the API promises.
fn describe_body(content_type: &str, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    if content_type.starts_with("text/html") || text.trim_start().starts_with('<') {
        let title = text
            .split_once("<title>")
            .and_then(|(_, rest)| rest.split_once("</title>"))
            .map(|(t, _)| t.trim().to_owned());
        return match title {
            Some(t) if !t.is_empty() => format!("an HTML page instead of JSON ({t})"),
            _ => "an HTML page instead of JSON".to_owned(),
        };
    }
    let snippet: String = text.chars().filter(|c| !c.is_control()).take(200).collect();
    if snippet.is_empty() {
        "an empty body".to_owned()
    } else {
        format!("unexpected body: {snippet}")
    }
}

async fn read_capped(mut response: reqwest::Response, cap: usize) -> Result<Vec<u8>> {
    let url = response.url().to_string();
    let mut out = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| Error::transport(&url, e))? {
        if out.len() + chunk.len() > cap {
            return Err(Error::invalid(
                &url,
                response.status().as_u16(),
                format!("body larger than {cap} bytes"),
            ));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

pub(crate) async fn read_json<T: DeserializeOwned>(response: reqwest::Response) -> Result<T> {
    let url = response.url().to_string();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = read_capped(response, MAX_DOCUMENT_BYTES).await?;
    parse_document(&url, status, &content_type, &body)
}

fn parse_document<T: DeserializeOwned>(
    url: &str,
    status: u16,
    content_type: &str,
    body: &[u8],
) -> Result<T> {
    if content_type.starts_with("application/x-json-stream") {
        // A single object sent as a one-line stream.
        let line = body
            .split(|b| *b == b'\n')
            .find(|l| !l.iter().all(u8::is_ascii_whitespace))
            .unwrap_or(body);
        return serde_json::from_slice(line)
            .map_err(|e| Error::invalid(url, status, format!("malformed JSON: {e}")));
    }
    serde_json::from_slice(body).map_err(|e| {
        if body.iter().all(u8::is_ascii_whitespace)
            || content_type.starts_with("text/html")
            || body.first() == Some(&b'<')
        {
            Error::invalid(url, status, describe_body(content_type, body))
        } else {
            Error::invalid(url, status, format!("malformed JSON: {e}"))
        }
    })
}

/// Parses a response as a stream of documents without reading more than the consumer asks for.
pub(crate) fn json_stream<T: DeserializeOwned + Send + 'static>(
    response: reqwest::Response,
) -> BoxStream<'static, Result<T>> {
    let url = response.url().to_string();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if !content_type.starts_with("application/x-json-stream") {
        // Some list endpoints answer with a JSON array instead.
        return stream::once(async move {
            let items: Result<Vec<Result<T>>> = async {
                let body = read_capped(response, MAX_DOCUMENT_BYTES).await?;
                let value: serde_json::Value = parse_document(&url, status, &content_type, &body)?;
                let values = match value {
                    serde_json::Value::Array(items) => items,
                    other => vec![other],
                };
                Ok(values
                    .into_iter()
                    .map(|v| {
                        serde_json::from_value(v).map_err(|e| {
                            Error::invalid(&url, status, format!("unexpected document: {e}"))
                        })
                    })
                    .collect())
            }
            .await;
            match items {
                Ok(items) => stream::iter(items).left_stream(),
                Err(e) => stream::iter(vec![Err(e)]).right_stream(),
            }
        })
        .flatten()
        .boxed();
    }
    let state = LineState {
        body: response.bytes_stream().boxed(),
        buffer: Vec::new(),
        done: false,
        failed: false,
        line: 0,
        url,
        status,
    };
    stream::unfold(state, |mut st| async move {
        let item = st.next_document::<T>().await?;
        Some((item, st))
    })
    .boxed()
}

struct LineState {
    body: BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: Vec<u8>,
    done: bool,
    failed: bool,
    line: usize,
    url: String,
    status: u16,
}

impl LineState {
    async fn next_document<T: DeserializeOwned>(&mut self) -> Option<Result<T>> {
        if self.failed {
            return None;
        }
        loop {
            if let Some(pos) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=pos).collect();
                self.line += 1;
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return Some(self.parse(&line, false));
            }
            if self.done {
                if self.buffer.iter().all(u8::is_ascii_whitespace) {
                    return None;
                }
                let rest = std::mem::take(&mut self.buffer);
                self.line += 1;
                return Some(self.parse(&rest, true));
            }
            if self.buffer.len() > MAX_STREAM_LINE_BYTES {
                self.failed = true;
                return Some(Err(Error::invalid(
                    &self.url,
                    self.status,
                    format!("a stream line is longer than {MAX_STREAM_LINE_BYTES} bytes"),
                )));
            }
            match self.body.next().await {
                Some(Ok(chunk)) => self.buffer.extend_from_slice(&chunk),
                Some(Err(e)) => {
                    self.failed = true;
                    return Some(Err(Error::transport(&self.url, e)));
                }
                None => self.done = true,
            }
        }
    }

    fn parse<T: DeserializeOwned>(&mut self, line: &[u8], last: bool) -> Result<T> {
        serde_json::from_slice(line).map_err(|e| {
            self.failed = true;
            let what = if last && e.is_eof() {
                "the stream ended in the middle of a document (truncated)".to_owned()
            } else if line.first() == Some(&b'<') {
                "an HTML page instead of a JSON stream".to_owned()
            } else {
                format!("line {} is not a valid document: {e}", self.line)
            };
            Error::invalid(&self.url, self.status, what)
        })
    }
}

/// Reads `X-Rucio-Auth-Token` (and its expiry) from an authentication response.
pub(crate) fn token_from_headers(headers: &HeaderMap) -> Option<AuthToken> {
    let value = headers.get("X-Rucio-Auth-Token")?.to_str().ok()?.trim();
    if value.is_empty() {
        return None;
    }
    let expires_at = headers
        .get("X-Rucio-Auth-Token-Expires")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_expiry);
    Some(AuthToken::new(SecretString::from(value.to_owned()), expires_at))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn html_bodies_are_described_not_dumped() {
        let d = describe_body(
            "text/html; charset=utf-8",
            b"<html><head><title>500 Internal Server Error</title></head></html>",
        );
        assert_eq!(d, "an HTML page instead of JSON (500 Internal Server Error)");
        assert_eq!(describe_body("", b""), "an empty body");
    }

    #[test]
    fn documents_parse_from_json_and_one_line_streams() {
        let v: serde_json::Value =
            parse_document("u", 200, "application/json", br#"{"a":1}"#).unwrap();
        assert_eq!(v["a"], 1);
        let v: serde_json::Value =
            parse_document("u", 200, "application/x-json-stream", b"\n{\"a\":2}\n").unwrap();
        assert_eq!(v["a"], 2);
        let e = parse_document::<serde_json::Value>("u", 200, "application/json", b"{\"a\":")
            .unwrap_err();
        assert!(e.to_string().contains("malformed JSON"), "{e}");
    }
}
