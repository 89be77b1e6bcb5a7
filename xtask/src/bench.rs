//! `cargo xtask bench stdio`: our `rucio-mcp` side by side with the Python server it replaces,
//! PyPI `rucio-mcp` 0.10.0, both over stdio against the local Rucio.
//!
//! The measuring is `xtask/bench/stdio_bench.py` (Python standard library only, raw JSON-RPC over
//! pipes); this module gets everything it needs ready: the dev Rucio, a release build of ours, and
//! the Python server in a venv cached under `target/xtask-cache/`. The figures land on stdout as a
//! markdown table and in `target/bench/stdio.json`.

use std::process::Command;

use clap::Args;

use crate::{cargo, root, target_dir};
// `run` here is this module's entry point; `crate::run` runs a command.
use crate::run as run_cmd;

/// The PyPI `rucio-mcp` release we compare against.
const THEIRS_VERSION: &str = "0.10.0";

#[derive(Args)]
pub(crate) struct BenchArgs {
    /// What to measure: `stdio` (the only one today)
    #[arg(default_value = "stdio")]
    pub(crate) suite: String,
    /// Fresh server starts timed for spawn → tools/list
    #[arg(long, default_value_t = 20)]
    runs: u32,
    /// Sequential `rucio_list_dids` calls (and REST calls) timed in one session
    #[arg(long, default_value_t = 200)]
    calls: u32,
}

pub(crate) fn run(args: &BenchArgs) -> Result<(), String> {
    if args.suite != "stdio" {
        return Err(format!("unknown bench suite {:?}: the only suite is `stdio`", args.suite));
    }
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

    let venv = target_dir().join(format!("xtask-cache/rucio-mcp-{THEIRS_VERSION}-venv"));
    crate::clients::pip_venv(&venv, "rucio-mcp", THEIRS_VERSION)?;

    let out = target_dir().join("bench");
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    eprintln!("xtask: benchmarking (servers' stderr in {})", out.join("logs").display());
    run_cmd(
        Command::new("python3.11")
            .arg(root().join("xtask/bench/stdio_bench.py"))
            .arg("--ours")
            .arg(&ours)
            .arg("--theirs")
            .arg(venv.join("bin/rucio-mcp"))
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
