//! JWK sets and signature verification.

use std::fmt;

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ED25519, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256,
    RsaPublicKeyComponents,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::Value;

use crate::validation::{Claims, Validation};
use crate::{Jws, JwtError, shorten, unix_now};

/// The signature algorithms this crate implements, by their JOSE names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// Ed25519 under its RFC 9864 name.
    Ed25519,
    /// Ed25519 under its RFC 8037 name (the same signature).
    EdDSA,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (keys of 2048 to 8192 bits).
    RS256,
    /// ECDSA on P-256 with SHA-256, the signature as fixed-size `r || s`.
    ES256,
}

impl Algorithm {
    /// Every implemented algorithm.
    pub const ALL: [Self; 4] = [Self::RS256, Self::ES256, Self::EdDSA, Self::Ed25519];

    /// The algorithm a JOSE `alg` value names, if this crate implements it (case-sensitive, as
    /// RFC 7515 says).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "Ed25519" => Some(Self::Ed25519),
            "EdDSA" => Some(Self::EdDSA),
            "RS256" => Some(Self::RS256),
            "ES256" => Some(Self::ES256),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Ed25519 => "Ed25519",
            Self::EdDSA => "EdDSA",
            Self::RS256 => "RS256",
            Self::ES256 => "ES256",
        }
    }

    fn family(self) -> Family {
        match self {
            Self::Ed25519 | Self::EdDSA => Family::Ed25519,
            Self::RS256 => Family::Rs256,
            Self::ES256 => Family::Es256,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Signatures that are the same computation whatever the label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Ed25519,
    Rs256,
    Es256,
}

/// A set of public keys (a JWKS document), parsed once. Keys of a type this crate cannot use are
/// skipped (as are keys for encryption only); private members (`d`, ...) are never read.
#[derive(Clone, Default)]
pub struct KeySet {
    keys: Vec<PublicKey>,
}

#[derive(Clone)]
struct PublicKey {
    kid: Option<String>,
    alg: Option<String>,
    material: KeyMaterial,
}

#[derive(Clone)]
enum KeyMaterial {
    Ed25519(ParsedPublicKey),
    Rsa { n: Vec<u8>, e: Vec<u8> },
    P256(ParsedPublicKey),
}

impl KeyMaterial {
    fn family(&self) -> Family {
        match self {
            Self::Ed25519(_) => Family::Ed25519,
            Self::Rsa { .. } => Family::Rs256,
            Self::P256(_) => Family::Es256,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::Ed25519(_) => "OKP/Ed25519",
            Self::Rsa { .. } => "RSA",
            Self::P256(_) => "EC/P-256",
        }
    }
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(
                self.keys.iter().map(|k| {
                    (k.kid.as_deref().unwrap_or("<no kid>").to_owned(), k.material.kind())
                }),
            )
            .finish()
    }
}

#[derive(Deserialize)]
struct RawJwks {
    #[serde(default)]
    keys: Vec<Value>,
}

#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default, rename = "use")]
    use_: Option<String>,
    #[serde(default)]
    key_ops: Option<Value>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
}

impl KeySet {
    /// Parses a JWKS document (`{"keys": [...]}`).
    pub fn from_json(document: &[u8]) -> Result<Self, JwtError> {
        let raw: RawJwks = serde_json::from_slice(document).map_err(|e| {
            JwtError::KeysUnavailable(format!(
                "the JWKS is not a key set (JSON {:?} error at line {}, column {})",
                e.classify(),
                e.line(),
                e.column()
            ))
        })?;
        let keys = raw.keys.into_iter().filter_map(PublicKey::from_jwk).collect();
        Ok(Self { keys })
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key ids in the set.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().filter_map(|k| k.kid.as_deref())
    }

    /// Whether a token naming `kid` could find its key here (no `kid`: any key may do).
    pub fn knows(&self, kid: Option<&str>) -> bool {
        kid.is_none_or(|kid| self.keys.iter().any(|k| k.kid.as_deref() == Some(kid)))
    }

