//! `roost-bench`: load generator for MQTT brokers. See the library docs and `--help`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use roost_bench::client::ConnectOptions;
use roost_bench::control_plane::{ControlPlane, default_template};
use roost_bench::fleet::{self, Device, FleetDir, FleetSpec};
use roost_bench::scenario::connect::{self, HoldPlan, Limit, StormPlan};
use roost_bench::scenario::fleet_provisioning::{self, CreateMode, FleetPlan, THROTTLING_HINT};
use roost_bench::scenario::flow::{self, FlowKind, FlowPlan};
use roost_bench::scenario::revoke::{self, RevokePlan};
use roost_bench::scenario::shadow::{self, ShadowPlan};
use roost_bench::scenario::{Outcome, RunContext, provision};
use roost_bench::transport::Target;
use roost_codec::{ProtocolVersion, QoS};
use roost_pki::{CertificateAuthority, KeyKind};

/// Load generator for MQTT brokers: mTLS connect storms, pub/sub, fan-out, JITP storms and
/// fleet provisioning.
/// Results are JSON lines on stdout; summaries and progress go to stderr.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate a CA, a server certificate and N device certificates into a directory.
    Certs(CertsArgs),
    /// Register the bench CA on a running Roost with auto-registration and a JITP template.
    RegisterCa(RegisterCaArgs),
    /// Run the pure-rustls mTLS handshake ceiling server (answers CONNECT with CONNACK).
    TlsEchoServer(EchoArgs),
    /// Connect storm (full handshakes, CONNECT → CONNACK, disconnect), or --hold N connections.
    Connect(ConnectArgs),
    /// P publishers → S subscribers.
    Pubsub(PubsubArgs),
    /// One publisher → N subscribers on one topic.
    Fanout(FanoutArgs),
    /// JITP storm on Roost: each never-seen device connects once, then all connect again.
    Provision(ProvisionArgs),
    /// Fleet provisioning by claim on Roost: each device connects with the shared claim
    /// certificate, gets its own (CreateCertificateFromCsr) and registers itself (RegisterThing).
    /// Start roost with ROOST__PROVISIONING__FLEET_REQUESTS_PER_SECOND=100000 and
    /// ROOST__PROVISIONING__FLEET_REQUEST_BURST=100000.
    Fleet(FleetArgs),
    /// Device Shadow updates: each device updates its classic shadow's `reported` over MQTT and
    /// waits for `/update/accepted` (closed loop, or open loop at --rate).
    Shadow(ShadowArgs),
    /// A compromised CA: hold N devices' connections, revoke every certificate their CA
    /// signed (`roost ca revoke-all`), and time until the last connection is cut.
    Revoke(RevokeArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum KeyArg {
    /// ECDSA P-256.
    Ec,
    /// RSA-2048.
    Rsa,
}

#[derive(Debug, Args)]
struct CertsArgs {
    /// Output directory.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Number of device certificates.
    #[arg(long, default_value_t = 1000)]
    devices: usize,
    /// Key type of the CA and the devices (the server key is always ECDSA P-256).
    #[arg(long, value_enum, default_value_t = KeyArg::Ec)]
    key: KeyArg,
    /// Subject C of the devices.
    #[arg(long, default_value = "US")]
    country: String,
    /// Subject O of the devices. Letters and digits only: rumqttd (with verify-client-cert)
    /// takes O as a tenant id and refuses anything else.
    #[arg(long, default_value = "RoostBench")]
    organization: String,
    /// Device CN prefix (followed by a five-digit index).
    #[arg(long, default_value = "device-")]
    cn_prefix: String,
    /// Names of the server certificate (repeatable).
    #[arg(long = "server-name", default_values_t = ["localhost".to_owned(), "127.0.0.1".to_owned()])]
    server_names: Vec<String>,
}

#[derive(Debug, Args)]
struct RegisterCaArgs {
    /// The Roost data directory (endpoints.json, admin-credentials.json).
    #[arg(long, value_name = "DIR")]
    roost_data: PathBuf,
    /// The fleet directory whose ca.pem / ca.key to register.
    #[arg(long, value_name = "DIR")]
    certs: PathBuf,
    /// A provisioning template body (JSON file); default: thing named after the CN,
    /// certificate ACTIVE, a policy allowing iot:* on *.
    #[arg(long, value_name = "FILE")]
    template: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct EchoArgs {
    /// Address to listen on.
    #[arg(long, value_name = "ADDR")]
    listen: SocketAddr,
    /// The fleet directory (server.pem, server.key, ca.pem).
    #[arg(long, value_name = "DIR")]
    certs: PathBuf,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum MqttVersion {
    #[value(name = "3.1.1")]
    V311,
    #[value(name = "5")]
    V5,
}

#[derive(Debug, Args)]
struct TargetArgs {
    /// Broker host (an IP address).
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Broker port (default: the MQTT port in --roost-data's endpoints.json, else 8883 with
    /// TLS and 1883 without).
    #[arg(long)]
    port: Option<u16>,
    /// A running Roost's data directory: its MQTT port and server-ca.pem.
    #[arg(long, value_name = "DIR")]
    roost_data: Option<PathBuf>,
    /// CA certificate (PEM) that signed the broker's server certificate; enables TLS.
    #[arg(long, value_name = "FILE")]
    server_ca: Option<PathBuf>,
    /// Name to verify the server certificate against.
    #[arg(long, default_value = "localhost")]
    server_name: String,
    /// Plain MQTT over TCP, even if a server CA is known.
    #[arg(long)]
    plain: bool,
    /// Fleet directory with device certificates (required for TLS; over plain TCP their CNs
    /// are the client ids).
    #[arg(long, value_name = "DIR")]
    certs: Option<PathBuf>,
    /// Use only the first N devices (over plain TCP without --certs: N generated client ids).
    #[arg(long)]
    devices: Option<usize>,
    /// MQTT version.
    #[arg(long, value_enum, default_value_t = MqttVersion::V311)]
    mqtt_version: MqttVersion,
    /// Keep alive announced in CONNECT, seconds.
    #[arg(long, default_value_t = 300)]
    keep_alive: u16,
    /// Label copied into results (e.g. the broker's name and the repetition).
    #[arg(long)]
    label: Option<String>,
    /// The broker's pid: adds its CPU use and, with --hold, its memory per connection.
    #[arg(long)]
    broker_pid: Option<u32>,
    /// No progress lines.
    #[arg(long)]
    quiet: bool,
}

#[derive(Debug, Args)]
struct ConnectArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Connects in flight at once.
    #[arg(long, default_value_t = 50)]
    concurrency: usize,
    /// Storm length, seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Stop after this many connects instead.
    #[arg(long)]
    count: Option<u64>,
    /// Instead of a storm: open N connections, hold them, and report the broker's memory per
    /// connection (needs --broker-pid).
    #[arg(long, value_name = "N")]
    hold: Option<usize>,
    /// With --hold: seconds to wait after the last connect before reading memory.
    #[arg(long, default_value_t = 2.0)]
    settle: f64,
    /// Resume TLS sessions: every device first connects once with a full handshake (not
    /// measured) and keeps its session ticket; the storm then reconnects with the tickets.
    #[arg(long)]
    resume: bool,
}

#[derive(Debug, Args)]
struct FlowArgs {
    /// QoS 0, 1 or 2.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=2))]
    qos: u8,
    /// Payload size in bytes (at least 20: publisher, sequence and send time).
    #[arg(long, default_value_t = 64)]
    payload: usize,
    /// Publishing time, seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Target total publish rate, messages per second (default: as fast as possible).
    #[arg(long)]
    rate: Option<f64>,
    /// Unacknowledged QoS 1/2 messages per publisher.
    #[arg(long, default_value_t = 100)]
    inflight: usize,
    /// Topic prefix (default: roost-bench/<pid>).
    #[arg(long)]
    topic_prefix: Option<String>,
}

#[derive(Debug, Args)]
struct PubsubArgs {
    #[command(flatten)]
    target: TargetArgs,
    #[command(flatten)]
    flow: FlowArgs,
    /// Publishing clients.
    #[arg(long, default_value_t = 4)]
    publishers: usize,
    /// Subscribing clients (subscriber j hears publisher j mod P).
    #[arg(long, default_value_t = 4)]
    subscribers: usize,
    /// Subscribers connect to this port of the same host (another node of a Roost cluster),
    /// publishers to --port: every message crosses between nodes.
    #[arg(long)]
    subscriber_port: Option<u16>,
}

#[derive(Debug, Args)]
struct FanoutArgs {
    #[command(flatten)]
    target: TargetArgs,
    #[command(flatten)]
    flow: FlowArgs,
    /// Subscribing clients, all on the one topic.
    #[arg(long, default_value_t = 1000)]
    subscribers: usize,
}

#[derive(Debug, Args)]
struct ProvisionArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Connects in flight at once.
    #[arg(long, default_value_t = 100)]
    concurrency: usize,
}

#[derive(Debug, Args)]
struct FleetArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Devices provisioning at once.
    #[arg(long, default_value_t = 100)]
    concurrency: usize,
    /// CreateKeysAndCertificate instead of CreateCertificateFromCsr: Roost makes an RSA-2048
    /// key per device (much slower).
    #[arg(long)]
    create_keys: bool,
    /// Seconds each answer may take before the device counts as timed out.
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
}

#[derive(Debug, Args)]
struct RevokeArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// The CA whose certificates to revoke (`register-ca` prints it); the devices of --certs
    /// must be signed by it.
    #[arg(long)]
    ca_id: String,
    /// Connections to hold before revoking (default: one per device).
    #[arg(long)]
    connections: Option<usize>,
    /// Connects in flight at once while opening them.
    #[arg(long, default_value_t = 100)]
    concurrency: usize,
}

