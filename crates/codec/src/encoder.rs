//! Packets to bytes.
//!
//! Each packet body is emitted twice through the same code: once into a [`Sizer`] to learn the
//! remaining length (and to reject fields the wire cannot carry), then straight into the output
//! buffer. No intermediate buffer is allocated; a PUBLISH payload is copied once, or not at all
//! with [`encode_publish_header`].

use bytes::{BufMut, BytesMut};

use crate::error::EncodeError;
use crate::packet::{
    Auth, ConnAck, Connect, Disconnect, Packet, PacketId, PacketType, ProtocolVersion, Publish,
    SubAck, Subscribe, SubscriptionOptions, UnsubAck, Unsubscribe,
};
use crate::property::{AckProperties, encode_properties};
use crate::reason::ReasonCode;
use crate::wire::{Sink, Sizer, VBI_MAX, put_vbi, vbi_len};

/// Appends `packet`, encoded for `version`, to `buf`.
///
/// MQTT 5-only content (properties, reason codes other than success) is left out for 3.x; see
/// the field docs for the mappings. Fails only for values the wire cannot carry; `buf` is left
/// unchanged then.
pub fn encode(
    packet: &Packet,
    version: ProtocolVersion,
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    let remaining = remaining_length(packet, version)?;
    buf.reserve(1 + vbi_len(remaining) + remaining as usize);
    buf.put_u8(first_byte(packet));
    put_vbi(buf, remaining);
    emit_body(packet, version, buf)
}

/// The number of bytes [`encode`] would append: the full packet size that MQTT 5 Maximum
/// Packet Size limits.
pub fn encoded_len(packet: &Packet, version: ProtocolVersion) -> Result<usize, EncodeError> {
    let remaining = remaining_length(packet, version)?;
    Ok(1 + vbi_len(remaining) + remaining as usize)
}

/// Appends everything of `publish` except its payload, for vectored writes: the caller sends
/// `publish.payload` right after these bytes. The remaining length counts the payload.
///
/// Fan-out can thus share one payload `Bytes` among all subscribers and write only a few dozen
/// header bytes per copy.
pub fn encode_publish_header(
    publish: &Publish,
    version: ProtocolVersion,
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    let mut sizer = Sizer::default();
    emit_publish_header(publish, version, &mut sizer)?;
    let remaining = checked_remaining(sizer.len + publish.payload.len())?;
    buf.reserve(1 + vbi_len(remaining) + sizer.len);
    buf.put_u8(publish_first_byte(publish));
    put_vbi(buf, remaining);
    emit_publish_header(publish, version, buf)
}

fn remaining_length(packet: &Packet, version: ProtocolVersion) -> Result<u32, EncodeError> {
    let mut sizer = Sizer::default();
    emit_body(packet, version, &mut sizer)?;
    checked_remaining(sizer.len)
}

fn checked_remaining(len: usize) -> Result<u32, EncodeError> {
    match u32::try_from(len) {
        Ok(len) if len <= VBI_MAX => Ok(len),
        _ => Err(EncodeError::ValueTooLarge {
            field: "remaining length",
            value: len as u64,
        }),
    }
}

fn publish_first_byte(publish: &Publish) -> u8 {
    (PacketType::Publish as u8) << 4
        | u8::from(publish.dup) << 3
        | u8::from(publish.qos.qos()) << 1
        | u8::from(publish.retain)
}

fn first_byte(packet: &Packet) -> u8 {
    match packet {
        Packet::Publish(publish) => publish_first_byte(publish),
        Packet::PubRel(_) | Packet::Subscribe(_) | Packet::Unsubscribe(_) => {
            (packet.packet_type() as u8) << 4 | 0b0010
        }
        _ => (packet.packet_type() as u8) << 4,
    }
}

