//! The authorization server's endpoints, per site: discovery metadata, `/register`,
//! `/authorize` → consent → upstream login → code, `/token`, `/revoke`.

// The grant steps return a finished error response to send as is; boxing it buys nothing.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
#[cfg(feature = "polling")]
use axum::extract::{Path, Query};
use axum::extract::{RawForm, State};
use axum::response::{IntoResponse, Redirect, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::json;
use subtle::ConstantTimeEq;
use url::Url;

use crate::clients::{self, ClientKind, REGISTERED_PREFIX, Registration};
use crate::metrics::Outcome;
use crate::pages;
use crate::seal::{Purpose, sha256_b64};
use crate::tokens::{
    AccessClaims, AuthorizationRequest, CodeClaims, RefreshClaims, canonical_resource, now,
};
use crate::upstream::{LoginStart, Progress, UpstreamGrant};
use crate::{Bridge, ClientAddress};

const CODE_TTL: i64 = 60;
const CONSENT_TTL: i64 = 600;
const DEFAULT_ACCESS_TTL: i64 = 3600;
/// Access tokens live at least this long when the upstream token allows it.
const MIN_ACCESS_TTL: i64 = 60;
/// How long one reload of the waiting page waits on the server for the upstream login.
#[cfg(feature = "polling")]
const LONG_POLL: Duration = Duration::from_secs(10);
#[cfg(feature = "polling")]
const POLL_EVERY: Duration = Duration::from_millis(250);
const CSRF_COOKIE: &str = "mcp_bridge_csrf";

/// An OAuth error answer of `/token` and `/register` (RFC 6749 §5.2).
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut response =
        (status, Json(json!({ "error": error, "error_description": description }))).into_response();
    no_store(response.headers_mut());
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
    }
    response
}

fn no_store(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// A form body as pairs; a repeated parameter is an error (RFC 6749 §3.1).
fn form_fields(body: &[u8]) -> Result<HashMap<String, String>, String> {
    let mut fields = HashMap::new();
    for (key, value) in url::form_urlencoded::parse(body) {
        if fields.insert(key.to_string(), value.into_owned()).is_some() {
            return Err(format!("the parameter `{key}` is repeated"));
        }
    }
    Ok(fields)
}

// ---------------------------------------------------------------- discovery

pub(crate) async fn protected_resource(State(bridge): State<Arc<Bridge>>) -> Response {
    let mut body = json!({
        "resource": bridge.config.resource.as_str(),
        "authorization_servers": [bridge.issuer()],
        "bearer_methods_supported": ["header"],
        "resource_name": bridge.config.site_title,
    });
    if !bridge.config.scopes.is_empty() {
        body["scopes_supported"] = json!(bridge.config.scopes);
    }
    cors_json(body)
}

pub(crate) async fn authorization_server(State(bridge): State<Arc<Bridge>>) -> Response {
    let issuer = bridge.issuer();
    let mut grants = vec!["authorization_code"];
    if bridge.upstream.can_refresh() {
        grants.push("refresh_token");
    }
    let mut auth_methods = vec!["none"];
    if !bridge.config.machine_clients.is_empty() {
        grants.push("client_credentials");
        auth_methods.extend(["client_secret_basic", "client_secret_post", "private_key_jwt"]);
    }
    let mut body = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "registration_endpoint": format!("{issuer}/register"),
        "revocation_endpoint": format!("{issuer}/revoke"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": grants,
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": auth_methods,
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256", "EdDSA", "Ed25519"],
        "revocation_endpoint_auth_methods_supported": ["none"],
        "client_id_metadata_document_supported": true,
        "authorization_response_iss_parameter_supported": true,
        "service_documentation": bridge.config.resource.as_str(),
    });
    if !bridge.config.scopes.is_empty() {
        body["scopes_supported"] = json!(bridge.config.scopes);
    }
    cors_json(body)
}

fn cors_json(body: serde_json::Value) -> Response {
    let mut response = Json(body).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=300"));
    response
}

// ---------------------------------------------------------------- registration

#[derive(Debug, Deserialize)]
pub(crate) struct RegistrationRequest {
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    client_name: Option<String>,
    #[serde(default)]
    grant_types: Option<Vec<String>>,
    #[serde(default)]
    response_types: Option<Vec<String>>,
    #[serde(default)]
    scope: Option<String>,
}