#[derive(Debug, Args)]
struct ShadowArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Sending time, seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Total updates per second, spread evenly over the devices and sent on schedule whatever
    /// the answers (open loop, for latency); default: closed loop.
    #[arg(long)]
    rate: Option<f64>,
    /// Closed loop: updates each device keeps outstanding.
    #[arg(long, default_value_t = 1, conflicts_with = "rate")]
    window: usize,
    /// Seconds an update may wait for its answer before it counts as timed out.
    #[arg(long, default_value_t = 5.0)]
    timeout: f64,
}

/// Devices of the shadow scenario when --devices is not given.
const SHADOW_DEVICES: usize = 1000;
/// Devices of the fleet scenario when --devices is not given.
const FLEET_DEVICES: usize = 1000;

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn seconds(value: f64, what: &str) -> Result<Duration> {
    Duration::try_from_secs_f64(value)
        .with_context(|| format!("{what} must be a positive number of seconds"))
}

fn emit(outcome: &impl Outcome) -> Result<()> {
    use std::io::Write;
    writeln!(
        std::io::stdout().lock(),
        "{}",
        serde_json::to_string(outcome)?
    )
    .context("writing the result to stdout")?;
    eprintln!("{}", outcome.summary());
    Ok(())
}

/// The broker to connect to: address, and TLS unless `--plain` or no server CA is known.
fn target(args: &TargetArgs) -> Result<Target> {
    let roost = args
        .roost_data
        .as_deref()
        .map(ControlPlane::from_data_dir)
        .transpose()?;
    let server_ca = args
        .server_ca
        .clone()
        .or_else(|| roost.as_ref().map(|r| r.server_ca.clone()));
    let tls = !args.plain && server_ca.is_some();
    let port = args
        .port
        .or(roost.as_ref().map(|r| r.mqtt_port))
        .unwrap_or(if tls { 8883 } else { 1883 });
    let addr = SocketAddr::new(args.host, port);
    Ok(match (&server_ca, tls) {
        (Some(ca), true) => Target::tls(addr, &fleet::read_certificates(ca)?, &args.server_name)?,
        _ => Target::plain(addr),
    })
}

