//! Policies, their versions and their attachments.

use roost_registry::model::{CertificateStatus, Tag};
use roost_registry::{
    MAX_POLICIES_PER_TARGET, MAX_POLICY_VERSIONS, NewThingGroup, PageRequest, RegistryEvent,
};

use crate::assert_err;
use crate::support::{Harness, certificate, policy_document};

fn changed(name: &str) -> RegistryEvent {
    RegistryEvent::PolicyChanged {
        policy_name: name.into(),
    }
}

fn attachment(name: &str, target: &str) -> RegistryEvent {
    RegistryEvent::PolicyAttachmentChanged {
        policy_name: name.into(),
        target: target.into(),
    }
}

async fn group(h: &Harness, name: &str, parent: Option<&str>) -> String {
    h.create_thing_group(NewThingGroup {
        name: name.into(),
        parent: parent.map(str::to_owned),
        ..Default::default()
    })
    .await
    .unwrap();
    h.arns().thing_group(name)
}

fn names(page: &roost_registry::Page<roost_registry::model::Policy>) -> Vec<&str> {
    page.items.iter().map(|p| p.name.as_str()).collect()
}

#[tokio::test]
async fn a_policy_starts_at_version_one_as_its_default() {
    let h = Harness::new().await;
    let document = policy_document("iot:Connect");
    let created = h.create_policy("p", &document).await.unwrap();
    assert_eq!(created.default_version, 1);
    assert_eq!(created.document, document);
    assert_eq!(h.get_policy("p").await.unwrap(), created);
    assert_eq!(h.events.take(), vec![changed("p")]);
    let versions = h.list_policy_versions("p").await.unwrap();
    assert_eq!(versions.len(), 1);
    assert!(versions[0].is_default);
}

