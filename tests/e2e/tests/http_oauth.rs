//! `rucio-mcp serve --transport http` in OIDC bridge mode, end to end against the real Rucio with
//! its OIDC login wired to the local OpenID provider: the Python MCP SDK runs the whole OAuth flow
//! (discovery, DCR or CIMD, PKCE, consent, Rucio's sign-in, token, refresh) and calls tools as the
//! signed-in user; a small client here walks the same flow by hand to try what a real client never
//! sends (replayed codes, wrong verifiers, foreign redirects, forged consent, bogus tokens).
//!
//! Each test runs its own server on its own port; logins go through the shared Rucio and IdP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use base64::Engine as _;
use e2e_tests::{
    ClientMetadataDocument, HttpServer, InspectorHome, Relay, assert_no_secrets, assert_success,
    browser_env, clients_dir, free_port, mcp_python, oidc_cfg,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use test_kit::Kit;

const REDIRECT: &str = "http://127.0.0.1:33418/callback";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// A bridge-mode server with sites `local` (the real Rucio through a relay) and `other`.
struct Bridge {
    kit: Kit,
    server: HttpServer,
    relay: Relay,
    base: String,
    _dir: tempfile::TempDir,
}

impl Bridge {
    fn start(extra: &[&str], env: &[(&str, &str)]) -> Self {
        let port = free_port();
        Self::start_at(port, &format!("http://127.0.0.1:{port}/"), extra, env)
    }

    /// A server on `port` that clients know as `resource` (replicas share one resource URL).
    fn start_at(port: u16, resource: &str, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let kit = Kit::load();
        let dir = tempfile::tempdir().unwrap();
        let relay = Relay::start(kit.get("RUCIO_URL").trim_start_matches("http://"));
        let local = oidc_cfg(&kit, dir.path(), "local", &format!("http://{}", relay.addr));
        let other = oidc_cfg(&kit, dir.path(), "other", kit.get("RUCIO_URL"));
        let port = port.to_string();
        let base = format!("http://127.0.0.1:{port}");
        let local = format!("local={local}");
        let other = format!("other={other}");
        let mut args = vec![
            "--port",
            &port,
            "--resource-url",
            resource,
            "--site",
            &local,
            "--site",
            &other,
            "--log-level",
            "debug",
        ];
        args.extend_from_slice(extra);
        let server = HttpServer::start(&args, env);
        Self { kit, server, relay, base, _dir: dir }
    }

    fn site(&self, name: &str) -> String {
        format!("{}/site/{name}", self.base)
    }

    fn scenario(&self, scenario: &str, site: &str, env: &[(&str, &str)]) -> Output {
        python(scenario, &format!("{}/", self.site(site)), &self.kit, env)
    }
}

fn python(scenario: &str, url: &str, kit: &Kit, env: &[(&str, &str)]) -> Output {
    Command::new(mcp_python())
        .arg(clients_dir().join("oauth_scenarios.py"))
        .args([scenario, url])
        .envs(browser_env(kit))
        .env("EXPECT_ACCOUNT", kit.get("OIDC_LOGIN_ACCOUNT"))
        .env("EXPECT_SITE", "local")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// The `TOKENS {...}` line a sign-in scenario prints.
fn tokens_of(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().find_map(|l| l.strip_prefix("TOKENS ")).expect("no TOKENS line");
    serde_json::from_str(line).unwrap()
}

// ------------------------------------------------------------------ the flow by hand

/// PKCE verifier and S256 challenge.
fn pkce() -> (String, String) {
    let verifier = format!("v{}", "erifier-0123456789-abcdefghijklmnopqrstuvwxyz");
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    (verifier, base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref()))
}

/// A client that does by hand what OAuth clients do, so tests can also do what they must not.
struct Hand {
    http: reqwest::Client,
    issuer: String,
    kit: Kit,
}

struct Authorization {
    code: String,
    state: Option<String>,
    iss: Option<String>,
}

impl Hand {
    fn new(issuer: &str, kit: &Kit) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let _ = kit;
        Self { http, issuer: issuer.to_owned(), kit: Kit::load() }
    }

    async fn register(&self, body: Value) -> (StatusCode, Value) {
        let r =
            self.http.post(format!("{}/register", self.issuer)).json(&body).send().await.unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn client(&self, name: &str) -> String {
        let (status, body) =
            self.register(json!({"redirect_uris": [REDIRECT], "client_name": name})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["client_id"].as_str().unwrap().to_owned()
    }

    fn authorize_url(&self, params: &[(&str, &str)]) -> String {
        let mut url = reqwest::Url::parse(&format!("{}/authorize", self.issuer)).unwrap();
        url.query_pairs_mut().extend_pairs(params);
        url.to_string()
    }

    async fn get(&self, url: &str) -> reqwest::Response {
        self.http.get(url).send().await.unwrap()
    }

    /// Consent (allow), Rucio's sign-in at the IdP, back to the redirect URI: the code.
    async fn sign_in(&self, client_id: &str, challenge: &str, state: &str) -> Authorization {
        let url = self.authorize_url(&[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
            ("state", state),
        ]);
        let consent = self.get(&url).await;
        assert_eq!(consent.status(), StatusCode::OK);
        let cookie =
            consent.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        let page = consent.text().await.unwrap();
        let fields = hidden_fields(&page);
        let answer = self.allow(Some(&cookie), &fields["request"], &fields["csrf"]).await;
        assert_eq!(answer.status(), StatusCode::SEE_OTHER, "{}", answer.text().await.unwrap());
        let waiting = absolute(&self.issuer, answer.headers()["location"].to_str().unwrap());
        let page = self.get(&waiting).await.text().await.unwrap();
        let login = html_unescape(
            page.split("<a class=\"login\" href=\"").nth(1).unwrap().split('"').next().unwrap(),
        );
        let kit_python = PathBuf::from(self.kit.get("RUCIO_VENV")).join("bin/python");
        let script = PathBuf::from(self.kit.get("RUCIO_BASE")).join("lib/browser_login.py");
        let login_name = self.kit.get("OIDC_LOGIN").to_owned();
        let done = tokio::task::spawn_blocking(move || {
            Command::new(kit_python)
                .arg(script)
                .args([login.as_str(), login_name.as_str()])
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        assert!(done.status.success(), "IdP login: {}", String::from_utf8_lossy(&done.stdout));
        let back = self.get(&format!("{waiting}?wait=1")).await;
        assert_eq!(back.status(), StatusCode::SEE_OTHER);
        let location = reqwest::Url::parse(back.headers()["location"].to_str().unwrap()).unwrap();
        assert!(location.as_str().starts_with(REDIRECT), "{location}");
        let query: HashMap<String, String> = location.query_pairs().into_owned().collect();
        Authorization {
            code: query["code"].clone(),
            state: query.get("state").cloned(),
            iss: query.get("iss").cloned(),
        }
    }

    /// Submits the consent form (`decision=allow`) with `cookie` (`name=value`), if any.
    async fn allow(&self, cookie: Option<&str>, request: &str, csrf: &str) -> reqwest::Response {
        let mut post = self.http.post(format!("{}/consent", self.issuer));
        if let Some(cookie) = cookie {
            post = post.header("cookie", cookie);
        }
        post.form(&[("request", request), ("csrf", csrf), ("decision", "allow")])
            .send()
            .await
            .unwrap()
    }

    async fn token(&self, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let r = self.http.post(format!("{}/token", self.issuer)).form(form).send().await.unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

fn hidden_fields(page: &str) -> HashMap<String, String> {
    page.split("<input type=\"hidden\" name=\"")
        .skip(1)
        .filter_map(|rest| {
            let (name, rest) = rest.split_once('"')?;
            let value = rest.split("value=\"").nth(1)?.split('"').next()?;
            Some((name.to_owned(), html_unescape(value)))
        })
        .collect()
}

fn html_unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn absolute(issuer: &str, location: &str) -> String {
    reqwest::Url::parse(issuer).unwrap().join(location).unwrap().to_string()
}

async fn mcp_post(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let mut request = http
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let r = request.send().await.unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    (status, headers, r.text().await.unwrap_or_default())
}

fn initialize() -> Vec<u8> {
    serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "e2e", "version": "1"}}}))
    .unwrap()
}

// ------------------------------------------------------------------ tests

/// The Python SDK signs in by itself (DCR), calls tools as the user, refreshes; metrics count it
/// under route templates; no token reaches the log.
#[test]
fn python_sdk_signs_in_with_dcr_and_works_as_the_user() {
    let bridge = Bridge::start(&[], &[]);
    let out = bridge.scenario("sign_in", "local", &[]);
    assert_success(&out, "sign-in with DCR", &bridge.server);
    let tokens = tokens_of(&out);

    let metrics = runtime().block_on(async {
        reqwest::get(&bridge.server.metrics_url).await.unwrap().text().await.unwrap()
    });
    for expected in [
        r#"rucio_mcp_bridge_auth_total{site="local",outcome="token_issued"} 1"#,
        r#"rucio_mcp_bridge_auth_total{site="local",outcome="refreshed"} 1"#,
        r#"rucio_mcp_bridge_auth_total{site="local",outcome="registered"} 1"#,
        r#"rucio_mcp_tool_calls_total{site="local",tool="rucio_whoami"}"#,
        r#"path_template="/site/{site}/token""#,
        r#"path_template="/site/{site}/authorize""#,
        r#"path_template="/site/{site}/consent""#,
        r#"path_template="/site/{site}/register""#,
        r#"path_template="/.well-known/oauth-protected-resource/site/{site}""#,
        r#"rucio_mcp_bridge_sessions{site="local",status="pending"} 0"#,
    ] {
        assert!(metrics.contains(expected), "metrics lack {expected}:\n{metrics}");
    }
    assert!(!metrics.contains("mcp-dcr."), "raw client ids or paths in metric labels");
    assert_no_secrets(
        &bridge.server.log(),
        &[tokens["access_token"].as_str().unwrap(), tokens["refresh_token"].as_str().unwrap()],
    );
}

/// CIMD: the client_id is an https URL serving the client's metadata (from 127.0.0.1, allowed
/// by --allow-loopback-cimd, trusted through SSL_CERT_FILE).
#[test]
fn python_sdk_signs_in_with_a_client_metadata_document() {
    let document = ClientMetadataDocument::serve("E2E <i>CIMD</i> client", REDIRECT);
    let bridge = Bridge::start(&["--allow-loopback-cimd"], &[("SSL_CERT_FILE", &document.ca)]);
    let out = bridge.scenario(
        "sign_in",
        "local",
        &[
            ("CLIENT_METADATA_URL", &document.url),
            ("EXPECT_NAME_ESCAPED", "E2E &lt;i&gt;CIMD&lt;/i&gt; client"),
        ],
    );
    drop(document);
    assert_success(&out, "sign-in with CIMD", &bridge.server);
    assert!(bridge.server.log().contains("--allow-loopback-cimd is on"));
}

/// Without --allow-loopback-cimd, a client_id URL on a loopback address is never fetched.
#[test]
fn metadata_documents_on_private_addresses_are_refused() {
    let bridge = Bridge::start(&[], &[]);
    let (verifier, challenge) = pkce();
    let _ = verifier;
    runtime().block_on(async {
        let hand = Hand::new(&bridge.site("local"), &bridge.kit);
        for client_id in [
            "https://127.0.0.1:9/client.json",
            "https://10.0.0.1/client.json",
            "https://169.254.169.254/latest/meta-data",
        ] {
            let url = hand.authorize_url(&[
                ("response_type", "code"),
                ("client_id", client_id),
                ("redirect_uri", REDIRECT),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ]);
            let r = hand.get(&url).await;
            assert_eq!(r.status(), StatusCode::BAD_REQUEST);
            let page = r.text().await.unwrap();
            assert!(page.contains("not a public address"), "{page}");
        }
    });
}

/// The person refuses at the consent page: the client is told access_denied and gets nothing.
#[test]
fn denying_consent_tells_the_client() {
    let bridge = Bridge::start(&[], &[]);
    let out = bridge.scenario("deny", "local", &[]);
    assert_success(&out, "deny", &bridge.server);
}

/// Codes are single-use and bound to client, redirect URI, PKCE verifier and resource; the
/// authorization response carries iss; state comes back unchanged, markup and all.
#[test]
fn codes_are_single_use_and_bound() {
    let bridge = Bridge::start(&[], &[]);
    let issuer = bridge.site("local");
    runtime().block_on(async {
        let hand = Hand::new(&issuer, &bridge.kit);
        let client = hand.client("<script>alert('x')</script>").await;
        let other_client = hand.client("another").await;
        let (verifier, challenge) = pkce();
        let state = "<b>\"state\"</b>&x=1";
        let auth = hand.sign_in(&client, &challenge, state).await;
        assert_eq!(auth.state.as_deref(), Some(state));
        assert_eq!(auth.iss.as_deref(), Some(issuer.as_str()));
        let form = |client: &str, redirect: &str, verifier: Option<&str>| {
            let mut f = vec![
                ("grant_type", "authorization_code".to_owned()),
                ("code", auth.code.clone()),
                ("client_id", client.to_owned()),
                ("redirect_uri", redirect.to_owned()),
            ];
            if let Some(v) = verifier {
                f.push(("code_verifier", v.to_owned()));
            }
            f
        };
        let as_refs = |f: &Vec<(&'static str, String)>| {
            f.iter().map(|(k, v)| (*k, v.clone())).collect::<Vec<_>>()
        };
        for (bad, why) in [
            (form(&other_client, REDIRECT, Some(&verifier)), "another client"),
            (
                form(&client, "http://127.0.0.1:33418/elsewhere", Some(&verifier)),
                "another redirect URI",
            ),
            (form(&client, REDIRECT, None), "no verifier"),
            (
                form(&client, REDIRECT, Some("wrong-verifier-wrong-verifier-wrong-verifier-0000")),
                "a wrong verifier",
            ),
        ] {
            let pairs = as_refs(&bad);
            let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let (status, body) = hand.token(&pairs).await;
            assert_eq!(
                (status, body["error"].as_str()),
                (StatusCode::BAD_REQUEST, Some("invalid_grant")),
                "{why}: {body}"
            );
        }
        let good = as_refs(&form(&client, REDIRECT, Some(&verifier)));
        let good: Vec<(&str, &str)> = good.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, body) = hand.token(&good).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["token_type"], "Bearer");
        assert!(body["expires_in"].as_i64().unwrap() > 60);
        let (status, replay) = hand.token(&good).await;
        assert_eq!(
            (status, replay["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant")),
            "replayed code: {replay}"
        );

        // The token works at its own site only, and only in the header.
        let access = body["access_token"].as_str().unwrap();
        let http = reqwest::Client::new();
        let (status, _, _) =
            mcp_post(&http, &format!("{issuer}/"), Some(access), initialize()).await;
        assert_eq!(status, StatusCode::OK);
        let (status, headers, _) =
            mcp_post(&http, &format!("{}/", bridge.site("other")), Some(access), initialize())
                .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "a token of site local at site other");
        let challenge = headers["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.contains("invalid_token")
                && challenge.contains("/.well-known/oauth-protected-resource/site/other"),
            "{challenge}"
        );
        let refresh = body["refresh_token"].as_str().unwrap();
        let (status, _, _) =
            mcp_post(&http, &format!("{issuer}/"), Some(refresh), initialize()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "a refresh token used as an access token");
        let (status, _, _) =
            mcp_post(&http, &format!("{issuer}/?access_token={access}"), None, initialize()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "a token in the query string");
        let middle = access.len() / 2;
        let swap = if &access[middle..=middle] == "A" { "B" } else { "A" };
        let flipped = format!("{}{swap}{}", &access[..middle], &access[middle + 1..]);
        let (status, _, _) =
            mcp_post(&http, &format!("{issuer}/"), Some(&flipped), initialize()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "a tampered token");
        let (status, _, body) =
            mcp_post(&http, &format!("{issuer}/"), Some(access), b"{not json".to_vec()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "malformed JSON-RPC with a good token");
        assert!(body.contains("-32700"), "{body}");

        // Revoking the refresh token spends it.
        let r = hand
            .http
            .post(format!("{issuer}/revoke"))
            .form(&[("token", refresh), ("client_id", &client)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let (status, body) = hand
            .token(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh),
                ("client_id", &client),
            ])
            .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant")),
            "{body}"
        );
    });
    assert_no_secrets(&bridge.server.log(), &[]);
}

