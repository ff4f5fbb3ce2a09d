//! The control plane: AWS IoT's REST-JSON API on the exact routes of the botocore model, so
//! that the `aws iot` CLI, boto3 and the SDKs work unchanged against Roost.
//!
//! Every request but `/health`, `/metrics` and a destination's `enableUrl` must carry a valid SigV4 signature (service `iot`).
//! Handlers translate between the wire shapes and the [`roost_registry::Registry`], which holds
//! the rules; errors become AWS error types ([`error::ApiError`]). The crate does not bind
//! sockets or choose TLS: the binary serves [`router`] on its listener.
//!
//! Bulk registration tasks run in the background on tasks the [`ApiState`] owns; their input
//! files come from directories the server allow-lists ([`ApiState::with_bulk_registration_dirs`]).
//!
//! Topic rule destinations are confirmed as on AWS: the confirmation message goes out through
//! a [`DestinationNotifier`] the binary provides, and its `enableUrl`
//! (`GET /confirmdestination/<token>`) is the one route besides `/health` and `/metrics`
//! that needs no signature, since the token is the proof.
//!
//! MQTT over WebSocket (`GET /mqtt`) is served by the binary, which owns the broker; its
//! presigned upgrade (service `iotdevicegateway`) is checked here, by
//! [`require_websocket_signature`], against the same access keys.
//!
//! Types that matter: [`ApiState`], [`ApiSettings`], [`router`], [`error::ApiError`].

mod auth;
pub mod error;
mod input;
mod properties;
mod registration;
mod routes;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use roost_pki::CertificateAuthority;
use roost_registry::{Registry, RegistryError};

pub use auth::{WebSocketSigner, require_websocket_signature};
pub use routes::{device_router, request_context, router};

/// What a device's HTTPS request asks to do, for its IoT policy to decide: the action and the
/// resource (`topic/<topic>` or `thing/<thing>[/<shadow>]`, percent-decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRequest {
    pub action: DeviceAction,
    pub resource: String,
    /// Publish with `retain=true` (also needs `iot:RetainPublish`).
    pub retain: bool,
}

/// The device-facing iot-data actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceAction {
    Publish,
    GetThingShadow,
    UpdateThingShadow,
    DeleteThingShadow,
}

/// The action and resource of a device's request (method, raw path, raw query); `None` for a
/// request that is no device operation.
pub fn device_request(method: &str, path: &str, query: Option<&str>) -> Option<DeviceRequest> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .ok()
            .map(|c| c.into_owned())
    };
    let query: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or("")).ok()?;
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    if let Some(topic) = path.strip_prefix("/topics/") {
        if method != "POST" {
            return None;
        }
        return Some(DeviceRequest {
            action: DeviceAction::Publish,
            resource: format!("topic/{}", decode(topic)?),
            retain: param("retain").is_some_and(|v| v.eq_ignore_ascii_case("true")),
        });
    }
    let thing = path.strip_prefix("/things/")?.strip_suffix("/shadow")?;
    if thing.contains('/') {
        return None;
    }
    let action = match method {
        "GET" => DeviceAction::GetThingShadow,
        "POST" => DeviceAction::UpdateThingShadow,
        "DELETE" => DeviceAction::DeleteThingShadow,
        _ => return None,
    };
    let resource = match param("name") {
        Some(shadow) => format!("thing/{}/{shadow}", decode(thing)?),
        None => format!("thing/{}", decode(thing)?),
    };
    Some(DeviceRequest {
        action,
        resource,
        retain: false,
    })
}

#[cfg(test)]
mod device_request_tests {
    use super::*;

    #[test]
    fn device_requests_name_the_action_and_resource_a_policy_decides_on() {
        let publish = device_request("POST", "/topics/a%2Fb", Some("qos=1&retain=true")).unwrap();
        assert_eq!(publish.action, DeviceAction::Publish);
        assert_eq!(publish.resource, "topic/a/b");
        assert!(publish.retain);
        let named = device_request("DELETE", "/things/lamp/shadow", Some("name=cfg")).unwrap();
        assert_eq!(named.action, DeviceAction::DeleteThingShadow);
        assert_eq!(named.resource, "thing/lamp/cfg");
        assert_eq!(
            device_request("GET", "/things/lamp/shadow", None)
                .unwrap()
                .resource,
            "thing/lamp"
        );
        assert!(device_request("GET", "/topics/a", None).is_none());
        assert!(device_request("GET", "/things", None).is_none());
    }
}

/// A message one of Roost's services publishes on a topic reserved for it (a shadow answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceMessage {
    pub topic: String,
    pub payload: Vec<u8>,
}

