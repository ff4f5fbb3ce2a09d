//! The test harness: a real broker on `127.0.0.1:0` over mutual TLS, backed by a registry on a
//! fresh SQLite file, with device certificates made by rcgen (or by the `openssl` binary), and
//! the clients that talk to it: rumqttc (v4 and v5), a raw client built on `roost-codec` for
//! exact packets, and the mosquitto command-line clients.
//!
//! Each test binary uses a different part of this module.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use bytes::{Bytes, BytesMut};
use roost_broker::{Broker, BrokerConfig};
use roost_codec::{
    ConnAck, Connect, ConnectProperties, Packet, PacketId, ProtocolVersion, PubAck, PubComp,
    PubRec, Publish, PublishProperties, PublishQos, QoS, Subscribe, SubscribeProperties,
    Subscription, SubscriptionOptions, TopicFilter, TopicName, Will,
};
use roost_pki::{
    AttributeType, CertificateAuthority, GeneralName, IssuedCertificate, KeyKind, Validity, testing,
};
use roost_registry::model::{CertificateMode, CertificateStatus, ThingPrincipalType};
use roost_registry::{
    Arns, CertificateSource, NewCaCertificate, NewCertificate, NewThing, Registry, StoreOptions,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsConnector;

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";
/// How long a test waits for something that should happen at once.
pub const WAIT: Duration = Duration::from_secs(3);
/// How long a test waits to be sure something does not happen.
pub const QUIET: Duration = Duration::from_millis(300);

/// A policy that allows everything.
pub const ALLOW_ALL: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}"#;

/// `arn:aws:iot:<region>:<account>:<rest>`, for policy documents.
pub fn arn(rest: &str) -> String {
    format!("arn:aws:iot:{REGION}:{ACCOUNT}:{rest}")
}

/// A policy document of one Allow statement per `(actions, resources)`.
pub fn allow(statements: &[(&[&str], &[&str])]) -> String {
    policy(
        &statements
            .iter()
            .map(|(a, r)| ("Allow", *a, *r))
            .collect::<Vec<_>>(),
    )
}

