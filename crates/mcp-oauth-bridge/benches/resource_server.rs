//! What resource-server mode pays per request for a bearer of an external issuer, through
//! `ResourceServer::verify` built by `ResourceServer::new` exactly as `--auth resource-server`
//! builds it (audience = the resource URL, every algorithm, 60 s positive cache):
//!
//! - a JWT access token shaped like the test IdP's (`typ: at+jwt`, `aud` the resource, ~700 bytes)
//!   the first time it is seen: the full RS256 (2048-bit) or ES256 signature check and the claims;
//! - the same JWT sent again: the verified-token cache;
//! - an opaque token sent again after one introspection: the cache;
//! - an opaque token never seen: the RFC 7662 round trip to the issuer;
//! - the bare RS256 and ES256 signature checks (aws-lc-rs, the key parsed once), the floor of a
//!   first sight.
//!
//! No network beyond 127.0.0.1: the keys are made here with aws-lc-rs, and a tiny axum server on
//! 127.0.0.1 (started by the bench) serves their JWKS and answers introspection. Tokens of the
//! "first sight" rows are signed before the clock runs, and each batch of them is checked by a
//! fresh `ResourceServer` (its keys fetched from that JWKS before the clock runs) so none comes
//! from a cache. `cargo bench -p mcp-oauth-bridge --bench resource_server`;
//! `cargo xtask bench resource-server` runs it and prints the figures.
#![allow(clippy::expect_used, missing_docs)]

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _,
    ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair,
    VerificationAlgorithm,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mcp_oauth_bridge::{IntrospectionClient, IssuerMetadata, ResourceServer, ResourceServerConfig};
use serde_json::{Value, json};
use url::Url;

const SITE: &str = "jwt";
/// Tokens signed ahead for the first-sight rows, checked by one `ResourceServer` each batch.
const BATCH: usize = 256;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `n` and `e` out of a DER `RSAPublicKey` (SEQUENCE of two INTEGERs), without leading zeros.
fn rsa_components(der: &[u8]) -> (Vec<u8>, Vec<u8>) {
    fn tlv(input: &[u8]) -> (&[u8], &[u8]) {
        let (len, start) = if input[1] & 0x80 == 0 {
            (usize::from(input[1]), 2)
        } else {
            let n = usize::from(input[1] & 0x7f);
            (input[2..2 + n].iter().fold(0usize, |a, b| a << 8 | usize::from(*b)), 2 + n)
        };
        (&input[start..start + len], &input[start + len..])
    }
    let strip = |v: &[u8]| v.iter().skip_while(|b| **b == 0).copied().collect::<Vec<u8>>();
    let (seq, _) = tlv(der);
    let (n, rest) = tlv(seq);
    let (e, _) = tlv(rest);
    (strip(n), strip(e))
}

/// The issuer's two signing keys and their JWKS.
struct Keys {
    rsa: RsaKeyPair,
    ec: EcdsaKeyPair,
    jwks: Value,
    rng: SystemRandom,
}

