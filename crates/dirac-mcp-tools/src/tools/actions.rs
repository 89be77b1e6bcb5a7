//! Changing jobs: submit, kill, delete, reschedule, and (for administrators) any status.

use diracx_client::{JobId, JobStatus, JobStatusUpdate, SetStatusOutcome, StatusChange};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::args::{JobIds, Names};
use crate::errors::ToolError;
use crate::jdl::SimpleJob;
use crate::policy::Action;
use crate::toolset::{ToolContext, ToolOutput, ToolResult};

/// A job to submit: a complete JDL, or the simple form.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SubmitArgs {
    /// A complete JDL (`[ Executable = "..."; ... ]`). Give either this or `executable`.
    #[serde(default)]
    pub jdl: Option<String>,
    /// The program to run, e.g. `/bin/echo` or `my_script.sh` (from the input sandbox).
    #[serde(default)]
    pub executable: Option<String>,
    /// Its command-line arguments, as one string.
    #[serde(default)]
    pub arguments: Option<String>,
    /// A name to find the job by later.
    #[serde(default)]
    pub job_name: Option<String>,
    /// Sandbox PFNs (`SB:...`) or LFNs (`LFN:...`) the job needs.
    #[serde(default)]
    pub input_sandbox: Option<Names>,
    /// Files on this computer to send with the job (paths; e.g. the script to run and its
    /// inputs): packed into an input sandbox and uploaded at submission. They land in the job's
    /// working directory under their own names. Only where the server runs on the user's machine.
    #[serde(default)]
    pub input_files: Option<Names>,
    /// Files to bring back beside `std.out` and `std.err`.
    #[serde(default)]
    pub output_sandbox: Option<Names>,
    /// Run only at this site, e.g. `LCG.CERN.ch`.
    #[serde(default)]
    pub site: Option<String>,
    /// CPU time the job needs, in seconds.
    #[serde(default)]
    pub cpu_time: Option<u64>,
    /// Memory the job needs, in MB.
    #[serde(default)]
    pub memory_mb: Option<u64>,
    /// Processors the job needs.
    #[serde(default)]
    pub processors: Option<u32>,
    /// A group to file the job under (for searching many jobs at once).
    #[serde(default)]
    pub job_group: Option<String>,
    /// Only build and return the JDL, submit nothing.
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SubmitOutput {
    /// The ids of the new jobs (empty for a dry run).
    pub job_ids: Vec<JobId>,
    /// Each new job's first status.
    pub jobs: Vec<Value>,
    /// The JDL as submitted.
    pub jdl: String,
    pub dry_run: bool,
    /// The input sandbox made of `input_files`, if any.
    pub input_sandbox: Option<String>,
}

/// Local input files in one call, at most this much in all.
const MAX_INPUT_BYTES: u64 = 20 * 1024 * 1024;

/// Reads the local input files (regular files, under the size limit), by base name.
fn read_input_files(
    ctx: &ToolContext,
    paths: &[String],
) -> Result<Vec<(String, bytes::Bytes)>, ToolError> {
    if !ctx.local_files {
        return Err(ToolError::argument(
            "`input_files` reads files on the server's machine, which this server does not allow (it is not running on the user's computer)",
            "Upload the files as a sandbox first, and pass its PFN in `input_sandbox`.",
        ));
    }
    let mut files: Vec<(String, bytes::Bytes)> = Vec::new();
    let mut total = 0;
    for path in paths {
        let path = std::path::Path::new(path.trim());
        let unreadable = |why: String| {
            ToolError::argument(
                format!("input file {}: {why}", path.display()),
                "Give paths of existing files on this computer.",
            )
        };
        let meta = std::fs::metadata(path).map_err(|e| unreadable(e.to_string()))?;
        if !meta.is_file() {
            return Err(unreadable("not a regular file".into()));
        }
        total += meta.len();
        if total > MAX_INPUT_BYTES {
            return Err(ToolError::argument(
                format!(
                    "the input files are larger than {} MB in all",
                    MAX_INPUT_BYTES / 1024 / 1024
                ),
                "Put large inputs on grid storage and give their LFNs in `input_sandbox`.",
            ));
        }
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if files.iter().any(|(n, _)| *n == name) {
            return Err(unreadable(format!("a second file named `{name}`")));
        }
        let content = std::fs::read(path).map_err(|e| unreadable(e.to_string()))?;
        files.push((name, bytes::Bytes::from(content)));
    }
    Ok(files)
}

