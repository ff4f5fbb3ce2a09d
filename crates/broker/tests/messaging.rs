//! Messages through the broker with real clients: QoS 0, 1 and 2, retained messages, wills,
//! persistent sessions, client-id takeover, shared subscriptions, MQTT 5 properties, and the
//! messages of the iot-data API (Publish, SendDirectMessage with its confirmation).

mod common;

use std::collections::BTreeSet;
use std::num::{NonZeroU16, NonZeroU32};
use std::time::Duration;

use anyhow::{Result, bail};
use bytes::Bytes;
use common::*;
use roost_broker::{ApiProperties, DirectOutcome};
use roost_codec::{
    Disconnect, DisconnectProperties, Packet, PayloadFormat, ProtocolVersion, PubRel, PublishQos,
    QoS, ReasonCode, RetainHandling, SubscribeProperties, SubscriptionOptions, TopicName,
};

// --- QoS -------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rumqttc_v4_clients_exchange_messages_at_qos_0_1_and_2() -> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let mut subscriber = server.v4(&device, &unique("sub")).await?;
    let topic = unique("qos");
    let granted = subscriber
        .subscribe(&format!("{topic}/+"), rumqttc::QoS::ExactlyOnce)
        .await?;
    assert_eq!(
        granted,
        vec![rumqttc::SubscribeReasonCode::Success(
            rumqttc::QoS::ExactlyOnce
        )]
    );
    let publisher = server.v4(&device, &unique("pub")).await?;
    for (i, qos) in [
        rumqttc::QoS::AtMostOnce,
        rumqttc::QoS::AtLeastOnce,
        rumqttc::QoS::ExactlyOnce,
    ]
    .into_iter()
    .enumerate()
    {
        publisher
            .client
            .publish(format!("{topic}/{i}"), qos, false, format!("m{i}"))
            .await?;
        let received = subscriber.publish().await?;
        assert_eq!(received.topic, format!("{topic}/{i}"));
        assert_eq!(&received.payload[..], format!("m{i}").as_bytes());
        assert_eq!(received.qos, qos);
        assert!(!received.retain);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_downgraded_to_the_granted_qos() -> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let topic = unique("downgrade");
    let mut at0 = server
        .raw_connected(&device, ProtocolVersion::V3_1_1, &unique("s0"))
        .await?;
    at0.subscribe(&topic, QoS::AtMostOnce).await?;
    let mut at1 = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("s1"))
        .await?;
    assert_eq!(
        at1.subscribe(&topic, QoS::AtLeastOnce).await?,
        ReasonCode::GrantedQoS1
    );
    let mut publisher = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("p"))
        .await?;
    publisher
        .send(publish(&topic, b"two", QoS::ExactlyOnce, false, 7))
        .await?;
    match publisher.packet().await? {
        Packet::PubRec(rec) => assert_eq!(rec.packet_id, pid(7)),
        other => bail!("expected PUBREC, got {other:?}"),
    }
    assert_eq!(at0.next_publish().await?.qos, PublishQos::AtMostOnce);
    assert!(matches!(
        at1.next_publish().await?.qos,
        PublishQos::AtLeastOnce(_)
    ));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbound_qos_2_message_is_routed_once_even_when_resent_before_pubrel() -> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let topic = unique("exactly-once");
    let mut subscriber = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("s"))
        .await?;
    subscriber.subscribe(&topic, QoS::AtLeastOnce).await?;
    let mut publisher = server
        .raw_connected(&device, ProtocolVersion::V3_1_1, &unique("p"))
        .await?;
    let first = publish(&topic, b"once", QoS::ExactlyOnce, false, 42);
    publisher.send(first.clone()).await?;
    assert!(matches!(publisher.packet().await?, Packet::PubRec(r) if r.packet_id == pid(42)));
    let mut again = first;
    again.dup = true;
    publisher.send(again).await?;
    assert!(matches!(publisher.packet().await?, Packet::PubRec(r) if r.packet_id == pid(42)));
    publisher.send(PubRel::new(pid(42))).await?;
    assert!(matches!(publisher.packet().await?, Packet::PubComp(c) if c.packet_id == pid(42)));
    assert_eq!(&subscriber.next_publish().await?.payload[..], b"once");
    subscriber.no_publish().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outbound_qos_2_delivery_completes_with_pubrec_pubrel_pubcomp() -> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let topic = unique("outbound-qos2");
    let mut subscriber = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("s"))
        .await?;
    assert_eq!(
        subscriber.subscribe(&topic, QoS::ExactlyOnce).await?,
        ReasonCode::GrantedQoS2
    );
    let mut publisher = server.v5(&device, &unique("p")).await?;
    publisher
        .client
        .publish(&topic, rumqttc::v5::mqttbytes::QoS::ExactlyOnce, false, "x")
        .await?;
    let delivered = subscriber.next_publish().await?;
    let PublishQos::ExactlyOnce(id) = delivered.qos else {
        bail!("expected QoS 2, got {:?}", delivered.qos);
    };
    subscriber.complete_qos2(id).await?;
    // The publisher's own flow completed too (PUBCOMP reached rumqttc).
    loop {
        if let V5Packet::PubComp(_) = publisher.incoming().await? {
            break;
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unacknowledged_qos_1_delivery_is_resent_with_dup_after_reconnect() -> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let topic = unique("redelivery");
    let client_id = unique("persistent");
    let mut subscriber = server.raw(&device, ProtocolVersion::V3_1_1).await?;
    subscriber
        .connect(connect(ProtocolVersion::V3_1_1, &client_id, false))
        .await?;
    subscriber.subscribe(&topic, QoS::AtLeastOnce).await?;
    let mut publisher = server
        .raw_connected(&device, ProtocolVersion::V3_1_1, &unique("p"))
        .await?;
    publisher
        .publish(&topic, b"ack me", QoS::AtLeastOnce, false)
        .await?;
    // Received but not acknowledged; then the connection drops.
    let first = match subscriber.packet().await? {
        Packet::Publish(p) => p,
        other => bail!("expected PUBLISH, got {other:?}"),
    };
    assert!(!first.dup);
    drop(subscriber);
    let mut again = server.raw(&device, ProtocolVersion::V3_1_1).await?;
    let connack = again
        .connect(connect(ProtocolVersion::V3_1_1, &client_id, false))
        .await?;
    assert!(connack.session_present);
    let resent = again.next_publish().await?;
    assert!(resent.dup);
    assert_eq!(resent.qos, first.qos);
    assert_eq!(&resent.payload[..], b"ack me");
    Ok(())
}

// --- retained messages -----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retained_message_reaches_later_subscribers_and_an_empty_payload_clears_it() -> Result<()>
{
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let topic = unique("retained");
    let publisher = server.v4(&device, &unique("p")).await?;
    publisher
        .client
        .publish(
            format!("{topic}/state"),
            rumqttc::QoS::AtLeastOnce,
            true,
            "on",
        )
        .await?;
    eventually(|| server.broker.core().router.retained_count() == 1).await?;

    // Exact and wildcard subscriptions both get it (the MQTT rule; AWS only sends it on exact).
    for filter in [format!("{topic}/state"), format!("{topic}/#")] {
        let mut late = server.v4(&device, &unique("late")).await?;
        late.subscribe(&filter, rumqttc::QoS::AtLeastOnce).await?;
        let retained = late.publish().await?;
        assert!(retained.retain, "the on-subscribe copy has RETAIN set");
        assert_eq!(&retained.payload[..], b"on");
    }

    // A live copy to an existing subscriber has RETAIN cleared (v3.1.1).
    let mut live = server.v4(&device, &unique("live")).await?;
    live.subscribe(&format!("{topic}/state"), rumqttc::QoS::AtLeastOnce)
        .await?;
    assert!(live.publish().await?.retain);
    publisher
        .client
        .publish(
            format!("{topic}/state"),
            rumqttc::QoS::AtLeastOnce,
            true,
            "off",
        )
        .await?;
    let copy = live.publish().await?;
    assert!(!copy.retain);
    assert_eq!(&copy.payload[..], b"off");

    // An empty retained payload deletes it, and is still delivered to current subscribers.
    publisher
        .client
        .publish(
            format!("{topic}/state"),
            rumqttc::QoS::AtLeastOnce,
            true,
            "",
        )
        .await?;
    assert!(live.publish().await?.payload.is_empty());
    eventually(|| server.broker.core().router.retained_count() == 0).await?;
    let mut after = server.v4(&device, &unique("after")).await?;
    after
        .subscribe(&format!("{topic}/state"), rumqttc::QoS::AtLeastOnce)
        .await?;
    after.no_publish().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_retain_as_published_and_retain_handling_are_honoured() -> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let topic = unique("rap");
    let mut publisher = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("p"))
        .await?;
    publisher
        .publish(&topic, b"kept", QoS::AtLeastOnce, true)
        .await?;

    let mut quiet = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("dns"))
        .await?;
    quiet
        .subscribe_with(
            &topic,
            SubscriptionOptions {
                qos: QoS::AtLeastOnce,
                retain_handling: RetainHandling::DoNotSend,
                ..SubscriptionOptions::default()
            },
            SubscribeProperties::default(),
        )
        .await?;
    quiet.no_publish().await?;

    let mut keeper = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("rap"))
        .await?;
    let options = SubscriptionOptions {
        qos: QoS::AtLeastOnce,
        retain_as_published: true,
        retain_handling: RetainHandling::SendAtSubscribeIfNew,
        ..SubscriptionOptions::default()
    };
    keeper
        .subscribe_with(&topic, options, SubscribeProperties::default())
        .await?;
    assert!(keeper.next_publish().await?.retain);
    // Subscribing again: not new, so no retained copy.
    keeper
        .subscribe_with(&topic, options, SubscribeProperties::default())
        .await?;
    keeper.no_publish().await?;
    publisher
        .publish(&topic, b"again", QoS::AtLeastOnce, true)
        .await?;
    assert!(
        keeper.next_publish().await?.retain,
        "Retain As Published keeps RETAIN on live copies"
    );
    assert!(!quiet.next_publish().await?.retain);
    Ok(())
}

