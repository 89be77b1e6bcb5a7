//! RSE tools, transfer limits and transfer requests.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    ToolContext, ToolOutput, ToolResult, echo, hundred, list_structured, page_request, required,
    value_text,
};
use crate::format::{self, human_bytes, opt};

#[derive(Debug, Deserialize)]
pub(crate) struct ListRses {
    #[serde(default)]
    rse_expression: String,
    #[serde(default = "hundred")]
    limit: i64,
    #[serde(default)]
    offset: i64,
}

pub(crate) async fn list_rses(ctx: &ToolContext, args: ListRses) -> ToolResult {
    let expression = args.rse_expression.trim();
    let stream = ctx.client.list_rses(Some(expression).filter(|e| !e.is_empty())).await?;
    let page = page_request(args.limit, args.offset)?.take(stream, |_| true).await?;
    let rows: Vec<Vec<String>> = page
        .items
        .iter()
        .map(|r| {
            vec![
                r.rse.clone(),
                opt(r.rse_type.clone()),
                opt(r.deterministic.map(|d| d.to_string())),
            ]
        })
        .collect();
    let title = if expression.is_empty() {
        "RSEs".to_owned()
    } else {
        format!("RSEs matching `{expression}`")
    };
    let mut text =
        format!("**{title}**\n\n{}", format::table(&["RSE", "type", "deterministic"], &rows));
    text.push_str(&format::page_footer(rows.len(), page.offset, page.next_offset, "RSEs"));
    if let Some(first) = page.items.first() {
        text.push_str(&format::hints(&[
            format!("`rucio_get_rse {}` for its settings", first.rse),
            format!(
                "`rucio_list_rse_attributes {}` for the keys expressions can select on",
                first.rse
            ),
        ]));
    }
    let rses: Vec<String> = page.items.iter().map(|r| r.rse.clone()).collect();
    let structured = list_structured(
        echo(&[("rse_expression", json!(expression))]),
        "rses",
        &page.with_items(rses),
    );
    Ok(ToolOutput { text, structured })
}

#[derive(Debug, Deserialize)]
pub(crate) struct RseArg {
    rse: String,
}

pub(crate) async fn list_rse_attributes(ctx: &ToolContext, args: RseArg) -> ToolResult {
    let rse = required("rse", &args.rse, "CERN-PROD_DATADISK")?;
    let attributes = ctx.client.list_rse_attributes(rse).await?;
    let rows: Vec<Vec<String>> =
        attributes.iter().map(|(k, v)| vec![k.clone(), value_text(v)]).collect();
    let text = format!(
        "**Attributes of {rse}**\n\n{}{}",
        format::table(&["attribute", "value"], &rows),
        format::hints(&["Select RSEs by attribute in expressions, e.g. `tier=1&country=CH` with `rucio_list_rses`".to_owned()])
    );
    Ok(ToolOutput { text, structured: json!({"rse": rse, "attributes": attributes}) })
}

pub(crate) async fn get_rse_usage(ctx: &ToolContext, args: RseArg) -> ToolResult {
    use futures_util::TryStreamExt;
    let rse = required("rse", &args.rse, "CERN-PROD_DATADISK")?;
    let usage: Vec<_> = ctx.client.get_rse_usage(rse).await?.try_collect().await?;
    let rows: Vec<Vec<String>> = usage
        .iter()
        .map(|u| {
            vec![
                u.source.clone(),
                human_bytes(u.used),
                human_bytes(u.free),
                human_bytes(u.total),
                opt(u.files),
                opt(u.updated_at.map(|t| t.to_string())),
            ]
        })
        .collect();
    let text = format!(
        "**Usage of {rse}**\n\n{}",
        format::table(&["source", "used", "free", "total", "files", "updated"], &rows)
    );
    let usage: Vec<Value> = usage.iter().map(super::to_json).collect();
    Ok(ToolOutput { text, structured: json!({"rse": rse, "usage": usage}) })
}

