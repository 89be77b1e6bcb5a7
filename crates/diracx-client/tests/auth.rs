//! DiracX's own auth against the real DiracX 0.7.0 of `cargo xtask diracx up`: discovery, the
//! device flow, local JWT verification (the key cache and its refetch floor are tested in
//! `jwt-verify`), and the credentials file shared with the real `dirac`
//! CLI (refresh in either direction, under the same flock).
//!
//! The refresh-token reuse test revokes every refresh token of `admin` (DiracX's answer to a
//! reused one); every other test logs in as `alice`, so they can run in parallel.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use diracx_client::auth::{AuthError, LOGIN_HINT, TokenSource};
use diracx_client::credentials::{Credentials, CredentialsFile, FileTokenSource};
use diracx_client::jwt::{Jwks, Validation, decode_unverified};
use diracx_client::oidc::{self, DeviceLogin, DiracMetadata, Discovery, TokenResponse};
use diracx_client::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use test_kit::Kit;
use url::Url;

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap()
}

fn base(kit: &Kit) -> Url {
    Url::parse(kit.get("DIRACX_URL")).unwrap()
}

fn env_file(kit: &Kit) -> PathBuf {
    Path::new(kit.get("DIRACX_BASE")).join("env")
}

/// Runs one of the kit's Python scripts and returns its stdout.
async fn script(kit: &Kit, name: &str, args: &[&str]) -> String {
    let out = tokio::process::Command::new(kit.get("DIRACX_PYTHON"))
        .arg(Path::new(kit.get("DIRACX_LIB")).join(name))
        .arg("--env")
        .arg(env_file(kit))
        .args(args)
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{name} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

async fn mint(kit: &Kit, args: &[&str]) -> String {
    script(kit, "mint.py", args).await.trim().to_owned()
}

/// A real authorization-code login of `user`, written to `path` in the CLI's format.
async fn login(kit: &Kit, user: &str, path: &Path) -> Credentials {
    script(kit, "login.py", &["code", "--user", user, "--credentials-out", path.to_str().unwrap()])
        .await;
    CredentialsFile::new(path).read().await.unwrap()
}

/// The real `dirac` CLI with `path` as its credentials file.
async fn dirac(kit: &Kit, path: &Path, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(Path::new(kit.get("DIRACX_VENV")).join("bin/dirac"))
        .args(args)
        .env("DIRACX_URL", kit.get("DIRACX_URL"))
        .env("DIRACX_CREDENTIALS_PATH", path)
        .env("DIRACX_OUTPUT_FORMAT", "JSON")
        .env_remove("DIRACX_CA_PATH")
        .output()
        .await
        .unwrap()
}

async fn dirac_whoami(kit: &Kit, path: &Path) -> Value {
    let out = dirac(kit, path, &["whoami"]).await;
    assert!(out.status.success(), "dirac whoami: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn file_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Makes the access token in the file look as if it expired in `seconds`, as a long-running
/// process would find it.
fn age_file(path: &Path, seconds: i64) {
    let mut json = file_json(path);
    json["expires_on"] = json!(now() + seconds);
    std::fs::write(path, json.to_string()).unwrap();
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn source(kit: &Kit, path: &Path) -> FileTokenSource {
    FileTokenSource::new(CredentialsFile::new(path), http(), base(kit))
        .with_client_id(kit.get("DIRACX_CLIENT_ID"))
}

async fn jwks(kit: &Kit) -> Jwks {
    let http = http();
    let discovery = Discovery::fetch(&http, &base(kit)).await.unwrap();
    Jwks::from_discovery(&http, &discovery)
}

/// What DiracX itself answers to `token` (`/api/auth/userinfo`).
async fn diracx_status(kit: &Kit, token: &str) -> u16 {
    http()
        .get(base(kit).join("api/auth/userinfo").unwrap())
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn discovery_and_dirac_metadata_parse() {
    let kit = Kit::diracx();
    let http = http();
    let d = Discovery::fetch(&http, &base(&kit)).await.unwrap();
    assert_eq!(d.issuer, kit.get("DIRACX_TOKEN_ISSUER"));
    assert_eq!(d.token_endpoint, base(&kit).join("api/auth/token").unwrap());
    assert_eq!(d.device_authorization_endpoint, base(&kit).join("api/auth/device").unwrap());
    assert_eq!(d.userinfo_endpoint, base(&kit).join("api/auth/userinfo").unwrap());
    assert_eq!(d.jwks_uri, base(&kit).join(".well-known/jwks.json").unwrap());
    assert_eq!(d.signing_algorithms, ["RS256", "Ed25519"]);
    assert!(d.document.grant_types_supported.iter().any(|g| g == oidc::DEVICE_CODE_GRANT));
    assert!(d.document.scopes_supported.iter().any(|s| s == "property:NormalUser"));
    assert_eq!(d.document.code_challenge_methods_supported, ["S256"]);

    let m = DiracMetadata::fetch(&http, &base(&kit)).await.unwrap();
    assert_eq!(m.vo_names().collect::<Vec<_>>(), ["testvo"]);
    let vo = m.vo("testvo").unwrap();
    assert_eq!(vo.default_group.as_deref(), Some("user"));
    assert_eq!(vo.groups["user"].properties, ["NormalUser"]);
    assert_eq!(vo.groups["admin"].properties, ["JobAdministrator", "NormalUser"]);
    assert_eq!(vo.support.message.as_deref(), Some("Please contact system administrator"));
    assert_eq!(vo.support.email, None);

    // A DiracX behind a path prefix that does not exist: the error names the URL and status.
    let err = Discovery::fetch(&http, &base(&kit).join("nowhere/").unwrap()).await.unwrap_err();
    assert!(matches!(&err, AuthError::Request(m) if m.contains("404")), "{err}");
}

#[tokio::test]
async fn device_flow_logs_alice_in_end_to_end() {
    let kit = Kit::diracx();
    let http = http();
    let discovery = Discovery::fetch(&http, &base(&kit)).await.unwrap();
    let scope = oidc::login_scope::<&str>("testvo", Some("user"), &[]);
    assert_eq!(scope, kit.get("DIRACX_USER_SCOPE"));
    let login =
        DeviceLogin::start(&http, &discovery, kit.get("DIRACX_CLIENT_ID"), &scope).await.unwrap();
    assert!(!login.user_code.is_empty());
    assert_eq!(login.verification_uri, discovery.device_authorization_endpoint.as_str());
    assert!(login.verification_uri_complete.ends_with(&format!("?user_code={}", login.user_code)));
    assert_eq!(login.expires_in, Duration::from_secs(600));
    assert_eq!(login.interval, Duration::from_secs(2));
    assert!(format!("{login:?}").contains("device_code: \"<redacted>\""));

    // The user's browser, meanwhile.
    let browser = {
        let (python, lib, env) =
            (kit.get("DIRACX_PYTHON").to_owned(), kit.get("DIRACX_LIB").to_owned(), env_file(&kit));
        let url = login.verification_uri_complete.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            tokio::process::Command::new(python)
                .arg(Path::new(&lib).join("login.py"))
                .arg("--env")
                .arg(env)
                .args(["browse", &url, "--user", "alice"])
                .output()
                .await
                .unwrap()
        })
    };
    let tokens =
        tokio::time::timeout(Duration::from_secs(90), login.wait()).await.unwrap().unwrap();
    let out = browser.await.unwrap();
    assert!(out.status.success(), "browse: {}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("FINAL_STATUS=200"));

    assert_eq!(tokens.expires_in, 1200);
    let claims = jwks(&kit).await.verify(tokens.access_token.expose_secret()).await.unwrap();
    assert_eq!(claims.preferred_username.as_deref(), Some("alice"));
    assert_eq!(claims.sub, format!("testvo:{}", kit.get("DIRACX_USER_SUB")));
    assert_eq!((claims.vo.as_str(), claims.dirac_group.as_str()), ("testvo", "user"));
    assert!(claims.has_property("NormalUser"));
    assert!(!claims.has_property("JobAdministrator"));
    // The refresh token: a JWT without an issuer, valid for DiracX's 60 minutes.
    let refresh =
        decode_unverified(tokens.refresh_token.as_ref().unwrap().expose_secret()).unwrap();
    assert!((refresh.exp - now() - 3600).abs() < 30, "refresh exp {}", refresh.exp - now());
    assert_eq!(refresh.iss, None);
    assert_eq!(refresh.other.get("legacy_exchange"), Some(&json!(false)));
    // And DiracX takes the access token.
    assert_eq!(diracx_status(&kit, tokens.access_token.expose_secret()).await, 200);
}

#[tokio::test]
async fn device_flow_errors_carry_diracx_explanation() {
    let kit = Kit::diracx();
    let http = http();
    let discovery = Discovery::fetch(&http, &base(&kit)).await.unwrap();
    let err = DeviceLogin::start(&http, &discovery, "notTheClient", "vo:testvo").await.unwrap_err();
    assert!(
        matches!(&err, AuthError::DeviceFlow(m) if m.contains("Unrecognised client ID")),
        "{err}"
    );
    let err = DeviceLogin::start(&http, &discovery, kit.get("DIRACX_CLIENT_ID"), "vo:novo")
        .await
        .unwrap_err();
    assert!(matches!(&err, AuthError::DeviceFlow(m) if m.contains("400")), "{err}");

    // alice asks for a group she is not in: the browser part works, the token exchange is refused.
    let login = DeviceLogin::start(
        &http,
        &discovery,
        kit.get("DIRACX_CLIENT_ID"),
        kit.get("DIRACX_ADMIN_SCOPE"),
    )
    .await
    .unwrap();
    let url = login.verification_uri_complete.clone();
    let waiting = tokio::spawn(login.wait());
    script(&kit, "login.py", &["browse", &url, "--user", "alice"]).await;
    let err =
        tokio::time::timeout(Duration::from_secs(60), waiting).await.unwrap().unwrap().unwrap_err();
    assert!(
        matches!(&err, AuthError::DeviceFlow(m) if m.contains("403") && m.contains("not a member")),
        "{err}"
    );
}

#[tokio::test]
async fn jwt_verification_accepts_diracx_tokens() {
    let kit = Kit::diracx();
    let jwks = jwks(&kit).await;
    let alice = jwks.verify(kit.get("DIRACX_USER_TOKEN")).await.unwrap();
    assert_eq!(alice.preferred_username.as_deref(), Some("alice"));
    assert_eq!(alice.dirac_properties, ["NormalUser"]);
    assert_eq!(alice.iss.as_deref(), Some(kit.get("DIRACX_TOKEN_ISSUER")));
    assert!(alice.jti.is_some());
    assert!(alice.seconds_left() > 3600);
    assert_eq!(alice.other.get("dirac_policies"), Some(&json!({})));
    let admin = jwks.verify(kit.get("DIRACX_ADMIN_TOKEN")).await.unwrap();
    assert_eq!(admin.dirac_group, "admin");
    assert!(admin.has_property("JobAdministrator"));
    let ghost =
        jwks.verify(&mint(&kit, &["--user", "ghost", "--properties", ""]).await).await.unwrap();
    assert_eq!(ghost.sub, "testvo:ghost");
    assert!(ghost.dirac_properties.is_empty());
    assert_eq!(decode_unverified(kit.get("DIRACX_USER_TOKEN")).unwrap(), alice);
}

#[tokio::test]
async fn jwt_verification_refuses_what_diracx_refuses() {
    let kit = Kit::diracx();
    let jwks = jwks(&kit).await;
    let refused = |r: Result<_, AuthError>, needle: &str| match r {
        Err(AuthError::InvalidToken(m)) => {
            assert!(m.contains(needle), "`{m}` should say `{needle}`")
        }
        other => panic!("expected InvalidToken({needle}), got {other:?}"),
    };

    let expired = mint(&kit, &["--lifetime", "-60"]).await;
    assert_eq!(diracx_status(&kit, &expired).await, 401);
    // 60 s, or 61 when a second boundary passes between minting and checking.
    match jwks.verify(&expired).await {
        Err(AuthError::InvalidToken(m)) => {
            assert!(m.contains("expired 60 s ago") || m.contains("expired 61 s ago"), "{m}")
        }
        other => panic!("expected InvalidToken(expired), got {other:?}"),
    }
    // Within the 30 s leeway a just-expired token is still taken (DiracX itself has none).
    let just_expired = mint(&kit, &["--lifetime", "-10"]).await;
    assert_eq!(diracx_status(&kit, &just_expired).await, 401);
    jwks.verify(&just_expired).await.unwrap();
    let strict = Jwks::with_validation(
        http(),
        Discovery::fetch(&http(), &base(&kit)).await.unwrap().jwks_uri,
        Validation { leeway: Duration::ZERO, ..jwks.validation().clone() },
    );
    refused(strict.verify(&just_expired).await, "expired");

    // `EdDSA` is the same signature under its RFC 8037 name; DiracX only allows `Ed25519`.
    let eddsa = mint(&kit, &["--alg", "EdDSA"]).await;
    assert_eq!(diracx_status(&kit, &eddsa).await, 401);
    refused(jwks.verify(&eddsa).await, "not one DiracX accepts");
    let mut allowing = jwks.validation().clone();
    allowing.algorithms.push("EdDSA".into());
    let lenient = Jwks::with_validation(
        http(),
        Discovery::fetch(&http(), &base(&kit)).await.unwrap().jwks_uri,
        allowing,
    );
    assert_eq!(lenient.verify(&eddsa).await.unwrap().preferred_username.as_deref(), Some("alice"));

    let foreign = mint(&kit, &["--iss", "https://evil.example"]).await;
    assert_eq!(diracx_status(&kit, &foreign).await, 401);
    refused(jwks.verify(&foreign).await, "issuer `https://evil.example`");

    let good = kit.get("DIRACX_USER_TOKEN");
    let parts: Vec<&str> = good.split('.').collect();
    // One bit of the signature flipped, in its middle.
    let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    signature[20] ^= 1;
    let tampered = format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(&signature));
    assert_eq!(diracx_status(&kit, &tampered).await, 401);
    refused(jwks.verify(&tampered).await, "signature does not verify");

    // alice's signature over a payload that makes her a job administrator.
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["dirac_properties"] = json!(["NormalUser", "JobAdministrator"]);
    let elevated =
        format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(claims.to_string()), parts[2]);
    refused(jwks.verify(&elevated).await, "signature does not verify");

    let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let unsigned = format!("{none_header}.{}.", parts[1]);
    assert_eq!(diracx_status(&kit, &unsigned).await, 401);
    refused(jwks.verify(&unsigned).await, "alg: none");

    let hs_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
    refused(jwks.verify(&format!("{hs_header}.{}.{}", parts[1], parts[2])).await, "not supported");

    let unknown_kid = URL_SAFE_NO_PAD.encode(r#"{"alg":"Ed25519","kid":"not-a-key"}"#);
    refused(
        jwks.verify(&format!("{unknown_kid}.{}.{}", parts[1], parts[2])).await,
        "no Ed25519 key `not-a-key`",
    );

    refused(jwks.verify("not a jwt").await, "three dot-separated parts");
    // No message quotes the token it is about.
    for bad in [&expired, &tampered, &elevated, &foreign] {
        let message = jwks.verify(bad).await.unwrap_err().to_string();
        assert!(!message.contains(parts[2]) && !message.contains(bad.as_str()), "{message}");
    }
}

#[tokio::test]
async fn written_credentials_are_private_and_in_the_cli_format() {
    let kit = Kit::diracx();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deep/er/credentials.json");
    let file = CredentialsFile::new(&path);
    let tokens = TokenResponse {
        access_token: SecretString::from("header.access.sig"),
        refresh_token: Some(SecretString::from("header.refresh.sig")),
        expires_in: 1200,
        token_type: Some("Bearer".into()),
    };
    let stored = file.write(&tokens).await.unwrap();
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    let json = file_json(&path);
    assert_eq!(json.as_object().unwrap().len(), 3);
    assert_eq!(json["access_token"], "header.access.sig");
    assert_eq!(json["refresh_token"], "header.refresh.sig");
    let expires_on = json["expires_on"].as_i64().unwrap();
    assert!((expires_on - (now() + 1200 - 15)).abs() <= 2, "{expires_on}");
    assert_eq!(stored.expires_on, expires_on);
    let read = file.read().await.unwrap();
    assert_eq!(read.access_token.expose_secret(), "header.access.sig");
    assert_eq!(read.expires_on, expires_on);
    assert!(!format!("{read:?} {stored:?} {tokens:?}").contains("header.access.sig"));

    // DiracX's own reader takes our file.
    let check = "import sys; from pathlib import Path; from diracx.core.utils import read_credentials; \
                 t = read_credentials(Path(sys.argv[1])); print(t.access_token, t.refresh_token, t.expires_in)";
    let out = tokio::process::Command::new(kit.get("DIRACX_PYTHON"))
        .args(["-c", check])
        .arg(&path)
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8(out.stdout).unwrap();
    let fields: Vec<&str> = printed.split_whitespace().collect();
    assert_eq!(fields[..2], ["header.access.sig", "header.refresh.sig"]);
    assert!((fields[2].parse::<i64>().unwrap() - 1185).abs() <= 2);

    // A file someone else made readable to others is made private again.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    file.write(&TokenResponse { expires_in: 60, refresh_token: None, ..tokens.clone() })
        .await
        .unwrap();
    assert_eq!(mode(&path), 0o600);
    assert_eq!(file_json(&path)["refresh_token"], Value::Null);
}

#[tokio::test]
async fn no_file_or_an_expired_login_is_not_logged_in() {
    let kit = Kit::diracx();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("credentials.json");
    for err in [
        CredentialsFile::new(&missing).read().await.unwrap_err(),
        source(&kit, &missing).access_token().await.unwrap_err(),
    ] {
        assert!(
            matches!(&err, AuthError::NotLoggedIn(m) if m.contains("dirac login") && m.contains("dirac-mcp login")),
            "{err}"
        );
    }

    // Both tokens expired: nothing is sent (DiracX is not even reachable here), as the CLI.
    let stale = |exp: i64| {
        let claims = URL_SAFE_NO_PAD.encode(json!({"jti": "x", "exp": exp}).to_string());
        format!("e30.{claims}.c2ln")
    };
    let path = dir.path().join("stale.json");
    std::fs::write(
        &path,
        json!({"access_token": stale(now() - 100), "refresh_token": stale(now() - 10), "expires_on": now() - 100}).to_string(),
    )
    .unwrap();
    let offline = FileTokenSource::new(
        CredentialsFile::new(&path),
        http(),
        Url::parse("http://127.0.0.1:9/").unwrap(),
    );
    let err = offline.access_token().await.unwrap_err();
    assert!(
        matches!(&err, AuthError::NotLoggedIn(m) if m.contains("expired") && m.contains(LOGIN_HINT)),
        "{err}"
    );

    std::fs::write(&path, "{not json").unwrap();
    let err = offline.access_token().await.unwrap_err();
    assert!(matches!(&err, AuthError::CredentialsFile { .. }), "{err}");
}

#[tokio::test]
async fn we_refresh_near_expiry_and_the_cli_keeps_working() {
    let kit = Kit::diracx();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials.json");
    let before = login(&kit, "alice", &path).await;
    age_file(&path, 10);

    let tokens = source(&kit, &path);
    let token = tokens.access_token().await.unwrap();
    assert_ne!(token.expose_secret(), before.access_token.expose_secret());
    let after = file_json(&path);
    assert_eq!(after["access_token"], token.expose_secret());
    let new_refresh = after["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(new_refresh, before.refresh_token.as_ref().unwrap().expose_secret());
    assert!((after["expires_on"].as_i64().unwrap() - (now() + 1185)).abs() <= 5);
    assert_eq!(mode(&path), 0o600);
    assert_eq!(diracx_status(&kit, token.expose_secret()).await, 200);

    // Fresh now: served from memory, nothing refreshed again.
    assert_eq!(tokens.access_token().await.unwrap().expose_secret(), token.expose_secret());
    assert_eq!(file_json(&path), after);

    // The real CLI takes the file we wrote and does not need to refresh it.
    let me = dirac_whoami(&kit, &path).await;
    assert_eq!(me["preferred_username"], "alice");
    assert_eq!(me["dirac_group"], "user");
    assert_eq!(file_json(&path), after);
}

#[tokio::test]
async fn the_cli_refreshes_and_we_take_its_tokens() {
    let kit = Kit::diracx();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials.json");
    let before = login(&kit, "alice", &path).await;
    // Just fresh enough to be kept in memory, and stale a few seconds later.
    age_file(&path, 303);
    let tokens = source(&kit, &path);
    let held = tokens.access_token().await.unwrap();
    assert_eq!(held.expose_secret(), before.access_token.expose_secret());
    tokio::time::sleep(Duration::from_secs(4)).await;

    // The CLI finds 299 s left and refreshes under its lock.
    assert_eq!(dirac_whoami(&kit, &path).await["preferred_username"], "alice");
    let by_cli = file_json(&path);
    assert_ne!(by_cli["access_token"], before.access_token.expose_secret());
    assert_ne!(by_cli["refresh_token"], before.refresh_token.as_ref().unwrap().expose_secret());

    // We re-read under the lock, find the CLI's fresh token and take it: no second refresh
    // (which would have reused nothing, but would have rotated the file again).
    let token = tokens.access_token().await.unwrap();
    assert_eq!(by_cli["access_token"], token.expose_secret());
    assert_eq!(file_json(&path), by_cli);
    assert_eq!(diracx_status(&kit, token.expose_secret()).await, 200);
}

#[tokio::test]
async fn concurrent_refreshers_share_one_refresh_with_the_cli() {
    let kit = Kit::diracx();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials.json");
    let before = login(&kit, "alice", &path).await;
    age_file(&path, 10);

    // Two "processes" with four tasks each, and the real CLI, all at once. Without a shared
    // lock two of them would send the same refresh token, and DiracX would answer the second
    // with 401 and revoke alice's refresh tokens.
    let sources = [Arc::new(source(&kit, &path)), Arc::new(source(&kit, &path))];
    let mut tasks = Vec::new();
    for i in 0..8 {
        let s = sources[i % 2].clone();
        tasks.push(tokio::spawn(async move { s.access_token().await }));
    }
    let cli = dirac(&kit, &path, &["whoami"]).await;
    assert!(cli.status.success(), "dirac whoami: {}", String::from_utf8_lossy(&cli.stderr));
    let mut seen = Vec::new();
    for task in tasks {
        seen.push(task.await.unwrap().unwrap().expose_secret().to_owned());
    }
    let last = file_json(&path);
    assert!(seen.iter().all(|t| *t == seen[0]), "every task got the same token");
    assert_ne!(seen[0], before.access_token.expose_secret());
    // The CLI may have refreshed before or after us; either way all agree with the file.
    assert_eq!(last["access_token"], seen[0].as_str());
    assert_eq!(diracx_status(&kit, &seen[0]).await, 200);
}

#[tokio::test]
async fn a_rejected_token_is_refreshed_once_if_it_is_still_the_files() {
    let kit = Kit::diracx();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials.json");
    let before = login(&kit, "alice", &path).await;
    let tokens = source(&kit, &path);
    let first = tokens.access_token().await.unwrap();
    assert_eq!(first.expose_secret(), before.access_token.expose_secret());

    // A token that is not the file's was rejected: the file's is offered, nothing refreshed.
    let other = SecretString::from(kit.get("DIRACX_USER_TOKEN").to_owned());
    let offered = tokens.after_rejection(&other).await.unwrap().unwrap();
    assert_eq!(offered.expose_secret(), first.expose_secret());
    assert_eq!(
        file_json(&path)["refresh_token"],
        before.refresh_token.as_ref().unwrap().expose_secret()
    );

    // The file's own token was rejected (say, DiracX's keys changed): one refresh.
    let second = tokens.after_rejection(&first).await.unwrap().unwrap();
    assert_ne!(second.expose_secret(), first.expose_secret());
    let after = file_json(&path);
    assert_eq!(after["access_token"], second.expose_secret());
    assert_ne!(after["refresh_token"], before.refresh_token.as_ref().unwrap().expose_secret());
    assert_eq!(tokens.access_token().await.unwrap().expose_secret(), second.expose_secret());
}

#[tokio::test]
async fn reusing_a_refresh_token_is_rejected_and_logs_the_user_out() {
    let kit = Kit::diracx();
    let http = http();
    let discovery = Discovery::fetch(&http, &base(&kit)).await.unwrap();
    let client_id = kit.get("DIRACX_CLIENT_ID");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials.json");
    let first = login(&kit, "admin", &path).await;
    let used = first.refresh_token.clone().unwrap();

    let rotated = oidc::refresh(&http, &discovery.token_endpoint, client_id, &used).await.unwrap();
    let successor = rotated.refresh_token.clone().unwrap();
    assert_ne!(successor.expose_secret(), used.expose_secret());
    assert_eq!(
        jwks(&kit).await.verify(rotated.access_token.expose_secret()).await.unwrap().dirac_group,
        "admin"
    );

    let err = oidc::refresh(&http, &discovery.token_endpoint, client_id, &used).await.unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, AuthError::Rejected(_)), "{message}");
    assert!(
        message.contains("Revoked refresh token reused") && message.contains(LOGIN_HINT),
        "{message}"
    );
    assert!(!message.contains(used.expose_secret()));

    // DiracX revoked the whole family: the successor is refused too, also through the file.
    let err =
        oidc::refresh(&http, &discovery.token_endpoint, client_id, &successor).await.unwrap_err();
    assert!(matches!(&err, AuthError::Rejected(m) if m.contains("401")), "{err}");
    CredentialsFile::new(&path).write(&rotated).await.unwrap();
    age_file(&path, 10);
    let err = source(&kit, &path).access_token().await.unwrap_err();
    assert!(matches!(&err, AuthError::Rejected(m) if m.contains(LOGIN_HINT)), "{err}");
    assert!(!format!("{err:?}").contains(successor.expose_secret()));
    // The file is left as it was, for the user to see and replace.
    assert_eq!(file_json(&path)["refresh_token"], successor.expose_secret());
}
