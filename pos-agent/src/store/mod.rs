//! The agent's SQLite database: plain functions over one connection. The
//! agent is its only writer; CLI commands open it read-only.
//!
//! # Tables
//!
//! - `meta`: one row: the outbox head (seq and hash of its bytes), the seq
//!   the server acknowledged through, and the customer-changes cursor.
//!   Acknowledgements are always a prefix of the outbox, so one `acked_seq`
//!   says which records are pending: those with `seq > acked_seq`.
//! - `outbox`: every committed record, as the exact signed bytes. Records
//!   are never deleted by the agent.
//! - `pending_effects`: what each local commit adds to a customer's
//!   standing until the server's snapshot reflects it (see [`customers`]).
//! - `rulesets`: signed releases as received; the newest that still opens
//!   with the pinned key is the one in use.
//! - `customers`: snapshots from the server's change feed.
//!
//! Connections use WAL and `synchronous=FULL`, so a commit is durable when
//! `COMMIT` returns.

pub mod customers;
mod migrations;
pub mod outbox;
pub mod rulesets;

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension};
use shared::ids::{RulesetVersion, Seq};

/// A database failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The schema could not be migrated.
    #[error("database migration failed: {0}")]
    Migration(#[from] rusqlite_migration::Error),
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
    /// The blocking task running the query panicked or was cancelled.
    #[error("database task failed: {0}")]
    Task(String),
}

pub(crate) fn corrupt(what: &'static str, detail: impl ToString) -> StoreError {
    StoreError::Corrupt {
        what,
        detail: detail.to_string(),
    }
}

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens (creating if needed) and migrates the database for writing.
pub fn open(path: &Path) -> Result<Connection, StoreError> {
    let mut conn = Connection::open(path)?;
    configure(&conn)?;
    migrations::migrations().to_latest(&mut conn)?;
    Ok(conn)
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

fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

/// The one connection of a running agent, shared by the API and the sync
/// tasks. Queries run on the blocking pool, one at a time.
#[derive(Clone)]
pub struct Db(Arc<Mutex<Connection>>);

impl Db {
    /// Wraps an open connection.
    pub fn new(conn: Connection) -> Self {
        Db(Arc::new(Mutex::new(conn)))
    }

    /// Runs `f` with the connection on the blocking pool.
    pub async fn call<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&mut Connection) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        let conn = Arc::clone(&self.0);
        tokio::task::spawn_blocking(move || {
            // A panic mid-transaction rolled it back when the guard dropped,
            // so the connection is still consistent.
            let mut conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }
}

/// Counts for `GET /v1/status` and `pos-agent status`.
#[derive(Clone, Debug, PartialEq, Eq)]
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
        assert_eq!(
            summary(&conn).unwrap(),
            Summary {
                head_seq: None,
                acked_seq: None,
                pending: 0,
                ruleset_version: None,
                customers: 0
            }
        );
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
}