// --- wills -----------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_will_is_published_when_the_connection_drops_and_not_after_disconnect() -> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let topic = unique("will");
    let mut watcher = server.v4(&device, &unique("watcher")).await?;
    watcher
        .subscribe(&format!("{topic}/#"), rumqttc::QoS::AtLeastOnce)
        .await?;

    // Dropped without DISCONNECT: the will goes out.
    let mut options = server.v4_options(&device, &unique("dies"));
    options.set_last_will(rumqttc::LastWill::new(
        format!("{topic}/dropped"),
        "gone",
        rumqttc::QoS::AtLeastOnce,
        false,
    ));
    let mut dying = V4::start(options);
    dying.connected().await?;
    drop(dying);
    let will = watcher.publish().await?;
    assert_eq!(will.topic, format!("{topic}/dropped"));
    assert_eq!(&will.payload[..], b"gone");

    // A clean DISCONNECT discards it.
    let mut options = server.v4_options(&device, &unique("polite"));
    options.set_last_will(rumqttc::LastWill::new(
        format!("{topic}/polite"),
        "never",
        rumqttc::QoS::AtLeastOnce,
        false,
    ));
    let mut polite = V4::start(options);
    polite.connected().await?;
    polite.client.disconnect().await?;
    polite.error().await?;
    watcher.no_publish().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v5_disconnect_with_will_message_publishes_the_retained_will() -> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let topic = unique("will5");
    let mut client = server.raw(&device, ProtocolVersion::V5).await?;
    let mut hello = connect(ProtocolVersion::V5, &unique("c"), true);
    hello.will = Some(will(&topic, "bye", QoS::AtLeastOnce, true));
    client.connect(hello).await?;
    client
        .send(Disconnect {
            reason_code: ReasonCode::DisconnectWithWillMessage,
            properties: DisconnectProperties::default(),
        })
        .await?;
    client.closed().await?;
    eventually(|| server.broker.core().router.retained_count() == 1).await?;
    let mut late = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("late"))
        .await?;
    late.subscribe(&topic, QoS::AtLeastOnce).await?;
    let will = late.next_publish().await?;
    assert!(will.retain);
    assert_eq!(&will.payload[..], b"bye");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_will_is_cancelled_when_the_session_is_resumed_in_time() -> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let topic = unique("delayed");
    let mut watcher = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("w"))
        .await?;
    watcher.subscribe(&topic, QoS::AtLeastOnce).await?;
    let client_id = unique("flaky");
    let mut hello = connect(ProtocolVersion::V5, &client_id, true);
    hello.properties.session_expiry_interval = Some(60);
    let mut last_will = will(&topic, "late", QoS::AtLeastOnce, false);
    last_will.properties.will_delay_interval = Some(1);
    hello.will = Some(last_will);
    let mut client = server.raw(&device, ProtocolVersion::V5).await?;
    client.connect(hello.clone()).await?;
    drop(client);
    // Back within the delay: no will.
    let mut back = server.raw(&device, ProtocolVersion::V5).await?;
    let mut resume = hello.clone();
    resume.clean_start = false;
    assert!(back.connect(resume).await?.session_present);
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    watcher.no_publish().await?;
    // Dropped again and not back: the will follows after the delay.
    drop(back);
    let will = watcher.next_publish().await?;
    assert_eq!(&will.payload[..], b"late");
    Ok(())
}