pub(crate) async fn register(
    State(bridge): State<Arc<Bridge>>,
    address: Option<axum::Extension<ClientAddress>>,
    body: axum::body::Bytes,
) -> Response {
    let site = &bridge.config.site;
    let who = address.map_or_else(|| "unknown".to_owned(), |a| a.0.0.to_string());
    match bridge
        .shared
        .rate_limited(&format!("register:{who}"), bridge.config.registrations_per_minute)
        .await
    {
        Ok(false) => {}
        Ok(true) => {
            bridge.shared.metrics.count(site, Outcome::RegistrationLimited);
            let mut response = oauth_error(
                StatusCode::TOO_MANY_REQUESTS,
                "temporarily_unavailable",
                "too many registrations from this address; try again in a minute",
            );
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
            return response;
        }
        Err(e) => return store_failure(&e),
    }
    let request: RegistrationRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_client_metadata",
                &format!("the registration is not valid JSON client metadata: {e}"),
            );
        }
    };
    if request.redirect_uris.is_empty() || request.redirect_uris.len() > 16 {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_redirect_uri",
            "give between 1 and 16 redirect_uris",
        );
    }
    for uri in &request.redirect_uris {
        if uri.len() > 2048 {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_redirect_uri",
                "a redirect URI is longer than 2048 characters",
            );
        }
        if let Err(reason) = clients::check_redirect_uri(uri) {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_redirect_uri", &reason);
        }
    }
    if request.grant_types.as_ref().is_some_and(|g| !g.iter().any(|g| g == "authorization_code")) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client_metadata",
            "this server only issues tokens through authorization_code",
        );
    }
    if request.response_types.as_ref().is_some_and(|r| r.iter().any(|r| r != "code")) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client_metadata",
            "only the `code` response type is supported",
        );
    }
    let name = request.client_name.map(|n| n.chars().take(100).collect::<String>());
    let issued_at = now();
    let registration = Registration {
        name: name.clone(),
        redirect_uris: request.redirect_uris.clone(),
        issued_at,
    };
    let sealed = match bridge.shared.keys.seal(Purpose::Client, &registration) {
        Ok(s) => s,
        Err(e) => {
            return oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", &e.to_string());
        }
    };
    bridge.shared.metrics.count(site, Outcome::Registered);
    let mut grants = vec!["authorization_code"];
    if bridge.upstream.can_refresh() {
        grants.push("refresh_token");
    }
    let mut body = json!({
        "client_id": format!("{REGISTERED_PREFIX}{sealed}"),
        "client_id_issued_at": issued_at,
        "redirect_uris": request.redirect_uris,
        "token_endpoint_auth_method": "none",
        "grant_types": grants,
        "response_types": ["code"],
    });
    if let Some(name) = name {
        body["client_name"] = json!(name);
    }
    if let Some(scope) = request.scope {
        body["scope"] = json!(scope);
    }
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    no_store(response.headers_mut());
    response
}

fn store_failure(e: &crate::error::StoreError) -> Response {
    tracing::warn!(error = %e, "the bridge's store failed");
    oauth_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        "the server cannot keep login state right now; try again shortly",
    )
}

// ---------------------------------------------------------------- authorize and consent

/// Sends the client an error through its redirect URI (RFC 6749 §4.1.2.1, with `iss`).
fn redirect_error(
    bridge: &Bridge,
    redirect_uri: &str,
    state: Option<&str>,
    error: &str,
    description: &str,
) -> Response {
    redirect_to_client(
        bridge,
        redirect_uri,
        &[("error", error), ("error_description", description)],
        state,
    )
}

fn redirect_to_client(
    bridge: &Bridge,
    redirect_uri: &str,
    params: &[(&str, &str)],
    state: Option<&str>,
) -> Response {
    let Ok(mut url) = Url::parse(redirect_uri) else {
        return pages::error(
            StatusCode::BAD_REQUEST,
            "Invalid redirect",
            "The client's redirect URI is not a URL.",
        );
    };
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in params {
            query.append_pair(k, v);
        }
        if let Some(state) = state {
            query.append_pair("state", state);
        }
        query.append_pair("iss", &bridge.issuer());
    }
    let mut response = Redirect::to(url.as_str()).into_response();
    no_store(response.headers_mut());
    response
}

