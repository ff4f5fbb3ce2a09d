//! The `Conditions` section: named boolean expressions that `Fn::If` and a resource's
//! `Condition` refer to. Not documented for IoT templates; an extension taken from CloudFormation.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::error::{FieldPath, TemplateError};
use crate::evaluation::Env;
use crate::intrinsic::{self, CONDITION_FUNCTIONS, Expr, Scope, Want, as_call, describe};

/// A boolean expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Condition {
    Equals(Box<Expr>, Box<Expr>),
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Not(Box<Condition>),
    /// `{"Condition": name}`: the value of another named condition.
    Named(String),
}

/// The names declared in a `Conditions` section, so that conditions, `Fn::If` and resources
/// can refer to any of them regardless of order.
pub(crate) fn declared_names(
    value: &Value,
    at: &FieldPath,
) -> Result<BTreeSet<String>, TemplateError> {
    match value {
        Value::Object(fields) if as_call(value).is_none() => Ok(fields.keys().cloned().collect()),
        _ => Err(TemplateError::WrongType {
            at: at.clone(),
            expected: "an object of named conditions",
            found: describe(value),
        }),
    }
}

/// Parses the `Conditions` section at `at` and rejects cycles among the named references.
/// `scope.conditions` must hold every name of the section.
pub(crate) fn parse_section(
    value: &Value,
    at: &FieldPath,
    scope: &Scope<'_>,
) -> Result<BTreeMap<String, Condition>, TemplateError> {
    let conditions: BTreeMap<String, Condition> = value
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, body)| Ok((name.clone(), parse(body, &at.key(name), scope)?)))
        .collect::<Result<_, TemplateError>>()?;
    reject_cycles(&conditions, at)?;
    Ok(conditions)
}

/// Parses one boolean expression at `at`.
pub(crate) fn parse(
    value: &Value,
    at: &FieldPath,
    scope: &Scope<'_>,
) -> Result<Condition, TemplateError> {
    let Some((name, argument)) = value
        .as_object()
        .filter(|o| o.len() == 1)
        .and_then(|o| o.iter().next())
    else {
        return Err(TemplateError::NotACondition { at: at.clone() });
    };
    let arg_at = at.key(name);
    let items = |function: &'static str, min: usize, max: usize| match argument {
        Value::Array(items) if (min..=max).contains(&items.len()) => Ok(items),
        Value::Array(items) => Err(TemplateError::WrongArity {
            at: at.clone(),
            function,
            min,
            max,
            found: items.len(),
        }),
        _ => Err(TemplateError::InvalidArgument {
            at: at.clone(),
            function,
            reason: "expects a list of arguments",
        }),
    };
    let nested = |items: &[Value]| {
        items
            .iter()
            .enumerate()
            .map(|(i, item)| parse(item, &arg_at.index(i), scope))
            .collect::<Result<Vec<_>, _>>()
    };
    match name.as_str() {
        "Fn::Equals" => {
            let items = items("Fn::Equals", 2, 2)?;
            let operand =
                |i: usize| intrinsic::parse(&items[i], &arg_at.index(i), Want::Str, scope);
            Ok(Condition::Equals(
                Box::new(operand(0)?),
                Box::new(operand(1)?),
            ))
        }
        // CloudFormation allows 2 to 10 conditions in Fn::And and Fn::Or.
        "Fn::And" => Ok(Condition::And(nested(items("Fn::And", 2, 10)?)?)),
        "Fn::Or" => Ok(Condition::Or(nested(items("Fn::Or", 2, 10)?)?)),
        "Fn::Not" => {
            let mut inner = nested(items("Fn::Not", 1, 1)?)?;
            let inner = inner.pop().ok_or_else(|| TemplateError::NotACondition {
                at: arg_at.index(0),
            })?;
            Ok(Condition::Not(Box::new(inner)))
        }
        "Condition" => {
            let target = intrinsic::literal_string(
                argument,
                &arg_at,
                "Condition",
                "expects the name of a condition as a literal string",
            )?;
            if !scope.conditions.contains(target) {
                return Err(TemplateError::UndefinedCondition {
                    at: at.clone(),
                    name: target.to_owned(),
                });
            }
            Ok(Condition::Named(target.to_owned()))
        }
        _ if name.starts_with("Fn::") && !is_known_function(name) => {
            Err(TemplateError::UnknownFunction {
                at: at.clone(),
                name: name.clone(),
            })
        }
        _ => Err(TemplateError::NotACondition { at: at.clone() }),
    }
}

