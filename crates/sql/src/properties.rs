//! Property tests over the parser, the evaluator and the decimal type.

use proptest::prelude::*;

use crate::ast::{CastType, Expr, Projection, Subquery};
use crate::decimal::Decimal;
use crate::functions::Function;
use crate::parser::Parser;
use crate::value::{BinaryOp, Value};
use crate::{MessageContext, Output, SqlVersion, SubstitutionTemplate, parse};

const V16: SqlVersion = SqlVersion::V2016_03_23;

fn name() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "b", "temp", "x_1", "value", "Deep"]).prop_map(str::to_owned)
}

fn leaf() -> impl Strategy<Value = Expr> {
    prop_oneof![
        (0_i64..100_000).prop_map(|i| Expr::Literal(Value::Int(i))),
        (1_i64..100_000)
            .prop_filter("not whole", |i| i % 1000 != 0)
            .prop_map(|i| {
                let d = Decimal::from_i64(i)
                    .div(Decimal::from_i64(1000))
                    .unwrap_or(Decimal::ZERO);
                Expr::Literal(Value::Decimal(d))
            }),
        "[a-z '\\\\\"{}]{0,6}".prop_map(|s| Expr::Literal(Value::String(s))),
        any::<bool>().prop_map(|b| Expr::Literal(Value::Bool(b))),
        Just(Expr::Literal(Value::Null)),
        Just(Expr::Payload),
        name().prop_map(Expr::Ident),
    ]
}

fn binary_op() -> impl Strategy<Value = BinaryOp> {
    prop::sample::select(vec![
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Rem,
        BinaryOp::Eq,
        BinaryOp::Ne,
        BinaryOp::Lt,
        BinaryOp::Le,
        BinaryOp::Gt,
        BinaryOp::Ge,
        BinaryOp::And,
        BinaryOp::Or,
        BinaryOp::In,
    ])
}

fn expr() -> impl Strategy<Value = Expr> {
    leaf().prop_recursive(4, 48, 4, |inner| {
        let boxed = inner.clone().prop_map(Box::new);
        prop_oneof![
            (boxed.clone(), name()).prop_map(|(b, n)| Expr::Field(b, n)),
            (boxed.clone(), boxed.clone()).prop_map(|(b, i)| Expr::Index(b, i)),
            boxed.clone().prop_map(Expr::Neg),
            boxed.clone().prop_map(Expr::Not),
            (binary_op(), boxed.clone(), boxed.clone())
                .prop_map(|(op, a, b)| Expr::Binary(op, a, b)),
            inner
                .clone()
                .prop_map(|a| Expr::Call(Function::Upper, vec![a])),
            prop::collection::vec(inner.clone(), 0..3)
                .prop_map(|a| Expr::Call(Function::Concat, a)),
            Just(Expr::Call(Function::Topic, vec![])),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::Call(Function::Get, vec![a, b])),
            (
                boxed.clone(),
                prop::sample::select(vec![CastType::String, CastType::Int, CastType::Bool])
            )
                .prop_map(|(x, t)| Expr::Cast(x, t)),
            (
                boxed.clone(),
                prop::collection::vec((inner.clone(), inner.clone()), 1..3),
                prop::option::of(boxed)
            )
                .prop_map(|(operand, arms, otherwise)| Expr::Case {
                    operand,
                    arms,
                    otherwise
                }),
            prop::collection::vec(("[a-z-]{0,4}", inner.clone()), 0..3).prop_map(Expr::Object),
            prop::collection::vec(inner.clone(), 0..3).prop_map(Expr::Array),
            (inner.clone(), inner.clone(), prop::option::of(inner)).prop_map(
                |(value, source, condition)| Expr::Subquery(Box::new(Subquery {
                    projection: Projection::Value(value),
                    source,
                    condition,
                }))
            ),
        ]
    })
}