// --- persistent sessions ---------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v4_persistent_session_keeps_subscriptions_and_queues_qos_1_while_offline() -> Result<()>
{
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let topic = unique("offline");
    let client_id = unique("sleeper");
    let mut options = server.v4_options(&device, &client_id);
    options.set_clean_session(false);
    let mut sleeper = V4::start(options.clone());
    assert!(!sleeper.connected().await?.session_present);
    sleeper
        .subscribe(&format!("{topic}/#"), rumqttc::QoS::AtLeastOnce)
        .await?;
    sleeper.client.disconnect().await?;
    sleeper.error().await?;

    let mut publisher = server
        .raw_connected(&device, ProtocolVersion::V3_1_1, &unique("p"))
        .await?;
    publisher
        .publish(&format!("{topic}/a"), b"1", QoS::AtLeastOnce, false)
        .await?;
    publisher
        .publish(&format!("{topic}/b"), b"2", QoS::AtLeastOnce, false)
        .await?;
    publisher
        .publish(
            &format!("{topic}/c"),
            b"qos0 is not queued",
            QoS::AtMostOnce,
            false,
        )
        .await?;

    let mut woken = V4::start(options);
    assert!(woken.connected().await?.session_present);
    let first = woken.publish().await?;
    let second = woken.publish().await?;
    assert_eq!(
        (&first.payload[..], &second.payload[..]),
        (&b"1"[..], &b"2"[..])
    );
    woken.no_publish().await?;
    // The subscription is still there without subscribing again.
    publisher
        .publish(&format!("{topic}/d"), b"3", QoS::AtLeastOnce, false)
        .await?;
    assert_eq!(&woken.publish().await?.payload[..], b"3");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_start_discards_the_stored_session() -> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let topic = unique("discard");
    let client_id = unique("c");
    let mut first = server.raw(&device, ProtocolVersion::V5).await?;
    let mut hello = connect(ProtocolVersion::V5, &client_id, true);
    hello.properties.session_expiry_interval = Some(300);
    first.connect(hello.clone()).await?;
    first.subscribe(&topic, QoS::AtLeastOnce).await?;
    first.send(Disconnect::default()).await?;
    first.closed().await?;

    let mut fresh = server.raw(&device, ProtocolVersion::V5).await?;
    assert!(!fresh.connect(hello).await?.session_present);
    let mut publisher = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("p"))
        .await?;
    publisher
        .publish(&topic, b"nobody", QoS::AtLeastOnce, false)
        .await?;
    fresh.no_publish().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v5_session_expiry_of_zero_ends_the_session_with_the_connection() -> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let client_id = unique("c");
    let mut client = server.v5(&device, &client_id).await?;
    client
        .subscribe(&unique("t"), rumqttc::v5::mqttbytes::QoS::AtLeastOnce)
        .await?;
    client.client.disconnect().await?;
    client.error().await?;
    eventually(|| server.broker.core().router.session_counts() == (0, 0)).await?;
    let mut options = server.v5_options(&device, &client_id);
    options.set_clean_start(false);
    let mut again = V5::start(options);
    assert!(!again.connected().await?.session_present);
    Ok(())
}

