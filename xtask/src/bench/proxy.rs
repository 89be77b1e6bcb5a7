//! `cargo xtask bench proxy`: `mcp-auth-proxy` beside `mcp-remote` 0.15.1 (npm) and
//! authful-mcp-proxy 0.3.0 (PyPI), each forwarding stdio to our `rucio-mcp` in resource-server
//! mode on the local Rucio, with the project's test OpenID provider as issuer, each with a token
//! of that provider obtained beforehand (no sign-in in the numbers): ours from its token cache
//! (`--cache-dir`, the file it writes after a sign-in), mcp-remote as a static `Authorization`
//! header, authful-mcp-proxy from its token cache (a `diskcache` store under
//! `~/.mcp-auth/authful-mcp-proxy-0.3.0/`, filled with its own storage classes by
//! `xtask/bench/authful_seed.py`). The measuring is `xtask/bench/proxy_bench.py`: spawn →
//! `tools/list`, the latency a proxy adds to a tool call (each call paired with the same call
//! straight to the remote), peak RSS. Figures in `target/bench/proxy.json`, the processes'
//! stderr in `target/bench/logs/`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::common::Server;
use super::http::RucioEnv;
use super::resource_server::Idp;
use crate::{cargo, clients, root, run as run_cmd, target_dir};

const MCP_REMOTE_VERSION: &str = "0.15.1";
const AUTHFUL_VERSION: &str = "0.3.0";
/// authful-mcp-proxy 0.3.0 asks for `fastmcp>=3.2.3`, which pip resolves to fastmcp 4, whose
/// client moved from `httpx` to `httpx2`: 0.3.0 then fails at `import httpx`. The newest
/// fastmcp 3 is what it was made against.
const AUTHFUL_FASTMCP: &str = "3.4.11";

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
    let authful = install_authful(
        &cache.join(format!("authful-mcp-proxy-{AUTHFUL_VERSION}-fastmcp-{AUTHFUL_FASTMCP}-venv")),
    );
    if let Err(e) = &authful {
        eprintln!("xtask: authful-mcp-proxy left out: {e}");
    }

    let out = target_dir().join("bench");
    let logs = out.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| format!("cannot create {}: {e}", logs.display()))?;
    let idp = Idp::start(&logs.join("proxy-idp.log"))?;
    let port = crate::rucio::free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    #[rustfmt::skip]
    let argv: Vec<String> = [
        target_dir().join("release/rucio-mcp").display().to_string().as_str(),
        "serve", "--transport", "http", "--auth", "resource-server", "--issuer", &idp.issuer,
        "--resource-url", &format!("{base}/"), "--site", &format!("custom={cfg}"),
        "--host", "127.0.0.1", "--port", &port.to_string(), "--metrics-port", "0",
    ].map(str::to_owned).into();
    let _remote =
        Server::start("rucio-mcp (remote)", &argv, port, &logs.join("proxy-remote.stderr.log"))?;
    let url = format!("{base}/site/custom/");
    eprintln!("xtask: benchmarking the proxies against {url} (issuer {})", idp.issuer);
    let mut cmd = Command::new("python3");
    cmd.arg(root().join("xtask/bench/proxy_bench.py"))
        .args(["--remote", &url, "--issuer", &idp.issuer])
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
        .current_dir(root());
    match &authful {
        Ok(venv) => {
            cmd.arg("--authful").arg(venv.join("bin/authful-mcp-proxy"));
            cmd.arg("--authful-python").arg(venv.join("bin/python"));
        }
        Err(e) => {
            cmd.args(["--authful-missing", e]);
        }
    }
    run_cmd(&mut cmd)
}

/// authful-mcp-proxy 0.3.0 with fastmcp [`AUTHFUL_FASTMCP`] in the venv `venv` (installed once,
/// as `clients::pip_venv` does, with fastmcp pinned beside it); returns the venv.
fn install_authful(venv: &Path) -> Result<PathBuf, String> {
    let marker = venv.join(".installed");
    let python = venv.join("bin/python");
    let check = format!(
        "import importlib.metadata as m; assert m.version('authful-mcp-proxy') == '{AUTHFUL_VERSION}'; \
         assert m.version('fastmcp') == '{AUTHFUL_FASTMCP}'; import authful_mcp_proxy.__main__"
    );
    let installed = || {
        python.exists()
            && Command::new(&python)
                .args(["-c", &check])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
    };
    if marker.exists() && python.exists() {
        return Ok(venv.to_owned());
    }
    if !installed() {
        eprintln!(
            "xtask: installing authful-mcp-proxy=={AUTHFUL_VERSION} (fastmcp=={AUTHFUL_FASTMCP}) into {}",
            venv.display()
        );
        if !python.exists() {
            run_cmd(Command::new("python3.11").arg("-m").arg("venv").arg(venv))?;
        }
        run_cmd(Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            &format!("authful-mcp-proxy=={AUTHFUL_VERSION}"),
            &format!("fastmcp=={AUTHFUL_FASTMCP}"),
        ]))?;
        if !installed() {
            return Err(format!(
                "{} has no working authful-mcp-proxy {AUTHFUL_VERSION} after installing it",
                venv.display()
            ));
        }
    }
    std::fs::write(&marker, "installed by `cargo xtask bench proxy`\n")
        .map_err(|e| format!("cannot write {}: {e}", marker.display()))?;
    Ok(venv.to_owned())
}

/// mcp-remote under `prefix` (installed once); returns its `dist/proxy.js`.
fn install_mcp_remote(prefix: &Path, node: &Path) -> Result<PathBuf, String> {
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
