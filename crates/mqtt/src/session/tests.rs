//! Behaviour of the session state machine, driven through the virtual-clock harness.

use std::num::{NonZeroU16, NonZeroU32};
use std::time::Duration;

use bytes::Bytes;
use roost_codec::{
    Auth, Connect, Disconnect, DisconnectProperties, Packet, PubAck, PubComp, PubRec, PubRel,
    PublishProperties, PublishQos, QoS, ReasonCode, RetainHandling, SubscriptionOptions, Will,
    WillProperties,
};

use super::harness::*;
use super::{BrokerSettings, ClientId, Event, KeepAlivePolicy, OutgoingStage, SessionState};
use crate::message::{Delivery, Message};
use crate::topic::TopicLimits;

fn message(t: &str, qos: QoS, payload: &'static [u8], now: std::time::Instant) -> Message {
    Message::new(
        topic(t),
        Bytes::from_static(payload),
        qos,
        false,
        PublishProperties::default(),
        now,
    )
}

fn delivery(client: &Client, t: &str, qos: QoS) -> Delivery {
    Delivery {
        message: message(t, qos, b"m", client.clock.now),
        qos,
        retain: false,
        subscription_ids: Vec::new(),
        stored: None,
    }
}

fn with_receive_maximum(mut c: Connect, n: u16) -> Connect {
    c.properties.receive_maximum = NonZeroU16::new(n);
    c
}

fn persistent(mut c: Connect, expiry: u32) -> Connect {
    c.clean_start = false;
    c.properties.session_expiry_interval = Some(expiry);
    c
}

fn sent_publishes(client: &mut Client) -> Vec<roost_codec::Publish> {
    client
        .sent()
        .into_iter()
        .map(|p| match p {
            Packet::Publish(p) => p,
            other => panic!("expected PUBLISH, got {other:?}"),
        })
        .collect()
}

fn disconnect(reason: ReasonCode) -> Packet {
    Packet::Disconnect(Disconnect {
        reason_code: reason,
        properties: DisconnectProperties::default(),
    })
}

fn with_will(mut c: Connect, delay: Option<u32>) -> Connect {
    c.will = Some(Will {
        topic: topic("dev/status"),
        payload: Bytes::from_static(b"offline"),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: WillProperties {
            will_delay_interval: delay,
            ..WillProperties::default()
        },
    });
    c
}

// --- CONNECT ---------------------------------------------------------------------------------

#[test]
fn connack_announces_the_servers_limits_to_a_v5_client() {
    let settings = BrokerSettings::default();
    let clock = Clock::new();
    let mut client = Client::try_accept(clock, settings, v5("dev1"), None).unwrap();
    let connack = client.expect_connack();
    assert_eq!(connack.reason_code, ReasonCode::Success);
    assert!(!connack.session_present);
    let p = connack.properties;
    assert_eq!(p.receive_maximum, NonZeroU16::new(100));
    assert_eq!(p.maximum_packet_size, NonZeroU32::new(128 * 1024));
    assert_eq!(p.topic_alias_maximum, Some(8));
    assert_eq!(p.assigned_client_identifier, None);
    assert_eq!(p.server_keep_alive, None, "the client's keep-alive is kept");
}

#[test]
fn an_empty_v5_client_id_is_replaced_by_an_assigned_one() {
    let mut client =
        Client::try_accept(Clock::new(), BrokerSettings::default(), v5(""), None).unwrap();
    let connack = client.expect_connack();
    assert_eq!(
        connack.properties.assigned_client_identifier.as_deref(),
        Some("assigned-1")
    );
    assert_eq!(client.conn.client_id().as_str(), "assigned-1");
}

#[test]
fn an_empty_v3_client_id_needs_a_clean_session() {
    let mut c = v3("");
    c.clean_start = false;
    let refused = Client::try_accept(Clock::new(), BrokerSettings::default(), c, None).unwrap_err();
    assert_eq!(
        refused.connack.reason_code,
        ReasonCode::ClientIdentifierNotValid
    );
    assert_eq!(refused.connack.reason_code.to_connack_return_code(), 2);
    assert!(Client::try_accept(Clock::new(), BrokerSettings::default(), v3(""), None).is_ok());
}

#[test]
fn a_client_id_over_the_limit_is_refused_and_the_stored_session_handed_back() {
    let settings = BrokerSettings {
        max_client_id_bytes: 4,
        ..BrokerSettings::default()
    };
    let stored = super::SessionState::new(super::ClientId::new("toolong"));
    let refused =
        Client::try_accept(Clock::new(), settings, v5("toolong"), Some(stored)).unwrap_err();
    assert_eq!(
        refused.connack.reason_code,
        ReasonCode::ClientIdentifierNotValid
    );
    assert!(refused.resumed.is_some());
}

#[test]
fn enhanced_authentication_is_refused_with_bad_authentication_method() {
    let mut c = v5("dev1");
    c.properties.authentication_method = Some("SCRAM-SHA-1".into());
    let refused = Client::try_accept(Clock::new(), BrokerSettings::default(), c, None).unwrap_err();
    assert_eq!(
        refused.connack.reason_code,
        ReasonCode::BadAuthenticationMethod
    );
}

#[test]
fn a_will_above_the_maximum_qos_or_retained_without_retain_support_is_refused() {
    let settings = BrokerSettings {
        maximum_qos: QoS::AtMostOnce,
        retain_available: false,
        ..BrokerSettings::default()
    };
    let refused = Client::try_accept(
        Clock::new(),
        settings.clone(),
        with_will(v5("d"), None),
        None,
    )
    .unwrap_err();
    assert_eq!(refused.connack.reason_code, ReasonCode::QoSNotSupported);
    let mut c = with_will(v5("d"), None);
    if let Some(w) = c.will.as_mut() {
        w.qos = QoS::AtMostOnce;
        w.retain = true;
    }
    let refused = Client::try_accept(Clock::new(), settings, c, None).unwrap_err();
    assert_eq!(refused.connack.reason_code, ReasonCode::RetainNotSupported);
}

