//! Local verification of JWT access tokens against the issuer's published keys (a JWKS), so a
//! server that trusts an issuer checks a bearer without a round trip per request.
//!
//! What it does: parse a JWK set ([`KeySet`]: OKP/Ed25519, RSA, EC P-256), split a compact JWS
//! ([`Jws`]), check its algorithm against an allow-list (`none` and everything not allowed are
//! refused; a key labelled with one algorithm never checks another, an RSA key never checks an
//! EdDSA or ES256 token and so on), refuse `crit` headers, verify the signature with aws-lc-rs,
//! then check the claims ([`Validation`]: `iss` exactly, `exp` required, `nbf` when present, both
//! with leeway, the audience policy [`Audience`], required scopes). [`RemoteKeySet`] keeps the
//! issuer's key set behind its `jwks_uri`: fetched on first use, fetched again for an unknown
//! `kid` at most once per refetch floor and when older than the maximum key age, one fetch at a
//! time, bodies of at most [`MAX_JWKS_BYTES`], redirects never used.
//!
//! Errors are a [`JwtError`]; no message contains the token, and values taken from a token (an
//! `alg`, a `kid`, an `iss`) are shortened.
//!
//! This crate is a leaf: it must not depend on MCP (rmcp, transports, the OAuth bridge), on
//! DiracX or on Rucio, or on any other crate of the workspace. Those build on it.

mod error;
mod jws;
mod keys;
mod remote;
mod validation;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use error::JwtError;
pub use jws::{Header, Jws};
pub use keys::{Algorithm, KeySet};
pub use remote::{MAX_JWKS_BYTES, RemoteKeySet};
pub use validation::{Audience, Claims, Validation};

/// How far past `exp` (or before `nbf`) a token is still taken: clocks drift.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
/// The least time between two fetches of a key set: an unknown `kid` in a flood of forged tokens
/// must not become a flood of requests to the issuer.
pub const DEFAULT_REFETCH_FLOOR: Duration = Duration::from_secs(30);
/// Keys are fetched again after this long even if every `kid` is known, so that a key the issuer
/// withdrew stops being trusted.
pub const DEFAULT_MAX_KEY_AGE: Duration = Duration::from_secs(3600);

/// The current Unix time in seconds.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A value from a token for a message: attacker-chosen, so kept short.
pub(crate) fn shorten(value: &str) -> String {
    let mut short: String = value.chars().take(64).collect();
    if short.len() < value.len() {
        short.push('…');
    }
    short
}

#[cfg(test)]
mod tests;
