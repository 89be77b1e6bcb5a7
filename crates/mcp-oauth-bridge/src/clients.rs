//! Who may ask for tokens (DESIGN decision 4): clients described by a metadata document at their
//! https `client_id` (CIMD), clients registered dynamically (stateless: the `client_id` is the
//! sealed registration), and static clients from the operator's configuration.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use url::Url;

use crate::seal::{KeySet, Purpose};

/// A client as the authorization endpoint sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientInfo {
    pub client_id: String,
    /// What the consent page calls it (the client's own claim: shown, never trusted).
    pub name: Option<String>,
    pub redirect_uris: Vec<String>,
    pub kind: ClientKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientKind {
    Static,
    Registered,
    MetadataDocument,
}

/// A client the operator registered in advance.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct StaticClient {
    pub client_id: String,
    #[serde(default)]
    pub client_name: Option<String>,
    pub redirect_uris: Vec<String>,
}

/// The sealed content of a dynamically registered `client_id`.
#[derive(Debug, Deserialize, Serialize)]
pub(crate) struct Registration {
    #[serde(rename = "n", default, skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    #[serde(rename = "r")]
    pub(crate) redirect_uris: Vec<String>,
    #[serde(rename = "t")]
    pub(crate) issued_at: i64,
}

/// Registered client ids start with this, so they are told apart from static ids and URLs.
pub(crate) const REGISTERED_PREFIX: &str = "mcp-dcr.";

/// Why a redirect URI is refused at registration.
pub(crate) fn check_redirect_uri(uri: &str) -> Result<(), String> {
    let url = Url::parse(uri).map_err(|_| format!("`{uri}` is not an absolute URI"))?;
    if url.fragment().is_some() {
        return Err(format!("`{uri}` has a fragment, which redirect URIs must not have"));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback_url(&url) => Ok(()),
        "http" => Err(format!("`{uri}`: plain http is only allowed for loopback addresses")),
        "javascript" | "data" | "vbscript" | "file" | "blob" | "about" | "ftp" | "ws" | "wss" => {
            Err(format!("`{uri}` uses a scheme that is never a valid redirect"))
        }
        // Private-use schemes of native apps (cursor://, vscode://, com.example.app:/...).
        scheme if scheme.contains('.') || url.has_host() || uri.contains(":/") => Ok(()),
        _ => Err(format!("`{uri}` is not a usable redirect URI")),
    }
}

fn is_loopback_url(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

impl ClientInfo {
    /// Whether `requested` is one of the client's redirect URIs: exact, except that a loopback
    /// http URI may use any port (RFC 8252 §7.3: native apps pick a free port per login).
    pub fn allows_redirect(&self, requested: &str) -> bool {
        self.redirect_uris.iter().any(|registered| {
            registered == requested || same_but_loopback_port(registered, requested)
        })
    }

    /// The only redirect URI, which `/authorize` may assume when the request names none.
    pub fn sole_redirect(&self) -> Option<&str> {
        match self.redirect_uris.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }
}

fn same_but_loopback_port(registered: &str, requested: &str) -> bool {
    let (Ok(mut a), Ok(mut b)) = (Url::parse(registered), Url::parse(requested)) else {
        return false;
    };
    if a.scheme() != "http" || !is_loopback_url(&a) || !is_loopback_url(&b) {
        return false;
    }
    if a.host() != b.host() {
        return false;
    }
    a.set_port(None).is_ok() && b.set_port(None).is_ok() && a == b
}

/// Limits of a client metadata document fetch.
const CIMD_TIMEOUT: Duration = Duration::from_secs(10);
const CIMD_MAX_BYTES: usize = 64 * 1024;
const CIMD_CACHE_TTL: Duration = Duration::from_secs(600);
const CIMD_CACHE_MAX: usize = 1024;

/// The document a CIMD client publishes at its `client_id` URL.
#[derive(Debug, Deserialize)]
struct MetadataDocument {
    client_id: String,
    #[serde(default)]
    client_name: Option<String>,
    #[serde(default)]
    redirect_uris: Vec<String>,
}

/// Fetches client metadata documents from the internet without letting a `client_id` reach
/// inside the operator's network (SSRF): only public addresses, pinned after the check, no
/// redirects, small and quick, cached.
#[derive(Clone)]
pub struct MetadataFetcher {
    allow_loopback: bool,
    cache: Arc<Mutex<HashMap<String, (ClientInfo, Instant)>>>,
}

impl std::fmt::Debug for MetadataFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataFetcher").field("allow_loopback", &self.allow_loopback).finish()
    }
}

