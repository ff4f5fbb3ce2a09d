//! The Device Shadow scenario: N devices, each on its own connection with its own certificate,
//! update the `reported` section of their classic shadow over MQTT, as AWS IoT devices do.
//!
//! Device `i` (its thing name is its client id, as the usual JITP template names things)
//! subscribes at QoS 1 to `$aws/things/<thing>/shadow/update/accepted` and `…/rejected`, then
//! publishes `{"state":{"reported":{"seq":N}},"clientToken":"rb-N"}` on `…/shadow/update` at
//! QoS 1 and matches every answer to its update by the echoed `clientToken`, the only way the
//! AWS SDKs match them. Closed loop (no rate): each device keeps `window` updates outstanding,
//! so the figure is updates/s as fast as the broker answers. Open loop (a rate): the total rate
//! spread evenly over the devices, sent on schedule whatever the answers, for update→accepted
//! latency.
//!
//! An update answered on `/rejected`, not answered within the timeout, or left unanswered when
//! its connection failed is a failure. After the window devices send nothing more and wait for
//! their outstanding answers (at most the timeout). Nobody else writes a device's shadow, so the
//! versions its accepted updates carry must rise by one: a gap or a repeat is counted.
//!
//! Not here: `desired` and `/delta`, get and delete, named shadows.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use roost_codec::{Packet, PacketId, PubAck, Publish, PublishProperties, PublishQos, TopicName};
use serde::{Deserialize, Serialize};
use tokio::io::{ReadHalf, WriteHalf};

use crate::client::{PacketReader, PacketWriter, Session};
use crate::error::BenchError;
use crate::histogram::{LatencyHistogram, LatencySummary};
use crate::payload::Clock;
use crate::process::{CpuMeter, Observed};
use crate::progress::{Counters, Progress};
use crate::scenario::connect::{label_suffix, rate};
use crate::scenario::{ErrorTally, Outcome, RunContext, TargetInfo, open_sessions};
use crate::transport::Stream;

/// Prefix of the bench's client tokens; the update's sequence number follows.
const TOKEN_PREFIX: &str = "rb-";

/// How a shadow run goes.
#[derive(Debug, Clone, Copy)]
pub struct ShadowPlan {
    /// Devices updating their shadows, each on its own connection.
    pub devices: usize,
    /// How long devices send updates.
    pub duration: Duration,
    /// Total updates/s over all devices (open loop); `None` for closed loop.
    pub rate: Option<f64>,
    /// Updates each device keeps outstanding in closed loop (at least 1).
    pub window: usize,
    /// How long an update may wait for its answer before it counts as timed out.
    pub timeout: Duration,
}

/// The result of a shadow run.
#[derive(Debug, Clone, Serialize)]
pub struct ShadowOutcome {
    /// `"shadow"`.
    pub scenario: &'static str,
    /// Where it ran.
    #[serde(flatten)]
    pub target: TargetInfo,
    /// Devices, each updating its own classic shadow.
    pub devices: usize,
    /// Updates each device kept outstanding (closed loop); `None` in open loop.
    pub window: Option<usize>,
    /// Target total update rate (open loop).
    pub target_rate: Option<f64>,
    /// Sending window, seconds.
    pub duration_s: f64,
    /// How long an update could wait for its answer, seconds.
    pub timeout_s: f64,
    /// Updates published (all within the window).
    pub sent: u64,
    /// Updates published per second of the window.
    pub sent_per_sec: f64,
    /// Updates answered on `/update/accepted` in time, drain included.
    pub accepted: u64,
    /// Of those, answered within the window.
    pub accepted_in_window: u64,
    /// Accepted updates per second of the window: the throughput figure.
    pub updates_per_sec: f64,
    /// Updates answered on `/update/rejected`.
    pub rejected: u64,
    /// Updates not answered within the timeout.
    pub timed_out: u64,
    /// Updates outstanding when their device's connection failed.
    pub unanswered: u64,
    /// Updates sent but not accepted in time: rejected, timed out or unanswered.
    pub failed: u64,
    /// Answers whose clientToken matched no outstanding update (late or foreign).
    pub unmatched: u64,
    /// Accepted versions that did not follow the device's previous one by exactly 1.
    pub version_gaps: u64,
    /// Update published → its `/update/accepted` received, accepted updates only.
    pub latency: LatencySummary,
    /// Broker CPU during the window, percent of one core (with a broker pid).
    pub broker_cpu_percent: Option<f64>,
    /// Broker CPU per update accepted within the window, µs (with a broker pid).
    pub broker_cpu_us_per_update: Option<f64>,
    /// Generator CPU during the window, percent of one core.
    pub generator_cpu_percent: Option<f64>,
    /// Rejections and timeouts by kind, with the first message of each.
    pub failures: ErrorTally,
    /// Devices whose connection failed during the run.
    pub client_errors: ErrorTally,
}

