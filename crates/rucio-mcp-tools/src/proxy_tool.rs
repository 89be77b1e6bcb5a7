//! `rucio_voms_proxy_info`: the proxy file read by us, not by running `voms-proxy-info`, so it works
//! wherever the server runs and even when the proxy is too broken for a Rucio login.

use rucio_client::{Environment, RucioConfig};
use serde_json::json;

use crate::errors::{ErrorCategory, ToolError};
use crate::proxy_info::{locate_proxy, read_proxy_info};
use crate::tools::ToolOutput;

pub(crate) fn voms_proxy_info(config: &RucioConfig) -> Result<ToolOutput, ToolError> {
    let env = Environment::from_process();
    let var = |k: &str| env.var(k).map(str::to_owned);
    let configured = config.client_x509_proxy.as_deref();
    let Some(path) = locate_proxy(&var, configured, env.uid()) else {
        return Err(ToolError::new(
            ErrorCategory::SslProxy,
            "no grid proxy found: $RUCIO_CLIENT_PROXY, client_x509_proxy, $X509_USER_PROXY and /tmp/x509up_u<uid> are all unset or missing",
            "Create a proxy with `voms-proxy-init -voms <vo> -bits 2048` on the machine where this server runs, or set X509_USER_PROXY.",
        ));
    };
    let info = read_proxy_info(&path).map_err(|e| {
        ToolError::new(
            ErrorCategory::SslProxy,
            e.to_string(),
            "Create a fresh proxy with `voms-proxy-init -voms <vo> -bits 2048`.",
        )
    })?;
    let now = chrono::Utc::now();
    let output = info.to_markdown(now);
    Ok(ToolOutput { text: output.clone(), structured: json!({ "output": output }) })
}
