//! Property tests: every valid packet survives encode → decode unchanged, in every version, and
//! no input, however hostile, makes the decoder panic.

use std::num::{NonZeroU16, NonZeroU32};

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use proptest::sample::select;
use roost_codec::*;

const VERSIONS: [ProtocolVersion; 3] = [
    ProtocolVersion::V3_1,
    ProtocolVersion::V3_1_1,
    ProtocolVersion::V5,
];

// ---- generators of valid values ----

fn text() -> impl Strategy<Value = String> {
    // Printable characters of any script; never U+0000, and Rust strings hold no surrogates.
    "\\PC{0,8}"
}

fn binary() -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..12).prop_map(Bytes::from)
}

fn level() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 $_é中-]{0,4}"
}

fn topic_name() -> impl Strategy<Value = TopicName> {
    prop::collection::vec(level(), 1..4)
        .prop_map(|levels| levels.join("/"))
        .prop_filter_map("topic names are not empty", |name| {
            TopicName::new(&name).ok()
        })
}

fn topic_filter() -> impl Strategy<Value = TopicFilter> {
    let filter_level = prop_oneof![3 => level(), 1 => Just("+".to_owned())];
    (
        prop::collection::vec(filter_level, 1..4),
        any::<bool>(),
        prop::option::of("[a-z0-9]{1,4}"),
    )
        .prop_map(|(mut levels, multi, share)| {
            if multi {
                levels.push("#".to_owned());
            }
            let filter = levels.join("/");
            match share {
                Some(name) => format!("$share/{name}/{filter}"),
                None => filter,
            }
        })
        .prop_filter_map("filters are not empty", |filter| {
            TopicFilter::new(&filter).ok()
        })
}

fn packet_id() -> impl Strategy<Value = PacketId> {
    (1..=u16::MAX).prop_map(|id| PacketId::new(id).expect("non-zero"))
}

fn qos() -> impl Strategy<Value = QoS> {
    select(vec![QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce])
}

fn user_properties() -> impl Strategy<Value = UserProperties> {
    prop::collection::vec((text(), text()), 0..3)
}

fn reason(packet: PacketType) -> impl Strategy<Value = ReasonCode> {
    select(
        ReasonCode::all()
            .iter()
            .copied()
            .filter(|code| code.is_valid_for(packet))
            .collect::<Vec<_>>(),
    )
}

fn nonzero_u16() -> impl Strategy<Value = NonZeroU16> {
    (1..=u16::MAX).prop_map(|v| NonZeroU16::new(v).expect("non-zero"))
}

fn nonzero_u32() -> impl Strategy<Value = NonZeroU32> {
    (1..=u32::MAX).prop_map(|v| NonZeroU32::new(v).expect("non-zero"))
}

fn subscription_id() -> impl Strategy<Value = NonZeroU32> {
    (1..=268_435_455u32).prop_map(|v| NonZeroU32::new(v).expect("non-zero"))
}

fn payload_format() -> impl Strategy<Value = PayloadFormat> {
    select(vec![PayloadFormat::Unspecified, PayloadFormat::Utf8])
}

fn auth_pair() -> impl Strategy<Value = (Option<String>, Option<Bytes>)> {
    prop::option::of((text(), prop::option::of(binary()))).prop_map(|pair| match pair {
        Some((method, data)) => (Some(method), data),
        None => (None, None),
    })
}

fn ack_properties() -> impl Strategy<Value = AckProperties> {
    (prop::option::of(text()), user_properties()).prop_map(|(reason_string, user_properties)| {
        AckProperties {
            reason_string,
            user_properties,
        }
    })
}

fn connect_properties() -> impl Strategy<Value = ConnectProperties> {
    (
        prop::option::of(any::<u32>()),
        prop::option::of(nonzero_u16()),
        prop::option::of(nonzero_u32()),
        prop::option::of(any::<u16>()),
        prop::option::of(any::<bool>()),
        prop::option::of(any::<bool>()),
        user_properties(),
        auth_pair(),
    )
        .prop_map(
            |(sei, rm, mps, tam, rri, rpi, user_properties, (method, data))| ConnectProperties {
                session_expiry_interval: sei,
                receive_maximum: rm,
                maximum_packet_size: mps,
                topic_alias_maximum: tam,
                request_response_information: rri,
                request_problem_information: rpi,
                user_properties,
                authentication_method: method,
                authentication_data: data,
            },
        )
}

fn will_properties() -> impl Strategy<Value = WillProperties> {
    (
        prop::option::of(any::<u32>()),
        prop::option::of(payload_format()),
        prop::option::of(any::<u32>()),
        prop::option::of(text()),
        prop::option::of(topic_name()),
        prop::option::of(binary()),
        user_properties(),
    )
        .prop_map(
            |(delay, format, expiry, content_type, response, correlation, user)| WillProperties {
                will_delay_interval: delay,
                payload_format_indicator: format,
                message_expiry_interval: expiry,
                content_type,
                response_topic: response,
                correlation_data: correlation,
                user_properties: user,
            },
        )
}

