//! `dirac-mcp` with the LHCb tool set added: how a community builds its own server. The whole
//! command line (serve, login, whoami) is dirac-mcp's; only the tool sets differ.

use std::process::ExitCode;

fn main() -> ExitCode {
    dirac_mcp::run(dirac_mcp_lhcb::extend)
}
