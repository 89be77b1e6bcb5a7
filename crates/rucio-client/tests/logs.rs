//! No password, token or one-time login code reaches a log line, at any level.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use rucio_client::{ExposeSecret, RucioClient};
use test_kit::Kit;

/// Collects everything the subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn secrets_never_reach_the_logs() {
    let kit = Kit::load();
    let dir = tempfile::tempdir().unwrap();
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    // userpass login with a wrong password first (the error path), then the right one
    let bad = kit.userpass_cfg(dir.path(), "jdoe", "jdoe", "wrong-password-XYZ");
    let e = RucioClient::new(kit.config(&bad)).unwrap().whoami().await.unwrap_err();
    assert!(!e.to_string().contains("wrong-password-XYZ"));
    let client = kit.jdoe(dir.path());
    client.whoami().await.unwrap();
    let token = client.current_token().unwrap().secret().expose_secret().to_owned();

    // the OIDC polling login: its poll URL carries a one-time code that can fetch a token
    let url = kit.get("RUCIO_URL");
    let cfg = format!(
        "[client]\nrucio_host = {url}\nauth_host = {url}\nauth_type = oidc\naccount = jdoe\noidc_audience = rucio\nauth_token_file_path = {}\n",
        dir.path().join("oidc-token").display()
    );
    let oidc = RucioClient::new(kit.config(&cfg)).unwrap();
    let login = oidc.start_oidc_login().await.unwrap();
    assert!(login.poll().await.unwrap().is_none());
    let code = login.login_url().query().unwrap().to_owned();

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("rucio request"), "the capture works: {} bytes", logs.len());
    for (what, secret) in [
        ("password", kit.get("RUCIO_USER_PASSWORD")),
        ("wrong password", "wrong-password-XYZ"),
        ("token", token.as_str()),
        ("OIDC poll code", code.as_str()),
    ] {
        assert!(!logs.contains(secret), "the {what} appears in the logs");
    }
}
