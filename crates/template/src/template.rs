//! A whole provisioning template: parsing and validating its sections, and evaluating it.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::body;
use crate::condition::{self, Condition};
use crate::error::{FieldPath, TemplateError};
use crate::evaluation::Env;
use crate::intrinsic::{self, Expr, Scope, Want, as_call, describe};
use crate::mapping::{self, Mappings};
use crate::parameter::{self, ParameterSpec, Parameters};
use crate::plan::Plan;
use crate::resource::{self, Resources};

const SECTIONS: [&str; 5] = [
    "Parameters",
    "Mappings",
    "Conditions",
    "Resources",
    "DeviceConfiguration",
];

/// A validated provisioning template (JITP, fleet provisioning, `RegisterThing`). Parsing checks
/// everything that does not depend on parameter values, so [`Template::evaluate`] fails only on
/// the values supplied: a missing parameter, an out-of-bounds `Fn::Select`, a mapping key or
/// certificate status computed at run time, an oversized result.
#[derive(Debug, Clone)]
pub struct Template {
    parameters: BTreeMap<String, ParameterSpec>,
    mappings: Mappings,
    conditions: BTreeMap<String, Condition>,
    resources: Resources,
    device_configuration: BTreeMap<String, Expr>,
}

impl Template {
    /// Parses and validates a template body (the JSON text, at most
    /// [`MAX_TEMPLATE_CHARS`](crate::MAX_TEMPLATE_CHARS) characters). The error's `Display`
    /// names the path of the first problem, in sorted key order.
    pub fn parse(body: &str) -> Result<Self, TemplateError> {
        let root = body::parse(body)?;
        let top = FieldPath::root();
        let Value::Object(sections) = &root else {
            return Err(TemplateError::WrongType {
                at: top,
                expected: "a JSON object",
                found: describe(&root),
            });
        };
        if let Some(name) = sections.keys().find(|k| !SECTIONS.contains(&k.as_str())) {
            return Err(TemplateError::UnknownSection { at: top.key(name) });
        }
        let section = |name: &str| sections.get(name).map(|value| (value, top.key(name)));

        let parameters = match section("Parameters") {
            Some((value, at)) => parameter::parse_section(value, &at)?,
            None => BTreeMap::new(),
        };
        let mappings = match section("Mappings") {
            Some((value, at)) => mapping::parse_section(value, &at)?,
            None => Mappings::new(),
        };
        let condition_names = match section("Conditions") {
            Some((value, at)) => condition::declared_names(value, &at)?,
            None => BTreeSet::new(),
        };
        let scope = Scope {
            parameters: &parameters,
            mappings: &mappings,
            conditions: &condition_names,
            in_conditions: false,
        };
        let conditions = match section("Conditions") {
            Some((value, at)) => {
                let scope = Scope {
                    in_conditions: true,
                    ..scope
                };
                condition::parse_section(value, &at, &scope)?
            }
            None => BTreeMap::new(),
        };
        let resources = match section("Resources") {
            Some((value, at)) => resource::parse_section(value, &at, &scope)?,
            None => {
                return Err(TemplateError::MissingSection {
                    at: top.key("Resources"),
                });
            }
        };
        let device_configuration = match section("DeviceConfiguration") {
            Some((value, at)) => parse_device_configuration(value, &at, &scope)?,
            None => BTreeMap::new(),
        };
        Ok(Self {
            parameters,
            mappings,
            conditions,
            resources,
            device_configuration,
        })
    }

    /// Evaluates the template with `parameters` into a [`Plan`]. Every declared parameter
    /// needs a supplied value or a `Default`; undeclared values are ignored. Deterministic.
    pub fn evaluate(&self, parameters: &Parameters) -> Result<Plan, TemplateError> {
        let values = parameter::resolve(&self.parameters, parameters)?;
        let mut env = Env::new(values, &self.mappings);
        let conditions = condition::evaluate_all(&self.conditions, &env)?;
        env.set_conditions(conditions);
        let included = |gate: &Option<(String, FieldPath)>| match gate {
            Some((name, at)) => env.condition(name, at),
            None => Ok(true),
        };

        let mut plan = Plan::default();
        if let Some(thing) = &self.resources.thing
            && included(&thing.condition)?
        {
            plan.thing = Some(thing.evaluate(&env)?);
        }
        if let Some(certificate) = &self.resources.certificate
            && included(&certificate.condition)?
        {
            plan.certificate = Some(certificate.evaluate(&env)?);
        }
        for policy in &self.resources.policies {
            if included(&policy.condition)? {
                plan.policies.push(policy.evaluate(&env)?);
            }
        }
        for (key, value) in &self.device_configuration {
            plan.device_configuration
                .insert(key.clone(), env.string(value)?);
        }
        Ok(plan)
    }

