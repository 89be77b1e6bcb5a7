//! An example extension of dirac-mcp: a small "lhcb" tool set of production and analysis helpers
//! over the same DiracX client, added to the built-in tools without a change to them.
//!
//! A community's crate does what this one does: implement [`ToolSet`] (tools with their policy
//! [`Action`], and the calls), and give `dirac_mcp::run` a function that adds the set to the
//! [`Registry`] (see `examples/dirac-mcp-lhcb.rs`). It depends on `dirac-mcp-tools` and
//! `diracx-client` only.

use std::sync::Arc;

use async_trait::async_trait;
use dirac_mcp_tools::args::{input_schema, parse};
use dirac_mcp_tools::format::table;
use dirac_mcp_tools::toolset::DuplicateTool;
use dirac_mcp_tools::{
    Action, Registry, ToolContext, ToolDef, ToolError, ToolOutput, ToolResult, ToolSet,
};
use diracx_client::{Condition, JobSearch, JobStatus, ScalarOperator};
use rmcp::model::{Tool, ToolAnnotations};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// Adds the LHCb tools to a registry (the `extend` function of an LHCb build).
pub fn extend(registry: Registry) -> Result<Registry, DuplicateTool> {
    registry.with(Arc::new(LhcbTools::new()))
}

#[derive(Debug)]
pub struct LhcbTools {
    defs: Vec<ToolDef>,
}

impl Default for LhcbTools {
    fn default() -> Self {
        Self::new()
    }
}

impl LhcbTools {
    pub fn new() -> Self {
        let read = |title: &'static str, description: &'static str, tool: Tool| {
            let mut annotations = ToolAnnotations::new().read_only(true).open_world(true);
            annotations.title = Some(title.to_owned());
            let mut tool = tool.with_title(title).with_annotations(annotations);
            tool.description = Some(description.into());
            ToolDef { tool, action: Action::Query }
        };
        let defs = vec![
            read(
                "Production progress",
                "How far a production (a DIRAC job group such as 00012345) has come: its jobs by status, the share done, and why failed jobs failed.",
                Tool::new("lhcb_production_progress", "", input_schema::<ProductionArgs>())
                    .with_output_schema::<ProductionOutput>(),
            ),
            read(
                "Failed jobs report",
                "Where and why jobs failed: failed jobs grouped by site and application status, with example job ids, optionally for one job group.",
                Tool::new("lhcb_failed_jobs_report", "", input_schema::<FailedArgs>())
                    .with_output_schema::<FailedOutput>(),
            ),
        ];
        Self { defs }
    }
}

#[async_trait]
impl ToolSet for LhcbTools {
    fn name(&self) -> &str {
        "lhcb"
    }

    fn tools(&self) -> &[ToolDef] {
        &self.defs
    }

    async fn call(&self, ctx: &ToolContext, name: &str, args: Map<String, Value>) -> ToolResult {
        match name {
            "lhcb_production_progress" => production_progress(ctx, parse(name, args)?).await,
            "lhcb_failed_jobs_report" => failed_jobs_report(ctx, parse(name, args)?).await,
            other => {
                Err(ToolError::argument(format!("unknown tool `{other}`"), "Call `tools/list`."))
            }
        }
    }

