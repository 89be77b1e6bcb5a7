//! `cargo xtask bench dirac`: our `dirac-mcp` side by side with dirac-agentic's Python
//! `dirac-mcp` (<https://github.com/DIRACGrid/dirac-agentic>), both over stdio against the same
//! local DiracX as the same user (alice).
//!
//! The measuring is `xtask/bench/dirac_bench.py` (Python standard library only, raw JSON-RPC over
//! pipes); this module gets everything it needs ready: the dev DiracX, a release build of ours,
//! the Python server in a venv cached under `target/xtask-cache/dirac-agentic-venv/`, and one
//! fresh login of alice per party (ours, theirs, the direct REST calls) under
//! `target/bench/dirac-credentials/`: every party refreshes its own rotating refresh token, and
//! two refreshers of one token would trip DiracX's reuse detection, which revokes all of alice's
//! tokens. Figures in `target/bench/dirac.json`, the servers' stderr in `target/bench/logs/`.
//!
//! dirac-agentic has no PyPI release: its source tree is given by `--dirac-agentic PATH` (or
//! `DIRAC_AGENTIC_SRC`) and installed with `pip install diracx==0.7.0 "fastmcp>=3.0" PATH/dirac-mcp`.

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Args;

use crate::diracx::{DIRACX_VERSION, Instance, UpOptions};
use crate::{cargo, root, run as run_cmd, target_dir};

/// What dirac-agentic's `dirac-mcp` asks for (`fastmcp>=3.0`, and `diracx`, pinned here to the
/// version of the local DiracX).
const FASTMCP_SPEC: &str = "fastmcp>=3.0";
const DIRAC_AGENTIC_URL: &str = "https://github.com/DIRACGrid/dirac-agentic";
const SRC_ENV: &str = "DIRAC_AGENTIC_SRC";

#[derive(Args)]
#[command(next_help_heading = "dirac suite")]
pub(crate) struct DiracArgs {
    /// dirac: the dirac-agentic source tree (a clone of DIRACGrid/dirac-agentic from GitHub),
    /// whose `dirac-mcp` is installed and compared [env: DIRAC_AGENTIC_SRC]
    #[arg(long, value_name = "PATH")]
    dirac_agentic: Option<PathBuf>,
}

pub(crate) fn run(args: &DiracArgs, runs: u32, calls: u32) -> Result<(), String> {
    if runs == 0 || calls == 0 {
        return Err("--runs and --calls must be at least 1".to_owned());
    }
    // First what only the user can fix, before minutes of starting and building.
    let src = theirs_source(args)?;

    let instance = Instance::dev();
    if !instance.is_running() {
        crate::diracx::up(&instance, &UpOptions::default())?;
    }

    eprintln!("xtask: building dirac-mcp (release)");
    run_cmd(
        Command::new(cargo()).args(["build", "--release", "-p", "dirac-mcp"]).current_dir(root()),
    )?;
    let ours = target_dir().join("release/dirac-mcp");
    if !ours.exists() {
        return Err(format!("the release build succeeded, but {} is missing", ours.display()));
    }

    let theirs = theirs_executable(&src)?;

    let out = target_dir().join("bench");
    let creds = out.join("dirac-credentials");
    std::fs::create_dir_all(&creds)
        .map_err(|e| format!("cannot create {}: {e}", creds.display()))?;
    let [ours_creds, theirs_creds, rest_creds] =
        ["ours", "theirs", "rest"].map(|who| creds.join(format!("{who}.json")));
    for file in [&ours_creds, &theirs_creds, &rest_creds] {
        login_alice(&instance, file)?;
    }

    eprintln!("xtask: benchmarking (servers' stderr in {})", out.join("logs").display());
    run_cmd(
        Command::new("python3.11")
            .arg(root().join("xtask/bench/dirac_bench.py"))
            .arg("--ours")
            .arg(&ours)
            .arg("--theirs")
            .arg(&theirs)
            .arg("--env")
            .arg(instance.env_file())
            .arg("--ours-credentials")
            .arg(&ours_creds)
            .arg("--theirs-credentials")
            .arg(&theirs_creds)
            .arg("--rest-credentials")
            .arg(&rest_creds)
            .args(["--runs", &runs.to_string(), "--calls", &calls.to_string()])
            .arg("--json")
            .arg(out.join("dirac.json"))
            .arg("--logs")
            .arg(out.join("logs"))
            .current_dir(root()),
    )
}

/// The `dirac-mcp` directory of the dirac-agentic source tree given by the flag or the env.
fn theirs_source(args: &DiracArgs) -> Result<PathBuf, String> {
    let given = args.dirac_agentic.clone().or_else(|| std::env::var_os(SRC_ENV).map(PathBuf::from));
    let Some(given) = given else {
        return Err(format!(
            "the dirac suite compares against dirac-agentic's dirac-mcp, which has no PyPI \
             release: get its source from {DIRAC_AGENTIC_URL} (git clone {DIRAC_AGENTIC_URL}), \
             then pass --dirac-agentic PATH-OF-THE-CLONE (or set {SRC_ENV})"
        ));
    };
    let given = std::path::absolute(&given)
        .map_err(|e| format!("--dirac-agentic {}: {e}", given.display()))?;
    // The repository root, or its dirac-mcp directory itself.
    for dir in [given.join("dirac-mcp"), given.clone()] {
        let pyproject = dir.join("pyproject.toml");
        if let Ok(text) = std::fs::read_to_string(&pyproject)
            && text.contains("dirac_mcp.server:main")
        {
            return Ok(dir);
        }
    }
    Err(format!(
        "{} is not a dirac-agentic source tree (no dirac-mcp/pyproject.toml with the \
         `dirac-mcp = \"dirac_mcp.server:main\"` script): clone {DIRAC_AGENTIC_URL} and pass \
         the clone's path to --dirac-agentic",
        given.display()
    ))
}

