//! `mcp-auth-proxy`: a stdio MCP server on the user's machine that forwards everything to one
//! remote streamable-HTTP MCP server, signing the person in with OAuth when the remote asks. It
//! only parses flags and composes `mcp-forward` with `mcp-oauth-client`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use http::{HeaderMap, HeaderName, HeaderValue};
use mcp_cli::LogLevel;
use mcp_forward::{Credentials, ForwardConfig, NoCredentials};
use mcp_oauth_client::{LoginMode, OAuthCredentials, OAuthSettings, TokenCache};
use secrecy::SecretString;
use url::Url;

const PROGRAM: &str = "mcp-auth-proxy";

/// Put this command in your MCP client's configuration (Claude Desktop, VS Code, ...) where a
/// stdio server goes: it speaks MCP on stdin/stdout and forwards every message to the remote
/// streamable-HTTP MCP server at URL. When the remote asks for a sign-in (401), it finds the
/// remote's authorization server, opens your browser to sign you in, and keeps the tokens in a
/// private cache (refreshed before they expire), so the next start needs no sign-in.
///
/// Settings also come from the environment (the names in brackets, as authful-mcp-proxy has them)
/// and from a `.env` file in the current directory.
#[derive(Debug, Parser)]
#[command(name = PROGRAM, version, after_help = EXAMPLES)]
struct Cli {
    /// The remote MCP endpoint, e.g. `https://mcp.example.org/mcp`
    #[arg(value_name = "URL", env = "MCP_BACKEND_URL")]
    url: Url,
    /// The authorization server to sign in at [default: the one the remote names]
    #[arg(long, value_name = "URL", env = "OIDC_ISSUER_URL")]
    oidc_issuer_url: Option<Url>,
    /// The client id you were given at the authorization server (or a client metadata document
    /// URL) [default: register with the server]
    #[arg(long, value_name = "ID", env = "OIDC_CLIENT_ID")]
    oidc_client_id: Option<String>,
    /// This proxy's client metadata document (an https URL you publish): its client id at
    /// authorization servers that accept such documents, instead of registering
    #[arg(long, value_name = "URL", env = "OIDC_CLIENT_METADATA_URL")]
    oidc_client_metadata_url: Option<Url>,
    /// The client's secret, for a confidential client (better in the environment or `.env`)
    #[arg(long, value_name = "SECRET", env = "OIDC_CLIENT_SECRET", hide_env_values = true)]
    oidc_client_secret: Option<String>,
    /// Scopes to ask for, separated by spaces or commas [default: what the remote asks for]
    #[arg(long, value_name = "SCOPES", env = "OIDC_SCOPES")]
    oidc_scopes: Option<String>,
    /// Where the browser comes back after the sign-in: an http:// loopback URL this proxy listens
    /// on (port 0: any free port)
    #[arg(
        long,
        value_name = "URL",
        env = "OIDC_REDIRECT_URL",
        default_value = "http://127.0.0.1:0/callback"
    )]
    oidc_redirect_url: Url,
    /// Sign in with the device flow (a link and a code to confirm anywhere), for machines
    /// without a browser
    #[arg(long, conflicts_with = "no_browser")]
    device_code: bool,
    /// Print the sign-in link instead of opening a browser
    #[arg(long)]
    no_browser: bool,
    /// Forget (and revoke) the tokens kept for URL, then exit
    #[arg(long)]
    logout: bool,
    /// Where tokens are kept [default: mcp-auth-proxy in your config directory]
    #[arg(long, value_name = "DIR", env = "MCP_AUTH_PROXY_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// A header sent with every request to the remote, as `Name: value` (repeatable); with
    /// `--header "Authorization: Bearer …"` (a server with a shared secret) nobody is signed in
    #[arg(long = "header", short = 'H', value_name = "NAME:VALUE", value_parser = parse_header)]
    headers: Vec<(HeaderName, HeaderValue)>,
    /// How long the remote may take to answer `initialize` and notifications, in seconds
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    timeout: u64,
    /// Do not print the start-up line on stderr
    #[arg(long)]
    no_banner: bool,
    /// Print errors only
    #[arg(long, conflicts_with = "debug")]
    silent: bool,
    /// Print what is forwarded (methods and HTTP statuses; never a token)
    #[arg(long, env = "MCP_PROXY_DEBUG", value_parser = clap::builder::FalseyValueParser::new())]
    debug: bool,
}

const EXAMPLES: &str = "Example (Claude Desktop's claude_desktop_config.json):
  \"mcpServers\": {\"remote\": {\"command\": \"mcp-auth-proxy\", \"args\": [\"https://mcp.example.org/mcp\"]}}";

