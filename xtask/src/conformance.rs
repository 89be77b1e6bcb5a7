//! `cargo xtask conformance`: every server scenario of the MCP conformance suite (the npm package
//! `@modelcontextprotocol/conformance`) against its fixture server, `conformance-server`
//! (`tests/conformance`), served over streamable HTTP through `mcp-transports` with the same layer
//! stack as `rucio-mcp` (without a bearer check).
//!
//! Steps: Node 22 (`node22/`, shared with `cargo xtask clients`); the suite, installed once under
//! `target/xtask-cache/conformance/` (a marker names the version, so bumping it below reinstalls);
//! a debug build of `conformance-server`; the server on a free port of 127.0.0.1 (`--port 0`: it
//! prints the URL it listens on), waited for until it answers HTTP; the suite's
//! `server --suite all` (pending scenarios included) against `http://127.0.0.1:PORT/site/conformance/`; its
//! summary. The server is stopped whatever happens. A failed check, or a suite that does not
//! finish, fails the command; each failing scenario is run once more on its own to show its
//! checks. The checks of every scenario are kept under `target/conformance/` (one `checks.json`
//! per scenario), warnings included. Then the suite's client scenarios, played by
//! `mcp-auth-proxy` (`conformance_client`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::clients;
use crate::{cargo, root, run, target_dir};

const SUITE_PACKAGE: &str = "@modelcontextprotocol/conformance";
const SUITE_VERSION: &str = "0.1.16";
/// The suite's CLI (its `conformance` bin), relative to the npm prefix.
const SUITE_ENTRY: &str = "node_modules/@modelcontextprotocol/conformance/dist/index.js";
/// How long the server may take to print its URL and answer.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the whole suite may take (it takes about 15 s).
const SUITE_TIMEOUT: Duration = Duration::from_secs(600);

pub(crate) fn run_conformance() -> Result<(), String> {
    let cache = target_dir().join("xtask-cache");
    let node = clients::install_node(&cache.join("node22"))?;
    let suite = install_suite(&cache.join("conformance"), &node, SUITE_VERSION)?;
    run(Command::new(cargo())
        .args(["build", "--quiet", "-p", "conformance-server"])
        .current_dir(root()))?;
    let server = Server::start(&target_dir().join("debug/conformance-server"))?;
    let outcome = run_suite(&node, &suite, &server.url, &target_dir().join("conformance"));
    drop(server); // stops it
    outcome?;
    crate::conformance_client::run_client_scenarios()
}

