//! Thing groups (hierarchy, membership) and billing groups.

use roost_registry::model::Attributes;
use roost_registry::{
    AttributeUpdate, MAX_GROUP_DEPTH, MAX_GROUPS_PER_THING, NameOrArn, NewThing, NewThingGroup,
    PageRequest, RegistryEvent, ThingGroupFilter, ThingGroupUpdate,
};

use crate::assert_err;
use crate::support::{Harness, policy_document};

fn group(name: &str, parent: Option<&str>) -> NewThingGroup {
    NewThingGroup {
        name: name.into(),
        parent: parent.map(str::to_owned),
        ..Default::default()
    }
}

fn by_name(name: &str) -> NameOrArn {
    NameOrArn {
        name: Some(name.into()),
        arn: None,
    }
}

fn by_arn(arn: String) -> NameOrArn {
    NameOrArn {
        name: None,
        arn: Some(arn),
    }
}

fn attributes(pairs: &[(&str, &str)]) -> Attributes {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

async fn things(h: &Harness, names: &[&str]) {
    for name in names {
        h.create_thing(NewThing {
            name: (*name).into(),
            ..Default::default()
        })
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn a_group_knows_its_ancestry_from_the_root() {
    let h = Harness::new().await;
    let root = h
        .create_thing_group(NewThingGroup {
            description: Some("All".into()),
            attributes: attributes(&[("site", "berlin")]),
            ..group("root", None)
        })
        .await
        .unwrap();
    assert_eq!(root.version, 1);
    assert!(root.root_to_parent.is_empty());
    h.create_thing_group(group("child", Some("root")))
        .await
        .unwrap();
    let grandchild = h
        .create_thing_group(group("grandchild", Some("child")))
        .await
        .unwrap();
    assert_eq!(grandchild.root_to_parent, ["root", "child"]);
    assert_eq!(
        h.describe_thing_group("grandchild").await.unwrap(),
        grandchild
    );
    assert_eq!(h.describe_thing_group("root").await.unwrap(), root);
    assert_eq!(
        h.events.take(),
        ["root", "child", "grandchild"]
            .map(|g| RegistryEvent::ThingGroupChanged {
                group_name: g.into()
            })
            .to_vec()
    );
}

#[tokio::test]
async fn a_hierarchy_is_at_most_seven_levels_deep() {
    let h = Harness::new().await;
    let mut parent: Option<String> = None;
    for level in 0..MAX_GROUP_DEPTH {
        let name = format!("level{level}");
        h.create_thing_group(group(&name, parent.as_deref()))
            .await
            .unwrap();
        parent = Some(name);
    }
    let message = assert_err!(
        h.create_thing_group(group("too-deep", parent.as_deref()))
            .await,
        InvalidRequest
    );
    assert!(message.contains("parentGroupName"), "{message}");
}

#[tokio::test]
async fn create_thing_group_is_idempotent_and_needs_an_existing_parent() {
    let h = Harness::new().await;
    let first = h.create_thing_group(group("g", None)).await.unwrap();
    h.events.take();
    assert_eq!(h.create_thing_group(group("g", None)).await.unwrap(), first);
    assert!(h.events.take().is_empty());
    assert_err!(
        h.create_thing_group(NewThingGroup {
            description: Some("other".into()),
            ..group("g", None)
        })
        .await,
        AlreadyExists
    );
    assert_err!(
        h.create_thing_group(group("orphan", Some("missing"))).await,
        NotFound
    );
    for (input, member) in [
        (group("bad name", None), "thingGroupName"),
        (group("ok", Some("bad parent")), "parentGroupName"),
        (
            NewThingGroup {
                description: Some("line\nbreak".into()),
                ..group("ok", None)
            },
            "thingGroupDescription",
        ),
    ] {
        let message = assert_err!(h.create_thing_group(input).await, InvalidRequest);
        assert!(message.contains(member), "{message} should name {member}");
    }
}

#[tokio::test]
async fn update_thing_group_merges_attributes_and_checks_the_version() {
    let h = Harness::new().await;
    h.create_thing_group(NewThingGroup {
        attributes: attributes(&[("a", "1")]),
        description: Some("first".into()),
        ..group("g", None)
    })
    .await
    .unwrap();
    h.events.take();
    let version = h
        .update_thing_group(
            "g",
            ThingGroupUpdate {
                attributes: Some(AttributeUpdate {
                    attributes: attributes(&[("b", "2")]),
                    merge: true,
                }),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(version, 2);
    let updated = h.describe_thing_group("g").await.unwrap();
    assert_eq!(updated.attributes, attributes(&[("a", "1"), ("b", "2")]));
    assert_eq!(updated.description.as_deref(), Some("first"));
    assert_eq!(
        h.events.take(),
        vec![RegistryEvent::ThingGroupChanged {
            group_name: "g".into()
        }]
    );
    assert_err!(
        h.update_thing_group(
            "g",
            ThingGroupUpdate {
                description: Some("stale".into()),
                expected_version: Some(1),
                ..Default::default()
            }
        )
        .await,
        VersionConflict
    );
    assert_err!(
        h.update_thing_group("missing", ThingGroupUpdate::default())
            .await,
        NotFound
    );
}

#[tokio::test]
async fn a_group_with_children_is_not_deleted_and_a_missing_one_is_fine() {
    let h = Harness::new().await;
    h.create_thing_group(group("parent", None)).await.unwrap();
    h.create_thing_group(group("child", Some("parent")))
        .await
        .unwrap();
    assert_err!(h.delete_thing_group("parent", None).await, InvalidRequest);
    assert_err!(
        h.delete_thing_group("child", Some(5)).await,
        VersionConflict
    );
    h.delete_thing_group("child", Some(1)).await.unwrap();
    h.delete_thing_group("parent", None).await.unwrap();
    h.delete_thing_group("parent", None).await.unwrap();
    assert_err!(h.describe_thing_group("parent").await, NotFound);
}

#[tokio::test]
async fn deleting_a_group_detaches_its_policies_and_says_so() {
    let h = Harness::new().await;
    h.create_thing_group(group("g", None)).await.unwrap();
    h.create_policy("p", &policy_document("iot:Connect"))
        .await
        .unwrap();
    let arn = h.arns().thing_group("g");
    h.attach_policy("p", &arn).await.unwrap();
    h.events.take();
    h.delete_thing_group("g", None).await.unwrap();
    let events = h.events.take();
    assert!(
        events.contains(&RegistryEvent::PolicyAttachmentChanged {
            policy_name: "p".into(),
            target: arn.clone()
        }),
        "{events:?}"
    );
    assert!(events.contains(&RegistryEvent::ThingGroupChanged {
        group_name: "g".into()
    }));
    assert!(
        h.list_targets_for_policy("p", false, &PageRequest::first(10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    h.delete_policy("p").await.unwrap();
}

#[tokio::test]
async fn list_thing_groups_filters_by_parent_prefix_and_recursion() {
    let h = Harness::new().await;
    for (name, parent) in [
        ("eu", None),
        ("eu-de", Some("eu")),
        ("eu-de-berlin", Some("eu-de")),
        ("us", None),
    ] {
        h.create_thing_group(group(name, parent)).await.unwrap();
    }
    let list = |filter: ThingGroupFilter| {
        let h = &h;
        async move {
            h.list_thing_groups(&filter, &PageRequest::first(50))
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|g| g.name)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list(ThingGroupFilter::default()).await,
        ["eu", "eu-de", "eu-de-berlin", "us"]
    );
    assert_eq!(
        list(ThingGroupFilter {
            parent: Some("eu".into()),
            ..Default::default()
        })
        .await,
        ["eu-de"]
    );
    assert_eq!(
        list(ThingGroupFilter {
            parent: Some("eu".into()),
            recursive: true,
            ..Default::default()
        })
        .await,
        ["eu-de", "eu-de-berlin"]
    );
    assert_eq!(
        list(ThingGroupFilter {
            name_prefix: Some("eu-".into()),
            ..Default::default()
        })
        .await,
        ["eu-de", "eu-de-berlin"]
    );
    assert_err!(
        h.list_thing_groups(
            &ThingGroupFilter {
                parent: Some("missing".into()),
                ..Default::default()
            },
            &PageRequest::first(10)
        )
        .await,
        NotFound
    );
}

#[tokio::test]
async fn things_join_and_leave_groups_by_name_or_arn() {
    let h = Harness::new().await;
    things(&h, &["a", "b"]).await;
    h.create_thing_group(group("parent", None)).await.unwrap();
    h.create_thing_group(group("child", Some("parent")))
        .await
        .unwrap();
    h.events.take();

    h.add_thing_to_thing_group(&by_name("parent"), &by_name("a"))
        .await
        .unwrap();
    h.add_thing_to_thing_group(
        &by_arn(h.arns().thing_group("child")),
        &by_arn(h.arns().thing("b")),
    )
    .await
    .unwrap();
    h.add_thing_to_thing_group(&by_name("child"), &by_name("a"))
        .await
        .unwrap();
    assert_eq!(
        h.events.take(),
        ["parent", "child", "child"]
            .map(|g| RegistryEvent::ThingGroupChanged {
                group_name: g.into()
            })
            .to_vec()
    );
    h.add_thing_to_thing_group(&by_name("child"), &by_name("a"))
        .await
        .unwrap();
    assert!(h.events.take().is_empty(), "already a member");

    let members = |name: &'static str, recursive: bool| {
        let h = &h;
        async move {
            h.list_things_in_thing_group(name, recursive, &PageRequest::first(10))
                .await
                .unwrap()
                .items
        }
    };
    assert_eq!(members("parent", false).await, ["a"]);
    assert_eq!(members("child", false).await, ["a", "b"]);
    assert_eq!(members("parent", true).await, ["a", "b"]);
    assert_eq!(
        h.list_thing_groups_for_thing("a", &PageRequest::first(10))
            .await
            .unwrap()
            .items,
        ["child", "parent"]
    );
    assert_eq!(
        h.thing_groups_with_ancestors("b").await.unwrap(),
        ["child", "parent"]
    );

    h.remove_thing_from_thing_group(&by_name("child"), &by_name("a"))
        .await
        .unwrap();
    assert_eq!(members("child", false).await, ["b"]);
}

#[tokio::test]
async fn membership_names_the_thing_and_group_that_are_missing_or_malformed() {
    let h = Harness::new().await;
    things(&h, &["t"]).await;
    h.create_thing_group(group("g", None)).await.unwrap();
    assert_err!(
        h.add_thing_to_thing_group(&by_name("g"), &by_name("missing"))
            .await,
        NotFound
    );
    assert_err!(
        h.add_thing_to_thing_group(&by_name("missing"), &by_name("t"))
            .await,
        NotFound
    );
    let message = assert_err!(
        h.add_thing_to_thing_group(&NameOrArn::default(), &by_name("t"))
            .await,
        InvalidRequest
    );
    assert!(message.contains("thingGroupName"), "{message}");
    let message = assert_err!(
        h.add_thing_to_thing_group(&by_arn(h.arns().thing("t")), &by_name("t"))
            .await,
        InvalidRequest
    );
    assert!(message.contains("thingGroupArn"), "{message}");
    let message = assert_err!(
        h.add_thing_to_thing_group(&by_name("g"), &by_arn("arn:aws:iot:x".into()))
            .await,
        InvalidRequest
    );
    assert!(message.contains("thingArn"), "{message}");
    assert_err!(
        h.list_things_in_thing_group("missing", false, &PageRequest::first(10))
            .await,
        NotFound
    );
    assert_err!(
        h.list_thing_groups_for_thing("missing", &PageRequest::first(10))
            .await,
        NotFound
    );
}

#[tokio::test]
async fn a_thing_is_in_at_most_ten_groups() {
    let h = Harness::new().await;
    things(&h, &["busy"]).await;
    for i in 0..=MAX_GROUPS_PER_THING {
        h.create_thing_group(group(&format!("g{i:02}"), None))
            .await
            .unwrap();
    }
    for i in 0..MAX_GROUPS_PER_THING {
        h.add_thing_to_thing_group(&by_name(&format!("g{i:02}")), &by_name("busy"))
            .await
            .unwrap();
    }
    assert_err!(
        h.add_thing_to_thing_group(
            &by_name(&format!("g{MAX_GROUPS_PER_THING:02}")),
            &by_name("busy")
        )
        .await,
        InvalidRequest
    );
}

#[tokio::test]
async fn billing_groups_are_created_updated_and_deleted_with_their_members() {
    let h = Harness::new().await;
    let created = h
        .create_billing_group("fleet", Some("Fleet A".into()))
        .await
        .unwrap();
    assert_eq!(created.version, 1);
    assert_eq!(
        h.create_billing_group("fleet", Some("Fleet A".into()))
            .await
            .unwrap(),
        created
    );
    assert_err!(
        h.create_billing_group("fleet", Some("Fleet B".into()))
            .await,
        AlreadyExists
    );
    assert_eq!(h.describe_billing_group("fleet").await.unwrap(), created);

    assert_eq!(
        h.update_billing_group("fleet", Some("Fleet A2".into()), Some(1))
            .await
            .unwrap(),
        2
    );
    assert_err!(
        h.update_billing_group("fleet", None, Some(1)).await,
        VersionConflict
    );
    assert_eq!(
        h.describe_billing_group("fleet")
            .await
            .unwrap()
            .description
            .as_deref(),
        Some("Fleet A2")
    );

    things(&h, &["member"]).await;
    h.add_thing_to_billing_group(&by_name("fleet"), &by_name("member"))
        .await
        .unwrap();
    assert_err!(
        h.delete_billing_group("fleet", Some(1)).await,
        VersionConflict
    );
    h.delete_billing_group("fleet", None).await.unwrap();
    assert_eq!(
        h.describe_thing("member").await.unwrap().billing_group,
        None
    );
    assert_err!(h.describe_billing_group("fleet").await, NotFound);
    h.delete_billing_group("fleet", None).await.unwrap();
}

#[tokio::test]
async fn a_thing_is_in_at_most_one_billing_group() {
    let h = Harness::new().await;
    things(&h, &["t"]).await;
    h.create_billing_group("first", None).await.unwrap();
    h.create_billing_group("second", None).await.unwrap();
    h.events.take();

    h.add_thing_to_billing_group(&by_name("first"), &by_name("t"))
        .await
        .unwrap();
    assert_eq!(
        h.events.take(),
        vec![RegistryEvent::ThingChanged {
            thing_name: "t".into()
        }]
    );
    h.add_thing_to_billing_group(
        &by_arn(h.arns().billing_group("second")),
        &by_arn(h.arns().thing("t")),
    )
    .await
    .unwrap();
    assert_eq!(
        h.describe_thing("t")
            .await
            .unwrap()
            .billing_group
            .as_deref(),
        Some("second")
    );
    let members = |name: &'static str| {
        let h = &h;
        async move {
            h.list_things_in_billing_group(name, &PageRequest::first(10))
                .await
                .unwrap()
                .items
        }
    };
    assert!(members("first").await.is_empty());
    assert_eq!(members("second").await, ["t"]);

    h.remove_thing_from_billing_group(&by_name("first"), &by_name("t"))
        .await
        .unwrap();
    assert_eq!(
        members("second").await,
        ["t"],
        "not in first: nothing to do"
    );
    h.remove_thing_from_billing_group(&by_name("second"), &by_name("t"))
        .await
        .unwrap();
    assert!(members("second").await.is_empty());

    assert_err!(
        h.add_thing_to_billing_group(&by_name("missing"), &by_name("t"))
            .await,
        NotFound
    );
    assert_err!(
        h.add_thing_to_billing_group(&by_name("first"), &by_name("missing"))
            .await,
        NotFound
    );
    let message = assert_err!(
        h.add_thing_to_billing_group(&by_arn(h.arns().thing("t")), &by_name("t"))
            .await,
        InvalidRequest
    );
    assert!(message.contains("billingGroupArn"), "{message}");
}

#[tokio::test]
async fn list_billing_groups_takes_a_name_prefix() {
    let h = Harness::new().await;
    for name in ["alpha", "alpine", "beta"] {
        h.create_billing_group(name, None).await.unwrap();
    }
    let names = |prefix: Option<&'static str>| {
        let h = &h;
        async move {
            h.list_billing_groups(prefix, &PageRequest::first(10))
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|g| g.name)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(names(None).await, ["alpha", "alpine", "beta"]);
    assert_eq!(names(Some("alp")).await, ["alpha", "alpine"]);
    assert!(names(Some("z")).await.is_empty());
}
