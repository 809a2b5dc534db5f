//! The PostgreSQL backend, for several server instances over one database.
//! A small pool of connections of the synchronous `postgres` client (pure
//! Rust, no libpq); each transaction body runs on tokio's blocking pool
//! with one connection, and a call waits for a free connection *before* it
//! takes a blocking thread, like the SQLite backend's readers. Writes are
//! `READ COMMITTED` transactions, reads `REPEATABLE READ, READ ONLY` ones
//! (one snapshot). Migrations are embedded (refinery) and run at connect,
//! under an advisory lock so instances starting together take turns.
//!
//! Unlike SQLite there is no single writer: the primitives that a decision
//! depends on lock rows instead. `lock_merchant` and `enrollment_token`
//! read `FOR UPDATE`; `touch_register` (first in every ingest) updates the
//! register's row, so batches of one register take turns; customer change
//! cursors are handed out by an `UPDATE … RETURNING` of the merchant's row,
//! so they commit in order.

mod alerts;
mod catalog;
mod columns;
mod customers;
mod records;
mod reprice;
mod rulesets;
mod web;

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use postgres::types::ToSql;
use postgres::{Client, Config, IsolationLevel, NoTls, Row, Statement, Transaction};
use tokio::sync::Semaphore;

use super::{Access, DbError, DbFuture, Repository, Work};

/// Connections a repository keeps open unless told otherwise.
pub const POOL_SIZE: usize = 8;

/// The key of the advisory lock migrations run under.
const MIGRATION_LOCK: i64 = 0x6c6f_7961_6c74_7931; // "loyalty1"

mod embedded {
    refinery::embed_migrations!("src/db/postgres/migrations");
}

impl From<postgres::Error> for DbError {
    fn from(e: postgres::Error) -> Self {
        DbError::Other(Box::new(e))
    }
}

/// One pooled connection with the statements prepared on it.
struct Conn {
    client: Client,
    statements: HashMap<String, Statement>,
}

impl Conn {
    fn open(config: &Config) -> Result<Conn, DbError> {
        Ok(Conn {
            client: config.connect(NoTls)?,
            statements: HashMap::new(),
        })
    }
}

struct Pool {
    config: Config,
    conns: Vec<Mutex<Conn>>,
    next: AtomicUsize,
    /// One permit per connection, taken before a blocking thread is.
    free: Arc<Semaphore>,
}

impl Pool {
    /// A free connection (the caller holds a permit), reopened if it broke.
    fn take(&self) -> Result<MutexGuard<'_, Conn>, DbError> {
        // A permit means a connection is free (the lock is let go before
        // the permit); start the search at the next in turn.
        let first = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.conns.len();
        let mut conn = (0..n)
            .find_map(|k| self.conns[(first + k) % n].try_lock().ok())
            .unwrap_or_else(|| {
                self.conns[first % n]
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
            });
        if conn.client.is_closed() {
            *conn = Conn::open(&self.config)?;
        }
        Ok(conn)
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Each client owns a small runtime that must not be dropped (nor
        // its connection closed) on a thread that drives async tasks.
        let conns = std::mem::take(&mut self.conns);
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::spawn(move || drop(conns));
        }
    }
}

/// The PostgreSQL backend.
#[derive(Clone)]
pub struct PostgresRepository {
    pool: Arc<Pool>,
}

impl std::fmt::Debug for PostgresRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresRepository")
            .field("connections", &self.pool.conns.len())
            .finish_non_exhaustive()
    }
}

impl PostgresRepository {
    /// Connects [`POOL_SIZE`] connections to the database at `url` (a
    /// `postgres://` URL or a `key=value` string) and migrates it.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        Self::connect_with_pool_size(url, POOL_SIZE).await
    }

    /// Like [`connect`](Self::connect) with `size` connections (at least 1).
    pub async fn connect_with_pool_size(url: &str, size: usize) -> Result<Self, DbError> {
        let config: Config = url.parse()?;
        let size = size.max(1);
        tokio::task::spawn_blocking(move || {
            let mut first = Conn::open(&config)?;
            migrate(&mut first.client)?;
            let mut conns = vec![Mutex::new(first)];
            for _ in 1..size {
                conns.push(Mutex::new(Conn::open(&config)?));
            }
            Ok(PostgresRepository {
                pool: Arc::new(Pool {
                    config,
                    conns,
                    next: AtomicUsize::new(0),
                    free: Arc::new(Semaphore::new(size)),
                }),
            })
        })
        .await
        .map_err(DbError::other)?
    }

    /// Runs `f` in one transaction on a pooled connection; commits when it
    /// returns `Ok` and rolls back otherwise.
    async fn run<T, F>(&self, access: Access, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut PgTx<'_, '_>) -> Result<T, DbError> + Send + 'static,
    {
        let pool = self.pool.clone();
        let permit = pool
            .free
            .clone()
            .acquire_owned()
            .await
            .map_err(DbError::other)?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut conn = pool.take()?;
            let Conn { client, statements } = &mut *conn;
            let builder = client.build_transaction();
            let builder = match access {
                Access::Read => builder
                    .isolation_level(IsolationLevel::RepeatableRead)
                    .read_only(true),
                Access::Write => builder.isolation_level(IsolationLevel::ReadCommitted),
            };
            let mut tx = builder.start()?;
            let out = f(&mut PgTx {
                tx: &mut tx,
                statements,
            });
            match out {
                Ok(out) => {
                    tx.commit()?;
                    Ok(out)
                }
                Err(e) => {
                    // The body's error is the one to report.
                    let _ = tx.rollback();
                    Err(e)
                }
            }
        })
        .await
        .map_err(DbError::other)?
    }
}

