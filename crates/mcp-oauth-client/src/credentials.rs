//! [`OAuthCredentials`]: the bearer `mcp-forward` sends, signed in, refreshed and widened here.

use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use http::StatusCode;
use mcp_forward::{Credentials, ForwardError, Refusal};
use outbound_http::OAuthHttp;
use secrecy::SecretString;
use url::Url;

use crate::cache::{TokenCache, TokenEntry};
use crate::challenge::Challenge;
use crate::discovery::{self, Discovered};
use crate::error::OAuthError;
use crate::login::{self, LoginRequest};
use crate::oauth::{self, ClientIdentity, TokenFailure};
use crate::register;

/// A token is refreshed when it has less than this left.
const REFRESH_BEFORE: i64 = 60;
/// A refusal this soon after a new token means that token was not there yet for the request:
/// try again with it rather than sign in again.
const JUST_RENEWED: Duration = Duration::from_secs(3);
/// The remote refusing a token from a sign-in this recent will refuse the next one too.
const LOGIN_LOOP: Duration = Duration::from_secs(30);

/// How the person signs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginMode {
    /// In the browser, which is opened for them.
    Browser,
    /// In the browser, the link printed only (`--no-browser`).
    Link,
    /// The device flow (`--device-code`).
    Device,
}

/// What the sign-in is for and how it goes.
#[derive(Clone, Debug)]
pub struct OAuthSettings {
    /// The remote MCP endpoint.
    pub backend: Url,
    /// The authorization server, when not the one the remote names.
    pub issuer: Option<String>,
    /// A client id given to the user (or a client metadata document URL); none: register.
    pub client_id: Option<String>,
    /// This client's metadata document (an https URL): its client id at servers that support
    /// client id metadata documents, instead of registering.
    pub client_metadata_url: Option<String>,
    pub client_secret: Option<SecretString>,
    /// Scopes to ask for; none: what the remote and its server say.
    pub scopes: Option<Vec<String>>,
    /// The loopback redirect (port 0: any free port).
    pub redirect: Url,
    pub mode: LoginMode,
    /// The name shown on the consent page when registering.
    pub client_name: String,
}

/// Bearer tokens for one remote, from the cache, a refresh or a sign-in.
#[derive(Debug)]
pub struct OAuthCredentials {
    settings: OAuthSettings,
    cache: TokenCache,
    http: reqwest::Client,
    oauth: OAuthHttp,
    state: tokio::sync::Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    entry: Option<TokenEntry>,
    loaded: bool,
    renewed_at: Option<Instant>,
    signed_in_at: Option<Instant>,
}

impl OAuthCredentials {
    /// `http`: a client with redirects off (discovery, registration and tokens never follow one).
    pub fn new(settings: OAuthSettings, cache: TokenCache, http: reqwest::Client) -> Self {
        let oauth = OAuthHttp::new(http.clone());
        Self { settings, cache, http, oauth, state: tokio::sync::Mutex::new(State::default()) }
    }

    /// Forgets the tokens of the remote (revoking the refresh tokens where the server can);
    /// returns how many logins were forgotten.
    pub async fn logout(&self) -> usize {
        let removed = self.cache.remove_for(self.settings.backend.as_str());
        for entry in &removed {
            if let Some(refresh) = &entry.refresh_token {
                let identity = self.identity_for(entry);
                if let Ok(client) = oauth::client(&entry.server, &identity, None) {
                    oauth::revoke(&self.oauth, &client, refresh).await;
                }
            }
        }
        removed.len()
    }

    /// The client an entry's tokens were issued to (its secret from the settings or the
    /// registration).
    fn identity_for(&self, entry: &TokenEntry) -> ClientIdentity {
        let secret = if self.settings.client_id.as_deref() == Some(entry.client_id.as_str()) {
            self.settings.client_secret.clone()
        } else {
            self.cache
                .registration(&entry.issuer, self.settings.redirect.as_str())
                .filter(|r| r.client_id == entry.client_id)
                .and_then(|r| r.client_secret)
        };
        ClientIdentity { id: entry.client_id.clone(), secret }
    }

    fn load(&self, state: &mut State) {
        if !state.loaded {
            state.loaded = true;
            state.entry = self.cache.find(
                self.settings.backend.as_str(),
                self.settings.issuer.as_deref(),
                self.settings.client_id.as_deref(),
            );
        }
    }

    /// A new access token from the entry's refresh token; `Ok(false)`: the grant is dead.
    async fn refresh(&self, state: &mut State) -> Result<bool, OAuthError> {
        let Some(entry) = state.entry.as_ref() else { return Ok(false) };
        let Some(refresh_token) = entry.refresh_token.clone() else { return Ok(false) };
        let identity = self.identity_for(entry);
        let client = oauth::client(&entry.server, &identity, None)?;
        match oauth::refresh(&self.oauth, &client, &refresh_token, &entry.resource, &entry.scopes)
            .await
        {
            Ok(tokens) => {
                let mut entry = entry.clone();
                entry.expires_at = tokens.expires_at();
                entry.access_token = tokens.access;
                entry.refresh_token = tokens.refresh;
                self.cache.store(&entry)?;
                state.entry = Some(entry);
                state.renewed_at = Some(Instant::now());
                tracing::info!("the access token was refreshed");
                Ok(true)
            }
            Err(TokenFailure::Refused(why)) => {
                tracing::info!("the refresh token is no longer accepted ({why}); signing in again");
                if let Some(entry) = state.entry.take() {
                    self.cache.remove(&entry);
                }
                Ok(false)
            }
            Err(TokenFailure::Unavailable(why)) => Err(OAuthError::Login(why)),
        }
    }

