//! The test OpenID provider itself (`tests/fixtures/oidc-provider/idp.mjs` through
//! `e2e_tests::TestIdp`): discovery, JWT and opaque access tokens per resource, introspection by the
//! resource server's client, revocation (also of JWTs), refresh-token rotation, short-lived tokens,
//! dynamic client registration, restarts, and `clients/idp_browser.py` delivering the authorization
//! response. Each test runs its own IdP; none needs Rucio.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::Command;

use base64::Engine as _;
use e2e_tests::{TestIdp, clients_dir, free_port};
use serde_json::{Value, json};

/// A JWT's header and payload, decoded (not verified).
fn jwt_parts(token: &str) -> (Value, Value) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "not a JWT: three dot-separated parts expected");
    let decode = |part: &str| -> Value {
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap(),
        )
        .unwrap()
    };
    (decode(parts[0]), decode(parts[1]))
}

fn b64url(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).unwrap()
}

/// Verifies a JWT's signature with the key of its `kid` in the IdP's JWKS.
fn verify_signature(idp: &TestIdp, token: &str) {
    use aws_lc_rs::signature;
    let (header, _) = jwt_parts(token);
    let jwks = get_json(idp.discovery()["jwks_uri"].as_str().unwrap());
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .unwrap_or_else(|| panic!("no key {} in the JWKS", header["kid"]));
    assert!(key.get("d").is_none(), "the JWKS publishes a private key");
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let signature = b64url(signature);
    let field = |name: &str| b64url(key[name].as_str().unwrap());
    let verified = match header["alg"].as_str().unwrap() {
        "RS256" => signature::RsaPublicKeyComponents { n: field("n"), e: field("e") }.verify(
            &signature::RSA_PKCS1_2048_8192_SHA256,
            signed.as_bytes(),
            &signature,
        ),
        "ES256" => {
            let point = [vec![4], field("x"), field("y")].concat();
            signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                .verify(signed.as_bytes(), &signature)
        }
        other => panic!("unexpected alg {other}"),
    };
    assert!(verified.is_ok(), "the {} signature does not verify with the JWKS", header["alg"]);
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn get_json(url: &str) -> Value {
    runtime().block_on(async {
        let response = reqwest::get(url).await.unwrap();
        assert!(response.status().is_success(), "GET {url}: {}", response.status());
        response.json().await.unwrap()
    })
}

/// POSTs a form (as `client_id`/`client_secret` in the body if given); status and JSON body.
fn post_form(url: &str, form: &[(&str, &str)]) -> (u16, Value) {
    runtime().block_on(async {
        let response = reqwest::Client::new().post(url).form(form).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    })
}

fn stat(idp: &TestIdp, endpoint: &str) -> u64 {
    idp.stats()[endpoint].as_u64().unwrap_or_else(|| panic!("no {endpoint} in the stats"))
}

#[test]
fn discovery_names_the_endpoints_and_the_iss_parameter() {
    let idp = TestIdp::start();
    let discovery = idp.discovery();
    assert_eq!(discovery["issuer"], idp.issuer.as_str());
    for endpoint in ["introspection_endpoint", "revocation_endpoint", "registration_endpoint"] {
        let url = discovery[endpoint].as_str().unwrap_or_else(|| panic!("no {endpoint}"));
        assert!(url.starts_with(&format!("{}/", idp.issuer)), "{endpoint}: {url}");
    }
    assert_eq!(discovery["authorization_response_iss_parameter_supported"], true);
    assert_eq!(discovery["code_challenge_methods_supported"], json!(["S256"]));
    let scopes = discovery["scopes_supported"].as_array().unwrap();
    for scope in ["openid", "profile", "email", "offline_access", "mcp:tools", "mcp:admin"] {
        assert!(scopes.contains(&json!(scope)), "{scope} not in scopes_supported");
    }
    // Both signing keys are published, public parts only.
    let jwks = get_json(discovery["jwks_uri"].as_str().unwrap());
    let algs: Vec<&str> =
        jwks["keys"].as_array().unwrap().iter().map(|k| k["alg"].as_str().unwrap()).collect();
    assert_eq!(algs, ["RS256", "ES256"]);
    assert!(jwks["keys"].as_array().unwrap().iter().all(|k| k.get("d").is_none()));
    let stats = idp.stats();
    assert_eq!(stats["jwks"], 1, "{stats}");
    for endpoint in ["introspection", "token", "registration", "authorization", "revocation"] {
        assert_eq!(stats[endpoint], 0, "{stats}");
    }
}

#[test]
fn a_jwt_resource_gets_a_signed_jwt_that_introspects_until_revoked() {
    let idp = TestIdp::start();
    let resource = format!("http://127.0.0.1:{}/mcp", free_port());
    let tokens = idp.token_for(&resource, "alice");
    let access = tokens["access_token"].as_str().unwrap();
    let (header, payload) = jwt_parts(access);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(payload["aud"], resource.as_str());
    assert_eq!(payload["iss"], idp.issuer.as_str());
    assert_eq!(payload["sub"], "alice");
    assert_eq!(payload["client_id"], TestIdp::PUBLIC_CLIENT_ID);
    let scope = payload["scope"].as_str().unwrap();
    assert!(scope.split(' ').any(|s| s == "mcp:tools"), "scope {scope}");
    assert_eq!(payload["exp"].as_u64().unwrap() - payload["iat"].as_u64().unwrap(), 300);
    assert!(tokens["refresh_token"].as_str().is_some_and(|t| !t.is_empty()), "no refresh token");
    assert_eq!(tokens["token_type"], "Bearer");
    verify_signature(&idp, access);

    // oidc-provider itself refuses to introspect JWTs; the fixture answers for them.
    let before = stat(&idp, "introspection");
    let active = idp.introspect(access);
    assert_eq!(active["active"], true, "{active}");
    assert_eq!(active["aud"], resource.as_str());
    assert_eq!(active["sub"], "alice");
    assert_eq!(active["jti"], payload["jti"]);
    idp.revoke(access);
    assert_eq!(idp.introspect(access), json!({"active": false}));
    assert_eq!(stat(&idp, "introspection"), before + 2);
}

#[test]
fn an_es256_resource_gets_an_es256_jwt() {
    let idp = TestIdp::start();
    let resource = format!("http://localhost:{}/es256/mcp", free_port());
    let access = idp.token_for(&resource, "carol")["access_token"].as_str().unwrap().to_owned();
    let (header, payload) = jwt_parts(&access);
    assert_eq!(header["alg"], "ES256");
    assert_eq!(payload["aud"], resource.as_str());
    verify_signature(&idp, &access);
    // Its own client may revoke it at the revocation endpoint (oidc-provider alone refuses JWTs).
    assert_eq!(idp.introspect(&access)["active"], true);
    let (status, _) = post_form(
        &format!("{}/token/revocation", idp.issuer),
        &[("token", &access), ("client_id", TestIdp::PUBLIC_CLIENT_ID)],
    );
    assert_eq!(status, 200);
    assert_eq!(idp.introspect(&access), json!({"active": false}));
    assert_eq!(stat(&idp, "revocation"), 1);
}

#[test]
fn an_opaque_resource_gets_an_opaque_token_that_introspects_until_revoked() {
    let idp = TestIdp::start();
    let resource = format!("http://127.0.0.1:{}/opaque/mcp", free_port());
    let tokens = idp.token_for(&resource, "bob");
    let access = tokens["access_token"].as_str().unwrap();
    assert_ne!(access.split('.').count(), 3, "an opaque token was expected");
    let before = stat(&idp, "introspection");
    let active = idp.introspect(access);
    assert_eq!(active["active"], true, "{active}");
    assert_eq!(active["aud"], resource.as_str());
    assert_eq!(active["sub"], "bob");
    assert_eq!(active["client_id"], TestIdp::PUBLIC_CLIENT_ID);
    assert!(active["scope"].as_str().unwrap().split(' ').any(|s| s == "mcp:tools"), "{active}");
    // client_secret_post works too.
    let (status, posted) = post_form(
        &format!("{}/token/introspection", idp.issuer),
        &[
            ("token", access),
            ("client_id", TestIdp::RS_CLIENT_ID),
            ("client_secret", idp.rs_client_secret()),
        ],
    );
    assert_eq!((status, &posted["active"]), (200, &json!(true)), "{posted}");
    // A wrong secret is refused.
    let (status, _) = post_form(
        &format!("{}/token/introspection", idp.issuer),
        &[("token", access), ("client_id", TestIdp::RS_CLIENT_ID), ("client_secret", "wrong")],
    );
    assert_eq!(status, 401);
    idp.revoke(access);
    assert_eq!(idp.introspect(access), json!({"active": false}));
    assert_eq!(stat(&idp, "introspection"), before + 4);
}

#[test]
fn refresh_with_the_resource_rotates_and_a_revoked_refresh_token_is_dead() {
    let idp = TestIdp::start();
    let resource = format!("http://127.0.0.1:{}/mcp", free_port());
    let first = idp.token_for(&resource, "alice");
    let refresh = first["refresh_token"].as_str().unwrap();
    let (status, second) = idp.refresh(refresh, Some(&resource));
    assert_eq!(status, 200, "{second}");
    let rotated = second["refresh_token"].as_str().unwrap();
    assert_ne!(rotated, refresh, "the refresh token did not rotate");
    let (_, payload) = jwt_parts(second["access_token"].as_str().unwrap());
    assert_eq!(payload["aud"], resource.as_str());
    assert_ne!(second["access_token"], first["access_token"]);
    idp.revoke(rotated);
    let (status, error) = idp.refresh(rotated, Some(&resource));
    assert_eq!((status, &error["error"]), (400, &json!("invalid_grant")), "{error}");
}

#[test]
fn a_short_resource_gets_a_token_living_short_ttl() {
    let idp = TestIdp::start();
    let resource = format!("http://127.0.0.1:{}/short/mcp", free_port());
    let tokens = idp.token_for(&resource, "alice");
    let (_, payload) = jwt_parts(tokens["access_token"].as_str().unwrap());
    let lifetime = payload["exp"].as_u64().unwrap() - payload["iat"].as_u64().unwrap();
    assert_eq!(lifetime, TestIdp::SHORT_TTL);
    assert_eq!(tokens["expires_in"], TestIdp::SHORT_TTL);
}

#[test]
fn revoke_all_kills_access_and_refresh_tokens() {
    let idp = TestIdp::start();
    let jwt_resource = format!("http://127.0.0.1:{}/mcp", free_port());
    let opaque_resource = format!("http://127.0.0.1:{}/opaque", free_port());
    let jwt = idp.token_for(&jwt_resource, "alice");
    let opaque = idp.token_for(&opaque_resource, "bob");
    for tokens in [&jwt, &opaque] {
        assert_eq!(idp.introspect(tokens["access_token"].as_str().unwrap())["active"], true);
    }
    idp.revoke_all();
    for (tokens, resource) in [(&jwt, &jwt_resource), (&opaque, &opaque_resource)] {
        let access = tokens["access_token"].as_str().unwrap();
        assert_eq!(idp.introspect(access), json!({"active": false}));
        let (status, _) = idp.refresh(tokens["refresh_token"].as_str().unwrap(), Some(resource));
        assert_eq!(status, 400);
    }
}

#[test]
fn foreign_resources_are_refused_and_unknown_tokens_are_not_revoked() {
    let idp = TestIdp::start();
    let (status, error) =
        post_form(&format!("{}/_test/revoke", idp.issuer), &[("token", "no-such-token")]);
    assert_eq!(status, 404, "{error}");
    let url = format!(
        "{}/auth?client_id=mcp-public&response_type=code&scope=openid&resource=https%3A%2F%2Fexample.org%2F\
         &redirect_uri=http%3A%2F%2F127.0.0.1%3A{}%2Fcallback&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\
         &code_challenge_method=S256&state=s",
        idp.issuer,
        free_port()
    );
    let location = runtime().block_on(async {
        let client =
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let response = client.get(&url).send().await.unwrap();
        response.headers()["location"].to_str().unwrap().to_owned()
    });
    assert!(location.contains("error=invalid_target"), "{location}");
}

#[test]
fn clients_can_register_themselves() {
    let idp = TestIdp::start();
    let registration = idp.discovery()["registration_endpoint"].as_str().unwrap().to_owned();
    let (status, client) = runtime().block_on(async {
        let response = reqwest::Client::new()
            .post(&registration)
            .json(&json!({
                "client_name": "an MCP client",
                "application_type": "native",
                "redirect_uris": ["http://127.0.0.1:40123/callback"],
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
            }))
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json::<Value>().await.unwrap())
    });
    assert_eq!(status, 201, "{client}");
    assert!(client["client_id"].as_str().is_some_and(|id| !id.is_empty()), "{client}");
    assert_eq!(stat(&idp, "registration"), 1);
}

