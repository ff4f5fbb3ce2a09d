//! A crash in the middle of a storm of first connects leaves no half-provisioned device: the
//! real `roost serve` is killed with SIGKILL while hundreds of never-seen devices connect, and
//! afterwards every certificate in the registry is fully provisioned (thing, policy, both
//! attachments, ACTIVE) or absent.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use roost_codec::{Connect, ConnectProperties, Packet, ProtocolVersion};
use roost_pki::{AttributeType, CertificateAuthority, KeyKind, testing};
use roost_registry::model::CertificateStatus;
use roost_registry::{Arns, PageRequest, Registry, StoreOptions};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TEMPLATE: &str = r#"{
  "Parameters": {"AWS::IoT::Certificate::Id": {"Type": "String"},
                 "AWS::IoT::Certificate::CommonName": {"Type": "String"}},
  "Resources": {
    "thing": {"Type": "AWS::IoT::Thing", "Properties": {
      "ThingName": {"Ref": "AWS::IoT::Certificate::CommonName"},
      "AttributePayload": {"id": {"Ref": "AWS::IoT::Certificate::Id"}}}},
    "certificate": {"Type": "AWS::IoT::Certificate", "Properties": {
      "CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "ACTIVE"}},
    "policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument":
      "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"iot:*\",\"Resource\":\"*\"}]}"}}
  }
}"#;

const DEVICES: usize = 400;
const CONCURRENCY: usize = 64;

struct Server {
    child: Child,
}