pub async fn submit_job(ctx: &ToolContext, mut args: SubmitArgs) -> ToolResult {
    let local: Vec<String> = args.input_files.take().map(|n| n.0).unwrap_or_default();
    let files = if local.is_empty() { Vec::new() } else { read_input_files(ctx, &local)? };
    let mut uploaded = None;
    if !files.is_empty() {
        if args.jdl.as_deref().is_some_and(|j| !j.trim().is_empty()) {
            return Err(ToolError::argument(
                "`input_files` goes with the simple form, not with a complete `jdl`",
                "Add the files' sandbox PFN to the JDL's InputSandbox yourself, or use the simple form.",
            ));
        }
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        let pfn = if args.dry_run {
            format!("SB:(uploaded at submission: {})", names.join(", "))
        } else {
            let archive = diracx_client::tar_bz2(&files)?;
            ctx.client.upload_sandbox(archive, diracx_client::SandboxFormat::TarBz2).await?
        };
        let mut sandbox = args.input_sandbox.take().map(|n| n.0).unwrap_or_default();
        sandbox.insert(0, pfn.clone());
        args.input_sandbox = Some(Names(sandbox));
        uploaded = Some(pfn);
    }
    let jdl = match (
        args.jdl.as_deref().map(str::trim).filter(|j| !j.is_empty()),
        args.executable.as_deref().map(str::trim),
    ) {
        (Some(_), Some(e)) if !e.is_empty() => {
            return Err(ToolError::argument(
                "give either `jdl` or `executable`, not both",
                "Pass a complete JDL alone, or the simple form (executable, arguments, site, ...) without `jdl`.",
            ));
        }
        (Some(jdl), _) => jdl.to_owned(),
        (None, Some(executable)) if !executable.is_empty() => SimpleJob {
            executable: executable.to_owned(),
            arguments: args.arguments,
            job_name: args.job_name,
            input_sandbox: args.input_sandbox.map(|n| n.0).unwrap_or_default(),
            output_sandbox: args.output_sandbox.map(|n| n.0).unwrap_or_default(),
            site: args.site.filter(|s| !s.trim().is_empty()),
            cpu_time: args.cpu_time,
            memory_mb: args.memory_mb,
            processors: args.processors,
            job_group: args.job_group.filter(|g| !g.trim().is_empty()),
            tags: Vec::new(),
        }
        .to_jdl(),
        _ => {
            return Err(ToolError::argument(
                "nothing to submit: give `jdl` or `executable`",
                "e.g. executable=\"/bin/echo\", arguments=\"hello\"; or a JDL like [ Executable = \"/bin/echo\"; Arguments = \"hello\"; ].",
            ));
        }
    };
    if args.dry_run {
        let text = format!("The JDL (not submitted):\n\n```\n{jdl}\n```\n");
        return Ok(ToolOutput {
            text,
            structured: json!(SubmitOutput {
                job_ids: vec![],
                jobs: vec![],
                jdl,
                dry_run: true,
                input_sandbox: uploaded
            }),
        });
    }
    let inserted = ctx.client.submit_jdl(std::slice::from_ref(&jdl)).await?;
    let job_ids: Vec<JobId> = inserted.iter().map(|j| j.job_id).collect();
    let ids: Vec<String> = job_ids.iter().map(ToString::to_string).collect();
    let text = format!(
        "Submitted {} job{}: {} (status {}). Follow {} with `dirac_get_job`.\n",
        job_ids.len(),
        if job_ids.len() == 1 { "" } else { "s" },
        ids.join(", "),
        inserted.first().map_or("Received", |j| j.status.as_str()),
        if job_ids.len() == 1 { "it" } else { "them" },
    );
    let jobs = inserted.iter().filter_map(|j| serde_json::to_value(j).ok()).collect();
    Ok(ToolOutput {
        text,
        structured: json!(SubmitOutput {
            job_ids,
            jobs,
            jdl,
            dry_run: false,
            input_sandbox: uploaded
        }),
    })
}

/// The jobs to act on.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct JobIdsArgs {
    /// The job ids, e.g. `[12, 13]`.
    pub job_ids: JobIds,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct StatusChangeOutput {
    /// What was asked (`kill`, `delete`, `set Done`).
    pub action: String,
    /// The jobs DiracX changed.
    pub applied: Vec<JobId>,
    /// Per job: `applied`, `ignored` (DiracX answered but did not change the job) or `failed`, with the status and reason.
    pub jobs: Vec<Value>,
}

fn ids_given(args: &JobIds) -> Result<&[JobId], ToolError> {
    if args.0.is_empty() {
        return Err(ToolError::argument(
            "no job ids given",
            "Pass `job_ids`, e.g. [12, 13]; find them with `dirac_search_jobs`.",
        ));
    }
    if args.0.len() > 1000 {
        return Err(ToolError::argument(
            "more than 1000 job ids in one call",
            "Split the ids into calls of at most 1000.",
        ));
    }
    Ok(&args.0)
}

