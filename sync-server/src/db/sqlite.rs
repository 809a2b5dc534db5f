//! The embedded SQLite backend. One writer connection behind a mutex takes
//! every write, one `IMMEDIATE` transaction per call; a few reader
//! connections serve reads from WAL snapshots. Calls run on tokio's
//! blocking pool, and wait for a free connection *before* they take a
//! blocking thread, so a burst of requests (ten thousand long-polls
//! arriving at once) queues as tasks instead of parking hundreds of
//! threads on a mutex. Pragmas: WAL, `synchronous=FULL`, foreign keys, a
//! busy timeout. Migrations are embedded and run at open.

mod account_settings;
mod accounts;
mod alerts;
mod analytics;
mod catalog;
mod columns;
mod content;
mod customers;
mod drafts;
mod holds;
mod keys;
mod leases;
mod messaging;
mod records;
mod referrals;
mod reprice;
mod rulesets;
mod segments;
mod web;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use std::any::Any;

use rusqlite::{Connection, Transaction, TransactionBehavior};
use rusqlite_migration::{M, Migrations};
use tokio::sync::Semaphore;

use super::{Access, DbError, DbFuture, Repository, Work};

/// Reader connections kept open.
const READERS: usize = 4;
/// How long a connection waits for a lock held by another process.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(include_str!("sqlite/migrations/001_initial.sql")),
        M::up(include_str!(
            "sqlite/migrations/002_alerts_and_clock_drift.sql"
        )),
        M::up(include_str!("sqlite/migrations/003_web_pages.sql")),
        M::up(include_str!(
            "sqlite/migrations/004_returns_by_original.sql"
        )),
        M::up(include_str!(
            "sqlite/migrations/005_reprice_and_standing.sql"
        )),
        M::up(include_str!("sqlite/migrations/006_points_ledger.sql")),
        M::up(include_str!("sqlite/migrations/007_points_terms.sql")),
        M::up(include_str!("sqlite/migrations/008_record_spend.sql")),
        M::up(include_str!("sqlite/migrations/009_phone_salt.sql")),
        M::up(include_str!("sqlite/migrations/010_register_heartbeat.sql")),
        M::up(include_str!("sqlite/migrations/011_record_alerts.sql")),
        M::up(include_str!("sqlite/migrations/012_accounts.sql")),
        M::up(include_str!("sqlite/migrations/013_rollups.sql")),
        M::up(include_str!("sqlite/migrations/014_notifications.sql")),
        M::up(include_str!("sqlite/migrations/015_quota_leases.sql")),
        M::up(include_str!("sqlite/migrations/016_rollups_at_scale.sql")),
        M::up(include_str!(
            "sqlite/migrations/017_adjustments_referrals_moderation.sql"
        )),
        M::up(include_str!("sqlite/migrations/018_segments.sql")),
        M::up(include_str!("sqlite/migrations/019_account_settings.sql")),
        M::up(include_str!("sqlite/migrations/020_record_audit.sql")),
        M::up(include_str!("sqlite/migrations/021_promotion_content.sql")),
        M::up(include_str!("sqlite/migrations/022_promotion_drafts.sql")),
        M::up(include_str!("sqlite/migrations/023_points_holds.sql")),
        M::up(include_str!("sqlite/migrations/024_basket_pairs.sql")),
        M::up(include_str!(
            "sqlite/migrations/025_minimum_agent_version.sql"
        )),
        M::up(include_str!("sqlite/migrations/026_server_keys.sql")),
        M::up(include_str!("sqlite/migrations/027_api_key_stores.sql")),
        M::up(include_str!(
            "sqlite/migrations/028_promotion_first_published.sql"
        )),
        M::up(include_str!("sqlite/migrations/029_basket_queue.sql")),
        M::up(include_str!(
            "sqlite/migrations/030_basket_item_numbers.sql"
        )),
        M::up(include_str!("sqlite/migrations/031_line_rows_queued.sql")),
        M::up(include_str!(
            "sqlite/migrations/032_customer_standing_indexes.sql"
        )),
    ])
}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        DbError::Other(Box::new(e))
    }
}

