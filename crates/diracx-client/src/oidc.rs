//! DiracX's own OAuth endpoints, used the way the `dirac` CLI uses them: discovery
//! (`/.well-known/openid-configuration` and `/.well-known/dirac-metadata`), the refresh grant
//! (DiracX rotates refresh tokens) and the device flow of `dirac login`.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use url::Url;

use crate::auth::{AuthError, LOGIN_HINT};

/// The public client DiracX registers for its CLI (`DIRACX_SERVICE_AUTH_DIRAC_CLIENT_ID`'s
/// default): the code, device and refresh grants all use it, with no secret.
pub const DEFAULT_CLIENT_ID: &str = "myDIRACClientID";

/// The grant type of RFC 8628, as DiracX's token endpoint expects it.
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// DiracX sends no `interval`; the CLI polls every 2 s because uvicorn closes idle keep-alive
/// connections after 5 s, and a longer pause races with that close.
const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(2);
/// RFC 8628 section 3.5: each `slow_down` adds 5 s to the interval.
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);
/// Polls whose request itself failed, in a row, before the login is given up.
const MAX_POLL_TRANSPORT_FAILURES: u32 = 3;
/// The longest explanation taken from an error body.
const MAX_DETAIL_CHARS: usize = 300;

/// `/.well-known/openid-configuration` as served. Every field may be missing (other
/// installations, other versions), unknown fields are kept in `other`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct OpenIdConfiguration {
    pub issuer: Option<String>,
    pub token_endpoint: Option<String>,
    pub userinfo_endpoint: Option<String>,
    pub authorization_endpoint: Option<String>,
    pub device_authorization_endpoint: Option<String>,
    pub revocation_endpoint: Option<String>,
    pub jwks_uri: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub grant_types_supported: Vec<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub scopes_supported: Vec<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub response_types_supported: Vec<String>,
    /// DiracX puts its token signing algorithms (`token_allowed_algorithms`) here.
    #[serde(deserialize_with = "null_as_default")]
    pub token_endpoint_auth_signing_alg_values_supported: Vec<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub token_endpoint_auth_methods_supported: Vec<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub code_challenge_methods_supported: Vec<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// Where DiracX's auth endpoints are, resolved from its discovery document. An endpoint the
/// document does not name falls back to DiracX's fixed route under the base URL.
#[derive(Clone, Debug)]
pub struct Discovery {
    /// The DiracX root URL, with a trailing slash.
    pub base: Url,
    /// The `iss` of every token (DiracX's `token_issuer` setting); defaults to the base URL
    /// without its trailing slash, which is how DiracX installations are usually set up.
    pub issuer: String,
    pub token_endpoint: Url,
    pub device_authorization_endpoint: Url,
    pub authorization_endpoint: Url,
    pub userinfo_endpoint: Url,
    pub revocation_endpoint: Url,
    pub jwks_uri: Url,
    /// The JWT algorithms DiracX accepts for its own tokens (DiracX publishes its
    /// `token_allowed_algorithms` as `token_endpoint_auth_signing_alg_values_supported`);
    /// DiracX's default `["RS256", "Ed25519"]` when the document has none.
    pub signing_algorithms: Vec<String>,
    /// The document itself.
    pub document: OpenIdConfiguration,
}

impl Discovery {
    /// Fetches `<base>/.well-known/openid-configuration`.
    pub async fn fetch(http: &reqwest::Client, base: &Url) -> Result<Self, AuthError> {
        let base = with_trailing_slash(base);
        let url = join(&base, ".well-known/openid-configuration")?;
        let document = get_json(http, &url).await?;
        Self::from_document(&base, document)
    }

