//! What the sealed envelopes hold, and the resource server's check of an access token: audience,
//! site, expiry, key; nothing is looked up, so it costs microseconds.

use std::fmt;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::jwt::JwtVerifier;
use crate::seal::{KeySet, Purpose};
use crate::upstream::{UpstreamGrant, secret};

/// An access token's claims.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct AccessClaims {
    #[serde(rename = "s")]
    pub(crate) subject: String,
    #[serde(rename = "si")]
    pub(crate) site: String,
    #[serde(rename = "c")]
    pub(crate) client_id: String,
    #[serde(rename = "a")]
    pub(crate) audience: String,
    #[serde(rename = "sc", default, skip_serializing_if = "Option::is_none")]
    pub(crate) scope: Option<String>,
    #[serde(rename = "i")]
    pub(crate) issued_at: i64,
    #[serde(rename = "e")]
    pub(crate) expires_at: i64,
    #[serde(rename = "u", with = "secret")]
    pub(crate) upstream_token: SecretString,
    #[serde(rename = "ue", default)]
    pub(crate) upstream_expires_at: Option<i64>,
}

/// A refresh token's claims: single use (its `jti` is claimed in the store when used).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct RefreshClaims {
    #[serde(rename = "si")]
    pub(crate) site: String,
    #[serde(rename = "c")]
    pub(crate) client_id: String,
    #[serde(rename = "a")]
    pub(crate) audience: String,
    #[serde(rename = "sc", default, skip_serializing_if = "Option::is_none")]
    pub(crate) scope: Option<String>,
    #[serde(rename = "e")]
    pub(crate) expires_at: i64,
    #[serde(rename = "j")]
    pub(crate) jti: String,
    #[serde(rename = "g")]
    pub(crate) grant: UpstreamGrant,
}

/// An authorization code's claims: single use, 60 s, bound to client, redirect, PKCE, resource.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct CodeClaims {
    #[serde(rename = "si")]
    pub(crate) site: String,
    #[serde(rename = "c")]
    pub(crate) client_id: String,
    #[serde(rename = "r")]
    pub(crate) redirect_uri: String,
    #[serde(rename = "p")]
    pub(crate) code_challenge: String,
    #[serde(rename = "a")]
    pub(crate) resource: String,
    #[serde(rename = "sc", default, skip_serializing_if = "Option::is_none")]
    pub(crate) scope: Option<String>,
    #[serde(rename = "e")]
    pub(crate) expires_at: i64,
    #[serde(rename = "j")]
    pub(crate) jti: String,
    #[serde(rename = "g")]
    pub(crate) grant: UpstreamGrant,
}

/// A validated authorization request, carried through the consent page and the login.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct AuthorizationRequest {
    #[serde(rename = "si")]
    pub(crate) site: String,
    #[serde(rename = "c")]
    pub(crate) client_id: String,
    #[serde(rename = "n", default)]
    pub(crate) client_name: Option<String>,
    #[serde(rename = "r")]
    pub(crate) redirect_uri: String,
    #[serde(rename = "p")]
    pub(crate) code_challenge: String,
    #[serde(rename = "st", default)]
    pub(crate) state: Option<String>,
    #[serde(rename = "a")]
    pub(crate) resource: String,
    #[serde(rename = "sc", default)]
    pub(crate) scope: Option<String>,
    /// The CSRF nonce, also in a cookie of the browser that saw the consent page.
    #[serde(rename = "x")]
    pub(crate) csrf: String,
    #[serde(rename = "e")]
    pub(crate) expires_at: i64,
}

/// Who a request comes from, put in the request's extensions by the token check; tools read it.
#[derive(Clone)]
pub struct Identity {
    /// The user at the upstream (a Rucio account, an OIDC subject).
    pub subject: String,
    /// The site (bridge) that issued the token.
    pub site: String,
    /// The MCP client the user authorised.
    pub client_id: String,
    /// The token to call the backend with, as this user.
    pub upstream_token: SecretString,
    /// When the upstream token expires (Unix seconds), when known.
    pub upstream_expires_at: Option<i64>,
    /// When the bridge's access token expires (Unix seconds).
    pub expires_at: i64,
}

impl Identity {
    /// The identity an HTTP request carries (rmcp hands tools the request's parts).
    pub fn of_request(parts: Option<&http::request::Parts>) -> Option<&Self> {
        parts.and_then(|parts| parts.extensions.get::<Self>())
    }

