//! The REST calls, one method each, grouped as Rucio groups its endpoints.
//!
//! List endpoints return [`ListStream`]s: documents are parsed as they arrive, so taking the first
//! 50 of a million entries reads only what those 50 need and memory stays flat.

use std::collections::BTreeMap;

use futures_util::stream::BoxStream;
use reqwest::Method;
use serde_json::json;

use crate::client::{Call, RucioClient};
use crate::did::Did;
use crate::error::{Error, Result};
use crate::models::*;

/// A lazily read list of documents from Rucio.
pub type ListStream<T> = BoxStream<'static, Result<T>>;

/// Options of `POST /replicas/list`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReplicaQuery {
    /// Protocol schemes to return PFNs for (`root`, `davs`, ...); all when empty.
    pub schemes: Vec<String>,
    pub rse_expression: Option<String>,
    /// `geoip`, `closeness`, `random` or Rucio's other sort orders.
    pub sort: Option<String>,
    /// Include replicas in every state, not just AVAILABLE.
    pub all_states: bool,
    pub domain: Option<String>,
}

/// Which changes `update_rule` makes; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuleUpdate {
    /// New lifetime in seconds; `Some(None)` makes the rule permanent.
    pub lifetime: Option<Option<u64>>,
    pub locked: Option<bool>,
    pub comment: Option<String>,
    pub activity: Option<String>,
    pub account: Option<String>,
    pub state: Option<String>,
    /// Any other option Rucio accepts (`priority`, `boost_rule`, ...).
    pub other: serde_json::Map<String, serde_json::Value>,
}

impl RuleUpdate {
    pub fn to_options(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut options = self.other.clone();
        if let Some(lifetime) = self.lifetime {
            options.insert("lifetime".into(), json!(lifetime));
        }
        for (key, value) in [
            ("locked", self.locked.map(|v| json!(v))),
            ("comment", self.comment.as_ref().map(|v| json!(v))),
            ("activity", self.activity.as_ref().map(|v| json!(v))),
            ("account", self.account.as_ref().map(|v| json!(v))),
            ("state", self.state.as_ref().map(|v| json!(v))),
        ] {
            if let Some(v) = value {
                options.insert(key.into(), v);
            }
        }
        options
    }
}

fn not_empty<'a>(what: &str, value: &'a str) -> Result<&'a str> {
    if value.trim().is_empty() {
        Err(Error::InvalidArgument(format!("{what} must not be empty")))
    } else {
        Ok(value)
    }
}

/// `request_states` as Rucio's REST API reads it: codes joined by commas.
fn state_codes(states: &[RequestState]) -> String {
    states.iter().map(|s| s.code()).collect::<Vec<_>>().join(",")
}

/// DIDs: lookup, search, contents, files, metadata, parents.
impl RucioClient {
    /// `GET /dids/{scope}/{name}`. `dynamic` makes Rucio compute bytes and length of open collections.
    pub async fn get_did(&self, did: &Did, dynamic: bool) -> Result<DidInfo> {
        let call = Call::get(&["dids", did.scope(), did.name()])
            .query_opt("dynamic_depth", dynamic.then_some("FILE"));
        self.json(call).await
    }

    /// Searches DID names in `scope` (`name` may use `*` wildcards; other filters are metadata
    /// `key=value` pairs). `limit` lets the server stop early.
    pub async fn list_dids(
        &self,
        scope: &str,
        filters: &[(&str, &str)],
        did_type: DidSearchType,
        recursive: bool,
        limit: Option<u64>,
    ) -> Result<ListStream<String>> {
        self.stream(did_search(scope, filters, did_type, recursive, limit, false)?).await
    }

    /// Like [`Self::list_dids`], with type, size and length of each result.
    pub async fn list_dids_long(
        &self,
        scope: &str,
        filters: &[(&str, &str)],
        did_type: DidSearchType,
        recursive: bool,
        limit: Option<u64>,
    ) -> Result<ListStream<DidSummary>> {
        self.stream(did_search(scope, filters, did_type, recursive, limit, true)?).await
    }

