//! The compact JWS serialization: `header.payload.signature`, each base64url without padding.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::Value;

use crate::JwtError;

/// The three parts of a compact JWS, borrowed from the token; nothing is checked yet.
#[derive(Clone, Copy)]
pub struct Jws<'a> {
    /// `header.payload`, the signed bytes.
    signed: &'a str,
    header: &'a str,
    payload: &'a str,
    signature: &'a str,
}

impl std::fmt::Debug for Jws<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jws").finish_non_exhaustive()
    }
}

/// The JOSE header members this crate reads; others are ignored (`crit` is refused).
#[derive(Clone, Debug, Deserialize)]
pub struct Header {
    pub alg: String,
    #[serde(default)]
    pub kid: Option<String>,
    #[serde(default)]
    pub typ: Option<String>,
    #[serde(default)]
    pub(crate) crit: Option<Value>,
}

impl Header {
    /// Whether the header names critical extensions (which are always refused).
    pub fn has_crit(&self) -> bool {
        self.crit.is_some()
    }
}

impl<'a> Jws<'a> {
    /// Splits `token` (surrounding whitespace ignored) into its three parts.
    pub fn split(token: &'a str) -> Result<Self, JwtError> {
        let token = token.trim();
        let mut dots = token.match_indices('.').map(|(i, _)| i);
        let (Some(first), Some(second), None) = (dots.next(), dots.next(), dots.next()) else {
            return Err(malformed("not a JWT (a JWT has three dot-separated parts)"));
        };
        Ok(Self {
            signed: &token[..second],
            header: &token[..first],
            payload: &token[first + 1..second],
            signature: &token[second + 1..],
        })
    }

    /// Whether `token` has the shape of a compact JWS (three dot-separated parts).
    pub fn looks_like(token: &str) -> bool {
        token.trim().bytes().filter(|b| *b == b'.').count() == 2
    }

    pub fn header(&self) -> Result<Header, JwtError> {
        serde_json::from_slice(&decode_part(self.header, "header")?)
            .map_err(|_| malformed("the JWT header is not a JSON object with an `alg`"))
    }

    /// The decoded payload, unverified.
    pub fn payload(&self) -> Result<Vec<u8>, JwtError> {
        decode_part(self.payload, "payload")
    }

    pub(crate) fn signature(&self) -> Result<Vec<u8>, JwtError> {
        decode_part(self.signature, "signature")
    }

    /// The bytes the signature covers.
    pub(crate) fn signed(&self) -> &'a [u8] {
        self.signed.as_bytes()
    }
}

fn decode_part(part: &str, what: &str) -> Result<Vec<u8>, JwtError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtError::Malformed(format!("the JWT {what} is not base64url")))
}

fn malformed(reason: &str) -> JwtError {
    JwtError::Malformed(reason.to_owned())
}
