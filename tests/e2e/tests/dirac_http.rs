//! `dirac-mcp serve --transport http` end to end against the real DiracX: in OIDC bridge mode the
//! Python MCP SDK runs the whole OAuth flow (discovery, DCR or CIMD, PKCE, consent, DiracX's own
//! authorization-code login through the kit's IdP, token, refresh with rotation) and calls tools
//! as alice and as an administrator, each on their own site; in shared-secret mode as the
//! server's own login. Around them: isolation, bearers refused, metrics, logs without tokens.
//!
//! DiracX compares redirect URIs exactly, so bridge-mode servers run on the ports `cargo xtask
//! diracx` registered (`BRIDGE_PORTS` there) with sites `testvo` and `admin`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU16, Ordering};

use e2e_tests::{
    ClientMetadataDocument, HttpServer, InspectorHome, Relay, assert_no_secrets, assert_success,
    clients_dir, dirac_mcp_binary, mcp_python, target_dir,
};
use serde_json::{Value, json};
use test_kit::Kit;

/// The redirect URI of the scenario's MCP client (oauth_scenarios.py).
const REDIRECT: &str = "http://127.0.0.1:33418/callback";
const SECRET: &str = "e2e-dirac-shared-secret-9b1f";

fn env_file() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    match std::env::var_os("DIRACX_TEST_ENV") {
        Some(path) => root.join(path).display().to_string(),
        None => target_dir().join("diracx/env").display().to_string(),
    }
}

/// A free port of the range DiracX accepts bridge callbacks on. Tests run in processes of their
/// own (nextest), so each starts at a place of its own in the range; a port taken between this
/// check and the server's start is retried by [`Bridge::start_at`].
fn bridge_port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let offset = u16::try_from(std::process::id() % 20).unwrap_or(0);
    for _ in 0..20 {
        let port = 18140 + (offset + NEXT.fetch_add(1, Ordering::Relaxed)) % 20;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in 18140..18160 (the bridge callbacks the DiracX kit allows)");
}

struct Bridge {
    server: HttpServer,
    base: String,
}

impl Bridge {
    fn start(extra: &[&str], env: &[(&str, &str)]) -> Self {
        let kit = Kit::diracx();
        Self::start_at(&kit, kit.get("DIRACX_URL"), extra, env)
    }

    /// A bridge for the DiracX of `kit` that calls it at `diracx_url` (a relay, say; users still
    /// sign in at DiracX itself).
    fn start_at(kit: &Kit, diracx_url: &str, extra: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_known_as(kit, diracx_url, None, extra, env)
    }

    /// A server on a port of the range that clients know as `resource` (default: its own URL;
    /// replicas share one).
    fn start_known_as(
        kit: &Kit,
        diracx_url: &str,
        resource: Option<&str>,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let mut last = String::new();
        for _ in 0..10 {
            let port = bridge_port();
            let resource =
                resource.map_or_else(|| format!("http://127.0.0.1:{port}/"), str::to_owned);
            match Self::try_replica(kit, diracx_url, port, &resource, extra, env) {
                Ok(bridge) => return bridge,
                // Another test took the port after it was found free: take another.
                Err(log) if log.contains("Address already in use") => last = log,
                Err(log) => panic!("{log}"),
            }
        }
        panic!("no port of the bridge range could be bound:\n{last}");
    }

