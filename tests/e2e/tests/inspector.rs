//! The MCP Inspector CLI (`@modelcontextprotocol/inspector@2.12.0 --cli`, installed by
//! `cargo xtask clients`) drives `rucio-mcp serve` over stdio against the real Rucio: a second,
//! independent MCP client next to the Python SDK.
//!
//! The Inspector spawns the server itself (`--method … -- <rucio-mcp> serve …`; the `--` keeps
//! server flags such as `--log-level` away from the Inspector's own) and prints one JSON object,
//! `{"result": …}`, with `--format json -q`. `--tool-arg key=value` values are typed from the
//! tool's `inputSchema`, so `limit=2` arrives as the integer 2.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use e2e_tests::{inspector_command, rucio_mcp_binary};
use serde_json::Value;
use test_kit::Kit;

/// Runs the Inspector CLI with `inspector_args` against `rucio-mcp serve --rucio-cfg <kit> <serve_args>`;
/// returns the `result` of its JSON output.
fn inspect(serve_args: &[&str], inspector_args: &[&str]) -> Value {
    let kit = Kit::load();
    let out = inspector_command()
        .args(["--format", "json", "-q"])
        .args(inspector_args)
        .arg("--")
        .arg(rucio_mcp_binary())
        .args(["serve", "--rucio-cfg", kit.get("RUCIO_CLIENT_CONFIG")])
        .args(serve_args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the Inspector CLI failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("the Inspector printed no JSON ({e}):\n{stdout}"));
    json.get("result").cloned().unwrap_or_else(|| panic!("no `result` in {json:#}"))
}

fn call_tool(tool: &str, args: &[&str]) -> Value {
    let mut inspector_args = vec!["--method", "tools/call", "--tool-name", tool];
    if !args.is_empty() {
        inspector_args.push("--tool-arg");
        inspector_args.extend_from_slice(args);
    }
    let result = inspect(&[], &inspector_args);
    assert_eq!(result["isError"], false, "{tool} failed: {result:#}");
    result["structuredContent"].clone()
}

fn tool_names(serve_args: &[&str]) -> Vec<String> {
    let result = inspect(serve_args, &["--method", "tools/list"]);
    result["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn tools_list_shows_every_tool_with_its_schema() {
    let result = inspect(&[], &["--method", "tools/list"]);
    let tools = result["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 44, "{:?}", tools.iter().map(|t| &t["name"]).collect::<Vec<_>>());
    let list_dids = tools.iter().find(|t| t["name"] == "rucio_list_dids").unwrap();
    let schema = &list_dids["inputSchema"];
    assert_eq!(schema["properties"]["did_pattern"]["type"], "string", "{schema:#}");
    assert!(
        schema["required"].as_array().unwrap().iter().any(|r| r == "did_pattern"),
        "{schema:#}"
    );
}

#[test]
fn read_only_hides_the_rule_tools() {
    let names = tool_names(&["--read-only"]);
    assert_eq!(names.len(), 37, "{names:?}");
    assert!(!names.iter().any(|n| n == "rucio_add_rule"), "{names:?}");
    assert!(names.iter().any(|n| n == "rucio_list_dids"), "{names:?}");
}

#[test]
fn whoami_is_root() {
    let whoami = call_tool("rucio_whoami", &[]);
    assert_eq!(whoami["account"], "root", "{whoami:#}");
}

#[test]
fn get_did_reports_size_and_file_count() {
    let did = call_tool("rucio_get_did", &["did=data24:data24.run00001.DAOD"]);
    assert_eq!(did["bytes"], 6003, "{did:#}");
    assert_eq!(did["length"], 3, "{did:#}");
}

#[test]
fn list_dids_pages_with_an_integer_limit() {
    // `limit=2` is typed as an integer by the Inspector from the tool's inputSchema.
    let page = call_tool("rucio_list_dids", &["did_pattern=data24:*", "limit=2"]);
    assert_eq!(page["limit"], 2, "{page:#}");
    assert_eq!(page["dids"].as_array().unwrap().len(), 2, "{page:#}");
    assert_eq!(page["truncated"], true, "{page:#}");
    assert_eq!(page["next_offset"], 2, "{page:#}");
}
