use std::num::{NonZeroU16, NonZeroU32};

use bytes::{Bytes, BytesMut};

use super::*;
use crate::fixtures::*;
use crate::property::{PayloadFormat, PropertyId};

const MAX: u32 = 1024 * 1024;

fn decode_one(hex_text: &str, version: ProtocolVersion) -> Result<Packet, DecodeError> {
    let mut buf = hex(hex_text);
    let packet = decode(&mut buf, version, MAX)?.expect("a whole packet");
    assert!(buf.is_empty(), "exactly one packet consumed");
    Ok(packet)
}

fn v311(hex_text: &str) -> Result<Packet, DecodeError> {
    decode_one(hex_text, ProtocolVersion::V3_1_1)
}

fn v5(hex_text: &str) -> Result<Packet, DecodeError> {
    decode_one(hex_text, ProtocolVersion::V5)
}

fn id(value: u16) -> PacketId {
    PacketId::new(value).expect("non-zero")
}

fn malformed(detail: &'static str) -> DecodeError {
    DecodeError::Malformed { detail }
}

fn protocol(detail: &'static str) -> DecodeError {
    DecodeError::ProtocolError { detail }
}

// ---- real clients and spec examples ----

#[test]
fn mosquitto_3_1_1_connect_decodes_with_clean_session_and_keep_alive() {
    let mut buf = hex(MOSQUITTO_V311_CONNECT);
    let connect = decode_connect(&mut buf, MAX).unwrap().unwrap();
    assert!(buf.is_empty());
    assert_eq!(connect.protocol_version, ProtocolVersion::V3_1_1);
    assert!(connect.clean_start);
    assert_eq!(connect.keep_alive, 60);
    assert_eq!(connect.client_id, "fixture-client");
    assert_eq!(connect.will, None);
    assert_eq!(connect.username, None);
    assert_eq!(connect.password, None);
    assert_eq!(connect.properties, ConnectProperties::default());
}

#[test]
fn mosquitto_5_connect_carries_session_expiry_and_receive_maximum() {
    let mut buf = hex(MOSQUITTO_V5_CONNECT);
    let connect = decode_connect(&mut buf, MAX).unwrap().unwrap();
    assert_eq!(connect.protocol_version, ProtocolVersion::V5);
    assert_eq!(connect.properties.session_expiry_interval, Some(3600));
    assert_eq!(connect.properties.receive_maximum, NonZeroU16::new(20));
    assert_eq!(connect.client_id, "fixture-client");
}

#[test]
fn mosquitto_3_1_connect_is_recognised_by_its_mqisdp_name() {
    let mut buf = hex(MOSQUITTO_V31_CONNECT);
    let connect = decode_connect(&mut buf, MAX).unwrap().unwrap();
    assert_eq!(connect.protocol_version, ProtocolVersion::V3_1);
    assert_eq!(connect.client_id, "old-client");
    let Packet::Publish(publish) =
        decode_one(MOSQUITTO_V31_PUBLISH, ProtocolVersion::V3_1).unwrap()
    else {
        panic!("expected PUBLISH");
    };
    assert_eq!(publish.topic.as_str(), "t");
    assert_eq!(&publish.payload[..], b"x");
}

#[test]
fn mosquitto_connect_with_will_user_and_password_decodes_every_field() {
    let Packet::Connect(connect) = v311(MOSQUITTO_V311_CONNECT_WITH_WILL).unwrap() else {
        panic!("expected CONNECT");
    };
    let will = connect.will.as_ref().expect("will");
    assert_eq!(will.topic.as_str(), "dev/status");
    assert_eq!(&will.payload[..], b"offline");
    assert_eq!(will.qos, QoS::AtLeastOnce);
    assert!(will.retain);
    assert_eq!(connect.username.as_deref(), Some("user"));
    assert_eq!(connect.password.as_deref(), Some(&b"secret"[..]));
}

#[test]
fn spec_v5_connect_example_decodes_flags_keep_alive_and_session_expiry() {
    let Packet::Connect(connect) = v5(SPEC_V5_CONNECT_EXAMPLE).unwrap() else {
        panic!("expected CONNECT");
    };
    assert!(connect.clean_start);
    assert_eq!(connect.keep_alive, 10);
    assert_eq!(connect.properties.session_expiry_interval, Some(10));
    let will = connect.will.as_ref().expect("will");
    assert_eq!(will.qos, QoS::AtLeastOnce);
    assert!(!will.retain);
    assert_eq!(connect.username.as_deref(), Some("u"));
}

