//! `mcp-auth-proxy` end to end: real MCP clients (the Python SDK, the MCP Inspector CLI) talk to it
//! over stdio, and it forwards to a real remote streamable-HTTP server, `rucio-mcp` in
//! shared-secret mode (a server that only checks a bearer) against the real Rucio. What the
//! clients see through the proxy is compared with what the remote answers directly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use e2e_tests::{
    HttpServer, InteractiveClient, auth_proxy_binary, free_port, inspector_command, robot_cfg,
    run_python_scenario,
};
use serde_json::Value;
use test_kit::Kit;

const SECRET: &str = "e2e-proxy-secret-8d2f6b1c93";

/// A shared-secret rucio-mcp acting as the kit's root robot, on `port`.
fn remote(cfg: &str, port: u16) -> HttpServer {
    let port = port.to_string();
    HttpServer::start(
        &["--rucio-cfg", cfg, "--site", "robot", "--port", &port],
        &[("RUCIO_MCP_SHARED_SECRET", SECRET)],
    )
}

fn robot(dir: &Path) -> String {
    let kit = Kit::load();
    robot_cfg(&kit, dir, kit.get("RUCIO_TLS_URL"))
}

fn bearer_header() -> String {
    format!("Authorization: Bearer {SECRET}")
}

/// The proxy's command line for the scenario scripts: `-- PROXY URL ARGS…`.
fn proxy_command<'a>(url: &'a str, header: &'a str, extra: &[&'a str]) -> Vec<String> {
    let mut command = vec!["--".to_owned(), auth_proxy_binary().display().to_string()];
    command.extend([url, "--header", header].map(str::to_owned));
    command.extend(extra.iter().map(|s| (*s).to_owned()));
    command
}

/// Handshake, tools, results and errors arrive as the remote sends them; when the remote restarts
/// and forgets the session, the next calls work without the client noticing.
#[test]
fn the_proxy_forwards_everything_and_reopens_a_forgotten_session() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = robot(dir.path());
    let port = free_port();
    let server = remote(&cfg, port);
    let url = server.mcp_url.clone();
    let header = bearer_header();
    let mut args = vec!["forward".to_owned()];
    args.extend(proxy_command(&url, &header, &["--debug"]));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let env = [("DIRECT_URL", url.as_str()), ("MCP_BEARER", SECRET), ("EXPECT_ACCOUNT", "root")];
    let mut client = InteractiveClient::start("proxy_scenarios.py", &args, &env);
    client.wait_for("restart the remote");
    drop(server); // killed: its sessions are gone
    let server = remote(&cfg, port);
    client.go_on();
    client.finish("the forwarding scenario", &server);
}

/// A client negotiating protocol 2026-07-28 (no sessions; routing headers on every request)
/// works through the proxy as it does directly.
#[test]
fn a_client_of_protocol_2026_07_28_works_through_the_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let server = remote(&robot(dir.path()), 0);
    let header = bearer_header();
    let mut args = vec!["modern".to_owned()];
    args.extend(proxy_command(&server.mcp_url, &header, &[]));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_python_scenario("proxy_scenarios.py", &args, &[("EXPECT_ACCOUNT", "root")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("negotiated 2026-07-28"), "{stdout}");
}

/// A wrong secret, a remote that is not there: `initialize` fails at once with an error that says
/// why, and neither the secret nor the header's value is ever printed, even with --debug.
#[test]
fn refusals_and_an_unreachable_remote_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = remote(&robot(dir.path()), 0);
    let wrong = "Authorization: Bearer not-the-secret-5e1a";
    let nowhere = format!("http://127.0.0.1:{}/mcp", free_port());
    let cases = [
        (server.mcp_url.as_str(), wrong, "refused the credentials (HTTP 401"),
        (nowhere.as_str(), wrong, "cannot reach the remote MCP server"),
    ];
    for (url, header, expected) in cases {
        let mut args = vec!["refused".to_owned()];
        args.extend(proxy_command(url, header, &["--debug"]));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let started = std::time::Instant::now();
        let out = run_python_scenario("proxy_scenarios.py", &args, &[("EXPECT_ERROR", expected)]);
        let elapsed = started.elapsed();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(all.contains("scenario refused: ok"), "{all}");
        assert!(!all.contains("not-the-secret-5e1a"), "the header's value was printed:\n{all}");
        assert!(elapsed < std::time::Duration::from_secs(20), "{expected}: took {elapsed:?}");
    }
}

/// The MCP Inspector CLI starts the proxy as its stdio server and lists and calls tools.
#[test]
fn inspector_cli_lists_and_calls_tools_through_the_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let server = remote(&robot(dir.path()), 0);
    let header = bearer_header();
    let run = |method: &[&str]| -> Value {
        let out = inspector_command()
            .args(["--format", "json", "-q"])
            .args(method)
            .arg("--")
            .arg(auth_proxy_binary())
            .args([server.mcp_url.as_str(), "--header", &header, "--no-banner"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "the Inspector CLI failed ({}):\n{stdout}\n{}\n--- remote log\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            server.log()
        );
        serde_json::from_str::<Value>(&stdout).unwrap()["result"].clone()
    };
    let tools = run(&["--method", "tools/list"]);
    assert_eq!(tools["tools"].as_array().map(Vec::len), Some(44), "{tools:#}");
    let whoami = run(&["--method", "tools/call", "--tool-name", "rucio_whoami"]);
    assert_eq!(whoami["isError"], false, "{whoami:#}");
    assert_eq!(whoami["structuredContent"]["account"], "root", "{whoami:#}");
}
