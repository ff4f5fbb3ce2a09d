//! Messages of the iot-data API (Publish, SendDirectMessage): the topic and the MQTT 5
//! properties a caller chose are checked against MQTT's rules and the broker's limits before a
//! [`Message`] is made of them, so that whatever the API accepts reaches every subscriber as a
//! well-formed PUBLISH.

use std::time::Instant;

use bytes::Bytes;
use roost_codec::{PayloadFormat, PublishProperties, QoS, TopicName};
use roost_mqtt::{Message, TopicLimits};

use crate::{ApiPublishError, BrokerCore};

/// The MQTT 5 properties an iot-data caller gives its message, as the API decoded them from the
/// request; empty by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiProperties {
    pub content_type: Option<String>,
    /// Where the receiver should answer: a topic name, no wildcards.
    pub response_topic: Option<String>,
    /// Seconds the message lives (counted from now); `None`: it does not expire.
    pub message_expiry_secs: Option<u32>,
    /// In the caller's order; keys may repeat.
    pub user_properties: Vec<(String, String)>,
    pub payload_format: Option<PayloadFormat>,
    /// The bytes themselves (the API decodes the caller's base64).
    pub correlation_data: Option<Bytes>,
}

/// Checks `text`, the API member `property`, as an MQTT UTF-8 string.
fn mqtt_string(property: &'static str, text: &str) -> Result<(), ApiPublishError> {
    roost_codec::check_string(text).map_err(|error| ApiPublishError::InvalidProperty {
        property,
        reason: error.to_string(),
    })
}

/// A topic an API caller publishes on: a valid topic name within `limits`, and none of Roost's
/// reserved topics.
fn api_topic(topic: &str, limits: &TopicLimits) -> Result<TopicName, ApiPublishError> {
    let name = TopicName::new(topic).map_err(|e| ApiPublishError::InvalidTopic(e.to_string()))?;
    limits
        .check_name(&name)
        .map_err(|e| ApiPublishError::InvalidTopic(e.to_string()))?;
    if crate::authorization::is_reserved_for_roost(topic) {
        return Err(ApiPublishError::Reserved);
    }
    Ok(name)
}

/// `properties` as a PUBLISH carries them, the response topic within `limits`.
fn publish_properties(
    properties: ApiProperties,
    limits: &TopicLimits,
) -> Result<PublishProperties, ApiPublishError> {
    let ApiProperties {
        content_type,
        response_topic,
        message_expiry_secs,
        user_properties,
        payload_format,
        correlation_data,
    } = properties;
    if let Some(content_type) = &content_type {
        mqtt_string("contentType", content_type)?;
    }
    for (key, value) in &user_properties {
        mqtt_string("userProperties", key)?;
        mqtt_string("userProperties", value)?;
    }
    // Binary data has a two-byte length (§1.5.6).
    if correlation_data
        .as_ref()
        .is_some_and(|data| data.len() > usize::from(u16::MAX))
    {
        return Err(ApiPublishError::InvalidProperty {
            property: "correlationData",
            reason: "it is longer than 65535 bytes".to_owned(),
        });
    }
    let response_topic = response_topic
        .map(|topic| {
            // [MQTT-3.3.2-14]: a topic name, so no wildcards.
            let name = TopicName::new(&topic)
                .map_err(|e| ApiPublishError::InvalidResponseTopic(e.to_string()))?;
            limits
                .check_name(&name)
                .map_err(|e| ApiPublishError::InvalidResponseTopic(e.to_string()))?;
            Ok(name)
        })
        .transpose()?;
    Ok(PublishProperties {
        payload_format_indicator: payload_format,
        message_expiry_interval: message_expiry_secs,
        response_topic,
        correlation_data,
        user_properties,
        content_type,
        ..PublishProperties::default()
    })
}

/// The message an API caller publishes, received at `now`.
fn api_message(
    topic: &str,
    payload: Bytes,
    qos: QoS,
    retain: bool,
    properties: ApiProperties,
    limits: &TopicLimits,
    now: Instant,
) -> Result<Message, ApiPublishError> {
    let topic = api_topic(topic, limits)?;
    let properties = publish_properties(properties, limits)?;
    Ok(Message::new(topic, payload, qos, retain, properties, now))
}

