//! The AWS IoT SQL functions: which exist, their arity, the version that added them, and what
//! they compute. A function given arguments of the wrong type returns Undefined, as on AWS.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::SqlVersion;
use crate::ast::Expr;
use crate::decimal::{Decimal, Rounding};
use crate::error::ParseErrorKind;
use crate::eval::Scope;
use crate::time_format;
use crate::value::{BinaryOp, MAX_BUILT_LEN, Value};
use regex::{Captures, Regex, RegexBuilder};

/// A function AWS IoT SQL knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Function {
    Topic,
    ClientId,
    Principal,
    Timestamp,
    TraceId,
    NewUuid,
    AccountId,
    SqlVersion,
    SourceIp,
    Rand,
    Encode,
    Decode,
    Get,
    Concat,
    Lower,
    Upper,
    Trim,
    Ltrim,
    Rtrim,
    Lpad,
    Rpad,
    Replace,
    StartsWith,
    EndsWith,
    Length,
    NumBytes,
    IndexOf,
    Substring,
    Chr,
    IsUndefined,
    IsNull,
    Nanvl,
    Abs,
    Ceil,
    Floor,
    Round,
    Sign,
    Trunc,
    Mod,
    Remainder,
    Power,
    Sqrt,
    Log,
    Ln,
    Exp,
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Atan2,
    Sinh,
    Cosh,
    Tanh,
    BitAnd,
    BitOr,
    BitXor,
    BitNot,
    RegexpMatches,
    RegexpReplace,
    RegexpSubstr,
    ParseTime,
    TimeToEpoch,
    GetMqttProperty,
    GetUserProperties,
    GetThingShadow,
    AwsLambda,
    GetDynamodb,
    GetSecret,
    MachineLearningPredict,
}

/// A function's name as AWS writes it, its arity and the version that added it.
#[derive(Debug)]
struct Spec {
    function: Function,
    name: &'static str,
    min: usize,
    max: usize,
    arity: &'static str,
    since: SqlVersion,
}

const V15: SqlVersion = SqlVersion::V2015_10_08;
const V16: SqlVersion = SqlVersion::V2016_03_23;

macro_rules! spec {
    ($f:ident, $name:literal, $min:literal ..= $max:expr, $arity:literal, $since:ident) => {
        Spec {
            function: Function::$f,
            name: $name,
            min: $min,
            max: $max,
            arity: $arity,
            since: $since,
        }
    };
}

