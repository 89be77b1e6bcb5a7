//! Sleeping sessions on a real listener with raw HTTP: an idle session loses its worker and wakes
//! unnoticed at its next request (one that only did its handshake at once); running calls and
//! requests of the server waiting for the client keep it awake; an open GET stream does not, yet
//! hears what the server sends; a broken stream is resumed after the session slept; DELETE and
//! the idle timeout end it for good. And the cached `tools/list`, which answers without waking.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mcp_transports::{HttpOptions, HttpServer, Site};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, InitializeRequestParams,
    InitializeResult, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
    Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// Counts handshakes (a woken session replays one) and has one tool that sleeps `ms`.
#[derive(Clone, Debug, Default)]
struct Counting {
    handshakes: Arc<AtomicUsize>,
}

impl ServerHandler for Counting {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, McpError> {
        self.handshakes.fetch_add(1, Ordering::SeqCst);
        context.peer.set_peer_info(request.clone());
        self.negotiate_initialize(&request)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(nap_tools())
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        match request.name.as_ref() {
            // Something for the standalone stream.
            "announce" => {
                context
                    .peer
                    .notify_tool_list_changed()
                    .await
                    .map_err(|e| McpError::internal_error(format!("notify: {e}"), None))?;
                return Ok(CallToolResult::success(vec![ContentBlock::text("announced")]).into());
            }
            // A request to the client, answered while the call waits (roots: the simplest request a
            // server sends; deprecated for new clients, still a server-to-client request).
            #[allow(deprecated)]
            "ask" => {
                let roots = context
                    .peer
                    .list_roots()
                    .await
                    .map_err(|e| McpError::internal_error(format!("roots: {e}"), None))?;
                let text = format!("roots: {}", roots.roots.len());
                return Ok(CallToolResult::success(vec![ContentBlock::text(text)]).into());
            }
            _ => {}
        }
        let ms = request.arguments.as_ref().and_then(|a| a.get("ms")).and_then(Value::as_u64);
        tokio::time::sleep(Duration::from_millis(ms.unwrap_or(0))).await;
        Ok(CallToolResult::success(vec![ContentBlock::text("slept")]).into())
    }
}

struct Server {
    mcp: String,
    metrics: String,
    handshakes: Arc<AtomicUsize>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    http: reqwest::Client,
}

fn nap_tools() -> ListToolsResult {
    let schema = json!({"type": "object", "properties": {"ms": {"type": "integer"}}});
    let Value::Object(schema) = schema else { unreachable!() };
    ListToolsResult::with_all_items(vec![Tool::new("nap", "Sleeps ms milliseconds", schema)])
}

async fn start(sleep_after: Duration, idle_timeout: Duration) -> Server {
    let handler = Counting::default();
    let handshakes = handler.handshakes.clone();
    let options = HttpOptions {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        metrics_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        session_sleep_after: sleep_after,
        session_idle_timeout: idle_timeout,
        ..HttpOptions::default()
    };
    let listening = Site::new("demo", handler).with_tool_list(&nap_tools()).unwrap();
    let listening = HttpServer::new(options, "demo-mcp", "1.0").site(listening).bind().await;
    let listening = listening.unwrap();
    let mcp = format!("http://{}/site/demo", listening.local_addr());
    let metrics = format!("http://{}/metrics", listening.metrics_addr().unwrap());
    let stop = CancellationToken::new();
    let signal = stop.clone();
    let task = tokio::spawn(async move {
        listening.serve(signal.cancelled_owned()).await.unwrap();
    });
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    Server { mcp, metrics, handshakes, stop, task, http }
}

impl Server {
    async fn post(&self, session: Option<&str>, body: Value) -> reqwest::Response {
        let mut request = self
            .http
            .post(&self.mcp)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-11-25")
            .json(&body);
        if let Some(id) = session {
            request = request.header("mcp-session-id", id);
        }
        request.send().await.unwrap()
    }

