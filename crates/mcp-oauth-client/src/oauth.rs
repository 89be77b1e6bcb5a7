//! The token endpoint through the `oauth2` crate: code exchange with PKCE, refresh (rotation
//! kept), the device flow and revocation, every request carrying the RFC 8707 `resource`.

use std::time::Duration;

use oauth2::basic::{BasicClient, BasicTokenResponse};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, DeviceAuthorizationUrl,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, PkceCodeVerifier, RedirectUrl, RefreshToken,
    RevocationUrl, StandardDeviceAuthorizationResponse, StandardErrorResponse,
    StandardRevocableToken, TokenResponse as _, TokenUrl,
};
use outbound_http::{HttpError, OAuthHttp};
use secrecy::{ExposeSecret, SecretString};

use crate::cache::now;
use crate::discovery::ServerMetadata;
use crate::error::OAuthError;

pub(crate) type OAuthClient =
    BasicClient<EndpointMaybeSet, EndpointMaybeSet, EndpointNotSet, EndpointMaybeSet, EndpointSet>;

/// Who the proxy is at the authorization server.
#[derive(Clone, Debug)]
pub struct ClientIdentity {
    pub id: String,
    pub secret: Option<SecretString>,
}

/// What a token response gave.
#[derive(Debug)]
pub struct Tokens {
    pub access: SecretString,
    pub refresh: Option<SecretString>,
    pub expires_in: Option<u64>,
    pub scopes: Vec<String>,
}

impl Tokens {
    pub fn expires_at(&self) -> Option<u64> {
        self.expires_in.map(|s| now() + s)
    }
}

/// Why a token request failed: refused (the grant is dead: sign in again) or not answered.
#[derive(Debug)]
pub enum TokenFailure {
    Refused(String),
    Unavailable(String),
}

impl TokenFailure {
    pub fn into_error(self) -> OAuthError {
        match self {
            Self::Refused(t) | Self::Unavailable(t) => OAuthError::Login(t),
        }
    }
}

pub(crate) fn client(
    server: &ServerMetadata,
    identity: &ClientIdentity,
    redirect: Option<&str>,
) -> Result<OAuthClient, OAuthError> {
    let bad = |what: &str| OAuthError::Discovery(format!("the server's {what} is not a valid URL"));
    let mut client = BasicClient::new(ClientId::new(identity.id.clone()))
        .set_auth_uri_option(
            server
                .authorization_endpoint
                .as_ref()
                .map(|u| AuthUrl::new(u.clone()))
                .transpose()
                .map_err(|_| bad("authorization endpoint"))?,
        )
        .set_device_authorization_url_option(
            server
                .device_authorization_endpoint
                .as_ref()
                .map(|u| DeviceAuthorizationUrl::new(u.clone()))
                .transpose()
                .map_err(|_| bad("device authorization endpoint"))?,
        )
        .set_revocation_url_option(
            server
                .revocation_endpoint
                .as_ref()
                .map(|u| RevocationUrl::new(u.clone()))
                .transpose()
                .map_err(|_| bad("revocation endpoint"))?,
        )
        .set_token_uri(
            TokenUrl::new(server.token_endpoint.clone()).map_err(|_| bad("token endpoint"))?,
        );
    if let Some(secret) = &identity.secret {
        client = client.set_client_secret(ClientSecret::new(secret.expose_secret().to_owned()));
        let methods = &server.token_endpoint_auth_methods_supported;
        if !methods.is_empty()
            && !methods.iter().any(|m| m == "client_secret_basic")
            && methods.iter().any(|m| m == "client_secret_post")
        {
            client = client.set_auth_type(AuthType::RequestBody);
        }
    }
    if let Some(redirect) = redirect {
        client = client.set_redirect_uri(
            RedirectUrl::new(redirect.to_owned()).map_err(|_| bad("redirect URI"))?,
        );
    }
    Ok(client)
}

pub(crate) async fn exchange_code(
    http: &OAuthHttp,
    client: &OAuthClient,
    code: String,
    verifier: PkceCodeVerifier,
    resource: &str,
    asked: &[String],
) -> Result<Tokens, TokenFailure> {
    let request = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .add_extra_param("resource", resource);
    let response = request.request_async(http).await.map_err(failure)?;
    Ok(tokens(&response, None, asked))
}

pub(crate) async fn refresh(
    http: &OAuthHttp,
    client: &OAuthClient,
    refresh_token: &SecretString,
    resource: &str,
    asked: &[String],
) -> Result<Tokens, TokenFailure> {
    let token = RefreshToken::new(refresh_token.expose_secret().to_owned());
    let response = client
        .exchange_refresh_token(&token)
        .add_extra_param("resource", resource)
        .request_async(http)
        .await
        .map_err(failure)?;
    Ok(tokens(&response, Some(refresh_token), asked))
}

