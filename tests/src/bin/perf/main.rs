//! The perf harness. Every figure is printed beside the limit or the
//! baseline it is compared with, measured in the same run on the same
//! machine, so a noisy shared machine shows up in both.
//!
//! Pricing is timed two ways per call: wall clock, and the CPU time of the
//! pricing thread. The limits are checked against the CPU time, which is
//! what a till that is not shared with other work would see; the wall-clock
//! percentiles are printed beside it with the machine's load average,
//! because on a busy machine more than 1 % of calls include another
//! process's time slice.
//!
//! Ingest and ruleset push are measured on the `sync-server` binary as a
//! child process (see `server`), so its CPU time and memory are its own.
//! `perf SECTION…` runs only the sections named (see [`SECTIONS`]).

mod analytics;
mod peer;
mod qr;
mod server;
mod whatif;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::NaiveTime;
use chrono::Utc;
use shared::ids::{Category, PromotionId, Sku, StoreId};
use shared::money::{BasisPoints, Money, Quantity};
use shared::pricing::{CustomerStanding, Engine, PricingContext, PromotionUsage, RuleRef};
use shared::ruleset::{
    Apply, BundleItem, EarnRate, Group, GroupPolicy, HourRange, MinPrice, Promotion, Redemption,
    Reward, Ruleset, Stacking, Target,
};
use system_tests::scenario::{self, CATALOG, create_chain, line_json};
use system_tests::system::{TestAgent, TestServer};

/// The CPU time the calling thread has used.
fn thread_cpu() -> Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID).map_or(
        Duration::ZERO,
        |t| {
            Duration::new(
                u64::try_from(t.tv_sec()).unwrap_or(0),
                u32::try_from(t.tv_nsec()).unwrap_or(0),
            )
        },
    )
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn row(what: &str, value: String, limit: String, ratio: f64) {
    let verdict = if ratio <= 1.0 { "ok" } else { "OVER" };
    println!("{what:<48} {value:>14}   limit {limit:>12}   ratio {ratio:>6.2}  {verdict}");
}

fn info(what: &str, value: String, beside: String) {
    println!("{what:<48} {value:>14}   beside {beside:>12}");
}

/// Replays one customer's ledger of `n` records (spread over 400 days, points
/// spent on every third, a return of every fiftieth), pending 14 days and
/// expiring after a year, as the server does for every snapshot, admin
/// view and phone page of that customer. Its cost must grow as n log n at
/// most; with a limit, the cost per record is checked against it.
fn bench_points_replay(n: usize, limit_ns: Option<f64>) {
    use shared::ids::{RegisterId, Seq};
    use shared::points::{EntryKey, LedgerEntry, PointsPolicy, replay};
    let start = Utc::now() - chrono::TimeDelta::days(400);
    let key = |i: usize| {
        EntryKey::record(
            RegisterId::new(1).expect("register"),
            Seq::new(i as i64 + 1).expect("seq"),
        )
    };
    let entries: Vec<LedgerEntry> = (0..n)
        .map(|i| LedgerEntry {
            order: i as i64,
            key: key(i),
            at: start + chrono::TimeDelta::minutes(i as i64 * 400 * 24 * 60 / n as i64),
            earned: if i % 50 == 49 { -5 } else { 10 },
            redeemed: if i % 3 == 2 { 12 } else { 0 },
            original: (i % 50 == 49).then(|| key(i - 1)),
            terms: None,
            hold: shared::points::PointsHold::Clear,
        })
        .collect();
    let policy = PointsPolicy {
        pending_days: 14,
        expire_days: Some(365),
    };
    let mut samples = Vec::new();
    for _ in 0..5 {
        let t = thread_cpu();
        std::hint::black_box(replay(policy, &entries, Utc::now()));
        samples.push(thread_cpu().saturating_sub(t));
    }
    samples.sort();
    let p50 = percentile(&samples, 0.5);
    let per_record = us(p50) * 1000.0 / n as f64;
    info(
        &format!("replay of a {n}-record ledger, p50"),
        format!("{:.1} ms", us(p50) / 1000.0),
        "-".into(),
    );
    match limit_ns {
        Some(limit) => row(
            &format!("  per record at {n} records"),
            format!("{per_record:.0} ns"),
            format!("{limit:.0} ns"),
            per_record / limit,
        ),
        None => info(
            &format!("  per record at {n} records"),
            format!("{per_record:.0} ns"),
            "no limit".into(),
        ),
    }
}

