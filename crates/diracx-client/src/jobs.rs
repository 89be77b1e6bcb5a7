//! The job calls: search (every operator, sort, paging), summary, JDL submission, status
//! changes (kill, delete, any transition) and rescheduling.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Duration as TimeDelta, Utc};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::client::DiracxClient;
use crate::error::{Error, Result};
use crate::http::{Call, Retry};

pub type JobId = u64;

/// The operators of a condition on one value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScalarOperator {
    #[serde(rename = "eq")]
    Eq,
    #[serde(rename = "neq")]
    Neq,
    #[serde(rename = "gt")]
    Gt,
    #[serde(rename = "lt")]
    Lt,
    #[serde(rename = "like")]
    Like,
    #[serde(rename = "not like")]
    NotLike,
    #[serde(rename = "regex")]
    Regex,
}

/// The operators of a condition on a list of values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum VectorOperator {
    #[serde(rename = "in")]
    In,
    #[serde(rename = "not in")]
    NotIn,
}

/// One search condition, as DiracX's `SearchSpec` takes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Condition {
    Vector { parameter: String, operator: VectorOperator, values: Vec<Value> },
    Scalar { parameter: String, operator: ScalarOperator, value: Value },
}

impl Condition {
    pub fn eq(parameter: &str, value: impl Into<Value>) -> Self {
        Self::Scalar {
            parameter: parameter.to_owned(),
            operator: ScalarOperator::Eq,
            value: value.into(),
        }
    }

    pub fn is_in(parameter: &str, values: Vec<Value>) -> Self {
        Self::Vector { parameter: parameter.to_owned(), operator: VectorOperator::In, values }
    }

    pub fn parameter(&self) -> &str {
        match self {
            Self::Vector { parameter, .. } | Self::Scalar { parameter, .. } => parameter,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortDirection {
    Asc,
    Desc,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SortSpec {
    pub parameter: String,
    pub direction: SortDirection,
}

/// A job search: which fields, which jobs, in which order.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct JobSearch {
    /// The fields to return (all attributes when `None`); `LoggingInfo` adds the status history.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Vec<String>>,
    pub search: Vec<Condition>,
    pub sort: Vec<SortSpec>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub distinct: bool,
}

/// One page of a search. `total` comes from `Content-Range`; when DiracX sends none the page
/// held every match.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchPage {
    pub jobs: Vec<Map<String, Value>>,
    pub total: u64,
    /// The index of the first job of this page among all matches.
    pub first: u64,
    pub page: u32,
    pub per_page: u32,
}

impl SearchPage {
    /// Whether more matches follow this page.
    pub fn has_more(&self) -> bool {
        self.first + (self.jobs.len() as u64) < self.total
    }
}

/// The largest page DiracX serves.
pub const MAX_PER_PAGE: u32 = 10_000;

/// A job as DiracX inserted it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct InsertedJob {
    #[serde(rename = "JobID")]
    pub job_id: JobId,
    #[serde(rename = "Status")]
    pub status: String,
    #[serde(rename = "MinorStatus", default)]
    pub minor_status: String,
    #[serde(rename = "TimeStamp", default)]
    pub time_stamp: String,
}

/// The job states of DiracX's state machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum JobStatus {
    Submitting,
    Received,
    Checking,
    Staging,
    Waiting,
    Matched,
    Running,
    Stalled,
    Completing,
    Done,
    Completed,
    Failed,
    Deleted,
    Killed,
    Rescheduled,
}

impl JobStatus {
    pub const ALL: [Self; 15] = [
        Self::Submitting,
        Self::Received,
        Self::Checking,
        Self::Staging,
        Self::Waiting,
        Self::Matched,
        Self::Running,
        Self::Stalled,
        Self::Completing,
        Self::Done,
        Self::Completed,
        Self::Failed,
        Self::Deleted,
        Self::Killed,
        Self::Rescheduled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submitting => "Submitting",
            Self::Received => "Received",
            Self::Checking => "Checking",
            Self::Staging => "Staging",
            Self::Waiting => "Waiting",
            Self::Matched => "Matched",
            Self::Running => "Running",
            Self::Stalled => "Stalled",
            Self::Completing => "Completing",
            Self::Done => "Done",
            Self::Completed => "Completed",
            Self::Failed => "Failed",
            Self::Deleted => "Deleted",
            Self::Killed => "Killed",
            Self::Rescheduled => "Rescheduled",
        }
    }

    /// A state name in any case (`running`, `RUNNING`).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str().eq_ignore_ascii_case(name.trim()))
    }

    /// A job in this state will not run again by itself.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Done | Self::Completed | Self::Failed | Self::Deleted | Self::Killed)
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to set on a job.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobStatusUpdate {
    pub status: Option<JobStatus>,
    pub minor_status: Option<String>,
    pub application_status: Option<String>,
    /// Who asks (DiracX records it in the job's history).
    pub source: String,
}

