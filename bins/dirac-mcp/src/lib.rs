//! `dirac-mcp`'s command line as a library, so that a community builds its own `dirac-mcp` with
//! its tool sets added ([`run`] with an `extend` function; see the `dirac-mcp-lhcb` example). It
//! parses arguments and composes the library crates; the substance lives in `dirac-mcp-tools`,
//! `diracx-client` and `mcp-transports`.
//!
//! stdout belongs to the MCP protocol in `serve`: logs go to stderr. `login` talks to the person
//! on stderr too, and `whoami` prints its answer to stdout, which is its job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod cli;
mod http;

use std::process::ExitCode;
use std::sync::Arc;

use clap::{CommandFactory, FromArgMatches};
use dirac_mcp_tools::session::DeviceLoginSettings;
use dirac_mcp_tools::toolset::DuplicateTool;
use dirac_mcp_tools::{DiracMcpServer, DiracSession, DiracUser, Registry, ServerOptions};
use diracx_client::credentials::{CredentialsFile, FileTokenSource};
use diracx_client::oidc::{DeviceLogin, DiracMetadata, Discovery, login_scope};
use diracx_client::{ClientOptions, DiracxClient, jwt};
use mcp_cli::Transport;

use crate::cli::{Cli, Command, DiracKeys, DiracxArgs, LoginArgs, LogoutArgs, ServeArgs};
use mcp_cli::config_file::{self, ConfigCommand};

const PROGRAM: &str = "dirac-mcp";

/// Adds tool sets (and may replace the policy) of an extended build.
pub type Extend = fn(Registry) -> Result<Registry, DuplicateTool>;

/// `dirac-mcp` itself: the built-in tools only.
pub fn no_extensions(registry: Registry) -> Result<Registry, DuplicateTool> {
    Ok(registry)
}

/// Parses the command line and runs the command; `extend` adds an extended build's tool sets.
pub fn run(extend: Extend) -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let command = mcp_cli::http::with_env_prefix(Cli::command(), "DIRAC_MCP_");
    let command = match config_file::for_args::<DiracKeys>(command, &args, "DIRAC_MCP_CONFIG") {
        Ok(command) => command,
        Err(e) => return mcp_cli::fail(PROGRAM, &e),
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
        args.http.env_prefix = "DIRAC_MCP_";
        args.http.bridge.env_prefix = "DIRAC_MCP_";
    }
    match cli.command {
        Command::Serve(args) => mcp_cli::run_async(PROGRAM, serve(*args, extend)),
        Command::TokenKey => match mcp_oauth_bridge::KeySet::generate_text() {
            Ok(key) => {
                println!("{key}");
                ExitCode::SUCCESS
            }
            Err(e) => mcp_cli::fail(PROGRAM, &e),
        },
        Command::Login(args) => mcp_cli::run_async(PROGRAM, login(args)),
        Command::Logout(args) => mcp_cli::run_async(PROGRAM, logout(args)),
        Command::Whoami(args) => mcp_cli::run_async(PROGRAM, whoami(args)),
        Command::Config(ConfigCommand::Check { file }) => match http::check(&file) {
            Ok(summary) => {
                println!("{}: {summary}", file.display());
                ExitCode::SUCCESS
            }
            Err(e) => mcp_cli::fail(PROGRAM, &e),
        },
        Command::Config(ConfigCommand::Show { file }) => {
            let command = mcp_cli::http::with_env_prefix(Cli::command(), "DIRAC_MCP_");
            match config_file::serve_under::<DiracKeys>(command, &file) {
                Ok((serve, matches, ids)) => {
                    print!("{}", config_file::show(&serve, &matches, &ids));
                    ExitCode::SUCCESS
                }
                Err(e) => mcp_cli::fail(PROGRAM, &e),
            }
        }
    }
}

/// Where DiracX is and where the login is kept (no HTTP client yet: making one loads the
/// system's CA certificates, which `serve` leaves for the first tool call).
#[derive(Clone)]
struct Settings {
    url: url::Url,
    options: ClientOptions,
    file: CredentialsFile,
}