    fn instructions(&self) -> Option<&str> {
        Some(
            "LHCb: a production is a DIRAC job group with an 8-digit id (e.g. 00012345); `lhcb_production_progress` shows how far one has come, `lhcb_failed_jobs_report` where and why jobs failed.",
        )
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ProductionArgs {
    /// The production's id: its DIRAC job group, e.g. `00012345` or `12345`.
    pub production: Value,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ProductionOutput {
    pub job_group: String,
    pub total: u64,
    pub by_status: Vec<Map<String, Value>>,
    /// Done jobs as a share of all, in percent.
    pub done_percent: f64,
    /// Failed jobs by minor and application status.
    pub failures: Vec<Map<String, Value>>,
}

/// `12345` → `00012345`, as LHCb productions name their job groups.
fn job_group(production: &Value) -> Result<String, ToolError> {
    let text = match production {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_owned(),
        _ => String::new(),
    };
    if text.is_empty() || !text.chars().all(|c| c.is_ascii_digit()) || text.len() > 8 {
        return Err(ToolError::argument(
            format!("`{production}` is not a production id"),
            "Give the production number, e.g. 12345 or 00012345.",
        ));
    }
    Ok(format!("{text:0>8}"))
}

fn count(rows: &[Map<String, Value>]) -> u64 {
    rows.iter().filter_map(|r| r.get("count").and_then(Value::as_u64)).sum()
}

async fn production_progress(ctx: &ToolContext, args: ProductionArgs) -> ToolResult {
    let group = job_group(&args.production)?;
    let in_group = Condition::eq("JobGroup", group.as_str());
    let failed = Condition::eq("Status", JobStatus::Failed.as_str());
    let by = ["Status".to_owned()];
    let why = ["MinorStatus".to_owned(), "ApplicationStatus".to_owned()];
    let failed_in_group = [in_group.clone(), failed];
    let (by_status, failures) = futures_util::try_join!(
        ctx.client.job_summary(&by, std::slice::from_ref(&in_group)),
        ctx.client.job_summary(&why, &failed_in_group),
    )?;
    let total = count(&by_status);
    let done: u64 = by_status
        .iter()
        .filter(|r| r.get("Status").and_then(Value::as_str) == Some("Done"))
        .filter_map(|r| r.get("count").and_then(Value::as_u64))
        .sum();
    let done_percent =
        if total == 0 { 0.0 } else { (done as f64 * 1000.0 / total as f64).round() / 10.0 };
    let text = if total == 0 {
        format!("Production {group} has no jobs (that this user may see).\n")
    } else {
        let mut text = format!(
            "Production {group}: {total} jobs, {done_percent}% done.\n\n{}",
            table(&["Status".into(), "count".into()], &by_status)
        );
        if !failures.is_empty() {
            text.push_str(&format!(
                "\nWhy jobs failed:\n\n{}",
                table(
                    &["MinorStatus".into(), "ApplicationStatus".into(), "count".into()],
                    &failures
                )
            ));
        }
        text
    };
    let output = ProductionOutput { job_group: group, total, by_status, done_percent, failures };
    Ok(ToolOutput { text, structured: json!(output) })
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct FailedArgs {
    /// Only this job group (production), e.g. `00012345`.
    #[serde(default)]
    pub job_group: Option<Value>,
    /// Only jobs last updated after this UTC time, `YYYY-MM-DD HH:MM:SS`.
    #[serde(default)]
    pub since: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct FailedOutput {
    pub total: u64,
    /// Per site and application status: the count and up to five job ids.
    pub groups: Vec<Map<String, Value>>,
}

async fn failed_jobs_report(ctx: &ToolContext, args: FailedArgs) -> ToolResult {
    let mut search = vec![Condition::eq("Status", JobStatus::Failed.as_str())];
    if let Some(group) = &args.job_group {
        search.push(Condition::eq("JobGroup", job_group(group)?.as_str()));
    }
    if let Some(since) = args.since.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        search.push(Condition::Scalar {
            parameter: "LastUpdateTime".into(),
            operator: ScalarOperator::Gt,
            value: json!(since),
        });
    }
    let query = JobSearch {
        parameters: Some(vec!["JobID".into(), "Site".into(), "ApplicationStatus".into()]),
        search,
        ..JobSearch::default()
    };
    let jobs = ctx.client.search_all_jobs(&query, 10_000).await?;
    let mut groups: Vec<Map<String, Value>> = Vec::new();
    for job in &jobs {
        let (site, status) = (
            job.get("Site").cloned().unwrap_or(Value::Null),
            job.get("ApplicationStatus").cloned().unwrap_or(Value::Null),
        );
        let id = job.get("JobID").cloned().unwrap_or(Value::Null);
        let index = groups.iter().position(|g| {
            g.get("Site") == Some(&site) && g.get("ApplicationStatus") == Some(&status)
        });
        let group = match index {
            Some(i) => &mut groups[i],
            None => {
                let mut fresh = Map::new();
                fresh.insert("Site".into(), site);
                fresh.insert("ApplicationStatus".into(), status);
                fresh.insert("count".into(), json!(0));
                fresh.insert("examples".into(), json!([]));
                groups.push(fresh);
                let last = groups.len() - 1;
                &mut groups[last]
            }
        };
        let n = group.get("count").and_then(Value::as_u64).unwrap_or(0);
        group.insert("count".into(), json!(n + 1));
        if let Some(Value::Array(examples)) = group.get_mut("examples")
            && examples.len() < 5
        {
            examples.push(id);
        }
    }
    groups.sort_by_key(|g| std::cmp::Reverse(g.get("count").and_then(Value::as_u64).unwrap_or(0)));
    let total = jobs.len() as u64;
    let text = if total == 0 {
        "No failed jobs.\n".to_owned()
    } else {
        format!(
            "{total} failed jobs:\n\n{}",
            table(
                &["Site".into(), "ApplicationStatus".into(), "count".into(), "examples".into()],
                &groups
            )
        )
    };
    Ok(ToolOutput { text, structured: json!(FailedOutput { total, groups }) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_ids_are_padded_job_groups() {
        assert_eq!(job_group(&json!(12345)).ok().as_deref(), Some("00012345"));
        assert_eq!(job_group(&json!("00012345")).ok().as_deref(), Some("00012345"));
        assert!(job_group(&json!("12a")).is_err());
        assert!(job_group(&json!("123456789")).is_err());
    }

    #[test]
    fn the_set_adds_to_the_built_in_tools_and_refuses_a_clash() {
        let registry = extend(dirac_mcp_tools::default_registry()).ok();
        let names: Vec<String> =
            registry.iter().flat_map(|r| r.all().map(|d| d.name().to_owned())).collect();
        assert!(names.iter().any(|n| n == "lhcb_production_progress"));
        assert!(names.iter().any(|n| n == "dirac_search_jobs"));
        let twice = registry.map(extend);
        assert!(matches!(twice, Some(Err(_))), "the same tools twice must be refused");
    }
}
