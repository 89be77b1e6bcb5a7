//! Rule tools: list, describe, history, and the seven write tools; dataset locks.

use rucio_client::models::Rule;
use rucio_client::{NewRule, RuleUpdate};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::choices::choice;
use super::{
    ToolContext, ToolOutput, ToolResult, did_arg, did_list_arg, echo, fifty, hundred,
    list_structured, non_empty, page_request, required,
};
use crate::errors::ToolError;
use crate::format::{self, human_bytes, opt};

const RULE_ID_EXAMPLE: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90";

fn rule_id(raw: &str) -> Result<&str, ToolError> {
    let id = required("rule_id", raw, RULE_ID_EXAMPLE)?;
    if id.len() != 32 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ToolError::argument(
            format!("`rule_id` = {raw:?} is not a rule id"),
            format!(
                "A rule id is 32 hexadecimal characters, e.g. `{RULE_ID_EXAMPLE}`; `rucio_list_did_rules <did>` lists them."
            ),
        ));
    }
    Ok(id)
}

fn rule_rows(rules: &[Rule]) -> Vec<Vec<String>> {
    rules
        .iter()
        .map(|r| {
            vec![
                r.id.clone(),
                format!("{}:{}", r.scope, r.name),
                r.rse_expression.clone(),
                r.state.clone(),
                format!(
                    "{}/{}/{}",
                    opt(r.locks_ok_cnt),
                    opt(r.locks_replicating_cnt),
                    opt(r.locks_stuck_cnt)
                ),
                r.account.clone(),
                opt(r.expires_at.map(|t| t.to_string())),
            ]
        })
        .collect()
}

const RULE_HEADERS: [&str; 7] =
    ["rule id", "DID", "RSE expression", "state", "locks ok/repl/stuck", "account", "expires"];

pub(crate) fn rule_list_text(title: &str, page: &crate::paging::Page<Rule>) -> String {
    let mut text =
        format!("**{title}**\n\n{}", format::table(&RULE_HEADERS, &rule_rows(&page.items)));
    text.push_str(&format::page_footer(page.items.len(), page.offset, page.next_offset, "rules"));
    let mut hints = Vec::new();
    if let Some(stuck) =
        page.items.iter().find(|r| r.state == "STUCK" || r.locks_stuck_cnt.unwrap_or(0) > 0)
    {
        hints.push(format!("`rucio_get_replication_rule {}` shows why a rule is stuck", stuck.id));
    } else if let Some(first) = page.items.first() {
        hints.push(format!("`rucio_get_replication_rule {}` for the details of a rule", first.id));
    }
    text.push_str(&format::hints(&hints));
    text
}

#[derive(Debug, Deserialize)]
pub(crate) struct PagedDid {
    did: String,
    #[serde(default = "hundred")]
    limit: i64,
    #[serde(default)]
    offset: i64,
}

pub(crate) async fn list_did_rules(ctx: &ToolContext, args: PagedDid) -> ToolResult {
    let did = did_arg("did", &args.did)?;
    let page = page_request(args.limit, args.offset)?
        .take(ctx.client.list_did_rules(&did).await?, |_| true)
        .await?;
    let text = rule_list_text(&format!("Rules on {did}"), &page);
    let structured = list_structured(echo(&[("did", json!(did.to_string()))]), "rules", &page);
    Ok(ToolOutput { text, structured })
}

#[derive(Debug, Deserialize)]
pub(crate) struct RuleIdArg {
    rule_id: String,
}

