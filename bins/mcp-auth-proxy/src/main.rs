//! `mcp-auth-proxy`: a stdio MCP server on the user's machine that forwards everything to one
//! remote streamable-HTTP MCP server. It only parses flags and composes `mcp-forward`.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use http::{HeaderMap, HeaderName, HeaderValue};
use mcp_cli::LogLevel;
use mcp_forward::{ForwardConfig, NoCredentials};
use url::Url;

const PROGRAM: &str = "mcp-auth-proxy";

/// Put this command in your MCP client's configuration (Claude Desktop, VS Code, ...) where a
/// stdio server goes: it speaks MCP on stdin/stdout and forwards every message to the remote
/// streamable-HTTP MCP server at URL, keeping the remote session alive for the client (a session
/// the remote forgets is opened again without the client noticing).
///
/// Settings also come from the environment and from a `.env` file in the current directory.
#[derive(Debug, Parser)]
#[command(name = PROGRAM, version, after_help = EXAMPLES)]
struct Cli {
    /// The remote MCP endpoint, e.g. https://mcp.example.org/mcp
    #[arg(value_name = "URL", env = "MCP_BACKEND_URL")]
    url: Url,
    /// A header sent with every request to the remote, as `Name: value` (repeatable), e.g.
    /// `--header "Authorization: Bearer …"` for a server with a shared secret
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
        LogLevel::Warning
    };
    mcp_cli::init_logging_of(level, &["mcp_forward", "mcp_auth_proxy"]);
    if !cli.no_banner && !cli.silent {
        #[allow(clippy::print_stderr)]
        {
            eprintln!("{PROGRAM} {}: forwarding stdio to {}", env!("CARGO_PKG_VERSION"), cli.url);
        }
    }
    mcp_cli::run_async(PROGRAM, run(cli))
}

async fn run(cli: Cli) -> Result<(), String> {
    let mut headers = HeaderMap::new();
    for (name, value) in cli.headers {
        headers.append(name, value);
    }
    let builder =
        outbound_http::client_builder(concat!("mcp-auth-proxy/", env!("CARGO_PKG_VERSION")))
            .map_err(|e| e.to_string())?;
    let config = ForwardConfig {
        url: cli.url,
        headers,
        client: ForwardConfig::client(builder).map_err(|e| e.to_string())?,
        answer_timeout: Duration::from_secs(cli.timeout.max(1)),
    };
    mcp_forward::forward(config, Arc::new(NoCredentials), tokio::io::stdin(), tokio::io::stdout())
        .await
        .map_err(|e| e.to_string())
}
