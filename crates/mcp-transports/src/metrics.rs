//! Prometheus metrics of the HTTP server, served on their own port (`/metrics`).
//!
//! HTTP metrics keep rucio-mcp 0.10.0's names and labels (`starlette_requests_total{method,
//! path_template,site}` and friends) so existing dashboards keep working. `path_template` is the
//! route template (`/site/{site}/`, `/healthz`, …), never a raw path: label cardinality stays
//! bounded whatever clients send. Process metrics are read from `/proc` at each scrape.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    path_template: String,
    site: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResponseLabels {
    method: String,
    path_template: String,
    status_code: String,
    site: String,
}

fn latency_histogram() -> Histogram {
    // 1 ms .. ~16 s
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(0.001, 2.0, 15))
}

/// HTTP request metrics, labelled by route template and site.
#[derive(Clone, Debug)]
pub struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    responses: Family<ResponseLabels, Counter>,
    latency: Family<RequestLabels, Histogram, fn() -> Histogram>,
    in_progress: Family<RequestLabels, Gauge>,
    sites: Arc<[String]>,
}

impl HttpMetrics {
    /// `sites` are the mounted site names, recognised in `/site/{name}` paths.
    pub fn new(sites: impl IntoIterator<Item = String>) -> Self {
        Self {
            requests: Family::default(),
            responses: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            in_progress: Family::default(),
            sites: sites.into_iter().collect(),
        }
    }

    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "starlette_requests",
            "HTTP requests by method, route template and site",
            self.requests.clone(),
        );
        registry.register(
            "starlette_responses",
            "HTTP responses by method, route template, status code and site",
            self.responses.clone(),
        );
        registry.register_with_unit(
            "starlette_requests_processing_time",
            "Time to the response head by method, route template and site",
            Unit::Seconds,
            self.latency.clone(),
        );
        registry.register(
            "starlette_requests_in_progress",
            "HTTP requests being processed by method, route template and site",
            self.in_progress.clone(),
        );
    }

    /// The route template and site of a matched route: `/site/atlas/token` is
    /// (`/site/{site}/token`, `atlas`), `/.well-known/oauth-protected-resource/site/atlas` is
    /// (`/.well-known/oauth-protected-resource/site/{site}`, `atlas`); unmatched requests share
    /// one template.
    fn classify(&self, matched: Option<&str>) -> (String, String) {
        let Some(path) = matched else { return ("<unmatched>".into(), String::new()) };
        if let Some(at) = path.find("/site/") {
            let (head, rest) = (&path[..at], &path[at + "/site/".len()..]);
            let (name, tail) = rest.split_once('/').map_or((rest, ""), |(n, t)| (n, t));
            if self.sites.iter().any(|s| s == name) {
                let slash = if rest.len() > name.len() { "/" } else { "" };
                return (format!("{head}/site/{{site}}{slash}{tail}"), name.to_owned());
            }
        }
        (path.to_owned(), String::new())
    }

    /// The metrics middleware.
    pub async fn track(
        State(metrics): State<HttpMetrics>,
        request: Request<Body>,
        next: Next,
    ) -> Response {
        let matched = request.extensions().get::<MatchedPath>().map(MatchedPath::as_str);
        let (path_template, site) = metrics.classify(matched);
        let labels = RequestLabels { method: request.method().to_string(), path_template, site };
        metrics.requests.get_or_create(&labels).inc();
        let started = Instant::now();
        let in_progress = metrics.in_progress.get_or_create(&labels).clone();
        in_progress.inc();
        let response = next.run(request).await;
        in_progress.dec();
        metrics.latency.get_or_create(&labels).observe(started.elapsed().as_secs_f64());
        let RequestLabels { method, path_template, site } = labels;
        let status_code = response.status().as_u16().to_string();
        metrics
            .responses
            .get_or_create(&ResponseLabels { method, path_template, status_code, site })
            .inc();
        response
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SessionLabels {
    site: String,
    state: &'static str,
}

/// MCP sessions per site, awake (a worker in memory) and asleep, counted at each scrape.
#[derive(Debug, Default)]
pub(crate) struct SessionsCollector {
    pub(crate) sites: Vec<(String, Arc<crate::sessions::SessionRecords>)>,
}

impl Collector for SessionsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(
            "mcp_sessions",
            "MCP sessions by site and state (awake: in memory; asleep: woken at the next request)",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for (site, records) in &self.sites {
            let (awake, asleep) = records.counts();
            for (state, count) in [("awake", awake), ("asleep", asleep)] {
                let labels = SessionLabels { site: site.clone(), state };
                let count = i64::try_from(count).unwrap_or(i64::MAX);
                ConstGauge::new(count).encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

/// Process metrics (resident memory, open file descriptors, uptime), read at each scrape.
#[derive(Debug)]
pub struct ProcessCollector {
    started: Instant,
    start_time: f64,
}

impl Default for ProcessCollector {
    fn default() -> Self {
        let start_time = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        Self { started: Instant::now(), start_time }
    }
}

fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..].trim().trim_end_matches("kB").trim().parse().ok()
}

/// User plus system CPU time of the process (`/proc/self/stat` fields 14 and 15, in the
/// kernel's USER_HZ ticks: 100 per second on Linux, whatever the kernel's own HZ).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from its closing one.
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 1..)?.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    #[allow(clippy::cast_precision_loss)] // ticks far below 2^52
    Some(ticks as f64 / 100.0)
}