#[test]
fn a_will_topic_over_the_topic_limits_is_refused_as_topic_name_invalid() {
    let mut c = v5("d");
    c.will = with_will(v5("d"), None).will.map(|mut w| {
        w.topic = topic("a/b/c/d/e/f/g/h/i");
        w
    });
    let settings = BrokerSettings {
        topic_limits: TopicLimits::AWS_IOT,
        ..BrokerSettings::default()
    };
    let refused = Client::try_accept(Clock::new(), settings, c, None).unwrap_err();
    assert_eq!(refused.connack.reason_code, ReasonCode::TopicNameInvalid);
}

#[test]
fn a_longer_session_expiry_than_allowed_is_capped_and_announced() {
    let settings = BrokerSettings {
        max_session_expiry_secs: 3600,
        ..BrokerSettings::default()
    };
    let mut client =
        Client::try_accept(Clock::new(), settings, persistent(v5("d"), 86_400), None).unwrap();
    assert_eq!(
        client.expect_connack().properties.session_expiry_interval,
        Some(3600)
    );
    assert_eq!(client.conn.session().expiry_secs(), 3600);
}

#[test]
fn a_v3_persistent_session_gets_the_configured_expiry() {
    let mut c = v3("d");
    c.clean_start = false;
    let client = Client::connect(c);
    assert_eq!(client.conn.session().expiry_secs(), 3600);
    let client = Client::connect(v3("d"));
    assert_eq!(client.conn.session().expiry_secs(), 0);
}

#[test]
fn a_second_connect_is_a_protocol_error() {
    let mut client = Client::connect(v5("d"));
    let err = client.send(Packet::Connect(Box::new(v5("d")))).unwrap_err();
    assert_eq!(err.reason, ReasonCode::ProtocolError);
    assert!(err.detail.contains("[MQTT-3.1.0-2]"));
    assert!(matches!(
        client.sent().as_slice(),
        [Packet::Disconnect(d)] if d.reason_code == ReasonCode::ProtocolError
    ));
    assert_eq!(
        client.events(),
        [Event::Disconnect {
            reason: ReasonCode::ProtocolError
        }]
    );
    assert_eq!(client.send(Packet::PingReq), Ok(()), "ignored once closed");
    assert!(client.sent().is_empty());
}

#[test]
fn a_v3_protocol_violation_closes_without_a_disconnect_packet() {
    let mut client = Client::connect(v3("d"));
    assert!(client.send(Packet::Connect(Box::new(v3("d")))).is_err());
    assert!(client.sent().is_empty());
    assert_eq!(client.conn.closed(), Some(ReasonCode::ProtocolError));
}

#[test]
fn auth_packets_are_refused_since_enhanced_authentication_is_not_supported() {
    let mut client = Client::connect(v5("d"));
    let err = client.send(Packet::Auth(Auth::default())).unwrap_err();
    assert_eq!(err.reason, ReasonCode::ProtocolError);
}

// --- keep-alive ------------------------------------------------------------------------------

#[test]
fn a_silent_client_is_disconnected_after_one_and_a_half_keep_alive_intervals() {
    let mut client = Client::connect(with_will(v5("d"), None));
    assert_eq!(client.conn.keep_alive(), Some(Duration::from_secs(60)));
    client.advance(Duration::from_secs(89));
    assert!(client.conn.closed().is_none());
    client.advance(Duration::from_secs(1));
    assert_eq!(client.conn.closed(), Some(ReasonCode::KeepAliveTimeout));
    assert!(matches!(
        client.sent().as_slice(),
        [Packet::Disconnect(d)] if d.reason_code == ReasonCode::KeepAliveTimeout
    ));
    let ended = client.conn.into_session_state();
    assert!(
        ended.will.is_some(),
        "the will is published after a timeout"
    );
}

#[test]
fn any_packet_from_the_client_restarts_the_keep_alive_timer() {
    let mut client = Client::connect(v5("d"));
    for _ in 0..5 {
        client.advance(Duration::from_secs(80));
        client.send(Packet::PingReq).unwrap();
        assert_eq!(client.sent(), [Packet::PingResp]);
    }
    assert!(client.conn.closed().is_none());
    assert_eq!(
        client.conn.poll_timeout(),
        Some(client.clock.now + Duration::from_secs(90))
    );
}

#[test]
fn keep_alive_zero_means_no_timeout_under_the_spec_policy() {
    let mut c = v5("d");
    c.keep_alive = 0;
    let mut client = Client::connect(c);
    assert_eq!(client.conn.poll_timeout(), None);
    client.advance(Duration::from_secs(1_000_000));
    assert!(client.conn.closed().is_none());
}

#[test]
fn the_aws_policy_announces_a_server_keep_alive_to_v5_clients() {
    let settings = BrokerSettings {
        keep_alive: KeepAlivePolicy::AWS_IOT,
        ..BrokerSettings::default()
    };
    let mut c = v5("d");
    c.keep_alive = 0;
    let mut client = Client::try_accept(Clock::new(), settings, c, None).unwrap();
    assert_eq!(
        client.expect_connack().properties.server_keep_alive,
        Some(1200)
    );
    assert_eq!(client.conn.keep_alive(), Some(Duration::from_secs(1200)));
}

// --- inbound QoS flows -----------------------------------------------------------------------

