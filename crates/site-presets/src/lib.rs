//! The built-in site presets of rucio-mcp: named bundles of Rucio client
//! configuration (a `rucio.cfg` text plus a little metadata) for the Rucio
//! instances users most often connect to. The `rucio.cfg` texts live in the
//! repository's `presets/` directory and are embedded here with
//! `include_str!`, so the binary carries them and the files stay the single
//! source of truth. This crate is plain data: it must not depend on the
//! network, on a Rucio client, or on MCP, so that anything (CLI, server,
//! tests, docs tooling) can use it cheaply.

use std::fmt;

/// An authentication method, spelled as Rucio spells it in `auth_type`.
///
/// Kept as an enum so callers can decide behaviour (e.g. whether HTTP
/// multi-user mode is possible) without comparing strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthType {
    /// OpenID Connect tokens (`oidc`).
    Oidc,
    /// A grid proxy certificate (`x509_proxy`).
    X509Proxy,
    /// A user certificate and key (`x509`).
    X509,
    /// Username and password (`userpass`), Rucio's default when unset.
    UserPass,
}

impl AuthType {
    /// Rucio's spelling, as used for `auth_type` in `rucio.cfg`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Oidc => "oidc",
            Self::X509Proxy => "x509_proxy",
            Self::X509 => "x509",
            Self::UserPass => "userpass",
        }
    }
}

impl fmt::Display for AuthType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One named site preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preset {
    /// The name users type (`--site NAME`); lower case, unique.
    pub name: &'static str,
    /// One short line for listings.
    pub description: &'static str,
    /// The complete `rucio.cfg` text, exactly as in `presets/NAME.cfg`.
    pub rucio_cfg: &'static str,
    /// The authentication methods this preset is set up for; the first is
    /// the one its `rucio.cfg` selects.
    pub auth_types: &'static [AuthType],
    /// Whether the preset can serve several users over HTTP. That mode
    /// needs per-user OIDC tokens, so it is true exactly for OIDC presets.
    pub multi_user_http: bool,
}

impl Preset {
    /// The `rucio_host` URL from the `[client]` section of the cfg text.
    ///
    /// Parsed here (rather than stored twice) so the cfg file stays the
    /// single source of truth.
    #[must_use]
    pub fn rucio_host(&self) -> Option<&'static str> {
        client_value(self.rucio_cfg, "rucio_host")
    }
}

/// Looks up `key` in the `[client]` section of an INI-style text.
///
/// Deliberately minimal: `key = value` lines, optional spaces around `=`,
/// `#`/`;` comment lines skipped. Enough for our own preset files.
fn client_value(cfg: &'static str, key: &str) -> Option<&'static str> {
    let mut in_client = false;
    for line in cfg.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            in_client = section.trim() == "client";
            continue;
        }
        if !in_client {
            continue;
        }
        if let Some((k, v)) = line.split_once('=')
            && k.trim() == key
        {
            return Some(v.trim());
        }
    }
    None
}

/// The preset used when the user names none: ESCAPE is the open research
/// environment, so it is the least surprising place to start.
pub const DEFAULT_PRESET: &str = "escape";

const OIDC: &[AuthType] = &[AuthType::Oidc];
const X509_PROXY: &[AuthType] = &[AuthType::X509Proxy];

static PRESETS: [Preset; 6] = [
    Preset {
        name: "escape",
        description: "ESCAPE Virtual Research Environment (vre-rucio.cern.ch), OIDC via ESCAPE IAM",
        rucio_cfg: include_str!("../../../presets/escape.cfg"),
        auth_types: OIDC,
        multi_user_http: true,
    },
    Preset {
        name: "atlas",
        description: "ATLAS (CERN), OIDC via ATLAS IAM",
        rucio_cfg: include_str!("../../../presets/atlas.cfg"),
        auth_types: OIDC,
        multi_user_http: true,
    },
    Preset {
        name: "atlas-x509",
        description: "ATLAS (CERN) with a grid proxy (x509_proxy)",
        rucio_cfg: include_str!("../../../presets/atlas-x509.cfg"),
        auth_types: X509_PROXY,
        multi_user_http: false,
    },
    Preset {
        name: "cms",
        description: "CMS (CERN), OIDC via CMS IAM",
        rucio_cfg: include_str!("../../../presets/cms.cfg"),
        auth_types: OIDC,
        multi_user_http: true,
    },
    Preset {
        name: "cms-x509",
        description: "CMS (CERN) with a grid proxy (x509_proxy)",
        rucio_cfg: include_str!("../../../presets/cms-x509.cfg"),
        auth_types: X509_PROXY,
        multi_user_http: false,
    },
    Preset {
        name: "dune",
        description: "DUNE (FNAL), OIDC via CILogon/WLCG tokens",
        rucio_cfg: include_str!("../../../presets/dune.cfg"),
        auth_types: OIDC,
        multi_user_http: true,
    },
];

/// All built-in presets, in display order (default first).
#[must_use]
pub fn all() -> &'static [Preset] {
    &PRESETS
}

/// A site name that matches no preset. The message lists the known names
/// so the user can correct a typo without looking anything up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown site '{name}': known sites are {known}")]
pub struct UnknownPreset {
    /// The name as given.
    pub name: String,
    /// The known names, comma separated.
    known: String,
}