    /// Resolves a document obtained some other way.
    pub fn from_document(base: &Url, document: OpenIdConfiguration) -> Result<Self, AuthError> {
        let base = with_trailing_slash(base);
        let endpoint = |given: &Option<String>, route: &str| -> Result<Url, AuthError> {
            match given.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                // `join` keeps an absolute URL as it is and resolves a relative one.
                Some(given) => base.join(given).map_err(|e| {
                    AuthError::Request(format!("discovery names `{given}` as an endpoint: {e}"))
                }),
                None => join(&base, route),
            }
        };
        let issuer = document
            .issuer
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| base.as_str().trim_end_matches('/').to_owned());
        let signing_algorithms =
            if document.token_endpoint_auth_signing_alg_values_supported.is_empty() {
                vec!["RS256".to_owned(), "Ed25519".to_owned()]
            } else {
                document.token_endpoint_auth_signing_alg_values_supported.clone()
            };
        Ok(Self {
            token_endpoint: endpoint(&document.token_endpoint, "api/auth/token")?,
            device_authorization_endpoint: endpoint(
                &document.device_authorization_endpoint,
                "api/auth/device",
            )?,
            authorization_endpoint: endpoint(
                &document.authorization_endpoint,
                "api/auth/authorize",
            )?,
            userinfo_endpoint: endpoint(&document.userinfo_endpoint, "api/auth/userinfo")?,
            revocation_endpoint: endpoint(&document.revocation_endpoint, "api/auth/revoke")?,
            jwks_uri: endpoint(&document.jwks_uri, ".well-known/jwks.json")?,
            issuer,
            signing_algorithms,
            document,
            base,
        })
    }
}

/// `/.well-known/dirac-metadata`: the VOs of the installation, their groups and default group,
/// which is what `dirac login` offers and checks before it starts a login.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct DiracMetadata {
    #[serde(deserialize_with = "null_as_default")]
    pub virtual_organizations: BTreeMap<String, VoInfo>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// One VO of [`DiracMetadata`].
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct VoInfo {
    #[serde(deserialize_with = "null_as_default")]
    pub groups: BTreeMap<String, GroupInfo>,
    #[serde(deserialize_with = "null_as_default")]
    pub support: SupportInfo,
    /// The group a login without `group:` in its scope gets.
    pub default_group: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// One group of a [`VoInfo`].
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct GroupInfo {
    #[serde(deserialize_with = "null_as_default")]
    pub properties: Vec<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// Whom the users of a VO should ask for help.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct SupportInfo {
    pub message: Option<String>,
    pub webpage: Option<String>,
    pub email: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl DiracMetadata {
    /// Fetches `<base>/.well-known/dirac-metadata` (no token needed).
    pub async fn fetch(http: &reqwest::Client, base: &Url) -> Result<Self, AuthError> {
        let url = join(&with_trailing_slash(base), ".well-known/dirac-metadata")?;
        get_json(http, &url).await
    }

    /// The VO names, sorted.
    pub fn vo_names(&self) -> impl Iterator<Item = &str> {
        self.virtual_organizations.keys().map(String::as_str)
    }

    pub fn vo(&self, name: &str) -> Option<&VoInfo> {
        self.virtual_organizations.get(name)
    }
}

/// The scope `dirac login <vo> [--group G] [--property P]...` asks for: `vo:<vo>`, then
/// `group:<group>` (else DiracX picks the VO's default group), then one `property:<p>` each,
/// which DiracX adds to the group's own properties.
pub fn login_scope<S: AsRef<str>>(vo: &str, group: Option<&str>, properties: &[S]) -> String {
    let mut scope = format!("vo:{vo}");
    if let Some(group) = group {
        scope.push_str(" group:");
        scope.push_str(group);
    }
    for property in properties {
        scope.push_str(" property:");
        scope.push_str(property.as_ref());
    }
    scope
}

/// What DiracX's token endpoint answers to a successful grant.
#[derive(Clone)]
pub struct TokenResponse {
    pub access_token: SecretString,
    /// DiracX sends one with every grant (the same one again for legacy-exchange tokens,
    /// which do not rotate).
    pub refresh_token: Option<SecretString>,
    /// Seconds the access token is valid for, from when it was issued.
    pub expires_in: i64,
    pub token_type: Option<String>,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"<redacted>")
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "<redacted>"))
            .field("expires_in", &self.expires_in)
            .field("token_type", &self.token_type)
            .finish()
    }
}

#[derive(Deserialize)]
struct RawTokenResponse {
    access_token: String,
    #[serde(default, deserialize_with = "optional_seconds")]
    expires_in: Option<i64>,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
}

