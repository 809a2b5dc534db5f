//! The Quick start: the whole system on its embedded default (SQLite).
//!
//! A server; one merchant with two stores and three registers; a published
//! programme and promotion; a few customers; scanners on real
//! pseudo-terminals; a few hundred scripted checks, some while the server is
//! unreachable; sync; HQ statistics; the engine at the till (a tier
//! discount, a happy hour in each store's own time zone, three for two,
//! points paid as money, a partial return); then a new promotion published
//! and shown reaching every register and changing the next price.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use chrono::{FixedOffset, NaiveTime, TimeDelta, Timelike, Utc};
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use shared::ids::{CustomerId, Sku};
use shared::money::{Money, Quantity};
use shared::pricing::{BlockReason, Condition, RuleRef};
use shared::wire::till::{AttachCustomer, OriginalSale, ReturnItem, ReturnRequest, TillEvent};
use sync_server::wire::admin::{CustomerView, SalesFigures};
use system_tests::clients::AdminClient;
use system_tests::events::EventStream;
use system_tests::scenario::{self, CATALOG, Chain, Rng, create_chain, line_json};
use system_tests::system::{TestAgent, TestServer, outbox_totals};
use test_kit::poll::Deadline;

/// Runs the whole loyalty system end to end and prints what HQ would see.
#[derive(Parser)]
struct Args {
    /// Checks to ring up while the server is reachable.
    #[arg(long, default_value_t = 240)]
    online_checks: usize,
    /// Checks to ring up while the server is down.
    #[arg(long, default_value_t = 60)]
    offline_checks: usize,
    /// Keep the server running at the end and print its URL.
    #[arg(long)]
    keep_running: bool,
    /// Where to keep the data (default: a temporary directory).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

const WAIT: Duration = Duration::from_secs(30);

/// A phase's progress bar, drawn on stderr when it is a terminal (hidden
/// in a pipe or a log, where the phase's printed lines say enough).
fn phase_bar(len: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len as u64).with_style(
        ProgressStyle::with_template("   {bar:30} {pos}/{len} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(what.to_owned());
    bar
}

/// Waits until every register's outbox is empty, the records uploaded
/// shown on a bar.
async fn drain(registers: &[Register]) -> anyhow::Result<()> {
    let mut waiting = 0;
    for r in registers {
        waiting += r.agent.till.status().await?.outbox_pending;
    }
    let bar = phase_bar(usize::try_from(waiting)?, "records uploaded");
    let deadline = Deadline::after(WAIT);
    loop {
        let mut left = 0;
        for r in registers {
            left += r.agent.till.status().await?.outbox_pending;
        }
        bar.set_position(u64::try_from((waiting - left).max(0))?);
        if left == 0 {
            bar.finish_and_clear();
            return Ok(());
        }
        deadline
            .tick(|| format!("{left} records still in the outboxes"))
            .await?;
    }
}

struct Register {
    name: String,
    store: String,
    agent: TestAgent,
    events: EventStream,
    checks: usize,
    revenue: i64,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "error".into()),
        )
        .init();
    let tmp = tempfile::tempdir()?;
    let root = args
        .data_dir
        .clone()
        .unwrap_or_else(|| tmp.path().to_owned());
    std::fs::create_dir_all(&root).with_context(|| format!("create {}", root.display()))?;

    println!("== Loyalty demo: server, 2 stores, 3 registers, scanners on pseudo-terminals ==\n");
    let mut server = TestServer::start(&root.join("server")).await?;
    let admin = server.admin();
    let chain = create_chain(&admin).await?;
    println!(
        "server       {} (data in {})",
        server.url(),
        root.join("server").display()
    );
    println!(
        "merchant     {} · stores: {}",
        chain.merchant.name,
        chain
            .stores
            .iter()
            .map(|s| format!("{} ({})", s.name, s.timezone))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "programme    Bronze 0 % · Silver 3 % from 20 000 ₽ · Gold 7 % from 80 000 ₽ · 1 point per 100 ₽ (not tobacco) · points pay up to half a check"
    );
    println!("promotion    «{}»", scenario::dairy_promotion().name);
    println!(
        "customers    {}\n",
        chain
            .customers
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );

