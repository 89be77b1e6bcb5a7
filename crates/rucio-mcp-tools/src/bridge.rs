//! rucio-mcp behind the OAuth bridge: Rucio's OIDC polling login as the bridge's [`Upstream`],
//! and the per-user Rucio clients that tool calls run with.

use mcp_oauth_bridge::{
    Identity, LoginStart, PerUser, Progress, Upstream, UpstreamError, UpstreamFuture, UpstreamGrant,
};
use rucio_client::{AuthType, Error, RucioClient, RucioConfig, SecretString};
use serde_json::json;
use url::Url;

/// Rucio's OIDC polling login (`/auth/oidc`, then `/auth/oidc_redirect` with
/// `X-Rucio-Client-Fetch-Token`), refreshed through `/auth/oidc_refresh`.
#[derive(Debug)]
pub struct RucioUpstream {
    /// Logs nobody in itself: it starts logins and lends its connection pool to user clients.
    base: RucioClient,
    display: String,
}

impl RucioUpstream {
    /// An upstream for the Rucio of `config`. The account is left to the identity provider's
    /// mapping (each user logs in as themselves), and no token cache is touched.
    pub fn new(mut config: RucioConfig, display: impl Into<String>) -> Result<Self, Error> {
        config.account = None;
        config.auth_type = AuthType::Oidc;
        let base = RucioClient::builder(config).token_cache(false).build()?;
        Ok(Self { base, display: display.into() })
    }

    /// The client the per-user clients are made from.
    pub fn base_client(&self) -> &RucioClient {
        &self.base
    }

    async fn grant_for(
        &self,
        token: SecretString,
        subject: Option<String>,
    ) -> Result<UpstreamGrant, UpstreamError> {
        let user = self.base.with_bearer_token(token.clone());
        let subject = match subject {
            Some(s) => s,
            None => user.whoami().await.map_err(|e| upstream_error(&e))?.account,
        };
        let expires_at =
            rucio_client::AuthToken::new(token.clone(), None).expires_at().map(|t| t.timestamp());
        Ok(UpstreamGrant { subject, access_token: token.clone(), expires_at, refresh: Some(token) })
    }
}

/// Rucio's errors for users: never a URL (the polling URL is a credential), never a token.
fn upstream_error(e: &Error) -> UpstreamError {
    match e {
        Error::Server { status, class, message, .. } if *status < 500 && e.is_authentication() => {
            UpstreamError::Refused(format!("Rucio refused: {class}: {message}"))
        }
        Error::Server { status, class, .. } if *status < 500 => {
            UpstreamError::Refused(format!("Rucio refused the login ({class})"))
        }
        Error::Server { status, class, .. } => {
            UpstreamError::Unavailable(format!("Rucio failed (HTTP {status}, {class})"))
        }
        Error::Transport { failure, .. } => {
            UpstreamError::Unavailable(format!("Rucio is not reachable ({failure})"))
        }
        Error::InvalidResponse { status, .. } => UpstreamError::Unavailable(format!(
            "Rucio answered something unexpected (HTTP {status})"
        )),
        Error::LoginRequired { .. } | Error::LoginTimedOut(_) => {
            UpstreamError::Refused("Rucio holds no refresh token for this login".into())
        }
        other => UpstreamError::Unavailable(format!(
            "Rucio login failed: {}",
            other.to_string().split(" http").next().unwrap_or("error")
        )),
    }
}

impl Upstream for RucioUpstream {
    fn begin<'a>(&'a self, _callback: &'a Url, _state: &'a str) -> UpstreamFuture<'a, LoginStart> {
        Box::pin(async move {
            let login = self.base.start_oidc_login().await.map_err(|e| upstream_error(&e))?;
            let url = login.login_url().clone();
            Ok(LoginStart::Poll { pending: json!({ "url": url.as_str() }), url })
        })
    }

    fn complete<'a>(
        &'a self,
        pending: &'a serde_json::Value,
        _callback_query: Option<&'a [(String, String)]>,
    ) -> UpstreamFuture<'a, Progress> {
        Box::pin(async move {
            let url = pending
                .get("url")
                .and_then(serde_json::Value::as_str)
                .and_then(|u| Url::parse(u).ok())
                .ok_or_else(|| UpstreamError::Refused("this login record is damaged".into()))?;
            let login = self.base.resume_oidc_login(url).map_err(|e| upstream_error(&e))?;
            match login.poll().await.map_err(|e| upstream_error(&e))? {
                None => Ok(Progress::Pending),
                Some(token) => {
                    Ok(Progress::Done(self.grant_for(token.secret().clone(), None).await?))
                }
            }
        })
    }

    fn can_refresh(&self) -> bool {
        true
    }

    fn refresh<'a>(&'a self, grant: &'a UpstreamGrant) -> UpstreamFuture<'a, UpstreamGrant> {
        Box::pin(async move {
            let old = grant
                .refresh
                .clone()
                .ok_or_else(|| UpstreamError::Refused("nothing to refresh with".into()))?;
            let token = self
                .base
                .with_bearer_token_as(old, &grant.subject)
                .refresh_oidc_token()
                .await
                .map_err(|e| upstream_error(&e))?;
            self.grant_for(token.secret().clone(), Some(grant.subject.clone())).await
        })
    }

    fn display_name(&self) -> &str {
        &self.display
    }
}

/// The Rucio clients of the users behind the bridge, one per upstream token, so a session's calls
/// reuse one client (and its connections) until the token changes.
#[derive(Clone, Debug)]
pub struct UserClients {
    base: RucioClient,
    clients: PerUser<RucioClient>,
}

impl UserClients {
    pub fn new(base: RucioClient) -> Self {
        Self { base, clients: PerUser::default() }
    }

    /// The client acting as `identity`; and how many clients are held now.
    pub fn client_for(&self, identity: &Identity) -> (RucioClient, usize) {
        let made = self.clients.get_or_make(identity, || {
            Ok::<_, std::convert::Infallible>(
                self.base.with_bearer_token(identity.upstream_token.clone()),
            )
        });
        match made {
            Ok(held) => held,
            Err(never) => match never {},
        }
    }
}

impl UserClients {
    /// The client user clients are made from (its unauthenticated calls serve readiness).
    pub fn base(&self) -> &RucioClient {
        &self.base
    }
}

/// `rucio_token_info`: who the session is, from the verified token alone (no Rucio call).
pub(crate) fn token_info(identity: &Identity, site: &str) -> crate::ToolOutput {
    let now = chrono::Utc::now().timestamp();
    let iso = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_default()
    };
    let client = if identity.client_id.len() > 80 {
        format!("{}…", identity.client_id.chars().take(40).collect::<String>())
    } else {
        identity.client_id.clone()
    };
    let expires_in = (identity.expires_at - now).max(0);
    let rucio_expiry = identity.upstream_expires_at.map(iso);
    let mut text = format!(
        "Signed in as **{}** on site **{site}** (client `{client}`).\n\nThis session's token expires at {} (in {} min); the MCP client renews it by itself.",
        identity.subject,
        iso(identity.expires_at),
        expires_in / 60,
    );
    if let Some(at) = &rucio_expiry {
        text.push_str(&format!(" The Rucio token behind it expires at {at}."));
    }
    text.push_str("\n\nNext: `rucio_whoami` shows the account's details at Rucio.");
    crate::ToolOutput {
        text,
        structured: json!({
            "account": identity.subject,
            "site": site,
            "client_id": client,
            "expires_at": iso(identity.expires_at),
            "expires_in_seconds": expires_in,
            "rucio_token_expires_at": rucio_expiry,
        }),
    }
}