    /// The direct children of a dataset or container.
    pub async fn list_content(&self, did: &Did) -> Result<ListStream<DidRef>> {
        self.stream(Call::get(&["dids", did.scope(), did.name(), "dids"])).await
    }

    /// All files below a DID, resolving containers.
    pub async fn list_files(&self, did: &Did, long: bool) -> Result<ListStream<FileInfo>> {
        self.stream(
            Call::get(&["dids", did.scope(), did.name(), "files"])
                .query_opt("long", long.then_some("True")),
        )
        .await
    }

    /// The collections a DID is attached to.
    pub async fn list_parent_dids(&self, did: &Did) -> Result<ListStream<DidRef>> {
        self.stream(Call::get(&["dids", did.scope(), did.name(), "parents"])).await
    }

    /// Metadata of a DID from one plugin (`DID_COLUMN`, `JSON`, `ALL`, ...).
    pub async fn get_metadata(
        &self,
        did: &Did,
        plugin: &str,
    ) -> Result<serde_json::Map<String, serde_json::Value>> {
        self.json(
            Call::get(&["dids", did.scope(), did.name(), "meta"])
                .query("plugin", not_empty("plugin", plugin)?),
        )
        .await
    }

    /// The replication rules on a DID.
    pub async fn list_did_rules(&self, did: &Did) -> Result<ListStream<Rule>> {
        self.stream(Call::get(&["dids", did.scope(), did.name(), "rules"])).await
    }
}

/// Rule ids as the rule endpoints return them: one id, or a list of ids.
fn rule_ids(value: serde_json::Value, endpoint: &str) -> Result<Vec<String>> {
    let unexpected = |v: &serde_json::Value| {
        Error::invalid(endpoint, 200, format!("expected rule ids, got {v}"))
    };
    match value {
        serde_json::Value::String(id) => Ok(vec![id]),
        serde_json::Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| unexpected(v)))
            .collect(),
        other => Err(unexpected(&other)),
    }
}

fn did_search(
    scope: &str,
    filters: &[(&str, &str)],
    did_type: DidSearchType,
    recursive: bool,
    limit: Option<u64>,
    long: bool,
) -> Result<Call> {
    let mut call = Call::get(&["dids", not_empty("scope", scope)?, "dids", "search"])
        .query("type", did_type.as_str());
    for (key, value) in filters {
        if matches!(*key, "type" | "limit" | "long" | "recursive") {
            return Err(Error::InvalidArgument(format!("`{key}` is not a metadata filter")));
        }
        call = call.query(key, value);
    }
    if long {
        call = call.query("long", "True");
    }
    if recursive {
        call = call.query("recursive", "True");
    }
    Ok(call.query_opt("limit", limit))
}

/// Replicas of files and datasets.
impl RucioClient {
    /// The replicas of the files of `dids` (files, datasets or containers).
    pub async fn list_replicas(
        &self,
        dids: &[Did],
        query: &ReplicaQuery,
    ) -> Result<ListStream<FileReplicas>> {
        if dids.is_empty() {
            return Err(Error::InvalidArgument("list_replicas needs at least one DID".into()));
        }
        let mut body = json!({
            "dids": dids.iter().map(Did::key).collect::<Vec<_>>(),
            "all_states": query.all_states,
            "ignore_availability": true,
            "resolve_archives": true,
            "resolve_parents": false,
            "domain": query.domain,
        });
        if !query.schemes.is_empty() {
            body["schemes"] = json!(query.schemes);
        }
        if let Some(expr) = &query.rse_expression {
            body["rse_expression"] = json!(expr);
        }
        if let Some(sort) = &query.sort {
            body["sort"] = json!(sort);
        }
        self.stream(Call::new(Method::POST, &["replicas", "list"]).json(body).read_only()).await
    }

    /// Where a dataset has replicas, one entry per RSE. `deep` checks file replicas one by one.
    pub async fn list_dataset_replicas(
        &self,
        did: &Did,
        deep: bool,
    ) -> Result<ListStream<DatasetReplica>> {
        self.stream(
            Call::get(&["replicas", did.scope(), did.name(), "datasets"])
                .query_opt("deep", deep.then_some("True")),
        )
        .await
    }