/// The kinds of promotion the harness mixes, one after another.
const KINDS: usize = 12;

/// How the rules target lines, and how baskets spread over categories.
#[derive(Clone, Copy)]
struct Mix {
    /// What the mix stands for, in the printed row.
    name: &'static str,
    /// One rule in this many targets a category …
    category_every: usize,
    /// … out of this many categories, which baskets spread over evenly.
    categories: usize,
    /// One rule in this many targets the whole basket (locked by a coupon
    /// or a segment more often than not, as such rules are).
    basket_every: usize,
    /// Products in the catalogue per rule (`None`: 2 000 products), which
    /// rules on products and baskets spread over evenly.
    products_per_rule: Option<usize>,
}

impl Mix {
    fn catalogue(&self, rules: usize) -> usize {
        self.products_per_rule.map_or(2_000, |n| n * rules)
    }
}

/// A supermarket's rules: most promotions are on products (each rule on
/// two, so about half the catalogue of four products per rule is on
/// promotion), one in twenty on one of 100 categories, one in two hundred
/// on the whole basket. The figures the issue sets are measured on this
/// mix.
const TYPICAL: Mix = Mix {
    name: "typical",
    category_every: 20,
    categories: 100,
    basket_every: 200,
    products_per_rule: Some(4),
};

/// The adversarial mix: one rule in four on one of only 50 categories, all
/// of them in every 200-line basket, so every category rule is a
/// candidate on every check (about 2 000 candidates, 300 applied and 1 500
/// explained). Its p99 is held to 1 ms.
const STRESS: Mix = Mix {
    name: "stress",
    category_every: 4,
    categories: 50,
    basket_every: usize::MAX,
    products_per_rule: None,
};

