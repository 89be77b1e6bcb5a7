//! `OidcUpstream` against the kit's real OpenID provider (`tests/fixtures/rucio-server/idp.mjs`,
//! started by `cargo xtask rucio up`; its issuer is `OIDC_ISSUER` in the env file). The test plays
//! the browser: it posts the provider's dev login form and follows redirects by hand until the
//! provider sends it to the bridge's callback (where nothing needs to listen).
#![allow(clippy::unwrap_used, clippy::expect_used, irrefutable_let_patterns)]

use std::collections::HashMap;

use mcp_oauth_bridge::{
    ConfigError, LoginStart, OidcUpstream, OidcUpstreamConfig, Progress, Upstream, UpstreamError,
};
use secrecy::ExposeSecret;
use url::Url;

/// The redirect URI registered for the `mcp-bridge-test` client in idp.mjs.
const CALLBACK: &str = "http://127.0.0.1:33419/callback";

fn config(issuer: &str) -> OidcUpstreamConfig {
    OidcUpstreamConfig {
        issuer: Url::parse(issuer).unwrap(),
        client_id: "mcp-bridge-test".into(),
        client_secret: None,
        scopes: vec!["openid".into(), "profile".into()],
        display_name: "Local IdP".into(),
        subject_claim: Some("preferred_username".into()),
        extra_auth_params: vec![],
        refresh: Default::default(),
    }
}

async fn upstream() -> OidcUpstream {
    let kit = test_kit::Kit::load();
    let issuer = kit.get("OIDC_ISSUER");
    OidcUpstream::discover(config(issuer)).await.unwrap_or_else(|e| {
        panic!("the local OpenID provider at {issuer} is not usable ({e}): start it with `cargo xtask rucio up`")
    })
}

/// A browser with a cookie jar that does not follow redirects by itself.
struct Browser {
    http: reqwest::Client,
    cookies: HashMap<String, String>,
}

