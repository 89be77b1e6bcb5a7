//! `cargo xtask ci`: the whole check, as `.ci/run` runs it on a fresh clone.
//!
//! Order: cheap static checks first, the MCP conformance suite, then one real Rucio for all tests, stopped afterwards even
//! when tests fail, then the docs.

use std::process::Command;

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
    // Build the tests before starting servers, so a compile error costs no server start.
    step(
        "build",
        Command::new(&cargo).args(["build", "--workspace", "--all-targets", "--locked"]),
    )?;
    eprintln!("\nxtask ci: == clients");
    crate::clients::install()?;
    eprintln!("\nxtask ci: == conformance");
    crate::conformance::run_conformance().map_err(|e| format!("conformance: {e}"))?;

    let instance = Instance::ci();
    if instance.is_running() {
        rucio::down(&instance)?;
    }
    rucio::up(&instance, &UpOptions::default())?;
    eprintln!("\nxtask ci: == conformance (authorization server)");
    let auth = crate::conformance_auth::run_authorization(&instance.env_file());
    if let Err(e) = auth {
        let _ = rucio::down(&instance);
        return Err(format!("authorization conformance: {e}"));
    }
    let tests = step(
        "tests",
        Command::new(&cargo).args(test_command(false)).env("RUCIO_TEST_ENV", instance.env_file()),
    );
    let stopped = rucio::down(&instance);
    tests?;
    stopped?;

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