pub(crate) async fn authorize(
    State(bridge): State<Arc<Bridge>>,
    RawQuery(query): RawQuery,
) -> Response {
    let params = match form_fields(query.as_deref().unwrap_or_default().as_bytes()) {
        Ok(p) => p,
        Err(e) => return pages::error(StatusCode::BAD_REQUEST, "Invalid sign-in request", &e),
    };
    let get = |k: &str| params.get(k).map(String::as_str).filter(|v| !v.is_empty());
    // Until client and redirect URI are known good, errors are shown, never redirected.
    let Some(client_id) = get("client_id") else {
        return pages::error(
            StatusCode::BAD_REQUEST,
            "Invalid sign-in request",
            "The request names no client_id.",
        );
    };
    let client = match clients::resolve(
        client_id,
        &bridge.shared.keys,
        &bridge.config.static_clients,
        &bridge.shared.fetcher,
    )
    .await
    {
        Ok(c) => c,
        Err(reason) => return pages::error(StatusCode::BAD_REQUEST, "Unknown client", &reason),
    };
    let redirect_uri = match get("redirect_uri").or_else(|| client.sole_redirect()) {
        Some(uri) if client.allows_redirect(uri) => uri.to_owned(),
        Some(_) => {
            return pages::error(
                StatusCode::BAD_REQUEST,
                "Unregistered redirect",
                "The redirect_uri is not one this client registered.",
            );
        }
        None => {
            return pages::error(
                StatusCode::BAD_REQUEST,
                "Invalid sign-in request",
                "The request names no redirect_uri.",
            );
        }
    };
    let state = get("state");
    let fail = |error: &str, description: &str| {
        redirect_error(&bridge, &redirect_uri, state, error, description)
    };
    if get("response_type") != Some("code") {
        return fail("unsupported_response_type", "only response_type=code is supported");
    }
    let Some(challenge) = get("code_challenge") else {
        return fail(
            "invalid_request",
            "PKCE is required: send code_challenge with code_challenge_method=S256",
        );
    };
    if get("code_challenge_method") != Some("S256") {
        return fail("invalid_request", "only the S256 code_challenge_method is supported");
    }
    if challenge.len() != 43
        || !challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return fail(
            "invalid_request",
            "code_challenge must be the base64url SHA-256 of the verifier (43 characters)",
        );
    }
    let resource = match get("resource") {
        Some(r) if canonical_resource(r) == bridge.audience() => r.to_owned(),
        Some(_) => return fail("invalid_target", "the resource is not this site's MCP endpoint"),
        None => bridge.config.resource.to_string(),
    };
    let scope = get("scope").map(str::to_owned);
    let csrf = match bridge.shared.keys.random_id(24) {
        Ok(c) => c,
        Err(e) => {
            return pages::error(StatusCode::INTERNAL_SERVER_ERROR, "Server error", &e.to_string());
        }
    };
    let request = AuthorizationRequest {
        site: bridge.config.site.clone(),
        client_id: client.client_id.clone(),
        client_name: client.name.clone(),
        redirect_uri: redirect_uri.clone(),
        code_challenge: challenge.to_owned(),
        state: state.map(str::to_owned),
        resource,
        scope,
        csrf: csrf.clone(),
        expires_at: now() + CONSENT_TTL,
    };
    let sealed = match bridge.shared.keys.seal(Purpose::Consent, &request) {
        Ok(s) => s,
        Err(e) => {
            return pages::error(StatusCode::INTERNAL_SERVER_ERROR, "Server error", &e.to_string());
        }
    };
    let host = Url::parse(&redirect_uri)
        .map(|u| match (u.host_str(), u.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            (None, _) => format!("{}:", u.scheme()),
        })
        .unwrap_or_default();
    let action = format!("{}/consent", bridge.path());
    let mut response = pages::consent(&pages::Consent {
        action: &action,
        client_name: client.name.as_deref(),
        client_id: &client.client_id,
        verified_name: client.kind == ClientKind::Static,
        redirect_host: &host,
        site_title: &bridge.config.site_title,
        upstream: bridge.upstream.display_name(),
        request: &sealed,
        csrf: &csrf,
    });
    let secure = if bridge.config.resource.scheme() == "https" { "; Secure" } else { "" };
    let cookie = format!(
        "{CSRF_COOKIE}={csrf}; Path={}/; HttpOnly; SameSite=Strict; Max-Age={CONSENT_TTL}{secure}",
        bridge.path()
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// The raw query string (so repeated parameters can be refused).
pub(crate) struct RawQuery(Option<String>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for RawQuery {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.uri.query().map(str::to_owned)))
    }
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A login between consent and code, kept in the store.
#[derive(Debug, Serialize, Deserialize)]
struct PendingLogin {
    request: AuthorizationRequest,
    upstream: serde_json::Value,
    login_url: String,
    started_at: i64,
}

