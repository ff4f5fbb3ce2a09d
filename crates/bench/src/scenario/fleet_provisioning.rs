//! Fleet provisioning by claim (AWS IoT's "provisioning by claim") on Roost: N devices, each
//! on its own connection with its own client id but all with the one claim certificate,
//! provision themselves over MQTT as the AWS IoT Device SDK's fleet-provisioning sample does:
//!
//! 1. connect over mTLS with the claim certificate and subscribe at QoS 1 to the `…/accepted`
//!    and `…/rejected` answers of the certificate request and of the template's RegisterThing;
//! 2. ask for a certificate: CreateCertificateFromCsr (`$aws/certificates/create-from-csr/json`
//!    with an ECDSA P-256 CSR made before the timed part), or with `CreateMode::Keys`
//!    CreateKeysAndCertificate (`$aws/certificates/create/json`: Roost makes an RSA-2048 key per
//!    device, much slower); the answer carries the certificate and its ownership token;
//! 3. RegisterThing (`$aws/provisioning-templates/<name>/provision/json`) with the token and a
//!    unique `SerialNumber`; the template ([`crate::control_plane::fleet_template`]) creates the
//!    thing named after it, activates the certificate and attaches a policy; the answer names
//!    the thing;
//! 4. disconnect.
//!
//! Figures: devices provisioned per second over the wall time of the run (first connect to
//! last answer), the latency of the whole flow (TCP connect → RegisterThing accepted) and of
//! each step, certificates created per second, and failures by reason. The bench prepares the
//! template and the claim certificate itself
//! ([`crate::control_plane::ControlPlane::prepare_fleet_provisioning`]), under a name unique to
//! the run, so runs do not collide.
//!
//! **The server must let the claim certificate ask that fast.** Roost limits certificate
//! requests per principal (`provisioning.fleet_requests_per_second`, default 10, and
//! `provisioning.fleet_request_burst`, default 20), and every device here shares the claim
//! certificate as its principal: start `roost serve` with
//! `ROOST__PROVISIONING__FLEET_REQUESTS_PER_SECOND=100000` and
//! `ROOST__PROVISIONING__FLEET_REQUEST_BURST=100000` (or the same keys under `[provisioning]` in
//! its configuration file). Requests refused with `Throttling` are counted as `throttled`, and
//! the binary exits with an error naming these settings ([`THROTTLING_HINT`]).
//!
//! Not here: the pre-provisioning hook, CBOR, and reconnecting as the provisioned device.

use std::collections::BTreeMap;
use std::num::NonZeroU16;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use roost_codec::{
    Packet, PacketId, PubAck, Publish, PublishProperties, PublishQos, QoS, TopicName,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::client::{ConnectOptions, Session};
use crate::error::BenchError;
use crate::histogram::{LatencyHistogram, LatencySummary};
use crate::process::{CpuMeter, Observed};
use crate::progress::{Counters, Progress};
use crate::scenario::connect::{label_suffix, rate};
use crate::scenario::{ErrorTally, Outcome, RunContext, TargetInfo};
use crate::transport::{Identity, Target};

/// What to tell whoever ran the bench against a server that throttled it.
pub const THROTTLING_HINT: &str = "the server limits certificate requests per principal and \
every device shares the claim certificate: start roost with \
ROOST__PROVISIONING__FLEET_REQUESTS_PER_SECOND=100000 and \
ROOST__PROVISIONING__FLEET_REQUEST_BURST=100000 (provisioning.fleet_requests_per_second and \
provisioning.fleet_request_burst)";

/// Longest the TLS connect, CONNECT → CONNACK and SUBSCRIBE → SUBACK of a device may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The `RegisterThing` operation's name in results.
const REGISTER_THING: &str = "RegisterThing";

/// How a device asks for its certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateMode {
    /// CreateCertificateFromCsr: the device keeps its own (P-256) key.
    FromCsr,
    /// CreateKeysAndCertificate: the broker makes the key (RSA-2048 in Roost).
    Keys,
}

