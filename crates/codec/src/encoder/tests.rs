use std::num::{NonZeroU16, NonZeroU32};

use bytes::{Bytes, BytesMut};

use super::*;
use crate::decoder::decode;
use crate::fixtures::*;
use crate::packet::{PubAck, PubRec, PublishQos, QoS, Subscription};
use crate::property::{
    ConnAckProperties, DisconnectProperties, PublishProperties, SubscribeProperties,
};
use crate::topic::{TopicFilter, TopicName};

fn id(value: u16) -> PacketId {
    PacketId::new(value).expect("non-zero")
}

fn bytes_of(packet: &Packet, version: ProtocolVersion) -> BytesMut {
    let mut buf = BytesMut::new();
    encode(packet, version, &mut buf).expect("encodable");
    assert_eq!(encoded_len(packet, version), Ok(buf.len()));
    buf
}

fn decode_all(mut buf: BytesMut, version: ProtocolVersion) -> Packet {
    let packet = decode(&mut buf, version, u32::MAX)
        .expect("valid")
        .expect("whole");
    assert!(buf.is_empty());
    packet
}

fn publish(topic: &str, qos: PublishQos, payload: &'static [u8]) -> Publish {
    Publish {
        dup: false,
        qos,
        retain: false,
        topic: TopicName::new(topic).unwrap(),
        properties: PublishProperties::default(),
        payload: Bytes::from_static(payload),
    }
}

#[test]
fn real_client_packets_re_encode_to_the_same_bytes() {
    for (fixture, version) in valid_fixtures() {
        // mosquitto orders PUBLISH properties differently from us; checked semantically below.
        if fixture == MOSQUITTO_V5_PUBLISH {
            continue;
        }
        let packet = decode_all(hex(fixture), version);
        assert_eq!(bytes_of(&packet, version), hex(fixture), "{fixture}");
    }
}

#[test]
fn mosquitto_v5_publish_survives_a_re_encode() {
    let packet = decode_all(hex(MOSQUITTO_V5_PUBLISH), ProtocolVersion::V5);
    let again = decode_all(bytes_of(&packet, ProtocolVersion::V5), ProtocolVersion::V5);
    assert_eq!(again, packet);
}

#[test]
fn v5_connack_writes_its_properties() {
    let connack = Packet::ConnAck(Box::new(ConnAck {
        session_present: true,
        reason_code: ReasonCode::Success,
        properties: ConnAckProperties {
            maximum_qos: Some(QoS::AtLeastOnce),
            server_keep_alive: Some(1200),
            topic_alias_maximum: Some(8),
            ..ConnAckProperties::default()
        },
    }));
    assert_eq!(
        bytes_of(&connack, ProtocolVersion::V5),
        hex("200b 01 00 08 2401 220008 1304b0")
    );
}

#[test]
fn v3_connack_carries_the_nearest_return_code_and_no_properties() {
    let connack = Packet::ConnAck(Box::new(ConnAck {
        session_present: false,
        reason_code: ReasonCode::Banned,
        properties: ConnAckProperties {
            reason_string: Some("go away".into()),
            ..ConnAckProperties::default()
        },
    }));
    assert_eq!(bytes_of(&connack, ProtocolVersion::V3_1_1), hex("20020005"));
}

#[test]
fn v3_1_connack_has_no_session_present_flag() {
    let connack = Packet::ConnAck(Box::new(ConnAck {
        session_present: true,
        reason_code: ReasonCode::Success,
        properties: ConnAckProperties::default(),
    }));
    assert_eq!(bytes_of(&connack, ProtocolVersion::V3_1), hex("20020000"));
    assert_eq!(bytes_of(&connack, ProtocolVersion::V3_1_1), hex("20020100"));
}