impl TokenResponse {
    /// Parses a token endpoint answer. Serde's own messages can quote a value, so none of them
    /// is passed on: only where the JSON went wrong.
    pub(crate) fn from_body(body: &[u8]) -> Result<Self, AuthError> {
        let raw: RawTokenResponse = serde_json::from_slice(body).map_err(|e| {
            AuthError::Request(format!(
                "the token endpoint's answer is not a token response (JSON {:?} error at line {}, column {})",
                e.classify(),
                e.line(),
                e.column()
            ))
        })?;
        // Without `expires_in`, the token's own `exp` says the same.
        let expires_in = match raw.expires_in {
            Some(seconds) => seconds,
            None => crate::jwt::decode_unverified(&raw.access_token)
                .map(|claims| claims.exp - crate::jwt::unix_now())
                .map_err(|_| {
                    AuthError::Request(
                        "the token endpoint's answer has no expires_in and its access token no exp"
                            .into(),
                    )
                })?,
        };
        Ok(Self {
            access_token: SecretString::from(raw.access_token),
            refresh_token: raw.refresh_token.filter(|t| !t.is_empty()).map(SecretString::from),
            expires_in,
            token_type: raw.token_type,
        })
    }
}

/// Revokes a refresh token (RFC 7009, as `dirac logout` does), so a copy of the credentials
/// file left behind is worth nothing.
pub async fn revoke(
    http: &reqwest::Client,
    revocation_endpoint: &Url,
    client_id: &str,
    refresh_token: &SecretString,
) -> Result<(), AuthError> {
    let secret = refresh_token.expose_secret();
    let form = [("client_id", client_id), ("token", secret), ("token_type_hint", "refresh_token")];
    let response = http
        .post(revocation_endpoint.clone())
        .form(&form)
        .send()
        .await
        .map_err(|e| request_failed(revocation_endpoint, &e))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body = response.bytes().await.unwrap_or_default();
    let detail = error_detail(&body, &[secret]);
    Err(AuthError::Request(format!(
        "{revocation_endpoint} answered {} to a revocation: {detail}",
        status.as_u16()
    )))
}

/// Trades a refresh token for new tokens (`grant_type=refresh_token`), as the CLI does. DiracX
/// rotates refresh tokens: the one passed in is revoked and the answer carries its successor,
/// and presenting a revoked one again revokes every refresh token of that user (401).
///
/// A 400, 401 or 403 is [`AuthError::Rejected`] with DiracX's explanation and a hint to log in
/// again; a failed request or another status is [`AuthError::Request`].
pub async fn refresh(
    http: &reqwest::Client,
    token_endpoint: &Url,
    client_id: &str,
    refresh_token: &SecretString,
) -> Result<TokenResponse, AuthError> {
    let secret = refresh_token.expose_secret();
    let form =
        [("client_id", client_id), ("grant_type", "refresh_token"), ("refresh_token", secret)];
    let response = http
        .post(token_endpoint.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .form(&form)
        .send()
        .await
        .map_err(|e| request_failed(token_endpoint, &e))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| request_failed(token_endpoint, &e))?;
    if status.is_success() {
        return TokenResponse::from_body(&body);
    }
    let detail = error_detail(&body, &[secret]);
    Err(match status.as_u16() {
        400 | 401 | 403 => AuthError::Rejected(format!(
            "refreshing the access token was refused ({}): {detail}; {LOGIN_HINT}",
            status.as_u16()
        )),
        code => {
            AuthError::Request(format!("{token_endpoint} answered {code} to a refresh: {detail}"))
        }
    })
}

/// A device login in progress (RFC 8628, as `dirac login` runs it): show the user
/// [`verification_uri_complete`](Self::verification_uri_complete) (or the URI and the code),
/// then [`wait`](Self::wait) for them to finish in their browser.
pub struct DeviceLogin {
    /// The code the user confirms in the browser. It is meant to be shown.
    pub user_code: String,
    pub verification_uri: String,
    /// The verification URI with the user code already in it.
    pub verification_uri_complete: String,
    /// How long the login may take, from its start.
    pub expires_in: Duration,
    /// The pause between polls of the token endpoint.
    pub interval: Duration,
    device_code: SecretString,
    http: reqwest::Client,
    token_endpoint: Url,
    client_id: String,
    deadline: Instant,
}

