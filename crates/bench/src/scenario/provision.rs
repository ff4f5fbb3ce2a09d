//! The just-in-time provisioning storm (Roost issue 4): never-seen device certificates under a
//! CA registered with a provisioning template connect once each — that first connect
//! provisions the device (thing, certificate, policy, attachments, committed before CONNACK) —
//! then the same devices connect again as registered devices. The ratio of the two rates says
//! what provisioning costs on top of a connect.

use serde::Serialize;

use crate::histogram::LatencySummary;
use crate::scenario::connect::{ConnectPass, Limit, connect_loop, label_suffix};
use crate::scenario::{Outcome, RunContext, TargetInfo};

/// The result of a provisioning storm.
#[derive(Debug, Clone, Serialize)]
pub struct ProvisionOutcome {
    /// `"provision"`.
    pub scenario: &'static str,
    /// Where it ran.
    #[serde(flatten)]
    pub target: TargetInfo,
    /// Devices in the storm.
    pub devices: usize,
    /// Connects in flight at once.
    pub concurrency: usize,
    /// First connects that succeeded: devices provisioned.
    pub provisioned: u64,
    /// Provisioned devices per second.
    pub provisioned_per_sec: f64,
    /// Time to CONNACK of first connects.
    pub provision_latency: LatencySummary,
    /// Second connects (registered devices) per second.
    pub reconnects_per_sec: f64,
    /// Time to CONNACK of second connects.
    pub reconnect_latency: LatencySummary,
    /// provisioned_per_sec / reconnects_per_sec.
    pub ratio: f64,
    /// The first pass in full.
    pub first: ConnectPass,
    /// The second pass in full.
    pub second: ConnectPass,
}

impl Outcome for ProvisionOutcome {
    fn summary(&self) -> String {
        format!(
            "provision{}: {} devices, concurrency {}\n  first connect (JITP): {:.0} devices/s, {} ok, {} failed, latency {}{}\n  second connect: {:.0} conn/s, {} ok, {} failed, latency {}{}\n  ratio {:.2}",
            label_suffix(&self.target),
            self.devices,
            self.concurrency,
            self.provisioned_per_sec,
            self.first.connected,
            self.first.failed,
            self.provision_latency.brief(),
            self.first.errors.describe(),
            self.reconnects_per_sec,
            self.second.connected,
            self.second.failed,
            self.reconnect_latency.brief(),
            self.second.errors.describe(),
            self.ratio
        )
    }
}

/// Connects every identity of `ctx` once (provisioning it), then once more.
pub async fn storm(ctx: &RunContext, concurrency: usize) -> ProvisionOutcome {
    let first = connect_loop(
        ctx,
        ctx.identities.clone(),
        concurrency,
        Limit::EachOnce,
        "provision",
    )
    .await;
    let second = connect_loop(
        ctx,
        ctx.identities.clone(),
        concurrency,
        Limit::EachOnce,
        "reconnect",
    )
    .await;
    let ratio = if second.connections_per_sec > 0.0 {
        first.connections_per_sec / second.connections_per_sec
    } else {
        0.0
    };
    ProvisionOutcome {
        scenario: "provision",
        target: ctx.target_info(),
        devices: ctx.identities.len(),
        concurrency,
        provisioned: first.connected,
        provisioned_per_sec: first.connections_per_sec,
        provision_latency: first.latency,
        reconnects_per_sec: second.connections_per_sec,
        reconnect_latency: second.latency,
        ratio,
        first,
        second,
    }
}
