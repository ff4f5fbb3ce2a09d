//! The MQTT data plane: TLS listeners, device identity from the registry, the connection
//! driver around the sans-IO session machine, the router, and live enforcement of registry
//! changes (revoked certificates are cut off, policy changes apply at once).
//!
//! Not here: the MQTT protocol rules (`roost-mqtt`), the codec (`roost-codec`), policy
//! evaluation (`roost-policy`), storage (`roost-registry`). Types that matter: [`Broker`],
//! [`BrokerConfig`], [`identity::verifier::RegistryVerifier`], [`router::Router`].

pub mod admission;
mod api_message;
pub mod authorization;
pub mod availability;
pub mod connection;
pub mod connections;
mod durable_sessions;
mod enforcement;
pub mod fleet;
mod grants;
pub mod identity;
pub mod index;
pub mod lifecycle;
pub mod metrics;
mod provisioning;
pub mod rate_limit;
mod retained;
pub mod router;
pub mod rules;
mod shadow;
pub mod tickets;
pub mod webhook;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use roost_codec::ReasonCode;
use roost_mqtt::{BrokerSettings, MatchSet, Message, PendingWill, RetainedLimits, SessionKey};
use roost_pki::CertificateAuthority;
use roost_policy::{PolicyDocument, PolicySet};
use roost_registry::{Registry, RegistryError};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::NoServerSessionStorage;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admission::PeerIdentity;
pub use crate::identity::principal::AdmissionRules;
use crate::identity::trust::TrustStore;
use crate::identity::verifier::RegistryVerifier;
use crate::index::ConnectionIndex;
use crate::router::{Control, Router};

pub use api_message::ApiProperties;
pub use connections::DirectOutcome;
pub use provisioning::{ProvisioningMode, ProvisioningRefusal};

/// rustls's aws-lc-rs provider with the AES-128-GCM suites first, for a server that picks by
/// its own order: their SHA-256 handshake hashing runs on the CPU's SHA extensions where
/// SHA-384 has none, which makes every full handshake cheaper (a device fleet reconnecting at
/// once is mostly handshakes), at the 128-bit security level of the key exchange anyway.
pub fn server_crypto_provider() -> rustls::crypto::CryptoProvider {
    use rustls::CipherSuite::{
        TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        TLS13_AES_128_GCM_SHA256,
    };
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider.cipher_suites.sort_by_key(|suite| {
        !matches!(
            suite.suite(),
            TLS13_AES_128_GCM_SHA256
                | TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
                | TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
        )
    });
    provider
}

/// Why [`BrokerCore::publish_from_api`] refused a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiPublishError {
    /// Not a valid topic name, or beyond the broker's topic limits.
    #[error("{0}")]
    InvalidTopic(String),
    /// One of Roost's reserved topics (events, service answers).
    #[error("the topic is reserved for Roost's own messages")]
    Reserved,
    /// The response topic is not a valid topic name, or beyond the broker's topic limits.
    #[error("invalid response topic: {0}")]
    InvalidResponseTopic(String),
    /// A property MQTT cannot carry (a string with U+0000, longer than 65535 bytes).
    #[error("{property} cannot travel in an MQTT packet: {reason}")]
    InvalidProperty {
        /// The iot-data member (`contentType`, `userProperties`, `correlationData`).
        property: &'static str,
        reason: String,
    },
}

