//! AWS IoT lifecycle events, as a subscriber to `$aws/events/#` sees them: presence
//! (connected, disconnected with its reason) and subscriptions (subscribed, unsubscribed).

mod common;

use std::time::Duration;

use anyhow::Result;
use common::*;
use roost_codec::{
    Disconnect, Packet, PacketId, ProtocolVersion, QoS, ReasonCode, TopicFilter, Unsubscribe,
    UnsubscribeProperties,
};
use roost_registry::model::{CertificateStatus, ThingPrincipalType};
use serde_json::Value;

fn connected_topic(client_id: &str) -> String {
    format!("$aws/events/presence/connected/{client_id}")
}

fn disconnected_topic(client_id: &str) -> String {
    format!("$aws/events/presence/disconnected/{client_id}")
}

/// The `disconnectReason` of the next disconnected event of `client_id`.
async fn disconnect_reason(monitor: &mut Raw, client_id: &str) -> Result<Value> {
    let event = monitor.event(&disconnected_topic(client_id)).await?;
    Ok(event["disconnectReason"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connected_and_disconnected_events_carry_awss_fields() -> Result<()> {
    let server = Server::start().await?;
    let mut monitor = server.monitor().await?;
    let device = server.device(ALLOW_ALL).await?;
    let client_id = unique("presence");
    let mut client = server
        .raw_connected(&device, ProtocolVersion::V5, &client_id)
        .await?;
    let connected = monitor.event(&connected_topic(&client_id)).await?;
    assert_eq!(connected["eventType"], "connected");
    assert_eq!(connected["clientId"], client_id.as_str());
    assert_eq!(connected["principalIdentifier"], device.id.as_str());
    assert_eq!(connected["ipAddress"], "127.0.0.1");
    assert!(
        connected["timestamp"]
            .as_u64()
            .is_some_and(|t| t > 1_600_000_000_000)
    );
    assert!(connected["versionNumber"].as_u64().is_some());
    assert!(
        connected["sessionIdentifier"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    assert!(
        connected.get("thingName").is_none(),
        "no exclusive thing, no thingName"
    );

    client.send(Disconnect::default()).await?;
    let disconnected = monitor.event(&disconnected_topic(&client_id)).await?;
    assert_eq!(disconnected["eventType"], "disconnected");
    assert_eq!(
        disconnected["disconnectReason"],
        "CLIENT_INITIATED_DISCONNECT"
    );
    assert_eq!(disconnected["clientInitiatedDisconnect"], true);
    assert_eq!(
        disconnected["sessionIdentifier"],
        connected["sessionIdentifier"]
    );
    assert_eq!(disconnected["versionNumber"], connected["versionNumber"]);
    assert_eq!(disconnected["principalIdentifier"], device.id.as_str());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_is_reported_as_connection_lost() -> Result<()> {
    let server = Server::start().await?;
    let mut monitor = server.monitor().await?;
    let device = server.device(ALLOW_ALL).await?;
    let client_id = unique("lost");
    let client = server
        .raw_connected(&device, ProtocolVersion::V3_1_1, &client_id)
        .await?;
    monitor.event(&connected_topic(&client_id)).await?;
    drop(client);
    let event = monitor.event(&disconnected_topic(&client_id)).await?;
    assert_eq!(event["disconnectReason"], "CONNECTION_LOST");
    assert_eq!(event["clientInitiatedDisconnect"], false);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_over_connection_is_reported_as_duplicate_clientid() -> Result<()> {
    let server = Server::start().await?;
    let mut monitor = server.monitor().await?;
    let device = server.device(ALLOW_ALL).await?;
    let client_id = unique("dup");
    let _first = server
        .raw_connected(&device, ProtocolVersion::V5, &client_id)
        .await?;
    let first = monitor.event(&connected_topic(&client_id)).await?;
    let _second = server
        .raw_connected(&device, ProtocolVersion::V5, &client_id)
        .await?;
    let gone = monitor.event(&disconnected_topic(&client_id)).await?;
    assert_eq!(gone["disconnectReason"], "DUPLICATE_CLIENTID");
    assert_eq!(gone["versionNumber"], first["versionNumber"]);
    let second = monitor.event(&connected_topic(&client_id)).await?;
    assert!(
        second["versionNumber"].as_u64() > first["versionNumber"].as_u64(),
        "versionNumber grows per client id"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_connection_is_reported_as_auth_error() -> Result<()> {
    let server = Server::start().await?;
    let mut monitor = server.monitor().await?;
    let device = server.device(ALLOW_ALL).await?;
    let client_id = unique("revoked");
    let _client = server
        .raw_connected(&device, ProtocolVersion::V5, &client_id)
        .await?;
    monitor.event(&connected_topic(&client_id)).await?;
    server
        .registry
        .update_certificate(&device.id, CertificateStatus::Revoked)
        .await?;
    assert_eq!(
        disconnect_reason(&mut monitor, &client_id).await?,
        "AUTH_ERROR"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_client_is_reported_as_keep_alive_timeout() -> Result<()> {
    let server = Server::start().await?;
    let mut monitor = server.monitor().await?;
    let device = server.device(ALLOW_ALL).await?;
    let client_id = unique("silent");
    let mut client = server.raw(&device, ProtocolVersion::V5).await?;
    let mut hello = connect(ProtocolVersion::V5, &client_id, true);
    hello.keep_alive = 1;
    client.connect(hello).await?;
    // Nothing is sent: the server gives up 1.5 keep-alive intervals later.
    let (packets, elapsed) = client.closed().await?;
    assert!(matches!(
        packets.as_slice(),
        [Packet::Disconnect(d)] if d.reason_code == ReasonCode::KeepAliveTimeout
    ));
    assert!(elapsed >= Duration::from_millis(1400), "{elapsed:?}");
    assert_eq!(
        disconnect_reason(&mut monitor, &client_id).await?,
        "MQTT_KEEP_ALIVE_TIMEOUT"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_packet_is_reported_as_client_error() -> Result<()> {
    let server = Server::start().await?;
    let mut monitor = server.monitor().await?;
    let device = server.device(ALLOW_ALL).await?;
    let client_id = unique("garbage");
    let mut client = server
        .raw_connected(&device, ProtocolVersion::V3_1_1, &client_id)
        .await?;
    client.send_bytes(&[0x00, 0x00]).await?;
    client.closed().await?;
    assert_eq!(
        disconnect_reason(&mut monitor, &client_id).await?,
        "CLIENT_ERROR"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribed_and_unsubscribed_events_list_the_filters() -> Result<()> {
    let server = Server::start().await?;
    let mut monitor = server.monitor().await?;
    let device = server.device(ALLOW_ALL).await?;
    let client_id = unique("subs");
    let mut client = server
        .raw_connected(&device, ProtocolVersion::V5, &client_id)
        .await?;
    client.subscribe("foo/bar", QoS::AtLeastOnce).await?;
    let event = monitor
        .event(&format!("$aws/events/subscriptions/subscribed/{client_id}"))
        .await?;
    assert_eq!(event["eventType"], "subscribed");
    assert_eq!(event["clientId"], client_id.as_str());
    assert_eq!(event["topics"], serde_json::json!(["foo/bar"]));
    assert_eq!(event["principalIdentifier"], device.id.as_str());
    assert!(event["sessionIdentifier"].as_str().is_some());
    assert!(event["timestamp"].as_u64().is_some());

    client
        .send(Unsubscribe {
            packet_id: PacketId::new(99).unwrap(),
            filters: vec![
                TopicFilter::new("foo/bar")?,
                TopicFilter::new("never/subscribed")?,
            ],
            properties: UnsubscribeProperties::default(),
        })
        .await?;
    match client.packet().await? {
        Packet::UnsubAck(ack) => assert_eq!(
            ack.reason_codes,
            vec![ReasonCode::Success, ReasonCode::NoSubscriptionExisted]
        ),
        other => anyhow::bail!("expected UNSUBACK, got {other:?}"),
    }
    let event = monitor
        .event(&format!(
            "$aws/events/subscriptions/unsubscribed/{client_id}"
        ))
        .await?;
    assert_eq!(event["eventType"], "unsubscribed");
    assert_eq!(event["topics"], serde_json::json!(["foo/bar"]));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_name_the_thing_only_when_it_is_attached_exclusively() -> Result<()> {
    let server = Server::start().await?;
    let mut monitor = server.monitor().await?;
    let exclusive = server.device(ALLOW_ALL).await?;
    server
        .thing("solo", &[], &exclusive, ThingPrincipalType::ExclusiveThing)
        .await?;
    let shared = server.device(ALLOW_ALL).await?;
    server
        .thing(
            "shared",
            &[],
            &shared,
            ThingPrincipalType::NonExclusiveThing,
        )
        .await?;
    let _a = server
        .raw_connected(&exclusive, ProtocolVersion::V5, "solo-client")
        .await?;
    let event = monitor.event(&connected_topic("solo-client")).await?;
    assert_eq!(event["thingName"], "solo");
    let _b = server
        .raw_connected(&shared, ProtocolVersion::V5, "shared")
        .await?;
    let event = monitor.event(&connected_topic("shared")).await?;
    assert!(event.get("thingName").is_none());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_ids_with_wildcard_characters_get_no_events() -> Result<()> {
    let server = Server::start().await?;
    let mut monitor = server.monitor().await?;
    let device = server.device(ALLOW_ALL).await?;
    let mut odd = server
        .raw_connected(&device, ProtocolVersion::V5, "odd+id#")
        .await?;
    odd.subscribe("x", QoS::AtMostOnce).await?;
    odd.send(Disconnect::default()).await?;
    odd.closed().await?;
    monitor.no_publish().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_subject_to_the_subscribers_policy() -> Result<()> {
    let server = Server::start().await?;
    let limited = server
        .device(&allow(&[
            (&["iot:Connect"], &["*"]),
            (&["iot:Subscribe"], &["topicfilter/$aws/events/*"]),
            (&["iot:Receive"], &["topic/$aws/events/presence/*/mine-*"]),
        ]))
        .await?;
    let mut watcher = server
        .raw_connected(&limited, ProtocolVersion::V5, &unique("w"))
        .await?;
    assert_eq!(
        watcher.subscribe("$aws/events/#", QoS::AtLeastOnce).await?,
        ReasonCode::GrantedQoS1
    );
    let device = server.device(ALLOW_ALL).await?;
    let _theirs = server
        .raw_connected(&device, ProtocolVersion::V5, "theirs-1")
        .await?;
    let _mine = server
        .raw_connected(&device, ProtocolVersion::V5, "mine-1")
        .await?;
    let event = watcher.event("$aws/events/presence/").await?;
    assert_eq!(event["clientId"], "mine-1");
    watcher.no_publish().await?;
    Ok(())
}
