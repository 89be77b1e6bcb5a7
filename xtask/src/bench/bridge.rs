//! `cargo xtask bench bridge`: OIDC bridge mode (`serve --transport http` without a shared
//! secret), ours side by side with PyPI `rucio-mcp` 0.10.0 in its own OIDC bridge mode, against
//! the local Rucio and its OpenID provider.
//!
//! 1. Micro: `cargo bench -p mcp-oauth-bridge --bench token` (criterion): opening and checking a
//!    sealed access token that carries a ~900-byte upstream JWT, what every request costs.
//! 2. Login: `--logins` full sign-ins on ours by the Python MCP SDK's OAuth client
//!    (`tests/e2e/clients/oauth_scenarios.py sign_in`: discovery, DCR, PKCE, consent, Rucio's
//!    login at the IdP by the fixture's `browser_login.py`, token, first tool call); the median of
//!    its first MCP request → first tool result, and the IdP form's own share.
//! 3. Load: `tools/call rucio_token_info` (answered from the token alone) by `mcp-loadgen` with
//!    `--bridge-sessions` concurrent sessions; ours with the access token of the last real login,
//!    the Python server with a JWT-shaped bearer (it takes any bearer as the Rucio token and only
//!    decodes it for this tool).
//!
//! Output: a markdown table on stdout, `target/bench/bridge.json`, the servers' stderr in
//! `target/bench/logs/bridge-*.stderr.log`. Tokens are never printed.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::{Value, json};

use super::THEIRS_VERSION;
use super::common::{Loadgen, Server, mark, median, ms, num, rate, sign_in_output};
use crate::{cargo, root, run as run_cmd, target_dir};

#[derive(Args)]
#[command(next_help_heading = "bridge suite")]
pub(crate) struct BridgeArgs {
    /// bridge: measured seconds per load cell
    #[arg(long, default_value_t = 10.0)]
    bridge_duration: f64,
    /// bridge: warm-up seconds before each measured window
    #[arg(long, default_value_t = 1.0)]
    bridge_warmup: f64,
    /// bridge: load levels, as concurrent sessions (comma-separated)
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 64, 512])]
    bridge_sessions: Vec<usize>,
    /// bridge: full logins timed on ours (the median is reported)
    #[arg(long, default_value_t = 5)]
    logins: usize,
    /// bridge: leave out the criterion micro-bench
    #[arg(long)]
    skip_micro: bool,
}

/// The site both servers mount (`/site/local/`); the e2e scenario expects this name.
const SITE: &str = "local";
const TOKEN_INFO: &str = r#"{"name":"rucio_token_info","arguments":{}}"#;
const MAX_WARMUP: f64 = 60.0;
const REQUEST_TIMEOUT: f64 = 30.0;
const SETUP_TIMEOUT: f64 = 120.0;

/// What the bench needs of the local Rucio's env file.
struct Kit(String);

impl Kit {
    fn get(&self, key: &str) -> Result<String, String> {
        self.0
            .lines()
            .find_map(|l| {
                let value = l.strip_prefix(key)?.strip_prefix('=')?.trim();
                Some(value.trim_matches(|c| c == '\'' || c == '"').to_owned())
            })
            .ok_or_else(|| format!("the local Rucio's env file has no {key}"))
    }
}