    fn try_replica(
        kit: &Kit,
        diracx_url: &str,
        port: u16,
        resource: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Self, String> {
        let port = port.to_string();
        let base = format!("http://127.0.0.1:{port}");
        let mut args = vec![
            "--diracx-url",
            diracx_url,
            "--diracx-issuer",
            kit.get("DIRACX_URL"),
            "--port",
            &port,
            "--resource-url",
            resource,
            "--site",
            "testvo",
            "--site",
            "admin=testvo/admin",
        ];
        args.extend_from_slice(extra);
        let server = HttpServer::try_start_binary(&dirac_mcp_binary(), &args, env)?;
        Ok(Self { server, base })
    }

    fn url(&self, site: &str) -> String {
        format!("{}/site/{site}/", self.base)
    }
}

fn scenario(
    name: &str,
    url: &str,
    user: &str,
    site: &str,
    other_job: u64,
    env: &[(&str, &str)],
) -> Output {
    scenario_on(&Kit::diracx(), name, url, user, site, other_job, env)
}

/// A scenario against the DiracX of `kit`.
fn scenario_on(
    kit: &Kit,
    name: &str,
    url: &str,
    user: &str,
    site: &str,
    other_job: u64,
    env: &[(&str, &str)],
) -> Output {
    let env_file = Path::new(kit.get("DIRACX_BASE")).join("env");
    let other = other_job.to_string();
    Command::new(mcp_python())
        .arg(clients_dir().join("dirac_oauth_scenarios.py"))
        .args([name, url])
        .current_dir(clients_dir())
        .env("DIRACX_PYTHON", kit.get("DIRACX_PYTHON"))
        .env("DIRACX_LIB", kit.get("DIRACX_LIB"))
        .env("DIRACX_ENV_FILE", &env_file)
        .env("DIRAC_USER", user)
        .env("EXPECT_SITE", site)
        .env("OTHER_JOB", &other)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn tokens_of(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().find_map(|l| l.strip_prefix("TOKENS ")).expect("no TOKENS line");
    serde_json::from_str(line).unwrap()
}

fn block<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
}

/// A POST of `form` to a token endpoint, with Basic client credentials when given: the status
/// and the JSON answer.
fn token_request(url: &str, basic: Option<(&str, &str)>, form: &[(&str, &str)]) -> (u16, Value) {
    block(async {
        let mut request = reqwest::Client::new().post(url).form(form);
        if let Some((id, secret)) = basic {
            request = request.basic_auth(id, Some(secret));
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.json::<Value>().await.unwrap())
    })
}

/// A GET: status, `WWW-Authenticate`, body.
fn get(url: &str, bearer: Option<&str>) -> (u16, String, String) {
    block(async {
        let mut request = reqwest::Client::new().get(url);
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, challenge, response.text().await.unwrap_or_default())
    })
}

