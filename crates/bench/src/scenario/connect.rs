//! Connection scenarios: a storm of full connects (TCP, TLS handshake, CONNECT → CONNACK,
//! DISCONNECT), and holding many connections open to weigh the broker's memory per connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::client::Session;
use crate::error::BenchError;
use crate::histogram::{LatencyHistogram, LatencySummary};
use crate::process::{CpuMeter, Observed};
use crate::progress::{Counters, Progress};
use crate::scenario::{ErrorTally, Outcome, RunContext, TargetInfo};
use crate::transport::Identity;

/// Longest a single connect may take before it counts as a timeout.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// When a connect loop stops.
#[derive(Debug, Clone, Copy)]
pub enum Limit {
    /// Keep connecting (cycling over the identities) until this much time has passed.
    Duration(Duration),
    /// Connect this many times in total (cycling over the identities).
    Count(u64),
    /// Connect each identity exactly once.
    EachOnce,
}

/// What one connect loop measured.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectPass {
    /// Connects started.
    pub attempts: u64,
    /// Connects that reached a successful CONNACK.
    pub connected: u64,
    /// Connects that failed.
    pub failed: u64,
    /// Failures by kind.
    pub errors: ErrorTally,
    /// Wall time of the loop, seconds.
    pub elapsed_s: f64,
    /// Successful connects per second.
    pub connections_per_sec: f64,
    /// Time from opening TCP to CONNACK, successful connects only.
    pub latency: LatencySummary,
    /// Broker CPU time per successful connect, milliseconds (with a broker pid).
    pub broker_cpu_ms_per_connect: Option<f64>,
    /// Broker CPU use during the loop, percent of one core (with a broker pid).
    pub broker_cpu_percent: Option<f64>,
    /// The generator's own CPU use, percent of one core: near 100 means the generator, not the
    /// broker, may be the limit.
    pub generator_cpu_percent: Option<f64>,
}

/// Connects (TCP, TLS, CONNECT → CONNACK), then disconnects at once; returns the time to CONNACK.
pub async fn connect_once(ctx: &RunContext, identity: &Identity) -> Result<Duration, BenchError> {
    let start = Instant::now();
    let attempt = async {
        let stream = ctx.target.connect(identity).await?;
        Session::open(stream, &identity.client_id, &ctx.options).await
    };
    let mut session = tokio::time::timeout(ATTEMPT_TIMEOUT, attempt)
        .await
        .map_err(|_| BenchError::Timeout("the connection to complete"))??;
    let elapsed = start.elapsed();
    session.writer.disconnect().await;
    Ok(elapsed)
}

/// Runs `concurrency` workers that connect and disconnect until `limit`, over
/// `identities` (identity `i mod n` for the `i`th connect).
pub async fn connect_loop(
    ctx: &RunContext,
    identities: Arc<Vec<Identity>>,
    concurrency: usize,
    limit: Limit,
    what: &'static str,
) -> ConnectPass {
    let counters = Counters::shared();
    let progress = Progress::start(what, "connected", counters.clone(), ctx.quiet);
    let broker_cpu = ctx
        .broker_pid
        .and_then(|pid| CpuMeter::start(Observed::Pid(pid)));
    let own_cpu = CpuMeter::start(Observed::Own);
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let total = match limit {
        Limit::Duration(_) => u64::MAX,
        Limit::Count(n) => n,
        Limit::EachOnce => identities.len() as u64,
    };
    let deadline = match limit {
        Limit::Duration(d) => Some(start + d),
        _ => None,
    };
    let ctx = Arc::new(ctx.clone());
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (ctx, identities, next, counters) = (
                ctx.clone(),
                identities.clone(),
                next.clone(),
                counters.clone(),
            );
            tokio::spawn(async move {
                let mut histogram = LatencyHistogram::new();
                let mut errors = ErrorTally::default();
                let mut attempts = 0u64;
                loop {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total || identities.is_empty() {
                        break;
                    }
                    let identity = &identities[(i % identities.len() as u64) as usize];
                    attempts += 1;
                    match connect_once(&ctx, identity).await {
                        Ok(latency) => {
                            histogram.record(latency);
                            counters.success();
                        }
                        Err(error) => {
                            errors.add(&error);
                            counters.failure();
                        }
                    }
                }
                (histogram, errors, attempts)
            })
        })
        .collect();
    let mut histogram = LatencyHistogram::new();
    let mut errors = ErrorTally::default();
    let mut attempts = 0;
    for worker in workers {
        if let Ok((h, e, a)) = worker.await {
            histogram.merge(&h);
            errors.merge(e);
            attempts += a;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    progress.stop();
    let connected = histogram.count();
    let broker = broker_cpu.and_then(|m| m.read());
    ConnectPass {
        attempts,
        connected,
        failed: errors.total(),
        errors,
        elapsed_s: elapsed,
        connections_per_sec: rate(connected, elapsed),
        latency: histogram.summary(),
        broker_cpu_ms_per_connect: broker
            .filter(|_| connected > 0)
            .map(|b| 1e3 * b.cpu_seconds / connected as f64),
        broker_cpu_percent: broker.map(|b| b.percent),
        generator_cpu_percent: own_cpu.and_then(|m| m.read()).map(|c| c.percent),
    }
}

/// `n / seconds`, 0 for an empty span.
pub(crate) fn rate(n: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        n as f64 / seconds
    } else {
        0.0
    }
}

