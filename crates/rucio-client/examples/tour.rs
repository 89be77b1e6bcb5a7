//! A short tour of a Rucio instance through `rucio-client`: who am I, which RSEs, which datasets,
//! where are their replicas, which rules keep them. `cargo xtask demo` runs it on the local Rucio.
//!
//! `RUCIO_CONFIG=path/to/rucio.cfg cargo run -p rucio-client --example tour -- SCOPE`
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
    let scope = std::env::args().nth(1).unwrap_or_else(|| "data24".to_owned());
    let client = RucioClient::new(RucioConfig::load()?)?;

    let server = client.ping().await?;
    let me = client.whoami().await?;
    println!(
        "Rucio {} at {}, signed in as {} ({})",
        server.version,
        client.config().rucio_host,
        me.account,
        me.account_type.unwrap_or_default()
    );

    let rses: Vec<_> = client.list_rses(None).await?.try_collect().await?;
    println!("\nRSEs: {}", rses.iter().map(|r| r.rse.as_str()).collect::<Vec<_>>().join(", "));

    println!("\nDatasets in scope {scope}:");
    let datasets: Vec<_> = client
        .list_dids_long(&scope, &[("name", "*")], DidSearchType::Dataset, false, Some(20))
        .await?
        .try_collect()
        .await?;
    for ds in &datasets {
        let did = Did::new(&ds.scope, &ds.name)?;
        // `dynamic` counts the files of open datasets too.
        let info = client.get_did(&did, true).await?;
        let replicas: Vec<_> =
            client.list_dataset_replicas(&did, true).await?.try_collect().await?;
        let rules: Vec<_> = client.list_did_rules(&did).await?.try_collect().await?;
        let state = if info.open == Some(true) { "open" } else { "closed" };
        println!(
            "  {did}  {state}, {} files, {} bytes",
            info.length.unwrap_or(0),
            info.bytes.unwrap_or(0)
        );
        for r in replicas {
            println!(
                "    replica at {:<12} {}/{} files available",
                r.rse,
                r.available_length.unwrap_or(0),
                r.length.unwrap_or(0)
            );
        }
        for rule in rules {
            println!("    rule {} -> {:<12} {}", rule.id, rule.rse_expression, rule.state);
        }
    }
    Ok(())
}
