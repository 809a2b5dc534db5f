//! A merchant's whole set-up in a real Chromium, clicking and typing only
//! (issue 11, "done when"): the owner signs in, sets up the programme with a
//! tier from a sample, creates a store and a register token, a real
//! pos-agent enrolls with that token and sells, the owner drafts a
//! promotion, tries it on those sales (what-if), publishes it, gives it a
//! picture, and the till prices a check with it; the customer's phone page
//! shows the offer with its picture.

use std::io::Cursor;

use anyhow::ensure;
use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use shared::identity::{Gender, PhoneNumber};
use shared::ids::RulesetVersion;
use shared::pricing::RuleRef;
use shared::wire::till::Committed;
use sync_server::wire::admin::NewCustomer;
use system_tests::scenario::{CATALOG, line_json};
use system_tests::system::{TestAgent, TestServer};

use crate::WAIT;
use crate::chrome::Browser;

const PASSWORD: &str = "долгий пароль 123";
const PROMOTION: &str = "buckwheat-20";

/// What the new promotion took off a sale.
fn given(sale: &Committed) -> i64 {
    sale.pricing
        .applied
        .iter()
        .filter(|a| matches!(&a.rule, RuleRef::Promotion(id) if id.as_str() == PROMOTION))
        .map(|a| a.discount.minor())
        .sum()
}

