//! `roost serve`: prepares the data directory, opens the registry and runs the control plane
//! (and, as they land, the other planes) until SIGINT or SIGTERM.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use roost_api::{ApiSettings, ApiState};
use roost_broker::{Broker, BrokerConfig, ProvisioningMode};
use roost_registry::{Arns, Registry, StoreOptions};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::data_dir::{DataDir, Endpoints};
use crate::env_command::configured_endpoints;
use crate::https::{HttpLimits, server_config};

/// Reader connections of the registry pool.
const REGISTRY_READERS: u32 = 8;

/// How often a cluster node checks that it reaches PostgreSQL and NATS.
const DEPENDENCY_CHECK_PERIOD: Duration = Duration::from_millis(500);

/// Joins the registry side of a cluster: follows the other nodes' commits, and shares the
/// data directory's CAs and admin keys through the database (the first node's win; see
/// `DataDir::adopt_cluster_secrets`).
async fn join_cluster_registry(config: &Config, registry: &Registry, data: &DataDir) -> Result<()> {
    let node = config.node_id();
    registry
        .join_cluster(
            &node,
            Duration::from_millis(config.cluster.registry_poll_ms),
        )
        .await
        .context("joining the cluster's registry")?;
    let shared = registry
        .shared_setting("cluster_secrets", data.cluster_secrets()?)
        .await
        .context("sharing the cluster's CAs and admin keys")?;
    if data.adopt_cluster_secrets(&shared, &server_names(config))? {
        tracing::info!(node = %node, "took the cluster's server CA, device-issuing CA and admin keys");
    }
    tracing::info!(node = %node, "joined the cluster's registry");
    Ok(())
}

