//! The fixture server of the MCP conformance suite (the npm package
//! `@modelcontextprotocol/conformance`, version pinned in `xtask/src/conformance.rs`), used only by
//! `cargo xtask conformance`. It is no part of rucio-mcp: it serves, through rmcp like rucio-mcp
//! does, every tool, resource, prompt and utility that the suite's server scenarios call, with the
//! exact answers their checks expect, so the suite tells whether rmcp and our HTTP transport speak
//! MCP the way the reference clients do.
//!
//! [`ConformanceServer`] is a plain [`rmcp::ServerHandler`]; `main.rs` only serves it over HTTP.
//! The fixtures, by the scenarios that call them:
//!
//! - tools: `test_simple_text`, `test_image_content`, `test_audio_content`,
//!   `test_embedded_resource`, `test_multiple_content_types`, `test_tool_with_logging` (three
//!   `info` log notifications, 50 ms apart), `test_tool_with_progress` (progress 0, 50, 100 of 100
//!   when the call carries a progress token), `test_error_handling` (a result with `isError`),
//!   `test_sampling` (`sampling/createMessage` to the client), `test_elicitation`,
//!   `test_elicitation_sep1034_defaults` and `test_elicitation_sep1330_enums` (`elicitation/create`
//!   to the client), `json_schema_2020_12_tool` (an input schema with `$schema`, `$defs` and
//!   `additionalProperties`);
//! - resources: `test://static-text`, `test://static-binary` (a PNG), `test://watched-resource`
//!   (for `resources/subscribe` and `resources/unsubscribe`), and the template
//!   `test://template/{id}/data`;
//! - prompts: `test_simple_prompt`, `test_prompt_with_arguments`,
//!   `test_prompt_with_embedded_resource`, `test_prompt_with_image`;
//! - utilities: `ping`, `logging/setLevel` (filters this session's log notifications) and
//!   `completion/complete` (prompt arguments and the template's `id`).
//!
//! Protocol versions: those with an `initialize` handshake, up to 2025-11-25, the newest the suite
//! tests. 2026-07-28 is not offered: the suite does not test it, and in that revision the server may
//! not send requests to the client (sampling, elicitation) and `ping` and `resources/subscribe` are
//! gone, so half of these fixtures would not exist there.
#![expect(
    deprecated,
    reason = "sampling, logging and resources/subscribe, deprecated by SEP-2577 in rmcp, are what the suite tests"
)]

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CompleteRequestParams, CompleteResult,
    CompletionInfo, ContentBlock, CreateMessageRequestParams, ElicitRequestParams,
    ElicitationSchema, GetPromptRequestParams, GetPromptResponse, GetPromptResult, Implementation,
    JsonObject, ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult,
    ListToolsResult, LoggingLevel, LoggingMessageNotificationParam, PaginatedRequestParams,
    ProgressNotificationParam, Prompt, PromptArgument, PromptMessage, ProtocolVersion,
    ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Reference, Resource,
    ResourceContents, ResourceTemplate, Role, SamplingMessage, ServerCapabilities, ServerConfig,
    SetLevelRequestParams, SubscribeRequestParams, Tool, UnsubscribeRequestParams,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::{Value, json};

/// A 1×1 red pixel, PNG, base64.
const PNG_BASE64: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
/// A WAV file with one silent sample, base64.
const WAV_BASE64: &str = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=";

const STATIC_TEXT_URI: &str = "test://static-text";
const STATIC_BINARY_URI: &str = "test://static-binary";
const WATCHED_URI: &str = "test://watched-resource";
const TEMPLATE_URI: &str = "test://template/{id}/data";
const TEMPLATE_PREFIX: &str = "test://template/";
const TEMPLATE_SUFFIX: &str = "/data";

const PROMPTS: [&str; 4] = [
    "test_simple_prompt",
    "test_prompt_with_arguments",
    "test_prompt_with_embedded_resource",
    "test_prompt_with_image",
];

/// The pause between the log and progress notifications of one tool call.
const STEP: Duration = Duration::from_millis(50);
/// The `logger` of the log notifications.
const LOGGER: &str = "conformance-server";

