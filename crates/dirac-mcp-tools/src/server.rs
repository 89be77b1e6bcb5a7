//! The MCP server: rmcp's `ServerHandler` over the registry of tool sets and the session.
//!
//! `initialize`, `tools/list` and the resource lists are answered from memory; only tool calls
//! and resource reads reach DiracX.

use std::borrow::Cow;
use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    ProtocolVersion, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Resource,
    ResourceContents, ResourceTemplate, ServerCapabilities, ServerConfig, Tool, ToolsCapability,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::{Map, Value, json};

use crate::errors::{ErrorCategory, ToolError};
use crate::policy::{Policy, WmsPolicy};
use mcp_login_flow::{Elicited, LoginState, WaitEnd};

use crate::identity::DiracUser;
use crate::session::{DiracSession, LOGIN_TIMEOUT, login_needed};
use crate::tools::CoreTools;
use crate::toolset::{Registry, ToolContext, ToolOutput, ToolSet};
use crate::users::DiracUsers;
use mcp_oauth_bridge::Identity;
use mcp_tool_metrics::ToolMetrics;

/// The protocol versions served: today's clients speak 2025-11-25, rmcp's default is 2026-07-28.
const PROTOCOL_VERSIONS: &[ProtocolVersion] =
    &[ProtocolVersion::V_2025_11_25, ProtocolVersion::V_2026_07_28];
const INSTRUCTIONS: &str = include_str!("instructions.md");
const DASHBOARD_URI: &str = "dirac://jobs/dashboard";
const JOB_URI_PREFIX: &str = "dirac://jobs/";

/// How a server instance is set up.
#[derive(Clone, Debug, Default)]
pub struct ServerOptions {
    /// Hide and refuse the tools that change DiracX.
    pub read_only: bool,
    /// Let tools read files where the server runs (input files of a submission): true only when
    /// that is the user's own machine (stdio).
    pub local_files: bool,
    /// The site this server is mounted as (metrics label; empty over stdio).
    pub site: String,
    /// Where tool calls are counted (HTTP servers).
    pub metrics: Option<ToolMetrics>,
}

/// Who the calls of a server run as.
#[derive(Debug)]
enum Backend {
    /// One identity: the user's own login (stdio), or the server's (shared secret).
    Session(Box<DiracSession>),
    /// Each request's signed-in user ([`mcp_oauth_bridge::Identity`] in its extensions).
    Users(DiracUsers),
}

/// The dirac-mcp server of one MCP session (cheap to clone).
#[derive(Clone, Debug)]
pub struct DiracMcpServer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    options: ServerOptions,
    registry: Registry,
    backend: Backend,
    tools: Vec<Tool>,
    instructions: String,
}

impl DiracMcpServer {
    /// The built-in tools under DiracX's WMS policy.
    pub fn new(options: ServerOptions, session: DiracSession) -> Self {
        Self::with_registry(options, session, default_registry())
    }

    /// Any tool sets and policy (extensions).
    pub fn with_registry(
        options: ServerOptions,
        session: DiracSession,
        registry: Registry,
    ) -> Self {
        let listing_user = session.listing_user().cloned();
        Self::build(options, Backend::Session(Box::new(session)), registry, listing_user.as_ref())
    }

    /// A server for many users: every call runs as the user whose DiracX token its request
    /// carries, under that user's policy. Every tool is listed (one list for all sessions); the
    /// policy decides at each call.
    pub fn for_users(options: ServerOptions, users: DiracUsers, registry: Registry) -> Self {
        Self::build(options, Backend::Users(users), registry, None)
    }

    fn build(
        options: ServerOptions,
        backend: Backend,
        registry: Registry,
        listing_user: Option<&DiracUser>,
    ) -> Self {
        let tools = registry.visible(listing_user, options.read_only);
        let mut instructions = INSTRUCTIONS.to_owned();
        for set in registry.sets() {
            if let Some(more) = set.instructions() {
                instructions.push('\n');
                instructions.push_str(more);
            }
        }
        if options.read_only {
            instructions.push_str("\nThis server is read-only: the tools that submit or change jobs are not available.\n");
        }
        Self { inner: Arc::new(Inner { options, registry, backend, tools, instructions }) }
    }

    /// The tool list every session gets (for transports that serve it from bytes made once).
    pub fn tool_list(&self) -> ListToolsResult {
        ListToolsResult::with_all_items(self.inner.tools.clone())
    }

    /// Whether DiracX answers (readiness of a hosted server); no token is sent.
    pub async fn check_backend(&self) -> Result<(), String> {
        let client = match &self.inner.backend {
            Backend::Users(users) => users.base(),
            Backend::Session(session) => session.client().map_err(|e| e.message.clone())?,
        };
        client.ping().await.map_err(|e| format!("DiracX does not answer: {e}"))
    }

