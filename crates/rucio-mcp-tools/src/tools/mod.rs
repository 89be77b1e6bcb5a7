//! The tool implementations: argument structs (with the catalog's defaults), one async function
//! per tool, and the dispatch by name.

mod accounts;
mod choices;
mod dids;
mod misc;
mod replicas;
mod rses;
mod rules;

use rucio_client::{Did, RucioClient};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::errors::{ErrorCategory, ToolError};
use crate::paging::{Page, PageRequest};

/// What a successful tool call returns: markdown for the model, JSON for `structuredContent`.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolOutput {
    pub text: String,
    pub structured: Value,
}

pub type ToolResult = Result<ToolOutput, ToolError>;

/// What a tool needs to run: the Rucio client of this session and where it runs.
#[derive(Clone, Debug)]
pub struct ToolContext {
    pub client: RucioClient,
    pub site: String,
}

impl ToolContext {
    /// `account`, or the signed-in account when empty (from the configuration, else `whoami`).
    pub(crate) async fn account_or_self(&self, account: &str) -> Result<String, ToolError> {
        if !account.trim().is_empty() {
            return Ok(account.trim().to_owned());
        }
        if let Some(configured) = self.client.account() {
            return Ok(configured.to_owned());
        }
        Ok(self.client.whoami().await?.account)
    }
}

/// Runs one tool by name. Unknown names are an error, never a panic.
pub async fn call(ctx: &ToolContext, name: &str, args: Map<String, Value>) -> ToolResult {
    match name {
        "rucio_list_dids" => dids::list_dids(ctx, parse(name, args)?).await,
        "rucio_get_did" => dids::get_did(ctx, parse(name, args)?).await,
        "rucio_list_content" => dids::list_content(ctx, parse(name, args)?).await,
        "rucio_list_files" => dids::list_files(ctx, parse(name, args)?).await,
        "rucio_get_metadata" => dids::get_metadata(ctx, parse(name, args)?).await,
        "rucio_list_parent_dids" => dids::list_parent_dids(ctx, parse(name, args)?).await,
        "rucio_list_replicas" => replicas::list_replicas(ctx, parse(name, args)?).await,
        "rucio_list_container_replicas" => {
            replicas::list_container_replicas(ctx, parse(name, args)?).await
        }
        "rucio_list_dataset_replicas" => {
            replicas::list_dataset_replicas(ctx, parse(name, args)?).await
        }
        "rucio_list_scopes" => accounts::list_scopes(ctx, parse(name, args)?).await,
        "rucio_list_scopes_for_account" => {
            accounts::list_scopes_for_account(ctx, parse(name, args)?).await
        }
        "rucio_list_rses" => rses::list_rses(ctx, parse(name, args)?).await,
        "rucio_list_rse_attributes" => rses::list_rse_attributes(ctx, parse(name, args)?).await,
        "rucio_get_rse_usage" => rses::get_rse_usage(ctx, parse(name, args)?).await,
        "rucio_get_rse" => rses::get_rse(ctx, parse(name, args)?).await,
        "rucio_get_rse_limits" => rses::get_rse_limits(ctx, parse(name, args)?).await,
        "rucio_get_rse_protocols" => rses::get_rse_protocols(ctx, parse(name, args)?).await,
        "rucio_get_distance" => rses::get_distance(ctx, parse(name, args)?).await,
        "rucio_list_transfer_limits" => rses::list_transfer_limits(ctx, parse(name, args)?).await,
        "rucio_list_requests" => rses::list_requests(ctx, parse(name, args)?, false).await,
        "rucio_list_requests_history" => rses::list_requests(ctx, parse(name, args)?, true).await,
        "rucio_list_did_rules" => rules::list_did_rules(ctx, parse(name, args)?).await,
        "rucio_get_replication_rule" => rules::get_rule(ctx, parse(name, args)?).await,
        "rucio_list_rule_history" => rules::list_rule_history(ctx, parse(name, args)?).await,
        "rucio_list_replication_rules" => rules::list_rules(ctx, parse(name, args)?).await,
        "rucio_add_rule" => rules::add_rule(ctx, parse(name, args)?).await,
        "rucio_delete_rule" => rules::delete_rule(ctx, parse(name, args)?).await,
        "rucio_update_rule" => rules::update_rule(ctx, parse(name, args)?).await,
        "rucio_reduce_rule" => rules::reduce_rule(ctx, parse(name, args)?).await,
        "rucio_move_rule" => rules::move_rule(ctx, parse(name, args)?).await,
        "rucio_approve_rule" => rules::approve_rule(ctx, parse(name, args)?).await,
        "rucio_deny_rule" => rules::deny_rule(ctx, parse(name, args)?).await,
        "rucio_get_dataset_locks" => rules::get_dataset_locks(ctx, parse(name, args)?).await,
        "rucio_get_dataset_locks_by_rse" => {
            rules::get_dataset_locks_by_rse(ctx, parse(name, args)?).await
        }
        "rucio_get_local_account_usage" => {
            accounts::get_local_account_usage(ctx, parse(name, args)?).await
        }
        "rucio_get_local_account_limits" => {
            accounts::get_local_account_limits(ctx, parse(name, args)?).await
        }
        "rucio_list_accounts" => accounts::list_accounts(ctx, parse(name, args)?).await,
        "rucio_get_account" => accounts::get_account(ctx, parse(name, args)?).await,
        "rucio_list_account_rules" => accounts::list_account_rules(ctx, parse(name, args)?).await,
        "rucio_list_subscriptions" => misc::list_subscriptions(ctx, parse(name, args)?).await,
        "rucio_list_subscription_rules" => {
            misc::list_subscription_rules(ctx, parse(name, args)?).await
        }
        "rucio_ping" => misc::ping(ctx).await,
        "rucio_whoami" => misc::whoami(ctx).await,
        other => Err(ToolError::new(
            ErrorCategory::InvalidArgument,
            format!("unknown tool `{other}`"),
            "Call `tools/list` for the tools this server offers.",
        )),
    }
}

