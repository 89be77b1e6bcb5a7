// Printing the listing and cfg text to stdout is this command's job. The MCP
// stdio server, when it lands, will route stdout carefully on its own.
#![allow(clippy::print_stdout)]

//! `rucio-mcp`: the command-line entry point. Thin by design: it parses
//! arguments and prints; the substance lives in the library crates.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use site_presets::{DEFAULT_PRESET, Preset};

/// MCP server for Rucio data management.
///
/// Lets AI assistants find, inspect and manage data in a Rucio instance
/// through the Model Context Protocol.
#[derive(Debug, Parser)]
#[command(name = "rucio-mcp", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the built-in site presets, or print one preset's rucio.cfg.
    Sites {
        /// Preset to print (case-insensitive); lists all presets when omitted.
        name: Option<String>,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Sites { name: None } => {
            print!("{}", sites_table(site_presets::all()));
            ExitCode::SUCCESS
        }
        Command::Sites { name: Some(name) } => match site_presets::find(&name) {
            Ok(preset) => {
                print!("{}", preset.rucio_cfg);
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("rucio-mcp: {err}");
                ExitCode::from(2)
            }
        },
    }
}

/// Renders the presets as an aligned table, marking the default with `*`.
fn sites_table(presets: &[Preset]) -> String {
    let header = ["NAME", "AUTH", "MULTI-USER HTTP", "DESCRIPTION"];
    let rows: Vec<[String; 4]> = presets
        .iter()
        .map(|p| {
            let marker = if p.name == DEFAULT_PRESET { " *" } else { "" };
            let auth: Vec<&str> = p.auth_types.iter().map(|a| a.as_str()).collect();
            [
                format!("{}{marker}", p.name),
                auth.join(","),
                if p.multi_user_http { "yes" } else { "no" }.to_owned(),
                p.description.to_owned(),
            ]
        })
        .collect();

    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }

    let mut out = String::new();
    let header = header.map(str::to_owned);
    for row in std::iter::once(&header).chain(&rows) {
        let [name, auth, multi, desc] = row;
        out.push_str(&format!(
            "{name:<w0$}  {auth:<w1$}  {multi:<w2$}  {desc}\n",
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
        ));
    }
    out.push_str("\n* default site\n");
    out
}