#[test]
fn a_restarted_idp_keeps_its_keys_but_not_its_tokens() {
    let mut idp = TestIdp::start();
    let resource = format!("http://127.0.0.1:{}/opaque", free_port());
    let access = idp.token_for(&resource, "alice")["access_token"].as_str().unwrap().to_owned();
    let jwks = get_json(&format!("{}/jwks", idp.issuer));
    idp.stop();
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", idp.port)).is_err(),
        "the IdP still answers"
    );
    idp.restart();
    assert_eq!(get_json(&format!("{}/jwks", idp.issuer)), jwks);
    assert_eq!(idp.introspect(&access), json!({"active": false}));
    // A new IdP on the same port is another one: new keys.
    let port = idp.port;
    drop(idp);
    let other = TestIdp::start_on(port);
    assert_ne!(get_json(&format!("{}/jwks", other.issuer)), jwks);
}

/// A loopback callback on a free port answering 200 to every request; the request targets come out
/// of the receiver.
fn callback_server() -> (String, std::sync::mpsc::Receiver<String>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let redirect = format!("http://127.0.0.1:{}/callback", listener.local_addr().unwrap().port());
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut line = String::new();
            BufReader::new(&stream).read_line(&mut line).unwrap();
            let target = line.split_whitespace().nth(1).unwrap_or_default().to_owned();
            let _ = send.send(target);
            let body = "signed in, you may close this window";
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (redirect, receive)
}