/// The conformance suite's fixtures, one value per MCP session.
///
/// A session's log level and resource subscriptions are its own. The HTTP services (rmcp's
/// `StreamableHttpService`, and `mcp-transports` on top of it) make each session's handler by
/// cloning the one they were given, so [`Clone`] gives a value with fresh session state rather
/// than one sharing this value's.
#[derive(Debug, Default)]
pub struct ConformanceServer {
    session: Arc<Session>,
}

#[derive(Debug)]
struct Session {
    /// The least severe level sent as a log notification (`logging/setLevel`).
    log_level: Mutex<LoggingLevel>,
    /// The resources subscribed to (`resources/subscribe`).
    subscriptions: Mutex<BTreeSet<String>>,
}

impl Default for Session {
    fn default() -> Self {
        Self { log_level: Mutex::new(LoggingLevel::Debug), subscriptions: Mutex::default() }
    }
}

impl Clone for ConformanceServer {
    /// A new session's server: the state of this one is not shared (see [`ConformanceServer`]).
    fn clone(&self) -> Self {
        Self::new()
    }
}

impl ConformanceServer {
    pub fn new() -> Self {
        Self::default()
    }

    /// The resources this session subscribed to.
    pub fn subscriptions(&self) -> BTreeSet<String> {
        self.session.subscriptions.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn log_level(&self) -> LoggingLevel {
        *self.session.log_level.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends a log notification, if `level` passes the session's level.
    async fn log(&self, context: &RequestContext<RoleServer>, level: LoggingLevel, message: &str) {
        if severity(level) < severity(self.log_level()) {
            return;
        }
        let param = LoggingMessageNotificationParam::new(level, json!(message)).with_logger(LOGGER);
        if let Err(e) = context.peer.notify_logging_message(param).await {
            tracing::debug!(error = %e, "cannot send a log notification");
        }
    }

    async fn tool_with_logging(&self, context: &RequestContext<RoleServer>) -> CallToolResult {
        self.log(context, LoggingLevel::Info, "Tool execution started").await;
        tokio::time::sleep(STEP).await;
        self.log(context, LoggingLevel::Info, "Tool processing data").await;
        tokio::time::sleep(STEP).await;
        self.log(context, LoggingLevel::Info, "Tool execution completed").await;
        text_result("Tool with logging executed successfully")
    }
}

fn severity(level: LoggingLevel) -> u8 {
    match level {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}

fn object(value: Value) -> JsonObject {
    match value {
        Value::Object(map) => map,
        _ => JsonObject::new(),
    }
}

fn text_result(text: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(text)])
}

fn error_result(text: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(text)])
}

/// Every tool, as `tools/list` shows it.
pub fn tools() -> Vec<Tool> {
    let no_arguments = || object(json!({ "type": "object", "properties": {} }));
    let one_string = |name: &str, description: &str| {
        object(json!({
            "type": "object",
            "properties": { name: { "type": "string", "description": description } },
            "required": [name],
        }))
    };
    vec![
        Tool::new("test_simple_text", "Tests simple text content response", no_arguments()),
        Tool::new("test_image_content", "Tests image content response", no_arguments()),
        Tool::new("test_audio_content", "Tests audio content response", no_arguments()),
        Tool::new(
            "test_embedded_resource",
            "Tests embedded resource content response",
            no_arguments(),
        ),
        Tool::new(
            "test_multiple_content_types",
            "Tests response with multiple content types (text, image, resource)",
            no_arguments(),
        ),
        Tool::new(
            "test_tool_with_logging",
            "Tests tool that emits log messages during execution",
            no_arguments(),
        ),
        Tool::new(
            "test_tool_with_progress",
            "Tests tool that reports progress notifications",
            no_arguments(),
        ),
        Tool::new("test_error_handling", "Tests error response handling", no_arguments()),
        Tool::new(
            "test_sampling",
            "Tests server-initiated sampling (LLM completion request)",
            one_string("prompt", "The prompt to send to the LLM"),
        ),
        Tool::new(
            "test_elicitation",
            "Tests server-initiated elicitation (user input request)",
            one_string("message", "The message to show the user"),
        ),
        Tool::new(
            "test_elicitation_sep1034_defaults",
            "Tests elicitation with default values per SEP-1034",
            no_arguments(),
        ),
        Tool::new(
            "test_elicitation_sep1330_enums",
            "Tests elicitation with enum schema improvements per SEP-1330",
            no_arguments(),
        ),
        Tool::new(
            "json_schema_2020_12_tool",
            "Tool with JSON Schema 2020-12 features for conformance testing (SEP-1613)",
            object(json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "$defs": {
                    "address": {
                        "type": "object",
                        "properties": {
                            "street": { "type": "string" },
                            "city": { "type": "string" },
                        },
                    },
                },
                "properties": {
                    "name": { "type": "string" },
                    "address": { "$ref": "#/$defs/address" },
                },
                "additionalProperties": false,
            })),
        ),
    ]
}

