//! Local verification of DiracX's JWTs against its published keys, so that a server can check a
//! bearer token without a round trip per request, and unverified decoding for what only needs
//! to be read (a refresh token's `exp`, a display).
//!
//! DiracX 0.7.0 signs with `"alg": "Ed25519"` (the RFC 9864 name) and accepts the algorithms in
//! its `token_allowed_algorithms` (default `RS256`, `Ed25519`), which it publishes in its
//! discovery document. The verifier accepts exactly those of them it implements: `Ed25519`,
//! `RS256`, and `EdDSA` (the RFC 8037 name for the same signature) only where the server lists
//! it, because DiracX itself answers 401 to an `EdDSA`-labelled token unless configured to
//! allow it. `none` and every other algorithm are refused.

use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{
    ED25519, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents, UnparsedPublicKey,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use url::Url;

use crate::auth::AuthError;
use crate::oidc::Discovery;

/// How far past `exp` (or before `nbf`) a token is still taken: clocks drift.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
/// The least time between two fetches of the key set: an unknown `kid` in a flood of forged
/// tokens must not become a flood of requests to DiracX.
pub const DEFAULT_REFETCH_FLOOR: Duration = Duration::from_secs(30);
/// Keys are fetched again after this long even if every `kid` is known, so that a key DiracX
/// withdrew stops being trusted.
pub const DEFAULT_MAX_KEY_AGE: Duration = Duration::from_secs(3600);

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
    let parts = Parts::split(token)?;
    parse_claims(&parts.payload()?)
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
}

/// A set of public keys (a JWKS document), parsed once. Keys of a type this verifier cannot use
/// are skipped; private members (`d`, …) are never read.
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
    Ed25519(Vec<u8>),
    Rsa { n: Vec<u8>, e: Vec<u8> },
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.keys.iter().map(|k| {
                let kind = match k.material {
                    KeyMaterial::Ed25519(_) => "OKP/Ed25519",
                    KeyMaterial::Rsa { .. } => "RSA",
                };
                (k.kid.as_deref().unwrap_or("<no kid>").to_owned(), kind)
            }))
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
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
}

/// The signature families this verifier implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Ed25519,
    Rs256,
}

fn family(alg: &str) -> Option<Family> {
    match alg {
        "Ed25519" | "EdDSA" => Some(Family::Ed25519),
        "RS256" => Some(Family::Rs256),
        _ => None,
    }
}

