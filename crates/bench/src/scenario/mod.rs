//! The benchmark scenarios and what they share: the target, the client identities, the
//! broker process to observe, and the shape of their results.

pub mod connect;
pub mod fleet_provisioning;
pub mod flow;
pub mod provision;
pub mod revoke;
pub mod shadow;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use roost_codec::QoS;
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::client::{ConnectOptions, Session};
use crate::error::BenchError;
use crate::transport::{Identity, Target};

/// Connections being set up at once before a run.
const SETUP_CONCURRENCY: usize = 64;
/// Longest setup of one client (connect and subscribe).
const SETUP_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything a scenario runs against.
#[derive(Debug, Clone)]
pub struct RunContext {
    /// The broker.
    pub target: Arc<Target>,
    /// Client identities: device certificates (required over TLS), or anonymous ids.
    pub identities: Arc<Vec<Identity>>,
    /// CONNECT settings.
    pub options: ConnectOptions,
    /// Free text copied into every result (system name, repetition).
    pub label: Option<String>,
    /// The broker's process id, for its memory and CPU figures.
    pub broker_pid: Option<u32>,
    /// No progress lines.
    pub quiet: bool,
}

impl RunContext {
    /// The first `n` identities, all distinct; an error if there are fewer.
    pub fn distinct_identities(&self, n: usize) -> Result<&[Identity], BenchError> {
        self.identities
            .get(..n)
            .ok_or_else(|| BenchError::NotEnoughDevices {
                dir: "(identities)".into(),
                available: self.identities.len(),
                needed: n,
            })
    }

    /// The description of the target that results carry.
    pub fn target_info(&self) -> TargetInfo {
        TargetInfo {
            label: self.label.clone(),
            addr: self.target.addr.to_string(),
            tls: self.target.is_tls(),
            mqtt: match self.options.version {
                roost_codec::ProtocolVersion::V5 => "5",
                _ => "3.1.1",
            },
        }
    }
}

/// What every result says about where it was measured.
#[derive(Debug, Clone, Serialize)]
pub struct TargetInfo {
    /// The caller's label.
    pub label: Option<String>,
    /// Broker address.
    pub addr: String,
    /// Whether clients used mutual TLS.
    pub tls: bool,
    /// MQTT version.
    pub mqtt: &'static str,
}

/// A scenario's result: one JSON line, and a readable summary.
pub trait Outcome: Serialize {
    /// A few lines for people.
    fn summary(&self) -> String;
}

/// Failures counted by [`BenchError::kind`], with the first message of each kind.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ErrorTally {
    /// Count per kind.
    pub counts: BTreeMap<&'static str, u64>,
    /// The first error of each kind, as text.
    pub first: BTreeMap<&'static str, String>,
}

impl ErrorTally {
    /// Counts `error`.
    pub fn add(&mut self, error: &BenchError) {
        let kind = error.kind();
        *self.counts.entry(kind).or_default() += 1;
        self.first.entry(kind).or_insert_with(|| error.to_string());
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: ErrorTally) {
        for (kind, n) in other.counts {
            *self.counts.entry(kind).or_default() += n;
        }
        for (kind, text) in other.first {
            self.first.entry(kind).or_insert(text);
        }
    }

    /// Total failures.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// `kind: n (first message)` per kind, for summaries; empty when there were none.
    pub fn describe(&self) -> String {
        self.counts
            .iter()
            .map(|(kind, n)| {
                let first = self.first.get(kind).map_or("", String::as_str);
                format!("\n  {kind}: {n} (first: {first})")
            })
            .collect()
    }
}

/// Opens a session per identity, [`SETUP_CONCURRENCY`] at a time, subscribing identity `j` to
/// the filters `subscriptions[j]` (none when `subscriptions` is shorter) at `qos`. Any failure
/// fails the whole setup.
pub(crate) async fn open_sessions(
    ctx: &RunContext,
    identities: &[Identity],
    subscriptions: &[Vec<String>],
    qos: QoS,
) -> Result<Vec<Session>, BenchError> {
    let gate = Arc::new(Semaphore::new(SETUP_CONCURRENCY));
    let tasks: Vec<_> = identities
        .iter()
        .enumerate()
        .map(|(j, identity)| {
            let (gate, target, options, identity) = (
                gate.clone(),
                ctx.target.clone(),
                ctx.options,
                identity.clone(),
            );
            let filters = subscriptions.get(j).cloned().unwrap_or_default();
            tokio::spawn(async move {
                let _permit = gate.acquire_owned().await;
                let setup = async {
                    let stream = target.connect(&identity).await?;
                    let mut session = Session::open(stream, &identity.client_id, &options).await?;
                    if !filters.is_empty() {
                        session.subscribe(&filters, qos, options.timeout).await?;
                    }
                    Ok::<_, BenchError>(session)
                };
                tokio::time::timeout(SETUP_TIMEOUT, setup)
                    .await
                    .map_err(|_| BenchError::Timeout("a client to connect and subscribe"))?
            })
        })
        .collect();
    let mut sessions = Vec::with_capacity(tasks.len());
    for task in tasks {
        match task.await {
            Ok(result) => sessions.push(result?),
            Err(_) => return Err(BenchError::Timeout("a setup task that panicked")),
        }
    }
    Ok(sessions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_counted_by_kind_keeping_the_first_message() {
        let mut tally = ErrorTally::default();
        tally.add(&BenchError::Closed);
        tally.add(&BenchError::Timeout("CONNACK"));
        let mut other = ErrorTally::default();
        other.add(&BenchError::Timeout("SUBACK"));
        tally.merge(other);
        assert_eq!(tally.total(), 3);
        assert_eq!(tally.counts["timeout"], 2);
        assert_eq!(tally.first["timeout"], "timed out waiting for CONNACK");
    }
}
