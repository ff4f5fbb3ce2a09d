//! Things and thing types.

use roost_registry::model::{Attributes, CertificateStatus, Tag, ThingPrincipalType};
use roost_registry::{
    AttributeUpdate, MAX_ATTRIBUTES_WITHOUT_TYPE, NameOrArn, NewThing, NewThingGroup, PageRequest,
    RegistryEvent, ThingFilter, ThingUpdate,
};
use serde_json::json;

use crate::assert_err;
use crate::support::{Harness, certificate};

fn attributes(pairs: &[(&str, &str)]) -> Attributes {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn thing(name: &str) -> NewThing {
    NewThing {
        name: name.into(),
        ..Default::default()
    }
}

fn names(things: &[roost_registry::model::Thing]) -> Vec<&str> {
    things.iter().map(|t| t.name.as_str()).collect()
}

fn merge(pairs: &[(&str, &str)]) -> Option<AttributeUpdate> {
    Some(AttributeUpdate {
        attributes: attributes(pairs),
        merge: true,
    })
}

#[tokio::test]
async fn a_thing_is_created_at_version_one_and_described() {
    let h = Harness::new().await;
    h.create_thing_type("sensor", json!({})).await.unwrap();
    h.create_billing_group("fleet", None).await.unwrap();
    let created = h
        .create_thing(NewThing {
            name: "t1".into(),
            type_name: Some("sensor".into()),
            attributes: attributes(&[("serial", "SN-1")]),
            billing_group: Some("fleet".into()),
        })
        .await
        .unwrap();
    assert_eq!(created.version, 1);
    assert!(uuid::Uuid::parse_str(&created.id).is_ok());
    assert_eq!(h.describe_thing("t1").await.unwrap(), created);
    assert_eq!(
        h.events.take(),
        vec![RegistryEvent::ThingChanged {
            thing_name: "t1".into()
        }]
    );
}

#[tokio::test]
async fn create_thing_is_idempotent_for_the_same_configuration_only() {
    let h = Harness::new().await;
    let mut input = thing("same");
    input.attributes = attributes(&[("a", "1")]);
    let first = h.create_thing(input.clone()).await.unwrap();
    h.events.take();
    assert_eq!(h.create_thing(input.clone()).await.unwrap(), first);
    assert!(h.events.take().is_empty(), "nothing changed");

    input.attributes = attributes(&[("a", "2")]);
    match h.create_thing(input).await {
        Err(roost_registry::RegistryError::AlreadyExists {
            resource_id,
            resource_arn,
            ..
        }) => {
            assert_eq!(resource_id, first.id);
            assert_eq!(resource_arn, h.arns().thing("same"));
        }
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
}

#[tokio::test]
async fn a_thing_needs_an_existing_usable_type_and_billing_group() {
    let h = Harness::new().await;
    let mut typed = thing("typed");
    typed.type_name = Some("absent".into());
    assert_err!(h.create_thing(typed.clone()).await, NotFound);

    h.create_thing_type("absent", json!({})).await.unwrap();
    h.deprecate_thing_type("absent", false).await.unwrap();
    let message = assert_err!(h.create_thing(typed.clone()).await, InvalidRequest);
    assert!(message.contains("deprecated"), "{message}");
    h.deprecate_thing_type("absent", true).await.unwrap();
    h.create_thing(typed).await.unwrap();

    let mut billed = thing("billed");
    billed.billing_group = Some("nowhere".into());
    assert_err!(h.create_thing(billed).await, NotFound);
    assert_err!(h.describe_thing("billed").await, NotFound);
}

#[tokio::test]
async fn names_and_attributes_outside_the_model_are_refused_naming_the_member() {
    let h = Harness::new().await;
    let cases = [
        (thing("bad name"), "thingName"),
        (thing(&"n".repeat(129)), "thingName"),
        (thing(""), "thingName"),
        (
            NewThing {
                type_name: Some("bad type".into()),
                ..thing("ok")
            },
            "thingTypeName",
        ),
        (
            NewThing {
                attributes: attributes(&[("bad key", "v")]),
                ..thing("ok")
            },
            "attributePayload.attributes",
        ),
        (
            NewThing {
                attributes: attributes(&[("k", "bad value")]),
                ..thing("ok")
            },
            "attributePayload.attributes",
        ),
        (
            NewThing {
                attributes: [("k".to_owned(), "v".repeat(801))].into_iter().collect(),
                ..thing("ok")
            },
            "attributePayload.attributes",
        ),
    ];
    for (input, member) in cases {
        let message = assert_err!(h.create_thing(input).await, InvalidRequest);
        assert!(message.contains(member), "{message} should name {member}");
    }
    assert!(
        h.list_things(&ThingFilter::default(), &PageRequest::first(10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn a_thing_without_a_type_has_at_most_three_attributes() {
    let h = Harness::new().await;
    let four: Attributes = (0..=MAX_ATTRIBUTES_WITHOUT_TYPE)
        .map(|i| (format!("k{i}"), "v".to_owned()))
        .collect();
    let message = assert_err!(
        h.create_thing(NewThing {
            attributes: four.clone(),
            ..thing("crowded")
        })
        .await,
        InvalidRequest
    );
    assert!(message.contains("attributePayload.attributes"), "{message}");

    h.create_thing_type("roomy", json!({})).await.unwrap();
    h.create_thing(NewThing {
        attributes: four,
        type_name: Some("roomy".into()),
        ..thing("crowded")
    })
    .await
    .unwrap();
    assert_err!(
        h.update_thing(
            "crowded",
            ThingUpdate {
                remove_type: true,
                ..Default::default()
            }
        )
        .await,
        InvalidRequest
    );
}

#[tokio::test]
async fn update_thing_merges_or_replaces_attributes_and_counts_versions() {
    let h = Harness::new().await;
    h.create_thing(NewThing {
        attributes: attributes(&[("a", "1"), ("b", "2")]),
        ..thing("t")
    })
    .await
    .unwrap();
    h.events.take();

    let version = h
        .update_thing(
            "t",
            ThingUpdate {
                attributes: merge(&[("c", "3"), ("a", "")]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(version, 2);
    let updated = h.describe_thing("t").await.unwrap();
    assert_eq!(updated.attributes, attributes(&[("b", "2"), ("c", "3")]));
    assert_eq!(updated.version, 2);
    assert_eq!(
        h.events.take(),
        vec![RegistryEvent::ThingChanged {
            thing_name: "t".into()
        }]
    );

    h.update_thing(
        "t",
        ThingUpdate {
            attributes: Some(AttributeUpdate {
                attributes: attributes(&[("z", "9")]),
                merge: false,
            }),
            expected_version: Some(2),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let replaced = h.describe_thing("t").await.unwrap();
    assert_eq!(replaced.attributes, attributes(&[("z", "9")]));
    assert_eq!(replaced.version, 3);
}

#[tokio::test]
async fn a_stale_expected_version_is_a_version_conflict_and_changes_nothing() {
    let h = Harness::new().await;
    h.create_thing(thing("v")).await.unwrap();
    h.update_thing(
        "v",
        ThingUpdate {
            attributes: merge(&[("a", "1")]),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let before = h.describe_thing("v").await.unwrap();
    assert_err!(
        h.update_thing(
            "v",
            ThingUpdate {
                attributes: merge(&[("a", "2")]),
                expected_version: Some(1),
                ..Default::default()
            }
        )
        .await,
        VersionConflict
    );
    assert_err!(h.delete_thing("v", Some(1)).await, VersionConflict);
    assert_eq!(h.describe_thing("v").await.unwrap(), before);
    h.delete_thing("v", Some(2)).await.unwrap();
}

#[tokio::test]
async fn update_thing_sets_and_removes_the_type() {
    let h = Harness::new().await;
    h.create_thing_type("kind", json!({})).await.unwrap();
    h.create_thing(thing("t")).await.unwrap();
    h.update_thing(
        "t",
        ThingUpdate {
            type_name: Some("kind".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        h.describe_thing("t").await.unwrap().type_name.as_deref(),
        Some("kind")
    );
    assert_err!(
        h.update_thing(
            "t",
            ThingUpdate {
                type_name: Some("kind".into()),
                remove_type: true,
                ..Default::default()
            }
        )
        .await,
        InvalidRequest
    );
    h.update_thing(
        "t",
        ThingUpdate {
            remove_type: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(h.describe_thing("t").await.unwrap().type_name, None);
    assert_err!(
        h.update_thing(
            "t",
            ThingUpdate {
                type_name: Some("missing".into()),
                ..Default::default()
            }
        )
        .await,
        NotFound
    );
    assert_err!(
        h.update_thing("missing", ThingUpdate::default()).await,
        NotFound
    );
}

#[tokio::test]
async fn deleting_a_thing_succeeds_when_it_is_absent_and_refuses_while_principals_are_attached() {
    let h = Harness::new().await;
    h.delete_thing("never-was", None).await.unwrap();
    assert!(h.events.take().is_empty());

    h.create_thing(thing("held")).await.unwrap();
    let cert = certificate(&h, CertificateStatus::Active).await;
    let arn = h.arns().certificate(&cert);
    h.attach_thing_principal("held", &arn, ThingPrincipalType::NonExclusiveThing)
        .await
        .unwrap();
    assert_err!(h.delete_thing("held", None).await, InvalidRequest);
    h.detach_thing_principal("held", &arn).await.unwrap();
    h.events.take();
    h.delete_thing("held", None).await.unwrap();
    assert_eq!(
        h.events.take(),
        vec![RegistryEvent::ThingChanged {
            thing_name: "held".into()
        }]
    );
    assert_err!(h.describe_thing("held").await, NotFound);
}

#[tokio::test]
async fn a_deleted_thing_leaves_its_groups_and_loses_its_tags() {
    let h = Harness::new().await;
    h.create_thing(thing("member")).await.unwrap();
    h.create_thing_group(NewThingGroup {
        name: "g".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let group = NameOrArn {
        name: Some("g".into()),
        arn: None,
    };
    let member = NameOrArn {
        name: Some("member".into()),
        arn: None,
    };
    h.add_thing_to_thing_group(&group, &member).await.unwrap();
    let arn = h.arns().thing("member");
    h.tag_resource(
        &arn,
        vec![Tag {
            key: "k".into(),
            value: "v".into(),
        }],
    )
    .await
    .unwrap();

    h.delete_thing("member", None).await.unwrap();
    h.create_thing(thing("member")).await.unwrap();
    assert!(
        h.list_things_in_thing_group("g", false, &PageRequest::first(10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(
        h.list_tags_for_resource(&arn, &PageRequest::first(10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn list_things_filters_by_type_and_attribute() {
    let h = Harness::new().await;
    h.create_thing_type("sensor", json!({})).await.unwrap();
    let make = |name: &str, kind: Option<&str>, attrs: &[(&str, &str)]| NewThing {
        name: name.into(),
        type_name: kind.map(str::to_owned),
        attributes: attributes(attrs),
        billing_group: None,
    };
    for input in [
        make(
            "s1",
            Some("sensor"),
            &[("site", "berlin-1"), ("floor", "2")],
        ),
        make("s2", Some("sensor"), &[("site", "bern"), ("floor", "2")]),
        make("g1", None, &[("site", "berlin-2")]),
        make("g2", None, &[]),
    ] {
        h.create_thing(input).await.unwrap();
    }
    let list = |filter: ThingFilter| {
        let h = &h;
        async move {
            let page = h
                .list_things(&filter, &PageRequest::first(50))
                .await
                .unwrap();
            names(&page.items)
                .into_iter()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list(ThingFilter::default()).await, ["g1", "g2", "s1", "s2"]);
    assert_eq!(
        list(ThingFilter {
            type_name: Some("sensor".into()),
            ..Default::default()
        })
        .await,
        ["s1", "s2"]
    );
    assert_eq!(
        list(ThingFilter {
            attribute_name: Some("site".into()),
            attribute_value: Some("berl".into()),
            use_prefix_attribute_value: true,
            ..Default::default()
        })
        .await,
        ["g1", "s1"]
    );
    assert!(
        list(ThingFilter {
            attribute_name: Some("site".into()),
            attribute_value: Some("berl".into()),
            ..Default::default()
        })
        .await
        .is_empty()
    );
    assert_eq!(
        list(ThingFilter {
            attribute_name: Some("floor".into()),
            ..Default::default()
        })
        .await,
        ["s1", "s2"]
    );
    for (filter, member) in [
        (
            ThingFilter {
                attribute_value: Some("x".into()),
                ..Default::default()
            },
            "attributeName",
        ),
        (
            ThingFilter {
                attribute_name: Some("bad name".into()),
                ..Default::default()
            },
            "attributeName",
        ),
        (
            ThingFilter {
                attribute_name: Some("site".into()),
                attribute_value: Some("nul\0".into()),
                ..Default::default()
            },
            "attributeValue",
        ),
        (
            ThingFilter {
                type_name: Some("bad type".into()),
                ..Default::default()
            },
            "thingTypeName",
        ),
    ] {
        let message = assert_err!(
            h.list_things(&filter, &PageRequest::first(10)).await,
            InvalidRequest
        );
        assert!(message.contains(member), "{message} should name {member}");
    }
    let message = assert_err!(
        h.list_thing_types(Some("bad\0"), &PageRequest::first(10))
            .await,
        InvalidRequest
    );
    assert!(message.contains("thingTypeName"), "{message}");
}

#[tokio::test]
async fn thing_types_are_idempotent_describable_and_deprecated_before_deletion() {
    let h = Harness::new().await;
    let properties = json!({
        "thingTypeDescription": "Light bulbs",
        "searchableAttributes": ["wattage", "model"],
    });
    let created = h
        .create_thing_type("bulb", properties.clone())
        .await
        .unwrap();
    assert!(!created.deprecated && created.deprecated_ms.is_none());
    assert_eq!(created.properties, properties);
    assert_eq!(
        h.create_thing_type("bulb", properties.clone())
            .await
            .unwrap(),
        created
    );
    assert_err!(
        h.create_thing_type("bulb", json!({"thingTypeDescription": "other"}))
            .await,
        AlreadyExists
    );
    assert_eq!(h.describe_thing_type("bulb").await.unwrap(), created);

    assert_err!(h.delete_thing_type("bulb").await, InvalidRequest);
    h.deprecate_thing_type("bulb", false).await.unwrap();
    let deprecated = h.describe_thing_type("bulb").await.unwrap();
    assert!(deprecated.deprecated && deprecated.deprecated_ms.is_some());

    h.deprecate_thing_type("bulb", true).await.unwrap();
    h.create_thing(NewThing {
        type_name: Some("bulb".into()),
        ..thing("lamp")
    })
    .await
    .unwrap();
    h.deprecate_thing_type("bulb", false).await.unwrap();
    assert_err!(h.delete_thing_type("bulb").await, InvalidRequest);
    h.delete_thing("lamp", None).await.unwrap();
    h.delete_thing_type("bulb").await.unwrap();
    assert_err!(h.describe_thing_type("bulb").await, NotFound);
    for result in [
        h.deprecate_thing_type("bulb", false).await,
        h.delete_thing_type("bulb").await,
    ] {
        assert_err!(result, NotFound);
    }
}

#[tokio::test]
async fn thing_type_properties_outside_the_model_are_refused() {
    let h = Harness::new().await;
    for (properties, member) in [
        (
            json!({"searchableAttributes": ["a", "b", "c", "d"]}),
            "searchableAttributes",
        ),
        (
            json!({"searchableAttributes": ["bad name"]}),
            "searchableAttributes",
        ),
        (
            json!({"thingTypeDescription": "d".repeat(2029)}),
            "thingTypeDescription",
        ),
        (json!({"thingTypeDescription": 5}), "thingTypeDescription"),
        (json!("a string"), "thingTypeProperties"),
    ] {
        let message = assert_err!(h.create_thing_type("t", properties).await, InvalidRequest);
        assert!(message.contains(member), "{message} should name {member}");
    }
    assert_err!(h.describe_thing_type("t").await, NotFound);
}

#[tokio::test]
async fn list_thing_types_takes_a_name_filter() {
    let h = Harness::new().await;
    for name in ["a", "b", "c"] {
        h.create_thing_type(name, json!({})).await.unwrap();
    }
    let all = h
        .list_thing_types(None, &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(
        all.items
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>(),
        ["a", "b", "c"]
    );
    let one = h
        .list_thing_types(Some("b"), &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(one.items.len(), 1);
    assert_eq!(one.items[0].name, "b");
}

#[tokio::test]
async fn things_survive_closing_and_reopening_the_registry() {
    let h = Harness::new().await;
    let created = h
        .create_thing(NewThing {
            attributes: attributes(&[("k", "v")]),
            ..thing("durable")
        })
        .await
        .unwrap();
    let h = h.reopen().await;
    assert_eq!(h.describe_thing("durable").await.unwrap(), created);
}
