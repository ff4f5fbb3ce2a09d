//! Device shadows: durable updates, AWS's version rules, deletion that keeps the numbering.

use roost_shadow::{ShadowError, ShadowLimits, ShadowName, ThingName, UpdateRequest};
use serde_json::json;

use crate::support::Harness;

fn update(body: serde_json::Value) -> UpdateRequest {
    UpdateRequest::parse(body.to_string().as_bytes(), &ShadowLimits::default())
        .expect("a valid update")
}

#[tokio::test]
async fn a_shadow_is_created_updated_and_survives_a_restart_without_a_registered_thing() {
    let h = Harness::new().await;
    let thing = ThingName::new("lamp").unwrap();
    let named = ShadowName::new("config").unwrap();
    let first = h
        .update_shadow(
            &thing,
            None,
            update(json!({"state":{"reported":{"on":true}}})),
            100,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.accepted.version, 1);
    h.update_shadow(
        &thing,
        Some(&named),
        update(json!({"state":{"desired":{"mode":"eco"}}})),
        100,
    )
    .await
    .unwrap()
    .unwrap();
    let h = h.reopen().await;
    let classic = h.shadow(&thing, None).await.unwrap().expect("stored");
    assert_eq!(classic.version(), 1);
    let snapshot = serde_json::to_value(classic.snapshot()).unwrap();
    assert_eq!(snapshot["state"]["reported"]["on"], true);
    let named_doc = h
        .shadow(&thing, Some(&named))
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(
        serde_json::to_value(named_doc.snapshot()).unwrap()["state"]["desired"]["mode"],
        "eco"
    );
}

#[tokio::test]
async fn a_version_conflict_is_rejected_and_changes_nothing() {
    let h = Harness::new().await;
    let thing = ThingName::new("t").unwrap();
    h.update_shadow(
        &thing,
        None,
        update(json!({"state":{"reported":{"a":1}}})),
        1,
    )
    .await
    .unwrap()
    .unwrap();
    let rejected = h
        .update_shadow(
            &thing,
            None,
            update(json!({"state":{"reported":{"a":2}},"version":7})),
            2,
        )
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(
            rejected,
            ShadowError::VersionConflict {
                current: 1,
                requested: 7
            }
        ),
        "{rejected:?}"
    );
    let stored = h.shadow(&thing, None).await.unwrap().unwrap();
    assert_eq!(stored.version(), 1);
    assert_eq!(
        serde_json::to_value(stored.snapshot()).unwrap()["state"]["reported"]["a"],
        1
    );
}

#[tokio::test]
async fn a_deleted_shadow_is_gone_and_its_next_incarnation_continues_the_version() {
    let h = Harness::new().await;
    let thing = ThingName::new("t").unwrap();
    for n in 0..3 {
        h.update_shadow(
            &thing,
            None,
            update(json!({"state":{"reported":{"n":n}}})),
            1,
        )
        .await
        .unwrap()
        .unwrap();
    }
    let deleted = h
        .delete_shadow(&thing, None, None, 5)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(deleted.version, 3);
    assert!(h.shadow(&thing, None).await.unwrap().is_none());
    let again = h
        .delete_shadow(&thing, None, None, 6)
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(again.code(), 404);
    let reborn = h
        .update_shadow(
            &thing,
            None,
            update(json!({"state":{"reported":{"n":9}}})),
            7,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reborn.accepted.version, 4);
}

#[tokio::test]
async fn named_shadows_are_listed_by_name_in_pages_without_the_classic_or_deleted_ones() {
    let h = Harness::new().await;
    let thing = ThingName::new("t").unwrap();
    h.update_shadow(
        &thing,
        None,
        update(json!({"state":{"reported":{"a":1}}})),
        1,
    )
    .await
    .unwrap()
    .unwrap();
    for name in ["c", "a", "b", "gone"] {
        let name = ShadowName::new(name).unwrap();
        h.update_shadow(
            &thing,
            Some(&name),
            update(json!({"state":{"reported":{"a":1}}})),
            1,
        )
        .await
        .unwrap()
        .unwrap();
    }
    let gone = ShadowName::new("gone").unwrap();
    h.delete_shadow(&thing, Some(&gone), None, 2)
        .await
        .unwrap()
        .unwrap();
    let first = h
        .list_named_shadows(&thing, &roost_registry::PageRequest::first(2))
        .await
        .unwrap();
    let names: Vec<&str> = first.items.iter().map(|n| n.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    let next = roost_registry::PageRequest {
        after: Some("b".into()),
        ..roost_registry::PageRequest::first(2)
    };
    let second = h.list_named_shadows(&thing, &next).await.unwrap();
    let names: Vec<&str> = second.items.iter().map(|n| n.as_str()).collect();
    assert_eq!(names, ["c"]);
    assert!(second.next.is_none());
}
