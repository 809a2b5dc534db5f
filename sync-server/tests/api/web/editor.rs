//! The promotion editor in a real Chromium ([`Browser`]), clicking and
//! typing only: a «3 по цене 2» and an evening points multiplier created,
//! a wrong field named with what was typed kept, another kind chosen for a
//! promotion (the reward replaced, the rest kept), the published promotions
//! compared with the expected values and priced by the engine; and every
//! promotion of the sample rulesets and of the Quick start demo's opened
//! with «Изменить» and saved unchanged without a new ruleset version.

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shared::basket::Line;
use shared::ids::{Category, MerchantId, Sku, StoreId};
use shared::money::{Money, Quantity};
use shared::pricing::{CustomerStanding, Engine, PricingContext};
use shared::ruleset::{Promotion, Ruleset};

use super::chrome::Browser;
use crate::helpers::{ADMIN_TOKEN, TestServer};

/// The version and rules of a merchant's current ruleset.
async fn current(server: &TestServer, merchant: MerchantId) -> (u64, Ruleset) {
    let (status, body) = server
        .admin(
            Method::GET,
            &format!("/api/v1/admin/merchants/{merchant}/ruleset"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let version = body["version"].as_u64().expect("a version");
    let ruleset = serde_json::from_value(body["ruleset"].clone()).expect("a ruleset");
    (version, ruleset)
}

fn promotion<'a>(ruleset: &'a Ruleset, id: &str) -> &'a Promotion {
    ruleset
        .promotions
        .iter()
        .find(|p| p.id.as_str() == id)
        .unwrap_or_else(|| panic!("no promotion {id}"))
}

/// Signs in at `/hq` by typing the admin token.
async fn sign_in(browser: &mut Browser, server: &TestServer) {
    browser.open(&format!("{}/hq", server.base)).await;
    browser.type_into("#token", ADMIN_TOKEN).await;
    browser.click_button("Войти").await;
    browser.wait_for_text("h1", "Продавцы").await;
}

/// Starts the merchant's programme from the sample `key` on the set-up
/// page.
async fn start_from_sample(
    browser: &mut Browser,
    server: &TestServer,
    merchant: MerchantId,
    key: &str,
) {
    browser
        .open(&format!("{}/hq/merchants/{merchant}/setup", server.base))
        .await;
    browser
        .click_xpath(&format!("//input[@name='sample'][@value='{key}']"), key)
        .await;
    browser.click_button("Начать с образца").await;
    browser
        .wait_for_text("p", "Опубликована версия правил 1")
        .await;
}

/// Whether a reward kind's fieldset is hidden on the page now.
async fn kind_hidden(browser: &mut Browser, kind: &str) -> bool {
    browser
        .count_xpath(&format!("//fieldset[@data-reward-kind='{kind}'][@hidden]"))
        .await
        == 1
}

fn line(sku: &str, category: &str, quantity: i64, unit_price: i64) -> Line {
    Line {
        sku: Sku::parse(sku).expect("a SKU"),
        name: sku.to_owned(),
        category: Some(Category::parse(category).expect("a category")),
        quantity: Quantity::from_units(quantity).expect("a quantity"),
        unit_price: Money::from_minor(unit_price).expect("a price"),
    }
}