/// Whether `e` is a violated `UNIQUE` constraint.
fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
}

/// The writer connection's page cache, in KiB.
const WRITER_CACHE_KIB: i64 = 64 * 1024;
/// How much of the database file a reader maps into memory, in bytes.
const READER_MMAP_BYTES: i64 = 1 << 30;

struct Pool {
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
    /// One permit for the writer, taken before a blocking thread is.
    writer_free: Arc<Semaphore>,
    /// One permit per reader connection, taken before a blocking thread is.
    readers_free: Arc<Semaphore>,
}

/// The SQLite backend.
#[derive(Clone)]
pub struct SqliteRepository {
    pool: Arc<Pool>,
}

impl std::fmt::Debug for SqliteRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteRepository").finish_non_exhaustive()
    }
}

impl SqliteRepository {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub async fn open(path: &Path) -> Result<Self, DbError> {
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut writer = connect(&path)?;
            migrations()
                .to_latest(&mut writer)
                .map_err(|e| DbError::Other(Box::new(e)))?;
            // The rollups' upserts land all over large tables (the basket
            // pairs above all); SQLite's default 2 MiB of pages makes most
            // of them read pages back from the OS. Pages are cached as read.
            writer.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
            let readers = (0..READERS)
                .map(|_| reader(&path).map(Mutex::new))
                .collect::<Result<_, _>>()?;
            Ok(SqliteRepository {
                pool: Arc::new(Pool {
                    writer: Mutex::new(writer),
                    readers,
                    next_reader: AtomicUsize::new(0),
                    writer_free: Arc::new(Semaphore::new(1)),
                    readers_free: Arc::new(Semaphore::new(READERS)),
                }),
            })
        })
        .await
        .map_err(|e| DbError::Other(Box::new(e)))?
    }

    /// Runs `f` in one `IMMEDIATE` transaction on the writer connection and
    /// commits when it returns `Ok`.
    async fn write<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, DbError> + Send + 'static,
    {
        let pool = self.pool.clone();
        let permit = pool
            .writer_free
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| DbError::Other(Box::new(e)))?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut conn = pool.writer.lock().unwrap_or_else(PoisonError::into_inner);
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
        .await
        .map_err(|e| DbError::Other(Box::new(e)))?
    }

    /// Runs `f` in a read transaction, one consistent snapshot.
    async fn read<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, DbError> + Send + 'static,
    {
        let pool = self.pool.clone();
        let permit = pool
            .readers_free
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| DbError::Other(Box::new(e)))?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            // A permit means a connection is free (the lock is let go before
            // the permit); start the search at the next in turn.
            let first = pool.next_reader.fetch_add(1, Ordering::Relaxed);
            let n = pool.readers.len();
            let mut conn = (0..n)
                .find_map(|k| pool.readers[(first + k) % n].try_lock().ok())
                .unwrap_or_else(|| {
                    pool.readers[first % n]
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                });
            let tx = conn.transaction()?;
            f(&tx)
        })
        .await
        .map_err(|e| DbError::Other(Box::new(e)))?
    }
}