// --- takeover --------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_connection_with_the_same_client_id_takes_over_and_resumes_the_session()
-> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let topic = unique("takeover");
    let client_id = unique("twin");
    let mut hello = connect(ProtocolVersion::V5, &client_id, true);
    hello.properties.session_expiry_interval = Some(300);
    let mut old = server.raw(&device, ProtocolVersion::V5).await?;
    old.connect(hello.clone()).await?;
    old.subscribe(&topic, QoS::AtLeastOnce).await?;

    let mut new = server.raw(&device, ProtocolVersion::V5).await?;
    hello.clean_start = false;
    let connack = new.connect(hello).await?;
    assert_eq!(connack.reason_code, ReasonCode::Success);
    assert!(connack.session_present);
    let (packets, _) = old.closed().await?;
    match packets.as_slice() {
        [Packet::Disconnect(d)] => assert_eq!(d.reason_code, ReasonCode::SessionTakenOver),
        other => bail!("expected DISCONNECT 0x8E, got {other:?}"),
    }

    let mut publisher = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("p"))
        .await?;
    publisher
        .publish(&topic, b"to the new one", QoS::AtLeastOnce, false)
        .await?;
    assert_eq!(&new.next_publish().await?.payload[..], b"to the new one");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v4_takeover_closes_the_old_connection_and_keeps_its_queued_messages() -> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let topic = unique("takeover4");
    let client_id = unique("twin4");
    let mut options = server.v4_options(&device, &client_id);
    options.set_clean_session(false);
    let mut old = V4::start(options.clone());
    old.connected().await?;
    old.subscribe(&topic, rumqttc::QoS::AtLeastOnce).await?;
    let mut new = V4::start(options);
    assert!(new.connected().await?.session_present);
    old.error().await?;
    let publisher = server.v4(&device, &unique("p")).await?;
    publisher
        .client
        .publish(&topic, rumqttc::QoS::AtLeastOnce, false, "hi")
        .await?;
    assert_eq!(&new.publish().await?.payload[..], b"hi");
    Ok(())
}

