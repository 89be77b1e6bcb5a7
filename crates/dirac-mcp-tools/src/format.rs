//! Markdown for the model: short, tabular, and never the whole JSON again (that is in
//! `structuredContent`).

use serde_json::{Map, Value};

/// At most this many rows go into a text table; the structured content has them all.
pub const TABLE_ROWS: usize = 50;

/// A cell: strings bare, `null` empty, `|` and newlines escaped.
pub fn cell(value: Option<&Value>) -> String {
    let text = match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    let text = text.replace('|', "\\|").replace(['\n', '\r'], " ");
    if text.chars().count() > 80 {
        format!("{}…", text.chars().take(79).collect::<String>())
    } else {
        text
    }
}

/// A markdown table of `rows` with the given columns.
pub fn table(columns: &[String], rows: &[Map<String, Value>]) -> String {
    if rows.is_empty() || columns.is_empty() {
        return String::new();
    }
    let mut out = format!("| {} |\n|{}\n", columns.join(" | "), "---|".repeat(columns.len()));
    for row in rows.iter().take(TABLE_ROWS) {
        let cells: Vec<String> = columns.iter().map(|c| cell(row.get(c))).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    if rows.len() > TABLE_ROWS {
        out.push_str(&format!(
            "\n({} more rows in the structured result)\n",
            rows.len() - TABLE_ROWS
        ));
    }
    out
}

/// The columns of a table: the requested fields, else the keys of the first row.
pub fn columns(fields: &[String], rows: &[Map<String, Value>]) -> Vec<String> {
    if !fields.is_empty() {
        return fields.iter().filter(|f| f.as_str() != "LoggingInfo").cloned().collect();
    }
    rows.first().map(|r| r.keys().cloned().collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_escape_pipes_and_show_nulls_empty() {
        let rows = vec![
            json!({"JobID": 1, "Status": "a|b", "Site": null})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        ];
        let text = table(&["JobID".into(), "Status".into(), "Site".into()], &rows);
        assert_eq!(text, "| JobID | Status | Site |\n|---|---|---|\n| 1 | a\\|b |  |\n");
    }
}
