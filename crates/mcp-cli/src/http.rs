//! The flags of `--transport http` that `rucio-mcp` and `dirac-mcp` share (listening, public
//! URL, proxies, metrics, sessions, shared secret, the OAuth bridge's keys, store and clients),
//! and the settings they give.
//!
//! Their environment variables are written `MCP_…` here; [`with_env_prefix`] gives them the
//! binary's prefix (`RUCIO_MCP_…`, `DIRAC_MCP_…`) before parsing.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use mcp_oauth_bridge::{IntrospectionClient, KeySet, ResourceServerConfig, StaticClient};
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

/// How clients prove who they are over HTTP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMode {
    /// Many users: this server is their OAuth authorization server and signs each in at the
    /// backend's own login (the default without a shared secret)
    Bridge,
    /// One robot identity: every request carries the same static bearer (the default with
    /// --shared-secret)
    SharedSecret,
    /// Many users with tokens of an existing authorization server (--issuer): this server only
    /// checks them
    ResourceServer,
}

/// Options of `--transport http`.
#[derive(Debug, Args)]
#[command(next_help_heading = "HTTP transport")]
pub struct HttpArgs {
    /// How clients authenticate [default: shared-secret with a secret, else bridge]
    #[arg(long, value_enum, value_name = "MODE", env = "MCP_AUTH")]
    pub auth: Option<AuthMode>,
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
    #[arg(long, value_name = "ADDR", env = "MCP_HOST")]
    pub host: Option<IpAddr>,
    /// Port to listen on; 0 picks a free one [default: 8000]
    #[arg(long, env = "MCP_PORT")]
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
    #[arg(long, env = "MCP_METRICS_PORT")]
    pub metrics_port: Option<u16>,
    /// Address of the /metrics endpoint [default: 127.0.0.1]
    #[arg(long, value_name = "ADDR", env = "MCP_METRICS_HOST")]
    pub metrics_host: Option<IpAddr>,
    /// Seconds a shutdown (SIGTERM, Ctrl-C) waits for running tool calls [default: 30]
    #[arg(long, value_name = "SECONDS", env = "MCP_SHUTDOWN_GRACE")]
    pub shutdown_grace: Option<u64>,
    /// Seconds without requests after which an MCP session is forgotten [default: 1800]
    #[arg(long, value_name = "SECONDS", env = "MCP_SESSION_IDLE_TIMEOUT")]
    pub session_idle_timeout: Option<u64>,
    /// Seconds after its last request before an idle MCP session sleeps: it keeps a few hundred
    /// bytes instead of its worker and wakes unnoticed at its next request. Running calls keep it
    /// awake; a session that only did its handshake sleeps at once [default: 5]
    #[arg(long, value_name = "SECONDS", env = "MCP_SESSION_SLEEP_AFTER")]
    pub session_sleep_after: Option<u64>,
    #[command(flatten)]
    pub bridge: BridgeArgs,
    #[command(flatten)]
    pub resource_server: ResourceServerArgs,
}

/// Options of resource-server mode (`--auth resource-server`).
#[derive(Debug, Args)]
#[command(
    next_help_heading = "Resource-server mode (HTTP, tokens of an existing authorization server)"
)]
pub struct ResourceServerArgs {
    /// The authorization server whose access tokens are accepted (its `iss`, e.g.
    /// `https://keycloak.example.org/realms/lab`) [default: from AUTH_HOST, AUTH_PORT and
    /// AUTH_REALM, a Keycloak realm]
    #[arg(long, value_name = "URL", env = "MCP_ISSUER")]
    pub issuer: Option<String>,
    /// The audience tokens must carry [default: the site's resource URL, RFC 8707]
    #[arg(long, value_name = "AUDIENCE", env = "MCP_AUDIENCE")]
    pub audience: Option<String>,
    /// This server's client at the issuer, to introspect opaque tokens (RFC 7662) [default:
    /// OAUTH_CLIENT_ID]; without it only JWT access tokens are accepted
    #[arg(long, value_name = "ID", env = "MCP_INTROSPECTION_CLIENT_ID")]
    pub introspection_client_id: Option<String>,
    /// A file holding that client's secret [default: the secret in OAUTH_CLIENT_SECRET]
    #[arg(long, value_name = "PATH", env = "MCP_INTROSPECTION_CLIENT_SECRET_FILE")]
    pub introspection_client_secret_file: Option<PathBuf>,
    /// Scopes every token must have (comma-separated; 403 insufficient_scope without them)
    /// [default: MCP_SCOPE]
    #[arg(long, value_name = "SCOPES", value_delimiter = ',', env = "MCP_REQUIRED_SCOPE")]
    pub required_scope: Vec<String>,
    /// Seconds a token that passed is taken again without asking the issuer; a revoked token
    /// is refused at most this long after (0: introspect every request) [default: 60]
    #[arg(long, value_name = "SECONDS", env = "MCP_INTROSPECTION_CACHE_TTL")]
    pub introspection_cache_ttl: Option<u64>,
    /// Also introspect JWT access tokens that verify locally, so that a revoked one is refused
    /// within the cache time instead of at its expiry
    #[arg(long, env = "MCP_INTROSPECT_JWTS")]
    pub introspect_jwts: bool,
    /// Seconds a token is still taken after its `exp` (or before its `nbf`), for clocks that
    /// drift [default: 30]
    #[arg(long, value_name = "SECONDS", env = "MCP_CLOCK_LEEWAY")]
    pub clock_leeway: Option<u64>,
}

