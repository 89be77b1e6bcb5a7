//! What a resource server pays per request for the bridge's access token: open (AES-256-GCM) and
//! check (site, audience, expiry) a sealed token that carries a realistic upstream JWT (~900
//! bytes, RS256-signed as an IdP issues them). `cargo bench -p mcp-oauth-bridge --bench token`;
//! `cargo xtask bench bridge` runs it and prints the figure.
#![allow(clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mcp_oauth_bridge::KeySet;
use mcp_oauth_bridge::bench_support::{mint_access_token, verifier_for};

const SITE: &str = "local";
const AUDIENCE: &str = "http://127.0.0.1:8000/site/local";

/// An upstream access token shaped like an IdP's: header, claims, 2048-bit RSA signature; the
/// bytes are not a valid signature (the bridge never checks it, Rucio does).
fn upstream_jwt() -> String {
    let header = r#"{"alg":"RS256","kid":"3f1c0a9e-5d47-4f0b-9d8e-bench-key","typ":"JWT"}"#;
    let claims = serde_json::json!({
        "iss": "https://idp.example.org/realms/experiment",
        "sub": "8d5c2e4a-1b3f-4c6d-9e8f-0a1b2c3d4e5f",
        "aud": "rucio",
        "azp": "rucio",
        "exp": 1_900_000_000_i64,
        "iat": 1_899_996_400_i64,
        "jti": "a0b1c2d3-e4f5-4061-8728-394a5b6c7d8e",
        "scope": "openid profile offline_access",
        "preferred_username": "alice",
        "email": "alice@example.org",
        "groups": ["/experiment", "/experiment/analysis"],
    });
    let signature = vec![0xa5_u8; 256];
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

fn open_and_verify(c: &mut Criterion) {
    let keys = Arc::new(KeySet::ephemeral().expect("a key"));
    let upstream = upstream_jwt();
    let token = mint_access_token(&keys, SITE, AUDIENCE, &upstream, 3600);
    let verifier = verifier_for(Arc::clone(&keys), SITE, AUDIENCE);
    let identity = verifier.verify(&token).expect("the minted token verifies");
    assert_eq!(identity.site, SITE);
    eprintln!(
        "token: upstream JWT {} bytes, sealed access token {} bytes",
        upstream.len(),
        token.len()
    );

    let mut group = c.benchmark_group("access_token");
    group.throughput(Throughput::Elements(1));
    group.bench_function("open_and_verify", |b| {
        b.iter(|| verifier.verify(black_box(&token)).expect("valid"));
    });
    group.finish();
}

criterion_group!(benches, open_and_verify);
criterion_main!(benches);