fn authorize_url(idp: &TestIdp, redirect: &str) -> String {
    format!("{}&prompt=consent", authorize_url_without_prompt(idp, redirect))
}

fn authorize_url_without_prompt(idp: &TestIdp, redirect: &str) -> String {
    format!(
        "{}/auth?client_id=mcp-public&response_type=code&scope=openid%20offline_access%20mcp%3Atools\
         &resource=http%3A%2F%2F127.0.0.1%3A9%2Fmcp&redirect_uri={}\
         &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256\
         &state=the-state",
        idp.issuer,
        redirect.replace(':', "%3A").replace('/', "%2F")
    )
}

fn run_browser(url: &str, env: &[(&str, &str)]) -> (bool, String) {
    let out = Command::new("python3")
        .arg(clients_dir().join("idp_browser.py"))
        .arg(url)
        .env_remove("TAMPER")
        .env_remove("IDP_LOGIN")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let said =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), said)
}

fn query_value(target: &str, name: &str) -> Option<String> {
    let query = target.split_once('?')?.1;
    query.split('&').find_map(|p| p.strip_prefix(&format!("{name}=")).map(str::to_owned))
}

#[test]
fn idp_browser_signs_in_consents_and_delivers_the_answer() {
    let idp = TestIdp::start();
    let (redirect, hits) = callback_server();
    let (ok, said) = run_browser(&authorize_url(&idp, &redirect), &[("IDP_LOGIN", "dave")]);
    assert!(ok, "idp_browser.py failed:\n{said}\n{}", idp.log());
    assert!(said.contains("login form: signing in as dave"), "{said}");
    assert!(said.contains("consent form"), "{said}");
    let target = hits.try_recv().unwrap();
    let code = query_value(&target, "code").unwrap();
    assert!(!said.contains(&code), "idp_browser.py printed the code");
    assert_eq!(query_value(&target, "state").as_deref(), Some("the-state"));
    assert!(query_value(&target, "iss").is_some_and(|iss| iss.contains("127.0.0.1")));
    assert!(hits.try_recv().is_err(), "more than one delivery");

    // TAMPER=state: a forged state first, then the real answer.
    let (redirect, hits) = callback_server();
    let (ok, said) = run_browser(&authorize_url(&idp, &redirect), &[("TAMPER", "state")]);
    assert!(ok, "{said}");
    assert_eq!(query_value(&hits.try_recv().unwrap(), "state").as_deref(), Some("forged-state"));
    assert_eq!(query_value(&hits.try_recv().unwrap(), "state").as_deref(), Some("the-state"));

    // TAMPER=iss: only an answer from another issuer.
    let (redirect, hits) = callback_server();
    let (ok, said) = run_browser(&authorize_url(&idp, &redirect), &[("TAMPER", "iss")]);
    assert!(ok, "{said}");
    let iss = query_value(&hits.try_recv().unwrap(), "iss").unwrap();
    assert_eq!(iss, "http%3A%2F%2F127.0.0.1%3A1%2Fevil");
    assert!(hits.try_recv().is_err(), "the real answer was delivered after a tampered iss");
}

