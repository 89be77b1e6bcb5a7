//! The forwarding itself: stdin lines POSTed, answers and the standalone stream written to stdout.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::{StreamExt as _, TryStreamExt as _};
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncRead, AsyncWrite, AsyncWriteExt as _, BufReader};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use url::Url;

use outbound_http::{describe, quote};

use crate::error::ForwardError;

const SESSION_ID: &str = "mcp-session-id";
const PROTOCOL_VERSION: &str = "mcp-protocol-version";
const LAST_EVENT_ID: &str = "last-event-id";
const METHOD: &str = "mcp-method";
const NAME: &str = "mcp-name";
/// The largest JSON answer read whole (SSE events are read one at a time).
const MAX_JSON_ANSWER: usize = 64 << 20;
/// How often a broken answer stream is resumed before the request is given up.
const RESUME_ATTEMPTS: u32 = 5;
/// How long the client's remaining requests may finish after stdin closed.
const DRAIN_AFTER_EOF: Duration = Duration::from_secs(10);

/// Where and how to reach the remote server.
#[derive(Clone, Debug)]
pub struct ForwardConfig {
    /// The remote's streamable-HTTP MCP endpoint.
    pub url: Url,
    /// Sent with every request (e.g. `--header`); a bearer from [`Credentials`] wins over an
    /// `Authorization` here.
    pub headers: HeaderMap,
    /// The HTTP client; build it with redirects off (see [`ForwardConfig::client`]).
    pub client: reqwest::Client,
    /// How long the remote may take to start answering `initialize`, a notification or a
    /// response (a request may run as long as the remote works on it).
    pub answer_timeout: Duration,
}

impl ForwardConfig {
    /// A reqwest client for the remote: redirects off, a connect timeout, and no overall timeout
    /// (a stream lives as long as the session).
    pub fn client(builder: reqwest::ClientBuilder) -> Result<reqwest::Client, ForwardError> {
        builder
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ForwardError::Unreachable(format!("cannot set up the HTTP client: {e}")))
    }
}

/// What the remote said when it refused a request's credentials.
#[derive(Clone, Debug)]
pub struct Refusal {
    /// 401 (no or a dead token) or 403 (e.g. `insufficient_scope`).
    pub status: StatusCode,
    /// The remote's `WWW-Authenticate` header.
    pub www_authenticate: Option<String>,
}

/// Where bearer tokens come from (an OAuth login, a cache, nothing).
pub trait Credentials: Send + Sync + std::fmt::Debug + 'static {
    /// The bearer token to send now, refreshed first if it is about to expire; `None`: none.
    fn bearer(&self) -> BoxFuture<'_, Result<Option<SecretString>, ForwardError>>;

    /// The remote refused the last bearer. `Ok(true)`: a new one is ready (refreshed, signed in
    /// again, a wider scope), try once more; `Ok(false)`: give up with the refusal.
    fn refused(&self, refusal: Refusal) -> BoxFuture<'_, Result<bool, ForwardError>>;
}

/// No bearer: the remote is open, or `--header` carries what it needs.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoCredentials;

impl Credentials for NoCredentials {
    fn bearer(&self) -> BoxFuture<'_, Result<Option<SecretString>, ForwardError>> {
        Box::pin(async { Ok(None) })
    }

    fn refused(&self, _refusal: Refusal) -> BoxFuture<'_, Result<bool, ForwardError>> {
        Box::pin(async { Ok(false) })
    }
}

/// Forwards `input` (the local client's messages, one per line) to the remote and the remote's
/// messages to `output`, until `input` ends; then the remote session is ended.
pub async fn forward<R, W>(
    config: ForwardConfig,
    credentials: Arc<dyn Credentials>,
    input: R,
    output: W,
) -> Result<(), ForwardError>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (out, lines) = mpsc::unbounded_channel();
    let cancel = CancellationToken::new();
    let writer = tokio::spawn(write_lines(lines, output, cancel.clone()));
    let remote = Arc::new(Remote {
        config,
        credentials,
        out,
        session: Mutex::new(Session::default()),
        recreating: tokio::sync::Mutex::new(()),
        cancel,
        param_headers: Mutex::default(),
    });
    let read = remote.clone().read_input(input).await;
    remote.cancel.cancel();
    remote.end_session().await;
    drop(remote);
    let written = writer.await.unwrap_or(Ok(()));
    read.and(written.map_err(ForwardError::from))
}