fn report(action: &str, past: &str, outcome: &SetStatusOutcome) -> ToolOutput {
    let applied = outcome.applied();
    let mut text = if applied.is_empty() {
        format!("No job was {past}.\n")
    } else {
        let ids: Vec<String> = applied.iter().map(ToString::to_string).collect();
        format!(
            "{} {} job{}: {}.\n",
            capitalised(past),
            applied.len(),
            if applied.len() == 1 { "" } else { "s" },
            ids.join(", ")
        )
    };
    let mut jobs = Vec::new();
    for (id, change) in &outcome.jobs {
        let mut entry = serde_json::to_value(change).unwrap_or(Value::Null);
        if let Some(map) = entry.as_object_mut() {
            map.insert("job_id".into(), json!(id));
        }
        jobs.push(entry);
        match change {
            StatusChange::Applied { .. } => {}
            StatusChange::Ignored { reason, .. } => {
                text.push_str(&format!("- job {id} not {past}: {reason}\n"))
            }
            StatusChange::Failed { reason } => {
                text.push_str(&format!("- job {id} failed: {reason}\n"))
            }
        }
    }
    ToolOutput {
        text,
        structured: json!(StatusChangeOutput { action: action.to_owned(), applied, jobs }),
    }
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

pub async fn kill_jobs(ctx: &ToolContext, args: JobIdsArgs) -> ToolResult {
    let ids = ids_given(&args.job_ids)?;
    ctx.check_jobs(Action::Manage, ids).await?;
    let outcome = ctx.client.kill_jobs(ids, &ctx.source).await?;
    Ok(report("kill", "killed", &outcome))
}

pub async fn delete_jobs(ctx: &ToolContext, args: JobIdsArgs) -> ToolResult {
    let ids = ids_given(&args.job_ids)?;
    ctx.check_jobs(Action::Manage, ids).await?;
    let outcome = ctx.client.delete_jobs(ids, &ctx.source).await?;
    Ok(report("delete", "deleted", &outcome))
}

/// The jobs to run again.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct RescheduleArgs {
    /// The job ids, e.g. `[12, 13]` (failed, killed or stalled jobs).
    pub job_ids: JobIds,
    /// Reset the jobs' reschedule counters (DiracX limits how often a job is rescheduled).
    #[serde(default)]
    pub reset_counter: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct RescheduleOutput {
    pub rescheduled: Vec<JobId>,
    /// Per job that was not rescheduled: DiracX's reason.
    pub failed: Vec<Value>,
}

pub async fn reschedule_jobs(ctx: &ToolContext, args: RescheduleArgs) -> ToolResult {
    let ids = ids_given(&args.job_ids)?;
    ctx.check_jobs(Action::Manage, ids).await?;
    let outcome = ctx.client.reschedule_jobs(ids, args.reset_counter).await?;
    let rescheduled: Vec<JobId> = outcome.success.keys().filter_map(|k| k.parse().ok()).collect();
    let failed: Vec<Value> = outcome
        .failed
        .iter()
        .map(|(id, why)| {
            let reason = why
                .get("detail")
                .and_then(Value::as_str)
                .map_or_else(|| why.to_string(), str::to_owned);
            json!({ "job_id": id.parse::<u64>().ok(), "reason": reason })
        })
        .collect();
    let mut text = if rescheduled.is_empty() {
        "No job was rescheduled.\n".to_owned()
    } else {
        let list: Vec<String> = rescheduled.iter().map(ToString::to_string).collect();
        format!(
            "Rescheduled {} job(s): {}. They will be matched and run again.\n",
            rescheduled.len(),
            list.join(", ")
        )
    };
    for entry in &failed {
        text.push_str(&format!(
            "- job {} not rescheduled: {}\n",
            entry["job_id"],
            entry["reason"].as_str().unwrap_or("")
        ));
    }
    Ok(ToolOutput { text, structured: json!(RescheduleOutput { rescheduled, failed }) })
}

/// The jobs and the status to set.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SetStatusArgs {
    /// The job ids, e.g. `[12, 13]`.
    pub job_ids: JobIds,
    /// The new status: Received, Checking, Staging, Waiting, Matched, Running, Stalled, Completing, Done, Completed, Failed, Deleted, Killed or Rescheduled.
    pub status: String,
    #[serde(default)]
    pub minor_status: Option<String>,
    #[serde(default)]
    pub application_status: Option<String>,
    /// Set the status even where DiracX's state machine does not allow the transition.
    #[serde(default)]
    pub force: bool,
}

pub async fn set_job_status(ctx: &ToolContext, args: SetStatusArgs) -> ToolResult {
    let ids = ids_given(&args.job_ids)?;
    let Some(status) = JobStatus::parse(&args.status) else {
        let names: Vec<&str> = JobStatus::ALL.iter().map(|s| s.as_str()).collect();
        return Err(ToolError::argument(
            format!("`{}` is not a job status", args.status),
            format!("Use one of: {}.", names.join(", ")),
        ));
    };
    let action = if args.force { Action::ForceStatus } else { Action::Manage };
    ctx.check_jobs(action, ids).await?;
    let update = JobStatusUpdate {
        status: Some(status),
        minor_status: args.minor_status.filter(|m| !m.is_empty()),
        application_status: args.application_status.filter(|a| !a.is_empty()),
        source: ctx.source.clone(),
    };
    let outcome = ctx.client.set_job_status(ids, &update, args.force).await?;
    Ok(report(&format!("set {status}"), &format!("set to {status}"), &outcome))
}
