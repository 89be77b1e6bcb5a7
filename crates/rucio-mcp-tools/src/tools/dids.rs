//! DID tools: search, describe, contents, files, metadata, parents.

use rucio_client::DidSearchType;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    ToolContext, ToolOutput, ToolResult, did_arg, echo, fifty, hundred, list_structured,
    page_request, value_text,
};
use crate::errors::ToolError;
use crate::format::{self, human_bytes, opt};

#[derive(Debug, Deserialize)]
pub(crate) struct ListDids {
    did_pattern: String,
    #[serde(default = "collection")]
    did_type: String,
    #[serde(default)]
    recursive: bool,
    #[serde(default = "fifty")]
    limit: i64,
    #[serde(default)]
    offset: i64,
}

fn collection() -> String {
    "collection".into()
}

pub(crate) async fn list_dids(ctx: &ToolContext, args: ListDids) -> ToolResult {
    let Some((scope, pattern)) = args.did_pattern.trim().split_once(':') else {
        return Err(ToolError::argument(
            format!("`did_pattern` = {:?} has no scope", args.did_pattern),
            "Give `scope:name_pattern`, e.g. `data24:data24.*DAOD*`; `rucio_list_scopes` lists the scopes.",
        ));
    };
    if scope.is_empty() || scope.contains('*') {
        return Err(ToolError::argument(
            format!("`did_pattern` = {:?} needs a scope without wildcards", args.did_pattern),
            "Give `scope:name_pattern`, e.g. `data24:data24.*DAOD*`.",
        ));
    }
    let pattern = if pattern.is_empty() { "*" } else { pattern.trim_end_matches('/') };
    let did_type = DidSearchType::parse(&args.did_type).ok_or_else(|| {
        ToolError::argument(
            format!("`did_type` = {:?} is not a DID type", args.did_type),
            "Use one of `collection`, `dataset`, `container`, `file`, `all`.",
        )
    })?;
    let page = page_request(args.limit, args.offset)?;
    // The server stops after offset + limit + 1 names: enough to know whether more exist.
    let server_limit = page.offset + page.limit + 1;
    let stream = ctx
        .client
        .list_dids(scope, &[("name", pattern)], did_type, args.recursive, Some(server_limit))
        .await?;
    let page = page.take(stream, |_| true).await?;
    let dids: Vec<String> = page.items.iter().map(|n| format!("{scope}:{n}")).collect();
    let mut text =
        format!("**DIDs matching `{scope}:{pattern}`** (type {})\n\n", did_type.as_str());
    for did in &dids {
        text.push_str(&format!("- `{did}`\n"));
    }
    text.push_str(&format::page_footer(dids.len(), page.offset, page.next_offset, "DIDs"));
    if let Some(first) = dids.first() {
        text.push_str(&format::hints(&[
            format!("`rucio_get_did {first}` for size and state"),
            format!("`rucio_list_dataset_replicas {first}` to see where a dataset is stored"),
        ]));
    }
    let structured = list_structured(
        echo(&[("did_pattern", json!(args.did_pattern)), ("did_type", json!(did_type.as_str()))]),
        "dids",
        &page.with_items(dids),
    );
    Ok(ToolOutput { text, structured })
}

#[derive(Debug, Deserialize)]
pub(crate) struct DidArg {
    did: String,
}

pub(crate) async fn get_did(ctx: &ToolContext, args: DidArg) -> ToolResult {
    let did = did_arg("did", &args.did)?;
    let info = ctx.client.get_did(&did, true).await?;
    let extra_str = |k: &str| info.extra.get(k).and_then(Value::as_str).map(str::to_owned);
    let structured = json!({
        "scope": info.scope, "name": info.name, "type": info.did_type.to_string(), "bytes": info.bytes,
        "length": info.length, "account": info.account, "open": info.open, "monotonic": info.monotonic,
        "created_at": extra_str("created_at"), "updated_at": extra_str("updated_at"),
    });
    let mut text = format!("**{did}**\n\n");
    text.push_str(&format::fields(&[
        ("type", Some(info.did_type.to_string())),
        ("size", info.bytes.map(|b| format!("{} ({b} bytes)", human_bytes(Some(b))))),
        ("files", info.length.map(|l| l.to_string())),
        ("owner", info.account.clone()),
        ("open", info.open.map(|o| o.to_string())),
        ("monotonic", info.monotonic.map(|m| m.to_string())),
        ("expires", info.expired_at.map(|t| t.to_string())),
    ]));
    let hints = match info.did_type {
        rucio_client::DidType::File => vec![
            format!("`rucio_list_replicas {did}` for its locations and URLs"),
            format!("`rucio_list_parent_dids {did}` for the datasets holding it"),
        ],
        rucio_client::DidType::Container => vec![
            format!("`rucio_list_content {did}` for its datasets"),
            format!("`rucio_list_container_replicas {did}` to see where it is stored"),
        ],
        _ => vec![
            format!("`rucio_list_files {did}` for its files"),
            format!("`rucio_list_dataset_replicas {did}` to see where it is stored"),
            format!("`rucio_list_did_rules {did}` for the rules keeping it"),
        ],
    };
    text.push_str(&format::hints(&hints));
    Ok(ToolOutput { text, structured })
}

