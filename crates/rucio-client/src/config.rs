//! Client configuration, read the way the Python Rucio client reads it.
//!
//! Sources, in order of precedence: the environment variables Rucio honours, then the `[client]`
//! section of `rucio.cfg` (found through `RUCIO_CONFIG`, `$RUCIO_HOME/etc`, `$VIRTUAL_ENV/etc`,
//! `$CONDA_PREFIX/etc`, `/opt/rucio/etc`). Unknown keys are ignored, as Rucio ignores them.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

/// Rucio's default VO; the token cache directory only gets a `@vo` suffix for other VOs.
pub const DEFAULT_VO: &str = "def";

/// The authentication methods of the Rucio client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthType {
    UserPass,
    X509,
    X509Proxy,
    Oidc,
    /// Kerberos: recognised so the error can say it is not supported, rather than "unknown".
    Gss,
    /// SSH keys: recognised for the same reason as `Gss`.
    Ssh,
    /// A token handed over by the caller (the HTTP bridge); never re-authenticated.
    Bearer,
}

impl AuthType {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::UserPass => "userpass",
            Self::X509 => "x509",
            Self::X509Proxy => "x509_proxy",
            Self::Oidc => "oidc",
            Self::Gss => "gss",
            Self::Ssh => "ssh",
            Self::Bearer => "bearer",
        }
    }

    /// Parses Rucio's spelling (`userpass`, `x509`, `x509_proxy`, `oidc`, `gss`, `ssh`).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "userpass" => Self::UserPass,
            "x509" => Self::X509,
            "x509_proxy" => Self::X509Proxy,
            "oidc" => Self::Oidc,
            "gss" => Self::Gss,
            "ssh" => Self::Ssh,
            "bearer" => Self::Bearer,
            _ => return None,
        })
    }
}

impl fmt::Display for AuthType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a configuration could not be used. Every variant names the file (or variable) and key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("no rucio.cfg found: set RUCIO_CONFIG or create one of {}", list_paths(searched))]
    NotFound { searched: Vec<PathBuf> },
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{origin} line {line}: {reason}")]
    Syntax { origin: String, line: usize, reason: String },
    #[error("{origin}: `{key}` is not set in [client]{hint}")]
    Missing { origin: String, key: &'static str, hint: &'static str },
    #[error("{origin}: `{key}` = {value:?} is invalid: {reason}")]
    Invalid { origin: String, key: &'static str, value: String, reason: String },
    #[error(
        "auth_type `{0}` is not supported by this client; use userpass, x509, x509_proxy or oidc"
    )]
    UnsupportedAuthType(AuthType),
}

fn list_paths(paths: &[PathBuf]) -> String {
    paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}

/// A snapshot of what the process environment says, so configuration is a pure function of it
/// and tests never have to mutate the real environment.
#[derive(Clone, Debug, Default)]
pub struct Environment {
    vars: HashMap<String, String>,
    uid: Option<u32>,
    user: Option<String>,
    tmp_dir: Option<PathBuf>,
}

impl Environment {
    /// The environment of this process, plus the effective uid and user name Rucio derives paths from.
    pub fn from_process() -> Self {
        let vars: HashMap<String, String> = std::env::vars().collect();
        let uid = current_uid();
        Self { vars, uid, user: uid.and_then(user_name_of), tmp_dir: Some(std::env::temp_dir()) }
    }

    /// An empty environment (no variables, uid 0, user `nobody`): the start for tests.
    pub fn empty() -> Self {
        Self {
            vars: HashMap::new(),
            uid: Some(0),
            user: Some("nobody".into()),
            tmp_dir: Some("/tmp".into()),
        }
    }

    /// Returns a copy with one variable set.
    #[must_use]
    pub fn with_var(mut self, key: &str, value: impl Into<String>) -> Self {
        self.vars.insert(key.to_owned(), value.into());
        self
    }