    pub fn tools(&self) -> &[Tool] {
        &self.inner.tools
    }

    /// Runs a tool as the session's user, or as the user `context`'s request carries.
    pub async fn run(
        &self,
        name: &str,
        args: Map<String, Value>,
        context: Option<&RequestContext<RoleServer>>,
    ) -> Result<ToolOutput, ToolError> {
        let (client, user) = match &self.inner.backend {
            Backend::Session(session) => {
                let user = session.user().await?;
                (session.client()?.clone(), user)
            }
            Backend::Users(users) => {
                let identity = context
                    .and_then(|c| c.extensions.get::<http::request::Parts>())
                    .and_then(|parts| parts.extensions.get::<Identity>())
                    .ok_or_else(|| {
                        ToolError::new(
                            ErrorCategory::Authentication,
                            "this request carries no signed-in user",
                            "Sign in to the server (the MCP client does it when asked).",
                        )
                    })?;
                let ((client, user), held) = users.user_for(identity)?;
                if let Some(metrics) = &self.inner.options.metrics {
                    metrics.set_cached_clients(
                        &self.inner.options.site,
                        i64::try_from(held).unwrap_or(i64::MAX),
                    );
                }
                (client, user)
            }
        };
        let ctx = ToolContext {
            client,
            user,
            policy: self.inner.registry.policy().clone(),
            source: "dirac-mcp".into(),
            local_files: self.inner.options.local_files,
        };
        let outcome =
            self.inner.registry.call(&ctx, name, args, self.inner.options.read_only).await;
        if outcome.as_ref().is_err_and(|e| e.category == ErrorCategory::Authentication)
            && let Some(session) = self.session()
        {
            session.forget_user().await;
        }
        outcome
    }

    fn session(&self) -> Option<&DiracSession> {
        match &self.inner.backend {
            Backend::Session(session) => Some(session),
            Backend::Users(_) => None,
        }
    }

    async fn dashboard(&self, context: &RequestContext<RoleServer>) -> Result<String, ToolError> {
        let summary = self.run("dirac_job_summary", Map::new(), Some(context)).await?;
        let mut recent = Map::new();
        recent.insert("per_page".into(), json!(10));
        let recent = self.run("dirac_search_jobs", recent, Some(context)).await?;
        Ok(format!("# Jobs\n\n{}\n## The 10 newest\n\n{}", summary.text, recent.text))
    }
}

impl DiracMcpServer {
    /// Starts (or joins) a device login and hands its link to the user through the client (URL
    /// elicitation where the client declared it, else in the tool result), then waits for it
    /// with progress notifications.
    async fn log_in(
        &self,
        session: &DiracSession,
        context: &RequestContext<RoleServer>,
    ) -> Result<(), ToolError> {
        // A login the user finished since the last call: just run again.
        if let Some(pending) = session.pending_login().await
            && *pending.state.borrow() == LoginState::Done
        {
            session.forget_user().await;
            return Ok(());
        }
        let pending = session.login().await?;
        let Ok(url) = url::Url::parse(&pending.url) else {
            return Err(login_needed(&pending));
        };
        let elicitation_id = format!("dirac-login-{}", context.id);
        let message = format!(
            "Sign in to DiracX in your browser (code {}) to continue; this request resumes by itself.",
            pending.user_code
        );
        match mcp_login_flow::elicit_url(context, message, url, &elicitation_id).await {
            Elicited::Accepted => {}
            Elicited::Unsupported => return Err(login_needed(&pending)),
            Elicited::Declined => {
                return Err(ToolError::new(
                    ErrorCategory::Authentication,
                    "the user did not open the DiracX login",
                    format!(
                        "Ask the user to sign in at {} (code {}), then call the tool again.",
                        pending.url, pending.user_code
                    ),
                ));
            }
        }
        match mcp_login_flow::wait_for_login(&pending.state, context, "DiracX", LOGIN_TIMEOUT).await
        {
            Ok(()) => {}
            Err(WaitEnd::Failed(reason)) => {
                return Err(ToolError::new(
                    ErrorCategory::Authentication,
                    format!("the DiracX login did not complete: {reason}"),
                    "Call the tool again to get a new login link.",
                ));
            }
            Err(WaitEnd::GaveUp) => return Err(login_needed(&pending)),
        }
        session.forget_user().await;
        mcp_login_flow::elicitation_complete(context, &elicitation_id).await;
        Ok(())
    }
}

/// The built-in tools under the built-in policy.
pub fn default_registry() -> Registry {
    let policy: Arc<dyn Policy> = Arc::new(WmsPolicy);
    let core: Arc<dyn ToolSet> = Arc::new(CoreTools::new());
    // One set cannot collide with itself.
    Registry::new(policy.clone()).with(core).unwrap_or_else(|_| Registry::new(policy))
}

