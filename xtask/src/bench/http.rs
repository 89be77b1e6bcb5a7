//! `cargo xtask bench http`: our `rucio-mcp` and PyPI `rucio-mcp` 0.10.0 side by side over
//! streamable HTTP, both in shared-secret mode with the same userpass rucio.cfg against the same
//! local Rucio, loaded by the same generator (`mcp-loadgen`, `tests/loadgen`).
//!
//! 1. Throughput: for each load level (`--sessions`, default 1, 64, 512 concurrent sessions, each
//!    on its own keep-alive connection, initialized first), a closed loop of `tools/list` (no
//!    backend call) and of `tools/call rucio_ping` for `--duration` seconds after `--warmup`:
//!    requests per second, p50/p99, errors, and the CPU the server, the generator and the Rucio
//!    worker used. The Python server and ours take turns in every cell, so both see the same Rucio.
//! 2. Baselines by the same generator at the same concurrency: `GET /healthz` of our server (a
//!    trivial endpoint: the ceiling of generator + HTTP stack on this machine) and Rucio's own
//!    REST `GET /ping` (what `rucio_ping` costs Rucio).
//! 3. Memory, on fresh server processes: RSS after start, with `--idle-sessions` initialized idle
//!    sessions, and after ending them all with `DELETE`.
//!
//! Every request has a deadline and every phase a time bound; the servers are stopped by PID at
//! the end, on error too. Output: a markdown table on stdout, `target/bench/http.json`, the
//! servers' stderr in `target/bench/logs/http-*.stderr.log`.

use std::fmt::Write as _;
use std::fs::File;
use std::io::Read as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::{Value, json};

use super::THEIRS_VERSION;
use super::common::{Loadgen, healthz, mark, ms, num, rate};
use crate::{cargo, root, run as run_cmd, target_dir};

#[derive(Args)]
#[command(next_help_heading = "http suite")]
pub(crate) struct HttpArgs {
    /// http: measured seconds per cell (load level × request × server)
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// http: warm-up seconds before each measured window (requests not counted)
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// http: load levels, as concurrent sessions (comma-separated)
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 64, 512])]
    sessions: Vec<usize>,
    /// http: initialized idle sessions held open for the memory figures
    #[arg(long, default_value_t = 10_000)]
    idle_sessions: usize,
    /// http: time bound of opening the idle sessions, in seconds (those open by then count)
    #[arg(long, default_value_t = 300.0)]
    idle_timeout: f64,
    /// http: deadline of every single request, in seconds
    #[arg(long, default_value_t = 30.0)]
    request_timeout: f64,
    /// http: measure this rucio-mcp binary instead of building target/release/rucio-mcp
    #[arg(long, value_name = "PATH")]
    ours: Option<PathBuf>,
    /// http: leave out the memory phase
    #[arg(long)]
    skip_memory: bool,
    /// http: leave out the throughput phase
    #[arg(long)]
    skip_load: bool,
}

/// The tool call of the "backend" rows: one Rucio REST call (`GET /ping`) per MCP request.
const PING_PARAMS: &str = r#"{"name":"rucio_ping","arguments":{}}"#;
/// The MCP site both servers mount (`/site/custom/`: ours names a --rucio-cfg site so).
const SITE: &str = "custom";
/// The measured window opens once every session has had a reply and closes, after `--duration`,
/// once every session has had one more (a server answering all sessions at once replies in
/// waves); each wait is bounded by this many seconds.
const MAX_WARMUP: f64 = 60.0;
/// Seconds the idle sessions are left alone before the second memory reading: well past our
/// default `--session-sleep-after` (5 s) and the allocator's 10 s decay, and long enough for a
/// server that expires idle sessions to show it.
const IDLE_WAIT_S: f64 = 90.0;
/// Sessions woken (one `ping` each) after the idle wait.
const WAKE: usize = 100;
/// Seconds for a server's RSS to settle after start, before the idle figure.
const SETTLE_AFTER_START: Duration = Duration::from_secs(2);

/// The two servers, in the order every cell runs them.
const SERVERS: [Who; 2] = [Who::Theirs, Who::Ours];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Ours,
    Theirs,
}

impl Who {
    fn key(self) -> &'static str {
        match self {
            Self::Ours => "ours",
            Self::Theirs => "theirs",
        }
    }
}

/// The requests measured at each load level: (label, JSON-RPC method, params).
const REQUESTS: [(&str, &str, &str); 2] =
    [("tools/list", "tools/list", ""), ("rucio_ping", "tools/call", PING_PARAMS)];

