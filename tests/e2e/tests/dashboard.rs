//! The Grafana dashboards of `deploy/grafana/` (`rucio-mcp.json`, `dirac-mcp.json`): well-formed,
//! what `generate.py` writes, and every metric their queries name is one the real server serves.
//!
//! Each server runs in OIDC bridge mode against its kit (the real Rucio, the real DiracX), and a
//! user signs in and calls tools, one of which fails: prometheus-client leaves a family without
//! samples out of `/metrics` altogether, so the tool, error, client and bridge families only show
//! once something happened. Then each PromQL expression of each panel and template variable is
//! taken apart by a small tokenizer (strings, `{…}` matchers, `[…]` ranges and `by (…)` clauses
//! aside, identifiers that are not PromQL functions or keywords are metric names), and each name,
//! each label of its matchers and each label it is grouped by is checked against `/metrics`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use e2e_tests::{
    HttpServer, assert_success, browser_env, clients_dir, dirac_mcp_binary, free_port, mcp_python,
    oidc_cfg,
};
use serde_json::{Value, json};
use test_kit::Kit;

/// The dashboards, by file, with the prefix of their server's own metrics.
const DASHBOARDS: [(&str, &str); 2] =
    [("rucio-mcp.json", "rucio_mcp"), ("dirac-mcp.json", "dirac_mcp")];

/// Labels Prometheus (or the Kubernetes service discovery) puts on every series of a target: not
/// in `/metrics`, always there to filter by.
const TARGET_LABELS: [&str; 7] =
    ["job", "instance", "namespace", "pod", "container", "service", "endpoint"];

/// PromQL aggregation operators, functions and keywords (`start`/`end` of `@`): identifiers
/// that are not metric names.
const PROMQL_WORDS: &str = "\
    sum min max avg group stddev stdvar count count_values bottomk topk quantile limitk \
    limit_ratio abs absent absent_over_time acos acosh asin asinh atan atanh avg_over_time ceil \
    changes clamp clamp_max clamp_min cos cosh count_over_time day_of_month day_of_week \
    day_of_year days_in_month deg delta deriv double_exponential_smoothing exp floor \
    histogram_avg histogram_count histogram_fraction histogram_quantile histogram_stddev \
    histogram_stdvar histogram_sum holt_winters hour idelta increase info irate label_join \
    label_replace last_over_time ln log10 log2 mad_over_time max_over_time min_over_time minute \
    month pi predict_linear present_over_time quantile_over_time rad rate resets round scalar \
    sgn sin sinh sort sort_by_label sort_by_label_desc sort_desc sqrt stddev_over_time \
    stdvar_over_time sum_over_time tan tanh time timestamp vector year and or unless offset \
    bool inf nan start end";

fn is_promql_word(word: &str) -> bool {
    PROMQL_WORDS.split_whitespace().any(|w| w == word)
}

/// Keywords followed by a list of label names.
const GROUPING: &[&str] = &["by", "without", "on", "ignoring", "group_left", "group_right"];

fn grafana_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/grafana")
}

fn load(file: &str) -> Value {
    let path = grafana_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file} is not valid JSON: {e}"))
}

// ------------------------------------------------------------------ the PromQL tokenizer

/// A label matcher: label, operator (`=`, `!=`, `=~`, `!~`), value.
type Matcher = (String, String, String);

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    /// A `{…}` block: (label, operator, value) of each matcher.
    Matchers(Vec<Matcher>),
    Open,
    Close,
    Comma,
    /// Anything else: operators, numbers, strings, ranges, Grafana variables.
    Other,
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// The end (exclusive) of the string literal starting at `start` (its quote).
fn skip_string(chars: &[char], start: usize) -> Result<usize, String> {
    let quote = chars[start];
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '\\' if quote != '`' => i += 2,
            c if c == quote => return Ok(i + 1),
            _ => i += 1,
        }
    }
    Err("unterminated string".into())
}

