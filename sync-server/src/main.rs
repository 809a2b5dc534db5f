//! `sync-server`: `serve` runs the server; `admin` talks to a running
//! server's admin API; `backup` and `restore` copy its data and key;
//! `keys` makes the recovery key, rotates the signing key and lists the
//! key chain.

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

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the server until Ctrl-C or SIGTERM.
    Serve(ServeArgs),
    /// Calls the admin API of a running server.
    Admin(admin_cli::AdminArgs),
    /// Copies the database and the signing key into a new directory, while
    /// the server runs.
    Backup(BackupArgs),
    /// Puts a backup back into an empty data directory of a stopped server.
    Restore(RestoreArgs),
    /// The signing key's recovery key, rotation and chain (run with the
    /// server stopped).
    Keys(KeysArgs),
}

#[derive(Debug, clap::Args)]
struct KeysArgs {
    /// The server's data directory.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// The server's configuration file [default: <data_dir>/server.toml if present].
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// A PostgreSQL URL, when the server keeps its data there.
    #[arg(long, global = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Makes the recovery key: its private half goes to FILE (keep it
    /// offline), its public half to the registers.
    RecoveryInit {
        /// The file to write the recovery key to (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
    /// Makes a new signing key the registers follow: endorsed by the
    /// recovery key (the signing key was lost) or by the current key.
    Rotate {
        /// The recovery key file, when the signing key is lost.
        #[arg(long)]
        recovery_key: Option<PathBuf>,
        /// Registers stop trusting the old key (lost or stolen).
        #[arg(long)]
        revoke_old: bool,
    },
    /// Shows the signing keys, the recovery key and the endorsements.
    List,
}

#[derive(Debug, clap::Args)]
struct BackupArgs {
    /// The server's data directory.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The server's configuration file [default: <data_dir>/server.toml if present].
    #[arg(long)]
    config: Option<PathBuf>,
    /// A new (or empty) directory to write the backup into.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Debug, clap::Args)]
struct RestoreArgs {
    /// The backup directory.
    #[arg(long)]
    from: PathBuf,
    /// The data directory to restore into; it must hold no database.
    #[arg(long)]
    data_dir: PathBuf,
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
    let cli = Cli::parse();
    init_logs(cli.log_format);
    let outcome = match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Admin(args) => admin_cli::run(args).await,
        Command::Backup(args) => backup(args).await,
        Command::Restore(args) => {
            sync_server::backup::restore(&args.from, &args.data_dir).map_err(Into::into)
        }
        Command::Keys(args) => keys(args).await,
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

/// `sync-server keys …`: on the data directory and database of a stopped
/// server.
async fn keys(args: KeysArgs) -> anyhow::Result<()> {
    use shared::keys::{KeyChange, SignedBy};
    use sync_server::keys;
    let overrides = CliOverrides {
        data_dir: args.data_dir,
        admin_token: Some("unused-by-keys".into()),
        database: args
            .database_url
            .map(|url| sync_server::config::CliDatabase { url }),
        ..CliOverrides::default()
    };
    let settings = Settings::load(args.config.as_deref(), &overrides)?;
    let db = sync_server::open_repository(&settings).await?;
    let dir = &settings.data_dir;
    let now = chrono::Utc::now();
    match args.command {
        KeysCommand::RecoveryInit { out } => {
            let key = keys::recovery_init(dir, &db, &out, now).await?;
            println!(
                "recovery key (id {}) written to {}\n  keep it OFFLINE (a USB stick in a safe), \
                 never on the server; registers pin its public half {}",
                key.key_id(),
                out.display(),
                key.to_base64()
            );
        }
        KeysCommand::Rotate {
            recovery_key,
            revoke_old,
        } => {
            let rotation = keys::rotate(dir, &db, recovery_key.as_deref(), revoke_old, now).await?;
            println!(
                "new signing key (id {}) {}, endorsement {} signed by the {}",
                rotation.new_key.key_id(),
                rotation.new_key.to_base64(),
                rotation.endorsement.seq,
                match rotation.endorsement.signed_by {
                    SignedBy::Recovery => "recovery key",
                    SignedBy::SigningKey => "old signing key",
                }
            );
            println!(
                "old key (id {}) {}",
                rotation.old_key.key_id(),
                if revoke_old { "revoked" } else { "retired" }
            );
            if let Some(file) = rotation.retired_file {
                println!("  old key file moved to {}", file.display());
            }
            println!("start the server: registers follow on their next contact");
        }
        KeysCommand::List => {
            let chain = keys::chain(&db).await?;
            println!(
                "current signing key: id {} {}",
                chain.current.key_id(),
                chain.current.to_base64()
            );
            match chain.recovery_key {
                Some(k) => println!("recovery key: id {} {}", k.key_id(), k.to_base64()),
                None => println!(
                    "recovery key: none (make one: sync-server keys recovery-init --out FILE)"
                ),
            }
            for e in &chain.endorsements {
                let by = match e.signed_by {
                    SignedBy::Recovery => "recovery key",
                    SignedBy::SigningKey => "signing key",
                };
                match e.change {
                    KeyChange::Rotate {
                        new_key,
                        replaces,
                        revoke,
                    } => println!(
                        "{:>4}  rotate  id {} -> id {}{}  (signed by the {by})",
                        e.seq,
                        replaces.key_id(),
                        new_key.key_id(),
                        if revoke { ", old revoked" } else { "" }
                    ),
                    KeyChange::Recovery {
                        recovery_key,
                        by: key,
                    } => println!(
                        "{:>4}  recovery key id {} endorsed by id {}",
                        e.seq,
                        recovery_key.key_id(),
                        key.key_id()
                    ),
                }
            }
        }
    }
    Ok(())
}

/// `sync-server backup`: the data directory's key and SQLite database (or
/// the key and `pg_dump` guidance on PostgreSQL), with a progress bar.
async fn backup(args: BackupArgs) -> anyhow::Result<()> {
    // The admin token is not needed to copy files; a placeholder satisfies
    // the settings check when no configuration names one.
    let overrides = CliOverrides {
        data_dir: args.data_dir,
        admin_token: Some("unused-by-backup".into()),
        ..CliOverrides::default()
    };
    let settings = Settings::load(args.config.as_deref(), &overrides)?;
    let on_postgres = settings.database.url.is_some();
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} pages")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message("backing up");
    let (data_dir, out) = (settings.data_dir.clone(), args.out.clone());
    let progress_bar = bar.clone();
    let report = tokio::task::spawn_blocking(move || {
        sync_server::backup::backup(&data_dir, &out, !on_postgres, |done, total| {
            progress_bar.set_length(total);
            progress_bar.set_position(done);
        })
    })
    .await??;
    bar.finish_and_clear();
    println!("backed up into {}", report.dir.display());
    if let Some(database) = &report.database {
        println!("  database: {}", database.display());
    }
    println!("  signing key: {}", report.key.display());
    if on_postgres {
        println!("  {}", sync_server::backup::pg_dump_guidance());
    }
    println!(
        "restore with: sync-server restore --from {} --data-dir <empty data directory>",
        report.dir.display()
    );
    Ok(())
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
