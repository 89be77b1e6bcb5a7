//! The single identity of a stdio (or shared-secret) server: one DiracX client, its user
//! learned once from DiracX, and nothing sent before the first tool call.

use std::sync::Arc;
use std::time::Duration;

use diracx_client::credentials::CredentialsFile;
use diracx_client::oidc::{DeviceLogin, DiracMetadata, Discovery, login_scope};
use diracx_client::{ClientOptions, DiracxClient, HttpClient, TokenSource};
use tokio::sync::{Mutex, watch};

use crate::errors::{ErrorCategory, ToolError};
use crate::identity::DiracUser;
pub use mcp_login_flow::LoginState;

/// How long a device login may wait for the user before it is given up.
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(600);

/// What the server needs to sign the user in itself (the device flow), keeping the login where
/// the `dirac` command line keeps it.
#[derive(Clone, Debug)]
pub struct DeviceLoginSettings {
    pub http: HttpClient,
    pub client_id: String,
    pub file: CredentialsFile,
    /// The VO and group to ask for; default: the local login's, else the server's only VO.
    pub vo: Option<String>,
    pub group: Option<String>,
}

/// A device login in progress: the link the user opens, and how it stands.
#[derive(Clone, Debug)]
pub struct PendingLogin {
    /// The verification link with the code in it.
    pub url: String,
    pub user_code: String,
    pub state: watch::Receiver<LoginState>,
}

/// What a session reaches DiracX with.
#[derive(Debug)]
pub struct Connection {
    pub client: DiracxClient,
    /// Set to let a tool call that finds no login start one.
    pub device_login: Option<DeviceLoginSettings>,
}

/// Makes the [`Connection`] at the first tool call: building an HTTP client loads the system's
/// CA certificates, milliseconds that `initialize` and `tools/list` need not wait for.
pub type Connect = Box<dyn Fn() -> Result<Connection, String> + Send + Sync>;

pub struct DiracSession {
    connect: Option<Connect>,
    connection: std::sync::OnceLock<Connection>,
    /// Who the token belongs to, as DiracX's userinfo said (asked once, again after a failure).
    user: Mutex<Option<DiracUser>>,
    /// The user the tool list is made for before any network call (from the local credentials'
    /// claims); calls always run with the verified [`DiracSession::user`].
    listing_user: Option<DiracUser>,
    login: Mutex<Option<PendingLogin>>,
}

impl std::fmt::Debug for DiracSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiracSession")
            .field("connection", &self.connection.get())
            .field("listing_user", &self.listing_user)
            .finish_non_exhaustive()
    }
}

impl DiracSession {
    /// No request is sent here: the first goes out with the first tool call.
    pub fn new(
        url: &str,
        tokens: Arc<dyn TokenSource>,
        options: &ClientOptions,
        listing_user: Option<DiracUser>,
    ) -> Result<Self, diracx_client::Error> {
        Ok(Self::with_client(DiracxClient::new(url, tokens, options)?, listing_user))
    }

    pub fn with_client(client: DiracxClient, listing_user: Option<DiracUser>) -> Self {
        let connection = std::sync::OnceLock::new();
        let _ = connection.set(Connection { client, device_login: None });
        Self {
            connect: None,
            connection,
            user: Mutex::new(None),
            listing_user,
            login: Mutex::new(None),
        }
    }

    /// A session that connects at its first tool call.
    pub fn connecting(listing_user: Option<DiracUser>, connect: Connect) -> Self {
        Self {
            connect: Some(connect),
            connection: std::sync::OnceLock::new(),
            user: Mutex::new(None),
            listing_user,
            login: Mutex::new(None),
        }
    }

    /// Lets a tool call that finds no login start one (the device flow).
    pub fn with_device_login(mut self, settings: DeviceLoginSettings) -> Self {
        if let Some(connection) = self.connection.get_mut() {
            connection.device_login = Some(settings);
        }
        self
    }

    pub fn can_log_in(&self) -> bool {
        self.connection.get().is_some_and(|c| c.device_login.is_some())
    }

    fn connection(&self) -> Result<&Connection, ToolError> {
        if let Some(connection) = self.connection.get() {
            return Ok(connection);
        }
        let Some(connect) = &self.connect else {
            return Err(ToolError::new(
                ErrorCategory::Server,
                "the session has no DiracX connection",
                "",
            ));
        };
        let made = connect().map_err(|e| {
            ToolError::new(
                ErrorCategory::Server,
                format!("cannot set up the DiracX client: {e}"),
                "Check the server's DiracX settings (DIRACX_URL, DIRACX_CA_PATH).",
            )
        })?;
        // Two first calls at once: one connection wins, the other is dropped.
        let _ = self.connection.set(made);
        self.connection.get().ok_or_else(|| {
            ToolError::new(ErrorCategory::Server, "the DiracX connection went away", "")
        })
    }

