//! Connections another server accepted (MQTT over a SigV4-signed WebSocket) through the
//! broker's [`roost_broker::ConnectionGate`]: admitted as their access key with full access,
//! seen by lifecycle events as that key, and counted against `max_connections`.

mod common;

use anyhow::{Context, Result};
use common::*;
use roost_broker::admission::PeerIdentity;
use roost_codec::{ProtocolVersion, QoS, ReasonCode};

const ACCESS_KEY: &str = "AKIAROOSTWEBSOCKET00";

/// A raw client over an in-memory stream that the broker serves as signed by [`ACCESS_KEY`].
fn websocket_client(server: &Server, version: ProtocolVersion) -> Result<Raw> {
    let slot = server.broker.gate().reserve().context("no room")?;
    let (client, served) = tokio::io::duplex(64 * 1024);
    let peer = "127.0.0.1:50123".parse()?;
    tokio::spawn(slot.serve(served, peer, PeerIdentity::AccessKey(ACCESS_KEY.to_owned())));
    Ok(Raw::over(client, version))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_key_is_admitted_with_full_access_and_named_by_its_key() -> Result<()> {
    let server = Server::start().await?;
    let mut monitor = server.monitor().await?;
    let client_id = unique("console");
    let mut client = websocket_client(&server, ProtocolVersion::V5)?;
    let connack = client
        .connect(connect(ProtocolVersion::V5, &client_id, true))
        .await?;
    assert_eq!(connack.reason_code, ReasonCode::Success);

    let connected = monitor
        .event(&format!("$aws/events/presence/connected/{client_id}"))
        .await?;
    assert_eq!(connected["principalIdentifier"], ACCESS_KEY);
    assert_eq!(connected["ipAddress"], "127.0.0.1");

    // No IoT policy is attached to anything, yet every topic is open to it.
    assert_eq!(
        client.subscribe("anything/#", QoS::AtLeastOnce).await?,
        ReasonCode::GrantedQoS1
    );
    assert_eq!(
        client
            .publish("anything/at/all", b"hi", QoS::AtLeastOnce, false)
            .await?,
        Some(ReasonCode::Success)
    );
    let received = client.next_publish().await?;
    assert_eq!(received.topic.as_str(), "anything/at/all");
    assert_eq!(&received.payload[..], b"hi");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gate_counts_against_max_connections_until_the_connection_ends() -> Result<()> {
    let server = Server::start_with(|config| config.max_connections = 1).await?;
    let gate = server.broker.gate();
    let mut client = websocket_client(&server, ProtocolVersion::V3_1_1)?;
    let connack = client
        .connect(connect(ProtocolVersion::V3_1_1, &unique("only"), true))
        .await?;
    assert_eq!(connack.reason_code, ReasonCode::Success);
    assert!(gate.reserve().is_none(), "the broker is full");

    drop(client);
    eventually(|| gate.reserve().is_some()).await?;
    Ok(())
}