impl Keys {
    fn new() -> Self {
        let rsa = RsaKeyPair::generate(KeySize::Rsa2048).expect("an RSA key");
        let ec = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("an EC key");
        let (n, e) = rsa_components(rsa.public_key().as_ref());
        let point = ec.public_key().as_ref();
        let jwks = json!({"keys": [
            {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": "bench-rs256", "n": b64(&n), "e": b64(&e)},
            {"kty": "EC", "use": "sig", "alg": "ES256", "kid": "bench-es256", "crv": "P-256",
             "x": b64(&point[1..33]), "y": b64(&point[33..])},
        ]});
        Self { rsa, ec, jwks, rng: SystemRandom::new() }
    }

    /// An access token like the test IdP's for `resource`, `jti` making it unique.
    fn token(&self, alg: &str, issuer: &str, resource: &str, jti: &str) -> String {
        let kid = if alg == "ES256" { "bench-es256" } else { "bench-rs256" };
        let header = json!({"alg": alg, "typ": "at+jwt", "kid": kid});
        let now = now();
        let claims = json!({
            "jti": jti, "sub": "alice", "iat": now, "exp": now + 3600, "scope": "mcp:tools",
            "client_id": "mcp-public", "iss": issuer, "aud": resource,
        });
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let signature = if alg == "ES256" {
            self.ec.sign(&self.rng, input.as_bytes()).expect("signed").as_ref().to_vec()
        } else {
            let mut sig = vec![0; self.rsa.public_modulus_len()];
            self.rsa
                .sign(&RSA_PKCS1_SHA256, &self.rng, input.as_bytes(), &mut sig)
                .expect("signed");
            sig
        };
        format!("{input}.{}", b64(&signature))
    }
}

/// The issuer's endpoints the resource server calls: `GET /jwks`, `POST /introspect` (every
/// token `opaque-…` active for `resource`, anything else inactive), on 127.0.0.1 in a thread of
/// its own. Returns the base URL.
fn start_issuer(jwks: Value, resource: String) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            let listener =
                tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port on 127.0.0.1");
            let base = format!("http://{}", listener.local_addr().expect("an address"));
            let issuer = base.clone();
            let introspect = move |axum::Form(form): axum::Form<HashMap<String, String>>| {
                let (issuer, resource) = (issuer.clone(), resource.clone());
                async move {
                    let token = form.get("token").map_or("", String::as_str);
                    if !token.starts_with("opaque-") {
                        return axum::Json(json!({"active": false}));
                    }
                    let now = now();
                    axum::Json(json!({
                        "active": true, "sub": "bob", "client_id": "mcp-public",
                        "scope": "mcp:tools", "aud": resource, "iss": issuer,
                        "iat": now, "exp": now + 3600, "token_type": "Bearer",
                    }))
                }
            };
            let app = axum::Router::new()
                .route("/jwks", axum::routing::get(move || async move { axum::Json(jwks) }))
                .route("/introspect", axum::routing::post(introspect));
            tx.send(base).expect("the bench waits");
            axum::serve(listener, app).await.expect("the issuer serves");
        });
    });
    rx.recv_timeout(Duration::from_secs(10)).expect("the issuer listens")
}

