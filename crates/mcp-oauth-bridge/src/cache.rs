//! Bearers that passed a check, remembered for a while so the same bearer (an agent sends it with
//! every request) costs a look-up instead of a signature check or a round trip to the issuer.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::tokens::{Identity, now};

/// The most tokens remembered; when full, the stale go, then all.
const MAX_ENTRIES: usize = 10_000;

/// Verdicts by SHA-256 of the token (the token itself is never a key), each kept at most `ttl`
/// and never past the identity's expiry. Only positive verdicts go in: a refusal is checked
/// again next time.
pub(crate) struct VerifiedTokens {
    ttl: Duration,
    entries: Mutex<HashMap<[u8; 32], (Identity, Instant)>>,
}

impl VerifiedTokens {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self { ttl, entries: Mutex::default() }
    }

    pub(crate) fn key(token: &str) -> [u8; 32] {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
        let mut key = [0u8; 32];
        key.copy_from_slice(digest.as_ref());
        key
    }

    pub(crate) fn get(&self, key: &[u8; 32]) -> Option<Identity> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (identity, checked) = entries.get(key)?;
        (checked.elapsed() < self.ttl && identity.expires_at > now()).then(|| identity.clone())
    }

    pub(crate) fn put(&self, key: [u8; 32], identity: &Identity) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            let now = now();
            let ttl = self.ttl;
            entries.retain(|_, (id, checked)| checked.elapsed() < ttl && id.expires_at > now);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, (identity.clone(), Instant::now()));
    }
}
