//! `serve --config FILE` and `config check|show`: every example in `deploy/examples/` reads, its
//! keys are taken from the file, layered under the environment and the flags; unknown keys and
//! wrong types are refused with the key and the file named; `config check` follows the files a
//! configuration names and says what would be served; a server starts from a file alone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use e2e_tests::{dirac_mcp_binary, rucio_mcp_binary};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/examples")
}

/// `binary args…` with a clean environment of its own prefix.
fn run(binary: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(binary);
    for (key, _) in std::env::vars() {
        if key.starts_with("RUCIO_MCP_") || key.starts_with("DIRAC_MCP_") || key == "DIRACX_URL" {
            command.env_remove(key);
        }
    }
    command.args(args).envs(env.iter().copied()).output().unwrap()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// The top-level and section keys of a TOML example (what the file sets).
fn keys_of(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.starts_with('[') && l.contains('='))
        .map(|l| l.split('=').next().unwrap().trim().to_owned())
        .collect()
}

#[test]
fn every_example_reads_and_each_of_its_keys_is_taken() {
    let mut seen = 0;
    for entry in std::fs::read_dir(examples()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let binary = match name.split_once("-mcp-") {
            Some(("rucio", _)) => rucio_mcp_binary(),
            Some(("dirac", _)) => dirac_mcp_binary(),
            _ => continue,
        };
        seen += 1;
        let out = run(&binary, &["config", "show", path.to_str().unwrap()], &[]);
        let shown = text(&out);
        assert!(out.status.success(), "{name}: {shown}");
        for key in keys_of(&path) {
            assert!(
                shown.lines().any(|l| l.starts_with(&format!("{key} = ")) && l.ends_with("# file")),
                "{name}: `{key}` is not taken from the file:\n{shown}"
            );
        }
        assert!(!shown.contains("redis://"), "{name}: a Redis URL may hold a password:\n{shown}");
    }
    assert_eq!(seen, 6, "three modes of two servers");
}

#[test]
fn the_environment_beats_the_file_and_flags_beat_both() {
    let file = examples().join("rucio-mcp-bridge.toml");
    let file = file.to_str().unwrap();
    let out = run(
        &rucio_mcp_binary(),
        &["config", "show", file],
        &[("RUCIO_MCP_RESOURCE_URL", "https://other.example/")],
    );
    let shown = text(&out);
    assert!(shown.contains("resource_url = \"https://other.example/\"  # env"), "{shown}");
    assert!(shown.contains("port = 8000  # file"), "{shown}");
    assert!(shown.contains("log_level = \"info\"  # file"), "{shown}");

    // A flag over the file's transport: stdio, where the file's HTTP settings do not apply.
    let out = run(&rucio_mcp_binary(), &["serve", "--config", file, "--transport", "stdio"], &[]);
    let said = text(&out);
    assert!(!out.status.success());
    assert!(said.contains("only apply to --transport http"), "{said}");
    // The file named by the environment works as --config does.
    let out =
        run(&rucio_mcp_binary(), &["serve", "--transport", "stdio"], &[("RUCIO_MCP_CONFIG", file)]);
    assert!(text(&out).contains("only apply to --transport http"), "{}", text(&out));
}

#[test]
fn mistakes_name_the_key_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("unknown.toml", "transport = \"http\"\n[http]\nprot = 8000\n", "unknown key `http.prot`"),
        ("top.toml", "sights = [\"atlas\"]\n", "unknown key `sights`"),
        ("type.toml", "[http]\nport = \"eight thousand\"\n", "http.port"),
        ("mode.toml", "[http]\nauth = \"sso\"\n", "http.auth"),
        ("toml.toml", "[http\nport = 1\n", "toml.toml"),
    ];
    for (name, content, expected) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        for binary in [rucio_mcp_binary(), dirac_mcp_binary()] {
            for args in [
                vec!["config", "check", path.to_str().unwrap()],
                vec!["serve", "--config", path.to_str().unwrap()],
            ] {
                let out = run(&binary, &args, &[("DIRACX_URL", "https://dx.example")]);
                let said = text(&out);
                assert_eq!(out.status.code(), Some(2), "{name} {args:?}: {said}");
                assert!(said.contains(expected) && said.contains(name), "{name} {args:?}: {said}");
            }
        }
    }
    let missing =
        run(&rucio_mcp_binary(), &["config", "check", "/nonexistent/rucio-mcp.toml"], &[]);
    assert!(text(&missing).contains("/nonexistent/rucio-mcp.toml does not exist"));
}

