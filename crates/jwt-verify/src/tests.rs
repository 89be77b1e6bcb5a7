#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RSA_PKCS1_SHA256,
    RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use url::Url;

use crate::*;

const ISS: &str = "https://issuer.example";

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn claims(exp_in: i64) -> Value {
    json!({"iss": ISS, "sub": "alice", "exp": unix_now() + exp_in, "scope": "openid read"})
}

fn validation() -> Validation {
    Validation::new(ISS, Audience::Absent)
}

fn signing_input(header: &Value, claims: &Value) -> String {
    format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()))
}

fn keys(jwks: &Value) -> KeySet {
    KeySet::from_json(jwks.to_string().as_bytes()).unwrap()
}

fn ed_jwk(pair: &Ed25519KeyPair, kid: &str) -> Value {
    json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "alg": "Ed25519",
           "x": b64(pair.public_key().as_ref()), "key_ops": ["sign", "verify"]})
}

fn ed_token(pair: &Ed25519KeyPair, alg: &str, kid: &str, claims: &Value) -> String {
    let input = signing_input(&json!({"alg": alg, "kid": kid, "typ": "JWT"}), claims);
    format!("{input}.{}", b64(pair.sign(input.as_bytes()).as_ref()))
}

fn ed25519() -> (Ed25519KeyPair, KeySet) {
    let pair = Ed25519KeyPair::generate().unwrap();
    let set = keys(&json!({"keys": [ed_jwk(&pair, "k1")]}));
    (pair, set)
}

/// `n` and `e` out of a DER `RSAPublicKey` (SEQUENCE of two INTEGERs).
fn rsa_components(der: &[u8]) -> (Vec<u8>, Vec<u8>) {
    fn tlv(input: &[u8]) -> (&[u8], &[u8]) {
        let (len, start) = if input[1] & 0x80 == 0 {
            (input[1] as usize, 2)
        } else {
            let n = (input[1] & 0x7f) as usize;
            (input[2..2 + n].iter().fold(0usize, |a, b| a << 8 | *b as usize), 2 + n)
        };
        (&input[start..start + len], &input[start + len..])
    }
    let (seq, _) = tlv(der);
    let (n, rest) = tlv(seq);
    let (e, _) = tlv(rest);
    (n.to_vec(), e.to_vec())
}

fn rsa() -> (RsaKeyPair, Value) {
    let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let (n, e) = rsa_components(pair.public_key().as_ref());
    let jwk = json!({"kty": "RSA", "kid": "r1", "alg": "RS256", "n": b64(&n), "e": b64(&e)});
    (pair, jwk)
}

fn rs_token(pair: &RsaKeyPair, claims: &Value) -> String {
    let input = signing_input(&json!({"alg": "RS256", "kid": "r1"}), claims);
    let mut sig = vec![0; pair.public_modulus_len()];
    pair.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), input.as_bytes(), &mut sig).unwrap();
    format!("{input}.{}", b64(&sig))
}

#[test]
fn ed25519_tokens_verify_under_both_labels() {
    let (pair, keys) = ed25519();
    for alg in ["Ed25519", "EdDSA"] {
        let claims = keys.verify(&ed_token(&pair, alg, "k1", &claims(600)), &validation()).unwrap();
        assert_eq!(claims.str("sub"), Some("alice"));
    }
    // Only where allowed.
    let strict = validation().with_algorithms(["Ed25519"]);
    let err = keys.verify(&ed_token(&pair, "EdDSA", "k1", &claims(600)), &strict).unwrap_err();
    assert!(matches!(err, JwtError::AlgorithmNotAllowed { .. }), "{err}");
    // Without a kid, any fitting key is tried.
    let input = signing_input(&json!({"alg": "EdDSA"}), &claims(600));
    let token = format!("{input}.{}", b64(pair.sign(input.as_bytes()).as_ref()));
    keys.verify(&token, &validation()).unwrap();
}

