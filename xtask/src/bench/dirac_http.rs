//! `cargo xtask bench dirac-http`: `dirac-mcp serve --transport http` in OIDC bridge mode on the
//! local DiracX (dirac-agentic's server has no HTTP mode with users to compare with, so the
//! yardstick is DiracX's own REST API).
//!
//! 1. Login: `--dirac-logins` full sign-ins by the Python MCP SDK's OAuth client
//!    (`tests/e2e/clients/dirac_oauth_scenarios.py sign_in`: discovery, DCR, PKCE, consent,
//!    DiracX's authorization-code login through the kit's IdP, token, first tool call); the median
//!    of first request → first tool result, and the share of the scripted browser (a Python
//!    process that plays the person at DiracX and its IdP).
//! 2. Load: `tools/call dirac_search_jobs` (20 jobs) by `mcp-loadgen` with `--dirac-sessions`
//!    concurrent sessions, the access token of the last login, beside the same search sent to
//!    DiracX's REST API at the same concurrency; the CPU of both processes meanwhile, so the MCP
//!    layer's share of the work is measured, not guessed.
//! 3. Token check: `cargo bench -p mcp-oauth-bridge --bench jwt` (criterion): a DiracX access
//!    token as a bearer, the first time and seen before.
//!
//! Output: a markdown table on stdout, `target/bench/dirac-http.json`, the server's stderr in
//! `target/bench/logs/dirac-http.stderr.log`. Tokens are never printed.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use clap::Args;
use serde_json::{Value, json};

use super::common::{Loadgen, Server, median, ms, num, rate, sign_in_output};
use crate::diracx::{Instance, UpOptions};
use crate::{cargo, root, run as run_cmd, target_dir};

#[derive(Args)]
#[command(next_help_heading = "dirac-http suite")]
pub(crate) struct DiracHttpArgs {
    /// dirac-http: full logins timed (the median is reported)
    #[arg(long, default_value_t = 5)]
    dirac_logins: usize,
    /// dirac-http: concurrent sessions (and REST connections) of the load
    #[arg(long, default_value_t = 64)]
    dirac_sessions: usize,
    /// dirac-http: measured seconds per load cell
    #[arg(long, default_value_t = 10.0)]
    dirac_duration: f64,
    /// dirac-http: leave out the criterion micro-bench
    #[arg(long)]
    dirac_skip_micro: bool,
}

/// A port whose bridge callback the kit's DiracX allows (`diracx::BRIDGE_PORTS`).
const PORT: u16 = 18159;
const SITE: &str = "testvo";
const PER_PAGE: u32 = 20;
/// What `dirac_search_jobs` sends by default, so both sides do the same search.
const FIELDS: [&str; 8] = [
    "JobID",
    "JobName",
    "Status",
    "MinorStatus",
    "ApplicationStatus",
    "Site",
    "Owner",
    "LastUpdateTime",
];

