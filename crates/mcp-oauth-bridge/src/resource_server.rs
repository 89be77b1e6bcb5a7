//! Resource-server mode: the MCP server runs no OAuth flow of its own and accepts the access
//! tokens of an institution's authorization server (CERN SSO, INDIGO IAM, a lab's Keycloak).
//!
//! [`ResourceServer`] publishes RFC 9728 metadata naming that issuer, and checks each bearer:
//! a JWT locally against the issuer's keys ([`JwtVerifier`]), an opaque token through RFC 7662
//! introspection with this server's own client credentials. Verdicts that pass are remembered
//! for at most min(token expiry, [`ResourceServerConfig::cache_ttl`]); refusals never are, and an
//! introspection answer `active: false` always wins, also over a JWT that verifies locally when
//! [`ResourceServerConfig::introspect_jwts`] is on. A bearer becomes the [`Identity`] the tools
//! read, with the bearer itself as the upstream token: whether it is passed on to a backend is
//! the embedding server's decision.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use jwt_verify::{Claims, Jws};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use url::Url;

use crate::cache::VerifiedTokens;
use crate::error::ConfigError;
use crate::jwt::{Audience, JWT_BEARER_CLIENT, JwtVerifier, JwtVerifierConfig};
use crate::tokens::{Identity, TokenRejection, admit, bearer_challenge, bearer_token, now};

/// The largest discovery document or introspection answer read.
const MAX_ANSWER_BYTES: usize = 256 * 1024;
/// How long one introspection may take before the request gets a 503.
const INTROSPECTION_TIMEOUT: Duration = Duration::from_secs(10);
/// Introspections in flight at once: a flood of made-up tokens (never cached) waits here
/// instead of becoming a flood at the issuer.
const INTROSPECTIONS_AT_ONCE: usize = 32;

/// The credentials this server introspects with (RFC 7662 §2.1: the resource server is a client
/// of the authorization server).
#[derive(Clone)]
pub struct IntrospectionClient {
    pub client_id: String,
    pub client_secret: SecretString,
}

impl std::fmt::Debug for IntrospectionClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntrospectionClient")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// What a [`ResourceServer`] trusts and demands.
#[derive(Clone, Debug)]
pub struct ResourceServerConfig {
    /// The site the identities belong to (`Identity::site`).
    pub site: String,
    /// The name in the metadata (`resource_name`).
    pub site_title: String,
    /// The authorization server, compared exactly with the discovered metadata and each token.
    pub issuer: String,
    /// This server's resource URL: the metadata's `resource`, and the audience by default.
    pub resource: Url,
    /// The audience tokens must name instead of the resource URL (Keycloak's client id, say).
    pub audience: Option<String>,
    /// Scopes every token must have; 403 `insufficient_scope` without them.
    pub required_scopes: Vec<String>,
    /// Introspect opaque tokens with these credentials; without them only JWTs are accepted.
    pub introspection: Option<IntrospectionClient>,
    /// Also introspect JWTs that verify locally, so a revoked one is refused within
    /// [`Self::cache_ttl`] instead of at its expiry.
    pub introspect_jwts: bool,
    /// How long a positive verdict is reused (60 s; zero: never).
    pub cache_ttl: Duration,
    /// Clock drift allowed on `exp` and `nbf` (30 s).
    pub leeway: Duration,
    /// The claim that names the user: `sub` by default.
    pub subject_claim: String,
}

impl ResourceServerConfig {
    pub fn new(site: impl Into<String>, issuer: impl Into<String>, resource: Url) -> Self {
        let site = site.into();
        Self {
            site_title: site.clone(),
            site,
            issuer: issuer.into(),
            resource,
            audience: None,
            required_scopes: Vec::new(),
            introspection: None,
            introspect_jwts: false,
            cache_ttl: Duration::from_secs(60),
            leeway: jwt_verify::DEFAULT_LEEWAY,
            subject_claim: "sub".to_owned(),
        }
    }