fn publish_properties() -> impl Strategy<Value = PublishProperties> {
    (
        prop::option::of(payload_format()),
        prop::option::of(any::<u32>()),
        prop::option::of(nonzero_u16()),
        prop::option::of(topic_name()),
        prop::option::of(binary()),
        user_properties(),
        prop::collection::vec(subscription_id(), 0..3),
        prop::option::of(text()),
    )
        .prop_map(
            |(format, expiry, alias, response, correlation, user, ids, content_type)| {
                PublishProperties {
                    payload_format_indicator: format,
                    message_expiry_interval: expiry,
                    topic_alias: alias,
                    response_topic: response,
                    correlation_data: correlation,
                    user_properties: user,
                    subscription_identifiers: ids,
                    content_type,
                }
            },
        )
}

fn connack_properties() -> impl Strategy<Value = ConnAckProperties> {
    let limits = (
        prop::option::of(any::<u32>()),
        prop::option::of(nonzero_u16()),
        prop::option::of(select(vec![QoS::AtMostOnce, QoS::AtLeastOnce])),
        prop::option::of(any::<bool>()),
        prop::option::of(nonzero_u32()),
        prop::option::of(any::<u16>()),
        prop::option::of(any::<u16>()),
    );
    let features = (
        prop::option::of(any::<bool>()),
        prop::option::of(any::<bool>()),
        prop::option::of(any::<bool>()),
    );
    let texts = (
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(text()),
        user_properties(),
        auth_pair(),
    );
    (limits, features, texts).prop_map(
        |(
            (sei, rm, max_qos, retain, mps, tam, keep_alive),
            (wildcard, sub_ids, shared),
            (assigned, reason, response, reference, user, (method, data)),
        )| ConnAckProperties {
            session_expiry_interval: sei,
            receive_maximum: rm,
            maximum_qos: max_qos,
            retain_available: retain,
            maximum_packet_size: mps,
            assigned_client_identifier: assigned,
            topic_alias_maximum: tam,
            reason_string: reason,
            user_properties: user,
            wildcard_subscription_available: wildcard,
            subscription_identifiers_available: sub_ids,
            shared_subscription_available: shared,
            server_keep_alive: keep_alive,
            response_information: response,
            server_reference: reference,
            authentication_method: method,
            authentication_data: data,
        },
    )
}

// ---- generators of valid packets, per version ----

fn connect(version: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let v5 = version.is_v5();
    let will = prop::option::of((
        topic_name(),
        binary(),
        qos(),
        any::<bool>(),
        will_properties(),
    ))
    .prop_map(move |will| {
        will.map(|(topic, payload, qos, retain, properties)| Will {
            topic,
            payload,
            qos,
            retain,
            properties: if v5 {
                properties
            } else {
                WillProperties::default()
            },
        })
    });
    (
        any::<bool>(),
        any::<u16>(),
        text(),
        will,
        prop::option::of(text()),
        prop::option::of(binary()),
        connect_properties(),
    )
        .prop_map(
            move |(clean_start, keep_alive, client_id, will, username, password, properties)| {
                // 3.x forbids a password without a user name ([MQTT-3.1.2-22]).
                let password = if v5 || username.is_some() {
                    password
                } else {
                    None
                };
                Packet::Connect(Box::new(Connect {
                    protocol_version: version,
                    clean_start,
                    keep_alive,
                    client_id,
                    will,
                    username,
                    password,
                    properties: if v5 {
                        properties
                    } else {
                        ConnectProperties::default()
                    },
                }))
            },
        )
}

fn connack(version: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let codes: Vec<ReasonCode> = if version.is_v5() {
        ReasonCode::all()
            .iter()
            .copied()
            .filter(|c| c.is_valid_for(PacketType::ConnAck))
            .collect()
    } else {
        (0..=5)
            .filter_map(ReasonCode::from_connack_return_code)
            .collect()
    };
    (any::<bool>(), select(codes), connack_properties()).prop_map(
        move |(session_present, reason_code, properties)| {
            Packet::ConnAck(Box::new(ConnAck {
                session_present: session_present
                    && reason_code == ReasonCode::Success
                    && version != ProtocolVersion::V3_1,
                reason_code,
                properties: if version.is_v5() {
                    properties
                } else {
                    ConnAckProperties::default()
                },
            }))
        },
    )
}