const SPECS: &[Spec] = &[
    spec!(Topic, "topic", 0..=1, "0 or 1", V15),
    spec!(ClientId, "clientid", 0..=0, "0", V15),
    spec!(Principal, "principal", 0..=0, "0", V15),
    spec!(Timestamp, "timestamp", 0..=0, "0", V15),
    spec!(TraceId, "traceid", 0..=0, "0", V15),
    spec!(NewUuid, "newuuid", 0..=0, "0", V15),
    spec!(AccountId, "accountid", 0..=0, "0", V15),
    spec!(SqlVersion, "sql_version", 0..=0, "0", V15),
    spec!(SourceIp, "sourceip", 0..=0, "0", V15),
    spec!(Rand, "rand", 0..=0, "0", V15),
    spec!(Encode, "encode", 2..=2, "2", V16),
    spec!(Decode, "decode", 2..=2, "2", V16),
    spec!(Get, "get", 2..=2, "2", V15),
    spec!(Concat, "concat", 0..=usize::MAX, "any number of", V15),
    spec!(Lower, "lower", 1..=1, "1", V15),
    spec!(Upper, "upper", 1..=1, "1", V15),
    spec!(Trim, "trim", 1..=1, "1", V15),
    spec!(Ltrim, "ltrim", 1..=1, "1", V15),
    spec!(Rtrim, "rtrim", 1..=1, "1", V15),
    spec!(Lpad, "lpad", 2..=2, "2", V15),
    spec!(Rpad, "rpad", 2..=2, "2", V15),
    spec!(Replace, "replace", 3..=3, "3", V15),
    spec!(StartsWith, "startswith", 2..=2, "2", V15),
    spec!(EndsWith, "endswith", 2..=2, "2", V15),
    spec!(Length, "length", 1..=1, "1", V16),
    spec!(NumBytes, "numbytes", 1..=1, "1", V16),
    spec!(IndexOf, "indexof", 2..=2, "2", V16),
    spec!(Substring, "substring", 2..=3, "2 or 3", V15),
    spec!(Chr, "chr", 1..=1, "1", V15),
    spec!(IsUndefined, "isUndefined", 1..=1, "1", V16),
    spec!(IsNull, "isNull", 1..=1, "1", V15),
    spec!(Nanvl, "nanvl", 2..=2, "2", V15),
    spec!(Abs, "abs", 1..=1, "1", V15),
    spec!(Ceil, "ceil", 1..=1, "1", V15),
    spec!(Floor, "floor", 1..=1, "1", V15),
    spec!(Round, "round", 1..=1, "1", V15),
    spec!(Sign, "sign", 1..=1, "1", V15),
    spec!(Trunc, "trunc", 2..=2, "2", V15),
    spec!(Mod, "mod", 2..=2, "2", V15),
    spec!(Remainder, "remainder", 2..=2, "2", V15),
    spec!(Power, "power", 2..=2, "2", V15),
    spec!(Sqrt, "sqrt", 1..=1, "1", V15),
    spec!(Log, "log", 1..=1, "1", V15),
    spec!(Ln, "ln", 1..=1, "1", V15),
    spec!(Exp, "exp", 1..=1, "1", V15),
    spec!(Sin, "sin", 1..=1, "1", V15),
    spec!(Cos, "cos", 1..=1, "1", V15),
    spec!(Tan, "tan", 1..=1, "1", V15),
    spec!(Asin, "asin", 1..=1, "1", V15),
    spec!(Acos, "acos", 1..=1, "1", V15),
    spec!(Atan, "atan", 1..=1, "1", V15),
    spec!(Atan2, "atan2", 2..=2, "2", V15),
    spec!(Sinh, "sinh", 1..=1, "1", V15),
    spec!(Cosh, "cosh", 1..=1, "1", V15),
    spec!(Tanh, "tanh", 1..=1, "1", V15),
    spec!(BitAnd, "bitand", 2..=2, "2", V15),
    spec!(BitOr, "bitor", 2..=2, "2", V15),
    spec!(BitXor, "bitxor", 2..=2, "2", V15),
    spec!(BitNot, "bitnot", 1..=1, "1", V15),
    spec!(RegexpMatches, "regexp_matches", 2..=2, "2", V15),
    spec!(RegexpReplace, "regexp_replace", 3..=3, "3", V15),
    spec!(RegexpSubstr, "regexp_substr", 2..=2, "2", V15),
    spec!(ParseTime, "parse_time", 2..=3, "2 or 3", V16),
    spec!(TimeToEpoch, "time_to_epoch", 2..=2, "2", V16),
    spec!(GetMqttProperty, "get_mqtt_property", 1..=1, "1", V16),
    spec!(
        GetUserProperties,
        "get_user_properties",
        0..=1,
        "0 or 1",
        V16
    ),
    spec!(GetThingShadow, "get_thing_shadow", 2..=3, "2 or 3", V16),
    spec!(AwsLambda, "aws_lambda", 2..=2, "2", V15),
    spec!(GetDynamodb, "get_dynamodb", 4..=6, "4 or 6", V15),
    spec!(GetSecret, "get_secret", 3..=4, "3 or 4", V15),
    spec!(
        MachineLearningPredict,
        "machinelearning_predict",
        3..=3,
        "3",
        V15
    ),
];

/// AWS functions refused at parse time, with the reason: better a clear error at
/// `CreateTopicRule` than a rule that silently behaves differently from AWS.
const REFUSED: &[(&str, &str)] = &[
    ("md2", "hash functions are not implemented"),
    ("md5", "hash functions are not implemented"),
    ("sha1", "hash functions are not implemented"),
    ("sha224", "hash functions are not implemented"),
    ("sha256", "hash functions are not implemented"),
    ("sha384", "hash functions are not implemented"),
    ("sha512", "hash functions are not implemented"),
    ("transform", "it is not implemented"),
    (
        "get_registry_data",
        "it needs the thing registry, which SQL evaluation cannot reach",
    ),
];

/// The function called `name` (in any case), or why there is none.
pub(crate) fn lookup(name: &str) -> Result<Function, ParseErrorKind> {
    if let Some(spec) = SPECS.iter().find(|s| s.name.eq_ignore_ascii_case(name)) {
        return Ok(spec.function);
    }
    if let Some((_, reason)) = REFUSED.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
        return Err(ParseErrorKind::UnsupportedFunction {
            name: name.to_owned(),
            reason,
        });
    }
    Err(ParseErrorKind::UnknownFunction(name.to_owned()))
}

impl Function {
    fn spec(self) -> &'static Spec {
        // Every variant has a row; the fallback only keeps this total.
        SPECS
            .iter()
            .find(|s| s.function == self)
            .unwrap_or(&SPECS[0])
    }

    /// The name as AWS documents it.
    pub(crate) fn name(self) -> &'static str {
        self.spec().name
    }

    /// `name()`, for error messages.
    pub(crate) fn name_with_parens(self) -> &'static str {
        match self {
            Function::Encode => "encode()",
            Function::Decode => "decode()",
            Function::Length => "length()",
            Function::NumBytes => "numbytes()",
            Function::IndexOf => "indexof()",
            Function::IsUndefined => "isUndefined()",
            Function::ParseTime => "parse_time()",
            Function::TimeToEpoch => "time_to_epoch()",
            Function::GetMqttProperty => "get_mqtt_property()",
            Function::GetUserProperties => "get_user_properties()",
            Function::GetThingShadow => "get_thing_shadow()",
            _ => "this function",
        }
    }

    /// Minimum and maximum argument counts, and how an error message says them.
    pub(crate) fn arity(self) -> (usize, usize, &'static str) {
        let s = self.spec();
        (s.min, s.max, s.arity)
    }

    /// The first version that has this function.
    pub(crate) fn since(self) -> SqlVersion {
        self.spec().since
    }
}

