//! `rucio-mcp serve --transport http --shared-secret` end to end: real MCP clients (the Python SDK
//! with a static `Authorization` header, the MCP Inspector CLI) against the real Rucio, with an x509
//! robot identity through the fixture's TLS port; the HTTP edge (401, 403, 413, JSON-RPC errors),
//! a Rucio outage mid-session, graceful shutdown during a call, metrics, and logs without secrets.
//!
//! Each test runs its own server on a free port. The robot reaches Rucio through a [`Relay`], so a
//! test can take Rucio away from its server without disturbing the Rucio other tests share.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use e2e_tests::{
    HttpServer, InteractiveClient, Relay, assert_success, clients_dir, inspector_command,
    mcp_python, robot_cfg,
};
use serde_json::{Value, json};
use test_kit::Kit;

const SECRET: &str = "e2e-shared-secret-4f9c2a7d1b";

fn tls_relay(kit: &Kit) -> Relay {
    let tls = kit.get("RUCIO_TLS_URL");
    Relay::start(tls.trim_start_matches("https://"))
}

/// A robot server: (kit, relay, server, tempdir).
fn robot_server(extra: &[&str]) -> (Kit, Relay, HttpServer, tempfile::TempDir) {
    let kit = Kit::load();
    let dir = tempfile::tempdir().unwrap();
    let relay = tls_relay(&kit);
    let cfg = robot_cfg(&kit, dir.path(), &format!("https://{}", relay.addr));
    let mut args = vec!["--rucio-cfg", cfg.as_str(), "--site", "robot"];
    args.extend_from_slice(extra);
    let server = HttpServer::start(&args, &[("RUCIO_MCP_SHARED_SECRET", SECRET)]);
    (kit, relay, server, dir)
}

fn python_scenario(
    scenario: &str,
    url: &str,
    bearer: &str,
    env: &[(&str, &str)],
) -> std::process::Output {
    Command::new(mcp_python())
        .arg(clients_dir().join("http_scenarios.py"))
        .args([scenario, url])
        .env("MCP_BEARER", bearer)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// A plain HTTP exchange: (status, headers, body).
fn http(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> (u16, reqwest::header::HeaderMap, String) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        let mut request = client.request(method.parse().unwrap(), url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (status, headers, response.text().await.unwrap_or_default())
    })
}

const MCP_HEADERS: [(&str, &str); 2] =
    [("content-type", "application/json"), ("accept", "application/json, text/event-stream")];

fn initialize_body() -> Vec<u8> {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "e2e", "version": "1"}}})
    .to_string()
    .into_bytes()
}

fn initialize(url: &str, extra: &[(&str, &str)]) -> (u16, String) {
    let bearer = format!("Bearer {SECRET}");
    let mut headers = vec![("authorization", bearer.as_str())];
    headers.extend_from_slice(&MCP_HEADERS);
    headers.extend_from_slice(extra);
    let (status, _, body) = http("POST", url, &headers, Some(initialize_body()));
    (status, body)
}

fn metrics(server: &HttpServer) -> String {
    http("GET", &server.metrics_url, &[], None).2
}

#[test]
fn python_sdk_works_as_the_robot_and_metrics_count_it() {
    let (kit, _relay, server, _dir) = robot_server(&[]);
    let seed = kit.seed();
    let scope = seed["scopes"].as_object().unwrap().keys().find(|s| *s == "test").unwrap().clone();
    let out = python_scenario(
        "robot",
        &server.mcp_url,
        SECRET,
        &[("EXPECT_ACCOUNT", "root"), ("SEED_SCOPE", &scope)],
    );
    assert_success(&out, "the Python SDK robot scenario", &server);
    let out = python_scenario("modern", &server.mcp_url, SECRET, &[("EXPECT_ACCOUNT", "root")]);
    assert_success(&out, "the Python SDK on protocol 2026-07-28", &server);
    assert!(server.mcp_url.ends_with("/site/robot/"), "{}", server.mcp_url);

    let text = metrics(&server);
    for expected in [
        r#"rucio_mcp_tool_calls_total{site="robot",tool="rucio_whoami"} 2"#,
        r#"rucio_mcp_tool_calls_total{site="robot",tool="rucio_list_dids"} 1"#,
        r#"rucio_mcp_tool_errors_total{site="robot",tool="rucio_get_did",category="did_not_found"} 1"#,
        r#"rucio_mcp_tool_call_duration_seconds_count{site="robot",tool="rucio_whoami"} 2"#,
        r#"rucio_mcp_cached_clients{site="robot"} 1"#,
        r#"starlette_responses_total{method="POST",path_template="/site/{site}/",status_code="200",site="robot"}"#,
        "process_resident_memory_bytes ",
        "process_open_fds ",
    ] {
        assert!(text.contains(expected), "metrics lack {expected}:\n{text}");
    }
    // Route templates, never raw paths.
    assert!(!text.contains("/site/robot"), "a raw path leaked into the labels:\n{text}");
}