/// A policy document of `(effect, actions, resources)` statements; resources not starting with
/// `arn:` or `*` are prefixed with this account's ARN.
pub fn policy(statements: &[(&str, &[&str], &[&str])]) -> String {
    let statements: Vec<Value> = statements
        .iter()
        .map(|(effect, actions, resources)| {
            let resources: Vec<String> = resources
                .iter()
                .map(|r| {
                    if r.starts_with("arn:") || *r == "*" {
                        (*r).to_owned()
                    } else {
                        arn(r)
                    }
                })
                .collect();
            serde_json::json!({"Effect": effect, "Action": actions, "Resource": resources})
        })
        .collect();
    serde_json::json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

static NEXT: AtomicU32 = AtomicU32::new(1);

/// A name unique within the test binary.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Unix seconds now.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A running broker and its registry.
pub struct Server {
    pub dir: tempfile::TempDir,
    pub registry: Registry,
    pub broker: Broker,
    pub addr: SocketAddr,
    /// The CA that signed the server certificate: what devices trust (`--cafile`).
    pub server_ca: CertificateAuthority,
    /// A CA that is *not* registered, issuing certificates that are registered one by one
    /// (like Roost's CreateKeysAndCertificate issuer).
    pub issuer: CertificateAuthority,
}

impl Server {
    /// A broker with the default configuration.
    pub async fn start() -> Result<Server> {
        Self::start_with(|_| {}).await
    }

    /// A broker whose configuration `configure` adjusts.
    pub async fn start_with(configure: impl FnOnce(&mut BrokerConfig)) -> Result<Server> {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("r.db").display());
        let registry = Registry::open(
            &StoreOptions {
                url,
                max_readers: 4,
            },
            Arns::new(REGION, ACCOUNT),
        )
        .await?;
        let mut config = BrokerConfig::new(REGION, ACCOUNT);
        configure(&mut config);
        let broker = Broker::start(registry.clone(), config, None).await?;
        let server_ca = testing::ca("Test Server CA")?;
        let server_cert = server_ca
            .issue_server_certificate(&["localhost".into(), "127.0.0.1".into()], validity())?;
        let chain = vec![der(&server_cert.certificate_pem)?];
        let key = PrivateKeyDer::from_pem_slice(server_cert.private_key_pem.as_bytes())?;
        let tls = broker.tls_config(chain, key, Vec::new())?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        broker.serve_tls(listener, tls);
        Ok(Server {
            dir,
            registry,
            broker,
            addr,
            server_ca,
            issuer: testing::ca("Test Device Issuer")?,
        })
    }

    /// Starts a new broker on the same registry, as a restart would, and points this server
    /// at it. The old broker is left as it is (not shut down: like a killed process, it
    /// writes nothing more on the way out); its clients should be gone.
    pub async fn restart(&mut self, configure: impl FnOnce(&mut BrokerConfig)) -> Result<()> {
        let mut config = BrokerConfig::new(REGION, ACCOUNT);
        configure(&mut config);
        let broker = Broker::start(self.registry.clone(), config, None).await?;
        let server_cert = self
            .server_ca
            .issue_server_certificate(&["localhost".into(), "127.0.0.1".into()], validity())?;
        let chain = vec![der(&server_cert.certificate_pem)?];
        let key = PrivateKeyDer::from_pem_slice(server_cert.private_key_pem.as_bytes())?;
        let tls = broker.tls_config(chain, key, Vec::new())?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        self.addr = listener.local_addr()?;
        broker.serve_tls(listener, tls);
        self.broker = broker;
        Ok(())
    }

    /// A new EC device certificate from the unregistered issuer, registered ACTIVE, with a new
    /// policy `document` attached.
    pub async fn device(&self, document: &str) -> Result<Device> {
        let device = self.issue(&unique("device"), KeyKind::EcP256)?;
        self.register(&device, CertificateStatus::Active).await?;
        self.attach_policy(&device, document).await?;
        Ok(device)
    }

    /// A certificate `CN=<common_name>` from the unregistered issuer; not registered.
    pub fn issue(&self, common_name: &str, kind: KeyKind) -> Result<Device> {
        let issued = self
            .issuer
            .issue_with_new_key(kind, common_name, validity())?;
        Ok(self.device_from(issued))
    }

    /// A certificate with any subject and SANs from the unregistered issuer; not registered.
    pub fn issue_with(
        &self,
        subject: &[(AttributeType, &str)],
        sans: &[GeneralName],
        validity: Validity,
    ) -> Result<Device> {
        let issued = self.issuer.issue_client_certificate(
            &testing::name(subject),
            sans,
            KeyKind::EcP256,
            validity,
        )?;
        Ok(self.device_from(issued))
    }

    /// A device holding `issued`, trusting this server.
    pub fn device_from(&self, issued: IssuedCertificate) -> Device {
        Device::new(
            &issued.certificate_pem,
            &issued.private_key_pem,
            self.server_ca.cert_pem(),
        )
    }

    /// Registers `device`'s certificate by itself (no CA) with `status`.
    pub async fn register(&self, device: &Device, status: CertificateStatus) -> Result<()> {
        self.registry
            .register_certificate(NewCertificate {
                pem: device.cert_pem.clone(),
                source: CertificateSource::Issued,
                status,
            })
            .await?;
        self.trusted(device, status).await
    }

    /// Waits until the broker's trust view has caught up with the registry: it is updated
    /// from change events just after the write is acknowledged.
    pub async fn trusted(&self, device: &Device, status: CertificateStatus) -> Result<()> {
        let trust = &self.broker.core().trust;
        eventually(|| trust.certificate(&device.id).map(|c| c.status) == Some(status)).await
    }

    /// Registers `device`'s certificate under its registered CA with `status`.
    pub async fn register_with_ca(&self, device: &Device, status: CertificateStatus) -> Result<()> {
        self.registry
            .register_certificate(NewCertificate {
                pem: device.cert_pem.clone(),
                source: CertificateSource::WithCa { ca_pem: None },
                status,
            })
            .await?;
        self.trusted(device, status).await
    }

    /// Registers `ca_pem` as an ACTIVE CA (DEFAULT mode): `verification_pem` must be a
    /// certificate signed by the CA whose CN is [`Server::registration_code`].
    pub async fn register_ca(&self, ca_pem: &str, verification_pem: &str) -> Result<String> {
        let ca = self
            .registry
            .register_ca_certificate(NewCaCertificate {
                ca_pem: ca_pem.to_owned(),
                verification_pem: Some(verification_pem.to_owned()),
                set_as_active: true,
                allow_auto_registration: false,
                registration_config: None,
                mode: CertificateMode::Default,
                tags: Vec::new(),
            })
            .await?;
        let trust = &self.broker.core().trust;
        eventually(|| trust.ca(&ca.id).is_some()).await?;
        Ok(ca.id)
    }

    /// Registers an rcgen CA, making its verification certificate itself.
    pub async fn register_rcgen_ca(&self, ca: &CertificateAuthority) -> Result<String> {
        let code = self.registration_code().await?;
        let verification = ca.issue_with_new_key(KeyKind::EcP256, &code, validity())?;
        self.register_ca(ca.cert_pem(), &verification.certificate_pem)
            .await
    }

    pub async fn registration_code(&self) -> Result<String> {
        Ok(self.registry.get_registration_code().await?)
    }

    /// Creates a policy named uniquely and attaches it to `device`; returns its name.
    pub async fn attach_policy(&self, device: &Device, document: &str) -> Result<String> {
        let name = unique("policy");
        self.registry.create_policy(&name, document).await?;
        self.registry
            .attach_policy(&name, &self.cert_arn(device))
            .await?;
        Ok(name)
    }

    /// Creates thing `name` (with `attributes`) and attaches `device` to it.
    pub async fn thing(
        &self,
        name: &str,
        attributes: &[(&str, &str)],
        device: &Device,
        kind: ThingPrincipalType,
    ) -> Result<()> {
        self.registry
            .create_thing(NewThing {
                name: name.to_owned(),
                attributes: attributes
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
                ..NewThing::default()
            })
            .await?;
        self.registry
            .attach_thing_principal(name, &self.cert_arn(device), kind)
            .await?;
        Ok(())
    }

    pub fn cert_arn(&self, device: &Device) -> String {
        self.registry.arns().certificate(&device.id)
    }

    /// A rumqttc 3.1.1 client for `device` as `client_id`, not yet connected.
    pub fn v4_options(&self, device: &Device, client_id: &str) -> rumqttc::MqttOptions {
        let mut options = rumqttc::MqttOptions::new(client_id, "127.0.0.1", self.addr.port());
        options.set_transport(rumqttc::Transport::tls_with_config(
            rumqttc::TlsConfiguration::Rustls(device.client_config()),
        ));
        options.set_keep_alive(Duration::from_secs(30));
        options.set_max_packet_size(1 << 20, 1 << 20);
        options
    }

    /// A rumqttc 5.0 client for `device` as `client_id`, not yet connected.
    pub fn v5_options(&self, device: &Device, client_id: &str) -> rumqttc::v5::MqttOptions {
        let mut options = rumqttc::v5::MqttOptions::new(client_id, "127.0.0.1", self.addr.port());
        options.set_transport(rumqttc::Transport::tls_with_config(
            rumqttc::TlsConfiguration::Rustls(device.client_config()),
        ));
        options.set_keep_alive(Duration::from_secs(30));
        options
    }

    /// Connects a rumqttc 3.1.1 client and waits for a successful CONNACK.
    pub async fn v4(&self, device: &Device, client_id: &str) -> Result<V4> {
        let mut client = V4::start(self.v4_options(device, client_id));
        client.connected().await?;
        Ok(client)
    }

    /// Connects a rumqttc 5.0 client and waits for a successful CONNACK.
    pub async fn v5(&self, device: &Device, client_id: &str) -> Result<V5> {
        let mut client = V5::start(self.v5_options(device, client_id));
        client.connected().await?;
        Ok(client)
    }

    /// A TLS connection of `device`, before any MQTT.
    pub async fn raw(&self, device: &Device, version: ProtocolVersion) -> Result<Raw> {
        Raw::tls(self.addr, device.client_config(), version).await
    }

    /// A raw client of `device` that sent CONNECT for `client_id` (clean) and got CONNACK 0.
    pub async fn raw_connected(
        &self,
        device: &Device,
        version: ProtocolVersion,
        client_id: &str,
    ) -> Result<Raw> {
        let mut raw = self.raw(device, version).await?;
        let connack = raw.connect(connect(version, client_id, true)).await?;
        if connack.reason_code != roost_codec::ReasonCode::Success {
            bail!("CONNECT refused: {:?}", connack.reason_code);
        }
        Ok(raw)
    }

    /// A v5 raw client allowed everything, subscribed to `$aws/events/#`.
    pub async fn monitor(&self) -> Result<Raw> {
        let device = self.device(ALLOW_ALL).await?;
        let client_id = unique("monitor");
        let mut raw = self
            .raw_connected(&device, ProtocolVersion::V5, &client_id)
            .await?;
        raw.subscribe("$aws/events/#", QoS::AtLeastOnce).await?;
        raw.event(&format!("$aws/events/subscriptions/subscribed/{client_id}"))
            .await?;
        Ok(raw)
    }

    /// Files for the mosquitto clients: (`--cafile`, `--cert`, `--key`) of `device`.
    pub fn files(&self, device: &Device) -> Result<(PathBuf, PathBuf, PathBuf)> {
        let base = self.dir.path().join(&device.id[..16]);
        let ca = base.with_extension("ca.pem");
        let cert = base.with_extension("crt");
        let key = base.with_extension("key");
        std::fs::write(&ca, self.server_ca.cert_pem())?;
        let mut chain = device.cert_pem.clone();
        for extra in &device.extra_chain_pem {
            chain.push_str(extra);
        }
        std::fs::write(&cert, chain)?;
        std::fs::write(&key, &device.key_pem)?;
        Ok((ca, cert, key))
    }

    /// The arguments every mosquitto client needs to reach this server as `device`.
    pub fn mosquitto_args(&self, device: &Device) -> Result<Vec<String>> {
        let (ca, cert, key) = self.files(device)?;
        Ok(vec![
            "-h".into(),
            "localhost".into(),
            "-p".into(),
            self.addr.port().to_string(),
            "--cafile".into(),
            ca.display().to_string(),
            "--cert".into(),
            cert.display().to_string(),
            "--key".into(),
            key.display().to_string(),
        ])
    }
}