/// A string built by a function, or Undefined when it would exceed [`MAX_BUILT_LEN`].
fn built(s: String) -> Value {
    if s.len() > MAX_BUILT_LEN {
        Value::Undefined
    } else {
        Value::String(s)
    }
}

fn string_arg(v: &Value) -> Option<String> {
    v.to_sql_string()
}

/// A decimal result computed in double, as AWS does for these functions.
fn via_f64(v: &Value, op: fn(f64) -> f64) -> Value {
    v.to_decimal()
        .and_then(|d| Decimal::from_f64(op(d.to_f64())))
        .map_or(Value::Undefined, Value::Decimal)
}

/// Int when the decimal is whole and fits, otherwise Decimal.
fn int_if_whole(d: Decimal) -> Value {
    d.to_i64_exact().map_or(Value::Decimal(d), Value::Int)
}

fn rounded(v: &Value, mode: Rounding) -> Value {
    match v {
        Value::Int(i) => Value::Int(*i),
        other => other
            .to_decimal()
            .map_or(Value::Undefined, |d| int_if_whole(d.round_with(mode))),
    }
}

fn bitwise(a: &Value, b: &Value, op: fn(i64, i64) -> i64) -> Value {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Value::Int(op(*x, *y)),
        _ => Value::Undefined,
    }
}

/// `topic()` and `topic(n)`: the topic without a Basic Ingest `$aws/rules/<rule>/` prefix.
fn topic(topic: &str, n: Option<&Value>) -> Value {
    let stripped = match topic.strip_prefix("$aws/rules/") {
        Some(rest) => rest.split_once('/').map_or("", |(_, after)| after),
        None => topic,
    };
    match n {
        None => Value::from(stripped),
        Some(n) => match n.to_int_floor() {
            Some(i) if i >= 1 => usize::try_from(i - 1)
                .ok()
                .and_then(|i| stripped.split('/').nth(i))
                .map_or(Value::Undefined, Value::from),
            _ => Value::Undefined,
        },
    }
}

/// `get(container, key)`.
fn get(container: &Value, key: &Value) -> Value {
    match (container, key) {
        (Value::Array(_), _) | (Value::String(_), Value::Int(_)) => {
            let Value::Int(i) = key else {
                return Value::Undefined;
            };
            let Ok(i) = usize::try_from(*i) else {
                return Value::Undefined;
            };
            match container {
                Value::Array(items) => items.get(i).cloned().unwrap_or(Value::Undefined),
                Value::String(s) => s
                    .chars()
                    .nth(i)
                    .map_or(Value::Undefined, |c| Value::String(c.to_string())),
                _ => Value::Undefined,
            }
        }
        (Value::Object(_), Value::String(k)) => container.field(k),
        _ => Value::Undefined,
    }
}

/// `concat(…)`: arrays flatten into one array, otherwise the strings are joined.
fn concat(args: &[Value]) -> Value {
    if args.is_empty()
        || args
            .iter()
            .any(|a| matches!(a, Value::Undefined | Value::Null))
    {
        return Value::Undefined;
    }
    if args.iter().any(|a| matches!(a, Value::Array(_))) {
        let mut out = Vec::new();
        for a in args {
            match a {
                Value::Array(items) => out.extend(items.iter().cloned()),
                other => out.push(other.clone()),
            }
            if out.len() > MAX_BUILT_LEN {
                return Value::Undefined;
            }
        }
        return Value::Array(out);
    }
    let mut out = String::new();
    for a in args {
        match a.to_sql_string() {
            Some(s) if out.len() + s.len() <= MAX_BUILT_LEN => out.push_str(&s),
            _ => return Value::Undefined,
        }
    }
    Value::String(out)
}

/// `substring(s, start[, end])`: 0-based, `end` exclusive, both floored and clamped.
fn substring(s: &Value, start: &Value, end: Option<&Value>) -> Value {
    let Some(s) = string_arg(s) else {
        return Value::Undefined;
    };
    let chars: Vec<char> = s.chars().collect();
    let len = i64::try_from(chars.len()).unwrap_or(i64::MAX);
    let clamp = |v: &Value| v.to_int_floor().map(|i| i.clamp(0, len));
    let Some(from) = clamp(start) else {
        return Value::Undefined;
    };
    let to = match end {
        Some(e) => match clamp(e) {
            Some(t) => t,
            None => return Value::Undefined,
        },
        None => len,
    };
    if from >= to {
        return Value::from("");
    }
    let (from, to) = (from as usize, to as usize);
    Value::String(chars.get(from..to).unwrap_or_default().iter().collect())
}