/// What `/authorize` and `/register` refuse, and how: shown to the person when the redirect URI
/// cannot be trusted, sent to the client otherwise.
#[test]
fn bad_authorization_requests_are_refused() {
    let bridge = Bridge::start(&[], &[]);
    let issuer = bridge.site("local");
    runtime().block_on(async {
        let hand = Hand::new(&issuer, &bridge.kit);
        for (uris, why) in [
            (json!(["javascript:alert(1)"]), "javascript:"),
            (json!(["data:text/html,<script>x</script>"]), "data:"),
            (json!(["http://evil.example/cb"]), "plain http off loopback"),
            (json!([]), "no redirect URI"),
        ] {
            let (status, body) = hand.register(json!({"redirect_uris": uris})).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{why}: {body}");
            assert_eq!(body["error"], "invalid_redirect_uri", "{why}");
        }
        let r = hand
            .http
            .post(format!("{issuer}/register"))
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);

        let client = hand.client("client").await;
        let (_, challenge) = pkce();
        let base = |extra: &[(&'static str, &str)]| {
            let mut p: Vec<(&str, &str)> = vec![
                ("response_type", "code"),
                ("client_id", &client),
                ("redirect_uri", REDIRECT),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
                ("state", "s1"),
            ];
            for (k, v) in extra {
                p.retain(|(key, _)| key != k);
                p.push((k, v));
            }
            hand.authorize_url(&p)
        };
        // Errors the client hears about through its redirect URI.
        for (extra, error) in [
            (vec![("code_challenge_method", "plain")], "invalid_request"),
            (vec![("response_type", "token")], "unsupported_response_type"),
            (vec![("resource", "http://127.0.0.1:1/site/elsewhere/")], "invalid_target"),
            (vec![("code_challenge", "short")], "invalid_request"),
        ] {
            let r = hand.get(&base(&extra)).await;
            assert_eq!(r.status(), StatusCode::SEE_OTHER, "{extra:?}");
            let location = r.headers()["location"].to_str().unwrap().to_owned();
            assert!(
                location.starts_with(REDIRECT)
                    && location.contains(&format!("error={error}"))
                    && location.contains("state=s1")
                    && location.contains("iss="),
                "{extra:?}: {location}"
            );
        }
        // Errors shown in the browser: the redirect URI is not trusted.
        for (extra, title) in [
            (vec![("redirect_uri", "https://evil.example/cb")], "Unregistered redirect"),
            (vec![("client_id", "mcp-dcr.forged")], "Unknown client"),
            (vec![("client_id", "nobody")], "Unknown client"),
        ] {
            let r = hand.get(&base(&extra)).await;
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{extra:?}");
            assert!(r.text().await.unwrap().contains(title), "{extra:?}");
        }
        // A consent form replayed without the browser's cookie, or forged, is refused.
        let page = hand.get(&base(&[])).await.text().await.unwrap();
        assert!(!page.contains("<script>") || page.contains("default-src"), "markup in the page");
        let fields = hidden_fields(&page);
        let r = hand.allow(None, &fields["request"], &fields["csrf"]).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "consent without the cookie");
        let cookie = format!("mcp_bridge_csrf={}", fields["csrf"]);
        let r = hand.allow(Some(&cookie), "forged", &fields["csrf"]).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "a forged request");
        // /token without the basics.
        let (status, body) =
            hand.token(&[("grant_type", "authorization_code"), ("code", "x")]).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_client"))
        );
        let (status, body) =
            hand.token(&[("grant_type", "password"), ("client_id", &client)]).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("unsupported_grant_type"))
        );
        let (status, body) = hand
            .token(&[
                ("grant_type", "authorization_code"),
                ("client_id", &client),
                ("code", "garbage"),
                ("redirect_uri", REDIRECT),
                ("code_verifier", "x"),
            ])
            .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant"))
        );
    });
}