    /// Returns a copy with the temporary directory (where Rucio caches tokens) replaced.
    #[must_use]
    pub fn with_tmp_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.tmp_dir = Some(dir.into());
        self
    }

    pub fn var(&self, key: &str) -> Option<&str> {
        self.vars.get(key).map(String::as_str)
    }

    fn nonempty(&self, key: &str) -> Option<&str> {
        self.var(key).map(str::trim).filter(|v| !v.is_empty())
    }

    pub fn uid(&self) -> Option<u32> {
        self.uid
    }

    /// The user name Python's `getpass.getuser()` would give: the first of `LOGNAME`, `USER`,
    /// `LNAME`, `USERNAME`, else the password database's name for the uid.
    pub fn user_name(&self) -> String {
        ["LOGNAME", "USER", "LNAME", "USERNAME"]
            .iter()
            .find_map(|k| self.nonempty(k))
            .map(str::to_owned)
            .or_else(|| self.user.clone())
            .unwrap_or_else(|| "nobody".to_owned())
    }

    /// The directory Python's `tempfile.gettempdir()` would pick.
    fn temp_dir(&self) -> PathBuf {
        ["TMPDIR", "TEMP", "TMP"]
            .iter()
            .find_map(|k| self.nonempty(k).map(PathBuf::from))
            .or_else(|| self.tmp_dir.clone())
            .unwrap_or_else(|| PathBuf::from("/tmp"))
    }

    /// Expands `~` and `$VAR`/`${VAR}` as Python's `expanduser(expandvars(path))` does.
    pub fn expand_path(&self, raw: &str) -> PathBuf {
        let raw = raw.trim();
        let mut out = String::with_capacity(raw.len());
        let mut rest = raw;
        while let Some(pos) = rest.find('$') {
            out.push_str(&rest[..pos]);
            let after = &rest[pos + 1..];
            let (name, tail) = if let Some(inner) = after.strip_prefix('{') {
                match inner.find('}') {
                    Some(end) => (&inner[..end], &inner[end + 1..]),
                    None => ("", after),
                }
            } else {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], &after[end..])
            };
            match self.var(name).filter(|_| !name.is_empty()) {
                Some(value) => out.push_str(value),
                // Python leaves unknown variables as they are.
                None => out.push_str(&rest[pos..rest.len() - tail.len()]),
            }
            rest = tail;
        }
        out.push_str(rest);
        if let Some(home_rel) = out.strip_prefix("~/").or(if out == "~" { Some("") } else { None })
            && let Some(home) = self.nonempty("HOME")
        {
            return Path::new(home).join(home_rel);
        }
        PathBuf::from(out)
    }
}

fn current_uid() -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the effective uid: no libc call (and no unsafe) needed.
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

fn user_name_of(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id: u32 = fields.nth(1)?.parse().ok()?;
        (id == uid).then(|| name.to_owned())
    })
}

/// The `[section] key = value` text of a rucio.cfg, parsed as Python's `configparser` does for the
/// files Rucio users write: `=` or `:` separators, `#`/`;` comment lines, indented continuation lines,
/// case-insensitive keys.
#[derive(Clone, Debug, Default)]
pub struct IniFile {
    origin: String,
    sections: HashMap<String, HashMap<String, String>>,
}

impl IniFile {
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let mut sections: HashMap<String, HashMap<String, String>> = HashMap::new();
        let mut current: Option<String> = None;
        let mut last_key: Option<String> = None;
        for (idx, raw) in text.lines().enumerate() {
            let line_no = idx + 1;
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
                continue;
            }
            let syntax = |reason: &str| ConfigError::Syntax {
                origin: origin.to_owned(),
                line: line_no,
                reason: reason.to_owned(),
            };
            if raw.starts_with([' ', '\t'])
                && let (Some(section), Some(key)) = (&current, &last_key)
                && let Some(value) = sections.get_mut(section).and_then(|s| s.get_mut(key))
            {
                value.push('\n');
                value.push_str(trimmed);
                continue;
            }
            if let Some(inner) = trimmed.strip_prefix('[') {
                let name = inner
                    .strip_suffix(']')
                    .ok_or_else(|| syntax("section header without closing `]`"))?;
                current = Some(name.trim().to_owned());
                sections.entry(name.trim().to_owned()).or_default();
                last_key = None;
                continue;
            }
            let section = current.as_ref().ok_or_else(|| syntax("key outside of any [section]"))?;
            let split = trimmed.find(['=', ':']).ok_or_else(|| syntax("expected `key = value`"))?;
            let key = trimmed[..split].trim().to_ascii_lowercase();
            let value = trimmed[split + 1..].trim().to_owned();
            if key.is_empty() {
                return Err(syntax("empty key"));
            }
            sections.entry(section.clone()).or_default().insert(key.clone(), value);
            last_key = Some(key);
        }
        Ok(Self { origin: origin.to_owned(), sections })
    }

    pub fn get(&self, section: &str, key: &str) -> Option<&str> {
        self.sections.get(section)?.get(key).map(String::as_str)
    }

    pub fn has_section(&self, section: &str) -> bool {
        self.sections.contains_key(section)
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }
}

