//! The `Store` contract, run against the in-memory store and a real Redis (the one
//! `cargo xtask rucio up` starts; its URL is `REDIS_URL` in the env file). Without that Redis the
//! Redis tests fail, naming the command; they never pass silently.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mcp_oauth_bridge::{MemoryStore, RedisStore, Store};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// `REDIS_URL` of the kit's env file.
fn redis_url() -> String {
    test_kit::Kit::load().get("REDIS_URL").to_owned()
}

async fn redis(prefix: &str) -> RedisStore {
    RedisStore::connect(&redis_url(), prefix).await.unwrap()
}

/// A prefix no other run or test uses, so tests share the kit's Redis without meeting.
fn unique(name: &str) -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("test-{name}-{}-{nanos}:", std::process::id())
}

const LONG: Duration = Duration::from_secs(60);

async fn contract(store: Arc<dyn Store>) {
    store.ping().await.unwrap();

    // put / get / take
    assert_eq!(store.get("missing").await.unwrap(), None);
    assert_eq!(store.take("missing").await.unwrap(), None);
    store.put("login:a", b"one".to_vec(), LONG).await.unwrap();
    assert_eq!(store.get("login:a").await.unwrap(), Some(b"one".to_vec()));
    assert_eq!(store.get("login:a").await.unwrap(), Some(b"one".to_vec()), "get does not remove");
    store.put("login:a", b"two".to_vec(), LONG).await.unwrap();
    assert_eq!(store.get("login:a").await.unwrap(), Some(b"two".to_vec()), "put replaces");
    assert_eq!(store.take("login:a").await.unwrap(), Some(b"two".to_vec()));
    assert_eq!(store.take("login:a").await.unwrap(), None);
    assert_eq!(store.get("login:a").await.unwrap(), None);
    let binary: Vec<u8> = (0..=255).collect();
    store.put("binary", binary.clone(), LONG).await.unwrap();
    assert_eq!(store.get("binary").await.unwrap(), Some(binary));
    store.put("empty", Vec::new(), LONG).await.unwrap();
    assert_eq!(store.get("empty").await.unwrap(), Some(Vec::new()));

    // claim: true only for the first caller
    assert!(store.claim("code:1", LONG).await.unwrap());
    assert!(!store.claim("code:1", LONG).await.unwrap());
    assert!(store.claim("code:2", LONG).await.unwrap(), "claims of other keys are independent");

    // count: a counter per key starting at zero
    assert_eq!(store.count("rate:x", LONG).await.unwrap(), 1);
    assert_eq!(store.count("rate:x", LONG).await.unwrap(), 2);
    assert_eq!(store.count("rate:x", LONG).await.unwrap(), 3);
    assert_eq!(store.count("rate:y", LONG).await.unwrap(), 1);

    // A TTL beyond any sensible lifetime is no error (and no panic).
    store.put("forever", b"v".to_vec(), Duration::MAX).await.unwrap();
    assert_eq!(store.take("forever").await.unwrap(), Some(b"v".to_vec()));
    assert!(store.claim("forever-claim", Duration::MAX).await.unwrap());
    assert_eq!(store.count("forever-count", Duration::MAX).await.unwrap(), 1);

    expiry(store.as_ref()).await;
    races(&store).await;
}

