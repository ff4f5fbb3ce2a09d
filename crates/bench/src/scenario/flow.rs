//! Message flow scenarios: P publishers to S subscribers (`pubsub`) and one publisher to N
//! subscribers on one topic (`fanout`).
//!
//! Publisher `p` publishes on `<prefix>/<p>`; in `pubsub` subscriber `j` subscribes to the topic
//! of publisher `j mod P`, in `fanout` every subscriber subscribes to the one topic. Every
//! payload carries a [`Stamp`], so subscribers measure latency (in the window only) and count
//! lost, duplicated and reordered messages per publisher. Publishers run for the duration, as
//! fast as the broker takes messages or at a target total rate; QoS 1 and 2 publishers keep at
//! most `inflight` messages unacknowledged. Deliveries/s counts unique deliveries that arrived
//! within the window; after it, subscribers drain until every expected message arrived or
//! nothing arrived for a second, and whatever is still missing counts as lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use roost_codec::{
    Packet, PacketId, PubAck, PubComp, PubRec, PubRel, Publish, PublishProperties, PublishQos, QoS,
    TopicName,
};
use serde::Serialize;
use tokio::io::WriteHalf;
use tokio::sync::{Semaphore, mpsc, watch};

use crate::client::{PacketWriter, Session};
use crate::error::BenchError;
use crate::histogram::{LatencyHistogram, LatencySummary};
use crate::payload::{Clock, Stamp, filler};
use crate::process::{CpuMeter, Observed};
use crate::progress::{Counters, Progress};
use crate::scenario::connect::{label_suffix, rate};
use crate::scenario::{ErrorTally, Outcome, RunContext, TargetInfo, open_sessions};
use crate::sequence::{Arrival, SequenceTracker};
use crate::transport::Stream;

/// Messages a publisher encodes before each write.
const BATCH: usize = 32;
/// The drain ends when nothing new arrived for this long…
const DRAIN_IDLE: Duration = Duration::from_secs(1);
/// …or after this long in any case.
const DRAIN_MAX: Duration = Duration::from_secs(5);

/// Which flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowKind {
    /// Publisher `p` → subscribers `j` with `j mod P = p`.
    PubSub,
    /// Every publisher and subscriber on one topic.
    FanOut,
}

/// How a flow runs.
#[derive(Debug, Clone)]
pub struct FlowPlan {
    /// The topology.
    pub kind: FlowKind,
    /// Publishing clients (at most 65,535).
    pub publishers: usize,
    /// Subscribing clients.
    pub subscribers: usize,
    /// QoS of publications and subscriptions.
    pub qos: QoS,
    /// Payload size in bytes (20 to 131,072).
    pub payload: usize,
    /// How long publishers publish.
    pub duration: Duration,
    /// Target total publish rate, messages/s over all publishers; `None` for as fast as possible.
    pub rate: Option<f64>,
    /// Unacknowledged QoS 1/2 messages per publisher.
    pub inflight: usize,
    /// Topic prefix; publisher `p` publishes on `<prefix>/<p>`.
    pub topic_prefix: String,
    /// Where subscribers connect when not where publishers do: another node of a cluster,
    /// so every message crosses between nodes.
    pub subscriber_target: Option<Arc<crate::transport::Target>>,
}

impl FlowPlan {
    fn topic_of(&self, publisher: usize) -> String {
        match self.kind {
            FlowKind::PubSub => format!("{}/{publisher}", self.topic_prefix),
            FlowKind::FanOut => format!("{}/0", self.topic_prefix),
        }
    }

    /// The publishers subscriber `j` hears.
    fn heard_by(&self, subscriber: usize) -> Vec<usize> {
        match self.kind {
            FlowKind::PubSub => vec![subscriber % self.publishers],
            FlowKind::FanOut => (0..self.publishers).collect(),
        }
    }
}

