//! Local verification of DiracX's JWTs against its published keys, so that a server can check a
//! bearer token without a round trip per request, and unverified decoding for what only needs
//! to be read (a refresh token's `exp`, a display).
//!
//! The generic part (JWK sets, signatures, algorithm allow-list, `iss`/`exp`/`nbf`, the cached
//! remote key set) is the `jwt-verify` crate; this module adds what is DiracX's: its claims, its
//! default algorithms, the refusal of tokens that are not access tokens, and errors that name it.
//!
//! DiracX 0.7.0 signs with `"alg": "Ed25519"` (the RFC 9864 name) and accepts the algorithms in
//! its `token_allowed_algorithms` (default `RS256`, `Ed25519`), which it publishes in its
//! discovery document. The verifier accepts exactly those of them it implements: `Ed25519`,
//! `RS256`, and `EdDSA` (the RFC 8037 name for the same signature) only where the server lists
//! it, because DiracX itself answers 401 to an `EdDSA`-labelled token unless configured to
//! allow it. `none` and every other algorithm are refused. DiracX's access tokens carry no
//! `aud`; one that does was not minted by DiracX for its own API and is refused.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use jwt_verify::{Audience, Claims, JwtError, RemoteKeySet};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use url::Url;

use crate::auth::AuthError;
use crate::oidc::Discovery;

pub use jwt_verify::{DEFAULT_LEEWAY, DEFAULT_MAX_KEY_AGE, DEFAULT_REFETCH_FLOOR, unix_now};

/// The claims of a DiracX token. Access tokens have all of them; refresh tokens only `jti`,
/// `exp` and (in `other`) `dirac_policies` and `legacy_exchange`. Claims not named here are in
/// `other`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct DiracxClaims {
    /// `<vo>:<sub at the VO's identity provider>`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub sub: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub vo: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub dirac_group: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub dirac_properties: Vec<String>,
    #[serde(default)]
    pub preferred_username: Option<String>,
    /// Unix seconds.
    #[serde(deserialize_with = "required_seconds")]
    pub exp: i64,
    #[serde(default)]
    pub iss: Option<String>,
    #[serde(default)]
    pub jti: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl DiracxClaims {
    /// Seconds until `exp` (negative once expired).
    pub fn seconds_left(&self) -> i64 {
        self.exp - unix_now()
    }

    pub fn has_property(&self, property: &str) -> bool {
        self.dirac_properties.iter().any(|p| p == property)
    }
}

/// Reads a JWT's claims without checking its signature or expiry: only for what the holder of
/// the token already trusts (its own refresh token's `exp`) or for display.
pub fn decode_unverified(token: &str) -> Result<DiracxClaims, AuthError> {
    let payload = jwt_verify::Jws::split(token).and_then(|jws| jws.payload()).map_err(refused)?;
    parse_claims(&payload)
}

/// What a token must satisfy besides its signature.
#[derive(Clone, Debug)]
pub struct Validation {
    /// The only accepted `iss`.
    pub issuer: String,
    /// Accepted `alg` values; names this verifier does not implement are ignored.
    pub algorithms: Vec<String>,
    pub leeway: Duration,
}

impl Validation {
    /// DiracX's defaults: `RS256` and `Ed25519`, 30 s leeway.
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            algorithms: vec!["RS256".to_owned(), "Ed25519".to_owned()],
            leeway: DEFAULT_LEEWAY,
        }
    }

    /// The generic checks: these, and no `aud` (DiracX's access tokens have none).
    fn generic(&self) -> jwt_verify::Validation {
        jwt_verify::Validation::new(self.issuer.clone(), Audience::Absent)
            .with_algorithms(self.algorithms.iter().cloned())
            .with_leeway(self.leeway)
    }
}

/// A set of public keys (a JWKS document), parsed once. Keys of a type the verifier cannot use
/// are skipped; private members (`d`, …) are never read.
#[derive(Clone, Debug, Default)]
pub struct KeySet(Arc<jwt_verify::KeySet>);

impl KeySet {
    /// Parses a JWKS document (`{"keys": [...]}`).
    pub fn from_json(document: &[u8]) -> Result<Self, AuthError> {
        jwt_verify::KeySet::from_json(document).map(|keys| Self(Arc::new(keys))).map_err(refused)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The key ids in the set.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.0.kids()
    }

    /// Verifies `token` with these keys: algorithm, signature, then `iss`, `exp` and `nbf`, and
    /// that it is an access token (it has `sub` and `vo`).
    pub fn verify(&self, token: &str, validation: &Validation) -> Result<DiracxClaims, AuthError> {
        access_claims(self.0.verify(token, &validation.generic()))
    }
}