/// Copies the SQLite database at `source` into a new file `target` with
/// SQLite's online backup, a consistent snapshot even while a server writes
/// to it; `progress` hears (pages copied, pages in all) after each step.
pub fn backup_file(
    source: &Path,
    target: &Path,
    mut progress: impl FnMut(u64, u64),
) -> Result<(), DbError> {
    let from = Connection::open_with_flags(source, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    from.busy_timeout(BUSY_TIMEOUT)?;
    let mut to = Connection::open(target)?;
    let backup = rusqlite::backup::Backup::new(&from, &mut to)?;
    loop {
        let step = backup.step(256)?;
        let p = backup.progress();
        let total = u64::try_from(p.pagecount).unwrap_or(0);
        let remaining = u64::try_from(p.remaining).unwrap_or(0);
        progress(total.saturating_sub(remaining), total);
        match step {
            rusqlite::backup::StepResult::Done => break,
            rusqlite::backup::StepResult::More => {}
            // Another connection holds a lock: wait a moment and go on.
            rusqlite::backup::StepResult::Busy | rusqlite::backup::StepResult::Locked => {
                std::thread::sleep(Duration::from_millis(20));
            }
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    drop(backup);
    let check: String = to.query_row("PRAGMA integrity_check", [], |row| row.get(0))?;
    if check != "ok" {
        return Err(DbError::other(format!(
            "the copy failed its integrity check: {check}"
        )));
    }
    Ok(())
}

/// The primitives of every area on one SQLite transaction.
pub(crate) struct SqliteTx<'a> {
    tx: &'a Transaction<'a>,
}

impl super::EventsTx for SqliteTx<'_> {
    fn announce(&mut self, _event: super::Announcement) -> Result<(), DbError> {
        // One process per SQLite file: its own notifier wakes its
        // long-polls; there is no other instance to tell.
        Ok(())
    }
}

impl Repository for SqliteRepository {
    fn ping(&self) -> DbFuture<'_, ()> {
        Box::pin(self.read(|tx| Ok(tx.query_row("SELECT 1", [], |_| Ok(()))?)))
    }

    fn transact(&self, access: Access, work: Work) -> DbFuture<'_, Box<dyn Any + Send>> {
        let run = move |tx: &Transaction<'_>| work(&mut SqliteTx { tx });
        match access {
            Access::Read => Box::pin(self.read(run)),
            Access::Write => Box::pin(self.write(run)),
        }
    }
}

/// A reader connection. A reader's page cache is dropped whenever another
/// connection has committed since its last transaction (WAL mode), so
/// under a stream of uploads every read fetched its pages from the OS
/// again, a `pread` and a copy each (the customer feed's ledger reads most
/// of all); mapped, the database file's pages are read in place.
fn reader(path: &Path) -> Result<Connection, DbError> {
    let conn = connect(path)?;
    conn.pragma_update(None, "mmap_size", READER_MMAP_BYTES)?;
    Ok(conn)
}

