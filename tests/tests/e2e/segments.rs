//! Segments feed back into promotions (issue 13): the owner saves a
//! segment on the HQ page in a real Chromium and publishes a promotion for
//! it from the promotion form; a real pos-agent gets the segment's tag with
//! the customer's standing and gives the promotion to the customers in it
//! only, online and then offline.

use anyhow::ensure;
use shared::pricing::RuleRef;
use shared::wire::till::{AttachCustomer, Committed};
use system_tests::scenario::{CATALOG, Product, line_json};
use test_kit::poll::Deadline;

use crate::chrome::Browser;
use crate::{WAIT, faults, ready_agent_for};

const PASSWORD: &str = "долгий пароль 123";
const PROMOTION: &str = "women-buckwheat";

/// What the segment's promotion took off a sale.
fn given(sale: &Committed) -> i64 {
    sale.pricing
        .applied
        .iter()
        .filter(|a| matches!(&a.rule, RuleRef::Promotion(id) if id.as_str() == PROMOTION))
        .map(|a| a.discount.minor())
        .sum()
}

/// One `product` sold to the customer with `card`.
async fn sell(
    agent: &system_tests::system::TestAgent,
    card: &AttachCustomer,
    product: &Product,
) -> anyhow::Result<Committed> {
    let check = agent.till.open().await?;
    agent.till.attach(check.id, card).await?;
    agent
        .till
        .add_line(check.id, &line_json(product, 1))
        .await?;
    agent.till.commit(check.id).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_segment_saved_in_hq_prices_its_customers_at_the_till_even_offline() -> anyhow::Result<()>
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
    agent.config.sync.offline_after_secs = 3;
    agent.restart().await?;
    // Анна (a woman) and Иван (a man) buy bread, so both are active.
    let anna = AttachCustomer::Card(chain.customers[0].card_number.to_string());
    let ivan = AttachCustomer::Card(chain.customers[1].card_number.to_string());
    let bread = &CATALOG[3];
    let buckwheat = &CATALOG[6];
    sell(&agent, &anna, bread).await?;
    sell(&agent, &ivan, bread).await?;
    agent.wait_synced(WAIT).await?;

    // The owner saves "women" and publishes 15 % off buckwheat for them.
    let m = chain.merchant_id();
    let link = admin.invite(m, "head@chain.example", "owner").await?;
    let mut browser = Browser::start("a_segment_prices_its_customers").await;
    browser.open(&link.link).await;
    browser.type_into("#new-password", PASSWORD).await;
    browser.type_into("#repeat-password", PASSWORD).await;
    browser.click_button("Сохранить пароль").await;
    browser.wait_for_text("h1", "Вход в HQ").await;
    browser.type_into("#email", "head@chain.example").await;
    browser.type_into("#password", PASSWORD).await;
    browser.click_button("Войти").await;
    browser.wait_for_text("h1", "Продавцы").await;
    browser
        .open(&format!("{}/hq/merchants/{m}/segments", server.url()))
        .await;
    browser.type_into("#segment-name", "Покупательницы").await;
    browser.type_into("#segment-code", "women").await;
    browser.click("#segment-gender-female").await;
    browser.type_into("#segment-min-visits", "1").await;
    browser.click_button("Сохранить сегмент").await;
    let row = browser.wait_for("#segment-women").await;
    let members = row
        .find(fantoccini::Locator::Css("[data-figure='customers']"))
        .await?
        .text()
        .await?;
    ensure!(members == "1", "the segment holds {members} customers");
    // Computing again by the button changes nothing and keeps the row.
    browser.click_and_wait_for_reload("#segments-refresh").await;
    browser.wait_for("#segment-women").await;
    // A segment saved by mistake goes by its delete button; the other stays.
    browser.type_into("#segment-name", "Ошибка").await;
    browser.type_into("#segment-code", "oops").await;
    browser.type_into("#segment-min-visits", "1").await;
    browser.click_button("Сохранить сегмент").await;
    browser.wait_for("#segment-oops").await;
    browser
        .click_and_wait_for_reload("#segment-oops button")
        .await;
    browser.wait_for("#segment-women").await;
    let left = browser.count_xpath("//tr[@id='segment-oops']").await;
    ensure!(left == 0, "the deleted segment is still listed");

    // The customers view filtered to the segment counts Анна alone.
    browser
        .open(&format!(
            "{}/hq/merchants/{m}/analytics/customers",
            server.url()
        ))
        .await;
    browser.choose("#segment", "Покупательницы").await;
    browser.click_button("Показать").await;
    browser.wait_for_url_containing("segment=seg%3Awomen").await;
    let shown = browser.value_of("#segment").await;
    ensure!(shown == "seg:women", "the filter shows {shown:?}");

    browser
        .open(&format!("{}/hq/merchants/{m}/setup", server.url()))
        .await;
    browser.type_into("#promo-id", PROMOTION).await;
    browser
        .type_into("#promo-name", "Гречка для покупательниц −15 %")
        .await;
    browser.type_into("#promo-targets", buckwheat.sku).await;
    browser.type_into("#promo-percent", "15").await;
    browser
        .choose("#promo-segment", "Покупательницы (seg:women)")
        .await;
    browser.click_button("Опубликовать на всех кассах").await;
    browser
        .wait_for_text("p", "Опубликована версия правил 2")
        .await;
    browser.close().await;
    let stored = admin.ruleset(m).await?;
    let published = stored
        .ruleset
        .promotions
        .iter()
        .find(|p| p.id.as_str() == PROMOTION);
    ensure!(
        published.is_some_and(|p| p.conditions.segment.tags == ["seg:women"]),
        "{published:?}"
    );

    // The till gives it to Анна and not to Иван.
    agent
        .wait_ruleset(shared::ids::RulesetVersion::new(2)?, WAIT)
        .await?;
    let deadline = Deadline::after(WAIT).every(std::time::Duration::from_millis(200));
    loop {
        let sale = sell(&agent, &anna, buckwheat).await?;
        if given(&sale) > 0 {
            ensure!(
                given(&sale) == buckwheat.price * 15 / 100,
                "{:?}",
                sale.pricing.applied
            );
            break;
        }
        deadline
            .tick(|| "the till never gave Анна the segment's promotion".into())
            .await?;
    }
    let sale = sell(&agent, &ivan, buckwheat).await?;
    ensure!(given(&sale) == 0, "Иван got it: {:?}", sale.pricing.applied);

    // Offline, with the standing it synced, the same.
    agent.wait_synced(WAIT).await?;
    server.stop().await?;
    agent.wait_status(WAIT, |s| s.sync.offline).await?;
    ensure!(
        given(&sell(&agent, &anna, buckwheat).await?) > 0,
        "offline, Анна"
    );
    ensure!(
        given(&sell(&agent, &ivan, buckwheat).await?) == 0,
        "offline, Иван"
    );
    Ok(())
}
