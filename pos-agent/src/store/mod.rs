//! The agent's SQLite database: plain functions over one connection. The
//! agent is its only writer; CLI commands open it read-only.
//!
//! # Tables
//!
//! - `meta`: one row: the outbox head (seq and hash of its bytes), the seq
//!   the server acknowledged through, and the customer-changes cursor.
//!   Acknowledgements are always a prefix of the outbox, so one `acked_seq`
//!   says which records are pending: those with `seq > acked_seq`.
//! - `outbox`: every committed record, as the exact signed bytes. Only
//!   records the server acknowledged are ever deleted, once older than
//!   `sync.retention_days` (see [`outbox::prune`]).
//! - `pending_effects`: what each local commit adds to a customer's
//!   standing until the server's snapshot reflects it (see [`customers`]).
//! - `rulesets`: signed releases as received; the newest that still opens
//!   with the pinned key is the one in use.
//! - `customers`: snapshots from the server's change feed.
//! - `dead_letters`: records the server refused for good, with why (see
//!   [`sync_state`]); their outbox rows stay.
//! - `fetched_records`: sales of other tills (or pruned from this outbox)
//!   fetched from the server for a return, with the returns the server had
//!   stored of them (see [`fetched`]).
//! - `sales`: the till's sale ids (idempotency keys) with the reply each
//!   commit was given (see [`sales`]).
//! - `quota_leases`, `lease_spend`, `lease_mode`: the till's shares of
//!   promotions' global limits and what its sales used of them (see
//!   [`leases`]).
//! - `server_keys`, `key_chain`: server keys learnt from verified
//!   endorsements after enrollment, and the chain position (see
//!   [`server_keys`]).
//! - `sync_state`: one row: what the sync tasks last learnt (contact, last
//!   error, why uploads are blocked, the clock offset), for
//!   `pos-agent status` when the agent is not running.
//!
//! Connections use WAL and `synchronous=FULL`, so a commit is durable when
//! `COMMIT` returns.
//!
//! # A full disk
//!
//! A write that fails because the disk is full (`SQLITE_FULL`) or failing
//! (`SQLITE_IOERR`) rolls its transaction back whole, so a committed record
//! is never damaged and a half-written one never exists. [`Db`] raises a
//! [`StorageAlarm`] on such a failure and clears it at the next write that
//! succeeds; the local API answers `storage_full` meanwhile.

pub mod customers;
pub mod fetched;
pub mod leases;
mod migrations;
pub mod outbox;
pub mod rulesets;
pub mod sales;
pub mod server_keys;
pub mod sync_state;

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension};
use shared::ids::{RulesetVersion, Seq};

pub use self::sync_state::{DeadLetter, PersistedSync};

/// A database failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The schema could not be migrated.
    #[error("database migration failed: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    /// An upgrade's migration failed; the database was put back as it was.
    #[error(
        "upgrading the database from schema {from} to {to} failed: {source}; \
         it was restored from {backup}, unchanged. This version cannot run on it: \
         reinstall the previous package and report the error"
    )]
    UpgradeFailed {
        /// The schema before.
        from: usize,
        /// The schema this build wanted.
        to: usize,
        /// The copy taken before the migration.
        backup: String,
        /// Why the migration failed.
        source: Box<rusqlite_migration::Error>,
    },
    /// The database was written by a newer version (a downgrade).
    #[error(
        "the database has schema {found}, newer than this version's {supported}: \
         it was written by a newer pos-agent. Refusing to run over it; \
         install that version again"
    )]
    SchemaTooNew {
        /// The database's schema.
        found: usize,
        /// The newest this build knows.
        supported: usize,
    },
    /// A record could not be sealed.
    #[error(transparent)]
    Record(#[from] shared::record::RecordError),
    /// A stored value does not parse.
    #[error("database holds an invalid {what}: {detail}")]
    Corrupt {
        /// Which value.
        what: &'static str,
        /// Why.
        detail: String,
    },
    /// The record, uploaded alone, would pass the server's limit.
    #[error(
        "the record would be {bytes} bytes to upload, over the server's limit of {max}: \
         split the sale into smaller checks"
    )]
    RecordTooLarge {
        /// Its upload's size.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// The database file could not be made private.
    #[error("cannot make {path} private: {source}")]
    Private {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The query panicked, or the database thread has ended.
    #[error("database task failed: {0}")]
    Task(String),
}

/// A failure of the storage underneath the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorageFault {
    /// The disk is full (`SQLITE_FULL`).
    Full,
    /// The disk failed a read or write (`SQLITE_IOERR`, `SQLITE_CANTOPEN`).
    Io,
}

