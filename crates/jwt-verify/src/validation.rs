//! What a token must satisfy besides its signature, over a generic claims map.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::{Algorithm, DEFAULT_LEEWAY, JwtError, shorten};

/// Which `aud` a token may carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Audience {
    /// `aud` (a string, or an array of strings) must contain exactly this value.
    Must(String),
    /// `aud` must contain one of these values (a resource URL with and without its trailing
    /// slash: clients differ in which they send as RFC 8707 `resource`).
    OneOf(Vec<String>),
    /// The token must carry no `aud` at all: for issuers whose access tokens have none (DiracX),
    /// so that a token the same issuer minted for another audience does not pass.
    Absent,
    /// `aud` is not looked at. Only for issuers that mint tokens for this server alone.
    Any,
}

/// What a token must satisfy besides its signature.
#[derive(Clone, Debug)]
pub struct Validation {
    /// The only accepted `iss` (compared exactly).
    pub issuer: String,
    /// Accepted `alg` values (JOSE names). Names this crate does not implement are ignored;
    /// `none` is never accepted.
    pub algorithms: Vec<String>,
    /// How far past `exp`, or before `nbf`, a token is still taken.
    pub leeway: Duration,
    pub audience: Audience,
    /// Scopes the token must all have (in its space-separated `scope` or its `scp` array).
    pub required_scopes: Vec<String>,
}

impl Validation {
    /// Tokens of `issuer` under the `audience` policy: every implemented algorithm, 30 s leeway,
    /// no required scope.
    pub fn new(issuer: impl Into<String>, audience: Audience) -> Self {
        Self {
            issuer: issuer.into(),
            algorithms: Algorithm::ALL.iter().map(|a| a.name().to_owned()).collect(),
            leeway: DEFAULT_LEEWAY,
            audience,
            required_scopes: Vec::new(),
        }
    }

    pub fn with_algorithms<S: Into<String>>(
        mut self,
        algorithms: impl IntoIterator<Item = S>,
    ) -> Self {
        self.algorithms = algorithms.into_iter().map(Into::into).collect();
        self
    }

    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    pub fn with_required_scopes<S: Into<String>>(
        mut self,
        scopes: impl IntoIterator<Item = S>,
    ) -> Self {
        self.required_scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The algorithm of a header's `alg`, if it is implemented and allowed.
    pub(crate) fn accepted(&self, alg: &str) -> Result<Algorithm, JwtError> {
        if alg.eq_ignore_ascii_case("none") {
            return Err(JwtError::Unsigned);
        }
        let Some(algorithm) = Algorithm::from_name(alg) else {
            return Err(JwtError::UnsupportedAlgorithm(shorten(alg)));
        };
        if !self.algorithms.iter().any(|a| a == alg) {
            return Err(JwtError::AlgorithmNotAllowed {
                alg: alg.to_owned(),
                allowed: self.algorithms.clone(),
            });
        }
        Ok(algorithm)
    }

    /// Checks the claims of a token whose signature verified: `iss`, `exp`, `nbf`, audience,
    /// scopes, at the Unix time `now`.
    pub fn check_at(&self, claims: &Claims, now: i64) -> Result<(), JwtError> {
        let leeway = i64::try_from(self.leeway.as_secs()).unwrap_or(i64::MAX);
        match claims.str("iss") {
            Some(iss) if iss == self.issuer => {}
            found => {
                return Err(JwtError::Issuer {
                    found: found.map(shorten),
                    expected: self.issuer.clone(),
                });
            }
        }
        let Some(exp) = claims.seconds("exp") else {
            return Err(JwtError::Malformed("the token has no numeric `exp`".to_owned()));
        };
        if now > exp.saturating_add(leeway) {
            return Err(JwtError::Expired { ago: now.saturating_sub(exp) });
        }
        if claims.get("nbf").is_some() {
            match claims.seconds("nbf") {
                Some(nbf) if now.saturating_add(leeway) < nbf => {
                    return Err(JwtError::NotYetValid { wait: nbf.saturating_sub(now) });
                }
                Some(_) => {}
                None => return Err(JwtError::Malformed("the token's nbf is not a number".into())),
            }
        }
        match &self.audience {
            Audience::Any => {}
            Audience::Absent => {
                if claims.get("aud").is_some_and(|aud| !aud.is_null()) {
                    return Err(JwtError::Audience { expected: None });
                }
            }
            Audience::Must(expected) => {
                if !claims.audiences().any(|aud| aud == expected) {
                    return Err(JwtError::Audience { expected: Some(expected.clone()) });
                }
            }
            Audience::OneOf(accepted) => {
                if !claims.audiences().any(|aud| accepted.iter().any(|a| a == aud)) {
                    return Err(JwtError::Audience { expected: accepted.first().cloned() });
                }
            }
        }
        if let Some(missing) =
            self.required_scopes.iter().find(|s| !claims.scopes().any(|have| have == s.as_str()))
        {
            return Err(JwtError::Scope { missing: missing.clone() });
        }
        Ok(())
    }
}

/// A token's claims (its payload, a JSON object).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Claims(Map<String, Value>);

impl Claims {
    /// Parses a payload; a payload that is not a JSON object is malformed (the message does not
    /// quote it).
    pub fn from_payload(payload: &[u8]) -> Result<Self, JwtError> {
        serde_json::from_slice(payload)
            .map(Self)
            .map_err(|_| JwtError::Malformed("the JWT claims are not a JSON object".to_owned()))
    }

    pub fn get(&self, claim: &str) -> Option<&Value> {
        self.0.get(claim)
    }

    /// A claim that is a string.
    pub fn str(&self, claim: &str) -> Option<&str> {
        self.0.get(claim).and_then(Value::as_str)
    }

    /// A claim that is a NumericDate (Unix seconds; a fraction is cut off).
    pub fn seconds(&self, claim: &str) -> Option<i64> {
        let value = self.0.get(claim)?;
        value.as_i64().or_else(|| value.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
    }

    /// The values of `aud` (a string, or an array of strings).
    pub fn audiences(&self) -> impl Iterator<Item = &str> {
        strings(self.0.get("aud"))
    }

    /// The scopes: the space-separated `scope`, and `scp` (an array, or a space-separated
    /// string).
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        let scope = self.str("scope").into_iter().flat_map(str::split_whitespace);
        let scp = strings(self.0.get("scp")).flat_map(str::split_whitespace);
        scope.chain(scp)
    }

    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    pub fn into_map(self) -> Map<String, Value> {
        self.0
    }
}

impl From<Map<String, Value>> for Claims {
    fn from(map: Map<String, Value>) -> Self {
        Self(map)
    }
}

fn strings(value: Option<&Value>) -> Box<dyn Iterator<Item = &str> + '_> {
    match value {
        Some(Value::String(s)) => Box::new(std::iter::once(s.as_str())),
        Some(Value::Array(items)) => Box::new(items.iter().filter_map(Value::as_str)),
        _ => Box::new(std::iter::empty()),
    }
}
