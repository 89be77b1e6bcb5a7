//! Access policy in the MCP layer: which tools a user sees, and which jobs and sandboxes a call
//! may touch, decided before the request reaches DiracX.
//!
//! [`WmsPolicy`] follows DiracX's own WMS and sandbox policies (NormalUser: create, query, and
//! act on their own jobs; JobAdministrator: every job of the VO; forcing a status:
//! JobAdministrator only). A community replaces it by implementing [`Policy`].

use std::fmt;

use diracx_client::JobId;

use crate::identity::{DiracUser, JOB_ADMINISTRATOR, NORMAL_USER};

/// What a tool does, in DiracX's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Search and summaries (DiracX filters what a user sees).
    Query,
    /// One job's details, sandboxes and their downloads.
    Read,
    /// Submit jobs, upload sandboxes.
    Create,
    /// Kill, delete, reschedule, change a status within the state machine.
    Manage,
    /// Set a status bypassing the state machine.
    ForceStatus,
    /// Configuration and the user's own identity.
    Info,
}

/// Who owns a job, as DiracX lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobOwner {
    pub job: JobId,
    pub owner: String,
    pub vo: String,
}

/// A refusal, with the reason shown to the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal(pub String);

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub trait Policy: Send + Sync + fmt::Debug {
    /// Whether the user may use tools doing `action` at all (tools they may not use are not
    /// listed).
    fn allows(&self, user: &DiracUser, action: Action) -> bool;

    /// Whether a call doing `action` on jobs must first learn their owners.
    fn needs_owners(&self, user: &DiracUser, action: Action) -> bool;

    /// Decides on jobs by owner. `unseen` are the ids DiracX did not show the user (absent, or
    /// another user's where the VO hides other users' jobs).
    fn check_jobs(
        &self,
        user: &DiracUser,
        action: Action,
        owners: &[JobOwner],
        unseen: &[JobId],
    ) -> Result<(), Refusal>;

    /// Decides on a sandbox by its PFN (`[SB:<se>|]/S3/<bucket>/<vo>/<group>/<user>/...`).
    fn check_sandbox(&self, user: &DiracUser, action: Action, pfn: &str) -> Result<(), Refusal>;
}

/// DiracX 0.7.0's WMS and sandbox semantics.
#[derive(Clone, Copy, Debug, Default)]
pub struct WmsPolicy;

impl Policy for WmsPolicy {
    fn allows(&self, user: &DiracUser, action: Action) -> bool {
        match action {
            Action::Info => true,
            Action::Create => user.has(NORMAL_USER),
            Action::ForceStatus => user.has(JOB_ADMINISTRATOR),
            Action::Query | Action::Read | Action::Manage => {
                user.has(NORMAL_USER) || user.has(JOB_ADMINISTRATOR)
            }
        }
    }

    fn needs_owners(&self, user: &DiracUser, action: Action) -> bool {
        matches!(action, Action::Read | Action::Manage) && !user.is_job_administrator()
    }

    fn check_jobs(
        &self,
        user: &DiracUser,
        action: Action,
        owners: &[JobOwner],
        unseen: &[JobId],
    ) -> Result<(), Refusal> {
        if !self.allows(user, action) {
            return Err(Refusal(format!("{} may not {}", user.username, verb(action))));
        }
        if !self.needs_owners(user, action) {
            return Ok(());
        }
        let foreign: Vec<String> = owners
            .iter()
            .filter(|o| o.owner != user.username || o.vo != user.vo)
            .map(|o| format!("{} (owner {})", o.job, o.owner))
            .collect();
        if !foreign.is_empty() {
            return Err(Refusal(format!(
                "{} may only {} their own jobs; not theirs: {}",
                user.username,
                verb(action),
                foreign.join(", ")
            )));
        }
        if !unseen.is_empty() {
            let ids: Vec<String> = unseen.iter().map(ToString::to_string).collect();
            return Err(Refusal(format!(
                "no job of {} has the id {}: it does not exist or belongs to someone else",
                user.username,
                ids.join(", ")
            )));
        }
        Ok(())
    }