/// Writes each message as one line, in the order they were sent; once `done`, what is queued.
async fn write_lines<W: AsyncWrite + Unpin>(
    mut lines: mpsc::UnboundedReceiver<Bytes>,
    mut output: W,
    done: CancellationToken,
) -> std::io::Result<()> {
    loop {
        let line = tokio::select! {
            biased;
            line = lines.recv() => line,
            () = done.cancelled() => lines.try_recv().ok(),
        };
        let Some(line) = line else { return Ok(()) };
        output.write_all(&line).await?;
        output.write_all(b"\n").await?;
        output.flush().await?;
    }
}

/// The remote session as far as the transport goes.
#[derive(Debug, Default)]
struct Session {
    id: Option<HeaderValue>,
    protocol_version: Option<HeaderValue>,
    /// The client's `initialize`, replayed when the session must be opened again.
    initialize: Option<Value>,
    /// Counts sessions opened, so concurrent 404s open only one new session.
    generation: u64,
    /// What the client set up in the session beyond the handshake, set up again in a reopened
    /// one: its `logging/setLevel` and its `resources/subscribe`s.
    setup: SessionSetup,
}

/// The session state a client sets up with requests, which a remote that forgot the session
/// forgot too.
#[derive(Debug, Default, Clone, PartialEq)]
struct SessionSetup {
    log_level: Option<Value>,
    subscriptions: std::collections::BTreeSet<String>,
}

impl SessionSetup {
    /// Notes what a client request sets up (or undoes).
    fn note(&mut self, method: &str, params: &Value) {
        let uri = || params.get("uri").and_then(Value::as_str).map(str::to_owned);
        match method {
            "logging/setLevel" => self.log_level = Some(params.clone()),
            "resources/subscribe" => self.subscriptions.extend(uri()),
            "resources/unsubscribe" => {
                if let Some(uri) = uri() {
                    self.subscriptions.remove(&uri);
                }
            }
            _ => {}
        }
    }

    /// The requests that set it up again, without ids.
    fn requests(&self) -> Vec<Value> {
        let level = self.log_level.iter().map(
            |params| json!({"jsonrpc": "2.0", "method": "logging/setLevel", "params": params}),
        );
        let subscriptions = self.subscriptions.iter().map(|uri| {
            json!({"jsonrpc": "2.0", "method": "resources/subscribe", "params": {"uri": uri}})
        });
        level.chain(subscriptions).collect()
    }
}

#[derive(Debug)]
struct Remote {
    config: ForwardConfig,
    credentials: Arc<dyn Credentials>,
    out: mpsc::UnboundedSender<Bytes>,
    session: Mutex<Session>,
    /// Held while a session is opened again.
    recreating: tokio::sync::Mutex<()>,
    /// Ends the standalone stream when stdin closes.
    cancel: CancellationToken,
    /// Per tool, the arguments its schema mirrors into `Mcp-Param-*` headers (2026-07-28,
    /// SEP-2243), learnt from the `tools/list` answers that pass.
    param_headers: Mutex<ParamHeaders>,
}

/// Tool name → (header name, argument name) of the arguments declared with `x-mcp-header`.
type ParamHeaders = std::collections::HashMap<String, Vec<(HeaderName, String)>>;

/// A message's envelope: enough to route it.
#[derive(Debug)]
enum Kind {
    /// A request and its id (an answer is owed to the client).
    Request(Value),
    /// A notification, or the client's answer to a request of the remote.
    OneWay,
}

