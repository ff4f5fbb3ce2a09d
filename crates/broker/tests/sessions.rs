//! Persistent sessions are durable: their subscriptions are written before the SUBACK, QoS 1
//! messages queued while the client is away before the publisher's PUBACK, and the whole
//! session when the client disconnects; a broker started on the same registry (as after a
//! restart or a kill) resumes them. Sessions that end are forgotten.

mod common;

use anyhow::Result;
use common::*;
use roost_codec::{Disconnect, Packet, ProtocolVersion, QoS, ReasonCode};

/// A v5 CONNECT of `client_id` with a session expiry of five minutes.
fn persistent(client_id: &str, clean_start: bool) -> roost_codec::Connect {
    let mut hello = connect(ProtocolVersion::V5, client_id, clean_start);
    hello.properties.session_expiry_interval = Some(300);
    hello
}

/// Waits until the registry holds `count` messages owed to `client_id`'s stored session.
async fn stored_messages(server: &Server, client_id: &str, count: usize) -> Result<()> {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let sessions = server.registry.all_sessions().await?;
        let owed = sessions
            .iter()
            .find(|s| s.session.client_id == client_id)
            .map(|s| s.messages.len());
        if owed == Some(count) {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            anyhow::bail!("{client_id}'s stored session owes {owed:?} messages, not {count}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_and_the_messages_queued_for_it_survive_a_restart() -> Result<()> {
    let mut server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let topic = unique("sleep");
    let client_id = unique("sleeper");
    let mut sleeper = server.raw(&device, ProtocolVersion::V5).await?;
    sleeper.connect(persistent(&client_id, true)).await?;
    sleeper
        .subscribe(&format!("{topic}/#"), QoS::AtLeastOnce)
        .await?;
    sleeper.send(Disconnect::default()).await?;
    sleeper.closed().await?;

    let mut publisher = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("p"))
        .await?;
    for n in ["1", "2"] {
        let acked = publisher
            .publish(
                &format!("{topic}/{n}"),
                n.as_bytes(),
                QoS::AtLeastOnce,
                false,
            )
            .await?;
        assert_eq!(acked, Some(ReasonCode::Success));
    }
    // Acknowledged: durable from here on, whatever happens to this broker.
    server.restart(|_| {}).await?;

    let mut woken = server.raw(&device, ProtocolVersion::V5).await?;
    assert!(
        woken
            .connect(persistent(&client_id, false))
            .await?
            .session_present
    );
    let first = woken.next_publish().await?;
    let second = woken.next_publish().await?;
    assert_eq!(
        (&first.payload[..], &second.payload[..]),
        (&b"1"[..], &b"2"[..])
    );
    // The subscription came back too.
    let mut publisher = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("p"))
        .await?;
    publisher
        .publish(&format!("{topic}/3"), b"3", QoS::AtLeastOnce, false)
        .await?;
    assert_eq!(&woken.next_publish().await?.payload[..], b"3");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_is_stored_before_its_suback() -> Result<()> {
    let mut server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let topic = unique("kept");
    let client_id = unique("c");
    let mut client = server.raw(&device, ProtocolVersion::V5).await?;
    client.connect(persistent(&client_id, true)).await?;
    client.subscribe(&topic, QoS::AtLeastOnce).await?;
    // No waiting, and no disconnect: the broker is "killed" with the client connected.
    let stored = server.registry.all_sessions().await?;
    let ours = stored
        .iter()
        .find(|s| s.session.client_id == client_id)
        .expect("stored at SUBACK");
    assert!(ours.session.subscriptions.contains(&topic));
    server.restart(|_| {}).await?;

    let mut publisher = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("p"))
        .await?;
    publisher
        .publish(&topic, b"while away", QoS::AtLeastOnce, false)
        .await?;
    let mut back = server.raw(&device, ProtocolVersion::V5).await?;
    assert!(
        back.connect(persistent(&client_id, false))
            .await?
            .session_present
    );
    assert_eq!(&back.next_publish().await?.payload[..], b"while away");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unacknowledged_delivery_survives_and_an_acknowledged_one_is_forgotten() -> Result<()> {
    let mut server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let topic = unique("inflight");
    let client_id = unique("slow");
    let mut slow = server.raw(&device, ProtocolVersion::V5).await?;
    slow.connect(persistent(&client_id, true)).await?;
    slow.subscribe(&topic, QoS::AtLeastOnce).await?;
    let mut publisher = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("p"))
        .await?;
    publisher
        .publish(&topic, b"unacked", QoS::AtLeastOnce, false)
        .await?;
    // Received but never acknowledged, then the client leaves.
    match slow.packet().await? {
        Packet::Publish(p) => assert_eq!(&p.payload[..], b"unacked"),
        other => anyhow::bail!("expected PUBLISH, got {other:?}"),
    }
    slow.send(Disconnect::default()).await?;
    slow.closed().await?;
    // The session is written as the connection ends, just after the socket closes.
    stored_messages(&server, &client_id, 1).await?;
    server.restart(|_| {}).await?;

    let mut back = server.raw(&device, ProtocolVersion::V5).await?;
    assert!(
        back.connect(persistent(&client_id, false))
            .await?
            .session_present
    );
    assert_eq!(&back.next_publish().await?.payload[..], b"unacked");
    back.send(Disconnect::default()).await?;
    back.closed().await?;
    stored_messages(&server, &client_id, 0).await?;
    server.restart(|_| {}).await?;

    let mut again = server.raw(&device, ProtocolVersion::V5).await?;
    assert!(
        again
            .connect(persistent(&client_id, false))
            .await?
            .session_present
    );
    again.no_publish().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_that_ended_is_not_restored() -> Result<()> {
    let mut server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let client_id = unique("ended");
    let mut first = server.raw(&device, ProtocolVersion::V5).await?;
    first.connect(persistent(&client_id, true)).await?;
    first.subscribe(&unique("t"), QoS::AtLeastOnce).await?;
    first.send(Disconnect::default()).await?;
    first.closed().await?;
    // Clean Start ends the stored session; this one lasts only as long as its connection.
    let mut second = server.raw(&device, ProtocolVersion::V5).await?;
    let connack = second
        .connect(connect(ProtocolVersion::V5, &client_id, true))
        .await?;
    assert!(!connack.session_present);
    second.send(Disconnect::default()).await?;
    second.closed().await?;
    eventually(|| server.broker.core().router.session_counts() == (0, 0)).await?;
    assert!(
        !server
            .registry
            .all_sessions()
            .await?
            .iter()
            .any(|s| s.session.client_id == client_id)
    );
    server.restart(|_| {}).await?;
    assert_eq!(server.broker.core().router.session_counts(), (0, 0));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_stay_in_memory_when_durability_is_off() -> Result<()> {
    let mut server = Server::start_with(|c| c.durable_sessions = false).await?;
    let device = server.device(ALLOW_ALL).await?;
    let client_id = unique("volatile");
    let mut client = server.raw(&device, ProtocolVersion::V5).await?;
    client.connect(persistent(&client_id, true)).await?;
    client.subscribe(&unique("t"), QoS::AtLeastOnce).await?;
    client.send(Disconnect::default()).await?;
    client.closed().await?;
    eventually(|| server.broker.core().router.session_counts() == (0, 1)).await?;
    assert!(server.registry.all_sessions().await?.is_empty());
    server.restart(|c| c.durable_sessions = false).await?;
    assert_eq!(server.broker.core().router.session_counts(), (0, 0));
    Ok(())
}
