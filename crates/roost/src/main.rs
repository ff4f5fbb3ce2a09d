//! The `roost` binary: `serve` runs the gateway, `env` points shells at it, `config default`
//! prints the documented configuration.

mod client;
mod commands;
mod config;
mod data_dir;
mod device_https;
mod env_command;
mod https;
mod logging;
mod serve;
mod websocket;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use crate::config::{Config, DEFAULT_CONFIG, Overrides};
use crate::logging::LogFormat;

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Roost: a self-hosted, AWS IoT Core-compatible device gateway.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run Roost: control plane and MQTT broker, with a data directory created on first start.
    Serve(ServeArgs),
    /// Print `export` lines that point the AWS CLI, boto3 and MQTT clients at a Roost.
    Env(EnvArgs),
    /// Configuration helpers.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// CA certificates on a running Roost.
    #[command(subcommand)]
    Ca(CaCommand),
    /// Just-in-time provisioning helpers.
    #[command(subcommand)]
    Provision(ProvisionCommand),
}

/// Where a command finds the running Roost.
#[derive(Debug, Args)]
struct Remote {
    #[command(flatten)]
    common: Common,
    /// Control-plane URL (default: $AWS_ENDPOINT_URL_IOT, else the data directory's server).
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    /// CA certificate of an https control plane (default: $ROOST_ROOT_CA, else the data
    /// directory's server CA).
    #[arg(long, value_name = "FILE")]
    cafile: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum CaCommand {
    /// Register your CA in one step: registration code, verification certificate signed with
    /// the CA key, registration (ACTIVE, auto-registration on) with a provisioning template.
    Register {
        #[command(flatten)]
        remote: Remote,
        /// The CA certificate (PEM).
        #[arg(long, value_name = "FILE")]
        ca_cert: PathBuf,
        /// The CA private key (PEM), used only to sign the verification certificate.
        #[arg(long, value_name = "FILE")]
        ca_key: PathBuf,
        /// A registration config ({"templateBody": …, "roleArn": …}, as in the AWS
        /// walkthrough) or a bare provisioning template. Without it: just-in-time registration.
        #[arg(long, value_name = "FILE")]
        template: Option<PathBuf>,
        /// The provisioning role ARN to store (Roost has no IAM; a placeholder otherwise).
        #[arg(long, value_name = "ARN")]
        role_arn: Option<String>,
    },
    /// Revoke every certificate a CA signed and cut their connections (a compromised CA).
    RevokeAll {
        #[command(flatten)]
        remote: Remote,
        /// The CA certificate id.
        ca_id: String,
    },
}

#[derive(Debug, Subcommand)]
enum ProvisionCommand {
    /// Show what just-in-time provisioning would create for a device certificate, changing
    /// nothing.
    Test {
        #[command(flatten)]
        remote: Remote,
        /// The device certificate (PEM).
        #[arg(long, value_name = "FILE")]
        cert: PathBuf,
        /// The CA whose template to use (default: the registered CA that signed the certificate).
        #[arg(long, value_name = "ID")]
        ca_id: Option<String>,
    },
}

impl Remote {
    fn load(&self) -> Result<(Config, commands::Target)> {
        let config = Config::load(
            self.common.config.as_deref(),
            &Overrides {
                data_dir: self.common.data_dir.clone(),
                ..Overrides::default()
            },
        )?;
        let target = commands::Target {
            endpoint: self.endpoint.clone(),
            cafile: self.cafile.clone(),
        };
        Ok((config, target))
    }
}

fn run_remote(future: impl std::future::Future<Output = Result<serde_json::Value>>) -> Result<()> {
    let answer = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(future)?;
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(())
}

#[derive(Debug, Args)]
struct Common {
    /// A TOML configuration file (see `roost config default`).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The data directory (default ./roost-data).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    common: Common,
    /// Control-plane address (default 127.0.0.1:8780; HTTPS unless loopback).
    #[arg(long, value_name = "ADDR")]
    api_listen: Option<SocketAddr>,
    /// MQTT over TLS address (default 0.0.0.0:8883).
    #[arg(long, value_name = "ADDR")]
    mqtt_listen: Option<SocketAddr>,
    /// Devices over HTTPS with their certificates (AWS IoT's port 8443: Publish and shadows,
    /// each authorized by the device's IoT policy); off unless given.
    #[arg(long, value_name = "ADDR")]
    https_data_listen: Option<SocketAddr>,
    /// MQTT over WebSocket on TLS (wss://ADDR/mqtt, the server certificate), presigned with
    /// SigV4 by an access key, for clients that always use TLS; off unless given (the
    /// control plane serves /mqtt too).
    #[arg(long, value_name = "ADDR")]
    wss_listen: Option<SocketAddr>,
    /// INSECURE: also serve plaintext MQTT without client certificates on ADDR (local
    /// development and benchmarks only); needs --insecure-tcp-policy.
    #[arg(long, value_name = "ADDR", requires = "insecure_tcp_policy")]
    insecure_tcp_listen: Option<SocketAddr>,
    /// The IoT policy document (JSON file) that governs every insecure-listener client.
    #[arg(long, value_name = "FILE", requires = "insecure_tcp_listen")]
    insecure_tcp_policy: Option<PathBuf>,
    /// The registry database URL (database.url), e.g. postgres://roost@db/roost.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Join a cluster over this NATS server (cluster.nats_url); needs a PostgreSQL
    /// --database-url shared by every node.
    #[arg(long, value_name = "URL")]
    nats_url: Option<String>,
    /// This node's name in a cluster (cluster.node_id).
    #[arg(long, value_name = "NAME")]
    node_id: Option<String>,
    /// Log format on standard error.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Debug, Args)]
struct EnvArgs {
    #[command(flatten)]
    common: Common,
    /// Print `aws configure set` commands for a profile of this name instead of exports.
    #[arg(long, value_name = "NAME")]
    aws_profile: Option<String>,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the default configuration, with every key documented.
    Default,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let format = args.log_format;
            let config = Config::load(
                args.common.config.as_deref(),
                &Overrides {
                    data_dir: args.common.data_dir,
                    api_listen: args.api_listen,
                    mqtt_listen: args.mqtt_listen,
                    https_data_listen: args.https_data_listen,
                    wss_listen: args.wss_listen,
                    insecure_tcp_listen: args.insecure_tcp_listen,
                    insecure_tcp_policy: args.insecure_tcp_policy,
                    database_url: args.database_url,
                    nats_url: args.nats_url,
                    node_id: args.node_id,
                },
            )?;
            logging::init(format, config.is_clustered().then(|| config.node_id()));
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(serve::run(config))
        }
        Command::Env(args) => {
            let config = Config::load(
                args.common.config.as_deref(),
                &Overrides {
                    data_dir: args.common.data_dir,
                    ..Overrides::default()
                },
            )?;
            let output = match args.aws_profile {
                None => env_command::render(&config)?,
                Some(profile) => env_command::render_profile(&config, &profile)?,
            };
            print!("{output}");
            Ok(())
        }
        Command::Config(ConfigCommand::Default) => {
            print!("{DEFAULT_CONFIG}");
            Ok(())
        }
        Command::Ca(CaCommand::Register {
            remote,
            ca_cert,
            ca_key,
            template,
            role_arn,
        }) => {
            let (config, target) = remote.load()?;
            run_remote(commands::register_ca(
                &config,
                &target,
                &ca_cert,
                &ca_key,
                template.as_deref(),
                role_arn.as_deref(),
            ))
        }
        Command::Ca(CaCommand::RevokeAll { remote, ca_id }) => {
            let (config, target) = remote.load()?;
            run_remote(commands::revoke_all(&config, &target, &ca_id))
        }
        Command::Provision(ProvisionCommand::Test {
            remote,
            cert,
            ca_id,
        }) => {
            let (config, target) = remote.load()?;
            run_remote(commands::provision_test(
                &config,
                &target,
                &cert,
                ca_id.as_deref(),
            ))
        }
    }
}