impl Outcome for ShadowOutcome {
    fn summary(&self) -> String {
        let mode = match (self.target_rate, self.window) {
            (Some(r), _) => format!("at {r:.0} updates/s"),
            (None, Some(w)) => format!("closed loop, window {w}"),
            (None, None) => "closed loop".to_owned(),
        };
        let mut text = format!(
            "shadow{}: {} devices, {mode}: {:.0} updates/s accepted ({} in {:.1} s), sent {:.0}/s, failed {} (rejected {}, timed out {}, unanswered {}), unmatched {}, version gaps {}, update→accepted {}",
            label_suffix(&self.target),
            self.devices,
            self.updates_per_sec,
            self.accepted_in_window,
            self.duration_s,
            self.sent_per_sec,
            self.failed,
            self.rejected,
            self.timed_out,
            self.unanswered,
            self.unmatched,
            self.version_gaps,
            self.latency.brief()
        );
        if let Some(cpu) = self.broker_cpu_percent {
            text += &format!(", broker CPU {cpu:.0} %");
        }
        if let Some(us) = self.broker_cpu_us_per_update {
            text += &format!(" ({us:.0} µs/update)");
        }
        if let Some(cpu) = self.generator_cpu_percent {
            text += &format!(", generator CPU {cpu:.0} %");
        }
        text + &self.failures.describe() + &self.client_errors.describe()
    }
}

/// The classic shadow topics of one thing that the scenario uses.
#[derive(Debug, Clone)]
struct ShadowTopics {
    update: TopicName,
    accepted: String,
    rejected: String,
}

impl ShadowTopics {
    fn of(thing: &str) -> Result<ShadowTopics, BenchError> {
        let prefix = format!("$aws/things/{thing}/shadow/update");
        Ok(ShadowTopics {
            update: TopicName::new(&prefix)?,
            accepted: format!("{prefix}/accepted"),
            rejected: format!("{prefix}/rejected"),
        })
    }

    /// The answer `publish` carries, if it is on this thing's accepted or rejected topic.
    fn answer(&self, publish: &Publish) -> Option<Answer> {
        let topic = publish.topic.as_str();
        if topic == self.accepted {
            Some(Answer::accepted(&publish.payload))
        } else if topic == self.rejected {
            Some(Answer::rejected(&publish.payload))
        } else {
            None
        }
    }
}

/// The token of update `sequence`.
fn client_token(sequence: u64) -> String {
    format!("{TOKEN_PREFIX}{sequence}")
}

/// The sequence a token of ours names; `None` for anyone else's.
fn token_sequence(token: &str) -> Option<u64> {
    token.strip_prefix(TOKEN_PREFIX)?.parse().ok()
}

/// An update request: `{"state":{"reported":{"seq":N}},"clientToken":"rb-N"}`.
#[derive(Serialize)]
struct UpdateRequest {
    state: ReportedState,
    #[serde(rename = "clientToken")]
    client_token: String,
}

#[derive(Serialize)]
struct ReportedState {
    reported: Reported,
}

#[derive(Serialize)]
struct Reported {
    seq: u64,
}

/// The payload of update `sequence`.
fn update_payload(sequence: u64) -> Bytes {
    let request = UpdateRequest {
        state: ReportedState {
            reported: Reported { seq: sequence },
        },
        client_token: client_token(sequence),
    };
    // A struct of a number and a string always serializes.
    Bytes::from(serde_json::to_vec(&request).unwrap_or_default())
}

