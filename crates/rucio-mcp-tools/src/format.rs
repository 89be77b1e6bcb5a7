//! Compact markdown for the `text` part of results: models read it, people glance at it.

use std::fmt::Write;

/// A byte count in binary units, as rucio-mcp shows it (`1.50 KB`, `45.47 TB`).
pub fn human_bytes(n: Option<u64>) -> String {
    let Some(n) = n else { return "N/A".to_owned() };
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64;
    for unit in ["KB", "MB", "GB", "TB", "PB"] {
        value /= 1024.0;
        if value < 1024.0 || unit == "PB" {
            return format!("{value:.2} {unit}");
        }
    }
    unreachable!("the loop returns at PB")
}

/// A markdown table; cells have `|` and newlines escaped so a name cannot break the layout.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "| {} |", headers.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(headers.len()));
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// `key: value` lines for one object; `None` values are left out.
pub fn fields(pairs: &[(&str, Option<String>)]) -> String {
    let mut out = String::new();
    for (key, value) in pairs {
        if let Some(v) = value {
            let _ = writeln!(out, "- **{key}**: {}", cell(v));
        }
    }
    out
}

/// The line after a page: how many were shown and how to get the next ones.
pub fn page_footer(shown: usize, offset: u64, next_offset: Option<u64>, noun: &str) -> String {
    match next_offset {
        Some(next) => format!(
            "\nShowing {noun} {}–{}; more exist: call again with `offset={next}`.",
            offset + 1,
            offset + shown as u64
        ),
        None if shown == 0 && offset > 0 => {
            format!("\nNo {noun} at offset {offset}: the list is shorter.")
        }
        None if shown == 0 => format!("\nNo {noun} found."),
        None if offset == 0 => format!("\nEnd of list: all {noun} are shown ({shown})."),
        None => format!("\nEnd of list: {shown} shown from offset {offset}."),
    }
}

/// "Next steps" lines that follow a result.
pub fn hints(lines: &[String]) -> String {
    if lines.is_empty() {
        return String::new();
    }
    let mut out = String::from("\n\n**Next steps:**\n");
    for line in lines {
        let _ = writeln!(out, "- {line}");
    }
    out
}

pub fn opt<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_binary_units() {
        assert_eq!(human_bytes(None), "N/A");
        assert_eq!(human_bytes(Some(0)), "0 B");
        assert_eq!(human_bytes(Some(1023)), "1023 B");
        assert_eq!(human_bytes(Some(1536)), "1.50 KB");
        assert_eq!(human_bytes(Some(50_000_000_000_000)), "45.47 TB");
        assert_eq!(human_bytes(Some(u64::MAX)), "16384.00 PB");
    }

    #[test]
    fn tables_escape_cells() {
        let t = table(&["a", "b"], &[vec!["x|y".into(), "line\nbreak".into()]]);
        assert_eq!(t, "| a | b |\n|---|---|\n| x\\|y | line break |\n");
    }

    #[test]
    fn footers_say_where_to_continue() {
        assert!(page_footer(50, 0, Some(50), "DIDs").contains("offset=50"));
        assert!(page_footer(3, 0, None, "DIDs").contains("all DIDs are shown (3)"));
        assert!(page_footer(0, 0, None, "DIDs").contains("No DIDs found"));
    }
}