/// oidc-provider's default refresh-token policy: `offline_access` only counts with
/// `prompt=consent`, so without it the code buys no refresh token.
#[test]
fn without_prompt_consent_there_is_no_refresh_token() {
    let idp = TestIdp::start();
    let (redirect, hits) = callback_server();
    let (ok, said) = run_browser(&authorize_url_without_prompt(&idp, &redirect), &[]);
    assert!(ok, "{said}");
    assert!(said.contains("consent form"), "the consent was not asked for:\n{said}");
    let code = query_value(&hits.try_recv().unwrap(), "code").unwrap();
    let (status, tokens) = post_form(
        &format!("{}/token", idp.issuer),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect),
            ("code_verifier", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            ("client_id", TestIdp::PUBLIC_CLIENT_ID),
            ("resource", "http://127.0.0.1:9/mcp"),
        ],
    );
    assert_eq!(status, 200, "{}", tokens["error"]);
    assert!(tokens.get("access_token").is_some());
    assert!(tokens.get("refresh_token").is_none(), "a refresh token without prompt=consent");
}

/// `TestIdp::browser()` is a `BROWSER` command: it returns at once and plays the person in the
/// background, its report in `browser.log`.
#[test]
fn the_browser_command_runs_idp_browser_in_the_background() {
    let idp = TestIdp::start();
    let (dir, browser) = idp.browser();
    let (redirect, hits) = callback_server();
    let status = Command::new(&browser)
        .arg(authorize_url(&idp, &redirect))
        .env("IDP_LOGIN", "erin")
        .status()
        .unwrap();
    assert!(status.success());
    let target = hits.recv_timeout(std::time::Duration::from_secs(30));
    let log = dir.path().join("browser.log");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let said = loop {
        let said = std::fs::read_to_string(&log).unwrap_or_default();
        if said.contains("delivered") || std::time::Instant::now() > deadline {
            break said;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let target = target.unwrap_or_else(|_| panic!("no callback:\n{said}\n{}", idp.log()));
    assert!(query_value(&target, "code").is_some(), "{said}");
    assert!(said.contains("signing in as erin"), "{said}");
    assert!(said.contains("(HTTP 200)"), "{said}");
}
