//! Reading jobs: search, one job with its history, summaries, sites.

use diracx_client::{Condition, JobSearch, SortDirection, SortSpec};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::args::{ConditionList, Names, ScalarValue};
use crate::errors::{ErrorCategory, ToolError};
use crate::filters::conditions;
use crate::format::{columns, table};
use crate::toolset::{ToolContext, ToolOutput, ToolResult};

/// The fields a search returns unless asked for others.
pub const DEFAULT_FIELDS: &[&str] = &[
    "JobID",
    "JobName",
    "Status",
    "MinorStatus",
    "ApplicationStatus",
    "Site",
    "Owner",
    "LastUpdateTime",
];
const MAX_PER_PAGE: u32 = 500;

/// The flat filter of search and summary: one condition from `parameter`/`operator`/`value(s)`,
/// and any number more in `conditions`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct Filter {
    /// The job attribute to filter on, e.g. `Status`, `MinorStatus`, `ApplicationStatus`, `Site`, `JobName`, `JobGroup`, `JobID`, `Owner`, `SubmissionTime`, `LastUpdateTime`. Omit to match every job.
    #[serde(default)]
    pub parameter: Option<String>,
    /// How to compare: `eq` (default), `neq`, `gt`, `lt`, `like` (SQL wildcards `%` and `_`), `not like`, `regex`, `in`, `not in`.
    #[serde(default)]
    pub operator: Option<String>,
    /// The value to compare with, e.g. `Failed`, `LCG.CERN.ch`, `%analysis%`, `2026-11-22 00:00:00` (times in UTC).
    #[serde(default)]
    pub value: Option<ScalarValue>,
    /// The values of `in` / `not in`, e.g. `["Failed", "Stalled"]`.
    #[serde(default)]
    pub values: Option<Names>,
    /// More conditions, all of which must hold, e.g. `[{"parameter": "Site", "operator": "eq", "value": "LCG.CERN.ch"}]`.
    #[serde(default)]
    pub conditions: Option<ConditionList>,
}

impl Filter {
    pub fn to_conditions(&self) -> Result<Vec<Condition>, ToolError> {
        conditions(
            self.parameter.as_deref(),
            self.operator.as_deref(),
            self.value.as_ref(),
            self.values.as_ref(),
            self.conditions.as_ref(),
        )
    }
}

/// Which jobs (the filter), which fields, in which order, which page.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SearchArgs {
    #[serde(flatten)]
    pub filter: Filter,
    /// The fields to return (default: JobID, JobName, Status, MinorStatus, ApplicationStatus, Site, Owner, LastUpdateTime). Add `LoggingInfo` for each job's status history.
    #[serde(default)]
    pub fields: Option<Names>,
    /// The field to sort by (default `JobID`).
    #[serde(default)]
    pub sort_by: Option<String>,
    /// `desc` (default: newest jobs first) or `asc`.
    #[serde(default)]
    pub sort_order: Option<String>,
    /// The page to return, from 1 (the `next_page` of the previous answer).
    #[serde(default = "one")]
    pub page: u32,
    /// Jobs per page (default 20, at most 500).
    #[serde(default = "twenty")]
    pub per_page: u32,
}

fn one() -> u32 {
    1
}

