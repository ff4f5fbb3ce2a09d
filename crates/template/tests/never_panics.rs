//! Property tests: parsing and evaluating never panic, whatever the body, and evaluation is
//! deterministic.

use proptest::prelude::*;
use roost_template::{Parameters, Template};
use serde_json::{Map, Value, json};

/// Keys and strings that steer random JSON into the template grammar.
const WORDS: &[&str] = &[
    "Parameters",
    "Mappings",
    "Conditions",
    "Resources",
    "DeviceConfiguration",
    "Type",
    "Default",
    "Properties",
    "OverrideSettings",
    "Condition",
    "Ref",
    "Fn::Join",
    "Fn::Select",
    "Fn::Split",
    "Fn::Sub",
    "Fn::FindInMap",
    "Fn::If",
    "Fn::Equals",
    "Fn::And",
    "Fn::Or",
    "Fn::Not",
    "Fn::GetAtt",
    "String",
    "Number",
    "CommaDelimitedList",
    "AWS::IoT::Thing",
    "AWS::IoT::Certificate",
    "AWS::IoT::Policy",
    "ThingName",
    "AttributePayload",
    "ThingGroups",
    "CertificateId",
    "CertificatePem",
    "CACertificatePem",
    "Status",
    "ACTIVE",
    "PolicyName",
    "PolicyDocument",
    "MERGE",
    "a",
    "b",
    "c",
    ",",
    "0",
    "1",
    "${a}",
    "${!a}",
    "${",
    "{}",
    "{\"k\":1}",
];

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(WORDS).prop_map(str::to_owned),
        1 => ".{0,8}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-3i64..20).prop_map(Value::from),
        word().prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 5, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::vec((word(), inner), 0..5)
                .prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A string expression and a list expression that follow the intrinsic-function grammar,
/// built together so that each can nest the other; now and then one is random JSON instead.
fn expressions() -> impl Strategy<Value = (Value, Value)> {
    let string_leaf = prop_oneof![
        3 => word().prop_map(Value::String),
        1 => Just(json!({"Ref": "a"})),
        1 => Just(json!({"Ref": "c"})),
        1 => Just(json!({"Fn::FindInMap": ["a", "b", "c"]})),
    ];
    let list_leaf = prop_oneof![
        proptest::collection::vec(word().prop_map(Value::String), 0..3).prop_map(Value::Array),
        Just(json!({"Ref": "b"})),
    ];
    (string_leaf, list_leaf).prop_recursive(5, 64, 2, |inner| {
        let pair = (inner.clone(), inner, word(), 0u8..4);
        prop_oneof![
            20 => pair.prop_map(|((s1, l1), (s2, l2), w, i)| match i {
                0 => (json!({"Fn::Join": [w, l1]}), json!([s1, s2])),
                1 => (json!({"Fn::Select": [i, l1]}), json!({"Fn::Split": [w, s1]})),
                2 => (
                    json!({"Fn::Sub": [format!("${{v}}{w}${{a}}${{!v}}"), {"v": s1}]}),
                    json!({"Fn::If": ["a", l1, l2]}),
                ),
                _ => (
                    json!({"Fn::If": ["b", s1, {"Fn::FindInMap": ["a", {"Ref": "a"}, s2]}]}),
                    l2,
                ),
            }),
            1 => (json_value(), json_value()),
        ]
    })
}

/// A template whose skeleton is valid, with generated expressions where values go.
fn template_with_random_values() -> impl Strategy<Value = Value> {
    (expressions(), expressions(), any::<bool>()).prop_map(|((name, groups), (other, list), raw)| {
        let document = if raw {
            json!({"Version": "2012-10-17", "Statement": [{"Resource": list, "Sid": other}]})
        } else {
            json!({"Fn::Sub": ["{\"Version\": \"${v}\"}", {"v": other}]})
        };
        json!({
            "Parameters": {
                "a": {"Type": "String"},
                "b": {"Type": "CommaDelimitedList", "Default": "x,y"},
                "c": {"Type": "Number", "Default": "1"}
            },
            "Mappings": {"a": {"a": {"a": "m"}, "b": {"c": "n"}}},
            "Conditions": {
                "a": {"Fn::Or": [
                    {"Fn::Equals": [{"Ref": "a"}, {"Fn::Select": [1, {"Ref": "b"}]}]},
                    {"Fn::Not": [{"Condition": "b"}]}
                ]},
                "b": {"Fn::Equals": [{"Ref": "a"}, "a"]}
            },
            "Resources": {
                "thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": name, "ThingGroups": groups}},
                "policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": document}}
            },
            "DeviceConfiguration": {"name": name}
        })
    })
}

fn supplied() -> Parameters {
    [("a", "a"), ("b", "p,q,r")]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into()
}

fn parse_and_evaluate(body: &str) {
    if let Ok(template) = Template::parse(body) {
        let first = template.evaluate(&supplied());
        let second = template.evaluate(&supplied());
        assert_eq!(first, second);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_never_panics_on_arbitrary_strings(body in any::<String>()) {
        parse_and_evaluate(&body);
    }

    #[test]
    fn parse_never_panics_on_json_like_text(body in "[{}\\[\\]\":,a-zA-Z0-9 $!\\\\]{0,64}") {
        parse_and_evaluate(&body);
    }

    #[test]
    fn parse_never_panics_on_arbitrary_json_values(value in json_value()) {
        parse_and_evaluate(&value.to_string());
    }

    #[test]
    fn random_expressions_in_a_valid_skeleton_never_panic(value in template_with_random_values()) {
        parse_and_evaluate(&value.to_string());
    }
}

#[test]
fn deeply_nested_json_is_an_error_not_a_stack_overflow() {
    let body = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let body: String = body.chars().take(10_000).collect();
    assert!(Template::parse(&body).is_err());
    let nested = format!(
        "{{\"Resources\": {{}}, \"DeviceConfiguration\": {{\"x\": {}\"a\"{}}}}}",
        "{\"Fn::Join\": [\"\", [".repeat(200),
        "]]}".repeat(200)
    );
    assert!(Template::parse(&nested).is_err());
}
