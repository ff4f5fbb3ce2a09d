//! Intrinsic functions: the expression tree a template value parses into, type-checked and with
//! every reference to a parameter, mapping or condition resolved against the template's
//! declarations, so that evaluation can only fail on the values supplied.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::error::{FieldPath, TemplateError};
use crate::mapping::Mappings;
use crate::parameter::{PSEUDO_SPEC, ParameterSpec, ParameterType, is_pseudo_parameter};

/// The functions that yield a boolean and may appear only in conditions.
pub(crate) const CONDITION_FUNCTIONS: [&str; 4] = ["Fn::Equals", "Fn::And", "Fn::Or", "Fn::Not"];

/// What a position in the template accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    /// A string, or a function that yields one.
    Str,
    /// A literal list of strings, or a function that yields a list.
    List,
    /// Any JSON, as inside a raw-object `PolicyDocument`, with functions anywhere.
    Document,
}

impl Want {
    fn expected(self) -> &'static str {
        match self {
            Want::Str => "a string",
            Want::List => "a list of strings",
            Want::Document => "a JSON value",
        }
    }
}

/// What a template declares, for resolving references while parsing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scope<'a> {
    pub(crate) parameters: &'a BTreeMap<String, ParameterSpec>,
    pub(crate) mappings: &'a Mappings,
    pub(crate) conditions: &'a BTreeSet<String>,
    /// True inside the `Conditions` section, where (as in CloudFormation) `Fn::If` is not allowed;
    /// that keeps condition evaluation free of conditions it has not computed yet.
    pub(crate) in_conditions: bool,
}

/// A parsed template value and the path it came from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Expr {
    pub(crate) at: FieldPath,
    pub(crate) node: Node,
}

/// The shapes a template value takes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Str(String),
    /// A number, boolean or null inside a raw-object `PolicyDocument`.
    Scalar(Value),
    List(Vec<Expr>),
    /// An object inside a raw-object `PolicyDocument`.
    Object(BTreeMap<String, Expr>),
    Ref(String),
    Join {
        delimiter: String,
        items: Box<Expr>,
    },
    Select {
        index: Box<Expr>,
        items: Box<Expr>,
    },
    Split {
        delimiter: String,
        source: Box<Expr>,
    },
    Sub {
        parts: Vec<SubPart>,
        variables: BTreeMap<String, Expr>,
    },
    FindInMap {
        map: Box<Expr>,
        top: Box<Expr>,
        second: Box<Expr>,
    },
    If {
        condition: String,
        then: Box<Expr>,
        otherwise: Box<Expr>,
    },
}

/// A piece of an `Fn::Sub` template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SubPart {
    Text(String),
    /// `${Name}`: a variable of the `Fn::Sub` or a declared parameter.
    Variable(String),
}

impl Expr {
    /// The string, if this is a literal one.
    pub(crate) fn literal(&self) -> Option<&str> {
        match &self.node {
            Node::Str(text) => Some(text),
            _ => None,
        }
    }
}

/// What an intrinsic function yields, checked against what its position wants.
enum Yields {
    Str,
    List,
    /// `Fn::If`, whose branches were parsed for the wanted shape.
    AsWanted,
}

/// The function name and argument when `value` is an intrinsic call: an object with one key
/// that is `Ref` or starts with `Fn::`.
pub(crate) fn as_call(value: &Value) -> Option<(&str, &Value)> {
    let object = value.as_object()?;
    if object.len() != 1 {
        return None;
    }
    let (name, argument) = object.iter().next()?;
    (name == "Ref" || name.starts_with("Fn::")).then_some((name.as_str(), argument))
}

/// The JSON type of `value`, for error messages.
pub(crate) fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) if as_call(value).is_some() => "an intrinsic function",
        Value::Object(_) => "an object",
    }
}

