//! Resource-server mode end to end: `rucio-mcp serve --auth resource-server` accepts the tokens
//! of a real OpenID provider (`TestIdp`: npm `oidc-provider` with JWT and opaque tokens,
//! introspection, revocation, short lifetimes) and refuses everything else with the right status
//! and challenge; `mcp-auth-proxy` signs a person in at that provider, found through the
//! server's RFC 9728 metadata, and works through it with the Python SDK and the Inspector CLI;
//! the minimal example server does the same in under 100 lines.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use e2e_tests::{
    HttpServer, TestIdp, assert_no_secrets, auth_proxy_binary, clients_dir, free_port,
    inspector_command, mcp_python, robot_cfg, target_dir,
};
use serde_json::{Value, json};
use test_kit::Kit;

fn block<T>(job: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(job)
}

/// rucio-mcp in resource-server mode for `idp` on `port`, serving `sites` (each the kit's root
/// robot: calls run as this server's own identity), with `extra` flags.
fn rs_server(idp: &TestIdp, dir: &Path, port: u16, sites: &[&str], extra: &[&str]) -> HttpServer {
    let kit = Kit::load();
    let cfg = robot_cfg(&kit, dir, kit.get("RUCIO_TLS_URL"));
    let secret = dir.join("introspection-secret");
    std::fs::write(&secret, idp.rs_client_secret()).unwrap();
    let port = port.to_string();
    let resource = format!("http://127.0.0.1:{port}/");
    let mut args: Vec<String> = ["--auth", "resource-server", "--issuer", &idp.issuer]
        .into_iter()
        .chain(["--port", &port, "--resource-url", &resource])
        .map(str::to_owned)
        .collect();
    for site in sites {
        args.extend(["--site".to_owned(), format!("{site}={cfg}")]);
    }
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args.extend(
        ["--introspection-client-id", TestIdp::RS_CLIENT_ID, "--introspection-client-secret-file"]
            .map(str::to_owned),
    );
    args.push(secret.display().to_string());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    HttpServer::start(&args, &[])
}

/// The status, the `WWW-Authenticate` and `Retry-After` values and the body of an MCP
/// `initialize` at `url` with `bearer`.
fn initialize(url: &str, bearer: Option<&str>) -> (u16, String, Option<String>, String) {
    block(async {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "e2e", "version": "1"}}});
        let mut request = reqwest::Client::new()
            .post(url)
            .header("accept", "application/json, text/event-stream")
            .json(&body);
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        let response = request.send().await.unwrap();
        let header =
            |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
        let (challenge, retry) =
            (header("www-authenticate").unwrap_or_default(), header("retry-after"));
        (response.status().as_u16(), challenge, retry, response.text().await.unwrap_or_default())
    })
}

fn status(url: &str, bearer: &str) -> u16 {
    initialize(url, Some(bearer)).0
}

fn access(token: &Value) -> String {
    token["access_token"].as_str().unwrap().to_owned()
}

fn introspections(idp: &TestIdp) -> u64 {
    idp.stats()["introspection"].as_u64().unwrap()
}

/// A JWT with `header` and `claims`, signed by nobody the server trusts.
fn forged(header: Value, claims: &Value, signature: &[u8]) -> String {
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.{}", part(&header), part(claims), URL_SAFE_NO_PAD.encode(signature))
}