#[test]
fn an_inbound_qos1_publish_is_routed_and_acknowledged() {
    let mut client = Client::connect(v5("d"));
    client
        .send(Packet::Publish(publish("a/b", QoS::AtLeastOnce, 7, b"hi")))
        .unwrap();
    assert_eq!(client.sent(), [Packet::PubAck(PubAck::new(pid(7)))]);
    let events = client.events();
    let [Event::Publish(m)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(m.topic.as_str(), "a/b");
    assert_eq!(m.qos, QoS::AtLeastOnce);
    assert_eq!(&m.payload[..], b"hi");
}

#[test]
fn an_inbound_qos2_publish_is_routed_once_even_if_resent_before_pubrel() {
    let mut client = Client::connect(v5("d"));
    let p = publish("a", QoS::ExactlyOnce, 3, b"x");
    client.send(Packet::Publish(p.clone())).unwrap();
    assert_eq!(client.sent(), [Packet::PubRec(PubRec::new(pid(3)))]);
    assert_eq!(client.events().len(), 1);
    let dup = roost_codec::Publish { dup: true, ..p };
    client.send(Packet::Publish(dup)).unwrap();
    assert_eq!(client.sent(), [Packet::PubRec(PubRec::new(pid(3)))]);
    assert!(client.events().is_empty(), "not routed twice");
    client.send(Packet::PubRel(PubRel::new(pid(3)))).unwrap();
    assert_eq!(client.sent(), [Packet::PubComp(PubComp::new(pid(3)))]);
    assert!(client.conn.session().incoming_qos2.is_empty());
}

#[test]
fn a_pubrel_for_an_unknown_packet_id_is_answered_with_packet_identifier_not_found() {
    let mut client = Client::connect(v5("d"));
    client.send(Packet::PubRel(PubRel::new(pid(9)))).unwrap();
    let sent = client.sent();
    let [Packet::PubComp(comp)] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    assert_eq!(comp.reason_code, ReasonCode::PacketIdentifierNotFound);
    assert!(client.conn.closed().is_none());
}

#[test]
fn more_unacknowledged_qos2_publishes_than_receive_maximum_is_a_violation() {
    let settings = BrokerSettings {
        receive_maximum: NonZeroU16::new(2).unwrap(),
        ..BrokerSettings::default()
    };
    let mut client = Client::connect_with(settings, v5("d"));
    for id in 1..=2 {
        client
            .send(Packet::Publish(publish("a", QoS::ExactlyOnce, id, b"x")))
            .unwrap();
    }
    let err = client
        .send(Packet::Publish(publish("a", QoS::ExactlyOnce, 3, b"x")))
        .unwrap_err();
    assert_eq!(err.reason, ReasonCode::ReceiveMaximumExceeded);
    assert!(err.detail.contains("[MQTT-3.3.4-9]"));
    let sent = client.sent();
    assert!(matches!(
        sent.last(),
        Some(Packet::Disconnect(d)) if d.reason_code == ReasonCode::ReceiveMaximumExceeded
    ));
}

#[test]
fn a_publish_above_the_maximum_qos_is_a_violation() {
    let settings = BrokerSettings {
        maximum_qos: QoS::AtLeastOnce,
        ..BrokerSettings::default()
    };
    let mut client = Client::connect_with(settings, v5("d"));
    let err = client
        .send(Packet::Publish(publish("a", QoS::ExactlyOnce, 1, b"x")))
        .unwrap_err();
    assert_eq!(err.reason, ReasonCode::QoSNotSupported);
}

#[test]
fn an_unauthorized_v5_publish_is_refused_in_its_acknowledgement() {
    let mut client = Client::connect(v5("d"));
    client.auth.deny_publish.insert("secret".into());
    client
        .send(Packet::Publish(publish(
            "secret",
            QoS::AtLeastOnce,
            1,
            b"x",
        )))
        .unwrap();
    let sent = client.sent();
    let [Packet::PubAck(ack)] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    assert_eq!(ack.reason_code, ReasonCode::NotAuthorized);
    assert!(client.events().is_empty());
    client
        .send(Packet::Publish(publish("secret", QoS::AtMostOnce, 0, b"x")))
        .unwrap();
    assert!(client.sent().is_empty() && client.events().is_empty());
}

#[test]
fn an_unauthorized_v3_publish_closes_the_connection() {
    let mut client = Client::connect(v3("d"));
    client.auth.deny_publish.insert("secret".into());
    let err = client
        .send(Packet::Publish(publish(
            "secret",
            QoS::AtLeastOnce,
            1,
            b"x",
        )))
        .unwrap_err();
    assert_eq!(err.reason, ReasonCode::NotAuthorized);
    assert!(client.sent().is_empty());
}

#[test]
fn a_publish_over_the_topic_limits_is_refused_as_topic_name_invalid() {
    let settings = BrokerSettings {
        topic_limits: TopicLimits::AWS_IOT,
        ..BrokerSettings::default()
    };
    let mut client = Client::connect_with(settings, v5("d"));
    let err = client
        .send(Packet::Publish(publish(
            "1/2/3/4/5/6/7/8/9",
            QoS::AtMostOnce,
            0,
            b"x",
        )))
        .unwrap_err();
    assert_eq!(err.reason, ReasonCode::TopicNameInvalid);
}

// --- topic aliases ---------------------------------------------------------------------------

fn aliased(t: &str, alias: u16) -> Packet {
    let mut p = publish("placeholder", QoS::AtMostOnce, 0, b"x");
    p.topic = if t.is_empty() {
        roost_codec::TopicName::empty_for_alias()
    } else {
        topic(t)
    };
    p.properties.topic_alias = NonZeroU16::new(alias);
    Packet::Publish(p)
}

#[test]
fn an_inbound_topic_alias_is_set_by_one_publish_and_used_by_the_next() {
    let mut client = Client::connect(v5("d"));
    client.send(aliased("sensors/temp", 1)).unwrap();
    client.send(aliased("", 1)).unwrap();
    client.send(aliased("sensors/hum", 1)).unwrap();
    client.send(aliased("", 1)).unwrap();
    let topics: Vec<String> = client
        .events()
        .into_iter()
        .map(|e| match e {
            Event::Publish(m) => m.topic.to_string(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        topics,
        ["sensors/temp", "sensors/temp", "sensors/hum", "sensors/hum"]
    );
}

#[test]
fn an_unknown_or_too_large_inbound_topic_alias_closes_the_connection() {
    let mut client = Client::connect(v5("d"));
    let err = client.send(aliased("", 2)).unwrap_err();
    assert_eq!(err.reason, ReasonCode::ProtocolError);
    let mut client = Client::connect(v5("d"));
    let err = client.send(aliased("a", 9)).unwrap_err();
    assert_eq!(err.reason, ReasonCode::TopicAliasInvalid);
}

#[test]
fn outbound_topic_aliases_replace_repeated_topics_within_the_clients_maximum() {
    let mut c = v5("d");
    c.properties.topic_alias_maximum = Some(1);
    let mut client = Client::connect(c);
    for t in ["a/1", "a/1", "a/2", "a/1"] {
        let d = delivery(&client, t, QoS::AtMostOnce);
        client.deliver(d);
    }
    let sent: Vec<(String, Option<u16>)> = sent_publishes(&mut client)
        .into_iter()
        .map(|p| {
            (
                p.topic.to_string(),
                p.properties.topic_alias.map(|a| a.get()),
            )
        })
        .collect();
    assert_eq!(
        sent,
        [
            ("a/1".to_owned(), Some(1)),
            (String::new(), Some(1)),
            ("a/2".to_owned(), None),
            (String::new(), Some(1)),
        ]
    );
}

#[test]
fn v3_clients_never_get_topic_aliases() {
    let mut client = Client::connect(v3("d"));
    for _ in 0..2 {
        let d = delivery(&client, "a", QoS::AtMostOnce);
        client.deliver(d);
    }
    assert!(
        sent_publishes(&mut client)
            .iter()
            .all(|p| p.topic.as_str() == "a" && p.properties.topic_alias.is_none())
    );
}

// --- outbound QoS flows, window and queue ----------------------------------------------------

#[test]
fn an_outbound_qos1_delivery_is_held_until_puback() {
    let mut client = Client::connect(v5("d"));
    let d = delivery(&client, "a", QoS::AtLeastOnce);
    client.deliver(d);
    let sent = sent_publishes(&mut client);
    assert_eq!(sent[0].qos, PublishQos::AtLeastOnce(pid(1)));
    assert!(!sent[0].dup);
    assert_eq!(client.conn.session().inflight_len(), 1);
    client.send(Packet::PubAck(PubAck::new(pid(1)))).unwrap();
    assert_eq!(client.conn.session().inflight_len(), 0);
}

#[test]
fn an_outbound_qos2_delivery_goes_through_pubrec_pubrel_pubcomp() {
    let mut client = Client::connect(v5("d"));
    let d = delivery(&client, "a", QoS::ExactlyOnce);
    client.deliver(d);
    assert_eq!(
        sent_publishes(&mut client)[0].qos,
        PublishQos::ExactlyOnce(pid(1))
    );
    client.send(Packet::PubRec(PubRec::new(pid(1)))).unwrap();
    assert_eq!(client.sent(), [Packet::PubRel(PubRel::new(pid(1)))]);
    assert_eq!(
        client.conn.session().outgoing[&pid(1)].stage,
        OutgoingStage::AwaitingPubComp
    );
    client.send(Packet::PubComp(PubComp::new(pid(1)))).unwrap();
    assert_eq!(client.conn.session().inflight_len(), 0);
}

#[test]
fn a_pubrec_with_an_error_code_ends_the_qos2_flow() {
    let mut client = Client::connect(v5("d"));
    let d = delivery(&client, "a", QoS::ExactlyOnce);
    client.deliver(d);
    client.sent();
    let rec = PubRec {
        reason_code: ReasonCode::QuotaExceeded,
        ..PubRec::new(pid(1))
    };
    client.send(Packet::PubRec(rec)).unwrap();
    assert!(client.sent().is_empty());
    assert_eq!(client.conn.session().inflight_len(), 0);
}

#[test]
fn a_stored_delivery_is_reported_once_the_client_has_it() {
    let mut client = Client::connect(v5("d"));
    for (n, qos) in [(7, QoS::AtLeastOnce), (8, QoS::ExactlyOnce)] {
        let mut d = delivery(&client, "a", qos);
        d.stored = Some(n);
        client.deliver(d);
    }
    let unstored = delivery(&client, "b", QoS::AtLeastOnce);
    client.deliver(unstored);
    client.sent();
    client.events();
    client.send(Packet::PubAck(PubAck::new(pid(1)))).unwrap();
    assert_eq!(client.events(), [Event::Acknowledged(7)]);
    // QoS 2: the client has the message at PUBREC; PUBCOMP reports nothing more.
    client.send(Packet::PubRec(PubRec::new(pid(2)))).unwrap();
    assert_eq!(client.events(), [Event::Acknowledged(8)]);
    client.send(Packet::PubComp(PubComp::new(pid(2)))).unwrap();
    client.send(Packet::PubAck(PubAck::new(pid(3)))).unwrap();
    assert!(client.events().is_empty());
}

#[test]
fn pending_deliveries_are_numbered_in_order_and_listed_until_acknowledged() {
    let mut client = Client::connect(with_receive_maximum(v5("d"), 1));
    for t in ["a", "b", "c"] {
        let d = delivery(&client, t, QoS::AtLeastOnce);
        client.deliver(d);
    }
    let mut next = 10;
    let mut ended = client.conn.into_session_state();
    ended.session.number_pending(|| {
        next += 1;
        next
    });
    let pending: Vec<(String, Option<u64>)> = ended
        .session
        .pending_deliveries()
        .map(|d| (d.message.topic.as_str().to_owned(), d.stored))
        .collect();
    assert_eq!(
        pending,
        [
            ("a".to_owned(), Some(11)),
            ("b".to_owned(), Some(12)),
            ("c".to_owned(), Some(13))
        ],
        "the one in flight first, then the queue"
    );
    let restored = SessionState::restored(
        ClientId::new("d"),
        60,
        [],
        ended.session.pending_deliveries().cloned(),
    );
    assert_eq!(restored.queued_len(), 3);
    assert_eq!(restored.expiry_secs(), 60);
}

#[test]
fn deliveries_beyond_the_clients_receive_maximum_wait_in_the_queue() {
    let mut client = Client::connect(with_receive_maximum(v5("d"), 2));
    for _ in 0..5 {
        let d = delivery(&client, "a", QoS::AtLeastOnce);
        client.deliver(d);
    }
    let ids: Vec<_> = sent_publishes(&mut client).iter().map(|p| p.qos).collect();
    assert_eq!(
        ids,
        [
            PublishQos::AtLeastOnce(pid(1)),
            PublishQos::AtLeastOnce(pid(2))
        ]
    );
    assert_eq!(client.conn.session().queued_len(), 3);
    client.send(Packet::PubAck(PubAck::new(pid(2)))).unwrap();
    let next = sent_publishes(&mut client);
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].qos, PublishQos::AtLeastOnce(pid(3)));
    assert_eq!(client.conn.session().queued_len(), 2);
}

#[test]
fn qos0_deliveries_are_not_held_back_by_a_full_window() {
    let mut client = Client::connect(with_receive_maximum(v5("d"), 1));
    let d = delivery(&client, "a", QoS::AtLeastOnce);
    client.deliver(d.clone());
    client.deliver(d);
    let d0 = delivery(&client, "b", QoS::AtMostOnce);
    client.deliver(d0);
    let sent = sent_publishes(&mut client);
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].qos, PublishQos::AtMostOnce);
}