impl StoreError {
    /// The storage fault behind this error, if it is one.
    #[must_use]
    pub fn storage_fault(&self) -> Option<StorageFault> {
        let StoreError::Sqlite(err) = self else {
            return None;
        };
        match err.sqlite_error_code()? {
            ErrorCode::DiskFull => Some(StorageFault::Full),
            ErrorCode::SystemIoFailure | ErrorCode::CannotOpen => Some(StorageFault::Io),
            _ => None,
        }
    }
}

pub(crate) fn corrupt(what: &'static str, detail: impl ToString) -> StoreError {
    StoreError::Corrupt {
        what,
        detail: detail.to_string(),
    }
}

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens (creating if needed) and migrates the database for writing. The
/// database and its `-wal` and `-shm` files are made mode 0600 first,
/// whatever the umask: they hold customers' first names and standing.
pub fn open(path: &Path) -> Result<Connection, StoreError> {
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        private_file(Path::new(&name)).map_err(|e| StoreError::Private {
            path: name.to_string_lossy().into_owned(),
            source: e,
        })?;
    }
    let mut conn = Connection::open(path)?;
    configure(&conn)?;
    // rusqlite_migration keeps the schema version in `user_version`.
    let before: usize = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let latest = migrations::LATEST_VERSION;
    if before > latest {
        return Err(StoreError::SchemaTooNew {
            found: before,
            supported: latest,
        });
    }
    if (1..latest).contains(&before) {
        upgrade(&mut conn, path, before, latest)?;
    } else {
        migrations::migrations().to_latest(&mut conn)?;
    }
    if (1..migrations::SCRUBBING_VERSION).contains(&before) {
        // The migration dropped customers' personal data: rewrite the file
        // and empty the log, so none of it is left in free pages.
        conn.execute_batch("VACUUM; PRAGMA wal_checkpoint(TRUNCATE);")?;
    }
    Ok(conn)
}

/// Migrates an existing database from schema `from` to `to`, after copying
/// it to `<file>.schema-<from>.bak` (mode 0600, kept). If a migration fails,
/// the copy is restored over the database and the error says so: an upgrade
/// never leaves the outbox half-migrated.
fn upgrade(conn: &mut Connection, path: &Path, from: usize, to: usize) -> Result<(), StoreError> {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".schema-{from}.bak"));
    let backup = std::path::PathBuf::from(name);
    private_file(&backup).map_err(|e| StoreError::Private {
        path: backup.display().to_string(),
        source: e,
    })?;
    conn.backup(rusqlite::DatabaseName::Main, &backup, None)?;
    tracing::info!(from, to, backup = %backup.display(), "database backed up before its upgrade");
    match migrations::migrations().to_latest(conn) {
        Ok(()) => Ok(()),
        Err(source) => {
            conn.restore(
                rusqlite::DatabaseName::Main,
                &backup,
                None::<fn(rusqlite::backup::Progress)>,
            )?;
            Err(StoreError::UpgradeFailed {
                from,
                to,
                backup: backup.display().to_string(),
                source: Box::new(source),
            })
        }
    }
}

/// Makes `path` readable by its owner only: created empty with mode 0600
/// if missing (so SQLite opens a file it did not create itself), else set
/// to 0600.
fn private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
}

/// Opens an existing database for reading, as the CLI does beside a running
/// agent.
pub fn open_read_only(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

/// Prepared statements kept per connection: the commit's statements (the
/// head, the leases, the outbox and its effects) stay prepared beside the
/// sync tasks' own.
const STATEMENT_CACHE: usize = 64;

fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

/// The database cannot be written: raised by a write that failed for a
/// [`StorageFault`], cleared by the next write that succeeds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageAlarm {
    /// What failed.
    pub fault: StorageFault,
    /// The first failure of this episode.
    pub since: DateTime<Utc>,
    /// Failed operations in this episode.
    pub failures: u64,
    /// The last failure, for the log and the status page.
    pub detail: String,
}

