//! Sites behind the OAuth bridge: its token check (sealed tokens, and a trusted issuer's JWTs
//! when the bridge is configured with one) as this crate's [`BearerVerifier`], counted in the
//! bridge's metrics, and its routes mounted next to the MCP endpoint. Sites in resource-server
//! mode: the [`ResourceServer`] check of an external issuer's tokens at the same seam.

use std::sync::Arc;

use mcp_oauth_bridge::{
    Bridge, BridgeMetrics, Outcome, ResourceServer, TokenRejection, TokenVerifier,
};

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

/// The seam's refusal for a bridge verdict.
fn refusal(rejection: TokenRejection) -> Rejection {
    match rejection {
        TokenRejection::Invalid => Rejection::INVALID,
        other => Rejection {
            error: other.error_code(),
            description: other.description(),
            status: other.status(),
        },
    }
}

impl BearerVerifier for OAuthVerifier {
    fn verify<'a>(&'a self, token: &'a str) -> VerifyFuture<'a> {
        Box::pin(async move {
            match self.verifier.check(token).await {
                Ok(identity) => {
                    let mut extensions = http::Extensions::new();
                    extensions.insert(identity);
                    Ok(extensions)
                }
                Err(rejection) => {
                    self.metrics.count(&self.site, Outcome::BearerRejected);
                    Err(refusal(rejection))
                }
            }
        })
    }

    fn challenge(&self, rejection: &Rejection) -> String {
        self.verifier.challenge(rejection.error.map(|error| (error, rejection.description)))
    }
}

/// An external issuer's tokens (resource-server mode) at the bearer seam.
pub struct ResourceServerVerifier {
    server: Arc<ResourceServer>,
}

impl std::fmt::Debug for ResourceServerVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResourceServerVerifier").field("site", &self.server.site()).finish()
    }
}

impl ResourceServerVerifier {
    pub fn new(server: Arc<ResourceServer>) -> Self {
        Self { server }
    }
}

impl BearerVerifier for ResourceServerVerifier {
    fn verify<'a>(&'a self, token: &'a str) -> VerifyFuture<'a> {
        Box::pin(async move {
            let identity = self.server.verify(token).await.map_err(refusal)?;
            let mut extensions = http::Extensions::new();
            extensions.insert(identity);
            Ok(extensions)
        })
    }

    fn challenge(&self, rejection: &Rejection) -> String {
        self.server.challenge(rejection.error.map(|error| (error, rejection.description)))
    }
}

/// What a site mounts for the bridge.
pub(crate) fn parts(bridge: &Arc<Bridge>) -> (Arc<dyn BearerVerifier>, axum::Router) {
    (Arc::new(OAuthVerifier::new(bridge)), bridge.router())
}

#[cfg(test)]
mod tests {
    use http::StatusCode;

    use super::*;

    #[test]
    fn bridge_verdicts_keep_their_status() {
        assert_eq!(refusal(TokenRejection::Invalid), Rejection::INVALID);
        let expired = refusal(TokenRejection::Expired);
        assert_eq!(
            (expired.status, expired.error),
            (StatusCode::UNAUTHORIZED, Some("invalid_token"))
        );
        let scope = refusal(TokenRejection::InsufficientScope);
        assert_eq!(
            (scope.status, scope.error),
            (StatusCode::FORBIDDEN, Some("insufficient_scope"))
        );
        let down = refusal(TokenRejection::Unavailable);
        assert_eq!((down.status, down.error), (StatusCode::SERVICE_UNAVAILABLE, None));
    }
}
