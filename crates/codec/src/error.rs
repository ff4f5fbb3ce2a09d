//! What can go wrong turning bytes into packets and packets into bytes.

use crate::packet::{PacketType, ProtocolVersion};
use crate::property::PropertyId;
use crate::reason::ReasonCode;

/// Why a packet could not be decoded. Every variant names the MQTT 5 reason code to send
/// ([`DecodeError::reason_code`]) before closing the connection.
///
/// "Need more bytes" is never an error: [`crate::decode`] returns `Ok(None)` for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes break the wire format (0x81 Malformed Packet).
    #[error("malformed packet: {detail}")]
    Malformed {
        /// The rule broken, with its normative id where the spec gives one.
        detail: &'static str,
    },
    /// The packet is well formed but breaks a protocol rule (0x82 Protocol Error).
    #[error("protocol error: {detail}")]
    ProtocolError {
        /// The rule broken, with its normative id where the spec gives one.
        detail: &'static str,
    },
    /// The declared packet size exceeds the limit; detected from the fixed header alone, before
    /// the body is buffered (0x95 Packet too large).
    #[error("packet of {size} bytes exceeds the maximum packet size of {max} bytes")]
    PacketTooLarge {
        /// Total size the fixed header declares, in bytes (fixed header included).
        size: u64,
        /// The limit in force, in bytes.
        max: u32,
    },
    /// A PUBLISH or will topic name is not acceptable (0x90 Topic Name invalid).
    #[error("invalid topic name: {detail}")]
    TopicNameInvalid {
        /// The rule broken.
        detail: &'static str,
    },
    /// A PUBLISH carries a Topic Alias of 0 (0x94 Topic Alias invalid).
    #[error("invalid topic alias: {detail}")]
    TopicAliasInvalid {
        /// The rule broken.
        detail: &'static str,
    },
    /// CONNECT asks for a protocol level this codec does not speak (0x84 Unsupported Protocol
    /// Version; 3.1.1 clients expect CONNACK return code 1).
    #[error("unsupported protocol level {level}")]
    UnsupportedProtocolVersion {
        /// The protocol level byte the client sent.
        level: u8,
    },
    /// A property identifier the spec does not define (0x81).
    #[error("malformed packet: unknown property identifier {id:#04x}")]
    UnknownProperty {
        /// The identifier (a variable byte integer on the wire).
        id: u32,
    },
    /// A defined property that the packet type may not carry (0x81, spec §2.2.2.2).
    #[error("malformed packet: property {property:?} is not allowed in {packet:?}")]
    PropertyNotAllowed {
        /// The property found.
        property: PropertyId,
        /// Where it was found (CONNECT also stands for the will properties).
        packet: PacketType,
    },
    /// A property that may appear once appears again (0x82).
    #[error("protocol error: property {property:?} included more than once")]
    DuplicateProperty {
        /// The repeated property.
        property: PropertyId,
    },
    /// A property value outside the range the spec allows (0x82).
    #[error("protocol error: invalid value for property {property:?}: {detail}")]
    InvalidPropertyValue {
        /// The property.
        property: PropertyId,
        /// The rule broken.
        detail: &'static str,
    },
    /// A reason code that is undefined or not listed for this packet type (0x81).
    #[error("malformed packet: reason code {code:#04x} is not valid in {packet:?}")]
    InvalidReasonCode {
        /// The packet type.
        packet: PacketType,
        /// The byte received.
        code: u8,
    },
}

impl DecodeError {
    /// The MQTT 5 reason code to put in the CONNACK or DISCONNECT that answers this error.
    pub fn reason_code(&self) -> ReasonCode {
        match self {
            DecodeError::Malformed { .. }
            | DecodeError::UnknownProperty { .. }
            | DecodeError::PropertyNotAllowed { .. }
            | DecodeError::InvalidReasonCode { .. } => ReasonCode::MalformedPacket,
            DecodeError::ProtocolError { .. }
            | DecodeError::DuplicateProperty { .. }
            | DecodeError::InvalidPropertyValue { .. } => ReasonCode::ProtocolError,
            DecodeError::PacketTooLarge { .. } => ReasonCode::PacketTooLarge,
            DecodeError::TopicNameInvalid { .. } => ReasonCode::TopicNameInvalid,
            DecodeError::TopicAliasInvalid { .. } => ReasonCode::TopicAliasInvalid,
            DecodeError::UnsupportedProtocolVersion { .. } => {
                ReasonCode::UnsupportedProtocolVersion
            }
        }
    }

    pub(crate) const fn malformed(detail: &'static str) -> DecodeError {
        DecodeError::Malformed { detail }
    }

    pub(crate) const fn protocol(detail: &'static str) -> DecodeError {
        DecodeError::ProtocolError { detail }
    }
}

/// Why a packet could not be encoded: only for values the wire format cannot carry.
///
/// Spec rules that the wire could carry but a peer would reject (a second CONNACK, a QoS 2
/// Maximum QoS) are the caller's business; the encoder writes what it is given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A UTF-8 string or binary field longer than its 16-bit length prefix allows.
    #[error("{field} is {len} bytes long; the wire allows at most 65535")]
    FieldTooLong {
        /// Which field.
        field: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// A value above the variable byte integer maximum of 268 435 455.
    #[error("{field} is {value}; a variable byte integer holds at most 268435455")]
    ValueTooLarge {
        /// Which field.
        field: &'static str,
        /// The value.
        value: u64,
    },
    /// The packet type does not exist in this protocol version (AUTH before MQTT 5).
    #[error("{packet:?} packets do not exist in {version:?}")]
    PacketNotInVersion {
        /// The packet type.
        packet: PacketType,
        /// The version asked for.
        version: ProtocolVersion,
    },
    /// A CONNECT whose `protocol_version` differs from the version asked to encode with.
    #[error("CONNECT says {connect:?} but encoding was asked for {requested:?}")]
    ConnectVersionMismatch {
        /// The version in the CONNECT.
        connect: ProtocolVersion,
        /// The version passed to `encode`.
        requested: ProtocolVersion,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_names_the_reason_code_its_disconnect_carries() {
        assert_eq!(
            DecodeError::malformed("x").reason_code(),
            ReasonCode::MalformedPacket
        );
        assert_eq!(
            DecodeError::DuplicateProperty {
                property: PropertyId::TopicAlias
            }
            .reason_code(),
            ReasonCode::ProtocolError
        );
        assert_eq!(
            DecodeError::PacketTooLarge { size: 10, max: 5 }.reason_code(),
            ReasonCode::PacketTooLarge
        );
        assert_eq!(
            DecodeError::TopicNameInvalid { detail: "x" }.reason_code(),
            ReasonCode::TopicNameInvalid
        );
    }

    #[test]
    fn error_messages_carry_the_detail() {
        let err = DecodeError::TopicNameInvalid {
            detail: "[MQTT-3.3.2-2] topic name contains a wildcard",
        };
        assert_eq!(
            err.to_string(),
            "invalid topic name: [MQTT-3.3.2-2] topic name contains a wildcard"
        );
    }
}