fn open_fds() -> Option<u64> {
    std::fs::read_dir("/proc/self/fd").ok().map(|dir| dir.count() as u64)
}

fn max_fds() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

fn gauge(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    value: f64,
) -> Result<(), std::fmt::Error> {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, unit, metric.metric_type())?)
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        #[allow(clippy::cast_precision_loss)] // byte and fd counts far below 2^52
        {
            if let Some(rss) = proc_status_kib("VmRSS:") {
                let bytes = (rss * 1024) as f64;
                gauge(
                    &mut encoder,
                    "process_resident_memory",
                    "Resident memory",
                    Some(&Unit::Bytes),
                    bytes,
                )?;
            }
            if let Some(vsz) = proc_status_kib("VmSize:") {
                let bytes = (vsz * 1024) as f64;
                gauge(
                    &mut encoder,
                    "process_virtual_memory",
                    "Virtual memory",
                    Some(&Unit::Bytes),
                    bytes,
                )?;
            }
            if let Some(fds) = open_fds() {
                gauge(&mut encoder, "process_open_fds", "Open file descriptors", None, fds as f64)?;
            }
            if let Some(fds) = max_fds() {
                gauge(
                    &mut encoder,
                    "process_max_fds",
                    "Limit of open file descriptors",
                    None,
                    fds as f64,
                )?;
            }
        }
        if let Some(seconds) = cpu_seconds() {
            let metric = prometheus_client::metrics::counter::ConstCounter::new(seconds);
            metric.encode(encoder.encode_descriptor(
                "process_cpu",
                "User and system CPU time spent",
                Some(&Unit::Seconds),
                metric.metric_type(),
            )?)?;
        }
        gauge(
            &mut encoder,
            "process_start_time",
            "Start time of the process since the Unix epoch",
            Some(&Unit::Seconds),
            self.start_time,
        )?;
        gauge(
            &mut encoder,
            "process_uptime",
            "Time since the process started",
            Some(&Unit::Seconds),
            self.started.elapsed().as_secs_f64(),
        )
    }
}

/// The content type of [`render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The `/metrics` text of a registry.
pub fn render(registry: &Registry) -> Result<String, std::fmt::Error> {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_hide_site_names_and_raw_paths() {
        let metrics = HttpMetrics::new(["atlas".to_owned(), "cms".to_owned()]);
        assert_eq!(
            metrics.classify(Some("/.well-known/oauth-authorization-server/site/atlas")),
            ("/.well-known/oauth-authorization-server/site/{site}".into(), "atlas".into())
        );
        assert_eq!(
            metrics.classify(Some("/site/atlas/login/{id}")),
            ("/site/{site}/login/{id}".into(), "atlas".into())
        );
        assert_eq!(
            metrics.classify(Some("/site/atlas/")),
            ("/site/{site}/".into(), "atlas".into())
        );
        assert_eq!(metrics.classify(Some("/site/cms")), ("/site/{site}".into(), "cms".into()));
        assert_eq!(
            metrics.classify(Some("/site/cms/token")),
            ("/site/{site}/token".into(), "cms".into())
        );
        assert_eq!(metrics.classify(Some("/healthz")), ("/healthz".into(), String::new()));
        assert_eq!(metrics.classify(None), ("<unmatched>".into(), String::new()));
    }

    #[test]
    fn process_metrics_are_read() {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(ProcessCollector::default()));
        let text = render(&registry).unwrap_or_default();
        assert!(text.contains("process_resident_memory_bytes "), "{text}");
        assert!(text.contains("process_open_fds "), "{text}");
        assert!(text.contains("process_cpu_seconds_total "), "{text}");
        assert!(text.contains("process_uptime_seconds "), "{text}");
    }
}