#[test]
fn rs256_tokens_verify_and_tampering_is_caught() {
    let (pair, jwk) = rsa();
    let keys = keys(&json!({"keys": [jwk]}));
    let token = rs_token(&pair, &claims(600));
    keys.verify(&token, &validation()).unwrap();
    let mut tampered = claims(600);
    tampered["sub"] = json!("admin");
    let signature = token.rsplit('.').next().unwrap();
    let forged =
        format!("{}.{signature}", signing_input(&json!({"alg": "RS256", "kid": "r1"}), &tampered));
    assert_eq!(keys.verify(&forged, &validation()).unwrap_err(), JwtError::Signature);
}

#[test]
fn es256_tokens_verify() {
    let rng = SystemRandom::new();
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let point = pair.public_key().as_ref();
    assert_eq!(point.len(), 65);
    let jwk = json!({"kty": "EC", "crv": "P-256", "kid": "e1", "use": "sig",
                     "x": b64(&point[1..33]), "y": b64(&point[33..])});
    let keys = keys(&json!({"keys": [jwk]}));
    let input = signing_input(&json!({"alg": "ES256", "kid": "e1"}), &claims(600));
    let sig = pair.sign(&rng, input.as_bytes()).unwrap();
    let token = format!("{input}.{}", b64(sig.as_ref()));
    keys.verify(&token, &validation()).unwrap();
    // One bit of the signature flipped.
    let mut bad = sig.as_ref().to_vec();
    bad[10] ^= 1;
    let tampered = format!("{input}.{}", b64(&bad));
    assert_eq!(keys.verify(&tampered, &validation()).unwrap_err(), JwtError::Signature);
    assert_eq!(format!("{keys:?}"), r#"[("e1", "EC/P-256")]"#);
}

#[test]
fn a_tampered_ed25519_signature_or_another_key_fails() {
    let (pair, keys) = ed25519();
    let token = ed_token(&pair, "Ed25519", "k1", &claims(600));
    let (input, sig) = token.rsplit_once('.').unwrap();
    let mut sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
    sig[5] ^= 0x40;
    let tampered = format!("{input}.{}", b64(&sig));
    assert_eq!(keys.verify(&tampered, &validation()).unwrap_err(), JwtError::Signature);
    let other = Ed25519KeyPair::generate().unwrap();
    let err = keys.verify(&ed_token(&other, "Ed25519", "k1", &claims(600)), &validation());
    assert_eq!(err.unwrap_err(), JwtError::Signature);
}

#[test]
fn none_unsupported_and_crit_are_refused() {
    let (_, keys) = ed25519();
    let v = validation().with_algorithms(["none", "HS256", "Ed25519"]);
    for alg in ["none", "None", "NONE"] {
        let none = format!("{}.", signing_input(&json!({"alg": alg}), &claims(600)));
        assert_eq!(keys.verify(&none, &v).unwrap_err(), JwtError::Unsigned);
    }
    let ps = format!("{}.AAAA", signing_input(&json!({"alg": "PS256"}), &claims(600)));
    assert!(
        matches!(keys.verify(&ps, &v).unwrap_err(), JwtError::UnsupportedAlgorithm(a) if a == "PS256")
    );
    let crit =
        signing_input(&json!({"alg": "Ed25519", "kid": "k1", "crit": ["exp"]}), &claims(600));
    assert_eq!(keys.verify(&format!("{crit}.AAAA"), &v).unwrap_err(), JwtError::CriticalHeader);
    let err = keys.verify("not a jwt", &v).unwrap_err();
    assert!(err.to_string().contains("three dot-separated parts"), "{err}");
    assert!(matches!(keys.verify("a.b.c", &v).unwrap_err(), JwtError::Malformed(_)));
}

/// The classic confusion: HS256 with the RSA public key as the HMAC secret.
#[test]
fn hs256_with_the_rsa_public_key_as_secret_is_refused() {
    let (pair, jwk) = rsa();
    let keys = keys(&json!({"keys": [jwk.clone()]}));
    let input = signing_input(&json!({"alg": "HS256", "kid": "r1"}), &claims(600));
    for secret in [pair.public_key().as_ref().to_vec(), jwk.to_string().into_bytes()] {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &secret);
        let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
        let token = format!("{input}.{}", b64(tag.as_ref()));
        // Even where a careless configuration lists HS256.
        let v = validation().with_algorithms(["HS256", "RS256"]);
        assert!(matches!(keys.verify(&token, &v).unwrap_err(), JwtError::UnsupportedAlgorithm(_)));
    }
}

