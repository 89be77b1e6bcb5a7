//! Job sandboxes: what a job has, and links to download them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::args::OneJobId;
use crate::policy::Action;
use crate::toolset::{ToolContext, ToolOutput, ToolResult};

/// The job whose sandboxes to list.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListSandboxesArgs {
    /// The job's id.
    pub job_id: OneJobId,
    /// Add a download link (valid for a limited time) for each sandbox (default true).
    #[serde(default = "yes")]
    pub links: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Sandbox {
    pub pfn: String,
    /// A presigned HTTPS link anyone holding it can download the archive with.
    pub url: Option<String>,
    pub expires_in: Option<u64>,
    /// Why no link could be made.
    pub error: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ListSandboxesOutput {
    pub job_id: u64,
    pub input: Vec<Sandbox>,
    pub output: Vec<Sandbox>,
}

async fn with_link(ctx: &ToolContext, pfn: String, links: bool) -> Sandbox {
    if !links {
        return Sandbox { pfn, url: None, expires_in: None, error: None };
    }
    match ctx.client.sandbox_download(&pfn).await {
        Ok(link) => {
            Sandbox { pfn, url: Some(link.url), expires_in: Some(link.expires_in), error: None }
        }
        Err(e) => Sandbox { pfn, url: None, expires_in: None, error: Some(e.to_string()) },
    }
}

pub async fn list_sandboxes(ctx: &ToolContext, args: ListSandboxesArgs) -> ToolResult {
    let job = args.job_id.0;
    ctx.check_jobs(Action::Read, &[job]).await?;
    let listed = ctx.client.job_sandboxes(job).await?;
    let mut input = Vec::new();
    for pfn in listed.input {
        input.push(with_link(ctx, pfn, args.links).await);
    }
    let mut output = Vec::new();
    for pfn in listed.output {
        output.push(with_link(ctx, pfn, args.links).await);
    }
    let mut text =
        format!("Job {job}: {} input and {} output sandbox(es).\n", input.len(), output.len());
    for (kind, list) in [("input", &input), ("output", &output)] {
        for sandbox in list {
            match (&sandbox.url, &sandbox.error) {
                (Some(url), _) => text.push_str(&format!(
                    "- {kind}: {} — [download]({url}) (link valid {} s)\n",
                    sandbox.pfn,
                    sandbox.expires_in.unwrap_or(0)
                )),
                (None, Some(e)) => {
                    text.push_str(&format!("- {kind}: {} (no link: {e})\n", sandbox.pfn))
                }
                (None, None) => text.push_str(&format!("- {kind}: {}\n", sandbox.pfn)),
            }
        }
    }
    if input.is_empty() && output.is_empty() {
        text.push_str("The output sandbox appears once the job has finished and uploaded it.\n");
    }
    Ok(ToolOutput { text, structured: json!(ListSandboxesOutput { job_id: job, input, output }) })
}

/// The sandbox to link to.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SandboxUrlArgs {
    /// The sandbox's PFN, as `dirac_list_sandboxes` lists it (`/S3/...` or `SB:SandboxSE|/S3/...`).
    pub pfn: String,
}

pub async fn sandbox_url(ctx: &ToolContext, args: SandboxUrlArgs) -> ToolResult {
    let pfn = args.pfn.trim();
    ctx.check_sandbox(Action::Read, pfn)?;
    let link = ctx.client.sandbox_download(pfn).await?;
    let text = format!(
        "[Download the sandbox]({}) (a .tar archive; link valid {} s).\n",
        link.url, link.expires_in
    );
    Ok(ToolOutput {
        text,
        structured: json!(Sandbox {
            pfn: pfn.to_owned(),
            url: Some(link.url),
            expires_in: Some(link.expires_in),
            error: None
        }),
    })
}