#[test]
fn mosquitto_qos1_publish_payload_is_a_slice_of_the_input() {
    let mut buf = hex(MOSQUITTO_V311_PUBLISH_QOS1);
    let input_start = buf.as_ptr() as usize;
    let input_end = input_start + buf.len();
    let Some(Packet::Publish(publish)) = decode(&mut buf, ProtocolVersion::V3_1_1, MAX).unwrap()
    else {
        panic!("expected PUBLISH");
    };
    assert_eq!(publish.qos, PublishQos::AtLeastOnce(id(1)));
    assert_eq!(publish.topic.as_str(), "sensors/temp");
    assert_eq!(&publish.payload[..], b"21.5");
    let payload_at = publish.payload.as_ptr() as usize;
    assert!(
        (input_start..input_end).contains(&payload_at),
        "payload was copied"
    );
}

#[test]
fn mosquitto_5_publish_keeps_user_properties_content_type_and_expiry() {
    let Packet::Publish(publish) = v5(MOSQUITTO_V5_PUBLISH).unwrap() else {
        panic!("expected PUBLISH");
    };
    assert_eq!(
        publish.properties.user_properties,
        vec![("a".to_owned(), "b".to_owned())]
    );
    assert_eq!(
        publish.properties.content_type.as_deref(),
        Some("text/plain")
    );
    assert_eq!(publish.properties.message_expiry_interval, Some(60));
    assert_eq!(&publish.payload[..], b"21.5");
}

#[test]
fn mosquitto_qos2_retained_publish_and_pubrel_decode() {
    let Packet::Publish(publish) = v311(MOSQUITTO_V311_PUBLISH_QOS2_RETAIN).unwrap() else {
        panic!("expected PUBLISH");
    };
    assert_eq!(publish.qos, PublishQos::ExactlyOnce(id(1)));
    assert!(publish.retain);
    assert!(!publish.dup);
    assert_eq!(
        v311(MOSQUITTO_V311_PUBREL).unwrap(),
        Packet::PubRel(PubRel::new(id(1)))
    );
}

#[test]
fn mosquitto_5_subscribe_carries_identifier_and_a_shared_filter() {
    let Packet::Subscribe(subscribe) = v5(MOSQUITTO_V5_SUBSCRIBE).unwrap() else {
        panic!("expected SUBSCRIBE");
    };
    assert_eq!(subscribe.packet_id, id(1));
    assert_eq!(
        subscribe.properties.subscription_identifier,
        NonZeroU32::new(7)
    );
    let filters: Vec<&str> = subscribe
        .subscriptions
        .iter()
        .map(|s| s.filter.as_str())
        .collect();
    assert_eq!(filters, ["sensors/+/temp", "$share/g/a/#"]);
    assert_eq!(subscribe.subscriptions[1].filter.share_name(), Some("g"));
    assert_eq!(subscribe.subscriptions[0].options.qos, QoS::AtLeastOnce);
}

#[test]
fn mosquitto_3_1_1_subscribe_requests_qos_2() {
    let Packet::Subscribe(subscribe) = v311(MOSQUITTO_V311_SUBSCRIBE).unwrap() else {
        panic!("expected SUBSCRIBE");
    };
    assert_eq!(subscribe.subscriptions.len(), 1);
    assert_eq!(subscribe.subscriptions[0].filter.as_str(), "sensors/#");
    assert_eq!(subscribe.subscriptions[0].options.qos, QoS::ExactlyOnce);
}

#[test]
fn empty_disconnect_is_a_normal_disconnection_in_both_versions() {
    assert_eq!(
        v311(MOSQUITTO_DISCONNECT).unwrap(),
        Packet::Disconnect(Disconnect::default())
    );
    assert_eq!(
        v5(MOSQUITTO_DISCONNECT).unwrap(),
        Packet::Disconnect(Disconnect::default())
    );
}

#[test]
fn v5_disconnect_with_reason_code_only_has_no_properties() {
    let Packet::Disconnect(disconnect) = v5("e0018e").unwrap() else {
        panic!("expected DISCONNECT");
    };
    assert_eq!(disconnect.reason_code, ReasonCode::SessionTakenOver);
    assert_eq!(disconnect.properties, DisconnectProperties::default());
}

