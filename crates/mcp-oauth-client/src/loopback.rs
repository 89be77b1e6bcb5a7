//! The loopback redirect (RFC 8252 §7.3): a listener bound before the browser opens, which
//! answers the sign-in callback with a page that says what really happened, and answers nothing
//! else.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use url::Url;

use crate::error::OAuthError;

/// The callback's query, and where to send the page that answers it.
pub struct Callback {
    pub params: HashMap<String, String>,
    pub reply: oneshot::Sender<Page>,
}

/// The page the browser shows after the callback.
#[derive(Debug)]
pub enum Page {
    Success,
    Failure(String),
}

/// A bound loopback listener and the redirect URI it serves.
#[derive(Debug)]
pub struct Loopback {
    listener: TcpListener,
    redirect: Url,
}

impl Loopback {
    /// Binds the redirect URI's port (0: any free one) on loopback; only `http://127.0.0.1`,
    /// `http://[::1]` or `http://localhost` redirects can be served here.
    pub async fn bind(redirect: &Url) -> Result<Self, OAuthError> {
        if redirect.scheme() != "http" {
            return Err(OAuthError::Config(format!(
                "the redirect URL {redirect} must be an http:// loopback URL (the proxy listens on it)"
            )));
        }
        let ip: IpAddr = match redirect.host_str() {
            Some("localhost") | Some("127.0.0.1") => IpAddr::V4(Ipv4Addr::LOCALHOST),
            Some("[::1]") => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
            _ => {
                return Err(OAuthError::Config(format!(
                    "the redirect URL {redirect} is not on this machine's loopback (127.0.0.1, [::1], localhost)"
                )));
            }
        };
        let port = redirect.port().unwrap_or(80);
        let listener = TcpListener::bind(SocketAddr::new(ip, port)).await.map_err(|e| {
            OAuthError::Login(format!("cannot listen for the sign-in callback on {ip}:{port}: {e}"))
        })?;
        let mut redirect = redirect.clone();
        if port == 0 {
            let bound = listener.local_addr().map_err(|e| OAuthError::Login(e.to_string()))?;
            let _ = redirect.set_port(Some(bound.port()));
        }
        Ok(Self { listener, redirect })
    }

    pub fn redirect_uri(&self) -> &Url {
        &self.redirect
    }

    /// Serves callbacks until dropped; each reaches `callbacks`.
    pub fn serve(self, callbacks: mpsc::Sender<Callback>) -> tokio::task::JoinHandle<()> {
        let path = self.redirect.path().to_owned();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = self.listener.accept().await else {
                    // Out of file descriptors, say: wait rather than spin.
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                };
                let path = path.clone();
                let callbacks = callbacks.clone();
                tokio::spawn(async move {
                    let service =
                        service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                            let path = path.clone();
                            let callbacks = callbacks.clone();
                            async move {
                                Ok::<_, std::convert::Infallible>(
                                    answer(request, &path, callbacks).await,
                                )
                            }
                        });
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
        })
    }
}

async fn answer(
    request: hyper::Request<hyper::body::Incoming>,
    path: &str,
    callbacks: mpsc::Sender<Callback>,
) -> hyper::Response<Full<Bytes>> {
    if request.method() != http::Method::GET || request.uri().path() != path {
        return html(http::StatusCode::NOT_FOUND, "Not found", "This is not the sign-in callback.");
    }
    let params: HashMap<String, String> =
        url::form_urlencoded::parse(request.uri().query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let (reply, page) = oneshot::channel();
    if callbacks.send(Callback { params, reply }).await.is_err() {
        return html(http::StatusCode::GONE, "Sign-in over", "This sign-in is no longer waiting.");
    }
    match page.await {
        Ok(Page::Success) => html(
            http::StatusCode::OK,
            "Signed in",
            "You are signed in. You can close this tab and return to your MCP client.",
        ),
        Ok(Page::Failure(why)) => html(http::StatusCode::BAD_REQUEST, "Sign-in failed", &why),
        Err(_) => {
            html(http::StatusCode::INTERNAL_SERVER_ERROR, "Sign-in failed", "The proxy stopped.")
        }
    }
}

fn html(status: http::StatusCode, title: &str, text: &str) -> hyper::Response<Full<Bytes>> {
    let title = html_escape::encode_text(title);
    let text = html_escape::encode_text(text);
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body style=\"font-family:sans-serif;max-width:40em;margin:4em auto\"><h1>{title}</h1><p>{text}</p>\
         <p><small>mcp-auth-proxy</small></p></body></html>"
    );
    let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    headers.insert(
        http::header::CONTENT_SECURITY_POLICY,
        http::HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
    headers.insert(http::header::REFERRER_POLICY, http::HeaderValue::from_static("no-referrer"));
    response
}
