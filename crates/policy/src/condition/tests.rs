use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::*;
use crate::context::{CertificateContext, DnAttribute, ThingContext};

fn context() -> Context {
    Context {
        client_id: Some("sensor-1".into()),
        source_ip: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))),
        connect_attributes: vec!["PersistentConnect".into(), "LastWill".into()],
        thing: Some(ThingContext {
            name: "sensor-1".into(),
            type_name: None,
            attributes: [
                ("floor".to_owned(), "3".to_owned()),
                ("owner".to_owned(), "Alice".to_owned()),
                (
                    "arn".to_owned(),
                    "arn:aws:iot:us-east-1:1:thing/x".to_owned(),
                ),
            ]
            .into(),
            is_attached: true,
        }),
        certificate: Some(CertificateContext {
            subject: vec![
                (DnAttribute::Organization, "Example Corp".into()),
                (DnAttribute::Organization, "AnyCompany".into()),
            ],
            ..CertificateContext::default()
        }),
        ..Context::new("us-east-1", "123456789012")
    }
}

/// Whether the `Condition` element `json` holds for `ctx`; `None` if a variable is unresolved.
fn holds_for(json: &str, ctx: &Context) -> Option<bool> {
    let node = Node::parse(json).expect("test condition is JSON");
    let conditions =
        parse_block(&node, &JsonPath::root().key("Condition")).expect("test condition is valid");
    let mut all = true;
    for condition in &conditions {
        all &= condition.evaluate(ctx)?;
    }
    Some(all)
}

fn holds(json: &str) -> bool {
    holds_for(json, &context()).expect("variables resolve")
}

