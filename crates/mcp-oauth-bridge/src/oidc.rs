//! A standard OpenID Connect upstream: authorization code with PKCE (S256) and a nonce, the ID
//! token verified against the provider's discovered keys. Any conformant provider (CERN SSO,
//! Keycloak, INDIGO IAM, ...) plugs into the bridge through [`OidcUpstream`].
//!
//! `openidconnect` runs with its default features off (they pull a second reqwest and ring); its
//! requests go through `outbound_http::OAuthHttp` over the bridge's reqwest client, which never
//! follows redirects, has timeouts and caps response bodies.

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use openidconnect::core::{
    CoreClient, CoreGrantType, CoreIdToken, CoreJsonWebKeySet, CoreProviderMetadata,
    CoreResponseType, CoreTokenResponse,
};
use openidconnect::{
    AccessToken, AccessTokenHash, AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret,
    CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope,
    TokenResponse,
};
use outbound_http::{
    HttpError, MAX_BODY, OAuthHttp as Http, describe as request_error, quote, read_limited,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{ConfigError, UpstreamError};
use crate::upstream::{LoginStart, Progress, Upstream, UpstreamFuture, UpstreamGrant};

/// How long discovery (metadata and keys) may take in all.
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(20);

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
    /// Whether the provider's refresh tokens are used: as its metadata says, or as configured
    /// where the metadata is wrong (DiracX issues rotating refresh tokens without listing the
    /// `refresh_token` grant).
    pub refresh: RefreshGrant,
}

/// Whether an upstream's refresh tokens are used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RefreshGrant {
    /// As the metadata's `grant_types_supported` says (absent: yes).
    #[default]
    AsAdvertised,
    /// Yes, whatever the metadata says.
    Supported,
    /// No: users sign in again when the upstream token expires.
    Unsupported,
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
    /// Whether the authorization request asks for the `openid` scope.
    openid_scope: bool,
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
        let http = http()?;
        let metadata =
            tokio::time::timeout(DISCOVERY_TIMEOUT, fetch_metadata(&http, &config.issuer))
                .await
                .map_err(|_| invalid(format!("discovery timed out after {DISCOVERY_TIMEOUT:?}")))?
                .map_err(invalid)?;
        Self::from_metadata(config, metadata, http)
    }

    /// The upstream of discovered metadata (with its keys).
    fn from_metadata(
        config: OidcUpstreamConfig,
        metadata: CoreProviderMetadata,
        http: Http,
    ) -> Result<Self, ConfigError> {
        let issuer_text = config.issuer.as_str();
        let invalid =
            |what: String| ConfigError::Invalid(format!("OIDC issuer {issuer_text}: {what}"));
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
        let can_refresh = match config.refresh {
            RefreshGrant::Supported => true,
            RefreshGrant::Unsupported => false,
            RefreshGrant::AsAdvertised => metadata
                .grant_types_supported()
                .is_none_or(|g| g.is_empty() || g.contains(&CoreGrantType::RefreshToken)),
        };
        let issuer = metadata.issuer().as_str().to_owned();
        let userinfo = metadata.userinfo_endpoint().map(|u| u.url().clone());
        let metadata_scopes: Option<Vec<String>> =
            metadata.scopes_supported().map(|s| s.iter().map(|s| s.as_str().to_owned()).collect());
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(config.client_id),
            config.client_secret.map(|s| ClientSecret::new(s.expose_secret().to_owned())),
        );
        let mut scopes = config.scopes;
        // `openid` is asked for unless the provider lists its scopes without it (DiracX refuses
        // unknown scopes) and the configuration does not name it.
        let openid_scope = scopes.iter().any(|s| s == "openid")
            || metadata_scopes.is_none_or(|s| s.iter().any(|s| s == "openid"));
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
            openid_scope,
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
        let (mut url, _state, nonce) = request.url();
        if !self.openid_scope {
            drop_openid_scope(&mut url);
        }
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
            .client()
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
        let body = read_limited(response, MAX_BODY)
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