fn is_known_function(name: &str) -> bool {
    const VALUE_FUNCTIONS: [&str; 6] = [
        "Fn::Join",
        "Fn::Select",
        "Fn::Split",
        "Fn::Sub",
        "Fn::FindInMap",
        "Fn::If",
    ];
    VALUE_FUNCTIONS.contains(&name) || CONDITION_FUNCTIONS.contains(&name)
}

/// Rejects a condition that reaches itself through `{"Condition": name}`; evaluation would
/// otherwise never end.
fn reject_cycles(
    conditions: &BTreeMap<String, Condition>,
    at: &FieldPath,
) -> Result<(), TemplateError> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        InProgress,
        Done,
    }

    fn visit<'a>(
        name: &'a str,
        conditions: &'a BTreeMap<String, Condition>,
        marks: &mut BTreeMap<&'a str, Mark>,
    ) -> Result<(), &'a str> {
        match marks.get(name) {
            Some(Mark::Done) => return Ok(()),
            Some(Mark::InProgress) => return Err(name),
            None => {}
        }
        marks.insert(name, Mark::InProgress);
        let mut targets = Vec::new();
        if let Some(condition) = conditions.get(name) {
            collect_names(condition, &mut targets);
        }
        for target in targets {
            visit(target, conditions, marks)?;
        }
        marks.insert(name, Mark::Done);
        Ok(())
    }

    let mut marks = BTreeMap::new();
    for name in conditions.keys() {
        visit(name, conditions, &mut marks).map_err(|looped| TemplateError::ConditionCycle {
            at: at.key(looped),
            name: looped.to_owned(),
        })?;
    }
    Ok(())
}

fn collect_names<'a>(condition: &'a Condition, into: &mut Vec<&'a str>) {
    match condition {
        Condition::Equals(..) => {}
        Condition::And(items) | Condition::Or(items) => {
            items.iter().for_each(|item| collect_names(item, into));
        }
        Condition::Not(inner) => collect_names(inner, into),
        Condition::Named(name) => into.push(name),
    }
}

/// Evaluates every named condition once, each at most once however often it is referred to
/// (a chain of conditions that each refer twice to the next would otherwise take exponential
/// time). `env` needs no condition values: conditions cannot contain `Fn::If`.
pub(crate) fn evaluate_all<'a>(
    conditions: &'a BTreeMap<String, Condition>,
    env: &Env<'_>,
) -> Result<BTreeMap<&'a str, bool>, TemplateError> {
    let mut memo = BTreeMap::new();
    for name in conditions.keys() {
        resolve(name, conditions, env, &mut memo)?;
    }
    Ok(memo)
}

fn resolve<'a>(
    name: &str,
    conditions: &'a BTreeMap<String, Condition>,
    env: &Env<'_>,
    memo: &mut BTreeMap<&'a str, bool>,
) -> Result<bool, TemplateError> {
    if let Some(value) = memo.get(name) {
        return Ok(*value);
    }
    let (name, condition) =
        conditions
            .get_key_value(name)
            .ok_or_else(|| TemplateError::UndefinedCondition {
                at: FieldPath::root().key("Conditions"),
                name: name.to_owned(),
            })?;
    let value = evaluate(condition, conditions, env, memo)?;
    memo.insert(name, value);
    Ok(value)
}

