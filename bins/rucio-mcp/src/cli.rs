//! The command line of `rucio-mcp`: its clap definitions, and the options they give.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use mcp_cli::http::HttpArgs;
use mcp_cli::{LogFormat, LogLevel, Transport};

/// MCP server for Rucio data management.
///
/// Lets AI assistants (Claude, VS Code, Cursor, agents) find, inspect and manage data in a Rucio
/// instance through the Model Context Protocol, as the signed-in user.
#[derive(Debug, Parser)]
#[command(name = "rucio-mcp", version, propagate_version = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the MCP server: over stdio (put this command in your MCP client's configuration), or
    /// over HTTP for many users, each signing in with their own identity (--transport http
    /// --resource-url …), for many users with tokens of an existing authorization server
    /// (--transport http --auth resource-server --issuer …), or for one robot identity
    /// (--transport http --shared-secret …)
    Serve(Box<ServeArgs>),
    /// Check that the Rucio server of a site answers, and who you are there
    Ping(SiteArgs),
    /// Print a new random key for the OAuth bridge's tokens (for --token-key-file)
    TokenKey,
    /// Check a configuration file for `serve --config`, or show the settings it gives
    #[command(subcommand)]
    Config(mcp_cli::config_file::ConfigCommand),
    /// List the built-in site presets, or print one preset's rucio.cfg
    Sites {
        /// Preset to print (case-insensitive); lists all presets when omitted
        name: Option<String>,
    },
}

#[derive(Debug, Args)]
pub(crate) struct SiteArgs {
    /// Built-in site preset (see `rucio-mcp sites`); default: $RUCIO_CONFIG if set, else escape.
    /// With --rucio-cfg, the name the site is served under; `NAME=PATH` serves the rucio.cfg at
    /// PATH as site NAME. Repeatable in the HTTP modes for many users (bridge, resource-server)
    #[arg(long, value_name = "NAME", action = clap::ArgAction::Append)]
    pub(crate) site: Vec<String>,
    /// Your own rucio.cfg (takes precedence over --site)
    #[arg(long, value_name = "PATH")]
    pub(crate) rucio_cfg: Option<PathBuf>,
    /// Authentication method; default: $RUCIO_AUTH_TYPE, then the config's auth_type, then oidc.
    /// `x509` uses your certificate when client_cert is configured, else your grid proxy
    #[arg(long, value_name = "TYPE", value_parser = ["oidc", "x509", "x509_proxy", "userpass"])]
    pub(crate) auth_type: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// A TOML file with the settings of `serve` (keys: the long flags in snake case, e.g.
    /// `resource_url`; see deploy/examples/); the environment and flags override it
    #[arg(long, value_name = "PATH", env = "RUCIO_MCP_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) site: SiteArgs,
    /// Hide and refuse the seven tools that create, change or delete rules
    #[arg(long, env = "RUCIO_MCP_READ_ONLY")]
    pub(crate) read_only: bool,
    /// How MCP clients connect
    #[arg(long, value_enum, default_value = "stdio", env = "RUCIO_MCP_TRANSPORT")]
    pub(crate) transport: Transport,
    /// Log verbosity (logs go to stderr)
    #[arg(long, value_enum, default_value = "info", env = "RUCIO_MCP_LOG_LEVEL")]
    pub(crate) log_level: LogLevel,
    /// Log line format
    #[arg(long, value_enum, default_value = "text", env = "RUCIO_MCP_LOG_FORMAT")]
    pub(crate) log_format: LogFormat,
    /// Resource-server mode: call Rucio with each user's own token, for a Rucio that accepts
    /// the issuer's tokens by design (WLCG tokens; its `[oidc]` section trusts that issuer).
    /// Without it, calls use this server's own Rucio identity (the site's rucio.cfg) and each
    /// caller is written to the log
    #[arg(long, env = "RUCIO_MCP_FORWARD_USER_TOKEN")]
    pub(crate) forward_user_token: bool,
    #[command(flatten)]
    pub(crate) http: HttpArgs,
}

/// The keys of a configuration file that are rucio-mcp's own (beside `[http]` and the others of
/// `mcp_cli::config_file::ServeFile`).
#[derive(Debug, Default, serde::Deserialize, serde::Serialize)]
pub(crate) struct RucioKeys {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) site: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) rucio_cfg: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) auth_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) forward_user_token: Option<bool>,
}
