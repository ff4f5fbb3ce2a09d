//! Bytes to packets.
//!
//! Framing first: the fixed header is read without consuming anything, its type and flags are
//! checked and the declared size is compared with the limit before a single body byte is
//! awaited. Only a complete packet is split off the buffer; its body is then parsed by a
//! [`Reader`] bounded by the remaining length, so "need more bytes" (`Ok(None)`) can never be
//! confused with "malformed" (`Err`).

use bytes::{Buf, Bytes, BytesMut};

use crate::error::DecodeError;
use crate::packet::{
    Auth, ConnAck, Connect, Disconnect, Packet, PacketId, PacketType, ProtocolVersion, PubAck,
    PubComp, PubRec, PubRel, Publish, PublishQos, QoS, RetainHandling, SubAck, Subscribe,
    Subscription, SubscriptionOptions, UnsubAck, Unsubscribe, Will,
};
use crate::property::{
    AckProperties, AuthProperties, ConnAckProperties, ConnectProperties, DisconnectProperties,
    PublishProperties, SubscribeProperties, UnsubscribeProperties, WillProperties,
    decode_properties,
};
use crate::reason::ReasonCode;
use crate::topic::{TopicFilter, TopicName};
use crate::wire::{Reader, Vbi, check_mqtt_str, read_vbi};

/// Decodes one packet of a connection whose version is known.
///
/// Returns `Ok(None)` and leaves `buf` untouched when it does not yet hold a whole packet;
/// otherwise consumes exactly one packet. `max_packet_size` bounds the whole packet (fixed
/// header included, as MQTT 5 Maximum Packet Size does) and is checked as soon as the fixed
/// header is complete. After an error the connection must be closed: the bytes of a packet
/// found malformed after framing have been consumed.
pub fn decode(
    buf: &mut BytesMut,
    version: ProtocolVersion,
    max_packet_size: u32,
) -> Result<Option<Packet>, DecodeError> {
    let Some((packet_type, flags, body)) = frame(buf, Some(version), max_packet_size)? else {
        return Ok(None);
    };
    decode_body(packet_type, flags, body, version).map(Some)
}

/// Decodes the first packet of a connection, which must be a CONNECT and which sets the
/// version ([`Connect::protocol_version`]) for [`decode`] from then on.
///
/// Same buffer contract as [`decode`]. Anything but CONNECT is a protocol error
/// ([MQTT-3.1.0-1]), detected from the first byte.
pub fn decode_connect(
    buf: &mut BytesMut,
    max_packet_size: u32,
) -> Result<Option<Connect>, DecodeError> {
    if let Some(first) = buf.first()
        && first >> 4 != PacketType::Connect as u8
    {
        return Err(DecodeError::protocol(
            "[MQTT-3.1.0-1] first packet is not CONNECT",
        ));
    }
    let Some((_, _, body)) = frame(buf, None, max_packet_size)? else {
        return Ok(None);
    };
    let mut r = body_reader(body);
    let connect = connect(&mut r)?;
    end(&r)?;
    Ok(Some(connect))
}

/// Splits one whole packet off `buf`: its type, its flag nibble and its body.
/// `version` is `None` before CONNECT has fixed it.
fn frame(
    buf: &mut BytesMut,
    version: Option<ProtocolVersion>,
    max_packet_size: u32,
) -> Result<Option<(PacketType, u8, Bytes)>, DecodeError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let (packet_type, flags) = fixed_header(first, version)?;
    let (remaining, len_bytes) = match read_vbi(&buf[1..])? {
        Vbi::Value(value, len) => (value, len),
        Vbi::Incomplete => return Ok(None),
    };
    let header = 1 + len_bytes;
    let total = header as u64 + u64::from(remaining);
    if total > u64::from(max_packet_size) {
        return Err(DecodeError::PacketTooLarge {
            size: total,
            max: max_packet_size,
        });
    }
    // `total` is at most `max_packet_size`, a u32, so it fits in usize.
    let total = total as usize;
    if buf.len() < total {
        return Ok(None);
    }
    let mut packet = buf.split_to(total).freeze();
    packet.advance(header);
    Ok(Some((packet_type, flags, packet)))
}