    /// The whole sign-in: discovery from the remote's challenge, the client, the login.
    async fn sign_in(
        &self,
        state: &mut State,
        challenge: Option<&Challenge>,
    ) -> Result<(), OAuthError> {
        let settings = &self.settings;
        let Discovered { resource, server, scopes: wanted } = discovery::discover(
            &self.http,
            &settings.backend,
            challenge,
            settings.issuer.as_deref(),
        )
        .await?;
        let mut scopes = match &settings.scopes {
            Some(scopes) => scopes.clone(),
            None => {
                let mut scopes = wanted;
                if server.offers_refresh()
                    && server.scopes_supported.iter().any(|s| s == "offline_access")
                    && !scopes.iter().any(|s| s == "offline_access")
                {
                    scopes.push("offline_access".into());
                }
                scopes
            }
        };
        // A step-up keeps what the last token had.
        if challenge.is_some_and(Challenge::insufficient_scope)
            && let Some(entry) = &state.entry
        {
            for scope in &entry.scopes {
                if !scopes.contains(scope) {
                    scopes.push(scope.clone());
                }
            }
        }
        let request = LoginRequest {
            server: &server,
            resource: &resource,
            scopes: &scopes,
            open_browser: settings.mode == LoginMode::Browser,
        };
        let (tokens, identity) = match settings.mode {
            LoginMode::Device => {
                let identity = self.static_identity().ok_or_else(|| {
                    OAuthError::Config(
                        "the device flow needs a client id (--oidc-client-id)".into(),
                    )
                })?;
                (login::with_device(&self.oauth, request, &identity).await?, identity)
            }
            LoginMode::Browser | LoginMode::Link => {
                let fixed = self.static_identity().or_else(|| {
                    let url = settings.client_metadata_url.clone()?;
                    server
                        .client_id_metadata_document_supported
                        .then_some(ClientIdentity { id: url, secret: None })
                });
                let server = &server;
                login::in_browser(&self.oauth, request, &settings.redirect, |redirect| async move {
                    match fixed {
                        Some(identity) => Ok(identity),
                        None => {
                            let registration = register::registered_client(
                                &self.http,
                                &self.cache,
                                server,
                                redirect.as_str(),
                                settings.redirect.as_str(),
                                &settings.client_name,
                            )
                            .await?;
                            Ok(ClientIdentity {
                                id: registration.client_id,
                                secret: registration.client_secret,
                            })
                        }
                    }
                })
                .await?
            }
        };
        let entry = TokenEntry {
            issuer: server.issuer.clone(),
            client_id: identity.id,
            resource,
            backend: settings.backend.as_str().to_owned(),
            expires_at: tokens.expires_at(),
            scopes: tokens.scopes,
            access_token: tokens.access,
            refresh_token: tokens.refresh,
            server,
        };
        self.cache.store(&entry)?;
        state.entry = Some(entry);
        let now = Instant::now();
        state.renewed_at = Some(now);
        state.signed_in_at = Some(now);
        tracing::info!("signed in");
        Ok(())
    }

    fn static_identity(&self) -> Option<ClientIdentity> {
        self.settings
            .client_id
            .clone()
            .map(|id| ClientIdentity { id, secret: self.settings.client_secret.clone() })
    }

    async fn current(&self) -> Result<Option<SecretString>, OAuthError> {
        let mut state = self.state.lock().await;
        self.load(&mut state);
        let expiring = state
            .entry
            .as_ref()
            .is_some_and(|e| e.remaining().is_some_and(|left| left < REFRESH_BEFORE));
        // The authorization server away: the token may still do for a while.
        if expiring && let Err(e) = self.refresh(&mut state).await {
            tracing::warn!("{e}; using the access token while it lasts");
        }
        Ok(state.entry.as_ref().map(|e| e.access_token.clone()))
    }

    async fn renew(&self, refusal: Refusal) -> Result<bool, OAuthError> {
        let challenge = refusal.www_authenticate.as_deref().and_then(Challenge::parse);
        let step_up = challenge.as_ref().is_some_and(Challenge::insufficient_scope);
        if refusal.status == StatusCode::FORBIDDEN && !step_up {
            return Ok(false);
        }
        let mut state = self.state.lock().await;
        self.load(&mut state);
        if state.renewed_at.is_some_and(|at| at.elapsed() < JUST_RENEWED) && !step_up {
            return Ok(true);
        }
        // A step-up to scopes the token lacks is progress, not a loop.
        let new_scopes = step_up
            && challenge.as_ref().and_then(|c| c.scope.as_deref()).is_some_and(|wanted| {
                let held = state.entry.as_ref().map(|e| e.scopes.as_slice()).unwrap_or_default();
                wanted.split_whitespace().any(|s| !held.iter().any(|h| h == s))
            });
        if !new_scopes && state.signed_in_at.is_some_and(|at| at.elapsed() < LOGIN_LOOP) {
            return Err(OAuthError::Login(format!(
                "the remote refuses the token it was just given (HTTP {}); check the issuer, the client and the scopes",
                refusal.status.as_u16()
            )));
        }
        if !step_up && self.refresh(&mut state).await? {
            return Ok(true);
        }
        self.sign_in(&mut state, challenge.as_ref()).await?;
        Ok(true)
    }
}

impl Credentials for OAuthCredentials {
    fn bearer(&self) -> BoxFuture<'_, Result<Option<SecretString>, ForwardError>> {
        Box::pin(async move {
            self.current().await.map_err(|e| ForwardError::Credentials(e.to_string()))
        })
    }

    fn refused(&self, refusal: Refusal) -> BoxFuture<'_, Result<bool, ForwardError>> {
        Box::pin(async move {
            self.renew(refusal).await.map_err(|e| ForwardError::Credentials(e.to_string()))
        })
    }
}