pub(crate) async fn get_rse(ctx: &ToolContext, args: RseArg) -> ToolResult {
    let rse = required("rse", &args.rse, "CERN-PROD_DATADISK")?;
    let info = ctx.client.get_rse(rse).await?;
    let mut text = format!("**RSE {}**\n\n", info.rse);
    let flag = |b: Option<bool>| b.map(|v| if v { "yes".to_owned() } else { "no".to_owned() });
    text.push_str(&format::fields(&[
        ("type", info.rse_type.clone()),
        ("deterministic", flag(info.deterministic)),
        ("volatile", flag(info.volatile)),
        ("staging area", flag(info.staging_area)),
        (
            "available for read / write / delete",
            Some(format!(
                "{} / {} / {}",
                opt(flag(info.availability_read)),
                opt(flag(info.availability_write)),
                opt(flag(info.availability_delete))
            )),
        ),
        ("lfn2pfn algorithm", info.lfn2pfn_algorithm.clone()),
        (
            "protocols",
            Some(info.protocols.iter().map(|p| p.scheme.clone()).collect::<Vec<_>>().join(", ")),
        ),
    ]));
    text.push_str(&format::hints(&[
        format!("`rucio_get_rse_usage {rse}` for its space"),
        format!("`rucio_get_rse_protocols {rse}` for how to reach it"),
    ]));
    Ok(ToolOutput { text, structured: json!({"rse": rse, "details": super::to_json(&info)}) })
}

pub(crate) async fn get_rse_limits(ctx: &ToolContext, args: RseArg) -> ToolResult {
    let rse = required("rse", &args.rse, "CERN-PROD_DATADISK")?;
    let limits = ctx.client.get_rse_limits(rse).await?;
    let rows: Vec<Vec<String>> = limits
        .iter()
        .map(|(k, v)| {
            let shown = v
                .as_u64()
                .filter(|_| k.to_ascii_lowercase().contains("space"))
                .map_or_else(|| value_text(v), |b| format!("{} ({b} bytes)", human_bytes(Some(b))));
            vec![k.clone(), shown]
        })
        .collect();
    let text = if rows.is_empty() {
        format!("**Limits of {rse}**: none set.")
    } else {
        format!("**Limits of {rse}**\n\n{}", format::table(&["limit", "value"], &rows))
    };
    Ok(ToolOutput { text, structured: json!({"rse": rse, "limits": limits}) })
}