/// One job's answer to a status change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum StatusChange {
    /// DiracX applied it: the job is now in `status`.
    Applied { status: Option<String>, minor_status: Option<String> },
    /// DiracX answered success but did not change the job (a transition its state machine does
    /// not allow, or an out-of-date timestamp): the job stays in `status`.
    Ignored { status: Option<String>, reason: String },
    /// DiracX refused it for this job (not found, not allowed).
    Failed { reason: String },
}

/// The per-job answers of a status change or a rescheduling.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SetStatusOutcome {
    pub jobs: BTreeMap<JobId, StatusChange>,
}

impl SetStatusOutcome {
    pub fn applied(&self) -> Vec<JobId> {
        self.select(|c| matches!(c, StatusChange::Applied { .. }))
    }

    pub fn not_applied(&self) -> Vec<JobId> {
        self.select(|c| !matches!(c, StatusChange::Applied { .. }))
    }

    fn select(&self, keep: impl Fn(&StatusChange) -> bool) -> Vec<JobId> {
        self.jobs.iter().filter(|(_, c)| keep(c)).map(|(id, _)| *id).collect()
    }
}

/// The answer of `POST /api/jobs/reschedule`: what DiracX says per job.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
pub struct RescheduleOutcome {
    #[serde(default)]
    pub success: BTreeMap<String, Map<String, Value>>,
    #[serde(default)]
    pub failed: BTreeMap<String, Value>,
}

/// The `{"success": {...}, "failed": {...}}` of a status change.
#[derive(Deserialize)]
struct SetStatusAnswer {
    #[serde(default)]
    success: BTreeMap<String, Map<String, Value>>,
    #[serde(default)]
    failed: BTreeMap<String, Value>,
}

impl DiracxClient {
    /// One page (1-based) of the jobs matching `search`; a page past the end is empty, with the
    /// total still known.
    pub async fn search_jobs(
        &self,
        search: &JobSearch,
        page: u32,
        per_page: u32,
    ) -> Result<SearchPage> {
        let page = page.max(1);
        let per_page = per_page.clamp(1, MAX_PER_PAGE);
        let body =
            serde_json::to_value(search).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let query = [("page", page.to_string()), ("per_page", per_page.to_string())];
        let mut call = Call::new(Method::POST, "api/jobs/search");
        call.query = &query;
        call.body = Some(&body);
        call.retry = Retry::Safe;
        call.accept = &[416];
        let answer = self.http.send(call).await?;
        let range = answer
            .header("content-range")
            .map(ContentRange::parse)
            .transpose()
            .map_err(|reason| Error::UnexpectedAnswer { path: answer.path.clone(), reason })?;
        let jobs: Vec<Map<String, Value>> =
            if answer.status.as_u16() == 416 { Vec::new() } else { answer.json()? };
        let first = u64::from(page - 1) * u64::from(per_page);
        let total = match range {
            Some(range) => range.total,
            None => first + jobs.len() as u64,
        };
        Ok(SearchPage { jobs, total, first, page, per_page })
    }

    /// Every job matching `search` (all pages), at most `limit`.
    pub async fn search_all_jobs(
        &self,
        search: &JobSearch,
        limit: usize,
    ) -> Result<Vec<Map<String, Value>>> {
        let mut jobs = Vec::new();
        let mut page = 1;
        loop {
            let per_page = u32::try_from((limit - jobs.len()).min(MAX_PER_PAGE as usize))
                .unwrap_or(MAX_PER_PAGE);
            let got = self.search_jobs(search, page, per_page.max(1)).await?;
            let more = got.has_more();
            jobs.extend(got.jobs);
            if !more || jobs.len() >= limit {
                return Ok(jobs);
            }
            page += 1;
        }
    }

