//! An issuer's key set behind its `jwks_uri`, cached.

use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use url::Url;

use crate::validation::{Claims, Validation};
use crate::{DEFAULT_MAX_KEY_AGE, DEFAULT_REFETCH_FLOOR, Jws, JwtError, KeySet};

/// The largest JWKS body read; a larger answer is refused (a key set is a few KiB).
pub const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// The key set behind a `jwks_uri`, fetched on first use and again when a token names a `kid` the
/// cached set lacks (at most once per refetch floor, however many such tokens arrive), or when
/// the set is older than the maximum key age. One fetch runs at a time; the others wait for it.
/// A fetch that fails keeps the keys already held.
///
/// Redirects are never used: an answer from any URL but the `jwks_uri` is refused (give it a
/// client built with `reqwest::redirect::Policy::none()` so none is even followed).
pub struct RemoteKeySet {
    http: reqwest::Client,
    jwks_uri: Url,
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

impl fmt::Debug for RemoteKeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        f.debug_struct("RemoteKeySet")
            .field("jwks_uri", &self.jwks_uri.as_str())
            .field("keys", &state.keys)
            .finish_non_exhaustive()
    }
}

impl RemoteKeySet {
    pub fn new(http: reqwest::Client, jwks_uri: Url) -> Self {
        Self {
            http,
            jwks_uri,
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

    /// Starts with `keys` as if just fetched (pinned or pre-loaded keys; benches). They are
    /// replaced like fetched ones: on an unknown `kid`, and once older than the maximum age.
    pub fn with_keys(self, keys: KeySet) -> Self {
        {
            let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            *state = CacheState {
                keys: Some(Arc::new(keys)),
                fetched_at: Some(now),
                tried_at: Some(now),
            };
        }
        self
    }

    pub fn jwks_uri(&self) -> &Url {
        &self.jwks_uri
    }

    /// Verifies `token` against these keys (fetched first if needed) and `validation`.
    pub async fn verify(&self, token: &str, validation: &Validation) -> Result<Claims, JwtError> {
        let kid = Jws::split(token)?.header()?.kid;
        let keys = self.keys_for(kid.as_deref()).await?;
        keys.verify(token, validation)
    }

    /// The cached key set, fetched first if there is none, if it is too old, or if it lacks
    /// `kid`, as far as the refetch floor allows.
    pub async fn keys_for(&self, kid: Option<&str>) -> Result<Arc<KeySet>, JwtError> {
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
                JwtError::KeysUnavailable(format!(
                    "{} could not be fetched {} s ago; not trying again yet",
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
            // The issuer unreachable for a moment: the keys it had still verify.
            Err(e) => match cached {
                Some(cached) => {
                    tracing::warn!(error = %e, "cannot refresh the JWKS, keeping the cached keys");
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

    async fn fetch(&self) -> Result<KeySet, JwtError> {
        let url = &self.jwks_uri;
        let mut response = self
            .http
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| request_failed(url, &e))?;
        let status = response.status();
        if response.url() != url || status.is_redirection() {
            return Err(unavailable(format!("{url} redirects; redirects are not followed")));
        }
        if !status.is_success() {
            return Err(unavailable(format!("{url} answered {}", status.as_u16())));
        }
        if response.content_length().is_some_and(|n| n > MAX_JWKS_BYTES as u64) {
            return Err(too_large(url));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| request_failed(url, &e))? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(too_large(url));
            }
            body.extend_from_slice(&chunk);
        }
        let keys = KeySet::from_json(&body)?;
        tracing::debug!(keys = keys.len(), jwks_uri = %url, "fetched a JWKS");
        Ok(keys)
    }
}

fn unavailable(reason: String) -> JwtError {
    JwtError::KeysUnavailable(reason)
}

fn too_large(url: &Url) -> JwtError {
    unavailable(format!("{url} answered more than {MAX_JWKS_BYTES} bytes"))
}

fn request_failed(url: &Url, e: &reqwest::Error) -> JwtError {
    let what = if e.is_timeout() { "timed out" } else { "request failed" };
    let causes: Vec<String> =
        std::iter::successors(std::error::Error::source(e), |cause| cause.source())
            .map(ToString::to_string)
            .collect();
    unavailable(format!("{what} ({url}): {}", causes.join(": ")))
}
