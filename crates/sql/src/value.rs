//! AWS IoT SQL values and what each operator does to them.
//!
//! The rules follow the operator and conversion tables of the AWS IoT SQL reference: a value
//! that cannot take part in an operation makes the result [`Value::Undefined`], never an error,
//! and Undefined spreads through every operator.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use crate::SqlVersion;
use crate::decimal::Decimal;

/// The longest string or array evaluation may build, in bytes or elements. Payloads are at most
/// 128 KB; the cap stops `lpad`/`replace`/`concat` from growing without bound.
pub(crate) const MAX_BUILT_LEN: usize = 1 << 20;

/// An AWS IoT SQL value.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// A missing field or the result of an operation on unsuitable types. Omitted from SELECT
    /// output; makes WHERE false.
    #[default]
    Undefined,
    /// JSON `null`; kept in SELECT output.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A 64-bit signed integer.
    Int(i64),
    /// A decimal number of up to 34 significant digits.
    Decimal(Decimal),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object; keys are kept sorted, as JSON output has them.
    Object(BTreeMap<String, Value>),
}

/// The binary operators of AWS IoT SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
    In,
}

impl BinaryOp {
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Rem => "%",
            BinaryOp::Eq => "=",
            BinaryOp::Ne => "<>",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::And => "AND",
            BinaryOp::Or => "OR",
            BinaryOp::In => "IN",
        }
    }
}

/// Whether `s` is a number AWS converts implicitly: `^-?\d+(\.\d+)?((?i)E-?\d+)?$`.
fn is_numeric_string(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if b.first() == Some(&b'-') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i > start
    };
    if !digits(&mut i) {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if !digits(&mut i) {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        if !digits(&mut i) {
            return false;
        }
    }
    i == b.len()
}

/// A number after implicit conversion: kept as Int when both sides of an operator are Int.
#[derive(Debug, Clone, Copy)]
enum Number {
    Int(i64),
    Decimal(Decimal),
}

impl Number {
    fn decimal(self) -> Decimal {
        match self {
            Number::Int(i) => Decimal::from_i64(i),
            Number::Decimal(d) => d,
        }
    }
}