/// The matchers of the `{…}` block opening at `start`; the index after its `}`.
fn matchers(chars: &[char], start: usize) -> Result<(Vec<Matcher>, usize), String> {
    let mut out = Vec::new();
    let mut i = start + 1;
    let skip_ws = |i: &mut usize| {
        while *i < chars.len() && chars[*i].is_whitespace() {
            *i += 1;
        }
    };
    loop {
        skip_ws(&mut i);
        match chars.get(i) {
            Some('}') => return Ok((out, i + 1)),
            Some(',') => {
                i += 1;
                continue;
            }
            Some(&c) if is_ident_start(c) => {}
            other => return Err(format!("a label name expected in a matcher, found {other:?}")),
        }
        let label_start = i;
        while i < chars.len() && is_ident_char(chars[i]) {
            i += 1;
        }
        let label: String = chars[label_start..i].iter().collect();
        skip_ws(&mut i);
        let op = match (chars.get(i), chars.get(i + 1)) {
            (Some('='), Some('~')) | (Some('!'), Some('~')) | (Some('!'), Some('=')) => 2,
            (Some('='), _) => 1,
            other => return Err(format!("no matcher operator after {label}: {other:?}")),
        };
        let op_text: String = chars[i..i + op].iter().collect();
        i += op;
        skip_ws(&mut i);
        if !matches!(chars.get(i), Some('"' | '\'' | '`')) {
            return Err(format!("no string value for the label {label}"));
        }
        let end = skip_string(chars, i)?;
        let value: String = chars[i + 1..end - 1].iter().collect();
        out.push((label, op_text, value));
        i = end;
    }
}

fn tokenize(expr: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '"' | '\'' | '`' => {
                i = skip_string(&chars, i)?;
                tokens.push(Token::Other);
            }
            '{' => {
                let (found, end) = matchers(&chars, i)?;
                tokens.push(Token::Matchers(found));
                i = end;
            }
            '[' => {
                let end = chars[i..].iter().position(|&c| c == ']').ok_or("unclosed [")?;
                i += end + 1;
                tokens.push(Token::Other);
            }
            '(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            ')' => {
                tokens.push(Token::Close);
                i += 1;
            }
            ',' => {
                tokens.push(Token::Comma);
                i += 1;
            }
            '$' => {
                // A Grafana variable: `$name` or `${name}`.
                i += 1;
                if chars.get(i) == Some(&'{') {
                    i += chars[i..].iter().position(|&c| c == '}').ok_or("unclosed ${")? + 1;
                } else {
                    while i < chars.len() && is_ident_char(chars[i]) {
                        i += 1;
                    }
                }
                tokens.push(Token::Other);
            }
            c if c.is_ascii_digit()
                || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                // A number or a duration (`0.95`, `1e3`, `5m`).
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
                tokens.push(Token::Other);
            }
            c if is_ident_start(c) => {
                let start = i;
                while i < chars.len() && is_ident_char(chars[i]) {
                    i += 1;
                }
                tokens.push(Token::Ident(chars[start..i].iter().collect()));
            }
            _ => {
                tokens.push(Token::Other);
                i += 1;
            }
        }
    }
    Ok(tokens)
}

/// A vector selector: its metric name (or the `__name__` matcher's regex) and matcher labels.
#[derive(Debug, Clone, PartialEq)]
struct Selector {
    name: Option<String>,
    name_regex: Option<String>,
    labels: Vec<String>,
}

/// What an expression reads: its selectors, and the labels of its `by (…)`/`on (…)` clauses.
#[derive(Debug, Default, PartialEq)]
struct Reads {
    selectors: Vec<Selector>,
    grouping: Vec<String>,
}

fn selector(name: Option<String>, found: &[Matcher]) -> Result<Selector, String> {
    let mut name_regex = None;
    let mut name = name;
    let mut labels = Vec::new();
    for (label, op, value) in found {
        match (label.as_str(), op.as_str()) {
            ("__name__", "=") if name.is_none() => name = Some(value.clone()),
            ("__name__", "=~") if name.is_none() => name_regex = Some(value.clone()),
            ("__name__", _) => return Err(format!("an unsupported __name__ matcher {op}")),
            _ => labels.push(label.clone()),
        }
    }
    Ok(Selector { name, name_regex, labels })
}

