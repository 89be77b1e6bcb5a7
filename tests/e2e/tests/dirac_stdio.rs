//! `dirac-mcp serve` over stdio, driven by real MCP clients against the real DiracX of
//! `cargo xtask diracx up`: the official Python MCP SDK (`clients/dirac_scenarios.py`, which
//! validates every structured result against the tool's output schema and checks what DiracX
//! holds afterwards through its REST API) and the MCP Inspector CLI.
//!
//! Each scenario logs its users in (the kit's real authorization-code flow) into credentials
//! files of its own, and only changes jobs it submitted itself: other tests run in parallel.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use e2e_tests::{dirac_mcp_binary, inspector_command, run_python_scenario, target_dir};
use serde_json::Value;
use test_kit::Kit;

/// The kit's env file, found as `Kit::diracx()` finds it.
fn kit_env_file() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    match std::env::var_os("DIRACX_TEST_ENV") {
        Some(path) => root.join(path),
        None => target_dir().join("diracx/env"),
    }
}

/// Runs `dirac_scenarios.py <name>` against the built `dirac-mcp`; returns what it printed.
fn scenario(name: &str) -> String {
    let _kit = Kit::diracx(); // fails (never skips) without a running DiracX
    let binary = dirac_mcp_binary();
    let env_file = kit_env_file();
    let out = run_python_scenario(
        "dirac_scenarios.py",
        &[name],
        &[("DIRAC_MCP", binary.to_str().unwrap()), ("DIRACX_KIT_ENV", env_file.to_str().unwrap())],
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(stdout.contains(&format!("scenario {name}: ok")), "{stdout}");
    stdout
}

#[test]
fn tools_list_depends_on_the_user_and_read_only_mode() {
    scenario("catalog");
}

#[test]
fn initialize_and_tools_list_need_no_network() {
    scenario("offline");
}

#[test]
fn every_read_tool_and_resource_as_a_normal_user() {
    scenario("read_user");
}

#[test]
fn every_read_tool_and_resource_as_a_job_administrator() {
    scenario("read_admin");
}

#[test]
fn a_normal_user_cannot_see_or_touch_other_users_jobs_and_sandboxes() {
    let out = scenario("policy");
    assert!(out.contains("job 8 unchanged"), "{out}");
}

#[test]
fn submit_kill_delete_reschedule_and_force_a_status_verified_through_rest() {
    scenario("lifecycle");
}

#[test]
fn killing_a_job_already_done_or_killed_is_reported_as_not_killed() {
    scenario("kill_finished");
}

#[test]
fn a_missing_job_resource_is_resource_not_found() {
    scenario("resource_errors");
}

#[test]
fn output_sandbox_with_real_content_is_listed_and_downloads_the_same_bytes() {
    scenario("sandbox");
}

#[test]
fn credentials_file_shared_with_the_dirac_cli_refreshes_under_the_lock_both_ways() {
    let out = scenario("shared_credentials");
    assert!(out.contains("5 rotations, all accepted"), "{out}");
}

#[test]
fn without_a_login_calls_fail_with_authentication_and_the_server_stays_up() {
    scenario("no_login");
}

#[test]
fn diracx_down_slow_or_answering_garbage() {
    let out = scenario("backend_failures");
    assert!(out.contains("slow DiracX: answered in"), "{out}");
}

#[test]
fn dirac_agentic_evaluation_scenarios_run_against_the_seeded_diracx() {
    let out = scenario("evals");
    let passed = out.lines().filter(|l| l.starts_with("eval ") && l.ends_with(": ok")).count();
    assert_eq!(passed, 10, "all 10 evaluation scenarios: {out}");
}

/// Logs alice in through the kit's authorization-code flow; returns her credentials file.
fn alice_credentials(kit: &Kit, dir: &Path) -> PathBuf {
    let path = dir.join("credentials.json");
    let out = Command::new(kit.get("DIRACX_PYTHON"))
        .arg(Path::new(kit.get("DIRACX_LIB")).join("login.py"))
        .arg("--env")
        .arg(kit_env_file())
        .args(["code", "--user", "alice", "--credentials-out"])
        .arg(&path)
        .output()
        .unwrap();
    // stdout holds the tokens: never shown.
    assert!(out.status.success(), "login.py failed: {}", String::from_utf8_lossy(&out.stderr));
    path
}

/// The Inspector CLI against `dirac-mcp serve` as alice; returns the `result` of its JSON output.
fn inspect(inspector_args: &[&str]) -> Value {
    let kit = Kit::diracx();
    let dir = tempfile::tempdir().unwrap();
    let credentials = alice_credentials(&kit, dir.path());
    let out = inspector_command()
        .args(["--format", "json", "-q"])
        .args(inspector_args)
        .arg("--")
        .arg(dirac_mcp_binary())
        .args(["serve", "--diracx-url", kit.get("DIRACX_URL"), "--credentials-path"])
        .arg(&credentials)
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

#[test]
fn inspector_lists_the_tools_and_calls_job_summary() {
    let result = inspect(&["--method", "tools/list"]);
    let tools = result["tools"].as_array().unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 12, "alice sees every tool but dirac_set_job_status: {names:?}");
    assert!(!names.contains(&"dirac_set_job_status"), "{names:?}");
    let summary = tools.iter().find(|t| t["name"] == "dirac_job_summary").unwrap();
    let group_by = &summary["inputSchema"]["properties"]["group_by"]["type"];
    assert!(
        group_by == "array" || group_by.as_array().is_some_and(|t| t.contains(&"array".into())),
        "{summary:#}"
    );
    assert_eq!(summary["annotations"]["readOnlyHint"], true, "{summary:#}");

    let result = inspect(&[
        "--method",
        "tools/call",
        "--tool-name",
        "dirac_job_summary",
        "--tool-arg",
        "parameter=JobID",
        "operator=lt",
        "value=10",
    ]);
    assert_eq!(result["isError"], false, "{result:#}");
    let summary = &result["structuredContent"];
    assert_eq!(summary["total"], 6, "alice's seeded jobs 1-6: {summary:#}");
    let mut groups: Vec<(String, u64)> = summary["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["Status"].as_str().unwrap().to_owned(), g["count"].as_u64().unwrap()))
        .collect();
    groups.sort();
    let expected: Vec<(String, u64)> =
        ["Done", "Failed", "Killed", "Received", "Running", "Stalled"]
            .iter()
            .map(|s| ((*s).to_owned(), 1))
            .collect();
    assert_eq!(groups, expected, "{summary:#}");
}
