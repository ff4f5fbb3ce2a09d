//! Errors of the broker core.

use thiserror::Error;

/// Why a topic name, topic filter or share name is invalid.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TopicError {
    /// The string breaks the MQTT syntax of topics (wildcard placement, emptiness, U+0000).
    #[error("invalid topic: {detail}")]
    Invalid {
        /// The rule broken, with its normative id.
        detail: &'static str,
    },
    /// Longer than the configured limit.
    #[error("topic is {len} bytes long, the limit is {max}")]
    TooLong {
        /// Length in bytes.
        len: usize,
        /// Configured maximum in bytes.
        max: usize,
    },
    /// More levels than the configured limit.
    #[error("topic has {levels} levels, the limit is {max}")]
    TooManyLevels {
        /// Number of levels.
        levels: usize,
        /// Configured maximum.
        max: usize,
    },
    /// A `$share/…` filter where only a plain filter is allowed.
    #[error("a shared subscription filter is not allowed here")]
    SharedNotAllowed,
}

/// A client broke the protocol: the connection is closed with `reason` (sent in a DISCONNECT to
/// MQTT 5 clients).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("{detail} (reason code {reason:?})")]
pub struct ProtocolViolation {
    /// The MQTT 5 reason code of the DISCONNECT.
    pub reason: roost_codec::ReasonCode,
    /// What happened, with the normative statement it breaks.
    pub detail: &'static str,
}
