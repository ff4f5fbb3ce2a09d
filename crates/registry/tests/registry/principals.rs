//! Thing principals: certificates attached to things, exclusively or not.

use roost_registry::model::{CertificateStatus, ThingPrincipalType};
use roost_registry::{NewThing, PageRequest, RegistryEvent};

use crate::assert_err;
use crate::support::{Harness, certificate};

const SHARED: ThingPrincipalType = ThingPrincipalType::NonExclusiveThing;
const EXCLUSIVE: ThingPrincipalType = ThingPrincipalType::ExclusiveThing;

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

async fn cert_arn(h: &Harness) -> String {
    h.arns()
        .certificate(&certificate(h, CertificateStatus::Active).await)
}

fn event(thing: &str, principal: &str) -> RegistryEvent {
    RegistryEvent::ThingPrincipalChanged {
        thing_name: thing.into(),
        principal: principal.into(),
    }
}

async fn things_of(h: &Harness, principal: &str) -> Vec<String> {
    h.list_principal_things(principal, None, &PageRequest::first(50))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|p| p.thing_name)
        .collect()
}

#[tokio::test]
async fn a_certificate_is_attached_detached_and_listed_both_ways() {
    let h = Harness::new().await;
    things(&h, &["t"]).await;
    let cert = cert_arn(&h).await;
    h.events.take();

    h.attach_thing_principal("t", &cert, SHARED).await.unwrap();
    h.attach_thing_principal("t", &cert, SHARED).await.unwrap();
    assert_eq!(h.events.take(), vec![event("t", &cert)], "once is a change");
    let listed = h
        .list_thing_principals("t", None, &PageRequest::first(10))
        .await
        .unwrap()
        .items;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].principal, cert);
    assert_eq!(listed[0].kind, SHARED);
    assert_eq!(things_of(&h, &cert).await, ["t"]);

    h.detach_thing_principal("t", &cert).await.unwrap();
    h.detach_thing_principal("t", &cert).await.unwrap();
    assert_eq!(h.events.take(), vec![event("t", &cert)]);
    assert!(things_of(&h, &cert).await.is_empty());
}

#[tokio::test]
async fn an_exclusive_attachment_keeps_a_certificate_to_one_thing() {
    let h = Harness::new().await;
    things(&h, &["one", "two"]).await;
    let exclusive = cert_arn(&h).await;
    let shared = cert_arn(&h).await;

    h.attach_thing_principal("one", &exclusive, EXCLUSIVE)
        .await
        .unwrap();
    assert_err!(
        h.attach_thing_principal("two", &exclusive, SHARED).await,
        InvalidRequest
    );
    h.attach_thing_principal("one", &shared, SHARED)
        .await
        .unwrap();
    h.attach_thing_principal("two", &shared, SHARED)
        .await
        .unwrap();
    assert_err!(
        h.attach_thing_principal("one", &shared, EXCLUSIVE).await,
        InvalidRequest
    );
    assert_eq!(things_of(&h, &shared).await, ["one", "two"]);

    let only_exclusive = h
        .list_thing_principals("one", Some(EXCLUSIVE), &PageRequest::first(10))
        .await
        .unwrap()
        .items;
    assert_eq!(only_exclusive.len(), 1);
    assert_eq!(only_exclusive[0].principal, exclusive);
    let shared_things = h
        .list_principal_things(&shared, Some(SHARED), &PageRequest::first(10))
        .await
        .unwrap()
        .items;
    assert_eq!(shared_things.len(), 2);

    h.detach_thing_principal("one", &exclusive).await.unwrap();
    h.attach_thing_principal("two", &exclusive, SHARED)
        .await
        .unwrap();
}

#[tokio::test]
async fn principal_operations_need_an_existing_thing_and_certificate() {
    let h = Harness::new().await;
    things(&h, &["t"]).await;
    let cert = cert_arn(&h).await;
    let missing = h.arns().certificate(&"d".repeat(64));
    assert_err!(
        h.attach_thing_principal("missing", &cert, SHARED).await,
        NotFound
    );
    assert_err!(
        h.attach_thing_principal("t", &missing, SHARED).await,
        NotFound
    );
    let message = assert_err!(
        h.attach_thing_principal("t", "cert/abc", SHARED).await,
        InvalidRequest
    );
    assert!(message.contains("principal"), "{message}");
    let message = assert_err!(
        h.attach_thing_principal("t", &h.arns().thing("t"), SHARED)
            .await,
        InvalidRequest
    );
    assert!(message.contains("principal"), "{message}");
    assert_err!(h.detach_thing_principal("missing", &cert).await, NotFound);
    let message = assert_err!(
        h.list_thing_principals("missing", None, &PageRequest::first(10))
            .await,
        NotFound
    );
    assert!(message.contains("does not exist"), "{message}");
    assert_err!(
        h.list_principal_things(&missing, None, &PageRequest::first(10))
            .await,
        NotFound
    );
}