/// Validity for test certificates: 2020 to 2050.
pub fn validity() -> Validity {
    testing::validity()
}

/// The DER of one PEM certificate.
pub fn der(pem: &str) -> Result<CertificateDer<'static>> {
    Ok(CertificateDer::from_pem_slice(pem.as_bytes())?)
}

/// A device: its certificate and key, what it sends after its certificate, and the server CA
/// it trusts.
#[derive(Clone)]
pub struct Device {
    /// The certificate id (SHA-256 of the DER).
    pub id: String,
    pub cert_pem: String,
    pub key_pem: String,
    /// CA certificates sent after the device certificate in the TLS handshake.
    pub extra_chain_pem: Vec<String>,
    pub server_ca_pem: String,
    /// TLS versions offered (default: 1.3 and 1.2).
    pub tls12_only: bool,
}

impl Device {
    pub fn new(cert_pem: &str, key_pem: &str, server_ca_pem: &str) -> Device {
        let id = roost_pki::CertificateInfo::from_pem(cert_pem)
            .map(|info| info.id)
            .unwrap_or_default();
        Device {
            id,
            cert_pem: cert_pem.to_owned(),
            key_pem: key_pem.to_owned(),
            extra_chain_pem: Vec::new(),
            server_ca_pem: server_ca_pem.to_owned(),
            tls12_only: false,
        }
    }

