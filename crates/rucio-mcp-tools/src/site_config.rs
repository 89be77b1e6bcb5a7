//! Which Rucio configuration a server uses: `--rucio-cfg` > the preset of `--site` >
//! `$RUCIO_CONFIG` > the default preset, with the `--auth-type` override applied.

use std::path::{Path, PathBuf};

use rucio_client::{AuthType, ConfigError, Environment, IniFile, RucioConfig};

/// The outcome: the site name (for texts and metrics) and the configuration.
#[derive(Debug)]
pub struct SiteConfig {
    pub site: String,
    pub config: RucioConfig,
    /// Where the configuration came from, for the startup log line.
    pub source: String,
    /// Things the user should know (e.g. a `RUCIO_CONFIG` that a preset overrides).
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SiteConfigError {
    #[error(transparent)]
    UnknownSite(#[from] site_presets::UnknownPreset),
    #[error("the Rucio configuration {} does not exist: pass an existing file to --rucio-cfg, or use --site NAME", .0.display())]
    MissingFile(PathBuf),
    #[error("--auth-type {0:?} is not one of oidc, x509, x509_proxy, userpass")]
    BadAuthType(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `--site` values that do not fit together or with the mode.
    #[error("{0}")]
    Sites(String),
}

/// A `--site` value: `NAME` (a preset, or the name of `--rucio-cfg`'s site) or `NAME=PATH` (the
/// rucio.cfg at PATH served as NAME).
fn site_spec(spec: &str) -> Result<(&str, Option<&Path>), SiteConfigError> {
    let (name, path) = match spec.split_once('=') {
        Some((name, path)) => (name.trim(), Some(Path::new(path.trim()))),
        None => (spec.trim(), None),
    };
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(SiteConfigError::Sites(format!(
            "--site {spec}: a site name is letters, digits, `-` and `_`"
        )));
    }
    Ok((name, path))
}

/// The one site of a single-identity server (stdio, shared-secret mode): no `--site` (the
/// environment's or the default preset), one `NAME`, or one `NAME=PATH`.
pub fn resolve_one(
    sites: &[String],
    rucio_cfg: Option<&Path>,
    auth_type: Option<&str>,
    env: &Environment,
) -> Result<SiteConfig, SiteConfigError> {
    match sites {
        [] => resolve(None, rucio_cfg, auth_type, env),
        [one] => match site_spec(one)? {
            (_, Some(_)) if rucio_cfg.is_some() => Err(SiteConfigError::Sites(format!(
                "--site {one} names its rucio.cfg: drop --rucio-cfg"
            ))),
            (name, Some(path)) => resolve(Some(name), Some(path), auth_type, env),
            (name, None) => resolve(Some(name), rucio_cfg, auth_type, env),
        },
        several => Err(SiteConfigError::Sites(format!(
            "one site per server in this mode, got {}: {} (run one server per site, or use OIDC bridge mode)",
            several.len(),
            several.join(", ")
        ))),
    }
}

/// The sites of a server for many users (OIDC bridge and resource-server modes): each `NAME` (a
/// preset) or `NAME=PATH`, each once; or one `NAME` with `--rucio-cfg`.
pub fn resolve_many(
    sites: &[String],
    rucio_cfg: Option<&Path>,
    auth_type: Option<&str>,
    env: &Environment,
) -> Result<Vec<SiteConfig>, SiteConfigError> {
    if sites.len() <= 1 {
        return resolve_one(sites, rucio_cfg, auth_type, env).map(|one| vec![one]);
    }
    if rucio_cfg.is_some() {
        return Err(SiteConfigError::Sites(
            "with several sites, give each its rucio.cfg as --site NAME=PATH instead of --rucio-cfg"
                .into(),
        ));
    }
    let mut resolved: Vec<SiteConfig> = Vec::new();
    for spec in sites {
        let (name, path) = site_spec(spec)?;
        let site = resolve(Some(name), path, auth_type, env)?;
        if resolved.iter().any(|s| s.site == site.site) {
            return Err(SiteConfigError::Sites(format!("--site {name} is given twice")));
        }
        resolved.push(site);
    }
    Ok(resolved)
}

/// Resolves the configuration for a stdio (or single-identity) server.
///
/// `auth_type` follows rucio-mcp 0.10.0: `x509` means a user certificate when one is configured
/// (`client_cert` or `RUCIO_CLIENT_CERT`) and a grid proxy otherwise. A configuration without any
/// `auth_type` (the bundled presets used to omit it) uses `oidc`, as rucio-mcp does.
pub fn resolve(
    site: Option<&str>,
    rucio_cfg: Option<&Path>,
    auth_type: Option<&str>,
    env: &Environment,
) -> Result<SiteConfig, SiteConfigError> {
    let mut warnings = Vec::new();
    let (site_name, text, source) = match (rucio_cfg, site) {
        (Some(path), _) => {
            let text = read(path)?;
            (site.unwrap_or("custom").to_owned(), text, path.display().to_string())
        }
        (None, Some(name)) => {
            let preset = site_presets::find(name)?;
            if let Some(env_cfg) = env.var("RUCIO_CONFIG").filter(|v| !v.trim().is_empty()) {
                warnings.push(format!(
                    "RUCIO_CONFIG={env_cfg} is set but --site {} takes precedence; pass --rucio-cfg to use your own file",
                    preset.name
                ));
            }
            (
                preset.name.to_owned(),
                preset.rucio_cfg.to_owned(),
                format!("built-in preset {}", preset.name),
            )
        }
        (None, None) => match env.var("RUCIO_CONFIG").filter(|v| !v.trim().is_empty()) {
            Some(path) => {
                let path = env.expand_path(path);
                (String::from("custom"), read(&path)?, format!("{} (RUCIO_CONFIG)", path.display()))
            }
            None => {
                let preset = site_presets::find(site_presets::DEFAULT_PRESET)?;
                (
                    preset.name.to_owned(),
                    preset.rucio_cfg.to_owned(),
                    format!("built-in preset {} (the default)", preset.name),
                )
            }
        },
    };
    let ini = IniFile::parse(&text, &source)?;
    let mut env = env.clone();
    match auth_type {
        Some(raw) => {
            let chosen = match raw.trim().to_ascii_lowercase().as_str() {
                "x509" => {
                    let has_cert = env.var("RUCIO_CLIENT_CERT").is_some()
                        || ini.get("client", "client_cert").is_some();
                    if has_cert { AuthType::X509 } else { AuthType::X509Proxy }
                }
                other => match AuthType::parse(other) {
                    Some(t @ (AuthType::Oidc | AuthType::X509Proxy | AuthType::UserPass)) => t,
                    _ => return Err(SiteConfigError::BadAuthType(raw.to_owned())),
                },
            };
            env = env.with_var("RUCIO_AUTH_TYPE", chosen.as_str());
        }
        None if env.var("RUCIO_AUTH_TYPE").is_none()
            && ini.get("client", "auth_type").is_none() =>
        {
            env = env.with_var("RUCIO_AUTH_TYPE", "oidc");
        }
        None => {}
    }
    let config = RucioConfig::from_ini(&ini, &env)?;
    Ok(SiteConfig { site: site_name, config, source, warnings })
}

fn read(path: &Path) -> Result<String, SiteConfigError> {
    std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => SiteConfigError::MissingFile(path.to_owned()),
        _ => SiteConfigError::Config(ConfigError::Read { path: path.to_owned(), source: e }),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn precedence_and_defaults() {
        let env = Environment::empty();
        let default = resolve(None, None, None, &env).unwrap();
        assert_eq!(default.site, "escape");
        assert_eq!(default.config.auth_type, AuthType::Oidc);

        let atlas =
            resolve(Some("ATLAS"), None, None, &env.clone().with_var("RUCIO_CONFIG", "/x.cfg"))
                .unwrap();
        assert_eq!(atlas.site, "atlas");
        assert_eq!(atlas.config.rucio_host.host_str(), Some("voatlasrucio-server-prod.cern.ch"));
        assert_eq!(atlas.warnings.len(), 1);

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rucio.cfg");
        std::fs::write(
            &file,
            "[client]\nrucio_host = https://r.example\nauth_host = https://a.example\n",
        )
        .unwrap();
        let from_env = resolve(
            None,
            None,
            None,
            &env.clone().with_var("RUCIO_CONFIG", file.to_str().unwrap()),
        )
        .unwrap();
        assert_eq!((from_env.site.as_str(), from_env.config.auth_type), ("custom", AuthType::Oidc));
        let explicit = resolve(Some("cms"), Some(&file), Some("x509"), &env).unwrap();
        assert_eq!(explicit.site, "cms");
        assert_eq!(explicit.config.rucio_host.host_str(), Some("r.example"));
    }

    #[test]
    fn x509_alias_and_errors() {
        let env = Environment::empty().with_var("X509_USER_PROXY", "/tmp/p");
        let proxy = resolve(Some("atlas"), None, Some("x509"), &env).unwrap();
        assert_eq!(proxy.config.auth_type, AuthType::X509Proxy);
        let cert = env.clone().with_var("RUCIO_CLIENT_CERT", "/c.pem");
        assert_eq!(
            resolve(Some("atlas"), None, Some("x509"), &cert).unwrap().config.auth_type,
            AuthType::X509
        );
        assert!(matches!(
            resolve(Some("nope"), None, None, &env),
            Err(SiteConfigError::UnknownSite(_))
        ));
        let missing =
            resolve(None, Some(Path::new("/nonexistent/rucio.cfg")), None, &env).unwrap_err();
        assert!(missing.to_string().contains("/nonexistent/rucio.cfg"), "{missing}");
        assert!(matches!(
            resolve(None, None, Some("kerberos"), &env),
            Err(SiteConfigError::BadAuthType(_))
        ));
    }
}