#[test]
fn config_check_follows_the_files_and_says_what_would_be_served() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("robot.cfg");
    std::fs::write(&cfg, "[client]\nrucio_host = https://rucio.example.org\nauth_host = https://rucio-auth.example.org\nauth_type = userpass\nusername = robot\npassword = not-a-real-one\naccount = robot\n").unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "0123456789abcdef0123456789abcdef\n").unwrap();
    let file = dir.path().join("rs.toml");
    std::fs::write(
        &file,
        format!(
            "transport = \"http\"\nsite = [\"lab={}\"]\n[http]\nauth = \"resource-server\"\nresource_url = \"https://mcp.example.org/\"\n[resource_server]\nissuer = \"https://kc.example.org/realms/lab\"\nintrospection_client_id = \"mcp\"\nintrospection_client_secret_file = \"{}\"\n",
            cfg.display(),
            secret.display()
        ),
    )
    .unwrap();
    let out = run(&rucio_mcp_binary(), &["config", "check", file.to_str().unwrap()], &[]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("http, resource-server mode, sites lab"), "{said}");
    assert!(!said.contains("not-a-real-one") && !said.contains("0123456789abcdef"), "{said}");

    // The files it names are read: a missing secret file is an error that names it.
    std::fs::remove_file(&secret).unwrap();
    let out = run(&rucio_mcp_binary(), &["config", "check", file.to_str().unwrap()], &[]);
    assert!(
        !out.status.success() && text(&out).contains(&secret.display().to_string()),
        "{}",
        text(&out)
    );

    let file = dir.path().join("ss.toml");
    std::fs::write(&file, "transport = \"http\"\n[http]\nauth = \"shared-secret\"\n").unwrap();
    let out = run(&rucio_mcp_binary(), &["config", "check", file.to_str().unwrap()], &[]);
    assert!(
        text(&out).contains("--auth shared-secret needs --shared-secret-file"),
        "{}",
        text(&out)
    );

    let dx = examples().join("dirac-mcp-resource-server.toml");
    let out = run(&dirac_mcp_binary(), &["config", "check", dx.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out)
            .contains("http, resource-server mode, DiracX https://diracx.example.org/, sites lhcb"),
        "{}",
        text(&out)
    );
}

/// A server from a file alone: rucio-mcp over HTTP (shared secret, the file's port) answers
/// /healthz.
#[test]
fn a_server_starts_from_a_file_alone() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("robot.cfg");
    std::fs::write(&cfg, "[client]\nrucio_host = https://rucio.example.org\nauth_host = https://rucio.example.org\nauth_type = userpass\nusername = robot\npassword = x\naccount = robot\n").unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "0123456789abcdef0123456789abcdef\n").unwrap();
    let port = e2e_tests::free_port();
    let file = dir.path().join("server.toml");
    std::fs::write(
        &file,
        format!(
            "transport = \"http\"\nsite = [\"robot={}\"]\n[http]\nshared_secret_file = \"{}\"\nport = {port}\nmetrics_port = 0\n",
            cfg.display(),
            secret.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(rucio_mcp_binary())
        .args(["serve", "--config", file.to_str().unwrap()])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/healthz");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let healthy = loop {
        let answer = std::net::TcpStream::connect(("127.0.0.1", port)).ok().and_then(|mut s| {
            use std::io::{Read as _, Write as _};
            write!(
                s,
                "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
            )
            .ok()?;
            let mut text = String::new();
            s.read_to_string(&mut text).ok()?;
            Some(text)
        });
        if let Some(answer) = answer {
            break answer;
        }
        assert!(std::time::Instant::now() < deadline, "nothing listens on {url}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(healthy.starts_with("HTTP/1.1 200"), "{healthy}");
}