/// alice and an administrator sign in through DCR, each on their site; each sees what DiracX
/// lets them see, and alice can neither read nor kill the administrator's job.
#[test]
fn users_sign_in_at_diracx_and_act_as_themselves() {
    let bridge = Bridge::start(&[], &[]);
    let alice = scenario("sign_in", &bridge.url("testvo"), "alice", "testvo", 7, &[]);
    assert_success(&alice, "alice's sign-in", &bridge.server);
    let admin = scenario("sign_in", &bridge.url("admin"), "admin", "admin", 1, &[]);
    assert_success(&admin, "the administrator's sign-in", &bridge.server);
    let alice_tokens = tokens_of(&alice);
    let admin_tokens = tokens_of(&admin);

    // A site's token is refused by the other site (audience), and garbage everywhere.
    let token = alice_tokens["access_token"].as_str().unwrap();
    let (status, challenge, _) = get(&bridge.url("admin"), Some(token));
    assert_eq!(status, 401);
    assert!(challenge.contains("invalid_token"), "{challenge}");
    let (status, challenge, _) = get(&bridge.url("testvo"), Some("not-a-token"));
    assert_eq!(status, 401);
    assert!(
        challenge.contains("resource_metadata=\"") && challenge.contains("/site/testvo"),
        "{challenge}"
    );

    // The spent refresh token stays spent.
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", alice_tokens["old_refresh_token"].as_str().unwrap()),
        ("client_id", alice_tokens["client_id"].as_str().unwrap()),
    ];
    let (status, replay) =
        token_request(&format!("{}/site/testvo/token", bridge.base), None, &form);
    assert_eq!(status, 400);
    assert_eq!(replay["error"], "invalid_grant");

    // Per-tool and per-outcome series, under dirac-mcp's names.
    let (_, _, metrics) = get(&bridge.server.metrics_url, None);
    assert!(
        metrics.contains(r#"dirac_mcp_tool_calls_total{site="testvo",tool="dirac_whoami"}"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"dirac_mcp_tool_errors_total{site="testvo",tool="dirac_kill_jobs",category="permission_denied"} 2"#
        ),
        "{metrics}"
    );
    assert!(metrics.contains(r#"dirac_mcp_cached_clients{site="admin"}"#), "{metrics}");
    let (status, _, ready) = get(&format!("{}/readyz", bridge.base), None);
    assert_eq!(status, 200, "{ready}");
    // The landing page names each site, with a client snippet for its URL.
    let (status, _, landing) = get(&format!("{}/", bridge.base), None);
    assert_eq!(status, 200);
    for site in ["testvo", "admin"] {
        assert!(landing.contains(&format!("{}/site/{site}/", bridge.base)), "{site}: {landing}");
    }
    assert!(landing.contains("DiracX (testvo, group admin)"), "{landing}");

    let log = bridge.server.log();
    assert!(log.contains("/site/testvo/callback"), "the redirect URI to register is not named");
    let mut secrets = Vec::new();
    for tokens in [&alice_tokens, &admin_tokens] {
        for key in ["access_token", "refresh_token", "old_refresh_token"] {
            secrets.push(tokens[key].as_str().unwrap().to_owned());
        }
    }
    assert_no_secrets(&log, &secrets.iter().map(String::as_str).collect::<Vec<_>>());
}

/// CIMD: the client_id is an https URL serving the client's metadata (from 127.0.0.1, allowed by
/// --allow-loopback-cimd, trusted through SSL_CERT_FILE; the certificate is the Rucio kit's).
#[test]
fn a_client_metadata_document_signs_in() {
    let document = ClientMetadataDocument::serve("DiracX CIMD client", REDIRECT);
    let bridge = Bridge::start(&["--allow-loopback-cimd"], &[("SSL_CERT_FILE", &document.ca)]);
    let out = scenario(
        "sign_in",
        &bridge.url("testvo"),
        "alice",
        "testvo",
        8,
        &[("CLIENT_METADATA_URL", &document.url)],
    );
    assert_success(&out, "sign-in with CIMD", &bridge.server);
}

/// Shared-secret mode: one site, the server's own DiracX login (a credentials file as `dirac
/// login` writes it), behind the secret.
#[test]
fn shared_secret_mode_acts_as_the_servers_login() {
    let kit = Kit::diracx();
    let dir = tempfile::tempdir().unwrap();
    let credentials = dir.path().join("credentials.json");
    let login = Command::new(kit.get("DIRACX_PYTHON"))
        .arg(Path::new(kit.get("DIRACX_LIB")).join("login.py"))
        .args(["--env", &env_file(), "code", "--user", "alice", "--credentials-out"])
        .arg(&credentials)
        .output()
        .unwrap();
    assert!(login.status.success(), "login.py: {}", String::from_utf8_lossy(&login.stderr));
    let server = HttpServer::start_binary(
        &dirac_mcp_binary(),
        &[
            "--diracx-url",
            kit.get("DIRACX_URL"),
            "--credentials-path",
            credentials.to_str().unwrap(),
        ],
        &[("DIRAC_MCP_SHARED_SECRET", SECRET)],
    );
    assert!(
        server.mcp_url.ends_with("/site/testvo/"),
        "site named after the login's VO: {}",
        server.mcp_url
    );
    let out =
        scenario("use_token", &server.mcp_url, "alice", "testvo", 7, &[("ACCESS_TOKEN", SECRET)]);
    assert_success(&out, "tools behind the shared secret", &server);
    let (status, challenge, _) = get(&server.mcp_url, Some("wrong-secret"));
    assert_eq!(status, 401);
    assert!(challenge.starts_with("Bearer realm=\"dirac-mcp\""), "{challenge}");
    assert!(!server.log().contains(SECRET));
}

/// A robot login (`dirac login`'s credentials file) for `user`, written into `dir`.
fn robot_login(dir: &Path, user: &str) -> std::path::PathBuf {
    let kit = Kit::diracx();
    let credentials = dir.join(format!("{user}-credentials.json"));
    let login = Command::new(kit.get("DIRACX_PYTHON"))
        .arg(Path::new(kit.get("DIRACX_LIB")).join("login.py"))
        .args(["--env", &env_file(), "code", "--user", user, "--credentials-out"])
        .arg(&credentials)
        .output()
        .unwrap();
    assert!(login.status.success(), "login.py: {}", String::from_utf8_lossy(&login.stderr));
    credentials
}

fn agent(url: &str, env: &[(&str, &str)], extra: &[&str]) -> Output {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/dirac-agent/agent.py");
    Command::new(mcp_python())
        .arg(example)
        .args(extra)
        .arg(url)
        .env_remove("DIRAC_MCP_CLIENT_ID")
        .env_remove("DIRAC_MCP_CLIENT_SECRET")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// Machine clients: the agent example gets a token with client_credentials (no browser) and
/// submits, follows and kills a job as the robot identity the operator named; a wrong secret,
/// an unknown client and another site's client get nothing.
#[test]
fn a_machine_client_submits_follows_and_kills_a_job() {
    let dir = tempfile::tempdir().unwrap();
    let robot = robot_login(dir.path(), "alice");
    let secret_file = dir.path().join("ci-secret");
    std::fs::write(&secret_file, "ci-bot-secret-0123456789abcdef\n").unwrap();
    let clients = dir.path().join("machine-clients.json");
    std::fs::write(
        &clients,
        json!([
            {"client_id": "ci-bot", "client_secret_file": secret_file, "diracx_credentials": robot, "site": "testvo"}
        ])
        .to_string(),
    )
    .unwrap();
    let bridge = Bridge::start(&["--machine-clients", clients.to_str().unwrap()], &[]);
    let out = agent(
        &bridge.url("testvo"),
        &[
            ("DIRAC_MCP_CLIENT_ID", "ci-bot"),
            ("DIRAC_MCP_CLIENT_SECRET", "ci-bot-secret-0123456789abcdef"),
        ],
        &[],
    );
    assert_success(&out, "the agent example", &bridge.server);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let result: Value =
        serde_json::from_str(stdout.lines().find_map(|l| l.strip_prefix("RESULT ")).unwrap())
            .unwrap();
    assert_eq!(result["user"], "alice", "{stdout}");
    assert_eq!(result["status"], "Killed", "{stdout}");

    let token = |site: &str, id: &str, secret: &str| {
        token_request(
            &format!("{}/site/{site}/token", bridge.base),
            Some((id, secret)),
            &[("grant_type", "client_credentials")],
        )
    };
    let (status, body) = token("testvo", "ci-bot", "wrong-secret-0123456789abcdef");
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{body}");
    let (status, _) = token("testvo", "nobody", "ci-bot-secret-0123456789abcdef");
    assert_eq!(status, 401);
    let (status, body) = token("admin", "ci-bot", "ci-bot-secret-0123456789abcdef");
    assert_eq!(status, 400, "a client of one site at another: {body}");
    let (status, body) = token("testvo", "ci-bot", "ci-bot-secret-0123456789abcdef");
    assert_eq!(status, 200, "{body}");
    assert!(body.get("refresh_token").is_none(), "client_credentials gets no refresh token");
    let (_, metadata) = {
        let (status, _, text) = get(
            &format!("{}/.well-known/oauth-authorization-server/site/testvo", bridge.base),
            None,
        );
        (status, serde_json::from_str::<Value>(&text).unwrap())
    };
    assert!(
        metadata["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("client_credentials"))
    );
    assert_no_secrets(
        &bridge.server.log(),
        &["ci-bot-secret-0123456789abcdef", body["access_token"].as_str().unwrap()],
    );
}

/// `examples/embedded-diracx`: a plain axum host that mounts the MCP endpoint and the bridge
/// under /mcp; the Python SDK signs in through it and calls tools, and the host's own route
/// accepts the same token.
#[test]
fn a_host_service_embeds_the_endpoint_and_the_bridge() {
    let kit = Kit::diracx();
    let binary = target_dir().join("debug/embedded-diracx");
    assert!(binary.exists(), "{} is missing: run `cargo build --workspace`", binary.display());
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("host.log");
    let mut host = Command::new(&binary)
        .env("DIRACX_URL", kit.get("DIRACX_URL"))
        .env("PUBLIC_URL", "http://127.0.0.1:18139/")
        .env("DIRACX_CLIENT_ID", kit.get("DIRACX_CLIENT_ID"))
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !std::fs::read_to_string(&log).unwrap_or_default().contains("serving MCP at") {
        assert!(
            host.try_wait().unwrap().is_none(),
            "the host exited: {}",
            std::fs::read_to_string(&log).unwrap()
        );
        assert!(std::time::Instant::now() < deadline, "the host did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out =
        scenario("sign_in", "http://127.0.0.1:18139/mcp/", "alice", "DiracX (testvo)", 7, &[]);
    let checks = out.status.success().then(|| {
        let token = tokens_of(&out)["access_token"].as_str().unwrap().to_owned();
        (
            get("http://127.0.0.1:18139/api/me", Some(&token)),
            get("http://127.0.0.1:18139/api/me", None),
            get("http://127.0.0.1:18139/api/me", Some(kit.get("DIRACX_USER_TOKEN"))),
        )
    });
    let host_log = std::fs::read_to_string(&log).unwrap();
    let _ = host.kill();
    let _ = host.wait();
    assert!(
        out.status.success(),
        "sign-in through the host: {}\n{}\n--- host log\n{host_log}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let ((status, _, body), (anonymous, challenge, _), (with_diracx, _, as_diracx)) =
        checks.unwrap();
    assert_eq!(status, 200, "the host's own route refused the MCP token: {body}");
    assert_eq!(with_diracx, 200, "the host's own route refused a DiracX token: {as_diracx}");
    assert_eq!(serde_json::from_str::<Value>(&as_diracx).unwrap()["user"], "alice");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["user"], "alice");
    assert_eq!(anonymous, 401);
    assert!(challenge.contains("resource_metadata="), "{challenge}");
}

/// DiracX goes away under a signed-in user: tool calls are tool errors in the `network`
/// category, /readyz says not ready; when it is back, the same token works again.
#[test]
fn diracx_down_during_calls() {
    let kit = Kit::diracx();
    let relay = Relay::start(kit.get("DIRACX_URL").trim_start_matches("http://"));
    let relayed = format!("http://{}", relay.addr);
    let bridge = Bridge::start_at(&kit, &relayed, &[], &[]);
    let out = scenario("sign_in", &bridge.url("testvo"), "alice", "testvo", 7, &[]);
    assert_success(&out, "sign-in", &bridge.server);
    let token = tokens_of(&out)["access_token"].as_str().unwrap().to_owned();
    relay.go_down();
    let down = scenario(
        "diracx_down",
        &bridge.url("testvo"),
        "alice",
        "testvo",
        7,
        &[("ACCESS_TOKEN", &token)],
    );
    let (ready, _, readiness) = get(&format!("{}/readyz", bridge.base), None);
    relay.come_back();
    assert_success(&down, "calls while DiracX is down", &bridge.server);
    assert_eq!(ready, 503, "{readiness}");
    let back = scenario(
        "use_token",
        &bridge.url("testvo"),
        "alice",
        "testvo",
        7,
        &[("ACCESS_TOKEN", &token)],
    );
    assert_success(&back, "calls once DiracX is back", &bridge.server);
}

/// A token minted with the kit's DiracX keys (`mint.py` arguments).
fn mint(args: &[&str]) -> String {
    let kit = Kit::diracx();
    let out = Command::new(kit.get("DIRACX_PYTHON"))
        .arg(Path::new(kit.get("DIRACX_LIB")).join("mint.py"))
        .args(["--env", &env_file()])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "mint.py: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// An MCP `initialize` with `bearer`: the status and `WWW-Authenticate`.
fn initialize(url: &str, bearer: &str) -> (u16, String) {
    block(async {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "e2e", "version": "1"}}});
        let response = reqwest::Client::new()
            .post(url)
            .bearer_auth(bearer)
            .header("accept", "application/json, text/event-stream")
            .json(&body)
            .send()
            .await
            .unwrap();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (response.status().as_u16(), challenge)
    })
}

/// Agents with DiracX's own tokens: verified against DiracX's keys and accepted as the user (the
/// agent example with a `dirac login` credentials file); expired, forged, other-issuer,
/// other-audience, not-yet-valid, other-VO, `alg`-mismatched and unsigned tokens refused.
#[test]
fn diracx_tokens_are_verified_against_diracx_keys() {
    let bridge = Bridge::start(&[], &[]);
    let url = bridge.url("testvo");

    let dir = tempfile::tempdir().unwrap();
    let credentials = robot_login(dir.path(), "alice");
    let out = agent(&url, &[], &["--diracx-credentials", credentials.to_str().unwrap()]);
    assert_success(&out, "the agent with a DiracX token", &bridge.server);
    assert!(String::from_utf8_lossy(&out.stdout).contains(r#""user": "alice""#));

    let valid = mint(&[]);
    assert_eq!(initialize(&url, &valid).0, 200, "a valid DiracX token");
    // The same user's token on the admin site (group admin) is another resource's.
    assert_eq!(initialize(&bridge.url("admin"), &valid).0, 401);
    let mut forged = valid.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let unsigned = {
        let mut parts = valid.split('.');
        let _ = parts.next();
        let payload = parts.next().unwrap();
        format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.")
    };
    let refused = [
        ("expired", mint(&["--lifetime", "-120"])),
        ("forged", forged),
        ("another issuer", mint(&["--iss", "http://127.0.0.1:9/evil"])),
        ("another audience", mint(&["--aud", "https://other.example"])),
        ("not yet valid", mint(&["--nbf-in", "600"])),
        ("another VO", mint(&["--vo", "othervo"])),
        ("alg EdDSA (DiracX lists Ed25519)", mint(&["--alg", "EdDSA"])),
        ("alg none", unsigned),
    ];
    for (what, token) in &refused {
        let (status, challenge) = initialize(&url, token);
        assert_eq!(status, 401, "{what}: {challenge}");
        assert!(
            challenge.contains("invalid_token") && challenge.contains("resource_metadata="),
            "{what}: {challenge}"
        );
    }
    let log = bridge.server.log();
    assert_no_secrets(&log, &[&valid]);

    // The operator can turn them off.
    let strict = Bridge::start(&["--no-diracx-tokens"], &[]);
    assert_eq!(initialize(&strict.url("testvo"), &valid).0, 401);
}

/// DiracX's access tokens live one minute on the second kit instance: past that, the SDK
/// refreshes by itself (the bridge renews the DiracX token with its rotating refresh token) and
/// the session goes on as the same user.
#[test]
fn a_session_outlives_the_diracx_access_token() {
    let kit = Kit::diracx_short_tokens();
    let bridge = Bridge::start_at(&kit, kit.get("DIRACX_URL"), &[], &[]);
    let out = scenario_on(&kit, "outlive_expiry", &bridge.url("testvo"), "alice", "testvo", 7, &[]);
    assert_success(&out, "a session past the access token's expiry", &bridge.server);
    let metrics = get(&bridge.server.metrics_url, None).2;
    assert!(
        metrics.contains(r#"dirac_mcp_bridge_auth_total{site="testvo",outcome="refreshed"} 1"#),
        "{metrics}"
    );
}

/// Two replicas with one key file and one Redis: alice signs in through one and works through
/// the other, seeing only her jobs; her refresh token, used at one, is spent at both.
#[test]
fn replicas_share_sign_ins() {
    let kit = Kit::diracx();
    let redis = Kit::load().get("REDIS_URL").to_owned();
    let keys = tempfile::NamedTempFile::new().unwrap();
    let key = Command::new(dirac_mcp_binary()).arg("token-key").output().unwrap();
    assert!(key.status.success());
    std::fs::write(keys.path(), &key.stdout).unwrap();
    let key_file = keys.path().to_str().unwrap().to_owned();
    let args = ["--token-key-file", key_file.as_str(), "--redis-url", redis.as_str()];
    let a = Bridge::start_at(&kit, kit.get("DIRACX_URL"), &args, &[]);
    let resource = format!("{}/", a.base);
    let b = Bridge::start_known_as(&kit, kit.get("DIRACX_URL"), Some(&resource), &args, &[]);

    let out = scenario("sign_in", &a.url("testvo"), "alice", "testvo", 7, &[]);
    assert_success(&out, "sign-in through replica A", &a.server);
    let tokens = tokens_of(&out);
    let access = tokens["access_token"].as_str().unwrap();
    let out =
        scenario("use_token", &b.url("testvo"), "alice", "testvo", 7, &[("ACCESS_TOKEN", access)]);
    assert_success(&out, "alice's token at replica B", &b.server);

    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ("client_id", tokens["client_id"].as_str().unwrap()),
    ];
    let refresh_at =
        |bridge: &Bridge| token_request(&format!("{}/site/testvo/token", bridge.base), None, &form);
    let (status, body) = refresh_at(&b);
    assert_eq!(status, 200, "refresh at B: {body}");
    let (status, body) = refresh_at(&a);
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    assert_no_secrets(&a.server.log(), &[access]);
    assert_no_secrets(&b.server.log(), &[access]);
}

/// base64url without padding.
fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A client assertion (RFC 7523) signed with `key`.
fn assertion(key: &aws_lc_rs::signature::Ed25519KeyPair, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64(br#"{"alg":"EdDSA","typ":"JWT","kid":"agent-1"}"#),
        b64(claims.to_string().as_bytes())
    );
    format!("{input}.{}", b64(key.sign(input.as_bytes()).as_ref()))
}

/// A machine client that signs its assertions (`private_key_jwt`): the server holds only its
/// public key; an assertion is used once, and one for another audience, another client or
/// signed by another key is refused.
#[test]
fn a_machine_client_signs_in_with_a_private_key_jwt() {
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
    let dir = tempfile::tempdir().unwrap();
    let robot = robot_login(dir.path(), "alice");
    let key = Ed25519KeyPair::generate().unwrap();
    let jwks = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "kid": "agent-1",
                                "use": "sig", "x": b64(key.public_key().as_ref())}]});
    let jwks_file = dir.path().join("agent-jwks.json");
    std::fs::write(&jwks_file, jwks.to_string()).unwrap();
    let clients = dir.path().join("machine-clients.json");
    std::fs::write(
        &clients,
        json!([{"client_id": "agent", "jwks_file": jwks_file, "diracx_credentials": robot}])
            .to_string(),
    )
    .unwrap();
    let bridge = Bridge::start(&["--machine-clients", clients.to_str().unwrap()], &[]);
    let endpoint = format!("{}/site/testvo/token", bridge.base);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let claims = |aud: &str, sub: &str, jti: &str| json!({"iss": "agent", "sub": sub, "aud": aud, "exp": now + 120, "iat": now, "jti": jti});
    let post = |assertion: &str| {
        token_request(
            &endpoint,
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                ("client_assertion", assertion),
            ],
        )
    };
    let good = assertion(&key, &claims(&endpoint, "agent", "a-1"));
    let (status, body) = post(&good);
    assert_eq!(status, 200, "{body}");
    let access = body["access_token"].as_str().unwrap().to_owned();
    let (status, body) = post(&good);
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "a replay: {body}");
    let other_key = Ed25519KeyPair::generate().unwrap();
    for (what, bad) in [
        (
            "another audience",
            assertion(&key, &claims("https://elsewhere.example/token", "agent", "a-2")),
        ),
        ("another subject", assertion(&key, &claims(&endpoint, "someone", "a-3"))),
        ("another key", assertion(&other_key, &claims(&endpoint, "agent", "a-4"))),
    ] {
        let (status, body) = post(&bad);
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client")),
            "{what}: {body}"
        );
    }
    let out = scenario(
        "use_token",
        &bridge.url("testvo"),
        "alice",
        "testvo",
        7,
        &[("ACCESS_TOKEN", &access)],
    );
    assert_success(&out, "tools with the machine client's token", &bridge.server);
    assert_no_secrets(&bridge.server.log(), &[&access, &good]);
}

