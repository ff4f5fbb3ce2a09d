//! The control plane's HTTP(S) server: the axum router behind the limits that `axum::serve`
//! does not offer, so that slow or numerous clients cannot hold the server's memory or sockets:
//! a cap on open connections and on TLS handshakes in progress, a handshake deadline, and a
//! deadline for each request's headers (hyper's `header_read_timeout`, which also closes a
//! keep-alive connection that sends nothing). Bodies are bounded in size and time by the API's
//! signature check, which reads no body of an unsigned request.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use std::net::SocketAddr;
use tokio::io::{AsyncRead, AsyncWrite};
use tower::ServiceExt as _;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How the control plane's listener bounds its clients.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HttpLimits {
    /// Most open connections; further ones are closed at once.
    pub(crate) max_connections: usize,
    /// Most TLS handshakes in progress; further connections are closed at once.
    pub(crate) max_tls_handshakes: usize,
    /// Longest a client may take to complete the TLS handshake.
    pub(crate) handshake_timeout: Duration,
    /// Longest a client may take to send a request's headers (and longest an idle keep-alive
    /// connection stays open).
    pub(crate) header_read_timeout: Duration,
}

/// How long open requests get to finish when the server stops.
const DRAIN: Duration = Duration::from_secs(5);

/// A rustls server configuration (no client certificates) from PEM files.
pub(crate) fn server_config(cert_pem: &str, key_pem: &str) -> Result<ServerConfig> {
    let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .context("reading the server certificate chain")?;
    let key =
        PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).context("reading the server key")?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the server certificate and key do not match")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Serves `router` on `listener` (over TLS when `tls` is given) until `shutdown`.
pub(crate) async fn serve(
    listener: TcpListener,
    tls: Option<ServerConfig>,
    router: Router,
    limits: HttpLimits,
    shutdown: CancellationToken,
) {
    let acceptor = tls.map(|config| TlsAcceptor::from(Arc::new(config)));
    let handshakes = Arc::new(Semaphore::new(limits.max_tls_handshakes));
    let serve_shutdown = shutdown.clone();
    accept_loop(listener, limits, shutdown, move |tcp, peer| {
        let (router, acceptor, handshakes) = (router.clone(), acceptor.clone(), handshakes.clone());
        let shutdown = serve_shutdown.clone();
        async move {
            let Some(acceptor) = acceptor else {
                serve_connection(tcp, peer, router, limits, shutdown).await;
                return;
            };
            if let Some(stream) = handshake(&acceptor, &handshakes, tcp, peer, limits).await {
                serve_connection(stream, peer, router, limits, shutdown).await;
            }
        }
    })
    .await;
}

/// Serves device requests on `listener` over mutual TLS until `shutdown`: `route` turns each
/// connection's client certificate chain into the router that serves it (admission runs there,
/// once per connection).
pub(crate) async fn serve_mutual_tls<R, F>(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    limits: HttpLimits,
    shutdown: CancellationToken,
    route: R,
) where
    R: Fn(Vec<CertificateDer<'static>>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Router> + Send + 'static,
{
    let acceptor = TlsAcceptor::from(tls);
    let handshakes = Arc::new(Semaphore::new(limits.max_tls_handshakes));
    let serve_shutdown = shutdown.clone();
    accept_loop(listener, limits, shutdown, move |tcp, peer| {
        let (acceptor, handshakes, route) = (acceptor.clone(), handshakes.clone(), route.clone());
        let shutdown = serve_shutdown.clone();
        async move {
            let Some(stream) = handshake(&acceptor, &handshakes, tcp, peer, limits).await else {
                return;
            };
            let chain = stream
                .get_ref()
                .1
                .peer_certificates()
                .map(|certs| certs.iter().map(|c| c.clone().into_owned()).collect())
                .unwrap_or_default();
            let router = route(chain, peer).await;
            serve_connection(stream, peer, router, limits, shutdown).await;
        }
    })
    .await;
}

/// Accepts connections until `shutdown`, within the connection cap, each served by
/// `on_connection` on its own task; then waits a while for them to finish.
async fn accept_loop<C, F>(
    listener: TcpListener,
    limits: HttpLimits,
    shutdown: CancellationToken,
    on_connection: C,
) where
    C: Fn(TcpStream, SocketAddr) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let tracker = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "accepting an HTTP connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            metrics::counter!("roost_api_connections_refused_total", "reason" => "limit")
                .increment(1);
            tracing::debug!(%peer, "HTTP connection refused: too many open");
            continue;
        };
        let served = on_connection(tcp, peer);
        tracker.spawn(async move {
            let _open = permit;
            served.await;
        });
    }
    tracker.close();
    if tokio::time::timeout(DRAIN, tracker.wait()).await.is_err() {
        tracing::warn!("HTTP requests still open after the drain period; closing them");
    }
}

/// The TLS handshake of `tcp`, within the handshake cap and deadline.
async fn handshake(
    acceptor: &TlsAcceptor,
    handshakes: &Arc<Semaphore>,
    tcp: TcpStream,
    peer: SocketAddr,
    limits: HttpLimits,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    let Ok(_handshaking) = handshakes.clone().try_acquire_owned() else {
        metrics::counter!("roost_api_connections_refused_total", "reason" => "handshakes")
            .increment(1);
        tracing::debug!(%peer, "HTTP connection refused: too many handshakes");
        return None;
    };
    match tokio::time::timeout(limits.handshake_timeout, acceptor.accept(tcp)).await {
        Ok(Ok(stream)) => Some(stream),
        Ok(Err(error)) => {
            tracing::debug!(%peer, %error, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            None
        }
    }
}

/// HTTP/1.1 on one connection, with the header deadline; a graceful close on shutdown. Handlers
/// find the client's address as axum's `ConnectInfo`. An upgraded connection (MQTT over
/// WebSocket) leaves this function, its deadlines and its connection slot: hyper completes the
/// connection when it hands the socket to the upgrade's own task.
async fn serve_connection<I>(
    io: I,
    peer: SocketAddr,
    router: Router,
    limits: HttpLimits,
    shutdown: CancellationToken,
) where
    I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let router = router.map_request(
        move |mut request: axum::http::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            request
        },
    );
    let service = TowerToHyperService::new(router);
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        tracing::debug!(%error, "control-plane connection ended");
    }
}
