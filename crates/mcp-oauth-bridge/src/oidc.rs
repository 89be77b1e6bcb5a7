//! A standard OpenID Connect upstream: authorization code with PKCE (S256) and a nonce, the ID
//! token verified against the provider's discovered keys. Any conformant provider (CERN SSO,
//! Keycloak, INDIGO IAM, ...) plugs into the bridge through [`OidcUpstream`].
//!
//! `openidconnect` runs with its default features off (they pull a second reqwest and ring); its
//! requests go through `Http`, a small adapter over the bridge's reqwest client that never
//! follows redirects, has timeouts and caps response bodies.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use openidconnect::core::{
    CoreClient, CoreGrantType, CoreIdToken, CoreProviderMetadata, CoreResponseType,
    CoreTokenResponse,
};
use openidconnect::{
    AccessToken, AccessTokenHash, AsyncHttpClient, AuthenticationFlow, AuthorizationCode, ClientId,
    ClientSecret, CsrfToken, DiscoveryError, EndpointMaybeSet, EndpointNotSet, EndpointSet,
    HttpRequest, HttpResponse, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope, TokenResponse,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{ConfigError, UpstreamError};
use crate::upstream::{LoginStart, Progress, Upstream, UpstreamFuture, UpstreamGrant};

/// How long discovery (metadata and keys) may take in all.
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(20);
/// The largest response body accepted from the provider.
const MAX_BODY: usize = 1 << 20;
/// The longest text of the provider's quoted in an error.
const MAX_QUOTED: usize = 200;

/// How to reach an OpenID provider.
#[derive(Clone, Debug)]
pub struct OidcUpstreamConfig {
    /// The provider's issuer, exactly as in its metadata (`https://auth.cern.ch/auth/realms/cern`).
    pub issuer: Url,
    /// This bridge's client at the provider.
    pub client_id: String,
    /// The client secret (`client_secret_basic`); `None` for a public client (PKCE only).
    pub client_secret: Option<SecretString>,
    /// Scopes to ask for; `openid` is added when missing.
    pub scopes: Vec<String>,
    /// How texts name the provider ("CERN SSO").
    pub display_name: String,
    /// The ID-token claim naming the user (`preferred_username`, ...); `sub` when `None` or when
    /// the token lacks it.
    pub subject_claim: Option<String>,
    /// Extra parameters of the authorization request (`audience`, `prompt`, ...).
    pub extra_auth_params: Vec<(String, String)>,
}

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// An OpenID Connect provider as the bridge's upstream (authorization code + PKCE S256).
pub struct OidcUpstream {
    client: Client,
    http: Http,
    issuer: String,
    scopes: Vec<String>,
    display_name: String,
    subject_claim: Option<String>,
    extra_auth_params: Vec<(String, String)>,
    userinfo: Option<Url>,
    can_refresh: bool,
}

impl std::fmt::Debug for OidcUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcUpstream")
            .field("issuer", &self.issuer)
            .field("display_name", &self.display_name)
            .finish_non_exhaustive()
    }
}

/// What the bridge keeps between [`Upstream::begin`] and [`Upstream::complete`].
#[derive(Serialize, Deserialize)]
struct Pending {
    pkce_verifier: String,
    nonce: String,
    redirect_uri: String,
}

