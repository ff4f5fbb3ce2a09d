//! The packets of MQTT 3.1, 3.1.1 and 5.0, one type for all three versions.
//!
//! Fields that only MQTT 5 carries live in the `properties` of each packet (and in reason
//! codes); encoding for 3.x leaves them out, decoding 3.x leaves them at their defaults.

use std::num::NonZeroU16;

use bytes::Bytes;

use crate::property::{
    AckProperties, AuthProperties, ConnAckProperties, ConnectProperties, DisconnectProperties,
    PublishProperties, SubscribeProperties, UnsubscribeProperties, WillProperties,
};
use crate::reason::ReasonCode;
use crate::topic::{TopicFilter, TopicName};

/// The protocol level of a connection, fixed by its CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProtocolVersion {
    /// MQTT 3.1: protocol name `MQIsdp`, level 3. Same wire format as 3.1.1 otherwise.
    V3_1,
    /// MQTT 3.1.1: protocol name `MQTT`, level 4.
    V3_1_1,
    /// MQTT 5.0: protocol name `MQTT`, level 5.
    V5,
}

impl ProtocolVersion {
    /// The protocol level byte of CONNECT.
    pub fn level(self) -> u8 {
        match self {
            ProtocolVersion::V3_1 => 3,
            ProtocolVersion::V3_1_1 => 4,
            ProtocolVersion::V5 => 5,
        }
    }

    /// The protocol name CONNECT carries for this level.
    pub fn protocol_name(self) -> &'static str {
        match self {
            ProtocolVersion::V3_1 => "MQIsdp",
            ProtocolVersion::V3_1_1 | ProtocolVersion::V5 => "MQTT",
        }
    }

    /// True for MQTT 5, the only version with properties and reason codes.
    pub fn is_v5(self) -> bool {
        self == ProtocolVersion::V5
    }
}

/// Quality of service of a message or subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum QoS {
    /// 0: at most once.
    #[default]
    AtMostOnce = 0,
    /// 1: at least once.
    AtLeastOnce = 1,
    /// 2: exactly once.
    ExactlyOnce = 2,
}

impl QoS {
    /// The QoS for a wire value, `None` for 3.
    pub fn from_u8(value: u8) -> Option<QoS> {
        match value {
            0 => Some(QoS::AtMostOnce),
            1 => Some(QoS::AtLeastOnce),
            2 => Some(QoS::ExactlyOnce),
            _ => None,
        }
    }
}

impl From<QoS> for u8 {
    fn from(qos: QoS) -> u8 {
        qos as u8
    }
}

/// A packet identifier: never 0 ([MQTT-2.2.1-3]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PacketId(pub NonZeroU16);

impl PacketId {
    /// The identifier for `value`, `None` for 0.
    pub fn new(value: u16) -> Option<PacketId> {
        NonZeroU16::new(value).map(PacketId)
    }

    /// The identifier as a number in 1..=65535.
    pub fn get(self) -> u16 {
        self.0.get()
    }
}

impl From<PacketId> for u16 {
    fn from(id: PacketId) -> u16 {
        id.get()
    }
}

/// The control packet type, the high nibble of the first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// 1, client to server.
    Connect = 1,
    /// 2, server to client.
    ConnAck = 2,
    /// 3, both directions.
    Publish = 3,
    /// 4, both directions.
    PubAck = 4,
    /// 5, both directions.
    PubRec = 5,
    /// 6, both directions.
    PubRel = 6,
    /// 7, both directions.
    PubComp = 7,
    /// 8, client to server.
    Subscribe = 8,
    /// 9, server to client.
    SubAck = 9,
    /// 10, client to server.
    Unsubscribe = 10,
    /// 11, server to client.
    UnsubAck = 11,
    /// 12, client to server.
    PingReq = 12,
    /// 13, server to client.
    PingResp = 13,
    /// 14, both directions (server to client only in MQTT 5).
    Disconnect = 14,
    /// 15, both directions, MQTT 5 only.
    Auth = 15,
}

impl PacketType {
    /// The type for a first-byte high nibble; `None` for the reserved 0 (and anything above 15).
    pub fn from_nibble(nibble: u8) -> Option<PacketType> {
        use PacketType::*;
        Some(match nibble {
            1 => Connect,
            2 => ConnAck,
            3 => Publish,
            4 => PubAck,
            5 => PubRec,
            6 => PubRel,
            7 => PubComp,
            8 => Subscribe,
            9 => SubAck,
            10 => Unsubscribe,
            11 => UnsubAck,
            12 => PingReq,
            13 => PingResp,
            14 => Disconnect,
            15 => Auth,
            _ => return None,
        })
    }
}

