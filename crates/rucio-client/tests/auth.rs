//! Authentication against the real server: userpass, x509 over TLS, the OIDC polling login driven
//! headlessly through the local OpenID provider, token refresh, and the shared token cache.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use rucio_client::{
    AuthType, Environment, Error, ExposeSecret, RucioClient, RucioConfig, RucioErrorKind,
};
use test_kit::Kit;

#[tokio::test]
async fn x509_certificate_through_the_tls_port() {
    let kit = Kit::load();
    let dir = tempfile::tempdir().unwrap();
    let url = kit.get("RUCIO_TLS_URL");
    let cfg = format!(
        "[client]\nrucio_host = {url}\nauth_host = {url}\nauth_type = x509\naccount = root\nca_cert = {ca}\n\
         client_cert = {cert}\nclient_key = {key}\nauth_token_file_path = {tok}\n",
        ca = kit.get("RUCIO_CA_CERT"),
        cert = kit.get("RUCIO_X509_CERT"),
        key = kit.get("RUCIO_X509_KEY"),
        tok = dir.path().join("token").display(),
    );
    let client = RucioClient::new(kit.config(&cfg)).unwrap();
    let me = client.whoami().await.unwrap();
    assert_eq!(me.account, "root");
    let token = client.current_token().unwrap();
    assert!(
        token.secret().expose_secret().contains("CN=Rucio Test Root"),
        "an x509 token names the DN"
    );
    assert!(token.expires_at().is_some());
}

#[tokio::test]
async fn x509_without_trusting_the_server_ca_is_a_tls_error() {
    let kit = Kit::load();
    let url = kit.get("RUCIO_TLS_URL");
    let cfg = format!(
        "[client]\nrucio_host = {url}\nauth_host = {url}\nauth_type = x509\nclient_cert = {cert}\nclient_key = {key}\nrequest_retries = 0\n",
        cert = kit.get("RUCIO_X509_CERT"),
        key = kit.get("RUCIO_X509_KEY"),
    );
    let client = RucioClient::builder(kit.config(&cfg)).token_cache(false).build().unwrap();
    match client.ping().await.unwrap_err() {
        Error::Transport { failure, .. } => {
            assert_eq!(failure, rucio_client::TransportFailure::Tls)
        }
        other => panic!("expected a TLS failure, got {other:?}"),
    }
}

#[tokio::test]
async fn x509_with_a_missing_certificate_file_is_a_clear_error() {
    let kit = Kit::load();
    let url = kit.get("RUCIO_TLS_URL");
    let cfg = format!(
        "[client]\nrucio_host = {url}\nauth_host = {url}\nauth_type = x509\nclient_cert = /nonexistent/usercert.pem\n"
    );
    let e = RucioClient::new(kit.config(&cfg)).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/usercert.pem"), "{e}");
}

#[tokio::test]
async fn token_cache_is_shared_between_clients_and_renewed_on_401() {
    let kit = Kit::load();
    let dir = tempfile::tempdir().unwrap();
    let good =
        kit.userpass_cfg(dir.path(), "root", kit.get("RUCIO_USERNAME"), kit.get("RUCIO_PASSWORD"));
    let first = RucioClient::new(kit.config(&good)).unwrap();
    first.whoami().await.unwrap();
    let cached = std::fs::read_to_string(dir.path().join("token-root")).unwrap();
    assert_eq!(
        cached,
        first.current_token().unwrap().secret().expose_secret(),
        "the cache holds the token, as the Python client writes it"
    );

    // A second client with a wrong password still works: it reuses the cached login.
    let bad = kit.userpass_cfg(dir.path(), "root", kit.get("RUCIO_USERNAME"), "wrong");
    let second = RucioClient::new(kit.config(&bad)).unwrap();
    assert_eq!(second.whoami().await.unwrap().account, "root");
    assert_eq!(second.current_token().unwrap().secret().expose_secret(), cached);

    // A rejected cached token triggers exactly one new login, whose token replaces the cache.
    std::fs::write(dir.path().join("token-root"), "root-ddmlab-unknown-0000000000000000").unwrap();
    let third = RucioClient::new(kit.config(&good)).unwrap();
    assert_eq!(third.whoami().await.unwrap().account, "root");
    let renewed = std::fs::read_to_string(dir.path().join("token-root")).unwrap();
    assert!(
        renewed != "root-ddmlab-unknown-0000000000000000"
            && renewed == third.current_token().unwrap().secret().expose_secret()
    );
}

