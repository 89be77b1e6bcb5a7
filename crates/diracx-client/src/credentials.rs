//! The DiracX CLI's credentials file (`$DIRACX_CREDENTIALS_PATH`, else
//! `~/.cache/diracx/credentials.json`), read and written the way `dirac login` and the DiracX
//! Python client do, so that they and this crate share one login: the same JSON
//! (`access_token`, `refresh_token`, `expires_on`), the same `flock(2)` locks (shared to read,
//! exclusive to write or to refresh), mode 0600.
//!
//! Sharing matters because DiracX rotates refresh tokens and revokes all of a user's refresh
//! tokens when a used one comes back: two programs refreshing from the same file without the
//! lock would log the user out. Hence [`FileTokenSource`] refreshes only under the exclusive
//! lock, after re-reading the file.

use std::ffi::OsString;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::auth::{AuthError, LOGIN_HINT, TokenSource};
use crate::jwt::{decode_unverified, unix_now};
use crate::oidc::{self, DEFAULT_CLIENT_ID, Discovery, TokenResponse};

/// The variable that moves the credentials file, as the DiracX CLI reads it.
pub const CREDENTIALS_PATH_VAR: &str = "DIRACX_CREDENTIALS_PATH";
/// An access token with this many seconds left or fewer is refreshed (the CLI's rule).
pub const REFRESH_MARGIN_SECS: i64 = 300;
/// `expires_on` is written this many seconds before the real expiry (the CLI's
/// `EXPIRES_GRACE_SECONDS`).
pub const EXPIRES_GRACE_SECS: i64 = 15;

/// `dirac login` truncates the file before it takes the lock, so a reader can find it empty
/// for a moment: such a read is tried again this many times, this far apart.
const EMPTY_READ_RETRIES: u32 = 20;
const EMPTY_READ_PAUSE: Duration = Duration::from_millis(50);

/// The content of the credentials file.
#[derive(Clone)]
pub struct Credentials {
    pub access_token: SecretString,
    /// `null` in the file when the grant gave none.
    pub refresh_token: Option<SecretString>,
    /// Unix seconds after which the access token is taken as expired (already
    /// [`EXPIRES_GRACE_SECS`] before its real `exp`).
    pub expires_on: i64,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_token", &"<redacted>")
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "<redacted>"))
            .field("expires_on", &self.expires_on)
            .finish()
    }
}

#[derive(Deserialize)]
struct OnDiskIn {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(deserialize_with = "required_seconds")]
    expires_on: i64,
}

#[derive(Serialize)]
struct OnDiskOut<'a> {
    access_token: &'a str,
    refresh_token: Option<&'a str>,
    expires_on: i64,
}

impl Credentials {
    /// What `dirac login` stores for a token response received now: `expires_on` is now plus
    /// `expires_in` minus [`EXPIRES_GRACE_SECS`].
    pub fn from_response(tokens: &TokenResponse) -> Self {
        Self {
            access_token: tokens.access_token.clone(),
            refresh_token: tokens.refresh_token.clone(),
            expires_on: unix_now().saturating_add(tokens.expires_in) - EXPIRES_GRACE_SECS,
        }
    }

    /// Seconds until `expires_on` (negative once past).
    pub fn seconds_left(&self) -> i64 {
        self.expires_on - unix_now()
    }

    /// Whether the access token is used as it is: more than [`REFRESH_MARGIN_SECS`] left.
    pub fn is_fresh(&self) -> bool {
        self.seconds_left() > REFRESH_MARGIN_SECS
    }

    /// Whether the refresh token is worth sending: its `exp`, read without verification as the
    /// CLI does, is still ahead.
    pub fn refresh_token_valid(&self) -> bool {
        self.refresh_token
            .as_ref()
            .and_then(|t| decode_unverified(t.expose_secret()).ok())
            .is_some_and(|claims| claims.exp > unix_now())
    }

    fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(&OnDiskOut {
            access_token: self.access_token.expose_secret(),
            refresh_token: self.refresh_token.as_ref().map(|t| t.expose_secret()),
            expires_on: self.expires_on,
        })
    }

    fn parse(text: &str, path: &Path) -> Result<Self, AuthError> {
        // Serde's messages can quote a value (a token): only say where the JSON went wrong.
        let raw: OnDiskIn = serde_json::from_str(text).map_err(|e| AuthError::CredentialsFile {
            path: path.display().to_string(),
            reason: format!(
                "not the JSON `dirac login` writes ({:?} error at line {}, column {}); {LOGIN_HINT}",
                e.classify(),
                e.line(),
                e.column()
            ),
        })?;
        Ok(Self {
            access_token: SecretString::from(raw.access_token),
            refresh_token: raw.refresh_token.filter(|t| !t.is_empty()).map(SecretString::from),
            expires_on: raw.expires_on,
        })
    }
}

