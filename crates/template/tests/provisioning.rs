//! Whole templates as users write them: the JITP walkthrough, a fleet-provisioning template and
//! a bulk-registration template, evaluated as JITP, fleet provisioning and `RegisterThing` would.

use std::collections::BTreeMap;

use roost_template::{
    CertificateSource, CertificateStatus, OverrideAction, Parameters, Template, TemplateError,
    ThingOverrides,
};
use serde_json::{Value, json};

const CERTIFICATE_ID: &str = "4f9d2b7c1e8a6f3d0b5c9e2a7d4f1b8c3e6a9d2f5b8c1e4a7d0f3b6c9e2a5d8f";

fn parameters(pairs: &[(&str, &str)]) -> Parameters {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The `templateBody` of the walkthrough's `provisioning-template.json`, exactly as users paste it.
fn walkthrough_template_body() -> String {
    let file: Value = serde_json::from_str(include_str!(
        "fixtures/jitp-walkthrough-provisioning-template.json"
    ))
    .expect("the fixture is JSON");
    file["templateBody"]
        .as_str()
        .expect("templateBody is a string")
        .to_owned()
}

#[test]
fn the_walkthrough_template_provisions_a_thing_named_after_the_certificate() {
    let template = Template::parse(&walkthrough_template_body()).unwrap();
    let plan = template
        .evaluate(&parameters(&[
            ("AWS::IoT::Certificate::Country", "US"),
            ("AWS::IoT::Certificate::Id", CERTIFICATE_ID),
            // JITP supplies every subject field; undeclared ones are ignored.
            ("AWS::IoT::Certificate::CommonName", "device-1"),
        ]))
        .unwrap();

    let thing = plan.thing.unwrap();
    assert_eq!(thing.logical_id, "thing");
    assert_eq!(thing.name, CERTIFICATE_ID);
    assert_eq!(
        thing.attributes,
        Some(BTreeMap::from([
            ("country".to_owned(), "US".to_owned()),
            ("version".to_owned(), "v1".to_owned()),
        ]))
    );
    assert_eq!(thing.thing_type, None);
    assert!(thing.thing_groups.is_empty());
    assert_eq!(thing.billing_group, None);
    assert_eq!(thing.overrides, ThingOverrides::default());

    let certificate = plan.certificate.unwrap();
    assert_eq!(
        certificate.source,
        CertificateSource::Id(CERTIFICATE_ID.to_owned())
    );
    assert_eq!(certificate.status, CertificateStatus::Active);
    assert_eq!(certificate.status_override, None);

    let [policy] = plan.policies.as_slice() else {
        panic!("expected one policy: {:?}", plan.policies);
    };
    let document = r#"{"Version": "2012-10-17","Statement": [{"Effect":"Allow","Action": ["iot:Connect","iot:Publish"],"Resource" : ["*"]}]}"#;
    assert_eq!(policy.document.as_deref(), Some(document));
    // sha256 of the document text as given (not re-serialized).
    assert_eq!(
        policy.name,
        "7932da6bc0170000637df482e652ded59aab6b1213a4e1f5a2afa9317122f916"
    );
    assert!(plan.device_configuration.is_empty());
}

#[test]
fn two_devices_from_the_walkthrough_share_one_policy() {
    let template = Template::parse(&walkthrough_template_body()).unwrap();
    let plan = |country, id| {
        template
            .evaluate(&parameters(&[
                ("AWS::IoT::Certificate::Country", country),
                ("AWS::IoT::Certificate::Id", id),
            ]))
            .unwrap()
    };
    let (a, b) = (plan("US", CERTIFICATE_ID), plan("PT", "00ff"));
    assert_eq!(a.policies, b.policies);
    assert_ne!(a.thing, b.thing);
}

#[test]
fn a_certificate_without_a_country_fails_the_walkthrough_template() {
    let template = Template::parse(&walkthrough_template_body()).unwrap();
    let err = template
        .evaluate(&parameters(&[(
            "AWS::IoT::Certificate::Id",
            CERTIFICATE_ID,
        )]))
        .unwrap_err();
    assert_eq!(
        err,
        TemplateError::MissingParameter {
            at: err_path(&err),
            name: "AWS::IoT::Certificate::Country".to_owned(),
        }
    );
    assert_eq!(
        err.to_string(),
        "Parameters.AWS::IoT::Certificate::Country: no value supplied for parameter \"AWS::IoT::Certificate::Country\" and it has no Default"
    );
}

fn err_path(err: &TemplateError) -> roost_template::FieldPath {
    match err {
        TemplateError::MissingParameter { at, .. } => at.clone(),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn evaluation_is_deterministic() {
    let body = walkthrough_template_body();
    let supplied = parameters(&[
        ("AWS::IoT::Certificate::Country", "US"),
        ("AWS::IoT::Certificate::Id", CERTIFICATE_ID),
    ]);
    let first = Template::parse(&body).unwrap().evaluate(&supplied).unwrap();
    let second = Template::parse(&body).unwrap().evaluate(&supplied).unwrap();
    assert_eq!(first, second);
}

/// A fleet-provisioning template of the shape the AWS docs show: Mappings, a thing name built
/// with Fn::Join, OverrideSettings, a raw-object PolicyDocument, `"Status": "Active"` in mixed
/// case, and a DeviceConfiguration that uses Fn::FindInMap.
fn fleet_template() -> Value {
    json!({
        "Parameters": {
            "SerialNumber": {"Type": "String"},
            "DeviceLocation": {"Type": "String", "Default": "Lisbon"},
            "AWS::IoT::Certificate::Id": {"Type": "String"}
        },
        "Mappings": {
            "RegionEndpoints": {
                "Lisbon": {"ConfigUrl": "https://config.example.com/eu"},
                "Denver": {"ConfigUrl": "https://config.example.com/us"}
            }
        },
        "Resources": {
            "sensor": {
                "Type": "AWS::IoT::Thing",
                "Properties": {
                    "ThingName": {"Fn::Join": ["", ["Sensor_", {"Ref": "SerialNumber"}]]},
                    "AttributePayload": {"hardware": "rev2", "serial": {"Ref": "SerialNumber"}},
                    "ThingTypeName": "air-sensor",
                    "ThingGroups": ["air-sensors", {"Ref": "DeviceLocation"}],
                    "BillingGroup": "SensorBilling"
                },
                "OverrideSettings": {
                    "AttributePayload": "MERGE",
                    "ThingTypeName": "REPLACE",
                    "ThingGroups": "DO_NOTHING"
                }
            },
            "cert": {
                "Type": "AWS::IoT::Certificate",
                "Properties": {
                    "CertificateId": {"Ref": "AWS::IoT::Certificate::Id"},
                    "Status": "Active"
                }
            },
            "sensorPolicy": {
                "Type": "AWS::IoT::Policy",
                "Properties": {
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{
                            "Effect": "Allow",
                            "Action": ["iot:Publish"],
                            "Resource": ["arn:aws:iot:eu-west-1:123456789012:topic/air/readings"]
                        }]
                    }
                }
            }
        },
        "DeviceConfiguration": {
            "FallbackUrl": "https://config.example.com/default",
            "ConfigUrl": {"Fn::FindInMap": ["RegionEndpoints", {"Ref": "DeviceLocation"}, "ConfigUrl"]}
        }
    })
}

#[test]
fn a_fleet_provisioning_template_evaluates_with_mappings_and_device_configuration() {
    let template = Template::parse(&fleet_template().to_string()).unwrap();
    let plan = template
        .evaluate(&parameters(&[
            ("SerialNumber", "0042"),
            ("AWS::IoT::Certificate::Id", CERTIFICATE_ID),
        ]))
        .unwrap();

    let thing = plan.thing.unwrap();
    assert_eq!(thing.logical_id, "sensor");
    assert_eq!(thing.name, "Sensor_0042");
    assert_eq!(
        thing.attributes,
        Some(BTreeMap::from([
            ("hardware".to_owned(), "rev2".to_owned()),
            ("serial".to_owned(), "0042".to_owned()),
        ]))
    );
    assert_eq!(thing.thing_type.as_deref(), Some("air-sensor"));
    assert_eq!(thing.thing_groups, ["air-sensors", "Lisbon"]);
    assert_eq!(thing.billing_group.as_deref(), Some("SensorBilling"));
    assert_eq!(
        thing.overrides,
        ThingOverrides {
            attribute_payload: Some(OverrideAction::Merge),
            thing_type_name: Some(OverrideAction::Replace),
            thing_groups: Some(OverrideAction::DoNothing),
        }
    );

    let certificate = plan.certificate.unwrap();
    assert_eq!(
        certificate.source,
        CertificateSource::Id(CERTIFICATE_ID.into())
    );
    assert_eq!(certificate.status, CertificateStatus::Active);

    let [policy] = plan.policies.as_slice() else {
        panic!("expected one policy");
    };
    let document = r#"{"Statement":[{"Action":["iot:Publish"],"Effect":"Allow","Resource":["arn:aws:iot:eu-west-1:123456789012:topic/air/readings"]}],"Version":"2012-10-17"}"#;
    assert_eq!(policy.document.as_deref(), Some(document));
    assert_eq!(policy.name.len(), 64);

    assert_eq!(
        plan.device_configuration,
        BTreeMap::from([
            (
                "ConfigUrl".to_owned(),
                "https://config.example.com/eu".to_owned()
            ),
            (
                "FallbackUrl".to_owned(),
                "https://config.example.com/default".to_owned()
            ),
        ])
    );
}

#[test]
fn a_device_location_missing_from_the_mapping_fails_with_the_path() {
    let template = Template::parse(&fleet_template().to_string()).unwrap();
    let err = template
        .evaluate(&parameters(&[
            ("SerialNumber", "0042"),
            ("DeviceLocation", "Paris"),
            ("AWS::IoT::Certificate::Id", CERTIFICATE_ID),
        ]))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "DeviceConfiguration.ConfigUrl: mapping \"RegionEndpoints\" has no key \"Paris\""
    );
}