/// Everything a command needs to reach DiracX as the user.
struct Connection {
    settings: Settings,
    http: diracx_client::HttpClient,
}

impl Settings {
    fn new(args: &DiracxArgs) -> Result<Self, String> {
        let url = url::Url::parse(args.diracx_url.trim()).map_err(|e| {
            format!("--diracx-url / DIRACX_URL `{}` is not a URL: {e}", args.diracx_url)
        })?;
        let options = ClientOptions { ca_path: args.ca_path.clone(), ..ClientOptions::default() };
        let file = match &args.credentials_path {
            Some(path) => CredentialsFile::new(path),
            None => CredentialsFile::from_env().map_err(|e| e.to_string())?,
        };
        Ok(Self { url, options, file })
    }

    fn connect(self) -> Result<Connection, String> {
        let http = self.options.http_client().map_err(|e| e.to_string())?;
        Ok(Connection { settings: self, http })
    }

    /// The user of the local login, read from the file alone (no network): it only decides
    /// which tools are listed; calls run as the user DiracX confirms.
    async fn local_user(&self) -> Option<DiracUser> {
        let credentials = self.file.read().await.ok()?;
        use diracx_client::ExposeSecret as _;
        let claims = jwt::decode_unverified(credentials.access_token.expose_secret()).ok()?;
        Some(DiracUser::from_claims(&claims))
    }
}

impl Connection {
    fn new(args: &DiracxArgs) -> Result<Self, String> {
        Settings::new(args)?.connect()
    }

    fn client(&self, client_id: &str) -> Result<DiracxClient, String> {
        let Settings { url, options, file } = &self.settings;
        let tokens = FileTokenSource::new(file.clone(), self.http.clone(), url.clone())
            .with_client_id(client_id);
        DiracxClient::with_http(url.as_str(), Arc::new(tokens), self.http.clone(), options.retries)
            .map_err(|e| e.to_string())
    }
}

async fn serve(args: ServeArgs, extend: Extend) -> Result<(), String> {
    mcp_cli::init_logging(args.log_level, args.log_format);
    let registry = extend(dirac_mcp_tools::default_registry()).map_err(|e| e.to_string())?;
    if args.transport == Transport::Http {
        return http::serve(args, registry).await;
    }
    let mut given = args.http.given();
    if !args.site.is_empty() {
        given.insert(0, "--site");
    }
    if args.machine_clients.is_some() {
        given.push("--machine-clients");
    }
    if args.diracx_issuer.is_some() {
        given.push("--diracx-issuer");
    }
    if args.no_diracx_tokens {
        given.push("--no-diracx-tokens");
    }
    if !given.is_empty() {
        return Err(format!(
            "{} only apply to --transport http (this is stdio: the MCP client starts the server itself)",
            given.join(", ")
        ));
    }
    let session = session_of_login(&args, true).await?;
    let server = DiracMcpServer::with_registry(
        ServerOptions { read_only: args.read_only, local_files: true, ..ServerOptions::default() },
        session,
        registry,
    );
    let reason = mcp_transports::serve_stdio(server).await.map_err(|e| e.to_string())?;
    tracing::info!(?reason, "MCP session ended");
    Ok(())
}

/// The session of one identity, the local login (stdio and shared-secret mode); with
/// `can_log_in`, a tool call that finds no login starts one (the device flow).
async fn session_of_login(args: &ServeArgs, can_log_in: bool) -> Result<DiracSession, String> {
    let settings = Settings::new(&args.diracx)?;
    let listing_user = settings.local_user().await;
    tracing::info!(
        diracx = %settings.url,
        credentials = %settings.file.path().display(),
        user = listing_user.as_ref().map_or("(not logged in)", |u| u.username.as_str()),
        read_only = args.read_only,
        "dirac-mcp {}",
        env!("CARGO_PKG_VERSION")
    );
    let client_id = args.client_id.clone();
    let connect = move || {
        let connection = settings.clone().connect()?;
        let device_login = can_log_in.then(|| DeviceLoginSettings {
            http: connection.http.clone(),
            client_id: client_id.clone(),
            file: connection.settings.file.clone(),
            vo: None,
            group: None,
        });
        let client = connection.client(&client_id)?;
        Ok(dirac_mcp_tools::session::Connection { client, device_login })
    };
    Ok(DiracSession::connecting(listing_user, Box::new(connect)))
}