impl CreateMode {
    /// The operation's AWS name.
    pub fn operation(self) -> &'static str {
        match self {
            CreateMode::FromCsr => "CreateCertificateFromCsr",
            CreateMode::Keys => "CreateKeysAndCertificate",
        }
    }

    fn topic(self) -> &'static str {
        match self {
            CreateMode::FromCsr => "$aws/certificates/create-from-csr/json",
            CreateMode::Keys => "$aws/certificates/create/json",
        }
    }

    fn awaiting(self) -> &'static str {
        match self {
            CreateMode::FromCsr => "the answer to CreateCertificateFromCsr",
            CreateMode::Keys => "the answer to CreateKeysAndCertificate",
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct FleetPlan {
    /// The fleet provisioning template devices register through.
    pub template_name: String,
    /// Device `i`'s serial number, client id and thing name is this prefix and `i` (6 digits).
    pub serial_prefix: String,
    /// Devices to provision.
    pub devices: usize,
    /// Devices provisioning at once.
    pub concurrency: usize,
    /// How devices ask for their certificate.
    pub create: CreateMode,
    /// Longest wait for each answer.
    pub timeout: Duration,
}

impl FleetPlan {
    /// The serial number (and client id, and thing name) of device `index`.
    pub fn serial(&self, index: usize) -> String {
        format!("{}{index:06}", self.serial_prefix)
    }
}

/// The result of a fleet provisioning run.
#[derive(Debug, Clone, Serialize)]
pub struct FleetOutcome {
    /// `"fleet"`.
    pub scenario: &'static str,
    /// Where it ran.
    #[serde(flatten)]
    pub target: TargetInfo,
    /// The template devices registered through.
    pub template: String,
    /// How devices asked for their certificate: `CreateCertificateFromCsr` or
    /// `CreateKeysAndCertificate`.
    pub create: &'static str,
    /// Devices in the run.
    pub devices: usize,
    /// Devices provisioning at once.
    pub concurrency: usize,
    /// Devices whose RegisterThing was accepted with their thing name.
    pub provisioned: u64,
    /// Devices that failed at any step.
    pub failed: u64,
    /// Certificate requests refused with `Throttling`: the server's fleet rate limit was not
    /// raised (see the module docs). Also counted in `failed`.
    pub throttled: u64,
    /// Seconds spent making the devices' CSRs before the timed part.
    pub csr_generation_s: f64,
    /// Wall time of the timed part, seconds.
    pub elapsed_s: f64,
    /// Provisioned devices per second of `elapsed_s`: the figure.
    pub provisioned_per_sec: f64,
    /// Certificate requests accepted.
    pub certificates: u64,
    /// Certificate requests accepted per second of `elapsed_s`.
    pub certificates_per_sec: f64,
    /// TCP connect → RegisterThing accepted, provisioned devices only.
    pub latency: LatencySummary,
    /// TCP connect → SUBACK (TLS handshake, CONNECT, SUBSCRIBE), provisioned devices only.
    pub connect_latency: LatencySummary,
    /// Certificate request published → accepted, provisioned devices only.
    pub create_latency: LatencySummary,
    /// RegisterThing published → accepted, provisioned devices only.
    pub register_latency: LatencySummary,
    /// Rejections by `<operation>: <errorCode>`.
    pub rejections: BTreeMap<String, u64>,
    /// Failures by kind, with the first message of each.
    pub errors: ErrorTally,
    /// Broker CPU during the run, percent of one core (with a broker pid).
    pub broker_cpu_percent: Option<f64>,
    /// Broker CPU per provisioned device, milliseconds (with a broker pid).
    pub broker_cpu_ms_per_device: Option<f64>,
    /// Generator CPU during the run, percent of one core.
    pub generator_cpu_percent: Option<f64>,
}

impl Outcome for FleetOutcome {
    fn summary(&self) -> String {
        let mut text = format!(
            "fleet{}: {} devices by claim ({} → RegisterThing), concurrency {}\n  {:.0} devices/s ({} provisioned, {} failed in {:.1} s), certificates {:.0}/s\n  connect → RegisterThing accepted {}\n  connect {}\n  {} {}\n  RegisterThing {}",
            label_suffix(&self.target),
            self.devices,
            self.create,
            self.concurrency,
            self.provisioned_per_sec,
            self.provisioned,
            self.failed,
            self.elapsed_s,
            self.certificates_per_sec,
            self.latency.brief(),
            self.connect_latency.brief(),
            self.create,
            self.create_latency.brief(),
            self.register_latency.brief(),
        );
        if let Some(cpu) = self.broker_cpu_percent {
            text += &format!("\n  broker CPU {cpu:.0} %");
        }
        if let Some(ms) = self.broker_cpu_ms_per_device {
            text += &format!(" ({ms:.2} ms/device)");
        }
        if let Some(cpu) = self.generator_cpu_percent {
            text += &format!(", generator CPU {cpu:.0} %");
        }
        text += &self.errors.describe();
        if self.throttled > 0 {
            text += &format!(
                "\n  {} certificate requests THROTTLED: {THROTTLING_HINT}",
                self.throttled
            );
        }
        text
    }
}

/// The topics one device uses.
#[derive(Debug, Clone)]
struct FleetTopics {
    create: Exchange,
    register: Exchange,
}

/// A request topic and its two answer topics.
#[derive(Debug, Clone)]
struct Exchange {
    operation: &'static str,
    awaiting: &'static str,
    topic: TopicName,
    accepted: String,
    rejected: String,
}

impl Exchange {
    fn new(
        operation: &'static str,
        awaiting: &'static str,
        topic: &str,
    ) -> Result<Exchange, BenchError> {
        Ok(Exchange {
            operation,
            awaiting,
            topic: TopicName::new(topic)?,
            accepted: format!("{topic}/accepted"),
            rejected: format!("{topic}/rejected"),
        })
    }

    /// Reads the answer `topic` and `payload` carry, if they answer this request: the accepted
    /// document, or the rejection as an error.
    fn answer<T: DeserializeOwned>(
        &self,
        topic: &str,
        payload: &[u8],
    ) -> Option<Result<T, BenchError>> {
        if topic == self.accepted {
            Some(
                serde_json::from_slice(payload).map_err(|e| BenchError::FleetAnswer {
                    operation: self.operation,
                    reason: e.to_string(),
                }),
            )
        } else if topic == self.rejected {
            Some(Err(rejection(self.operation, payload)))
        } else {
            None
        }
    }
}

impl FleetTopics {
    fn new(mode: CreateMode, template: &str) -> Result<FleetTopics, BenchError> {
        Ok(FleetTopics {
            create: Exchange::new(mode.operation(), mode.awaiting(), mode.topic())?,
            register: Exchange::new(
                REGISTER_THING,
                "the answer to RegisterThing",
                &format!("$aws/provisioning-templates/{template}/provision/json"),
            )?,
        })
    }

    /// Every answer topic, subscribed to before the first request.
    fn filters(&self) -> Vec<String> {
        vec![
            self.create.accepted.clone(),
            self.create.rejected.clone(),
            self.register.accepted.clone(),
            self.register.rejected.clone(),
        ]
    }
}

/// A `/rejected` document: `{"statusCode", "errorCode", "errorMessage"}`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RejectionDocument {
    status_code: Option<u16>,
    error_code: Option<String>,
    error_message: Option<String>,
}