/// An address a metadata fetch may connect to.
pub(crate) fn is_public(ip: IpAddr, allow_loopback: bool) -> bool {
    if ip.is_loopback() {
        return allow_loopback;
    }
    let blocked: &[&str] = &[
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/3",
        "::/128",
        "::ffff:0:0/96",
        "64:ff9b::/96",
        "100::/64",
        "2001:db8::/32",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
    ];
    if let IpAddr::V6(v6) = ip
        && let Some(v4) = v6.to_ipv4_mapped()
    {
        return is_public(IpAddr::V4(v4), allow_loopback);
    }
    !blocked.iter().filter_map(|net| net.parse::<ipnet::IpNet>().ok()).any(|net| net.contains(&ip))
}

impl MetadataFetcher {
    /// `allow_loopback` lets tests serve documents from `https://127.0.0.1` (never in production).
    pub fn new(allow_loopback: bool) -> Self {
        Self { allow_loopback, cache: Arc::default() }
    }

    /// Whether `client_id` names a metadata document (an https URL with a path).
    pub fn is_metadata_url(client_id: &str) -> bool {
        Url::parse(client_id)
            .is_ok_and(|u| u.scheme() == "https" && u.path() != "/" && u.has_host())
    }

    /// The client described at `client_id`.
    pub async fn fetch(&self, client_id: &str) -> Result<ClientInfo, String> {
        if let Some(info) = self.cached(client_id) {
            return Ok(info);
        }
        let url = Url::parse(client_id).map_err(|_| "the client_id is not a URL".to_owned())?;
        let host = url.host_str().ok_or("the client_id URL has no host")?.to_owned();
        let port = url.port_or_known_default().unwrap_or(443);
        let addrs: Vec<_> = match url.host() {
            Some(url::Host::Ipv4(ip)) => vec![(IpAddr::V4(ip), port).into()],
            Some(url::Host::Ipv6(ip)) => vec![(IpAddr::V6(ip), port).into()],
            _ => tokio::time::timeout(CIMD_TIMEOUT, tokio::net::lookup_host((host.as_str(), port)))
                .await
                .map_err(|_| format!("looking up {host} timed out"))?
                .map_err(|_| format!("cannot resolve {host}"))?
                .collect(),
        };
        if addrs.is_empty()
            || addrs.iter().any(|a: &std::net::SocketAddr| !is_public(a.ip(), self.allow_loopback))
        {
            return Err(format!(
                "{host} is not a public address; client metadata is only fetched from the internet"
            ));
        }
        let document = self.download(&url, &host, &addrs).await?;
        let document: MetadataDocument = serde_json::from_slice(&document)
            .map_err(|e| format!("the client metadata document is not valid JSON: {e}"))?;
        if document.client_id != client_id {
            return Err("the client metadata document names another client_id".into());
        }
        if document.redirect_uris.is_empty() {
            return Err("the client metadata document lists no redirect_uris".into());
        }
        for uri in &document.redirect_uris {
            check_redirect_uri(uri)?;
        }
        let info = ClientInfo {
            client_id: client_id.to_owned(),
            name: document.client_name,
            redirect_uris: document.redirect_uris,
            kind: ClientKind::MetadataDocument,
        };
        self.remember(&info);
        Ok(info)
    }

    async fn download(
        &self,
        url: &Url,
        host: &str,
        addrs: &[std::net::SocketAddr],
    ) -> Result<Vec<u8>, String> {
        // Connect to exactly the addresses checked above (no second lookup to rebind).
        let pinned = pinned_client(host, addrs)?;
        let request = pinned.get(url.clone()).header(http::header::ACCEPT, "application/json");
        let fetch = async {
            let mut response = request.send().await.map_err(|e| {
                if e.is_redirect() {
                    "the client metadata URL redirects, which is not allowed".to_owned()
                } else {
                    format!("cannot fetch the client metadata document: {}", without_url(&e))
                }
            })?;
            if !response.status().is_success() {
                return Err(format!(
                    "the client metadata URL answered HTTP {}",
                    response.status().as_u16()
                ));
            }
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(|e| without_url(&e))? {
                body.extend_from_slice(&chunk);
                if body.len() > CIMD_MAX_BYTES {
                    return Err(format!(
                        "the client metadata document is larger than {} KiB",
                        CIMD_MAX_BYTES / 1024
                    ));
                }
            }
            Ok(body)
        };
        tokio::time::timeout(CIMD_TIMEOUT, fetch)
            .await
            .map_err(|_| "fetching the client metadata document timed out".to_owned())?
    }

    fn cached(&self, client_id: &str) -> Option<ClientInfo> {
        let cache = self.cache.lock().ok()?;
        cache
            .get(client_id)
            .filter(|(_, at)| at.elapsed() < CIMD_CACHE_TTL)
            .map(|(info, _)| info.clone())
    }