impl StorageAlarm {
    /// The alarm for a person at the till or in IT.
    #[must_use]
    pub fn describe(&self) -> String {
        let what = match self.fault {
            StorageFault::Full => "the disk is full",
            StorageFault::Io => "the disk fails to write",
        };
        format!(
            "loyalty unavailable: {what} ({} failed writes since {}; last: {}); \
             sales go on without loyalty, committed records are safe",
            self.failures,
            self.since.to_rfc3339(),
            self.detail
        )
    }
}

/// The one connection of a running agent, shared by the API and the sync
/// tasks. It lives on a thread of its own (`pos-agent-db`), which runs the
/// queries sent to it one at a time: one writer, and no tokio thread ever
/// waits on SQLite.
///
/// The thread sleeps on a condition variable until a query comes, so a
/// commit reaches the database after one wake-up rather than after the
/// blocking pool's hand-over and a lock. Queries run in the order sent,
/// except that the till's ([`Db::call_for_till`]) go before the sync
/// tasks' that wait: a sale waits at most for the query under way, never
/// for a queue of uploads and renewals. The thread ends, closing the
/// connection, when the last clone of the `Db` is dropped, after the
/// queries sent before.
#[derive(Clone)]
pub struct Db {
    worker: Arc<Worker>,
    alarm: Arc<Mutex<Option<StorageAlarm>>>,
}

/// A query for the database thread.
type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// The queries waiting for the database thread.
#[derive(Default)]
struct Queue {
    /// The till's, first.
    till: std::collections::VecDeque<Job>,
    /// Everyone else's.
    background: std::collections::VecDeque<Job>,
    /// No more will come: run what waits and end.
    closed: bool,
}

