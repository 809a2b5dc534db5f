//! Points adjusted on the support page reach a real till (issue 12): a
//! support person credits and debits a customer's points in a real
//! Chromium, by clicking and typing; a real pos-agent gets the new
//! standing through the customer change feed and prices with it, online
//! and then offline after that sync.

use anyhow::ensure;
use shared::wire::till::AttachCustomer;
use system_tests::scenario::{CATALOG, line_json};
use test_kit::poll::Deadline;

use crate::chrome::Browser;
use crate::{WAIT, faults, ready_agent_for};

const PASSWORD: &str = "долгий пароль 123";

/// Waits until the till gives the customer `points` available.
async fn wait_balance(
    agent: &system_tests::system::TestAgent,
    card: &AttachCustomer,
    points: i64,
) -> anyhow::Result<()> {
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

/// Credits or debits on the open customer's support page.
async fn adjust(browser: &mut Browser, direction: &str, points: &str, reason: &str) {
    browser.click(&format!("#adjust-{direction}")).await;
    browser.type_into("#adjust-points", points).await;
    browser.type_into("#adjust-reason", reason).await;
    browser.click_button("Провести").await;
    browser.wait_for_text("td", reason).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn points_adjusted_on_the_support_page_reach_the_till_and_price_offline() -> anyhow::Result<()>
{
    let tmp = tempfile::tempdir()?;
    let (mut server, chain) = faults::server_with_chain(tmp.path(), "").await?;
    let admin = server.admin();
    let mut agent = ready_agent_for(
        &server,
        &chain,
        chain.stores[0].id,
        &tmp.path().join("till"),
    )
    .await?;
    // Offline three seconds after the server last answered.
    agent.config.sync.offline_after_secs = 3;
    agent.restart().await?;
    let anna = &chain.customers[0];
    let card = AttachCustomer::Card(anna.card_number.to_string());
    let before = admin.customer_view(anna.id).await?.points_balance;
    wait_balance(&agent, &card, before).await?;

    let m = chain.merchant_id();
    let link = admin.invite(m, "help@chain.example", "support").await?;
    let mut browser = Browser::start("points_adjusted_reach_the_till").await;
    browser.open(&link.link).await;
    browser.type_into("#new-password", PASSWORD).await;
    browser.type_into("#repeat-password", PASSWORD).await;
    browser.click_button("Сохранить пароль").await;
    browser.wait_for_text("h1", "Вход в HQ").await;
    browser.type_into("#email", "help@chain.example").await;
    browser.type_into("#password", PASSWORD).await;
    browser.click_button("Войти").await;
    browser.wait_for_text("h1", "Продавцы").await;
    browser
        .open(&format!("{}/hq/merchants/{m}/customers", server.url()))
        .await;
    browser
        .type_into("#find-customer", &anna.id.to_string())
        .await;
    browser.click_button("Найти").await;
    browser.wait_for("#adjust-form").await;

    // A credit: the till's next sync brings it.
    adjust(
        &mut browser,
        "credit",
        "250",
        "Компенсация: касса не начислила",
    )
    .await;
    wait_balance(&agent, &card, before + 250).await?;
    // A debit, likewise.
    adjust(&mut browser, "debit", "100", "Ошибочное начисление").await;
    wait_balance(&agent, &card, before + 150).await?;
    browser.close().await;
    let view = admin.customer_view(anna.id).await?;
    ensure!(view.points_balance == before + 150, "{view:?}");
    ensure!(view.adjustments.len() == 2, "{:?}", view.adjustments);

    // Offline, the till still prices with the standing it synced: the
    // customer pays with the credited points.
    agent.wait_synced(WAIT).await?;
    server.stop().await?;
    agent.wait_status(WAIT, |s| s.sync.offline).await?;
    let check = agent.till.open().await?;
    let attached = agent.till.attach(check.id, &card).await?;
    ensure!(
        attached.customer.as_ref().map(|c| c.points_balance) == Some(before + 150),
        "{attached:?}"
    );
    agent
        .till
        .add_line(check.id, &line_json(&CATALOG[5], 1))
        .await?;
    let paid = agent.till.redeem(check.id, 40).await?;
    ensure!(paid.pricing.points_redeemed == 40, "{paid:?}");
    agent.till.commit(check.id).await?;
    Ok(())
}