fn resource_server_checks(c: &mut Criterion) {
    let keys = Keys::new();
    // The resource URL is only compared with `aud`; nothing listens there.
    let resource = "http://127.0.0.1:8000/site/jwt/";
    let base = start_issuer(keys.jwks.clone(), resource.to_owned());
    let issuer = base.clone();
    let metadata = IssuerMetadata {
        issuer: issuer.clone(),
        jwks_uri: Some(Url::parse(&format!("{base}/jwks")).expect("a URL")),
        introspection_endpoint: Some(Url::parse(&format!("{base}/introspect")).expect("a URL")),
        scopes_supported: vec!["mcp:tools".into()],
    };
    let http = ResourceServer::http_client().expect("an HTTP client");
    let build = || {
        let mut config =
            ResourceServerConfig::new(SITE, &issuer, Url::parse(resource).expect("a URL"));
        config.introspection = Some(IntrospectionClient {
            client_id: "mcp-rs".into(),
            client_secret: "bench-introspection-secret".to_owned().into(),
        });
        ResourceServer::new(config, &metadata, http.clone()).expect("a resource server")
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime");

    let rs256 = keys.token("RS256", &issuer, resource, "seen-before-rs256");
    let es256 = keys.token("ES256", &issuer, resource, "seen-before-es256");
    let opaque = "opaque-7b0c2d9e4f1a4b8c9d3e5f60718293a4b5c6d7e8f9a0b1c2".to_owned();
    // Sanity: the tokens pass, a foreign audience does not, introspection is counted.
    let checked = build();
    for token in [&rs256, &es256, &opaque] {
        let identity = runtime.block_on(checked.verify(token)).expect("the token passes");
        assert!(matches!(identity.subject.as_str(), "alice" | "bob"));
    }
    let foreign = keys.token("RS256", &issuer, "http://127.0.0.1:8000/site/other/", "foreign");
    assert!(runtime.block_on(checked.verify(&foreign)).is_err(), "another audience is refused");
    assert_eq!(checked.introspections(), 1);
    eprintln!("token sizes: RS256 {} bytes, ES256 {} bytes", rs256.len(), es256.len());

    let mut group = c.benchmark_group("resource_server");
    group.throughput(Throughput::Elements(1));

    // First sight: tokens signed ahead, BATCH per fresh ResourceServer warmed (keys fetched)
    // with a token outside the batch; only the checks of the batch are timed.
    for alg in ["RS256", "ES256"] {
        let warm = keys.token(alg, &issuer, resource, "warm-up");
        let mut serial = 0u64;
        let mut pool = || {
            (0..BATCH)
                .map(|_| {
                    serial += 1;
                    keys.token(alg, &issuer, resource, &format!("first-sight-{serial}"))
                })
                .collect::<Vec<_>>()
        };
        let mut batch = pool();
        let name = format!("jwt_{}_first_sight", alg.to_ascii_lowercase());
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let server = build();
                    runtime.block_on(server.verify(&warm)).expect("the warm-up token passes");
                    let n = usize::try_from(left).unwrap_or(usize::MAX).min(BATCH);
                    if batch.len() < n {
                        batch = pool();
                    }
                    let tokens: Vec<String> = batch.drain(..n).collect();
                    let start = Instant::now();
                    for token in &tokens {
                        black_box(
                            runtime.block_on(server.verify(black_box(token))).expect("valid"),
                        );
                    }
                    total += start.elapsed();
                    left -= n as u64;
                    if batch.is_empty() {
                        batch = pool();
                    }
                }
                total
            });
        });
    }

    // Seen before: the positive cache (SHA-256 of the token, a look-up, the identity cloned).
    let server = build();
    runtime.block_on(server.verify(&rs256)).expect("valid");
    group.bench_function("jwt_seen_before", |b| {
        b.iter(|| runtime.block_on(server.verify(black_box(&rs256))).expect("valid"));
    });

    // An opaque token introspected once, then from the cache.
    let server = build();
    runtime.block_on(server.verify(&opaque)).expect("valid");
    let asked = server.introspections();
    group.bench_function("introspection_cached", |b| {
        b.iter(|| runtime.block_on(server.verify(black_box(&opaque))).expect("valid"));
    });
    // At most one more: a 60 s cache may run out once during a long measurement.
    assert!(server.introspections() <= asked + 1, "the cached token was introspected again");

    // An opaque token never seen: one POST to the issuer on 127.0.0.1 (keep-alive).
    let server = build();
    let mut serial = 0u64;
    group.bench_function("introspection_uncached", |b| {
        b.iter_batched(
            || {
                serial += 1;
                format!("opaque-{serial:032x}")
            },
            |token| runtime.block_on(server.verify(black_box(&token))).expect("valid"),
            criterion::BatchSize::SmallInput,
        );
    });

    // The floor of a first sight: the signature alone.
    let floors: [(&str, &String, &'static dyn VerificationAlgorithm, Vec<u8>); 2] = [
        (
            "rs256_signature_only",
            &rs256,
            &RSA_PKCS1_2048_8192_SHA256,
            keys.rsa.public_key().as_ref().to_vec(),
        ),
        (
            "es256_signature_only",
            &es256,
            &ECDSA_P256_SHA256_FIXED,
            keys.ec.public_key().as_ref().to_vec(),
        ),
    ];
    for (name, token, algorithm, public) in floors {
        let (input, signature) = token.rsplit_once('.').expect("a JWS");
        let signature = URL_SAFE_NO_PAD.decode(signature).expect("base64url");
        let key = ParsedPublicKey::new(algorithm, public).expect("a public key");
        key.verify_sig(input.as_bytes(), &signature).expect("the signature verifies");
        group.bench_function(name, |b| {
            b.iter(|| key.verify_sig(black_box(input.as_bytes()), black_box(&signature)).is_ok());
        });
    }
    group.finish();
}

criterion_group!(benches, resource_server_checks);
criterion_main!(benches);
