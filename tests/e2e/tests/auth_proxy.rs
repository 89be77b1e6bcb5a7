//! `mcp-auth-proxy` end to end: real MCP clients (the Python SDK, the MCP Inspector CLI) talk to it
//! over stdio, and it forwards to a real remote streamable-HTTP server, `rucio-mcp` in
//! shared-secret mode (a server that only checks a bearer) against the real Rucio. What the
//! clients see through the proxy is compared with what the remote answers directly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use e2e_tests::{
    HttpServer, InspectorHome, InteractiveClient, assert_no_secrets, auth_proxy_binary,
    browser_env, clients_dir, free_port, inspector_command, mcp_python, oidc_cfg, robot_cfg,
    run_python_scenario,
};
use serde_json::{Value, json};
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

/// rucio-mcp in OIDC bridge mode (an MCP server with an OAuth flow of its own: RFC 9728
/// discovery from the 401, dynamic registration, PKCE, `iss`, `resource`) for the kit's Rucio.
fn oauth_remote(kit: &Kit, dir: &Path) -> (HttpServer, String) {
    let port = free_port().to_string();
    let site = format!("local={}", oidc_cfg(kit, dir, "local", kit.get("RUCIO_URL")));
    let resource = format!("http://127.0.0.1:{port}/");
    let server =
        HttpServer::start(&["--port", &port, "--resource-url", &resource, "--site", &site], &[]);
    (server, format!("{resource}site/local/"))
}

/// Runs a scenario of `proxy_scenarios.py` through the proxy at `url`: success and all it printed
/// (the proxy's stderr included).
fn through_proxy(
    scenario: &str,
    url: &str,
    env: &[(&str, String)],
    extra: &[&str],
) -> (bool, String) {
    let mut args = vec![scenario.to_owned(), "--".to_owned()];
    args.push(auth_proxy_binary().display().to_string());
    args.push(url.to_owned());
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = std::process::Command::new(mcp_python())
        .arg(clients_dir().join("proxy_scenarios.py"))
        .args(&args)
        .envs(env)
        .output()
        .unwrap();
    let all =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success() && all.contains(&format!("scenario {scenario}: ok")), all)
}

/// What the scripted person and the proxy need: the kit's login, the cache, the `BROWSER`.
fn person_env(kit: &Kit, home: &InspectorHome, cache: &Path) -> Vec<(&'static str, String)> {
    let mut env = browser_env(kit);
    env.extend([
        ("EXPECT_ACCOUNT", kit.get("OIDC_LOGIN_ACCOUNT").to_owned()),
        ("MCP_AUTH_PROXY_CACHE_DIR", cache.display().to_string()),
        ("BROWSER", home.browser.display().to_string()),
    ]);
    env
}

/// The person signs in through the proxy at a remote with an OAuth flow of its own, with a
/// `BROWSER` that plays the person; the tokens land in a private cache that the next start uses
/// without a browser, and `--logout` forgets them.
#[test]
fn a_person_signs_in_through_the_proxy_and_the_next_start_needs_no_browser() {
    use std::os::unix::fs::PermissionsExt as _;

    let kit = Kit::load();
    let dir = tempfile::tempdir().unwrap();
    let (server, url) = oauth_remote(&kit, dir.path());
    let home = InspectorHome::new();
    let cache = dir.path().join("cache");
    let env = person_env(&kit, &home, &cache);
    let shown = |all: &str| {
        format!("{all}\n--- browser\n{}\n--- remote\n{}", home.browser_log(), server.log())
    };

    let (ok, first) = through_proxy("signed_in", &url, &env, &["--debug"]);
    assert!(ok, "{}", shown(&first));
    assert!(home.browser_log().contains("delivered the authorization response"), "no sign-in?");
    let tokens: Vec<_> = std::fs::read_dir(cache.join("tokens")).unwrap().flatten().collect();
    assert_eq!(tokens.len(), 1, "one cache entry per (issuer, client, resource)");
    let file = tokens[0].path();
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777, 0o700);
    let entry: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let access = entry["access_token"].as_str().unwrap().to_owned();
    let refresh = entry["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(entry["resource"], url.as_str(), "the RFC 8707 resource is the remote's");
    assert_no_secrets(&first, &[&access, &refresh]);

    // A second start uses the cache: a browser that fails proves none is needed.
    let mut no_browser = env.clone();
    no_browser.retain(|(k, _)| *k != "BROWSER");
    no_browser.push(("BROWSER", "/bin/false".to_owned()));
    let (ok, second) = through_proxy("signed_in", &url, &no_browser, &[]);
    assert!(ok && !second.contains("sign in at"), "{}", shown(&second));

    // About to expire: refreshed before the first request; refused (revoked, say): refreshed
    // after the 401. Either way no browser, and the cache holds the new tokens.
    let edit = |change: &dyn Fn(&mut Value)| {
        let mut entry: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        change(&mut entry);
        std::fs::write(&file, serde_json::to_vec(&entry).unwrap()).unwrap();
        entry
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let before = edit(&|e| e["expires_at"] = json!(now.as_secs() + 5));
    let (ok, third) = through_proxy("signed_in", &url, &no_browser, &[]);
    let after = edit(&|_| {});
    assert!(ok && third.contains("refreshed"), "{}", shown(&third));
    assert_ne!(after["access_token"], before["access_token"], "a new access token");
    let before = edit(&|e| e["access_token"] = json!("not-a-token-any-more"));
    let (ok, fourth) = through_proxy("signed_in", &url, &no_browser, &[]);
    let after = edit(&|_| {});
    assert!(
        ok && fourth.contains("refreshed") && !fourth.contains("sign in at"),
        "{}",
        shown(&fourth)
    );
    assert_ne!(after["refresh_token"], before["refresh_token"], "the rotated refresh token kept");
    // Both refused: a new sign-in in the browser, and the dead entry replaced.
    edit(&|e| {
        e["access_token"] = json!("not-a-token-any-more");
        e["refresh_token"] = json!("not-a-refresh-token-either");
    });
    let (ok, fifth) = through_proxy("signed_in", &url, &env, &[]);
    assert!(ok && fifth.contains("sign in at"), "the person signs in again: {}", shown(&fifth));
    let tokens: Vec<_> = std::fs::read_dir(cache.join("tokens")).unwrap().flatten().collect();
    assert_eq!(tokens.len(), 1, "the dead entry was replaced");
    let file = tokens[0].path();
    let entry: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_ne!(entry["refresh_token"], "not-a-refresh-token-either");

    let logout = std::process::Command::new(auth_proxy_binary())
        .args([url.as_str(), "--logout"])
        .env("MCP_AUTH_PROXY_CACHE_DIR", &cache)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&logout.stderr);
    assert!(logout.status.success() && said.contains("forgot 1 sign-in"), "{said}");
    assert_eq!(std::fs::read_dir(cache.join("tokens")).unwrap().count(), 0);
    assert_no_secrets(&server.log(), &[&access, &refresh]);
}

