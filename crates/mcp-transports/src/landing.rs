//! The landing page at `/`: which sites this server has, the URL to give an MCP client, and
//! ready-to-paste setup for the common clients. It never shows a secret, only where one goes.

use std::fmt::Write as _;

use axum::response::{Html, IntoResponse, Response};
use http::{HeaderValue, header};

/// How a client gets in to a site, which decides the setup shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SiteAccess {
    /// No credentials (test builds only).
    Open,
    /// `Authorization: Bearer <shared secret>` on every request.
    SharedSecret,
    /// OAuth: the client opens a browser login by itself.
    OAuth,
    /// OAuth at the institution's authorization server (resource-server mode): clients that
    /// sign in by themselves need a client registered there; `mcp-auth-proxy` does it for the
    /// others.
    ResourceServer,
}

/// What the landing page lists.
#[derive(Clone, Debug)]
pub struct LandingPage {
    pub product: String,
    pub version: String,
    /// (name, description, access, MCP URL)
    pub sites: Vec<(String, String, SiteAccess, String)>,
}

/// The environment variable the snippets read the secret from.
const TOKEN_VARIABLE: &str = "MCP_BEARER_TOKEN";

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Setup snippets per client: (client, where it goes, text).
fn snippets(
    server: &str,
    url: &str,
    access: SiteAccess,
) -> Vec<(&'static str, &'static str, String)> {
    let bearer = access == SiteAccess::SharedSecret;
    let v = TOKEN_VARIABLE;
    let mut list = Vec::new();
    let claude_code = if bearer {
        format!(
            "claude mcp add --transport http {server} {url} --header \"Authorization: Bearer ${v}\""
        )
    } else {
        format!("claude mcp add --transport http {server} {url}")
    };
    list.push(("Claude Code", "in a terminal", claude_code));
    let desktop = if access == SiteAccess::ResourceServer {
        format!(
            "{{\n  \"mcpServers\": {{\n    \"{server}\": {{\n      \"command\": \"mcp-auth-proxy\",\n      \"args\": [\"{url}\"]\n    }}\n  }}\n}}"
        )
    } else if bearer {
        format!(
            "{{\n  \"mcpServers\": {{\n    \"{server}\": {{\n      \"command\": \"npx\",\n      \"args\": [\"-y\", \"mcp-remote\", \"{url}\", \"--header\", \"Authorization:${{AUTH}}\"],\n      \"env\": {{ \"AUTH\": \"Bearer <your token>\" }}\n    }}\n  }}\n}}"
        )
    } else {
        format!("Settings → Connectors → Add custom connector → URL: {url}")
    };
    list.push((
        "Claude Desktop",
        if bearer || access == SiteAccess::ResourceServer {
            "claude_desktop_config.json"
        } else {
            "the app"
        },
        desktop,
    ));
    let headers = |indent: &str, value: &str| {
        if bearer {
            format!(",\n{indent}\"headers\": {{ \"Authorization\": \"{value}\" }}")
        } else {
            String::new()
        }
    };
    let vscode_inputs = if bearer {
        ",\n  \"inputs\": [{ \"type\": \"promptString\", \"id\": \"mcp-token\", \"description\": \"Bearer token\", \"password\": true }]"
    } else {
        ""
    };
    list.push((
        "VS Code",
        ".vscode/mcp.json",
        format!(
            "{{\n  \"servers\": {{\n    \"{server}\": {{\n      \"type\": \"http\",\n      \"url\": \"{url}\"{}\n    }}\n  }}{vscode_inputs}\n}}",
            headers("      ", "Bearer ${input:mcp-token}")
        ),
    ));
    list.push((
        "Cursor",
        "~/.cursor/mcp.json",
        format!(
            "{{\n  \"mcpServers\": {{\n    \"{server}\": {{\n      \"url\": \"{url}\"{}\n    }}\n  }}\n}}",
            headers("      ", &format!("Bearer ${{env:{v}}}"))
        ),
    ));
    let codex_auth =
        if bearer { format!("\nbearer_token_env_var = \"{v}\"") } else { String::new() };
    list.push((
        "Codex",
        "~/.codex/config.toml",
        format!("[mcp_servers.{server}]\nurl = \"{url}\"{codex_auth}"),
    ));
    list.push((
        "Gemini CLI",
        "~/.gemini/settings.json",
        format!(
            "{{\n  \"mcpServers\": {{\n    \"{server}\": {{\n      \"httpUrl\": \"{url}\"{}\n    }}\n  }}\n}}",
            headers("      ", &format!("Bearer ${v}"))
        ),
    ));
    list
}

