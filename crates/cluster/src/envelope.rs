//! A message as it travels between nodes: who sent it, its number, and the message itself as
//! an MQTT 5 PUBLISH — the codec we already fuzz, carrying every property a subscriber may
//! see (the message expiry as what is left of it).
//!
//! ```text
//! 0x01 | origin node (u64, big-endian) | sequence (u64) | MQTT 5 PUBLISH packet
//! ```
//!
//! The origin and sequence let a node drop the second copy of a message that reached it
//! through two overlapping subscriptions.

use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};
use roost_codec::{Packet, PacketId, ProtocolVersion, Publish, PublishQos, QoS};
use roost_mqtt::Message;

const VERSION: u8 = 1;
const HEADER: usize = 1 + 8 + 8;

/// Where a message came from and its number there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// The sending node's random id for this run.
    pub origin: u64,
    /// Counts up from 1 on each node.
    pub sequence: u64,
}

/// Why bytes from the bus are not an envelope.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("not a Roost envelope (version byte {0:#04x})")]
    Version(u8),
    #[error("the envelope is truncated")]
    Truncated,
    #[error("the envelope's message is malformed: {0}")]
    Malformed(String),
}

/// Encodes `message` as of `now`; `None` for a message the wire cannot carry (it could not
/// have been received then).
pub fn encode(stamp: Stamp, message: &Message, now: Instant) -> Option<Bytes> {
    let mut properties = message.properties.clone();
    if let Some(at) = message.expires_at {
        // At least 1 s: 0 would mean "no expiry" is absent, and it has not expired yet.
        let left = at.saturating_duration_since(now).as_secs().max(1);
        properties.message_expiry_interval = Some(u32::try_from(left).unwrap_or(u32::MAX));
    }
    let id = PacketId::new(1).expect("1 is a valid packet id");
    let publish = Publish {
        dup: false,
        qos: match message.qos {
            QoS::AtMostOnce => PublishQos::AtMostOnce,
            QoS::AtLeastOnce => PublishQos::AtLeastOnce(id),
            QoS::ExactlyOnce => PublishQos::ExactlyOnce(id),
        },
        retain: message.retain,
        topic: message.topic.clone(),
        properties,
        payload: message.payload.clone(),
    };
    let packet = Packet::Publish(publish);
    let len = roost_codec::encoded_len(&packet, ProtocolVersion::V5).ok()?;
    let mut buf = BytesMut::with_capacity(HEADER + len);
    buf.put_u8(VERSION);
    buf.put_u64(stamp.origin);
    buf.put_u64(stamp.sequence);
    roost_codec::encode(&packet, ProtocolVersion::V5, &mut buf).ok()?;
    Some(buf.freeze())
}

/// Decodes an envelope received at `now`.
pub fn decode(bytes: &[u8], now: Instant) -> Result<(Stamp, Message), EnvelopeError> {
    let (&version, rest) = bytes.split_first().ok_or(EnvelopeError::Truncated)?;
    if version != VERSION {
        return Err(EnvelopeError::Version(version));
    }
    if rest.len() < 16 {
        return Err(EnvelopeError::Truncated);
    }
    let stamp = Stamp {
        origin: u64::from_be_bytes(rest[..8].try_into().expect("8 bytes")),
        sequence: u64::from_be_bytes(rest[8..16].try_into().expect("8 bytes")),
    };
    let mut packet = BytesMut::from(&rest[16..]);
    let publish = match roost_codec::decode(&mut packet, ProtocolVersion::V5, u32::MAX) {
        Ok(Some(Packet::Publish(publish))) if packet.is_empty() => publish,
        Ok(Some(_)) => return Err(EnvelopeError::Malformed("not one PUBLISH".into())),
        Ok(None) => return Err(EnvelopeError::Truncated),
        Err(error) => return Err(EnvelopeError::Malformed(error.to_string())),
    };
    if publish.topic.as_str().is_empty() {
        return Err(EnvelopeError::Malformed("no topic".into()));
    }
    let message = Message::new(
        publish.topic,
        publish.payload,
        publish.qos.qos(),
        publish.retain,
        publish.properties,
        now,
    );
    Ok((stamp, message))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use roost_codec::{PayloadFormat, PublishProperties, TopicName, UserProperties};

    use super::*;

    fn message(qos: QoS, properties: PublishProperties, now: Instant) -> Message {
        Message::new(
            TopicName::new("a/b").unwrap(),
            Bytes::from_static(b"payload"),
            qos,
            true,
            properties,
            now,
        )
    }

    #[test]
    fn a_message_crosses_with_its_stamp_qos_retain_and_properties() {
        let now = Instant::now();
        let user: UserProperties = vec![("k".into(), "v".into())];
        let properties = PublishProperties {
            payload_format_indicator: Some(PayloadFormat::Utf8),
            message_expiry_interval: Some(60),
            response_topic: Some(TopicName::new("reply/here").unwrap()),
            correlation_data: Some(Bytes::from_static(b"id-7")),
            user_properties: user,
            content_type: Some("text/plain".into()),
            ..PublishProperties::default()
        };
        let sent = message(QoS::AtLeastOnce, properties, now);
        let stamp = Stamp {
            origin: 42,
            sequence: 7,
        };
        let bytes = encode(stamp, &sent, now + Duration::from_secs(20)).unwrap();
        let later = now + Duration::from_secs(21);
        let (got_stamp, got) = decode(&bytes, later).unwrap();
        assert_eq!(got_stamp, stamp);
        assert_eq!(got.topic, sent.topic);
        assert_eq!(got.payload, sent.payload);
        assert_eq!(got.qos, QoS::AtLeastOnce);
        assert!(got.retain);
        assert_eq!(got.properties, sent.properties);
        // 40 s were left when it was sent; counted again from its arrival.
        assert_eq!(got.expires_at, Some(later + Duration::from_secs(40)));
    }

    #[test]
    fn a_message_without_expiry_stays_without() {
        let now = Instant::now();
        let sent = message(QoS::AtMostOnce, PublishProperties::default(), now);
        let stamp = Stamp {
            origin: 1,
            sequence: 1,
        };
        let (_, got) = decode(&encode(stamp, &sent, now).unwrap(), now).unwrap();
        assert_eq!(got.expires_at, None);
        assert_eq!(got.qos, QoS::AtMostOnce);
    }

    #[test]
    fn anything_else_is_refused_with_a_reason() {
        let now = Instant::now();
        assert!(matches!(decode(&[], now), Err(EnvelopeError::Truncated)));
        assert!(matches!(
            decode(&[9; 30], now),
            Err(EnvelopeError::Version(9))
        ));
        assert!(matches!(
            decode(&[1; 10], now),
            Err(EnvelopeError::Truncated)
        ));
        let mut bytes = vec![1; 17];
        bytes.extend_from_slice(&[0x30, 0x7f, 0x00]); // a PUBLISH longer than what follows
        assert!(matches!(decode(&bytes, now), Err(EnvelopeError::Truncated)));
        let mut bytes = vec![1; 17];
        bytes.extend_from_slice(&[0xc0, 0x00]); // PINGREQ
        assert!(matches!(
            decode(&bytes, now),
            Err(EnvelopeError::Malformed(_))
        ));
    }
}
