//! The layer stack on a real listener, with a handler that has no tools: what every site gets
//! whatever it serves (limits, timeouts, probes, landing page, bearer check, metrics, shutdown).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mcp_transports::auth::SharedSecret;
use mcp_transports::{HttpOptions, HttpServer, Listening, Site, SiteAccess};
use rmcp::ServerHandler;
use tokio_util::sync::CancellationToken;

#[derive(Clone, Debug)]
struct NoTools;

impl ServerHandler for NoTools {}

/// A server whose `/readyz` takes `probe` to answer, with the given options; returns its base URL,
/// its metrics URL, the stop switch and the serving task.
async fn start(
    options: HttpOptions,
    probe: Duration,
    secret: Option<&str>,
) -> (String, String, CancellationToken, tokio::task::JoinHandle<()>) {
    let mut site = Site::new("demo", NoTools).with_readiness(Arc::new(move || async move {
        tokio::time::sleep(probe).await;
        Ok::<(), String>(())
    }));
    if let Some(secret) = secret {
        site = site.with_verifier(
            Arc::new(SharedSecret::new(secret.to_owned().into(), "test")),
            SiteAccess::SharedSecret,
        );
    }
    let listening: Listening =
        HttpServer::new(options, "demo-mcp", "1.0").site(site).bind().await.unwrap();
    let base = format!("http://{}", listening.local_addr());
    let metrics = format!("http://{}/metrics", listening.metrics_addr().unwrap());
    let stop = CancellationToken::new();
    let signal = stop.clone();
    let task = tokio::spawn(async move {
        listening.serve(signal.cancelled_owned()).await.unwrap();
    });
    (base, metrics, stop, task)
}

fn options() -> HttpOptions {
    HttpOptions {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        metrics_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        ..HttpOptions::default()
    }
}

async fn status(url: &str) -> u16 {
    reqwest::get(url).await.unwrap().status().as_u16()
}