#[test]
fn v5_publish_response_uses_the_short_form_when_it_can() {
    let ok = Packet::PubAck(PubAck::new(id(7)));
    assert_eq!(bytes_of(&ok, ProtocolVersion::V5), hex("40020007"));
    let no_match = Packet::PubRec(PubRec {
        reason_code: ReasonCode::NoMatchingSubscribers,
        ..PubRec::new(id(7))
    });
    assert_eq!(bytes_of(&no_match, ProtocolVersion::V5), hex("5003000710"));
    assert_eq!(
        bytes_of(&no_match, ProtocolVersion::V3_1_1),
        hex("50020007")
    );
}

#[test]
fn v3_suback_reports_every_failure_as_0x80() {
    let suback = Packet::SubAck(SubAck {
        packet_id: id(1),
        reason_codes: vec![
            ReasonCode::GrantedQoS1,
            ReasonCode::NotAuthorized,
            ReasonCode::Success,
        ],
        properties: AckProperties::default(),
    });
    assert_eq!(
        bytes_of(&suback, ProtocolVersion::V3_1_1),
        hex("9005000101 80 00")
    );
    assert_eq!(
        bytes_of(&suback, ProtocolVersion::V5),
        hex("900600010001 87 00")
    );
}

#[test]
fn v3_unsuback_leaves_out_reason_codes() {
    let unsuback = Packet::UnsubAck(UnsubAck {
        packet_id: id(2),
        reason_codes: vec![ReasonCode::NoSubscriptionExisted],
        properties: AckProperties::default(),
    });
    assert_eq!(
        bytes_of(&unsuback, ProtocolVersion::V3_1_1),
        hex("b0020002")
    );
    assert_eq!(
        bytes_of(&unsuback, ProtocolVersion::V5),
        hex("b00400020011")
    );
}

#[test]
fn v5_disconnect_writes_a_reason_code_only_when_needed_and_then_always_a_property_length() {
    let normal = Packet::Disconnect(Disconnect::default());
    assert_eq!(bytes_of(&normal, ProtocolVersion::V5), hex("e000"));
    let taken_over = Packet::Disconnect(Disconnect {
        reason_code: ReasonCode::SessionTakenOver,
        properties: DisconnectProperties::default(),
    });
    assert_eq!(bytes_of(&taken_over, ProtocolVersion::V5), hex("e0028e00"));
    assert_eq!(bytes_of(&taken_over, ProtocolVersion::V3_1_1), hex("e000"));
    let with_reason = Packet::Disconnect(Disconnect {
        reason_code: ReasonCode::KeepAliveTimeout,
        properties: DisconnectProperties {
            reason_string: Some("idle".into()),
            ..DisconnectProperties::default()
        },
    });
    assert_eq!(
        bytes_of(&with_reason, ProtocolVersion::V5),
        hex("e0098d 07 1f000469646c65")
    );
}

#[test]
fn subscribe_writes_fixed_header_flags_and_v5_options() {
    let subscribe = Packet::Subscribe(Subscribe {
        packet_id: id(1),
        subscriptions: vec![Subscription {
            filter: TopicFilter::new("a/+").unwrap(),
            options: SubscriptionOptions {
                qos: QoS::ExactlyOnce,
                no_local: true,
                retain_as_published: true,
                retain_handling: crate::packet::RetainHandling::DoNotSend,
            },
        }],
        properties: SubscribeProperties {
            subscription_identifier: NonZeroU32::new(300),
            user_properties: Vec::new(),
        },
    });
    assert_eq!(
        bytes_of(&subscribe, ProtocolVersion::V5),
        hex("820c 0001 03 0bac02 0003612f2b 2e")
    );
    assert_eq!(
        bytes_of(&subscribe, ProtocolVersion::V3_1_1),
        hex("8208 0001 0003612f2b 02")
    );
}

#[test]
fn publish_header_plus_payload_equals_the_whole_packet() {
    let mut packet = publish("sensors/temp", PublishQos::AtLeastOnce(id(9)), b"21.5");
    packet.properties.topic_alias = NonZeroU16::new(1);
    packet.dup = true;
    packet.retain = true;
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let whole = bytes_of(&Packet::Publish(packet.clone()), version);
        let mut split = BytesMut::new();
        encode_publish_header(&packet, version, &mut split).unwrap();
        assert_eq!(split.len(), whole.len() - packet.payload.len());
        split.extend_from_slice(&packet.payload);
        assert_eq!(split, whole);
    }
}

