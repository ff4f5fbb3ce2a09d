//! Property tests: the laws of IAM evaluation hold for any policies, context and request.

use std::mem::discriminant;
use std::sync::Arc;

use proptest::prelude::*;

use crate::{Action, Context, Decision, PolicyDocument, PolicySet, Resource, ThingContext};

const ARN: &str = "arn:aws:iot:us-east-1:123456789012";

/// A statement drawn from a vocabulary that exercises wildcards, variables, NotResource,
/// NotAction and conditions.
#[derive(Debug, Clone)]
struct Stmt {
    allow: bool,
    not_action: bool,
    actions: Vec<&'static str>,
    not_resource: bool,
    resources: Vec<String>,
    condition: Option<&'static str>,
}

impl Stmt {
    fn to_json(&self) -> String {
        let list = |items: Vec<String>| {
            let quoted: Vec<String> = items.iter().map(|item| format!("\"{item}\"")).collect();
            format!("[{}]", quoted.join(","))
        };
        let mut json = format!(
            r#"{{"Effect":"{}","{}":{},"{}":{}"#,
            if self.allow { "Allow" } else { "Deny" },
            if self.not_action {
                "NotAction"
            } else {
                "Action"
            },
            list(self.actions.iter().map(|a| (*a).to_owned()).collect()),
            if self.not_resource {
                "NotResource"
            } else {
                "Resource"
            },
            list(self.resources.clone()),
        );
        if let Some(condition) = self.condition {
            json.push_str(&format!(r#","Condition":{condition}"#));
        }
        json.push('}');
        json
    }
}

type Policies = Vec<Vec<Stmt>>;

fn policy_set(policies: &Policies) -> PolicySet {
    PolicySet::new(policies.iter().enumerate().map(|(i, statements)| {
        let body: Vec<String> = statements.iter().map(Stmt::to_json).collect();
        let text = format!(
            r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
            body.join(",")
        );
        let document = PolicyDocument::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        (format!("policy-{i}"), Arc::new(document))
    }))
}

fn action_pattern() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("iot:Connect"),
        Just("iot:Publish"),
        Just("iot:Subscribe"),
        Just("iot:Receive"),
        Just("iot:*"),
        Just("iot:*Publish"),
        Just("*"),
    ]
}

fn resource_pattern() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("*".to_owned()),
        Just(format!("{ARN}:topic/a/*")),
        Just(format!("{ARN}:topic/a/b")),
        Just(format!("{ARN}:topic/?/b")),
        Just(format!("{ARN}:topic/a${{*}}")),
        Just(format!("{ARN}:topic/${{iot:ClientId}}")),
        Just(format!("{ARN}:topic/${{iot:ClientId}}/*")),
        Just(format!("{ARN}:topicfilter/a/+")),
        Just(format!("{ARN}:topicfilter/*")),
        Just(format!("{ARN}:client/${{iot:ClientId}}")),
        Just(format!("{ARN}:client/c?")),
        Just(format!("{ARN}:thing/${{iot:Connection.Thing.ThingName}}")),
        Just(format!("{ARN}:*")),
        Just("arn:aws:iot:*:*:*".to_owned()),
        Just("arn:aws:iot:us-east-1:999999999999:topic/*".to_owned()),
    ]
}