/// Errors starting the broker.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("loading the registry's certificates failed: {0}")]
    Registry(#[from] RegistryError),
    #[error("the TLS configuration is invalid: {0}")]
    Tls(#[from] rustls::Error),
}

/// How the broker runs.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Region and account of the ARNs policies name.
    pub region: String,
    pub account: String,
    /// MQTT limits and features.
    pub mqtt: BrokerSettings,
    /// Longest a client may take between connecting and sending CONNECT.
    pub connect_timeout: Duration,
    /// Longest a TLS handshake may take.
    pub handshake_timeout: Duration,
    /// Deliveries waiting for one connection before further ones are dropped.
    pub mailbox_capacity: usize,
    /// Most simultaneous connections; more are closed at once.
    pub max_connections: usize,
    /// Longest a client may accept no bytes while the broker has data for it; then it is
    /// considered gone and disconnected.
    pub write_timeout: Duration,
    /// What happens to an unregistered certificate under an auto-registering CA.
    pub provisioning: ProvisioningMode,
    /// The CA that issues certificates to devices over MQTT (fleet provisioning); without it
    /// those requests are answered "ServiceUnavailable".
    pub device_issuer: Option<Arc<CertificateAuthority>>,
    /// How long a fleet-provisioning ownership token is valid (AWS: one hour).
    pub ownership_token_ttl: Duration,
    /// How much the whole broker keeps as retained messages.
    pub retained: RetainedLimits,
    /// Rules admission applies besides each certificate's registry status.
    pub admission: AdmissionRules,
    /// TLS session resumption by stateless tickets on the MQTT listeners.
    pub session_tickets: tickets::SessionTickets,
    /// How often one principal may ask fleet provisioning for a certificate.
    pub fleet_rate: rate_limit::RateLimit,
    /// Persistent sessions are written to the registry and survive a restart.
    pub durable_sessions: bool,
    /// The rules engine's workers, queues and HTTP settings.
    pub rules: rules::RulesConfig,
}

impl BrokerConfig {
    /// Defaults for `region` and `account`.
    pub fn new(region: &str, account: &str) -> Self {
        Self {
            region: region.to_owned(),
            account: account.to_owned(),
            mqtt: BrokerSettings::default(),
            connect_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            mailbox_capacity: 1024,
            max_connections: 100_000,
            write_timeout: Duration::from_secs(30),
            provisioning: ProvisioningMode::default(),
            device_issuer: None,
            ownership_token_ttl: fleet::OWNERSHIP_TOKEN_TTL,
            retained: RetainedLimits::UNLIMITED,
            admission: AdmissionRules::default(),
            session_tickets: tickets::SessionTickets::default(),
            fleet_rate: rate_limit::RateLimit::FLEET_PROVISIONING,
            durable_sessions: true,
            rules: rules::RulesConfig::default(),
        }
    }
}

/// What every connection task shares.
pub struct BrokerCore {
    pub router: Router,
    pub trust: Arc<TrustStore>,
    pub registry: Registry,
    pub index: ConnectionIndex,
    pub settings: BrokerSettings,
    pub config: BrokerConfig,
    /// Topic rules, run on the messages the broker accepts.
    pub rules: rules::RuleEngine,
    insecure_policy: Option<PolicySet>,
    /// What an access key's connection may do (MQTT over a signed WebSocket): everything.
    full_access: PolicySet,
    /// Parsed policies shared by every connection.
    policies: grants::PolicyCache,
    /// Fleet provisioning's certificate requests, by principal.
    fleet_limiter: rate_limit::RateLimiter,
    next_connection: AtomicU64,
    /// The provisioning service (JITP, JITR and fleet provisioning), shared with the API.
    provisioning: roost_provisioning::Provisioning,
    pub metrics: metrics::BrokerMetrics,
    /// Whether new connections are taken (see [`availability`]).
    pub availability: availability::Availability,
}

impl std::fmt::Debug for BrokerCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerCore").finish_non_exhaustive()
    }
}

pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl BrokerCore {
    fn next_connection_id(&self) -> u64 {
        self.next_connection.fetch_add(1, Ordering::Relaxed)
    }

    fn connections_gauge(&self, delta: i64) {
        if delta > 0 {
            self.metrics.connections.increment(delta as f64);
        } else {
            self.metrics.connections.decrement((-delta) as f64);
        }
    }

    /// Routes a message of Roost's own (an event, a will): deliveries to full mailboxes are
    /// completed in the background, and so is making a retained one durable.
    fn route_detached(&self, message: &Message) {
        // Service messages (shadow answers, events, wills) are frequent: nothing is allocated
        // for the rules unless one is enabled.
        if self.rules.is_active() {
            self.rules
                .offer(message, &Arc::default(), &mut MatchSet::new());
        }
        let routed = self.route_in_memory(message);
        if routed.retained.is_none() && routed.owed.is_empty() {
            return;
        }
        let registry = self.registry.clone();
        let message = message.clone();
        tokio::spawn(async move { make_durable(&registry, &message, routed).await });
    }

    /// Routes `message` (deliveries to full mailboxes completed in the background) and returns
    /// what it did beyond delivering, which the caller makes durable ([`make_durable`]).
    fn route_in_memory(&self, message: &Message) -> router::Routed {
        let mut busy = Vec::new();
        let routed = self.router.route(
            message,
            None,
            &mut MatchSet::new(),
            &mut busy,
            Instant::now(),
        );
        if !busy.is_empty() {
            let counters = self.router.counters.clone();
            let metrics = self.router.metrics.clone();
            tokio::spawn(async move { router::wait_for_room(&counters, &metrics, busy).await });
        }
        if let (Some(message), Some(interconnect)) =
            (routed.unforwarded.clone(), self.router.interconnect())
        {
            let interconnect = interconnect.clone();
            tokio::spawn(async move { interconnect.forward_when_room(message).await });
        }
        routed
    }

    /// Routes a message another node of the cluster sent to this node's subscriptions that
    /// `reach` says. A full mailbox is waited for here, so a slow subscriber slows the link
    /// that feeds it (as it slows a local publisher); deliveries queued for offline persistent
    /// sessions are made durable in the background.
    pub async fn route_from_cluster(
        &self,
        message: &Message,
        reach: router::RemoteReach<'_>,
        scratch: &mut MatchSet,
    ) {
        let mut busy = Vec::new();
        let routed = self
            .router
            .route_remote(message, reach, scratch, &mut busy, Instant::now());
        if !busy.is_empty() {
            router::wait_for_room(&self.router.counters, &self.router.metrics, busy).await;
        }
        if !routed.owed.is_empty() {
            let registry = self.registry.clone();
            let message = message.clone();
            tokio::spawn(async move { make_durable(&registry, &message, routed).await });
        }
    }

    /// Gives up this node's session of `client_id` to another node of the cluster: an online
    /// connection is closed (0x8E, as for a takeover) once its session is written to the
    /// registry, and the session is then forgotten here.
    pub async fn hand_over_session(&self, client_id: &str) {
        self.end_session_here(client_id).await;
    }

    /// A client id this node holds was taken by a Clean Start connection on another node: its
    /// connection here is closed and its session ends, in memory and in the registry (the
    /// close writes it; the delete follows).
    pub async fn end_taken_session(&self, client_id: &str) {
        self.end_session_here(client_id).await;
        if self.config.durable_sessions
            && let Err(error) = self.registry.delete_session(client_id).await
        {
            tracing::error!(%error, "deleting a session taken with Clean Start failed");
        }
    }

    async fn end_session_here(&self, client_id: &str) {
        if let Some(router::Located::Online(control)) = self.router.locate(client_id) {
            let (done, closed) = tokio::sync::oneshot::channel();
            let sent = control.send(router::Control::Close {
                reason: roost_codec::ReasonCode::SessionTakenOver,
                lifecycle: lifecycle::DisconnectReason::DuplicateClientId,
                done: Some(done),
            });
            if sent.is_ok() {
                let _ = tokio::time::timeout(std::time::Duration::from_secs(5), closed).await;
            }
        }
        self.router.discard_offline_session(client_id);
    }

    /// Loads `client_id`'s stored session from the registry as an offline session of this
    /// node (another node of the cluster held it), so that the connection about to attach
    /// resumes it.
    pub(crate) async fn adopt_stored_session(&self, client_id: &str) {
        match self.registry.stored_session(client_id).await {
            Ok(Some(stored)) => {
                let last_number = durable_sessions::last_number(std::slice::from_ref(&stored));
                if let Some(restored) =
                    durable_sessions::restore(stored, &self.config.mqtt.topic_limits)
                {
                    self.router.restore_sessions([restored], last_number);
                }
            }
            Ok(None) => {}
            Err(error) => {
                tracing::error!(%error, "reading a session another node held failed; starting a new one")
            }
        }
    }

    /// Publishes a message of one of Roost's services (a shadow answer, an iot-data Publish)
    /// through the router, as if a client with every right had sent it. `false` if `topic`
    /// is not a valid topic name.
    pub fn publish_service_message(
        &self,
        topic: &str,
        payload: bytes::Bytes,
        qos: roost_codec::QoS,
        retain: bool,
    ) -> bool {
        let Ok(topic) = roost_codec::TopicName::new(topic) else {
            return false;
        };
        let message = Message::new(
            topic,
            payload,
            qos,
            retain,
            roost_codec::PublishProperties::default(),
            Instant::now(),
        );
        self.route_detached(&message);
        true
    }

    /// Publishes as a client of the iot-data API does: the topic and properties are checked
    /// against the MQTT rules and the broker's limits, Roost's reserved topics are refused, and
    /// a shadow request is served as one sent over MQTT. Delivery to subscribers is as for any
    /// PUBLISH, properties included; a retained message is durable when this returns.
    pub async fn publish_from_api(
        self: &Arc<Self>,
        topic: &str,
        payload: bytes::Bytes,
        qos: roost_codec::QoS,
        retain: bool,
        properties: ApiProperties,
    ) -> Result<(), ApiPublishError> {
        let message = self.api_message(topic, payload, qos, retain, properties)?;
        let origin = Arc::new(rules::Origin::default());
        if let Some((rule, rest)) = roost_rules::basic_ingest(topic) {
            self.rules.ingest(rule, rest, &message, &origin);
            return Ok(());
        }
        if let Some(request) = shadow::ShadowRequest::parse(topic, &message.payload) {
            let core = self.clone();
            tokio::spawn(async move { core.serve_shadow_request(request).await });
        }
        if self.rules.is_active() {
            self.rules.offer(&message, &origin, &mut MatchSet::new());
        }
        let routed = self.route_in_memory(&message);
        make_durable(&self.registry, &message, routed).await;
        Ok(())
    }

    /// Publishes a rule's republish: routed, and offered to the rules again (as on AWS, with
    /// no loop guard).
    pub(crate) fn publish_rule_message(&self, message: &Message) {
        self.route_detached(message);
    }

    /// Publishes an event of Roost's own (lifecycle, registration) through the router.
    pub fn publish_event(&self, (topic, body): (String, serde_json::Value)) {
        if let Some(message) = connection::event_message(&topic, &body) {
            self.route_detached(&message);
        }
    }

    /// Publishes a will now, or after its delay unless the session is resumed first.
    fn schedule_will(
        self: &Arc<Self>,
        subject: connection::WillSubject,
        key: SessionKey,
        will: PendingWill,
    ) {
        if will.delay.is_zero() {
            self.route_detached(&connection::will_message(&will));
            return;
        }
        let core = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(will.delay).await;
            if core.router.is_resumed(&subject.client_id, key) {
                return;
            }
            // The certificate or its policies may have changed during the delay.
            if subject.still_allows(&core, &will).await {
                core.route_detached(&connection::will_message(&will));
            } else {
                tracing::info!(client_id = %subject.client_id, "a delayed will is no longer allowed; not published");
            }
        });
    }
}

