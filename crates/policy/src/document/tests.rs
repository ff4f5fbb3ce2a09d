use super::*;

/// The message of the error `text` fails with, without the common prefix.
fn error_of(text: &str) -> String {
    let error = PolicyDocument::parse(text).expect_err("document should be refused");
    let message = error.to_string();
    message
        .strip_prefix("Policy document is malformed: ")
        .unwrap_or_else(|| panic!("unexpected prefix: {message}"))
        .to_owned()
}

/// A document with one statement made of `body` (JSON object members).
fn statement(body: &str) -> String {
    format!(r#"{{"Version":"2012-10-17","Statement":[{{{body}}}]}}"#)
}

const PUBLISH_ANY: &str = r#""Effect":"Allow","Action":"iot:Publish","Resource":"*""#;

#[test]
fn a_minimal_document_parses() {
    let document = PolicyDocument::parse(&statement(PUBLISH_ANY)).unwrap();
    assert_eq!(document.version(), Some(PolicyVersion::V2012_10_17));
    let [statement] = document.statements() else {
        panic!("one statement expected");
    };
    assert_eq!(statement.effect(), Effect::Allow);
    assert_eq!(statement.sid(), None);
    assert!(statement.covers(Action::Publish));
    assert!(!statement.covers(Action::Subscribe));
}

#[test]
fn the_2008_version_and_a_missing_version_are_accepted() {
    let old =
        r#"{"Version":"2008-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*"}}"#;
    assert_eq!(
        PolicyDocument::parse(old).unwrap().version(),
        Some(PolicyVersion::V2008_10_17)
    );
    let none = r#"{"Statement":{"Effect":"Deny","Action":"*","Resource":"*"}}"#;
    assert_eq!(PolicyDocument::parse(none).unwrap().version(), None);
}

#[test]
fn a_single_statement_object_is_accepted() {
    let text = r#"{"Statement":{"Sid":"one","Effect":"Allow","Action":"iot:*","Resource":"*"}}"#;
    let document = PolicyDocument::parse(text).unwrap();
    assert_eq!(document.statements()[0].sid(), Some("one"));
}

#[test]
fn an_unknown_version_is_refused() {
    assert_eq!(
        error_of(r#"{"Version":"2012-10-18","Statement":[]}"#),
        r#"Version must be "2012-10-17" or "2008-10-17", found "2012-10-18""#
    );
}

#[test]
fn the_document_must_be_an_object() {
    assert_eq!(
        error_of("[]"),
        "the document must be an object, found an array"
    );
}

#[test]
fn a_missing_statement_is_refused() {
    assert_eq!(
        error_of(r#"{"Version":"2012-10-17"}"#),
        r#"the document is missing "Statement""#
    );
}

#[test]
fn an_empty_statement_list_is_refused() {
    assert_eq!(
        error_of(r#"{"Version":"2012-10-17","Statement":[]}"#),
        "Statement must not be an empty list"
    );
}

#[test]
fn a_statement_of_the_wrong_type_is_refused() {
    assert_eq!(
        error_of(r#"{"Statement":"Allow"}"#),
        "Statement must be an object or an array of objects, found a string"
    );
}

#[test]
fn unknown_keys_are_refused_at_every_level() {
    assert_eq!(
        error_of(r#"{"Statement":[],"Extra":1}"#),
        r#"the document has unknown key "Extra""#
    );
    assert_eq!(
        error_of(&statement(&format!(r#"{PUBLISH_ANY},"Principal":"*""#))),
        r#"Statement[0] has unknown key "Principal""#
    );
}

#[test]
fn an_effect_other_than_allow_or_deny_is_refused_with_its_position() {
    let text = format!(
        r#"{{"Statement":[{{{PUBLISH_ANY}}},{{"Effect":"allow","Action":"iot:Publish","Resource":"*"}}]}}"#
    );
    assert_eq!(
        error_of(&text),
        r#"Statement[1].Effect must be "Allow" or "Deny", found "allow""#
    );
}

#[test]
fn a_missing_effect_is_refused() {
    assert_eq!(
        error_of(&statement(r#""Action":"iot:Publish","Resource":"*""#)),
        r#"Statement[0] is missing "Effect""#
    );
}

#[test]
fn action_and_not_action_are_exclusive_and_one_is_required() {
    assert_eq!(
        error_of(&statement(
            r#""Effect":"Allow","Action":"*","NotAction":"iot:Publish","Resource":"*""#
        )),
        r#"Statement[0] has both "Action" and "NotAction"; use exactly one"#
    );
    assert_eq!(
        error_of(&statement(r#""Effect":"Allow","Resource":"*""#)),
        r#"Statement[0] must have "Action" or "NotAction""#
    );
}

#[test]
fn resource_and_not_resource_are_exclusive_and_one_is_required() {
    assert_eq!(
        error_of(&statement(
            r#""Effect":"Allow","Action":"*","Resource":"*","NotResource":"*""#
        )),
        r#"Statement[0] has both "Resource" and "NotResource"; use exactly one"#
    );
    assert_eq!(
        error_of(&statement(r#""Effect":"Allow","Action":"*""#)),
        r#"Statement[0] must have "Resource" or "NotResource""#
    );
}

#[test]
fn not_action_covers_every_other_action() {
    let text =
        statement(r#""Effect":"Deny","NotAction":["iot:Connect","iot:Receive"],"Resource":"*""#);
    let document = PolicyDocument::parse(&text).unwrap();
    let statement = &document.statements()[0];
    assert!(!statement.covers(Action::Connect));
    assert!(!statement.covers(Action::Receive));
    assert!(statement.covers(Action::Publish));
}

#[test]
fn actions_must_be_strings_in_a_non_empty_list() {
    assert_eq!(
        error_of(&statement(r#""Effect":"Allow","Action":[],"Resource":"*""#)),
        "Statement[0].Action must not be an empty list"
    );
    assert_eq!(
        error_of(&statement(
            r#""Effect":"Allow","Action":["iot:Publish",7],"Resource":"*""#
        )),
        "Statement[0].Action[1] must be a string, found a number"
    );
    assert_eq!(
        error_of(&statement(
            r#""Effect":"Allow","Action":{"a":1},"Resource":"*""#
        )),
        "Statement[0].Action must be a string or an array of strings, found an object"
    );
}

#[test]
fn malformed_actions_and_other_services_are_refused() {
    assert_eq!(
        error_of(&statement(
            r#""Effect":"Allow","Action":["iot:Publish","Publish"],"Resource":"*""#
        )),
        r#"Statement[0].Action[1] must be "*" or "iot:<ActionName>" (letters, digits, "*" and "?"), found "Publish""#
    );
    assert_eq!(
        error_of(&statement(
            r#""Effect":"Allow","Action":"s3:GetObject","Resource":"*""#
        )),
        r#"Statement[0].Action: action service "s3" is not allowed; AWS IoT policies only grant "iot:" actions"#
    );
}

#[test]
fn control_plane_actions_are_accepted() {
    let text = statement(r#""Effect":"Allow","Action":"iot:CreateThing","Resource":"*""#);
    let document = PolicyDocument::parse(&text).unwrap();
    assert!(
        Action::ALL
            .into_iter()
            .all(|a| !document.statements()[0].covers(a))
    );
}

#[test]
fn resources_must_be_star_or_an_iot_arn() {
    for good in [
        "*",
        "**",
        "arn:aws:iot:us-east-1:123456789012:topic/a/b",
        "arn:aws:iot:*:*:topic/*",
        "arn:aws:iot:us-east-1:123456789012:*",
        "arn:aws:iot:*",
        "arn:aws:io?:r:1:topic/x",
        "arn:aws:iot:us-east-1:123456789012:topic/$aws/things/${iot:Connection.Thing.ThingName}/shadow/*",
        "arn:aws:iot:us-east-1:123456789012:${iot:ClientId}",
        "arn:aws:iot:us-east-1:123456789012:thing/t1/shadow-name",
        "arn:aws-cn:iot:cn-north-1:123456789012:rolealias/r",
    ] {
        let text = statement(&format!(
            r#""Effect":"Allow","Action":"*","Resource":"{good}""#
        ));
        assert!(
            PolicyDocument::parse(&text).is_ok(),
            "{good} should be accepted"
        );
    }
    assert_eq!(
        error_of(&statement(
            r#""Effect":"Allow","Action":"*","Resource":["*","topic/a"]"#
        )),
        r#"Statement[0].Resource[1] must be "*" or an ARN like "arn:aws:iot:<region>:<account>:<type>/<name>", found "topic/a""#
    );
    assert_eq!(
        error_of(&statement(
            r#""Effect":"Allow","Action":"*","Resource":"arn:aws:iot:r:1""#
        )),
        r#"Statement[0].Resource must be "*" or an ARN like "arn:aws:iot:<region>:<account>:<type>/<name>", found "arn:aws:iot:r:1""#
    );
    assert_eq!(
        error_of(&statement(
            r#""Effect":"Allow","Action":"*","Resource":"arn:aws:iot:r:1:""#
        )),
        r#"Statement[0].Resource must be "*" or an ARN like "arn:aws:iot:<region>:<account>:<type>/<name>", found "arn:aws:iot:r:1:""#
    );
}

#[test]
fn resources_of_other_services_are_refused() {
    assert_eq!(
        error_of(&statement(
            r#""Effect":"Allow","Action":"*","Resource":"arn:aws:s3:::bucket/*""#
        )),
        r#"Statement[0].Resource: resource service "s3" is not allowed; AWS IoT policies only name "iot" resources"#
    );
    assert_eq!(
        error_of(&statement(
            r#""Effect":"Allow","Action":"*","Resource":"arn:aws:s*:::bucket/*""#
        )),
        r#"Statement[0].Resource: resource service "s*" is not allowed; AWS IoT policies only name "iot" resources"#
    );
}

#[test]
fn unknown_resource_types_are_refused() {
    assert_eq!(
        error_of(&statement(
            r#""Effect":"Allow","Action":"*","Resource":"arn:aws:iot:r:1:topics/a""#
        )),
        r#"Statement[0].Resource: unknown resource type "topics" (expected client, topic, topicfilter, thing, rolealias, …)"#
    );
    assert_eq!(
        error_of(&statement(
            r#""Effect":"Allow","Action":"*","Resource":"arn:aws:iot:r:1:client""#
        )),
        r#"Statement[0].Resource: unknown resource type "client" (expected client, topic, topicfilter, thing, rolealias, …)"#
    );
}

#[test]
fn unknown_variables_are_refused_with_their_name() {
    assert_eq!(
        error_of(&statement(
            r#""Effect":"Allow","Action":"*","Resource":["*","*","arn:aws:iot:r:1:topic/${iot:Connection.Thing.Foo}"]"#
        )),
        "Statement[0].Resource[2]: unknown policy variable ${iot:Connection.Thing.Foo}"
    );
}

#[test]
fn unterminated_variables_are_refused() {
    assert_eq!(
        error_of(&statement(
            r#""Effect":"Allow","Action":"*","Resource":"arn:aws:iot:r:1:topic/${iot:ClientId""#
        )),
        r#"Statement[0].Resource: "${" at character 23 has no closing "}""#
    );
}

#[test]
fn list_variables_cannot_be_substituted() {
    assert_eq!(
        error_of(&statement(
            r#""Effect":"Allow","Action":"*","Resource":"arn:aws:iot:r:1:topic/${iot:Certificate.Subject.Organization.List}""#
        )),
        "Statement[0].Resource: policy variable ${iot:Certificate.Subject.Organization.List} has \
         several values; use it as a condition key with ForAllValues: or ForAnyValue: instead"
    );
}

#[test]
fn control_characters_in_resources_are_refused() {
    assert_eq!(
        error_of(&statement(
            r#""Effect":"Allow","Action":"*","Resource":"arn:aws:iot:r:1:topic/a\u0001""#
        )),
        "Statement[0].Resource: control character U+0001 is not allowed"
    );
}

#[test]
fn empty_strings_are_refused() {
    assert_eq!(
        error_of(&statement(r#""Effect":"Allow","Action":"*","Resource":"""#)),
        "Statement[0].Resource must not be empty"
    );
}

#[test]
fn condition_errors_name_operator_key_and_value() {
    assert_eq!(
        error_of(&statement(&format!(
            r#"{PUBLISH_ANY},"Condition":{{"StringEqual":{{"iot:ClientId":"a"}}}}"#
        ))),
        r#"Statement[0].Condition.StringEqual: unknown condition operator "StringEqual""#
    );
    assert_eq!(
        error_of(&statement(&format!(
            r#"{PUBLISH_ANY},"Condition":{{"StringEquals":{{"iot:ClientID2":"a"}}}}"#
        ))),
        r#"Statement[0].Condition.StringEquals.iot:ClientID2: unknown condition key "iot:ClientID2""#
    );
    assert_eq!(
        error_of(&statement(&format!(
            r#"{PUBLISH_ANY},"Condition":{{"NumericLessThan":{{"iot:ClientId":["1","x"]}}}}"#
        ))),
        r#"Statement[0].Condition.NumericLessThan.iot:ClientId[1]: NumericLessThan needs a number, found "x""#
    );
    assert_eq!(
        error_of(&statement(&format!(
            r#"{PUBLISH_ANY},"Condition":{{"StringEquals":{{"iot:ClientId":[]}}}}"#
        ))),
        "Statement[0].Condition.StringEquals.iot:ClientId must not be an empty list"
    );
    assert_eq!(
        error_of(&statement(&format!(r#"{PUBLISH_ANY},"Condition":[]"#))),
        "Statement[0].Condition must be an object, found an array"
    );
}

#[test]
fn time_keys_are_refused_rather_than_ignored() {
    assert_eq!(
        error_of(&statement(&format!(
            r#"{PUBLISH_ANY},"Condition":{{"NumericLessThan":{{"aws:EpochTime":1}}}}"#
        ))),
        r#"Statement[0].Condition.NumericLessThan.aws:EpochTime: unknown condition key "aws:EpochTime""#
    );
}

#[test]
fn the_size_limit_excludes_whitespace() {
    let padding = " \n\t".repeat(2000);
    let text = format!("{padding}{}{padding}", statement(PUBLISH_ANY));
    assert!(PolicyDocument::parse(&text).is_ok());

    let resources: Vec<String> = (0..60)
        .map(|i| format!("\"arn:aws:iot:us-east-1:123456789012:topic/{i:04}\""))
        .collect();
    let text = statement(&format!(
        r#""Effect":"Allow","Action":"iot:Publish","Resource":[{}]"#,
        resources.join(",")
    ));
    let length = text.chars().filter(|c| !c.is_whitespace()).count();
    assert!(length > PolicyDocument::MAX_LENGTH);
    assert_eq!(
        error_of(&text),
        format!(
            "the document has {length} characters excluding whitespace, more than the maximum of 2048"
        )
    );
}

#[test]
fn invalid_json_names_line_and_column() {
    assert_eq!(
        error_of("{\n  \"Statement\": [\n    {\"Effect\" \"Allow\"}\n  ]\n}"),
        "invalid JSON at line 3 column 15: expected `:`"
    );
}

#[test]
fn documents_parse_from_str() {
    let document: PolicyDocument = statement(PUBLISH_ANY).parse().unwrap();
    assert_eq!(document.statements().len(), 1);
}
