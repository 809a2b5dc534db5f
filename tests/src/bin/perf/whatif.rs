//! The what-if of a draft promotion (issue 11), on the `sync-server`
//! binary as a child process, on SQLite and (when reachable) PostgreSQL:
//! one `POST …/drafts/{draft}/what-if` over `PERF_WHATIF_RECORDS` stored
//! sales (default 1 000 000) of the last 28 days, timed from the request
//! to the reply, beside the goal (1 000 000 records in 30 s, so at least
//! 33 333 records/s), with the server's peak memory.
//!
//! **How the sales are seeded** (the fastest honest path): ten stores in
//! six time zones, a register enrolled in each and a ruleset of twenty
//! category promotions through the admin API; then the sales, signed by
//! their register's key with their recorded pricing inputs (a third with
//! a customer's standing), one to four lines from 2 000 products in 20
//! categories, are stored through the repository's own `insert_record`
//! (what ingest stores), 10 000 a transaction. The draft takes five of the
//! categories at 25 % off, displacing their running promotions.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use chrono::{DateTime, TimeDelta, Utc};
use shared::crypto::SigningKey;
use shared::ids::{Category, MerchantId, RegisterId, RulesetVersion, Seq, Sku, StoreId};
use shared::money::{Currency, Money, Quantity};
use shared::pricing::CustomerStanding;
use shared::record::{
    IdentifiedBy, PricingInputs, PurchaseRecord, RECORD_FORMAT, RecordCustomer, RecordKind,
    RecordLine,
};
use sync_server::db::{CheckKind, PostgresRepository, RecordRow, Repository, SqliteRepository};
use sync_server::ingest::CheckedRecord;
use sync_server::wire::admin::NewStore;
use system_tests::harness::{ServerProcess, SimRegister, free_port};

use super::row;

/// Sales seeded by default; `PERF_WHATIF_RECORDS` changes it.
const DEFAULT_RECORDS: u64 = 1_000_000;
/// The goal: a what-if over a million sales within 30 seconds.
const GOAL_SECS_PER_MILLION: f64 = 30.0;
const STORES: usize = 10;
const PRODUCTS: u64 = 2_000;
const CATEGORIES: u64 = 20;
const CHUNK: u64 = 10_000;
const ZONES: [&str; 6] = [
    "Europe/Moscow",
    "Europe/Kaliningrad",
    "Asia/Yekaterinburg",
    "Asia/Novosibirsk",
    "Asia/Krasnoyarsk",
    "Asia/Vladivostok",
];

/// A small deterministic generator (an LCG).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below.max(1)
    }
}

