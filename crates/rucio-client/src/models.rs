//! Typed documents of the Rucio REST API.
//!
//! Every field the server may leave out or null is an `Option`; fields this crate does not know
//! are kept in `extra`, so a newer server loses nothing on the way through.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Unknown fields of a document, kept as they came.
pub type Extra = serde_json::Map<String, serde_json::Value>;

/// A server timestamp (UTC). Rucio writes account dates as ISO 8601 (`2026-11-22T04:21:28`) and
/// rule, RSE and DID dates as RFC 1123 (`Sun, 22 Nov 2026 04:21:30 UTC`); both are read here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RucioTime(pub NaiveDateTime);

impl RucioTime {
    pub fn as_utc(&self) -> chrono::DateTime<Utc> {
        self.0.and_utc()
    }
}

impl fmt::Display for RucioTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%dT%H:%M:%SZ"))
    }
}

/// Parses the date formats the Rucio server emits.
pub fn parse_rucio_time(raw: &str) -> Option<NaiveDateTime> {
    let raw = raw.trim();
    const FORMATS: &[&str] = &[
        "%a, %d %b %Y %H:%M:%S UTC",
        "%a, %d %b %Y %H:%M:%S GMT",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.fZ",
    ];
    FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(raw, f).ok())
        .or_else(|| chrono::DateTime::parse_from_rfc3339(raw).ok().map(|d| d.naive_utc()))
}

impl<'de> Deserialize<'de> for RucioTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        parse_rucio_time(&raw)
            .map(RucioTime)
            .ok_or_else(|| serde::de::Error::custom(format!("unrecognised date {raw:?}")))
    }
}

impl Serialize for RucioTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A JSON value that the server may send encoded as a string; undecodable text stays a string.
fn embedded_json<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<serde_json::Value>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(deserializer)? {
        Some(serde_json::Value::String(text)) => {
            Some(serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
        }
        other => other,
    })
}

/// The type of a data identifier.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum DidType {
    File,
    Dataset,
    Container,
    #[serde(untagged)]
    Other(String),
}

impl fmt::Display for DidType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, not `write_str`, so `{:<10}` aligns columns.
        f.pad(match self {
            Self::File => "FILE",
            Self::Dataset => "DATASET",
            Self::Container => "CONTAINER",
            Self::Other(s) => s,
        })
    }
}

/// What `list_dids` searches for (`collection` = datasets and containers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DidSearchType {
    All,
    Collection,
    Dataset,
    Container,
    File,
}

impl DidSearchType {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Collection => "collection",
            Self::Dataset => "dataset",
            Self::Container => "container",
            Self::File => "file",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "all" => Self::All,
            "collection" => Self::Collection,
            "dataset" => Self::Dataset,
            "container" => Self::Container,
            "file" => Self::File,
            _ => return None,
        })
    }
}

/// The state of a transfer request, as Rucio's `RequestState`: the REST API filters by the
/// one-letter code, people and models say the name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestState {
    Queued,
    Submitting,
    Submitted,
    Failed,
    Done,
    Lost,
    NoSources,
    OnlyTapeSources,
    SubmissionFailed,
    MismatchScheme,
    Suspend,
    Waiting,
    Preparing,
}

impl RequestState {
    pub const ALL: [Self; 13] = [
        Self::Queued,
        Self::Submitting,
        Self::Submitted,
        Self::Failed,
        Self::Done,
        Self::Lost,
        Self::NoSources,
        Self::OnlyTapeSources,
        Self::SubmissionFailed,
        Self::MismatchScheme,
        Self::Suspend,
        Self::Waiting,
        Self::Preparing,
    ];