#[test]
fn ping_packets_decode() {
    assert_eq!(v311("c000").unwrap(), Packet::PingReq);
    assert_eq!(v5("d000").unwrap(), Packet::PingResp);
}

#[test]
fn v5_puback_may_omit_reason_code_and_properties() {
    let expected = Packet::PubAck(PubAck::new(id(7)));
    assert_eq!(v5("40020007").unwrap(), expected);
    assert_eq!(v5("4003000700").unwrap(), expected);
    assert_eq!(v5("400400070000").unwrap(), expected);
    let Packet::PubAck(ack) = v5("4003000710").unwrap() else {
        panic!("expected PUBACK");
    };
    assert_eq!(ack.reason_code, ReasonCode::NoMatchingSubscribers);
}

#[test]
fn v5_puback_with_reason_string_decodes() {
    let Packet::PubAck(ack) = v5("400b0007870 71f00046e6f7065".replace(' ', "").as_str())
        .unwrap_or_else(|e| panic!("{e}"))
    else {
        panic!("expected PUBACK");
    };
    assert_eq!(ack.reason_code, ReasonCode::NotAuthorized);
    assert_eq!(ack.properties.reason_string.as_deref(), Some("nope"));
}

#[test]
fn v5_pubcomp_reports_an_unknown_packet_identifier() {
    let Packet::PubComp(pubcomp) = v5("7003000192").unwrap() else {
        panic!("expected PUBCOMP");
    };
    assert_eq!(pubcomp.packet_id, id(1));
    assert_eq!(pubcomp.reason_code, ReasonCode::PacketIdentifierNotFound);
    assert_eq!(
        v311("70020001").unwrap(),
        Packet::PubComp(PubComp::new(id(1)))
    );
}

#[test]
fn v3_connack_return_codes_map_to_reason_codes() {
    let Packet::ConnAck(connack) = v311("20020005").unwrap() else {
        panic!("expected CONNACK");
    };
    assert_eq!(connack.reason_code, ReasonCode::NotAuthorized);
    assert!(!connack.session_present);
    let Packet::ConnAck(connack) = v311("20020100").unwrap() else {
        panic!("expected CONNACK");
    };
    assert!(connack.session_present);
    assert_eq!(connack.reason_code, ReasonCode::Success);
}

#[test]
fn v3_suback_failure_code_decodes_as_unspecified_error() {
    let Packet::SubAck(suback) = v311("9004000a0180").unwrap() else {
        panic!("expected SUBACK");
    };
    assert_eq!(
        suback.reason_codes,
        [ReasonCode::GrantedQoS1, ReasonCode::UnspecifiedError]
    );
}

#[test]
fn v3_unsuback_has_only_a_packet_id() {
    let Packet::UnsubAck(unsuback) = v311("b0020003").unwrap() else {
        panic!("expected UNSUBACK");
    };
    assert_eq!(unsuback.packet_id, id(3));
    assert!(unsuback.reason_codes.is_empty());
}

#[test]
fn v5_unsubscribe_and_unsuback_decode() {
    let Packet::Unsubscribe(unsubscribe) = v5("a20700020000026162").expect_packet() else {
        panic!("expected UNSUBSCRIBE");
    };
    assert_eq!(unsubscribe.filters.len(), 1);
    assert_eq!(unsubscribe.filters[0].as_str(), "ab");
    let Packet::UnsubAck(unsuback) = v5("b00500020000 11".replace(' ', "").as_str()).unwrap()
    else {
        panic!("expected UNSUBACK");
    };
    assert_eq!(
        unsuback.reason_codes,
        [ReasonCode::Success, ReasonCode::NoSubscriptionExisted]
    );
}

trait UnwrapPacket {
    fn expect_packet(self) -> Packet;
}

impl UnwrapPacket for Result<Packet, DecodeError> {
    fn expect_packet(self) -> Packet {
        self.unwrap_or_else(|e| panic!("decode failed: {e}"))
    }
}

#[test]
fn v5_auth_decodes_method_and_data() {
    // AUTH, Continue authentication, method "SCRAM", data 0x01 0x02.
    let Packet::Auth(auth) = v5("f00f180d15000553435241 4d1600020102"
        .replace(' ', "")
        .as_str())
    .expect_packet() else {
        panic!("expected AUTH");
    };
    assert_eq!(auth.reason_code, ReasonCode::ContinueAuthentication);
    assert_eq!(
        auth.properties.authentication_method.as_deref(),
        Some("SCRAM")
    );
    assert_eq!(
        auth.properties.authentication_data,
        Some(Bytes::from_static(&[1, 2]))
    );
}