pub(crate) async fn consent(
    State(bridge): State<Arc<Bridge>>,
    headers: HeaderMap,
    RawForm(body): RawForm,
) -> Response {
    let fields = match form_fields(&body) {
        Ok(f) => f,
        Err(e) => return pages::error(StatusCode::BAD_REQUEST, "Invalid form", &e),
    };
    let invalid = || {
        pages::error(
            StatusCode::BAD_REQUEST,
            "This consent page has expired",
            "The page was too old, was opened in another browser, or was not issued by this server.",
        )
    };
    let Some(request) = fields
        .get("request")
        .and_then(|r| bridge.shared.keys.open::<AuthorizationRequest>(Purpose::Consent, r))
    else {
        return invalid();
    };
    let cookie = cookie(&headers, CSRF_COOKIE).unwrap_or_default();
    let form_csrf = fields.get("csrf").map(String::as_str).unwrap_or_default();
    if request.site != bridge.config.site
        || request.expires_at < now()
        || !same(&cookie, &request.csrf)
        || !same(form_csrf, &request.csrf)
    {
        return invalid();
    }
    let state = request.state.as_deref();
    if fields.get("decision").map(String::as_str) != Some("allow") {
        bridge.shared.metrics.count(&bridge.config.site, Outcome::Denied);
        return redirect_error(
            &bridge,
            &request.redirect_uri,
            state,
            "access_denied",
            "the user did not allow access",
        );
    }
    let id = match bridge.shared.keys.random_id(24) {
        Ok(id) => id,
        Err(e) => {
            return pages::error(StatusCode::INTERNAL_SERVER_ERROR, "Server error", &e.to_string());
        }
    };
    let callback = match Url::parse(&format!("{}/callback", bridge.issuer())) {
        Ok(u) => u,
        Err(_) => {
            return pages::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Server error",
                "bad issuer URL",
            );
        }
    };
    let start = match bridge.upstream.begin(&callback, &id).await {
        Ok(start) => start,
        Err(e) => {
            bridge.shared.metrics.count(&bridge.config.site, Outcome::LoginFailed);
            tracing::warn!(site = %bridge.config.site, error = %e, "the upstream login could not start");
            return pages::error(
                StatusCode::BAD_GATEWAY,
                &format!("{} is not available", bridge.upstream.display_name()),
                &format!("The sign-in could not start: {e}. Try again in a moment."),
            );
        }
    };
    let (url, upstream, polling) = match start {
        LoginStart::Redirect { url, pending } => (url, pending, false),
        #[cfg(feature = "polling")]
        LoginStart::Poll { url, pending } => (url, pending, true),
    };
    let pending = PendingLogin { request, upstream, login_url: url.to_string(), started_at: now() };
    let Ok(value) = serde_json::to_vec(&pending) else {
        return pages::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Server error",
            "cannot record the login",
        );
    };
    let ttl = bridge.config.login_timeout + Duration::from_secs(60);
    if let Err(e) = bridge.shared.store.put(&format!("login:{id}"), value, ttl).await {
        return store_failure(&e);
    }
    bridge.shared.login_started(&bridge.config.site, &id, bridge.config.login_timeout);
    bridge.shared.metrics.count(&bridge.config.site, Outcome::LoginStarted);
    let next = if polling { format!("{}/login/{id}", bridge.path()) } else { url.to_string() };
    let mut response = Redirect::to(&next).into_response();
    no_store(response.headers_mut());
    response
}

// ---------------------------------------------------------------- upstream completion

#[cfg(feature = "polling")]
#[derive(Debug, Deserialize)]
pub(crate) struct WaitQuery {
    #[serde(default)]
    wait: Option<String>,
}

/// A login in progress, or the page that says why there is none.
async fn load_pending(bridge: &Bridge, key: &str) -> Result<PendingLogin, Response> {
    match bridge.shared.store.get(key).await {
        Ok(Some(bytes)) => serde_json::from_slice(&bytes).map_err(|_| {
            pages::error(
                StatusCode::BAD_REQUEST,
                "Unknown sign-in",
                "This sign-in is not known here.",
            )
        }),
        Ok(None) => Err(pages::error(
            StatusCode::NOT_FOUND,
            "This sign-in has ended",
            "It finished, expired or was never started here.",
        )),
        Err(e) => Err(store_failure(&e)),
    }
}