/// Parses `value` at `at` for a position that accepts `want`.
pub(crate) fn parse(
    value: &Value,
    at: &FieldPath,
    want: Want,
    scope: &Scope<'_>,
) -> Result<Expr, TemplateError> {
    if let Some((name, argument)) = as_call(value) {
        return parse_call(name, argument, at, want, scope);
    }
    let node = match (value, want) {
        (Value::String(text), Want::Str | Want::Document) => Node::Str(text.clone()),
        (Value::Array(items), Want::List) => Node::List(parse_items(items, at, Want::Str, scope)?),
        (Value::Array(items), Want::Document) => {
            Node::List(parse_items(items, at, Want::Document, scope)?)
        }
        (Value::Object(fields), Want::Document) => Node::Object(
            fields
                .iter()
                .map(|(key, field)| Ok((key.clone(), parse(field, &at.key(key), want, scope)?)))
                .collect::<Result<_, TemplateError>>()?,
        ),
        (Value::Null | Value::Bool(_) | Value::Number(_), Want::Document) => {
            Node::Scalar(value.clone())
        }
        (other, want) => {
            return Err(TemplateError::WrongType {
                at: at.clone(),
                expected: want.expected(),
                found: describe(other),
            });
        }
    };
    Ok(Expr {
        at: at.clone(),
        node,
    })
}

fn parse_items(
    items: &[Value],
    at: &FieldPath,
    want: Want,
    scope: &Scope<'_>,
) -> Result<Vec<Expr>, TemplateError> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| parse(item, &at.index(i), want, scope))
        .collect()
}

fn parse_call(
    name: &str,
    argument: &Value,
    at: &FieldPath,
    want: Want,
    scope: &Scope<'_>,
) -> Result<Expr, TemplateError> {
    let call = Call {
        argument,
        at,
        arg_at: at.key(name),
        scope,
    };
    let (node, yields) = match name {
        "Ref" => call.reference()?,
        "Fn::Join" => call.join()?,
        "Fn::Select" => call.select()?,
        "Fn::Split" => call.split()?,
        "Fn::Sub" => call.sub()?,
        "Fn::FindInMap" => call.find_in_map()?,
        "Fn::If" => call.if_then_else(want)?,
        _ => {
            return Err(match CONDITION_FUNCTIONS.iter().find(|f| **f == name) {
                Some(function) => TemplateError::ConditionFunctionAsValue {
                    at: at.clone(),
                    function,
                },
                None => TemplateError::UnknownFunction {
                    at: at.clone(),
                    name: name.to_owned(),
                },
            });
        }
    };
    let mismatch = match (yields, want) {
        (Yields::List, Want::Str) => Some("a list"),
        (Yields::Str, Want::List) => Some("a string"),
        _ => None,
    };
    if let Some(found) = mismatch {
        return Err(TemplateError::WrongType {
            at: at.clone(),
            expected: want.expected(),
            found,
        });
    }
    Ok(Expr {
        at: at.clone(),
        node,
    })
}

/// One intrinsic call being parsed: `at` is the path of the `{"Fn::…": …}` object, `arg_at`
/// the path of its argument.
struct Call<'v, 's> {
    argument: &'v Value,
    at: &'v FieldPath,
    arg_at: FieldPath,
    scope: &'v Scope<'s>,
}

