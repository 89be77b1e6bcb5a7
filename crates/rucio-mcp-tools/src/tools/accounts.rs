//! Account and scope tools.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    ToolContext, ToolOutput, ToolResult, default_true, echo, fifty, hundred, list_structured,
    page_request,
};
use crate::format::{self, human_bytes, opt};

/// `*` wildcards when the pattern has any, else a case-insensitive substring match.
pub(crate) fn matches_pattern(pattern: &str, text: &str) -> bool {
    let pattern = pattern.trim();
    if pattern.is_empty() {
        return true;
    }
    if !pattern.contains('*') {
        return text.to_lowercase().contains(&pattern.to_lowercase());
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            continue;
        }
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(pos) => rest = &rest[pos + part.len()..],
                None => return false,
            }
        }
    }
    true
}

#[derive(Debug, Deserialize)]
pub(crate) struct ListScopes {
    #[serde(default)]
    pattern: String,
    #[serde(default = "hundred")]
    limit: i64,
    #[serde(default)]
    offset: i64,
}

fn scopes_output(
    title: &str,
    mut scopes: Vec<String>,
    pattern: &str,
    limit: i64,
    offset: i64,
    echo_fields: serde_json::Map<String, Value>,
) -> ToolResult {
    scopes.retain(|s| matches_pattern(pattern, s));
    scopes.sort();
    let page = page_request(limit, offset)?.slice(scopes);
    let mut text = format!("**{title}**\n\n");
    for s in &page.items {
        text.push_str(&format!("- `{s}`\n"));
    }
    text.push_str(&format::page_footer(page.items.len(), page.offset, page.next_offset, "scopes"));
    if let Some(first) = page.items.first() {
        text.push_str(&format::hints(&[format!(
            "`rucio_list_dids {first}:*` lists its datasets and containers"
        )]));
    }
    let structured = list_structured(echo_fields, "scopes", &page);
    Ok(ToolOutput { text, structured })
}

pub(crate) async fn list_scopes(ctx: &ToolContext, args: ListScopes) -> ToolResult {
    let scopes = ctx.client.list_scopes().await?;
    let pattern = args.pattern.trim();
    let title = if pattern.is_empty() {
        "Scopes".to_owned()
    } else {
        format!("Scopes matching `{pattern}`")
    };
    scopes_output(
        &title,
        scopes,
        pattern,
        args.limit,
        args.offset,
        echo(&[("pattern", json!(pattern))]),
    )
}

#[derive(Debug, Deserialize)]
pub(crate) struct ScopesForAccount {
    #[serde(default)]
    account: String,
    #[serde(default)]
    pattern: String,
    #[serde(default = "hundred")]
    limit: i64,
    #[serde(default)]
    offset: i64,
}

pub(crate) async fn list_scopes_for_account(
    ctx: &ToolContext,
    args: ScopesForAccount,
) -> ToolResult {
    let account = ctx.account_or_self(&args.account).await?;
    let scopes = ctx.client.list_scopes_for_account(&account).await?;
    let pattern = args.pattern.trim();
    scopes_output(
        &format!("Scopes of account {account}"),
        scopes,
        pattern,
        args.limit,
        args.offset,
        echo(&[("account", json!(account)), ("pattern", json!(pattern))]),
    )
}

#[derive(Debug, Deserialize)]
pub(crate) struct AccountUsage {
    #[serde(default)]
    account: String,
    #[serde(default)]
    rse: String,
    #[serde(default = "default_true")]
    hide_zero: bool,
    #[serde(default = "fifty")]
    limit: i64,
    #[serde(default)]
    offset: i64,
}

pub(crate) async fn get_local_account_usage(ctx: &ToolContext, args: AccountUsage) -> ToolResult {
    let account = ctx.account_or_self(&args.account).await?;
    let rse = args.rse.trim();
    let stream =
        ctx.client.get_local_account_usage(&account, Some(rse).filter(|r| !r.is_empty())).await?;
    let hide_zero = args.hide_zero;
    let page = page_request(args.limit, args.offset)?
        .take(stream, |u| !hide_zero || u.bytes.unwrap_or(0) > 0 || u.files.unwrap_or(0) > 0)
        .await?;
    let bytes_of = |v: Option<f64>| v.filter(|b| b.is_finite() && *b >= 0.0).map(|b| b as u64);
    let rows: Vec<Vec<String>> = page
        .items
        .iter()
        .map(|u| {
            vec![
                u.rse.clone(),
                human_bytes(u.bytes),
                opt(u.files),
                human_bytes(bytes_of(u.bytes_limit)),
                human_bytes(bytes_of(u.bytes_remaining)),
            ]
        })
        .collect();
    let mut text = format!(
        "**Storage used by {account}**{}\n\n{}",
        if hide_zero { " (RSEs with nothing stored left out)" } else { "" },
        format::table(&["RSE", "used", "files", "quota", "remaining"], &rows)
    );
    text.push_str(&format::page_footer(rows.len(), page.offset, page.next_offset, "RSEs"));
    let structured = list_structured(
        echo(&[("account", json!(account)), ("rse", json!(rse)), ("hide_zero", json!(hide_zero))]),
        "usage",
        &page,
    );
    Ok(ToolOutput { text, structured })
}

#[derive(Debug, Deserialize)]
pub(crate) struct AccountLimits {
    #[serde(default)]
    account: String,
    #[serde(default)]
    rse_expression: String,
}