    /// Dataset replicas of several datasets in one call.
    pub async fn list_dataset_replicas_bulk(
        &self,
        dids: &[Did],
    ) -> Result<ListStream<DatasetReplica>> {
        let body = json!({ "dids": dids.iter().map(Did::key).collect::<Vec<_>>() });
        self.stream(Call::new(Method::POST, &["replicas", "datasets_bulk"]).json(body).read_only())
            .await
    }
}

/// Replication rules.
impl RucioClient {
    pub async fn get_rule(&self, rule_id: &str) -> Result<Rule> {
        self.json(Call::get(&["rules", not_empty("rule_id", rule_id)?])).await
    }

    /// Rules matching `filters` (`scope`, `account`, `state`, `rse_expression`, ...).
    pub async fn list_rules(&self, filters: &[(&str, &str)]) -> Result<ListStream<Rule>> {
        let mut call = Call::get(&["rules", ""]);
        for (key, value) in filters {
            call = call.query(key, value);
        }
        self.stream(call).await
    }

    /// The history of all rules ever placed on a DID.
    pub async fn list_rule_history(&self, did: &Did) -> Result<ListStream<RuleHistoryEntry>> {
        self.stream(Call::get(&["rules", did.scope(), did.name(), "history"])).await
    }

    /// Creates rules; returns their ids (one per DID).
    pub async fn add_rule(&self, rule: &NewRule) -> Result<Vec<String>> {
        let body = serde_json::to_value(rule).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        self.json(Call::new(Method::POST, &["rules", ""]).json(body)).await
    }

    pub async fn update_rule(&self, rule_id: &str, update: &RuleUpdate) -> Result<()> {
        let options = update.to_options();
        if options.is_empty() {
            return Err(Error::InvalidArgument("update_rule needs at least one change".into()));
        }
        self.execute(
            Call::new(Method::PUT, &["rules", not_empty("rule_id", rule_id)?])
                .json(json!({ "options": options })),
        )
        .await
    }

    /// Lowers the number of copies; returns the ids of the rules that replace it.
    pub async fn reduce_rule(
        &self,
        rule_id: &str,
        copies: u32,
        exclude_expression: Option<&str>,
    ) -> Result<Vec<String>> {
        let body = json!({ "copies": copies, "exclude_expression": exclude_expression });
        let call = Call::new(Method::POST, &["rules", not_empty("rule_id", rule_id)?, "reduce"]);
        rule_ids(self.json(call.json(body)).await?, "rules/{rule_id}/reduce")
    }

    /// Moves a rule to other RSEs by creating a child rule; returns the new rule's id.
    pub async fn move_rule(
        &self,
        rule_id: &str,
        rse_expression: &str,
        overrides: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<String> {
        let rse_expression = not_empty("rse_expression", rse_expression)?;
        let body =
            json!({ "rule_id": rule_id, "rse_expression": rse_expression, "override": overrides });
        let call = Call::new(Method::POST, &["rules", not_empty("rule_id", rule_id)?, "move"]);
        let ids = rule_ids(self.json(call.json(body)).await?, "rules/{rule_id}/move")?;
        ids.into_iter()
            .next()
            .ok_or_else(|| Error::invalid("rules/{rule_id}/move", 201, "no rule id in the answer"))
    }

    pub async fn approve_rule(&self, rule_id: &str) -> Result<()> {
        let body = json!({ "options": { "approve": true } });
        self.execute(Call::new(Method::PUT, &["rules", not_empty("rule_id", rule_id)?]).json(body))
            .await
    }

    pub async fn deny_rule(&self, rule_id: &str, reason: Option<&str>) -> Result<()> {
        let mut options = json!({ "approve": false });
        if let Some(reason) = reason.filter(|r| !r.is_empty()) {
            options["comment"] = json!(reason);
        }
        self.execute(
            Call::new(Method::PUT, &["rules", not_empty("rule_id", rule_id)?])
                .json(json!({ "options": options })),
        )
        .await
    }

    pub async fn delete_rule(&self, rule_id: &str, purge_replicas: bool) -> Result<()> {
        let body = json!({ "purge_replicas": purge_replicas });
        self.execute(
            Call::new(Method::DELETE, &["rules", not_empty("rule_id", rule_id)?]).json(body),
        )
        .await
    }

    /// The dataset locks of a DID.
    pub async fn get_dataset_locks(&self, did: &Did) -> Result<ListStream<DatasetLock>> {
        self.stream(Call::get(&["locks", did.scope(), did.name()]).query("did_type", "dataset"))
            .await
    }

    /// The dataset locks at an RSE.
    pub async fn get_dataset_locks_by_rse(&self, rse: &str) -> Result<ListStream<DatasetLock>> {
        self.stream(Call::get(&["locks", not_empty("rse", rse)?]).query("did_type", "dataset"))
            .await
    }
}

/// Rucio Storage Elements and transfers.
impl RucioClient {
    /// RSEs matching an RSE expression (all when `None`).
    pub async fn list_rses(&self, rse_expression: Option<&str>) -> Result<ListStream<RseSummary>> {
        let call = Call::get(&["rses", ""])
            .query_opt("expression", rse_expression.filter(|e| !e.is_empty()));
        self.stream(call).await
    }

