//! The Redis of the test backends: Debian's `redis-server` (installed with apt when missing), a
//! private instance on a free loopback port next to the Rucio instance (`<state dir>/redis/`), no
//! persistence. The OAuth bridge's tests with several replicas share state through it; its URL goes
//! into the env file as `REDIS_URL`. Debian's own service, if the package started one, is never
//! used.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::rucio::free_port;

const REDIS_SERVER: &str = "redis-server";
const INSTALL_HINT: &str =
    "install it with `sudo apt-get install -y --no-install-recommends redis-server` and retry";

/// Installs Debian's redis-server when it is not on the machine (with `sudo -n` unless root).
fn ensure_installed() -> Result<(), String> {
    if installed() {
        return Ok(());
    }
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    eprintln!(
        "xtask: redis-server is missing; installing Debian's package (apt-get{})",
        if root { "" } else { " with sudo -n" }
    );
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
    let done = apt(&install) || {
        eprintln!("xtask: apt-get install failed; running apt-get update and trying again");
        apt(&["update"]) && apt(&install)
    };
    if done && installed() {
        eprintln!("xtask: installed {}", version().unwrap_or_else(|| REDIS_SERVER.to_owned()));
        return Ok(());
    }
    if done {
        return Err(format!(
            "apt-get installed redis-server, but `{REDIS_SERVER}` is not on PATH (Debian puts it in /usr/bin)"
        ));
    }
    Err(format!(
        "redis-server is not installed and apt-get could not install it{}: {INSTALL_HINT}",
        if root { "" } else { " (sudo -n needs passwordless sudo)" }
    ))
}

fn installed() -> bool {
    Command::new(REDIS_SERVER)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `redis-server 7.0.15`, from `redis-server --version`.
fn version() -> Option<String> {
    let out = Command::new(REDIS_SERVER).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text.split_whitespace().find_map(|w| w.strip_prefix("v="))?;
    Some(format!("redis-server {version}"))
}

fn redis_dir(base: &Path) -> PathBuf {
    base.join("redis")
}

/// Starts the instance's Redis and appends `REDIS_URL` to its env file (written by up.sh).
pub(crate) fn up(base: &Path, env_file: &Path) -> Result<(), String> {
    ensure_installed()?;
    down(base); // a Redis left over from an instance that died
    let dir = redis_dir(base);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    // Absolute: redis-server changes into --dir before it reads --pidfile and --logfile.
    let dir = std::path::absolute(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let (pid_file, log) = (dir.join("redis.pid"), dir.join("redis.log"));
    let port = free_port()?;
    eprintln!(
        "xtask: starting {} on 127.0.0.1:{port} (state in {})",
        version().unwrap_or_else(|| REDIS_SERVER.to_owned()),
        dir.display()
    );
    let status = Command::new(REDIS_SERVER)
        .args(["--bind", "127.0.0.1", "--protected-mode", "yes", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no", "--daemonize", "yes"])
        .arg("--dir")
        .arg(&dir)
        .arg("--pidfile")
        .arg(&pid_file)
        .arg("--logfile")
        .arg(&log)
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("cannot start redis-server: {e}"))?;
    if !status.success() {
        return Err(format!("redis-server failed to start ({status}); see {}", log.display()));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !answers_ping(port) {
        if Instant::now() > deadline {
            down(base);
            return Err(format!(
                "redis-server does not answer PING on 127.0.0.1:{port} after 10 s; see {}",
                log.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let appended = std::fs::OpenOptions::new()
        .append(true)
        .open(env_file)
        .and_then(|mut env| writeln!(env, "REDIS_URL=redis://127.0.0.1:{port}/0"));
    if let Err(e) = appended {
        down(base);
        return Err(format!("cannot append REDIS_URL to {}: {e}", env_file.display()));
    }
    eprintln!("xtask: Redis answers on 127.0.0.1:{port} (pid file {})", pid_file.display());
    Ok(())
}

/// For an instance that is already running: starts its Redis if the env file names none that
/// answers (an instance started before Redis was part of the kit, or whose Redis died).
pub(crate) fn ensure(base: &Path, env_file: &Path) -> Result<(), String> {
    let env = std::fs::read_to_string(env_file)
        .map_err(|e| format!("cannot read {}: {e}", env_file.display()))?;
    let port = env
        .lines()
        .filter_map(|l| l.strip_prefix("REDIS_URL=redis://127.0.0.1:"))
        .find_map(|rest| rest.split('/').next()?.parse::<u16>().ok());
    if port.is_some_and(answers_ping) && running_pid(base).is_some() {
        return Ok(());
    }
    eprintln!("xtask: the running instance has no live Redis; starting one");
    let kept: String =
        env.lines().filter(|l| !l.starts_with("REDIS_URL=")).map(|l| format!("{l}\n")).collect();
    std::fs::write(env_file, kept)
        .map_err(|e| format!("cannot write {}: {e}", env_file.display()))?;
    up(base, env_file)
}

fn answers_ping(port: u16) -> bool {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500))
    else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut answer = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut answer).is_ok()
        && &answer == b"+PONG\r\n"
}

/// The pid of the pid file, if that process is alive and is a redis-server (pids get reused).
fn running_pid(base: &Path) -> Option<String> {
    let pid = std::fs::read_to_string(redis_dir(base).join("redis.pid")).ok()?;
    let pid = pid.trim();
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let comm = std::fs::read_to_string(Path::new("/proc").join(pid).join("comm")).ok()?;
    (comm.trim().starts_with(REDIS_SERVER) && alive(pid)).then(|| pid.to_owned())
}

/// Whether `pid` runs (a zombie, which a container's init may never reap, does not).
fn alive(pid: &str) -> bool {
    std::fs::read_to_string(Path::new("/proc").join(pid).join("stat")).is_ok_and(|stat| {
        // `pid (comm) state ...`: the state follows the last ')'.
        stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X']))
    })
}

/// Stops the instance's Redis: the process of its pid file, and nothing else.
pub(crate) fn down(base: &Path) {
    let pid_file = redis_dir(base).join("redis.pid");
    if let Some(pid) = running_pid(base) {
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(&pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if alive(&pid) {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
        }
        eprintln!("xtask: stopped redis-server (pid {pid})");
    }
    let _ = std::fs::remove_file(pid_file);
}
