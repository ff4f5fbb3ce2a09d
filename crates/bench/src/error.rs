//! The one error type of the load generator.

use std::net::SocketAddr;
use std::path::PathBuf;

use roost_codec::{DecodeError, EncodeError, PacketType, ReasonCode};

/// The `errorCode` of a fleet-provisioning request refused by a rate limit.
pub(crate) const THROTTLING: &str = "Throttling";

/// Everything that can go wrong while preparing or running a benchmark.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Issuing or loading a certificate failed.
    #[error("certificates: {0}")]
    Pki(#[from] roost_pki::PkiError),
    /// Making a device key or CSR failed.
    #[error("making a key or CSR: {0}")]
    Csr(#[from] rcgen::Error),
    /// A PEM file held no usable certificate or key.
    #[error("{path}: {reason}")]
    BadPem {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// rustls refused the configuration (key/certificate mismatch, unsupported key).
    #[error("TLS configuration: {0}")]
    TlsConfig(#[from] rustls::Error),
    /// The scenario needs more device certificates than the directory holds.
    #[error("{dir} holds {available} device certificates, the scenario needs {needed}")]
    NotEnoughDevices {
        /// The certificate directory.
        dir: PathBuf,
        /// How many it holds.
        available: usize,
        /// How many the scenario needs.
        needed: usize,
    },
    /// A payload size below what the stamp needs, or above what MQTT can carry.
    #[error("payload size {size} is outside {min}..={max} bytes")]
    PayloadSize {
        /// The size asked for.
        size: usize,
        /// The stamp's length.
        min: usize,
        /// The largest payload the generator sends.
        max: usize,
    },
    /// A received payload is not one of ours (too short or wrong magic).
    #[error("received a payload that carries no bench stamp ({len} bytes)")]
    ForeignPayload {
        /// Its length.
        len: usize,
    },
    /// The TCP connection could not be opened.
    #[error("TCP connect to {addr}: {source}")]
    Connect {
        /// The broker address.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The TLS handshake failed (certificate refused, alert, reset).
    #[error("TLS handshake with {addr}: {source}")]
    Handshake {
        /// The broker address.
        addr: SocketAddr,
        /// What rustls or the OS said.
        source: std::io::Error,
    },
    /// Reading or writing an established connection failed.
    #[error("connection I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The broker closed the connection.
    #[error("the broker closed the connection")]
    Closed,
    /// The broker answered CONNECT with a refusal.
    #[error("CONNACK refused the connection: {code:?}")]
    Refused {
        /// Its reason code.
        code: ReasonCode,
    },
    /// The broker refused a subscription.
    #[error("SUBACK refused the subscription to {filter}: {code:?}")]
    SubscribeRefused {
        /// The filter.
        filter: String,
        /// Its reason code.
        code: ReasonCode,
    },
    /// The broker sent a packet the generator cannot decode.
    #[error("malformed packet from the broker: {0}")]
    Decode(#[from] DecodeError),
    /// A packet could not be encoded (a value too large for the wire).
    #[error("cannot encode a packet: {0}")]
    Encode(#[from] EncodeError),
    /// The broker sent a packet the exchange did not expect.
    #[error("expected {expected}, the broker sent {got:?}")]
    Unexpected {
        /// What the exchange waited for.
        expected: &'static str,
        /// What came instead.
        got: PacketType,
    },
    /// An exchange took longer than its limit.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    /// The shadow service answered an update on `/update/rejected`.
    #[error("shadow update rejected: {code} {message}")]
    ShadowRejected {
        /// The error document's `code` (an HTTP status: 400, 409, 413, 429, 500…).
        code: u16,
        /// Its `message`.
        message: String,
    },
    /// A fleet-provisioning request was answered on `…/rejected`.
    #[error("{operation} rejected: {status} {code}: {message}")]
    FleetRejected {
        /// `CreateCertificateFromCsr`, `CreateKeysAndCertificate` or `RegisterThing`.
        operation: &'static str,
        /// The answer's `statusCode` (0 if unreadable).
        status: u16,
        /// Its `errorCode` (`Throttling`, `InvalidRequest`…).
        code: String,
        /// Its `errorMessage`.
        message: String,
    },
    /// A fleet-provisioning request was accepted with an answer the device cannot use.
    #[error("{operation} accepted with an unusable answer: {reason}")]
    FleetAnswer {
        /// The operation.
        operation: &'static str,
        /// What is missing or wrong.
        reason: String,
    },
    /// A Roost data directory lacks what the control-plane client needs.
    #[error("Roost data directory {dir}: {reason}")]
    DataDir {
        /// The directory.
        dir: PathBuf,
        /// What is missing or malformed.
        reason: String,
    },
    /// The control plane answered with an error.
    #[error("control plane {method} {path}: HTTP {status}: {body}")]
    ControlPlane {
        /// HTTP method.
        method: &'static str,
        /// Request path.
        path: String,
        /// HTTP status.
        status: u16,
        /// Response body (the AWS error JSON).
        body: String,
    },
    /// The control plane's answer could not be understood.
    #[error("control plane response: {0}")]
    ControlPlaneResponse(String),
    /// `/proc/<pid>` could not be read or parsed.
    #[error("/proc/{pid}/{file}: {reason}")]
    Proc {
        /// The process.
        pid: u32,
        /// `status` or `stat`.
        file: &'static str,
        /// What went wrong.
        reason: String,
    },
}

impl BenchError {
    /// A short, stable name for counting failures by kind in results.
    pub fn kind(&self) -> &'static str {
        match self {
            BenchError::Connect { .. } => "tcp_connect",
            BenchError::Handshake { .. } => "tls_handshake",
            BenchError::Refused { .. } => "connack_refused",
            BenchError::Closed => "closed",
            BenchError::Timeout(_) => "timeout",
            BenchError::Io(_) => "io",
            BenchError::Decode(_) | BenchError::Unexpected { .. } => "protocol",
            BenchError::SubscribeRefused { .. } => "suback_refused",
            BenchError::ShadowRejected { .. } => "shadow_rejected",
            BenchError::FleetRejected { code, .. } if code == THROTTLING => "throttled",
            BenchError::FleetRejected { .. } => "fleet_rejected",
            BenchError::FleetAnswer { .. } => "fleet_answer",
            _ => "setup",
        }
    }
}