/// The what-if section on every backend the server has.
pub async fn bench_whatif(dir: &Path) -> anyhow::Result<()> {
    let records = std::env::var("PERF_WHATIF_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_RECORDS);
    let backends =
        std::env::var("PERF_WHATIF_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".to_owned());
    let wants = |name: &str| backends.split(',').any(|b| b.trim() == name);
    if wants("sqlite") {
        bench_on(dir, records, None).await?;
    }
    if !wants("postgres") {
        println!("\nnote: PERF_WHATIF_BACKENDS={backends}: no PostgreSQL rows");
        return Ok(());
    }
    let base = system_tests::system::postgres_base_url();
    let made = {
        let base = base.clone();
        tokio::task::spawn_blocking(move || sync_server::db::postgres_test_schema_url(&base))
            .await?
    };
    let (url, schema) = match made {
        Ok(made) => made,
        Err(e) => {
            println!("\nnote: PostgreSQL at {base} is unreachable ({e}); no PostgreSQL rows");
            return Ok(());
        }
    };
    let result = bench_on(dir, records, Some(&url)).await;
    let dropped = tokio::task::spawn_blocking(move || {
        sync_server::db::postgres_drop_test_schema(&base, &schema)
    })
    .await?;
    if let Err(e) = dropped {
        println!("note: the schema was not dropped: {e}");
    }
    result
}

async fn bench_on(dir: &Path, records: u64, database_url: Option<&str>) -> anyhow::Result<()> {
    let backend = if database_url.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!("\n== what-if of a draft ({backend}, {records} stored sales) ==");
    let data_dir = dir.join(format!("whatif-{}", backend.to_lowercase()));
    let env: Vec<(&str, &str)> = database_url
        .map(|url| ("SYNC_SERVER__DATABASE__URL", url))
        .into_iter()
        .collect();
    let listen = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let server = ServerProcess::spawn_with(&data_dir, listen, &env).await?;
    let admin = server.admin();
    let merchant = admin.merchant("Сеть").await?;
    let promotions: Vec<serde_json::Value> = (0..CATEGORIES)
        .map(|i| {
            serde_json::json!({
                "id": format!("promo-{i}"), "name": format!("Акция {i}"),
                "target": {"kind": "categories", "categories": [format!("cat-{i}")]},
                "reward": {"kind": "percent_off", "percent": 1000}
            })
        })
        .collect();
    let ruleset: shared::ruleset::Ruleset = serde_json::from_value(serde_json::json!({
        "currency": "RUB",
        "programme": {"earn": {"per": 10000, "points": 1}},
        "promotions": promotions
    }))?;
    admin.publish(merchant.id, &ruleset).await?;
    let mut registers = Vec::new();
    for i in 0..STORES {
        let store = admin
            .store(
                merchant.id,
                &NewStore {
                    brand_id: None,
                    name: format!("Магазин {:02}", i + 1),
                    timezone: ZONES[i % ZONES.len()].parse()?,
                },
            )
            .await?;
        let register = SimRegister::enroll_at(&server.url(), &admin, store.id).await?;
        registers.push((register.id, store.id));
    }
    let repo: Arc<dyn Repository> = match database_url {
        Some(url) => Arc::new(PostgresRepository::connect(url).await?),
        None => Arc::new(SqliteRepository::open(&data_dir.join(sync_server::DATABASE_FILE)).await?),
    };
    let started = Instant::now();
    seed_sales(&repo, merchant.id, &registers, records).await?;
    let seeding = started.elapsed();
    println!(
        "seeded {records} sales in {:.1} s ({:.0} sales/s through insert_record)",
        seeding.as_secs_f64(),
        records as f64 / seeding.as_secs_f64().max(1e-9)
    );
    drop(repo);

    let http = reqwest::Client::new();
    let token = server.admin_token().to_owned();
    let base = format!("{}/api/v1/admin/merchants/{}", server.url(), merchant.id);
    let draft: serde_json::Value = http
        .post(format!("{base}/drafts"))
        .bearer_auth(&token)
        .json(&serde_json::json!({
            "id": "promo-big", "name": "Большая акция",
            "target": {"kind": "categories", "categories": ["cat-0", "cat-1", "cat-2", "cat-3", "cat-4"]},
            "reward": {"kind": "percent_off", "percent": 2500}
        }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let draft_id = draft["id"].as_i64().context("the draft's id")?;
    let rss_before = server.status_field("VmRSS").unwrap_or(0);
    let started = Instant::now();
    let reply = http
        .post(format!("{base}/drafts/{draft_id}/what-if"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"days": 28}))
        .timeout(std::time::Duration::from_secs(3_600))
        .send()
        .await?;
    let status = reply.status();
    let report: serde_json::Value = reply.json().await?;
    let took = started.elapsed();
    anyhow::ensure!(status.is_success(), "the what-if failed: {status} {report}");
    let read = report["sales_read"].as_u64().unwrap_or(0);
    anyhow::ensure!(
        read == records,
        "the what-if read {read} sales of {records}: {report}"
    );
    let goal = GOAL_SECS_PER_MILLION * records as f64 / 1e6;
    row(
        &format!("what-if over {records} sales"),
        format!("{:.2} s", took.as_secs_f64()),
        format!("{goal:.2} s"),
        took.as_secs_f64() / goal,
    );
    let per_sec = records as f64 / took.as_secs_f64().max(1e-9);
    let goal_rate = 1e6 / GOAL_SECS_PER_MILLION;
    row(
        "  sales priced twice per second",
        format!("{per_sec:.0}/s"),
        format!("≥ {goal_rate:.0}/s"),
        goal_rate / per_sec,
    );
    let peak = server.status_field("VmHWM").unwrap_or(0);
    println!(
        "{:<48} {:>11} KiB   (resident before {rss_before} KiB; the sales read in batches)",
        "  server peak memory (VmHWM)", peak
    );
    println!(
        "{:<48} {:>14}   (customers {}, promotions displaced {})",
        "  checks touched",
        report["total"]["checks_touched"],
        report["customers_touched"],
        report["displaced"].as_array().map_or(0, Vec::len)
    );
    Ok(())
}

/// `records` sales over the last 28 days, stored through the repository.
async fn seed_sales(
    repo: &Arc<dyn Repository>,
    merchant: MerchantId,
    registers: &[(RegisterId, StoreId)],
    records: u64,
) -> anyhow::Result<()> {
    let key = Arc::new(SigningKey::from_seed(&[42; 32])?);
    let now = Utc::now();
    let window = 28 * 24 * 3_600 - 3_600;
    let mut seqs = vec![0i64; registers.len()];
    let mut rng = Lcg(7);
    let mut done = 0;
    while done < records {
        let n = CHUNK.min(records - done);
        let mut chunk = Vec::with_capacity(usize::try_from(n)?);
        for i in 0..n {
            let r = usize::try_from(rng.next(registers.len() as u64))?;
            seqs[r] += 1;
            let (register, store) = registers[r];
            let at = now - TimeDelta::seconds(i64::try_from(rng.next(window))? + 60);
            let record = sale(&mut rng, merchant, register, store, seqs[r], at, done + i)?;
            chunk.push(record);
        }
        let key = key.clone();
        let checked: Vec<CheckedRecord> = tokio::task::spawn_blocking(move || {
            chunk
                .into_iter()
                .map(|record| {
                    let sealed = record.seal_bytes(&key)?;
                    Ok(CheckedRecord {
                        record,
                        bytes: sealed.bytes,
                        hash: sealed.hash,
                        signature: sealed.signature,
                        verified: true,
                    })
                })
                .collect::<anyhow::Result<_>>()
        })
        .await??;
        let received_at = Utc::now();
        repo.write(move |tx| {
            for c in &checked {
                tx.insert_record(&RecordRow {
                    checked: c,
                    kind: CheckKind::Sale,
                    customer: None,
                    spend: c.record.total,
                    received_at,
                })?;
            }
            Ok(())
        })
        .await?;
        done += n;
    }
    Ok(())
}

fn sale(
    rng: &mut Lcg,
    merchant: MerchantId,
    register: RegisterId,
    store: StoreId,
    seq: i64,
    at: DateTime<Utc>,
    n: u64,
) -> anyhow::Result<PurchaseRecord> {
    let money = |m: i64| Money::from_minor(m).expect("in range");
    let lines: Vec<RecordLine> = (0..=rng.next(4))
        .map(|_| {
            let product = rng.next(PRODUCTS);
            let price = 5_000 + 100 * i64::try_from(rng.next(200)).unwrap_or(0);
            Ok(RecordLine {
                sku: Sku::parse(format!("46{product:011}"))?,
                name: format!("Товар {product}"),
                category: Some(Category::parse(format!("cat-{}", product % CATEGORIES))?),
                quantity: Quantity::ONE,
                unit_price: money(price),
                amount: money(price),
                discount: money(0),
                total: money(price),
                points: 0,
                applied: vec![],
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let subtotal: i64 = lines.iter().map(|l| l.amount.minor()).sum();
    let customer = (rng.next(3) == 0).then(|| {
        shared::ids::CustomerId::new(i64::try_from(1 + rng.next(10_000)).unwrap_or(1))
            .expect("an id")
    });
    Ok(PurchaseRecord {
        format: RECORD_FORMAT,
        id: uuid::Uuid::from_u128(u128::from(n) + 1),
        merchant_id: merchant,
        store_id: store,
        register_id: register,
        seq: Seq::new(seq)?,
        prev_hash: shared::crypto::Hash256::GENESIS,
        wall_time: at,
        ruleset_version: Some(RulesetVersion::new(1)?),
        kind: RecordKind::Sale,
        currency: Currency::RUB,
        customer: customer.map(|id| RecordCustomer {
            id,
            identified_by: IdentifiedBy::Token,
        }),
        lines,
        subtotal: money(subtotal),
        discount: money(0),
        total: money(subtotal),
        points_earned: 0,
        points_redeemed: 0,
        applied: vec![],
        point_awards: vec![],
        pricing_inputs: Some(PricingInputs {
            standing: customer.map(|_| CustomerStanding::default()),
            ..PricingInputs::default()
        }),
    })
}