pub(crate) async fn get_local_account_limits(ctx: &ToolContext, args: AccountLimits) -> ToolResult {
    let account = ctx.account_or_self(&args.account).await?;
    let expression = args.rse_expression.trim();
    let limits = if expression.is_empty() {
        ctx.client.get_local_account_limits(&account).await?
    } else {
        ctx.client.get_local_account_limit(&account, expression).await?
    };
    let rows: Vec<Vec<String>> = limits
        .iter()
        .map(|(rse, v)| {
            let shown = v
                .as_f64()
                .filter(|b| b.is_finite() && *b >= 0.0)
                .map_or_else(|| v.to_string(), |b| human_bytes(Some(b as u64)));
            vec![rse.clone(), shown]
        })
        .collect();
    let mut text = if rows.is_empty() {
        format!(
            "**{account} has no quota** {}.",
            if expression.is_empty() {
                "anywhere".to_owned()
            } else {
                format!("at `{expression}`")
            }
        )
    } else {
        format!("**Quotas of {account}**\n\n{}", format::table(&["RSE", "quota"], &rows))
    };
    text.push_str(&format::hints(&[format!(
        "`rucio_get_local_account_usage {account}` shows how much of it is used"
    )]));
    Ok(ToolOutput {
        text,
        structured: json!({"account": account, "rse_expression": expression, "limits": limits}),
    })
}

#[derive(Debug, Deserialize)]
pub(crate) struct ListAccounts {
    #[serde(default)]
    account_type: String,
    #[serde(default)]
    identity: String,
    #[serde(default = "hundred")]
    limit: i64,
    #[serde(default)]
    offset: i64,
}

pub(crate) async fn list_accounts(ctx: &ToolContext, args: ListAccounts) -> ToolResult {
    let account_type = match args.account_type.trim() {
        "" => "",
        raw => super::choices::choice(
            "account_type",
            raw,
            &[("USER", "USER"), ("GROUP", "GROUP"), ("SERVICE", "SERVICE")],
        )?,
    };
    let identity = args.identity.trim();
    let stream = ctx
        .client
        .list_accounts(
            Some(account_type).filter(|t| !t.is_empty()),
            Some(identity).filter(|i| !i.is_empty()),
        )
        .await?;
    let page = page_request(args.limit, args.offset)?.take(stream, |_| true).await?;
    let rows: Vec<Vec<String>> = page
        .items
        .iter()
        .map(|a| vec![a.account.clone(), opt(a.account_type.clone()), opt(a.email.clone())])
        .collect();
    let mut text =
        format!("**Accounts**\n\n{}", format::table(&["account", "type", "email"], &rows));
    text.push_str(&format::page_footer(rows.len(), page.offset, page.next_offset, "accounts"));
    let accounts: Vec<Value> = page
        .items
        .iter()
        .map(|a| json!({"account": a.account, "type": a.account_type, "email": a.email}))
        .collect();
    let structured = list_structured(
        echo(&[("account_type", json!(account_type)), ("identity", json!(identity))]),
        "accounts",
        &page.with_items(accounts),
    );
    Ok(ToolOutput { text, structured })
}

/// The structured and text form of an account, shared by `rucio_get_account` and `rucio_whoami`.
pub(crate) fn account_output(title: &str, a: &rucio_client::models::Account) -> ToolOutput {
    let mut text = format!("**{title}: {}**\n\n", a.account);
    text.push_str(&format::fields(&[
        ("type", a.account_type.clone()),
        ("status", a.status.clone()),
        ("email", a.email.clone()),
        ("created", a.created_at.map(|t| t.to_string())),
    ]));
    let structured = json!({
        "account": a.account, "type": a.account_type, "email": a.email, "status": a.status,
        "created_at": a.created_at.map(|t| t.to_string()),
    });
    ToolOutput { text, structured }
}

#[derive(Debug, Deserialize)]
pub(crate) struct AccountArg {
    #[serde(default)]
    account: String,
}

pub(crate) async fn get_account(ctx: &ToolContext, args: AccountArg) -> ToolResult {
    let account = ctx.account_or_self(&args.account).await?;
    let info = ctx.client.get_account(&account).await?;
    let mut out = account_output("Account", &info);
    out.text.push_str(&format::hints(&[
        format!("`rucio_get_local_account_usage {account}` for its storage use"),
        format!("`rucio_list_account_rules {account}` for its rules"),
    ]));
    Ok(out)
}

#[derive(Debug, Deserialize)]
pub(crate) struct AccountRules {
    #[serde(default)]
    account: String,
    #[serde(default = "fifty")]
    limit: i64,
    #[serde(default)]
    offset: i64,
}

pub(crate) async fn list_account_rules(ctx: &ToolContext, args: AccountRules) -> ToolResult {
    let account = ctx.account_or_self(&args.account).await?;
    let page = page_request(args.limit, args.offset)?
        .take(ctx.client.list_account_rules(&account).await?, |_| true)
        .await?;
    let text = super::rules::rule_list_text(&format!("Rules of account {account}"), &page);
    let structured = list_structured(echo(&[("account", json!(account))]), "rules", &page);
    Ok(ToolOutput { text, structured })
}

#[cfg(test)]
mod tests {
    use super::matches_pattern;

    #[test]
    fn patterns() {
        assert!(matches_pattern("", "anything"));
        assert!(matches_pattern("jdoe", "user.JDOE"));
        assert!(matches_pattern("user.*", "user.jdoe"));
        assert!(!matches_pattern("user.*", "group.x"));
        assert!(matches_pattern("*24", "data24"));
        assert!(matches_pattern("d*a*4", "data24"));
        assert!(!matches_pattern("d*x*4", "data24"));
    }
}