pub(crate) async fn get_rse_protocols(ctx: &ToolContext, args: RseArg) -> ToolResult {
    let rse = required("rse", &args.rse, "CERN-PROD_DATADISK")?;
    let protocols = ctx.client.get_rse_protocols(rse).await?;
    let rows: Vec<Vec<String>> = protocols
        .iter()
        .map(|p| {
            let ops = |domain: &str| {
                p.domains
                    .get(domain)
                    .and_then(Value::as_object)
                    .map(|o| {
                        o.iter()
                            .filter(|(_, v)| v.as_i64().unwrap_or(0) > 0)
                            .map(|(k, _)| k.as_str())
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .unwrap_or_default()
            };
            vec![
                p.scheme.clone(),
                opt(p.hostname.clone()),
                opt(p.port),
                opt(p.prefix.clone()),
                ops("lan"),
                ops("wan"),
            ]
        })
        .collect();
    let text = format!(
        "**Protocols of {rse}**\n\n{}",
        format::table(&["scheme", "host", "port", "prefix", "LAN ops", "WAN ops"], &rows)
    );
    let protocols: Vec<Value> = protocols.iter().map(super::to_json).collect();
    Ok(ToolOutput { text, structured: json!({"rse": rse, "protocols": protocols}) })
}

#[derive(Debug, Deserialize)]
pub(crate) struct Distance {
    source: String,
    destination: String,
}

pub(crate) async fn get_distance(ctx: &ToolContext, args: Distance) -> ToolResult {
    let source = required("source", &args.source, "CERN-PROD_DATADISK")?;
    let destination = required("destination", &args.destination, "BNL-OSG2_DATADISK")?;
    let distances = ctx.client.get_distance(source, destination).await?;
    let text = match distances.first().and_then(|d| d.distance) {
        Some(d) => format!("**Distance {source} → {destination}**: {d} (lower is preferred)."),
        None => format!(
            "**No distance is set from {source} to {destination}**: Rucio will not choose this link for transfers."
        ),
    };
    let distances: Vec<Value> = distances.iter().map(super::to_json).collect();
    Ok(ToolOutput {
        text,
        structured: json!({"source": source, "destination": destination, "distances": distances}),
    })
}

#[derive(Debug, Deserialize)]
pub(crate) struct Paged {
    #[serde(default = "hundred")]
    limit: i64,
    #[serde(default)]
    offset: i64,
}

pub(crate) async fn list_transfer_limits(ctx: &ToolContext, args: Paged) -> ToolResult {
    let page = page_request(args.limit, args.offset)?
        .take(ctx.client.list_transfer_limits().await?, |_| true)
        .await?;
    let rows: Vec<Vec<String>> = page
        .items
        .iter()
        .map(|l| {
            vec![
                opt(l.rse_expression.clone()),
                opt(l.activity.clone()),
                opt(l.direction.clone()),
                opt(l.max_transfers),
                opt(l.transfers),
                opt(l.waitings),
            ]
        })
        .collect();
    let mut text = format!(
        "**Transfer limits**\n\n{}",
        format::table(
            &["RSE expression", "activity", "direction", "max", "active", "waiting"],
            &rows
        )
    );
    text.push_str(&format::page_footer(rows.len(), page.offset, page.next_offset, "limits"));
    Ok(ToolOutput { text, structured: list_structured(echo(&[]), "limits", &page) })
}

#[derive(Debug, Deserialize)]
pub(crate) struct ListRequests {
    src_rse: String,
    dst_rse: String,
    request_states: String,
    #[serde(default = "hundred")]
    limit: i64,
    #[serde(default)]
    offset: i64,
}

pub(crate) async fn list_requests(
    ctx: &ToolContext,
    args: ListRequests,
    history: bool,
) -> ToolResult {
    let src = required("src_rse", &args.src_rse, "CERN-PROD_DATADISK")?;
    let dst = required("dst_rse", &args.dst_rse, "BNL-OSG2_DATADISK")?;
    let states = super::choices::request_states("request_states", &args.request_states)?;
    let request = page_request(args.limit, args.offset)?;
    let page = if history {
        // The history endpoint pages on the server: ask for one more than the page to know about the next.
        let stream = ctx
            .client
            .list_requests_history(src, dst, &states, request.offset, request.limit + 1)
            .await?;
        let mut page = crate::paging::PageRequest { offset: 0, limit: request.limit }
            .take(stream, |_| true)
            .await?;
        page.offset = request.offset;
        page.next_offset = page.next_offset.map(|_| request.offset + request.limit);
        page
    } else {
        request.take(ctx.client.list_requests(src, dst, &states).await?, |_| true).await?
    };
    let rows: Vec<Vec<String>> = page
        .items
        .iter()
        .map(|r| {
            vec![
                format!("{}:{}", opt(r.scope.clone()), opt(r.name.clone())),
                opt(r.state.clone()),
                opt(r.activity.clone()),
                human_bytes(r.bytes),
                opt(r.updated_at.map(|t| t.to_string())),
            ]
        })
        .collect();
    let what = if history { "Finished transfers" } else { "Transfer requests" };
    let mut text = format!(
        "**{what} {src} → {dst}** (states {})\n\n{}",
        states.iter().map(|s| s.name()).collect::<Vec<_>>().join(","),
        format::table(&["DID", "state", "activity", "size", "updated"], &rows)
    );
    text.push_str(&format::page_footer(rows.len(), page.offset, page.next_offset, "requests"));
    let structured = list_structured(
        echo(&[("src_rse", json!(src)), ("dst_rse", json!(dst))]),
        "requests",
        &page,
    );
    Ok(ToolOutput { text, structured })
}