impl OidcUpstream {
    /// Fetches the provider's metadata and keys (once, within a timeout).
    pub async fn discover(config: OidcUpstreamConfig) -> Result<Self, ConfigError> {
        let issuer_text = config.issuer.as_str();
        let invalid =
            |what: String| ConfigError::Invalid(format!("OIDC issuer {issuer_text}: {what}"));
        if !matches!(config.issuer.scheme(), "https" | "http") || !config.issuer.has_host() {
            return Err(invalid("must be an http(s) URL".into()));
        }
        let http = Http::new()?;
        // `Url` adds a slash to a bare host; the metadata's issuer may or may not have it.
        let mut candidates = vec![issuer_text.to_owned()];
        if config.issuer.path() == "/" {
            candidates.insert(0, issuer_text.trim_end_matches('/').to_owned());
        }
        let work = async {
            let mut last = None;
            for candidate in &candidates {
                let url = IssuerUrl::new(candidate.clone()).map_err(|e| invalid(e.to_string()))?;
                match CoreProviderMetadata::discover_async(url, &http).await {
                    Ok(metadata) => return Ok(metadata),
                    Err(e @ DiscoveryError::Validation(_)) => last = Some(e),
                    Err(e) => return Err(invalid(discovery_error(&e))),
                }
            }
            Err(invalid(last.map(|e| discovery_error(&e)).unwrap_or_default()))
        };
        let metadata = tokio::time::timeout(DISCOVERY_TIMEOUT, work)
            .await
            .map_err(|_| invalid(format!("discovery timed out after {DISCOVERY_TIMEOUT:?}")))??;

        if metadata.token_endpoint().is_none() {
            return Err(invalid("the provider's metadata has no token endpoint".into()));
        }
        if !metadata
            .response_types_supported()
            .iter()
            .any(|types| types.len() == 1 && types.first() == Some(&CoreResponseType::Code))
        {
            return Err(invalid(
                "the provider does not support the authorization code flow".into(),
            ));
        }
        let can_refresh = metadata
            .grant_types_supported()
            .is_none_or(|g| g.is_empty() || g.contains(&CoreGrantType::RefreshToken));
        let issuer = metadata.issuer().as_str().to_owned();
        let userinfo = metadata.userinfo_endpoint().map(|u| u.url().clone());
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(config.client_id),
            config.client_secret.map(|s| ClientSecret::new(s.expose_secret().to_owned())),
        );
        let mut scopes = config.scopes;
        scopes.retain(|s| s != "openid"); // openidconnect always asks for it
        Ok(Self {
            client,
            http,
            issuer,
            scopes,
            display_name: config.display_name,
            subject_claim: config.subject_claim.filter(|c| !c.is_empty() && c != "sub"),
            extra_auth_params: config.extra_auth_params,
            userinfo,
            can_refresh,
        })
    }

    /// The issuer as the provider's metadata names it.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    async fn begin_login(&self, callback: &Url, state: &str) -> Result<LoginStart, UpstreamError> {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = state.to_owned();
        let mut request = self
            .client
            .authorize_url(
                AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                move || CsrfToken::new(state),
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge)
            .set_redirect_uri(Cow::Owned(RedirectUrl::from_url(callback.clone())));
        for scope in &self.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        for (name, value) in &self.extra_auth_params {
            request = request.add_extra_param(name.clone(), value.clone());
        }
        let (url, _state, nonce) = request.url();
        let pending = Pending {
            pkce_verifier: verifier.secret().clone(),
            nonce: nonce.secret().clone(),
            redirect_uri: callback.to_string(),
        };
        let pending = serde_json::to_value(&pending)
            .map_err(|_| UpstreamError::Unavailable("cannot record the sign-in".into()))?;
        Ok(LoginStart::Redirect { url, pending })
    }

    async fn complete_login(
        &self,
        pending: &serde_json::Value,
        query: &[(String, String)],
    ) -> Result<UpstreamGrant, UpstreamError> {
        let param = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        // RFC 9207: an answer naming another issuer is a mix-up attack.
        if let Some(iss) = param("iss")
            && iss != self.issuer
        {
            return Err(UpstreamError::Refused(
                "the sign-in answer came from another identity provider".into(),
            ));
        }
        if let Some(error) = param("error") {
            let mut text = format!("{} refused the sign-in: {}", self.display_name, quote(error));
            if let Some(description) = param("error_description").filter(|d| !d.is_empty()) {
                text.push_str(&format!(" ({})", quote(description)));
            }
            return Err(UpstreamError::Refused(text));
        }
        let Some(code) = param("code").filter(|c| !c.is_empty()) else {
            return Err(UpstreamError::Refused(
                "the identity provider sent no authorization code".into(),
            ));
        };
        let pending: Pending = serde_json::from_value(pending.clone())
            .map_err(|_| UpstreamError::Refused("this sign-in is not known here".into()))?;
        let redirect = RedirectUrl::new(pending.redirect_uri)
            .map_err(|_| UpstreamError::Refused("this sign-in is not known here".into()))?;
        let response = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|_| UpstreamError::Unavailable("the provider has no token endpoint".into()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier))
            .set_redirect_uri(Cow::Owned(redirect))
            .request_async(&self.http)
            .await
            .map_err(|e| token_error(&self.display_name, e))?;
        let nonce = Nonce::new(pending.nonce);
        let subject = match response.id_token() {
            Some(id_token) => self.verified_subject(id_token, response.access_token(), &nonce)?,
            None => self.userinfo_subject(response.access_token()).await?,
        };
        Ok(grant(subject, &response, None))
    }

    async fn refresh_grant(&self, old: &UpstreamGrant) -> Result<UpstreamGrant, UpstreamError> {
        let Some(refresh) = &old.refresh else {
            return Err(UpstreamError::Refused("this sign-in cannot be renewed".into()));
        };
        let token = RefreshToken::new(refresh.expose_secret().to_owned());
        let response = self
            .client
            .exchange_refresh_token(&token)
            .map_err(|_| UpstreamError::Unavailable("the provider has no token endpoint".into()))?
            .request_async(&self.http)
            .await
            .map_err(|e| token_error(&self.display_name, e))?;
        if let Some(id_token) = response.id_token() {
            // A refreshed ID token carries no nonce (OIDC Core 12.2) but must name the same user.
            let accept_any = |_: Option<&Nonce>| Ok(());
            let subject = self.verified_subject(id_token, response.access_token(), accept_any)?;
            if subject != old.subject {
                return Err(UpstreamError::Refused(
                    "the identity provider renewed the sign-in for another user".into(),
                ));
            }
        }
        Ok(grant(old.subject.clone(), &response, Some(refresh)))
    }

    /// Verifies the ID token (signature, issuer, audience, expiry, nonce, access-token hash) and
    /// names the user by the configured claim.
    fn verified_subject(
        &self,
        id_token: &CoreIdToken,
        access_token: &AccessToken,
        nonce: impl openidconnect::NonceVerifier,
    ) -> Result<String, UpstreamError> {
        let refused = |what: String| {
            UpstreamError::Refused(format!("the identity provider's ID token is not valid: {what}"))
        };
        let verifier = self.client.id_token_verifier();
        let claims = id_token.claims(&verifier, nonce).map_err(|e| refused(e.to_string()))?;
        if let Some(expected) = claims.access_token_hash() {
            let alg = id_token.signing_alg().map_err(|e| refused(e.to_string()))?;
            let key = id_token.signing_key(&verifier).map_err(|e| refused(e.to_string()))?;
            let actual = AccessTokenHash::from_token(access_token, alg, key)
                .map_err(|e| refused(e.to_string()))?;
            if actual != *expected {
                return Err(refused("the access token does not match its hash".into()));
            }
        }
        let sub = claims.subject().as_str().to_owned();
        let Some(claim) = &self.subject_claim else { return Ok(sub) };
        // The signature is verified: read the configured claim from the payload as sent.
        let compact = id_token.to_string();
        let payload = compact
            .split('.')
            .nth(1)
            .and_then(|p| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p).ok())
            .and_then(|p| serde_json::from_slice::<serde_json::Value>(&p).ok());
        Ok(payload.as_ref().and_then(|p| claim_text(p, claim)).unwrap_or(sub))
    }

    /// Without an ID token, the user comes from the userinfo endpoint.
    async fn userinfo_subject(&self, access_token: &AccessToken) -> Result<String, UpstreamError> {
        let Some(url) = &self.userinfo else {
            return Err(UpstreamError::Refused(
                "the identity provider returned no ID token and has no userinfo endpoint".into(),
            ));
        };
        let response = self
            .http
            .client
            .get(url.clone())
            .bearer_auth(access_token.secret())
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| UpstreamError::Unavailable(format!("userinfo: {}", request_error(&e))))?;
        match response.status() {
            s if s.is_success() => {}
            s if s.is_client_error() => {
                return Err(UpstreamError::Refused(format!(
                    "the identity provider's userinfo endpoint refused the token ({s})"
                )));
            }
            s => {
                return Err(UpstreamError::Unavailable(format!(
                    "the identity provider's userinfo endpoint failed ({s})"
                )));
            }
        }
        let body = read_body(response)
            .await
            .map_err(|e| UpstreamError::Unavailable(format!("userinfo: {e}")))?;
        let info: serde_json::Value = serde_json::from_slice(&body).map_err(|_| {
            UpstreamError::Unavailable("the identity provider's userinfo is not JSON".into())
        })?;
        self.subject_claim
            .as_deref()
            .and_then(|c| claim_text(&info, c))
            .or_else(|| claim_text(&info, "sub"))
            .ok_or_else(|| UpstreamError::Refused("the identity provider named no user".into()))
    }
}

