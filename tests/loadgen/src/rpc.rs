//! MCP over streamable HTTP, the client side the generator needs: requests with the session
//! headers, and the JSON-RPC reply found in an SSE stream or a plain JSON body.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode, header};
use http_body_util::Full;
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::conn::{Conn, Failure, Kind, Reply};

pub(crate) const PROTOCOL_VERSION: &str = "2025-11-25";

/// Where and how to reach the MCP endpoint; shared by all sessions.
#[derive(Debug)]
pub(crate) struct Endpoint {
    /// Origin form (`/site/x/`): `conn::http1` sends the URI as given, and Host is ours to set.
    pub(crate) uri: http::Uri,
    pub(crate) host: HeaderValue,
    pub(crate) authorization: Option<HeaderValue>,
}

impl Endpoint {
    /// A request to the endpoint with the headers every MCP request carries.
    pub(crate) fn request(
        &self,
        method: Method,
        session: Option<&HeaderValue>,
        body: Option<Bytes>,
    ) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(body.clone().unwrap_or_default()));
        *request.method_mut() = method;
        *request.uri_mut() = self.uri.clone();
        let headers = request.headers_mut();
        headers.insert(header::HOST, self.host.clone());
        if let Some(auth) = &self.authorization {
            headers.insert(header::AUTHORIZATION, auth.clone());
        }
        if body.is_some() {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            headers.insert(
                header::ACCEPT,
                HeaderValue::from_static("application/json, text/event-stream"),
            );
        }
        if let Some(session) = session {
            headers.insert("mcp-session-id", session.clone());
            headers.insert("mcp-protocol-version", HeaderValue::from_static(PROTOCOL_VERSION));
        }
        request
    }
}

/// The parts of a JSON-RPC message the generator looks at; everything else is skipped unparsed.
#[derive(Debug, Deserialize)]
pub(crate) struct Message {
    #[serde(default)]
    id: Option<serde_json::Value>,
    #[serde(default)]
    result: Option<ResultPart>,
    #[serde(default)]
    error: Option<ErrorPart>,
}

#[derive(Debug, Deserialize)]
struct ResultPart {
    #[serde(default, rename = "isError")]
    is_error: Option<bool>,
    #[serde(default)]
    tools: Option<Vec<IgnoredAny>>,
    #[serde(default, rename = "protocolVersion")]
    protocol_version: Option<String>,
    #[serde(default)]
    content: Option<Vec<ContentPart>>,
}

#[derive(Debug, Deserialize)]
struct ContentPart {
    #[serde(default)]
    text: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ErrorPart {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
}

/// What a successful reply told us.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Outcome {
    /// Length of `result.tools`, for `tools/list`.
    pub(crate) tools: Option<usize>,
}

/// The JSON-RPC reply with id `want` in `reply`, judged: a JSON-RPC error or a tool result with
/// `isError` is a failure.
pub(crate) fn judge(reply: &Reply, want: u64) -> Result<(Outcome, Option<String>), Failure> {
    if reply.status != StatusCode::OK {
        let body = String::from_utf8_lossy(&reply.body[..reply.body.len().min(300)]).into_owned();
        return Err(Failure::new(Kind::Status, format!("HTTP {}: {body}", reply.status)));
    }
    let message = find_reply(reply.header("content-type").unwrap_or(""), &reply.body, want)?;
    if let Some(error) = message.error {
        return Err(Failure::new(Kind::JsonRpc, format!("{}: {}", error.code, error.message)));
    }
    let Some(result) = message.result else {
        return Err(Failure::new(Kind::Protocol, "a reply with neither result nor error"));
    };
    if result.is_error == Some(true) {
        let text = result
            .content
            .unwrap_or_default()
            .into_iter()
            .filter_map(|c| c.text)
            .collect::<Vec<_>>()
            .join(" ");
        return Err(Failure::new(Kind::Tool, text));
    }
    Ok((Outcome { tools: result.tools.map(|t| t.len()) }, result.protocol_version))
}

