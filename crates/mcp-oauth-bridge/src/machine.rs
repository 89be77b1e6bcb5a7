//! Machine clients: programs without a person (CI jobs, agents) that the operator registers with
//! a credential and maps to an upstream identity the operator names. They use the
//! `client_credentials` grant (RFC 6749 §4.4) at the token endpoint, authenticated by a client
//! secret (`client_secret_basic` or `client_secret_post`); they get an access token and no
//! refresh token (§4.4.3: they ask again).
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
    pub secret: SecretString,
    pub identity: Arc<dyn MachineIdentity>,
}

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

/// The client a `client_credentials` request authenticates as: its secret from the Basic
/// header (RFC 6749 §2.3.1, form-encoded id and secret) or the form, compared in constant time.
pub(crate) fn authenticate<'a>(
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
        let id_matches = client.client_id == id;
        let secret_matches: bool =
            client.secret.expose_secret().as_bytes().ct_eq(secret.as_bytes()).into();
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
            secret: SecretString::from("s3cret:with+chars"),
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
        assert_eq!(authenticate(&clients, &headers, &fields).ok().unwrap().client_id, "ci bot");

        let mut fields = HashMap::new();
        fields.insert("client_id".to_owned(), "ci bot".to_owned());
        fields.insert("client_secret".to_owned(), "s3cret:with+chars".to_owned());
        assert!(authenticate(&clients, &HeaderMap::new(), &fields).is_ok());
        assert!(authenticate(&clients, &headers, &fields).is_err(), "two methods at once");
        fields.insert("client_secret".to_owned(), "s3cret:with+char".to_owned());
        assert!(authenticate(&clients, &HeaderMap::new(), &fields).is_err());
        fields.remove("client_secret");
        assert!(authenticate(&clients, &HeaderMap::new(), &fields).is_err());
    }
}
