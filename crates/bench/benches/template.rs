//! Provisioning-template evaluation: what each just-in-time provisioning runs once.

use criterion::{Criterion, criterion_group, criterion_main};
use roost_template::{Parameters, Template};
use std::hint::black_box;

/// The AWS JITP walkthrough's template, plus the functions real templates use: Fn::Join,
/// Fn::Sub, Fn::FindInMap, Fn::If with a condition.
const TEMPLATE: &str = r#"{
  "Parameters": {
    "AWS::IoT::Certificate::CommonName": {"Type": "String"},
    "AWS::IoT::Certificate::Country": {"Type": "String"},
    "AWS::IoT::Certificate::Id": {"Type": "String"}
  },
  "Mappings": {
    "Regions": {"US": {"fleet": "fleet-us"}, "DE": {"fleet": "fleet-eu"}}
  },
  "Conditions": {
    "IsUS": {"Fn::Equals": [{"Ref": "AWS::IoT::Certificate::Country"}, "US"]}
  },
  "Resources": {
    "thing": {
      "Type": "AWS::IoT::Thing",
      "Properties": {
        "ThingName": {"Fn::Join": ["-", ["dev", {"Ref": "AWS::IoT::Certificate::CommonName"}]]},
        "AttributePayload": {
          "version": "v1",
          "country": {"Ref": "AWS::IoT::Certificate::Country"},
          "fleet": {"Fn::FindInMap": ["Regions", {"Ref": "AWS::IoT::Certificate::Country"}, "fleet"]},
          "tier": {"Fn::If": ["IsUS", "gold", "silver"]},
          "label": {"Fn::Sub": "${AWS::IoT::Certificate::CommonName}@${AWS::IoT::Certificate::Country}"}
        }
      }
    },
    "certificate": {
      "Type": "AWS::IoT::Certificate",
      "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "ACTIVE"}
    },
    "policy": {
      "Type": "AWS::IoT::Policy",
      "Properties": {
        "PolicyDocument": "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\"iot:Connect\",\"iot:Publish\"],\"Resource\":[\"*\"]}]}"
      }
    }
  }
}"#;

fn template(c: &mut Criterion) {
    let mut group = c.benchmark_group("template");
    group.bench_function("parse and validate", |b| {
        b.iter(|| Template::parse(black_box(TEMPLATE)).expect("valid"))
    });
    let template = Template::parse(TEMPLATE).expect("valid");
    let parameters = Parameters::from([
        (
            "AWS::IoT::Certificate::CommonName".to_owned(),
            "device-00042".to_owned(),
        ),
        ("AWS::IoT::Certificate::Country".to_owned(), "US".to_owned()),
        (
            "AWS::IoT::Certificate::Id".to_owned(),
            "5d1c8f0e3c9a4e1b8f0e3c9a4e1b8f0e3c9a4e1b8f0e3c9a4e1b8f0e3c9a4e1b".to_owned(),
        ),
    ]);
    template.evaluate(&parameters).expect("evaluates");
    group.bench_function("evaluate into a plan (JITP, one device)", |b| {
        b.iter(|| {
            template
                .evaluate(black_box(&parameters))
                .expect("evaluates")
        })
    });
    group.finish();
}

criterion_group!(benches, template);
criterion_main!(benches);
