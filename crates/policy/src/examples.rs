//! The policies of the AWS IoT documentation (reference §4), end to end.

use std::sync::Arc;

use crate::{
    Action, CertificateContext, Context, Decision, DnAttribute, PolicyDocument, PolicySet,
    Resource, ThingContext,
};

fn policy(name: &str, text: &str) -> PolicySet {
    let document = PolicyDocument::parse(text).unwrap_or_else(|e| panic!("{e}"));
    PolicySet::new([(name.to_owned(), Arc::new(document))])
}

fn device(client_id: &str, thing: Option<&str>) -> Context {
    Context {
        client_id: Some(client_id.into()),
        thing: thing.map(|name| ThingContext {
            name: name.into(),
            is_attached: true,
            ..ThingContext::default()
        }),
        ..Context::new("us-east-1", "123456789012")
    }
}

const THING_SCOPED: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": ["iot:Connect"],
     "Resource": ["arn:aws:iot:us-east-1:123456789012:client/${iot:Connection.Thing.ThingName}"]},
    {"Effect": "Allow", "Action": ["iot:Publish"],
     "Resource": ["arn:aws:iot:us-east-1:123456789012:topic/my/topic/${iot:Connection.Thing.ThingName}"],
     "Condition": {"ForAllValues:StringEquals": {
        "iot:Certificate.Subject.Organization.List": ["Example Corp", "AnyCompany"]}}}
  ]
}"#;

#[test]
fn a_thing_scoped_policy_lets_a_device_use_only_its_own_name() {
    let policies = policy("thing-scoped", THING_SCOPED);
    let bound = policies.bind(&device("thermostat-7", Some("thermostat-7")));
    assert!(
        bound
            .authorize(Action::Connect, Resource::Client("thermostat-7"))
            .is_allowed()
    );
    assert!(
        !bound
            .authorize(Action::Connect, Resource::Client("thermostat-8"))
            .is_allowed()
    );
    assert!(
        bound
            .authorize(Action::Publish, Resource::Topic("my/topic/thermostat-7"))
            .is_allowed()
    );
    assert!(
        !bound
            .authorize(Action::Publish, Resource::Topic("my/topic/thermostat-8"))
            .is_allowed()
    );
}

#[test]
fn a_thing_scoped_policy_grants_nothing_without_an_attached_thing() {
    let policies = policy("thing-scoped", THING_SCOPED);
    let bound = policies.bind(&device("thermostat-7", None));
    assert_eq!(
        bound.authorize(Action::Connect, Resource::Client("thermostat-7")),
        Decision::ImplicitDeny
    );
    let mut ctx = device("thermostat-7", Some("thermostat-7"));
    if let Some(thing) = ctx.thing.as_mut() {
        thing.is_attached = false;
    }
    assert!(
        !policies
            .explain(&ctx, Action::Connect, Resource::Client("thermostat-7"))
            .is_allowed()
    );
}

#[test]
fn a_thing_scoped_publish_needs_an_organization_from_the_list() {
    let policies = policy("thing-scoped", THING_SCOPED);
    let mut ctx = device("t1", Some("t1"));
    ctx.certificate = Some(CertificateContext {
        subject: vec![(DnAttribute::Organization, "Example Corp".into())],
        ..CertificateContext::default()
    });
    assert!(
        policies
            .explain(&ctx, Action::Publish, Resource::Topic("my/topic/t1"))
            .is_allowed()
    );
    ctx.certificate = Some(CertificateContext {
        subject: vec![
            (DnAttribute::Organization, "Example Corp".into()),
            (DnAttribute::Organization, "Rogue Inc".into()),
        ],
        ..CertificateContext::default()
    });
    assert!(
        !policies
            .explain(&ctx, Action::Publish, Resource::Topic("my/topic/t1"))
            .is_allowed()
    );
}

const CLAIM: &str = r#"{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":["iot:Connect"],"Resource":"*"},
 {"Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":[
   "arn:aws:iot:us-east-1:123456789012:topic/$aws/certificates/create/*",
   "arn:aws:iot:us-east-1:123456789012:topic/$aws/provisioning-templates/templateName/provision/*"]},
 {"Effect":"Allow","Action":"iot:Subscribe","Resource":[
   "arn:aws:iot:us-east-1:123456789012:topicfilter/$aws/certificates/create/*",
   "arn:aws:iot:us-east-1:123456789012:topicfilter/$aws/provisioning-templates/templateName/provision/*"]}]}"#;

