use super::*;
use crate::context::ThingContext;

const ARN: &str = "arn:aws:iot:us-east-1:123456789012";

fn context(client_id: &str) -> Context {
    Context {
        client_id: Some(client_id.into()),
        ..Context::new("us-east-1", "123456789012")
    }
}

fn document(statements: &str) -> Arc<PolicyDocument> {
    let text = format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#);
    Arc::new(PolicyDocument::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}")))
}

fn set(policies: &[(&str, &str)]) -> PolicySet {
    PolicySet::new(
        policies
            .iter()
            .map(|(name, statements)| ((*name).to_owned(), document(statements))),
    )
}

fn allowed(policy: &str, statement: usize) -> Decision {
    Decision::Allowed {
        policy: policy.into(),
        statement,
    }
}

fn denied(policy: &str, statement: usize) -> Decision {
    Decision::ExplicitDeny {
        policy: policy.into(),
        statement,
    }
}

#[test]
fn nothing_is_allowed_without_a_matching_allow() {
    let bound = PolicySet::default().bind(&context("c1"));
    assert!(bound.is_empty());
    assert_eq!(
        bound.authorize(Action::Connect, Resource::Client("c1")),
        Decision::ImplicitDeny
    );
}

#[test]
fn an_allow_names_its_policy_and_statement() {
    let policies = set(&[(
        "p",
        &format!(
            r#"{{"Effect":"Allow","Action":"iot:Connect","Resource":"{ARN}:client/c1"}},
               {{"Effect":"Allow","Action":"iot:Publish","Resource":"{ARN}:topic/a/*"}}"#
        ),
    )]);
    let bound = policies.bind(&context("c1"));
    assert_eq!(
        bound.authorize(Action::Connect, Resource::Client("c1")),
        allowed("p", 0)
    );
    assert_eq!(
        bound.authorize(Action::Connect, Resource::Client("c2")),
        Decision::ImplicitDeny
    );
    assert_eq!(
        bound.authorize(Action::Publish, Resource::Topic("a/b/c")),
        allowed("p", 1)
    );
    assert_eq!(
        bound.authorize(Action::Publish, Resource::Topic("b")),
        Decision::ImplicitDeny
    );
    assert_eq!(
        bound.authorize(Action::Receive, Resource::Topic("a/b")),
        Decision::ImplicitDeny
    );
    assert!(
        bound
            .authorize(Action::Publish, Resource::Topic("a/"))
            .is_allowed()
    );
}

#[test]
fn an_explicit_deny_in_any_policy_wins() {
    let policies = set(&[
        (
            "allow-all",
            r#"{"Effect":"Allow","Action":"iot:*","Resource":"*"}"#,
        ),
        (
            "no-secrets",
            &format!(
                r#"{{"Effect":"Deny","Action":"iot:Publish","Resource":"{ARN}:topic/secret/*"}}"#
            ),
        ),
    ]);
    let bound = policies.bind(&context("c1"));
    assert_eq!(
        bound.authorize(Action::Publish, Resource::Topic("secret/x")),
        denied("no-secrets", 0)
    );
    assert_eq!(
        bound.authorize(Action::Publish, Resource::Topic("public/x")),
        allowed("allow-all", 0)
    );
}

#[test]
fn resource_kinds_map_to_their_arn_types() {
    let policies = set(&[(
        "p",
        &format!(
            r#"{{"Effect":"Allow","Action":"iot:*","Resource":[
                "{ARN}:client/x","{ARN}:topic/x","{ARN}:topicfilter/x","{ARN}:thing/x"]}}"#
        ),
    )]);
    let bound = policies.bind(&context("c1"));
    for resource in [
        Resource::Client("x"),
        Resource::Topic("x"),
        Resource::TopicFilter("x"),
        Resource::Thing("x"),
        Resource::Arn(&format!("{ARN}:thing/x")),
    ] {
        assert!(
            bound.authorize(Action::Publish, resource).is_allowed(),
            "{resource:?}"
        );
    }
    assert!(
        !bound
            .authorize(
                Action::Publish,
                Resource::Arn(&format!("{ARN}:rolealias/x"))
            )
            .is_allowed()
    );
    assert!(
        !bound
            .authorize(Action::Publish, Resource::Topic("y"))
            .is_allowed()
    );
}

