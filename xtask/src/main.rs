//! Project automation: `cargo xtask <command>` (see `cargo xtask --help`).
//!
//! xtask drives the real test backends and the CI pipeline. It depends on no crate of the workspace,
//! so it builds fast and keeps working while library code is broken.
#![allow(clippy::print_stdout)] // printing is what a developer tool does

mod bench;
mod ci;
mod clients;
mod conformance;
mod conformance_auth;
mod conformance_client;
mod deny;
mod diracx;
mod helm;
mod image;
mod redis;
mod rucio;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Project automation for the rucio-mcp workspace")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run everything CI runs: fmt, clippy, the tests against a real Rucio, docs
    Ci,
    /// Start, stop or describe the local real Rucio server used by the tests
    Rucio {
        #[command(subcommand)]
        action: rucio::Action,
    },
    /// Start, stop or describe the local real DiracX server used by the tests
    Diracx {
        /// The second instance, whose access tokens live one minute (tests of refresh past
        /// expiry; state in target/diracx-short)
        #[arg(long, global = true)]
        short_tokens: bool,
        #[command(subcommand)]
        action: diracx::Action,
    },
    /// Start the local Rucio and DiracX (if needed), show rucio-mcp and dirac-mcp answering a
    /// real MCP client, print the client configs
    Demo {
        /// Which server to show
        #[arg(value_enum, default_value = "all")]
        which: DemoOf,
    },
    /// Install the MCP clients the end-to-end tests use (Python mcp SDK, Node 22, MCP Inspector CLI)
    Clients,
    /// Check the dependency tree's licences, bans and sources with cargo-deny (deny.toml)
    Deny,
    /// Measure rucio-mcp beside the Python rucio-mcp 0.10.0 on the local Rucio (stdio, http,
    /// bridge), and dirac-mcp beside dirac-agentic's (dirac) and in bridge mode (dirac-http)
    Bench(Box<bench::BenchArgs>),
    /// Run every server scenario of the MCP conformance suite against its fixture server
    /// (tests/conformance), its client scenarios (OAuth among them) played by mcp-auth-proxy, and
    /// its authorization-server scenarios against rucio-mcp's OAuth bridge (starts the local Rucio
    /// for them if it is not running, and stops it afterwards)
    Conformance,
    /// Build small OCI images of rucio-mcp, dirac-mcp and mcp-auth-proxy without a daemon
    /// (buildah), with an SBOM each, into target/image/ (deploy/container/README.md)
    Image(image::ImageArgs),
    /// Render the Helm charts of deploy/helm (every values file of their ci/) with Helm's own
    /// engine, lint them, validate the objects against the Kubernetes schemas and check their
    /// properties and server configs; refused values must fail with their message
    Helm {
        /// Change nothing: fail if a generated file (the dashboard copies, appVersion) is stale
        #[arg(long)]
        check: bool,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum DemoOf {
    Rucio,
    Dirac,
    All,
}

/// The authorization-server scenarios against the developer's Rucio, started for them if needed.
fn authorization_conformance() -> Result<(), String> {
    let instance = rucio::Instance::dev();
    if instance.is_running() {
        return conformance_auth::run_authorization(&instance.env_file());
    }
    rucio::up(&instance, &rucio::UpOptions::default())?;
    let outcome = conformance_auth::run_authorization(&instance.env_file());
    let stopped = rucio::down(&instance);
    outcome.and(stopped)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Ci => ci::run_ci(),
        Cmd::Rucio { action } => rucio::run_action(action, &rucio::Instance::dev()),
        Cmd::Diracx { action, short_tokens } => {
            let instance =
                if short_tokens { diracx::Instance::dev_short() } else { diracx::Instance::dev() };
            diracx::run_action(action, &instance)
        }
        Cmd::Demo { which } => match which {
            DemoOf::Rucio => demo(),
            DemoOf::Dirac => dirac_demo(),
            DemoOf::All => demo().and_then(|()| dirac_demo()),
        },
        Cmd::Clients => clients::install(),
        Cmd::Deny => deny::check(),
        Cmd::Bench(args) => bench::run(&args),
        Cmd::Conformance => {
            conformance::run_conformance().and_then(|()| authorization_conformance())
        }
        Cmd::Image(args) => image::run_image(&args),
        Cmd::Helm { check } => helm::run_helm(check),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn demo() -> Result<(), String> {
    let instance = rucio::Instance::dev();
    if !instance.is_running() {
        rucio::up(&instance, &rucio::UpOptions::default())?;
    }
    run(Command::new(cargo()).args(["build", "--quiet", "-p", "rucio-mcp"]).current_dir(root()))?;
    clients::install()?;
    let binary = target_dir().join("debug/rucio-mcp");
    let config = instance.client_config()?;
    println!("\n== a real MCP client (the Python SDK) talking to rucio-mcp on the local Rucio\n");
    run(Command::new(target_dir().join("xtask-cache/mcp-venv/bin/python"))
        .arg(root().join("tests/e2e/clients/demo.py"))
        .arg(&binary)
        .args(["serve", "--log-level", "warning", "--rucio-cfg"])
        .arg(&config))?;
    let (binary, config) = (binary.display(), config.display());
    println!("== use it from your own MCP client while the demo Rucio runs\n");
    println!("Claude Desktop / Cursor (mcpServers):");
    println!(
        "  {{\"mcpServers\": {{\"rucio-demo\": {{\"command\": \"{binary}\", \"args\": [\"serve\", \"--rucio-cfg\", \"{config}\"]}}}}}}"
    );
    println!("VS Code (.vscode/mcp.json):");
    println!(
        "  {{\"servers\": {{\"rucio-demo\": {{\"type\": \"stdio\", \"command\": \"{binary}\", \"args\": [\"serve\", \"--rucio-cfg\", \"{config}\"]}}}}}}"
    );
    println!("Claude Code:\n  claude mcp add rucio-demo -- {binary} serve --rucio-cfg {config}");
    println!(
        "\nThe demo Rucio keeps running: `cargo xtask rucio env` shows its accounts, `cargo xtask rucio down` stops it."
    );
    Ok(())
}

fn dirac_demo() -> Result<(), String> {
    let instance = diracx::Instance::dev();
    if !instance.is_running() {
        diracx::up(&instance, &diracx::UpOptions::default())?;
    }
    run(Command::new(cargo()).args(["build", "--quiet", "-p", "dirac-mcp"]).current_dir(root()))?;
    clients::install()?;
    let binary = target_dir().join("debug/dirac-mcp");
    let url = instance.value("DIRACX_URL")?;
    let credentials = instance.demo_login()?;
    println!(
        "\n== a real MCP client (the Python SDK) talking to dirac-mcp on the local DiracX, as alice\n"
    );
    run(Command::new(target_dir().join("xtask-cache/mcp-venv/bin/python"))
        .arg(root().join("tests/e2e/clients/dirac_demo.py"))
        .arg(&binary)
        .args(["serve", "--log-level", "warning", "--diracx-url", &url, "--credentials-path"])
        .arg(&credentials))?;
    let (binary, credentials) = (binary.display(), credentials.display());
    let args = format!(
        "[\"serve\", \"--diracx-url\", \"{url}\", \"--credentials-path\", \"{credentials}\"]"
    );
    println!("== use it from your own MCP client while the demo DiracX runs\n");
    println!("Claude Desktop / Cursor (mcpServers):");
    println!(
        "  {{\"mcpServers\": {{\"dirac-demo\": {{\"command\": \"{binary}\", \"args\": {args}}}}}}}"
    );
    println!("VS Code (.vscode/mcp.json):");
    println!(
        "  {{\"servers\": {{\"dirac-demo\": {{\"type\": \"stdio\", \"command\": \"{binary}\", \"args\": {args}}}}}}}"
    );
    println!(
        "Claude Code:\n  claude mcp add dirac-demo -- {binary} serve --diracx-url {url} --credentials-path {credentials}"
    );
    println!(
        "\nThe demo DiracX keeps running: `cargo xtask diracx env` shows its users, `cargo xtask diracx down` stops it."
    );
    Ok(())
}

/// The workspace root, found from this crate's manifest directory at build time.
pub(crate) fn root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from)
}

pub(crate) fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// Runs a command to completion, inheriting stdio; a non-zero exit is an error naming the command.
pub(crate) fn run(cmd: &mut Command) -> Result<(), String> {
    let shown = format!("{cmd:?}");
    let status = cmd.status().map_err(|e| format!("cannot start {shown}: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("{shown} failed ({status})")) }
}
