//! Machine clients of OIDC bridge mode: programs without a person that authenticate at the
//! bridge's token endpoint with the `client_credentials` grant and act as a DiracX identity the
//! operator names: a robot's login, kept in a credentials file as `dirac login` writes it and
//! refreshed under its lock like the command line does.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use diracx_client::credentials::{CredentialsFile, FileTokenSource};
use diracx_client::{AuthError, ExposeSecret as _, HttpClient, TokenSource, jwt};
use mcp_oauth_bridge::{
    ClientCredential, MachineClient, MachineIdentity, UpstreamError, UpstreamFuture, UpstreamGrant,
};
use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

/// One entry of the machine-clients file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    client_id: String,
    /// A file holding the client secret (kept out of the JSON and the process list).
    #[serde(default)]
    client_secret_file: Option<PathBuf>,
    /// Or a file with the client's public keys (a JWKS): it signs its assertions
    /// (`private_key_jwt`) with the private half, which never reaches the server.
    #[serde(default)]
    jwks_file: Option<PathBuf>,
    /// The DiracX login the client acts as (a `dirac login` credentials file).
    diracx_credentials: PathBuf,
    /// The site the client may use; every site when absent.
    #[serde(default)]
    site: Option<String>,
}

/// A machine client's DiracX identity: the robot login of a credentials file.
#[derive(Debug)]
struct RobotLogin {
    tokens: FileTokenSource,
}

impl MachineIdentity for RobotLogin {
    fn grant(&self) -> UpstreamFuture<'_, UpstreamGrant> {
        Box::pin(async move {
            let token = self.tokens.access_token().await.map_err(|e| match e {
                AuthError::Request(reason) => UpstreamError::Unavailable(reason),
                other => UpstreamError::Refused(other.to_string()),
            })?;
            let claims = jwt::decode_unverified(token.expose_secret()).map_err(|_| {
                UpstreamError::Refused("the robot login holds no DiracX access token".into())
            })?;
            Ok(UpstreamGrant {
                subject: claims.preferred_username.clone().unwrap_or_else(|| claims.sub.clone()),
                access_token: token,
                expires_at: Some(claims.exp),
                refresh: None,
            })
        })
    }
}

/// The machine clients of `path` (a JSON list of `{client_id, client_secret_file | jwks_file,
/// diracx_credentials, site?}`), each for the site it names, its robot login refreshed at that
/// site's DiracX with `diracx_client_id` (the server's OAuth client at DiracX). A client for every
/// site needs all of `sites` on one DiracX: a login belongs to one instance.
pub fn load(
    path: &Path,
    http: &HttpClient,
    sites: &[crate::DiracSite],
    diracx_client_id: &str,
) -> Result<Vec<(Option<String>, MachineClient)>, String> {
    let what = |e: &dyn std::fmt::Display| format!("--machine-clients {}: {e}", path.display());
    let text = std::fs::read_to_string(path).map_err(|e| what(&e))?;
    let entries: Vec<Entry> = serde_json::from_str(&text).map_err(|e| {
        what(&format!("expected a JSON list of {{client_id, client_secret_file or jwks_file, diracx_credentials, site?}}: {e}"))
    })?;
    let mut clients = Vec::new();
    for entry in entries {
        let id = &entry.client_id;
        let read = |path: &Path| {
            std::fs::read_to_string(path)
                .map_err(|e| what(&format!("client {id}: {}: {e}", path.display())))
        };
        let credential = match (&entry.client_secret_file, &entry.jwks_file) {
            (Some(path), None) => {
                let secret = read(path)?;
                let secret = secret.trim();
                if secret.len() < 16 {
                    return Err(what(&format!(
                        "client {id}: the secret is shorter than 16 characters (use e.g. `openssl rand -hex 32`)"
                    )));
                }
                ClientCredential::Secret(SecretString::from(secret.to_owned()))
            }
            (None, Some(path)) => {
                let keys = jwt_verify::KeySet::from_json(read(path)?.as_bytes())
                    .map_err(|e| what(&format!("client {id}: {}: {e}", path.display())))?;
                if keys.is_empty() {
                    return Err(what(&format!(
                        "client {id}: {} holds no public key this server can use (RSA, P-256, Ed25519)",
                        path.display()
                    )));
                }
                ClientCredential::PrivateKeyJwt(Arc::new(keys))
            }
            _ => {
                return Err(what(&format!(
                    "client {id}: give exactly one of client_secret_file and jwks_file"
                )));
            }
        };
        if !entry.diracx_credentials.exists() {
            return Err(what(&format!(
                "client {}: no DiracX login at {} (sign the robot in with `dirac-mcp login --credentials-path …`)",
                entry.client_id,
                entry.diracx_credentials.display()
            )));
        }
        let diracx = robot_diracx(&entry, sites).map_err(|e| what(&e))?;
        let file = CredentialsFile::new(&entry.diracx_credentials);
        let tokens =
            FileTokenSource::new(file, http.clone(), diracx).with_client_id(diracx_client_id);
        clients.push((
            entry.site,
            MachineClient {
                client_id: entry.client_id,
                credential,
                identity: Arc::new(RobotLogin { tokens }),
            },
        ));
    }
    Ok(clients)
}

/// The DiracX a robot login of `entry` belongs to: its site's, or the one all sites share.
fn robot_diracx(entry: &Entry, sites: &[crate::DiracSite]) -> Result<Url, String> {
    let id = &entry.client_id;
    if let Some(name) = &entry.site {
        return sites
            .iter()
            .find(|s| &s.name == name)
            .map(|s| s.diracx_url.clone())
            .ok_or_else(|| format!("client {id} is for site {name}, which is not served"));
    }
    let mut urls = sites.iter().map(|s| &s.diracx_url);
    let first = urls.next().ok_or_else(|| format!("client {id}: no site is served"))?;
    if urls.any(|u| u != first) {
        return Err(format!(
            "client {id} names no site, but the sites are on different DiracX instances; \
             give it a `site` (one robot login belongs to one instance)"
        ));
    }
    Ok(first.clone())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::DiracSite;

    fn entry(site: Option<&str>) -> Entry {
        Entry {
            client_id: "robot".into(),
            client_secret_file: None,
            jwks_file: None,
            diracx_credentials: PathBuf::from("robot.json"),
            site: site.map(str::to_owned),
        }
    }

    #[test]
    fn a_robot_login_is_refreshed_at_its_sites_diracx() {
        let default = Url::parse("https://diracx.example/").unwrap();
        let one = [
            DiracSite::parse("lhcb", &default).unwrap(),
            DiracSite::parse("gridpp=gridpp/gridpp_user", &default).unwrap(),
        ];
        assert_eq!(robot_diracx(&entry(None), &one).unwrap(), default);
        let two = [
            DiracSite::parse("lhcb", &default).unwrap(),
            DiracSite::parse("other=dteam@https://other.example/", &default).unwrap(),
        ];
        assert_eq!(
            robot_diracx(&entry(Some("other")), &two).unwrap().as_str(),
            "https://other.example/"
        );
        assert_eq!(robot_diracx(&entry(Some("lhcb")), &two).unwrap(), default);
        assert!(robot_diracx(&entry(None), &two).unwrap_err().contains("give it a `site`"));
        assert!(robot_diracx(&entry(Some("nope")), &two).unwrap_err().contains("not served"));
    }
}
