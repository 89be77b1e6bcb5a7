//! Replica tools: file replicas with URLs, and per-RSE summaries of datasets and containers.

use futures_util::TryStreamExt;
use rucio_client::{Did, DidType, ReplicaQuery};
use serde::Deserialize;
use serde_json::json;

use super::choices::{choice, list_items};
use super::{
    ToolContext, ToolOutput, ToolResult, did_arg, did_list_arg, echo, fifty, list_structured,
    non_empty, page_request, twenty,
};
use crate::errors::ToolError;
use crate::format::{self, human_bytes, opt};

/// The sort orders Rucio 41 knows (`rucio.common.constants.SORTING_ALGORITHMS`).
const SORTS: &[(&str, &str)] =
    &[("geoip", "geoip"), ("random", "random"), ("custom_table", "custom_table")];

#[derive(Debug, Deserialize)]
pub(crate) struct ListReplicas {
    dids: String,
    #[serde(default)]
    protocols: String,
    #[serde(default)]
    rse_expression: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    all_states: bool,
    #[serde(default = "twenty")]
    limit: i64,
    #[serde(default)]
    offset: i64,
}

pub(crate) async fn list_replicas(ctx: &ToolContext, args: ListReplicas) -> ToolResult {
    let dids = did_list_arg("dids", &args.dids)?;
    let sort = match args.sort.trim() {
        "" => None,
        raw => Some(choice("sort", raw, SORTS)?.to_owned()),
    };
    let query = ReplicaQuery {
        // URL schemes are lowercase at Rucio (`root`, `davs`); `ROOT` finds nothing.
        schemes: list_items(&args.protocols).map(str::to_ascii_lowercase).collect(),
        rse_expression: non_empty(&args.rse_expression),
        sort,
        all_states: args.all_states,
        domain: None,
    };
    let page = page_request(args.limit, args.offset)?
        .take(ctx.client.list_replicas(&dids, &query).await?, |_| true)
        .await?;
    let mut rows = Vec::new();
    for file in &page.items {
        let locations: Vec<String> = file
            .rses
            .keys()
            .map(|rse| match file.states.get(rse) {
                Some(state) if args.all_states => format!("{rse} ({state})"),
                _ => rse.clone(),
            })
            .collect();
        let first_pfn = file.rses.values().flatten().next().cloned();
        rows.push(vec![
            format!("{}:{}", file.scope, file.name),
            human_bytes(file.bytes),
            if locations.is_empty() { "no replica".to_owned() } else { locations.join(", ") },
            opt(first_pfn),
        ]);
    }
    let shown: Vec<String> = dids.iter().map(ToString::to_string).collect();
    let mut text = format!("**Replicas of {}**\n\n", shown.join(", "));
    text.push_str(&format::table(&["file", "size", "RSEs", "first URL"], &rows));
    text.push_str(&format::page_footer(rows.len(), page.offset, page.next_offset, "files"));
    if page.items.iter().any(|f| f.rses.is_empty()) {
        text.push_str(&format::hints(&[
            "Files without a replica here may exist elsewhere: drop `rse_expression`, or set `all_states=true` to see replicas being copied".into(),
        ]));
    }
    let structured = list_structured(echo(&[("dids", json!(shown))]), "replicas", &page);
    Ok(ToolOutput { text, structured })
}

#[derive(Debug, Deserialize)]
pub(crate) struct DatasetReplicasArgs {
    did: String,
    #[serde(default)]
    deep: bool,
    #[serde(default = "fifty")]
    limit: i64,
    #[serde(default)]
    offset: i64,
}

fn replica_rows(
    items: &[rucio_client::models::DatasetReplica],
    with_dataset: bool,
) -> Vec<Vec<String>> {
    items
        .iter()
        .map(|r| {
            let mut row = Vec::new();
            if with_dataset {
                row.push(format!("{}:{}", r.scope, r.name));
            }
            row.extend([
                r.rse.clone(),
                format!("{}/{}", opt(r.available_length), opt(r.length)),
                format!("{} / {}", human_bytes(r.available_bytes), human_bytes(r.bytes)),
                opt(r.state.clone()),
            ]);
            row
        })
        .collect()
}