    /// Initializes a session and returns its id.
    async fn open(&self) -> String {
        let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "sessions-test", "version": "1"}}});
        let response = self.post(None, init).await;
        assert_eq!(response.status(), 200);
        let id = response.headers()["mcp-session-id"].to_str().unwrap().to_owned();
        response.bytes().await.unwrap();
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        assert_eq!(self.post(Some(&id), initialized).await.status(), 202);
        id
    }

    /// A request in the session: the HTTP status and the JSON-RPC answer, if any.
    async fn call(&self, id: &str, ms: u64) -> (u16, Option<Value>) {
        static NEXT_ID: AtomicUsize = AtomicUsize::new(10);
        let call = json!({"jsonrpc": "2.0", "id": NEXT_ID.fetch_add(1, Ordering::Relaxed), "method": "tools/call",
            "params": {"name": "nap", "arguments": {"ms": ms}}});
        let response = self.post(Some(id), call).await;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let answer = text
            .lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .filter_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
            .find(|message| message.get("id").is_some());
        (status, answer)
    }

    /// Calls a tool without arguments: the HTTP status and the answer.
    async fn tool(&self, id: &str, name: &str) -> (u16, Option<Value>) {
        static NEXT_ID: AtomicUsize = AtomicUsize::new(1000);
        let call = json!({"jsonrpc": "2.0", "id": NEXT_ID.fetch_add(1, Ordering::Relaxed),
            "method": "tools/call", "params": {"name": name, "arguments": {}}});
        let response = self.post(Some(id), call).await;
        let status = response.status().as_u16();
        let answer = Events::new(response).until(|m| m.get("id").is_some()).await;
        (status, answer)
    }

    /// Opens the session's GET stream, resuming after `last_event_id` if given.
    async fn get(&self, id: &str, last_event_id: Option<&str>) -> Events {
        let mut request = reqwest::Client::new()
            .get(&self.mcp)
            .header("accept", "text/event-stream")
            .header("mcp-protocol-version", "2025-11-25")
            .header("mcp-session-id", id);
        if let Some(last) = last_event_id {
            request = request.header("last-event-id", last);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        Events::new(response)
    }

    /// `mcp_sessions{site="demo",state=…}` from `/metrics`.
    async fn sessions_gauge(&self, state: &str) -> String {
        let text = self.http.get(&self.metrics).send().await.unwrap().text().await.unwrap();
        let key = format!(r#"mcp_sessions{{site="demo",state="{state}"}} "#);
        let line = text.lines().find_map(|l| l.strip_prefix(key.as_str()));
        line.unwrap_or("missing").to_owned()
    }

    async fn stop(self) {
        self.stop.cancel();
        self.task.await.unwrap();
    }
}

fn slept(answer: Option<Value>) -> bool {
    answer.is_some_and(|a| a["result"]["content"][0]["text"] == "slept")
}

#[tokio::test]
async fn an_idle_session_sleeps_and_wakes_at_its_next_request() {
    let server = start(Duration::from_millis(300), Duration::from_secs(600)).await;
    let id = server.open().await;
    let (status, answer) = server.call(&id, 0).await;
    assert!(status == 200 && slept(answer), "first call: {status}");
    // (Asleep right after the handshake, the first call may already have woken it.)
    let handshakes = server.handshakes.load(Ordering::SeqCst);

    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(server.sessions_gauge("asleep").await, "1");
    assert_eq!(server.sessions_gauge("awake").await, "0");
    let (status, answer) = server.call(&id, 0).await;
    assert!(status == 200 && slept(answer), "call after sleeping: {status}");
    assert_eq!(server.sessions_gauge("awake").await, "1");
    let woken = server.handshakes.load(Ordering::SeqCst);
    assert_eq!(woken, handshakes + 1, "woken by a replayed handshake");

    // Asleep again, then several requests at once wake it once.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let calls = (0..8).map(|_| server.call(&id, 10));
    for (status, answer) in futures_util::future::join_all(calls).await {
        assert!(status == 200 && slept(answer), "concurrent call after sleeping: {status}");
    }
    assert_eq!(server.handshakes.load(Ordering::SeqCst), woken + 1, "woken once");

    let delete = server.http.delete(&server.mcp).header("mcp-session-id", &id).send().await;
    assert!(delete.unwrap().status().is_success());
    assert_eq!(server.call(&id, 0).await.0, 404, "a deleted session stays deleted");
    server.stop().await;
}

#[tokio::test]
async fn a_session_that_only_did_its_handshake_sleeps_at_once() {
    let server = start(Duration::from_secs(30), Duration::from_secs(600)).await;
    let id = server.open().await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(server.sessions_gauge("asleep").await, "1", "long before the 30 s grace");
    let (status, answer) = server.call(&id, 0).await;
    assert!(status == 200 && slept(answer), "woken: {status}");
    assert_eq!(server.handshakes.load(Ordering::SeqCst), 2);
    // After a real request the grace applies: it stays awake.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(server.sessions_gauge("awake").await, "1");
    server.stop().await;
}

#[tokio::test]
async fn requests_racing_a_wake_up_all_get_their_answer() {
    // A session asleep right after its handshake, then a GET stream and calls at once, as
    // clients do: none may reach the new worker before the replayed handshake.
    let server = start(Duration::from_secs(5), Duration::from_secs(600)).await;
    for _ in 0..20 {
        let id = server.open().await;
        let calls = futures_util::future::join_all((0..4).map(|_| server.call(&id, 0)));
        let (stream, answers) = tokio::join!(server.get(&id, None), calls);
        drop(stream);
        for (status, answer) in answers {
            assert!(status == 200 && slept(answer), "a call racing the wake-up: {status}");
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn a_running_call_keeps_a_session_awake() {
    let server = start(Duration::from_millis(300), Duration::from_secs(600)).await;
    let id = server.open().await;
    assert_eq!(server.call(&id, 0).await.0, 200);
    let handshakes = server.handshakes.load(Ordering::SeqCst);
    let (status, answer) = server.call(&id, 1500).await;
    assert!(status == 200 && slept(answer), "a call longer than the sleep time: {status}");
    assert_eq!(server.handshakes.load(Ordering::SeqCst), handshakes, "never slept during the call");
    server.stop().await;
}

#[tokio::test]
async fn an_open_get_stream_needs_no_worker_and_still_hears_the_server() {
    let server = start(Duration::from_millis(300), Duration::from_secs(600)).await;
    let id = server.open().await;
    let mut events = server.get(&id, None).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(server.sessions_gauge("asleep").await, "1", "the GET stream holds no worker");

    let (status, answer) = server.tool(&id, "announce").await;
    assert!(status == 200 && text_of(&answer) == "announced", "{status} {answer:?}");
    let heard = events.until(|m| m["method"] == "notifications/tools/list_changed").await;
    assert!(heard.is_some(), "what a woken worker sends reaches the open GET stream");
    // A second GET stream only keeps alive: a message goes to one stream, never to both.
    let mut second = server.get(&id, None).await;
    let (status, _) = server.tool(&id, "announce").await;
    assert_eq!(status, 200);
    assert!(events.until(|m| m["method"] == "notifications/tools/list_changed").await.is_some());
    assert!(second.within(Duration::from_millis(300)).await.is_none(), "the shadow hears nothing");
    server.stop().await;
}

#[tokio::test]
async fn a_broken_stream_is_resumed_after_the_session_slept() {
    let server = start(Duration::from_millis(200), Duration::from_secs(600)).await;
    let id = server.open().await;
    let call = json!({"jsonrpc": "2.0", "id": 77, "method": "tools/call",
        "params": {"name": "nap", "arguments": {"ms": 600}}});
    let mut stream = Events::new(server.post(Some(&id), call).await);
    let priming = stream.next_event().await.expect("a priming event");
    let last_event_id = priming.0.expect("the priming event has an id");
    drop(stream); // the connection breaks before the answer

    // The answer is logged at 600 ms; the session sleeps after its grace.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(server.sessions_gauge("asleep").await, "1");
    let other = server.open().await;
    let mut foreign = server.get(&other, Some(&last_event_id)).await;
    assert!(foreign.until(|m| m["id"] == 77).await.is_none(), "another session cannot replay it");
    let mut resumed = server.get(&id, Some(&last_event_id)).await;
    let answer = resumed.until(|m| m["id"] == 77).await;
    assert_eq!(answer.map(|a| text_of(&Some(a))), Some("slept".to_owned()), "replayed after sleep");

    // A stream broken while its call still runs is followed live until the answer.
    let call = json!({"jsonrpc": "2.0", "id": 78, "method": "tools/call",
        "params": {"name": "nap", "arguments": {"ms": 700}}});
    let mut stream = Events::new(server.post(Some(&id), call).await);
    let priming = stream.next_event().await.expect("a priming event").0.unwrap();
    drop(stream);
    let mut resumed = server.get(&id, Some(&priming)).await;
    let answer = resumed.until(|m| m["id"] == 78).await;
    assert_eq!(answer.map(|a| text_of(&Some(a))), Some("slept".to_owned()), "followed live");
    server.stop().await;
}

#[tokio::test]
async fn a_request_of_the_server_keeps_the_session_awake_until_the_client_answers() {
    let server = start(Duration::from_millis(200), Duration::from_secs(600)).await;
    let id = server.open().await;
    let call = json!({"jsonrpc": "2.0", "id": 90, "method": "tools/call",
        "params": {"name": "ask", "arguments": {}}});
    let mut stream = Events::new(server.post(Some(&id), call).await);
    let request = stream.until(|m| m["method"] == "roots/list").await.expect("the server asks");
    let handshakes = server.handshakes.load(Ordering::SeqCst);
    // The client takes its time; the session must not sleep meanwhile.
    tokio::time::sleep(Duration::from_millis(900)).await;
    let answer = json!({"jsonrpc": "2.0", "id": request["id"], "result": {"roots": [
        {"uri": "file:///data", "name": "data"}]}});
    assert_eq!(server.post(Some(&id), answer).await.status(), 202);
    let result = stream.until(|m| m["id"] == 90).await;
    assert_eq!(result.map(|r| text_of(&Some(r))), Some("roots: 1".to_owned()));
    assert_eq!(server.handshakes.load(Ordering::SeqCst), handshakes, "never slept while asking");
    server.stop().await;
}

#[tokio::test]
async fn a_session_idle_past_the_timeout_is_forgotten() {
    let server = start(Duration::from_millis(200), Duration::from_millis(700)).await;
    let id = server.open().await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(server.call(&id, 0).await.0, 404);
    assert_eq!(server.call("no-such-session", 0).await.0, 404);
    server.stop().await;
}

#[tokio::test]
async fn tools_list_is_answered_from_the_cache_without_waking_the_session() {
    let server = start(Duration::from_millis(300), Duration::from_secs(600)).await;
    let id = server.open().await;
    let expected = serde_json::to_value(nap_tools()).unwrap();
    let list = |id: Value| json!({"jsonrpc": "2.0", "id": id, "method": "tools/list"});

    tokio::time::sleep(Duration::from_millis(1200)).await;
    for request_id in [json!(41), json!("req-42")] {
        let response = server.post(Some(&id), list(request_id.clone())).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/json");
        let length = response.headers().get("content-length").cloned();
        let body = response.bytes().await.unwrap();
        assert_eq!(length.as_ref().map(|l| l.as_bytes()), Some(body.len().to_string().as_bytes()));
        let answer: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(answer["id"], request_id);
        assert_eq!(answer["result"], expected);
    }
    assert_eq!(server.handshakes.load(Ordering::SeqCst), 1, "answered asleep, not woken");

    // What the cache does not answer reaches rmcp, which answers as it always does.
    assert_eq!(server.post(Some("no-such-session"), list(json!(1))).await.status(), 404);
    let json_only = server
        .http
        .post(&server.mcp)
        .header("accept", "application/json")
        .header("mcp-session-id", &id)
        .json(&list(json!(2)))
        .send()
        .await
        .unwrap();
    assert_eq!(json_only.status(), 406);
    let by_rmcp = server
        .http
        .post(&server.mcp)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .header("mcp-session-id", &id)
        .header("mcp-method", "tools/call")
        .json(&list(json!(4)))
        .send()
        .await
        .unwrap();
    assert_eq!(by_rmcp.status(), 200);
    assert_eq!(by_rmcp.headers()["content-type"], "text/event-stream");
    by_rmcp.bytes().await.unwrap();
    assert_eq!(server.handshakes.load(Ordering::SeqCst), 2, "rmcp woke the session to answer");
    server.stop().await;
}

fn text_of(answer: &Option<Value>) -> String {
    answer
        .as_ref()
        .and_then(|a| a["result"]["content"][0]["text"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// The SSE events of a response, read as they come.
struct Events {
    body: futures_util::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    pending: String,
}

impl Events {
    fn new(response: reqwest::Response) -> Self {
        use futures_util::StreamExt;
        Self { body: response.bytes_stream().boxed(), pending: String::new() }
    }

    /// The next event: its id and its data as JSON (`Null` for an event without data); `None`
    /// when the stream ends or nothing comes for 5 s.
    async fn next_event(&mut self) -> Option<(Option<String>, Value)> {
        self.next_event_within(Duration::from_secs(5)).await
    }

    async fn next_event_within(&mut self, wait: Duration) -> Option<(Option<String>, Value)> {
        use futures_util::StreamExt;
        loop {
            if let Some(end) = self.pending.find("\n\n") {
                let block: String = self.pending.drain(..end + 2).collect();
                let mut id = None;
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if id.is_none() && data.is_empty() {
                    continue; // a keep-alive comment or a bare retry hint
                }
                return Some((id, serde_json::from_str(&data).unwrap_or(Value::Null)));
            }
            let chunk = tokio::time::timeout(wait, self.body.next()).await.ok()??.ok()?;
            self.pending.push_str(&String::from_utf8_lossy(&chunk).replace("\r\n", "\n"));
        }
    }

    /// The first message for which `wanted` holds, within 5 s.
    async fn until(&mut self, wanted: impl Fn(&Value) -> bool) -> Option<Value> {
        while let Some((_, message)) = self.next_event().await {
            if wanted(&message) {
                return Some(message);
            }
        }
        None
    }

    /// Any message within `wait`.
    async fn within(&mut self, wait: Duration) -> Option<Value> {
        loop {
            let (_, message) = self.next_event_within(wait).await?;
            if !message.is_null() {
                return Some(message);
            }
        }
    }
}
