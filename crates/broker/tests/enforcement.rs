//! Registry changes reach live connections at once: a certificate set INACTIVE or REVOKED has
//! its connections closed within a second, and policy changes (detach, a new default version,
//! a policy attached to the thing's group) apply to connections already open.

mod common;

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use common::*;
use roost_codec::{Packet, ProtocolVersion, QoS, ReasonCode};
use roost_registry::NameOrArn;
use roost_registry::model::{CertificateStatus, ThingPrincipalType};

const ONE_SECOND: Duration = Duration::from_secs(1);

/// Waits for `raw` to be closed; returns whether it got a DISCONNECT with `reason` first,
/// and how long the close took from `since`.
async fn cut(raw: &mut Raw, since: Instant) -> Result<(Option<ReasonCode>, Duration)> {
    let (packets, _) = raw.closed().await?;
    let elapsed = since.elapsed();
    let reason = packets.iter().find_map(|p| match p {
        Packet::Disconnect(d) => Some(d.reason_code),
        _ => None,
    });
    Ok((reason, elapsed))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_certificate_closes_its_connections_within_a_second() -> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let bystander = server.device(ALLOW_ALL).await?;
    let mut v5 = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("v5"))
        .await?;
    let mut v4 = server
        .raw_connected(&device, ProtocolVersion::V3_1_1, &unique("v4"))
        .await?;
    let mut other = server
        .raw_connected(&bystander, ProtocolVersion::V5, &unique("other"))
        .await?;
    let topic = unique("after");
    other.subscribe(&topic, QoS::AtLeastOnce).await?;

    let start = Instant::now();
    server
        .registry
        .update_certificate(&device.id, CertificateStatus::Revoked)
        .await?;
    let (reason, elapsed) = cut(&mut v5, start).await?;
    assert_eq!(reason, Some(ReasonCode::AdministrativeAction));
    assert!(elapsed < ONE_SECOND, "v5 connection cut after {elapsed:?}");
    let (_, elapsed) = cut(&mut v4, start).await?;
    assert!(elapsed < ONE_SECOND, "v4 connection cut after {elapsed:?}");

    // Others are untouched, and the revoked certificate cannot come back.
    other
        .publish(&topic, b"still here", QoS::AtLeastOnce, false)
        .await?;
    assert_eq!(&other.next_publish().await?.payload[..], b"still here");
    let mut again = server.raw(&device, ProtocolVersion::V5).await?;
    let connack = again
        .connect(connect(ProtocolVersion::V5, &unique("back"), true))
        .await?;
    assert_eq!(connack.reason_code, ReasonCode::NotAuthorized);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivated_certificate_is_cut_and_may_connect_again_once_reactivated() -> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let mut client = V5::start(server.v5_options(&device, &unique("c")));
    client.connected().await?;
    let start = Instant::now();
    server
        .registry
        .update_certificate(&device.id, CertificateStatus::Inactive)
        .await?;
    match client.error().await? {
        rumqttc::v5::ConnectionError::MqttState(rumqttc::v5::StateError::ServerDisconnect {
            reason_code,
            ..
        }) => assert_eq!(
            reason_code,
            rumqttc::v5::mqttbytes::v5::DisconnectReasonCode::AdministrativeAction
        ),
        other => bail!("expected a server DISCONNECT, got {other:?}"),
    }
    assert!(
        start.elapsed() < ONE_SECOND,
        "cut after {:?}",
        start.elapsed()
    );

    server
        .registry
        .update_certificate(&device.id, CertificateStatus::Active)
        .await?;
    server.trusted(&device, CertificateStatus::Active).await?;
    server.v5(&device, &unique("again")).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_certificate_no_longer_passes_the_tls_handshake() -> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let mut client = server
        .raw_connected(&device, ProtocolVersion::V3_1_1, &unique("c"))
        .await?;
    let start = Instant::now();
    server
        .registry
        .update_certificate(&device.id, CertificateStatus::Inactive)
        .await?;
    let (_, elapsed) = cut(&mut client, start).await?;
    assert!(elapsed < ONE_SECOND);
    server.registry.delete_certificate(&device.id, true).await?;
    let trust = &server.broker.core().trust;
    eventually(|| trust.certificate(&device.id).is_none()).await?;
    let refused = match server.raw(&device, ProtocolVersion::V3_1_1).await {
        Err(_) => true,
        Ok(mut raw) => {
            let _ = raw
                .send(connect(ProtocolVersion::V3_1_1, "gone", true))
                .await;
            matches!(raw.recv_within(WAIT).await?, Some(None))
        }
    };
    assert!(refused, "a deleted certificate is unknown to the handshake");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detaching_the_only_policy_disconnects_at_once() -> Result<()> {
    let server = Server::start().await?;
    let device = server.issue(&unique("d"), roost_pki::KeyKind::EcP256)?;
    server.register(&device, CertificateStatus::Active).await?;
    let policy = server.attach_policy(&device, ALLOW_ALL).await?;
    let mut client = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("c"))
        .await?;
    let start = Instant::now();
    server
        .registry
        .detach_policy(&policy, &server.cert_arn(&device))
        .await?;
    let (reason, elapsed) = cut(&mut client, start).await?;
    assert_eq!(reason, Some(ReasonCode::NotAuthorized));
    assert!(elapsed < ONE_SECOND, "cut after {elapsed:?}");
    Ok(())
}

