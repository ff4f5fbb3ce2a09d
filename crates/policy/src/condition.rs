//! The `Condition` element: IAM condition operators over connection keys.
//!
//! Every key Roost knows is a per-connection constant, so a condition is decided once, when a
//! policy is bound to a connection, never per packet.
//!
//! Semantics (IAM):
//! - every operator block and every key in it must hold;
//! - a key with several policy values holds if the request value matches any of them; a negated
//!   operator (`StringNotEquals`, `NotIpAddress`, …) holds if it matches none;
//! - an absent key makes a positive operator false and a negated one true, except that
//!   `…IfExists` makes any absent key true and `Null` tests presence itself;
//! - `ForAllValues:` holds if every request value satisfies the operator (vacuously true for no
//!   values), `ForAnyValue:` if at least one does (false for no values).

use std::net::IpAddr;

use crate::context::Context;
use crate::error::{JsonPath, PolicyError, Problem};
use crate::json::Node;
use crate::pattern::{Glob, Template, Wildcards};
use crate::variables::Key;

/// `ForAllValues:` / `ForAnyValue:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetQualifier {
    ForAllValues,
    ForAnyValue,
}

/// What an operator compares, apart from negation, set qualifier and `IfExists`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Test {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    /// `ArnEquals` and `ArnLike` behave identically in IAM.
    ArnLike,
    Bool,
    Null,
    NumericEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    IpAddress,
}

/// A parsed operator such as `ForAnyValue:StringNotLikeIfExists`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Operator {
    qualifier: Option<SetQualifier>,
    test: Test,
    negated: bool,
    if_exists: bool,
}

impl Operator {
    fn parse(text: &str) -> Option<Self> {
        let (qualifier, rest) = if let Some(rest) = text.strip_prefix("ForAllValues:") {
            (Some(SetQualifier::ForAllValues), rest)
        } else if let Some(rest) = text.strip_prefix("ForAnyValue:") {
            (Some(SetQualifier::ForAnyValue), rest)
        } else {
            (None, text)
        };
        let (base, if_exists) = match rest.strip_suffix("IfExists") {
            Some(base) => (base, true),
            None => (rest, false),
        };
        let (test, negated) = match base {
            "StringEquals" => (Test::StringEquals, false),
            "StringNotEquals" => (Test::StringEquals, true),
            "StringEqualsIgnoreCase" => (Test::StringEqualsIgnoreCase, false),
            "StringNotEqualsIgnoreCase" => (Test::StringEqualsIgnoreCase, true),
            "StringLike" => (Test::StringLike, false),
            "StringNotLike" => (Test::StringLike, true),
            "ArnEquals" | "ArnLike" => (Test::ArnLike, false),
            "ArnNotEquals" | "ArnNotLike" => (Test::ArnLike, true),
            "Bool" => (Test::Bool, false),
            "Null" => (Test::Null, false),
            "NumericEquals" => (Test::NumericEquals, false),
            "NumericNotEquals" => (Test::NumericEquals, true),
            "NumericLessThan" => (Test::NumericLessThan, false),
            "NumericLessThanEquals" => (Test::NumericLessThanEquals, false),
            "NumericGreaterThan" => (Test::NumericGreaterThan, false),
            "NumericGreaterThanEquals" => (Test::NumericGreaterThanEquals, false),
            "IpAddress" => (Test::IpAddress, false),
            "NotIpAddress" => (Test::IpAddress, true),
            _ => return None,
        };
        // `Null` tests presence itself: neither a set nor "if exists" means anything for it.
        if test == Test::Null && (if_exists || qualifier.is_some()) {
            return None;
        }
        Some(Self {
            qualifier,
            test,
            negated,
            if_exists,
        })
    }
}

/// One policy value, validated for its operator.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    /// String and ARN operators; may hold variables.
    Text(Template),
    Bool(bool),
    Number(f64),
    Network(Network),
}

/// An IP network from a CIDR block (a bare address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Network {
    address: IpAddr,
    prefix: u8,
}