#[test]
fn a_full_queue_drops_and_counts_the_overflow() {
    let settings = BrokerSettings {
        max_queued_messages: 2,
        ..BrokerSettings::default()
    };
    let mut client = Client::connect_with(settings, with_receive_maximum(v5("d"), 1));
    for _ in 0..5 {
        let d = delivery(&client, "a", QoS::AtLeastOnce);
        client.deliver(d);
    }
    assert_eq!(client.conn.session().inflight_len(), 1);
    assert_eq!(client.conn.session().queued_len(), 2);
    assert_eq!(client.conn.session().dropped().queue_full, 2);
}

#[test]
fn a_full_queue_stops_accepting_deliveries_until_the_client_acknowledges() {
    let settings = BrokerSettings {
        max_queued_messages: 2,
        ..BrokerSettings::default()
    };
    let mut client = Client::connect_with(settings, with_receive_maximum(v5("d"), 1));
    assert!(client.conn.accepts_deliveries());
    for _ in 0..3 {
        let d = delivery(&client, "a", QoS::AtLeastOnce);
        client.deliver(d);
    }
    assert_eq!(client.conn.session().queued_len(), 2);
    assert!(!client.conn.accepts_deliveries());
    let sent = sent_publishes(&mut client);
    let id = match sent[0].qos {
        PublishQos::AtLeastOnce(id) => id,
        other => panic!("expected QoS 1, got {other:?}"),
    };
    client.send(Packet::PubAck(PubAck::new(id))).unwrap();
    assert!(client.conn.accepts_deliveries());
    assert_eq!(client.conn.session().dropped().queue_full, 0);
}