impl KeySet {
    /// Parses a JWKS document (`{"keys": [...]}`).
    pub fn from_json(document: &[u8]) -> Result<Self, AuthError> {
        let raw: RawJwks = serde_json::from_slice(document)
            .map_err(|e| AuthError::Request(format!("the JWKS is not a key set: {e}")))?;
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

    fn knows(&self, kid: Option<&str>) -> bool {
        kid.is_none_or(|kid| self.keys.iter().any(|k| k.kid.as_deref() == Some(kid)))
    }

    /// Verifies `token` with these keys: algorithm, signature, then `iss`, `exp` and `nbf`.
    pub fn verify(&self, token: &str, validation: &Validation) -> Result<DiracxClaims, AuthError> {
        self.verify_at(token, validation, unix_now())
    }

    fn verify_at(
        &self,
        token: &str,
        validation: &Validation,
        now: i64,
    ) -> Result<DiracxClaims, AuthError> {
        let parts = Parts::split(token)?;
        let header = parts.header()?;
        let family = accepted_family(&header.alg, validation)?;
        if header.crit.is_some() {
            // RFC 7515 4.1.11: extensions the verifier does not understand must be refused.
            return Err(invalid("the token has critical header extensions"));
        }
        let signature = decode_part(parts.signature, "signature")?;
        let message = parts.signed.as_bytes();
        let candidates: Vec<&PublicKey> = self
            .keys
            .iter()
            .filter(|k| k.fits(family, &header.alg))
            .filter(|k| header.kid.is_none() || k.kid == header.kid)
            .collect();
        if candidates.is_empty() {
            return Err(match &header.kid {
                Some(kid) => {
                    invalid(&format!("DiracX publishes no {} key `{}`", header.alg, shorten(kid)))
                }
                None => invalid(&format!("DiracX publishes no {} key", header.alg)),
            });
        }
        if !candidates.iter().any(|k| k.verifies(message, &signature)) {
            return Err(invalid("the signature does not verify"));
        }
        let claims = parse_claims(&parts.payload()?)?;
        check_claims(&claims, validation, now)?;
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
                KeyMaterial::Ed25519(bytes(&jwk.x).filter(|x| x.len() == 32)?)
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

    /// Whether this key may check a signature of `alg` (a key labelled with an algorithm only
    /// checks that algorithm; `Ed25519` and `EdDSA` name the same one).
    fn fits(&self, family: Family, alg: &str) -> bool {
        let material_fits = matches!(
            (&self.material, family),
            (KeyMaterial::Ed25519(_), Family::Ed25519) | (KeyMaterial::Rsa { .. }, Family::Rs256)
        );
        material_fits
            && self
                .alg
                .as_deref()
                .is_none_or(|key_alg| key_alg == alg || self::family(key_alg) == Some(family))
    }

    fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        match &self.material {
            KeyMaterial::Ed25519(x) => {
                UnparsedPublicKey::new(&ED25519, x).verify(message, signature).is_ok()
            }
            KeyMaterial::Rsa { n, e } => {
                RsaPublicKeyComponents { n: n.as_slice(), e: e.as_slice() }
                    .verify(&RSA_PKCS1_2048_8192_SHA256, message, signature)
                    .is_ok()
            }
        }
    }
}

fn accepted_family(alg: &str, validation: &Validation) -> Result<Family, AuthError> {
    if alg.eq_ignore_ascii_case("none") {
        return Err(invalid("unsigned tokens (`alg: none`) are refused"));
    }
    let Some(family) = family(alg) else {
        return Err(invalid(&format!("the signing algorithm `{}` is not supported", shorten(alg))));
    };
    if !validation.algorithms.iter().any(|a| a == alg) {
        return Err(invalid(&format!(
            "the signing algorithm `{alg}` is not one DiracX accepts ({})",
            validation.algorithms.join(", ")
        )));
    }
    Ok(family)
}

fn check_claims(claims: &DiracxClaims, validation: &Validation, now: i64) -> Result<(), AuthError> {
    let leeway = i64::try_from(validation.leeway.as_secs()).unwrap_or(i64::MAX);
    match claims.iss.as_deref() {
        Some(iss) if iss == validation.issuer => {}
        Some(iss) => {
            return Err(invalid(&format!(
                "the issuer `{}` is not the expected `{}`",
                shorten(iss),
                validation.issuer
            )));
        }
        None => return Err(invalid("the token has no issuer")),
    }
    if now > claims.exp.saturating_add(leeway) {
        return Err(invalid(&format!("the token expired {} s ago", now - claims.exp)));
    }
    if let Some(nbf) = claims.other.get("nbf") {
        let nbf = nbf.as_i64().or_else(|| nbf.as_f64().map(|f| f as i64));
        match nbf {
            Some(nbf) if now.saturating_add(leeway) < nbf => {
                return Err(invalid(&format!(
                    "the token is not valid for another {} s",
                    nbf - now
                )));
            }
            Some(_) => {}
            None => return Err(invalid("the token's nbf is not a number")),
        }
    }
    if claims.sub.is_empty() || claims.vo.is_empty() {
        return Err(invalid("the token is not a DiracX access token (no sub or vo)"));
    }
    Ok(())
}

/// DiracX's key set behind its `jwks_uri`, fetched on first use and again when a token names a
/// `kid` the cached set lacks (at most once per refetch floor), or when the set is older than
/// the maximum key age.
pub struct Jwks {
    http: reqwest::Client,
    jwks_uri: Url,
    validation: Validation,
    refetch_floor: Duration,
    max_key_age: Duration,
    state: RwLock<CacheState>,
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct CacheState {
    keys: Option<Arc<KeySet>>,
    /// When `keys` were fetched.
    fetched_at: Option<Instant>,
    /// When a fetch was last tried, whatever came of it (the refetch floor counts from here).
    tried_at: Option<Instant>,
}

impl fmt::Debug for Jwks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        f.debug_struct("Jwks")
            .field("jwks_uri", &self.jwks_uri.as_str())
            .field("validation", &self.validation)
            .field("keys", &state.keys)
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
            http,
            jwks_uri,
            validation,
            refetch_floor: DEFAULT_REFETCH_FLOOR,
            max_key_age: DEFAULT_MAX_KEY_AGE,
            state: RwLock::new(CacheState::default()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    /// Changes the least time between fetches (tests use a short one).
    pub fn with_refetch_floor(mut self, floor: Duration) -> Self {
        self.refetch_floor = floor;
        self
    }

    pub fn with_max_key_age(mut self, age: Duration) -> Self {
        self.max_key_age = age;
        self
    }

    pub fn validation(&self) -> &Validation {
        &self.validation
    }

    /// Verifies `token`: its algorithm against the accepted ones, its signature against
    /// DiracX's keys, then `iss`, `exp` and `nbf` (with the leeway).
    pub async fn verify(&self, token: &str) -> Result<DiracxClaims, AuthError> {
        let kid = Parts::split(token)?.header()?.kid;
        let keys = self.keys_for(kid.as_deref()).await?;
        keys.verify(token, &self.validation)
    }

    /// The cached key set, fetched first if there is none, if it is too old, or if it lacks
    /// `kid`, as far as the refetch floor allows.
    pub async fn keys_for(&self, kid: Option<&str>) -> Result<Arc<KeySet>, AuthError> {
        if let Some(keys) = self.usable(kid) {
            return Ok(keys);
        }
        let _one_fetch_at_a_time = self.fetching.lock().await;
        // Another caller may have fetched while this one waited.
        if let Some(keys) = self.usable(kid) {
            return Ok(keys);
        }
        let (cached, tried_at) = {
            let state = self.state.read().unwrap_or_else(|p| p.into_inner());
            (state.keys.clone(), state.tried_at)
        };
        if let Some(tried_at) = tried_at
            && tried_at.elapsed() < self.refetch_floor
        {
            return cached.ok_or_else(|| {
                AuthError::Request(format!(
                    "DiracX's JWKS ({}) could not be fetched {} s ago; not trying again yet",
                    self.jwks_uri,
                    tried_at.elapsed().as_secs()
                ))
            });
        }
        let fetched = self.fetch().await;
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        state.tried_at = Some(Instant::now());
        match fetched {
            Ok(keys) => {
                let keys = Arc::new(keys);
                state.keys = Some(keys.clone());
                state.fetched_at = state.tried_at;
                Ok(keys)
            }
            // DiracX unreachable for a moment: the keys it had still verify.
            Err(e) => match cached {
                Some(cached) => {
                    tracing::warn!(error = %e, "cannot refresh DiracX's JWKS, keeping the cached keys");
                    Ok(cached)
                }
                None => Err(e),
            },
        }
    }

    fn usable(&self, kid: Option<&str>) -> Option<Arc<KeySet>> {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        let keys = state.keys.as_ref()?;
        let fresh = state.fetched_at.is_some_and(|at| at.elapsed() < self.max_key_age);
        (fresh && keys.knows(kid)).then(|| keys.clone())
    }

    async fn fetch(&self) -> Result<KeySet, AuthError> {
        let url = &self.jwks_uri;
        let response = self
            .http
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| crate::oidc::request_failed(url, &e))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| crate::oidc::request_failed(url, &e))?;
        if !status.is_success() {
            return Err(AuthError::Request(format!(
                "{url} answered {}: {}",
                status.as_u16(),
                crate::oidc::error_detail(&body, &[])
            )));
        }
        let keys = KeySet::from_json(&body)?;
        tracing::debug!(keys = keys.len(), "fetched DiracX's JWKS");
        Ok(keys)
    }
}

