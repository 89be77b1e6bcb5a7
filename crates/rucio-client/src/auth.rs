//! Obtaining Rucio tokens: userpass, x509, x509_proxy, OIDC (cached, discovered, refreshed, or by
//! the interactive polling login).

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use secrecy::ExposeSecret;
use url::Url;

use crate::client::{Call, Host, RucioClient, check_status, token_from_headers};
use crate::config::AuthType;
use crate::error::{Error, Result, RucioErrorKind};
use crate::token::{AuthToken, TokenCache};

/// Finds or obtains a token to replace `stale` (None on the first call). Returns the token and
/// whether it should be written to the cache.
pub(crate) async fn obtain_token(
    client: &RucioClient,
    stale: Option<&AuthToken>,
    first: bool,
    cache: Option<&TokenCache>,
) -> Result<(AuthToken, bool)> {
    let config = client.config();
    if first
        && config.auth_type == AuthType::Oidc
        && let Some(token) = &config.discovered_token
    {
        return Ok((AuthToken::new(token.clone(), None), false));
    }
    // Another process (the Python client, another server) may have logged in meanwhile.
    if let Some(cached) = cache.and_then(TokenCache::read) {
        let is_stale =
            stale.is_some_and(|s| s.value.expose_secret() == cached.value.expose_secret());
        if !is_stale && !cached.expires_within(chrono::Duration::seconds(30)) {
            return Ok((cached, false));
        }
    }
    let token = match config.auth_type {
        AuthType::UserPass => userpass(client).await?,
        AuthType::X509 => x509(client, "x509").await?,
        AuthType::X509Proxy => x509(client, "x509_proxy").await?,
        AuthType::Oidc => match stale.or(cache.and_then(TokenCache::read).as_ref()) {
            Some(old) => match refresh(client, old).await {
                Ok(token) => token,
                Err(e) => {
                    tracing::debug!(error = %e, "OIDC token refresh failed; a new login is needed");
                    return Err(login_required(client));
                }
            },
            None => return Err(login_required(client)),
        },
        AuthType::Bearer => {
            return Err(Error::Credentials(
                "the bearer token was rejected and cannot be renewed".into(),
            ));
        }
        other @ (AuthType::Gss | AuthType::Ssh) => {
            return Err(crate::config::ConfigError::UnsupportedAuthType(other).into());
        }
    };
    Ok((token, true))
}

fn login_required(client: &RucioClient) -> Error {
    Error::LoginRequired { account: client.account().unwrap_or("the default account").to_owned() }
}

fn header(name: &'static str, value: &str) -> Result<(HeaderName, HeaderValue)> {
    let mut v = HeaderValue::from_str(value).map_err(|_| {
        Error::InvalidArgument(format!("{name} contains characters not allowed in a header"))
    })?;
    v.set_sensitive(name.contains("password") || name.ends_with("auth-token"));
    Ok((HeaderName::from_static(name), v))
}

fn auth_call(path: &str, headers: Vec<(HeaderName, HeaderValue)>) -> Call {
    let mut call = Call::get(&["auth", path]);
    call.host = Host::Auth;
    call.anonymous = true;
    call.headers = headers.into_iter().collect::<HeaderMap>();
    call
}

async fn token_call(client: &RucioClient, call: Call) -> Result<AuthToken> {
    let response = client.send(&call).await?;
    let url = response.url().to_string();
    token_from_headers(response.headers()).ok_or_else(|| {
        Error::invalid(
            &url,
            response.status().as_u16(),
            "no X-Rucio-Auth-Token header in the answer",
        )
    })
}

async fn userpass(client: &RucioClient) -> Result<AuthToken> {
    let config = client.config();
    let (Some(username), Some(password)) = (&config.username, &config.password) else {
        return Err(Error::Credentials(format!(
            "{}: userpass needs username and password",
            config.origin
        )));
    };
    let headers = vec![
        header("x-rucio-username", username)?,
        header("x-rucio-password", password.expose_secret())?,
    ];
    token_call(client, auth_call("userpass", headers)).await
}

async fn x509(client: &RucioClient, path: &str) -> Result<AuthToken> {
    // The client certificate travels in the TLS handshake, configured when the client was built.
    token_call(client, auth_call(path, Vec::new())).await.map_err(|e| match e {
        Error::Server { kind: RucioErrorKind::CannotAuthenticate, message, class, status } => Error::Server {
            kind: RucioErrorKind::CannotAuthenticate,
            message: format!("{message} (is the certificate's identity mapped to an account, and does auth_host use https?)"),
            class,
            status,
        },
        other => other,
    })
}

/// Exchanges a (possibly expired) OIDC token for a fresh one through the refresh token Rucio holds.
async fn refresh(client: &RucioClient, old: &AuthToken) -> Result<AuthToken> {
    let call =
        auth_call("oidc_refresh", vec![header("x-rucio-auth-token", old.value.expose_secret())?]);
    token_call(client, call).await
}

