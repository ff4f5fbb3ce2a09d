//! A parsed statement and what evaluating it produces.

use std::fmt;

use crate::SqlVersion;
use crate::ast::{Projection, SelectItem};
use crate::context::MessageContext;
use crate::error::{EvalError, ParseError};
use crate::eval::{Scope, Variables};
use crate::parser::{Parsed, Parser};
use crate::value::Value;

/// A parsed AWS IoT SQL statement, ready to evaluate against any number of messages.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    version: SqlVersion,
    parsed: Parsed,
}

/// What a statement produces for a message whose WHERE clause holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// A JSON document: the SELECT object, a `SELECT VALUE` value, or a JSON payload forwarded
    /// by `SELECT *`.
    Json(serde_json::Value),
    /// A payload that is not JSON, forwarded unchanged by `SELECT *`.
    Bytes(Vec<u8>),
}

impl Output {
    /// The bytes to send: JSON serialized, or the raw payload.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Output::Json(json) => json.to_string().into_bytes(),
            Output::Bytes(bytes) => bytes.clone(),
        }
    }

    /// Whether the output is JSON (the HTTP action's `application/json` versus
    /// `application/octet-stream`).
    pub fn is_json(&self) -> bool {
        matches!(self, Output::Json(_))
    }
}

/// The result of evaluating a statement, with the SET variables action templates may read.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// What the actions receive; `None` when WHERE did not hold or `SELECT VALUE` was
    /// Undefined.
    pub output: Option<Output>,
    /// The SET variables, computed once for this message.
    pub variables: Variables,
}

/// Parses `sql` as `version`. Syntax the version lacks, unknown functions and wrong argument
/// counts are errors here, as AWS reports them at `CreateTopicRule`; type problems are not.
pub fn parse(sql: &str, version: SqlVersion) -> Result<Statement, ParseError> {
    let parsed = Parser::new(sql, 0, sql, version)?.statement()?;
    Ok(Statement { version, parsed })
}

impl Statement {
    /// The FROM topic filter, as written between the quotes; `None` for a Basic-Ingest-only
    /// rule. Matching topics against it is the caller's job.
    pub fn from_filter(&self) -> Option<&str> {
        self.parsed.from.as_deref()
    }

    /// The version the statement was parsed as.
    pub fn version(&self) -> SqlVersion {
        self.version
    }

    /// Evaluates the statement against one message. `Ok(None)` means no output: WHERE was
    /// false or Undefined, or `SELECT VALUE` was Undefined. WHERE runs first and cannot see
    /// SELECT aliases. Undefined SELECT items are left out of the object.
    pub fn evaluate(&self, ctx: &MessageContext) -> Result<Option<Output>, EvalError> {
        self.evaluate_with_variables(ctx).map(|e| e.output)
    }

    /// As [`evaluate`](Self::evaluate), also returning the SET variables, which the rule's
    /// substitution templates render with ([`SubstitutionTemplate::render_with`]). The SET
    /// clause runs first, then WHERE, then SELECT.
    ///
    /// [`SubstitutionTemplate::render_with`]: crate::SubstitutionTemplate::render_with
    pub fn evaluate_with_variables(&self, ctx: &MessageContext) -> Result<Evaluation, EvalError> {
        let mut variables = Variables::default();
        for (name, expr) in &self.parsed.variables {
            let value = Scope::new(ctx, self.version, &variables).eval(expr);
            variables.push(name.clone(), value);
        }
        let output = self.output(&Scope::new(ctx, self.version, &variables))?;
        Ok(Evaluation { output, variables })
    }

