//! The Redis (or Valkey) store of several replicas (cargo feature `redis`).

use std::future::Future;
use std::time::Duration;

use super::{MAX_TTL, Store, StoreFuture};
use crate::error::StoreError;

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
