//! Topic-trie matching with 100,000 subscriptions: the router's cost per PUBLISH.

use criterion::{Criterion, criterion_group, criterion_main};
use roost_codec::{QoS, TopicName};
use roost_mqtt::{
    MatchSet, SessionKey, SubscriptionEntry, SubscriptionFilter, SubscriptionTrie, TopicLimits,
};
use std::hint::black_box;

const SUBSCRIPTIONS: u64 = 100_000;

/// Subscription `i`: mostly exact per-device filters, some `+` and `#` wildcards, some shadow
/// topics — what a fleet of devices subscribes to.
fn filter(i: u64) -> String {
    let fleet = i % 1000;
    match i % 10 {
        0..=6 => format!("fleet/{fleet}/device-{i}/telemetry"),
        7 => format!("fleet/{fleet}/+/alerts"),
        8 => format!("fleet/{fleet}/device-{i}/#"),
        _ => format!("$aws/things/device-{i}/shadow/update/accepted"),
    }
}

fn build() -> SubscriptionTrie {
    let mut trie = SubscriptionTrie::new();
    let entry = SubscriptionEntry {
        qos: QoS::AtLeastOnce,
        no_local: false,
        retain_as_published: false,
        id: None,
    };
    for i in 0..SUBSCRIPTIONS {
        let filter = SubscriptionFilter::parse(&filter(i), &TopicLimits::MQTT).expect("filter");
        trie.insert(SessionKey(i), &filter, entry);
    }
    trie
}

fn trie(c: &mut Criterion) {
    let trie = build();
    assert_eq!(trie.len() as u64, SUBSCRIPTIONS);
    let mut group = c.benchmark_group("topic trie, 100k subscriptions");
    let mut out = MatchSet::new();
    for (name, topic, expected) in [
        // Subscription 42008 (42008 % 10 = 8) is `fleet/8/device-42008/#`.
        ("'#' match", "fleet/8/device-42008/telemetry", 1),
        ("exact match", "fleet/42/device-42042/telemetry", 1),
        ("'+' match, 100 subscribers", "fleet/7/device-1/alerts", 100),
        (
            "shadow topic",
            "$aws/things/device-42009/shadow/update/accepted",
            1,
        ),
        ("no match", "fleet/42/device-99999999/telemetry", 0),
    ] {
        let topic = TopicName::new(topic).expect("topic");
        trie.matches(&topic, None, &mut out);
        assert_eq!(out.sessions.len(), expected, "{name}");
        group.bench_function(name, |b| {
            b.iter(|| trie.matches(black_box(&topic), None, &mut out))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("topic trie build");
    group.sample_size(10);
    group.bench_function("insert 100k subscriptions", |b| {
        b.iter(|| black_box(build()))
    });
    group.finish();
}

criterion_group!(benches, trie);
criterion_main!(benches);
