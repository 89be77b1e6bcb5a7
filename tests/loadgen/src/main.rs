//! `mcp-loadgen`: a closed-loop load generator for MCP servers over streamable HTTP, used by
//! `cargo xtask bench http`.
//!
//! - `mcp`: N sessions, each on its own keep-alive connection, `initialize` +
//!   `notifications/initialized`, then one request after the other for a fixed time; throughput,
//!   latency percentiles, errors by kind, and the CPU the watched processes used meanwhile.
//! - `get`: the same closed loop with a plain `GET`, or a `POST` of a JSON body (calibration: a
//!   trivial endpoint; the REST API behind the MCP server).
//! - `idle`: opens many sessions and leaves them idle, reading the server's RSS before, with the
//!   sessions open, and after ending them with `DELETE`.
//!
//! Each run prints one JSON object on stdout; progress goes to stderr. Every request has a
//! deadline and every phase a time bound, so a server that falls over gives error counts, not a
//! hang.
// The JSON result on stdout is this tool's output.
#![allow(clippy::print_stdout)]

mod conn;
mod rpc;
mod stats;

use std::net::{SocketAddr, ToSocketAddrs as _};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Args, Parser, Subcommand};
use http::{HeaderName, HeaderValue, Method, Request, header};
use http_body_util::Full;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use conn::{Conn, Failure, Kind};
use rpc::{Endpoint, Session};
use stats::{CpuWatch, Tally};

#[derive(Parser)]
#[command(name = "mcp-loadgen", about = "Closed-loop load generator for MCP over streamable HTTP")]
struct Cli {
    /// Tokio worker threads of the generator
    #[arg(long, global = true, default_value_t = 2)]
    threads: usize,
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Sessions sending one MCP request after the other for a fixed time
    Mcp(McpArgs),
    /// Connections sending one plain GET (or POST with --body) after the other for a fixed time
    Get(GetArgs),
    /// Many idle sessions: the server's RSS before, with them open, and after DELETE
    Idle(IdleArgs),
}

#[derive(Args)]
struct Target {
    /// The endpoint, `http://HOST:PORT/PATH` (plain HTTP only)
    #[arg(long)]
    url: String,
    /// Bearer token sent as `Authorization: Bearer …`
    #[arg(long, env = "MCP_LOADGEN_BEARER", hide_env_values = true)]
    bearer: Option<String>,
    /// Deadline of each request, in seconds
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
}

#[derive(Args)]
struct Window {
    /// Measured time, in seconds
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Time before the measured window whose requests are not counted, in seconds
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// The window opens after every session's first reply and closes after every session's next
    /// reply past --duration; each wait lasts at most this long (seconds)
    #[arg(long, default_value_t = 60.0)]
    max_warmup: f64,
    /// Processes whose CPU use to report, as LABEL=PID (repeatable)
    #[arg(long = "watch", value_name = "LABEL=PID")]
    watch: Vec<String>,
}

#[derive(Args)]
struct McpArgs {
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    window: Window,
    /// Concurrent sessions, each on its own connection
    #[arg(long, default_value_t = 1)]
    sessions: usize,
    /// The JSON-RPC method each request calls
    #[arg(long, default_value = "tools/list")]
    method: String,
    /// Its params, a JSON object (e.g. `{"name":"rucio_ping","arguments":{}}`)
    #[arg(long, default_value = "")]
    params: String,
    /// Time bound of opening all sessions, in seconds; sessions not open by then sit out
    #[arg(long, default_value_t = 120.0)]
    setup_timeout: f64,
    /// Leave the sessions open at the end instead of ending them with DELETE
    #[arg(long)]
    keep_sessions: bool,
}

#[derive(Args)]
struct GetArgs {
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    window: Window,
    /// Concurrent connections
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Extra request header `Name: value` (repeatable)
    #[arg(long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// POST this JSON body instead of a GET (a REST search)
    #[arg(long, value_name = "JSON")]
    body: Option<String>,
}

