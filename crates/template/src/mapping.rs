//! The `Mappings` section: named two-level tables of literal strings for `Fn::FindInMap`.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::{FieldPath, TemplateError};
use crate::intrinsic::{as_call, describe};

/// Mapping name → top-level key → second-level key → value.
pub(crate) type Mappings = BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>>;

/// Parses the `Mappings` section at `at`. Intrinsic functions are not allowed in it.
pub(crate) fn parse_section(value: &Value, at: &FieldPath) -> Result<Mappings, TemplateError> {
    objects(value, at, "an object of mappings")?
        .iter()
        .map(|(name, table)| {
            let at = at.key(name);
            let table = objects(table, &at, "an object of top-level keys")?
                .iter()
                .map(|(top, row)| {
                    let at = at.key(top);
                    let row = objects(row, &at, "an object of second-level keys")?
                        .iter()
                        .map(|(key, leaf)| match leaf {
                            Value::String(text) => Ok((key.clone(), text.clone())),
                            _ => Err(TemplateError::WrongType {
                                at: at.key(key),
                                expected: "a literal string (Mappings cannot use intrinsic functions)",
                                found: describe(leaf),
                            }),
                        })
                        .collect::<Result<_, _>>()?;
                    Ok((top.clone(), row))
                })
                .collect::<Result<_, TemplateError>>()?;
            Ok((name.clone(), table))
        })
        .collect()
}

fn objects<'v>(
    value: &'v Value,
    at: &FieldPath,
    expected: &'static str,
) -> Result<&'v serde_json::Map<String, Value>, TemplateError> {
    match value {
        Value::Object(map) if as_call(value).is_none() => Ok(map),
        _ => Err(TemplateError::WrongType {
            at: at.clone(),
            expected,
            found: describe(value),
        }),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn section(value: &Value) -> Result<Mappings, TemplateError> {
        parse_section(value, &FieldPath::root().key("Mappings"))
    }

    #[test]
    fn a_two_level_table_of_strings_is_read() {
        let maps =
            section(&json!({"LocationTable": {"Seattle": {"LocationUrl": "https://example.aws"}}}))
                .unwrap();
        assert_eq!(
            maps["LocationTable"]["Seattle"]["LocationUrl"],
            "https://example.aws"
        );
    }

    #[test]
    fn a_non_string_leaf_is_rejected_with_its_path() {
        let err = section(&json!({"T": {"a": {"b": 1}}})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Mappings.T.a.b: expected a literal string (Mappings cannot use intrinsic functions), found a number"
        );
    }

    #[test]
    fn intrinsic_functions_are_rejected_in_mappings() {
        let err = section(&json!({"T": {"a": {"b": {"Ref": "X"}}}})).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("Mappings.T.a.b: expected a literal string")
        );
        let err = section(&json!({"T": {"Ref": "X"}})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Mappings.T: expected an object of top-level keys, found an intrinsic function"
        );
    }
}
