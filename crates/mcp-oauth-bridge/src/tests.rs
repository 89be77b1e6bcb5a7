//! The bridge's logic in process, with a scripted upstream (the real upstreams are tested end to
//! end against the real Rucio and OpenID provider): what the end-to-end tests cannot reach
//! quickly, such as expiry, timeouts and upstream failures mid-login.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Mutex;

use axum::body::Body;
use http::{Request, StatusCode};
use secrecy::SecretString;
use tower::ServiceExt as _;

use super::*;
use crate::tokens::{AccessClaims, CodeClaims};

/// An upstream whose polls answer from a script.
pub(crate) struct Scripted {
    pub(crate) polls: Mutex<Vec<Result<Progress, UpstreamError>>>,
    pub(crate) refresh_ok: bool,
}

fn grant(subject: &str) -> UpstreamGrant {
    UpstreamGrant {
        subject: subject.into(),
        access_token: SecretString::from("upstream-token"),
        expires_at: Some(tokens::now() + 3600),
        refresh: Some(SecretString::from("upstream-refresh")),
    }
}

impl Upstream for Scripted {
    fn begin<'a>(&'a self, _: &'a Url, _: &'a str) -> UpstreamFuture<'a, LoginStart> {
        Box::pin(async {
            Ok(LoginStart::Poll {
                url: Url::parse("https://idp.example/login?x=1&y=<2>").unwrap(),
                pending: serde_json::json!({}),
            })
        })
    }

    fn complete<'a>(
        &'a self,
        _: &'a serde_json::Value,
        _: Option<&'a [(String, String)]>,
    ) -> UpstreamFuture<'a, Progress> {
        let next = self.polls.lock().unwrap().pop().unwrap_or(Ok(Progress::Pending));
        Box::pin(async move { next })
    }

    fn can_refresh(&self) -> bool {
        true
    }

    fn refresh<'a>(&'a self, old: &'a UpstreamGrant) -> UpstreamFuture<'a, UpstreamGrant> {
        let ok = self.refresh_ok;
        Box::pin(async move {
            if ok { Ok(grant(&old.subject)) } else { Err(UpstreamError::Refused("expired".into())) }
        })
    }

    fn display_name(&self) -> &str {
        "Scripted IdP"
    }
}

fn bridge(
    polls: Vec<Result<Progress, UpstreamError>>,
    refresh_ok: bool,
    timeout: Duration,
) -> Arc<Bridge> {
    let shared = Arc::new(BridgeShared::new(
        Arc::new(KeySet::ephemeral().unwrap()),
        Arc::new(MemoryStore::new()),
        MetadataFetcher::new(false),
        BridgeMetrics::default(),
    ));
    let mut config =
        BridgeConfig::new("atlas", Url::parse("https://mcp.example/site/atlas/").unwrap());
    config.login_timeout = timeout;
    config.static_clients = vec![StaticClient {
        client_id: "static-app".into(),
        client_name: Some("Static <App>".into()),
        redirect_uris: vec!["http://127.0.0.1:9999/cb".into()],
    }];
    let upstream =
        Arc::new(Scripted { polls: Mutex::new(polls.into_iter().rev().collect()), refresh_ok });
    Arc::new(Bridge::new(config, shared, upstream).unwrap())
}

