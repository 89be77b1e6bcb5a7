//! The tool catalog: names, texts, input and output schemas, annotations, from `catalog.json`.
//!
//! The schemas are data, not derived from Rust types, so that they match rucio-mcp 0.10.0's exactly
//! (names, types, defaults, required sets) and a change to what a model sees is a visible diff.

use std::sync::OnceLock;

use rmcp::model::Tool;
use serde::Deserialize;

/// One tool as the catalog describes it, in the form rmcp serves.
#[derive(Clone, Debug)]
pub struct ToolSpec {
    pub tool: Tool,
}

impl ToolSpec {
    pub fn name(&self) -> &str {
        &self.tool.name
    }

    /// Whether the tool changes Rucio (hidden and refused in read-only mode).
    pub fn writes(&self) -> bool {
        self.tool.annotations.as_ref().and_then(|a| a.read_only_hint) == Some(false)
    }
}

#[derive(Deserialize)]
struct Catalog {
    tools: Vec<Tool>,
}

const CATALOG_JSON: &str = include_str!("catalog.json");

/// All tools of the stdio server, parsed once (straight into rmcp's type: start-up is on the
/// path of the first `tools/list`).
pub fn tools() -> &'static [ToolSpec] {
    static TOOLS: OnceLock<Vec<ToolSpec>> = OnceLock::new();
    TOOLS.get_or_init(|| parse(CATALOG_JSON))
}

/// A compiled-in catalog; checked by the tests below, so it cannot fail at run time.
fn parse(json: &str) -> Vec<ToolSpec> {
    match serde_json::from_str::<Catalog>(json) {
        Ok(catalog) => catalog.tools.into_iter().map(|tool| ToolSpec { tool }).collect(),
        Err(e) => {
            tracing::error!(error = %e, "a built-in tool catalog is malformed");
            Vec::new()
        }
    }
}

/// Tools only the multi-user HTTP server has (behind the OAuth bridge): `rucio_token_info`.
pub fn bridge_tools() -> &'static [ToolSpec] {
    static TOOLS: OnceLock<Vec<ToolSpec>> = OnceLock::new();
    TOOLS.get_or_init(|| parse(BRIDGE_CATALOG_JSON))
}

const BRIDGE_CATALOG_JSON: &str = include_str!("catalog_bridge.json");

/// Tools a single-identity server has but the multi-user one does not: the proxy file is the
/// server's own, not the signed-in user's.
pub const SINGLE_IDENTITY_ONLY: &[&str] = &["rucio_voms_proxy_info"];

pub fn find(name: &str) -> Option<&'static ToolSpec> {
    tools().iter().chain(bridge_tools()).find(|t| t.name() == name)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use serde_json::Value;

    fn reference() -> Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/reference/rucio-mcp-0.10.0-tools.json"
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    /// A schema without our texts, for comparison with the reference (which has none).
    fn strip_texts(value: &Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.iter()
                    .filter(|(k, _)| !matches!(k.as_str(), "description" | "title"))
                    .map(|(k, v)| (k.clone(), strip_texts(v)))
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(strip_texts).collect()),
            other => other.clone(),
        }
    }

    #[test]
    fn catalog_matches_rucio_mcp_0_10_0() {
        let reference = reference();
        let ref_tools = reference["modes"]["stdio:escape"]["tools"].as_array().unwrap();
        assert_eq!(tools().len(), 44);
        assert_eq!(ref_tools.len(), tools().len());
        for r in ref_tools {
            let name = r["name"].as_str().unwrap();
            let ours =
                serde_json::to_value(&find(name).unwrap_or_else(|| panic!("{name} missing")).tool)
                    .unwrap();
            assert_eq!(strip_texts(&ours["inputSchema"]), r["inputSchema"], "{name} input schema");
            let mut out = ours["outputSchema"].as_object().unwrap().clone();
            if let Some(Value::Object(props)) = out.get_mut("properties") {
                // Our one addition: where the next page starts.
                props.remove("next_offset");
            }
            assert_eq!(strip_texts(&Value::Object(out)), r["outputSchema"], "{name} output schema");
            let mut annotations = ours["annotations"].as_object().unwrap().clone();
            annotations.remove("title");
            assert_eq!(Value::Object(annotations), r["annotations"], "{name} annotations");
        }
    }

    #[test]
    fn every_tool_and_parameter_is_described() {
        for spec in tools().iter().chain(bridge_tools()) {
            let tool = &spec.tool;
            assert!(
                tool.description.as_deref().unwrap_or_default().len() > 40,
                "{} needs a real description",
                tool.name
            );
            assert!(tool.title.as_deref().is_some_and(|t| !t.is_empty()));
            if let Some(Value::Object(props)) = tool.input_schema.get("properties") {
                for (param, schema) in props {
                    let text =
                        schema.get("description").and_then(Value::as_str).unwrap_or_default();
                    assert!(!text.is_empty(), "{}.{param} has no description", tool.name);
                }
            }
        }
        assert_eq!(bridge_tools().len(), 1);
        assert!(bridge_tools()[0].tool.output_schema.is_some());
        let writes: Vec<&str> = tools().iter().filter(|t| t.writes()).map(ToolSpec::name).collect();
        assert_eq!(writes.len(), 7, "{writes:?}");
    }
}
