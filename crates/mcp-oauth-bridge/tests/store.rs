//! The `Store` contract, run against the in-memory store and a real Redis (the one
//! `cargo xtask rucio up` starts; its URL is `REDIS_URL` in the env file).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use mcp_oauth_bridge::{MemoryStore, RedisStore, Store};

async fn redis(prefix: &str) -> RedisStore {
    let kit = test_kit::Kit::load();
    RedisStore::connect(kit.get("REDIS_URL"), prefix).await.unwrap()
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}-{:?}:", std::process::id(), std::time::SystemTime::now())
}

async fn contract(store: Arc<dyn Store>) {
    store.ping().await.unwrap();
    assert_eq!(store.get("missing").await.unwrap(), None);
    store.put("login:a", b"one".to_vec(), Duration::from_secs(30)).await.unwrap();
    assert_eq!(store.get("login:a").await.unwrap(), Some(b"one".to_vec()));
    assert_eq!(store.take("login:a").await.unwrap(), Some(b"one".to_vec()));
    assert_eq!(store.take("login:a").await.unwrap(), None);
    assert!(store.claim("code:1", Duration::from_secs(30)).await.unwrap());
    assert!(!store.claim("code:1", Duration::from_secs(30)).await.unwrap());
    assert_eq!(store.count("rate:x", Duration::from_secs(30)).await.unwrap(), 1);
    assert_eq!(store.count("rate:x", Duration::from_secs(30)).await.unwrap(), 2);

    // Everything expires by itself.
    store.put("short", b"v".to_vec(), Duration::from_millis(300)).await.unwrap();
    assert!(store.claim("short-claim", Duration::from_millis(300)).await.unwrap());
    assert_eq!(store.count("short-count", Duration::from_millis(300)).await.unwrap(), 1);
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(store.get("short").await.unwrap(), None);
    assert!(store.claim("short-claim", Duration::from_millis(300)).await.unwrap());
    assert_eq!(store.count("short-count", Duration::from_millis(300)).await.unwrap(), 1);

    // Of many concurrent takers and claimers, exactly one wins.
    store.put("race", b"prize".to_vec(), Duration::from_secs(30)).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let took = store.take("race").await.unwrap().is_some();
            let claimed = store.claim("race-claim", Duration::from_secs(30)).await.unwrap();
            (took, claimed)
        }));
    }
    let mut took = 0;
    let mut claimed = 0;
    for task in tasks {
        let (t, c) = task.await.unwrap();
        took += usize::from(t);
        claimed += usize::from(c);
    }
    assert_eq!((took, claimed), (1, 1));
}

#[tokio::test]
async fn memory_store_keeps_the_contract() {
    contract(Arc::new(MemoryStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_store_keeps_the_contract() {
    contract(Arc::new(redis(&unique("contract")).await)).await;
}

#[tokio::test]
async fn redis_prefixes_keep_deployments_apart() {
    let a = redis(&unique("a")).await;
    let b = redis(&unique("b")).await;
    a.put("k", b"a".to_vec(), Duration::from_secs(30)).await.unwrap();
    assert_eq!(b.get("k").await.unwrap(), None);
    assert!(b.claim("k", Duration::from_secs(30)).await.unwrap());
}

#[tokio::test]
async fn an_unreachable_redis_is_a_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let started = std::time::Instant::now();
    let error =
        RedisStore::connect(&format!("redis://127.0.0.1:{port}/0"), "x:").await.unwrap_err();
    assert!(error.to_string().contains("cannot connect to Redis"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(15));
    let error = RedisStore::connect("not a url", "x:").await.unwrap_err();
    assert!(error.to_string().contains("not valid"), "{error}");
}
