//! The message a statement is evaluated against, and the clock and randomness it may use.

use std::fmt;
use std::sync::{Arc, OnceLock};

use crate::members::Members;

/// Where `newuuid()`, `rand()` and, when the message carries no timestamp, `timestamp()` get
/// their values. Injected so that evaluation is deterministic in tests.
pub trait Environment: Send + Sync + fmt::Debug {
    /// A fresh random UUID in its canonical lower-case hyphenated form.
    fn new_uuid(&self) -> String;
    /// The current time in milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
    /// A random number in `[0, 1)`.
    fn random(&self) -> f64;
}

/// The real clock and random UUIDs (v4).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemEnvironment;

impl Environment for SystemEnvironment {
    fn new_uuid(&self) -> String {
        uuid::Uuid::new_v4().to_string()
    }

    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }

    fn random(&self) -> f64 {
        // 53 random bits from a v4 UUID make a uniform double in [0, 1).
        let bits = uuid::Uuid::new_v4().as_u128() >> 75;
        bits as f64 / (1_u64 << 53) as f64
    }
}

/// A fixed UUID, time and random number, for tests and replay.
#[derive(Debug, Clone, PartialEq)]
pub struct FixedEnvironment {
    /// What `newuuid()` returns.
    pub uuid: String,
    /// What the clock reads, in epoch milliseconds.
    pub now_ms: i64,
    /// What `rand()` returns.
    pub random: f64,
}

impl Environment for FixedEnvironment {
    fn new_uuid(&self) -> String {
        self.uuid.clone()
    }

    fn now_ms(&self) -> i64 {
        self.now_ms
    }

    fn random(&self) -> f64 {
        self.random
    }
}

/// The MQTT 5 properties of the incoming PUBLISH that `get_mqtt_property` and
/// `get_user_properties` read. All absent for MQTT 3.1.1 and HTTP publishes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MqttProperties {
    /// Payload Format Indicator: 0 unspecified bytes, 1 UTF-8.
    pub payload_format_indicator: Option<u8>,
    /// Content Type.
    pub content_type: Option<String>,
    /// Response Topic.
    pub response_topic: Option<String>,
    /// Correlation Data (binary; SQL sees it base64-encoded).
    pub correlation_data: Option<Vec<u8>>,
    /// Message Expiry Interval, in seconds.
    pub message_expiry_interval: Option<u32>,
    /// User properties in the order they arrived; keys may repeat.
    pub user_properties: Vec<(String, String)>,
}

/// A top-level member of the payload, as [`MessageContext::payload_member`] finds it.
pub(crate) enum PayloadMember<'a> {
    /// Its JSON text, valid JSON (the payload was validated when scanned).
    Text(&'a [u8]),
    /// Its value in the parsed document.
    Parsed(&'a serde_json::Value),
}

/// Everything a statement can see about one incoming message. Build it with
/// [`MessageContext::new`] and the `with_*` methods. The payload is parsed as JSON at most once,
/// on first use, so statements that never look at it cost nothing.
#[derive(Clone)]
pub struct MessageContext {
    topic: String,
    payload: Vec<u8>,
    json: OnceLock<Option<serde_json::Value>>,
    members: OnceLock<Option<Members>>,
    client_id: Option<String>,
    principal: Option<String>,
    timestamp_ms: Option<i64>,
    trace_id: Option<String>,
    account_id: Option<String>,
    source_ip: Option<String>,
    mqtt: MqttProperties,
    environment: Arc<dyn Environment>,
}

impl fmt::Debug for MessageContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageContext")
            .field("topic", &self.topic)
            .field("payload_len", &self.payload.len())
            .field("client_id", &self.client_id)
            .field("principal", &self.principal)
            .field("timestamp_ms", &self.timestamp_ms)
            .field("trace_id", &self.trace_id)
            .field("environment", &self.environment)
            .finish_non_exhaustive()
    }
}

impl MessageContext {
    /// A message on `topic` with `payload`, from no client (`clientid()` is `"n/a"`), using the
    /// system clock and random UUIDs.
    pub fn new(topic: impl Into<String>, payload: impl Into<Vec<u8>>) -> Self {
        MessageContext {
            topic: topic.into(),
            payload: payload.into(),
            json: OnceLock::new(),
            members: OnceLock::new(),
            client_id: None,
            principal: None,
            timestamp_ms: None,
            trace_id: None,
            account_id: None,
            source_ip: None,
            mqtt: MqttProperties::default(),
            environment: Arc::new(SystemEnvironment),
        }
    }