/// The database thread and the way to it.
struct Worker {
    queue: Arc<(Mutex<Queue>, std::sync::Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Worker {
    /// Queues `job`; false once the thread has ended.
    fn send(&self, job: Job, for_till: bool) -> bool {
        let (queue, ready) = &*self.queue;
        let mut queue = queue.lock().unwrap_or_else(PoisonError::into_inner);
        if queue.closed || self.thread.as_ref().is_none_or(|t| t.is_finished()) {
            return false;
        }
        if for_till {
            queue.till.push_back(job);
        } else {
            queue.background.push_back(job);
        }
        drop(queue);
        ready.notify_one();
        true
    }

    /// The thread's loop: the next query, the till's first, until closed
    /// and drained.
    fn run(queue: &(Mutex<Queue>, std::sync::Condvar), mut conn: Connection) {
        let (queue, ready) = queue;
        loop {
            let job = {
                let mut waiting = queue.lock().unwrap_or_else(PoisonError::into_inner);
                loop {
                    if let Some(job) = waiting.till.pop_front() {
                        break Some(job);
                    }
                    if let Some(job) = waiting.background.pop_front() {
                        break Some(job);
                    }
                    if waiting.closed {
                        break None;
                    }
                    waiting = ready.wait(waiting).unwrap_or_else(PoisonError::into_inner);
                }
            };
            match job {
                Some(job) => job(&mut conn),
                None => return,
            }
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let (queue, ready) = &*self.queue;
        queue.lock().unwrap_or_else(PoisonError::into_inner).closed = true;
        ready.notify_one();
        if let Some(thread) = self.thread.take()
            && thread.thread().id() != std::thread::current().id()
        {
            // The connection is closed when this returns, as it was when a
            // `Db` owned it directly.
            let _ = thread.join();
        }
    }
}

impl Db {
    /// Wraps an open connection, moving it to its own thread.
    ///
    /// # Panics
    /// If the operating system cannot start a thread.
    pub fn new(conn: Connection) -> Self {
        let queue = Arc::new((Mutex::new(Queue::default()), std::sync::Condvar::new()));
        let thread = std::thread::Builder::new()
            .name("pos-agent-db".into())
            .spawn({
                let queue = Arc::clone(&queue);
                move || Worker::run(&queue, conn)
            })
            .expect("cannot start the database thread");
        Db {
            worker: Arc::new(Worker {
                queue,
                thread: Some(thread),
            }),
            alarm: Arc::default(),
        }
    }

    /// Runs `f` with the connection on the database thread, after the
    /// queries sent before. A storage fault raises the [`StorageAlarm`]; a
    /// call that wrote and succeeded clears it. A panic in `f` is
    /// [`StoreError::Task`]; its transaction, if any, was rolled back as the
    /// panic unwound, and the thread goes on.
    pub async fn call<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&mut Connection) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        self.run(f, false).await
    }

    /// [`Db::call`] for a till waiting on a sale: `f` runs before the
    /// queries of the sync tasks that wait (after the one under way and
    /// the till's own sent before).
    pub async fn call_for_till<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&mut Connection) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        self.run(f, true).await
    }

    async fn run<R, F>(&self, f: F, for_till: bool) -> Result<R, StoreError>
    where
        F: FnOnce(&mut Connection) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        let alarm = Arc::clone(&self.alarm);
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn: &mut Connection| {
            let changes_before = conn.total_changes();
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(conn)))
                .unwrap_or_else(|panic| {
                    let why = panic
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "a query panicked".to_owned());
                    Err(StoreError::Task(why))
                });
            let wrote = conn.total_changes() != changes_before;
            note_storage_outcome(&alarm, &result, wrote);
            // The caller may have gone (its request was dropped): the query
            // ran all the same, as it would have on the blocking pool.
            let _ = reply.send(result);
        });
        if !self.worker.send(job, for_till) {
            return Err(StoreError::Task("the database thread has ended".into()));
        }
        answer
            .await
            .map_err(|_| StoreError::Task("the database thread has ended".into()))?
    }

    /// The storage alarm, if the database cannot be written.
    #[must_use]
    pub fn storage_alarm(&self) -> Option<StorageAlarm> {
        self.alarm
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

fn note_storage_outcome<R>(
    alarm: &Mutex<Option<StorageAlarm>>,
    result: &Result<R, StoreError>,
    wrote: bool,
) {
    let mut alarm = alarm.lock().unwrap_or_else(PoisonError::into_inner);
    match result {
        Err(err) => {
            let Some(fault) = err.storage_fault() else {
                return;
            };
            let detail = err.to_string();
            match alarm.as_mut() {
                Some(raised) => {
                    raised.failures += 1;
                    raised.fault = fault;
                    raised.detail = detail;
                }
                None => {
                    tracing::error!(error = %err, "storage alarm: the database cannot be written");
                    *alarm = Some(StorageAlarm {
                        fault,
                        since: Utc::now(),
                        failures: 1,
                        detail,
                    });
                }
            }
        }
        Ok(_) if wrote => {
            if let Some(cleared) = alarm.take() {
                tracing::info!(
                    failures = cleared.failures,
                    "storage alarm cleared: the database accepts writes again"
                );
            }
        }
        Ok(_) => {}
    }
}

/// Counts for `GET /v1/status` and `pos-agent status`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// The last committed record.
    pub head_seq: Option<Seq>,
    /// The last record the server acknowledged.
    pub acked_seq: Option<Seq>,
    /// Records waiting to be uploaded.
    pub pending: i64,
    /// The newest stored ruleset.
    pub ruleset_version: Option<RulesetVersion>,
    /// Customers in the cache.
    pub customers: i64,
    /// The oldest record still in the outbox (acknowledged ones are pruned).
    pub oldest_kept_seq: Option<Seq>,
    /// Records the server refused for good and that are not resolved.
    pub dead_letters: Vec<DeadLetter>,
    /// What the sync tasks last recorded.
    pub sync: PersistedSync,
}

/// Reads the [`Summary`].
pub fn summary(conn: &Connection) -> Result<Summary, StoreError> {
    let head = outbox::head(conn)?;
    let acked_seq = outbox::acked_seq(conn)?;
    let pending = head.seq.map_or(0, Seq::get) - acked_seq.map_or(0, Seq::get);
    let ruleset_version = conn
        .query_row("SELECT MAX(version) FROM rulesets", [], |r| {
            r.get::<_, Option<i64>>(0)
        })
        .optional()?
        .flatten()
        .map(RulesetVersion::new)
        .transpose()
        .map_err(|e| corrupt("ruleset version", e))?;
    Ok(Summary {
        head_seq: head.seq,
        acked_seq,
        pending,
        ruleset_version,
        customers: customers::count(conn)?,
        oldest_kept_seq: outbox::oldest_seq(conn)?,
        dead_letters: sync_state::open_dead_letters(conn)?,
        sync: sync_state::load(conn)?,
    })
}