/// DiracX unreachable when the server starts: it says so and which site, within seconds, and
/// exits instead of serving sign-ins that cannot work.
#[test]
fn diracx_down_at_start_is_a_clear_error() {
    let port = bridge_port().to_string();
    let resource = format!("http://127.0.0.1:{port}/");
    let started = std::time::Instant::now();
    let out = Command::new(dirac_mcp_binary())
        .args(["serve", "--transport", "http", "--port", &port, "--metrics-port", "0"])
        .args([
            "--resource-url",
            &resource,
            "--diracx-url",
            "http://127.0.0.1:9",
            "--site",
            "testvo",
        ])
        .env_remove("DIRAC_MCP_SHARED_SECRET")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "it took {:?}",
        started.elapsed()
    );
    assert!(stderr.contains("site testvo") && stderr.contains("http://127.0.0.1:9"), "{stderr}");
}

/// The MCP Inspector CLI signs in by itself (discovery, DCR, PKCE, its own loopback callback)
/// with a `BROWSER` that plays the person at the consent page and at DiracX, then lists and
/// calls tools as alice.
#[test]
fn inspector_cli_signs_in_at_diracx() {
    let kit = Kit::diracx();
    let bridge = Bridge::start(&[], &[]);
    let home = InspectorHome::new();
    let callback = format!("http://127.0.0.1:{}/oauth/callback", e2e_tests::free_port());
    let url = bridge.url("testvo");
    let env_file = Path::new(kit.get("DIRACX_BASE")).join("env");
    let inspector = |method: &[&str]| {
        home.inspector(&url, &callback)
            .args(method)
            .env("DIRACX_PYTHON", kit.get("DIRACX_PYTHON"))
            .env("DIRACX_LIB", kit.get("DIRACX_LIB"))
            .env("DIRACX_ENV_FILE", &env_file)
            .env("DIRAC_USER", "alice")
            .output()
            .unwrap()
    };
    let shown = |out: &Output| {
        format!(
            "{}\n--- stdout\n{}\n--- stderr\n{}\n--- browser\n{}\n--- server\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            home.browser_log(),
            bridge.server.log()
        )
    };
    let out = inspector(&["--method", "tools/list"]);
    assert!(out.status.success(), "tools/list: {}", shown(&out));
    let tools: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> =
        tools["tools"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    assert!(names.contains(&"dirac_search_jobs") && names.len() >= 13, "{names:?}");
    let out = inspector(&["--method", "tools/call", "--tool-name", "dirac_whoami"]);
    assert!(out.status.success(), "tools/call: {}", shown(&out));
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["structuredContent"]["username"], "alice", "{}", shown(&out));
}

