//! The handshake ceiling: a TLS 1.3 server with client-certificate verification (rustls on
//! aws-lc-rs, webpki against the bench CA) and no broker behind it. It answers the first MQTT
//! packet of each connection with a fixed CONNACK, so the `connect` scenario runs against it
//! unchanged and measures what any rustls-based broker's connect rate is bounded by.
//!
//! Like the brokers under test it issues no session tickets and keeps no session cache, so
//! every connection is a full handshake.

use std::sync::Arc;

use bytes::BytesMut;
use rustls::ServerConfig;
use rustls::server::{NoServerSessionStorage, WebPkiClientVerifier};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::error::BenchError;
use crate::fleet::{FleetDir, read_certificates, read_private_key};

/// CONNACK, MQTT 3.1.1: session not present, connection accepted.
const CONNACK: [u8; 4] = [0x20, 0x02, 0x00, 0x00];
/// The CONNECTs the server reads are small; anything larger is not a bench client.
const MAX_CONNECT: u32 = 64 * 1024;

/// The server configuration: the fleet's server certificate, client certificates required and
/// verified against the fleet CA, TLS 1.3 only, no resumption.
pub fn server_config(fleet: &FleetDir) -> Result<Arc<ServerConfig>, BenchError> {
    // The suite order Roost's broker uses (roost_broker::server_crypto_provider), so that the
    // ceiling does the same handshake work as Roost.
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider
        .cipher_suites
        .sort_by_key(|suite| suite.suite() != rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
    let provider = Arc::new(provider);
    let mut roots = rustls::RootCertStore::empty();
    for cert in read_certificates(&fleet.ca_cert())? {
        roots.add(cert)?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| BenchError::TlsConfig(rustls::Error::General(e.to_string())))?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            read_certificates(&fleet.server_cert())?,
            read_private_key(&fleet.server_key())?,
        )?;
    config.session_storage = Arc::new(NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    config.ignore_client_order = true;
    Ok(Arc::new(config))
}

/// Accepts connections on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, config: Arc<ServerConfig>) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(config);
    loop {
        let (tcp, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of file descriptors or a connection reset before accept: keep serving.
            Err(_) => {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok(mut tls) = acceptor.accept(tcp).await else {
                return;
            };
            let mut buf = BytesMut::with_capacity(512);
            loop {
                match roost_codec::decode_connect(&mut buf, MAX_CONNECT) {
                    Ok(Some(_)) => break,
                    Ok(None) => {}
                    Err(_) => return,
                }
                match tls.read_buf(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
            if tls.write_all(&CONNACK).await.is_err() {
                return;
            }
            let mut sink = [0u8; 256];
            while let Ok(n) = tls.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{ConnectOptions, Session};
    use crate::fleet::{FleetSpec, generate, load_devices};
    use crate::transport::Target;
    use roost_pki::KeyKind;

    fn fleet(dir: &std::path::Path) -> FleetDir {
        let fleet = FleetDir::new(dir);
        let spec = FleetSpec {
            devices: 1,
            key: KeyKind::EcP256,
            country: "US".into(),
            organization: "Roost Bench".into(),
            cn_prefix: "device-".into(),
            server_names: vec!["localhost".into()],
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        generate(&fleet, &spec, now).expect("fleet");
        fleet
    }

    async fn connect(
        server: &FleetDir,
        client: &FleetDir,
        addr: std::net::SocketAddr,
    ) -> Result<(), BenchError> {
        let target = Target::tls(addr, &read_certificates(&server.ca_cert())?, "localhost")?;
        let device = load_devices(client, Some(1))?.remove(0);
        let identity = target.identity(&device)?;
        let stream = target.connect(&identity).await?;
        Session::open(stream, &identity.client_id, &ConnectOptions::default()).await?;
        Ok(())
    }

    #[tokio::test]
    async fn a_device_of_the_fleet_gets_a_connack_and_a_stranger_is_refused() {
        let (ours, theirs) = (
            tempfile::tempdir().expect("dir"),
            tempfile::tempdir().expect("dir"),
        );
        let (ours, theirs) = (fleet(ours.path()), fleet(theirs.path()));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(serve(listener, server_config(&ours).expect("config")));

        connect(&ours, &ours, addr)
            .await
            .expect("a fleet device connects");
        assert!(connect(&ours, &theirs, addr).await.is_err());
        server.abort();
    }
}
