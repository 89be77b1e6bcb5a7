//! Tool errors: what went wrong, in which category, and what the model should do next.
//!
//! Classification happens here, in one place, from the typed `rucio_client::Error` (never by
//! matching message text, which changes between Rucio versions).

use std::fmt;

use rucio_client::{Error as RucioError, RucioErrorKind, TransportFailure};

/// The error categories of rucio-mcp, used as the `category` label of
/// `rucio_mcp_tool_errors_total` so existing dashboards keep working.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorCategory {
    DidNotFound,
    RseNotFound,
    RuleNotFound,
    DuplicateRule,
    Quota,
    AccessDenied,
    SslProxy,
    Network,
    /// A bad argument: the call never reached Rucio.
    InvalidArgument,
    /// A login is needed or is in progress.
    Authentication,
    ReadOnly,
    Other,
}

impl ErrorCategory {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::DidNotFound => "did_not_found",
            Self::RseNotFound => "rse_not_found",
            Self::RuleNotFound => "rule_not_found",
            Self::DuplicateRule => "duplicate_rule",
            Self::Quota => "quota",
            Self::AccessDenied => "access_denied",
            Self::SslProxy => "ssl_proxy",
            Self::Network => "network",
            Self::InvalidArgument => "invalid_argument",
            Self::Authentication => "authentication",
            Self::ReadOnly => "read_only",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for ErrorCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed tool call, shown to the model as an `isError` result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolError {
    pub category: ErrorCategory,
    pub message: String,
    pub hint: String,
}

impl ToolError {
    pub fn new(
        category: ErrorCategory,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Self { category, message: message.into(), hint: hint.into() }
    }

    /// A bad argument, with what a good one looks like.
    pub fn argument(message: impl Into<String>, example: impl Into<String>) -> Self {
        Self::new(ErrorCategory::InvalidArgument, message, example)
    }

    /// The markdown text of the error result.
    pub fn to_text(&self) -> String {
        if self.hint.is_empty() {
            format!("Error ({}): {}", self.category, self.message)
        } else {
            format!("Error ({}): {}\n\n**Recovery:** {}", self.category, self.message, self.hint)
        }
    }
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.category, self.message)
    }
}

