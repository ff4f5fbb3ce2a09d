//! Persistent sessions made durable. The router keeps sessions in memory; the registry keeps
//! a copy that a restart loads back:
//! - a persistent session's subscriptions are written before its SUBACK or UNSUBACK;
//! - a QoS 1/2 message queued for an offline session is written before the publisher's
//!   PUBACK, and forgotten once the client acknowledges it;
//! - when a client disconnects, its session is written whole (what it still owes the client,
//!   and when it went away, for its expiry);
//! - a session that ends (Clean Start, expiry, DeleteConnection, a disconnect with expiry 0)
//!   is deleted.
//!
//! What a SIGKILL can lose: messages acknowledged to their publishers while the receiving
//! persistent session was connected, and not yet acknowledged by its client (they are in
//! memory only until that client disconnects), and QoS 0 messages queued while it was away.

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use roost_codec::{QoS, RetainHandling, TopicName};
use roost_mqtt::{
    ClientId, Delivery, Message, SessionState, StoredSubscription, SubscriptionEntry,
    SubscriptionFilter, TopicLimits,
};
use roost_registry::{RetainedProperties, SessionMessageRecord, SessionRecord, StoredSession};
use serde::{Deserialize, Serialize};

use crate::retained::{epoch_ms, expires_ms, publish_properties, stored_properties};

/// A subscription as stored.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct SubscriptionJson {
    filter: String,
    qos: u8,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    no_local: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    retain_as_published: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<u32>,
    #[serde(default)]
    retain_handling: u8,
}

/// A delivery as stored.
#[derive(Debug, Serialize, Deserialize)]
struct DeliveryJson {
    topic: String,
    /// Base64.
    payload: String,
    /// QoS as published, and as delivered.
    published_qos: u8,
    qos: u8,
    /// RETAIN as published, and as delivered.
    published_retain: bool,
    retain: bool,
    #[serde(default)]
    properties: RetainedProperties,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    subscription_ids: Vec<u32>,
}