/// The issuer of a Keycloak realm from the environment of the minimal Python MCP auth server
/// (`AUTH_HOST`, `AUTH_PORT`, `AUTH_REALM`): https on port 443, else http, as that design runs
/// Keycloak locally.
fn keycloak_issuer(env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let host = env("AUTH_HOST")?;
    let realm = env("AUTH_REALM")?;
    let port = env("AUTH_PORT");
    let (scheme, authority) = match port.as_deref() {
        None | Some("443") => ("https", host),
        Some(port) => ("http", format!("{host}:{port}")),
    };
    Some(format!("{scheme}://{authority}/realms/{realm}"))
}

impl ResourceServerArgs {
    pub fn given(&self) -> Vec<&'static str> {
        let flags: [(&'static str, bool); 8] = [
            ("--issuer", self.issuer.is_some()),
            ("--clock-leeway", self.clock_leeway.is_some()),
            ("--audience", self.audience.is_some()),
            ("--introspection-client-id", self.introspection_client_id.is_some()),
            ("--introspection-client-secret-file", self.introspection_client_secret_file.is_some()),
            ("--required-scope", !self.required_scope.is_empty()),
            ("--introspection-cache-ttl", self.introspection_cache_ttl.is_some()),
            ("--introspect-jwts", self.introspect_jwts),
        ];
        flags.into_iter().filter(|(_, present)| *present).map(|(flag, _)| flag).collect()
    }

