//! `cargo xtask ci`: the whole check, as `.ci/run` runs it on a fresh clone.
//!
//! Order: cheap static checks first, the Helm charts rendered and validated, the MCP
//! conformance suite, then one real Rucio and one real
//! DiracX (started side by side) for all tests, stopped afterwards even when tests fail, then the
//! container images of the debug binaries (built and run), and the docs. cargo-deny's checks (and
//! the SBOM tool's installation) run beside the conformance suite and the servers' start.

use std::process::Command;

use crate::diracx;
use crate::rucio::{self, Instance, UpOptions};
use crate::{cargo, root, run};

pub(crate) fn run_ci() -> Result<(), String> {
    let cargo = cargo();
    step("fmt", Command::new(&cargo).args(["fmt", "--all", "--check"]))?;
    step(
        "clippy",
        Command::new(&cargo).args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    // Alone, the embedding host resolves the bridge's features by itself: without Redis and the
    // polling login (in the workspace build, other crates switch them on).
    step(
        "embedding host without the bridge's optional features",
        Command::new(&cargo).args([
            "clippy",
            "--package",
            "embedded-diracx",
            "--package",
            "mcp-oauth-bridge",
            "--no-default-features",
            "--locked",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    // Build the tests before starting servers, so a compile error costs no server start.
    step(
        "build",
        Command::new(&cargo).args(["build", "--workspace", "--all-targets", "--locked"]),
    )?;
    eprintln!("\nxtask ci: == helm (render every mode, validate, config check)");
    crate::helm::run_helm(true).map_err(|e| format!("helm: {e}"))?;
    // cargo-deny and cargo-cyclonedx are built once per machine (minutes each): beside the
    // network-bound steps below.
    let deny = std::thread::spawn(|| {
        crate::deny::check().and_then(|()| crate::image::sbom_tool().map(drop))
    });
    eprintln!("\nxtask ci: == clients");
    crate::clients::install()?;
    eprintln!("\nxtask ci: == conformance");
    crate::conformance::run_conformance().map_err(|e| format!("conformance: {e}"))?;

    let instance = Instance::ci();
    if instance.is_running() {
        rucio::down(&instance)?;
    }
    let diracx = diracx::Instance::ci();
    let diracx_short = diracx::Instance::ci_short();
    for running in [&diracx, &diracx_short] {
        if running.is_running() {
            diracx::down(running)?;
        }
    }
    // The backends start side by side: each spends most of its start in pip and Python. The
    // second DiracX (one-minute tokens) starts after the first, which installs the shared venv.
    let diracx_start = std::thread::spawn(|| {
        diracx::up(&diracx::Instance::ci(), &diracx::UpOptions::default())?;
        diracx::up(&diracx::Instance::ci_short(), &diracx::UpOptions::default())
    });
    let rucio_started = rucio::up(&instance, &UpOptions::default());
    let diracx_started =
        diracx_start.join().unwrap_or_else(|_| Err("the DiracX start panicked".into()));
    let stop_diracx = || {
        let _ = diracx::down(&diracx);
        let _ = diracx::down(&diracx_short);
    };
    if let Err(e) = rucio_started.as_ref().and(diracx_started.as_ref()) {
        let e = e.clone();
        let _ = rucio::down(&instance);
        stop_diracx();
        return Err(e);
    }
    eprintln!("\nxtask ci: == conformance (authorization server)");
    let auth = crate::conformance_auth::run_authorization(&instance.env_file());
    if let Err(e) = auth {
        let _ = rucio::down(&instance);
        stop_diracx();
        return Err(format!("authorization conformance: {e}"));
    }
    eprintln!("\nxtask ci: == deny (licences, bans, sources)");
    let denied = deny.join().unwrap_or_else(|_| Err("the cargo-deny check panicked".into()));
    if let Err(e) = denied {
        let _ = rucio::down(&instance);
        stop_diracx();
        return Err(format!("deny: {e}"));
    }
    let tests = step(
        "tests",
        Command::new(&cargo)
            .args(test_command(false))
            .env("RUCIO_TEST_ENV", instance.env_file())
            .env("DIRACX_TEST_ENV", diracx.env_file())
            .env("DIRACX_SHORT_TEST_ENV", diracx_short.env_file()),
    );
    let stopped =
        rucio::down(&instance).and(diracx::down(&diracx)).and(diracx::down(&diracx_short));
    tests?;
    stopped?;

    eprintln!("\nxtask ci: == images (debug binaries: files, no shell, --version, /healthz)");
    crate::image::check_all_debug().map_err(|e| format!("images: {e}"))?;

    step(
        "docs",
        Command::new(&cargo)
            .args(["doc", "--workspace", "--no-deps", "--locked"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    eprintln!("xtask ci: all checks passed");
    Ok(())
}

fn test_command(build_only: bool) -> Vec<&'static str> {
    let mut args = if nextest_available() {
        vec!["nextest", "run", "--workspace", "--locked", "--no-fail-fast"]
    } else {
        vec!["test", "--workspace", "--locked", "--no-fail-fast"]
    };
    if build_only {
        args.push("--no-run");
    }
    args
}

fn nextest_available() -> bool {
    Command::new(cargo())
        .args(["nextest", "--version"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn step(name: &str, cmd: &mut Command) -> Result<(), String> {
    eprintln!("\nxtask ci: == {name}");
    run(cmd.current_dir(root())).map_err(|e| format!("{name}: {e}"))
}
