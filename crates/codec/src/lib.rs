//! MQTT 3.1, 3.1.1 and 5.0 packet codec, sans I/O.
//!
//! [`decode`] turns bytes from a `BytesMut` into one [`Packet`] at a time, returning `Ok(None)`
//! while the buffer holds less than a whole packet and a typed [`DecodeError`] (carrying the
//! MQTT 5 [`ReasonCode`] to answer with) for anything malformed; the first packet of a
//! connection goes through [`decode_connect`], which learns the [`ProtocolVersion`]. [`encode`]
//! writes a packet for a given version; [`encode_publish_header`] writes a PUBLISH without its
//! payload for vectored fan-out. Payloads and binary fields are zero-copy slices of the input.
//!
//! One [`Packet`] type serves all versions: MQTT 5-only content lives in each packet's
//! `properties` and reason codes, which 3.x encoding leaves out. Limits (maximum packet size)
//! are parameters. Strings are checked against the spec's UTF-8 rules, topic names and filters
//! are the validated [`TopicName`] and [`TopicFilter`].
//!
//! This crate does no I/O, keeps no session state and applies no broker policy: topic aliases,
//! receive maximum, packet-id bookkeeping, client-id rules and AWS limits belong to the session.

mod decoder;
mod encoder;
mod error;
#[cfg(test)]
mod fixtures;
mod packet;
mod property;
mod reason;
mod topic;
mod wire;

pub use decoder::{decode, decode_connect};
pub use encoder::{encode, encode_publish_header, encoded_len};
pub use error::{DecodeError, EncodeError};
pub use packet::{
    Auth, ConnAck, Connect, Disconnect, Packet, PacketId, PacketType, ProtocolVersion, PubAck,
    PubComp, PubRec, PubRel, Publish, PublishQos, QoS, RetainHandling, SubAck, Subscribe,
    Subscription, SubscriptionOptions, UnsubAck, Unsubscribe, Will,
};
pub use property::{
    AckProperties, AuthProperties, ConnAckProperties, ConnectProperties, DisconnectProperties,
    PayloadFormat, PropertyId, PublishProperties, SubscribeProperties, UnsubscribeProperties,
    UserProperties, WillProperties,
};
pub use reason::ReasonCode;
pub use topic::{TopicFilter, TopicName};
pub use wire::check_string;