fn condition() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![
        3 => Just(None),
        1 => Just(Some(r#"{"StringEquals":{"iot:ClientId":"c1"}}"#)),
        1 => Just(Some(r#"{"StringNotLike":{"iot:ClientId":"c*"}}"#)),
        1 => Just(Some(r#"{"ForAllValues:StringEquals":{"iot:ConnectAttributes":["LastWill"]}}"#)),
        1 => Just(Some(r#"{"Null":{"iot:Connection.Thing.ThingName":"true"}}"#)),
        1 => Just(Some(r#"{"Bool":{"iot:Connection.Thing.IsAttached":"true"}}"#)),
    ]
}

fn statement(allow: impl Strategy<Value = bool>) -> impl Strategy<Value = Stmt> {
    (
        allow,
        prop::bool::weighted(0.15),
        prop::collection::vec(action_pattern(), 1..3),
        prop::bool::weighted(0.15),
        prop::collection::vec(resource_pattern(), 1..3),
        condition(),
    )
        .prop_map(
            |(allow, not_action, actions, not_resource, resources, condition)| Stmt {
                allow,
                not_action,
                actions,
                not_resource,
                resources,
                condition,
            },
        )
}

fn policies() -> impl Strategy<Value = Policies> {
    prop::collection::vec(prop::collection::vec(statement(any::<bool>()), 1..4), 0..4)
}

fn context() -> impl Strategy<Value = Context> {
    (
        prop::option::weighted(
            0.9,
            prop_oneof![Just("c1"), Just("c2"), Just("a"), Just("+")],
        ),
        prop::collection::vec(
            prop_oneof![Just("LastWill"), Just("PersistentConnect")],
            0..2,
        ),
        prop::option::of((prop_oneof![Just("a"), Just("c1")], any::<bool>())),
    )
        .prop_map(|(client_id, attributes, thing)| Context {
            client_id: client_id.map(str::to_owned),
            connect_attributes: attributes.into_iter().map(str::to_owned).collect(),
            thing: thing.map(|(name, is_attached)| ThingContext {
                name: name.to_owned(),
                is_attached,
                ..ThingContext::default()
            }),
            ..Context::new("us-east-1", "123456789012")
        })
}

/// A request: action, resource kind (0..4 named kinds, 4 = full ARN) and name.
#[derive(Debug, Clone)]
struct Request {
    action: Action,
    kind: usize,
    name: String,
}

impl Request {
    fn resource(&self) -> Resource<'_> {
        match self.kind {
            0 => Resource::Client(&self.name),
            1 => Resource::Topic(&self.name),
            2 => Resource::TopicFilter(&self.name),
            3 => Resource::Thing(&self.name),
            _ => Resource::Arn(&self.name),
        }
    }
}

fn request() -> impl Strategy<Value = Request> {
    let name = prop::collection::vec(
        prop_oneof![
            Just("a"),
            Just("b"),
            Just("c1"),
            Just("/"),
            Just("+"),
            Just("#"),
            Just("*")
        ],
        0..5,
    )
    .prop_map(|parts| parts.concat());
    (
        prop_oneof![
            Just(Action::Connect),
            Just(Action::Publish),
            Just(Action::Subscribe),
            Just(Action::Receive),
            Just(Action::RetainPublish),
        ],
        0..5usize,
        name,
        prop_oneof![
            Just(format!("{ARN}:topic/")),
            Just(format!("{ARN}:client/")),
            Just("arn:aws:iot:eu-west-1:123456789012:topic/".to_owned()),
        ],
    )
        .prop_map(|(action, kind, name, arn_prefix)| Request {
            action,
            kind,
            name: if kind == 4 {
                format!("{arn_prefix}{name}")
            } else {
                name
            },
        })
}

fn decide(policies: &Policies, ctx: &Context, request: &Request) -> Decision {
    policy_set(policies)
        .bind(ctx)
        .authorize(request.action, request.resource())
}

/// A deterministic shuffle of `items` driven by `seed`.
fn shuffled<T: Clone>(items: &[T], seed: u64) -> Vec<T> {
    let mut items = items.to_vec();
    let mut state = seed | 1;
    for i in (1..items.len()).rev() {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let j = (state >> 33) as usize % (i + 1);
        items.swap(i, j);
    }
    items
}

/// `policies` with `extra` added as its own policy at position `at` (modulo length).
fn with_statement(policies: &Policies, extra: Stmt, at: usize) -> Policies {
    let mut policies = policies.clone();
    let at = at % (policies.len() + 1);
    policies.insert(at, vec![extra]);
    policies
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn an_explicit_deny_wins_over_any_allow(
        policies in policies(),
        deny in statement(Just(false)),
        at in any::<usize>(),
        ctx in context(),
        request in request(),
    ) {
        let alone = decide(&vec![vec![deny.clone()]], &ctx, &request);
        let together = decide(&with_statement(&policies, deny, at), &ctx, &request);
        if matches!(alone, Decision::ExplicitDeny { .. }) {
            prop_assert!(matches!(together, Decision::ExplicitDeny { .. }), "{together:?}");
        }
    }

    #[test]
    fn statement_and_policy_order_do_not_change_the_decision(
        policies in policies(),
        seed in any::<u64>(),
        ctx in context(),
        request in request(),
    ) {
        let reordered: Policies = shuffled(&policies, seed)
            .iter()
            .enumerate()
            .map(|(i, statements)| shuffled(statements, seed.rotate_left(i as u32 + 1)))
            .collect();
        let before = decide(&policies, &ctx, &request);
        let after = decide(&reordered, &ctx, &request);
        prop_assert_eq!(discriminant(&before), discriminant(&after), "{:?} vs {:?}", before, after);
    }

    #[test]
    fn adding_an_allow_never_turns_allowed_into_a_denial(
        policies in policies(),
        allow in statement(Just(true)),
        at in any::<usize>(),
        ctx in context(),
        request in request(),
    ) {
        if decide(&policies, &ctx, &request).is_allowed() {
            let after = decide(&with_statement(&policies, allow, at), &ctx, &request);
            prop_assert!(after.is_allowed(), "{after:?}");
        }
    }

    #[test]
    fn adding_a_deny_never_turns_a_denial_into_allowed(
        policies in policies(),
        deny in statement(Just(false)),
        at in any::<usize>(),
        ctx in context(),
        request in request(),
    ) {
        if !decide(&policies, &ctx, &request).is_allowed() {
            let after = decide(&with_statement(&policies, deny, at), &ctx, &request);
            prop_assert!(!after.is_allowed(), "{after:?}");
        }
    }

    #[test]
    fn a_star_resource_allows_every_resource_of_its_action(
        allows in prop::collection::vec(statement(Just(true)), 0..3),
        ctx in context(),
        request in request(),
    ) {
        let star = Stmt {
            allow: true,
            not_action: false,
            actions: vec![match request.action {
                Action::Connect => "iot:Connect",
                Action::Publish => "iot:Publish",
                Action::Subscribe => "iot:Subscribe",
                Action::Receive => "iot:Receive",
                _ => "iot:RetainPublish",
            }],
            not_resource: false,
            resources: vec!["*".to_owned()],
            condition: None,
        };
        let mut statements = allows;
        statements.push(star);
        let decision = decide(&vec![statements], &ctx, &request);
        prop_assert!(decision.is_allowed(), "{decision:?}");
    }

    #[test]
    fn a_named_resource_decides_like_its_full_arn(
        policies in policies(),
        ctx in context(),
        request in request(),
    ) {
        prop_assume!(request.kind < 4);
        let bound = policy_set(&policies).bind(&ctx);
        let arn = request.resource().to_arn(&ctx);
        prop_assert_eq!(
            bound.authorize(request.action, request.resource()),
            bound.authorize(request.action, Resource::Arn(&arn))
        );
    }
}
