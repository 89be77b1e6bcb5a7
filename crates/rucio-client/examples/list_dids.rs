//! Lists DIDs matching a pattern, as the README shows.
//!
//! `RUCIO_CONFIG=path/to/rucio.cfg cargo run -p rucio-client --example list_dids -- 'data24:*'`
#![allow(clippy::print_stdout)] // printing is this example's job

use futures_util::TryStreamExt;
use rucio_client::{Did, DidSearchType, RucioClient, RucioConfig};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let pattern = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "data24:*".to_owned());
    let did = Did::parse(&pattern)?;
    let client = RucioClient::new(RucioConfig::load()?)?;
    let mut dids = client
        .list_dids_long(
            did.scope(),
            &[("name", did.name())],
            DidSearchType::All,
            false,
            None,
        )
        .await?;
    while let Some(d) = dids.try_next().await? {
        println!(
            "{:<10} {}:{}  {} bytes",
            d.did_type,
            d.scope,
            d.name,
            d.bytes.map_or("-".to_owned(), |b| b.to_string())
        );
    }
    Ok(())
}