pub(crate) async fn run(config: Config) -> Result<()> {
    let data = DataDir::new(&config.data_dir);
    data.prepare(&server_names(&config))?;
    if let Some(db) = config.sqlite_path() {
        data.secure_database(&db)?;
    }

    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("installing the metrics recorder")?;

    let registry = Registry::open(
        &StoreOptions {
            url: config.database_url(),
            max_readers: REGISTRY_READERS,
        },
        Arns::new(&config.region, &config.account_id),
    )
    .await
    .context("opening the registry")?;
    if config.is_clustered() {
        join_cluster_registry(&config, &registry, &data).await?;
    }

    let mut credentials: HashMap<String, String> = config
        .credentials
        .iter()
        .map(|c| (c.access_key_id.clone(), c.secret_access_key.clone()))
        .collect();
    let admin = data.admin_credentials()?;
    credentials.insert(admin.access_key_id, admin.secret_access_key);

    let state = ApiState::new(
        registry.clone(),
        data.device_issuer()?,
        ApiSettings {
            credentials,
            region: config.region.clone(),
            max_clock_skew: Duration::from_secs(config.api.max_clock_skew_secs),
            data_endpoint_host: config.mqtt.public_host.clone(),
        },
        Some(Arc::new(move || metrics.render())),
    )
    .with_bulk_registration_dirs(bulk_registration_dirs(&config)?);
    let interrupted = state
        .fail_interrupted_registration_tasks()
        .await
        .context("closing the bulk registration tasks of the last run")?;
    if !interrupted.is_empty() {
        tracing::warn!(tasks = ?interrupted, "bulk registration tasks cut short by the last stop are now Failed");
    }

    let broker_config = broker_config(&config, &data)?;
    let broker = Broker::start(
        registry.clone(),
        broker_config.clone(),
        insecure_policy(&config)?,
    )
    .await
    .context("starting the MQTT broker")?;
    if config.is_clustered() {
        let link = roost_cluster::ClusterLink::join(
            &roost_cluster::ClusterOptions {
                nats_url: config.cluster.nats_url.clone(),
                node_id: config.node_id(),
                subject_prefix: config.cluster.subject_prefix.clone(),
            },
            broker.core().clone(),
        )
        .await
        .context("joining the cluster's message bus")?;
        link.watch_dependencies(broker.core().clone(), DEPENDENCY_CHECK_PERIOD);
    }
    let state = state.with_data_plane(Arc::new(BrokerDataPlane(broker.core().clone())));
    let cert_pem = std::fs::read_to_string(server_cert_path(&config, &data))?;
    let key_pem = std::fs::read_to_string(server_key_path(&config, &data))?;
    let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .context("reading the server certificate chain")?;
    let key =
        PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).context("reading the server key")?;
    let mqtt_listener = TcpListener::bind(config.mqtt.listen)
        .await
        .with_context(|| format!("binding MQTT to {}", config.mqtt.listen))?;
    let mqtt_addr = mqtt_listener.local_addr()?;
    broker.serve_tls(
        mqtt_listener,
        broker.tls_config(chain.clone(), key.clone_key(), Vec::new())?,
    );
    if let Some(addr) = config.mqtt.alpn_listen {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the ALPN MQTT listener to {addr}"))?;
        let tls = broker.tls_config(
            chain.clone(),
            key.clone_key(),
            vec![b"x-amzn-mqtt-ca".to_vec()],
        )?;
        broker.serve_tls(listener, tls);
    }
    let shutdown = CancellationToken::new();
    let mut https_data_port = None;
    if let Some(addr) = config.mqtt.https_data_listen {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the device HTTPS listener to {addr}"))?;
        https_data_port = Some(listener.local_addr()?.port());
        let tls = broker.tls_config(chain.clone(), key.clone_key(), vec![b"http/1.1".to_vec()])?;
        let core = broker.core().clone();
        let devices = roost_api::device_router(state.clone());
        let limits = HttpLimits {
            max_connections: config.mqtt.max_connections,
            max_tls_handshakes: config.api.max_tls_handshakes,
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(config.api.header_read_timeout_secs),
        };
        tokio::spawn(crate::https::serve_mutual_tls(
            listener,
            tls,
            limits,
            shutdown.clone(),
            move |chain, peer| {
                crate::device_https::route(core.clone(), devices.clone(), chain, peer)
            },
        ));
    }
    let mut insecure_tcp_port = None;
    if let Some(addr) = config.mqtt.insecure_tcp_listen {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the insecure MQTT listener to {addr}"))?;
        let bound = listener.local_addr()?;
        tracing::warn!(addr = %bound, "INSECURE plaintext MQTT listener without client certificates is enabled");
        insecure_tcp_port = Some(bound.port());
        broker.serve_insecure_tcp(listener);
    }

    let api_listener = TcpListener::bind(config.api.listen)
        .await
        .with_context(|| format!("binding the control plane to {}", config.api.listen))?;
    let api_addr = api_listener.local_addr()?;
    let https = !api_addr.ip().is_loopback();
    let state = state
        .with_public_url(public_api_url(&config, api_addr, https))
        .with_destinations_enabled_on_create(config.rules.destinations_enabled_on_create)
        .with_destination_notifier(Arc::new(DestinationConfirmations(
            broker_config.rules.clone(),
        )));
    let control_limits = HttpLimits {
        max_connections: config.api.max_connections,
        max_tls_handshakes: config.api.max_tls_handshakes,
        handshake_timeout: Duration::from_secs(10),
        header_read_timeout: Duration::from_secs(config.api.header_read_timeout_secs),
    };
    let mqtt_over_websocket =
        crate::websocket::router(state.clone(), broker.gate(), config.mqtt.max_packet_size);
    let mut wss_port = None;
    if let Some(addr) = config.mqtt.wss_listen {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the MQTT over WebSocket listener to {addr}"))?;
        wss_port = Some(listener.local_addr()?.port());
        let tls = server_config(
            &std::fs::read_to_string(server_cert_path(&config, &data))?,
            &std::fs::read_to_string(server_key_path(&config, &data))?,
        )?;
        tokio::spawn(crate::https::serve(
            listener,
            Some(tls),
            mqtt_over_websocket.clone(),
            control_limits,
            shutdown.clone(),
        ));
    }
    let api_task = {
        let router = state
            .into_router()
            .merge(mqtt_over_websocket)
            .merge(roost_console::router());
        let tls = if https {
            Some(server_config(
                &std::fs::read_to_string(server_cert_path(&config, &data))?,
                &std::fs::read_to_string(server_key_path(&config, &data))?,
            )?)
        } else {
            None
        };
        tokio::spawn(crate::https::serve(
            api_listener,
            tls,
            router,
            control_limits,
            shutdown.clone(),
        ))
    };

    let endpoints = Endpoints {
        api_url: api_url(api_addr, https),
        mqtt_port: mqtt_addr.port(),
        insecure_tcp_port,
        https_data_port,
        wss_port,
        ..configured_endpoints(&config)
    };
    let stop = StopSignals::install();
    data.write_endpoints(&endpoints)?;
    print_banner(&config, &data, &endpoints);

    stop.wait().await;
    tracing::info!("shutting down");
    shutdown.cancel();
    broker.shutdown(Duration::from_secs(5)).await;
    api_task.await?;
    registry.close().await;
    data.remove_endpoints();
    Ok(())
}