/// One MQTT control packet, for every protocol version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// CONNECT (boxed: by far the largest packet).
    Connect(Box<Connect>),
    /// CONNACK (boxed: MQTT 5 gives it many properties).
    ConnAck(Box<ConnAck>),
    /// PUBLISH.
    Publish(Publish),
    /// PUBACK, QoS 1 acknowledgement.
    PubAck(PubAck),
    /// PUBREC, QoS 2 step 1.
    PubRec(PubRec),
    /// PUBREL, QoS 2 step 2.
    PubRel(PubRel),
    /// PUBCOMP, QoS 2 step 3.
    PubComp(PubComp),
    /// SUBSCRIBE.
    Subscribe(Subscribe),
    /// SUBACK.
    SubAck(SubAck),
    /// UNSUBSCRIBE.
    Unsubscribe(Unsubscribe),
    /// UNSUBACK.
    UnsubAck(UnsubAck),
    /// PINGREQ.
    PingReq,
    /// PINGRESP.
    PingResp,
    /// DISCONNECT.
    Disconnect(Disconnect),
    /// AUTH (MQTT 5 only).
    Auth(Auth),
}

impl Packet {
    /// The control packet type of this packet.
    pub fn packet_type(&self) -> PacketType {
        match self {
            Packet::Connect(_) => PacketType::Connect,
            Packet::ConnAck(_) => PacketType::ConnAck,
            Packet::Publish(_) => PacketType::Publish,
            Packet::PubAck(_) => PacketType::PubAck,
            Packet::PubRec(_) => PacketType::PubRec,
            Packet::PubRel(_) => PacketType::PubRel,
            Packet::PubComp(_) => PacketType::PubComp,
            Packet::Subscribe(_) => PacketType::Subscribe,
            Packet::SubAck(_) => PacketType::SubAck,
            Packet::Unsubscribe(_) => PacketType::Unsubscribe,
            Packet::UnsubAck(_) => PacketType::UnsubAck,
            Packet::PingReq => PacketType::PingReq,
            Packet::PingResp => PacketType::PingResp,
            Packet::Disconnect(_) => PacketType::Disconnect,
            Packet::Auth(_) => PacketType::Auth,
        }
    }
}

macro_rules! packet_from {
    ($($variant:ident($ty:ty) => $wrap:expr;)*) => {
        $(
            impl From<$ty> for Packet {
                fn from(packet: $ty) -> Packet {
                    Packet::$variant($wrap(packet))
                }
            }
        )*
    };
}

packet_from! {
    Connect(Connect) => Box::new;
    ConnAck(ConnAck) => Box::new;
    Publish(Publish) => std::convert::identity;
    PubAck(PubAck) => std::convert::identity;
    PubRec(PubRec) => std::convert::identity;
    PubRel(PubRel) => std::convert::identity;
    PubComp(PubComp) => std::convert::identity;
    Subscribe(Subscribe) => std::convert::identity;
    SubAck(SubAck) => std::convert::identity;
    Unsubscribe(Unsubscribe) => std::convert::identity;
    UnsubAck(UnsubAck) => std::convert::identity;
    Disconnect(Disconnect) => std::convert::identity;
    Auth(Auth) => std::convert::identity;
}

/// CONNECT (§3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    /// Protocol name and level the client asked for.
    pub protocol_version: ProtocolVersion,
    /// Clean Start (MQTT 5) / Clean Session (3.x).
    pub clean_start: bool,
    /// Keep alive in seconds; 0 means none.
    pub keep_alive: u16,
    /// Client identifier as sent; may be empty. Length and character rules are the server's
    /// policy, not the codec's.
    pub client_id: String,
    /// The will message, if the Will Flag is set.
    pub will: Option<Will>,
    /// User name, if the User Name Flag is set.
    pub username: Option<String>,
    /// Password (binary data), if the Password Flag is set.
    pub password: Option<Bytes>,
    /// MQTT 5 CONNECT properties.
    pub properties: ConnectProperties,
}

/// The will message of a CONNECT (§3.1.2.5, §3.1.3.2–4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Will {
    /// Will topic; never empty, no wildcards.
    pub topic: TopicName,
    /// Will payload (binary data, at most 65535 bytes).
    pub payload: Bytes,
    /// Will QoS.
    pub qos: QoS,
    /// Will Retain.
    pub retain: bool,
    /// MQTT 5 will properties.
    pub properties: WillProperties,
}

/// CONNACK (§3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnAck {
    /// Session Present (always encoded as 0 for MQTT 3.1, which has no such flag).
    pub session_present: bool,
    /// Connect reason code; on 3.x carried as the nearest return code
    /// ([`ReasonCode::to_connack_return_code`]).
    pub reason_code: ReasonCode,
    /// MQTT 5 CONNACK properties.
    pub properties: ConnAckProperties,
}

/// QoS of a PUBLISH together with the packet identifier that QoS 1 and 2 need
/// ([MQTT-2.2.1-2]: QoS 0 carries none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PublishQos {
    /// QoS 0, no packet identifier.
    AtMostOnce,
    /// QoS 1 with its packet identifier.
    AtLeastOnce(PacketId),
    /// QoS 2 with its packet identifier.
    ExactlyOnce(PacketId),
}

impl PublishQos {
    /// The QoS level.
    pub fn qos(self) -> QoS {
        match self {
            PublishQos::AtMostOnce => QoS::AtMostOnce,
            PublishQos::AtLeastOnce(_) => QoS::AtLeastOnce,
            PublishQos::ExactlyOnce(_) => QoS::ExactlyOnce,
        }
    }

