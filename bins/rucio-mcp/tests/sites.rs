#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Runs the built `rucio-mcp` binary and checks the `sites` subcommand.

use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rucio-mcp")).args(args).output().expect("run rucio-mcp")
}

const NAMES: [&str; 6] = ["escape", "atlas", "atlas-x509", "cms", "cms-x509", "dune"];

#[test]
fn sites_lists_all_presets() {
    let out = run(&["sites"]);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    for name in NAMES {
        assert!(
            stdout.lines().any(|l| l.split_whitespace().next() == Some(name)),
            "{name} missing from:\n{stdout}"
        );
    }
    assert!(stdout.contains("escape *"), "default not marked:\n{stdout}");
}

#[test]
fn sites_name_prints_cfg() {
    let out = run(&["sites", "atlas"]);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("voatlasrucio-server-prod.cern.ch"), "{stdout}");
    assert!(stdout.starts_with("[client]"), "{stdout}");
}

#[test]
fn sites_unknown_name_fails() {
    let out = run(&["sites", "nope"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("nope"), "{stderr}");
    for name in NAMES {
        assert!(stderr.contains(name), "{name} missing from:\n{stderr}");
    }
}
