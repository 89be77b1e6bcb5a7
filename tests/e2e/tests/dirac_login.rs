//! `dirac-mcp serve` signing the user in from a tool call (the device flow: by URL elicitation,
//! or with the link in the result), and the LHCb build of dirac-mcp (an extension crate's tool
//! set beside ours), driven by the Python MCP SDK against the real DiracX.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use e2e_tests::{run_python_scenario, sign_in_at_device_links, target_dir};
use test_kit::Kit;

fn binary(path: &str) -> PathBuf {
    let binary = target_dir().join(path);
    assert!(
        binary.exists(),
        "{} is missing: run `cargo build --workspace --all-targets`",
        binary.display()
    );
    binary
}

fn env_file() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    match std::env::var_os("DIRACX_TEST_ENV") {
        Some(path) => root.join(path).display().to_string(),
        None => target_dir().join("diracx/env").display().to_string(),
    }
}

fn scenario(name: &str, server: &Path, credentials: &Path) {
    let kit = Kit::diracx();
    let env = env_file();
    let args = [
        name,
        "--",
        server.to_str().unwrap(),
        "serve",
        "--diracx-url",
        kit.get("DIRACX_URL"),
        "--credentials-path",
        credentials.to_str().unwrap(),
    ];
    let out = run_python_scenario(
        "dirac_login_scenarios.py",
        &args,
        &[("DIRACX_ENV", env.as_str()), ("CREDENTIALS", credentials.to_str().unwrap())],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("scenario {name}: ok")), "{stdout}");
}

#[test]
fn a_tool_call_without_login_signs_in_through_url_elicitation() {
    let dir = tempfile::tempdir().unwrap();
    scenario("elicitation", &binary("debug/dirac-mcp"), &dir.path().join("credentials.json"));
}

#[test]
fn a_client_without_elicitation_gets_the_link_and_the_retry_works() {
    let dir = tempfile::tempdir().unwrap();
    scenario("link", &binary("debug/dirac-mcp"), &dir.path().join("credentials.json"));
}

/// A credentials file of alice from the real authorization-code flow.
fn alice_login(dir: &Path) -> PathBuf {
    let kit = Kit::diracx();
    let credentials = dir.join("credentials.json");
    let login = std::process::Command::new(kit.get("DIRACX_PYTHON"))
        .arg(Path::new(kit.get("DIRACX_LIB")).join("login.py"))
        .args(["--env", &env_file(), "code", "--user", "alice", "--credentials-out"])
        .arg(&credentials)
        .output()
        .unwrap();
    assert!(login.status.success(), "login.py: {}", String::from_utf8_lossy(&login.stderr));
    credentials
}

#[test]
fn the_lhcb_build_serves_its_tool_set_beside_the_built_in_one() {
    let dir = tempfile::tempdir().unwrap();
    scenario("lhcb", &binary("debug/examples/dirac-mcp-lhcb"), &alice_login(dir.path()));
}

#[test]
fn local_input_files_travel_in_an_input_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    scenario("input_files", &binary("debug/dirac-mcp"), &alice_login(dir.path()));
}

/// `dirac-mcp login` (the device flow, its link on stderr, the kit's IdP playing the person),
/// `whoami` and `logout` (refresh token revoked, file removed), as a user without `dirac` runs them.
#[test]
fn login_whoami_and_logout_on_the_command_line() {
    use std::io::BufReader;
    use std::process::{Command, Stdio};

    let kit = Kit::diracx();
    let dir = tempfile::tempdir().unwrap();
    let credentials = dir.path().join("credentials.json");
    let server = binary("debug/dirac-mcp");
    let command = |sub: &str| {
        let mut command = Command::new(&server);
        command
            .arg(sub)
            .args(["--diracx-url", kit.get("DIRACX_URL"), "--credentials-path"])
            .arg(&credentials)
            .env_remove("DIRACX_CLIENT_ID");
        command
    };

    let mut login = command("login").stderr(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
    let stderr = BufReader::new(login.stderr.take().unwrap());
    let (browsed, said) = sign_in_at_device_links(stderr, &kit, &env_file(), "alice");
    assert!(login.wait().unwrap().success(), "{said}");
    assert_eq!(browsed, Some(true), "login printed a link and alice signed in: {said}");
    assert!(said.contains("Signed in as alice"), "{said}");
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&credentials).unwrap()).unwrap();
    assert!(file["access_token"].is_string() && file["refresh_token"].is_string(), "CLI format");

    let whoami = command("whoami").output().unwrap();
    let out = String::from_utf8_lossy(&whoami.stdout);
    assert!(whoami.status.success() && out.contains("signed in as alice"), "{out}");

    let logout = command("logout").output().unwrap();
    let err = String::from_utf8_lossy(&logout.stderr);
    assert!(logout.status.success(), "{err}");
    assert!(err.contains("Revoked the refresh token") && err.contains("Signed out"), "{err}");
    assert!(!credentials.exists());
    for secret in ["access_token", "refresh_token"] {
        let value = file[secret].as_str().unwrap();
        assert!(!said.contains(value) && !err.contains(value), "no {secret} on the terminal");
    }

    let whoami = command("whoami").output().unwrap();
    let out = String::from_utf8_lossy(&whoami.stdout);
    assert!(out.contains("not signed in"), "{out}");
}