/// `mcp-auth-proxy` in front of dirac-mcp, which accepts DiracX's own access tokens: the person
/// signs in at DiracX itself (a real OpenID provider, `--oidc-issuer-url`) with the device flow
/// (the link on the proxy's stderr, the kit's IdP playing the person), and tool calls through the
/// proxy run as them. The tokens land in the cache, none on the terminal.
#[test]
fn the_auth_proxy_signs_in_at_diracx_with_the_device_flow() {
    use std::io::{BufRead as _, BufReader, Write as _};

    use e2e_tests::sign_in_at_device_links;
    use std::process::Stdio;

    let kit = Kit::diracx();
    let bridge = Bridge::start(&[], &[]);
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let scope = kit.get("DIRACX_USER_SCOPE");
    let mut proxy = Command::new(e2e_tests::auth_proxy_binary())
        .arg(bridge.url("testvo"))
        .args(["--oidc-issuer-url", kit.get("DIRACX_URL")])
        .args(["--oidc-client-id", kit.get("DIRACX_CLIENT_ID")])
        .args(["--oidc-scopes", scope, "--device-code", "--no-banner", "--cache-dir"])
        .arg(&cache)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = proxy.stdin.take().unwrap();
    let mut stdout = BufReader::new(proxy.stdout.take().unwrap());
    let stderr = BufReader::new(proxy.stderr.take().unwrap());
    // The person: opens the link the proxy prints and signs in as alice.
    let person = {
        let (kit, env) = (Kit::diracx(), env_file());
        std::thread::spawn(move || sign_in_at_device_links(stderr, &kit, &env, "alice"))
    };
    let mut ask = |message: Value, answer: bool| -> Value {
        writeln!(stdin, "{message}").unwrap();
        if !answer {
            return Value::Null;
        }
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON-RPC: {line:?}"))
    };
    let init = ask(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "e2e", "version": "1"}}}),
        true,
    );
    ask(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}), false);
    let whoami = ask(
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "dirac_whoami", "arguments": {}}}),
        true,
    );
    drop(stdin);
    let _ = proxy.wait();
    let (browsed, said) = person.join().unwrap();
    assert_eq!(browsed, Some(true), "the person signed in at DiracX:\n{said}");
    assert_eq!(init["result"]["serverInfo"]["name"], "dirac-mcp", "{init}\n{said}");
    assert_eq!(whoami["result"]["structuredContent"]["username"], "alice", "{whoami}\n{said}");
    let entry = std::fs::read_dir(cache.join("tokens")).unwrap().flatten().next().unwrap();
    let entry: Value = serde_json::from_slice(&std::fs::read(entry.path()).unwrap()).unwrap();
    assert_eq!(entry["issuer"], kit.get("DIRACX_URL").trim_end_matches('/'));
    let access = entry["access_token"].as_str().unwrap();
    assert_no_secrets(&said, &[access]);
    assert_no_secrets(&bridge.server.log(), &[access]);
}