    /// Counts of the matching jobs, grouped by the given attributes (`count` in each row).
    pub async fn job_summary(
        &self,
        grouping: &[String],
        search: &[Condition],
    ) -> Result<Vec<Map<String, Value>>> {
        let body = json!({ "grouping": grouping, "search": search });
        let mut call = Call::new(Method::POST, "api/jobs/summary");
        call.body = Some(&body);
        call.retry = Retry::Safe;
        self.http.send(call).await?.json()
    }

    /// Submits jobs: several JDLs, or one (parametric) JDL that may expand into several jobs.
    /// Never retried: a submission that timed out may have created the jobs.
    pub async fn submit_jdl(&self, jdls: &[String]) -> Result<Vec<InsertedJob>> {
        if jdls.is_empty() {
            return Err(Error::InvalidArgument("no JDL to submit".into()));
        }
        let body = json!(jdls);
        let mut call = Call::new(Method::POST, "api/jobs/jdl");
        call.body = Some(&body);
        self.http.send(call).await?.json()
    }

    /// Sets a status on jobs, stamped later than each job's last record (DiracX ignores older
    /// updates), and tells per job whether DiracX applied or ignored it. `force` skips the
    /// state machine (job administrators only).
    pub async fn set_job_status(
        &self,
        jobs: &[JobId],
        update: &JobStatusUpdate,
        force: bool,
    ) -> Result<SetStatusOutcome> {
        if jobs.is_empty() {
            return Err(Error::InvalidArgument("no job ids given".into()));
        }
        let before = self.status_stamps(jobs).await?;
        let mut change = Map::new();
        if let Some(status) = update.status {
            change.insert("Status".into(), json!(status.as_str()));
        }
        if let Some(minor) = &update.minor_status {
            change.insert("MinorStatus".into(), json!(minor));
        }
        if let Some(application) = &update.application_status {
            change.insert("ApplicationStatus".into(), json!(application));
        }
        let source = if update.source.is_empty() { "Unknown" } else { &update.source };
        change.insert("Source".into(), json!(source));
        let mut body = Map::new();
        for id in jobs {
            let stamp = before.get(id).map_or_else(Utc::now, |b| b.stamp);
            body.insert(id.to_string(), json!({ format_stamp(stamp): change }));
        }
        let body = Value::Object(body);
        let query = [("force", force.to_string())];
        let mut call = Call::new(Method::PATCH, "api/jobs/status");
        call.query = &query;
        call.body = Some(&body);
        call.accept = &[404];
        let answer = self.http.send(call).await?;
        let parsed: SetStatusAnswer = if answer.status.as_u16() == 404 {
            // "no job could be updated": the detail is the same success/failed document.
            let wrapped: Value = answer.json()?;
            serde_json::from_value(wrapped.get("detail").cloned().unwrap_or(Value::Null)).map_err(
                |e| Error::UnexpectedAnswer { path: answer.path.clone(), reason: e.to_string() },
            )?
        } else {
            answer.json()?
        };
        Ok(judge(jobs, update, &before, parsed))
    }

    /// Kills jobs (they stop running and stay listed as Killed).
    pub async fn kill_jobs(&self, jobs: &[JobId], source: &str) -> Result<SetStatusOutcome> {
        let update = JobStatusUpdate {
            status: Some(JobStatus::Killed),
            minor_status: Some("Marked for termination".into()),
            application_status: None,
            source: source.to_owned(),
        };
        self.set_job_status(jobs, &update, false).await
    }

    /// Deletes jobs (they are killed if running and then hidden as Deleted).
    pub async fn delete_jobs(&self, jobs: &[JobId], source: &str) -> Result<SetStatusOutcome> {
        let update = JobStatusUpdate {
            status: Some(JobStatus::Deleted),
            minor_status: Some("Marked for deletion".into()),
            application_status: None,
            source: source.to_owned(),
        };
        self.set_job_status(jobs, &update, false).await
    }