/// Valid JWT and opaque tokens pass (introspection answers cached, counted at the provider);
/// tokens of another audience, another issuer, expired, revoked, malformed, unsigned or signed
/// with the wrong kind of key are refused with 401 and a challenge naming the metadata; a missing
/// scope gets 403; with the provider down, an unseen opaque token gets 503, and its return heals.
#[test]
fn tokens_of_the_issuer_pass_and_everything_else_is_refused() {
    let mut idp = TestIdp::start();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = rs_server(
        &idp,
        dir.path(),
        port,
        &["jwt", "opaque", "short-opaque", "short-jwt"],
        &["--required-scope", "mcp:tools", "--introspection-cache-ttl", "2", "--clock-leeway", "0"],
    );
    let base = format!("http://127.0.0.1:{port}");
    let url = |site: &str| format!("{base}/site/{site}/");

    // No token: 401, the challenge names the metadata and the scope; the metadata the issuer.
    let (code, challenge, _, _) = initialize(&url("jwt"), None);
    assert_eq!(code, 401);
    let metadata_url = format!("{base}/.well-known/oauth-protected-resource/site/jwt");
    assert_eq!(
        challenge,
        format!("Bearer resource_metadata=\"{metadata_url}\", scope=\"mcp:tools\"")
    );
    let metadata: Value =
        block(async { reqwest::get(&metadata_url).await.unwrap().json().await.unwrap() });
    assert_eq!(metadata["authorization_servers"], json!([idp.issuer]));
    assert_eq!(metadata["resource"], url("jwt"));
    assert_eq!(metadata["scopes_supported"], json!(["mcp:tools"]));

    // A JWT for the site passes; calls run as the server's own Rucio identity, the caller logged.
    let jwt = access(&idp.token_for(&url("jwt"), "alice"));
    assert_eq!(jwt.split('.').count(), 3);
    let (code, _, _, body) = initialize(&url("jwt"), Some(&jwt));
    assert_eq!(code, 200, "{body}\n{}", server.log());
    assert_eq!(introspections(&idp), 0, "a JWT is checked locally");

    // An opaque token passes through introspection, asked once while cached.
    let opaque = access(&idp.token_for(&url("opaque"), "bob"));
    assert_ne!(opaque.split('.').count(), 3);
    for _ in 0..3 {
        assert_eq!(status(&url("opaque"), &opaque), 200, "{}", server.log());
    }
    assert_eq!(introspections(&idp), 1, "one introspection, then the cache");

    // Another site's token (its audience) is refused, JWT or opaque.
    for (token, site) in [(&jwt, "opaque"), (&opaque, "jwt"), (&opaque, "short-opaque")] {
        let (code, challenge, _, _) = initialize(&url(site), Some(token));
        assert_eq!(code, 401, "{site}");
        assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
        assert!(
            challenge.contains(&format!("oauth-protected-resource/site/{site}\"")),
            "{challenge}"
        );
    }

    // Another issuer's token, for this very resource: refused.
    let other = TestIdp::start();
    assert_eq!(status(&url("jwt"), &access(&other.token_for(&url("jwt"), "alice"))), 401);
    assert_eq!(status(&url("opaque"), &access(&other.token_for(&url("opaque"), "alice"))), 401);

    // Garbage, `alg: none`, HS256 (key confusion) and an unknown key: 401 before any tool runs.
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(jwt.split('.').nth(1).unwrap()).unwrap())
            .unwrap();
    let kid = serde_json::from_slice::<Value>(
        &URL_SAFE_NO_PAD.decode(jwt.split('.').next().unwrap()).unwrap(),
    )
    .unwrap()["kid"]
        .clone();
    let jwks: Value = block(async {
        reqwest::get(format!("{}/jwks", idp.issuer)).await.unwrap().json().await.unwrap()
    });
    let public_key = jwks.to_string();
    let hmac = aws_lc_rs::hmac::sign(
        &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, public_key.as_bytes()),
        b"header.payload",
    );
    for bad in [
        "not-a-token".to_owned(),
        "a.b.c".to_owned(),
        forged(json!({"alg": "none", "kid": kid}), &claims, b""),
        forged(json!({"alg": "HS256", "kid": kid}), &claims, hmac.as_ref()),
        forged(json!({"alg": "RS256", "kid": "nobody"}), &claims, &[7; 256]),
        format!("{}x", &jwt[..jwt.len() - 1]),
    ] {
        let (code, challenge, _, _) = initialize(&url("jwt"), Some(&bad));
        assert_eq!(code, 401, "{bad}");
        assert!(challenge.contains("invalid_token"), "{challenge}");
    }

    // Revoked: refused once the cache time (2 s) is over, asking the provider again (refusals
    // are never cached: each refused opaque token above was asked about).
    idp.revoke(&opaque);
    let before = introspections(&idp);
    assert_eq!(status(&url("opaque"), &opaque), 200, "still cached");
    std::thread::sleep(std::time::Duration::from_millis(2_500));
    assert_eq!(status(&url("opaque"), &opaque), 401);
    assert_eq!(status(&url("opaque"), &opaque), 401);
    assert_eq!(introspections(&idp), before + 2, "a refusal is not cached");

    // Expired (the short resources' tokens live 5 s; no leeway): introspection says inactive,
    // the JWT's `exp` is past.
    let short = access(&idp.token_for(&url("short-opaque"), "carol"));
    let short_jwt = access(&idp.token_for(&url("short-jwt"), "carol"));
    assert_eq!(status(&url("short-opaque"), &short), 200, "{}", server.log());
    assert_eq!(status(&url("short-jwt"), &short_jwt), 200, "{}", server.log());
    std::thread::sleep(std::time::Duration::from_secs(TestIdp::SHORT_TTL + 2));
    assert_eq!(status(&url("short-opaque"), &short), 401);
    let (code, challenge, _, _) = initialize(&url("short-jwt"), Some(&short_jwt));
    assert_eq!(code, 401);
    assert!(
        challenge.contains("error_description=\"the access token has expired\""),
        "{challenge}"
    );

    // The provider down: an opaque token never seen cannot be checked (503, no challenge); a JWT
    // still can (the keys are cached). Back up: the same token passes.
    let unseen = access(&idp.token_for(&url("opaque"), "dave"));
    idp.stop();
    let (code, challenge, retry, _) = initialize(&url("opaque"), Some(&unseen));
    assert_eq!((code, challenge.as_str(), retry.as_deref()), (503, "", Some("30")));
    assert_eq!(status(&url("jwt"), &jwt), 200);
    idp.restart();
    // The restarted provider keeps no tokens: a fresh one passes, the old one is unknown now.
    let fresh = access(&idp.token_for(&url("opaque"), "dave"));
    assert_eq!(status(&url("opaque"), &fresh), 200, "{}", server.log());
    assert_eq!(status(&url("opaque"), &unseen), 401);

    let log = server.log();
    assert!(log.contains("token introspection failed"), "the outage is logged:\n{log}");
    assert_no_secrets(&log, &[&opaque, &fresh, idp.rs_client_secret()]);
}

