//! `serve --config FILE`: the settings of `serve` in a TOML file, read with the `config` crate
//! into a typed struct of the binary (unknown keys are errors that name the key and the file),
//! and layered under the environment and the command line: each value of the file becomes the
//! default of the flag of the same name, so a flag beats its environment variable, which beats
//! the file, which beats the built-in default.
//!
//! A file's keys are the long flags of `serve` in snake case (`resource_url` for
//! `--resource-url`), at the top or in the sections the binary defines (`[http]`, `[bridge]`,
//! `[resource_server]`: only to group them). Secrets are never values of the file: it names
//! the files that hold them (`shared_secret_file`, `token_key_file`, …).

use std::ffi::OsString;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use clap::Command;
use clap::parser::ValueSource;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::http::AuthMode;
use crate::{LogFormat, LogLevel, Transport};

/// The arguments that hold secrets or may (`redis_url` with a password): `config show` prints
/// `<redacted>` for their values.
pub const SECRET_ARGS: [&str; 4] =
    ["shared_secret", "token_keys", "redis_url", "introspection_client_secret"];

/// The file `--config PATH` (or `--config=PATH`) names in `args`, else the environment's
/// `variable`: read before the command line is parsed, since the file's values become the
/// parser's defaults.
pub fn path_in_args(args: impl IntoIterator<Item = OsString>, variable: &str) -> Option<PathBuf> {
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "--" {
            break;
        }
        if arg == "--config" {
            return args.next().map(PathBuf::from);
        }
        if let Some(path) = arg.to_str().and_then(|a| a.strip_prefix("--config=")) {
            return Some(PathBuf::from(path));
        }
    }
    std::env::var_os(variable).filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// Reads the TOML file at `path` into `T`; a key `T` does not know is an error that names it.
pub fn load<T: DeserializeOwned + Serialize>(path: &Path) -> Result<T, String> {
    let shown = path.display();
    if !path.is_file() {
        return Err(format!("the config file {shown} does not exist or is not a file"));
    }
    let source = config::File::from(path).format(config::FileFormat::Toml).required(true);
    let read = config::Config::builder()
        .add_source(source)
        .build()
        .map_err(|e| format!("the config file {shown}: {e}"))?;
    let typed: T =
        read.clone().try_deserialize().map_err(|e| format!("the config file {shown}: {e}"))?;
    let raw: Value = read.try_deserialize().map_err(|e| format!("the config file {shown}: {e}"))?;
    let known =
        serde_json::to_value(&typed).map_err(|e| format!("the config file {shown}: {e}"))?;
    if let Some(key) = unknown_key(&raw, &known, "") {
        return Err(format!("the config file {shown}: unknown key `{key}`"));
    }
    Ok(typed)
}

/// The first key of `raw` that `known` (the same file, read into the typed settings and
/// written back) does not have.
fn unknown_key(raw: &Value, known: &Value, prefix: &str) -> Option<String> {
    let Value::Object(raw) = raw else { return None };
    for (key, value) in raw {
        let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        match known.get(key) {
            None => return Some(path),
            Some(inner) => {
                if let Some(unknown) = unknown_key(value, inner, &path) {
                    return Some(unknown);
                }
            }
        }
    }
    None
}

/// The file's values as defaults of the flags of `command` (its `serve`), each key the id of
/// an argument (sections flattened); a key that names no argument is an error.
pub fn with_defaults<T: Serialize>(
    mut command: Command,
    settings: &T,
    path: &Path,
) -> Result<Command, String> {
    let value = serde_json::to_value(settings)
        .map_err(|e| format!("the config file {}: {e}", path.display()))?;
    let mut pairs = Vec::new();
    flatten(&value, &mut pairs);
    for (id, values) in pairs {
        if !command.get_arguments().any(|arg| arg.get_id() == id.as_str()) {
            return Err(format!(
                "the config file {}: `{id}` is not a setting of `{}`",
                path.display(),
                command.get_name()
            ));
        }
        // A required flag the file gives is required no more (clap refuses both at once).
        command = command.mut_arg(id, |arg| arg.default_values(values).required(false));
    }
    Ok(command)
}

