//! Bad input and limits: a malformed or oversized packet closes that one connection and never
//! the broker, a subscriber that stops reading stalls nobody and costs bounded memory, and
//! silent or misbehaving clients are closed.

mod common;

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use common::*;
use roost_codec::{Packet, ProtocolVersion, QoS, ReasonCode};
use roost_registry::model::CertificateStatus;

/// Checks that the broker still serves: a fresh client publishes and receives.
async fn still_serving(server: &Server, device: &Device) -> Result<()> {
    let mut probe = server
        .raw_connected(device, ProtocolVersion::V5, &unique("probe"))
        .await?;
    let topic = unique("alive");
    probe.subscribe(&topic, QoS::AtLeastOnce).await?;
    probe
        .publish(&topic, b"yes", QoS::AtLeastOnce, false)
        .await?;
    assert_eq!(&probe.next_publish().await?.payload[..], b"yes");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_after_connect_closes_only_that_connection() -> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let topic = unique("bystander");
    let mut bystander = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("b"))
        .await?;
    bystander.subscribe(&topic, QoS::AtLeastOnce).await?;

    let garbage: &[&[u8]] = &[
        &[0x00, 0x00],                               // reserved packet type 0
        &[0xF0, 0x00],                               // AUTH on 3.1.1
        &[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F],       // a remaining length of five bytes
        &[0x32, 0x03, 0x00, 0x01, 0x61],             // QoS 1 PUBLISH without packet id
        &[0x82, 0x05, 0x00, 0x01, 0x00, 0x01, 0x61], // SUBSCRIBE without options byte
        &[0x30, 0x05, 0x00, 0x03, 0xC3, 0x28, 0x61], // topic that is not UTF-8
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    ];
    for (i, bytes) in garbage.iter().enumerate() {
        for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
            let mut bad = server
                .raw_connected(&device, version, &unique("bad"))
                .await?;
            bad.send_bytes(bytes).await?;
            let (packets, _) = bad.closed().await?;
            if version.is_v5() && i != 1 {
                assert!(
                    matches!(packets.as_slice(), [Packet::Disconnect(d)] if d.reason_code.is_error()),
                    "garbage #{i}: {packets:?}"
                );
            }
        }
    }
    // The bystander's connection is still up and still gets messages.
    let mut publisher = server
        .raw_connected(&device, ProtocolVersion::V3_1_1, &unique("p"))
        .await?;
    publisher
        .publish(&topic, b"still here", QoS::AtLeastOnce, false)
        .await?;
    assert_eq!(&bystander.next_publish().await?.payload[..], b"still here");
    still_serving(&server, &device).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_instead_of_connect_is_closed_without_an_answer() -> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    for bytes in [
        &b"\x30\x02\x00\x00"[..], // PUBLISH before CONNECT
        &b"\x10\x0c\x00\x04MQTT\x09\x02\x00\x3c\x00\x00"[..], // unknown protocol level 9
        &b"\x10\x0c\x00\x04MQTX\x04\x02\x00\x3c\x00\x00"[..], // wrong protocol name
        &b"\x10\x0c\x00\x04MQTT\x04\x03\x00\x3c\x00\x00"[..], // reserved flag set
        &b"\xff\xff\xff\xff"[..],
    ] {
        let mut raw = server.raw(&device, ProtocolVersion::V3_1_1).await?;
        raw.send_bytes(bytes).await?;
        let (packets, _) = raw.closed().await?;
        for packet in packets {
            if let Packet::ConnAck(ack) = packet {
                assert_ne!(ack.reason_code, ReasonCode::Success, "{bytes:?}");
            }
        }
    }
    still_serving(&server, &device).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_connect_on_a_connection_is_a_protocol_error() -> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let mut client = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("twice"))
        .await?;
    client
        .send(connect(ProtocolVersion::V5, &unique("again"), true))
        .await?;
    let (packets, _) = client.closed().await?;
    assert!(matches!(
        packets.as_slice(),
        [Packet::Disconnect(d)] if d.reason_code == ReasonCode::ProtocolError
    ));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_packet_over_the_128_kib_limit_disconnects_and_one_under_it_passes() -> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let topic = unique("big");
    let mut receiver = server
        .raw_connected(&device, ProtocolVersion::V3_1_1, &unique("r"))
        .await?;
    receiver.subscribe(&topic, QoS::AtMostOnce).await?;

    let mut client = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("big"))
        .await?;
    let fits = vec![b'x'; 128 * 1024 - 64];
    client
        .publish(&topic, &fits, QoS::AtLeastOnce, false)
        .await?;
    assert_eq!(receiver.next_publish().await?.payload.len(), fits.len());

    let too_big = vec![b'x'; 128 * 1024 + 1];
    client
        .send(publish(&topic, &too_big, QoS::AtLeastOnce, false, 77))
        .await
        .ok();
    let (packets, _) = client.closed().await?;
    assert!(
        matches!(packets.as_slice(), [Packet::Disconnect(d)] if d.reason_code == ReasonCode::PacketTooLarge),
        "{packets:?}"
    );
    receiver.no_publish().await?;

    // A 3.1.1 client is simply closed; the announced size alone is enough to refuse it.
    let mut v4 = server
        .raw_connected(&device, ProtocolVersion::V3_1_1, &unique("big4"))
        .await?;
    v4.send_bytes(&[0x30, 0xFF, 0xFF, 0x7F]).await?;
    v4.closed().await?;
    still_serving(&server, &device).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_connect_is_refused() -> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let mut raw = server.raw(&device, ProtocolVersion::V5).await?;
    let mut hello = connect(ProtocolVersion::V5, &unique("c"), true);
    hello.will = Some(will("w", "", QoS::AtMostOnce, false));
    if let Some(will) = hello.will.as_mut() {
        will.payload = bytes::Bytes::from(vec![0u8; 65_535]);
    }
    hello.properties.user_properties = (0..4)
        .map(|i| (format!("k{i}"), "v".repeat(20_000)))
        .collect();
    raw.send(hello).await.ok();
    let (packets, _) = raw.closed().await?;
    assert!(
        !packets
            .iter()
            .any(|p| matches!(p, Packet::ConnAck(a) if a.reason_code == ReasonCode::Success)),
        "{packets:?}"
    );
    still_serving(&server, &device).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_sends_connect_is_closed_after_the_connect_timeout() -> Result<()> {
    let server = Server::start_with(|c| c.connect_timeout = Duration::from_millis(300)).await?;
    let device = server.device(ALLOW_ALL).await?;
    let mut idle = server.raw(&device, ProtocolVersion::V3_1_1).await?;
    let start = Instant::now();
    idle.closed().await?;
    assert!(start.elapsed() < Duration::from_secs(2));
    // Half a CONNECT is no better.
    let mut partial = server.raw(&device, ProtocolVersion::V3_1_1).await?;
    partial.send_bytes(&[0x10, 0x20, 0x00]).await?;
    partial.closed().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_never_reads_stalls_no_one_and_its_backlog_is_bounded() -> Result<()> {
    let server = Server::start_with(|c| c.mailbox_capacity = 64).await?;
    let device = server.device(ALLOW_ALL).await?;
    let topic = unique("firehose");
    let mut stuck = server
        .raw_connected(&device, ProtocolVersion::V3_1_1, &unique("stuck"))
        .await?;
    stuck.subscribe(&topic, QoS::AtMostOnce).await?;
    // At QoS 0 every message is written at once (QoS 1 would wait in the session's bounded
    // queue behind the inflight window). From here on `stuck` never reads: its socket buffers
    // fill up.
    let mut fast = server
        .raw_connected(&device, ProtocolVersion::V3_1_1, &unique("fast"))
        .await?;
    fast.subscribe(&topic, QoS::AtMostOnce).await?;
    let mut publisher = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("p"))
        .await?;

    // About 10 MB, in lockstep: each message is acknowledged to the publisher and received by
    // the fast subscriber before the next is sent.
    let payload = vec![b'z'; 16 * 1024];
    let start = Instant::now();
    for i in 0..600 {
        let code = publisher
            .publish(&topic, &payload, QoS::AtLeastOnce, false)
            .await?;
        assert_eq!(code, Some(ReasonCode::Success), "message {i}");
        assert_eq!(fast.next_publish().await?.payload.len(), payload.len());
    }
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "the stuck subscriber slowed the others down: {:?}",
        start.elapsed()
    );
    // What could not reach the stuck subscriber was dropped at its bounded mailbox instead of
    // piling up in memory.
    let dropped = server
        .broker
        .core()
        .router
        .counters
        .mailbox_full
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(dropped > 0, "nothing was dropped for the stuck subscriber");
    drop(stuck);
    still_serving(&server, &device).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_qos1_subscriber_slows_its_publisher_and_loses_nothing() -> Result<()> {
    // Tiny queues, so that a publisher outruns the subscriber at once.
    let server = Server::start_with(|c| {
        c.mailbox_capacity = 4;
        c.mqtt.max_queued_messages = 4;
        c.mqtt.max_inflight = std::num::NonZeroU16::new(2).unwrap();
    })
    .await?;
    let device = server.device(ALLOW_ALL).await?;
    let topic = unique("steady");
    let mut slow = server
        .raw_connected(&device, ProtocolVersion::V3_1_1, &unique("slow"))
        .await?;
    slow.subscribe(&topic, QoS::AtLeastOnce).await?;
    const MESSAGES: usize = 200;
    let reader = tokio::spawn(async move {
        let mut payloads = Vec::new();
        while payloads.len() < MESSAGES {
            // Acknowledges each message a millisecond late: behind the publisher, but alive.
            tokio::time::sleep(Duration::from_millis(1)).await;
            payloads.push(slow.next_publish().await?.payload.to_vec());
        }
        anyhow::Ok(payloads)
    });
    let mut publisher = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("p"))
        .await?;
    for i in 0..MESSAGES {
        let code = publisher
            .publish(&topic, i.to_string().as_bytes(), QoS::AtLeastOnce, false)
            .await?;
        assert_eq!(code, Some(ReasonCode::Success), "message {i}");
    }
    let payloads = tokio::time::timeout(Duration::from_secs(20), reader).await???;
    let expected: Vec<Vec<u8>> = (0..MESSAGES).map(|i| i.to_string().into_bytes()).collect();
    assert_eq!(
        payloads, expected,
        "every acknowledged message arrives, in order"
    );
    let dropped = server
        .broker
        .core()
        .router
        .counters
        .mailbox_full
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(dropped, 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_accepts_no_data_is_disconnected_after_the_write_timeout() -> Result<()> {
    let server = Server::start_with(|c| {
        c.mailbox_capacity = 64;
        c.write_timeout = Duration::from_millis(300);
    })
    .await?;
    let device = server.device(ALLOW_ALL).await?;
    let mut monitor = server.monitor().await?;
    let topic = unique("flood");
    let stuck_id = unique("stuck");
    let mut stuck = server
        .raw_connected(&device, ProtocolVersion::V5, &stuck_id)
        .await?;
    stuck.subscribe(&topic, QoS::AtMostOnce).await?;
    let mut publisher = server
        .raw_connected(&device, ProtocolVersion::V3_1_1, &unique("p"))
        .await?;
    let payload = vec![b'z'; 32 * 1024];
    for _ in 0..300 {
        publisher
            .publish(&topic, &payload, QoS::AtLeastOnce, false)
            .await?;
    }
    let event = monitor
        .event(&format!("$aws/events/presence/disconnected/{stuck_id}"))
        .await?;
    assert_eq!(event["disconnectReason"], "CONNECTION_LOST");
    drop(stuck);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_subscriber_is_still_cut_within_a_second_when_revoked() -> Result<()> {
    let server = Server::start_with(|c| c.mailbox_capacity = 64).await?;
    let stuck_device = server.device(ALLOW_ALL).await?;
    let device = server.device(ALLOW_ALL).await?;
    let mut monitor = server.monitor().await?;
    let topic = unique("flood");
    let stuck_id = unique("stuck");
    let mut stuck = server
        .raw_connected(&stuck_device, ProtocolVersion::V5, &stuck_id)
        .await?;
    stuck.subscribe(&topic, QoS::AtMostOnce).await?;
    let mut publisher = server
        .raw_connected(&device, ProtocolVersion::V3_1_1, &unique("p"))
        .await?;
    let payload = vec![b'z'; 32 * 1024];
    for _ in 0..300 {
        publisher
            .publish(&topic, &payload, QoS::AtLeastOnce, false)
            .await?;
    }
    let start = Instant::now();
    server
        .registry
        .update_certificate(&stuck_device.id, CertificateStatus::Revoked)
        .await?;
    let event = monitor
        .event(&format!("$aws/events/presence/disconnected/{stuck_id}"))
        .await?;
    assert_eq!(event["disconnectReason"], "AUTH_ERROR");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "a client that does not read was cut after {:?}",
        start.elapsed()
    );
    drop(stuck);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_sends_server_shutting_down_and_closes_every_connection() -> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let mut v5 = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("a"))
        .await?;
    let mut v4 = server
        .raw_connected(&device, ProtocolVersion::V3_1_1, &unique("b"))
        .await?;
    let start = Instant::now();
    server.broker.shutdown(Duration::from_secs(2)).await;
    assert!(start.elapsed() < Duration::from_secs(1));
    let (packets, _) = v5.closed().await?;
    assert!(matches!(
        packets.as_slice(),
        [Packet::Disconnect(d)] if d.reason_code == ReasonCode::ServerShuttingDown
    ));
    v4.closed().await?;
    if server.raw(&device, ProtocolVersion::V5).await.is_ok() {
        bail!("the listener still accepts after shutdown");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_id_over_128_bytes_is_refused() -> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let long = "x".repeat(129);
    let mut v5 = server.raw(&device, ProtocolVersion::V5).await?;
    let connack = v5
        .connect(connect(ProtocolVersion::V5, &long, true))
        .await?;
    assert_eq!(connack.reason_code, ReasonCode::ClientIdentifierNotValid);
    let mut v4 = server.raw(&device, ProtocolVersion::V3_1_1).await?;
    let connack = v4
        .connect(connect(ProtocolVersion::V3_1_1, &long, true))
        .await?;
    assert_eq!(connack.reason_code.to_connack_return_code(), 2);
    server
        .raw_connected(&device, ProtocolVersion::V5, &"y".repeat(128))
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_limit_are_closed_at_once() -> Result<()> {
    let server = Server::start_with(|c| c.max_connections = 2).await?;
    let device = server.device(ALLOW_ALL).await?;
    let _a = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("a"))
        .await?;
    let b = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("b"))
        .await?;
    let refused = match server.raw(&device, ProtocolVersion::V5).await {
        Err(_) => true,
        Ok(mut c) => {
            let _ = c
                .send(connect(ProtocolVersion::V5, &unique("c"), true))
                .await;
            matches!(c.recv_within(WAIT).await?, Some(None))
        }
    };
    assert!(refused, "a third connection was served");
    // A slot frees up when a connection ends.
    drop(b);
    eventually(|| server.broker.core().index.len() == 1).await?;
    tokio::time::sleep(Duration::from_millis(50)).await;
    server
        .raw_connected(&device, ProtocolVersion::V5, &unique("d"))
        .await?;
    Ok(())
}