/// A token without the required scope gets 403 `insufficient_scope` naming the scope; a server
/// without introspection credentials takes JWTs only (a revoked JWT until it expires), while
/// `--introspect-jwts` refuses a revoked JWT within the cache time.
#[test]
fn scopes_and_jwt_revocation_follow_the_configuration() {
    let idp = TestIdp::start();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let server =
        rs_server(&idp, dir.path(), port, &["jwt"], &["--required-scope", "mcp:tools,mcp:admin"]);
    let url = format!("http://127.0.0.1:{port}/site/jwt/");
    let token = access(&idp.token_for(&url, "alice"));
    let (code, challenge, _, _) = initialize(&url, Some(&token));
    assert_eq!(code, 403, "{}", server.log());
    assert!(challenge.contains("error=\"insufficient_scope\""), "{challenge}");
    assert!(challenge.contains("scope=\"mcp:tools mcp:admin\""), "{challenge}");
    drop(server);

    let port = free_port();
    let server = rs_server(
        &idp,
        dir.path(),
        port,
        &["jwt"],
        &["--introspect-jwts", "--introspection-cache-ttl", "1"],
    );
    let url = format!("http://127.0.0.1:{port}/site/jwt/");
    let token = access(&idp.token_for(&url, "alice"));
    assert_eq!(status(&url, &token), 200, "{}", server.log());
    let before = introspections(&idp);
    assert!(before >= 1, "the JWT was introspected too");
    idp.revoke(&token);
    std::thread::sleep(std::time::Duration::from_millis(1_500));
    assert_eq!(status(&url, &token), 401, "a revoked JWT, introspected");
}

