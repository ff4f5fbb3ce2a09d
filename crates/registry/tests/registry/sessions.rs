//! Persistent MQTT sessions: stored, their messages appended, replaced and forgotten, loaded
//! in order.

use roost_registry::{SessionMessageRecord, SessionRecord};

use crate::support::Harness;

fn session(client_id: &str, disconnected_ms: Option<i64>) -> SessionRecord {
    SessionRecord {
        client_id: client_id.into(),
        expiry_secs: 3600,
        disconnected_ms,
        subscriptions: r#"[{"filter":"a/#"}]"#.into(),
    }
}

fn message(client_id: &str, seq: u64) -> SessionMessageRecord {
    SessionMessageRecord {
        client_id: client_id.into(),
        seq,
        delivery: format!(r#"{{"n":{seq}}}"#),
    }
}

#[tokio::test]
async fn sessions_and_their_messages_are_stored_replaced_and_forgotten() {
    let registry = Harness::new().await;
    registry.put_session(session("a", None)).await.unwrap();
    registry.put_session(session("b", None)).await.unwrap();
    registry
        .append_session_messages(vec![message("a", 2), message("a", 1), message("b", 3)])
        .await
        .unwrap();
    let all = registry.all_sessions().await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].session, session("a", None));
    let seqs: Vec<u64> = all[0].messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, [1, 2], "in order");

    registry
        .delete_session_messages("a", vec![1])
        .await
        .unwrap();
    registry
        .append_session_messages(vec![message("b", 9)])
        .await
        .unwrap();
    registry
        .replace_session(session("b", Some(5)), vec![message("b", 7)], 8)
        .await
        .unwrap();
    let all = registry.all_sessions().await.unwrap();
    assert_eq!(all[0].messages, vec![message("a", 2)]);
    assert_eq!(all[1].session.disconnected_ms, Some(5));
    assert_eq!(
        all[1].messages,
        vec![message("b", 7), message("b", 9)],
        "replaced below 8, kept from 8 on"
    );

    registry.delete_session("a").await.unwrap();
    let all = registry.all_sessions().await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].session.client_id, "b");
}

#[tokio::test]
async fn messages_of_a_session_that_is_not_stored_are_not_loaded() {
    let registry = Harness::new().await;
    registry
        .append_session_messages(vec![message("gone", 1)])
        .await
        .unwrap();
    assert!(registry.all_sessions().await.unwrap().is_empty());
}
