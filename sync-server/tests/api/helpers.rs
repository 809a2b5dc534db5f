//! A real server on 127.0.0.1:0 over a fresh data directory, an admin
//! client, and test registers that sign real purchase records.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use shared::crypto::{Hash256, PublicKey, SigningKey};
use shared::ids::{CustomerId, MerchantId, PromotionId, RegisterId, Seq, Sku, StoreId};
use shared::money::{Currency, Money, Quantity};
use shared::pricing::{AppliedRule, RuleRef};
use shared::record::{
    IdentifiedBy, PurchaseRecord, RECORD_FORMAT, RecordCustomer, RecordKind, RecordLine, RecordRef,
    SignedRecord,
};
use shared::wire::sync::{EnrollRequest, EnrollResponse};
use shared::wire::{PROTOCOL_HEADER, PROTOCOL_VERSION};
use sync_server::Settings;
use sync_server::clock::ManualClock;
use sync_server::config::{
    ClockSettings, IngestSettings, LongPollSettings, TokenSettings, WebSettings,
};
use sync_server::wire::admin::{EnrollmentToken, Merchant, Store};
use sync_server::wire::{Alert, RegisterView, RepriceReport};
use tempfile::TempDir;
use test_kit::poll::Deadline;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

pub const ADMIN_TOKEN: &str = "test-admin-token";

/// Settings for a test server: short long-polls.
pub fn settings(data_dir: &Path) -> Settings {
    Settings {
        data_dir: data_dir.to_owned(),
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        admin_token: SecretString::from(ADMIN_TOKEN),
        metrics_token: None,
        public_url: None,
        longpoll: LongPollSettings {
            max_wait_secs: 5,
            ..LongPollSettings::default()
        },
        tokens: TokenSettings::default(),
        ingest: IngestSettings::default(),
        clock: ClockSettings::default(),
        web: WebSettings::default(),
        leases: sync_server::config::LeaseSettings::default(),
        database: sync_server::config::DatabaseSettings {
            url: test_database_url(data_dir).map(SecretString::from),
        },
        notify: sync_server::config::NotifySettings::default(),
        tls: sync_server::config::TlsSettings::default(),
    }
}

/// Whether the test servers keep their data in PostgreSQL
/// (`LOYALTY_TEST_DATABASE=postgres`, at `LOYALTY_TEST_POSTGRES_URL` or
/// the machine's own) instead of SQLite in their data directories.
pub fn on_postgres() -> bool {
    std::env::var("LOYALTY_TEST_DATABASE").is_ok_and(|v| v.eq_ignore_ascii_case("postgres"))
}