/// OIDC settings of the `[client]` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OidcSettings {
    pub audience: Option<String>,
    pub scope: String,
    pub issuer: Option<String>,
    pub polling: bool,
    pub refresh_lifetime: Option<String>,
    /// `auth_oidc_refresh_active`: refresh the token through Rucio before it expires.
    pub refresh_active: bool,
    /// `auth_oidc_refresh_before_exp`, in minutes.
    pub refresh_before_exp_minutes: u32,
}

impl Default for OidcSettings {
    fn default() -> Self {
        Self {
            audience: None,
            scope: "openid profile".into(),
            issuer: None,
            polling: false,
            refresh_lifetime: None,
            refresh_active: false,
            refresh_before_exp_minutes: 20,
        }
    }
}

/// Everything needed to talk to one Rucio instance as one identity.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RucioConfig {
    /// Where the settings came from (a file path, or a caller's label), for error messages.
    pub origin: String,
    pub rucio_host: Url,
    pub auth_host: Url,
    pub auth_type: AuthType,
    pub account: Option<String>,
    pub vo: String,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub client_x509_proxy: Option<PathBuf>,
    /// A CA bundle file (or a directory, as Python's requests accepts).
    pub ca_cert: Option<PathBuf>,
    /// `X509_CERT_DIR`: a directory of hashed CA files, as on grid hosts.
    pub ca_cert_dir: Option<PathBuf>,
    /// How often an idempotent request is retried after a connection error or a 502/503/504.
    pub request_retries: u32,
    /// Timeout of one HTTP request, whole body included for non-streaming calls.
    pub request_timeout: Duration,
    pub oidc: OidcSettings,
    /// `auth_token_file_path`: overrides the token cache file.
    pub auth_token_file_path: Option<PathBuf>,
    /// A WLCG bearer token found in the environment (`BEARER_TOKEN`, `BEARER_TOKEN_FILE`,
    /// `$XDG_RUNTIME_DIR/bt_u<uid>`), used as is when `auth_type` is `oidc`.
    pub discovered_token: Option<SecretString>,
    /// The directory holding Rucio's token cache for this account and VO.
    pub token_dir: PathBuf,
}

impl RucioConfig {
    /// Loads the configuration as the Rucio client would in this process.
    pub fn load() -> Result<Self, ConfigError> {
        Self::load_with(&Environment::from_process())
    }

    /// Loads the configuration found through `env` (`RUCIO_CONFIG`, `RUCIO_HOME`, ...).
    pub fn load_with(env: &Environment) -> Result<Self, ConfigError> {
        let path = Self::find_file(env)?;
        Self::from_file(&path, env)
    }

    /// The rucio.cfg Rucio would read, without reading it.
    pub fn find_file(env: &Environment) -> Result<PathBuf, ConfigError> {
        if let Some(path) = env.nonempty("RUCIO_CONFIG") {
            return Ok(env.expand_path(path));
        }
        let searched: Vec<PathBuf> = ["RUCIO_HOME", "VIRTUAL_ENV", "CONDA_PREFIX"]
            .iter()
            .filter_map(|k| env.nonempty(k))
            .map(|dir| Path::new(dir).join("etc/rucio.cfg"))
            .chain(std::iter::once(PathBuf::from("/opt/rucio/etc/rucio.cfg")))
            .collect();
        searched.iter().find(|p| p.is_file()).cloned().ok_or(ConfigError::NotFound { searched })
    }