fn connect(path: &Path) -> Result<Connection, DbError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(DbError::Other(
            format!("SQLite refused WAL mode (got {mode})").into(),
        ));
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use shared::ids::{CustomerId, MerchantId};

    use super::*;
    use crate::db::AlertPage;
    use crate::wire::admin::NewMerchant;

    async fn open(path: &Path) -> Arc<dyn Repository> {
        Arc::new(SqliteRepository::open(path).await.unwrap())
    }

    #[test]
    fn migrations_are_valid() {
        assert!(migrations().validate().is_ok());
    }

    #[tokio::test]
    async fn a_database_of_the_first_schema_is_migrated_with_its_registers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.db");
        {
            let mut conn = connect(&path).unwrap();
            Migrations::new(vec![M::up(include_str!(
                "sqlite/migrations/001_initial.sql"
            ))])
            .to_latest(&mut conn)
            .unwrap();
            conn.execute_batch(
                "INSERT INTO merchants (id, name, currency) VALUES (1, 'M', 'RUB');
                 INSERT INTO stores (id, merchant_id, name, timezone)
                     VALUES (1, 1, 'S', 'Europe/Moscow');
                 INSERT INTO registers (id, store_id, public_key, secret_hash, hostname,
                         agent_version, enrolled_at, revoked_at)
                     VALUES (1, 1, 'k', x'00', 'till-1', '0.1.0', '2026-03-01T00:00:00Z',
                         '2026-03-02T00:00:00Z');",
            )
            .unwrap();
        }
        let db = open(&path).await;
        let merchant = MerchantId::new(1).unwrap();
        let page = AlertPage {
            before: None,
            limit: 10,
        };
        let (registers, alerts, quarantined) = db
            .read(move |tx| {
                Ok((
                    tx.registers(merchant)?,
                    tx.alerts(merchant, page)?,
                    tx.quarantined(merchant, 10)?,
                ))
            })
            .await
            .unwrap();
        assert_eq!(registers.len(), 1);
        assert!(registers[0].revoked_at.is_some());
        assert_eq!(registers[0].clock, None);
        assert!(alerts.is_empty());
        assert!(quarantined.is_empty());
    }

    #[tokio::test]
    async fn promotions_of_releases_stored_before_learn_when_they_were_first_published() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.db");
        {
            let mut conn = connect(&path).unwrap();
            migrations().to_version(&mut conn, 27).unwrap();
            let release = |version: i64, at: &str, ids: &[&str]| {
                let promotions: Vec<serde_json::Value> =
                    ids.iter().map(|id| serde_json::json!({"id": id})).collect();
                let ruleset = serde_json::json!({"promotions": promotions}).to_string();
                conn.execute(
                    "INSERT INTO ruleset_releases (merchant_id, version, effective_from, ruleset, signed)
                     VALUES (1, ?1, ?2, ?3, '{}')",
                    rusqlite::params![version, at, ruleset],
                )
                .unwrap();
            };
            conn.execute(
                "INSERT INTO merchants (id, name, currency) VALUES (1, 'M', 'RUB')",
                [],
            )
            .unwrap();
            release(1, "2026-03-01T10:00:00+00:00", &["a"]);
            release(2, "2026-03-05T10:00:00+00:00", &["a", "b"]);
            release(3, "2026-03-09T10:00:00+00:00", &["b"]);
        }
        let db = open(&path).await;
        let first = db
            .read(|tx| tx.promotions_first_published(MerchantId::new(1).unwrap()))
            .await
            .unwrap();
        let at = |s: &str| s.parse::<chrono::DateTime<Utc>>().unwrap();
        assert_eq!(
            first,
            std::collections::HashMap::from([
                ("a".to_owned(), at("2026-03-01T10:00:00Z")),
                ("b".to_owned(), at("2026-03-05T10:00:00Z")),
            ])
        );
    }

    #[test]
    fn basket_rows_keyed_by_text_are_dropped_and_every_stored_sale_queued_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = connect(&dir.path().join("test.db")).unwrap();
        migrations().to_version(&mut conn, 29).unwrap();
        conn.pragma_update(None, "foreign_keys", false).unwrap();
        let record = |seq: i64, kind: &str| {
            conn.execute(
                "INSERT INTO records (register_id, seq, record_id, merchant_id, store_id, kind,
                     wall_time, subtotal, discount, total, points_earned, points_redeemed,
                     hash, body, signature, received_at)
                 VALUES (1, ?1, ?1, 1, 1, ?2, '', 0, 0, 0, 0, 0, x'', '{}', x'', '')",
                rusqlite::params![seq, kind],
            )
            .unwrap();
        };
        record(1, "sale");
        record(2, "return");
        record(3, "sale");
        conn.execute_batch(
            "INSERT INTO rollup_basket_months VALUES (1, '', 4, '', '', '2026-01', '', 2);
             INSERT INTO rollup_basket_queue (register_id, seq) VALUES (1, 3);",
        )
        .unwrap();
        migrations().to_latest(&mut conn).unwrap();
        let queued: Vec<i64> = conn
            .prepare("SELECT seq FROM rollup_basket_queue ORDER BY id")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(queued, vec![1, 3], "each sale once, returns not");
        let with_products: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM rollup_basket_queue WHERE products = 1",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(
            with_products, 0,
            "their product rows were added at ingest: the queue adds their baskets alone"
        );
        let rows: i64 = conn
            .query_row("SELECT COUNT(*) FROM rollup_basket_months", [], |row| {
                row.get(0)
            })
            .unwrap();
        assert_eq!(rows, 0, "the old rows are gone: the queue adds them again");

        // With a backfill marker left, the start-up backfill adds them.
        let dir = tempfile::tempdir().unwrap();
        let mut conn = connect(&dir.path().join("test.db")).unwrap();
        migrations().to_version(&mut conn, 29).unwrap();
        conn.pragma_update(None, "foreign_keys", false).unwrap();
        conn.execute_batch(
            "INSERT INTO records (register_id, seq, record_id, merchant_id, store_id, kind,
                 wall_time, subtotal, discount, total, points_earned, points_redeemed,
                 hash, body, signature, received_at)
             VALUES (1, 1, 1, 1, 1, 'sale', '', 0, 0, 0, 0, 0, x'', '{}', x'', '');
             INSERT OR IGNORE INTO rollup_basket_backfill (pending) VALUES (1);",
        )
        .unwrap();
        migrations().to_latest(&mut conn).unwrap();
        let queued: i64 = conn
            .query_row("SELECT COUNT(*) FROM rollup_basket_queue", [], |row| {
                row.get(0)
            })
            .unwrap();
        assert_eq!(queued, 0, "the backfill adds them, not the queue as well");
    }

    #[tokio::test]
    async fn promotion_uses_stored_before_are_counted_net_of_returns_with_points_only_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.db");
        {
            let mut conn = connect(&path).unwrap();
            Migrations::new(vec![
                M::up(include_str!("sqlite/migrations/001_initial.sql")),
                M::up(include_str!(
                    "sqlite/migrations/002_alerts_and_clock_drift.sql"
                )),
                M::up(include_str!("sqlite/migrations/003_web_pages.sql")),
            ])
            .to_latest(&mut conn)
            .unwrap();
            let sale = r#"{"kind":"sale","applied":[{"rule":{"kind":"promotion","id":"milk"},"discount":100},{"rule":{"kind":"promotion","id":"double"},"discount":0},{"rule":{"kind":"tier","id":"Gold"},"discount":5}]}"#;
            let refund = r#"{"kind":"return","uses_returned":["milk"],"applied":[]}"#;
            conn.execute_batch(
                "INSERT INTO merchants (id, name, currency) VALUES (1, 'M', 'RUB');
                 INSERT INTO stores (id, merchant_id, name, timezone)
                     VALUES (1, 1, 'S', 'Europe/Moscow');
                 INSERT INTO registers (id, store_id, public_key, secret_hash, hostname,
                         agent_version, enrolled_at)
                     VALUES (1, 1, 'k', x'00', 'till-1', '0.1.0', '2026-03-01T00:00:00Z');
                 INSERT INTO customers (id, merchant_id, name, gender, change_cursor)
                     VALUES (1, 1, 'C', 'unspecified', 1);",
            )
            .unwrap();
            for (seq, kind, body) in [(1, "sale", sale), (2, "return", refund)] {
                conn.execute(
                    "INSERT INTO records (register_id, seq, record_id, merchant_id, store_id, kind,
                         customer_id, wall_time, subtotal, discount, total, points_earned,
                         points_redeemed, hash, body, signature, received_at)
                     VALUES (1, ?1, ?2, 1, 1, ?3, 1, '2026-03-02T10:00:00Z', 0, 0, 0, 0, 0,
                         zeroblob(32), ?4, x'00', '2026-03-02T10:00:00Z')",
                    rusqlite::params![seq, format!("r{seq}"), kind, body.as_bytes()],
                )
                .unwrap();
            }
            conn.execute_batch(
                "INSERT INTO promotion_uses (register_id, seq, promotion_id, discount)
                     VALUES (1, 1, 'milk', 100), (1, 2, 'milk', -100);",
            )
            .unwrap();
        }
        let db = open(&path).await;
        let changed = db
            .read(|tx| tx.changed_customers(MerchantId::new(1).unwrap(), 0, 10, None))
            .await
            .unwrap();
        let uses: Vec<(String, u64)> = changed[0]
            .promotion_uses
            .iter()
            .map(|(id, n)| (id.to_string(), *n))
            .collect();
        assert_eq!(uses, [("double".to_owned(), 1)], "milk was given back");
    }

    #[tokio::test]
    async fn the_points_ledger_is_filled_in_from_the_stored_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.db");
        {
            let mut conn = connect(&path).unwrap();
            // The schema as it was before 006 (with 001 to 003 only: the later ones run on open).
            let old = Migrations::new(vec![
                M::up(include_str!("sqlite/migrations/001_initial.sql")),
                M::up(include_str!(
                    "sqlite/migrations/002_alerts_and_clock_drift.sql"
                )),
                M::up(include_str!("sqlite/migrations/003_web_pages.sql")),
            ]);
            old.to_latest(&mut conn).unwrap();
            conn.execute_batch(
                r#"INSERT INTO merchants (id, name, currency) VALUES (1, 'M', 'RUB');
                 INSERT INTO stores (id, merchant_id, name, timezone)
                     VALUES (1, 1, 'S', 'Europe/Moscow');
                 INSERT INTO registers (id, store_id, public_key, secret_hash, hostname,
                         agent_version, enrolled_at)
                     VALUES (1, 1, 'k', x'00', 'till-1', '0.1.0', '2026-03-01T00:00:00Z');
                 INSERT INTO customers (id, merchant_id, name, gender, change_cursor)
                     VALUES (1, 1, 'Анна', 'unknown', 1);
                 INSERT INTO records (register_id, seq, record_id, merchant_id, store_id, kind,
                         customer_id, wall_time, subtotal, discount, total, points_earned,
                         points_redeemed, hash, body, signature, received_at)
                     VALUES
                     (1, 1, '01900000-0000-7000-8000-000000000001', 1, 1, 'sale', 1, '2026-03-01T10:00:00Z', 0, 0, 0, 10, 4,
                      x'00', CAST('{"kind":"sale"}' AS BLOB), x'00', '2026-03-01T10:00:00Z'),
                     (1, 2, '01900000-0000-7000-8000-000000000002', 1, 1, 'return', 1, '2026-03-02T10:00:00Z', 0, 0, 0, -3, -2,
                      x'00',
                      CAST('{"kind":"return","original":{"register_id":1,"seq":1,"id":"a"}}'
                           AS BLOB),
                      x'00', '2026-03-02T10:00:00Z');
                 INSERT INTO ledger (register_id, seq, customer_id, points)
                     VALUES (1, 1, 1, 6), (1, 2, 1, -1);"#,
            )
            .unwrap();
        }
        let db = SqliteRepository::open(&path).await.unwrap();
        let rows: Vec<(i64, i64, Option<i64>, Option<i64>)> = db
            .read(|tx: &Transaction<'_>| {
                let mut stmt = tx.prepare(
                    "SELECT earned, redeemed, original_register_id, original_seq
                     FROM ledger ORDER BY seq",
                )?;
                let rows = stmt
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                    .collect::<Result<_, _>>()?;
                Ok(rows)
            })
            .await
            .unwrap();
        assert_eq!(rows, vec![(10, 4, None, None), (-3, -2, Some(1), Some(1))]);
        let db: Arc<dyn Repository> = Arc::new(db);
        let ledger = db
            .read(|tx| tx.ledger(CustomerId::new(1).unwrap()))
            .await
            .unwrap();
        let points = shared::points::replay(Default::default(), &ledger, Utc::now());
        assert_eq!(points.available, 10 - 4 - 3 + 2);
        // The sale spent 4 it did not have (paid from its own 10), the
        // return clawed 3 back from that batch and gave 2 back as a new one.
        let remaining: Vec<i64> = points.batches.iter().map(|b| b.remaining).collect();
        assert_eq!(remaining, [3, 2]);
    }

    #[tokio::test]
    async fn open_sets_wal_and_reopens_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.db");
        let db = open(&path).await;
        db.ping().await.unwrap();
        let merchant = db
            .write(|tx| {
                tx.insert_merchant(&NewMerchant {
                    name: "Ромашка".into(),
                    currency: shared::money::Currency::RUB,
                })
            })
            .await
            .unwrap();
        drop(db);
        let db = SqliteRepository::open(&path).await.unwrap();
        let id = merchant.id;
        let dyn_db: Arc<dyn Repository> = Arc::new(db.clone());
        assert_eq!(
            dyn_db.read(move |tx| tx.merchant(id)).await.unwrap(),
            Some(merchant)
        );
        let synchronous: i64 = db
            .read(|tx| Ok(tx.query_row("PRAGMA synchronous", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(synchronous, 2, "FULL");
    }
}
