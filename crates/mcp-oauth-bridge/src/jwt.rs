//! The second kind of bearer a resource server may accept: an access token (a JWT) of an issuer
//! it trusts, checked locally against the issuer's JWKS (`jwt-verify`) and accepted as that user.
//! [`JwtVerifier`] works alone (its [`JwtVerifier::require`] middleware) or behind the bridge's
//! own [`TokenVerifier`](crate::TokenVerifier) (`BridgeConfig::upstream_jwt`). It knows no
//! issuer in particular: which claim names the user, the audience policy and the algorithms are
//! configuration.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use jwt_verify::{Algorithm, JwtError, RemoteKeySet, Validation};
use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

pub use jwt_verify::Audience;

use crate::cache::VerifiedTokens;
use crate::error::ConfigError;
use crate::tokens::{Identity, TokenRejection, admit, bearer_challenge, bearer_token};

/// The `client_id` of an identity whose token names no client (`azp`, `client_id`).
pub const JWT_BEARER_CLIENT: &str = "jwt-bearer";

/// The largest discovery document read.
const MAX_DISCOVERY_BYTES: usize = 256 * 1024;

/// What a [`JwtVerifier`] trusts and how it names the user.
#[derive(Clone, Debug)]
pub struct JwtVerifierConfig {
    /// The site the identities belong to (`Identity::site`).
    pub site: String,
    /// The only accepted `iss`, compared exactly.
    pub issuer: String,
    pub jwks_uri: Url,
    /// Accepted `alg` values (`none` never is, nor what `jwt-verify` does not implement).
    pub algorithms: Vec<String>,
    /// Which `aud` tokens may carry; [`Audience::Absent`] by default (a token minted for
    /// another audience does not pass).
    pub audience: Audience,
    /// Clock drift allowed on `exp` and `nbf` (30 s).
    pub leeway: Duration,
    /// The claim that names the user (`Identity::subject`): `sub` by default; DiracX's users are
    /// its `preferred_username`.
    pub subject_claim: String,
    /// Scopes every token must have (resource-server mode); none by default.
    pub required_scopes: Vec<String>,
    /// The protected-resource metadata URL the `WWW-Authenticate` challenge names, if any.
    pub resource_metadata: Option<String>,
    /// Claims a token must carry with exactly these text values (a DiracX site's `vo`), else it
    /// was issued for another resource.
    pub required_claims: Vec<(String, String)>,
}

/// The algorithms taken when the issuer's metadata names none: every one implemented.
fn default_algorithms() -> Vec<String> {
    Algorithm::ALL.iter().map(|a| a.name().to_owned()).collect()
}

#[derive(Deserialize)]
struct OpenIdConfiguration {
    issuer: String,
    jwks_uri: Url,
    #[serde(default)]
    token_endpoint_auth_signing_alg_values_supported: Vec<String>,
    #[serde(default)]
    id_token_signing_alg_values_supported: Vec<String>,
}

impl JwtVerifierConfig {
    /// Tokens of `issuer` with keys at `jwks_uri`, as users of `site`: the defaults above.
    pub fn new(site: impl Into<String>, issuer: impl Into<String>, jwks_uri: Url) -> Self {
        Self {
            site: site.into(),
            issuer: issuer.into(),
            jwks_uri,
            algorithms: default_algorithms(),
            audience: Audience::Absent,
            leeway: jwt_verify::DEFAULT_LEEWAY,
            subject_claim: "sub".to_owned(),
            required_scopes: Vec::new(),
            resource_metadata: None,
            required_claims: Vec::new(),
        }
    }