    /// The code Rucio stores and filters by.
    pub const fn code(self) -> &'static str {
        match self {
            Self::Queued => "Q",
            Self::Submitting => "G",
            Self::Submitted => "S",
            Self::Failed => "F",
            Self::Done => "D",
            Self::Lost => "L",
            Self::NoSources => "N",
            Self::OnlyTapeSources => "O",
            Self::SubmissionFailed => "A",
            Self::MismatchScheme => "M",
            Self::Suspend => "U",
            Self::Waiting => "W",
            Self::Preparing => "P",
        }
    }

    /// The name Rucio shows (`QUEUED`, `NO_SOURCES`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Queued => "QUEUED",
            Self::Submitting => "SUBMITTING",
            Self::Submitted => "SUBMITTED",
            Self::Failed => "FAILED",
            Self::Done => "DONE",
            Self::Lost => "LOST",
            Self::NoSources => "NO_SOURCES",
            Self::OnlyTapeSources => "ONLY_TAPE_SOURCES",
            Self::SubmissionFailed => "SUBMISSION_FAILED",
            Self::MismatchScheme => "MISMATCH_SCHEME",
            Self::Suspend => "SUSPEND",
            Self::Waiting => "WAITING",
            Self::Preparing => "PREPARING",
        }
    }

    /// A name or a code, in any case; `-` and spaces count as `_` (`no-sources`, `No Sources`).
    pub fn parse(text: &str) -> Option<Self> {
        let wanted = text.trim().to_ascii_uppercase().replace(['-', ' '], "_");
        Self::ALL.into_iter().find(|s| s.name() == wanted || s.code() == wanted)
    }
}

