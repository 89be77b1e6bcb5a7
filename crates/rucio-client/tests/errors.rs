//! Each Rucio error type from the real server, and garbage from a misbehaving one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures_util::{StreamExt, TryStreamExt};
use rucio_client::{
    Did, DidSearchType, Environment, Error, NewRule, RucioClient, RucioConfig, RucioErrorKind,
    TransportFailure,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use test_kit::Kit;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn did(s: &str) -> Did {
    Did::parse(s).unwrap()
}

fn kind(e: &Error) -> RucioErrorKind {
    e.kind().cloned().unwrap_or_else(|| panic!("expected a Rucio server error, got {e:?}"))
}

#[tokio::test]
async fn not_found_errors_keep_the_server_message() {
    let kit = Kit::load();
    let dir = tempfile::tempdir().unwrap();
    let client = kit.root(dir.path());
    let e = client.get_did(&did("data24:no.such.dataset"), false).await.unwrap_err();
    assert_eq!(kind(&e), RucioErrorKind::DataIdentifierNotFound);
    assert!(e.to_string().contains("no.such.dataset"), "{e}");
    assert_eq!(
        kind(&client.get_rse("NO-SUCH-RSE").await.unwrap_err()),
        RucioErrorKind::RseNotFound
    );
    assert_eq!(
        kind(&client.get_rule("00000000000000000000000000000000").await.unwrap_err()),
        RucioErrorKind::RuleNotFound
    );
    assert_eq!(
        kind(&client.get_account("nosuchaccount").await.unwrap_err()),
        RucioErrorKind::AccountNotFound
    );
    // Errors of list calls arrive before the stream does.
    let e = client
        .list_files(&did("data24:missing"), false)
        .await
        .err()
        .expect("listing a missing DID must fail");
    assert_eq!(kind(&e), RucioErrorKind::DataIdentifierNotFound);
    let e = client.list_rses(Some("tier=")).await.err().expect("a bad RSE expression must fail");
    assert_eq!(kind(&e), RucioErrorKind::InvalidRseExpression, "{e}");
}

#[tokio::test]
async fn rule_errors_duplicate_quota_access() {
    let kit = Kit::load();
    let dir = tempfile::tempdir().unwrap();
    let root = kit.root(dir.path());
    let jdoe = kit.jdoe(dir.path());

    // The seed already holds exactly this rule.
    let mut rule = NewRule::new(vec![did("data24:data24.run00001.DAOD").key()], 1, "MOCK-POSIX");
    rule.account = Some("root".into());
    let e = root.add_rule(&rule).await.unwrap_err();
    assert_eq!(kind(&e), RucioErrorKind::DuplicateRule, "{e}");

    // jdoe has no quota on MOCK-POSIX2.
    let mut quota = NewRule::new(vec![did("test:file_5.txt").key()], 1, "MOCK-POSIX2");
    quota.account = Some("jdoe".into());
    let e = jdoe.add_rule(&quota).await.unwrap_err();
    assert_eq!(kind(&e), RucioErrorKind::InsufficientAccountLimit, "{e}");

    // jdoe may not remove root's rule.
    let e =
        jdoe.delete_rule(&kit.rule_id("data24.run00001.DAOD@MOCK-POSIX"), false).await.unwrap_err();
    assert_eq!(kind(&e), RucioErrorKind::AccessDenied, "{e}");
    assert_eq!(e.kind(), Some(&RucioErrorKind::AccessDenied));
}

#[tokio::test]
async fn wrong_password_is_cannot_authenticate() {
    let kit = Kit::load();
    let dir = tempfile::tempdir().unwrap();
    let cfg = kit.userpass_cfg(dir.path(), "root", "ddmlab", "wrong-password");
    let client = RucioClient::new(kit.config(&cfg)).unwrap();
    let e = client.whoami().await.unwrap_err();
    assert_eq!(kind(&e), RucioErrorKind::CannotAuthenticate);
    assert!(e.is_authentication());
    assert!(
        !e.to_string().contains("wrong-password"),
        "a password must never appear in an error: {e}"
    );
}

#[tokio::test]
async fn json_metadata_on_sqlite_gives_a_clear_html_error() {
    // The real server answers 500 with an HTML page here (see the kit's README).
    let kit = Kit::load();
    let dir = tempfile::tempdir().unwrap();
    let e = kit
        .root(dir.path())
        .get_metadata(&did("data24:data24.run00001.DAOD"), "JSON")
        .await
        .unwrap_err();
    match &e {
        Error::InvalidResponse { status: 500, detail, .. } => {
            assert!(detail.contains("HTML page"), "{detail}")
        }
        other => panic!("expected an InvalidResponse, got {other:?}"),
    }
}

#[tokio::test]
async fn unreachable_server_is_a_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let cfg = format!(
        "[client]\nrucio_host = http://127.0.0.1:{port}\nauth_host = http://127.0.0.1:{port}\nauth_type = userpass\n\
         username = u\npassword = p\nrequest_retries = 1\n"
    );
    let client =
        RucioClient::builder(RucioConfig::from_cfg_text(&cfg, "t", &Environment::empty()).unwrap())
            .token_cache(false)
            .build()
            .unwrap();
    match client.ping().await.unwrap_err() {
        Error::Transport { failure: TransportFailure::Connect, url, .. } => {
            assert!(url.contains(&port.to_string()))
        }
        other => panic!("expected a connect failure, got {other:?}"),
    }
}

