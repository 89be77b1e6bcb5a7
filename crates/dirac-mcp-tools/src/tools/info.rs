//! Who the user is, and what the configuration says.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::errors::{ErrorCategory, ToolError};
use crate::toolset::{ToolContext, ToolOutput, ToolResult};

#[derive(Debug, Serialize, JsonSchema)]
pub struct Group {
    pub name: String,
    pub properties: Vec<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct WhoamiOutput {
    pub username: String,
    pub sub: String,
    pub vo: String,
    pub group: String,
    pub properties: Vec<String>,
    pub job_administrator: bool,
    /// The groups of the VO (a login with another group gives other rights).
    pub vo_groups: Vec<Group>,
    pub diracx_url: String,
}

pub async fn whoami(ctx: &ToolContext, _args: super::query::NoArgs) -> ToolResult {
    let user = &ctx.user;
    let config = ctx.client.config().await?;
    let vo_groups: Vec<Group> = config
        .groups(&user.vo)
        .into_iter()
        .map(|(name, properties)| Group { name, properties })
        .collect();
    let text = format!(
        "Signed in to {} as **{}** (VO {}, group {}, properties {}).{}\n",
        ctx.client.url(),
        user.username,
        user.vo,
        user.group,
        user.properties.join(", "),
        if user.is_job_administrator() {
            " As a job administrator, this user may act on every job of the VO."
        } else {
            ""
        }
    );
    let output = WhoamiOutput {
        username: user.username.clone(),
        sub: user.sub.clone(),
        vo: user.vo.clone(),
        group: user.group.clone(),
        properties: user.properties.clone(),
        job_administrator: user.is_job_administrator(),
        vo_groups,
        diracx_url: ctx.client.url().to_string(),
    };
    Ok(ToolOutput { text, structured: json!(output) })
}

/// The configuration section to read.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ConfigArgs {
    /// The section's path, `/`-separated, e.g. `Operations/<vo>/JobDescription` or `Registry/<vo>/Groups`. Empty for the top-level sections.
    #[serde(default)]
    pub section: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ConfigOutput {
    pub section: String,
    pub value: Value,
}

/// Sections larger than this are listed by their keys, not shown whole.
const CONFIG_TEXT_LIMIT: usize = 20_000;

pub async fn get_config(ctx: &ToolContext, args: ConfigArgs) -> ToolResult {
    let config = ctx.client.config().await?;
    let path: Vec<&str> =
        args.section.split('/').map(str::trim).filter(|p| !p.is_empty()).collect();
    let value = if path.is_empty() {
        Value::Array(config.raw().keys().map(|k| json!(k)).collect())
    } else {
        config.section(&path).cloned().ok_or_else(|| {
            let parent = &path[..path.len() - 1];
            let known: Vec<String> =
                match if parent.is_empty() { Some(&Value::Null) } else { config.section(parent) } {
                    Some(Value::Object(map)) => map.keys().cloned().collect(),
                    Some(Value::Null) if parent.is_empty() => {
                        config.raw().keys().cloned().collect()
                    }
                    _ => Vec::new(),
                };
            ToolError::new(
                ErrorCategory::NotFound,
                format!("the configuration has no section `{}`", path.join("/")),
                if known.is_empty() {
                    "Start from the top: call with an empty `section`.".to_owned()
                } else {
                    format!("`{}` has: {}.", parent.join("/"), known.join(", "))
                },
            )
        })?
    };
    let pretty = serde_json::to_string_pretty(&value).unwrap_or_default();
    let text = if pretty.len() > CONFIG_TEXT_LIMIT {
        let keys: Vec<String> =
            value.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
        format!(
            "`{}` is large; its keys: {}. Ask for one of them.\n",
            args.section,
            keys.join(", ")
        )
    } else {
        format!(
            "`{}`:\n\n```json\n{pretty}\n```\n",
            if args.section.is_empty() { "/" } else { &args.section }
        )
    };
    Ok(ToolOutput { text, structured: json!(ConfigOutput { section: path.join("/"), value }) })
}