/// The suite under `prefix`, installed unless the marker of this version is there; returns its CLI.
pub(crate) fn install_suite(prefix: &Path, node: &Path, version: &str) -> Result<PathBuf, String> {
    let marker = prefix.join(format!(".installed-conformance-{version}"));
    let entry = prefix.join(SUITE_ENTRY);
    if marker.exists() && entry.exists() {
        return Ok(entry);
    }
    std::fs::create_dir_all(prefix)
        .map_err(|e| format!("cannot create {}: {e}", prefix.display()))?;
    eprintln!("xtask: installing {SUITE_PACKAGE}@{version} into {}", prefix.display());
    let path = clients::path_with(node)?;
    clients::npm_install(prefix, &format!("{SUITE_PACKAGE}@{version}"), Some(&path))?;
    let out = Command::new(node)
        .arg(&entry)
        .arg("--version")
        .env("PATH", &path)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", entry.display()))?;
    let shown = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() || shown != version {
        return Err(format!(
            "`{} {} --version` printed {shown:?} ({}), expected {version}:\n{}",
            node.display(),
            entry.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    std::fs::write(&marker, "installed by `cargo xtask conformance`\n")
        .map_err(|e| format!("cannot write {}: {e}", marker.display()))?;
    Ok(entry)
}

/// The running `conformance-server`; killed when dropped, so an early return stops it too.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(binary: &Path) -> Result<Self, String> {
        let mut child = Command::new(binary)
            .args(["--host", "127.0.0.1", "--port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let stderr = child.stderr.take();
        let mut server = Self { child, url: String::new() };
        let Some(stderr) = stderr else {
            return Err("conformance-server has no stderr to read".into());
        };
        // Reads the server's stderr to its end: hands on the URL line, shows the rest.
        let (url_tx, url_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut url_tx = Some(url_tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("listening on ")
                    && let Some(tx) = url_tx.take()
                {
                    let _ = tx.send(url.to_owned());
                } else {
                    eprintln!("conformance-server: {line}");
                }
            }
        });
        let started = Instant::now();
        server.url = url_rx.recv_timeout(START_TIMEOUT).map_err(|_| {
            let status = server.child.try_wait().ok().flatten();
            match status {
                Some(status) => format!("conformance-server exited ({status}) before listening"),
                None => format!("conformance-server printed no URL in {START_TIMEOUT:?}"),
            }
        })?;
        let addr = socket_addr(&server.url)?;
        while let Err(e) = answers_http(addr) {
            if started.elapsed() > START_TIMEOUT {
                return Err(format!("conformance-server at {} does not answer: {e}", server.url));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("xtask: conformance-server answers at {}", server.url);
        Ok(server)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `127.0.0.1:PORT` of `http://127.0.0.1:PORT/site/conformance/`.
fn socket_addr(url: &str) -> Result<SocketAddr, String> {
    url.strip_prefix("http://")
        .and_then(|rest| rest.split('/').next())
        .and_then(|authority| authority.parse().ok())
        .ok_or_else(|| format!("conformance-server printed an unexpected URL: {url}"))
}

/// Whether an HTTP server answers at `addr` (its liveness probe).
fn answers_http(addr: SocketAddr) -> Result<(), String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|e| format!("cannot connect: {e}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
    write!(stream, "GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
        .map_err(|e| format!("cannot send a request: {e}"))?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).map_err(|e| format!("no answer: {e}"))?;
    if head.starts_with(b"HTTP/1.") { Ok(()) } else { Err("not an HTTP answer".into()) }
}

/// Runs every server scenario against `url`, prints the summary, fails on any failed check.
fn run_suite(node: &Path, suite: &Path, url: &str, results: &Path) -> Result<(), String> {
    let path = clients::path_with(node)?;
    let _ = std::fs::remove_dir_all(results);
    eprintln!(
        "xtask: running {SUITE_PACKAGE} {SUITE_VERSION}, every server scenario, against {url}"
    );
    let mut child = Command::new(node)
        .arg(suite)
        .args(["server", "--url", url, "--suite", "all", "--output-dir"])
        .arg(results)
        .env("PATH", &path)
        .current_dir(target_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start the suite: {e}"))?;
    let mut stdout = child.stdout.take().ok_or("the suite has no stdout to read")?;
    let reader = std::thread::spawn(move || {
        let mut output = String::new();
        let _ = stdout.read_to_string(&mut output);
        output
    });
    let status = wait_until(&mut child, SUITE_TIMEOUT)?;
    let output = reader.join().map_err(|_| "the reader of the suite's output panicked")?;

    let Some(summary) = output.split("=== SUMMARY ===").nth(1).map(str::trim) else {
        println!("{output}");
        return Err(format!("the suite printed no summary ({status})"));
    };
    println!("\n== {SUITE_PACKAGE} {SUITE_VERSION}: server scenarios against {url}\n");
    println!("{summary}");
    let scenarios: Vec<(&str, bool)> = summary
        .lines()
        .filter_map(|line| {
            let (mark, rest) = line.split_once(' ')?;
            let name = rest.split_once(':')?.0;
            match mark {
                "✓" => Some((name, true)),
                "✗" => Some((name, false)),
                _ => None,
            }
        })
        .collect();
    let failed: Vec<&str> =
        scenarios.iter().filter(|(_, passed)| !passed).map(|(name, _)| *name).collect();
    for name in &failed {
        println!("\n== the checks of {name}, run on its own\n");
        let _ = Command::new(node)
            .arg(suite)
            .args(["server", "--url", url, "--scenario", name])
            .env("PATH", &path)
            .current_dir(target_dir())
            .stdin(Stdio::null())
            .status();
    }
    println!("\nThe checks of each scenario (warnings too): {}", results.display());
    if scenarios.is_empty() {
        return Err("the suite's summary names no scenario".into());
    }
    if !failed.is_empty() {
        return Err(format!(
            "{} of {} conformance scenarios failed: {}",
            failed.len(),
            scenarios.len(),
            failed.join(", ")
        ));
    }
    if !status.success() {
        return Err(format!("the suite failed ({status}) though every scenario passed"));
    }
    eprintln!("xtask: all {} conformance scenarios passed", scenarios.len());
    Ok(())
}

/// Waits for `child`, killing it after `limit`.
pub(crate) fn wait_until(child: &mut Child, limit: Duration) -> Result<ExitStatus, String> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().map_err(|e| format!("cannot wait: {e}"))? {
            return Ok(status);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("the suite did not finish in {limit:?}"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