/// The fields the bench reads from `/update/accepted` (`{state, metadata, version, timestamp,
/// clientToken}`) and `/update/rejected` (`{code, message, timestamp, clientToken}`).
#[derive(Debug, Default, Deserialize)]
struct AnswerFields {
    #[serde(rename = "clientToken")]
    client_token: Option<String>,
    version: Option<u64>,
    code: Option<u16>,
    message: Option<String>,
}

/// What the shadow service answered to one update.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    /// `/update/accepted`.
    Accepted {
        /// The sequence its token names, if it is one of ours.
        sequence: Option<u64>,
        /// The version the update produced.
        version: Option<u64>,
    },
    /// `/update/rejected`.
    Rejected {
        /// The sequence its token names, if it is one of ours.
        sequence: Option<u64>,
        /// The error's code (0 if unreadable).
        code: u16,
        /// The error's message.
        message: String,
    },
}

impl Answer {
    fn fields(payload: &[u8]) -> AnswerFields {
        serde_json::from_slice(payload).unwrap_or_default()
    }

    fn accepted(payload: &[u8]) -> Answer {
        let fields = Answer::fields(payload);
        Answer::Accepted {
            sequence: fields.client_token.as_deref().and_then(token_sequence),
            version: fields.version,
        }
    }

    fn rejected(payload: &[u8]) -> Answer {
        let fields = Answer::fields(payload);
        Answer::Rejected {
            sequence: fields.client_token.as_deref().and_then(token_sequence),
            code: fields.code.unwrap_or(0),
            message: fields
                .message
                .unwrap_or_else(|| String::from_utf8_lossy(payload).into_owned()),
        }
    }
}

/// What devices counted; tallies of several devices merge by addition.
#[derive(Debug, Default)]
struct Tally {
    sent: u64,
    accepted: u64,
    accepted_in_window: u64,
    rejected: u64,
    timed_out: u64,
    unanswered: u64,
    unmatched: u64,
    version_gaps: u64,
    latency: LatencyHistogram,
    failures: ErrorTally,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.sent += other.sent;
        self.accepted += other.accepted;
        self.accepted_in_window += other.accepted_in_window;
        self.rejected += other.rejected;
        self.timed_out += other.timed_out;
        self.unanswered += other.unanswered;
        self.unmatched += other.unmatched;
        self.version_gaps += other.version_gaps;
        self.latency.merge(&other.latency);
        self.failures.merge(other.failures);
    }
}

/// One device's updates in flight and what became of them. No I/O: times are run nanoseconds
/// ([`Clock`]) passed in.
#[derive(Debug, Default)]
struct UpdateTracker {
    next_sequence: u64,
    /// Sent, unanswered updates: sequence → send time. Sequences rise with send time, so the
    /// first entry is the oldest.
    outstanding: BTreeMap<u64, u64>,
    last_version: Option<u64>,
    tally: Tally,
}

impl UpdateTracker {
    /// Records an update sent at `now`; returns its sequence.
    fn send(&mut self, now: u64) -> u64 {
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        self.outstanding.insert(sequence, now);
        self.tally.sent += 1;
        sequence
    }

    /// Updates sent and not yet answered.
    fn outstanding(&self) -> usize {
        self.outstanding.len()
    }

    /// Accounts `answer`, received at `now`; true if it accepted an outstanding update.
    fn handle_answer(&mut self, answer: Answer, now: u64, window_end: u64) -> bool {
        match answer {
            Answer::Accepted { sequence, version } => {
                if let Some(version) = version {
                    if self.last_version.is_some_and(|last| version != last + 1) {
                        self.tally.version_gaps += 1;
                    }
                    self.last_version = Some(version);
                }
                let Some(sent_at) = sequence.and_then(|s| self.outstanding.remove(&s)) else {
                    self.tally.unmatched += 1;
                    return false;
                };
                self.tally.accepted += 1;
                if now <= window_end {
                    self.tally.accepted_in_window += 1;
                }
                self.tally.latency.record_nanos(now.saturating_sub(sent_at));
                true
            }
            Answer::Rejected {
                sequence,
                code,
                message,
            } => {
                if sequence.and_then(|s| self.outstanding.remove(&s)).is_none() {
                    self.tally.unmatched += 1;
                    return false;
                }
                self.tally.rejected += 1;
                self.tally
                    .failures
                    .add(&BenchError::ShadowRejected { code, message });
                false
            }
        }
    }