fn publish(version: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let v5 = version.is_v5();
    (
        any::<bool>(),
        qos(),
        packet_id(),
        any::<bool>(),
        topic_name(),
        any::<bool>(),
        publish_properties(),
        binary(),
    )
        .prop_map(
            move |(dup, qos, id, retain, topic, alias_only, mut properties, payload)| {
                let qos = PublishQos::new(qos, id);
                let mut topic = topic;
                if v5 && alias_only && properties.topic_alias.is_some() {
                    topic = TopicName::empty_for_alias();
                }
                if !v5 {
                    properties = PublishProperties::default();
                }
                Packet::Publish(Publish {
                    dup: dup && qos != PublishQos::AtMostOnce,
                    qos,
                    retain,
                    topic,
                    properties,
                    payload,
                })
            },
        )
}

fn publish_response(version: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let kind = select(vec![
        PacketType::PubAck,
        PacketType::PubRec,
        PacketType::PubRel,
        PacketType::PubComp,
    ]);
    (
        kind,
        packet_id(),
        any::<prop::sample::Index>(),
        ack_properties(),
    )
        .prop_map(move |(kind, packet_id, pick, properties)| {
            let (reason_code, properties) = if version.is_v5() {
                let codes: Vec<ReasonCode> = ReasonCode::all()
                    .iter()
                    .copied()
                    .filter(|c| c.is_valid_for(kind))
                    .collect();
                (*pick.get(&codes), properties)
            } else {
                (ReasonCode::Success, AckProperties::default())
            };
            match kind {
                PacketType::PubAck => Packet::PubAck(PubAck {
                    packet_id,
                    reason_code,
                    properties,
                }),
                PacketType::PubRec => Packet::PubRec(PubRec {
                    packet_id,
                    reason_code,
                    properties,
                }),
                PacketType::PubRel => Packet::PubRel(PubRel {
                    packet_id,
                    reason_code,
                    properties,
                }),
                _ => Packet::PubComp(PubComp {
                    packet_id,
                    reason_code,
                    properties,
                }),
            }
        })
}

fn subscribe(version: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let v5 = version.is_v5();
    let options = (
        qos(),
        any::<bool>(),
        any::<bool>(),
        select(vec![
            RetainHandling::SendAtSubscribe,
            RetainHandling::SendAtSubscribeIfNew,
            RetainHandling::DoNotSend,
        ]),
    );
    let subscription = (topic_filter(), options).prop_map(
        move |(filter, (qos, no_local, retain_as_published, retain_handling))| {
            let options = if v5 {
                SubscriptionOptions {
                    qos,
                    // [MQTT-3.8.3-4]: no No Local on shared subscriptions.
                    no_local: no_local && !filter.is_shared(),
                    retain_as_published,
                    retain_handling,
                }
            } else {
                SubscriptionOptions {
                    qos,
                    ..SubscriptionOptions::default()
                }
            };
            Subscription { filter, options }
        },
    );
    (
        packet_id(),
        prop::collection::vec(subscription, 1..4),
        prop::option::of(subscription_id()),
        user_properties(),
    )
        .prop_map(move |(packet_id, subscriptions, id, user_properties)| {
            Packet::Subscribe(Subscribe {
                packet_id,
                subscriptions,
                properties: if v5 {
                    SubscribeProperties {
                        subscription_identifier: id,
                        user_properties,
                    }
                } else {
                    SubscribeProperties::default()
                },
            })
        })
}

fn suback(version: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let v5 = version.is_v5();
    let codes = if v5 {
        reason(PacketType::SubAck).boxed()
    } else {
        select(vec![
            ReasonCode::Success,
            ReasonCode::GrantedQoS1,
            ReasonCode::GrantedQoS2,
            ReasonCode::UnspecifiedError,
        ])
        .boxed()
    };
    (
        packet_id(),
        prop::collection::vec(codes, 1..4),
        ack_properties(),
    )
        .prop_map(move |(packet_id, reason_codes, properties)| {
            Packet::SubAck(SubAck {
                packet_id,
                reason_codes,
                properties: if v5 {
                    properties
                } else {
                    AckProperties::default()
                },
            })
        })
}

fn unsubscribe(version: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let v5 = version.is_v5();
    (
        packet_id(),
        prop::collection::vec(topic_filter(), 1..4),
        user_properties(),
    )
        .prop_map(move |(packet_id, filters, user_properties)| {
            Packet::Unsubscribe(Unsubscribe {
                packet_id,
                filters,
                properties: UnsubscribeProperties {
                    user_properties: if v5 { user_properties } else { Vec::new() },
                },
            })
        })
}

