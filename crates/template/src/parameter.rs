//! The `Parameters` section: declarations, and resolving the values supplied at evaluation.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::{FieldPath, TemplateError};
use crate::intrinsic::describe;

/// Values supplied for a template's parameters: by JITP from the device certificate, by the
/// device in fleet provisioning, by the caller of `RegisterThing`. Names are case-sensitive.
pub type Parameters = BTreeMap<String, String>;

/// Prefixes of the parameters that provisioning supplies itself (from the certificate, or
/// Roost's own namespace). A template may `Ref` them without declaring them — AWS's own fleet
/// provisioning example does so for `AWS::IoT::Certificate::Id` — and evaluation fails with a
/// clear error when one is referenced but has no value.
pub const PSEUDO_PARAMETER_PREFIXES: &[&str] = &["AWS::IoT::Certificate::", "Roost::"];

/// Whether `name` is a pseudo-parameter (see [`PSEUDO_PARAMETER_PREFIXES`]).
pub fn is_pseudo_parameter(name: &str) -> bool {
    PSEUDO_PARAMETER_PREFIXES
        .iter()
        .any(|prefix| name.starts_with(prefix) && name.len() > prefix.len())
}

/// The declaration an undeclared pseudo-parameter is read with.
pub(crate) const PSEUDO_SPEC: ParameterSpec = ParameterSpec {
    ty: ParameterType::String,
    default: None,
};

/// The declared type of a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParameterType {
    String,
    /// A string that must parse as a finite number; `Ref` still yields the string.
    Number,
    /// `List<String>` or `CommaDelimitedList`: the value is split on commas and each item trimmed.
    List,
}

/// One entry of `Parameters`.
#[derive(Debug, Clone)]
pub(crate) struct ParameterSpec {
    pub(crate) ty: ParameterType,
    pub(crate) default: Option<String>,
}

/// A parameter's value once resolved for one evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ParameterValue {
    Str(String),
    List(Vec<String>),
}

/// Parses the `Parameters` section at `at`.
pub(crate) fn parse_section(
    value: &Value,
    at: &FieldPath,
) -> Result<BTreeMap<String, ParameterSpec>, TemplateError> {
    let Value::Object(entries) = value else {
        return Err(TemplateError::WrongType {
            at: at.clone(),
            expected: "an object of parameter declarations",
            found: describe(value),
        });
    };
    entries
        .iter()
        .map(|(name, decl)| Ok((name.clone(), parse_declaration(decl, &at.key(name))?)))
        .collect()
}

fn parse_declaration(value: &Value, at: &FieldPath) -> Result<ParameterSpec, TemplateError> {
    let Value::Object(keys) = value else {
        return Err(TemplateError::WrongType {
            at: at.clone(),
            expected: "an object with Type and an optional Default",
            found: describe(value),
        });
    };
    let mut ty = None;
    let mut default = None;
    for (key, value) in keys {
        let key_at = at.key(key);
        match key.as_str() {
            "Type" => {
                let Value::String(name) = value else {
                    return Err(wrong_type(&key_at, "a string", value));
                };
                ty = Some(match name.as_str() {
                    "String" => ParameterType::String,
                    "Number" => ParameterType::Number,
                    "List<String>" | "CommaDelimitedList" => ParameterType::List,
                    _ => {
                        return Err(TemplateError::UnknownParameterType {
                            at: key_at,
                            found: name.clone(),
                        });
                    }
                });
            }
            "Default" => {
                default = Some(match value {
                    Value::String(text) => text.clone(),
                    Value::Number(number) => number.to_string(),
                    _ => return Err(wrong_type(&key_at, "a string or a number", value)),
                });
            }
            "Description" => {
                if !value.is_string() {
                    return Err(wrong_type(&key_at, "a string", value));
                }
            }
            _ => {
                return Err(TemplateError::UnknownKey {
                    at: key_at,
                    expected: "Type, Default or Description",
                });
            }
        }
    }
    let ty = ty.ok_or_else(|| TemplateError::MissingKey {
        at: at.clone(),
        key: "Type",
    })?;
    if let (ParameterType::Number, Some(text)) = (ty, &default)
        && !is_number(text)
    {
        return Err(TemplateError::InvalidNumber {
            at: at.key("Default"),
            value: text.clone(),
        });
    }
    Ok(ParameterSpec { ty, default })
}

/// Resolves every declared parameter from `supplied`, falling back to its `Default`. As on AWS,
/// a declared parameter with neither fails the evaluation even if nothing refers to it.
pub(crate) fn resolve<'a>(
    specs: &'a BTreeMap<String, ParameterSpec>,
    supplied: &'a Parameters,
) -> Result<BTreeMap<&'a str, ParameterValue>, TemplateError> {
    let section = FieldPath::root().key("Parameters");
    let implicit = supplied
        .iter()
        .filter(|(name, _)| is_pseudo_parameter(name) && !specs.contains_key(*name))
        .map(|(name, text)| Ok((name.as_str(), ParameterValue::Str(text.clone()))));
    specs
        .iter()
        .map(|(name, spec)| {
            let at = section.key(name);
            let text = supplied
                .get(name)
                .or(spec.default.as_ref())
                .ok_or_else(|| TemplateError::MissingParameter {
                    at: at.clone(),
                    name: name.clone(),
                })?;
            let value = match spec.ty {
                ParameterType::String => ParameterValue::Str(text.clone()),
                ParameterType::Number if is_number(text) => ParameterValue::Str(text.clone()),
                ParameterType::Number => {
                    return Err(TemplateError::InvalidNumber {
                        at,
                        value: text.clone(),
                    });
                }
                ParameterType::List => ParameterValue::List(
                    text.split(',').map(|item| item.trim().to_owned()).collect(),
                ),
            };
            Ok((name.as_str(), value))
        })
        .chain(implicit)
        .collect()
}

