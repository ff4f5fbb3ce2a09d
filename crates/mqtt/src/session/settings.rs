//! What the broker allows its clients: the limits a [`super::Connection`] enforces and
//! announces in CONNACK.

use std::num::NonZeroU16;

use roost_codec::QoS;

use crate::topic::TopicLimits;

/// How the server chooses the keep-alive of a connection from the one the client asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepAlivePolicy {
    /// Requested values below this are raised to it (seconds; raising is always safe).
    pub min_secs: u16,
    /// MQTT 5 requests above this are lowered to it and announced as Server Keep Alive. A 3.1.1
    /// client cannot be told, so its value is kept.
    pub max_secs: u16,
    /// Whether 0 (no keep-alive) is honoured; otherwise 0 becomes `max_secs`.
    pub allow_none: bool,
}

impl KeepAlivePolicy {
    /// The spec's behaviour: the client's value is used as is, 0 means none.
    pub const MQTT: Self = Self {
        min_secs: 0,
        max_secs: u16::MAX,
        allow_none: true,
    };

    /// AWS IoT's documented policy: 30..=1200 s, and 0 means 1200 s.
    pub const AWS_IOT: Self = Self {
        min_secs: 30,
        max_secs: 1200,
        allow_none: false,
    };

    /// The keep-alive in seconds the server enforces for a request of `requested` seconds
    /// (0 = none).
    pub fn effective(&self, requested: u16, v5: bool) -> u16 {
        match requested {
            0 if self.allow_none => 0,
            0 => self.max_secs,
            k if k < self.min_secs => self.min_secs,
            k if k > self.max_secs && v5 => self.max_secs,
            k => k,
        }
    }
}

impl Default for KeepAlivePolicy {
    fn default() -> Self {
        Self::MQTT
    }
}

/// Broker-wide settings a connection is accepted under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerSettings {
    /// Limits on topic names and filters.
    pub topic_limits: TopicLimits,
    /// Longest client identifier accepted, in bytes (AWS IoT: 128).
    pub max_client_id_bytes: usize,
    /// Keep-alive policy.
    pub keep_alive: KeepAlivePolicy,
    /// Receive Maximum announced to v5 clients: unacknowledged QoS 1/2 PUBLISHes a client may
    /// have in flight to us ([MQTT-3.3.4-9]).
    pub receive_maximum: NonZeroU16,
    /// Cap on QoS 1/2 deliveries in flight to one client, whatever its Receive Maximum.
    pub max_inflight: NonZeroU16,
    /// Largest packet we accept, in bytes, announced to v5 clients (the decoder enforces it).
    pub maximum_packet_size: u32,
    /// Topic Alias Maximum announced to v5 clients (0 = none accepted).
    pub topic_alias_maximum: u16,
    /// Whether deliveries to v5 clients use topic aliases when the client allows them.
    pub outbound_topic_aliases: bool,
    /// Highest QoS the server supports (AWS IoT: 1).
    pub maximum_qos: QoS,
    /// Whether RETAIN publishes are accepted.
    pub retain_available: bool,
    /// Whether wildcard filters are accepted.
    pub wildcard_subscription_available: bool,
    /// Whether subscription identifiers are accepted.
    pub subscription_identifiers_available: bool,
    /// Whether `$share/…` subscriptions are accepted.
    pub shared_subscription_available: bool,
    /// Longest session expiry granted, in seconds; longer requests are capped (AWS IoT: 3600).
    pub max_session_expiry_secs: u32,
    /// Session expiry of a 3.1.1 `cleanSession=0` session, in seconds (the spec has none; AWS
    /// IoT applies its 1 h default). Capped by `max_session_expiry_secs`.
    pub v3_session_expiry_secs: u32,
    /// Messages a session may hold waiting for an inflight slot or for its client to return.
    pub max_queued_messages: usize,
    /// Bytes (topics and payloads) a session's queue may hold, whatever the message count.
    pub max_queued_bytes: usize,
    /// Filters accepted from one SUBSCRIBE; the rest are refused with Quota Exceeded (AWS IoT:
    /// 8).
    pub max_filters_per_subscribe: usize,
    /// Subscriptions one session may hold; new ones beyond it are refused with Quota Exceeded
    /// (AWS IoT: 50).
    pub max_subscriptions: usize,
    /// Whether QoS 0 messages are queued for a disconnected session (AWS IoT: no).
    pub queue_qos0_while_offline: bool,
}

impl Default for BrokerSettings {
    fn default() -> Self {
        Self {
            topic_limits: TopicLimits::MQTT,
            max_client_id_bytes: 128,
            keep_alive: KeepAlivePolicy::MQTT,
            receive_maximum: NonZeroU16::new(100).unwrap_or(NonZeroU16::MIN),
            max_inflight: NonZeroU16::new(100).unwrap_or(NonZeroU16::MIN),
            maximum_packet_size: 128 * 1024,
            topic_alias_maximum: 8,
            outbound_topic_aliases: true,
            maximum_qos: QoS::ExactlyOnce,
            retain_available: true,
            wildcard_subscription_available: true,
            subscription_identifiers_available: true,
            shared_subscription_available: true,
            max_session_expiry_secs: 7 * 24 * 3600,
            v3_session_expiry_secs: 3600,
            max_queued_messages: 1000,
            max_queued_bytes: 16 * 1024 * 1024,
            max_filters_per_subscribe: usize::MAX,
            max_subscriptions: usize::MAX,
            queue_qos0_while_offline: false,
        }
    }
}

impl BrokerSettings {
    /// How much one session's queue may hold.
    pub fn queue_limit(&self) -> QueueLimit {
        QueueLimit {
            messages: self.max_queued_messages,
            bytes: self.max_queued_bytes,
        }
    }
}

/// The bound on a session's queue: whichever of the two is reached first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimit {
    /// Most queued messages.
    pub messages: usize,
    /// Most queued bytes of topics and payloads.
    pub bytes: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_policy_keeps_the_clients_keep_alive() {
        let p = KeepAlivePolicy::MQTT;
        assert_eq!(p.effective(0, true), 0);
        assert_eq!(p.effective(5, false), 5);
        assert_eq!(p.effective(u16::MAX, true), u16::MAX);
    }

    #[test]
    fn the_aws_policy_clamps_to_30_through_1200_seconds() {
        let p = KeepAlivePolicy::AWS_IOT;
        assert_eq!(p.effective(0, true), 1200);
        assert_eq!(p.effective(10, true), 30);
        assert_eq!(p.effective(60, true), 60);
        assert_eq!(p.effective(5000, true), 1200);
        assert_eq!(
            p.effective(5000, false),
            5000,
            "a 3.1.1 client cannot be told"
        );
    }
}
