//! `cargo xtask diracx up|down|env`: the real DiracX 0.7.0 of `tests/fixtures/diracx/`.
//!
//! The shell kit does the work (venv, keystore, config repository, SQLite, moto S3, mock IdP,
//! seed jobs); this module picks free ports, keeps the Python venv cached under `target/` and
//! knows where each instance lives.

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::{Args, Subcommand};

use crate::rucio::free_port;
use crate::{root, run, target_dir};

/// DiracX version the kit installs; the client is tested against exactly this server.
pub(crate) const DIRACX_VERSION: &str = "0.7.0";

/// Redirect URIs the kit's DiracX accepts beside its own docs page: the loopback callback of
/// `dirac-mcp login`-style clients, and the bridge callbacks of `dirac-mcp serve --transport
/// http` in the tests: ports `BRIDGE_PORTS`, sites `BRIDGE_SITES` (DiracX compares exactly).
const TEST_REDIRECTS: &str = "http://127.0.0.1:18123/callback";
/// The ports the end-to-end tests run bridge-mode servers on (tests/e2e `dirac_bridge_port`).
pub(crate) const BRIDGE_PORTS: std::ops::Range<u16> = 18140..18160;
const BRIDGE_SITES: [&str; 2] = ["testvo", "admin"];

/// Where the e2e test runs `examples/embedded-diracx` (its bridge lives under `/mcp`).
const EMBEDDED_REDIRECT: &str = "http://127.0.0.1:18139/mcp/callback";

fn test_redirects() -> String {
    let mut uris = vec![TEST_REDIRECTS.to_owned(), EMBEDDED_REDIRECT.to_owned()];
    for port in BRIDGE_PORTS {
        for site in BRIDGE_SITES {
            uris.push(format!("http://127.0.0.1:{port}/site/{site}/callback"));
        }
    }
    uris.join(",")
}

#[derive(Subcommand)]
pub(crate) enum Action {
    /// Install (once, cached under target/) and start DiracX with seeded jobs, S3 and a mock IdP
    Up(UpOptions),
    /// Stop the server started by `up`
    Down,
    /// Print the server's address, test users and tokens as KEY=value lines
    Env,
}

#[derive(Args, Default)]
pub(crate) struct UpOptions {
    /// HTTP port of the REST API (default: a free port)
    #[arg(long)]
    port: Option<u16>,
}

/// One kit instance: a state directory under `target/`.
pub(crate) struct Instance {
    base: PathBuf,
    /// Access tokens live one minute (`DIRACX_SERVICE_AUTH_ACCESS_TOKEN_EXPIRE_MINUTES=1`).
    short_tokens: bool,
}

impl Instance {
    /// The instance developers use by hand and tests find by default.
    pub(crate) fn dev() -> Self {
        Self { base: target_dir().join("diracx"), short_tokens: false }
    }

    /// A separate instance for `cargo xtask ci`, so CI never stops a developer's server.
    pub(crate) fn ci() -> Self {
        Self { base: target_dir().join("diracx-ci"), short_tokens: false }
    }

    /// The instance with one-minute access tokens (`DIRACX_SHORT_TEST_ENV` of the tests).
    pub(crate) fn dev_short() -> Self {
        Self { base: target_dir().join("diracx-short"), short_tokens: true }
    }

    pub(crate) fn ci_short() -> Self {
        Self { base: target_dir().join("diracx-ci-short"), short_tokens: true }
    }

    pub(crate) fn env_file(&self) -> PathBuf {
        self.base.join("env")
    }

    pub(crate) fn is_running(&self) -> bool {
        let Ok(text) = std::fs::read_to_string(self.base.join("run/uvicorn.pid")) else {
            return false;
        };
        let pid = text.trim();
        !pid.is_empty() && Path::new("/proc").join(pid).exists() && self.env_file().exists()
    }

    /// One `KEY=value` of the instance's env file, unquoted.
    pub(crate) fn value(&self, key: &str) -> Result<String, String> {
        let env = std::fs::read_to_string(self.env_file()).map_err(|_| not_running())?;
        env.lines()
            .find_map(|l| l.strip_prefix(key).and_then(|rest| rest.strip_prefix('=')))
            .map(|v| v.trim_matches('\'').to_owned())
            .ok_or_else(|| format!("{} has no {key}", self.env_file().display()))
    }
}

impl Instance {
    /// A fresh login of alice (the real authorization-code flow through the kit's IdP), kept in
    /// the `dirac` CLI's credentials format under the instance.
    pub(crate) fn demo_login(&self) -> Result<PathBuf, String> {
        let file = self.base.join("demo-credentials.json");
        let _ = std::fs::remove_file(&file);
        let python = self.value("DIRACX_PYTHON")?;
        let lib = PathBuf::from(self.value("DIRACX_LIB")?);
        run(Command::new(python)
            .arg(lib.join("login.py"))
            .arg("--env")
            .arg(self.env_file())
            .args(["code", "--user", "alice", "--credentials-out"])
            .arg(&file)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()))?;
        Ok(file)
    }
}

fn not_running() -> String {
    "the local DiracX is not running: start it with `cargo xtask diracx up`".to_owned()
}

pub(crate) fn run_action(action: Action, instance: &Instance) -> Result<(), String> {
    match action {
        Action::Up(opts) => {
            if instance.is_running() {
                println!("already running; env file {}", instance.env_file().display());
                print!("{}", std::fs::read_to_string(instance.env_file()).unwrap_or_default());
                return Ok(());
            }
            up(instance, &opts)
        }
        Action::Down => down(instance),
        Action::Env => {
            let env = std::fs::read_to_string(instance.env_file()).map_err(|_| not_running())?;
            print!("{env}");
            Ok(())
        }
    }
}

pub(crate) fn up(instance: &Instance, opts: &UpOptions) -> Result<(), String> {
    let kit = root().join("tests/fixtures/diracx");
    let port = match opts.port {
        Some(p) => p,
        None => free_port()?,
    };
    let venv = target_dir().join(format!("xtask-cache/diracx-venv-{DIRACX_VERSION}"));
    let mut cmd = Command::new(kit.join("up.sh"));
    cmd.arg(port.to_string())
        .arg(&instance.base)
        .env("VENV", &venv)
        .env("DIRACX_VERSION", DIRACX_VERSION)
        .env("S3_PORT", free_port()?.to_string())
        .env("IDP_PORT", free_port()?.to_string())
        .env("REDIRECTS", test_redirects());
    if instance.short_tokens {
        cmd.env("DIRACX_SERVICE_AUTH_ACCESS_TOKEN_EXPIRE_MINUTES", "1");
    }
    eprintln!(
        "xtask: starting DiracX {DIRACX_VERSION} on 127.0.0.1:{port} (state in {}; the first start installs it from PyPI, about 40 s)",
        instance.base.display()
    );
    // up.sh prints the env on stdout; keep xtask's stdout for what the user asked for.
    run(cmd.stdout(std::process::Stdio::null()))?;
    eprintln!("xtask: DiracX is up; env file {}", instance.env_file().display());
    Ok(())
}

pub(crate) fn down(instance: &Instance) -> Result<(), String> {
    let kit = root().join("tests/fixtures/diracx");
    run(Command::new(kit.join("down.sh")).arg("0").arg(&instance.base))
}