#[test]
fn keys_never_check_another_algorithm() {
    let (rsa_pair, rsa_jwk) = rsa();
    let ed = Ed25519KeyPair::generate().unwrap();
    // An RSA key and an Ed25519 key under one kid: each only checks its own algorithm.
    let mut ed_jwk = ed_jwk(&ed, "r1");
    let set = keys(&json!({"keys": [rsa_jwk.clone(), ed_jwk.clone()]}));
    set.verify(&rs_token(&rsa_pair, &claims(600)), &validation()).unwrap();
    set.verify(&ed_token(&ed, "EdDSA", "r1", &claims(600)), &validation()).unwrap();
    // An Ed25519 key labelled RS256 checks nothing: not RS256 (wrong type), not EdDSA (label).
    ed_jwk["alg"] = json!("RS256");
    let set = keys(&json!({"keys": [ed_jwk]}));
    let err = set.verify(&ed_token(&ed, "EdDSA", "r1", &claims(600)), &validation()).unwrap_err();
    assert_eq!(err, JwtError::UnknownKey { alg: "EdDSA".into(), kid: Some("r1".into()) });
    // An RSA key labelled ES256 does not check RS256 tokens.
    let mut relabelled = rsa_jwk;
    relabelled["alg"] = json!("ES256");
    let set = keys(&json!({"keys": [relabelled]}));
    let err = set.verify(&rs_token(&rsa_pair, &claims(600)), &validation()).unwrap_err();
    assert!(matches!(err, JwtError::UnknownKey { .. }), "{err}");
    // An ES256 token never meets an Ed25519 or RSA key.
    let es = format!("{}.AAAA", signing_input(&json!({"alg": "ES256", "kid": "r1"}), &claims(600)));
    let err = keys(&json!({"keys": [ed_jwk_plain(&ed)]})).verify(&es, &validation()).unwrap_err();
    assert!(matches!(err, JwtError::UnknownKey { .. }), "{err}");
}

fn ed_jwk_plain(pair: &Ed25519KeyPair) -> Value {
    json!({"kty": "OKP", "crv": "Ed25519", "kid": "r1", "x": b64(pair.public_key().as_ref())})
}

