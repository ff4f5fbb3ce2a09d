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
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
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
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let handshakes = Arc::new(Semaphore::new(limits.max_tls_handshakes));
    let tracker = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "accepting a control-plane connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            metrics::counter!("roost_api_connections_refused_total", "reason" => "limit")
                .increment(1);
            tracing::debug!(%peer, "control-plane connection refused: too many open");
            continue;
        };
        let router = router.clone();
        let shutdown = shutdown.clone();
        let acceptor = acceptor.clone();
        let handshakes = handshakes.clone();
        tracker.spawn(async move {
            let _open = permit;
            let Some(acceptor) = acceptor else {
                serve_connection(tcp, router, limits, shutdown).await;
                return;
            };
            let Ok(handshaking) = handshakes.try_acquire_owned() else {
                metrics::counter!("roost_api_connections_refused_total", "reason" => "handshakes")
                    .increment(1);
                tracing::debug!(%peer, "control-plane connection refused: too many handshakes");
                return;
            };
            let handshake = tokio::time::timeout(limits.handshake_timeout, acceptor.accept(tcp));
            let stream = match handshake.await {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => {
                    tracing::debug!(%peer, %error, "control-plane TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "control-plane TLS handshake timed out");
                    return;
                }
            };
            drop(handshaking);
            serve_connection(stream, router, limits, shutdown).await;
        });
    }
    tracker.close();
    if tokio::time::timeout(DRAIN, tracker.wait()).await.is_err() {
        tracing::warn!("control-plane requests still open after the drain period; closing them");
    }
}

/// HTTP/1.1 on one connection, with the header deadline; a graceful close on shutdown.
async fn serve_connection<I>(io: I, router: Router, limits: HttpLimits, shutdown: CancellationToken)
where
    I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
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