impl Server {
    fn start(data_dir: &Path) -> (Self, serde_json::Value) {
        let endpoints = data_dir.join("endpoints.json");
        let _ = std::fs::remove_file(&endpoints);
        let server = Self {
            child: Command::new(env!("CARGO_BIN_EXE_roost"))
                .args([
                    "serve",
                    "--api-listen",
                    "127.0.0.1:0",
                    "--mqtt-listen",
                    "127.0.0.1:0",
                ])
                .arg("--data-dir")
                .arg(data_dir)
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("roost serve starts"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(text) = std::fs::read_to_string(&endpoints)
                && let Ok(json) = serde_json::from_str::<serde_json::Value>(&text)
            {
                return (server, json);
            }
            assert!(Instant::now() < deadline, "roost serve did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Connects once with `cert`/`key` and waits for the CONNACK (or the connection's end).
async fn first_connect(
    port: u16,
    tls: Arc<rustls::ClientConfig>,
    client_id: String,
) -> Option<bool> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    let connector = tokio_rustls::TlsConnector::from(tls);
    let mut stream = connector
        .connect(ServerName::try_from("localhost").ok()?, tcp)
        .await
        .ok()?;
    let mut out = BytesMut::new();
    let connect = Packet::Connect(Box::new(Connect {
        protocol_version: ProtocolVersion::V3_1_1,
        clean_start: true,
        keep_alive: 30,
        client_id,
        will: None,
        username: None,
        password: None,
        properties: ConnectProperties::default(),
    }));
    roost_codec::encode(&connect, ProtocolVersion::V3_1_1, &mut out).ok()?;
    stream.write_all(&out).await.ok()?;
    let mut buf = BytesMut::with_capacity(64);
    loop {
        if let Ok(Some(Packet::ConnAck(ack))) =
            roost_codec::decode(&mut buf, ProtocolVersion::V3_1_1, 1024)
        {
            return Some(ack.reason_code == roost_codec::ReasonCode::Success);
        }
        if stream.read_buf(&mut buf).await.ok()? == 0 {
            return None;
        }
    }
}

fn client_config(
    server_ca: &str,
    device_cert: &str,
    device_key: &str,
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(server_ca.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let chain = CertificateDer::pem_slice_iter(device_cert.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(device_key.as_bytes()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_during_a_provisioning_storm_leaves_every_device_whole_or_absent() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let (mut server, endpoints) = Server::start(&data_dir);
    let mqtt_port = endpoints["mqttPort"].as_u64().unwrap() as u16;

    // The factory CA, registered with the template by the one-step command.
    let ca = CertificateAuthority::generate_with_key(
        "Crash Test Factory CA",
        KeyKind::EcP256,
        testing::validity(),
    )
    .unwrap();
    let ca_cert = dir.path().join("ca.pem");
    let ca_key = dir.path().join("ca.key");
    let template = dir.path().join("template.json");
    std::fs::write(&ca_cert, ca.cert_pem()).unwrap();
    std::fs::write(&ca_key, ca.key_pem()).unwrap();
    std::fs::write(&template, TEMPLATE).unwrap();
    let registered = Command::new(env!("CARGO_BIN_EXE_roost"))
        .args(["ca", "register", "--data-dir"])
        .arg(&data_dir)
        .arg("--ca-cert")
        .arg(&ca_cert)
        .arg("--ca-key")
        .arg(&ca_key)
        .arg("--template")
        .arg(&template)
        .env_remove("AWS_ENDPOINT_URL_IOT")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("ROOST_ROOT_CA")
        .output()
        .unwrap();
    assert!(
        registered.status.success(),
        "roost ca register failed: {}",
        String::from_utf8_lossy(&registered.stderr)
    );

    // Never-seen devices.
    let server_ca = std::fs::read_to_string(data_dir.join("server-ca.pem")).unwrap();
    let configs: Vec<Arc<rustls::ClientConfig>> = (0..DEVICES)
        .map(|i| {
            let subject = testing::name(&[
                (AttributeType::Country, "US"),
                (AttributeType::CommonName, &format!("crash-device-{i:04}")),
            ]);
            let issued = ca
                .issue_client_certificate(&subject, &[], KeyKind::EcP256, testing::validity())
                .unwrap();
            client_config(&server_ca, &issued.certificate_pem, &issued.private_key_pem)
        })
        .collect();

    // The storm, and the kill in the middle of it.
    let semaphore = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    let mut tasks = Vec::new();
    for (i, config) in configs.into_iter().enumerate() {
        let permit = semaphore.clone().acquire_owned().await.unwrap();
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            first_connect(mqtt_port, config, format!("crash-device-{i:04}")).await
        }));
        if i == DEVICES / 2 {
            server.child.kill().unwrap();
            server.child.wait().unwrap();
        }
    }
    let mut succeeded = 0;
    for task in tasks {
        if task.await.unwrap() == Some(true) {
            succeeded += 1;
        }
    }
    drop(server);
    eprintln!("{succeeded} of {DEVICES} devices were provisioned before the kill");
    assert!(succeeded > 0, "no device was provisioned before the kill");
    assert!(
        succeeded < DEVICES,
        "the kill came after the storm; nothing was tested"
    );

    // What survived: every certificate whole, or absent.
    let registry = Registry::open(
        &StoreOptions {
            url: format!("sqlite://{}", data_dir.join("registry.db").display()),
            max_readers: 2,
        },
        Arns::new("us-east-1", "123456789012"),
    )
    .await
    .unwrap();
    let certificates = registry
        .list_certificates(&PageRequest::first(250))
        .await
        .unwrap();
    let mut certificates_seen = certificates.items;
    let mut next = certificates.next;
    while let Some(token) = next {
        let page = registry
            .list_certificates(
                &PageRequest::from_api(Some(&token), Some(250), "pageSize", 250, false).unwrap(),
            )
            .await
            .unwrap();
        certificates_seen.extend(page.items);
        next = page.next;
    }
    assert!(
        certificates_seen.len() >= succeeded,
        "every acknowledged provisioning must have survived the crash: {} acknowledged, {} in the registry",
        succeeded,
        certificates_seen.len()
    );
    for summary in &certificates_seen {
        assert_eq!(
            summary.status,
            CertificateStatus::Active.as_str(),
            "certificate {} is {}",
            summary.id,
            summary.status
        );
        let arn = registry.arns().certificate(&summary.id);
        let things = registry
            .list_principal_things(&arn, None, &PageRequest::first(10))
            .await
            .unwrap();
        assert_eq!(
            things.items.len(),
            1,
            "certificate {} has no thing",
            summary.id
        );
        let thing = registry
            .describe_thing(&things.items[0].thing_name)
            .await
            .unwrap();
        assert_eq!(thing.attributes["id"], summary.id);
        let policies = registry
            .list_attached_policies(&arn, false, &PageRequest::first(10))
            .await
            .unwrap();
        assert_eq!(
            policies.items.len(),
            1,
            "certificate {} has no policy",
            summary.id
        );
    }
    let things = registry
        .list_things(&Default::default(), &PageRequest::first(250))
        .await
        .unwrap();
    let mut thing_count = things.items.len();
    let mut next = things.next;
    while let Some(token) = next {
        let page = registry
            .list_things(
                &Default::default(),
                &PageRequest::from_api(Some(&token), Some(250), "maxResults", 250, true).unwrap(),
            )
            .await
            .unwrap();
        thing_count += page.items.len();
        next = page.next;
    }
    assert_eq!(
        thing_count,
        certificates_seen.len(),
        "a thing without its certificate (or the reverse) survived the crash"
    );
    registry.close().await;
}