fn twenty() -> u32 {
    20
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SearchOutput {
    /// The jobs of this page, with the requested fields.
    pub jobs: Vec<Map<String, Value>>,
    /// How many jobs match in all.
    pub total: u64,
    pub page: u32,
    pub per_page: u32,
    /// The page to ask for next, or null when this is the last.
    pub next_page: Option<u32>,
    /// The conditions as sent to DiracX.
    pub conditions: Vec<Value>,
}

fn sort(by: Option<&str>, order: Option<&str>) -> Result<Vec<SortSpec>, ToolError> {
    let direction = match order.map(|o| o.trim().to_ascii_lowercase()).as_deref() {
        None | Some("" | "desc" | "descending" | "newest") => SortDirection::Desc,
        Some("asc" | "ascending" | "oldest") => SortDirection::Asc,
        Some(other) => {
            return Err(ToolError::argument(
                format!("unknown sort order `{other}`"),
                "Use `asc` or `desc`.",
            ));
        }
    };
    let parameter = by.map(str::trim).filter(|b| !b.is_empty()).unwrap_or("JobID").to_owned();
    Ok(vec![SortSpec { parameter, direction }])
}

pub async fn search_jobs(ctx: &ToolContext, args: SearchArgs) -> ToolResult {
    let search_conditions = args.filter.to_conditions()?;
    let fields: Vec<String> = match args.fields {
        Some(Names(fields)) if !fields.is_empty() => fields,
        _ => DEFAULT_FIELDS.iter().map(|f| (*f).to_owned()).collect(),
    };
    let per_page = args.per_page.clamp(1, MAX_PER_PAGE);
    let search = JobSearch {
        parameters: Some(fields.clone()),
        search: search_conditions.clone(),
        sort: sort(args.sort_by.as_deref(), args.sort_order.as_deref())?,
        distinct: false,
    };
    let page = ctx.client.search_jobs(&search, args.page.max(1), per_page).await?;
    let next_page = page.has_more().then_some(page.page + 1);
    let shown_from = page.first + 1;
    let shown_to = page.first + page.jobs.len() as u64;
    let mut text = if page.jobs.is_empty() && page.total > 0 {
        format!(
            "Page {} is past the end: {} jobs match ({} per page).\n",
            page.page, page.total, page.per_page
        )
    } else if page.jobs.is_empty() {
        "No jobs match.\n".to_owned()
    } else {
        format!(
            "Jobs {shown_from}–{shown_to} of {} matching:\n\n{}",
            page.total,
            table(&columns(&fields, &page.jobs), &page.jobs)
        )
    };
    if let Some(next) = next_page {
        text.push_str(&format!("\nMore jobs match: call again with page={next}.\n"));
    }
    let output = SearchOutput {
        total: page.total,
        page: page.page,
        per_page: page.per_page,
        next_page,
        conditions: search_conditions.iter().filter_map(|c| serde_json::to_value(c).ok()).collect(),
        jobs: page.jobs,
    };
    Ok(ToolOutput { text, structured: json!(output) })
}

/// The job to show.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct GetJobArgs {
    /// The job's id, e.g. 12345.
    pub job_id: crate::args::OneJobId,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct GetJobOutput {
    /// Every attribute DiracX keeps for the job.
    pub job: Map<String, Value>,
    /// The job's status history, oldest first.
    pub history: Vec<Value>,
}

pub async fn get_job(ctx: &ToolContext, args: GetJobArgs) -> ToolResult {
    let id = args.job_id.0;
    let search = JobSearch { search: vec![Condition::eq("JobID", id)], ..JobSearch::default() };
    let with_history = JobSearch {
        parameters: Some(vec!["JobID".into(), "LoggingInfo".into()]),
        ..search.clone()
    };
    let (attributes, history) = futures_util::try_join!(
        ctx.client.search_jobs(&search, 1, 1),
        ctx.client.search_jobs(&with_history, 1, 1)
    )?;
    let Some(job) = attributes.jobs.into_iter().next() else {
        return Err(ToolError::new(
            ErrorCategory::NotFound,
            format!("no job {id} (or {} may not see it)", ctx.user.username),
            "Find the user's jobs with `dirac_search_jobs`.",
        ));
    };
    let history: Vec<Value> = history
        .jobs
        .first()
        .and_then(|j| j.get("LoggingInfo"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut text = format!("Job {id}");
    if let Some(name) = job.get("JobName").and_then(Value::as_str) {
        text.push_str(&format!(" ({name})"));
    }
    let field = |k: &str| crate::format::cell(job.get(k));
    text.push_str(&format!(
        ": {} / {} / {}, site {}, owner {}.\n\n",
        field("Status"),
        field("MinorStatus"),
        field("ApplicationStatus"),
        field("Site"),
        field("Owner")
    ));
    let rows: Vec<Map<String, Value>> =
        history.iter().filter_map(|h| h.as_object().cloned()).collect();
    let cols: Vec<String> = ["StatusTime", "Status", "MinorStatus", "ApplicationStatus", "Source"]
        .map(str::to_owned)
        .to_vec();
    if !rows.is_empty() {
        text.push_str("History:\n\n");
        text.push_str(&table(&cols, &rows));
    }
    Ok(ToolOutput { text, structured: json!(GetJobOutput { job, history }) })
}

/// How to group and which jobs to count.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SummaryArgs {
    /// The attributes to group and count by (default `["Status"]`), e.g. `["Status", "Site"]`.
    #[serde(default)]
    pub group_by: Option<Names>,
    #[serde(flatten)]
    pub filter: Filter,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SummaryOutput {
    pub group_by: Vec<String>,
    /// One row per group: the grouping attributes and `count`.
    pub groups: Vec<Map<String, Value>>,
    /// The jobs counted in all.
    pub total: u64,
}

pub async fn job_summary(ctx: &ToolContext, args: SummaryArgs) -> ToolResult {
    let group_by = match args.group_by {
        Some(Names(g)) if !g.is_empty() => g,
        _ => vec!["Status".to_owned()],
    };
    let search = args.filter.to_conditions()?;
    let mut groups = ctx.client.job_summary(&group_by, &search).await?;
    groups.sort_by_key(|row| {
        std::cmp::Reverse(row.get("count").and_then(Value::as_u64).unwrap_or(0))
    });
    let total = groups.iter().filter_map(|row| row.get("count").and_then(Value::as_u64)).sum();
    let text = if groups.is_empty() {
        "No jobs match.\n".to_owned()
    } else {
        let mut cols = group_by.clone();
        cols.push("count".into());
        format!("{total} jobs by {}:\n\n{}", group_by.join(", "), table(&cols, &groups))
    };
    Ok(ToolOutput { text, structured: json!(SummaryOutput { group_by, groups, total }) })
}

/// No arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct NoArgs {}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SitesOutput {
    /// The sites, with their grid where the configuration names it and the user's job counts where they come from jobs.
    pub sites: Vec<Map<String, Value>>,
    /// `configuration` (the CS lists the sites) or `jobs` (the sites the user's jobs went to).
    pub source: String,
}

pub async fn list_sites(ctx: &ToolContext, _args: NoArgs) -> ToolResult {
    let config = ctx.client.config().await?;
    let configured = config.sites();
    if !configured.is_empty() {
        let sites: Vec<Map<String, Value>> = configured
            .iter()
            .filter_map(|(grid, site)| json!({ "site": site, "grid": grid }).as_object().cloned())
            .collect();
        let text = format!(
            "{} sites in the configuration:\n\n{}",
            sites.len(),
            table(&["site".into(), "grid".into()], &sites)
        );
        return Ok(ToolOutput {
            text,
            structured: json!(SitesOutput { sites, source: "configuration".into() }),
        });
    }
    let mut rows = ctx.client.job_summary(&["Site".to_owned()], &[]).await?;
    rows.sort_by_key(|row| {
        std::cmp::Reverse(row.get("count").and_then(Value::as_u64).unwrap_or(0))
    });
    let sites: Vec<Map<String, Value>> = rows
        .into_iter()
        .filter_map(|row| {
            json!({ "site": row.get("Site"), "jobs": row.get("count") }).as_object().cloned()
        })
        .collect();
    let text = if sites.is_empty() {
        "This DiracX's configuration lists no sites, and there are no jobs to learn them from.\n"
            .to_owned()
    } else {
        format!(
            "This DiracX's configuration does not list its sites; these are the sites jobs went to (`ANY` means not yet matched):\n\n{}",
            table(&["site".into(), "jobs".into()], &sites)
        )
    };
    Ok(ToolOutput { text, structured: json!(SitesOutput { sites, source: "jobs".into() }) })
}
