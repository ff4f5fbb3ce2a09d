//! The `roost` binary: `serve` runs the gateway, `env` points shells at it, `config default`
//! prints the documented configuration.

mod config;
mod data_dir;
mod env_command;
mod https;
mod serve;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{Config, DEFAULT_CONFIG, Overrides};

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
    /// INSECURE: also serve plaintext MQTT without client certificates on ADDR (local
    /// development and benchmarks only); needs --insecure-tcp-policy.
    #[arg(long, value_name = "ADDR", requires = "insecure_tcp_policy")]
    insecure_tcp_listen: Option<SocketAddr>,
    /// The IoT policy document (JSON file) that governs every insecure-listener client.
    #[arg(long, value_name = "FILE", requires = "insecure_tcp_listen")]
    insecure_tcp_policy: Option<PathBuf>,
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

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            init_logging(args.log_format);
            let config = Config::load(
                args.common.config.as_deref(),
                &Overrides {
                    data_dir: args.common.data_dir,
                    api_listen: args.api_listen,
                    mqtt_listen: args.mqtt_listen,
                    insecure_tcp_listen: args.insecure_tcp_listen,
                    insecure_tcp_policy: args.insecure_tcp_policy,
                },
            )?;
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
    }
}