impl Network {
    fn parse(text: &str) -> Option<Self> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr = address.parse().ok()?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) if prefix.chars().all(|c| c.is_ascii_digit()) => prefix.parse().ok()?,
            Some(_) => return None,
            None => max,
        };
        (prefix <= max).then_some(Self { address, prefix })
    }

    fn contains(self, ip: IpAddr) -> bool {
        match (self.address, ip.to_canonical()) {
            (IpAddr::V4(network), IpAddr::V4(ip)) => same_prefix(
                network.to_bits().into(),
                ip.to_bits().into(),
                32,
                self.prefix,
            ),
            (IpAddr::V6(network), IpAddr::V6(ip)) => {
                same_prefix(network.to_bits(), ip.to_bits(), 128, self.prefix)
            }
            _ => false,
        }
    }
}

fn same_prefix(a: u128, b: u128, width: u8, prefix: u8) -> bool {
    let shift = u32::from(width - prefix);
    a.checked_shr(shift).unwrap_or(0) == b.checked_shr(shift).unwrap_or(0)
}

/// One `"<operator>": {"<key>": <values>}` entry of a `Condition` element.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Condition {
    operator: Operator,
    key: Key,
    values: Vec<Value>,
}

/// Parses a statement's `Condition` element.
pub(crate) fn parse_block(node: &Node, path: &JsonPath) -> Result<Vec<Condition>, PolicyError> {
    let Node::Object(operators) = node else {
        return Err(path.error(Problem::WrongType {
            expected: "an object",
            found: node.kind(),
        }));
    };
    let mut conditions = Vec::new();
    for (operator_name, keys) in operators {
        let path = path.key(operator_name);
        let operator = Operator::parse(operator_name).ok_or_else(|| {
            path.error(Problem::UnknownOperator {
                operator: operator_name.clone(),
            })
        })?;
        let Node::Object(keys) = keys else {
            return Err(path.error(Problem::WrongType {
                expected: "an object of condition keys",
                found: keys.kind(),
            }));
        };
        for (key_name, values) in keys {
            let path = path.key(key_name);
            let key = Key::parse(key_name).ok_or_else(|| {
                path.error(Problem::UnknownConditionKey {
                    key: key_name.clone(),
                })
            })?;
            let values = parse_values(values, &path, &operator, operator_name)?;
            conditions.push(Condition {
                operator: operator.clone(),
                key,
                values,
            });
        }
    }
    Ok(conditions)
}

fn parse_values(
    node: &Node,
    path: &JsonPath,
    operator: &Operator,
    operator_name: &str,
) -> Result<Vec<Value>, PolicyError> {
    let items: Vec<(JsonPath, &Node)> = match node {
        Node::Array(items) if items.is_empty() => return Err(path.error(Problem::EmptyList)),
        Node::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| (path.index(i), item))
            .collect(),
        _ => vec![(path.clone(), node)],
    };
    items
        .into_iter()
        .map(|(path, item)| {
            let text = match item {
                Node::String(text) | Node::Number(text) => text.as_str(),
                Node::Bool(true) => "true",
                Node::Bool(false) => "false",
                _ => {
                    return Err(path.error(Problem::WrongType {
                        expected: "a string, number or boolean, or an array of them",
                        found: item.kind(),
                    }));
                }
            };
            parse_value(text, operator, operator_name).map_err(|problem| path.error(problem))
        })
        .collect()
}

fn parse_value(text: &str, operator: &Operator, operator_name: &str) -> Result<Value, Problem> {
    let invalid = |expected| Problem::InvalidConditionValue {
        operator: operator_name.to_owned(),
        expected,
        found: text.to_owned(),
    };
    match operator.test {
        Test::StringEquals | Test::StringEqualsIgnoreCase => {
            Template::parse(text, Wildcards::Literal).map(Value::Text)
        }
        Test::StringLike | Test::ArnLike => {
            Template::parse(text, Wildcards::Match).map(Value::Text)
        }
        Test::Bool | Test::Null => parse_bool(text)
            .map(Value::Bool)
            .ok_or_else(|| invalid("\"true\" or \"false\"")),
        Test::NumericEquals
        | Test::NumericLessThan
        | Test::NumericLessThanEquals
        | Test::NumericGreaterThan
        | Test::NumericGreaterThanEquals => parse_number(text)
            .map(Value::Number)
            .ok_or_else(|| invalid("a number")),
        Test::IpAddress => Network::parse(text)
            .map(Value::Network)
            .ok_or_else(|| invalid("an IP address or CIDR block")),
    }
}