/// CONNECT settings from the command line.
fn connect_options(args: &TargetArgs) -> ConnectOptions {
    ConnectOptions {
        version: match args.mqtt_version {
            MqttVersion::V311 => ProtocolVersion::V3_1_1,
            MqttVersion::V5 => ProtocolVersion::V5,
        },
        keep_alive: args.keep_alive,
        ..ConnectOptions::default()
    }
}

/// The run's target and identities; `resume` keeps TLS session tickets (see `--resume`).
fn context(args: &TargetArgs, resume: bool) -> Result<RunContext> {
    let target = target(args)?;
    let tls = target.is_tls();
    let identities = match &args.certs {
        Some(dir) => {
            let devices = fleet::load_devices(&FleetDir::new(dir), args.devices)?;
            devices
                .iter()
                .map(|d| target.identity_with(d, resume))
                .collect::<Result<Vec<_>, _>>()?
        }
        None if tls => bail!("TLS needs device certificates: pass --certs DIR"),
        None => (0..args.devices.unwrap_or(20_000))
            .map(|i| target.anonymous(format!("roost-bench-{}-{i}", std::process::id())))
            .collect(),
    };
    Ok(RunContext {
        target: Arc::new(target),
        identities: Arc::new(identities),
        options: connect_options(args),
        label: args.label.clone(),
        broker_pid: args.broker_pid,
        quiet: args.quiet,
    })
}