#[tokio::test]
async fn caller_supplied_bearer_token_is_used_and_never_renewed() {
    let kit = Kit::load();
    let dir = tempfile::tempdir().unwrap();
    let root = kit.root(dir.path());
    let token = root.authenticate().await.unwrap();
    let jdoe = kit.jdoe(dir.path());
    // The same connection pool, another identity.
    let as_root = jdoe.with_bearer_token(token.secret().clone());
    assert_eq!(as_root.whoami().await.unwrap().account, "root");
    assert_eq!(as_root.auth_type(), AuthType::Bearer);
    let bogus = jdoe.with_bearer_token("root-ddmlab-unknown-ffffffffffffffff".to_owned().into());
    let e = bogus.whoami().await.unwrap_err();
    assert_eq!(e.kind(), Some(&RucioErrorKind::CannotAuthenticate), "{e}");
}

fn oidc_cfg(kit: &Kit, dir: &Path, scope: &str) -> RucioConfig {
    let cfg = format!(
        "[client]\nrucio_host = {url}\nauth_host = {url}\nauth_type = oidc\naccount = jdoe\noidc_scope = {scope}\n\
         oidc_audience = {aud}\noidc_polling = true\nauth_token_file_path = {tok}\n",
        url = kit.get("RUCIO_URL"),
        aud = kit.get("OIDC_AUDIENCE"),
        tok = dir.join("token").display(),
    );
    RucioConfig::from_cfg_text(&cfg, "oidc.cfg", &Environment::empty()).unwrap()
}

/// Logs in at the IdP the way a user's browser would (the kit's headless browser script).
async fn sign_in_in_browser(kit: &Kit, url: &str) {
    let python = Path::new(kit.get("RUCIO_VENV")).join("bin/python");
    let script = Path::new(kit.get("RUCIO_BASE")).join("lib/browser_login.py");
    let out = tokio::process::Command::new(python)
        .arg(script)
        .arg(url)
        .arg(kit.get("OIDC_LOGIN"))
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "browser login failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn oidc_polling_login_then_refresh() {
    let kit = Kit::load();
    let dir = tempfile::tempdir().unwrap();
    let client =
        RucioClient::new(oidc_cfg(&kit, dir.path(), "openid profile offline_access")).unwrap();

    // Without a token, a call says a login is needed instead of hanging.
    let e = client.whoami().await.unwrap_err();
    assert!(matches!(e, Error::LoginRequired { .. }), "{e:?}");

    let login = client.start_oidc_login().await.unwrap();
    let url = login.login_url().clone();
    assert_eq!(url.scheme(), "http", "the plain-http test server's login URL is rewritten to http");
    assert!(url.path().ends_with("/auth/oidc_redirect"), "{url}");
    assert!(login.poll().await.unwrap().is_none(), "nobody has signed in yet");

    sign_in_in_browser(&kit, url.as_str()).await;
    let token = login.wait(Duration::from_secs(30), Duration::from_millis(500)).await.unwrap();
    assert_eq!(client.whoami().await.unwrap().account, kit.get("OIDC_LOGIN_ACCOUNT"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("token")).unwrap(),
        token.secret().expose_secret()
    );

    // Another client finds the login in the cache.
    let again =
        RucioClient::new(oidc_cfg(&kit, dir.path(), "openid profile offline_access")).unwrap();
    assert_eq!(again.whoami().await.unwrap().account, "jdoe");

    let refreshed = client.refresh_oidc_token().await.unwrap();
    assert!(refreshed.expires_at().is_some(), "a refreshed token comes with its expiry");
    assert_eq!(client.whoami().await.unwrap().account, "jdoe");
    let expiry_file =
        std::fs::read_to_string(dir.path().join("auth_token_exp_for_account_jdoe")).unwrap();
    assert_eq!(
        expiry_file.trim().parse::<i64>().unwrap(),
        refreshed.expires_at().unwrap().timestamp()
    );
}

