//! `rucio-mcp`: the command line. It parses arguments and composes the library crates; the
//! substance lives in `rucio-mcp-tools` and `rucio-client`.
//!
//! stdout belongs to the MCP protocol in `serve`: logs go to stderr, and nothing else is printed
//! there. `sites` and `ping` print their answers to stdout, which is their job.
#![allow(clippy::print_stdout)]

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use mcp_oauth_bridge::{
    Bridge, BridgeConfig, BridgeMetrics, BridgeShared, KeySet, MemoryStore, MetadataFetcher,
    RedisStore, StaticClient, Store,
};
use mcp_transports::auth::SharedSecret;
use mcp_transports::{HttpOptions, HttpServer, Site, SiteAccess};
use rucio_client::{Environment, RucioClient};
use rucio_mcp_tools::bridge::{RucioUpstream, UserClients};
use rucio_mcp_tools::site_config::{self, SiteConfig};
use rucio_mcp_tools::{RucioMcpServer, RucioSession, ServerOptions, ToolMetrics};
use secrecy::SecretString;

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
    /// Run the MCP server: over stdio (put this command in your MCP client's configuration), or
    /// over HTTP for many users, each signing in with their own identity (--transport http
    /// --resource-url …), or for one robot identity (--transport http --shared-secret …)
    Serve(Box<ServeArgs>),
    /// Check that the Rucio server of a site answers, and who you are there
    Ping(SiteArgs),
    /// Print a new random key for the OAuth bridge's tokens (for --token-key-file)
    TokenKey,
    /// List the built-in site presets, or print one preset's rucio.cfg
    Sites {
        /// Preset to print (case-insensitive); lists all presets when omitted
        name: Option<String>,
    },
}