/// The proxy's command line for `proxy_scenarios.py`.
fn through_proxy(
    scenario: &str,
    url: &str,
    env: &[(&str, String)],
    extra: &[&str],
) -> (bool, String) {
    let out = std::process::Command::new(mcp_python())
        .arg(clients_dir().join("proxy_scenarios.py"))
        .args([scenario, "--"])
        .arg(auth_proxy_binary())
        .arg(url)
        .args(extra)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    let all =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success() && all.contains(&format!("scenario {scenario}: ok")), all)
}

/// `mcp-auth-proxy` in front of resource-server mode: it finds the provider through the server's
/// metadata, registers itself (DCR), signs the person in with a browser (login and consent, PKCE,
/// `iss`, `resource`, `offline_access`), and works through the Python SDK and the Inspector CLI.
/// After a restart it uses its cache; a revoked access token is refreshed, the short-lived ones
/// past their expiry; with everything revoked the person signs in again; a tampered `iss` is
/// refused.
#[test]
fn the_auth_proxy_signs_a_person_in_at_the_issuer_of_a_resource_server() {
    let idp = TestIdp::start();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // Opaque tokens, introspected at every request: a revocation counts at once.
    let server = rs_server(
        &idp,
        dir.path(),
        port,
        &["opaque-lab", "short-opaque-lab"],
        &["--required-scope", "mcp:tools", "--introspection-cache-ttl", "0"],
    );
    let url = format!("http://127.0.0.1:{port}/site/opaque-lab/");
    let (browser_dir, browser) = idp.browser();
    let cache = dir.path().join("cache");
    let env = vec![
        ("EXPECT_ACCOUNT", "root".to_owned()),
        ("MCP_AUTH_PROXY_CACHE_DIR", cache.display().to_string()),
        ("BROWSER", browser.display().to_string()),
        ("IDP_LOGIN", "alice".to_owned()),
    ];
    let browser_log =
        || std::fs::read_to_string(browser_dir.path().join("browser.log")).unwrap_or_default();
    let shown = |all: &str| {
        format!(
            "{all}\n--- browser\n{}\n--- server\n{}\n--- idp\n{}",
            browser_log(),
            server.log(),
            idp.log()
        )
    };

    let (ok, first) = through_proxy("signed_in", &url, &env, &["--debug"]);
    assert!(ok && first.contains("sign in at"), "{}", shown(&first));
    assert_eq!(idp.stats()["registration"], 1, "the proxy registered itself");
    assert!(server.log().contains("caller=alice"), "the caller is recorded:\n{}", server.log());
    let entry_file = || {
        let entries: Vec<_> = std::fs::read_dir(cache.join("tokens")).unwrap().flatten().collect();
        assert_eq!(entries.len(), 1);
        entries[0].path()
    };
    let entry = || serde_json::from_slice::<Value>(&std::fs::read(entry_file()).unwrap()).unwrap();
    let first_entry = entry();
    assert!(first_entry["refresh_token"].is_string(), "offline_access granted: {first_entry:#}");
    assert_no_secrets(&first, &[first_entry["access_token"].as_str().unwrap()]);

    // Restarted: the cache, no browser.
    let mut no_browser = env.clone();
    no_browser.retain(|(k, _)| *k != "BROWSER");
    no_browser.push(("BROWSER", "/bin/false".to_owned()));
    let (ok, second) = through_proxy("signed_in", &url, &no_browser, &[]);
    assert!(ok && !second.contains("sign in at"), "{}", shown(&second));

    // The access token revoked at the provider: the server refuses it, the proxy refreshes once
    // and goes on without a browser.
    idp.revoke(first_entry["access_token"].as_str().unwrap());
    let (ok, third) = through_proxy("signed_in", &url, &no_browser, &["--debug"]);
    assert!(ok && third.contains("refreshed"), "{}", shown(&third));
    assert_ne!(entry()["access_token"], first_entry["access_token"]);
    // Everything revoked: a new sign-in in the browser.
    idp.revoke_all();
    let (ok, fourth) = through_proxy("signed_in", &url, &env, &[]);
    assert!(ok && fourth.contains("sign in at"), "{}", shown(&fourth));

    // Short-lived tokens (5 s): the proxy refreshes past their expiry without a browser.
    let short_url = format!("http://127.0.0.1:{port}/site/short-opaque-lab/");
    let (ok, fifth) = through_proxy("signed_in", &short_url, &env, &[]);
    assert!(ok, "{}", shown(&fifth));
    std::thread::sleep(std::time::Duration::from_secs(TestIdp::SHORT_TTL + 1));
    let (ok, sixth) = through_proxy("signed_in", &short_url, &no_browser, &["--debug"]);
    assert!(ok && sixth.contains("refreshed"), "{}", shown(&sixth));

    // The Inspector CLI through the proxy, on the cached sign-in.
    let out = inspector_command()
        .args([
            "--format",
            "json",
            "-q",
            "--method",
            "tools/call",
            "--tool-name",
            "rucio_whoami",
            // The Inspector hands its server a clean environment: the cache goes by -e.
            "-e",
            &format!("MCP_AUTH_PROXY_CACHE_DIR={}", cache.display()),
            "-e",
            "BROWSER=/bin/false",
            "--",
        ])
        .arg(auth_proxy_binary())
        .arg(&url)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let whoami: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(whoami["result"]["structuredContent"]["account"], "root", "{whoami:#}");

    // A mixed-up issuer in the authorization response: refused, nothing kept.
    let mut tampered = env.clone();
    let other_cache = dir.path().join("tampered");
    tampered.retain(|(k, _)| *k != "MCP_AUTH_PROXY_CACHE_DIR");
    tampered.extend([
        ("MCP_AUTH_PROXY_CACHE_DIR", other_cache.display().to_string()),
        ("TAMPER", "iss".to_owned()),
        ("EXPECT_ERROR", "mix-up".to_owned()),
    ]);
    let (ok, refused) = through_proxy("refused", &url, &tampered, &[]);
    assert!(ok, "{}", shown(&refused));
    assert!(!other_cache.join("tokens").exists(), "nothing was kept");
}

