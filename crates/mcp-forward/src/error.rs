use http::StatusCode;

/// Why a message could not be forwarded; the text is meant for the person reading the client's
/// error (it never holds a token or a header's value).
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("cannot reach the remote MCP server: {0}")]
    Unreachable(String),
    #[error("the remote MCP server answered HTTP {status}{detail}")]
    Status { status: StatusCode, detail: String },
    #[error(
        "the remote MCP server redirects to {0}; redirects are not followed (a token is never sent to another address): use that URL"
    )]
    Redirect(String),
    #[error("the remote MCP server refused the credentials (HTTP {status}){detail}")]
    Refused { status: StatusCode, detail: String },
    #[error("{0}")]
    Credentials(String),
    #[error("reading the remote MCP server's answer failed: {0}")]
    Answer(String),
    #[error("the remote MCP server broke the protocol: {0}")]
    Protocol(String),
    #[error("stdio: {0}")]
    Stdio(#[from] std::io::Error),
}