/// The device flow: `show` gets the verification URL and the user code to show the person.
pub(crate) async fn device_login(
    http: &OAuthHttp,
    client: &OAuthClient,
    identity: &ClientIdentity,
    resource: &str,
    scopes: &[String],
    show: impl FnOnce(&str, &str, Option<&str>),
) -> Result<Tokens, TokenFailure> {
    let details = device_authorization(http, client, identity, resource, scopes).await?;
    show(
        details.verification_uri().as_str(),
        details.user_code().secret(),
        details.verification_uri_complete().map(|u| u.secret().as_str()),
    );
    let timeout = details.expires_in().min(Duration::from_secs(900));
    let response = client
        .exchange_device_access_token(&details)
        .add_extra_param("resource", resource)
        .request_async(http, tokio::time::sleep, Some(timeout))
        .await
        .map_err(failure)?;
    Ok(tokens(&response, None, scopes))
}

/// The device authorization request (RFC 8628 §3.1). Its parameters go in the form body, as the
/// RFC has them, and in the query too: some servers (DiracX 0.7) read only the query, and a
/// server that follows the RFC reads only the body.
async fn device_authorization(
    http: &OAuthHttp,
    client: &OAuthClient,
    identity: &ClientIdentity,
    resource: &str,
    scopes: &[String],
) -> Result<StandardDeviceAuthorizationResponse, TokenFailure> {
    let Some(endpoint) = client.device_authorization_url().map(|u| u.url().clone()) else {
        return Err(TokenFailure::Refused("the authorization server offers no device flow".into()));
    };
    let scope = scopes.join(" ");
    let mut params = vec![("client_id", identity.id.as_str()), ("resource", resource)];
    if !scope.is_empty() {
        params.push(("scope", scope.as_str()));
    }
    let mut url = endpoint;
    url.query_pairs_mut().extend_pairs(&params);
    let mut request =
        http.client().post(url).header(http::header::ACCEPT, "application/json").form(&params);
    if let Some(secret) = &identity.secret {
        request = request.basic_auth(&identity.id, Some(secret.expose_secret()));
    }
    let response = request.send().await.map_err(|e| {
        TokenFailure::Unavailable(format!(
            "the authorization server cannot be reached: {}",
            outbound_http::describe(&e)
        ))
    })?;
    let status = response.status();
    let body = outbound_http::read_limited(response, 64 * 1024)
        .await
        .map_err(|e| TokenFailure::Unavailable(e.to_string()))?;
    let text = || outbound_http::quote(&String::from_utf8_lossy(&body));
    if !status.is_success() {
        return Err(TokenFailure::Refused(format!(
            "the authorization server refused to start a device sign-in (HTTP {}): {}",
            status.as_u16(),
            text()
        )));
    }
    serde_json::from_slice(&body).map_err(|_| {
        TokenFailure::Unavailable(format!(
            "the authorization server's device answer is not RFC 8628's ({})",
            shape(&body)
        ))
    })
}

/// What an answer that may hold a secret looks like, without its values: its JSON field names,
/// or its size.
fn shape(body: &[u8]) -> String {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(fields)) => {
            let names: Vec<&str> = fields.keys().map(String::as_str).collect();
            format!("fields: {}", outbound_http::quote(&names.join(", ")))
        }
        _ => format!("{} bytes, not a JSON object", body.len()),
    }
}

/// Revokes a refresh token (best effort: `--logout` forgets it either way).
pub(crate) async fn revoke(http: &OAuthHttp, client: &OAuthClient, token: &SecretString) -> bool {
    let token =
        StandardRevocableToken::RefreshToken(RefreshToken::new(token.expose_secret().to_owned()));
    match client.revoke_token(token) {
        Ok(request) => request.request_async(http).await.is_ok(),
        Err(_) => false,
    }
}

fn tokens(
    response: &BasicTokenResponse,
    old_refresh: Option<&SecretString>,
    asked: &[String],
) -> Tokens {
    Tokens {
        access: SecretString::from(response.access_token().secret().clone()),
        refresh: response
            .refresh_token()
            .map(|r| SecretString::from(r.secret().clone()))
            .or_else(|| old_refresh.cloned()),
        expires_in: response.expires_in().map(|d| d.as_secs()),
        scopes: response
            .scopes()
            .map(|s| s.iter().map(|s| s.to_string()).collect())
            .unwrap_or_else(|| asked.to_vec()),
    }
}

fn failure<T>(e: oauth2::RequestTokenError<HttpError, StandardErrorResponse<T>>) -> TokenFailure
where
    T: oauth2::ErrorResponseType + AsRef<str> + std::fmt::Display + 'static,
{
    use oauth2::RequestTokenError as E;
    match e {
        E::ServerResponse(r) => {
            let mut text = format!(
                "the authorization server refused: {}",
                outbound_http::quote(r.error().as_ref())
            );
            if let Some(d) = r.error_description().filter(|d| !d.is_empty()) {
                text.push_str(&format!(" ({})", outbound_http::quote(d)));
            }
            TokenFailure::Refused(text)
        }
        E::Request(e) => {
            TokenFailure::Unavailable(format!("the authorization server cannot be reached: {e}"))
        }
        E::Parse(_, body) => TokenFailure::Unavailable(format!(
            "the authorization server answered the token request with something else than a token response ({})",
            shape(&body)
        )),
        E::Other(t) => TokenFailure::Unavailable(format!(
            "the token request failed: {}",
            outbound_http::quote(&t)
        )),
    }
}
