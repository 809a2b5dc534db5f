//! Building blocks of the fault tests (the agent under test is
//! [`crate::system::TestAgent`]): a register that
//! signs and uploads records by hand, a seeded outbox, the real `pos-agent`
//! binary as a child process, a stepped clock, a tiny tmpfs, and readers
//! for what the server stored.
//!
//! - [`SimRegister`]: an enrolled register that builds, signs and uploads
//!   records itself, to send what a correct agent never would.
//! - [`seed_outbox`]: commits a backlog straight into an agent's outbox, as
//!   weeks offline would leave it.
//! - [`AgentProcess`]: `pos-agent run` as a child, to SIGKILL and to
//!   measure.
//! - [`verify_outbox`]: integrity, dense seqs, the chain and every
//!   signature of an agent's database.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use chrono::{DateTime, TimeDelta, Utc};
use reqwest::StatusCode;
use shared::crypto::{Hash256, PublicKey, Signature, SigningKey, from_base64, generate_pkcs8};
use shared::ids::{Category, CustomerId, MerchantId, RegisterId, Seq, Sku, StoreId};
use shared::money::{Currency, Money, Quantity};
use shared::record::{
    IdentifiedBy, PurchaseRecord, RECORD_FORMAT, RecordCustomer, RecordKind, RecordLine,
    SignedRecord,
};
use shared::wire::sync::{EnrollRequest, EnrollResponse, UploadAck, UploadBatch};
use shared::wire::till::AgentStatus;
use shared::wire::{PROTOCOL_HEADER, PROTOCOL_VERSION};
use test_kit::poll::Deadline;

use crate::clients::TillClient;
use crate::system::{TestServer, tune_for_tests};

/// How long a helper waits for an agent or server to answer.
const PATIENCE: Duration = Duration::from_secs(20);
/// A [`ServerProcess`]'s standard error, in its data directory.
const SERVER_LOG: &str = "sync-server.log";

/// Polls `till`'s status until `cond` holds or `timeout` passes.
pub async fn wait_status(
    till: &TillClient,
    timeout: Duration,
    cond: impl Fn(&AgentStatus) -> bool,
) -> anyhow::Result<AgentStatus> {
    let deadline = Deadline::after(timeout);
    loop {
        let last = till.status().await;
        if let Ok(s) = &last
            && cond(s)
        {
            return last;
        }
        deadline
            .tick(|| format!("agent status did not reach the expected state: {last:?}"))
            .await?;
    }
}

/// Enrolls a register into `data_dir`, tunes it for tests, applies `tune`,
/// writes the configuration back (for the binary) and creates the database.
pub async fn enroll_agent(
    server_url: &str,
    enrollment_token: &str,
    data_dir: &Path,
    tune: impl FnOnce(&mut pos_agent::AgentConfig),
) -> anyhow::Result<pos_agent::AgentConfig> {
    let mut config = pos_agent::enroll(server_url, enrollment_token, data_dir).await?;
    tune_for_tests(&mut config);
    tune(&mut config);
    write_config(&config)?;
    pos_agent::prepare_database(data_dir)?;
    Ok(config)
}

/// Writes `config` to `<data_dir>/agent.toml`, as the binary reads it.
pub fn write_config(config: &pos_agent::AgentConfig) -> anyhow::Result<()> {
    let path = config.data_dir.join(pos_agent::config::CONFIG_FILE);
    std::fs::write(&path, config.to_toml()?).with_context(|| format!("write {}", path.display()))
}

/// A sale of `lines` products, through the till API; returns the commit
/// reply or the error.
pub async fn sell(
    till: &TillClient,
    lines: &[(&crate::scenario::Product, u32)],
) -> anyhow::Result<shared::wire::till::Committed> {
    let check = till.open().await?;
    for (product, qty) in lines {
        till.add_line(check.id, &crate::scenario::line_json(product, *qty))
            .await?;
    }
    till.commit(check.id).await
}

/// A clock that can be stepped, like a register whose clock is set by
/// hand.
#[derive(Debug, Default)]
pub struct StepClock {
    offset_ms: AtomicI64,
}

impl StepClock {
    /// Moves the clock by `delta` (negative: back).
    pub fn step(&self, delta: TimeDelta) {
        self.offset_ms
            .fetch_add(delta.num_milliseconds(), Ordering::SeqCst);
    }

    /// Sets the clock back to the system time.
    pub fn reset(&self) {
        self.offset_ms.store(0, Ordering::SeqCst);
    }
}

impl pos_agent::Clock for StepClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + TimeDelta::milliseconds(self.offset_ms.load(Ordering::SeqCst))
    }
}