    let mut registers = Vec::new();
    for (i, store) in [&chain.stores[0], &chain.stores[0], &chain.stores[1]]
        .into_iter()
        .enumerate()
    {
        let token = admin.enrollment_token(store.id).await?;
        let agent = TestAgent::enroll(
            &server.url(),
            &token.token,
            &root.join(format!("register-{}", i + 1)),
        )
        .await?;
        let events = EventStream::connect(agent.till.base()).await?;
        println!(
            "register {}   enrolled at «{}», scanner on {}",
            i + 1,
            store.name,
            agent_scanner_path(&agent)
        );
        registers.push(Register {
            name: format!("register {}", i + 1),
            store: store.name.clone(),
            agent,
            events,
            checks: 0,
            revenue: 0,
        });
    }
    for r in &registers {
        r.agent
            .wait_ruleset(shared::ids::RulesetVersion::new(1)?, WAIT)
            .await?;
        r.agent
            .wait_status(WAIT, |s| s.cached_customers >= chain.customers.len() as i64)
            .await?;
    }

    let mut rng = Rng::new(2026);
    let mut scan_to_price = Vec::new();
    let tokens = issue_tokens(
        &admin,
        &chain.customers.iter().map(|c| c.id).collect::<Vec<_>>(),
    )
    .await?;

