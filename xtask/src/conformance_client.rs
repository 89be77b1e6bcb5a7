//! The client scenarios of the MCP conformance suite (`conformance client`) played by
//! `mcp-auth-proxy`, part of `cargo xtask conformance`.
//!
//! For each scenario the suite starts its own MCP server (and authorization server) and runs
//! `tests/conformance/clients/auth_proxy_client.py URL`, which starts the proxy on that URL and
//! drives it over stdio with the Python MCP SDK: every HTTP request and OAuth step the suite checks
//! is the proxy's. Scenarios run one after another (in parallel, the timing checks of `sse-retry`
//! warn on a busy machine). A failed check fails the step; warnings are shown. Left out: the
//! machine-to-machine extensions (`client-credentials-*`, `cross-app-access-*`), which a proxy
//! signing in a person does not offer.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::clients;
use crate::conformance::{install_suite, wait_until};
use crate::{cargo, root, run, target_dir};

const SUITE_VERSION: &str = "0.1.16";
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(120);
const SCENARIOS: &[&str] = &[
    "initialize",
    "tools_call",
    "elicitation-sep1034-client-defaults",
    "sse-retry",
    "auth/metadata-default",
    "auth/metadata-var1",
    "auth/metadata-var2",
    "auth/metadata-var3",
    "auth/basic-cimd",
    "auth/scope-from-www-authenticate",
    "auth/scope-from-scopes-supported",
    "auth/scope-omitted-when-undefined",
    "auth/scope-step-up",
    "auth/scope-retry-limit",
    "auth/token-endpoint-auth-basic",
    "auth/token-endpoint-auth-post",
    "auth/token-endpoint-auth-none",
    "auth/pre-registration",
    "auth/2025-03-26-oauth-metadata-backcompat",
    "auth/2025-03-26-oauth-endpoint-fallback",
    "auth/resource-mismatch",
    "auth/offline-access-scope",
    "auth/offline-access-not-supported",
];

pub(crate) fn run_client_scenarios() -> Result<(), String> {
    let cache = target_dir().join("xtask-cache");
    clients::install()?;
    let node = clients::install_node(&cache.join("node22"))?;
    let suite = install_suite(&cache.join("conformance"), &node, SUITE_VERSION)?;
    run(Command::new(cargo())
        .args(["build", "--quiet", "-p", "mcp-auth-proxy"])
        .current_dir(root()))?;
    let python = cache.join("mcp-venv/bin/python");
    let driver = root().join("tests/conformance/clients/auth_proxy_client.py");
    let command = format!("{} {}", python.display(), driver.display());
    let proxy = target_dir().join("debug/mcp-auth-proxy");
    let results = target_dir().join("conformance-client");
    let _ = std::fs::remove_dir_all(&results);
    eprintln!(
        "xtask: {} client scenarios of the conformance suite {SUITE_VERSION}, played by mcp-auth-proxy",
        SCENARIOS.len()
    );
    let mut failed = Vec::new();
    let mut warned = Vec::new();
    for scenario in SCENARIOS {
        let outcome = run_scenario(&node, &suite, &command, &proxy, scenario, &results)?;
        let line = format!("{scenario}: {}", outcome.summary);
        if !outcome.passed {
            println!("✗ {line}\n{}", outcome.output);
            failed.push(*scenario);
        } else if outcome.warnings {
            println!("! {line}");
            warned.push(*scenario);
        } else {
            println!("✓ {line}");
        }
    }
    println!("\nThe checks of each scenario: {}", results.display());
    if !warned.is_empty() {
        eprintln!("xtask: warnings (not failures) in: {}", warned.join(", "));
    }
    if !failed.is_empty() {
        return Err(format!(
            "{} of {} client scenarios failed: {}",
            failed.len(),
            SCENARIOS.len(),
            failed.join(", ")
        ));
    }
    eprintln!("xtask: all {} client scenarios passed through mcp-auth-proxy", SCENARIOS.len());
    Ok(())
}

struct Outcome {
    passed: bool,
    warnings: bool,
    summary: String,
    output: String,
}

fn run_scenario(
    node: &Path,
    suite: &Path,
    command: &str,
    proxy: &Path,
    scenario: &str,
    results: &Path,
) -> Result<Outcome, String> {
    let out_dir = target_dir().join("tmp").join("conformance-client-out");
    let _ = std::fs::create_dir_all(&out_dir);
    let mut child = Command::new(node)
        .arg(suite)
        .args(["client", "--command", command, "--scenario", scenario, "--output-dir"])
        .arg(results)
        .env("PATH", clients::path_with(node)?)
        .env("MCP_AUTH_PROXY", proxy)
        .current_dir(target_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::from(
            std::fs::File::create(out_dir.join("stdout")).map_err(|e| e.to_string())?,
        ))
        .stderr(Stdio::from(
            std::fs::File::create(out_dir.join("stderr")).map_err(|e| e.to_string())?,
        ))
        .spawn()
        .map_err(|e| format!("cannot start the suite: {e}"))?;
    let status = wait_until(&mut child, SCENARIO_TIMEOUT)?;
    let output = ["stdout", "stderr"]
        .iter()
        .map(|f| std::fs::read_to_string(out_dir.join(f)).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    // `Passed: 13/13, 0 failed, 0 warnings`
    let summary = output
        .lines()
        .find_map(|l| l.trim().strip_prefix("Passed: "))
        .map(str::to_owned)
        .unwrap_or_else(|| format!("no result ({status})"));
    let count = |what: &str| {
        summary.split(", ").find_map(|part| part.strip_suffix(what)?.trim().parse::<u32>().ok())
    };
    let failures = count(" failed");
    Ok(Outcome {
        passed: failures == Some(0),
        warnings: count(" warnings").is_some_and(|n| n > 0),
        summary,
        output,
    })
}