pub(crate) fn run(args: &BridgeArgs) -> Result<(), String> {
    if args.bridge_duration <= 0.0 || args.bridge_warmup < 0.0 || args.logins == 0 {
        return Err("--bridge-duration and --logins must be positive".into());
    }
    if args.bridge_sessions.is_empty() || args.bridge_sessions.contains(&0) {
        return Err("--bridge-sessions: give load levels of at least 1 session".into());
    }
    let out = target_dir().join("bench");
    let logs = out.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| format!("cannot create {}: {e}", logs.display()))?;

    // 1. The micro-bench first, while nothing else runs.
    let micro = if args.skip_micro { Value::Null } else { micro()? };

    eprintln!("xtask: building rucio-mcp, mcp-loadgen (release)");
    run_cmd(
        Command::new(cargo())
            .args(["build", "--release", "-p", "rucio-mcp", "-p", "mcp-loadgen"])
            .current_dir(root()),
    )?;
    let ours_bin = target_dir().join("release/rucio-mcp");
    let loadgen = Loadgen {
        binary: target_dir().join("release/mcp-loadgen"),
        log: logs.join("bridge-loadgen.stderr.log"),
    };
    let _ = std::fs::remove_file(&loadgen.log);
    let theirs_bin = super::theirs_executable()?;
    let sdk_python = target_dir().join("xtask-cache/mcp-venv/bin/python");
    if !sdk_python.exists() {
        crate::clients::install()?;
    }

    // The local Rucio, read after the builds (it may have been restarted meanwhile).
    let instance = crate::rucio::Instance::dev();
    if !instance.is_running() {
        crate::rucio::up(&instance, &crate::rucio::UpOptions::default())?;
    }
    let env_file = instance.env_file();
    let kit = Kit(std::fs::read_to_string(&env_file)
        .map_err(|e| format!("cannot read {}: {e}", env_file.display()))?);
    let rucio_url = kit.get("RUCIO_URL")?;

    // A rucio.cfg for Rucio's OIDC login, as the e2e tests write it.
    let work = out.join("bridge");
    std::fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    let cfg = work.join("oidc.cfg");
    std::fs::write(
        &cfg,
        format!(
            "[client]\nrucio_host = {rucio_url}\nauth_host = {rucio_url}\nauth_type = oidc\n\
             oidc_scope = {}\noidc_audience = {}\nrequest_retries = 0\n",
            kit.get("OIDC_SCOPE")?,
            kit.get("OIDC_AUDIENCE")?,
        ),
    )
    .map_err(|e| format!("cannot write {}: {e}", cfg.display()))?;

    // Ours in OIDC bridge mode.
    let port = crate::rucio::free_port()?;
    let resource = format!("http://127.0.0.1:{port}/");
    #[rustfmt::skip]
    let ours_argv: Vec<String> = [
        ours_bin.display().to_string().as_str(), "serve", "--transport", "http",
        "--host", "127.0.0.1", "--port", &port.to_string(), "--metrics-port", "0",
        "--resource-url", &resource, "--site", &format!("{SITE}={}", cfg.display()),
        "--log-level", "info",
    ].map(str::to_owned).to_vec();
    let mut ours = Server::start("ours", &ours_argv, port, &logs.join("bridge-ours.stderr.log"))?;
    let ours_url = format!("http://127.0.0.1:{port}/site/{SITE}/");

    // 2. Real logins.
    let mut logins = Vec::new();
    let mut token = None;
    let mut hand_logins = Vec::new();
    for i in 0..args.logins {
        eprintln!("xtask: login {}/{} on ours (Python MCP SDK, then by hand)", i + 1, args.logins);
        let (timings, access) = login(&kit, &sdk_python, &ours_url)?;
        logins.push(timings);
        let (timings, access_hand) = hand_login(&kit, &sdk_python, &ours_url)?;
        hand_logins.push(timings);
        token = Some(if i % 2 == 0 { access } else { access_hand });
    }
    let token = token.ok_or("no login")?;

    // Theirs in its OIDC bridge mode (its --site NAME with --rucio-cfg; DCR off, CIMD only).
    let theirs_port = crate::rucio::free_port()?;
    let metrics_port = crate::rucio::free_port()?;
    #[rustfmt::skip]
    let theirs_argv: Vec<String> = [
        theirs_bin.display().to_string().as_str(), "serve", "--transport", "http",
        "--site", SITE, "--rucio-cfg", &cfg.display().to_string(),
        "--host", "127.0.0.1", "--port", &theirs_port.to_string(),
        "--metrics-port", &metrics_port.to_string(),
        "--resource-url", &format!("http://127.0.0.1:{theirs_port}"),
        "--log-level", "warning",
    ].map(str::to_owned).to_vec();
    let mut theirs =
        Server::start("theirs", &theirs_argv, theirs_port, &logs.join("bridge-theirs.stderr.log"))?;
    let theirs_url = format!("http://127.0.0.1:{theirs_port}/site/{SITE}/");
    let theirs_bearer = jwt_shaped_bearer();

    // 3. Load.
    let mut load = Vec::new();
    for &n in &args.bridge_sessions {
        for (who, url, bearer, server) in [
            ("theirs", &theirs_url, theirs_bearer.as_str(), &mut theirs),
            ("ours", &ours_url, token.as_str(), &mut ours),
        ] {
            eprintln!("xtask: {n:>4} sessions     rucio_token_info → {who}");
            #[rustfmt::skip]
            let argv: Vec<String> = [
                "mcp", "--url", url.as_str(), "--sessions", &n.to_string(), "--method", "tools/call",
                "--params", TOKEN_INFO, "--setup-timeout", &SETUP_TIMEOUT.to_string(),
                "--duration", &args.bridge_duration.to_string(),
                "--warmup", &args.bridge_warmup.to_string(),
                "--max-warmup", &MAX_WARMUP.to_string(), "--timeout", &REQUEST_TIMEOUT.to_string(),
                "--watch", &format!("server={}", server.pid()),
            ].map(str::to_owned).to_vec();
            let bound = Duration::from_secs_f64(
                SETUP_TIMEOUT + MAX_WARMUP + args.bridge_duration + 2.0 * REQUEST_TIMEOUT + 30.0,
            );
            let result = if server.alive() {
                loadgen.run(&argv, bound, Some(bearer)).unwrap_or_else(|e| json!({"error": e}))
            } else {
                json!({"error": "the server exited earlier"})
            };
            load.push(json!({"server": who, "sessions": n, "result": result}));
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    theirs.stop();
    ours.stop();

    let results = json!({
        "suite": "bridge",
        "theirs_version": THEIRS_VERSION,
        "rucio_version": kit.get("RUCIO_VERSION").unwrap_or_default(),
        "machine": {
            "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "loadavg_at_end": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
        },
        "config": {
            "duration_s": args.bridge_duration,
            "warmup_s": args.bridge_warmup,
            "sessions": args.bridge_sessions,
            "logins": args.logins,
        },
        "micro": micro,
        "logins": logins,
        "hand_logins": hand_logins,
        "load": load,
    });
    let (table, targets) = render(&results, args);
    super::common::publish(results, &table, targets, &out.join("bridge.json"))
}

/// The criterion bench of the token check; its median estimate, in nanoseconds.
fn micro() -> Result<Value, String> {
    eprintln!("xtask: cargo bench -p mcp-oauth-bridge --bench token");
    run_cmd(
        Command::new(cargo())
            .args(["bench", "-p", "mcp-oauth-bridge", "--bench", "token"])
            // Criterion's report to stderr: stdout is the table.
            .stdout(std::io::stderr())
            .current_dir(root()),
    )?;
    let path = target_dir().join("criterion/access_token/open_and_verify/new/estimates.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let estimates: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(json!({
        "median_ns": estimates.pointer("/median/point_estimate"),
        "median_ci_ns": [
            estimates.pointer("/median/confidence_interval/lower_bound"),
            estimates.pointer("/median/confidence_interval/upper_bound"),
        ],
        "mean_ns": estimates.pointer("/mean/point_estimate"),
    }))
}