fn emit_body<S: Sink>(
    packet: &Packet,
    version: ProtocolVersion,
    s: &mut S,
) -> Result<(), EncodeError> {
    let v5 = version.is_v5();
    match packet {
        Packet::Connect(connect) => emit_connect(connect, version, s),
        Packet::ConnAck(connack) => emit_connack(connack, version, s),
        Packet::Publish(publish) => {
            emit_publish_header(publish, version, s)?;
            s.raw(&publish.payload);
            Ok(())
        }
        Packet::PubAck(ack) => {
            emit_publish_response(ack.packet_id, ack.reason_code, &ack.properties, v5, s)
        }
        Packet::PubRec(ack) => {
            emit_publish_response(ack.packet_id, ack.reason_code, &ack.properties, v5, s)
        }
        Packet::PubRel(ack) => {
            emit_publish_response(ack.packet_id, ack.reason_code, &ack.properties, v5, s)
        }
        Packet::PubComp(ack) => {
            emit_publish_response(ack.packet_id, ack.reason_code, &ack.properties, v5, s)
        }
        Packet::Subscribe(subscribe) => emit_subscribe(subscribe, v5, s),
        Packet::SubAck(suback) => emit_suback(suback, v5, s),
        Packet::Unsubscribe(unsubscribe) => emit_unsubscribe(unsubscribe, v5, s),
        Packet::UnsubAck(unsuback) => emit_unsuback(unsuback, v5, s),
        Packet::PingReq | Packet::PingResp => Ok(()),
        Packet::Disconnect(disconnect) => emit_disconnect(disconnect, v5, s),
        Packet::Auth(auth) => {
            if !v5 {
                return Err(EncodeError::PacketNotInVersion {
                    packet: PacketType::Auth,
                    version,
                });
            }
            emit_auth(auth, s)
        }
    }
}

fn emit_connect<S: Sink>(
    connect: &Connect,
    version: ProtocolVersion,
    s: &mut S,
) -> Result<(), EncodeError> {
    if connect.protocol_version != version {
        return Err(EncodeError::ConnectVersionMismatch {
            connect: connect.protocol_version,
            requested: version,
        });
    }
    let v5 = version.is_v5();
    s.string("protocol name", version.protocol_name())?;
    s.u8(version.level());
    let mut flags = u8::from(connect.clean_start) << 1;
    if let Some(will) = &connect.will {
        flags |= 0x04 | u8::from(will.qos) << 3 | u8::from(will.retain) << 5;
    }
    if connect.password.is_some() {
        flags |= 0x40;
    }
    if connect.username.is_some() {
        flags |= 0x80;
    }
    s.u8(flags);
    s.u16(connect.keep_alive);
    if v5 {
        encode_properties(&connect.properties, s)?;
    }
    s.string("client identifier", &connect.client_id)?;
    if let Some(will) = &connect.will {
        if v5 {
            encode_properties(&will.properties, s)?;
        }
        s.string("will topic", &will.topic)?;
        s.binary("will payload", &will.payload)?;
    }
    if let Some(username) = &connect.username {
        s.string("user name", username)?;
    }
    if let Some(password) = &connect.password {
        s.binary("password", password)?;
    }
    Ok(())
}

fn emit_connack<S: Sink>(
    connack: &ConnAck,
    version: ProtocolVersion,
    s: &mut S,
) -> Result<(), EncodeError> {
    // MQTT 3.1 has no Session Present flag: the whole byte is reserved.
    let session_present = connack.session_present && version != ProtocolVersion::V3_1;
    s.u8(u8::from(session_present));
    if version.is_v5() {
        s.u8(connack.reason_code.into());
        encode_properties(&connack.properties, s)
    } else {
        s.u8(connack.reason_code.to_connack_return_code());
        Ok(())
    }
}

fn emit_publish_header<S: Sink>(
    publish: &Publish,
    version: ProtocolVersion,
    s: &mut S,
) -> Result<(), EncodeError> {
    s.string("topic name", &publish.topic)?;
    if let Some(id) = publish.qos.packet_id() {
        s.u16(id.get());
    }
    if version.is_v5() {
        encode_properties(&publish.properties, s)?;
    }
    Ok(())
}

