//! The Rucio side of one MCP session: the client (built at the first tool call, never before, so
//! `initialize` and `tools/list` need no network) and the OIDC login that a tool call may start.

use std::time::Duration;

use rucio_client::{AuthType, RucioClient, RucioConfig};
use tokio::sync::{Mutex, OnceCell, watch};

use crate::errors::{ErrorCategory, ToolError};

/// How long a started login keeps polling Rucio (Rucio's own login requests expire after 5 minutes).
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(300);
const POLL_INTERVAL: Duration = Duration::from_secs(2);

pub use mcp_login_flow::LoginState;

/// An OIDC login in progress: the URL the user must open and the state of the background poll.
#[derive(Clone, Debug)]
pub struct PendingLogin {
    pub url: url::Url,
    pub state: watch::Receiver<LoginState>,
}

/// The Rucio client of a session and its login.
pub struct RucioSession {
    /// The configuration the client is built from; tools that must work without a client (the
    /// proxy diagnosis) read it directly.
    config: RucioConfig,
    client: OnceCell<RucioClient>,
    login: Mutex<Option<PendingLogin>>,
}

impl std::fmt::Debug for RucioSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RucioSession").field("client", &self.client.get()).finish_non_exhaustive()
    }
}

impl RucioSession {
    /// A session whose client is built from `config` at the first tool call.
    pub fn from_config(config: RucioConfig) -> Self {
        Self { config, client: OnceCell::new(), login: Mutex::new(None) }
    }

    /// A session around an existing client (the HTTP bridge's per-user clients).
    pub fn with_client(client: RucioClient) -> Self {
        Self {
            config: client.config().clone(),
            client: OnceCell::new_with(Some(client)),
            login: Mutex::new(None),
        }
    }

    pub fn config(&self) -> &RucioConfig {
        &self.config
    }

    /// The client, built now if this is the first call.
    pub async fn client(&self) -> Result<RucioClient, ToolError> {
        self.client
            .get_or_try_init(|| async { RucioClient::new(self.config.clone()) })
            .await
            .cloned()
            .map_err(ToolError::from)
    }

    /// Whether a failed call can be cured by an interactive login.
    pub async fn can_log_in(&self) -> bool {
        match self.client.get() {
            Some(client) => client.auth_type() == AuthType::Oidc,
            None => false,
        }
    }

    /// The login in progress, or a new one (with its background poll) when there is none or the
    /// last one failed or finished without curing the session.
    pub async fn login(&self) -> Result<PendingLogin, ToolError> {
        let mut guard = self.login.lock().await;
        if let Some(pending) = guard.as_ref()
            && *pending.state.borrow() == LoginState::Waiting
        {
            return Ok(pending.clone());
        }
        let client = self.client().await?;
        let login = client.start_oidc_login().await.map_err(ToolError::from)?;
        let (tx, rx) = watch::channel(LoginState::Waiting);
        let pending = PendingLogin { url: login.login_url().clone(), state: rx };
        tokio::spawn(async move {
            let outcome = match login.wait(LOGIN_TIMEOUT, POLL_INTERVAL).await {
                Ok(_) => LoginState::Done,
                Err(e) => LoginState::Failed(e.to_string()),
            };
            tracing::info!(?outcome, "OIDC login finished");
            let _ = tx.send(outcome);
        });
        *guard = Some(pending.clone());
        Ok(pending)
    }

    /// The login in progress, if any, without starting one.
    pub async fn pending_login(&self) -> Option<PendingLogin> {
        self.login.lock().await.clone()
    }
}

/// The error shown when the user has to open the login URL and retry.
pub fn login_needed(url: &url::Url, site: &str) -> ToolError {
    ToolError::new(
        ErrorCategory::Authentication,
        format!(
            "sign in to Rucio ({site}) first: open {url} in a browser and log in with your identity provider"
        ),
        "Show the link to the user. Once they have signed in (the link stays valid for 5 minutes), call the same tool again.",
    )
}