// --- shared subscriptions --------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_subscription_gives_each_message_to_one_member_of_the_group() -> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let topic = unique("jobs");
    let filter = format!("$share/workers/{topic}/+");
    let mut a = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("a"))
        .await?;
    let mut b = server
        .raw_connected(&device, ProtocolVersion::V3_1_1, &unique("b"))
        .await?;
    let mut everyone = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("all"))
        .await?;
    a.subscribe(&filter, QoS::AtLeastOnce).await?;
    b.subscribe(&filter, QoS::AtLeastOnce).await?;
    everyone
        .subscribe(&format!("{topic}/+"), QoS::AtLeastOnce)
        .await?;
    let mut publisher = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("p"))
        .await?;
    const N: usize = 10;
    for i in 0..N {
        publisher
            .publish(
                &format!("{topic}/{i}"),
                i.to_string().as_bytes(),
                QoS::AtLeastOnce,
                false,
            )
            .await?;
    }
    for _ in 0..N {
        everyone.next_publish().await?;
    }
    let mut seen = BTreeSet::new();
    let (mut got_a, mut got_b) = (0, 0);
    while seen.len() < N {
        tokio::select! {
            p = a.next_publish() => { assert!(seen.insert(p?.payload)); got_a += 1; }
            p = b.next_publish() => { assert!(seen.insert(p?.payload)); got_b += 1; }
        }
    }
    assert!(
        got_a > 0 && got_b > 0,
        "both members got work ({got_a}, {got_b})"
    );
    a.no_publish().await?;
    b.no_publish().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_subscription_gets_no_retained_message_on_subscribe() -> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let topic = unique("shared-retained");
    let mut publisher = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("p"))
        .await?;
    publisher
        .publish(&topic, b"kept", QoS::AtLeastOnce, true)
        .await?;
    let mut member = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("m"))
        .await?;
    member
        .subscribe(&format!("$share/g/{topic}"), QoS::AtLeastOnce)
        .await?;
    member.no_publish().await?;
    Ok(())
}