/// How wide the picture `css` is once it has loaded (0 if it failed).
async fn picture_width(browser: &mut Browser, css: &str) -> i64 {
    browser.wait_for(css).await;
    let script = r"
        const done = arguments[arguments.length - 1];
        const img = document.querySelector(SELECTOR);
        if (!img) { done(-1); return; }
        img.scrollIntoView();
        const report = () => done(img.naturalWidth);
        if (img.complete && img.naturalWidth > 0) { report(); return; }
        img.addEventListener('load', report);
        img.addEventListener('error', report);
    "
    .replace("SELECTOR", &serde_json::to_string(css).unwrap_or_default());
    browser
        .run_async_script(&script)
        .await
        .as_i64()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merchant_sets_up_by_clicking_and_a_real_till_prices_the_promotion_they_published()
-> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let server = TestServer::start(tmp.path()).await?;
    let admin = server.admin();
    let merchant = admin.merchant("Ромашка").await?;
    let m = merchant.id;
    let link = admin.invite(m, "owner@romashka.example", "owner").await?;

    // A picture on disk, as the owner has one.
    let picture = tmp.path().join("гречка.png");
    let mut png = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(RgbImage::from_fn(800, 400, |x, y| {
        Rgb([
            u8::try_from(x / 4 % 256).unwrap_or(0),
            u8::try_from(y / 2 % 256).unwrap_or(0),
            90,
        ])
    }))
    .write_to(&mut png, ImageFormat::Png)?;
    std::fs::write(&picture, png.into_inner())?;

    // Signs in.
    let mut browser = Browser::start("a_merchant_sets_up_by_clicking").await;
    browser.open(&link.link).await;
    browser.type_into("#new-password", PASSWORD).await;
    browser.type_into("#repeat-password", PASSWORD).await;
    browser.click_button("Сохранить пароль").await;
    browser.wait_for_text("h1", "Вход в HQ").await;
    browser.type_into("#email", "owner@romashka.example").await;
    browser.type_into("#password", PASSWORD).await;
    browser.click_button("Войти").await;
    browser.wait_for_text("h1", "Продавцы").await;

    // The programme: the grocery sample, and a tier of its own.
    browser.click_link("Программа").await;
    browser
        .wait_for_text("h1", "Ромашка: программа лояльности")
        .await;
    browser
        .click_xpath(
            "//input[@name='sample'][@value='grocery']",
            "the grocery sample",
        )
        .await;
    browser.click_button("Начать с образца").await;
    browser
        .wait_for_text("p", "опубликована версия правил 1")
        .await;
    browser.type_into("#tier-3-name", "Платиновый").await;
    browser.type_into("#tier-3-threshold", "1 000 000").await;
    browser.type_into("#tier-3-discount", "7").await;
    browser.click_button("Сохранить и опубликовать").await;
    browser
        .wait_for_text("p", "опубликована версия правил 2")
        .await;

    // A store and a register token.
    browser.click_link("← К настройке").await;
    browser.wait_for_text("h1", "Ромашка: настройка").await;
    browser.type_into("#store-name", "Тверская").await;
    browser.type_into("#store-timezone", "Europe/Moscow").await;
    browser.click_button("Добавить магазин").await;
    browser.wait_for_text("td", "Тверская").await;
    browser.click_button("Выпустить токен кассы").await;
    let token = browser.value_of("#secret").await;
    ensure!(!token.is_empty(), "the token is shown once");

    // A real till enrolls with it, gets both versions and sells buckwheat
    // three times before the promotion exists.
    let agent = TestAgent::enroll(&server.url(), &token, &tmp.path().join("till")).await?;
    agent.wait_ruleset(RulesetVersion::new(2)?, WAIT).await?;
    let ruleset = admin.ruleset(m).await?;
    ensure!(
        ruleset
            .ruleset
            .programme
            .tiers
            .iter()
            .any(|t| t.name == "Платиновый" && t.min_lifetime_spend.minor() == 100_000_000),
        "the tier typed in the form: {:?}",
        ruleset.ruleset.programme.tiers
    );
    let buckwheat = &CATALOG[6];
    let sell = || async {
        let check = agent.till.open().await?;
        agent
            .till
            .add_line(check.id, &line_json(buckwheat, 1))
            .await?;
        agent.till.commit(check.id).await
    };
    for _ in 0..3 {
        let sale = sell().await?;
        ensure!(given(&sale) == 0, "no promotion yet: {:?}", sale.pricing);
    }
    agent.wait_synced(WAIT).await?;

    // The promotion, drafted and tried on those sales.
    browser
        .open(&format!("{}/hq/merchants/{m}/setup", server.url()))
        .await;
    browser.type_into("#promo-id", PROMOTION).await;
    browser.type_into("#promo-name", "Гречка −20 %").await;
    browser.type_into("#promo-targets", buckwheat.sku).await;
    browser.type_into("#promo-percent", "20").await;
    browser.click_button("Сохранить черновик").await;
    browser.wait_for_text("h1", "Черновик: Гречка −20 %").await;
    browser.click_button("Рассчитать").await;
    browser.wait_for("#what-if-summary").await;
    let touched = browser
        .text_of("#what-if-summary [data-figure='checks_touched']")
        .await;
    let cost = browser
        .text_of("#what-if-summary [data-figure='cost']")
        .await;
    // 20 % of 114,90 ₽ is 22,98 ₽, three times.
    browser
        .ensure(
            touched == "3" && cost.starts_with("68,94"),
            format!("the what-if: {touched} checks, {cost}"),
        )
        .await;
    browser.click_button("Опубликовать сейчас").await;
    browser.wait_for_text("dd", "опубликован").await;

    // Its picture and description.
    browser
        .open(&format!("{}/hq/merchants/{m}/setup", server.url()))
        .await;
    browser
        .click_xpath(
            &format!(
                "//tr[@data-promotion='{PROMOTION}']//a[normalize-space(.)='Картинка и описание']"
            ),
            "the new offer's picture and description",
        )
        .await;
    let input = browser.wait_for("#content-picture").await;
    if let Err(e) = input.send_keys(&picture.display().to_string()).await {
        browser.fail(format!("cannot choose the file: {e}")).await;
    }
    browser
        .type_into("#content-description", "Гречка **ядрица**, 900 г")
        .await;
    browser.click_button("Сохранить").await;
    browser.wait_for("#content-saved").await;

    // The till prices a check with it.
    agent.wait_ruleset(RulesetVersion::new(3)?, WAIT).await?;
    let sale = sell().await?;
    ensure!(
        given(&sale) == buckwheat.price * 20 / 100,
        "the till gave {} off: {:?}",
        given(&sale),
        sale.pricing.applied
    );

    // The customer's phone page shows the offer with its picture.
    let anna = admin
        .customer(
            m,
            &NewCustomer {
                name: "Анна".into(),
                phone: Some(PhoneNumber::parse("+79160000001")?),
                email: None,
                gender: Gender::Female,
                birth_date: None,
            },
        )
        .await?;
    let page = admin.customer_link(anna.id).await?;
    browser.open(&page.url).await;
    browser.wait_for_text("h1", "Анна").await;
    let width = picture_width(
        &mut browser,
        &format!("article[data-promotion='{PROMOTION}'] .offer-picture img"),
    )
    .await;
    browser
        .ensure(width > 0, format!("the phone's picture loaded: {width}"))
        .await;
    let text = browser
        .text_of(&format!("article[data-promotion='{PROMOTION}'] .rich-text"))
        .await;
    browser
        .ensure(text.contains("ядрица"), format!("the description: {text}"))
        .await;
    browser.close().await;
    Ok(())
}
