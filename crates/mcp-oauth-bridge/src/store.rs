//! The little state replicas must share (DESIGN decision 8): used codes and refresh tokens,
//! rate-limit counters and pending logins. Everything else travels sealed with the client.
//!
//! [`MemoryStore`] serves one process; [`RedisStore`] lets several replicas behind one load
//! balancer share it. Every entry expires by itself.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::StoreError;

/// A store operation in progress.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A key-value store with expiry. TTLs beyond 100 years count as 100 years.
pub trait Store: Send + Sync + 'static {
    /// Sets `key` to `value` for `ttl`.
    fn put<'a>(&'a self, key: &'a str, value: Vec<u8>, ttl: Duration) -> StoreFuture<'a, ()>;
    /// The value of `key`, if set and not expired.
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>>;
    /// Removes `key`, returning its value: of two concurrent takers only one gets it.
    fn take<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>>;
    /// Marks `key` as used for `ttl`; `true` only for the first caller (single-use codes).
    fn claim<'a>(&'a self, key: &'a str, ttl: Duration) -> StoreFuture<'a, bool>;
    /// Adds one to the counter `key`, which starts at zero and resets `window` after its first
    /// increment; returns the new count (fixed-window rate limits).
    fn count<'a>(&'a self, key: &'a str, window: Duration) -> StoreFuture<'a, u64>;
    /// Whether the store answers (readiness).
    fn ping(&self) -> StoreFuture<'_, ()>;
}

/// The longest an entry lives: longer TTLs (up to `Duration::MAX`) are cut to it, so no deadline
/// overflows.
const MAX_TTL: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// One process's store: a map behind a mutex, swept of expired entries as it grows.
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    map: HashMap<String, (Vec<u8>, Instant)>,
    next_sweep: usize,
}

impl Entries {
    fn live(&mut self, key: &str, now: Instant) -> Option<&mut (Vec<u8>, Instant)> {
        if self.map.get(key).is_some_and(|(_, until)| *until <= now) {
            self.map.remove(key);
        }
        self.map.get_mut(key)
    }

    fn insert(&mut self, key: &str, value: Vec<u8>, until: Instant, now: Instant) {
        if self.map.len() >= self.next_sweep {
            self.map.retain(|_, (_, until)| *until > now);
            self.next_sweep = (self.map.len() * 2).max(1024);
        }
        self.map.insert(key.to_owned(), (value, until));
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Entries, Instant) -> T) -> T {
        let mut guard = match self.entries.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard, Instant::now())
    }
}

fn deadline(now: Instant, ttl: Duration) -> Instant {
    now + ttl.min(MAX_TTL)
}

fn ready<'a, T: Send + 'a>(value: T) -> StoreFuture<'a, T> {
    Box::pin(std::future::ready(Ok(value)))
}

impl Store for MemoryStore {
    fn put<'a>(&'a self, key: &'a str, value: Vec<u8>, ttl: Duration) -> StoreFuture<'a, ()> {
        self.with(|entries, now| entries.insert(key, value, deadline(now, ttl), now));
        ready(())
    }

    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
        ready(self.with(|entries, now| entries.live(key, now).map(|(v, _)| v.clone())))
    }

    fn take<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
        ready(self.with(|entries, now| {
            entries.live(key, now)?;
            entries.map.remove(key).map(|(v, _)| v)
        }))
    }

    fn claim<'a>(&'a self, key: &'a str, ttl: Duration) -> StoreFuture<'a, bool> {
        ready(self.with(|entries, now| {
            if entries.live(key, now).is_some() {
                return false;
            }
            entries.insert(key, Vec::new(), deadline(now, ttl), now);
            true
        }))
    }

    fn count<'a>(&'a self, key: &'a str, window: Duration) -> StoreFuture<'a, u64> {
        ready(self.with(|entries, now| {
            if let Some((value, _)) = entries.live(key, now) {
                let count = counter(value) + 1;
                *value = count.to_be_bytes().to_vec();
                return count;
            }
            entries.insert(key, 1u64.to_be_bytes().to_vec(), deadline(now, window), now);
            1
        }))
    }

    fn ping(&self) -> StoreFuture<'_, ()> {
        ready(())
    }
}

fn counter(bytes: &[u8]) -> u64 {
    bytes.try_into().map(u64::from_be_bytes).unwrap_or(0)
}

/// The store of a server: Redis at `redis_url` (keys under `prefix`) when several replicas share
/// state, else this process's memory.
pub async fn open_store(
    redis_url: Option<&str>,
    prefix: &str,
) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    match redis_url {
        #[cfg(feature = "redis")]
        Some(url) => Ok(std::sync::Arc::new(RedisStore::connect(url, prefix).await?)),
        #[cfg(not(feature = "redis"))]
        Some(_) => {
            let _ = prefix;
            Err(StoreError("this build has no Redis support (cargo feature `redis`)".into()))
        }
        None => Ok(std::sync::Arc::new(MemoryStore::new())),
    }
}

#[cfg(feature = "redis")]
mod redis_store;
#[cfg(feature = "redis")]
pub use redis_store::RedisStore;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn memory_store_claims_once_takes_once_and_forgets_in_time() {
        let store = MemoryStore::new();
        assert!(store.claim("code:1", Duration::from_secs(60)).await.unwrap());
        assert!(!store.claim("code:1", Duration::from_secs(60)).await.unwrap());

        store.put("login:a", b"x".to_vec(), Duration::from_secs(5)).await.unwrap();
        assert_eq!(store.get("login:a").await.unwrap(), Some(b"x".to_vec()));
        assert_eq!(store.take("login:a").await.unwrap(), Some(b"x".to_vec()));
        assert_eq!(store.take("login:a").await.unwrap(), None);

        assert_eq!(store.count("rate:ip", Duration::from_secs(60)).await.unwrap(), 1);
        assert_eq!(store.count("rate:ip", Duration::from_secs(60)).await.unwrap(), 2);
    }

    #[test]
    fn memory_store_entries_expire() {
        let store = MemoryStore::new();
        let now = Instant::now();
        store.with(|e, _| e.insert("k", b"v".to_vec(), now, now));
        assert!(store.with(|e, later| e.live("k", later).is_none()));
    }
}