/// The waiting page of a polling upstream: checks the login (long-polling on `?wait=1`), then
/// sends the browser back to the client with the code.
#[cfg(feature = "polling")]
pub(crate) async fn login_status(
    State(bridge): State<Arc<Bridge>>,
    Path(id): Path<String>,
    Query(query): Query<WaitQuery>,
) -> Response {
    let key = format!("login:{id}");
    let pending = match load_pending(&bridge, &key).await {
        Ok(p) => p,
        Err(response) => return response,
    };
    let deadline =
        tokio::time::Instant::now() + if query.wait.is_some() { LONG_POLL } else { Duration::ZERO };
    let timeout = i64::try_from(bridge.config.login_timeout.as_secs()).unwrap_or(i64::MAX);
    let mut note: Option<String>;
    loop {
        if now() > pending.started_at.saturating_add(timeout) {
            let _ = bridge.shared.store.take(&key).await;
            bridge.shared.login_ended(&bridge.config.site, &id);
            bridge.shared.metrics.count(&bridge.config.site, Outcome::LoginFailed);
            let r = &pending.request;
            return redirect_error(
                &bridge,
                &r.redirect_uri,
                r.state.as_deref(),
                "access_denied",
                "the sign-in was not completed in time",
            );
        }
        match bridge.upstream.complete(&pending.upstream, None).await {
            Ok(Progress::Done(grant)) => return finish(&bridge, &key, &id, grant).await,
            Ok(Progress::Pending) => note = None,
            Err(crate::error::UpstreamError::Refused(reason)) => {
                let _ = bridge.shared.store.take(&key).await;
                bridge.shared.login_ended(&bridge.config.site, &id);
                bridge.shared.metrics.count(&bridge.config.site, Outcome::LoginFailed);
                let r = &pending.request;
                return redirect_error(
                    &bridge,
                    &r.redirect_uri,
                    r.state.as_deref(),
                    "access_denied",
                    &format!("the sign-in failed: {reason}"),
                );
            }
            Err(crate::error::UpstreamError::Unavailable(reason)) => {
                note = Some(format!(
                    "{} did not answer as expected ({reason}); still trying.",
                    bridge.upstream.display_name()
                ));
            }
        }
        if tokio::time::Instant::now() + POLL_EVERY > deadline {
            break;
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
    let refresh = format!("{}/login/{id}?wait=1", bridge.path());
    pages::waiting(
        &bridge.config.site_title,
        bridge.upstream.display_name(),
        &pending.login_url,
        &refresh,
        note.as_deref(),
    )
}

/// Where a redirecting upstream sends the browser back.
pub(crate) async fn callback(
    State(bridge): State<Arc<Bridge>>,
    RawQuery(query): RawQuery,
) -> Response {
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(query.as_deref().unwrap_or_default().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    let Some(id) = pairs.iter().find(|(k, _)| k == "state").map(|(_, v)| v.clone()) else {
        return pages::error(
            StatusCode::BAD_REQUEST,
            "Invalid sign-in answer",
            "The identity provider's answer has no state.",
        );
    };
    let key = format!("login:{id}");
    let pending = match load_pending(&bridge, &key).await {
        Ok(p) => p,
        Err(response) => return response,
    };
    let r = &pending.request;
    match bridge.upstream.complete(&pending.upstream, Some(&pairs)).await {
        Ok(Progress::Done(grant)) => finish(&bridge, &key, &id, grant).await,
        Ok(Progress::Pending) => pages::error(
            StatusCode::BAD_GATEWAY,
            "Sign-in incomplete",
            "The identity provider sent the browser back without a result.",
        ),
        Err(e) => {
            let _ = bridge.shared.store.take(&key).await;
            bridge.shared.login_ended(&bridge.config.site, &id);
            bridge.shared.metrics.count(&bridge.config.site, Outcome::LoginFailed);
            tracing::info!(site = %bridge.config.site, error = %e, "upstream login failed");
            redirect_error(
                &bridge,
                &r.redirect_uri,
                r.state.as_deref(),
                "access_denied",
                &format!("the sign-in failed: {e}"),
            )
        }
    }
}

/// The login is done: forget it (exactly once) and send the client its code.
async fn finish(bridge: &Bridge, key: &str, id: &str, grant: UpstreamGrant) -> Response {
    let pending: PendingLogin = match bridge.shared.store.take(key).await {
        Ok(Some(bytes)) => match serde_json::from_slice(&bytes) {
            Ok(p) => p,
            Err(_) => {
                return pages::error(
                    StatusCode::BAD_REQUEST,
                    "Unknown sign-in",
                    "This sign-in is not known here.",
                );
            }
        },
        // Another request (a second tab, a reload) finished it first.
        Ok(None) => {
            return pages::error(
                StatusCode::CONFLICT,
                "Already signed in",
                "This sign-in was already completed; return to your MCP client.",
            );
        }
        Err(e) => return store_failure(&e),
    };
    bridge.shared.login_ended(&bridge.config.site, id);
    let r = pending.request;
    let jti = match bridge.shared.keys.random_id(16) {
        Ok(j) => j,
        Err(e) => {
            return pages::error(StatusCode::INTERNAL_SERVER_ERROR, "Server error", &e.to_string());
        }
    };
    let code = CodeClaims {
        site: r.site.clone(),
        client_id: r.client_id.clone(),
        redirect_uri: r.redirect_uri.clone(),
        code_challenge: r.code_challenge.clone(),
        resource: r.resource.clone(),
        scope: r.scope.clone(),
        expires_at: now() + CODE_TTL,
        jti,
        grant,
    };
    let code = match bridge.shared.keys.seal(Purpose::Code, &code) {
        Ok(c) => c,
        Err(e) => {
            return pages::error(StatusCode::INTERNAL_SERVER_ERROR, "Server error", &e.to_string());
        }
    };
    bridge.shared.metrics.count(&bridge.config.site, Outcome::Authorized);
    tracing::info!(site = %bridge.config.site, client = %short(&r.client_id), "sign-in completed; code sent to the client");
    redirect_to_client(bridge, &r.redirect_uri, &[("code", &code)], r.state.as_deref())
}

/// A client id for logs: registered ids are long sealed blobs.
fn short(client_id: &str) -> String {
    if client_id.starts_with(REGISTERED_PREFIX) {
        format!("{REGISTERED_PREFIX}…")
    } else {
        client_id.chars().take(120).collect()
    }
}

// ---------------------------------------------------------------- token and revoke

/// The client_id of a `/token` request: the form field, or the user part of HTTP Basic.
fn client_id_of(headers: &HeaderMap, fields: &HashMap<String, String>) -> Option<String> {
    if let Some(id) = fields.get("client_id") {
        return Some(id.clone());
    }
    use base64::Engine as _;
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let user = decoded.split(':').next()?;
    url::form_urlencoded::parse(format!("u={user}").as_bytes()).next().map(|(_, v)| v.into_owned())
}

pub(crate) async fn token(
    State(bridge): State<Arc<Bridge>>,
    headers: HeaderMap,
    RawForm(body): RawForm,
) -> Response {
    let fields = match form_fields(&body) {
        Ok(f) => f,
        Err(e) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", &e),
    };
    if fields.get("grant_type").map(String::as_str) == Some("client_credentials")
        && !bridge.config.machine_clients.is_empty()
    {
        return match client_credentials(&bridge, &headers, &fields).await {
            Ok(response) => response,
            Err(response) => {
                bridge.shared.metrics.count(&bridge.config.site, Outcome::GrantRefused);
                response
            }
        };
    }
    let Some(client_id) = client_id_of(&headers, &fields) else {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "client_id is required");
    };
    let response = match fields.get("grant_type").map(String::as_str) {
        Some("authorization_code") => exchange_code(&bridge, &client_id, &fields).await,
        Some("refresh_token") if bridge.upstream.can_refresh() => {
            refresh(&bridge, &client_id, &fields).await
        }
        Some(_) => Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "use authorization_code or refresh_token",
        )),
        None => {
            Err(oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "grant_type is required"))
        }
    };
    match response {
        Ok(response) => response,
        Err(response) => {
            bridge.shared.metrics.count(&bridge.config.site, Outcome::GrantRefused);
            response
        }
    }
}

