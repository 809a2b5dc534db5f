//! Starts the real server and real agents in-process on port 0, each with
//! its own data directory and a real pseudo-terminal as its scanner, and
//! stops and restarts them on the same address and data to simulate
//! outages.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use test_kit::poll::Deadline;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::clients::{AdminClient, TillClient};
use crate::pty::ScannerPty;

/// The PostgreSQL the tests use: `LOYALTY_TEST_POSTGRES_URL`, else the one
/// every machine of this project runs.
#[must_use]
pub fn postgres_base_url() -> String {
    std::env::var("LOYALTY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// Whether the test servers keep their data in PostgreSQL
/// (`LOYALTY_TEST_DATABASE=postgres`) instead of SQLite in their data
/// directories.
#[must_use]
pub fn on_postgres() -> bool {
    std::env::var("LOYALTY_TEST_DATABASE").is_ok_and(|v| v.eq_ignore_ascii_case("postgres"))
}

/// The database URL of the test server over `data_dir` when the tests run
/// on PostgreSQL: a schema of its own, made the first time and remembered
/// in the data directory, so a restarted server finds its data again.
pub fn test_database_url(data_dir: &Path) -> anyhow::Result<Option<String>> {
    if !on_postgres() {
        return Ok(None);
    }
    let remembered = data_dir.join("test-database-url");
    if let Ok(url) = std::fs::read_to_string(&remembered) {
        return Ok(Some(url));
    }
    let base = postgres_base_url();
    // The helper speaks PostgreSQL synchronously: keep it off the runtime.
    let (url, _schema) =
        std::thread::spawn(move || sync_server::db::postgres_test_schema_url(&base))
            .join()
            .map_err(|_| anyhow::anyhow!("making a test schema panicked"))??;
    std::fs::create_dir_all(data_dir)?;
    std::fs::write(&remembered, &url)?;
    Ok(Some(url))
}

/// A running service with a way to stop it.
pub(crate) struct Running {
    pub(crate) stop: oneshot::Sender<()>,
    pub(crate) task: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    pub(crate) async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .context("service did not stop within 30 s")?
            .context("service task panicked")?
    }
}

pub(crate) fn shutdown_signal() -> (
    oneshot::Sender<()>,
    impl Future<Output = ()> + Send + 'static,
) {
    let (tx, rx) = oneshot::channel::<()>();
    (tx, async move {
        let _ = rx.await;
    })
}

/// Binds `addr`, retrying briefly while a just-closed listener lets go.
pub(crate) async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    let deadline = Deadline::after(Duration::from_secs(5)).every(Duration::from_millis(100));
    loop {
        match TcpListener::bind(addr).await {
            Ok(l) => return Ok(l),
            Err(e) => deadline.tick(|| format!("bind {addr}: {e}")).await?,
        }
    }
}

/// The server under test.
pub struct TestServer {
    addr: SocketAddr,
    admin_token: String,
    data_dir: PathBuf,
    /// More settings as TOML, appended to the test defaults.
    extra_settings: String,
    /// The server's clock, when the test moves time on.
    clock: Option<Arc<sync_server::clock::ManualClock>>,
    /// The CA (PEM) that issued the server's certificate when it serves
    /// HTTPS itself (`[tls]`).
    tls_ca: Option<Vec<u8>>,
    running: Option<Running>,
}