impl Remote {
    fn session<T>(&self, f: impl FnOnce(&mut Session) -> T) -> T {
        f(&mut self.session.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn emit(&self, message: &Value) {
        let _ = self.out.send(Bytes::from(message.to_string()));
    }

    /// Passes a message on as the remote wrote it, unless it spans lines (pretty-printed JSON, a
    /// multi-line SSE `data`): stdio frames messages by lines, so that one is written compact.
    fn emit_raw(&self, message: Bytes) {
        if !message.iter().any(|b| matches!(b, b'\n' | b'\r')) {
            let _ = self.out.send(message);
            return;
        }
        match serde_json::from_slice::<Value>(&message) {
            Ok(value) => self.emit(&value),
            Err(_) => tracing::warn!("ignoring a message of the remote that is not JSON"),
        }
    }

    async fn read_input<R: AsyncRead + Unpin>(
        self: Arc<Self>,
        input: R,
    ) -> Result<(), ForwardError> {
        let mut input = BufReader::new(input);
        let mut requests = tokio::task::JoinSet::new();
        // Requests of protocols without client notifications over HTTP (2026-07-28): a
        // cancellation ends the request's own POST.
        let mut modern = std::collections::HashMap::new();
        let mut line = Vec::new();
        loop {
            line.clear();
            if input.read_until(b'\n', &mut line).await? == 0 {
                break;
            }
            let text = line.trim_ascii();
            if text.is_empty() {
                continue;
            }
            let message: Value = match serde_json::from_slice(text) {
                Ok(message) => message,
                Err(e) => {
                    self.emit(&json!({"jsonrpc": "2.0", "id": null, "error": {
                        "code": -32700, "message": format!("parse error: {e}")}}));
                    continue;
                }
            };
            while requests.try_join_next().is_some() {}
            modern.retain(|_, task: &mut tokio::task::AbortHandle| !task.is_finished());
            let method = message.get("method").and_then(Value::as_str).unwrap_or_default();
            match kind(&message) {
                // The handshake goes first and alone: everything after it needs its session.
                Kind::Request(id) if method == "initialize" => {
                    self.session(|s| s.initialize = Some(message.clone()));
                    self.send_or_answer(&message, Some(id)).await;
                }
                Kind::Request(id) => {
                    let params = message.get("params").cloned().unwrap_or(Value::Null);
                    self.session(|s| s.setup.note(method, &params));
                    let remote = self.clone();
                    let is_modern = routing_headers(&message).contains_key(METHOD);
                    let key = id.to_string();
                    let task = requests
                        .spawn(async move { remote.send_or_answer(&message, Some(id)).await });
                    if is_modern {
                        modern.insert(key, task);
                    }
                }
                Kind::OneWay if method == "notifications/cancelled" => {
                    let cancelled = message["params"]["requestId"].to_string();
                    match modern.remove(&cancelled) {
                        Some(task) => task.abort(),
                        None => self.send_or_answer(&message, None).await,
                    }
                }
                // Quick (202) and ordered: `initialized` before the requests that follow it.
                Kind::OneWay => {
                    let initialized = method == "notifications/initialized";
                    self.send_or_answer(&message, None).await;
                    if initialized {
                        self.handshake_done();
                    }
                }
            }
        }
        if tokio::time::timeout(DRAIN_AFTER_EOF, async {
            while requests.join_next().await.is_some() {}
        })
        .await
        .is_err()
        {
            tracing::debug!("stdin closed; requests still running are dropped");
        }
        Ok(())
    }

    /// Sends one message; a request that fails gets a JSON-RPC error the client can show.
    async fn send_or_answer(self: &Arc<Self>, message: &Value, id: Option<Value>) {
        if let Err(e) = self.send(message, id.as_ref()).await {
            let method = message.get("method").and_then(Value::as_str).unwrap_or("a response");
            match id {
                Some(id) => {
                    tracing::warn!("{method}: {e}");
                    self.emit(&json!({"jsonrpc": "2.0", "id": id, "error": {
                        "code": -32603, "message": e.to_string()}}));
                }
                None => tracing::warn!("{method} was not delivered: {e}"),
            }
        }
    }

    async fn send(
        self: &Arc<Self>,
        message: &Value,
        id: Option<&Value>,
    ) -> Result<(), ForwardError> {
        let initialize = message.get("method").and_then(Value::as_str) == Some("initialize");
        let quick = initialize || id.is_none();
        let mut offered_again = false;
        let mut reopened = false;
        loop {
            let generation = self.session(|s| s.generation);
            let had_session = self.session(|s| s.id.is_some()) && !initialize;
            let response = self.post(message, quick).await?;
            let status = response.status();
            let method = message.get("method").and_then(Value::as_str);
            tracing::debug!("{} → HTTP {status}", method.unwrap_or("a response"));
            if status == StatusCode::NOT_FOUND && had_session && !reopened {
                reopened = true;
                self.reopen(generation).await?;
                continue;
            }
            if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) && !offered_again
            {
                offered_again = true;
                if self.credentials.refused(refusal(&response)).await? {
                    continue;
                }
                return Err(refused(response).await);
            }
            if status.is_redirection() {
                return Err(redirect(&response));
            }
            if !status.is_success() {
                return self.deliver_error(response, id).await;
            }
            if initialize {
                self.opened(&response);
            }
            if status == StatusCode::ACCEPTED {
                return match id {
                    Some(_) => Err(ForwardError::Protocol(
                        "a request was accepted without an answer".into(),
                    )),
                    None => Ok(()),
                };
            }
            // A batch (2025-03-26) or anything else the remote answers: passed on whole.
            let Some(id) = id else { return self.pass_on(response).await };
            let answer = self.answer(response, id, true).await?;
            if method == Some("tools/list") {
                self.learn_param_headers(&answer);
            }
            if initialize && let Some(version) = answer["result"]["protocolVersion"].as_str() {
                let version = HeaderValue::from_str(version).ok();
                self.session(|s| s.protocol_version = version);
            }
            return Ok(());
        }
    }

    /// Notes which arguments of the listed tools go into headers.
    fn learn_param_headers(&self, answer: &Value) {
        learn_param_headers(
            &mut self.param_headers.lock().unwrap_or_else(PoisonError::into_inner),
            answer,
        );
    }

    /// The `Mcp-Param-*` headers of a `tools/call` of protocol 2026-07-28 (none for others).
    fn argument_headers(&self, message: &Value) -> HeaderMap {
        argument_headers(
            &self.param_headers.lock().unwrap_or_else(PoisonError::into_inner),
            message,
        )
    }

    /// A message's POST, with the session's headers, the routing headers of protocols that
    /// have them, and the current bearer.
    async fn post(&self, message: &Value, quick: bool) -> Result<reqwest::Response, ForwardError> {
        let request = self
            .request(reqwest::Method::POST)
            .await?
            .headers(routing_headers(message))
            .headers(self.argument_headers(message))
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json, text/event-stream")
            .body(message.to_string());
        if quick {
            tokio::time::timeout(self.config.answer_timeout, request.send())
                .await
                .map_err(|_| {
                    ForwardError::Unreachable(format!(
                        "no answer within {} s",
                        self.config.answer_timeout.as_secs()
                    ))
                })?
                .map_err(|e| ForwardError::Unreachable(describe(&e)))
        } else {
            request.send().await.map_err(|e| ForwardError::Unreachable(describe(&e)))
        }
    }

    async fn request(
        &self,
        method: reqwest::Method,
    ) -> Result<reqwest::RequestBuilder, ForwardError> {
        let mut headers = self.config.headers.clone();
        let (id, version) = self.session(|s| (s.id.clone(), s.protocol_version.clone()));
        if let Some(id) = id {
            headers.insert(SESSION_ID, id);
        }
        if let Some(version) = version {
            headers.insert(PROTOCOL_VERSION, version);
        }
        if let Some(token) = self.credentials.bearer().await? {
            let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
                .map_err(|_| {
                    ForwardError::Credentials("the access token is not a valid header value".into())
                })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        Ok(self.config.client.request(method, self.config.url.clone()).headers(headers))
    }

    /// Keeps the session id the remote gave to `initialize`.
    fn opened(&self, response: &reqwest::Response) {
        let id = response.headers().get(SESSION_ID).cloned();
        self.session(|s| {
            s.id = id;
            s.protocol_version = None;
            s.generation += 1;
        });
    }

    /// The client finished the handshake: the standalone stream may open.
    fn handshake_done(self: &Arc<Self>) {
        let generation = self.session(|s| s.generation);
        tokio::spawn(self.clone().listen(generation));
    }

    /// Reads an answer (JSON or SSE) to request `id`, writing every other message to the client
    /// as it comes; the answer itself too when `pass_on`. Returns the answer.
    async fn answer(
        &self,
        response: reqwest::Response,
        id: &Value,
        pass_on: bool,
    ) -> Result<Value, ForwardError> {
        if !is_event_stream(&response) {
            let body = read_capped(response, MAX_JSON_ANSWER).await?;
            let message: Value = serde_json::from_slice(&body)
                .map_err(|_| ForwardError::Protocol("its answer is not JSON".into()))?;
            // A batch answer (2025-03-26) is passed on as it is.
            if pass_on {
                self.emit_raw(body);
            }
            return Ok(message);
        }
        let mut stream = Box::pin(events(response));
        let mut last_event_id = None;
        let mut retry = Duration::from_secs(1);
        let mut attempts = 0;
        loop {
            while let Some(event) = stream.next().await {
                let Ok(event) = event else { break };
                if let Some(event_id) = event.id {
                    last_event_id = Some(event_id);
                }
                if let Some(ms) = event.retry {
                    retry = Duration::from_millis(ms.min(60_000));
                }
                let Some(data) = event.data.filter(|d| !d.trim().is_empty()) else { continue };
                let Ok(message) = serde_json::from_str::<Value>(&data) else {
                    tracing::warn!("ignoring an event that is not JSON");
                    continue;
                };
                let is_answer = message.get("method").is_none() && message.get("id") == Some(id);
                if !is_answer || pass_on {
                    self.emit_raw(Bytes::from(data));
                }
                if is_answer {
                    return Ok(message);
                }
            }
            // The stream ended before the answer: resume it where it broke, if it can be.
            let Some(from) = last_event_id.clone() else {
                return Err(ForwardError::Protocol("it closed the stream before answering".into()));
            };
            attempts += 1;
            if attempts > RESUME_ATTEMPTS {
                return Err(ForwardError::Unreachable(format!(
                    "the answer's stream broke {RESUME_ATTEMPTS} times"
                )));
            }
            tokio::time::sleep(retry).await;
            tracing::debug!("resuming an answer's stream");
            match self.get(Some(&from)).await {
                Ok(response) if response.status().is_success() && is_event_stream(&response) => {
                    stream = Box::pin(events(response));
                }
                Ok(response) => {
                    return Err(ForwardError::Status {
                        status: response.status(),
                        detail: " when resuming the answer's stream".into(),
                    });
                }
                Err(e) => tracing::debug!("resuming: {e}"),
            }
        }
    }

    /// Every message of an answer that is not owed to one request id.
    async fn pass_on(&self, response: reqwest::Response) -> Result<(), ForwardError> {
        if !is_event_stream(&response) {
            let body = read_capped(response, MAX_JSON_ANSWER).await?;
            if !body.trim_ascii().is_empty() {
                self.emit_raw(body);
            }
            return Ok(());
        }
        let mut stream = Box::pin(events(response));
        while let Some(Ok(event)) = stream.next().await {
            if let Some(data) = event.data.filter(|d| !d.trim().is_empty()) {
                self.emit_raw(Bytes::from(data));
            }
        }
        Ok(())
    }

    /// A refused request: the remote's own JSON-RPC error when it sent one, else ours.
    async fn deliver_error(
        &self,
        response: reqwest::Response,
        id: Option<&Value>,
    ) -> Result<(), ForwardError> {
        let status = response.status();
        let body = read_capped(response, 1 << 20).await.unwrap_or_default();
        if let (Some(id), Ok(message)) = (id, serde_json::from_slice::<Value>(&body))
            && message.get("error").is_some()
            && message.get("id") == Some(id)
        {
            self.emit_raw(body);
            return Ok(());
        }
        Err(ForwardError::Status { status, detail: quoted(&body) })
    }

    /// The remote forgot the session: opens a new one with the client's `initialize` (once, even
    /// when several requests met the 404).
    async fn reopen(self: &Arc<Self>, generation: u64) -> Result<(), ForwardError> {
        let _one_at_a_time = self.recreating.lock().await;
        if self.session(|s| s.generation) != generation {
            return Ok(());
        }
        let Some(mut initialize) = self.session(|s| {
            s.id = None;
            s.protocol_version = None;
            s.initialize.clone()
        }) else {
            return Err(ForwardError::Protocol("the session ended before it began".into()));
        };
        tracing::info!("the remote session expired; opening a new one");
        let id = json!(format!("mcp-forward-reopen-{generation}"));
        initialize["id"] = id.clone();
        let response = self.post(&initialize, true).await?;
        if !response.status().is_success() {
            return Err(ForwardError::Status {
                status: response.status(),
                detail: " when opening a new session".into(),
            });
        }
        self.opened(&response);
        let answer = self.answer(response, &id, false).await?;
        let version = answer["result"]["protocolVersion"]
            .as_str()
            .and_then(|v| HeaderValue::from_str(v).ok());
        self.session(|s| s.protocol_version = version);
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let response = self.post(&initialized, true).await?;
        if !response.status().is_success() {
            return Err(ForwardError::Status {
                status: response.status(),
                detail: " when opening a new session".into(),
            });
        }
        self.handshake_done();
        let setup = self.session(|s| s.setup.requests());
        for (n, mut request) in setup.into_iter().enumerate() {
            let id = json!(format!("mcp-forward-setup-{generation}-{n}"));
            request["id"] = id.clone();
            let method = request["method"].as_str().unwrap_or_default().to_owned();
            let done = match self.post(&request, true).await {
                Ok(response) if response.status().is_success() => {
                    match self.answer(response, &id, false).await {
                        Ok(answer) if answer.get("error").is_some() => {
                            Err(ForwardError::Protocol(format!(
                                "the remote answered {}",
                                quoted(answer["error"].to_string().as_bytes())
                            )))
                        }
                        other => other.map(drop),
                    }
                }
                Ok(response) => {
                    Err(ForwardError::Status { status: response.status(), detail: String::new() })
                }
                Err(e) => Err(e),
            };
            match done {
                Ok(()) => tracing::debug!("{method} sent again in the new session"),
                Err(e) => {
                    tracing::warn!("{method} could not be sent again in the new session: {e}")
                }
            }
        }
        Ok(())
    }

    async fn get(&self, last_event_id: Option<&str>) -> Result<reqwest::Response, ForwardError> {
        let mut request =
            self.request(reqwest::Method::GET).await?.header(ACCEPT, "text/event-stream");
        if let Some(from) = last_event_id {
            request = request.header(LAST_EVENT_ID, from);
        }
        tokio::time::timeout(self.config.answer_timeout, request.send())
            .await
            .map_err(|_| ForwardError::Unreachable("no answer to the stream's GET".into()))?
            .map_err(|e| ForwardError::Unreachable(describe(&e)))
    }

    /// The standalone GET stream of session `generation`: what the remote sends on its own,
    /// reopened where it left off until the session or the proxy ends.
    async fn listen(self: Arc<Self>, generation: u64) {
        let mut last_event_id: Option<String> = None;
        let mut retry = Duration::from_secs(1);
        let mut failures = 0u32;
        let mut offered_again = false;
        loop {
            if self.cancel.is_cancelled() || self.session(|s| s.generation) != generation {
                return;
            }
            let response = tokio::select! {
                () = self.cancel.cancelled() => return,
                response = self.get(last_event_id.as_deref()) => response,
            };
            match response {
                Ok(response) if response.status() == StatusCode::METHOD_NOT_ALLOWED => return,
                // The session is gone, or the remote offers no stream (some say 404 for that):
                // the next request finds out which, and opens a new session if it must. Opening
                // one from here could loop with a remote of the second kind.
                Ok(response) if response.status() == StatusCode::NOT_FOUND => return,
                Ok(response)
                    if matches!(
                        response.status(),
                        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
                    ) && !offered_again =>
                {
                    offered_again = true;
                    match self.credentials.refused(refusal(&response)).await {
                        Ok(true) => continue,
                        _ => return,
                    }
                }
                Ok(response) if response.status().is_success() && is_event_stream(&response) => {
                    failures = 0;
                    offered_again = false;
                    let mut stream = Box::pin(events(response));
                    loop {
                        let event = tokio::select! {
                            () = self.cancel.cancelled() => return,
                            event = stream.next() => event,
                        };
                        let Some(Ok(event)) = event else { break };
                        if let Some(id) = event.id {
                            last_event_id = Some(id);
                        }
                        if let Some(ms) = event.retry {
                            retry = Duration::from_millis(ms.min(60_000));
                        }
                        if let Some(data) = event.data.filter(|d| !d.trim().is_empty()) {
                            self.emit_raw(Bytes::from(data));
                        }
                    }
                }
                Ok(response) => {
                    failures += 1;
                    tracing::debug!("the standalone stream: HTTP {}", response.status());
                }
                Err(e) => {
                    failures += 1;
                    tracing::debug!("the standalone stream: {e}");
                }
            }
            if failures > 10 {
                tracing::warn!(
                    "the remote's standalone stream keeps failing; messages it sends on its own may be missed"
                );
                return;
            }
            tokio::select! {
                () = self.cancel.cancelled() => return,
                () = tokio::time::sleep(retry * failures.max(1)) => {}
            }
        }
    }

    /// Ends the remote session (DELETE), best effort and quickly.
    async fn end_session(&self) {
        if self.session(|s| s.id.is_none()) {
            return;
        }
        let Ok(request) = self.request(reqwest::Method::DELETE).await else { return };
        let _ = tokio::time::timeout(Duration::from_secs(2), request.send()).await;
    }
}

/// Protocol 2026-07-28 and later: a message names its version in `params._meta`, and its HTTP
/// request repeats the version, the method and the name it is about (a tool, a prompt, a
/// resource) in headers, which the remote checks against the body.
fn routing_headers(message: &Value) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let version = message
        .pointer("/params/_meta/io.modelcontextprotocol~1protocolVersion")
        .and_then(Value::as_str)
        .and_then(|v| HeaderValue::from_str(v).ok());
    let (Some(version), Some(method)) = (version, message.get("method").and_then(Value::as_str))
    else {
        return headers;
    };
    headers.insert(PROTOCOL_VERSION, version);
    if let Ok(value) = HeaderValue::from_str(&header_text(method)) {
        headers.insert(METHOD, value);
    }
    let name_key = match method {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" => Some("uri"),
        _ => None,
    };
    let name = name_key.and_then(|key| message["params"][key].as_str());
    if let Some(Ok(value)) = name.map(|name| HeaderValue::from_str(&header_text(name))) {
        headers.insert(NAME, value);
    }
    headers
}

/// Notes in `known` which arguments of the tools of a `tools/list` answer go into headers.
fn learn_param_headers(known: &mut ParamHeaders, answer: &Value) {
    let Some(tools) = answer.pointer("/result/tools").and_then(Value::as_array) else {
        return;
    };
    for tool in tools {
        let Some(name) = tool.get("name").and_then(Value::as_str) else { continue };
        let declared = declared_param_headers(tool);
        if declared.is_empty() {
            known.remove(name);
        } else {
            known.insert(name.to_owned(), declared);
        }
    }
}

/// The `Mcp-Param-*` headers of `message` when it is a `tools/call` of protocol 2026-07-28: each
/// declared argument that is a string (header-safe or base64-wrapped), a number or a boolean;
/// null and absent ones are left out.
fn argument_headers(known: &ParamHeaders, message: &Value) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let modern = message.pointer("/params/_meta/io.modelcontextprotocol~1protocolVersion");
    if message.get("method").and_then(Value::as_str) != Some("tools/call") || modern.is_none() {
        return headers;
    }
    let Some(tool) = message.pointer("/params/name").and_then(Value::as_str) else {
        return headers;
    };
    for (header, argument) in known.get(tool).into_iter().flatten() {
        let text = match message.pointer("/params/arguments").and_then(|a| a.get(argument)) {
            Some(Value::String(text)) => header_text(text),
            Some(value @ (Value::Number(_) | Value::Bool(_))) => value.to_string(),
            _ => continue,
        };
        if let Ok(value) = HeaderValue::from_str(&text) {
            headers.insert(header.clone(), value);
        }
    }
    headers
}