#[tokio::test]
async fn a_policy_name_is_taken_once() {
    let h = Harness::new().await;
    h.create_policy("p", &policy_document("iot:Connect"))
        .await
        .unwrap();
    match h.create_policy("p", &policy_document("iot:Publish")).await {
        Err(roost_registry::RegistryError::AlreadyExists {
            resource_id,
            resource_arn,
            ..
        }) => {
            assert_eq!(resource_id, "p");
            assert_eq!(resource_arn, h.arns().policy("p"));
        }
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    assert_eq!(
        h.get_policy("p").await.unwrap().document,
        policy_document("iot:Connect")
    );
}

#[tokio::test]
async fn malformed_documents_and_names_are_refused_and_create_nothing() {
    let h = Harness::new().await;
    for document in [
        "{",
        r#"{"Version":"2012-10-17"}"#,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Perhaps","Action":"iot:Connect","Resource":"*"}]}"#,
    ] {
        assert_err!(h.create_policy("p", document).await, MalformedPolicy);
    }
    let message = assert_err!(
        h.create_policy("bad name", &policy_document("iot:Connect"))
            .await,
        InvalidRequest
    );
    assert!(message.contains("policyName"), "{message}");
    assert_err!(h.get_policy("p").await, NotFound);
    assert!(h.events.take().is_empty());
}

#[tokio::test]
async fn a_tagged_policy_with_a_bad_tag_is_not_created() {
    let h = Harness::new().await;
    let bad = vec![Tag {
        key: "bad*key".into(),
        value: "v".into(),
    }];
    let message = assert_err!(
        h.create_policy_tagged("p", &policy_document("iot:Connect"), bad)
            .await,
        InvalidRequest
    );
    assert!(message.contains("Key"), "{message}");
    assert_err!(h.get_policy("p").await, NotFound);
    assert!(h.events.take().is_empty());

    let good = vec![Tag {
        key: "owner".into(),
        value: "ops".into(),
    }];
    h.create_policy_tagged("p", &policy_document("iot:Connect"), good.clone())
        .await
        .unwrap();
    assert_eq!(
        h.list_tags_for_resource(&h.arns().policy("p"), &PageRequest::first(10))
            .await
            .unwrap()
            .items,
        good
    );
}

#[tokio::test]
async fn a_policy_has_at_most_five_versions_and_ids_are_never_reused() {
    let h = Harness::new().await;
    h.create_policy("p", &policy_document("iot:Connect"))
        .await
        .unwrap();
    h.events.take();

    let v2 = h
        .create_policy_version("p", &policy_document("iot:Publish"), false)
        .await
        .unwrap();
    assert_eq!((v2.version, v2.is_default), (2, false));
    assert!(
        h.events.take().is_empty(),
        "a non-default version changes no grant"
    );
    let v3 = h
        .create_policy_version("p", &policy_document("iot:Subscribe"), true)
        .await
        .unwrap();
    assert_eq!((v3.version, v3.is_default), (3, true));
    assert_eq!(h.events.take(), vec![changed("p")]);
    let policy = h.get_policy("p").await.unwrap();
    assert_eq!(policy.default_version, 3);
    assert_eq!(policy.document, policy_document("iot:Subscribe"));

    for _ in 3..MAX_POLICY_VERSIONS {
        h.create_policy_version("p", &policy_document("iot:Receive"), false)
            .await
            .unwrap();
    }
    assert_err!(
        h.create_policy_version("p", &policy_document("iot:Receive"), false)
            .await,
        VersionsLimitExceeded
    );
    let versions: Vec<_> = h
        .list_policy_versions("p")
        .await
        .unwrap()
        .iter()
        .map(|v| (v.version, v.is_default))
        .collect();
    assert_eq!(
        versions,
        [(5, false), (4, false), (3, true), (2, false), (1, false)]
    );

    h.delete_policy_version("p", "5").await.unwrap();
    let again = h
        .create_policy_version("p", &policy_document("iot:Receive"), false)
        .await
        .unwrap();
    assert_eq!(again.version, 6);
    assert_err!(
        h.create_policy_version("p", "{", false).await,
        MalformedPolicy
    );
    assert_err!(
        h.create_policy_version("missing", &policy_document("iot:Connect"), false)
            .await,
        NotFound
    );
}

#[tokio::test]
async fn the_default_version_can_change_but_not_be_deleted() {
    let h = Harness::new().await;
    h.create_policy("p", &policy_document("iot:Connect"))
        .await
        .unwrap();
    h.create_policy_version("p", &policy_document("iot:Publish"), false)
        .await
        .unwrap();
    let before = h.get_policy("p").await.unwrap();
    h.events.take();

    h.set_default_policy_version("p", "2").await.unwrap();
    assert_eq!(h.events.take(), vec![changed("p")]);
    let after = h.get_policy("p").await.unwrap();
    assert_eq!(after.default_version, 2);
    assert_eq!(after.document, policy_document("iot:Publish"));
    assert_ne!(after.generation_id, before.generation_id);
    let v1 = h.get_policy_version("p", "1").await.unwrap();
    assert!(!v1.is_default);
    assert_eq!(v1.document, policy_document("iot:Connect"));
    assert!(h.get_policy_version("p", "2").await.unwrap().is_default);

    assert_err!(h.delete_policy_version("p", "2").await, DeleteConflict);
    assert_err!(h.delete_policy("p").await, DeleteConflict);
    h.delete_policy_version("p", "1").await.unwrap();
    assert_err!(h.get_policy_version("p", "1").await, NotFound);
    for result in [
        h.set_default_policy_version("p", "9").await,
        h.delete_policy_version("p", "9").await,
    ] {
        assert_err!(result, NotFound);
    }
    let message = assert_err!(h.get_policy_version("p", "one").await, InvalidRequest);
    assert!(message.contains("policyVersionId"), "{message}");
    assert_err!(h.get_policy_version("p", "0").await, InvalidRequest);
    h.delete_policy("p").await.unwrap();
    assert_err!(h.get_policy("p").await, NotFound);
    assert_err!(h.list_policy_versions("p").await, NotFound);
}

#[tokio::test]
async fn policies_attach_to_certificates_and_thing_groups() {
    let h = Harness::new().await;
    h.create_policy("p", &policy_document("iot:Connect"))
        .await
        .unwrap();
    let cert = h
        .arns()
        .certificate(&certificate(&h, CertificateStatus::Active).await);
    let group_arn = group(&h, "g", None).await;
    h.events.take();

    h.attach_policy("p", &cert).await.unwrap();
    h.attach_policy("p", &group_arn).await.unwrap();
    h.attach_policy("p", &cert).await.unwrap();
    assert_eq!(
        h.events.take(),
        vec![attachment("p", &cert), attachment("p", &group_arn)],
        "attaching twice is no change"
    );
    assert_eq!(
        names(
            &h.list_attached_policies(&cert, false, &PageRequest::first(10))
                .await
                .unwrap()
        ),
        ["p"]
    );
    let mut targets = h
        .list_targets_for_policy("p", false, &PageRequest::first(10))
        .await
        .unwrap()
        .items;
    targets.sort();
    let mut expected = vec![cert.clone(), group_arn.clone()];
    expected.sort();
    assert_eq!(targets, expected);
    assert_eq!(
        h.list_targets_for_policy("p", true, &PageRequest::first(10))
            .await
            .unwrap()
            .items,
        std::slice::from_ref(&cert),
        "principals are the certificates"
    );
    assert_eq!(
        h.policies_for_targets(std::slice::from_ref(&cert))
            .await
            .unwrap(),
        [("p".to_owned(), policy_document("iot:Connect"))]
    );
    assert_err!(h.delete_policy("p").await, DeleteConflict);

    h.detach_policy("p", &cert).await.unwrap();
    h.detach_policy("p", &cert).await.unwrap();
    assert_eq!(h.events.take(), vec![attachment("p", &cert)]);
    assert!(
        h.list_attached_policies(&cert, false, &PageRequest::first(10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    h.detach_policy("p", &group_arn).await.unwrap();
    h.delete_policy("p").await.unwrap();
}

#[tokio::test]
async fn attaching_to_missing_or_unsupported_targets_fails() {
    let h = Harness::new().await;
    h.create_policy("p", &policy_document("iot:Connect"))
        .await
        .unwrap();
    h.create_thing(roost_registry::NewThing {
        name: "t".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let cert = h
        .arns()
        .certificate(&certificate(&h, CertificateStatus::Active).await);
    assert_err!(
        h.attach_policy("p", &h.arns().certificate(&"a".repeat(64)))
            .await,
        NotFound
    );
    assert_err!(
        h.attach_policy("p", &h.arns().thing_group("missing")).await,
        NotFound
    );
    assert_err!(h.attach_policy("missing", &cert).await, NotFound);
    assert_err!(
        h.attach_policy("p", &h.arns().thing("t")).await,
        InvalidRequest
    );
    let message = assert_err!(h.attach_policy("p", "not-an-arn").await, InvalidRequest);
    assert!(message.contains("target"), "{message}");
    assert_err!(
        h.attach_policy("p", "arn:aws:iot:eu-west-1:123456789012:cert/x")
            .await,
        InvalidRequest
    );
    assert_err!(
        h.list_attached_policies(
            &h.arns().certificate(&"b".repeat(64)),
            false,
            &PageRequest::first(10)
        )
        .await,
        NotFound
    );
    assert_err!(
        h.list_targets_for_policy("missing", false, &PageRequest::first(10))
            .await,
        NotFound
    );
}

#[tokio::test]
async fn a_target_has_at_most_ten_policies() {
    let h = Harness::new().await;
    let cert = h
        .arns()
        .certificate(&certificate(&h, CertificateStatus::Active).await);
    for i in 0..=MAX_POLICIES_PER_TARGET {
        h.create_policy(&format!("p{i:02}"), &policy_document("iot:Connect"))
            .await
            .unwrap();
    }
    for i in 0..MAX_POLICIES_PER_TARGET {
        h.attach_policy(&format!("p{i:02}"), &cert).await.unwrap();
    }
    assert_err!(
        h.attach_policy(&format!("p{MAX_POLICIES_PER_TARGET:02}"), &cert)
            .await,
        LimitExceeded
    );
    h.attach_policy("p00", &cert).await.unwrap();
}

#[tokio::test]
async fn recursive_listing_includes_the_policies_of_ancestor_groups() {
    let h = Harness::new().await;
    let root = group(&h, "root", None).await;
    let child = group(&h, "child", Some("root")).await;
    let leaf = group(&h, "leaf", Some("child")).await;
    for (policy, target) in [("on-root", &root), ("on-child", &child), ("on-leaf", &leaf)] {
        h.create_policy(policy, &policy_document("iot:Connect"))
            .await
            .unwrap();
        h.attach_policy(policy, target).await.unwrap();
    }
    let list = |target: String, recursive: bool| {
        let h = &h;
        async move {
            h.list_attached_policies(&target, recursive, &PageRequest::first(10))
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|p| p.name)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list(leaf.clone(), false).await, ["on-leaf"]);
    assert_eq!(
        list(leaf.clone(), true).await,
        ["on-child", "on-leaf", "on-root"]
    );
    assert_eq!(list(root, true).await, ["on-root"]);
}