/// The three parts of a compact JWS, borrowed from the token.
struct Parts<'a> {
    /// `header.payload`, the signed bytes.
    signed: &'a str,
    header: &'a str,
    payload: &'a str,
    signature: &'a str,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<Value>,
}

impl<'a> Parts<'a> {
    fn split(token: &'a str) -> Result<Self, AuthError> {
        let token = token.trim();
        let mut dots = token.match_indices('.').map(|(i, _)| i);
        let (Some(first), Some(second), None) = (dots.next(), dots.next(), dots.next()) else {
            return Err(invalid("not a JWT (a JWT has three dot-separated parts)"));
        };
        Ok(Self {
            signed: &token[..second],
            header: &token[..first],
            payload: &token[first + 1..second],
            signature: &token[second + 1..],
        })
    }

    fn header(&self) -> Result<Header, AuthError> {
        serde_json::from_slice(&decode_part(self.header, "header")?)
            .map_err(|_| invalid("the JWT header is not a JSON object with an `alg`"))
    }

    fn payload(&self) -> Result<Vec<u8>, AuthError> {
        decode_part(self.payload, "payload")
    }
}

fn decode_part(part: &str, what: &str) -> Result<Vec<u8>, AuthError> {
    URL_SAFE_NO_PAD.decode(part).map_err(|_| invalid(&format!("the JWT {what} is not base64url")))
}