/// Resource-server mode with DiracX as the authorization server: the metadata names DiracX,
/// DiracX's own tokens pass and calls run as their user (the agent example with a `dirac login`
/// credentials file), another VO's or an expired token gets 401.
#[test]
fn resource_server_mode_takes_diracx_tokens_as_their_user() {
    let kit = Kit::diracx();
    let issuer = kit.get("DIRACX_URL");
    let port = e2e_tests::free_port().to_string();
    let resource = format!("http://127.0.0.1:{port}/");
    let server = HttpServer::start_binary(
        &dirac_mcp_binary(),
        &[
            "--diracx-url",
            issuer,
            "--auth",
            "resource-server",
            "--issuer",
            issuer,
            "--port",
            &port,
            "--resource-url",
            &resource,
            "--site",
            "testvo",
        ],
        &[],
    );
    let url = format!("{resource}site/testvo/");
    let (status, challenge) = initialize(&url, "not-a-token");
    assert_eq!(status, 401, "{}", server.log());
    let metadata_url = format!("{resource}.well-known/oauth-protected-resource/site/testvo");
    assert!(challenge.contains(&format!("resource_metadata=\"{metadata_url}\"")), "{challenge}");
    let metadata: Value = serde_json::from_str(&get(&metadata_url, None).2).unwrap();
    assert_eq!(metadata["authorization_servers"], json!([issuer]), "{metadata:#}");

    let valid = mint(&[]);
    assert_eq!(initialize(&url, &valid).0, 200, "{}", server.log());
    for (what, token) in
        [("another VO", mint(&["--vo", "othervo"])), ("expired", mint(&["--lifetime", "-120"]))]
    {
        assert_eq!(initialize(&url, &token).0, 401, "{what}");
    }
    let dir = tempfile::tempdir().unwrap();
    let credentials = robot_login(dir.path(), "alice");
    let out = agent(&url, &[], &["--diracx-credentials", credentials.to_str().unwrap()]);
    assert_success(&out, "the agent with a DiracX token", &server);
    assert!(String::from_utf8_lossy(&out.stdout).contains(r#""user": "alice""#));
    assert!(server.log().contains("caller=alice"), "{}", server.log());
    assert_no_secrets(&server.log(), &[&valid]);
}