/// Removes `openid` from the `scope` parameter of an authorization URL (and the parameter when
/// nothing is left), keeping every other parameter as it is.
fn drop_openid_scope(url: &mut Url) {
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .into_owned()
        .filter_map(|(name, value)| {
            if name != "scope" {
                return Some((name, value));
            }
            let scopes: Vec<&str> = value.split(' ').filter(|s| *s != "openid").collect();
            (!scopes.is_empty()).then(|| (name, scopes.join(" ")))
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
}

/// The signing algorithms an ID token may use when the metadata does not say: the asymmetric ones
/// `openidconnect` verifies.
const DEFAULT_ID_TOKEN_ALGS: [&str; 9] =
    ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"];

/// OIDC discovery: the provider's metadata and keys, read leniently where a provider omits what
/// this client does not need. `openidconnect`'s own discovery requires `subject_types_supported`
/// and `id_token_signing_alg_values_supported`, which DiracX does not publish, and drops keys
/// labelled with the fully-specified algorithm name `Ed25519` (RFC 9864), which DiracX uses.
async fn fetch_metadata(http: &Http, issuer: &Url) -> Result<CoreProviderMetadata, String> {
    let base = issuer.as_str().trim_end_matches('/');
    let url = format!("{base}/.well-known/openid-configuration");
    let doc = get_json(http, &url).await.map_err(|e| format!("discovery failed: {e}"))?;
    let metadata = metadata_from_json(doc)?;
    // The metadata must name the configured issuer (OIDC Discovery 4.3); `Url` adds a slash to a
    // bare host, which the provider's issuer may or may not have.
    let named = metadata.issuer().as_str();
    if named != issuer.as_str() && !(issuer.path() == "/" && named == base) {
        return Err(format!("its metadata names another issuer: {}", quote(named)));
    }
    let jwks_url = metadata.jwks_uri().url().to_string();
    let jwks = get_json(http, &jwks_url)
        .await
        .map_err(|e| format!("its signing keys cannot be read: {e}"))?;
    Ok(metadata.set_jwks(jwks_from_json(jwks)?))
}

fn metadata_from_json(mut doc: serde_json::Value) -> Result<CoreProviderMetadata, String> {
    let Some(fields) = doc.as_object_mut() else {
        return Err("its metadata is not a JSON object".into());
    };
    fields.entry("subject_types_supported").or_insert_with(|| serde_json::json!(["public"]));
    match fields.get_mut("id_token_signing_alg_values_supported") {
        Some(serde_json::Value::Array(algs)) => algs.iter_mut().for_each(eddsa_name),
        _ => {
            fields.insert(
                "id_token_signing_alg_values_supported".into(),
                serde_json::json!(DEFAULT_ID_TOKEN_ALGS),
            );
        }
    }
    serde_json::from_value(doc).map_err(|e| format!("its metadata cannot be parsed: {e}"))
}

fn jwks_from_json(mut doc: serde_json::Value) -> Result<CoreJsonWebKeySet, String> {
    if let Some(keys) = doc.get_mut("keys").and_then(serde_json::Value::as_array_mut) {
        for key in keys {
            if key.get("kty").and_then(serde_json::Value::as_str) == Some("OKP")
                && let Some(alg) = key.get_mut("alg")
            {
                eddsa_name(alg);
            }
        }
    }
    serde_json::from_value(doc).map_err(|e| format!("its signing keys cannot be parsed: {e}"))
}

/// `Ed25519` (RFC 9864's name) as `EdDSA`, the name `openidconnect` knows.
fn eddsa_name(alg: &mut serde_json::Value) {
    if alg.as_str() == Some("Ed25519") {
        *alg = serde_json::Value::String("EdDSA".into());
    }
}

/// A JSON document from the provider (2xx only, size-capped, no redirects).
async fn get_json(http: &Http, url: &str) -> Result<serde_json::Value, String> {
    let response = http
        .client()
        .get(url)
        .header(http::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| request_error(&e))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("HTTP {status} from {url}"));
    }
    let body = read_limited(response, MAX_BODY).await.map_err(|e| e.to_string())?;
    serde_json::from_slice(&body).map_err(|_| format!("{url} did not answer with JSON"))
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

/// The provider's HTTP client: the bridge's reqwest client with redirects off.
fn http() -> Result<Http, ConfigError> {
    let client = crate::http_client::builder()?
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| ConfigError::Invalid(format!("cannot build the HTTP client: {e}")))?;
    Ok(Http::new(client))
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use openidconnect::core::{
        CoreEdDsaPrivateSigningKey, CoreIdTokenClaims, CoreJwsSigningAlgorithm,
    };
    use openidconnect::{JsonWebKeyId, PrivateSigningKey as _};
    use serde_json::json;

    use super::*;

    /// The Ed25519 private key of RFC 8410, section 10.3.
    const ED25519_PEM: &str = "-----BEGIN PRIVATE KEY-----\n\
        MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n\
        -----END PRIVATE KEY-----\n";
    const ISSUER: &str = "https://dirac.example.org";

    fn signing_key() -> CoreEdDsaPrivateSigningKey {
        CoreEdDsaPrivateSigningKey::from_ed25519_pem(
            ED25519_PEM,
            Some(JsonWebKeyId::new("k1".into())),
        )
        .unwrap()
    }

    /// DiracX 0.7.0's metadata and keys, as it publishes them.
    fn diracx_like() -> OidcUpstream {
        diracx_like_with(RefreshGrant::AsAdvertised)
    }

    fn diracx_like_with(refresh: RefreshGrant) -> OidcUpstream {
        let metadata = metadata_from_json(json!({
            "issuer": ISSUER,
            "token_endpoint": format!("{ISSUER}/api/auth/token"),
            "userinfo_endpoint": format!("{ISSUER}/api/auth/userinfo"),
            "authorization_endpoint": format!("{ISSUER}/api/auth/authorize"),
            "jwks_uri": format!("{ISSUER}/.well-known/jwks.json"),
            "grant_types_supported": ["authorization_code", "urn:ietf:params:oauth:grant-type:device_code"],
            "scopes_supported": ["vo:testvo", "group:user"],
            "response_types_supported": ["code"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256", "Ed25519"],
            "token_endpoint_auth_methods_supported": ["none"],
            "code_challenge_methods_supported": ["S256"],
        }))
        .unwrap();
        let mut key = serde_json::to_value(signing_key().as_verification_key()).unwrap();
        key["alg"] = "Ed25519".into();
        key["key_ops"] = json!(["sign", "verify"]);
        let jwks = jwks_from_json(json!({ "keys": [key] })).unwrap();
        assert_eq!(jwks.keys().len(), 1, "the key labelled Ed25519 is kept");
        let config = OidcUpstreamConfig {
            issuer: Url::parse(ISSUER).unwrap(),
            client_id: "myDIRACClientID".into(),
            client_secret: None,
            scopes: vec!["vo:testvo".into(), "group:user".into()],
            display_name: "DiracX".into(),
            subject_claim: Some("preferred_username".into()),
            extra_auth_params: vec![("audience".into(), "dirac".into())],
            refresh,
        };
        OidcUpstream::from_metadata(config, metadata.set_jwks(jwks), http().unwrap()).unwrap()
    }

    fn id_token(nonce: &str, access_token: &AccessToken) -> CoreIdToken {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let claims: CoreIdTokenClaims = serde_json::from_value(json!({
            "iss": ISSUER,
            "aud": "myDIRACClientID",
            "sub": "testvo:0a11ce00",
            "preferred_username": "alice",
            "nonce": nonce,
            "iat": now,
            "exp": now + 600,
        }))
        .unwrap();
        CoreIdToken::new(
            claims,
            &signing_key(),
            CoreJwsSigningAlgorithm::EdDsa,
            Some(access_token),
            None,
        )
        .unwrap()
    }

    #[test]
    fn lenient_metadata_and_ed25519_keys() {
        let upstream = diracx_like();
        assert!(!upstream.can_refresh(), "the metadata lists no refresh_token grant");
        assert!(
            diracx_like_with(RefreshGrant::Supported).can_refresh(),
            "the configuration overrides the metadata"
        );
        assert!(!upstream.openid_scope, "the provider lists its scopes without openid");

        // Without the renaming, openidconnect drops the key.
        let mut key = serde_json::to_value(signing_key().as_verification_key()).unwrap();
        key["alg"] = "Ed25519".into();
        let raw: CoreJsonWebKeySet = serde_json::from_value(json!({ "keys": [key] })).unwrap();
        assert!(raw.keys().is_empty());
    }

    #[test]
    fn eddsa_id_token_is_verified() {
        let upstream = diracx_like();
        let access = AccessToken::new("at".into());
        let token = id_token("n1", &access);
        let subject = upstream.verified_subject(&token, &access, &Nonce::new("n1".into())).unwrap();
        assert_eq!(subject, "alice");

        match upstream.verified_subject(&token, &access, &Nonce::new("n2".into())) {
            Err(UpstreamError::Refused(text)) => assert!(text.contains("ID token"), "{text}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
        let other_access = AccessToken::new("another".into());
        assert!(matches!(
            upstream.verified_subject(&token, &other_access, &Nonce::new("n1".into())),
            Err(UpstreamError::Refused(_))
        ));
        // A tampered signature is refused.
        let mut forged = token.to_string();
        forged.replace_range(forged.len() - 4.., "AAAA");
        let forged: CoreIdToken = forged.parse().unwrap();
        assert!(matches!(
            upstream.verified_subject(&forged, &access, &Nonce::new("n1".into())),
            Err(UpstreamError::Refused(_))
        ));
    }

    #[tokio::test]
    #[allow(irrefutable_let_patterns)] // without the `polling` feature there is one variant
    async fn authorization_url_without_openid() {
        let upstream = diracx_like();
        let callback = Url::parse("http://127.0.0.1:9/callback").unwrap();
        let LoginStart::Redirect { url, pending } = upstream.begin(&callback, "st").await.unwrap()
        else {
            panic!("an OIDC upstream redirects");
        };
        assert!(url.as_str().starts_with(&format!("{ISSUER}/api/auth/authorize?")));
        let params: std::collections::HashMap<String, String> =
            url.query_pairs().into_owned().collect();
        assert_eq!(params["scope"], "vo:testvo group:user");
        assert_eq!(params["state"], "st");
        assert_eq!(params["audience"], "dirac");
        assert_eq!(params["code_challenge_method"], "S256");
        assert_eq!(params["redirect_uri"], callback.as_str());
        assert_eq!(params["nonce"], pending["nonce"].as_str().unwrap());
    }

    #[test]
    fn openid_dropped_from_scope_only() {
        let mut url = Url::parse("https://idp.example/auth?x=1&scope=openid+a+b&state=s").unwrap();
        drop_openid_scope(&mut url);
        assert_eq!(url.query(), Some("x=1&scope=a+b&state=s"));
        let mut url = Url::parse("https://idp.example/auth?scope=openid&state=s").unwrap();
        drop_openid_scope(&mut url);
        assert_eq!(url.query(), Some("state=s"));
    }
}
