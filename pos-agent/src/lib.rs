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
//! - `checks`: open checks, pricing (coupons, points) and the commit.
//! - `returns`: returns of sales in this register's outbox.
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
//! - `backlog_watch`: `status --watch`, the backlog followed as it uploads.
//!
//! Entry points receive their IO: [`run`] takes a bound listener and a
//! shutdown future, so tests run the whole agent in-process on port 0.

mod active_ruleset;
mod agent;
mod api;
pub mod backlog_watch;
mod checks;
mod clock;
pub mod config;
pub mod doctor;
mod enroll;
mod error;
mod identify;
mod quota;
mod returns;
mod scan;
pub mod scan_tools;
mod scanners;
mod store;
mod sync;
mod till_token;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use shared::crypto::SigningKey;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

pub use crate::clock::{Clock, SystemClock};
pub use crate::config::AgentConfig;
pub use crate::enroll::{ExistingEnrollment, enroll, enroll_trusting, enroll_with};
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
    let till_token = till_token::ensure(&config.data_dir).with_context(|| {
        format!(
            "cannot read or make the till's token {}",
            config.data_dir.join(config::API_TOKEN_FILE).display()
        )
    })?;
    let guard = api::guard::Guard::new(
        config.api.listen,
        api_listener.local_addr()?,
        &config.api.allowed_origins,
        config.api.require_token.then_some(till_token),
    );
    let db_path = config.db_path();
    let conn = store::open(&db_path)
        .with_context(|| format!("cannot open the database {}", db_path.display()))?;
    let persisted = store::sync_state::load(&conn)?;
    let monitor = sync::monitor::SyncMonitor::default();
    if let Some(offset) = persisted.clock {
        monitor.observe_clock(offset.into());
    }
    // A restart does not make a register that just spoke to the server
    // count as offline (see `Agent::is_offline`).
    if let Some(at) = persisted.last_contact_at {
        monitor.contacted(at);
    }
    // Below HQ's minimum version before the restart: still below, until
    // the next heartbeat reply says otherwise.
    monitor.set_required_version(persisted.required_agent_version.clone());
    let mut server_keys = shared::keys::TrustedKeys::pinned(
        config.sync.server_public_key,
        config.sync.server_recovery_key,
        config.sync.server_key_seq,
    );
    store::server_keys::load_into(&conn, &mut server_keys)?;
    // Releases stored before a key was revoked were verified when they
    // came: every key known opens them.
    let active = ActiveRuleset::load_effective(
        &conn,
        &server_keys.all(),
        &config.register,
        monitor.latest_server_time(clock.now()),
    )?;
    tracing::info!(
        register_id = %config.sync.register_id,
        ruleset = ?active.version.map(|v| v.get()),
        "starting"
    );
    let till_usage = store::outbox::till_usage(&conn)?;
    let mut agent = Agent::new(
        config,
        key,
        Db::new(conn),
        RulesetSlot::new(active),
        clock,
        till_usage,
    );
    agent.sync_health = Arc::new(monitor);
    agent.server_keys = std::sync::RwLock::new(server_keys);
    agent.reload_leases().await?;
    let agent = Arc::new(agent);

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
        guard: Arc::new(guard),
        metrics: Arc::default(),
    });
    // A reply goes out when written: the till waits on each one, and
    // Nagle's algorithm would hold a reply's tail for the till's ACK.
    let api_listener = axum::serve::ListenerExt::tap_io(api_listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY on a till's connection");
        }
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

/// Creates (if needed) and migrates the database in `data_dir`, as `run`
/// does when it starts; for installers and for tests that seed an outbox.
pub fn prepare_database(data_dir: &Path) -> anyhow::Result<()> {
    let path = database_path(data_dir);
    store::open(&path).with_context(|| format!("cannot open the database {}", path.display()))?;
    Ok(())
}

/// Reads the database beside a running agent, for `pos-agent status`.
pub fn local_status(data_dir: &Path) -> anyhow::Result<store::Summary> {
    let data_dir = &std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    let path = database_path(data_dir);
    if !path.exists() {
        if data_dir.join(config::CONFIG_FILE).exists() {
            anyhow::bail!(
                "{} does not exist yet: start the agent (`pos-agent run` or `systemctl start pos-agent`) and it is created",
                path.display()
            );
        }
        anyhow::bail!(
            "{} is not an enrolled register's directory (no {}): run \
             `pos-agent enroll --server URL --token TOKEN --data-dir {}` first",
            data_dir.display(),
            config::CONFIG_FILE,
            data_dir.display()
        );
    }
    let conn =
        store::open_read_only(&path).with_context(|| format!("cannot open {}", path.display()))?;
    Ok(store::summary(&conn)?)
}

/// How long `pos-agent status` waits for the running agent's own view.
const LIVE_STATUS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// `pos-agent status` as text: the database's figures (upload progress,
/// dead letters, the last recorded error and clock drift) and, when the
/// agent answers on its local API, its live view (reachability, alarms
/// such as a full disk).
pub async fn status_report(data_dir: &Path, config_file: Option<&Path>) -> anyhow::Result<String> {
    let summary = local_status(data_dir)?;
    let live = match AgentConfig::load(data_dir, config_file) {
        Ok(config) => live_status(&config).await,
        Err(err) => {
            tracing::debug!(error = %err, "no configuration; not asking the running agent");
            None
        }
    };
    Ok(sync::status::render(
        &summary,
        live.as_ref(),
        chrono::Utc::now(),
    ))
}

async fn live_status(config: &AgentConfig) -> Option<shared::wire::till::AgentStatus> {
    let mut addr = config.api.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let http = reqwest::Client::builder()
        .timeout(LIVE_STATUS_TIMEOUT)
        .build()
        .ok()?;
    let mut request = http.get(format!("http://{addr}/v1/status"));
    if let Ok(token) = till_token::read(&config.data_dir) {
        use secrecy::ExposeSecret as _;
        request = request.bearer_auth(token.expose_secret());
    }
    let reply = request.send().await.ok()?;
    reply.error_for_status().ok()?.json().await.ok()
}
