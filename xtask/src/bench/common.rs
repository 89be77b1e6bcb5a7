//! What the HTTP benches share: running `mcp-loadgen` and reading and printing its figures.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The generator, run once per cell with a time bound; its stdout is one JSON object.
pub(crate) struct Loadgen {
    pub(crate) binary: PathBuf,
    pub(crate) log: PathBuf,
}

impl Loadgen {
    pub(crate) fn run(
        &self,
        argv: &[String],
        bound: Duration,
        bearer: Option<&str>,
    ) -> Result<Value, String> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| format!("cannot open {}: {e}", self.log.display()))?;
        let mut cmd = Command::new(&self.binary);
        cmd.args(argv).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(log);
        match bearer {
            Some(token) => cmd.env("MCP_LOADGEN_BEARER", token),
            None => cmd.env_remove("MCP_LOADGEN_BEARER"),
        };
        let mut child = cmd.spawn().map_err(|e| format!("cannot start mcp-loadgen: {e}"))?;
        let stdout = child.stdout.take();
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut stdout) = stdout {
                let _ = stdout.read_to_string(&mut text);
            }
            text
        });
        let deadline = Instant::now() + bound;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Ok(None) | Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
            }
        };
        let text = reader.join().unwrap_or_default();
        match status {
            None => {
                Err(format!("mcp-loadgen did not finish within {} s; stopped", bound.as_secs()))
            }
            Some(status) if !status.success() => Err(format!(
                "mcp-loadgen {} failed ({status}); see {}",
                argv.join(" "),
                self.log.display()
            )),
            Some(_) => serde_json::from_str(text.trim())
                .map_err(|e| format!("mcp-loadgen printed no JSON ({e}): {}", text.trim())),
        }
    }
}

/// The end of a suite: the table on stdout, the figures with the targets' verdicts in `path`.
pub(crate) fn publish(
    mut results: Value,
    table: &str,
    targets: Value,
    path: &std::path::Path,
) -> Result<(), String> {
    results["targets"] = targets;
    println!("{table}");
    let text = serde_json::to_string_pretty(&results).map_err(|e| format!("JSON: {e}"))?;
    std::fs::write(path, text + "\n")
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    eprintln!("\nxtask: JSON in {}", path.display());
    Ok(())
}

pub(crate) fn num(v: &Value, path: &[&str]) -> Option<f64> {
    path.iter().try_fold(v, |v, key| v.get(*key))?.as_f64()
}

pub(crate) fn rate(v: Option<f64>) -> String {
    match v {
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.1}"),
        None => "–".into(),
    }
}

pub(crate) fn ms(v: Option<f64>) -> String {
    match v {
        Some(v) if v < 10.0 => format!("{v:.2}"),
        Some(v) if v < 100.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.0}"),
        None => "–".into(),
    }
}

pub(crate) fn mark(pass: Option<bool>) -> &'static str {
    match pass {
        Some(true) => "✅ pass",
        Some(false) => "❌ miss",
        None => "– not measured",
    }
}

/// A server process we started; stopped (by PID) when dropped.
pub(crate) struct Server {
    who: &'static str,
    child: Child,
    log: PathBuf,
}

impl Server {
    /// Starts `argv` without the caller's Rucio or shared-secret settings, waits for `/healthz`.
    pub(crate) fn start(
        who: &'static str,
        argv: &[String],
        port: u16,
        log: &Path,
    ) -> Result<Self, String> {
        Self::start_inner(who, argv, port, log, None)
    }

    /// [`Server::start`] in shared-secret mode, the secret in the environment (not on the
    /// command line).
    pub(crate) fn start_with_secret(
        who: &'static str,
        argv: &[String],
        port: u16,
        log: &Path,
        secret: &str,
    ) -> Result<Self, String> {
        Self::start_inner(who, argv, port, log, Some(secret))
    }

    fn start_inner(
        who: &'static str,
        argv: &[String],
        port: u16,
        log: &Path,
        secret: Option<&str>,
    ) -> Result<Self, String> {
        let (program, args) = argv.split_first().ok_or("empty command")?;
        let file =
            File::create(log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let mut cmd = Command::new(program);
        cmd.args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(file);
        for (key, _) in std::env::vars_os() {
            let key_s = key.to_string_lossy();
            if key_s.starts_with("RUCIO_") || key_s == "X509_USER_PROXY" {
                cmd.env_remove(&key);
            }
        }
        if let Some(secret) = secret {
            cmd.env("RUCIO_MCP_SHARED_SECRET", secret);
        }
        let child = cmd.spawn().map_err(|e| format!("cannot start {program}: {e}"))?;
        let mut server = Self { who, child, log: log.to_owned() };
        let deadline = Instant::now() + Duration::from_secs(120);
        while !healthz(port) {
            if !server.alive() || Instant::now() > deadline {
                return Err(format!(
                    "{who} did not come up; stderr ({}):\n{}",
                    server.log.display(),
                    std::fs::read_to_string(&server.log).unwrap_or_default()
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        eprintln!("xtask: {who} up at http://127.0.0.1:{port}/ (pid {})", server.pid());
        Ok(server)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM, up to 15 s for a graceful exit, then SIGKILL.
    pub(crate) fn stop(&mut self) {
        if !self.alive() {
            return;
        }
        let pid = self.pid().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.alive() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        if self.alive() {
            eprintln!("xtask: {} (pid {pid}) ignored SIGTERM; killing it", self.who);
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `GET /healthz` answers 200 with "ok".
pub(crate) fn healthz(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request =
        format!("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    // The body may come chunked (`2\r\nok\r\n0\r\n\r\n`).
    response.starts_with("HTTP/1.1 200")
        && response.split_once("\r\n\r\n").is_some_and(|(_, body)| body.contains("ok"))
}

pub(crate) fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        f64::midpoint(values[mid - 1], values[mid])
    } else {
        values[mid]
    })
}

/// What a `sign_in` client scenario printed: its `TIMINGS` and the access token of its `TOKENS`
/// line; on failure, its output without the tokens.
pub(crate) fn sign_in_output(output: &std::process::Output) -> Result<(Value, String), String> {
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        // The scenario prints tokens only on success; its failure output has none.
        return Err(format!(
            "the sign_in scenario failed ({}):\n{}\n{}",
            output.status,
            stdout.lines().filter(|l| !l.starts_with("TOKENS ")).collect::<Vec<_>>().join("\n"),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let line = |prefix: &str| -> Result<Value, String> {
        let text = stdout
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .ok_or_else(|| format!("the sign_in scenario printed no {prefix}line"))?;
        serde_json::from_str(text).map_err(|e| format!("{prefix}line: {e}"))
    };
    let timings = line("TIMINGS ")?;
    let access = line("TOKENS ")?["access_token"]
        .as_str()
        .ok_or("no access_token in the TOKENS line")?
        .to_owned();
    Ok((timings, access))
}