/// `lpad`/`rpad`: AWS adds `n` spaces (it does not pad to a width).
fn pad(s: &Value, n: &Value, left: bool) -> Value {
    let (Some(s), Value::Int(n)) = (string_arg(s), n) else {
        return Value::Undefined;
    };
    let Ok(n) = usize::try_from(*n) else {
        return Value::Undefined;
    };
    if n.saturating_add(s.len()) > MAX_BUILT_LEN {
        return Value::Undefined;
    }
    let spaces = " ".repeat(n);
    Value::String(if left { spaces + &s } else { s + &spaces })
}

fn replace(s: &Value, from: &Value, to: &Value) -> Value {
    let (Some(s), Some(from), Some(to)) = (string_arg(s), string_arg(from), string_arg(to)) else {
        return Value::Undefined;
    };
    let pieces = if from.is_empty() {
        s.chars().count() + 1
    } else {
        s.matches(from.as_str()).count()
    };
    if s.len().saturating_add(pieces.saturating_mul(to.len())) > MAX_BUILT_LEN {
        return Value::Undefined;
    }
    Value::String(s.replace(from.as_str(), &to))
}

fn trunc(x: &Value, places: &Value) -> Value {
    let (Some(d), Value::Int(n)) = (x.to_decimal(), places) else {
        return Value::Undefined;
    };
    let n = (*n).clamp(-1000, 1000);
    int_if_whole(d.round_to_scale(n, Rounding::Down))
}

fn abs(x: &Value) -> Value {
    match x {
        Value::Int(i) => i
            .checked_abs()
            .map_or_else(|| Value::Decimal(Decimal::from_i64(*i).abs()), Value::Int),
        other => other
            .to_decimal()
            .map_or(Value::Undefined, |d| Value::Decimal(d.abs())),
    }
}

fn encode(scope: &Scope<'_>, arg: &Expr, value: &Value, scheme: &Value) -> Value {
    if !matches!(scheme, Value::String(s) if s.eq_ignore_ascii_case("base64")) {
        return Value::Undefined;
    }
    if *arg == Expr::Payload {
        return built(BASE64.encode(scope.ctx.payload()));
    }
    match value.to_sql_string() {
        Some(s) => built(BASE64.encode(s.as_bytes())),
        None => Value::Undefined,
    }
}

fn decode(scope: &Scope<'_>, value: &Value, scheme: &Value) -> Value {
    let (Value::String(s), Value::String(scheme)) = (value, scheme) else {
        return Value::Undefined;
    };
    if !scheme.eq_ignore_ascii_case("base64") {
        return Value::Undefined;
    }
    let Ok(bytes) = BASE64.decode(s.as_bytes()) else {
        return Value::Null;
    };
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(&bytes) {
        return Value::from_json(&json, scope.version);
    }
    String::from_utf8(bytes).map_or(Value::Null, Value::String)
}

fn get_mqtt_property(scope: &Scope<'_>, name: &Value) -> Value {
    let Value::String(name) = name else {
        return Value::Undefined;
    };
    let mqtt = scope.ctx.mqtt();
    let text = match name.to_ascii_lowercase().as_str() {
        "format_indicator" => mqtt.payload_format_indicator.map(|p| {
            if p == 1 {
                "UTF8_DATA".to_owned()
            } else {
                "UNSPECIFIED_BYTES".to_owned()
            }
        }),
        "content_type" => mqtt.content_type.clone(),
        "response_topic" => mqtt.response_topic.clone(),
        "correlation_data" => mqtt.correlation_data.as_ref().map(|c| BASE64.encode(c)),
        "message_expiry" | "message_expiry_interval" => {
            mqtt.message_expiry_interval.map(|s| s.to_string())
        }
        _ => None,
    };
    text.map_or(Value::Undefined, Value::String)
}

/// `get_user_properties(key)`: the values under `key`, as an array; with no key, every
/// property as a one-member object.
fn get_user_properties(scope: &Scope<'_>, key: Option<&Value>) -> Value {
    let properties = &scope.ctx.mqtt().user_properties;
    match key {
        None => Value::Array(
            properties
                .iter()
                .map(|(k, v)| Value::Object([(k.clone(), Value::from(v.as_str()))].into()))
                .collect(),
        ),
        Some(Value::String(key)) => {
            let values: Vec<Value> = properties
                .iter()
                .filter(|(k, _)| k == key)
                .map(|(_, v)| Value::from(v.as_str()))
                .collect();
            if values.is_empty() {
                Value::Undefined
            } else {
                Value::Array(values)
            }
        }
        Some(_) => Value::Undefined,
    }
}

fn parse_time(pattern: &Value, ms: &Value, zone: Option<&Value>) -> Value {
    let Value::String(pattern) = pattern else {
        return Value::Undefined;
    };
    let Some(ms) = ms.to_int_floor() else {
        return Value::Undefined;
    };
    let zone = match zone {
        None => "UTC",
        Some(Value::String(z)) => z.as_str(),
        Some(_) => return Value::Undefined,
    };
    time_format::format(pattern, ms, zone).map_or(Value::Undefined, Value::String)
}

