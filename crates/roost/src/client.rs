//! A small control-plane client for the CLI's own commands (`roost ca register`, …): one
//! SigV4-signed HTTP/1.1 request at a time, over TCP or TLS. hyper does the HTTP; the CLI
//! needs no general-purpose HTTP client for a handful of calls to its own server.

use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{Context, Result, anyhow, bail};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use roost_sigv4::{Credentials, HttpRequest};
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use serde_json::Value;
use tokio::net::TcpStream;

/// Where and as whom to call the control plane.
#[derive(Debug, Clone)]
pub(crate) struct ClientSettings {
    /// `http://host:port` or `https://host:port`.
    pub(crate) endpoint: String,
    pub(crate) access_key_id: String,
    pub(crate) secret_access_key: String,
    pub(crate) region: String,
    /// PEM of the CA that signed the server certificate (for https).
    pub(crate) ca_pem: Option<String>,
}

/// An AWS error from the control plane.
#[derive(Debug, thiserror::Error)]
#[error("{error_type}: {message}")]
pub(crate) struct ApiFailure {
    pub(crate) status: u16,
    pub(crate) error_type: String,
    pub(crate) message: String,
}

pub(crate) struct ControlPlaneClient {
    settings: ClientSettings,
    https: bool,
    host: String,
    port: u16,
}

impl ControlPlaneClient {
    pub(crate) fn new(settings: ClientSettings) -> Result<Self> {
        let (https, rest) = if let Some(rest) = settings.endpoint.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = settings.endpoint.strip_prefix("http://") {
            (false, rest)
        } else {
            bail!(
                "the endpoint {} must start with http:// or https://",
                settings.endpoint
            );
        };
        let authority = rest.trim_end_matches('/');
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (
                host.to_owned(),
                port.parse()
                    .with_context(|| format!("bad port in {}", settings.endpoint))?,
            ),
            None => (authority.to_owned(), if https { 443 } else { 80 }),
        };
        Ok(Self {
            settings,
            https,
            host,
            port,
        })
    }

    /// Sends `method raw_path[?raw_query]` with a JSON `body` and returns the JSON answer;
    /// an AWS error answer becomes [`ApiFailure`].
    pub(crate) async fn call(
        &self,
        method: &str,
        raw_path: &str,
        raw_query: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Value> {
        let body = body
            .map(serde_json::to_vec)
            .transpose()?
            .unwrap_or_default();
        let host_header = format!("{}:{}", self.host, self.port);
        let content_type = "application/json";
        let unsigned: [(&str, &[u8]); 2] = [
            ("host", host_header.as_bytes()),
            ("content-type", content_type.as_bytes()),
        ];
        let request = HttpRequest {
            method,
            raw_path,
            raw_query,
            headers: &unsigned,
            body: &body,
        };
        let credentials = Credentials {
            access_key_id: &self.settings.access_key_id,
            secret_access_key: &self.settings.secret_access_key,
            session_token: None,
        };
        let signed = roost_sigv4::sign(
            &request,
            &credentials,
            &self.settings.region,
            "iot",
            SystemTime::now(),
        );
        let uri = match raw_query {
            Some(query) => format!("{raw_path}?{query}"),
            None => raw_path.to_owned(),
        };
        let mut builder = hyper::Request::builder()
            .method(method)
            .uri(uri)
            .header("host", &host_header)
            .header("content-type", content_type);
        for (name, value) in &signed {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let request = builder.body(Full::new(Bytes::from(body)))?;

        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .with_context(|| format!("connecting to {}", self.settings.endpoint))?;
        let response = if self.https {
            let tls = self.tls_connector()?;
            let name = ServerName::try_from(self.host.clone())
                .map_err(|_| anyhow!("{} is not a valid server name", self.host))?;
            let stream = tls.connect(name, tcp).await.context("TLS handshake")?;
            send(TokioIo::new(stream), request).await?
        } else {
            send(TokioIo::new(tcp), request).await?
        };
        let status = response.status().as_u16();
        let error_type = response
            .headers()
            .get("x-amzn-ErrorType")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim_end_matches(':').to_owned());
        let bytes = response.into_body().collect().await?.to_bytes();
        let json: Value = if bytes.is_empty() {
            Value::Object(Default::default())
        } else {
            serde_json::from_slice(&bytes).context("the server's answer is not JSON")?
        };
        if status >= 300 {
            return Err(ApiFailure {
                status,
                error_type: error_type.unwrap_or_else(|| status.to_string()),
                message: json["message"].as_str().unwrap_or_default().to_owned(),
            }
            .into());
        }
        Ok(json)
    }

    fn tls_connector(&self) -> Result<tokio_rustls::TlsConnector> {
        let mut roots = rustls::RootCertStore::empty();
        let pem = self
            .settings
            .ca_pem
            .as_deref()
            .ok_or_else(|| anyhow!("an https endpoint needs the server CA (--cafile)"))?;
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            roots.add(cert?)?;
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
    }
}

async fn send<T>(
    io: T,
    request: hyper::Request<Full<Bytes>>,
) -> Result<hyper::Response<hyper::body::Incoming>>
where
    T: hyper::rt::Read + hyper::rt::Write + Send + Unpin + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender.send_request(request).await?)
}

/// Percent-encodes a path label as botocore does (only `-._~` and alphanumerics kept).
pub(crate) fn encode_label(label: &str) -> String {
    let mut out = String::with_capacity(label.len());
    for byte in label.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_encoded_like_botocore() {
        assert_eq!(encode_label("my:thing"), "my%3Athing");
        assert_eq!(encode_label("a/b c"), "a%2Fb%20c");
        assert_eq!(encode_label("A-z_0.~"), "A-z_0.~");
    }

    #[test]
    fn endpoints_without_a_scheme_are_refused() {
        let settings = ClientSettings {
            endpoint: "localhost:1".into(),
            access_key_id: String::new(),
            secret_access_key: String::new(),
            region: "us-east-1".into(),
            ca_pem: None,
        };
        assert!(ControlPlaneClient::new(settings).is_err());
    }
}
