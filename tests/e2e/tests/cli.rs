//! The `rucio-mcp` command line: `ping`, `sites`, startup errors, and a clean stdout in `serve`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use e2e_tests::rucio_mcp_binary;
use test_kit::Kit;

#[test]
fn ping_reports_version_and_account() {
    let kit = Kit::load();
    let out = Command::new(rucio_mcp_binary())
        .args(["ping", "--rucio-cfg", kit.get("RUCIO_CLIENT_CONFIG")])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(&format!("Rucio {}", kit.get("RUCIO_VERSION"))), "{stdout}");
    assert!(stdout.contains("signed in as root (SERVICE)"), "{stdout}");
}

#[test]
fn startup_errors_are_clear_and_exit_non_zero() {
    let out =
        Command::new(rucio_mcp_binary()).args(["serve", "--site", "nowhere"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("unknown site 'nowhere'") && stderr.contains("atlas"), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing but MCP on stdout");

    let out = Command::new(rucio_mcp_binary())
        .args(["serve", "--rucio-cfg", "/nonexistent/rucio.cfg"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("/nonexistent/rucio.cfg") && stderr.contains("--site"), "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.cfg");
    std::fs::write(&bad, "[client]\nrucio_host = not a url\nauth_host = https://x\n").unwrap();
    let out = Command::new(rucio_mcp_binary())
        .args(["serve", "--rucio-cfg", bad.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("rucio_host") && stderr.contains("bad.cfg"), "{stderr}");
}

#[test]
fn sites_lists_and_prints_presets() {
    let out = Command::new(rucio_mcp_binary()).arg("sites").output().unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    for name in ["escape", "atlas", "atlas-x509", "cms", "cms-x509", "dune"] {
        assert!(listing.contains(name), "{listing}");
    }
    let out = Command::new(rucio_mcp_binary()).args(["sites", "dune"]).output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("rucio_host = https://dune-rucio.fnal.gov")
    );
}

#[test]
fn serve_writes_only_json_rpc_to_stdout_even_at_debug_level() {
    let kit = Kit::load();
    let mut child = Command::new(rucio_mcp_binary())
        .args(["serve", "--log-level", "debug", "--rucio-cfg", kit.get("RUCIO_CLIENT_CONFIG")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let messages = [
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"rucio_whoami","arguments":{}}}"#,
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"rucio_get_did","arguments":{"did":"data24:missing"}}}"#,
    ];
    for m in messages {
        writeln!(stdin, "{m}").unwrap();
    }
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut answered = Vec::new();
    while answered.len() < 3 {
        let line = lines.next().expect("the server closed stdout early").unwrap();
        let message: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("stdout carries a non-JSON line ({e}): {line}"));
        if let Some(id) = message.get("id") {
            answered.push(id.clone());
        }
    }
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(status.success(), "the server exits cleanly when stdin closes");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("DEBUG"), "debug logs go to stderr");
    assert!(
        !stderr.contains(kit.get("RUCIO_PASSWORD")) || kit.get("RUCIO_PASSWORD").len() < 4,
        "no password in the logs"
    );
}