fn invalid_grant(description: &str) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", description)
}

fn requested_resource_matches(
    bridge: &Bridge,
    fields: &HashMap<String, String>,
    granted: &str,
) -> bool {
    fields.get("resource").is_none_or(|r| {
        canonical_resource(r) == canonical_resource(granted)
            && canonical_resource(r) == bridge.audience()
    })
}

async fn exchange_code(
    bridge: &Bridge,
    client_id: &str,
    fields: &HashMap<String, String>,
) -> Result<Response, Response> {
    let code = fields.get("code").ok_or_else(|| {
        oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "code is required")
    })?;
    let claims: CodeClaims = bridge
        .shared
        .keys
        .open(Purpose::Code, code)
        .ok_or_else(|| invalid_grant("the code is not valid"))?;
    if claims.site != bridge.config.site {
        return Err(invalid_grant("the code was issued for another site"));
    }
    if claims.expires_at < now() {
        return Err(invalid_grant("the code has expired (codes live 60 seconds)"));
    }
    if claims.client_id != client_id {
        return Err(invalid_grant("the code was issued to another client"));
    }
    if fields.get("redirect_uri").is_none_or(|r| *r != claims.redirect_uri) {
        return Err(invalid_grant("redirect_uri does not match the authorization request"));
    }
    let verifier = fields
        .get("code_verifier")
        .ok_or_else(|| invalid_grant("code_verifier is required (PKCE)"))?;
    if !(43..=128).contains(&verifier.len())
        || !same(&sha256_b64(verifier.as_bytes()), &claims.code_challenge)
    {
        return Err(invalid_grant("the code_verifier does not match the code_challenge"));
    }
    if !requested_resource_matches(bridge, fields, &claims.resource) {
        return Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_target",
            "the resource differs from the authorization request",
        ));
    }
    match bridge.shared.store.claim(&format!("code:{}", claims.jti), Duration::from_secs(120)).await
    {
        Ok(true) => {}
        Ok(false) => return Err(invalid_grant("the code was already used")),
        Err(e) => return Err(store_failure(&e)),
    }
    let response = issue(bridge, &claims.client_id, &claims.resource, claims.scope, claims.grant)?;
    bridge.shared.metrics.count(&bridge.config.site, Outcome::TokenIssued);
    Ok(response)
}