    /// When the oldest outstanding update times out, if there is one.
    fn next_expiry(&self, timeout: u64) -> Option<u64> {
        let (_, &sent_at) = self.outstanding.first_key_value()?;
        Some(sent_at.saturating_add(timeout))
    }

    /// Counts every update sent `timeout` or longer before `now` as timed out; returns how many.
    fn expire(&mut self, now: u64, timeout: u64) -> u64 {
        let mut expired = 0;
        while let Some(entry) = self.outstanding.first_entry() {
            if now.saturating_sub(*entry.get()) < timeout {
                break;
            }
            entry.remove();
            expired += 1;
            self.tally
                .failures
                .add(&BenchError::Timeout("/update/accepted"));
        }
        self.tally.timed_out += expired;
        expired
    }

    /// The connection failed: every outstanding update stays unanswered.
    fn abandon(&mut self) {
        self.tally.unanswered += self.outstanding.len() as u64;
        self.outstanding.clear();
    }
}

/// When a device sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Schedule {
    /// Keep this many updates outstanding.
    Closed { window: usize },
    /// One update every `interval` ns from `first_due` (run nanoseconds) on.
    Open { first_due: u64, interval: u64 },
}

/// Device `index` of `devices` sharing `total_rate` updates/s from `start` (run nanoseconds):
/// each sends every `devices / total_rate` seconds, their first updates spread evenly over one
/// such interval so that the load is even from the start.
fn open_schedule(index: usize, devices: usize, total_rate: f64, start: u64) -> Schedule {
    let interval = (1e9 * devices as f64 / total_rate).max(1.0);
    let offset = interval * index as f64 / devices.max(1) as f64;
    Schedule::Open {
        first_due: start + offset as u64,
        interval: interval as u64,
    }
}

/// One device's assignment.
#[derive(Debug)]
struct DeviceJob {
    topics: ShadowTopics,
    schedule: Schedule,
    clock: Clock,
    /// End of the sending window, run nanoseconds.
    window_end: u64,
    /// Timeout of an update, ns.
    timeout: u64,
    counters: Arc<Counters>,
}

/// What a device returns: its tally and the error that ended its connection, if one did.
#[derive(Debug)]
struct DeviceReport {
    tally: Tally,
    error: Option<BenchError>,
}

async fn device_loop(session: Session, job: DeviceJob) -> DeviceReport {
    let Session {
        mut reader,
        mut writer,
    } = session;
    let mut tracker = UpdateTracker::default();
    let result = drive(&mut reader, &mut writer, &job, &mut tracker).await;
    if result.is_err() {
        tracker.abandon();
    } else {
        writer.disconnect().await;
    }
    DeviceReport {
        tally: tracker.tally,
        error: result.err(),
    }
}

