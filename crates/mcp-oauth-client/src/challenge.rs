//! The `WWW-Authenticate: Bearer ...` challenge of a 401 or 403 (RFC 6750 §3, RFC 9728 §5.1).

/// What a resource server said when it refused a request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Challenge {
    /// RFC 9728: where the resource's protected-resource metadata is.
    pub resource_metadata: Option<String>,
    /// The scopes the resource wants (space-separated in the header).
    pub scope: Option<String>,
    /// `invalid_token`, `insufficient_scope`, ...
    pub error: Option<String>,
}

impl Challenge {
    /// The first `Bearer` challenge among the response's `WWW-Authenticate` headers.
    pub fn from_headers(headers: &http::HeaderMap) -> Option<Self> {
        headers
            .get_all(http::header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(Self::parse)
    }

    /// Parses one header value; `None` unless it is a Bearer challenge.
    pub fn parse(value: &str) -> Option<Self> {
        let value = value.trim_start();
        let (scheme, rest) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let mut challenge = Self::default();
        for (name, value) in auth_params(rest) {
            match name.to_ascii_lowercase().as_str() {
                "resource_metadata" => challenge.resource_metadata = Some(value),
                "scope" => challenge.scope = Some(value),
                "error" => challenge.error = Some(value),
                _ => {}
            }
        }
        Some(challenge)
    }

    pub fn insufficient_scope(&self) -> bool {
        self.error.as_deref() == Some("insufficient_scope")
    }
}

/// `name=value` and `name="quoted \" value"` pairs separated by commas (RFC 9110 §11.2).
fn auth_params(mut rest: &str) -> Vec<(String, String)> {
    let mut params = Vec::new();
    loop {
        rest = rest.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
        let Some(eq) = rest.find('=') else { break };
        let name = rest[..eq].trim().to_owned();
        rest = rest[eq + 1..].trim_start();
        let value = if let Some(quoted) = rest.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            rest = &quoted[end.min(quoted.len())..];
            value
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            let value = rest[..end].trim().to_owned();
            rest = &rest[end..];
            value
        };
        if name.is_empty() || name.contains(char::is_whitespace) {
            break;
        }
        params.push((name, value));
    }
    params
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_parameters_of_a_bearer_challenge() {
        let c = Challenge::parse(
            r#"Bearer error="insufficient_scope", scope="mcp:tools mcp:admin", resource_metadata="https://x.example/.well-known/oauth-protected-resource/mcp""#,
        )
        .unwrap_or_default();
        assert!(c.insufficient_scope());
        assert_eq!(c.scope.as_deref(), Some("mcp:tools mcp:admin"));
        assert_eq!(
            c.resource_metadata.as_deref(),
            Some("https://x.example/.well-known/oauth-protected-resource/mcp")
        );
    }

    #[test]
    fn unquoted_values_escapes_and_other_schemes() {
        let c = Challenge::parse(r#"bearer realm="a \"b\"",error=invalid_token"#);
        assert_eq!(c.and_then(|c| c.error), Some("invalid_token".into()));
        assert_eq!(Challenge::parse("Basic realm=\"x\""), None);
        assert_eq!(Challenge::parse("Bearer"), Some(Challenge::default()));
        // garbage never panics
        for junk in ["Bearer =", "Bearer a=\"", "Bearer ,,,=,", "Bearer a=b c=d", "Bearer é=\"\\"]
        {
            let _ = Challenge::parse(junk);
        }
    }
}