impl fmt::Debug for DeviceLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceLogin")
            .field("user_code", &self.user_code)
            .field("verification_uri", &self.verification_uri)
            .field("verification_uri_complete", &self.verification_uri_complete)
            .field("expires_in", &self.expires_in)
            .field("interval", &self.interval)
            .field("device_code", &"<redacted>")
            .field("token_endpoint", &self.token_endpoint.as_str())
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct RawDeviceAuthorization {
    user_code: String,
    device_code: String,
    verification_uri: String,
    #[serde(default)]
    verification_uri_complete: Option<String>,
    #[serde(default, deserialize_with = "optional_seconds")]
    expires_in: Option<i64>,
    #[serde(default, deserialize_with = "optional_seconds")]
    interval: Option<i64>,
}

/// What the token endpoint says while a device login is not done.
enum Poll {
    Done(TokenResponse),
    Pending,
    SlowDown,
}

impl DeviceLogin {
    /// Starts a device login for `scope` (see [`login_scope`]). DiracX takes `client_id` and
    /// `scope` in the query of its POST (its route declares them as plain parameters), not in a
    /// form body as RFC 8628 has it; a form body would get 422.
    pub async fn start(
        http: &reqwest::Client,
        discovery: &Discovery,
        client_id: &str,
        scope: &str,
    ) -> Result<Self, AuthError> {
        let started = Instant::now();
        let mut url = discovery.device_authorization_endpoint.clone();
        url.query_pairs_mut().append_pair("client_id", client_id).append_pair("scope", scope);
        let response = http
            .post(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| request_failed(&discovery.device_authorization_endpoint, &e))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| request_failed(&discovery.device_authorization_endpoint, &e))?;
        if !status.is_success() {
            return Err(AuthError::DeviceFlow(format!(
                "DiracX refused to start it ({}): {}",
                status.as_u16(),
                error_detail(&body, &[])
            )));
        }
        let raw: RawDeviceAuthorization = serde_json::from_slice(&body).map_err(|e| {
            AuthError::Request(format!(
                "the device authorization answer is not what DiracX sends (JSON {:?} error at line {}, column {})",
                e.classify(),
                e.line(),
                e.column()
            ))
        })?;
        let seconds = |s: Option<i64>, default: u64| {
            s.and_then(|s| u64::try_from(s).ok())
                .map_or(Duration::from_secs(default), Duration::from_secs)
        };
        // RFC 8628's default lifetime is not stated; DiracX's own default is 600 s.
        let expires_in = seconds(raw.expires_in, 600);
        let interval = raw
            .interval
            .and_then(|s| u64::try_from(s).ok())
            .filter(|s| *s > 0)
            .map_or(DEFAULT_POLL_INTERVAL, Duration::from_secs);
        let verification_uri_complete = raw.verification_uri_complete.unwrap_or_else(|| {
            let mut complete = raw.verification_uri.clone();
            complete.push(if complete.contains('?') { '&' } else { '?' });
            complete.push_str("user_code=");
            complete.push_str(
                &url::form_urlencoded::byte_serialize(raw.user_code.as_bytes()).collect::<String>(),
            );
            complete
        });
        Ok(Self {
            user_code: raw.user_code,
            verification_uri: raw.verification_uri,
            verification_uri_complete,
            expires_in,
            interval,
            device_code: SecretString::from(raw.device_code),
            http: http.clone(),
            token_endpoint: discovery.token_endpoint.clone(),
            client_id: client_id.to_owned(),
            deadline: started + expires_in,
        })
    }

    /// Polls the token endpoint every [`interval`](Self::interval) until the user has logged
    /// in, and returns the tokens; [`AuthError::DeviceFlow`] once the login has expired or
    /// DiracX refuses it (for example a user who is not in the requested group).
    pub async fn wait(self) -> Result<TokenResponse, AuthError> {
        let mut interval = self.interval;
        let mut failures = 0;
        loop {
            let now = Instant::now();
            if now >= self.deadline {
                return Err(self.expired());
            }
            tokio::time::sleep(interval.min(self.deadline - now)).await;
            if Instant::now() >= self.deadline {
                return Err(self.expired());
            }
            match self.poll().await {
                Ok(Poll::Done(tokens)) => return Ok(tokens),
                Ok(Poll::Pending) => failures = 0,
                Ok(Poll::SlowDown) => {
                    failures = 0;
                    interval += SLOW_DOWN_STEP;
                }
                // One lost answer does not end a login the user is busy with.
                Err(AuthError::Request(reason)) if failures + 1 < MAX_POLL_TRANSPORT_FAILURES => {
                    failures += 1;
                    tracing::debug!(%reason, failures, "device login poll failed, polling again");
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn expired(&self) -> AuthError {
        AuthError::DeviceFlow(format!(
            "the login was not completed within {} s; start it again",
            self.expires_in.as_secs()
        ))
    }

    async fn poll(&self) -> Result<Poll, AuthError> {
        let secret = self.device_code.expose_secret();
        let form = [
            ("grant_type", DEVICE_CODE_GRANT),
            ("client_id", self.client_id.as_str()),
            ("device_code", secret),
        ];
        let response = self
            .http
            .post(self.token_endpoint.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&form)
            .send()
            .await
            .map_err(|e| request_failed(&self.token_endpoint, &e))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| request_failed(&self.token_endpoint, &e))?;
        if status.is_success() {
            return TokenResponse::from_body(&body).map(Poll::Done);
        }
        let error = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned));
        match error.as_deref() {
            Some("authorization_pending") => return Ok(Poll::Pending),
            Some("slow_down") => return Ok(Poll::SlowDown),
            Some("access_denied") => {
                return Err(AuthError::DeviceFlow("the login was refused in the browser".into()));
            }
            Some("expired_token") => return Err(self.expired()),
            _ => {}
        }
        let detail = error_detail(&body, &[secret]);
        // DiracX says 401 "Device code expired" (a login older than its
        // device_flow_expiration_seconds).
        if detail.contains("expired") {
            return Err(self.expired());
        }
        Err(AuthError::DeviceFlow(format!("DiracX answered {}: {detail}", status.as_u16())))
    }
}

