//! Evaluates expressions against one message.

use std::collections::BTreeMap;

use crate::SqlVersion;
use crate::ast::{CastType, Expr, Projection, SelectItem, Subquery};
use crate::context::{MessageContext, PayloadMember};
use crate::decimal::{Decimal, Rounding};
use crate::functions;
use crate::value::Value;

/// What an expression can see: the message, the statement's version and, inside a nested
/// query, the array element that names and `*` refer to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scope<'a> {
    pub(crate) ctx: &'a MessageContext,
    pub(crate) version: SqlVersion,
    row: Option<&'a Value>,
    variables: &'a Variables,
}

impl<'a> Scope<'a> {
    pub(crate) fn new(
        ctx: &'a MessageContext,
        version: SqlVersion,
        variables: &'a Variables,
    ) -> Self {
        Scope {
            ctx,
            version,
            row: None,
            variables,
        }
    }

    /// The payload (or the current element) as a value: Undefined when it is not JSON.
    pub(crate) fn payload(&self) -> Value {
        if let Some(row) = self.row {
            return row.clone();
        }
        self.ctx
            .payload_json()
            .map_or(Value::Undefined, |j| Value::from_json(j, self.version))
    }

    /// A top-level field, converting only that member of the payload.
    fn payload_field(&self, name: &str) -> Value {
        if let Some(row) = self.row {
            return row.field(name);
        }
        match self.ctx.payload_member(name) {
            Some(PayloadMember::Text(text)) => Value::from_json_text(text, self.version),
            Some(PayloadMember::Parsed(json)) => Value::from_json(json, self.version),
            None => Value::Undefined,
        }
    }

    /// The value of `expr`. Never fails: anything AWS cannot compute is Undefined.
    pub(crate) fn eval(&self, expr: &Expr) -> Value {
        match expr {
            Expr::Literal(v) => v.clone(),
            Expr::Payload => self.payload(),
            Expr::Ident(name) => self.payload_field(name),
            Expr::Variable(name) => self.variables.get(name).cloned().unwrap_or_default(),
            Expr::Field(base, name) => self.eval(base).field(name),
            Expr::Index(base, index) => self.eval(base).index(&self.eval(index)),
            Expr::Neg(x) => self.eval(x).neg(),
            Expr::Not(x) => self.eval(x).not(),
            Expr::Binary(op, a, b) => self.eval(a).binary(*op, &self.eval(b)),
            Expr::Call(function, args) => functions::call(self, *function, args),
            Expr::Cast(x, ty) => cast(&self.eval(x), *ty),
            Expr::Case {
                operand,
                arms,
                otherwise,
            } => {
                let v = self.eval(operand);
                if v.is_undefined() {
                    return Value::Undefined;
                }
                for (when, then) in arms {
                    if v.sql_eq(&self.eval(when)) == Some(true) {
                        return self.eval(then);
                    }
                }
                otherwise
                    .as_deref()
                    .map_or(Value::Undefined, |e| self.eval(e))
            }
            Expr::Object(members) => Value::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.clone(), self.eval(v)))
                    .collect(),
            ),
            Expr::Array(items) => Value::Array(items.iter().map(|v| self.eval(v)).collect()),
            Expr::Subquery(q) => self.subquery(q),
        }
    }

    /// A nested query: each element of the source array that passes the condition, projected.
    /// Undefined projections are skipped; a source that is not an array is Undefined.
    fn subquery(&self, q: &Subquery) -> Value {
        let Value::Array(elements) = self.eval(&q.source) else {
            return Value::Undefined;
        };
        let mut out = Vec::new();
        for element in &elements {
            let inner = Scope {
                ctx: self.ctx,
                version: self.version,
                row: Some(element),
                variables: self.variables,
            };
            if let Some(c) = &q.condition
                && inner.eval(c).to_bool() != Some(true)
            {
                continue;
            }
            let projected = match &q.projection {
                Projection::Value(e) => inner.eval(e),
                Projection::Items(items) => {
                    let mut object = BTreeMap::new();
                    for item in items {
                        match item {
                            SelectItem::All => {
                                if let Value::Object(members) = element {
                                    object.extend(members.clone());
                                }
                            }
                            SelectItem::Expr { expr, key } => {
                                let v = inner.eval(expr);
                                if !v.is_undefined() {
                                    object.insert(key.clone(), v);
                                }
                            }
                        }
                    }
                    Value::Object(object)
                }
            };
            if !projected.is_undefined() {
                out.push(projected);
            }
        }
        Value::Array(out)
    }
}

