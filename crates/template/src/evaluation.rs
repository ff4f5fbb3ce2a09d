//! Evaluating parsed expressions against one set of parameter values.

use std::cell::Cell;
use std::collections::BTreeMap;

use serde_json::Value;

use crate::MAX_EVALUATED_BYTES;
use crate::error::{FieldPath, TemplateError};
use crate::intrinsic::{Expr, Node, SubPart};
use crate::mapping::Mappings;
use crate::parameter::ParameterValue;

/// Everything an expression may read during one evaluation, and the output budget.
#[derive(Debug)]
pub(crate) struct Env<'a> {
    parameters: BTreeMap<&'a str, ParameterValue>,
    mappings: &'a Mappings,
    conditions: BTreeMap<&'a str, bool>,
    /// Bytes of strings that may still be built. Nested `Fn::Sub`s that each use a variable
    /// twice double the output per level, so a 10 KB template could otherwise ask for 2^100
    /// bytes; every string built is charged here instead.
    budget: Cell<usize>,
}

impl<'a> Env<'a> {
    /// An environment with resolved parameters and no condition values yet.
    pub(crate) fn new(
        parameters: BTreeMap<&'a str, ParameterValue>,
        mappings: &'a Mappings,
    ) -> Self {
        Self {
            parameters,
            mappings,
            conditions: BTreeMap::new(),
            budget: Cell::new(MAX_EVALUATED_BYTES),
        }
    }

    /// Supplies the values of the named conditions, for `Fn::If` and resource conditions.
    pub(crate) fn set_conditions(&mut self, conditions: BTreeMap<&'a str, bool>) {
        self.conditions = conditions;
    }

    /// The value of a named condition.
    pub(crate) fn condition(&self, name: &str, at: &FieldPath) -> Result<bool, TemplateError> {
        self.conditions
            .get(name)
            .copied()
            .ok_or_else(|| TemplateError::UndefinedCondition {
                at: at.clone(),
                name: name.to_owned(),
            })
    }

    fn charge(&self, at: &FieldPath, bytes: usize) -> Result<(), TemplateError> {
        let left = self.budget.get();
        if bytes > left {
            return Err(TemplateError::OutputTooLarge { at: at.clone() });
        }
        self.budget.set(left - bytes);
        Ok(())
    }

    fn parameter(&self, name: &str, at: &FieldPath) -> Result<&ParameterValue, TemplateError> {
        // Declared parameters always have a value here; only a pseudo-parameter that the
        // certificate (or device) did not supply can be missing.
        self.parameters
            .get(name)
            .ok_or_else(|| TemplateError::MissingParameter {
                at: at.clone(),
                name: name.to_owned(),
            })
    }

