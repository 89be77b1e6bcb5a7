//! Extension points: a [`ToolSet`] is a group of tools with their policy actions; a [`Registry`]
//! holds the built-in set and any a community adds from its own crate.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use diracx_client::{Condition, DiracxClient, JobId, JobSearch};
use rmcp::model::Tool;
use serde_json::{Map, Value, json};

use crate::errors::{ErrorCategory, ToolError};
use crate::identity::DiracUser;
use crate::policy::{Action, JobOwner, Policy};

/// What a successful tool call returns: markdown for the model, JSON for `structuredContent`.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolOutput {
    pub text: String,
    pub structured: Value,
}

pub type ToolResult = Result<ToolOutput, ToolError>;

/// One tool and what it does in the policy's terms.
#[derive(Clone, Debug)]
pub struct ToolDef {
    pub tool: Tool,
    pub action: Action,
}

impl ToolDef {
    pub fn name(&self) -> &str {
        &self.tool.name
    }

    /// Whether the tool changes DiracX (hidden and refused in read-only mode).
    pub fn writes(&self) -> bool {
        self.tool.annotations.as_ref().and_then(|a| a.read_only_hint) == Some(false)
    }
}

/// A group of tools. Implement it in your own crate and add it with [`Registry::with`].
#[async_trait]
pub trait ToolSet: Send + Sync + fmt::Debug {
    /// A short name, for logs and errors (`core`, `lhcb`).
    fn name(&self) -> &str;

    fn tools(&self) -> &[ToolDef];

    /// Runs one of this set's tools. The registry has already checked that the user may use
    /// it; checks on particular jobs or sandboxes are the tool's, through [`ToolContext`].
    async fn call(&self, ctx: &ToolContext, name: &str, args: Map<String, Value>) -> ToolResult;

    /// Lines added to the server's instructions for the model.
    fn instructions(&self) -> Option<&str> {
        None
    }
}

/// What a tool needs to run: the DiracX client of the signed-in user, who that is, the policy.
#[derive(Clone, Debug)]
pub struct ToolContext {
    pub client: DiracxClient,
    pub user: DiracUser,
    pub policy: Arc<dyn Policy>,
    /// Recorded as the `Source` of status changes in the jobs' history.
    pub source: String,
    /// Whether tools may read files where the server runs (stdio: the user's own machine).
    pub local_files: bool,
}

impl ToolContext {
    /// Refuses, before DiracX sees the call, jobs the policy does not let the user `action`.
    pub async fn check_jobs(&self, action: Action, jobs: &[JobId]) -> Result<(), ToolError> {
        if !self.policy.needs_owners(&self.user, action) {
            return self
                .policy
                .check_jobs(&self.user, action, &[], &[])
                .map_err(|r| ToolError::refused(r.0));
        }
        let search = JobSearch {
            parameters: Some(vec!["JobID".into(), "Owner".into(), "VO".into()]),
            search: vec![Condition::is_in("JobID", jobs.iter().map(|id| json!(id)).collect())],
            ..JobSearch::default()
        };
        let found = self.client.search_all_jobs(&search, jobs.len()).await?;
        let owners: Vec<JobOwner> = found
            .iter()
            .filter_map(|job| {
                Some(JobOwner {
                    job: job.get("JobID")?.as_u64()?,
                    owner: job.get("Owner")?.as_str()?.to_owned(),
                    vo: job.get("VO").and_then(Value::as_str).unwrap_or_default().to_owned(),
                })
            })
            .collect();
        let unseen: Vec<JobId> =
            jobs.iter().copied().filter(|id| !owners.iter().any(|o| o.job == *id)).collect();
        self.policy
            .check_jobs(&self.user, action, &owners, &unseen)
            .map_err(|r| ToolError::refused(r.0))
    }

    pub fn check_sandbox(&self, action: Action, pfn: &str) -> Result<(), ToolError> {
        self.policy.check_sandbox(&self.user, action, pfn).map_err(|r| ToolError::refused(r.0))
    }
}

/// The tool sets of a server and the policy that filters them.
#[derive(Clone, Debug)]
pub struct Registry {
    sets: Vec<Arc<dyn ToolSet>>,
    policy: Arc<dyn Policy>,
}

/// Two tool sets offer a tool of the same name.
#[derive(Debug, thiserror::Error)]
#[error("tool `{tool}` of tool set `{added}` is already offered by `{existing}`")]
pub struct DuplicateTool {
    pub tool: String,
    pub added: String,
    pub existing: String,
}

impl Registry {
    pub fn new(policy: Arc<dyn Policy>) -> Self {
        Self { sets: Vec::new(), policy }
    }

    /// Adds a tool set; tool names must be unique across sets.
    pub fn with(mut self, set: Arc<dyn ToolSet>) -> Result<Self, DuplicateTool> {
        for def in set.tools() {
            if let Some((_, existing)) = self.find(def.name()) {
                return Err(DuplicateTool {
                    tool: def.name().to_owned(),
                    added: set.name().to_owned(),
                    existing: existing.name().to_owned(),
                });
            }
        }
        self.sets.push(set);
        Ok(self)
    }

    pub fn policy(&self) -> &Arc<dyn Policy> {
        &self.policy
    }

    pub fn sets(&self) -> &[Arc<dyn ToolSet>] {
        &self.sets
    }

    pub fn find(&self, name: &str) -> Option<(&ToolDef, &Arc<dyn ToolSet>)> {
        self.sets
            .iter()
            .find_map(|set| set.tools().iter().find(|d| d.name() == name).map(|d| (d, set)))
    }

    /// Every tool of every set.
    pub fn all(&self) -> impl Iterator<Item = &ToolDef> {
        self.sets.iter().flat_map(|set| set.tools().iter())
    }

    /// The tools `user` may use (all tools while nobody is signed in yet), without the writing
    /// ones when `read_only`.
    pub fn visible(&self, user: Option<&DiracUser>, read_only: bool) -> Vec<Tool> {
        self.all()
            .filter(|d| !(read_only && d.writes()))
            .filter(|d| user.is_none_or(|u| self.policy.allows(u, d.action)))
            .map(|d| d.tool.clone())
            .collect()
    }

    /// Runs a tool for `ctx.user`, refusing what the policy or read-only mode forbid.
    pub async fn call(
        &self,
        ctx: &ToolContext,
        name: &str,
        args: Map<String, Value>,
        read_only: bool,
    ) -> ToolResult {
        let Some((def, set)) = self.find(name) else {
            return Err(ToolError::argument(
                format!("unknown tool `{name}`"),
                "Call `tools/list` for the tools this server offers.",
            ));
        };
        if read_only && def.writes() {
            return Err(ToolError::new(
                ErrorCategory::ReadOnly,
                format!("`{name}` changes DiracX, and this server runs with --read-only"),
                "Only reading tools are available; ask the user to run the server without --read-only.",
            ));
        }
        if !self.policy.allows(&ctx.user, def.action) {
            return Err(ToolError::refused(format!(
                "{} ({}, properties {}) may not use `{name}`",
                ctx.user.username,
                ctx.user.group,
                ctx.user.properties.join(", ")
            )));
        }
        set.call(ctx, name, args).await
    }
}