/// The `Mcp-Param-{Name}` headers a tool's input schema declares (`x-mcp-header` on a top-level
/// property of a primitive type), by argument; names that are not HTTP tokens are skipped.
fn declared_param_headers(tool: &Value) -> Vec<(HeaderName, String)> {
    let Some(properties) = tool.pointer("/inputSchema/properties").and_then(Value::as_object)
    else {
        return Vec::new();
    };
    properties
        .iter()
        .filter_map(|(argument, schema)| {
            let name = schema.get("x-mcp-header")?.as_str()?;
            let header = HeaderName::from_bytes(format!("mcp-param-{name}").as_bytes()).ok()?;
            Some((header, argument.clone()))
        })
        .collect()
}

/// A value as it survives an HTTP header: printable ASCII as it is, anything else (or what looks
/// like the wrapping itself) as `=?base64?…?=`.
fn header_text(value: &str) -> String {
    let plain = value.bytes().all(|b| (0x20..0x7f).contains(&b))
        && value == value.trim()
        && !(value.starts_with("=?base64?") && value.ends_with("?="));
    if plain {
        value.to_owned()
    } else {
        use base64::Engine as _;
        format!("=?base64?{}?=", base64::engine::general_purpose::STANDARD.encode(value))
    }
}

fn kind(message: &Value) -> Kind {
    match (message.get("method"), message.get("id")) {
        (Some(_), Some(id)) if !id.is_null() => Kind::Request(id.clone()),
        _ => Kind::OneWay,
    }
}