    /// The same device, sending `ca_pem` after its certificate.
    pub fn with_chain(mut self, ca_pem: &str) -> Device {
        self.extra_chain_pem.push(ca_pem.to_owned());
        self
    }

    /// The same device, offering only TLS 1.2.
    pub fn tls12(mut self) -> Device {
        self.tls12_only = true;
        self
    }

    /// A rustls client configuration presenting this device's certificate.
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        self.try_client_config()
            .expect("the device's certificate and key load")
    }

    fn try_client_config(&self) -> Result<Arc<rustls::ClientConfig>> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(der(&self.server_ca_pem)?)?;
        let mut chain = vec![der(&self.cert_pem)?];
        for extra in &self.extra_chain_pem {
            chain.push(der(extra)?);
        }
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes())?;
        let versions: &[&rustls::SupportedProtocolVersion] = if self.tls12_only {
            &[&rustls::version::TLS12]
        } else {
            rustls::DEFAULT_VERSIONS
        };
        // Not `with_client_auth_cert`: it parses the certificate with webpki, which refuses the
        // X.509 v1 certificates that real devices use (openssl `x509 -req`).
        let signing_key = provider.key_provider.load_private_key(key)?;
        let certified = rustls::sign::CertifiedKey::new(chain, signing_key);
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)?
            .with_root_certificates(roots)
            .with_client_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(certified)));
        Ok(Arc::new(config))
    }
}

// --- rumqttc ------------------------------------------------------------------------------

/// A rumqttc 3.1.1 client whose event loop runs in a task until the first error (no
/// reconnection), forwarding every event.
pub struct V4 {
    pub client: rumqttc::AsyncClient,
    events: mpsc::UnboundedReceiver<Result<rumqttc::Event, rumqttc::ConnectionError>>,
    task: tokio::task::JoinHandle<()>,
}

