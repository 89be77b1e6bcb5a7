//! Signing the user in from inside an MCP tool call, the same way for every backend: the login
//! runs in the background (Rucio's OIDC poll, DiracX's device flow) and reports through a
//! [`LoginState`] channel; this crate hands its link to the user through the MCP client (URL-mode
//! elicitation) and keeps the request alive with progress notifications while it waits.
//!
//! It depends on rmcp and tokio only, and knows no backend and no transport.

use std::time::{Duration, Instant};

use rmcp::RoleServer;
use rmcp::model::{
    CustomNotification, ElicitationAction, ProgressNotificationParam, ServerNotification,
};
use rmcp::service::{ElicitationError, RequestContext};
use serde_json::json;
use tokio::sync::watch;

/// How often a waiting login reports progress (clients reset their request timeout on it).
pub const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Where a login started by a tool call stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoginState {
    Waiting,
    Done,
    Failed(String),
}

/// What the client did with the login link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elicited {
    /// The user opened it; wait for the login.
    Accepted,
    /// The user declined or cancelled.
    Declined,
    /// The client cannot show it (no URL elicitation, or the request failed): put the link in
    /// the tool result instead.
    Unsupported,
}

/// Whether the client declared URL-mode elicitation.
pub fn client_takes_urls(context: &RequestContext<RoleServer>) -> bool {
    context.client_capabilities().and_then(|c| c.elicitation).is_some_and(|e| e.url.is_some())
}

/// Asks the client to send the user to `url` (an `elicitation/create` request in URL mode).
pub async fn elicit_url(
    context: &RequestContext<RoleServer>,
    message: String,
    url: url::Url,
    elicitation_id: &str,
) -> Elicited {
    if !client_takes_urls(context) {
        return Elicited::Unsupported;
    }
    match context.peer.elicit_url(message, url, elicitation_id.to_owned()).await {
        Ok(ElicitationAction::Accept) => Elicited::Accepted,
        Ok(_) | Err(ElicitationError::UserDeclined | ElicitationError::UserCancelled) => {
            Elicited::Declined
        }
        Err(e) => {
            tracing::debug!(error = %e, "URL elicitation failed; falling back to the link in the result");
            Elicited::Unsupported
        }
    }
}

/// Tells the client that the elicited login is complete.
pub async fn elicitation_complete(context: &RequestContext<RoleServer>, elicitation_id: &str) {
    let _ = context
        .peer
        .send_notification(ServerNotification::CustomNotification(CustomNotification::new(
            "notifications/elicitation/complete",
            Some(json!({ "elicitationId": elicitation_id })),
        )))
        .await;
}

/// Why a wait for a login ended without it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WaitEnd {
    /// The login failed, with its reason.
    Failed(String),
    /// It took longer than allowed, or the background task went away without a verdict.
    GaveUp,
}

/// Waits for the background login, sending progress notifications (`waiting for the {what}
/// login in the browser (N s)`) where the request asked for them.
pub async fn wait_for_login(
    state: &watch::Receiver<LoginState>,
    context: &RequestContext<RoleServer>,
    what: &str,
    timeout: Duration,
) -> Result<(), WaitEnd> {
    let progress = context.meta.get_progress_token();
    let started = Instant::now();
    let mut state = state.clone();
    let mut step = 0u32;
    loop {
        let current = state.borrow().clone();
        match current {
            LoginState::Done => return Ok(()),
            LoginState::Failed(reason) => return Err(WaitEnd::Failed(reason)),
            LoginState::Waiting => {}
        }
        if let Some(token) = &progress {
            step += 1;
            let waited = started.elapsed().as_secs();
            let _ = context
                .peer
                .notify_progress(
                    ProgressNotificationParam::new(token.clone(), f64::from(step)).with_message(
                        format!("waiting for the {what} login in the browser ({waited} s)"),
                    ),
                )
                .await;
        }
        let gone =
            tokio::time::timeout(PROGRESS_EVERY, state.changed()).await.is_ok_and(|r| r.is_err());
        if (gone && *state.borrow() == LoginState::Waiting) || started.elapsed() > timeout {
            return Err(WaitEnd::GaveUp);
        }
    }
}
