//! The HTTP layer: one pooled reqwest client, bearer tokens from the [`TokenSource`], one retry
//! on a 401 with a fresh token, and retries of idempotent calls on transient failures.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use url::Url;

use crate::auth::TokenSource;
use crate::client::ClientOptions;
use crate::error::{Error, Result, detail_of};

/// An answer DiracX gave with a success (or an expected) status.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: bytes::Bytes,
    pub(crate) path: String,
}

impl Answer {
    pub(crate) fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| Error::UnexpectedAnswer {
            path: self.path.clone(),
            reason: format!("{e} (HTTP {})", self.status.as_u16()),
        })
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Whether a request may be sent twice: reads, and writes DiracX makes idempotent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Retry {
    Safe,
    Never,
}

#[derive(Debug)]
pub(crate) struct Http {
    pub(crate) client: reqwest::Client,
    pub(crate) base: Url,
    pub(crate) tokens: Arc<dyn TokenSource>,
    pub(crate) retries: u32,
}

/// One request, as the caller describes it.
pub(crate) struct Call<'a> {
    pub(crate) method: Method,
    pub(crate) path: &'a str,
    pub(crate) query: &'a [(&'a str, String)],
    pub(crate) body: Option<&'a serde_json::Value>,
    pub(crate) headers: HeaderMap,
    pub(crate) retry: Retry,
    /// Statuses beside 2xx that the caller reads itself (416 of a search, 304 of the config).
    pub(crate) accept: &'a [u16],
}

impl<'a> Call<'a> {
    pub(crate) fn new(method: Method, path: &'a str) -> Self {
        let retry = if method == Method::GET { Retry::Safe } else { Retry::Never };
        Self { method, path, query: &[], body: None, headers: HeaderMap::new(), retry, accept: &[] }
    }
}

pub(crate) fn build_client(options: &ClientOptions) -> Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("diracx-client-rs/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(options.connect_timeout)
        .timeout(options.request_timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        // The sandbox download URL is handed out, never followed with our token.
        .redirect(reqwest::redirect::Policy::none());
    if let Some(path) = &options.ca_path {
        for cert in read_ca(path)? {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().map_err(|e| Error::Settings(format!("cannot build the HTTP client: {e}")))
}

/// `DIRACX_CA_PATH`: a PEM bundle, or a directory of PEM files (as grid hosts keep their CAs).
fn read_ca(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>> {
    let unreadable = |e: &dyn std::fmt::Display| {
        Error::Settings(format!("cannot read the CA certificates at {}: {e}", path.display()))
    };
    let files: Vec<std::path::PathBuf> = if path.is_dir() {
        let entries = std::fs::read_dir(path).map_err(|e| unreadable(&e))?;
        entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().is_some_and(|x| x == "pem" || x == "crt" || x == "0")
                    || p.file_name().is_some_and(|n| n.to_string_lossy().ends_with(".0"))
            })
            .collect()
    } else {
        vec![path.to_path_buf()]
    };
    let mut certs = Vec::new();
    for file in files {
        let pem = std::fs::read(&file).map_err(|e| unreadable(&e))?;
        certs.extend(reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| unreadable(&e))?);
    }
    Ok(certs)
}

impl Http {
    pub(crate) fn url(&self, path: &str) -> Result<Url> {
        self.base
            .join(path.trim_start_matches('/'))
            .map_err(|e| Error::Settings(format!("cannot build a URL for {path}: {e}")))
    }

    pub(crate) async fn send(&self, call: Call<'_>) -> Result<Answer> {
        let mut url = self.url(call.path)?;
        if !call.query.is_empty() {
            url.query_pairs_mut().extend_pairs(call.query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        let mut token = self.tokens.access_token().await?;
        let mut refreshed = false;
        let mut attempt = 0;
        loop {
            let mut request =
                self.client.request(call.method.clone(), url.clone()).headers(call.headers.clone());
            if let Some(body) = call.body {
                request = request.json(body);
            }
            let mut bearer = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
                .map_err(|_| {
                    Error::Auth(crate::AuthError::Rejected(
                        "the access token has characters a header cannot carry".into(),
                    ))
                })?;
            bearer.set_sensitive(true);
            let outcome = request.header(reqwest::header::AUTHORIZATION, bearer).send().await;
            let transient = match outcome {
                Ok(response) => {
                    let status = response.status();
                    if status == StatusCode::UNAUTHORIZED && !refreshed {
                        refreshed = true;
                        if let Some(fresh) = self.tokens.after_rejection(&token).await? {
                            token = fresh;
                            continue;
                        }
                    }
                    let retry_status = matches!(status.as_u16(), 502..=504);
                    if !(retry_status && call.retry == Retry::Safe && attempt < self.retries) {
                        return self.finish(&call, response).await;
                    }
                    Error::Status {
                        status: status.as_u16(),
                        method: method_name(&call.method),
                        path: call.path.to_owned(),
                        detail: "unavailable".into(),
                    }
                }
                Err(e) => {
                    let error = Error::transport(url.as_str(), &e);
                    if call.retry == Retry::Never || attempt >= self.retries {
                        return Err(error);
                    }
                    error
                }
            };
            attempt += 1;
            let pause = Duration::from_millis(200 * 4u64.pow(attempt - 1));
            tracing::debug!(path = call.path, attempt, error = %transient, "retrying DiracX call");
            tokio::time::sleep(pause).await;
        }
    }

    async fn finish(&self, call: &Call<'_>, response: reqwest::Response) -> Result<Answer> {
        let status = response.status();
        let headers = response.headers().clone();
        let url = response.url().to_string();
        let body = response.bytes().await.map_err(|e| Error::transport(&url, &e))?;
        if status.is_success() || call.accept.contains(&status.as_u16()) {
            return Ok(Answer { status, headers, body, path: call.path.to_owned() });
        }
        Err(Error::Status {
            status: status.as_u16(),
            method: method_name(&call.method),
            path: call.path.to_owned(),
            detail: detail_of(&body),
        })
    }
}

fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PATCH => "PATCH",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        _ => "request",
    }
}