/// Publishes at QoS 1 until the PUBACK says `expected`, for at most a second; returns how long
/// it took.
async fn until_puback(raw: &mut Raw, topic: &str, expected: ReasonCode) -> Result<Duration> {
    let start = Instant::now();
    loop {
        let code = raw
            .publish(topic, b"probe", QoS::AtLeastOnce, false)
            .await?;
        if code == Some(expected) {
            return Ok(start.elapsed());
        }
        if start.elapsed() > ONE_SECOND {
            bail!("PUBACK on {topic} still {code:?} after a second");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_default_policy_version_applies_to_live_connections_at_once() -> Result<()> {
    let server = Server::start().await?;
    let device = server.issue(&unique("d"), roost_pki::KeyKind::EcP256)?;
    server.register(&device, CertificateStatus::Active).await?;
    let v1 = allow(&[
        (&["iot:Connect"], &["*"]),
        (&["iot:Publish"], &["topic/a/*", "topic/b/*"]),
    ]);
    let policy = server.attach_policy(&device, &v1).await?;
    let mut client = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("c"))
        .await?;
    assert_eq!(
        client.publish("b/1", b"x", QoS::AtLeastOnce, false).await?,
        Some(ReasonCode::Success)
    );

    let v2 = allow(&[
        (&["iot:Connect"], &["*"]),
        (&["iot:Publish"], &["topic/a/*"]),
    ]);
    server
        .registry
        .create_policy_version(&policy, &v2, true)
        .await?;
    let took = until_puback(&mut client, "b/1", ReasonCode::NotAuthorized).await?;
    assert!(took < ONE_SECOND);
    assert_eq!(
        client.publish("a/1", b"x", QoS::AtLeastOnce, false).await?,
        Some(ReasonCode::Success)
    );

    server
        .registry
        .set_default_policy_version(&policy, "1")
        .await?;
    until_puback(&mut client, "b/1", ReasonCode::Success).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_attached_to_the_things_group_applies_to_a_live_connection_at_once() -> Result<()>
{
    let server = Server::start().await?;
    let device = server
        .device(&allow(&[
            (&["iot:Connect"], &["*"]),
            (&["iot:Publish"], &["topic/base/*"]),
        ]))
        .await?;
    server
        .thing(
            "valve-1",
            &[],
            &device,
            ThingPrincipalType::NonExclusiveThing,
        )
        .await?;
    server
        .registry
        .create_thing_group(roost_registry::NewThingGroup {
            name: "valves".into(),
            ..Default::default()
        })
        .await?;
    server
        .registry
        .add_thing_to_thing_group(
            &NameOrArn {
                name: Some("valves".into()),
                arn: None,
            },
            &NameOrArn {
                name: Some("valve-1".into()),
                arn: None,
            },
        )
        .await?;
    let mut client = server
        .raw_connected(&device, ProtocolVersion::V5, "valve-1")
        .await?;
    assert_eq!(
        client
            .publish("group/valve-1", b"x", QoS::AtLeastOnce, false)
            .await?,
        Some(ReasonCode::NotAuthorized)
    );
    let name = unique("group-policy");
    server
        .registry
        .create_policy(
            &name,
            &allow(&[(
                &["iot:Publish"],
                &["topic/group/${iot:Connection.Thing.ThingName}"],
            )]),
        )
        .await?;
    server
        .registry
        .attach_policy(&name, &server.registry.arns().thing_group("valves"))
        .await?;
    let took = until_puback(&mut client, "group/valve-1", ReasonCode::Success).await?;
    assert!(took < ONE_SECOND);

    // Taking the thing out of the group takes the permission away again.
    server
        .registry
        .remove_thing_from_thing_group(
            &NameOrArn {
                name: Some("valves".into()),
                arn: None,
            },
            &NameOrArn {
                name: Some("valve-1".into()),
                arn: None,
            },
        )
        .await?;
    until_puback(&mut client, "group/valve-1", ReasonCode::NotAuthorized).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn withdrawing_receive_stops_deliveries_on_an_existing_subscription() -> Result<()> {
    let server = Server::start().await?;
    let document = allow(&[(&["iot:Connect", "iot:Subscribe", "iot:Receive"], &["*"])]);
    let device = server.issue(&unique("d"), roost_pki::KeyKind::EcP256)?;
    server.register(&device, CertificateStatus::Active).await?;
    let policy = server.attach_policy(&device, &document).await?;
    let topic = unique("feed");
    let mut subscriber = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("s"))
        .await?;
    subscriber.subscribe(&topic, QoS::AtLeastOnce).await?;
    let publisher = server.device(ALLOW_ALL).await?;
    let mut publisher = server
        .raw_connected(&publisher, ProtocolVersion::V5, &unique("p"))
        .await?;
    publisher
        .publish(&topic, b"1", QoS::AtLeastOnce, false)
        .await?;
    assert_eq!(&subscriber.next_publish().await?.payload[..], b"1");

    let narrowed = policy_without_receive();
    server
        .registry
        .create_policy_version(&policy, &narrowed, true)
        .await?;
    // Wait until the new version is in force (a subscribe answers from the same grants).
    let start = Instant::now();
    while subscriber
        .subscribe(&unique("probe"), QoS::AtMostOnce)
        .await?
        != ReasonCode::NotAuthorized
    {
        if start.elapsed() > ONE_SECOND {
            bail!("the new policy version was not applied within a second");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    publisher
        .publish(&topic, b"2", QoS::AtLeastOnce, false)
        .await?;
    subscriber.no_publish().await?;
    Ok(())
}

fn policy_without_receive() -> String {
    allow(&[(&["iot:Connect"], &["*"])])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_many_certificates_at_once_cuts_every_connection() -> Result<()> {
    let server = Server::start().await?;
    let mut clients = Vec::new();
    let mut devices = Vec::new();
    for _ in 0..10 {
        let device = server.device(ALLOW_ALL).await?;
        clients.push(
            server
                .raw_connected(&device, ProtocolVersion::V5, &unique("c"))
                .await?,
        );
        devices.push(device);
    }
    let start = Instant::now();
    for device in &devices {
        server
            .registry
            .update_certificate(&device.id, CertificateStatus::Revoked)
            .await?;
    }
    for client in &mut clients {
        let (reason, elapsed) = cut(client, start).await?;
        assert_eq!(reason, Some(ReasonCode::AdministrativeAction));
        assert!(elapsed < ONE_SECOND, "cut after {elapsed:?}");
    }
    eventually(|| server.broker.core().index.is_empty()).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_queued_while_offline_are_checked_against_receive_when_delivered() -> Result<()> {
    let server = Server::start().await?;
    let device = server.issue(&unique("d"), roost_pki::KeyKind::EcP256)?;
    server.register(&device, CertificateStatus::Active).await?;
    let open = allow(&[(&["iot:Connect", "iot:Subscribe", "iot:Receive"], &["*"])]);
    let policy = server.attach_policy(&device, &open).await?;
    let topic = unique("queued");
    let client_id = unique("sleeper");
    let mut sleeper = server.raw(&device, ProtocolVersion::V3_1_1).await?;
    sleeper
        .connect(connect(ProtocolVersion::V3_1_1, &client_id, false))
        .await?;
    sleeper.subscribe(&topic, QoS::AtLeastOnce).await?;
    sleeper.send(roost_codec::Disconnect::default()).await?;
    sleeper.closed().await?;

    let publisher = server.device(ALLOW_ALL).await?;
    let mut publisher = server
        .raw_connected(&publisher, ProtocolVersion::V5, &unique("p"))
        .await?;
    publisher
        .publish(&topic, b"queued", QoS::AtLeastOnce, false)
        .await?;
    // While it sleeps, it loses iot:Receive.
    server
        .registry
        .create_policy_version(&policy, &allow(&[(&["iot:Connect"], &["*"])]), true)
        .await?;
    let mut back = server.raw(&device, ProtocolVersion::V3_1_1).await?;
    let connack = back
        .connect(connect(ProtocolVersion::V3_1_1, &client_id, false))
        .await?;
    assert!(connack.session_present);
    back.no_publish().await?;
    Ok(())
}

/// A connection of `device` as `client_id` whose output is stuck (it never reads and is
/// flooded), so that taking it over keeps the new connection waiting in CONNECT for a while.
async fn stuck_holder(server: &Server, client_id: &str) -> Result<Raw> {
    let holder = server.device(ALLOW_ALL).await?;
    let topic = unique("flood");
    let mut stuck = server
        .raw_connected(&holder, ProtocolVersion::V5, client_id)
        .await?;
    stuck.subscribe(&topic, QoS::AtMostOnce).await?;
    let flooder = server.device(ALLOW_ALL).await?;
    let mut flooder = server
        .raw_connected(&flooder, ProtocolVersion::V3_1_1, &unique("f"))
        .await?;
    let payload = vec![b'z'; 64 * 1024];
    for _ in 0..200 {
        flooder
            .publish(&topic, &payload, QoS::AtLeastOnce, false)
            .await?;
    }
    Ok(stuck)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_revoked_while_its_connect_waits_for_a_takeover_is_still_cut() -> Result<()> {
    let server = Server::start().await?;
    let client_id = unique("contested");
    let _stuck = stuck_holder(&server, &client_id).await?;
    let device = server.device(ALLOW_ALL).await?;
    let mut late = server.raw(&device, ProtocolVersion::V5).await?;
    late.send(connect(ProtocolVersion::V5, &client_id, true))
        .await?;
    // The CONNECT is admitted and now waits for the stuck connection to hand over.
    takeover_waiting(&server).await?;
    server
        .registry
        .update_certificate(&device.id, CertificateStatus::Revoked)
        .await?;
    let (packets, _) = late.closed().await?;
    assert_admitted_then_cut(&packets, ReasonCode::AdministrativeAction);
    Ok(())
}

/// Waits until a CONNECT, past admission, waits in the router for a takeover.
async fn takeover_waiting(server: &Server) -> Result<()> {
    let router = &server.broker.core().router;
    common::eventually(|| router.takeovers_waiting() > 0).await
}

/// The connection was admitted (CONNACK success once the takeover completed), then closed
/// with a DISCONNECT carrying `reason`.
fn assert_admitted_then_cut(packets: &[Packet], reason: ReasonCode) {
    let [Packet::ConnAck(ack), Packet::Disconnect(disconnect)] = packets else {
        panic!("expected a CONNACK then a DISCONNECT: {packets:?}");
    };
    assert_eq!(ack.reason_code, ReasonCode::Success, "{packets:?}");
    assert_eq!(disconnect.reason_code, reason, "{packets:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_detached_while_a_connect_waits_for_a_takeover_still_applies() -> Result<()> {
    let server = Server::start().await?;
    let client_id = unique("contested");
    let _stuck = stuck_holder(&server, &client_id).await?;
    let device = server.issue(&unique("d"), roost_pki::KeyKind::EcP256)?;
    server.register(&device, CertificateStatus::Active).await?;
    let policy = server.attach_policy(&device, ALLOW_ALL).await?;
    let mut late = server.raw(&device, ProtocolVersion::V5).await?;
    late.send(connect(ProtocolVersion::V5, &client_id, true))
        .await?;
    takeover_waiting(&server).await?;
    server
        .registry
        .detach_policy(&policy, &server.cert_arn(&device))
        .await?;
    let (packets, _) = late.closed().await?;
    assert_admitted_then_cut(&packets, ReasonCode::NotAuthorized);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_clients_will_is_not_published_but_a_lost_clients_is() -> Result<()> {
    let server = Server::start().await?;
    let topic = unique("wills");
    let watcher_device = server.device(ALLOW_ALL).await?;
    let mut watcher = server
        .raw_connected(&watcher_device, ProtocolVersion::V5, &unique("watcher"))
        .await?;
    watcher.subscribe(&topic, QoS::AtLeastOnce).await?;

    // Cut off by revocation: no last word.
    let revoked = server.device(ALLOW_ALL).await?;
    let mut raw = server.raw(&revoked, ProtocolVersion::V5).await?;
    let mut hello = connect(ProtocolVersion::V5, &unique("revoked"), true);
    hello.will = Some(will(&topic, "revoked", QoS::AtLeastOnce, false));
    raw.connect(hello).await?;
    server
        .registry
        .update_certificate(&revoked.id, CertificateStatus::Revoked)
        .await?;
    let (reason, _) = cut(&mut raw, Instant::now()).await?;
    assert_eq!(reason, Some(ReasonCode::AdministrativeAction));
    watcher.no_publish().await?;

    // A connection that is merely lost still speaks its will (the control case).
    let lost = server.device(ALLOW_ALL).await?;
    let mut raw = server.raw(&lost, ProtocolVersion::V5).await?;
    let mut hello = connect(ProtocolVersion::V5, &unique("lost"), true);
    hello.will = Some(will(&topic, "lost", QoS::AtLeastOnce, false));
    raw.connect(hello).await?;
    drop(raw);
    let will = watcher.next_publish().await?;
    assert_eq!(&will.payload[..], b"lost");
    Ok(())
}

/// A policy allowing everything but publishing on `topic`.
fn denies_publishing_on(topic: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[
            {{"Effect":"Allow","Action":"iot:*","Resource":"*"}},
            {{"Effect":"Deny","Action":"iot:Publish","Resource":"{}"}}]}}"#,
        arn(&format!("topic/{topic}"))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_will_is_authorized_again_when_its_delay_ends() -> Result<()> {
    let server = Server::start().await?;
    let topic = unique("delayed-guard");
    let watcher_device = server.device(ALLOW_ALL).await?;
    let mut watcher = server
        .raw_connected(&watcher_device, ProtocolVersion::V5, &unique("watcher"))
        .await?;
    watcher.subscribe(&topic, QoS::AtLeastOnce).await?;
    let device = server.issue(&unique("d"), roost_pki::KeyKind::EcP256)?;
    server.register(&device, CertificateStatus::Active).await?;
    let policy = server.attach_policy(&device, ALLOW_ALL).await?;
    let mut hello = connect(ProtocolVersion::V5, &unique("speaker"), true);
    hello.properties.session_expiry_interval = Some(60);
    let mut last_will = will(&topic, "too late", QoS::AtLeastOnce, false);
    last_will.properties.will_delay_interval = Some(1);
    hello.will = Some(last_will);
    let mut raw = server.raw(&device, ProtocolVersion::V5).await?;
    raw.connect(hello).await?;
    // The connection is lost while its policy allows the will; within the delay the policy
    // comes to deny publishing on the will's topic.
    drop(raw);
    server
        .registry
        .create_policy_version(&policy, &denies_publishing_on(&topic), true)
        .await?;
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    watcher.no_publish().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_will_no_longer_allowed_by_the_current_policy_is_not_published() -> Result<()> {
    let server = Server::start().await?;
    let topic = unique("guarded");
    let watcher_device = server.device(ALLOW_ALL).await?;
    let mut watcher = server
        .raw_connected(&watcher_device, ProtocolVersion::V5, &unique("watcher"))
        .await?;
    let device = server.issue(&unique("d"), roost_pki::KeyKind::EcP256)?;
    server.register(&device, CertificateStatus::Active).await?;
    let policy = server.attach_policy(&device, ALLOW_ALL).await?;
    let mut raw = server.raw(&device, ProtocolVersion::V5).await?;
    let mut hello = connect(ProtocolVersion::V5, &unique("speaker"), true);
    hello.will = Some(will(&topic, "stale", QoS::AtLeastOnce, false));
    raw.connect(hello).await?;
    // The policy now denies publishing on the will's topic (connect is still allowed).
    server
        .registry
        .create_policy_version(&policy, &denies_publishing_on(&topic), true)
        .await?;
    // Wait until the connection applies it: its publishes on the topic are refused.
    until_puback(&mut raw, &topic, ReasonCode::NotAuthorized).await?;
    watcher.subscribe(&topic, QoS::AtLeastOnce).await?;
    drop(raw);
    watcher.no_publish().await?;
    Ok(())
}
