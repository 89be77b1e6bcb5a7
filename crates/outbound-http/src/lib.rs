//! reqwest 0.13 as every outgoing client of the workspace wants it: the system's TLS roots plus
//! `SSL_CERT_FILE`/`SSL_CERT_DIR`, rustls on aws-lc, a connect timeout, size-capped bodies, and
//! errors that name no URL (URLs may carry codes or tokens). [`OAuthHttp`] makes it the HTTP
//! client of the `oauth2` and `openidconnect` crates, whose own reqwest support pulls reqwest
//! 0.12 and ring.
//!
//! It knows no MCP, no backend and no server: the OAuth bridge (server side), the forwarding of
//! `mcp-auth-proxy` and its login (client side) build on it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use oauth2::{AsyncHttpClient, HttpRequest, HttpResponse};

/// The largest body read from an OAuth or discovery endpoint.
pub const MAX_BODY: usize = 1 << 20;
/// How much of a server's text goes into a message.
const MAX_QUOTED: usize = 200;

/// A failed HTTP exchange, described without URL or body (nothing secret).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(pub String);

/// A reqwest builder with the system's TLS roots and a 10 s connect timeout. No overall timeout:
/// a caller that reads a stream for as long as it lives must not get one; the others set theirs.
pub fn client_builder(user_agent: &str) -> Result<reqwest::ClientBuilder, HttpError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| HttpError(format!("TLS setup failed: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .user_agent(user_agent.to_owned())
        .connect_timeout(Duration::from_secs(10)))
}

/// `oauth2`'s (and `openidconnect`'s) HTTP client. Give it a client with redirects off: token
/// endpoints must not redirect, and a redirect could carry a credential elsewhere.
#[derive(Clone, Debug)]
pub struct OAuthHttp {
    client: reqwest::Client,
}

impl OAuthHttp {
    pub fn new(client: reqwest::Client) -> Self {
        Self { client }
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }
}

impl<'c> AsyncHttpClient<'c> for OAuthHttp {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let url = url::Url::parse(&parts.uri.to_string())
                .map_err(|_| HttpError("invalid request URL".into()))?;
            let response = self
                .client
                .request(parts.method, url)
                .headers(parts.headers)
                .body(body)
                .send()
                .await
                .map_err(|e| HttpError(describe(&e)))?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = read_limited(response, MAX_BODY).await?;
            let mut out = http::Response::new(body);
            *out.status_mut() = status;
            *out.headers_mut() = headers;
            Ok(out)
        })
    }
}

/// A failed request, described without its URL: what went wrong and its innermost cause.
pub fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut root = None;
    while let Some(s) = source {
        root = Some(s.to_string());
        source = s.source();
    }
    match root {
        Some(root) => format!("{what}: {}", quote(&root)),
        None => what.to_owned(),
    }
}

/// The body, refused once it grows past `max` bytes.
pub async fn read_limited(
    mut response: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, HttpError> {
    if response.content_length().is_some_and(|n| n > max as u64) {
        return Err(HttpError("the response is too large".into()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| HttpError(describe(&e)))? {
        if body.len() + chunk.len() > max {
            return Err(HttpError("the response is too large".into()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A server's text, shortened and without control characters, for a message.
pub fn quote(text: &str) -> String {
    let mut out: String = text.chars().filter(|c| !c.is_control()).take(MAX_QUOTED).collect();
    if text.chars().count() > MAX_QUOTED {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_drops_control_characters_and_shortens() {
        assert_eq!(quote("a\nb\u{1b}c"), "abc");
        let long = "x".repeat(300);
        let quoted = quote(&long);
        assert!(quoted.ends_with('…'));
        assert_eq!(quoted.chars().count(), MAX_QUOTED + 1);
    }
}