    /// The login in progress, or a new one whose wait runs in the background (so a client that
    /// only shows the link succeeds on its next call after the user signed in).
    pub async fn login(&self) -> Result<PendingLogin, ToolError> {
        let connection = self.connection()?;
        let Some(settings) = &connection.device_login else {
            return Err(not_logged_in("this server cannot sign you in itself"));
        };
        let mut guard = self.login.lock().await;
        if let Some(pending) = guard.as_ref()
            && *pending.state.borrow() == LoginState::Waiting
        {
            return Ok(pending.clone());
        }
        let base = connection.client.url();
        let unreachable = |e: diracx_client::AuthError| {
            ToolError::new(
                ErrorCategory::Network,
                format!("cannot start the DiracX login: {e}"),
                "Try again in a minute.",
            )
        };
        let (discovery, metadata) = tokio::try_join!(
            Discovery::fetch(&settings.http, base),
            DiracMetadata::fetch(&settings.http, base)
        )
        .map_err(unreachable)?;
        let vos: Vec<&str> = metadata.vo_names().collect();
        let vo = match (&settings.vo, self.listing_user.as_ref(), vos.as_slice()) {
            (Some(vo), _, _) => vo.clone(),
            (None, Some(user), _) if !user.vo.is_empty() => user.vo.clone(),
            (None, _, [only]) => (*only).to_owned(),
            (None, _, several) => {
                return Err(not_logged_in(&format!(
                    "this DiracX has several VOs ({}); sign in with `dirac-mcp login <VO>`",
                    several.join(", ")
                )));
            }
        };
        let group = settings.group.clone().or_else(|| {
            self.listing_user.as_ref().map(|u| u.group.clone()).filter(|g| !g.is_empty())
        });
        let scope = login_scope::<&str>(&vo, group.as_deref(), &[]);
        let device = DeviceLogin::start(&settings.http, &discovery, &settings.client_id, &scope)
            .await
            .map_err(unreachable)?;
        let (tx, rx) = watch::channel(LoginState::Waiting);
        let pending = PendingLogin {
            url: device.verification_uri_complete.clone(),
            user_code: device.user_code.clone(),
            state: rx,
        };
        let file = settings.file.clone();
        tokio::spawn(async move {
            let outcome = match tokio::time::timeout(LOGIN_TIMEOUT, device.wait()).await {
                Ok(Ok(tokens)) => match file.write(&tokens).await {
                    Ok(_) => LoginState::Done,
                    Err(e) => LoginState::Failed(e.to_string()),
                },
                Ok(Err(e)) => LoginState::Failed(e.to_string()),
                Err(_) => LoginState::Failed("nobody signed in within 10 minutes".into()),
            };
            tracing::info!(?outcome, "DiracX device login finished");
            let _ = tx.send(outcome);
        });
        *guard = Some(pending.clone());
        Ok(pending)
    }

    /// The login in progress, if any, without starting one.
    pub async fn pending_login(&self) -> Option<PendingLogin> {
        self.login.lock().await.clone()
    }

    /// The DiracX client (made now, at the first call).
    pub fn client(&self) -> Result<&DiracxClient, ToolError> {
        self.connection().map(|c| &c.client)
    }

    pub fn listing_user(&self) -> Option<&DiracUser> {
        self.listing_user.as_ref()
    }

    /// The signed-in user, verified by DiracX.
    pub async fn user(&self) -> Result<DiracUser, ToolError> {
        let mut cached = self.user.lock().await;
        if let Some(user) = cached.as_ref() {
            return Ok(user.clone());
        }
        let info = self.client()?.userinfo().await?;
        let user = DiracUser::from_userinfo(&info);
        *cached = Some(user.clone());
        Ok(user)
    }

    /// Forget the user after DiracX refused the token (a new login may be someone else).
    pub async fn forget_user(&self) {
        *self.user.lock().await = None;
    }
}

fn not_logged_in(why: &str) -> ToolError {
    ToolError::new(
        ErrorCategory::Authentication,
        format!("not signed in to DiracX: {why}"),
        "Ask the user to run `dirac login` (or `dirac-mcp login`) in a terminal, then call the tool again.",
    )
}

/// The error shown when the user has to open the login link and retry.
pub fn login_needed(pending: &PendingLogin) -> ToolError {
    ToolError::new(
        ErrorCategory::Authentication,
        format!(
            "sign in to DiracX first: open {} in a browser and confirm the code {}",
            pending.url, pending.user_code
        ),
        "Show the link to the user. Once they have signed in, call the same tool again.",
    )
}
