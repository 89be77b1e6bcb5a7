//! The Redis of the test backends: Debian's `redis-server` (installed with apt when missing), a
//! private instance on a free loopback port next to the Rucio instance, no persistence. The OAuth
//! bridge's tests with several replicas share state through it; its URL goes into the env file
//! as `REDIS_URL`.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::rucio::free_port;

const REDIS_SERVER: &str = "redis-server";

/// Installs Debian's redis-server when it is not on the machine.
fn ensure_installed() -> Result<(), String> {
    if Command::new(REDIS_SERVER).arg("--version").stdout(Stdio::null()).status().is_ok() {
        return Ok(());
    }
    eprintln!("xtask: redis-server is missing; installing Debian's package");
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    let apt = |args: &[&str]| {
        let mut cmd = if root { Command::new("apt-get") } else { Command::new("sudo") };
        if !root {
            cmd.args(["-n", "apt-get"]);
        }
        cmd.args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let install = ["install", "-y", "--no-install-recommends", "redis-server"];
    if apt(&install) || (apt(&["update"]) && apt(&install)) {
        return Ok(());
    }
    Err("cannot install redis-server: run `apt-get install redis-server` (as root) and retry"
        .into())
}

/// Starts the instance's Redis and appends `REDIS_URL` to its env file.
pub(crate) fn up(base: &Path, env_file: &Path) -> Result<(), String> {
    ensure_installed()?;
    let dir = base.join("redis");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let port = free_port()?;
    let pid_file = dir.join("redis.pid");
    let status = Command::new(REDIS_SERVER)
        .args(["--bind", "127.0.0.1", "--protected-mode", "yes", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no", "--daemonize", "yes"])
        .arg("--dir")
        .arg(&dir)
        .arg("--pidfile")
        .arg(&pid_file)
        .arg("--logfile")
        .arg(dir.join("redis.log"))
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("cannot start redis-server: {e}"))?;
    if !status.success() {
        return Err(format!(
            "redis-server failed to start; see {}",
            dir.join("redis.log").display()
        ));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !answers_ping(port) {
        if Instant::now() > deadline {
            return Err(format!(
                "redis-server does not answer on port {port}; see {}",
                dir.join("redis.log").display()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut env = std::fs::OpenOptions::new()
        .append(true)
        .open(env_file)
        .map_err(|e| format!("cannot write {}: {e}", env_file.display()))?;
    writeln!(env, "REDIS_URL=redis://127.0.0.1:{port}/0")
        .map_err(|e| format!("cannot write {}: {e}", env_file.display()))?;
    eprintln!("xtask: Redis up on 127.0.0.1:{port}");
    Ok(())
}

fn answers_ping(port: u16) -> bool {
    use std::io::{Read as _, Write as _};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut answer = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut answer).is_ok()
        && &answer == b"+PONG\r\n"
}

/// Stops the instance's Redis (by its pid file; nothing else).
pub(crate) fn down(base: &Path) {
    let pid_file = base.join("redis/redis.pid");
    let Ok(pid) = std::fs::read_to_string(&pid_file) else { return };
    let pid = pid.trim();
    if !pid.is_empty() && pid.chars().all(|c| c.is_ascii_digit()) {
        let _ = Command::new("kill").arg(pid).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Path::new("/proc").join(pid).exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let _ = std::fs::remove_file(pid_file);
}