/// `(id, values)` of every scalar or list in `value`, nested tables flattened.
fn flatten(value: &Value, out: &mut Vec<(String, Vec<String>)>) {
    let Value::Object(map) = value else { return };
    for (key, value) in map {
        match value {
            Value::Object(_) => flatten(value, out),
            Value::Null => {}
            Value::Array(items) => out.push((key.clone(), items.iter().map(text).collect())),
            scalar => out.push((key.clone(), vec![text(scalar)])),
        }
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The effective settings of a parsed `serve` as TOML-like lines with where each came from
/// (`flag`, `env`, `file`, `default`), secrets redacted; unset ones are left out.
pub fn show(command: &Command, matches: &clap::ArgMatches, file_ids: &[String]) -> String {
    let mut out = String::new();
    for arg in command.get_arguments() {
        let id = arg.get_id().as_str();
        if matches!(id, "help" | "version" | "config") {
            continue;
        }
        let Some(values) = matches.get_raw(id) else { continue };
        let values: Vec<String> = values.map(|v| v.to_string_lossy().into_owned()).collect();
        let origin = match matches.value_source(id) {
            Some(ValueSource::CommandLine) => "flag",
            Some(ValueSource::EnvVariable) => "env",
            Some(ValueSource::DefaultValue) if file_ids.iter().any(|f| f == id) => "file",
            _ => "default",
        };
        if origin == "default" && values.iter().all(|v| v == "false") {
            continue;
        }
        let shown = if SECRET_ARGS.contains(&id) {
            "\"<redacted>\"".to_owned()
        } else if values.len() == 1
            && !matches!(arg.get_action(), clap::ArgAction::Append)
            && arg.get_value_delimiter().is_none()
        {
            quote(&values[0])
        } else {
            format!("[{}]", values.iter().map(|v| quote(v)).collect::<Vec<_>>().join(", "))
        };
        out.push_str(&format!("{id} = {shown}  # {origin}\n"));
    }
    out
}

fn quote(value: &str) -> String {
    if value == "true" || value == "false" || value.parse::<i64>().is_ok() {
        value.to_owned()
    } else {
        Value::String(value.to_owned()).to_string()
    }
}

/// The ids the file sets (for [`show`]).
pub fn ids_of<T: Serialize>(settings: &T) -> Vec<String> {
    let mut pairs = Vec::new();
    if let Ok(value) = serde_json::to_value(settings) {
        flatten(&value, &mut pairs);
    }
    pairs.into_iter().map(|(id, _)| id).collect()
}

/// `[http]`: where and how the HTTP transport listens.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct HttpSection {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_secret_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_url: Option<url::Url>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_origins: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forwarded_allow_ips: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_host: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shutdown_grace: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_idle_timeout: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_sleep_after: Option<u64>,
}

/// `[bridge]`: OIDC bridge mode.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct BridgeSection {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poll_timeout: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_key_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth_clients: Option<PathBuf>,
}

/// `[resource_server]`: resource-server mode.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct ResourceServerSection {
    /// Text, not a URL: an issuer is compared exactly, and a URL would gain a trailing slash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub introspection_client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub introspection_client_secret_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_scope: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub introspection_cache_ttl: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub introspect_jwts: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clock_leeway: Option<u64>,
}

/// A server's file: what both servers have (transport, logging, the HTTP sections) and, at the
/// top level too, the binary's own keys `B` (its sites and backend).
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct ServeFile<B> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport: Option<Transport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_level: Option<LogLevel>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
    #[serde(default)]
    pub http: HttpSection,
    #[serde(default)]
    pub bridge: BridgeSection,
    #[serde(default)]
    pub resource_server: ResourceServerSection,
    #[serde(flatten)]
    pub backend: B,
}

/// `config check FILE` and `config show FILE`.
#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    /// Read FILE as `serve --config FILE` would, with this environment, check every setting
    /// (and the files it names), and say what would be served
    Check {
        /// The TOML file
        file: PathBuf,
    },
    /// The settings `serve --config FILE` would run with here, and where each comes from (the
    /// file, the environment, the built-in default); secrets redacted
    Show {
        /// The TOML file
        file: PathBuf,
    },
}

/// `command` with the values of the file at `path` as the defaults of its `serve`, and the ids
/// the file sets.
pub fn layered<B: DeserializeOwned + Serialize>(
    command: Command,
    path: &Path,
) -> Result<(Command, Vec<String>), String> {
    let file: ServeFile<B> = load(path)?;
    let serve = command
        .find_subcommand("serve")
        .cloned()
        .ok_or("this command has no `serve` to configure")?;
    let serve = with_defaults(serve, &file, path)?;
    Ok((command.mut_subcommand("serve", |_| serve), ids_of(&file)))
}

/// The command `main` parses `args` with: for `serve` with `--config PATH` (or the environment's
/// `variable`), the file's values as defaults; for anything else, `command` as it is.
pub fn for_args<B: DeserializeOwned + Serialize>(
    command: Command,
    args: &[OsString],
    variable: &str,
) -> Result<Command, String> {
    if args.get(1).is_none_or(|a| a != "serve") {
        return Ok(command);
    }
    match path_in_args(args.iter().skip(2).cloned(), variable) {
        Some(path) => layered::<B>(command, &path).map(|(command, _)| command),
        None => Ok(command),
    }
}

/// `serve` under the file at `path` and this environment, without flags: the command, its
/// matches and the ids the file sets (what `config check` and `config show` look at).
pub fn serve_under<B: DeserializeOwned + Serialize>(
    command: Command,
    path: &Path,
) -> Result<(Command, clap::ArgMatches, Vec<String>), String> {
    let (command, ids) = layered::<B>(command, path)?;
    let serve = command.find_subcommand("serve").cloned().ok_or("no `serve`")?;
    let matches = serve
        .clone()
        .try_get_matches_from(["serve"])
        .map_err(|e| format!("the config file {}: {e}", path.display()))?;
    Ok((serve, matches, ids))
}