fn is_event_stream(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/event-stream"))
}

fn events(
    response: reqwest::Response,
) -> impl futures_util::Stream<Item = Result<sse_stream::Sse, sse_stream::Error>> {
    sse_stream::SseStream::from_bytes_stream(response.bytes_stream().map_err(std::io::Error::other))
}

fn refusal(response: &reqwest::Response) -> Refusal {
    Refusal {
        status: response.status(),
        www_authenticate: response
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    }
}

async fn refused(response: reqwest::Response) -> ForwardError {
    let status = response.status();
    let challenge = refusal(&response).www_authenticate;
    let body = read_capped(response, 1 << 16).await.unwrap_or_default();
    let detail = match challenge {
        Some(challenge) => format!(": {}", quote(&challenge)),
        None => quoted(&body),
    };
    ForwardError::Refused { status, detail }
}

fn redirect(response: &reqwest::Response) -> ForwardError {
    let to = response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map_or_else(|| "another address".to_owned(), quote);
    ForwardError::Redirect(to)
}

async fn read_capped(response: reqwest::Response, cap: usize) -> Result<Bytes, ForwardError> {
    outbound_http::read_limited(response, cap)
        .await
        .map(Bytes::from)
        .map_err(|e| ForwardError::Answer(e.to_string()))
}