fn parse_header(raw: &str) -> Result<(HeaderName, HeaderValue), String> {
    let (name, value) =
        raw.split_once(':').ok_or("expected `Name: value` (a colon between name and value)")?;
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| format!("{:?} is not a header name", name.trim()))?;
    let mut value = HeaderValue::from_str(value.trim())
        .map_err(|_| format!("the value of {name} is not a valid header value"))?;
    value.set_sensitive(true);
    Ok((name, value))
}

fn main() -> ExitCode {
    // Values already in the environment win over the file's.
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    if !matches!(cli.url.scheme(), "https" | "http") {
        return mcp_cli::fail(PROGRAM, &format!("{}: the remote must be an http(s) URL", cli.url));
    }
    let level = if cli.debug {
        LogLevel::Debug
    } else if cli.silent {
        LogLevel::Error
    } else {
        LogLevel::Info
    };
    mcp_cli::init_logging_of(level, &["mcp_forward", "mcp_oauth_client", "mcp_auth_proxy"]);
    // Not from the environment or `.env` (dotenvy put those there): from the command line.
    if cli.oidc_client_secret.is_some() && std::env::var_os("OIDC_CLIENT_SECRET").is_none() {
        tracing::warn!(
            "--oidc-client-secret on the command line is visible to other users of this machine; \
             set OIDC_CLIENT_SECRET in the environment or in .env instead"
        );
    }
    if !cli.no_banner && !cli.silent && !cli.logout {
        #[allow(clippy::print_stderr)]
        {
            eprintln!("{PROGRAM} {}: forwarding stdio to {}", env!("CARGO_PKG_VERSION"), cli.url);
        }
    }
    mcp_cli::run_async(PROGRAM, run(cli))
}

async fn run(cli: Cli) -> Result<(), String> {
    let user_agent = concat!("mcp-auth-proxy/", env!("CARGO_PKG_VERSION"));
    let builder = outbound_http::client_builder(user_agent).map_err(|e| e.to_string())?;
    let client = ForwardConfig::client(builder).map_err(|e| e.to_string())?;
    let mut headers = HeaderMap::new();
    for (name, value) in &cli.headers {
        headers.append(name.clone(), value.clone());
    }
    let credentials: Arc<dyn Credentials> = if headers.contains_key(http::header::AUTHORIZATION) {
        Arc::new(NoCredentials)
    } else {
        let oauth = OAuthCredentials::new(
            oauth_settings(&cli)?,
            cache(cli.cache_dir.clone())?,
            client.clone(),
        );
        if cli.logout {
            let forgotten = oauth.logout().await;
            #[allow(clippy::print_stderr)]
            {
                eprintln!("{PROGRAM}: forgot {forgotten} sign-in(s) for {}", cli.url);
            }
            return Ok(());
        }
        Arc::new(oauth)
    };
    let config = ForwardConfig {
        url: cli.url,
        headers,
        client,
        answer_timeout: Duration::from_secs(cli.timeout.max(1)),
    };
    mcp_forward::forward(config, credentials, tokio::io::stdin(), tokio::io::stdout())
        .await
        .map_err(|e| e.to_string())
}

fn oauth_settings(cli: &Cli) -> Result<OAuthSettings, String> {
    let mode = if cli.device_code {
        LoginMode::Device
    } else if cli.no_browser {
        LoginMode::Link
    } else {
        LoginMode::Browser
    };
    let scopes = cli.oidc_scopes.as_ref().map(|s| {
        s.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    });
    if let Some(url) = cli.oidc_client_metadata_url.as_ref().filter(|u| u.scheme() != "https") {
        return Err(format!(
            "--oidc-client-metadata-url {url}: a client metadata document is an https URL"
        ));
    }
    Ok(OAuthSettings {
        backend: cli.url.clone(),
        issuer: cli.oidc_issuer_url.as_ref().map(|u| u.as_str().trim_end_matches('/').to_owned()),
        client_id: cli.oidc_client_id.clone(),
        client_secret: cli.oidc_client_secret.clone().map(SecretString::from),
        client_metadata_url: cli.oidc_client_metadata_url.as_ref().map(|u| u.to_string()),
        scopes,
        redirect: cli.oidc_redirect_url.clone(),
        mode,
        client_name: PROGRAM.to_owned(),
    })
}

fn cache(dir: Option<PathBuf>) -> Result<TokenCache, String> {
    let dir = dir.or_else(TokenCache::default_dir).ok_or(
        "no config directory to keep tokens in (set --cache-dir or MCP_AUTH_PROXY_CACHE_DIR)",
    )?;
    Ok(TokenCache::new(dir))
}
