//! A cluster's registry: nodes on one PostgreSQL database follow each other's commits in
//! commit order, keep their own persistent sessions, and share settings. On SQLite, joining
//! a cluster is refused with the reason.

use std::sync::Arc;
use std::time::{Duration, Instant};

use roost_registry::{NewThing, RegistryEvent, SessionRecord};

use crate::support::{Harness, Recorder, open};

const POLL: Duration = Duration::from_millis(20);

/// Waits until `recorder` has heard `want` events, and returns them.
async fn heard(recorder: &Recorder, want: usize) -> Vec<RegistryEvent> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = Vec::new();
    while got.len() < want {
        assert!(Instant::now() < deadline, "heard only {got:?}");
        got.extend(recorder.take());
        tokio::time::sleep(POLL).await;
    }
    // Nothing more comes (a node's own commits are not heard again from the log).
    tokio::time::sleep(POLL * 10).await;
    got.extend(recorder.take());
    got
}

fn thing(name: &str) -> NewThing {
    NewThing {
        name: name.into(),
        ..Default::default()
    }
}

fn changed(name: &str) -> RegistryEvent {
    RegistryEvent::ThingChanged {
        thing_name: name.into(),
    }
}

fn session(client_id: &str) -> SessionRecord {
    SessionRecord {
        client_id: client_id.into(),
        expiry_secs: 60,
        disconnected_ms: Some(1),
        subscriptions: "[]".into(),
    }
}

#[tokio::test]
async fn nodes_on_one_database_share_commits_settings_and_keep_their_own_sessions() {
    let a = Harness::new().await;
    if !a.url.starts_with("postgres") {
        let refused = a.join_cluster("a", POLL).await.unwrap_err();
        assert!(refused.to_string().contains("PostgreSQL"), "{refused}");
        return;
    }
    // A second node on the same database.
    let b = open(&a.url).await;
    let b_events = Arc::new(Recorder::default());
    b.subscribe(b_events.clone());
    a.join_cluster("a", POLL).await.unwrap();
    b.join_cluster("b", POLL).await.unwrap();

    a.create_thing(thing("t1")).await.unwrap();
    a.create_thing(thing("t2")).await.unwrap();
    b.create_thing(thing("t3")).await.unwrap();
    let on_b = heard(&b_events, 3).await;
    let from_a: Vec<_> = on_b.iter().filter(|e| **e != changed("t3")).collect();
    assert_eq!(
        from_a,
        [&changed("t1"), &changed("t2")],
        "a's commits, in order"
    );
    assert_eq!(on_b.len(), 3, "each once: {on_b:?}");
    let on_a = heard(&a.events, 3).await;
    assert_eq!(
        on_a.iter().filter(|e| **e == changed("t3")).count(),
        1,
        "{on_a:?}"
    );
    assert_eq!(on_a.len(), 3, "{on_a:?}");
    assert!(b.committed() >= 3, "remote commits are counted too");

    a.put_session(session("held-by-a")).await.unwrap();
    b.put_session(session("held-by-b")).await.unwrap();
    let mine = |sessions: Vec<roost_registry::StoredSession>| -> Vec<String> {
        sessions.into_iter().map(|s| s.session.client_id).collect()
    };
    assert_eq!(mine(a.all_sessions().await.unwrap()), ["held-by-a"]);
    assert_eq!(mine(b.all_sessions().await.unwrap()), ["held-by-b"]);
    assert_eq!(
        a.session_holder("held-by-b").await.unwrap(),
        Some(Some("b".to_owned()))
    );
    assert_eq!(a.session_holder("nobody").await.unwrap(), None);
    let taken = a.stored_session("held-by-b").await.unwrap().unwrap();
    assert_eq!(taken.session, session("held-by-b"));

    assert_eq!(
        a.shared_setting("k", "first".into()).await.unwrap(),
        "first"
    );
    assert_eq!(
        b.shared_setting("k", "second".into()).await.unwrap(),
        "first"
    );
    b.close().await;
}