#[test]
fn named_resources_and_full_arns_agree() {
    let policies = set(&[(
        "p",
        r#"{"Effect":"Allow","Action":"iot:Publish","Resource":"arn:aws:iot:us-*:*:topic/a/*"}"#,
    )]);
    let ctx = context("c1");
    let bound = policies.bind(&ctx);
    for topic in ["a/b", "a/", "b/a/c", "a"] {
        let by_name = bound.authorize(Action::Publish, Resource::Topic(topic));
        let arn = Resource::Topic(topic).to_arn(&ctx);
        assert_eq!(
            by_name,
            bound.authorize(Action::Publish, Resource::Arn(&arn)),
            "{topic}"
        );
    }
}

#[test]
fn resources_of_another_account_or_region_do_not_match() {
    let policies = set(&[(
        "p",
        r#"{"Effect":"Allow","Action":"iot:Publish","Resource":"arn:aws:iot:eu-west-1:123456789012:topic/*"}"#,
    )]);
    let bound = policies.bind(&context("c1"));
    assert!(
        !bound
            .authorize(Action::Publish, Resource::Topic("a"))
            .is_allowed()
    );
}

#[test]
fn the_partition_follows_the_region() {
    let policies = set(&[(
        "p",
        r#"{"Effect":"Allow","Action":"iot:Publish","Resource":"arn:aws-cn:iot:cn-north-1:1:topic/*"}"#,
    )]);
    let bound = policies.bind(&Context::new("cn-north-1", "1"));
    assert!(
        bound
            .authorize(Action::Publish, Resource::Topic("a"))
            .is_allowed()
    );
}

#[test]
fn not_resource_applies_to_everything_else() {
    let policies = set(&[
        (
            "all",
            r#"{"Effect":"Allow","Action":"iot:Publish","Resource":"*"}"#,
        ),
        (
            "only-own",
            r#"{"Effect":"Deny","Action":"iot:Publish","NotResource":"arn:aws:iot:us-east-1:123456789012:topic/${iot:ClientId}/*"}"#,
        ),
    ]);
    let bound = policies.bind(&context("c1"));
    assert!(
        bound
            .authorize(Action::Publish, Resource::Topic("c1/x"))
            .is_allowed()
    );
    assert_eq!(
        bound.authorize(Action::Publish, Resource::Topic("c2/x")),
        denied("only-own", 0)
    );
}

#[test]
fn variables_are_substituted_per_connection() {
    let policies = set(&[(
        "p",
        &format!(
            r#"{{"Effect":"Allow","Action":"iot:Publish","Resource":"{ARN}:topic/${{iot:ClientId}}/*"}}"#
        ),
    )]);
    let c1 = policies.bind(&context("c1"));
    let c2 = policies.bind(&context("c2"));
    assert!(
        c1.authorize(Action::Publish, Resource::Topic("c1/t"))
            .is_allowed()
    );
    assert!(
        !c1.authorize(Action::Publish, Resource::Topic("c2/t"))
            .is_allowed()
    );
    assert!(
        c2.authorize(Action::Publish, Resource::Topic("c2/t"))
            .is_allowed()
    );
}

#[test]
fn a_substituted_value_is_literal_text() {
    let policies = set(&[(
        "p",
        &format!(
            r#"{{"Effect":"Allow","Action":"iot:Publish","Resource":"{ARN}:topic/${{iot:ClientId}}"}}"#
        ),
    )]);
    // `-` and `.` are ordinary; a value with a wildcard character is never substituted.
    let bound = policies.bind(&context("a.b-c"));
    assert!(
        bound
            .authorize(Action::Publish, Resource::Topic("a.b-c"))
            .is_allowed()
    );
    assert!(
        !bound
            .authorize(Action::Publish, Resource::Topic("axb-c"))
            .is_allowed()
    );
}

