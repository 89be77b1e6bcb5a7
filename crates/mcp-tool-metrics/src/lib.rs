//! The tool metrics of an MCP server, under its prefix: for rucio-mcp the names of the Python
//! rucio-mcp, so existing dashboards keep working: `rucio_mcp_tool_calls_total{site,tool}`,
//! `rucio_mcp_tool_call_duration_seconds{site,tool}`,
//! `rucio_mcp_tool_errors_total{site,tool,category}` and `rucio_mcp_cached_clients{site}`;
//! dirac-mcp's are the same under `dirac_mcp_`. The HTTP transport serves the registry.
//!
//! Tool crates record into it; it depends on `prometheus-client` only (no MCP, no transport).

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ToolLabels {
    site: String,
    tool: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SiteLabels {
    site: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    site: String,
    tool: String,
    category: String,
}

fn duration_histogram() -> Histogram {
    // 5 ms .. ~20 s: backend calls range from a cached lookup to a slow search.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(0.005, 2.0, 13))
}

/// The tool metrics of one process (cheap to clone; clones share the counters).
#[derive(Clone, Debug)]
pub struct ToolMetrics {
    prefix: &'static str,
    calls: Family<ToolLabels, Counter>,
    duration: Family<ToolLabels, Histogram, fn() -> Histogram>,
    errors: Family<ErrorLabels, Counter>,
    cached_clients: Family<SiteLabels, Gauge>,
}

impl ToolMetrics {
    /// Metrics named `{prefix}_tool_calls_total`, ….
    pub fn new(prefix: &'static str) -> Self {
        Self {
            prefix,
            calls: Family::default(),
            duration: Family::new_with_constructor(duration_histogram),
            errors: Family::default(),
            cached_clients: Family::default(),
        }
    }

    /// Adds the metrics to `registry` (the HTTP server's `/metrics`).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            format!("{}_tool_calls", self.prefix),
            "Tool calls, by site and tool",
            self.calls.clone(),
        );
        registry.register_with_unit(
            format!("{}_tool_call_duration", self.prefix),
            "Duration of tool calls, by site and tool",
            Unit::Seconds,
            self.duration.clone(),
        );
        registry.register(
            format!("{}_tool_errors", self.prefix),
            "Failed tool calls, by site, tool and error category",
            self.errors.clone(),
        );
        registry.register(
            format!("{}_cached_clients", self.prefix),
            "Backend clients held for reuse, by site",
            self.cached_clients.clone(),
        );
    }

    /// How many backend clients a site keeps (one in single-identity modes, one per user behind
    /// the OAuth bridge).
    pub fn set_cached_clients(&self, site: &str, count: i64) {
        self.cached_clients.get_or_create(&SiteLabels { site: site.to_owned() }).set(count);
    }

    /// One finished call; `error` is the failure's category (`did_not_found`, …).
    pub fn record(&self, site: &str, tool: &str, elapsed: Duration, error: Option<&str>) {
        let labels = ToolLabels { site: site.to_owned(), tool: tool.to_owned() };
        self.calls.get_or_create(&labels).inc();
        self.duration.get_or_create(&labels).observe(elapsed.as_secs_f64());
        if let Some(category) = error {
            let labels = ErrorLabels {
                site: site.to_owned(),
                tool: tool.to_owned(),
                category: category.to_owned(),
            };
            self.errors.get_or_create(&labels).inc();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names_and_labels_match_rucio_mcp() {
        let metrics = ToolMetrics::new("rucio_mcp");
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        metrics.record("atlas", "rucio_whoami", Duration::from_millis(12), None);
        metrics.record("atlas", "rucio_get_did", Duration::from_millis(3), Some("did_not_found"));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains(r#"rucio_mcp_tool_calls_total{site="atlas",tool="rucio_whoami"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"rucio_mcp_tool_call_duration_seconds_count{site="atlas",tool="rucio_get_did"} 1"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"rucio_mcp_tool_errors_total{site="atlas",tool="rucio_get_did",category="did_not_found"} 1"#), "{text}");
    }
}