fn reads(expr: &str) -> Result<Reads, String> {
    let tokens = tokenize(expr)?;
    let mut out = Reads::default();
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i] {
            Token::Ident(word) if GROUPING.contains(&word.as_str()) => {
                i += 1;
                if tokens.get(i) == Some(&Token::Open) {
                    i += 1;
                    while let Some(token) = tokens.get(i) {
                        i += 1;
                        match token {
                            Token::Ident(label) => out.grouping.push(label.clone()),
                            Token::Comma => {}
                            Token::Close => break,
                            other => return Err(format!("{other:?} in the labels of {word}")),
                        }
                    }
                }
            }
            Token::Ident(word) if is_promql_word(word) => i += 1,
            Token::Ident(word) if tokens.get(i + 1) == Some(&Token::Open) => {
                return Err(format!("{word}() is not a PromQL function"));
            }
            Token::Ident(name) => {
                let found = match tokens.get(i + 1) {
                    Some(Token::Matchers(found)) => {
                        i += 1;
                        found.as_slice()
                    }
                    _ => &[],
                };
                out.selectors.push(selector(Some(name.clone()), found)?);
                i += 1;
            }
            Token::Matchers(found) => {
                let s = selector(None, found)?;
                if s.name.is_none() && s.name_regex.is_none() {
                    return Err("a selector without a metric name".into());
                }
                out.selectors.push(s);
                i += 1;
            }
            _ => i += 1,
        }
    }
    Ok(out)
}

/// What a template variable's query reads: `label_values(selector, label)` (the label counts as
/// a grouping label), `label_values(label)` or `query_result(expr)`.
fn variable_reads(query: &str) -> Result<Reads, String> {
    let query = query.trim();
    let inner = |prefix: &str| {
        query
            .strip_prefix(prefix)
            .and_then(|q| q.trim_start().strip_prefix('('))
            .and_then(|q| q.strip_suffix(')'))
    };
    if let Some(args) = inner("label_values") {
        // The label is after the last comma outside strings and braces.
        let chars: Vec<char> = args.chars().collect();
        let (mut depth, mut last_comma, mut i) = (0, None, 0);
        while i < chars.len() {
            match chars[i] {
                '"' | '\'' | '`' => {
                    i = skip_string(&chars, i)?;
                    continue;
                }
                '{' | '(' | '[' => depth += 1,
                '}' | ')' | ']' => depth -= 1,
                ',' if depth == 0 => last_comma = Some(i),
                _ => {}
            }
            i += 1;
        }
        let Some(comma) = last_comma else {
            return Ok(Reads { selectors: Vec::new(), grouping: vec![args.trim().to_owned()] });
        };
        let selector: String = chars[..comma].iter().collect();
        let label: String = chars[comma + 1..].iter().collect();
        let mut out = reads(&selector)?;
        out.grouping.push(label.trim().to_owned());
        return Ok(out);
    }
    if let Some(expr) = inner("query_result") {
        return reads(expr);
    }
    Err(format!("an unsupported variable query: {query}"))
}

// ------------------------------------------------------------------ the dashboards' queries

/// Every query of a dashboard: (where, PromQL or variable query, whether a variable).
fn queries(dashboard: &Value) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            out.push((
                format!("panel {} {:?} {}", panel["id"], panel["title"], target["refId"]),
                target["expr"].as_str().unwrap_or_default().to_owned(),
                false,
            ));
        }
    }
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        if variable["type"] != "query" {
            continue;
        }
        let query = match &variable["query"] {
            Value::String(q) => q.clone(),
            q => q["query"].as_str().unwrap_or_default().to_owned(),
        };
        if let Some(definition) = variable["definition"].as_str() {
            assert_eq!(
                definition, query,
                "variable {}: definition and query differ",
                variable["name"]
            );
        }
        out.push((format!("variable {}", variable["name"]), query, true));
    }
    out
}