/// How a connect storm runs.
#[derive(Debug, Clone, Copy)]
pub struct StormPlan {
    /// Connects in flight at once.
    pub concurrency: usize,
    /// When to stop.
    pub limit: Limit,
    /// Resume TLS sessions (the identities must keep tickets: `Target::identity_with`).
    pub resume: bool,
}

/// The result of a connect storm.
#[derive(Debug, Clone, Serialize)]
pub struct StormOutcome {
    /// `"connect"`.
    pub scenario: &'static str,
    /// Where it ran.
    #[serde(flatten)]
    pub target: TargetInfo,
    /// Connects in flight at once.
    pub concurrency: usize,
    /// Distinct identities cycled over.
    pub identities: usize,
    /// Whether clients resumed TLS sessions (after a first pass of full handshakes that
    /// collected the session tickets, not measured).
    pub tls_resumption: bool,
    /// The measurements.
    #[serde(flatten)]
    pub pass: ConnectPass,
}

impl Outcome for StormOutcome {
    fn summary(&self) -> String {
        let p = &self.pass;
        let kind = if self.tls_resumption {
            " (resumed TLS sessions)"
        } else {
            ""
        };
        let mut text = format!(
            "connect storm{}{kind}: {:.0} conn/s ({} ok, {} failed in {:.1} s, concurrency {}), latency {}",
            label_suffix(&self.target),
            p.connections_per_sec,
            p.connected,
            p.failed,
            p.elapsed_s,
            self.concurrency,
            p.latency.brief()
        );
        if let Some(ms) = p.broker_cpu_ms_per_connect {
            text += &format!(", broker CPU {ms:.2} ms/connect");
        }
        if let Some(cpu) = p.generator_cpu_percent {
            text += &format!(", generator CPU {cpu:.0} %");
        }
        text + &p.errors.describe()
    }
}

pub(crate) fn label_suffix(target: &TargetInfo) -> String {
    let transport = if target.tls { "mTLS" } else { "TCP" };
    match &target.label {
        Some(label) => format!(" [{label}, {transport}]"),
        None => format!(" [{transport}]"),
    }
}

/// Runs a connect storm over every identity of `ctx`.
pub async fn storm(ctx: &RunContext, plan: &StormPlan) -> StormOutcome {
    if plan.resume {
        // Every identity connects once with a full handshake and keeps its ticket.
        connect_loop(
            ctx,
            ctx.identities.clone(),
            plan.concurrency,
            Limit::EachOnce,
            "collecting session tickets",
        )
        .await;
    }
    let pass = connect_loop(
        ctx,
        ctx.identities.clone(),
        plan.concurrency,
        plan.limit,
        "connect",
    )
    .await;
    StormOutcome {
        scenario: "connect",
        target: ctx.target_info(),
        concurrency: plan.concurrency,
        identities: ctx.identities.len(),
        tls_resumption: plan.resume,
        pass,
    }
}

/// How many connections to hold and how.
#[derive(Debug, Clone, Copy)]
pub struct HoldPlan {
    /// Connections to open and keep.
    pub connections: usize,
    /// Connects in flight at once while opening them.
    pub concurrency: usize,
    /// Wait after the last connect before reading the broker's memory.
    pub settle: Duration,
}

/// The result of holding connections.
#[derive(Debug, Clone, Serialize)]
pub struct HoldOutcome {
    /// `"hold"`.
    pub scenario: &'static str,
    /// Where it ran.
    #[serde(flatten)]
    pub target: TargetInfo,
    /// Connections asked for.
    pub requested: usize,
    /// Connections open when memory was read.
    pub held: usize,
    /// Connects that failed.
    pub failed: u64,
    /// Failures by kind.
    pub errors: ErrorTally,
    /// Time to open them all, seconds.
    pub ramp_s: f64,
    /// Broker VmRSS before the first connect, KiB.
    pub rss_before_kib: Option<u64>,
    /// Broker VmRSS with every connection held, KiB.
    pub rss_after_kib: Option<u64>,
    /// (after − before) / held, KiB.
    pub kib_per_connection: Option<f64>,
}

