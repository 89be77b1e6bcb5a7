//! The vocabulary of list and enum arguments, read the way people and models write them: lists
//! separated by commas, spaces or newlines (or sent as a JSON array), enum values as names or
//! Rucio's codes, in any case. Everything else is refused with the valid values listed.

use rucio_client::RequestState;
use serde_json::{Map, Value};

use crate::errors::ToolError;

/// String parameters that hold a list: a JSON array of strings sent for one of them is joined.
const LIST_PARAMETERS: &[&str] = &["dids", "protocols", "request_states"];

/// The items of a list argument: separated by commas, semicolons or any whitespace, blanks dropped.
pub(crate) fn list_items(raw: &str) -> impl Iterator<Item = &str> {
    raw.split(|c: char| c == ',' || c == ';' || c.is_whitespace()).filter(|s| !s.is_empty())
}

/// Models often send `["a", "b"]` where the schema says a comma-separated string.
pub(crate) fn join_list_arrays(args: &mut Map<String, Value>) {
    for name in LIST_PARAMETERS {
        let Some(Value::Array(items)) = args.get(*name) else { continue };
        let Some(texts) = items.iter().map(Value::as_str).collect::<Option<Vec<&str>>>() else {
            continue;
        };
        let joined = texts.join(",");
        args.insert((*name).to_owned(), Value::String(joined));
    }
}

/// One value of an enum argument: `spellings` maps each accepted spelling (compared without case,
/// with `-` and spaces read as `_`) to the value Rucio wants; the first spelling of each value is
/// the one an error shows.
pub(crate) fn choice(
    name: &str,
    raw: &str,
    spellings: &[(&str, &'static str)],
) -> Result<&'static str, ToolError> {
    let wanted = normalized(raw);
    spellings
        .iter()
        .find(|(spelling, _)| normalized(spelling) == wanted)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            // Each value under its first spelling: the canonical one, aliases left out.
            let mut valid: Vec<&str> = Vec::new();
            let mut seen: Vec<&str> = Vec::new();
            for (spelling, value) in spellings {
                if !seen.contains(value) {
                    seen.push(value);
                    valid.push(spelling);
                }
            }
            ToolError::argument(
                format!("`{name}` = {raw:?} is not one of {}", quoted(&valid)),
                format!("Use one of {}.", quoted(&valid)),
            )
        })
}

/// `request_states`: one or more states, as names (`QUEUED`) or codes (`Q`).
pub(crate) fn request_states(name: &str, raw: &str) -> Result<Vec<RequestState>, ToolError> {
    let names: Vec<&str> = RequestState::ALL.iter().map(|s| s.name()).collect();
    let mut states = Vec::new();
    for item in request_state_items(raw) {
        let state = RequestState::parse(&item).ok_or_else(|| {
            ToolError::argument(
                format!("`{name}`: {item:?} is not a request state; valid states: {}", names.join(", ")),
                "Give states separated by commas, as names or codes, e.g. `QUEUED,SUBMITTED` or `Q,S`.",
            )
        })?;
        if !states.contains(&state) {
            states.push(state);
        }
    }
    if states.is_empty() {
        return Err(ToolError::argument(
            format!("`{name}` is empty; valid states: {}", names.join(", ")),
            "Give states separated by commas, e.g. `QUEUED,SUBMITTED` or `DONE,FAILED`.",
        ));
    }
    Ok(states)
}

/// The items of a state list: like [`list_items`], except that the words of a name written with
/// spaces (`No Sources`, `only tape sources`) stay together, the longest name first.
fn request_state_items(raw: &str) -> Vec<String> {
    let mut items = Vec::new();
    for part in raw.split([',', ';']) {
        let words: Vec<&str> = part.split_whitespace().collect();
        let mut at = 0;
        while at < words.len() {
            let longest = (1..=3.min(words.len() - at))
                .rev()
                .find(|&n| n == 1 || RequestState::parse(&words[at..at + n].join(" ")).is_some())
                .unwrap_or(1);
            items.push(words[at..at + longest].join(" "));
            at += longest;
        }
    }
    items
}

fn normalized(text: &str) -> String {
    text.trim().to_ascii_uppercase().replace(['-', ' '], "_")
}

fn quoted(values: &[&str]) -> String {
    values.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn lists_split_on_every_separator_people_use() {
        let items: Vec<&str> = list_items(" a:b,c:d  e:f\n\tg:h;i:j ,, ").collect();
        assert_eq!(items, ["a:b", "c:d", "e:f", "g:h", "i:j"]);
        assert_eq!(list_items(" , \n").count(), 0);
    }

    #[test]
    fn arrays_of_strings_become_lists_and_other_arrays_stay() {
        let mut args: Map<String, Value> =
            serde_json::from_str(r#"{"dids": ["a:b", "c:d"], "protocols": [1], "did": ["x:y"]}"#)
                .unwrap();
        join_list_arrays(&mut args);
        assert_eq!(args["dids"], "a:b,c:d");
        assert_eq!(args["protocols"], serde_json::json!([1]), "left for the type error");
        assert_eq!(args["did"], serde_json::json!(["x:y"]), "not a list parameter");
    }

    #[test]
    fn states_as_names_or_codes_in_any_case() {
        let states = request_states("s", "queued, S\nno-sources Failed,q").unwrap();
        assert_eq!(
            states,
            [
                RequestState::Queued,
                RequestState::Submitted,
                RequestState::NoSources,
                RequestState::Failed
            ]
        );
        let spaced = request_states("s", "No Sources, only tape sources DONE  q").unwrap();
        assert_eq!(
            spaced,
            [
                RequestState::NoSources,
                RequestState::OnlyTapeSources,
                RequestState::Done,
                RequestState::Queued
            ]
        );
        let err = request_states("request_states", "QUEUED,DONEISH").unwrap_err();
        assert!(err.message.contains("\"DONEISH\"") && err.message.contains("SUBMISSION_FAILED"));
        assert!(request_states("s", " ,").unwrap_err().message.contains("QUEUED"));
    }

    #[test]
    fn choices_ignore_case_and_list_the_valid_values() {
        let spellings = [("DATASET", "DATASET"), ("D", "DATASET"), ("ALL", "ALL")];
        assert_eq!(choice("grouping", " dataset ", &spellings).unwrap(), "DATASET");
        assert_eq!(choice("grouping", "d", &spellings).unwrap(), "DATASET");
        let err = choice("grouping", "files", &spellings).unwrap_err();
        assert!(err.message.ends_with("one of `DATASET`, `ALL`"), "{}", err.message);
    }
}