/// A flood of registrations from one address is cut off; the server stays up.
#[test]
fn a_registration_flood_is_limited() {
    let bridge = Bridge::start(&[], &[]);
    runtime().block_on(async {
        let hand = Hand::new(&bridge.site("local"), &bridge.kit);
        let mut statuses = Vec::new();
        for i in 0..30 {
            let (status, _) = hand
                .register(json!({"redirect_uris": [REDIRECT], "client_name": format!("flood {i}")}))
                .await;
            statuses.push(status);
        }
        assert_eq!(
            statuses.iter().filter(|s| **s == StatusCode::CREATED).count(),
            20,
            "{statuses:?}"
        );
        assert_eq!(statuses.last(), Some(&StatusCode::TOO_MANY_REQUESTS));
        let r = reqwest::get(format!("{}/healthz", bridge.base)).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    });
}

/// The HTTP edge in bridge mode: discovery answers, 401 carries resource_metadata, foreign Host
/// and Origin get 403, a huge body 413, malformed JSON-RPC a JSON-RPC error.
#[test]
fn the_edge_checks_before_anything_runs() {
    let bridge = Bridge::start(&[], &[]);
    let issuer = bridge.site("local");
    runtime().block_on(async {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        let (status, headers, _) = mcp_post(&http, &format!("{issuer}/"), None, initialize()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let challenge = headers["www-authenticate"].to_str().unwrap();
        assert_eq!(
            challenge,
            format!(
                "Bearer resource_metadata=\"{}/.well-known/oauth-protected-resource/site/local\"",
                bridge.base
            )
        );
        let (status, _, _) =
            mcp_post(&http, &format!("{issuer}/"), Some("bogus"), initialize()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);

        let prm: Value = http
            .get(format!("{}/.well-known/oauth-protected-resource/site/local", bridge.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(prm["resource"], format!("{issuer}/"));
        assert_eq!(prm["authorization_servers"][0], issuer);
        for url in [
            format!("{}/.well-known/oauth-authorization-server/site/local", bridge.base),
            format!("{issuer}/.well-known/oauth-authorization-server"),
        ] {
            let r = http
                .get(&url)
                .header("origin", "https://some-web-client.example")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{url}");
            assert_eq!(
                r.headers()["access-control-allow-origin"],
                "*",
                "metadata must be readable by browser clients"
            );
            let asm: Value = r.json().await.unwrap();
            assert_eq!(asm["issuer"], issuer);
            assert_eq!(asm["code_challenge_methods_supported"], json!(["S256"]));
            assert_eq!(asm["client_id_metadata_document_supported"], true);
            assert_eq!(asm["authorization_response_iss_parameter_supported"], true);
        }
        let r = http
            .get(format!("{}/.well-known/oauth-authorization-server/site/local", bridge.base))
            .header("host", "evil.example")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "foreign Host on the bridge's routes");
        let r = http
            .post(format!("{issuer}/"))
            .header("origin", "https://evil.example")
            .header("content-type", "application/json")
            .body(initialize())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "foreign Origin at the MCP endpoint");
        let r = http
            .post(format!("{issuer}/register"))
            .header("content-type", "application/json")
            .body(vec![b' '; 20 * 1024 * 1024])
            .send()
            .await;
        assert_eq!(r.unwrap().status(), StatusCode::PAYLOAD_TOO_LARGE, "a 20 MB registration");
        let r = reqwest::get(format!("{}/healthz", bridge.base)).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "the server stays up");
        let landing =
            http.get(format!("{}/", bridge.base)).send().await.unwrap().text().await.unwrap();
        assert!(
            landing.contains(&format!("{issuer}/")) && landing.contains("browser"),
            "the landing page names each site's URL and the browser sign-in"
        );
    });
}

