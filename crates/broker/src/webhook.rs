//! One-shot HTTP/1.1 JSON exchanges over TCP or TLS: the pre-provisioning webhook, and the CLI's
//! calls to its own control plane. hyper does the HTTP; a general-purpose client (connection
//! pools, redirects, proxies) is more than these few calls need.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use serde_json::Value;
use tokio::net::TcpStream;

/// Largest answer read: a webhook cannot make the broker buffer more than this.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Why a webhook call brought no usable answer. The details name the hook's address, so
/// they are for the log, never for the device.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// The hook's URL is not usable.
    #[error("{0}")]
    InvalidUrl(String),
    /// No answer within the deadline.
    #[error("no answer within {0} s")]
    Timeout(u64),
    /// Connecting, TLS, sending or reading failed (or the answer was too large).
    #[error("{0}")]
    Exchange(String),
    /// The answer's status is not 2xx.
    #[error("answered HTTP {0}")]
    Status(u16),
    /// The answer is not JSON.
    #[error("did not answer JSON: {0}")]
    NotJson(String),
}

/// Where the trusted roots of https webhooks come from (Debian's bundle).
const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// A parsed `http://` or `https://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub https: bool,
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl Target {
    pub fn parse(url: &str) -> Result<Self, String> {
        let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(format!("{url} is not an http:// or https:// URL"));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].to_owned()),
            None => (rest, "/".to_owned()),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => (
                host.trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned(),
                port.parse().map_err(|_| format!("bad port in {url}"))?,
            ),
            _ => (authority.to_owned(), if https { 443 } else { 80 }),
        };
        if host.is_empty() {
            return Err(format!("{url} has no host"));
        }
        Ok(Self {
            https,
            host,
            port,
            path,
        })
    }

    /// The `Host` header value.
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// The answer to an exchange.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

/// Sends `request` to `target` and reads the whole answer. `roots` are the CAs trusted for
/// https (default: the system's).
pub async fn exchange(
    target: &Target,
    request: hyper::Request<Full<Bytes>>,
    roots: Option<&str>,
) -> Result<Answer, String> {
    let tcp = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", target.authority()))?;
    let _ = tcp.set_nodelay(true);
    let response = if target.https {
        let connector = tls_connector(roots)?;
        let name = ServerName::try_from(target.host.clone())
            .map_err(|_| format!("{} is not a valid server name", target.host))?;
        let stream = connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS handshake with {} failed: {e}", target.authority()))?;
        send(TokioIo::new(stream), request).await?
    } else {
        send(TokioIo::new(tcp), request).await?
    };
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = http_body_util::Limited::new(response.into_body(), MAX_ANSWER_BYTES)
        .collect()
        .await
        .map_err(|e| {
            format!("reading the answer failed (at most {MAX_ANSWER_BYTES} bytes are read): {e}")
        })?
        .to_bytes();
    Ok(Answer {
        status,
        headers,
        body,
    })
}

async fn send<T>(
    io: T,
    request: hyper::Request<Full<Bytes>>,
) -> Result<hyper::Response<hyper::body::Incoming>, String>
where
    T: hyper::rt::Read + hyper::rt::Write + Send + Unpin + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP handshake failed: {e}"))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    sender
        .send_request(request)
        .await
        .map_err(|e| format!("the request failed: {e}"))
}

fn tls_connector(roots_pem: Option<&str>) -> Result<tokio_rustls::TlsConnector, String> {
    let system;
    let pem = match roots_pem {
        Some(pem) => pem,
        None => {
            system = std::fs::read_to_string(SYSTEM_ROOTS)
                .map_err(|e| format!("reading the system's trusted roots failed: {e}"))?;
            &system
        }
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()).flatten() {
        let _ = roots.add(cert);
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// POSTs `body` as JSON to `url` and returns the JSON answer of a 2xx response, within
/// `timeout`.
pub async fn post_json(url: &str, body: &Value, timeout: Duration) -> Result<Value, WebhookError> {
    let target = Target::parse(url).map_err(WebhookError::InvalidUrl)?;
    let request = hyper::Request::builder()
        .method("POST")
        .uri(target.path.as_str())
        .header("host", target.authority())
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| WebhookError::InvalidUrl(e.to_string()))?;
    let answer = tokio::time::timeout(timeout, exchange(&target, request, None))
        .await
        .map_err(|_| WebhookError::Timeout(timeout.as_secs()))?
        .map_err(WebhookError::Exchange)?;
    if !(200..300).contains(&answer.status) {
        return Err(WebhookError::Status(answer.status));
    }
    serde_json::from_slice(&answer.body).map_err(|e| WebhookError::NotJson(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_split_into_host_port_and_path() {
        let t = Target::parse("http://127.0.0.1:8080/hooks/provision?x=1").unwrap();
        assert_eq!(
            (t.https, t.host.as_str(), t.port, t.path.as_str()),
            (false, "127.0.0.1", 8080, "/hooks/provision?x=1")
        );
        let t = Target::parse("https://hooks.example").unwrap();
        assert_eq!((t.https, t.port, t.path.as_str()), (true, 443, "/"));
        assert!(Target::parse("arn:aws:lambda:us-east-1:1:function:f").is_err());
        assert!(Target::parse("http://:80/").is_err());
    }

    #[tokio::test]
    async fn a_hook_that_does_not_answer_in_time_fails_with_the_timeout() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let _hold = tokio::spawn(async move {
            let (_socket, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        let error = post_json(
            &format!("http://127.0.0.1:{port}/"),
            &serde_json::json!({}),
            Duration::from_millis(200),
        )
        .await
        .unwrap_err();
        assert_eq!(error, WebhookError::Timeout(0));
    }

    #[tokio::test]
    async fn an_answer_larger_than_the_cap_is_not_read_whole() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let _server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = vec![0; 4096];
            let _ = socket.read(&mut request).await;
            let body = vec![b' '; 4 * MAX_ANSWER_BYTES];
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                body.len()
            );
            let _ = socket.write_all(head.as_bytes()).await;
            let _ = socket.write_all(&body).await;
        });
        let error = post_json(
            &format!("http://127.0.0.1:{port}/"),
            &serde_json::json!({}),
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&error, WebhookError::Exchange(detail) if detail.contains("at most")),
            "{error:?}"
        );
    }
}
