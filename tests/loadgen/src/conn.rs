//! One HTTP/1.1 keep-alive connection (`hyper::client::conn::http1`), reopened when the server
//! closes it, with a deadline on every request.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// What went wrong with one request, by kind (the kinds are the keys of the error counts).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Kind {
    /// TCP connect or HTTP handshake failed.
    Connect,
    /// No complete response within the request timeout.
    Timeout,
    /// The connection broke while the request was out.
    Io,
    /// A status other than the one expected.
    Status,
    /// A response that is not what the protocol says (no JSON-RPC reply with our id, bad JSON).
    Protocol,
    /// A JSON-RPC error object.
    JsonRpc,
    /// A tool result with `isError: true`.
    Tool,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Timeout => "timeout",
            Self::Io => "io",
            Self::Status => "http_status",
            Self::Protocol => "protocol",
            Self::JsonRpc => "jsonrpc_error",
            Self::Tool => "tool_error",
        }
    }
}

#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) kind: Kind,
    pub(crate) detail: String,
}

impl Failure {
    pub(crate) fn new(kind: Kind, detail: impl fmt::Display) -> Self {
        Self { kind, detail: detail.to_string() }
    }
}

/// A complete response: status, headers and the whole body.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub(crate) struct Conn {
    addr: SocketAddr,
    sender: Option<SendRequest<Full<Bytes>>>,
    /// Connections opened so far (1 for a connection kept alive all along).
    pub(crate) connects: u64,
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn").field("addr", &self.addr).field("connects", &self.connects).finish()
    }
}

impl Conn {
    pub(crate) fn new(addr: SocketAddr) -> Self {
        Self { addr, sender: None, connects: 0 }
    }

    async fn connect(&mut self) -> Result<(), Failure> {
        self.sender = None;
        let stream = TcpStream::connect(self.addr)
            .await
            .map_err(|e| Failure::new(Kind::Connect, format!("connect {}: {e}", self.addr)))?;
        // Small requests, answered at once: Nagle would add 40 ms round trips.
        let _ = stream.set_nodelay(true);
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| Failure::new(Kind::Connect, format!("handshake: {e}")))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        self.sender = Some(sender);
        self.connects += 1;
        Ok(())
    }

    /// Sends the request `make` builds and reads the whole response, within `timeout`. A kept-alive
    /// connection the server closed in the meantime is reopened and the request sent once more.
    pub(crate) async fn send(
        &mut self,
        make: &(dyn Fn() -> Request<Full<Bytes>> + Sync),
        timeout: Duration,
    ) -> Result<Reply, Failure> {
        match tokio::time::timeout(timeout, self.send_inner(make)).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(failure)) => {
                self.sender = None;
                Err(failure)
            }
            Err(_) => {
                // The response may still come on this connection: never reuse it.
                self.sender = None;
                Err(Failure::new(Kind::Timeout, format!("no complete response in {timeout:?}")))
            }
        }
    }

    async fn send_inner(
        &mut self,
        make: &(dyn Fn() -> Request<Full<Bytes>> + Sync),
    ) -> Result<Reply, Failure> {
        let mut reused = match self.sender.as_mut() {
            Some(sender) => sender.ready().await.is_ok(),
            None => false,
        };
        loop {
            if !reused {
                self.connect().await?;
            }
            let Some(sender) = self.sender.as_mut() else {
                return Err(Failure::new(Kind::Connect, "no connection"));
            };
            let response = match sender.send_request(make()).await {
                Ok(response) => response,
                // The server closed an idle kept-alive connection as we wrote to it: the request
                // never reached it, so sending it again on a fresh connection is safe.
                Err(e) if reused && (e.is_canceled() || e.is_incomplete_message()) => {
                    reused = false;
                    continue;
                }
                Err(e) => return Err(Failure::new(Kind::Io, format!("request: {e}"))),
            };
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| Failure::new(Kind::Io, format!("response body: {e}")))?
                .to_bytes();
            let closing = parts
                .headers
                .get(http::header::CONNECTION)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.eq_ignore_ascii_case("close"));
            if closing {
                self.sender = None;
            }
            return Ok(Reply { status: parts.status, headers: parts.headers, body });
        }
    }
}