#[derive(Args)]
struct IdleArgs {
    #[command(flatten)]
    target: Target,
    /// Sessions to open and leave idle
    #[arg(long, default_value_t = 10_000)]
    sessions: usize,
    /// Connections the sessions are opened (and ended) over; sessions are not tied to one
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// The server process whose RSS to read
    #[arg(long)]
    pid: u32,
    /// Seconds to wait before each RSS reading
    #[arg(long, default_value_t = 3.0)]
    settle: f64,
    /// Time bound of opening the sessions, in seconds; those open by then are measured
    #[arg(long, default_value_t = 300.0)]
    setup_timeout: f64,
    /// Seconds to leave the sessions idle after the first reading, before a second one (servers
    /// that put idle sessions to sleep); 0: no second reading
    #[arg(long, default_value_t = 0.0)]
    idle_wait: f64,
    /// After the idle wait, this many sessions each send `ping`, to show they still work (a
    /// request every server must take to the session itself)
    #[arg(long, default_value_t = 100)]
    wake: usize,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.threads.max(1))
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mcp-loadgen: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async move {
        match cli.mode {
            Mode::Mcp(args) => run_mcp(args).await,
            Mode::Get(args) => run_get(args).await,
            Mode::Idle(args) => run_idle(args).await,
        }
    });
    match result {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mcp-loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}

fn secs(value: f64, what: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(value).map_err(|e| format!("{what}: {e}"))
}

/// The endpoint of an `http://` URL, and the address to connect to.
fn endpoint(target: &Target) -> Result<(SocketAddr, Arc<Endpoint>), String> {
    let uri: http::Uri = target.url.parse().map_err(|e| format!("--url {}: {e}", target.url))?;
    if uri.scheme_str() != Some("http") {
        return Err(format!("--url {}: only http:// is supported", target.url));
    }
    let authority = uri.authority().ok_or_else(|| format!("--url {}: no host", target.url))?;
    let port = authority.port_u16().unwrap_or(80);
    let host = authority.host().trim_start_matches('[').trim_end_matches(']');
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("--url {}: {e}", target.url))?
        .next()
        .ok_or_else(|| format!("--url {}: no address", target.url))?;
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let authorization = match &target.bearer {
        Some(token) => Some(
            HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| "the bearer token is not a valid header value".to_owned())?,
        ),
        None => None,
    };
    Ok((
        addr,
        Arc::new(Endpoint {
            uri: http::Uri::try_from(path).map_err(|e| format!("--url path: {e}"))?,
            host: HeaderValue::from_str(authority.as_str())
                .map_err(|_| "the URL's authority is not a valid Host".to_owned())?,
            authorization,
        }),
    ))
}

fn watched(window: &Window) -> Result<Vec<(String, String)>, String> {
    window
        .watch
        .iter()
        .map(|w| {
            let (label, pid) =
                w.split_once('=').ok_or_else(|| format!("--watch {w}: expected LABEL=PID"))?;
            pid.parse::<u32>().map_err(|_| format!("--watch {w}: not a PID"))?;
            Ok((label.to_owned(), pid.to_owned()))
        })
        .collect()
}

/// The timing of a closed-loop run. The measured window opens `--warmup` seconds after the loop
/// starts, and not before every worker has had its first reply; it closes `--duration` seconds
/// later, once every worker has had one more reply. A server that answers all its clients at
/// once replies in waves (each request of a wave finishes at about the same time); a fixed window
/// would count zero, one or two waves, this one spans whole waves. For a server that answers as
/// requests come, the extension is about one request's latency. `--max-warmup` bounds both
/// waits. Requests completing inside the window count.
#[derive(Debug)]
struct Clock {
    base: Instant,
    /// Microseconds from `base`; `u64::MAX` until the window opens (closes).
    start_us: AtomicU64,
    end_us: AtomicU64,
    /// Workers that have had a reply (or a failure) so far.
    replied: AtomicUsize,
    /// Set when `--duration` is over: workers report their next reply in `replied_closing`.
    closing: AtomicBool,
    replied_closing: AtomicUsize,
}

/// What one worker tells the clock after each reply.
#[derive(Debug, Default)]
struct Seen {
    had_first: bool,
    had_closing: bool,
}