pub(crate) fn run(args: &HttpArgs) -> Result<(), String> {
    if args.duration <= 0.0 || args.warmup < 0.0 || args.request_timeout <= 0.0 {
        return Err(
            "--duration and --request-timeout must be positive, --warmup not negative".into()
        );
    }
    if args.sessions.is_empty() || args.sessions.contains(&0) {
        return Err("--sessions: give load levels of at least 1 session".into());
    }
    if args.skip_load && args.skip_memory {
        return Err("--skip-load and --skip-memory leave nothing to measure".into());
    }

    let instance = crate::rucio::Instance::dev();
    if !instance.is_running() {
        crate::rucio::up(&instance, &crate::rucio::UpOptions::default())?;
    }
    let rucio = RucioEnv::read(&instance.env_file())?;

    let packages: &[&str] = if args.ours.is_some() {
        &["-p", "mcp-loadgen"]
    } else {
        &["-p", "rucio-mcp", "-p", "mcp-loadgen"]
    };
    eprintln!(
        "xtask: building {} (release)",
        packages.iter().filter(|p| **p != "-p").cloned().collect::<Vec<_>>().join(", ")
    );
    run_cmd(Command::new(cargo()).args(["build", "--release"]).args(packages).current_dir(root()))?;
    let ours = args.ours.clone().unwrap_or_else(|| target_dir().join("release/rucio-mcp"));
    let loadgen = target_dir().join("release/mcp-loadgen");
    for binary in [&ours, &loadgen] {
        if !binary.exists() {
            return Err(format!("{} is missing", binary.display()));
        }
    }
    let theirs = super::theirs_executable()?;

    let out = target_dir().join("bench");
    let logs = out.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| format!("cannot create {}: {e}", logs.display()))?;
    for entry in std::fs::read_dir(&logs).map_err(|e| format!("{}: {e}", logs.display()))?.flatten()
    {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with("http-") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    let bench = Bench {
        args,
        ours,
        theirs,
        cfg: rucio.client_config.clone(),
        secret: random_secret()?,
        loadgen: Loadgen { binary: loadgen, log: logs.join("http-loadgen.stderr.log") },
        logs,
    };
    eprintln!("xtask: benchmarking over HTTP (servers' stderr in {})", bench.logs.display());

    let machine = json!({
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "loadavg_at_start": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
    });
    let memory = if args.skip_memory { Value::Null } else { bench.memory_phase()? };
    let load = if args.skip_load { Vec::new() } else { bench.load_phase(&rucio)? };

    let results = json!({
        "suite": "http",
        "theirs_version": THEIRS_VERSION,
        "protocol_version": "2025-11-25",
        "rucio_url": rucio.url,
        "rucio_version": rucio.version,
        "machine": machine,
        "config": {
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "sessions": args.sessions,
            "idle_sessions": args.idle_sessions,
            "idle_timeout_s": args.idle_timeout,
            "request_timeout_s": args.request_timeout,
            "ours_binary": rel(&bench.ours),
            "ours_cmd": bench.ours_args(0).iter().map(|a| rel(Path::new(a))).collect::<Vec<_>>(),
            "theirs_cmd": bench.theirs_args(0, 0).iter().map(|a| rel(Path::new(a))).collect::<Vec<_>>(),
        },
        "load": load,
        "memory": memory,
    });
    let (table, targets) = render(&results, args);
    super::common::publish(results, &table, targets, &out.join("http.json"))
}

/// What the bench needs of the local Rucio's env file.
pub(super) struct RucioEnv {
    url: String,
    version: String,
    pub(super) client_config: PathBuf,
    /// The gunicorn master; its worker is what answers.
    master_pid: Option<u32>,
}

impl RucioEnv {
    pub(super) fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e} (is the local Rucio up?)", path.display()))?;
        let get = |key: &str| {
            text.lines().find_map(|l| {
                let value = l.strip_prefix(key)?.strip_prefix('=')?.trim();
                Some(value.trim_matches(|c| c == '\'' || c == '"').to_owned())
            })
        };
        let url = get("RUCIO_URL").ok_or_else(|| format!("{} has no RUCIO_URL", path.display()))?;
        if !url.starts_with("http://127.0.0.1:") {
            return Err(format!("RUCIO_URL {url} is not plain HTTP on 127.0.0.1"));
        }
        Ok(Self {
            url,
            version: get("RUCIO_VERSION").unwrap_or_default(),
            client_config: get("RUCIO_CLIENT_CONFIG")
                .map(PathBuf::from)
                .ok_or_else(|| format!("{} has no RUCIO_CLIENT_CONFIG", path.display()))?,
            master_pid: get("RUCIO_PID").and_then(|p| p.parse().ok()),
        })
    }

    /// The gunicorn worker serving the REST API (the master's child), if it can be found.
    fn worker_pid(&self) -> Option<u32> {
        let master = self.master_pid?;
        let children =
            std::fs::read_to_string(format!("/proc/{master}/task/{master}/children")).ok()?;
        children.split_whitespace().next()?.parse().ok()
    }
}