#[tokio::test]
async fn hq_creates_a_3_for_2_and_an_evening_points_multiplier_by_clicking_in_chromium() {
    let server = TestServer::spawn().await;
    let merchant = server.merchant("Ромашка").await.id;
    let store = server.store(merchant, "Тверская", "Europe/Moscow").await;
    let mut browser = Browser::start("hq_creates_a_3_for_2_and_an_evening_multiplier").await;
    sign_in(&mut browser, &server).await;
    start_from_sample(&mut browser, &server, merchant, "grocery").await;

    // «3 по цене 2» on sweets; the reward kind's fields show once chosen.
    browser.type_into("#promo-id", "sweets-3for2").await;
    browser
        .type_into("#promo-name", "Сладости 3 по цене 2")
        .await;
    browser
        .click_xpath(
            "//input[@name='target_kind'][@value='categories']",
            "categories",
        )
        .await;
    browser.type_into("#promo-targets", "sweets").await;
    let hidden = kind_hidden(&mut browser, "buy_x_get_y").await;
    browser
        .ensure(
            hidden,
            "buy X get Y's fields are hidden before it is chosen",
        )
        .await;
    browser
        .choose("#promo-reward-kind", "Купи X — получи Y (3 по цене 2)")
        .await;
    let shown = !kind_hidden(&mut browser, "buy_x_get_y").await;
    let percent_hidden = kind_hidden(&mut browser, "percent_off").await;
    browser
        .ensure(
            shown && percent_hidden,
            "only the chosen kind's fields show",
        )
        .await;
    // A wrong field is named next to it, and what was typed stays.
    browser.type_into("#promo-buy", "два").await;
    browser.type_into("#promo-get", "1").await;
    browser.click_button("Опубликовать на всех кассах").await;
    browser
        .wait_for_text("p", "Купить, шт.: целое число от 1 до 10000")
        .await;
    let kept = (
        browser.value_of("#promo-buy").await,
        browser.value_of("#promo-name").await,
        browser.value_of("#promo-reward-kind").await,
    );
    browser
        .ensure(
            kept == (
                "два".into(),
                "Сладости 3 по цене 2".into(),
                "buy_x_get_y".into(),
            ),
            format!("the values typed are kept: {kept:?}"),
        )
        .await;
    assert_eq!(current(&server, merchant).await.0, 1, "nothing published");
    browser.type_into("#promo-buy", "2").await;
    browser.click_button("Опубликовать на всех кассах").await;
    browser
        .wait_for_text("p", "Опубликована версия правил 2")
        .await;

    // Double points on Friday and Saturday evenings, store time.
    browser.type_into("#promo-id", "evening-x2").await;
    browser.type_into("#promo-name", "Вечером баллы ×2").await;
    browser
        .click_xpath(
            "//input[@name='target_kind'][@value='basket']",
            "the whole check",
        )
        .await;
    browser
        .choose("#promo-reward-kind", "Умножение баллов")
        .await;
    browser.type_into("#promo-multiplier", "200").await;
    browser.type_into("#promo-hours", "18:00–21:00").await;
    browser.click("input[name=wd_fri]").await;
    browser.click("input[name=wd_sat]").await;
    browser.click_button("Опубликовать на всех кассах").await;
    browser
        .wait_for_text("p", "Опубликована версия правил 3")
        .await;
    browser.wait_for_text("td", "Вечером баллы ×2").await;
    let (_, before_switch) = current(&server, merchant).await;

    // Another kind chosen for the yogurt three for two of the sample: the
    // reward is replaced, the rest kept.
    browser
        .click_xpath(
            "//tr[@data-promotion='yogurt-3for2']//a[normalize-space(.)='Изменить']",
            "«Изменить» of yogurt-3for2",
        )
        .await;
    browser.wait_for_text("h3", "Изменить акцию").await;
    browser
        .choose("#promo-reward-kind", "Скидка на каждый N-й товар")
        .await;
    browser.type_into("#promo-nth", "2").await;
    browser.type_into("#promo-nth-percent", "50").await;
    browser.click_button("Опубликовать на всех кассах").await;
    browser
        .wait_for_text("p", "Опубликована версия правил 4")
        .await;
    browser.close().await;
    let (_, switched) = current(&server, merchant).await;
    let yogurt = promotion(&before_switch, "yogurt-3for2").clone();
    assert_eq!(
        promotion(&switched, "yogurt-3for2"),
        &Promotion {
            reward: serde_json::from_value(json!({"kind": "nth_item", "n": 2, "percent": 5000}))
                .expect("a reward"),
            ..yogurt
        }
    );

    let (version, ruleset) = current(&server, merchant).await;
    assert_eq!(version, 4);
    let expected =
        |value: Value| -> Promotion { serde_json::from_value(value).expect("a promotion") };
    assert_eq!(
        promotion(&ruleset, "sweets-3for2"),
        &expected(json!({
            "id": "sweets-3for2", "name": "Сладости 3 по цене 2",
            "target": {"kind": "categories", "categories": ["sweets"]},
            "reward": {"kind": "buy_x_get_y", "buy": 2, "get": 1, "percent": 10000}
        }))
    );
    assert_eq!(
        promotion(&ruleset, "evening-x2"),
        &expected(json!({
            "id": "evening-x2", "name": "Вечером баллы ×2",
            "target": {"kind": "basket"},
            "reward": {"kind": "points_multiplier", "percent": 200},
            "conditions": {"schedule": {"weekdays": ["fri", "sat"],
                                        "hours": [{"from": "18:00:00", "to": "21:00:00"}]}}
        }))
    );

    // The engine prices them as meant: three bars for two, and on a
    // Friday evening in Moscow twice the points of Friday noon.
    let engine = Engine::new(ruleset).expect("the published rules are valid");
    let basket = [line("4600000000097", "sweets", 3, 10_000)];
    let price_at = |at: &str| {
        let mut ctx = PricingContext::new(
            StoreId::new(store.id.get()).expect("a store"),
            at.parse::<DateTime<Utc>>().expect("an instant"),
        );
        ctx.timezone = "Europe/Moscow".into();
        engine
            .price(&basket, Some(&CustomerStanding::default()), &ctx)
            .expect("priced")
    };
    // 2026-12-04 is a Friday: 18:30 and 12:00 in Moscow (UTC+3).
    let evening = price_at("2026-12-04T15:30:00Z");
    let noon = price_at("2026-12-04T09:00:00Z");
    for check in [&evening, &noon] {
        assert_eq!(check.discount.minor(), 10_000, "one bar of three free");
        assert_eq!(check.total.minor(), 20_000);
    }
    assert!(noon.points_earned > 0, "{noon:?}");
    assert_eq!(evening.points_earned, 2 * noon.points_earned, "{evening:?}");
}