fn json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        "[a-z0-9 .e-]{0,8}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map(name(), inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Statements that between them call every family of functions and operators.
const STATEMENTS: &[&str] = &[
    "SELECT * FROM 't'",
    "SELECT *, topic(1) AS t FROM 't'",
    "SELECT a, b.c, temp * 1.8 + 32 AS f, a[0], get(*, 'b') AS g FROM 't' WHERE temp > 0 OR a <> b",
    "SELECT VALUE concat(a, b, temp, value)",
    "SELECT VALUE a / b + a % b - a * b",
    "SELECT upper(a) AS u, substring(a, b, temp) AS s, lpad(a, b) AS l, replace(a, b, temp) AS r FROM 't'",
    "SELECT abs(a), ceil(a), floor(b), round(temp), sign(a), trunc(a, b), mod(a, b), power(a, b) FROM 't'",
    "SELECT sqrt(a), ln(a), log(b), exp(temp), sin(a), atan2(a, b), bitand(a, b), chr(a) FROM 't'",
    "SELECT cast(a AS Int) AS i, cast(b AS Decimal) AS d, cast(temp AS String) AS s, cast(a AS Bool) AS bo FROM 't'",
    "SELECT VALUE CASE a WHEN b THEN temp WHEN 1 THEN 'one' ELSE [a, {'k': b}] END",
    "SELECT encode(*, 'base64') AS e, decode(a, 'base64') AS d, parse_time(a, b, temp) AS p FROM 't'",
    "SELECT isUndefined(a), isNull(b), nanvl(a, b), length(a), numbytes(b), indexof(a, b), startswith(a, b) FROM 't'",
    "SELECT VALUE a IN b AND NOT (temp = [1, 2])",
    "SELECT regexp_matches(a, b) AS m, regexp_replace(a, b, temp) AS r, regexp_substr(a, '[a-z]+(\\d*)') AS s FROM 't'",
    "SELECT VALUE (SELECT VALUE x_1 FROM a WHERE b = 1)",
    "SELECT time_to_epoch(a, b) AS t, parse_time(b, a, temp) AS p FROM 't'",
];