/// A ruleset with `n` promotions spread over SKUs and categories, every
/// kind of reward mixed in: percentages and amounts off each line or a set,
/// special prices, buy X get Y (cheapest and a given SKU), N-th item,
/// bundles, points multipliers and extra points; some with happy hours,
/// basket minimums, coupons, per-check limits or budgets; in three
/// exclusive groups with both policies; with price floors, a tier earn
/// rate, redemption and bonuses in the programme.
fn many_rules(n: usize, skus: usize, mix: Mix) -> Ruleset {
    let mut rs = scenario::programme();
    let sku = |i: usize| Sku::parse(format!("sku{}", i % skus)).expect("sku");
    let bp = |v: u32| BasisPoints::new(v).expect("bp");
    rs.programme.redemption = Some(Redemption {
        points: 1,
        value: Money::from_minor(100).expect("m"),
        max_share: bp(3_000),
        min_balance: 100,
        offline_cap_points: None,
    });
    rs.programme.welcome_bonus = Some(50);
    rs.programme.tiers[1].earn = Some(EarnRate {
        per: Money::from_minor(5_000).expect("m"),
        points: 1,
    });
    rs.programme.stacking = Stacking {
        groups: vec![
            Group {
                name: "default".into(),
                policy: GroupPolicy::BestForCustomer,
            },
            Group {
                name: "partner".into(),
                policy: GroupPolicy::FirstByPriority,
            },
            Group {
                name: "basket".into(),
                policy: GroupPolicy::BestForCustomer,
            },
        ],
        max_line_discount: Some(bp(9_000)),
        min_prices: (0..20)
            .map(|i| MinPrice {
                sku: sku(i * 97),
                unit_price: Money::from_minor(900).expect("m"),
            })
            .collect(),
    };
    rs.promotions = (0..n)
        .map(|i| {
            let target = if i % mix.category_every == 0 {
                let c = (i / mix.category_every) % mix.categories;
                Target::Categories {
                    categories: vec![Category::parse(format!("cat{c}")).expect("cat")],
                }
            } else if i % mix.basket_every == 7 {
                Target::Basket
            } else {
                Target::Skus {
                    skus: vec![sku(i * 7), sku(i * 7 + 1)],
                }
            };
            let reward = match i % KINDS {
                0 | 1 => Reward::PercentOff {
                    percent: bp(100 + (i as u32 % 30) * 100),
                    apply: Apply::Each,
                },
                2 => Reward::PercentOff {
                    percent: bp(500),
                    apply: Apply::Total,
                },
                3 => Reward::AmountOff {
                    amount: Money::from_minor(500).expect("m"),
                    apply: Apply::Each,
                },
                4 => Reward::SpecialPrice {
                    unit_price: Money::from_minor(2_000).expect("m"),
                },
                5 => Reward::BuyXGetY {
                    buy: 2,
                    get: 1,
                    free_sku: None,
                    percent: BasisPoints::FULL,
                },
                6 => Reward::BuyXGetY {
                    buy: 1,
                    get: 1,
                    free_sku: Some(sku(i * 7 + 3)),
                    percent: bp(5_000),
                },
                7 => Reward::NthItem {
                    n: 2,
                    percent: bp(5_000),
                },
                8 => Reward::AmountOff {
                    amount: Money::from_minor(10_000).expect("m"),
                    apply: Apply::Total,
                },
                9 => Reward::PointsMultiplier { percent: 200 },
                10 => Reward::ExtraPoints { points: 25 },
                _ => Reward::PercentOff {
                    percent: bp(1_500),
                    apply: Apply::Each,
                },
            };
            let (target, reward) = if i % 40 == 39 {
                let items = vec![
                    BundleItem {
                        sku: sku(i * 7),
                        quantity: 1,
                    },
                    BundleItem {
                        sku: sku(i * 7 + 1),
                        quantity: 1,
                    },
                ];
                (
                    Target::Skus {
                        skus: items.iter().map(|b| b.sku.clone()).collect(),
                    },
                    Reward::Bundle {
                        items,
                        price: Money::from_minor(5_000).expect("m"),
                    },
                )
            } else {
                (target, reward)
            };
            let mut p = Promotion {
                id: PromotionId::parse(format!("p{i}")).expect("id"),
                name: format!("Promotion {i}"),
                description: String::new(),
                target,
                reward,
                starts_at: None,
                ends_at: None,
                stores: vec![],
                priority: (i % 5) as i32,
                combines_with_tier: i % 2 == 0,
                funded_by: (i % 10 == 0).then(|| "Partner".to_owned()),
                exclude: Default::default(),
                conditions: Default::default(),
                limits: Default::default(),
                group: None,
                coupon: None,
                holdout: None,
            };
            if !p.reward.is_points() {
                p.group = match i % 7 {
                    0 => Some("partner".into()),
                    1 => Some("basket".into()),
                    _ => None,
                };
            }
            if p.target == Target::Basket {
                // Whole-basket offers are for coupon holders or a segment.
                if (i / mix.basket_every).is_multiple_of(2) {
                    p.coupon = Some(format!("C{}", i % 5));
                } else {
                    p.conditions.segment.tiers = vec!["Gold".into()];
                }
            }
            match i % 9 {
                0 => {
                    p.conditions.schedule.hours = vec![HourRange {
                        from: NaiveTime::from_hms_opt(10, 0, 0).expect("t"),
                        to: NaiveTime::from_hms_opt(22, 0, 0).expect("t"),
                    }]
                }
                1 => p.conditions.min_basket_amount = Some(Money::from_minor(50_000).expect("m")),
                2 => p.coupon = Some(format!("C{}", i % 3)),
                3 => p.limits.per_check = Some(2),
                4 => p.limits.budget = Some(Money::from_minor(1_000_000).expect("m")),
                5 => p.exclude.categories = vec![Category::parse("cat7").expect("cat")],
                _ => {}
            }
            p
        })
        .collect();
    rs
}

