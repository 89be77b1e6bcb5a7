//! What a resource server pays per request for a trusted issuer's JWT access token with the
//! keys already held (no network): one Ed25519 token, DiracX-shaped, through `JwtVerifier::verify`
//! and through `TokenVerifier::check` (the sealed-token attempt first, then the JWT path): the
//! first time a token is seen (the signature checked) and again (the verified-token cache).
//! `cargo bench -p mcp-oauth-bridge --bench jwt`.
#![allow(clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::sync::Arc;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mcp_oauth_bridge::bench_support::verifier_with_jwt;
use mcp_oauth_bridge::{JwtVerifier, JwtVerifierConfig, KeySet};
use url::Url;

const ISSUER: &str = "https://diracx.example.org";
const SITE: &str = "local";

fn jwt_check(c: &mut Criterion) {
    let pair = Ed25519KeyPair::generate().expect("a key");
    let jwks = serde_json::json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "alg": "Ed25519",
        "kid": "bench", "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref())}]});
    let now = jwt_verify_now();
    let claims = serde_json::json!({
        "sub": "testvo:b7f3c2a1-5d47-4f0b-9d8e-0a1b2c3d4e5f", "vo": "testvo", "iss": ISSUER,
        "exp": now + 3600, "iat": now, "jti": "a0b1c2d3-e4f5-4061-8728-394a5b6c7d8e",
        "dirac_group": "testvo_user", "dirac_properties": ["NormalUser"],
        "preferred_username": "alice", "dirac_policies": {}, "legacy_exchange": false,
    });
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"Ed25519","kid":"bench","typ":"JWT"}"#);
    let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
    let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(pair.sign(input.as_bytes())));
    // A token never seen before: another `jti`, signed outside the measured time.
    let counter = std::cell::Cell::new(0u64);
    let fresh_token = || {
        let mut claims = claims.clone();
        counter.set(counter.get() + 1);
        claims["jti"] = serde_json::json!(format!("bench-{}", counter.get()));
        let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(pair.sign(input.as_bytes())))
    };

    let mut config = JwtVerifierConfig::new(
        SITE,
        ISSUER,
        Url::parse("http://127.0.0.1:9/jwks.json").expect("a URL"),
    );
    config.subject_claim = "preferred_username".into();
    let jwt = JwtVerifier::with_http_client(config, reqwest::Client::new())
        .with_keys(jwks.to_string().as_bytes())
        .expect("the key set");
    let jwt = Arc::new(jwt);
    let keys = Arc::new(KeySet::ephemeral().expect("a key"));
    let verifier =
        verifier_with_jwt(keys, SITE, "http://127.0.0.1:8000/site/local", Some(jwt.clone()));
    let runtime =
        tokio::runtime::Builder::new_current_thread().build().expect("a current-thread runtime");
    let identity = runtime.block_on(verifier.check(&token)).expect("the token verifies");
    assert_eq!(identity.subject, "alice");
    eprintln!("token: {} bytes", token.len());

    let mut group = c.benchmark_group("jwt");
    group.throughput(Throughput::Elements(1));
    group.bench_function("ed25519_first_sight", |b| {
        b.iter_batched(
            fresh_token,
            |token| runtime.block_on(jwt.verify(black_box(&token))).expect("valid"),
            criterion::BatchSize::SmallInput,
        );
    });
    group.bench_function("ed25519_seen_before", |b| {
        b.iter(|| runtime.block_on(jwt.verify(black_box(&token))).expect("valid"));
    });
    group.bench_function("token_verifier_check_seen_before", |b| {
        b.iter(|| runtime.block_on(verifier.check(black_box(&token))).expect("valid"));
    });
    group.bench_function("ed25519_signature_only", |b| {
        let public = aws_lc_rs::signature::ParsedPublicKey::new(
            &aws_lc_rs::signature::ED25519,
            pair.public_key().as_ref(),
        )
        .expect("a public key");
        let signature = pair.sign(input.as_bytes());
        b.iter(|| public.verify_sig(black_box(input.as_bytes()), signature.as_ref()).is_ok());
    });
    group.finish();
}

fn jwt_verify_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

criterion_group!(benches, jwt_check);
criterion_main!(benches);