async fn login(args: LoginArgs) -> Result<(), String> {
    let connection = Connection::new(&args.diracx)?;
    let (discovery, metadata) = tokio::try_join!(
        Discovery::fetch(&connection.http, &connection.settings.url),
        DiracMetadata::fetch(&connection.http, &connection.settings.url)
    )
    .map_err(|e| format!("cannot reach DiracX at {}: {e}", connection.settings.url))?;
    let vos: Vec<&str> = metadata.vo_names().collect();
    let vo = match (&args.vo, vos.as_slice()) {
        (Some(vo), _) => vo.clone(),
        (None, [only]) => (*only).to_owned(),
        (None, several) => {
            return Err(format!(
                "name your VO: dirac-mcp login <VO> (this DiracX has: {})",
                several.join(", ")
            ));
        }
    };
    let scope = login_scope(&vo, args.group.as_deref(), &args.properties);
    let device = DeviceLogin::start(&connection.http, &discovery, &args.client_id, &scope)
        .await
        .map_err(|e| e.to_string())?;
    eprintln!("To sign in to DiracX ({vo}), open\n\n    {}\n", device.verification_uri_complete);
    eprintln!(
        "and confirm the code {} (valid {} minutes). Waiting…",
        device.user_code,
        device.expires_in.as_secs() / 60
    );
    let tokens = device.wait().await.map_err(|e| e.to_string())?;
    connection.settings.file.write(&tokens).await.map_err(|e| e.to_string())?;
    let me = connection.client(&args.client_id)?.userinfo().await.map_err(|e| e.to_string())?;
    eprintln!(
        "Signed in as {} ({} / {}); the login is kept in {}.",
        me.preferred_username.as_deref().unwrap_or(&me.sub),
        me.vo,
        me.dirac_group,
        connection.settings.file.path().display()
    );
    Ok(())
}

async fn logout(args: LogoutArgs) -> Result<(), String> {
    let connection = Connection::new(&args.diracx)?;
    let path = connection.settings.file.path();
    // Revoke the refresh token first, as `dirac logout` does; the file goes whatever happens.
    if let Ok(Some(refresh_token)) = connection.settings.file.read().await.map(|c| c.refresh_token)
    {
        let revoked = match Discovery::fetch(&connection.http, &connection.settings.url).await {
            Ok(discovery) => {
                diracx_client::oidc::revoke(
                    &connection.http,
                    &discovery.revocation_endpoint,
                    &args.client_id,
                    &refresh_token,
                )
                .await
            }
            Err(e) => Err(e),
        };
        match revoked {
            Ok(()) => eprintln!("Revoked the refresh token at DiracX."),
            Err(e) => {
                eprintln!("Could not revoke the refresh token ({e}); removing the file anyway.")
            }
        }
    }
    match std::fs::remove_file(path) {
        Ok(()) => eprintln!("Signed out: removed {}.", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("Not signed in ({} does not exist).", path.display())
        }
        Err(e) => return Err(format!("cannot remove {}: {e}", path.display())),
    }
    Ok(())
}

async fn whoami(args: DiracxArgs) -> Result<(), String> {
    let connection = Connection::new(&args)?;
    let client = connection.client(diracx_client::oidc::DEFAULT_CLIENT_ID)?;
    client.ping().await.map_err(|e| e.to_string())?;
    println!("DiracX at {} answers", client.url());
    match client.userinfo().await {
        Ok(me) => println!(
            "signed in as {} (VO {}, group {}, properties {})",
            me.preferred_username.as_deref().unwrap_or(&me.sub),
            me.vo,
            me.dirac_group,
            me.properties.join(", ")
        ),
        Err(e) if e.is_authentication() => println!("not signed in: {e}"),
        Err(e) => return Err(e.to_string()),
    }
    Ok(())
}