/// A record as the fault tests build them: one line, `total` kopecks.
pub fn sale_record(
    ids: (MerchantId, StoreId, RegisterId),
    seq: Seq,
    prev_hash: Hash256,
    total: i64,
    customer: Option<CustomerId>,
    wall_time: DateTime<Utc>,
) -> anyhow::Result<PurchaseRecord> {
    let (merchant_id, store_id, register_id) = ids;
    let price = Money::from_minor(total)?;
    // The line carries the points, so the record's own sums add up.
    let points = if customer.is_some() { total / 100 } else { 0 };
    Ok(PurchaseRecord {
        format: RECORD_FORMAT,
        id: uuid::Uuid::now_v7(),
        merchant_id,
        store_id,
        register_id,
        seq,
        prev_hash,
        wall_time,
        ruleset_version: None,
        kind: RecordKind::Sale,
        currency: Currency::RUB,
        customer: customer.map(|id| RecordCustomer {
            id,
            identified_by: IdentifiedBy::Card,
        }),
        lines: vec![RecordLine {
            sku: Sku::parse("4600000000066")?,
            name: "Кофе зерновой 1 кг".into(),
            category: Some(Category::parse("grocery")?),
            quantity: Quantity::ONE,
            unit_price: price,
            amount: price,
            discount: Money::ZERO,
            total: price,
            points,
            applied: vec![],
        }],
        subtotal: price,
        discount: Money::ZERO,
        total: price,
        points_earned: points,
        points_redeemed: 0,
        applied: vec![],
        point_awards: vec![],
        pricing_inputs: None,
    })
}

/// What [`seed_outbox`] committed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Seeded {
    /// Records added.
    pub records: usize,
    /// Their totals, in kopecks.
    pub total: i64,
    /// Points they earned.
    pub points: i64,
}

/// Commits `n` signed, chained sales straight into the outbox of a stopped
/// agent (its database must exist: see [`pos_agent::prepare_database`]), in
/// one transaction, as weeks offline would leave it. Every `customer_every`
/// th record names `customer`.
pub fn seed_outbox(
    config: &pos_agent::AgentConfig,
    n: usize,
    customer: Option<(CustomerId, usize)>,
) -> anyhow::Result<Seeded> {
    match customer {
        Some((id, every)) => seed_outbox_among(config, n, &[id], every),
        None => seed_outbox_among(config, n, &[], 1),
    }
}

/// [`seed_outbox`] with every `every`th record naming the next of
/// `customers` in turn (none: no record names a customer).
pub fn seed_outbox_among(
    config: &pos_agent::AgentConfig,
    n: usize,
    customers: &[CustomerId],
    every: usize,
) -> anyhow::Result<Seeded> {
    let key = SigningKey::from_pkcs8(&std::fs::read(config.key_path())?)?;
    let ids = (
        config.register.merchant_id,
        config.register.store_id,
        config.sync.register_id,
    );
    let mut conn = rusqlite::Connection::open(config.db_path())?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let (head, head_hash): (i64, Vec<u8>) = tx.query_row(
        "SELECT head_seq, head_hash FROM meta WHERE id = 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let mut prev = Hash256(
        head_hash
            .try_into()
            .map_err(|_| anyhow::anyhow!("head hash is not 32 bytes"))?,
    );
    let mut seeded = Seeded::default();
    let now = Utc::now();
    {
        let mut insert = tx.prepare(
            "INSERT INTO outbox (seq, record_id, body, signature, hash, customer_id, total, committed_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        for i in 0..n {
            let seq = Seq::new(head + 1 + i as i64)?;
            let every = every.max(1);
            let who = (i % every == 0 && !customers.is_empty())
                .then(|| customers[i / every % customers.len()]);
            let total = 10_000 + (seq.get() % 97) * 10;
            let record = sale_record(ids, seq, prev, total, who, now)?;
            let (signed, hash) = record.seal(&key)?;
            let body = from_base64(&signed.body).context("sealed body is base64")?;
            insert.execute(rusqlite::params![
                seq.get(),
                record.id.to_string(),
                body,
                signed.signature.as_bytes().as_slice(),
                hash.0.as_slice(),
                who.map(CustomerId::get),
                total,
                now.to_rfc3339(),
            ])?;
            prev = hash;
            seeded.records += 1;
            seeded.total += total;
            seeded.points += record.points_earned;
        }
    }
    tx.execute(
        "UPDATE meta SET head_seq = ?1, head_hash = ?2 WHERE id = 1",
        rusqlite::params![head + n as i64, prev.0.as_slice()],
    )?;
    tx.commit()?;
    Ok(seeded)
}