/// Checks the first byte: a defined packet type and the flags the spec fixes for it.
fn fixed_header(
    first: u8,
    version: Option<ProtocolVersion>,
) -> Result<(PacketType, u8), DecodeError> {
    let flags = first & 0x0F;
    let packet_type = PacketType::from_nibble(first >> 4)
        .ok_or(DecodeError::malformed("packet type 0 is reserved"))?;
    let expected = match packet_type {
        PacketType::Publish => {
            if (flags >> 1) & 0b11 == 3 {
                return Err(DecodeError::malformed(
                    "[MQTT-3.3.1-4] PUBLISH has both QoS bits set",
                ));
            }
            return Ok((packet_type, flags));
        }
        PacketType::Auth if version.is_some_and(|v| !v.is_v5()) => {
            return Err(DecodeError::malformed(
                "packet type 15 (AUTH) is reserved before MQTT 5",
            ));
        }
        PacketType::PubRel => (
            0b0010,
            "[MQTT-3.6.1-1] PUBREL fixed header flags are not 0010",
        ),
        PacketType::Subscribe => (
            0b0010,
            "[MQTT-3.8.1-1] SUBSCRIBE fixed header flags are not 0010",
        ),
        PacketType::Unsubscribe => (
            0b0010,
            "[MQTT-3.10.1-1] UNSUBSCRIBE fixed header flags are not 0010",
        ),
        _ => (0, "[MQTT-2.1.3-1] reserved fixed header flags are not 0"),
    };
    if flags != expected.0 {
        return Err(DecodeError::malformed(expected.1));
    }
    Ok((packet_type, flags))
}

fn body_reader(body: Bytes) -> Reader {
    Reader::new(body, "remaining length is shorter than the packet's fields")
}

/// Rejects bytes left after the last field.
fn end(r: &Reader) -> Result<(), DecodeError> {
    if r.is_empty() {
        Ok(())
    } else {
        Err(DecodeError::malformed(
            "remaining length is longer than the packet's fields",
        ))
    }
}

fn decode_body(
    packet_type: PacketType,
    flags: u8,
    body: Bytes,
    version: ProtocolVersion,
) -> Result<Packet, DecodeError> {
    let v5 = version.is_v5();
    let mut r = body_reader(body);
    let packet = match packet_type {
        PacketType::Connect => Packet::Connect(Box::new(connect(&mut r)?)),
        PacketType::ConnAck => Packet::ConnAck(Box::new(connack(&mut r, version)?)),
        PacketType::Publish => Packet::Publish(publish(&mut r, flags, v5)?),
        PacketType::PubAck => {
            let (packet_id, reason_code, properties) = publish_response(&mut r, v5, packet_type)?;
            Packet::PubAck(PubAck {
                packet_id,
                reason_code,
                properties,
            })
        }
        PacketType::PubRec => {
            let (packet_id, reason_code, properties) = publish_response(&mut r, v5, packet_type)?;
            Packet::PubRec(PubRec {
                packet_id,
                reason_code,
                properties,
            })
        }
        PacketType::PubRel => {
            let (packet_id, reason_code, properties) = publish_response(&mut r, v5, packet_type)?;
            Packet::PubRel(PubRel {
                packet_id,
                reason_code,
                properties,
            })
        }
        PacketType::PubComp => {
            let (packet_id, reason_code, properties) = publish_response(&mut r, v5, packet_type)?;
            Packet::PubComp(PubComp {
                packet_id,
                reason_code,
                properties,
            })
        }
        PacketType::Subscribe => Packet::Subscribe(subscribe(&mut r, v5)?),
        PacketType::SubAck => Packet::SubAck(suback(&mut r, v5)?),
        PacketType::Unsubscribe => Packet::Unsubscribe(unsubscribe(&mut r, v5)?),
        PacketType::UnsubAck => Packet::UnsubAck(unsuback(&mut r, v5)?),
        PacketType::PingReq => Packet::PingReq,
        PacketType::PingResp => Packet::PingResp,
        PacketType::Disconnect => Packet::Disconnect(disconnect(&mut r, v5)?),
        PacketType::Auth => Packet::Auth(auth(&mut r)?),
    };
    end(&r)?;
    Ok(packet)
}

fn packet_id(r: &mut Reader) -> Result<PacketId, DecodeError> {
    PacketId::new(r.u16()?).ok_or(DecodeError::protocol(
        "[MQTT-2.2.1-3] packet identifier is 0",
    ))
}

fn reason_code(r: &mut Reader, packet: PacketType) -> Result<ReasonCode, DecodeError> {
    let code = r.u8()?;
    ReasonCode::from_u8(code)
        .filter(|reason| reason.is_valid_for(packet))
        .ok_or(DecodeError::InvalidReasonCode { packet, code })
}

