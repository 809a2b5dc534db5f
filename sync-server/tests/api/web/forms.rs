//! Every form of the HQ pages and of the public sign-up and review forms,
//! filled in and sent by a person at a real Chromium ([`Browser`]): the
//! outcome is read off the next page and, where it is stored, back through
//! the admin API or the database.
//!
//! The browser sends its own `Origin`, `Referer` and `Sec-Fetch-Site`: these
//! tests are what caught every form but sign-in being refused with 403
//! under `Referrer-Policy: no-referrer` (Chromium then posts `Origin: null`).

use axum::response::Html;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use shared::crypto::SigningKey;
use shared::ids::MerchantId;
use shared::ruleset::Ruleset;

use super::chrome::Browser;
use crate::helpers::{ADMIN_TOKEN, TestServer, promotion, ruleset};

/// The current ruleset of a merchant through the admin API.
async fn current_ruleset(server: &TestServer, merchant: MerchantId) -> Value {
    let (status, body) = server
        .admin(
            Method::GET,
            &format!("/api/v1/admin/merchants/{merchant}/ruleset"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// The promotion `id` of a ruleset as the admin API shows it.
fn promotion_in<'a>(current: &'a Value, id: &str) -> &'a Value {
    current["ruleset"]["promotions"]
        .as_array()
        .and_then(|all| all.iter().find(|p| p["id"] == id))
        .unwrap_or_else(|| panic!("no promotion {id} in {current}"))
}

/// Signs in at `/hq` by typing the admin token.
async fn sign_in(browser: &mut Browser, server: &TestServer) {
    browser.open(&format!("{}/hq", server.base)).await;
    browser.type_into("#token", ADMIN_TOKEN).await;
    browser.click_button("Войти").await;
    browser.wait_for_text("h1", "Продавцы").await;
}

#[tokio::test]
async fn hq_sets_up_a_merchant_by_clicking_and_typing_in_chromium() {
    let server = TestServer::spawn().await;
    let mut browser = Browser::start("hq_sets_up_a_merchant").await;
    sign_in(&mut browser, &server).await;

    // A new merchant.
    browser.type_into("#merchant-name", "Ромашка").await;
    browser.click_button("Создать").await;
    browser.wait_for_text("h1", "Ромашка: настройка").await;
    browser.open(&format!("{}/hq", server.base)).await;
    browser.wait_for_text("td", "Ромашка").await;
    browser.click_link("Настройка").await;
    browser.wait_for_text("h1", "Ромашка: настройка").await;
    let url = browser.url().await;
    let merchant: MerchantId = url
        .split("/hq/merchants/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|id| id.parse::<i64>().ok())
        .and_then(|id| MerchantId::new(id).ok())
        .unwrap_or_else(|| panic!("the set-up page's address names the merchant: {url}"));

    // A brand, then a store of that brand.
    browser.type_into("#brand-name", "Ромашка у дома").await;
    browser.click_button("Добавить бренд").await;
    browser.wait_for_text("li", "Ромашка у дома").await;
    browser.type_into("#store-name", "Тверская").await;
    browser
        .click_xpath(
            "//select[@id='store-brand']/option[normalize-space(.)='Ромашка у дома']",
            "the brand",
        )
        .await;
    browser.type_into("#store-timezone", "Europe/Moscow").await;
    browser.click_button("Добавить магазин").await;
    browser.wait_for_text("td", "Тверская").await;
    let brand_shown = browser.text_of("#stores tbody tr").await;
    browser
        .ensure(
            brand_shown.contains("Ромашка у дома"),
            format!("the store is of the brand: {brand_shown}"),
        )
        .await;

    // A one-time register token, which a till then enrolls with.
    browser.click_button("Выпустить токен кассы").await;
    browser.wait_for_text("h1", "Токен регистрации кассы").await;
    let token = browser.value_of("#secret").await;
    let (status, body) = server
        .enroll_with(&token, &SigningKey::from_seed(&[7; 32]).expect("a key"))
        .await;
    browser
        .ensure(
            status.is_success(),
            format!("the token shown enrolls a till: {status} {body}"),
        )
        .await;
    browser.click_link("← Вернуться к настройке").await;
    browser.wait_for_text("h1", "Ромашка: настройка").await;

    // The programme from a sample, then a promotion published from the form.
    browser
        .click_xpath("//input[@name='sample'][@value='cafe']", "the café sample")
        .await;
    browser.click_button("Начать с образца").await;
    browser
        .wait_for_text("p", "Опубликована версия правил 1")
        .await;
    browser.wait_for_text("td", "Утренний кофе −20 %").await;
    let stored = current_ruleset(&server, merchant).await;
    let typed =
        |json: &Value| -> Ruleset { serde_json::from_value(json.clone()).expect("a ruleset") };
    let cafe: Value = serde_json::from_str(include_str!("../../../examples/rulesets/cafe.json"))
        .expect("the café sample");
    assert_eq!(
        typed(&stored["ruleset"]),
        typed(&cafe),
        "published as it is"
    );
    browser.type_into("#promo-id", "milk-15").await;
    browser.type_into("#promo-name", "Молоко −15 %").await;
    browser.type_into("#promo-targets", "4601234567893").await;
    browser.type_into("#promo-percent", "15").await;
    browser.click_button("Опубликовать на всех кассах").await;
    browser
        .wait_for_text("p", "Опубликована версия правил 2")
        .await;
    browser.wait_for_text("td", "Молоко −15 %").await;
    let stored = current_ruleset(&server, merchant).await;
    assert_eq!(stored["version"], 2);
    assert_eq!(promotion_in(&stored, "milk-15")["reward"]["percent"], 1500);

    // Changed through «Изменить».
    browser
        .click_xpath(
            "//tr[@data-promotion='milk-15']//a[normalize-space(.)='Изменить']",
            "«Изменить» of milk-15",
        )
        .await;
    browser.wait_for_text("h3", "Изменить акцию").await;
    browser.type_into("#promo-percent", "20").await;
    browser.click_button("Опубликовать на всех кассах").await;
    browser
        .wait_for_text("p", "Опубликована версия правил 3")
        .await;
    let stored = current_ruleset(&server, merchant).await;
    assert_eq!(promotion_in(&stored, "milk-15")["reward"]["percent"], 2000);
    assert_eq!(promotion_in(&stored, "milk-15")["name"], "Молоко −15 %");
    assert_eq!(
        stored["ruleset"]["promotions"].as_array().map(Vec::len),
        Some(4),
        "the café's three and this one"
    );

    // A customer's personal link.
    let customer = server
        .customer(
            merchant,
            serde_json::json!({"name": "Анна", "phone": "+79161234567"}),
        )
        .await;
    browser
        .type_into("#link-customer", &customer.id.to_string())
        .await;
    browser.click_button("Выдать ссылку").await;
    browser
        .wait_for_text("h1", "Персональная ссылка покупателя")
        .await;
    let link = browser.value_of("#secret").await;
    browser
        .ensure(
            link.starts_with(&format!("{}/c/", server.base)),
            format!("a personal link on this server: {link}"),
        )
        .await;
    browser.open(&link).await;
    browser.wait_for_text("h1", "Здравствуйте, Анна!").await;

    // Signing out ends the session.
    browser
        .open(&format!("{}/hq/merchants/{merchant}/setup", server.base))
        .await;
    browser.click_button("Выйти").await;
    browser.wait_for("#token").await;
    assert_eq!(server.count_rows("SELECT count(*) FROM admin_sessions"), 0);
    browser.close().await;
}

/// A merchant with a store and a ruleset with one promotion, `milk`.
async fn shop_with_offer(server: &TestServer) -> MerchantId {
    let merchant = server.merchant("Ромашка").await;
    server.store(merchant.id, "Тверская", "Europe/Moscow").await;
    let mut rules = ruleset();
    rules["promotions"] = serde_json::json!([promotion("milk")]);
    assert_eq!(
        server.publish(merchant.id, rules).await.0,
        StatusCode::CREATED
    );
    merchant.id
}

#[tokio::test]
async fn a_customer_signs_up_and_reviews_an_offer_in_chromium() {
    let server = TestServer::spawn().await;
    let merchant = shop_with_offer(&server).await;
    let mut browser = Browser::start("a_customer_signs_up_and_reviews").await;

    browser
        .open(&format!("{}/join/{merchant}", server.base))
        .await;
    browser.type_into("#join-name", "Анна").await;
    browser.type_into("#join-phone", "+7 916 123-45-67").await;
    browser.click("input[name=consent]").await;
    browser.click_button("Получить карту").await;
    browser.wait_for_text("h1", "Здравствуйте, Анна!").await;
    let page = browser.url().await;
    browser
        .ensure(
            page.contains("/c/"),
            format!("sent to the new personal page: {page}"),
        )
        .await;
    assert_eq!(
        server.count_rows("SELECT count(*) FROM customers WHERE name = 'Анна'"),
        1
    );

    browser.click_xpath("//summary", "the review form").await;
    browser
        .click("[data-promotion=milk] input[name=rating][value='4']")
        .await;
    browser
        .type_into("[data-promotion=milk] textarea[name=text]", "Свежее молоко")
        .await;
    browser.click_button("Сохранить отзыв").await;
    browser
        .wait_for_text("summary", "Ваша оценка: 4 из 5")
        .await;
    assert_eq!(
        server.count_rows(
            "SELECT count(*) FROM offer_reviews WHERE rating = 4 AND body = 'Свежее молоко'"
        ),
        1
    );
    browser.close().await;
}

#[tokio::test]
async fn a_form_on_another_site_is_refused_in_chromium() {
    let server = TestServer::spawn().await;
    let merchant = shop_with_offer(&server).await;
    // Another site (`localhost` is not the same site as `127.0.0.1`) with a
    // sign-up form that posts to this server.
    let page = format!(
        "<!doctype html><title>Призы</title>\
         <form method=post action=\"{}/join/{merchant}\">\
         <input type=hidden name=name value=Мошенник>\
         <input type=hidden name=phone value=\"+79160000000\">\
         <input type=hidden name=consent value=on>\
         <button type=submit>Забрать приз</button></form>",
        server.base
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let page = page.clone();
            async move { Html(page) }
        }),
    );
    let serving = tokio::spawn(async move { axum::serve(listener, app).await });

    let mut browser = Browser::start("a_form_on_another_site_is_refused").await;
    browser.open(&format!("http://localhost:{port}/")).await;
    browser.click_button("Забрать приз").await;
    browser.wait_for_text("h1", "Форма отклонена").await;
    assert_eq!(
        server.count_rows("SELECT count(*) FROM customers WHERE name = 'Мошенник'"),
        0
    );
    serving.abort();
    browser.close().await;
}