/// `: <the body's start>` for a message, or nothing for an empty body.
fn quoted(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() { String::new() } else { format!(": {}", quote(text)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_setup_is_noted_and_replayed() {
        let mut setup = SessionSetup::default();
        setup.note("logging/setLevel", &json!({"level": "info"}));
        setup.note("logging/setLevel", &json!({"level": "error"}));
        setup.note("resources/subscribe", &json!({"uri": "test://a"}));
        setup.note("resources/subscribe", &json!({"uri": "test://b"}));
        setup.note("resources/unsubscribe", &json!({"uri": "test://a"}));
        setup.note("tools/call", &json!({"name": "x"}));
        assert_eq!(
            setup.requests(),
            vec![
                json!({"jsonrpc": "2.0", "method": "logging/setLevel", "params": {"level": "error"}}),
                json!({"jsonrpc": "2.0", "method": "resources/subscribe", "params": {"uri": "test://b"}}),
            ]
        );
    }

    #[test]
    fn requests_are_told_from_notifications_and_answers() {
        assert!(
            matches!(kind(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})), Kind::Request(id) if id == json!(1))
        );
        assert!(matches!(
            kind(&json!({"jsonrpc": "2.0", "id": "a", "method": "x"})),
            Kind::Request(_)
        ));
        assert!(matches!(
            kind(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"})),
            Kind::OneWay
        ));
        assert!(matches!(kind(&json!({"jsonrpc": "2.0", "id": 7, "result": {}})), Kind::OneWay));
        assert!(matches!(
            kind(&json!({"jsonrpc": "2.0", "id": null, "method": "x"})),
            Kind::OneWay
        ));
        assert!(matches!(kind(&json!([{"jsonrpc": "2.0", "id": 1, "method": "x"}])), Kind::OneWay));
    }

    #[test]
    fn declared_arguments_travel_in_param_headers() {
        let mut known = ParamHeaders::new();
        let list = json!({"jsonrpc": "2.0", "id": 1, "result": {"tools": [
            {"name": "route", "inputSchema": {"type": "object", "properties": {
                "region": {"type": "string", "x-mcp-header": "Region"},
                "shard": {"type": "integer", "x-mcp-header": "Shard"},
                "dry": {"type": "boolean", "x-mcp-header": "Dry-Run"},
                "bad": {"type": "string", "x-mcp-header": "not a token"},
                "note": {"type": "string"}}}},
            {"name": "plain", "inputSchema": {"type": "object"}}]}});
        learn_param_headers(&mut known, &list);
        let call = |arguments: Value| {
            json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
                "name": "route", "arguments": arguments,
                "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}}})
        };
        let headers = argument_headers(
            &known,
            &call(json!({"region": "eu-west", "shard": 7, "dry": true, "bad": "x", "note": "n"})),
        );
        assert_eq!(headers.len(), 3, "{headers:?}");
        assert_eq!(headers["mcp-param-region"], "eu-west");
        assert_eq!(headers["mcp-param-shard"], "7");
        assert_eq!(headers["mcp-param-dry-run"], "true");
        let wrapped = argument_headers(&known, &call(json!({"region": "Zürich", "shard": null})));
        assert_eq!(wrapped["mcp-param-region"], "=?base64?WsO8cmljaA==?=");
        assert!(!wrapped.contains_key("mcp-param-shard"), "null is left out");
        let mut legacy = call(json!({"region": "eu"}));
        legacy["params"]["_meta"] = Value::Null;
        assert!(argument_headers(&known, &legacy).is_empty(), "only protocol 2026-07-28");
    }

    #[test]
    fn modern_requests_carry_their_routing_headers() {
        let call = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
            "name": "rucio_whoami", "arguments": {},
            "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}}});
        let headers = routing_headers(&call);
        assert_eq!(headers[PROTOCOL_VERSION], "2026-07-28");
        assert_eq!(headers[METHOD], "tools/call");
        assert_eq!(headers[NAME], "rucio_whoami");
        let read = json!({"jsonrpc": "2.0", "id": 4, "method": "resources/read", "params": {
            "uri": "dirac://jobs/é", "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}}});
        assert_eq!(routing_headers(&read)[NAME], "=?base64?ZGlyYWM6Ly9qb2JzL8Op?=");
        let legacy = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/list", "params": {}});
        assert!(routing_headers(&legacy).is_empty());
        assert_eq!(header_text(" padded"), "=?base64?IHBhZGRlZA==?=");
    }

    #[test]
    fn quoted_text_is_short_and_has_no_control_characters() {
        assert_eq!(quoted(b"  "), "");
        assert_eq!(quoted(b"no\nsuch session"), ": nosuch session");
        assert!(quoted("x".repeat(1000).as_bytes()).ends_with('…'));
    }
}