#[derive(Debug, Args)]
struct SiteArgs {
    /// Built-in site preset (see `rucio-mcp sites`); default: $RUCIO_CONFIG if set, else escape.
    /// With --rucio-cfg, the name the site is served under. In OIDC bridge mode repeatable, and
    /// `NAME=PATH` serves the rucio.cfg at PATH as site NAME
    #[arg(long, value_name = "NAME", action = clap::ArgAction::Append)]
    site: Vec<String>,
    /// Your own rucio.cfg (takes precedence over --site)
    #[arg(long, value_name = "PATH")]
    rucio_cfg: Option<PathBuf>,
    /// Authentication method; default: $RUCIO_AUTH_TYPE, then the config's auth_type, then oidc.
    /// `x509` uses your certificate when client_cert is configured, else your grid proxy
    #[arg(long, value_name = "TYPE", value_parser = ["oidc", "x509", "x509_proxy", "userpass"])]
    auth_type: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Transport {
    /// One user: the MCP client starts this process and talks over stdin/stdout
    Stdio,
    /// A hosted server: MCP streamable HTTP under /site/{name}/
    Http,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogLevel {
    Debug,
    Info,
    Warning,
    Error,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    site: SiteArgs,
    /// Hide and refuse the seven tools that create, change or delete rules
    #[arg(long, env = "RUCIO_MCP_READ_ONLY")]
    read_only: bool,
    /// How MCP clients connect
    #[arg(long, value_enum, default_value = "stdio", env = "RUCIO_MCP_TRANSPORT")]
    transport: Transport,
    /// Log verbosity (logs go to stderr)
    #[arg(long, value_enum, default_value = "info", env = "RUCIO_MCP_LOG_LEVEL")]
    log_level: LogLevel,
    /// Log line format
    #[arg(long, value_enum, default_value = "text", env = "RUCIO_MCP_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(flatten)]
    http: HttpArgs,
}

/// Options of `--transport http`.
#[derive(Debug, Args)]
#[command(next_help_heading = "HTTP transport")]
struct HttpArgs {
    /// Shared-secret mode: every request must carry `Authorization: Bearer SECRET`, and all act as
    /// this server's own Rucio identity (from --rucio-cfg / --site and the environment, as in stdio)
    #[arg(long, value_name = "SECRET", env = "RUCIO_MCP_SHARED_SECRET", hide_env_values = true)]
    shared_secret: Option<String>,
    /// The shared secret read from a file (e.g. a mounted Kubernetes secret), kept out of the
    /// process list
    #[arg(
        long,
        value_name = "PATH",
        env = "RUCIO_MCP_SHARED_SECRET_FILE",
        conflicts_with = "shared_secret"
    )]
    shared_secret_file: Option<PathBuf>,
    /// Whether the secret came on the command line, where other local users can read it.
    #[arg(skip)]
    secret_on_command_line: bool,
    /// Address to listen on [default: 127.0.0.1]
    #[arg(long, value_name = "ADDR")]
    host: Option<IpAddr>,
    /// Port to listen on; 0 picks a free one [default: 8000]
    #[arg(long)]
    port: Option<u16>,
    /// The public URL clients reach this server at (e.g. `https://mcp.example.org/`); `Host` and
    /// `Origin` are checked against it [default: `http://HOST:PORT/`]
    #[arg(long, value_name = "URL", env = "RUCIO_MCP_RESOURCE_URL")]
    resource_url: Option<url::Url>,
    /// More browser origins to accept besides the resource URL's (comma-separated)
    #[arg(long, value_name = "ORIGINS", value_delimiter = ',', env = "RUCIO_MCP_ALLOWED_ORIGINS")]
    allowed_origins: Vec<String>,
    /// Proxies whose X-Forwarded-For/-Proto/-Host are trusted: addresses or CIDR networks,
    /// comma-separated, or `*` [default: 127.0.0.1]
    #[arg(long, value_name = "IPS", env = "FORWARDED_ALLOW_IPS")]
    forwarded_allow_ips: Option<String>,
    /// Port of the Prometheus /metrics endpoint; 0 picks a free one [default: 9001]
    #[arg(long)]
    metrics_port: Option<u16>,
    /// Address of the /metrics endpoint [default: 127.0.0.1]
    #[arg(long, value_name = "ADDR")]
    metrics_host: Option<IpAddr>,
    /// Seconds a shutdown (SIGTERM, Ctrl-C) waits for running tool calls [default: 30]
    #[arg(long, value_name = "SECONDS")]
    shutdown_grace: Option<u64>,
    /// Seconds without requests after which an MCP session is forgotten [default: 1800]
    #[arg(long, value_name = "SECONDS")]
    session_idle_timeout: Option<u64>,
    /// Seconds after its last request before an idle MCP session sleeps: it keeps a few hundred
    /// bytes instead of its worker and wakes unnoticed at its next request. Running calls keep it
    /// awake; a session that only did its handshake sleeps at once [default: 5]
    #[arg(long, value_name = "SECONDS")]
    session_sleep_after: Option<u64>,
    #[command(flatten)]
    bridge: BridgeArgs,
}

/// Options of OIDC bridge mode (`--transport http` without a shared secret).
#[derive(Debug, Args)]
#[command(next_help_heading = "OIDC bridge mode (HTTP, many users)")]
struct BridgeArgs {
    /// Seconds a user has to finish the Rucio sign-in in the browser [default: 300]
    #[arg(long, value_name = "SECONDS", env = "RUCIO_MCP_POLL_TIMEOUT")]
    poll_timeout: Option<u64>,
    /// File with the keys that seal this server's tokens: one base64 key (32 bytes) per line,
    /// the current key first, then previous ones still accepted (`rucio-mcp token-key` makes
    /// one). Every replica needs the same file. Without it (and without
    /// RUCIO_MCP_TOKEN_KEYS), a random key is made and all tokens die with the process
    #[arg(long, value_name = "PATH", env = "RUCIO_MCP_TOKEN_KEY_FILE")]
    token_key_file: Option<PathBuf>,
    /// The token keys themselves, in the file's format (for secrets injected as environment)
    #[arg(long, hide = true, env = "RUCIO_MCP_TOKEN_KEYS", hide_env_values = true)]
    token_keys: Option<String>,
    /// Redis for the state several replicas share (used codes, rate limits, logins in
    /// progress), e.g. `redis://redis:6379/0`; without it, state is kept in this process
    #[arg(long, value_name = "URL", env = "RUCIO_MCP_REDIS_URL", hide_env_values = true)]
    redis_url: Option<String>,
    /// Pre-registered OAuth clients: a JSON file with a list of {client_id, client_name,
    /// redirect_uris}
    #[arg(long, value_name = "PATH", env = "RUCIO_MCP_OAUTH_CLIENTS")]
    oauth_clients: Option<PathBuf>,
    /// FOR TESTS ONLY: let client metadata documents (CIMD) be fetched from loopback addresses
    #[arg(long)]
    allow_loopback_cimd: bool,
}