/// The form `test_elicitation` asks for.
fn elicitation_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "username": { "type": "string", "description": "User's response" },
            "email": { "type": "string", "description": "User's email address" },
        },
        "required": ["username", "email"],
    })
}

/// SEP-1034: a default for each primitive type.
fn sep1034_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "name": { "type": "string", "description": "User name", "default": "John Doe" },
            "age": { "type": "integer", "description": "User age", "default": 30 },
            "score": { "type": "number", "description": "User score", "default": 95.5 },
            "status": {
                "type": "string",
                "description": "User status",
                "enum": ["active", "inactive", "pending"],
                "default": "active",
            },
            "verified": { "type": "boolean", "description": "Verification status", "default": true },
        },
        "required": [],
    })
}

/// SEP-1330: the five kinds of enum.
fn sep1330_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "untitledSingle": {
                "type": "string",
                "description": "Select one option",
                "enum": ["option1", "option2", "option3"],
            },
            "titledSingle": {
                "type": "string",
                "description": "Select one option with titles",
                "oneOf": [
                    { "const": "value1", "title": "First Option" },
                    { "const": "value2", "title": "Second Option" },
                    { "const": "value3", "title": "Third Option" },
                ],
            },
            "legacyEnum": {
                "type": "string",
                "description": "Select one option (legacy)",
                "enum": ["opt1", "opt2", "opt3"],
                "enumNames": ["Option One", "Option Two", "Option Three"],
            },
            "untitledMulti": {
                "type": "array",
                "description": "Select multiple options",
                "minItems": 1,
                "maxItems": 3,
                "items": { "type": "string", "enum": ["option1", "option2", "option3"] },
            },
            "titledMulti": {
                "type": "array",
                "description": "Select multiple options with titles",
                "minItems": 1,
                "maxItems": 3,
                "items": {
                    "anyOf": [
                        { "const": "value1", "title": "First Choice" },
                        { "const": "value2", "title": "Second Choice" },
                        { "const": "value3", "title": "Third Choice" },
                    ],
                },
            },
        },
        "required": [],
    })
}

/// The required string argument `name` of a tool call.
fn string_argument(arguments: &JsonObject, name: &str) -> Result<String, McpError> {
    arguments.get(name).and_then(Value::as_str).map(str::to_owned).ok_or_else(|| {
        McpError::invalid_params(format!("the string argument `{name}` is required"), None)
    })
}

async fn tool_with_progress(context: &RequestContext<RoleServer>) -> CallToolResult {
    let token = context.meta.get_progress_token();
    for (step, progress) in [0.0, 50.0, 100.0].into_iter().enumerate() {
        if step > 0 {
            tokio::time::sleep(STEP).await;
        }
        let Some(token) = &token else { continue };
        let param = ProgressNotificationParam::new(token.clone(), progress)
            .with_total(100.0)
            .with_message(format!("Completed step {progress} of 100"));
        if let Err(e) = context.peer.notify_progress(param).await {
            tracing::debug!(error = %e, "cannot send a progress notification");
        }
    }
    match token {
        Some(token) => text_result(format!("Progress reported with token {}", json!(token))),
        None => text_result("Done; no progress token was given"),
    }
}

async fn sampling(prompt: String, context: &RequestContext<RoleServer>) -> CallToolResult {
    if context.client_capabilities().and_then(|c| c.sampling).is_none() {
        return error_result("The client did not declare the sampling capability");
    }
    let params = CreateMessageRequestParams::new(vec![SamplingMessage::user_text(prompt)], 100);
    match context.peer.create_message(params).await {
        Ok(result) => {
            let answer: Vec<String> = result
                .message
                .content
                .into_vec()
                .iter()
                .filter_map(|block| block.as_text().map(|t| t.text.clone()))
                .collect();
            text_result(format!("LLM response: {}", answer.join("\n")))
        }
        Err(e) => error_result(format!("Sampling failed: {e}")),
    }
}

