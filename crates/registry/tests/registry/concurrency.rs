//! The group-commit writer: many writers at once all succeed, share commits, and a write that
//! fails inside a batch is rolled back alone.

use std::collections::BTreeSet;
use std::sync::Arc;

use roost_registry::model::Tag;
use roost_registry::{NewThing, PageRequest, RegistryEvent, ThingFilter};

use crate::support::{Harness, policy_document};

const WRITERS: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_concurrent_writers_all_succeed_in_shared_commits() {
    let h = Harness::new().await;
    let registry = Arc::new(h.registry.clone());
    let tasks: Vec<_> = (0..WRITERS)
        .map(|i| {
            let registry = registry.clone();
            tokio::spawn(async move {
                registry
                    .create_thing(NewThing {
                        name: format!("storm{i:04}"),
                        ..Default::default()
                    })
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await
            .expect("the task ran")
            .expect("the write succeeded");
    }

    let listed = h
        .list_things(&ThingFilter::default(), &PageRequest::first(250))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), WRITERS);

    let commits = h.events.take_commits();
    let events: usize = commits.iter().map(Vec::len).sum();
    assert_eq!(events, WRITERS, "one ThingChanged per thing");
    assert!(
        commits.len() < WRITERS,
        "{} commits for {WRITERS} concurrent writes: nothing was grouped",
        commits.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_write_in_a_batch_leaves_the_others_committed() {
    let h = Harness::new().await;
    h.create_policy("taken", &policy_document("iot:Connect"))
        .await
        .unwrap();
    h.events.take();
    let registry = Arc::new(h.registry.clone());

    // Interleave writes that fail inside the transaction — after writing a row (a tagged
    // policy whose tag is refused), on a missing reference, on a duplicate — with good ones.
    let mut tasks = Vec::new();
    for i in 0..60 {
        let registry = registry.clone();
        tasks.push(tokio::spawn(async move {
            let outcome = match i % 4 {
                0 => registry
                    .create_policy_tagged(
                        &format!("half-written{i}"),
                        &policy_document("iot:Connect"),
                        vec![Tag {
                            key: "bad*key".into(),
                            value: "v".into(),
                        }],
                    )
                    .await
                    .map(|_| ()),
                1 => registry
                    .create_thing(NewThing {
                        name: format!("typeless{i}"),
                        type_name: Some("no-such-type".into()),
                        ..Default::default()
                    })
                    .await
                    .map(|_| ()),
                2 => registry
                    .create_policy("taken", &policy_document("iot:Publish"))
                    .await
                    .map(|_| ()),
                _ => registry
                    .create_policy(&format!("good{i}"), &policy_document("iot:Connect"))
                    .await
                    .map(|_| ()),
            };
            (i, outcome)
        }));
    }
    let mut good = BTreeSet::new();
    for task in tasks {
        let (i, outcome) = task.await.expect("the task ran");
        if i % 4 == 3 {
            outcome.expect("a good write succeeds");
            good.insert(format!("good{i}"));
        } else {
            assert!(outcome.is_err(), "write {i} should have failed");
        }
    }

    let policies: BTreeSet<String> = h
        .list_policies(&PageRequest::first(250))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|p| p.name)
        .collect();
    let mut expected = good.clone();
    expected.insert("taken".into());
    assert_eq!(policies, expected, "no half-written policy, every good one");
    assert_eq!(
        h.get_policy("taken").await.unwrap().document,
        policy_document("iot:Connect")
    );
    assert!(
        h.list_things(&ThingFilter::default(), &PageRequest::first(10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let events = h.events.take();
    assert_eq!(
        events.len(),
        good.len(),
        "events only for what was committed"
    );
    for event in events {
        match event {
            RegistryEvent::PolicyChanged { policy_name } => {
                assert!(good.contains(&policy_name), "{policy_name}")
            }
            other => panic!("unexpected event {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_identical_creates_make_one_thing() {
    let h = Harness::new().await;
    let registry = Arc::new(h.registry.clone());
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let registry = registry.clone();
            tokio::spawn(async move {
                registry
                    .create_thing(NewThing {
                        name: "contended".into(),
                        ..Default::default()
                    })
                    .await
            })
        })
        .collect();
    let mut ids = BTreeSet::new();
    for task in tasks {
        ids.insert(task.await.unwrap().unwrap().id);
    }
    assert_eq!(ids.len(), 1, "every caller got the same thing");
    assert_eq!(h.events.take().len(), 1, "created once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_write_is_there_after_reopening() {
    let h = Harness::new().await;
    let registry = Arc::new(h.registry.clone());
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let registry = registry.clone();
            tokio::spawn(async move {
                registry
                    .create_policy(&format!("p{i:02}"), &policy_document("iot:Connect"))
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    drop(registry);
    let h = h.reopen().await;
    assert_eq!(
        h.list_policies(&PageRequest::first(250))
            .await
            .unwrap()
            .items
            .len(),
        50
    );
}
