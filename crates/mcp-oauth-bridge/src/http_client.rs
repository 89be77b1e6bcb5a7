//! The bridge's outgoing HTTP (client metadata documents, OIDC upstreams): system roots plus
//! `SSL_CERT_FILE` / `SSL_CERT_DIR` (read by rustls-native-certs), rustls on aws-lc.

use std::sync::Arc;
use std::time::Duration;

use crate::error::ConfigError;

/// A reqwest builder with the bridge's TLS roots and timeouts.
pub fn builder() -> Result<reqwest::ClientBuilder, ConfigError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::Invalid(format!("TLS setup failed: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .user_agent(concat!("mcp-oauth-bridge/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30)))
}