/// The login flow as a bare client does it (`Hand::sign_in` of the e2e tests), timed from the
/// `GET /authorize` to the first tool result: registration first (not timed), then authorize →
/// consent (allow, with the CSRF cookie) → waiting page → the IdP's form (`browser_login.py`) →
/// `?wait=1` → code → `/token` with PKCE → initialize → `tools/call rucio_whoami`. One Python
/// process (`httpx2` of the SDK venv), one keep-alive connection: what is left is the server.
const HAND_LOGIN: &str = r#"
import base64, hashlib, html, json, os, re, secrets, subprocess, sys, time
from urllib.parse import parse_qs, urljoin, urlsplit
import httpx2

url = sys.argv[1]
issuer = url.rstrip("/")
redirect = "http://127.0.0.1:33418/callback"

def ok(cond, msg):
    if not cond:
        sys.exit(f"hand login: {msg}")

web = httpx2.Client(follow_redirects=False, timeout=60)
r = web.post(issuer + "/register", json={"redirect_uris": [redirect], "client_name": "bench",
    "token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "refresh_token"],
    "response_types": ["code"]})
ok(r.status_code == 201, f"register: HTTP {r.status_code}")
client_id = r.json()["client_id"]
verifier = secrets.token_urlsafe(48)
challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
t0 = time.monotonic()
consent = web.get(issuer + "/authorize", params={"response_type": "code", "client_id": client_id,
    "redirect_uri": redirect, "code_challenge": challenge, "code_challenge_method": "S256", "state": "s"})