/// Where the credentials file is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialsFile {
    path: PathBuf,
}

impl CredentialsFile {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Where the DiracX CLI looks: `DIRACX_CREDENTIALS_PATH`, else
    /// `$HOME/.cache/diracx/credentials.json`.
    pub fn from_env() -> Result<Self, AuthError> {
        Self::from_values(std::env::var_os(CREDENTIALS_PATH_VAR), std::env::home_dir())
    }

    fn from_values(explicit: Option<OsString>, home: Option<PathBuf>) -> Result<Self, AuthError> {
        if let Some(path) = explicit.filter(|p| !p.is_empty()) {
            return Ok(Self::new(path));
        }
        let home = home.filter(|h| !h.as_os_str().is_empty()).ok_or_else(|| {
            AuthError::NotLoggedIn(format!(
                "no home directory to find the credentials file in; set {CREDENTIALS_PATH_VAR}"
            ))
        })?;
        Ok(Self::new(home.join(".cache").join("diracx").join("credentials.json")))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn exists(&self) -> bool {
        self.path.exists()
    }

    /// Reads the file under a shared lock. A missing file is [`AuthError::NotLoggedIn`].
    pub async fn read(&self) -> Result<Credentials, AuthError> {
        let path = self.path.clone();
        blocking(&self.path, move || read_shared(&path)).await
    }

    /// Stores a token response as `dirac login` does (creating the directory, mode 0600,
    /// exclusive lock, fsync) and returns what was stored.
    pub async fn write(&self, tokens: &TokenResponse) -> Result<Credentials, AuthError> {
        let credentials = Credentials::from_response(tokens);
        self.write_credentials(&credentials).await?;
        Ok(credentials)
    }

    /// Stores `credentials` as they are.
    pub async fn write_credentials(&self, credentials: &Credentials) -> Result<(), AuthError> {
        let path = self.path.clone();
        let credentials = credentials.clone();
        blocking(&self.path, move || write_new(&path, &credentials)).await
    }
}

/// The credentials file, opened read-write and held under the exclusive lock until dropped
/// (closing the file releases the `flock`).
struct Locked {
    file: File,
    path: PathBuf,
}

impl Locked {
    /// Replaces the content in place, under the lock, as the CLI's refresh does: the lock is on
    /// the file itself, so a rename would escape it.
    fn replace(&mut self, credentials: &Credentials) -> Result<(), AuthError> {
        let json = credentials
            .to_json()
            .map_err(|e| file_error(&self.path, &io::Error::other(e.to_string())))?;
        let file = &mut self.file;
        let written = file
            .seek(SeekFrom::Start(0))
            .and_then(|_| file.set_len(0))
            .and_then(|()| file.write_all(json.as_bytes()))
            .and_then(|()| file.flush())
            .and_then(|()| file.sync_all());
        written.map_err(|e| file_error(&self.path, &e))
    }
}

fn read_shared(path: &Path) -> Result<Credentials, AuthError> {
    let mut attempt = 0;
    loop {
        let mut file = File::open(path).map_err(|e| open_error(path, &e))?;
        file.lock_shared().map_err(|e| file_error(path, &e))?;
        let mut text = String::new();
        let read = file.read_to_string(&mut text);
        // Closing releases the lock too; unlocking first keeps the window short.
        let _ = file.unlock();
        read.map_err(|e| file_error(path, &e))?;
        if text.trim().is_empty() && attempt < EMPTY_READ_RETRIES {
            attempt += 1;
            std::thread::sleep(EMPTY_READ_PAUSE);
            continue;
        }
        return Credentials::parse(&text, path);
    }
}

/// Opens the file read-write, takes the exclusive lock (waiting for any other holder, such as a
/// `dirac` command refreshing), and reads it.
fn lock_exclusive(path: &Path) -> Result<(Locked, Credentials), AuthError> {
    let mut attempt = 0;
    loop {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| open_error(path, &e))?;
        file.lock().map_err(|e| file_error(path, &e))?;
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(|e| file_error(path, &e))?;
        if text.trim().is_empty() && attempt < EMPTY_READ_RETRIES {
            drop(file);
            attempt += 1;
            std::thread::sleep(EMPTY_READ_PAUSE);
            continue;
        }
        let credentials = Credentials::parse(&text, path)?;
        return Ok((Locked { file, path: path.to_owned() }, credentials));
    }
}

