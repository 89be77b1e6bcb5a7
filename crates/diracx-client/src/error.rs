//! The client's error type: what DiracX said (its `detail`, kept), apart from transport failures.

use std::fmt;

use crate::auth::AuthError;

/// Which part of a request failed before any answer came back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportFailure {
    Connect,
    Timeout,
    /// The connection broke while the body was being read.
    Body,
    Other,
}

impl fmt::Display for TransportFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connect => "cannot connect to",
            Self::Timeout => "timed out talking to",
            Self::Body => "connection broke while reading from",
            Self::Other => "request failed to",
        })
    }
}

/// Everything a DiracX call can fail with. No variant carries a token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// DiracX answered with an error status; `detail` is its explanation, verbatim.
    #[error("DiracX answered {status} to {method} {path}: {detail}")]
    Status { status: u16, method: &'static str, path: String, detail: String },
    /// No answer came back.
    #[error("{failure} DiracX at {url}: {reason}")]
    Transport { failure: TransportFailure, url: String, reason: String },
    /// An answer came back that is not what DiracX sends (a proxy's HTML page, cut JSON).
    #[error("DiracX's answer to {path} is not what DiracX sends: {reason}")]
    UnexpectedAnswer { path: String, reason: String },
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The caller asked for something the client refuses before sending it.
    #[error("{0}")]
    InvalidArgument(String),
    /// The client's own settings (URL, CA file) are unusable.
    #[error("DiracX client settings: {0}")]
    Settings(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The HTTP status DiracX answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The credentials are missing, expired or refused.
    pub fn is_authentication(&self) -> bool {
        matches!(self, Self::Auth(_)) || self.status() == Some(401)
    }

    /// The signed-in user may not do this.
    pub fn is_forbidden(&self) -> bool {
        self.status() == Some(403)
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// Worth trying again later: no answer, or DiracX (or a proxy in front) was unavailable.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transport { .. }) || matches!(self.status(), Some(502..=504))
    }

    pub(crate) fn transport(url: &str, e: &reqwest::Error) -> Self {
        let failure = if e.is_timeout() {
            TransportFailure::Timeout
        } else if e.is_connect() {
            TransportFailure::Connect
        } else if e.is_body() || e.is_decode() {
            TransportFailure::Body
        } else {
            TransportFailure::Other
        };
        // reqwest's message names the URL, never headers: no token can reach it.
        let reason = std::error::Error::source(e).map_or_else(|| e.to_string(), |s| s.to_string());
        Self::Transport { failure, url: strip_query(url), reason }
    }
}

/// DiracX's `detail`: a string, or FastAPI's list of validation errors, made one line.
pub(crate) fn detail_of(body: &[u8]) -> String {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        return if text.is_empty() {
            "no explanation given".to_owned()
        } else {
            text.chars().take(300).collect()
        };
    };
    match value.get("detail") {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(|item| {
                let at = item
                    .get("loc")
                    .and_then(|l| l.as_array())
                    .map(|l| {
                        l.iter()
                            .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_owned))
                            .collect::<Vec<_>>()
                            .join(".")
                    })
                    .unwrap_or_default();
                let msg = item.get("msg").and_then(|m| m.as_str()).unwrap_or("invalid");
                if at.is_empty() { msg.to_owned() } else { format!("{at}: {msg}") }
            })
            .collect::<Vec<_>>()
            .join("; "),
        Some(other) => other.to_string(),
        None => value.to_string().chars().take(300).collect(),
    }
}

/// A URL for messages: presigned S3 URLs carry credentials in their query.
pub(crate) fn strip_query(url: &str) -> String {
    url.split(['?', '#']).next().unwrap_or(url).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detail_keeps_strings_and_flattens_validation_errors() {
        assert_eq!(detail_of(br#"{"detail":"Invalid JWT"}"#), "Invalid JWT");
        let fastapi = br#"{"detail":[{"loc":["body","search",0,"operator"],"msg":"Input should be 'eq'","type":"x"}]}"#;
        assert_eq!(detail_of(fastapi), "body.search.0.operator: Input should be 'eq'");
        assert_eq!(detail_of(b"<html>Bad Gateway</html>"), "<html>Bad Gateway</html>");
        assert_eq!(detail_of(b""), "no explanation given");
    }

    #[test]
    fn messages_never_show_a_query() {
        assert_eq!(strip_query("http://s3/b/k?X-Amz-Signature=abc"), "http://s3/b/k");
    }
}
