//! Resource-server mode against the Rucio kit's own OpenID provider, the WLCG-token case: the
//! kit's Rucio accepts that provider's JWT access tokens (`aud=rucio`) directly as
//! `X-Rucio-Auth-Token`. `rucio-mcp serve --auth resource-server --issuer <kit IdP> --audience
//! rucio` takes the same tokens as bearers; with `--forward-user-token` each call reaches Rucio
//! with the caller's own token (the caller's own account), without it as the site's configured
//! identity (the root robot), the caller written to the log either way. Tokens of another
//! audience or issuer, and garbage, get 401 before any tool runs; no token reaches the log.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use e2e_tests::{HttpServer, TestIdp, assert_no_secrets, free_port, robot_cfg, sign_in_headlessly};
use serde_json::{Value, json};
use test_kit::Kit;

/// The kit IdP's public PKCE client and its redirect URI (nothing listens there).
const CLIENT_ID: &str = "mcp-bridge-test";
const REDIRECT: &str = "http://127.0.0.1:33419/callback";
const SCOPE: &str = "openid profile email offline_access";
const PROTOCOL: &str = "2025-11-25";

fn block<T>(job: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(job)
}

/// The token response of a headless sign-in of `OIDC_LOGIN` at the kit's IdP.
fn kit_sign_in(kit: &Kit) -> Value {
    sign_in_headlessly(
        kit.get("OIDC_ISSUER"),
        CLIENT_ID,
        REDIRECT,
        SCOPE,
        None,
        kit.get("OIDC_LOGIN"),
    )
}

/// The claims of a JWT (unverified).
fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("not a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// Whether the `aud` claim (a string or an array) names `audience`.
fn names_audience(claims: &Value, audience: &str) -> bool {
    match &claims["aud"] {
        Value::String(aud) => aud == audience,
        Value::Array(auds) => auds.iter().any(|a| a == audience),
        _ => false,
    }
}

/// A rucio.cfg in `dir` for `--forward-user-token`: the caller's token is the credential, so it
/// names the Rucio host and no credential. (The config reader still demands `auth_host` and an
/// `auth_type`; `oidc` is the one that needs no credential keys.)
fn forwarding_cfg(dir: &Path, url: &str) -> String {
    let path = dir.join("forwarding.cfg");
    std::fs::write(
        &path,
        format!(
            "[client]\nrucio_host = {url}\nauth_host = {url}\nauth_type = oidc\n\
             request_retries = 0\n"
        ),
    )
    .unwrap();
    path.display().to_string()
}

/// rucio-mcp in resource-server mode for the kit's IdP on a free port, site `local` with the
/// rucio.cfg `cfg`, logging at debug level (no token may show even there), and `extra` flags.
/// Returns the server and the site's MCP URL.
fn rs_server(kit: &Kit, cfg: &str, extra: &[&str]) -> (HttpServer, String) {
    let port = free_port().to_string();
    let resource = format!("http://127.0.0.1:{port}/");
    let site = format!("local={cfg}");
    let mut args = vec![
        "--auth",
        "resource-server",
        "--issuer",
        kit.get("OIDC_ISSUER"),
        "--port",
        &port,
        "--resource-url",
        &resource,
        "--site",
        &site,
        "--log-level",
        "debug",
    ];
    args.extend_from_slice(extra);
    let server = HttpServer::start(&args, &[]);
    let url = format!("{resource}site/local/");
    assert_eq!(server.mcp_url, url, "{}", server.log());
    (server, url)
}

/// One HTTP answer of the MCP endpoint.
struct Answer {
    status: u16,
    challenge: String,
    session: Option<String>,
    body: String,
}

impl Answer {
    /// The JSON-RPC message of the answer: a JSON body, or the last `data:` line of an SSE one
    /// that is a JSON-RPC response.
    fn message(&self) -> Value {
        if let Ok(value) = serde_json::from_str::<Value>(&self.body) {
            return value;
        }
        self.body
            .lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .filter_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
            .rfind(|message| message.get("id").is_some())
            .unwrap_or_else(|| panic!("no JSON-RPC response in: {}", self.body))
    }
}

/// A JSON-RPC POST to `url` with `bearer` (if any) and the session (if any).
fn post(url: &str, bearer: Option<&str>, session: Option<&str>, message: &Value) -> Answer {
    block(async {
        let mut request = reqwest::Client::new()
            .post(url)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", PROTOCOL)
            .json(message);
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        let response = request.send().await.unwrap();
        let header =
            |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
        let (challenge, session) =
            (header("www-authenticate").unwrap_or_default(), header("mcp-session-id"));
        let status = response.status().as_u16();
        Answer { status, challenge, session, body: response.text().await.unwrap_or_default() }
    })
}

fn initialize_message() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": PROTOCOL, "capabilities": {},
        "clientInfo": {"name": "e2e-resource-server-rucio", "version": "1"}}})
}

