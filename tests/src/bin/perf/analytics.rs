//! The analytics figures, on the `sync-server` binary as a child process,
//! on SQLite and (when reachable) PostgreSQL:
//!
//! - **Views and exports:** p95 of every analytics view (a year, and a
//!   month with a store filter) and every CSV export over a seeded chain,
//!   goal ≤ 200 ms each.
//! - **Freshness:** from the upload of a sale to the sales view counting
//!   it, goal ≤ 5 s.
//! - **Ingest cost:** records per second uploaded with the rollups on
//!   beside a server with them off (`SYNC_SERVER__INGEST__ROLLUPS=false`),
//!   goal ≥ 0.9 ×.
//!
//! **How the chain is seeded** (the fastest honest path): the stores,
//! brands and a ruleset of the records' twenty promotions (two with a
//! holdout, so the promotions view computes their uplift) through the
//! admin API; the customers
//! through the repository in one transaction; then `PERF_ANALYTICS_RECORDS`
//! purchase records (default 10 000 000: 50 stores in six time zones,
//! about 200 000 customers, 5 000 products in 50 categories, a few
//! popular and a long tail (Zipf-like), a year, one
//! to seven lines a basket, a third identified, one in eight with a
//! promotion, one in forty a return) are generated in memory and added
//! to the rollups by the server's own `services::analytics::Rollups` (the
//! code ingest runs in a batch's transaction), 10 000 records a
//! transaction, walking the year forward as registers upload it. The records themselves are not written: no view reads
//! them, and ingest itself is measured beside. The customers scale with
//! the records (one per 50) unless `PERF_ANALYTICS_CUSTOMERS` sets them;
//! `PERF_ANALYTICS_BASKETS=off` seeds every rollup but the basket rows.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{DateTime, Duration as TimeDelta, NaiveDate, Utc};
use reqwest::StatusCode;
use shared::crypto::Hash256;
use shared::identity::Gender;
use shared::ids::{Category, CustomerId, MerchantId, PromotionId, RegisterId, Seq, Sku, StoreId};
use shared::money::{Currency, Money, Quantity};
use shared::pricing::{AppliedRule, RuleRef};
use shared::record::{
    IdentifiedBy, PurchaseRecord, RECORD_FORMAT, RecordCustomer, RecordKind, RecordLine, RecordRef,
};
use shared::timezone::TimeZone;
use sync_server::db::{PostgresRepository, Repository, SqliteRepository};
use sync_server::wire::admin::{NewCustomer, NewStore};
use system_tests::harness::{ServerProcess, SimRegister, free_port};
use system_tests::scenario::create_chain;

use super::{percentile, row};

/// Records seeded by default; `PERF_ANALYTICS_RECORDS` lowers it.
const DEFAULT_RECORDS: u64 = 10_000_000;
/// Stores of the seeded chain.
const STORES: usize = 50;
/// Products, in [`CATEGORIES`] categories.
const PRODUCTS: u64 = 5_000;
const CATEGORIES: u64 = 50;
/// Records a seeding transaction adds.
const SEED_CHUNK: u64 = 10_000;
/// Requests timed per view and export.
const SAMPLES: usize = 20;
/// The goal of every view and export.
const VIEW_GOAL: Duration = Duration::from_millis(200);
/// The goal from upload to the statistics.
const FRESH_GOAL: Duration = Duration::from_secs(5);
/// The seeded year's last local day.
const LAST_DAY: (i32, u32, u32) = (2026, 11, 30);
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

    /// A product as shoppers pick them: a few sell on most checks and a
    /// long tail rarely (Zipf-like, the chance of the `r`-th most popular
    /// about `1 / r`: the rank drawn log-uniformly), not all alike.
    fn product(&mut self) -> u64 {
        const SCALE: u64 = 1 << 30;
        let u = self.next(SCALE) as f64 / SCALE as f64;
        let rank = ((PRODUCTS + 1) as f64).powf(u) as u64;
        rank.saturating_sub(1).min(PRODUCTS - 1)
    }
}

