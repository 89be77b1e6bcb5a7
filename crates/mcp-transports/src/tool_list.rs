//! `tools/list` answered from bytes serialized once.
//!
//! A site whose tool list never changes (every rucio-mcp site: the list depends only on the
//! options the server started with) can hand it to [`crate::Site::with_tool_list`]. rmcp would
//! route each `tools/list` through the session's worker and serialize the whole list (about
//! 50 KB of JSON schemas) again; profiles put a third of the server's CPU there under load. Here
//! the answer is the JSON-RPC envelope around one shared buffer, sent without copying, and a
//! sleeping session is not woken for it.
//!
//! Only a plain request in a known session takes this path; anything rmcp would treat
//! differently (no session, a protocol version it would refuse or that has no sessions, an
//! `Accept` it would refuse, an `Mcp-Method` header to check) goes on to rmcp unchanged.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use rmcp::model::{ListToolsResult, ProtocolVersion};

use crate::layers::JsonRpcEnvelope;
use crate::sessions::SessionRecords;

/// A site's serialized `tools/list` result and the sessions it may answer.
#[derive(Clone, Debug)]
pub(crate) struct CachedToolList {
    result: Bytes,
    sessions: Arc<SessionRecords>,
}

impl CachedToolList {
    pub(crate) fn new(result: Bytes, sessions: Arc<SessionRecords>) -> Self {
        Self { result, sessions }
    }
}

/// The `result` member of a `tools/list` answer, serialized once.
pub(crate) fn serialize(list: &ListToolsResult) -> Result<Bytes, serde_json::Error> {
    serde_json::to_vec(list).map(Bytes::from)
}

/// Answers `tools/list` in a known session from the cached bytes; passes everything else on.
pub(crate) async fn answer(
    State(cached): State<CachedToolList>,
    request: Request,
    next: Next,
) -> Response {
    let Some(id) = plain_tools_list(&request, &cached.sessions) else {
        return next.run(request).await;
    };
    let head = Bytes::from(format!(r#"{{"jsonrpc":"2.0","id":{id},"result":"#));
    let chunks = [head, cached.result.clone(), Bytes::from_static(b"}")];
    // Announced, so the answer goes out with a length instead of chunked framing.
    let length = HeaderValue::from(chunks.iter().map(Bytes::len).sum::<usize>());
    let body = Body::from_stream(futures_util::stream::iter(
        chunks.map(Ok::<_, std::convert::Infallible>),
    ));
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::OK;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response.headers_mut().insert(header::CONTENT_LENGTH, length);
    response
}

/// The request's JSON-RPC id (as JSON text) when it is a `tools/list` this path may answer.
fn plain_tools_list(request: &Request, sessions: &SessionRecords) -> Option<String> {
    let envelope = request.extensions().get::<JsonRpcEnvelope>()?;
    if envelope.method.as_deref() != Some("tools/list") {
        return None;
    }
    let id = envelope.id.as_ref().filter(|id| id.is_string() || id.is_number())?;
    let headers = request.headers();
    if !accepts_both(headers) || !session_protocol_version(headers) {
        return None;
    }
    if headers.get("mcp-method").is_some_and(|m| m.as_bytes() != b"tools/list") {
        return None;
    }
    let session = headers.get("mcp-session-id")?.to_str().ok()?;
    sessions.touch_known(session).then(|| id.to_string())
}

/// rmcp requires a POST to accept both JSON and SSE.
fn accepts_both(headers: &HeaderMap) -> bool {
    let mut json = false;
    let mut sse = false;
    for value in headers.get_all(header::ACCEPT) {
        let Ok(value) = value.to_str() else { return false };
        for item in value.split(',') {
            let media = item.split(';').next().unwrap_or_default().trim();
            json |= media.eq_ignore_ascii_case("application/json");
            sse |= media.eq_ignore_ascii_case("text/event-stream");
        }
    }
    json && sse
}

/// No version header (rmcp assumes 2025-03-26), or a known version that has sessions.
fn session_protocol_version(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get("mcp-protocol-version") else { return true };
    let Ok(value) = value.to_str() else { return false };
    value != ProtocolVersion::V_2026_07_28.as_str()
        && ProtocolVersion::KNOWN_VERSIONS.iter().any(|v| v.as_str() == value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn accept_must_name_json_and_sse() {
        assert!(accepts_both(&headers(&[("accept", "application/json, text/event-stream")])));
        assert!(accepts_both(&headers(&[
            ("accept", "text/event-stream;q=0.9"),
            ("accept", "Application/JSON")
        ])));
        assert!(!accepts_both(&headers(&[("accept", "application/json")])));
        assert!(!accepts_both(&headers(&[("accept", "*/*")])));
        assert!(!accepts_both(&headers(&[])));
    }

    #[test]
    fn only_versions_with_sessions() {
        assert!(session_protocol_version(&headers(&[])));
        assert!(session_protocol_version(&headers(&[("mcp-protocol-version", "2025-11-25")])));
        assert!(session_protocol_version(&headers(&[("mcp-protocol-version", "2025-03-26")])));
        assert!(!session_protocol_version(&headers(&[("mcp-protocol-version", "2026-07-28")])));
        assert!(!session_protocol_version(&headers(&[("mcp-protocol-version", "1999-01-01")])));
    }
}