/// Sends topic rule destinations their confirmation message, with the rules engine's HTTP
/// settings.
struct DestinationConfirmations(roost_broker::rules::RulesConfig);

impl roost_api::DestinationNotifier for DestinationConfirmations {
    fn send_confirmation<'a>(
        &'a self,
        arn: &'a str,
        url: &'a str,
        token: &'a str,
        enable_url: &'a str,
    ) -> std::pin::Pin<
        Box<
            dyn Future<Output = std::result::Result<(), roost_api::ConfirmationFailed>> + Send + 'a,
        >,
    > {
        Box::pin(async move {
            roost_broker::rules::send_destination_confirmation(&self.0, url, arn, token, enable_url)
                .await
                .map_err(|reason| roost_api::ConfirmationFailed { reason })
        })
    }
}

fn connection_summary(
    info: roost_broker::connections::ConnectionInfo,
) -> roost_api::ConnectionSummary {
    roost_api::ConnectionSummary {
        client_id: info.client_id,
        connected: info.connected,
        thing_name: info.thing_name,
        clean_session: info.clean_session,
        keep_alive_secs: info.keep_alive_secs,
        session_expiry_secs: info.session_expiry_secs,
        connected_since_ms: info.connected_since_ms,
        source_ip: info.source_ip,
        source_port: info.source_port,
        subscriptions: info
            .subscriptions
            .into_iter()
            .map(|(filter, qos)| (filter, qos as u8))
            .collect(),
        principal: info.principal,
        protocol: info.protocol,
        transport: info.transport,
    }
}

/// The broker as the iot-data operations of the control plane reach it.
struct BrokerDataPlane(Arc<roost_broker::BrokerCore>);

impl roost_api::DataPlane for BrokerDataPlane {
    fn unavailable(&self) -> Option<String> {
        self.0.availability.unavailable()
    }