/// On PostgreSQL, the URL of a schema of the server's own, made the first
/// time and remembered in its data directory so a restart finds its data.
fn test_database_url(data_dir: &Path) -> Option<String> {
    if !on_postgres() {
        return None;
    }
    let remembered = data_dir.join("test-database-url");
    if let Ok(url) = std::fs::read_to_string(&remembered) {
        return Some(url);
    }
    let base = std::env::var("LOYALTY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let (url, _schema) =
        std::thread::spawn(move || sync_server::db::postgres_test_schema_url(&base))
            .join()
            .expect("the schema helper")
            .expect("a test schema in PostgreSQL");
    std::fs::write(&remembered, &url).expect("remember the test schema");
    Some(url)
}

/// A server running in this process.
pub struct TestServer {
    pub base: String,
    pub http: reqwest::Client,
    addr: SocketAddr,
    data_dir: TempDir,
    configure: fn(&mut Settings),
    clock: Option<Arc<ManualClock>>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl TestServer {
    /// Starts a server on a free port over a fresh data directory.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Starts a server with settings changed by `configure`.
    pub async fn spawn_with(configure: fn(&mut Settings)) -> Self {
        let data_dir = tempfile::tempdir().expect("tempdir");
        Self::start(
            data_dir,
            SocketAddr::from(([127, 0, 0, 1], 0)),
            configure,
            None,
        )
        .await
    }

    /// Starts a server that sends messages as `notify` says (an SMTP relay
    /// the test started).
    pub async fn spawn_with_notify(notify: sync_server::config::NotifySettings) -> Self {
        let data_dir = tempfile::tempdir().expect("tempdir");
        Self::start_with(
            data_dir,
            SocketAddr::from(([127, 0, 0, 1], 0)),
            |_| {},
            None,
            Some(notify),
        )
        .await
    }

    /// Starts a server over `data_dir`, such as one a backup was restored
    /// into.
    pub async fn spawn_over(data_dir: TempDir) -> Self {
        Self::start(
            data_dir,
            SocketAddr::from(([127, 0, 0, 1], 0)),
            |_| {},
            None,
        )
        .await
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// Starts a server whose clock moves only when the test says. It runs
    /// the same router over the same state as `serve`, built by hand
    /// because `serve` uses the system clock.
    pub async fn spawn_with_clock(clock: Arc<ManualClock>) -> Self {
        let data_dir = tempfile::tempdir().expect("tempdir");
        Self::start(
            data_dir,
            SocketAddr::from(([127, 0, 0, 1], 0)),
            |_| {},
            Some(clock),
        )
        .await
    }

    /// Starts a server whose clock moves only when the test says, sending
    /// messages through `notify`'s channels.
    pub async fn spawn_with_clock_and_notify(
        clock: Arc<ManualClock>,
        notify: sync_server::config::NotifySettings,
    ) -> Self {
        let data_dir = tempfile::tempdir().expect("tempdir");
        Self::start_with(
            data_dir,
            SocketAddr::from(([127, 0, 0, 1], 0)),
            |_| {},
            Some(clock),
            Some(notify),
        )
        .await
    }

    async fn start(
        data_dir: TempDir,
        addr: SocketAddr,
        configure: fn(&mut Settings),
        clock: Option<Arc<ManualClock>>,
    ) -> Self {
        Self::start_with(data_dir, addr, configure, clock, None).await
    }

    async fn start_with(
        data_dir: TempDir,
        addr: SocketAddr,
        configure: fn(&mut Settings),
        clock: Option<Arc<ManualClock>>,
        notify: Option<sync_server::config::NotifySettings>,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let mut settings = settings(data_dir.path());
        configure(&mut settings);
        if let Some(notify) = notify {
            settings.notify = notify;
        }
        let shutdown = async move {
            let _ = stopped.await;
        };
        let task = match clock.clone() {
            None => tokio::spawn(sync_server::serve(settings, listener, shutdown)),
            // Every background task (referral rewards, scheduled publishes,
            // campaigns, the re-pricer) runs on the test's clock.
            Some(clock) => tokio::spawn(sync_server::serve_with_clock(
                settings, clock, listener, shutdown,
            )),
        };
        let server = TestServer {
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
            addr,
            data_dir,
            configure,
            clock,
            stop,
            task,
        };
        server.wait_until_healthy().await;
        server
    }

    async fn wait_until_healthy(&self) {
        let deadline = Deadline::after(std::time::Duration::from_secs(10));
        loop {
            if let Ok(r) = self.http.get(format!("{}/health", self.base)).send().await
                && r.status() == StatusCode::OK
            {
                return;
            }
            if let Err(e) = deadline
                .tick(|| "the server did not become healthy".into())
                .await
            {
                panic!("{e}");
            }
        }
    }

    /// Stops the server and starts it again on the same address and data.
    pub async fn restart(self) -> Self {
        let (addr, data_dir, configure, clock) =
            (self.addr, self.data_dir, self.configure, self.clock);
        let _ = self.stop.send(());
        tokio::time::timeout(std::time::Duration::from_secs(10), self.task)
            .await
            .expect("the server stops promptly")
            .expect("the server task")
            .expect("the server stops cleanly");
        Self::start(data_dir, addr, configure, clock).await
    }

    /// The server's repository, opened again beside the running server
    /// (its SQLite file, or its PostgreSQL schema), for tests of the
    /// storage primitives themselves.
    pub async fn repository(&self) -> Arc<dyn sync_server::db::Repository> {
        match test_database_url(self.data_dir.path()) {
            None => Arc::new(
                sync_server::db::SqliteRepository::open(&self.database_path())
                    .await
                    .expect("open the database"),
            ),
            Some(url) => Arc::new(
                sync_server::db::PostgresRepository::connect(&url)
                    .await
                    .expect("connect to the test schema"),
            ),
        }
    }

    pub fn database_path(&self) -> std::path::PathBuf {
        self.data_dir.path().join(sync_server::DATABASE_FILE)
    }

    /// An admin call; the status and the JSON reply (`null` when empty).
    pub async fn admin(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        reply(request.send().await.expect("send")).await
    }

    /// An admin call that must succeed, decoded.
    pub async fn admin_ok<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> T {
        let (status, value) = self.admin(method, path, body).await;
        assert!(status.is_success(), "{path}: {status} {value}");
        serde_json::from_value(value).expect("decode reply")
    }

    pub async fn merchant(&self, name: &str) -> Merchant {
        self.admin_ok(
            Method::POST,
            "/api/v1/admin/merchants",
            Some(json!({"name": name, "currency": "RUB"})),
        )
        .await
    }

    pub async fn store(&self, merchant: MerchantId, name: &str, timezone: &str) -> Store {
        self.admin_ok(
            Method::POST,
            &format!("/api/v1/admin/merchants/{merchant}/stores"),
            Some(json!({"brand_id": null, "name": name, "timezone": timezone})),
        )
        .await
    }

    pub async fn enrollment_token(&self, store: StoreId) -> EnrollmentToken {
        self.admin_ok(
            Method::POST,
            &format!("/api/v1/admin/stores/{store}/enrollment-tokens"),
            Some(json!({})),
        )
        .await
    }

    pub async fn customer(
        &self,
        merchant: MerchantId,
        body: Value,
    ) -> sync_server::wire::admin::CustomerView {
        self.admin_ok(
            Method::POST,
            &format!("/api/v1/admin/merchants/{merchant}/customers"),
            Some(body),
        )
        .await
    }

    /// `GET /api/v1/admin/merchants/{id}/registers`, with the server's
    /// extensions of the shared `Register`.
    pub async fn registers(&self, merchant: MerchantId) -> Vec<RegisterView> {
        self.admin_ok(
            Method::GET,
            &format!("/api/v1/admin/merchants/{merchant}/registers"),
            None,
        )
        .await
    }

    /// `GET /api/v1/admin/merchants/{id}/mismatches`.
    pub async fn mismatches(&self, merchant: MerchantId) -> RepriceReport {
        self.admin_ok(
            Method::GET,
            &format!("/api/v1/admin/merchants/{merchant}/mismatches"),
            None,
        )
        .await
    }

    /// Customer-feed long-polls parked on this server right now, waiting
    /// for a change (`long_polls_waiting` of
    /// `GET /api/v1/admin/customer-feed`; ruleset long-polls are not
    /// counted there).
    pub async fn parked_long_polls(&self) -> u64 {
        let metrics: sync_server::wire::admin::CustomerFeedMetrics = self
            .admin_ok(Method::GET, "/api/v1/admin/customer-feed", None)
            .await;
        metrics.long_polls_waiting
    }

    /// Waits until at least `n` customer-feed long-polls are parked: a request sent in
    /// another task has arrived and waits for a change, so what the test
    /// does next must wake it.
    pub async fn wait_parked_long_polls(&self, n: u64) {
        let deadline = Deadline::after(std::time::Duration::from_secs(10))
            .every(std::time::Duration::from_millis(10));
        loop {
            let parked = self.parked_long_polls().await;
            if parked >= n {
                return;
            }
            if let Err(e) = deadline
                .tick(|| format!("{n} long-polls parked, not {parked}"))
                .await
            {
                panic!("{e}");
            }
        }
    }

    /// The re-pricer's report once nothing stored is pending.
    pub async fn repriced(&self, merchant: MerchantId) -> RepriceReport {
        let deadline = Deadline::after(std::time::Duration::from_secs(30));
        loop {
            let report = self.mismatches(merchant).await;
            if report.counts.pending == 0 {
                return report;
            }
            if let Err(e) = deadline
                .tick(|| format!("the re-pricer did not catch up: {report:?}"))
                .await
            {
                panic!("{e}");
            }
        }
    }

    /// `GET /api/v1/admin/merchants/{id}/alerts`, newest first.
    pub async fn alerts(&self, merchant: MerchantId) -> Vec<Alert> {
        self.admin_ok(
            Method::GET,
            &format!("/api/v1/admin/merchants/{merchant}/alerts"),
            None,
        )
        .await
    }

    /// A number the server's database answers to `sql` (one row, one
    /// column): in its SQLite file, or in its PostgreSQL schema, where
    /// `x'…'` blob literals are read as `bytea`.
    pub fn count_rows(&self, sql: &str) -> i64 {
        match test_database_url(self.data_dir.path()) {
            None => rusqlite::Connection::open(self.database_path())
                .expect("open the database")
                .query_row(sql, [], |row| row.get(0))
                .expect("count"),
            Some(url) => {
                // SQLite's blob literal x'ab' is PostgreSQL's '\xab'.
                let sql = format!("SELECT ({})::BIGINT", sql.replace("x'", "'\\x"));
                std::thread::spawn(move || {
                    let mut db = postgres::Client::connect(&url, postgres::NoTls)
                        .expect("connect to the test schema");
                    let row = db.query_one(&sql, &[]).expect("count");
                    row.get::<_, Option<i64>>(0).unwrap_or(0)
                })
                .join()
                .expect("the PostgreSQL query")
            }
        }
    }

    /// Runs statements (`;`-separated, no parameters) on the server's
    /// database, as an operator with a SQL shell would.
    pub fn execute(&self, sql: &str) {
        match test_database_url(self.data_dir.path()) {
            None => rusqlite::Connection::open(self.database_path())
                .expect("open the database")
                .execute_batch(sql)
                .expect("execute"),
            Some(url) => {
                let sql = sql.to_owned();
                std::thread::spawn(move || {
                    let mut db = postgres::Client::connect(&url, postgres::NoTls)
                        .expect("connect to the test schema");
                    db.batch_execute(&sql).expect("execute");
                })
                .join()
                .expect("the PostgreSQL statements");
            }
        }
    }

    /// The seqs of `register` in the order the server stored them.
    pub fn seqs_in_storage_order(&self, register: RegisterId) -> Vec<i64> {
        match test_database_url(self.data_dir.path()) {
            None => rusqlite::Connection::open(self.database_path())
                .unwrap()
                .prepare("SELECT seq FROM records WHERE register_id = ?1 ORDER BY id")
                .unwrap()
                .query_map([register.get()], |row| row.get::<_, i64>(0))
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap(),
            Some(url) => std::thread::spawn(move || {
                let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
                db.query(
                    "SELECT seq FROM records WHERE register_id = $1 ORDER BY id",
                    &[&register.get()],
                )
                .unwrap()
                .iter()
                .map(|row| row.get::<_, i64>(0))
                .collect()
            })
            .join()
            .unwrap(),
        }
    }

    pub async fn publish(&self, merchant: MerchantId, ruleset: Value) -> (StatusCode, Value) {
        self.admin(
            Method::PUT,
            &format!("/api/v1/admin/merchants/{merchant}/ruleset"),
            Some(ruleset),
        )
        .await
    }

    /// Posts an enrollment request.
    pub async fn enroll_with(&self, token: &str, key: &SigningKey) -> (StatusCode, Value) {
        let request = EnrollRequest {
            enrollment_token: token.to_owned(),
            public_key: key.public_key(),
            agent_version: "0.1.0".into(),
            hostname: "till-1".into(),
        };
        post_json(
            &self.http,
            &format!("{}/api/v1/registers/enroll", self.base),
            &request,
        )
        .await
    }

    /// Enrolls a new register of `store`.
    pub async fn enroll(&self, store: StoreId, key_seed: u8) -> Till {
        let token = self.enrollment_token(store).await;
        let key = SigningKey::from_seed(&[key_seed; 32]).expect("key");
        let (status, value) = self.enroll_with(&token.token, &key).await;
        assert_eq!(status, StatusCode::CREATED, "{value}");
        let enrolled: EnrollResponse = serde_json::from_value(value).expect("enroll reply");
        Till {
            base: self.base.clone(),
            http: self.http.clone(),
            register_id: enrolled.register_id,
            merchant_id: enrolled.merchant_id,
            store_id: enrolled.store_id,
            secret: enrolled.register_secret,
            server_key: enrolled.server_public_key,
            key,
            next_seq: Seq::FIRST,
            prev_hash: Hash256::GENESIS,
        }
    }
}

async fn post_json(
    http: &reqwest::Client,
    url: &str,
    body: &impl Serialize,
) -> (StatusCode, Value) {
    reply(http.post(url).json(body).send().await.expect("send")).await
}

pub async fn reply(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.expect("body");
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {status} {text:?}"))
    };
    (status, value)
}

/// A purchase to record; one line.
#[derive(Clone, Debug)]
pub struct Purchase {
    pub kind: RecordKind,
    pub customer: Option<CustomerId>,
    pub amount: i64,
    pub discount: i64,
    pub points_earned: i64,
    pub points_redeemed: i64,
    pub promotion: Option<(&'static str, Option<&'static str>)>,
    pub wall_time: DateTime<Utc>,
    pub ruleset_version: Option<i64>,
}

impl Purchase {
    pub fn sale(amount: i64) -> Self {
        Purchase {
            kind: RecordKind::Sale,
            customer: None,
            amount,
            discount: 0,
            points_earned: 0,
            points_redeemed: 0,
            promotion: None,
            wall_time: "2026-03-02T10:00:00Z".parse().expect("time"),
            ruleset_version: None,
        }
    }

    /// Priced with ruleset `version`.
    pub fn priced_with(mut self, version: i64) -> Self {
        self.ruleset_version = Some(version);
        self
    }

    /// A refund of `amount` for an earlier sale.
    pub fn refund(amount: i64, original: RecordRef) -> Self {
        Purchase {
            kind: RecordKind::refund_of(original),
            ..Self::sale(amount)
        }
    }

    pub fn by(mut self, customer: CustomerId) -> Self {
        self.customer = Some(customer);
        self
    }

    pub fn discounted(
        mut self,
        discount: i64,
        promotion: &'static str,
        funded_by: Option<&'static str>,
    ) -> Self {
        self.discount = discount;
        self.promotion = Some((promotion, funded_by));
        self
    }

    pub fn points(mut self, earned: i64, redeemed: i64) -> Self {
        self.points_earned = earned;
        self.points_redeemed = redeemed;
        self
    }

    pub fn at(mut self, wall_time: &str) -> Self {
        self.wall_time = wall_time.parse().expect("time");
        self
    }

    /// Made at `wall_time` by the register's clock.
    pub fn made_at(mut self, wall_time: DateTime<Utc>) -> Self {
        self.wall_time = wall_time;
        self
    }
}

/// An enrolled register that signs records like the agent does.
pub struct Till {
    pub base: String,
    pub http: reqwest::Client,
    pub register_id: RegisterId,
    pub merchant_id: MerchantId,
    pub store_id: StoreId,
    pub secret: String,
    pub server_key: PublicKey,
    pub key: SigningKey,
    pub next_seq: Seq,
    pub prev_hash: Hash256,
}

impl Till {
    /// The next record of the chain, signed; advances the chain.
    pub fn record(&mut self, p: Purchase) -> (SignedRecord, PurchaseRecord) {
        self.record_edited(p, |_| {})
    }

    /// The next record of the chain as `edit` leaves it, signed (a valid
    /// signature over whatever it says); advances the chain.
    pub fn record_edited(
        &mut self,
        p: Purchase,
        edit: impl FnOnce(&mut PurchaseRecord),
    ) -> (SignedRecord, PurchaseRecord) {
        let money = |m: i64| Money::from_minor(m).expect("money");
        let applied: Vec<AppliedRule> = p
            .promotion
            .map(|(id, funded_by)| AppliedRule {
                rule: RuleRef::Promotion(PromotionId::parse(id).expect("promotion id")),
                discount: money(p.discount),
                funded_by: funded_by.map(str::to_owned),
            })
            .into_iter()
            .collect();
        let total = p.amount - p.discount;
        let record = PurchaseRecord {
            format: RECORD_FORMAT,
            id: Uuid::now_v7(),
            merchant_id: self.merchant_id,
            store_id: self.store_id,
            register_id: self.register_id,
            seq: self.next_seq,
            prev_hash: self.prev_hash,
            wall_time: p.wall_time,
            ruleset_version: p
                .ruleset_version
                .map(|v| shared::ids::RulesetVersion::new(v).expect("version")),
            kind: p.kind,
            currency: Currency::RUB,
            customer: p.customer.map(|id| RecordCustomer {
                id,
                identified_by: IdentifiedBy::Token,
            }),
            lines: vec![RecordLine {
                sku: Sku::parse("4601234567893").expect("sku"),
                name: "Молоко".into(),
                category: None,
                quantity: Quantity::ONE,
                unit_price: money(p.amount),
                amount: money(p.amount),
                discount: money(p.discount),
                total: money(total),
                points: p.points_earned,
                applied: applied.clone(),
            }],
            subtotal: money(p.amount),
            discount: money(p.discount),
            total: money(total),
            points_earned: p.points_earned,
            points_redeemed: p.points_redeemed,
            applied,
            point_awards: vec![],
            pricing_inputs: None,
        };
        let mut record = record;
        edit(&mut record);
        let (signed, hash) = record.seal(&self.key).expect("seal");
        self.next_seq = self.next_seq.next();
        self.prev_hash = hash;
        (signed, record)
    }

    /// Seals an already built record as the next of the chain.
    pub fn seal_next(&mut self, mut record: PurchaseRecord) -> SignedRecord {
        record.seq = self.next_seq;
        record.prev_hash = self.prev_hash;
        let (signed, hash) = record.seal(&self.key).expect("seal");
        self.next_seq = self.next_seq.next();
        self.prev_hash = hash;
        signed
    }

    /// Signs several records of the chain.
    pub fn records(&mut self, purchases: impl IntoIterator<Item = Purchase>) -> Vec<SignedRecord> {
        purchases.into_iter().map(|p| self.record(p).0).collect()
    }

    pub fn bearer(&self) -> String {
        format!("{}.{}", self.register_id, self.secret)
    }

    /// `POST /api/v1/records`.
    pub async fn upload(&self, records: &[SignedRecord]) -> (StatusCode, Value) {
        reply(self.upload_via(&self.http, records).await).await
    }

    /// `POST /api/v1/records` to another server (such as one restored from
    /// a backup).
    pub async fn upload_to(
        &self,
        server: &TestServer,
        records: &[SignedRecord],
    ) -> (StatusCode, Value) {
        reply(
            server
                .http
                .post(format!("{}/api/v1/records", server.base))
                .bearer_auth(self.bearer())
                .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
                .json(&json!({ "records": records }))
                .send()
                .await
                .expect("upload"),
        )
        .await
    }

    /// `POST /api/v1/records` through `http`, with the whole response.
    pub async fn upload_via(
        &self,
        http: &reqwest::Client,
        records: &[SignedRecord],
    ) -> reqwest::Response {
        http.post(format!("{}/api/v1/records", self.base))
            .bearer_auth(self.bearer())
            .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
            .json(&json!({ "records": records }))
            .send()
            .await
            .expect("send")
    }

    /// A GET as this register.
    pub async fn get(&self, path_and_query: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path_and_query}", self.base))
            .bearer_auth(self.bearer())
            .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
            .send()
            .await
            .expect("send")
    }
}

/// A valid ruleset: two tiers, 1 point per 100 roubles.
pub fn ruleset() -> Value {
    json!({
        "currency": "RUB",
        "programme": {
            "tiers": [
                {"name": "Silver", "min_lifetime_spend": 0, "discount": 300},
                {"name": "Gold", "min_lifetime_spend": 100000, "discount": 500}
            ],
            "earn": {"per": 10000, "points": 1}
        },
        "promotions": []
    })
}

/// A promotion: 10 % off milk.
pub fn promotion(id: &str) -> Value {
    json!({
        "id": id, "name": "Milk -10%",
        "target": {"kind": "skus", "skus": ["4601234567893"]},
        "reward": {"kind": "percent_off", "percent": 1000}
    })
}

/// A merchant with one Moscow store and a register there.
pub async fn merchant_with_till(server: &TestServer, key_seed: u8) -> (Merchant, Store, Till) {
    let merchant = server.merchant("Ромашка").await;
    let store = server.store(merchant.id, "Тверская", "Europe/Moscow").await;
    let till = server.enroll(store.id, key_seed).await;
    (merchant, store, till)
}

/// A merchant with stores in Moscow and Vladivostok, a till in each and
/// three customers: Анна (female, 1990), Борис (male, 2005) and Вера (no
/// gender or birth date).
pub struct TwoStoreChain {
    pub merchant: Merchant,
    pub moscow: Store,
    pub far: Store,
    pub moscow_till: Till,
    pub far_till: Till,
    pub anna: sync_server::wire::admin::CustomerView,
    pub boris: sync_server::wire::admin::CustomerView,
    pub vera: sync_server::wire::admin::CustomerView,
}

impl TwoStoreChain {
    pub async fn create(server: &TestServer) -> Self {
        let merchant = server.merchant("Ромашка").await;
        let moscow = server.store(merchant.id, "Тверская", "Europe/Moscow").await;
        let far = server
            .store(merchant.id, "Светланская", "Asia/Vladivostok")
            .await;
        let moscow_till = server.enroll(moscow.id, 1).await;
        let far_till = server.enroll(far.id, 2).await;
        let anna = server
            .customer(merchant.id, json!({"name": "Анна", "phone": "+79160000001", "gender": "female", "birth_date": "1990-06-15"}))
            .await;
        let boris = server
            .customer(merchant.id, json!({"name": "Борис", "phone": "+79160000002", "gender": "male", "birth_date": "2005-01-01"}))
            .await;
        let vera = server
            .customer(
                merchant.id,
                json!({"name": "Вера", "email": "vera@example.com"}),
            )
            .await;
        TwoStoreChain {
            merchant,
            moscow,
            far,
            moscow_till,
            far_till,
            anna,
            boris,
            vera,
        }
    }
}