    fn remember(&self, info: &ClientInfo) {
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CIMD_CACHE_MAX {
                cache.retain(|_, (_, at)| at.elapsed() < CIMD_CACHE_TTL);
                if cache.len() >= CIMD_CACHE_MAX {
                    cache.clear();
                }
            }
            cache.insert(info.client_id.clone(), (info.clone(), Instant::now()));
        }
    }
}

fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "the client metadata URL");
    }
    text
}

/// A client that resolves `host` to the checked addresses only. Cheap: it shares nothing but
/// the configuration, and CIMD fetches are rare (cached).
fn pinned_client(host: &str, addrs: &[std::net::SocketAddr]) -> Result<reqwest::Client, String> {
    crate::http_client::builder()
        .map_err(|e| e.to_string())?
        .redirect(reqwest::redirect::Policy::none())
        .resolve_to_addrs(host, addrs)
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// Resolves a `client_id` presented at `/authorize` or `/token`.
pub(crate) async fn resolve(
    client_id: &str,
    keys: &KeySet,
    statics: &[StaticClient],
    fetcher: &MetadataFetcher,
) -> Result<ClientInfo, String> {
    if let Some(client) = statics.iter().find(|c| c.client_id == client_id) {
        return Ok(ClientInfo {
            client_id: client.client_id.clone(),
            name: client.client_name.clone(),
            redirect_uris: client.redirect_uris.clone(),
            kind: ClientKind::Static,
        });
    }
    if let Some(sealed) = client_id.strip_prefix(REGISTERED_PREFIX) {
        let registration: Registration = keys
            .open(Purpose::Client, sealed)
            .ok_or("this client_id was not issued by this server (or its key was retired)")?;
        return Ok(ClientInfo {
            client_id: client_id.to_owned(),
            name: registration.name,
            redirect_uris: registration.redirect_uris,
            kind: ClientKind::Registered,
        });
    }
    if MetadataFetcher::is_metadata_url(client_id) {
        return fetcher.fetch(client_id).await;
    }
    Err("unknown client_id: register at the registration endpoint, or use an https client metadata URL".into())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn client(uris: &[&str]) -> ClientInfo {
        ClientInfo {
            client_id: "c".into(),
            name: None,
            redirect_uris: uris.iter().map(|u| (*u).to_owned()).collect(),
            kind: ClientKind::Static,
        }
    }

    #[test]
    fn redirects_match_exactly_but_loopback_ports_may_vary() {
        let c = client(&["http://127.0.0.1:3000/callback", "https://app.example/cb"]);
        assert!(c.allows_redirect("http://127.0.0.1:3000/callback"));
        assert!(c.allows_redirect("http://127.0.0.1:51234/callback"));
        assert!(!c.allows_redirect("http://127.0.0.1:51234/other"));
        assert!(!c.allows_redirect("http://localhost:3000/callback"));
        assert!(c.allows_redirect("https://app.example/cb"));
        assert!(!c.allows_redirect("https://app.example:444/cb"));
        assert!(!c.allows_redirect("https://app.example/cb?x=1"));
        assert!(!c.allows_redirect("https://evil.example/cb"));
    }

    #[test]
    fn dangerous_redirects_are_refused_at_registration() {
        for bad in [
            "javascript:alert(1)",
            "data:text/html,hi",
            "http://app.example/cb",
            "https://app.example/cb#frag",
            "file:///etc/passwd",
            "relative/path",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad} should be refused");
        }
        for good in [
            "https://app.example/cb",
            "http://127.0.0.1:8080/cb",
            "http://localhost/cb",
            "http://[::1]:9/cb",
            "cursor://anysphere.cursor-retrieval/oauth/callback",
            "com.example.app:/oauth",
        ] {
            assert!(check_redirect_uri(good).is_ok(), "{good} should be accepted");
        }
    }

    #[test]
    fn only_public_addresses_are_fetched() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.1.1",
            "169.254.169.254",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "100.64.0.1",
            "0.0.0.0",
        ] {
            assert!(!is_public(private.parse().unwrap(), false), "{private}");
        }
        assert!(is_public("127.0.0.1".parse().unwrap(), true));
        assert!(!is_public("10.0.0.1".parse().unwrap(), true));
        for public in ["8.8.8.8", "2001:4860:4860::8888", "188.184.21.108"] {
            assert!(is_public(public.parse().unwrap(), false), "{public}");
        }
    }

    #[test]
    fn metadata_urls_are_https_with_a_path() {
        assert!(MetadataFetcher::is_metadata_url("https://app.example/client.json"));
        assert!(!MetadataFetcher::is_metadata_url("https://app.example/"));
        assert!(!MetadataFetcher::is_metadata_url("http://app.example/client.json"));
        assert!(!MetadataFetcher::is_metadata_url("mcp-dcr.abc"));
    }
}