    fn check_sandbox(&self, user: &DiracUser, action: Action, pfn: &str) -> Result<(), Refusal> {
        if !self.allows(user, action) {
            return Err(Refusal(format!("{} may not {}", user.username, verb(action))));
        }
        if user.is_job_administrator() {
            return Ok(());
        }
        let path = pfn.split_once('|').map_or(pfn, |(_, path)| path);
        // /S3/<bucket>/<vo>/<group>/<user>/<checksum>.<format>
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match parts.as_slice() {
            ["S3", _bucket, vo, _group, owner, _file]
                if *vo == user.vo && *owner == user.username =>
            {
                Ok(())
            }
            ["S3", _bucket, _vo, _group, owner, _file] => Err(Refusal(format!(
                "the sandbox belongs to {owner}; {} may only use their own sandboxes",
                user.username
            ))),
            _ => Err(Refusal(format!(
                "`{pfn}` is not a sandbox PFN (SB:<SE>|/S3/<bucket>/<vo>/<group>/<user>/<file>)"
            ))),
        }
    }
}

fn verb(action: Action) -> &'static str {
    match action {
        Action::Query => "search jobs",
        Action::Read => "read",
        Action::Create => "submit jobs",
        Action::Manage => "change",
        Action::ForceStatus => "force job statuses",
        Action::Info => "read the configuration",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn user(name: &str, properties: &[&str]) -> DiracUser {
        DiracUser {
            sub: format!("vo:{name}"),
            username: name.into(),
            vo: "testvo".into(),
            group: "user".into(),
            properties: properties.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    #[test]
    fn normal_users_act_on_their_own_jobs_only() {
        let alice = user("alice", &[NORMAL_USER]);
        let own = JobOwner { job: 1, owner: "alice".into(), vo: "testvo".into() };
        let bobs = JobOwner { job: 8, owner: "bob".into(), vo: "testvo".into() };
        assert!(
            WmsPolicy.check_jobs(&alice, Action::Manage, std::slice::from_ref(&own), &[]).is_ok()
        );
        let refused =
            WmsPolicy.check_jobs(&alice, Action::Manage, &[own.clone(), bobs], &[]).unwrap_err();
        assert!(refused.0.contains("8 (owner bob)"), "{refused}");
        assert!(WmsPolicy.check_jobs(&alice, Action::Read, &[own], &[9]).is_err());
        assert!(!WmsPolicy.allows(&alice, Action::ForceStatus));
    }

    #[test]
    fn administrators_act_on_every_job_but_submit_only_as_normal_users() {
        let admin = user("admin", &[JOB_ADMINISTRATOR]);
        let bobs = JobOwner { job: 8, owner: "bob".into(), vo: "testvo".into() };
        assert!(WmsPolicy.check_jobs(&admin, Action::ForceStatus, &[bobs], &[3]).is_ok());
        assert!(!WmsPolicy.allows(&admin, Action::Create));
        assert!(!WmsPolicy.needs_owners(&admin, Action::Manage));
    }

    #[test]
    fn sandboxes_belong_to_the_user_in_their_path() {
        let alice = user("alice", &[NORMAL_USER]);
        let own = "SB:SandboxSE|/S3/sandboxes/testvo/user/alice/sha256:ab.tar.bz2";
        assert!(WmsPolicy.check_sandbox(&alice, Action::Read, own).is_ok());
        assert!(
            WmsPolicy
                .check_sandbox(
                    &alice,
                    Action::Read,
                    "/S3/sandboxes/testvo/user/alice/sha256:ab.tar.bz2"
                )
                .is_ok()
        );
        assert!(
            WmsPolicy
                .check_sandbox(
                    &alice,
                    Action::Read,
                    "/S3/sandboxes/testvo/admin/admin/sha256:ab.tar.bz2"
                )
                .is_err()
        );
        assert!(WmsPolicy.check_sandbox(&alice, Action::Read, "../../etc/passwd").is_err());
    }
}