#[test]
fn a_claim_certificate_may_only_use_the_provisioning_topics() {
    let bound = policy("claim", CLAIM).bind(&device("any-client", None));
    assert!(
        bound
            .authorize(Action::Connect, Resource::Client("any-client"))
            .is_allowed()
    );
    for topic in [
        "$aws/certificates/create/json",
        "$aws/certificates/create/json/accepted",
        "$aws/provisioning-templates/templateName/provision/json",
    ] {
        assert!(
            bound
                .authorize(Action::Publish, Resource::Topic(topic))
                .is_allowed(),
            "{topic}"
        );
        assert!(
            bound
                .authorize(Action::Receive, Resource::Topic(topic))
                .is_allowed(),
            "{topic}"
        );
    }
    assert!(
        bound
            .authorize(
                Action::Subscribe,
                Resource::TopicFilter("$aws/certificates/create/json/+")
            )
            .is_allowed()
    );
    assert!(
        bound
            .authorize(
                Action::Subscribe,
                Resource::TopicFilter("$aws/certificates/create/#")
            )
            .is_allowed()
    );
    // `create/*` needs the slash: CreateCertificateFromCsr's topics are not covered.
    assert!(
        !bound
            .authorize(
                Action::Publish,
                Resource::Topic("$aws/certificates/create-from-csr/json")
            )
            .is_allowed()
    );
    assert!(
        !bound
            .authorize(
                Action::Publish,
                Resource::Topic("$aws/provisioning-templates/other/provision/json")
            )
            .is_allowed()
    );
    assert!(
        !bound
            .authorize(Action::Publish, Resource::Topic("telemetry"))
            .is_allowed()
    );
    assert!(
        !bound
            .authorize(Action::Subscribe, Resource::TopicFilter("#"))
            .is_allowed()
    );
    assert!(
        !bound
            .authorize(
                Action::RetainPublish,
                Resource::Topic("$aws/certificates/create/json")
            )
            .is_allowed()
    );
}

const RETAINED_WILL: &str = r#"{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:us-east-1:123456789012:client/uniqueClientID",
  "Condition":{"ForAllValues:StringEquals":{"iot:ConnectAttributes":["LastWill"]}}},
 {"Effect":"Allow","Action":["iot:Publish","iot:RetainPublish"],
  "Resource":"arn:aws:iot:us-east-1:123456789012:topic/some/will/topic"}]}"#;

#[test]
fn a_retained_will_policy_allows_a_will_but_not_a_persistent_session() {
    let policies = policy("retained-will", RETAINED_WILL);
    let connect = |attributes: &[&str]| {
        let mut ctx = device("uniqueClientID", None);
        ctx.connect_attributes = attributes.iter().map(|a| (*a).to_owned()).collect();
        policies.explain(&ctx, Action::Connect, Resource::Client("uniqueClientID"))
    };
    assert!(connect(&["LastWill"]).is_allowed());
    assert!(connect(&[]).is_allowed());
    assert!(!connect(&["LastWill", "PersistentConnect"]).is_allowed());
    assert!(!connect(&["PersistentConnect"]).is_allowed());

    let bound = policies.bind(&device("uniqueClientID", None));
    assert!(
        bound
            .authorize(Action::Publish, Resource::Topic("some/will/topic"))
            .is_allowed()
    );
    assert!(
        bound
            .authorize(Action::RetainPublish, Resource::Topic("some/will/topic"))
            .is_allowed()
    );
    assert!(
        !bound
            .authorize(Action::RetainPublish, Resource::Topic("other/topic"))
            .is_allowed()
    );
}

#[test]
fn wildcards_in_policies_match_mqtt_wildcards_literally() {
    let policies = policy(
        "filters",
        r#"{"Version":"2012-10-17","Statement":[
          {"Effect":"Allow","Action":"iot:Subscribe","Resource":[
            "arn:aws:iot:us-east-1:123456789012:topicfilter/a/+/b",
            "arn:aws:iot:us-east-1:123456789012:topicfilter/c/*"]}]}"#,
    );
    let bound = policies.bind(&device("c1", None));
    assert!(
        bound
            .authorize(Action::Subscribe, Resource::TopicFilter("a/+/b"))
            .is_allowed()
    );
    assert!(
        !bound
            .authorize(Action::Subscribe, Resource::TopicFilter("a/x/b"))
            .is_allowed()
    );
    assert!(
        !bound
            .authorize(Action::Subscribe, Resource::TopicFilter("a/#"))
            .is_allowed()
    );
    assert!(
        bound
            .authorize(Action::Subscribe, Resource::TopicFilter("c/+/d"))
            .is_allowed()
    );
    assert!(
        bound
            .authorize(Action::Subscribe, Resource::TopicFilter("c/#"))
            .is_allowed()
    );
}
