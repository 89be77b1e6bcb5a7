//! The client's error type: what the Rucio server said, kept apart from transport failures.

use std::fmt;

use crate::config::ConfigError;

/// The exception classes of the Rucio server that callers act on; the rest are `Other`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RucioErrorKind {
    DataIdentifierNotFound,
    DataIdentifierAlreadyExists,
    RseNotFound,
    RuleNotFound,
    DuplicateRule,
    AccessDenied,
    InsufficientAccountLimit,
    InsufficientTargetRses,
    InvalidRseExpression,
    CannotAuthenticate,
    AccountNotFound,
    ScopeNotFound,
    SubscriptionNotFound,
    RequestNotFound,
    InvalidObject,
    InvalidValueForKey,
    KeyNotFound,
    UnsupportedOperation,
    UnsupportedRequestedContentType,
    /// Any other server exception class, kept verbatim in [`Error::Server::class`].
    Other,
}

impl RucioErrorKind {
    /// Maps Rucio's `ExceptionClass` name.
    pub fn from_class(class: &str) -> Self {
        match class {
            "DataIdentifierNotFound" => Self::DataIdentifierNotFound,
            "DataIdentifierAlreadyExists" => Self::DataIdentifierAlreadyExists,
            "RSENotFound" => Self::RseNotFound,
            "RuleNotFound" => Self::RuleNotFound,
            "DuplicateRule" => Self::DuplicateRule,
            "AccessDenied" => Self::AccessDenied,
            "InsufficientAccountLimit" | "InsufficientQuota" => Self::InsufficientAccountLimit,
            "InsufficientTargetRSEs" => Self::InsufficientTargetRses,
            "InvalidRSEExpression" => Self::InvalidRseExpression,
            "CannotAuthenticate" | "CannotAuthorize" => Self::CannotAuthenticate,
            "AccountNotFound" => Self::AccountNotFound,
            "ScopeNotFound" => Self::ScopeNotFound,
            "SubscriptionNotFound" => Self::SubscriptionNotFound,
            "RequestNotFound" => Self::RequestNotFound,
            "InvalidObject" => Self::InvalidObject,
            "InvalidValueForKey" => Self::InvalidValueForKey,
            "KeyNotFound" => Self::KeyNotFound,
            "UnsupportedOperation" => Self::UnsupportedOperation,
            "UnsupportedRequestedContentType" => Self::UnsupportedRequestedContentType,
            _ => Self::Other,
        }
    }
}

/// Which part of a request failed before any answer came back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportFailure {
    Connect,
    Timeout,
    Tls,
    /// The connection broke while the body was being read.
    Body,
    Other,
}

impl fmt::Display for TransportFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connect => "cannot connect to",
            Self::Timeout => "timed out talking to",
            Self::Tls => "TLS handshake failed with",
            Self::Body => "connection broke while reading from",
            Self::Other => "request failed to",
        })
    }
}

/// Everything that can go wrong talking to Rucio.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with one of its exceptions; `message` is the server's own text.
    #[error("{class}: {message}")]
    Server { kind: RucioErrorKind, class: String, message: String, status: u16 },
    /// No usable answer: connection refused, DNS, TLS, timeout, broken body.
    #[error("{failure} {url}: {source}")]
    Transport {
        failure: TransportFailure,
        url: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The server answered, but not with what the API promises (HTML, truncated JSON, ...).
    #[error("unexpected response from {url} (HTTP {status}): {detail}")]
    InvalidResponse { url: String, status: u16, detail: String },
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Local credentials could not be used (missing file, unreadable key, weak proxy key, ...).
    #[error("{0}")]
    Credentials(String),
    /// OIDC without a token: the caller must run the interactive login ([`crate::RucioClient::start_oidc_login`]).
    #[error("no valid OIDC token for {account}: a login in the browser is needed")]
    LoginRequired { account: String },
    /// The interactive OIDC login was not completed in time.
    #[error("the OIDC login was not completed within {0:?}")]
    LoginTimedOut(std::time::Duration),
    /// A caller-supplied argument cannot be sent (e.g. an empty DID name).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl Error {
    /// The Rucio exception kind when the server answered with one.
    pub fn kind(&self) -> Option<&RucioErrorKind> {
        match self {
            Self::Server { kind, .. } => Some(kind),
            _ => None,
        }
    }

    /// Whether the server rejected the credentials (or a login is needed).
    pub fn is_authentication(&self) -> bool {
        matches!(self.kind(), Some(RucioErrorKind::CannotAuthenticate))
            || matches!(self, Self::LoginRequired { .. } | Self::LoginTimedOut(_))
    }

    pub(crate) fn transport(url: &str, err: reqwest::Error) -> Self {
        let failure = classify_reqwest(&err);
        // The URL is ours to show (redacted); reqwest's copy would repeat it unredacted.
        Self::Transport { failure, url: loggable_url(url), source: Box::new(err.without_url()) }
    }

    pub(crate) fn invalid(url: &str, status: u16, detail: impl Into<String>) -> Self {
        Self::InvalidResponse { url: loggable_url(url), status, detail: detail.into() }
    }
}

/// A URL as errors and logs may show it. The query of an `/auth/` URL can be the one-time code
/// that fetches an OIDC token, so it is dropped there.
pub(crate) fn loggable_url(url: &str) -> String {
    match url.split_once('?') {
        Some((base, _)) if base.contains("/auth/") => format!("{base}?…"),
        _ => url.to_owned(),
    }
}

fn classify_reqwest(err: &reqwest::Error) -> TransportFailure {
    if chain_has_tls_error(err) {
        return TransportFailure::Tls;
    }
    if err.is_timeout() {
        TransportFailure::Timeout
    } else if err.is_connect() {
        TransportFailure::Connect
    } else if err.is_body() || err.is_decode() {
        TransportFailure::Body
    } else {
        TransportFailure::Other
    }
}

/// Whether a rustls error sits anywhere in the chain. `io::Error::source` skips the error it
/// wraps, so wrapped io errors are opened with `get_ref`.
fn chain_has_tls_error(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        if e.is::<rustls::Error>() {
            return true;
        }
        if let Some(inner) = e.downcast_ref::<std::io::Error>().and_then(std::io::Error::get_ref)
            && chain_has_tls_error(inner)
        {
            return true;
        }
        current = e.source();
    }
    false
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_queries_are_redacted() {
        assert_eq!(
            loggable_url("https://h/auth/oidc_redirect?AbC123"),
            "https://h/auth/oidc_redirect?…"
        );
        assert_eq!(
            loggable_url("https://h/dids/s/dids/search?name=x*"),
            "https://h/dids/s/dids/search?name=x*"
        );
    }
}