/// The values of a statement's SET variables for one message, which substitution templates
/// can read too (see [`crate::SubstitutionTemplate::render_with`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Variables(Vec<(String, Value)>);

impl Variables {
    /// The value of `@name` (without the `@`), if the SET clause assigns it.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    pub(crate) fn push(&mut self, name: String, value: Value) {
        self.0.push((name, value));
    }
}

/// `cast(v AS ty)`: explicit conversion, which unlike implicit conversion turns Booleans into
/// 1/0 and back, and floors decimals into Int.
pub(crate) fn cast(v: &Value, ty: CastType) -> Value {
    let number = |v: &Value| match v {
        Value::Bool(b) => Some(Decimal::from_i64(i64::from(*b))),
        other => other.to_decimal(),
    };
    match ty {
        CastType::String => v.to_sql_string().map_or(Value::Undefined, Value::String),
        CastType::Int => match v {
            Value::Int(i) => Value::Int(*i),
            other => number(other)
                .and_then(|d| d.round_with(Rounding::Floor).to_i64_exact())
                .map_or(Value::Undefined, Value::Int),
        },
        CastType::Decimal => number(v).map_or(Value::Undefined, Value::Decimal),
        CastType::Double => number(v)
            .and_then(|d| Decimal::from_f64(d.to_f64()))
            .map_or(Value::Undefined, Value::Decimal),
        CastType::Bool => match v {
            Value::Bool(b) => Value::Bool(*b),
            Value::Int(i) => Value::Bool(*i != 0),
            Value::Decimal(d) => Value::Bool(!d.is_zero()),
            Value::String(_) => v.to_bool().map_or(Value::Undefined, Value::Bool),
            _ => Value::Undefined,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Value {
        Value::Decimal(s.parse().unwrap())
    }

    #[test]
    fn cast_to_int_floors_decimals_and_numeric_strings() {
        assert_eq!(cast(&dec("2.7"), CastType::Int), Value::Int(2));
        assert_eq!(cast(&dec("-2.2"), CastType::Int), Value::Int(-3));
        assert_eq!(cast(&Value::from("12.9"), CastType::Int), Value::Int(12));
        assert_eq!(cast(&Value::from("abc"), CastType::Int), Value::Undefined);
        assert_eq!(cast(&Value::Bool(true), CastType::Int), Value::Int(1));
        assert_eq!(cast(&Value::Null, CastType::Int), Value::Undefined);
    }

    #[test]
    fn cast_to_string_prints_numbers_booleans_and_json() {
        assert_eq!(cast(&Value::Int(3), CastType::String), Value::from("3"));
        assert_eq!(cast(&dec("1.5"), CastType::String), Value::from("1.5"));
        assert_eq!(
            cast(&Value::Bool(false), CastType::String),
            Value::from("false")
        );
        assert_eq!(
            cast(&Value::Array(vec![Value::Int(1)]), CastType::String),
            Value::from("[1]")
        );
        assert_eq!(cast(&Value::Undefined, CastType::String), Value::Undefined);
    }

    #[test]
    fn cast_to_boolean_maps_zero_to_false() {
        assert_eq!(cast(&Value::Int(0), CastType::Bool), Value::Bool(false));
        assert_eq!(cast(&dec("0.5"), CastType::Bool), Value::Bool(true));
        assert_eq!(
            cast(&Value::from("TRUE"), CastType::Bool),
            Value::Bool(true)
        );
        assert_eq!(cast(&Value::from("yes"), CastType::Bool), Value::Undefined);
    }

    #[test]
    fn cast_to_decimal_and_double_accept_booleans() {
        assert_eq!(cast(&Value::Bool(true), CastType::Decimal), dec("1"));
        assert_eq!(cast(&Value::from("0.1"), CastType::Double), dec("0.1"));
        assert_eq!(cast(&Value::Int(7), CastType::Decimal), dec("7"));
    }
}
