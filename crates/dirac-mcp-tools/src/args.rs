//! Argument types that accept what models write: a list as a JSON array or as one string with
//! commas, semicolons or spaces, numbers as numbers or strings. Their schemas ask for the
//! canonical form.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::errors::ToolError;

/// Job ids: `[1, 2]`, `["1", "2"]`, `"1,2"`, `"1 2"` or `7`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobIds(pub Vec<u64>);

impl<'de> Deserialize<'de> for JobIds {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let mut ids = Vec::new();
        for item in items(&value) {
            let id = match &item {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.trim().trim_start_matches('#').parse().ok(),
                _ => None,
            };
            match id {
                Some(id) if id > 0 => ids.push(id),
                _ => {
                    return Err(serde::de::Error::custom(format!(
                        "`{item}` is not a job id (a positive integer)"
                    )));
                }
            }
        }
        ids.dedup();
        Ok(Self(ids))
    }
}

impl JsonSchema for JobIds {
    fn schema_name() -> Cow<'static, str> {
        "JobIds".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "array", "items": { "type": "integer", "minimum": 1 } })
    }
}

/// Names: `["Status", "Site"]` or `"Status, Site"`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Names(pub Vec<String>);

impl<'de> Deserialize<'de> for Names {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let mut names = Vec::new();
        for item in items(&value) {
            match item {
                Value::String(s) if !s.trim().is_empty() => names.push(s.trim().to_owned()),
                Value::Number(n) => names.push(n.to_string()),
                Value::String(_) => {}
                other => return Err(serde::de::Error::custom(format!("`{other}` is not a name"))),
            }
        }
        Ok(Self(names))
    }
}

impl JsonSchema for Names {
    fn schema_name() -> Cow<'static, str> {
        "Names".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "array", "items": { "type": "string" } })
    }
}

/// The elements of a list argument: an array's, or a string's split at `,`, `;` and white space.
fn items(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items
            .iter()
            .flat_map(|i| if i.is_string() { items_of_str(i) } else { vec![i.clone()] })
            .collect(),
        Value::String(_) => items_of_str(value),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

fn items_of_str(value: &Value) -> Vec<Value> {
    let Some(text) = value.as_str() else { return vec![value.clone()] };
    let text = text.trim();
    // A JSON array sent as a string.
    if text.starts_with('[')
        && let Ok(Value::Array(inner)) = serde_json::from_str::<Value>(text)
    {
        return inner;
    }
    text.split([',', ';', ' ', '\n', '\t'])
        .filter(|s| !s.is_empty())
        .map(|s| Value::String(s.to_owned()))
        .collect()
}

/// Reads a tool's arguments; a type error names the argument and what was expected.
pub fn parse<T: DeserializeOwned>(tool: &str, args: Map<String, Value>) -> Result<T, ToolError> {
    serde_json::from_value(Value::Object(args)).map_err(|e| {
        ToolError::argument(
            format!("invalid arguments for `{tool}`: {e}"),
            "Check the tool's input schema (`tools/list`) and call it again.",
        )
    })
}

/// The JSON Schema of a tool's arguments (draft 2020-12, as MCP wants).
pub fn input_schema<T: JsonSchema + 'static>() -> std::sync::Arc<Map<String, Value>> {
    rmcp::handler::server::common::schema_for_type::<T>()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn job_ids_in_every_spelling() {
        for spelling in [
            json!([1, 2]),
            json!(["1", "2"]),
            json!("1,2"),
            json!("1 2"),
            json!("[1, 2]"),
            json!(["1, 2"]),
        ] {
            assert_eq!(
                serde_json::from_value::<JobIds>(spelling.clone()).unwrap().0,
                vec![1, 2],
                "{spelling}"
            );
        }
        assert_eq!(serde_json::from_value::<JobIds>(json!(7)).unwrap().0, vec![7]);
        assert!(serde_json::from_value::<JobIds>(json!("seven")).is_err());
        assert!(serde_json::from_value::<JobIds>(json!([0])).is_err());
    }

    #[test]
    fn names_in_every_spelling() {
        for spelling in [json!(["Status", "Site"]), json!("Status, Site"), json!("Status;Site")] {
            assert_eq!(
                serde_json::from_value::<Names>(spelling).unwrap().0,
                vec!["Status", "Site"]
            );
        }
    }
}

/// One value of a condition: a string or a number.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct ScalarValue(pub Value);

impl JsonSchema for ScalarValue {
    fn schema_name() -> Cow<'static, str> {
        "ScalarValue".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": ["string", "integer", "number"] })
    }
}

/// One condition of the `conditions` array.
#[derive(Clone, Debug, PartialEq, Deserialize, JsonSchema)]
pub struct ConditionArg {
    /// A job attribute: `Status`, `MinorStatus`, `Site`, `JobName`, `JobGroup`, `JobID`, `Owner`, `SubmissionTime`, ...
    pub parameter: String,
    /// `eq`, `neq`, `gt`, `lt`, `like`, `not like`, `regex`, `in` or `not in`.
    #[serde(default)]
    pub operator: Option<String>,
    /// The value (all operators but `in` and `not in`).
    #[serde(default)]
    pub value: Option<ScalarValue>,
    /// The values of `in` and `not in`.
    #[serde(default)]
    pub values: Option<Names>,
}

/// Extra conditions: a JSON array of objects, or that array sent as a string.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConditionList(pub Vec<ConditionArg>);

impl<'de> Deserialize<'de> for ConditionList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let value = match value {
            Value::String(text) if text.trim().is_empty() => return Ok(Self::default()),
            Value::String(text) => serde_json::from_str(&text).map_err(|e| {
                serde::de::Error::custom(format!(
                    "`conditions` is not a JSON array of conditions: {e}"
                ))
            })?,
            Value::Null => return Ok(Self::default()),
            other => other,
        };
        let value = match value {
            single @ Value::Object(_) => Value::Array(vec![single]),
            other => other,
        };
        serde_json::from_value(value).map(Self).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for ConditionList {
    fn schema_name() -> Cow<'static, str> {
        "ConditionList".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let item = generator.subschema_for::<ConditionArg>();
        json_schema!({ "type": "array", "items": item })
    }
}

/// One job id: `7`, `"7"` or `[7]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OneJobId(pub u64);

impl<'de> Deserialize<'de> for OneJobId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match JobIds::deserialize(deserializer)?.0.as_slice() {
            [id] => Ok(Self(*id)),
            [] => Err(serde::de::Error::custom("no job id given")),
            _ => Err(serde::de::Error::custom("one job id expected, got several")),
        }
    }
}

impl JsonSchema for OneJobId {
    fn schema_name() -> Cow<'static, str> {
        "OneJobId".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "integer", "minimum": 1 })
    }
}
