//! The command line of `dirac-mcp`: its clap definitions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use mcp_cli::http::HttpArgs;
use mcp_cli::{LogFormat, LogLevel, Transport};

/// MCP server for DiracX, the DIRAC grid's workload management.
///
/// Lets AI assistants (Claude, VS Code, Cursor, agents) search, submit, follow and manage your
/// grid jobs through the Model Context Protocol, as you: it uses the login of the `dirac` command
/// line (`dirac login`), or its own (`dirac-mcp login`).
#[derive(Debug, Parser)]
#[command(name = "dirac-mcp", version, propagate_version = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the MCP server: over stdio (put this command in your MCP client's configuration), or
    /// over HTTP for many users, each signing in at DiracX as themselves (--transport http
    /// --resource-url …), for many users with tokens of an existing authorization server
    /// (--transport http --auth resource-server --issuer …), or for this server's own login
    /// (--transport http --shared-secret …)
    Serve(Box<ServeArgs>),
    /// Print a new random key for the OAuth bridge's tokens (for --token-key-file)
    TokenKey,
    /// Sign in to DiracX in your browser (the device flow) and keep the login where `dirac`
    /// keeps it, so both share it
    Login(LoginArgs),
    /// Forget the login: revoke its refresh token at DiracX and delete the credentials file
    Logout(LogoutArgs),
    /// Check that DiracX answers, and who you are there
    Whoami(DiracxArgs),
    /// Check a configuration file for `serve --config`, or show the settings it gives
    #[command(subcommand)]
    Config(mcp_cli::config_file::ConfigCommand),
}

/// Where DiracX is and where the login is kept, as the `dirac` command line has them.
#[derive(Debug, Args)]
pub(crate) struct DiracxArgs {
    /// The DiracX server, e.g. https://diracx.example.org
    #[arg(long, value_name = "URL", env = "DIRACX_URL")]
    pub(crate) diracx_url: String,
    /// The credentials file [default: ~/.cache/diracx/credentials.json, shared with `dirac`]
    #[arg(long, value_name = "PATH", env = "DIRACX_CREDENTIALS_PATH")]
    pub(crate) credentials_path: Option<PathBuf>,
    /// CA certificates for DiracX's TLS: a PEM file or a directory of them
    #[arg(long, value_name = "PATH", env = "DIRACX_CA_PATH")]
    pub(crate) ca_path: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// A TOML file with the settings of `serve` (keys: the long flags in snake case, e.g.
    /// `diracx_url`; see deploy/examples/); the environment and flags override it
    #[arg(long, value_name = "PATH", env = "DIRAC_MCP_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) diracx: DiracxArgs,
    /// Hide and refuse the tools that submit, kill, delete, reschedule or change jobs
    #[arg(long, env = "DIRAC_MCP_READ_ONLY")]
    pub(crate) read_only: bool,
    /// Log verbosity (logs go to stderr)
    #[arg(long, value_enum, default_value = "info", env = "DIRAC_MCP_LOG_LEVEL")]
    pub(crate) log_level: LogLevel,
    /// Log line format
    #[arg(long, value_enum, default_value = "text", env = "DIRAC_MCP_LOG_FORMAT")]
    pub(crate) log_format: LogFormat,
    /// The OAuth client id at DiracX: of the DiracX command line for the login a tool call
    /// starts when nobody is signed in (stdio); of this server in OIDC bridge mode, where DiracX
    /// must allow the redirect URI `{resource-url}/site/NAME/callback` for it
    #[arg(long, default_value = "myDIRACClientID", env = "DIRACX_CLIENT_ID")]
    pub(crate) client_id: String,
    /// How MCP clients connect
    #[arg(long, value_enum, default_value = "stdio", env = "DIRAC_MCP_TRANSPORT")]
    pub(crate) transport: Transport,
    /// HTTP: a DiracX VO to serve under /site/NAME/, as `NAME` (the VO's name), `NAME=VO` or
    /// `NAME=VO/GROUP` (users act in GROUP, else the VO's default group), each optionally with
    /// `@URL` for another DiracX than --diracx-url. Repeatable in OIDC bridge mode
    /// [default: every VO of the DiracX, each under its own name]
    #[arg(long, value_name = "SPEC", action = clap::ArgAction::Append)]
    pub(crate) site: Vec<String>,
    /// OIDC bridge mode: programs without a person (CI jobs, agents), each acting as a DiracX
    /// robot login: a JSON file with a list of {client_id, client_secret_file,
    /// diracx_credentials, site?} (or jwks_file instead of the secret: private_key_jwt); they
    /// get tokens with the client_credentials grant
    #[arg(long, value_name = "PATH", env = "DIRAC_MCP_MACHINE_CLIENTS")]
    pub(crate) machine_clients: Option<PathBuf>,
    /// OIDC bridge and resource-server modes: DiracX's public URL, its token issuer, where users
    /// sign in, when this server reaches DiracX at another address (--diracx-url, e.g. inside the
    /// cluster). In resource-server mode an --issuer equal to it means DiracX's own tokens, and
    /// calls run with each user's token [default: --diracx-url]
    #[arg(long, value_name = "URL", env = "DIRAC_MCP_DIRACX_ISSUER")]
    pub(crate) diracx_issuer: Option<url::Url>,
    /// OIDC bridge mode: refuse DiracX's own access tokens as bearers (by default an agent may
    /// send the token of its `dirac login`, checked against DiracX's keys, instead of signing in
    /// through the bridge)
    #[arg(long, env = "DIRAC_MCP_NO_DIRACX_TOKENS")]
    pub(crate) no_diracx_tokens: bool,
    #[command(flatten)]
    pub(crate) http: HttpArgs,
}

#[derive(Debug, Args)]
pub(crate) struct LoginArgs {
    #[command(flatten)]
    pub(crate) diracx: DiracxArgs,
    /// Your virtual organisation [default: the only one the server has]
    pub(crate) vo: Option<String>,
    /// The group to act in [default: the VO's default group]
    #[arg(long)]
    pub(crate) group: Option<String>,
    /// Extra properties to ask for (repeatable)
    #[arg(long = "property", value_name = "PROPERTY")]
    pub(crate) properties: Vec<String>,
    /// The OAuth client id of the DiracX command line
    #[arg(long, default_value = "myDIRACClientID", env = "DIRACX_CLIENT_ID")]
    pub(crate) client_id: String,
}

#[derive(Debug, Args)]
pub(crate) struct LogoutArgs {
    #[command(flatten)]
    pub(crate) diracx: DiracxArgs,
    /// The OAuth client id the login was made with (its refresh token is revoked for it)
    #[arg(long, default_value = "myDIRACClientID", env = "DIRACX_CLIENT_ID")]
    pub(crate) client_id: String,
}

/// The keys of a configuration file that are dirac-mcp's own (beside `[http]` and the others of
/// `mcp_cli::config_file::ServeFile`).
#[derive(Debug, Default, serde::Deserialize, serde::Serialize)]
pub(crate) struct DiracKeys {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) diracx_url: Option<url::Url>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) credentials_path: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ca_path: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) site: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) machine_clients: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) diracx_issuer: Option<url::Url>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) no_diracx_tokens: Option<bool>,
}