/// Reads a tool's arguments; a type error names the argument and the expected type.
fn parse<T: DeserializeOwned>(tool: &str, mut args: Map<String, Value>) -> Result<T, ToolError> {
    if let Some(spec) = crate::catalog::find(tool) {
        choices::join_list_arrays(&mut args);
        coerce_to_schema(&mut args, &spec.tool.input_schema);
        if let Some(problem) = type_mismatch(&args, &spec.tool.input_schema) {
            return Err(ToolError::argument(
                format!("bad arguments for `{tool}`: {problem}"),
                "Check the tool's input schema: DIDs are strings like `scope:name`, limit/offset are integers, flags are true/false.",
            ));
        }
    }
    serde_json::from_value(Value::Object(args)).map_err(|e| {
        ToolError::argument(
            format!("bad arguments for `{tool}`: {e}"),
            "Check the tool's input schema: DIDs are strings like `scope:name`, limit/offset are integers, flags are true/false.",
        )
    })
}

/// Models and some clients send `"50"` for an integer or `"true"` for a boolean: accept those where
/// the schema is unambiguous, rather than fail the call over quoting.
fn coerce_to_schema(args: &mut Map<String, Value>, schema: &Map<String, Value>) {
    let Some(Value::Object(properties)) = schema.get("properties") else { return };
    for (name, value) in args.iter_mut() {
        let Value::String(text) = value else { continue };
        let declared = properties.get(name).and_then(|p| p.get("type")).and_then(Value::as_str);
        let coerced = match declared {
            Some("integer") => text.trim().parse::<i64>().ok().map(Value::from),
            Some("boolean") => match text.trim().to_ascii_lowercase().as_str() {
                "true" => Some(Value::Bool(true)),
                "false" => Some(Value::Bool(false)),
                _ => None,
            },
            _ => None,
        };
        if let Some(v) = coerced {
            *value = v;
        }
    }
}

/// The first argument whose JSON type is not the one its schema declares, said in words.
fn type_mismatch(args: &Map<String, Value>, schema: &Map<String, Value>) -> Option<String> {
    let Some(Value::Object(properties)) = schema.get("properties") else { return None };
    args.iter().find_map(|(name, value)| {
        let property = properties.get(name)?;
        // `anyOf` properties (nullable ones) accept several types: serde judges those.
        let declared = property.get("type").and_then(Value::as_str)?;
        let fits = match declared {
            "integer" => value.is_i64() || value.is_u64(),
            "boolean" => value.is_boolean(),
            "string" => value.is_string(),
            _ => true,
        };
        (!fits).then(|| format!("`{name}` must be {} (got {value})", article(declared)))
    })
}

