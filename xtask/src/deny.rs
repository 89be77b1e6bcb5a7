//! `cargo xtask deny`: cargo-deny's licence, ban and source checks of the dependency tree
//! (`deny.toml`), with cargo-deny installed once under `target/xtask-cache/cargo-deny/`.
//!
//! The advisory check needs the RustSec database from the network, which CI here cannot fetch;
//! a connected CI runs `cargo deny check advisories` as well (see `deploy/README.md`).

use std::path::PathBuf;
use std::process::Command;

use crate::{cargo, root, run, target_dir};

/// The cargo-deny release we run (a new one may read `deny.toml` differently).
const CARGO_DENY_VERSION: &str = "0.20.2";

/// The `cargo-deny` binary, installed when missing or of another version.
fn installed() -> Result<PathBuf, String> {
    let prefix = target_dir().join("xtask-cache/cargo-deny");
    let binary = prefix.join("bin/cargo-deny");
    let version = |binary: &PathBuf| {
        Command::new(binary)
            .arg("--version")
            .output()
            .ok()
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    if version(&binary).is_some_and(|v| v.ends_with(CARGO_DENY_VERSION)) {
        return Ok(binary);
    }
    eprintln!("xtask: installing cargo-deny {CARGO_DENY_VERSION} into {}", prefix.display());
    let started = std::time::Instant::now();
    run(Command::new(cargo())
        .args(["install", "--locked", "--quiet", "--version", CARGO_DENY_VERSION, "--root"])
        .arg(&prefix)
        .arg("cargo-deny"))?;
    eprintln!("xtask: installed cargo-deny in {:.0} s", started.elapsed().as_secs_f64());
    Ok(binary)
}

/// `cargo deny check licenses bans sources` on the workspace.
pub(crate) fn check() -> Result<(), String> {
    let binary = installed()?;
    run(Command::new(binary)
        .args(["deny", "--all-features", "check", "--hide-inclusion-graph"])
        .args(["licenses", "bans", "sources"])
        .current_dir(root()))
}