/// Dropping the client drops its connection at once, without DISCONNECT.
impl Drop for V4 {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl V4 {
    pub fn start(options: rumqttc::MqttOptions) -> V4 {
        let (client, mut eventloop) = rumqttc::AsyncClient::new(options, 64);
        let (tx, events) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                let event = eventloop.poll().await;
                let failed = event.is_err();
                if tx.send(event).is_err() || failed {
                    return;
                }
            }
        });
        V4 {
            client,
            events,
            task,
        }
    }

    async fn next(&mut self) -> Result<Result<rumqttc::Event, rumqttc::ConnectionError>> {
        tokio::time::timeout(WAIT, self.events.recv())
            .await
            .context("no event from the rumqttc v4 client in time")?
            .ok_or_else(|| anyhow!("the rumqttc v4 event loop ended"))
    }

    /// Waits for the CONNACK; an error if the connection failed or was refused.
    pub async fn connected(&mut self) -> Result<rumqttc::ConnAck> {
        loop {
            match self.next().await?? {
                rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(ack)) => return Ok(ack),
                _ => continue,
            }
        }
    }

    /// The connection error that ended the event loop (CONNACK refusal, close, ...).
    pub async fn error(&mut self) -> Result<rumqttc::ConnectionError> {
        loop {
            if let Err(error) = self.next().await? {
                return Ok(error);
            }
        }
    }

    /// The next packet from the server.
    pub async fn incoming(&mut self) -> Result<rumqttc::Packet> {
        loop {
            match self.next().await?? {
                rumqttc::Event::Incoming(packet) => return Ok(packet),
                rumqttc::Event::Outgoing(_) => continue,
            }
        }
    }

    /// The next PUBLISH from the server, skipping acknowledgements.
    pub async fn publish(&mut self) -> Result<rumqttc::Publish> {
        loop {
            if let rumqttc::Packet::Publish(publish) = self.incoming().await? {
                return Ok(publish);
            }
        }
    }

    /// Subscribes and waits for the SUBACK; returns its return codes.
    pub async fn subscribe(
        &mut self,
        filter: &str,
        qos: rumqttc::QoS,
    ) -> Result<Vec<rumqttc::SubscribeReasonCode>> {
        self.client.subscribe(filter, qos).await?;
        loop {
            if let rumqttc::Packet::SubAck(ack) = self.incoming().await? {
                return Ok(ack.return_codes);
            }
        }
    }

    /// Asserts that no PUBLISH arrives within [`QUIET`].
    pub async fn no_publish(&mut self) -> Result<()> {
        let deadline = tokio::time::Instant::now() + QUIET;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Err(_) => return Ok(()),
                Ok(Some(Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))))) => {
                    bail!("unexpected PUBLISH on {}", p.topic)
                }
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(error))) => bail!("the connection failed: {error}"),
                Ok(None) => bail!("the rumqttc v4 event loop ended"),
            }
        }
    }
}

/// A rumqttc 5.0 client, run like [`V4`].
pub struct V5 {
    pub client: rumqttc::v5::AsyncClient,
    events: mpsc::UnboundedReceiver<Result<rumqttc::v5::Event, rumqttc::v5::ConnectionError>>,
    task: tokio::task::JoinHandle<()>,
}

/// Dropping the client drops its connection at once, without DISCONNECT.
impl Drop for V5 {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub use rumqttc::v5::mqttbytes::v5::Packet as V5Packet;

impl V5 {
    pub fn start(options: rumqttc::v5::MqttOptions) -> V5 {
        let (client, mut eventloop) = rumqttc::v5::AsyncClient::new(options, 64);
        let (tx, events) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                let event = eventloop.poll().await;
                let failed = event.is_err();
                if tx.send(event).is_err() || failed {
                    return;
                }
            }
        });
        V5 {
            client,
            events,
            task,
        }
    }

    async fn next(&mut self) -> Result<Result<rumqttc::v5::Event, rumqttc::v5::ConnectionError>> {
        tokio::time::timeout(WAIT, self.events.recv())
            .await
            .context("no event from the rumqttc v5 client in time")?
            .ok_or_else(|| anyhow!("the rumqttc v5 event loop ended"))
    }

    pub async fn connected(&mut self) -> Result<rumqttc::v5::mqttbytes::v5::ConnAck> {
        loop {
            match self.next().await?? {
                rumqttc::v5::Event::Incoming(V5Packet::ConnAck(ack)) => return Ok(ack),
                _ => continue,
            }
        }
    }

    pub async fn error(&mut self) -> Result<rumqttc::v5::ConnectionError> {
        loop {
            if let Err(error) = self.next().await? {
                return Ok(error);
            }
        }
    }

    pub async fn incoming(&mut self) -> Result<V5Packet> {
        loop {
            match self.next().await?? {
                rumqttc::v5::Event::Incoming(packet) => return Ok(packet),
                rumqttc::v5::Event::Outgoing(_) => continue,
            }
        }
    }

    pub async fn publish(&mut self) -> Result<rumqttc::v5::mqttbytes::v5::Publish> {
        loop {
            if let V5Packet::Publish(publish) = self.incoming().await? {
                return Ok(publish);
            }
        }
    }

    pub async fn subscribe(
        &mut self,
        filter: &str,
        qos: rumqttc::v5::mqttbytes::QoS,
    ) -> Result<Vec<rumqttc::v5::mqttbytes::v5::SubscribeReasonCode>> {
        self.client.subscribe(filter, qos).await?;
        loop {
            if let V5Packet::SubAck(ack) = self.incoming().await? {
                return Ok(ack.return_codes);
            }
        }
    }

    pub async fn no_publish(&mut self) -> Result<()> {
        let deadline = tokio::time::Instant::now() + QUIET;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Err(_) => return Ok(()),
                Ok(Some(Ok(rumqttc::v5::Event::Incoming(V5Packet::Publish(p))))) => {
                    bail!("unexpected PUBLISH on {:?}", p.topic)
                }
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(error))) => bail!("the connection failed: {error}"),
                Ok(None) => bail!("the rumqttc v5 event loop ended"),
            }
        }
    }
}