/// Sends updates until the window ends and every one is answered or timed out.
async fn drive(
    reader: &mut PacketReader<ReadHalf<Stream>>,
    writer: &mut PacketWriter<WriteHalf<Stream>>,
    job: &DeviceJob,
    tracker: &mut UpdateTracker,
) -> Result<(), BenchError> {
    let mut next_due = match job.schedule {
        Schedule::Open { first_due, .. } => first_due,
        Schedule::Closed { .. } => 0,
    };
    let mut publish = Publish {
        dup: false,
        qos: PublishQos::AtMostOnce,
        retain: false,
        topic: job.topics.update.clone(),
        properties: PublishProperties::default(),
        payload: Bytes::new(),
    };
    let mut packet_id = 0u16;
    loop {
        let now = job.clock.now_nanos();
        let failed_before = tracker.tally.rejected + tracker.tally.timed_out;
        while let Some(packet) = reader.try_next()? {
            // PUBACKs of our updates need nothing: the answer is what counts.
            let Packet::Publish(message) = packet else {
                continue;
            };
            if let PublishQos::AtLeastOnce(id) = message.qos {
                writer.queue(&Packet::PubAck(PubAck::new(id)))?;
            }
            if let Some(answer) = job.topics.answer(&message)
                && tracker.handle_answer(answer, now, job.window_end)
            {
                job.counters.success();
            }
        }
        tracker.expire(now, job.timeout);
        let failed = tracker.tally.rejected + tracker.tally.timed_out - failed_before;
        if failed > 0 {
            job.counters.failed.fetch_add(failed, Ordering::Relaxed);
        }
        let sending = now < job.window_end;
        if sending {
            let due = match job.schedule {
                Schedule::Closed { window } => window.saturating_sub(tracker.outstanding()),
                Schedule::Open { interval, .. } => {
                    let mut due = 0;
                    while next_due <= now {
                        next_due += interval;
                        due += 1;
                    }
                    due
                }
            };
            for _ in 0..due {
                let sequence = tracker.send(job.clock.now_nanos());
                packet_id = packet_id % u16::MAX + 1;
                if let Some(id) = PacketId::new(packet_id) {
                    publish.qos = PublishQos::AtLeastOnce(id);
                }
                publish.payload = update_payload(sequence);
                writer.queue(&Packet::Publish(publish.clone()))?;
            }
        } else if tracker.outstanding() == 0 {
            return Ok(());
        }
        writer.flush().await?;

        let mut wake = tracker.next_expiry(job.timeout).unwrap_or(u64::MAX);
        if sending {
            wake = wake.min(job.window_end);
            if matches!(job.schedule, Schedule::Open { .. }) {
                wake = wake.min(next_due);
            }
        }
        let wake = tokio::time::Instant::from_std(job.clock.instant_at(wake));
        tokio::select! {
            read = reader.fill() => read?,
            _ = tokio::time::sleep_until(wake) => {}
        }
    }
}

