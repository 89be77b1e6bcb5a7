//! Tool errors: what went wrong, in which category, and what the model should do next.
//!
//! Classification happens here, in one place, from the typed `diracx_client::Error`.

use std::fmt;

use diracx_client::{AuthError, Error as DiracxError};

/// The error categories of dirac-mcp (the `category` of a failed call in logs and metrics).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorCategory {
    /// Not signed in, or the login expired or was refused.
    Authentication,
    /// Our policy or DiracX refused: the user may not do this.
    PermissionDenied,
    NotFound,
    /// A bad argument: the call never reached DiracX.
    InvalidArgument,
    /// DiracX is unreachable, too slow, or something in front of it failed.
    Network,
    /// DiracX answered, but with an error of its own.
    Server,
    ReadOnly,
}

impl ErrorCategory {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Authentication => "authentication",
            Self::PermissionDenied => "permission_denied",
            Self::NotFound => "not_found",
            Self::InvalidArgument => "invalid_argument",
            Self::Network => "network",
            Self::Server => "server",
            Self::ReadOnly => "read_only",
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

    /// Refused by the access policy, before DiracX saw the request.
    pub fn refused(message: impl Into<String>) -> Self {
        Self::new(
            ErrorCategory::PermissionDenied,
            message,
            "Only act on jobs the signed-in user owns (find them with `dirac_search_jobs`); `dirac_whoami` shows who that is and what they may do.",
        )
    }

    /// The markdown text of the error result.
    pub fn to_text(&self) -> String {
        if self.hint.is_empty() {
            format!("Error ({}): {}", self.category, self.message)
        } else {
            format!("Error ({}): {}\n\n**What to do:** {}", self.category, self.message, self.hint)
        }
    }

    /// The `structuredContent` of the error result, for programs.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "error": { "category": self.category.as_str(), "message": self.message, "hint": self.hint } })
    }
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.category, self.message)
    }
}

impl From<DiracxError> for ToolError {
    fn from(err: DiracxError) -> Self {
        let message = err.to_string();
        let (category, hint) = match &err {
            DiracxError::Auth(AuthError::NotLoggedIn(_)) => (
                ErrorCategory::Authentication,
                "Sign in to DiracX: run `dirac login` (or `dirac-mcp login`) in a terminal, then call the tool again.",
            ),
            DiracxError::Auth(_) => (
                ErrorCategory::Authentication,
                "The DiracX login is no longer valid: run `dirac login` (or `dirac-mcp login`) again, then retry.",
            ),
            _ if err.is_authentication() => (
                ErrorCategory::Authentication,
                "DiracX refused the access token: sign in again (`dirac login` or `dirac-mcp login`), then retry.",
            ),
            _ if err.is_forbidden() => (
                ErrorCategory::PermissionDenied,
                "DiracX refused this for the signed-in user: only the job's owner (or a job administrator) may do it. Check with `dirac_whoami`.",
            ),
            _ if err.is_not_found() => {
                (ErrorCategory::NotFound, "Nothing by that id: find jobs with `dirac_search_jobs`.")
            }
            DiracxError::Transport { .. } | DiracxError::UnexpectedAnswer { .. } => (
                ErrorCategory::Network,
                "DiracX could not be reached or answered garbage; try again in a minute, and tell the user if it persists.",
            ),
            _ if err.is_transient() => {
                (ErrorCategory::Network, "DiracX is unavailable right now; try again in a minute.")
            }
            DiracxError::Status { status: 400 | 422, .. } => (
                ErrorCategory::InvalidArgument,
                "DiracX refused the request as given; read its explanation above and correct the arguments.",
            ),
            DiracxError::InvalidArgument(_) => {
                (ErrorCategory::InvalidArgument, "Correct the arguments and retry.")
            }
            DiracxError::Settings(_) => (
                ErrorCategory::Server,
                "The server's DiracX settings are wrong (DIRACX_URL, DIRACX_CA_PATH); tell the user.",
            ),
            _ => (
                ErrorCategory::Server,
                "DiracX failed on its side; retry later, and tell the user if it persists.",
            ),
        };
        Self::new(category, message, hint)
    }
}
