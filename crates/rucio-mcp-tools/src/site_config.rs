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