    /// Reschedules jobs (they are matched and run again); `reset` resets their reschedule
    /// counters instead of incrementing them. Jobs DiracX could not reschedule are listed under
    /// `failed`, also when none could be (DiracX's 400).
    pub async fn reschedule_jobs(&self, jobs: &[JobId], reset: bool) -> Result<RescheduleOutcome> {
        if jobs.is_empty() {
            return Err(Error::InvalidArgument("no job ids given".into()));
        }
        let body = json!({ "job_ids": jobs });
        let query = [("reset_jobs", reset.to_string())];
        let mut call = Call::new(Method::POST, "api/jobs/reschedule");
        call.query = &query;
        call.body = Some(&body);
        call.accept = &[400];
        let answer = self.http.send(call).await?;
        if answer.status.as_u16() == 400 {
            let wrapped: Value = answer.json()?;
            return match wrapped.get("detail") {
                Some(detail @ Value::Object(_)) => {
                    serde_json::from_value(detail.clone()).map_err(|e| Error::UnexpectedAnswer {
                        path: answer.path.clone(),
                        reason: e.to_string(),
                    })
                }
                _ => Err(Error::Status {
                    status: 400,
                    method: "POST",
                    path: answer.path.clone(),
                    detail: crate::error::detail_of(&answer.body),
                }),
            };
        }
        answer.json()
    }

    /// Each job's status now, and the time for a change: its latest history record plus one
    /// microsecond, or now if later. Jobs the user cannot see are absent.
    async fn status_stamps(&self, jobs: &[JobId]) -> Result<BTreeMap<JobId, Before>> {
        let search = JobSearch {
            parameters: Some(vec!["JobID".into(), "Status".into(), "LoggingInfo".into()]),
            search: vec![Condition::is_in("JobID", jobs.iter().map(|id| json!(id)).collect())],
            ..JobSearch::default()
        };
        let found = self.search_all_jobs(&search, jobs.len()).await?;
        let now = Utc::now();
        let mut stamps = BTreeMap::new();
        for job in found {
            let Some(id) = job.get("JobID").and_then(Value::as_u64) else { continue };
            let latest = job
                .get("LoggingInfo")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|record| record.get("StatusTime")?.as_str())
                .filter_map(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc))
                .max();
            let stamp = match latest {
                Some(latest) if latest >= now => latest + TimeDelta::microseconds(1),
                _ => now,
            };
            let status = job.get("Status").and_then(Value::as_str).map(str::to_owned);
            stamps.insert(id, Before { stamp, status });
        }
        Ok(stamps)
    }
}

/// A job as it was before a status change.
#[derive(Clone, Debug)]
struct Before {
    stamp: DateTime<Utc>,
    status: Option<String>,
}

/// DiracX's timestamp form, at the microsecond precision its ordering uses.
fn format_stamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()
}

fn judge(
    jobs: &[JobId],
    update: &JobStatusUpdate,
    before: &BTreeMap<JobId, Before>,
    answer: SetStatusAnswer,
) -> SetStatusOutcome {
    let mut outcome = SetStatusOutcome::default();
    for id in jobs {
        let key = id.to_string();
        let change = if let Some(failure) = answer.failed.get(&key) {
            let reason = failure
                .get("detail")
                .and_then(Value::as_str)
                .map_or_else(|| failure.to_string(), str::to_owned);
            StatusChange::Failed { reason }
        } else if let Some(now) = answer.success.get(&key) {
            let field = |name: &str| now.get(name).and_then(Value::as_str).map(str::to_owned);
            let (status, minor) = (field("Status"), field("MinorStatus"));
            let was = before.get(id).and_then(|b| b.status.as_deref());
            let took = match update.status {
                // DiracX echoes the job's status: the same as before means nothing happened.
                Some(wanted) => {
                    status.as_deref() == Some(wanted.as_str()) && was != Some(wanted.as_str())
                }
                None => minor.is_some() || field("ApplicationStatus").is_some(),
            };
            if took {
                StatusChange::Applied { status, minor_status: minor }
            } else if let (Some(wanted), Some(was)) = (update.status, was)
                && was == wanted.as_str()
            {
                StatusChange::Ignored { status, reason: format!("the job was already {was}") }
            } else {
                let reason = match (update.status, &status) {
                    (Some(wanted), Some(kept)) => {
                        format!("DiracX kept the job {kept}: its state machine does not allow {kept} → {wanted}")
                    }
                    _ => "DiracX recorded the request but changed nothing (the job's history has a later record)".into(),
                };
                StatusChange::Ignored { status, reason }
            }
        } else {
            StatusChange::Failed { reason: "DiracX did not mention this job in its answer".into() }
        };
        outcome.jobs.insert(*id, change);
    }
    outcome
}