impl Upstream for OidcUpstream {
    fn begin<'a>(&'a self, callback: &'a Url, state: &'a str) -> UpstreamFuture<'a, LoginStart> {
        Box::pin(self.begin_login(callback, state))
    }

    fn complete<'a>(
        &'a self,
        pending: &'a serde_json::Value,
        callback_query: Option<&'a [(String, String)]>,
    ) -> UpstreamFuture<'a, Progress> {
        Box::pin(async move {
            match callback_query {
                // This upstream completes by redirect only; a poll finds nothing to do.
                None => Ok(Progress::Pending),
                Some(query) => self.complete_login(pending, query).await.map(Progress::Done),
            }
        })
    }

    fn can_refresh(&self) -> bool {
        self.can_refresh
    }

    fn refresh<'a>(&'a self, grant: &'a UpstreamGrant) -> UpstreamFuture<'a, UpstreamGrant> {
        Box::pin(self.refresh_grant(grant))
    }

    fn display_name(&self) -> &str {
        &self.display_name
    }
}

fn grant(
    subject: String,
    response: &CoreTokenResponse,
    old_refresh: Option<&SecretString>,
) -> UpstreamGrant {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let expires_at =
        response.expires_in().and_then(|d| i64::try_from(now.saturating_add(d.as_secs())).ok());
    UpstreamGrant {
        subject,
        access_token: SecretString::from(response.access_token().secret().clone()),
        expires_at,
        refresh: response
            .refresh_token()
            .map(|r| SecretString::from(r.secret().clone()))
            .or_else(|| old_refresh.cloned()),
    }
}