    /// This configuration for the site `site` (titled `title`) at the resource URL `resource`.
    #[must_use]
    pub fn for_site(&self, site: &str, title: &str, resource: Url) -> Self {
        Self { site: site.to_owned(), site_title: title.to_owned(), resource, ..self.clone() }
    }

    /// The audiences a token may name: the configured one, else the resource URL with and
    /// without its trailing slash.
    fn audiences(&self) -> Vec<String> {
        match &self.audience {
            Some(audience) => vec![audience.clone()],
            None => {
                let with = self.resource.as_str().to_owned();
                let without = with.trim_end_matches('/').to_owned();
                if with == without { vec![with] } else { vec![with, without] }
            }
        }
    }
}

/// What the resource server needs from the issuer's metadata.
#[derive(Clone, Debug, Deserialize)]
pub struct IssuerMetadata {
    pub issuer: String,
    pub jwks_uri: Option<Url>,
    pub introspection_endpoint: Option<Url>,
    #[serde(default)]
    pub scopes_supported: Vec<String>,
}

impl IssuerMetadata {
    /// The issuer's metadata: OpenID discovery (`{issuer}/.well-known/openid-configuration`),
    /// else RFC 8414 with the path inserted. The document must name `issuer` exactly.
    pub async fn discover(http: &reqwest::Client, issuer: &str) -> Result<Self, ConfigError> {
        let base = Url::parse(issuer).map_err(|e| {
            ConfigError::Invalid(format!("the issuer `{issuer}` is not a URL: {e}"))
        })?;
        let mut rfc8414 = base.clone();
        let path = base.path().trim_end_matches('/');
        rfc8414.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
        let openid = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
        let mut failures = Vec::new();
        for url in [openid, rfc8414.to_string()] {
            match fetch_json::<Self>(http, &url).await {
                Ok(metadata) if metadata.issuer == issuer => return Ok(metadata),
                Ok(metadata) => {
                    return Err(ConfigError::Invalid(format!(
                        "the metadata at {url} names the issuer `{}`, not `{issuer}`",
                        outbound_http::quote(&metadata.issuer)
                    )));
                }
                Err(reason) => failures.push(format!("{url}: {reason}")),
            }
        }
        Err(ConfigError::Invalid(format!(
            "cannot read the metadata of the issuer {issuer}: {}",
            failures.join("; ")
        )))
    }
}

/// A GET of a JSON document, at most [`MAX_ANSWER_BYTES`].
async fn fetch_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> Result<T, String> {
    let response = http
        .get(url)
        .header(http::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| outbound_http::describe(&e))?;
    if !response.status().is_success() {
        return Err(format!("answered {}", response.status().as_u16()));
    }
    let body =
        outbound_http::read_limited(response, MAX_ANSWER_BYTES).await.map_err(|e| e.to_string())?;
    serde_json::from_slice(&body).map_err(|e| format!("not the expected JSON ({e})"))
}

/// The bearer check of resource-server mode, and its metadata. See the module documentation.
pub struct ResourceServer {
    config: ResourceServerConfig,
    audiences: Vec<String>,
    jwt: Option<JwtVerifier>,
    introspection: Option<(Url, IntrospectionClient)>,
    http: reqwest::Client,
    verified: VerifiedTokens,
    introspections: AtomicU64,
    in_flight: tokio::sync::Semaphore,
    /// Checks under way, by token hash: their callers share one verdict.
    pending: std::sync::Mutex<std::collections::HashMap<[u8; 32], PendingCheck>>,
}

/// The verdict of a check under way, for everyone waiting on it.
type PendingCheck = Arc<tokio::sync::OnceCell<Result<Identity, TokenRejection>>>;

impl std::fmt::Debug for ResourceServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResourceServer")
            .field("site", &self.config.site)
            .field("issuer", &self.config.issuer)
            .finish_non_exhaustive()
    }
}