#[tokio::test]
async fn probes_landing_page_and_unknown_paths() {
    let (base, metrics, stop, task) = start(options(), Duration::ZERO, None).await;
    assert_eq!(reqwest::get(format!("{base}/healthz")).await.unwrap().text().await.unwrap(), "ok");
    let ready = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["sites"]["demo"], "ok", "{body}");
    let page = reqwest::get(format!("{base}/")).await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let page = page.text().await.unwrap();
    assert!(page.contains(&format!("{base}/site/demo/")), "{page}");
    assert_eq!(status(&format!("{base}/site/other/")).await, 404);
    assert_eq!(status(&format!("{base}/nothing/here?x=1")).await, 404);

    let text = reqwest::get(&metrics).await.unwrap().text().await.unwrap();
    assert!(
        text.contains(
            r#"starlette_requests_total{method="GET",path_template="/healthz",site=""} 1"#
        ),
        "{text}"
    );
    assert!(text.contains(r#"path_template="<unmatched>""#), "{text}");
    assert!(!text.contains("/nothing/here"), "raw paths must not become labels:\n{text}");
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn a_failing_backend_makes_readyz_fail_but_not_healthz() {
    let (base, _, stop, task) = start(options(), Duration::from_secs(6), None).await;
    let ready = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "not ready");
    assert!(body["sites"]["demo"].as_str().unwrap().contains("no answer within 5 s"), "{body}");
    assert_eq!(status(&format!("{base}/healthz")).await, 200);
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn slow_requests_time_out_with_504() {
    let options = HttpOptions { request_timeout: Duration::from_millis(300), ..options() };
    let (base, _, stop, task) = start(options, Duration::from_secs(2), None).await;
    assert_eq!(status(&format!("{base}/readyz")).await, 504);
    assert_eq!(status(&format!("{base}/healthz")).await, 200);
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn beyond_the_concurrency_limit_requests_are_shed_with_503() {
    let options = HttpOptions { max_concurrent_requests: 1, ..options() };
    let (base, _, stop, task) = start(options, Duration::from_secs(1), None).await;
    let slow = tokio::spawn(reqwest::get(format!("{base}/readyz")));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let shed = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(shed.status(), 503);
    assert_eq!(shed.headers()["retry-after"], "1");
    assert_eq!(slow.await.unwrap().unwrap().status(), 200, "the running request finishes");
    assert_eq!(status(&format!("{base}/healthz")).await, 200, "capacity is back");
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn the_bearer_check_runs_before_mcp_and_health_needs_none() {
    let (base, _, stop, task) =
        start(options(), Duration::ZERO, Some("a-long-enough-secret")).await;
    let client = reqwest::Client::new();
    let mcp = format!("{base}/site/demo");
    let refused = client.post(&mcp).body("not even json").send().await.unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.headers()["www-authenticate"], "Bearer realm=\"test\"");
    let accepted = client
        .post(&mcp)
        .bearer_auth("a-long-enough-secret")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body("not even json")
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 400, "past the bearer, a parse error");
    let error: serde_json::Value = accepted.json().await.unwrap();
    assert_eq!(error["error"]["code"], -32700);
    for (body, code, id) in [
        (r#"{"jsonrpc": 2, "id": 9, "method": "ping"}"#, -32600, serde_json::json!(9)),
        (r#"[{"jsonrpc": "2.0", "id": 1, "method": "ping"}]"#, -32600, serde_json::Value::Null),
        (r#""ping""#, -32600, serde_json::Value::Null),
        ("[1, 2", -32700, serde_json::Value::Null),
    ] {
        let answer = client
            .post(&mcp)
            .bearer_auth("a-long-enough-secret")
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 400, "{body}");
        let error: serde_json::Value = answer.json().await.unwrap();
        assert_eq!(
            (error["error"]["code"].clone(), error["id"].clone()),
            (code.into(), id),
            "{body}"
        );
    }
    assert_eq!(status(&format!("{base}/healthz")).await, 200);
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn listening_everywhere_needs_a_resource_url() {
    let options = HttpOptions { listen: SocketAddr::from(([0, 0, 0, 0], 0)), ..options() };
    let err = HttpServer::new(options, "demo-mcp", "1.0")
        .site(Site::new("demo", NoTools))
        .bind()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("public URL"), "{err}");
}

/// A client that writes a whole oversized body before it reads (as many simple HTTP clients do)
/// reads the 413, in shared-secret mode and without a bearer, with a length and chunked: the
/// server keeps reading and discarding after its answer instead of resetting the connection.
#[tokio::test]
async fn an_oversized_body_written_whole_before_reading_gets_its_413() {
    let (base, _, stop, task) =
        start(options(), Duration::ZERO, Some("a-long-enough-secret")).await;
    let addr = base.trim_start_matches("http://").to_owned();
    for (bearer, chunked) in [(true, false), (false, false), (true, true)] {
        let addr = addr.clone();
        let status = tokio::task::spawn_blocking(move || {
            post_whole_body_then_read(&addr, bearer, chunked, 20 * 1024 * 1024)
        })
        .await
        .unwrap();
        // The length is judged before the bearer: 413 either way.
        assert_eq!(status.as_deref(), Ok("413"), "bearer {bearer}, chunked {chunked}");
    }
    assert_eq!(status(&format!("{base}/healthz")).await, 200);
    stop.cancel();
    task.await.unwrap();
}

/// Writes the request and all of its body, then reads the status code of the answer.
fn post_whole_body_then_read(
    addr: &str,
    bearer: bool,
    chunked: bool,
    size: usize,
) -> Result<String, String> {
    use std::io::{BufRead, BufReader, Write};
    let mut stream = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
    let auth = if bearer { "Authorization: Bearer a-long-enough-secret\r\n" } else { "" };
    let framing = if chunked {
        "Transfer-Encoding: chunked\r\n".to_owned()
    } else {
        format!("Content-Length: {size}\r\n")
    };
    let head = format!(
        "POST /site/demo/ HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\n{framing}\r\n"
    );
    let written = |e: std::io::Error| format!("writing the body: {e}");
    stream.write_all(head.as_bytes()).map_err(written)?;
    let chunk = vec![b' '; 64 * 1024];
    for _ in 0..size / chunk.len() {
        if chunked {
            stream.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).map_err(written)?;
            stream.write_all(&chunk).map_err(written)?;
            stream.write_all(b"\r\n").map_err(written)?;
        } else {
            stream.write_all(&chunk).map_err(written)?;
        }
    }
    if chunked {
        stream.write_all(b"0\r\n\r\n").map_err(written)?;
    }
    let mut status_line = String::new();
    BufReader::new(&stream)
        .read_line(&mut status_line)
        .map_err(|e| format!("reading the answer: {e}"))?;
    status_line.split_whitespace().nth(1).map(str::to_owned).ok_or(status_line)
}