proptest! {
    #[test]
    fn printing_an_expression_and_reparsing_gives_the_same_tree(e in expr()) {
        let printed = e.to_string();
        let reparsed = Parser::new(&printed, 0, &printed, V16)
            .and_then(|mut p| p.lone_expression());
        prop_assert_eq!(reparsed, Ok(e), "{}", printed);
    }

    #[test]
    fn small_integer_arithmetic_agrees_with_i64(
        a in -100_000_i64..100_000,
        b in -100_000_i64..100_000,
        op in prop::sample::select(vec!["+", "-", "*", "/", "%"]),
    ) {
        let statement = parse(&format!("SELECT VALUE a {op} b"), V16).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let ctx = MessageContext::new("t", format!(r#"{{"a":{a},"b":{b}}}"#).into_bytes());
        let expected = match op {
            "+" => a.checked_add(b),
            "-" => a.checked_sub(b),
            "*" => a.checked_mul(b),
            "/" => a.checked_div(b),
            _ => a.checked_rem(b),
        };
        let got = statement.evaluate(&ctx).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(got, expected.map(|n| Output::Json(serde_json::Value::from(n))));
    }

    #[test]
    fn evaluation_never_panics_and_is_deterministic_on_any_json(payload in json()) {
        let bytes = payload.to_string().into_bytes();
        let ctx = MessageContext::new("a/b/c", bytes).with_environment(std::sync::Arc::new(
            crate::FixedEnvironment { uuid: "u".into(), now_ms: 0, random: 0.5 },
        ));
        for sql in STATEMENTS {
            let statement = parse(sql, V16).map_err(|e| TestCaseError::fail(format!("{sql}: {e}")))?;
            prop_assert_eq!(statement.evaluate(&ctx), statement.evaluate(&ctx));
        }
    }

    #[test]
    fn evaluation_never_panics_on_binary_payloads(payload in prop::collection::vec(any::<u8>(), 0..64)) {
        let ctx = MessageContext::new("t", payload);
        for sql in STATEMENTS {
            let statement = parse(sql, V16).map_err(|e| TestCaseError::fail(format!("{sql}: {e}")))?;
            let _ = statement.evaluate(&ctx);
        }
    }

    #[test]
    fn parsing_token_soup_never_panics(
        words in prop::collection::vec(prop::sample::select(vec![
            "SELECT", "VALUE", "*", "FROM", "'t'", "WHERE", "a", ".", "[", "]", "(", ")", "{", "}",
            ",", ":", "+", "-", "/", "%", "=", "<>", "<", ">=", "AND", "OR", "NOT", "CASE", "WHEN",
            "THEN", "ELSE", "END", "AS", "1", "2.5", "1e", "\"s\"", "'", "cast", "Int", "topic",
            "concat", "IN", "null", "true", "@", "${", "#", "SELECT", "a", "*", "'t'", "b", "value",
            "(SELECT", "1", "+", "a.b", "[0]", "AS x", "FROM 't'",
        ]), 0..24),
    ) {
        let text = words.join(" ");
        for version in [V16, SqlVersion::V2015_10_08] {
            if let Ok(statement) = parse(&text, version) {
                let printed = statement.to_string();
                prop_assert_eq!(parse(&printed, version), Ok(statement), "{}", printed);
            }
        }
        let _ = SubstitutionTemplate::parse(&text, V16);
    }

    #[test]
    fn parsing_arbitrary_text_never_panics(text in "\\PC{0,80}") {
        let _ = parse(&text, V16);
        let _ = SubstitutionTemplate::parse(&text, V16);
    }

    #[test]
    fn regular_expressions_never_panic(
        pattern in "[a-c.*+?|()\\[\\]^$\\\\{},0-9dws-]{0,12}",
        text in "[a-c0-9 ]{0,40}",
        replacement in "[a$0-9\\\\]{0,4}",
    ) {
        let p = Value::String(pattern);
        let t = Value::String(text);
        let r = Value::String(replacement);
        for sql in ["regexp_matches(a, b)", "regexp_substr(a, b)", "regexp_replace(a, b, temp)"] {
            let statement = parse(&format!("SELECT VALUE {sql}"), V16)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let payload = serde_json::json!({"a": t.to_json(), "b": p.to_json(), "temp": r.to_json()});
            let ctx = MessageContext::new("t", payload.to_string().into_bytes());
            let _ = statement.evaluate(&ctx);
        }
    }

    #[test]
    fn time_functions_never_panic(
        text in "[0-9A-Za-z :+\\-/'.]{0,24}",
        pattern in "[yMdHhmsSaEZXxVzu :+\\-/'.]{0,16}",
        ms in any::<i64>(),
    ) {
        let _ = crate::time_format::parse(&text, &pattern);
        let _ = crate::time_format::format(&pattern, ms, &text);
        if let Some(formatted) = crate::time_format::format(&pattern, ms, "UTC") {
            let _ = crate::time_format::parse(&formatted, &pattern);
        }
    }

    #[test]
    fn decimal_addition_and_multiplication_are_exact_for_short_numbers(
        a in -1_000_000_000_i64..1_000_000_000,
        sa in 0_u32..9,
        b in -1_000_000_000_i64..1_000_000_000,
        sb in 0_u32..9,
    ) {
        let da = Decimal::new(i128::from(a), -i64::from(sa)).ok_or_else(|| TestCaseError::fail("a"))?;
        let db = Decimal::new(i128::from(b), -i64::from(sb)).ok_or_else(|| TestCaseError::fail("b"))?;
        let scale = sa.max(sb);
        let sum = i128::from(a) * 10_i128.pow(scale - sa) + i128::from(b) * 10_i128.pow(scale - sb);
        prop_assert_eq!(da.add(db), Decimal::new(sum, -i64::from(scale)));
        prop_assert_eq!(
            da.mul(db),
            Decimal::new(i128::from(a) * i128::from(b), -i64::from(sa + sb))
        );
        prop_assert_eq!(da.cmp(&db), (i128::from(a) * 10_i128.pow(scale - sa)).cmp(&(i128::from(b) * 10_i128.pow(scale - sb))));
        let text = da.to_string();
        prop_assert_eq!(text.parse::<Decimal>(), Ok(da));
    }
}