fn topic_name(r: &mut Reader) -> Result<TopicName, DecodeError> {
    let raw = r.binary()?;
    TopicName::new_allow_empty(check_mqtt_str(&raw)?)
}

fn topic_filter(r: &mut Reader) -> Result<TopicFilter, DecodeError> {
    let raw = r.binary()?;
    TopicFilter::new(check_mqtt_str(&raw)?)
}

fn connect(r: &mut Reader) -> Result<Connect, DecodeError> {
    // Compared as raw bytes: any other name, UTF-8 or not, is refused below.
    let name = r.binary()?;
    let level = r.u8()?;
    let protocol_version = match (&name[..], level) {
        (b"MQTT", 4) => ProtocolVersion::V3_1_1,
        (b"MQTT", 5) => ProtocolVersion::V5,
        (b"MQIsdp", 3) => ProtocolVersion::V3_1,
        (b"MQTT" | b"MQIsdp", level) => {
            return Err(DecodeError::UnsupportedProtocolVersion { level });
        }
        _ => {
            return Err(DecodeError::protocol(
                "[MQTT-3.1.2-1] protocol name is neither MQTT nor MQIsdp",
            ));
        }
    };
    let v5 = protocol_version.is_v5();

    let flags = r.u8()?;
    if flags & 0x01 != 0 {
        return Err(DecodeError::malformed(
            "[MQTT-3.1.2-3] CONNECT reserved flag is not 0",
        ));
    }
    let clean_start = flags & 0x02 != 0;
    let will_flag = flags & 0x04 != 0;
    let will_qos_bits = (flags >> 3) & 0b11;
    let will_retain = flags & 0x20 != 0;
    let password_flag = flags & 0x40 != 0;
    let username_flag = flags & 0x80 != 0;
    let will_qos = QoS::from_u8(will_qos_bits)
        .ok_or(DecodeError::malformed("[MQTT-3.1.2-12] will QoS is 3"))?;
    if !will_flag && will_qos != QoS::AtMostOnce {
        return Err(DecodeError::malformed(
            "[MQTT-3.1.2-11] will QoS is set without a will",
        ));
    }
    if !will_flag && will_retain {
        return Err(DecodeError::malformed(
            "[MQTT-3.1.2-13] will retain is set without a will",
        ));
    }
    if !v5 && password_flag && !username_flag {
        return Err(DecodeError::malformed(
            "[MQTT-3.1.2-22] (3.1.1) password flag is set without the user name flag",
        ));
    }

    let keep_alive = r.u16()?;
    let properties = if v5 {
        decode_properties::<ConnectProperties>(r, PacketType::Connect)?
    } else {
        ConnectProperties::default()
    };
    let client_id = r.string()?;
    let will = if will_flag {
        let properties = if v5 {
            decode_properties::<WillProperties>(r, PacketType::Connect)?
        } else {
            WillProperties::default()
        };
        let topic = topic_name(r)?;
        if topic.is_empty() {
            return Err(DecodeError::TopicNameInvalid {
                detail: "[MQTT-4.7.3-1] will topic is empty",
            });
        }
        let payload = r.binary()?;
        Some(Will {
            topic,
            payload,
            qos: will_qos,
            retain: will_retain,
            properties,
        })
    } else {
        None
    };
    let username = if username_flag {
        Some(r.string()?)
    } else {
        None
    };
    let password = if password_flag {
        Some(r.binary()?)
    } else {
        None
    };
    Ok(Connect {
        protocol_version,
        clean_start,
        keep_alive,
        client_id,
        will,
        username,
        password,
        properties,
    })
}