fn basket(lines: usize, skus: usize, mix: Mix) -> Vec<shared::basket::Line> {
    (0..lines)
        .map(|i| shared::basket::Line {
            // Spread over the catalogue (97 is prime to its size).
            sku: Sku::parse(format!("sku{}", (i * 97 + 13) % skus)).expect("sku"),
            name: format!("Item {i}"),
            category: Some(Category::parse(format!("cat{}", i % mix.categories)).expect("cat")),
            quantity: Quantity::from_milli(1000 + (i as u64 % 3) * 500).expect("qty"),
            unit_price: Money::from_minor(1_000 + (i as i64 * 137) % 50_000).expect("price"),
        })
        .collect()
}

/// Prices one basket over and over; with a limit the p99 is checked
/// against it, without it the figures are shown for reference.
fn bench_pricing(lines: usize, rules: usize, mix: Mix, limit: Option<Duration>) {
    let products = mix.catalogue(rules);
    let ruleset = many_rules(rules, products, mix);
    let engine = Engine::new(ruleset.clone()).expect("valid ruleset");
    let basket = basket(lines, products, mix);
    let customer = CustomerStanding {
        lifetime_spend: Money::from_minor(2_000_000).expect("m"),
        points_balance: 500,
        purchases: Some(0),
        ..CustomerStanding::default()
    };
    let mut ctx = PricingContext::new(StoreId::new(1).expect("id"), Utc::now());
    ctx.timezone = "Europe/Moscow".into();
    ctx.coupons = vec!["C0".into(), "C1".into()];
    ctx.redeem_points = 200;
    for p in ruleset
        .promotions
        .iter()
        .filter(|p| p.limits.budget.is_some())
        .step_by(2)
    {
        ctx.usage.promotions.insert(
            p.id.clone(),
            PromotionUsage {
                uses: 10,
                spent: Money::from_minor(999_000).expect("m"),
                ..PromotionUsage::default()
            },
        );
    }
    let sample = engine
        .price(&basket, Some(&customer), &ctx)
        .expect("prices");
    let promotions = sample
        .applied
        .iter()
        .filter(|a| matches!(a.rule, RuleRef::Promotion(_)))
        .count();
    let explained = sample.blocked.len();
    for _ in 0..200 {
        std::hint::black_box(
            engine
                .price(&basket, Some(&customer), &ctx)
                .expect("prices"),
        );
    }
    let runs = if limit.is_some() { 5_000 } else { 2_000 };
    let (mut wall, mut cpu): (Vec<Duration>, Vec<Duration>) = (0..runs)
        .map(|_| {
            let (t, c) = (Instant::now(), thread_cpu());
            std::hint::black_box(
                engine
                    .price(&basket, Some(&customer), &ctx)
                    .expect("prices"),
            );
            (t.elapsed(), thread_cpu().saturating_sub(c))
        })
        .unzip();
    wall.sort();
    cpu.sort();
    let what = format!("pricing {lines} lines × {rules} rules ({})", mix.name);
    info(
        &format!("{what}, p50"),
        format!("{:.1} µs", us(percentile(&cpu, 0.5))),
        format!("{promotions} applied, {explained} explained"),
    );
    let p99 = percentile(&cpu, 0.99);
    match limit {
        Some(limit) => row(
            &format!("{what}, p99"),
            format!("{:.1} µs", us(p99)),
            format!("{:.0} µs", us(limit)),
            us(p99) / us(limit),
        ),
        None => info(
            &format!("{what}, p99"),
            format!("{:.1} µs", us(p99)),
            "no limit".into(),
        ),
    }
    info(
        "  wall clock p50 / p99",
        format!(
            "{:.0} / {:.0} µs",
            us(percentile(&wall, 0.5)),
            us(percentile(&wall, 0.99))
        ),
        "CPU above".into(),
    );
}