fn evaluate<'a>(
    condition: &'a Condition,
    conditions: &'a BTreeMap<String, Condition>,
    env: &Env<'_>,
    memo: &mut BTreeMap<&'a str, bool>,
) -> Result<bool, TemplateError> {
    match condition {
        Condition::Equals(left, right) => Ok(env.string(left)? == env.string(right)?),
        Condition::And(items) => {
            for item in items {
                if !evaluate(item, conditions, env, memo)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Condition::Or(items) => {
            for item in items {
                if evaluate(item, conditions, env, memo)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Condition::Not(inner) => Ok(!evaluate(inner, conditions, env, memo)?),
        Condition::Named(name) => resolve(name, conditions, env, memo),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::mapping::Mappings;
    use crate::parameter::{self, ParameterSpec, ParameterType, Parameters};

    fn specs() -> BTreeMap<String, ParameterSpec> {
        [(
            "Stage".to_owned(),
            ParameterSpec {
                ty: ParameterType::String,
                default: None,
            },
        )]
        .into()
    }

    fn section(value: &Value) -> Result<BTreeMap<String, Condition>, TemplateError> {
        let at = FieldPath::root().key("Conditions");
        let names = declared_names(value, &at)?;
        let (parameters, mappings) = (specs(), Mappings::new());
        let scope = Scope {
            parameters: &parameters,
            mappings: &mappings,
            conditions: &names,
            in_conditions: true,
        };
        parse_section(value, &at, &scope)
    }

    fn evaluate_with(value: &Value, stage: &str) -> BTreeMap<String, bool> {
        let conditions = section(value).unwrap();
        let specs = specs();
        let supplied: Parameters = [("Stage".to_owned(), stage.to_owned())].into();
        let parameters = parameter::resolve(&specs, &supplied).unwrap();
        let mappings = Mappings::new();
        let env = Env::new(parameters, &mappings);
        evaluate_all(&conditions, &env)
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect()
    }

    #[test]
    fn every_condition_function_evaluates() {
        let values = evaluate_with(
            &json!({
                "IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]},
                "IsDev": {"Fn::Equals": ["dev", {"Ref": "Stage"}]},
                "NotProd": {"Fn::Not": [{"Condition": "IsProd"}]},
                "Both": {"Fn::And": [{"Condition": "IsProd"}, {"Fn::Not": [{"Condition": "IsDev"}]}]},
                "Either": {"Fn::Or": [{"Condition": "IsDev"}, {"Condition": "IsProd"}]},
            }),
            "prod",
        );
        assert_eq!(
            values,
            [
                ("Both", true),
                ("Either", true),
                ("IsDev", false),
                ("IsProd", true),
                ("NotProd", false)
            ]
            .map(|(k, v)| (k.to_owned(), v))
            .into()
        );
    }

    #[test]
    fn a_condition_may_refer_to_one_declared_after_it() {
        let values = evaluate_with(
            &json!({"A": {"Condition": "Z"}, "Z": {"Fn::Equals": [{"Ref": "Stage"}, "x"]}}),
            "x",
        );
        assert!(values["A"]);
    }

    #[test]
    fn a_cycle_between_conditions_is_rejected() {
        let err = section(&json!({
            "A": {"Fn::Not": [{"Condition": "B"}]},
            "B": {"Fn::And": [{"Condition": "C"}, {"Condition": "A"}]},
            "C": {"Fn::Equals": ["a", "a"]},
        }))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Conditions.A: condition \"A\" refers to itself"
        );
        let err = section(&json!({"S": {"Condition": "S"}})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Conditions.S: condition \"S\" refers to itself"
        );
    }

    #[test]
    fn a_reference_to_an_undefined_condition_is_rejected() {
        let err = section(&json!({"A": {"Fn::Not": [{"Condition": "Nope"}]}})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Conditions.A.Fn::Not[0]: undefined condition \"Nope\""
        );
    }

    #[test]
    fn arity_is_checked_for_each_function() {
        let cases = [
            (
                json!({"Fn::Equals": ["a"]}),
                "Conditions.C: Fn::Equals takes 2 arguments, found 1",
            ),
            (
                json!({"Fn::And": [{"Condition": "C"}]}),
                "Conditions.C: Fn::And takes 2 to 10 arguments, found 1",
            ),
            (
                json!({"Fn::Or": []}),
                "Conditions.C: Fn::Or takes 2 to 10 arguments, found 0",
            ),
            (
                json!({"Fn::Not": []}),
                "Conditions.C: Fn::Not takes 1 argument, found 0",
            ),
            (
                json!({"Fn::Not": {"Condition": "C"}}),
                "Conditions.C: Fn::Not expects a list of arguments",
            ),
        ];
        for (body, message) in cases {
            let err = section(&json!({ "C": body })).unwrap_err();
            assert_eq!(err.to_string(), message);
        }
    }

    #[test]
    fn a_value_function_is_not_a_condition() {
        let err = section(&json!({"C": {"Fn::Join": ["", ["a"]]}})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Conditions.C: expected a condition (Fn::Equals, Fn::And, Fn::Or, Fn::Not or {\"Condition\": name})"
        );
        let err = section(&json!({"C": "true"})).unwrap_err();
        assert!(matches!(err, TemplateError::NotACondition { .. }));
        let err = section(&json!({"C": {"Fn::Maybe": []}})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Conditions.C: unknown function \"Fn::Maybe\""
        );
    }

    #[test]
    fn equals_operands_are_checked_like_values() {
        let err = section(&json!({"C": {"Fn::Equals": [{"Ref": "Nope"}, "a"]}})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Conditions.C.Fn::Equals[0]: Ref to undefined parameter \"Nope\""
        );
    }

    #[test]
    fn a_long_chain_of_double_references_evaluates_quickly() {
        let mut conditions = serde_json::Map::new();
        conditions.insert("C0".into(), json!({"Fn::Equals": [{"Ref": "Stage"}, "x"]}));
        for i in 1..200 {
            let previous = format!("C{}", i - 1);
            conditions.insert(
                format!("C{i}"),
                json!({"Fn::And": [{"Condition": previous}, {"Condition": previous}]}),
            );
        }
        let values = evaluate_with(&Value::Object(conditions), "x");
        assert!(values["C199"]);
    }
}