ok(consent.status_code == 200, f"consent page: HTTP {consent.status_code}")
fields = {k: html.unescape(v) for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', consent.text)}
action = urljoin(str(consent.url), re.search(r'<form method="post" action="([^"]+)"', consent.text).group(1))
answer = web.post(action, data={**fields, "decision": "allow"})
ok(answer.status_code in (302, 303), f"consent answer: HTTP {answer.status_code}")
waiting = urljoin(action, answer.headers["location"])
page = web.get(waiting)
link = re.search(r'<a class="login" href="([^"]+)"', page.text)
ok(link is not None, "no sign-in link on the waiting page")
t1 = time.monotonic()
login = subprocess.run([os.environ["KIT_PYTHON"], os.environ["BROWSER_LOGIN"], html.unescape(link.group(1)),
    os.environ.get("OIDC_LOGIN", "alice")], capture_output=True, text=True, timeout=60)
t2 = time.monotonic()
ok(login.returncode == 0, "identity provider login failed")
done = web.get(waiting + "?wait=1")
ok(done.status_code in (302, 303), f"after sign-in: HTTP {done.status_code}")
code = parse_qs(urlsplit(done.headers["location"]).query)["code"][0]
t3 = time.monotonic()
tok = web.post(issuer + "/token", data={"grant_type": "authorization_code", "code": code,
    "client_id": client_id, "redirect_uri": redirect, "code_verifier": verifier})
ok(tok.status_code == 200, f"token: HTTP {tok.status_code}")
access = tok.json()["access_token"]
t4 = time.monotonic()
h = {"Authorization": f"Bearer {access}", "Accept": "application/json, text/event-stream",
     "Content-Type": "application/json"}
init = web.post(url, headers=h, json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}})
ok(init.status_code == 200, f"initialize: HTTP {init.status_code}")
h["MCP-Protocol-Version"] = "2025-11-25"
if init.headers.get("mcp-session-id"):
    h["Mcp-Session-Id"] = init.headers["mcp-session-id"]
web.post(url, headers=h, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
call = web.post(url, headers=h, json={"jsonrpc": "2.0", "id": 2, "method": "tools/call",
    "params": {"name": "rucio_whoami", "arguments": {}}})
t5 = time.monotonic()
ok(call.status_code == 200 and '"isError":true' not in call.text
   and os.environ["EXPECT_ACCOUNT"] in call.text, f"whoami: HTTP {call.status_code}")
print("HAND " + json.dumps({"authorize_to_result": t5 - t0, "consent": t1 - t0, "idp_form": t2 - t1,
    "code": t3 - t0, "token": t4 - t3, "mcp": t5 - t4, "access_token": access}))
"#;

/// One sign-in by [`HAND_LOGIN`]: its timings (seconds) and the access token (never shown).
fn hand_login(kit: &Kit, python: &Path, url: &str) -> Result<(Value, String), String> {
    let output = Command::new(python)
        .args(["-c", HAND_LOGIN, url])
        .env("KIT_PYTHON", PathBuf::from(kit.get("RUCIO_VENV")?).join("bin/python"))
        .env("BROWSER_LOGIN", PathBuf::from(kit.get("RUCIO_BASE")?).join("lib/browser_login.py"))
        .env("OIDC_LOGIN", kit.get("OIDC_LOGIN")?)
        .env("EXPECT_ACCOUNT", kit.get("OIDC_LOGIN_ACCOUNT")?)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot start {}: {e}", python.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().find_map(|l| l.strip_prefix("HAND "));
    let (true, Some(line)) = (output.status.success(), line) else {
        return Err(format!(
            "the login by hand failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).lines().last().unwrap_or("")
        ));
    };
    let mut timings: Value = serde_json::from_str(line).map_err(|e| format!("HAND line: {e}"))?;
    let access = timings
        .as_object_mut()
        .and_then(|t| t.remove("access_token"))
        .and_then(|t| t.as_str().map(str::to_owned))
        .ok_or("no access_token in the HAND line")?;
    Ok((timings, access))
}

/// One full sign-in by the Python SDK on ours: its `TIMINGS` (seconds from its first MCP
/// request), and the access token it ends up with (never shown).
fn login(kit: &Kit, python: &Path, url: &str) -> Result<(Value, String), String> {
    let base = PathBuf::from(kit.get("RUCIO_BASE")?);
    let started = Instant::now();
    let output = Command::new(python)
        .arg(root().join("tests/e2e/clients/oauth_scenarios.py"))
        .args(["sign_in", url])
        .env("KIT_PYTHON", PathBuf::from(kit.get("RUCIO_VENV")?).join("bin/python"))
        .env("BROWSER_LOGIN", base.join("lib/browser_login.py"))
        .env("OIDC_LOGIN", kit.get("OIDC_LOGIN")?)
        .env("OIDC_LOGIN_ACCOUNT", kit.get("OIDC_LOGIN_ACCOUNT")?)
        .env("EXPECT_ACCOUNT", kit.get("OIDC_LOGIN_ACCOUNT")?)
        .env("EXPECT_SITE", SITE)
        .env("PYTHONPATH", root().join("tests/e2e/clients"))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot start {}: {e}", python.display()))?;
    let wall = started.elapsed().as_secs_f64();
    let (mut timings, access) = sign_in_output(&output)?;
    // The IdP's form: the browser_login.py subprocess, between the consent and idp marks.
    let idp = (|| Some(num(&timings, &["idp"])? - num(&timings, &["consent"])?))();
    timings["idp_form"] = json!(idp);
    timings["scenario_wall"] = json!(wall);
    Ok((timings, access))
}

/// A bearer for the Python server: it takes any bearer as the Rucio token and, for
/// `rucio_token_info`, decodes it as a JWT (unverified), so it gets one shaped like an IdP's
/// (~900 bytes, valid for an hour).
fn jwt_shaped_bearer() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let header = r#"{"alg":"RS256","kid":"3f1c0a9e-5d47-4f0b-9d8e-bench-key","typ":"JWT"}"#;
    let claims = json!({
        "iss": "https://idp.example.org/realms/experiment",
        "sub": "8d5c2e4a-1b3f-4c6d-9e8f-0a1b2c3d4e5f",
        "aud": "rucio",
        "azp": "rucio",
        "exp": now + 3600,
        "iat": now,
        "jti": "a0b1c2d3-e4f5-4061-8728-394a5b6c7d8e",
        "scope": "openid profile offline_access",
        "preferred_username": "alice",
        "email": "alice@example.org",
        "groups": ["/experiment", "/experiment/analysis"],
    });
    format!(
        "{}.{}.{}",
        b64url(header.as_bytes()),
        b64url(claims.to_string().as_bytes()),
        b64url(&[0xa5_u8; 256])
    )
}