/// A forged callback (another `state`) gets a failure page and the real sign-in still finishes; an
/// answer naming another issuer (RFC 9207 mix-up) ends the sign-in before any code is exchanged.
#[test]
fn a_tampered_state_or_issuer_is_refused() {
    let kit = Kit::load();
    let dir = tempfile::tempdir().unwrap();
    let (server, url) = oauth_remote(&kit, dir.path());

    let home = InspectorHome::new();
    let mut env = person_env(&kit, &home, &dir.path().join("state"));
    env.push(("TAMPER", "state".to_owned()));
    let (ok, all) = through_proxy("signed_in", &url, &env, &[]);
    let browser = home.browser_log();
    assert!(ok, "{all}\n--- browser\n{browser}\n--- remote\n{}", server.log());
    assert!(
        browser.contains("tampered state (HTTP 400)") && browser.contains("does not belong"),
        "{browser}"
    );

    let home = InspectorHome::new();
    let mut env = person_env(&kit, &home, &dir.path().join("iss"));
    env.extend([("TAMPER", "iss".to_owned()), ("EXPECT_ERROR", "mix-up".to_owned())]);
    let (ok, all) = through_proxy("refused", &url, &env, &[]);
    let browser = home.browser_log();
    assert!(ok, "{all}\n--- browser\n{browser}\n--- remote\n{}", server.log());
    assert!(
        browser.contains("tampered iss (HTTP 400)") && browser.contains("Sign-in failed"),
        "{browser}"
    );
    assert!(!dir.path().join("iss/tokens").exists(), "nothing was kept");
}

/// The conformance suite's fixture server on `port` (it logs at info in `test_tool_with_logging`
/// and keeps a log level per session), once it listens.
fn conformance_remote(port: u16) -> std::process::Child {
    let binary = e2e_tests::target_dir().join("debug/conformance-server");
    let mut child = std::process::Command::new(&binary)
        .args(["--port", &port.to_string()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{}: {e} (cargo build -p conformance-server)", binary.display())
        });
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("listening on") {
        line.clear();
        assert!(
            std::io::BufRead::read_line(&mut stderr, &mut line).unwrap() > 0,
            "no listening line"
        );
    }
    child
}

/// A remote that forgets the session (a restart) forgets what the client set up in it too: the
/// proxy sets it up again in the new session (the log level here), unseen by the client.
#[test]
fn what_the_client_set_up_survives_a_new_remote_session() {
    use std::io::{BufRead as _, Write as _};

    let port = free_port();
    let mut remote = conformance_remote(port);
    let url = format!("http://127.0.0.1:{port}/site/conformance/");
    let mut client = std::process::Command::new(mcp_python())
        .arg(clients_dir().join("proxy_scenarios.py"))
        .args(["setup_survives", "--"])
        .arg(auth_proxy_binary())
        .args([url.as_str(), "--debug"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(client.stdout.take().unwrap());
    let mut transcript = String::new();
    loop {
        let mut line = String::new();
        assert!(out.read_line(&mut line).unwrap() > 0, "the client ended early:\n{transcript}");
        transcript.push_str(&line);
        if line.trim() == "restart the remote" {
            break;
        }
    }
    let _ = remote.kill();
    let _ = remote.wait();
    let mut remote = conformance_remote(port);
    writeln!(client.stdin.as_mut().unwrap(), "go").unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let done = client.wait_with_output().unwrap();
    let _ = remote.kill();
    let _ = remote.wait();
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(
        done.status.success() && rest.contains("scenario setup_survives: ok"),
        "{transcript}{rest}\n--- stderr\n{stderr}"
    );
    assert!(stderr.contains("logging/setLevel sent again in the new session"), "{stderr}");
}