/// DiracX's key set behind its `jwks_uri`, fetched on first use and again when a token names a
/// `kid` the cached set lacks (at most once per refetch floor), or when the set is older than
/// the maximum key age.
pub struct Jwks {
    remote: RemoteKeySet,
    validation: Validation,
    generic: jwt_verify::Validation,
}

impl fmt::Debug for Jwks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwks")
            .field("remote", &self.remote)
            .field("validation", &self.validation)
            .finish_non_exhaustive()
    }
}

impl Jwks {
    /// A verifier of tokens from `issuer`, with keys from `jwks_uri` and DiracX's default
    /// algorithms.
    pub fn new(http: reqwest::Client, jwks_uri: Url, issuer: impl Into<String>) -> Self {
        Self::with_validation(http, jwks_uri, Validation::new(issuer))
    }

    /// A verifier for the DiracX `discovery` describes: its `jwks_uri`, `issuer` and signing
    /// algorithms.
    pub fn from_discovery(http: &reqwest::Client, discovery: &Discovery) -> Self {
        let validation = Validation {
            issuer: discovery.issuer.clone(),
            algorithms: discovery.signing_algorithms.clone(),
            leeway: DEFAULT_LEEWAY,
        };
        Self::with_validation(http.clone(), discovery.jwks_uri.clone(), validation)
    }

    pub fn with_validation(http: reqwest::Client, jwks_uri: Url, validation: Validation) -> Self {
        Self {
            remote: RemoteKeySet::new(http, jwks_uri),
            generic: validation.generic(),
            validation,
        }
    }

    /// Changes the least time between fetches (tests use a short one).
    pub fn with_refetch_floor(mut self, floor: Duration) -> Self {
        self.remote = self.remote.with_refetch_floor(floor);
        self
    }

    pub fn with_max_key_age(mut self, age: Duration) -> Self {
        self.remote = self.remote.with_max_key_age(age);
        self
    }

    pub fn validation(&self) -> &Validation {
        &self.validation
    }

    /// Verifies `token`: its algorithm against the accepted ones, its signature against
    /// DiracX's keys, then `iss`, `exp` and `nbf` (with the leeway).
    pub async fn verify(&self, token: &str) -> Result<DiracxClaims, AuthError> {
        access_claims(self.remote.verify(token, &self.generic).await)
    }

    /// The cached key set, fetched first if there is none, if it is too old, or if it lacks
    /// `kid`, as far as the refetch floor allows.
    pub async fn keys_for(&self, kid: Option<&str>) -> Result<KeySet, AuthError> {
        self.remote.keys_for(kid).await.map(KeySet).map_err(refused)
    }
}

/// DiracX's claims out of verified generic ones, if they are an access token's.
fn access_claims(verified: Result<Claims, JwtError>) -> Result<DiracxClaims, AuthError> {
    let claims = verified.map_err(refused)?;
    let claims: DiracxClaims =
        serde_json::from_value(Value::Object(claims.into_map())).map_err(|e| not_diracx(&e))?;
    if claims.sub.is_empty() || claims.vo.is_empty() {
        return Err(invalid("the token is not a DiracX access token (no sub or vo)"));
    }
    Ok(claims)
}

/// A generic verdict in DiracX's words.
fn refused(error: JwtError) -> AuthError {
    match error {
        JwtError::KeysUnavailable(reason) => AuthError::Request(format!("DiracX's JWKS: {reason}")),
        JwtError::AlgorithmNotAllowed { alg, allowed } => invalid(&format!(
            "the signing algorithm `{alg}` is not one DiracX accepts ({})",
            allowed.join(", ")
        )),
        JwtError::UnknownKey { alg, kid: Some(kid) } => {
            invalid(&format!("DiracX publishes no {alg} key `{kid}`"))
        }
        JwtError::UnknownKey { alg, kid: None } => {
            invalid(&format!("DiracX publishes no {alg} key"))
        }
        JwtError::Audience { expected: None } => {
            invalid("the token names an audience; DiracX's access tokens have none")
        }
        other => invalid(&other.to_string()),
    }
}

fn parse_claims(payload: &[u8]) -> Result<DiracxClaims, AuthError> {
    serde_json::from_slice(payload).map_err(|e| not_diracx(&e))
}