/// Finds the reply to request `want`: in an SSE stream, the `data:` of the event carrying it
/// (priming events with empty data and other messages are skipped); in a JSON body, the message
/// or the batch member with that id.
pub(crate) fn find_reply(content_type: &str, body: &[u8], want: u64) -> Result<Message, Failure> {
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if mime.eq_ignore_ascii_case("text/event-stream") {
        let text = std::str::from_utf8(body)
            .map_err(|_| Failure::new(Kind::Protocol, "SSE body is not UTF-8"))?;
        let mut data: Vec<&str> = Vec::new();
        for line in text.split('\n').chain(std::iter::once("")) {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.is_empty() {
                if let Some(message) = event_reply(&data, want)? {
                    return Ok(message);
                }
                data.clear();
            } else if let Some(value) = line.strip_prefix("data:") {
                data.push(value.strip_prefix(' ').unwrap_or(value));
            }
        }
        Err(Failure::new(Kind::Protocol, format!("no reply with id {want} in the SSE stream")))
    } else if mime.eq_ignore_ascii_case("application/json") {
        let first = body.iter().find(|b| !b.is_ascii_whitespace()).copied();
        let messages: Vec<Message> = if first == Some(b'[') {
            serde_json::from_slice(body)
        } else {
            serde_json::from_slice(body).map(|m| vec![m])
        }
        .map_err(|e| Failure::new(Kind::Protocol, format!("JSON body: {e}")))?;
        messages
            .into_iter()
            .find(|m| is_id(m, want))
            .ok_or_else(|| Failure::new(Kind::Protocol, format!("no reply with id {want}")))
    } else {
        Err(Failure::new(Kind::Protocol, format!("unexpected content type {content_type:?}")))
    }
}

fn event_reply(data: &[&str], want: u64) -> Result<Option<Message>, Failure> {
    let joined;
    let payload = match data {
        [] => return Ok(None),
        [one] => *one,
        many => {
            joined = many.join("\n");
            joined.as_str()
        }
    };
    if payload.trim().is_empty() {
        return Ok(None); // a priming event
    }
    let message: Message = serde_json::from_str(payload)
        .map_err(|e| Failure::new(Kind::Protocol, format!("SSE data is not JSON-RPC: {e}")))?;
    Ok(is_id(&message, want).then_some(message))
}

fn is_id(message: &Message, want: u64) -> bool {
    message.id.as_ref().and_then(serde_json::Value::as_u64) == Some(want)
}

/// A reply that was parsed and judged in full, kept so that the next replies, when they are the
/// same bytes but for the id, are judged by comparison. A `tools/list` answer is about 50 KB of
/// JSON; parsing every one took most of the generator's CPU, enough to make it the bottleneck.
/// Every byte of every reply is still checked, against a reply that was parsed.
#[derive(Debug, Clone)]
struct VerifiedReply {
    content_type: Option<HeaderValue>,
    /// The body up to the id's digits, and after them.
    before: Bytes,
    after: Bytes,
    outcome: Outcome,
}

impl VerifiedReply {
    /// `reply` (judged a success, with `outcome`) as a template; `None` if the id is not found.
    fn new(reply: &Reply, want: u64, outcome: Outcome) -> Option<Self> {
        let digits = want.to_string();
        let at = id_position(&reply.body, digits.as_bytes())?;
        Some(Self {
            content_type: reply.headers.get(header::CONTENT_TYPE).cloned(),
            before: reply.body.slice(..at),
            after: reply.body.slice(at + digits.len()..),
            outcome,
        })
    }

    /// Whether `reply` is the template's reply with id `want`.
    fn matches(&self, reply: &Reply, want: u64) -> bool {
        let body = &reply.body[..];
        let digits = want.to_string();
        reply.status == StatusCode::OK
            && reply.headers.get(header::CONTENT_TYPE) == self.content_type.as_ref()
            && body.len() == self.before.len() + digits.len() + self.after.len()
            && body.starts_with(&self.before)
            && body[self.before.len()..].starts_with(digits.as_bytes())
            && body.ends_with(&self.after)
    }
}