/// Finds a preset by name, ignoring ASCII case (users type `ATLAS` too).
///
/// # Errors
///
/// [`UnknownPreset`] when no preset has that name.
pub fn find(name: &str) -> Result<&'static Preset, UnknownPreset> {
    let wanted = name.trim();
    all().iter().find(|p| p.name.eq_ignore_ascii_case(wanted)).ok_or_else(|| UnknownPreset {
        name: name.to_owned(),
        known: all().iter().map(|p| p.name).collect::<Vec<_>>().join(", "),
    })
}

/// Renders the presets as an aligned table, marking the default with `*`.
pub fn listing(presets: &[Preset]) -> String {
    let header = ["NAME", "AUTH", "MULTI-USER HTTP", "DESCRIPTION"];
    let rows: Vec<[String; 4]> = presets
        .iter()
        .map(|p| {
            let marker = if p.name == DEFAULT_PRESET { " *" } else { "" };
            let auth: Vec<&str> = p.auth_types.iter().map(|a| a.as_str()).collect();
            [
                format!("{}{marker}", p.name),
                auth.join(","),
                if p.multi_user_http { "yes" } else { "no" }.to_owned(),
                p.description.to_owned(),
            ]
        })
        .collect();

    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }

    let mut out = String::new();
    let header = header.map(str::to_owned);
    for row in std::iter::once(&header).chain(&rows) {
        let [name, auth, multi, desc] = row;
        out.push_str(&format!(
            "{name:<w0$}  {auth:<w1$}  {multi:<w2$}  {desc}\n",
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
        ));
    }
    out.push_str("\n* default site\n");
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use std::collections::HashSet;

    #[test]
    fn order_and_default() {
        let names: Vec<_> = all().iter().map(|p| p.name).collect();
        assert_eq!(names, ["escape", "atlas", "atlas-x509", "cms", "cms-x509", "dune"]);
        assert_eq!(find(DEFAULT_PRESET).unwrap().name, DEFAULT_PRESET);
    }

    #[test]
    fn every_cfg_has_client_hosts() {
        for p in all() {
            assert!(
                p.rucio_cfg.lines().any(|l| l.trim() == "[client]"),
                "{}: no [client] section",
                p.name
            );
            let rucio = p.rucio_host().unwrap_or_else(|| panic!("{}: no rucio_host", p.name));
            let auth = client_value(p.rucio_cfg, "auth_host")
                .unwrap_or_else(|| panic!("{}: no auth_host", p.name));
            assert!(rucio.starts_with("https://"), "{}: {rucio}", p.name);
            assert!(auth.starts_with("https://"), "{}: {auth}", p.name);
        }
    }

    #[test]
    fn cfg_auth_type_matches_first_auth_type() {
        for p in all() {
            assert_eq!(
                client_value(p.rucio_cfg, "auth_type"),
                Some(p.auth_types[0].as_str()),
                "{}",
                p.name
            );
        }
    }

    #[test]
    fn names_are_unique_and_lower_case() {
        let mut seen = HashSet::new();
        for p in all() {
            assert!(seen.insert(p.name), "duplicate preset {}", p.name);
            assert_eq!(p.name, p.name.to_ascii_lowercase());
            assert!(!p.description.is_empty());
            assert!(!p.auth_types.is_empty());
        }
    }

    #[test]
    fn find_is_case_insensitive() {
        assert_eq!(find("ATLAS").unwrap().name, "atlas");
        assert_eq!(find("Cms-X509").unwrap().name, "cms-x509");
        assert_eq!(find("escape").unwrap().name, "escape");
    }

    #[test]
    fn unknown_name_lists_all_names() {
        let err = find("foo").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown site 'foo': known sites are escape, atlas, atlas-x509, cms, cms-x509, dune"
        );
    }

    #[test]
    fn x509_presets_share_hosts_with_base() {
        for (x509, base) in [("atlas-x509", "atlas"), ("cms-x509", "cms")] {
            let (x, b) = (find(x509).unwrap(), find(base).unwrap());
            assert_eq!(x.rucio_host(), b.rucio_host());
            assert_eq!(
                client_value(x.rucio_cfg, "auth_host"),
                client_value(b.rucio_cfg, "auth_host")
            );
            assert!(!x.rucio_cfg.contains("oidc_"), "{x509} has oidc keys");
        }
    }

    #[test]
    fn multi_user_http_iff_oidc() {
        for p in all() {
            assert_eq!(p.multi_user_http, p.auth_types.contains(&AuthType::Oidc), "{}", p.name);
        }
    }

    #[test]
    fn rucio_host_parsing() {
        assert_eq!(
            find("atlas").unwrap().rucio_host(),
            Some("https://voatlasrucio-server-prod.cern.ch:443")
        );
        // Keys outside [client] are ignored; spacing around '=' is optional.
        let cfg = "[common]\nrucio_host = https://wrong\n[client]\nrucio_host=https://right\n";
        assert_eq!(client_value(cfg, "rucio_host"), Some("https://right"));
        assert_eq!(client_value(cfg, "auth_host"), None);
    }

    #[test]
    fn auth_type_spelling() {
        assert_eq!(AuthType::X509Proxy.to_string(), "x509_proxy");
        assert_eq!(AuthType::UserPass.as_str(), "userpass");
    }
}