impl Outcome for HoldOutcome {
    fn summary(&self) -> String {
        let memory = match (
            self.rss_before_kib,
            self.rss_after_kib,
            self.kib_per_connection,
        ) {
            (Some(before), Some(after), Some(per)) => {
                format!("broker RSS {before} → {after} KiB, {per:.1} KiB per connection")
            }
            _ => "broker RSS not read (no --broker-pid)".to_owned(),
        };
        format!(
            "hold{}: {} of {} connections open after {:.1} s; {memory}{}",
            label_suffix(&self.target),
            self.held,
            self.requested,
            self.ramp_s,
            self.errors.describe()
        )
    }
}

/// Opens `plan.connections` connections and keeps them while the broker's memory is read.
/// Identities are cycled; the `k`th connection of an identity beyond the first gets the
/// client id `<id>-<k>`, so no two held connections share a client id.
pub async fn hold(ctx: &RunContext, plan: &HoldPlan) -> HoldOutcome {
    let broker = ctx.broker_pid.map(Observed::Pid);
    let rss_before = broker.and_then(|b| b.rss_kib().ok());
    let counters = Counters::shared();
    let progress = Progress::start("hold", "open", counters.clone(), ctx.quiet);
    let start = Instant::now();
    let (mut sessions, errors) =
        open_many(ctx, plan.connections, plan.concurrency, &counters).await;
    let ramp_s = start.elapsed().as_secs_f64();
    tokio::time::sleep(plan.settle).await;
    progress.stop();
    let rss_after = broker.and_then(|b| b.rss_kib().ok());
    let held = sessions.len();
    for session in &mut sessions {
        session.writer.disconnect().await;
    }
    HoldOutcome {
        scenario: "hold",
        target: ctx.target_info(),
        requested: plan.connections,
        held,
        failed: errors.total(),
        errors,
        ramp_s,
        rss_before_kib: rss_before,
        rss_after_kib: rss_after,
        kib_per_connection: match (rss_before, rss_after) {
            (Some(before), Some(after)) if held > 0 => {
                Some(after.saturating_sub(before) as f64 / held as f64)
            }
            _ => None,
        },
    }
}

/// Opens `connections` connections, `concurrency` at a time, and returns those that reached
/// their CONNACK. Identities are cycled; the `k`th connection of an identity beyond the first
/// gets the client id `<id>-<k>`, so no two connections share a client id.
pub(crate) async fn open_many(
    ctx: &RunContext,
    connections: usize,
    concurrency: usize,
    counters: &Arc<Counters>,
) -> (Vec<Session>, ErrorTally) {
    let next = Arc::new(AtomicU64::new(0));
    let n = ctx.identities.len();
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (target, identities, options, next, counters) = (
                ctx.target.clone(),
                ctx.identities.clone(),
                ctx.options,
                next.clone(),
                counters.clone(),
            );
            let total = connections as u64;
            tokio::spawn(async move {
                let mut sessions = Vec::new();
                let mut errors = ErrorTally::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total || n == 0 {
                        break;
                    }
                    let base = &identities[(i % n as u64) as usize];
                    let round = i / n as u64;
                    let identity = if round == 0 {
                        base.clone()
                    } else {
                        base.with_client_id(format!("{}-{round}", base.client_id))
                    };
                    let attempt = async {
                        let stream = target.connect(&identity).await?;
                        Session::open(stream, &identity.client_id, &options).await
                    };
                    match tokio::time::timeout(ATTEMPT_TIMEOUT, attempt).await {
                        Ok(Ok(session)) => {
                            sessions.push(session);
                            counters.success();
                        }
                        Ok(Err(error)) => {
                            errors.add(&error);
                            counters.failure();
                        }
                        Err(_) => {
                            errors.add(&BenchError::Timeout("the connection to complete"));
                            counters.failure();
                        }
                    }
                }
                (sessions, errors)
            })
        })
        .collect();
    let mut sessions = Vec::with_capacity(connections);
    let mut errors = ErrorTally::default();
    for worker in workers {
        if let Ok((s, e)) = worker.await {
            sessions.extend(s);
            errors.merge(e);
        }
    }
    (sessions, errors)
}