pub(crate) async fn get_rule(ctx: &ToolContext, args: RuleIdArg) -> ToolResult {
    let id = rule_id(&args.rule_id)?;
    let r = ctx.client.get_rule(id).await?;
    let bytes = r.extra.get("bytes").and_then(Value::as_u64);
    let structured = json!({
        "id": r.id, "state": r.state, "rse_expression": r.rse_expression, "account": r.account, "scope": r.scope,
        "name": r.name, "copies": r.copies, "bytes": bytes, "locks_ok_cnt": r.locks_ok_cnt,
        "locks_replicating_cnt": r.locks_replicating_cnt, "locks_stuck_cnt": r.locks_stuck_cnt, "error": r.error,
        "expires_at": r.expires_at.map(|t| t.to_string()), "created_at": r.created_at.map(|t| t.to_string()),
        "updated_at": r.updated_at.map(|t| t.to_string()),
    });
    let mut text = format!("**Rule {}**\n\n", r.id);
    text.push_str(&format::fields(&[
        ("DID", Some(format!("{}:{}", r.scope, r.name))),
        ("RSE expression", Some(r.rse_expression.clone())),
        ("copies", Some(r.copies.to_string())),
        ("state", Some(r.state.clone())),
        (
            "locks ok / replicating / stuck",
            Some(format!(
                "{} / {} / {}",
                opt(r.locks_ok_cnt),
                opt(r.locks_replicating_cnt),
                opt(r.locks_stuck_cnt)
            )),
        ),
        ("size", bytes.map(|b| human_bytes(Some(b)))),
        ("account", Some(r.account.clone())),
        ("locked", r.locked.map(|l| l.to_string())),
        ("grouping", r.grouping.clone()),
        ("activity", r.activity.clone()),
        ("comment", r.comments.clone()),
        ("error", r.error.clone()),
        ("expires", r.expires_at.map(|t| t.to_string())),
        ("created", r.created_at.map(|t| t.to_string())),
        ("child rule", r.child_rule_id.clone()),
    ]));
    let mut hints =
        vec![format!("`rucio_get_dataset_locks {}:{}` for the locks per RSE", r.scope, r.name)];
    if r.state == "WAITING_APPROVAL" {
        hints
            .push(format!("`rucio_approve_rule {}` or `rucio_deny_rule {}` decide it", r.id, r.id));
    }
    text.push_str(&format::hints(&hints));
    Ok(ToolOutput { text, structured })
}

#[derive(Debug, Deserialize)]
pub(crate) struct PagedDid50 {
    did: String,
    #[serde(default = "fifty")]
    limit: i64,
    #[serde(default)]
    offset: i64,
}

pub(crate) async fn list_rule_history(ctx: &ToolContext, args: PagedDid50) -> ToolResult {
    let did = did_arg("did", &args.did)?;
    let page = page_request(args.limit, args.offset)?
        .take(ctx.client.list_rule_history(&did).await?, |_| true)
        .await?;
    let rows: Vec<Vec<String>> = page
        .items
        .iter()
        .map(|h| {
            vec![
                h.rule_id.clone(),
                opt(h.rse_expression.clone()),
                opt(h.state.clone()),
                opt(h.account.clone()),
                opt(h.created_at.map(|t| t.to_string())),
                opt(h.updated_at.map(|t| t.to_string())),
            ]
        })
        .collect();
    let mut text = format!(
        "**Rule history of {did}**\n\n{}",
        format::table(
            &["rule id", "RSE expression", "state", "account", "created", "updated"],
            &rows
        )
    );
    text.push_str(&format::page_footer(rows.len(), page.offset, page.next_offset, "entries"));
    let structured = list_structured(echo(&[("did", json!(did.to_string()))]), "history", &page);
    Ok(ToolOutput { text, structured })
}

#[derive(Debug, Deserialize)]
pub(crate) struct ListRules {
    #[serde(default)]
    scope: String,
    #[serde(default)]
    account: String,
    #[serde(default = "fifty")]
    limit: i64,
    #[serde(default)]
    offset: i64,
}

pub(crate) async fn list_rules(ctx: &ToolContext, args: ListRules) -> ToolResult {
    let (scope, account) = (args.scope.trim(), args.account.trim());
    let mut filters = Vec::new();
    if !scope.is_empty() {
        filters.push(("scope", scope));
    }
    if !account.is_empty() {
        filters.push(("account", account));
    }
    let page = page_request(args.limit, args.offset)?
        .take(ctx.client.list_rules(&filters).await?, |_| true)
        .await?;
    let title = match (scope.is_empty(), account.is_empty()) {
        (false, false) => format!("Rules in scope {scope} of account {account}"),
        (false, true) => format!("Rules in scope {scope}"),
        (true, false) => format!("Rules of account {account}"),
        (true, true) => "Rules".to_owned(),
    };
    let text = rule_list_text(&title, &page);
    let structured = list_structured(
        echo(&[("scope", json!(scope)), ("account", json!(account))]),
        "rules",
        &page,
    );
    Ok(ToolOutput { text, structured })
}

