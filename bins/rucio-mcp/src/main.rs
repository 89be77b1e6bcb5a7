//! `rucio-mcp`: the command line. It parses arguments and composes the library crates; the
//! substance lives in `rucio-mcp-tools`, `rucio-mcp-hosting` and `rucio-client`.
//!
//! stdout belongs to the MCP protocol in `serve`: logs go to stderr, and nothing else is printed
//! there. `sites` and `ping` print their answers to stdout, which is their job.
#![allow(clippy::print_stdout)]

mod cli;

use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, ValueEnum};
use mcp_oauth_bridge::KeySet;
use rucio_client::{Environment, RucioClient};
use rucio_mcp_hosting::BridgeSettings;
use rucio_mcp_tools::site_config::{self, SiteConfig};
use rucio_mcp_tools::{RucioMcpServer, RucioSession, ServerOptions, ToolMetrics};

use crate::cli::{Cli, Command, RucioKeys, ServeArgs, SiteArgs};
use mcp_cli::Transport;
use mcp_cli::config_file::{self, ConfigCommand};
use mcp_cli::http::AuthMode;

/// jemalloc, with its background threads, returns freed memory to the system within seconds;
/// glibc's malloc kept the memory of ended MCP sessions for the life of the process.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let command = mcp_cli::http::with_env_prefix(Cli::command(), "RUCIO_MCP_");
    let command = match config_file::for_args::<RucioKeys>(command, &args, "RUCIO_MCP_CONFIG") {
        Ok(command) => command,
        Err(e) => return fail(&e),
    };
    let matches = command.get_matches_from(args);
    let mut cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    if let (Command::Serve(args), Some(("serve", serve))) = (&mut cli.command, matches.subcommand())
    {
        args.http.secret_on_command_line =
            serve.value_source("shared_secret") == Some(clap::parser::ValueSource::CommandLine);
        args.http.env_prefix = "RUCIO_MCP_";
        args.http.bridge.env_prefix = "RUCIO_MCP_";
    }
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
        Command::TokenKey => match KeySet::generate_text() {
            Ok(key) => {
                println!("{key}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
        Command::Serve(args) => run_async(serve(*args)),
        Command::Config(ConfigCommand::Check { file }) => match check(&file) {
            Ok(summary) => {
                println!("{}: {summary}", file.display());
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
        Command::Config(ConfigCommand::Show { file }) => {
            let command = mcp_cli::http::with_env_prefix(Cli::command(), "RUCIO_MCP_");
            match config_file::serve_under::<RucioKeys>(command, &file) {
                Ok((serve, matches, ids)) => {
                    print!("{}", config_file::show(&serve, &matches, &ids));
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e),
            }
        }
        Command::Ping(args) => run_async(ping(args)),
    }
}

fn fail(err: &dyn std::fmt::Display) -> ExitCode {
    mcp_cli::fail("rucio-mcp", err)
}

fn run_async(job: impl Future<Output = Result<(), String>>) -> ExitCode {
    mcp_cli::run_async("rucio-mcp", job)
}

/// The sites of a server for many users (OIDC bridge and resource-server modes).
fn resolve_sites(args: &SiteArgs) -> Result<Vec<SiteConfig>, String> {
    let env = Environment::from_process();
    site_config::resolve_many(
        &args.site,
        args.rucio_cfg.as_deref(),
        args.auth_type.as_deref(),
        &env,
    )
    .map_err(|e| e.to_string())
}

/// The one site of a single-identity server (stdio, shared-secret mode).
fn resolve(args: &SiteArgs) -> Result<SiteConfig, String> {
    let env = Environment::from_process();
    site_config::resolve_one(&args.site, args.rucio_cfg.as_deref(), args.auth_type.as_deref(), &env)
        .map_err(|e| e.to_string())
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    mcp_cli::init_logging(args.log_level, args.log_format);
    if args.transport == Transport::Stdio {
        let given = args.http.given();
        if !given.is_empty() {
            return Err(format!(
                "{} only apply to --transport http (this is stdio: the MCP client starts the server itself)",
                given.join(", ")
            ));
        }
    }
    let version = env!("CARGO_PKG_VERSION");
    if args.forward_user_token
        && (args.transport == Transport::Stdio || args.http.mode()? != AuthMode::ResourceServer)
    {
        return Err("--forward-user-token is only for --auth resource-server".into());
    }
    if args.transport == Transport::Http {
        match args.http.mode()? {
            AuthMode::Bridge => return serve_bridge(&args).await,
            AuthMode::ResourceServer => return serve_resource_server(&args).await,
            AuthMode::SharedSecret => {}
        }
    }
    let resolved = resolve(&args.site)?;
    for warning in &resolved.warnings {
        tracing::warn!("{warning}");
    }
    let options = ServerOptions::for_site(&resolved.site, args.read_only);
    let metrics = ToolMetrics::new("rucio_mcp");
    let site = resolved.site.clone();
    tracing::info!(
        site = %site,
        config = %resolved.source,
        rucio = %resolved.config.rucio_host,
        auth_type = %resolved.config.auth_type,
        read_only = args.read_only,
        transport = ?args.transport,
        "rucio-mcp {version}"
    );
    let server =
        RucioMcpServer::new(options, RucioSession::from_config(resolved.config), metrics.clone());
    if args.transport == Transport::Stdio {
        let reason = mcp_transports::serve_stdio(server).await.map_err(|e| e.to_string())?;
        tracing::info!(?reason, "MCP session ended");
        return Ok(());
    }
    let http = &args.http;
    let Some(secret) = http.shared_secret()? else {
        return Err("shared-secret mode needs a secret".into());
    };
    rucio_mcp_hosting::serve_shared_secret(http.options()?, version, &site, server, secret, metrics)
        .await
        .map_err(|e| e.to_string())
}

/// OIDC bridge mode: every user signs in through the OAuth bridge with Rucio's OIDC login, and
/// every call runs as that user.
async fn serve_bridge(args: &ServeArgs) -> Result<(), String> {
    let http = &args.http;
    let Some(resource_url) = http.resource_url.clone() else {
        return Err("OIDC bridge mode (--transport http without --shared-secret) needs --resource-url: \
                    the public URL clients reach this server at (e.g. https://mcp.example.org/); tokens are bound to it"
            .into());
    };
    let sites = resolve_sites(&args.site)?;
    let bridge = &http.bridge;
    let settings = BridgeSettings {
        resource_url,
        keys: bridge.keys()?,
        redis_url: bridge.redis_url.clone(),
        allow_loopback_cimd: bridge.allow_loopback_cimd,
        static_clients: bridge.static_clients()?,
        login_timeout: Duration::from_secs(bridge.poll_timeout.unwrap_or(300).max(10)),
        read_only: args.read_only,
    };
    rucio_mcp_hosting::serve_bridge(http.options()?, env!("CARGO_PKG_VERSION"), settings, sites)
        .await
        .map_err(|e| e.to_string())
}

/// Resource-server mode: every user comes with a token of the configured authorization server;
/// calls run as that user at Rucio (`--forward-user-token`) or as this server's own identity.
async fn serve_resource_server(args: &ServeArgs) -> Result<(), String> {
    let http = &args.http;
    let settings = http.resource_server.settings()?;
    let sites = resolve_sites(&args.site)?;
    rucio_mcp_hosting::serve_resource_server(
        http.options()?,
        env!("CARGO_PKG_VERSION"),
        &settings,
        sites,
        args.forward_user_token,
        args.read_only,
    )
    .await
    .map_err(|e| e.to_string())
}

/// `config check FILE`: `serve --config FILE` prepared up to the point of serving (settings,
/// the files they name, the sites' configurations), and what it would serve.
fn check(file: &std::path::Path) -> Result<String, String> {
    let command = mcp_cli::http::with_env_prefix(Cli::command(), "RUCIO_MCP_");
    let (_, matches, _) = config_file::serve_under::<RucioKeys>(command, file)?;
    let mut args = ServeArgs::from_arg_matches(&matches).map_err(|e| e.to_string())?;
    args.http.env_prefix = "RUCIO_MCP_";
    args.http.bridge.env_prefix = "RUCIO_MCP_";
    if args.transport == Transport::Stdio {
        let given = args.http.given();
        if !given.is_empty() {
            return Err(format!("{} only apply to transport = \"http\"", given.join(", ")));
        }
        let site = resolve(&args.site)?;
        return Ok(format!("stdio, site {} ({})", site.site, site.config.rucio_host));
    }
    let http = &args.http;
    let mode = http.mode()?;
    http.options()?;
    let sites: Vec<String> = match mode {
        AuthMode::SharedSecret => {
            http.shared_secret()?;
            vec![resolve(&args.site)?.site]
        }
        AuthMode::Bridge => {
            if http.resource_url.is_none() {
                return Err("OIDC bridge mode needs resource_url".into());
            }
            http.bridge.keys()?;
            http.bridge.static_clients()?;
            resolve_sites(&args.site)?.into_iter().map(|s| s.site).collect()
        }
        AuthMode::ResourceServer => {
            if http.resource_url.is_none() {
                return Err("resource-server mode needs resource_url".into());
            }
            http.resource_server.settings()?;
            resolve_sites(&args.site)?.into_iter().map(|s| s.site).collect()
        }
    };
    let mode = mode.to_possible_value().map(|v| v.get_name().to_owned()).unwrap_or_default();
    Ok(format!("http, {mode} mode, sites {}", sites.join(", ")))
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