/// Why the broker refused an iot-data Publish or SendDirectMessage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishRefused {
    /// Not a valid topic name, or beyond the broker's topic limits.
    #[error("invalid topic: {0}")]
    InvalidTopic(String),
    /// A topic only Roost itself publishes on (events, service answers).
    #[error("the topic is reserved")]
    Reserved,
    /// The response topic is not a valid topic name, or beyond the broker's topic limits.
    #[error("invalid response topic: {0}")]
    InvalidResponseTopic(String),
    /// A property MQTT cannot carry (a string with U+0000, longer than 65535 bytes).
    #[error("{property} cannot travel in an MQTT packet: {reason}")]
    InvalidProperty {
        /// The model's member name (`contentType`, `userProperties`, `correlationData`).
        property: &'static str,
        reason: String,
    },
}

/// How a message's payload is to be read (MQTT 5 Payload Format Indicator; the header
/// `x-amz-mqtt5-payload-format-indicator`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadFormat {
    /// `UNSPECIFIED_BYTES`
    UnspecifiedBytes,
    /// `UTF8_DATA`: the API has checked that the payload is UTF-8.
    Utf8Data,
}

/// The MQTT 5 properties of an iot-data message, decoded from the request as botocore's model
/// names them: `contentType`, `responseTopic` and `messageExpiry` in the query string, the
/// `x-amz-mqtt5-*` headers. Absent members stay `None` or empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageProperties {
    pub content_type: Option<String>,
    /// Not yet checked as a topic name: the broker owns that rule.
    pub response_topic: Option<String>,
    /// Seconds, at least 1 (Publish only).
    pub message_expiry_secs: Option<u32>,
    /// In the caller's order; keys may repeat.
    pub user_properties: Vec<(String, String)>,
    pub payload_format: Option<PayloadFormat>,
    /// The bytes the caller's base64 stands for.
    pub correlation_data: Option<Vec<u8>>,
}

/// A message an iot-data operation sends (Publish, SendDirectMessage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiMessage {
    pub topic: String,
    pub payload: Vec<u8>,
    pub properties: MessageProperties,
}

/// What became of a SendDirectMessage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectOutcome {
    /// Handed to the client's connection at QoS 0, or, with a confirmation asked,
    /// acknowledged by the client's PUBACK.
    Delivered,
    /// The client is not connected.
    NotConnected,
    /// The client's policies do not allow it to receive on the topic (reported when a
    /// confirmation was asked).
    NotAuthorized,
    /// The client did not acknowledge the message in the time allowed.
    Unacknowledged,
    /// The client's connection ended before it acknowledged the message.
    Disconnected,
}

/// A boxed future of the [`DataPlane`].
pub type DataFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The MQTT broker as the iot-data operations see it: the binary wires the broker in, so
/// that this crate needs no dependency on it.
pub trait DataPlane: Send + Sync {
    /// Publishes as an iot-data client does (Publish): the topic and properties checked,
    /// reserved topics refused, a shadow request served like one sent over MQTT. `qos` is 0 or
    /// 1. A retained message is durable when the future completes.
    fn publish(
        &self,
        message: ApiMessage,
        qos: u8,
        retain: bool,
    ) -> DataFuture<'_, Result<(), PublishRefused>>;

    /// Publishes an answer of a service (QoS 1, not retained) on its reserved topic.
    fn publish_service_message(&self, message: ServiceMessage);

    /// GetConnection / ListSubscriptions: the broker's session of `client_id`, if any.
    fn connection<'a>(&'a self, client_id: &'a str) -> DataFuture<'a, Option<ConnectionSummary>>;

    /// The live connections whose client ids sort after `after`, at most `limit`, and whether
    /// more follow (the console's list: iot-data has none).
    fn connections<'a>(
        &'a self,
        after: Option<&'a str>,
        limit: usize,
    ) -> DataFuture<'a, (Vec<ConnectionSummary>, bool)>;

    /// DeleteConnection: closes the client's connection (and with `clean_session` its stored
    /// session); false when there is no session of `client_id`.
    fn disconnect<'a>(
        &'a self,
        client_id: &'a str,
        clean_session: bool,
        prevent_will: bool,
    ) -> DataFuture<'a, bool>;

    /// SendDirectMessage: delivers to the client's connection alone, at QoS 0; or, with
    /// `confirm_within`, at QoS 1, waiting that long for the client's PUBACK.
    fn send_direct_message<'a>(
        &'a self,
        client_id: &'a str,
        message: ApiMessage,
        confirm_within: Option<std::time::Duration>,
    ) -> DataFuture<'a, Result<DirectOutcome, PublishRefused>>;

    /// Why the data plane refuses new connections now (a cluster node that lost PostgreSQL
    /// or NATS), for `/health`; `None` when it takes them.
    fn unavailable(&self) -> Option<String> {
        None
    }
}

