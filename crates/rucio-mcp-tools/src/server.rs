//! The MCP server: rmcp's `ServerHandler` over the catalog, the tools and the session.
//!
//! `initialize`, `tools/list` and resources are answered from memory; only `tools/call` reaches
//! Rucio. A call that needs an OIDC login starts it, hands the URL to the user through the MCP
//! client (URL-mode elicitation where declared, else in the tool result) and, where the client
//! can show it, waits for the login with progress notifications and then runs the call.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ElicitRequest,
    ElicitRequestParams, Implementation, InputRequest, InputRequests, InputRequiredResult,
    ListResourcesResult, ListToolsResult, PaginatedRequestParams, ProtocolVersion,
    ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Resource,
    ResourceContents, ServerCapabilities, ServerConfig, Tool, ToolsCapability,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::json;

use mcp_oauth_bridge::Identity;

use crate::bridge::UserClients;
use crate::catalog::{self, ToolSpec};
use crate::errors::{ErrorCategory, ToolError};
use mcp_login_flow::{Elicited, WaitEnd};
use mcp_tool_metrics::ToolMetrics;

use crate::session::{LOGIN_TIMEOUT, PendingLogin, RucioSession, login_needed};
use crate::tools::{self, ToolContext, ToolOutput};

/// The protocol versions served: today's clients speak 2025-11-25, rmcp's default is 2026-07-28.
const PROTOCOL_VERSIONS: &[ProtocolVersion] =
    &[ProtocolVersion::V_2025_11_25, ProtocolVersion::V_2026_07_28];
const NOMENCLATURE_URI: &str = "rucio://nomenclature";
const NOMENCLATURE: &str = include_str!("nomenclature.md");
const INSTRUCTIONS: &str = include_str!("instructions.md");

/// How a server instance is set up.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// The site name, for texts and metric labels (`escape`, `atlas`, or `custom`).
    pub site: String,
    /// Hide and refuse the seven tools that change Rucio.
    pub read_only: bool,
    /// Offer the ATLAS nomenclature resource (the atlas sites).
    pub nomenclature: bool,
}

impl ServerOptions {
    pub fn for_site(site: &str, read_only: bool) -> Self {
        Self { site: site.to_owned(), read_only, nomenclature: site.starts_with("atlas") }
    }
}

/// The rucio-mcp server of one MCP session (cheap to clone).
#[derive(Clone, Debug)]
pub struct RucioMcpServer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    options: ServerOptions,
    tools: Vec<Tool>,
    backend: Backend,
    metrics: ToolMetrics,
}

/// Whom tool calls run as.
#[derive(Debug)]
enum Backend {
    /// One identity for the whole server (stdio, shared-secret HTTP).
    Session(Box<RucioSession>),
    /// The signed-in user of each request (HTTP behind the OAuth bridge).
    Users(UserClients),
}

impl RucioMcpServer {
    pub fn new(options: ServerOptions, session: RucioSession, metrics: ToolMetrics) -> Self {
        let tools = catalog::tools()
            .iter()
            .filter(|spec| !(options.read_only && spec.writes()))
            .map(|spec| spec.tool.clone())
            .collect();
        Self {
            inner: Arc::new(Inner {
                options,
                tools,
                backend: Backend::Session(Box::new(session)),
                metrics,
            }),
        }
    }

    /// A server whose calls run as the user the OAuth bridge verified on each request (the
    /// [`mcp_oauth_bridge::Identity`] in the request's extensions).
    pub fn for_users(options: ServerOptions, users: UserClients, metrics: ToolMetrics) -> Self {
        let tools = catalog::tools()
            .iter()
            .filter(|spec| !catalog::SINGLE_IDENTITY_ONLY.contains(&spec.name()))
            .chain(catalog::bridge_tools())
            .filter(|spec| !(options.read_only && spec.writes()))
            .map(|spec| spec.tool.clone())
            .collect();
        Self { inner: Arc::new(Inner { options, tools, backend: Backend::Users(users), metrics }) }
    }

    fn offers(&self, name: &str) -> bool {
        self.inner.tools.iter().any(|t| t.name == name)
    }

    /// The `tools/list` answer: the same for every session (it depends only on the options), so
    /// a transport may serialize it once.
    pub fn tool_list(&self) -> ListToolsResult {
        ListToolsResult::with_all_items(self.inner.tools.clone())
    }

    pub fn tools(&self) -> &[Tool] {
        &self.inner.tools
    }

    pub fn options(&self) -> &ServerOptions {
        &self.inner.options
    }

    /// Whether Rucio answers (for readiness probes): its unauthenticated ping.
    pub async fn check_backend(&self) -> Result<(), String> {
        let client = match &self.inner.backend {
            Backend::Session(session) => session.client().await.map_err(|e| e.message)?,
            Backend::Users(users) => users.base().clone(),
        };
        client.ping().await.map(|_| ()).map_err(|e| e.to_string())
    }