    /// Evaluates an expression parsed for a string position.
    pub(crate) fn string(&self, expr: &Expr) -> Result<String, TemplateError> {
        let at = &expr.at;
        match &expr.node {
            Node::Str(text) => {
                self.charge(at, text.len())?;
                Ok(text.clone())
            }
            Node::Ref(name) => match self.parameter(name, at)? {
                ParameterValue::Str(text) => {
                    self.charge(at, text.len())?;
                    Ok(text.clone())
                }
                ParameterValue::List(_) => Err(mismatch(at, "a string", "a list")),
            },
            Node::Join { delimiter, items } => {
                let items = self.list(items)?;
                let bytes = items
                    .iter()
                    .map(String::len)
                    .fold(0usize, usize::saturating_add)
                    .saturating_add(
                        delimiter
                            .len()
                            .saturating_mul(items.len().saturating_sub(1)),
                    );
                self.charge(at, bytes)?;
                Ok(items.join(delimiter))
            }
            Node::Select { index, items } => {
                let text = self.string(index)?;
                let index =
                    text.trim()
                        .parse::<usize>()
                        .map_err(|_| TemplateError::InvalidIndex {
                            at: index.at.clone(),
                            found: text.clone(),
                        })?;
                let items = self.list(items)?;
                let len = items.len();
                items
                    .into_iter()
                    .nth(index)
                    .ok_or_else(|| TemplateError::IndexOutOfBounds {
                        at: at.clone(),
                        index,
                        len,
                    })
            }
            Node::Sub { parts, variables } => {
                let values = variables
                    .iter()
                    .map(|(name, value)| Ok((name.as_str(), self.string(value)?)))
                    .collect::<Result<BTreeMap<_, _>, TemplateError>>()?;
                let mut out = String::new();
                for part in parts {
                    let piece = match part {
                        SubPart::Text(text) => text.as_str(),
                        SubPart::Variable(name) => match values.get(name.as_str()) {
                            Some(value) => value.as_str(),
                            None => match self.parameter(name, at)? {
                                ParameterValue::Str(text) => text.as_str(),
                                ParameterValue::List(_) => {
                                    return Err(TemplateError::SubVariableIsList {
                                        at: at.clone(),
                                        name: name.clone(),
                                    });
                                }
                            },
                        },
                    };
                    self.charge(at, piece.len())?;
                    out.push_str(piece);
                }
                Ok(out)
            }
            Node::FindInMap { map, top, second } => {
                let (map, top, second) =
                    (self.string(map)?, self.string(top)?, self.string(second)?);
                let table =
                    self.mappings
                        .get(&map)
                        .ok_or_else(|| TemplateError::UndefinedMapping {
                            at: at.clone(),
                            name: map.clone(),
                        })?;
                let row = table
                    .get(&top)
                    .ok_or_else(|| TemplateError::MissingMappingKey {
                        at: at.clone(),
                        map: map.clone(),
                        key: top.clone(),
                    })?;
                let value = row
                    .get(&second)
                    .ok_or_else(|| TemplateError::MissingMappingKey {
                        at: at.clone(),
                        map: format!("{map}.{top}"),
                        key: second.clone(),
                    })?;
                self.charge(at, value.len())?;
                Ok(value.clone())
            }
            Node::If {
                condition,
                then,
                otherwise,
            } => self.string(if self.condition(condition, at)? {
                then
            } else {
                otherwise
            }),
            Node::Split { .. } | Node::List(_) => Err(mismatch(at, "a string", "a list")),
            Node::Object(_) => Err(mismatch(at, "a string", "an object")),
            Node::Scalar(_) => Err(mismatch(at, "a string", "a number, boolean or null")),
        }
    }

    /// Evaluates an expression parsed for a list position.
    pub(crate) fn list(&self, expr: &Expr) -> Result<Vec<String>, TemplateError> {
        let at = &expr.at;
        match &expr.node {
            Node::List(items) => items.iter().map(|item| self.string(item)).collect(),
            Node::Ref(name) => match self.parameter(name, at)? {
                ParameterValue::List(items) => {
                    self.charge(at, items.iter().map(String::len).sum())?;
                    Ok(items.clone())
                }
                ParameterValue::Str(_) => Err(mismatch(at, "a list of strings", "a string")),
            },
            Node::Split { delimiter, source } => {
                let text = self.string(source)?;
                // Charged again for the list: a split into many empty strings costs memory too.
                self.charge(at, text.len())?;
                Ok(text.split(delimiter.as_str()).map(str::to_owned).collect())
            }
            Node::If {
                condition,
                then,
                otherwise,
            } => self.list(if self.condition(condition, at)? {
                then
            } else {
                otherwise
            }),
            _ => Err(mismatch(at, "a list of strings", "a string")),
        }
    }

    /// Evaluates an expression parsed for a document position into JSON.
    pub(crate) fn document(&self, expr: &Expr) -> Result<Value, TemplateError> {
        match &expr.node {
            Node::Scalar(value) => Ok(value.clone()),
            Node::List(items) => items
                .iter()
                .map(|item| self.document(item))
                .collect::<Result<_, _>>()
                .map(Value::Array),
            Node::Object(fields) => fields
                .iter()
                .map(|(key, field)| {
                    self.charge(&field.at, key.len())?;
                    Ok((key.clone(), self.document(field)?))
                })
                .collect::<Result<_, _>>()
                .map(Value::Object),
            Node::Ref(name) => match self.parameter(name, &expr.at)? {
                ParameterValue::List(_) => self.list(expr).map(strings_to_json),
                ParameterValue::Str(_) => self.string(expr).map(Value::String),
            },
            Node::Split { .. } => self.list(expr).map(strings_to_json),
            Node::If {
                condition,
                then,
                otherwise,
            } => self.document(if self.condition(condition, &expr.at)? {
                then
            } else {
                otherwise
            }),
            Node::Str(_)
            | Node::Join { .. }
            | Node::Select { .. }
            | Node::Sub { .. }
            | Node::FindInMap { .. } => self.string(expr).map(Value::String),
        }
    }
}

fn strings_to_json(items: Vec<String>) -> Value {
    Value::Array(items.into_iter().map(Value::String).collect())
}