/// A record in an agent's outbox, verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedRecord {
    /// Its seq.
    pub seq: i64,
    /// Its id.
    pub id: uuid::Uuid,
    /// Its total, in kopecks.
    pub total: i64,
}

/// Opens a stopped agent's database and checks it: `PRAGMA
/// integrity_check`, seqs dense from the oldest kept to the head, each
/// record's `prev_hash` the hash of the one before, every signature valid
/// with the register key, and the head hash in `meta`.
pub fn verify_outbox(config: &pos_agent::AgentConfig) -> anyhow::Result<Vec<VerifiedRecord>> {
    let key = SigningKey::from_pkcs8(&std::fs::read(config.key_path())?)?.public_key();
    let conn = rusqlite::Connection::open_with_flags(
        config.db_path(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    let integrity: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    ensure!(integrity == "ok", "integrity_check: {integrity}");
    let (head, head_hash): (i64, Vec<u8>) = conn.query_row(
        "SELECT head_seq, head_hash FROM meta WHERE id = 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let mut stmt = conn.prepare("SELECT seq, body, signature, hash FROM outbox ORDER BY seq")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, Vec<u8>>(1)?,
            r.get::<_, Vec<u8>>(2)?,
            r.get::<_, Vec<u8>>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    let mut prev: Option<Vec<u8>> = None;
    for row in rows {
        let (seq, body, signature, hash) = row?;
        if let Some(last) = out.last().map(|r: &VerifiedRecord| r.seq) {
            ensure!(seq == last + 1, "seq {seq} follows {last}: a gap");
        }
        let signed = SignedRecord {
            register_id: config.sync.register_id,
            seq: Seq::new(seq)?,
            body: shared::crypto::to_base64(&body),
            signature: Signature::from_slice(&signature)?,
        };
        let verified = signed
            .open(&key)
            .with_context(|| format!("record {seq} does not verify"))?;
        ensure!(
            verified.hash.0.as_slice() == hash,
            "record {seq}: stored hash"
        );
        if let Some(prev) = &prev {
            ensure!(
                verified.record.prev_hash.0.as_slice() == prev.as_slice(),
                "record {seq} does not link to {}",
                seq - 1
            );
        }
        prev = Some(hash);
        out.push(VerifiedRecord {
            seq,
            id: verified.record.id,
            total: verified.record.total.minor(),
        });
    }
    ensure!(
        out.last().map_or(0, |r| r.seq) == head,
        "meta head {head} is not the last record"
    );
    if let Some(prev) = prev {
        ensure!(prev == head_hash, "meta head hash is not the last record's");
    }
    Ok(out)
}

/// A register that builds, signs and uploads its own records, enrolled
/// like an agent but without one.
pub struct SimRegister {
    /// Its id.
    pub id: RegisterId,
    /// Its merchant and store.
    pub merchant: MerchantId,
    /// Its store.
    pub store: StoreId,
    key: SigningKey,
    bearer: String,
    base: String,
    http: reqwest::Client,
    prev: Hash256,
    next: i64,
}

impl SimRegister {
    /// Enrolls a new register in `store`.
    pub async fn enroll(server: &TestServer, store: StoreId) -> anyhow::Result<Self> {
        Self::enroll_at(&server.url(), &server.admin(), store).await
    }

    /// Enrolls a new register in `store` of the server at `base` (such as a
    /// [`ServerProcess`]), with a token from `admin`.
    pub async fn enroll_at(
        base: &str,
        admin: &crate::clients::AdminClient,
        store: StoreId,
    ) -> anyhow::Result<Self> {
        Self::enroll_via(base, admin, store, reqwest::Client::new()).await
    }

    /// Enrolls a new register in `store` as [`SimRegister::enroll_at`]
    /// does, over `http` (one client, and its connections, for many
    /// registers).
    pub async fn enroll_via(
        base: &str,
        admin: &crate::clients::AdminClient,
        store: StoreId,
        http: reqwest::Client,
    ) -> anyhow::Result<Self> {
        let key = SigningKey::from_pkcs8(&generate_pkcs8(&ring::rand::SystemRandom::new())?)?;
        let token = admin.enrollment_token(store).await?;
        let enrolled: EnrollResponse = http
            .post(format!("{base}/api/v1/registers/enroll"))
            .json(&EnrollRequest {
                enrollment_token: token.token,
                public_key: key.public_key(),
                agent_version: "sim".into(),
                hostname: "sim".into(),
            })
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(SimRegister {
            id: enrolled.register_id,
            merchant: enrolled.merchant_id,
            store: enrolled.store_id,
            bearer: format!("{}.{}", enrolled.register_id, enrolled.register_secret),
            key,
            base: base.to_owned(),
            http,
            prev: Hash256::GENESIS,
            next: 1,
        })
    }

    /// The public key the server pinned for it.
    #[must_use]
    pub fn public_key(&self) -> PublicKey {
        self.key.public_key()
    }

    /// The register's signing key, for forging tests.
    #[must_use]
    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// The next record in its chain, built by `edit` from a sale of
    /// `total`, signed with its key.
    pub fn next_record(
        &mut self,
        total: i64,
        edit: impl FnOnce(&mut PurchaseRecord),
    ) -> anyhow::Result<SignedRecord> {
        let mut record = sale_record(
            (self.merchant, self.store, self.id),
            Seq::new(self.next)?,
            self.prev,
            total,
            None,
            Utc::now(),
        )?;
        edit(&mut record);
        let (signed, hash) = record.seal(&self.key)?;
        self.prev = hash;
        self.next += 1;
        Ok(signed)
    }

    /// The next sale in its chain, of `total` to `customer`.
    pub fn sale_to(&mut self, total: i64, customer: CustomerId) -> anyhow::Result<SignedRecord> {
        let record = sale_record(
            (self.merchant, self.store, self.id),
            Seq::new(self.next)?,
            self.prev,
            total,
            Some(customer),
            Utc::now(),
        )?;
        let (signed, hash) = record.seal(&self.key)?;
        self.prev = hash;
        self.next += 1;
        Ok(signed)
    }

    /// `n` sales of `total` each, continuing the chain.
    pub fn sales(&mut self, n: usize, total: i64) -> anyhow::Result<Vec<SignedRecord>> {
        (0..n).map(|_| self.next_record(total, |_| {})).collect()
    }

    /// Uploads `records` as a batch with this register's credentials.
    pub async fn upload(&self, records: &[SignedRecord]) -> anyhow::Result<(StatusCode, String)> {
        self.upload_as(&self.http, &self.bearer, records).await
    }

    /// Uploads `records` to the server at `base` (another instance).
    pub async fn upload_to(
        &self,
        base: &str,
        records: &[SignedRecord],
    ) -> anyhow::Result<(StatusCode, String)> {
        let reply = self
            .http
            .post(format!("{base}/api/v1/records"))
            .bearer_auth(&self.bearer)
            .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
            .json(&UploadBatch {
                records: records.to_vec(),
                chain_signature: None,
            })
            .send()
            .await?;
        Ok((reply.status(), reply.text().await?))
    }

    /// `GET /api/v1/sales` for the sale `seq` of `register`, as a till
    /// taking a return asks for it.
    pub async fn fetch_sale(
        &self,
        register: RegisterId,
        seq: Seq,
    ) -> anyhow::Result<(StatusCode, String)> {
        let reply = self
            .http
            .get(format!("{}/api/v1/sales", self.base))
            .query(&[
                ("register_id", register.to_string()),
                ("seq", seq.to_string()),
            ])
            .bearer_auth(&self.bearer)
            .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
            .send()
            .await?;
        Ok((reply.status(), reply.text().await?))
    }

    /// The chain path's signature of `records`: this register's over the
    /// hash of the last record's bytes.
    pub fn chain_signature(&self, records: &[SignedRecord]) -> anyhow::Result<Signature> {
        let last = records.last().context("an empty batch has no head")?;
        let bytes = shared::crypto::from_base64(&last.body).context("base64")?;
        Ok(shared::record::sign_chain_head(
            self.key(),
            &shared::crypto::sha256(&bytes),
        ))
    }

    /// Uploads `records` on the chain path, with `signature` as the
    /// batch's (see [`SimRegister::chain_signature`]).
    pub async fn upload_chained(
        &self,
        records: &[SignedRecord],
        signature: Signature,
    ) -> anyhow::Result<(StatusCode, String)> {
        let reply = self
            .http
            .post(format!("{}/api/v1/records", self.base))
            .bearer_auth(&self.bearer)
            .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
            .json(&UploadBatch {
                records: records.to_vec(),
                chain_signature: Some(signature),
            })
            .send()
            .await?;
        Ok((reply.status(), reply.text().await?))
    }

    /// Uploads with a given client and bearer token.
    pub async fn upload_as(
        &self,
        http: &reqwest::Client,
        bearer: &str,
        records: &[SignedRecord],
    ) -> anyhow::Result<(StatusCode, String)> {
        let reply = http
            .post(format!("{}/api/v1/records", self.base))
            .bearer_auth(bearer)
            .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
            .json(&UploadBatch {
                records: records.to_vec(),
                chain_signature: None,
            })
            .send()
            .await?;
        Ok((reply.status(), reply.text().await?))
    }

    /// Uploads a batch already serialised as an `UploadBatch` in JSON (see
    /// [`SimRegister::batch_json`]), so a benchmark times the server rather
    /// than its own serialisation.
    pub async fn upload_json(&self, json: Vec<u8>) -> anyhow::Result<(StatusCode, String)> {
        let reply = self
            .http
            .post(format!("{}/api/v1/records", self.base))
            .bearer_auth(&self.bearer)
            .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(json)
            .send()
            .await?;
        Ok((reply.status(), reply.text().await?))
    }

    /// `records` as the JSON body of an upload (the per-record path).
    pub fn batch_json(records: Vec<SignedRecord>) -> anyhow::Result<Vec<u8>> {
        Ok(serde_json::to_vec(&UploadBatch {
            records,
            chain_signature: None,
        })?)
    }

    /// `records` as the JSON body of an upload on the chain path, signed
    /// by this register.
    pub fn chained_json(&self, records: Vec<SignedRecord>) -> anyhow::Result<Vec<u8>> {
        let chain_signature = Some(self.chain_signature(&records)?);
        Ok(serde_json::to_vec(&UploadBatch {
            records,
            chain_signature,
        })?)
    }

    /// Uploads and expects an acknowledgement.
    pub async fn upload_ok(&self, records: &[SignedRecord]) -> anyhow::Result<UploadAck> {
        let (status, body) = self.upload(records).await?;
        ensure!(status == StatusCode::OK, "upload refused: {status} {body}");
        Ok(serde_json::from_str(&body)?)
    }

    /// Its bearer token.
    #[must_use]
    pub fn bearer(&self) -> &str {
        &self.bearer
    }
}

/// The admin API's views the fault tests read, by merchant.
pub struct Oversight {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Oversight {
    /// For `server`.
    #[must_use]
    pub fn new(server: &TestServer) -> Self {
        Oversight {
            http: server.http().unwrap_or_default(),
            base: server.url(),
            token: server.admin_token().to_owned(),
        }
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        Ok(self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    /// The merchant's alerts, newest first.
    pub async fn alerts(
        &self,
        merchant: MerchantId,
    ) -> anyhow::Result<Vec<sync_server::wire::Alert>> {
        self.get(&format!(
            "/api/v1/admin/merchants/{merchant}/alerts?limit=1000"
        ))
        .await
    }

    /// The merchant's quarantined records, newest first.
    pub async fn quarantine(
        &self,
        merchant: MerchantId,
    ) -> anyhow::Result<Vec<sync_server::wire::QuarantinedRecord>> {
        self.get(&format!(
            "/api/v1/admin/merchants/{merchant}/quarantine?limit=1000"
        ))
        .await
    }

    /// The merchant's registers with their standing.
    pub async fn registers(
        &self,
        merchant: MerchantId,
    ) -> anyhow::Result<Vec<sync_server::wire::RegisterView>> {
        self.get(&format!("/api/v1/admin/merchants/{merchant}/registers"))
            .await
    }

    /// One register's view.
    pub async fn register(
        &self,
        merchant: MerchantId,
        register: RegisterId,
    ) -> anyhow::Result<sync_server::wire::RegisterView> {
        self.registers(merchant)
            .await?
            .into_iter()
            .find(|r| r.register.id == register)
            .with_context(|| format!("register {register} is not listed"))
    }
}

/// A record as the server stored it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRecord {
    /// Its seq.
    pub seq: i64,
    /// Its total, in kopecks.
    pub total: i64,
    /// The register's wall time, as signed.
    pub wall_time: String,
}

/// What the server stored for a register, read from its database: the
/// records in seq order, and the sum of its points ledger.
pub fn server_records(
    server_dir: &Path,
    register: RegisterId,
) -> anyhow::Result<(Vec<StoredRecord>, i64)> {
    if let Some(url) = crate::system::test_database_url(server_dir)? {
        return on_postgres(url, move |db| {
            let rows = db
                .query(
                    "SELECT seq, total, wall_time FROM records WHERE register_id = $1
                     ORDER BY seq",
                    &[&register.get()],
                )?
                .iter()
                .map(|r| StoredRecord {
                    seq: r.get(0),
                    total: r.get(1),
                    wall_time: r
                        .get::<_, chrono::DateTime<Utc>>(2)
                        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                })
                .collect();
            let points: i64 = db
                .query_one(
                    "SELECT COALESCE(SUM(points), 0)::BIGINT FROM ledger WHERE register_id = $1",
                    &[&register.get()],
                )?
                .get(0);
            Ok((rows, points))
        });
    }
    let conn = rusqlite::Connection::open_with_flags(
        server_dir.join("sync-server.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    let mut stmt = conn
        .prepare("SELECT seq, total, wall_time FROM records WHERE register_id = ?1 ORDER BY seq")?;
    let rows = stmt
        .query_map([register.get()], |r| {
            Ok(StoredRecord {
                seq: r.get(0)?,
                total: r.get(1)?,
                wall_time: r.get(2)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let points: i64 = conn.query_row(
        "SELECT IFNULL(SUM(points), 0) FROM ledger WHERE register_id = ?1",
        [register.get()],
        |r| r.get(0),
    )?;
    Ok((rows, points))
}

/// The audit state of each stored record of `register`, by seq: 1 its own
/// signature verified, 0 awaiting the audit (it came by the chain path),
/// −1 it does not verify (SQLite or PostgreSQL).
pub fn server_audit(server_dir: &Path, register: RegisterId) -> anyhow::Result<Vec<(i64, i64)>> {
    if let Some(url) = crate::system::test_database_url(server_dir)? {
        return on_postgres(url, move |db| {
            Ok(db
                .query(
                    "SELECT seq, audit::BIGINT FROM records WHERE register_id = $1 ORDER BY seq",
                    &[&register.get()],
                )?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect())
        });
    }
    let conn = rusqlite::Connection::open_with_flags(
        server_dir.join("sync-server.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    let mut stmt =
        conn.prepare("SELECT seq, audit FROM records WHERE register_id = ?1 ORDER BY seq")?;
    let rows = stmt
        .query_map([register.get()], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Forgets everything the server stored of `register` after `seq`, as a
/// server restored from an older backup would have (SQLite or PostgreSQL,
/// whichever the test servers use).
pub fn forget_records_after(
    server_dir: &Path,
    register: RegisterId,
    seq: i64,
) -> anyhow::Result<()> {
    const TABLES: [&str; 8] = [
        "price_mismatches",
        "reprice_returns",
        "reprice_results",
        "record_lines",
        "promotion_uses",
        "ledger",
        "birthday_bonuses",
        "records",
    ];
    if let Some(url) = crate::system::test_database_url(server_dir)? {
        return on_postgres(url, move |db| {
            // One transaction that holds off the server's re-pricer, which
            // would otherwise file an outcome for a record between the
            // deletes (and so refuse the record's).
            let mut tx = db.transaction()?;
            tx.batch_execute("LOCK TABLE records, reprice_results IN SHARE ROW EXCLUSIVE MODE")?;
            for table in TABLES {
                tx.execute(
                    &format!("DELETE FROM {table} WHERE register_id = $1 AND seq > $2"),
                    &[&register.get(), &seq],
                )?;
            }
            tx.commit()
        });
    }
    let db = rusqlite::Connection::open(server_dir.join("sync-server.db"))?;
    for table in TABLES {
        db.execute(
            &format!("DELETE FROM {table} WHERE register_id = ?1 AND seq > ?2"),
            [register.get(), seq],
        )?;
    }
    Ok(())
}

/// Runs `work` on a connection to the test server's PostgreSQL schema, on
/// a thread of its own (the client is synchronous).
fn on_postgres<T: Send + 'static>(
    url: String,
    work: impl FnOnce(&mut postgres::Client) -> Result<T, postgres::Error> + Send + 'static,
) -> anyhow::Result<T> {
    std::thread::spawn(move || -> anyhow::Result<T> {
        let mut client = postgres::Client::connect(&url, postgres::NoTls)?;
        Ok(work(&mut client)?)
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the PostgreSQL helper thread panicked"))?
}

/// A workspace binary beside this executable (a binary such as `perf`)
/// or beside its `deps/` directory (a test executable).
pub fn workspace_binary(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let here = exe.parent().context("the executable has no directory")?;
    let candidates = [Some(here), here.parent()];
    candidates
        .into_iter()
        .flatten()
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
        .with_context(|| {
            format!(
                "{name} is missing beside {}: `cargo test --workspace` or `cargo build` builds it",
                exe.display()
            )
        })
}

pub use test_kit::free_port;

/// `pos-agent run` as a child process.
pub struct AgentProcess {
    child: Child,
    /// Its local API.
    pub till: TillClient,
}

impl AgentProcess {
    /// Runs `pos-agent run --data-dir <data_dir> --listen <listen>` and
    /// waits until its API answers.
    pub async fn spawn(data_dir: &Path, listen: SocketAddr) -> anyhow::Result<Self> {
        let child = Command::new(workspace_binary("pos-agent")?)
            .args(["run", "--listen", &listen.to_string(), "--data-dir"])
            .arg(data_dir)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let mut process = AgentProcess {
            child,
            till: TillClient::new(&format!("http://{listen}")),
        };
        let deadline = Deadline::after(PATIENCE);
        while process.till.status().await.is_err() {
            if let Ok(Some(exit)) = process.child.try_wait() {
                bail!("pos-agent exited early: {exit}");
            }
            deadline.tick(|| "pos-agent did not answer".into()).await?;
        }
        Ok(process)
    }

    fn signal(&self, signal: nix::sys::signal::Signal) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal);
        }
    }

    /// SIGKILL, then reaps it.
    pub fn kill(mut self) {
        self.signal(nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }

    /// SIGINT (a clean stop), then reaps it.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.signal(nix::sys::signal::Signal::SIGINT);
        let deadline = Deadline::after(Duration::from_secs(5));
        loop {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            if deadline.tick(String::new).await.is_err() {
                break;
            }
        }
        self.signal(nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
        bail!("pos-agent did not stop on SIGINT")
    }

    /// Its peak resident memory so far (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> anyhow::Result<u64> {
        proc_status_kib(self.child.id(), "VmHWM")
    }

    /// Its resident memory now (`VmRSS`), in KiB.
    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        proc_status_kib(self.child.id(), "VmRSS")
    }

    /// The CPU time it has used, user and system (in steps of 10 ms).
    pub fn cpu_time(&self) -> anyhow::Result<Duration> {
        proc_cpu_time(self.child.id())
    }

    /// Its process id.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.signal(nix::sys::signal::Signal::SIGKILL);
            let _ = self.child.wait();
        }
    }
}

/// A number in `/proc/<pid>/status`, such as `VmRSS` (in KiB).
fn proc_status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

/// The CPU time process `pid` has used, user and system, from
/// `/proc/<pid>/stat` (in steps of 10 ms).
fn proc_cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(')').context("no command in stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks =
        |i: usize| -> anyhow::Result<u64> { Ok(fields.get(i).context("short stat")?.parse()?) };
    // utime and stime are fields 14 and 15, the 12th and 13th here.
    let total = ticks(11)? + ticks(12)?;
    // `/proc` counts in USER_HZ, which Linux fixes at 100 per second.
    Ok(Duration::from_millis(total * 10))
}

/// `sync-server serve` as a child process, to kill without warning and to
/// measure.
pub struct ServerProcess {
    child: Option<Child>,
    data_dir: PathBuf,
    listen: SocketAddr,
    env: Vec<(String, String)>,
    /// Its admin token.
    pub admin_token: String,
}

impl ServerProcess {
    /// Starts the server binary over `data_dir` on `listen` and waits until
    /// it answers.
    pub async fn spawn(data_dir: &Path, listen: SocketAddr) -> anyhow::Result<Self> {
        Self::spawn_with(data_dir, listen, &[]).await
    }

    /// Starts the server binary with more settings as environment variables
    /// (`SYNC_SERVER__…`), which win over the test defaults.
    pub async fn spawn_with(
        data_dir: &Path,
        listen: SocketAddr,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let mut server = ServerProcess {
            child: None,
            data_dir: data_dir.to_owned(),
            listen,
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            admin_token: "process-admin-token-0123456789".to_owned(),
        };
        server.launch().await?;
        Ok(server)
    }

    /// Its standard error, appended to [`SERVER_LOG`] in its data
    /// directory (warnings and errors: why it would not start).
    fn log_file(&self) -> anyhow::Result<std::fs::File> {
        std::fs::create_dir_all(&self.data_dir)?;
        Ok(std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.data_dir.join(SERVER_LOG))?)
    }

    async fn launch(&mut self) -> anyhow::Result<()> {
        let database = crate::system::test_database_url(&self.data_dir)?
            .map(|url| ("SYNC_SERVER__DATABASE__URL", url));
        let child = Command::new(workspace_binary("sync-server")?)
            .args(["serve", "--listen", &self.listen.to_string(), "--data-dir"])
            .arg(&self.data_dir)
            .env("SYNC_SERVER__ADMIN_TOKEN", &self.admin_token)
            .env("SYNC_SERVER__LONGPOLL__MAX_WAIT_SECS", "2")
            .env("RUST_LOG", "warn")
            .envs(database)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(self.log_file()?)
            .spawn()?;
        self.child = Some(child);
        let http = reqwest::Client::new();
        let deadline = Deadline::after(PATIENCE);
        loop {
            if let Ok(r) = http.get(format!("{}/health", self.url())).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if let Some(exit) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                let log =
                    std::fs::read_to_string(self.data_dir.join(SERVER_LOG)).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(5).collect();
                bail!(
                    "sync-server exited early ({exit}): {}",
                    tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
                );
            }
            deadline
                .tick(|| "sync-server did not answer".into())
                .await?;
        }
    }

    /// The admin token it was started with.
    #[must_use]
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// Its base URL.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}", self.listen)
    }

    /// An admin client.
    #[must_use]
    pub fn admin(&self) -> crate::clients::AdminClient {
        crate::clients::AdminClient::new(&self.url(), &self.admin_token)
    }

    /// Its process id while it runs.
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// A number in its `/proc/<pid>/status`, such as `VmRSS` (resident
    /// memory now, KiB), `VmHWM` (the peak, KiB) or `Threads`.
    pub fn status_field(&self, field: &str) -> anyhow::Result<u64> {
        let pid = self.pid().context("the server is not running")?;
        proc_status_kib(pid, field)
    }

    /// The CPU time it has used, user and system, from `/proc/<pid>/stat`
    /// (in steps of 10 ms).
    pub fn cpu_time(&self) -> anyhow::Result<Duration> {
        proc_cpu_time(self.pid().context("the server is not running")?)
    }

    /// How many files and sockets it has open.
    pub fn open_files(&self) -> anyhow::Result<usize> {
        let pid = self.pid().context("the server is not running")?;
        Ok(std::fs::read_dir(format!("/proc/{pid}/fd"))?.count())
    }

    /// SIGKILL: no shutdown, no flush, whatever transaction is open.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Ok(pid) = i32::try_from(child.id()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            let _ = child.wait();
        }
    }

    /// Starts it again on the same data and address.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.kill();
        self.launch().await
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A small tmpfs mounted for a test, unmounted on drop.
pub struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size_kib` at `path` (created), or returns `None`
    /// when mounting is not permitted here (not root, no `mount`).
    pub fn mount(path: &Path, size_kib: u64) -> anyhow::Result<Option<Self>> {
        std::fs::create_dir_all(path)?;
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_kib}k"), "tmpfs"])
            .arg(path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        Ok(match mounted {
            Ok(status) if status.success() => Some(Tmpfs {
                path: path.to_owned(),
            }),
            _ => None,
        })
    }

    /// Fills the file system: writes `filler` until no byte more fits.
    pub fn fill(&self, filler: &str) -> anyhow::Result<u64> {
        use std::io::Write as _;
        let mut file = std::fs::File::create(self.path.join(filler))?;
        let block = vec![0u8; 4096];
        let mut written = 0u64;
        loop {
            match file.write(&block) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(e) if e.raw_os_error() == Some(28) => break,
                Err(e) => return Err(e.into()),
            }
        }
        // Single bytes into the last partial page, too.
        while let Ok(1) = file.write(&block[..1]) {
            written += 1;
        }
        Ok(written)
    }

    /// Frees the space taken by `filler`.
    pub fn free(&self, filler: &str) -> anyhow::Result<()> {
        Ok(std::fs::remove_file(self.path.join(filler))?)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The soft limit on open files of this process, from `/proc`.
#[must_use]
pub fn open_files_limit() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            limits
                .lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|soft| soft.parse().ok())
        })
        .unwrap_or(1024)
}

/// A configuration for a register of merchant 1, store 2, register 3 (as
/// the kit's fake sync server enrolls it),
/// talking to `url` and pinning `server_key`, with a fresh register key in
/// `data_dir` and a database created there.
pub fn offline_config(
    data_dir: &Path,
    url: &str,
    server_key: &SigningKey,
) -> anyhow::Result<pos_agent::AgentConfig> {
    std::fs::create_dir_all(data_dir)?;
    let pkcs8 = generate_pkcs8(&ring::rand::SystemRandom::new())?;
    std::fs::write(data_dir.join(pos_agent::config::KEY_FILE), &pkcs8)?;
    let mut sync = pos_agent::config::SyncConfig::new(
        url.to_owned(),
        RegisterId::new(3)?,
        secrecy::SecretString::from(test_kit::fake_sync::REGISTER_SECRET.to_owned()),
        server_key.public_key(),
    );
    sync.upload_interval_ms = 100;
    sync.longpoll_wait_secs = 1;
    sync.backoff_initial_ms = 20;
    sync.backoff_max_ms = 200;
    let config = pos_agent::AgentConfig {
        data_dir: data_dir.to_owned(),
        sync,
        register: pos_agent::config::RegisterConfig {
            merchant_id: MerchantId::new(1)?,
            store_id: StoreId::new(2)?,
            store_timezone: "Europe/Moscow".parse().expect("a known zone"),
            store_brand: None,
            currency: Currency::RUB,
        },
        api: pos_agent::config::ApiConfig::default(),
        scanners: Vec::new(),
        hid_scanners: Vec::new(),
        scan: Default::default(),
    };
    pos_agent::prepare_database(data_dir)?;
    Ok(config)
}
