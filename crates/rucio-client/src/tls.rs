//! The rustls configuration, built by hand for two reasons: grid proxy certificates carry a
//! critical extension that reqwest's `Identity` path rejects, and grid hosts keep their CAs as a
//! directory of hashed files (`X509_CERT_DIR`) that reqwest cannot load.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::SignatureScheme;
use rustls::client::ResolvesClientCert;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::{AuthType, RucioConfig};
use crate::error::{Error, Result};

/// Client certificate and key for x509 and x509_proxy authentication.
#[derive(Debug)]
pub(crate) struct ClientIdentity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    source: PathBuf,
}

impl ClientIdentity {
    /// Reads the identity the configuration names for its auth type, if it uses one.
    pub(crate) fn from_config(config: &RucioConfig) -> Result<Option<Self>> {
        match config.auth_type {
            AuthType::X509 => {
                let cert = config
                    .client_cert
                    .as_deref()
                    .ok_or_else(|| Error::Credentials("x509 needs client_cert".into()))?;
                let key = config.client_key.as_deref().unwrap_or(cert);
                Self::read(cert, key).map(Some)
            }
            AuthType::X509Proxy => {
                let proxy = config
                    .client_x509_proxy
                    .as_deref()
                    .ok_or_else(|| {
                        Error::Credentials(
                            "no grid proxy found (checked RUCIO_CLIENT_PROXY, client_x509_proxy, X509_USER_PROXY and \
                             /tmp/x509up_u<uid>): create one with `voms-proxy-init -voms <vo> -bits 2048`"
                                .into(),
                        )
                    })?;
                // A proxy file holds the proxy certificate, its key and the chain up to the user certificate.
                Self::read(proxy, proxy).map(Some)
            }
            _ => Ok(None),
        }
    }

    fn read(cert_path: &Path, key_path: &Path) -> Result<Self> {
        let unreadable = |path: &Path, what: &str, e: &dyn std::fmt::Display| {
            Error::Credentials(format!("cannot read the {what} {}: {e}", path.display()))
        };
        let chain = CertificateDer::pem_file_iter(cert_path)
            .map_err(|e| unreadable(cert_path, "certificate", &e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| unreadable(cert_path, "certificate", &e))?;
        if chain.is_empty() {
            return Err(Error::Credentials(format!(
                "{} holds no PEM certificate",
                cert_path.display()
            )));
        }
        let key = PrivateKeyDer::from_pem_file(key_path)
            .map_err(|e| unreadable(key_path, "private key", &e))?;
        Ok(Self { chain, key, source: cert_path.to_owned() })
    }
}

/// Builds the TLS configuration: system roots, `ca_cert`, `X509_CERT_DIR`, and the client identity.
pub(crate) fn client_config(
    config: &RucioConfig,
    identity: Option<ClientIdentity>,
) -> Result<rustls::ClientConfig> {
    let mut roots = RootCertStore::empty();
    // The system store may be empty in minimal containers; explicit CAs below still work then.
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    for path in [&config.ca_cert, &config.ca_cert_dir].into_iter().flatten() {
        add_ca_path(&mut roots, path)?;
    }
    if roots.is_empty() {
        return Err(Error::Credentials(
            "no trusted CA certificates: the system store is empty and neither ca_cert nor X509_CERT_DIR is set".into(),
        ));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Credentials(format!("TLS setup failed: {e}")))?
        .with_root_certificates(roots);
    let mut tls = match identity {
        None => builder.with_no_client_auth(),
        Some(id) => {
            let key = provider.key_provider.load_private_key(id.key).map_err(|e| {
                Error::Credentials(format!(
                    "the private key in {} cannot be used ({e}): RSA keys need at least 2048 bits, so create \
                     the proxy with `voms-proxy-init -bits 2048` (or `grid-proxy-init -bits 2048`)",
                    id.source.display()
                ))
            })?;
            // `with_client_auth_cert` parses the certificate with webpki, which rejects the critical
            // proxyCertInfo extension of grid proxies; the server, not us, judges the chain.
            let certified = Arc::new(CertifiedKey::new(id.chain, key));
            builder.with_client_cert_resolver(Arc::new(FixedClientCert(certified)))
        }
    };
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tls)
}

/// Presents the one configured certificate chain whenever the server asks.
#[derive(Debug)]
struct FixedClientCert(Arc<CertifiedKey>);

impl ResolvesClientCert for FixedClientCert {
    fn resolve(
        &self,
        _acceptable_issuers: &[&[u8]],
        _schemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Adds a PEM bundle, or every CA file of a directory (hashed names like `a1b2c3d4.0`, or `.pem`/`.crt`).
fn add_ca_path(roots: &mut RootCertStore, path: &Path) -> Result<()> {
    let cannot = |e: &dyn std::fmt::Display| {
        Error::Credentials(format!("cannot read CA certificates from {}: {e}", path.display()))
    };
    if path.is_dir() {
        let entries = std::fs::read_dir(path).map_err(|e| cannot(&e))?;
        for entry in entries.flatten() {
            let file = entry.path();
            if is_ca_file_name(&file)
                && let Ok(certs) = CertificateDer::pem_file_iter(&file)
            {
                roots.add_parsable_certificates(certs.flatten());
            }
        }
        Ok(())
    } else {
        let certs = CertificateDer::pem_file_iter(path).map_err(|e| cannot(&e))?;
        let (added, _) = roots.add_parsable_certificates(certs.flatten());
        if added == 0 { Err(cannot(&"no PEM certificate in it")) } else { Ok(()) }
    }
}

fn is_ca_file_name(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    if name.ends_with(".pem") || name.ends_with(".crt") {
        return true;
    }
    // OpenSSL's c_rehash layout: 8 hex digits, a dot, a number (`.r0` files are CRLs and skipped).
    match name.split_once('.') {
        Some((hash, n)) => {
            hash.len() == 8
                && hash.chars().all(|c| c.is_ascii_hexdigit())
                && n.parse::<u32>().is_ok()
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_ca_names() {
        assert!(is_ca_file_name(Path::new("/x/1a2b3c4d.0")));
        assert!(is_ca_file_name(Path::new("/x/CERN-Root.pem")));
        assert!(!is_ca_file_name(Path::new("/x/1a2b3c4d.r0")));
        assert!(!is_ca_file_name(Path::new("/x/1a2b3c4d.signing_policy")));
        assert!(!is_ca_file_name(Path::new("/x/README")));
    }
}