fn write_new(path: &Path, credentials: &Credentials) -> Result<(), AuthError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        let mut dirs = std::fs::DirBuilder::new();
        dirs.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut dirs, 0o700);
        dirs.create(parent).map_err(|e| file_error(parent, &e))?;
    }
    let mut options = OpenOptions::new();
    // Not truncated on open (the CLI does, before its lock): only under the lock, below.
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path).map_err(|e| file_error(path, &e))?;
    file.lock().map_err(|e| file_error(path, &e))?;
    // A file made earlier by something else may be readable by others: tokens are not.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| file_error(path, &e))?;
    }
    Locked { file, path: path.to_owned() }.replace(credentials)
}

fn open_error(path: &Path, e: &io::Error) -> AuthError {
    if e.kind() == io::ErrorKind::NotFound {
        AuthError::NotLoggedIn(format!(
            "no credentials file at {}: run `dirac login <vo>` or `dirac-mcp login`",
            path.display()
        ))
    } else {
        file_error(path, e)
    }
}

fn file_error(path: &Path, e: &io::Error) -> AuthError {
    AuthError::CredentialsFile { path: path.display().to_string(), reason: e.to_string() }
}

/// Runs file IO (which may wait for another process's lock) off the async threads.
async fn blocking<T: Send + 'static>(
    path: &Path,
    work: impl FnOnce() -> Result<T, AuthError> + Send + 'static,
) -> Result<T, AuthError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| AuthError::CredentialsFile {
        path: path.display().to_string(),
        reason: format!("the file task failed: {e}"),
    })?
}

fn required_seconds<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    oidc::optional_seconds(deserializer)?
        .ok_or_else(|| serde::de::Error::custom("expires_on must be a number"))
}

/// Access tokens from the credentials file, refreshed when they near expiry exactly as the
/// DiracX CLI refreshes them, so that this process and `dirac` commands can share the file.
///
/// The last token is kept in memory. When it has [`REFRESH_MARGIN_SECS`] or less left, the
/// file is opened and locked exclusively and read again: if another process has refreshed it
/// meanwhile, its token is taken; otherwise the refresh token (if its `exp` is still ahead) is
/// traded for new tokens, which are written back before the lock is released.
pub struct FileTokenSource {
    file: CredentialsFile,
    http: reqwest::Client,
    base: Url,
    client_id: String,
    token_endpoint: tokio::sync::OnceCell<Url>,
    /// Also serialises refreshes within this process.
    current: tokio::sync::Mutex<Option<Credentials>>,
}

impl fmt::Debug for FileTokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileTokenSource")
            .field("file", &self.file.path)
            .field("base", &self.base.as_str())
            .field("client_id", &self.client_id)
            .field("token_endpoint", &self.token_endpoint.get().map(Url::as_str))
            .finish_non_exhaustive()
    }
}

impl FileTokenSource {
    /// Tokens from `file` for the DiracX at `base`, refreshed with [`DEFAULT_CLIENT_ID`] at the
    /// token endpoint its discovery names (fetched on the first refresh).
    pub fn new(file: CredentialsFile, http: reqwest::Client, base: Url) -> Self {
        Self {
            file,
            http,
            base: oidc::with_trailing_slash(&base),
            client_id: DEFAULT_CLIENT_ID.to_owned(),
            token_endpoint: tokio::sync::OnceCell::new(),
            current: tokio::sync::Mutex::new(None),
        }
    }

    /// As [`new`](Self::new), with the token endpoint already discovered.
    pub fn from_discovery(
        file: CredentialsFile,
        http: reqwest::Client,
        discovery: &Discovery,
    ) -> Self {
        Self::new(file, http, discovery.base.clone())
            .with_token_endpoint(discovery.token_endpoint.clone())
    }