fn datasource_is_the_variable(value: &Value) -> bool {
    value["uid"] == "${datasource}" && value["type"] == "prometheus"
        || value.as_str().is_some_and(|v| v == "${datasource}" || v == "$datasource")
}

/// Valid JSON, unique panel ids, the `${datasource}` variable on every panel and query, no empty
/// query; the variables the queries use exist.
fn check_structure(file: &str, dashboard: &Value) {
    assert!(dashboard["schemaVersion"].as_u64().is_some_and(|v| v >= 36), "{file}: schemaVersion");
    assert!(dashboard["uid"].as_str().is_some_and(|u| !u.is_empty()), "{file}: no uid");
    let variables = dashboard["templating"]["list"].as_array().expect("no templating.list");
    let names: BTreeSet<&str> = variables.iter().filter_map(|v| v["name"].as_str()).collect();
    assert!(
        variables.iter().any(|v| v["name"] == "datasource"
            && v["type"] == "datasource"
            && v["query"] == "prometheus"),
        "{file}: no `datasource` variable of Prometheus data sources"
    );
    for variable in variables.iter().filter(|v| v["type"] == "query") {
        assert!(
            datasource_is_the_variable(&variable["datasource"]),
            "{file}: variable {} does not query ${{datasource}}",
            variable["name"]
        );
    }
    let panels = dashboard["panels"].as_array().expect("no panels");
    let mut ids = BTreeSet::new();
    let mut queried = 0;
    for panel in panels {
        let id = panel["id"].as_u64().unwrap_or_else(|| panic!("{file}: a panel without an id"));
        assert!(ids.insert(id), "{file}: panel id {id} is not unique");
        let title = panel["title"].as_str().unwrap_or_default();
        assert!(!title.is_empty(), "{file}: panel {id} has no title");
        if panel["type"] == "row" {
            assert!(panel.get("targets").is_none(), "{file}: row {title:?} has queries");
            assert!(
                panel["panels"].as_array().is_none_or(Vec::is_empty),
                "{file}: row {title:?} hides panels (collapsed rows are not checked)"
            );
            continue;
        }
        assert!(
            datasource_is_the_variable(&panel["datasource"]),
            "{file}: panel {title:?} does not use ${{datasource}}: {}",
            panel["datasource"]
        );
        let targets = panel["targets"].as_array().filter(|t| !t.is_empty());
        let targets = targets.unwrap_or_else(|| panic!("{file}: panel {title:?} has no query"));
        for target in targets {
            let expr = target["expr"].as_str().unwrap_or_default();
            assert!(!expr.trim().is_empty(), "{file}: panel {title:?} has an empty query");
            assert!(
                datasource_is_the_variable(&target["datasource"]),
                "{file}: a query of panel {title:?} does not use ${{datasource}}"
            );
            queried += 1;
        }
    }
    assert!(queried > 0, "{file}: no queries");
    for (place, query, _) in queries(dashboard) {
        assert!(!query.trim().is_empty(), "{file}: {place}: empty query");
        // Every `$name` is a variable of the dashboard or one of Grafana's own.
        for used in query.split('$').skip(1) {
            let used = used.trim_start_matches('{');
            let name: String = used.chars().take_while(|&c| is_ident_char(c)).collect();
            assert!(
                name.starts_with("__") || names.contains(name.as_str()),
                "{file}: {place}: ${name} is not a variable of the dashboard"
            );
        }
    }
}

// ------------------------------------------------------------------ what /metrics serves

/// The families and samples of an OpenMetrics (or Prometheus text) exposition.
#[derive(Debug, Default)]
struct Served {
    /// Family name -> type.
    families: BTreeMap<String, String>,
    /// Sample name -> the label names of its samples.
    samples: BTreeMap<String, BTreeSet<String>>,
}