/// Serves one canned HTTP answer per connection: a server that misbehaves on purpose.
async fn garbage_server(response: &'static [u8]) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let _ = socket.read(&mut buf).await;
                let _ = socket.write_all(response).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
}

fn garbage_client(url: &str) -> RucioClient {
    garbage_client_with(url, "request_retries = 0\n")
}

fn garbage_client_with(url: &str, extra: &str) -> RucioClient {
    let cfg = format!("[client]\nrucio_host = {url}\nauth_host = {url}\nauth_type = oidc\n{extra}");
    let env = Environment::empty().with_var("BEARER_TOKEN", "not-a-real-token");
    RucioClient::builder(RucioConfig::from_cfg_text(&cfg, "t", &env).unwrap())
        .token_cache(false)
        .build()
        .unwrap()
}

#[tokio::test]
async fn truncated_stream_is_reported_after_the_good_lines() {
    let url = garbage_server(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-json-stream\r\nConnection: close\r\n\r\n\"a\"\n\"b\"\n\"data24.run0000",
    )
    .await;
    let client = garbage_client(&url);
    let mut names = client.list_dids("x", &[], DidSearchType::All, false, None).await.unwrap();
    assert_eq!(names.try_next().await.unwrap().as_deref(), Some("a"));
    assert_eq!(names.try_next().await.unwrap().as_deref(), Some("b"));
    let e = names.try_next().await.unwrap_err();
    assert!(e.to_string().contains("truncated"), "{e}");
    assert!(names.try_next().await.unwrap().is_none(), "the stream ends after an error");
}

#[tokio::test]
async fn html_error_page_and_non_json_body_are_clear_errors() {
    let url = garbage_server(
        b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
    )
    .await;
    match garbage_client(&url).whoami().await.unwrap_err() {
        Error::InvalidResponse { status: 502, detail, .. } => {
            assert_eq!(detail, "an HTML page instead of JSON (502 Bad Gateway)")
        }
        other => panic!("expected an InvalidResponse, got {other:?}"),
    }
    let url = garbage_server(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{\"account\": ").await;
    match garbage_client(&url).whoami().await.unwrap_err() {
        Error::InvalidResponse { status: 200, detail, .. } => {
            assert!(detail.contains("malformed JSON"), "{detail}")
        }
        other => panic!("expected an InvalidResponse, got {other:?}"),
    }
}

/// Answers the n-th connection with `answers[n]` (the last one from then on); counts connections.
async fn scripted_server(answers: Vec<&'static [u8]>) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let n = seen.fetch_add(1, Ordering::SeqCst);
            let answer = answers[n.min(answers.len() - 1)];
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let _ = socket.read(&mut buf).await;
                let _ = socket.write_all(answer).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (format!("http://{addr}"), count)
}

const UNAVAILABLE: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
const PONG: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 21\r\nConnection: close\r\n\r\n{\"version\": \"41.5.1\"}";

#[tokio::test]
async fn idempotent_calls_retry_with_backoff_and_writes_do_not() {
    let (url, count) = scripted_server(vec![UNAVAILABLE, UNAVAILABLE, PONG]).await;
    let client = garbage_client_with(&url, "request_retries = 3\n");
    let started = Instant::now();
    assert_eq!(client.ping().await.unwrap().version, "41.5.1");
    assert_eq!(count.load(Ordering::SeqCst), 3, "two 503s, then the answer");
    assert!(started.elapsed() >= Duration::from_millis(400), "retries wait before trying again");

    let (url, count) = scripted_server(vec![UNAVAILABLE]).await;
    let client = garbage_client_with(&url, "request_retries = 3\n");
    let rule = NewRule::new(vec![Did::parse("s:n").unwrap().key()], 1, "X");
    match client.add_rule(&rule).await.unwrap_err() {
        Error::InvalidResponse { status: 503, .. } => {}
        other => panic!("expected the 503 itself, got {other:?}"),
    }
    assert_eq!(count.load(Ordering::SeqCst), 1, "creating a rule is never sent twice");
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    // Accept and hold connections without answering.
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let client = garbage_client_with(&url, "request_retries = 0\nrequest_timeout = 1\n");
    let started = Instant::now();
    match client.ping().await.unwrap_err() {
        Error::Transport { failure: TransportFailure::Timeout, .. } => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn taking_50_of_a_million_reads_only_a_little() {
    // A server offering a million 1 KiB documents; it counts what it managed to send.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 16 * 1024];
        let _ = socket.read(&mut buf).await;
        let head = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-json-stream\r\nConnection: close\r\n\r\n";
        socket.write_all(head).await.unwrap();
        let line = format!("\"{}\"\n", "x".repeat(1021));
        for _ in 0..1_000_000 {
            if socket.write_all(line.as_bytes()).await.is_err() {
                break;
            }
            counter.fetch_add(1, Ordering::SeqCst);
        }
        let _ = done_tx.send(());
    });
    let client = garbage_client(&url);
    let first: Vec<String> = client
        .list_dids("x", &[], DidSearchType::All, false, None)
        .await
        .unwrap()
        .take(50)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(first.len(), 50);
    // Dropping the stream closes the connection; the server stops at its next write.
    tokio::time::timeout(Duration::from_secs(30), done_rx).await.unwrap().unwrap();
    let written = sent.load(Ordering::SeqCst);
    assert!(
        written < 50_000,
        "the server sent {written} documents for 50 taken: the stream is not lazy"
    );
}