/// p99 of a bare SQLite insert + COMMIT with WAL and synchronous=FULL.
fn bare_sqlite_commit_p99(dir: &std::path::Path) -> anyhow::Result<Duration> {
    let conn = rusqlite::Connection::open(dir.join("bare.db"))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute(
        "CREATE TABLE t (seq INTEGER PRIMARY KEY, body BLOB NOT NULL)",
        [],
    )?;
    let body = vec![7u8; 1500];
    let mut samples = Vec::new();
    for i in 0..300 {
        let t = Instant::now();
        conn.execute(
            "INSERT INTO t (seq, body) VALUES (?1, ?2)",
            rusqlite::params![i, body],
        )?;
        samples.push(t.elapsed());
    }
    samples.sort();
    Ok(percentile(&samples, 0.99))
}

/// The commit stages the agent's `/metrics` names, in the order they run.
const COMMIT_STAGES: [(&str, &str); 6] = [
    ("priced", "pricing again and building the record"),
    ("queued", "waiting for the database thread"),
    ("sealed", "signing and encoding the record"),
    ("written", "the transaction's SQL statements"),
    ("durable", "COMMIT and its fsyncs"),
    ("after", "counting the sale in the leases' book"),
];

/// The sum and count of each commit stage's histogram, and of the whole
/// handler's, from the agent's `/metrics`.
async fn commit_stage_sums(agent: &TestAgent) -> anyhow::Result<BTreeMap<String, (f64, f64)>> {
    let text = reqwest::get(format!("{}/metrics", agent.till.base()))
        .await?
        .error_for_status()?
        .text()
        .await?;
    let value = |name: &str| {
        text.lines()
            .find_map(|line| {
                line.strip_prefix(name)?
                    .strip_prefix(' ')?
                    .parse::<f64>()
                    .ok()
            })
            .unwrap_or(0.0)
    };
    let mut sums = BTreeMap::new();
    for (stage, _) in COMMIT_STAGES {
        let labels = format!("{{stage=\"{stage}\"}}");
        sums.insert(
            stage.to_owned(),
            (
                value(&format!("pos_agent_commit_stage_seconds_sum{labels}")),
                value(&format!("pos_agent_commit_stage_seconds_count{labels}")),
            ),
        );
    }
    sums.insert(
        "handler".to_owned(),
        (
            value("pos_agent_commit_seconds_sum"),
            value("pos_agent_commit_seconds_count"),
        ),
    );
    Ok(sums)
}