/// A client's session as the iot-data connection operations report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionSummary {
    pub client_id: String,
    pub connected: bool,
    pub thing_name: Option<String>,
    pub clean_session: bool,
    pub keep_alive_secs: Option<u64>,
    pub session_expiry_secs: u32,
    /// Epoch milliseconds.
    pub connected_since_ms: Option<i64>,
    pub source_ip: Option<String>,
    pub source_port: Option<u16>,
    /// Filters and their granted QoS (0–2).
    pub subscriptions: Vec<(String, u8)>,
    /// The certificate id or access key of a connected client.
    pub principal: Option<String>,
    /// `MQTT 3.1.1`, `MQTT 5.0`… of a connected client.
    pub protocol: Option<&'static str>,
    /// `mqtts`, `websocket` or `mqtt` of a connected client.
    pub transport: Option<&'static str>,
}

/// Why a destination's confirmation message could not be delivered; becomes the destination's
/// `statusReason` (it turns `ERROR`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct ConfirmationFailed {
    pub reason: String,
}

/// Sends topic rule destinations their confirmation message: AWS POSTs
/// `roost_rules::confirmation_body(arn, token, enable_url)` to the destination's URL. The
/// binary wires in the broker's HTTP client, so that this crate makes no outbound requests.
/// Without a notifier, new destinations stay `IN_PROGRESS` until confirmed by other means.
pub trait DestinationNotifier: Send + Sync {
    /// Delivers one confirmation; the control plane runs it on a task of its own and marks
    /// the destination `ERROR` when it fails.
    fn send_confirmation<'a>(
        &'a self,
        arn: &'a str,
        url: &'a str,
        token: &'a str,
        enable_url: &'a str,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<(), ConfirmationFailed>> + Send + 'a>>;
}

/// Renders the Prometheus exposition text for `/metrics`.
pub type MetricsRenderer = Arc<dyn Fn() -> String + Send + Sync>;

/// What the control plane is configured with.
#[derive(Clone)]
pub struct ApiSettings {
    /// Access key id → secret access key of the callers allowed in.
    pub credentials: HashMap<String, String>,
    /// The region requests must be signed for.
    pub region: String,
    /// Largest accepted difference between a request's signing time and ours.
    pub max_clock_skew: Duration,
    /// The host name devices use for MQTT (DescribeEndpoint).
    pub data_endpoint_host: String,
}

impl std::fmt::Debug for ApiSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiSettings")
            .field(
                "access_key_ids",
                &self.credentials.keys().collect::<Vec<_>>(),
            )
            .field("region", &self.region)
            .field("max_clock_skew", &self.max_clock_skew)
            .field("data_endpoint_host", &self.data_endpoint_host)
            .finish()
    }
}