    /// The MQTT client id of the publisher.
    pub fn with_client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// The publisher's principal: a certificate id, or `roleId:session` for IAM.
    pub fn with_principal(mut self, principal: impl Into<String>) -> Self {
        self.principal = Some(principal.into());
        self
    }

    /// When the message reached the rules engine, in epoch milliseconds (`timestamp()`).
    /// Without it, `timestamp()` reads the environment's clock.
    pub fn with_timestamp_ms(mut self, timestamp_ms: i64) -> Self {
        self.timestamp_ms = Some(timestamp_ms);
        self
    }

    /// The message's trace id (`traceid()`); MQTT messages have one, HTTP publishes do not.
    pub fn with_trace_id(mut self, trace_id: impl Into<String>) -> Self {
        self.trace_id = Some(trace_id.into());
        self
    }

    /// The account id (`accountid()`).
    pub fn with_account_id(mut self, account_id: impl Into<String>) -> Self {
        self.account_id = Some(account_id.into());
        self
    }

    /// The publisher's IP address (`sourceip()`).
    pub fn with_source_ip(mut self, source_ip: impl Into<String>) -> Self {
        self.source_ip = Some(source_ip.into());
        self
    }

    /// The MQTT 5 properties of the PUBLISH.
    pub fn with_mqtt_properties(mut self, mqtt: MqttProperties) -> Self {
        self.mqtt = mqtt;
        self
    }

    /// The clock and randomness to use instead of the system's.
    pub fn with_environment(mut self, environment: Arc<dyn Environment>) -> Self {
        self.environment = environment;
        self
    }

    /// The payload already parsed by the caller (it must be what `payload` holds).
    pub fn with_parsed_payload(self, json: serde_json::Value) -> Self {
        let cell = OnceLock::new();
        let _ = cell.set(Some(json));
        MessageContext { json: cell, ..self }
    }

    /// The topic the message was published to.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The raw payload.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The payload as JSON, or `None` when it is not JSON (a binary payload).
    pub fn payload_json(&self) -> Option<&serde_json::Value> {
        self.json
            .get_or_init(|| serde_json::from_slice(&self.payload).ok())
            .as_ref()
    }

    /// Top-level member `name` of an object payload; `None` when the payload is not a JSON
    /// object or has no such member. Taken from the whole parsed document when something
    /// already parsed it; otherwise the payload is scanned once and this member's JSON text
    /// is given, for the caller to parse alone.
    pub(crate) fn payload_member(&self, name: &str) -> Option<PayloadMember<'_>> {
        if let Some(parsed) = self.json.get() {
            return match parsed {
                Some(serde_json::Value::Object(o)) => o.get(name).map(PayloadMember::Parsed),
                _ => None,
            };
        }
        let members = self
            .members
            .get_or_init(|| Members::scan(&self.payload))
            .as_ref()?;
        members.get(&self.payload, name).map(PayloadMember::Text)
    }

    pub(crate) fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }

    pub(crate) fn principal(&self) -> Option<&str> {
        self.principal.as_deref()
    }

    pub(crate) fn timestamp_ms(&self) -> i64 {
        self.timestamp_ms
            .unwrap_or_else(|| self.environment.now_ms())
    }

    pub(crate) fn trace_id(&self) -> Option<&str> {
        self.trace_id.as_deref()
    }

    pub(crate) fn account_id(&self) -> Option<&str> {
        self.account_id.as_deref()
    }

    pub(crate) fn source_ip(&self) -> Option<&str> {
        self.source_ip.as_deref()
    }

    pub(crate) fn mqtt(&self) -> &MqttProperties {
        &self.mqtt
    }

    pub(crate) fn environment(&self) -> &dyn Environment {
        self.environment.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_payload_is_parsed_and_a_binary_one_is_not() {
        let json = MessageContext::new("t", br#"{"a":1}"#.to_vec());
        assert_eq!(json.payload_json(), Some(&serde_json::json!({"a": 1})));
        let binary = MessageContext::new("t", vec![0xff, 0x00]);
        assert_eq!(binary.payload_json(), None);
    }

    #[test]
    fn the_message_timestamp_wins_over_the_clock() {
        let env = Arc::new(FixedEnvironment {
            uuid: "u".into(),
            now_ms: 5,
            random: 0.5,
        });
        let ctx = MessageContext::new("t", vec![]).with_environment(env);
        assert_eq!(ctx.timestamp_ms(), 5);
        assert_eq!(ctx.with_timestamp_ms(7).timestamp_ms(), 7);
    }

    #[test]
    fn system_random_numbers_are_in_the_unit_interval() {
        for _ in 0..100 {
            let r = SystemEnvironment.random();
            assert!((0.0..1.0).contains(&r));
        }
    }
}
