//! The bearer-verification seam: every request to a protected site passes a [`BearerVerifier`]
//! before any MCP processing. A request without a valid bearer gets `401` with
//! `WWW-Authenticate`; a valid one continues with the verifier's identity in its extensions.
//!
//! The identity's type belongs to whoever verifies (the OAuth bridge, or [`SharedSecret`] here),
//! so tools read it from `http::request::Parts::extensions` without this crate knowing it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

/// A verification in progress.
pub type VerifyFuture<'a> =
    Pin<Box<dyn Future<Output = Result<http::Extensions, Rejection>> + Send + 'a>>;

/// Checks bearer tokens for one site.
pub trait BearerVerifier: Send + Sync + 'static {
    /// On success, what to add to the request's extensions: the verified identity.
    fn verify<'a>(&'a self, token: &'a str) -> VerifyFuture<'a>;

    /// The `WWW-Authenticate` value of a 401 (RFC 6750 §3), e.g. with `resource_metadata`.
    fn challenge(&self, rejection: &Rejection) -> String;
}

/// Why a request was refused, in RFC 6750 terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// `invalid_request` or `invalid_token`; `None` when no credentials were sent at all.
    pub error: Option<&'static str>,
    /// A short reason for humans; never contains the token.
    pub description: &'static str,
    /// 401 for a missing or bad token, 403 for a missing scope, 503 when the verifier cannot
    /// decide now (its issuer's keys are unreachable; no challenge is sent then).
    pub status: StatusCode,
}

impl Rejection {
    pub const MISSING: Self = Self::unauthorized(None, "a bearer token is required");
    pub const INVALID: Self =
        Self::unauthorized(Some("invalid_token"), "the bearer token is not valid here");
    pub const IN_QUERY: Self = Self::unauthorized(
        Some("invalid_request"),
        "bearer tokens go in the Authorization header, never in the URL",
    );

    /// A 401 refusal.
    pub const fn unauthorized(error: Option<&'static str>, description: &'static str) -> Self {
        Self { error, description, status: StatusCode::UNAUTHORIZED }
    }

    /// The standard challenge parameters, for verifiers to extend.
    pub fn challenge_params(&self) -> String {
        match self.error {
            Some(error) => format!("error=\"{error}\", error_description=\"{}\"", self.description),
            None => String::new(),
        }
    }
}

/// The middleware state: the verifier of one site.
#[derive(Clone)]
pub struct BearerAuth {
    verifier: Arc<dyn BearerVerifier>,
}

impl std::fmt::Debug for BearerAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerAuth").finish_non_exhaustive()
    }
}

impl BearerAuth {
    pub fn new(verifier: Arc<dyn BearerVerifier>) -> Self {
        Self { verifier }
    }

    fn refuse(&self, rejection: &Rejection) -> Response {
        let mut response = (rejection.status, rejection.description).into_response();
        if rejection.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
            return response;
        }
        let challenge = self.verifier.challenge(rejection);
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// The middleware: verify, then hand on with the identity, or answer 401.
pub async fn require_bearer(
    State(auth): State<BearerAuth>,
    mut request: Request<Body>,
    next: Next,
) -> Response {
    let rejection = if token_in_query(request.uri()) {
        Rejection::IN_QUERY
    } else if let Some(token) = bearer_token(request.headers()) {
        match auth.verifier.verify(token).await {
            Ok(identity) => {
                request.extensions_mut().extend(identity);
                return next.run(request).await;
            }
            Err(rejection) => {
                tracing::debug!(reason = rejection.description, "bearer refused");
                rejection
            }
        }
    } else if request.headers().contains_key(header::AUTHORIZATION) {
        Rejection::INVALID
    } else {
        Rejection::MISSING
    };
    let mut response = auth.refuse(&rejection);
    // A refused POST's body is read (when small) so the connection stays usable for the OAuth
    // discovery that follows; otherwise the client is told not to reuse it, instead of finding it
    // closed under its next request.
    if !drained(request.into_body()).await {
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Reads and drops a request body of at most 64 KiB, briefly; whether it was all read.
async fn drained(body: Body) -> bool {
    let read = axum::body::to_bytes(body, 64 * 1024);
    matches!(tokio::time::timeout(std::time::Duration::from_secs(2), read).await, Ok(Ok(_)))
}

/// The token of an `Authorization: Bearer …` header (scheme case-insensitive, RFC 7235).
fn bearer_token(headers: &http::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// RFC 6750's query parameter: refused, since URLs end up in logs and histories.
fn token_in_query(uri: &http::Uri) -> bool {
    uri.query().is_some_and(|q| {
        q.split('&').any(|pair| pair.split('=').next().is_some_and(|k| k == "access_token"))
    })
}

/// One static secret for the whole server (shared-secret mode): whoever knows it acts as the
/// server's own Rucio identity.
pub struct SharedSecret {
    secret: SecretString,
    realm: String,
}

impl std::fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedSecret").field("realm", &self.realm).finish_non_exhaustive()
    }
}

/// The identity a shared-secret request carries: the server's own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SharedSecretHolder;

impl SharedSecret {
    pub fn new(secret: SecretString, realm: impl Into<String>) -> Self {
        Self { secret, realm: realm.into() }
    }

    /// Compares in constant time, so response times say nothing of how much of a guess was right.
    pub fn matches(&self, token: &str) -> bool {
        bool::from(self.secret.expose_secret().as_bytes().ct_eq(token.as_bytes()))
    }
}

impl BearerVerifier for SharedSecret {
    fn verify<'a>(&'a self, token: &'a str) -> VerifyFuture<'a> {
        let verdict = if self.matches(token) {
            let mut identity = http::Extensions::new();
            identity.insert(SharedSecretHolder);
            Ok(identity)
        } else {
            Err(Rejection::INVALID)
        };
        Box::pin(std::future::ready(verdict))
    }

    fn challenge(&self, rejection: &Rejection) -> String {
        let params = rejection.challenge_params();
        if params.is_empty() {
            format!("Bearer realm=\"{}\"", self.realm)
        } else {
            format!("Bearer realm=\"{}\", {params}", self.realm)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_header_parsing() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(bearer_token(&headers), None);
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
        assert_eq!(bearer_token(&headers), Some("abc"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("bearer  abc "));
        assert_eq!(bearer_token(&headers), Some("abc"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer_token(&headers), None);
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer_token(&headers), None);
    }

    #[test]
    fn query_tokens_are_spotted() {
        let uri: http::Uri = "/site/a/?access_token=x".parse().unwrap_or_default();
        assert!(token_in_query(&uri));
        let uri: http::Uri = "/site/a/?x=1&access_token".parse().unwrap_or_default();
        assert!(token_in_query(&uri));
        let uri: http::Uri = "/site/a/?my_access_token=x".parse().unwrap_or_default();
        assert!(!token_in_query(&uri));
    }

    #[test]
    fn shared_secret_compares_whole_secret() {
        let secret = SharedSecret::new(SecretString::from("s3cret-value"), "rucio-mcp");
        assert!(secret.matches("s3cret-value"));
        assert!(!secret.matches("s3cret-valu"));
        assert!(!secret.matches("s3cret-value "));
        assert!(!secret.matches(""));
        let challenge = secret.challenge(&Rejection::INVALID);
        assert!(challenge.starts_with("Bearer realm=\"rucio-mcp\", error=\"invalid_token\""));
        assert!(!format!("{secret:?}").contains("s3cret"));
    }
}
