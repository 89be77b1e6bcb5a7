//! `/healthz` says the process serves; `/readyz` says each site's backend answers.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{Map, Value, json};

/// How long one backend may take to answer a readiness probe.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// A readiness probe in progress: `Err` says what is wrong, without secrets.
pub type ReadinessFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// Whether a site's backend can serve now (e.g. Rucio answers its ping).
pub trait ReadinessCheck: Send + Sync + 'static {
    fn check(&self) -> ReadinessFuture;
}

impl<F, Fut> ReadinessCheck for F
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    fn check(&self) -> ReadinessFuture {
        Box::pin(self())
    }
}

/// The readiness checks of all sites.
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Vec<(String, Arc<dyn ReadinessCheck>)>,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.checks.iter().map(|(name, _)| name)).finish()
    }
}

impl Readiness {
    pub fn add(&mut self, site: &str, check: Arc<dyn ReadinessCheck>) {
        self.checks.push((site.to_owned(), check));
    }

    /// Runs every check concurrently, each bounded by 5 s.
    pub async fn probe(&self) -> (bool, Map<String, Value>) {
        let probes = self.checks.iter().map(|(site, check)| async move {
            let verdict = match tokio::time::timeout(CHECK_TIMEOUT, check.check()).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(reason)) => Err(reason),
                Err(_) => Err(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
            };
            (site.clone(), verdict)
        });
        let mut ready = true;
        let mut sites = Map::new();
        for (site, verdict) in futures_util::future::join_all(probes).await {
            let shown = match verdict {
                Ok(()) => json!("ok"),
                Err(reason) => {
                    ready = false;
                    json!(reason)
                }
            };
            sites.insert(site, shown);
        }
        (ready, sites)
    }
}

pub(crate) async fn healthz() -> &'static str {
    "ok"
}

pub(crate) async fn readyz(State(readiness): State<Readiness>) -> Response {
    let (ready, sites) = readiness.probe().await;
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = json!({ "status": if ready { "ready" } else { "not ready" }, "sites": sites });
    (status, Json(body)).into_response()
}
