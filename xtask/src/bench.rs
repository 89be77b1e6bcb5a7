//! `cargo xtask bench stdio|http|bridge`: our `rucio-mcp` side by side with the Python server it
//! replaces, PyPI `rucio-mcp` 0.10.0, against the local Rucio; `cargo xtask bench dirac`: our
//! `dirac-mcp` side by side with dirac-agentic's Python `dirac-mcp` against the local DiracX.
//!
//! - `stdio`: the measuring is `xtask/bench/stdio_bench.py` (Python standard library only, raw
//!   JSON-RPC over pipes); this module gets everything it needs ready: the dev Rucio, a release
//!   build of ours, and the Python server in a venv cached under `target/xtask-cache/`. Figures in
//!   `target/bench/stdio.json`.
//! - `http`: both servers in shared-secret HTTP mode, loaded by the Rust generator `mcp-loadgen`
//!   (`tests/loadgen`); see [`http`]. Figures in `target/bench/http.json`.
//! - `bridge`: both servers in OIDC bridge mode: `rucio_token_info` under load, the full login time
//!   and a criterion micro-bench of the token check; see [`bridge`]. Figures in
//!   `target/bench/bridge.json`.
//! - `dirac`: our `dirac-mcp` and dirac-agentic's over stdio against the local DiracX, measured
//!   by `xtask/bench/dirac_bench.py` like `stdio`; see [`dirac`]. Figures in
//!   `target/bench/dirac.json`.
//! - `dirac-http`: our `dirac-mcp` in OIDC bridge mode on the local DiracX: full login, search
//!   under load beside DiracX's REST API, the DiracX token check; see [`dirac_http`]. Figures in
//!   `target/bench/dirac-http.json`.
//! - `proxy`: `mcp-auth-proxy` beside `mcp-remote` 0.15.1 and authful-mcp-proxy 0.3.0, all
//!   forwarding stdio to `rucio-mcp` in resource-server mode with a cached token of the test
//!   OpenID provider; see [`proxy`]. Figures in `target/bench/proxy.json`.
//! - `resource-server`: `rucio-mcp` in resource-server mode with the test OpenID provider as
//!   issuer: the bearer check (criterion) and `tools/list` under load beside shared-secret mode;
//!   see [`resource_server`]. Figures in `target/bench/resource-server.json`.
//!
//! Either way the figures land on stdout as a markdown table, the servers' stderr in
//! `target/bench/logs/`.

mod bridge;
mod common;
mod dirac;
mod dirac_http;
mod http;
mod proxy;
mod resource_server;

use std::path::PathBuf;
use std::process::Command;

use clap::{Args, ValueEnum};

use crate::{cargo, root, target_dir};
// `run` here is this module's entry point; `crate::run` runs a command.
use crate::run as run_cmd;

/// The PyPI `rucio-mcp` release we compare against.
const THEIRS_VERSION: &str = "0.10.0";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Suite {
    /// Start-up, memory and tool-call latency over stdio
    Stdio,
    /// Throughput, latency and memory over streamable HTTP (shared-secret mode), many sessions
    Http,
    /// OIDC bridge mode: token_info throughput, full login time, token check micro-bench
    Bridge,
    /// dirac-mcp against dirac-agentic's Python dirac-mcp over stdio on the local DiracX:
    /// start-up, memory, job search and summary latency beside the REST floor
    Dirac,
    /// dirac-mcp over HTTP in bridge mode on the local DiracX: full login time, job search under
    /// many sessions beside DiracX's REST API (throughput, the MCP layer's CPU share), the
    /// DiracX token check micro-bench
    DiracHttp,
    /// mcp-auth-proxy beside mcp-remote 0.15.1 and authful-mcp-proxy 0.3.0, all forwarding
    /// stdio to rucio-mcp in resource-server mode (a cached token of the test IdP) on the local
    /// Rucio: spawn → tools/list, added latency per call, peak RSS
    Proxy,
    /// rucio-mcp in resource-server mode (the test IdP as issuer): the bearer check micro-bench
    /// (JWT first sight and cached, introspection cached and not), tools/list under load beside
    /// shared-secret mode
    ResourceServer,
}

#[derive(Args)]
pub(crate) struct BenchArgs {
    /// What to measure
    #[arg(value_enum, default_value = "stdio")]
    pub(crate) suite: Suite,
    /// stdio, dirac, proxy: fresh server starts timed for spawn → tools/list
    #[arg(long, default_value_t = 20)]
    runs: u32,
    /// stdio, dirac, proxy: sequential calls of each timed tool (and REST calls) in one session
    #[arg(long, default_value_t = 200)]
    calls: u32,
    #[command(flatten)]
    http: http::HttpArgs,
    #[command(flatten)]
    bridge: bridge::BridgeArgs,
    #[command(flatten)]
    dirac: dirac::DiracArgs,
    #[command(flatten)]
    dirac_http: dirac_http::DiracHttpArgs,
    #[command(flatten)]
    resource_server: resource_server::ResourceServerArgs,
}

pub(crate) fn run(args: &BenchArgs) -> Result<(), String> {
    match args.suite {
        Suite::Stdio => run_stdio(args),
        Suite::Http => http::run(&args.http),
        Suite::Bridge => bridge::run(&args.bridge),
        Suite::Dirac => dirac::run(&args.dirac, args.runs, args.calls),
        Suite::DiracHttp => dirac_http::run(&args.dirac_http),
        Suite::Proxy => proxy::run(args.runs, args.calls),
        Suite::ResourceServer => resource_server::run(&args.resource_server),
    }
}

/// The Python server's executable, installed (once) into its cached venv.
fn theirs_executable() -> Result<PathBuf, String> {
    let venv = target_dir().join(format!("xtask-cache/rucio-mcp-{THEIRS_VERSION}-venv"));
    crate::clients::pip_venv(&venv, "rucio-mcp", THEIRS_VERSION)?;
    Ok(venv.join("bin/rucio-mcp"))
}

fn run_stdio(args: &BenchArgs) -> Result<(), String> {
    if args.runs == 0 || args.calls == 0 {
        return Err("--runs and --calls must be at least 1".to_owned());
    }

    let instance = crate::rucio::Instance::dev();
    if !instance.is_running() {
        crate::rucio::up(&instance, &crate::rucio::UpOptions::default())?;
    }

    eprintln!("xtask: building rucio-mcp (release)");
    run_cmd(
        Command::new(cargo()).args(["build", "--release", "-p", "rucio-mcp"]).current_dir(root()),
    )?;
    let ours = target_dir().join("release/rucio-mcp");
    if !ours.exists() {
        return Err(format!("the release build succeeded, but {} is missing", ours.display()));
    }

    let theirs = theirs_executable()?;

    let out = target_dir().join("bench");
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    eprintln!("xtask: benchmarking (servers' stderr in {})", out.join("logs").display());
    run_cmd(
        Command::new("python3.11")
            .arg(root().join("xtask/bench/stdio_bench.py"))
            .arg("--ours")
            .arg(&ours)
            .arg("--theirs")
            .arg(theirs)
            .arg("--env")
            .arg(instance.env_file())
            .args(["--runs", &args.runs.to_string(), "--calls", &args.calls.to_string()])
            .arg("--json")
            .arg(out.join("stdio.json"))
            .arg("--logs")
            .arg(out.join("logs"))
            .current_dir(root()),
    )
}