    /// Reads `{issuer}/.well-known/openid-configuration`: its `jwks_uri`, and as algorithms what
    /// it lists in `token_endpoint_auth_signing_alg_values_supported` (DiracX publishes its
    /// token algorithms there), else `id_token_signing_alg_values_supported`, else the defaults.
    /// The document's `issuer` must be `issuer`.
    pub async fn discover(
        http: &reqwest::Client,
        site: impl Into<String>,
        issuer: &str,
    ) -> Result<Self, ConfigError> {
        let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
        let failed = |reason: String| ConfigError::Invalid(format!("discovery at {url}: {reason}"));
        let mut response = http.get(&url).send().await.map_err(|e| failed(e.to_string()))?;
        if !response.status().is_success() {
            return Err(failed(format!("answered {}", response.status().as_u16())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| failed(e.to_string()))? {
            if body.len() + chunk.len() > MAX_DISCOVERY_BYTES {
                return Err(failed(format!("more than {MAX_DISCOVERY_BYTES} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        let document: OpenIdConfiguration = serde_json::from_slice(&body)
            .map_err(|e| failed(format!("not an OpenID configuration ({e})")))?;
        if document.issuer != issuer {
            return Err(failed(format!(
                "the document names the issuer `{}`, not `{issuer}`",
                document.issuer
            )));
        }
        let mut config = Self::new(site, issuer, document.jwks_uri);
        let listed = [
            document.token_endpoint_auth_signing_alg_values_supported,
            document.id_token_signing_alg_values_supported,
        ];
        if let Some(algorithms) = listed.into_iter().find(|list| !list.is_empty()) {
            config.algorithms = algorithms;
        }
        Ok(config)
    }
}

/// Verifies an issuer's JWT access tokens locally and makes them [`Identity`]s: the token itself
/// becomes the upstream token, so tools call the backend with it.
pub struct JwtVerifier {
    site: String,
    subject_claim: String,
    resource_metadata: Option<String>,
    validation: Validation,
    keys: RemoteKeySet,
    verified: VerifiedTokens,
    required_claims: Vec<(String, String)>,
}

/// How long a verified token is taken without a new check (at most: never past its `exp`). An
/// agent sends the same bearer with every request; an Ed25519 check costs tens of microseconds,
/// a look-up one. A key the issuer withdraws stops counting for cached tokens after this long.
const VERIFIED_TTL: Duration = Duration::from_secs(60);

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("site", &self.site)
            .field("issuer", &self.validation.issuer)
            .field("jwks_uri", &self.keys.jwks_uri().as_str())
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// A verifier fetching keys with the bridge's HTTP client (system roots, timeouts, no
    /// redirects).
    pub fn new(config: JwtVerifierConfig) -> Result<Self, ConfigError> {
        Ok(Self::with_http_client(config, crate::ResourceServer::http_client()?))
    }

    /// A verifier fetching keys with `http` (which should not follow redirects; an answer from
    /// elsewhere than the `jwks_uri` is refused anyway).
    pub fn with_http_client(config: JwtVerifierConfig, http: reqwest::Client) -> Self {
        let validation = Validation::new(config.issuer, config.audience)
            .with_algorithms(config.algorithms)
            .with_leeway(config.leeway)
            .with_required_scopes(config.required_scopes);
        Self {
            site: config.site,
            subject_claim: config.subject_claim,
            resource_metadata: config.resource_metadata,
            validation,
            keys: RemoteKeySet::new(http, config.jwks_uri),
            verified: VerifiedTokens::new(VERIFIED_TTL),
            required_claims: config.required_claims,
        }
    }

    /// Changes the least time between two fetches of the keys (30 s).
    pub fn with_refetch_floor(mut self, floor: Duration) -> Self {
        self.keys = self.keys.with_refetch_floor(floor);
        self
    }

    /// Starts with the keys of the JWKS document `jwks` as if just fetched (pinned keys, tests,
    /// benches); they are fetched again as usual on an unknown `kid` or with age.
    pub fn with_keys(mut self, jwks: &[u8]) -> Result<Self, ConfigError> {
        let keys = jwt_verify::KeySet::from_json(jwks)
            .map_err(|e| ConfigError::Invalid(format!("the JWKS: {e}")))?;
        self.keys = self.keys.with_keys(keys);
        Ok(self)
    }

    pub fn site(&self) -> &str {
        &self.site
    }

    pub fn issuer(&self) -> &str {
        &self.validation.issuer
    }

    /// The identity behind `token`, or why not ([`TokenRejection::Unavailable`] when the keys
    /// cannot be fetched: a 503, not a 401).
    pub async fn verify(&self, token: &str) -> Result<Identity, TokenRejection> {
        let token = token.trim();
        let key = VerifiedTokens::key(token);
        if let Some(identity) = self.verified.get(&key) {
            return Ok(identity);
        }
        let identity = self.check(token).await?;
        self.verified.put(key, &identity);
        Ok(identity)
    }

    /// The full check: signature against the issuer's keys, then the claims.
    async fn check(&self, token: &str) -> Result<Identity, TokenRejection> {
        let claims = self.keys.verify(token, &self.validation).await.map_err(|e| {
            tracing::debug!(site = %self.site, reason = %e, "JWT bearer refused");
            rejection(&e)
        })?;
        if self.required_claims.iter().any(|(name, value)| claims.str(name) != Some(value.as_str()))
        {
            tracing::debug!(site = %self.site, "JWT bearer of another resource (a required claim differs)");
            return Err(TokenRejection::WrongAudience);
        }
        let subject = claims
            .str(&self.subject_claim)
            .filter(|s| !s.is_empty())
            .ok_or(TokenRejection::Invalid)?
            .to_owned();
        let client_id = claims
            .str("azp")
            .or_else(|| claims.str("client_id"))
            .unwrap_or(JWT_BEARER_CLIENT)
            .to_owned();
        let expires_at = claims.seconds("exp").ok_or(TokenRejection::Invalid)?;
        Ok(Identity {
            subject,
            site: self.site.clone(),
            client_id,
            upstream_token: SecretString::from(token.to_owned()),
            upstream_expires_at: Some(expires_at),
            expires_at,
        })
    }

    /// The `WWW-Authenticate` value of a 401 or 403 (RFC 6750): the metadata URL and the
    /// required scopes when configured, and the error when a token was sent.
    pub fn challenge(&self, error: Option<(&str, &str)>) -> String {
        let scopes = self.validation.required_scopes.join(" ");
        let scope = (!scopes.is_empty()).then_some(scopes.as_str());
        bearer_challenge(self.resource_metadata.as_deref(), scope, error)
    }

    /// A middleware for servers that accept the issuer's tokens alone:
    /// `router.route_layer(axum::middleware::from_fn_with_state(verifier, JwtVerifier::require))`
    /// with an `Arc<JwtVerifier>`. 401 without a valid token, 403 for a missing scope, 503 when
    /// the keys cannot be fetched.
    pub async fn require(
        State(verifier): State<Arc<Self>>,
        request: Request,
        next: Next,
    ) -> Response {
        let verdict = match bearer_token(request.headers()) {
            Some(token) => verifier.verify(token).await.map_err(Some),
            None => Err(None),
        };
        admit(request, next, verdict, |error| verifier.challenge(error)).await
    }
}

fn rejection(error: &JwtError) -> TokenRejection {
    match error {
        JwtError::Expired { .. } => TokenRejection::Expired,
        JwtError::Audience { .. } => TokenRejection::WrongAudience,
        JwtError::Scope { .. } => TokenRejection::InsufficientScope,
        JwtError::KeysUnavailable(_) => TokenRejection::Unavailable,
        _ => TokenRejection::Invalid,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use http::StatusCode;
    use secrecy::ExposeSecret as _;
    use serde_json::{Value, json};
    use tower::ServiceExt as _;

    use super::*;
    use crate::bench_support::{mint_access_token, verifier_with_jwt};
    use crate::tokens::now;

    const ISSUER: &str = "https://dx.example";
    const AUDIENCE: &str = "https://mcp.example/site/dirac";

    struct Issuer {
        pair: Ed25519KeyPair,
    }

    impl Issuer {
        fn new() -> Self {
            Self { pair: Ed25519KeyPair::generate().unwrap() }
        }

        fn jwks(&self) -> Vec<u8> {
            let x = URL_SAFE_NO_PAD.encode(self.pair.public_key().as_ref());
            json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k", "x": x}]})
                .to_string()
                .into_bytes()
        }

        /// A DiracX-shaped access token, `change` applied to its claims.
        fn token(&self, change: impl FnOnce(&mut Value)) -> String {
            let mut claims = json!({"sub": "vo:123", "vo": "vo", "iss": ISSUER, "exp": now() + 600,
                                    "preferred_username": "alice", "scope": "jobs"});
            change(&mut claims);
            let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"Ed25519","kid":"k"}"#);
            let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
            format!("{input}.{}", URL_SAFE_NO_PAD.encode(self.pair.sign(input.as_bytes())))
        }
    }

    fn config() -> JwtVerifierConfig {
        let mut config =
            JwtVerifierConfig::new("dirac", ISSUER, Url::parse("http://127.0.0.1:9/j").unwrap());
        config.subject_claim = "preferred_username".into();
        config
    }

    fn verifier(issuer: &Issuer, config: JwtVerifierConfig) -> JwtVerifier {
        JwtVerifier::with_http_client(config, reqwest::Client::new())
            .with_keys(&issuer.jwks())
            .unwrap()
    }

    #[tokio::test]
    async fn check_takes_sealed_tokens_and_the_trusted_issuers_jwts() {
        let issuer = Issuer::new();
        let keys = Arc::new(crate::KeySet::ephemeral().unwrap());
        let jwt = Arc::new(verifier(&issuer, config()));
        let tokens = verifier_with_jwt(keys.clone(), "dirac", AUDIENCE, Some(jwt));

        let sealed = mint_access_token(&keys, "dirac", AUDIENCE, "upstream", 600);
        assert_eq!(tokens.check(&sealed).await.unwrap().subject, "bench-user");

        let token = issuer.token(|c| c["azp"] = json!("dirac-cli"));
        let identity = tokens.check(&token).await.unwrap();
        assert_eq!(identity.subject, "alice");
        assert_eq!(identity.site, "dirac");
        assert_eq!(identity.client_id, "dirac-cli");
        assert_eq!(identity.upstream_token.expose_secret(), token);
        assert_eq!(Some(identity.expires_at), identity.upstream_expires_at);
        let debug = format!("{identity:?}");
        assert!(!debug.contains(&token) && !debug.contains("upstream"), "{debug}");
        let plain = tokens.check(&issuer.token(|_| {})).await.unwrap();
        assert_eq!(plain.client_id, JWT_BEARER_CLIENT);

        // The sync check knows only sealed tokens; without a trusted issuer neither does `check`.
        assert_eq!(tokens.verify(&token).unwrap_err(), TokenRejection::Invalid);
        let alone = verifier_with_jwt(keys, "dirac", AUDIENCE, None);
        assert_eq!(alone.check(&token).await.unwrap_err(), TokenRejection::Invalid);
        assert_eq!(alone.check("not-a-token").await.unwrap_err(), TokenRejection::Invalid);
    }

    #[tokio::test]
    async fn check_refuses_other_issuers_audiences_and_expired_jwts() {
        let issuer = Issuer::new();
        let keys = Arc::new(crate::KeySet::ephemeral().unwrap());
        let tokens =
            verifier_with_jwt(keys, "dirac", AUDIENCE, Some(Arc::new(verifier(&issuer, config()))));
        let refused = [
            (issuer.token(|c| c["iss"] = json!("https://evil.example")), TokenRejection::Invalid),
            (issuer.token(|c| c["aud"] = json!("another-api")), TokenRejection::WrongAudience),
            (issuer.token(|c| c["exp"] = json!(now() - 120)), TokenRejection::Expired),
            (issuer.token(|c| c["preferred_username"] = json!(null)), TokenRejection::Invalid),
            (Issuer::new().token(|_| {}), TokenRejection::Invalid),
        ];
        for (token, rejection) in refused {
            assert_eq!(tokens.check(&token).await.unwrap_err(), rejection);
        }
    }

    #[tokio::test]
    async fn audience_and_scopes_of_a_resource_server() {
        let issuer = Issuer::new();
        let mut config = config();
        config.audience = Audience::Must(AUDIENCE.into());
        config.required_scopes = vec!["jobs".into()];
        let jwt = verifier(&issuer, config.clone());
        jwt.verify(&issuer.token(|c| c["aud"] = json!([AUDIENCE, "x"]))).await.unwrap();
        assert_eq!(
            jwt.verify(&issuer.token(|_| {})).await.unwrap_err(),
            TokenRejection::WrongAudience
        );
        config.required_scopes.push("admin".into());
        let strict = verifier(&issuer, config);
        assert_eq!(
            strict.verify(&issuer.token(|c| c["aud"] = json!(AUDIENCE))).await.unwrap_err(),
            TokenRejection::InsufficientScope
        );
    }

    #[tokio::test]
    async fn the_middleware_answers_401_403_and_503() {
        let issuer = Issuer::new();
        let mut scoped = config();
        scoped.required_scopes = vec!["admin".into()];
        scoped.resource_metadata = Some("https://mcp.example/.well-known/x".into());
        let app = |verifier: JwtVerifier| {
            Router::new().route("/", get(|| async { "ok" })).route_layer(
                axum::middleware::from_fn_with_state(Arc::new(verifier), JwtVerifier::require),
            )
        };
        let call = |app: Router, token: Option<String>| async move {
            let mut request = http::Request::get("/");
            if let Some(token) = token {
                request = request.header("authorization", format!("Bearer {token}"));
            }
            app.oneshot(request.body(Body::empty()).unwrap()).await.unwrap()
        };
        let good = issuer.token(|_| {});
        let answer = call(app(verifier(&issuer, config())), Some(good.clone())).await;
        assert_eq!(answer.status(), StatusCode::OK);
        let answer = call(app(verifier(&issuer, config())), None).await;
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(answer.headers()["www-authenticate"], "Bearer");
        let answer = call(app(verifier(&issuer, scoped)), Some(good.clone())).await;
        assert_eq!(answer.status(), StatusCode::FORBIDDEN);
        let challenge = answer.headers()["www-authenticate"].to_str().unwrap();
        assert!(challenge.contains("error=\"insufficient_scope\""), "{challenge}");
        assert!(challenge.contains("scope=\"admin\"") && challenge.contains("resource_metadata"));
        // Keys that cannot be fetched (nothing listens on port 9): 503, not 401.
        let unreachable = JwtVerifier::with_http_client(config(), reqwest::Client::new());
        let answer = call(app(unreachable), Some(good)).await;
        assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(answer.headers().get("www-authenticate").is_none());
    }

    #[test]
    fn verified_tokens_are_remembered_only_until_they_expire() {
        let cache = VerifiedTokens::new(VERIFIED_TTL);
        let identity = |expires_at| Identity {
            subject: "alice".into(),
            site: "dirac".into(),
            client_id: JWT_BEARER_CLIENT.into(),
            upstream_token: SecretString::from("t"),
            upstream_expires_at: Some(expires_at),
            expires_at,
        };
        let now = crate::tokens::now();
        let (fresh, stale) = (VerifiedTokens::key("fresh"), VerifiedTokens::key("stale"));
        cache.put(fresh, &identity(now + 600));
        cache.put(stale, &identity(now - 1));
        assert_eq!(cache.get(&fresh).map(|i| i.subject), Some("alice".to_owned()));
        assert!(cache.get(&stale).is_none(), "an expired token is checked again (and refused)");
        assert!(cache.get(&VerifiedTokens::key("other")).is_none());
    }

    #[test]
    #[cfg(feature = "polling")] // the scripted upstream of the route tests
    fn a_bridge_refuses_a_jwt_verifier_of_another_site() {
        let issuer = Issuer::new();
        let mut config = crate::BridgeConfig::new(
            "atlas",
            Url::parse("https://mcp.example/site/atlas/").unwrap(),
        );
        config.upstream_jwt = Some(Arc::new(verifier(&issuer, self::config())));
        let shared = Arc::new(crate::BridgeShared::new(
            Arc::new(crate::KeySet::ephemeral().unwrap()),
            Arc::new(crate::MemoryStore::new()),
            crate::MetadataFetcher::new(false),
            crate::BridgeMetrics::default(),
        ));
        let err = crate::Bridge::new(
            config,
            shared,
            Arc::new(crate::tests::Scripted {
                polls: std::sync::Mutex::new(Vec::new()),
                refresh_ok: false,
            }),
        )
        .unwrap_err();
        assert!(err.to_string().contains("site `dirac`, not `atlas`"), "{err}");
    }
}