impl LandingPage {
    pub fn render(&self) -> String {
        let product = escape(&self.product);
        let mut html = format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{product}</title><style>\
             body{{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#1b1f24}}\
             code,pre{{background:#f3f4f6;border-radius:4px}}pre{{padding:.6rem;overflow-x:auto}}\
             h2{{border-bottom:1px solid #d0d7de;padding-bottom:.2rem}}details{{margin:.3rem 0}}\
             .url{{font-size:1.1rem}}</style></head><body>\n\
             <h1>{product} <small>{}</small></h1>\n\
             <p>An MCP server: give one of the URLs below to your AI assistant's MCP client.</p>\n",
            escape(&self.version)
        );
        for (name, description, access, url) in &self.sites {
            let server = format!("{}-{}", self.product, name);
            let _ = write!(
                html,
                "<h2>Site <code>{}</code></h2>\n<p>{}</p>\n<p class=\"url\">MCP URL: <code>{}</code></p>\n",
                escape(name),
                escape(description),
                escape(url)
            );
            let how = match access {
                SiteAccess::SharedSecret => format!(
                    "Every request needs <code>Authorization: Bearer &lt;token&gt;</code>; ask the operator of this server for the token and put it in <code>${TOKEN_VARIABLE}</code>."
                ),
                SiteAccess::OAuth => "Your client opens a browser window to sign in the first time; no token to copy.".to_owned(),
                SiteAccess::ResourceServer => "Sign in with your institution's account: clients that run OAuth themselves open a browser window the first time; for the others, <code>mcp-auth-proxy</code> does it on your machine.".to_owned(),
                SiteAccess::Open => "No credentials needed.".to_owned(),
            };
            let _ = writeln!(html, "<p>{how}</p>");
            for (client, place, text) in snippets(&server, url, *access) {
                let _ = writeln!(
                    html,
                    "<details><summary>{client} <small>({})</small></summary><pre><code>{}</code></pre></details>",
                    escape(place),
                    escape(&text)
                );
            }
        }
        html.push_str("<p><small>Health: <a href=\"/healthz\">/healthz</a> · readiness: <a href=\"/readyz\">/readyz</a></small></p>\n</body></html>\n");
        html
    }

    pub(crate) fn response(&self) -> Response {
        let mut response = Html(self.render()).into_response();
        response.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
            ),
        );
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_lists_sites_and_escapes() {
        let page = LandingPage {
            product: "rucio-mcp".into(),
            version: "1.0".into(),
            sites: vec![(
                "atlas".into(),
                "<ATLAS & friends>".into(),
                SiteAccess::SharedSecret,
                "https://mcp.example.org/site/atlas/".into(),
            )],
        };
        let html = page.render();
        assert!(html.contains("&lt;ATLAS &amp; friends&gt;"));
        assert!(!html.contains("<ATLAS"));
        for client in ["Claude Code", "Claude Desktop", "VS Code", "Cursor", "Codex", "Gemini CLI"]
        {
            assert!(html.contains(client), "{client} missing");
        }
        assert!(html.contains(
            "claude mcp add --transport http rucio-mcp-atlas https://mcp.example.org/site/atlas/"
        ));
        assert!(html.contains("bearer_token_env_var"));
    }
}