impl TestServer {
    /// Starts a server on 127.0.0.1 port 0 over `data_dir`.
    pub async fn start(data_dir: &Path) -> anyhow::Result<Self> {
        Self::start_at(data_dir, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts a server on `addr` over `data_dir`.
    pub async fn start_at(data_dir: &Path, addr: SocketAddr) -> anyhow::Result<Self> {
        Self::start_with(data_dir, addr, "").await
    }

    /// Starts a server on `addr` over `data_dir` with more settings, given
    /// as TOML tables after the test defaults (such as
    /// `"[ingest]\nmax_concurrent_batches = 2\n"`); a `[longpoll]` table
    /// there replaces the tests' 2 s long-polls.
    pub async fn start_with(
        data_dir: &Path,
        addr: SocketAddr,
        extra_settings: &str,
    ) -> anyhow::Result<Self> {
        Self::start_on_clock(data_dir, addr, extra_settings, None).await
    }

    /// [`Self::start_with`] on `clock`: the server and its background tasks
    /// (referral rewards, campaigns, scheduled publishes) read the time from
    /// it, so a test can move days on; restarts keep it.
    pub async fn start_with_clock(
        data_dir: &Path,
        addr: SocketAddr,
        extra_settings: &str,
        clock: Arc<sync_server::clock::ManualClock>,
    ) -> anyhow::Result<Self> {
        Self::start_on_clock(data_dir, addr, extra_settings, Some(clock)).await
    }

    async fn start_on_clock(
        data_dir: &Path,
        addr: SocketAddr,
        extra_settings: &str,
        clock: Option<Arc<sync_server::clock::ManualClock>>,
    ) -> anyhow::Result<Self> {
        let mut server = TestServer {
            addr,
            admin_token: "test-admin-token-0123456789".to_owned(),
            data_dir: data_dir.to_owned(),
            extra_settings: extra_settings.to_owned(),
            clock,
            tls_ca: None,
            running: None,
        };
        server.launch().await?;
        Ok(server)
    }

    /// Starts a server on 127.0.0.1 port 0 that serves HTTPS itself with
    /// the PEM certificate chain and key at `cert_path` and `key_path`,
    /// issued by the CA `ca_pem`, which its clients here trust.
    pub async fn start_tls(
        data_dir: &Path,
        cert_path: &Path,
        key_path: &Path,
        ca_pem: &[u8],
    ) -> anyhow::Result<Self> {
        let mut server = TestServer {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin_token: "test-admin-token-0123456789".to_owned(),
            data_dir: data_dir.to_owned(),
            extra_settings: format!(
                "[tls]\ncert_path = {:?}\nkey_path = {:?}\n",
                cert_path.display().to_string(),
                key_path.display().to_string()
            ),
            clock: None,
            tls_ca: Some(ca_pem.to_owned()),
            running: None,
        };
        server.launch().await?;
        Ok(server)
    }

    /// An HTTP client for this server: it trusts the server's CA when the
    /// server speaks HTTPS.
    pub fn http(&self) -> anyhow::Result<reqwest::Client> {
        let mut builder = reqwest::Client::builder();
        if let Some(pem) = &self.tls_ca {
            builder = builder.add_root_certificate(reqwest::Certificate::from_pem(pem)?);
        }
        Ok(builder.build()?)
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    async fn launch(&mut self) -> anyhow::Result<()> {
        let listener = bind(self.addr).await?;
        self.addr = listener.local_addr()?;
        // Built from TOML, as an operator would write it, so settings added
        // later with defaults need no change here.
        // Short long-polls, unless the extra settings say how long.
        let longpoll = if self.extra_settings.contains("[longpoll]") {
            ""
        } else {
            "[longpoll]\nmax_wait_secs = 2\n"
        };
        let mut settings = sync_server::Settings::from_toml(&format!(
            "admin_token = {:?}\n{longpoll}{}",
            self.admin_token, self.extra_settings
        ))?;
        settings.data_dir = self.data_dir.clone();
        settings.listen = self.addr;
        if let Some(url) = test_database_url(&self.data_dir)? {
            settings.database.url = Some(url.into());
        }
        let (stop, shutdown) = shutdown_signal();
        let task = match self.clock.clone() {
            None => tokio::spawn(sync_server::serve(settings, listener, shutdown)),
            Some(clock) => tokio::spawn(sync_server::serve_with_clock(
                settings, clock, listener, shutdown,
            )),
        };
        self.running = Some(Running { stop, task });
        self.wait_healthy().await
    }

    async fn wait_healthy(&self) -> anyhow::Result<()> {
        let http = self.http()?;
        let deadline = Deadline::after(Duration::from_secs(10));
        loop {
            if let Ok(r) = http.get(format!("{}/health", self.url())).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            deadline
                .tick(|| format!("server at {} did not become healthy", self.url()))
                .await?;
        }
    }

    /// The base URL.
    pub fn url(&self) -> String {
        let scheme = if self.tls_ca.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// The admin bearer token.
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// An admin API client.
    pub fn admin(&self) -> AdminClient {
        match self.http() {
            Ok(http) => AdminClient::with_http(&self.url(), &self.admin_token, http),
            Err(_) => AdminClient::new(&self.url(), &self.admin_token),
        }
    }

    /// Stops the server (the network "goes down" for every agent).
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(r) = self.running.take() {
            r.stop().await?;
        }
        Ok(())
    }

    /// Starts it again on the same address and data.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop().await?;
        self.launch().await
    }
}

/// How agents under test are tuned: short waits so tests stay quick.
pub fn tune_for_tests(config: &mut pos_agent::AgentConfig) {
    config.sync.upload_interval_ms = 100;
    config.sync.heartbeat_secs = 1;
    config.sync.longpoll_wait_secs = 2;
    config.sync.backoff_initial_ms = 50;
    config.sync.backoff_max_ms = 400;
}

/// How long a helper waits for an agent it started to answer.
const AGENT_PATIENCE: Duration = Duration::from_secs(20);

/// The one agent under test: the real agent in-process on 127.0.0.1, with
/// a till client for its local API. Started by [`TestAgent::enroll`] with a
/// real pty as its scanner, or from a configuration by
/// [`TestAgent::start`] without one (so a test can run many), on the
/// system clock or one the test injects ([`TestAgent::start_with`]).
pub struct TestAgent {
    /// The till's client for the agent's local API.
    pub till: TillClient,
    /// The configuration it runs with.
    pub config: pos_agent::AgentConfig,
    scanner: Option<ScannerPty>,
    clock: Arc<dyn pos_agent::Clock>,
    api_addr: SocketAddr,
    running: Option<Running>,
}

/// How a [`TestAgent`] is started beyond its configuration.
#[derive(Clone, Default)]
pub struct AgentOptions {
    /// A fresh pty as its serial scanner.
    pub scanner: bool,
    /// Its clock; the system's when `None`.
    pub clock: Option<Arc<dyn pos_agent::Clock>>,
}

impl TestAgent {
    /// Enrolls a register at `server_url` with a one-time token into
    /// `data_dir`, tunes it for tests, then starts it with a fresh pty as
    /// its scanner.
    pub async fn enroll(
        server_url: &str,
        enrollment_token: &str,
        data_dir: &Path,
    ) -> anyhow::Result<Self> {
        let mut config = pos_agent::enroll(server_url, enrollment_token, data_dir).await?;
        tune_for_tests(&mut config);
        Self::start_with(
            config,
            AgentOptions {
                scanner: true,
                clock: None,
            },
        )
        .await
    }

    /// Starts an agent with `config`, no scanner and the system clock.
    pub async fn start(config: pos_agent::AgentConfig) -> anyhow::Result<Self> {
        Self::start_with(config, AgentOptions::default()).await
    }

    /// Starts an agent with `config`, no scanner and `clock`.
    pub async fn start_with_clock(
        config: pos_agent::AgentConfig,
        clock: Arc<dyn pos_agent::Clock>,
    ) -> anyhow::Result<Self> {
        Self::start_with(
            config,
            AgentOptions {
                scanner: false,
                clock: Some(clock),
            },
        )
        .await
    }

    /// Starts an agent with `config` as `options` say.
    pub async fn start_with(
        config: pos_agent::AgentConfig,
        options: AgentOptions,
    ) -> anyhow::Result<Self> {
        let scanner = if options.scanner {
            Some(ScannerPty::open()?)
        } else {
            None
        };
        let mut agent = TestAgent {
            till: TillClient::new("http://127.0.0.1:0"),
            config,
            scanner,
            clock: options
                .clock
                .unwrap_or_else(|| Arc::new(pos_agent::SystemClock)),
            api_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            running: None,
        };
        agent.launch().await?;
        Ok(agent)
    }

    async fn launch(&mut self) -> anyhow::Result<()> {
        let listener = bind(self.api_addr).await?;
        self.api_addr = listener.local_addr()?;
        self.till = TillClient::new(&format!("http://{}", self.api_addr));
        let scanners = self
            .scanner
            .iter()
            .map(|pty| {
                pos_agent::ScannerSource::Serial(hardware::SerialConfig {
                    path: pty.path().display().to_string(),
                    baud: 9600,
                    ..Default::default()
                })
            })
            .collect();
        let (stop, shutdown) = shutdown_signal();
        let task = tokio::spawn(pos_agent::run_with_clock(
            self.config.clone(),
            listener,
            scanners,
            Arc::clone(&self.clock),
            shutdown,
        ));
        self.running = Some(Running { stop, task });
        crate::harness::wait_status(&self.till, AGENT_PATIENCE, |_| true)
            .await
            .with_context(|| format!("agent at {} did not answer", self.till.base()))
            .map(drop)
    }

    /// The scanner attached to this register (started by [`Self::enroll`]
    /// or with [`AgentOptions::scanner`]).
    pub fn scanner(&mut self) -> &mut ScannerPty {
        self.scanner
            .as_mut()
            .expect("an agent started with a scanner")
    }

    /// The path the agent reads its scanner from.
    pub fn scanner_path(&self) -> &Path {
        self.scanner
            .as_ref()
            .expect("an agent started with a scanner")
            .path()
    }

    /// The agent's data directory.
    pub fn data_dir(&self) -> &Path {
        &self.config.data_dir
    }

    /// The address of its local API.
    pub fn api_addr(&self) -> SocketAddr {
        self.api_addr
    }

    /// Writes a configuration file naming its real API address, for
    /// `pos-agent status --config` to find the running agent.
    pub fn write_status_config(&self, path: &Path) -> anyhow::Result<()> {
        let mut config = self.config.clone();
        config.api.listen = self.api_addr;
        std::fs::write(path, config.to_toml()?)?;
        Ok(())
    }

    /// Stops the agent.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(r) = self.running.take() {
            r.stop().await?;
        }
        Ok(())
    }