/// Unpadded base64url (RFC 4648 §5); xtask has no base64 crate.
fn b64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The report

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
    if let (Some(w), Some(r)) = (num(result, &["sessions"]), num(result, &["sessions_ready"]))
        && r < w
    {
        parts.push(format!("{} sessions not opened", w - r));
    }
    if parts.is_empty() { "0".into() } else { parts.join(", ") }
}

/// The markdown report and the target verdicts (also for the JSON).
fn render(results: &Value, args: &BridgeArgs) -> (String, Value) {
    let mut t = String::new();
    let empty = Vec::new();
    let load = results["load"].as_array().unwrap_or(&empty);
    let cell = |who: &str, n: usize| {
        load.iter()
            .find(|c| c["server"] == who && c["sessions"].as_u64() == Some(n as u64))
            .map_or(Value::Null, |c| c["result"].clone())
    };
    let _ = writeln!(
        t,
        "## rucio-mcp OIDC bridge mode: Python {THEIRS_VERSION} vs ours (Rust)\n\n\
         `tools/call rucio_token_info` (answered from the bearer alone), closed loop, one \
         keep-alive connection per initialized session, {} s measured after {} s warm-up per cell. \
         Ours with the access token of a real login; Python with a JWT-shaped bearer (it takes any). \
         Machine: {} CPUs, load average at end {}.\n",
        args.bridge_duration,
        args.bridge_warmup,
        results["machine"]["cpus"],
        results["machine"]["loadavg_at_end"].as_str().unwrap_or("?"),
    );
    let _ = writeln!(
        t,
        "| sessions | Python req/s | Python p50 / p99 (ms) | ours req/s | ours p50 / p99 (ms) | ours ÷ Python | errors Python / ours | CPU cores: Python · ours |\n\
         |---:|---:|---:|---:|---:|---:|---|---|"
    );
    for &n in &args.bridge_sessions {
        let (th, us) = (cell("theirs", n), cell("ours", n));
        let (rt, ro) = (num(&th, &["throughput_rps"]), num(&us, &["throughput_rps"]));
        let ratio = match (ro, rt) {
            (Some(o), Some(p)) if p > 0.0 => format!("{:.1}×", o / p),
            _ => "–".into(),
        };
        let _ = writeln!(
            t,
            "| {n} | {} | {} / {} | {} | {} / {} | {ratio} | {} / {} | {} · {} |",
            rate(rt),
            ms(num(&th, &["latency_ms", "p50"])),
            ms(num(&th, &["latency_ms", "p99"])),
            rate(ro),
            ms(num(&us, &["latency_ms", "p50"])),
            ms(num(&us, &["latency_ms", "p99"])),
            errors(&th),
            errors(&us),
            num(&th, &["cpu_cores", "server"]).map_or("–".into(), |v| format!("{v:.2}")),
            num(&us, &["cpu_cores", "server"]).map_or("–".into(), |v| format!("{v:.2}")),
        );
    }

    let hand = results["hand_logins"].as_array().unwrap_or(&empty);
    let hmed = |key: &str| median(hand.iter().filter_map(|l| num(l, &[key])).collect());
    let first = hmed("authorize_to_result");
    let idp = hmed("idp_form");
    let _ = writeln!(
        t,
        "\nLogin on ours, by hand ({} sign-ins, one client process, medians): `GET /authorize` → \
         first tool result (`rucio_whoami`) **{}**, of which the IdP's form (the fixture's \
         browser_login.py subprocess) {} and the rest (our consent, waiting page, code, token, \
         initialize, tool call) {}; authorize → sign-in link {}, → code {}, `/token` {}, \
         initialize + first tool call {}. Each (IdP form): {}.",
        hand.len(),
        secs(first),
        secs(idp),
        secs(first.zip(idp).map(|(f, i)| f - i)),
        secs(hmed("consent")),
        secs(hmed("code")),
        secs(hmed("token")),
        secs(hmed("mcp")),
        hand.iter()
            .map(|l| format!(
                "{} ({})",
                secs(num(l, &["authorize_to_result"])),
                secs(num(l, &["idp_form"]))
            ))
            .collect::<Vec<_>>()
            .join(", "),
    );
    let logins = results["logins"].as_array().unwrap_or(&empty);
    let med = |key: &str| median(logins.iter().filter_map(|l| num(l, &[key])).collect());
    let _ = writeln!(
        t,
        "\nThe same with the Python MCP SDK's OAuth client (`oauth_scenarios.py sign_in`, {} \
         sign-ins, medians): its first MCP request (401, discovery, DCR, authorize …) → first tool \
         result {}; from the authorize URL: sign-in link {}, IdP form {}, code {}.\n",
        logins.len(),
        secs(med("first_result")),
        secs(med("consent")),
        secs(med("idp_form")),
        secs(med("code")),
    );
    let _ = writeln!(
        t,
        "Python {THEIRS_VERSION}'s login is not driven: its bridge registers no clients (DCR off) \
         and accepts only CIMD client ids, https URLs whose host must not resolve to a loopback or \
         private address, so no client on this machine can sign in; its poller waits a fixed 2 s \
         between polls of Rucio, a floor on its login time."
    );

    let micro_ns = num(&results["micro"], &["median_ns"]);
    if let Some(ns) = micro_ns {
        let _ = writeln!(
            t,
            "\nOpen + verify of a sealed access token carrying a ~900-byte upstream JWT (criterion \
             median): {:.2} µs.",
            ns / 1000.0
        );
    }

    let mut targets = Vec::new();
    let at64 = args.bridge_sessions.contains(&64);
    let ratio64 = (|| {
        Some(
            num(&cell("ours", 64), &["throughput_rps"])?
                / num(&cell("theirs", 64), &["throughput_rps"])?,
        )
    })();
    let p99 = num(&cell("ours", 64), &["latency_ms", "p99"]);
    targets.push(json!({
        "target": "rucio_token_info throughput of ours ≥ 30× Python's at 64 sessions",
        "figure": ratio64.map(|r| format!("{r:.1}×")),
        "pass": if at64 { ratio64.map(|r| r >= 30.0) } else { None },
    }));
    targets.push(json!({
        "target": "rucio_token_info p99 of ours < 5 ms at 64 sessions",
        "figure": p99.map(|p| format!("{p:.2} ms")),
        "pass": if at64 { p99.map(|p| p < 5.0) } else { None },
    }));
    targets.push(json!({
        "target": "full login on ours, authorize → first tool result < 0.5 s (median)",
        "figure": first.map(|f| format!("{f:.3} s (IdP form {})", secs(idp))),
        "pass": first.map(|f| f < 0.5),
    }));
    targets.push(json!({
        "target": "open + verify of an access token < 10 µs",
        "figure": micro_ns.map(|ns| format!("{:.2} µs", ns / 1000.0)),
        "pass": micro_ns.map(|ns| ns < 10_000.0),
    }));
    let _ = writeln!(t, "\nTargets:\n\n| target | figure | |\n|---|---|---|");
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

fn secs(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{v:.3} s"))
}
