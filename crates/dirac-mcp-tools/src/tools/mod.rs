//! The built-in tool set: job search, details, summaries, submission, kill/delete/reschedule,
//! status changes for administrators, sandboxes, sites, identity and configuration.

mod actions;
mod info;
mod query;
mod sandboxes;

use async_trait::async_trait;
use rmcp::model::{Tool, ToolAnnotations};
use schemars::JsonSchema;
use serde_json::{Map, Value};

use crate::args::{input_schema, parse};
use crate::errors::ToolError;
use crate::policy::Action;
use crate::toolset::{ToolContext, ToolDef, ToolResult, ToolSet};

pub use query::DEFAULT_FIELDS;

/// How a tool treats DiracX, for its annotations.
#[derive(Clone, Copy)]
enum Effect {
    Reads,
    /// Creates something new each time (not idempotent, not destructive).
    Creates,
    /// Changes existing jobs; calling twice does no more than once.
    Changes,
    /// Ends jobs.
    Destroys,
}

fn def<In: JsonSchema + 'static, Out: JsonSchema + 'static>(
    name: &'static str,
    title: &'static str,
    description: &'static str,
    action: Action,
    effect: Effect,
) -> ToolDef {
    let annotations = ToolAnnotations::new().open_world(true);
    let mut annotations = match effect {
        Effect::Reads => annotations.read_only(true),
        Effect::Creates => annotations.read_only(false).destructive(false).idempotent(false),
        Effect::Changes => annotations.read_only(false).destructive(false).idempotent(true),
        Effect::Destroys => annotations.read_only(false).destructive(true).idempotent(true),
    };
    annotations.title = Some(title.to_owned());
    let tool = Tool::new(name, description, input_schema::<In>())
        .with_title(title)
        .with_output_schema::<Out>()
        .with_annotations(annotations);
    ToolDef { tool, action }
}

/// The tools of dirac-mcp itself.
#[derive(Debug)]
pub struct CoreTools {
    defs: Vec<ToolDef>,
}

impl Default for CoreTools {
    fn default() -> Self {
        Self::new()
    }
}

impl CoreTools {
    pub fn new() -> Self {
        use Action::*;
        use Effect::*;
        let defs = vec![
            def::<query::SearchArgs, query::SearchOutput>(
                "dirac_search_jobs",
                "Search jobs",
                "Find jobs by any attribute and return chosen fields, sorted and paged. Simple filter: `parameter` + `operator` + `value` (e.g. Status eq Failed); more conditions in `conditions`. Without a filter it lists the user's jobs, newest first.",
                Query,
                Reads,
            ),
            def::<query::GetJobArgs, query::GetJobOutput>(
                "dirac_get_job",
                "Job details",
                "Everything about one job: its attributes (status, minor and application status, site, times, owner) and its status history.",
                Query,
                Reads,
            ),
            def::<query::SummaryArgs, query::SummaryOutput>(
                "dirac_job_summary",
                "Job counts",
                "Count jobs grouped by attributes (default: by Status), optionally filtered like dirac_search_jobs. Use it for 'how many of my jobs failed?' and overviews.",
                Query,
                Reads,
            ),
            def::<actions::SubmitArgs, actions::SubmitOutput>(
                "dirac_submit_job",
                "Submit a job",
                "Submit a job: either a complete JDL, or the simple form (executable, arguments, job_name, sandboxes, site, cpu_time, memory_mb, processors) from which the JDL is built. `dry_run` returns the JDL without submitting.",
                Create,
                Creates,
            ),
            def::<actions::JobIdsArgs, actions::StatusChangeOutput>(
                "dirac_kill_jobs",
                "Kill jobs",
                "Kill running or waiting jobs. Jobs DiracX does not kill (already finished) are reported as not killed, with the reason.",
                Manage,
                Destroys,
            ),
            def::<actions::JobIdsArgs, actions::StatusChangeOutput>(
                "dirac_delete_jobs",
                "Delete jobs",
                "Delete jobs: they are killed if still active and then marked Deleted. Ask the user before deleting.",
                Manage,
                Destroys,
            ),
            def::<actions::RescheduleArgs, actions::RescheduleOutput>(
                "dirac_reschedule_jobs",
                "Reschedule jobs",
                "Run failed, killed or stalled jobs again (DiracX limits how often a job may be rescheduled; `reset_counter` resets that count).",
                Manage,
                Changes,
            ),
            def::<actions::SetStatusArgs, actions::StatusChangeOutput>(
                "dirac_set_job_status",
                "Set job status (administrators)",
                "Set a job status for job administrators, within DiracX's state machine or, with `force`, beyond it. Reports per job whether DiracX applied or ignored it.",
                ForceStatus,
                Changes,
            ),
            def::<sandboxes::ListSandboxesArgs, sandboxes::ListSandboxesOutput>(
                "dirac_list_sandboxes",
                "Job sandboxes",
                "The input and output sandboxes of a job (the archives of its input files and of std.out, std.err and its output files), with download links.",
                Read,
                Reads,
            ),
            def::<sandboxes::SandboxUrlArgs, sandboxes::Sandbox>(
                "dirac_get_sandbox_url",
                "Sandbox download link",
                "A fresh download link for one sandbox PFN (links expire; use this when an earlier one did).",
                Read,
                Reads,
            ),
            def::<query::NoArgs, query::SitesOutput>(
                "dirac_list_sites",
                "Sites",
                "The grid sites: from the configuration where it lists them, else the sites the user's jobs went to, with counts.",
                Info,
                Reads,
            ),
            def::<query::NoArgs, info::WhoamiOutput>(
                "dirac_whoami",
                "Who am I",
                "The signed-in DiracX user: name, VO, group and properties (what they may do), and the VO's groups.",
                Info,
                Reads,
            ),
            def::<info::ConfigArgs, info::ConfigOutput>(
                "dirac_get_config",
                "Configuration",
                "A section of DiracX's configuration by path, e.g. `Operations/<vo>/JobDescription` (CPU time and priority limits, allowed job types) or `Registry/<vo>/Groups`.",
                Info,
                Reads,
            ),
        ];
        Self { defs }
    }
}