/// `base` with a trailing slash, so that joins keep a path prefix (`https://host/diracx/`).
pub(crate) fn with_trailing_slash(base: &Url) -> Url {
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    base.set_query(None);
    base.set_fragment(None);
    base
}

fn join(base: &Url, route: &str) -> Result<Url, AuthError> {
    base.join(route)
        .map_err(|e| AuthError::Request(format!("cannot build the URL of {route}: {e}")))
}

/// GET a JSON document that needs no token.
async fn get_json<T: DeserializeOwned>(http: &reqwest::Client, url: &Url) -> Result<T, AuthError> {
    let response = http
        .get(url.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| request_failed(url, &e))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| request_failed(url, &e))?;
    if !status.is_success() {
        return Err(AuthError::Request(format!(
            "{url} answered {}: {}",
            status.as_u16(),
            error_detail(&body, &[])
        )));
    }
    serde_json::from_slice(&body)
        .map_err(|e| AuthError::Request(format!("{url} did not answer the JSON DiracX sends: {e}")))
}

/// A failed request, with the causes reqwest chains (which name the URL, never a header or a
/// form field).
pub(crate) fn request_failed(url: &Url, e: &reqwest::Error) -> AuthError {
    let mut reason =
        format!("{} ({url})", if e.is_timeout() { "timed out" } else { "request failed" });
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        reason.push_str(": ");
        reason.push_str(&cause.to_string());
        source = cause.source();
    }
    AuthError::Request(reason)
}