/// The Quick start demo's rules (`tests/src/scenario.rs`: `programme`
/// with the dairy week, the bread, the happy hour and the chocolate three
/// for two), as the admin API takes them.
fn demo_ruleset() -> Value {
    json!({
        "currency": "RUB",
        "programme": {
            "tiers": [
                {"name": "Bronze", "min_lifetime_spend": 0, "discount": 0},
                {"name": "Silver", "min_lifetime_spend": 2000000, "discount": 300},
                {"name": "Gold", "min_lifetime_spend": 8000000, "discount": 700}
            ],
            "earn": {"per": 10000, "points": 1, "excluded_categories": ["tobacco"]},
            "redemption": {"points": 1, "value": 100, "max_share": 5000, "min_balance": 10}
        },
        "promotions": [
            {"id": "dairy-10", "name": "Молочная неделя −10%",
             "description": "Скидка 10% на молочные продукты",
             "target": {"kind": "categories", "categories": ["dairy"]},
             "reward": {"kind": "percent_off", "percent": 1000}, "combines_with_tier": true},
            {"id": "borodinsky-20", "name": "Бородинский −20%",
             "description": "Хлебозавод №1 дарит скидку 20%",
             "target": {"kind": "skus", "skus": ["4600000000042"]},
             "reward": {"kind": "percent_off", "percent": 2000},
             "priority": 10, "funded_by": "Хлебозавод №1"},
            {"id": "coffee-happy-hour", "name": "Кофейный час −25%",
             "description": "Скидка 25% на кофе в счастливые часы",
             "target": {"kind": "categories", "categories": ["grocery"]},
             "reward": {"kind": "percent_off", "percent": 2500}, "combines_with_tier": true,
             "exclude": {"skus": ["4600000000073"]},
             "conditions": {"schedule": {"hours": [{"from": "17:00:00", "to": "19:00:00"}]}}},
            {"id": "chocolate-3for2", "name": "Шоколад 3 по цене 2",
             "description": "Третья плитка в подарок",
             "target": {"kind": "categories", "categories": ["sweets"]},
             "reward": {"kind": "buy_x_get_y", "buy": 2, "get": 1}, "combines_with_tier": true}
        ]
    })
}

#[tokio::test]
async fn every_sample_and_demo_promotion_saved_unchanged_in_chromium_publishes_nothing() {
    let server = TestServer::spawn().await;
    let mut browser = Browser::start("every_sample_and_demo_promotion_saved_unchanged").await;
    sign_in(&mut browser, &server).await;
    let mut merchants = Vec::new();
    for (key, zone) in [
        ("grocery", "Europe/Moscow"),
        ("cafe", "Asia/Vladivostok"),
        ("clothing", "Europe/Kaliningrad"),
    ] {
        let merchant = server.merchant(key).await.id;
        server.store(merchant, "Тверская", zone).await;
        start_from_sample(&mut browser, &server, merchant, key).await;
        merchants.push(merchant);
    }
    let demo = server.merchant("demo").await.id;
    server.store(demo, "Тверская", "Asia/Yekaterinburg").await;
    let (status, body) = server.publish(demo, demo_ruleset()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    merchants.push(demo);

    let mut opened = 0;
    for merchant in merchants {
        let before = current(&server, merchant).await;
        assert!(!before.1.promotions.is_empty());
        for p in &before.1.promotions {
            let id = p.id.as_str();
            browser
                .open(&format!("{}/hq/merchants/{merchant}/setup", server.base))
                .await;
            browser
                .click_xpath(
                    &format!("//tr[@data-promotion='{id}']//a[normalize-space(.)='Изменить']"),
                    &format!("«Изменить» of {id}"),
                )
                .await;
            browser.wait_for_text("h3", "Изменить акцию").await;
            let code = browser.value_of("#promo-id").await;
            browser
                .ensure(code == id, format!("the form holds {id}: {code}"))
                .await;
            browser.click_button("Опубликовать на всех кассах").await;
            browser
                .wait_for_text("p", &format!("Акция {id} не изменилась"))
                .await;
            opened += 1;
        }
        assert_eq!(
            current(&server, merchant).await,
            before,
            "merchant {merchant}: no new version, the same rules"
        );
    }
    assert!(
        opened >= 15,
        "every promotion of three samples and the demo: {opened}"
    );
    browser.close().await;
}