// --- raw client ---------------------------------------------------------------------------

trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// A client that sends and receives exact packets (encoded and decoded by `roost-codec`), or
/// any bytes at all.
pub struct Raw {
    stream: Box<dyn Io>,
    buf: BytesMut,
    pub version: ProtocolVersion,
    next_id: u16,
}

/// A CONNECT for `client_id`, keep-alive 60 s.
pub fn connect(version: ProtocolVersion, client_id: &str, clean_start: bool) -> Connect {
    Connect {
        protocol_version: version,
        clean_start,
        keep_alive: 60,
        client_id: client_id.to_owned(),
        will: None,
        username: None,
        password: None,
        properties: ConnectProperties::default(),
    }
}

/// A will on `topic`.
pub fn will(topic: &str, payload: &str, qos: QoS, retain: bool) -> Will {
    Will {
        topic: TopicName::new(topic).expect("a valid will topic"),
        payload: Bytes::copy_from_slice(payload.as_bytes()),
        qos,
        retain,
        properties: Default::default(),
    }
}

/// A PUBLISH on `topic`; `id` is used for QoS 1 and 2.
pub fn publish(topic: &str, payload: &[u8], qos: QoS, retain: bool, id: u16) -> Publish {
    Publish {
        dup: false,
        qos: PublishQos::new(qos, pid(id)),
        retain,
        topic: TopicName::new(topic).expect("a valid topic"),
        properties: PublishProperties::default(),
        payload: Bytes::copy_from_slice(payload),
    }
}

pub fn pid(id: u16) -> PacketId {
    PacketId::new(id).expect("a non-zero packet id")
}

impl Raw {
    /// A TLS connection to `addr`.
    pub async fn tls(
        addr: SocketAddr,
        config: Arc<rustls::ClientConfig>,
        version: ProtocolVersion,
    ) -> Result<Raw> {
        let tcp = TcpStream::connect(addr).await?;
        let tls = tokio::time::timeout(
            WAIT,
            TlsConnector::from(config).connect(ServerName::try_from("localhost")?, tcp),
        )
        .await
        .context("TLS handshake timed out")??;
        Ok(Raw::over(tls, version))
    }

    /// A TLS connection to `addr`, and whether its handshake was full or resumed.
    pub async fn tls_with_kind(
        addr: SocketAddr,
        config: Arc<rustls::ClientConfig>,
        version: ProtocolVersion,
    ) -> Result<(Raw, Option<rustls::HandshakeKind>)> {
        let tcp = TcpStream::connect(addr).await?;
        let tls = tokio::time::timeout(
            WAIT,
            TlsConnector::from(config).connect(ServerName::try_from("localhost")?, tcp),
        )
        .await
        .context("TLS handshake timed out")??;
        let kind = tls.get_ref().1.handshake_kind();
        Ok((Raw::over(tls, version), kind))
    }

    /// A plaintext connection to `addr`.
    pub async fn tcp(addr: SocketAddr, version: ProtocolVersion) -> Result<Raw> {
        Ok(Raw::over(TcpStream::connect(addr).await?, version))
    }

    /// A client over any byte stream (the client end of an in-memory duplex).
    pub fn over(
        stream: impl AsyncRead + AsyncWrite + Send + Unpin + 'static,
        version: ProtocolVersion,
    ) -> Raw {
        Raw {
            stream: Box::new(stream),
            buf: BytesMut::new(),
            version,
            next_id: 1,
        }
    }