impl BrokerCore {
    /// The message an API caller publishes, received now, checked against MQTT's rules, the
    /// broker's topic limits and Roost's reserved topics.
    pub(crate) fn api_message(
        &self,
        topic: &str,
        payload: Bytes,
        qos: QoS,
        retain: bool,
        properties: ApiProperties,
    ) -> Result<Message, ApiPublishError> {
        api_message(
            topic,
            payload,
            qos,
            retain,
            properties,
            &self.settings.topic_limits,
            Instant::now(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: TopicLimits = TopicLimits::AWS_IOT;

    fn properties() -> ApiProperties {
        ApiProperties {
            content_type: Some("application/json".into()),
            response_topic: Some("replies/lamp-1".into()),
            message_expiry_secs: Some(60),
            user_properties: vec![("site".into(), "north".into()), ("site".into(), "b".into())],
            payload_format: Some(PayloadFormat::Utf8),
            correlation_data: Some(Bytes::from_static(&[0, 1, 0xFF])),
        }
    }

    fn message_at(
        topic: &str,
        properties: ApiProperties,
        now: Instant,
    ) -> Result<Message, ApiPublishError> {
        let payload = Bytes::from_static(b"{}");
        api_message(
            topic,
            payload,
            QoS::AtLeastOnce,
            true,
            properties,
            &LIMITS,
            now,
        )
    }

    fn message(topic: &str, properties: ApiProperties) -> Result<Message, ApiPublishError> {
        message_at(topic, properties, Instant::now())
    }

    #[test]
    fn every_property_of_the_caller_reaches_the_message_in_order() {
        let now = Instant::now();
        let message = message_at("lamps/1", properties(), now).unwrap();
        let p = &message.properties;
        assert_eq!(p.content_type.as_deref(), Some("application/json"));
        assert_eq!(
            p.response_topic.as_ref().map(TopicName::as_str),
            Some("replies/lamp-1")
        );
        assert_eq!(
            p.user_properties,
            vec![("site".into(), "north".into()), ("site".into(), "b".into())]
        );
        assert_eq!(p.payload_format_indicator, Some(PayloadFormat::Utf8));
        assert_eq!(p.correlation_data.as_deref(), Some(&[0, 1, 0xFF][..]));
        // The expiry becomes a deadline; each outgoing copy says what is left of it.
        assert_eq!(message.remaining_expiry(now), Some(60));
        assert!(message.retain);
    }

    #[test]
    fn a_wildcard_empty_or_overlong_response_topic_is_refused() {
        let deep = "a/".repeat(8);
        for topic in ["replies/#", "replies/+/x", "", deep.as_str()] {
            let refused = message(
                "t",
                ApiProperties {
                    response_topic: Some(topic.to_owned()),
                    ..ApiProperties::default()
                },
            )
            .unwrap_err();
            assert!(
                matches!(refused, ApiPublishError::InvalidResponseTopic(_)),
                "{topic}: {refused:?}"
            );
        }
    }

    #[test]
    fn strings_mqtt_cannot_carry_are_refused_naming_the_member() {
        let refused = |properties: ApiProperties| match message("t", properties) {
            Err(ApiPublishError::InvalidProperty { property, .. }) => property,
            other => panic!("expected a refusal, got {other:?}"),
        };
        assert_eq!(
            refused(ApiProperties {
                content_type: Some("text\0plain".into()),
                ..ApiProperties::default()
            }),
            "contentType"
        );
        assert_eq!(
            refused(ApiProperties {
                user_properties: vec![("k".into(), "v\0".into())],
                ..ApiProperties::default()
            }),
            "userProperties"
        );
        assert_eq!(
            refused(ApiProperties {
                correlation_data: Some(Bytes::from(vec![0; 65_536])),
                ..ApiProperties::default()
            }),
            "correlationData"
        );
    }

    #[test]
    fn the_topic_is_checked_as_any_publish_topic() {
        assert!(matches!(
            message("a/#", properties()),
            Err(ApiPublishError::InvalidTopic(_))
        ));
        assert!(matches!(
            message(&"a/".repeat(8), properties()),
            Err(ApiPublishError::InvalidTopic(_))
        ));
        assert_eq!(
            message("$aws/events/presence/connected/x", properties()).unwrap_err(),
            ApiPublishError::Reserved
        );
    }
}
