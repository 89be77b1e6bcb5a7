//! What a resource server keeps per signed-in user (a backend client with its connections),
//! keyed by the upstream token the user's calls carry, so a session's calls reuse one value until
//! the token changes. Bounded: idle entries go first, then the least recently used.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use secrecy::ExposeSecret as _;

use crate::tokens::Identity;

/// How many entries a cache keeps at most.
pub const MAX_USERS: usize = 10_000;
/// An entry unused this long is dropped when room is needed.
pub const USER_IDLE: Duration = Duration::from_secs(3600);

/// Values per user token (cheap to clone; clones share the entries).
#[derive(Debug)]
pub struct PerUser<T> {
    entries: Arc<Mutex<HashMap<String, (T, Instant)>>>,
}

impl<T> Clone for PerUser<T> {
    fn clone(&self) -> Self {
        Self { entries: self.entries.clone() }
    }
}

impl<T> Default for PerUser<T> {
    fn default() -> Self {
        Self { entries: Arc::default() }
    }
}

impl<T: Clone> PerUser<T> {
    /// The value of `identity`'s token, made by `make` the first time; and how many are held.
    /// The token itself is not kept: entries are keyed by its hash.
    pub fn get_or_make<E>(
        &self,
        identity: &Identity,
        make: impl FnOnce() -> Result<T, E>,
    ) -> Result<(T, usize), E> {
        let key = crate::token_key(identity.upstream_token.expose_secret());
        let mut entries = match self.entries.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let now = Instant::now();
        if let Some((value, used)) = entries.get_mut(&key) {
            *used = now;
            return Ok((value.clone(), entries.len()));
        }
        let value = make()?;
        if entries.len() >= MAX_USERS {
            entries.retain(|_, (_, used)| now.duration_since(*used) < USER_IDLE);
            if entries.len() >= MAX_USERS
                && let Some(oldest) =
                    entries.iter().min_by_key(|(_, (_, used))| *used).map(|(k, _)| k.clone())
            {
                entries.remove(&oldest);
            }
        }
        entries.insert(key, (value.clone(), now));
        Ok((value, entries.len()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn identity(token: &str) -> Identity {
        Identity {
            subject: "alice".into(),
            site: "s".into(),
            client_id: "c".into(),
            upstream_token: token.to_owned().into(),
            upstream_expires_at: None,
            expires_at: 0,
        }
    }

    #[test]
    fn one_value_per_token() {
        let cache: PerUser<u32> = PerUser::default();
        let mut made = 0;
        let (a, n) = cache
            .get_or_make(&identity("t1"), || {
                made += 1;
                Ok::<_, ()>(1)
            })
            .unwrap();
        assert_eq!((a, n), (1, 1));
        let (a, _) = cache.get_or_make(&identity("t1"), || Ok::<_, ()>(99)).unwrap();
        assert_eq!(a, 1, "the same token reuses its value");
        let (b, n) = cache.get_or_make(&identity("t2"), || Ok::<_, ()>(2)).unwrap();
        assert_eq!((b, n), (2, 2));
        assert!(cache.get_or_make(&identity("t3"), || Err::<u32, _>("no")).is_err());
        assert_eq!(made, 1);
    }
}
