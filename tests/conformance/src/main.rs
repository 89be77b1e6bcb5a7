//! `conformance-server`: serves the conformance suite's fixtures ([`ConformanceServer`]) over MCP
//! streamable HTTP at `http://HOST:PORT/site/conformance/`, for `cargo xtask conformance`.
//!
//! It is served through `mcp-transports` with the same layer stack as `rucio-mcp` (Host and
//! Origin validation, limits, metrics), only without a bearer check. Once bound it prints
//! `listening on http://HOST:PORT/site/conformance/` to stderr; `--port 0` picks a free port.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use clap::Parser;
use conformance_server::ConformanceServer;
use mcp_transports::{HttpOptions, HttpServer, Site};

/// The site the fixtures are mounted as: `/site/conformance/`.
const SITE: &str = "conformance";

#[derive(Parser, Debug)]
#[command(name = "conformance-server", about = "The MCP conformance suite's fixture server")]
struct Args {
    /// The address to listen on
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,
    /// The port to listen on (0: any free port)
    #[arg(long, default_value_t = 0)]
    port: u16,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    match serve(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("conformance-server: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(args: Args) -> Result<(), String> {
    let options = HttpOptions {
        listen: SocketAddr::new(args.host, args.port),
        metrics_listen: None,
        ..HttpOptions::default()
    };
    // The fixed tool list is served as rucio-mcp serves its own, so the suite checks that path.
    let tool_list = rmcp::model::ListToolsResult::with_all_items(conformance_server::tools());
    let site = Site::new(SITE, ConformanceServer::new())
        .with_tool_list(&tool_list)
        .map_err(|e| e.to_string())?
        .with_description("The MCP conformance suite's fixtures (no authentication: test build)");
    let listening = HttpServer::new(options, "conformance-server", env!("CARGO_PKG_VERSION"))
        .site(site)
        .bind()
        .await
        .map_err(|e| e.to_string())?;
    let base = listening.resource_url().as_str().trim_end_matches('/').to_owned();
    eprintln!("listening on {base}/site/{SITE}/");
    listening.serve(mcp_transports::shutdown_signal()).await.map_err(|e| e.to_string())
}