#[tokio::test]
async fn a_happy_hour_3_for_2_saved_unchanged_in_chromium_stays_as_it_was() {
    let server = TestServer::spawn().await;
    let merchant = server.merchant("Ромашка").await.id;
    server.store(merchant, "Тверская", "Europe/Moscow").await;
    let happy_hour = serde_json::json!({
        "id": "happy-3for2", "name": "Счастливые часы: 3 по цене 2",
        "target": {"kind": "categories", "categories": ["dairy"]},
        "reward": {"kind": "buy_x_get_y", "buy": 2, "get": 1},
        "starts_at": "2026-01-01T06:00:30Z",
        "stores": [1], "priority": 5, "coupon": "HAPPY",
        "conditions": {"schedule": {"hours": [{"from": "17:00:00", "to": "19:00:00"}]}},
        "limits": {"per_check": 1}
    });
    let mut rules = ruleset();
    rules["promotions"] = serde_json::json!([happy_hour]);
    let (status, body) = server.publish(merchant, rules).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let before = current_ruleset(&server, merchant).await;

    let mut browser = Browser::start("a_happy_hour_3_for_2_saved_unchanged").await;
    sign_in(&mut browser, &server).await;
    browser
        .open(&format!("{}/hq/merchants/{merchant}/setup", server.base))
        .await;
    browser.click_link("Изменить").await;
    browser.wait_for_text("h3", "Изменить акцию").await;
    browser.click_button("Опубликовать на всех кассах").await;
    browser.wait_for_text("p", "не изменилась").await;
    assert_eq!(
        current_ruleset(&server, merchant).await,
        before,
        "nothing published"
    );

    // A new name keeps the hours, the reward and all the rest.
    browser.click_link("Изменить").await;
    browser.wait_for_text("h3", "Изменить акцию").await;
    browser.wait_for_text("p", "Сейчас: ").await;
    browser.type_into("#promo-name", "Вечер: 3 по цене 2").await;
    browser.click_button("Опубликовать на всех кассах").await;
    browser
        .wait_for_text("p", "Опубликована версия правил 2")
        .await;
    let after = current_ruleset(&server, merchant).await;
    let mut expected = before["ruleset"]["promotions"][0].clone();
    expected["name"] = "Вечер: 3 по цене 2".into();
    assert_eq!(after["ruleset"]["promotions"][0], expected);
    browser.close().await;
}