#[derive(Debug, Deserialize)]
pub(crate) struct PagedDid {
    did: String,
    #[serde(default = "fifty")]
    limit: i64,
    #[serde(default)]
    offset: i64,
}

pub(crate) async fn list_content(ctx: &ToolContext, args: PagedDid) -> ToolResult {
    let did = did_arg("did", &args.did)?;
    let page = page_request(args.limit, args.offset)?
        .take(ctx.client.list_content(&did).await?, |_| true)
        .await?;
    let rows: Vec<Vec<String>> = page
        .items
        .iter()
        .map(|c| {
            vec![format!("{}:{}", c.scope, c.name), c.did_type.to_string(), human_bytes(c.bytes)]
        })
        .collect();
    let mut text =
        format!("**Content of {did}**\n\n{}", format::table(&["DID", "type", "size"], &rows));
    text.push_str(&format::page_footer(rows.len(), page.offset, page.next_offset, "entries"));
    let content: Vec<Value> = page
        .items
        .iter()
        .map(|c| json!({"scope": c.scope, "name": c.name, "type": c.did_type.to_string(), "bytes": c.bytes, "length": c.extra.get("length")}))
        .collect();
    let structured = list_structured(
        echo(&[("did", json!(did.to_string()))]),
        "content",
        &page.with_items(content),
    );
    Ok(ToolOutput { text, structured })
}

#[derive(Debug, Deserialize)]
pub(crate) struct ListFiles {
    did: String,
    #[serde(default)]
    long: bool,
    #[serde(default = "hundred")]
    limit: i64,
    #[serde(default)]
    offset: i64,
}

pub(crate) async fn list_files(ctx: &ToolContext, args: ListFiles) -> ToolResult {
    let did = did_arg("did", &args.did)?;
    let page = page_request(args.limit, args.offset)?
        .take(ctx.client.list_files(&did, args.long).await?, |_| true)
        .await?;
    let rows: Vec<Vec<String>> = page
        .items
        .iter()
        .map(|f| {
            vec![
                format!("{}:{}", f.scope, f.name),
                human_bytes(f.bytes),
                opt(f.adler32.clone()),
                opt(f.events),
            ]
        })
        .collect();
    let mut text = format!(
        "**Files of {did}**\n\n{}",
        format::table(&["file", "size", "adler32", "events"], &rows)
    );
    text.push_str(&format::page_footer(rows.len(), page.offset, page.next_offset, "files"));
    if let Some(f) = page.items.first() {
        text.push_str(&format::hints(&[format!(
            "`rucio_list_replicas {}:{}` for where a file is and its URLs",
            f.scope, f.name
        )]));
    }
    let structured = list_structured(
        echo(&[("did", json!(did.to_string())), ("long", json!(args.long))]),
        "files",
        &page,
    );
    Ok(ToolOutput { text, structured })
}

#[derive(Debug, Deserialize)]
pub(crate) struct GetMetadata {
    did: String,
    #[serde(default = "did_column")]
    plugin: String,
}

fn did_column() -> String {
    "DID_COLUMN".into()
}

pub(crate) async fn get_metadata(ctx: &ToolContext, args: GetMetadata) -> ToolResult {
    let did = did_arg("did", &args.did)?;
    // Sites may enable their own metadata plugins; Rucio compares names without case and names
    // the ones it has when a name is unknown.
    let plugin = super::required("plugin", &args.plugin, "DID_COLUMN")?;
    let metadata = ctx.client.get_metadata(&did, plugin).await?;
    let mut keys: Vec<(&String, &Value)> = metadata.iter().filter(|(_, v)| !v.is_null()).collect();
    keys.sort_by(|a, b| a.0.cmp(b.0));
    let rows: Vec<Vec<String>> =
        keys.iter().map(|(k, v)| vec![(*k).clone(), value_text(v)]).collect();
    let mut text = format!("**Metadata of {did}** (plugin {plugin}; null values left out)\n\n");
    text.push_str(&format::table(&["key", "value"], &rows));
    let structured = json!({"did": did.to_string(), "plugin": plugin, "metadata": metadata});
    Ok(ToolOutput { text, structured })
}

pub(crate) async fn list_parent_dids(ctx: &ToolContext, args: PagedDid) -> ToolResult {
    let did = did_arg("did", &args.did)?;
    let page = page_request(args.limit, args.offset)?
        .take(ctx.client.list_parent_dids(&did).await?, |_| true)
        .await?;
    let rows: Vec<Vec<String>> = page
        .items
        .iter()
        .map(|p| vec![format!("{}:{}", p.scope, p.name), p.did_type.to_string()])
        .collect();
    let mut text = format!("**Parents of {did}**\n\n{}", format::table(&["DID", "type"], &rows));
    text.push_str(&format::page_footer(rows.len(), page.offset, page.next_offset, "parents"));
    let parents: Vec<Value> = page
        .items
        .iter()
        .map(|p| json!({"scope": p.scope, "name": p.name, "type": p.did_type.to_string()}))
        .collect();
    let structured = list_structured(
        echo(&[("did", json!(did.to_string()))]),
        "parents",
        &page.with_items(parents),
    );
    Ok(ToolOutput { text, structured })
}
