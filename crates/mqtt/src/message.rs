//! Application messages as the router passes them between sessions.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use roost_codec::{PublishProperties, QoS, Will};

use crate::topic::TopicName;
use crate::trie::Match;

/// An application message: one allocation that every delivery of it shares, so that fanning
/// it out to N subscribers costs N reference-count increments (not three each: topic, payload
/// and properties), and a mailbox slot holds a pointer instead of the message's fields.
/// Fields are read through `Deref`; [`Message::make_mut`] changes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message(Arc<MessageData>);

/// What a [`Message`] holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageData {
    /// The topic it was published on (aliases already resolved).
    pub topic: TopicName,
    /// The payload.
    pub payload: Bytes,
    /// QoS it was published with.
    pub qos: QoS,
    /// RETAIN flag as published.
    pub retain: bool,
    /// The application properties forwarded unchanged (payload format, content type, response
    /// topic, correlation data, user properties). Per-hop fields (topic alias, subscription
    /// identifiers, message expiry interval) are always empty here: they are set per delivery.
    pub properties: PublishProperties,
    /// When the message expires (v5 Message Expiry Interval, counted from receipt); `None`: never.
    pub expires_at: Option<Instant>,
}

impl std::ops::Deref for Message {
    type Target = MessageData;

    fn deref(&self) -> &MessageData {
        &self.0
    }
}

impl Message {
    /// Whether `other` is this very message (a copy of it), not merely an equal one.
    pub fn is_same(&self, other: &Message) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// The message's fields to change, copied first if another delivery shares them.
    pub fn make_mut(&mut self) -> &mut MessageData {
        Arc::make_mut(&mut self.0)
    }

    /// A message received at `now` with the given properties; the per-hop properties are
    /// stripped and the expiry interval becomes an absolute deadline.
    pub fn new(
        topic: TopicName,
        payload: Bytes,
        qos: QoS,
        retain: bool,
        mut properties: PublishProperties,
        now: Instant,
    ) -> Self {
        let expires_at = properties
            .message_expiry_interval
            .take()
            .map(|secs| now + Duration::from_secs(u64::from(secs)));
        properties.topic_alias = None;
        properties.subscription_identifiers.clear();
        Self(Arc::new(MessageData {
            topic,
            payload,
            qos,
            retain,
            properties,
            expires_at,
        }))
    }

    /// The will of a CONNECT as a message, its expiry counted from `now` (when it is published).
    pub fn from_will(will: &Will, now: Instant) -> Self {
        let p = &will.properties;
        let properties = PublishProperties {
            payload_format_indicator: p.payload_format_indicator,
            message_expiry_interval: p.message_expiry_interval,
            response_topic: p.response_topic.clone(),
            correlation_data: p.correlation_data.clone(),
            user_properties: p.user_properties.clone(),
            content_type: p.content_type.clone(),
            ..PublishProperties::default()
        };
        Self::new(
            will.topic.clone(),
            will.payload.clone(),
            will.qos,
            will.retain,
            properties,
            now,
        )
    }

    /// Whether the message has expired at `now` ([MQTT-3.3.2-5]).
    pub fn is_expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|at| now >= at)
    }

    /// The Message Expiry Interval to put on an outgoing copy at `now`: the time left, in whole
    /// seconds rounded up so that an unexpired message never says 0 ([MQTT-3.3.2-6]).
    pub fn remaining_expiry(&self, now: Instant) -> Option<u32> {
        self.expires_at.map(|at| {
            let left = at.saturating_duration_since(now);
            let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
            u32::try_from(secs).unwrap_or(u32::MAX)
        })
    }
}

/// A message the router hands one session, with what the subscription decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The message.
    pub message: Message,
    /// QoS to deliver with: min(published QoS, granted QoS) ([MQTT-3.8.4-8]).
    pub qos: QoS,
    /// RETAIN flag of the outgoing PUBLISH.
    pub retain: bool,
    /// Subscription identifiers of the matching subscriptions (v5).
    pub subscription_ids: Vec<std::num::NonZeroU32>,
    /// The delivery's number in the broker's durable session store, when it was written
    /// there (queued for an offline persistent session); the session reports it back with
    /// [`crate::session::Event::Acknowledged`] once the client has it.
    pub stored: Option<u64>,
}

impl Delivery {
    /// A live delivery through the trie match `m`: RETAIN is kept only with Retain As
    /// Published ([MQTT-3.3.1-12], [MQTT-3.3.1-13]).
    pub fn live(message: Message, m: &Match) -> Self {
        Self {
            qos: message.qos.min(m.qos),
            retain: message.retain && m.retain_as_published,
            subscription_ids: m.subscription_ids.clone(),
            stored: None,
            message,
        }
    }

    /// A retained message sent because a subscription was made: RETAIN is set (§3.3.1.3).
    pub fn retained(
        message: Message,
        granted: QoS,
        subscription_id: Option<std::num::NonZeroU32>,
    ) -> Self {
        Self {
            qos: message.qos.min(granted),
            retain: true,
            subscription_ids: subscription_id.into_iter().collect(),
            stored: None,
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mailbox holds deliveries and a fan-out clones one per subscriber: both were 128
    /// bytes with the message's fields inline.
    #[test]
    fn a_delivery_is_small_and_shares_its_message() {
        assert_eq!(std::mem::size_of::<Message>(), std::mem::size_of::<usize>());
        assert!(
            std::mem::size_of::<Delivery>() <= 56,
            "{}",
            std::mem::size_of::<Delivery>()
        );
        let message = Message::new(
            TopicName::new("t").unwrap(),
            Bytes::from_static(b"x"),
            QoS::AtMostOnce,
            false,
            PublishProperties::default(),
            Instant::now(),
        );
        let mut copy = message.clone();
        assert!(message.is_same(&copy));
        copy.make_mut().retain = true;
        assert!(!message.retain, "changing a shared message changes a copy");
        assert!(!message.is_same(&copy) && !copy.is_same(&message));
        assert!(copy.retain);
    }
}
