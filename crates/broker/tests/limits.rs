//! AWS IoT Core's limits, which bound what one client can make the broker hold: topic length
//! and depth, filters per SUBSCRIBE, subscriptions per connection, and the retained store.

mod common;

use anyhow::Result;
use common::*;
use roost_broker::BrokerConfig;
use roost_codec::{
    Packet, ProtocolVersion, QoS, ReasonCode, Subscribe, SubscribeProperties, Subscription,
    SubscriptionOptions, TopicFilter,
};
use roost_mqtt::{RetainedLimits, TopicLimits};

/// AWS IoT's limits, with a retained store of at most `retained` messages.
fn aws_limits(retained: usize) -> impl FnOnce(&mut BrokerConfig) {
    move |c: &mut BrokerConfig| {
        c.mqtt.topic_limits = TopicLimits::AWS_IOT;
        c.mqtt.max_filters_per_subscribe = 8;
        c.mqtt.max_subscriptions = 50;
        c.retained = RetainedLimits {
            max_messages: retained,
            max_bytes: 1024 * 1024,
        };
    }
}

/// Sends one SUBSCRIBE with `filters` and returns the SUBACK's reason codes.
async fn subscribe_all(raw: &mut Raw, filters: &[String]) -> Result<Vec<ReasonCode>> {
    let id = raw.id();
    let subscriptions = filters
        .iter()
        .map(|f| {
            Ok(Subscription {
                filter: TopicFilter::new(f)?,
                options: SubscriptionOptions {
                    qos: QoS::AtLeastOnce,
                    ..SubscriptionOptions::default()
                },
            })
        })
        .collect::<Result<Vec<_>>>()?;
    raw.send(Subscribe {
        packet_id: pid(id),
        subscriptions,
        properties: SubscribeProperties::default(),
    })
    .await?;
    loop {
        if let Packet::SubAck(ack) = raw.packet().await?
            && ack.packet_id == pid(id)
        {
            return Ok(ack.reason_codes);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_on_a_topic_beyond_the_limits_closes_the_connection_with_0x90() -> Result<()> {
    let server = Server::start_with(aws_limits(100)).await?;
    let device = server.device(ALLOW_ALL).await?;
    for topic in ["a/b/c/d/e/f/g/h/i".to_owned(), "x".repeat(257)] {
        let mut raw = server
            .raw_connected(&device, ProtocolVersion::V5, &unique("long"))
            .await?;
        raw.send(publish(&topic, b"1", QoS::AtMostOnce, true, 1))
            .await?;
        let (packets, _) = raw.closed().await?;
        assert!(
            matches!(packets.as_slice(), [Packet::Disconnect(d)] if d.reason_code == ReasonCode::TopicNameInvalid),
            "{packets:?}"
        );
    }
    assert_eq!(server.broker.core().router.retained_count(), 0);
    // A Basic Ingest prefix does not count against the levels.
    let mut raw = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("ingest"))
        .await?;
    let reason = raw
        .publish(
            "$aws/rules/r/a/b/c/d/e/f/g/h",
            b"1",
            QoS::AtLeastOnce,
            false,
        )
        .await?;
    assert_eq!(reason, Some(ReasonCode::Success));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_beyond_eight_per_subscribe_and_fifty_per_connection_are_refused() -> Result<()> {
    let server = Server::start_with(aws_limits(100)).await?;
    let device = server.device(ALLOW_ALL).await?;
    for version in [ProtocolVersion::V5, ProtocolVersion::V3_1_1] {
        let mut raw = server
            .raw_connected(&device, version, &unique("subs"))
            .await?;
        let quota = if version.is_v5() {
            ReasonCode::QuotaExceeded
        } else {
            ReasonCode::UnspecifiedError
        };
        let nine: Vec<String> = (0..9).map(|i| format!("nine/{i}")).collect();
        let codes = subscribe_all(&mut raw, &nine).await?;
        assert_eq!(codes[..8], [ReasonCode::GrantedQoS1; 8]);
        assert_eq!(codes[8], quota);
        // 8 held; 42 more reach the limit of 50, the 51st is refused.
        for batch in 0..6 {
            let filters: Vec<String> = (0..7).map(|i| format!("more/{batch}/{i}")).collect();
            let codes = subscribe_all(&mut raw, &filters).await?;
            assert!(
                codes.iter().all(|c| *c == ReasonCode::GrantedQoS1),
                "{codes:?}"
            );
        }
        let codes = subscribe_all(&mut raw, &["one/too/many".to_owned()]).await?;
        assert_eq!(codes, [quota]);
        // Replacing a held subscription is no new one.
        let codes = subscribe_all(&mut raw, &["nine/0".to_owned()]).await?;
        assert_eq!(codes, [ReasonCode::GrantedQoS1]);
        // A filter beyond the topic limits is refused as invalid, the connection stays.
        let codes = subscribe_all(&mut raw, &["a/b/c/d/e/f/g/h/#".to_owned()]).await?;
        assert_eq!(codes.len(), 1);
        assert!(codes[0].is_error(), "{codes:?}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_retained_cap_a_retained_publish_is_delivered_live_but_not_stored() -> Result<()> {
    let server = Server::start_with(aws_limits(2)).await?;
    let device = server.device(ALLOW_ALL).await?;
    let prefix = unique("state");
    let mut watcher = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("watcher"))
        .await?;
    watcher
        .subscribe(&format!("{prefix}/+"), QoS::AtLeastOnce)
        .await?;
    let mut publisher = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("publisher"))
        .await?;
    for (topic, expected) in [
        ("a", ReasonCode::Success),
        ("b", ReasonCode::Success),
        ("c", ReasonCode::QuotaExceeded),
    ] {
        let topic = format!("{prefix}/{topic}");
        let reason = publisher
            .publish(&topic, b"on", QoS::AtLeastOnce, true)
            .await?;
        assert_eq!(reason, Some(expected), "{topic}");
        let live = watcher.next_publish().await?;
        assert_eq!(live.topic.as_str(), topic);
    }
    let router = &server.broker.core().router;
    assert_eq!(router.retained_count(), 2);
    // Replacing a stored topic is still allowed at the cap.
    let reason = publisher
        .publish(&format!("{prefix}/a"), b"off", QoS::AtLeastOnce, true)
        .await?;
    assert_eq!(reason, Some(ReasonCode::Success));
    assert_eq!(router.retained_count(), 2);
    Ok(())
}
