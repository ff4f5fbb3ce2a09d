//! Retained messages made durable: each change of the in-memory retained store is written to
//! the registry (a client's retained publish before its PUBACK), and the store is loaded from
//! the registry at start-up, so a restart keeps every device's last state.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use roost_codec::{PayloadFormat, PublishProperties, QoS, TopicName};
use roost_mqtt::{Message, RetainOutcome};
use roost_registry::{Registry, RegistryError, RetainedProperties, RetainedRecord};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

pub(crate) fn epoch_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A retained message as the registry stores it.
fn to_record(message: &Message, now: Instant) -> RetainedRecord {
    let now_ms = epoch_ms();
    RetainedRecord {
        topic: message.topic.as_str().to_owned(),
        payload: message.payload.to_vec(),
        qos: message.qos as u8,
        properties: stored_properties(&message.properties),
        expires_ms: expires_ms(message, now, now_ms),
        updated_ms: now_ms,
    }
}

/// The MQTT 5 properties a stored message keeps (its expiry is kept beside them).
pub(crate) fn stored_properties(p: &PublishProperties) -> RetainedProperties {
    RetainedProperties {
        content_type: p.content_type.clone(),
        payload_format: p.payload_format_indicator.map(|f| f as u8),
        response_topic: p.response_topic.as_ref().map(|t| t.as_str().to_owned()),
        correlation_data: p.correlation_data.as_ref().map(|d| STANDARD.encode(d)),
        user_properties: p.user_properties.clone(),
    }
}

/// When `message` expires, epoch milliseconds (`now` being `now_ms`); `None`: never.
pub(crate) fn expires_ms(message: &Message, now: Instant, now_ms: i64) -> Option<i64> {
    message
        .expires_at
        .map(|at| now_ms + at.saturating_duration_since(now).as_millis() as i64)
}

/// The properties [`stored_properties`] kept, back as MQTT 5 properties.
pub(crate) fn publish_properties(p: RetainedProperties) -> PublishProperties {
    PublishProperties {
        content_type: p.content_type,
        payload_format_indicator: p.payload_format.map(|f| {
            if f == 1 {
                PayloadFormat::Utf8
            } else {
                PayloadFormat::Unspecified
            }
        }),
        response_topic: p.response_topic.and_then(|t| TopicName::new(&t).ok()),
        correlation_data: p
            .correlation_data
            .and_then(|d| STANDARD.decode(d).ok())
            .map(Bytes::from),
        user_properties: p.user_properties,
        ..PublishProperties::default()
    }
}

/// The message a stored record restores, its expiry counted from now; `None` if it expired or
/// its topic no longer parses.
fn from_record(record: RetainedRecord, now: Instant) -> Option<Message> {
    let topic = TopicName::new(&record.topic).ok()?;
    let remaining_ms = record.expires_ms.map(|at| at - epoch_ms());
    if remaining_ms.is_some_and(|ms| ms <= 0) {
        return None;
    }
    let properties = publish_properties(record.properties);
    let qos = if record.qos == 0 {
        QoS::AtMostOnce
    } else {
        QoS::AtLeastOnce
    };
    let mut message = Message::new(
        topic,
        Bytes::from(record.payload),
        qos,
        true,
        properties,
        now,
    );
    message.make_mut().expires_at = remaining_ms.map(|ms| now + Duration::from_millis(ms as u64));
    Some(message)
}

/// Writes what storing `message` did to the retained store: a new or replaced message is
/// stored, a cleared one removed; nothing else is written.
pub(crate) async fn persist(
    registry: &Registry,
    message: &Message,
    outcome: RetainOutcome,
) -> Result<(), RegistryError> {
    match outcome {
        RetainOutcome::Stored | RetainOutcome::Replaced => {
            registry
                .put_retained(to_record(message, Instant::now()))
                .await
        }
        RetainOutcome::Cleared => registry.delete_retained(message.topic.as_str()).await,
        RetainOutcome::Unchanged | RetainOutcome::Refused => Ok(()),
    }
}

/// Every stored retained message, ready for the router.
pub(crate) async fn load(registry: &Registry) -> Result<Vec<Message>, RegistryError> {
    let now = Instant::now();
    Ok(registry
        .all_retained()
        .await?
        .into_iter()
        .filter_map(|record| from_record(record, now))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_survives_the_round_trip_through_its_record() {
        let now = Instant::now();
        let properties = PublishProperties {
            content_type: Some("application/json".into()),
            payload_format_indicator: Some(PayloadFormat::Utf8),
            correlation_data: Some(Bytes::from_static(&[1, 2, 3])),
            user_properties: vec![("site".into(), "north".into())],
            message_expiry_interval: Some(3600),
            ..PublishProperties::default()
        };
        let topic = TopicName::new("plant/1/state").unwrap();
        let message = Message::new(
            topic,
            Bytes::from_static(b"{\"on\":true}"),
            QoS::AtLeastOnce,
            true,
            properties,
            now,
        );
        let restored = from_record(to_record(&message, now), now).unwrap();
        assert_eq!(restored.topic, message.topic);
        assert_eq!(restored.payload, message.payload);
        assert_eq!(restored.properties, message.properties);
        let expiry = restored.expires_at.unwrap() - now;
        assert!(expiry > Duration::from_secs(3590) && expiry <= Duration::from_secs(3600));
    }

    #[test]
    fn an_expired_record_is_not_restored() {
        let record = RetainedRecord {
            topic: "t".into(),
            payload: b"x".to_vec(),
            qos: 0,
            properties: RetainedProperties::default(),
            expires_ms: Some(epoch_ms() - 1),
            updated_ms: 0,
        };
        assert!(from_record(record, Instant::now()).is_none());
    }
}