    fn output(&self, scope: &Scope<'_>) -> Result<Option<Output>, EvalError> {
        let ctx = scope.ctx;
        if let Some(condition) = &self.parsed.condition
            && scope.eval(condition).to_bool() != Some(true)
        {
            return Ok(None);
        }
        match &self.parsed.projection {
            Projection::Value(expr) => {
                let value = scope.eval(expr);
                if self.version == SqlVersion::V2015_10_08 && matches!(value, Value::Array(_)) {
                    return Err(EvalError::TopLevelArray);
                }
                Ok(value.into_json().map(Output::Json))
            }
            Projection::Items(items) => {
                if let [SelectItem::All] = items.as_slice() {
                    return Ok(Some(match ctx.payload_json() {
                        Some(json) => Output::Json(json.clone()),
                        None => Output::Bytes(ctx.payload().to_vec()),
                    }));
                }
                let mut object = serde_json::Map::new();
                for item in items {
                    match item {
                        SelectItem::All => match ctx.payload_json() {
                            Some(serde_json::Value::Object(payload)) => {
                                object.extend(payload.iter().map(|(k, v)| (k.clone(), v.clone())));
                            }
                            Some(other) => {
                                let kind = Value::from_json(other, self.version).type_name();
                                return Err(EvalError::PayloadNotAnObject(kind));
                            }
                            None => return Err(EvalError::PayloadNotAnObject("binary data")),
                        },
                        SelectItem::Expr { expr, key } => {
                            if let Some(json) = scope.eval(expr).into_json() {
                                object.insert(key.clone(), json);
                            }
                        }
                    }
                }
                Ok(Some(Output::Json(serde_json::Value::Object(object))))
            }
        }
    }
}

