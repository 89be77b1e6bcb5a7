//! Why a token was refused. Messages never contain the token; values read from it are shortened.

/// Why a token did not verify, or why the keys to verify it are missing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    /// Not a compact JWS, or a part that does not decode (base64url, JSON, a claim's type).
    #[error("{0}")]
    Malformed(String),
    /// `alg: none` (any case).
    #[error("unsigned tokens (`alg: none`) are refused")]
    Unsigned,
    /// An algorithm this crate does not implement (HS256, PS256, ...).
    #[error("the signing algorithm `{0}` is not supported")]
    UnsupportedAlgorithm(String),
    /// An algorithm this crate implements but the validation does not allow.
    #[error("the signing algorithm `{alg}` is not an accepted one ({})", .allowed.join(", "))]
    AlgorithmNotAllowed { alg: String, allowed: Vec<String> },
    /// RFC 7515 §4.1.11: extensions the verifier does not understand must be refused.
    #[error("the token has critical header extensions")]
    CriticalHeader,
    /// No key of the set may check this token (no such `kid`, or none for its algorithm).
    #[error("{}", unknown_key(.alg, .kid.as_deref()))]
    UnknownKey { alg: String, kid: Option<String> },
    #[error("the signature does not verify")]
    Signature,
    /// `exp` (plus leeway) has passed; `ago` is in seconds since `exp`.
    #[error("the token expired {ago} s ago")]
    Expired { ago: i64 },
    /// `nbf` (minus leeway) is still ahead; `wait` is in seconds until `nbf`.
    #[error("the token is not valid for another {wait} s")]
    NotYetValid { wait: i64 },
    /// `iss` is missing (`found: None`) or not the expected one.
    #[error("{}", issuer(.found.as_deref(), .expected))]
    Issuer { found: Option<String>, expected: String },
    /// The audience policy refused the token: `expected: Some` when it must name that audience,
    /// `None` when it must carry no audience at all.
    #[error("{}", audience(.expected.as_deref()))]
    Audience { expected: Option<String> },
    /// A required scope is missing from `scope`/`scp`.
    #[error("the token lacks the scope `{missing}`")]
    Scope { missing: String },
    /// The key set could not be fetched or parsed, and no cached one is usable: a failure of the
    /// issuer or the network, not of the token (servers answer 503, not 401).
    #[error("the key set is unavailable: {0}")]
    KeysUnavailable(String),
}

impl JwtError {
    /// Whether the token itself is at fault (as opposed to the keys being unavailable).
    pub fn is_token_error(&self) -> bool {
        !matches!(self, Self::KeysUnavailable(_))
    }
}

fn unknown_key(alg: &str, kid: Option<&str>) -> String {
    match kid {
        Some(kid) => format!("the issuer publishes no {alg} key `{kid}`"),
        None => format!("the issuer publishes no {alg} key"),
    }
}

fn issuer(found: Option<&str>, expected: &str) -> String {
    match found {
        Some(found) => format!("the issuer `{found}` is not the expected `{expected}`"),
        None => "the token has no issuer".to_owned(),
    }
}

fn audience(expected: Option<&str>) -> String {
    match expected {
        Some(expected) => format!("the token is not for the audience `{expected}`"),
        None => "the token names an audience, and tokens accepted here have none".to_owned(),
    }
}
