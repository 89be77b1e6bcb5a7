//! The bridge's outgoing HTTP (client metadata documents, OIDC upstreams): system roots plus
//! `SSL_CERT_FILE` / `SSL_CERT_DIR` (read by rustls-native-certs), rustls on aws-lc.

use std::time::Duration;

use crate::error::ConfigError;

/// A reqwest builder with the bridge's TLS roots and timeouts.
pub fn builder() -> Result<reqwest::ClientBuilder, ConfigError> {
    Ok(outbound_http::client_builder(concat!("mcp-oauth-bridge/", env!("CARGO_PKG_VERSION")))
        .map_err(|e| ConfigError::Invalid(e.to_string()))?
        .timeout(Duration::from_secs(30)))
}