impl RucioClient {
    /// Asks Rucio for a fresh OIDC token in exchange for the current one (`/auth/oidc_refresh`).
    /// Works when the login asked for `offline_access`, so that Rucio holds a refresh token.
    pub async fn refresh_oidc_token(&self) -> Result<AuthToken> {
        let current = self.current_token().ok_or_else(|| login_required(self))?;
        let token = refresh(self, &current).await?;
        self.store_token(token.clone(), true);
        Ok(token)
    }

    /// Starts Rucio's OIDC polling login. Show [`OidcLogin::login_url`] to the user however
    /// suits the caller, then await [`OidcLogin::wait`] (or call [`OidcLogin::poll`] yourself).
    pub async fn start_oidc_login(&self) -> Result<OidcLogin> {
        let call = self.oidc_login_call()?;
        let response = self.send(&call).await?;
        let url = response.url().to_string();
        let raw = response
            .headers()
            .get("X-Rucio-OIDC-Auth-URL")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                Error::invalid(&url, response.status().as_u16(), "no X-Rucio-OIDC-Auth-URL header: check oidc_scope, oidc_audience and oidc_issuer")
            })?;
        let mut login_url = Url::parse(raw)
            .map_err(|_| Error::invalid(&url, 200, "the login URL Rucio gave is not a URL"))?;
        // Rucio always writes https://; a plain-http auth server (a local test) serves http://.
        if self.config().auth_host.scheme() == "http" && login_url.scheme() == "https" {
            let _ = login_url.set_scheme("http");
        }
        Ok(OidcLogin { client: self.clone(), login_url, poll: Self::poll_call(call) })
    }

    /// Picks up a polling login started elsewhere (another request or replica) from its login
    /// URL. The token it yields lands in a client of its own, never in `self`, so one client
    /// can watch the logins of many users.
    pub fn resume_oidc_login(&self, login_url: Url) -> Result<OidcLogin> {
        let client =
            Self::assemble(self.inner.http.clone(), (*self.inner.config).clone(), None, None);
        Ok(OidcLogin { client, login_url, poll: Self::poll_call(self.oidc_login_call()?) })
    }

    fn oidc_login_call(&self) -> Result<Call> {
        let config = self.config();
        let mut headers = vec![
            header("x-rucio-client-authorize-polling", "True")?,
            header("x-rucio-client-authorize-scope", &config.oidc.scope)?,
            header(
                "x-rucio-client-authorize-refresh-lifetime",
                config.oidc.refresh_lifetime.as_deref().unwrap_or("None"),
            )?,
        ];
        if let Some(audience) = &config.oidc.audience {
            headers.push(header("x-rucio-client-authorize-audience", audience)?);
        }
        if let Some(issuer) = &config.oidc.issuer {
            headers.push(header("x-rucio-client-authorize-issuer", issuer)?);
        }
        Ok(auth_call("oidc", headers))
    }

    fn poll_call(mut call: Call) -> Call {
        call.headers.insert(
            HeaderName::from_static("x-rucio-client-fetch-token"),
            HeaderValue::from_static("True"),
        );
        call
    }
}

/// An OIDC login in progress: the user opens [`Self::login_url`]; the client polls for the token.
#[derive(Debug)]
pub struct OidcLogin {
    client: RucioClient,
    login_url: Url,
    poll: Call,
}

impl OidcLogin {
    /// The address the user opens in a browser to sign in at the identity provider.
    pub fn login_url(&self) -> &Url {
        &self.login_url
    }

    /// Asks once whether the login finished. `Ok(Some(token))` stores the token in the client
    /// and the token cache; `Ok(None)` means the user has not signed in yet.
    pub async fn poll(&self) -> Result<Option<AuthToken>> {
        let response = self.client.send_to(&self.poll, self.login_url.clone()).await;
        let response = match response {
            Ok(r) => r,
            Err(Error::Server { kind: RucioErrorKind::CannotAuthenticate, .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let url = response.url().clone();
        let response = check_status(response, &url).await?;
        match token_from_headers(response.headers()) {
            Some(token) => {
                self.client.store_token(token.clone(), true);
                Ok(Some(token))
            }
            None => Ok(None),
        }
    }

    /// Polls every `interval` until the user has signed in, or fails after `timeout`.
    pub async fn wait(&self, timeout: Duration, interval: Duration) -> Result<AuthToken> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(token) = self.poll().await? {
                return Ok(token);
            }
            if tokio::time::Instant::now() + interval > deadline {
                return Err(Error::LoginTimedOut(timeout));
            }
            tokio::time::sleep(interval).await;
        }
    }
}