#[derive(Debug, Deserialize)]
pub(crate) struct AddRule {
    dids: String,
    copies: i64,
    rse_expression: String,
    #[serde(default)]
    lifetime: i64,
    #[serde(default = "dataset")]
    grouping: String,
    #[serde(default)]
    locked: bool,
    #[serde(default)]
    source_replica_expression: String,
    #[serde(default = "notify_none")]
    notify: String,
    #[serde(default)]
    activity: String,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    ask_approval: bool,
    #[serde(default)]
    asynchronous: bool,
    #[serde(default)]
    delay_injection: i64,
    #[serde(default)]
    account: String,
    #[serde(default)]
    weight: String,
}

/// Rucio's `RuleGrouping`: the REST API takes the name; the codes are accepted too.
const GROUPINGS: &[(&str, &str)] = &[
    ("DATASET", "DATASET"),
    ("ALL", "ALL"),
    ("NONE", "NONE"),
    ("D", "DATASET"),
    ("A", "ALL"),
    ("N", "NONE"),
];

/// Rucio's `RuleNotification`: the REST API takes the code; the names are accepted too.
const NOTIFICATIONS: &[(&str, &str)] = &[
    ("N", "N"),
    ("Y", "Y"),
    ("C", "C"),
    ("P", "P"),
    ("NO", "N"),
    ("NONE", "N"),
    ("YES", "Y"),
    ("CLOSE", "C"),
    ("PROGRESS", "P"),
];

fn dataset() -> String {
    "DATASET".into()
}

fn notify_none() -> String {
    "N".into()
}

pub(crate) async fn add_rule(ctx: &ToolContext, args: AddRule) -> ToolResult {
    let dids = did_list_arg("dids", &args.dids)?;
    let rse_expression =
        required("rse_expression", &args.rse_expression, "CERN-PROD_SCRATCHDISK")?.to_owned();
    let copies = u32::try_from(args.copies).ok().filter(|c| *c >= 1).ok_or_else(|| {
        ToolError::argument(
            format!("`copies` = {} must be 1 or more", args.copies),
            "Usually `copies=1`.",
        )
    })?;
    let grouping = choice("grouping", &args.grouping, GROUPINGS)?;
    let notify = choice("notify", &args.notify, NOTIFICATIONS)?;
    let non_negative = |name: &str, v: i64| {
        u64::try_from(v).map_err(|_| {
            ToolError::argument(format!("`{name}` = {v} must be 0 or more"), "Use 0 for none.")
        })
    };
    let lifetime = non_negative("lifetime", args.lifetime)?;
    let delay = non_negative("delay_injection", args.delay_injection)?;
    let mut rule =
        NewRule::new(dids.iter().map(rucio_client::Did::key).collect(), copies, &rse_expression);
    rule.lifetime = (lifetime > 0).then_some(lifetime);
    rule.grouping = grouping.to_owned();
    rule.locked = args.locked;
    rule.source_replica_expression = non_empty(&args.source_replica_expression);
    rule.notify = notify.to_owned();
    rule.activity = non_empty(&args.activity);
    rule.comment = non_empty(&args.comment);
    rule.ask_approval = args.ask_approval;
    rule.asynchronous = args.asynchronous;
    rule.delay_injection = (delay > 0).then_some(delay);
    rule.account = Some(ctx.account_or_self(&args.account).await?);
    rule.weight = non_empty(&args.weight);
    let rule_ids = ctx.client.add_rule(&rule).await?;
    let shown: Vec<String> = dids.iter().map(ToString::to_string).collect();
    let mut text = format!(
        "**Created {} rule(s)** for {} → `{rse_expression}` ({copies} cop{})\n\n",
        rule_ids.len(),
        shown.join(", "),
        if copies == 1 { "y" } else { "ies" }
    );
    for id in &rule_ids {
        text.push_str(&format!("- `{id}`\n"));
    }
    if let Some(first) = rule_ids.first() {
        text.push_str(&format::hints(&[format!(
            "`rucio_get_replication_rule {first}` to follow its progress"
        )]));
    }
    let structured = json!({"dids": shown, "copies": copies, "rse_expression": rse_expression, "rule_ids": rule_ids});
    Ok(ToolOutput { text, structured })
}