    fn publish(
        &self,
        message: roost_api::ApiMessage,
        qos: u8,
        retain: bool,
    ) -> roost_api::DataFuture<'_, std::result::Result<(), roost_api::PublishRefused>> {
        let qos = if qos == 0 {
            roost_codec::QoS::AtMostOnce
        } else {
            roost_codec::QoS::AtLeastOnce
        };
        Box::pin(async move {
            self.0
                .publish_from_api(
                    &message.topic,
                    message.payload.into(),
                    qos,
                    retain,
                    broker_properties(message.properties),
                )
                .await
                .map_err(api_refusal)
        })
    }

    fn publish_service_message(&self, message: roost_api::ServiceMessage) {
        self.0.publish_service_message(
            &message.topic,
            message.payload.into(),
            roost_codec::QoS::AtLeastOnce,
            false,
        );
    }

    fn connection<'a>(
        &'a self,
        client_id: &'a str,
    ) -> roost_api::DataFuture<'a, Option<roost_api::ConnectionSummary>> {
        Box::pin(async move {
            let info = self.0.describe_connection(client_id).await?;
            Some(connection_summary(info))
        })
    }

    fn connections<'a>(
        &'a self,
        after: Option<&'a str>,
        limit: usize,
    ) -> roost_api::DataFuture<'a, (Vec<roost_api::ConnectionSummary>, bool)> {
        Box::pin(async move {
            let page = self.0.list_connections(after, limit).await;
            let summaries = page.connections.into_iter().map(connection_summary);
            (summaries.collect(), page.last.is_some())
        })
    }

    fn disconnect<'a>(
        &'a self,
        client_id: &'a str,
        clean_session: bool,
        prevent_will: bool,
    ) -> roost_api::DataFuture<'a, bool> {
        Box::pin(
            self.0
                .delete_connection(client_id, clean_session, prevent_will),
        )
    }

    fn send_direct_message<'a>(
        &'a self,
        client_id: &'a str,
        message: roost_api::ApiMessage,
        confirm_within: Option<Duration>,
    ) -> roost_api::DataFuture<
        'a,
        std::result::Result<roost_api::DirectOutcome, roost_api::PublishRefused>,
    > {
        use roost_api::DirectOutcome as Api;
        use roost_broker::DirectOutcome as Broker;
        Box::pin(async move {
            let outcome = self
                .0
                .send_direct_message(
                    client_id,
                    &message.topic,
                    message.payload.into(),
                    broker_properties(message.properties),
                    confirm_within,
                )
                .await
                .map_err(api_refusal)?;
            Ok(match outcome {
                Broker::Sent | Broker::Acknowledged => Api::Delivered,
                Broker::NotConnected => Api::NotConnected,
                Broker::NotAuthorized => Api::NotAuthorized,
                Broker::Unacknowledged => Api::Unacknowledged,
                Broker::Disconnected => Api::Disconnected,
            })
        })
    }
}

/// The broker's form of the MQTT 5 properties an iot-data request carries.
fn broker_properties(properties: roost_api::MessageProperties) -> roost_broker::ApiProperties {
    roost_broker::ApiProperties {
        content_type: properties.content_type,
        response_topic: properties.response_topic,
        message_expiry_secs: properties.message_expiry_secs,
        user_properties: properties.user_properties,
        payload_format: properties.payload_format.map(|format| match format {
            roost_api::PayloadFormat::UnspecifiedBytes => roost_codec::PayloadFormat::Unspecified,
            roost_api::PayloadFormat::Utf8Data => roost_codec::PayloadFormat::Utf8,
        }),
        correlation_data: properties.correlation_data.map(Into::into),
    }
}

/// The API's form of the broker's refusal of a published message.
fn api_refusal(refused: roost_broker::ApiPublishError) -> roost_api::PublishRefused {
    use roost_api::PublishRefused as Api;
    use roost_broker::ApiPublishError as Broker;
    match refused {
        Broker::InvalidTopic(reason) => Api::InvalidTopic(reason),
        Broker::Reserved => Api::Reserved,
        Broker::InvalidResponseTopic(reason) => Api::InvalidResponseTopic(reason),
        Broker::InvalidProperty { property, reason } => Api::InvalidProperty { property, reason },
    }
}