    /// The names of the declared parameters, sorted.
    pub fn parameter_names(&self) -> impl Iterator<Item = &str> {
        self.parameters.keys().map(String::as_str)
    }
}

/// `DeviceConfiguration` is a flat object: AWS "doesn't support nested JSON objects".
fn parse_device_configuration(
    value: &Value,
    at: &FieldPath,
    scope: &Scope<'_>,
) -> Result<BTreeMap<String, Expr>, TemplateError> {
    let fields = match value {
        Value::Object(fields) if as_call(value).is_none() => fields,
        _ => {
            return Err(TemplateError::WrongType {
                at: at.clone(),
                expected: "an object of names to strings",
                found: describe(value),
            });
        }
    };
    fields
        .iter()
        .map(|(key, field)| {
            Ok((
                key.clone(),
                intrinsic::parse(field, &at.key(key), Want::Str, scope)?,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::plan::{CertificateSource, CertificateStatus, OverrideAction, ThingOverrides};

    fn parse(template: &Value) -> Result<Template, TemplateError> {
        Template::parse(&template.to_string())
    }

    fn error(template: &Value) -> String {
        match parse(template) {
            Ok(t) => panic!("parsed: {t:?}"),
            Err(err) => err.to_string(),
        }
    }

    fn values(pairs: &[(&str, &str)]) -> Parameters {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn thing(properties: &Value) -> Value {
        json!({
            "Parameters": {"Serial": {"Type": "String"}},
            "Resources": {"thing": {"Type": "AWS::IoT::Thing", "Properties": properties}}
        })
    }

    fn certificate(properties: &Value) -> Value {
        json!({
            "Parameters": {"Id": {"Type": "String"}},
            "Resources": {"cert": {"Type": "AWS::IoT::Certificate", "Properties": properties}}
        })
    }

    fn policy(declaration: &Value) -> Value {
        json!({"Parameters": {"Serial": {"Type": "String"}}, "Resources": {"policy": declaration}})
    }

    #[test]
    fn a_ref_to_an_undefined_parameter_names_the_property() {
        assert_eq!(
            error(&thing(&json!({"ThingName": {"Ref": "Foo"}}))),
            "Resources.thing.Properties.ThingName: Ref to undefined parameter \"Foo\""
        );
    }

    #[test]
    fn the_template_must_be_an_object() {
        assert_eq!(
            error(&json!([])),
            "template: expected a JSON object, found a list"
        );
    }

    #[test]
    fn an_unknown_top_level_section_is_rejected() {
        assert_eq!(
            error(&json!({"Resources": {}, "Outputs": {}})),
            "Outputs: unknown top-level section (expected Parameters, Mappings, Conditions, Resources or DeviceConfiguration)"
        );
    }

    #[test]
    fn resources_are_required() {
        assert_eq!(
            error(&json!({"Parameters": {}})),
            "Resources: missing required section"
        );
    }

    #[test]
    fn a_template_with_only_resources_parses() {
        let template = parse(&json!({"Resources": {}})).unwrap();
        assert_eq!(
            template.evaluate(&Parameters::new()).unwrap(),
            Plan::default()
        );
    }

    #[test]
    fn an_unknown_resource_type_is_rejected() {
        assert_eq!(
            error(&json!({"Resources": {"role": {"Type": "AWS::IAM::Role", "Properties": {}}}})),
            "Resources.role.Type: unknown resource type \"AWS::IAM::Role\" (expected AWS::IoT::Thing, AWS::IoT::Certificate or AWS::IoT::Policy)"
        );
    }

    #[test]
    fn a_resource_needs_a_type_and_properties_and_no_other_keys() {
        assert_eq!(
            error(&json!({"Resources": {"t": {"Properties": {}}}})),
            "Resources.t: missing required key Type"
        );
        assert_eq!(
            error(&json!({"Resources": {"t": {"Type": "AWS::IoT::Thing"}}})),
            "Resources.t: missing required key Properties"
        );
        assert_eq!(
            error(
                &json!({"Resources": {"t": {"Type": "AWS::IoT::Thing", "Properties": {}, "DependsOn": "x"}}})
            ),
            "Resources.t.DependsOn: unknown key (expected Type, Properties, OverrideSettings or Condition)"
        );
    }

    #[test]
    fn a_thing_needs_a_name() {
        assert_eq!(
            error(&thing(&json!({"ThingTypeName": "lamp"}))),
            "Resources.thing.Properties: missing required property ThingName"
        );
    }

    #[test]
    fn an_unknown_thing_property_is_rejected() {
        assert_eq!(
            error(&thing(&json!({"ThingName": "a", "Attributes": {}}))),
            "Resources.thing.Properties.Attributes: unknown property of AWS::IoT::Thing (expected ThingName, AttributePayload, ThingTypeName, ThingGroups or BillingGroup)"
        );
    }

    #[test]
    fn attributes_are_not_wrapped_and_are_strings() {
        assert_eq!(
            error(&thing(
                &json!({"ThingName": "a", "AttributePayload": {"attributes": {"v": "1"}}})
            )),
            "Resources.thing.Properties.AttributePayload.attributes: expected a string, found an object"
        );
        assert_eq!(
            error(&thing(
                &json!({"ThingName": "a", "AttributePayload": {"Ref": "Serial"}})
            )),
            "Resources.thing.Properties.AttributePayload: expected an object of attribute names to strings, found an intrinsic function"
        );
    }

    #[test]
    fn two_things_are_rejected() {
        assert_eq!(
            error(&json!({"Resources": {
                "a": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": "a"}},
                "b": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": "b"}},
            }})),
            "Resources.b: a template may declare only one AWS::IoT::Thing, and \"a\" already is one"
        );
    }

    #[test]
    fn two_certificates_are_rejected() {
        assert_eq!(
            error(&json!({"Resources": {
                "a": {"Type": "AWS::IoT::Certificate", "Properties": {"CertificateId": "1"}},
                "b": {"Type": "AWS::IoT::Certificate", "Properties": {"CertificateId": "2"}},
            }})),
            "Resources.b: a template may declare only one AWS::IoT::Certificate, and \"a\" already is one"
        );
    }

    #[test]
    fn a_certificate_takes_exactly_one_source() {
        assert_eq!(
            error(&certificate(&json!({"Status": "ACTIVE"}))),
            "Resources.cert.Properties: missing required property (one of CertificateId, CertificateSigningRequest or CertificatePem)"
        );
        assert_eq!(
            error(&certificate(
                &json!({"CertificateId": "a", "CertificateSigningRequest": "b"})
            )),
            "Resources.cert.Properties: CertificateId and CertificateSigningRequest cannot both be given"
        );
        assert_eq!(
            error(&certificate(
                &json!({"CertificateId": "a", "CACertificatePem": "b"})
            )),
            "Resources.cert.Properties.CACertificatePem: CACertificatePem is only allowed together with CertificatePem"
        );
        assert_eq!(
            error(&certificate(&json!({"CertificateId": "a", "Serial": "b"}))),
            "Resources.cert.Properties.Serial: unknown property of AWS::IoT::Certificate (expected CertificateId, CertificateSigningRequest, CertificatePem, CACertificatePem or Status)"
        );
    }

    #[test]
    fn every_certificate_source_evaluates() {
        let cases = [
            (
                json!({"CertificateId": {"Ref": "Id"}}),
                CertificateSource::Id("v".into()),
            ),
            (
                json!({"CertificateID": {"Ref": "Id"}}),
                CertificateSource::Id("v".into()),
            ),
            (
                json!({"CertificateSigningRequest": {"Ref": "Id"}}),
                CertificateSource::Csr("v".into()),
            ),
            (
                json!({"CertificatePem": {"Ref": "Id"}}),
                CertificateSource::Pem {
                    pem: "v".into(),
                    ca_pem: None,
                },
            ),
            (
                json!({"CertificatePem": {"Ref": "Id"}, "CACertificatePem": "ca"}),
                CertificateSource::Pem {
                    pem: "v".into(),
                    ca_pem: Some("ca".into()),
                },
            ),
        ];
        for (properties, source) in cases {
            let plan = parse(&certificate(&properties))
                .unwrap()
                .evaluate(&values(&[("Id", "v")]))
                .unwrap();
            let cert = plan.certificate.unwrap();
            assert_eq!(cert.source, source);
            assert_eq!(cert.status, CertificateStatus::Active);
            assert_eq!(cert.logical_id, "cert");
        }
    }

    #[test]
    fn a_literal_status_must_be_active_or_inactive_in_any_case() {
        assert_eq!(
            error(&certificate(
                &json!({"CertificateId": "a", "Status": "REVOKED"})
            )),
            "Resources.cert.Properties.Status: invalid certificate status \"REVOKED\" (expected ACTIVE or INACTIVE)"
        );
        let plan = parse(&certificate(
            &json!({"CertificateId": "a", "Status": "inactive"}),
        ))
        .unwrap()
        .evaluate(&values(&[("Id", "v")]))
        .unwrap();
        assert_eq!(
            plan.certificate.unwrap().status,
            CertificateStatus::Inactive
        );
    }

    #[test]
    fn a_computed_status_is_checked_at_evaluation() {
        let template = parse(&certificate(
            &json!({"CertificateId": "a", "Status": {"Ref": "Id"}}),
        ))
        .unwrap();
        let err = template
            .evaluate(&values(&[("Id", "PENDING_ACTIVATION")]))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Resources.cert.Properties.Status: invalid certificate status \"PENDING_ACTIVATION\" (expected ACTIVE or INACTIVE)"
        );
        let plan = template.evaluate(&values(&[("Id", "Inactive")])).unwrap();
        assert_eq!(
            plan.certificate.unwrap().status,
            CertificateStatus::Inactive
        );
    }

    #[test]
    fn thing_override_settings_accept_both_spellings() {
        let template = parse(&json!({"Resources": {"thing": {
            "Type": "AWS::IoT::Thing",
            "Properties": {"ThingName": "a"},
            "OverrideSettings": {"ATTRIBUTE_PAYLOAD": "MERGE", "ThingTypeName": "REPLACE", "THING_GROUPS": "DO_NOTHING"}
        }}}))
        .unwrap();
        let plan = template.evaluate(&Parameters::new()).unwrap();
        assert_eq!(
            plan.thing.unwrap().overrides,
            ThingOverrides {
                attribute_payload: Some(OverrideAction::Merge),
                thing_type_name: Some(OverrideAction::Replace),
                thing_groups: Some(OverrideAction::DoNothing),
            }
        );
    }

    #[test]
    fn certificate_override_takes_status_but_not_merge() {
        let with = |overrides: &Value| {
            json!({"Resources": {"c": {
                "Type": "AWS::IoT::Certificate",
                "Properties": {"CertificateId": "a"},
                "OverrideSettings": overrides
            }}})
        };
        let plan = parse(&with(&json!({"Status": "FAIL"})))
            .unwrap()
            .evaluate(&Parameters::new())
            .unwrap();
        assert_eq!(
            plan.certificate.unwrap().status_override,
            Some(OverrideAction::Fail)
        );
        assert_eq!(
            error(&with(&json!({"STATUS": "MERGE"}))),
            "Resources.c.OverrideSettings.STATUS: MERGE is allowed only for AttributePayload and ThingGroups"
        );
        assert_eq!(
            error(&with(&json!({"CertificateId": "REPLACE"}))),
            "Resources.c.OverrideSettings.CertificateId: not an override setting of AWS::IoT::Certificate (expected Status)"
        );
    }

    #[test]
    fn invalid_override_settings_are_rejected() {
        let with = |overrides: &Value| {
            json!({"Resources": {"thing": {
                "Type": "AWS::IoT::Thing",
                "Properties": {"ThingName": "a"},
                "OverrideSettings": overrides
            }}})
        };
        let cases = [
            (
                json!({"ThingTypeName": "MERGE"}),
                "Resources.thing.OverrideSettings.ThingTypeName: MERGE is allowed only for AttributePayload and ThingGroups",
            ),
            (
                json!({"ThingGroups": "Merge"}),
                "Resources.thing.OverrideSettings.ThingGroups: invalid override action \"Merge\" (expected DO_NOTHING, REPLACE, FAIL or MERGE)",
            ),
            (
                json!({"ThingName": "REPLACE"}),
                "Resources.thing.OverrideSettings.ThingName: not an override setting of AWS::IoT::Thing (expected AttributePayload, ThingTypeName or ThingGroups)",
            ),
            (
                json!({"ThingGroups": "MERGE", "THING_GROUPS": "FAIL"}),
                "Resources.thing.OverrideSettings: THING_GROUPS and ThingGroups cannot both be given",
            ),
            (
                json!({"ThingGroups": {"Ref": "x"}}),
                "Resources.thing.OverrideSettings.ThingGroups: expected a literal string, found an intrinsic function",
            ),
            (
                json!("MERGE"),
                "Resources.thing.OverrideSettings: expected an object of override settings, found a string",
            ),
        ];
        for (overrides, message) in cases {
            assert_eq!(error(&with(&overrides)), message);
        }
    }

    #[test]
    fn policies_take_no_override_settings() {
        assert_eq!(
            error(&policy(
                &json!({"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": "p"}, "OverrideSettings": {}})
            )),
            "Resources.policy.OverrideSettings: AWS::IoT::Policy does not support OverrideSettings"
        );
    }

    #[test]
    fn a_policy_takes_a_name_or_a_document_but_not_both() {
        assert_eq!(
            error(&policy(
                &json!({"Type": "AWS::IoT::Policy", "Properties": {}})
            )),
            "Resources.policy.Properties: missing required property (one of PolicyName or PolicyDocument)"
        );
        assert_eq!(
            error(&policy(
                &json!({"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": "p", "PolicyDocument": "{}"}})
            )),
            "Resources.policy.Properties: PolicyName and PolicyDocument cannot both be given"
        );
        assert_eq!(
            error(&policy(
                &json!({"Type": "AWS::IoT::Policy", "Properties": {"Policy": "p"}})
            )),
            "Resources.policy.Properties.Policy: unknown property of AWS::IoT::Policy (expected PolicyName or PolicyDocument)"
        );
    }

    #[test]
    fn a_named_policy_is_used_as_is() {
        let plan = parse(&policy(&json!({"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": {"Fn::Sub": "p-${Serial}"}}})))
            .unwrap()
            .evaluate(&values(&[("Serial", "7")]))
            .unwrap();
        assert_eq!(plan.policies[0].name, "p-7");
        assert_eq!(plan.policies[0].document, None);
    }

    #[test]
    fn a_policy_document_string_must_be_a_json_object() {
        assert_eq!(
            error(&policy(
                &json!({"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": "{\"Version\": "}})
            )),
            "Resources.policy.Properties.PolicyDocument: invalid PolicyDocument: EOF while parsing a value at line 1 column 12"
        );
        assert_eq!(
            error(&policy(
                &json!({"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": "[1]"}})
            )),
            "Resources.policy.Properties.PolicyDocument: invalid PolicyDocument: expected a JSON object, found a list"
        );
        assert_eq!(
            error(&policy(
                &json!({"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": ["x"]}})
            )),
            "Resources.policy.Properties.PolicyDocument: expected a JSON object or a string holding one, found a list"
        );
        assert_eq!(
            error(&policy(
                &json!({"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": 3}})
            )),
            "Resources.policy.Properties.PolicyDocument: expected a JSON object or a string holding one, found a number"
        );
    }

    #[test]
    fn a_computed_policy_document_is_checked_at_evaluation() {
        let template = parse(&policy(&json!({"Type": "AWS::IoT::Policy", "Properties": {
            "PolicyDocument": {"Fn::Sub": "{\"Version\": \"${Serial}\"}"}
        }})))
        .unwrap();
        let plan = template
            .evaluate(&values(&[("Serial", "2012-10-17")]))
            .unwrap();
        assert_eq!(
            plan.policies[0].document.as_deref(),
            Some("{\"Version\": \"2012-10-17\"}")
        );
        let err = template.evaluate(&values(&[("Serial", "\"")])).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "Resources.policy.Properties.PolicyDocument: invalid PolicyDocument: "
            ),
            "{err}"
        );
    }

    #[test]
    fn a_document_policy_is_named_by_the_sha256_of_its_text() {
        let document = r#"{"Version":"2012-10-17","Statement":[]}"#;
        let plan = parse(&policy(
            &json!({"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": document}}),
        ))
        .unwrap()
        .evaluate(&values(&[("Serial", "1")]))
        .unwrap();
        // printf '%s' '{"Version":"2012-10-17","Statement":[]}' | sha256sum
        assert_eq!(
            plan.policies[0].name,
            "8f907b489532ad56fb7c52f3acc89b27680ed51296bf03984ce78d2b7b96076a"
        );
        assert_eq!(plan.policies[0].document.as_deref(), Some(document));
    }

    #[test]
    fn a_raw_object_document_is_serialized_compactly_before_hashing() {
        let plan = parse(&policy(&json!({"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["iot:Publish"], "Resource": [{"Fn::Sub": "topic/${Serial}"}]}]
        }}})))
        .unwrap()
        .evaluate(&values(&[("Serial", "9")]))
        .unwrap();
        let text = r#"{"Statement":[{"Action":["iot:Publish"],"Effect":"Allow","Resource":["topic/9"]}],"Version":"2012-10-17"}"#;
        assert_eq!(plan.policies[0].document.as_deref(), Some(text));
        use sha2::Digest;
        assert_eq!(
            plan.policies[0].name,
            hex::encode(sha2::Sha256::digest(text))
        );
    }

    #[test]
    fn policies_come_in_logical_id_order() {
        let plan = parse(&json!({"Resources": {
            "zeta": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": "z"}},
            "alpha": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": "a"}},
        }}))
        .unwrap()
        .evaluate(&Parameters::new())
        .unwrap();
        let ids: Vec<_> = plan
            .policies
            .iter()
            .map(|p| p.logical_id.as_str())
            .collect();
        assert_eq!(ids, ["alpha", "zeta"]);
    }

    #[test]
    fn a_false_condition_skips_its_resource() {
        let template = parse(&json!({
            "Parameters": {"Stage": {"Type": "String"}},
            "Conditions": {"IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}},
            "Resources": {
                "thing": {"Type": "AWS::IoT::Thing", "Condition": "IsProd", "Properties": {"ThingName": "t"}},
                "debug": {"Type": "AWS::IoT::Policy", "Condition": "IsProd", "Properties": {"PolicyName": "d"}},
                "always": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": {"Fn::If": ["IsProd", "p", "dev"]}}},
            }
        }))
        .unwrap();
        let prod = template.evaluate(&values(&[("Stage", "prod")])).unwrap();
        assert_eq!(prod.thing.unwrap().name, "t");
        assert_eq!(prod.policies.len(), 2);
        let dev = template.evaluate(&values(&[("Stage", "dev")])).unwrap();
        assert_eq!(dev.thing, None);
        assert_eq!(dev.policies.len(), 1);
        assert_eq!(dev.policies[0].name, "dev");
    }

    #[test]
    fn a_resource_condition_must_be_declared() {
        assert_eq!(
            error(
                &json!({"Resources": {"t": {"Type": "AWS::IoT::Thing", "Condition": "Nope", "Properties": {"ThingName": "a"}}}})
            ),
            "Resources.t.Condition: undefined condition \"Nope\""
        );
    }

    #[test]
    fn device_configuration_is_a_flat_object_of_strings() {
        assert_eq!(
            error(&json!({"Resources": {}, "DeviceConfiguration": {"Nested": {"a": "b"}}})),
            "DeviceConfiguration.Nested: expected a string, found an object"
        );
        assert_eq!(
            error(&json!({"Resources": {}, "DeviceConfiguration": {"Port": 8883}})),
            "DeviceConfiguration.Port: expected a string, found a number"
        );
        let plan = parse(&json!({
            "Parameters": {"Serial": {"Type": "String"}},
            "Resources": {},
            "DeviceConfiguration": {"Foo": "Bar", "Id": {"Ref": "Serial"}}
        }))
        .unwrap()
        .evaluate(&values(&[("Serial", "5")]))
        .unwrap();
        assert_eq!(
            plan.device_configuration,
            [("Foo", "Bar"), ("Id", "5")]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .into()
        );
    }

    #[test]
    fn find_in_map_on_an_undefined_mapping_names_it() {
        assert_eq!(
            error(
                &json!({"Resources": {}, "DeviceConfiguration": {"Url": {"Fn::FindInMap": ["Nope", "a", "b"]}}})
            ),
            "DeviceConfiguration.Url: Fn::FindInMap on undefined mapping \"Nope\""
        );
    }

    #[test]
    fn a_missing_parameter_fails_evaluation_even_if_unused() {
        let template =
            parse(&json!({"Parameters": {"Unused": {"Type": "String"}}, "Resources": {}})).unwrap();
        assert_eq!(
            template
                .evaluate(&Parameters::new())
                .unwrap_err()
                .to_string(),
            "Parameters.Unused: no value supplied for parameter \"Unused\" and it has no Default"
        );
    }

    #[test]
    fn thing_groups_take_a_literal_list_or_a_list_parameter() {
        let template = parse(&json!({
            "Parameters": {"Groups": {"Type": "CommaDelimitedList"}, "Loc": {"Type": "String", "Default": "WA"}},
            "Resources": {"t": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": "a", "ThingGroups": {"Ref": "Groups"}}}}
        }))
        .unwrap();
        let plan = template.evaluate(&values(&[("Groups", "a,b")])).unwrap();
        assert_eq!(plan.thing.unwrap().thing_groups, ["a", "b"]);
        assert_eq!(
            error(&json!({
                "Parameters": {"Loc": {"Type": "String"}},
                "Resources": {"t": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": "a", "ThingGroups": {"Ref": "Loc"}}}}
            })),
            "Resources.t.Properties.ThingGroups: expected a list of strings, found a string"
        );
    }

    #[test]
    fn a_template_can_be_shared_between_threads() {
        fn shareable<T: Send + Sync + 'static>() {}
        shareable::<Template>();
        shareable::<Plan>();
        shareable::<TemplateError>();
    }

    #[test]
    fn parameter_names_are_listed_sorted() {
        let template = parse(&json!({"Parameters": {"b": {"Type": "String"}, "a": {"Type": "String"}}, "Resources": {}})).unwrap();
        assert_eq!(template.parameter_names().collect::<Vec<_>>(), ["a", "b"]);
    }
}

#[cfg(test)]
mod pseudo_parameter_tests {
    use super::*;

    const UNDECLARED: &str = r#"{
        "Resources": {
            "thing": {"Type": "AWS::IoT::Thing", "Properties": {
                "ThingName": {"Fn::Sub": "dev-${AWS::IoT::Certificate::CommonName}"},
                "AttributePayload": {"issuer": {"Ref": "Roost::Certificate::Issuer::CommonName"}}}},
            "certificate": {"Type": "AWS::IoT::Certificate",
                "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}}}
        }
    }"#;

    #[test]
    fn certificate_pseudo_parameters_need_no_declaration() {
        let template = Template::parse(UNDECLARED).unwrap();
        let parameters = Parameters::from([
            (
                "AWS::IoT::Certificate::CommonName".to_owned(),
                "d1".to_owned(),
            ),
            ("AWS::IoT::Certificate::Id".to_owned(), "ab".repeat(32)),
            (
                "Roost::Certificate::Issuer::CommonName".to_owned(),
                "Factory CA".to_owned(),
            ),
        ]);
        let plan = template.evaluate(&parameters).unwrap();
        let thing = plan.thing.unwrap();
        assert_eq!(thing.name, "dev-d1");
        assert_eq!(thing.attributes.unwrap()["issuer"], "Factory CA");
    }

    #[test]
    fn a_pseudo_parameter_without_a_value_fails_evaluation_naming_it() {
        let template = Template::parse(UNDECLARED).unwrap();
        let parameters =
            Parameters::from([("AWS::IoT::Certificate::Id".to_owned(), "ab".repeat(32))]);
        let error = template.evaluate(&parameters).unwrap_err().to_string();
        assert!(
            error.contains(
                "no value supplied for parameter \"Roost::Certificate::Issuer::CommonName\""
            ),
            "{error}"
        );
    }

    #[test]
    fn other_undeclared_parameters_are_still_refused_at_parse() {
        let body = UNDECLARED.replace("Roost::Certificate::Issuer::CommonName", "Issuer");
        let error = Template::parse(&body).unwrap_err().to_string();
        assert!(error.contains("undefined parameter \"Issuer\""), "{error}");
    }
}