fn parse_bool(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

fn parse_number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

/// A policy value with its variables substituted, ready to compare.
enum Bound {
    Text(String),
    Pattern(Glob),
    Arn(Vec<Glob>),
    Bool(bool),
    Number(f64),
    Network(Network),
}

impl Condition {
    /// Decides the condition for a connection; `None` if a policy value's variable does not
    /// resolve, which makes the whole statement inapplicable.
    pub(crate) fn evaluate(&self, ctx: &Context) -> Option<bool> {
        let bound = self
            .values
            .iter()
            .map(|value| self.bind(value, ctx))
            .collect::<Option<Vec<Bound>>>()?;
        let request = self.key.values(ctx);
        let operator = &self.operator;
        if operator.test == Test::Null {
            let absent = request.is_empty();
            return Some(
                bound
                    .iter()
                    .any(|b| matches!(b, Bound::Bool(v) if *v == absent)),
            );
        }
        if request.is_empty() {
            return Some(
                operator.if_exists
                    || match operator.qualifier {
                        None => operator.negated,
                        Some(SetQualifier::ForAllValues) => true,
                        Some(SetQualifier::ForAnyValue) => false,
                    },
            );
        }
        let matches_any = |value: &str| bound.iter().any(|b| matches(operator.test, b, value));
        let satisfies = |value: &str| matches_any(value) != operator.negated;
        Some(match operator.qualifier {
            // A plain operator on a multi-valued key compares every value, like IAM:
            // positive operators need one match, negated ones need none.
            None if operator.negated => request.iter().all(|value| satisfies(value)),
            None => request.iter().any(|value| satisfies(value)),
            Some(SetQualifier::ForAllValues) => request.iter().all(|value| satisfies(value)),
            Some(SetQualifier::ForAnyValue) => request.iter().any(|value| satisfies(value)),
        })
    }

    fn bind(&self, value: &Value, ctx: &Context) -> Option<Bound> {
        Some(match value {
            Value::Text(template) => {
                let text = template.bind(ctx)?;
                match self.operator.test {
                    Test::StringLike => Bound::Pattern(Glob::new(&text)),
                    Test::ArnLike if arn_components(&text).count() == ARN_COMPONENTS => {
                        Bound::Arn(arn_components(&text).map(Glob::new).collect())
                    }
                    // Not shaped like an ARN (e.g. just `*`): match the value as a whole.
                    Test::ArnLike => Bound::Pattern(Glob::new(&text)),
                    _ => Bound::Text(text),
                }
            }
            Value::Bool(value) => Bound::Bool(*value),
            Value::Number(value) => Bound::Number(*value),
            Value::Network(network) => Bound::Network(*network),
        })
    }
}

const ARN_COMPONENTS: usize = 6;

/// The six colon-separated parts of an ARN; the last keeps any further colons.
fn arn_components(arn: &str) -> impl Iterator<Item = &str> {
    arn.splitn(ARN_COMPONENTS, ':')
}

fn matches(test: Test, bound: &Bound, value: &str) -> bool {
    match (test, bound) {
        (Test::StringEquals, Bound::Text(text)) => text == value,
        (Test::StringEqualsIgnoreCase, Bound::Text(text)) => text
            .chars()
            .flat_map(char::to_lowercase)
            .eq(value.chars().flat_map(char::to_lowercase)),
        (Test::StringLike | Test::ArnLike, Bound::Pattern(glob)) => glob.matches(value),
        // IAM checks each ARN component on its own, so `*` never crosses a component's colon
        // (except inside the resource part, which may itself contain colons).
        (Test::ArnLike, Bound::Arn(components)) => {
            arn_components(value).count() == ARN_COMPONENTS
                && components
                    .iter()
                    .zip(arn_components(value))
                    .all(|(glob, part)| glob.matches(part))
        }
        (Test::Bool, Bound::Bool(expected)) => parse_bool(value) == Some(*expected),
        (Test::IpAddress, Bound::Network(network)) => {
            value.parse::<IpAddr>().is_ok_and(|ip| network.contains(ip))
        }
        (_, Bound::Number(expected)) => parse_number(value).is_some_and(|actual| match test {
            Test::NumericEquals => actual == *expected,
            Test::NumericLessThan => actual < *expected,
            Test::NumericLessThanEquals => actual <= *expected,
            Test::NumericGreaterThan => actual > *expected,
            Test::NumericGreaterThanEquals => actual >= *expected,
            _ => false,
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests;