/// Offset of the digits of the first `"id":DIGITS` (one optional space) in `body`.
fn id_position(body: &[u8], digits: &[u8]) -> Option<usize> {
    const KEY: &[u8] = br#""id":"#;
    let mut from = 0;
    while let Some(found) = body[from..].windows(KEY.len()).position(|w| w == KEY) {
        let mut at = from + found + KEY.len();
        if body.get(at) == Some(&b' ') {
            at += 1;
        }
        let rest = &body[at..];
        if rest.starts_with(digits) && !rest.get(digits.len()).is_some_and(u8::is_ascii_digit) {
            return Some(at);
        }
        from = at;
    }
    None
}

/// One MCP session (not tied to a connection: any request may go over any connection).
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) id: Option<HeaderValue>,
    next_id: u64,
    verified: Option<VerifiedReply>,
}

impl Session {
    /// `initialize`, then `notifications/initialized`.
    pub(crate) async fn open(
        conn: &mut Conn,
        endpoint: &Arc<Endpoint>,
        timeout: Duration,
    ) -> Result<Self, Failure> {
        let body = Bytes::from(format!(
            r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"protocolVersion":"{PROTOCOL_VERSION}","capabilities":{{}},"clientInfo":{{"name":"mcp-loadgen","version":"{}"}}}}}}"#,
            env!("CARGO_PKG_VERSION")
        ));
        let make = || endpoint.request(Method::POST, None, Some(body.clone()));
        let reply = conn.send(&make, timeout).await?;
        let (_, version) = judge(&reply, 0)?;
        if version.as_deref() != Some(PROTOCOL_VERSION) {
            return Err(Failure::new(
                Kind::Protocol,
                format!("initialize: protocol version {version:?}, wanted {PROTOCOL_VERSION}"),
            ));
        }
        let id = reply.headers.get("mcp-session-id").cloned();
        let note = Bytes::from_static(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        let make = || endpoint.request(Method::POST, id.as_ref(), Some(note.clone()));
        let reply = conn.send(&make, timeout).await?;
        if !reply.status.is_success() {
            return Err(Failure::new(
                Kind::Status,
                format!("notifications/initialized: HTTP {}", reply.status),
            ));
        }
        Ok(Self { id, next_id: 1, verified: None })
    }

    /// One request (`method` with `params`, a JSON object text or empty); the reply judged.
    pub(crate) async fn call(
        &mut self,
        conn: &mut Conn,
        endpoint: &Endpoint,
        method: &str,
        params: &str,
        timeout: Duration,
    ) -> Result<(Outcome, usize), Failure> {
        let id = self.next_id;
        self.next_id += 1;
        let body = if params.is_empty() {
            format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}"}}"#)
        } else {
            format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{params}}}"#)
        };
        let body = Bytes::from(body);
        let make = || endpoint.request(Method::POST, self.id.as_ref(), Some(body.clone()));
        let reply = conn.send(&make, timeout).await?;
        if let Some(verified) = self.verified.as_ref().filter(|v| v.matches(&reply, id)) {
            return Ok((verified.outcome, reply.body.len()));
        }
        let (outcome, _) = judge(&reply, id)?;
        self.verified = VerifiedReply::new(&reply, id, outcome);
        Ok((outcome, reply.body.len()))
    }

    /// Ends the session with `DELETE`; returns the status.
    pub(crate) async fn close(
        &self,
        conn: &mut Conn,
        endpoint: &Endpoint,
        timeout: Duration,
    ) -> Result<StatusCode, Failure> {
        let make = || endpoint.request(Method::DELETE, self.id.as_ref(), None);
        conn.send(&make, timeout).await.map(|r| r.status)
    }

    /// A request in a session that should be gone: its status (404 expected).
    pub(crate) async fn probe_status(
        &mut self,
        conn: &mut Conn,
        endpoint: &Endpoint,
        timeout: Duration,
    ) -> Result<StatusCode, Failure> {
        let id = self.next_id;
        self.next_id += 1;
        let body = Bytes::from(format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/list"}}"#));
        let make = || endpoint.request(Method::POST, self.id.as_ref(), Some(body.clone()));
        conn.send(&make, timeout).await.map(|r| r.status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_priming_event_then_reply() {
        let body = b"data: \nid: 0\nretry: 3000\n\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"tools\":[{},{}]}}\nid: 1/0\n\n";
        let m = find_reply("text/event-stream", body, 7);
        assert!(m.is_ok_and(|m| m.result.and_then(|r| r.tools).map(|t| t.len()) == Some(2)));
    }

    #[test]
    fn sse_other_messages_skipped_and_crlf() {
        let body = b"event: message\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}\r\n\r\nevent: message\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":3,\"error\":{\"code\":-32601,\"message\":\"nope\"}}\r\n\r\n";
        let m = find_reply("text/event-stream; charset=utf-8", body, 3);
        assert!(m.is_ok_and(|m| m.error.is_some_and(|e| e.code == -32601)));
        assert!(find_reply("text/event-stream", body, 4).is_err());
    }

    #[test]
    fn json_body_and_batch() {
        let one = br#"{"jsonrpc":"2.0","id":5,"result":{"isError":true,"content":[{"type":"text","text":"x"}]}}"#;
        assert!(find_reply("application/json", one, 5).is_ok());
        let batch =
            br#"[{"jsonrpc":"2.0","id":4,"result":{}},{"jsonrpc":"2.0","id":5,"result":{}}]"#;
        assert!(find_reply("application/json", batch, 5).is_ok());
        assert!(find_reply("application/json", batch, 6).is_err());
    }

    fn json_reply(body: &'static [u8]) -> Reply {
        let mut headers = http::HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        Reply { status: StatusCode::OK, headers, body: Bytes::from_static(body) }
    }

    #[test]
    fn same_reply_but_the_id_is_judged_by_comparison() -> Result<(), String> {
        let first = json_reply(br#"{"jsonrpc":"2.0","id":9,"result":{"tools":[{"id":9},{}]}}"#);
        let (outcome, _) = judge(&first, 9).map_err(|f| f.detail)?;
        let verified = VerifiedReply::new(&first, 9, outcome).ok_or("no id found")?;
        assert_eq!(verified.outcome.tools, Some(2));
        let next = json_reply(br#"{"jsonrpc":"2.0","id":10,"result":{"tools":[{"id":9},{}]}}"#);
        assert!(verified.matches(&next, 10));
        assert!(!verified.matches(&next, 11), "another id");
        let changed = json_reply(br#"{"jsonrpc":"2.0","id":10,"result":{"tools":[{"id":9},{ }]}}"#);
        assert!(!verified.matches(&changed, 10), "a changed byte");
        let error = json_reply(br#"{"jsonrpc":"2.0","id":10,"error":{"code":-1,"message":"x"}}"#);
        assert!(!verified.matches(&error, 10));
        let mut refused = next;
        refused.status = StatusCode::NOT_FOUND;
        assert!(!verified.matches(&refused, 10));
        Ok(())
    }

    #[test]
    fn id_found_as_a_whole_number_after_its_key() {
        assert_eq!(id_position(br#"{"id":12,"x":{"id":1}}"#, b"1"), Some(19));
        assert_eq!(id_position(br#"data: {"id": 7}"#, b"7"), Some(13));
        assert_eq!(id_position(br#"{"id":"7"}"#, b"7"), None);
    }

    #[test]
    fn tool_error_is_a_failure() {
        let reply = Reply {
            status: StatusCode::OK,
            headers: {
                let mut h = http::HeaderMap::new();
                h.insert("content-type", HeaderValue::from_static("application/json"));
                h
            },
            body: Bytes::from_static(
                br#"{"jsonrpc":"2.0","id":5,"result":{"isError":true,"content":[{"type":"text","text":"boom"}]}}"#,
            ),
        };
        assert!(judge(&reply, 5).is_err_and(|f| f.kind == Kind::Tool && f.detail == "boom"));
    }
}