fn rejection(operation: &'static str, payload: &[u8]) -> BenchError {
    let document: RejectionDocument = serde_json::from_slice(payload).unwrap_or_default();
    BenchError::FleetRejected {
        operation,
        status: document.status_code.unwrap_or(0),
        code: document.error_code.unwrap_or_default(),
        message: document
            .error_message
            .unwrap_or_else(|| String::from_utf8_lossy(payload).into_owned()),
    }
}

/// CreateCertificateFromCsr's request.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreateFromCsrRequest<'a> {
    certificate_signing_request: &'a str,
}

/// What the bench reads of a certificate request's `/accepted` answer (it also carries
/// `certificatePem`, and `privateKey` for CreateKeysAndCertificate).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CertificateCreated {
    certificate_id: String,
    certificate_ownership_token: String,
}

/// RegisterThing's request.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RegisterThingRequest<'a> {
    certificate_ownership_token: &'a str,
    parameters: RegisterParameters<'a>,
}

#[derive(Serialize)]
struct RegisterParameters<'a> {
    #[serde(rename = "SerialNumber")]
    serial_number: &'a str,
}

/// What the bench reads of RegisterThing's `/accepted` answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ThingRegistered {
    thing_name: Option<String>,
}

/// The certificate request's payload: the CSR, or nothing for CreateKeysAndCertificate.
fn create_payload(csr: Option<&str>) -> Bytes {
    match csr {
        // A struct of one string always serializes.
        Some(csr) => Bytes::from(
            serde_json::to_vec(&CreateFromCsrRequest {
                certificate_signing_request: csr,
            })
            .unwrap_or_default(),
        ),
        None => Bytes::from_static(b"{}"),
    }
}

fn register_payload(ownership_token: &str, serial_number: &str) -> Bytes {
    let request = RegisterThingRequest {
        certificate_ownership_token: ownership_token,
        parameters: RegisterParameters { serial_number },
    };
    // Strings only: always serializes.
    Bytes::from(serde_json::to_vec(&request).unwrap_or_default())
}