impl BridgeArgs {
    fn given(&self) -> Vec<&'static str> {
        let flags: [(&'static str, bool); 5] = [
            ("--poll-timeout", self.poll_timeout.is_some()),
            ("--token-key-file", self.token_key_file.is_some() || self.token_keys.is_some()),
            ("--redis-url", self.redis_url.is_some()),
            ("--oauth-clients", self.oauth_clients.is_some()),
            ("--allow-loopback-cimd", self.allow_loopback_cimd),
        ];
        flags.into_iter().filter(|(_, present)| *present).map(|(flag, _)| flag).collect()
    }

    /// The token keys: from the file, the environment, or made up (with a warning).
    fn keys(&self) -> Result<KeySet, String> {
        if let Some(path) = &self.token_key_file {
            return KeySet::from_file(path).map_err(|e| e.to_string());
        }
        if let Some(text) = &self.token_keys {
            return KeySet::from_text(text).map_err(|e| format!("RUCIO_MCP_TOKEN_KEYS: {e}"));
        }
        tracing::warn!(
            "no --token-key-file: tokens are sealed with a random key and die with this process (users sign in again after a restart; replicas cannot share them)"
        );
        KeySet::ephemeral().map_err(|e| e.to_string())
    }

    fn static_clients(&self) -> Result<Vec<StaticClient>, String> {
        let Some(path) = &self.oauth_clients else { return Ok(Vec::new()) };
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read --oauth-clients {}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| {
            format!(
                "--oauth-clients {}: expected a JSON list of {{client_id, client_name, redirect_uris}}: {e}",
                path.display()
            )
        })
    }
}

impl HttpArgs {
    /// The HTTP options given, for the error when they come with stdio.
    fn given(&self) -> Vec<&'static str> {
        let mut given = Vec::new();
        let flags: [(&'static str, bool); 11] = [
            ("--shared-secret", self.shared_secret.is_some() || self.shared_secret_file.is_some()),
            ("--host", self.host.is_some()),
            ("--port", self.port.is_some()),
            ("--resource-url", self.resource_url.is_some()),
            ("--allowed-origins", !self.allowed_origins.is_empty()),
            ("--forwarded-allow-ips", self.forwarded_allow_ips.is_some()),
            ("--metrics-port", self.metrics_port.is_some()),
            ("--metrics-host", self.metrics_host.is_some()),
            ("--shutdown-grace", self.shutdown_grace.is_some()),
            ("--session-idle-timeout", self.session_idle_timeout.is_some()),
            ("--session-sleep-after", self.session_sleep_after.is_some()),
        ];
        for (flag, present) in flags {
            if present {
                given.push(flag);
            }
        }
        given.extend(self.bridge.given());
        given
    }

    /// The shared secret, from `--shared-secret-file` or `--shared-secret` / the environment.
    fn shared_secret(&self) -> Result<Option<SecretString>, String> {
        let secret = match (&self.shared_secret_file, &self.shared_secret) {
            (Some(path), _) => std::fs::read_to_string(path).map_err(|e| {
                format!("cannot read the shared secret file {}: {e}", path.display())
            })?,
            (None, Some(secret)) => secret.clone(),
            (None, None) => return Ok(None),
        };
        let secret = secret.trim();
        if secret.is_empty() {
            return Err("the shared secret is empty".into());
        }
        if secret.len() < 16 {
            tracing::warn!(
                "the shared secret is shorter than 16 characters and easy to guess; use e.g. `openssl rand -hex 32`"
            );
        }
        if self.secret_on_command_line {
            tracing::warn!(
                "--shared-secret on the command line is visible to every local user in the process list; prefer RUCIO_MCP_SHARED_SECRET or --shared-secret-file"
            );
        }
        Ok(Some(SecretString::from(secret)))
    }