/// A claim as text: strings as they are, numbers printed.
fn claim_text(claims: &serde_json::Value, name: &str) -> Option<String> {
    match claims.get(name)? {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The provider's text, shortened and without control characters, for a message.
fn quote(text: &str) -> String {
    let mut out: String =
        text.chars().filter(|c| !c.is_control()).take(MAX_QUOTED).collect::<String>();
    if text.chars().count() > MAX_QUOTED {
        out.push('…');
    }
    out
}

fn token_error(
    provider: &str,
    e: RequestTokenError<
        HttpError,
        openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
    >,
) -> UpstreamError {
    match e {
        RequestTokenError::ServerResponse(r) => {
            let code = r.error().as_ref();
            let mut text = format!("{provider} refused the token request: {}", quote(code));
            if let Some(description) = r.error_description().filter(|d| !d.is_empty()) {
                text.push_str(&format!(" ({})", quote(description)));
            }
            if matches!(code, "server_error" | "temporarily_unavailable") {
                UpstreamError::Unavailable(text)
            } else {
                UpstreamError::Refused(text)
            }
        }
        RequestTokenError::Request(e) => {
            UpstreamError::Unavailable(format!("{provider} cannot be reached: {e}"))
        }
        RequestTokenError::Parse(_, _) => UpstreamError::Unavailable(format!(
            "{provider} answered the token request with nonsense"
        )),
        RequestTokenError::Other(text) => UpstreamError::Unavailable(format!(
            "{provider} failed the token request: {}",
            quote(&text)
        )),
    }
}

fn discovery_error(e: &DiscoveryError<HttpError>) -> String {
    match e {
        DiscoveryError::Request(e) => format!("discovery failed: {e}"),
        DiscoveryError::Response(status, _, what) => {
            format!("discovery failed: HTTP {status} ({})", quote(what))
        }
        DiscoveryError::Parse(e) => format!("its metadata or keys cannot be parsed: {e}"),
        DiscoveryError::Validation(what) => format!("its metadata is not valid: {}", quote(what)),
        DiscoveryError::UrlParse(e) => format!("invalid URL: {e}"),
        DiscoveryError::Other(what) => format!("discovery failed: {}", quote(what)),
        _ => "discovery failed".into(),
    }
}

/// A failed request, described without its URL (which may carry parameters).
fn request_error(e: &reqwest::Error) -> String {
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

async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, HttpError> {
    if response.content_length().is_some_and(|n| n > MAX_BODY as u64) {
        return Err(HttpError("the response is too large".into()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| HttpError(request_error(&e)))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(HttpError("the response is too large".into()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A failed HTTP exchange with the provider (no URL, no body: nothing secret).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct HttpError(String);

/// `openidconnect`'s HTTP client: the bridge's reqwest client, redirects off.
#[derive(Clone, Debug)]
struct Http {
    client: reqwest::Client,
}

impl Http {
    fn new() -> Result<Self, ConfigError> {
        let client = crate::http_client::builder()?
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ConfigError::Invalid(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self { client })
    }
}

impl<'c> AsyncHttpClient<'c> for Http {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let url = Url::parse(&parts.uri.to_string())
                .map_err(|_| HttpError("invalid request URL".into()))?;
            let response = self
                .client
                .request(parts.method, url)
                .headers(parts.headers)
                .body(body)
                .send()
                .await
                .map_err(|e| HttpError(request_error(&e)))?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = read_body(response).await?;
            let mut out = http::Response::new(body);
            *out.status_mut() = status;
            *out.headers_mut() = headers;
            Ok(out)
        })
    }
}
