//! Memory a client can make the broker hold stays bounded: the long-topic attack (65 KB
//! topics of 32,600 levels, retained) is refused before anything is stored. Alone in its test
//! binary, so that no other test's allocations move the measurement.

mod common;

use anyhow::Result;
use common::*;
use roost_codec::{Packet, ProtocolVersion, QoS, ReasonCode};

/// The resident set of this process, in bytes.
fn rss_bytes() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .ok_or_else(|| anyhow::anyhow!("no VmRSS in /proc/self/status"))?;
    Ok(kib * 1024)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_long_topic_attack_is_refused_and_memory_stays_within_a_few_megabytes() -> Result<()> {
    let server = Server::start_with(|c| {
        c.mqtt.topic_limits = roost_mqtt::TopicLimits::AWS_IOT;
    })
    .await?;
    let device = server.device(ALLOW_ALL).await?;
    let topic = "a/".repeat(32_600) + "z";
    assert!(topic.len() > 65_000);
    // Warm up: one connection's worth of buffers exists before the measurement.
    server
        .raw_connected(&device, ProtocolVersion::V5, &unique("warm"))
        .await?;
    let before = rss_bytes()?;
    for _ in 0..10 {
        let mut raw = server
            .raw_connected(&device, ProtocolVersion::V5, &unique("attacker"))
            .await?;
        raw.send(publish(&topic, b"1", QoS::AtMostOnce, true, 1))
            .await?;
        let (packets, _) = raw.closed().await?;
        assert!(
            matches!(packets.as_slice(), [Packet::Disconnect(d)] if d.reason_code == ReasonCode::TopicNameInvalid),
            "{packets:?}"
        );
    }
    let grown = rss_bytes()?.saturating_sub(before);
    println!("RSS grew by {} KiB over 10 attacks", grown / 1024);
    assert_eq!(server.broker.core().router.retained_count(), 0);
    // Unbounded, each attack cost about 14 MB (138 MB for ten).
    assert!(grown < 8 * 1024 * 1024, "RSS grew by {grown} bytes");
    Ok(())
}