    /// Reads one rucio.cfg file, with the environment's overrides applied.
    pub fn from_file(path: &Path, env: &Environment) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        Self::from_ini(&IniFile::parse(&text, &path.display().to_string())?, env)
    }

    /// Builds a configuration from rucio.cfg text (e.g. a built-in site preset).
    pub fn from_cfg_text(text: &str, origin: &str, env: &Environment) -> Result<Self, ConfigError> {
        Self::from_ini(&IniFile::parse(text, origin)?, env)
    }

    /// Resolves `[client]` of `ini` plus the environment into a configuration.
    pub fn from_ini(ini: &IniFile, env: &Environment) -> Result<Self, ConfigError> {
        let origin = ini.origin().to_owned();
        let get = |key: &str| ini.get("client", key).map(str::trim).filter(|v| !v.is_empty());
        let invalid = |key: &'static str, value: &str, reason: &str| ConfigError::Invalid {
            origin: origin.clone(),
            key,
            value: value.to_owned(),
            reason: reason.to_owned(),
        };
        let host = |key: &'static str| -> Result<Url, ConfigError> {
            let raw = get(key).ok_or_else(|| ConfigError::Missing {
                origin: origin.clone(),
                key,
                hint: ": it must be the http(s) address of the Rucio server (auth_host: of its authentication server, often the same)",
            })?;
            let url = Url::parse(raw).map_err(|e| invalid(key, raw, &e.to_string()))?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(invalid(key, raw, "expected an http:// or https:// URL"));
            }
            Ok(url)
        };
        let rucio_host = host("rucio_host")?;
        let auth_host = host("auth_host")?;

        let auth_type = match env.nonempty("RUCIO_AUTH_TYPE") {
            Some(raw) => AuthType::parse(raw).ok_or_else(|| ConfigError::Invalid {
                origin: "environment".into(),
                key: "RUCIO_AUTH_TYPE",
                value: raw.to_owned(),
                reason: "expected userpass, x509, x509_proxy or oidc".into(),
            })?,
            None => {
                let raw = get("auth_type").ok_or_else(|| ConfigError::Missing {
                    origin: origin.clone(),
                    key: "auth_type",
                    hint: " (nor RUCIO_AUTH_TYPE): choose userpass, x509, x509_proxy or oidc",
                })?;
                AuthType::parse(raw).ok_or_else(|| {
                    invalid("auth_type", raw, "expected userpass, x509, x509_proxy or oidc")
                })?
            }
        };
        if matches!(auth_type, AuthType::Gss | AuthType::Ssh) {
            return Err(ConfigError::UnsupportedAuthType(auth_type));
        }

        let account = env.nonempty("RUCIO_ACCOUNT").or_else(|| get("account")).map(str::to_owned);
        let vo = env.nonempty("RUCIO_VO").or_else(|| get("vo")).unwrap_or(DEFAULT_VO).to_owned();
        let bool_key = |key: &'static str, default: bool| -> Result<bool, ConfigError> {
            match get(key) {
                None => Ok(default),
                Some(raw) => {
                    parse_bool(raw).ok_or_else(|| invalid(key, raw, "expected true or false"))
                }
            }
        };
        let request_retries = match get("request_retries") {
            None => 3,
            Some(raw) => raw
                .parse()
                .map_err(|_| invalid("request_retries", raw, "expected a whole number"))?,
        };
        let request_timeout = match get("request_timeout") {
            None => Duration::from_secs(120),
            Some(raw) => Duration::from_secs(
                raw.parse()
                    .map_err(|_| invalid("request_timeout", raw, "expected a number of seconds"))?,
            ),
        };
        let oidc = OidcSettings {
            audience: get("oidc_audience").map(str::to_owned),
            scope: get("oidc_scope").unwrap_or("openid profile").to_owned(),
            issuer: get("oidc_issuer").map(str::to_owned),
            polling: bool_key("oidc_polling", false)?,
            refresh_lifetime: get("oidc_refresh_lifetime").map(str::to_owned),
            refresh_active: bool_key("auth_oidc_refresh_active", false)?,
            refresh_before_exp_minutes: match get("auth_oidc_refresh_before_exp") {
                None => 20,
                Some(raw) => raw.parse().map_err(|_| {
                    invalid("auth_oidc_refresh_before_exp", raw, "expected minutes")
                })?,
            },
        };

        let path_of = |key: &str| get(key).map(|raw| env.expand_path(raw));
        let client_cert = env
            .nonempty("RUCIO_CLIENT_CERT")
            .map(|p| env.expand_path(p))
            .or_else(|| path_of("client_cert"));
        let client_key = env
            .nonempty("RUCIO_CLIENT_KEY")
            .map(|p| env.expand_path(p))
            .or_else(|| path_of("client_key"));
        let client_x509_proxy = env
            .nonempty("RUCIO_CLIENT_PROXY")
            .map(|p| env.expand_path(p))
            .or_else(|| path_of("client_x509_proxy"))
            .or_else(|| env.nonempty("X509_USER_PROXY").map(|p| env.expand_path(p)))
            .or_else(|| {
                let default = PathBuf::from(format!("/tmp/x509up_u{}", env.uid()?));
                default.is_file().then_some(default)
            });
        let username = get("username").map(str::to_owned);
        let password = get("password").map(|p| SecretString::from(p.to_owned()));
        match auth_type {
            AuthType::UserPass => {
                for (key, present) in
                    [("username", username.is_some()), ("password", password.is_some())]
                {
                    if !present {
                        return Err(ConfigError::Missing {
                            origin,
                            key,
                            hint: " but auth_type is userpass",
                        });
                    }
                }
            }
            AuthType::X509 if client_cert.is_none() => {
                return Err(ConfigError::Missing {
                    origin,
                    key: "client_cert",
                    hint: " (nor RUCIO_CLIENT_CERT) but auth_type is x509",
                });
            }
            _ => {}
        }

        let auth_token_file_path = path_of("auth_token_file_path");
        let token_dir = match &auth_token_file_path {
            Some(file) => file.parent().map(Path::to_path_buf).unwrap_or_default(),
            None => {
                // Python: gettempdir()/<user>/.rucio_<user>[@vo]
                let user = env.user_name();
                let mut dir = env.temp_dir().join(&user).join(format!(".rucio_{user}"));
                if vo != DEFAULT_VO {
                    dir.set_file_name(format!(".rucio_{user}@{vo}"));
                }
                dir
            }
        };
        let discovered_token =
            if auth_type == AuthType::Oidc { wlcg_token_discovery(env) } else { None };

        Ok(Self {
            origin,
            rucio_host,
            auth_host,
            auth_type,
            account,
            vo,
            username,
            password,
            client_cert,
            client_key,
            client_x509_proxy,
            ca_cert: path_of("ca_cert"),
            ca_cert_dir: env.nonempty("X509_CERT_DIR").map(|p| env.expand_path(p)),
            request_retries,
            request_timeout,
            oidc,
            auth_token_file_path,
            discovered_token,
            token_dir,
        })
    }

    /// The file Rucio caches this account's token in.
    pub fn token_file(&self) -> PathBuf {
        match &self.auth_token_file_path {
            Some(path) => path.clone(),
            None => self.token_dir.join(format!("auth_token_{}", self.token_suffix())),
        }
    }

    /// The file Rucio keeps the OIDC token's expiry (Unix seconds) in.
    pub fn token_expiry_file(&self) -> PathBuf {
        self.token_dir.join(format!("auth_token_exp_{}", self.token_suffix()))
    }

    fn token_suffix(&self) -> String {
        match &self.account {
            Some(account) => format!("for_account_{account}"),
            None => "for_default_account".to_owned(),
        }
    }
}

