//! AWS IoT lifecycle events (`$aws/events/presence/…`, `$aws/events/subscriptions/…`), as
//! AWS publishes them: same topics, same JSON fields.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

/// Facts common to a connection's events.
#[derive(Debug, Clone)]
pub struct EventSource {
    pub client_id: String,
    /// Present only for an exclusively attached thing, as on AWS.
    pub thing_name: Option<String>,
    pub session_identifier: String,
    /// The certificate id (mTLS), or empty.
    pub principal_identifier: String,
    pub ip_address: String,
    pub version_number: u64,
}

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Whether events can be published for this client id: a topic cannot hold `+` or `#`.
pub fn has_events(client_id: &str) -> bool {
    !client_id.contains(['+', '#']) && !client_id.is_empty()
}

fn base(source: &EventSource, event_type: &str) -> Value {
    let mut body = json!({
        "clientId": source.client_id,
        "timestamp": epoch_ms(),
        "eventType": event_type,
        "sessionIdentifier": source.session_identifier,
        "principalIdentifier": source.principal_identifier,
    });
    if let Some(thing) = &source.thing_name {
        body["thingName"] = thing.clone().into();
    }
    body
}

/// `$aws/events/presence/connected/<clientId>`.
pub fn connected(source: &EventSource) -> (String, Value) {
    let mut body = base(source, "connected");
    body["ipAddress"] = source.ip_address.clone().into();
    body["versionNumber"] = source.version_number.into();
    (
        format!("$aws/events/presence/connected/{}", source.client_id),
        body,
    )
}

/// `$aws/events/presence/disconnected/<clientId>`.
pub fn disconnected(source: &EventSource, reason: &str) -> (String, Value) {
    let mut body = base(source, "disconnected");
    body["clientInitiatedDisconnect"] = (reason == "CLIENT_INITIATED_DISCONNECT").into();
    body["disconnectReason"] = reason.into();
    body["versionNumber"] = source.version_number.into();
    (
        format!("$aws/events/presence/disconnected/{}", source.client_id),
        body,
    )
}

/// `$aws/events/presence/connect_failed/<clientId>`.
pub fn connect_failed(source: &EventSource, reason: &str) -> (String, Value) {
    let mut body = base(source, "connect_failed");
    body["connectFailureReason"] = reason.into();
    body["ipAddress"] = source.ip_address.clone().into();
    (
        format!("$aws/events/presence/connect_failed/{}", source.client_id),
        body,
    )
}

/// `$aws/events/subscriptions/subscribed|unsubscribed/<clientId>`.
pub fn subscriptions(source: &EventSource, subscribed: bool, topics: &[String]) -> (String, Value) {
    let kind = if subscribed {
        "subscribed"
    } else {
        "unsubscribed"
    };
    let mut body = base(source, kind);
    body["topics"] = topics.into();
    (
        format!("$aws/events/subscriptions/{kind}/{}", source.client_id),
        body,
    )
}

/// `$aws/events/certificates/registered/<caCertificateId>` (JITR, auto-registration).
pub fn certificate_registered(
    certificate_id: &str,
    ca_certificate_id: &str,
    account: &str,
    registered_ms: i64,
) -> (String, Value) {
    (
        format!("$aws/events/certificates/registered/{ca_certificate_id}"),
        json!({
            "certificateId": certificate_id,
            "caCertificateId": ca_certificate_id,
            "timestamp": epoch_ms(),
            "certificateStatus": "PENDING_ACTIVATION",
            "awsAccountId": account,
            "certificateRegistrationTimestamp": registered_ms.to_string(),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> EventSource {
        EventSource {
            client_id: "c1".into(),
            thing_name: None,
            session_identifier: "s".into(),
            principal_identifier: "p".into(),
            ip_address: "127.0.0.1".into(),
            version_number: 3,
        }
    }

    #[test]
    fn disconnected_events_say_whether_the_client_asked_for_it() {
        let (topic, body) = disconnected(&source(), "CLIENT_INITIATED_DISCONNECT");
        assert_eq!(topic, "$aws/events/presence/disconnected/c1");
        assert_eq!(body["clientInitiatedDisconnect"], true);
        let (_, body) = disconnected(&source(), "MQTT_KEEP_ALIVE_TIMEOUT");
        assert_eq!(body["clientInitiatedDisconnect"], false);
        assert_eq!(body["disconnectReason"], "MQTT_KEEP_ALIVE_TIMEOUT");
        assert!(body.get("thingName").is_none());
    }

    #[test]
    fn client_ids_with_wildcards_get_no_events() {
        assert!(has_events("device-1"));
        assert!(!has_events("a+b"));
        assert!(!has_events("a#"));
    }
}