impl Value {
    /// Converts parsed JSON. Under 2016-03-23 a whole-valued number written with a fraction
    /// (`10.0`) becomes Int, as AWS documents; 2015-10-08 keeps it Decimal.
    pub fn from_json(json: &serde_json::Value, version: SqlVersion) -> Value {
        match json {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Value::Int(i)
                } else if let Some(u) = n.as_u64() {
                    Decimal::new(i128::from(u), 0).map_or(Value::Undefined, Value::Decimal)
                } else {
                    match n.as_f64().and_then(Decimal::from_f64) {
                        Some(d) => Value::decimal_for(d, version),
                        None => Value::Undefined,
                    }
                }
            }
            serde_json::Value::String(s) => Value::String(s.clone()),
            serde_json::Value::Array(a) => {
                Value::Array(a.iter().map(|v| Value::from_json(v, version)).collect())
            }
            serde_json::Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v, version)))
                    .collect(),
            ),
        }
    }

    /// Converts JSON text known to be valid (a member of a scanned payload). A number of at
    /// most 15 significant digits, which a double holds exactly, is read directly as the
    /// decimal it spells, which is what going through a double would give, without the trip.
    pub(crate) fn from_json_text(text: &[u8], version: SqlVersion) -> Value {
        const EXACT_IN_A_DOUBLE: usize = 15;
        let is_number = matches!(text.first(), Some(b'-' | b'0'..=b'9'));
        if is_number && text.iter().filter(|b| b.is_ascii_digit()).count() <= EXACT_IN_A_DOUBLE {
            let Ok(text) = std::str::from_utf8(text) else {
                return Value::Undefined;
            };
            // JSON parsers read `-0` as a double, not an integer.
            if text != "-0"
                && let Ok(int) = text.parse::<i64>()
            {
                return Value::Int(int);
            }
            // The digit count bounds the mantissa; only the exponent can take the number out
            // of a double's normal range, where a double no longer holds it exactly (or at all).
            if let Ok(decimal) = text.parse::<Decimal>()
                && (decimal.is_zero() || decimal.to_f64().is_normal())
            {
                return Value::decimal_for(decimal, version);
            }
        }
        serde_json::from_slice(text).map_or(Value::Undefined, |json| {
            Value::from_json_owned(json, version)
        })
    }

    /// Like [`Value::from_json`], moving strings, arrays and objects instead of copying them.
    pub fn from_json_owned(json: serde_json::Value, version: SqlVersion) -> Value {
        match json {
            serde_json::Value::String(s) => Value::String(s),
            serde_json::Value::Array(a) => Value::Array(
                a.into_iter()
                    .map(|v| Value::from_json_owned(v, version))
                    .collect(),
            ),
            serde_json::Value::Object(o) => Value::Object(
                o.into_iter()
                    .map(|(k, v)| (k, Value::from_json_owned(v, version)))
                    .collect(),
            ),
            scalar => Value::from_json(&scalar, version),
        }
    }

    /// A decimal read from input (a literal or the payload), made Int when whole under
    /// 2016-03-23.
    pub(crate) fn decimal_for(d: Decimal, version: SqlVersion) -> Value {
        if version == SqlVersion::V2016_03_23
            && let Some(i) = d.to_i64_exact()
        {
            return Value::Int(i);
        }
        Value::Decimal(d)
    }

    /// The value as JSON, or `None` for Undefined. Undefined members of objects are omitted and
    /// Undefined array elements become `null`; a decimal beyond a double's range is Undefined.
    pub fn to_json(&self) -> Option<serde_json::Value> {
        self.clone().into_json()
    }

    /// Like [`Value::to_json`], moving strings, arrays and objects instead of copying them.
    pub fn into_json(self) -> Option<serde_json::Value> {
        Some(match self {
            Value::Undefined => return None,
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(b),
            Value::Int(i) => serde_json::Value::from(i),
            Value::Decimal(d) => {
                serde_json::Value::Number(serde_json::Number::from_f64(d.to_f64())?)
            }
            Value::String(s) => serde_json::Value::String(s),
            Value::Array(a) => serde_json::Value::Array(
                a.into_iter()
                    .map(|v| v.into_json().unwrap_or(serde_json::Value::Null))
                    .collect(),
            ),
            Value::Object(o) => serde_json::Value::Object(
                o.into_iter()
                    .filter_map(|(k, v)| Some((k, v.into_json()?)))
                    .collect(),
            ),
        })
    }

    /// The AWS type name, as used in documentation and messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Undefined => "Undefined",
            Value::Null => "Null",
            Value::Bool(_) => "Boolean",
            Value::Int(_) => "Int",
            Value::Decimal(_) => "Decimal",
            Value::String(_) => "String",
            Value::Array(_) => "Array",
            Value::Object(_) => "Object",
        }
    }

    /// Whether this is Undefined.
    pub fn is_undefined(&self) -> bool {
        matches!(self, Value::Undefined)
    }

    /// Implicit conversion to a number: Int and Decimal as they are, numeric strings as Decimal.
    fn to_number(&self) -> Option<Number> {
        match self {
            Value::Int(i) => Some(Number::Int(*i)),
            Value::Decimal(d) => Some(Number::Decimal(*d)),
            Value::String(s) if is_numeric_string(s) => s.parse().ok().map(Number::Decimal),
            _ => None,
        }
    }

    /// Implicit conversion to Decimal (Int, Decimal, numeric String).
    pub(crate) fn to_decimal(&self) -> Option<Decimal> {
        self.to_number().map(Number::decimal)
    }

    /// An integer argument of a function: Int, or a Decimal or numeric string floored, as AWS
    /// does for `substring` indices.
    pub(crate) fn to_int_floor(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            other => other
                .to_decimal()?
                .round_with(crate::decimal::Rounding::Floor)
                .to_i64_exact(),
        }
    }

    /// Implicit conversion to Boolean: Booleans and the strings "true"/"false" in any case.
    pub(crate) fn to_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        }
    }

    /// Conversion to String: strings as they are, numbers and Booleans printed, arrays and
    /// objects as JSON; Null and Undefined do not convert.
    pub(crate) fn to_sql_string(&self) -> Option<String> {
        match self {
            Value::Undefined | Value::Null => None,
            Value::String(s) => Some(s.clone()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::Decimal(d) => Some(d.to_string()),
            Value::Array(_) | Value::Object(_) => self.to_json().map(|j| j.to_string()),
        }
    }

    /// `self op other` under AWS's rules.
    pub(crate) fn binary(&self, op: BinaryOp, other: &Value) -> Value {
        match op {
            BinaryOp::Add => self.add(other),
            BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => {
                self.arithmetic(op, other)
            }
            BinaryOp::Eq => self.sql_eq(other).map_or(Value::Undefined, Value::Bool),
            BinaryOp::Ne => self
                .sql_eq(other)
                .map_or(Value::Undefined, |b| Value::Bool(!b)),
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
                match (self.to_decimal(), other.to_decimal()) {
                    (Some(a), Some(b)) => {
                        let ord = a.cmp(&b);
                        Value::Bool(match op {
                            BinaryOp::Lt => ord == Ordering::Less,
                            BinaryOp::Le => ord != Ordering::Greater,
                            BinaryOp::Gt => ord == Ordering::Greater,
                            _ => ord != Ordering::Less,
                        })
                    }
                    _ => Value::Undefined,
                }
            }
            BinaryOp::And => match (self.to_bool(), other.to_bool()) {
                (Some(a), Some(b)) => Value::Bool(a && b),
                _ => Value::Undefined,
            },
            BinaryOp::Or => match (self.to_bool(), other.to_bool()) {
                (Some(a), Some(b)) => Value::Bool(a || b),
                _ => Value::Undefined,
            },
            BinaryOp::In => match other {
                _ if self.is_undefined() => Value::Undefined,
                Value::Array(items) => {
                    Value::Bool(items.iter().any(|item| self.sql_eq(item) == Some(true)))
                }
                _ => Value::Undefined,
            },
        }
    }

    /// `+`: a String on either side concatenates, numbers add, anything else is Undefined.
    fn add(&self, other: &Value) -> Value {
        if matches!(self, Value::String(_)) || matches!(other, Value::String(_)) {
            return match (self.to_sql_string(), other.to_sql_string()) {
                (Some(a), Some(b)) if a.len() + b.len() <= MAX_BUILT_LEN => Value::String(a + &b),
                _ => Value::Undefined,
            };
        }
        self.arithmetic(BinaryOp::Add, other)
    }

    /// `+ - * / %` on numbers: Int with Int stays Int (falling back to Decimal on overflow,
    /// where AWS's Java engine is not documented), anything with a Decimal or a numeric string
    /// is Decimal; division by zero is Undefined.
    fn arithmetic(&self, op: BinaryOp, other: &Value) -> Value {
        let (Some(a), Some(b)) = (self.to_number(), other.to_number()) else {
            return Value::Undefined;
        };
        if let (Number::Int(x), Number::Int(y)) = (a, b) {
            let exact = match op {
                BinaryOp::Add => x.checked_add(y),
                BinaryOp::Sub => x.checked_sub(y),
                BinaryOp::Mul => x.checked_mul(y),
                BinaryOp::Div if y == 0 => return Value::Undefined,
                BinaryOp::Div => x.checked_div(y),
                BinaryOp::Rem if y == 0 => return Value::Undefined,
                BinaryOp::Rem => x.checked_rem(y),
                _ => None,
            };
            if let Some(r) = exact {
                return Value::Int(r);
            }
            if op == BinaryOp::Div {
                // Only i64::MIN / -1 gets here; its truncated quotient is 2^63.
                return Decimal::from_i64(x)
                    .div(Decimal::from_i64(y))
                    .map_or(Value::Undefined, Value::Decimal);
            }
        }
        let (x, y) = (a.decimal(), b.decimal());
        let result = match op {
            BinaryOp::Add => x.add(y),
            BinaryOp::Sub => x.sub(y),
            BinaryOp::Mul => x.mul(y),
            BinaryOp::Div => x.div(y),
            BinaryOp::Rem => x.rem(y),
            _ => None,
        };
        result.map_or(Value::Undefined, Value::Decimal)
    }

    /// Unary minus.
    pub(crate) fn neg(&self) -> Value {
        match self.to_number() {
            Some(Number::Int(i)) => match i.checked_neg() {
                Some(n) => Value::Int(n),
                None => Value::Decimal(Decimal::from_i64(i).checked_neg()),
            },
            Some(Number::Decimal(d)) => Value::Decimal(d.checked_neg()),
            None => Value::Undefined,
        }
    }

    /// `NOT`.
    pub(crate) fn not(&self) -> Value {
        self.to_bool().map_or(Value::Undefined, |b| Value::Bool(!b))
    }

    /// AWS's `=`: numbers numerically, arrays in order, objects ignoring key order, `None`
    /// (Undefined) when either side is Undefined, `false` for mismatched types.
    pub(crate) fn sql_eq(&self, other: &Value) -> Option<bool> {
        Some(match (self, other) {
            (Value::Undefined, _) | (_, Value::Undefined) => return None,
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Int(_) | Value::Decimal(_), Value::Int(_) | Value::Decimal(_)) => {
                self.to_decimal() == other.to_decimal()
            }
            (Value::String(a), Value::String(b)) => a == b,
            (Value::Array(a), Value::Array(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.sql_eq(y).unwrap_or(false))
            }
            (Value::Object(a), Value::Object(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .all(|(k, x)| b.get(k).is_some_and(|y| x.sql_eq(y).unwrap_or(false)))
            }
            _ => false,
        })
    }

    /// `value.name`: an object's member, Undefined for anything else.
    pub(crate) fn field(&self, name: &str) -> Value {
        match self {
            Value::Object(o) => o.get(name).cloned().unwrap_or(Value::Undefined),
            _ => Value::Undefined,
        }
    }

    /// `value[index]`: an array element by Int (0-based) or an object member by String.
    pub(crate) fn index(&self, index: &Value) -> Value {
        match (self, index) {
            (Value::Array(a), Value::Int(i)) => usize::try_from(*i)
                .ok()
                .and_then(|i| a.get(i))
                .cloned()
                .unwrap_or(Value::Undefined),
            (Value::Object(o), Value::String(k)) => o.get(k).cloned().unwrap_or(Value::Undefined),
            _ => Value::Undefined,
        }
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<Decimal> for Value {
    fn from(d: Decimal) -> Self {
        Value::Decimal(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Value {
        Value::Decimal(s.parse().unwrap())
    }

    fn s(x: &str) -> Value {
        Value::from(x)
    }

    fn json(text: &str) -> Value {
        Value::from_json(
            &serde_json::from_str(text).unwrap(),
            SqlVersion::V2016_03_23,
        )
    }

    #[test]
    fn json_text_converts_as_parsed_json_does() {
        for text in [
            "31.5",
            "48",
            "-0",
            "0.1",
            "1.0",
            "1e2",
            "-2.5E-3",
            "123456789012345",
            "1234567890.12345",
            "12345678901234567890",
            "3.14159265358979323846",
            "1e400",
            "1e-400",
            "1E308",
            "\"ok\"",
            "null",
            "true",
            "[1, 2.5]",
            "{\"a\": 1.0}",
        ] {
            for version in [SqlVersion::V2015_10_08, SqlVersion::V2016_03_23] {
                let parsed = serde_json::from_str::<serde_json::Value>(text)
                    .map_or(Value::Undefined, |json| Value::from_json(&json, version));
                assert_eq!(
                    Value::from_json_text(text.as_bytes(), version),
                    parsed,
                    "{text}"
                );
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn short_json_numbers_convert_as_parsed_json_does(
            mantissa in -999_999_999_999_999_i64..=999_999_999_999_999,
            exponent in -320_i32..320,
            point in 0_usize..16,
        ) {
            let digits = mantissa.unsigned_abs().to_string();
            let point = point.min(digits.len() - 1);
            let sign = if mantissa < 0 { "-" } else { "" };
            let (whole, fraction) = digits.split_at(digits.len() - point);
            let texts = [
                format!("{mantissa}"),
                format!("{mantissa}e{exponent}"),
                if point == 0 { format!("{sign}{whole}") } else { format!("{sign}{whole}.{fraction}") },
                format!("{sign}{whole}.{fraction}0E{exponent}"),
            ];
            for text in texts {
                for version in [SqlVersion::V2015_10_08, SqlVersion::V2016_03_23] {
                    let parsed = serde_json::from_str::<serde_json::Value>(&text)
                        .map_or(Value::Undefined, |json| Value::from_json(&json, version));
                    proptest::prop_assert_eq!(Value::from_json_text(text.as_bytes(), version), parsed, "{}", text);
                }
            }
        }
    }

    /// serde_json's default float parser may miss the nearest double by one unit in the last
    /// place; with `float_roundtrip` both ways read this number as the decimal it spells.
    #[test]
    fn a_number_the_fast_float_parser_misreads_converts_as_written() {
        let text = "-1103883732.250E-34";
        let expected = Value::Decimal(text.parse().unwrap());
        for version in [SqlVersion::V2015_10_08, SqlVersion::V2016_03_23] {
            let json: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(Value::from_json(&json, version), expected);
            assert_eq!(Value::from_json_text(text.as_bytes(), version), expected);
        }
    }

    #[test]
    fn owned_conversions_agree_with_borrowed_ones() {
        let json = serde_json::json!({"s": "x", "n": 1.5, "i": 3, "a": [1, "b", null, {"c": true}], "o": {"d": -2}});
        for version in [SqlVersion::V2015_10_08, SqlVersion::V2016_03_23] {
            let value = Value::from_json(&json, version);
            assert_eq!(Value::from_json_owned(json.clone(), version), value);
            assert_eq!(value.clone().into_json(), value.to_json());
        }
    }

    #[test]
    fn int_plus_int_is_int_and_mixing_gives_decimal() {
        assert_eq!(
            Value::Int(2).binary(BinaryOp::Add, &Value::Int(3)),
            Value::Int(5)
        );
        assert_eq!(Value::Int(2).binary(BinaryOp::Add, &dec("0.5")), dec("2.5"));
    }

    #[test]
    fn plus_with_a_string_concatenates() {
        assert_eq!(s("a").binary(BinaryOp::Add, &Value::Int(1)), s("a1"));
        assert_eq!(s("1").binary(BinaryOp::Add, &s("2")), s("12"));
        assert_eq!(s("a").binary(BinaryOp::Add, &Value::Null), Value::Undefined);
    }

    #[test]
    fn minus_on_numeric_strings_gives_decimal() {
        assert_eq!(s("10").binary(BinaryOp::Sub, &Value::Int(2)), dec("8"));
        assert_eq!(
            s("ten").binary(BinaryOp::Sub, &Value::Int(2)),
            Value::Undefined
        );
    }

    #[test]
    fn integer_division_truncates_and_division_by_zero_is_undefined() {
        assert_eq!(
            Value::Int(7).binary(BinaryOp::Div, &Value::Int(2)),
            Value::Int(3)
        );
        assert_eq!(
            Value::Int(-7).binary(BinaryOp::Div, &Value::Int(2)),
            Value::Int(-3)
        );
        assert_eq!(
            Value::Int(-7).binary(BinaryOp::Rem, &Value::Int(2)),
            Value::Int(-1)
        );
        assert_eq!(
            Value::Int(7).binary(BinaryOp::Div, &Value::Int(0)),
            Value::Undefined
        );
        assert_eq!(dec("7.0").binary(BinaryOp::Div, &Value::Int(2)), dec("3.5"));
    }

    #[test]
    fn integer_overflow_widens_to_decimal() {
        let r = Value::Int(i64::MAX).binary(BinaryOp::Add, &Value::Int(1));
        assert_eq!(r, dec("9223372036854775808"));
        let r = Value::Int(i64::MIN).binary(BinaryOp::Div, &Value::Int(-1));
        assert_eq!(r, dec("9223372036854775808"));
        assert_eq!(Value::Int(i64::MIN).neg(), dec("9223372036854775808"));
    }

    #[test]
    fn booleans_do_not_do_arithmetic() {
        assert_eq!(
            Value::Bool(true).binary(BinaryOp::Add, &Value::Int(1)),
            Value::Undefined
        );
    }

    #[test]
    fn undefined_spreads_through_every_operator() {
        for op in [
            BinaryOp::Add,
            BinaryOp::Sub,
            BinaryOp::Mul,
            BinaryOp::Div,
            BinaryOp::Rem,
            BinaryOp::Eq,
            BinaryOp::Ne,
            BinaryOp::Lt,
            BinaryOp::Ge,
            BinaryOp::And,
            BinaryOp::Or,
            BinaryOp::In,
        ] {
            assert_eq!(
                Value::Undefined.binary(op, &Value::Int(1)),
                Value::Undefined,
                "{op:?}"
            );
        }
        assert_eq!(Value::Undefined.neg(), Value::Undefined);
        assert_eq!(Value::Undefined.not(), Value::Undefined);
    }

    #[test]
    fn comparisons_convert_both_sides_to_decimal() {
        assert_eq!(
            s("10").binary(BinaryOp::Gt, &Value::Int(9)),
            Value::Bool(true)
        );
        assert_eq!(
            dec("1.5").binary(BinaryOp::Le, &Value::Int(1)),
            Value::Bool(false)
        );
        assert_eq!(s("a").binary(BinaryOp::Lt, &s("b")), Value::Undefined);
        assert_eq!(
            Value::Bool(true).binary(BinaryOp::Gt, &Value::Int(0)),
            Value::Undefined
        );
    }

    #[test]
    fn equality_is_numeric_structural_and_false_across_types() {
        assert_eq!(Value::Int(10).sql_eq(&dec("10.0")), Some(true));
        assert_eq!(json("[1,2]").sql_eq(&json("[1,2]")), Some(true));
        assert_eq!(json("[1,2]").sql_eq(&json("[2,1]")), Some(false));
        assert_eq!(
            json(r#"{"a":1,"b":2}"#).sql_eq(&json(r#"{"b":2,"a":1}"#)),
            Some(true)
        );
        assert_eq!(Value::Int(1).sql_eq(&s("1")), Some(false));
        assert_eq!(Value::Null.sql_eq(&Value::Null), Some(true));
        assert_eq!(
            Value::Int(1).binary(BinaryOp::Ne, &s("1")),
            Value::Bool(true)
        );
        assert_eq!(Value::Undefined.sql_eq(&Value::Undefined), None);
    }

    #[test]
    fn logic_accepts_booleans_and_boolean_strings_only() {
        assert_eq!(
            s("TRUE").binary(BinaryOp::And, &Value::Bool(true)),
            Value::Bool(true)
        );
        assert_eq!(
            s("false").binary(BinaryOp::Or, &Value::Bool(false)),
            Value::Bool(false)
        );
        assert_eq!(
            Value::Int(1).binary(BinaryOp::And, &Value::Bool(true)),
            Value::Undefined
        );
        assert_eq!(s("False").not(), Value::Bool(true));
        assert_eq!(Value::Int(0).not(), Value::Undefined);
    }

    #[test]
    fn in_tests_membership_with_equality() {
        assert_eq!(
            Value::Int(2).binary(BinaryOp::In, &json("[1,2.0]")),
            Value::Bool(true)
        );
        assert_eq!(
            s("x").binary(BinaryOp::In, &json(r#"["y"]"#)),
            Value::Bool(false)
        );
        assert_eq!(s("x").binary(BinaryOp::In, &s("x")), Value::Undefined);
    }

    #[test]
    fn only_plain_numeric_strings_convert_implicitly() {
        for ok in ["1", "-1", "1.5", "1e5", "1E-5", "-0.25e10"] {
            assert!(is_numeric_string(ok), "{ok}");
        }
        for bad in ["", "+1", "1.", ".5", "1e", "0x1", " 1", "1e+5", "NaN"] {
            assert!(!is_numeric_string(bad), "{bad}");
        }
    }

    #[test]
    fn whole_decimals_become_int_only_in_2016() {
        let ten: serde_json::Value = serde_json::from_str("10.0").unwrap();
        assert_eq!(
            Value::from_json(&ten, SqlVersion::V2016_03_23),
            Value::Int(10)
        );
        assert_eq!(Value::from_json(&ten, SqlVersion::V2015_10_08), dec("10"));
    }

    #[test]
    fn stringifying_gives_json_for_containers_and_nothing_for_null() {
        assert_eq!(json("[1,\"a\"]").to_sql_string().unwrap(), r#"[1,"a"]"#);
        assert_eq!(Value::Bool(true).to_sql_string().unwrap(), "true");
        assert_eq!(Value::Null.to_sql_string(), None);
    }

    #[test]
    fn undefined_members_are_dropped_from_json() {
        let mut o = BTreeMap::new();
        o.insert("a".to_owned(), Value::Undefined);
        o.insert("b".to_owned(), Value::Null);
        assert_eq!(
            Value::Object(o).to_json().unwrap(),
            serde_json::json!({"b": null})
        );
    }

    #[test]
    fn field_and_index_access_are_undefined_on_the_wrong_types() {
        let v = json(r#"{"a":[10,20]}"#);
        assert_eq!(v.field("a").index(&Value::Int(1)), Value::Int(20));
        assert_eq!(v.field("a").index(&Value::Int(2)), Value::Undefined);
        assert_eq!(v.field("a").index(&Value::Int(-1)), Value::Undefined);
        assert_eq!(v.index(&s("a")).index(&Value::Int(0)), Value::Int(10));
        assert_eq!(Value::Int(1).field("a"), Value::Undefined);
    }
}