    /// Runs a tool, logging in first where needed. On 2026-07-28 connections a login is asked of
    /// the client as an input request (the protocol has no server-to-client requests there).
    async fn run(
        &self,
        spec: &ToolSpec,
        request: &CallToolRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Outcome {
        let options = &self.inner.options;
        if options.read_only && spec.writes() {
            return Outcome::Done(Err(ToolError::new(
                ErrorCategory::ReadOnly,
                format!("`{}` changes Rucio, and this server runs with --read-only", spec.name()),
                "Only reading tools are available; ask the user to run the server without --read-only to change rules.",
            )));
        }
        let session = match &self.inner.backend {
            Backend::Session(session) => session,
            Backend::Users(users) => {
                return Outcome::Done(self.run_as_user(users, spec, request, context).await);
            }
        };
        if spec.name() == "rucio_voms_proxy_info" {
            return Outcome::Done(crate::proxy_tool::voms_proxy_info(session.config()));
        }
        let client = match session.client().await {
            Ok(client) => client,
            Err(e) => return Outcome::Done(Err(e)),
        };
        self.inner.metrics.set_cached_clients(&options.site, 1);
        let ctx = ToolContext { client, site: options.site.clone() };
        let args = request.arguments.clone().unwrap_or_default();
        // The client's answer to our login input request (2026-07-28): wait for the login, then run.
        if let Some(answer) = request.input_responses.as_ref().and_then(|r| r.get(LOGIN_INPUT)) {
            let accepted =
                answer.get("action").and_then(serde_json::Value::as_str) == Some("accept");
            let waited = match session.pending_login().await {
                Some(pending) if accepted => self.wait_for_login(&pending, context).await,
                Some(pending) => Err(declined(&pending.url)),
                None => Ok(()),
            };
            if let Err(e) = waited {
                return Outcome::Done(Err(e));
            }
            return Outcome::Done(tools::call(&ctx, spec.name(), args).await);
        }
        match tools::call(&ctx, spec.name(), args.clone()).await {
            Err(e) if e.category == ErrorCategory::Authentication && session.can_log_in().await => {
                match self.log_in(session, context).await {
                    Ok(LoginStep::Ready) => {
                        Outcome::Done(tools::call(&ctx, spec.name(), args).await)
                    }
                    Ok(LoginStep::AskClient(input)) => Outcome::InputRequired(input),
                    Err(e) => Outcome::Done(Err(e)),
                }
            }
            other => Outcome::Done(other),
        }
    }

    /// Runs a tool as the user the bridge verified for this request.
    async fn run_as_user(
        &self,
        users: &UserClients,
        spec: &ToolSpec,
        request: &CallToolRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<ToolOutput, ToolError> {
        let site = &self.inner.options.site;
        let identity = context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Identity>())
            .ok_or_else(|| {
                ToolError::new(
                    ErrorCategory::Authentication,
                    "this request carries no signed-in user",
                    "Reconnect the MCP client so that it signs in again.",
                )
            })?;
        if spec.name() == "rucio_token_info" {
            return Ok(crate::bridge::token_info(identity, site));
        }
        let (client, held) = users.client_for(identity);
        self.inner.metrics.set_cached_clients(site, i64::try_from(held).unwrap_or(i64::MAX));
        let ctx = ToolContext { client, site: site.clone() };
        let args = request.arguments.clone().unwrap_or_default();
        tools::call(&ctx, spec.name(), args).await.map_err(|e| {
            if e.category == ErrorCategory::Authentication {
                ToolError::new(
                    ErrorCategory::Authentication,
                    format!("Rucio refused the signed-in user's token: {}", e.message),
                    "The sign-in may have expired or been revoked at the identity provider: reconnect the MCP client to sign in again.",
                )
            } else {
                e
            }
        })
    }

    /// Starts (or joins) the OIDC login and hands its URL to the user through the client.
    async fn log_in(
        &self,
        session: &RucioSession,
        context: &RequestContext<RoleServer>,
    ) -> Result<LoginStep, ToolError> {
        let site = &self.inner.options.site;
        let pending = session.login().await?;
        let url_elicitation = context
            .client_capabilities()
            .and_then(|c| c.elicitation)
            .is_some_and(|e| e.url.is_some());
        if !url_elicitation {
            // The background poll goes on: the next call after the user signed in succeeds.
            return Err(login_needed(&pending.url, site));
        }
        let elicitation_id = format!("rucio-login-{}", context.id);
        let message = format!(
            "Sign in to Rucio ({site}) in your browser to continue; this request resumes by itself."
        );
        let modern = context.protocol_version().is_some_and(|v| !v.has_initialize());
        if modern {
            let params = ElicitRequestParams::UrlElicitationParams {
                meta: None,
                message,
                url: pending.url.to_string(),
                elicitation_id,
            };
            let mut requests = InputRequests::new();
            requests
                .insert(LOGIN_INPUT.into(), InputRequest::Elicitation(ElicitRequest::new(params)));
            return Ok(LoginStep::AskClient(InputRequiredResult::new(Some(requests), None)));
        }
        match mcp_login_flow::elicit_url(context, message, pending.url.clone(), &elicitation_id)
            .await
        {
            Elicited::Accepted => {}
            Elicited::Declined => return Err(declined(&pending.url)),
            Elicited::Unsupported => return Err(login_needed(&pending.url, site)),
        }
        self.wait_for_login(&pending, context).await?;
        mcp_login_flow::elicitation_complete(context, &elicitation_id).await;
        Ok(LoginStep::Ready)
    }

    /// Waits for the background login, with progress notifications that keep the request alive.
    async fn wait_for_login(
        &self,
        pending: &PendingLogin,
        context: &RequestContext<RoleServer>,
    ) -> Result<(), ToolError> {
        match mcp_login_flow::wait_for_login(&pending.state, context, "Rucio", LOGIN_TIMEOUT).await
        {
            Ok(()) => Ok(()),
            Err(WaitEnd::Failed(reason)) => Err(ToolError::new(
                ErrorCategory::Authentication,
                format!("the Rucio login did not complete: {reason}"),
                "Call the tool again to get a new login link.",
            )),
            Err(WaitEnd::GaveUp) => Err(login_needed(&pending.url, &self.inner.options.site)),
        }
    }
}

/// The key of our login in an input request (2026-07-28).
const LOGIN_INPUT: &str = "rucio-login";

/// What a tool call ends in.
enum Outcome {
    Done(Result<ToolOutput, ToolError>),
    /// The client must get something from the user (the login) and call again.
    InputRequired(InputRequiredResult),
}

/// Where a login stands after handing the URL to the client.
enum LoginStep {
    Ready,
    AskClient(InputRequiredResult),
}

fn declined(url: &url::Url) -> ToolError {
    ToolError::new(
        ErrorCategory::Authentication,
        "the user did not open the Rucio login",
        format!(
            "Ask the user to sign in at {url} (valid for 5 minutes), then call the tool again."
        ),
    )
}

fn result_of(outcome: Result<ToolOutput, ToolError>) -> CallToolResult {
    match outcome {
        Ok(output) => {
            let mut result = CallToolResult::success(vec![ContentBlock::text(output.text)]);
            result.structured_content = Some(output.structured);
            result
        }
        Err(error) => CallToolResult::error(vec![ContentBlock::text(error.to_text())]),
    }
}

impl ServerHandler for RucioMcpServer {
    fn get_info(&self) -> ServerConfig {
        let mut tools = ToolsCapability::default();
        tools.list_changed = Some(false);
        let capabilities =
            ServerCapabilities::builder().enable_tools_with(tools).enable_resources().build();
        let mut instructions = INSTRUCTIONS.replace("{site}", &self.inner.options.site);
        if self.inner.options.read_only {
            instructions.push_str("\nThis server is read-only: the tools that create or change rules are not available.\n");
        }
        ServerConfig::new(capabilities)
            .with_server_info(
                Implementation::new("rucio-mcp", env!("CARGO_PKG_VERSION"))
                    .with_title("Rucio MCP server"),
            )
            .with_instructions(instructions)
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
        Ok(self.tool_list())
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.inner.tools.iter().find(|t| t.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let Some(spec) = catalog::find(&request.name).filter(|spec| {
            self.offers(spec.name()) || (self.inner.options.read_only && spec.writes())
        }) else {
            return Err(McpError::invalid_params(format!("unknown tool `{}`", request.name), None));
        };
        if let Some(caller) = Identity::of_request(context.extensions.get()) {
            caller.record_call(spec.name());
        }
        let started = Instant::now();
        let outcome = match self.run(spec, &request, &context).await {
            Outcome::Done(outcome) => outcome,
            Outcome::InputRequired(input) => return Ok(input.into()),
        };
        let category = outcome.as_ref().err().map(|e| e.category.as_str());
        if let Some(e) = outcome.as_ref().err() {
            tracing::info!(tool = %spec.name(), category = %e.category, "tool call failed");
        }
        self.inner.metrics.record(
            &self.inner.options.site,
            spec.name(),
            started.elapsed(),
            category,
        );
        Ok(result_of(outcome).into())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let mut resources = Vec::new();
        if self.inner.options.nomenclature {
            resources.push(
                Resource::new(NOMENCLATURE_URI, "nomenclature")
                    .with_title("ATLAS dataset nomenclature")
                    .with_description("How ATLAS names scopes, datasets and containers, and what each field means")
                    .with_mime_type("text/markdown"),
            );
        }
        Ok(ListResourcesResult::with_all_items(resources))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        if self.inner.options.nomenclature && request.uri == NOMENCLATURE_URI {
            let contents = ResourceContents::text(NOMENCLATURE, NOMENCLATURE_URI)
                .with_mime_type("text/markdown");
            return Ok(ReadResourceResult::new(vec![contents]).into());
        }
        Err(McpError::resource_not_found(
            format!("no resource {}", request.uri),
            Some(json!({ "uri": request.uri })),
        ))
    }
}