pub(crate) fn run(args: &DiracHttpArgs) -> Result<(), String> {
    if args.dirac_logins == 0 || args.dirac_sessions == 0 || args.dirac_duration <= 0.0 {
        return Err("--dirac-logins, --dirac-sessions and --dirac-duration must be positive".into());
    }
    let instance = Instance::dev();
    if !instance.is_running() {
        crate::diracx::up(&instance, &UpOptions::default())?;
    }
    eprintln!("xtask: building dirac-mcp, mcp-loadgen (release)");
    run_cmd(
        Command::new(cargo())
            .args(["build", "--release", "-p", "dirac-mcp", "-p", "mcp-loadgen"])
            .current_dir(root()),
    )?;
    let sdk_python = target_dir().join("xtask-cache/mcp-venv/bin/python");
    if !sdk_python.exists() {
        crate::clients::install()?;
    }
    let out = target_dir().join("bench");
    let logs = out.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| format!("cannot create {}: {e}", logs.display()))?;
    let loadgen = Loadgen {
        binary: target_dir().join("release/mcp-loadgen"),
        log: logs.join("dirac-http-loadgen.stderr.log"),
    };
    let _ = std::fs::remove_file(&loadgen.log);

    let diracx = instance.value("DIRACX_URL")?;
    let base = format!("http://127.0.0.1:{PORT}");
    let argv: Vec<String> = [
        target_dir().join("release/dirac-mcp").display().to_string(),
        "serve".into(),
        "--transport".into(),
        "http".into(),
        "--diracx-url".into(),
        diracx.clone(),
        "--port".into(),
        PORT.to_string(),
        "--metrics-port".into(),
        "0".into(),
        "--resource-url".into(),
        format!("{base}/"),
        "--site".into(),
        SITE.into(),
        "--log-level".into(),
        "warning".into(),
    ]
    .into();
    let mut server = Server::start("dirac-mcp", &argv, PORT, &logs.join("dirac-http.stderr.log"))?;
    let url = format!("{base}/site/{SITE}/");

    // 1. Real logins.
    let mut logins = Vec::new();
    let mut token = None;
    for i in 0..args.dirac_logins {
        eprintln!("xtask: login {}/{} (Python MCP SDK through DiracX)", i + 1, args.dirac_logins);
        let (timings, access) = login(&instance, &sdk_python, &url)?;
        logins.push(timings);
        token = Some(access);
    }
    let token = token.ok_or("no login")?;

    // 2. Load: the search through us, and straight at DiracX.
    let diracx_pid = instance.value("DIRACX_PID")?;
    let window = |watch: &[String]| {
        let mut argv: Vec<String> = [
            "--duration".to_owned(),
            args.dirac_duration.to_string(),
            "--warmup".into(),
            "1".into(),
            "--timeout".into(),
            "30".into(),
        ]
        .into();
        for w in watch {
            argv.extend(["--watch".to_owned(), w.clone()]);
        }
        argv
    };
    let bound = Duration::from_secs_f64(args.dirac_duration + 180.0);
    let search = json!({"name": "dirac_search_jobs", "arguments": {"per_page": PER_PAGE}});
    let mut ours_argv: Vec<String> = [
        "mcp".to_owned(),
        "--url".into(),
        url.clone(),
        "--sessions".into(),
        args.dirac_sessions.to_string(),
        "--method".into(),
        "tools/call".into(),
        "--params".into(),
        search.to_string(),
    ]
    .into();
    ours_argv
        .extend(window(&[format!("dirac-mcp={}", server.pid()), format!("diracx={diracx_pid}")]));
    eprintln!("xtask: {} sessions searching through dirac-mcp", args.dirac_sessions);
    let ours = loadgen.run(&ours_argv, bound, Some(&token))?;
    let body = json!({
        "parameters": FIELDS,
        "search": [],
        "sort": [{"parameter": "JobID", "direction": "desc"}],
    });
    let mut rest_argv: Vec<String> = [
        "get".to_owned(),
        "--url".into(),
        format!("{}/api/jobs/search?page=1&per_page={PER_PAGE}", diracx.trim_end_matches('/')),
        "--concurrency".into(),
        args.dirac_sessions.to_string(),
        "--body".into(),
        body.to_string(),
    ]
    .into();
    rest_argv.extend(window(&[format!("diracx={diracx_pid}")]));
    eprintln!("xtask: {} connections searching DiracX's REST API", args.dirac_sessions);
    let rest_token = instance.value("DIRACX_USER_TOKEN")?;
    let rest = loadgen.run(&rest_argv, bound, Some(&rest_token))?;
    let alive = server.alive();
    server.stop();
    if !alive {
        return Err(
            "dirac-mcp died during the load; see target/bench/logs/dirac-http.stderr.log".into()
        );
    }

    // 3. The token check.
    let micro = if args.dirac_skip_micro { Value::Null } else { micro()? };

    let results = json!({
        "config": {"logins": args.dirac_logins, "sessions": args.dirac_sessions,
                   "duration_s": args.dirac_duration, "per_page": PER_PAGE},
        "logins": logins,
        "ours": ours,
        "rest": rest,
        "micro": micro,
    });
    let (table, summary) = render(&results);
    let mut all = results;
    all["summary"] = summary;
    let file = out.join("dirac-http.json");
    std::fs::write(&file, serde_json::to_string_pretty(&all).unwrap_or_default())
        .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    println!("{table}");
    eprintln!("xtask: figures in {}", file.display());
    Ok(())
}

