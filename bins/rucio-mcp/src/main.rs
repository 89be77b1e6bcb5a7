//! `rucio-mcp`: the command line. It parses arguments and composes the library crates; the
//! substance lives in `rucio-mcp-tools` and `rucio-client`.
//!
//! stdout belongs to the MCP protocol in `serve`: logs go to stderr, and nothing else is printed
//! there. `sites` and `ping` print their answers to stdout, which is their job.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use rmcp::ServiceExt;
use rucio_client::{Environment, RucioClient};
use rucio_mcp_tools::site_config::{self, SiteConfig};
use rucio_mcp_tools::{RucioMcpServer, RucioSession, ServerOptions, ToolMetrics};

/// MCP server for Rucio data management.
///
/// Lets AI assistants (Claude, VS Code, Cursor, agents) find, inspect and manage data in a Rucio
/// instance through the Model Context Protocol, as the signed-in user.
#[derive(Debug, Parser)]
#[command(name = "rucio-mcp", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the MCP server (over stdio: put this command in your MCP client's configuration)
    Serve(ServeArgs),
    /// Check that the Rucio server of a site answers, and who you are there
    Ping(SiteArgs),
    /// List the built-in site presets, or print one preset's rucio.cfg
    Sites {
        /// Preset to print (case-insensitive); lists all presets when omitted
        name: Option<String>,
    },
}

#[derive(Debug, Args)]
struct SiteArgs {
    /// Built-in site preset (see `rucio-mcp sites`); default: $RUCIO_CONFIG if set, else escape
    #[arg(long, value_name = "NAME")]
    site: Option<String>,
    /// Your own rucio.cfg (takes precedence over --site)
    #[arg(long, value_name = "PATH")]
    rucio_cfg: Option<PathBuf>,
    /// Authentication method; default: $RUCIO_AUTH_TYPE, then the config's auth_type, then oidc.
    /// `x509` uses your certificate when client_cert is configured, else your grid proxy
    #[arg(long, value_name = "TYPE", value_parser = ["oidc", "x509", "x509_proxy", "userpass"])]
    auth_type: Option<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Transport {
    Stdio,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogLevel {
    Debug,
    Info,
    Warning,
    Error,
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    site: SiteArgs,
    /// Hide and refuse the seven tools that create, change or delete rules
    #[arg(long, env = "RUCIO_MCP_READ_ONLY")]
    read_only: bool,
    /// How MCP clients connect
    #[arg(long, value_enum, default_value = "stdio")]
    transport: Transport,
    /// Log verbosity (logs go to stderr)
    #[arg(long, value_enum, default_value = "info", env = "RUCIO_MCP_LOG_LEVEL")]
    log_level: LogLevel,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Sites { name: None } => {
            print!("{}", site_presets::listing(site_presets::all()));
            ExitCode::SUCCESS
        }
        Command::Sites { name: Some(name) } => match site_presets::find(&name) {
            Ok(preset) => {
                print!("{}", preset.rucio_cfg);
                ExitCode::SUCCESS
            }
            Err(err) => fail(&err),
        },
        Command::Serve(args) => run_async(serve(args)),
        Command::Ping(args) => run_async(ping(args)),
    }
}

fn fail(err: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("rucio-mcp: {err}");
    ExitCode::from(2)
}

fn run_async(job: impl Future<Output = Result<(), String>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the async runtime: {e}")),
    };
    match runtime.block_on(job) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn resolve(args: &SiteArgs) -> Result<SiteConfig, String> {
    let env = Environment::from_process();
    site_config::resolve(
        args.site.as_deref(),
        args.rucio_cfg.as_deref(),
        args.auth_type.as_deref(),
        &env,
    )
    .map_err(|e| e.to_string())
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let level = match args.log_level {
        LogLevel::Debug => tracing::Level::DEBUG,
        LogLevel::Info => tracing::Level::INFO,
        LogLevel::Warning => tracing::Level::WARN,
        LogLevel::Error => tracing::Level::ERROR,
    };
    // A static target filter, not EnvFilter: no regex compiled on the start-up path.
    let filter = tracing_subscriber::filter::Targets::new()
        .with_default(level)
        .with_target("rmcp", tracing::Level::WARN.min(level));
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(false))
        .with(filter)
        .init();
    let Transport::Stdio = args.transport;
    let resolved = resolve(&args.site)?;
    for warning in &resolved.warnings {
        tracing::warn!("{warning}");
    }
    tracing::info!(
        site = %resolved.site,
        config = %resolved.source,
        rucio = %resolved.config.rucio_host,
        auth_type = %resolved.config.auth_type,
        read_only = args.read_only,
        "rucio-mcp {} serving over stdio",
        env!("CARGO_PKG_VERSION")
    );
    let options = ServerOptions::for_site(&resolved.site, args.read_only);
    let server = RucioMcpServer::new(
        options,
        RucioSession::from_config(resolved.config),
        ToolMetrics::default(),
    );
    let running = server
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| format!("MCP session failed to start: {e}"))?;
    let reason =
        running.waiting().await.map_err(|e| format!("MCP session ended with an error: {e}"))?;
    tracing::info!(?reason, "MCP session ended");
    Ok(())
}

async fn ping(args: SiteArgs) -> Result<(), String> {
    let resolved = resolve(&args)?;
    let client = RucioClient::new(resolved.config).map_err(|e| e.to_string())?;
    let info = client.ping().await.map_err(|e| e.to_string())?;
    println!("{}: Rucio {} at {}", resolved.site, info.version, client.config().rucio_host);
    match client.whoami().await {
        Ok(me) => println!("signed in as {} ({})", me.account, me.account_type.unwrap_or_default()),
        Err(e) if e.is_authentication() => println!("not signed in: {e}"),
        Err(e) => return Err(e.to_string()),
    }
    Ok(())
}
