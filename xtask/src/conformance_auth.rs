//! The authorization-server scenarios of the MCP conformance suite (0.2.0-alpha: `authorization
//! --url <issuer>`) against rucio-mcp's OAuth bridge, part of `cargo xtask conformance`.
//!
//! The suite acts as an OAuth client registered in advance (`--oauth-clients`: its callback on a
//! free loopback port), prints the authorization URL for "the browser" and waits for the redirect
//! to its callback. `tests/e2e/clients/browser_shim.py` plays the person: consent, Rucio's sign-in
//! at the local OpenID provider, back to the suite. Needs the local Rucio with its OpenID provider
//! (`cargo xtask rucio up`); `rucio-mcp` runs in OIDC bridge mode against it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::clients;
use crate::conformance::{install_suite, wait_until};
use crate::rucio::free_port;
use crate::{cargo, root, run, target_dir};

const AUTH_SUITE_VERSION: &str = "0.2.0-alpha.12";
const CLIENT_ID: &str = "conformance-client";
const START_TIMEOUT: Duration = Duration::from_secs(60);
const SUITE_TIMEOUT: Duration = Duration::from_secs(300);

/// The env file of the running Rucio as a lookup.
fn env_value(env: &str, key: &str) -> Result<String, String> {
    env.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .map(|v| v.trim_matches('\'').to_owned())
        .ok_or_else(|| format!("the Rucio env file has no {key}: is the OpenID provider running?"))
}

/// `rucio-mcp` in bridge mode; killed when dropped.
struct Bridge(Child);

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn run_authorization(env_file: &Path) -> Result<(), String> {
    let env = std::fs::read_to_string(env_file).map_err(|_| {
        format!(
            "{} is missing: start the local Rucio with `cargo xtask rucio up`",
            env_file.display()
        )
    })?;
    let cache = target_dir().join("xtask-cache");
    let node = clients::install_node(&cache.join("node22"))?;
    let suite = install_suite(&cache.join("conformance-auth"), &node, AUTH_SUITE_VERSION)?;
    run(Command::new(cargo()).args(["build", "--quiet", "-p", "rucio-mcp"]).current_dir(root()))?;

    let work = target_dir().join("conformance-auth");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    let rucio = env_value(&env, "RUCIO_URL")?;
    let cfg = work.join("rucio.cfg");
    std::fs::write(
        &cfg,
        format!(
            "[client]\nrucio_host = {rucio}\nauth_host = {rucio}\nauth_type = oidc\noidc_scope = {}\noidc_audience = {}\n",
            env_value(&env, "OIDC_SCOPE")?,
            env_value(&env, "OIDC_AUDIENCE")?
        ),
    )
    .map_err(|e| format!("cannot write {}: {e}", cfg.display()))?;
    let callback_port = free_port()?;
    let clients_file = work.join("clients.json");
    std::fs::write(
        &clients_file,
        format!(
            r#"[{{"client_id": "{CLIENT_ID}", "client_name": "MCP conformance suite", "redirect_uris": ["http://127.0.0.1:{callback_port}/callback"]}}]"#
        ),
    )
    .map_err(|e| format!("cannot write {}: {e}", clients_file.display()))?;

    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let log = work.join("rucio-mcp.log");
    let child = Command::new(target_dir().join("debug/rucio-mcp"))
        .args(["serve", "--transport", "http", "--port", &port.to_string(), "--metrics-port", "0"])
        .args(["--resource-url", &format!("{base}/")])
        .arg("--site")
        .arg(format!("conformance={}", cfg.display()))
        .arg("--oauth-clients")
        .arg(&clients_file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(
            std::fs::File::create(&log)
                .map_err(|e| format!("cannot create {}: {e}", log.display()))?,
        )
        .spawn()
        .map_err(|e| format!("cannot start rucio-mcp: {e}"))?;
    let _bridge = Bridge(child);
    let started = std::time::Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("serving MCP over streamable HTTP")
    {
        if started.elapsed() > START_TIMEOUT {
            return Err(format!("rucio-mcp did not start; see {}", log.display()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    let issuer = format!("{base}/site/conformance");
    eprintln!(
        "xtask: running {AUTH_SUITE_VERSION}'s authorization-server scenarios against {issuer}"
    );
    let path = clients::path_with(&node)?;
    let mut suite_run = Command::new(&node)
        .arg(&suite)
        .args(["authorization", "--url", &issuer, "--client-id", CLIENT_ID])
        .args(["--resource", &format!("{issuer}/"), "--port", &callback_port.to_string()])
        .arg("--output-dir")
        .arg(work.join("results"))
        .env("PATH", &path)
        .current_dir(&work)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start the suite: {e}"))?;
    let stdout = suite_run.stdout.take().ok_or("the suite has no stdout to read")?;
    // Reads the suite's output: hands on the authorization URL, keeps everything for the summary.
    let (url_tx, url_rx) = mpsc::channel();
    let authorize = format!("{issuer}/authorize?");
    let reader = std::thread::spawn(move || {
        let mut output = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with(&authorize) {
                let _ = url_tx.send(line.clone());
            }
            output.push_str(&line);
            output.push('\n');
        }
        output
    });
    let browser = match url_rx.recv_timeout(SUITE_TIMEOUT) {
        Ok(url) => Command::new("python3")
            .arg(root().join("tests/e2e/clients/browser_shim.py"))
            .arg(&url)
            .env("KIT_PYTHON", Path::new(&env_value(&env, "RUCIO_VENV")?).join("bin/python"))
            .env(
                "BROWSER_LOGIN",
                Path::new(&env_value(&env, "RUCIO_BASE")?).join("lib/browser_login.py"),
            )
            .env("OIDC_LOGIN", env_value(&env, "OIDC_LOGIN")?)
            .output()
            .map_err(|e| format!("cannot run the browser shim: {e}"))?,
        Err(_) => {
            let _ = suite_run.kill();
            return Err("the suite printed no authorization URL".into());
        }
    };
    let status = wait_until(&mut suite_run, SUITE_TIMEOUT)?;
    let output = reader.join().map_err(|_| "the reader of the suite's output panicked")?;
    let Some(summary) = output.split("=== SUMMARY ===").nth(1).map(str::trim) else {
        println!("{output}");
        return Err(format!("the suite printed no summary ({status})"));
    };
    println!(
        "\n== {AUTH_SUITE_VERSION}: authorization-server scenarios against {issuer}\n\n{summary}"
    );
    if !browser.status.success() {
        return Err(format!(
            "the browser shim failed: {}{}",
            String::from_utf8_lossy(&browser.stdout),
            String::from_utf8_lossy(&browser.stderr)
        ));
    }
    let failed: Vec<&str> = summary.lines().filter(|l| l.starts_with('✗')).collect();
    let passed = summary.lines().filter(|l| l.starts_with('✓')).count();
    if !failed.is_empty() || passed == 0 || !status.success() {
        println!("{output}");
        return Err(format!(
            "authorization-server conformance failed ({status}): {}",
            failed.join("; ")
        ));
    }
    eprintln!("xtask: all {passed} authorization-server scenarios passed");
    Ok(())
}
