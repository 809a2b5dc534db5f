//! `sync-server`: `serve` runs the server; `admin` talks to a running
//! server's admin API.

mod admin_cli;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use sync_server::Settings;
use sync_server::config::CliOverrides;

/// The central loyalty server.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the server until Ctrl-C or SIGTERM.
    Serve(ServeArgs),
    /// Calls the admin API of a running server.
    Admin(admin_cli::AdminArgs),
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Holds the database and the signing key.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The address to listen on [default: 127.0.0.1:8640].
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// A TOML configuration file [default: <data_dir>/server.toml if present].
    #[arg(long)]
    config: Option<PathBuf>,
    /// The admin API's bearer token (prefer the config file or
    /// SYNC_SERVER__ADMIN_TOKEN: flags show in the process list).
    #[arg(long)]
    admin_token: Option<String>,
    /// A PostgreSQL URL (`postgres://USER@HOST/DB`) to keep the data in,
    /// shared by every instance pointed at it [default: SQLite in the data
    /// directory]; also `[database] url` or SYNC_SERVER__DATABASE__URL.
    #[arg(long)]
    database_url: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let outcome = match Cli::parse().command {
        Command::Serve(args) => serve(args).await,
        Command::Admin(args) => admin_cli::run(args).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    raise_open_files_limit();
    let overrides = CliOverrides {
        data_dir: args.data_dir,
        listen: args.listen,
        admin_token: args.admin_token,
        database: args
            .database_url
            .map(|url| sync_server::config::CliDatabase { url }),
    };
    let settings = Settings::load(args.config.as_deref(), &overrides)?;
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("listen on {}", settings.listen))?;
    sync_server::serve(settings, listener, stop_signal()).await
}

/// Raises the soft limit on open files to the hard limit, as a server
/// should: every waiting long-poll holds a socket, and the usual soft limit
/// of 1 024 would refuse registers long before memory or CPU run short.
fn raise_open_files_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok(limits) => limits,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the open files limit");
            return;
        }
    };
    if soft >= hard {
        tracing::info!(open_files = soft, "open files limit");
        return;
    }
    match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
        Ok(()) => tracing::info!(from = soft, to = hard, "raised the open files limit"),
        Err(e) => tracing::warn!(error = %e, soft, hard, "cannot raise the open files limit"),
    }
}

/// Completes on Ctrl-C, or on SIGTERM where there is one.
async fn stop_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