fn parse_bool(raw: &str) -> Option<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "1" | "yes" | "true" | "on" => Some(true),
        "0" | "no" | "false" | "off" => Some(false),
        _ => None,
    }
}

/// WLCG bearer token discovery, in the order of the WLCG token specification (and Rucio).
pub fn wlcg_token_discovery(env: &Environment) -> Option<SecretString> {
    let read = |path: &Path| {
        std::fs::read_to_string(path).ok().map(|t| t.trim().to_owned()).filter(|t| !t.is_empty())
    };
    if let Some(token) = env.nonempty("BEARER_TOKEN") {
        return Some(SecretString::from(token.to_owned()));
    }
    if let Some(file) = env.nonempty("BEARER_TOKEN_FILE")
        && let Some(token) = read(Path::new(file))
    {
        return Some(SecretString::from(token));
    }
    let dir = env.nonempty("XDG_RUNTIME_DIR")?;
    read(&Path::new(dir).join(format!("bt_u{}", env.uid()?))).map(SecretString::from)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use secrecy::ExposeSecret;

    const USERPASS: &str = "[client]\nrucio_host = https://rucio.example.org\nauth_host: https://auth.example.org\n\
        auth_type = userpass\nusername = alice\npassword = s3cret\naccount = alice\n; comment\n# comment\nunknown_key = 1\n";

    #[test]
    fn reads_userpass_config_and_ignores_unknown_keys() {
        let cfg = RucioConfig::from_cfg_text(USERPASS, "test.cfg", &Environment::empty()).unwrap();
        assert_eq!(cfg.rucio_host.as_str(), "https://rucio.example.org/");
        assert_eq!(cfg.auth_host.host_str(), Some("auth.example.org"));
        assert_eq!(cfg.auth_type, AuthType::UserPass);
        assert_eq!(cfg.account.as_deref(), Some("alice"));
        assert_eq!(cfg.password.as_ref().unwrap().expose_secret(), "s3cret");
        assert_eq!(cfg.vo, "def");
        assert_eq!(cfg.request_retries, 3);
        assert_eq!(
            cfg.token_file(),
            PathBuf::from("/tmp/nobody/.rucio_nobody/auth_token_for_account_alice")
        );
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let env = Environment::empty().with_var("BEARER_TOKEN", "tok-12345");
        let cfg = RucioConfig::from_cfg_text(USERPASS, "test.cfg", &env).unwrap();
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        let env = env.with_var("RUCIO_AUTH_TYPE", "oidc");
        let cfg = RucioConfig::from_cfg_text(USERPASS, "test.cfg", &env).unwrap();
        assert!(cfg.discovered_token.is_some());
        assert!(!format!("{cfg:?}").contains("tok-12345"));
    }

    #[test]
    fn config_file_search_follows_rucio() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/rucio.cfg"), USERPASS).unwrap();
        let home = dir.path().to_str().unwrap();
        let env = Environment::empty()
            .with_var("VIRTUAL_ENV", "/nonexistent")
            .with_var("RUCIO_HOME", home);
        assert_eq!(RucioConfig::find_file(&env).unwrap(), dir.path().join("etc/rucio.cfg"));
        let cfg = RucioConfig::load_with(&env).unwrap();
        assert_eq!(cfg.account.as_deref(), Some("alice"));
        assert!(cfg.origin.ends_with("etc/rucio.cfg"));
        let explicit = Environment::empty().with_var("RUCIO_CONFIG", "/x/my.cfg");
        assert_eq!(RucioConfig::find_file(&explicit).unwrap(), PathBuf::from("/x/my.cfg"));
        let err =
            RucioConfig::find_file(&Environment::empty().with_var("RUCIO_HOME", "/nonexistent"))
                .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/etc/rucio.cfg"), "{err}");
        let err = RucioConfig::load_with(&explicit).unwrap_err();
        assert!(err.to_string().contains("/x/my.cfg"), "{err}");
    }

    #[test]
    fn environment_overrides_file() {
        let env = Environment::empty()
            .with_var("RUCIO_ACCOUNT", "bob")
            .with_var("RUCIO_VO", "atl")
            .with_var("RUCIO_AUTH_TYPE", "oidc")
            .with_var("BEARER_TOKEN", " tok ")
            .with_var("TMPDIR", "/scratch");
        let cfg = RucioConfig::from_cfg_text(USERPASS, "test.cfg", &env).unwrap();
        assert_eq!(cfg.account.as_deref(), Some("bob"));
        assert_eq!(cfg.auth_type, AuthType::Oidc);
        assert_eq!(cfg.discovered_token.as_ref().unwrap().expose_secret(), "tok");
        assert_eq!(cfg.token_dir, PathBuf::from("/scratch/nobody/.rucio_nobody@atl"));
        assert_eq!(
            cfg.token_expiry_file(),
            PathBuf::from("/scratch/nobody/.rucio_nobody@atl/auth_token_exp_for_account_bob")
        );
    }

    #[test]
    fn missing_host_names_file_and_key() {
        let err = RucioConfig::from_cfg_text(
            "[client]\nauth_type = oidc\n",
            "/etc/rucio.cfg",
            &Environment::empty(),
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("/etc/rucio.cfg") && msg.contains("rucio_host"), "{msg}");
    }

    #[test]
    fn bad_values_name_the_key() {
        let text = USERPASS.replace("auth_type = userpass", "auth_type = magic");
        let msg = RucioConfig::from_cfg_text(&text, "a.cfg", &Environment::empty())
            .unwrap_err()
            .to_string();
        assert!(msg.contains("auth_type") && msg.contains("magic"), "{msg}");
        let text = format!("{USERPASS}request_retries = many\n");
        let msg = RucioConfig::from_cfg_text(&text, "a.cfg", &Environment::empty())
            .unwrap_err()
            .to_string();
        assert!(msg.contains("request_retries"), "{msg}");
        let text = USERPASS.replace("https://rucio.example.org", "ftp://x");
        let msg = RucioConfig::from_cfg_text(&text, "a.cfg", &Environment::empty())
            .unwrap_err()
            .to_string();
        assert!(msg.contains("rucio_host"), "{msg}");
    }

    #[test]
    fn gss_is_refused_clearly() {
        let text = USERPASS.replace("auth_type = userpass", "auth_type = gss");
        let err = RucioConfig::from_cfg_text(&text, "a.cfg", &Environment::empty()).unwrap_err();
        assert!(matches!(err, ConfigError::UnsupportedAuthType(AuthType::Gss)));
        assert!(err.to_string().contains("not supported"));
    }

    #[test]
    fn x509_proxy_resolution_order() {
        let text = USERPASS.replace("auth_type = userpass", "auth_type = x509_proxy");
        let env = Environment::empty().with_var("X509_USER_PROXY", "/p/env");
        let cfg = RucioConfig::from_cfg_text(&text, "a.cfg", &env).unwrap();
        assert_eq!(cfg.client_x509_proxy, Some(PathBuf::from("/p/env")));
        let text2 = format!("{text}client_x509_proxy = $HOME/proxy\n");
        let env = env.with_var("HOME", "/home/u");
        let cfg = RucioConfig::from_cfg_text(&text2, "a.cfg", &env).unwrap();
        assert_eq!(cfg.client_x509_proxy, Some(PathBuf::from("/home/u/proxy")));
        let env = env.with_var("RUCIO_CLIENT_PROXY", "~/rp");
        let cfg = RucioConfig::from_cfg_text(&text2, "a.cfg", &env).unwrap();
        assert_eq!(cfg.client_x509_proxy, Some(PathBuf::from("/home/u/rp")));
    }

    #[test]
    fn wlcg_discovery_reads_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bt_u0"), "xdg-token\n").unwrap();
        let env = Environment::empty().with_var("XDG_RUNTIME_DIR", dir.path().to_str().unwrap());
        assert_eq!(wlcg_token_discovery(&env).unwrap().expose_secret(), "xdg-token");
        std::fs::write(dir.path().join("file"), "file-token").unwrap();
        let env = env.with_var("BEARER_TOKEN_FILE", dir.path().join("file").to_str().unwrap());
        assert_eq!(wlcg_token_discovery(&env).unwrap().expose_secret(), "file-token");
    }

    #[test]
    fn ini_continuation_and_syntax_errors() {
        let ini = IniFile::parse("[client]\noidc_scope = openid\n  profile\n", "x").unwrap();
        assert_eq!(ini.get("client", "oidc_scope"), Some("openid\nprofile"));
        let err = IniFile::parse("rucio_host = x\n", "x.cfg").unwrap_err().to_string();
        assert!(err.contains("x.cfg line 1"), "{err}");
    }

    #[test]
    fn auth_token_file_path_overrides_cache_location() {
        let text = format!("{USERPASS}auth_token_file_path = /var/tok/token\n");
        let cfg = RucioConfig::from_cfg_text(&text, "a.cfg", &Environment::empty()).unwrap();
        assert_eq!(cfg.token_file(), PathBuf::from("/var/tok/token"));
        assert_eq!(
            cfg.token_expiry_file(),
            PathBuf::from("/var/tok/auth_token_exp_for_account_alice")
        );
    }
}