    /// The checks every site shares (its site and resource URL are set per site with
    /// [`ResourceServerConfig::for_site`]): the flags first, then the environment names of the
    /// minimal Python MCP auth server.
    pub fn settings(&self) -> Result<ResourceServerConfig, String> {
        self.settings_with(&|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    }

    fn settings_with(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ResourceServerConfig, String> {
        let issuer = self.issuer.clone().or_else(|| keycloak_issuer(env)).ok_or(
            "resource-server mode needs --issuer URL (the authorization server whose tokens are accepted), or AUTH_HOST, AUTH_PORT and AUTH_REALM for a Keycloak realm",
        )?;
        let issuer = issuer.trim().to_owned();
        let parsed =
            url::Url::parse(&issuer).map_err(|e| format!("--issuer {issuer}: not a URL ({e})"))?;
        if !matches!(parsed.scheme(), "https" | "http") || !parsed.has_host() {
            return Err(format!("--issuer {issuer}: an http(s) URL with a host is needed"));
        }
        let client_id = self.introspection_client_id.clone().or_else(|| env("OAUTH_CLIENT_ID"));
        let secret = match &self.introspection_client_secret_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| {
                        format!(
                            "cannot read --introspection-client-secret-file {}: {e}",
                            path.display()
                        )
                    })?
                    .trim()
                    .to_owned(),
            ),
            None => env("OAUTH_CLIENT_SECRET").map(|s| s.trim().to_owned()),
        };
        let introspection = match (client_id, secret) {
            (Some(client_id), Some(secret)) if !secret.is_empty() => {
                Some(IntrospectionClient { client_id, client_secret: SecretString::from(secret) })
            }
            (Some(_), _) => {
                return Err("--introspection-client-id needs the client's secret: --introspection-client-secret-file PATH (or OAUTH_CLIENT_SECRET)".into());
            }
            (None, Some(_)) if self.introspection_client_secret_file.is_some() => {
                return Err(
                    "--introspection-client-secret-file needs --introspection-client-id".into()
                );
            }
            (None, _) => None,
        };
        if self.introspect_jwts && introspection.is_none() {
            return Err("--introspect-jwts needs introspection credentials (--introspection-client-id and --introspection-client-secret-file)".into());
        }
        let mut required_scopes: Vec<String> = self
            .required_scope
            .iter()
            .flat_map(|s| s.split_whitespace())
            .map(str::to_owned)
            .collect();
        if required_scopes.is_empty()
            && let Some(scope) = env("MCP_SCOPE")
        {
            required_scopes = scope.split_whitespace().map(str::to_owned).collect();
        }
        let placeholder = url::Url::parse("http://127.0.0.1/").map_err(|e| e.to_string())?;
        let mut template = ResourceServerConfig::new("", issuer, placeholder);
        template.audience = self.audience.clone();
        template.required_scopes = required_scopes;
        template.introspection = introspection;
        template.introspect_jwts = self.introspect_jwts;
        if let Some(ttl) = self.introspection_cache_ttl {
            template.cache_ttl = Duration::from_secs(ttl);
        }
        if let Some(leeway) = self.clock_leeway {
            template.leeway = Duration::from_secs(leeway);
        }
        Ok(template)
    }
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
        let auth = self.auth.is_some().then_some("--auth");
        given.chain(auth).chain(self.bridge.given()).chain(self.resource_server.given()).collect()
    }

    /// The authentication mode: `--auth`, else shared-secret when a secret is given, else the
    /// bridge; refuses flags of another mode.
    pub fn mode(&self) -> Result<AuthMode, String> {
        let secret = self.shared_secret.is_some() || self.shared_secret_file.is_some();
        let mode =
            self.auth.unwrap_or(if secret { AuthMode::SharedSecret } else { AuthMode::Bridge });
        let foreign = |flags: Vec<&'static str>, mode: &str| {
            if flags.is_empty() {
                return Ok(());
            }
            let verb = if flags.len() == 1 { "is" } else { "are" };
            Err(format!("{} {verb} only for {mode}", flags.join(", ")))
        };
        if mode != AuthMode::SharedSecret && secret {
            return Err(format!(
                "--shared-secret is only for --auth shared-secret, not {}",
                mode.to_possible_value().map(|v| v.get_name().to_owned()).unwrap_or_default()
            ));
        }
        if mode == AuthMode::SharedSecret && !secret {
            return Err("--auth shared-secret needs --shared-secret-file PATH (or the secret in the environment)".into());
        }
        if mode != AuthMode::Bridge {
            foreign(self.bridge.given(), "OIDC bridge mode (--auth bridge)")?;
        }
        if mode != AuthMode::ResourceServer {
            foreign(self.resource_server.given(), "resource-server mode (--auth resource-server)")?;
        }
        Ok(mode)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use clap::Parser;
    use secrecy::ExposeSecret as _;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        http: HttpArgs,
    }

    fn parse(args: &[&str]) -> HttpArgs {
        Cli::try_parse_from(std::iter::once("test").chain(args.iter().copied())).unwrap().http
    }

    #[test]
    fn the_mode_follows_the_flags_and_refuses_those_of_another() {
        assert_eq!(parse(&[]).mode().unwrap(), AuthMode::Bridge);
        assert_eq!(parse(&["--shared-secret", "x"]).mode().unwrap(), AuthMode::SharedSecret);
        let rs = parse(&["--auth", "resource-server", "--issuer", "https://idp.example"]);
        assert_eq!(rs.mode().unwrap(), AuthMode::ResourceServer);
        let err = parse(&["--issuer", "https://idp.example"]).mode().unwrap_err();
        assert!(err.contains("--issuer is only for resource-server mode"), "{err}");
        let err = parse(&["--auth", "resource-server", "--redis-url", "redis://r"]).mode();
        assert!(err.unwrap_err().contains("--redis-url is only for OIDC bridge mode"));
        let err = parse(&["--auth", "resource-server", "--shared-secret", "x"]).mode();
        assert!(err.unwrap_err().contains("not resource-server"));
        assert!(parse(&["--auth", "shared-secret"]).mode().is_err());
    }

    #[test]
    fn resource_server_settings_take_the_seed_environment() {
        let env = |name: &str| {
            let value = match name {
                "AUTH_HOST" => "localhost",
                "AUTH_PORT" => "8080",
                "AUTH_REALM" => "master",
                "OAUTH_CLIENT_ID" => "mcp-server",
                "OAUTH_CLIENT_SECRET" => "s3cret",
                "MCP_SCOPE" => "mcp:tools mcp:read",
                _ => return None,
            };
            Some(value.to_owned())
        };
        let args = parse(&["--auth", "resource-server"]).resource_server;
        let config = args.settings_with(&env).unwrap();
        assert_eq!(config.issuer, "http://localhost:8080/realms/master");
        let client = config.introspection.unwrap();
        assert_eq!(client.client_id, "mcp-server");
        assert_eq!(client.client_secret.expose_secret(), "s3cret");
        assert_eq!(config.required_scopes, ["mcp:tools", "mcp:read"]);
        assert_eq!(config.cache_ttl, Duration::from_secs(60));

        let args = parse(&[
            "--issuer",
            "https://sso.example/realms/lab",
            "--required-scope",
            "a,b",
            "--introspection-cache-ttl",
            "0",
        ])
        .resource_server;
        let config = args.settings_with(&env).unwrap();
        assert_eq!(config.issuer, "https://sso.example/realms/lab");
        assert_eq!(config.required_scopes, ["a", "b"]);
        assert!(config.cache_ttl.is_zero());

        let none = |_: &str| None;
        let err = parse(&[]).resource_server.settings_with(&none).unwrap_err();
        assert!(err.contains("needs --issuer"), "{err}");
        let args = parse(&["--issuer", "https://i.example", "--introspection-client-id", "x"]);
        assert!(args.resource_server.settings_with(&none).unwrap_err().contains("secret"));
        let args = parse(&["--issuer", "https://i.example", "--introspect-jwts"]);
        assert!(args.resource_server.settings_with(&none).is_err());
        let args = parse(&["--issuer", "ftp://i.example"]);
        assert!(args.resource_server.settings_with(&none).is_err());
    }
}
