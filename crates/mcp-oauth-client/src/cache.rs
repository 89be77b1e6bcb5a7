//! The token cache: one JSON file per (issuer, client, resource) in a 0700 directory, each file
//! 0600 and replaced atomically (written beside, then renamed), so a crash never leaves half a
//! token and no other user of the machine can read one. Clients registered dynamically are kept
//! the same way, per (issuer, redirect URI).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::discovery::ServerMetadata;
use crate::error::OAuthError;

/// Where the tokens of one user live.
#[derive(Clone, Debug)]
pub struct TokenCache {
    dir: PathBuf,
}

/// The tokens of one (issuer, client, resource).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TokenEntry {
    pub issuer: String,
    pub client_id: String,
    pub resource: String,
    /// The MCP URL the tokens were obtained for (a cached token is found by it).
    pub backend: String,
    /// The authorization server's metadata, so a refresh needs no discovery.
    pub server: ServerMetadata,
    #[serde(with = "secret")]
    pub access_token: SecretString,
    #[serde(default, with = "secret_option", skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<SecretString>,
    /// Unix seconds; `None` when the server said nothing.
    #[serde(default)]
    pub expires_at: Option<u64>,
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// A client the proxy registered itself (RFC 7591).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Registration {
    pub issuer: String,
    pub redirect_uri: String,
    pub client_id: String,
    #[serde(default, with = "secret_option", skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<SecretString>,
}

impl TokenCache {
    /// The cache under `dir` (created 0700 when first written).
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// The user's config dir (`$XDG_CONFIG_HOME`, `~/.config`, `~/Library/Application Support`).
    pub fn default_dir() -> Option<PathBuf> {
        dirs::config_dir().map(|d| d.join("mcp-auth-proxy"))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of an entry's file (tests check its mode).
    pub fn token_path(&self, issuer: &str, client_id: &str, resource: &str) -> PathBuf {
        self.dir.join("tokens").join(format!("{}.json", key(&[issuer, client_id, resource])))
    }

    pub fn load(&self, issuer: &str, client_id: &str, resource: &str) -> Option<TokenEntry> {
        read_json(&self.token_path(issuer, client_id, resource))
    }

    /// The newest entry for `backend`, narrowed by issuer and client when they are known.
    pub fn find(
        &self,
        backend: &str,
        issuer: Option<&str>,
        client_id: Option<&str>,
    ) -> Option<TokenEntry> {
        let mut best: Option<(SystemTime, TokenEntry)> = None;
        for file in std::fs::read_dir(self.dir.join("tokens")).ok()?.flatten() {
            let Some(entry) = read_json::<TokenEntry>(&file.path()) else { continue };
            let fits = entry.backend == backend
                && issuer.is_none_or(|i| same_url(i, &entry.issuer))
                && client_id.is_none_or(|c| c == entry.client_id);
            if !fits {
                continue;
            }
            let written = file.metadata().and_then(|m| m.modified()).unwrap_or(UNIX_EPOCH);
            if best.as_ref().is_none_or(|(t, _)| written > *t) {
                best = Some((written, entry));
            }
        }
        best.map(|(_, e)| e)
    }

    pub fn store(&self, entry: &TokenEntry) -> Result<(), OAuthError> {
        let path = self.token_path(&entry.issuer, &entry.client_id, &entry.resource);
        write_private(&path, &serde_json::to_vec_pretty(entry).map_err(cache_error)?)
    }

    /// Forgets every entry for `backend`; the entries removed are returned (to revoke them).
    pub fn remove_for(&self, backend: &str) -> Vec<TokenEntry> {
        let mut removed = Vec::new();
        let Ok(files) = std::fs::read_dir(self.dir.join("tokens")) else { return removed };
        for file in files.flatten() {
            if let Some(entry) =
                read_json::<TokenEntry>(&file.path()).filter(|e| e.backend == backend)
                && std::fs::remove_file(file.path()).is_ok()
            {
                removed.push(entry);
            }
        }
        removed
    }

    pub fn remove(&self, entry: &TokenEntry) {
        let _ =
            std::fs::remove_file(self.token_path(&entry.issuer, &entry.client_id, &entry.resource));
    }

    fn registration_path(&self, issuer: &str, redirect_uri: &str) -> PathBuf {
        self.dir.join("clients").join(format!("{}.json", key(&[issuer, redirect_uri])))
    }

    pub fn registration(&self, issuer: &str, redirect_uri: &str) -> Option<Registration> {
        read_json(&self.registration_path(issuer, redirect_uri))
    }

    pub fn store_registration(&self, registration: &Registration) -> Result<(), OAuthError> {
        let path = self.registration_path(&registration.issuer, &registration.redirect_uri);
        write_private(&path, &serde_json::to_vec_pretty(registration).map_err(cache_error)?)
    }

    pub fn remove_registration(&self, issuer: &str, redirect_uri: &str) {
        let _ = std::fs::remove_file(self.registration_path(issuer, redirect_uri));
    }
}

impl TokenEntry {
    /// Seconds the access token has left (`None`: unknown).
    pub fn remaining(&self) -> Option<i64> {
        self.expires_at.map(|t| t as i64 - now() as i64)
    }
}

pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// A file name that says nothing of its contents: SHA-256 of the parts.
fn key(parts: &[&str]) -> String {
    let mut digest = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for part in parts {
        digest.update(part.trim_end_matches('/').as_bytes());
        digest.update(&[0]);
    }
    digest.finish().as_ref()[..16].iter().map(|b| format!("{b:02x}")).collect()
}

fn same_url(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    let bytes = std::fs::read(path).ok()?;
    match serde_json::from_slice(&bytes) {
        Ok(value) => Some(value),
        Err(_) => {
            tracing::warn!("ignoring the unreadable cache file {}", path.display());
            None
        }
    }
}

/// Writes `bytes` to `path` atomically, the file 0600 and its directories 0700.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), OAuthError> {
    let dir = path.parent().ok_or_else(|| OAuthError::Cache("no directory".into()))?;
    private_dir(dir)?;
    if let Some(top) = dir.parent() {
        private_dir(top)?;
    }
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(cache_error)?;
    restrict(file.path(), 0o600)?;
    file.write_all(bytes).map_err(cache_error)?;
    file.as_file().sync_all().map_err(cache_error)?;
    file.persist(path).map_err(|e| cache_error(e.error))?;
    Ok(())
}