fn connack(r: &mut Reader, version: ProtocolVersion) -> Result<ConnAck, DecodeError> {
    let flags = r.u8()?;
    // MQTT 3.1 has no acknowledge flags: the byte is reserved and carries nothing.
    let flags = if version == ProtocolVersion::V3_1 {
        0
    } else {
        flags
    };
    if flags & 0xFE != 0 {
        return Err(DecodeError::malformed(
            "[MQTT-3.2.2-1] CONNACK reserved flags are not 0",
        ));
    }
    let session_present = flags & 0x01 != 0;
    let (reason_code, properties) = if version.is_v5() {
        let reason_code = reason_code(r, PacketType::ConnAck)?;
        let properties = decode_properties::<ConnAckProperties>(r, PacketType::ConnAck)?;
        (reason_code, properties)
    } else {
        let code = r.u8()?;
        let reason_code =
            ReasonCode::from_connack_return_code(code).ok_or(DecodeError::InvalidReasonCode {
                packet: PacketType::ConnAck,
                code,
            })?;
        (reason_code, ConnAckProperties::default())
    };
    if session_present && reason_code != ReasonCode::Success {
        return Err(DecodeError::protocol(
            "[MQTT-3.2.2-6] session present is set on a refused connection",
        ));
    }
    Ok(ConnAck {
        session_present,
        reason_code,
        properties,
    })
}

fn publish(r: &mut Reader, flags: u8, v5: bool) -> Result<Publish, DecodeError> {
    let dup = flags & 0x08 != 0;
    let retain = flags & 0x01 != 0;
    let qos = QoS::from_u8((flags >> 1) & 0b11).ok_or(DecodeError::malformed(
        "[MQTT-3.3.1-4] PUBLISH has both QoS bits set",
    ))?;
    if dup && qos == QoS::AtMostOnce {
        return Err(DecodeError::malformed(
            "[MQTT-3.3.1-2] DUP is set on a QoS 0 PUBLISH",
        ));
    }
    let topic = topic_name(r)?;
    let qos = match qos {
        QoS::AtMostOnce => PublishQos::AtMostOnce,
        QoS::AtLeastOnce => PublishQos::AtLeastOnce(packet_id(r)?),
        QoS::ExactlyOnce => PublishQos::ExactlyOnce(packet_id(r)?),
    };
    let properties = if v5 {
        decode_properties::<PublishProperties>(r, PacketType::Publish)?
    } else {
        PublishProperties::default()
    };
    if topic.is_empty() {
        if !v5 {
            return Err(DecodeError::TopicNameInvalid {
                detail: "[MQTT-4.7.3-1] topic name is empty",
            });
        }
        if properties.topic_alias.is_none() {
            return Err(DecodeError::protocol(
                "topic name is empty and there is no topic alias",
            ));
        }
    }
    Ok(Publish {
        dup,
        qos,
        retain,
        topic,
        properties,
        payload: r.rest(),
    })
}

/// PUBACK, PUBREC, PUBREL and PUBCOMP share one layout (§3.4–3.7): in MQTT 5 the reason code
/// and the properties may each be left off the end.
fn publish_response(
    r: &mut Reader,
    v5: bool,
    packet: PacketType,
) -> Result<(PacketId, ReasonCode, AckProperties), DecodeError> {
    let id = packet_id(r)?;
    if !v5 || r.is_empty() {
        return Ok((id, ReasonCode::Success, AckProperties::default()));
    }
    let code = reason_code(r, packet)?;
    let properties = if r.is_empty() {
        AckProperties::default()
    } else {
        decode_properties::<AckProperties>(r, packet)?
    };
    Ok((id, code, properties))
}

fn subscribe(r: &mut Reader, v5: bool) -> Result<Subscribe, DecodeError> {
    let packet_id = packet_id(r)?;
    let properties = if v5 {
        decode_properties::<SubscribeProperties>(r, PacketType::Subscribe)?
    } else {
        SubscribeProperties::default()
    };
    let mut subscriptions = Vec::new();
    while !r.is_empty() {
        let filter = topic_filter(r)?;
        let options = subscription_options(r.u8()?, v5)?;
        if options.no_local && filter.is_shared() {
            return Err(DecodeError::protocol(
                "[MQTT-3.8.3-4] no local is set on a shared subscription",
            ));
        }
        subscriptions.push(Subscription { filter, options });
    }
    if subscriptions.is_empty() {
        return Err(DecodeError::protocol(
            "[MQTT-3.8.3-2] SUBSCRIBE has no topic filter",
        ));
    }
    Ok(Subscribe {
        packet_id,
        subscriptions,
        properties,
    })
}

