//! The flags of `--transport http` that `rucio-mcp` and `dirac-mcp` share (listening, public
//! URL, proxies, metrics, sessions, shared secret, the OAuth bridge's keys, store and clients),
//! and the settings they give.
//!
//! Their environment variables are written `MCP_…` here; [`with_env_prefix`] gives them the
//! binary's prefix (`RUCIO_MCP_…`, `DIRAC_MCP_…`) before parsing.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use mcp_oauth_bridge::{KeySet, StaticClient};
use mcp_transports::HttpOptions;
use secrecy::SecretString;

/// `command` with every `MCP_…` environment variable of its arguments (and its subcommands')
/// renamed to `{prefix}…`.
pub fn with_env_prefix(command: clap::Command, prefix: &'static str) -> clap::Command {
    let command = command.mut_args(|arg| {
        let renamed = arg
            .get_env()
            .and_then(|env| env.to_str())
            .and_then(|env| env.strip_prefix("MCP_"))
            .map(|rest| format!("{prefix}{rest}"));
        match renamed {
            Some(env) => arg.env(env),
            None => arg,
        }
    });
    let names: Vec<String> = command.get_subcommands().map(|s| s.get_name().to_owned()).collect();
    names.into_iter().fold(command, |command, name| {
        command.mut_subcommand(name, |sub| with_env_prefix(sub, prefix))
    })
}

/// Options of `--transport http`.
#[derive(Debug, Args)]
#[command(next_help_heading = "HTTP transport")]
pub struct HttpArgs {
    /// Shared-secret mode: every request must carry `Authorization: Bearer SECRET`, and all act as
    /// this server's own identity at the backend (its configuration and login, as in stdio)
    #[arg(long, value_name = "SECRET", env = "MCP_SHARED_SECRET", hide_env_values = true)]
    pub shared_secret: Option<String>,
    /// The shared secret read from a file (e.g. a mounted Kubernetes secret), kept out of the
    /// process list
    #[arg(
        long,
        value_name = "PATH",
        env = "MCP_SHARED_SECRET_FILE",
        conflicts_with = "shared_secret"
    )]
    pub shared_secret_file: Option<PathBuf>,
    /// Whether the secret came on the command line, where other local users can read it.
    #[arg(skip)]
    pub secret_on_command_line: bool,
    /// The binary's environment prefix (`RUCIO_MCP_`), for messages.
    #[arg(skip)]
    pub env_prefix: &'static str,
    /// Address to listen on [default: 127.0.0.1]
    #[arg(long, value_name = "ADDR")]
    pub host: Option<IpAddr>,
    /// Port to listen on; 0 picks a free one [default: 8000]
    #[arg(long)]
    pub port: Option<u16>,
    /// The public URL clients reach this server at (e.g. `https://mcp.example.org/`); `Host` and
    /// `Origin` are checked against it [default: `http://HOST:PORT/`]
    #[arg(long, value_name = "URL", env = "MCP_RESOURCE_URL")]
    pub resource_url: Option<url::Url>,
    /// More browser origins to accept besides the resource URL's (comma-separated)
    #[arg(long, value_name = "ORIGINS", value_delimiter = ',', env = "MCP_ALLOWED_ORIGINS")]
    pub allowed_origins: Vec<String>,
    /// Proxies whose X-Forwarded-For/-Proto/-Host are trusted: addresses or CIDR networks,
    /// comma-separated, or `*` [default: 127.0.0.1]
    #[arg(long, value_name = "IPS", env = "FORWARDED_ALLOW_IPS")]
    pub forwarded_allow_ips: Option<String>,
    /// Port of the Prometheus /metrics endpoint; 0 picks a free one [default: 9001]
    #[arg(long)]
    pub metrics_port: Option<u16>,
    /// Address of the /metrics endpoint [default: 127.0.0.1]
    #[arg(long, value_name = "ADDR")]
    pub metrics_host: Option<IpAddr>,
    /// Seconds a shutdown (SIGTERM, Ctrl-C) waits for running tool calls [default: 30]
    #[arg(long, value_name = "SECONDS")]
    pub shutdown_grace: Option<u64>,
    /// Seconds without requests after which an MCP session is forgotten [default: 1800]
    #[arg(long, value_name = "SECONDS")]
    pub session_idle_timeout: Option<u64>,
    /// Seconds after its last request before an idle MCP session sleeps: it keeps a few hundred
    /// bytes instead of its worker and wakes unnoticed at its next request. Running calls keep it
    /// awake; a session that only did its handshake sleeps at once [default: 5]
    #[arg(long, value_name = "SECONDS")]
    pub session_sleep_after: Option<u64>,
    #[command(flatten)]
    pub bridge: BridgeArgs,
}

