//! Rucio tokens and the on-disk token cache shared with the Python client.
//!
//! The cache files are the Python client's: `auth_token_for_account_<account>` holds the token on
//! one line; `auth_token_exp_for_account_<account>` the OIDC expiry in Unix seconds. A user's
//! existing `rucio` login is reused here, and ours is reused by `rucio`.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use crate::config::RucioConfig;

/// A Rucio auth token and, when the server said so, when it expires.
#[derive(Clone, Debug)]
pub struct AuthToken {
    pub(crate) value: SecretString,
    pub(crate) expires_at: Option<DateTime<Utc>>,
}

impl AuthToken {
    /// A token; without a known expiry, a JWT's `exp` claim is used (read, not verified: it only
    /// decides when to renew, never whether to trust).
    pub fn new(value: SecretString, expires_at: Option<DateTime<Utc>>) -> Self {
        let expires_at = expires_at.or_else(|| jwt_expiry(value.expose_secret()));
        Self { value, expires_at }
    }

    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.expires_at
    }

    pub fn secret(&self) -> &SecretString {
        &self.value
    }

    /// True when the token is known to expire within `margin`.
    pub(crate) fn expires_within(&self, margin: chrono::Duration) -> bool {
        self.expires_at.is_some_and(|at| at - margin <= Utc::now())
    }
}

/// The `exp` claim of a JWT, without verifying the signature.
pub(crate) fn jwt_expiry(token: &str) -> Option<DateTime<Utc>> {
    use base64::Engine;
    let mut parts = token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    DateTime::from_timestamp(claims.get("exp")?.as_i64()?, 0)
}

/// Parses `X-Rucio-Auth-Token-Expires`: Rucio sends RFC 1123 (`Sun, 22 Nov 2026 05:21:28 UTC`)
/// from userpass/x509 and Unix seconds from the OIDC refresh.
pub(crate) fn parse_expiry(raw: &str) -> Option<DateTime<Utc>> {
    let raw = raw.trim();
    if let Ok(secs) = raw.parse::<i64>() {
        return DateTime::from_timestamp(secs, 0);
    }
    crate::models::parse_rucio_time(raw).map(|naive| naive.and_utc())
}

/// The Python client's token cache files for one account and VO.
#[derive(Clone, Debug)]
pub(crate) struct TokenCache {
    file: PathBuf,
    expiry_file: PathBuf,
}

impl TokenCache {
    pub(crate) fn for_config(config: &RucioConfig) -> Self {
        Self { file: config.token_file(), expiry_file: config.token_expiry_file() }
    }

    pub(crate) fn read(&self) -> Option<AuthToken> {
        let text = std::fs::read_to_string(&self.file).ok()?;
        let token = text.lines().next()?.trim();
        if token.is_empty() {
            return None;
        }
        let expires_at =
            std::fs::read_to_string(&self.expiry_file).ok().and_then(|t| parse_expiry(&t));
        Some(AuthToken { value: SecretString::from(token.to_owned()), expires_at })
    }

    /// Writes the token atomically with mode 0600 in a 0700 directory, as the Python client does.
    /// A failure is logged, not returned: a read-only cache must not break the session.
    pub(crate) fn write(&self, token: &AuthToken, with_expiry: bool) {
        if let Err(e) = atomic_write(&self.file, token.value.expose_secret()) {
            tracing::warn!(file = %self.file.display(), error = %e, "cannot write the Rucio token cache");
            return;
        }
        if with_expiry
            && let Some(at) = token.expires_at
            && let Err(e) = atomic_write(&self.expiry_file, &at.timestamp().to_string())
        {
            tracing::warn!(file = %self.expiry_file.display(), error = %e, "cannot write the token expiry file");
        }
    }
}

fn atomic_write(path: &Path, content: &str) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("token"),
        std::process::id()
    ));
    {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(content.as_bytes())?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn jwt_exp_claim_is_read() {
        use base64::Engine;
        let enc = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let jwt =
            format!("{}.{}.sig", enc(r#"{"alg":"RS256"}"#), enc(r#"{"sub":"a","exp":1900000000}"#));
        assert_eq!(jwt_expiry(&jwt).unwrap().timestamp(), 1_900_000_000);
        assert_eq!(
            AuthToken::new(SecretString::from(jwt), None).expires_at.unwrap().timestamp(),
            1_900_000_000
        );
        assert!(jwt_expiry("root-ddmlab-unknown-abc").is_none());
        assert!(jwt_expiry("a.!!!.c").is_none());
    }

    #[test]
    fn expiry_formats() {
        assert_eq!(parse_expiry("1700000000").unwrap().timestamp(), 1_700_000_000);
        let t = parse_expiry("Sun, 22 Nov 2026 05:21:28 UTC").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-22T05:21:28+00:00");
        assert!(parse_expiry("soon").is_none());
    }

    #[test]
    fn cache_round_trip_with_private_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let cache =
            TokenCache { file: dir.path().join("d/tok"), expiry_file: dir.path().join("d/exp") };
        assert!(cache.read().is_none());
        let at = DateTime::from_timestamp(1_900_000_000, 0);
        cache.write(&AuthToken::new(SecretString::from("abc".to_owned()), at), true);
        let back = cache.read().unwrap();
        assert_eq!(back.value.expose_secret(), "abc");
        assert_eq!(back.expires_at, at);
        let mode = std::fs::metadata(dir.path().join("d/tok")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(dir.path().join("d/tok")).unwrap(), "abc");
    }
}