fn subscription_options(byte: u8, v5: bool) -> Result<SubscriptionOptions, DecodeError> {
    if !v5 {
        if byte & 0xFC != 0 {
            return Err(DecodeError::malformed(
                "[MQTT-3-8.3-4] (3.1.1) reserved bits of the requested QoS byte are set",
            ));
        }
        let qos = QoS::from_u8(byte).ok_or(DecodeError::malformed(
            "[MQTT-3-8.3-4] (3.1.1) requested QoS is 3",
        ))?;
        return Ok(SubscriptionOptions {
            qos,
            ..SubscriptionOptions::default()
        });
    }
    if byte & 0xC0 != 0 {
        return Err(DecodeError::malformed(
            "[MQTT-3.8.3-5] reserved bits of the subscription options are set",
        ));
    }
    let qos =
        QoS::from_u8(byte & 0b11).ok_or(DecodeError::protocol("subscription maximum QoS is 3"))?;
    let retain_handling = match (byte >> 4) & 0b11 {
        0 => RetainHandling::SendAtSubscribe,
        1 => RetainHandling::SendAtSubscribeIfNew,
        2 => RetainHandling::DoNotSend,
        _ => {
            return Err(DecodeError::protocol("retain handling is 3"));
        }
    };
    Ok(SubscriptionOptions {
        qos,
        no_local: byte & 0x04 != 0,
        retain_as_published: byte & 0x08 != 0,
        retain_handling,
    })
}

fn suback(r: &mut Reader, v5: bool) -> Result<SubAck, DecodeError> {
    let packet_id = packet_id(r)?;
    let properties = if v5 {
        decode_properties::<AckProperties>(r, PacketType::SubAck)?
    } else {
        AckProperties::default()
    };
    let mut reason_codes = Vec::with_capacity(r.remaining());
    while !r.is_empty() {
        let code = if v5 {
            reason_code(r, PacketType::SubAck)?
        } else {
            match r.u8()? {
                0x00 => ReasonCode::Success,
                0x01 => ReasonCode::GrantedQoS1,
                0x02 => ReasonCode::GrantedQoS2,
                0x80 => ReasonCode::UnspecifiedError,
                code => {
                    return Err(DecodeError::InvalidReasonCode {
                        packet: PacketType::SubAck,
                        code,
                    });
                }
            }
        };
        reason_codes.push(code);
    }
    Ok(SubAck {
        packet_id,
        reason_codes,
        properties,
    })
}

fn unsubscribe(r: &mut Reader, v5: bool) -> Result<Unsubscribe, DecodeError> {
    let packet_id = packet_id(r)?;
    let properties = if v5 {
        decode_properties::<UnsubscribeProperties>(r, PacketType::Unsubscribe)?
    } else {
        UnsubscribeProperties::default()
    };
    let mut filters = Vec::new();
    while !r.is_empty() {
        filters.push(topic_filter(r)?);
    }
    if filters.is_empty() {
        return Err(DecodeError::protocol(
            "[MQTT-3.10.3-2] UNSUBSCRIBE has no topic filter",
        ));
    }
    Ok(Unsubscribe {
        packet_id,
        filters,
        properties,
    })
}

fn unsuback(r: &mut Reader, v5: bool) -> Result<UnsubAck, DecodeError> {
    let packet_id = packet_id(r)?;
    if !v5 {
        return Ok(UnsubAck {
            packet_id,
            reason_codes: Vec::new(),
            properties: AckProperties::default(),
        });
    }
    let properties = decode_properties::<AckProperties>(r, PacketType::UnsubAck)?;
    let mut reason_codes = Vec::with_capacity(r.remaining());
    while !r.is_empty() {
        reason_codes.push(reason_code(r, PacketType::UnsubAck)?);
    }
    Ok(UnsubAck {
        packet_id,
        reason_codes,
        properties,
    })
}

fn disconnect(r: &mut Reader, v5: bool) -> Result<Disconnect, DecodeError> {
    if !v5 || r.is_empty() {
        return Ok(Disconnect::default());
    }
    let reason_code = reason_code(r, PacketType::Disconnect)?;
    let properties = if r.is_empty() {
        DisconnectProperties::default()
    } else {
        decode_properties::<DisconnectProperties>(r, PacketType::Disconnect)?
    };
    Ok(Disconnect {
        reason_code,
        properties,
    })
}

fn auth(r: &mut Reader) -> Result<Auth, DecodeError> {
    if r.is_empty() {
        return Ok(Auth::default());
    }
    let reason_code = reason_code(r, PacketType::Auth)?;
    let properties = if r.is_empty() {
        AuthProperties::default()
    } else {
        decode_properties::<AuthProperties>(r, PacketType::Auth)?
    };
    Ok(Auth {
        reason_code,
        properties,
    })
}

#[cfg(test)]
mod tests;