pub(crate) async fn list_dataset_replicas(
    ctx: &ToolContext,
    args: DatasetReplicasArgs,
) -> ToolResult {
    let did = did_arg("did", &args.did)?;
    let page = page_request(args.limit, args.offset)?
        .take(ctx.client.list_dataset_replicas(&did, args.deep).await?, |_| true)
        .await?;
    let rows = replica_rows(&page.items, false);
    let mut text =
        format!("**Replicas of dataset {did}**{}\n\n", if args.deep { " (deep)" } else { "" });
    text.push_str(&format::table(&["RSE", "files available", "bytes available", "state"], &rows));
    text.push_str(&format::page_footer(rows.len(), page.offset, page.next_offset, "RSEs"));
    let mut hints = Vec::new();
    if !args.deep && page.items.iter().any(|r| r.available_length == Some(0)) {
        hints.push(format!("Counts of 0 may be stale: `rucio_list_dataset_replicas {did}` with `deep=true` counts file by file"));
    }
    if page.items.is_empty() {
        hints.push(format!("If {did} is a container, use `rucio_list_container_replicas {did}`"));
    }
    hints.push(format!("`rucio_list_did_rules {did}` shows which rules keep these copies"));
    text.push_str(&format::hints(&hints));
    let structured = list_structured(echo(&[("did", json!(did.to_string()))]), "replicas", &page);
    Ok(ToolOutput { text, structured })
}

/// How deep nested containers are followed before giving up (real hierarchies are 1–2 levels).
const MAX_CONTAINER_DEPTH: usize = 4;

pub(crate) async fn list_container_replicas(
    ctx: &ToolContext,
    args: DatasetReplicasArgs,
) -> ToolResult {
    let did = did_arg("did", &args.did)?;
    let request = page_request(args.limit, args.offset)?;
    let wanted = (request.offset + request.limit + 1) as usize;
    // Walk the container's datasets lazily, stopping once the page (plus one) is filled.
    let mut found = Vec::new();
    let mut pending: Vec<(Did, usize)> = vec![(did.clone(), 0)];
    'walk: while let Some((container, depth)) = pending.pop() {
        let mut children = ctx.client.list_content(&container).await?;
        while let Some(child) = children.try_next().await? {
            let child_did = Did::new(&child.scope, &child.name).map_err(|e| {
                ToolError::from(rucio_client::Error::InvalidArgument(e.to_string()))
            })?;
            match child.did_type {
                DidType::Dataset => {
                    let replicas: Vec<_> = ctx
                        .client
                        .list_dataset_replicas(&child_did, args.deep)
                        .await?
                        .try_collect()
                        .await?;
                    found.extend(replicas);
                    if found.len() >= wanted {
                        break 'walk;
                    }
                }
                DidType::Container if depth + 1 < MAX_CONTAINER_DEPTH => {
                    pending.push((child_did, depth + 1))
                }
                _ => {}
            }
        }
    }
    let page = request.slice(found);
    let rows = replica_rows(&page.items, true);
    let mut text = format!(
        "**Replicas of the datasets in container {did}**{}\n\n",
        if args.deep { " (deep)" } else { "" }
    );
    text.push_str(&format::table(
        &["dataset", "RSE", "files available", "bytes available", "state"],
        &rows,
    ));
    text.push_str(&format::page_footer(
        rows.len(),
        page.offset,
        page.next_offset,
        "dataset replicas",
    ));
    if !args.deep && page.items.iter().any(|r| r.available_length == Some(0)) {
        text.push_str(&format::hints(&[
            "Counts of 0 may be stale: call again with `deep=true` to count file by file"
                .to_owned(),
        ]));
    }
    let structured = list_structured(echo(&[("did", json!(did.to_string()))]), "replicas", &page);
    Ok(ToolOutput { text, structured })
}