impl Served {
    fn parse(text: &str) -> Self {
        let mut served = Self::default();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut words = rest.split_whitespace();
                let (Some(name), Some(kind)) = (words.next(), words.next()) else { continue };
                served.families.insert(name.to_owned(), kind.to_owned());
                continue;
            }
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            let labels = served.samples.entry(line[..end].to_owned()).or_default();
            if line[end..].starts_with('{') {
                let chars: Vec<char> = line[end..].chars().collect();
                let (found, _) = matchers(&chars, 0)
                    .unwrap_or_else(|e| panic!("a sample line of /metrics: {e}: {line}"));
                labels.extend(found.into_iter().map(|(label, _, _)| label));
            }
        }
        served
    }

    /// Whether `name` can be queried: a sample name, or a family name with the suffix of its
    /// type (`_total` of a counter; `_bucket`, `_sum`, `_count` of a histogram).
    fn has(&self, name: &str) -> bool {
        self.samples.contains_key(name)
            || self.families.iter().any(|(family, kind)| {
                let suffixes: &[&str] = match kind.as_str() {
                    "counter" => &["_total"],
                    "histogram" | "gaugehistogram" => &["_bucket", "_sum", "_count"],
                    "summary" => &["", "_sum", "_count"],
                    _ => &[""],
                };
                name.strip_prefix(family.as_str()).is_some_and(|suffix| suffixes.contains(&suffix))
            })
    }

    /// The label names of the samples `selector` selects (by name, or by a `prefix.+` regex).
    fn labels(&self, selector: &Selector) -> Result<BTreeSet<String>, String> {
        if let Some(name) = &selector.name {
            if !self.has(name) {
                return Err(format!("the metric {name} is not served"));
            }
            return self
                .samples
                .get(name)
                .cloned()
                .ok_or_else(|| format!("{name} has no samples to check its labels against"));
        }
        let regex = selector.name_regex.as_deref().unwrap_or_default();
        let prefix = regex
            .strip_suffix(".+")
            .or_else(|| regex.strip_suffix(".*"))
            .filter(|p| p.chars().all(is_ident_char))
            .ok_or_else(|| format!("an unsupported __name__ regex {regex:?} (only `prefix.+`)"))?;
        let mut labels = BTreeSet::new();
        let mut any = false;
        for (name, sample_labels) in &self.samples {
            if name.starts_with(prefix) && name.len() > prefix.len() {
                any = true;
                labels.extend(sample_labels.iter().cloned());
            }
        }
        if any { Ok(labels) } else { Err(format!("no metric named {prefix}… is served")) }
    }
}

/// The problems of one query against what the server serves.
fn check_query(served: &Served, query: &str, variable: bool) -> Result<(), String> {
    let reads = if variable { variable_reads(query)? } else { reads(query)? };
    if !variable && reads.selectors.is_empty() {
        return Err("no metric in the query".into());
    }
    let mut all_labels: BTreeSet<String> = TARGET_LABELS.iter().map(|&l| l.to_owned()).collect();
    for selector in &reads.selectors {
        let labels = served.labels(selector)?;
        for label in &selector.labels {
            if !labels.contains(label) && !TARGET_LABELS.contains(&label.as_str()) {
                let name = selector.name.as_deref().or(selector.name_regex.as_deref());
                return Err(format!("{} has no label {label} (it has {labels:?})", name.unwrap()));
            }
        }
        all_labels.extend(labels);
    }
    for label in &reads.grouping {
        if !all_labels.contains(label) {
            return Err(format!("no metric of the query has the label {label}"));
        }
    }
    Ok(())
}