    /// Verifies `token` with these keys: algorithm, signature, then the claims.
    pub fn verify(&self, token: &str, validation: &Validation) -> Result<Claims, JwtError> {
        self.verify_at(token, validation, unix_now())
    }

    /// [`KeySet::verify`] at the Unix time `now`.
    pub fn verify_at(
        &self,
        token: &str,
        validation: &Validation,
        now: i64,
    ) -> Result<Claims, JwtError> {
        let jws = Jws::split(token)?;
        let header = jws.header()?;
        let algorithm = validation.accepted(&header.alg)?;
        if header.has_crit() {
            return Err(JwtError::CriticalHeader);
        }
        let signature = jws.signature()?;
        let mut candidates = self
            .keys
            .iter()
            .filter(|k| k.fits(algorithm))
            .filter(|k| header.kid.is_none() || k.kid == header.kid)
            .peekable();
        if candidates.peek().is_none() {
            return Err(JwtError::UnknownKey {
                alg: algorithm.name().to_owned(),
                kid: header.kid.as_deref().map(shorten),
            });
        }
        if !candidates.any(|k| k.verifies(jws.signed(), &signature)) {
            return Err(JwtError::Signature);
        }
        let claims = Claims::from_payload(&jws.payload()?)?;
        validation.check_at(&claims, now)?;
        Ok(claims)
    }
}

impl PublicKey {
    fn from_jwk(value: Value) -> Option<Self> {
        let jwk: RawJwk = serde_json::from_value(value).ok()?;
        if jwk.use_.as_deref().is_some_and(|u| u != "sig") {
            return None;
        }
        let can_verify = match &jwk.key_ops {
            None => true,
            Some(Value::String(op)) => op == "verify",
            Some(Value::Array(ops)) => ops.iter().any(|op| op.as_str() == Some("verify")),
            Some(_) => false,
        };
        if !can_verify {
            return None;
        }
        let bytes = |s: &Option<String>| {
            s.as_deref().and_then(|s| URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok())
        };
        let material = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
            ("OKP", Some("Ed25519")) => {
                let x = bytes(&jwk.x).filter(|x| x.len() == 32)?;
                KeyMaterial::Ed25519(ParsedPublicKey::new(&ED25519, x).ok()?)
            }
            ("EC", Some("P-256")) => {
                let x = bytes(&jwk.x).filter(|x| x.len() == 32)?;
                let y = bytes(&jwk.y).filter(|y| y.len() == 32)?;
                // SEC 1 uncompressed point; a point off the curve is refused here.
                let mut point = Vec::with_capacity(65);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                KeyMaterial::P256(ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).ok()?)
            }
            ("RSA", _) => {
                // aws-lc-rs wants the minimal big-endian form; some encoders add a zero byte.
                let strip = |v: Vec<u8>| v.iter().position(|b| *b != 0).map(|i| v[i..].to_vec());
                KeyMaterial::Rsa { n: strip(bytes(&jwk.n)?)?, e: strip(bytes(&jwk.e)?)? }
            }
            _ => return None,
        };
        Some(Self { kid: jwk.kid, alg: jwk.alg, material })
    }

    /// Whether this key may check a signature of `algorithm`: its type must be that algorithm's,
    /// and a key labelled with an algorithm checks only that one (`Ed25519` and `EdDSA` name the
    /// same signature).
    fn fits(&self, algorithm: Algorithm) -> bool {
        self.material.family() == algorithm.family()
            && self.alg.as_deref().is_none_or(|label| {
                Algorithm::from_name(label).is_some_and(|a| a.family() == algorithm.family())
            })
    }

    fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        match &self.material {
            KeyMaterial::Ed25519(key) | KeyMaterial::P256(key) => {
                key.verify_sig(message, signature).is_ok()
            }
            KeyMaterial::Rsa { n, e } => {
                RsaPublicKeyComponents { n: n.as_slice(), e: e.as_slice() }
                    .verify(&RSA_PKCS1_2048_8192_SHA256, message, signature)
                    .is_ok()
            }
        }
    }
}