/// Options of OIDC bridge mode (`--transport http` without a shared secret).
#[derive(Debug, Args)]
#[command(next_help_heading = "OIDC bridge mode (HTTP, many users)")]
pub struct BridgeArgs {
    /// Seconds a user has to finish the sign-in in the browser [default: 300]
    #[arg(long, visible_alias = "login-timeout", value_name = "SECONDS", env = "MCP_POLL_TIMEOUT")]
    pub poll_timeout: Option<u64>,
    /// File with the keys that seal this server's tokens: one base64 key (32 bytes) per line,
    /// the current key first, then previous ones still accepted (the `token-key` command
    /// makes one). Every replica needs the same file. Without it (and without the
    /// keys in the environment), a random key is made and all tokens die with the process
    #[arg(long, value_name = "PATH", env = "MCP_TOKEN_KEY_FILE")]
    pub token_key_file: Option<PathBuf>,
    /// The token keys themselves, in the file's format (for secrets injected as environment)
    #[arg(long, hide = true, env = "MCP_TOKEN_KEYS", hide_env_values = true)]
    pub token_keys: Option<String>,
    /// Redis for the state several replicas share (used codes, rate limits, logins in
    /// progress), e.g. `redis://redis:6379/0`; without it, state is kept in this process
    #[arg(long, value_name = "URL", env = "MCP_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Pre-registered OAuth clients: a JSON file with a list of {client_id, client_name,
    /// redirect_uris}
    #[arg(long, value_name = "PATH", env = "MCP_OAUTH_CLIENTS")]
    pub oauth_clients: Option<PathBuf>,
    /// FOR TESTS ONLY: let client metadata documents (CIMD) be fetched from loopback addresses
    #[arg(long)]
    pub allow_loopback_cimd: bool,
    /// The binary's environment prefix (`RUCIO_MCP_`), for messages.
    #[arg(skip)]
    pub env_prefix: &'static str,
}

impl BridgeArgs {
    pub fn given(&self) -> Vec<&'static str> {
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
    pub fn keys(&self) -> Result<KeySet, String> {
        if let Some(path) = &self.token_key_file {
            return KeySet::from_file(path).map_err(|e| e.to_string());
        }
        if let Some(text) = &self.token_keys {
            return KeySet::from_text(text)
                .map_err(|e| format!("{}TOKEN_KEYS: {e}", self.env_prefix));
        }
        tracing::warn!(
            "no --token-key-file: tokens are sealed with a random key and die with this process (users sign in again after a restart; replicas cannot share them)"
        );
        KeySet::ephemeral().map_err(|e| e.to_string())
    }

    pub fn static_clients(&self) -> Result<Vec<StaticClient>, String> {
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
    pub fn given(&self) -> Vec<&'static str> {
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
        let given = flags.into_iter().filter(|(_, present)| *present).map(|(flag, _)| flag);
        given.chain(self.bridge.given()).collect()
    }

    /// The shared secret, from `--shared-secret-file` or `--shared-secret` / the environment.
    pub fn shared_secret(&self) -> Result<Option<SecretString>, String> {
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
                "--shared-secret on the command line is visible to every local user in the process list; prefer {}SHARED_SECRET or --shared-secret-file",
                self.env_prefix
            );
        }
        Ok(Some(SecretString::from(secret)))
    }

    pub fn options(&self) -> Result<HttpOptions, String> {
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