#[derive(Debug, Deserialize)]
pub(crate) struct DeleteRule {
    rule_id: String,
    #[serde(default)]
    purge_replicas: bool,
}

pub(crate) async fn delete_rule(ctx: &ToolContext, args: DeleteRule) -> ToolResult {
    let id = rule_id(&args.rule_id)?;
    ctx.client.delete_rule(id, args.purge_replicas).await?;
    let text = format!(
        "**Deleted rule `{id}`**{}. Rucio removes it within the hour; its replicas go once no other rule protects them.",
        if args.purge_replicas { " (replicas purged)" } else { "" }
    );
    Ok(ToolOutput {
        text,
        structured: json!({"rule_id": id, "purge_replicas": args.purge_replicas, "deleted": true}),
    })
}

#[derive(Debug, Deserialize)]
pub(crate) struct UpdateRule {
    rule_id: String,
    #[serde(default)]
    lifetime: i64,
    #[serde(default)]
    locked: Option<bool>,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    activity: Option<String>,
}

pub(crate) async fn update_rule(ctx: &ToolContext, args: UpdateRule) -> ToolResult {
    let id = rule_id(&args.rule_id)?;
    let lifetime = u64::try_from(args.lifetime).map_err(|_| {
        ToolError::argument(
            format!("`lifetime` = {} must be 0 or more", args.lifetime),
            "Seconds from now; 0 leaves it unchanged.",
        )
    })?;
    let update = RuleUpdate {
        lifetime: (lifetime > 0).then_some(Some(lifetime)),
        locked: args.locked,
        comment: args.comment.clone(),
        activity: args.activity.clone(),
        ..Default::default()
    };
    let fields: Map<String, Value> = update.to_options();
    if fields.is_empty() {
        return Err(ToolError::argument(
            "nothing to change: give `lifetime`, `locked`, `comment` or `activity`",
            "For example `locked=false` to unlock, or `lifetime=86400` to keep the rule one more day.",
        ));
    }
    ctx.client.update_rule(id, &update).await?;
    let changes: Vec<String> = fields.iter().map(|(k, v)| format!("{k} = {v}")).collect();
    let text = format!("**Updated rule `{id}`**: {}", changes.join(", "));
    Ok(ToolOutput {
        text,
        structured: json!({"rule_id": id, "updated_fields": fields, "updated": true}),
    })
}

#[derive(Debug, Deserialize)]
pub(crate) struct ReduceRule {
    rule_id: String,
    copies: i64,
    #[serde(default)]
    exclude_expression: String,
}

pub(crate) async fn reduce_rule(ctx: &ToolContext, args: ReduceRule) -> ToolResult {
    let id = rule_id(&args.rule_id)?;
    let copies = u32::try_from(args.copies).ok().filter(|c| *c >= 1).ok_or_else(|| {
        ToolError::argument(
            format!("`copies` = {} must be 1 or more", args.copies),
            "Give the new, smaller number of copies.",
        )
    })?;
    let exclude = non_empty(&args.exclude_expression);
    let ids = ctx.client.reduce_rule(id, copies, exclude.as_deref()).await?;
    let new_id = ids.first().cloned().unwrap_or_default();
    let text = format!(
        "**Reduced rule `{id}` to {copies} cop{}**: replaced by rule `{new_id}`.",
        if copies == 1 { "y" } else { "ies" }
    );
    Ok(ToolOutput {
        text,
        structured: json!({"rule_id": id, "copies": copies, "new_rule_id": new_id}),
    })
}

#[derive(Debug, Deserialize)]
pub(crate) struct MoveRule {
    rule_id: String,
    rse_expression: String,
}