    /// The packet identifier, `None` for QoS 0.
    pub fn packet_id(self) -> Option<PacketId> {
        match self {
            PublishQos::AtMostOnce => None,
            PublishQos::AtLeastOnce(id) | PublishQos::ExactlyOnce(id) => Some(id),
        }
    }

    /// Pairs `qos` with `id`; `id` is ignored for QoS 0.
    pub fn new(qos: QoS, id: PacketId) -> PublishQos {
        match qos {
            QoS::AtMostOnce => PublishQos::AtMostOnce,
            QoS::AtLeastOnce => PublishQos::AtLeastOnce(id),
            QoS::ExactlyOnce => PublishQos::ExactlyOnce(id),
        }
    }
}

/// PUBLISH (§3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// DUP: this is a re-delivery. Always false at QoS 0 ([MQTT-3.3.1-2]).
    pub dup: bool,
    /// QoS and packet identifier.
    pub qos: PublishQos,
    /// RETAIN.
    pub retain: bool,
    /// Topic name; empty only for an MQTT 5 PUBLISH that carries a Topic Alias.
    pub topic: TopicName,
    /// MQTT 5 PUBLISH properties.
    pub properties: PublishProperties,
    /// Application payload, a zero-copy slice of the input when decoded.
    pub payload: Bytes,
}

macro_rules! publish_response {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            /// Identifier of the PUBLISH exchange this answers.
            pub packet_id: PacketId,
            /// Reason code (MQTT 5); [`ReasonCode::Success`] on 3.x.
            pub reason_code: ReasonCode,
            /// MQTT 5 properties.
            pub properties: AckProperties,
        }

        impl $name {
            /// A successful response without properties, the only form 3.x knows.
            pub fn new(packet_id: PacketId) -> $name {
                $name {
                    packet_id,
                    reason_code: ReasonCode::Success,
                    properties: AckProperties::default(),
                }
            }
        }
    };
}

publish_response!(
    /// PUBACK (§3.4).
    PubAck
);
publish_response!(
    /// PUBREC (§3.5).
    PubRec
);
publish_response!(
    /// PUBREL (§3.6).
    PubRel
);
publish_response!(
    /// PUBCOMP (§3.7).
    PubComp
);

/// Retain Handling subscription option (MQTT 5 §3.8.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RetainHandling {
    /// 0: send retained messages at subscribe time.
    #[default]
    SendAtSubscribe = 0,
    /// 1: send them only if the subscription did not already exist.
    SendAtSubscribeIfNew = 1,
    /// 2: do not send them.
    DoNotSend = 2,
}

/// The options byte of one SUBSCRIBE entry. On 3.x only `qos` travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SubscriptionOptions {
    /// Maximum QoS the client accepts on this subscription.
    pub qos: QoS,
    /// No Local: do not send the client its own publications (not allowed on shared ones).
    pub no_local: bool,
    /// Retain As Published: keep the RETAIN flag when forwarding.
    pub retain_as_published: bool,
    /// Retain Handling.
    pub retain_handling: RetainHandling,
}

/// One topic filter of a SUBSCRIBE with its options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The filter, validated (shared `$share/…` filters included).
    pub filter: TopicFilter,
    /// Its options.
    pub options: SubscriptionOptions,
}

/// SUBSCRIBE (§3.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    /// Packet identifier.
    pub packet_id: PacketId,
    /// At least one subscription ([MQTT-3.8.3-2]).
    pub subscriptions: Vec<Subscription>,
    /// MQTT 5 SUBSCRIBE properties.
    pub properties: SubscribeProperties,
}

/// SUBACK (§3.9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAck {
    /// Identifier of the SUBSCRIBE this answers.
    pub packet_id: PacketId,
    /// One code per subscription, in order. On 3.x, `Success`/`GrantedQoS1`/`GrantedQoS2`
    /// travel as 0/1/2 and every error code as 0x80.
    pub reason_codes: Vec<ReasonCode>,
    /// MQTT 5 properties.
    pub properties: AckProperties,
}

/// UNSUBSCRIBE (§3.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    /// Packet identifier.
    pub packet_id: PacketId,
    /// At least one filter ([MQTT-3.10.3-2]).
    pub filters: Vec<TopicFilter>,
    /// MQTT 5 properties.
    pub properties: UnsubscribeProperties,
}

/// UNSUBACK (§3.11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubAck {
    /// Identifier of the UNSUBSCRIBE this answers.
    pub packet_id: PacketId,
    /// One code per filter (MQTT 5). Not encoded on 3.x, where it decodes as empty.
    pub reason_codes: Vec<ReasonCode>,
    /// MQTT 5 properties.
    pub properties: AckProperties,
}

/// DISCONNECT (§3.14).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Disconnect {
    /// Disconnect reason code (MQTT 5); `Success` is Normal disconnection.
    pub reason_code: ReasonCode,
    /// MQTT 5 properties.
    pub properties: DisconnectProperties,
}

/// AUTH (MQTT 5 §3.15).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Auth {
    /// Authenticate reason code.
    pub reason_code: ReasonCode,
    /// Properties; an authentication method is required unless the code is Success with none.
    pub properties: AuthProperties,
}