#[test]
fn inspector_cli_lists_and_calls_tools_over_http() {
    let (_kit, _relay, server, _dir) = robot_server(&["--read-only"]);
    let bearer = format!("Authorization: Bearer {SECRET}");
    let run = |args: &[&str]| -> Value {
        let out = inspector_command()
            .args(["--format", "json", "-q", "--transport", "http", "--server-url"])
            .arg(&server.mcp_url)
            .args(["--header", &bearer])
            .args(args)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "the Inspector CLI failed ({}):\n{stdout}\n{}\n--- server log\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            server.log()
        );
        let json: Value = serde_json::from_str(&stdout).unwrap();
        json["result"].clone()
    };
    let tools = run(&["--method", "tools/list"]);
    let names: Vec<&str> =
        tools["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 37, "read-only lists the 37 reading tools: {names:?}");
    assert!(!names.contains(&"rucio_add_rule"));
    let whoami = run(&["--method", "tools/call", "--tool-name", "rucio_whoami"]);
    assert_eq!(whoami["isError"], false, "{whoami:#}");
    assert_eq!(whoami["structuredContent"]["account"], "root", "{whoami:#}");
}

#[test]
fn requests_without_the_secret_get_401_and_no_secret_is_logged() {
    let (_kit, _relay, server, _dir) =
        robot_server(&["--log-level", "debug", "--log-format", "json"]);
    let url = &server.mcp_url;
    let body = || Some(initialize_body());
    let (status, headers, _) = http("POST", url, &MCP_HEADERS, body());
    assert_eq!(status, 401, "no bearer");
    let challenge = headers["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.starts_with("Bearer "), "{challenge}");

    let mut wrong = MCP_HEADERS.to_vec();
    wrong.push(("authorization", "Bearer e2e-shared-secret-4f9c2a7d1c"));
    let (status, headers, _) = http("POST", url, &wrong, body());
    assert_eq!(status, 401, "wrong bearer");
    assert!(headers["www-authenticate"].to_str().unwrap().contains("invalid_token"));

    let mut basic = MCP_HEADERS.to_vec();
    let basic_value = format!("Basic {SECRET}");
    basic.push(("authorization", basic_value.as_str()));
    assert_eq!(http("POST", url, &basic, body()).0, 401, "not a bearer scheme");

    let in_query = format!("{url}?access_token={SECRET}");
    let (status, headers, _) = http("POST", &in_query, &MCP_HEADERS, body());
    assert_eq!(status, 401, "bearer in the query string");
    assert!(headers["www-authenticate"].to_str().unwrap().contains("invalid_request"));

    let (status, answer) = initialize(url, &[]);
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("\"serverInfo\""), "{answer}");

    let log = server.log();
    assert!(!log.contains(SECRET), "the shared secret appears in the log:\n{log}");
    assert!(!log.contains("4f9c2a7d1c"), "a presented token appears in the log:\n{log}");
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        serde_json::from_str::<Value>(line)
            .unwrap_or_else(|e| panic!("--log-format json wrote a non-JSON line ({e}): {line}"));
    }
}

#[test]
fn foreign_host_or_origin_gets_403() {
    let (_kit, _relay, server, _dir) = robot_server(&[]);
    let url = &server.mcp_url;
    let (status, _) = initialize(url, &[("host", "evil.example.com")]);
    assert_eq!(status, 403, "foreign Host");
    let (status, _) = initialize(url, &[("origin", "https://evil.example.com")]);
    assert_eq!(status, 403, "foreign Origin");
    // The landing page is guarded too; health probes are not.
    let root = format!("{}/", server.base_url);
    assert_eq!(http("GET", &root, &[("host", "evil.example.com")], None).0, 403);
    let (status, _, page) = http("GET", &root, &[], None);
    assert_eq!(status, 200);
    assert!(page.contains(url.as_str()) && page.contains("Claude Code"), "{page}");
    assert!(!page.contains(SECRET), "the landing page shows the secret");
    // Our own origin is welcome.
    let own = server.base_url.clone();
    let (status, body) = initialize(url, &[("origin", own.as_str())]);
    assert_eq!(status, 200, "own Origin: {body}");
}