fn qos_from(n: u8) -> QoS {
    match n {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

fn retain_handling_from(n: u8) -> RetainHandling {
    match n {
        1 => RetainHandling::SendAtSubscribeIfNew,
        2 => RetainHandling::DoNotSend,
        _ => RetainHandling::SendAtSubscribe,
    }
}

fn subscriptions_json(session: &SessionState) -> String {
    let list: Vec<SubscriptionJson> = session
        .subscriptions()
        .map(|(filter, stored)| SubscriptionJson {
            filter: filter.to_string(),
            qos: stored.entry.qos as u8,
            no_local: stored.entry.no_local,
            retain_as_published: stored.entry.retain_as_published,
            id: stored.entry.id.map(NonZeroU32::get),
            retain_handling: stored.retain_handling as u8,
        })
        .collect();
    serde_json::to_string(&list).unwrap_or_else(|_| "[]".to_owned())
}

/// The stored form of `session`; `disconnected_ms` is `None` while its client is connected.
pub(crate) fn session_record(
    session: &SessionState,
    disconnected_ms: Option<i64>,
) -> SessionRecord {
    SessionRecord {
        client_id: session.client_id().as_str().to_owned(),
        expiry_secs: session.expiry_secs(),
        disconnected_ms,
        subscriptions: subscriptions_json(session),
    }
}

/// The stored form of a numbered delivery owed to `client_id`; `None` if it has no number.
pub(crate) fn message_record(client_id: &str, delivery: &Delivery) -> Option<SessionMessageRecord> {
    let seq = delivery.stored?;
    let message = &delivery.message;
    let json = DeliveryJson {
        topic: message.topic.as_str().to_owned(),
        payload: STANDARD.encode(&message.payload),
        published_qos: message.qos as u8,
        qos: delivery.qos as u8,
        published_retain: message.retain,
        retain: delivery.retain,
        properties: stored_properties(&message.properties),
        expires_ms: expires_ms(message, Instant::now(), epoch_ms()),
        subscription_ids: delivery
            .subscription_ids
            .iter()
            .map(|id| id.get())
            .collect(),
    };
    Some(SessionMessageRecord {
        client_id: client_id.to_owned(),
        seq,
        delivery: serde_json::to_string(&json).ok()?,
    })
}

/// A session loaded from the registry, ready for the router.
#[derive(Debug)]
pub struct RestoredSession {
    pub state: SessionState,
    /// When it expires; `None`: never.
    pub expires_at: Option<Instant>,
}

fn subscription_from(
    json: SubscriptionJson,
    limits: &TopicLimits,
) -> Option<(SubscriptionFilter, StoredSubscription)> {
    let filter = SubscriptionFilter::parse(&json.filter, limits).ok()?;
    let entry = SubscriptionEntry {
        qos: qos_from(json.qos),
        no_local: json.no_local,
        retain_as_published: json.retain_as_published,
        id: json.id.and_then(NonZeroU32::new),
    };
    Some((
        filter,
        StoredSubscription {
            entry,
            retain_handling: retain_handling_from(json.retain_handling),
        },
    ))
}

fn delivery_from(record: &SessionMessageRecord, now: Instant, now_ms: i64) -> Option<Delivery> {
    let json: DeliveryJson = serde_json::from_str(&record.delivery).ok()?;
    let remaining_ms = json.expires_ms.map(|at| at - now_ms);
    if remaining_ms.is_some_and(|ms| ms <= 0) {
        return None;
    }
    let topic = TopicName::new(&json.topic).ok()?;
    let payload = STANDARD.decode(&json.payload).ok()?;
    let mut message = Message::new(
        topic,
        Bytes::from(payload),
        qos_from(json.published_qos),
        json.published_retain,
        publish_properties(json.properties),
        now,
    );
    message.make_mut().expires_at = remaining_ms.map(|ms| now + Duration::from_millis(ms as u64));
    Some(Delivery {
        message,
        qos: qos_from(json.qos),
        retain: json.retain,
        subscription_ids: json
            .subscription_ids
            .into_iter()
            .filter_map(NonZeroU32::new)
            .collect(),
        stored: Some(record.seq),
    })
}

/// The session `stored` describes, unless it has expired (then `None`). A session whose
/// client was connected when the broker stopped counts as disconnected now. Subscriptions or
/// messages that no longer parse are skipped.
pub(crate) fn restore(stored: StoredSession, limits: &TopicLimits) -> Option<RestoredSession> {
    let now = Instant::now();
    let now_ms = epoch_ms();
    let record = stored.session;
    let away_ms = record
        .disconnected_ms
        .map_or(0, |at| now_ms.saturating_sub(at).max(0));
    let expires_at = if record.expiry_secs == u32::MAX {
        None
    } else {
        let left_ms = i64::from(record.expiry_secs) * 1000 - away_ms;
        if left_ms <= 0 {
            return None;
        }
        Some(now + Duration::from_millis(left_ms as u64))
    };
    let subscriptions: Vec<SubscriptionJson> =
        serde_json::from_str(&record.subscriptions).unwrap_or_default();
    let state = SessionState::restored(
        ClientId::new(&record.client_id),
        record.expiry_secs,
        subscriptions
            .into_iter()
            .filter_map(|s| subscription_from(s, limits)),
        stored
            .messages
            .iter()
            .filter_map(|m| delivery_from(m, now, now_ms)),
    );
    Some(RestoredSession { state, expires_at })
}

/// The largest delivery number in `sessions`, so that new ones follow it.
pub(crate) fn last_number(sessions: &[StoredSession]) -> u64 {
    sessions
        .iter()
        .flat_map(|s| s.messages.iter().map(|m| m.seq))
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use roost_codec::PublishProperties;

    fn delivery(seq: u64, expiry: Option<u32>) -> Delivery {
        let properties = PublishProperties {
            content_type: Some("text/plain".into()),
            message_expiry_interval: expiry,
            user_properties: vec![("k".into(), "v".into())],
            ..PublishProperties::default()
        };
        let message = Message::new(
            TopicName::new("a/b").unwrap(),
            Bytes::from_static(&[0, 1, 255]),
            QoS::AtLeastOnce,
            true,
            properties,
            Instant::now(),
        );
        Delivery {
            message,
            qos: QoS::AtLeastOnce,
            retain: false,
            subscription_ids: vec![NonZeroU32::new(7).unwrap()],
            stored: Some(seq),
        }
    }

    fn session_with(filters: &[&str]) -> SessionState {
        let subscriptions = filters.iter().map(|f| {
            (
                SubscriptionFilter::parse(f, &TopicLimits::MQTT).unwrap(),
                StoredSubscription {
                    entry: SubscriptionEntry {
                        qos: QoS::AtLeastOnce,
                        no_local: true,
                        retain_as_published: false,
                        id: NonZeroU32::new(3),
                    },
                    retain_handling: RetainHandling::DoNotSend,
                },
            )
        });
        SessionState::restored(ClientId::new("c"), 600, subscriptions, [delivery(4, None)])
    }

    #[test]
    fn a_session_survives_the_round_trip_through_its_records() {
        let session = session_with(&["a/#", "$share/g/b/+"]);
        let record = session_record(&session, Some(epoch_ms()));
        let messages: Vec<_> = session
            .pending_deliveries()
            .filter_map(|d| message_record("c", d))
            .collect();
        assert_eq!(messages.len(), 1);
        let restored = restore(
            StoredSession {
                session: record,
                messages,
            },
            &TopicLimits::MQTT,
        )
        .expect("not expired");
        let state = restored.state;
        assert_eq!(state.expiry_secs(), 600);
        let a: Vec<_> = session.subscriptions().collect();
        let b: Vec<_> = state.subscriptions().collect();
        assert_eq!(a, b);
        let owed: Vec<&Delivery> = state.pending_deliveries().collect();
        assert_eq!(owed.len(), 1);
        let original = delivery(4, None);
        assert_eq!(owed[0].message.payload, original.message.payload);
        assert_eq!(owed[0].message.properties, original.message.properties);
        assert_eq!(owed[0].subscription_ids, original.subscription_ids);
        assert_eq!(owed[0].stored, Some(4));
        assert!(owed[0].message.retain && !owed[0].retain);
        let left = restored.expires_at.unwrap() - Instant::now();
        assert!(left > Duration::from_secs(590) && left <= Duration::from_secs(600));
    }

    #[test]
    fn an_expired_session_or_message_is_not_restored() {
        let session = session_with(&["a"]);
        let long_ago = epoch_ms() - 601_000;
        let gone = StoredSession {
            session: session_record(&session, Some(long_ago)),
            messages: Vec::new(),
        };
        assert!(restore(gone, &TopicLimits::MQTT).is_none());

        let mut expiring = delivery(9, Some(1));
        expiring.message.make_mut().expires_at = Some(Instant::now());
        let record = message_record("c", &expiring).unwrap();
        let kept = StoredSession {
            session: session_record(&session, None),
            messages: vec![record],
        };
        let restored = restore(kept, &TopicLimits::MQTT).unwrap();
        assert_eq!(restored.state.pending_deliveries().count(), 0);
    }

    #[test]
    fn a_session_that_never_expires_has_no_deadline() {
        let never = SessionState::restored(ClientId::new("c"), u32::MAX, [], []);
        let stored = StoredSession {
            session: session_record(&never, Some(0)),
            messages: Vec::new(),
        };
        assert!(
            restore(stored, &TopicLimits::MQTT)
                .unwrap()
                .expires_at
                .is_none()
        );
    }
}