/// An introspection answer (RFC 7662 §2.2): `active`, and the claims of an active token.
#[derive(Deserialize)]
struct IntrospectionAnswer {
    active: bool,
    #[serde(flatten)]
    claims: serde_json::Map<String, serde_json::Value>,
}

impl ResourceServer {
    /// Reads the issuer's metadata (see [`IssuerMetadata::discover`]) and builds the checks;
    /// `http` should not follow redirects.
    pub async fn discover(
        config: ResourceServerConfig,
        http: reqwest::Client,
    ) -> Result<Self, ConfigError> {
        let metadata = IssuerMetadata::discover(&http, &config.issuer).await?;
        Self::new(config, &metadata, http)
    }

    /// The checks for an issuer whose metadata is known.
    pub fn new(
        config: ResourceServerConfig,
        metadata: &IssuerMetadata,
        http: reqwest::Client,
    ) -> Result<Self, ConfigError> {
        if !matches!(config.resource.scheme(), "https" | "http") || !config.resource.has_host() {
            return Err(ConfigError::Invalid(format!(
                "the resource URL {} must be http(s) with a host",
                config.resource
            )));
        }
        let audiences = config.audiences();
        // Every implemented algorithm (never `none`): a key labelled for one never checks another.
        let jwt = metadata.jwks_uri.clone().map(|jwks_uri| {
            let mut jwt = JwtVerifierConfig::new(&config.site, &config.issuer, jwks_uri);
            jwt.audience = Audience::OneOf(audiences.clone());
            jwt.leeway = config.leeway;
            jwt.subject_claim = config.subject_claim.clone();
            jwt.required_scopes = config.required_scopes.clone();
            JwtVerifier::with_http_client(jwt, http.clone())
        });
        let introspection = match (&config.introspection, &metadata.introspection_endpoint) {
            (Some(client), Some(endpoint)) => Some((endpoint.clone(), client.clone())),
            (Some(_), None) => {
                return Err(ConfigError::Invalid(format!(
                    "introspection credentials are set, but the issuer {} publishes no introspection_endpoint",
                    config.issuer
                )));
            }
            (None, _) => None,
        };
        if jwt.is_none() && introspection.is_none() {
            return Err(ConfigError::Invalid(format!(
                "the issuer {} publishes no jwks_uri, so its tokens can only be introspected: give introspection credentials",
                config.issuer
            )));
        }
        if config.introspect_jwts && introspection.is_none() {
            return Err(ConfigError::Invalid(
                "introspecting JWTs needs introspection credentials".into(),
            ));
        }
        Ok(Self {
            verified: VerifiedTokens::new(config.cache_ttl),
            config,
            audiences,
            jwt,
            introspection,
            http,
            introspections: AtomicU64::new(0),
            in_flight: tokio::sync::Semaphore::new(INTROSPECTIONS_AT_ONCE),
            pending: std::sync::Mutex::default(),
        })
    }

    /// Replaces the JWT check built from the issuer's metadata by `jwt`, for issuers whose tokens
    /// need another policy (DiracX's carry no audience; its users are `preferred_username`).
    #[must_use]
    pub fn with_jwt_verifier(mut self, jwt: JwtVerifier) -> Self {
        self.jwt = Some(jwt);
        self
    }