    fn options(&self) -> Result<HttpOptions, String> {
        let localhost = IpAddr::from([127, 0, 0, 1]);
        let trusted = self
            .forwarded_allow_ips
            .as_deref()
            .unwrap_or("127.0.0.1")
            .parse()
            .map_err(|e| format!("--forwarded-allow-ips: {e}"))?;
        let mut options = HttpOptions {
            listen: SocketAddr::new(self.host.unwrap_or(localhost), self.port.unwrap_or(8000)),
            resource_url: self.resource_url.clone(),
            allowed_origins: self.allowed_origins.clone(),
            trusted_proxies: trusted,
            metrics_listen: Some(SocketAddr::new(
                self.metrics_host.unwrap_or(localhost),
                self.metrics_port.unwrap_or(9001),
            )),
            ..HttpOptions::default()
        };
        if let Some(grace) = self.shutdown_grace {
            options.shutdown_grace = Duration::from_secs(grace);
        }
        if let Some(idle) = self.session_idle_timeout {
            options.session_idle_timeout = Duration::from_secs(idle.max(1));
        }
        if let Some(sleep) = self.session_sleep_after {
            options.session_sleep_after = Duration::from_secs(sleep.max(1));
        }
        Ok(options)
    }
}

/// jemalloc, with its background threads, returns freed memory to the system within seconds;
/// glibc's malloc kept the memory of ended MCP sessions for the life of the process.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let mut cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    if let (Command::Serve(args), Some(("serve", serve))) = (&mut cli.command, matches.subcommand())
    {
        args.http.secret_on_command_line =
            serve.value_source("shared_secret") == Some(clap::parser::ValueSource::CommandLine);
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

/// The sites of OIDC bridge mode: each `--site NAME` (a preset), `--site NAME=PATH`, or one
/// `--site NAME --rucio-cfg PATH`.
fn resolve_sites(args: &SiteArgs) -> Result<Vec<SiteConfig>, String> {
    if args.site.len() <= 1 && !args.site.iter().any(|s| s.contains('=')) {
        return resolve(args).map(|one| vec![one]);
    }
    if args.rucio_cfg.is_some() {
        return Err("with several sites, give each its rucio.cfg as --site NAME=PATH instead of --rucio-cfg".into());
    }
    let env = Environment::from_process();
    let mut sites: Vec<SiteConfig> = Vec::new();
    for spec in &args.site {
        let (name, path) = match spec.split_once('=') {
            Some((name, path)) => (name.trim(), Some(std::path::Path::new(path.trim()))),
            None => (spec.trim(), None),
        };
        if name.is_empty()
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(format!("--site {spec}: a site name is letters, digits, `-` and `_`"));
        }
        let resolved = site_config::resolve(Some(name), path, args.auth_type.as_deref(), &env)
            .map_err(|e| e.to_string())?;
        if sites.iter().any(|s| s.site == resolved.site) {
            return Err(format!("--site {name} is given twice"));
        }
        sites.push(resolved);
    }
    Ok(sites)
}

fn resolve(args: &SiteArgs) -> Result<SiteConfig, String> {
    let site = match args.site.as_slice() {
        [] => None,
        [one] => Some(one.as_str()),
        several => {
            return Err(format!(
                "one site per server in this mode, got {}: {} (run one server per site, or use OIDC bridge mode)",
                several.len(),
                several.join(", ")
            ));
        }
    };
    let env = Environment::from_process();
    site_config::resolve(site, args.rucio_cfg.as_deref(), args.auth_type.as_deref(), &env)
        .map_err(|e| e.to_string())
}