fn result_of(outcome: Result<ToolOutput, ToolError>) -> CallToolResult {
    match outcome {
        Ok(output) => {
            let mut result = CallToolResult::success(vec![ContentBlock::text(output.text)]);
            result.structured_content = Some(output.structured);
            result
        }
        Err(error) => {
            let mut result = CallToolResult::error(vec![ContentBlock::text(error.to_text())]);
            result.structured_content = Some(error.to_json());
            result
        }
    }
}

impl ServerHandler for DiracMcpServer {
    fn get_info(&self) -> ServerConfig {
        let mut tools = ToolsCapability::default();
        tools.list_changed = Some(false);
        let capabilities =
            ServerCapabilities::builder().enable_tools_with(tools).enable_resources().build();
        ServerConfig::new(capabilities)
            .with_server_info(
                Implementation::new("dirac-mcp", env!("CARGO_PKG_VERSION"))
                    .with_title("DiracX MCP server"),
            )
            .with_instructions(self.inner.instructions.clone())
            .with_protocol_version(ProtocolVersion::V_2025_11_25)
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(PROTOCOL_VERSIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(self.inner.tools.clone()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.inner.tools.iter().find(|t| t.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        // A tool hidden by read-only mode or the listing policy still answers, with the reason.
        if self.inner.registry.find(&request.name).is_none() {
            return Err(McpError::invalid_params(format!("unknown tool `{}`", request.name), None));
        }
        if let Some(caller) = Identity::of_request(context.extensions.get()) {
            caller.record_call(&request.name);
        }
        let started = std::time::Instant::now();
        let args = request.arguments.clone().unwrap_or_default();
        let outcome = self.run(&request.name, args, Some(&context)).await;
        let outcome = match (outcome, self.session()) {
            (Err(e), Some(session))
                if e.category == ErrorCategory::Authentication && session.can_log_in() =>
            {
                match self.log_in(session, &context).await {
                    Ok(()) => {
                        let args = request.arguments.clone().unwrap_or_default();
                        self.run(&request.name, args, Some(&context)).await
                    }
                    Err(e) => Err(e),
                }
            }
            (other, _) => other,
        };
        if let Err(e) = &outcome {
            tracing::info!(tool = %request.name, category = %e.category, "tool call failed");
        }
        if let Some(metrics) = &self.inner.options.metrics {
            let category = outcome.as_ref().err().map(|e| e.category.as_str());
            metrics.record(&self.inner.options.site, &request.name, started.elapsed(), category);
        }
        Ok(result_of(outcome).into())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let dashboard = Resource::new(DASHBOARD_URI, "dashboard")
            .with_title("Job dashboard")
            .with_description("The signed-in user's jobs: counts by status and the newest jobs")
            .with_mime_type("text/markdown");
        Ok(ListResourcesResult::with_all_items(vec![dashboard]))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        let job = ResourceTemplate::new("dirac://jobs/{job_id}", "job")
            .with_title("One job")
            .with_description("A job's attributes and status history")
            .with_mime_type("application/json");
        Ok(ListResourceTemplatesResult::with_all_items(vec![job]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let uri = request.uri.as_str();
        let failed = |e: ToolError| {
            let data = Some(json!({ "uri": uri, "category": e.category.as_str() }));
            match e.category {
                // A job that does not exist, or that this user may not see: no such resource.
                ErrorCategory::NotFound | ErrorCategory::PermissionDenied => {
                    McpError::resource_not_found(e.to_text(), data)
                }
                ErrorCategory::InvalidArgument => McpError::invalid_params(e.to_text(), data),
                _ => McpError::internal_error(e.to_text(), data),
            }
        };
        if uri == DASHBOARD_URI {
            let text = self.dashboard(&context).await.map_err(failed)?;
            let contents = ResourceContents::text(text, uri).with_mime_type("text/markdown");
            return Ok(ReadResourceResult::new(vec![contents]).into());
        }
        if let Some(id) = uri.strip_prefix(JOB_URI_PREFIX).and_then(|id| id.parse::<u64>().ok()) {
            let mut args = Map::new();
            args.insert("job_id".into(), json!(id));
            let job = self.run("dirac_get_job", args, Some(&context)).await.map_err(failed)?;
            let contents = ResourceContents::text(job.structured.to_string(), uri)
                .with_mime_type("application/json");
            return Ok(ReadResourceResult::new(vec![contents]).into());
        }
        Err(McpError::resource_not_found(format!("no resource {uri}"), Some(json!({ "uri": uri }))))
    }
}