fn is_number(text: &str) -> bool {
    text.trim().parse::<f64>().is_ok_and(f64::is_finite)
}

fn wrong_type(at: &FieldPath, expected: &'static str, found: &Value) -> TemplateError {
    TemplateError::WrongType {
        at: at.clone(),
        expected,
        found: describe(found),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn section(value: &Value) -> Result<BTreeMap<String, ParameterSpec>, TemplateError> {
        parse_section(value, &FieldPath::root().key("Parameters"))
    }

    fn supplied(pairs: &[(&str, &str)]) -> Parameters {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn every_documented_type_is_accepted() {
        let specs = section(&json!({
            "a": {"Type": "String"},
            "b": {"Type": "Number", "Default": 5},
            "c": {"Type": "List<String>"},
            "d": {"Type": "CommaDelimitedList", "Description": "groups"},
        }))
        .unwrap();
        assert_eq!(specs["a"].ty, ParameterType::String);
        assert_eq!(specs["b"].ty, ParameterType::Number);
        assert_eq!(specs["b"].default.as_deref(), Some("5"));
        assert_eq!(specs["c"].ty, ParameterType::List);
        assert_eq!(specs["d"].ty, ParameterType::List);
    }

    #[test]
    fn a_declaration_without_type_is_rejected() {
        let err = section(&json!({"a": {"Default": "x"}})).unwrap_err();
        assert_eq!(err.to_string(), "Parameters.a: missing required key Type");
    }

    #[test]
    fn an_unknown_type_is_rejected_with_its_name() {
        let err = section(&json!({"a": {"Type": "Boolean"}})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Parameters.a.Type: unknown parameter type \"Boolean\" (expected String, Number, List<String> or CommaDelimitedList)"
        );
    }

    #[test]
    fn an_unknown_declaration_key_is_rejected() {
        let err = section(&json!({"a": {"Type": "String", "AllowedValues": ["x"]}})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Parameters.a.AllowedValues: unknown key (expected Type, Default or Description)"
        );
    }

    #[test]
    fn a_non_numeric_default_for_a_number_is_rejected() {
        let err = section(&json!({"n": {"Type": "Number", "Default": "ten"}})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Parameters.n.Default: \"ten\" is not a number"
        );
    }

    #[test]
    fn a_default_must_be_a_string_or_number() {
        let err = section(&json!({"a": {"Type": "String", "Default": ["x"]}})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Parameters.a.Default: expected a string or a number, found a list"
        );
    }

    #[test]
    fn the_section_must_be_an_object() {
        let err = section(&json!(["a"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Parameters: expected an object of parameter declarations, found a list"
        );
    }

    #[test]
    fn supplied_values_win_over_defaults() {
        let specs = section(&json!({"loc": {"Type": "String", "Default": "WA"}})).unwrap();
        let given = supplied(&[("loc", "OR")]);
        let values = resolve(&specs, &given).unwrap();
        assert_eq!(values["loc"], ParameterValue::Str("OR".into()));
        let none = supplied(&[]);
        let values = resolve(&specs, &none).unwrap();
        assert_eq!(values["loc"], ParameterValue::Str("WA".into()));
    }

    #[test]
    fn a_declared_parameter_without_value_or_default_fails() {
        let specs =
            section(&json!({"AWS::IoT::Certificate::Country": {"Type": "String"}})).unwrap();
        let err = resolve(&specs, &supplied(&[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Parameters.AWS::IoT::Certificate::Country: no value supplied for parameter \"AWS::IoT::Certificate::Country\" and it has no Default"
        );
    }

    #[test]
    fn list_parameters_are_split_on_commas_and_trimmed() {
        let specs = section(&json!({"g": {"Type": "CommaDelimitedList"}})).unwrap();
        let given = supplied(&[("g", "a, b ,c")]);
        let values = resolve(&specs, &given).unwrap();
        assert_eq!(
            values["g"],
            ParameterValue::List(vec!["a".into(), "b".into(), "c".into()])
        );
    }

    #[test]
    fn a_number_parameter_rejects_a_non_number() {
        let specs = section(&json!({"n": {"Type": "Number"}})).unwrap();
        assert!(resolve(&specs, &supplied(&[("n", "1.5e3")])).is_ok());
        let err = resolve(&specs, &supplied(&[("n", "NaN")])).unwrap_err();
        assert_eq!(err.to_string(), "Parameters.n: \"NaN\" is not a number");
    }

    #[test]
    fn undeclared_supplied_values_are_ignored() {
        let specs = section(&json!({})).unwrap();
        assert!(
            resolve(&specs, &supplied(&[("extra", "x")]))
                .unwrap()
                .is_empty()
        );
    }
}