    /// Restarts the agent on the same data and API address.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop().await?;
        self.launch().await
    }

    /// Starts it again with `config` (same data, same API address).
    pub async fn restart_with(&mut self, config: pos_agent::AgentConfig) -> anyhow::Result<()> {
        self.stop().await?;
        self.config = config;
        self.launch().await
    }

    /// Waits until the outbox is empty (everything acknowledged).
    pub async fn wait_synced(
        &self,
        timeout: Duration,
    ) -> anyhow::Result<shared::wire::till::AgentStatus> {
        self.wait_status(timeout, |s| s.outbox_pending == 0).await
    }

    /// Waits until something was committed and nothing is pending.
    pub async fn wait_uploaded(
        &self,
        timeout: Duration,
    ) -> anyhow::Result<shared::wire::till::AgentStatus> {
        self.wait_status(timeout, |s| s.outbox_pending == 0 && s.last_seq.is_some())
            .await
    }

    /// Waits until the agent prices with ruleset `version` or newer.
    pub async fn wait_ruleset(
        &self,
        version: shared::ids::RulesetVersion,
        timeout: Duration,
    ) -> anyhow::Result<shared::wire::till::AgentStatus> {
        self.wait_status(timeout, |s| s.ruleset_version.is_some_and(|v| v >= version))
            .await
    }

    /// Polls `/v1/status` until `cond` holds.
    pub async fn wait_status(
        &self,
        timeout: Duration,
        cond: impl Fn(&shared::wire::till::AgentStatus) -> bool,
    ) -> anyhow::Result<shared::wire::till::AgentStatus> {
        crate::harness::wait_status(&self.till, timeout, cond).await
    }
}

/// Committed records read straight from an agent's outbox file.
pub fn outbox_totals(data_dir: &Path) -> anyhow::Result<(i64, i64)> {
    let db = pos_agent::database_path(data_dir);
    let conn =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .with_context(|| format!("open {}", db.display()))?;
    let (n, sum) = conn.query_row(
        "SELECT COUNT(*), COALESCE(SUM(total), 0) FROM outbox",
        [],
        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
    )?;
    Ok((n, sum))
}

/// Forgets every acknowledgement in a stopped agent's database, so its
/// next start uploads the whole outbox again (a replay after a lost reply).
pub fn mark_outbox_unsent(data_dir: &Path) -> anyhow::Result<()> {
    let db = pos_agent::database_path(data_dir);
    let conn = rusqlite::Connection::open(&db).with_context(|| format!("open {}", db.display()))?;
    conn.execute("UPDATE meta SET acked_seq = 0", [])?;
    Ok(())
}
