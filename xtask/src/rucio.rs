//! `cargo xtask rucio up|down|env`: the real Rucio server of `tests/fixtures/rucio-server/`.
//!
//! The shell kit does the work (venv, configs, database, seed, IdP, TLS); this module picks free
//! ports, keeps the Python venv cached under `target/` and knows where each instance lives.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::{Args, Subcommand};

use crate::{root, run, target_dir};

/// Rucio version the kit installs; the client is tested against exactly this server.
const RUCIO_VERSION: &str = "41.5.1";

#[derive(Subcommand)]
pub(crate) enum Action {
    /// Install (once, cached under target/) and start Rucio with seeded data, OpenID provider, x509 TLS port and a Redis
    Up(UpOptions),
    /// Stop the server started by `up`
    Down,
    /// Print the server's address and test credentials as KEY=value lines
    Env,
}

#[derive(Args, Default)]
pub(crate) struct UpOptions {
    /// Do not start the local OpenID provider (saves the npm install)
    #[arg(long)]
    no_oidc: bool,
    /// Do not start the HTTPS port for x509 client certificates
    #[arg(long)]
    no_tls: bool,
    /// HTTP port of the REST API (default: a free port)
    #[arg(long)]
    port: Option<u16>,
}

/// One kit instance: a state directory under `target/`.
pub(crate) struct Instance {
    base: PathBuf,
}

impl Instance {
    /// The instance developers use by hand and tests find by default.
    pub(crate) fn dev() -> Self {
        Self { base: target_dir().join("rucio-server") }
    }

    /// A separate instance for `cargo xtask ci`, so CI never stops a developer's server.
    pub(crate) fn ci() -> Self {
        Self { base: target_dir().join("rucio-server-ci") }
    }

    pub(crate) fn env_file(&self) -> PathBuf {
        self.base.join("env")
    }

    pub(crate) fn is_running(&self) -> bool {
        let Ok(text) = std::fs::read_to_string(self.base.join("gunicorn.pid")) else {
            return false;
        };
        let pid = text.trim();
        !pid.is_empty() && Path::new("/proc").join(pid).exists() && self.env_file().exists()
    }

    pub(crate) fn client_config(&self) -> Result<PathBuf, String> {
        let env = std::fs::read_to_string(self.env_file()).map_err(|_| {
            "the local Rucio is not running: start it with `cargo xtask rucio up`".to_owned()
        })?;
        env.lines()
            .find_map(|l| l.strip_prefix("RUCIO_CLIENT_CONFIG="))
            .map(|v| PathBuf::from(v.trim_matches('\'')))
            .ok_or_else(|| format!("{} has no RUCIO_CLIENT_CONFIG", self.env_file().display()))
    }
}

pub(crate) fn run_action(action: Action, instance: &Instance) -> Result<(), String> {
    match action {
        Action::Up(opts) => {
            if instance.is_running() {
                crate::redis::ensure(&instance.base, &instance.env_file())?;
                println!("already running; env file {}", instance.env_file().display());
                print!("{}", std::fs::read_to_string(instance.env_file()).unwrap_or_default());
                return Ok(());
            }
            up(instance, &opts)
        }
        Action::Down => down(instance),
        Action::Env => {
            let env = std::fs::read_to_string(instance.env_file()).map_err(|_| {
                "the local Rucio is not running: start it with `cargo xtask rucio up`".to_owned()
            })?;
            print!("{env}");
            Ok(())
        }
    }
}

pub(crate) fn up(instance: &Instance, opts: &UpOptions) -> Result<(), String> {
    let kit = root().join("tests/fixtures/rucio-server");
    let port = match opts.port {
        Some(p) => p,
        None => free_port()?,
    };
    let venv = target_dir().join(format!("xtask-cache/rucio-venv-{RUCIO_VERSION}"));
    let mut cmd = Command::new(kit.join("up.sh"));
    cmd.arg(port.to_string())
        .arg(&instance.base)
        .env("VENV", &venv)
        .env("RUCIO_VERSION", RUCIO_VERSION);
    if !opts.no_oidc {
        cmd.env("OIDC", "1").env("IDP_PORT", free_port()?.to_string());
    }
    if !opts.no_tls {
        cmd.env("TLS_PORT", free_port()?.to_string());
    }
    eprintln!(
        "xtask: starting Rucio {RUCIO_VERSION} on 127.0.0.1:{port} (state in {})",
        instance.base.display()
    );
    // up.sh prints the env on stdout; keep xtask's stdout for what the user asked for.
    run(cmd.stdout(std::process::Stdio::null()))?;
    if let Err(e) = crate::redis::up(&instance.base, &instance.env_file()) {
        let _ = down(instance);
        return Err(e);
    }
    eprintln!("xtask: Rucio and Redis are up; env file {}", instance.env_file().display());
    Ok(())
}

pub(crate) fn down(instance: &Instance) -> Result<(), String> {
    crate::redis::down(&instance.base);
    let kit = root().join("tests/fixtures/rucio-server");
    run(Command::new(kit.join("down.sh")).arg("0").arg(&instance.base))
}

/// A port that was free a moment ago. The kit refuses to start on a busy port, so a race shows as
/// a clear failure rather than a confused server.
pub(crate) fn free_port() -> Result<u16, String> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("cannot find a free port: {e}"))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| format!("cannot find a free port: {e}"))
}
