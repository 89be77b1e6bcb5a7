//! The single identity of a stdio (or shared-secret) server: one DiracX client, its user
//! learned once from DiracX, and nothing sent before the first tool call.

use std::sync::Arc;

use diracx_client::{ClientOptions, DiracxClient, TokenSource};
use tokio::sync::Mutex;

use crate::errors::ToolError;
use crate::identity::DiracUser;

#[derive(Debug)]
pub struct DiracSession {
    client: DiracxClient,
    /// Who the token belongs to, as DiracX's userinfo said (asked once, again after a failure).
    user: Mutex<Option<DiracUser>>,
    /// The user the tool list is made for before any network call (from the local credentials'
    /// claims); calls always run with the verified [`DiracSession::user`].
    listing_user: Option<DiracUser>,
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
        Self { client, user: Mutex::new(None), listing_user }
    }

    pub fn client(&self) -> &DiracxClient {
        &self.client
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
        let info = self.client.userinfo().await?;
        let user = DiracUser::from_userinfo(&info);
        *cached = Some(user.clone());
        Ok(user)
    }

    /// Forget the user after DiracX refused the token (a new login may be someone else).
    pub async fn forget_user(&self) {
        *self.user.lock().await = None;
    }
}
