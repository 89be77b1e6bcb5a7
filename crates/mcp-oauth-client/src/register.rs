//! Dynamic client registration (RFC 7591): a public client (no secret, PKCE) for one redirect URI,
//! kept in the cache so the next start registers nothing.

use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use crate::cache::{Registration, TokenCache};
use crate::discovery::ServerMetadata;
use crate::error::OAuthError;

/// The largest registration answer read.
const MAX_ANSWER: usize = 64 * 1024;

#[derive(Deserialize)]
struct Registered {
    client_id: String,
    #[serde(default)]
    client_secret: Option<String>,
}

/// The client registered at `server` for `redirect` (`cache_key`: the configured redirect, as the
/// bound port may change from one start to the next), registering it first if needed.
pub(crate) async fn registered_client(
    http: &reqwest::Client,
    cache: &TokenCache,
    server: &ServerMetadata,
    redirect: &str,
    cache_key: &str,
    client_name: &str,
) -> Result<Registration, OAuthError> {
    if let Some(known) = cache.registration(&server.issuer, cache_key) {
        return Ok(known);
    }
    let Some(endpoint) = &server.registration_endpoint else {
        return Err(OAuthError::Config(format!(
            "{} does not let clients register themselves; give the client id you were given with --oidc-client-id",
            server.issuer
        )));
    };
    // A native application (OpenID Dynamic Registration §2): its loopback redirect may come
    // back on another port at the next sign-in (RFC 8252 §7.3).
    let body = json!({
        "application_type": "native",
        "client_name": client_name,
        "redirect_uris": [redirect],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    });
    let response = http.post(endpoint).json(&body).send().await.map_err(|e| {
        OAuthError::Login(format!("registering at {endpoint}: {}", outbound_http::describe(&e)))
    })?;
    let status = response.status();
    let answer = outbound_http::read_limited(response, MAX_ANSWER)
        .await
        .map_err(|e| OAuthError::Login(format!("registering at {endpoint}: {e}")))?;
    if !status.is_success() {
        return Err(OAuthError::Login(format!(
            "{endpoint} refused the registration (HTTP {status}): {}",
            outbound_http::quote(&String::from_utf8_lossy(&answer))
        )));
    }
    let registered: Registered = serde_json::from_slice(&answer).map_err(|_| {
        OAuthError::Login(format!("{endpoint} answered the registration with no client_id"))
    })?;
    let registration = Registration {
        issuer: server.issuer.clone(),
        redirect_uri: cache_key.to_owned(),
        client_id: registered.client_id,
        client_secret: registered.client_secret.map(SecretString::from),
    };
    cache.store_registration(&registration)?;
    Ok(registration)
}