impl Repository for PostgresRepository {
    fn ping(&self) -> DbFuture<'_, ()> {
        Box::pin(self.run(Access::Read, |tx| {
            tx.query_one("SELECT 1", &[])?;
            Ok(())
        }))
    }

    fn transact(&self, access: Access, work: Work) -> DbFuture<'_, Box<dyn Any + Send>> {
        Box::pin(self.run(access, move |tx| work(tx)))
    }
}

/// Runs the embedded migrations that have not run, one instance at a time.
fn migrate(client: &mut Client) -> Result<(), DbError> {
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])?;
    let ran = embedded::migrations::runner()
        .run(client)
        .map(|_| ())
        .map_err(DbError::other);
    let unlocked = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]);
    ran?;
    unlocked?;
    Ok(())
}

/// The primitives of every area on one PostgreSQL transaction.
pub(crate) struct PgTx<'a, 'b> {
    tx: &'a mut Transaction<'b>,
    /// Statements prepared on this connection, by their text.
    statements: &'a mut HashMap<String, Statement>,
}

type Params<'p> = &'p [&'p (dyn ToSql + Sync)];

impl PgTx<'_, '_> {
    /// `sql` prepared on this connection, once.
    fn statement(&mut self, sql: &str) -> Result<Statement, DbError> {
        if let Some(stmt) = self.statements.get(sql) {
            return Ok(stmt.clone());
        }
        let stmt = self.tx.prepare(sql)?;
        self.statements.insert(sql.to_owned(), stmt.clone());
        Ok(stmt)
    }

    fn query(&mut self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, DbError> {
        let stmt = self.statement(sql)?;
        Ok(self.tx.query(&stmt, params)?)
    }

    fn query_opt(&mut self, sql: &str, params: Params<'_>) -> Result<Option<Row>, DbError> {
        let stmt = self.statement(sql)?;
        Ok(self.tx.query_opt(&stmt, params)?)
    }

    fn query_one(&mut self, sql: &str, params: Params<'_>) -> Result<Row, DbError> {
        let stmt = self.statement(sql)?;
        Ok(self.tx.query_one(&stmt, params)?)
    }

    fn execute(&mut self, sql: &str, params: Params<'_>) -> Result<u64, DbError> {
        let stmt = self.statement(sql)?;
        Ok(self.tx.execute(&stmt, params)?)
    }
}

/// Creates a fresh, empty schema `t_<random>` in the database at `base` (a
/// `postgres://` URL or a `key=value` string) and returns a connection
/// string whose connections use it (`search_path`), with the schema's name.
///
/// For tests: each test (or whole server under test) gets tables of its
/// own in one shared database, and [`PostgresRepository::connect`] on the
/// returned string migrates the new schema. Drop it afterwards with
/// [`postgres_drop_test_schema`]. Blocking; callable from async code (it
/// does its work on a thread of its own).
pub fn postgres_test_schema_url(base: &str) -> Result<(String, String), DbError> {
    let schema = format!("t_{}", uuid::Uuid::now_v7().simple());
    let config: Config = base.parse()?;
    let create = format!("CREATE SCHEMA {schema}");
    on_own_thread(move || {
        let mut client = config.connect(NoTls)?;
        client.batch_execute(&create)?;
        Ok(())
    })?;
    Ok((with_search_path(base, &schema), schema))
}

/// Drops a schema made by [`postgres_test_schema_url`] with everything in
/// it. Blocking; callable from async code.
pub fn postgres_drop_test_schema(base: &str, schema: &str) -> Result<(), DbError> {
    if !schema.starts_with("t_") || !schema[2..].bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(DbError::other(format!("{schema:?} is not a test schema")));
    }
    let config: Config = base.parse()?;
    let drop = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
    on_own_thread(move || {
        let mut client = config.connect(NoTls)?;
        client.batch_execute(&drop)?;
        Ok(())
    })
}

/// `base` with `search_path` set to `schema` for its connections.
fn with_search_path(base: &str, schema: &str) -> String {
    let trimmed = base.trim();
    if trimmed.starts_with("postgres://") || trimmed.starts_with("postgresql://") {
        let sep = if trimmed.contains('?') { '&' } else { '?' };
        format!("{trimmed}{sep}options=-csearch_path%3D{schema}")
    } else {
        format!("{trimmed} options='-csearch_path={schema}'")
    }
}

/// Runs blocking client work on a thread of its own: the synchronous
/// client must not run on a thread that drives async tasks.
fn on_own_thread<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, DbError> + Send + 'static,
) -> Result<T, DbError> {
    std::thread::spawn(f)
        .join()
        .map_err(|_| DbError::other("a PostgreSQL helper thread panicked"))?
}