#[async_trait]
impl ToolSet for CoreTools {
    fn name(&self) -> &str {
        "core"
    }

    fn tools(&self) -> &[ToolDef] {
        &self.defs
    }

    async fn call(&self, ctx: &ToolContext, name: &str, args: Map<String, Value>) -> ToolResult {
        match name {
            "dirac_search_jobs" => query::search_jobs(ctx, parse(name, args)?).await,
            "dirac_get_job" => query::get_job(ctx, parse(name, args)?).await,
            "dirac_job_summary" => query::job_summary(ctx, parse(name, args)?).await,
            "dirac_list_sites" => query::list_sites(ctx, parse(name, args)?).await,
            "dirac_submit_job" => actions::submit_job(ctx, parse(name, args)?).await,
            "dirac_kill_jobs" => actions::kill_jobs(ctx, parse(name, args)?).await,
            "dirac_delete_jobs" => actions::delete_jobs(ctx, parse(name, args)?).await,
            "dirac_reschedule_jobs" => actions::reschedule_jobs(ctx, parse(name, args)?).await,
            "dirac_set_job_status" => actions::set_job_status(ctx, parse(name, args)?).await,
            "dirac_list_sandboxes" => sandboxes::list_sandboxes(ctx, parse(name, args)?).await,
            "dirac_get_sandbox_url" => sandboxes::sandbox_url(ctx, parse(name, args)?).await,
            "dirac_whoami" => info::whoami(ctx, parse(name, args)?).await,
            "dirac_get_config" => info::get_config(ctx, parse(name, args)?).await,
            other => Err(ToolError::argument(
                format!("unknown tool `{other}`"),
                "Call `tools/list` for the tools this server offers.",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_has_object_schemas_and_annotations() {
        let tools = CoreTools::new();
        assert_eq!(tools.tools().len(), 13);
        for def in tools.tools() {
            let tool = &def.tool;
            assert_eq!(
                tool.input_schema.get("type").and_then(Value::as_str),
                Some("object"),
                "{}",
                tool.name
            );
            let output = tool.output_schema.as_ref().map(|s| s.get("type").cloned());
            assert_eq!(output, Some(Some(Value::from("object"))), "{}", tool.name);
            assert!(
                tool.annotations.as_ref().and_then(|a| a.read_only_hint).is_some(),
                "{}",
                tool.name
            );
            assert!(tool.name.starts_with("dirac_"));
        }
    }
}
