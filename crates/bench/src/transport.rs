//! Opening connections to the broker under test: TCP with `TCP_NODELAY`, then TLS 1.3 with a
//! device's client certificate, or nothing more for plain MQTT.
//!
//! Every TLS connection is a full handshake: client configurations carry no session cache, so
//! no ticket or session id is ever offered. On loopback targets, source addresses rotate over
//! 127.0.0.2–127.0.0.254 so that a connect storm does not run out of ephemeral ports to
//! TIME_WAIT (each source address has its own port range).

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use rustls::client::Resumption;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::TlsConnector;

use crate::error::BenchError;
use crate::fleet::Device;

/// Source addresses a loopback connect storm rotates over.
const LOOPBACK_SOURCES: u8 = 253;

/// A connection to the broker: plain TCP or TLS over TCP.
#[derive(Debug)]
pub enum Stream {
    /// Plain MQTT.
    Plain(TcpStream),
    /// MQTT over TLS (boxed: the TLS state is large).
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A client identity: the MQTT client id, and the TLS configuration that presents its
/// certificate (absent on plain TCP).
#[derive(Debug, Clone)]
pub struct Identity {
    /// MQTT client id (the certificate CN for devices).
    pub client_id: String,
    tls: Option<Arc<ClientConfig>>,
}

impl Identity {
    /// The same certificate under another client id.
    pub fn with_client_id(&self, client_id: String) -> Identity {
        Identity {
            client_id,
            tls: self.tls.clone(),
        }
    }
}

/// Where and how to connect.
#[derive(Debug)]
pub struct Target {
    /// The broker address.
    pub addr: SocketAddr,
    tls: Option<TlsTarget>,
    next_source: AtomicUsize,
}

#[derive(Debug)]
struct TlsTarget {
    roots: Arc<RootCertStore>,
    server_name: ServerName<'static>,
}

impl Target {
    /// Plain MQTT to `addr`.
    pub fn plain(addr: SocketAddr) -> Target {
        Target {
            addr,
            tls: None,
            next_source: AtomicUsize::new(0),
        }
    }

    /// MQTT over TLS to `addr`, trusting the CA certificates of `server_ca` (PEM) for a server
    /// certificate valid for `server_name` (a DNS name or IP address).
    pub fn tls(
        addr: SocketAddr,
        server_ca: &[rustls::pki_types::CertificateDer<'static>],
        server_name: &str,
    ) -> Result<Target, BenchError> {
        let mut roots = RootCertStore::empty();
        for cert in server_ca {
            roots.add(cert.clone())?;
        }
        let server_name = ServerName::try_from(server_name.to_owned()).map_err(|e| {
            BenchError::TlsConfig(rustls::Error::General(format!(
                "server name {server_name:?}: {e}"
            )))
        })?;
        Ok(Target {
            addr,
            tls: Some(TlsTarget {
                roots: Arc::new(roots),
                server_name,
            }),
            next_source: AtomicUsize::new(0),
        })
    }

    /// The same broker setup on another port (another node of a cluster).
    pub fn at_port(&self, port: u16) -> Target {
        Target {
            addr: SocketAddr::new(self.addr.ip(), port),
            tls: self.tls.as_ref().map(|tls| TlsTarget {
                roots: tls.roots.clone(),
                server_name: tls.server_name.clone(),
            }),
            next_source: AtomicUsize::new(0),
        }
    }

    /// Whether connections use TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The identity of `device`: its CN as client id and, over TLS, a configuration that
    /// presents its certificate (TLS 1.3 only, aws-lc-rs, no resumption).
    pub fn identity(&self, device: &Device) -> Result<Identity, BenchError> {
        self.identity_with(device, false)
    }

    /// [`Target::identity`], keeping the server's session tickets to resume with when
    /// `resume` (each identity has its own ticket cache, as each device would).
    pub fn identity_with(&self, device: &Device, resume: bool) -> Result<Identity, BenchError> {
        let Some(tls) = &self.tls else {
            return Ok(self.anonymous(device.name.clone()));
        };
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_root_certificates(tls.roots.clone())
            .with_client_auth_cert(device.chain.clone(), device.key.clone_key())?;
        config.resumption = if resume {
            Resumption::in_memory_sessions(4)
        } else {
            Resumption::disabled()
        };
        Ok(Identity {
            client_id: device.name.clone(),
            tls: Some(Arc::new(config)),
        })
    }

    /// An identity without a certificate, for plain TCP.
    pub fn anonymous(&self, client_id: String) -> Identity {
        Identity {
            client_id,
            tls: None,
        }
    }

    /// Opens a connection as `identity`: TCP (nodelay), then the TLS handshake when the target
    /// is TLS. Fails with [`BenchError::Connect`] or [`BenchError::Handshake`].
    pub async fn connect(&self, identity: &Identity) -> Result<Stream, BenchError> {
        let tcp = self.open_tcp().await?;
        let (Some(tls), Some(config)) = (&self.tls, &identity.tls) else {
            return Ok(Stream::Plain(tcp));
        };
        let connector = TlsConnector::from(config.clone());
        let stream = connector
            .connect(tls.server_name.clone(), tcp)
            .await
            .map_err(|source| BenchError::Handshake {
                addr: self.addr,
                source,
            })?;
        Ok(Stream::Tls(Box::new(stream)))
    }

    async fn open_tcp(&self) -> Result<TcpStream, BenchError> {
        let connect_error = |source| BenchError::Connect {
            addr: self.addr,
            source,
        };
        let socket = match self.addr {
            SocketAddr::V4(_) => TcpSocket::new_v4(),
            SocketAddr::V6(_) => TcpSocket::new_v6(),
        }
        .map_err(connect_error)?;
        if let Some(source) = self.source_address() {
            socket
                .bind(SocketAddr::new(source, 0))
                .map_err(connect_error)?;
        }
        let stream = socket.connect(self.addr).await.map_err(connect_error)?;
        stream.set_nodelay(true).map_err(connect_error)?;
        Ok(stream)
    }

    fn source_address(&self) -> Option<IpAddr> {
        let IpAddr::V4(ip) = self.addr.ip() else {
            return None;
        };
        if !ip.is_loopback() {
            return None;
        }
        let n = self.next_source.fetch_add(1, Ordering::Relaxed);
        Some(IpAddr::V4(loopback_source(n)))
    }
}

/// The `n`th loopback source address: 127.0.0.2 to 127.0.0.254, round robin.
pub fn loopback_source(n: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 2 + (n % usize::from(LOOPBACK_SOURCES)) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_sources_rotate_without_touching_the_broker_address_or_broadcast() {
        assert_eq!(loopback_source(0), Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(loopback_source(252), Ipv4Addr::new(127, 0, 0, 254));
        assert_eq!(loopback_source(253), Ipv4Addr::new(127, 0, 0, 2));
    }

    #[tokio::test]
    async fn plain_connections_to_loopback_come_from_a_rotated_source() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let target = Target::plain(listener.local_addr().expect("addr"));
        let identity = target.anonymous("c".into());
        let _client = target.connect(&identity).await.expect("connect");
        let (_server, peer) = listener.accept().await.expect("accept");
        assert_eq!(peer.ip(), IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)));
    }
}