#[test]
fn publish_first_byte_carries_dup_qos_and_retain() {
    let mut packet = publish("t", PublishQos::ExactlyOnce(id(1)), b"");
    packet.dup = true;
    packet.retain = true;
    assert_eq!(
        bytes_of(&Packet::Publish(packet), ProtocolVersion::V3_1_1),
        hex("3d05 000174 0001")
    );
}

#[test]
fn v5_auth_writes_method_and_data() {
    let auth = Packet::from(Auth {
        reason_code: ReasonCode::ContinueAuthentication,
        properties: crate::property::AuthProperties {
            authentication_method: Some("SCRAM".into()),
            authentication_data: Some(Bytes::from_static(&[1, 2])),
            ..Default::default()
        },
    });
    assert_eq!(
        bytes_of(&auth, ProtocolVersion::V5),
        hex("f00f 18 0d 150005534352414d 1600020102")
    );
    assert_eq!(
        bytes_of(&Packet::from(Auth::default()), ProtocolVersion::V5),
        hex("f000")
    );
}

#[test]
fn auth_cannot_be_encoded_for_3_1_1() {
    let mut buf = BytesMut::new();
    assert_eq!(
        encode(
            &Packet::Auth(Auth::default()),
            ProtocolVersion::V3_1_1,
            &mut buf
        ),
        Err(EncodeError::PacketNotInVersion {
            packet: PacketType::Auth,
            version: ProtocolVersion::V3_1_1
        })
    );
    assert!(buf.is_empty());
}

#[test]
fn connect_must_be_encoded_with_its_own_version() {
    let packet = decode_all(hex(MOSQUITTO_V311_CONNECT), ProtocolVersion::V3_1_1);
    let mut buf = BytesMut::new();
    assert_eq!(
        encode(&packet, ProtocolVersion::V5, &mut buf),
        Err(EncodeError::ConnectVersionMismatch {
            connect: ProtocolVersion::V3_1_1,
            requested: ProtocolVersion::V5
        })
    );
}

#[test]
fn string_longer_than_65535_bytes_is_refused_and_nothing_is_written() {
    let mut packet = publish("t", PublishQos::AtMostOnce, b"");
    packet.properties.user_properties = vec![("k".into(), "v".repeat(70_000))];
    let mut buf = BytesMut::from(&b"keep"[..]);
    assert_eq!(
        encode(&Packet::Publish(packet), ProtocolVersion::V5, &mut buf),
        Err(EncodeError::FieldTooLong {
            field: "user property value",
            len: 70_000
        })
    );
    assert_eq!(&buf[..], b"keep");
}

#[test]
fn subscription_identifier_above_the_variable_byte_integer_range_is_refused() {
    let mut packet = publish("t", PublishQos::AtMostOnce, b"");
    packet.properties.subscription_identifiers = vec![NonZeroU32::new(268_435_456).unwrap()];
    assert!(matches!(
        encoded_len(&Packet::Publish(packet), ProtocolVersion::V5),
        Err(EncodeError::ValueTooLarge { .. })
    ));
}

#[test]
fn payload_beyond_the_remaining_length_range_is_refused() {
    let big = Bytes::from(vec![0u8; 268_435_456]);
    let mut packet = publish("t", PublishQos::AtMostOnce, b"");
    packet.payload = big;
    assert!(matches!(
        encoded_len(&Packet::Publish(packet), ProtocolVersion::V3_1_1),
        Err(EncodeError::ValueTooLarge {
            field: "remaining length",
            ..
        })
    ));
}

#[test]
fn v3_encoding_leaves_out_v5_properties() {
    let mut packet = publish("t", PublishQos::AtMostOnce, b"x");
    packet.properties.message_expiry_interval = Some(10);
    assert_eq!(
        bytes_of(&Packet::Publish(packet), ProtocolVersion::V3_1_1),
        hex("3004 000174 78")
    );
}
