//! `dirac-mcp`: the MCP server for DiracX (the command line is in the library, `lib.rs`).

use std::process::ExitCode;

/// jemalloc returns freed memory to the system (see rucio-mcp).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    dirac_mcp::run(dirac_mcp::no_extensions)
}
