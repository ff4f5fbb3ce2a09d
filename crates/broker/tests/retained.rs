//! Retained messages are durable: written to the registry before the PUBACK of their publish,
//! removed when cleared, and loaded by a broker that starts on the same registry.

mod common;

use std::time::Instant;

use anyhow::Result;
use common::*;
use roost_broker::{Broker, BrokerConfig};
use roost_codec::{ProtocolVersion, QoS, ReasonCode};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retained_publish_is_stored_before_its_puback_and_reloaded_by_the_next_broker()
-> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let mut client = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("keeper"))
        .await?;
    let topic = unique("plant/state");
    let cleared = unique("plant/cleared");
    let reason = client
        .publish(&topic, b"running", QoS::AtLeastOnce, true)
        .await?;
    assert_eq!(reason, Some(ReasonCode::Success));
    // No waiting: the PUBACK came after the write.
    let stored = server.registry.retained(&topic).await?.expect("stored");
    assert_eq!(stored.payload, b"running");
    client
        .publish(&cleared, b"soon gone", QoS::AtLeastOnce, true)
        .await?;
    client
        .publish(&cleared, b"", QoS::AtLeastOnce, true)
        .await?;
    assert!(server.registry.retained(&cleared).await?.is_none());

    let next = Broker::start(
        server.registry.clone(),
        BrokerConfig::new("us-east-1", "123456789012"),
        None,
    )
    .await?;
    let router = &next.core().router;
    assert_eq!(router.retained_count(), 1);
    let filter = roost_mqtt::TopicFilter::new(&topic, &roost_mqtt::TopicLimits::MQTT)?;
    let restored = router.retained_matching(&filter, Instant::now());
    assert_eq!(&restored[0].payload[..], b"running");
    Ok(())
}