impl fmt::Display for RequestState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// A DID as `GET /dids/{scope}/{name}` describes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DidInfo {
    pub scope: String,
    pub name: String,
    #[serde(rename = "type", alias = "did_type")]
    pub did_type: DidType,
    pub account: Option<String>,
    pub bytes: Option<u64>,
    pub length: Option<u64>,
    pub open: Option<bool>,
    pub monotonic: Option<bool>,
    pub expired_at: Option<RucioTime>,
    pub adler32: Option<String>,
    pub md5: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One result of a DID search with `long=1`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DidSummary {
    pub scope: String,
    pub name: String,
    pub did_type: DidType,
    pub bytes: Option<u64>,
    pub length: Option<u64>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A child of a collection (`GET /dids/{scope}/{name}/dids`), or a parent (`.../parents`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DidRef {
    pub scope: String,
    pub name: String,
    #[serde(rename = "type", alias = "did_type")]
    pub did_type: DidType,
    pub bytes: Option<u64>,
    pub adler32: Option<String>,
    pub md5: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A file of a dataset or container (`GET /dids/{scope}/{name}/files`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileInfo {
    pub scope: String,
    pub name: String,
    pub bytes: Option<u64>,
    pub adler32: Option<String>,
    pub md5: Option<String>,
    pub guid: Option<String>,
    pub events: Option<u64>,
    pub lumiblocknr: Option<u64>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A file with its replicas (`POST /replicas/list`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileReplicas {
    pub scope: String,
    pub name: String,
    pub bytes: Option<u64>,
    pub adler32: Option<String>,
    pub md5: Option<String>,
    /// RSE name to the PFNs there.
    #[serde(default)]
    pub rses: BTreeMap<String, Vec<String>>,
    /// RSE name to replica state (`AVAILABLE`, `COPYING`, ...), with `all_states`.
    #[serde(default)]
    pub states: BTreeMap<String, String>,
    /// PFN to its details (rse, type, domain, priority, ...).
    #[serde(default)]
    pub pfns: BTreeMap<String, serde_json::Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A dataset's replica at one RSE (`GET /replicas/{scope}/{name}/datasets`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetReplica {
    pub scope: String,
    pub name: String,
    pub rse: String,
    pub rse_id: Option<String>,
    pub bytes: Option<u64>,
    pub length: Option<u64>,
    pub available_bytes: Option<u64>,
    pub available_length: Option<u64>,
    pub state: Option<String>,
    pub created_at: Option<RucioTime>,
    pub updated_at: Option<RucioTime>,
    pub accessed_at: Option<RucioTime>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A replication rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub id: String,
    pub scope: String,
    pub name: String,
    pub did_type: Option<DidType>,
    pub account: String,
    pub rse_expression: String,
    pub copies: u32,
    pub state: String,
    pub locks_ok_cnt: Option<u64>,
    pub locks_replicating_cnt: Option<u64>,
    pub locks_stuck_cnt: Option<u64>,
    pub grouping: Option<String>,
    pub locked: Option<bool>,
    pub expires_at: Option<RucioTime>,
    pub created_at: Option<RucioTime>,
    pub updated_at: Option<RucioTime>,
    pub comments: Option<String>,
    pub activity: Option<String>,
    pub source_replica_expression: Option<String>,
    pub weight: Option<String>,
    pub error: Option<String>,
    pub subscription_id: Option<String>,
    pub child_rule_id: Option<String>,
    pub purge_replicas: Option<bool>,
    pub notification: Option<String>,
    pub priority: Option<i64>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One entry of a DID's rule history (`GET /rules/{scope}/{name}/history`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleHistoryEntry {
    pub rule_id: String,
    pub rse_expression: Option<String>,
    pub state: Option<String>,
    pub account: Option<String>,
    pub locks_ok_cnt: Option<u64>,
    pub locks_replicating_cnt: Option<u64>,
    pub locks_stuck_cnt: Option<u64>,
    pub created_at: Option<RucioTime>,
    pub updated_at: Option<RucioTime>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// What a new rule should be; [`NewRule::new`] gives Rucio's defaults.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NewRule {
    pub dids: Vec<DidKey>,
    pub copies: u32,
    pub rse_expression: String,
    pub weight: Option<String>,
    /// Seconds; `None` for a rule that never expires.
    pub lifetime: Option<u64>,
    pub grouping: String,
    pub account: Option<String>,
    pub locked: bool,
    pub source_replica_expression: Option<String>,
    pub activity: Option<String>,
    pub notify: String,
    pub purge_replicas: bool,
    pub ignore_availability: bool,
    pub comment: Option<String>,
    pub ask_approval: bool,
    pub asynchronous: bool,
    pub delay_injection: Option<u64>,
    pub priority: u32,
    pub meta: Option<String>,
}

impl NewRule {
    pub fn new(dids: Vec<DidKey>, copies: u32, rse_expression: impl Into<String>) -> Self {
        Self {
            dids,
            copies,
            rse_expression: rse_expression.into(),
            weight: None,
            lifetime: None,
            grouping: "DATASET".into(),
            account: None,
            locked: false,
            source_replica_expression: None,
            activity: None,
            notify: "N".into(),
            purge_replicas: false,
            ignore_availability: false,
            comment: None,
            ask_approval: false,
            asynchronous: false,
            delay_injection: None,
            priority: 3,
            meta: None,
        }
    }
}

/// `{scope, name}` as request bodies carry DIDs.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DidKey {
    pub scope: String,
    pub name: String,
}

/// A replica lock of a dataset (`GET /locks/...`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetLock {
    pub rse: Option<String>,
    pub rse_id: Option<String>,
    pub scope: String,
    pub name: String,
    pub rule_id: String,
    pub account: Option<String>,
    pub state: Option<String>,
    pub length: Option<u64>,
    pub bytes: Option<u64>,
    pub accessed_at: Option<RucioTime>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A Rucio Storage Element as `GET /rses/{rse}` describes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RseInfo {
    pub rse: String,
    pub id: Option<String>,
    pub rse_type: Option<String>,
    pub deterministic: Option<bool>,
    pub volatile: Option<bool>,
    pub staging_area: Option<bool>,
    pub availability_read: Option<bool>,
    pub availability_write: Option<bool>,
    pub availability_delete: Option<bool>,
    pub city: Option<String>,
    pub country_name: Option<String>,
    pub continent: Option<String>,
    pub region_code: Option<String>,
    pub lfn2pfn_algorithm: Option<String>,
    #[serde(default)]
    pub protocols: Vec<Protocol>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// An entry of `GET /rses/`: the list gives whatever columns the server stores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RseSummary {
    pub rse: String,
    pub rse_type: Option<String>,
    pub deterministic: Option<bool>,
    pub volatile: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// An access protocol of an RSE.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Protocol {
    pub scheme: String,
    pub hostname: Option<String>,
    pub port: Option<u32>,
    pub prefix: Option<String>,
    #[serde(rename = "impl")]
    pub implementation: Option<String>,
    /// Per domain (`lan`, `wan`) and operation, the priority (0 = not allowed).
    #[serde(default)]
    pub domains: serde_json::Value,
    pub extended_attributes: Option<serde_json::Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Storage usage of an RSE as one source reports it (`rucio`, `storage`, `expired`, ...).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RseUsage {
    pub rse: Option<String>,
    pub rse_id: Option<String>,
    pub source: String,
    pub used: Option<u64>,
    pub free: Option<u64>,
    pub total: Option<u64>,
    pub files: Option<u64>,
    pub updated_at: Option<RucioTime>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The distance between two RSEs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Distance {
    pub src_rse_id: Option<String>,
    pub dest_rse_id: Option<String>,
    pub distance: Option<i64>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A transfer limit (`GET /requests/transfer_limits`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TransferLimit {
    pub id: Option<String>,
    pub rse_expression: Option<String>,
    pub activity: Option<String>,
    pub direction: Option<String>,
    pub max_transfers: Option<i64>,
    pub volume: Option<i64>,
    pub transfers: Option<i64>,
    pub waitings: Option<i64>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A transfer request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TransferRequest {
    pub id: Option<String>,
    pub request_type: Option<String>,
    pub scope: Option<String>,
    pub name: Option<String>,
    pub state: Option<String>,
    pub source_rse: Option<String>,
    pub dest_rse: Option<String>,
    pub rule_id: Option<String>,
    pub activity: Option<String>,
    pub bytes: Option<u64>,
    pub created_at: Option<RucioTime>,
    pub updated_at: Option<RucioTime>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// An account (`GET /accounts/{account}`; `whoami`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub account: String,
    #[serde(alias = "type")]
    pub account_type: Option<String>,
    pub status: Option<String>,
    pub email: Option<String>,
    pub created_at: Option<RucioTime>,
    pub updated_at: Option<RucioTime>,
    pub suspended_at: Option<RucioTime>,
    pub deleted_at: Option<RucioTime>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// An account's usage at one RSE, with its limit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccountUsage {
    pub rse: String,
    pub rse_id: Option<String>,
    pub bytes: Option<u64>,
    pub files: Option<u64>,
    pub bytes_limit: Option<f64>,
    pub bytes_remaining: Option<f64>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A subscription.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    pub id: Option<String>,
    pub name: String,
    pub account: Option<String>,
    pub state: Option<String>,
    /// Rucio sends these two as JSON text inside a string; they arrive here decoded.
    #[serde(default, deserialize_with = "embedded_json")]
    pub filter: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "embedded_json")]
    pub replication_rules: Option<serde_json::Value>,
    pub policyid: Option<i64>,
    pub comments: Option<String>,
    pub lifetime: Option<RucioTime>,
    pub retroactive: Option<bool>,
    pub created_at: Option<RucioTime>,
    pub updated_at: Option<RucioTime>,
    pub last_processed: Option<RucioTime>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// What `/ping` says about the server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServerInfo {
    pub version: String,
    #[serde(flatten)]
    pub extra: Extra,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn both_date_formats() {
        let a: RucioTime = serde_json::from_str("\"Sun, 22 Nov 2026 04:21:30 UTC\"").unwrap();
        let b: RucioTime = serde_json::from_str("\"2026-11-22T04:21:30\"").unwrap();
        assert_eq!(a, b);
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"2026-11-22T04:21:30Z\"");
        assert!(serde_json::from_str::<RucioTime>("\"yesterday\"").is_err());
    }

    #[test]
    fn unknown_fields_are_kept_and_unknown_types_tolerated() {
        let d: DidInfo = serde_json::from_str(
            r#"{"scope":"s","name":"n","type":"ARCHIVE","future":1,"open":null}"#,
        )
        .unwrap();
        assert_eq!(d.did_type, DidType::Other("ARCHIVE".into()));
        assert_eq!(d.extra["future"], 1);
    }
}