#[test]
fn a_client_id_of_plus_does_not_widen_a_topic_filter_grant() {
    let policies = set(&[(
        "p",
        &format!(
            r#"{{"Effect":"Allow","Action":"iot:Subscribe","Resource":"{ARN}:topicfilter/my/${{iot:ClientId}}/topic"}}"#
        ),
    )]);
    let bound = policies.bind(&context("+"));
    assert_eq!(
        bound.authorize(Action::Subscribe, Resource::TopicFilter("my/+/topic")),
        Decision::ImplicitDeny
    );
}

#[test]
fn an_allow_with_an_unresolved_variable_does_not_apply() {
    let policies = set(&[(
        "p",
        &format!(
            r#"{{"Effect":"Allow","Action":"iot:Publish","Resource":[
                "{ARN}:topic/${{iot:Connection.Thing.ThingName}}","{ARN}:topic/public"]}}"#
        ),
    )]);
    let bound = policies.bind(&context("c1"));
    assert!(bound.is_empty());
    assert_eq!(
        bound.authorize(Action::Publish, Resource::Topic("public")),
        Decision::ImplicitDeny
    );
}

#[test]
fn a_deny_with_an_unresolved_variable_does_not_apply() {
    let policies = set(&[
        (
            "all",
            r#"{"Effect":"Allow","Action":"iot:*","Resource":"*"}"#,
        ),
        (
            "deny",
            &format!(
                r#"{{"Effect":"Deny","Action":"iot:Publish","Resource":"{ARN}:topic/${{iot:Connection.Thing.ThingName}}"}}"#
            ),
        ),
    ]);
    let mut ctx = context("t1");
    assert_eq!(
        policies.explain(&ctx, Action::Publish, Resource::Topic("t1")),
        allowed("all", 0)
    );
    ctx.thing = Some(ThingContext {
        name: "t1".into(),
        is_attached: true,
        ..ThingContext::default()
    });
    assert_eq!(
        policies.explain(&ctx, Action::Publish, Resource::Topic("t1")),
        denied("deny", 0)
    );
}

#[test]
fn a_statement_whose_condition_fails_does_not_apply() {
    let policies = set(&[(
        "p",
        r#"{"Effect":"Allow","Action":"iot:Connect","Resource":"*",
            "Condition":{"StringLike":{"iot:ClientId":"sensor-*"}}}"#,
    )]);
    assert!(
        policies
            .explain(
                &context("sensor-1"),
                Action::Connect,
                Resource::Client("sensor-1")
            )
            .is_allowed()
    );
    assert!(
        !policies
            .explain(
                &context("laptop"),
                Action::Connect,
                Resource::Client("laptop")
            )
            .is_allowed()
    );
}

#[test]
fn actions_without_resource_level_permissions_use_a_star_arn() {
    let policies = set(&[(
        "p",
        r#"{"Effect":"Allow","Action":"iot:ListRetainedMessages","Resource":"*"}"#,
    )]);
    let bound = policies.bind(&context("c1"));
    assert!(
        bound
            .authorize(Action::ListRetainedMessages, Resource::Arn("*"))
            .is_allowed()
    );
}

#[test]
fn the_first_deny_and_first_allow_in_policy_order_are_reported() {
    let policies = set(&[
        (
            "a",
            r#"{"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:us-east-1:123456789012:client/other"},
               {"Effect":"Allow","Action":"iot:Connect","Resource":"*"}"#,
        ),
        (
            "b",
            r#"{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}"#,
        ),
    ]);
    assert_eq!(
        policies.explain(&context("c1"), Action::Connect, Resource::Client("c1")),
        allowed("a", 1)
    );
}

#[test]
fn resources_render_as_arns() {
    let ctx = context("c1");
    assert_eq!(
        Resource::TopicFilter("a/+").to_arn(&ctx),
        "arn:aws:iot:us-east-1:123456789012:topicfilter/a/+"
    );
    assert_eq!(Resource::Arn("*").to_arn(&ctx), "*");
}

#[test]
fn policies_are_listed_in_order() {
    let policies = set(&[
        ("b", r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#),
        ("a", r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#),
    ]);
    let names: Vec<&str> = policies.policies().map(|(name, _)| name).collect();
    assert_eq!(names, ["b", "a"]);
}

#[test]
fn bound_policies_can_be_shared_between_connection_tasks() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<PolicySet>();
    shareable::<BoundPolicy>();
    shareable::<Decision>();
}
