//! Points offline, with the real server and real agents over real HTTP:
//! a register that cannot reach the server lets a customer spend at most
//! the merchant's offline cap (issue 5), and two registers that both spent
//! a customer's points offline leave the balance negative: the server keeps
//! both records and lists the customer in its overdraft report, on the API
//! and through `sync-server admin overdrafts`.

use std::process::Command;

use anyhow::{Context as _, ensure};
use reqwest::StatusCode;
use shared::ids::RulesetVersion;
use shared::points::OverdraftCause;
use shared::wire::till::{AttachCustomer, CheckView, Committed};
use sync_server::wire::admin::OverdraftReport;
use system_tests::clients::expect_status;
use system_tests::harness::workspace_binary;
use system_tests::scenario::{self, CATALOG, create_chain, line_json};
use system_tests::system::{TestAgent, TestServer};
use test_kit::poll::Deadline;

use crate::{WAIT, agent_for};

/// 16 kg of coffee earn 207 points.
async fn earn_207(agent: &TestAgent, card: &AttachCustomer) -> anyhow::Result<Committed> {
    let check = agent.till.open().await?;
    agent.till.attach(check.id, card).await?;
    agent
        .till
        .add_line(check.id, &line_json(&CATALOG[5], 16))
        .await?;
    let committed = agent.till.commit(check.id).await?;
    ensure!(committed.pricing.points_earned == 207, "{committed:?}");
    Ok(committed)
}

/// A check of one kilo of coffee for the customer, paying with `points`.
async fn pay_with_points(
    agent: &TestAgent,
    card: &AttachCustomer,
    points: i64,
) -> anyhow::Result<(CheckView, anyhow::Result<CheckView>)> {
    let check = agent.till.open().await?;
    let attached = agent.till.attach(check.id, card).await?;
    agent
        .till
        .add_line(check.id, &line_json(&CATALOG[5], 1))
        .await?;
    Ok((attached, agent.till.redeem(check.id, points).await))
}

