//! Messages as they travel between nodes: a batch of one or more messages from one node on
//! one subject, each with its number and the message itself as an MQTT 5 PUBLISH — the codec
//! we already fuzz, carrying every property a subscriber may see (the message expiry as what
//! is left of it).
//!
//! ```text
//! 0x01 | origin node (u64, big-endian) | { sequence (u64) | MQTT 5 PUBLISH packet }+
//! ```
//!
//! Batching is what lets the bus keep up: publishers on one topic produce far more messages
//! than NATS messages are worth sending one by one. The origin and sequence let a node drop
//! the second copy of a message that reached it through two overlapping subscriptions.

use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};
use roost_codec::{Packet, PacketId, ProtocolVersion, Publish, PublishQos, QoS};
use roost_mqtt::Message;

const VERSION: u8 = 1;

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

/// Messages of one origin being gathered into one envelope.
#[derive(Debug)]
pub struct Batch {
    buf: BytesMut,
    count: usize,
}

impl Batch {
    /// An empty batch of `origin`'s messages.
    pub fn new(origin: u64) -> Self {
        let mut buf = BytesMut::with_capacity(256);
        buf.put_u8(VERSION);
        buf.put_u64(origin);
        Self { buf, count: 0 }
    }

    /// Adds message number `sequence` as of `now`; `false` (and nothing added) for a message
    /// the wire cannot carry (it could not have been received then).
    pub fn push(&mut self, sequence: u64, message: &Message, now: Instant) -> bool {
        let packet = publish_packet(message, now);
        let Ok(len) = roost_codec::encoded_len(&packet, ProtocolVersion::V5) else {
            return false;
        };
        self.buf.reserve(8 + len);
        self.buf.put_u64(sequence);
        if roost_codec::encode(&packet, ProtocolVersion::V5, &mut self.buf).is_err() {
            self.buf.truncate(self.buf.len() - 8);
            return false;
        }
        self.count += 1;
        true
    }

    /// Messages in it.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether it holds no message.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Its size so far, bytes.
    pub fn size(&self) -> usize {
        self.buf.len()
    }

    /// The envelope.
    pub fn finish(self) -> Bytes {
        self.buf.freeze()
    }
}

/// One message alone in an envelope.
pub fn encode(stamp: Stamp, message: &Message, now: Instant) -> Option<Bytes> {
    let mut batch = Batch::new(stamp.origin);
    batch
        .push(stamp.sequence, message, now)
        .then(|| batch.finish())
}

fn publish_packet(message: &Message, now: Instant) -> Packet {
    let mut properties = message.properties.clone();
    if let Some(at) = message.expires_at {
        // At least 1 s: it has not expired yet, and an interval of 0 would be read as "none".
        let left = at.saturating_duration_since(now).as_secs().max(1);
        properties.message_expiry_interval = Some(u32::try_from(left).unwrap_or(u32::MAX));
    }
    let id = PacketId::new(1).expect("1 is a valid packet id");
    Packet::Publish(Publish {
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
    })
}

/// Decodes an envelope received at `now` into its messages, in order.
pub fn decode(bytes: &[u8], now: Instant) -> Result<Vec<(Stamp, Message)>, EnvelopeError> {
    let (&version, rest) = bytes.split_first().ok_or(EnvelopeError::Truncated)?;
    if version != VERSION {
        return Err(EnvelopeError::Version(version));
    }
    if rest.len() < 8 {
        return Err(EnvelopeError::Truncated);
    }
    let origin = u64::from_be_bytes(rest[..8].try_into().expect("8 bytes"));
    let mut buf = BytesMut::from(&rest[8..]);
    let mut messages = Vec::new();
    while !buf.is_empty() {
        if buf.len() < 8 {
            return Err(EnvelopeError::Truncated);
        }
        let sequence = u64::from_be_bytes(buf.split_to(8)[..].try_into().expect("8 bytes"));
        let publish = match roost_codec::decode(&mut buf, ProtocolVersion::V5, u32::MAX) {
            Ok(Some(Packet::Publish(publish))) => publish,
            Ok(Some(_)) => return Err(EnvelopeError::Malformed("not a PUBLISH".into())),
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
        messages.push((Stamp { origin, sequence }, message));
    }
    if messages.is_empty() {
        return Err(EnvelopeError::Truncated);
    }
    Ok(messages)
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
        let mut decoded = decode(&bytes, later).unwrap();
        assert_eq!(decoded.len(), 1);
        let (got_stamp, got) = decoded.pop().unwrap();
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
        let (_, got) = decode(&encode(stamp, &sent, now).unwrap(), now)
            .unwrap()
            .remove(0);
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
        // An origin and no message.
        assert!(matches!(
            decode(&[1; 9], now),
            Err(EnvelopeError::Truncated)
        ));
    }

    #[test]
    fn a_batch_carries_its_messages_in_order_with_their_numbers() {
        let now = Instant::now();
        let mut batch = Batch::new(9);
        assert!(batch.is_empty());
        for (sequence, qos) in [
            (4, QoS::AtMostOnce),
            (7, QoS::AtLeastOnce),
            (8, QoS::ExactlyOnce),
        ] {
            let sent = message(qos, PublishProperties::default(), now);
            assert!(batch.push(sequence, &sent, now));
        }
        assert_eq!(batch.len(), 3);
        let decoded = decode(&batch.finish(), now).unwrap();
        let stamps: Vec<(u64, u64)> = decoded
            .iter()
            .map(|(s, _)| (s.origin, s.sequence))
            .collect();
        assert_eq!(stamps, [(9, 4), (9, 7), (9, 8)]);
        let qos: Vec<QoS> = decoded.iter().map(|(_, m)| m.qos).collect();
        assert_eq!(qos, [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]);
    }
}