#[test]
fn jwks_members_decide_which_keys_are_used() {
    let pair = Ed25519KeyPair::generate().unwrap();
    let x = b64(pair.public_key().as_ref());
    let set = keys(&json!({"keys": [
        {"kty": "OKP", "crv": "Ed25519", "kid": "enc", "use": "enc", "x": x},
        {"kty": "OKP", "crv": "Ed25519", "kid": "sign-only", "key_ops": ["sign"], "x": x},
        {"kty": "OKP", "crv": "X25519", "kid": "x", "x": x},
        {"kty": "EC", "crv": "P-384", "kid": "p384", "x": x, "y": x},
        {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
        {"kty": "EC", "crv": "P-256", "kid": "off-curve", "x": b64(&[1; 32]), "y": b64(&[2; 32])},
        {"kty": "OKP", "crv": "Ed25519", "kid": "ok", "x": x},
        "not an object"
    ]}));
    assert_eq!(set.kids().collect::<Vec<_>>(), ["ok"]);
    assert!(set.knows(None) && set.knows(Some("ok")) && !set.knows(Some("enc")));
    assert!(matches!(KeySet::from_json(b"<html>"), Err(JwtError::KeysUnavailable(_))));
}

#[test]
fn expiry_and_nbf_use_the_leeway() {
    let (pair, keys) = ed25519();
    let v = validation();
    keys.verify(&ed_token(&pair, "Ed25519", "k1", &claims(-10)), &v).unwrap();
    let err = keys.verify(&ed_token(&pair, "Ed25519", "k1", &claims(-40)), &v).unwrap_err();
    assert!(matches!(err, JwtError::Expired { ago } if (40..=41).contains(&ago)), "{err}");
    let strict = validation().with_leeway(Duration::ZERO);
    let err = keys.verify(&ed_token(&pair, "Ed25519", "k1", &claims(-10)), &strict).unwrap_err();
    assert!(matches!(err, JwtError::Expired { .. }), "{err}");

    let mut soon = claims(600);
    soon["nbf"] = json!(unix_now() + 20);
    keys.verify(&ed_token(&pair, "Ed25519", "k1", &soon), &v).unwrap();
    let mut early = claims(600);
    early["nbf"] = json!(unix_now() + 120);
    let err = keys.verify(&ed_token(&pair, "Ed25519", "k1", &early), &v).unwrap_err();
    assert!(matches!(err, JwtError::NotYetValid { .. }), "{err}");
    assert!(err.to_string().contains("not valid for another"), "{err}");

    let mut no_exp = claims(600);
    no_exp.as_object_mut().unwrap().remove("exp");
    let err = keys.verify(&ed_token(&pair, "Ed25519", "k1", &no_exp), &v).unwrap_err();
    assert!(matches!(err, JwtError::Malformed(_)), "{err}");
    // Fractional NumericDates are read.
    let mut fractional = claims(600);
    fractional["exp"] = json!(unix_now() as f64 + 600.5);
    keys.verify(&ed_token(&pair, "Ed25519", "k1", &fractional), &v).unwrap();
}

#[test]
fn the_issuer_must_match_exactly() {
    let (pair, keys) = ed25519();
    let mut foreign = claims(600);
    foreign["iss"] = json!("https://evil.example");
    let err = keys.verify(&ed_token(&pair, "Ed25519", "k1", &foreign), &validation()).unwrap_err();
    assert!(err.to_string().contains("issuer `https://evil.example`"), "{err}");
    foreign["iss"] = json!(format!("{ISS}/"));
    assert!(matches!(
        keys.verify(&ed_token(&pair, "Ed25519", "k1", &foreign), &validation()).unwrap_err(),
        JwtError::Issuer { .. }
    ));
    foreign.as_object_mut().unwrap().remove("iss");
    let err = keys.verify(&ed_token(&pair, "Ed25519", "k1", &foreign), &validation()).unwrap_err();
    assert_eq!(err, JwtError::Issuer { found: None, expected: ISS.into() });
}

#[test]
fn audience_policies() {
    let (pair, keys) = ed25519();
    let with_aud = |aud: Value| {
        let mut c = claims(600);
        c["aud"] = aud;
        ed_token(&pair, "Ed25519", "k1", &c)
    };
    let plain = ed_token(&pair, "Ed25519", "k1", &claims(600));
    let must = Validation::new(ISS, Audience::Must("mcp".into()));
    keys.verify(&with_aud(json!("mcp")), &must).unwrap();
    keys.verify(&with_aud(json!(["other", "mcp"])), &must).unwrap();
    for refused in [with_aud(json!("other")), with_aud(json!(["other"])), plain.clone()] {
        let err = keys.verify(&refused, &must).unwrap_err();
        assert_eq!(err, JwtError::Audience { expected: Some("mcp".into()) });
    }
    keys.verify(&plain, &validation()).unwrap();
    for refused in [with_aud(json!("mcp")), with_aud(json!([]))] {
        let err = keys.verify(&refused, &validation()).unwrap_err();
        assert_eq!(err, JwtError::Audience { expected: None });
    }
    let one_of =
        Validation::new(ISS, Audience::OneOf(vec!["https://m/x/".into(), "https://m/x".into()]));
    keys.verify(&with_aud(json!("https://m/x")), &one_of).unwrap();
    keys.verify(&with_aud(json!(["o", "https://m/x/"])), &one_of).unwrap();
    for refused in [with_aud(json!("https://m/x/y")), plain.clone()] {
        let err = keys.verify(&refused, &one_of).unwrap_err();
        assert_eq!(err, JwtError::Audience { expected: Some("https://m/x/".into()) });
    }
    let any = Validation::new(ISS, Audience::Any);
    keys.verify(&with_aud(json!("whatever")), &any).unwrap();
    keys.verify(&plain, &any).unwrap();
}

#[test]
fn required_scopes_come_from_scope_or_scp() {
    let (pair, keys) = ed25519();
    let v = validation().with_required_scopes(["read"]);
    keys.verify(&ed_token(&pair, "Ed25519", "k1", &claims(600)), &v).unwrap();
    let mut scp = claims(600);
    scp.as_object_mut().unwrap().remove("scope");
    scp["scp"] = json!(["read", "write"]);
    keys.verify(
        &ed_token(&pair, "Ed25519", "k1", &scp),
        &v.clone().with_required_scopes(["read", "write"]),
    )
    .unwrap();
    let err = keys
        .verify(
            &ed_token(&pair, "Ed25519", "k1", &claims(600)),
            &v.with_required_scopes(["read", "write"]),
        )
        .unwrap_err();
    assert_eq!(err, JwtError::Scope { missing: "write".into() });
}

#[test]
fn messages_never_quote_the_token() {
    let (pair, keys) = ed25519();
    let long_kid = "k".repeat(500);
    let token = ed_token(&pair, "Ed25519", &long_kid, &claims(600));
    let err = keys.verify(&token, &validation()).unwrap_err().to_string();
    assert!(err.len() < 200 && !err.contains(&token), "{err}");
    let expired = ed_token(&pair, "Ed25519", "k1", &claims(-600));
    let (_, signature) = expired.rsplit_once('.').unwrap();
    let err = keys.verify(&expired, &validation()).unwrap_err().to_string();
    assert!(!err.contains(signature) && !err.contains(&expired), "{err}");
}

/// A JWKS endpoint whose answer the test changes, counting its requests.
struct KeyServer {
    url: Url,
    answer: Arc<std::sync::Mutex<(String, String)>>,
    hits: Arc<AtomicUsize>,
}

impl KeyServer {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url =
            Url::parse(&format!("http://{}/jwks.json", listener.local_addr().unwrap())).unwrap();
        let answer =
            Arc::new(std::sync::Mutex::new(("200 OK".to_owned(), r#"{"keys":[]}"#.to_owned())));
        let hits = Arc::new(AtomicUsize::new(0));
        let (served, counted) = (answer.clone(), hits.clone());
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                let (served, counted) = (served.clone(), counted.clone());
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    counted.fetch_add(1, Ordering::SeqCst);
                    // Slow enough that concurrent callers overlap with the fetch.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    let (status, body) = served.lock().unwrap().clone();
                    let answer = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\nlocation: /elsewhere\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(answer.as_bytes()).await;
                });
            }
        });
        Self { url, answer, hits }
    }

    fn serve(&self, pairs: &[(&str, &Ed25519KeyPair)]) {
        let keys: Vec<Value> = pairs.iter().map(|(kid, pair)| ed_jwk(pair, kid)).collect();
        *self.answer.lock().unwrap() = ("200 OK".into(), json!({ "keys": keys }).to_string());
    }

    fn answer(&self, status: &str, body: String) {
        *self.answer.lock().unwrap() = (status.into(), body);
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

#[tokio::test]
async fn an_unknown_kid_is_fetched_again_at_most_once_per_floor() {
    let server = KeyServer::start().await;
    let (a, b) = (Ed25519KeyPair::generate().unwrap(), Ed25519KeyPair::generate().unwrap());
    server.serve(&[("a", &a)]);
    let floor = Duration::from_millis(500);
    let remote = Arc::new(RemoteKeySet::new(http(), server.url.clone()).with_refetch_floor(floor));
    let v = validation();
    let token_a = ed_token(&a, "Ed25519", "a", &claims(600));

    // A first burst of concurrent callers: one fetch.
    let burst: Vec<_> = (0..10)
        .map(|_| {
            let (remote, token, v) = (remote.clone(), token_a.clone(), v.clone());
            tokio::spawn(async move { remote.verify(&token, &v).await })
        })
        .collect();
    for task in burst {
        task.await.unwrap().unwrap();
    }
    assert_eq!(server.hits(), 1, "one fetch at a time; known kids come from the cache");

    // Key b is rotated in; a token signed with it right away is refused within the floor.
    server.serve(&[("a", &a), ("b", &b)]);
    let token_b = ed_token(&b, "Ed25519", "b", &claims(600));
    let err = remote.verify(&token_b, &v).await.unwrap_err();
    assert_eq!(err, JwtError::UnknownKey { alg: "Ed25519".into(), kid: Some("b".into()) });
    assert_eq!(server.hits(), 1, "no fetch within the floor of the last one");
    tokio::time::sleep(floor + Duration::from_millis(50)).await;
    remote.verify(&token_b, &v).await.unwrap();
    assert_eq!(server.hits(), 2);

    // A flood of forged kids, concurrent: at most one fetch per floor.
    tokio::time::sleep(floor + Duration::from_millis(50)).await;
    let flood: Vec<_> = (0..200)
        .map(|i| {
            let (remote, v) = (remote.clone(), v.clone());
            let token = ed_token(&b, "Ed25519", &format!("forged-{i}"), &claims(600));
            tokio::spawn(async move { remote.verify(&token, &v).await })
        })
        .collect();
    for task in flood {
        assert!(matches!(task.await.unwrap(), Err(JwtError::UnknownKey { .. })));
    }
    assert_eq!(server.hits(), 3);
    // The known keys kept working all along, from the cache.
    remote.verify(&token_a, &v).await.unwrap();
    assert_eq!(server.hits(), 3);
}

#[tokio::test]
async fn keys_are_fetched_again_when_old_and_kept_when_the_issuer_fails() {
    let server = KeyServer::start().await;
    let a = Ed25519KeyPair::generate().unwrap();
    server.serve(&[("a", &a)]);
    let remote = RemoteKeySet::new(http(), server.url.clone())
        .with_refetch_floor(Duration::ZERO)
        .with_max_key_age(Duration::from_millis(100));
    let token = ed_token(&a, "Ed25519", "a", &claims(600));
    remote.verify(&token, &validation()).await.unwrap();
    server.answer("500 Internal Server Error", "{}".into());
    tokio::time::sleep(Duration::from_millis(150)).await;
    remote.verify(&token, &validation()).await.unwrap();
    assert_eq!(server.hits(), 2, "fetched again once too old; the cached keys kept on failure");
}

#[tokio::test]
async fn unavailable_keys_are_not_a_token_error() {
    let server = KeyServer::start().await;
    let a = Ed25519KeyPair::generate().unwrap();
    let token = ed_token(&a, "Ed25519", "a", &claims(600));
    let remote = RemoteKeySet::new(http(), server.url.clone());

    server.answer("503 Service Unavailable", "{}".into());
    let err = remote.verify(&token, &validation()).await.unwrap_err();
    assert!(matches!(&err, JwtError::KeysUnavailable(m) if m.contains("503")), "{err}");
    assert!(!err.is_token_error());
    // Within the floor, no new attempt.
    let err = remote.verify(&token, &validation()).await.unwrap_err();
    assert!(err.to_string().contains("not trying again yet"), "{err}");
    assert_eq!(server.hits(), 1);

    for (status, body, needle) in [
        ("302 Found", String::new(), "redirects"),
        ("200 OK", " ".repeat(MAX_JWKS_BYTES + 1), "more than"),
        ("200 OK", "<html>".into(), "not a key set"),
    ] {
        server.answer(status, body);
        let remote = RemoteKeySet::new(http(), server.url.clone());
        let err = remote.verify(&token, &validation()).await.unwrap_err();
        assert!(matches!(&err, JwtError::KeysUnavailable(m) if m.contains(needle)), "{err}");
    }
    // A token that is not a JWT costs no fetch.
    let hits = server.hits();
    assert!(matches!(remote.verify("garbage", &validation()).await, Err(JwtError::Malformed(_))));
    assert_eq!(server.hits(), hits);
}