/// Rucio down when a login starts, or answering garbage: a clear page, and the server stays up.
/// Rucio down during tool calls: clear tool errors, /readyz fails, recovery afterwards.
#[test]
fn rucio_outages_during_login_and_calls() {
    let garbage = GarbageServer::start();
    let kit = Kit::load();
    let dir = tempfile::tempdir().unwrap();
    let junk = oidc_cfg(&kit, dir.path(), "junk", &format!("http://{}", garbage.addr));
    let junk = format!("junk={junk}");
    let bridge = Bridge::start(&["--site", &junk], &[]);
    runtime().block_on(async {
        // Garbage: the sign-in cannot start.
        let hand = Hand::new(&bridge.site("junk"), &bridge.kit);
        let page = consent_and_allow(&hand).await;
        assert_eq!(page.0, StatusCode::BAD_GATEWAY);
        assert!(
            page.1.contains("Rucio (junk) is not available") && page.1.contains("unexpected"),
            "{}",
            page.1
        );
        // Down: the same, clearly.
        bridge.relay.go_down();
        let hand = Hand::new(&bridge.site("local"), &bridge.kit);
        let page = consent_and_allow(&hand).await;
        assert_eq!(page.0, StatusCode::BAD_GATEWAY);
        assert!(page.1.contains("not reachable"), "{}", page.1);
        let ready = reqwest::get(format!("{}/readyz", bridge.base)).await.unwrap();
        assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
        let health = reqwest::get(format!("{}/healthz", bridge.base)).await.unwrap();
        assert_eq!(health.status(), StatusCode::OK);
        bridge.relay.come_back();
    });
    // Signed in while Rucio is up; Rucio goes away mid-session and returns.
    let out = bridge.scenario("sign_in", "local", &[]);
    assert_success(&out, "sign-in", &bridge.server);
    let token = tokens_of(&out)["access_token"].as_str().unwrap().to_owned();
    bridge.relay.go_down();
    runtime().block_on(async {
        let http = reqwest::Client::new();
        let url = format!("{}/", bridge.site("local"));
        let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "rucio_whoami", "arguments": {}}});
        let (status, _, body) = stateless_call(&http, &url, &token, &call).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("isError") && body.contains("network"), "{body}");
        bridge.relay.come_back();
        let (_, _, body) = stateless_call(&http, &url, &token, &call).await;
        assert!(body.contains("jdoe") && !body.contains("\"isError\":true"), "{body}");
    });
}