fn init_logging(level: LogLevel, format: LogFormat) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let level = match level {
        LogLevel::Debug => tracing::Level::DEBUG,
        LogLevel::Info => tracing::Level::INFO,
        LogLevel::Warning => tracing::Level::WARN,
        LogLevel::Error => tracing::Level::ERROR,
    };
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

async fn serve(args: ServeArgs) -> Result<(), String> {
    init_logging(args.log_level, args.log_format);
    if args.transport == Transport::Stdio {
        let given = args.http.given();
        if !given.is_empty() {
            return Err(format!(
                "{} only apply to --transport http (this is stdio: the MCP client starts the server itself)",
                given.join(", ")
            ));
        }
    }
    if args.transport == Transport::Http
        && args.http.shared_secret.is_none()
        && args.http.shared_secret_file.is_none()
    {
        return serve_bridge(&args).await;
    }
    let resolved = resolve(&args.site)?;
    for warning in &resolved.warnings {
        tracing::warn!("{warning}");
    }
    let options = ServerOptions::for_site(&resolved.site, args.read_only);
    let metrics = ToolMetrics::default();
    let site = resolved.site.clone();
    tracing::info!(
        site = %site,
        config = %resolved.source,
        rucio = %resolved.config.rucio_host,
        auth_type = %resolved.config.auth_type,
        read_only = args.read_only,
        transport = ?args.transport,
        "rucio-mcp {}",
        env!("CARGO_PKG_VERSION")
    );
    let server =
        RucioMcpServer::new(options, RucioSession::from_config(resolved.config), metrics.clone());
    match args.transport {
        Transport::Stdio => {
            let reason = mcp_transports::serve_stdio(server).await.map_err(|e| e.to_string())?;
            tracing::info!(?reason, "MCP session ended");
            Ok(())
        }
        Transport::Http => serve_http(&args.http, server, &site, metrics).await,
    }
}