    /// Writes who called `tool` to the log (the audit trail of a server that acts as its own
    /// identity for its callers).
    pub fn record_call(&self, tool: &str) {
        tracing::info!(site = %self.site, tool, caller = %self.subject, client = %self.client_id, "tool call");
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("subject", &self.subject)
            .field("site", &self.site)
            .field("client_id", &self.client_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Why a bearer was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenRejection {
    /// Not a token of this server (garbage, tampered, unknown key, refresh token, ...).
    Invalid,
    Expired,
    /// A token of this server for another resource or site, or a JWT for another audience.
    WrongAudience,
    /// A valid JWT without a required scope (403, RFC 6750 `insufficient_scope`).
    InsufficientScope,
    /// The trusted issuer's keys cannot be fetched: no verdict on the token (503, not 401).
    Unavailable,
}

impl TokenRejection {
    pub fn description(self) -> &'static str {
        match self {
            Self::Invalid => "the access token is not valid here",
            Self::Expired => "the access token has expired",
            Self::WrongAudience => "the access token was issued for another resource",
            Self::InsufficientScope => "the access token lacks a required scope",
            Self::Unavailable => "the token issuer's keys are unavailable; try again later",
        }
    }

    /// The RFC 6750 error code of the challenge (`None` for [`Self::Unavailable`]: no challenge).
    pub fn error_code(self) -> Option<&'static str> {
        match self {
            Self::Invalid | Self::Expired | Self::WrongAudience => Some("invalid_token"),
            Self::InsufficientScope => Some("insufficient_scope"),
            Self::Unavailable => None,
        }
    }

    /// The HTTP status of the refusal: 401, 403 for a missing scope, 503 when keys are missing.
    pub fn status(self) -> StatusCode {
        match self {
            Self::Invalid | Self::Expired | Self::WrongAudience => StatusCode::UNAUTHORIZED,
            Self::InsufficientScope => StatusCode::FORBIDDEN,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// The token of an `Authorization: Bearer …` header (scheme case-insensitive).
pub(crate) fn bearer_token(headers: &http::HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, token)| scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty())
        .map(|(_, token)| token.trim())
}

/// The answer to a refused request (`None`: no token was sent), its challenge built by
/// `challenge` from the error code and description.
/// A `WWW-Authenticate: Bearer …` value (RFC 6750 §3, RFC 9728 §5.1): where the resource
/// metadata is, the scope needed, and the error when a token was sent; each when there is one.
pub(crate) fn bearer_challenge(
    metadata_url: Option<&str>,
    scope: Option<&str>,
    error: Option<(&str, &str)>,
) -> String {
    let mut params = Vec::new();
    if let Some(url) = metadata_url {
        params.push(format!("resource_metadata=\"{url}\""));
    }
    if let Some(scope) = scope {
        params.push(format!("scope=\"{scope}\""));
    }
    if let Some((error, description)) = error {
        params.push(format!("error=\"{error}\", error_description=\"{description}\""));
    }
    if params.is_empty() { "Bearer".to_owned() } else { format!("Bearer {}", params.join(", ")) }
}

/// The end of a `require` middleware: on with the identity in the request, or the refusal.
pub(crate) async fn admit(
    mut request: Request,
    next: Next,
    verdict: Result<Identity, Option<TokenRejection>>,
    challenge: impl FnOnce(Option<(&str, &str)>) -> String,
) -> Response {
    match verdict {
        Ok(identity) => {
            request.extensions_mut().insert(identity);
            next.run(request).await
        }
        Err(rejection) => refusal(rejection, challenge),
    }
}

pub(crate) fn refusal(
    rejection: Option<TokenRejection>,
    challenge: impl FnOnce(Option<(&str, &str)>) -> String,
) -> Response {
    let status = rejection.map_or(StatusCode::UNAUTHORIZED, TokenRejection::status);
    if rejection == Some(TokenRejection::Unavailable) {
        let mut response = (status, TokenRejection::Unavailable.description()).into_response();
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
        return response;
    }
    let body = match rejection {
        Some(TokenRejection::InsufficientScope) => "the bearer token lacks a required scope",
        _ => "a valid bearer token is required",
    };
    let error = rejection.and_then(|r| r.error_code().map(|code| (code, r.description())));
    let mut response = (status, body).into_response();
    if let Ok(value) = HeaderValue::from_str(&challenge(error)) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Checks the bridge's access tokens for one site (the resource server side).
#[derive(Clone)]
pub struct TokenVerifier {
    keys: Arc<KeySet>,
    site: String,
    audience: String,
    metadata_url: String,
    scope: Option<String>,
    upstream_jwt: Option<Arc<JwtVerifier>>,
}

impl fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("site", &self.site)
            .field("upstream_jwt", &self.upstream_jwt)
            .finish_non_exhaustive()
    }
}

/// The resource identifier without a trailing slash: `…/site/x` and `…/site/x/` are one resource.
pub(crate) fn canonical_resource(resource: &str) -> &str {
    resource.trim_end_matches('/')
}

impl TokenVerifier {
    pub(crate) fn new(
        keys: Arc<KeySet>,
        site: String,
        audience: String,
        metadata_url: String,
        scope: Option<String>,
        upstream_jwt: Option<Arc<JwtVerifier>>,
    ) -> Self {
        Self { keys, site, audience, metadata_url, scope, upstream_jwt }
    }