#[test]
fn oversized_and_malformed_requests_get_clear_errors_and_the_server_stays_up() {
    let (_kit, _relay, mut server, _dir) = robot_server(&[]);
    let url = &server.mcp_url.clone();
    let bearer = format!("Bearer {SECRET}");
    let mut headers = MCP_HEADERS.to_vec();
    headers.push(("authorization", bearer.as_str()));

    assert_eq!(post_20_mb(&server), 413, "20 MB body");
    assert!(server.is_running());

    let (status, _, body) =
        http("POST", url, &headers, Some(b"{\"jsonrpc\": \"2.0\", oops".to_vec()));
    assert_eq!(status, 400, "{body}");
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["error"]["code"], -32700, "{body}");
    assert_eq!(error["jsonrpc"], "2.0");

    let (status, _, body) =
        http("POST", url, &headers, Some(b"{\"id\": 4, \"method\": \"ping\"}".to_vec()));
    assert_eq!(status, 400, "{body}");
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["error"]["code"], -32600, "{body}");
    assert_eq!(error["id"], 4, "{body}");

    let health = format!("{}/healthz", server.base_url);
    let (status, _, body) = http("GET", &health, &[], None);
    assert_eq!((status, body.as_str()), (200, "ok"));
    let (status, body) = initialize(url, &[]);
    assert_eq!(status, 200, "after the bad requests: {body}");
}

/// POSTs a 20 MB body the way simple clients do: all of it is written before the answer is read,
/// so the server must keep reading after it refused the body, or the client sees a reset.
fn post_20_mb(server: &HttpServer) -> u16 {
    let addr = server.base_url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let size = 20 * 1024 * 1024;
    let head = format!(
        "POST /site/robot/ HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {SECRET}\r\n\
         Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
         Content-Length: {size}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let chunk = vec![b' '; 64 * 1024];
    for _ in 0..size / chunk.len() {
        stream.write_all(&chunk).expect("the server reads (and discards) the rest of the body");
    }
    let mut status_line = String::new();
    BufReader::new(&stream).read_line(&mut status_line).unwrap();
    status_line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[test]
fn rucio_outage_mid_session_gives_tool_errors_and_not_ready_then_recovers() {
    let (_kit, relay, server, _dir) = robot_server(&[]);
    let ready = format!("{}/readyz", server.base_url);
    let health = format!("{}/healthz", server.base_url);
    assert_eq!(http("GET", &ready, &[], None).0, 200, "ready at start");

    // One MCP session across the outage: the script waits for our word between its phases.
    let mut client = InteractiveClient::start(
        "http_scenarios.py",
        &["outage", &server.mcp_url],
        &[("MCP_BEARER", SECRET)],
    );
    client.wait_for("phase: up");
    relay.go_down();
    let (status, _, body) = http("GET", &ready, &[], None);
    assert_eq!(status, 503, "readyz while Rucio is down: {body}");
    assert!(body.contains("robot"), "{body}");
    assert_eq!(http("GET", &health, &[], None).0, 200, "healthz stays up");
    client.go_on();
    client.wait_for("phase: down");
    relay.come_back();
    assert_eq!(http("GET", &ready, &[], None).0, 200, "ready again");
    client.go_on();
    client.finish("the outage scenario", &server);
}

#[test]
fn sigterm_during_a_slow_call_lets_it_finish_then_exits_0() {
    let (_kit, relay, mut server, _dir) = robot_server(&[]);
    // Every new connection to Rucio now takes 3 s: the robot's first call (login + whoami) is slow.
    relay.set_delay(Duration::from_secs(3));
    let mut client = InteractiveClient::start(
        "http_scenarios.py",
        &["slow_call", &server.mcp_url],
        &[("MCP_BEARER", SECRET)],
    );
    client.wait_for("calling");
    // The call is on its way; let it reach the server, then ask the server to stop.
    std::thread::sleep(Duration::from_millis(800));
    server.terminate();
    client.finish("the call running during shutdown", &server);
    let status =
        server.wait(Duration::from_secs(20)).expect("the server did not exit after SIGTERM");
    assert!(status.success(), "exit status {status}:\n{}", server.log());
    let log = server.log();
    assert!(log.contains("shutting down"), "{log}");
}

#[test]
fn invalid_combinations_fail_at_startup_with_a_clear_message() {
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let out = Command::new(e2e_tests::rucio_mcp_binary())
            .args(args)
            .env_remove("RUCIO_MCP_SHARED_SECRET")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} should fail");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!stderr.contains(SECRET), "the secret is echoed: {stderr}");
        stderr
    };
    let stderr = run(&["serve", "--shared-secret", SECRET], &[]);
    assert!(stderr.contains("--transport http"), "{stderr}");
    let stderr = run(
        &["serve", "--transport", "http", "--site", "atlas", "--site", "cms", "--port", "0"],
        &[("RUCIO_MCP_SHARED_SECRET", SECRET)],
    );
    assert!(stderr.contains("atlas, cms"), "{stderr}");
    let stderr = run(&["serve", "--transport", "http", "--site", "atlas", "--port", "0"], &[]);
    assert!(stderr.contains("--shared-secret"), "{stderr}");
    let stderr = run(
        &["serve", "--transport", "http", "--site", "atlas", "--host", "0.0.0.0", "--port", "0"],
        &[("RUCIO_MCP_SHARED_SECRET", SECRET)],
    );
    assert!(stderr.contains("resource"), "{stderr}");
}