fn broker_config(config: &Config, data: &DataDir) -> Result<BrokerConfig> {
    let mqtt = &config.mqtt;
    let mut broker = BrokerConfig::new(&config.region, &config.account_id);
    broker.mqtt.maximum_packet_size = mqtt.max_packet_size;
    if let Some(inflight) = std::num::NonZeroU16::new(mqtt.max_inflight) {
        broker.mqtt.max_inflight = inflight;
        broker.mqtt.receive_maximum = inflight;
    }
    broker.mqtt.max_queued_messages = mqtt.max_queued_messages;
    broker.mqtt.max_queued_bytes = mqtt.max_queued_bytes;
    broker.mqtt.topic_limits = roost_mqtt::TopicLimits {
        max_bytes: mqtt.max_topic_bytes,
        max_levels: mqtt.max_topic_levels,
        ..roost_mqtt::TopicLimits::AWS_IOT
    };
    broker.mqtt.max_filters_per_subscribe = mqtt.max_filters_per_subscribe;
    broker.mqtt.max_subscriptions = mqtt.max_subscriptions_per_connection;
    broker.retained = roost_mqtt::RetainedLimits {
        max_messages: mqtt.max_retained_messages,
        max_bytes: mqtt.max_retained_bytes,
    };
    broker.mqtt.max_session_expiry_secs = mqtt.max_session_expiry_secs;
    broker.mqtt.v3_session_expiry_secs = mqtt
        .persistent_session_expiry_secs
        .min(mqtt.max_session_expiry_secs);
    broker.durable_sessions = mqtt.durable_sessions;
    let rules = &config.rules;
    broker.rules = roost_broker::rules::RulesConfig {
        workers: rules.workers,
        queue_capacity: rules.queue_capacity,
        http_timeout: Duration::from_millis(rules.http_timeout_ms),
        http_attempts: rules.http_attempts,
        http_roots_pem: match &rules.http_ca_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading rules.http_ca_file {}", path.display()))?,
            ),
            None => None,
        },
        signing_keys: Some({
            let admin = data.admin_credentials()?;
            roost_broker::rules::SigningKeys {
                access_key_id: admin.access_key_id,
                secret_access_key: admin.secret_access_key,
            }
        }),
    };
    broker.admission = roost_broker::AdmissionRules {
        expired_ca_refuses_all: config.identity.expired_ca_refuses_all,
    };
    broker.session_tickets = roost_broker::tickets::SessionTickets {
        enabled: config.tls.session_tickets,
        lifetime: Duration::from_secs(config.tls.session_ticket_lifetime_secs),
    };
    broker.max_connections = mqtt.max_connections;
    broker.connect_timeout = Duration::from_secs(mqtt.connect_timeout_secs);
    broker.provisioning = if config.provisioning.aws_compatible_first_connect {
        ProvisioningMode::AwsCompatible
    } else {
        ProvisioningMode::Inline
    };
    broker.device_issuer = Some(Arc::new(data.device_issuer()?));
    broker.ownership_token_ttl = Duration::from_secs(config.provisioning.ownership_token_ttl_secs);
    broker.fleet_rate = roost_broker::rate_limit::RateLimit {
        per_second: config.provisioning.fleet_requests_per_second,
        burst: f64::from(config.provisioning.fleet_request_burst),
    };
    Ok(broker)
}

/// The allow-listed bulk registration directories, each checked to be a directory.
fn bulk_registration_dirs(config: &Config) -> Result<BTreeMap<String, PathBuf>> {
    config
        .provisioning
        .bulk_registration_dirs
        .iter()
        .map(|(bucket, dir)| {
            let resolved = dir.canonicalize().with_context(|| {
                format!(
                    "provisioning.bulk_registration_dirs.{bucket}: {} is not readable",
                    dir.display()
                )
            })?;
            if !resolved.is_dir() {
                anyhow::bail!(
                    "provisioning.bulk_registration_dirs.{bucket}: {} is not a directory",
                    dir.display()
                );
            }
            Ok((bucket.clone(), resolved))
        })
        .collect()
}

fn insecure_policy(config: &Config) -> Result<Option<roost_policy::PolicyDocument>> {
    let Some(path) = &config.mqtt.insecure_tcp_policy else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the insecure listener's policy {}", path.display()))?;
    let document = roost_policy::PolicyDocument::parse(&text).with_context(|| {
        format!(
            "the insecure listener's policy {} is invalid",
            path.display()
        )
    })?;
    Ok(Some(document))
}

/// The names the generated server certificate covers.
fn server_names(config: &Config) -> Vec<String> {
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    names.push(config.mqtt.public_host.clone());
    names.extend(config.tls.server_names.iter().cloned());
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.to_ascii_lowercase()));
    names
}

fn server_cert_path(config: &Config, data: &DataDir) -> std::path::PathBuf {
    config
        .tls
        .cert_file
        .clone()
        .unwrap_or_else(|| data.server_cert())
}