/// Longest compiled pattern program: a pattern is user input (a rule's SQL or a payload field),
/// so its compiled size is bounded.
const MAX_PATTERN_SIZE: usize = 1 << 20;

/// The subject and the compiled pattern, or `None` (Undefined) for a Null/Undefined argument
/// or an invalid pattern. Patterns are compiled by the `regex` crate, whose matching time is
/// linear in the subject whatever the pattern (no catastrophic backtracking on user input);
/// like Java's, it has no backreferences or lookaround we would need to support.
fn regex_args(s: &Value, pattern: &Value) -> Option<(String, Regex)> {
    let s = string_arg(s)?;
    let pattern = string_arg(pattern)?;
    let regex = RegexBuilder::new(&pattern)
        .size_limit(MAX_PATTERN_SIZE)
        .build()
        .ok()?;
    Some((s, regex))
}

/// `regexp_matches(s, pattern)`: whether `pattern` matches anywhere in `s`.
fn regexp_matches(s: &Value, pattern: &Value) -> Value {
    match regex_args(s, pattern) {
        Some((s, regex)) => Value::Bool(regex.is_match(&s)),
        None => Value::Undefined,
    }
}

/// `regexp_substr(s, pattern)`: the first match, or `""` when there is none.
fn regexp_substr(s: &Value, pattern: &Value) -> Value {
    let Some((s, regex)) = regex_args(s, pattern) else {
        return Value::Undefined;
    };
    Value::from(regex.find(&s).map_or("", |m| m.as_str()))
}

/// Appends Java's `Matcher.appendReplacement` expansion of `replacement`: `$n` is group `n`
/// (empty when it did not take part), `\x` is `x`; a lone `$` or a missing group is invalid.
fn expand_replacement(out: &mut String, replacement: &[char], caps: &Captures<'_>) -> Option<()> {
    let groups = caps.len();
    let mut i = 0;
    while let Some(&c) = replacement.get(i) {
        i += 1;
        match c {
            '\\' => {
                out.push(*replacement.get(i)?);
                i += 1;
            }
            '$' => {
                let mut group = replacement.get(i)?.to_digit(10)? as usize;
                i += 1;
                if group >= groups {
                    return None;
                }
                // Java takes further digits while they still name an existing group.
                while let Some(d) = replacement.get(i).and_then(|c| c.to_digit(10)) {
                    let longer = group * 10 + d as usize;
                    if longer >= groups {
                        break;
                    }
                    group = longer;
                    i += 1;
                }
                if let Some(m) = caps.get(group) {
                    out.push_str(m.as_str());
                }
            }
            c => out.push(c),
        }
        if out.len() > MAX_BUILT_LEN {
            return None;
        }
    }
    Some(())
}

/// `regexp_replace(s, pattern, replacement)`: every match replaced, as Java's `replaceAll`,
/// except that an empty match right where the previous match ended is not replaced.
fn regexp_replace(s: &Value, pattern: &Value, replacement: &Value) -> Value {
    let (Some((s, regex)), Some(replacement)) = (regex_args(s, pattern), string_arg(replacement))
    else {
        return Value::Undefined;
    };
    let replacement: Vec<char> = replacement.chars().collect();
    let mut out = String::new();
    let mut last = 0;
    for caps in regex.captures_iter(&s) {
        let Some(whole) = caps.get(0) else {
            continue;
        };
        out.push_str(s.get(last..whole.start()).unwrap_or_default());
        if expand_replacement(&mut out, &replacement, &caps).is_none() {
            return Value::Undefined;
        }
        last = whole.end();
    }
    out.push_str(s.get(last..).unwrap_or_default());
    built(out)
}