fn article(json_type: &str) -> &'static str {
    match json_type {
        "integer" => "an integer",
        "boolean" => "true or false",
        _ => "a string",
    }
}

/// Parses a DID argument, with an example of a good one on failure.
pub(crate) fn did_arg(name: &str, raw: &str) -> Result<Did, ToolError> {
    Did::parse(raw).map_err(|e| {
        ToolError::argument(
            format!("`{name}` = {raw:?} is not a DID: {e}"),
            "Give a DID as `scope:name`, e.g. `data24:data24.run00001.DAOD`; `rucio_list_dids` finds names.",
        )
    })
}

/// Parses a list of DIDs, separated by commas, spaces or newlines.
pub(crate) fn did_list_arg(name: &str, raw: &str) -> Result<Vec<Did>, ToolError> {
    let dids: Vec<Did> =
        choices::list_items(raw).map(|s| did_arg(name, s)).collect::<Result<_, _>>()?;
    if dids.is_empty() {
        return Err(ToolError::argument(
            format!("`{name}` is empty"),
            "Give one or more DIDs separated by commas or spaces, e.g. `data24:file_1.root,data24:file_2.root`.",
        ));
    }
    Ok(dids)
}

/// A required string argument that must not be blank.
pub(crate) fn required<'a>(
    name: &str,
    value: &'a str,
    example: &str,
) -> Result<&'a str, ToolError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ToolError::argument(
            format!("`{name}` must not be empty"),
            format!("For example: `{example}`."),
        ));
    }
    Ok(trimmed)
}

pub(crate) fn page_request(limit: i64, offset: i64) -> Result<PageRequest, ToolError> {
    PageRequest::new(limit, offset).map_err(|e| {
        ToolError::argument(
            e,
            "Use limit >= 1 and offset >= 0 (the `next_offset` of the previous page).",
        )
    })
}

/// The structured content of a list result: the echo fields, the items under `key`, the paging fields.
pub(crate) fn list_structured<T: Serialize>(
    mut base: Map<String, Value>,
    key: &str,
    page: &Page<T>,
) -> Value {
    base.insert(key.to_owned(), json!(page.items));
    base.insert("offset".into(), json!(page.offset));
    base.insert("limit".into(), json!(page.limit));
    base.insert("truncated".into(), json!(page.truncated()));
    base.insert("next_offset".into(), json!(page.next_offset));
    Value::Object(base)
}

/// Builds the echo map of a result from `(key, value)` pairs.
pub(crate) fn echo(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
}

/// A value as JSON for structured content; our models always serialise.
pub(crate) fn to_json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

// Defaults of the catalog's parameters (serde wants functions).
fn default_true() -> bool {
    true
}

fn twenty() -> i64 {
    20
}

fn fifty() -> i64 {
    50
}

fn hundred() -> i64 {
    100
}

/// A trimmed string argument, `None` when empty (Rucio's "not given").
fn non_empty(raw: &str) -> Option<String> {
    let trimmed = raw.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

/// A JSON value as a table cell: strings without their quotes.
fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn quoted_numbers_and_flags_are_accepted_where_the_schema_is_clear() {
        let args: Map<String, Value> = serde_json::from_str(
            r#"{"did": "data24:x", "limit": " 20 ", "long": "TRUE", "offset": "x"}"#,
        )
        .unwrap();
        let spec = crate::catalog::find("rucio_list_files").unwrap();
        let mut coerced = args.clone();
        coerce_to_schema(&mut coerced, &spec.tool.input_schema);
        assert_eq!(coerced["limit"], 20);
        assert_eq!(coerced["long"], true);
        assert_eq!(coerced["did"], "data24:x", "strings stay strings");
        assert_eq!(coerced["offset"], "x", "what does not parse is left for the type error");
        let err = parse::<dids_args::ListFilesProbe>("rucio_list_files", args).unwrap_err();
        assert!(err.message.contains("`offset` must be an integer (got \"x\")"), "{}", err.message);
    }

    mod dids_args {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        pub(crate) struct ListFilesProbe {
            pub did: String,
            pub limit: i64,
            pub long: bool,
            pub offset: i64,
        }
    }
}