fn server_key_path(config: &Config, data: &DataDir) -> std::path::PathBuf {
    config
        .tls
        .key_file
        .clone()
        .unwrap_or_else(|| data.server_key())
}

/// The control plane's URL as clients outside this host reach it, for the `enableUrl` of
/// topic rule destinations: on a wildcard address, the public host name devices use.
fn public_api_url(config: &Config, addr: SocketAddr, https: bool) -> String {
    if addr.ip().is_unspecified() {
        let scheme = if https { "https" } else { "http" };
        format!("{scheme}://{}:{}", config.mqtt.public_host, addr.port())
    } else {
        api_url(addr, https)
    }
}

fn api_url(addr: SocketAddr, https: bool) -> String {
    let scheme = if https { "https" } else { "http" };
    if addr.ip().is_loopback() || addr.ip().is_unspecified() {
        format!("{scheme}://localhost:{}", addr.port())
    } else {
        format!("{scheme}://{addr}")
    }
}

fn print_banner(config: &Config, data: &DataDir, endpoints: &Endpoints) {
    let root = std::path::absolute(data.root()).unwrap_or_else(|_| data.root().to_owned());
    let ca = std::path::absolute(data.server_ca_cert()).unwrap_or_else(|_| data.server_ca_cert());
    let dir_flag = if config.data_dir == std::path::Path::new("./roost-data") {
        String::new()
    } else {
        format!(" --data-dir {}", root.display())
    };
    println!(
        "Roost {version} is running.\n\
         \n  Control plane (AWS IoT API):  {api}\
         \n  MQTT over TLS (device certs): {host}:{port}{https}\
         \n  Console (browser, API keys):  {api}/console/\
         \n  MQTT over WebSocket (SigV4):  {ws}/mqtt{wss}\
         \n  Server CA devices trust:      {ca}\
         \n  Data directory:               {root}\
         \n\nPoint the AWS CLI, boto3 and mosquitto at it from another shell:\
         \n  eval \"$(roost env{dir_flag})\"\
         \n  aws iot list-things\
         \n  mosquitto_sub --cafile \"$ROOST_ROOT_CA\" -h \"$ROOST_MQTT_HOST\" -p \"$ROOST_MQTT_PORT\" --cert device.pem --key device.key -t '#'\
         \nor print the commands that would add an AWS CLI profile instead:\
         \n  roost env{dir_flag} --aws-profile roost\
         \n\nStop with Ctrl-C.",
        version = env!("CARGO_PKG_VERSION"),
        api = endpoints.api_url,
        host = endpoints.mqtt_host,
        port = endpoints.mqtt_port,
        https = endpoints
            .https_data_port
            .map(|p| format!(
                "\n  HTTPS for devices (certs):    {}:{p}",
                endpoints.mqtt_host
            ))
            .unwrap_or_default(),
        ws = endpoints.api_url.replacen("http", "ws", 1),
        wss = endpoints
            .wss_port
            .map(|p| format!(", wss://{}:{p}/mqtt", endpoints.mqtt_host))
            .unwrap_or_default(),
        ca = ca.display(),
        root = root.display(),
    );
}

/// SIGINT and SIGTERM, listened for from the moment it is made: a signal sent as soon as
/// `endpoints.json` appears is then a graceful stop, never the default action (death without
/// closing the registry or removing `endpoints.json`).
struct StopSignals {
    #[cfg(unix)]
    signals: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl StopSignals {
    /// Registers the handlers now; call before telling anyone the server is up.
    fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            match (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) {
                (Ok(interrupt), Ok(terminate)) => Self {
                    signals: Some((interrupt, terminate)),
                },
                (Err(error), _) | (_, Err(error)) => {
                    tracing::warn!(%error, "cannot listen for SIGTERM; only Ctrl-C stops Roost");
                    Self { signals: None }
                }
            }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// Resolves at the first SIGINT or SIGTERM.
    async fn wait(self) {
        #[cfg(unix)]
        if let Some((mut interrupt, mut terminate)) = self.signals {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