    /// A client for the issuer: the bridge's TLS roots and timeouts, no redirects.
    pub fn http_client() -> Result<reqwest::Client, ConfigError> {
        crate::http_client::builder()?
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ConfigError::Invalid(format!("HTTP client: {e}")))
    }

    pub fn site(&self) -> &str {
        &self.config.site
    }

    pub fn issuer(&self) -> &str {
        &self.config.issuer
    }

    /// How many introspection requests were sent so far.
    pub fn introspections(&self) -> u64 {
        self.introspections.load(Ordering::Relaxed)
    }

    /// The identity behind `token`, or why not: a JWT of the issuer checked locally (and
    /// introspected when configured), any other token introspected. Positive verdicts are
    /// reused for at most the cache TTL and never past the token's expiry.
    pub async fn verify(&self, token: &str) -> Result<Identity, TokenRejection> {
        let token = token.trim();
        let key = VerifiedTokens::key(token);
        if let Some(identity) = self.verified.get(&key) {
            return Ok(identity);
        }
        // Sessions that open at once with the same new token wait for one check, not one each.
        let check = {
            let mut pending =
                self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            pending.entry(key).or_default().clone()
        };
        let verdict = check.get_or_init(|| self.check(token)).await.clone();
        {
            let mut pending =
                self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if pending.get(&key).is_some_and(|current| Arc::ptr_eq(current, &check)) {
                pending.remove(&key);
            }
        }
        let identity = verdict?;
        self.verified.put(key, &identity);
        Ok(identity)
    }

    /// The whole check of a token not in the cache.
    async fn check(&self, token: &str) -> Result<Identity, TokenRejection> {
        match &self.jwt {
            Some(jwt) if Jws::looks_like(token) => {
                let identity = jwt.verify(token).await?;
                if self.config.introspect_jwts {
                    self.introspect(token).await?;
                }
                Ok(identity)
            }
            _ if self.introspection.is_some() => self.introspect(token).await,
            _ => Err(TokenRejection::Invalid),
        }
    }

    /// Asks the issuer about `token` (RFC 7662) and checks what it says.
    async fn introspect(&self, token: &str) -> Result<Identity, TokenRejection> {
        let Some((endpoint, client)) = &self.introspection else {
            return Err(TokenRejection::Invalid);
        };
        let unavailable = |reason: String| {
            tracing::warn!(site = %self.config.site, %reason, "token introspection failed");
            TokenRejection::Unavailable
        };
        let _turn = tokio::time::timeout(INTROSPECTION_TIMEOUT, self.in_flight.acquire())
            .await
            .map_err(|_| unavailable("too many introspections waiting".into()))?
            .map_err(|_| unavailable("closed".into()))?;
        self.introspections.fetch_add(1, Ordering::Relaxed);
        let encode =
            |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let unavailable = |reason: String| {
            tracing::warn!(site = %self.config.site, %reason, "token introspection failed");
            TokenRejection::Unavailable
        };
        let response = self
            .http
            .post(endpoint.clone())
            .basic_auth(
                encode(&client.client_id),
                Some(encode(client.client_secret.expose_secret())),
            )
            .header(http::header::ACCEPT, "application/json")
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .timeout(INTROSPECTION_TIMEOUT)
            .send()
            .await
            .map_err(|e| unavailable(outbound_http::describe(&e)))?;
        let status = response.status();
        if !status.is_success() {
            let hint = if matches!(status.as_u16(), 400 | 401 | 403) {
                " (are the introspection client's id and secret right?)"
            } else {
                ""
            };
            return Err(unavailable(format!("the issuer answered {}{hint}", status.as_u16())));
        }
        let body = outbound_http::read_limited(response, MAX_ANSWER_BYTES)
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let answer: IntrospectionAnswer = serde_json::from_slice(&body)
            .map_err(|_| unavailable("the answer is not an introspection response".into()))?;
        if !answer.active {
            tracing::debug!(site = %self.config.site, "bearer inactive at the issuer");
            return Err(TokenRejection::Invalid);
        }
        self.admit_introspected(token, &Claims::from(answer.claims), now())
    }

    /// The checks of an active token's introspected claims at time `now`.
    fn admit_introspected(
        &self,
        token: &str,
        claims: &Claims,
        now: i64,
    ) -> Result<Identity, TokenRejection> {
        let refused = |rejection: TokenRejection, why: &str| {
            tracing::debug!(site = %self.config.site, "introspected bearer refused: {why}");
            Err(rejection)
        };
        if claims.str("token_type").is_some_and(|t| t.eq_ignore_ascii_case("refresh_token")) {
            return refused(TokenRejection::Invalid, "a refresh token");
        }
        if claims.get("iss").is_some() && claims.str("iss") != Some(self.config.issuer.as_str()) {
            return refused(TokenRejection::Invalid, "another issuer");
        }
        let leeway = i64::try_from(self.config.leeway.as_secs()).unwrap_or(i64::MAX);
        let exp = claims.seconds("exp");
        if exp.is_some_and(|exp| now > exp.saturating_add(leeway)) {
            return refused(TokenRejection::Expired, "expired");
        }
        if claims.seconds("nbf").is_some_and(|nbf| now.saturating_add(leeway) < nbf) {
            return refused(TokenRejection::Invalid, "not yet valid");
        }
        if !claims.audiences().any(|aud| self.audiences.iter().any(|a| a == aud)) {
            return refused(TokenRejection::WrongAudience, "another audience");
        }
        if self.config.required_scopes.iter().any(|s| !claims.scopes().any(|have| have == s)) {
            return refused(TokenRejection::InsufficientScope, "a required scope is missing");
        }
        let subject = [self.config.subject_claim.as_str(), "sub", "username"]
            .into_iter()
            .find_map(|claim| claims.str(claim).filter(|s| !s.is_empty()));
        let Some(subject) = subject else {
            return refused(TokenRejection::Invalid, "no subject");
        };
        let cache_secs = i64::try_from(self.config.cache_ttl.as_secs()).unwrap_or(i64::MAX);
        Ok(Identity {
            subject: subject.to_owned(),
            site: self.config.site.clone(),
            client_id: claims.str("client_id").unwrap_or(JWT_BEARER_CLIENT).to_owned(),
            upstream_token: SecretString::from(token.to_owned()),
            upstream_expires_at: exp,
            expires_at: exp.unwrap_or_else(|| now.saturating_add(cache_secs.max(1))),
        })
    }

    /// Where the protected-resource metadata is (RFC 9728 §3.1, path inserted).
    pub fn resource_metadata_url(&self) -> String {
        let mut url = self.config.resource.clone();
        let path = self.config.resource.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("/.well-known/oauth-protected-resource{path}"));
        url.to_string()
    }

    /// The `WWW-Authenticate` value of a 401 or 403: the metadata URL, the required scopes, and
    /// the error when a token was sent.
    pub fn challenge(&self, error: Option<(&str, &str)>) -> String {
        let scopes = self.config.required_scopes.join(" ");
        let scope = (!scopes.is_empty()).then_some(scopes.as_str());
        bearer_challenge(Some(&self.resource_metadata_url()), scope, error)
    }

    /// The metadata document (RFC 9728 §2).
    pub fn metadata(&self) -> serde_json::Value {
        let mut body = json!({
            "resource": self.config.resource.as_str(),
            "authorization_servers": [self.config.issuer],
            "bearer_methods_supported": ["header"],
            "resource_name": self.config.site_title,
        });
        if !self.config.required_scopes.is_empty() {
            body["scopes_supported"] = json!(self.config.required_scopes);
        }
        body
    }

    /// The metadata routes (full paths, path inserted and appended, with and without the
    /// trailing slash), answering other origins: browser-based clients read them.
    pub fn router(self: &Arc<Self>) -> Router {
        let path = self.config.resource.path().trim_end_matches('/').to_owned();
        let cors = tower_http::cors::CorsLayer::new()
            .allow_origin(tower_http::cors::Any)
            .allow_methods([http::Method::GET, http::Method::OPTIONS])
            .allow_headers([http::HeaderName::from_static("mcp-protocol-version")]);
        let metadata =
            get(|State(server): State<Arc<Self>>| async move { axum::Json(server.metadata()) });
        let mut router = Router::new()
            .route(&format!("/.well-known/oauth-protected-resource{path}"), metadata.clone())
            .route(&format!("{path}/.well-known/oauth-protected-resource"), metadata.clone());
        if !path.is_empty() {
            router =
                router.route(&format!("/.well-known/oauth-protected-resource{path}/"), metadata);
        }
        router.layer(cors).with_state(self.clone())
    }

    /// A middleware for servers that use the checks alone (an axum router of their own):
    /// `router.route_layer(axum::middleware::from_fn_with_state(server, ResourceServer::require))`
    /// with an `Arc<ResourceServer>`: 401 without a valid token, 403 for a missing scope, 503
    /// when the issuer cannot be asked.
    pub async fn require(
        State(server): State<Arc<Self>>,
        request: Request,
        next: Next,
    ) -> Response {
        let verdict = match bearer_token(request.headers()) {
            Some(token) => server.verify(token).await.map_err(Some),
            None => Err(None),
        };
        admit(request, next, verdict, |error| server.challenge(error)).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use serde_json::Value;

    use super::*;

    fn server(change: impl FnOnce(&mut ResourceServerConfig)) -> ResourceServer {
        let mut config = ResourceServerConfig::new(
            "lab",
            "https://idp.example/realms/lab",
            Url::parse("https://mcp.example/site/lab/").unwrap(),
        );
        config.required_scopes = vec!["mcp:tools".into()];
        config.introspection = Some(IntrospectionClient {
            client_id: "mcp".into(),
            client_secret: SecretString::from("s"),
        });
        change(&mut config);
        let metadata = IssuerMetadata {
            issuer: config.issuer.clone(),
            jwks_uri: None,
            introspection_endpoint: Some(Url::parse("https://idp.example/introspect").unwrap()),
            scopes_supported: Vec::new(),
        };
        ResourceServer::new(config, &metadata, reqwest::Client::new()).unwrap()
    }

    fn claims(change: impl FnOnce(&mut Value)) -> Claims {
        let mut value = json!({"active": true, "sub": "alice", "client_id": "proxy",
            "iss": "https://idp.example/realms/lab", "aud": "https://mcp.example/site/lab/",
            "scope": "openid mcp:tools", "exp": 2_000, "token_type": "Bearer"});
        change(&mut value);
        Claims::from(value.as_object().unwrap().clone())
    }

    #[test]
    fn introspected_claims_are_checked_strictly() {
        let rs = server(|_| {});
        let id = rs.admit_introspected("t", &claims(|_| {}), 1_000).unwrap();
        assert_eq!((id.subject.as_str(), id.client_id.as_str()), ("alice", "proxy"));
        assert_eq!((id.expires_at, id.upstream_expires_at), (2_000, Some(2_000)));
        let no_slash = claims(|c| c["aud"] = json!(["x", "https://mcp.example/site/lab"]));
        rs.admit_introspected("t", &no_slash, 1_000).unwrap();
        type Change = fn(&mut Value);
        let cases: [(Change, TokenRejection); 8] = [
            (
                |c| c["aud"] = json!("https://mcp.example/site/other/"),
                TokenRejection::WrongAudience,
            ),
            (|c| drop(c.as_object_mut().unwrap().remove("aud")), TokenRejection::WrongAudience),
            (|c| c["iss"] = json!("https://evil.example"), TokenRejection::Invalid),
            (|c| c["exp"] = json!(900), TokenRejection::Expired),
            (|c| c["nbf"] = json!(1_100), TokenRejection::Invalid),
            (|c| c["scope"] = json!("openid"), TokenRejection::InsufficientScope),
            (|c| c["token_type"] = json!("refresh_token"), TokenRejection::Invalid),
            (|c| drop(c.as_object_mut().unwrap().remove("sub")), TokenRejection::Invalid),
        ];
        for (change, expected) in cases {
            assert_eq!(rs.admit_introspected("t", &claims(change), 1_000).unwrap_err(), expected);
        }
        // within the leeway, and no `iss` at all (RFC 7662 makes it optional)
        rs.admit_introspected("t", &claims(|c| c["exp"] = json!(990)), 1_000).unwrap();
        rs.admit_introspected(
            "t",
            &claims(|c| drop(c.as_object_mut().unwrap().remove("iss"))),
            1_000,
        )
        .unwrap();
    }

    #[test]
    fn a_configured_audience_replaces_the_resource_url() {
        let rs = server(|c| c.audience = Some("mcp-server".into()));
        rs.admit_introspected("t", &claims(|c| c["aud"] = json!("mcp-server")), 1_000).unwrap();
        let err = rs.admit_introspected("t", &claims(|_| {}), 1_000).unwrap_err();
        assert_eq!(err, TokenRejection::WrongAudience);
    }

    #[test]
    fn metadata_and_challenge_name_the_issuer_and_scopes() {
        let rs = server(|_| {});
        assert_eq!(
            rs.resource_metadata_url(),
            "https://mcp.example/.well-known/oauth-protected-resource/site/lab"
        );
        let metadata = rs.metadata();
        assert_eq!(metadata["authorization_servers"], json!(["https://idp.example/realms/lab"]));
        assert_eq!(metadata["resource"], "https://mcp.example/site/lab/");
        assert_eq!(metadata["scopes_supported"], json!(["mcp:tools"]));
        assert_eq!(
            rs.challenge(Some(("invalid_token", "expired"))),
            "Bearer resource_metadata=\"https://mcp.example/.well-known/oauth-protected-resource/site/lab\", scope=\"mcp:tools\", error=\"invalid_token\", error_description=\"expired\""
        );
    }

    /// Many requests with one new opaque token at once: one introspection, one verdict for all;
    /// the next one comes from the cache.
    #[tokio::test]
    async fn concurrent_checks_of_one_token_ask_the_issuer_once() {
        use std::sync::atomic::AtomicUsize;
        let asked = Arc::new(AtomicUsize::new(0));
        let counter = asked.clone();
        let answer = axum::routing::post(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(100)).await;
                axum::Json(json!({"active": true, "sub": "alice", "scope": "mcp:tools",
                    "aud": "https://mcp.example/site/lab/", "exp": now() + 600}))
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}/introspect", listener.local_addr().unwrap());
        tokio::spawn(
            axum::serve(listener, Router::new().route("/introspect", answer)).into_future(),
        );
        let config = {
            let mut config = ResourceServerConfig::new(
                "lab",
                "https://idp.example/realms/lab",
                Url::parse("https://mcp.example/site/lab/").unwrap(),
            );
            config.introspection = Some(IntrospectionClient {
                client_id: "mcp".into(),
                client_secret: SecretString::from("s"),
            });
            config
        };
        let metadata = IssuerMetadata {
            issuer: config.issuer.clone(),
            jwks_uri: None,
            introspection_endpoint: Some(Url::parse(&endpoint).unwrap()),
            scopes_supported: Vec::new(),
        };
        let rs = Arc::new(ResourceServer::new(config, &metadata, reqwest::Client::new()).unwrap());
        let checks: Vec<_> = (0..16)
            .map(|_| {
                let rs = rs.clone();
                tokio::spawn(async move { rs.verify("opaque-token").await })
            })
            .collect();
        for check in checks {
            assert_eq!(check.await.unwrap().unwrap().subject, "alice");
        }
        rs.verify("opaque-token").await.unwrap();
        assert_eq!(asked.load(Ordering::SeqCst), 1);
        assert_eq!(rs.introspections(), 1);
    }

    #[test]
    fn an_issuer_without_keys_needs_introspection() {
        let config = ResourceServerConfig::new(
            "lab",
            "https://idp.example",
            Url::parse("https://mcp.example/").unwrap(),
        );
        let metadata = IssuerMetadata {
            issuer: "https://idp.example".into(),
            jwks_uri: None,
            introspection_endpoint: None,
            scopes_supported: Vec::new(),
        };
        let err = ResourceServer::new(config, &metadata, reqwest::Client::new()).unwrap_err();
        assert!(err.to_string().contains("introspection credentials"), "{err}");
    }
}