#[test]
fn forwarded_headers_count_only_from_trusted_proxies() {
    // Behind a reverse proxy on 127.0.0.1 (trusted by default), the public name arrives in
    // X-Forwarded-Host and is what Host validation sees.
    let public = "https://mcp.example.org/";
    let (_kit, _relay, server, _dir) = robot_server(&["--resource-url", public]);
    assert_eq!(server.mcp_url, "https://mcp.example.org/site/robot/");
    let local = format!("{}/site/robot/", server.base_url);
    let (status, body) = initialize(&local, &[("x-forwarded-host", "mcp.example.org")]);
    assert_eq!(status, 200, "the public name through a trusted proxy: {body}");
    let (status, _) = initialize(&local, &[("x-forwarded-host", "evil.example.com")]);
    assert_eq!(status, 403, "a foreign name through a trusted proxy");
    let (status, _) = initialize(
        &local,
        &[("x-forwarded-host", "mcp.example.org"), ("origin", "https://mcp.example.org")],
    );
    assert_eq!(status, 200, "the public origin");
    let (_, _, page) = http("GET", &format!("{}/", server.base_url), &[], None);
    assert!(page.contains("https://mcp.example.org/site/robot/"), "{page}");

    // The same headers from a peer that is not a trusted proxy are dropped, not believed.
    let (_kit, _relay, server, _dir) =
        robot_server(&["--resource-url", public, "--forwarded-allow-ips", "10.0.0.0/8"]);
    let local = format!("{}/site/robot/", server.base_url);
    let (status, body) = initialize(&local, &[("x-forwarded-host", "evil.example.com")]);
    assert_eq!(status, 200, "an untrusted X-Forwarded-Host is ignored: {body}");
}

#[test]
fn the_secret_can_come_from_a_file_and_the_command_line_gets_a_warning() {
    let kit = Kit::load();
    let dir = tempfile::tempdir().unwrap();
    let relay = tls_relay(&kit);
    let cfg = robot_cfg(&kit, dir.path(), &format!("https://{}", relay.addr));
    let file = dir.path().join("secret");
    std::fs::write(&file, format!("{SECRET}\n")).unwrap();
    let server = HttpServer::start(
        &["--rucio-cfg", &cfg, "--site", "robot", "--shared-secret-file", file.to_str().unwrap()],
        &[],
    );
    let (status, body) = initialize(&server.mcp_url, &[]);
    assert_eq!(status, 200, "the secret from the file (newline trimmed): {body}");
    assert!(!server.log().contains("process list"), "{}", server.log());

    let server = HttpServer::start(
        &["--rucio-cfg", &cfg, "--site", "robot", "--shared-secret", SECRET],
        &[],
    );
    assert_eq!(initialize(&server.mcp_url, &[]).0, 200);
    let log = server.log();
    assert!(log.contains("process list"), "no warning about a secret in the arguments:\n{log}");
    assert!(!log.contains(SECRET), "{log}");
}
