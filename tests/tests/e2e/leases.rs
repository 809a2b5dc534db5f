//! Quota leases (issue 9, item 11) through the real binaries: a
//! `sync-server` process, three `pos-agent` processes behind a proxy that
//! cuts the network, and the tills' own HTTP API.
//!
//! Two promotions with global limits: one of 12 uses, one with a budget
//! of 120.00. With `max_share_percent = 25` each till holds a quarter.
//! Offline together, each sells until refused: no till gives more than its
//! lease, and the total stays within the limits. Back online, the records
//! upload, the leases rebalance (each till that spent its share gets a new
//! share of what remains), and selling until refused again never passes
//! the limits; the server counts exactly what the tills gave.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, ensure};
use shared::ids::{PromotionId, RulesetVersion, Sku};
use shared::money::{BasisPoints, Money};
use shared::pricing::{BlockReason, Limit, RuleRef};
use shared::ruleset::{Apply, Limits, Promotion, Reward, Target};
use shared::wire::till::Committed;
use sync_server::wire::admin::{LeaseReport, PromotionLeases};
use system_tests::clients::{AdminClient, TillClient};
use system_tests::harness::{AgentProcess, ServerProcess, enroll_agent, free_port, wait_status};
use system_tests::proxy::FaultProxy;
use system_tests::scenario::{self, CATALOG, Product, create_chain, line_json};
use test_kit::poll::Deadline;

/// How long anything may take to settle.
const SETTLE: Duration = Duration::from_secs(40);
/// The total uses of the first promotion.
const USES: u64 = 12;
/// The budget of the second, in kopecks.
const BUDGET: i64 = 12_000;

/// Apples, whose promotion has a total-uses limit.
const APPLES: &Product = &CATALOG[7];
/// Buckwheat, whose promotion has a budget.
const BUCKWHEAT: &Product = &CATALOG[6];

fn promotion(id: &str, product: &Product, limits: Limits) -> anyhow::Result<Promotion> {
    let mut p = scenario::dairy_promotion();
    p.id = PromotionId::parse(id)?;
    p.name = format!("Лимит {id}");
    p.target = Target::Skus {
        skus: vec![Sku::parse(product.sku)?],
    };
    p.reward = Reward::PercentOff {
        percent: BasisPoints::new(1000)?,
        apply: Apply::Each,
    };
    p.limits = limits;
    Ok(p)
}

/// What `id` took off a sale.
fn given(sale: &Committed, id: &PromotionId) -> i64 {
    sale.pricing
        .applied
        .iter()
        .filter(|a| a.rule == RuleRef::Promotion(id.clone()))
        .map(|a| a.discount.minor())
        .sum()
}

/// Whether the sale says `id` was held back by this till's lease.
fn held_back_by_lease(sale: &Committed, id: &PromotionId) -> bool {
    sale.pricing.blocked.iter().any(|b| {
        b.rule == RuleRef::Promotion(id.clone())
            && matches!(
                b.reason,
                BlockReason::LimitReached {
                    limit: Limit::LeasedUses | Limit::LeasedBudget
                }
            )
            && b.message.contains("share")
    })
}

/// Sells one `product` per check until `id` gives nothing; returns what
/// it gave on each sale. The refusal must name the lease.
async fn sell_until_refused(
    till: &TillClient,
    product: &Product,
    id: &PromotionId,
) -> anyhow::Result<Vec<i64>> {
    let mut gave = Vec::new();
    for _ in 0..50 {
        let check = till.open().await?;
        till.add_line(check.id, &line_json(product, 1)).await?;
        let sale = till.commit(check.id).await?;
        let discount = given(&sale, id);
        if discount == 0 {
            ensure!(
                held_back_by_lease(&sale, id),
                "refused without naming the lease: {:?}",
                sale.pricing.blocked
            );
            return Ok(gave);
        }
        gave.push(discount);
    }
    anyhow::bail!("{id} was never refused")
}

async fn report(
    admin: &AdminClient,
    merchant: shared::ids::MerchantId,
) -> anyhow::Result<LeaseReport> {
    admin.leases(merchant).await
}

fn of<'r>(report: &'r LeaseReport, id: &PromotionId) -> anyhow::Result<&'r PromotionLeases> {
    report
        .promotions
        .iter()
        .find(|p| &p.promotion_id == id)
        .with_context(|| format!("{id} missing from {report:?}"))
}