/// Sends `elicitation/create` with `schema` and reports the answer as `{label}: action=…, content=…`.
async fn elicit(
    context: &RequestContext<RoleServer>,
    message: String,
    schema: Value,
    label: &str,
) -> Result<CallToolResult, McpError> {
    if context.client_capabilities().and_then(|c| c.elicitation).is_none() {
        return Ok(error_result("The client did not declare the elicitation capability"));
    }
    let requested_schema = ElicitationSchema::from_json_schema(object(schema)).map_err(|e| {
        McpError::internal_error(format!("the fixture's elicitation schema: {e}"), None)
    })?;
    let params =
        ElicitRequestParams::FormElicitationParams { meta: None, message, requested_schema };
    Ok(match context.peer.create_elicitation(params).await {
        Ok(result) => {
            let action = json!(result.action);
            let action = action.as_str().unwrap_or_default();
            let content = result.content.unwrap_or_else(|| json!({}));
            text_result(format!("{label}: action={action}, content={content}"))
        }
        Err(e) => error_result(format!("Elicitation failed: {e}")),
    })
}

/// The `{id}` of a URI of the resource template, if it is one.
fn template_id(uri: &str) -> Option<&str> {
    let id = uri.strip_prefix(TEMPLATE_PREFIX)?.strip_suffix(TEMPLATE_SUFFIX)?;
    (!id.is_empty() && !id.contains('/')).then_some(id)
}

fn is_resource(uri: &str) -> bool {
    matches!(uri, STATIC_TEXT_URI | STATIC_BINARY_URI | WATCHED_URI) || template_id(uri).is_some()
}

fn not_found(uri: &str) -> McpError {
    McpError::resource_not_found(format!("no resource {uri}"), Some(json!({ "uri": uri })))
}

/// The required string argument `name` of a prompt.
fn prompt_argument<'a>(arguments: Option<&'a JsonObject>, name: &str) -> Result<&'a str, McpError> {
    arguments.and_then(|a| a.get(name)).and_then(Value::as_str).ok_or_else(|| {
        McpError::invalid_params(format!("the prompt argument `{name}` is required"), None)
    })
}