/// `jobs a-b/total` or `jobs */total`.
struct ContentRange {
    total: u64,
}

impl ContentRange {
    fn parse(header: &str) -> Result<Self, String> {
        let bad = || format!("unreadable Content-Range `{header}`");
        let rest = header.trim().strip_prefix("jobs ").ok_or_else(bad)?;
        let (_, total) = rest.rsplit_once('/').ok_or_else(bad)?;
        let total = total.trim().parse().map_err(|_| bad())?;
        Ok(Self { total })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn conditions_serialize_as_diracx_reads_them() {
        let scalar = Condition::Scalar {
            parameter: "Status".into(),
            operator: ScalarOperator::NotLike,
            value: json!("Fail%"),
        };
        assert_eq!(
            serde_json::to_value(&scalar).unwrap(),
            json!({"parameter":"Status","operator":"not like","value":"Fail%"})
        );
        let vector = Condition::Vector {
            parameter: "JobID".into(),
            operator: VectorOperator::NotIn,
            values: vec![json!(1)],
        };
        assert_eq!(
            serde_json::to_value(&vector).unwrap(),
            json!({"parameter":"JobID","operator":"not in","values":[1]})
        );
        let back: Condition =
            serde_json::from_value(json!({"parameter":"Site","operator":"in","values":["A"]}))
                .unwrap();
        assert!(matches!(back, Condition::Vector { operator: VectorOperator::In, .. }));
    }

    #[test]
    fn content_range_totals() {
        assert_eq!(ContentRange::parse("jobs 0-2/6").unwrap().total, 6);
        assert_eq!(ContentRange::parse("jobs */6").unwrap().total, 6);
        assert!(ContentRange::parse("bytes 0-2/6").is_err());
        assert!(ContentRange::parse("jobs 0-2/x").is_err());
    }

    #[test]
    fn stamps_have_microseconds_and_an_offset() {
        let at = DateTime::parse_from_rfc3339("2026-11-22T04:40:00.123456Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(format_stamp(at), "2026-11-22T04:40:00.123456+00:00");
    }

    #[test]
    fn an_unchanged_status_is_ignored_not_done() {
        let answer: SetStatusAnswer = serde_json::from_value(json!({
            "success": {"2": {"Status": "Done", "MinorStatus": null}, "3": {"Status": "Killed", "MinorStatus": "Marked for termination"}},
            "failed": {"4": {"detail": "Not found"}}
        }))
        .unwrap();
        let update = JobStatusUpdate { status: Some(JobStatus::Killed), ..Default::default() };
        let now = Utc::now();
        let before: BTreeMap<JobId, Before> = [(2, "Done"), (3, "Running")]
            .into_iter()
            .map(|(id, s)| (id, Before { stamp: now, status: Some(s.into()) }))
            .collect();
        let outcome = judge(&[2, 3, 4], &update, &before, answer);
        assert!(matches!(outcome.jobs[&2], StatusChange::Ignored { .. }));
        assert!(matches!(outcome.jobs[&3], StatusChange::Applied { .. }));
        assert_eq!(outcome.jobs[&4], StatusChange::Failed { reason: "Not found".into() });
        assert_eq!(outcome.applied(), vec![3]);
        // Killing a job that was already Killed: DiracX echoes Killed, nothing changed.
        let again: SetStatusAnswer =
            serde_json::from_value(json!({"success": {"3": {"Status": "Killed"}}, "failed": {}}))
                .unwrap();
        let was_killed: BTreeMap<JobId, Before> =
            [(3, Before { stamp: now, status: Some("Killed".into()) })].into_iter().collect();
        let outcome = judge(&[3], &update, &was_killed, again);
        assert_eq!(
            outcome.jobs[&3],
            StatusChange::Ignored {
                status: Some("Killed".into()),
                reason: "the job was already Killed".into()
            }
        );
    }
}