/// The fleet on the dashboard: a register's heartbeat shows its last
/// contact, backlog and alarms; HQ revokes it by ticking the confirmation
/// and clicking, and its uploads are refused from then on.
#[tokio::test]
async fn hq_sees_a_registers_heartbeat_and_revokes_it_after_confirming_in_chromium() {
    use shared::wire::{PROTOCOL_HEADER, PROTOCOL_VERSION};

    let server = TestServer::spawn().await;
    let (merchant, _, mut till) = crate::helpers::merchant_with_till(&server, 9).await;
    let beat = server
        .http
        .post(format!("{}/api/v1/heartbeat", server.base))
        .bearer_auth(till.bearer())
        .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
        .json(&serde_json::json!({
            "agent_version": "9.9.9",
            "backlog": 17,
            "dead_letters": 2,
            "ruleset_version": null,
            "alarms": ["сканер недоступен"]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(beat.status(), StatusCode::OK);
    let reply: Value = beat.json().await.unwrap();
    assert_eq!(
        reply,
        serde_json::json!({"minimum_agent_version": null, "below_minimum": false, "key_seq": 0})
    );
    let registers: Value = server
        .admin_ok(
            Method::GET,
            &format!("/api/v1/admin/merchants/{}/registers", merchant.id),
            None,
        )
        .await;
    assert_eq!(registers[0]["agent_version"], "9.9.9");
    assert_eq!(registers[0]["heartbeat"]["backlog"], 17);

    let mut browser = Browser::start("hq_revokes_a_register").await;
    sign_in(&mut browser, &server).await;
    browser
        .open(&format!("{}/hq/merchants/{}", server.base, merchant.id))
        .await;
    browser.wait_for_text("td", "сканер недоступен").await;
    browser.wait_for_text("td", "отказано записей: 2").await;
    // Without the confirmation the browser itself refuses to send.
    browser.click_button("Отозвать").await;
    browser.wait_for_text("td", "работает").await;
    browser.click("input[name=confirm]").await;
    browser.click_button("Отозвать").await;
    browser.wait_for_text("td", "отозвана").await;

    let registers: Value = server
        .admin_ok(
            Method::GET,
            &format!("/api/v1/admin/merchants/{}/registers", merchant.id),
            None,
        )
        .await;
    assert_eq!(registers[0]["revoked"], true);
    let records = till.records([crate::helpers::Purchase::sale(100)]);
    let (status, _) = till.upload(&records).await;
    assert!(
        status.is_client_error(),
        "a revoked register uploads nothing: {status}"
    );
    browser.close().await;
}
