//! The `pos-agent` command line: `enroll`, `run`, `status`, `doctor`, and
//! the scanner tools `scan-image`, `scanners` and `scan-test`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use hardware::KeyboardLayout;
use pos_agent::scan_tools::{self, TestDevice};
use pos_agent::{AgentConfig, ExistingEnrollment, ScannerSource};
use serde::Deserialize;
use serde::de::IntoDeserializer;

#[derive(Parser)]
#[command(version, about = "The loyalty daemon on each register")]
struct Cli {
    /// How log lines are written.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}
/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// Plain lines; coloured only on a terminal (never in a pipe or journald).
    Text,
    /// One JSON object per line, with the span fields (request id, register).
    Json,
}

/// Logs to stderr at `RUST_LOG` (default info) in `format`.
fn init_logs(format: LogFormat) {
    use std::io::IsTerminal as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().with_current_span(true).init(),
    }
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
        /// A PEM file of the private CA that issued the server's
        /// certificate (kept as `sync.ca_cert`).
        #[arg(long)]
        ca_cert: Option<PathBuf>,
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
        /// Then follow the backlog as the running agent uploads it (a
        /// progress bar on a terminal, a line per change otherwise), until
        /// nothing is left to send or Ctrl-C.
        #[arg(long)]
        watch: bool,
    },
    /// Check the installation: configuration, key, database, server, scanners.
    Doctor {
        #[arg(long, default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// List serial ports and HID keyboards, the configured scanners, and
    /// their state in the running agent.
    Scanners {
        #[arg(long, default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Open one scanner and show its raw bytes and scans live, until Ctrl-C.
    /// Stop the agent first: it holds its scanners exclusively.
    ScanTest {
        /// The device, such as /dev/serial/by-id/… or /dev/input/by-id/…-event-kbd.
        #[arg(long)]
        device: String,
        /// A HID keyboard-wedge scanner (evdev) rather than a serial one.
        #[arg(long)]
        hid: bool,
        /// Serial baud rate (default: the configured scanner's, else 9600).
        #[arg(long, conflicts_with = "hid")]
        baud: Option<u32>,
        /// Layout a HID scanner emulates: us, de or fr (default: the
        /// configured scanner's, else us).
        #[arg(long, requires = "hid")]
        layout: Option<String>,
        /// An enrolled register's data directory, for the configured
        /// settings of the device and to verify customer tokens.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Decode the QR codes in images and show how each would be classified.
    ScanImage {
        /// PNG or JPEG images: screenshots, camera frames, photos.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// An enrolled register's data directory, to verify customer tokens
        /// with the server keys it trusts (without it, tokens are not
        /// verified).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

const DEFAULT_DATA_DIR: &str = "/var/lib/pos-agent";

#[tokio::main]
async fn main() -> ExitCode {
    // Logs go to stderr, so the commands' reports on stdout stay clean.
    let cli = Cli::parse();
    init_logs(cli.log_format);
    // An error is one line with its causes, never a backtrace, whatever
    // RUST_BACKTRACE says: an operator reads it, not a debugger.
    match run(cli.command).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Enroll {
            server,
            token,
            data_dir,
            force,
            ca_cert,
        } => {
            let existing = if force {
                ExistingEnrollment::Replace
            } else {
                ExistingEnrollment::Refuse
            };
            let config = pos_agent::enroll_trusting(
                &server,
                &token,
                &data_dir,
                existing,
                ca_cert.as_deref(),
            )
            .await?;
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
            let mut scanners = ScannerSource::configured(&config);
            if stdin_scanner {
                scanners.push(ScannerSource::Stdin);
            }
            pos_agent::run(config, listener, scanners, shutdown_signal()).await?;
        }
        Command::Status {
            data_dir,
            config,
            watch,
        } => {
            print!(
                "{}",
                pos_agent::status_report(&data_dir, config.as_deref()).await?
            );
            if watch {
                let ctrl_c = async {
                    // Without a handler, Ctrl-C ends the process anyway.
                    if tokio::signal::ctrl_c().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                };
                let end = pos_agent::backlog_watch::watch(
                    &data_dir,
                    pos_agent::backlog_watch::POLL,
                    ctrl_c,
                )
                .await?;
                if end == pos_agent::backlog_watch::WatchEnd::Interrupted {
                    return Ok(ExitCode::from(130));
                }
            }
        }
        Command::ScanImage {
            files,
            data_dir,
            config,
        } => {
            let register = scan_tools::register_config(data_dir.as_deref(), config.as_deref());
            let (classifier, note) = scan_tools::classifier_for(&register);
            let report = scan_tools::scan_images(&files, &classifier, note);
            print!("{report}");
            if report.any_failed() {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Scanners { data_dir, config } => {
            let register = scan_tools::register_config(Some(&data_dir), config.as_deref());
            print!("{}", scan_tools::list_scanners(&register).await);
        }
        Command::ScanTest {
            device,
            hid,
            baud,
            layout,
            data_dir,
            config,
        } => {
            let register = scan_tools::register_config(data_dir.as_deref(), config.as_deref());
            let mut device = if hid {
                TestDevice::hid(&device, register.as_ref().ok())
            } else {
                TestDevice::serial(&device, register.as_ref().ok())
            };
            match &mut device {
                TestDevice::Serial(cfg) => cfg.baud = baud.unwrap_or(cfg.baud),
                TestDevice::Hid(cfg) => {
                    if let Some(layout) = layout {
                        cfg.layout =
                            KeyboardLayout::deserialize(layout.as_str().into_deserializer())
                                .map_err(|err: serde::de::value::Error| {
                                    anyhow::anyhow!("--layout: {err}")
                                })?;
                    }
                }
            }
            let (classifier, note) = scan_tools::classifier_for(&register);
            println!("({note})");
            let mut out = std::io::stdout();
            scan_tools::scan_test(device, &classifier, &mut out, shutdown_signal()).await?;
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
