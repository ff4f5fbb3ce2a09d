//! Retained messages: stored durably per topic, listed by topic, expired ones hidden.

use roost_registry::{PageRequest, RetainedProperties, RetainedRecord};

use crate::support::Harness;

fn record(topic: &str, payload: &[u8], expires_ms: Option<i64>) -> RetainedRecord {
    RetainedRecord {
        topic: topic.to_owned(),
        payload: payload.to_vec(),
        qos: 1,
        properties: RetainedProperties {
            content_type: Some("application/json".into()),
            user_properties: vec![("k".into(), "v".into())],
            ..RetainedProperties::default()
        },
        expires_ms,
        updated_ms: 1_000,
    }
}

#[tokio::test]
async fn retained_messages_are_replaced_deleted_and_survive_a_restart() {
    let h = Harness::new().await;
    h.put_retained(record("a/1", b"one", None)).await.unwrap();
    h.put_retained(record("a/1", &[0, 255, 7], None))
        .await
        .unwrap();
    h.put_retained(record("b/2", b"two", None)).await.unwrap();
    h.put_retained(record("old", b"x", Some(1))).await.unwrap();
    h.delete_retained("b/2").await.unwrap();
    let h = h.reopen().await;
    let all = h.all_retained().await.unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0], record("a/1", &[0, 255, 7], None));
    assert!(h.retained("old").await.unwrap().is_none(), "expired");
    assert!(h.retained("b/2").await.unwrap().is_none());
}

#[tokio::test]
async fn retained_messages_are_listed_by_topic_in_pages() {
    let h = Harness::new().await;
    for topic in ["c", "a", "b"] {
        h.put_retained(record(topic, b"12345", None)).await.unwrap();
    }
    let first = h.list_retained(&PageRequest::first(2)).await.unwrap();
    let topics: Vec<&str> = first.items.iter().map(|r| r.topic.as_str()).collect();
    assert_eq!(topics, ["a", "b"]);
    assert_eq!(first.items[0].payload_bytes, 5);
    let next = PageRequest {
        after: Some("b".into()),
        ..PageRequest::first(2)
    };
    let rest = h.list_retained(&next).await.unwrap();
    assert_eq!(rest.items.len(), 1);
    assert!(rest.next.is_none());
}
