//! Subscriptions, ping and whoami.

use serde::Deserialize;
use serde_json::json;

use super::{
    ToolContext, ToolOutput, ToolResult, echo, hundred, list_structured, page_request, required,
};
use crate::format::{self, opt};

#[derive(Debug, Deserialize)]
pub(crate) struct ListSubscriptions {
    #[serde(default)]
    name: String,
    #[serde(default)]
    account: String,
    #[serde(default = "hundred")]
    limit: i64,
    #[serde(default)]
    offset: i64,
}

pub(crate) async fn list_subscriptions(ctx: &ToolContext, args: ListSubscriptions) -> ToolResult {
    let (name, account) = (args.name.trim(), args.account.trim());
    let stream = ctx
        .client
        .list_subscriptions(
            Some(account).filter(|a| !a.is_empty()),
            Some(name).filter(|n| !n.is_empty()),
        )
        .await?;
    let page = page_request(args.limit, args.offset)?.take(stream, |_| true).await?;
    let rows: Vec<Vec<String>> = page
        .items
        .iter()
        .map(|s| {
            let rules = s.replication_rules.as_ref().map(|r| r.to_string());
            vec![
                s.name.clone(),
                opt(s.account.clone()),
                opt(s.state.clone()),
                opt(rules),
                opt(s.last_processed.map(|t| t.to_string())),
            ]
        })
        .collect();
    let mut text = format!(
        "**Subscriptions**\n\n{}",
        format::table(&["name", "account", "state", "rules", "last processed"], &rows)
    );
    text.push_str(&format::page_footer(rows.len(), page.offset, page.next_offset, "subscriptions"));
    if let Some(s) = page.items.first() {
        text.push_str(&format::hints(&[format!(
            "`rucio_list_subscription_rules` with account `{}` and name `{}` for the rules it created",
            opt(s.account.clone()),
            s.name
        )]));
    }
    let structured = list_structured(
        echo(&[("name", json!(name)), ("account", json!(account))]),
        "subscriptions",
        &page,
    );
    Ok(ToolOutput { text, structured })
}

#[derive(Debug, Deserialize)]
pub(crate) struct SubscriptionRules {
    account: String,
    name: String,
    #[serde(default = "hundred")]
    limit: i64,
    #[serde(default)]
    offset: i64,
}

pub(crate) async fn list_subscription_rules(
    ctx: &ToolContext,
    args: SubscriptionRules,
) -> ToolResult {
    let account = required("account", &args.account, "root")?;
    let name = required("name", &args.name, "data24-to-posix2")?;
    let page = page_request(args.limit, args.offset)?
        .take(ctx.client.list_subscription_rules(account, name).await?, |_| true)
        .await?;
    let text = super::rules::rule_list_text(
        &format!("Rules created by subscription {name} of {account}"),
        &page,
    );
    let structured = list_structured(
        echo(&[("account", json!(account)), ("name", json!(name))]),
        "rules",
        &page,
    );
    Ok(ToolOutput { text, structured })
}

pub(crate) async fn ping(ctx: &ToolContext) -> ToolResult {
    let info = ctx.client.ping().await?;
    let text = format!("**Rucio {}** answers at {}.", info.version, ctx.client.config().rucio_host);
    Ok(ToolOutput { text, structured: json!({"version": info.version}) })
}

pub(crate) async fn whoami(ctx: &ToolContext) -> ToolResult {
    let me = ctx.client.whoami().await?;
    let mut out = super::accounts::account_output("Signed in as", &me);
    out.text.push_str(&format!("\nSite: {}, server {}.", ctx.site, ctx.client.config().rucio_host));
    Ok(out)
}