#[test]
fn the_certificate_id_pseudo_parameter_needs_no_declaration() {
    // AWS supplies its pseudo-parameters whether or not the template declares them.
    let mut template = fleet_template();
    template["Parameters"]
        .as_object_mut()
        .unwrap()
        .remove("AWS::IoT::Certificate::Id");
    let template = Template::parse(&template.to_string()).unwrap();
    let plan = template
        .evaluate(&parameters(&[
            ("SerialNumber", "0042"),
            ("AWS::IoT::Certificate::Id", CERTIFICATE_ID),
        ]))
        .unwrap();
    assert_eq!(
        plan.certificate.unwrap().source,
        CertificateSource::Id(CERTIFICATE_ID.into())
    );
}

#[test]
fn an_undeclared_ordinary_parameter_is_still_rejected() {
    let mut template = fleet_template();
    template["Parameters"]
        .as_object_mut()
        .unwrap()
        .remove("SerialNumber");
    let err = Template::parse(&template.to_string())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Ref to undefined parameter \"SerialNumber\""),
        "{err}"
    );
}

#[test]
fn a_fleet_thing_without_a_name_is_rejected() {
    let mut template = fleet_template();
    template["Resources"]["sensor"]["Properties"]
        .as_object_mut()
        .unwrap()
        .remove("ThingName");
    assert_eq!(
        Template::parse(&template.to_string())
            .unwrap_err()
            .to_string(),
        "Resources.sensor.Properties: missing required property ThingName"
    );
}

