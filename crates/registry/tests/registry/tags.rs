//! Resource tags.

use roost_registry::model::Tag;
use roost_registry::{MAX_TAGS, NewThing, PageRequest};
use serde_json::json;

use crate::assert_err;
use crate::support::Harness;

fn tag(key: &str, value: &str) -> Tag {
    Tag {
        key: key.into(),
        value: value.into(),
    }
}

async fn tags_of(h: &Harness, arn: &str) -> Vec<Tag> {
    h.list_tags_for_resource(arn, &PageRequest::first(50))
        .await
        .unwrap()
        .items
}

#[tokio::test]
async fn tags_are_set_replaced_listed_by_key_and_removed() {
    let h = Harness::new().await;
    h.create_thing(NewThing {
        name: "t".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let arn = h.arns().thing("t");
    h.tag_resource(&arn, vec![tag("team", "edge"), tag("env", "prod")])
        .await
        .unwrap();
    assert_eq!(
        tags_of(&h, &arn).await,
        [tag("env", "prod"), tag("team", "edge")]
    );
    h.tag_resource(&arn, vec![tag("env", "dev")]).await.unwrap();
    assert_eq!(
        tags_of(&h, &arn).await,
        [tag("env", "dev"), tag("team", "edge")]
    );
    h.untag_resource(&arn, vec!["env".into(), "absent".into()])
        .await
        .unwrap();
    assert_eq!(tags_of(&h, &arn).await, [tag("team", "edge")]);
    assert!(
        h.events
            .take()
            .iter()
            .all(|e| matches!(e, roost_registry::RegistryEvent::ThingChanged { .. }))
    );
}

#[tokio::test]
async fn every_taggable_resource_kind_takes_tags() {
    let h = Harness::new().await;
    h.create_thing_type("kind", json!({})).await.unwrap();
    h.create_billing_group("billing", None).await.unwrap();
    h.create_policy("policy", &crate::support::policy_document("iot:Connect"))
        .await
        .unwrap();
    h.create_thing_group(roost_registry::NewThingGroup {
        name: "group".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let arns = h.arns();
    for arn in [
        arns.thing_type("kind"),
        arns.billing_group("billing"),
        arns.policy("policy"),
        arns.thing_group("group"),
    ] {
        h.tag_resource(&arn, vec![tag("k", "v")]).await.unwrap();
        assert_eq!(tags_of(&h, &arn).await, [tag("k", "v")], "{arn}");
    }
}

#[tokio::test]
async fn a_resource_has_at_most_fifty_tags() {
    let h = Harness::new().await;
    h.create_billing_group("b", None).await.unwrap();
    let arn = h.arns().billing_group("b");
    let fifty: Vec<Tag> = (0..MAX_TAGS)
        .map(|i| tag(&format!("k{i:02}"), "v"))
        .collect();
    h.tag_resource(&arn, fifty).await.unwrap();
    h.tag_resource(&arn, vec![tag("k00", "replaced")])
        .await
        .unwrap();
    assert_err!(
        h.tag_resource(&arn, vec![tag("one-more", "v")]).await,
        LimitExceeded
    );
    assert_eq!(tags_of(&h, &arn).await.len(), MAX_TAGS);
}

#[tokio::test]
async fn tags_outside_the_model_and_missing_resources_are_refused() {
    let h = Harness::new().await;
    h.create_billing_group("b", None).await.unwrap();
    let arn = h.arns().billing_group("b");
    for (tags, member) in [
        (vec![tag("", "v")], "Key"),
        (vec![tag(&"k".repeat(129), "v")], "Key"),
        (vec![tag("tab\tkey", "v")], "Key"),
        (vec![tag("k", &"v".repeat(257))], "Value"),
        (vec![tag("k", "nul\0inside")], "Value"),
        (vec![tag("fine", "v"), tag("bad*", "v")], "Key"),
    ] {
        let message = assert_err!(h.tag_resource(&arn, tags).await, InvalidRequest);
        assert!(message.contains(member), "{message} should name {member}");
    }
    assert!(tags_of(&h, &arn).await.is_empty(), "a bad tag sets none");

    assert_err!(
        h.tag_resource(&h.arns().thing("missing"), vec![tag("k", "v")])
            .await,
        NotFound
    );
    assert_err!(
        h.list_tags_for_resource(&h.arns().policy("missing"), &PageRequest::first(10))
            .await,
        NotFound
    );
    for bad in [
        "arn:aws:s3:::bucket".to_owned(),
        h.arns().thing("bad name"),
        format!("{}x", h.arns().certificate("")),
    ] {
        let message = assert_err!(
            h.tag_resource(&bad, vec![tag("k", "v")]).await,
            InvalidRequest
        );
        assert!(message.contains("resourceArn"), "{message}");
    }
}

#[tokio::test]
async fn tagged_creates_are_atomic() {
    let h = Harness::new().await;
    let bad = vec![tag("bad*key", "v")];
    assert_err!(
        h.create_thing_type_tagged("kind", json!({}), bad.clone())
            .await,
        InvalidRequest
    );
    assert_err!(h.describe_thing_type("kind").await, NotFound);
    assert_err!(
        h.create_billing_group_tagged("billing", None, bad.clone())
            .await,
        InvalidRequest
    );
    assert_err!(h.describe_billing_group("billing").await, NotFound);
    assert_err!(
        h.create_thing_group_tagged(
            roost_registry::NewThingGroup {
                name: "group".into(),
                ..Default::default()
            },
            bad
        )
        .await,
        InvalidRequest
    );
    assert_err!(h.describe_thing_group("group").await, NotFound);
    assert!(h.events.take().is_empty());
}
