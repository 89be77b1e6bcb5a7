//! Machine clients: programs without a person (CI jobs, agents) that the operator registers with
//! a credential and maps to an upstream identity the operator names. They use the
//! `client_credentials` grant (RFC 6749 §4.4) at the token endpoint, authenticated by a client
//! secret (`client_secret_basic` or `client_secret_post`) or by a JWT signed with the client's
//! key (`private_key_jwt`, RFC 7523 §2.2: `iss` = `sub` = the client, `aud` the token endpoint,
//! at most five minutes, its `jti` used once); they get an access token and no refresh token
//! (§4.4.3: they ask again).
//!
//! The identity behind a machine client is the backend's business ([`MachineIdentity`]: for
//! DiracX, a robot login kept in a credentials file); the bridge only authenticates the client.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use axum::response::Response;
use http::{HeaderMap, StatusCode, header};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use crate::upstream::{UpstreamFuture, UpstreamGrant};

/// Where a machine client's upstream token comes from.
pub trait MachineIdentity: Send + Sync + 'static {
    /// A grant usable now (refreshed by the implementation as needed).
    fn grant(&self) -> UpstreamFuture<'_, UpstreamGrant>;
}

/// A client the operator configured for the `client_credentials` grant.
#[derive(Clone)]
pub struct MachineClient {
    pub client_id: String,
    pub credential: ClientCredential,
    pub identity: Arc<dyn MachineIdentity>,
}

/// How a machine client proves who it is (its Debug shows no secret).
#[derive(Clone, Debug)]
pub enum ClientCredential {
    /// A shared secret (`client_secret_basic`, `client_secret_post`).
    Secret(SecretString),
    /// The client's public keys (`private_key_jwt`): RS256, ES256 or EdDSA assertions.
    PrivateKeyJwt(Arc<jwt_verify::KeySet>),
}

/// The `client_assertion_type` of RFC 7523.
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The longest an assertion may live (`exp` − now).
const MAX_ASSERTION_LIFETIME: i64 = 300;

impl fmt::Debug for MachineClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MachineClient").field("client_id", &self.client_id).finish_non_exhaustive()
    }
}

/// Why a machine client was refused: an OAuth error code and a description without secrets.
pub(crate) struct Refused {
    pub(crate) status: StatusCode,
    pub(crate) error: &'static str,
    pub(crate) description: String,
}

fn invalid_client(description: &str) -> Refused {
    Refused {
        status: StatusCode::UNAUTHORIZED,
        error: "invalid_client",
        description: description.to_owned(),
    }
}

/// What an assertion's single use is recorded under, for as long as it could be replayed.
pub(crate) struct AssertionUse {
    pub(crate) key: String,
    pub(crate) ttl: std::time::Duration,
}

/// The client a `client_credentials` request authenticates as, by secret or by assertion; an
/// assertion's `jti` is to be claimed (single use) by the caller.
pub(crate) fn authenticate<'a>(
    clients: &'a [MachineClient],
    headers: &HeaderMap,
    fields: &HashMap<String, String>,
    token_endpoint: &str,
) -> Result<(&'a MachineClient, Option<AssertionUse>), Refused> {
    if fields.contains_key("client_assertion") || fields.contains_key("client_assertion_type") {
        if basic_credentials(headers).is_some() || fields.contains_key("client_secret") {
            return Err(invalid_client("use one client authentication method, not two"));
        }
        return by_assertion(clients, fields, token_endpoint).map(|(c, u)| (c, Some(u)));
    }
    by_secret(clients, headers, fields).map(|c| (c, None))
}

/// RFC 7523 §3: the assertion verified with the client's keys, `iss` = `sub` = the client, the
/// token endpoint in `aud`, a short `exp`, a `jti`.
fn by_assertion<'a>(
    clients: &'a [MachineClient],
    fields: &HashMap<String, String>,
    token_endpoint: &str,
) -> Result<(&'a MachineClient, AssertionUse), Refused> {
    if fields.get("client_assertion_type").map(String::as_str) != Some(JWT_BEARER) {
        return Err(invalid_client(&format!("client_assertion_type must be {JWT_BEARER}")));
    }
    let assertion = fields
        .get("client_assertion")
        .ok_or_else(|| invalid_client("client_assertion is missing"))?;
    // Which client: the form's client_id, else the assertion's `iss` (read before the
    // signature is checked, only to find the keys to check it with).
    let claimed = match fields.get("client_id") {
        Some(id) => id.clone(),
        None => jwt_verify::Jws::split(assertion)
            .ok()
            .and_then(|jws| jws.payload().ok())
            .and_then(|payload| jwt_verify::Claims::from_payload(&payload).ok())
            .and_then(|claims| claims.str("iss").map(str::to_owned))
            .ok_or_else(|| invalid_client("the client assertion names no client"))?,
    };
    let Some((client, keys)) = clients.iter().find_map(|c| match &c.credential {
        ClientCredential::PrivateKeyJwt(keys) if c.client_id == claimed => Some((c, keys)),
        _ => None,
    }) else {
        return Err(invalid_client("unknown client, or not one that signs assertions"));
    };
    let validation = jwt_verify::Validation::new(
        &client.client_id,
        jwt_verify::Audience::Must(token_endpoint.to_owned()),
    );
    let claims = keys
        .verify(assertion, &validation)
        .map_err(|e| invalid_client(&format!("the client assertion is not valid: {e}")))?;
    if claims.str("sub") != Some(client.client_id.as_str()) {
        return Err(invalid_client("the client assertion's sub is not the client"));
    }
    let now = crate::tokens::now();
    let exp = claims.seconds("exp").unwrap_or(0);
    if exp - now > MAX_ASSERTION_LIFETIME {
        return Err(invalid_client("the client assertion lives longer than five minutes"));
    }
    let jti = claims
        .str("jti")
        .filter(|j| !j.is_empty())
        .ok_or_else(|| invalid_client("the client assertion has no jti"))?;
    let ttl = std::time::Duration::from_secs(u64::try_from(exp - now).unwrap_or(0) + 60);
    let key = format!("assertion:{}", crate::token_key(&format!("{}\n{jti}", client.client_id)));
    Ok((client, AssertionUse { key, ttl }))
}

