//! `pos-agent`: the daemon on each register. It serves the till's local
//! API, reads the barcode scanners, prices checks with the cached ruleset,
//! commits signed purchase records to a local SQLite outbox before it
//! answers, and syncs with the server in the background. It keeps selling
//! with the network down for weeks.
//!
//! # Layout
//!
//! - `config`: layered settings ([`AgentConfig`]).
//! - `enroll`: one-time enrollment with the server.
//! - `store/`: the SQLite database (outbox, rulesets, customers).
//! - `checks`: open checks, pricing and the commit.
//! - `identify`: customers from tokens, cards and phone numbers.
//! - `scan`: classification of scans ([`Classifier`]) and the scan handler.
//! - `scanners`: the scanner readers ([`ScannerSource`]) and their states.
//! - `scan_tools`: the scanner commands of the CLI (`scan-image`, …).
//! - `active_ruleset`: the ruleset in use, swapped without a restart.
//! - `api/`: the local HTTP API and its event stream; `error`: its errors.
//! - `sync/`: upload, ruleset long-poll, customer changes, backoff.
//! - `agent`: the shared state of a running agent.
//! - `clock`: injected time.
//! - `doctor`: installation checks for store IT.
//!
//! Entry points receive their IO: [`run`] takes a bound listener and a
//! shutdown future, so tests run the whole agent in-process on port 0.

mod active_ruleset;
mod agent;
mod api;
mod checks;
mod clock;
pub mod config;
pub mod doctor;
mod enroll;
mod error;
mod identify;
mod scan;
pub mod scan_tools;
mod scanners;
mod store;
mod sync;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use shared::crypto::SigningKey;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

pub use crate::clock::{Clock, SystemClock};
pub use crate::config::AgentConfig;
pub use crate::enroll::{ExistingEnrollment, enroll, enroll_with};
pub use crate::identify::Credential;
pub use crate::scan::{Classified, Classifier, TokenCheck};
pub use crate::scanners::ScannerSource;
pub use crate::store::Summary;

use crate::active_ruleset::{ActiveRuleset, RulesetSlot};
use crate::agent::{Agent, stop_signal};
use crate::scanners::Scanners;
use crate::store::Db;

/// This agent's version: sent at enrollment, checked against a ruleset's
/// `min_agent_version`.
const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Runs the agent with the system clock until `shutdown` resolves.
pub async fn run(
    config: AgentConfig,
    api_listener: TcpListener,
    scanners: Vec<ScannerSource>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    run_with_clock(
        config,
        api_listener,
        scanners,
        Arc::new(SystemClock),
        shutdown,
    )
    .await
}

/// Runs the agent with the given clock until `shutdown` resolves: opens
/// and migrates the database, loads the last good ruleset, serves the local
/// API on `api_listener`, reads the scanners and syncs in the background.
/// On shutdown it stops every task and reader thread, then returns.
pub async fn run_with_clock(
    config: AgentConfig,
    api_listener: TcpListener,
    scanners: Vec<ScannerSource>,
    clock: Arc<dyn Clock>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let key = load_key(&config.key_path())?;
    let db_path = config.db_path();
    let conn = store::open(&db_path)
        .with_context(|| format!("cannot open the database {}", db_path.display()))?;
    let active =
        ActiveRuleset::load_newest(&conn, &config.sync.server_public_key, &config.register)?;
    tracing::info!(
        register_id = %config.sync.register_id,
        ruleset = ?active.version.map(|v| v.get()),
        "starting"
    );
    let agent = Arc::new(Agent::new(
        config,
        key,
        Db::new(conn),
        RulesetSlot::new(active),
        clock,
    ));

    let (trigger, stop) = stop_signal();
    let mut tasks = JoinSet::new();
    sync::spawn(&agent, &stop, &mut tasks)?;
    let scanners = Arc::new(Scanners::start(scanners, &agent, &stop, &mut tasks));

    let shutdown_watch = tokio::spawn({
        let trigger = trigger.clone();
        async move {
            shutdown.await;
            trigger.stop();
        }
    });
    tracing::info!(addr = %api_listener.local_addr()?, "local API listening");
    let app = api::router(api::ApiState {
        agent: Arc::clone(&agent),
        stop: stop.clone(),
        scanners: Arc::clone(&scanners),
    });
    let served = axum::serve(api_listener, app)
        .with_graceful_shutdown(async move { stop.requested().await })
        .await;

    shutdown_watch.abort();
    trigger.stop();
    scanners.stop();
    while tasks.join_next().await.is_some() {}
    scanners.join().await;
    tracing::info!("stopped");
    served.context("the local API failed")
}

fn load_key(path: &Path) -> anyhow::Result<SigningKey> {
    let pkcs8 = std::fs::read(path).with_context(|| {
        format!(
            "cannot read the register key {}; enroll the register first",
            path.display()
        )
    })?;
    SigningKey::from_pkcs8(&pkcs8).with_context(|| format!("{} is not a valid key", path.display()))
}

/// The agent's SQLite database in a data directory.
#[must_use]
pub fn database_path(data_dir: &Path) -> PathBuf {
    data_dir.join(config::DB_FILE)
}

/// Reads the database beside a running agent, for `pos-agent status`.
pub fn local_status(data_dir: &Path) -> anyhow::Result<store::Summary> {
    let path = database_path(data_dir);
    anyhow::ensure!(
        path.exists(),
        "{} does not exist yet: `pos-agent run` creates it",
        path.display()
    );
    let conn =
        store::open_read_only(&path).with_context(|| format!("cannot open {}", path.display()))?;
    Ok(store::summary(&conn)?)
}