/// Everything expires by itself.
async fn expiry(store: &dyn Store) {
    let ttl = Duration::from_millis(300);
    store.put("short", b"v".to_vec(), ttl).await.unwrap();
    store.put("replaced", b"old".to_vec(), LONG).await.unwrap();
    store.put("replaced", b"new".to_vec(), ttl).await.unwrap();
    store.put("taken-late", b"v".to_vec(), ttl).await.unwrap();
    assert!(store.claim("short-claim", ttl).await.unwrap());
    assert_eq!(store.count("short-count", ttl).await.unwrap(), 1);
    assert_eq!(store.get("short").await.unwrap(), Some(b"v".to_vec()));
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(store.get("short").await.unwrap(), None);
    assert_eq!(store.get("replaced").await.unwrap(), None, "put sets a new TTL");
    assert_eq!(store.take("taken-late").await.unwrap(), None);
    assert!(store.claim("short-claim", ttl).await.unwrap(), "a claim is free again once expired");
    assert_eq!(store.count("short-count", ttl).await.unwrap(), 1, "a window starts again at zero");

    // The window is fixed: it runs from the first increment, later ones do not extend it.
    let window = Duration::from_millis(400);
    assert_eq!(store.count("window", window).await.unwrap(), 1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(store.count("window", window).await.unwrap(), 2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(store.count("window", window).await.unwrap(), 1);
}

/// Of 20 concurrent takers exactly one gets the value; of 20 concurrent claimers exactly one wins;
/// 20 concurrent increments count 20.
async fn races(store: &Arc<dyn Store>) {
    store.put("race", b"prize".to_vec(), LONG).await.unwrap();
    let start = Arc::new(tokio::sync::Barrier::new(20));
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (store, start) = (store.clone(), start.clone());
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let (took, claimed, count) = tokio::join!(
                store.take("race"),
                store.claim("race-claim", LONG),
                store.count("race-count", LONG)
            );
            (took.unwrap(), claimed.unwrap(), count.unwrap())
        }));
    }
    let (mut took, mut claimed, mut counts) = (Vec::new(), 0, Vec::new());
    for task in tasks {
        let (t, c, n) = task.await.unwrap();
        took.extend(t);
        claimed += usize::from(c);
        counts.push(n);
    }
    assert_eq!(took, vec![b"prize".to_vec()], "exactly one taker gets the value");
    assert_eq!(claimed, 1, "exactly one claimer wins");
    counts.sort_unstable();
    assert_eq!(counts, (1..=20).collect::<Vec<u64>>(), "every increment counts once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
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
    a.put("k", b"a".to_vec(), LONG).await.unwrap();
    assert_eq!(b.get("k").await.unwrap(), None);
    assert_eq!(b.take("k").await.unwrap(), None);
    assert!(b.claim("k", LONG).await.unwrap());
    assert!(a.claim("c", LONG).await.unwrap());
    assert!(b.claim("c", LONG).await.unwrap());
    assert_eq!(a.count("n", LONG).await.unwrap(), 1);
    assert_eq!(b.count("n", LONG).await.unwrap(), 1);
    assert_eq!(a.take("k").await.unwrap(), Some(b"a".to_vec()), "b's calls left a's key alone");

    // Two stores with the same prefix (two replicas) do share.
    let prefix = unique("shared");
    let (one, two) = (redis(&prefix).await, redis(&prefix).await);
    one.put("k", b"v".to_vec(), LONG).await.unwrap();
    assert_eq!(two.take("k").await.unwrap(), Some(b"v".to_vec()));
    assert_eq!(one.get("k").await.unwrap(), None);
}

#[tokio::test]
async fn an_unreachable_redis_is_a_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let started = Instant::now();
    let error = RedisStore::connect(&format!("redis://:hunter2@127.0.0.1:{port}/0"), "x:")
        .await
        .unwrap_err()
        .to_string();
    let elapsed = started.elapsed();
    assert!(error.contains("cannot connect to Redis"), "{error}");
    assert!(!error.contains("hunter2") && !error.contains(&port.to_string()), "{error}");
    assert!(elapsed < Duration::from_secs(12), "took {elapsed:?} to give up");
    let error = RedisStore::connect("not a url", "x:").await.unwrap_err();
    assert!(error.to_string().contains("not valid"), "{error}");
}

/// A loopback TCP relay in front of the kit's real Redis that can be cut and restored: what a
/// replica sees when Redis restarts or the network between them fails.
struct Relay {
    port: u16,
    up: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<AbortHandle>>>,
    accept: AbortHandle,
}

impl Relay {
    async fn start(redis_url: &str) -> Self {
        let url = url::Url::parse(redis_url).unwrap();
        let target = (url.host_str().unwrap().to_owned(), url.port().unwrap_or(6379));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let links = Arc::new(Mutex::new(Vec::<AbortHandle>::new()));
        let (up2, links2) = (up.clone(), links.clone());
        let accept = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else { continue };
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: the connection closes at once
                }
                let target = target.clone();
                let link = tokio::spawn(async move {
                    let mut outbound = TcpStream::connect(target).await?;
                    tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await
                });
                links2.lock().unwrap().push(link.abort_handle());
            }
        });
        Self { port, up, links, accept: accept.abort_handle() }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_fails_fast_while_redis_is_away_and_recovers() {
    let relay = Relay::start(&redis_url()).await;
    let store = RedisStore::connect(&relay.url(), unique("relay")).await.unwrap();
    store.put("k", b"v".to_vec(), LONG).await.unwrap();

    relay.cut();
    for call in 0..3 {
        let started = Instant::now();
        let outcome = tokio::time::timeout(Duration::from_secs(30), store.get("k")).await;
        let elapsed = started.elapsed();
        let error = match outcome {
            Err(_) => panic!("call {call} hung for 30 s while Redis was away"),
            Ok(Ok(value)) => panic!("call {call} succeeded while Redis was away: {value:?}"),
            Ok(Err(error)) => error.to_string(),
        };
        assert!(error.contains("Redis"), "{error}");
        assert!(elapsed < Duration::from_secs(8), "call {call} took {elapsed:?} to fail: {error}");
    }
    let started = Instant::now();
    assert!(store.ping().await.is_err());
    assert!(started.elapsed() < Duration::from_secs(8), "ping took {:?}", started.elapsed());

    relay.restore();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match tokio::time::timeout(Duration::from_secs(30), store.get("k")).await {
            Ok(Ok(value)) => {
                assert_eq!(value, Some(b"v".to_vec()));
                break;
            }
            outcome if Instant::now() > deadline => {
                panic!("the store did not recover within 15 s after Redis came back: {outcome:?}")
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    store.ping().await.unwrap();
}