/// The example of `examples/resource-server`: a tool set behind the verifier in under 100 lines
/// answers a token of the provider as its user, and refuses the rest.
#[test]
fn the_minimal_example_takes_the_issuers_tokens() {
    let idp = TestIdp::start();
    let binary = target_dir().join("debug/resource-server");
    assert!(binary.exists(), "build it: cargo build -p resource-server");
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}/mcp/");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let mut child = std::process::Command::new(&binary)
        .env("ISSUER", &idp.issuer)
        .env("PUBLIC_URL", &public)
        .env("REQUIRED_SCOPE", "mcp:tools")
        .env("INTROSPECTION_CLIENT_ID", TestIdp::RS_CLIENT_ID)
        .env("INTROSPECTION_CLIENT_SECRET", idp.rs_client_secret())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !std::fs::read_to_string(&log).unwrap_or_default().contains("MCP at") {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let (code, challenge, _, _) = initialize(&public, None);
    assert_eq!(code, 401);
    assert!(challenge.contains("resource_metadata="), "{challenge}");
    for resource in [public.clone(), format!("{public}opaque")] {
        // The opaque resource is another audience: only the first passes.
        let token = access(&idp.token_for(&resource, "erin"));
        let (code, _, _, body) = initialize(&public, Some(&token));
        if resource == public {
            assert_eq!(code, 200, "{body}");
        } else {
            assert_eq!(code, 401);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}