/// How long each step of one provisioned device took.
#[derive(Debug, Clone, Copy)]
struct StepTimes {
    connect: Duration,
    create: Duration,
    register: Duration,
    total: Duration,
}

/// What every device shares.
#[derive(Debug)]
struct Job {
    target: Arc<Target>,
    claim: Identity,
    options: ConnectOptions,
    topics: FleetTopics,
    plan: FleetPlan,
    /// Device `i`'s CSR (CreateCertificateFromCsr only).
    csrs: Vec<String>,
    /// Certificate requests accepted, whatever became of RegisterThing.
    certificates: AtomicU64,
}

/// Publishes `payload` on `exchange`'s topic at QoS 1 as packet `packet_id` and waits up to
/// `timeout` for its answer, acknowledging QoS 1 deliveries and skipping anything else.
async fn request<T: DeserializeOwned>(
    session: &mut Session,
    exchange: &Exchange,
    payload: Bytes,
    packet_id: PacketId,
    timeout: Duration,
) -> Result<T, BenchError> {
    let publish = Publish {
        dup: false,
        qos: PublishQos::AtLeastOnce(packet_id),
        retain: false,
        topic: exchange.topic.clone(),
        properties: PublishProperties::default(),
        payload,
    };
    session.writer.queue(&Packet::Publish(publish))?;
    session.writer.flush().await?;
    let answer = async {
        loop {
            // The PUBACK of the request needs nothing: the answer is what counts.
            let Packet::Publish(message) = session.reader.next().await? else {
                continue;
            };
            if let PublishQos::AtLeastOnce(id) = message.qos {
                session.writer.queue(&Packet::PubAck(PubAck::new(id)))?;
                session.writer.flush().await?;
            }
            if let Some(answer) = exchange.answer(message.topic.as_str(), &message.payload) {
                return answer;
            }
        }
    };
    tokio::time::timeout(timeout, answer)
        .await
        .map_err(|_| BenchError::Timeout(exchange.awaiting))?
}

/// Provisions device `index`: connect, subscribe, certificate, RegisterThing, disconnect.
async fn provision(job: &Job, index: usize) -> Result<StepTimes, BenchError> {
    let serial = job.plan.serial(index);
    let identity = job.claim.with_client_id(serial.clone());
    let filters = job.topics.filters();
    let start = Instant::now();
    let open = async {
        let stream = job.target.connect(&identity).await?;
        let mut session = Session::open(stream, &identity.client_id, &job.options).await?;
        session
            .subscribe(&filters, QoS::AtLeastOnce, job.options.timeout)
            .await?;
        Ok::<_, BenchError>(session)
    };
    let mut session = tokio::time::timeout(CONNECT_TIMEOUT, open)
        .await
        .map_err(|_| BenchError::Timeout("the connection and subscription"))??;
    let connected = Instant::now();
    let result = converse(job, &mut session, index, &serial).await;
    session.writer.disconnect().await;
    let (created, registered) = result?;
    Ok(StepTimes {
        connect: connected - start,
        create: created - connected,
        register: registered - created,
        total: registered - start,
    })
}

/// The two requests of a connected device; returns when each was answered.
async fn converse(
    job: &Job,
    session: &mut Session,
    index: usize,
    serial: &str,
) -> Result<(Instant, Instant), BenchError> {
    let first = PacketId(NonZeroU16::MIN);
    let second = PacketId(NonZeroU16::MIN.saturating_add(1));
    let csr = job.csrs.get(index).map(String::as_str);
    let created: CertificateCreated = request(
        session,
        &job.topics.create,
        create_payload(csr),
        first,
        job.plan.timeout,
    )
    .await?;
    let created_at = Instant::now();
    job.certificates.fetch_add(1, Ordering::Relaxed);
    if created.certificate_id.is_empty() || created.certificate_ownership_token.is_empty() {
        return Err(BenchError::FleetAnswer {
            operation: job.topics.create.operation,
            reason: "empty certificateId or certificateOwnershipToken".into(),
        });
    }
    let registered: ThingRegistered = request(
        session,
        &job.topics.register,
        register_payload(&created.certificate_ownership_token, serial),
        second,
        job.plan.timeout,
    )
    .await?;
    let registered_at = Instant::now();
    if registered.thing_name.as_deref() != Some(serial) {
        return Err(BenchError::FleetAnswer {
            operation: REGISTER_THING,
            reason: format!("thingName {:?}, expected {serial:?}", registered.thing_name),
        });
    }
    Ok((created_at, registered_at))
}