impl fmt::Display for Statement {
    /// Canonical SQL for the statement (expressions fully parenthesized).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (name, expr)) in self.parsed.variables.iter().enumerate() {
            let lead = if i == 0 { "SET " } else { ", " };
            write!(f, "{lead}@{name} = {expr}")?;
        }
        if !self.parsed.variables.is_empty() {
            f.write_str(" ")?;
        }
        write!(f, "SELECT {}", self.parsed.projection)?;
        if let Some(from) = &self.parsed.from {
            write!(f, " FROM {}", crate::ast::quote(from))?;
        }
        if let Some(condition) = &self.parsed.condition {
            write!(f, " WHERE {condition}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::context::{FixedEnvironment, MqttProperties};

    const V15: SqlVersion = SqlVersion::V2015_10_08;
    const V16: SqlVersion = SqlVersion::V2016_03_23;

    fn message(topic: &str, payload: &str) -> MessageContext {
        MessageContext::new(topic, payload.as_bytes().to_vec()).with_environment(Arc::new(
            FixedEnvironment {
                uuid: "8e5f3b8c-1d2a-4f6b-9c0d-2e4f6a8b0c1d".into(),
                now_ms: 1_520_551_012_345,
                random: 0.25,
            },
        ))
    }

    fn run(sql: &str, version: SqlVersion, ctx: &MessageContext) -> Option<Output> {
        parse(sql, version)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .evaluate(ctx)
            .unwrap()
    }

    fn json_out(sql: &str, version: SqlVersion, payload: &str) -> serde_json::Value {
        match run(sql, version, &message("a/b/c", payload)) {
            Some(Output::Json(j)) => j,
            other => panic!("{sql}: {other:?}"),
        }
    }

    /// `SELECT VALUE <expr>` on a payload, under 2016-03-23.
    fn value(expr: &str, payload: &str) -> serde_json::Value {
        json_out(&format!("SELECT VALUE {expr} FROM 't'"), V16, payload)
    }

    fn undefined(expr: &str, payload: &str) -> bool {
        run(
            &format!("SELECT VALUE {expr} FROM 't'"),
            V16,
            &message("a/b/c", payload),
        )
        .is_none()
    }

    #[test]
    fn fahrenheit_rule_converts_exactly_and_names_the_device() {
        let statement = parse(
            "SELECT temp * 1.8 + 32 AS tempF, topic(2) AS device FROM 'sensors/+/telemetry' WHERE temp > 30",
            V16,
        )
        .unwrap();
        assert_eq!(statement.from_filter(), Some("sensors/+/telemetry"));
        let out = statement
            .evaluate(&message("sensors/dev1/telemetry", r#"{"temp":31}"#))
            .unwrap()
            .unwrap();
        assert_eq!(out, Output::Json(json!({"tempF": 87.8, "device": "dev1"})));
        assert_eq!(out.to_bytes(), br#"{"device":"dev1","tempF":87.8}"#);
        assert!(out.is_json());
        let cold = statement
            .evaluate(&message("sensors/dev1/telemetry", r#"{"temp":30}"#))
            .unwrap();
        assert_eq!(cold, None);
    }

    #[test]
    fn the_documented_color_example_renames_a_field() {
        assert_eq!(
            json_out(
                "SELECT color AS rgb FROM 'topic/subtopic' WHERE temperature > 50",
                V15,
                r#"{"color":"red","temperature":100}"#
            ),
            json!({"rgb": "red"})
        );
    }

    #[test]
    fn a_where_on_a_missing_field_is_not_true_so_nothing_is_produced() {
        let ctx = message("t", r#"{"a":1}"#);
        assert_eq!(run("SELECT * FROM 't' WHERE missing > 1", V15, &ctx), None);
        assert_eq!(run("SELECT * FROM 't' WHERE 'abc'", V15, &ctx), None);
        assert!(run("SELECT * FROM 't' WHERE 'true'", V15, &ctx).is_some());
    }

    #[test]
    fn undefined_items_are_omitted_and_null_is_kept() {
        assert_eq!(
            json_out(
                "SELECT a, b, missing, a.x AS ax FROM 't'",
                V15,
                r#"{"a":1,"b":null}"#
            ),
            json!({"a": 1, "b": null})
        );
    }

    #[test]
    fn where_cannot_see_select_aliases() {
        let ctx = message("t", r#"{"temp":40}"#);
        assert_eq!(
            run("SELECT temp AS t FROM 't' WHERE t > 1", V15, &ctx),
            None
        );
    }

    #[test]
    fn select_star_forwards_the_payload_and_can_add_keys() {
        assert_eq!(
            json_out("SELECT * FROM 't'", V15, r#"{"a":1}"#),
            json!({"a": 1})
        );
        assert_eq!(
            json_out("SELECT *, topic() AS topic FROM 't'", V15, r#"{"a":1}"#),
            json!({"a": 1, "topic": "a/b/c"})
        );
    }

    #[test]
    fn a_binary_payload_is_forwarded_raw_and_encodable() {
        let ctx = message("t", "\u{1}not json");
        assert_eq!(
            run("SELECT * FROM 't'", V16, &ctx),
            Some(Output::Bytes(b"\x01not json".to_vec()))
        );
        assert_eq!(
            run("SELECT encode(*, 'base64') AS data FROM 't'", V16, &ctx),
            Some(Output::Json(json!({"data": "AW5vdCBqc29u"})))
        );
        assert_eq!(
            run("SELECT a, b.c FROM 't'", V16, &ctx),
            Some(Output::Json(json!({})))
        );
        let with_key = parse("SELECT *, 1 AS one FROM 't'", V16).unwrap();
        assert_eq!(
            with_key.evaluate(&ctx),
            Err(EvalError::PayloadNotAnObject("binary data"))
        );
    }

    #[test]
    fn decoding_an_encoded_json_payload_gives_the_json_back() {
        assert_eq!(
            value("decode(encode(*, 'base64'), 'base64')", r#"{"k":[1,2]}"#),
            json!({"k": [1, 2]})
        );
        assert_eq!(value("decode('aGVsbG8=', 'base64')", "{}"), json!("hello"));
        assert_eq!(value("decode('***', 'base64')", "{}"), json!(null));
        assert_eq!(value("encode('hi', 'base64')", "{}"), json!("aGk="));
    }

    #[test]
    fn select_value_outputs_a_bare_value_and_arrays_only_in_2016() {
        let payload = r#"{"a":{"b":"c"},"arr":[1,2,3,4]}"#;
        assert_eq!(
            json_out("SELECT VALUE arr FROM 't'", V16, payload),
            json!([1, 2, 3, 4])
        );
        assert_eq!(
            json_out("SELECT VALUE a FROM 't'", V15, payload),
            json!({"b": "c"})
        );
        let old = parse("SELECT VALUE arr FROM 't'", V15).unwrap();
        assert_eq!(
            old.evaluate(&message("t", payload)),
            Err(EvalError::TopLevelArray)
        );
        assert!(undefined("missing", payload));
    }

    #[test]
    fn nested_paths_select_inner_values_keyed_by_the_last_segment() {
        assert_eq!(
            json_out("SELECT a.b FROM 't'", V15, r#"{"a":{"b":"c"}}"#),
            json!({"b": "c"})
        );
        assert_eq!(value("a.b[1].c", r#"{"a":{"b":[{},{"c":5}]}}"#), json!(5));
        assert_eq!(value("get(a, 'b')", r#"{"a":{"b":"c"}}"#), json!("c"));
        assert_eq!(value("get(get(a, 'b'), 0)", r#"{"a":{"b":[7]}}"#), json!(7));
        assert_eq!(value("get(a, 'b').x", r#"{"a":{"b":{"x":1}}}"#), json!(1));
    }

    #[test]
    fn hyphenated_keys_need_get_and_a_hyphen_is_subtraction() {
        let payload = r#"{"my-key":5,"my":10,"key":3}"#;
        assert_eq!(value("get(*, 'my-key')", payload), json!(5));
        assert_eq!(value("my-key", payload), json!(7));
    }

    #[test]
    fn whole_decimals_read_as_int_only_in_2016() {
        let payload = r#"{"x":10.0}"#;
        assert_eq!(
            json_out("SELECT VALUE x / 4 FROM 't'", V16, payload),
            json!(2)
        );
        assert_eq!(
            json_out("SELECT VALUE x / 4 FROM 't'", V15, payload),
            json!(2.5)
        );
        assert_eq!(
            json_out("SELECT VALUE 10.0 FROM 't'", V15, "{}"),
            json!(10.0)
        );
    }

    #[test]
    fn literals_of_2016_build_objects_and_arrays() {
        assert_eq!(
            value(
                "{'t': temp, 'list': [1, 'two', null, missing], \"q\": true}",
                r#"{"temp":3}"#
            ),
            json!({"t": 3, "list": [1, "two", null, null], "q": true})
        );
    }

    #[test]
    fn case_picks_the_first_equal_arm() {
        let sql = "CASE color WHEN 'green' THEN 'go' WHEN 'yellow' THEN 'slow' ELSE 'stop' END";
        assert_eq!(value(sql, r#"{"color":"yellow"}"#), json!("slow"));
        assert_eq!(value(sql, r#"{"color":"blue"}"#), json!("stop"));
        assert!(undefined(sql, "{}"));
        assert!(undefined("CASE 1 WHEN 2 THEN 3 END", "{}"));
        assert_eq!(value("CASE 2 WHEN 2.0 THEN 'num' END", "{}"), json!("num"));
    }

    #[test]
    fn nested_queries_iterate_an_array_as_documented() {
        let payload = r#"{"e":[{"n":"temperature","u":"Cel","t":1234,"v":22.5},
            {"n":"light","u":"lm","t":1235,"v":135},{"n":"acidity","u":"pH","t":1235,"v":7}]}"#;
        assert_eq!(
            json_out(
                "SELECT (SELECT v FROM e WHERE n = 'temperature') AS temperature FROM 'my/topic'",
                V16,
                payload
            ),
            json!({"temperature": [{"v": 22.5}]})
        );
        assert_eq!(
            json_out(
                "SELECT (SELECT VALUE n FROM e) AS sensors FROM 'my/topic'",
                V16,
                payload
            ),
            json!({"sensors": ["temperature", "light", "acidity"]})
        );
        assert_eq!(
            value("(SELECT *, topic(1) AS top FROM e WHERE v > 100)", payload),
            json!([{"n": "light", "u": "lm", "t": 1235, "v": 135, "top": "a"}])
        );
        assert_eq!(value("(SELECT VALUE missing FROM e)", payload), json!([]));
        assert!(undefined("(SELECT VALUE n FROM missing)", payload));
    }

    #[test]
    fn set_variables_are_computed_once_and_seen_by_where_select_and_nested_queries() {
        let payload = r#"{"temp_fahrenheit":75,"humidity":60,"e":[{"n":1},{"n":5}]}"#;
        // AWS's page shows 23.89 here, but documents Int / Int as Int; the reference flags it.
        assert_eq!(
            json_out(
                "SET @temp_celsius = (temp_fahrenheit - 32) * 5 / 9 \
                 SELECT @temp_celsius AS celsius, humidity FROM 'device/data' WHERE @temp_celsius > 20",
                V16,
                payload
            ),
            json!({"celsius": 23, "humidity": 60})
        );
        assert_eq!(
            json_out(
                "SET @min = 2, @o = {'k': [@min]} SELECT (SELECT VALUE n FROM e WHERE n > @min) AS big, \
                 @o.k[0] AS k, @o AS o FROM 't'",
                V16,
                payload
            ),
            json!({"big": [5], "k": 2, "o": {"k": [2]}})
        );
        let ctx = message("t", payload);
        let statement = parse("SET @id = newuuid() SELECT @id AS id FROM 't'", V16).unwrap();
        let evaluation = statement.evaluate_with_variables(&ctx).unwrap();
        assert_eq!(
            evaluation.variables.get("id"),
            Some(&Value::from("8e5f3b8c-1d2a-4f6b-9c0d-2e4f6a8b0c1d"))
        );
        assert_eq!(
            evaluation.output,
            Some(Output::Json(
                json!({"id": "8e5f3b8c-1d2a-4f6b-9c0d-2e4f6a8b0c1d"})
            ))
        );
    }

    #[test]
    fn in_checks_membership_of_an_array() {
        assert_eq!(value("x IN [1, 2, 3]", r#"{"x":2}"#), json!(true));
        assert_eq!(value("x IN ['a']", r#"{"x":2}"#), json!(false));
        assert!(undefined("missing IN [1]", "{}"));
    }

    #[test]
    fn message_functions_read_the_context() {
        let ctx = message("$aws/rules/myRule/dev/42", "{}")
            .with_client_id("c1")
            .with_principal("abc123")
            .with_trace_id("trace-1")
            .with_account_id("123456789012");
        let out = run(
            "SELECT topic() AS t, topic(2) AS n, clientid(), principal(), traceid(), \
             timestamp() AS ts, newuuid() AS id, accountid() AS acct, sql_version() AS v, rand() AS r FROM 'x'",
            V16,
            &ctx,
        );
        assert_eq!(
            out,
            Some(Output::Json(json!({
                "t": "dev/42", "n": "42", "clientid": "c1", "principal": "abc123",
                "traceid": "trace-1", "ts": 1_520_551_012_345_i64,
                "id": "8e5f3b8c-1d2a-4f6b-9c0d-2e4f6a8b0c1d", "acct": "123456789012",
                "v": "2016-03-23", "r": 0.25
            })))
        );
    }

    #[test]
    fn without_a_client_the_client_id_is_n_a_and_the_trace_id_is_undefined() {
        let out = run(
            "SELECT clientid(), traceid(), principal() FROM 'x'",
            V15,
            &message("t", "{}"),
        );
        assert_eq!(out, Some(Output::Json(json!({"clientid": "n/a"}))));
    }

    #[test]
    fn mqtt5_properties_are_readable() {
        let ctx = message("t", "{}").with_mqtt_properties(MqttProperties {
            payload_format_indicator: Some(1),
            content_type: Some("application/json".into()),
            response_topic: Some("reply/here".into()),
            correlation_data: Some(b"id-1".to_vec()),
            message_expiry_interval: None,
            user_properties: vec![
                ("k".into(), "v1".into()),
                ("other".into(), "x".into()),
                ("k".into(), "v2".into()),
            ],
        });
        let out = run(
            "SELECT get_mqtt_property('format_indicator') AS f, get_mqtt_property('content_type') AS ct, \
             get_mqtt_property('response_topic') AS rt, get_mqtt_property('correlation_data') AS cd, \
             get_mqtt_property('nope') AS none, get_user_properties('k') AS k, \
             get_user_properties('missing') AS m, get_user_properties() AS all FROM 't'",
            V16,
            &ctx,
        );
        assert_eq!(
            out,
            Some(Output::Json(json!({
                "f": "UTF8_DATA", "ct": "application/json", "rt": "reply/here", "cd": "aWQtMQ==",
                "k": ["v1", "v2"], "all": [{"k": "v1"}, {"other": "x"}, {"k": "v2"}]
            })))
        );
    }

    #[test]
    fn string_functions_stringify_and_undefined_spreads() {
        let p = r#"{"s":"  Hello World  ","n":42,"nil":null}"#;
        assert_eq!(value("upper(trim(s))", p), json!("HELLO WORLD"));
        assert_eq!(value("lower(s)", p), json!("  hello world  "));
        assert_eq!(value("ltrim(s)", p), json!("Hello World  "));
        assert_eq!(value("rtrim(s)", p), json!("  Hello World"));
        assert_eq!(value("upper(n)", p), json!("42"));
        assert!(undefined("upper(nil)", p));
        assert!(undefined("upper(missing)", p));
        assert_eq!(value("length('héllo')", p), json!(5));
        assert_eq!(value("numbytes('héllo')", p), json!(6));
        assert_eq!(value("indexof('abcd', 'cd')", p), json!(2));
        assert_eq!(value("indexof('abcd', 'x')", p), json!(-1));
        assert_eq!(value("startswith('abc', 'ab')", p), json!(true));
        assert_eq!(value("endswith('abc', 'ab')", p), json!(false));
        assert_eq!(value("replace('a-b-c', '-', '+')", p), json!("a+b+c"));
        assert_eq!(value("concat('a', 1, true)", p), json!("a1true"));
        assert_eq!(value("concat([1], [2, 3])", p), json!([1, 2, 3]));
        assert_eq!(value("substring('123456', 2, 4)", p), json!("34"));
        assert_eq!(value("lpad('x', 3)", p), json!("   x"));
        assert_eq!(value("rpad('x', 1)", p), json!("x "));
        assert_eq!(value("chr(65)", p), json!("A"));
        assert_eq!(value("'a' + 1", p), json!("a1"));
    }

    #[test]
    fn regular_expressions_filter_and_rewrite() {
        let p = r#"{"id":"dev-0042","note":"a.b.c"}"#;
        let ctx = message("t", p);
        assert!(
            run(
                "SELECT * FROM 't' WHERE regexp_matches(id, '^dev-\\d+$')",
                V15,
                &ctx
            )
            .is_some()
        );
        assert!(
            run(
                "SELECT * FROM 't' WHERE regexp_matches(id, '^x')",
                V15,
                &ctx
            )
            .is_none()
        );
        assert_eq!(
            value("regexp_replace(id, 'dev-0*(\\d+)', 'n$1')", p),
            json!("n42")
        );
        assert_eq!(value("regexp_replace(note, '\\.', '/')", p), json!("a/b/c"));
        assert_eq!(value("regexp_substr(id, '\\d+')", p), json!("0042"));
        assert!(undefined("regexp_matches(id, '(')", p));
    }

    #[test]
    fn undefined_and_null_tests_report_booleans() {
        let p = r#"{"nil":null,"a":1}"#;
        assert_eq!(value("isUndefined(missing)", p), json!(true));
        assert_eq!(value("isUndefined(a)", p), json!(false));
        assert_eq!(value("isNull(nil)", p), json!(true));
        assert_eq!(value("isNull(missing)", p), json!(false));
        assert_eq!(value("nanvl(sqrt(-1), 0)", p), json!(0));
        assert_eq!(value("nanvl(a, 0)", p), json!(1));
    }

    #[test]
    fn math_functions_follow_the_documented_examples() {
        let p = "{}";
        assert_eq!(value("abs(-5)", p), json!(5));
        assert_eq!(value("abs(-5.5)", p), json!(5.5));
        assert_eq!(value("ceil(1.2)", p), json!(2));
        assert_eq!(value("ceil(-1.2)", p), json!(-1));
        assert_eq!(value("floor(-1.2)", p), json!(-2));
        assert_eq!(value("round(1.2)", p), json!(1));
        assert_eq!(value("round(1.5)", p), json!(2));
        assert_eq!(value("round(-1.5)", p), json!(-2));
        assert_eq!(value("sign(-4.2)", p), json!(-1));
        assert_eq!(value("sign(0)", p), json!(0));
        assert_eq!(value("mod(8, 3)", p), json!(2));
        assert_eq!(value("8 % 3", p), json!(2));
        assert_eq!(value("power(2, 5)", p), json!(32.0));
        assert_eq!(value("sqrt(9)", p), json!(3.0));
        assert_eq!(value("log(100)", p), json!(2.0));
        assert_eq!(value("ln(exp(1))", p), json!(1.0));
        assert_eq!(value("trunc(2.3123, 2)", p), json!(2.31));
        assert_eq!(value("bitand(13, 5)", p), json!(5));
        assert_eq!(value("bitor(8, 5)", p), json!(13));
        assert_eq!(value("bitxor(13, 5)", p), json!(8));
        assert_eq!(value("bitnot(13)", p), json!(-14));
        assert_eq!(value("cos(0)", p), json!(1.0));
        assert_eq!(value("atan2(0, 1)", p), json!(0.0));
        assert_eq!(value("abs('-2')", p), json!(2.0));
        assert!(undefined("sqrt('x')", p));
        assert!(undefined("ln(0)", p));
    }

    #[test]
    fn arithmetic_follows_the_type_rules() {
        let p = r#"{"s":"10","b":true}"#;
        assert_eq!(value("7 / 2", p), json!(3));
        assert_eq!(value("7.5 / 2", p), json!(3.75));
        // 2016-03-23 reads the literal 7.0 as Int 7, so this is integer division.
        assert_eq!(value("7.0 / 2", p), json!(3));
        assert_eq!(value("s - 2", p), json!(8.0));
        assert_eq!(value("s + 2", p), json!("102"));
        assert_eq!(value("-s", p), json!(-10.0));
        assert!(undefined("b + 1", p));
        assert!(undefined("1 / 0", p));
        assert_eq!(value("(75 - 32) * 5 / 9", p), json!(23));
        assert_eq!(value("0.1 + 0.2", p), json!(0.3));
    }

    #[test]
    fn comparisons_and_logic_follow_the_type_rules() {
        let p = r#"{"s":"10","flag":"TRUE"}"#;
        assert_eq!(value("s > 9", p), json!(true));
        assert_eq!(value("s = 10", p), json!(false));
        assert_eq!(value("s <> 10", p), json!(true));
        assert_eq!(value("flag AND true", p), json!(true));
        assert_eq!(value("NOT flag", p), json!(false));
        assert!(undefined("'a' < 'b'", p));
        assert!(undefined("1 AND true", p));
        assert_eq!(value("[1, {'a': 2}] = [1, {'a': 2}]", p), json!(true));
        assert_eq!(value("null = null", p), json!(true));
    }

    #[test]
    fn cast_converts_explicitly() {
        let p = "{}";
        assert_eq!(value("cast(2.7 AS Int)", p), json!(2));
        assert_eq!(value("cast('12' AS Integer)", p), json!(12));
        assert_eq!(value("cast(true AS Int)", p), json!(1));
        assert_eq!(value("cast(12 AS String)", p), json!("12"));
        assert_eq!(value("cast('0.5' AS Double)", p), json!(0.5));
        assert_eq!(value("cast(1 AS Bool)", p), json!(true));
        assert_eq!(value("cast('false' AS Boolean)", p), json!(false));
        assert_eq!(value("cast(3 AS Decimal) / 2", p), json!(1.5));
    }

    #[test]
    fn parse_time_and_time_to_epoch_convert_between_text_and_milliseconds() {
        assert_eq!(
            value(
                "parse_time(\"yyyy-MM-dd'T'HH:mm:ss.SSSZ\", timestamp())",
                "{}"
            ),
            json!("2018-03-08T23:16:52.345+0000")
        );
        assert_eq!(
            value("parse_time('yyyy-MM-dd HH:mm', 0, '+02:00')", "{}"),
            json!("1970-01-01 02:00")
        );
        assert!(undefined("parse_time('yyyy', 0, 'Europe/Lisbon')", "{}"));
        assert_eq!(
            value(
                "time_to_epoch('2020-04-03 09:45:18 UTC+01:00', 'yyyy-MM-dd HH:mm:ss VV')",
                "{}"
            ),
            json!(1_585_903_518_000_i64)
        );
        assert!(undefined("time_to_epoch('2020-02-30', 'yyyy-MM-dd')", "{}"));
    }

    #[test]
    fn external_service_functions_are_accepted_and_undefined() {
        assert!(undefined(
            "get_thing_shadow('thing', 'arn:aws:iam::123456789012:role/r')",
            "{}"
        ));
        assert!(undefined(
            "aws_lambda('arn:aws:lambda:us-east-1:1:function:f', *)",
            "{}"
        ));
    }

    #[test]
    fn printing_a_statement_gives_sql_that_parses_to_the_same_statement() {
        let sql = "SELECT *, a.b AS x, -c * (d + 1) AS y, upper(s), CASE k WHEN 1 THEN 'one' END AS z \
                   FROM 'a/+/c' WHERE NOT (e = 'x''y' OR f IN [1, 2])";
        let first = parse(sql, V16).unwrap();
        let printed = first.to_string();
        assert_eq!(parse(&printed, V16).unwrap(), first, "{printed}");
        for sql in [
            "SELECT (value[0]) AS x FROM 't'",
            "SELECT VALUE *",
            "SELECT *",
            "SELECT VALUE (SELECT value, * FROM (SELECT VALUE a FROM b) WHERE c) FROM 't'",
            "SET @a = 1, @b = {'x': @a} SELECT @b.x AS x, @a FROM 't' WHERE @a = 1",
        ] {
            let first = parse(sql, V16).unwrap();
            assert_eq!(parse(&first.to_string(), V16).unwrap(), first, "{sql}");
        }
    }
}