impl<'v> Call<'v, '_> {
    /// The argument as a list of exactly `N` values.
    fn arguments<const N: usize>(
        &self,
        function: &'static str,
        usage: &'static str,
    ) -> Result<[&'v Value; N], TemplateError> {
        let Value::Array(items) = self.argument else {
            return Err(TemplateError::InvalidArgument {
                at: self.at.clone(),
                function,
                reason: usage,
            });
        };
        let refs: Vec<&Value> = items.iter().collect();
        <[&Value; N]>::try_from(refs).map_err(|_| TemplateError::WrongArity {
            at: self.at.clone(),
            function,
            min: N,
            max: N,
            found: items.len(),
        })
    }

    fn parse(&self, value: &Value, position: usize, want: Want) -> Result<Expr, TemplateError> {
        parse(value, &self.arg_at.index(position), want, self.scope)
    }

    fn reference(&self) -> Result<(Node, Yields), TemplateError> {
        let name = literal_string(
            self.argument,
            &self.arg_at,
            "Ref",
            "expects the name of a parameter as a literal string",
        )?;
        let spec = self
            .scope
            .parameters
            .get(name)
            .or_else(|| is_pseudo_parameter(name).then_some(&PSEUDO_SPEC))
            .ok_or_else(|| TemplateError::UndefinedParameter {
                at: self.at.clone(),
                name: name.to_owned(),
            })?;
        let yields = match spec.ty {
            ParameterType::List => Yields::List,
            ParameterType::String | ParameterType::Number => Yields::Str,
        };
        Ok((Node::Ref(name.to_owned()), yields))
    }

    fn join(&self) -> Result<(Node, Yields), TemplateError> {
        const F: &str = "Fn::Join";
        let [delimiter, items] = self.arguments(F, "expects [delimiter, list of values]")?;
        let delimiter = literal_string(
            delimiter,
            &self.arg_at.index(0),
            F,
            "delimiter must be a literal string",
        )?;
        let node = Node::Join {
            delimiter: delimiter.to_owned(),
            items: Box::new(self.parse(items, 1, Want::List)?),
        };
        Ok((node, Yields::Str))
    }

    fn select(&self) -> Result<(Node, Yields), TemplateError> {
        const F: &str = "Fn::Select";
        const BAD_INDEX: &str = "index must be a non-negative integer";
        let [index, items] = self.arguments(F, "expects [index, list of values]")?;
        let index_at = self.arg_at.index(0);
        let bad_index = || TemplateError::InvalidArgument {
            at: index_at.clone(),
            function: F,
            reason: BAD_INDEX,
        };
        let index = match index {
            Value::Number(number) => {
                let index = number.as_u64().ok_or_else(bad_index)?;
                Expr {
                    at: index_at.clone(),
                    node: Node::Str(index.to_string()),
                }
            }
            Value::String(text) => {
                text.trim().parse::<usize>().map_err(|_| bad_index())?;
                Expr {
                    at: index_at.clone(),
                    node: Node::Str(text.clone()),
                }
            }
            other => self.parse(other, 0, Want::Str)?,
        };
        let node = Node::Select {
            index: Box::new(index),
            items: Box::new(self.parse(items, 1, Want::List)?),
        };
        Ok((node, Yields::Str))
    }

    fn split(&self) -> Result<(Node, Yields), TemplateError> {
        const F: &str = "Fn::Split";
        let [delimiter, source] = self.arguments(F, "expects [delimiter, string]")?;
        let delimiter_at = self.arg_at.index(0);
        let delimiter = literal_string(
            delimiter,
            &delimiter_at,
            F,
            "delimiter must be a literal string",
        )?;
        if delimiter.is_empty() {
            return Err(TemplateError::InvalidArgument {
                at: delimiter_at,
                function: F,
                reason: "delimiter must not be empty",
            });
        }
        let node = Node::Split {
            delimiter: delimiter.to_owned(),
            source: Box::new(self.parse(source, 1, Want::Str)?),
        };
        Ok((node, Yields::List))
    }

    fn sub(&self) -> Result<(Node, Yields), TemplateError> {
        const F: &str = "Fn::Sub";
        const USAGE: &str = "expects a string or [string, {variables}]";
        let (text, text_at, variables) = match self.argument {
            Value::String(text) => (text.as_str(), self.arg_at.clone(), None),
            Value::Array(_) => {
                let [text, variables] = self.arguments(F, USAGE)?;
                let text_at = self.arg_at.index(0);
                let text = literal_string(text, &text_at, F, "template must be a literal string")?;
                let variables = match variables {
                    Value::Object(fields) if as_call(variables).is_none() => fields,
                    _ => {
                        return Err(TemplateError::InvalidArgument {
                            at: self.arg_at.index(1),
                            function: F,
                            reason: "variables must be an object of names to values",
                        });
                    }
                };
                (text, text_at, Some(variables))
            }
            _ => {
                return Err(TemplateError::InvalidArgument {
                    at: self.at.clone(),
                    function: F,
                    reason: USAGE,
                });
            }
        };
        let variables_at = self.arg_at.index(1);
        let variables: BTreeMap<String, Expr> = variables
            .into_iter()
            .flatten()
            .map(|(name, value)| {
                let expr = parse(value, &variables_at.key(name), Want::Str, self.scope)?;
                Ok((name.clone(), expr))
            })
            .collect::<Result<_, TemplateError>>()?;
        let parts = sub_template(text).map_err(|reason| TemplateError::InvalidArgument {
            at: text_at.clone(),
            function: F,
            reason,
        })?;
        for part in &parts {
            let SubPart::Variable(name) = part else {
                continue;
            };
            if variables.contains_key(name) {
                continue;
            }
            let spec = self
                .scope
                .parameters
                .get(name)
                .or_else(|| is_pseudo_parameter(name).then_some(&PSEUDO_SPEC));
            match spec {
                Some(spec) if spec.ty == ParameterType::List => {
                    return Err(TemplateError::SubVariableIsList {
                        at: text_at,
                        name: name.clone(),
                    });
                }
                Some(_) => {}
                None => {
                    return Err(TemplateError::UndefinedSubVariable {
                        at: text_at,
                        name: name.clone(),
                    });
                }
            }
        }
        Ok((Node::Sub { parts, variables }, Yields::Str))
    }

    fn find_in_map(&self) -> Result<(Node, Yields), TemplateError> {
        let [map, top, second] = self.arguments(
            "Fn::FindInMap",
            "expects [mapping name, top-level key, second-level key]",
        )?;
        let map = self.parse(map, 0, Want::Str)?;
        let top = self.parse(top, 1, Want::Str)?;
        let second = self.parse(second, 2, Want::Str)?;
        // With literal names the lookup can be checked now rather than on every device.
        if let Some(name) = map.literal() {
            let table =
                self.scope
                    .mappings
                    .get(name)
                    .ok_or_else(|| TemplateError::UndefinedMapping {
                        at: self.at.clone(),
                        name: name.to_owned(),
                    })?;
            if let Some(top_key) = top.literal() {
                let row = table
                    .get(top_key)
                    .ok_or_else(|| TemplateError::MissingMappingKey {
                        at: self.at.clone(),
                        map: name.to_owned(),
                        key: top_key.to_owned(),
                    })?;
                if let Some(key) = second.literal().filter(|key| !row.contains_key(*key)) {
                    return Err(TemplateError::MissingMappingKey {
                        at: self.at.clone(),
                        map: format!("{name}.{top_key}"),
                        key: key.to_owned(),
                    });
                }
            }
        }
        let node = Node::FindInMap {
            map: Box::new(map),
            top: Box::new(top),
            second: Box::new(second),
        };
        Ok((node, Yields::Str))
    }

    fn if_then_else(&self, want: Want) -> Result<(Node, Yields), TemplateError> {
        const F: &str = "Fn::If";
        if self.scope.in_conditions {
            return Err(TemplateError::InvalidArgument {
                at: self.at.clone(),
                function: F,
                reason: "cannot be used inside Conditions",
            });
        }
        let [condition, then, otherwise] =
            self.arguments(F, "expects [condition name, value if true, value if false]")?;
        let condition = literal_string(
            condition,
            &self.arg_at.index(0),
            F,
            "condition name must be a literal string",
        )?;
        if !self.scope.conditions.contains(condition) {
            return Err(TemplateError::UndefinedCondition {
                at: self.at.clone(),
                name: condition.to_owned(),
            });
        }
        let node = Node::If {
            condition: condition.to_owned(),
            then: Box::new(self.parse(then, 1, want)?),
            otherwise: Box::new(self.parse(otherwise, 2, want)?),
        };
        Ok((node, Yields::AsWanted))
    }
}

