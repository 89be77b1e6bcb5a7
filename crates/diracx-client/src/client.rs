//! The client: where DiracX is, how requests are sent, and the calls that are not about jobs
//! (configuration, userinfo).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderValue};
use serde::Deserialize;
use url::Url;

use crate::auth::TokenSource;
use crate::config::{ConfigCache, ConfigDocument};
use crate::error::{Error, Result};
use crate::http::{Call, Http, build_client};

/// How the client talks to DiracX.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// The whole of one request, answer included.
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// Further tries of an idempotent call after a transport failure or a 502/503/504.
    pub retries: u32,
    /// CA certificates (a PEM file or a directory), as `DIRACX_CA_PATH` gives them.
    pub ca_path: Option<PathBuf>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            retries: 2,
            ca_path: None,
        }
    }
}

impl ClientOptions {
    /// A pooled HTTP client with these timeouts and CAs, to share between a [`DiracxClient`]
    /// and the auth flows of [`crate::oidc`] and [`crate::credentials`].
    pub fn http_client(&self) -> Result<reqwest::Client> {
        build_client(self)
    }

    /// The defaults, with `DIRACX_CA_PATH` as the DiracX CLI reads it.
    pub fn from_env() -> Self {
        let ca_path =
            std::env::var_os("DIRACX_CA_PATH").filter(|v| !v.is_empty()).map(PathBuf::from);
        Self { ca_path, ..Self::default() }
    }
}

/// A DiracX client for one identity (cheap to clone: clones share the connection pool and the
/// configuration cache).
#[derive(Clone, Debug)]
pub struct DiracxClient {
    pub(crate) http: Arc<Http>,
    config: Arc<ConfigCache>,
}

/// Who the token belongs to, as DiracX's `/api/auth/userinfo` says.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct UserInfo {
    pub sub: String,
    pub vo: String,
    #[serde(default)]
    pub dirac_group: String,
    #[serde(default)]
    pub properties: Vec<String>,
    #[serde(default)]
    pub preferred_username: Option<String>,
    #[serde(default)]
    pub policies: serde_json::Map<String, serde_json::Value>,
}

impl DiracxClient {
    /// A client of the DiracX at `url` (its root, e.g. `https://diracx.example.org/`).
    pub fn new(url: &str, tokens: Arc<dyn TokenSource>, options: &ClientOptions) -> Result<Self> {
        let http = build_client(options)?;
        Self::with_http(url, tokens, http, options.retries)
    }

    /// A client sharing an existing connection pool (a server making clients per user).
    pub fn with_http(
        url: &str,
        tokens: Arc<dyn TokenSource>,
        client: reqwest::Client,
        retries: u32,
    ) -> Result<Self> {
        let base = base_url(url)?;
        Ok(Self {
            http: Arc::new(Http { client, base, tokens, retries }),
            config: Arc::new(ConfigCache::default()),
        })
    }

    /// The same DiracX and connection pool, as another identity.
    pub fn with_tokens(&self, tokens: Arc<dyn TokenSource>) -> Self {
        let http = Http {
            client: self.http.client.clone(),
            base: self.http.base.clone(),
            tokens,
            retries: self.http.retries,
        };
        Self { http: Arc::new(http), config: self.config.clone() }
    }

    /// The DiracX root URL.
    pub fn url(&self) -> &Url {
        &self.http.base
    }

    /// The pooled HTTP client (for the auth flows of [`crate::oidc`]).
    pub fn http_client(&self) -> &reqwest::Client {
        &self.http.client
    }

    /// Who the current token belongs to.
    pub async fn userinfo(&self) -> Result<UserInfo> {
        self.http.send(Call::new(Method::GET, "api/auth/userinfo")).await?.json()
    }

    /// The configuration (CS) as DiracX serves it, revalidated with `If-None-Match` so an
    /// unchanged configuration costs a 304, not the whole document.
    pub async fn config(&self) -> Result<Arc<ConfigDocument>> {
        let cached = self.config.current();
        let mut call = Call::new(Method::GET, "api/config/");
        call.accept = &[304];
        if let Some((etag, _)) = &cached
            && let Ok(value) = HeaderValue::from_str(etag)
        {
            let mut headers = HeaderMap::new();
            headers.insert(reqwest::header::IF_NONE_MATCH, value);
            call.headers = headers;
        }
        let answer = self.http.send(call).await?;
        if answer.status == reqwest::StatusCode::NOT_MODIFIED {
            return cached.map(|(_, doc)| doc).ok_or_else(|| Error::UnexpectedAnswer {
                path: answer.path.clone(),
                reason: "304 Not Modified to a request without If-None-Match".into(),
            });
        }
        let document = Arc::new(ConfigDocument::new(answer.json()?));
        if let Some(etag) = answer.header("etag") {
            self.config.store(etag.to_owned(), document.clone());
        }
        Ok(document)
    }

    /// Whether DiracX answers (no token needed): its `/.well-known/dirac-metadata`.
    pub async fn ping(&self) -> Result<()> {
        let url = self.http.url(".well-known/dirac-metadata")?;
        let response = self
            .http
            .client
            .get(url.clone())
            .send()
            .await
            .map_err(|e| Error::transport(url.as_str(), &e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.bytes().await.unwrap_or_default();
        Err(Error::Status {
            status: status.as_u16(),
            method: "GET",
            path: ".well-known/dirac-metadata".into(),
            detail: crate::error::detail_of(&body),
        })
    }
}

/// The root URL with a trailing slash, so relative joins keep any path prefix.
fn base_url(url: &str) -> Result<Url> {
    let trimmed = url.trim();
    let mut base = Url::parse(trimmed)
        .map_err(|e| Error::Settings(format!("DiracX URL `{trimmed}` is not a URL: {e}")))?;
    if !matches!(base.scheme(), "https" | "http") {
        return Err(Error::Settings(format!("DiracX URL `{trimmed}` must be http(s)")));
    }
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    base.set_query(None);
    base.set_fragment(None);
    Ok(base)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn base_urls_keep_their_prefix() {
        assert_eq!(base_url("https://d.example/").unwrap().as_str(), "https://d.example/");
        assert_eq!(
            base_url("https://d.example/dx").unwrap().join("api/x").unwrap().as_str(),
            "https://d.example/dx/api/x"
        );
        assert!(base_url("ftp://d.example").is_err());
        assert!(base_url("not a url").is_err());
    }
}