/// `path` relative to the workspace root when it lies inside it (no machine paths in the JSON).
fn rel(path: &Path) -> String {
    let root = root();
    path.strip_prefix(&root)
        .map_or_else(|_| path.display().to_string(), |p| p.display().to_string())
}

pub(super) fn random_secret() -> Result<String, String> {
    let mut bytes = [0u8; 16];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("cannot read /dev/urandom: {e}"))?;
    Ok(bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    }))
}

struct Bench<'a> {
    args: &'a HttpArgs,
    ours: PathBuf,
    theirs: PathBuf,
    cfg: PathBuf,
    secret: String,
    loadgen: Loadgen,
    logs: PathBuf,
}

impl Bench<'_> {
    fn ours_args(&self, port: u16) -> Vec<String> {
        let cfg = self.cfg.display().to_string();
        let port = port.to_string();
        #[rustfmt::skip]
        let args = [
            self.ours.display().to_string().as_str(), "serve", "--transport", "http",
            "--rucio-cfg", &cfg, "--host", "127.0.0.1", "--port", &port, "--metrics-port", "0",
            // Nothing is logged per request at info; the start line tells the port.
            "--log-level", "info",
        ].map(str::to_owned);
        args.to_vec()
    }

    fn theirs_args(&self, port: u16, metrics_port: u16) -> Vec<String> {
        let cfg = self.cfg.display().to_string();
        let (port_s, metrics) = (port.to_string(), metrics_port.to_string());
        let resource = format!("http://127.0.0.1:{port}");
        #[rustfmt::skip]
        let args = [
            self.theirs.display().to_string().as_str(), "serve", "--transport", "http",
            "--site", SITE, "--rucio-cfg", &cfg, "--auth-type", "userpass",
            "--host", "127.0.0.1", "--port", &port_s, "--metrics-port", &metrics,
            "--resource-url", &resource,
            // uvicorn logs every request at info (its access log): keep that out of the figures.
            "--log-level", "warning",
        ].map(str::to_owned);
        args.to_vec()
    }

    /// Starts one server and waits until `/healthz` answers.
    fn start(&self, who: Who, phase: &str) -> Result<Server, String> {
        let log = self.logs.join(format!("http-{}-{phase}.stderr.log", who.key()));
        let server = match who {
            Who::Ours => {
                let argv = self.ours_args(0);
                let child = spawn(&argv, &self.secret, &log)?;
                let mut server = Server { who, child, port: 0, log };
                server.port = server.wait_for_port()?;
                server
            }
            Who::Theirs => {
                let (port, metrics) = (crate::rucio::free_port()?, crate::rucio::free_port()?);
                let argv = self.theirs_args(port, metrics);
                let child = spawn(&argv, &self.secret, &log)?;
                Server { who, child, port, log }
            }
        };
        let mut server = server;
        server.wait_healthy(Duration::from_secs(120))?;
        eprintln!(
            "xtask: {} up at http://127.0.0.1:{}/site/{SITE}/ (pid {})",
            who.key(),
            server.port,
            server.pid()
        );
        Ok(server)
    }

    fn mcp_url(&self, server: &Server) -> String {
        format!("http://127.0.0.1:{}/site/{SITE}/", server.port)
    }

    fn window_args(&self) -> Vec<String> {
        vec![
            "--duration".into(),
            self.args.duration.to_string(),
            "--warmup".into(),
            self.args.warmup.to_string(),
            "--max-warmup".into(),
            MAX_WARMUP.to_string(),
            "--timeout".into(),
            self.args.request_timeout.to_string(),
        ]
    }

    /// Time bound of one closed-loop run of the generator, all phases included.
    fn cell_bound(&self, setup: f64) -> Duration {
        Duration::from_secs_f64(
            setup
                + MAX_WARMUP.max(self.args.warmup)
                + self.args.duration
                + 2.0 * self.args.request_timeout
                + 30.0,
        )
    }

    fn memory_phase(&self) -> Result<Value, String> {
        let mut out = serde_json::Map::new();
        for who in SERVERS {
            eprintln!("xtask: memory, {}: {} idle sessions", who.key(), self.args.idle_sessions);
            let mut server = self.start(who, "memory")?;
            std::thread::sleep(SETTLE_AFTER_START);
            let url = self.mcp_url(&server);
            #[rustfmt::skip]
            let mut argv: Vec<String> = [
                "idle", "--url", &url, "--sessions", &self.args.idle_sessions.to_string(),
                "--pid", &server.pid().to_string(), "--setup-timeout", &self.args.idle_timeout.to_string(),
                "--timeout", &self.args.request_timeout.to_string(),
            ].map(str::to_owned).to_vec();
            argv.extend(["--settle".to_owned(), "3".to_owned()]);
            argv.extend(["--idle-wait".to_owned(), IDLE_WAIT_S.to_string()]);
            argv.extend(["--wake".to_owned(), WAKE.to_string()]);
            let bound = Duration::from_secs_f64(self.args.idle_timeout + IDLE_WAIT_S + 900.0);
            let mut result = self
                .loadgen
                .run(&argv, bound, Some(&self.secret))
                .unwrap_or_else(|e| json!({"error": e}));
            result["server_alive_at_end"] = json!(server.alive());
            if !server.alive() {
                result["server_log_tail"] = json!(server.log_tail());
            }
            server.stop();
            out.insert(who.key().into(), result);
        }
        Ok(Value::Object(out))
    }

    fn load_phase(&self, rucio: &RucioEnv) -> Result<Vec<Value>, String> {
        let mut theirs = self.start(Who::Theirs, "load")?;
        let mut ours = self.start(Who::Ours, "load")?;
        std::thread::sleep(SETTLE_AFTER_START);
        let rucio_worker = rucio.worker_pid();
        let rss_start = json!({"theirs": rss_mb(theirs.pid()), "ours": rss_mb(ours.pid())});
        let mut cells = vec![json!({"kind": "rss_after_start", "rss_mb": rss_start})];
        let setup_timeout = 120.0_f64;
        for &n in &self.args.sessions {
            let watch = |pid: u32| {
                let mut w = vec!["--watch".to_owned(), format!("server={pid}")];
                if let Some(worker) = rucio_worker {
                    w.extend(["--watch".to_owned(), format!("rucio={worker}")]);
                }
                w
            };
            // Baselines with the same generator at the same concurrency.
            let baselines = [
                ("healthz", format!("http://127.0.0.1:{}/healthz", ours.port), ours.pid()),
                ("rest_ping", format!("{}/ping", rucio.url.trim_end_matches('/')), 0),
            ];
            for (kind, url, pid) in baselines {
                eprintln!("xtask: {n:>4} connections  GET {url}");
                let mut argv: Vec<String> = ["get", "--url", &url, "--concurrency", &n.to_string()]
                    .map(str::to_owned)
                    .to_vec();
                argv.extend(self.window_args());
                if pid != 0 {
                    argv.extend(watch(pid));
                } else if let Some(worker) = rucio_worker {
                    argv.extend(["--watch".to_owned(), format!("rucio={worker}")]);
                }
                let result = self
                    .loadgen
                    .run(&argv, self.cell_bound(0.0), None)
                    .unwrap_or_else(|e| json!({"error": e}));
                cells.push(json!({"kind": kind, "sessions": n, "result": result}));
                std::thread::sleep(Duration::from_millis(500));
            }
            for (label, method, params) in REQUESTS {
                for who in SERVERS {
                    let server = match who {
                        Who::Ours => &mut ours,
                        Who::Theirs => &mut theirs,
                    };
                    eprintln!("xtask: {n:>4} sessions     {label} → {}", who.key());
                    let url = self.mcp_url(server);
                    #[rustfmt::skip]
                    let mut argv: Vec<String> = [
                        "mcp", "--url", &url, "--sessions", &n.to_string(), "--method", method,
                        "--params", params, "--setup-timeout", &setup_timeout.to_string(),
                    ].map(str::to_owned).to_vec();
                    argv.extend(self.window_args());
                    argv.extend(watch(server.pid()));
                    let result = if server.alive() {
                        self.loadgen
                            .run(&argv, self.cell_bound(setup_timeout), Some(&self.secret))
                            .unwrap_or_else(|e| json!({"error": e}))
                    } else {
                        json!({"error": format!("the server exited earlier: {}", server.log_tail())})
                    };
                    cells.push(json!({
                        "kind": "mcp",
                        "server": who.key(),
                        "request": label,
                        "sessions": n,
                        "result": result,
                        "server_rss_mb_after": rss_mb(server.pid()),
                        "server_alive": server.alive(),
                    }));
                    // Let the server finish what the generator left in flight.
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
        }
        let peaks = json!({"theirs": hwm_mb(theirs.pid()), "ours": hwm_mb(ours.pid())});
        cells.push(json!({"kind": "peak_rss_after_load", "vm_hwm_mb": peaks}));
        theirs.stop();
        ours.stop();
        Ok(cells)
    }
}

/// Starts `argv` with only the shared secret from us in its environment (no stray Rucio settings
/// from the caller's shell), stderr into `log`.
fn spawn(argv: &[String], secret: &str, log: &Path) -> Result<Child, String> {
    let (program, args) = argv.split_first().ok_or("empty command")?;
    let file = File::create(log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(file);
    for (key, _) in std::env::vars_os() {
        let key_s = key.to_string_lossy();
        if key_s.starts_with("RUCIO_")
            || key_s == "X509_USER_PROXY"
            || key_s == "MCP_LOADGEN_BEARER"
        {
            cmd.env_remove(&key);
        }
    }
    // Both servers read the secret from here; it stays off the command line.
    cmd.env("RUCIO_MCP_SHARED_SECRET", secret);
    cmd.spawn().map_err(|e| format!("cannot start {program}: {e}"))
}

/// A server process we started; stopped (by PID) when dropped.
struct Server {
    who: Who,
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Server {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(15).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// Ours logs `... listen=127.0.0.1:PORT ...` once it listens (started with `--port 0`).
    fn wait_for_port(&mut self) -> Result<u16, String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            let port = text
                .lines()
                .filter(|l| l.contains("serving MCP over streamable HTTP"))
                .find_map(|l| {
                    l.split_once("listen=")?.1.split_whitespace().next()?.parse::<SocketAddr>().ok()
                })
                .map(|addr| addr.port());
            if let Some(port) = port {
                return Ok(port);
            }
            if !self.alive() || Instant::now() > deadline {
                return Err(format!(
                    "{} did not report its listen address; stderr ({}):\n{}",
                    self.who.key(),
                    self.log.display(),
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_healthy(&mut self, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        loop {
            if healthz(self.port) {
                return Ok(());
            }
            if !self.alive() || Instant::now() > deadline {
                let state = if self.alive() { "does not answer /healthz" } else { "exited" };
                return Err(format!(
                    "{} {state}; stderr ({}):\n{}",
                    self.who.key(),
                    self.log.display(),
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// SIGTERM, up to 15 s for a graceful exit, then SIGKILL.
    fn stop(&mut self) {
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
            eprintln!("xtask: {} (pid {pid}) ignored SIGTERM; killing it", self.who.key());
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

fn proc_status_mb(pid: u32, key: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let kb: f64 =
            line.strip_prefix(key)?.strip_prefix(':')?.split_whitespace().next()?.parse().ok()?;
        Some(kb / 1024.0)
    })
}

fn rss_mb(pid: u32) -> Option<f64> {
    proc_status_mb(pid, "VmRSS")
}

fn hwm_mb(pid: u32) -> Option<f64> {
    proc_status_mb(pid, "VmHWM")
}

// ---------------------------------------------------------------------------------------------
// The report

fn mb(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{v:.1}"))
}

fn cores(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{v:.2}"))
}

/// Errors of a cell: requests that failed in the window and sessions that never opened.
fn errors(result: &Value) -> String {
    if let Some(e) = result.get("error").and_then(Value::as_str) {
        return format!("run failed: {}", e.lines().next().unwrap_or(""));
    }
    let mut parts = Vec::new();
    if let Some(counts) = result.pointer("/errors/counts").and_then(Value::as_object) {
        for (kind, n) in counts {
            parts.push(format!("{n} {kind}"));
        }
    }
    let wanted = num(result, &["sessions"]);
    let ready = num(result, &["sessions_ready"]);
    if let (Some(w), Some(r)) = (wanted, ready)
        && r < w
    {
        parts.push(format!("{} sessions not opened", w - r));
    }
    if parts.is_empty() { "0".into() } else { parts.join(", ") }
}

/// A share as a whole percentage (no "-0 %").
fn percent(share: f64) -> String {
    let p = (share * 100.0).round();
    format!("{} %", if p == 0.0 { 0.0 } else { p })
}

/// The markdown report and the target verdicts (also for the JSON).
fn render(results: &Value, args: &HttpArgs) -> (String, Value) {
    let mut t = String::new();
    let empty = Vec::new();
    let load = results["load"].as_array().unwrap_or(&empty);
    let cell = |kind: &str, who: Option<&str>, request: Option<&str>, n: usize| {
        load.iter().find(|c| {
            c["kind"] == kind
                && c["sessions"].as_u64() == Some(n as u64)
                && who.is_none_or(|w| c["server"] == w)
                && request.is_none_or(|r| c["request"] == r)
        })
    };
    let result_of = |c: Option<&Value>| c.map(|c| c["result"].clone()).unwrap_or(Value::Null);

    let _ = writeln!(
        t,
        "## rucio-mcp over streamable HTTP: Python {THEIRS_VERSION} vs ours (Rust)\n\n\
         Closed loop, one keep-alive connection per initialized session, {} s measured after {} s \
         warm-up per cell; shared-secret mode, same rucio.cfg (userpass, root), same local Rucio {} \
         ({}). Machine: {} CPUs, load average at start {}.\n",
        args.duration,
        args.warmup,
        results["rucio_version"].as_str().unwrap_or("?"),
        results["rucio_url"].as_str().unwrap_or("?"),
        results["machine"]["cpus"],
        results["machine"]["loadavg_at_start"].as_str().unwrap_or("?"),
    );

    if !load.is_empty() {
        let _ = writeln!(
            t,
            "| request | sessions | Python req/s | Python p50 / p99 (ms) | ours req/s | ours p50 / p99 (ms) | ours ÷ Python | errors Python / ours | CPU cores: Python · ours · generator (ours) · Rucio (ours) |"
        );
        let _ = writeln!(t, "|---|---:|---:|---:|---:|---:|---:|---|---|");
        for (label, _, _) in REQUESTS {
            for &n in &args.sessions {
                let th = result_of(cell("mcp", Some("theirs"), Some(label), n));
                let us = result_of(cell("mcp", Some("ours"), Some(label), n));
                let (rt, ro) = (num(&th, &["throughput_rps"]), num(&us, &["throughput_rps"]));
                let ratio = match (ro, rt) {
                    (Some(o), Some(p)) if p > 0.0 => format!("{:.1}×", o / p),
                    _ => "–".into(),
                };
                let _ = writeln!(
                    t,
                    "| `{label}` | {n} | {} | {} / {} | {} | {} / {} | {ratio} | {} / {} | {} · {} · {} · {} |",
                    rate(rt),
                    ms(num(&th, &["latency_ms", "p50"])),
                    ms(num(&th, &["latency_ms", "p99"])),
                    rate(ro),
                    ms(num(&us, &["latency_ms", "p50"])),
                    ms(num(&us, &["latency_ms", "p99"])),
                    errors(&th),
                    errors(&us),
                    cores(num(&th, &["cpu_cores", "server"])),
                    cores(num(&us, &["cpu_cores", "server"])),
                    cores(num(&us, &["cpu_cores", "loadgen"])),
                    cores(num(&us, &["cpu_cores", "rucio"])),
                );
            }
        }
        let _ = writeln!(
            t,
            "\nBaselines, same generator, same concurrency (one connection per session):\n\n\
             | baseline | connections | req/s | p50 / p99 (ms) | errors | CPU cores: server · generator · Rucio |\n\
             |---|---:|---:|---:|---|---|"
        );
        for (kind, label) in [
            ("healthz", "`GET /healthz` of ours (calibration: generator + HTTP ceiling)"),
            ("rest_ping", "Rucio REST `GET /ping` (what `rucio_ping` asks Rucio)"),
        ] {
            for &n in &args.sessions {
                let r = result_of(cell(kind, None, None, n));
                let _ = writeln!(
                    t,
                    "| {label} | {n} | {} | {} / {} | {} | {} · {} · {} |",
                    rate(num(&r, &["throughput_rps"])),
                    ms(num(&r, &["latency_ms", "p50"])),
                    ms(num(&r, &["latency_ms", "p99"])),
                    errors(&r),
                    cores(num(&r, &["cpu_cores", "server"])),
                    cores(num(&r, &["cpu_cores", "loadgen"])),
                    cores(num(&r, &["cpu_cores", "rucio"])),
                );
            }
        }
        // CPU the hypervisor gave to others while we measured: the figures above assume 2 cores.
        let mut steal: Vec<(f64, String)> = load
            .iter()
            .filter_map(|c| {
                let pct = num(&c["result"], &["cpu_cores", "machine", "steal_pct"])?;
                let what = format!(
                    "{} {} @{}",
                    c["request"].as_str().or(c["kind"].as_str()).unwrap_or("?"),
                    c["server"].as_str().unwrap_or(""),
                    c["sessions"]
                );
                Some((pct, what))
            })
            .collect();
        if !steal.is_empty() {
            steal.sort_by(|a, b| b.0.total_cmp(&a.0));
            let noisy: Vec<String> = steal
                .iter()
                .filter(|(pct, _)| *pct > 5.0)
                .map(|(pct, what)| format!("{what} ({pct:.0} %)"))
                .collect();
            let _ = writeln!(
                t,
                "\nCPU stolen by the hypervisor during the measured windows: at most {:.1} %{}",
                steal[0].0,
                if noisy.is_empty() {
                    " (no cell above 5 %).".to_owned()
                } else {
                    format!("; cells above 5 %, figures less reliable: {}.", noisy.join(", "))
                }
            );
        }
        let start = load.iter().find(|c| c["kind"] == "rss_after_start");
        let peak = load.iter().find(|c| c["kind"] == "peak_rss_after_load");
        if let (Some(start), Some(peak)) = (start, peak) {
            let _ = writeln!(
                t,
                "\nRSS of the load-phase servers: after start Python {} MB, ours {} MB; peak (VmHWM) \
                 after all cells Python {} MB, ours {} MB.",
                mb(num(start, &["rss_mb", "theirs"])),
                mb(num(start, &["rss_mb", "ours"])),
                mb(num(peak, &["vm_hwm_mb", "theirs"])),
                mb(num(peak, &["vm_hwm_mb", "ours"])),
            );
        }
    }

    let memory = &results["memory"];
    if memory.is_object() {
        let n = args.idle_sessions;
        let _ = writeln!(
            t,
            "\nMemory (fresh processes; RSS from /proc/PID/status VmRSS, {n} initialized idle sessions \
             opened over 32 connections, left alone {IDLE_WAIT_S:.0} s, {WAKE} of them then sent `ping`, \
             then all ended with DELETE; 3 s settle before each reading):\n\n\
             | figure | Python | ours | ours ÷ Python |\n|---|---:|---:|---:|"
        );
        let (th, us) = (&memory["theirs"], &memory["ours"]);
        for (label, key) in [
            ("RSS idle after start (MB)", "idle"),
            ("RSS with the idle sessions just opened (MB)", "with_sessions"),
            (
                "RSS at its highest while the sessions are open, sampled every second (MB)",
                "peak_sampled_with_sessions",
            ),
            (
                "RSS with the same sessions after the idle wait (MB)",
                "with_sessions_after_idle_wait",
            ),
            ("RSS after DELETE of all sessions (MB)", "after_delete"),
            ("RSS 9 s later (MB)", "after_delete_late"),
        ] {
            let (a, b) = (num(th, &["rss_mb", key]), num(us, &["rss_mb", key]));
            let ratio = match (b, a) {
                (Some(b), Some(a)) if a > 0.0 => format!("{:.2}×", b / a),
                _ => "–".into(),
            };
            let _ = writeln!(t, "| {label} | {} | {} | {ratio} |", mb(a), mb(b));
        }
        let per_session = |r: &Value| {
            let grow = num(r, &["rss_mb", "with_sessions"])? - num(r, &["rss_mb", "idle"])?;
            let opened = num(r, &["sessions_opened"])?;
            (opened > 0.0).then(|| grow * 1024.0 / opened)
        };
        let _ = writeln!(
            t,
            "| RSS per idle session (KB) | {} | {} | |",
            mb(per_session(th)),
            mb(per_session(us))
        );
        let woken = |r: &Value| {
            format!(
                "{} / {} ms",
                num(r, &["woken"]).map_or("–".into(), |v| format!("{v:.0}")),
                mb(num(r, &["wake_latency_ms", "p50"]))
            )
        };
        let _ = writeln!(
            t,
            "| sessions answering `ping` after the idle wait / p50 | {} | {} | |",
            woken(th),
            woken(us)
        );
        let _ = writeln!(
            t,
            "| sessions opened / time to open (s) | {} / {} | {} / {} | |",
            num(th, &["sessions_opened"]).map_or("–".into(), |v| format!("{v:.0}")),
            mb(num(th, &["open_seconds"])),
            num(us, &["sessions_opened"]).map_or("–".into(), |v| format!("{v:.0}")),
            mb(num(us, &["open_seconds"])),
        );
        let _ = writeln!(
            t,
            "| sessions ended by DELETE / request in an ended session answered | {} / {} | {} / {} | |",
            num(th, &["sessions_deleted"]).map_or("–".into(), |v| format!("{v:.0}")),
            th["deleted_session_probe_status"],
            num(us, &["sessions_deleted"]).map_or("–".into(), |v| format!("{v:.0}")),
            us["deleted_session_probe_status"],
        );
        for (who, r) in [("Python", th), ("ours", us)] {
            let open_err = r
                .pointer("/open_errors/counts")
                .filter(|c| c.as_object().is_some_and(|m| !m.is_empty()));
            let del_err = r
                .pointer("/delete_errors/counts")
                .filter(|c| c.as_object().is_some_and(|m| !m.is_empty()));
            if let Some(e) = r.get("error") {
                let _ = writeln!(t, "\n{who}: the memory run failed: {e}");
            }
            if open_err.is_some() || del_err.is_some() || r["open_timed_out"] == true {
                let _ = writeln!(
                    t,
                    "\n{who}: errors opening {} / ending {}; time bound reached: {}",
                    open_err.unwrap_or(&Value::Null),
                    del_err.unwrap_or(&Value::Null),
                    r["open_timed_out"]
                );
            }
        }
    }

    // Targets of the issue.
    let mut targets = Vec::new();
    let at64 = args.sessions.contains(&64);
    let tl = |who: &str| result_of(cell("mcp", Some(who), Some("tools/list"), 64));
    let ratio64 = (|| {
        Some(num(&tl("ours"), &["throughput_rps"])? / num(&tl("theirs"), &["throughput_rps"])?)
    })();
    let p99 = num(&tl("ours"), &["latency_ms", "p99"]);
    targets.push(json!({
        "target": "tools/list throughput of ours ≥ 30× Python's at 64 sessions",
        "figure": ratio64.map(|r| format!("{r:.1}×")),
        "pass": if at64 { ratio64.map(|r| r >= 30.0) } else { None },
    }));
    targets.push(json!({
        "target": "tools/list p99 of ours < 5 ms at 64 sessions",
        "figure": p99.map(|p| format!("{p:.2} ms")),
        "pass": if at64 { p99.map(|p| p < 5.0) } else { None },
    }));
    // rucio_ping bound by Rucio: ours reaches ≥ 80 % of Rucio's own /ping rate where Rucio is
    // the contended resource (≥ 64 sessions); at 1 session the figure is the added latency.
    let mut ping_parts = Vec::new();
    let mut ping_pass: Option<bool> = None;
    for &n in &args.sessions {
        let ours_ping =
            num(&result_of(cell("mcp", Some("ours"), Some("rucio_ping"), n)), &["throughput_rps"]);
        let rest = num(&result_of(cell("rest_ping", None, None, n)), &["throughput_rps"]);
        if let (Some(o), Some(r)) = (ours_ping, rest)
            && r > 0.0
        {
            let share = o / r;
            ping_parts.push(format!("{n}: {:.0} %", share * 100.0));
            if n >= 64 {
                ping_pass = Some(ping_pass.unwrap_or(true) && share >= 0.8);
            }
        }
    }
    targets.push(json!({
        "target": "rucio_ping bound by Rucio, not us: ours ≥ 80 % of Rucio's REST GET /ping rate at the same concurrency (≥ 64 sessions)",
        "figure": if ping_parts.is_empty() { Value::Null } else { json!(format!("ours ÷ REST: {}", ping_parts.join(", "))) },
        "pass": ping_pass,
    }));
    let us = &memory["ours"];
    // At every moment: the highest of the per-second samples, the fixed readings and the
    // kernel's high-water mark of this fresh server (VmHWM: a spike between samples too).
    let rss_highest =
        ["peak_sampled_with_sessions", "with_sessions", "with_sessions_after_idle_wait"]
            .iter()
            .filter_map(|key| num(us, &["rss_mb", key]))
            .chain(num(us, &["vm_hwm_mb"]))
            .reduce(f64::max);
    let rss_idle = num(us, &["rss_mb", "with_sessions_after_idle_wait"]);
    let complete = num(us, &["sessions_opened"]) == Some(args.idle_sessions as f64)
        && num(us, &["woken"]) == Some(WAKE as f64);
    targets.push(json!({
        "target": format!("RSS of ours with {} freshly opened, initialized sessions < 100 MB at every moment (sampled every second from the first session on, and the process's VmHWM; idle {IDLE_WAIT_S:.0} s, and still answering)", args.idle_sessions),
        "figure": rss_highest.map(|v| format!("{v:.1} MB at the highest ({} MB after the idle wait)", mb(rss_idle))),
        "pass": rss_highest.map(|v| v < 100.0 && complete),
    }));
    let given_back = |r: &Value| {
        let idle = num(r, &["rss_mb", "idle"])?;
        let with = num(r, &["rss_mb", "with_sessions"])?;
        let after = num(r, &["rss_mb", "after_delete_late"])?;
        (with > idle).then(|| (with - after) / (with - idle))
    };
    let back_ours = given_back(us);
    let back_theirs = given_back(&memory["theirs"]);
    targets.push(json!({
        "target": "memory given back when the sessions end: ≥ 80 % of the growth returned after DELETE",
        "figure": back_ours.map(|f| format!("{} returned (Python: {})", percent(f), back_theirs.map_or("–".into(), percent))),
        "pass": back_ours.map(|f| f >= 0.8),
    }));

    let _ = writeln!(t, "\nTargets (from the issue):\n\n| target | figure | |\n|---|---|---|");
    for target in &targets {
        let _ = writeln!(
            t,
            "| {} | {} | {} |",
            target["target"].as_str().unwrap_or(""),
            target["figure"].as_str().unwrap_or("–"),
            mark(target["pass"].as_bool()),
        );
    }
    let _ = writeln!(
        t,
        "\nFor reference, the issue's figures for the Python server: about 150 `tools/list`/s at 64 \
         sessions with p99 near 0.5 s, about 500 MB with 10,000 idle sessions."
    );
    (t, Value::Array(targets))
}