/// dirac-agentic's `dirac-mcp` executable, installed into its cached venv; reinstalled when the
/// pins or the source tree change.
fn theirs_executable(src: &Path) -> Result<PathBuf, String> {
    let venv = target_dir().join("xtask-cache/dirac-agentic-venv");
    let exe = venv.join("bin/dirac-mcp");
    let python = venv.join("bin/python");
    let marker = venv.join(".installed-dirac-agentic");
    let stamp = format!(
        "diracx=={DIRACX_VERSION} {FASTMCP_SPEC} source {} {:016x}\n",
        src.display(),
        tree_hash(src)?
    );
    if exe.exists() && std::fs::read_to_string(&marker).is_ok_and(|m| m == stamp) {
        return Ok(exe);
    }
    eprintln!(
        "xtask: installing dirac-agentic's dirac-mcp from {} with diracx=={DIRACX_VERSION} \
         and {FASTMCP_SPEC} into {}",
        src.display(),
        venv.display()
    );
    let started = std::time::Instant::now();
    let fresh = !python.exists();
    if fresh {
        run_cmd(Command::new("python3.11").arg("-m").arg("venv").arg(&venv))?;
    }
    let pip = |extra: &[&str]| {
        let mut cmd = Command::new(&python);
        cmd.args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"]).args(extra);
        cmd
    };
    let diracx = format!("diracx=={DIRACX_VERSION}");
    run_cmd(pip(&[&diracx, FASTMCP_SPEC]).arg(src))?;
    if !fresh {
        // Same version number, changed source: pip keeps what is installed unless forced.
        run_cmd(pip(&["--no-deps", "--force-reinstall"]).arg(src))?;
    }
    let check = format!(
        "import importlib.metadata as m\n\
         for p in ('diracx', 'diracx-client'):\n    \
             assert m.version(p) == '{DIRACX_VERSION}', (p, m.version(p))\n\
         print('diracx', m.version('diracx'), 'fastmcp', m.version('fastmcp'), \
               'dirac-mcp', m.version('dirac-mcp'))"
    );
    let out = Command::new(&python)
        .args(["-c", &check])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !out.status.success() || !exe.exists() {
        return Err(format!(
            "{} has no working dirac-agentic dirac-mcp with diracx {DIRACX_VERSION} after \
             installing it:\n{}",
            venv.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    eprintln!(
        "xtask: installed {} in {:.1} s",
        String::from_utf8_lossy(&out.stdout).trim(),
        started.elapsed().as_secs_f64()
    );
    std::fs::write(&marker, stamp)
        .map_err(|e| format!("cannot write {}: {e}", marker.display()))?;
    Ok(exe)
}

/// FNV-1a over the relative paths and contents of the files of `dir` (build and cache
/// directories left out), in sorted order.
fn tree_hash(dir: &Path) -> Result<u64, String> {
    fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), String> {
        let entries =
            std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        for entry in entries {
            let path = entry.map_err(|e| format!("cannot read {}: {e}", dir.display()))?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if name.starts_with('.')
                || name == "__pycache__"
                || name == "build"
                || name == "dist"
                || name.ends_with(".egg-info")
            {
                continue;
            }
            if path.is_dir() {
                walk(&path, files)?;
            } else {
                files.push(path);
            }
        }
        Ok(())
    }
    fn feed(hash: &mut u64, bytes: &[u8]) {
        for b in bytes {
            *hash ^= u64::from(*b);
            *hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    let mut files = Vec::new();
    walk(dir, &mut files)?;
    files.sort();
    let mut hash = 0xcbf2_9ce4_8422_2325;
    for file in files {
        let rel = file.strip_prefix(dir).unwrap_or(&file);
        feed(&mut hash, rel.to_string_lossy().as_bytes());
        feed(&mut hash, &[0]);
        let data =
            std::fs::read(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        feed(&mut hash, &data);
        feed(&mut hash, &[0]);
    }
    Ok(hash)
}

/// A fresh login of alice (the kit's real authorization-code flow) into `file`, in the `dirac`
/// CLI's credentials format. The tokens stay out of the output.
fn login_alice(instance: &Instance, file: &Path) -> Result<(), String> {
    let python = instance.value("DIRACX_PYTHON")?;
    let lib = instance.value("DIRACX_LIB")?;
    let user = instance.value("DIRACX_USER").unwrap_or_else(|_| "alice".to_owned());
    match std::fs::remove_file(file) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot remove {}: {e}", file.display())),
    }
    let out = Command::new(&python)
        .arg(Path::new(&lib).join("login.py"))
        .arg("--env")
        .arg(instance.env_file())
        .args(["code", "--user", &user, "--credentials-out"])
        .arg(file)
        .output()
        .map_err(|e| format!("cannot run {python}: {e}"))?;
    if !out.status.success() || !file.exists() {
        return Err(format!(
            "logging {user} in with {lib}/login.py failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}