fn mismatch(at: &FieldPath, expected: &'static str, found: &'static str) -> TemplateError {
    TemplateError::WrongType {
        at: at.clone(),
        expected,
        found,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::json;

    use super::*;
    use crate::intrinsic::{Scope, Want, parse};
    use crate::parameter::{self, ParameterSpec, ParameterType, Parameters};

    struct Fixture {
        specs: BTreeMap<String, ParameterSpec>,
        mappings: Mappings,
        conditions: BTreeSet<String>,
        supplied: Parameters,
    }

    impl Fixture {
        fn new() -> Self {
            let spec = |ty| ParameterSpec { ty, default: None };
            Self {
                specs: [
                    ("Serial".to_owned(), spec(ParameterType::String)),
                    ("Csv".to_owned(), spec(ParameterType::String)),
                    ("Groups".to_owned(), spec(ParameterType::List)),
                    ("Index".to_owned(), spec(ParameterType::Number)),
                    ("City".to_owned(), spec(ParameterType::String)),
                ]
                .into(),
                mappings: [(
                    "Table".to_owned(),
                    [(
                        "Seattle".to_owned(),
                        [("Url".to_owned(), "https://example.aws".to_owned())].into(),
                    )]
                    .into(),
                )]
                .into(),
                conditions: ["Yes".to_owned(), "No".to_owned()].into(),
                supplied: [
                    ("Serial", "1234"),
                    ("Csv", "a,b,c"),
                    ("Groups", "g1, g2"),
                    ("Index", "2"),
                    ("City", "Boston"),
                ]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .into(),
            }
        }

        fn with(mut self, name: &str, value: &str) -> Self {
            self.supplied.insert(name.to_owned(), value.to_owned());
            self
        }

        fn eval(&self, value: &Value, want: Want) -> Result<Value, TemplateError> {
            let scope = Scope {
                parameters: &self.specs,
                mappings: &self.mappings,
                conditions: &self.conditions,
                in_conditions: false,
            };
            let expr = parse(value, &FieldPath::root().key("V"), want, &scope)?;
            let parameters = parameter::resolve(&self.specs, &self.supplied)?;
            let mut env = Env::new(parameters, &self.mappings);
            env.set_conditions([("Yes", true), ("No", false)].into());
            match want {
                Want::Str => env.string(&expr).map(Value::String),
                Want::List => env.list(&expr).map(strings_to_json),
                Want::Document => env.document(&expr),
            }
        }

        fn string(&self, value: &Value) -> String {
            match self.eval(value, Want::Str) {
                Ok(Value::String(text)) => text,
                other => panic!("not a string: {other:?}"),
            }
        }

        fn error(&self, value: &Value) -> String {
            match self.eval(value, Want::Str) {
                Ok(value) => panic!("evaluated to {value}"),
                Err(err) => err.to_string(),
            }
        }
    }

    #[test]
    fn ref_yields_the_supplied_value() {
        assert_eq!(Fixture::new().string(&json!({"Ref": "Serial"})), "1234");
    }

    #[test]
    fn join_concatenates_with_the_delimiter() {
        let fixture = Fixture::new();
        assert_eq!(
            fixture.string(&json!({"Fn::Join": ["", ["ThingPrefix_", {"Ref": "Serial"}]]})),
            "ThingPrefix_1234"
        );
        assert_eq!(
            fixture.string(&json!({"Fn::Join": [", ", {"Ref": "Groups"}]})),
            "g1, g2"
        );
        assert_eq!(fixture.string(&json!({"Fn::Join": ["-", []]})), "");
    }

    #[test]
    fn select_picks_by_index() {
        let fixture = Fixture::new();
        assert_eq!(fixture.string(&json!({"Fn::Select": [1, ["a", "b"]]})), "b");
        assert_eq!(
            fixture.string(
                &json!({"Fn::Select": [{"Ref": "Index"}, {"Fn::Split": [",", {"Ref": "Csv"}]}]})
            ),
            "c"
        );
    }

    #[test]
    fn select_out_of_bounds_fails_with_the_path() {
        assert_eq!(
            Fixture::new().error(&json!({"Fn::Select": [2, ["a", "b"]]})),
            "V: Fn::Select index 2 is out of bounds for a list of 2"
        );
    }

    #[test]
    fn select_with_a_non_integer_index_from_a_parameter_fails() {
        let fixture = Fixture::new().with("Index", "1.5");
        assert_eq!(
            fixture.error(&json!({"Fn::Select": [{"Ref": "Index"}, ["a", "b"]]})),
            "V.Fn::Select[0]: Fn::Select index \"1.5\" is not a non-negative integer"
        );
    }

    #[test]
    fn split_divides_on_every_delimiter() {
        let fixture = Fixture::new();
        assert_eq!(
            fixture
                .eval(&json!({"Fn::Split": [",", "a,,b"]}), Want::List)
                .unwrap(),
            json!(["a", "", "b"])
        );
    }

    #[test]
    fn sub_substitutes_parameters_and_variables_and_keeps_escapes() {
        let fixture = Fixture::new();
        assert_eq!(
            fixture.string(&json!({"Fn::Sub": "dev-${Serial}"})),
            "dev-1234"
        );
        assert_eq!(
            fixture.string(&json!({"Fn::Sub": ["${Prefix}-${Serial}-${!Serial}", {"Prefix": {"Fn::Join": ["", ["x", "y"]]}}]})),
            "xy-1234-${Serial}"
        );
        assert_eq!(
            fixture.string(&json!({"Fn::Sub": ["${Serial}", {"Serial": "shadowed"}]})),
            "shadowed"
        );
    }

    #[test]
    fn find_in_map_looks_up_both_levels() {
        let fixture = Fixture::new();
        assert_eq!(
            fixture.string(&json!({"Fn::FindInMap": ["Table", "Seattle", "Url"]})),
            "https://example.aws"
        );
        assert_eq!(
            fixture.error(&json!({"Fn::FindInMap": ["Table", {"Ref": "City"}, "Url"]})),
            "V: mapping \"Table\" has no key \"Boston\""
        );
        assert_eq!(
            fixture.error(&json!({"Fn::FindInMap": [{"Ref": "City"}, "Seattle", "Url"]})),
            "V: Fn::FindInMap on undefined mapping \"Boston\""
        );
    }

    #[test]
    fn if_takes_the_branch_its_condition_chooses() {
        let fixture = Fixture::new();
        assert_eq!(fixture.string(&json!({"Fn::If": ["Yes", "a", "b"]})), "a");
        assert_eq!(fixture.string(&json!({"Fn::If": ["No", "a", "b"]})), "b");
        assert_eq!(
            fixture
                .eval(
                    &json!({"Fn::If": ["No", ["a"], {"Ref": "Groups"}]}),
                    Want::List
                )
                .unwrap(),
            json!(["g1", "g2"])
        );
    }

    #[test]
    fn an_untaken_branch_is_not_evaluated() {
        assert_eq!(
            Fixture::new().string(&json!({"Fn::If": ["Yes", "a", {"Fn::Select": [9, ["x"]]}]})),
            "a"
        );
    }

    #[test]
    fn documents_keep_json_types_and_evaluate_functions_inside() {
        let value = Fixture::new()
            .eval(
                &json!({"n": 1, "b": false, "z": null, "groups": {"Ref": "Groups"},
                       "parts": {"Fn::Split": [",", "x,y"]},
                       "r": [{"Fn::Sub": "t/${Serial}"}], "if": {"Fn::If": ["Yes", {"k": 2}, "no"]}}),
                Want::Document,
            )
            .unwrap();
        assert_eq!(
            value,
            json!({"n": 1, "b": false, "z": null, "groups": ["g1", "g2"], "parts": ["x", "y"],
                   "r": ["t/1234"], "if": {"k": 2}})
        );
    }

    #[test]
    fn exponential_substitution_is_stopped_by_the_budget() {
        let mut value = json!("0123456789abcdef");
        for _ in 0..40 {
            value = json!({"Fn::Sub": ["${x}${x}", {"x": value}]});
        }
        let err = Fixture::new().eval(&value, Want::Str).unwrap_err();
        assert!(matches!(err, TemplateError::OutputTooLarge { .. }), "{err}");
        assert!(err.to_string().ends_with(&format!(
            "evaluation would produce more than {MAX_EVALUATED_BYTES} bytes"
        )));
    }

    #[test]
    fn joining_a_huge_split_with_a_long_delimiter_is_stopped_before_allocating() {
        let long = "d".repeat(5000);
        let value = json!({"Fn::Join": [long, {"Fn::Split": [",", ",".repeat(5000)]}]});
        let err = Fixture::new().eval(&value, Want::Str).unwrap_err();
        assert!(matches!(err, TemplateError::OutputTooLarge { .. }), "{err}");
    }
}