/// A machine client's token: its secret checked, its upstream identity's grant sealed in.
async fn client_credentials(
    bridge: &Bridge,
    headers: &HeaderMap,
    fields: &HashMap<String, String>,
) -> Result<Response, Response> {
    let token_endpoint = format!("{}/token", bridge.issuer());
    let (client, assertion) = crate::machine::authenticate(
        &bridge.config.machine_clients,
        headers,
        fields,
        &token_endpoint,
    )
    .map_err(|refused| refused.into_response(oauth_error))?;
    if let Some(assertion) = assertion {
        match bridge.shared.store.claim(&assertion.key, assertion.ttl).await {
            Ok(true) => {}
            Ok(false) => {
                return Err(oauth_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    "the client assertion was already used",
                ));
            }
            Err(e) => return Err(store_failure(&e)),
        }
    }
    let resource = bridge.config.resource.as_str();
    if !requested_resource_matches(bridge, fields, resource) {
        return Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_target",
            "this server issues tokens for its own resource only",
        ));
    }
    let grant = match client.identity.grant().await {
        Ok(grant) => grant,
        Err(crate::error::UpstreamError::Refused(reason)) => {
            tracing::warn!(site = %bridge.config.site, client = %client.client_id, %reason, "a machine client's identity cannot sign in");
            return Err(invalid_grant(&format!(
                "the identity behind this client cannot sign in at {}: {reason}",
                bridge.upstream.display_name()
            )));
        }
        Err(crate::error::UpstreamError::Unavailable(reason)) => {
            return Err(oauth_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                &format!("{} is not available: {reason}", bridge.upstream.display_name()),
            ));
        }
    };
    let response =
        issue(bridge, &client.client_id, resource, None, UpstreamGrant { refresh: None, ..grant })?;
    bridge.shared.metrics.count(&bridge.config.site, Outcome::TokenIssued);
    Ok(response)
}