fn unsuback(version: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let v5 = version.is_v5();
    (
        packet_id(),
        prop::collection::vec(reason(PacketType::UnsubAck), 1..4),
        ack_properties(),
    )
        .prop_map(move |(packet_id, reason_codes, properties)| {
            Packet::UnsubAck(if v5 {
                UnsubAck {
                    packet_id,
                    reason_codes,
                    properties,
                }
            } else {
                UnsubAck {
                    packet_id,
                    reason_codes: Vec::new(),
                    properties: AckProperties::default(),
                }
            })
        })
}

fn disconnect(version: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let v5 = version.is_v5();
    (
        reason(PacketType::Disconnect),
        prop::option::of(any::<u32>()),
        prop::option::of(text()),
        user_properties(),
        prop::option::of(text()),
    )
        .prop_map(move |(reason_code, sei, reason_string, user, reference)| {
            Packet::Disconnect(if v5 {
                Disconnect {
                    reason_code,
                    properties: DisconnectProperties {
                        session_expiry_interval: sei,
                        reason_string,
                        user_properties: user,
                        server_reference: reference,
                    },
                }
            } else {
                Disconnect::default()
            })
        })
}

fn auth() -> impl Strategy<Value = Packet> {
    (
        reason(PacketType::Auth),
        auth_pair(),
        prop::option::of(text()),
        user_properties(),
    )
        .prop_map(|(reason_code, (method, data), reason_string, user)| {
            Packet::Auth(Auth {
                reason_code,
                properties: AuthProperties {
                    authentication_method: method,
                    authentication_data: data,
                    reason_string,
                    user_properties: user,
                },
            })
        })
}

fn packet(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    let common = prop_oneof![
        connect(version),
        connack(version),
        publish(version),
        publish_response(version),
        subscribe(version),
        suback(version),
        unsubscribe(version),
        unsuback(version),
        disconnect(version),
        Just(Packet::PingReq),
        Just(Packet::PingResp),
    ];
    if version.is_v5() {
        prop_oneof![10 => common, 1 => auth()].boxed()
    } else {
        common.boxed()
    }
}

fn versioned_packet() -> impl Strategy<Value = (ProtocolVersion, Packet)> {
    select(VERSIONS.to_vec()).prop_flat_map(|version| (Just(version), packet(version)))
}

fn encode_to_vec(packet: &Packet, version: ProtocolVersion) -> BytesMut {
    let mut buf = BytesMut::new();
    encode(packet, version, &mut buf).expect("generated packets are encodable");
    buf
}

/// Decodes packets off `buf` until it needs more bytes or fails, re-encoding each one and
/// checking that the re-encoding decodes to the same packet.
fn decode_and_check_stability(mut buf: BytesMut, version: ProtocolVersion) {
    while let Ok(Some(packet)) = decode(&mut buf, version, 1 << 20) {
        let version = match &packet {
            Packet::Connect(connect) => connect.protocol_version,
            _ => version,
        };
        let mut again = encode_to_vec(&packet, version);
        let decoded = decode(&mut again, version, u32::MAX);
        assert_eq!(decoded, Ok(Some(packet)));
        assert!(again.is_empty());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn every_valid_packet_round_trips_in_its_version((version, packet) in versioned_packet()) {
        let mut buf = encode_to_vec(&packet, version);
        prop_assert_eq!(encoded_len(&packet, version), Ok(buf.len()));
        let decoded = decode(&mut buf, version, u32::MAX);
        prop_assert_eq!(decoded, Ok(Some(packet)));
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn every_proper_prefix_of_a_valid_packet_needs_more_bytes(
        (version, packet) in versioned_packet()
    ) {
        let whole = encode_to_vec(&packet, version);
        for cut in 0..whole.len() {
            let mut buf = BytesMut::from(&whole[..cut]);
            prop_assert_eq!(decode(&mut buf, version, u32::MAX), Ok(None));
            prop_assert_eq!(&buf[..], &whole[..cut]);
        }
    }

    #[test]
    fn valid_connect_decodes_through_decode_connect((version, packet) in versioned_packet()) {
        if let Packet::Connect(connect) = &packet {
            let mut buf = encode_to_vec(&packet, version);
            prop_assert_eq!(decode_connect(&mut buf, u32::MAX), Ok(Some((**connect).clone())));
        }
    }

    #[test]
    fn decode_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        for version in VERSIONS {
            decode_and_check_stability(BytesMut::from(&bytes[..]), version);
        }
        let _ = decode_connect(&mut BytesMut::from(&bytes[..]), 1 << 20);
    }

    #[test]
    fn decode_never_panics_on_corrupted_valid_packets(
        (version, packet) in versioned_packet(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = encode_to_vec(&packet, version);
        for (at, value) in flips {
            let at = at.index(bytes.len());
            bytes[at] = value;
        }
        decode_and_check_stability(bytes.clone(), version);
        let _ = decode_connect(&mut bytes, 1 << 20);
    }
}