// --- MQTT 5 properties -----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_publish_properties_reach_v5_subscribers_unchanged() -> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let topic = unique("props");
    let mut subscriber = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("s"))
        .await?;
    subscriber
        .subscribe_with(
            &format!("{topic}/#"),
            SubscriptionOptions {
                qos: QoS::AtLeastOnce,
                ..SubscriptionOptions::default()
            },
            SubscribeProperties {
                subscription_identifier: NonZeroU32::new(77),
                ..SubscribeProperties::default()
            },
        )
        .await?;
    let mut v4 = server.v4(&device, &unique("v4")).await?;
    v4.subscribe(&format!("{topic}/#"), rumqttc::QoS::AtLeastOnce)
        .await?;

    let publisher = server.v5(&device, &unique("p")).await?;
    let properties = rumqttc::v5::mqttbytes::v5::PublishProperties {
        payload_format_indicator: Some(1),
        message_expiry_interval: Some(120),
        response_topic: Some(format!("{topic}/reply")),
        correlation_data: Some(Bytes::from_static(b"corr-1")),
        user_properties: vec![("k".into(), "v".into()), ("k".into(), "w".into())],
        content_type: Some("application/json".into()),
        ..Default::default()
    };
    publisher
        .client
        .publish_with_properties(
            format!("{topic}/req"),
            rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
            false,
            "{}",
            properties,
        )
        .await?;
    let received = subscriber.next_publish().await?;
    let p = &received.properties;
    assert_eq!(p.payload_format_indicator, Some(PayloadFormat::Utf8));
    assert!(matches!(p.message_expiry_interval, Some(119..=120)));
    assert_eq!(
        p.response_topic.as_ref().map(TopicName::as_str),
        Some(format!("{topic}/reply").as_str())
    );
    assert_eq!(p.correlation_data.as_deref(), Some(&b"corr-1"[..]));
    assert_eq!(
        p.user_properties,
        vec![("k".into(), "v".into()), ("k".into(), "w".into())]
    );
    assert_eq!(p.content_type.as_deref(), Some("application/json"));
    assert_eq!(
        p.subscription_identifiers,
        vec![NonZeroU32::new(77).unwrap()]
    );
    // The 3.1.1 subscriber gets the same payload, without properties.
    assert_eq!(&v4.publish().await?.payload[..], b"{}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_message_is_not_delivered_from_a_stored_session() -> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let topic = unique("expiry");
    let client_id = unique("away");
    let mut hello = connect(ProtocolVersion::V5, &client_id, true);
    hello.properties.session_expiry_interval = Some(300);
    let mut away = server.raw(&device, ProtocolVersion::V5).await?;
    away.connect(hello.clone()).await?;
    away.subscribe(&topic, QoS::AtLeastOnce).await?;
    away.send(Disconnect::default()).await?;
    away.closed().await?;

    let mut publisher = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("p"))
        .await?;
    let mut short = publish(&topic, b"short", QoS::AtLeastOnce, false, 1);
    short.properties.message_expiry_interval = Some(1);
    publisher.send(short).await?;
    let mut long = publish(&topic, b"long", QoS::AtLeastOnce, false, 2);
    long.properties.message_expiry_interval = Some(100);
    publisher.send(long).await?;
    publisher.packet().await?;
    publisher.packet().await?;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    hello.clean_start = false;
    let mut back = server.raw(&device, ProtocolVersion::V5).await?;
    assert!(back.connect(hello).await?.session_present);
    let delivered = back.next_publish().await?;
    assert_eq!(&delivered.payload[..], b"long");
    assert!(matches!(
        delivered.properties.message_expiry_interval,
        Some(98..=99)
    ));
    back.no_publish().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_topic_aliases_from_the_client_are_resolved() -> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let topic = unique("alias");
    let mut subscriber = server
        .raw_connected(&device, ProtocolVersion::V3_1_1, &unique("s"))
        .await?;
    subscriber.subscribe(&topic, QoS::AtMostOnce).await?;
    let mut publisher = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("p"))
        .await?;
    let mut first = publish(&topic, b"1", QoS::AtMostOnce, false, 1);
    first.properties.topic_alias = NonZeroU16::new(3);
    publisher.send(first).await?;
    let mut second = publish(&topic, b"2", QoS::AtMostOnce, false, 1);
    second.topic = TopicName::empty_for_alias();
    second.properties.topic_alias = NonZeroU16::new(3);
    publisher.send(second).await?;
    for expected in [b"1", b"2"] {
        let p = subscriber.next_publish().await?;
        assert_eq!(p.topic.as_str(), topic);
        assert_eq!(&p.payload[..], expected);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_no_local_keeps_a_clients_own_messages_from_it() -> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let topic = unique("nolocal");
    let mut client = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("c"))
        .await?;
    client
        .subscribe_with(
            &topic,
            SubscriptionOptions {
                qos: QoS::AtLeastOnce,
                no_local: true,
                ..SubscriptionOptions::default()
            },
            SubscribeProperties::default(),
        )
        .await?;
    client
        .publish(&topic, b"mine", QoS::AtLeastOnce, false)
        .await?;
    client.no_publish().await?;
    let mut other = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("o"))
        .await?;
    other
        .publish(&topic, b"theirs", QoS::AtLeastOnce, false)
        .await?;
    assert_eq!(&client.next_publish().await?.payload[..], b"theirs");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v5_client_without_a_client_id_is_assigned_one() -> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let mut client = server.raw(&device, ProtocolVersion::V5).await?;
    let connack = client
        .connect(connect(ProtocolVersion::V5, "", true))
        .await?;
    assert_eq!(connack.reason_code, ReasonCode::Success);
    let assigned = connack
        .properties
        .assigned_client_identifier
        .expect("an assigned client identifier");
    assert!(!assigned.is_empty());
    // The CONNACK announces the server's limits.
    assert_eq!(
        connack.properties.maximum_packet_size.map(NonZeroU32::get),
        Some(128 * 1024)
    );
    assert_eq!(connack.properties.topic_alias_maximum, Some(8));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_takeover_publishes_the_old_connections_will() -> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let topic = unique("takeover-will");
    let mut watcher = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("w"))
        .await?;
    watcher.subscribe(&topic, QoS::AtLeastOnce).await?;
    let client_id = unique("twin");
    let mut old = server.raw(&device, ProtocolVersion::V3_1_1).await?;
    let mut hello = connect(ProtocolVersion::V3_1_1, &client_id, true);
    hello.will = Some(will(&topic, "replaced", QoS::AtLeastOnce, false));
    old.connect(hello).await?;
    let _new = server
        .raw_connected(&device, ProtocolVersion::V3_1_1, &client_id)
        .await?;
    old.closed().await?;
    assert_eq!(&watcher.next_publish().await?.payload[..], b"replaced");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_to_hash_does_not_receive_dollar_topics() -> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let mut everything = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("all"))
        .await?;
    everything.subscribe("#", QoS::AtLeastOnce).await?;
    let mut other = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("o"))
        .await?;
    other
        .publish(
            "$aws/things/t/shadow/update",
            b"{}",
            QoS::AtLeastOnce,
            false,
        )
        .await?;
    let topic = unique("plain");
    other.publish(&topic, b"x", QoS::AtLeastOnce, false).await?;
    // Only the plain topic: neither the $aws publish nor any lifecycle event.
    assert_eq!(everything.next_publish().await?.topic.as_str(), topic);
    everything.no_publish().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_to_a_v5_client_respect_its_receive_maximum() -> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let topic = unique("flow");
    let mut slow = server.raw(&device, ProtocolVersion::V5).await?;
    let mut hello = connect(ProtocolVersion::V5, &unique("slow"), true);
    hello.properties.receive_maximum = NonZeroU16::new(1);
    slow.connect(hello).await?;
    slow.subscribe(&topic, QoS::AtLeastOnce).await?;
    let mut publisher = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("p"))
        .await?;
    for i in 0..3u8 {
        publisher
            .publish(&topic, &[i], QoS::AtLeastOnce, false)
            .await?;
    }
    for i in 0..3u8 {
        let p = match slow.packet().await? {
            Packet::Publish(p) => p,
            other => bail!("expected PUBLISH, got {other:?}"),
        };
        assert_eq!(&p.payload[..], &[i]);
        // Nothing more until this one is acknowledged.
        slow.no_publish().await?;
        slow.ack(&p).await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_topic_aliases_are_used_when_the_v5_client_allows_them() -> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let topic = unique("aliased");
    let mut client = server.raw(&device, ProtocolVersion::V5).await?;
    let mut hello = connect(ProtocolVersion::V5, &unique("c"), true);
    hello.properties.topic_alias_maximum = Some(1);
    client.connect(hello).await?;
    client
        .subscribe(&format!("{topic}/+"), QoS::AtMostOnce)
        .await?;
    let mut publisher = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("p"))
        .await?;
    for sub in ["a", "a", "b", "a"] {
        publisher
            .publish(
                &format!("{topic}/{sub}"),
                sub.as_bytes(),
                QoS::AtLeastOnce,
                false,
            )
            .await?;
    }
    let first = client.next_publish().await?;
    assert_eq!(first.topic.as_str(), format!("{topic}/a"));
    let alias = first.properties.topic_alias.expect("an alias is set");
    let second = client.next_publish().await?;
    assert!(
        second.topic.as_str().is_empty(),
        "the alias replaces the topic"
    );
    assert_eq!(second.properties.topic_alias, Some(alias));
    // Only one alias is allowed: another topic travels in full, without an alias.
    let third = client.next_publish().await?;
    assert_eq!(third.topic.as_str(), format!("{topic}/b"));
    assert_eq!(third.properties.topic_alias, None);
    let fourth = client.next_publish().await?;
    assert_eq!(fourth.properties.topic_alias, Some(alias));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_session_ends_when_its_expiry_interval_passes() -> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let client_id = unique("brief");
    let mut hello = connect(ProtocolVersion::V5, &client_id, true);
    hello.properties.session_expiry_interval = Some(1);
    let mut client = server.raw(&device, ProtocolVersion::V5).await?;
    client.connect(hello.clone()).await?;
    client.subscribe(&unique("t"), QoS::AtLeastOnce).await?;
    client.send(Disconnect::default()).await?;
    client.closed().await?;
    let router = &server.broker.core().router;
    eventually(|| router.session_counts() == (0, 1)).await?;
    eventually(|| router.session_counts() == (0, 0)).await?;
    hello.clean_start = false;
    let mut back = server.raw(&device, ProtocolVersion::V5).await?;
    assert!(!back.connect(hello).await?.session_present);
    Ok(())
}