#[test]
fn v5_publish_with_empty_topic_and_alias_is_accepted() {
    // Topic "", QoS 0, properties: topic alias 3.
    let Packet::Publish(publish) = v5("3006000003230003").expect_packet() else {
        panic!("expected PUBLISH");
    };
    assert!(publish.topic.is_empty());
    assert_eq!(publish.properties.topic_alias, NonZeroU16::new(3));
}

#[test]
fn v5_publish_carries_several_subscription_identifiers() {
    // Topic "t", QoS 0, properties: subscription ids 1 and 300.
    let Packet::Publish(publish) =
        v5("300900017405 0b01 0bac02".replace(' ', "").as_str()).expect_packet()
    else {
        panic!("expected PUBLISH");
    };
    assert_eq!(
        publish.properties.subscription_identifiers,
        [NonZeroU32::new(1).unwrap(), NonZeroU32::new(300).unwrap()]
    );
}

#[test]
fn v5_publish_payload_format_and_correlation_data_decode() {
    let Packet::Publish(publish) =
        v5("300c0001740801010900 03 616263".replace(' ', "").as_str()).expect_packet()
    else {
        panic!("expected PUBLISH");
    };
    assert_eq!(
        publish.properties.payload_format_indicator,
        Some(PayloadFormat::Utf8)
    );
    assert_eq!(
        publish.properties.correlation_data,
        Some(Bytes::from_static(b"abc"))
    );
}

// ---- framing: need more bytes vs. malformed ----

#[test]
fn every_prefix_of_a_valid_packet_needs_more_bytes_and_leaves_the_buffer_alone() {
    for (fixture, version) in valid_fixtures() {
        let whole = hex(fixture);
        for cut in 0..whole.len() {
            let mut buf = BytesMut::from(&whole[..cut]);
            assert_eq!(
                decode(&mut buf, version, MAX),
                Ok(None),
                "{fixture} cut at {cut}"
            );
            assert_eq!(&buf[..], &whole[..cut], "buffer touched");
            if whole[0] >> 4 == 1 {
                assert_eq!(decode_connect(&mut buf, MAX), Ok(None));
                assert_eq!(&buf[..], &whole[..cut]);
            }
        }
    }
}

#[test]
fn two_packets_in_one_buffer_decode_one_at_a_time() {
    let mut buf = hex(MOSQUITTO_V311_PUBLISH_QOS1);
    buf.extend_from_slice(&hex(MOSQUITTO_DISCONNECT));
    buf.extend_from_slice(&hex("c0"));
    let version = ProtocolVersion::V3_1_1;
    assert!(matches!(
        decode(&mut buf, version, MAX),
        Ok(Some(Packet::Publish(_)))
    ));
    assert!(matches!(
        decode(&mut buf, version, MAX),
        Ok(Some(Packet::Disconnect(_)))
    ));
    assert_eq!(decode(&mut buf, version, MAX), Ok(None));
    assert_eq!(&buf[..], &[0xC0]);
}

#[test]
fn oversized_packet_is_refused_from_its_fixed_header_alone() {
    // PUBLISH declaring 256 MB - 1 of body; only the header has arrived.
    let mut buf = hex("30ffffff7f");
    let err = decode(&mut buf, ProtocolVersion::V5, 128 * 1024).unwrap_err();
    assert_eq!(
        err,
        DecodeError::PacketTooLarge {
            size: 1 + 4 + 268_435_455,
            max: 128 * 1024
        }
    );
    assert_eq!(err.reason_code(), ReasonCode::PacketTooLarge);
}

#[test]
fn packet_exactly_at_the_size_limit_is_accepted() {
    let fixture = hex(MOSQUITTO_V311_PUBLISH_QOS1);
    let size = fixture.len() as u32;
    let mut buf = fixture.clone();
    assert!(
        decode(&mut buf, ProtocolVersion::V3_1_1, size)
            .unwrap()
            .is_some()
    );
    let mut buf = fixture;
    assert!(matches!(
        decode(&mut buf, ProtocolVersion::V3_1_1, size - 1),
        Err(DecodeError::PacketTooLarge { .. })
    ));
}

#[test]
fn remaining_length_of_five_bytes_is_malformed() {
    assert_eq!(
        v311("30ffffffff01"),
        Err(malformed("variable byte integer is longer than 4 bytes"))
    );
}

