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

/// A Redis (or Valkey) server shared by the replicas. Keys carry a prefix, so one Redis can serve
/// several deployments.
#[derive(Clone)]
pub struct RedisStore {
    connection: redis::aio::ConnectionManager,
    prefix: String,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

fn redis_error(e: &redis::RedisError) -> StoreError {
    // The URL (and any password in it) is never part of the message.
    StoreError(format!("Redis: {}", e.kind_description()))
}

trait KindDescription {
    fn kind_description(&self) -> String;
}

impl KindDescription for redis::RedisError {
    fn kind_description(&self) -> String {
        if self.is_io_error() || self.is_connection_dropped() || self.is_connection_refusal() {
            "not reachable".to_owned()
        } else if self.is_timeout() {
            "timed out".to_owned()
        } else {
            format!("{:?}", self.kind())
        }
    }
}

/// The longest a store call (or the connection attempt of `connect`, or one reconnection
/// attempt) waits for Redis.
const REDIS_TIMEOUT: Duration = Duration::from_secs(5);
/// The pause between reconnection attempts, at most. Without it redis 0.32's backoff (a 1 s base
/// times the "factor" 100, capped at 60 s) leaves a replica waiting up to two minutes after a
/// Redis restart before it reconnects.
const REDIS_RETRY_MAX_DELAY_MS: u64 = 500;

/// The store of a server: Redis at `redis_url` (keys under `prefix`) when several replicas share
/// state, else this process's memory.
pub async fn open_store(
    redis_url: Option<&str>,
    prefix: &str,
) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    Ok(match redis_url {
        Some(url) => std::sync::Arc::new(RedisStore::connect(url, prefix).await?),
        None => std::sync::Arc::new(MemoryStore::new()),
    })
}

impl RedisStore {
    /// Connects to `url` (`redis://[:password@]host:port/db`, or `rediss://` for TLS).
    pub async fn connect(url: &str, prefix: impl Into<String>) -> Result<Self, StoreError> {
        let client = redis::Client::open(url)
            .map_err(|_| StoreError("the Redis URL is not valid (redis://host:port/db)".into()))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(REDIS_TIMEOUT)
            .set_response_timeout(REDIS_TIMEOUT)
            .set_number_of_retries(2)
            .set_max_delay(REDIS_RETRY_MAX_DELAY_MS);
        let connection = tokio::time::timeout(
            REDIS_TIMEOUT * 2,
            redis::aio::ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_| {
            StoreError("cannot connect to Redis (timed out): is it running at that URL?".into())
        })?
        .map_err(|e| {
            StoreError(format!(
                "cannot connect to Redis ({}): is it running at that URL?",
                e.kind_description()
            ))
        })?;
        Ok(Self { connection, prefix: prefix.into() })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    async fn query<T: redis::FromRedisValue>(&self, cmd: redis::Cmd) -> Result<T, StoreError> {
        let mut connection = self.connection.clone();
        bounded(cmd.query_async(&mut connection)).await
    }
}

/// A Redis call, given up after `REDIS_TIMEOUT`: while Redis is away a call waits for the
/// manager's reconnection, which the manager's own timeouts do not bound.
async fn bounded<T>(call: impl Future<Output = redis::RedisResult<T>>) -> Result<T, StoreError> {
    match tokio::time::timeout(REDIS_TIMEOUT, call).await {
        Ok(result) => result.map_err(|e| redis_error(&e)),
        Err(_) => Err(StoreError("Redis: timed out".into())),
    }
}

/// A TTL in milliseconds for `PX`: at least 1 (Redis refuses 0), at most `MAX_TTL` (Redis refuses
/// expiry times that overflow).
fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.min(MAX_TTL).as_millis()).unwrap_or(u64::MAX).max(1)
}

impl Store for RedisStore {
    fn put<'a>(&'a self, key: &'a str, value: Vec<u8>, ttl: Duration) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut cmd = redis::cmd("SET");
            cmd.arg(self.key(key)).arg(value).arg("PX").arg(millis(ttl));
            self.query::<()>(cmd).await
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            let mut cmd = redis::cmd("GET");
            cmd.arg(self.key(key));
            self.query(cmd).await
        })
    }

    fn take<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            let mut cmd = redis::cmd("GETDEL");
            cmd.arg(self.key(key));
            self.query(cmd).await
        })
    }

    fn claim<'a>(&'a self, key: &'a str, ttl: Duration) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let mut cmd = redis::cmd("SET");
            cmd.arg(self.key(key)).arg(1).arg("NX").arg("PX").arg(millis(ttl));
            let set: Option<String> = self.query(cmd).await?;
            Ok(set.is_some())
        })
    }

    fn count<'a>(&'a self, key: &'a str, window: Duration) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            let key = self.key(key);
            let mut pipe = redis::pipe();
            pipe.atomic()
                .cmd("INCR")
                .arg(&key)
                .cmd("PEXPIRE")
                .arg(&key)
                .arg(millis(window))
                .arg("NX")
                .ignore();
            let mut connection = self.connection.clone();
            let (count,): (u64,) = bounded(pipe.query_async(&mut connection)).await?;
            Ok(count)
        })
    }

    fn ping(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move { self.query::<String>(redis::cmd("PING")).await.map(|_| ()) })
    }
}

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
