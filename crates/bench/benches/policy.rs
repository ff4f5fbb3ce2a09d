//! Policy evaluation with variables: binding a device's policy to its connection, then the
//! per-packet checks.

use std::collections::BTreeMap;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use roost_policy::{
    Action, CertificateContext, Context, DnAttribute, PolicyDocument, PolicySet, Resource,
    ThingContext,
};
use std::hint::black_box;

const POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": "iot:Connect",
     "Resource": "arn:aws:iot:us-east-1:123456789012:client/${iot:Connection.Thing.ThingName}"},
    {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"],
     "Resource": ["arn:aws:iot:us-east-1:123456789012:topic/dt/${iot:Connection.Thing.Attributes[fleet]}/${iot:Connection.Thing.ThingName}/*",
                  "arn:aws:iot:us-east-1:123456789012:topic/$aws/things/${iot:Connection.Thing.ThingName}/shadow/*"]},
    {"Effect": "Allow", "Action": "iot:Subscribe",
     "Resource": ["arn:aws:iot:us-east-1:123456789012:topicfilter/cmd/${iot:Certificate.Subject.CommonName}/*",
                  "arn:aws:iot:us-east-1:123456789012:topicfilter/$aws/things/${iot:Connection.Thing.ThingName}/shadow/*"]},
    {"Effect": "Deny", "Action": "iot:Publish",
     "Resource": "arn:aws:iot:us-east-1:123456789012:topic/dt/*/*/admin"}
  ]
}"#;

fn context() -> Context {
    let mut ctx = Context::new("us-east-1", "123456789012");
    ctx.client_id = Some("device-00042".into());
    ctx.thing = Some(ThingContext {
        name: "device-00042".into(),
        type_name: None,
        attributes: BTreeMap::from([("fleet".to_owned(), "fleet-7".to_owned())]),
        is_attached: true,
    });
    ctx.certificate = Some(CertificateContext {
        subject: vec![
            (DnAttribute::Country, "US".into()),
            (DnAttribute::CommonName, "device-00042".into()),
        ],
        ..CertificateContext::default()
    });
    ctx
}

fn policy(c: &mut Criterion) {
    let mut group = c.benchmark_group("policy");
    group.bench_function("parse and validate", |b| {
        b.iter(|| PolicyDocument::parse(black_box(POLICY)).expect("valid"))
    });
    let set = PolicySet::new([(
        "device-policy".to_owned(),
        Arc::new(PolicyDocument::parse(POLICY).expect("valid")),
    )]);
    let ctx = context();
    group.bench_function("bind to a connection (variables substituted)", |b| {
        b.iter(|| black_box(set.bind(black_box(&ctx))))
    });
    let bound = set.bind(&ctx);
    let checks = [
        (
            "connect allowed",
            Action::Connect,
            Resource::Client("device-00042"),
            true,
        ),
        (
            "publish allowed",
            Action::Publish,
            Resource::Topic("dt/fleet-7/device-00042/temp"),
            true,
        ),
        (
            "publish denied by Deny",
            Action::Publish,
            Resource::Topic("dt/fleet-7/device-00042/admin"),
            false,
        ),
        (
            "publish to another device refused",
            Action::Publish,
            Resource::Topic("dt/fleet-7/device-00043/temp"),
            false,
        ),
        (
            "receive on shadow",
            Action::Receive,
            Resource::Topic("$aws/things/device-00042/shadow/update/accepted"),
            true,
        ),
        (
            "subscribe allowed",
            Action::Subscribe,
            Resource::TopicFilter("cmd/device-00042/#"),
            true,
        ),
    ];
    for (name, action, resource, allowed) in checks {
        assert_eq!(
            bound.authorize(action, resource).is_allowed(),
            allowed,
            "{name}"
        );
        group.bench_function(format!("authorize: {name}"), |b| {
            b.iter(|| black_box(bound.authorize(action, black_box(resource))))
        });
    }
    group.finish();
}

criterion_group!(benches, policy);
criterion_main!(benches);