#[test]
fn non_minimal_remaining_length_is_accepted() {
    assert_eq!(v311("c08000").unwrap(), Packet::PingReq);
}

// ---- fixed header rules ----

#[test]
fn packet_type_0_is_malformed() {
    assert_eq!(v311("0000"), Err(malformed("packet type 0 is reserved")));
}

#[test]
fn reserved_flags_must_match_the_spec() {
    assert_eq!(
        v311("41020001"),
        Err(malformed(
            "[MQTT-2.1.3-1] reserved fixed header flags are not 0"
        ))
    );
    assert_eq!(
        v311("60020001"),
        Err(malformed(
            "[MQTT-3.6.1-1] PUBREL fixed header flags are not 0010"
        ))
    );
    assert_eq!(
        v311("80060001000161 00".replace(' ', "").as_str()),
        Err(malformed(
            "[MQTT-3.8.1-1] SUBSCRIBE fixed header flags are not 0010"
        ))
    );
    assert_eq!(
        v311("a00500010001 61".replace(' ', "").as_str()),
        Err(malformed(
            "[MQTT-3.10.1-1] UNSUBSCRIBE fixed header flags are not 0010"
        ))
    );
    assert_eq!(
        v5("e100"),
        Err(malformed(
            "[MQTT-2.1.3-1] reserved fixed header flags are not 0"
        ))
    );
}

#[test]
fn reserved_flags_are_refused_before_the_body_arrives() {
    let mut buf = hex("4102");
    assert!(decode(&mut buf, ProtocolVersion::V3_1_1, MAX).is_err());
}

#[test]
fn publish_with_qos_3_is_malformed() {
    assert_eq!(
        v311("360500017400 01".replace(' ', "").as_str()),
        Err(malformed("[MQTT-3.3.1-4] PUBLISH has both QoS bits set"))
    );
}

#[test]
fn qos_0_publish_with_dup_is_malformed() {
    assert_eq!(
        v311("3803000174"),
        Err(malformed("[MQTT-3.3.1-2] DUP is set on a QoS 0 PUBLISH"))
    );
}

#[test]
fn auth_does_not_exist_before_mqtt_5() {
    assert_eq!(
        v311("f000"),
        Err(malformed("packet type 15 (AUTH) is reserved before MQTT 5"))
    );
}

#[test]
fn bytes_after_the_last_field_are_malformed() {
    assert_eq!(
        v311("c00100"),
        Err(malformed(
            "remaining length is longer than the packet's fields"
        ))
    );
    assert_eq!(
        v311("4003000100"),
        Err(malformed(
            "remaining length is longer than the packet's fields"
        ))
    );
}

#[test]
fn fields_past_the_remaining_length_are_malformed() {
    assert_eq!(
        v311("3204000a7401"),
        Err(malformed(
            "remaining length is shorter than the packet's fields"
        ))
    );
}

// ---- packet identifiers, topics and strings ----

#[test]
fn packet_identifier_zero_is_a_protocol_error() {
    let err = protocol("[MQTT-2.2.1-3] packet identifier is 0");
    assert_eq!(v311("32050001740000"), Err(err.clone()));
    assert_eq!(v311("40020000"), Err(err.clone()));
    assert_eq!(
        v311("82060000000161 00".replace(' ', "").as_str()),
        Err(err)
    );
}

#[test]
fn publish_topic_with_wildcard_is_topic_name_invalid() {
    let err = v311("3003000123").unwrap_err();
    assert_eq!(
        err,
        DecodeError::TopicNameInvalid {
            detail: "[MQTT-3.3.2-2] topic name contains a wildcard"
        }
    );
    assert_eq!(err.reason_code(), ReasonCode::TopicNameInvalid);
    assert!(v5("300400012b00").is_err());
}

#[test]
fn empty_topic_is_invalid_in_3_1_1_and_needs_an_alias_in_5() {
    assert_eq!(
        v311("30020000"),
        Err(DecodeError::TopicNameInvalid {
            detail: "[MQTT-4.7.3-1] topic name is empty"
        })
    );
    assert_eq!(
        v5("3003000000"),
        Err(protocol("topic name is empty and there is no topic alias"))
    );
}

