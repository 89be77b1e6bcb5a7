//! Where users really log in. The bridge knows nothing of Rucio or DiracX: a backend plugs in an
//! [`Upstream`] that starts a login, completes it (by redirect back or by polling) and refreshes.

use std::future::Future;
use std::pin::Pin;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::UpstreamError;

/// An upstream operation in progress.
pub type UpstreamFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, UpstreamError>> + Send + 'a>>;

/// What a finished login (or refresh) yields: who the user is and the token to act as them.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UpstreamGrant {
    /// The user as the backend knows them (a Rucio account, an OIDC subject).
    pub subject: String,
    /// The token the backend accepts for this user.
    #[serde(with = "secret")]
    pub access_token: SecretString,
    /// When `access_token` expires (Unix seconds), when known.
    pub expires_at: Option<i64>,
    /// What [`Upstream::refresh`] needs, when the upstream can refresh at all.
    #[serde(with = "secret_opt", default)]
    pub refresh: Option<SecretString>,
}

/// How the user proceeds after consent.
#[derive(Debug)]
pub enum LoginStart {
    /// Send the browser to `url`; the upstream comes back to the bridge's callback with the
    /// bridge's `state`.
    Redirect { url: Url, pending: serde_json::Value },
    /// Show the user `url` (a new tab) and poll [`Upstream::complete`] until the login is done
    /// (Rucio's OIDC polling login; cargo feature `polling`).
    #[cfg(feature = "polling")]
    Poll { url: Url, pending: serde_json::Value },
}

/// Where a login stands.
#[derive(Debug)]
pub enum Progress {
    Pending,
    Done(UpstreamGrant),
}

/// A backend's login.
pub trait Upstream: Send + Sync + 'static {
    /// Starts a login. `callback` is where a redirecting upstream must send the browser back, with
    /// `state` as its OAuth state. `pending` is kept (in the store) until the login completes.
    fn begin<'a>(&'a self, callback: &'a Url, state: &'a str) -> UpstreamFuture<'a, LoginStart>;

    /// Completes a login: for a redirect upstream with the callback's query, for a polling one
    /// with `None` (asked repeatedly until `Done`).
    fn complete<'a>(
        &'a self,
        pending: &'a serde_json::Value,
        callback_query: Option<&'a [(String, String)]>,
    ) -> UpstreamFuture<'a, Progress>;

    /// Whether [`Self::refresh`] works; without it, no refresh tokens are issued or advertised.
    fn can_refresh(&self) -> bool;

    /// A new grant from the `refresh` value of an earlier one.
    fn refresh<'a>(&'a self, grant: &'a UpstreamGrant) -> UpstreamFuture<'a, UpstreamGrant>;

    /// A short name for texts ("Rucio (atlas)", "CERN SSO").
    fn display_name(&self) -> &str;
}

/// Secrets are serialised only inside sealed envelopes and the bridge's own store.
pub(crate) mod secret {
    use secrecy::{ExposeSecret, SecretString};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(value: &SecretString, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(value.expose_secret())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SecretString, D::Error> {
        String::deserialize(d).map(SecretString::from)
    }
}

pub(crate) mod secret_opt {
    use secrecy::{ExposeSecret, SecretString};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        value: &Option<SecretString>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => s.serialize_some(v.expose_secret()),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<SecretString>, D::Error> {
        Option::<String>::deserialize(d).map(|v| v.map(SecretString::from))
    }
}