impl Browser {
    fn new() -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .unwrap();
        Self { http, cookies: HashMap::new() }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> (u16, Option<String>, String) {
        let cookie: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let response = request.header("cookie", cookie.join("; ")).send().await.unwrap();
        for set in response.headers().get_all("set-cookie") {
            let pair = set.to_str().unwrap().split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                self.cookies.insert(name.trim().to_owned(), value.trim().to_owned());
            }
        }
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .map(|l| response.url().join(l.to_str().unwrap()).unwrap().to_string());
        (status, location, response.text().await.unwrap())
    }

    /// Logs in as `login` from the authorization URL; returns the query of the redirect to
    /// `callback` (which is not called).
    async fn login(&mut self, start: &Url, callback: &str, login: &str) -> Vec<(String, String)> {
        let mut url = start.to_string();
        let mut posted = false;
        for _ in 0..20 {
            if url.starts_with(callback) {
                return Url::parse(&url).unwrap().query_pairs().into_owned().collect();
            }
            let (status, location, body) = self.send(self.http.get(&url)).await;
            if let Some(next) = location {
                url = next;
                continue;
            }
            assert_eq!(status, 200, "unexpected answer at {url}: {body}");
            assert!(!posted, "the login form came back: {body}");
            let action = body
                .split("action=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_else(|| panic!("no login form at {url}: {body}"));
            let action = Url::parse(&url).unwrap().join(action).unwrap();
            let form = [("prompt", "login"), ("login", login), ("password", "anything")];
            let (status, location, body) = self.send(self.http.post(action).form(&form)).await;
            posted = true;
            url = location.unwrap_or_else(|| panic!("login not accepted (HTTP {status}): {body}"));
        }
        panic!("too many redirects, last at {url}");
    }
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

#[tokio::test]
async fn code_flow_refresh_and_replay() {
    let upstream = upstream().await;
    assert_eq!(upstream.display_name(), "Local IdP");
    assert!(upstream.can_refresh());

    let callback = Url::parse(CALLBACK).unwrap();
    let LoginStart::Redirect { url, pending } =
        upstream.begin(&callback, "bridge-state-1").await.unwrap()
    else {
        panic!("an OIDC upstream redirects");
    };
    let params: HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(params["state"], "bridge-state-1");
    assert_eq!(params["code_challenge_method"], "S256");
    assert_eq!(params["redirect_uri"], CALLBACK);
    assert!(params["scope"].split(' ').any(|s| s == "openid"));
    assert!(params.contains_key("nonce"));
    // The pending state is kept server-side: it holds the verifier, never the challenge alone.
    assert!(pending["pkce_verifier"].as_str().is_some_and(|v| v.len() >= 43));

    let query = Browser::new().login(&url, CALLBACK, "alice").await;
    assert!(query.iter().any(|(k, v)| k == "state" && v == "bridge-state-1"));

    let Progress::Done(grant) = upstream.complete(&pending, Some(&query)).await.unwrap() else {
        panic!("a redirect answer completes the login");
    };
    assert_eq!(grant.subject, "alice");
    assert!(!grant.access_token.expose_secret().is_empty());
    assert!(grant.expires_at.unwrap() > now());
    assert!(grant.refresh.is_some(), "the test client may refresh");

    let renewed = upstream.refresh(&grant).await.unwrap();
    assert_eq!(renewed.subject, "alice");
    assert!(!renewed.access_token.expose_secret().is_empty());
    assert!(renewed.expires_at.unwrap() > now());
    assert!(renewed.refresh.is_some());

    // A code works once.
    match upstream.complete(&pending, Some(&query)).await {
        Err(UpstreamError::Refused(_)) => {}
        other => panic!("a replayed code must be refused, got {other:?}"),
    }
}

#[tokio::test]
async fn id_token_with_another_nonce_is_refused() {
    let upstream = upstream().await;
    let callback = Url::parse(CALLBACK).unwrap();
    let LoginStart::Redirect { url, mut pending } = upstream.begin(&callback, "s3").await.unwrap()
    else {
        panic!("an OIDC upstream redirects");
    };
    let query = Browser::new().login(&url, CALLBACK, "bob").await;
    pending["nonce"] = "another-nonce".into();
    match upstream.complete(&pending, Some(&query)).await {
        Err(UpstreamError::Refused(text)) => assert!(text.contains("ID token"), "{text}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn provider_errors_and_wrong_answers_are_refused() {
    let upstream = upstream().await;
    let callback = Url::parse(CALLBACK).unwrap();
    let LoginStart::Redirect { pending, .. } = upstream.begin(&callback, "s2").await.unwrap()
    else {
        panic!("an OIDC upstream redirects");
    };
    let denied = [
        ("error".to_owned(), "access_denied".to_owned()),
        ("error_description".to_owned(), "the user said no".to_owned()),
        ("state".to_owned(), "s2".to_owned()),
    ];
    match upstream.complete(&pending, Some(&denied)).await {
        Err(UpstreamError::Refused(text)) => {
            assert!(text.contains("access_denied") && text.contains("the user said no"), "{text}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let bogus = [("code".to_owned(), "not-a-code".to_owned()), ("state".to_owned(), "s2".into())];
    assert!(matches!(
        upstream.complete(&pending, Some(&bogus)).await,
        Err(UpstreamError::Refused(_))
    ));
    let mixed_up = [
        ("code".to_owned(), "x".to_owned()),
        ("iss".to_owned(), "https://evil.example".to_owned()),
    ];
    assert!(matches!(
        upstream.complete(&pending, Some(&mixed_up)).await,
        Err(UpstreamError::Refused(_))
    ));
}

#[tokio::test]
async fn unreachable_issuer_is_a_config_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let issuer = format!("http://127.0.0.1:{port}");
    match OidcUpstream::discover(config(&issuer)).await {
        Err(ConfigError::Invalid(text)) => assert!(text.contains(&issuer), "{text}"),
        other => panic!("expected a configuration error, got {other:?}"),
    }
}