    /// The identity behind `token`: a sealed access token of this server, or else, when a
    /// trusted issuer is configured (`BridgeConfig::upstream_jwt`) and `token` has the shape of
    /// a JWT, that issuer's access token. The JWT path may fetch the issuer's keys.
    pub async fn check(&self, token: &str) -> Result<Identity, TokenRejection> {
        match self.verify(token) {
            Err(TokenRejection::Invalid) => match &self.upstream_jwt {
                Some(jwt) if jwt_verify::Jws::looks_like(token) => jwt.verify(token).await,
                _ => Err(TokenRejection::Invalid),
            },
            verdict => verdict,
        }
    }

    /// The identity behind a sealed access token of this server, or why not (no JWT path: see
    /// [`TokenVerifier::check`]).
    pub fn verify(&self, token: &str) -> Result<Identity, TokenRejection> {
        let claims: AccessClaims =
            self.keys.open(Purpose::AccessToken, token).ok_or(TokenRejection::Invalid)?;
        if claims.site != self.site || canonical_resource(&claims.audience) != self.audience {
            return Err(TokenRejection::WrongAudience);
        }
        if claims.expires_at <= now() {
            return Err(TokenRejection::Expired);
        }
        Ok(Identity {
            subject: claims.subject,
            site: claims.site,
            client_id: claims.client_id,
            upstream_token: claims.upstream_token,
            upstream_expires_at: claims.upstream_expires_at,
            expires_at: claims.expires_at,
        })
    }

    /// The `WWW-Authenticate` value of a 401 (RFC 6750, RFC 9728 §5.1): where the metadata is,
    /// the scope when scopes are defined, and the error when a token was sent.
    pub fn challenge(&self, error: Option<(&str, &str)>) -> String {
        bearer_challenge(Some(&self.metadata_url), self.scope.as_deref(), error)
    }

    /// A middleware for services that embed the bridge without `mcp-transports`:
    /// `router.route_layer(axum::middleware::from_fn_with_state(verifier, TokenVerifier::require))`.
    pub async fn require(State(verifier): State<Self>, request: Request, next: Next) -> Response {
        let verdict = match bearer_token(request.headers()) {
            Some(token) => verifier.check(token).await.map_err(Some),
            None => Err(None),
        };
        admit(request, next, verdict, |error| verifier.challenge(error)).await
    }
}

/// For the crate's benches only (`benches/token.rs`): an access token as the bridge mints it, and
/// the verifier a resource server builds, without a running bridge. Not part of the API.
#[doc(hidden)]
pub mod bench_support {
    use std::sync::Arc;

    use super::{AccessClaims, TokenVerifier, now};
    use crate::jwt::JwtVerifier;
    use crate::seal::{KeySet, Purpose};

    /// An access token for `site` and `audience` carrying `upstream_token`, valid `ttl_secs`.
    ///
    /// # Panics
    /// If sealing fails (no key, or the system's random source fails).
    #[allow(clippy::expect_used)]
    pub fn mint_access_token(
        keys: &KeySet,
        site: &str,
        audience: &str,
        upstream_token: &str,
        ttl_secs: i64,
    ) -> String {
        let issued_at = now();
        let claims = AccessClaims {
            subject: "bench-user".to_owned(),
            site: site.to_owned(),
            client_id: "mcp-dcr.bench-client-0123456789abcdef".to_owned(),
            audience: audience.to_owned(),
            scope: None,
            issued_at,
            expires_at: issued_at + ttl_secs,
            upstream_token: upstream_token.to_owned().into(),
            upstream_expires_at: Some(issued_at + ttl_secs),
        };
        keys.seal(Purpose::AccessToken, &claims).expect("sealing an access token")
    }

    /// The verifier of `site`'s access tokens for `audience` (its metadata URL is a dummy).
    pub fn verifier_for(keys: Arc<KeySet>, site: &str, audience: &str) -> TokenVerifier {
        verifier_with_jwt(keys, site, audience, None)
    }

    /// The same, also accepting the JWTs `upstream_jwt` verifies.
    pub fn verifier_with_jwt(
        keys: Arc<KeySet>,
        site: &str,
        audience: &str,
        upstream_jwt: Option<Arc<JwtVerifier>>,
    ) -> TokenVerifier {
        TokenVerifier::new(
            keys,
            site.to_owned(),
            audience.to_owned(),
            "http://127.0.0.1/.well-known/oauth-protected-resource".to_owned(),
            None,
            upstream_jwt,
        )
    }
}