// --- iot-data Publish and SendDirectMessage --------------------------------------------------

/// Every MQTT 5 property an iot-data caller may set.
fn api_properties(topic: &str) -> ApiProperties {
    ApiProperties {
        content_type: Some("application/json".into()),
        response_topic: Some(format!("{topic}/reply")),
        message_expiry_secs: Some(60),
        user_properties: vec![("site".into(), "north".into()), ("site".into(), "b".into())],
        payload_format: Some(PayloadFormat::Utf8),
        correlation_data: Some(Bytes::from_static(&[0, 1, 0xFF])),
    }
}

/// Checks that `received` carries [`api_properties`] of `topic`.
fn assert_api_properties(received: &roost_codec::Publish, topic: &str) {
    let p = &received.properties;
    assert_eq!(p.content_type.as_deref(), Some("application/json"));
    assert_eq!(
        p.response_topic.as_ref().map(TopicName::as_str),
        Some(format!("{topic}/reply").as_str())
    );
    assert!(matches!(p.message_expiry_interval, Some(59..=60)));
    assert_eq!(
        p.user_properties,
        vec![("site".into(), "north".into()), ("site".into(), "b".into())]
    );
    assert_eq!(p.payload_format_indicator, Some(PayloadFormat::Utf8));
    assert_eq!(p.correlation_data.as_deref(), Some(&[0, 1, 0xFF][..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_publish_gives_v5_subscribers_its_properties_live_and_retained() -> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let topic = unique("api");
    let mut live = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("live"))
        .await?;
    live.subscribe(&format!("{topic}/#"), QoS::AtLeastOnce)
        .await?;
    server
        .broker
        .core()
        .publish_from_api(
            &format!("{topic}/state"),
            Bytes::from_static(b"{}"),
            QoS::AtLeastOnce,
            true,
            api_properties(&topic),
        )
        .await?;
    let received = live.next_publish().await?;
    assert_eq!(&received.payload[..], b"{}");
    assert_api_properties(&received, &topic);

    let mut later = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("later"))
        .await?;
    later
        .subscribe(&format!("{topic}/#"), QoS::AtLeastOnce)
        .await?;
    let retained = later.next_publish().await?;
    assert!(retained.retain);
    assert_api_properties(&retained, &topic);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_direct_message_is_answered_when_the_client_acknowledges_it() -> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let client_id = unique("direct");
    let mut client = server
        .raw_connected(&device, ProtocolVersion::V5, &client_id)
        .await?;
    let core = server.broker.core().clone();
    let send = |payload: &'static [u8]| {
        let (core, client_id) = (core.clone(), client_id.clone());
        tokio::spawn(async move {
            core.send_direct_message(
                &client_id,
                "commands/reboot",
                Bytes::from_static(payload),
                api_properties("commands"),
                Some(WAIT),
            )
            .await
        })
    };
    // Two equal messages: each PUBACK answers the sender of the delivery it acknowledges.
    let first = send(b"now");
    let Packet::Publish(one) = client.packet().await? else {
        bail!("expected the first PUBLISH");
    };
    let second = send(b"now");
    let Packet::Publish(two) = client.packet().await? else {
        bail!("expected the second PUBLISH");
    };
    assert_eq!(one.topic.as_str(), "commands/reboot");
    assert_eq!(&one.payload[..], b"now");
    assert!(matches!(one.qos, PublishQos::AtLeastOnce(_)));
    assert_api_properties(&one, "commands");

    client.ack(&two).await?;
    assert_eq!(second.await??, DirectOutcome::Acknowledged);
    tokio::time::sleep(QUIET).await;
    assert!(!first.is_finished(), "answered before its PUBACK");
    client.ack(&one).await?;
    assert_eq!(first.await??, DirectOutcome::Acknowledged);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_message_that_is_never_acknowledged_is_answered_after_the_wait() -> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let client_id = unique("silent");
    let mut client = server
        .raw_connected(&device, ProtocolVersion::V3_1_1, &client_id)
        .await?;
    let core = server.broker.core();
    let outcome = core
        .send_direct_message(
            &client_id,
            "commands/x",
            Bytes::from_static(b"x"),
            ApiProperties::default(),
            Some(QUIET),
        )
        .await?;
    assert_eq!(outcome, DirectOutcome::Unacknowledged);
    assert!(matches!(client.packet().await?, Packet::Publish(_)));

    // Unconfirmed, it goes at QoS 0 and is answered at once.
    let outcome = core
        .send_direct_message(
            &client_id,
            "commands/y",
            Bytes::from_static(b"y"),
            ApiProperties::default(),
            None,
        )
        .await?;
    assert_eq!(outcome, DirectOutcome::Sent);
    let Packet::Publish(unconfirmed) = client.packet().await? else {
        bail!("expected a PUBLISH");
    };
    assert_eq!(unconfirmed.qos, PublishQos::AtMostOnce);

    let absent = core
        .send_direct_message(
            &unique("nobody"),
            "commands/z",
            Bytes::new(),
            ApiProperties::default(),
            Some(WAIT),
        )
        .await?;
    assert_eq!(absent, DirectOutcome::NotConnected);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_direct_message_ends_with_the_connection_that_did_not_acknowledge_it()
-> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let client_id = unique("leaving");
    let mut client = server
        .raw_connected(&device, ProtocolVersion::V5, &client_id)
        .await?;
    let core = server.broker.core().clone();
    let id = client_id.clone();
    let sent = tokio::spawn(async move {
        core.send_direct_message(
            &id,
            "commands/x",
            Bytes::from_static(b"x"),
            ApiProperties::default(),
            Some(Duration::from_secs(30)),
        )
        .await
    });
    assert!(matches!(client.packet().await?, Packet::Publish(_)));
    drop(client);
    let outcome = tokio::time::timeout(WAIT, sent).await???;
    assert_eq!(outcome, DirectOutcome::Disconnected);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_direct_message_the_client_may_not_receive_is_refused_at_once() -> Result<()> {
    let server = Server::start().await?;
    let device = server
        .device(&allow(&[
            (&["iot:Connect"], &["*"]),
            (&["iot:Receive"], &["topic/allowed/*"]),
        ]))
        .await?;
    let client_id = unique("limited");
    let mut client = server
        .raw_connected(&device, ProtocolVersion::V5, &client_id)
        .await?;
    let outcome = server
        .broker
        .core()
        .send_direct_message(
            &client_id,
            "forbidden/x",
            Bytes::from_static(b"x"),
            ApiProperties::default(),
            Some(Duration::from_secs(30)),
        )
        .await?;
    assert_eq!(outcome, DirectOutcome::NotAuthorized);
    client.no_publish().await?;
    Ok(())
}
