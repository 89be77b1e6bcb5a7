//! The flat `parameter`/`operator`/`value(s)` form and the `conditions` array, made into
//! DiracX search conditions, with the spellings models use (`=`, `!=`, `not_in`, `IN`) and dates
//! in the one form DiracX parses.

use diracx_client::{Condition, ScalarOperator, VectorOperator};
use serde_json::Value;

use crate::args::{ConditionArg, ConditionList, Names, ScalarValue};
use crate::errors::ToolError;

const OPERATORS: &str = "eq, neq, gt, lt, like, not like, regex, in, not in";

enum Operator {
    Scalar(ScalarOperator),
    Vector(VectorOperator),
}

fn operator(name: &str) -> Result<Operator, ToolError> {
    let normal = name.trim().to_ascii_lowercase().replace(['_', '-'], " ");
    let normal = normal.split_whitespace().collect::<Vec<_>>().join(" ");
    Ok(match normal.as_str() {
        "" | "eq" | "=" | "==" | "equals" | "is" => Operator::Scalar(ScalarOperator::Eq),
        "neq" | "ne" | "!=" | "<>" | "not equals" | "not eq" | "is not" => {
            Operator::Scalar(ScalarOperator::Neq)
        }
        "gt" | ">" | "after" | "greater than" => Operator::Scalar(ScalarOperator::Gt),
        "lt" | "<" | "before" | "less than" => Operator::Scalar(ScalarOperator::Lt),
        "like" => Operator::Scalar(ScalarOperator::Like),
        "not like" | "notlike" | "unlike" => Operator::Scalar(ScalarOperator::NotLike),
        "regex" | "regexp" | "matches" | "~" => Operator::Scalar(ScalarOperator::Regex),
        "in" => Operator::Vector(VectorOperator::In),
        "not in" | "notin" | "nin" => Operator::Vector(VectorOperator::NotIn),
        _ => {
            return Err(ToolError::argument(
                format!("unknown operator `{name}`"),
                format!("Use one of: {OPERATORS}."),
            ));
        }
    })
}

/// One condition from its parts.
pub fn condition(
    parameter: &str,
    operator_name: Option<&str>,
    value: Option<&ScalarValue>,
    values: Option<&Names>,
) -> Result<Condition, ToolError> {
    let parameter = parameter.trim();
    if parameter.is_empty() || !parameter.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(ToolError::argument(
            format!("`{parameter}` is not a job attribute name"),
            "Use an attribute such as Status, MinorStatus, Site, JobName, JobGroup, JobID or Owner.",
        ));
    }
    let given_values = values.map(|v| v.0.clone()).filter(|v| !v.is_empty());
    let op = match operator_name {
        Some(name) => operator(name)?,
        // Several values and no operator: `in`.
        None if given_values.as_ref().is_some_and(|v| v.len() > 1) => {
            Operator::Vector(VectorOperator::In)
        }
        None => Operator::Scalar(ScalarOperator::Eq),
    };
    match op {
        Operator::Scalar(op) => {
            let value = match (value, &given_values) {
                (Some(value), _) => value.0.clone(),
                (None, Some(values)) if values.len() == 1 => Value::String(values[0].clone()),
                (None, Some(_)) if op == ScalarOperator::Eq => {
                    return condition(parameter, Some("in"), None, values);
                }
                (None, Some(_)) if op == ScalarOperator::Neq => {
                    return condition(parameter, Some("not in"), None, values);
                }
                _ => {
                    return Err(ToolError::argument(
                        format!("the condition on `{parameter}` has no value"),
                        "Give `value` (or `values` with `in` / `not in`).",
                    ));
                }
            };
            Ok(Condition::Scalar {
                parameter: parameter.to_owned(),
                operator: op,
                value: typed(parameter, value)?,
            })
        }
        Operator::Vector(op) => {
            let values = match (given_values, value) {
                (Some(values), _) => values.into_iter().map(Value::String).collect::<Vec<_>>(),
                // `in` with one `value`, maybe a comma-separated list.
                (None, Some(ScalarValue(Value::String(text)))) => text
                    .split([',', ';', ' '])
                    .filter(|s| !s.is_empty())
                    .map(|s| Value::String(s.to_owned()))
                    .collect(),
                (None, Some(ScalarValue(other))) => vec![other.clone()],
                (None, None) => {
                    return Err(ToolError::argument(
                        format!("`in` / `not in` on `{parameter}` needs `values`"),
                        "Give `values` as a list, e.g. [\"Failed\", \"Stalled\"].",
                    ));
                }
            };
            let values =
                values.into_iter().map(|v| typed(parameter, v)).collect::<Result<_, _>>()?;
            Ok(Condition::Vector { parameter: parameter.to_owned(), operator: op, values })
        }
    }
}

