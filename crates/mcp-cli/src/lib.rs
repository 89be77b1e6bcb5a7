//! What the command lines of `rucio-mcp` and `dirac-mcp` share: the values of their common
//! flags (transport, log level and format), log set-up on stderr, the async runtime, and how a
//! failure ends the process.
//!
//! Most flags stay in each binary, because their environment variables carry the binary's prefix
//! (`RUCIO_MCP_LOG_LEVEL`, `DIRAC_MCP_LOG_LEVEL`); the many flags of `--transport http` live here
//! once (feature `http`), renamed per binary by [`http::with_env_prefix`]. Without that feature
//! this crate depends on no other crate of the workspace; with it, on `mcp-transports` and
//! `mcp-oauth-bridge` for the settings the flags give.

#[cfg(feature = "http")]
pub mod config_file;
#[cfg(feature = "http")]
pub mod http;

use std::fmt::Display;
use std::process::ExitCode;

use clap::ValueEnum;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
#[cfg_attr(
    feature = "http",
    derive(serde::Deserialize, serde::Serialize),
    serde(rename_all = "kebab-case")
)]
pub enum Transport {
    /// One user: the MCP client starts this process and talks over stdin/stdout
    Stdio,
    /// A hosted server: MCP streamable HTTP
    Http,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
#[cfg_attr(
    feature = "http",
    derive(serde::Deserialize, serde::Serialize),
    serde(rename_all = "kebab-case")
)]
pub enum LogLevel {
    Debug,
    Info,
    Warning,
    Error,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
#[cfg_attr(
    feature = "http",
    derive(serde::Deserialize, serde::Serialize),
    serde(rename_all = "kebab-case")
)]
pub enum LogFormat {
    Text,
    Json,
}

/// Logs to stderr (stdout belongs to the MCP protocol in stdio mode), rmcp's own at warnings
/// unless debugging.
pub fn init_logging(level: LogLevel, format: LogFormat) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let level = tracing_level(level);
    // A static target filter, not EnvFilter: no regex compiled on the start-up path.
    let filter = tracing_subscriber::filter::Targets::new()
        .with_default(level)
        .with_target("rmcp", tracing::Level::WARN.min(level));
    let lines = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(false);
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Text => registry.with(lines).init(),
        LogFormat::Json => registry.with(lines.json()).init(),
    }
}

/// Logs to stderr like [`init_logging`], but only `crates` (the program's own) at `level`; the
/// libraries under them say warnings and errors only, even when debugging.
pub fn init_logging_of(level: LogLevel, crates: &[&str]) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let level = tracing_level(level);
    let filter = crates.iter().fold(
        tracing_subscriber::filter::Targets::new().with_default(tracing::Level::WARN.min(level)),
        |filter, name| filter.with_target(*name, level),
    );
    let lines = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(false);
    tracing_subscriber::registry().with(filter).with(lines).init();
}

fn tracing_level(level: LogLevel) -> tracing::Level {
    match level {
        LogLevel::Debug => tracing::Level::DEBUG,
        LogLevel::Info => tracing::Level::INFO,
        LogLevel::Warning => tracing::Level::WARN,
        LogLevel::Error => tracing::Level::ERROR,
    }
}

/// Ends a command with a message on stderr, `PROGRAM: ...`, and exit code 2.
pub fn fail(program: &str, err: &dyn Display) -> ExitCode {
    #[allow(clippy::print_stderr)]
    {
        eprintln!("{program}: {err}");
    }
    ExitCode::from(2)
}

/// Runs a command's async body on a multi-threaded runtime.
pub fn run_async(program: &str, job: impl Future<Output = Result<(), String>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(program, &format!("cannot start the async runtime: {e}")),
    };
    match runtime.block_on(job) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(program, &e),
    }
}