async fn refresh(
    bridge: &Bridge,
    client_id: &str,
    fields: &HashMap<String, String>,
) -> Result<Response, Response> {
    let token = fields.get("refresh_token").ok_or_else(|| {
        oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "refresh_token is required")
    })?;
    let claims: RefreshClaims = bridge
        .shared
        .keys
        .open(Purpose::RefreshToken, token)
        .ok_or_else(|| invalid_grant("the refresh token is not valid"))?;
    if claims.site != bridge.config.site || claims.expires_at < now() {
        return Err(invalid_grant("the refresh token has expired or belongs to another site"));
    }
    if claims.client_id != client_id {
        return Err(invalid_grant("the refresh token was issued to another client"));
    }
    if !requested_resource_matches(bridge, fields, &claims.audience) {
        return Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_target",
            "the resource differs from the original grant",
        ));
    }
    let ttl = Duration::from_secs(u64::try_from(claims.expires_at - now()).unwrap_or(0) + 60);
    match bridge.shared.store.claim(&format!("refresh:{}", claims.jti), ttl).await {
        Ok(true) => {}
        Ok(false) => {
            return Err(invalid_grant("the refresh token was already used (they are single-use)"));
        }
        Err(e) => return Err(store_failure(&e)),
    }
    let grant = match bridge.upstream.refresh(&claims.grant).await {
        Ok(grant) => grant,
        Err(crate::error::UpstreamError::Refused(reason)) => {
            return Err(invalid_grant(&format!(
                "the upstream refused to refresh ({reason}); sign in again"
            )));
        }
        Err(crate::error::UpstreamError::Unavailable(reason)) => {
            return Err(oauth_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                &format!("{} is not available: {reason}", bridge.upstream.display_name()),
            ));
        }
    };
    let response = issue(bridge, &claims.client_id, &claims.audience, claims.scope, grant)?;
    bridge.shared.metrics.count(&bridge.config.site, Outcome::Refreshed);
    Ok(response)
}

/// Seals a new access token (and a refresh token where the upstream can refresh).
fn issue(
    bridge: &Bridge,
    client_id: &str,
    resource: &str,
    scope: Option<String>,
    grant: UpstreamGrant,
) -> Result<Response, Response> {
    let issued_at = now();
    // A little before the upstream token, so the client refreshes while the upstream still can.
    let margin = i64::try_from(bridge.config.expiry_margin.as_secs()).unwrap_or(0);
    let expires_at = match grant.expires_at {
        Some(upstream) => (upstream - margin).max((issued_at + MIN_ACCESS_TTL).min(upstream)),
        None => issued_at + DEFAULT_ACCESS_TTL,
    };
    if expires_at <= issued_at {
        return Err(invalid_grant("the upstream token has already expired; sign in again"));
    }
    let server_error = |e: crate::error::KeyError| {
        oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", &e.to_string())
    };
    let access = AccessClaims {
        subject: grant.subject.clone(),
        site: bridge.config.site.clone(),
        client_id: client_id.to_owned(),
        audience: resource.to_owned(),
        scope: scope.clone(),
        issued_at,
        expires_at,
        upstream_token: grant.access_token.expose_secret().to_owned().into(),
        upstream_expires_at: grant.expires_at,
    };
    let access_token =
        bridge.shared.keys.seal(Purpose::AccessToken, &access).map_err(server_error)?;
    let mut body = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": expires_at - issued_at,
    });
    if let Some(scope) = &scope {
        body["scope"] = json!(scope);
    }
    if bridge.upstream.can_refresh() && grant.refresh.is_some() {
        let refresh = RefreshClaims {
            site: bridge.config.site.clone(),
            client_id: client_id.to_owned(),
            audience: resource.to_owned(),
            scope,
            expires_at: issued_at
                + i64::try_from(bridge.config.refresh_token_ttl.as_secs()).unwrap_or(i64::MAX / 2),
            jti: bridge.shared.keys.random_id(16).map_err(server_error)?,
            grant,
        };
        body["refresh_token"] =
            json!(bridge.shared.keys.seal(Purpose::RefreshToken, &refresh).map_err(server_error)?);
    }
    let mut response = Json(body).into_response();
    no_store(response.headers_mut());
    Ok(response)
}

/// RFC 7009: a refresh token is revoked by using up its single use; access tokens are
/// short-lived and stateless, so revoking one is acknowledged without effect.
pub(crate) async fn revoke(State(bridge): State<Arc<Bridge>>, RawForm(body): RawForm) -> Response {
    let fields = match form_fields(&body) {
        Ok(f) => f,
        Err(e) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", &e),
    };
    let Some(token) = fields.get("token") else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "token is required");
    };
    if let Some(claims) = bridge.shared.keys.open::<RefreshClaims>(Purpose::RefreshToken, token) {
        let ttl = Duration::from_secs(u64::try_from(claims.expires_at - now()).unwrap_or(0) + 60);
        if let Err(e) = bridge.shared.store.claim(&format!("refresh:{}", claims.jti), ttl).await {
            return store_failure(&e);
        }
    }
    let mut response = StatusCode::OK.into_response();
    no_store(response.headers_mut());
    response
}