fn parse_claims(payload: &[u8]) -> Result<DiracxClaims, AuthError> {
    // Serde's messages may quote a claim's value: only say where it went wrong.
    serde_json::from_slice(payload).map_err(|e| {
        invalid(&format!(
            "the JWT claims are not DiracX's (JSON {:?} error at line {}, column {}; `exp` is required)",
            e.classify(),
            e.line(),
            e.column()
        ))
    })
}

fn invalid(reason: &str) -> AuthError {
    AuthError::InvalidToken(reason.to_owned())
}

/// A value from the token for a message: attacker-chosen, so kept short.
fn shorten(value: &str) -> String {
    let mut short: String = value.chars().take(64).collect();
    if short.len() < value.len() {
        short.push('…');
    }
    short
}

/// The current Unix time in seconds.
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
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
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::rsa::KeySize;
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair};
    use serde_json::json;

    use super::*;

    const ISS: &str = "https://dx.example";

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn claims(exp_in: i64) -> Value {
        json!({"jti": "j", "exp": unix_now() + exp_in, "sub": "vo:s", "vo": "vo", "iss": ISS,
               "dirac_group": "user", "dirac_properties": ["NormalUser"], "preferred_username": "u",
               "dirac_policies": {}})
    }

    fn signing_input(header: &Value, claims: &Value) -> String {
        format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()))
    }

    fn ed25519() -> (Ed25519KeyPair, KeySet) {
        let pair = Ed25519KeyPair::generate().unwrap();
        let jwks = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k1", "alg": "Ed25519",
                                    "x": b64(pair.public_key().as_ref()), "key_ops": ["sign", "verify"]}]});
        (pair, KeySet::from_json(jwks.to_string().as_bytes()).unwrap())
    }

    fn ed_token(pair: &Ed25519KeyPair, alg: &str, claims: &Value) -> String {
        let input = signing_input(&json!({"alg": alg, "kid": "k1", "typ": "JWT"}), claims);
        let sig = pair.sign(input.as_bytes());
        format!("{input}.{}", b64(sig.as_ref()))
    }

    #[test]
    fn ed25519_tokens_verify_and_their_claims_are_read() {
        let (pair, keys) = ed25519();
        let claims =
            keys.verify(&ed_token(&pair, "Ed25519", &claims(600)), &Validation::new(ISS)).unwrap();
        assert_eq!(claims.vo, "vo");
        assert!(claims.has_property("NormalUser"));
        assert_eq!(claims.other.get("dirac_policies"), Some(&json!({})));
    }

    #[test]
    fn eddsa_label_only_where_allowed() {
        let (pair, keys) = ed25519();
        let token = ed_token(&pair, "EdDSA", &claims(600));
        let err = keys.verify(&token, &Validation::new(ISS)).unwrap_err();
        assert!(err.to_string().contains("not one DiracX accepts"), "{err}");
        let mut allowing = Validation::new(ISS);
        allowing.algorithms.push("EdDSA".into());
        keys.verify(&token, &allowing).unwrap();
    }

    #[test]
    fn expiry_and_nbf_use_the_leeway() {
        let (pair, keys) = ed25519();
        let v = Validation::new(ISS);
        keys.verify(&ed_token(&pair, "Ed25519", &claims(-10)), &v).unwrap();
        let err = keys.verify(&ed_token(&pair, "Ed25519", &claims(-40)), &v).unwrap_err();
        assert!(err.to_string().contains("expired"), "{err}");
        let mut early = claims(600);
        early["nbf"] = json!(unix_now() + 120);
        let err = keys.verify(&ed_token(&pair, "Ed25519", &early), &v).unwrap_err();
        assert!(err.to_string().contains("not valid for another"), "{err}");
    }

    #[test]
    fn none_hs256_and_other_keys_are_refused() {
        let (pair, keys) = ed25519();
        let v = Validation::new(ISS);
        let none = format!("{}.", signing_input(&json!({"alg": "none"}), &claims(600)));
        assert!(keys.verify(&none, &v).unwrap_err().to_string().contains("alg: none"));
        let hs =
            format!("{}.AAAA", signing_input(&json!({"alg": "HS256", "kid": "k1"}), &claims(600)));
        assert!(keys.verify(&hs, &v).unwrap_err().to_string().contains("not supported"));
        let (other, _) = ed25519();
        let err = keys.verify(&ed_token(&other, "Ed25519", &claims(600)), &v).unwrap_err();
        assert!(err.to_string().contains("does not verify"), "{err}");
        // An Ed25519 key never checks an RS256 signature.
        let rs =
            format!("{}.AAAA", signing_input(&json!({"alg": "RS256", "kid": "k1"}), &claims(600)));
        assert!(keys.verify(&rs, &v).unwrap_err().to_string().contains("publishes no RS256 key"));
        let _ = pair;
    }

    /// `n` and `e` out of a DER `RSAPublicKey` (SEQUENCE of two INTEGERs).
    fn rsa_components(der: &[u8]) -> (Vec<u8>, Vec<u8>) {
        fn tlv(input: &[u8]) -> (&[u8], &[u8]) {
            let (len, start) = if input[1] & 0x80 == 0 {
                (input[1] as usize, 2)
            } else {
                let n = (input[1] & 0x7f) as usize;
                (input[2..2 + n].iter().fold(0usize, |a, b| a << 8 | *b as usize), 2 + n)
            };
            (&input[start..start + len], &input[start + len..])
        }
        let (seq, _) = tlv(der);
        let (n, rest) = tlv(seq);
        let (e, _) = tlv(rest);
        (n.to_vec(), e.to_vec())
    }

    #[test]
    fn rs256_tokens_verify() {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let (n, e) = rsa_components(pair.public_key().as_ref());
        let jwks = json!({"keys": [{"kty": "RSA", "kid": "r1", "alg": "RS256", "n": b64(&n), "e": b64(&e)}]});
        let keys = KeySet::from_json(jwks.to_string().as_bytes()).unwrap();
        let input = signing_input(&json!({"alg": "RS256", "kid": "r1"}), &claims(600));
        let mut sig = vec![0; pair.public_modulus_len()];
        pair.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), input.as_bytes(), &mut sig).unwrap();
        let token = format!("{input}.{}", b64(&sig));
        keys.verify(&token, &Validation::new(ISS)).unwrap();
        let mut tampered = claims(600);
        tampered["dirac_properties"] = json!(["JobAdministrator"]);
        let forged = format!(
            "{}.{}",
            signing_input(&json!({"alg": "RS256", "kid": "r1"}), &tampered),
            b64(&sig)
        );
        assert!(keys.verify(&forged, &Validation::new(ISS)).is_err());
    }

    #[test]
    fn unverified_decoding_reads_refresh_tokens() {
        let payload =
            b64(br#"{"jti":"x","exp":1700000000.5,"legacy_exchange":false,"dirac_policies":{}}"#);
        let claims = decode_unverified(&format!("e30.{payload}.sig")).unwrap();
        assert_eq!(claims.exp, 1_700_000_000);
        assert_eq!(claims.sub, "");
        assert!(decode_unverified("only.two").is_err());
    }

    #[test]
    fn messages_do_not_quote_claims() {
        let payload = b64(br#"{"exp":"supersecretvalue"}"#);
        let err = decode_unverified(&format!("e30.{payload}.sig")).unwrap_err();
        assert!(!err.to_string().contains("supersecretvalue"), "{err}");
    }
}