impl Seen {
    fn reply(&mut self, clock: &Clock) {
        if !std::mem::replace(&mut self.had_first, true) {
            clock.replied.fetch_add(1, Ordering::AcqRel);
        }
        if clock.closing.load(Ordering::Acquire) && !std::mem::replace(&mut self.had_closing, true)
        {
            clock.replied_closing.fetch_add(1, Ordering::AcqRel);
        }
    }
}

/// What a window measured.
#[derive(Debug)]
struct WindowResult {
    cpu: Value,
    measured_s: f64,
    warmup_s: f64,
    /// Seconds the window stayed open past `--duration` for every worker's next reply.
    extended_s: f64,
    /// Every worker had replied when the window opened, and again when it closed.
    waited_for_all: bool,
}

impl Clock {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            base: Instant::now(),
            start_us: AtomicU64::new(u64::MAX),
            end_us: AtomicU64::new(u64::MAX),
            replied: AtomicUsize::new(0),
            closing: AtomicBool::new(false),
            replied_closing: AtomicUsize::new(0),
        })
    }

    fn us(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.base).as_micros()).unwrap_or(u64::MAX - 1)
    }

    /// The window has closed: workers stop sending.
    fn over(&self) -> bool {
        self.us(Instant::now()) >= self.end_us.load(Ordering::Acquire)
    }

    fn inside(&self, t: Instant) -> bool {
        let t = self.us(t);
        t >= self.start_us.load(Ordering::Acquire) && t <= self.end_us.load(Ordering::Acquire)
    }

    /// Opens the window (see the type) and waits it out, reading the watched processes' CPU time
    /// at its start and end.
    async fn run_window(
        &self,
        window: &Window,
        workers: usize,
        watched: &[(String, String)],
    ) -> Result<WindowResult, String> {
        let warmup = secs(window.warmup, "--warmup")?;
        let max_wait = secs(window.max_warmup.max(window.warmup), "--max-warmup")?;
        let duration = secs(window.duration, "--duration")?;
        tokio::time::sleep_until((self.base + warmup).into()).await;
        while self.replied.load(Ordering::Acquire) < workers && self.base.elapsed() < max_wait {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let all_first = self.replied.load(Ordering::Acquire) >= workers;
        let start = Instant::now();
        let cpu = CpuWatch::start(watched);
        self.start_us.store(self.us(start), Ordering::Release);
        tokio::time::sleep_until((start + duration).into()).await;
        self.closing.store(true, Ordering::Release);
        let nominal_end = Instant::now();
        while self.replied_closing.load(Ordering::Acquire) < workers
            && nominal_end.elapsed() < max_wait
        {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let all_closing = self.replied_closing.load(Ordering::Acquire) >= workers;
        let end = Instant::now();
        self.end_us.store(self.us(end), Ordering::Release);
        let measured_s = end.duration_since(start).as_secs_f64();
        Ok(WindowResult {
            cpu: cpu.finish(measured_s),
            measured_s,
            warmup_s: start.duration_since(self.base).as_secs_f64(),
            extended_s: end.duration_since(nominal_end).as_secs_f64(),
            waited_for_all: all_first && all_closing,
        })
    }
}

/// Per worker: the measured tally and the tally of everything outside the window.
struct LoopResult {
    window: Tally,
    outside: Tally,
    connects: u64,
    tools: Option<usize>,
    closed: Option<Result<http::StatusCode, Failure>>,
}

async fn run_mcp(args: McpArgs) -> Result<Value, String> {
    let (addr, endpoint) = endpoint(&args.target)?;
    let timeout = secs(args.target.timeout, "--timeout")?;
    let watched = watched(&args.window)?;
    if args.sessions == 0 {
        return Err("--sessions must be at least 1".into());
    }
    if !args.params.is_empty() {
        serde_json::from_str::<serde_json::Map<String, Value>>(&args.params)
            .map_err(|e| format!("--params is not a JSON object: {e}"))?;
    }

    // Open every session, each on its own connection, at once.
    let setup_started = Instant::now();
    let setup_deadline = setup_started + secs(args.setup_timeout, "--setup-timeout")?;
    let mut opening = JoinSet::new();
    for _ in 0..args.sessions {
        let endpoint = endpoint.clone();
        opening.spawn(async move {
            let mut conn = Conn::new(addr);
            let left = setup_deadline.saturating_duration_since(Instant::now());
            Session::open(&mut conn, &endpoint, timeout.min(left)).await.map(|s| (conn, s))
        });
    }
    let mut ready = Vec::with_capacity(args.sessions);
    let mut setup = Tally::default();
    while let Some(joined) = opening.join_next().await {
        match joined {
            Ok(Ok(pair)) => ready.push(pair),
            Ok(Err(failure)) => setup.fail(failure),
            Err(e) => setup.fail(Failure::new(Kind::Io, format!("task: {e}"))),
        }
    }
    let setup_seconds = setup_started.elapsed().as_secs_f64();
    eprintln!(
        "mcp-loadgen: {}/{} sessions open in {setup_seconds:.1} s; {} {} for {} s",
        ready.len(),
        args.sessions,
        args.method,
        args.params,
        args.window.duration
    );

    let clock = Clock::new();
    let method: Arc<str> = args.method.as_str().into();
    let params: Arc<str> = args.params.as_str().into();
    let mut workers = JoinSet::new();
    let sessions_ready = ready.len();
    for (mut conn, mut session) in ready {
        let (endpoint, method, params) = (endpoint.clone(), method.clone(), params.clone());
        let keep = args.keep_sessions;
        let clock = clock.clone();
        workers.spawn(async move {
            let mut window = Tally::default();
            let mut outside = Tally::default();
            let mut tools = None;
            let mut seen = Seen::default();
            while !clock.over() {
                let sent = Instant::now();
                let result = session.call(&mut conn, &endpoint, &method, &params, timeout).await;
                let done = Instant::now();
                seen.reply(&clock);
                let tally = if clock.inside(done) { &mut window } else { &mut outside };
                match result {
                    Ok((outcome, bytes)) => {
                        let us = done.duration_since(sent).as_micros();
                        tally.latencies_us.push(u32::try_from(us).unwrap_or(u32::MAX));
                        tally.bytes += bytes as u64;
                        tools = outcome.tools.or(tools);
                    }
                    Err(failure) => {
                        let pause = matches!(failure.kind, Kind::Connect | Kind::Status);
                        tally.fail(failure);
                        if pause {
                            // Do not spin on a server that refuses: a refusal costs it nothing.
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                }
            }
            let closed =
                if keep { None } else { Some(session.close(&mut conn, &endpoint, timeout).await) };
            LoopResult { window, outside, connects: conn.connects, tools, closed }
        });
    }
    let timing = clock.run_window(&args.window, sessions_ready, &watched).await?;
    let mut total = Tally::default();
    let mut outside = Tally::default();
    let (mut connects, mut tools, mut deleted, mut delete_other) = (0, None, 0u64, Vec::new());
    while let Some(joined) = workers.join_next().await {
        let Ok(result) = joined else { continue };
        total.merge(result.window);
        outside.merge(result.outside);
        connects += result.connects;
        tools = result.tools.or(tools);
        match result.closed {
            Some(Ok(status)) if status.is_success() => deleted += 1,
            Some(Ok(status)) => delete_other.push(status.as_u16().to_string()),
            Some(Err(failure)) => delete_other.push(failure.kind.name().to_owned()),
            None => {}
        }
    }
    delete_other.sort();
    delete_other.dedup();
    let completed = total.latencies_us.len();
    let mut report = window_report(&timing, &mut total, &outside, connects);
    merge(
        &mut report,
        json!({
            "mode": "mcp",
            "url": args.target.url,
            "method": args.method,
            "params": args.params,
            "sessions": args.sessions,
            "sessions_ready": sessions_ready,
            "setup_seconds": setup_seconds,
            "setup_errors": setup.errors_json(),
            "mean_response_bytes": if completed > 0 { total.bytes as f64 / completed as f64 } else { 0.0 },
            "tools_listed": tools,
            "sessions_deleted": deleted,
            "delete_failures": delete_other,
        }),
    );
    Ok(report)
}

async fn run_get(args: GetArgs) -> Result<Value, String> {
    let (addr, endpoint) = endpoint(&args.target)?;
    let timeout = secs(args.target.timeout, "--timeout")?;
    let watched = watched(&args.window)?;
    if args.concurrency == 0 {
        return Err("--concurrency must be at least 1".into());
    }
    let mut extra = Vec::new();
    for h in &args.headers {
        let (name, value) =
            h.split_once(':').ok_or_else(|| format!("--header {h}: expected `Name: value`"))?;
        let name = HeaderName::try_from(name.trim()).map_err(|e| format!("--header {h}: {e}"))?;
        let value =
            HeaderValue::from_str(value.trim()).map_err(|e| format!("--header {h}: {e}"))?;
        extra.push((name, value));
    }
    let extra = Arc::new(extra);
    let body = match &args.body {
        Some(text) => {
            serde_json::from_str::<Value>(text).map_err(|e| format!("--body is not JSON: {e}"))?;
            Some(Bytes::from(text.clone()))
        }
        None => None,
    };
    let clock = Clock::new();
    let mut workers = JoinSet::new();
    for _ in 0..args.concurrency {
        let (endpoint, extra, clock) = (endpoint.clone(), extra.clone(), clock.clone());
        let body = body.clone();
        workers.spawn(async move {
            let make = || {
                let mut request = Request::new(Full::new(body.clone().unwrap_or_default()));
                *request.method_mut() = if body.is_some() { Method::POST } else { Method::GET };
                *request.uri_mut() = endpoint.uri.clone();
                let headers = request.headers_mut();
                if body.is_some() {
                    headers
                        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                }
                headers.insert(header::HOST, endpoint.host.clone());
                if let Some(auth) = &endpoint.authorization {
                    headers.insert(header::AUTHORIZATION, auth.clone());
                }
                for (name, value) in extra.iter() {
                    headers.insert(name.clone(), value.clone());
                }
                request
            };
            let mut conn = Conn::new(addr);
            let mut window = Tally::default();
            let mut outside = Tally::default();
            let mut seen = Seen::default();
            while !clock.over() {
                let sent = Instant::now();
                let result = conn.send(&make, timeout).await;
                let done = Instant::now();
                seen.reply(&clock);
                let tally = if clock.inside(done) { &mut window } else { &mut outside };
                match result {
                    Ok(reply) if reply.status.is_success() => {
                        let us = done.duration_since(sent).as_micros();
                        tally.latencies_us.push(u32::try_from(us).unwrap_or(u32::MAX));
                        tally.bytes += reply.body.len() as u64;
                    }
                    Ok(reply) => {
                        tally.fail(Failure::new(Kind::Status, format!("HTTP {}", reply.status)));
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    Err(failure) => {
                        let pause = failure.kind == Kind::Connect;
                        tally.fail(failure);
                        if pause {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                }
            }
            LoopResult { window, outside, connects: conn.connects, tools: None, closed: None }
        });
    }
    let timing = clock.run_window(&args.window, args.concurrency, &watched).await?;
    let mut total = Tally::default();
    let mut outside = Tally::default();
    let mut connects = 0;
    while let Some(joined) = workers.join_next().await {
        let Ok(result) = joined else { continue };
        total.merge(result.window);
        outside.merge(result.outside);
        connects += result.connects;
    }
    let mut report = window_report(&timing, &mut total, &outside, connects);
    merge(
        &mut report,
        json!({
            "mode": "get",
            "url": args.target.url,
            "concurrency": args.concurrency,
        }),
    );
    Ok(report)
}

/// What every closed-loop mode reports about its measuring window.
fn window_report(
    timing: &WindowResult,
    total: &mut Tally,
    outside: &Tally,
    connects: u64,
) -> Value {
    let completed = total.latencies_us.len();
    json!({
        "duration_s": timing.measured_s,
        "warmup_s": timing.warmup_s,
        "window_extended_s": timing.extended_s,
        "window_waited_for_all": timing.waited_for_all,
        "completed": completed,
        "throughput_rps": completed as f64 / timing.measured_s,
        "latency_ms": total.latency_json(),
        "errors": total.errors_json(),
        "error_count": total.error_count(),
        "errors_outside_window": outside.error_count(),
        "connections_opened": connects,
        "cpu_cores": timing.cpu,
    })
}

/// Adds the members of `extra` to the object `report`.
fn merge(report: &mut Value, extra: Value) {
    if let (Some(report), Value::Object(extra)) = (report.as_object_mut(), extra) {
        report.extend(extra);
    }
}

/// The process's RSS in MB once a second until `stop`.
async fn sample_rss(pid: String, mut stop: tokio::sync::oneshot::Receiver<()>) -> Vec<f64> {
    let mut samples = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => {}
        }
        if let Some(mb) = stats::status_mb(&pid, "VmRSS") {
            samples.push(mb);
        }
    }
    if let Some(mb) = stats::status_mb(&pid, "VmRSS") {
        samples.push(mb);
    }
    samples
}

fn rss(pid: &str) -> Value {
    json!(stats::status_mb(pid, "VmRSS"))
}

async fn run_idle(args: IdleArgs) -> Result<Value, String> {
    let (addr, endpoint) = endpoint(&args.target)?;
    let timeout = secs(args.target.timeout, "--timeout")?;
    let settle = secs(args.settle, "--settle")?;
    let pid = args.pid.to_string();
    if stats::status_mb(&pid, "VmRSS").is_none() {
        return Err(format!("cannot read the RSS of process {pid}"));
    }
    let connections = args.connections.clamp(1, args.sessions.max(1));
    let rss_before = rss(&pid);
    let cpu_before = stats::cpu_seconds(&pid);
    // RSS every second from the first session on, until the DELETEs: the peak is what a burst of
    // new sessions costs at its worst moment, not only once they have settled.
    let (sampling, stop_sampling) = tokio::sync::oneshot::channel::<()>();
    let sampler = tokio::spawn(sample_rss(pid.clone(), stop_sampling));

    // Open the sessions over `connections` connections, until all are open or time is up.
    let started = Instant::now();
    let deadline = started + secs(args.setup_timeout, "--setup-timeout")?;
    let next = Arc::new(AtomicUsize::new(0));
    let mut openers = JoinSet::new();
    for _ in 0..connections {
        let (endpoint, next, wanted) = (endpoint.clone(), next.clone(), args.sessions);
        openers.spawn(async move {
            let mut conn = Conn::new(addr);
            let mut opened = Vec::new();
            let mut tally = Tally::default();
            let mut timed_out = false;
            while next.fetch_add(1, Ordering::Relaxed) < wanted {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    timed_out = true;
                    break;
                }
                let sent = Instant::now();
                match Session::open(&mut conn, &endpoint, timeout.min(left)).await {
                    Ok(session) => {
                        let us = sent.elapsed().as_micros();
                        tally.latencies_us.push(u32::try_from(us).unwrap_or(u32::MAX));
                        opened.push(session);
                    }
                    Err(failure) => {
                        if failure.kind == Kind::Connect {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                        tally.fail(failure);
                    }
                }
            }
            (opened, tally, timed_out, conn)
        });
    }
    let mut sessions = Vec::with_capacity(args.sessions);
    let mut open_tally = Tally::default();
    let mut timed_out = false;
    let mut conns = Vec::new();
    while let Some(joined) = openers.join_next().await {
        let Ok((opened, tally, late, conn)) = joined else { continue };
        sessions.extend(opened);
        open_tally.merge(tally);
        timed_out |= late;
        conns.push(conn);
    }
    let open_seconds = started.elapsed().as_secs_f64();
    let server_cpu_open = cpu_before.zip(stats::cpu_seconds(&pid)).map(|(a, b)| b - a);
    eprintln!(
        "mcp-loadgen: {}/{} idle sessions open in {open_seconds:.1} s{}",
        sessions.len(),
        args.sessions,
        if timed_out { " (time bound reached)" } else { "" }
    );
    tokio::time::sleep(settle).await;
    let rss_open = rss(&pid);
    let alive = stats::status_mb(&pid, "VmRSS").is_some();

    // Left idle for longer, then a few of them woken: they must still answer.
    let idle_wait = secs(args.idle_wait, "--idle-wait")?;
    let (mut rss_idle, mut woken, mut wake_tally) = (Value::Null, 0u64, Tally::default());
    if !idle_wait.is_zero() {
        tokio::time::sleep(idle_wait).await;
        rss_idle = rss(&pid);
        if let Some(conn) = conns.first_mut() {
            let step = (sessions.len() / args.wake.max(1)).max(1);
            for session in sessions.iter_mut().step_by(step).take(args.wake) {
                let sent = Instant::now();
                match session.call(conn, &endpoint, "ping", "", timeout).await {
                    Ok(_) => {
                        woken += 1;
                        let us = sent.elapsed().as_micros();
                        wake_tally.latencies_us.push(u32::try_from(us).unwrap_or(u32::MAX));
                    }
                    Err(failure) => wake_tally.fail(failure),
                }
            }
        }
        eprintln!("mcp-loadgen: after {:.0} s idle, {woken} sessions answered", args.idle_wait);
    }

    let _ = sampling.send(());
    let samples = sampler.await.unwrap_or_default();
    let peak =
        samples.iter().copied().fold(None, |max: Option<f64>, v| Some(max.map_or(v, |m| m.max(v))));

    // End them all with DELETE, over the same connections.
    let started_delete = Instant::now();
    let opened = sessions.len();
    let mut probe = sessions.first().cloned();
    let per_conn = opened.div_ceil(conns.len().max(1)).max(1);
    let mut deleters = JoinSet::new();
    let mut chunks = Vec::new();
    while !sessions.is_empty() {
        let rest = sessions.split_off(per_conn.min(sessions.len()));
        chunks.push(std::mem::replace(&mut sessions, rest));
    }
    for (chunk, mut conn) in chunks.into_iter().zip(conns) {
        let endpoint = endpoint.clone();
        deleters.spawn(async move {
            let mut tally = Tally::default();
            let mut deleted = 0u64;
            for session in chunk {
                match session.close(&mut conn, &endpoint, timeout).await {
                    Ok(status) if status.is_success() => deleted += 1,
                    Ok(status) => tally.fail(Failure::new(Kind::Status, format!("HTTP {status}"))),
                    Err(failure) => tally.fail(failure),
                }
            }
            (deleted, tally)
        });
    }
    let mut deleted = 0;
    let mut delete_tally = Tally::default();
    while let Some(joined) = deleters.join_next().await {
        let Ok((n, tally)) = joined else { continue };
        deleted += n;
        delete_tally.merge(tally);
    }
    let delete_seconds = started_delete.elapsed().as_secs_f64();
    // A request in a deleted session: the server should no longer know it (404).
    let probe_status = match probe.as_mut() {
        Some(session) => {
            let mut conn = Conn::new(addr);
            match session.probe_status(&mut conn, &endpoint, timeout).await {
                Ok(status) => json!(status.as_u16()),
                Err(failure) => json!(failure.kind.name()),
            }
        }
        None => Value::Null,
    };
    tokio::time::sleep(settle).await;
    let rss_deleted = rss(&pid);
    tokio::time::sleep(settle * 3).await;
    let rss_deleted_late = rss(&pid);
    let open_latency = open_tally.latency_json();
    Ok(json!({
        "mode": "idle",
        "url": args.target.url,
        "pid": args.pid,
        "sessions_wanted": args.sessions,
        "sessions_opened": opened,
        "connections": connections,
        "open_seconds": open_seconds,
        "open_timed_out": timed_out,
        "open_rate_per_s": opened as f64 / open_seconds.max(1e-9),
        "open_latency_ms": open_latency,
        "open_errors": open_tally.errors_json(),
        "server_cpu_seconds_opening": server_cpu_open,
        "server_alive_with_sessions": alive,
        "idle_wait_s": args.idle_wait,
        "woken": woken,
        "wake_latency_ms": wake_tally.latency_json(),
        "wake_errors": wake_tally.errors_json(),
        "sessions_deleted": deleted,
        "delete_seconds": delete_seconds,
        "delete_errors": delete_tally.errors_json(),
        "deleted_session_probe_status": probe_status,
        "settle_s": args.settle,
        "rss_mb": {
            "idle": rss_before,
            "with_sessions": rss_open,
            "with_sessions_after_idle_wait": rss_idle,
            "after_delete": rss_deleted,
            "after_delete_late": rss_deleted_late,
            "peak_sampled_with_sessions": peak,
        },
        "rss_mb_every_second": samples,
        "vm_hwm_mb": stats::status_mb(&pid, "VmHWM"),
    }))
}