/// Serde's messages may quote a claim's value: only say where it went wrong.
fn not_diracx(e: &serde_json::Error) -> AuthError {
    invalid(&format!(
        "the JWT claims are not DiracX's (JSON {:?} error at line {}, column {}; `exp` is required)",
        e.classify(),
        e.line(),
        e.column()
    ))
}

fn invalid(reason: &str) -> AuthError {
    AuthError::InvalidToken(reason.to_owned())
}

fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

fn required_seconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    crate::oidc::optional_seconds(deserializer)?
        .ok_or_else(|| serde::de::Error::custom("exp must be a number"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use serde_json::json;

    use super::*;

    const ISS: &str = "https://dx.example";

    fn claims(exp_in: i64) -> Value {
        json!({"jti": "j", "exp": unix_now() + exp_in, "sub": "vo:s", "vo": "vo", "iss": ISS,
               "dirac_group": "user", "dirac_properties": ["NormalUser"], "preferred_username": "u",
               "dirac_policies": {}})
    }

    /// A key pair, its one-key set (kid `k1`), and a signer of claims under an `alg` label.
    fn diracx_key() -> (KeySet, impl Fn(&str, &Value) -> String) {
        let pair = Ed25519KeyPair::generate().unwrap();
        let x = B64.encode(pair.public_key().as_ref());
        let jwks = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k1", "x": x}]});
        let keys = KeySet::from_json(jwks.to_string().as_bytes()).unwrap();
        let sign = move |alg: &str, claims: &Value| {
            let header = B64.encode(json!({"alg": alg, "kid": "k1"}).to_string());
            let input = format!("{header}.{}", B64.encode(claims.to_string()));
            format!("{input}.{}", B64.encode(pair.sign(input.as_bytes()).as_ref()))
        };
        (keys, sign)
    }

    #[test]
    fn ed25519_tokens_verify_and_their_claims_are_read() {
        let (keys, sign) = diracx_key();
        let claims = keys.verify(&sign("Ed25519", &claims(600)), &Validation::new(ISS)).unwrap();
        assert_eq!(claims.vo, "vo");
        assert!(claims.has_property("NormalUser"));
        assert_eq!(claims.other.get("dirac_policies"), Some(&json!({})));
        assert_eq!(keys.kids().collect::<Vec<_>>(), ["k1"]);
    }

    #[test]
    fn eddsa_label_only_where_allowed() {
        let (keys, sign) = diracx_key();
        let token = sign("EdDSA", &claims(600));
        let err = keys.verify(&token, &Validation::new(ISS)).unwrap_err();
        assert!(err.to_string().contains("not one DiracX accepts"), "{err}");
        let mut allowing = Validation::new(ISS);
        allowing.algorithms.push("EdDSA".into());
        keys.verify(&token, &allowing).unwrap();
    }

    #[test]
    fn only_diracx_access_tokens_pass() {
        let (keys, sign) = diracx_key();
        let v = Validation::new(ISS);
        let refresh = json!({"jti": "j", "exp": unix_now() + 600, "iss": ISS});
        let err = keys.verify(&sign("Ed25519", &refresh), &v).unwrap_err();
        assert!(err.to_string().contains("no sub or vo"), "{err}");
        let mut for_another = claims(600);
        for_another["aud"] = json!("some-api");
        let err = keys.verify(&sign("Ed25519", &for_another), &v).unwrap_err();
        assert!(err.to_string().contains("have none"), "{err}");
        let err = keys.verify(&sign("RS256", &claims(600)), &v).unwrap_err();
        assert!(err.to_string().contains("DiracX publishes no RS256 key `k1`"), "{err}");
        let err = keys.verify(&sign("Ed25519", &claims(-600)), &v).unwrap_err();
        assert!(matches!(&err, AuthError::InvalidToken(m) if m.contains("expired")), "{err}");
    }

    #[test]
    fn unverified_decoding_reads_refresh_tokens() {
        let payload = B64.encode(
            br#"{"jti":"x","exp":1700000000.5,"legacy_exchange":false,"dirac_policies":{}}"#,
        );
        let claims = decode_unverified(&format!("e30.{payload}.sig")).unwrap();
        assert_eq!(claims.exp, 1_700_000_000);
        assert_eq!(claims.sub, "");
        assert!(decode_unverified("only.two").is_err());
    }

    #[test]
    fn messages_do_not_quote_claims() {
        let payload = B64.encode(br#"{"exp":"supersecretvalue"}"#);
        let err = decode_unverified(&format!("e30.{payload}.sig")).unwrap_err();
        assert!(!err.to_string().contains("supersecretvalue"), "{err}");
    }
}