/// Every query of `file` against the server's `/metrics`; every family of the server's own
/// prefix shows in some query.
fn check_against(file: &str, prefix: &str, metrics: &str) {
    let dashboard = load(file);
    check_structure(file, &dashboard);
    let served = Served::parse(metrics);
    let mut problems = Vec::new();
    let mut used = BTreeSet::new();
    for (place, query, variable) in queries(&dashboard) {
        if let Err(problem) = check_query(&served, &query, variable) {
            problems.push(format!("{place}: {problem}\n    {query}"));
        }
        if let Ok(reads) = if variable { variable_reads(&query) } else { reads(&query) } {
            used.extend(reads.selectors.into_iter().filter_map(|s| s.name));
        }
    }
    assert!(
        problems.is_empty(),
        "{file} queries what the server does not serve:\n{}\n--- /metrics\n{metrics}",
        problems.join("\n")
    );
    let unshown: Vec<&String> = served
        .families
        .keys()
        .filter(|family| family.starts_with(&format!("{prefix}_")))
        .filter(|family| !used.iter().any(|name| served_as(name, family)))
        .collect();
    assert!(
        unshown.is_empty(),
        "{file} shows no panel of {unshown:?}: add one to deploy/grafana/generate.py"
    );
}

fn served_as(name: &str, family: &str) -> bool {
    name.strip_prefix(family)
        .is_some_and(|suffix| ["", "_total", "_bucket", "_sum", "_count"].contains(&suffix))
}

// ------------------------------------------------------------------ servers and traffic

fn block<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
}

fn get_metrics(server: &HttpServer) -> String {
    block(async {
        let response = reqwest::get(&server.metrics_url).await.unwrap();
        assert!(
            response.status().is_success(),
            "GET {}: {}",
            server.metrics_url,
            response.status()
        );
        response.text().await.unwrap()
    })
}

/// The `TOKENS {...}` line a sign-in scenario prints.
fn tokens_of(out: &std::process::Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().find_map(|l| l.strip_prefix("TOKENS ")).expect("no TOKENS line");
    serde_json::from_str(line).unwrap()
}

/// Opens an MCP session with `token` and calls `tool`: the raw answer of the call.
fn call_tool(url: &str, token: &str, tool: &str, arguments: Value) -> String {
    block(async {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        let post = |body: Value, session: Option<&str>| {
            let mut request = http
                .post(url)
                .bearer_auth(token)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .body(body.to_string());
            if let Some(session) = session {
                request = request
                    .header("mcp-session-id", session)
                    .header("mcp-protocol-version", "2025-11-25");
            }
            request.send()
        };
        let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "e2e-dashboard", "version": "1"}}});
        let r = post(init, None).await.unwrap();
        assert!(r.status().is_success(), "initialize: {}", r.status());
        let session = r.headers().get("mcp-session-id").map(|v| v.to_str().unwrap().to_owned());
        let _ = r.text().await;
        if let Some(session) = session.as_deref() {
            let notified = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
            let r = post(notified, Some(session)).await.unwrap();
            assert!(r.status().is_success(), "notifications/initialized: {}", r.status());
        }
        let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": tool, "arguments": arguments}});
        let r = post(call, session.as_deref()).await.unwrap();
        assert!(r.status().is_success(), "tools/call: {}", r.status());
        r.text().await.unwrap()
    })
}