/// Prepares a fleet provisioning template and a claim certificate on the Roost of
/// `--roost-data` (names unique to this run), then runs the fleet scenario with the claim.
async fn run_fleet(mut args: FleetArgs) -> Result<()> {
    let devices = *args.target.devices.get_or_insert(FLEET_DEVICES);
    let Some(data) = &args.target.roost_data else {
        bail!("fleet needs --roost-data (the control plane, its keys and the MQTT endpoint)");
    };
    if args.target.certs.is_some() || args.target.plain {
        bail!(
            "fleet devices connect over mTLS with the claim certificate the bench makes: \
             --certs and --plain do not apply"
        );
    }
    let control = ControlPlane::from_data_dir(data)?;
    let target = target(&args.target)?;
    let run_id = format!("{}-{}", unix_now(), std::process::id());
    let template_name = format!("roost-bench-{run_id}");
    let (claim_key, claim_csr) = fleet::ec_key_and_csr(&format!("roost-bench claim {run_id}"))?;
    let claim = control
        .prepare_fleet_provisioning(&template_name, &claim_csr)
        .await?;
    if !args.target.quiet {
        eprintln!(
            "created fleet provisioning template {} and claim certificate {}",
            claim.template_name, claim.certificate_id
        );
    }
    let claim_device = Device {
        name: format!("claim-{run_id}"),
        chain: roost_pki::pem::parse_certificates(&claim.certificate_pem)?,
        key: claim_key,
    };
    let identity = target.identity(&claim_device)?;
    let ctx = RunContext {
        target: Arc::new(target),
        identities: Arc::new(vec![identity]),
        options: connect_options(&args.target),
        label: args.target.label.clone(),
        broker_pid: args.target.broker_pid,
        quiet: args.target.quiet,
    };
    let plan = FleetPlan {
        template_name: claim.template_name,
        serial_prefix: format!("fleet-{run_id}-"),
        devices,
        concurrency: args.concurrency,
        create: if args.create_keys {
            CreateMode::Keys
        } else {
            CreateMode::FromCsr
        },
        timeout: seconds(args.timeout, "--timeout")?,
    };
    let outcome = fleet_provisioning::run(&ctx, &plan).await?;
    emit(&outcome)?;
    if outcome.throttled > 0 {
        bail!(
            "{} of {} devices were refused a certificate with Throttling: {THROTTLING_HINT}",
            outcome.throttled,
            outcome.devices
        );
    }
    Ok(())
}