fn whoami_message() -> Value {
    json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "rucio_whoami", "arguments": {}}})
}

/// initialize, notifications/initialized and tools/call `rucio_whoami` with `bearer`; the
/// tool's result.
fn whoami(url: &str, bearer: &str, server: &HttpServer) -> Value {
    let init = post(url, Some(bearer), None, &initialize_message());
    assert_eq!(init.status, 200, "initialize: {}\n{}", init.body, server.log());
    assert!(init.message()["result"]["serverInfo"].is_object(), "{}", init.body);
    let session = init.session.as_deref();
    let notified = post(
        url,
        Some(bearer),
        session,
        &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    );
    assert!(
        (200..300).contains(&notified.status),
        "notifications/initialized: {} {}",
        notified.status,
        notified.body
    );
    let call = post(url, Some(bearer), session, &whoami_message());
    assert_eq!(call.status, 200, "tools/call: {}\n{}", call.body, server.log());
    let result = call.message()["result"].clone();
    assert_ne!(result["isError"], true, "rucio_whoami failed: {result:#}\n{}", server.log());
    result
}

/// The account `rucio_whoami` answered.
fn account(result: &Value) -> &str {
    result["structuredContent"]["account"]
        .as_str()
        .unwrap_or_else(|| panic!("no account in {result:#}"))
}

/// The `caller=` of the server's `tool call` lines.
fn callers(log: &str) -> Vec<String> {
    log.lines()
        .filter(|line| line.contains("tool call"))
        .filter_map(|line| {
            line.split_whitespace().find_map(|w| w.strip_prefix("caller=").map(str::to_owned))
        })
        .collect()
}

/// The kit IdP's access token is a JWT for `rucio` of that issuer, for the login's subject, and
/// Rucio itself takes it as `X-Rucio-Auth-Token`: the login's own account.
#[test]
fn the_kit_idp_token_is_a_rucio_token() {
    let kit = Kit::load();
    let tokens = kit_sign_in(&kit);
    let jwt = tokens["access_token"].as_str().expect("no access_token");
    assert_eq!(jwt.split('.').count(), 3, "the kit's IdP hands out JWT access tokens");
    let claims = claims(jwt);
    assert!(names_audience(&claims, kit.get("OIDC_AUDIENCE")), "aud: {}", claims["aud"]);
    assert_eq!(claims["iss"], kit.get("OIDC_ISSUER"));
    assert_eq!(claims["sub"], kit.get("OIDC_LOGIN"));
    let scopes: Vec<&str> = claims["scope"].as_str().unwrap_or_default().split(' ').collect();
    for needed in kit.get("OIDC_SCOPE").split(' ') {
        assert!(scopes.contains(&needed), "Rucio expects scope {needed}; the token has {scopes:?}");
    }

    let (status, body) = block(async {
        let response = reqwest::Client::new()
            .get(format!("{}/accounts/whoami", kit.get("RUCIO_URL")))
            .header("X-Rucio-Auth-Token", jwt)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap_or_default())
    });
    assert_eq!(status, 200, "Rucio refused the IdP's JWT: {body}");
    let me: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(me["account"], kit.get("OIDC_LOGIN_ACCOUNT"), "{me:#}");
}

/// `--forward-user-token`: `rucio_whoami` with the kit IdP's token is the login's own account at
/// Rucio (the rucio.cfg names only the host), the subject is the logged caller, no token logged.
#[test]
fn forwarded_user_tokens_act_as_the_user_at_rucio() {
    let kit = Kit::load();
    let dir = tempfile::tempdir().unwrap();
    let cfg = forwarding_cfg(dir.path(), kit.get("RUCIO_URL"));
    let (server, url) = rs_server(&kit, &cfg, &["--audience", "rucio", "--forward-user-token"]);
    let tokens = kit_sign_in(&kit);
    let jwt = tokens["access_token"].as_str().unwrap();

    let result = whoami(&url, jwt, &server);
    assert_eq!(account(&result), kit.get("OIDC_LOGIN_ACCOUNT"), "{result:#}");
    // A second session with the same token: the same user (the client is reused).
    assert_eq!(account(&whoami(&url, jwt, &server)), kit.get("OIDC_LOGIN_ACCOUNT"));

    let log = server.log();
    assert!(log.contains("with their own token"), "the mode is logged:\n{log}");
    assert_eq!(callers(&log), [kit.get("OIDC_LOGIN"); 2], "the caller is recorded:\n{log}");
    let mut secrets = vec![jwt];
    secrets.extend(tokens["refresh_token"].as_str());
    assert_no_secrets(&log, &secrets);
}