/// PUBACK, PUBREC, PUBREL, PUBCOMP: MQTT 5 leaves off a Success code without properties.
fn emit_publish_response<S: Sink>(
    packet_id: PacketId,
    reason_code: ReasonCode,
    properties: &AckProperties,
    v5: bool,
    s: &mut S,
) -> Result<(), EncodeError> {
    s.u16(packet_id.get());
    if v5 && (reason_code != ReasonCode::Success || !properties.is_empty()) {
        s.u8(reason_code.into());
        if !properties.is_empty() {
            encode_properties(properties, s)?;
        }
    }
    Ok(())
}

fn options_byte(options: &SubscriptionOptions, v5: bool) -> u8 {
    let qos = u8::from(options.qos);
    if !v5 {
        return qos;
    }
    qos | u8::from(options.no_local) << 2
        | u8::from(options.retain_as_published) << 3
        | (options.retain_handling as u8) << 4
}

fn emit_subscribe<S: Sink>(subscribe: &Subscribe, v5: bool, s: &mut S) -> Result<(), EncodeError> {
    s.u16(subscribe.packet_id.get());
    if v5 {
        encode_properties(&subscribe.properties, s)?;
    }
    for subscription in &subscribe.subscriptions {
        s.string("topic filter", &subscription.filter)?;
        s.u8(options_byte(&subscription.options, v5));
    }
    Ok(())
}

fn emit_suback<S: Sink>(suback: &SubAck, v5: bool, s: &mut S) -> Result<(), EncodeError> {
    s.u16(suback.packet_id.get());
    if v5 {
        encode_properties(&suback.properties, s)?;
    }
    for code in &suback.reason_codes {
        let byte = match (v5, code.is_error()) {
            (true, _) | (false, false) => u8::from(*code),
            // 3.1.1 has a single failure return code.
            (false, true) => 0x80,
        };
        s.u8(byte);
    }
    Ok(())
}

fn emit_unsubscribe<S: Sink>(
    unsubscribe: &Unsubscribe,
    v5: bool,
    s: &mut S,
) -> Result<(), EncodeError> {
    s.u16(unsubscribe.packet_id.get());
    if v5 {
        encode_properties(&unsubscribe.properties, s)?;
    }
    for filter in &unsubscribe.filters {
        s.string("topic filter", filter)?;
    }
    Ok(())
}

fn emit_unsuback<S: Sink>(unsuback: &UnsubAck, v5: bool, s: &mut S) -> Result<(), EncodeError> {
    s.u16(unsuback.packet_id.get());
    if v5 {
        encode_properties(&unsuback.properties, s)?;
        for code in &unsuback.reason_codes {
            s.u8((*code).into());
        }
    }
    Ok(())
}

fn emit_disconnect<S: Sink>(
    disconnect: &Disconnect,
    v5: bool,
    s: &mut S,
) -> Result<(), EncodeError> {
    if !v5 || (disconnect.reason_code == ReasonCode::Success && disconnect.properties.is_empty()) {
        return Ok(());
    }
    s.u8(disconnect.reason_code.into());
    // The property length may be left out when it is 0 (§3.14.2.2.1), but clients in use
    // (rumqttc 0.25) then fail to parse the packet and lose the reason code: always write it.
    encode_properties(&disconnect.properties, s)
}

fn emit_auth<S: Sink>(auth: &Auth, s: &mut S) -> Result<(), EncodeError> {
    if auth.reason_code == ReasonCode::Success && auth.properties.is_empty() {
        return Ok(());
    }
    s.u8(auth.reason_code.into());
    // As for DISCONNECT: the optional empty property length is written for lenient parsers.
    encode_properties(&auth.properties, s)
}

#[cfg(test)]
mod tests;
