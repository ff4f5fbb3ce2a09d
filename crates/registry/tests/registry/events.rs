//! The change events of each kind of write, in one walk through the registry: what the
//! broker's caches hear about (certificates, CAs, policies, attachments, things, groups) and
//! what they don't need to (types, billing groups' own fields, tags, the registration code).

use roost_registry::model::{CertificateStatus, Tag, ThingPrincipalType};
use roost_registry::{
    AttributeUpdate, NameOrArn, NewThing, NewThingGroup, RegistryEvent, ThingUpdate,
};
use serde_json::json;

use crate::support::{Harness, ca, certificate, policy_document, register_ca};

fn by_name(name: &str) -> NameOrArn {
    NameOrArn {
        name: Some(name.into()),
        arn: None,
    }
}

#[tokio::test]
async fn each_write_announces_what_it_changed_and_nothing_else() {
    let h = Harness::new().await;
    let arns = h.arns();
    use RegistryEvent::*;

    // Writes no cache depends on.
    h.get_registration_code().await.unwrap();
    h.create_thing_type("kind", json!({})).await.unwrap();
    h.deprecate_thing_type("kind", false).await.unwrap();
    h.deprecate_thing_type("kind", true).await.unwrap();
    h.create_billing_group("fleet", None).await.unwrap();
    h.update_billing_group("fleet", Some("d".into()), None)
        .await
        .unwrap();
    assert_eq!(h.events.take(), []);

    let ca_id = register_ca(&h, &ca("Evented CA"), true).await;
    assert_eq!(h.events.take(), [CaCertificateChanged { ca_id }]);

    let cert = certificate(&h, CertificateStatus::Inactive).await;
    let cert_arn = arns.certificate(&cert);
    assert_eq!(
        h.events.take(),
        [CertificateChanged {
            certificate_id: cert.clone()
        }]
    );
    h.update_certificate(&cert, CertificateStatus::Active)
        .await
        .unwrap();
    assert_eq!(
        h.events.take(),
        [CertificateChanged {
            certificate_id: cert.clone()
        }]
    );

    h.create_thing(NewThing {
        name: "t".into(),
        type_name: Some("kind".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    h.update_thing(
        "t",
        ThingUpdate {
            attributes: Some(AttributeUpdate {
                attributes: [("a".to_owned(), "1".to_owned())].into_iter().collect(),
                merge: true,
            }),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    h.add_thing_to_billing_group(&by_name("fleet"), &by_name("t"))
        .await
        .unwrap();
    let thing_changed = ThingChanged {
        thing_name: "t".into(),
    };
    assert_eq!(
        h.events.take(),
        [thing_changed.clone(), thing_changed.clone(), thing_changed]
    );

    h.attach_thing_principal("t", &cert_arn, ThingPrincipalType::ExclusiveThing)
        .await
        .unwrap();
    assert_eq!(
        h.events.take(),
        [ThingPrincipalChanged {
            thing_name: "t".into(),
            principal: cert_arn.clone()
        }]
    );

    h.create_thing_group(NewThingGroup {
        name: "g".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    h.add_thing_to_thing_group(&by_name("g"), &by_name("t"))
        .await
        .unwrap();
    let group_changed = ThingGroupChanged {
        group_name: "g".into(),
    };
    assert_eq!(h.events.take(), [group_changed.clone(), group_changed]);

    h.create_policy("p", &policy_document("iot:Connect"))
        .await
        .unwrap();
    h.create_policy_version("p", &policy_document("iot:Publish"), false)
        .await
        .unwrap();
    h.delete_policy_version("p", "2").await.unwrap();
    h.attach_policy("p", &cert_arn).await.unwrap();
    assert_eq!(
        h.events.take(),
        [
            PolicyChanged {
                policy_name: "p".into()
            },
            PolicyAttachmentChanged {
                policy_name: "p".into(),
                target: cert_arn.clone()
            },
        ]
    );

    h.tag_resource(
        &arns.thing("t"),
        vec![Tag {
            key: "k".into(),
            value: "v".into(),
        }],
    )
    .await
    .unwrap();
    h.untag_resource(&arns.thing("t"), vec!["k".into()])
        .await
        .unwrap();
    assert_eq!(h.events.take(), []);
}

#[tokio::test]
async fn commits_are_numbered_in_order_and_a_read_after_committed_sees_them() {
    let h = Harness::new().await;
    let before = h.committed();
    h.create_policy("numbered", &policy_document("iot:Connect"))
        .await
        .unwrap();
    let after_policy = h.committed();
    assert!(after_policy > before, "{after_policy} after {before}");
    let cert = certificate(&h, CertificateStatus::Active).await;
    let after_certificate = h.committed();
    assert!(after_certificate > after_policy);

    // Listeners hear each commit's number, increasing, up to the latest.
    let numbers = h.events.commit_numbers();
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");
    assert_eq!(numbers.last(), Some(&after_certificate));
    // What was committed up to that number is visible to a read that starts now.
    assert!(h.certificate_trust(&cert).await.unwrap().is_some());
}
