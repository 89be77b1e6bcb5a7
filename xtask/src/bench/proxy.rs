//! `cargo xtask bench proxy`: `mcp-auth-proxy` beside `mcp-remote` 0.15.1 (npm), both forwarding
//! stdio to our `rucio-mcp` in shared-secret mode on the local Rucio with the secret as a static
//! header (a cached token, in effect: no sign-in in the numbers). The measuring is
//! `xtask/bench/proxy_bench.py`: spawn → `tools/list`, the latency a proxy adds to a tool call
//! (each call paired with the same call straight to the remote), peak RSS. Figures in
//! `target/bench/proxy.json`, the processes' stderr in `target/bench/logs/`.
//!
//! authful-mcp-proxy 0.3.0 always signs in through an OpenID provider (no static header), so it
//! joins once the project's test provider is there.

use std::path::PathBuf;
use std::process::Command;

use super::common::Server;
use super::http::{RucioEnv, random_secret};
use crate::{cargo, clients, root, run as run_cmd, target_dir};

const MCP_REMOTE_VERSION: &str = "0.15.1";

pub(crate) fn run(runs: u32, calls: u32) -> Result<(), String> {
    if runs == 0 || calls == 0 {
        return Err("--runs and --calls must be at least 1".to_owned());
    }
    let instance = crate::rucio::Instance::dev();
    if !instance.is_running() {
        crate::rucio::up(&instance, &crate::rucio::UpOptions::default())?;
    }
    let cfg = RucioEnv::read(&instance.env_file())?.client_config.display().to_string();

    eprintln!("xtask: building rucio-mcp and mcp-auth-proxy (release)");
    run_cmd(
        Command::new(cargo())
            .args(["build", "--release", "-p", "rucio-mcp", "-p", "mcp-auth-proxy"])
            .current_dir(root()),
    )?;
    let cache = target_dir().join("xtask-cache");
    let node = clients::install_node(&cache.join("node22"))?;
    let mcp_remote =
        install_mcp_remote(&cache.join(format!("mcp-remote-{MCP_REMOTE_VERSION}")), &node)?;

    let out = target_dir().join("bench");
    let logs = out.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| format!("cannot create {}: {e}", logs.display()))?;
    let secret = random_secret()?;
    let port = crate::rucio::free_port()?;
    let argv: Vec<String> = [
        target_dir().join("release/rucio-mcp").display().to_string(),
        "serve".into(),
        "--transport".into(),
        "http".into(),
        "--rucio-cfg".into(),
        cfg,
        "--host".into(),
        "127.0.0.1".into(),
        "--port".into(),
        port.to_string(),
        "--metrics-port".into(),
        "0".into(),
    ]
    .to_vec();
    let _remote = Server::start_with_secret(
        "rucio-mcp (remote)",
        &argv,
        port,
        &logs.join("proxy-remote.stderr.log"),
        &secret,
    )?;
    let url = format!("http://127.0.0.1:{port}/site/custom/");
    eprintln!("xtask: benchmarking the proxies against {url}");
    run_cmd(
        Command::new("python3")
            .arg(root().join("xtask/bench/proxy_bench.py"))
            .args(["--remote", &url])
            .arg("--ours")
            .arg(target_dir().join("release/mcp-auth-proxy"))
            .arg("--node")
            .arg(&node)
            .arg("--mcp-remote")
            .arg(&mcp_remote)
            .args(["--runs", &runs.to_string(), "--calls", &calls.to_string()])
            .arg("--json")
            .arg(out.join("proxy.json"))
            .arg("--logs")
            .arg(&logs)
            .env("PROXY_BENCH_SECRET", &secret)
            .current_dir(root()),
    )
}

/// mcp-remote under `prefix` (installed once); returns its `dist/proxy.js`.
fn install_mcp_remote(prefix: &std::path::Path, node: &std::path::Path) -> Result<PathBuf, String> {
    let entry = prefix.join("node_modules/mcp-remote/dist/proxy.js");
    if !entry.exists() {
        eprintln!("xtask: installing mcp-remote@{MCP_REMOTE_VERSION} into {}", prefix.display());
        std::fs::create_dir_all(prefix)
            .map_err(|e| format!("cannot create {}: {e}", prefix.display()))?;
        let path = clients::path_with(node)?;
        clients::npm_install(prefix, &format!("mcp-remote@{MCP_REMOTE_VERSION}"), Some(&path))?;
    }
    Ok(entry)
}