    pub async fn get_rse(&self, rse: &str) -> Result<RseInfo> {
        self.json(Call::get(&["rses", not_empty("rse", rse)?])).await
    }

    pub async fn list_rse_attributes(
        &self,
        rse: &str,
    ) -> Result<BTreeMap<String, serde_json::Value>> {
        self.json(Call::get(&["rses", not_empty("rse", rse)?, "attr", ""])).await
    }

    pub async fn get_rse_usage(&self, rse: &str) -> Result<ListStream<RseUsage>> {
        self.stream(Call::get(&["rses", not_empty("rse", rse)?, "usage"])).await
    }

    pub async fn get_rse_limits(&self, rse: &str) -> Result<BTreeMap<String, serde_json::Value>> {
        self.json(Call::get(&["rses", not_empty("rse", rse)?, "limits"])).await
    }

    pub async fn get_rse_protocols(&self, rse: &str) -> Result<Vec<Protocol>> {
        self.json(Call::get(&["rses", not_empty("rse", rse)?, "protocols"])).await
    }

    pub async fn get_distance(&self, source: &str, destination: &str) -> Result<Vec<Distance>> {
        self.json(Call::get(&[
            "rses",
            not_empty("source", source)?,
            "distances",
            not_empty("destination", destination)?,
        ]))
        .await
    }

    pub async fn list_transfer_limits(&self) -> Result<ListStream<TransferLimit>> {
        self.stream(Call::get(&["requests", "transfer_limits"])).await
    }

    /// Transfer requests between two RSEs in the given states (e.g. `Q`, `S`, `F`, or names).
    pub async fn list_requests(
        &self,
        src_rse: &str,
        dst_rse: &str,
        states: &[RequestState],
    ) -> Result<ListStream<TransferRequest>> {
        let call = Call::get(&["requests", "list"])
            .query("src_rse", not_empty("src_rse", src_rse)?)
            .query("dst_rse", not_empty("dst_rse", dst_rse)?)
            .query("request_states", state_codes(states));
        self.stream(call).await
    }

    /// Finished transfer requests between two RSEs, paged by the server.
    pub async fn list_requests_history(
        &self,
        src_rse: &str,
        dst_rse: &str,
        states: &[RequestState],
        offset: u64,
        limit: u64,
    ) -> Result<ListStream<TransferRequest>> {
        let call = Call::get(&["requests", "history", "list"])
            .query("src_rse", not_empty("src_rse", src_rse)?)
            .query("dst_rse", not_empty("dst_rse", dst_rse)?)
            .query("request_states", state_codes(states))
            .query("offset", offset)
            .query("limit", limit);
        self.stream(call).await
    }
}

/// Accounts, scopes, subscriptions, server.
impl RucioClient {
    /// The account the credentials map to (Rucio answers with a redirect to the account).
    pub async fn whoami(&self) -> Result<Account> {
        self.json(Call::get(&["accounts", "whoami"])).await
    }