async fn bench_till_commit(agent: &TestAgent, dir: &std::path::Path) -> anyhow::Result<()> {
    let before = commit_stage_sums(agent).await?;
    let mut samples = Vec::new();
    for i in 0..300 {
        let check = agent.till.open().await?;
        agent
            .till
            .add_line(check.id, &line_json(&CATALOG[i % CATALOG.len()], 1))
            .await?;
        agent
            .till
            .add_line(check.id, &line_json(&CATALOG[(i + 3) % CATALOG.len()], 2))
            .await?;
        let t = Instant::now();
        agent.till.commit(check.id).await?;
        samples.push(t.elapsed());
    }
    samples.sort();
    let p99 = percentile(&samples, 0.99);
    let bare = bare_sqlite_commit_p99(dir)?;
    info(
        "till commit over HTTP (price+sign+fsync), p50",
        format!("{:.0} µs", us(percentile(&samples, 0.5))),
        "-".into(),
    );
    info(
        "till commit over HTTP (price+sign+fsync), p99",
        format!("{:.0} µs", us(p99)),
        format!("{:.0} µs", us(bare)),
    );
    println!(
        "{:<48} {:>14.2}   (bare SQLite commit, synchronous=FULL, same disk)",
        "  ratio till / bare SQLite p99",
        us(p99) / us(bare)
    );
    // Where the mean commit's time went: the agent's own stage histograms
    // over the same commits, and the rest of the round trip (HTTP, JSON,
    // the handler's routing) as the client saw it.
    let after = commit_stage_sums(agent).await?;
    let mean_us = |key: &str| {
        let (sum, count) = (after[key].0 - before[key].0, after[key].1 - before[key].1);
        if count > 0.0 { sum / count * 1e6 } else { 0.0 }
    };
    let client_mean =
        us(samples.iter().sum::<Duration>()) / f64::from(u32::try_from(samples.len())?);
    println!(
        "  where a commit's mean {client_mean:.0} µs went (the agent's commit_stage_seconds):"
    );
    let mut staged = 0.0;
    for (stage, what) in COMMIT_STAGES {
        let mean = mean_us(stage);
        staged += mean;
        println!(
            "    {:<44} {:>8.0} µs  {:>5.1} %",
            format!("{stage}: {what}"),
            mean,
            100.0 * mean / client_mean
        );
    }
    let handler = mean_us("handler");
    for (what, mean) in [
        (
            "the handler beyond its stages (locks, routing)",
            handler - staged,
        ),
        (
            "HTTP and JSON, client to handler and back",
            client_mean - handler,
        ),
    ] {
        println!(
            "    {what:<44} {:>8.0} µs  {:>5.1} %",
            mean,
            100.0 * mean / client_mean
        );
    }
    Ok(())
}

/// The sections of the harness, in the order they run; `perf ingest push`
/// runs only those two, `perf` all of them.
const SECTIONS: [&str; 12] = [
    "pricing",
    "points",
    "qr",
    "till",
    "backlog",
    "idle",
    "ingest",
    "push",
    "fanout",
    "analytics",
    "whatif",
    "peer",
];

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let asked: Vec<String> = std::env::args().skip(1).collect();
    if let Some(unknown) = asked.iter().find(|a| !SECTIONS.contains(&a.as_str())) {
        anyhow::bail!(
            "no section {unknown:?}; the sections are {}",
            SECTIONS.join(", ")
        );
    }
    let runs = |section: &str| asked.is_empty() || asked.iter().any(|a| a == section);
    if cfg!(debug_assertions) {
        println!("note: a debug build; run with --release for figures worth comparing\n");
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "load average {} on {cores} cores",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    if runs("pricing") {
        println!("\n== pricing engine (CPU time of the pricing thread) ==");
        bench_pricing(50, 500, TYPICAL, Some(Duration::from_micros(200)));
        bench_pricing(200, 5_000, TYPICAL, Some(Duration::from_micros(500)));
        bench_pricing(50, 500, STRESS, Some(Duration::from_millis(1)));
        bench_pricing(200, 5_000, STRESS, Some(Duration::from_millis(1)));
    }
    if runs("points") {
        println!("\n== points ledger replay (CPU time) ==");
        bench_points_replay(10_000, None);
        bench_points_replay(100_000, Some(300.0));
    }
    if runs("qr") {
        println!("\n== scanner: phone-screen QR frames ==");
        qr::bench_qr();
    }

    let tmp = tempfile::tempdir()?;
    if runs("till") || runs("backlog") {
        let server = TestServer::start(&tmp.path().join("server")).await?;
        let chain = create_chain(&server.admin()).await?;
        if runs("till") {
            println!("\n== till ==");
            let token = server.admin().enrollment_token(chain.stores[0].id).await?;
            let mut agent =
                TestAgent::enroll(&server.url(), &token.token, &tmp.path().join("till")).await?;
            bench_till_commit(&agent, tmp.path()).await?;
            agent.stop().await?;
        }
        if runs("backlog") {
            bench_backlog(&server, &chain, tmp.path()).await?;
        }
    }
    if runs("idle") {
        bench_idle_agent(tmp.path()).await?;
    }
    if runs("ingest") {
        server::bench_ingest(tmp.path()).await?;
    }
    if runs("push") {
        server::bench_push(tmp.path()).await?;
    }
    if runs("analytics") {
        analytics::bench_analytics(tmp.path()).await?;
    }
    if runs("whatif") {
        whatif::bench_whatif(tmp.path()).await?;
    }
    if runs("fanout") {
        server::bench_fanout(tmp.path()).await?;
    }
    if runs("peer") {
        peer::bench_peer(tmp.path()).await?;
    }
    Ok(())
}