/// Writes what routing `message` changed beyond delivering it: the retained store, the
/// queues of offline sessions.
async fn make_durable(registry: &Registry, message: &Message, routed: router::Routed) {
    if let Some(outcome) = routed.retained
        && let Err(error) = retained::persist(registry, message, outcome).await
    {
        tracing::error!(%error, "storing a retained message failed");
    }
    let owed: Vec<_> = routed
        .owed
        .iter()
        .filter_map(|o| durable_sessions::message_record(&o.client_id, &o.delivery))
        .collect();
    if let Err(error) = registry.append_session_messages(owed).await {
        tracing::error!(%error, "storing messages queued for offline sessions failed");
    }
}

/// A running broker: its shared state and its listeners.
#[derive(Debug)]
pub struct Broker {
    core: Arc<BrokerCore>,
    shutdown: CancellationToken,
    connections: TaskTracker,
    permits: Arc<Semaphore>,
}

impl Broker {
    /// Loads the trust view from `registry`, subscribes to its changes and starts the
    /// background tasks (enforcement, session expiry). `insecure_policy` governs clients of the
    /// insecure plaintext listener, if one is served.
    pub async fn start(
        registry: Registry,
        config: BrokerConfig,
        insecure_policy: Option<PolicyDocument>,
    ) -> Result<Self, BrokerError> {
        let trust = Arc::new(TrustStore::load(&registry).await?);
        let core = Arc::new(BrokerCore {
            router: Router::new(
                config.mqtt.queue_limit(),
                config.mqtt.queue_qos0_while_offline,
                config.retained,
                config.durable_sessions,
            ),
            trust,
            index: ConnectionIndex::default(),
            settings: config.mqtt.clone(),
            insecure_policy: insecure_policy.map(|document| {
                PolicySet::new([("insecure-listener".to_owned(), Arc::new(document))])
            }),
            full_access: full_access_policy(),
            policies: grants::PolicyCache::default(),
            fleet_limiter: rate_limit::RateLimiter::new(config.fleet_rate),
            next_connection: AtomicU64::new(1),
            provisioning: roost_provisioning::Provisioning::new(
                registry.clone(),
                config.device_issuer.clone(),
            ),
            metrics: metrics::BrokerMetrics::new(),
            availability: availability::Availability::default(),
            registry: registry.clone(),
            rules: rules::RuleEngine::new(config.rules.clone(), config.mqtt.topic_limits),
            config: config.clone(),
        });
        core.router
            .restore_retained(retained::load(&registry).await?);
        if config.durable_sessions {
            let stored = registry.all_sessions().await?;
            let last_number = durable_sessions::last_number(&stored);
            let limits = &config.mqtt.topic_limits;
            let restored: Vec<_> = stored
                .into_iter()
                .filter_map(|s| durable_sessions::restore(s, limits))
                .collect();
            if !restored.is_empty() {
                tracing::info!(sessions = restored.len(), "persistent sessions restored");
            }
            core.router.restore_sessions(restored, last_number);
        }
        let shutdown = CancellationToken::new();
        core.rules.reload(&registry).await?;
        rules::start_workers(&core);
        enforcement::start(core.clone(), &registry, shutdown.clone());
        tokio::spawn(sweep(core.clone(), shutdown.clone()));
        Ok(Self {
            permits: Arc::new(Semaphore::new(config.max_connections)),
            core,
            shutdown,
            connections: TaskTracker::new(),
        })
    }