#[test]
fn topic_alias_zero_is_topic_alias_invalid() {
    let err = v5("3007000174032300 00".replace(' ', "").as_str()).unwrap_err();
    assert_eq!(
        err,
        DecodeError::TopicAliasInvalid {
            detail: "[MQTT-3.3.2-8] topic alias is 0"
        }
    );
    assert_eq!(err.reason_code(), ReasonCode::TopicAliasInvalid);
}

#[test]
fn strings_with_null_surrogates_or_bad_utf8_are_malformed() {
    assert_eq!(
        v311("3003000100"),
        Err(malformed("[MQTT-1.5.4-2] string contains U+0000"))
    );
    assert_eq!(
        v311("300500 03 eda080".replace(' ', "").as_str()),
        Err(malformed("[MQTT-1.5.4-1] string is not well-formed UTF-8"))
    );
    assert_eq!(
        v311("30040002c080"),
        Err(malformed("[MQTT-1.5.4-1] string is not well-formed UTF-8"))
    );
}

#[test]
fn byte_order_mark_in_a_topic_is_kept() {
    let Packet::Publish(publish) = v311("30050003efbbbf").unwrap() else {
        panic!("expected PUBLISH");
    };
    assert_eq!(publish.topic.as_str(), "\u{FEFF}");
}

// ---- CONNECT ----

/// A 3.1.1 CONNECT with `flags` and client id "c", followed by `rest`.
fn connect_v311(flags: u8, rest: &str) -> String {
    let body = format!("00044d51545404{flags:02x}003c000163{rest}");
    format!("10{:02x}{body}", body.len() / 2)
}

#[test]
fn connect_reserved_flag_is_malformed() {
    assert_eq!(
        v311(&connect_v311(0x03, "")),
        Err(malformed("[MQTT-3.1.2-3] CONNECT reserved flag is not 0"))
    );
}

#[test]
fn will_qos_3_is_malformed() {
    assert_eq!(
        v311(&connect_v311(0x1E, "000174000178")),
        Err(malformed("[MQTT-3.1.2-12] will QoS is 3"))
    );
}

#[test]
fn will_qos_or_retain_without_a_will_is_malformed() {
    assert_eq!(
        v311(&connect_v311(0x0A, "")),
        Err(malformed("[MQTT-3.1.2-11] will QoS is set without a will"))
    );
    assert_eq!(
        v311(&connect_v311(0x22, "")),
        Err(malformed(
            "[MQTT-3.1.2-13] will retain is set without a will"
        ))
    );
}

#[test]
fn will_topic_with_wildcard_is_topic_name_invalid() {
    assert!(matches!(
        v311(&connect_v311(0x06, "00012b000178")),
        Err(DecodeError::TopicNameInvalid { .. })
    ));
}

#[test]
fn password_without_user_name_is_malformed_in_3_1_1_only() {
    assert_eq!(
        v311(&connect_v311(0x42, "000170")),
        Err(malformed(
            "[MQTT-3.1.2-22] (3.1.1) password flag is set without the user name flag"
        ))
    );
    // MQTT 5: flags 0x42, no properties, client id "c", password "p".
    let Packet::Connect(connect) = v5("101100044d5154540542003c00000163000170").expect_packet()
    else {
        panic!("expected CONNECT");
    };
    assert_eq!(connect.username, None);
    assert_eq!(connect.password.as_deref(), Some(&b"p"[..]));
}

#[test]
fn unknown_protocol_level_is_unsupported_protocol_version() {
    let mut buf = hex("100d00044d5154540602003c000163");
    let err = decode_connect(&mut buf, MAX).unwrap_err();
    assert_eq!(err, DecodeError::UnsupportedProtocolVersion { level: 6 });
    assert_eq!(err.reason_code(), ReasonCode::UnsupportedProtocolVersion);
}

#[test]
fn unknown_protocol_name_is_a_protocol_error() {
    let mut buf = hex("100d00044d5154580402003c000163");
    assert_eq!(
        decode_connect(&mut buf, MAX),
        Err(protocol(
            "[MQTT-3.1.2-1] protocol name is neither MQTT nor MQIsdp"
        ))
    );
}

#[test]
fn first_packet_other_than_connect_is_a_protocol_error_from_its_first_byte() {
    let mut buf = hex("c0");
    assert_eq!(
        decode_connect(&mut buf, MAX),
        Err(protocol("[MQTT-3.1.0-1] first packet is not CONNECT"))
    );
}