#[test]
fn a_delivery_larger_than_the_clients_maximum_packet_size_is_dropped_as_if_sent() {
    let mut c = v5("d");
    c.properties.maximum_packet_size = NonZeroU32::new(20);
    let mut client = Client::connect(c);
    let mut big = delivery(&client, "a", QoS::AtLeastOnce);
    big.message.make_mut().payload = Bytes::from(vec![0u8; 100]);
    client.deliver(big);
    let small = delivery(&client, "a", QoS::AtLeastOnce);
    client.deliver(small);
    let sent = sent_publishes(&mut client);
    assert_eq!(sent.len(), 1);
    assert_eq!(&sent[0].payload[..], b"m");
    assert_eq!(client.conn.session().dropped().too_large, 1);
    assert_eq!(client.conn.session().inflight_len(), 1);
}

#[test]
fn a_delivery_the_authorizer_refuses_to_receive_is_dropped() {
    let mut client = Client::connect(v5("d"));
    client.auth.deny_receive.insert("a".into());
    let d = delivery(&client, "a", QoS::AtLeastOnce);
    client.deliver(d);
    assert!(client.sent().is_empty());
    assert_eq!(client.conn.session().dropped().not_authorized, 1);
}

// --- message expiry --------------------------------------------------------------------------

#[test]
fn a_queued_message_past_its_expiry_is_dropped_and_the_rest_carry_the_time_left() {
    let mut client = Client::connect(with_receive_maximum(v5("d"), 1));
    let first = delivery(&client, "a", QoS::AtLeastOnce);
    client.deliver(first);
    for expiry in [5, 60] {
        let mut d = delivery(&client, "a", QoS::AtLeastOnce);
        let props = PublishProperties {
            message_expiry_interval: Some(expiry),
            ..PublishProperties::default()
        };
        d.message = Message::new(
            topic("a"),
            Bytes::from_static(b"e"),
            QoS::AtLeastOnce,
            false,
            props,
            client.clock.now,
        );
        client.deliver(d);
    }
    client.sent();
    client.advance(Duration::from_secs(10));
    client.send(Packet::PubAck(PubAck::new(pid(1)))).unwrap();
    let sent = sent_publishes(&mut client);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].properties.message_expiry_interval, Some(50));
    assert_eq!(client.conn.session().dropped().expired, 1);
}

// --- subscriptions ---------------------------------------------------------------------------