    /// The client id refreshes are made with (the DiracX installation's `dirac_client_id`).
    pub fn with_client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = client_id.into();
        self
    }

    pub fn with_token_endpoint(mut self, token_endpoint: Url) -> Self {
        self.token_endpoint = tokio::sync::OnceCell::new_with(Some(token_endpoint));
        self
    }

    pub fn file(&self) -> &CredentialsFile {
        &self.file
    }

    async fn token_endpoint(&self) -> Result<&Url, AuthError> {
        self.token_endpoint
            .get_or_try_init(|| async {
                Discovery::fetch(&self.http, &self.base).await.map(|d| d.token_endpoint)
            })
            .await
    }

    /// Under the file's exclusive lock: the file's token if it is fresh and is not `rejected`,
    /// else a refreshed one, written back before the lock goes.
    async fn renew(&self, rejected: Option<&SecretString>) -> Result<Credentials, AuthError> {
        let path = self.file.path.clone();
        let (locked, on_file) = blocking(&self.file.path, move || lock_exclusive(&path)).await?;
        let was_rejected =
            rejected.is_some_and(|r| r.expose_secret() == on_file.access_token.expose_secret());
        if !was_rejected && on_file.is_fresh() {
            return Ok(on_file);
        }
        let refresh_token = match &on_file.refresh_token {
            Some(token) if on_file.refresh_token_valid() => token.clone(),
            _ => {
                return Err(AuthError::NotLoggedIn(format!(
                    "the login in {} has expired; {LOGIN_HINT}",
                    self.file.path.display()
                )));
            }
        };
        let refreshed = match self.token_endpoint().await {
            Ok(endpoint) => {
                oidc::refresh(&self.http, endpoint, &self.client_id, &refresh_token).await
            }
            Err(e) => Err(e),
        };
        let tokens = match refreshed {
            Ok(tokens) => tokens,
            // DiracX unreachable: a token that has not expired yet still serves, and the next
            // call tries again.
            Err(AuthError::Request(reason)) if rejected.is_none() && on_file.seconds_left() > 0 => {
                tracing::warn!(%reason, seconds_left = on_file.seconds_left(), "cannot refresh the DiracX token yet, using the current one");
                return Ok(on_file);
            }
            Err(e) => return Err(e),
        };
        let mut renewed = Credentials::from_response(&tokens);
        // No new refresh token (not what DiracX does): the old one stays valid.
        if renewed.refresh_token.is_none() {
            renewed.refresh_token = Some(refresh_token);
        }
        let stored = renewed.clone();
        let mut locked = locked;
        blocking(&self.file.path, move || locked.replace(&stored)).await?;
        tracing::debug!(path = %self.file.path.display(), expires_in = tokens.expires_in, "refreshed the DiracX access token");
        Ok(renewed)
    }
}

#[async_trait]
impl TokenSource for FileTokenSource {
    async fn access_token(&self) -> Result<SecretString, AuthError> {
        let mut current = self.current.lock().await;
        if let Some(credentials) = current.as_ref()
            && credentials.is_fresh()
        {
            return Ok(credentials.access_token.clone());
        }
        let renewed = self.renew(None).await?;
        let token = renewed.access_token.clone();
        *current = Some(renewed);
        Ok(token)
    }

    /// Refreshes once if `rejected` is still the token in the file; if the file holds another
    /// one (another process refreshed), that one is tried instead.
    async fn after_rejection(
        &self,
        rejected: &SecretString,
    ) -> Result<Option<SecretString>, AuthError> {
        let mut current = self.current.lock().await;
        // Another task of this process may have renewed it already.
        if let Some(credentials) = current.as_ref()
            && credentials.access_token.expose_secret() != rejected.expose_secret()
            && credentials.is_fresh()
        {
            return Ok(Some(credentials.access_token.clone()));
        }
        let renewed = self.renew(Some(rejected)).await?;
        let token = renewed.access_token.clone();
        let same = token.expose_secret() == rejected.expose_secret();
        *current = Some(renewed);
        Ok((!same).then_some(token))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn the_path_is_found_like_the_cli_finds_it() {
        let explicit =
            CredentialsFile::from_values(Some("/x/c.json".into()), Some("/home/u".into())).unwrap();
        assert_eq!(explicit.path(), Path::new("/x/c.json"));
        let default =
            CredentialsFile::from_values(Some("".into()), Some("/home/u".into())).unwrap();
        assert_eq!(default.path(), Path::new("/home/u/.cache/diracx/credentials.json"));
        assert!(matches!(CredentialsFile::from_values(None, None), Err(AuthError::NotLoggedIn(_))));
    }

    #[test]
    fn the_cli_format_round_trips_and_hides_tokens() {
        let text =
            r#"{"access_token": "aaa.bbb.ccc", "refresh_token": null, "expires_on": 1796308162}"#;
        let c = Credentials::parse(text, Path::new("c.json")).unwrap();
        assert_eq!(c.expires_on, 1_796_308_162);
        assert!(c.refresh_token.is_none() && !c.refresh_token_valid());
        assert!(!format!("{c:?}").contains("aaa.bbb.ccc"));
        let json: serde_json::Value = serde_json::from_str(&c.to_json().unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"access_token": "aaa.bbb.ccc", "refresh_token": null, "expires_on": 1796308162})
        );
        let err = Credentials::parse(
            r#"{"access_token": 1, "expires_on": "leaky.token.value"}"#,
            Path::new("c"),
        )
        .unwrap_err();
        assert!(!err.to_string().contains("leaky"), "{err}");
    }
}