    /// A packet id not used before on this client.
    pub fn id(&mut self) -> u16 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        id
    }

    pub async fn send(&mut self, packet: impl Into<Packet>) -> Result<()> {
        let mut out = BytesMut::new();
        roost_codec::encode(&packet.into(), self.version, &mut out)?;
        self.stream.write_all(&out).await?;
        self.stream.flush().await?;
        Ok(())
    }

    pub async fn send_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await?;
        Ok(())
    }

    /// The next packet, `None` if the server closed the connection; an error after [`WAIT`].
    pub async fn recv(&mut self) -> Result<Option<Packet>> {
        self.recv_within(WAIT).await?.context("no packet in time")
    }

    /// The next packet within `limit`: `Ok(None)` on timeout, `Ok(Some(None))` on close.
    pub async fn recv_within(&mut self, limit: Duration) -> Result<Option<Option<Packet>>> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(packet) = roost_codec::decode(&mut self.buf, self.version, 1 << 24)? {
                return Ok(Some(Some(packet)));
            }
            match tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.buf)).await {
                Err(_) => return Ok(None),
                Ok(Ok(0)) | Ok(Err(_)) => return Ok(Some(None)),
                Ok(Ok(_)) => {}
            }
        }
    }

    /// The next packet, which must be there.
    pub async fn packet(&mut self) -> Result<Packet> {
        self.recv()
            .await?
            .ok_or_else(|| anyhow!("the server closed the connection"))
    }

    /// Sends CONNECT and returns the CONNACK.
    pub async fn connect(&mut self, connect: Connect) -> Result<ConnAck> {
        self.send(connect).await?;
        match self.packet().await? {
            Packet::ConnAck(ack) => Ok(*ack),
            other => bail!("expected CONNACK, got {other:?}"),
        }
    }

    /// Subscribes to one filter; returns the SUBACK reason code.
    pub async fn subscribe(&mut self, filter: &str, qos: QoS) -> Result<roost_codec::ReasonCode> {
        self.subscribe_with(
            filter,
            SubscriptionOptions {
                qos,
                ..SubscriptionOptions::default()
            },
            SubscribeProperties::default(),
        )
        .await
    }

    pub async fn subscribe_with(
        &mut self,
        filter: &str,
        options: SubscriptionOptions,
        properties: SubscribeProperties,
    ) -> Result<roost_codec::ReasonCode> {
        let id = self.id();
        self.send(Subscribe {
            packet_id: pid(id),
            subscriptions: vec![Subscription {
                filter: TopicFilter::new(filter)?,
                options,
            }],
            properties,
        })
        .await?;
        loop {
            match self.packet().await? {
                Packet::SubAck(ack) if ack.packet_id == pid(id) => {
                    return ack
                        .reason_codes
                        .first()
                        .copied()
                        .ok_or_else(|| anyhow!("empty SUBACK"));
                }
                Packet::Publish(p) => self.ack(&p).await?,
                other => bail!("expected SUBACK, got {other:?}"),
            }
        }
    }

    /// Acknowledges a QoS 1 PUBLISH (QoS 2 gets PUBREC; the caller completes it).
    pub async fn ack(&mut self, publish: &Publish) -> Result<()> {
        match publish.qos {
            PublishQos::AtMostOnce => Ok(()),
            PublishQos::AtLeastOnce(id) => self.send(PubAck::new(id)).await,
            PublishQos::ExactlyOnce(id) => self.send(PubRec::new(id)).await,
        }
    }

    /// Publishes at QoS 0 or 1 and, for QoS 1, waits for the PUBACK; returns its reason code.
    pub async fn publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<Option<roost_codec::ReasonCode>> {
        let id = self.id();
        self.send(publish(topic, payload, qos, retain, id)).await?;
        if qos == QoS::AtMostOnce {
            return Ok(None);
        }
        loop {
            match self.packet().await? {
                Packet::PubAck(ack) if ack.packet_id == pid(id) => {
                    return Ok(Some(ack.reason_code));
                }
                Packet::PubRec(rec) if rec.packet_id == pid(id) => {
                    return Ok(Some(rec.reason_code));
                }
                Packet::Publish(p) => self.ack(&p).await?,
                other => bail!("expected PUBACK, got {other:?}"),
            }
        }
    }

    /// The next PUBLISH (acknowledged at QoS 1), skipping other packets; an error on close.
    pub async fn next_publish(&mut self) -> Result<Publish> {
        loop {
            match self.packet().await? {
                Packet::Publish(p) => {
                    self.ack(&p).await?;
                    return Ok(p);
                }
                _ => continue,
            }
        }
    }

    /// The next PUBLISH on a topic starting with `prefix`, skipping others.
    pub async fn publish_on(&mut self, prefix: &str) -> Result<Publish> {
        let deadline = Instant::now() + WAIT;
        loop {
            if Instant::now() > deadline {
                bail!("no PUBLISH on {prefix}… in time");
            }
            let p = self.next_publish().await?;
            if p.topic.as_str().starts_with(prefix) {
                return Ok(p);
            }
        }
    }

    /// The JSON payload of the next event on a topic starting with `prefix`.
    pub async fn event(&mut self, prefix: &str) -> Result<Value> {
        let p = self.publish_on(prefix).await?;
        Ok(serde_json::from_slice(&p.payload)?)
    }

    /// Asserts that no PUBLISH arrives within [`QUIET`].
    pub async fn no_publish(&mut self) -> Result<()> {
        let deadline = tokio::time::Instant::now() + QUIET;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.recv_within(left).await? {
                None => return Ok(()),
                Some(Some(Packet::Publish(p))) => {
                    bail!("unexpected PUBLISH on {}", p.topic.as_str())
                }
                Some(Some(_)) => continue,
                Some(None) => bail!("the server closed the connection"),
            }
        }
    }

    /// Waits until the server closes the connection; returns the packets received before,
    /// and how long it took.
    pub async fn closed(&mut self) -> Result<(Vec<Packet>, Duration)> {
        let start = Instant::now();
        let mut seen = Vec::new();
        loop {
            match self.recv_within(WAIT).await? {
                None => bail!("the connection stayed open; received {seen:?}"),
                Some(None) => return Ok((seen, start.elapsed())),
                Some(Some(packet)) => seen.push(packet),
            }
        }
    }

    /// Completes a QoS 2 delivery: after PUBREC, waits for PUBREL and sends PUBCOMP.
    pub async fn complete_qos2(&mut self, id: PacketId) -> Result<()> {
        match self.packet().await? {
            Packet::PubRel(rel) if rel.packet_id == id => self.send(PubComp::new(id)).await,
            other => bail!("expected PUBREL, got {other:?}"),
        }
    }
}