/// DiracX's explanation in an error body: its `detail` (a string, or FastAPI's list of
/// validation errors, of which only the locations and messages are kept, never the `input`),
/// or an RFC 6749 `error`/`error_description`. Any of `secrets` found in it is blanked out.
pub(crate) fn error_detail(body: &[u8], secrets: &[&str]) -> String {
    let text = match serde_json::from_slice::<Value>(body) {
        Ok(value) => match (value.get("detail"), value.get("error")) {
            (Some(Value::String(detail)), _) => detail.clone(),
            (Some(Value::Array(items)), _) => items
                .iter()
                .map(|item| {
                    let msg = item.get("msg").and_then(Value::as_str).unwrap_or("invalid");
                    match item.get("loc").and_then(Value::as_array) {
                        Some(loc) => {
                            let at: Vec<String> = loc
                                .iter()
                                .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_owned))
                                .collect();
                            format!("{}: {msg}", at.join("."))
                        }
                        None => msg.to_owned(),
                    }
                })
                .collect::<Vec<_>>()
                .join("; "),
            (_, Some(Value::String(error))) => {
                match value.get("error_description").and_then(Value::as_str) {
                    Some(description) => format!("{error}: {description}"),
                    None => error.clone(),
                }
            }
            _ => "no explanation given".to_owned(),
        },
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            if text.is_empty() { "no explanation given".to_owned() } else { text.to_owned() }
        }
    };
    let mut text: String = text.chars().take(MAX_DETAIL_CHARS).collect();
    for secret in secrets.iter().filter(|s| s.len() >= 8) {
        text = text.replace(secret, "<redacted>");
    }
    text
}

/// A field that may also be `null`.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Seconds as an integer or a float (some JWT libraries write `exp` as a float).
pub(crate) fn optional_seconds<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<i64>, D::Error> {
    let value = Option::<serde_json::Number>::deserialize(deserializer)?;
    Ok(value.and_then(|n| {
        n.as_i64().or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn scopes_are_built_like_the_cli() {
        assert_eq!(login_scope::<&str>("testvo", None, &[]), "vo:testvo");
        assert_eq!(
            login_scope("lhcb", Some("lhcb_user"), &["FileCatalogManagement"]),
            "vo:lhcb group:lhcb_user property:FileCatalogManagement"
        );
    }

    #[test]
    fn discovery_falls_back_to_diracx_routes() {
        let base = Url::parse("https://dx.example/prefix").unwrap();
        let document: OpenIdConfiguration = serde_json::from_str(
            r#"{"jwks_uri": "/keys", "grant_types_supported": null, "new_field": 1}"#,
        )
        .unwrap();
        let d = Discovery::from_document(&base, document).unwrap();
        assert_eq!(d.token_endpoint.as_str(), "https://dx.example/prefix/api/auth/token");
        assert_eq!(d.jwks_uri.as_str(), "https://dx.example/keys");
        assert_eq!(d.issuer, "https://dx.example/prefix");
        assert_eq!(d.signing_algorithms, ["RS256", "Ed25519"]);
        assert_eq!(d.document.other.get("new_field"), Some(&Value::from(1)));
    }

    #[test]
    fn error_details_never_echo_inputs_or_secrets() {
        let fastapi = br#"{"detail":[{"loc":["body","refresh_token"],"msg":"bad","input":"s3cr3t-token-value"}]}"#;
        assert_eq!(error_detail(fastapi, &[]), "body.refresh_token: bad");
        let echoing = br#"{"detail":"token s3cr3t-token-value is revoked"}"#;
        assert_eq!(error_detail(echoing, &["s3cr3t-token-value"]), "token <redacted> is revoked");
        assert_eq!(
            error_detail(br#"{"error":"authorization_pending"}"#, &[]),
            "authorization_pending"
        );
    }

    #[test]
    fn token_responses_parse_and_hide_their_tokens() {
        let body = br#"{"access_token":"a.b.c","expires_in":1200.0,"token_type":"Bearer","refresh_token":"r.s.t"}"#;
        let tokens = TokenResponse::from_body(body).unwrap();
        assert_eq!(tokens.expires_in, 1200);
        assert_eq!(tokens.access_token.expose_secret(), "a.b.c");
        let debug = format!("{tokens:?}");
        assert!(!debug.contains("a.b.c") && !debug.contains("r.s.t"), "{debug}");
        let bad = TokenResponse::from_body(br#"{"access_token": 5, "expires_in": "secret-ish"}"#)
            .unwrap_err();
        assert!(!bad.to_string().contains("secret-ish"), "{bad}");
    }
}
