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

/// Why a connection ended: the `disconnectReason` of its `disconnected` event, and whether its
/// will may be published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The client sent DISCONNECT.
    ClientInitiated,
    /// The socket closed or failed without a DISCONNECT.
    ConnectionLost,
    /// The client broke the protocol or sent something malformed.
    ClientError,
    /// Nothing arrived within 1.5 × the keep-alive.
    KeepAliveTimeout,
    /// Another connection took over the client id.
    DuplicateClientId,
    /// Its policies no longer allow `iot:Connect`.
    AuthError,
    /// Its certificate (or its CA) was revoked or deactivated: reported as `AUTH_ERROR`, but a
    /// device that has been cut off does not get to speak once more through its will.
    CertificateCutOff,
    /// The broker is shutting down.
    ServerInitiated,
    /// iot-data DeleteConnection; `prevent_will` keeps the will unsaid.
    ApiInitiated { prevent_will: bool },
}

impl DisconnectReason {
    /// The reason as the lifecycle event spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientInitiated => "CLIENT_INITIATED_DISCONNECT",
            Self::ConnectionLost => "CONNECTION_LOST",
            Self::ClientError => "CLIENT_ERROR",
            Self::KeepAliveTimeout => "MQTT_KEEP_ALIVE_TIMEOUT",
            Self::DuplicateClientId => "DUPLICATE_CLIENTID",
            Self::AuthError | Self::CertificateCutOff => "AUTH_ERROR",
            Self::ServerInitiated => "SERVER_INITIATED_DISCONNECT",
            Self::ApiInitiated { .. } => "API_INITIATED_DISCONNECT",
        }
    }

    /// Whether the connection's will may be published, if the session kept one: the session
    /// machine already discards it on a normal DISCONNECT and keeps it on MQTT 5's
    /// "Disconnect with Will Message"; a cut-off certificate loses it here.
    pub fn publishes_will(self) -> bool {
        !matches!(
            self,
            Self::CertificateCutOff | Self::ApiInitiated { prevent_will: true }
        )
    }
}

/// Why a connection was refused: the `connectFailureReason` of its `connect_failed` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectFailure {
    /// Its certificate, its CA or its policies do not let it connect (or publish its will).
    AuthorizationFailed,
    /// The CONNECT breaks the MQTT rules or the broker's limits.
    ClientError,
    /// The broker could not decide (the registry failed).
    ServerError,
}

impl ConnectFailure {
    /// The reason as the lifecycle event spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationFailed => "AUTHORIZATION_FAILED",
            Self::ClientError => "CLIENT_ERROR",
            Self::ServerError => "SERVER_ERROR",
        }
    }
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
pub fn disconnected(source: &EventSource, reason: DisconnectReason) -> (String, Value) {
    let mut body = base(source, "disconnected");
    body["clientInitiatedDisconnect"] = (reason == DisconnectReason::ClientInitiated).into();
    body["disconnectReason"] = reason.as_str().into();
    body["versionNumber"] = source.version_number.into();
    (
        format!("$aws/events/presence/disconnected/{}", source.client_id),
        body,
    )
}

/// `$aws/events/presence/connect_failed/<clientId>`.
pub fn connect_failed(source: &EventSource, reason: ConnectFailure) -> (String, Value) {
    let mut body = base(source, "connect_failed");
    body["connectFailureReason"] = reason.as_str().into();
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
        let (topic, body) = disconnected(&source(), DisconnectReason::ClientInitiated);
        assert_eq!(topic, "$aws/events/presence/disconnected/c1");
        assert_eq!(body["clientInitiatedDisconnect"], true);
        assert_eq!(body["disconnectReason"], "CLIENT_INITIATED_DISCONNECT");
        let (_, body) = disconnected(&source(), DisconnectReason::KeepAliveTimeout);
        assert_eq!(body["clientInitiatedDisconnect"], false);
        assert_eq!(body["disconnectReason"], "MQTT_KEEP_ALIVE_TIMEOUT");
        assert!(body.get("thingName").is_none());
    }

    #[test]
    fn a_cut_off_certificate_reads_as_auth_error_but_keeps_its_will_unsaid() {
        let cut = DisconnectReason::CertificateCutOff;
        assert_eq!(cut.as_str(), "AUTH_ERROR");
        assert!(!cut.publishes_will());
        assert!(DisconnectReason::AuthError.publishes_will());
        assert!(DisconnectReason::DuplicateClientId.publishes_will());
        let api = DisconnectReason::ApiInitiated {
            prevent_will: false,
        };
        assert_eq!(api.as_str(), "API_INITIATED_DISCONNECT");
        assert!(api.publishes_will());
        assert!(
            !DisconnectReason::ApiInitiated { prevent_will: true }.publishes_will(),
            "DeleteConnection with preventWillMessage"
        );
    }

    #[test]
    fn client_ids_with_wildcards_get_no_events() {
        assert!(has_events("device-1"));
        assert!(!has_events("a+b"));
        assert!(!has_events("a#"));
    }
}