#[test]
fn a_bulk_registration_template_with_a_csr_and_a_default_evaluates() {
    let template = Template::parse(
        &json!({
            "Parameters": {
                "SerialNumber": {"Type": "String"},
                "Location": {"Type": "String", "Default": "WA"},
                "CSR": {"Type": "String"}
            },
            "Resources": {
                "thing": {
                    "Type": "AWS::IoT::Thing",
                    "Properties": {
                        "ThingName": {"Fn::Sub": "bulb-${SerialNumber}"},
                        "AttributePayload": {"version": "v1", "serialNumber": {"Ref": "SerialNumber"}},
                        "ThingTypeName": "lightBulb-versionA",
                        "ThingGroups": ["v1-lightbulbs", {"Ref": "Location"}]
                    }
                },
                "certificate": {
                    "Type": "AWS::IoT::Certificate",
                    "Properties": {"CertificateSigningRequest": {"Ref": "CSR"}, "Status": "ACTIVE"}
                },
                "policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": "bulbs"}}
            }
        })
        .to_string(),
    )
    .unwrap();
    let csr = "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n";
    let plan = template
        .evaluate(&parameters(&[("SerialNumber", "77"), ("CSR", csr)]))
        .unwrap();
    let thing = plan.thing.unwrap();
    assert_eq!(thing.name, "bulb-77");
    assert_eq!(thing.thing_groups, ["v1-lightbulbs", "WA"]);
    assert_eq!(
        plan.certificate.unwrap().source,
        CertificateSource::Csr(csr.to_owned())
    );
    assert_eq!(plan.policies[0].name, "bulbs");
    assert_eq!(plan.policies[0].document, None);
}
