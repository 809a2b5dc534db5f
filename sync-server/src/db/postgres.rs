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

mod account_settings;
mod accounts;
mod alerts;
mod analytics;
mod catalog;
mod columns;
mod content;
mod customers;
mod drafts;
mod events;
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
            let mut pg = PgTx {
                tx: &mut tx,
                statements,
                access,
                cursors: HashMap::new(),
            };
            let out = f(&mut pg).and_then(|out| {
                pg.store_cursors()?;
                Ok(out)
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
    /// Whether it may write (and so lock rows: `FOR UPDATE` fails in a
    /// read-only transaction, where a snapshot needs no lock).
    access: Access,
    /// The customer change cursors handed out here, by merchant: the
    /// first locks the merchant's row and takes the next; the rest count
    /// on from it and the last is stored once before COMMIT (an UPDATE of
    /// one row per cursor leaves a version per UPDATE that every later
    /// one walks, quadratic in a transaction's cursors).
    cursors: HashMap<i64, CursorRun>,
}

/// A merchant's customer cursors handed out by one transaction.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CursorRun {
    /// The cursor stored in the merchant's row.
    pub(crate) stored: i64,
    /// The last cursor handed out.
    pub(crate) last: i64,
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

#[cfg(test)]
mod tests {
    //! Against a real PostgreSQL: `LOYALTY_TEST_POSTGRES_URL`, or the local
    //! test database; each test in a schema of its own.

    use std::sync::Mutex as StdMutex;
    use std::time::Duration;

    use chrono::{DateTime, NaiveDate, Utc};
    use shared::crypto::{Hash256, Signature, SigningKey, sha256};
    use shared::identity::{Gender, PhoneNumber};
    use shared::ids::{CustomerId, MerchantId, PromotionId, RegisterId, RulesetVersion, Seq, Sku};
    use shared::money::{Currency, Money, Quantity};
    use shared::record::{
        IdentifiedBy, PurchaseRecord, RECORD_FORMAT, RecordCustomer, RecordKind, RecordLine,
        RecordRef,
    };

    use super::*;
    use crate::alerts::{AlertKind, NewAlert};
    use crate::db::{
        AlertPage, BirthdayBonusRow, CheckKind, LedgerRow, NewAdminSession, NewEnrollmentToken,
        NewRegister, OfferRating, OfferReview, PromotionUseRow, Rating, RecordKey, RecordRow,
        RepriceOutcome, RepriceResult, SaleKey,
    };
    use crate::ingest::{CheckedRecord, StoredHead};
    use crate::wire::MismatchedField;
    use crate::wire::admin::{NewCustomer, NewMerchant, NewStore};

    /// The database tests run against.
    fn base_url() -> String {
        std::env::var("LOYALTY_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
    }

    /// A schema of the test's own, dropped (best effort) at the end.
    struct Scratch {
        base: String,
        schema: String,
        url: String,
    }

    impl Scratch {
        fn new() -> Scratch {
            let base = base_url();
            let (url, schema) = postgres_test_schema_url(&base).unwrap();
            Scratch { base, schema, url }
        }

        async fn repo(&self) -> Arc<dyn Repository> {
            Arc::new(
                PostgresRepository::connect_with_pool_size(&self.url, 3)
                    .await
                    .unwrap(),
            )
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = postgres_drop_test_schema(&self.base, &self.schema);
        }
    }

    fn at(rfc3339: &str) -> DateTime<Utc> {
        rfc3339.parse().unwrap()
    }

    fn money(minor: i64) -> Money {
        Money::from_minor(minor).unwrap()
    }

    fn new_customer(name: &str, phone: Option<&str>) -> NewCustomer {
        NewCustomer {
            name: name.into(),
            phone: phone.map(|p| PhoneNumber::try_from(p.to_owned()).unwrap()),
            email: None,
            gender: Gender::Female,
            birth_date: Some(NaiveDate::from_ymd_opt(1990, 3, 2).unwrap()),
        }
    }

    /// A merchant of its own.
    async fn merchant(repo: &Arc<dyn Repository>) -> MerchantId {
        repo.write(|tx| {
            tx.insert_merchant(&NewMerchant {
                name: "M".into(),
                currency: Currency::RUB,
            })
        })
        .await
        .unwrap()
        .id
    }

    /// A merchant with one store and one register enrolled with a token.
    struct Shop {
        merchant: MerchantId,
        store: shared::ids::StoreId,
        register: RegisterId,
    }

    async fn shop(repo: &Arc<dyn Repository>) -> Shop {
        let token_hash = sha256(b"token");
        let (merchant, store) = repo
            .write(move |tx| {
                let merchant = tx.insert_merchant(&NewMerchant {
                    name: "Ромашка".into(),
                    currency: Currency::RUB,
                })?;
                let store = tx.insert_store(
                    merchant.id,
                    &NewStore {
                        brand_id: None,
                        name: "Тверская".into(),
                        timezone: "Europe/Moscow".parse().unwrap(),
                    },
                )?;
                tx.insert_enrollment_token(&NewEnrollmentToken {
                    store_id: store.id,
                    token_hash,
                    expires_at: at("2026-03-02T00:00:00Z"),
                })?;
                Ok((merchant.id, store.id))
            })
            .await
            .unwrap();
        let register = repo
            .write(move |tx| {
                let token = tx.enrollment_token(&token_hash)?.unwrap();
                assert!(!token.used);
                assert_eq!(token.merchant_id, merchant);
                assert_eq!(token.store_name, "Тверская");
                assert_eq!(token.currency, Currency::RUB);
                assert_eq!(token.expires_at, at("2026-03-02T00:00:00Z"));
                tx.insert_register(
                    token.store_id,
                    &NewRegister {
                        token_hash,
                        public_key: SigningKey::from_seed(&[7; 32]).unwrap().public_key(),
                        secret_hash: sha256(b"secret"),
                        hostname: "till-1".into(),
                        agent_version: "0.1.0".into(),
                        now: at("2026-03-01T08:00:00Z"),
                    },
                )
            })
            .await
            .unwrap();
        Shop {
            merchant,
            store,
            register,
        }
    }

    fn checked(record: PurchaseRecord) -> CheckedRecord {
        let bytes = serde_json::to_vec(&record).unwrap();
        CheckedRecord {
            hash: sha256(&bytes),
            bytes,
            signature: Signature::from_slice(&[9; 64]).unwrap(),
            verified: true,
            record,
        }
    }

    fn sale(shop: &Shop, seq: i64, customer: CustomerId, wall_time: &str) -> PurchaseRecord {
        let line = RecordLine {
            sku: Sku::parse("4601").unwrap(),
            name: "Молоко".into(),
            category: None,
            quantity: Quantity::ONE,
            unit_price: money(8990),
            amount: money(8990),
            discount: money(450),
            total: money(8540),
            points: 0,
            applied: vec![],
        };
        PurchaseRecord {
            format: RECORD_FORMAT,
            id: uuid::Uuid::now_v7(),
            merchant_id: shop.merchant,
            store_id: shop.store,
            register_id: shop.register,
            seq: Seq::try_from(seq).unwrap(),
            prev_hash: Hash256::GENESIS,
            wall_time: at(wall_time),
            ruleset_version: Some(RulesetVersion::try_from(1).unwrap()),
            kind: RecordKind::Sale,
            currency: Currency::RUB,
            customer: Some(RecordCustomer {
                id: customer,
                identified_by: IdentifiedBy::Token,
            }),
            lines: vec![line],
            subtotal: money(8990),
            discount: money(450),
            total: money(8540),
            points_earned: 85,
            points_redeemed: 10,
            applied: vec![],
            point_awards: vec![],
            pricing_inputs: None,
        }
    }

    #[tokio::test]
    async fn migrations_run_once_and_again_on_an_existing_schema() {
        let scratch = Scratch::new();
        let repo = scratch.repo().await;
        repo.ping().await.unwrap();
        let merchant = repo
            .write(|tx| {
                tx.insert_merchant(&NewMerchant {
                    name: "Ромашка".into(),
                    currency: Currency::RUB,
                })
            })
            .await
            .unwrap();
        drop(repo);
        // A second instance on the same schema finds it migrated.
        let again = PostgresRepository::connect(&scratch.url).await.unwrap();
        let id = merchant.id;
        let repo: Arc<dyn Repository> = Arc::new(again.clone());
        assert_eq!(
            repo.read(move |tx| tx.merchant(id)).await.unwrap(),
            Some(merchant)
        );
        assert_eq!(repo.read(|tx| tx.merchants()).await.unwrap().len(), 1);
        let unknown = MerchantId::new(999).unwrap();
        assert!(matches!(
            repo.read(move |tx| tx.merchant_currency(unknown)).await,
            Err(DbError::NotFound(_))
        ));
        let (highest, applied, distinct): (i32, i64, i64) = again
            .run(Access::Read, |tx| {
                let row = tx.query_one(
                    "SELECT MAX(version), COUNT(*), COUNT(DISTINCT version)
                     FROM refinery_schema_history",
                    &[],
                )?;
                Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))
            })
            .await
            .unwrap();
        let embedded =
            i64::try_from(embedded::migrations::runner().get_migrations().len()).unwrap();
        assert_eq!(applied, embedded, "every migration ran");
        assert_eq!(applied, distinct, "each migration ran once");
        assert_eq!(
            highest, 25,
            "V25 (a customer's standing from indexes) is the newest"
        );
        // Reads cannot write.
        assert!(
            repo.read(|tx| tx.insert_merchant(&NewMerchant {
                name: "x".into(),
                currency: Currency::RUB,
            }))
            .await
            .is_err()
        );
    }

    #[tokio::test]
    async fn a_register_enrolls_with_its_token_once() {
        let scratch = Scratch::new();
        let repo = scratch.repo().await;
        let shop = shop(&repo).await;
        let merchant = shop.merchant;
        let register = shop.register;
        let (token, credentials) = repo
            .write(move |tx| {
                tx.touch_register(register, at("2026-03-01T09:00:00Z"))?;
                tx.set_clock_drift(register, -42, at("2026-03-01T09:00:00Z"))?;
                Ok((
                    tx.enrollment_token(&sha256(b"token"))?,
                    tx.register_credentials(register)?,
                ))
            })
            .await
            .unwrap();
        assert!(token.unwrap().used);
        let credentials = credentials.unwrap();
        assert_eq!(credentials.merchant_id, merchant);
        assert_eq!(credentials.secret_hash, sha256(b"secret"));
        assert!(!credentials.revoked);
        assert!(
            repo.read(|tx| tx.enrollment_token(&sha256(b"other")))
                .await
                .unwrap()
                .is_none()
        );
        repo.write(move |tx| tx.revoke_register(register, at("2026-03-01T10:00:00Z")))
            .await
            .unwrap();
        repo.write(move |tx| tx.revoke_register(register, at("2026-03-01T11:00:00Z")))
            .await
            .unwrap();
        let registers = repo.read(move |tx| tx.registers(merchant)).await.unwrap();
        assert_eq!(registers.len(), 1);
        assert_eq!(registers[0].revoked_at, Some(at("2026-03-01T10:00:00Z")));
        assert_eq!(
            registers[0].register.last_seen_at,
            Some(at("2026-03-01T09:00:00Z"))
        );
        assert_eq!(registers[0].register.records, 0);
        assert_eq!(registers[0].register.head_seq, None);
        let clock = registers[0].clock.unwrap();
        assert_eq!(clock.drift, crate::drift::ClockDrift::from_secs(-42));
    }

    #[tokio::test]
    async fn of_two_enrollments_with_one_token_the_second_waits_and_sees_it_used() {
        let scratch = Scratch::new();
        let repo = scratch.repo().await;
        let shop = shop(&repo).await;
        let store = shop.store;
        let token_hash = sha256(b"second token");
        repo.write(move |tx| {
            tx.insert_enrollment_token(&NewEnrollmentToken {
                store_id: store,
                token_hash,
                expires_at: at("2026-03-02T00:00:00Z"),
            })
        })
        .await
        .unwrap();
        // What the enrollment service does with the primitives.
        let enroll = move |tx: &mut dyn crate::db::Tx,
                           pause: Option<tokio::sync::oneshot::Sender<()>>| {
            let token = tx.enrollment_token(&token_hash)?.unwrap();
            if let Some(read) = pause {
                let _ = read.send(());
                std::thread::sleep(Duration::from_millis(300));
            }
            if token.used {
                return Ok(None);
            }
            tx.insert_register(
                token.store_id,
                &NewRegister {
                    token_hash,
                    public_key: SigningKey::from_seed(&[8; 32]).unwrap().public_key(),
                    secret_hash: sha256(b"secret"),
                    hostname: "till-2".into(),
                    agent_version: "0.1.0".into(),
                    now: at("2026-03-01T08:00:00Z"),
                },
            )
            .map(Some)
        };
        let (read_tx, read_rx) = tokio::sync::oneshot::channel();
        let first = {
            let repo = repo.clone();
            tokio::spawn(async move { repo.write(move |tx| enroll(tx, Some(read_tx))).await })
        };
        read_rx.await.unwrap();
        let second = repo.write(move |tx| enroll(tx, None)).await.unwrap();
        let first = first.await.unwrap().unwrap();
        assert!(first.is_some());
        assert_eq!(second, None, "the token was spent by the first");
    }

    #[tokio::test]
    async fn a_locked_merchant_waits_for_the_first_transaction() {
        let scratch = Scratch::new();
        let repo = scratch.repo().await;
        let merchant = merchant(&repo).await;
        let log = Arc::new(StdMutex::new(Vec::new()));
        let (locked_tx, locked_rx) = tokio::sync::oneshot::channel();
        let first = {
            let (repo, log) = (repo.clone(), log.clone());
            tokio::spawn(async move {
                repo.write(move |tx| {
                    tx.lock_merchant(merchant)?;
                    let _ = locked_tx.send(());
                    std::thread::sleep(Duration::from_millis(400));
                    log.lock().unwrap().push("first commits");
                    Ok(())
                })
                .await
            })
        };
        locked_rx.await.unwrap();
        let second = {
            let log = log.clone();
            repo.write(move |tx| {
                tx.lock_merchant(merchant)?;
                log.lock().unwrap().push("second locks");
                Ok(())
            })
        };
        second.await.unwrap();
        first.await.unwrap().unwrap();
        assert_eq!(*log.lock().unwrap(), ["first commits", "second locks"]);
        let unknown = MerchantId::new(999).unwrap();
        assert!(matches!(
            repo.write(move |tx| tx.lock_merchant(unknown)).await,
            Err(DbError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn a_taken_phone_conflicts_and_cursors_go_up() {
        let scratch = Scratch::new();
        let repo = scratch.repo().await;
        let merchant = merchant(&repo).await;
        let anna = repo
            .write(move |tx| {
                tx.insert_customer(merchant, &new_customer("Анна", Some("+79990001122")))
            })
            .await
            .unwrap();
        let taken = repo
            .write(move |tx| {
                tx.insert_customer(merchant, &new_customer("Ольга", Some("+79990001122")))
            })
            .await;
        match taken {
            Err(DbError::Conflict(message)) => {
                assert!(message.contains("already registered"), "{message}");
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
        // The conflict is reported, not an aborted transaction: the same
        // transaction goes on.
        let (olga, nophone) = repo
            .write(move |tx| {
                assert!(
                    tx.insert_customer(merchant, &new_customer("Ольга", Some("+79990001122")))
                        .is_err()
                );
                Ok((
                    tx.insert_customer(merchant, &new_customer("Ольга", Some("+79990003344")))?,
                    tx.insert_customer(merchant, &new_customer("Вера", None))?,
                ))
            })
            .await
            .unwrap();
        repo.write(move |tx| tx.mark_customer_changed(merchant, anna))
            .await
            .unwrap();
        let changed = repo
            .read(move |tx| tx.changed_customers(merchant, 0, 10, None))
            .await
            .unwrap();
        let order: Vec<CustomerId> = changed.iter().map(|c| c.row.id).collect();
        assert_eq!(order, [olga, nophone, anna]);
        let cursors: Vec<i64> = changed.iter().map(|c| c.cursor).collect();
        assert!(cursors.windows(2).all(|w| w[0] < w[1]), "{cursors:?}");
        assert_eq!(changed[2].row.name, "Анна");
        assert_eq!(changed[2].window_spend, None);
        let unknown = MerchantId::new(999).unwrap();
        assert!(matches!(
            repo.write(move |tx| tx.insert_customer(unknown, &new_customer("X", None)))
                .await,
            Err(DbError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn a_transactions_many_cursors_are_stored_once_and_the_next_writer_follows_them() {
        let scratch = Scratch::new();
        let repo = scratch.repo().await;
        let merchant = merchant(&repo).await;
        let first = repo
            .write(move |tx| tx.insert_customer(merchant, &new_customer("Анна", None)))
            .await
            .unwrap();
        // One transaction hands out a thousand cursors (a large import);
        // another writer waits for it and goes on after its last.
        let (locked_tx, locked_rx) = tokio::sync::oneshot::channel();
        let many = {
            let repo = repo.clone();
            tokio::spawn(async move {
                repo.write(move |tx| {
                    let mut ids = Vec::new();
                    let mut locked_tx = Some(locked_tx);
                    for i in 0..1_000 {
                        ids.push(tx.insert_customer(
                            merchant,
                            &new_customer(&format!("Покупатель {i}"), None),
                        )?);
                        if let Some(locked) = locked_tx.take() {
                            let _ = locked.send(());
                        }
                    }
                    std::thread::sleep(Duration::from_millis(200));
                    Ok(ids)
                })
                .await
            })
        };
        locked_rx.await.unwrap();
        repo.write(move |tx| tx.mark_customer_changed(merchant, first))
            .await
            .unwrap();
        let ids = many.await.unwrap().unwrap();
        let changed = repo
            .read(move |tx| tx.changed_customers(merchant, 0, 2_000, None))
            .await
            .unwrap();
        let order: Vec<CustomerId> = changed.iter().map(|c| c.row.id).collect();
        let mut expected = ids.clone();
        expected.push(first);
        assert_eq!(order, expected);
        let cursors: Vec<i64> = changed.iter().map(|c| c.cursor).collect();
        assert!(
            cursors.windows(2).all(|w| w[1] == w[0] + 1),
            "cursors are dense and rising: {cursors:?}"
        );
    }

    #[tokio::test]
    async fn stored_records_feed_heads_ledgers_customers_and_statistics() {
        let scratch = Scratch::new();
        let repo = scratch.repo().await;
        let shop = shop(&repo).await;
        let merchant = shop.merchant;
        let register = shop.register;
        let customer = repo
            .write(move |tx| tx.insert_customer(merchant, &new_customer("Анна", None)))
            .await
            .unwrap();
        let first = checked(sale(&shop, 1, customer, "2026-03-01T10:00:00Z"));
        let mut refund = sale(&shop, 2, customer, "2026-03-02T10:00:00Z");
        refund.kind = RecordKind::Return {
            original: RecordRef {
                register_id: register,
                seq: first.record.seq,
                id: first.record.id,
            },
            original_lines: vec![0],
            uses_returned: vec![PromotionId::parse("milk").unwrap()],
        };
        refund.points_earned = -85;
        refund.points_redeemed = -10;
        refund.total = money(-8540);
        let refund = checked(refund);
        let (sale_id, sale_hash, refund_hash) = (first.record.id, first.hash, refund.hash);
        let key = move |seq: i64| RecordKey {
            register_id: register,
            seq: Seq::try_from(seq).unwrap(),
        };
        let milk = PromotionId::parse("milk").unwrap();
        repo.write(move |tx| {
            tx.touch_register(register, at("2026-03-01T10:00:05Z"))?;
            assert_eq!(tx.head(register)?, None);
            let known =
                tx.merchant_customers(merchant, &[customer, CustomerId::new(999).unwrap()])?;
            assert_eq!(known.into_iter().collect::<Vec<_>>(), [customer]);
            tx.insert_record(&RecordRow {
                checked: &first,
                kind: CheckKind::Sale,
                customer: Some(customer),
                spend: money(8540),
                received_at: at("2026-03-01T10:00:05Z"),
            })?;
            tx.insert_promotion_uses(&[(
                key(1),
                PromotionUseRow {
                    promotion_id: milk.clone(),
                    discount: money(450),
                    funded_by: Some("dairy".into()),
                    uses: 1,
                },
            )])?;
            tx.insert_ledger_entries(&[(
                key(1),
                LedgerRow {
                    customer_id: customer,
                    earned: 85,
                    redeemed: 10,
                    original: None,
                },
            )])?;
            tx.insert_birthday_bonuses(&[BirthdayBonusRow {
                record: key(1),
                customer_id: customer,
                local_date: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
            }])?;
            tx.mark_customer_changed(merchant, customer)
        })
        .await
        .unwrap();

        // The sale alone: one check of milk, the birthday bonus, its spend.
        let changed = repo
            .read(move |tx| tx.changed_customers(merchant, 0, 10, Some(at("2026-02-28T00:00:00Z"))))
            .await
            .unwrap();
        assert_eq!(changed.len(), 1);
        let c = &changed[0];
        assert_eq!(c.row.lifetime_spend, money(8540));
        assert_eq!(c.sales, 1);
        assert_eq!(
            c.promotion_uses.get(&PromotionId::parse("milk").unwrap()),
            Some(&1)
        );
        assert_eq!(c.last_birthday_bonus, NaiveDate::from_ymd_opt(2026, 3, 1));
        assert_eq!(c.window_spend, Some(money(8540)));
        let later = repo
            .read(move |tx| tx.changed_customers(merchant, 0, 10, Some(at("2026-03-01T10:00:00Z"))))
            .await
            .unwrap();
        assert_eq!(later[0].window_spend, Some(Money::ZERO), "strictly after");

        let milk = PromotionId::parse("milk").unwrap();
        repo.write(move |tx| {
            tx.touch_register(register, at("2026-03-02T10:00:05Z"))?;
            tx.insert_record(&RecordRow {
                checked: &refund,
                kind: CheckKind::Return,
                customer: Some(customer),
                spend: money(-8540),
                received_at: at("2026-03-02T10:00:05Z"),
            })?;
            tx.insert_promotion_uses(&[(
                key(2),
                PromotionUseRow {
                    promotion_id: milk,
                    discount: money(-450),
                    funded_by: None,
                    uses: -1,
                },
            )])?;
            tx.insert_ledger_entries(&[(
                key(2),
                LedgerRow {
                    customer_id: customer,
                    earned: -85,
                    redeemed: -10,
                    original: Some(key(1)),
                },
            )])?;
            tx.mark_customer_changed(merchant, customer)
        })
        .await
        .unwrap();

        let (head, hashes, ledger, changed, by_day, purchases) = repo
            .read(move |tx| {
                Ok((
                    tx.head(register)?,
                    tx.stored_hashes(register, Seq::FIRST, Seq::try_from(5).unwrap())?,
                    tx.ledger(customer)?,
                    tx.changed_customers(merchant, 0, 10, None)?,
                    tx.spend_by_day(customer, at("2026-02-01T00:00:00Z"))?,
                    tx.purchases(customer, 10)?,
                ))
            })
            .await
            .unwrap();
        assert_eq!(
            head,
            Some(StoredHead {
                seq: Seq::try_from(2).unwrap(),
                hash: refund_hash
            })
        );
        assert_eq!(
            hashes.into_iter().collect::<Vec<_>>(),
            [
                (Seq::FIRST, sale_hash),
                (Seq::try_from(2).unwrap(), refund_hash)
            ]
        );
        assert_eq!(ledger.len(), 2);
        assert!(ledger[0].order < ledger[1].order);
        assert_eq!((ledger[0].earned, ledger[0].redeemed), (85, 10));
        assert_eq!(ledger[0].at, at("2026-03-01T10:00:00Z"));
        assert_eq!(ledger[0].terms, None, "no release of version 1 is stored");
        assert_eq!(
            ledger[1]
                .original
                .and_then(|o| o.as_record())
                .map(|(_, seq)| seq),
            Some(Seq::FIRST)
        );
        assert_eq!(changed[0].row.lifetime_spend, Money::ZERO);
        assert!(changed[0].promotion_uses.is_empty(), "milk was given back");
        assert_eq!(changed[0].sales, 1);
        assert_eq!(
            by_day,
            [
                (at("2026-03-01T10:00:00Z"), money(8540)),
                (at("2026-03-02T10:00:00Z"), money(-8540))
            ]
        );
        assert_eq!(purchases.len(), 2);
        assert_eq!(purchases[0].kind, "return", "newest first");
        assert_eq!(purchases[1].id, sale_id);

        let (by_seq, by_id, returns, not_a_sale, spending, overdrawn) = repo
            .read(move |tx| {
                Ok((
                    tx.sale(merchant, SaleKey::Seq(register, Seq::FIRST))?,
                    tx.sale(merchant, SaleKey::Record(sale_id))?,
                    tx.returns_of(merchant, sale_id)?,
                    tx.sale(merchant, SaleKey::Seq(register, Seq::try_from(2).unwrap()))?,
                    tx.spending_customers(merchant)?,
                    tx.overdrawn_record(key(1))?,
                ))
            })
            .await
            .unwrap();
        let (by_seq, id) = by_seq.unwrap();
        assert_eq!(id, sale_id);
        assert_eq!(sha256(&by_seq.body), sale_hash);
        assert_eq!(
            by_seq.record.signature,
            Signature::from_slice(&[9; 64]).unwrap()
        );
        assert_eq!(by_id.unwrap().0.body, by_seq.body);
        assert_eq!(returns.len(), 1);
        assert_eq!(sha256(&returns[0].body), refund_hash);
        assert!(not_a_sale.is_none());
        assert_eq!(spending.len(), 1);
        assert_eq!(spending[0].0, customer);
        assert_eq!(overdrawn.record_id, sale_id);
        assert_eq!(overdrawn.points_redeemed, 10);
        let registers = repo.read(move |tx| tx.registers(merchant)).await.unwrap();
        assert_eq!(registers[0].register.records, 2);
        assert_eq!(
            registers[0].register.head_seq,
            Some(Seq::try_from(2).unwrap())
        );
    }

    #[tokio::test]
    async fn forks_are_kept_once_and_alerts_listed_newest_first() {
        let scratch = Scratch::new();
        let repo = scratch.repo().await;
        let shop = shop(&repo).await;
        let (merchant, register) = (shop.merchant, shop.register);
        let customer = CustomerId::new(1).unwrap();
        let fork = checked(sale(&shop, 1, customer, "2026-03-01T10:00:00Z"));
        let fork_hash = fork.hash;
        let (first, again) = repo
            .write(move |tx| {
                Ok((
                    tx.quarantine_record(&fork, at("2026-03-01T10:00:00Z"))?,
                    tx.quarantine_record(&fork, at("2026-03-01T10:01:00Z"))?,
                ))
            })
            .await
            .unwrap();
        assert!(first);
        assert!(!again);
        for (minute, seq) in [("00", 1), ("05", 2)] {
            let alert = NewAlert::chain_broken(
                register,
                Seq::try_from(seq).unwrap(),
                at(&format!("2026-03-01T10:{minute}:00Z")),
            );
            repo.write(move |tx| tx.insert_alert(&alert)).await.unwrap();
        }
        let unknown = NewAlert::chain_broken(
            RegisterId::new(999).unwrap(),
            Seq::FIRST,
            at("2026-03-01T10:00:00Z"),
        );
        assert!(matches!(
            repo.write(move |tx| tx.insert_alert(&unknown)).await,
            Err(DbError::NotFound(_))
        ));
        let (alerts, older, last, last_at_1, none, quarantined) = repo
            .read(move |tx| {
                let all = tx.alerts(
                    merchant,
                    AlertPage {
                        before: None,
                        limit: 10,
                    },
                )?;
                let older = tx.alerts(
                    merchant,
                    AlertPage {
                        before: Some(all[0].id),
                        limit: 10,
                    },
                )?;
                Ok((
                    all,
                    older,
                    tx.last_alert_at(register, AlertKind::ChainBroken, None)?,
                    tx.last_alert_at(register, AlertKind::ChainBroken, Some(Seq::FIRST))?,
                    tx.last_alert_at(register, AlertKind::Fork, None)?,
                    tx.quarantined(merchant, 10)?,
                ))
            })
            .await
            .unwrap();
        assert_eq!(alerts.len(), 2);
        assert_eq!(alerts[0].seq, Some(Seq::try_from(2).unwrap()));
        assert_eq!(older.len(), 1);
        assert_eq!(last, Some(at("2026-03-01T10:05:00Z")));
        assert_eq!(last_at_1, Some(at("2026-03-01T10:00:00Z")));
        assert_eq!(none, None);
        assert_eq!(quarantined.len(), 1);
        assert_eq!(quarantined[0].received_hash, fork_hash);
        assert_eq!(quarantined[0].stored_hash, None);
    }

    #[tokio::test]
    async fn the_repricer_finds_records_without_an_outcome() {
        let scratch = Scratch::new();
        let repo = scratch.repo().await;
        let shop = shop(&repo).await;
        let (merchant, register) = (shop.merchant, shop.register);
        let customer = repo
            .write(move |tx| tx.insert_customer(merchant, &new_customer("Анна", None)))
            .await
            .unwrap();
        let records: Vec<CheckedRecord> = (1..=3)
            .map(|seq| checked(sale(&shop, seq, customer, "2026-03-01T10:00:00Z")))
            .collect();
        repo.write(move |tx| {
            for r in &records {
                tx.insert_record(&RecordRow {
                    checked: r,
                    kind: CheckKind::Sale,
                    customer: Some(customer),
                    spend: r.record.total,
                    received_at: at("2026-03-01T10:00:05Z"),
                })?;
            }
            Ok(())
        })
        .await
        .unwrap();
        let candidates = repo.read(|tx| tx.reprice_candidates(2)).await.unwrap();
        assert_eq!(candidates.len(), 2);
        assert_eq!(candidates[0].key.seq, Seq::FIRST);
        assert_eq!(candidates[0].merchant_id, merchant);
        let results: Vec<RepriceResult> = candidates
            .iter()
            .map(|c| RepriceResult {
                key: c.key,
                merchant_id: c.merchant_id,
                outcome: if c.key.seq == Seq::FIRST {
                    RepriceOutcome::Mismatched(vec![MismatchedField {
                        field: "total".into(),
                        till: 8540,
                        server: 8500,
                    }])
                } else {
                    RepriceOutcome::Skipped("no pricing inputs".into())
                },
                return_of: None,
            })
            .collect();
        let last = candidates[1].row;
        repo.write(move |tx| {
            for r in &results {
                tx.save_reprice_result(r, at("2026-03-01T11:00:00Z"))?;
                // Saved twice: the outcome is replaced.
                tx.save_reprice_result(r, at("2026-03-01T11:00:00Z"))?;
            }
            tx.advance_reprice_cursor(last)
        })
        .await
        .unwrap();
        let (rest, report) = repo
            .read(move |tx| Ok((tx.reprice_candidates(10)?, tx.reprice_report(merchant, 10)?)))
            .await
            .unwrap();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].key.seq, Seq::try_from(3).unwrap());
        assert_eq!(report.counts.mismatched, 1);
        assert_eq!(report.counts.skipped, 1);
        assert_eq!(report.counts.pending, 1);
        assert_eq!(report.skipped[0].reason, "no pricing inputs");
        assert_eq!(report.mismatches.len(), 1);
        assert_eq!(report.mismatches[0].fields.len(), 1);
        let body = repo
            .read(move |tx| {
                tx.record_body(RecordKey {
                    register_id: register,
                    seq: Seq::FIRST,
                })
            })
            .await
            .unwrap();
        assert!(body.is_some());
    }

    #[tokio::test]
    async fn sessions_live_until_they_expire_or_end() {
        let scratch = Scratch::new();
        let repo = scratch.repo().await;
        let id_hash = sha256(b"session id");
        let session = NewAdminSession {
            id_hash,
            csrf_token: "form token".into(),
            created_at: at("2026-03-01T08:00:00Z"),
            expires_at: at("2026-03-01T20:00:00Z"),
            account_id: None,
            public_id: "s1".into(),
        };
        repo.write(move |tx| tx.insert_admin_session(&session))
            .await
            .unwrap();
        let session_at = |hash: Hash256, when: &str| {
            let when = at(when);
            let repo = repo.clone();
            async move {
                repo.read(move |tx| tx.admin_session(&hash, when))
                    .await
                    .unwrap()
            }
        };
        let live = session_at(id_hash, "2026-03-01T19:59:59Z").await.unwrap();
        assert_eq!(live.csrf_token, "form token");
        assert_eq!(live.expires_at, at("2026-03-01T20:00:00Z"));
        assert!(session_at(id_hash, "2026-03-01T20:00:00Z").await.is_none());
        assert!(
            session_at(sha256(b"another"), "2026-03-01T09:00:00Z")
                .await
                .is_none()
        );
        repo.write(move |tx| tx.delete_admin_session(&id_hash))
            .await
            .unwrap();
        assert!(session_at(id_hash, "2026-03-01T09:00:00Z").await.is_none());
    }

    #[tokio::test]
    async fn a_new_link_replaces_the_old_and_reviews_are_one_per_offer() {
        let scratch = Scratch::new();
        let repo = scratch.repo().await;
        let (merchant, customer) = repo
            .write(|tx| {
                let merchant = tx.insert_merchant(&NewMerchant {
                    name: "M".into(),
                    currency: Currency::RUB,
                })?;
                let customer = tx.insert_customer(merchant.id, &new_customer("Анна", None))?;
                Ok((merchant.id, customer))
            })
            .await
            .unwrap();
        let now = at("2026-03-01T08:00:00Z");
        for secret in [&b"first"[..], b"second"] {
            let hash = sha256(secret);
            repo.write(move |tx| tx.set_customer_link(customer, &hash, now))
                .await
                .unwrap();
        }
        let by_link = |secret: &'static [u8]| {
            let repo = repo.clone();
            async move {
                repo.read(move |tx| tx.customer_by_link(&sha256(secret)))
                    .await
                    .unwrap()
            }
        };
        assert_eq!(by_link(b"first").await, None);
        assert_eq!(by_link(b"second").await, Some(customer));
        let unknown = CustomerId::new(999).unwrap();
        assert!(matches!(
            repo.write(move |tx| tx.set_customer_link(unknown, &sha256(b"x"), now))
                .await,
            Err(DbError::NotFound(_))
        ));

        let milk = PromotionId::parse("milk").unwrap();
        for (stars, text) in [(2, "так себе"), (5, "передумала: отлично")] {
            let review = OfferReview {
                customer_id: customer,
                merchant_id: merchant,
                promotion_id: milk.clone(),
                rating: Rating::new(stars).unwrap(),
                text: text.into(),
                updated_at: now,
                status: crate::db::ReviewStatus::Pending,
                reply: None,
            };
            repo.write(move |tx| tx.save_offer_review(&review))
                .await
                .unwrap();
        }
        let waiting = repo
            .read(move |tx| tx.offer_ratings(merchant))
            .await
            .unwrap();
        assert!(waiting.is_empty(), "a review counts once approved");
        let approved = milk.clone();
        assert!(
            repo.write(move |tx| {
                tx.moderate_offer_review(
                    merchant,
                    customer,
                    &approved,
                    crate::db::ReviewStatus::Approved,
                    Some("Спасибо!"),
                    now,
                )
            })
            .await
            .unwrap()
        );
        let (ratings, mine, recent) = repo
            .read(move |tx| {
                Ok((
                    tx.offer_ratings(merchant)?,
                    tx.customer_reviews(customer)?,
                    tx.recent_offer_reviews(merchant, 10)?,
                ))
            })
            .await
            .unwrap();
        assert_eq!(
            ratings,
            vec![OfferRating {
                promotion_id: milk.clone(),
                reviews: 1,
                stars_total: 5
            }]
        );
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0].text, "передумала: отлично");
        assert_eq!(recent, mine);
    }

    #[test]
    fn the_search_path_is_added_to_urls_and_key_value_strings() {
        assert_eq!(
            with_search_path("postgres://u@h/db", "t_1"),
            "postgres://u@h/db?options=-csearch_path%3Dt_1"
        );
        assert_eq!(
            with_search_path("postgres://u@h/db?sslmode=disable", "t_1"),
            "postgres://u@h/db?sslmode=disable&options=-csearch_path%3Dt_1"
        );
        assert_eq!(
            with_search_path("host=h user=u", "t_1"),
            "host=h user=u options='-csearch_path=t_1'"
        );
        assert!(postgres_drop_test_schema("postgres://u@h/db", "public; --").is_err());
    }
}