    /// The shared state (for metrics and tests).
    pub fn core(&self) -> &Arc<BrokerCore> {
        &self.core
    }

    /// The way in for connections accepted by another server (MQTT over WebSocket, upgraded
    /// by the control plane's HTTP server).
    pub fn gate(&self) -> ConnectionGate {
        ConnectionGate {
            core: self.core.clone(),
            permits: self.permits.clone(),
            tracker: self.connections.clone(),
            shutdown: self.shutdown.clone(),
        }
    }

    /// A TLS configuration that requires client certificates known to the registry, with
    /// the server's `chain` and `key`. `alpn` is empty on 8883 and `x-amzn-mqtt-ca` on 443.
    pub fn tls_config(
        &self,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        alpn: Vec<Vec<u8>>,
    ) -> Result<Arc<ServerConfig>, BrokerError> {
        let provider = Arc::new(server_crypto_provider());
        let verifier = Arc::new(RegistryVerifier::new(
            self.core.trust.clone(),
            provider.signature_verification_algorithms,
        ));
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)?;
        // Resumption skips the handshake's certificate check, never admission's: the chain is
        // restored from the ticket and its status, CA and policies are checked at CONNECT.
        // Tickets are stateless; no session cache is kept.
        config.session_storage = Arc::new(NoServerSessionStorage {});
        let tickets = self.core.config.session_tickets;
        if tickets.enabled {
            config.ticketer = Arc::new(tickets::ticketer(tickets)?);
            // One ticket per connection: a device reconnects with the latest one.
            config.send_tls13_tickets = 1;
        } else {
            config.send_tls13_tickets = 0;
        }
        config.ignore_client_order = true;
        config.alpn_protocols = alpn;
        Ok(Arc::new(config))
    }

    /// Serves MQTT over TLS on `listener` until shutdown.
    pub fn serve_tls(
        &self,
        listener: TcpListener,
        tls: Arc<ServerConfig>,
    ) -> tokio::task::JoinHandle<()> {
        let acceptor = TlsAcceptor::from(tls);
        let core = self.core.clone();
        let shutdown = self.shutdown.clone();
        let tracker = self.connections.clone();
        let permits = self.permits.clone();
        tokio::spawn(async move {
            while let Some((tcp, peer)) = accept(&listener, &shutdown).await {
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    ::metrics::counter!("roost_mqtt_connections_refused_total", "reason" => "limit")
                        .increment(1);
                    continue;
                };
                let acceptor = acceptor.clone();
                let core = core.clone();
                tracker.spawn(async move {
                    let _permit = permit;
                    let handshake =
                        tokio::time::timeout(core.config.handshake_timeout, acceptor.accept(tcp))
                            .await;
                    match handshake {
                        Ok(Ok(tls)) => {
                            let chain: Vec<CertificateDer<'static>> = tls
                                .get_ref()
                                .1
                                .peer_certificates()
                                .map(|certs| certs.iter().map(|c| c.clone().into_owned()).collect())
                                .unwrap_or_default();
                            connection::serve(core, tls, peer, PeerIdentity::Certificates(chain))
                                .await;
                        }
                        Ok(Err(error)) => {
                            ::metrics::counter!("roost_mqtt_tls_handshake_failures_total")
                                .increment(1);
                            tracing::debug!(%peer, %error, "TLS handshake failed");
                        }
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        })
    }

    /// Serves plaintext MQTT on `listener`, every client governed by the insecure policy.
    /// For local development and benchmarks only.
    pub fn serve_insecure_tcp(&self, listener: TcpListener) -> tokio::task::JoinHandle<()> {
        let core = self.core.clone();
        let shutdown = self.shutdown.clone();
        let tracker = self.connections.clone();
        let permits = self.permits.clone();
        tokio::spawn(async move {
            while let Some((tcp, peer)) = accept(&listener, &shutdown).await {
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    continue;
                };
                let core = core.clone();
                tracker.spawn(async move {
                    let _permit = permit;
                    connection::serve(core, tcp, peer, PeerIdentity::Insecure).await;
                });
            }
        })
    }

    /// Stops accepting, closes every connection (v5 clients get 0x8B) and waits up to
    /// `grace` for them to finish.
    pub async fn shutdown(&self, grace: Duration) {
        self.shutdown.cancel();
        self.connections.close();
        for control in self.core.router.online_controls() {
            let _ = control.send(Control::Close {
                reason: ReasonCode::ServerShuttingDown,
                lifecycle: lifecycle::DisconnectReason::ServerInitiated,
                done: None,
            });
        }
        if tokio::time::timeout(grace, self.connections.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                left = self.connections.len(),
                "connections still open after the shutdown grace period"
            );
        }
    }
}