#[tokio::test]
async fn oidc_login_that_nobody_completes_times_out() {
    let kit = Kit::load();
    let dir = tempfile::tempdir().unwrap();
    let client = RucioClient::new(oidc_cfg(&kit, dir.path(), "openid profile")).unwrap();
    let login = client.start_oidc_login().await.unwrap();
    let e = login.wait(Duration::from_millis(1200), Duration::from_millis(400)).await.unwrap_err();
    assert!(matches!(e, Error::LoginTimedOut(_)), "{e:?}");
}

#[tokio::test]
async fn wlcg_bearer_token_from_the_environment() {
    let kit = Kit::load();
    let dir = tempfile::tempdir().unwrap();
    // A JWT from the IdP's client_credentials grant maps to root (see the kit's README).
    let form = [
        ("grant_type", "client_credentials"),
        ("scope", kit.get("OIDC_SCOPE")),
        ("resource", "urn:rucio"),
    ];
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/token", kit.get("OIDC_ISSUER")))
        .basic_auth(kit.get("OIDC_CLIENT_ID"), Some(kit.get("OIDC_CLIENT_SECRET")))
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwt = answer["access_token"].as_str().unwrap();
    let token_file = dir.path().join("bt");
    std::fs::write(&token_file, jwt).unwrap();
    let url = kit.get("RUCIO_URL");
    let cfg = format!(
        "[client]\nrucio_host = {url}\nauth_host = {url}\nauth_type = oidc\nauth_token_file_path = {}\n",
        dir.path().join("tok").display()
    );
    let env = Environment::empty().with_var("BEARER_TOKEN_FILE", token_file.to_str().unwrap());
    let client = RucioClient::new(RucioConfig::from_cfg_text(&cfg, "t", &env).unwrap()).unwrap();
    assert_eq!(client.whoami().await.unwrap().account, "root");
}

fn proxy_cfg(kit: &Kit, proxy: &Path, dir: &Path) -> RucioConfig {
    let url = kit.get("RUCIO_TLS_URL");
    let cfg = format!(
        "[client]\nrucio_host = {url}\nauth_host = {url}\nauth_type = x509_proxy\naccount = root\nca_cert = {ca}\n\
         client_x509_proxy = {proxy}\nauth_token_file_path = {tok}\n",
        ca = kit.get("RUCIO_CA_CERT"),
        proxy = proxy.display(),
        tok = dir.join("token").display(),
    );
    kit.config(&cfg)
}

#[tokio::test]
async fn x509_proxy_file_authenticates() {
    let kit = Kit::load();
    let dir = tempfile::tempdir().unwrap();
    let proxy = kit.make_proxy(dir.path(), 2048);
    let client = RucioClient::new(proxy_cfg(&kit, &proxy, dir.path())).unwrap();
    assert_eq!(client.whoami().await.unwrap().account, "root");
    assert_eq!(client.auth_type(), AuthType::X509Proxy);
}

#[tokio::test]
async fn x509_proxy_with_a_weak_key_is_refused_clearly() {
    let kit = Kit::load();
    let dir = tempfile::tempdir().unwrap();
    let proxy = kit.make_proxy(dir.path(), 1024);
    let e = RucioClient::new(proxy_cfg(&kit, &proxy, dir.path())).unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(e, Error::Credentials(_))
            && msg.contains("2048")
            && msg.contains(proxy.to_str().unwrap()),
        "{msg}"
    );
}

/// Runs the Python Rucio client of the kit's venv: `whoami` with the given config and environment.
fn python_whoami(kit: &Kit, cfg: &Path, env: &[(&str, &str)]) -> Result<String, String> {
    let out = std::process::Command::new(Path::new(kit.get("RUCIO_VENV")).join("bin/python"))
        .args(["-c", "from rucio.client import Client; print(Client().whoami()['account'])"])
        .env_clear()
        .env("RUCIO_CONFIG", cfg)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or_default().to_owned())
    }
}

