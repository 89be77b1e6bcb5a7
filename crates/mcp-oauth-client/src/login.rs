//! Signing the person in: in the browser (authorization code + PKCE, the loopback redirect) or
//! with the device flow.

use std::time::Duration;

use oauth2::{CsrfToken, PkceCodeChallenge, Scope};
use outbound_http::OAuthHttp;
use tokio::sync::mpsc;
use url::Url;

use crate::discovery::ServerMetadata;
use crate::error::OAuthError;
use crate::loopback::{Loopback, Page};
use crate::oauth::{self, ClientIdentity, OAuthClient, Tokens};

/// How long the person has to sign in.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(300);

/// What a sign-in needs to know.
pub(crate) struct LoginRequest<'a> {
    pub server: &'a ServerMetadata,
    pub resource: &'a str,
    pub scopes: &'a [String],
    pub open_browser: bool,
}

/// The browser sign-in, on a loopback listener bound before anything else happens; `identity`
/// gets the bound redirect URI (dynamic registration needs it).
pub(crate) async fn in_browser<F, Fut>(
    http: &OAuthHttp,
    request: LoginRequest<'_>,
    redirect: &Url,
    identity: F,
) -> Result<(Tokens, ClientIdentity), OAuthError>
where
    F: FnOnce(Url) -> Fut,
    Fut: std::future::Future<Output = Result<ClientIdentity, OAuthError>>,
{
    let loopback = Loopback::bind(redirect).await?;
    let redirect = loopback.redirect_uri().clone();
    let identity = identity(redirect.clone()).await?;
    let client = oauth::client(request.server, &identity, Some(redirect.as_str()))?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut authorize = client
        .authorize_url(CsrfToken::new_random)
        .map_err(|_| {
            OAuthError::Discovery(format!(
                "{} has no authorization endpoint",
                request.server.issuer
            ))
        })?
        .set_pkce_challenge(challenge)
        .add_scopes(request.scopes.iter().cloned().map(Scope::new))
        .add_extra_param("resource", request.resource);
    // OpenID Connect grants `offline_access` (a refresh token) only with `prompt=consent`
    // (Core §11); without it the provider drops the scope and the person signs in every hour.
    if request.scopes.iter().any(|s| s == "offline_access") {
        authorize = authorize.add_extra_param("prompt", "consent");
    }
    let (url, state) = authorize.url();
    let (callbacks, mut arrived) = mpsc::channel(4);
    let listener = loopback.serve(callbacks);
    show_link(&url, request.open_browser).await;
    let outcome = tokio::time::timeout(LOGIN_TIMEOUT, async {
        while let Some(callback) = arrived.recv().await {
            let param = |name: &str| callback.params.get(name).map(String::as_str);
            // A callback of another sign-in (or of an attacker) does not end this one.
            if param("state") != Some(state.secret().as_str()) {
                let _ = callback.reply.send(Page::Failure(
                    "This page does not belong to the sign-in mcp-auth-proxy is waiting for (its state does not match).".into(),
                ));
                continue;
            }
            let result = finish(http, &client, &request, param, verifier).await;
            let page = match &result {
                Ok(_) => Page::Success,
                Err(e) => Page::Failure(e.to_string()),
            };
            let _ = callback.reply.send(page);
            return result;
        }
        Err(OAuthError::Login("the callback listener stopped".into()))
    })
    .await;
    // Only the accept loop stops: the connection showing the last page is a task of its own.
    listener.abort();
    match outcome {
        Ok(result) => result.map(|tokens| (tokens, identity)),
        Err(_) => Err(OAuthError::Login(format!(
            "nobody signed in within {} minutes",
            LOGIN_TIMEOUT.as_secs() / 60
        ))),
    }
}

/// Checks the callback (RFC 9207 `iss`, an error) and exchanges its code.
async fn finish<'p>(
    http: &OAuthHttp,
    client: &OAuthClient,
    request: &LoginRequest<'_>,
    param: impl Fn(&str) -> Option<&'p str>,
    verifier: oauth2::PkceCodeVerifier,
) -> Result<Tokens, OAuthError> {
    match param("iss") {
        Some(iss) if iss.trim_end_matches('/') != request.server.issuer.trim_end_matches('/') => {
            return Err(OAuthError::Login(format!(
                "the answer comes from the issuer {}, not {} (a mix-up attack or a misconfigured server); nothing was exchanged",
                outbound_http::quote(iss),
                request.server.issuer
            )));
        }
        None if request.server.authorization_response_iss_parameter_supported => {
            return Err(OAuthError::Login(
                "the answer does not name its issuer, although the server says it always does (RFC 9207)".into(),
            ));
        }
        _ => {}
    }
    if let Some(error) = param("error") {
        let detail = param("error_description").map(|d| format!(": {}", outbound_http::quote(d)));
        return Err(OAuthError::Login(format!(
            "the authorization server said {}{}",
            outbound_http::quote(error),
            detail.unwrap_or_default()
        )));
    }
    let code =
        param("code").ok_or_else(|| OAuthError::Login("the answer carries no code".into()))?;
    oauth::exchange_code(http, client, code.to_owned(), verifier, request.resource, request.scopes)
        .await
        .map_err(oauth::TokenFailure::into_error)
}

/// Shows the sign-in link on stderr (the MCP client's log) and opens it in the browser; only an
/// http(s) URL is ever opened, and never through a shell.
async fn show_link(url: &Url, open_browser: bool) {
    #[allow(clippy::print_stderr)]
    {
        eprintln!("mcp-auth-proxy: sign in at\n\n    {url}\n");
    }
    if !open_browser || !matches!(url.scheme(), "https" | "http") {
        return;
    }
    let link = url.to_string();
    let opened = tokio::task::spawn_blocking(move || webbrowser::open(&link)).await;
    if !matches!(opened, Ok(Ok(()))) {
        #[allow(clippy::print_stderr)]
        {
            eprintln!("mcp-auth-proxy: no browser could be opened; open the link above yourself");
        }
    }
}

/// The device flow: the person opens a link anywhere and confirms a code.
pub(crate) async fn with_device(
    http: &OAuthHttp,
    request: LoginRequest<'_>,
    identity: &ClientIdentity,
) -> Result<Tokens, OAuthError> {
    let client = oauth::client(request.server, identity, None)?;
    oauth::device_login(http, &client, identity, request.resource, request.scopes, |uri, code, complete| {
        #[allow(clippy::print_stderr)]
        {
            match complete {
                Some(complete) => eprintln!("mcp-auth-proxy: to sign in, open\n\n    {complete}\n\nand confirm the code {code}."),
                None => eprintln!("mcp-auth-proxy: to sign in, open\n\n    {uri}\n\nand enter the code {code}."),
            }
        }
    })
    .await
    .map_err(oauth::TokenFailure::into_error)
}
