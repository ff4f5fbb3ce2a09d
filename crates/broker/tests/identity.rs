//! Who may connect: the TLS handshake accepts certificates the registry knows (registered
//! themselves, or chaining to a registered CA, X.509 v1 included), and CONNECT decides from the
//! certificate's status.

mod common;

use anyhow::Result;
use common::*;
use roost_codec::{Packet, ProtocolVersion, QoS, ReasonCode};
use roost_pki::KeyKind;
use roost_registry::model::CertificateStatus;

/// Publishes on `topic` from `device` as a 3.1.1 client and receives it back.
async fn round_trip(server: &Server, device: &Device, version: ProtocolVersion) -> Result<()> {
    let mut raw = server
        .raw_connected(device, version, &unique("client"))
        .await?;
    let topic = unique("echo");
    raw.subscribe(&topic, QoS::AtLeastOnce).await?;
    raw.publish(&topic, b"hello", QoS::AtLeastOnce, false)
        .await?;
    let received = raw.next_publish().await?;
    assert_eq!(received.topic.as_str(), topic);
    assert_eq!(&received.payload[..], b"hello");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_active_certificate_connects_over_tls_1_3_and_tls_1_2() -> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    round_trip(&server, &device, ProtocolVersion::V3_1_1).await?;
    round_trip(&server, &device.clone().tls12(), ProtocolVersion::V5).await?;
    let rsa = server.issue(&unique("rsa"), KeyKind::Rsa2048)?;
    server.register(&rsa, CertificateStatus::Active).await?;
    server.attach_policy(&rsa, ALLOW_ALL).await?;
    round_trip(&server, &rsa.clone().tls12(), ProtocolVersion::V3_1_1).await?;
    round_trip(&server, &rsa, ProtocolVersion::V5).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rumqttc_clients_of_both_versions_connect_with_a_registered_certificate() -> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let v4 = server.v4(&device, &unique("v4")).await?;
    let v5 = server.v5(&device, &unique("v5")).await?;
    v4.client.disconnect().await?;
    v5.client.disconnect().await?;
    Ok(())
}