/// The secret from the Basic header (RFC 6749 §2.3.1, form-encoded id and secret) or the form,
/// compared in constant time.
fn by_secret<'a>(
    clients: &'a [MachineClient],
    headers: &HeaderMap,
    fields: &HashMap<String, String>,
) -> Result<&'a MachineClient, Refused> {
    let (id, secret) = match basic_credentials(headers) {
        Some(pair) => {
            if fields.contains_key("client_secret") {
                return Err(invalid_client("use one client authentication method, not two"));
            }
            pair
        }
        None => match (fields.get("client_id"), fields.get("client_secret")) {
            (Some(id), Some(secret)) => (id.clone(), secret.clone()),
            _ => {
                return Err(invalid_client(
                    "machine clients authenticate with their client_id and client_secret",
                ));
            }
        },
    };
    // Every configured secret is compared, so timing says nothing of which id exists.
    let mut found = None;
    for client in clients {
        let ClientCredential::Secret(expected) = &client.credential else { continue };
        let id_matches = client.client_id == id;
        let secret_matches: bool =
            expected.expose_secret().as_bytes().ct_eq(secret.as_bytes()).into();
        if id_matches && secret_matches {
            found = Some(client);
        }
    }
    found.ok_or_else(|| invalid_client("unknown client or wrong secret"))
}

/// `Authorization: Basic base64(urlencode(id):urlencode(secret))`.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    use base64::Engine as _;
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("v={s}").as_bytes()).next().map(|(_, v)| v.into_owned())
    };
    Some((decode(id)?, decode(secret)?))
}

impl Refused {
    pub(crate) fn into_response(
        self,
        oauth_error: fn(StatusCode, &str, &str) -> Response,
    ) -> Response {
        let mut response = oauth_error(self.status, self.error, &self.description);
        if self.status == StatusCode::UNAUTHORIZED
            && let Ok(value) = http::HeaderValue::from_str("Basic realm=\"token\"")
        {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const TOKEN: &str = "https://mcp.example/site/s/token";

    struct Nobody;
    impl MachineIdentity for Nobody {
        fn grant(&self) -> UpstreamFuture<'_, UpstreamGrant> {
            Box::pin(async {
                Err(crate::error::UpstreamError::Unavailable("not in this test".into()))
            })
        }
    }

    fn clients() -> Vec<MachineClient> {
        vec![MachineClient {
            client_id: "ci bot".into(),
            credential: ClientCredential::Secret(SecretString::from("s3cret:with+chars")),
            identity: Arc::new(Nobody),
        }]
    }

    #[test]
    fn secrets_from_the_header_or_the_form() {
        use base64::Engine as _;
        let clients = clients();
        let mut headers = HeaderMap::new();
        let basic =
            base64::engine::general_purpose::STANDARD.encode("ci+bot:s3cret%3Awith%2Bchars");
        headers.insert(header::AUTHORIZATION, format!("Basic {basic}").parse().unwrap());
        let fields = HashMap::new();
        assert_eq!(
            authenticate(&clients, &headers, &fields, TOKEN).ok().unwrap().0.client_id,
            "ci bot"
        );

        let mut fields = HashMap::new();
        fields.insert("client_id".to_owned(), "ci bot".to_owned());
        fields.insert("client_secret".to_owned(), "s3cret:with+chars".to_owned());
        assert!(authenticate(&clients, &HeaderMap::new(), &fields, TOKEN).is_ok());
        assert!(authenticate(&clients, &headers, &fields, TOKEN).is_err(), "two methods at once");
        fields.insert("client_secret".to_owned(), "s3cret:with+char".to_owned());
        assert!(authenticate(&clients, &HeaderMap::new(), &fields, TOKEN).is_err());
        fields.remove("client_secret");
        assert!(authenticate(&clients, &HeaderMap::new(), &fields, TOKEN).is_err());
    }
}