pub(crate) async fn move_rule(ctx: &ToolContext, args: MoveRule) -> ToolResult {
    let id = rule_id(&args.rule_id)?;
    let expression = required("rse_expression", &args.rse_expression, "CERN-PROD_DATADISK")?;
    let new_id = ctx.client.move_rule(id, expression, &Map::new()).await?;
    let text = format!(
        "**Moving rule `{id}` to `{expression}`**: new rule `{new_id}`; the old rule goes once the data has arrived.{}",
        format::hints(&[format!("`rucio_get_replication_rule {new_id}` to follow the move")])
    );
    Ok(ToolOutput {
        text,
        structured: json!({"rule_id": id, "rse_expression": expression, "new_rule_id": new_id}),
    })
}

pub(crate) async fn approve_rule(ctx: &ToolContext, args: RuleIdArg) -> ToolResult {
    let id = rule_id(&args.rule_id)?;
    ctx.client.approve_rule(id).await?;
    Ok(ToolOutput {
        text: format!("**Approved rule `{id}`**."),
        structured: json!({"rule_id": id, "approved": true}),
    })
}

#[derive(Debug, Deserialize)]
pub(crate) struct DenyRule {
    rule_id: String,
    #[serde(default)]
    reason: String,
}

pub(crate) async fn deny_rule(ctx: &ToolContext, args: DenyRule) -> ToolResult {
    let id = rule_id(&args.rule_id)?;
    let reason = args.reason.trim();
    ctx.client.deny_rule(id, Some(reason).filter(|r| !r.is_empty())).await?;
    Ok(ToolOutput {
        text: format!(
            "**Denied rule `{id}`**; it is removed.{}",
            if reason.is_empty() { String::new() } else { format!(" Reason: {reason}") }
        ),
        structured: json!({"rule_id": id, "reason": reason, "denied": true}),
    })
}

fn lock_rows(locks: &[rucio_client::models::DatasetLock]) -> Vec<Vec<String>> {
    locks
        .iter()
        .map(|l| {
            vec![
                format!("{}:{}", l.scope, l.name),
                opt(l.rse.clone()),
                l.rule_id.clone(),
                opt(l.state.clone()),
                opt(l.length),
                human_bytes(l.bytes),
            ]
        })
        .collect()
}

const LOCK_HEADERS: [&str; 6] = ["dataset", "RSE", "rule id", "state", "files", "size"];

#[derive(Debug, Deserialize)]
pub(crate) struct LocksByRse {
    rse: String,
    #[serde(default = "hundred")]
    limit: i64,
    #[serde(default)]
    offset: i64,
}

pub(crate) async fn get_dataset_locks(ctx: &ToolContext, args: PagedDid) -> ToolResult {
    let did = did_arg("did", &args.did)?;
    let page = page_request(args.limit, args.offset)?
        .take(ctx.client.get_dataset_locks(&did).await?, |_| true)
        .await?;
    let mut text =
        format!("**Locks on {did}**\n\n{}", format::table(&LOCK_HEADERS, &lock_rows(&page.items)));
    text.push_str(&format::page_footer(page.items.len(), page.offset, page.next_offset, "locks"));
    let structured = list_structured(echo(&[("did", json!(did.to_string()))]), "locks", &page);
    Ok(ToolOutput { text, structured })
}

pub(crate) async fn get_dataset_locks_by_rse(ctx: &ToolContext, args: LocksByRse) -> ToolResult {
    let rse = required("rse", &args.rse, "CERN-PROD_DATADISK")?;
    let page = page_request(args.limit, args.offset)?
        .take(ctx.client.get_dataset_locks_by_rse(rse).await?, |_| true)
        .await?;
    let mut text = format!(
        "**Dataset locks at {rse}**\n\n{}",
        format::table(&LOCK_HEADERS, &lock_rows(&page.items))
    );
    text.push_str(&format::page_footer(page.items.len(), page.offset, page.next_offset, "locks"));
    let structured = list_structured(echo(&[("rse", json!(rse))]), "locks", &page);
    Ok(ToolOutput { text, structured })
}