/// `value` as a literal string, or `InvalidArgument` with `reason`.
pub(crate) fn literal_string<'v>(
    value: &'v Value,
    at: &FieldPath,
    function: &'static str,
    reason: &'static str,
) -> Result<&'v str, TemplateError> {
    value
        .as_str()
        .ok_or_else(|| TemplateError::InvalidArgument {
            at: at.clone(),
            function,
            reason,
        })
}

/// Splits an `Fn::Sub` template into text and `${Name}` variables; `${!Text}` is the literal
/// `${Text}`.
fn sub_template(text: &str) -> Result<Vec<SubPart>, &'static str> {
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        literal.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        if let Some(escaped) = after.strip_prefix('!') {
            literal.push_str("${");
            rest = escaped;
            continue;
        }
        let end = after
            .find('}')
            .ok_or("template has a \"${\" without a closing \"}\"")?;
        let name = &after[..end];
        if name.is_empty() {
            return Err("template has an empty \"${}\"");
        }
        if !literal.is_empty() {
            parts.push(SubPart::Text(std::mem::take(&mut literal)));
        }
        parts.push(SubPart::Variable(name.to_owned()));
        rest = &after[end + 1..];
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        parts.push(SubPart::Text(literal));
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::parameter::ParameterType;

    struct Fixture {
        parameters: BTreeMap<String, ParameterSpec>,
        mappings: Mappings,
        conditions: BTreeSet<String>,
    }

    impl Fixture {
        fn new() -> Self {
            let spec = |ty| ParameterSpec { ty, default: None };
            let parameters = [
                ("Name", spec(ParameterType::String)),
                ("Count", spec(ParameterType::Number)),
                ("Groups", spec(ParameterType::List)),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
            let mappings = [(
                "Table".to_owned(),
                [(
                    "Seattle".to_owned(),
                    [("Url".to_owned(), "https://example.aws".to_owned())].into(),
                )]
                .into(),
            )]
            .into();
            let conditions = ["IsProd".to_owned()].into();
            Self {
                parameters,
                mappings,
                conditions,
            }
        }

        fn scope(&self) -> Scope<'_> {
            Scope {
                parameters: &self.parameters,
                mappings: &self.mappings,
                conditions: &self.conditions,
                in_conditions: false,
            }
        }

        fn parse(&self, value: &Value, want: Want) -> Result<Expr, TemplateError> {
            parse(value, &FieldPath::root().key("V"), want, &self.scope())
        }

        fn error(&self, value: &Value, want: Want) -> String {
            match self.parse(value, want) {
                Ok(expr) => panic!("parsed: {expr:?}"),
                Err(err) => err.to_string(),
            }
        }
    }

    #[test]
    fn a_ref_to_a_declared_parameter_parses() {
        let expr = Fixture::new()
            .parse(&json!({"Ref": "Name"}), Want::Str)
            .unwrap();
        assert_eq!(expr.node, Node::Ref("Name".into()));
    }

    #[test]
    fn a_ref_to_an_undefined_parameter_names_it() {
        assert_eq!(
            Fixture::new().error(&json!({"Ref": "Foo"}), Want::Str),
            "V: Ref to undefined parameter \"Foo\""
        );
    }

    #[test]
    fn a_ref_needs_a_literal_name() {
        assert_eq!(
            Fixture::new().error(&json!({"Ref": ["Name"]}), Want::Str),
            "V.Ref: Ref expects the name of a parameter as a literal string"
        );
    }

    #[test]
    fn a_list_parameter_is_not_a_string() {
        let fixture = Fixture::new();
        assert_eq!(
            fixture.error(&json!({"Ref": "Groups"}), Want::Str),
            "V: expected a string, found a list"
        );
        assert!(fixture.parse(&json!({"Ref": "Groups"}), Want::List).is_ok());
        assert_eq!(
            fixture.error(&json!({"Ref": "Name"}), Want::List),
            "V: expected a list of strings, found a string"
        );
    }

    #[test]
    fn an_unknown_function_is_rejected_with_its_name() {
        assert_eq!(
            Fixture::new().error(&json!({"Fn::GetAtt": ["thing", "Arn"]}), Want::Str),
            "V: unknown function \"Fn::GetAtt\""
        );
    }

    #[test]
    fn condition_functions_are_not_values() {
        assert_eq!(
            Fixture::new().error(&json!({"Fn::Equals": ["a", "b"]}), Want::Str),
            "V: Fn::Equals is a condition function, allowed only in Conditions and inside other condition functions"
        );
    }

    #[test]
    fn join_takes_a_literal_delimiter_and_a_list() {
        let fixture = Fixture::new();
        let expr = fixture
            .parse(
                &json!({"Fn::Join": ["-", ["a", {"Ref": "Name"}]]}),
                Want::Str,
            )
            .unwrap();
        assert!(matches!(expr.node, Node::Join { ref delimiter, .. } if delimiter == "-"));
        assert_eq!(
            fixture.error(&json!({"Fn::Join": ["-", ["a"], "b"]}), Want::Str),
            "V: Fn::Join takes 2 arguments, found 3"
        );
        assert_eq!(
            fixture.error(&json!({"Fn::Join": "-"}), Want::Str),
            "V: Fn::Join expects [delimiter, list of values]"
        );
        assert_eq!(
            fixture.error(&json!({"Fn::Join": [{"Ref": "Name"}, ["a"]]}), Want::Str),
            "V.Fn::Join[0]: Fn::Join delimiter must be a literal string"
        );
        assert_eq!(
            fixture.error(&json!({"Fn::Join": ["-", "a"]}), Want::Str),
            "V.Fn::Join[1]: expected a list of strings, found a string"
        );
        assert_eq!(
            fixture.error(&json!({"Fn::Join": ["-", ["a", 1]]}), Want::Str),
            "V.Fn::Join[1][1]: expected a string, found a number"
        );
    }

    #[test]
    fn errors_deep_in_nested_functions_carry_the_full_path() {
        assert_eq!(
            Fixture::new().error(
                &json!({"Fn::Join": ["", ["x", {"Fn::Select": [0, {"Fn::Split": [",", {"Ref": "Nope"}]}]}]]}),
                Want::Str
            ),
            "V.Fn::Join[1][1].Fn::Select[1].Fn::Split[1]: Ref to undefined parameter \"Nope\""
        );
    }

    #[test]
    fn select_checks_a_literal_index() {
        let fixture = Fixture::new();
        assert!(
            fixture
                .parse(&json!({"Fn::Select": [1, ["a", "b"]]}), Want::Str)
                .is_ok()
        );
        assert!(
            fixture
                .parse(&json!({"Fn::Select": ["1", ["a", "b"]]}), Want::Str)
                .is_ok()
        );
        assert!(
            fixture
                .parse(
                    &json!({"Fn::Select": [{"Ref": "Count"}, {"Ref": "Groups"}]}),
                    Want::Str
                )
                .is_ok()
        );
        assert_eq!(
            fixture.error(&json!({"Fn::Select": [-1, ["a"]]}), Want::Str),
            "V.Fn::Select[0]: Fn::Select index must be a non-negative integer"
        );
        assert_eq!(
            fixture.error(&json!({"Fn::Select": ["one", ["a"]]}), Want::Str),
            "V.Fn::Select[0]: Fn::Select index must be a non-negative integer"
        );
        assert_eq!(
            fixture.error(&json!({"Fn::Select": [0]}), Want::Str),
            "V: Fn::Select takes 2 arguments, found 1"
        );
    }

    #[test]
    fn split_yields_a_list_and_needs_a_delimiter() {
        let fixture = Fixture::new();
        assert!(
            fixture
                .parse(&json!({"Fn::Split": [",", "a,b"]}), Want::List)
                .is_ok()
        );
        assert_eq!(
            fixture.error(&json!({"Fn::Split": [",", "a,b"]}), Want::Str),
            "V: expected a string, found a list"
        );
        assert_eq!(
            fixture.error(&json!({"Fn::Split": ["", "a,b"]}), Want::List),
            "V.Fn::Split[0]: Fn::Split delimiter must not be empty"
        );
    }

    #[test]
    fn sub_templates_split_into_text_and_variables() {
        assert_eq!(
            sub_template("a-${Name}-${!Literal}-$x-${B}").unwrap(),
            vec![
                SubPart::Text("a-".into()),
                SubPart::Variable("Name".into()),
                SubPart::Text("-${Literal}-$x-".into()),
                SubPart::Variable("B".into()),
            ]
        );
        assert_eq!(sub_template("").unwrap(), vec![]);
        assert!(sub_template("${open").is_err());
        assert!(sub_template("${}").is_err());
    }

    #[test]
    fn sub_variables_must_be_declared() {
        let fixture = Fixture::new();
        assert!(
            fixture
                .parse(&json!({"Fn::Sub": "thing-${Name}"}), Want::Str)
                .is_ok()
        );
        assert!(
            fixture
                .parse(
                    &json!({"Fn::Sub": ["${X}-${Name}", {"X": {"Ref": "Count"}}]}),
                    Want::Str
                )
                .is_ok()
        );
        assert_eq!(
            fixture.error(&json!({"Fn::Sub": "thing-${Other}"}), Want::Str),
            "V.Fn::Sub: Fn::Sub variable \"Other\" is neither in the variable map nor a declared parameter"
        );
        assert_eq!(
            fixture.error(&json!({"Fn::Sub": "${Groups}"}), Want::Str),
            "V.Fn::Sub: Fn::Sub variable \"Groups\" is a list parameter; only strings can be substituted"
        );
        assert_eq!(
            fixture.error(&json!({"Fn::Sub": ["${X", {}]}), Want::Str),
            "V.Fn::Sub[0]: Fn::Sub template has a \"${\" without a closing \"}\""
        );
        assert_eq!(
            fixture.error(&json!({"Fn::Sub": ["x", ["y"]]}), Want::Str),
            "V.Fn::Sub[1]: Fn::Sub variables must be an object of names to values"
        );
        assert_eq!(
            fixture.error(&json!({"Fn::Sub": 3}), Want::Str),
            "V: Fn::Sub expects a string or [string, {variables}]"
        );
        assert_eq!(
            fixture.error(
                &json!({"Fn::Sub": ["x", {"X": {"Ref": "Nope"}}]}),
                Want::Str
            ),
            "V.Fn::Sub[1].X: Ref to undefined parameter \"Nope\""
        );
    }

    #[test]
    fn find_in_map_checks_literal_names_against_the_mappings() {
        let fixture = Fixture::new();
        assert!(
            fixture
                .parse(
                    &json!({"Fn::FindInMap": ["Table", {"Ref": "Name"}, "Url"]}),
                    Want::Str
                )
                .is_ok()
        );
        assert_eq!(
            fixture.error(
                &json!({"Fn::FindInMap": ["Nope", "Seattle", "Url"]}),
                Want::Str
            ),
            "V: Fn::FindInMap on undefined mapping \"Nope\""
        );
        assert_eq!(
            fixture.error(
                &json!({"Fn::FindInMap": ["Table", "Boston", "Url"]}),
                Want::Str
            ),
            "V: mapping \"Table\" has no key \"Boston\""
        );
        assert_eq!(
            fixture.error(
                &json!({"Fn::FindInMap": ["Table", "Seattle", "Nope"]}),
                Want::Str
            ),
            "V: mapping \"Table.Seattle\" has no key \"Nope\""
        );
        assert!(
            fixture
                .parse(
                    &json!({"Fn::FindInMap": [{"Ref": "Name"}, "a", "b"]}),
                    Want::Str
                )
                .is_ok()
        );
    }

    #[test]
    fn if_needs_a_declared_condition_and_takes_the_wanted_shape() {
        let fixture = Fixture::new();
        assert!(
            fixture
                .parse(
                    &json!({"Fn::If": ["IsProd", ["a"], {"Ref": "Groups"}]}),
                    Want::List
                )
                .is_ok()
        );
        assert_eq!(
            fixture.error(&json!({"Fn::If": ["Nope", "a", "b"]}), Want::Str),
            "V: undefined condition \"Nope\""
        );
        assert_eq!(
            fixture.error(&json!({"Fn::If": ["IsProd", "a", ["b"]]}), Want::Str),
            "V.Fn::If[2]: expected a string, found a list"
        );
        assert_eq!(
            fixture.error(&json!({"Fn::If": ["IsProd", "a"]}), Want::Str),
            "V: Fn::If takes 3 arguments, found 2"
        );
    }

    #[test]
    fn if_is_not_allowed_inside_conditions() {
        let fixture = Fixture::new();
        let scope = Scope {
            in_conditions: true,
            ..fixture.scope()
        };
        let err = parse(
            &json!({"Fn::If": ["IsProd", "a", "b"]}),
            &FieldPath::root().key("C"),
            Want::Str,
            &scope,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "C: Fn::If cannot be used inside Conditions"
        );
    }

    #[test]
    fn documents_take_any_json_with_functions_anywhere() {
        let expr = Fixture::new()
            .parse(
                &json!({"Version": "2012-10-17", "N": 1, "B": true, "Z": null,
                       "Statement": [{"Resource": {"Fn::Sub": "arn:${Name}"}}]}),
                Want::Document,
            )
            .unwrap();
        let Node::Object(fields) = expr.node else {
            panic!("not an object");
        };
        assert_eq!(fields["N"].node, Node::Scalar(json!(1)));
        assert_eq!(fields["Statement"].at.as_str(), "V.Statement");
    }

    #[test]
    fn non_strings_are_rejected_where_strings_are_wanted() {
        let fixture = Fixture::new();
        assert_eq!(
            fixture.error(&json!(5), Want::Str),
            "V: expected a string, found a number"
        );
        assert_eq!(
            fixture.error(&json!({"a": "b"}), Want::Str),
            "V: expected a string, found an object"
        );
        assert_eq!(
            fixture.error(&json!(null), Want::List),
            "V: expected a list of strings, found null"
        );
    }

    #[test]
    fn an_object_with_more_keys_than_a_call_is_not_a_call() {
        assert_eq!(as_call(&json!({"Ref": "a", "b": 1})), None);
        assert_eq!(as_call(&json!({"Name": "a"})), None);
        assert_eq!(as_call(&json!({"Ref": "a"})), Some(("Ref", &json!("a"))));
    }
}