impl ServerHandler for ConformanceServer {
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder()
            .enable_logging()
            .enable_completions()
            .enable_prompts()
            .enable_resources()
            .enable_resources_subscribe()
            .enable_tools()
            .build();
        ServerConfig::new(capabilities)
            .with_server_info(
                Implementation::new("conformance-server", env!("CARGO_PKG_VERSION"))
                    .with_title("MCP conformance suite fixtures"),
            )
            .with_instructions("The fixtures of the MCP conformance suite; no real data.")
            .with_protocol_version(ProtocolVersion::V_2025_11_25)
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(ProtocolVersion::known_up_to(&ProtocolVersion::V_2025_11_25))
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        *self.session.log_level.lock().unwrap_or_else(PoisonError::into_inner) = request.level;
        Ok(())
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        let candidates: &[&str] = match &request.r#ref {
            Reference::Prompt(prompt) => {
                match (prompt.name.as_str(), request.argument.name.as_str()) {
                    ("test_prompt_with_arguments", "arg1") => &["hello", "paris", "park", "party"],
                    ("test_prompt_with_arguments", "arg2") => &["world", "wide", "wonder"],
                    ("test_prompt_with_embedded_resource", "resourceUri") => {
                        &[STATIC_TEXT_URI, WATCHED_URI]
                    }
                    (name, _) if PROMPTS.contains(&name) => &[],
                    (other, _) => {
                        return Err(McpError::invalid_params(format!("no prompt `{other}`"), None));
                    }
                }
            }
            Reference::Resource(template) if template.uri == TEMPLATE_URI => {
                match request.argument.name.as_str() {
                    "id" => &["1", "2", "3", "123"],
                    _ => &[],
                }
            }
            Reference::Resource(template) => {
                return Err(McpError::invalid_params(
                    format!("no resource template {}", template.uri),
                    None,
                ));
            }
            _ => &[],
        };
        let typed = request.argument.value.to_lowercase();
        let values = candidates
            .iter()
            .filter(|c| c.to_lowercase().starts_with(&typed))
            .map(|c| (*c).to_owned())
            .collect();
        let completion = CompletionInfo::with_all_values(values)
            .map_err(|e| McpError::internal_error(e, None))?;
        Ok(CompleteResult::new(completion))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(tools()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        tools().into_iter().find(|t| t.name == name)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let arguments = request.arguments.unwrap_or_default();
        let result = match request.name.as_ref() {
            "test_simple_text" => text_result("This is a simple text response for testing."),
            "test_image_content" => {
                CallToolResult::success(vec![ContentBlock::image(PNG_BASE64, "image/png")])
            }
            "test_audio_content" => {
                CallToolResult::success(vec![ContentBlock::audio(WAV_BASE64, "audio/wav")])
            }
            "test_embedded_resource" => CallToolResult::success(vec![ContentBlock::resource(
                ResourceContents::text(
                    "This is an embedded resource content.",
                    "test://embedded-resource",
                )
                .with_mime_type("text/plain"),
            )]),
            "test_multiple_content_types" => CallToolResult::success(vec![
                ContentBlock::text("Multiple content types test:"),
                ContentBlock::image(PNG_BASE64, "image/png"),
                ContentBlock::resource(
                    ResourceContents::text(
                        json!({ "test": "data", "value": 123 }).to_string(),
                        "test://mixed-content-resource",
                    )
                    .with_mime_type("application/json"),
                ),
            ]),
            "test_tool_with_logging" => self.tool_with_logging(&context).await,
            "test_tool_with_progress" => tool_with_progress(&context).await,
            "test_error_handling" => {
                error_result("This tool intentionally returns an error for testing")
            }
            "test_sampling" => sampling(string_argument(&arguments, "prompt")?, &context).await,
            "test_elicitation" => {
                let message = string_argument(&arguments, "message")?;
                elicit(&context, message, elicitation_schema(), "User response").await?
            }
            "test_elicitation_sep1034_defaults" => {
                let message = "Please review and update the form fields with defaults".to_owned();
                elicit(&context, message, sep1034_schema(), "Elicitation completed").await?
            }
            "test_elicitation_sep1330_enums" => {
                let message = "Please select options from the enum fields".to_owned();
                elicit(&context, message, sep1330_schema(), "Elicitation completed").await?
            }
            "json_schema_2020_12_tool" => text_result(format!(
                "JSON Schema 2020-12 tool called with: {}",
                Value::Object(arguments)
            )),
            other => {
                return Err(McpError::invalid_params(format!("no tool `{other}`"), None));
            }
        };
        Ok(result.into())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        Ok(ListResourcesResult::with_all_items(vec![
            Resource::new(STATIC_TEXT_URI, "static-text")
                .with_title("Static Text Resource")
                .with_description("A static text resource for testing")
                .with_mime_type("text/plain"),
            Resource::new(STATIC_BINARY_URI, "static-binary")
                .with_title("Static Binary Resource")
                .with_description("A static binary resource (image) for testing")
                .with_mime_type("image/png"),
            Resource::new(WATCHED_URI, "watched-resource")
                .with_title("Watched Resource")
                .with_description("A resource to subscribe to")
                .with_mime_type("text/plain"),
        ]))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            ResourceTemplate::new(TEMPLATE_URI, "template")
                .with_title("Resource Template")
                .with_description("A resource template with parameter substitution")
                .with_mime_type("application/json"),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let uri = request.uri.as_str();
        let contents = match uri {
            STATIC_TEXT_URI => {
                ResourceContents::text("This is the content of the static text resource.", uri)
                    .with_mime_type("text/plain")
            }
            STATIC_BINARY_URI => {
                ResourceContents::blob(PNG_BASE64, uri).with_mime_type("image/png")
            }
            WATCHED_URI => {
                ResourceContents::text("Watched resource content", uri).with_mime_type("text/plain")
            }
            _ => {
                let id = template_id(uri).ok_or_else(|| not_found(uri))?;
                let data =
                    json!({ "id": id, "templateTest": true, "data": format!("Data for ID: {id}") });
                ResourceContents::text(data.to_string(), uri).with_mime_type("application/json")
            }
        };
        Ok(ReadResourceResult::new(vec![contents]).into())
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        if !is_resource(&request.uri) {
            return Err(not_found(&request.uri));
        }
        self.session
            .subscriptions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(request.uri);
        Ok(())
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.session
            .subscriptions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&request.uri);
        Ok(())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        let required = |name: &str, description: &str| {
            PromptArgument::new(name).with_description(description).with_required(true)
        };
        Ok(ListPromptsResult::with_all_items(vec![
            Prompt::new("test_simple_prompt", Some("A simple prompt without arguments"), None)
                .with_title("Simple Test Prompt"),
            Prompt::new(
                "test_prompt_with_arguments",
                Some("A prompt with required arguments"),
                Some(vec![
                    required("arg1", "First test argument"),
                    required("arg2", "Second test argument"),
                ]),
            )
            .with_title("Prompt With Arguments"),
            Prompt::new(
                "test_prompt_with_embedded_resource",
                Some("A prompt that includes an embedded resource"),
                Some(vec![required("resourceUri", "URI of the resource to embed")]),
            )
            .with_title("Prompt With Embedded Resource"),
            Prompt::new(
                "test_prompt_with_image",
                Some("A prompt that includes image content"),
                None,
            )
            .with_title("Prompt With Image"),
        ]))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        let arguments = request.arguments.as_ref();
        let messages = match request.name.as_str() {
            "test_simple_prompt" => {
                vec![PromptMessage::new_text(Role::User, "This is a simple prompt for testing.")]
            }
            "test_prompt_with_arguments" => {
                let arg1 = prompt_argument(arguments, "arg1")?;
                let arg2 = prompt_argument(arguments, "arg2")?;
                vec![PromptMessage::new_text(
                    Role::User,
                    format!("Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"),
                )]
            }
            "test_prompt_with_embedded_resource" => {
                let uri = prompt_argument(arguments, "resourceUri")?;
                vec![
                    PromptMessage::new(
                        Role::User,
                        ContentBlock::resource(
                            ResourceContents::text("Embedded resource content for testing.", uri)
                                .with_mime_type("text/plain"),
                        ),
                    ),
                    PromptMessage::new_text(
                        Role::User,
                        "Please process the embedded resource above.",
                    ),
                ]
            }
            "test_prompt_with_image" => vec![
                PromptMessage::new(Role::User, ContentBlock::image(PNG_BASE64, "image/png")),
                PromptMessage::new_text(Role::User, "Please analyze the image above."),
            ],
            other => return Err(McpError::invalid_params(format!("no prompt `{other}`"), None)),
        };
        Ok(GetPromptResult::new(messages).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    /// The elicitation schemas survive rmcp's typed `ElicitationSchema` unchanged: the suite checks
    /// every keyword of them (defaults, `oneOf`, `enumNames`, `items.anyOf`).
    #[test]
    fn elicitation_schemas_round_trip() -> TestResult {
        for schema in [elicitation_schema(), sep1034_schema(), sep1330_schema()] {
            let typed = ElicitationSchema::from_json_schema(object(schema.clone()))?;
            assert_eq!(serde_json::to_value(&typed)?, schema);
        }
        Ok(())
    }

    #[test]
    fn template_ids() {
        assert_eq!(template_id("test://template/123/data"), Some("123"));
        assert_eq!(template_id("test://template//data"), None);
        assert_eq!(template_id("test://template/1/2/data"), None);
        assert_eq!(template_id("test://static-text"), None);
    }

    #[test]
    fn every_tool_has_a_description_and_an_object_schema() {
        let tools = tools();
        assert_eq!(tools.len(), 13);
        for tool in tools {
            assert!(tool.description.is_some(), "{}", tool.name);
            assert_eq!(tool.input_schema.get("type"), Some(&json!("object")), "{}", tool.name);
        }
    }

    #[test]
    fn clones_do_not_share_session_state() {
        let server = ConformanceServer::new();
        server
            .session
            .subscriptions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(WATCHED_URI.into());
        assert_eq!(server.subscriptions().len(), 1);
        assert!(server.clone().subscriptions().is_empty());
    }
}
