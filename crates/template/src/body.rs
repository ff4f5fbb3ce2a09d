//! The template body as text: its size limit and a JSON reader that refuses duplicate keys.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::MAX_TEMPLATE_CHARS;
use crate::error::TemplateError;

/// Parses `body` as JSON after checking its length in characters (as AWS counts them).
pub(crate) fn parse(body: &str) -> Result<Value, TemplateError> {
    let chars = body.chars().count();
    if chars > MAX_TEMPLATE_CHARS {
        return Err(TemplateError::TooLarge { chars });
    }
    parse_json(body).map_err(|e| {
        let (line, column) = (e.line(), e.column());
        let text = e.to_string();
        let suffix = format!(" at line {line} column {column}");
        let reason = text.strip_suffix(&suffix).unwrap_or(&text).to_owned();
        TemplateError::InvalidJson {
            line,
            column,
            reason,
        }
    })
}

/// Parses JSON into a `Value`, rejecting an object that repeats a key: serde_json would keep
/// the last one silently, and a repeated `Resources` or `Properties` would then drop half of
/// what the author wrote.
pub(crate) fn parse_json(text: &str) -> Result<Value, serde_json::Error> {
    serde_json::from_str::<Strict>(text).map(|strict| strict.0)
}

struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate key \"{key}\"")));
            }
            let Strict(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_over_the_limit_is_rejected_before_parsing() {
        let body = format!("\"{}\"", "x".repeat(MAX_TEMPLATE_CHARS));
        assert_eq!(
            parse(&body),
            Err(TemplateError::TooLarge {
                chars: MAX_TEMPLATE_CHARS + 2
            })
        );
    }

    #[test]
    fn the_limit_counts_characters_not_bytes() {
        let body = format!("\"{}\"", "é".repeat(MAX_TEMPLATE_CHARS - 2));
        assert!(body.len() > MAX_TEMPLATE_CHARS);
        assert!(parse(&body).is_ok());
    }

    #[test]
    fn invalid_json_reports_line_and_column() {
        let err = parse("{\n  \"Resources\": {,}\n}").unwrap_err();
        let TemplateError::InvalidJson { line, column, .. } = &err else {
            panic!("unexpected {err:?}");
        };
        assert_eq!((*line, *column), (2, 17));
        assert!(
            err.to_string()
                .starts_with("invalid JSON at line 2, column 17: ")
        );
        assert!(!err.to_string().ends_with("column 17"));
    }

    #[test]
    fn a_repeated_key_is_invalid_json_with_its_position() {
        let err = parse("{\"Resources\": {}, \"Resources\": {}}").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid JSON at line 1, column 29: duplicate key \"Resources\""
        );
    }

    #[test]
    fn all_json_types_are_read() {
        let value = parse(r#"{"a": [1, -2, 3.5, true, null, "s"], "b": {}}"#).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"a": [1, -2, 3.5, true, null, "s"], "b": {}})
        );
    }

    #[test]
    fn trailing_text_is_invalid_json() {
        assert!(matches!(
            parse("{} x"),
            Err(TemplateError::InvalidJson { .. })
        ));
    }
}