/// The analytics section on every backend the server has.
pub async fn bench_analytics(dir: &Path) -> anyhow::Result<()> {
    let records = std::env::var("PERF_ANALYTICS_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_RECORDS);
    let backends =
        std::env::var("PERF_ANALYTICS_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".to_owned());
    let wants = |name: &str| backends.split(',').any(|b| b.trim() == name);
    if wants("sqlite") {
        bench_on(dir, records, None).await?;
    }
    if !wants("postgres") {
        println!("\nnote: PERF_ANALYTICS_BACKENDS={backends}: no PostgreSQL rows");
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
    println!(
        "\n== analytics ({backend}, {records} records seeded{}) ==",
        if seeds_baskets() {
            ""
        } else {
            ", no basket rows"
        }
    );
    // `PERF_ANALYTICS_KEEP=<dir>` keeps the seeded SQLite chain there and
    // reuses it on the next run with as many records (for profiling).
    let keep = std::env::var_os("PERF_ANALYTICS_KEEP")
        .filter(|_| database_url.is_none())
        .map(std::path::PathBuf::from);
    let data_dir = keep
        .clone()
        .unwrap_or_else(|| dir.to_owned())
        .join(format!("analytics-{}", backend.to_lowercase()));
    let marker = data_dir.join("perf-seeded.json");
    let kept: Option<Seeded> = keep
        .as_ref()
        .and_then(|_| std::fs::read(&marker).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .filter(|s: &Seeded| s.records == records);
    let env: Vec<(&str, &str)> = database_url
        .map(|url| ("SYNC_SERVER__DATABASE__URL", url))
        .into_iter()
        .collect();
    let listen = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let server = ServerProcess::spawn_with(&data_dir, listen, &env).await?;
    let admin = server.admin();
    let (merchant, stores) = match kept {
        Some(kept) => {
            println!("reusing the chain seeded in {}", data_dir.display());
            (kept.merchant, kept.stores)
        }
        None => {
            let seeded = seed_chain(&server, &data_dir, database_url, records).await?;
            if keep.is_some() {
                std::fs::write(&marker, serde_json::to_vec(&seeded)?)?;
            }
            (seeded.merchant, seeded.stores)
        }
    };
    let http = reqwest::Client::new();
    let token = server.admin_token().to_owned();
    let base = format!(
        "{}/api/v1/admin/merchants/{}/analytics",
        server.url(),
        merchant
    );
    let year = "from=2025-12-01&to=2026-11-30";
    let month = format!("from=2026-11-01&to=2026-11-30&store={}", stores[0].0);
    let mut timed = Vec::new();
    for view in [
        "sales",
        "stores",
        "products",
        "customers",
        "promotions",
        "baskets",
    ] {
        for (what, query) in [
            ("a year", year.to_owned()),
            ("a month, one store", month.clone()),
        ] {
            let query = if view == "sales" {
                format!("{query}&grain=day")
            } else {
                query
            };
            timed.push((
                format!("view {view}, {what}"),
                p95(&http, &token, &format!("{base}/{view}?{query}")).await?,
            ));
        }
    }
    // Baskets beyond the default least: pairs of at least 1 000 checks in
    // the year (every companion pair, found by its marks), one product's
    // pairs, and what a promotion moved.
    for (what, query) in [
        (
            "view baskets, a year, pairs of ≥ 1 000 checks",
            format!("{year}&min_checks=1000"),
        ),
        (
            "view baskets, a year, one product's pairs",
            format!("{year}&product=46{:011}", 42),
        ),
        (
            "view baskets, a year, a promotion's pairs",
            format!("{year}&promotion=promo-3"),
        ),
        (
            "view baskets, a month, one store, a product's pairs",
            format!("{month}&product=46{:011}", 42),
        ),
    ] {
        timed.push((
            what.to_owned(),
            p95(&http, &token, &format!("{base}/baskets?{query}")).await?,
        ));
    }
    for table in [
        "baskets",
        "basket-categories",
        "revenue",
        "stores",
        "brands",
        "products",
        "categories",
        "genders",
        "ages",
        "new-returning",
        "frequency",
        "cohorts",
        "rfm",
        "promotions",
        "promotion-hours",
        "promotion-weekdays",
        "promotion-stores",
        "uplift",
    ] {
        timed.push((
            format!("export {table}.csv, a year"),
            p95(&http, &token, &format!("{base}/export/{table}?{year}")).await?,
        ));
    }
    for (what, p) in &timed {
        row(
            &format!("{what} p95"),
            format!("{:.1} ms", p.as_secs_f64() * 1e3),
            format!("{} ms", VIEW_GOAL.as_millis()),
            p.as_secs_f64() / VIEW_GOAL.as_secs_f64(),
        );
    }

    // A sale uploaded now, until the sales view counts it.
    let mut register = SimRegister::enroll_at(&server.url(), &admin, stores[0].0).await?;
    let counted = |body: &serde_json::Value| body["overview"]["totals"]["checks"].as_i64();
    let today_url = format!("{base}/sales");
    let before = counted(&get_json(&http, &token, &today_url).await?).unwrap_or(0);
    let sale = register.sales(1, 12_345)?;
    let started = Instant::now();
    let (status, body) = register.upload(&sale).await?;
    anyhow::ensure!(status == StatusCode::OK, "upload refused: {status} {body}");
    let fresh = loop {
        let now = counted(&get_json(&http, &token, &today_url).await?).unwrap_or(0);
        if now > before {
            break started.elapsed();
        }
        anyhow::ensure!(
            started.elapsed() < FRESH_GOAL * 4,
            "the sale never showed in the statistics"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    row(
        "upload to visible in the statistics",
        format!("{:.0} ms", fresh.as_secs_f64() * 1e3),
        format!("{} s", FRESH_GOAL.as_secs()),
        fresh.as_secs_f64() / FRESH_GOAL.as_secs_f64(),
    );
    drop(server);

    ingest_cost(dir, backend, &env).await
}

/// What a kept seeding (`PERF_ANALYTICS_KEEP`) was made of.
#[derive(serde::Serialize, serde::Deserialize)]
struct Seeded {
    records: u64,
    merchant: MerchantId,
    stores: Vec<(StoreId, TimeZone)>,
}

/// The chain's brands and stores through the admin API, then its
/// customers and rollups through the repository.
async fn seed_chain(
    server: &ServerProcess,
    data_dir: &Path,
    database_url: Option<&str>,
    records: u64,
) -> anyhow::Result<Seeded> {
    let admin = server.admin();
    let merchant = admin.merchant("Сеть").await?;
    let mut brands = Vec::new();
    for name in ["Сеть у дома", "Сеть Гипер", "Сеть Экспресс"] {
        brands.push(admin.brand(merchant.id, name).await?);
    }
    let mut stores = Vec::new();
    for i in 0..STORES {
        let store = admin
            .store(
                merchant.id,
                &NewStore {
                    brand_id: Some(brands[i % brands.len()].id),
                    name: format!("Магазин {:02}", i + 1),
                    timezone: ZONES[i % ZONES.len()].parse()?,
                },
            )
            .await?;
        stores.push((store.id, store.timezone));
    }
    // The promotions the records name; two hold customers out, so the
    // promotions view and export measure their uplift too.
    let promotions: Vec<serde_json::Value> = (0..20)
        .map(|i| {
            let mut p = serde_json::json!({
                "id": format!("promo-{i}"), "name": format!("Акция {i}"),
                "target": {"kind": "categories", "categories": [format!("cat-{i}")]},
                "reward": {"kind": "percent_off", "percent": 1000}
            });
            if i < 2 {
                p["holdout"] = serde_json::json!(1000 * (i + 1));
            }
            p
        })
        .collect();
    let ruleset: shared::ruleset::Ruleset = serde_json::from_value(serde_json::json!({
        "currency": "RUB", "programme": {}, "promotions": promotions
    }))?;
    admin.publish(merchant.id, &ruleset).await?;
    let repo: Arc<dyn Repository> = match database_url {
        Some(url) => Arc::new(PostgresRepository::connect(url).await?),
        None => Arc::new(SqliteRepository::open(&data_dir.join(sync_server::DATABASE_FILE)).await?),
    };
    // `PERF_ANALYTICS_CUSTOMERS` sets the customers apart from the records
    // (the customer views cost per customer).
    let customers = std::env::var("PERF_ANALYTICS_CUSTOMERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or((records / 50).max(100));
    let started = Instant::now();
    let ids = seed_customers(&repo, merchant.id, customers).await?;
    println!(
        "seeded {} customers in {:.1} s",
        ids.len(),
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    seed_rollups(&repo, merchant.id, &stores, &ids, records).await?;
    // What a year of ingest leaves behind: tables the planner has
    // statistics of (autovacuum's ANALYZE on PostgreSQL; the server runs
    // the same refresh after its own backfill).
    repo.write(|tx| tx.refresh_planner_statistics()).await?;
    let seeding = started.elapsed();
    println!(
        "seeded the rollups of {records} records in {:.1} s ({:.0} records/s through rollup_record)",
        seeding.as_secs_f64(),
        records as f64 / seeding.as_secs_f64().max(1e-9)
    );

    Ok(Seeded {
        records,
        merchant: merchant.id,
        stores,
    })
}

async fn get_json(
    http: &reqwest::Client,
    token: &str,
    url: &str,
) -> anyhow::Result<serde_json::Value> {
    let reply = http.get(url).bearer_auth(token).send().await?;
    anyhow::ensure!(
        reply.status() == StatusCode::OK,
        "{url}: {}",
        reply.status()
    );
    Ok(reply.json().await?)
}

/// The p95 of [`SAMPLES`] requests of `url` (body read to its end).
async fn p95(http: &reqwest::Client, token: &str, url: &str) -> anyhow::Result<Duration> {
    let mut samples = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let started = Instant::now();
        let reply = http.get(url).bearer_auth(token).send().await?;
        let status = reply.status();
        let body = reply.bytes().await?;
        anyhow::ensure!(status == StatusCode::OK, "{url}: {status}");
        anyhow::ensure!(!body.is_empty(), "{url}: empty");
        samples.push(started.elapsed());
    }
    samples.sort();
    Ok(percentile(&samples, 0.95))
}

async fn seed_customers(
    repo: &Arc<dyn Repository>,
    merchant: MerchantId,
    n: u64,
) -> anyhow::Result<Vec<CustomerId>> {
    repo.write(move |tx| {
        let mut rng = Lcg(7);
        let mut ids = Vec::new();
        for i in 0..n {
            let gender = match rng.next(10) {
                0..=4 => Gender::Female,
                5..=8 => Gender::Male,
                _ => Gender::default(),
            };
            let birth_date = (rng.next(5) != 0).then(|| {
                NaiveDate::from_ymd_opt(
                    1945 + i32::try_from(rng.next(62)).unwrap_or(0),
                    1 + u32::try_from(rng.next(12)).unwrap_or(0),
                    1 + u32::try_from(rng.next(28)).unwrap_or(0),
                )
            });
            ids.push(tx.insert_customer(
                merchant,
                &NewCustomer {
                    name: format!("Покупатель {i}"),
                    phone: None,
                    email: None,
                    gender,
                    birth_date: birth_date.flatten(),
                },
            )?);
        }
        Ok(ids)
    })
    .await
    .context("seeding customers")
}

fn money(minor: i64) -> Money {
    Money::from_minor(minor).unwrap_or(Money::ZERO)
}

/// One generated record: a sale (or, one in forty, a return) at `store`.
fn generate(
    rng: &mut Lcg,
    seq: u64,
    merchant: MerchantId,
    store: StoreId,
    customer: Option<CustomerId>,
    at: DateTime<Utc>,
) -> anyhow::Result<PurchaseRecord> {
    let lines_n = 1 + rng.next(4) + rng.next(4);
    let promoted = rng.next(8) == 0;
    let mut lines = Vec::new();
    // Realistic baskets have companions: a product's companion (the
    // product next to it, `p ^ 1`) follows it on half the checks.
    let mut first_product = None;
    for l in 0..lines_n {
        let product = match first_product {
            Some(p) if l == 1 && rng.next(2) == 0 => p ^ 1,
            _ => rng.product(),
        };
        first_product.get_or_insert(product);
        let price = 3_000 + i64::try_from(product % 97).unwrap_or(0) * 1_000;
        let quantity = Quantity::from_milli(1_000 * (1 + rng.next(3)))?;
        let amount = quantity.extend(money(price))?;
        let discount = if promoted && l == 0 {
            amount.minor() / 10
        } else {
            0
        };
        lines.push(RecordLine {
            sku: Sku::parse(format!("46{product:011}"))?,
            name: format!("Товар {product}"),
            category: Some(Category::parse(format!("cat-{}", product % CATEGORIES))?),
            quantity,
            unit_price: money(price),
            amount,
            discount: money(discount),
            total: money(amount.minor() - discount),
            points: 0,
            applied: if discount > 0 {
                vec![AppliedRule {
                    rule: RuleRef::Promotion(PromotionId::parse(format!(
                        "promo-{}",
                        product % 20
                    ))?),
                    discount: money(discount),
                    funded_by: product.is_multiple_of(2).then(|| "Поставщик".to_owned()),
                }]
            } else {
                vec![]
            },
        });
    }
    let subtotal: i64 = lines.iter().map(|l| l.amount.minor()).sum();
    let discount: i64 = lines.iter().map(|l| l.discount.minor()).sum();
    let applied = lines.iter().flat_map(|l| l.applied.clone()).collect();
    let returned = rng.next(40) == 0;
    Ok(PurchaseRecord {
        format: RECORD_FORMAT,
        id: uuid::Uuid::from_u128(u128::from(seq)),
        merchant_id: merchant,
        store_id: store,
        register_id: RegisterId::new(1)?,
        seq: Seq::new(i64::try_from(seq + 1)?)?,
        prev_hash: Hash256::GENESIS,
        wall_time: at,
        ruleset_version: None,
        kind: if returned {
            RecordKind::Return {
                original: RecordRef {
                    register_id: RegisterId::new(1)?,
                    seq: Seq::FIRST,
                    id: uuid::Uuid::nil(),
                },
                original_lines: vec![0],
                uses_returned: vec![],
            }
        } else {
            RecordKind::Sale
        },
        currency: Currency::RUB,
        customer: customer.map(|id| RecordCustomer {
            id,
            identified_by: IdentifiedBy::Token,
        }),
        lines,
        subtotal: money(subtotal),
        discount: money(discount),
        total: money(subtotal - discount),
        points_earned: if customer.is_some() {
            subtotal / 1_000
        } else {
            0
        },
        points_redeemed: 0,
        applied: if returned { vec![] } else { applied },
        point_awards: vec![],
        pricing_inputs: None,
    })
}

/// Whether the seeding adds the basket rows: `PERF_ANALYTICS_BASKETS=off`
/// leaves them out (their pairs seed at about 800 records/s, so ten million
/// records take hours; the other views are measured without them, and the
/// basket rows then time empty tables).
fn seeds_baskets() -> bool {
    std::env::var("PERF_ANALYTICS_BASKETS").map_or(true, |v| v != "off")
}

async fn seed_rollups(
    repo: &Arc<dyn Repository>,
    merchant: MerchantId,
    stores: &[(StoreId, TimeZone)],
    customers: &[CustomerId],
    records: u64,
) -> anyhow::Result<()> {
    let stores = Arc::new(stores.to_vec());
    let customers = Arc::new(customers.to_vec());
    let last = NaiveDate::from_ymd_opt(LAST_DAY.0, LAST_DAY.1, LAST_DAY.2)
        .context("last day")?
        .and_hms_opt(21, 0, 0)
        .context("time")?
        .and_utc();
    let baskets = seeds_baskets();
    let mut rng_state = 42;
    let mut done = 0;
    // The year walked forward, as registers upload it: a chunk is a few
    // hours of the chain's sales, merged by row as ingest merges a batch.
    let year_minutes: u64 = 365 * 24 * 60;
    while done < records {
        let chunk = SEED_CHUNK.min(records - done);
        let (stores, customers) = (stores.clone(), customers.clone());
        rng_state = repo
            .write(move |tx| {
                let mut rng = Lcg(rng_state);
                let mut rollups = if baskets {
                    sync_server::services::analytics::Rollups::default()
                } else {
                    sync_server::services::analytics::Rollups::without_baskets()
                };
                for i in 0..chunk {
                    let (store, zone) =
                        stores[usize::try_from(rng.next(stores.len() as u64)).unwrap_or(0)];
                    let n = u128::from(done + i);
                    let minutes = u64::try_from(
                        u128::from(year_minutes) * (u128::from(records) - n) / u128::from(records),
                    )
                    .unwrap_or(0)
                    .saturating_sub(rng.next(30));
                    let at = last - TimeDelta::minutes(i64::try_from(minutes).unwrap_or(0));
                    let customer = (rng.next(3) == 0).then(|| {
                        customers[usize::try_from(rng.next(customers.len() as u64)).unwrap_or(0)]
                    });
                    let record = generate(&mut rng, done + i, merchant, store, customer, at)
                        .map_err(|e| sync_server::db::DbError::other(e.to_string()))?;
                    let uses = sync_server::services::ingest::promotion_uses(&record)?;
                    rollups.add(&record, customer, zone, &uses);
                }
                rollups.flush(tx)?;
                Ok(rng.0)
            })
            .await?;
        done += chunk;
        if done % 1_000_000 == 0 {
            println!("  … {done} records");
        }
    }
    Ok(())
}

/// Records per second uploaded by two registers at once, on a fresh server
/// with the rollups on or off; the better of two rounds each, alternating.
async fn ingest_cost(dir: &Path, backend: &str, env: &[(&str, &str)]) -> anyhow::Result<()> {
    ingest_cost_of(dir, backend, env, 1).await?;
    ingest_cost_of(dir, backend, env, 4).await
}

/// [`ingest_cost`] of sales with `lines` distinct products each (more
/// than one: each sale adds its pairs to the basket rollups).
async fn ingest_cost_of(
    dir: &Path,
    backend: &str,
    env: &[(&str, &str)],
    lines: u64,
) -> anyhow::Result<()> {
    // [with the rollups, without], and with them until the line rows
    // (products, baskets) of every sale were added (the server adds those
    // after the upload's transaction, from a queue).
    let mut best = [0.0_f64; 2];
    let mut best_caught_up = 0.0_f64;
    for round in 0..2 {
        for (i, rollups) in [true, false].into_iter().enumerate() {
            let mut env = env.to_vec();
            env.push((
                "SYNC_SERVER__INGEST__ROLLUPS",
                if rollups { "true" } else { "false" },
            ));
            let data_dir = dir.join(format!(
                "analytics-ingest-{}-{lines}-{round}-{rollups}",
                backend.to_lowercase()
            ));
            // A fresh server: on PostgreSQL a schema of its own (the
            // seeded one has registers whose server key is not this
            // server's, and a server without its key does not start).
            let fresh_schema = if env.iter().any(|(k, _)| *k == "SYNC_SERVER__DATABASE__URL") {
                let base = system_tests::system::postgres_base_url();
                Some(
                    tokio::task::spawn_blocking(move || {
                        sync_server::db::postgres_test_schema_url(&base)
                    })
                    .await??,
                )
            } else {
                None
            };
            if let Some((url, _)) = &fresh_schema {
                env.retain(|(k, _)| *k != "SYNC_SERVER__DATABASE__URL");
                env.push(("SYNC_SERVER__DATABASE__URL", url.as_str()));
            }
            let listen = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()?));
            let server = ServerProcess::spawn_with(&data_dir, listen, &env).await?;
            let admin = server.admin();
            let chain = create_chain(&admin).await?;
            let mut registers = Vec::new();
            for s in 0..2 {
                let mut register =
                    SimRegister::enroll_at(&server.url(), &admin, chain.stores[s].id).await?;
                let mut batches = Vec::new();
                let mut rng = Lcg(u64::try_from(s).unwrap_or(0) + 1);
                // Longer records, smaller batches: each stays under the
                // upload's size limit; 5 000 records a register either way.
                let per_batch = 1_000 / usize::try_from(lines).unwrap_or(1).max(1);
                for _ in 0..5_000 / per_batch {
                    let mut batch = Vec::with_capacity(per_batch);
                    for _ in 0..per_batch {
                        let products: Vec<u64> = (0..lines).map(|_| rng.next(PRODUCTS)).collect();
                        batch.push(register.next_record(10_000, |r| {
                            if lines > 1 {
                                spread_lines(r, &products);
                            }
                        })?);
                    }
                    batches.push(batch);
                }
                registers.push((register, batches));
            }
            let started = Instant::now();
            let tasks: Vec<_> = registers
                .into_iter()
                .map(|(register, batches)| {
                    tokio::spawn(async move {
                        for batch in batches {
                            loop {
                                let (status, body) = register.upload(&batch).await?;
                                match status {
                                    StatusCode::OK => break,
                                    StatusCode::TOO_MANY_REQUESTS => {
                                        tokio::time::sleep(Duration::from_millis(50)).await;
                                    }
                                    other => anyhow::bail!("upload refused: {other} {body}"),
                                }
                            }
                        }
                        anyhow::Ok(())
                    })
                })
                .collect();
            for task in tasks {
                task.await??;
            }
            let rate = 10_000.0 / started.elapsed().as_secs_f64();
            best[i] = best[i].max(rate);
            if rollups {
                while basket_queue(&server).await? > 0 {
                    anyhow::ensure!(
                        started.elapsed() < Duration::from_secs(600),
                        "the basket queue never emptied"
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                best_caught_up = best_caught_up.max(10_000.0 / started.elapsed().as_secs_f64());
            }
            drop(server);
            if let Some((_, schema)) = fresh_schema {
                let base = system_tests::system::postgres_base_url();
                tokio::task::spawn_blocking(move || {
                    sync_server::db::postgres_drop_test_schema(&base, &schema)
                })
                .await??;
            }
        }
    }
    let [with, without] = best;
    let ratio = with / without.max(1e-9);
    row(
        &format!("ingest with rollups ÷ without ({backend}, {lines}-line sales)"),
        format!("{ratio:.2} ×"),
        "≥ 0.90 ×".to_owned(),
        0.9 / ratio.max(1e-9),
    );
    println!(
        "  {:.0} rec/s with the rollups, {:.0} rec/s without",
        with, without
    );
    let caught_up = best_caught_up / without.max(1e-9);
    row(
        "  the same, until every sale's line rows were added",
        format!("{caught_up:.2} ×"),
        "≥ 0.90 ×".to_owned(),
        0.9 / caught_up.max(1e-9),
    );
    Ok(())
}

/// The server's `analytics_basket_queue` gauge: records whose line rows
/// (products, baskets) are still to add.
async fn basket_queue(server: &ServerProcess) -> anyhow::Result<i64> {
    let text = super::server::metrics_text(server).await?;
    text.lines()
        .find_map(|line| line.strip_prefix("sync_server_analytics_basket_queue "))
        .context("no sync_server_analytics_basket_queue in /metrics")?
        .trim()
        .parse()
        .context("analytics_basket_queue")
}

/// The sale's one line spread over `products` (one line each, the total
/// kept), so it adds pairs to the basket rollups.
fn spread_lines(record: &mut PurchaseRecord, products: &[u64]) {
    let Some(first) = record.lines.first().cloned() else {
        return;
    };
    let n = i64::try_from(products.len()).unwrap_or(1).max(1);
    let total = first.total.minor();
    let mut left = total;
    record.lines = products
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let share = if i + 1 == products.len() {
                left
            } else {
                total / n
            };
            left -= share;
            let price = Money::from_minor(share).ok()?;
            Some(RecordLine {
                sku: Sku::parse(format!("46{p:011}")).ok()?,
                name: format!("Товар {p}"),
                category: Category::parse(format!("cat-{}", p % CATEGORIES)).ok(),
                unit_price: price,
                amount: price,
                total: price,
                points: if i == 0 { first.points } else { 0 },
                ..first.clone()
            })
        })
        .collect();
}