/// rucio-mcp in OIDC bridge mode against the real Rucio: a user signs in with the Python SDK
/// (DCR, consent, Rucio's provider, token, refresh) and calls tools, then asks for a DID that
/// does not exist; the dashboard's queries name only what `/metrics` then serves.
#[test]
fn rucio_mcp_dashboard_queries_what_rucio_mcp_serves() {
    let kit = Kit::load();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().to_string();
    let base = format!("http://127.0.0.1:{port}");
    let resource = format!("{base}/");
    let cfg = oidc_cfg(&kit, dir.path(), "local", kit.get("RUCIO_URL"));
    let site = format!("local={cfg}");
    let server =
        HttpServer::start(&["--port", &port, "--resource-url", &resource, "--site", &site], &[]);
    let url = format!("{base}/site/local/");
    let out = Command::new(mcp_python())
        .arg(clients_dir().join("oauth_scenarios.py"))
        .args(["sign_in", &url])
        .envs(browser_env(&kit))
        .env("EXPECT_ACCOUNT", kit.get("OIDC_LOGIN_ACCOUNT"))
        .env("EXPECT_SITE", "local")
        .output()
        .unwrap();
    assert_success(&out, "the sign-in", &server);
    let token = tokens_of(&out)["access_token"].as_str().unwrap().to_owned();
    let answer =
        call_tool(&url, &token, "rucio_get_did", json!({"did": "nosuchscope:no.such.did"}));
    assert!(answer.contains(r#""isError":true"#), "the call did not fail: {answer}");

    let metrics = get_metrics(&server);
    assert!(metrics.contains("rucio_mcp_tool_errors_total{"), "{metrics}");
    check_against("rucio-mcp.json", "rucio_mcp", &metrics);
}

/// A free port of the range the DiracX kit accepts bridge callbacks on (as in dirac_http.rs).
fn bridge_port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let offset = u16::try_from(std::process::id() % 20).unwrap_or(0);
    for _ in 0..20 {
        let port = 18140 + (offset + NEXT.fetch_add(1, Ordering::Relaxed)) % 20;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in 18140..18160 (the bridge callbacks the DiracX kit allows)");
}

/// dirac-mcp in OIDC bridge mode against the real DiracX: alice signs in with the Python SDK,
/// calls tools and is refused another user's job; the dashboard's queries name only what
/// `/metrics` then serves.
#[test]
fn dirac_mcp_dashboard_queries_what_dirac_mcp_serves() {
    let kit = Kit::diracx();
    let diracx = kit.get("DIRACX_URL");
    let mut last = String::new();
    let (server, port) = (0..10)
        .find_map(|_| {
            let port = bridge_port().to_string();
            let resource = format!("http://127.0.0.1:{port}/");
            let args = [
                "--diracx-url",
                diracx,
                "--diracx-issuer",
                diracx,
                "--port",
                &port,
                "--resource-url",
                &resource,
                "--site",
                "testvo",
            ];
            match HttpServer::try_start_binary(&dirac_mcp_binary(), &args, &[]) {
                Ok(server) => Some((server, port)),
                Err(log) if log.contains("Address already in use") => {
                    last = log;
                    None
                }
                Err(log) => panic!("{log}"),
            }
        })
        .unwrap_or_else(|| panic!("no port of the bridge range could be bound:\n{last}"));
    let url = format!("http://127.0.0.1:{port}/site/testvo/");
    let env_file = Path::new(kit.get("DIRACX_BASE")).join("env");
    let out = Command::new(mcp_python())
        .arg(clients_dir().join("dirac_oauth_scenarios.py"))
        .args(["sign_in", &url])
        .current_dir(clients_dir())
        .env("DIRACX_PYTHON", kit.get("DIRACX_PYTHON"))
        .env("DIRACX_LIB", kit.get("DIRACX_LIB"))
        .env("DIRACX_ENV_FILE", &env_file)
        .env("DIRAC_USER", "alice")
        .env("EXPECT_SITE", "testvo")
        .env("OTHER_JOB", "7") // the administrator's job (dirac_http.rs)
        .output()
        .unwrap();
    assert_success(&out, "alice's sign-in", &server);

    let metrics = get_metrics(&server);
    assert!(metrics.contains("dirac_mcp_tool_errors_total{"), "{metrics}");
    check_against("dirac-mcp.json", "dirac_mcp", &metrics);
}

// ------------------------------------------------------------------ without servers

#[test]
fn dashboards_are_well_formed() {
    let files: BTreeSet<String> = std::fs::read_dir(grafana_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json"))
        .collect();
    let expected: BTreeSet<String> = DASHBOARDS.iter().map(|(f, _)| (*f).to_owned()).collect();
    assert_eq!(files, expected, "the dashboards of deploy/grafana");
    let mut uids = BTreeSet::new();
    for (file, prefix) in DASHBOARDS {
        let dashboard = load(file);
        check_structure(file, &dashboard);
        assert!(uids.insert(dashboard["uid"].to_string()), "{file}: uid of another dashboard");
        // Each names its own server's metrics, never the other's.
        let other = DASHBOARDS.iter().map(|(_, p)| *p).find(|p| *p != prefix).unwrap();
        for (place, query, _) in queries(&dashboard) {
            assert!(!query.contains(&format!("{other}_")), "{file}: {place} names {other}_*");
        }
        assert!(
            queries(&dashboard).iter().any(|(_, q, _)| q.contains(&format!("{prefix}_"))),
            "{file}: no {prefix}_* metric"
        );
    }
}

/// The committed JSON is what `generate.py` writes.
#[test]
fn dashboards_are_what_the_generator_writes() {
    let out_dir = tempfile::tempdir().unwrap();
    let script = grafana_dir().join("generate.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg("--out-dir")
        .arg(out_dir.path())
        .output()
        .unwrap_or_else(|e| panic!("python3 {}: {e}", script.display()));
    assert!(out.status.success(), "generate.py failed: {}", String::from_utf8_lossy(&out.stderr));
    for (file, _) in DASHBOARDS {
        let generated = std::fs::read_to_string(out_dir.path().join(file)).unwrap();
        let committed = std::fs::read_to_string(grafana_dir().join(file)).unwrap();
        assert!(
            generated == committed,
            "deploy/grafana/{file} is out of date: run `python3 deploy/grafana/generate.py`"
        );
    }
}

/// The tokenizer finds metric names and labels, and only them.
#[test]
fn the_tokenizer_finds_metric_names_and_labels() {
    let expr = r#"histogram_quantile(0.95, sum by (le, tool) (rate(a_bucket{site=~"$site", path="/x/{y}", q='}'}[$__rate_interval] offset 5m)))
        / on (site) group_left (tool) sum without (job) (b_total) > bool 1e3 or vector(0) and c"#;
    let found = reads(expr).unwrap();
    let names: Vec<_> = found.selectors.iter().map(|s| s.name.clone().unwrap()).collect();
    assert_eq!(names, ["a_bucket", "b_total", "c"]);
    assert_eq!(found.selectors[0].labels, ["site", "path", "q"]);
    assert_eq!(found.grouping, ["le", "tool", "site", "tool", "job"]);
    assert!(reads("sum(nosuchfunction(x))").is_err());
    assert!(reads(r#"{job="x"}"#).is_err());
    let anchored = variable_reads(r#"label_values({__name__=~"p_.+", namespace=~"$ns"}, job)"#);
    let anchored = anchored.unwrap();
    assert_eq!(anchored.selectors[0].name_regex.as_deref(), Some("p_.+"));
    assert_eq!(anchored.grouping, ["job"]);

    let served = Served::parse(
        "# TYPE p_calls counter\np_calls_total{site=\"a\",tool=\"t\"} 1\n\
         # TYPE p_seconds histogram\np_seconds_bucket{le=\"+Inf\",site=\"a\"} 1\n\
         # TYPE p_empty counter\n# EOF\n",
    );
    assert!(
        served.has("p_calls_total") && served.has("p_seconds_sum") && served.has("p_empty_total")
    );
    assert!(!served.has("p_calls") && !served.has("p_seconds"));
    assert!(
        check_query(&served, r#"sum by (tool) (rate(p_calls_total{site="a"}[5m]))"#, false).is_ok()
    );
    assert!(check_query(&served, "rate(p_call_total[5m])", false).is_err());
    assert!(check_query(&served, r#"p_calls_total{category="x"}"#, false).is_err());
    assert!(check_query(&served, "sum by (category) (p_calls_total)", false).is_err());
    assert!(check_query(&served, "label_values(p_calls_total, tool)", true).is_ok());
    assert!(check_query(&served, r#"label_values({__name__=~"q_.+"}, job)"#, true).is_err());
}