fn flow_plan(
    kind: FlowKind,
    flow: &FlowArgs,
    publishers: usize,
    subscribers: usize,
) -> Result<FlowPlan> {
    Ok(FlowPlan {
        kind,
        publishers,
        subscribers,
        qos: QoS::from_u8(flow.qos).context("QoS must be 0, 1 or 2")?,
        payload: flow.payload,
        duration: seconds(flow.duration, "--duration")?,
        rate: flow.rate,
        inflight: flow.inflight,
        topic_prefix: flow
            .topic_prefix
            .clone()
            .unwrap_or_else(|| format!("roost-bench/{}", std::process::id())),
        subscriber_target: None,
    })
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Certs(args) => {
            let spec = FleetSpec {
                devices: args.devices,
                key: match args.key {
                    KeyArg::Ec => KeyKind::EcP256,
                    KeyArg::Rsa => KeyKind::Rsa2048,
                },
                country: args.country,
                organization: args.organization,
                cn_prefix: args.cn_prefix,
                server_names: args.server_names,
            };
            let start = std::time::Instant::now();
            let dir = FleetDir::new(&args.out);
            let generated =
                tokio::task::spawn_blocking(move || fleet::generate(&dir, &spec, unix_now()))
                    .await??;
            eprintln!(
                "wrote a CA, a server certificate and {} device certificates to {} in {:.1} s",
                generated.devices,
                args.out.display(),
                start.elapsed().as_secs_f64()
            );
        }
        Command::RegisterCa(args) => {
            let plane = ControlPlane::from_data_dir(&args.roost_data)?;
            let fleet = FleetDir::new(&args.certs);
            let ca = CertificateAuthority::from_pem(
                &fleet::read_text(&fleet.ca_cert())?,
                &fleet::read_text(&fleet.ca_key())?,
            )?;
            let template = match &args.template {
                Some(path) => fleet::read_text(path)?,
                None => default_template(),
            };
            let id = plane.register_ca(&ca, &template, unix_now()).await?;
            println!("{}", serde_json::json!({ "caCertificateId": id }));
            eprintln!("registered the bench CA as {id} with auto-registration and a JITP template");
        }
        Command::TlsEchoServer(args) => {
            let config = roost_bench::echo_server::server_config(&FleetDir::new(&args.certs))?;
            let listener = tokio::net::TcpListener::bind(args.listen).await?;
            eprintln!("TLS echo server listening on {}", listener.local_addr()?);
            roost_bench::echo_server::serve(listener, config).await?;
        }
        Command::Connect(args) => {
            let ctx = context(&args.target, args.resume)?;
            match args.hold {
                Some(connections) => {
                    let plan = HoldPlan {
                        connections,
                        concurrency: args.concurrency,
                        settle: seconds(args.settle, "--settle")?,
                    };
                    emit(&connect::hold(&ctx, &plan).await)?;
                }
                None => {
                    let limit = match args.count {
                        Some(n) => Limit::Count(n),
                        None => Limit::Duration(seconds(args.duration, "--duration")?),
                    };
                    let plan = StormPlan {
                        concurrency: args.concurrency,
                        limit,
                        resume: args.resume,
                    };
                    emit(&connect::storm(&ctx, &plan).await)?;
                }
            }
        }
        Command::Pubsub(args) => {
            let ctx = context(&args.target, false)?;
            let mut plan = flow_plan(
                FlowKind::PubSub,
                &args.flow,
                args.publishers,
                args.subscribers,
            )?;
            plan.subscriber_target = args
                .subscriber_port
                .map(|port| Arc::new(ctx.target.at_port(port)));
            emit(&flow::run(&ctx, &plan).await?)?;
        }
        Command::Fanout(args) => {
            let ctx = context(&args.target, false)?;
            let plan = flow_plan(FlowKind::FanOut, &args.flow, 1, args.subscribers)?;
            emit(&flow::run(&ctx, &plan).await?)?;
        }
        Command::Provision(args) => {
            let ctx = context(&args.target, false)?;
            emit(&provision::storm(&ctx, args.concurrency).await)?;
        }
        Command::Revoke(args) => {
            let Some(data) = &args.target.roost_data else {
                bail!("revoke needs --roost-data (the API and its keys)");
            };
            let control = ControlPlane::from_data_dir(data)?;
            let ctx = context(&args.target, false)?;
            let plan = RevokePlan {
                connections: args.connections.unwrap_or(ctx.identities.len()),
                concurrency: args.concurrency,
                ca_id: args.ca_id,
            };
            emit(&revoke::run(&ctx, &control, &plan).await?)?;
        }
        Command::Fleet(args) => run_fleet(args).await?,
        Command::Shadow(mut args) => {
            let devices = *args.target.devices.get_or_insert(SHADOW_DEVICES);
            let ctx = context(&args.target, false)?;
            let plan = ShadowPlan {
                devices,
                duration: seconds(args.duration, "--duration")?,
                rate: args.rate,
                window: args.window,
                timeout: seconds(args.timeout, "--timeout")?,
            };
            emit(&shadow::run(&ctx, &plan).await?)?;
        }
    }
    Ok(())
}
