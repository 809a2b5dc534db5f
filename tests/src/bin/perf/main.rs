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

use chrono::Utc;
use shared::pricing::RuleRef;
use system_tests::scenario::{CATALOG, create_chain, line_json};
use system_tests::system::{TestAgent, TestServer};
use test_kit::pricing_load::{Load, Mix, STRESS, TYPICAL, many_rules};

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

/// The value of the sample `name` (with its labels) in a Prometheus text
/// exposition; 0 when it is not there.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            line.strip_prefix(name)?
                .strip_prefix(' ')?
                .trim()
                .parse::<f64>()
                .ok()
        })
        .unwrap_or(0.0)
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

/// Prices one basket over and over; with a limit the p99 is checked
/// against it, without it the figures are shown for reference.
fn bench_pricing(lines: usize, rules: usize, mix: Mix, limit: Option<Duration>) {
    let load = Load::new(lines, rules, mix, Utc::now());
    let sample = load.price().expect("prices");
    let promotions = sample
        .applied
        .iter()
        .filter(|a| matches!(a.rule, RuleRef::Promotion(_)))
        .count();
    let explained = sample.blocked.len();
    for _ in 0..200 {
        std::hint::black_box(load.price().expect("prices"));
    }
    let runs = if limit.is_some() { 5_000 } else { 2_000 };
    let (mut wall, mut cpu): (Vec<Duration>, Vec<Duration>) = (0..runs)
        .map(|_| {
            let (t, c) = (Instant::now(), thread_cpu());
            std::hint::black_box(load.price().expect("prices"));
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
    let value = |name: &str| metric(&text, name);
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

/// Records in an agent's upload (its default page).
const DRAIN_BATCH: usize = 500;
/// Customers of the backlog: a store's regulars over the weeks offline.
const DRAIN_CUSTOMERS: usize = 500;
/// Every this many records of the backlog names one of them, in turn.
const DRAIN_CUSTOMER_EVERY: usize = 5;

/// The backlog's customers: the chain's, and more signed up through the
/// admin API up to [`DRAIN_CUSTOMERS`] (each with a phone number), so a customer's ledger grows as a regular's would
/// over weeks, not by a fifth of the whole backlog.
async fn backlog_customers(
    admin: &system_tests::clients::AdminClient,
    chain: &system_tests::scenario::Chain,
) -> anyhow::Result<Vec<shared::ids::CustomerId>> {
    let mut customers: Vec<_> = chain.customers.iter().map(|c| c.id).collect();
    while customers.len() < DRAIN_CUSTOMERS {
        let new = sync_server::wire::admin::NewCustomer {
            name: format!("Покупатель {}", customers.len() + 1),
            phone: Some(shared::identity::PhoneNumber::parse(&format!(
                "+7917{:07}",
                customers.len()
            ))?),
            email: None,
            gender: shared::identity::Gender::Unspecified,
            birth_date: None,
        };
        customers.push(admin.customer(chain.merchant_id(), &new).await?.id);
    }
    Ok(customers)
}
/// The drain's goal, as a share of one register's raw ingest.
const DRAIN_GOAL: f64 = 0.8;

/// One register's raw ingest on `server`, the limit the drain is held to:
/// batches of the drain's records (the same sale, a customer on every
/// fifth, the same customers in turn), signed and encoded beforehand,
/// uploaded one after another on the path the agent takes
/// (chain-verified), as fast as the server acks them.
async fn raw_ingest_rate(
    server: &TestServer,
    chain: &system_tests::scenario::Chain,
    backlog: usize,
    customers: &[shared::ids::CustomerId],
) -> anyhow::Result<f64> {
    use system_tests::harness::SimRegister;
    let mut register = SimRegister::enroll(server, chain.stores[0].id).await?;
    let n = (backlog / 5).clamp(DRAIN_BATCH, 40_000) / DRAIN_BATCH * DRAIN_BATCH;
    let mut bodies = Vec::with_capacity(n / DRAIN_BATCH);
    for start in (0..n).step_by(DRAIN_BATCH) {
        let records = (start..start + DRAIN_BATCH)
            .map(|i| {
                let total = 10_000 + (i as i64 % 97) * 10;
                if i % DRAIN_CUSTOMER_EVERY == 0 {
                    let customer = customers[i / DRAIN_CUSTOMER_EVERY % customers.len()];
                    register.sale_to(total, customer)
                } else {
                    register.next_record(total, |_| {})
                }
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        bodies.push(register.chained_json(records)?);
    }
    let t = Instant::now();
    for body in bodies {
        let (status, reply) = register.upload_json(body).await?;
        anyhow::ensure!(status.is_success(), "upload refused: {status} {reply}");
    }
    let rate = n as f64 / t.elapsed().as_secs_f64();
    // The work the server defers (the audit of the records' own
    // signatures, their line rows) is done before the drain starts, so
    // the drain does not pay for these records too.
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let text = server::metrics_at(&server.url(), server.admin_token()).await?;
        let audited = metric(
            &text,
            "sync_server_audit_records_total{outcome=\"verified\"}",
        );
        let queued = metric(&text, "sync_server_analytics_basket_queue");
        if audited >= n as f64 && queued == 0.0 {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the server's deferred work on the raw ingest's records did not finish \
             ({audited} audited, {queued} queued)"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(rate)
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
    use system_tests::harness::{
        AgentProcess, enroll_agent, free_port, seed_outbox_among, wait_status,
    };
    let backlog = std::env::var("PERF_BACKLOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_BACKLOG);
    println!("\n== offline backlog ({backlog} records) ==");
    let admin = server.admin();
    let token = admin.enrollment_token(chain.stores[0].id).await?;
    let returning = enroll_agent(&server.url(), &token.token, &dir.join("backlog"), |_| {}).await?;
    let shoppers = backlog_customers(&admin, chain).await?;
    let t = Instant::now();
    seed_outbox_among(&returning, backlog, &shoppers, DRAIN_CUSTOMER_EVERY)?;
    info(
        "seeding the outbox (sign + insert)",
        format!("{:.1} s", t.elapsed().as_secs_f64()),
        "-".into(),
    );
    let raw = raw_ingest_rate(server, chain, backlog, &shoppers).await?;
    let token = admin.enrollment_token(chain.stores[1].id).await?;
    let other = enroll_agent(&server.url(), &token.token, &dir.join("other"), |_| {}).await?;
    let mut other = TestAgent::start(other).await?;
    let idle = commit_samples(&other.till, 200).await?;

    let listen = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let feed_before = admin.customer_feed().await?;
    let t = Instant::now();
    let agent = AgentProcess::spawn(&returning.data_dir, listen).await?;
    let busy = commit_samples(&other.till, 200).await?;
    let drain_limit = Duration::from_secs(3600);
    wait_status(&agent.till, drain_limit, |s| s.outbox_pending == 0).await?;
    let drained = t.elapsed();
    let feed = admin.customer_feed().await?;
    let peak = agent.peak_rss_kib()?;
    agent.stop().await?;
    other.stop().await?;

    let rate = backlog as f64 / drained.as_secs_f64();
    info(
        "one register's raw ingest, records/s",
        format!("{raw:.0}"),
        format!("{DRAIN_BATCH}-record chained batches"),
    );
    let goal = DRAIN_GOAL * raw;
    row(
        &format!(
            "backlog drain, records/s (in {:.1} s)",
            drained.as_secs_f64()
        ),
        format!("{rate:.0}"),
        format!("≥ {goal:.0}"),
        goal / rate,
    );
    info(
        "  time to drain 1 000 000 at this rate",
        format!("{:.0} s", 1e6 / rate),
        "-".into(),
    );
    info(
        "  customer pages built for the two tills' feeds",
        format!("{}", feed.pages_computed - feed_before.pages_computed),
        format!(
            "{} checks",
            feed.checks_answered - feed_before.checks_answered
        ),
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
