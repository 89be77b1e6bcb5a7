//! Discovery against servers that misbehave on purpose, which no real server can be made to do:
//! metadata of another issuer or resource, nonsense, silence. Hand-made HTTP answers on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use mcp_oauth_client::{Challenge, discover};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use url::Url;

/// A server answering `GET path` with `(status, body)` from `routes` (404 otherwise), or never
/// answering at all when `silent`; its base URL.
async fn server(routes: Vec<(String, u16, String)>, silent: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let routes: Vec<(String, u16, String)> =
        routes.into_iter().map(|(p, s, b)| (p, s, b.replace("{base}", &base))).collect();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else { continue };
            let routes = routes.clone();
            tokio::spawn(async move {
                let mut request = vec![0u8; 4096];
                let n = stream.read(&mut request).await.unwrap_or(0);
                if silent {
                    tokio::time::sleep(Duration::from_secs(600)).await;
                    return;
                }
                let text = String::from_utf8_lossy(&request[..n]);
                let path = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let (status, body) = routes
                    .iter()
                    .find(|(p, _, _)| *p == path)
                    .map_or((404, String::new()), |(_, s, b)| (*s, b.clone()));
                let answer = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    base
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn resource_metadata(resource: &str) -> (String, u16, String) {
    (
        "/.well-known/oauth-protected-resource/mcp".into(),
        200,
        format!(r#"{{"resource": "{resource}", "authorization_servers": ["{{base}}/as"]}}"#),
    )
}

#[tokio::test]
async fn metadata_of_another_issuer_is_refused() {
    let base = server(
        vec![
            resource_metadata("{base}/mcp"),
            (
                "/.well-known/oauth-authorization-server/as".into(),
                200,
                r#"{"issuer": "https://evil.example/as", "authorization_endpoint": "https://evil.example/a", "token_endpoint": "https://evil.example/t"}"#.into(),
            ),
        ],
        false,
    )
    .await;
    let backend = Url::parse(&format!("{base}/mcp")).unwrap();
    let err = discover(&client(), &backend, None, None).await.unwrap_err().to_string();
    assert!(err.contains("describes the issuer https://evil.example/as"), "{err}");
}

#[tokio::test]
async fn metadata_of_another_resource_is_refused_and_one_above_is_taken() {
    let base = server(vec![resource_metadata("https://elsewhere.example/mcp")], false).await;
    let backend = Url::parse(&format!("{base}/mcp")).unwrap();
    let err = discover(&client(), &backend, None, None).await.unwrap_err().to_string();
    assert!(err.contains("not") && err.contains("elsewhere.example"), "{err}");

    let base = server(
        vec![
            resource_metadata("{base}"),
            (
                "/.well-known/oauth-authorization-server/as".into(),
                200,
                r#"{"issuer": "{base}/as", "authorization_endpoint": "{base}/as/authorize", "token_endpoint": "{base}/as/token", "code_challenge_methods_supported": ["S256"]}"#.into(),
            ),
        ],
        false,
    )
    .await;
    let backend = Url::parse(&format!("{base}/mcp")).unwrap();
    let found = discover(&client(), &backend, None, None).await.unwrap();
    assert_eq!(found.server.issuer, format!("{base}/as"));
    assert_eq!(found.resource, base, "the resource the server names");
}

#[tokio::test]
async fn a_server_without_s256_or_with_nonsense_is_refused() {
    let base = server(
        vec![
            resource_metadata("{base}/mcp"),
            (
                "/.well-known/oauth-authorization-server/as".into(),
                200,
                r#"{"issuer": "{base}/as", "token_endpoint": "{base}/as/token", "code_challenge_methods_supported": ["plain"]}"#.into(),
            ),
        ],
        false,
    )
    .await;
    let backend = Url::parse(&format!("{base}/mcp")).unwrap();
    let err = discover(&client(), &backend, None, None).await.unwrap_err().to_string();
    assert!(err.contains("S256"), "{err}");

    let base = server(
        vec![(
            "/.well-known/oauth-protected-resource/mcp".into(),
            200,
            "<html>not metadata</html>".into(),
        )],
        false,
    )
    .await;
    let backend = Url::parse(&format!("{base}/mcp")).unwrap();
    let err = discover(&client(), &backend, None, None).await.unwrap_err().to_string();
    assert!(err.contains("is not valid metadata"), "{err}");
}

/// A server that takes the connection and never answers: an error that says so, not a hang.
#[tokio::test]
async fn a_silent_server_is_an_error_within_seconds() {
    let base = server(Vec::new(), true).await;
    let backend = Url::parse(&format!("{base}/mcp")).unwrap();
    let challenge = Challenge::parse(&format!(
        r#"Bearer resource_metadata="{base}/.well-known/oauth-protected-resource/mcp""#
    ))
    .unwrap();
    let outcome = tokio::time::timeout(
        Duration::from_secs(60),
        discover(&client(), &backend, Some(&challenge), None),
    )
    .await
    .expect("discovery gave up by itself");
    let err = outcome.unwrap_err().to_string();
    assert!(err.contains("timed out") || err.contains("does not answer"), "{err}");
}