/// A seq stored as an integer where 0 means "none yet".
fn optional_seq(raw: i64) -> Result<Option<Seq>, StoreError> {
    if raw == 0 {
        Ok(None)
    } else {
        Seq::new(raw).map(Some).map_err(|e| corrupt("seq", e))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A migrated database in a temporary directory.
    pub(crate) fn temp_db() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let conn = open(&dir.path().join("agent.db")).unwrap();
        (dir, conn)
    }

    #[test]
    fn a_new_database_is_empty_and_durable() {
        let (_dir, conn) = temp_db();
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 2, "synchronous=FULL");
        assert_eq!(summary(&conn).unwrap(), Summary::default());
    }

    #[tokio::test]
    async fn a_full_disk_raises_the_storage_alarm_until_a_write_succeeds() {
        let (_dir, conn) = temp_db();
        let db = Db::new(conn);
        let fill = |conn: &mut Connection| -> Result<(), StoreError> {
            conn.execute(
                "INSERT INTO rulesets (version, signed, activated_at) VALUES (
                     (SELECT IFNULL(MAX(version), 0) + 1 FROM rulesets), ?1, 'now')",
                ["x".repeat(64 * 1024)],
            )?;
            Ok(())
        };
        db.call(|conn| {
            let pages: i64 = conn.pragma_query_value(None, "page_count", |r| r.get(0))?;
            conn.pragma_update(None, "max_page_count", pages + 2)?;
            Ok(())
        })
        .await
        .unwrap();
        let err = db.call(fill).await.unwrap_err();
        assert_eq!(err.storage_fault(), Some(StorageFault::Full));
        let _ = db.call(fill).await.unwrap_err();
        let alarm = db.storage_alarm().expect("alarm raised");
        assert_eq!((alarm.fault, alarm.failures), (StorageFault::Full, 2));
        assert!(alarm.describe().contains("the disk is full"));
        // Reads do not clear it; a write that succeeds does.
        db.call(|conn| summary(conn)).await.unwrap();
        assert!(db.storage_alarm().is_some());
        db.call(|conn| {
            conn.pragma_update(None, "max_page_count", 1_000_000)?;
            Ok(())
        })
        .await
        .unwrap();
        db.call(fill).await.unwrap();
        assert_eq!(db.storage_alarm(), None);
    }

    #[tokio::test]
    async fn a_query_that_panics_is_an_error_and_the_database_thread_goes_on() {
        let (_dir, conn) = temp_db();
        let db = Db::new(conn);
        let err = db
            .call(|conn| -> Result<(), StoreError> {
                let tx = conn.transaction()?;
                tx.execute("UPDATE meta SET customer_cursor = 7", [])?;
                panic!("a defect mid-transaction");
            })
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Task(why) if why.contains("a defect")),
            "{err}"
        );
        let cursor: i64 = db
            .call(|conn| Ok(conn.query_row("SELECT customer_cursor FROM meta", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(cursor, 0, "the panicking transaction was rolled back");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn queries_run_one_at_a_time_in_the_order_sent() {
        let (_dir, conn) = temp_db();
        let db = Db::new(conn);
        let calls: Vec<_> = (1..=50_i64)
            .map(|n| {
                let db = db.clone();
                async move {
                    db.call(move |conn| {
                        let tx = conn.transaction()?;
                        let last: i64 =
                            tx.query_row("SELECT customer_cursor FROM meta", [], |r| r.get(0))?;
                        tx.execute("UPDATE meta SET customer_cursor = ?1", [n])?;
                        tx.commit()?;
                        Ok(last)
                    })
                    .await
                }
            })
            .collect();
        let seen = futures::future::try_join_all(calls).await.unwrap();
        // Each query saw the one sent before it, and only it.
        let expected: Vec<i64> = (0..50).collect();
        assert_eq!(seen, expected);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_tills_queries_go_before_the_sync_tasks_that_wait() {
        let (_dir, conn) = temp_db();
        let db = Db::new(conn);
        let ran = Arc::new(Mutex::new(Vec::new()));
        let log = |name: &'static str| {
            let ran = Arc::clone(&ran);
            move |_: &mut Connection| -> Result<(), StoreError> {
                ran.lock().unwrap().push(name);
                Ok(())
            }
        };
        // The thread is busy with a query until the gate opens.
        let (open_gate, gate) = std::sync::mpsc::channel::<()>();
        let mut busy = Box::pin(db.call(move |_| {
            gate.recv().ok();
            Ok(())
        }));
        assert!(futures::poll!(&mut busy).is_pending());
        let mut upload = Box::pin(db.call(log("upload")));
        let mut renewal = Box::pin(db.call(log("renewal")));
        let mut sale = Box::pin(db.call_for_till(log("sale")));
        assert!(futures::poll!(&mut upload).is_pending());
        assert!(futures::poll!(&mut renewal).is_pending());
        assert!(futures::poll!(&mut sale).is_pending());
        open_gate.send(()).unwrap();
        busy.await.unwrap();
        upload.await.unwrap();
        renewal.await.unwrap();
        sale.await.unwrap();
        assert_eq!(*ran.lock().unwrap(), ["sale", "upload", "renewal"]);
    }

    #[test]
    fn reopening_keeps_the_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.db");
        drop(open(&path).unwrap());
        let conn = open(&path).unwrap();
        assert!(summary(&conn).is_ok());
        let ro = open_read_only(&path).unwrap();
        assert!(summary(&ro).is_ok());
    }

    /// A database at schema 8, as the release before the customer scrub
    /// left it, with one sale's worth of state.
    fn schema_8_database(path: &Path) {
        let mut conn = Connection::open(path).unwrap();
        rusqlite_migration::Migrations::new(
            migrations::STEPS[..8]
                .iter()
                .map(|sql| rusqlite_migration::M::up(sql))
                .collect(),
        )
        .to_latest(&mut conn)
        .unwrap();
        conn.execute_batch("UPDATE meta SET customer_cursor = 42;")
            .unwrap();
    }

    fn schema_of(path: &Path) -> usize {
        let conn = Connection::open(path).unwrap();
        conn.query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn an_upgrade_keeps_a_private_copy_of_the_database_before_it() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.db");
        schema_8_database(&path);
        drop(open(&path).unwrap());
        assert_eq!(schema_of(&path), migrations::LATEST_VERSION);
        let backup = dir.path().join("agent.db.schema-8.bak");
        assert_eq!(
            schema_of(&backup),
            8,
            "the copy is the database before the upgrade"
        );
        let mode = std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the copy holds customers too");
    }

    #[test]
    fn a_failed_upgrade_restores_the_database_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.db");
        schema_8_database(&path);
        // Migration 9 creates this table: the upgrade fails half-way.
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE customers_v9 (squatter INTEGER);")
            .unwrap();
        let err = open(&path).unwrap_err();
        assert!(
            matches!(err, StoreError::UpgradeFailed { from: 8, .. }),
            "{err}"
        );
        let message = err.to_string();
        assert!(message.contains("restored from"), "{message}");
        assert!(
            message.contains("reinstall the previous package"),
            "{message}"
        );
        assert_eq!(schema_of(&path), 8, "the database is as it was");
        let cursor: i64 = Connection::open(&path)
            .unwrap()
            .query_row("SELECT customer_cursor FROM meta", [], |r| r.get(0))
            .unwrap();
        assert_eq!(cursor, 42);
    }

    #[test]
    fn a_downgrade_refuses_to_run_over_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.db");
        drop(open(&path).unwrap());
        let newer = migrations::LATEST_VERSION + 1;
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", newer)
            .unwrap();
        let err = open(&path).unwrap_err();
        assert!(
            matches!(err, StoreError::SchemaTooNew { found, .. } if found == newer),
            "{err}"
        );
        assert!(err.to_string().contains("newer pos-agent"), "{err}");
        assert_eq!(schema_of(&path), newer, "nothing was written");
    }
}
