//! `roost-bench`: a load generator for MQTT brokers in the spirit of emqtt-bench, and the home
//! of Roost's criterion micro-benchmarks (`benches/`).
//!
//! It speaks MQTT with Roost's own codec (`roost-codec`) over tokio, plain TCP or TLS 1.3 with
//! client certificates (rustls on aws-lc-rs, no session resumption, `TCP_NODELAY` on), so the
//! generator stays cheaper than the broker it measures and works against any broker: Roost,
//! Mosquitto, rumqttd, nats-server's MQTT gateway. Scenarios ([`scenario`]): connect storms and
//! held connections ([`scenario::connect`]), publishers to subscribers and fan-out
//! ([`scenario::flow`]), the just-in-time provisioning storm against Roost
//! ([`scenario::provision`]), fleet provisioning by claim against Roost
//! ([`scenario::fleet_provisioning`]), and devices updating their Device Shadows
//! ([`scenario::shadow`]). Each scenario returns a serializable outcome; the binary prints it as
//! one JSON line on stdout and a readable summary on stderr.
//!
//! Pure parts, tested beside their code: [`histogram::LatencyHistogram`] (log-linear buckets,
//! < 1 % error), [`sequence::SequenceTracker`] (lost, duplicated and reordered messages from
//! sequence numbers) and [`payload::Stamp`] (publisher, sequence and send time carried in each
//! payload). [`fleet`] generates and loads the CA, server and device certificates (and the
//! CSRs of fleet provisioning), [`control_plane`] registers the bench CA with a JITP template,
//! or a fleet template and a claim certificate, on a running Roost (SigV4-signed plain HTTP on
//! loopback), [`echo_server`] is the pure-rustls handshake ceiling.
//!
//! Not here: broker processes (the `bench/compare` script starts and pins them), TLS 1.2, MQTT
//! over WebSocket, and persistent sessions (every client connects with a clean session).

pub mod client;
pub mod control_plane;
pub mod echo_server;
mod error;
pub mod fleet;
pub mod histogram;
pub mod payload;
pub mod process;
pub mod progress;
pub mod scenario;
pub mod sequence;
pub mod transport;

pub use error::BenchError;