#[test]
fn subscribe_grants_qos_capped_by_the_servers_maximum_and_reports_the_filters() {
    let settings = BrokerSettings {
        maximum_qos: QoS::AtLeastOnce,
        ..BrokerSettings::default()
    };
    let mut client = Client::connect_with(settings, v5("d"));
    client
        .send(Packet::Subscribe(subscribe(
            1,
            &[
                ("a/+", options(QoS::ExactlyOnce)),
                ("b", options(QoS::AtMostOnce)),
            ],
        )))
        .unwrap();
    let sent = client.sent();
    let [Packet::SubAck(ack)] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    assert_eq!(
        ack.reason_codes,
        [ReasonCode::GrantedQoS1, ReasonCode::Success]
    );
    let events = client.events();
    let [Event::Subscribed(subs)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(subs.len(), 2);
    assert_eq!(subs[0].entry.qos, QoS::AtLeastOnce);
    assert!(subs.iter().all(|s| !s.existed && s.send_retained));
    assert_eq!(client.conn.session().subscriptions().count(), 2);
}

#[test]
fn filters_beyond_the_per_subscribe_limit_are_refused_with_quota_exceeded_and_not_stored() {
    let settings = BrokerSettings {
        max_filters_per_subscribe: 2,
        ..BrokerSettings::default()
    };
    for (connect, refused) in [
        (v5("d"), ReasonCode::QuotaExceeded),
        (v3("d"), ReasonCode::UnspecifiedError),
    ] {
        let mut client = Client::connect_with(settings.clone(), connect);
        let filters = [
            ("a", options(QoS::AtMostOnce)),
            ("b", options(QoS::AtMostOnce)),
            ("c", options(QoS::AtMostOnce)),
        ];
        client
            .send(Packet::Subscribe(subscribe(1, &filters)))
            .unwrap();
        let sent = client.sent();
        let [Packet::SubAck(ack)] = sent.as_slice() else {
            panic!("{sent:?}")
        };
        assert_eq!(
            ack.reason_codes,
            [ReasonCode::Success, ReasonCode::Success, refused]
        );
        assert_eq!(client.conn.session().subscriptions().count(), 2);
    }
}

#[test]
fn a_session_at_its_subscription_limit_refuses_new_filters_but_replaces_existing_ones() {
    let settings = BrokerSettings {
        max_subscriptions: 2,
        ..BrokerSettings::default()
    };
    let mut client = Client::connect_with(settings, v5("d"));
    let two = [
        ("a", options(QoS::AtMostOnce)),
        ("b", options(QoS::AtMostOnce)),
    ];
    client.send(Packet::Subscribe(subscribe(1, &two))).unwrap();
    client.sent();
    let more = [
        ("c", options(QoS::AtMostOnce)),
        ("a", options(QoS::AtLeastOnce)),
    ];
    client.send(Packet::Subscribe(subscribe(2, &more))).unwrap();
    let sent = client.sent();
    let [Packet::SubAck(ack)] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    assert_eq!(
        ack.reason_codes,
        [ReasonCode::QuotaExceeded, ReasonCode::GrantedQoS1]
    );
    let filters: Vec<String> = client
        .conn
        .session()
        .subscriptions()
        .map(|(f, _)| f.to_string())
        .collect();
    assert_eq!(filters, ["a", "b"]);
}

#[test]
fn a_retained_publish_beyond_the_store_quota_is_delivered_live_and_acknowledged_quota_exceeded() {
    for (connect, expected) in [
        (v5("d"), ReasonCode::QuotaExceeded),
        (v3("d"), ReasonCode::Success),
    ] {
        let mut client = Client::connect(connect);
        client.auth.retained_full = true;
        let mut p = publish("state/1", QoS::AtLeastOnce, 1, b"on");
        p.retain = true;
        client.send(Packet::Publish(p)).unwrap();
        let sent = client.sent();
        let [Packet::PubAck(ack)] = sent.as_slice() else {
            panic!("{sent:?}")
        };
        assert_eq!(ack.reason_code, expected);
        let events = client.events();
        let [Event::Publish(message)] = events.as_slice() else {
            panic!("{events:?}")
        };
        assert!(!message.retain, "routed live, not stored");
    }
}

#[test]
fn an_unauthorized_filter_gets_not_authorized_and_the_others_are_granted() {
    for connect in [v5("d"), v3("d")] {
        let mut client = Client::connect(connect);
        client.auth.deny_subscribe.insert("secret/#".into());
        client
            .send(Packet::Subscribe(subscribe(
                1,
                &[
                    ("secret/#", options(QoS::AtLeastOnce)),
                    ("ok", options(QoS::AtLeastOnce)),
                ],
            )))
            .unwrap();
        let sent = client.sent();
        let [Packet::SubAck(ack)] = sent.as_slice() else {
            panic!("{sent:?}")
        };
        assert_eq!(
            ack.reason_codes,
            [ReasonCode::NotAuthorized, ReasonCode::GrantedQoS1]
        );
        // 0x87 on the wire for v5; the codec writes every error as 0x80 for 3.1.1.
        let mut buf = bytes::BytesMut::new();
        roost_codec::encode(&sent[0], client.conn.protocol_version(), &mut buf).unwrap();
        let expected = if client.conn.protocol_version().is_v5() {
            0x87
        } else {
            0x80
        };
        assert_eq!(buf[buf.len() - 2], expected);
    }
}

#[test]
fn no_local_on_a_shared_subscription_is_a_protocol_error() {
    let mut client = Client::connect(v5("d"));
    let opts = SubscriptionOptions {
        no_local: true,
        ..options(QoS::AtMostOnce)
    };
    let err = client
        .send(Packet::Subscribe(subscribe(1, &[("$share/g/a", opts)])))
        .unwrap_err();
    assert_eq!(err.reason, ReasonCode::ProtocolError);
    assert!(err.detail.contains("[MQTT-3.8.3-4]"));
}

#[test]
fn a_subscription_identifier_is_refused_when_the_server_does_not_offer_them() {
    let settings = BrokerSettings {
        subscription_identifiers_available: false,
        ..BrokerSettings::default()
    };
    let mut client = Client::connect_with(settings, v5("d"));
    let err = client
        .send(Packet::Subscribe(subscribe_with_id(
            1,
            "a",
            QoS::AtMostOnce,
            5,
        )))
        .unwrap_err();
    assert_eq!(err.reason, ReasonCode::SubscriptionIdentifiersNotSupported);
}

#[test]
fn unsubscribe_reports_which_subscriptions_existed() {
    let mut client = Client::connect(v5("d"));
    client
        .send(Packet::Subscribe(subscribe(
            1,
            &[("a", options(QoS::AtMostOnce))],
        )))
        .unwrap();
    client.sent();
    client.events();
    client
        .send(Packet::Unsubscribe(unsubscribe(2, &["a", "b"])))
        .unwrap();
    let sent = client.sent();
    let [Packet::UnsubAck(ack)] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    assert_eq!(
        ack.reason_codes,
        [ReasonCode::Success, ReasonCode::NoSubscriptionExisted]
    );
    assert!(matches!(client.events().as_slice(), [Event::Unsubscribed(f)] if f.len() == 1));
}

// --- routing through the trie (subscription ids, no-local, retain flags) ----------------------

#[test]
fn a_delivery_carries_the_identifiers_of_all_matching_subscriptions() {
    let mut broker = Broker::new();
    broker.connect(1, v5("sub"));
    broker.connect(2, v5("pub"));
    broker.send(
        1,
        Packet::Subscribe(subscribe_with_id(1, "a/+", QoS::AtLeastOnce, 11)),
    );
    broker.send(
        1,
        Packet::Subscribe(subscribe_with_id(2, "a/#", QoS::AtMostOnce, 12)),
    );
    broker.client(1).sent();
    broker.send(
        2,
        Packet::Publish(publish("a/b", QoS::AtLeastOnce, 1, b"x")),
    );
    let sent = sent_publishes(broker.client(1));
    assert_eq!(sent.len(), 1, "one copy per session");
    assert_eq!(sent[0].qos, PublishQos::AtLeastOnce(pid(1)));
    assert_eq!(
        sent[0].properties.subscription_identifiers,
        [NonZeroU32::new(11).unwrap(), NonZeroU32::new(12).unwrap()]
    );
}

#[test]
fn no_local_keeps_a_clients_own_messages_from_it() {
    let mut broker = Broker::new();
    broker.connect(1, v5("a"));
    broker.connect(2, v5("b"));
    let no_local = SubscriptionOptions {
        no_local: true,
        ..options(QoS::AtMostOnce)
    };
    broker.send(1, Packet::Subscribe(subscribe(1, &[("chat", no_local)])));
    broker.send(2, Packet::Subscribe(subscribe(1, &[("chat", no_local)])));
    broker.client(1).sent();
    broker.client(2).sent();
    broker.send(
        1,
        Packet::Publish(publish("chat", QoS::AtMostOnce, 0, b"hi")),
    );
    assert!(broker.client(1).sent().is_empty());
    assert_eq!(sent_publishes(broker.client(2)).len(), 1);
}

#[test]
fn retain_as_published_keeps_the_retain_flag_on_live_messages() {
    let mut broker = Broker::new();
    broker.connect(1, v5("rap"));
    broker.connect(2, v5("plain"));
    broker.connect(3, v5("pub"));
    let rap = SubscriptionOptions {
        retain_as_published: true,
        retain_handling: RetainHandling::DoNotSend,
        ..options(QoS::AtMostOnce)
    };
    broker.send(1, Packet::Subscribe(subscribe(1, &[("t", rap)])));
    let plain = retain_handling(QoS::AtMostOnce, RetainHandling::DoNotSend);
    broker.send(2, Packet::Subscribe(subscribe(1, &[("t", plain)])));
    broker.client(1).sent();
    broker.client(2).sent();
    let mut p = publish("t", QoS::AtMostOnce, 0, b"v");
    p.retain = true;
    broker.send(3, Packet::Publish(p));
    assert!(sent_publishes(broker.client(1))[0].retain);
    assert!(!sent_publishes(broker.client(2))[0].retain);
}

#[test]
fn retain_handling_decides_whether_a_subscription_gets_the_retained_message() {
    let mut broker = Broker::new();
    broker.connect(9, v5("pub"));
    let mut p = publish("state", QoS::AtLeastOnce, 1, b"on");
    p.retain = true;
    broker.send(9, Packet::Publish(p));
    broker.connect(1, v5("sub"));
    let retained_count = |broker: &mut Broker, rh: RetainHandling, id: u16| {
        let opts = retain_handling(QoS::AtLeastOnce, rh);
        broker.send(1, Packet::Subscribe(subscribe(id, &[("state", opts)])));
        broker
            .client(1)
            .sent()
            .into_iter()
            .filter(|p| matches!(p, Packet::Publish(p) if p.retain))
            .count()
    };
    assert_eq!(
        retained_count(&mut broker, RetainHandling::SendAtSubscribe, 1),
        1
    );
    assert_eq!(
        retained_count(&mut broker, RetainHandling::SendAtSubscribe, 2),
        1
    );
    assert_eq!(
        retained_count(&mut broker, RetainHandling::SendAtSubscribeIfNew, 3),
        0,
        "the subscription already existed"
    );
    assert_eq!(retained_count(&mut broker, RetainHandling::DoNotSend, 4), 0);
    broker.send(1, Packet::Unsubscribe(unsubscribe(5, &["state"])));
    assert_eq!(
        retained_count(&mut broker, RetainHandling::SendAtSubscribeIfNew, 6),
        1
    );
}

#[test]
fn shared_subscriptions_get_no_retained_messages_on_subscribe() {
    let mut broker = Broker::new();
    broker.connect(9, v5("pub"));
    let mut p = publish("state", QoS::AtMostOnce, 0, b"on");
    p.retain = true;
    broker.send(9, Packet::Publish(p));
    broker.connect(1, v5("sub"));
    broker.send(
        1,
        Packet::Subscribe(subscribe(
            1,
            &[("$share/g/state", options(QoS::AtMostOnce))],
        )),
    );
    let sent = broker.client(1).sent();
    assert!(matches!(sent.as_slice(), [Packet::SubAck(_)]));
}

// --- DISCONNECT, will and session expiry -----------------------------------------------------

#[test]
fn a_normal_disconnect_discards_the_will() {
    let mut client = Client::connect(with_will(v5("d"), None));
    client.send(disconnect(ReasonCode::Success)).unwrap();
    assert_eq!(
        client.events(),
        [
            Event::WillCleared,
            Event::Disconnect {
                reason: ReasonCode::Success
            }
        ]
    );
    assert!(client.conn.into_session_state().will.is_none());
}

#[test]
fn disconnect_with_will_message_keeps_the_will() {
    let mut client = Client::connect(with_will(v5("d"), None));
    client
        .send(disconnect(ReasonCode::DisconnectWithWillMessage))
        .unwrap();
    let will = client.conn.into_session_state().will.unwrap();
    let m = will.message(std::time::Instant::now());
    assert_eq!(m.topic.as_str(), "dev/status");
    assert_eq!(m.qos, QoS::AtLeastOnce);
}

#[test]
fn the_will_delay_is_capped_by_the_session_expiry() {
    let client = Client::connect(persistent(with_will(v5("d"), Some(600)), 60));
    let will = client.conn.into_session_state().will.unwrap();
    assert_eq!(will.delay, Duration::from_secs(60));
    let client = Client::connect(persistent(with_will(v5("d"), Some(30)), 60));
    assert_eq!(
        client.conn.into_session_state().will.unwrap().delay,
        Duration::from_secs(30)
    );
    let client = Client::connect(with_will(v5("d"), Some(30)));
    assert_eq!(
        client.conn.into_session_state().will.unwrap().delay,
        Duration::ZERO,
        "a session that ends with the connection publishes its will at once"
    );
}

#[test]
fn disconnect_may_change_a_nonzero_session_expiry_but_not_raise_zero() {
    let mut client = Client::connect(persistent(v5("d"), 60));
    let mut d = Disconnect::default();
    d.properties.session_expiry_interval = Some(0);
    client.send(Packet::Disconnect(d)).unwrap();
    assert_eq!(client.conn.session().expiry_secs(), 0);

    let mut client = Client::connect(v5("d"));
    let mut d = Disconnect::default();
    d.properties.session_expiry_interval = Some(60);
    let err = client.send(Packet::Disconnect(d)).unwrap_err();
    assert_eq!(err.reason, ReasonCode::ProtocolError);
}

#[test]
fn the_server_can_close_a_connection_with_a_reason() {
    let mut client = Client::connect(v5("d"));
    client.conn.close(ReasonCode::SessionTakenOver);
    assert!(matches!(
        client.sent().as_slice(),
        [Packet::Disconnect(d)] if d.reason_code == ReasonCode::SessionTakenOver
    ));
    let mut client = Client::connect(v3("d"));
    client.conn.close(ReasonCode::SessionTakenOver);
    assert!(client.sent().is_empty());
    assert_eq!(client.conn.closed(), Some(ReasonCode::SessionTakenOver));
}

// --- resume ----------------------------------------------------------------------------------

#[test]
fn a_resumed_session_resends_unacknowledged_deliveries_with_dup_in_order() {
    let mut client = Client::connect(with_receive_maximum(persistent(v5("d"), 300), 2));
    for t in ["q/1", "q/2", "q/3"] {
        let d = delivery(&client, t, QoS::AtLeastOnce);
        client.deliver(d);
    }
    let d = delivery(&client, "q/4", QoS::ExactlyOnce);
    client.deliver(d);
    assert_eq!(sent_publishes(&mut client).len(), 2);
    client.send(Packet::PubAck(PubAck::new(pid(1)))).unwrap();
    client.sent();
    // q/3 is now in flight as id 3, q/4 queued; id 2 and 3 unacknowledged.
    let again = with_receive_maximum(persistent(v5("d"), 300), 2);
    let (_, mut client) = client.reconnect(Duration::from_secs(10), again);
    let connack = client.expect_connack();
    assert!(connack.session_present);
    let resent = sent_publishes(&mut client);
    let summary: Vec<(String, bool, PublishQos)> = resent
        .iter()
        .map(|p| (p.topic.to_string(), p.dup, p.qos))
        .collect();
    assert_eq!(
        summary,
        [
            ("q/2".to_owned(), true, PublishQos::AtLeastOnce(pid(2))),
            ("q/3".to_owned(), true, PublishQos::AtLeastOnce(pid(3))),
        ]
    );
    client.send(Packet::PubAck(PubAck::new(pid(2)))).unwrap();
    let next = sent_publishes(&mut client);
    assert_eq!(next[0].topic.as_str(), "q/4");
    assert!(!next[0].dup);
}

#[test]
fn a_resumed_session_resends_pubrel_for_qos2_flows_past_pubrec() {
    let mut client = Client::connect(persistent(v5("d"), 300));
    let d = delivery(&client, "a", QoS::ExactlyOnce);
    client.deliver(d);
    client.send(Packet::PubRec(PubRec::new(pid(1)))).unwrap();
    client.sent();
    let (_, mut client) = client.reconnect(Duration::from_secs(1), persistent(v5("d"), 300));
    client.expect_connack();
    assert_eq!(client.sent(), [Packet::PubRel(PubRel::new(pid(1)))]);
}

#[test]
fn a_resumed_session_keeps_inbound_qos2_state_so_a_resent_publish_is_not_routed_twice() {
    let mut client = Client::connect(persistent(v5("d"), 300));
    client
        .send(Packet::Publish(publish("a", QoS::ExactlyOnce, 4, b"x")))
        .unwrap();
    client.events();
    let (_, mut client) = client.reconnect(Duration::from_secs(1), persistent(v5("d"), 300));
    client.expect_connack();
    let mut again = publish("a", QoS::ExactlyOnce, 4, b"x");
    again.dup = true;
    client.send(Packet::Publish(again)).unwrap();
    assert!(client.events().is_empty());
    assert_eq!(client.sent(), [Packet::PubRec(PubRec::new(pid(4)))]);
}

#[test]
fn clean_start_discards_the_stored_session() {
    let mut client = Client::connect(persistent(v5("d"), 300));
    client
        .send(Packet::Subscribe(subscribe(
            1,
            &[("a", options(QoS::AtLeastOnce))],
        )))
        .unwrap();
    let (_, mut client) = client.reconnect(Duration::from_secs(1), v5("d"));
    assert!(!client.expect_connack().session_present);
    assert_eq!(client.conn.session().subscriptions().count(), 0);
}

#[test]
fn messages_queued_while_offline_are_sent_on_resume_and_qos0_is_not_kept() {
    let client = Client::connect(persistent(v5("d"), 300));
    let settings = client.settings.clone();
    let now = client.clock.now;
    let mut ended = client.conn.into_session_state();
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce] {
        let d = Delivery {
            message: message("a", qos, b"x", now),
            qos,
            retain: false,
            subscription_ids: Vec::new(),
            stored: None,
        };
        ended
            .session
            .enqueue_offline(now, d, settings.queue_limit(), false);
    }
    assert_eq!(ended.session.queued_len(), 1);
    assert_eq!(ended.session.dropped().offline_qos0, 1);
    let mut clock = Clock::new();
    clock.now = now;
    let mut client = Client::try_accept(
        clock,
        settings,
        persistent(v5("d"), 300),
        Some(ended.session),
    )
    .unwrap();
    client.expect_connack();
    let sent = sent_publishes(&mut client);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].qos, PublishQos::AtLeastOnce(pid(1)));
    assert!(!sent[0].dup);
}

#[test]
fn the_session_expires_after_its_interval_from_the_disconnect() {
    let client = Client::connect(persistent(v5("d"), 300));
    let disconnected_at = client.clock.now;
    let ended = client.conn.into_session_state();
    assert!(ended.session.is_persistent());
    assert_eq!(
        ended.session.expires_at(disconnected_at),
        Some(disconnected_at + Duration::from_secs(300))
    );
}