#[test]
fn connect_with_bytes_after_the_password_is_malformed() {
    assert!(matches!(
        v311(&connect_v311(0x02, "00")),
        Err(DecodeError::Malformed { .. })
    ));
}

// ---- CONNACK ----

#[test]
fn v3_1_connack_acknowledge_byte_is_ignored() {
    let Packet::ConnAck(connack) = decode_one("20020100", ProtocolVersion::V3_1).unwrap() else {
        panic!("expected CONNACK");
    };
    assert!(!connack.session_present);
}

#[test]
fn connack_reserved_flags_are_malformed() {
    assert_eq!(
        v311("20020200"),
        Err(malformed("[MQTT-3.2.2-1] CONNACK reserved flags are not 0"))
    );
}

#[test]
fn session_present_on_a_refused_connection_is_a_protocol_error() {
    assert_eq!(
        v5("2003018700"),
        Err(protocol(
            "[MQTT-3.2.2-6] session present is set on a refused connection"
        ))
    );
}

#[test]
fn connack_return_code_6_is_invalid_in_3_1_1() {
    assert_eq!(
        v311("20020006"),
        Err(DecodeError::InvalidReasonCode {
            packet: PacketType::ConnAck,
            code: 6
        })
    );
}

#[test]
fn connack_maximum_qos_2_is_a_protocol_error() {
    assert_eq!(
        v5("200500000224 02".replace(' ', "").as_str()),
        Err(DecodeError::InvalidPropertyValue {
            property: PropertyId::MaximumQoS,
            detail: "maximum QoS is neither 0 nor 1"
        })
    );
}

// ---- reason codes ----

#[test]
fn reason_code_not_listed_for_the_packet_is_malformed() {
    let err = v5("4003000101").unwrap_err();
    assert_eq!(
        err,
        DecodeError::InvalidReasonCode {
            packet: PacketType::PubAck,
            code: 0x01
        }
    );
    assert_eq!(err.reason_code(), ReasonCode::MalformedPacket);
    assert!(v5("e001ff").is_err());
    assert!(v5("f00101").is_err());
}

// ---- properties ----

#[test]
fn duplicate_property_is_a_protocol_error() {
    // PUBLISH "t" with two message expiry intervals.
    let err = v5("300e0001740a020000000102000000 02"
        .replace(' ', "")
        .as_str())
    .unwrap_err();
    assert_eq!(
        err,
        DecodeError::DuplicateProperty {
            property: PropertyId::MessageExpiryInterval
        }
    );
    assert_eq!(err.reason_code(), ReasonCode::ProtocolError);
}

#[test]
fn user_properties_may_repeat_and_keep_their_order() {
    let Packet::PubAck(ack) = v5("40120001000e 2600016b000131 2600016b000132"
        .replace(' ', "")
        .as_str())
    .expect_packet() else {
        panic!("expected PUBACK");
    };
    assert_eq!(
        ack.properties.user_properties,
        [
            ("k".to_owned(), "1".to_owned()),
            ("k".to_owned(), "2".to_owned())
        ]
    );
}

#[test]
fn property_not_allowed_in_the_packet_is_malformed() {
    // PUBLISH "t" with Server Keep Alive.
    let err = v5("30070001740313000a").unwrap_err();
    assert_eq!(
        err,
        DecodeError::PropertyNotAllowed {
            property: PropertyId::ServerKeepAlive,
            packet: PacketType::Publish
        }
    );
    assert_eq!(err.reason_code(), ReasonCode::MalformedPacket);
}

#[test]
fn unknown_property_identifier_is_malformed() {
    assert_eq!(
        v5("3006000174020400"),
        Err(DecodeError::UnknownProperty { id: 0x04 })
    );
}

#[test]
fn property_value_running_past_the_property_length_is_malformed() {
    // Property length 2, but a message expiry interval needs 5 bytes.
    assert_eq!(
        v5("300900017402020000000a"),
        Err(malformed("property value runs past the property length"))
    );
}

#[test]
fn property_length_running_past_the_packet_is_malformed() {
    assert_eq!(
        v5("300400017409"),
        Err(malformed(
            "remaining length is shorter than the packet's fields"
        ))
    );
}