/// Waits until the agent's cache gives the customer `points` available.
async fn wait_balance(agent: &TestAgent, card: &AttachCustomer, points: i64) -> anyhow::Result<()> {
    let deadline = Deadline::after(WAIT);
    loop {
        let check = agent.till.open().await?;
        let view = agent.till.attach(check.id, card).await?;
        agent.till.cancel(check.id).await?;
        let now = view.customer.as_ref().map(|c| c.points_balance);
        if now == Some(points) {
            return Ok(());
        }
        deadline
            .tick(|| format!("the till shows {now:?} points, not {points}"))
            .await?;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_a_customer_spends_at_most_the_merchants_cap_until_the_register_syncs()
-> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let mut server = TestServer::start(&tmp.path().join("server")).await?;
    let admin = server.admin();
    let chain = create_chain(&admin).await?;
    let mut rules = scenario::programme();
    rules
        .programme
        .redemption
        .as_mut()
        .context("the programme pays with points")?
        .offline_cap_points = Some(100);
    let published = admin.publish(chain.merchant_id(), &rules).await?;
    assert_eq!(published.version, RulesetVersion::new(2)?);

    let mut agent = agent_for(&server, chain.stores[0].id, &tmp.path().join("till")).await?;
    agent.config.sync.offline_after_secs = 3;
    agent.restart().await?;
    agent.wait_ruleset(published.version, WAIT).await?;
    agent
        .wait_status(WAIT, |s| s.cached_customers >= chain.customers.len() as i64)
        .await?;
    let anna = &chain.customers[0];
    let card = AttachCustomer::Card(anna.card_number.to_string());
    earn_207(&agent, &card).await?;
    agent.wait_synced(WAIT).await?;
    assert!(!agent.till.status().await?.sync.offline);

    // The network goes down.
    server.stop().await?;
    agent.wait_status(WAIT, |s| s.sync.offline).await?;

    let (attached, first) = pay_with_points(&agent, &card, 80).await?;
    assert_eq!(attached.customer.map(|c| c.points_balance), Some(207));
    let first = first?;
    assert_eq!(first.pricing.points_redeemed, 80);
    let first = agent.till.commit(first.id).await?;

    // 80 + 50 would pass the cap of 100: refused, the check keeps none.
    let (_, second) = pay_with_points(&agent, &card, 50).await?;
    let refused =
        expect_status(second, StatusCode::UNPROCESSABLE_ENTITY)?.context("an error body")?;
    assert_eq!(refused.error, "offline_cap");
    assert!(
        refused.message.contains("at most 100 points") && refused.message.contains("80 are spent"),
        "{}",
        refused.message
    );
    let open = agent.till.open().await?;
    agent.till.attach(open.id, &card).await?;
    agent
        .till
        .add_line(open.id, &line_json(&CATALOG[5], 1))
        .await?;
    let refused_here = agent.till.redeem(open.id, 50).await;
    expect_status(refused_here, StatusCode::UNPROCESSABLE_ENTITY)?;
    assert_eq!(agent.till.price(open.id).await?.redeem_points, 0);
    let second = agent.till.redeem(open.id, 20).await?;
    assert_eq!(second.pricing.points_redeemed, 20);
    let second = agent.till.commit(open.id).await?;

    let (attached, third) = pay_with_points(&agent, &card, 1).await?;
    expect_status(third, StatusCode::UNPROCESSABLE_ENTITY)?;
    let expected = 207 - 100 + first.pricing.points_earned + second.pricing.points_earned;
    assert_eq!(
        attached.customer.map(|c| c.points_balance),
        Some(expected),
        "the till's own spending counts at once"
    );

    // Back online, the records reach HQ and the cap no longer applies.
    server.restart().await?;
    agent
        .wait_status(WAIT, |s| !s.sync.offline && s.outbox_pending == 0)
        .await?;
    let (_, online) = pay_with_points(&agent, &card, 50).await?;
    assert_eq!(online?.pricing.points_redeemed, 50);
    let view = admin.customer_view(anna.id).await?;
    assert_eq!(view.points_balance, expected);
    assert_eq!(view.purchases.len(), 3);
    assert!(
        admin
            .overdrafts(chain.merchant_id())
            .await?
            .customers
            .is_empty()
    );
    agent.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_registers_spending_offline_overdraw_and_hq_lists_the_overdraft() -> anyhow::Result<()>
{
    let tmp = tempfile::tempdir()?;
    let mut server = TestServer::start(&tmp.path().join("server")).await?;
    let admin = server.admin();
    let chain = create_chain(&admin).await?;
    let mut tills = Vec::new();
    for (i, store) in chain.stores.iter().enumerate() {
        let agent = agent_for(&server, store.id, &tmp.path().join(format!("till-{i}"))).await?;
        agent.wait_ruleset(RulesetVersion::new(1)?, WAIT).await?;
        tills.push(agent);
    }
    let ivan = &chain.customers[1];
    let card = AttachCustomer::Card(ivan.card_number.to_string());
    earn_207(&tills[0], &card).await?;
    tills[0].wait_synced(WAIT).await?;
    for till in &tills {
        wait_balance(till, &card, 207).await?;
    }

    // Both registers lose the server and each spends 150 of the 207.
    server.stop().await?;
    let mut spent = Vec::new();
    for till in &tills {
        let (_, paid) = pay_with_points(till, &card, 150).await?;
        let paid = paid?;
        assert_eq!(
            paid.pricing.points_redeemed, 150,
            "no cap in this programme"
        );
        spent.push(till.till.commit(paid.id).await?);
    }

    server.restart().await?;
    for till in &tills {
        till.wait_synced(WAIT).await?;
    }
    let view = admin.customer_view(ivan.id).await?;
    let expected = 207 - 300 + spent.iter().map(|c| c.pricing.points_earned).sum::<i64>();
    assert!(expected < 0);
    assert_eq!(
        view.points_balance, expected,
        "the server allows the overdraft"
    );
    for c in &spent {
        assert!(
            view.purchases.iter().any(|p| p.id == c.record_id),
            "both records are kept"
        );
    }

    let report = admin.overdrafts(chain.merchant_id()).await?;
    assert_eq!(report.customers.len(), 1, "{report:?}");
    let listed = &report.customers[0];
    assert_eq!(listed.customer_id, ivan.id);
    assert_eq!(listed.points_balance, expected);
    assert_eq!(listed.overdrawn, -expected);
    assert_eq!(listed.records.len(), 1, "the first spend was covered");
    let record = &listed.records[0];
    assert_eq!(record.cause, OverdraftCause::Redemption);
    assert_eq!(record.points_redeemed, 150);
    assert_eq!(record.balance_after, expected);
    assert!(spent.iter().any(|c| c.record_id == record.record_id));

    // The same report from the admin CLI.
    let out = Command::new(workspace_binary("sync-server")?)
        .args(["admin", "--server", &server.url(), "--admin-token"])
        .arg(server.admin_token())
        .args(["overdrafts", "--merchant", &chain.merchant_id().to_string()])
        .output()?;
    ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: OverdraftReport = serde_json::from_slice(&out.stdout)?;
    assert_eq!(printed, report);
    for mut till in tills {
        till.stop().await?;
    }
    Ok(())
}
