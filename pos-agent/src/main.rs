//! The `pos-agent` command line: `enroll`, `run`, `status`, `doctor`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use pos_agent::{AgentConfig, ExistingEnrollment, ScannerSource};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(version, about = "The loyalty daemon on each register")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Enroll this register with a one-time token from the merchant.
    Enroll {
        /// The sync server, e.g. https://loyalty.example.
        #[arg(long)]
        server: String,
        /// The one-time enrollment token.
        #[arg(long)]
        token: String,
        #[arg(long, default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        /// Replace an existing enrollment.
        #[arg(long)]
        force: bool,
    },
    /// Run the agent.
    Run {
        #[arg(long, default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        /// Configuration file (default: <data-dir>/agent.toml).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Address of the local API (overrides the configuration).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Also read scans from standard input, one per line.
        #[arg(long)]
        stdin_scanner: bool,
    },
    /// Show upload progress, dead letters, alarms, clock drift and caches:
    /// from the database, and live from the running agent if it answers.
    Status {
        #[arg(long, default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        /// Configuration file (default: <data-dir>/agent.toml).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Check the installation: configuration, key, database, server, scanners.
    Doctor {
        #[arg(long, default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

const DEFAULT_DATA_DIR: &str = "/var/lib/pos-agent";

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    match Cli::parse().command {
        Command::Enroll {
            server,
            token,
            data_dir,
            force,
        } => {
            let existing = if force {
                ExistingEnrollment::Replace
            } else {
                ExistingEnrollment::Refuse
            };
            let config = pos_agent::enroll_with(&server, &token, &data_dir, existing).await?;
            println!(
                "enrolled as register {} of store {}; configuration in {}",
                config.sync.register_id,
                config.register.store_id,
                data_dir.join(pos_agent::config::CONFIG_FILE).display()
            );
        }
        Command::Run {
            data_dir,
            config,
            listen,
            stdin_scanner,
        } => {
            let mut config = AgentConfig::load(&data_dir, config.as_deref())
                .context("is the register enrolled? (`pos-agent enroll`)")?;
            if let Some(listen) = listen {
                config.api.listen = listen;
            }
            let listener = tokio::net::TcpListener::bind(config.api.listen)
                .await
                .with_context(|| format!("cannot listen on {}", config.api.listen))?;
            let mut scanners: Vec<ScannerSource> = config
                .scanners
                .iter()
                .cloned()
                .map(ScannerSource::Serial)
                .collect();
            if stdin_scanner {
                scanners.push(ScannerSource::Stdin);
            }
            pos_agent::run(config, listener, scanners, shutdown_signal()).await?;
        }
        Command::Status { data_dir, config } => {
            print!(
                "{}",
                pos_agent::status_report(&data_dir, config.as_deref()).await?
            );
        }
        Command::Doctor { data_dir, config } => {
            let report = pos_agent::doctor::doctor(&data_dir, config.as_deref()).await;
            print!("{report}");
            if !report.passed() {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