impl From<RucioError> for ToolError {
    fn from(err: RucioError) -> Self {
        let message = err.to_string();
        let (category, hint) = match &err {
            RucioError::Server { kind, .. } => match kind {
                RucioErrorKind::DataIdentifierNotFound => (
                    ErrorCategory::DidNotFound,
                    "The DID does not exist (check scope and name). Search with `rucio_list_dids` and a wildcard pattern, e.g. `scope:*part_of_name*`.",
                ),
                RucioErrorKind::RseNotFound | RucioErrorKind::InvalidRseExpression => (
                    ErrorCategory::RseNotFound,
                    "No RSE matches. Use `rucio_list_rses` (optionally with an expression) to find valid names, and `rucio_list_rse_attributes` for the keys expressions can use.",
                ),
                RucioErrorKind::RuleNotFound => (
                    ErrorCategory::RuleNotFound,
                    "The rule does not exist or was deleted. Use `rucio_list_did_rules <did>` or `rucio_list_account_rules` to find rule ids.",
                ),
                RucioErrorKind::DuplicateRule => (
                    ErrorCategory::DuplicateRule,
                    "An identical rule exists already. Use `rucio_list_did_rules <did>` to find it; change it with `rucio_update_rule` instead of adding another.",
                ),
                RucioErrorKind::InsufficientAccountLimit => (
                    ErrorCategory::Quota,
                    "The account's quota at the target RSEs is too small. Check it with `rucio_get_local_account_limits` and `rucio_get_local_account_usage`, or choose RSEs where quota remains.",
                ),
                RucioErrorKind::AccessDenied => (
                    ErrorCategory::AccessDenied,
                    "This account may not do that. Use `rucio_whoami` to see which account this session acts as.",
                ),
                RucioErrorKind::CannotAuthenticate => (
                    ErrorCategory::AccessDenied,
                    "Rucio rejected the credentials. Check them (`rucio_whoami` retries the login); with x509_proxy, `rucio_voms_proxy_info` shows whether the proxy expired.",
                ),
                RucioErrorKind::AccountNotFound => (
                    ErrorCategory::Other,
                    "The account does not exist. `rucio_list_accounts` lists accounts; leave `account` empty for your own.",
                ),
                RucioErrorKind::ScopeNotFound => (
                    ErrorCategory::DidNotFound,
                    "The scope does not exist. `rucio_list_scopes` lists the scopes.",
                ),
                _ => (ErrorCategory::Other, ""),
            },
            RucioError::Transport { failure: TransportFailure::Tls, .. } => (
                ErrorCategory::SslProxy,
                "TLS with the Rucio server failed: check the CA certificates (ca_cert, X509_CERT_DIR) and, for x509, the certificate or proxy (`rucio_voms_proxy_info`).",
            ),
            RucioError::Transport { .. } => (
                ErrorCategory::Network,
                "The Rucio server could not be reached or did not answer in time; this may be transient. Check with `rucio_ping` and try again.",
            ),
            RucioError::InvalidResponse { status, .. } if *status >= 500 => (
                ErrorCategory::Network,
                "The Rucio server failed on this request; this may be transient. Try again, or check with `rucio_ping`.",
            ),
            RucioError::InvalidResponse { .. } => (ErrorCategory::Other, ""),
            RucioError::Credentials(text)
                if text.contains("proxy")
                    || text.contains("certificate")
                    || text.contains("key") =>
            {
                (
                    ErrorCategory::SslProxy,
                    "The local certificate, key or proxy cannot be used: renew the proxy (`voms-proxy-init -bits 2048`) and check the paths in the Rucio configuration. `rucio_voms_proxy_info` shows the proxy.",
                )
            }
            RucioError::Credentials(_) | RucioError::Config(_) => (
                ErrorCategory::Other,
                "The Rucio configuration of this server needs fixing (see the message); the user must change it and restart the server.",
            ),
            RucioError::LoginRequired { .. } | RucioError::LoginTimedOut(_) => (
                ErrorCategory::Authentication,
                "A login is needed: call any tool again to get the login link, sign in in the browser, then retry.",
            ),
            RucioError::InvalidArgument(_) => (ErrorCategory::InvalidArgument, ""),
            _ => (ErrorCategory::Other, ""),
        };
        Self { category, message, hint: hint.to_owned() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(kind: RucioErrorKind, class: &str) -> RucioError {
        RucioError::Server { kind, class: class.into(), message: "m".into(), status: 404 }
    }

    #[test]
    fn categories_follow_rucio_mcp() {
        let cases = [
            (
                server(RucioErrorKind::DataIdentifierNotFound, "DataIdentifierNotFound"),
                "did_not_found",
            ),
            (server(RucioErrorKind::RseNotFound, "RSENotFound"), "rse_not_found"),
            (server(RucioErrorKind::RuleNotFound, "RuleNotFound"), "rule_not_found"),
            (server(RucioErrorKind::DuplicateRule, "DuplicateRule"), "duplicate_rule"),
            (server(RucioErrorKind::InsufficientAccountLimit, "InsufficientAccountLimit"), "quota"),
            (server(RucioErrorKind::AccessDenied, "AccessDenied"), "access_denied"),
            (server(RucioErrorKind::Other, "Weird"), "other"),
            (RucioError::LoginRequired { account: "a".into() }, "authentication"),
        ];
        for (err, category) in cases {
            let tool = ToolError::from(err);
            assert_eq!(tool.category.as_str(), category);
            assert!(
                tool.to_text().starts_with(&format!("Error ({category}): ")),
                "{}",
                tool.to_text()
            );
        }
        let hinted = ToolError::from(server(
            RucioErrorKind::DataIdentifierNotFound,
            "DataIdentifierNotFound",
        ));
        assert!(
            hinted.to_text().contains("**Recovery:**") && hinted.hint.contains("rucio_list_dids")
        );
    }
}