/// Connections whose streams another server accepted (MQTT over WebSocket): they count against
/// `max_connections` and are closed and awaited at shutdown like the broker's own listeners'.
#[derive(Debug, Clone)]
pub struct ConnectionGate {
    core: Arc<BrokerCore>,
    permits: Arc<Semaphore>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

/// A place among the broker's `max_connections`, taken before a WebSocket upgrade is answered
/// (so that a full broker refuses with an HTTP status instead of an upgrade it then drops).
#[derive(Debug)]
pub struct ConnectionSlot {
    gate: ConnectionGate,
    permit: OwnedSemaphorePermit,
}

impl ConnectionGate {
    /// A slot for one more connection; `None` when the broker is at `max_connections` or
    /// shutting down.
    pub fn reserve(&self) -> Option<ConnectionSlot> {
        if self.shutdown.is_cancelled() {
            return None;
        }
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            ::metrics::counter!("roost_mqtt_connections_refused_total", "reason" => "limit")
                .increment(1);
            return None;
        };
        Some(ConnectionSlot {
            gate: self.clone(),
            permit,
        })
    }
}

impl ConnectionSlot {
    /// Serves MQTT on `stream` from `peer` as any listener's connection (admission, session,
    /// keep-alive), until it closes; the slot is freed then.
    pub async fn serve<S>(self, stream: S, peer: SocketAddr, identity: PeerIdentity)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
    {
        let Self { gate, permit } = self;
        let served = connection::serve(gate.core, stream, peer, identity);
        gate.tracker.track_future(served).await;
        drop(permit);
    }
}

