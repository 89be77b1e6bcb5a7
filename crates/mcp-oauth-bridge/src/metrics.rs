//! The bridge's metrics, under a prefix the embedding server chooses (`rucio_mcp` keeps
//! rucio-mcp's names): `{prefix}_bridge_auth_total{site,outcome}` and
//! `{prefix}_bridge_sessions{site,status}`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    site: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    site: String,
    status: &'static str,
}

/// What happened in an authorization step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A client registered dynamically.
    Registered,
    /// A registration refused by the rate limit.
    RegistrationLimited,
    /// The user allowed the client and the upstream login began.
    LoginStarted,
    /// The user refused the client.
    Denied,
    /// The upstream login finished and a code went to the client.
    Authorized,
    /// The upstream login failed or did not finish in time.
    LoginFailed,
    /// A code was exchanged for tokens.
    TokenIssued,
    /// A refresh token was exchanged for new tokens.
    Refreshed,
    /// `/token` refused a code or refresh token (replayed, expired, wrong PKCE, ...).
    GrantRefused,
    /// A request to the MCP endpoint carried a bearer this server does not accept.
    BearerRejected,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Registered => "registered",
            Self::RegistrationLimited => "registration_limited",
            Self::LoginStarted => "login_started",
            Self::Denied => "denied",
            Self::Authorized => "authorized",
            Self::LoginFailed => "login_failed",
            Self::TokenIssued => "token_issued",
            Self::Refreshed => "refreshed",
            Self::GrantRefused => "grant_refused",
            Self::BearerRejected => "bearer_rejected",
        }
    }
}

/// The bridge's counters (cheap to clone; clones share them).
#[derive(Clone, Debug, Default)]
pub struct BridgeMetrics {
    auth: Family<OutcomeLabels, Counter>,
    sessions: Family<StatusLabels, Gauge>,
}

impl BridgeMetrics {
    /// Adds the metrics to `registry` as `{prefix}_bridge_…`.
    pub fn register(&self, registry: &mut Registry, prefix: &str) {
        registry.register(
            format!("{prefix}_bridge_auth"),
            "OAuth bridge events, by site and outcome",
            self.auth.clone(),
        );
        registry.register(
            format!("{prefix}_bridge_sessions"),
            "Upstream logins in progress in this process, by site and status",
            self.sessions.clone(),
        );
    }

    pub fn count(&self, site: &str, outcome: Outcome) {
        self.auth
            .get_or_create(&OutcomeLabels { site: site.to_owned(), outcome: outcome.as_str() })
            .inc();
    }

    pub(crate) fn pending(&self, site: &str) -> Gauge {
        self.sessions
            .get_or_create(&StatusLabels { site: site.to_owned(), status: "pending" })
            .clone()
    }
}