fn private_dir(dir: &Path) -> Result<(), OAuthError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(cache_error)?;
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir).map_err(cache_error)?;
    restrict(dir, 0o700)
}

fn restrict(path: &Path, mode: u32) -> Result<(), OAuthError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(cache_error)?;
    }
    let _ = (path, mode);
    Ok(())
}

fn cache_error(e: impl std::fmt::Display) -> OAuthError {
    OAuthError::Cache(e.to_string())
}

mod secret {
    use super::*;

    pub fn serialize<S: serde::Serializer>(value: &SecretString, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(value.expose_secret())
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SecretString, D::Error> {
        String::deserialize(d).map(SecretString::from)
    }
}

mod secret_option {
    use super::*;

    pub fn serialize<S: serde::Serializer>(
        value: &Option<SecretString>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => s.serialize_some(v.expose_secret()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<SecretString>, D::Error> {
        Option::<String>::deserialize(d).map(|v| v.map(SecretString::from))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn entry(backend: &str) -> TokenEntry {
        TokenEntry {
            issuer: "https://as.example".into(),
            client_id: "c".into(),
            resource: backend.into(),
            backend: backend.into(),
            server: ServerMetadata {
                issuer: "https://as.example".into(),
                authorization_endpoint: Some("https://as.example/auth".into()),
                token_endpoint: "https://as.example/token".into(),
                registration_endpoint: None,
                device_authorization_endpoint: None,
                revocation_endpoint: None,
                scopes_supported: vec![],
                grant_types_supported: vec![],
                code_challenge_methods_supported: vec![],
                token_endpoint_auth_methods_supported: vec![],
                authorization_response_iss_parameter_supported: true,
                client_id_metadata_document_supported: false,
            },
            access_token: SecretString::from("at"),
            refresh_token: Some(SecretString::from("rt")),
            expires_at: Some(now() + 60),
            scopes: vec!["mcp".into()],
        }
    }

    #[cfg(unix)]
    #[test]
    fn entries_are_private_and_found_by_backend() {
        use std::os::unix::fs::PermissionsExt as _;
        let home = tempfile::tempdir().unwrap();
        let cache = TokenCache::new(home.path().join("mcp-auth-proxy"));
        cache.store(&entry("https://mcp.example/mcp")).unwrap();
        let path = cache.token_path("https://as.example/", "c", "https://mcp.example/mcp");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        for dir in [cache.dir().to_path_buf(), cache.dir().join("tokens")] {
            assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
        }
        let found = cache.find("https://mcp.example/mcp", None, None).unwrap();
        assert_eq!(found.refresh_token.unwrap().expose_secret(), "rt");
        assert!(cache.find("https://mcp.example/mcp", None, Some("other")).is_none());
        assert!(cache.find("https://other.example/mcp", None, None).is_none());
        assert_eq!(cache.remove_for("https://mcp.example/mcp").len(), 1);
        assert!(cache.load("https://as.example", "c", "https://mcp.example/mcp").is_none());
    }
}