/// What the devices counted; tallies of several workers merge by addition.
#[derive(Debug, Default)]
struct Tally {
    total: LatencyHistogram,
    connect: LatencyHistogram,
    create: LatencyHistogram,
    register: LatencyHistogram,
    rejections: BTreeMap<String, u64>,
    errors: ErrorTally,
}

impl Tally {
    fn record(&mut self, result: Result<StepTimes, BenchError>) -> bool {
        match result {
            Ok(times) => {
                self.total.record(times.total);
                self.connect.record(times.connect);
                self.create.record(times.create);
                self.register.record(times.register);
                true
            }
            Err(error) => {
                if let BenchError::FleetRejected {
                    operation, code, ..
                } = &error
                {
                    *self
                        .rejections
                        .entry(format!("{operation}: {code}"))
                        .or_default() += 1;
                }
                self.errors.add(&error);
                false
            }
        }
    }

    fn merge(&mut self, other: Tally) {
        self.total.merge(&other.total);
        self.connect.merge(&other.connect);
        self.create.merge(&other.create);
        self.register.merge(&other.register);
        for (reason, n) in other.rejections {
            *self.rejections.entry(reason).or_default() += n;
        }
        self.errors.merge(other.errors);
    }
}

/// Provisions `plan.devices` devices with the claim identity of `ctx` (its first identity; each
/// device connects under its own client id), `plan.concurrency` at a time. Fails only if there
/// is no claim identity, a topic is invalid or the CSRs cannot be made; failed devices are
/// counted in the outcome.
pub async fn run(ctx: &RunContext, plan: &FleetPlan) -> Result<FleetOutcome, BenchError> {
    let claim = ctx.distinct_identities(1)?[0].clone();
    let topics = FleetTopics::new(plan.create, &plan.template_name)?;
    let csr_start = Instant::now();
    let csrs = match plan.create {
        CreateMode::FromCsr => {
            let names: Vec<String> = (0..plan.devices).map(|i| plan.serial(i)).collect();
            tokio::task::spawn_blocking(move || crate::fleet::csrs(&names))
                .await
                .map_err(|_| BenchError::Timeout("the CSR generation, which panicked"))??
        }
        CreateMode::Keys => Vec::new(),
    };
    let csr_generation_s = csr_start.elapsed().as_secs_f64();
    let job = Arc::new(Job {
        target: ctx.target.clone(),
        claim,
        options: ctx.options,
        topics,
        plan: plan.clone(),
        csrs,
        certificates: AtomicU64::new(0),
    });

    let counters = Counters::shared();
    let progress = Progress::start("fleet", "provisioned", counters.clone(), ctx.quiet);
    let broker_cpu = ctx
        .broker_pid
        .and_then(|pid| CpuMeter::start(Observed::Pid(pid)));
    let own_cpu = CpuMeter::start(Observed::Own);
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..plan.concurrency.clamp(1, plan.devices.max(1)))
        .map(|_| {
            let (job, next, counters) = (job.clone(), next.clone(), counters.clone());
            tokio::spawn(async move {
                let mut tally = Tally::default();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed) as usize;
                    if index >= job.plan.devices {
                        break;
                    }
                    if tally.record(provision(&job, index).await) {
                        counters.success();
                    } else {
                        counters.failure();
                    }
                }
                tally
            })
        })
        .collect();
    let mut tally = Tally::default();
    for worker in workers {
        match worker.await {
            Ok(t) => tally.merge(t),
            Err(_) => tally
                .errors
                .add(&BenchError::Timeout("a device worker that panicked")),
        }
    }
    let elapsed_s = start.elapsed().as_secs_f64();
    progress.stop();
    let broker_cpu = broker_cpu.and_then(|m| m.read());
    let provisioned = tally.total.count();
    let certificates = job.certificates.load(Ordering::Relaxed);
    Ok(FleetOutcome {
        scenario: "fleet",
        target: ctx.target_info(),
        template: plan.template_name.clone(),
        create: plan.create.operation(),
        devices: plan.devices,
        concurrency: plan.concurrency,
        provisioned,
        failed: tally.errors.total(),
        throttled: tally.errors.counts.get("throttled").copied().unwrap_or(0),
        csr_generation_s,
        elapsed_s,
        provisioned_per_sec: rate(provisioned, elapsed_s),
        certificates,
        certificates_per_sec: rate(certificates, elapsed_s),
        latency: tally.total.summary(),
        connect_latency: tally.connect.summary(),
        create_latency: tally.create.summary(),
        register_latency: tally.register.summary(),
        rejections: tally.rejections,
        errors: tally.errors,
        broker_cpu_percent: broker_cpu.map(|c| c.percent),
        broker_cpu_ms_per_device: broker_cpu
            .filter(|_| provisioned > 0)
            .map(|c| 1e3 * c.cpu_seconds / provisioned as f64),
        generator_cpu_percent: own_cpu.and_then(|m| m.read()).map(|c| c.percent),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn topics() -> FleetTopics {
        FleetTopics::new(CreateMode::FromCsr, "Factory").expect("topics")
    }

    #[test]
    fn a_device_subscribes_to_both_answers_of_both_requests() {
        assert_eq!(
            topics().filters(),
            [
                "$aws/certificates/create-from-csr/json/accepted",
                "$aws/certificates/create-from-csr/json/rejected",
                "$aws/provisioning-templates/Factory/provision/json/accepted",
                "$aws/provisioning-templates/Factory/provision/json/rejected",
            ]
        );
        let keys = FleetTopics::new(CreateMode::Keys, "Factory").expect("topics");
        assert_eq!(keys.create.topic.as_str(), "$aws/certificates/create/json");
        assert_eq!(keys.create.operation, "CreateKeysAndCertificate");
    }

    #[test]
    fn requests_carry_aws_field_names() {
        let csr: Value = serde_json::from_slice(&create_payload(Some("PEM"))).expect("JSON");
        assert_eq!(csr, json!({"certificateSigningRequest": "PEM"}));
        assert_eq!(&create_payload(None)[..], b"{}");
        let register: Value =
            serde_json::from_slice(&register_payload("token", "sn-1")).expect("JSON");
        assert_eq!(
            register,
            json!({"certificateOwnershipToken": "token", "parameters": {"SerialNumber": "sn-1"}})
        );
    }

    #[test]
    fn an_accepted_answer_gives_the_token_and_other_topics_are_not_answers() {
        let topics = topics();
        let created: CertificateCreated = topics
            .create
            .answer(
                "$aws/certificates/create-from-csr/json/accepted",
                br#"{"certificateId":"abc","certificatePem":"PEM","certificateOwnershipToken":"tok"}"#,
            )
            .expect("an answer")
            .expect("accepted");
        assert_eq!(created.certificate_ownership_token, "tok");
        assert!(
            topics
                .create
                .answer::<CertificateCreated>(
                    "$aws/provisioning-templates/Factory/provision/json/accepted",
                    b"{}"
                )
                .is_none()
        );
    }

    #[test]
    fn a_throttling_rejection_is_counted_as_throttled_by_operation_and_code() {
        let answer = topics().create.answer::<CertificateCreated>(
            "$aws/certificates/create-from-csr/json/rejected",
            br#"{"statusCode":429,"errorCode":"Throttling","errorMessage":"Rate exceeded"}"#,
        );
        let error = answer.expect("an answer").expect_err("rejected");
        assert_eq!(error.kind(), "throttled");
        assert_eq!(
            error.to_string(),
            "CreateCertificateFromCsr rejected: 429 Throttling: Rate exceeded"
        );
        let mut tally = Tally::default();
        assert!(!tally.record(Err(error)));
        let other = rejection(REGISTER_THING, b"not json");
        assert_eq!(other.kind(), "fleet_rejected");
        tally.record(Err(other));
        assert_eq!(
            tally.rejections,
            BTreeMap::from([
                ("CreateCertificateFromCsr: Throttling".to_owned(), 1),
                ("RegisterThing: ".to_owned(), 1)
            ])
        );
        assert_eq!(tally.errors.counts["throttled"], 1);
    }

    #[test]
    fn an_unreadable_accepted_answer_is_a_fleet_answer_failure() {
        let answer = topics().register.answer::<ThingRegistered>(
            "$aws/provisioning-templates/Factory/provision/json/accepted",
            b"[]",
        );
        assert_eq!(
            answer.expect("an answer").expect_err("unusable").kind(),
            "fleet_answer"
        );
    }

    #[test]
    fn serial_numbers_are_unique_per_device_under_the_run_prefix() {
        let plan = FleetPlan {
            template_name: "t".into(),
            serial_prefix: "fleet-1-2-".into(),
            devices: 2,
            concurrency: 1,
            create: CreateMode::FromCsr,
            timeout: Duration::from_secs(1),
        };
        assert_eq!(plan.serial(7), "fleet-1-2-000007");
    }
}