    println!(
        "\n-- ringing up {} checks with the server up --",
        args.online_checks
    );
    let bar = phase_bar(args.online_checks, "checks");
    for i in 0..args.online_checks {
        let r = &mut registers[i % 3];
        ring_up(r, &mut rng, &tokens, &mut scan_to_price).await?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    drain(&registers).await?;

    println!(
        "-- server down: ringing up {} checks offline --",
        args.offline_checks
    );
    server.stop().await?;
    let bar = phase_bar(args.offline_checks, "checks offline");
    for i in 0..args.offline_checks {
        let r = &mut registers[i % 3];
        ring_up(r, &mut rng, &tokens, &mut scan_to_price).await?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    for r in &registers {
        let s = r.agent.till.status().await?;
        println!(
            "   {}: {} records waiting in the outbox, server reachable: {}",
            r.name, s.outbox_pending, s.server_reachable
        );
    }
    println!("-- server back --");
    let back = Instant::now();
    server.restart().await?;
    drain(&registers).await?;
    println!(
        "   every outbox drained {:.1} s after the server came back\n",
        back.elapsed().as_secs_f64()
    );

    // What the registers committed against what the server stored.
    println!(
        "{:<12} {:<22} {:>7} {:>14} {:>10}",
        "register", "store", "checks", "revenue", "synced"
    );
    let server_registers = admin.registers(chain.merchant_id()).await?;
    let mut till_checks = 0;
    let mut till_revenue = 0;
    for (r, sr) in registers.iter().zip(&server_registers) {
        let (n, sum) = outbox_totals(r.agent.data_dir())?;
        ensure!(
            n == r.checks as i64 && sum == r.revenue,
            "{}: outbox holds {n} checks / {sum}, the till saw {} / {}",
            r.name,
            r.checks,
            r.revenue
        );
        println!(
            "{:<12} {:<22} {:>7} {:>14} {:>10}",
            r.name,
            r.store,
            n,
            rub(sum),
            sr.records
        );
        till_checks += n;
        till_revenue += sum;
    }
    let synced: i64 = server_registers.iter().map(|r| r.records).sum();

    let stats = admin.stats(chain.merchant_id()).await?;
    println!("\nrecords synced: {synced} of {till_checks} committed");
    ensure!(
        synced == till_checks,
        "the server stored {synced} records, the registers committed {till_checks}"
    );
    ensure!(
        stats.totals.checks == till_checks,
        "statistics count {} checks, registers {}",
        stats.totals.checks,
        till_checks
    );
    ensure!(
        stats.totals.revenue.minor() == till_revenue,
        "statistics revenue {} ≠ registers {}",
        stats.totals.revenue,
        rub(till_revenue)
    );

    println!("\n== HQ statistics ==");
    println!(
        "{:<28} {:>7} {:>14} {:>12} {:>12}",
        "", "checks", "revenue", "discount", "avg check"
    );
    figures("all checks", &stats.totals);
    figures("identified customers", &stats.identified);
    println!("by store");
    for s in &stats.by_store {
        figures(&format!("  {}", s.store_name), &s.figures);
    }
    println!("by gender");
    for s in &stats.by_gender {
        figures(
            &format!("  {} ({} customers)", s.segment, s.customers),
            &s.figures,
        );
    }
    println!("by age");
    for s in &stats.by_age {
        figures(
            &format!("  {} ({} customers)", s.segment, s.customers),
            &s.figures,
        );
    }
    println!(
        "by day and store: {} rows (first: {})",
        stats.by_day.len(),
        stats
            .by_day
            .first()
            .map(|d| format!("{} {} {} checks", d.day, d.store_name, d.figures.checks))
            .unwrap_or_default()
    );
    println!("promotion uses");
    for p in &stats.promotions {
        println!(
            "  {:<26} {:>5} checks {:>4} customers {:>12} off",
            p.promotion_id.as_str(),
            p.checks,
            p.customers,
            rub(p.discount.minor())
        );
    }

    println!("customers");
    for c in &chain.customers {
        let v = admin.customer_view(c.id).await?;
        println!(
            "  {:<26} {:>7} tier {:<7} {:>4} purchases {:>14} lifetime {:>6} points",
            v.name,
            v.gender.code(),
            v.tier.as_deref().unwrap_or("-"),
            v.purchases.len(),
            rub(v.lifetime_spend.minor()),
            v.points_balance
        );
    }

    scan_to_price.sort();
    let pct = |q: f64| scan_to_price[((scan_to_price.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "\nscan → customer identified → check priced: {} scans, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        scan_to_price.len(),
        ms(pct(0.5)),
        ms(pct(0.99)),
        ms(*scan_to_price.last().unwrap_or(&Duration::ZERO))
    );

    engine_at_the_till(&registers, &admin, &chain).await?;

    // The merchant publishes a promotion; every register picks it up.
    println!("\n== publishing «{}» ==", scenario::bread_promotion().name);
    let bread = &CATALOG[3];
    let mut before = Vec::new();
    for r in &registers {
        let check = r.agent.till.open().await?;
        r.agent
            .till
            .add_line(check.id, &line_json(bread, 1))
            .await?;
        before.push((check.id, r.agent.till.price(check.id).await?.pricing.total));
    }
    let published_at = Instant::now();
    let published = admin
        .publish_promotion(chain.merchant_id(), &scenario::bread_promotion())
        .await?;
    for (r, (check, was)) in registers.iter_mut().zip(before) {
        let version = r
            .events
            .next_matching(WAIT, |ev| match ev {
                TillEvent::RulesetActivated { version } if version >= published.version => {
                    Some(version)
                }
                _ => None,
            })
            .await?;
        let reached = published_at.elapsed();
        let now = r.agent.till.price(check).await?.pricing.total;
        r.agent.till.cancel(check).await?;
        println!(
            "{}: ruleset v{version} active after {:.0} ms; «{}» {} → {}",
            r.name,
            ms(reached),
            bread.name,
            rub(was.minor()),
            rub(now.minor())
        );
        ensure!(
            now < was,
            "{}: the new promotion did not change the price",
            r.name
        );
    }

    println!("\n== the server prices every record again ==");
    let deadline = Deadline::after(Duration::from_secs(120)).every(Duration::from_millis(200));
    let report = loop {
        let report = admin.mismatches(chain.merchant_id()).await?;
        if report.counts.pending == 0 || deadline.tick(String::new).await.is_err() {
            break report;
        }
    };
    let c = &report.counts;
    println!(
        "re-priced {} records with the tills' engine: {} matched to the kopeck, {} mismatched, {} not re-priced",
        c.repriced, c.matched, c.mismatched, c.skipped
    );
    for skip in &report.skipped {
        println!("  not re-priced: {} ({})", skip.reason, skip.records);
    }
    ensure!(
        c.pending == 0 && c.mismatched == 0,
        "the server's pricing disagrees with the tills: {report:?}"
    );

    if args.keep_running {
        println!(
            "\nserver running at {}  (admin token: {})",
            server.url(),
            server.admin_token()
        );
        println!(
            "try: curl -H 'Authorization: Bearer {}' {}/api/v1/admin/merchants/{}/stats",
            server.admin_token(),
            server.url(),
            chain.merchant_id()
        );
        println!(
            "HQ dashboard: {}/hq (sign in with the admin token), merchant page {}/hq/merchants/{}",
            server.url(),
            server.url(),
            chain.merchant_id()
        );
        let link: serde_json::Value = reqwest::Client::new()
            .post(format!(
                "{}/api/v1/admin/customers/{}/link",
                server.url(),
                chain.customers[0].id
            ))
            .bearer_auth(server.admin_token())
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        println!(
            "{}'s phone page: {}{}",
            chain.customers[0].name,
            server.url(),
            link["path"].as_str().unwrap_or("")
        );
        println!("press Ctrl-C to stop");
        tokio::signal::ctrl_c().await?;
    }
    for r in registers.iter_mut() {
        r.agent.stop().await?;
    }
    server.stop().await?;
    println!("\nall checks accounted for: OK");
    Ok(())
}

/// The engine at the till, on a check of the best customer: the tier, a
/// happy hour that runs in Moscow but not in Novosibirsk at the same
/// instant, three for two, points paid as money, then a partial return.
async fn engine_at_the_till(
    registers: &[Register],
    admin: &AdminClient,
    chain: &Chain,
) -> anyhow::Result<()> {
    println!("\n== the engine at the till ==");
    // Happy hours around the present hour in Moscow (UTC+3 all year);
    // Novosibirsk, four hours ahead, is outside them.
    let moscow = FixedOffset::east_opt(3 * 3600).context("offset")?;
    let now = Utc::now().with_timezone(&moscow).time();
    let hour = |t: NaiveTime| NaiveTime::from_hms_opt(t.hour(), 0, 0).unwrap_or(t);
    let (from, to) = (
        hour(now - TimeDelta::hours(1)),
        hour(now + TimeDelta::hours(2)),
    );
    let happy = scenario::happy_hour_promotion(from, to);
    let chocolate = scenario::chocolate_promotion();
    admin.publish_promotion(chain.merchant_id(), &happy).await?;
    let published = admin
        .publish_promotion(chain.merchant_id(), &chocolate)
        .await?;
    for r in registers {
        r.agent.wait_ruleset(published.version, WAIT).await?;
    }
    println!(
        "published    «{}» {}–{} store time, «{}»; every register on ruleset v{}",
        happy.name,
        from.format("%H:%M"),
        to.format("%H:%M"),
        chocolate.name,
        published.version
    );

    // The customer who spent the most.
    let mut best: Option<CustomerView> = None;
    for c in &chain.customers {
        let v = admin.customer_view(c.id).await?;
        if best
            .as_ref()
            .is_none_or(|b| v.lifetime_spend > b.lifetime_spend)
        {
            best = Some(v);
        }
    }
    let customer = best.context("no customers")?;
    let card = AttachCustomer::Card(customer.card_number.to_string());
    let basket = [(&CATALOG[8], 3), (&CATALOG[5], 1), (&CATALOG[0], 2)];

    // Moscow: everything applies; the customer pays 100 points.
    let moscow_till = &registers[0].agent.till;
    let check = moscow_till.open().await?;
    for (p, n) in basket {
        moscow_till.add_line(check.id, &line_json(p, n)).await?;
    }
    moscow_till.attach(check.id, &card).await?;
    moscow_till.redeem(check.id, 100).await?;
    let committed = moscow_till.commit(check.id).await?;
    let pricing = &committed.pricing;
    println!(
        "{} (Europe/Moscow, {} local) · {}, tier {}",
        registers[0].name,
        now.format("%H:%M"),
        customer.name,
        pricing.tier.as_deref().unwrap_or("-")
    );
    for ((p, n), line) in basket.iter().zip(&pricing.lines) {
        let rules: Vec<String> = line
            .applied
            .iter()
            .map(|a| format!("{} −{}", rule_name(&a.rule), a.discount))
            .collect();
        println!(
            "  {:<24} {n} × {:>8} = {:>9} − {:>8} = {:>9}   {}",
            p.name,
            Money::from_minor(p.price)?.to_string(),
            line.amount.to_string(),
            line.discount.to_string(),
            line.total.to_string(),
            rules.join(", ")
        );
    }
    for text in &pricing.receipt.ru {
        println!("  | {text}");
    }
    let gave = |id: &str| {
        pricing
            .applied
            .iter()
            .find(|a| matches!(&a.rule, RuleRef::Promotion(p) if p.as_str() == id))
            .map_or(Money::ZERO, |a| a.discount)
    };
    ensure!(
        gave("coffee-happy-hour") > Money::ZERO,
        "the happy hour did not apply in Moscow"
    );
    ensure!(
        gave("chocolate-3for2") == Money::from_minor(CATALOG[8].price)?,
        "three for two did not give one bar"
    );
    ensure!(pricing.points_redeemed > 0, "no points were redeemed");
    let tier_discount: i64 = pricing
        .applied
        .iter()
        .filter(|a| matches!(a.rule, RuleRef::Tier(_)))
        .map(|a| a.discount.minor())
        .sum();
    if customer.tier.as_deref().is_some_and(|t| t != "Bronze") {
        ensure!(
            tier_discount > 0,
            "the {} tier gave nothing",
            customer.tier.as_deref().unwrap_or("-")
        );
    }

    // Novosibirsk at the same instant: the happy hour is over there.
    let novosibirsk = &registers[2];
    let check = novosibirsk.agent.till.open().await?;
    for (p, n) in basket {
        novosibirsk
            .agent
            .till
            .add_line(check.id, &line_json(p, n))
            .await?;
    }
    novosibirsk.agent.till.attach(check.id, &card).await?;
    let there = novosibirsk.agent.till.price(check.id).await?.pricing;
    novosibirsk.agent.till.cancel(check.id).await?;
    let blocked = there
        .blocked
        .iter()
        .find(|b| matches!(&b.rule, RuleRef::Promotion(p) if p.as_str() == "coffee-happy-hour"))
        .context("the happy hour is not explained in Novosibirsk")?;
    ensure!(
        blocked.reason
            == (BlockReason::ConditionNotMet {
                condition: Condition::Hours
            }),
        "the happy hour ran in Novosibirsk: {:?}",
        blocked.reason
    );
    println!(
        "{} (Asia/Novosibirsk, {} local) · the same basket {}: «{}» {}",
        novosibirsk.name,
        (now + TimeDelta::hours(4)).format("%H:%M"),
        rub(there.total.minor()),
        happy.name,
        blocked.message
    );

    // One bar comes back to the Moscow till.
    let original = OriginalSale::Record {
        record_id: committed.record_id,
    };
    let item = ReturnItem {
        line_no: None,
        sku: Some(Sku::parse(CATALOG[8].sku)?),
        quantity: Quantity::ONE,
    };
    let returned = moscow_till
        .return_items(&ReturnRequest {
            original,
            lines: vec![item],
        })
        .await?;
    ensure!(
        returned.refund > Money::ZERO && returned.refund < pricing.total,
        "the refund {} is not part of the check's {}",
        returned.refund,
        pricing.total
    );
    println!(
        "return       1 × «{}» to {}: refund {}, {} taken back, {} given back",
        CATALOG[8].name,
        registers[0].name,
        rub(returned.refund.minor()),
        points(returned.points_clawed_back),
        points(returned.points_restored)
    );
    Ok(())
}

fn points(n: i64) -> String {
    if n == 1 {
        "1 point".to_owned()
    } else {
        format!("{n} points")
    }
}

fn rule_name(rule: &RuleRef) -> String {
    match rule {
        RuleRef::Tier(t) => format!("tier {t}"),
        RuleRef::Promotion(p) => p.to_string(),
        RuleRef::Redemption => "points".into(),
        RuleRef::Earn => "earn".into(),
        RuleRef::WelcomeBonus => "welcome".into(),
        RuleRef::BirthdayBonus => "birthday".into(),
    }
}

fn agent_scanner_path(agent: &TestAgent) -> String {
    agent.scanner_path().display().to_string()
}

async fn issue_tokens(
    admin: &system_tests::clients::AdminClient,
    ids: &[CustomerId],
) -> anyhow::Result<BTreeMap<CustomerId, String>> {
    let mut out = BTreeMap::new();
    for id in ids {
        out.insert(*id, admin.customer_token(*id).await?.token);
    }
    Ok(out)
}

/// Rings up one check: 1–6 random lines; two in three shoppers show their phone.
async fn ring_up(
    r: &mut Register,
    rng: &mut Rng,
    tokens: &BTreeMap<CustomerId, String>,
    scan_to_price: &mut Vec<Duration>,
) -> anyhow::Result<()> {
    let till = r.agent.till.clone();
    let check = till.open().await?;
    for _ in 0..1 + rng.below(6) {
        let p = &CATALOG[rng.below(CATALOG.len() as u64) as usize];
        till.add_line(check.id, &line_json(p, 1 + rng.below(3) as u32))
            .await?;
    }
    if rng.below(3) < 2 {
        // Regulars shop more often than occasional customers.
        let ids: Vec<&CustomerId> = tokens.keys().collect();
        let who = ids[rng.weighted(&[10, 6, 3, 2, 1, 1]).min(ids.len() - 1)];
        let started = Instant::now();
        r.agent.scanner().scan(&tokens[who])?;
        let attached = r
            .events
            .next_matching(WAIT, |ev| match ev {
                TillEvent::CustomerIdentified { check_id, .. } => Some(check_id),
                TillEvent::ScanRejected { reason, .. } => Some(None).filter(|_| !reason.is_empty()),
                _ => None,
            })
            .await?;
        if attached != Some(check.id) {
            bail!("{}: the scan was not attached to the open check", r.name);
        }
        till.price(check.id).await?;
        scan_to_price.push(started.elapsed());
    }
    let committed = till.commit(check.id).await?;
    r.checks += 1;
    r.revenue += committed.pricing.total.minor();
    Ok(())
}

fn figures(label: &str, f: &SalesFigures) {
    println!(
        "{:<28} {:>7} {:>14} {:>12} {:>12}",
        label,
        f.checks,
        rub(f.revenue.minor()),
        rub(f.discount.minor()),
        rub(f.average_check.minor())
    );
}

fn rub(minor: i64) -> String {
    format!(
        "{} ₽",
        Money::from_minor(minor)
            .map(|m| m.to_string())
            .unwrap_or_else(|_| minor.to_string())
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