#[tokio::test]
async fn token_cache_is_shared_with_the_python_client_at_its_default_place() {
    let kit = Kit::load();
    let tmp = tempfile::tempdir().unwrap();
    let tmp_str = tmp.path().to_str().unwrap();
    // No auth_token_file_path: both clients derive TMPDIR/<user>/.rucio_<user>/auth_token_for_account_<account>.
    let cfg = |password: &str| {
        format!(
            "[client]\nrucio_host = {url}\nauth_host = {url}\nauth_type = userpass\naccount = jdoe\nusername = jdoe\npassword = {password}\n",
            url = kit.get("RUCIO_URL")
        )
    };
    let env = [("TMPDIR", tmp_str), ("USER", "tester"), ("LOGNAME", "tester")];
    let our_env = Environment::empty().with_var("TMPDIR", tmp_str).with_var("USER", "tester");
    let expected_file = tmp.path().join("tester/.rucio_tester/auth_token_for_account_jdoe");

    // Python logs in first; we reuse its token although our password is wrong.
    let good_cfg = tmp.path().join("good.cfg");
    std::fs::write(&good_cfg, cfg(kit.get("RUCIO_USER_PASSWORD"))).unwrap();
    assert_eq!(python_whoami(&kit, &good_cfg, &env).unwrap(), "jdoe");
    let python_token = std::fs::read_to_string(&expected_file).unwrap();
    let ours =
        RucioClient::new(RucioConfig::from_cfg_text(&cfg("wrong"), "bad.cfg", &our_env).unwrap())
            .unwrap();
    assert_eq!(ours.whoami().await.unwrap().account, "jdoe");
    assert_eq!(ours.current_token().unwrap().secret().expose_secret(), python_token);

    // We log in after the cache is gone; Python reuses our token although its password is wrong.
    std::fs::remove_file(&expected_file).unwrap();
    let ours = RucioClient::new(
        RucioConfig::from_cfg_text(&cfg(kit.get("RUCIO_USER_PASSWORD")), "good.cfg", &our_env)
            .unwrap(),
    )
    .unwrap();
    ours.whoami().await.unwrap();
    let bad_cfg = tmp.path().join("bad.cfg");
    std::fs::write(&bad_cfg, cfg("wrong")).unwrap();
    assert_eq!(python_whoami(&kit, &bad_cfg, &env).unwrap(), "jdoe");
    assert_eq!(
        std::fs::read_to_string(&expected_file).unwrap(),
        ours.current_token().unwrap().secret().expose_secret()
    );
}

#[tokio::test]
async fn ca_directory_of_hashed_files_from_x509_cert_dir() {
    let kit = Kit::load();
    let dir = tempfile::tempdir().unwrap();
    // The grid layout: CA certificates named <subject hash>.0, next to files that are not certificates.
    let hash = std::process::Command::new("openssl")
        .args(["x509", "-hash", "-noout", "-in", kit.get("RUCIO_CA_CERT")])
        .output()
        .unwrap();
    let hash = String::from_utf8(hash.stdout).unwrap();
    let certs = dir.path().join("certificates");
    std::fs::create_dir(&certs).unwrap();
    std::fs::copy(kit.get("RUCIO_CA_CERT"), certs.join(format!("{}.0", hash.trim()))).unwrap();
    std::fs::write(
        certs.join(format!("{}.signing_policy", hash.trim())),
        "access_id_CA X509 '/C=CH'",
    )
    .unwrap();
    let url = kit.get("RUCIO_TLS_URL");
    let cfg = format!(
        "[client]\nrucio_host = {url}\nauth_host = {url}\nauth_type = x509\naccount = root\nclient_cert = {cert}\n\
         client_key = {key}\nauth_token_file_path = {tok}\n",
        cert = kit.get("RUCIO_X509_CERT"),
        key = kit.get("RUCIO_X509_KEY"),
        tok = dir.path().join("token").display(),
    );
    let env = Environment::empty().with_var("X509_CERT_DIR", certs.to_str().unwrap());
    let config = RucioConfig::from_cfg_text(&cfg, "t", &env).unwrap();
    assert_eq!(config.ca_cert_dir.as_deref(), Some(certs.as_path()));
    let client = RucioClient::new(config).unwrap();
    assert_eq!(client.whoami().await.unwrap().account, "root");
}