async fn serve_http(
    args: &HttpArgs,
    server: RucioMcpServer,
    site: &str,
    metrics: ToolMetrics,
) -> Result<(), String> {
    let Some(secret) = args.shared_secret()? else {
        return Err("shared-secret mode needs a secret".into());
    };
    let bridge_flags = args.bridge.given();
    if !bridge_flags.is_empty() {
        let verb = if bridge_flags.len() == 1 { "is" } else { "are" };
        return Err(format!(
            "{} {verb} only for OIDC bridge mode, not with --shared-secret",
            bridge_flags.join(", ")
        ));
    }
    let verifier = Arc::new(SharedSecret::new(secret, "rucio-mcp"));
    let backend = server.clone();
    let tool_list = server.tool_list();
    let site_mount = Site::new(site, server)
        .with_tool_list(&tool_list)
        .map_err(|e| format!("cannot serialize the tool list: {e}"))?
        .with_description(format!("Rucio ({site}), as this server's own Rucio identity"))
        .with_verifier(verifier, SiteAccess::SharedSecret)
        .with_readiness(Arc::new(move || {
            let backend = backend.clone();
            async move { backend.check_backend().await }
        }));
    let mut http = HttpServer::new(args.options()?, "rucio-mcp", env!("CARGO_PKG_VERSION"));
    metrics.register(http.registry_mut());
    let http = http.site(site_mount);
    let listening = http.bind().await.map_err(|e| e.to_string())?;
    let base = listening.resource_url().as_str().trim_end_matches('/').to_owned();
    tracing::info!(
        mcp = %format!("{base}/site/{site}/"),
        listen = %listening.local_addr(),
        metrics = %listening.metrics_addr().map_or_else(|| "off".to_owned(), |a| format!("http://{a}/metrics")),
        "serving MCP over streamable HTTP (shared-secret mode)"
    );
    listening.serve(mcp_transports::shutdown_signal()).await.map_err(|e| e.to_string())
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
    let bridge_args = &http.bridge;
    let keys = Arc::new(bridge_args.keys()?);
    let store: Arc<dyn Store> = match &bridge_args.redis_url {
        Some(url) => {
            Arc::new(RedisStore::connect(url, "rucio-mcp:").await.map_err(|e| e.to_string())?)
        }
        None => Arc::new(MemoryStore::new()),
    };
    let bridge_metrics = BridgeMetrics::default();
    let shared = Arc::new(BridgeShared::new(
        keys,
        store.clone(),
        MetadataFetcher::new(bridge_args.allow_loopback_cimd),
        bridge_metrics.clone(),
    ));
    if bridge_args.allow_loopback_cimd {
        tracing::warn!(
            "--allow-loopback-cimd is on: client metadata may come from loopback addresses (tests only)"
        );
    }
    let statics = bridge_args.static_clients()?;
    let poll_timeout = Duration::from_secs(bridge_args.poll_timeout.unwrap_or(300).max(10));
    let metrics = ToolMetrics::default();
    let mut server = HttpServer::new(http.options()?, "rucio-mcp", env!("CARGO_PKG_VERSION"));
    metrics.register(server.registry_mut());
    bridge_metrics.register(server.registry_mut(), "rucio_mcp");
    let base = resource_url.as_str().trim_end_matches('/').to_owned();
    let mut urls = Vec::new();
    for resolved in sites {
        for warning in &resolved.warnings {
            tracing::warn!("{warning}");
        }
        let name = resolved.site.clone();
        if let Ok(preset) = site_presets::find(&name)
            && !preset.multi_user_http
        {
            return Err(format!(
                "site {name} authenticates with {} only; OIDC bridge mode needs an OIDC site (or use --shared-secret for one robot identity)",
                preset.auth_types.iter().map(|t| t.as_str()).collect::<Vec<_>>().join("/")
            ));
        }
        let title = format!("Rucio ({name})");
        let upstream = Arc::new(
            RucioUpstream::new(resolved.config.clone(), title.clone())
                .map_err(|e| format!("site {name}: {e}"))?,
        );
        let users = UserClients::new(upstream.base_client().clone());
        let tools = RucioMcpServer::for_users(
            ServerOptions::for_site(&name, args.read_only),
            users,
            metrics.clone(),
        );
        let resource = url::Url::parse(&format!("{base}/site/{name}/"))
            .map_err(|e| format!("--resource-url: {e}"))?;
        let mut config = BridgeConfig::new(name.clone(), resource.clone());
        config.site_title = title;
        config.login_timeout = poll_timeout;
        config.static_clients = statics.clone();
        let bridge =
            Arc::new(Bridge::new(config, shared.clone(), upstream).map_err(|e| e.to_string())?);
        tracing::info!(site = %name, config = %resolved.source, rucio = %resolved.config.rucio_host, "site {name}");
        let backend = tools.clone();
        let store = store.clone();
        let tool_list = tools.tool_list();
        server = server.site(
            Site::new(&name, tools)
                .with_tool_list(&tool_list)
                .map_err(|e| format!("cannot serialize the tool list: {e}"))?
                .with_description(format!("Rucio ({name}), as each signed-in user"))
                .with_oauth(&bridge)
                .with_readiness(Arc::new(move || {
                    let backend = backend.clone();
                    let store = store.clone();
                    async move {
                        store.ping().await.map_err(|e| e.to_string())?;
                        backend.check_backend().await
                    }
                })),
        );
        urls.push(resource.to_string());
    }
    let listening = server.bind().await.map_err(|e| e.to_string())?;
    tracing::info!(
        mcp = %urls.first().cloned().unwrap_or_default(),
        sites = %urls.join(","),
        listen = %listening.local_addr(),
        metrics = %listening.metrics_addr().map_or_else(|| "off".to_owned(), |a| format!("http://{a}/metrics")),
        read_only = args.read_only,
        "serving MCP over streamable HTTP (OIDC bridge mode)"
    );
    listening.serve(mcp_transports::shutdown_signal()).await.map_err(|e| e.to_string())
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