/// Makes, with the openssl binary, a CA of `ca_kind` registered with its verification
/// certificate, and a v1 device certificate of `device_kind` under it, registered ACTIVE with
/// an allow-all policy.
async fn openssl_device(
    server: &Server,
    ca_kind: KeyKind,
    device_kind: KeyKind,
) -> Result<(Device, String)> {
    let dir = tempfile::tempdir()?;
    let path = dir.path();
    let ca_subject = format!("/C=US/O=Acme/CN={}", unique("Acme Root CA"));
    openssl_ca(path, "rootCA", ca_kind, &ca_subject)?;
    let code = server.registration_code().await?;
    openssl_v1_cert(
        path,
        "verificationCert",
        KeyKind::EcP256,
        "rootCA",
        &format!("/CN={code}"),
    )?;
    openssl_v1_cert(
        path,
        "deviceCert",
        device_kind,
        "rootCA",
        "/C=US/ST=WA/O=Acme/OU=Devices/CN=thing-1",
    )?;
    let ca_pem = read(path, "rootCA.pem")?;
    server
        .register_ca(&ca_pem, &read(path, "verificationCert.pem")?)
        .await?;
    let device = Device::new(
        &read(path, "deviceCert.pem")?,
        &read(path, "deviceCert.key")?,
        server.server_ca.cert_pem(),
    );
    let info = roost_pki::CertificateInfo::from_pem(&device.cert_pem)?;
    assert_eq!(info.version, 1, "openssl x509 -req makes X.509 v1");
    server
        .register_with_ca(&device, CertificateStatus::Active)
        .await?;
    server.attach_policy(&device, ALLOW_ALL).await?;
    Ok((device, ca_pem))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssl_v1_rsa_device_certificates_connect_with_or_without_the_ca_in_the_chain()
-> Result<()> {
    let server = Server::start().await?;
    let (device, ca_pem) = openssl_device(&server, KeyKind::Rsa2048, KeyKind::Rsa2048).await?;
    round_trip(&server, &device, ProtocolVersion::V3_1_1).await?;
    round_trip(&server, &device.clone().tls12(), ProtocolVersion::V3_1_1).await?;
    let chained = device.with_chain(&ca_pem);
    round_trip(&server, &chained, ProtocolVersion::V5).await?;
    round_trip(&server, &chained.tls12(), ProtocolVersion::V5).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssl_v1_ec_device_certificates_connect_with_or_without_the_ca_in_the_chain()
-> Result<()> {
    let server = Server::start().await?;
    let (device, ca_pem) = openssl_device(&server, KeyKind::EcP256, KeyKind::EcP256).await?;
    round_trip(&server, &device, ProtocolVersion::V5).await?;
    round_trip(&server, &device.clone().tls12(), ProtocolVersion::V5).await?;
    let chained = device.with_chain(&ca_pem);
    round_trip(&server, &chained, ProtocolVersion::V3_1_1).await?;
    round_trip(&server, &chained.tls12(), ProtocolVersion::V3_1_1).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ec_device_under_an_rsa_ca_connects() -> Result<()> {
    let server = Server::start().await?;
    let (device, ca_pem) = openssl_device(&server, KeyKind::Rsa2048, KeyKind::EcP256).await?;
    round_trip(
        &server,
        &device.with_chain(&ca_pem),
        ProtocolVersion::V3_1_1,
    )
    .await?;
    Ok(())
}

/// Whether the server refused `device` during or right after the TLS handshake, before any
/// MQTT: with TLS 1.3 the client finishes its side of the handshake before the server has
/// checked the certificate, so the refusal arrives as an alert instead of a CONNACK.
async fn handshake_refused(server: &Server, device: &Device) -> Result<bool> {
    let mut raw = match server.raw(device, ProtocolVersion::V3_1_1).await {
        Err(_) => return Ok(true),
        Ok(raw) => raw,
    };
    if raw
        .send(connect(ProtocolVersion::V3_1_1, &unique("c"), true))
        .await
        .is_err()
    {
        return Ok(true);
    }
    Ok(matches!(raw.recv_within(WAIT).await?, Some(None)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_an_unregistered_ca_fails_the_tls_handshake() -> Result<()> {
    let server = Server::start().await?;
    let stranger = server.issue(&unique("stranger"), KeyKind::EcP256)?;
    assert!(handshake_refused(&server, &stranger).await?);
    assert!(handshake_refused(&server, &stranger.clone().tls12()).await?);
    let unregistered_ca = roost_pki::testing::ca("Unregistered CA")?;
    let chained = stranger.with_chain(unregistered_ca.cert_pem());
    assert!(handshake_refused(&server, &chained).await?);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_signed_certificate_presenting_a_registered_cas_name_is_refused() -> Result<()> {
    let server = Server::start().await?;
    let ca = roost_pki::testing::ca("Acme Impostor Target")?;
    server.register_rcgen_ca(&ca).await?;
    // Same subject, another key: the impostor signs a device that claims to be under `ca`.
    let impostor = roost_pki::testing::ca("Acme Impostor Target")?;
    let issued = impostor.issue_with_new_key(KeyKind::EcP256, "impostor", validity())?;
    let device = server.device_from(issued).with_chain(impostor.cert_pem());
    assert!(handshake_refused(&server, &device).await?);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unregistered_certificate_under_a_registered_ca_without_auto_registration_is_not_authorized()
-> Result<()> {
    let server = Server::start().await?;
    let ca = roost_pki::testing::ca("Registered CA")?;
    server.register_rcgen_ca(&ca).await?;
    let issued = ca.issue_with_new_key(KeyKind::EcP256, "unknown-device", validity())?;
    let device = server.device_from(issued);
    let mut raw = server.raw(&device, ProtocolVersion::V5).await?;
    let connack = raw
        .connect(connect(ProtocolVersion::V5, "unknown-device", true))
        .await?;
    assert_eq!(connack.reason_code, ReasonCode::NotAuthorized);
    assert!(raw.closed().await?.0.is_empty());
    Ok(())
}

/// CONNECTs with `device` over 3.1.1 and 5.0 and expects "not authorized" both times, and
/// a `connect_failed` event naming the certificate.
async fn refused_at_connect(server: &Server, monitor: &mut Raw, device: &Device) -> Result<()> {
    let client_id = unique("refused");
    let mut v4 = V4::start(server.v4_options(device, &client_id));
    match v4.error().await? {
        rumqttc::ConnectionError::ConnectionRefused(code) => {
            assert_eq!(code, rumqttc::ConnectReturnCode::NotAuthorized)
        }
        other => panic!("expected CONNACK 5, got {other:?}"),
    }
    let event = monitor
        .event(&format!("$aws/events/presence/connect_failed/{client_id}"))
        .await?;
    assert_eq!(event["eventType"], "connect_failed");
    assert_eq!(event["clientId"], client_id.as_str());
    assert_eq!(event["connectFailureReason"], "AUTHORIZATION_FAILED");
    assert_eq!(event["principalIdentifier"], device.id.as_str());
    assert!(event["timestamp"].as_u64().is_some());
    assert!(event["sessionIdentifier"].as_str().is_some());
    assert_eq!(event["ipAddress"], "127.0.0.1");

    let mut v5 = V5::start(server.v5_options(device, &client_id));
    match v5.error().await? {
        rumqttc::v5::ConnectionError::ConnectionRefused(code) => assert_eq!(
            code,
            rumqttc::v5::mqttbytes::v5::ConnectReturnCode::NotAuthorized
        ),
        other => panic!("expected CONNACK 0x87, got {other:?}"),
    }
    monitor
        .event(&format!("$aws/events/presence/connect_failed/{client_id}"))
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inactive_and_revoked_certificates_are_not_authorized_at_connect() -> Result<()> {
    let server = Server::start().await?;
    let mut monitor = server.monitor().await?;
    let inactive = server.issue(&unique("d"), KeyKind::EcP256)?;
    server
        .register(&inactive, CertificateStatus::Inactive)
        .await?;
    server.attach_policy(&inactive, ALLOW_ALL).await?;
    refused_at_connect(&server, &mut monitor, &inactive).await?;
    let revoked = server.device(ALLOW_ALL).await?;
    server
        .registry
        .update_certificate(&revoked.id, CertificateStatus::Revoked)
        .await?;
    server.trusted(&revoked, CertificateStatus::Revoked).await?;
    refused_at_connect(&server, &mut monitor, &revoked).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_pending_activation_is_not_authorized_at_connect() -> Result<()> {
    let server = Server::start().await?;
    let mut monitor = server.monitor().await?;
    let ca = roost_pki::testing::ca("Pending CA")?;
    let ca_id = server.register_rcgen_ca(&ca).await?;
    let issued = ca.issue_with_new_key(KeyKind::EcP256, "pending", validity())?;
    let device = server.device_from(issued);
    server
        .registry
        .auto_register_certificate(&device.cert_pem, &ca_id)
        .await?;
    server
        .trusted(&device, CertificateStatus::PendingActivation)
        .await?;
    assert_eq!(
        server
            .registry
            .describe_certificate(&device.id)
            .await?
            .status,
        CertificateStatus::PendingActivation
    );
    server.attach_policy(&device, ALLOW_ALL).await?;
    refused_at_connect(&server, &mut monitor, &device).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_certificate_is_not_authorized_at_connect() -> Result<()> {
    let server = Server::start().await?;
    let mut monitor = server.monitor().await?;
    let now = unix_now();
    let device = server.issue_with(
        &[(roost_pki::AttributeType::CommonName, "short-lived")],
        &[],
        roost_pki::Validity::new(now - 60, now + 1)?,
    )?;
    server.register(&device, CertificateStatus::Active).await?;
    server.attach_policy(&device, ALLOW_ALL).await?;
    while unix_now() <= now + 1 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    refused_at_connect(&server, &mut monitor, &device).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_3_1_1_client_gets_connack_return_code_5_and_nothing_else() -> Result<()> {
    let server = Server::start().await?;
    let device = server.issue(&unique("d"), KeyKind::EcP256)?;
    server
        .register(&device, CertificateStatus::Inactive)
        .await?;
    let mut raw = server.raw(&device, ProtocolVersion::V3_1_1).await?;
    raw.send(connect(ProtocolVersion::V3_1_1, "c", true))
        .await?;
    let (packets, _) = raw.closed().await?;
    match packets.as_slice() {
        [Packet::ConnAck(ack)] => {
            assert_eq!(ack.reason_code.to_connack_return_code(), 5);
            assert!(!ack.session_present);
        }
        other => panic!("expected one CONNACK, got {other:?}"),
    }
    Ok(())
}

/// Enables auto-registration (JITR: no template) on a registered CA and waits for the broker
/// to see it.
async fn enable_auto_registration(server: &Server, ca_id: &str) -> Result<()> {
    server
        .registry
        .update_ca_certificate(
            ca_id,
            roost_registry::CaCertificateUpdate {
                new_auto_registration: Some(roost_registry::model::AutoRegistrationStatus::Enable),
                ..Default::default()
            },
        )
        .await?;
    let trust = &server.broker.core().trust;
    eventually(|| trust.ca(ca_id).is_some_and(|ca| ca.auto_registers())).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_ca_registers_no_new_device_while_its_registered_devices_keep_connecting()
-> Result<()> {
    let server = Server::start().await?;
    let mut monitor = server.monitor().await?;
    let now = unix_now();
    let ca = roost_pki::CertificateAuthority::generate(
        "Short-lived CA",
        roost_pki::Validity::new(now - 60, now + 2)?,
    )?;
    let ca_id = server.register_rcgen_ca(&ca).await?;
    enable_auto_registration(&server, &ca_id).await?;
    let known = server.device_from(ca.issue_with_new_key(KeyKind::EcP256, "known", validity())?);
    server
        .register_with_ca(&known, CertificateStatus::Active)
        .await?;
    server.attach_policy(&known, ALLOW_ALL).await?;
    while unix_now() <= now + 2 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // A new device under the expired CA: refused at CONNECT, and nothing is registered.
    let newcomer = server.device_from(ca.issue_with_new_key(KeyKind::EcP256, "new", validity())?);
    let client_id = unique("newcomer");
    let mut raw = server.raw(&newcomer, ProtocolVersion::V5).await?;
    let connack = raw
        .connect(connect(ProtocolVersion::V5, &client_id, true))
        .await?;
    assert_eq!(connack.reason_code, ReasonCode::NotAuthorized);
    let why = connack.properties.reason_string.unwrap_or_default();
    assert!(why.contains("outside its validity period"), "{why}");
    let event = monitor
        .event(&format!("$aws/events/presence/connect_failed/{client_id}"))
        .await?;
    assert_eq!(event["connectFailureReason"], "AUTHORIZATION_FAILED");
    assert!(
        server
            .registry
            .describe_certificate(&newcomer.id)
            .await
            .is_err(),
        "an expired CA registered a new certificate"
    );
    // RegisterCertificate refuses it too, with the reason.
    let error = server
        .registry
        .register_certificate(roost_registry::NewCertificate {
            pem: newcomer.cert_pem.clone(),
            source: roost_registry::CertificateSource::WithCa { ca_pem: None },
            status: CertificateStatus::Active,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&error, roost_registry::RegistryError::CertificateValidation(m) if m.contains("outside its validity period")),
        "{error:?}"
    );

    // A device registered before the CA expired still connects (one expired CA must not
    // take a fleet offline).
    round_trip(&server, &known, ProtocolVersion::V5).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sha1_signed_device_certificate_is_refused_at_registration_and_at_connect() -> Result<()>
{
    let server = Server::start().await?;
    let dir = tempfile::tempdir()?;
    let path = dir.path();
    openssl_ca(
        path,
        "rootCA",
        KeyKind::EcP256,
        &format!("/CN={}", unique("SHA1 CA")),
    )?;
    let code = server.registration_code().await?;
    openssl_v1_cert(
        path,
        "verification",
        KeyKind::EcP256,
        "rootCA",
        &format!("/CN={code}"),
    )?;
    server
        .register_ca(&read(path, "rootCA.pem")?, &read(path, "verification.pem")?)
        .await?;
    openssl_v1_cert_with_digest(
        path,
        "device",
        KeyKind::EcP256,
        "rootCA",
        "/CN=sha1",
        "-sha1",
    )?;
    let device = Device::new(
        &read(path, "device.pem")?,
        &read(path, "device.key")?,
        server.server_ca.cert_pem(),
    );
    for source in [
        roost_registry::CertificateSource::WithCa { ca_pem: None },
        roost_registry::CertificateSource::WithoutCa,
    ] {
        let error = server
            .registry
            .register_certificate(roost_registry::NewCertificate {
                pem: device.cert_pem.clone(),
                source,
                status: CertificateStatus::Active,
            })
            .await
            .unwrap_err();
        assert!(
            matches!(&error, roost_registry::RegistryError::CertificateValidation(m) if m.contains("SHA-1")),
            "{error:?}"
        );
    }
    // One registered before the rule existed is refused at CONNECT, saying why.
    server.register(&device, CertificateStatus::Active).await?;
    server.attach_policy(&device, ALLOW_ALL).await?;
    let mut raw = server.raw(&device, ProtocolVersion::V5).await?;
    let connack = raw
        .connect(connect(ProtocolVersion::V5, &unique("sha1"), true))
        .await?;
    assert_eq!(connack.reason_code, ReasonCode::NotAuthorized);
    let why = connack.properties.reason_string.unwrap_or_default();
    assert!(why.contains("SHA-1"), "{why}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_revoked_after_its_session_ticket_was_issued_is_refused_on_resumption()
-> Result<()> {
    use rustls::HandshakeKind::{Full, Resumed};
    let server = Server::start().await?;
    for tls12 in [false, true] {
        let mut device = server.device(ALLOW_ALL).await?;
        if tls12 {
            device = device.tls12();
        }
        // One client configuration, so that its session cache keeps the ticket.
        let config = device.client_config();
        let session = |expected| {
            let config = config.clone();
            let addr = server.addr;
            async move {
                let (mut raw, kind) = Raw::tls_with_kind(addr, config, ProtocolVersion::V5).await?;
                assert_eq!(kind, Some(expected), "TLS 1.2 only: {tls12}");
                let connack = raw
                    .connect(connect(ProtocolVersion::V5, &unique("resumer"), true))
                    .await?;
                raw.send(roost_codec::Disconnect::default()).await?;
                raw.closed().await?;
                anyhow::Ok(connack.reason_code)
            }
        };
        assert_eq!(session(Full).await?, ReasonCode::Success);
        assert_eq!(session(Resumed).await?, ReasonCode::Success);
        server
            .registry
            .update_certificate(&device.id, CertificateStatus::Revoked)
            .await?;
        server.trusted(&device, CertificateStatus::Revoked).await?;
        assert_eq!(session(Resumed).await?, ReasonCode::NotAuthorized);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_session_tickets_off_every_handshake_is_full() -> Result<()> {
    let server = Server::start_with(|c| c.session_tickets.enabled = false).await?;
    let device = server.device(ALLOW_ALL).await?;
    let config = device.client_config();
    for _ in 0..2 {
        let (mut raw, kind) =
            Raw::tls_with_kind(server.addr, config.clone(), ProtocolVersion::V5).await?;
        assert_eq!(kind, Some(rustls::HandshakeKind::Full));
        raw.connect(connect(ProtocolVersion::V5, &unique("full"), true))
            .await?;
        raw.send(roost_codec::Disconnect::default()).await?;
        raw.closed().await?;
    }
    Ok(())
}