/// Evaluates `function(args)`.
pub(crate) fn call(scope: &Scope<'_>, function: Function, args: &[Expr]) -> Value {
    let values: Vec<Value> = args.iter().map(|a| scope.eval(a)).collect();
    let arg = |i: usize| values.get(i).unwrap_or(&Value::Undefined);
    let ctx = scope.ctx;
    match function {
        Function::Topic => topic(ctx.topic(), values.first()),
        Function::ClientId => Value::from(ctx.client_id().unwrap_or("n/a")),
        Function::Principal => ctx.principal().map_or(Value::Undefined, Value::from),
        Function::Timestamp => Value::Int(ctx.timestamp_ms()),
        Function::TraceId => ctx.trace_id().map_or(Value::Undefined, Value::from),
        Function::NewUuid => Value::String(ctx.environment().new_uuid()),
        Function::AccountId => ctx.account_id().map_or(Value::Undefined, Value::from),
        Function::SqlVersion => Value::from(scope.version.as_str()),
        Function::SourceIp => ctx.source_ip().map_or(Value::Undefined, Value::from),
        Function::Rand => {
            Decimal::from_f64(ctx.environment().random()).map_or(Value::Undefined, Value::Decimal)
        }
        Function::Encode => match args.first() {
            Some(expr) => encode(scope, expr, arg(0), arg(1)),
            None => Value::Undefined,
        },
        Function::Decode => decode(scope, arg(0), arg(1)),
        Function::Get => get(arg(0), arg(1)),
        Function::Concat => concat(&values),
        Function::Lower => string_arg(arg(0)).map_or(Value::Undefined, |s| built(s.to_lowercase())),
        Function::Upper => string_arg(arg(0)).map_or(Value::Undefined, |s| built(s.to_uppercase())),
        Function::Trim => string_arg(arg(0)).map_or(Value::Undefined, |s| s.trim().into()),
        Function::Ltrim => string_arg(arg(0)).map_or(Value::Undefined, |s| s.trim_start().into()),
        Function::Rtrim => string_arg(arg(0)).map_or(Value::Undefined, |s| s.trim_end().into()),
        Function::Lpad => pad(arg(0), arg(1), true),
        Function::Rpad => pad(arg(0), arg(1), false),
        Function::Replace => replace(arg(0), arg(1), arg(2)),
        Function::StartsWith => match (string_arg(arg(0)), string_arg(arg(1))) {
            (Some(s), Some(p)) => Value::Bool(s.starts_with(&p)),
            _ => Value::Undefined,
        },
        Function::EndsWith => match (string_arg(arg(0)), string_arg(arg(1))) {
            (Some(s), Some(p)) => Value::Bool(s.ends_with(&p)),
            _ => Value::Undefined,
        },
        Function::Length => string_arg(arg(0)).map_or(Value::Undefined, |s| {
            Value::Int(i64::try_from(s.chars().count()).unwrap_or(i64::MAX))
        }),
        Function::NumBytes => string_arg(arg(0)).map_or(Value::Undefined, |s| {
            Value::Int(i64::try_from(s.len()).unwrap_or(i64::MAX))
        }),
        Function::IndexOf => match (string_arg(arg(0)), string_arg(arg(1))) {
            (Some(s), Some(sub)) => Value::Int(s.find(&sub).map_or(-1, |byte| {
                i64::try_from(s.get(..byte).map_or(0, |p| p.chars().count())).unwrap_or(-1)
            })),
            _ => Value::Undefined,
        },
        Function::Substring => substring(arg(0), arg(1), values.get(2)),
        Function::Chr => match arg(0) {
            Value::Int(i) => u32::try_from(*i)
                .ok()
                .and_then(char::from_u32)
                .map_or(Value::Undefined, |c| Value::String(c.to_string())),
            _ => Value::Undefined,
        },
        Function::IsUndefined => Value::Bool(arg(0).is_undefined()),
        Function::IsNull => Value::Bool(*arg(0) == Value::Null),
        // Our arithmetic has no NaN: where AWS's doubles give NaN we give Undefined.
        Function::Nanvl => match arg(0) {
            Value::Undefined => arg(1).clone(),
            other => other.clone(),
        },
        Function::Abs => abs(arg(0)),
        Function::Ceil => rounded(arg(0), Rounding::Ceiling),
        Function::Floor => rounded(arg(0), Rounding::Floor),
        Function::Round => rounded(arg(0), Rounding::HalfUp),
        Function::Sign => arg(0)
            .to_decimal()
            .map_or(Value::Undefined, |d| Value::Int(i64::from(d.signum()))),
        Function::Trunc => trunc(arg(0), arg(1)),
        Function::Mod | Function::Remainder => arg(0).binary(BinaryOp::Rem, arg(1)),
        Function::Power => match (arg(0).to_decimal(), arg(1).to_decimal()) {
            (Some(a), Some(b)) => Decimal::from_f64(a.to_f64().powf(b.to_f64()))
                .map_or(Value::Undefined, Value::Decimal),
            _ => Value::Undefined,
        },
        Function::Atan2 => match (arg(0).to_decimal(), arg(1).to_decimal()) {
            (Some(a), Some(b)) => Decimal::from_f64(a.to_f64().atan2(b.to_f64()))
                .map_or(Value::Undefined, Value::Decimal),
            _ => Value::Undefined,
        },
        Function::Sqrt => via_f64(arg(0), f64::sqrt),
        Function::Log => via_f64(arg(0), f64::log10),
        Function::Ln => via_f64(arg(0), f64::ln),
        Function::Exp => via_f64(arg(0), f64::exp),
        Function::Sin => via_f64(arg(0), f64::sin),
        Function::Cos => via_f64(arg(0), f64::cos),
        Function::Tan => via_f64(arg(0), f64::tan),
        Function::Asin => via_f64(arg(0), f64::asin),
        Function::Acos => via_f64(arg(0), f64::acos),
        Function::Atan => via_f64(arg(0), f64::atan),
        Function::Sinh => via_f64(arg(0), f64::sinh),
        Function::Cosh => via_f64(arg(0), f64::cosh),
        Function::Tanh => via_f64(arg(0), f64::tanh),
        Function::BitAnd => bitwise(arg(0), arg(1), |a, b| a & b),
        Function::BitOr => bitwise(arg(0), arg(1), |a, b| a | b),
        Function::BitXor => bitwise(arg(0), arg(1), |a, b| a ^ b),
        Function::BitNot => match arg(0) {
            Value::Int(i) => Value::Int(!i),
            _ => Value::Undefined,
        },
        Function::RegexpMatches => regexp_matches(arg(0), arg(1)),
        Function::RegexpReplace => regexp_replace(arg(0), arg(1), arg(2)),
        Function::RegexpSubstr => regexp_substr(arg(0), arg(1)),
        Function::ParseTime => parse_time(arg(0), arg(1), values.get(2)),
        Function::TimeToEpoch => match (arg(0), arg(1)) {
            (Value::String(text), Value::String(pattern)) => {
                time_format::parse(text, pattern).map_or(Value::Undefined, Value::Int)
            }
            _ => Value::Undefined,
        },
        Function::GetMqttProperty => get_mqtt_property(scope, arg(0)),
        Function::GetUserProperties => get_user_properties(scope, values.first()),
        // These reach other services (a shadow store, Lambda, DynamoDB, Secrets Manager,
        // Machine Learning); SQL evaluation has none, so they are accepted and Undefined.
        Function::GetThingShadow
        | Function::AwsLambda
        | Function::GetDynamodb
        | Function::GetSecret
        | Function::MachineLearningPredict => Value::Undefined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_function_has_exactly_one_spec_row() {
        for spec in SPECS {
            assert_eq!(
                SPECS.iter().filter(|s| s.function == spec.function).count(),
                1,
                "{}",
                spec.name
            );
            assert_eq!(lookup(spec.name), Ok(spec.function));
            assert_eq!(lookup(&spec.name.to_uppercase()), Ok(spec.function));
        }
    }

    #[test]
    fn refused_functions_are_not_also_implemented() {
        for (name, _) in REFUSED {
            assert!(matches!(
                lookup(name),
                Err(ParseErrorKind::UnsupportedFunction { .. })
            ));
        }
    }

    #[test]
    fn topic_segments_are_one_based_and_skip_a_basic_ingest_prefix() {
        assert_eq!(topic("a/b/c", None), Value::from("a/b/c"));
        assert_eq!(topic("a/b/c", Some(&Value::Int(2))), Value::from("b"));
        assert_eq!(topic("a/b/c", Some(&Value::Int(4))), Value::Undefined);
        assert_eq!(topic("a/b/c", Some(&Value::Int(0))), Value::Undefined);
        assert_eq!(topic("$aws/rules/r1/x/y", None), Value::from("x/y"));
        assert_eq!(
            topic("$aws/rules/r1/x/y", Some(&Value::Int(1))),
            Value::from("x")
        );
    }

    #[test]
    fn substring_clamps_floors_and_excludes_the_end() {
        let s = Value::from("123456");
        assert_eq!(substring(&s, &Value::Int(0), None), Value::from("123456"));
        assert_eq!(substring(&s, &Value::Int(2), None), Value::from("3456"));
        assert_eq!(
            substring(&s, &Value::Int(2), Some(&Value::Int(4))),
            Value::from("34")
        );
        assert_eq!(
            substring(&s, &Value::Int(-5), Some(&Value::Int(99))),
            Value::from("123456")
        );
        assert_eq!(
            substring(&s, &Value::Int(4), Some(&Value::Int(2))),
            Value::from("")
        );
        let d: Decimal = "2.7".parse().unwrap();
        assert_eq!(substring(&s, &Value::Decimal(d), None), Value::from("3456"));
        assert_eq!(
            substring(&Value::Int(123456), &Value::Int(3), None),
            Value::from("456")
        );
        assert_eq!(
            substring(&Value::Null, &Value::Int(0), None),
            Value::Undefined
        );
    }

    #[test]
    fn concat_joins_strings_and_flattens_arrays() {
        assert_eq!(
            concat(&[Value::from("a"), Value::Int(1)]),
            Value::from("a1")
        );
        assert_eq!(
            concat(&[
                Value::Array(vec![Value::Int(1)]),
                Value::Array(vec![Value::Int(2)]),
                Value::Int(3)
            ]),
            Value::Array(vec![Value::Int(1), Value::Int(2), Value::Int(3)])
        );
        assert_eq!(concat(&[]), Value::Undefined);
        assert_eq!(
            concat(&[Value::from("a"), Value::Undefined]),
            Value::Undefined
        );
    }

    #[test]
    fn get_reads_arrays_strings_and_objects() {
        let arr = Value::Array(vec![Value::Int(5), Value::Int(6)]);
        assert_eq!(get(&arr, &Value::Int(1)), Value::Int(6));
        assert_eq!(get(&arr, &Value::Int(2)), Value::Undefined);
        assert_eq!(get(&Value::from("abc"), &Value::Int(1)), Value::from("b"));
        let obj = Value::Object([("my-key".to_owned(), Value::Int(1))].into());
        assert_eq!(get(&obj, &Value::from("my-key")), Value::Int(1));
        assert_eq!(get(&obj, &Value::Int(0)), Value::Undefined);
    }

    #[test]
    fn padding_adds_that_many_spaces() {
        assert_eq!(
            pad(&Value::from("hello"), &Value::Int(2), true),
            Value::from("  hello")
        );
        assert_eq!(
            pad(&Value::from("hello"), &Value::Int(2), false),
            Value::from("hello  ")
        );
        assert_eq!(
            pad(&Value::from("x"), &Value::Int(-1), true),
            Value::Undefined
        );
        assert_eq!(
            pad(&Value::from("x"), &Value::Int(i64::MAX), true),
            Value::Undefined
        );
    }

    #[test]
    fn replace_swaps_every_occurrence_within_the_size_cap() {
        assert_eq!(
            replace(
                &Value::from("abcabc"),
                &Value::from("b"),
                &Value::from("XY")
            ),
            Value::from("aXYcaXYc")
        );
        let big = Value::String("a".repeat(1000));
        let long = Value::String("b".repeat(10_000));
        assert_eq!(replace(&big, &Value::from("a"), &long), Value::Undefined);
    }

    #[test]
    fn regexp_functions_follow_the_documented_examples() {
        let s = Value::from;
        assert_eq!(regexp_matches(&s("aaaa"), &s("a{2,}")), Value::Bool(true));
        assert_eq!(regexp_matches(&s("aaaa"), &s("b")), Value::Bool(false));
        assert_eq!(regexp_matches(&s("aaaa"), &s("(a")), Value::Undefined);
        assert_eq!(regexp_substr(&s("hihihello"), &s("hel")), s("hel"));
        assert_eq!(
            regexp_substr(&s("hihihello"), &s("([a-z]+)")),
            s("hihihello")
        );
        assert_eq!(regexp_substr(&s("hihihello"), &s("x")), s(""));
        assert_eq!(regexp_replace(&s("abcd"), &s("bc"), &s("x")), s("axd"));
        assert_eq!(regexp_replace(&s("abcd"), &s("b(.*)d"), &s("$1")), s("ac"));
        assert_eq!(regexp_replace(&s("abc"), &s("x*"), &s("-")), s("-a-b-c-"));
        // Java also replaces the empty match right after "aaa" ("--"); the regex crate does
        // not report an empty match where the previous one ended.
        assert_eq!(regexp_replace(&s("aaa"), &s("a*"), &s("-")), s("-"));
        assert_eq!(regexp_replace(&s("a.b"), &s("\\."), &s("\\$")), s("a$b"));
        assert_eq!(
            regexp_replace(&s("ab"), &s("(a)"), &s("$2")),
            Value::Undefined
        );
        assert_eq!(regexp_replace(&s("ab"), &s("a"), &s("$")), Value::Undefined);
        assert_eq!(
            regexp_replace(&Value::Null, &s("a"), &s("b")),
            Value::Undefined
        );
    }

    #[test]
    fn rounding_functions_return_int() {
        let d = |s: &str| Value::Decimal(s.parse().unwrap());
        assert_eq!(rounded(&d("1.5"), Rounding::HalfUp), Value::Int(2));
        assert_eq!(rounded(&d("-1.5"), Rounding::HalfUp), Value::Int(-2));
        assert_eq!(rounded(&d("1.2"), Rounding::Ceiling), Value::Int(2));
        assert_eq!(rounded(&d("-1.2"), Rounding::Floor), Value::Int(-2));
        assert_eq!(
            rounded(&Value::from("2.5"), Rounding::HalfUp),
            Value::Int(3)
        );
        assert_eq!(
            rounded(&Value::Bool(true), Rounding::HalfUp),
            Value::Undefined
        );
    }

    #[test]
    fn trunc_cuts_digits_without_rounding() {
        let d = |s: &str| Value::Decimal(s.parse().unwrap());
        assert_eq!(trunc(&d("2.3"), &Value::Int(0)), Value::Int(2));
        assert_eq!(trunc(&d("2.3123"), &Value::Int(2)), d("2.31"));
        assert_eq!(trunc(&d("2.888"), &Value::Int(2)), d("2.88"));
        assert_eq!(trunc(&d("2.00"), &Value::Int(5)), Value::Int(2));
    }

    #[test]
    fn abs_keeps_ints_and_widens_the_minimum() {
        assert_eq!(abs(&Value::Int(-3)), Value::Int(3));
        assert_eq!(
            abs(&Value::Int(i64::MIN)),
            Value::Decimal("9223372036854775808".parse().unwrap())
        );
        assert_eq!(
            abs(&Value::from("-1.5")),
            Value::Decimal("1.5".parse().unwrap())
        );
    }
}