    pub async fn get_account(&self, account: &str) -> Result<Account> {
        self.json(Call::get(&["accounts", not_empty("account", account)?])).await
    }

    pub async fn list_accounts(
        &self,
        account_type: Option<&str>,
        identity: Option<&str>,
    ) -> Result<ListStream<Account>> {
        let call = Call::get(&["accounts", ""])
            .query_opt("account_type", account_type.filter(|s| !s.is_empty()))
            .query_opt("identity", identity.filter(|s| !s.is_empty()));
        self.stream(call).await
    }

    /// Usage of an account per RSE (one RSE when given).
    pub async fn get_local_account_usage(
        &self,
        account: &str,
        rse: Option<&str>,
    ) -> Result<ListStream<AccountUsage>> {
        let account = not_empty("account", account)?;
        let call = match rse.filter(|r| !r.is_empty()) {
            Some(rse) => Call::get(&["accounts", account, "usage", "local", rse]),
            None => Call::get(&["accounts", account, "usage", "local"]),
        };
        self.stream(call).await
    }

    /// Local quota of an account per RSE, in bytes.
    pub async fn get_local_account_limits(
        &self,
        account: &str,
    ) -> Result<BTreeMap<String, serde_json::Value>> {
        self.json(Call::get(&["accounts", not_empty("account", account)?, "limits", "local"])).await
    }

    /// Local quota of an account at the RSEs of an expression.
    pub async fn get_local_account_limit(
        &self,
        account: &str,
        rse_expression: &str,
    ) -> Result<BTreeMap<String, serde_json::Value>> {
        self.json(Call::get(&[
            "accounts",
            not_empty("account", account)?,
            "limits",
            "local",
            not_empty("rse", rse_expression)?,
        ]))
        .await
    }

    /// Rules owned by an account.
    pub async fn list_account_rules(&self, account: &str) -> Result<ListStream<Rule>> {
        self.stream(Call::get(&["accounts", not_empty("account", account)?, "rules"])).await
    }

    pub async fn list_scopes(&self) -> Result<Vec<String>> {
        self.json(Call::get(&["scopes", ""])).await
    }

    pub async fn list_scopes_for_account(&self, account: &str) -> Result<Vec<String>> {
        self.json(Call::get(&["accounts", not_empty("account", account)?, "scopes", ""])).await
    }

    /// Subscriptions, by account and/or name. An unknown account or name gives an empty list,
    /// as in the Python client.
    pub async fn list_subscriptions(
        &self,
        account: Option<&str>,
        name: Option<&str>,
    ) -> Result<ListStream<Subscription>> {
        let (account, name) = (account.filter(|s| !s.is_empty()), name.filter(|s| !s.is_empty()));
        let call = match (account, name) {
            (Some(a), Some(n)) => Call::get(&["subscriptions", a, n]),
            (Some(a), None) => Call::get(&["subscriptions", a]),
            (None, Some(n)) => Call::get(&["subscriptions", "name", n]),
            (None, None) => Call::get(&["subscriptions", ""]),
        };
        match self.stream(call).await {
            Err(Error::Server { kind: crate::RucioErrorKind::SubscriptionNotFound, .. }) => {
                Ok(Box::pin(futures_util::stream::empty()))
            }
            other => other,
        }
    }

    /// The rules a subscription created.
    pub async fn list_subscription_rules(
        &self,
        account: &str,
        name: &str,
    ) -> Result<ListStream<Rule>> {
        self.stream(Call::get(&[
            "subscriptions",
            not_empty("account", account)?,
            not_empty("name", name)?,
            "rules",
        ]))
        .await
    }

    /// `/ping`: the server's version; needs no authentication.
    pub async fn ping(&self) -> Result<ServerInfo> {
        let mut call = Call::get(&["ping"]);
        call.anonymous = true;
        self.json(call).await
    }
}