async fn send(
    bridge: &Arc<Bridge>,
    request: Request<Body>,
) -> (StatusCode, http::HeaderMap, String) {
    let response = bridge.router().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// Authorize, consent: the login id (the waiting page's path).
async fn start_login(bridge: &Arc<Bridge>) -> String {
    let uri = format!(
        "/site/atlas/authorize?response_type=code&client_id=static-app&redirect_uri=http%3A%2F%2F127.0.0.1%3A9999%2Fcb&code_challenge={CHALLENGE}&code_challenge_method=S256&state=st"
    );
    let (status, headers, page) = send(bridge, get(&uri)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Static &lt;App&gt;") && !page.contains("<App>"));
    assert!(
        !page.contains("(name given by the client itself)"),
        "a static client's name is the operator's"
    );
    let cookie = headers["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let field = |name: &str| {
        let start = page.find(&format!("name=\"{name}\" value=\"")).unwrap() + name.len() + 15;
        page[start..].split('"').next().unwrap().to_owned()
    };
    let form = format!(
        "request={}&csrf={}&decision=allow",
        url::form_urlencoded::byte_serialize(field("request").as_bytes()).collect::<String>(),
        field("csrf")
    );
    let request = Request::post("/site/atlas/consent")
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(form))
        .unwrap();
    let (status, headers, body) = send(bridge, request).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    headers["location"].to_str().unwrap().to_owned()
}

fn query_of(location: &str) -> std::collections::HashMap<String, String> {
    Url::parse(location).unwrap().query_pairs().into_owned().collect()
}

#[tokio::test]
async fn a_polling_login_waits_then_sends_the_code_and_the_code_buys_tokens() {
    let bridge = bridge(
        vec![
            Ok(Progress::Pending),
            Err(UpstreamError::Unavailable("flaky".into())),
            Ok(Progress::Done(grant("jdoe"))),
        ],
        true,
        Duration::from_secs(300),
    );
    let waiting = start_login(&bridge).await;
    assert_eq!(bridge.shared.metrics.pending("atlas").get(), 1);
    let (status, _, page) = send(&bridge, get(&waiting)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("https://idp.example/login?x=1&amp;y=%3C2%3E"),
        "the link is escaped: {page}"
    );
    let (status, _, page) = send(&bridge, get(&waiting)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("flaky") && page.contains("still trying"), "{page}");
    let (status, headers, _) = send(&bridge, get(&format!("{waiting}?wait=1"))).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let query = query_of(headers["location"].to_str().unwrap());
    assert_eq!(query["state"], "st");
    assert_eq!(query["iss"], "https://mcp.example/site/atlas");
    assert_eq!(bridge.shared.metrics.pending("atlas").get(), 0);
    // The login is over: its page says so.
    let (status, _, _) = send(&bridge, get(&waiting)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let form = format!(
        "grant_type=authorization_code&code={}&client_id=static-app&redirect_uri=http%3A%2F%2F127.0.0.1%3A9999%2Fcb&code_verifier={VERIFIER}&resource=https%3A%2F%2Fmcp.example%2Fsite%2Fatlas%2F",
        query["code"]
    );
    let token = |form: String| {
        Request::post("/site/atlas/token")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(form))
            .unwrap()
    };
    let (status, headers, body) = send(&bridge, token(form.clone())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    let tokens: serde_json::Value = serde_json::from_str(&body).unwrap();
    let identity = bridge.verifier().verify(tokens["access_token"].as_str().unwrap()).unwrap();
    assert_eq!(identity.subject, "jdoe");
    // Expires a margin before the upstream token, so the client refreshes in time.
    let expires_in = tokens["expires_in"].as_i64().unwrap();
    assert!((3290..=3300).contains(&expires_in), "{expires_in}");

    let refresh = format!(
        "grant_type=refresh_token&client_id=static-app&refresh_token={}",
        tokens["refresh_token"].as_str().unwrap()
    );
    let (status, _, body) = send(&bridge, token(refresh.clone())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, body) = send(&bridge, token(refresh)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a refresh token is single-use: {body}");
}

#[tokio::test]
async fn a_login_that_fails_or_times_out_tells_the_client() {
    let refused = bridge(
        vec![Err(UpstreamError::Refused("unknown identity".into()))],
        true,
        Duration::from_secs(300),
    );
    let waiting = start_login(&refused).await;
    let (status, headers, _) = send(&refused, get(&waiting)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let query = query_of(headers["location"].to_str().unwrap());
    assert_eq!(query["error"], "access_denied");
    assert!(query["error_description"].contains("unknown identity"));
    assert_eq!(refused.shared.metrics.pending("atlas").get(), 0);

    let slow = bridge(vec![], true, Duration::ZERO);
    let waiting = start_login(&slow).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, headers, _) = send(&slow, get(&waiting)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let query = query_of(headers["location"].to_str().unwrap());
    assert_eq!(query["error"], "access_denied");
    assert!(query["error_description"].contains("in time"));
}

fn access_claims(bridge: &Bridge, audience: &str, expires_at: i64) -> String {
    let claims = AccessClaims {
        subject: "jdoe".into(),
        site: "atlas".into(),
        client_id: "c".into(),
        audience: audience.into(),
        scope: None,
        issued_at: tokens::now(),
        expires_at,
        upstream_token: SecretString::from("u"),
        upstream_expires_at: None,
    };
    bridge.shared.keys.seal(Purpose::AccessToken, &claims).unwrap()
}

#[test]
fn expired_and_foreign_tokens_are_refused() {
    let bridge = bridge(vec![], true, Duration::from_secs(300));
    let verifier = bridge.verifier();
    let now = tokens::now();
    assert!(
        verifier
            .verify(&access_claims(&bridge, "https://mcp.example/site/atlas/", now + 60))
            .is_ok()
    );
    assert!(
        verifier
            .verify(&access_claims(&bridge, "https://mcp.example/site/atlas", now + 60))
            .is_ok()
    );
    assert_eq!(
        verifier
            .verify(&access_claims(&bridge, "https://mcp.example/site/atlas/", now - 1))
            .unwrap_err(),
        TokenRejection::Expired
    );
    assert_eq!(
        verifier
            .verify(&access_claims(&bridge, "https://mcp.example/site/cms/", now + 60))
            .unwrap_err(),
        TokenRejection::WrongAudience
    );
    assert_eq!(verifier.verify("not-a-token").unwrap_err(), TokenRejection::Invalid);
    let challenge = verifier.challenge(Some(("invalid_token", "expired")));
    assert_eq!(
        challenge,
        "Bearer resource_metadata=\"https://mcp.example/.well-known/oauth-protected-resource/site/atlas\", error=\"invalid_token\", error_description=\"expired\""
    );
}

#[tokio::test]
async fn an_expired_code_and_a_refused_refresh_are_invalid_grants() {
    let bridge = bridge(vec![], false, Duration::from_secs(300));
    let code = CodeClaims {
        site: "atlas".into(),
        client_id: "static-app".into(),
        redirect_uri: "http://127.0.0.1:9999/cb".into(),
        code_challenge: CHALLENGE.into(),
        resource: "https://mcp.example/site/atlas/".into(),
        scope: None,
        expires_at: tokens::now() - 1,
        jti: "j".into(),
        grant: grant("jdoe"),
    };
    let code = bridge.shared.keys.seal(Purpose::Code, &code).unwrap();
    let form = format!(
        "grant_type=authorization_code&code={code}&client_id=static-app&redirect_uri=http%3A%2F%2F127.0.0.1%3A9999%2Fcb&code_verifier={VERIFIER}"
    );
    let request = Request::post("/site/atlas/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(form))
        .unwrap();
    let (status, _, body) = send(&bridge, request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("invalid_grant") && body.contains("expired"), "{body}");

    let refresh = tokens::RefreshClaims {
        site: "atlas".into(),
        client_id: "static-app".into(),
        audience: "https://mcp.example/site/atlas/".into(),
        scope: None,
        expires_at: tokens::now() + 60,
        jti: "r".into(),
        grant: grant("jdoe"),
    };
    let refresh = bridge.shared.keys.seal(Purpose::RefreshToken, &refresh).unwrap();
    let request = Request::post("/site/atlas/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(format!(
            "grant_type=refresh_token&client_id=static-app&refresh_token={refresh}"
        )))
        .unwrap();
    let (status, _, body) = send(&bridge, request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("invalid_grant") && body.contains("sign in again"), "{body}");
}

#[tokio::test]
async fn repeated_parameters_are_refused() {
    let bridge = bridge(vec![], true, Duration::from_secs(300));
    let (status, _, page) =
        send(&bridge, get("/site/atlas/authorize?client_id=static-app&client_id=other")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("repeated"), "{page}");
}