/// Without `--forward-user-token`, the site's configured identity (the root robot) answers for
/// the same bearer, and the caller is still recorded.
#[test]
fn without_forwarding_calls_run_as_the_sites_identity() {
    let kit = Kit::load();
    let dir = tempfile::tempdir().unwrap();
    let cfg = robot_cfg(&kit, dir.path(), kit.get("RUCIO_TLS_URL"));
    let (server, url) = rs_server(&kit, &cfg, &["--audience", "rucio"]);
    let tokens = kit_sign_in(&kit);
    let jwt = tokens["access_token"].as_str().unwrap();

    let result = whoami(&url, jwt, &server);
    assert_eq!(account(&result), "root", "{result:#}");

    let log = server.log();
    assert!(log.contains("own Rucio identity"), "the mode is logged:\n{log}");
    assert_eq!(callers(&log), [kit.get("OIDC_LOGIN")], "the caller is recorded:\n{log}");
    assert_no_secrets(&log, &[jwt]);
}

/// Tokens the server must not take get 401 with an `invalid_token` challenge, at `initialize`
/// and at a direct `tools/call`, and no tool runs: the kit IdP's ID token (its audience is the
/// client), garbage and a tampered JWT; the kit's access token itself when the server expects
/// another audience (its resource URL), and another issuer's token for that URL.
#[test]
fn other_audiences_other_issuers_and_garbage_are_refused() {
    let kit = Kit::load();
    let dir = tempfile::tempdir().unwrap();
    let cfg = forwarding_cfg(dir.path(), kit.get("RUCIO_URL"));
    let (server, url) = rs_server(&kit, &cfg, &["--audience", "rucio", "--forward-user-token"]);
    let tokens = kit_sign_in(&kit);
    let jwt = tokens["access_token"].as_str().unwrap();
    let id_token = tokens["id_token"].as_str().expect("no id_token");
    assert!(!names_audience(&claims(id_token), "rucio"), "{}", claims(id_token)["aud"]);
    assert_eq!(claims(id_token)["iss"], kit.get("OIDC_ISSUER"));

    let refused = |url: &str, bearer: &str, what: &str, server: &HttpServer| {
        for message in [initialize_message(), whoami_message()] {
            let answer = post(url, Some(bearer), None, &message);
            assert_eq!(answer.status, 401, "{what}: {}\n{}", answer.body, server.log());
            assert!(
                answer.challenge.contains("error=\"invalid_token\""),
                "{what}: {}",
                answer.challenge
            );
            assert!(answer.challenge.contains("resource_metadata="), "{}", answer.challenge);
        }
    };
    let tampered = format!("{}x", &jwt[..jwt.len() - 1]);
    for (bearer, what) in [
        (id_token, "the ID token"),
        ("not-a-token", "garbage"),
        ("a.b.c", "a JWT-shaped garbage"),
        (tampered.as_str(), "a tampered JWT"),
    ] {
        refused(&url, bearer, what, &server);
    }
    // Nobody: 401 without an error.
    let answer = post(&url, None, None, &initialize_message());
    assert_eq!(answer.status, 401);
    assert!(!answer.challenge.contains("error="), "{}", answer.challenge);

    // The same access token passes (the refusals above were the tokens', not the server's).
    assert_eq!(account(&whoami(&url, jwt, &server)), kit.get("OIDC_LOGIN_ACCOUNT"));
    let log = server.log();
    assert_eq!(callers(&log).len(), 1, "only the valid token ran a tool:\n{log}");
    assert_no_secrets(&log, &[jwt, id_token]);
    drop(server);

    // A server without --audience expects its resource URL: the kit's `aud=rucio` token is
    // another audience there, and another issuer's token for that very URL is refused too.
    let (server, url) = rs_server(&kit, &cfg, &["--forward-user-token"]);
    refused(&url, jwt, "a token for rucio at a server expecting its URL", &server);
    let other = TestIdp::start();
    let foreign = other.token_for(&url, "alice")["access_token"].as_str().unwrap().to_owned();
    assert!(names_audience(&claims(&foreign), &url), "{}", claims(&foreign)["aud"]);
    refused(&url, &foreign, "another issuer's token for this resource", &server);
    let log = server.log();
    assert!(callers(&log).is_empty(), "no tool ran:\n{log}");
    assert_no_secrets(&log, &[jwt, &foreign]);
}