/// Records in the offline backlog of [`bench_backlog`]; `PERF_BACKLOG`
/// overrides it (the figure is 1 000 000).
const DEFAULT_BACKLOG: usize = 200_000;

/// Commit latencies of `n` two-line sales on `till`, sorted.
async fn commit_samples(
    till: &system_tests::clients::TillClient,
    n: usize,
) -> anyhow::Result<Vec<Duration>> {
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let check = till.open().await?;
        till.add_line(check.id, &line_json(&CATALOG[i % CATALOG.len()], 1))
            .await?;
        let t = Instant::now();
        till.commit(check.id).await?;
        samples.push(t.elapsed());
    }
    samples.sort();
    Ok(samples)
}

/// A till back from weeks offline: the real `pos-agent` binary drains a
/// seeded backlog into the server. Reports the drain rate, the agent's
/// peak RSS, and another till's commit latency during the drain beside
/// the same till idle.
async fn bench_backlog(
    server: &TestServer,
    chain: &system_tests::scenario::Chain,
    dir: &std::path::Path,
) -> anyhow::Result<()> {
    use system_tests::harness::{AgentProcess, enroll_agent, free_port, seed_outbox, wait_status};
    let backlog = std::env::var("PERF_BACKLOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_BACKLOG);
    println!("\n== offline backlog ({backlog} records) ==");
    let admin = server.admin();
    let token = admin.enrollment_token(chain.stores[0].id).await?;
    let returning = enroll_agent(&server.url(), &token.token, &dir.join("backlog"), |_| {}).await?;
    let t = Instant::now();
    seed_outbox(&returning, backlog, Some((chain.customers[0].id, 5)))?;
    info(
        "seeding the outbox (sign + insert)",
        format!("{:.1} s", t.elapsed().as_secs_f64()),
        "-".into(),
    );
    let token = admin.enrollment_token(chain.stores[1].id).await?;
    let other = enroll_agent(&server.url(), &token.token, &dir.join("other"), |_| {}).await?;
    let mut other = TestAgent::start(other).await?;
    let idle = commit_samples(&other.till, 200).await?;

    let listen = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let t = Instant::now();
    let agent = AgentProcess::spawn(&returning.data_dir, listen).await?;
    let busy = commit_samples(&other.till, 200).await?;
    let drain_limit = Duration::from_secs(3600);
    wait_status(&agent.till, drain_limit, |s| s.outbox_pending == 0).await?;
    let drained = t.elapsed();
    let peak = agent.peak_rss_kib()?;
    agent.stop().await?;
    other.stop().await?;

    let rate = backlog as f64 / drained.as_secs_f64();
    info(
        "backlog drain, records/s (batches of 500)",
        format!("{rate:.0}"),
        format!("{:.1} s", drained.as_secs_f64()),
    );
    info(
        "  time to drain 1 000 000 at this rate",
        format!("{:.0} s", 1e6 / rate),
        "-".into(),
    );
    info(
        "agent peak RSS during the drain (VmHWM)",
        format!("{:.1} MiB", peak as f64 / 1024.0),
        "-".into(),
    );
    let (idle_p99, busy_p99) = (percentile(&idle, 0.99), percentile(&busy, 0.99));
    info(
        "other till's commit p50 during / idle",
        format!("{:.0} µs", us(percentile(&busy, 0.5))),
        format!("{:.0} µs", us(percentile(&idle, 0.5))),
    );
    row(
        "other till's commit p99 during the drain",
        format!("{:.0} µs", us(busy_p99)),
        format!("{:.0} µs", us(idle_p99 * 3)),
        us(busy_p99) / us(idle_p99 * 3),
    );
    Ok(())
}

/// Seconds the agent of [`bench_idle_agent`] is watched idle;
/// `PERF_IDLE_SECS` overrides it for a quick run.
const DEFAULT_IDLE_SECS: u64 = 60;

/// Promotions in the idle agent's ruleset.
const IDLE_RULES: usize = 500;

/// An idle till: the real `pos-agent` binary, enrolled with its production
/// sync settings, two serial scanners (pseudo-terminals) and a ruleset of
/// 500 promotions, against the real server binary (long-polls held 30 s,
/// as in production). Once the ruleset is in and the agent has settled, its
/// resident memory and its CPU time over the interval are read from
/// `/proc`.
async fn bench_idle_agent(dir: &std::path::Path) -> anyhow::Result<()> {
    use system_tests::harness::{
        AgentProcess, ServerProcess, free_port, wait_status, write_config,
    };
    use system_tests::pty::ScannerPty;
    let secs = std::env::var("PERF_IDLE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_IDLE_SECS)
        .max(1);
    println!("\n== idle agent ({secs} s, two scanners, {IDLE_RULES} promotions) ==");
    let listen = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let server = ServerProcess::spawn_with(
        &dir.join("idle-server"),
        listen,
        &[("SYNC_SERVER__LONGPOLL__MAX_WAIT_SECS", "30")],
    )
    .await?;
    let admin = server.admin();
    let chain = create_chain(&admin).await?;
    let ruleset = many_rules(IDLE_RULES, TYPICAL.catalogue(IDLE_RULES), TYPICAL);
    let version = admin.publish(chain.merchant_id(), &ruleset).await?.version;
    let token = admin.enrollment_token(chain.stores[0].id).await?;
    let data_dir = dir.join("idle-agent");
    let scanners = [ScannerPty::open()?, ScannerPty::open()?];
    // Enrolled as an operator would: production sync settings, not the
    // tests' quick ones.
    let mut config = pos_agent::enroll(&server.url(), &token.token, &data_dir).await?;
    config.scanners = scanners
        .iter()
        .map(|s| hardware::SerialConfig {
            path: s.path().display().to_string(),
            ..Default::default()
        })
        .collect();
    write_config(&config)?;
    pos_agent::prepare_database(&data_dir)?;
    let agent = AgentProcess::spawn(
        &data_dir,
        std::net::SocketAddr::from(([127, 0, 0, 1], free_port()?)),
    )
    .await?;
    wait_status(&agent.till, Duration::from_secs(60), |s| {
        s.ruleset_version == Some(version) && s.server_reachable
    })
    .await?;
    // Settled: start-up work (migrations, the first sync) is done.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cpu_before = agent.cpu_time()?;
    let t = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let cpu = agent.cpu_time()?.saturating_sub(cpu_before);
    let elapsed = t.elapsed();
    let rss = agent.rss_kib()?;
    let threads = std::fs::read_to_string(format!("/proc/{}/status", agent.pid()))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_default();
    agent.stop().await?;
    drop(scanners);
    let rss_mb = rss as f64 * 1024.0 / 1e6;
    row(
        "idle agent RSS (VmRSS)",
        format!("{rss_mb:.1} MB"),
        "30 MB".into(),
        rss_mb / 30.0,
    );
    let percent = cpu.as_secs_f64() / elapsed.as_secs_f64() * 100.0;
    row(
        &format!("idle agent CPU over {secs} s"),
        format!("{percent:.3} %"),
        "0.1 %".into(),
        percent / 0.1,
    );
    info(
        "  CPU time, threads",
        format!("{} ms", cpu.as_millis()),
        format!("{threads} threads"),
    );
    Ok(())
}