/// The result of a flow.
#[derive(Debug, Clone, Serialize)]
pub struct FlowOutcome {
    /// `"pubsub"` or `"fanout"`.
    pub scenario: &'static str,
    /// Where it ran.
    #[serde(flatten)]
    pub target: TargetInfo,
    /// Publishing clients.
    pub publishers: usize,
    /// Subscribing clients.
    pub subscribers: usize,
    /// QoS.
    pub qos: u8,
    /// Payload bytes.
    pub payload_bytes: usize,
    /// Publishing window, seconds.
    pub duration_s: f64,
    /// Target total publish rate, if any.
    pub target_rate: Option<f64>,
    /// Messages published.
    pub published: u64,
    /// Messages published per second of the window.
    pub published_per_sec: f64,
    /// Deliveries the subscriptions call for.
    pub expected: u64,
    /// Unique deliveries received, drain included.
    pub delivered: u64,
    /// Unique deliveries received within the window.
    pub delivered_in_window: u64,
    /// Unique deliveries per second of the window: the throughput figure.
    pub delivered_per_sec: f64,
    /// Expected deliveries never received.
    pub lost: u64,
    /// Deliveries received more than once.
    pub duplicates: u64,
    /// Deliveries that arrived after a later one of the same publisher.
    pub reordered: u64,
    /// Payloads without a bench stamp.
    pub foreign: u64,
    /// Publish to delivery, deliveries within the window.
    pub latency: LatencySummary,
    /// Broker CPU during the window, percent of one core (with a broker pid).
    pub broker_cpu_percent: Option<f64>,
    /// Generator CPU during the window, percent of one core.
    pub generator_cpu_percent: Option<f64>,
    /// Clients that failed during the run.
    pub client_errors: ErrorTally,
}

impl Outcome for FlowOutcome {
    fn summary(&self) -> String {
        let rate = self
            .target_rate
            .map_or(String::new(), |r| format!(" at {r:.0} msg/s"));
        let mut text = format!(
            "{}{}: {}→{} QoS{} {} B{rate}: {:.0} deliveries/s ({} in {:.1} s), published {:.0}/s, lost {}, duplicated {}, reordered {}, latency {}",
            self.scenario,
            label_suffix(&self.target),
            self.publishers,
            self.subscribers,
            self.qos,
            self.payload_bytes,
            self.delivered_per_sec,
            self.delivered_in_window,
            self.duration_s,
            self.published_per_sec,
            self.lost,
            self.duplicates,
            self.reordered,
            self.latency.brief()
        );
        if let Some(cpu) = self.broker_cpu_percent {
            text += &format!(", broker CPU {cpu:.0} %");
        }
        if let Some(cpu) = self.generator_cpu_percent {
            text += &format!(", generator CPU {cpu:.0} %");
        }
        text + &self.client_errors.describe()
    }
}

/// What publishers and subscribers share.
#[derive(Debug)]
struct Shared {
    clock: Clock,
    window_end_nanos: AtomicU64,
    delivered: AtomicU64,
    counters: Arc<Counters>,
}