/// Initialize and call one tool in a 2025-11-25 session; the call's raw answer.
async fn stateless_call(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    call: &Value,
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let r = http
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(initialize())
        .send()
        .await
        .unwrap();
    let session = r.headers().get("mcp-session-id").map(|v| v.to_str().unwrap().to_owned());
    let _ = r.text().await;
    let mut request = http
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25");
    if let Some(session) = &session {
        let notified = http
            .post(url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-11-25")
            .body(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string())
            .send()
            .await
            .unwrap();
        assert!(notified.status().is_success());
        request = request.header("mcp-session-id", session);
    }
    let r = request.body(call.to_string()).send().await.unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    (status, headers, r.text().await.unwrap_or_default())
}

/// Registers, opens the consent page and allows: the answer to the consent POST.
async fn consent_and_allow(hand: &Hand) -> (StatusCode, String) {
    let client = hand.client("outage").await;
    let (_, challenge) = pkce();
    let url = hand.authorize_url(&[
        ("response_type", "code"),
        ("client_id", &client),
        ("redirect_uri", REDIRECT),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    let consent = hand.get(&url).await;
    let cookie =
        consent.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let fields = hidden_fields(&consent.text().await.unwrap());
    let r = hand.allow(Some(&cookie), &fields["request"], &fields["csrf"]).await;
    (r.status(), r.text().await.unwrap())
}

/// A "Rucio" that answers every request with 200 and garbage.
struct GarbageServer {
    addr: std::net::SocketAddr,
    _thread: std::thread::JoinHandle<()>,
}

impl GarbageServer {
    fn start() -> Self {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut buffer = [0u8; 4096];
                let _ = stream.read(&mut buffer);
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 9\r\nconnection: close\r\n\r\n<garbage>");
            }
        });
        Self { addr, _thread: thread }
    }
}