/// Every action on every resource: the grants of an access key's connection.
fn full_access_policy() -> PolicySet {
    const ALLOW_ALL: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}"#;
    let documents = PolicyDocument::parse(ALLOW_ALL)
        .map(|document| ("access-key".to_owned(), Arc::new(document)))
        .into_iter();
    PolicySet::new(documents)
}

/// The next connection, or `None` at shutdown. Accept errors (out of file descriptors) are
/// logged and retried after a pause instead of ending the listener.
async fn accept(
    listener: &TcpListener,
    shutdown: &CancellationToken,
) -> Option<(tokio::net::TcpStream, SocketAddr)> {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return None,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let _ = tcp.set_nodelay(true);
                    return Some((tcp, peer));
                }
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
}

/// Expires offline sessions and retained messages once a second, and what fleet provisioning
/// left unclaimed every few seconds.
async fn sweep(core: Arc<BrokerCore>, shutdown: CancellationToken) {
    const FLEET_SWEEP_EVERY: u32 = 5;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut ticks = 0u32;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {
                let now = Instant::now();
                for client_id in core.router.expire_sessions(now) {
                    tracing::debug!(client_id, "persistent session expired");
                    if core.config.durable_sessions {
                        let registry = core.registry.clone();
                        tokio::spawn(async move {
                            if let Err(error) = registry.delete_session(&client_id).await {
                                tracing::warn!(%error, "deleting an expired stored session failed");
                            }
                        });
                    }
                }
                core.router.expire_retained(now);
                ticks = ticks.wrapping_add(1);
                if ticks.is_multiple_of(FLEET_SWEEP_EVERY) {
                    match core.registry.expire_fleet_provisioning().await {
                        Ok(removed) if !removed.is_empty() => {
                            tracing::info!(count = removed.len(), "unclaimed fleet-provisioning certificates removed");
                        }
                        Ok(_) => {}
                        Err(error) => tracing::warn!(%error, "expiring fleet provisioning state failed"),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_prefers_aes_128_gcm_and_keeps_every_default_suite() {
        let ours = server_crypto_provider().cipher_suites;
        let defaults = rustls::crypto::aws_lc_rs::default_provider().cipher_suites;
        assert_eq!(ours.len(), defaults.len());
        assert!(
            defaults
                .iter()
                .all(|d| ours.iter().any(|o| o.suite() == d.suite()))
        );
        let first_tls13 = ours.iter().find(|s| s.tls13().is_some()).unwrap();
        assert_eq!(
            first_tls13.suite(),
            rustls::CipherSuite::TLS13_AES_128_GCM_SHA256
        );
    }
}