fn refused(json: &str) -> Problem {
    let node = Node::parse(json).expect("test condition is JSON");
    match parse_block(&node, &JsonPath::root()) {
        Err(PolicyError::Invalid { problem, .. }) => problem,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn string_equals_matches_exactly_and_any_listed_value() {
    assert!(holds(r#"{"StringEquals":{"iot:ClientId":"sensor-1"}}"#));
    assert!(!holds(r#"{"StringEquals":{"iot:ClientId":"Sensor-1"}}"#));
    assert!(holds(
        r#"{"StringEquals":{"iot:ClientId":["other","sensor-1"]}}"#
    ));
    assert!(!holds(r#"{"StringEquals":{"iot:ClientId":"sensor-*"}}"#));
}

#[test]
fn string_not_equals_holds_when_no_listed_value_matches() {
    assert!(holds(r#"{"StringNotEquals":{"iot:ClientId":["a","b"]}}"#));
    assert!(!holds(
        r#"{"StringNotEquals":{"iot:ClientId":["a","sensor-1"]}}"#
    ));
}

#[test]
fn ignore_case_operators_fold_case() {
    assert!(holds(
        r#"{"StringEqualsIgnoreCase":{"iot:ClientId":"SENSOR-1"}}"#
    ));
    assert!(!holds(
        r#"{"StringNotEqualsIgnoreCase":{"iot:ClientId":"Sensor-1"}}"#
    ));
    assert!(holds(
        r#"{"StringNotEqualsIgnoreCase":{"iot:ClientId":"sensor-2"}}"#
    ));
}

#[test]
fn string_like_uses_wildcards_and_literal_escapes() {
    assert!(holds(r#"{"StringLike":{"iot:ClientId":"sensor-*"}}"#));
    assert!(holds(r#"{"StringLike":{"iot:ClientId":"sensor-?"}}"#));
    assert!(!holds(r#"{"StringLike":{"iot:ClientId":"sensor-${*}"}}"#));
    assert!(!holds(r#"{"StringNotLike":{"iot:ClientId":"*-1"}}"#));
    assert!(holds(r#"{"StringNotLike":{"iot:ClientId":"gateway-*"}}"#));
}

#[test]
fn condition_values_substitute_variables() {
    assert!(holds(
        r#"{"StringEquals":{"iot:ClientId":"${iot:Connection.Thing.ThingName}"}}"#
    ));
    assert!(holds(
        r#"{"StringLike":{"iot:Connection.Thing.Attributes[owner]":"${iot:Connection.Thing.Attributes[owner]}*"}}"#
    ));
}

#[test]
fn an_unresolved_variable_in_a_value_leaves_the_condition_undecided() {
    let json = r#"{"StringEquals":{"iot:ClientId":"${iot:Connection.Thing.ThingTypeName}"}}"#;
    assert_eq!(holds_for(json, &context()), None);
}

#[test]
fn arn_operators_match_each_component_on_its_own() {
    let key = "iot:Connection.Thing.Attributes[arn]";
    assert!(holds(&format!(
        r#"{{"ArnLike":{{"{key}":"arn:aws:iot:us-*:1:thing/*"}}}}"#
    )));
    assert!(holds(&format!(
        r#"{{"ArnEquals":{{"{key}":"arn:aws:iot:us-east-1:1:thing/x"}}}}"#
    )));
    assert!(!holds(&format!(
        r#"{{"ArnNotLike":{{"{key}":"arn:aws:iot:*:*:thing/*"}}}}"#
    )));
    assert!(holds(&format!(
        r#"{{"ArnNotEquals":{{"{key}":"arn:aws:iot:*:2:thing/*"}}}}"#
    )));

    // A `*` in the region must not swallow the account's colon.
    let ctx = Context {
        thing: Some(ThingContext {
            name: "t".into(),
            attributes: [(
                "arn".to_owned(),
                "arn:aws:iot:us-e:ast:1:thing/x".to_owned(),
            )]
            .into(),
            is_attached: true,
            ..ThingContext::default()
        }),
        ..context()
    };
    let json = format!(r#"{{"ArnLike":{{"{key}":"arn:aws:iot:us-*:1:thing/x"}}}}"#);
    assert_eq!(holds_for(&json, &ctx), Some(false));
    // Without wildcards an ARN that is not shaped like one still compares whole.
    assert!(holds(&format!(r#"{{"ArnLike":{{"{key}":"*"}}}}"#)));
}

#[test]
fn bool_compares_true_and_false_as_strings_or_json_booleans() {
    assert!(holds(
        r#"{"Bool":{"iot:Connection.Thing.IsAttached":"true"}}"#
    ));
    assert!(holds(
        r#"{"Bool":{"iot:Connection.Thing.IsAttached":true}}"#
    ));
    assert!(!holds(
        r#"{"Bool":{"iot:Connection.Thing.IsAttached":false}}"#
    ));
    assert_eq!(
        refused(r#"{"Bool":{"iot:Connection.Thing.IsAttached":"yes"}}"#),
        Problem::InvalidConditionValue {
            operator: "Bool".into(),
            expected: "\"true\" or \"false\"",
            found: "yes".into()
        }
    );
}

#[test]
fn null_tests_whether_a_key_is_absent() {
    assert!(holds(
        r#"{"Null":{"iot:Connection.Thing.ThingTypeName":"true"}}"#
    ));
    assert!(!holds(
        r#"{"Null":{"iot:Connection.Thing.ThingTypeName":false}}"#
    ));
    assert!(holds(r#"{"Null":{"iot:ClientId":"false"}}"#));
    assert!(!holds(r#"{"Null":{"iot:ClientId":"true"}}"#));
}

#[test]
fn numeric_operators_compare_numbers() {
    let key = "iot:Connection.Thing.Attributes[floor]";
    for (operator, value, expected) in [
        ("NumericEquals", "3", true),
        ("NumericEquals", "3.0", true),
        ("NumericNotEquals", "3", false),
        ("NumericNotEquals", "4", true),
        ("NumericLessThan", "4", true),
        ("NumericLessThan", "3", false),
        ("NumericLessThanEquals", "3", true),
        ("NumericGreaterThan", "2", true),
        ("NumericGreaterThan", "3", false),
        ("NumericGreaterThanEquals", "3", true),
    ] {
        let json = format!(r#"{{"{operator}":{{"{key}":"{value}"}}}}"#);
        assert_eq!(holds(&json), expected, "{json}");
    }
    assert!(holds(&format!(r#"{{"NumericLessThan":{{"{key}":10}}}}"#)));
}

#[test]
fn a_non_numeric_key_value_never_compares() {
    let key = "iot:Connection.Thing.Attributes[owner]";
    assert!(!holds(&format!(
        r#"{{"NumericLessThan":{{"{key}":"10"}}}}"#
    )));
    assert!(holds(&format!(
        r#"{{"NumericNotEquals":{{"{key}":"10"}}}}"#
    )));
}

#[test]
fn ip_address_operators_test_cidr_membership() {
    assert!(holds(r#"{"IpAddress":{"aws:SourceIp":"192.0.2.0/24"}}"#));
    assert!(holds(
        r#"{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","192.0.2.7"]}}"#
    ));
    assert!(!holds(r#"{"IpAddress":{"aws:SourceIp":"192.0.3.0/24"}}"#));
    assert!(holds(r#"{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}"#));
    assert!(!holds(r#"{"IpAddress":{"aws:SourceIp":"::/0"}}"#));
    assert!(holds(
        r#"{"NotIpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#
    ));
    assert!(!holds(
        r#"{"NotIpAddress":{"aws:SourceIp":"192.0.2.0/29"}}"#
    ));

    let v6 = Context {
        source_ip: Some(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1))),
        ..context()
    };
    assert_eq!(
        holds_for(r#"{"IpAddress":{"aws:SourceIp":"2001:db8::/32"}}"#, &v6),
        Some(true)
    );
    assert_eq!(
        holds_for(r#"{"IpAddress":{"aws:SourceIp":"2001:db9::/32"}}"#, &v6),
        Some(false)
    );

    let mapped = Context {
        source_ip: Some(IpAddr::V6(Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped())),
        ..context()
    };
    assert_eq!(
        holds_for(r#"{"IpAddress":{"aws:SourceIp":"192.0.2.0/24"}}"#, &mapped),
        Some(true)
    );

    for bad in [
        "192.0.2.0/33",
        "192.0.2/24",
        "::/129",
        "10.0.0.0/+8",
        "host",
    ] {
        let json = format!(r#"{{"IpAddress":{{"aws:SourceIp":"{bad}"}}}}"#);
        assert!(
            matches!(refused(&json), Problem::InvalidConditionValue { .. }),
            "{bad}"
        );
    }
}

#[test]
fn an_absent_key_fails_positive_operators_and_passes_negated_ones() {
    let ctx = Context {
        client_id: None,
        ..context()
    };
    assert_eq!(
        holds_for(r#"{"StringEquals":{"iot:ClientId":"a"}}"#, &ctx),
        Some(false)
    );
    assert_eq!(
        holds_for(r#"{"StringNotEquals":{"iot:ClientId":"a"}}"#, &ctx),
        Some(true)
    );
    assert_eq!(
        holds_for(r#"{"StringNotLike":{"iot:ClientId":"a*"}}"#, &ctx),
        Some(true)
    );
    assert_eq!(
        holds_for(
            r#"{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#,
            &Context::default()
        ),
        Some(true)
    );
}

#[test]
fn if_exists_passes_an_absent_key_and_checks_a_present_one() {
    let absent = Context {
        client_id: None,
        ..context()
    };
    let json = r#"{"StringEqualsIfExists":{"iot:ClientId":"a"}}"#;
    assert_eq!(holds_for(json, &absent), Some(true));
    assert_eq!(holds_for(json, &context()), Some(false));
    let json = r#"{"StringEqualsIfExists":{"iot:ClientId":"sensor-1"}}"#;
    assert_eq!(holds_for(json, &context()), Some(true));
    let json = r#"{"ForAnyValue:StringEqualsIfExists":{"iot:ConnectAttributes":"LastWill"}}"#;
    let no_attributes = Context {
        connect_attributes: Vec::new(),
        ..context()
    };
    assert_eq!(holds_for(json, &no_attributes), Some(true));
}

#[test]
fn for_all_values_needs_every_request_value_in_the_policy_set() {
    assert!(holds(
        r#"{"ForAllValues:StringEquals":{"iot:ConnectAttributes":["PersistentConnect","LastWill"]}}"#
    ));
    assert!(!holds(
        r#"{"ForAllValues:StringEquals":{"iot:ConnectAttributes":["PersistentConnect"]}}"#
    ));
    assert!(holds(
        r#"{"ForAllValues:StringEquals":{"iot:Certificate.Subject.Organization.List":["Example Corp","AnyCompany","Other"]}}"#
    ));
}

#[test]
fn for_all_values_over_no_values_is_true() {
    let ctx = Context {
        connect_attributes: Vec::new(),
        ..context()
    };
    let json = r#"{"ForAllValues:StringEquals":{"iot:ConnectAttributes":["LastWill"]}}"#;
    assert_eq!(holds_for(json, &ctx), Some(true));
}

#[test]
fn for_any_value_needs_one_matching_request_value() {
    assert!(holds(
        r#"{"ForAnyValue:StringEquals":{"iot:ConnectAttributes":"LastWill"}}"#
    ));
    assert!(!holds(
        r#"{"ForAnyValue:StringEquals":{"iot:ConnectAttributes":"Other"}}"#
    ));
    let ctx = Context {
        connect_attributes: Vec::new(),
        ..context()
    };
    let json = r#"{"ForAnyValue:StringEquals":{"iot:ConnectAttributes":"LastWill"}}"#;
    assert_eq!(holds_for(json, &ctx), Some(false));
}

#[test]
fn negated_set_operators_test_each_request_value() {
    // Some request value is not "LastWill".
    assert!(holds(
        r#"{"ForAnyValue:StringNotEquals":{"iot:ConnectAttributes":"LastWill"}}"#
    ));
    // No request value is "LastWill".
    assert!(!holds(
        r#"{"ForAllValues:StringNotEquals":{"iot:ConnectAttributes":"LastWill"}}"#
    ));
    assert!(holds(
        r#"{"ForAllValues:StringNotEquals":{"iot:ConnectAttributes":"Other"}}"#
    ));
}

#[test]
fn a_plain_operator_on_a_multi_valued_key_compares_every_value() {
    assert!(holds(
        r#"{"StringEquals":{"iot:ConnectAttributes":"LastWill"}}"#
    ));
    assert!(!holds(
        r#"{"StringNotEquals":{"iot:ConnectAttributes":"LastWill"}}"#
    ));
}

#[test]
fn every_operator_and_every_key_must_hold() {
    assert!(holds(
        r#"{"StringEquals":{"iot:ClientId":"sensor-1","iot:Connection.Thing.ThingName":"sensor-1"},
            "IpAddress":{"aws:SourceIp":"192.0.2.0/24"}}"#
    ));
    assert!(!holds(
        r#"{"StringEquals":{"iot:ClientId":"sensor-1","iot:Connection.Thing.ThingName":"other"}}"#
    ));
    assert!(!holds(
        r#"{"StringEquals":{"iot:ClientId":"sensor-1"},"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#
    ));
    assert!(holds("{}"));
}

#[test]
fn operators_that_iam_does_not_define_are_refused() {
    for operator in [
        "stringequals",
        "StringEqual",
        "ForAllValues:Null",
        "NullIfExists",
        "ForSomeValues:StringEquals",
        "DateLessThan",
        "BinaryEquals",
    ] {
        let json = format!(r#"{{"{operator}":{{"iot:ClientId":"a"}}}}"#);
        assert_eq!(
            refused(&json),
            Problem::UnknownOperator {
                operator: operator.into()
            }
        );
    }
}

#[test]
fn condition_values_must_be_scalars() {
    assert_eq!(
        refused(r#"{"StringEquals":{"iot:ClientId":[{"a":1}]}}"#),
        Problem::WrongType {
            expected: "a string, number or boolean, or an array of them",
            found: "an object"
        }
    );
    assert_eq!(
        refused(r#"{"StringEquals":{"iot:ClientId":null}}"#),
        Problem::WrongType {
            expected: "a string, number or boolean, or an array of them",
            found: "null"
        }
    );
    assert_eq!(
        refused(r#"{"StringEquals":"iot:ClientId"}"#),
        Problem::WrongType {
            expected: "an object of condition keys",
            found: "a string"
        }
    );
}
