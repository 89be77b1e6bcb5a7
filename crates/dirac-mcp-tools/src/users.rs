//! Many users on one server: each tool call runs with the DiracX token of the identity its
//! request carries (put in the request's extensions by the bridge's token check, or by a host
//! service's own), and under the policy of the user that token names.

use std::sync::Arc;

use diracx_client::{DiracxClient, ExposeSecret as _, StaticToken, jwt};
use mcp_oauth_bridge::{Identity, PerUser};

use crate::errors::{ErrorCategory, ToolError};
use crate::identity::DiracUser;

/// The DiracX clients of the users behind the bridge, one per DiracX token.
#[derive(Clone, Debug)]
pub struct DiracUsers {
    /// Holds no token: user clients share its connection pool; readiness pings with it.
    base: DiracxClient,
    clients: PerUser<(DiracxClient, DiracUser)>,
}

impl DiracUsers {
    pub fn new(base: DiracxClient) -> Self {
        Self { base, clients: PerUser::default() }
    }

    pub fn base(&self) -> &DiracxClient {
        &self.base
    }

    /// The client acting as `identity` and the user it names; and how many clients are held.
    ///
    /// The user is read from the token's claims without checking its signature here: the token
    /// reached this server sealed in the bridge's own access token (which only DiracX's token
    /// endpoint filled) or through a verifier that checked it against DiracX's keys. DiracX
    /// checks it again at every call.
    pub fn user_for(
        &self,
        identity: &Identity,
    ) -> Result<((DiracxClient, DiracUser), usize), ToolError> {
        self.clients.get_or_make(identity, || {
            let claims =
                jwt::decode_unverified(identity.upstream_token.expose_secret()).map_err(|_| {
                    ToolError::new(
                        ErrorCategory::Authentication,
                        "the sign-in does not carry a DiracX access token",
                        "Sign in again (the MCP client starts a new login).",
                    )
                })?;
            let token = Arc::new(StaticToken::new(identity.upstream_token.clone()));
            Ok((self.base.with_tokens(token), DiracUser::from_claims(&claims)))
        })
    }
}