/// Two replicas with one key file and one Redis: sign in through one, work through the other;
/// codes and refresh tokens stay single-use across both; a restart loses nothing.
#[test]
fn replicas_share_keys_and_redis() {
    let kit = Kit::load();
    let keys = tempfile::NamedTempFile::new().unwrap();
    let key = Command::new(e2e_tests::rucio_mcp_binary()).arg("token-key").output().unwrap();
    std::fs::write(keys.path(), &key.stdout).unwrap();
    let key_file = keys.path().to_str().unwrap().to_owned();
    let redis = kit.get("REDIS_URL").to_owned();
    let port_a = free_port();
    let resource = format!("http://127.0.0.1:{port_a}/");
    let args = ["--token-key-file", key_file.as_str(), "--redis-url", redis.as_str()];
    let a = Bridge::start_at(port_a, &resource, &args, &[]);
    let b = Bridge::start_at(free_port(), &resource, &args, &[]);

    // Signed in through A (the SDK's own flow), the token works at B.
    let out = a.scenario("sign_in", "local", &[]);
    assert_success(&out, "sign-in through replica A", &a.server);
    let tokens = tokens_of(&out);
    let access = tokens["access_token"].as_str().unwrap();
    let out = b.scenario("use_token", "local", &[("ACCESS_TOKEN", access)]);
    assert_success(&out, "the token at replica B", &b.server);

    runtime().block_on(async {
        // A code from A is exchanged at B, and is then spent at A too.
        let at_a = Hand::new(&a.site("local"), &kit);
        let at_b = Hand::new(&b.site("local"), &kit);
        let client = at_a.client("replicas").await;
        let (verifier, challenge) = pkce();
        let auth = at_a.sign_in(&client, &challenge, "s").await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", auth.code.as_str()),
            ("client_id", client.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.as_str()),
        ];
        let (status, body) = at_b.token(&form).await;
        assert_eq!(status, StatusCode::OK, "the code of A at B: {body}");
        let (status, body) = at_a.token(&form).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant"))
        );
        // A refresh token used at B is spent at A.
        let refresh = tokens["refresh_token"].as_str().unwrap();
        let client_id = tokens["client_id"].as_str().unwrap();
        let form =
            [("grant_type", "refresh_token"), ("refresh_token", refresh), ("client_id", client_id)];
        let (status, body) = at_b.token(&form).await;
        assert_eq!(status, StatusCode::OK, "refresh at B: {body}");
        let (status, body) = at_a.token(&form).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant"))
        );
    });

    // A restarted replica still accepts the tokens it issued.
    drop(a);
    let a = Bridge::start_at(port_a, &resource, &args, &[]);
    let out = a.scenario("use_token", "local", &[("ACCESS_TOKEN", access)]);
    assert_success(&out, "the token after a restart", &a.server);
    assert_no_secrets(&a.server.log(), &[access]);
    assert_no_secrets(&b.server.log(), &[access]);
}

/// The MCP Inspector CLI signs in by itself (DCR, PKCE, its own loopback callback), with a
/// `BROWSER` that plays the person, then lists and calls tools as the user.
#[test]
fn inspector_cli_signs_in_through_the_browser() {
    let bridge = Bridge::start(&[], &[]);
    let home = InspectorHome::new();
    let callback = format!("http://127.0.0.1:{}/oauth/callback", free_port());
    let url = format!("{}/", bridge.site("local"));
    let inspector = |method: &[&str]| {
        home.inspector(&url, &callback)
            .args(method)
            .envs(browser_env(&bridge.kit))
            .output()
            .unwrap()
    };
    let out = inspector(&["--method", "tools/list"]);
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
    assert!(out.status.success(), "tools/list: {}", shown(&out));
    let tools: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> =
        tools["tools"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    assert!(names.contains(&"rucio_token_info"), "{names:?}");
    let out = inspector(&["--method", "tools/call", "--tool-name", "rucio_whoami"]);
    assert!(out.status.success(), "tools/call: {}", shown(&out));
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        result["structuredContent"]["account"],
        bridge.kit.get("OIDC_LOGIN_ACCOUNT"),
        "{result}"
    );
    assert_no_secrets(&bridge.server.log(), &[]);
}