#[test]
fn out_of_range_property_values_are_protocol_errors() {
    let invalid = |property, detail| Err(DecodeError::InvalidPropertyValue { property, detail });
    assert_eq!(
        v5("300600017402 0102".replace(' ', "").as_str()),
        invalid(
            PropertyId::PayloadFormatIndicator,
            "payload format indicator is neither 0 nor 1"
        )
    );
    assert_eq!(
        v5("300700017403 0b00 00".replace(' ', "").as_str()),
        invalid(
            PropertyId::SubscriptionIdentifier,
            "subscription identifier is 0"
        )
    );
    assert_eq!(
        v5("300800017404 08 00012b".replace(' ', "").as_str()),
        invalid(
            PropertyId::ResponseTopic,
            "[MQTT-3.3.2-14] response topic is empty or contains a wildcard"
        )
    );
    // CONNECT with receive maximum 0.
    assert_eq!(
        v5("101100044d5154540502003c03210000000163"),
        invalid(PropertyId::ReceiveMaximum, "value is 0")
    );
    // CONNECT with request problem information 2.
    assert_eq!(
        v5("101000044d5154540502003c021702000163"),
        invalid(
            PropertyId::RequestProblemInformation,
            "value is neither 0 nor 1"
        )
    );
}

#[test]
fn authentication_data_without_a_method_is_a_protocol_error() {
    assert_eq!(
        v5("101300044d5154540502003c05160002aabb000163"),
        Err(DecodeError::InvalidPropertyValue {
            property: PropertyId::AuthenticationData,
            detail: "authentication data without an authentication method"
        })
    );
}

// ---- SUBSCRIBE / UNSUBSCRIBE ----

#[test]
fn subscribe_without_filters_is_a_protocol_error() {
    assert_eq!(
        v311("82020001"),
        Err(protocol("[MQTT-3.8.3-2] SUBSCRIBE has no topic filter"))
    );
    assert_eq!(
        v5("8203000100"),
        Err(protocol("[MQTT-3.8.3-2] SUBSCRIBE has no topic filter"))
    );
}

#[test]
fn unsubscribe_without_filters_is_a_protocol_error() {
    assert_eq!(
        v311("a2020001"),
        Err(protocol("[MQTT-3.10.3-2] UNSUBSCRIBE has no topic filter"))
    );
}

#[test]
fn subscription_option_reserved_bits_are_malformed() {
    assert_eq!(
        v5("8207000100000161 40".replace(' ', "").as_str()),
        Err(malformed(
            "[MQTT-3.8.3-5] reserved bits of the subscription options are set"
        ))
    );
    assert_eq!(
        v311("820600010001 61 04".replace(' ', "").as_str()),
        Err(malformed(
            "[MQTT-3-8.3-4] (3.1.1) reserved bits of the requested QoS byte are set"
        ))
    );
}

#[test]
fn subscription_qos_3_and_retain_handling_3_are_rejected() {
    assert_eq!(
        v311("82060001000161 03".replace(' ', "").as_str()),
        Err(malformed("[MQTT-3-8.3-4] (3.1.1) requested QoS is 3"))
    );
    assert_eq!(
        v5("8207000100000161 03".replace(' ', "").as_str()),
        Err(protocol("subscription maximum QoS is 3"))
    );
    assert_eq!(
        v5("8207000100000161 30".replace(' ', "").as_str()),
        Err(protocol("retain handling is 3"))
    );
}

#[test]
fn no_local_on_a_shared_subscription_is_a_protocol_error() {
    // "$share/g/a" with No Local.
    assert_eq!(
        v5("821000010000 0a 2473686172652f672f61 04"
            .replace(' ', "")
            .as_str()),
        Err(protocol(
            "[MQTT-3.8.3-4] no local is set on a shared subscription"
        ))
    );
}

#[test]
fn v5_subscription_options_decode_every_bit() {
    // Filter "a": QoS 2, No Local, Retain As Published, Retain Handling 2.
    let Packet::Subscribe(subscribe) =
        v5("8207000100000161 2e".replace(' ', "").as_str()).expect_packet()
    else {
        panic!("expected SUBSCRIBE");
    };
    assert_eq!(
        subscribe.subscriptions[0].options,
        SubscriptionOptions {
            qos: QoS::ExactlyOnce,
            no_local: true,
            retain_as_published: true,
            retain_handling: RetainHandling::DoNotSend,
        }
    );
}

#[test]
fn malformed_topic_filter_is_malformed() {
    assert_eq!(
        v311("8208000100 03232f61 00".replace(' ', "").as_str()),
        Err(malformed(
            "[MQTT-4.7.1-1] '#' is not the last level of the topic filter"
        ))
    );
}