/// One full sign-in by the SDK: its timings, and the access token it got.
fn login(instance: &Instance, python: &Path, url: &str) -> Result<(Value, String), String> {
    let output = Command::new(python)
        .arg(root().join("tests/e2e/clients/dirac_oauth_scenarios.py"))
        .args(["sign_in", url])
        .current_dir(root().join("tests/e2e/clients"))
        .env("DIRACX_PYTHON", instance.value("DIRACX_PYTHON")?)
        .env("DIRACX_LIB", instance.value("DIRACX_LIB")?)
        .env("DIRACX_ENV_FILE", instance.env_file())
        .env("DIRAC_USER", "alice")
        .env("EXPECT_SITE", SITE)
        .env("OTHER_JOB", "7")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot start {}: {e}", python.display()))?;
    let (timings, access) = sign_in_output(&output)?;
    Ok((timings, access))
}

/// The criterion bench of the JWT check; its estimates from `target/criterion`.
fn micro() -> Result<Value, String> {
    eprintln!("xtask: cargo bench -p mcp-oauth-bridge --bench jwt");
    run_cmd(
        Command::new(cargo())
            .args(["bench", "-p", "mcp-oauth-bridge", "--bench", "jwt"])
            .current_dir(root()),
    )?;
    let mut out = json!({});
    for name in ["ed25519_first_sight", "ed25519_seen_before", "token_verifier_check_seen_before"] {
        let path: PathBuf = target_dir().join(format!("criterion/jwt/{name}/new/estimates.json"));
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let estimates: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        out[name] = json!(num(&estimates, &["median", "point_estimate"]).map(|ns| ns / 1000.0));
    }
    Ok(out)
}

fn render(results: &Value) -> (String, Value) {
    let logins = results["logins"].as_array().cloned().unwrap_or_default();
    let pick = |key: &str| median(logins.iter().filter_map(|t| num(t, &[key])).collect());
    let first_result = pick("first_result");
    let browser = pick("browser");
    let ours = &results["ours"];
    let rest = &results["rest"];
    let ours_rps = num(ours, &["throughput_rps"]);
    let rest_rps = num(rest, &["throughput_rps"]);
    let mcp_cpu = num(ours, &["cpu_cores", "dirac-mcp"]);
    let diracx_cpu = num(ours, &["cpu_cores", "diracx"]);
    let share = match (mcp_cpu, diracx_cpu) {
        (Some(m), Some(d)) if m + d > 0.0 => Some(m / (m + d)),
        _ => None,
    };
    let micro = &results["micro"];
    let us = |key: &str| num(micro, &[key]).map_or("–".to_owned(), |v| format!("{v:.2} µs"));
    let mut table = String::from("| dirac-mcp over HTTP (bridge mode) | figure |\n|---|---|\n");
    let _ = writeln!(table, "| full login → first tool result (median) | {} |", secs(first_result));
    let _ = writeln!(
        table,
        "| … of which the scripted browser at DiracX and its IdP | {} |",
        secs(browser)
    );
    let _ = writeln!(
        table,
        "| search, {} sessions: through dirac-mcp | {} (p50 {}, p99 {}) |",
        results["config"]["sessions"],
        rate(ours_rps),
        ms(num(ours, &["latency_ms", "p50"])),
        ms(num(ours, &["latency_ms", "p99"]))
    );
    let _ = writeln!(
        table,
        "| search, same concurrency: DiracX REST | {} (p50 {}, p99 {}) |",
        rate(rest_rps),
        ms(num(rest, &["latency_ms", "p50"])),
        ms(num(rest, &["latency_ms", "p99"]))
    );
    let _ = writeln!(
        table,
        "| dirac-mcp's share of the CPU (dirac-mcp + DiracX) under load | {} |",
        share.map_or("–".to_owned(), |s| format!("{:.1} %", s * 100.0))
    );
    let _ = writeln!(
        table,
        "| DiracX token check, first time / seen before | {} / {} |",
        us("ed25519_first_sight"),
        us("ed25519_seen_before")
    );
    let _ = writeln!(
        table,
        "| errors (ours, REST) | {}, {} |",
        ours["error_count"], rest["error_count"]
    );
    let summary = json!({
        "first_result_s": first_result,
        "browser_s": browser,
        "ours_rps": ours_rps,
        "rest_rps": rest_rps,
        "mcp_cpu_share": share,
    });
    (table, summary)
}

fn secs(v: Option<f64>) -> String {
    v.map_or("–".to_owned(), |s| format!("{:.0} ms", s * 1000.0))
}