/// Job ids as numbers; times as `YYYY-MM-DD HH:MM:SS` UTC, the only form DiracX parses.
fn typed(parameter: &str, value: Value) -> Result<Value, ToolError> {
    if parameter == "JobID"
        && let Value::String(text) = &value
    {
        return text.trim().parse::<u64>().map(Value::from).map_err(|_| {
            ToolError::argument(
                format!("`{text}` is not a job id"),
                "Job ids are positive integers.",
            )
        });
    }
    if parameter.ends_with("Time")
        && let Value::String(text) = &value
    {
        return Ok(Value::String(normal_time(text)));
    }
    Ok(value)
}

/// `2026-11-22T04:40:00+01:00` → `2026-11-22 03:40:00`; what DiracX already takes stays.
fn normal_time(text: &str) -> String {
    let text = text.trim();
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return at.with_timezone(&chrono::Utc).format("%Y-%m-%d %H:%M:%S").to_string();
    }
    text.replacen('T', " ", 1).trim_end_matches('Z').to_owned()
}

/// The conditions of the flat form plus the `conditions` array.
pub fn conditions(
    parameter: Option<&str>,
    operator_name: Option<&str>,
    value: Option<&ScalarValue>,
    values: Option<&Names>,
    extra: Option<&ConditionList>,
) -> Result<Vec<Condition>, ToolError> {
    let mut all = Vec::new();
    match parameter.map(str::trim).filter(|p| !p.is_empty()) {
        Some(parameter) => all.push(condition(parameter, operator_name, value, values)?),
        None if value.is_some() || values.is_some_and(|v| !v.0.is_empty()) => {
            return Err(ToolError::argument(
                "a value was given without `parameter`",
                "Name the attribute the value is for, e.g. parameter=\"Status\", value=\"Failed\".",
            ));
        }
        None => {}
    }
    for ConditionArg { parameter, operator, value, values } in
        extra.map(|c| c.0.as_slice()).unwrap_or_default()
    {
        all.push(condition(parameter, operator.as_deref(), value.as_ref(), values.as_ref())?);
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn names(items: &[&str]) -> Names {
        Names(items.iter().map(|s| (*s).to_owned()).collect())
    }

    #[test]
    fn operators_in_the_spellings_models_use() {
        let v = ScalarValue(json!("Failed"));
        for op in ["eq", "=", "EQ", "equals"] {
            assert!(matches!(
                condition("Status", Some(op), Some(&v), None).unwrap(),
                Condition::Scalar { operator: ScalarOperator::Eq, .. }
            ));
        }
        for op in ["not like", "not_like", "NOT LIKE"] {
            assert!(matches!(
                condition("Status", Some(op), Some(&v), None).unwrap(),
                Condition::Scalar { operator: ScalarOperator::NotLike, .. }
            ));
        }
        let in_values =
            condition("Status", Some("not_in"), None, Some(&names(&["Failed", "Killed"]))).unwrap();
        assert_eq!(
            serde_json::to_value(in_values).unwrap(),
            json!({"parameter":"Status","operator":"not in","values":["Failed","Killed"]})
        );
        let err = condition("Status", Some("contains"), Some(&v), None).unwrap_err();
        assert!(err.hint.contains("not like"), "{err:?}");
    }

    #[test]
    fn values_and_operators_that_disagree_are_reconciled() {
        let several = names(&["Failed", "Stalled"]);
        assert!(matches!(
            condition("Status", None, None, Some(&several)).unwrap(),
            Condition::Vector { operator: VectorOperator::In, .. }
        ));
        assert!(matches!(
            condition("Status", Some("eq"), None, Some(&several)).unwrap(),
            Condition::Vector { operator: VectorOperator::In, .. }
        ));
        let listed = ScalarValue(json!("Failed,Stalled"));
        let Condition::Vector { values, .. } =
            condition("Status", Some("in"), Some(&listed), None).unwrap()
        else {
            panic!()
        };
        assert_eq!(values, vec![json!("Failed"), json!("Stalled")]);
    }

    #[test]
    fn ids_become_numbers_and_times_the_form_diracx_parses() {
        let Condition::Vector { values, .. } =
            condition("JobID", Some("in"), None, Some(&names(&["1", "2"]))).unwrap()
        else {
            panic!()
        };
        assert_eq!(values, vec![json!(1), json!(2)]);
        let Condition::Scalar { value, .. } = condition(
            "SubmissionTime",
            Some(">"),
            Some(&ScalarValue(json!("2026-11-22T04:40:00+01:00"))),
            None,
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(value, json!("2026-11-22 03:40:00"));
        assert!(condition("Status; DROP", None, Some(&ScalarValue(json!("x"))), None).is_err());
    }
}