/// Runs the shadow scenario `plan` against `ctx`. Fails only if a device cannot connect and
/// subscribe; devices that fail during the run are counted in the outcome.
pub async fn run(ctx: &RunContext, plan: &ShadowPlan) -> Result<ShadowOutcome, BenchError> {
    let identities = ctx.distinct_identities(plan.devices)?;
    let topics = identities
        .iter()
        .map(|identity| ShadowTopics::of(&identity.client_id))
        .collect::<Result<Vec<_>, _>>()?;
    let filters: Vec<Vec<String>> = topics
        .iter()
        .map(|t| vec![t.accepted.clone(), t.rejected.clone()])
        .collect();
    let sessions = open_sessions(ctx, identities, &filters, roost_codec::QoS::AtLeastOnce).await?;

    let clock = Clock::start();
    let counters = Counters::shared();
    let progress = Progress::start("shadow", "accepted", counters.clone(), ctx.quiet);
    let broker_cpu = ctx
        .broker_pid
        .and_then(|pid| CpuMeter::start(Observed::Pid(pid)));
    let own_cpu = CpuMeter::start(Observed::Own);
    let start = clock.now_nanos();
    let window_end =
        start.saturating_add(u64::try_from(plan.duration.as_nanos()).unwrap_or(u64::MAX));
    let timeout = u64::try_from(plan.timeout.as_nanos()).unwrap_or(u64::MAX);
    let total_rate = plan.rate.filter(|r| *r > 0.0);
    let window = plan.window.max(1);
    let devices: Vec<_> = sessions
        .into_iter()
        .zip(topics)
        .enumerate()
        .map(|(i, (session, topics))| {
            let schedule = match total_rate {
                Some(total) => open_schedule(i, plan.devices, total, start),
                None => Schedule::Closed { window },
            };
            let job = DeviceJob {
                topics,
                schedule,
                clock,
                window_end,
                timeout,
                counters: counters.clone(),
            };
            tokio::spawn(device_loop(session, job))
        })
        .collect();

    tokio::time::sleep_until(tokio::time::Instant::from_std(clock.instant_at(window_end))).await;
    let broker_cpu = broker_cpu.and_then(|m| m.read());
    let own_cpu = own_cpu.and_then(|m| m.read());
    let mut tally = Tally::default();
    let mut client_errors = ErrorTally::default();
    for device in devices {
        match device.await {
            Ok(report) => {
                tally.merge(report.tally);
                if let Some(error) = &report.error {
                    client_errors.add(error);
                }
            }
            Err(_) => client_errors.add(&BenchError::Timeout("a device task that panicked")),
        }
    }
    progress.stop();

    let window_s = plan.duration.as_secs_f64();
    Ok(ShadowOutcome {
        scenario: "shadow",
        target: ctx.target_info(),
        devices: plan.devices,
        window: total_rate.is_none().then_some(window),
        target_rate: total_rate,
        duration_s: window_s,
        timeout_s: plan.timeout.as_secs_f64(),
        sent: tally.sent,
        sent_per_sec: rate(tally.sent, window_s),
        accepted: tally.accepted,
        accepted_in_window: tally.accepted_in_window,
        updates_per_sec: rate(tally.accepted_in_window, window_s),
        rejected: tally.rejected,
        timed_out: tally.timed_out,
        unanswered: tally.unanswered,
        failed: tally.rejected + tally.timed_out + tally.unanswered,
        unmatched: tally.unmatched,
        version_gaps: tally.version_gaps,
        latency: tally.latency.summary(),
        broker_cpu_percent: broker_cpu.map(|c| c.percent),
        broker_cpu_us_per_update: broker_cpu
            .filter(|_| tally.accepted_in_window > 0)
            .map(|c| 1e6 * c.cpu_seconds / tally.accepted_in_window as f64),
        generator_cpu_percent: own_cpu.map(|c| c.percent),
        failures: tally.failures,
        client_errors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const SECOND: u64 = 1_000_000_000;

    fn accepted(sequence: u64, version: u64) -> Answer {
        Answer::accepted(
            format!(
                r#"{{"state":{{"reported":{{"seq":{sequence}}}}},"metadata":{{"reported":{{"seq":{{"timestamp":1}}}}}},"version":{version},"timestamp":1,"clientToken":"rb-{sequence}"}}"#
            )
            .as_bytes(),
        )
    }

    #[test]
    fn an_update_reports_its_sequence_and_carries_it_in_its_client_token() {
        let body: Value = serde_json::from_slice(&update_payload(42)).expect("JSON");
        assert_eq!(
            body,
            serde_json::json!({"state": {"reported": {"seq": 42}}, "clientToken": "rb-42"})
        );
        assert_eq!(token_sequence("rb-42"), Some(42));
        assert_eq!(token_sequence("someone-else"), None);
        assert_eq!(token_sequence("rb-x"), None);
        assert!(
            client_token(u64::MAX).len() <= 64,
            "AWS's clientToken limit"
        );
    }

    #[test]
    fn a_thing_uses_its_classic_shadow_update_topics() {
        let topics = ShadowTopics::of("device-00007").expect("topics");
        assert_eq!(
            topics.update.as_str(),
            "$aws/things/device-00007/shadow/update"
        );
        assert_eq!(
            topics.accepted,
            "$aws/things/device-00007/shadow/update/accepted"
        );
        assert_eq!(
            topics.rejected,
            "$aws/things/device-00007/shadow/update/rejected"
        );
    }

    #[test]
    fn answers_are_read_from_the_accepted_and_rejected_documents() {
        assert_eq!(
            accepted(3, 9),
            Answer::Accepted {
                sequence: Some(3),
                version: Some(9)
            }
        );
        assert_eq!(
            Answer::rejected(
                br#"{"code":409,"message":"Version conflict","timestamp":1,"clientToken":"rb-5"}"#
            ),
            Answer::Rejected {
                sequence: Some(5),
                code: 409,
                message: "Version conflict".into()
            }
        );
        assert_eq!(
            Answer::rejected(b"not json"),
            Answer::Rejected {
                sequence: None,
                code: 0,
                message: "not json".into()
            }
        );
    }

    #[test]
    fn an_accepted_update_is_matched_by_its_token_and_timed_from_its_send() {
        let mut tracker = UpdateTracker::default();
        let first = tracker.send(1_000);
        let second = tracker.send(2_000);
        assert_eq!(tracker.outstanding(), 2);
        assert!(tracker.handle_answer(accepted(second, 8), 5_000, SECOND));
        assert!(tracker.handle_answer(accepted(first, 9), 6_000, SECOND));
        assert_eq!(tracker.outstanding(), 0);
        assert_eq!(tracker.tally.accepted, 2);
        assert_eq!(tracker.tally.latency.quantile_nanos(0.0), Some(3_000));
        assert_eq!(tracker.tally.latency.quantile_nanos(1.0), Some(5_000));
    }

    #[test]
    fn a_rejected_update_is_a_failure_with_its_code() {
        let mut tracker = UpdateTracker::default();
        let sequence = tracker.send(0);
        let rejection = Answer::Rejected {
            sequence: Some(sequence),
            code: 400,
            message: "Invalid JSON".into(),
        };
        assert!(!tracker.handle_answer(rejection, 10, SECOND));
        assert_eq!(tracker.outstanding(), 0);
        assert_eq!(tracker.tally.rejected, 1);
        assert_eq!(
            tracker.tally.failures.first["shadow_rejected"],
            "shadow update rejected: 400 Invalid JSON"
        );
    }

    #[test]
    fn an_unanswered_update_times_out_once_and_its_late_answer_matches_nothing() {
        let mut tracker = UpdateTracker::default();
        let sequence = tracker.send(0);
        tracker.send(SECOND);
        assert_eq!(tracker.next_expiry(5 * SECOND), Some(5 * SECOND));
        assert_eq!(tracker.expire(5 * SECOND - 1, 5 * SECOND), 0);
        assert_eq!(tracker.expire(5 * SECOND, 5 * SECOND), 1);
        assert_eq!(tracker.expire(5 * SECOND, 5 * SECOND), 0);
        assert_eq!(tracker.next_expiry(5 * SECOND), Some(6 * SECOND));
        assert!(!tracker.handle_answer(accepted(sequence, 1), 7 * SECOND, 10 * SECOND));
        assert_eq!(tracker.tally.timed_out, 1);
        assert_eq!(tracker.tally.unmatched, 1);
        assert_eq!(tracker.tally.accepted, 0);
        tracker.abandon();
        assert_eq!(tracker.tally.unanswered, 1);
        assert_eq!(tracker.outstanding(), 0);
    }

    #[test]
    fn only_answers_within_the_window_count_toward_the_rate() {
        let mut tracker = UpdateTracker::default();
        let early = tracker.send(0);
        let late = tracker.send(0);
        assert!(tracker.handle_answer(accepted(early, 1), SECOND, SECOND));
        assert!(tracker.handle_answer(accepted(late, 2), SECOND + 1, SECOND));
        assert_eq!(tracker.tally.accepted, 2);
        assert_eq!(tracker.tally.accepted_in_window, 1);
    }

    #[test]
    fn versions_that_skip_or_repeat_are_counted_as_gaps() {
        let mut tracker = UpdateTracker::default();
        for version in [10, 11, 13, 13, 14] {
            let sequence = tracker.send(0);
            tracker.handle_answer(accepted(sequence, version), 1, SECOND);
        }
        assert_eq!(tracker.tally.version_gaps, 2);
    }

    #[test]
    fn open_loop_devices_share_the_rate_and_start_spread_over_one_interval() {
        assert_eq!(
            open_schedule(0, 4, 1_000.0, 100),
            Schedule::Open {
                first_due: 100,
                interval: 4_000_000
            }
        );
        assert_eq!(
            open_schedule(3, 4, 1_000.0, 100),
            Schedule::Open {
                first_due: 3_000_100,
                interval: 4_000_000
            }
        );
    }

    #[test]
    fn tallies_merge_by_addition() {
        let mut a = UpdateTracker::default();
        let sequence = a.send(0);
        a.handle_answer(accepted(sequence, 1), 10, SECOND);
        let mut b = UpdateTracker::default();
        b.send(0);
        b.expire(SECOND, 1);
        let mut total = Tally::default();
        total.merge(a.tally);
        total.merge(b.tally);
        assert_eq!((total.sent, total.accepted, total.timed_out), (2, 1, 1));
        assert_eq!(total.latency.count(), 1);
        assert_eq!(total.failures.total(), 1);
    }
}
