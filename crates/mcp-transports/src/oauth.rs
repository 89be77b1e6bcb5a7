//! Sites behind the OAuth bridge: its token check as this crate's [`BearerVerifier`], counted in
//! the bridge's metrics, and its routes mounted next to the MCP endpoint.

use std::sync::Arc;

use mcp_oauth_bridge::{Bridge, BridgeMetrics, Outcome, TokenRejection, TokenVerifier};

use crate::auth::{BearerVerifier, Rejection, VerifyFuture};

/// The bridge's [`TokenVerifier`] at the bearer seam.
pub struct OAuthVerifier {
    verifier: TokenVerifier,
    metrics: BridgeMetrics,
    site: String,
}

impl std::fmt::Debug for OAuthVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthVerifier").field("site", &self.site).finish_non_exhaustive()
    }
}

impl OAuthVerifier {
    pub fn new(bridge: &Bridge) -> Self {
        Self {
            verifier: bridge.verifier(),
            metrics: bridge.metrics().clone(),
            site: bridge.site().to_owned(),
        }
    }
}

const EXPIRED: Rejection =
    Rejection { error: Some("invalid_token"), description: "the access token has expired" };
const WRONG_AUDIENCE: Rejection = Rejection {
    error: Some("invalid_token"),
    description: "the access token was issued for another resource",
};

impl BearerVerifier for OAuthVerifier {
    fn verify<'a>(&'a self, token: &'a str) -> VerifyFuture<'a> {
        let verdict = self.verifier.verify(token);
        Box::pin(async move {
            match verdict {
                Ok(identity) => {
                    let mut extensions = http::Extensions::new();
                    extensions.insert(identity);
                    Ok(extensions)
                }
                Err(rejection) => {
                    self.metrics.count(&self.site, Outcome::BearerRejected);
                    Err(match rejection {
                        TokenRejection::Expired => EXPIRED,
                        TokenRejection::WrongAudience => WRONG_AUDIENCE,
                        TokenRejection::Invalid => Rejection::INVALID,
                    })
                }
            }
        })
    }

    fn challenge(&self, rejection: &Rejection) -> String {
        self.verifier.challenge(rejection.error.map(|error| (error, rejection.description)))
    }
}

/// What a site mounts for the bridge.
pub(crate) fn parts(bridge: &Arc<Bridge>) -> (Arc<dyn BearerVerifier>, axum::Router) {
    (Arc::new(OAuthVerifier::new(bridge)), bridge.router())
}