// --- mosquitto and openssl ----------------------------------------------------------------

/// Runs `program` with `args` to completion within `limit`; returns (status ok, stdout, stderr).
pub async fn run(
    program: &str,
    args: &[String],
    limit: Duration,
) -> Result<(bool, String, String)> {
    let child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("running {program} (is it installed?)"))?;
    let output = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .with_context(|| format!("{program} {args:?} did not finish in time"))??;
    Ok((
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    ))
}

/// Runs `openssl` in `dir`; fails if it does.
pub fn openssl(dir: &Path, args: &[&str]) -> Result<()> {
    let output = std::process::Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("running openssl (is it installed?)")?;
    if !output.status.success() {
        bail!(
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// A CA made with openssl as the AWS JITP walkthrough makes it: `<name>.key`, `<name>.pem`.
pub fn openssl_ca(dir: &Path, name: &str, kind: KeyKind, subject: &str) -> Result<()> {
    openssl_key(dir, name, kind)?;
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-nodes",
            "-key",
            &format!("{name}.key"),
            "-sha256",
            "-days",
            "30",
            "-out",
            &format!("{name}.pem"),
            "-subj",
            subject,
        ],
    )
}

pub fn openssl_key(dir: &Path, name: &str, kind: KeyKind) -> Result<()> {
    let key = format!("{name}.key");
    match kind {
        KeyKind::Rsa2048 => openssl(dir, &["genrsa", "-out", &key, "2048"]),
        KeyKind::EcP256 => openssl(
            dir,
            &[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                &key,
            ],
        ),
    }
}

/// An X.509 v1 certificate `<name>.pem` (key `<name>.key`) signed by CA `<ca>`, made with
/// `openssl x509 -req` without `-extfile`, as the AWS walkthrough does.
pub fn openssl_v1_cert(
    dir: &Path,
    name: &str,
    kind: KeyKind,
    ca: &str,
    subject: &str,
) -> Result<()> {
    openssl_v1_cert_with_digest(dir, name, kind, ca, subject, "-sha256")
}

/// [`openssl_v1_cert`] signed with `digest` (`-sha256`, `-sha1`, …).
pub fn openssl_v1_cert_with_digest(
    dir: &Path,
    name: &str,
    kind: KeyKind,
    ca: &str,
    subject: &str,
    digest: &str,
) -> Result<()> {
    openssl_key(dir, name, kind)?;
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            subject,
        ],
    )?;
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-out",
            &format!("{name}.pem"),
            "-days",
            "30",
            digest,
        ],
    )
}

pub fn read(dir: &Path, file: &str) -> Result<String> {
    std::fs::read_to_string(dir.join(file)).with_context(|| format!("reading {file}"))
}

/// Polls `condition` every 10 ms until it holds or [`WAIT`] passes.
pub async fn eventually(mut condition: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        if Instant::now() > deadline {
            bail!("the condition did not hold in time");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}
