//! `rucio-mcp serve` over stdio, driven by the official Python MCP SDK (`clients/stdio_scenarios.py`)
//! against the real Rucio. The SDK validates every structured result against the tool's schema.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use e2e_tests::{browser_env, rucio_mcp_binary, run_python_scenario};
use test_kit::Kit;

fn reference_json() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/reference/rucio-mcp-0.10.0-tools.json")
        .display()
        .to_string()
}

/// Runs a scenario against `rucio-mcp serve <args>`.
fn scenario(name: &str, serve_args: &[&str], env: &[(&str, &str)]) -> String {
    let binary = rucio_mcp_binary();
    let mut args = vec![name, "--", binary.to_str().unwrap(), "serve"];
    args.extend_from_slice(serve_args);
    let out = run_python_scenario("stdio_scenarios.py", &args, env);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn tools_list_matches_rucio_mcp_0_10_0() {
    let kit = Kit::load();
    let cfg = kit.get("RUCIO_CLIENT_CONFIG");
    let reference = reference_json();
    scenario("catalog", &["--rucio-cfg", cfg], &[("REFERENCE_JSON", &reference)]);
}

#[test]
fn read_only_hides_and_refuses_write_tools() {
    let kit = Kit::load();
    let reference = reference_json();
    let cfg = kit.get("RUCIO_CLIENT_CONFIG");
    scenario(
        "catalog",
        &["--rucio-cfg", cfg, "--read-only"],
        &[("REFERENCE_JSON", &reference), ("READ_ONLY", "1")],
    );
}

#[test]
fn atlas_site_answers_without_network_and_offers_the_nomenclature() {
    // The real ATLAS servers are unreachable from here: initialize, tools/list and resources must
    // not need them (a tool call would). The refused write tool needs no network either.
    let reference = reference_json();
    let out = scenario(
        "catalog",
        &["--site", "atlas", "--read-only"],
        &[("REFERENCE_JSON", &reference), ("READ_ONLY", "1"), ("EXPECT_NOMENCLATURE", "1")],
    );
    assert!(out.contains("initialized in"), "{out}");
}

#[test]
fn every_read_tool_on_seeded_data() {
    let kit = Kit::load();
    scenario(
        "read",
        &["--rucio-cfg", kit.get("RUCIO_CLIENT_CONFIG")],
        &[
            ("RUCIO_SEED_JSON", kit.get("RUCIO_SEED_JSON")),
            ("RUCIO_VERSION", kit.get("RUCIO_VERSION")),
        ],
    );
}

#[test]
fn paging_through_a_listing() {
    let kit = Kit::load();
    scenario("paging", &["--rucio-cfg", kit.get("RUCIO_CLIENT_CONFIG")], &[]);
}

#[test]
fn error_paths_are_tool_errors_with_categories() {
    let kit = Kit::load();
    scenario("errors", &["--rucio-cfg", kit.get("RUCIO_CLIENT_CONFIG")], &[]);
}

#[test]
fn write_tools_create_update_reduce_move_approve_deny_and_delete_real_rules() {
    let kit = Kit::load();
    let life = kit.new_file("mcp-life", &["MOCK-POSIX"]);
    let reduce = kit.new_file("mcp-reduce", &["MOCK-POSIX", "MOCK-POSIX2"]);
    let approve = kit.new_file("mcp-approve", &["MOCK-POSIX"]);
    let deny = kit.new_file("mcp-deny", &["MOCK-POSIX"]);
    scenario(
        "rules",
        &["--rucio-cfg", kit.get("RUCIO_CLIENT_CONFIG")],
        &[
            ("FILE_LIFE", &life),
            ("FILE_REDUCE", &reduce),
            ("FILE_APPROVE", &approve),
            ("FILE_DENY", &deny),
        ],
    );
}

#[test]
fn list_and_enum_arguments_in_every_spelling_people_use() {
    let kit = Kit::load();
    let files =
        [kit.new_file("mcp-args-a", &["MOCK-POSIX"]), kit.new_file("mcp-args-b", &["MOCK-POSIX"])];
    scenario(
        "arguments",
        &["--rucio-cfg", kit.get("RUCIO_CLIENT_CONFIG")],
        &[("RULE_FILES", &files.join(","))],
    );
}

/// A rucio.cfg for the OIDC login of `jdoe` through the local OpenID provider.
fn oidc_cfg(kit: &Kit, dir: &Path) -> String {
    let url = kit.get("RUCIO_URL");
    let cfg = format!(
        "[client]\nrucio_host = {url}\nauth_host = {url}\nauth_type = oidc\naccount = {account}\noidc_scope = {scope}\n\
         oidc_audience = {aud}\noidc_polling = true\nauth_token_file_path = {tok}\n",
        account = kit.get("OIDC_LOGIN_ACCOUNT"),
        scope = kit.get("OIDC_SCOPE"),
        aud = kit.get("OIDC_AUDIENCE"),
        tok = dir.join("token").display(),
    );
    let path = dir.join("oidc.cfg");
    std::fs::write(&path, cfg).unwrap();
    path.display().to_string()
}

#[test]
fn oidc_login_through_url_elicitation_with_progress() {
    let kit = Kit::load();
    let dir = tempfile::tempdir().unwrap();
    let cfg = oidc_cfg(&kit, dir.path());
    let env = browser_env(&kit);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    scenario("oidc_elicitation", &["--rucio-cfg", &cfg], &env);
    assert!(dir.path().join("token").exists(), "the token is cached where the Python client looks");
}

#[test]
fn oidc_login_link_in_the_result_for_clients_without_elicitation() {
    let kit = Kit::load();
    let dir = tempfile::tempdir().unwrap();
    let cfg = oidc_cfg(&kit, dir.path());
    let env = browser_env(&kit);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    scenario("oidc_link", &["--rucio-cfg", &cfg], &env);
}

#[test]
fn x509_proxy_login_and_proxy_info() {
    let kit = Kit::load();
    let dir = tempfile::tempdir().unwrap();
    let proxy = kit.make_proxy(dir.path(), 2048);
    let url = kit.get("RUCIO_TLS_URL");
    let cfg = dir.path().join("x509.cfg");
    std::fs::write(
        &cfg,
        format!(
            "[client]\nrucio_host = {url}\nauth_host = {url}\naccount = root\nca_cert = {ca}\nauth_token_file_path = {tok}\n",
            ca = kit.get("RUCIO_CA_CERT"),
            tok = dir.path().join("token").display()
        ),
    )
    .unwrap();
    // `--auth-type x509` without a client certificate means the grid proxy, as in rucio-mcp 0.10.0.
    scenario(
        "proxy",
        &["--rucio-cfg", cfg.to_str().unwrap(), "--auth-type", "x509"],
        &[("X509_USER_PROXY", proxy.to_str().unwrap())],
    );
}

#[test]
fn oidc_login_as_an_input_request_on_protocol_2026_07_28() {
    let kit = Kit::load();
    let dir = tempfile::tempdir().unwrap();
    let cfg = oidc_cfg(&kit, dir.path());
    let env = browser_env(&kit);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    scenario("oidc_modern", &["--rucio-cfg", &cfg], &env);
}