/// Shared state of the control plane's handlers.
#[derive(Clone)]
pub struct ApiState {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    device_issuer: Arc<CertificateAuthority>,
    /// RegisterThing, bulk registration and the provisioning dry run.
    provisioning: roost_provisioning::Provisioning,
    verifier: roost_sigv4::Verifier,
    /// iot-data requests are signed for `iotdata` (botocore) or `iotdevicegateway` (SDKs).
    data_verifier: roost_sigv4::Verifier,
    /// MQTT over WebSocket is signed for `iotdevicegateway` only, as on AWS IoT.
    websocket_verifier: roost_sigv4::Verifier,
    data_plane: std::sync::OnceLock<Arc<dyn DataPlane>>,
    settings: ApiSettings,
    metrics: Option<MetricsRenderer>,
    bulk_registration: registration::BulkRegistration,
    destination_notifier: std::sync::OnceLock<Arc<dyn DestinationNotifier>>,
    destinations_enabled_on_create: std::sync::atomic::AtomicBool,
    public_url: std::sync::OnceLock<String>,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl ApiState {
    /// `device_issuer` signs the certificates of CreateKeysAndCertificate and
    /// CreateCertificateFromCsr; `metrics` renders `/metrics` (empty without it).
    pub fn new(
        registry: Registry,
        device_issuer: CertificateAuthority,
        settings: ApiSettings,
        metrics: Option<MetricsRenderer>,
    ) -> Self {
        let verifier = roost_sigv4::Verifier::new("iot", settings.region.clone())
            .with_max_skew(settings.max_clock_skew);
        let data_verifier = roost_sigv4::Verifier::new("iotdata", settings.region.clone())
            .also_accepting("iotdevicegateway")
            .with_max_skew(settings.max_clock_skew);
        let websocket_verifier =
            roost_sigv4::Verifier::new("iotdevicegateway", settings.region.clone())
                .with_max_skew(settings.max_clock_skew);
        let device_issuer = Arc::new(device_issuer);
        Self {
            inner: Arc::new(Inner {
                provisioning: roost_provisioning::Provisioning::new(
                    registry.clone(),
                    Some(device_issuer.clone()),
                ),
                registry,
                device_issuer,
                verifier,
                data_verifier,
                websocket_verifier,
                data_plane: std::sync::OnceLock::new(),
                settings,
                metrics,
                bulk_registration: registration::BulkRegistration::default(),
                destination_notifier: std::sync::OnceLock::new(),
                destinations_enabled_on_create: std::sync::atomic::AtomicBool::new(false),
                public_url: std::sync::OnceLock::new(),
            }),
        }
    }

    pub(crate) fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    pub(crate) fn provisioning(&self) -> &roost_provisioning::Provisioning {
        &self.inner.provisioning
    }

    /// Wires the MQTT broker in for the iot-data operations (Publish, and the MQTT answers of
    /// HTTP shadow operations). Without it Publish answers ServiceUnavailable.
    pub fn with_data_plane(self, data_plane: Arc<dyn DataPlane>) -> Self {
        let _ = self.inner.data_plane.set(data_plane);
        self
    }

    pub(crate) fn data_plane(&self) -> Option<&Arc<dyn DataPlane>> {
        self.inner.data_plane.get()
    }

    pub(crate) fn device_issuer(&self) -> &CertificateAuthority {
        &self.inner.device_issuer
    }

    pub(crate) fn bulk_registration(&self) -> &registration::BulkRegistration {
        &self.inner.bulk_registration
    }

    /// Lets bulk registration (StartThingRegistrationTask) read input files from these
    /// directories: each key is the `inputFileBucket` name that stands for its directory.
    /// Without it no bucket exists and every task is refused.
    pub fn with_bulk_registration_dirs(self, dirs: BTreeMap<String, PathBuf>) -> Self {
        self.inner.bulk_registration.set_buckets(dirs);
        self
    }

    /// Marks the bulk registration tasks that a previous run of the server left in progress as
    /// Failed (their work stopped with that process). Call once at start-up, before serving;
    /// returns their ids.
    pub async fn fail_interrupted_registration_tasks(&self) -> Result<Vec<String>, RegistryError> {
        self.inner
            .registry
            .fail_interrupted_registration_tasks(registration::INTERRUPTED_MESSAGE)
            .await
    }

    /// Wires in the sender of topic rule destinations' confirmation messages.
    pub fn with_destination_notifier(self, notifier: Arc<dyn DestinationNotifier>) -> Self {
        let _ = self.inner.destination_notifier.set(notifier);
        self
    }

    pub(crate) fn destination_notifier(&self) -> Option<&Arc<dyn DestinationNotifier>> {
        self.inner.destination_notifier.get()
    }

    /// Creates topic rule destinations (CreateTopicRuleDestination, and those a rule's http
    /// action creates) `ENABLED`, with no confirmation; default false, as on AWS. For
    /// deployments whose rule authors are trusted with any URL.
    pub fn with_destinations_enabled_on_create(self, enabled: bool) -> Self {
        self.inner
            .destinations_enabled_on_create
            .store(enabled, std::sync::atomic::Ordering::Relaxed);
        self
    }

    pub(crate) fn new_destination_status(&self) -> roost_registry::NewDestinationStatus {
        if self
            .inner
            .destinations_enabled_on_create
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            roost_registry::NewDestinationStatus::Enabled
        } else {
            roost_registry::NewDestinationStatus::AwaitConfirmation
        }
    }

    /// The control plane's URL as clients reach it (`https://iot.example.com:8443`), for the
    /// `enableUrl` of destination confirmations. Without it the URL is made from the request's
    /// `Host` header, over http.
    pub fn with_public_url(self, url: impl Into<String>) -> Self {
        let url: String = url.into();
        let _ = self
            .inner
            .public_url
            .set(url.trim_end_matches('/').to_owned());
        self
    }

    pub(crate) fn public_url(&self) -> Option<&str> {
        self.inner.public_url.get().map(String::as_str)
    }

    pub(crate) fn settings(&self) -> &ApiSettings {
        &self.inner.settings
    }

    /// The router with this state, ready to serve.
    pub fn into_router(self) -> Router {
        router(self)
    }
}