/// Waits until the server's report satisfies `cond`.
async fn wait_report(
    admin: &AdminClient,
    merchant: shared::ids::MerchantId,
    what: &str,
    cond: impl Fn(&LeaseReport) -> anyhow::Result<bool>,
) -> anyhow::Result<LeaseReport> {
    let deadline = Deadline::after(SETTLE).every(Duration::from_millis(100));
    loop {
        let last = report(admin, merchant).await?;
        if cond(&last)? {
            return Ok(last);
        }
        deadline
            .tick(|| format!("{what} within {SETTLE:?}: {last:#?}"))
            .await?;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_tills_offline_together_never_spend_past_a_global_limit_and_rebalance_online()
-> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let listen = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let server = ServerProcess::spawn_with(
        &tmp.path().join("server"),
        listen,
        &[("SYNC_SERVER__LEASES__MAX_SHARE_PERCENT", "25")],
    )
    .await?;
    let admin = server.admin();
    let chain = create_chain(&admin).await?;
    let merchant = chain.merchant_id();
    let uses = promotion(
        "apples-12",
        APPLES,
        Limits {
            total_uses: Some(USES),
            ..Limits::default()
        },
    )?;
    let budget = promotion(
        "buckwheat-120",
        BUCKWHEAT,
        Limits {
            budget: Some(Money::from_minor(BUDGET)?),
            ..Limits::default()
        },
    )?;
    admin.publish_promotion(merchant, &uses).await?;
    admin.publish_promotion(merchant, &budget).await?;

    let proxy = FaultProxy::start(listen).await?;
    let mut tills = Vec::new();
    for i in 0..3 {
        let dir = tmp.path().join(format!("till-{i}"));
        let token = admin.enrollment_token(chain.stores[0].id).await?;
        let proxied = proxy.url();
        enroll_agent(&server.url(), &token.token, &dir, move |c| {
            c.sync.url = proxied;
            c.sync.lease_renew_secs = 1;
        })
        .await?;
        let api = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        tills.push(AgentProcess::spawn(&dir, api).await?);
    }
    let version = RulesetVersion::new(3)?;
    for till in &tills {
        wait_status(&till.till, SETTLE, |s| {
            s.ruleset_version == Some(version) && s.sync.leases.len() == 2
        })
        .await?;
    }
    // Each holds a quarter: 3 uses, 30.00.
    let before = wait_report(&admin, merchant, "every till holds its quarter", |r| {
        Ok(of(r, &uses.id)?.outstanding.uses == 9
            && of(r, &budget.id)?.outstanding.money.minor() == 9_000)
    })
    .await?;
    ensure!(of(&before, &uses.id)?.registers.len() == 3, "{before:#?}");

    // The network goes; every till sells until its lease refuses.
    proxy.set_down(true);
    let mut offline_uses = 0;
    let mut offline_money = 0;
    for till in &tills {
        let gave = sell_until_refused(&till.till, APPLES, &uses.id).await?;
        ensure!(
            gave.len() == 3,
            "a till gave its lease of 3 uses, not {gave:?}"
        );
        offline_uses += gave.len();
        let gave = sell_until_refused(&till.till, BUCKWHEAT, &budget.id).await?;
        // 10 % of 114.90 twice, then what is left of 30.00, capped.
        ensure!(
            gave == [1_149, 1_149, 702],
            "a till gave its lease of 30.00 and no more: {gave:?}"
        );
        offline_money += gave.iter().sum::<i64>();
    }
    ensure!(offline_uses as u64 <= USES && offline_money <= BUDGET);

    // Back online: everything uploads, and the leases rebalance over what
    // remains (3 uses, 30.00): a share of one use and 10.00 each.
    proxy.set_down(false);
    let after = wait_report(&admin, merchant, "the leases rebalance", |r| {
        let u = of(r, &uses.id)?;
        let b = of(r, &budget.id)?;
        Ok(u.counted.uses == 9
            && b.counted.money.minor() == 9_000
            && u.registers.iter().all(|reg| {
                reg.lease
                    .as_ref()
                    .is_some_and(|l| l.granted.uses == 1 && l.used.uses == 0 && !l.expired)
            })
            && b.registers.iter().all(|reg| {
                reg.lease
                    .as_ref()
                    .is_some_and(|l| l.granted.money.minor() == 1_000 && l.used.uses == 0)
            }))
    })
    .await?;
    for reg in &of(&after, &uses.id)?.registers {
        ensure!(
            reg.spent.uses == 3,
            "HQ sees each register's spend: {reg:?}"
        );
    }
    for till in &tills {
        wait_status(&till.till, SETTLE, |s| {
            s.sync
                .leases
                .iter()
                .all(|l| l.uses_left == 1 || l.budget_left.minor() == 1_000)
        })
        .await?;
    }
    // A till that spent its share has a new one, and sells again. While
    // they sell, each upload renews the leases over what remains, so a
    // share may shrink to its fair part of the rest; none passes the pool.
    let mut online_uses = 0;
    let mut online_money = 0;
    for till in &tills {
        let gave = sell_until_refused(&till.till, APPLES, &uses.id).await?;
        ensure!(!gave.is_empty(), "a new share of the uses");
        online_uses += gave.len();
        let gave = sell_until_refused(&till.till, BUCKWHEAT, &budget.id).await?;
        ensure!(!gave.is_empty(), "a new share of the budget");
        online_money += gave.iter().sum::<i64>();
    }
    let given_uses = i64::try_from(offline_uses + online_uses)?;
    let given_money = offline_money + online_money;
    ensure!(
        given_uses <= i64::try_from(USES)? && given_money <= BUDGET,
        "never past the limits: {given_uses} uses, {given_money} kopecks"
    );
    // The server counts from the records exactly what the tills gave.
    let last = wait_report(&admin, merchant, "everything is counted", |r| {
        Ok(of(r, &uses.id)?.counted.uses == given_uses
            && of(r, &budget.id)?.counted.money.minor() == given_money)
    })
    .await?;
    ensure!(
        of(&last, &uses.id)?.counted.uses + of(&last, &uses.id)?.outstanding.uses
            <= i64::try_from(USES)?,
        "spend counted plus leases outstanding within the limit: {last:#?}"
    );
    for till in tills {
        till.stop().await?;
    }
    Ok(())
}