/// Runs the flow `plan` against `ctx`. Fails only if a client cannot be set up; clients that
/// fail during the run are counted in the outcome.
pub async fn run(ctx: &RunContext, plan: &FlowPlan) -> Result<FlowOutcome, BenchError> {
    let publishers = plan.publishers.clamp(1, usize::from(u16::MAX));
    let plan = FlowPlan {
        publishers,
        ..plan.clone()
    };
    let payload = filler(plan.payload)?;
    let identities = ctx.distinct_identities(plan.subscribers + publishers)?;
    let (sub_ids, pub_ids) = identities.split_at(plan.subscribers);
    let shared = Arc::new(Shared {
        clock: Clock::start(),
        window_end_nanos: AtomicU64::new(u64::MAX),
        delivered: AtomicU64::new(0),
        counters: Counters::shared(),
    });
    let (stop_tx, stop_rx) = watch::channel(false);

    let filters: Vec<Vec<String>> = (0..plan.subscribers)
        .map(|j| match plan.kind {
            FlowKind::PubSub => vec![plan.topic_of(j % publishers)],
            FlowKind::FanOut => vec![plan.topic_of(0)],
        })
        .collect();
    let subscriber_ctx = match &plan.subscriber_target {
        Some(target) => RunContext {
            target: target.clone(),
            ..ctx.clone()
        },
        None => ctx.clone(),
    };
    let subscriber_sessions = open_sessions(&subscriber_ctx, sub_ids, &filters, plan.qos).await?;
    let subscribers: Vec<_> = subscriber_sessions
        .into_iter()
        .map(|session| {
            let (shared, stop) = (shared.clone(), stop_rx.clone());
            tokio::spawn(subscribe_loop(session, shared, publishers, stop))
        })
        .collect();
    let publisher_sessions = open_sessions(ctx, pub_ids, &[], plan.qos).await?;

    let progress = Progress::start(
        match plan.kind {
            FlowKind::PubSub => "pubsub",
            FlowKind::FanOut => "fanout",
        },
        "delivered",
        shared.counters.clone(),
        ctx.quiet,
    );
    let broker_cpu = ctx
        .broker_pid
        .and_then(|pid| CpuMeter::start(Observed::Pid(pid)));
    let own_cpu = CpuMeter::start(Observed::Own);
    let start = Instant::now();
    let end = start + plan.duration;
    shared
        .window_end_nanos
        .store(shared.clock.nanos_at(end), Ordering::Relaxed);
    let interval = plan
        .rate
        .filter(|r| *r > 0.0)
        .map(|r| Duration::from_secs_f64(publishers as f64 / r));
    let topics = (0..publishers)
        .map(|p| TopicName::new(&plan.topic_of(p)))
        .collect::<Result<Vec<_>, _>>()?;
    let sent: Vec<Arc<AtomicU64>> = (0..publishers).map(|_| Arc::default()).collect();
    let finished: Vec<Arc<AtomicBool>> = (0..publishers).map(|_| Arc::default()).collect();
    let publisher_tasks: Vec<_> = publisher_sessions
        .into_iter()
        .zip(topics)
        .enumerate()
        .map(|(p, (session, topic))| {
            let job = PublishJob {
                index: p as u16,
                topic,
                payload: payload.clone(),
                qos: plan.qos,
                inflight: plan.inflight.max(1),
                start,
                end,
                interval,
                clock: shared.clock,
                sent: sent[p].clone(),
                finished: finished[p].clone(),
            };
            tokio::spawn(publish_loop(session, job, stop_rx.clone()))
        })
        .collect();

    tokio::time::sleep_until(end.into()).await;
    let broker_cpu = broker_cpu.and_then(|m| m.read());
    let own_cpu = own_cpu.and_then(|m| m.read());
    let grace = Instant::now() + Duration::from_secs(5);
    while finished.iter().any(|f| !f.load(Ordering::Acquire)) && Instant::now() < grace {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let sent: Vec<u64> = sent.iter().map(|s| s.load(Ordering::Acquire)).collect();
    let mut listeners = vec![0u64; publishers];
    for j in 0..plan.subscribers {
        for p in plan.heard_by(j) {
            listeners[p] += 1;
        }
    }
    let expected: u64 = sent.iter().zip(&listeners).map(|(s, l)| s * l).sum();
    drain(&shared, expected).await;
    progress.stop();
    let _ = stop_tx.send(true);

    let mut client_errors = ErrorTally::default();
    let mut histogram = LatencyHistogram::new();
    let (mut delivered, mut in_window, mut lost, mut duplicates, mut reordered, mut foreign) =
        (0, 0, 0, 0, 0, 0);
    for (j, task) in subscribers.into_iter().enumerate() {
        let Ok(stats) = task.await else {
            continue;
        };
        if let Some(error) = &stats.error {
            client_errors.add(error);
        }
        histogram.merge(&stats.histogram);
        in_window += stats.in_window;
        duplicates += stats.duplicates;
        foreign += stats.foreign;
        for p in plan.heard_by(j) {
            let tracker = &stats.trackers[p];
            delivered += tracker.received();
            reordered += tracker.reordered();
            lost += tracker.lost(sent[p]);
        }
    }
    for task in publisher_tasks {
        if let Ok(Err(error)) = task.await {
            client_errors.add(&error);
        }
    }
    let published: u64 = sent.iter().sum();
    let window = plan.duration.as_secs_f64();
    Ok(FlowOutcome {
        scenario: match plan.kind {
            FlowKind::PubSub => "pubsub",
            FlowKind::FanOut => "fanout",
        },
        target: ctx.target_info(),
        publishers,
        subscribers: plan.subscribers,
        qos: u8::from(plan.qos),
        payload_bytes: plan.payload,
        duration_s: window,
        target_rate: plan.rate,
        published,
        published_per_sec: rate(published, window),
        expected,
        delivered,
        delivered_in_window: in_window,
        delivered_per_sec: rate(in_window, window),
        lost,
        duplicates,
        reordered,
        foreign,
        latency: histogram.summary(),
        broker_cpu_percent: broker_cpu.map(|c| c.percent),
        generator_cpu_percent: own_cpu.map(|c| c.percent),
        client_errors,
    })
}

/// Waits until `expected` unique deliveries arrived, nothing arrived for [`DRAIN_IDLE`], or
/// [`DRAIN_MAX`] passed.
async fn drain(shared: &Shared, expected: u64) {
    let start = Instant::now();
    let mut last = shared.delivered.load(Ordering::Relaxed);
    let mut last_change = start;
    loop {
        let now_delivered = shared.delivered.load(Ordering::Relaxed);
        if now_delivered >= expected || start.elapsed() >= DRAIN_MAX {
            return;
        }
        if now_delivered != last {
            last = now_delivered;
            last_change = Instant::now();
        } else if last_change.elapsed() >= DRAIN_IDLE {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What a subscriber measured.
#[derive(Debug)]
struct SubscriberStats {
    trackers: Vec<SequenceTracker>,
    histogram: LatencyHistogram,
    in_window: u64,
    duplicates: u64,
    foreign: u64,
    error: Option<BenchError>,
}

async fn subscribe_loop(
    mut session: Session,
    shared: Arc<Shared>,
    publishers: usize,
    mut stop: watch::Receiver<bool>,
) -> SubscriberStats {
    let mut stats = SubscriberStats {
        trackers: vec![SequenceTracker::new(); publishers],
        histogram: LatencyHistogram::new(),
        in_window: 0,
        duplicates: 0,
        foreign: 0,
        error: None,
    };
    loop {
        let now = shared.clock.now_nanos();
        let window_end = shared.window_end_nanos.load(Ordering::Relaxed);
        let mut fresh = 0;
        loop {
            let packet = match session.reader.try_next() {
                Ok(Some(packet)) => packet,
                Ok(None) => break,
                Err(error) => {
                    stats.error = Some(error);
                    return stats;
                }
            };
            let reply = match packet {
                Packet::Publish(publish) => {
                    if stats.record(&publish.payload, now, window_end) {
                        fresh += 1;
                    }
                    match publish.qos {
                        PublishQos::AtMostOnce => None,
                        PublishQos::AtLeastOnce(id) => Some(Packet::PubAck(PubAck::new(id))),
                        PublishQos::ExactlyOnce(id) => Some(Packet::PubRec(PubRec::new(id))),
                    }
                }
                Packet::PubRel(release) => Some(Packet::PubComp(PubComp::new(release.packet_id))),
                _ => None,
            };
            if let Some(reply) = reply
                && let Err(error) = session.writer.queue(&reply)
            {
                stats.error = Some(error);
                return stats;
            }
        }
        if fresh > 0 {
            shared.delivered.fetch_add(fresh, Ordering::Relaxed);
            shared.counters.successes(fresh);
        }
        if let Err(error) = session.writer.flush().await {
            stats.error = Some(error);
            return stats;
        }
        tokio::select! {
            read = session.reader.fill() => {
                if let Err(error) = read {
                    stats.error = Some(error);
                    return stats;
                }
            }
            _ = stop.changed() => break,
        }
    }
    session.writer.disconnect().await;
    stats
}

impl SubscriberStats {
    /// Accounts one received payload at `now` (run nanoseconds); true if it was a first arrival.
    fn record(&mut self, payload: &Bytes, now: u64, window_end: u64) -> bool {
        let Ok(stamp) = Stamp::read(payload) else {
            self.foreign += 1;
            return false;
        };
        let Some(tracker) = self.trackers.get_mut(usize::from(stamp.publisher)) else {
            self.foreign += 1;
            return false;
        };
        match tracker.observe(stamp.sequence) {
            Arrival::Duplicate => {
                self.duplicates += 1;
                false
            }
            Arrival::New | Arrival::Late => {
                if now <= window_end {
                    self.in_window += 1;
                    self.histogram
                        .record_nanos(now.saturating_sub(stamp.sent_at_nanos));
                }
                true
            }
        }
    }
}

/// One publisher's assignment.
#[derive(Debug)]
struct PublishJob {
    index: u16,
    topic: TopicName,
    payload: Bytes,
    qos: QoS,
    inflight: usize,
    start: Instant,
    end: Instant,
    interval: Option<Duration>,
    clock: Clock,
    sent: Arc<AtomicU64>,
    finished: Arc<AtomicBool>,
}

async fn publish_loop(
    session: Session,
    job: PublishJob,
    mut stop: watch::Receiver<bool>,
) -> Result<(), BenchError> {
    let Session {
        mut reader,
        mut writer,
    } = session;
    let window = Arc::new(Semaphore::new(job.inflight));
    let (release_tx, mut release_rx) = mpsc::unbounded_channel::<PacketId>();
    let acks = {
        let window = window.clone();
        tokio::spawn(async move {
            loop {
                match reader.next().await {
                    Ok(Packet::PubAck(_) | Packet::PubComp(_)) => window.add_permits(1),
                    Ok(Packet::PubRec(rec)) => {
                        let _ = release_tx.send(rec.packet_id);
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        })
    };
    let result = publish(&mut writer, &job, &window, &mut release_rx).await;
    job.finished.store(true, Ordering::Release);
    if result.is_ok() {
        // Keep answering PUBREC with PUBREL until the run ends, so that QoS 2 completes.
        loop {
            if writer.flush().await.is_err() {
                break;
            }
            tokio::select! {
                Some(id) = release_rx.recv() => {
                    writer.queue(&Packet::PubRel(PubRel::new(id)))?;
                }
                _ = stop.changed() => break,
            }
        }
    }
    writer.disconnect().await;
    acks.abort();
    result
}

/// Publishes until the job's end; the sent count is published in `job.sent` as it goes.
async fn publish(
    writer: &mut PacketWriter<WriteHalf<Stream>>,
    job: &PublishJob,
    window: &Semaphore,
    releases: &mut mpsc::UnboundedReceiver<PacketId>,
) -> Result<(), BenchError> {
    let mut publish = Publish {
        dup: false,
        qos: PublishQos::AtMostOnce,
        retain: false,
        topic: job.topic.clone(),
        properties: PublishProperties::default(),
        payload: job.payload.clone(),
    };
    let end = tokio::time::Instant::from_std(job.end);
    let mut sequence = 0u64;
    let mut packet_id = 0u16;
    loop {
        while let Ok(id) = releases.try_recv() {
            writer.queue(&Packet::PubRel(PubRel::new(id)))?;
        }
        let now = Instant::now();
        if now >= job.end {
            break;
        }
        let mut allowed = BATCH;
        if let Some(interval) = job.interval {
            let due_by_now = ((now - job.start).as_secs_f64() / interval.as_secs_f64()) as u64 + 1;
            if due_by_now <= sequence {
                writer.flush().await?;
                let next_due = job.start + interval.mul_f64(sequence as f64);
                tokio::select! {
                    _ = tokio::time::sleep_until(tokio::time::Instant::from_std(next_due).min(end)) => {}
                    Some(id) = releases.recv() => writer.queue(&Packet::PubRel(PubRel::new(id)))?,
                }
                continue;
            }
            allowed = allowed.min((due_by_now - sequence) as usize);
        }
        if job.qos != QoS::AtMostOnce {
            if window.available_permits() == 0 {
                writer.flush().await?;
                tokio::select! {
                    permit = window.acquire() => drop(permit),
                    Some(id) = releases.recv() => writer.queue(&Packet::PubRel(PubRel::new(id)))?,
                    _ = tokio::time::sleep_until(end) => {}
                }
                continue;
            }
            allowed = allowed.min(window.available_permits());
            if let Ok(permits) = window.try_acquire_many(allowed as u32) {
                permits.forget();
            } else {
                continue;
            }
        }
        for _ in 0..allowed {
            if job.qos != QoS::AtMostOnce {
                packet_id = packet_id % u16::MAX + 1;
                if let Some(id) = PacketId::new(packet_id) {
                    publish.qos = PublishQos::new(job.qos, id);
                }
            }
            let stamp = Stamp {
                publisher: job.index,
                sequence,
                sent_at_nanos: job.clock.now_nanos(),
            };
            writer.queue_stamped(&publish, &stamp)?;
            sequence += 1;
        }
        job.sent.store(sequence, Ordering::Release);
        writer.flush().await?;
    }
    writer.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(kind: FlowKind, publishers: usize) -> FlowPlan {
        FlowPlan {
            kind,
            publishers,
            subscribers: 4,
            qos: QoS::AtMostOnce,
            payload: 64,
            duration: Duration::from_secs(1),
            rate: None,
            inflight: 10,
            topic_prefix: "rb/x".into(),
            subscriber_target: None,
        }
    }

    #[test]
    fn pubsub_pairs_each_subscriber_with_one_publisher_round_robin() {
        let p = plan(FlowKind::PubSub, 2);
        assert_eq!(p.topic_of(1), "rb/x/1");
        assert_eq!(p.heard_by(0), [0]);
        assert_eq!(p.heard_by(3), [1]);
    }

    #[test]
    fn fanout_puts_everyone_on_one_topic() {
        let p = plan(FlowKind::FanOut, 2);
        assert_eq!(p.topic_of(1), "rb/x/0");
        assert_eq!(p.heard_by(3), [0, 1]);
    }

    #[test]
    fn a_subscriber_counts_latency_only_within_the_window_and_not_for_duplicates() {
        let mut stats = SubscriberStats {
            trackers: vec![SequenceTracker::new(); 1],
            histogram: LatencyHistogram::new(),
            in_window: 0,
            duplicates: 0,
            foreign: 0,
            error: None,
        };
        let payload = |sequence| {
            let mut buf = bytes::BytesMut::new();
            Stamp {
                publisher: 0,
                sequence,
                sent_at_nanos: 1_000,
            }
            .write(&mut buf);
            buf.freeze()
        };
        assert!(stats.record(&payload(0), 5_000, 10_000));
        assert!(!stats.record(&payload(0), 6_000, 10_000));
        assert!(stats.record(&payload(1), 20_000, 10_000));
        assert!(!stats.record(&Bytes::from_static(b"hello"), 6_000, 10_000));
        assert_eq!(stats.in_window, 1);
        assert_eq!(stats.duplicates, 1);
        assert_eq!(stats.foreign, 1);
        assert_eq!(stats.histogram.quantile_nanos(0.5), Some(4_000));
        assert_eq!(stats.trackers[0].received(), 2);
    }
}
