//! The pages in Russian and English, in a real Chromium whose person set
//! their browser to English: the browser's own `Accept-Language` picks
//! English, the language switch picks Russian and the choice is kept
//! across pages; a browser left at its Russian setting gets Russian.

use reqwest::StatusCode;
use serde_json::json;

use super::chrome::{Browser, RUSSIAN};
use super::customer::{personal_link, shop_with_customer};
use super::{location, no_redirects};
use crate::helpers::{ADMIN_TOKEN, Purchase, TestServer, merchant_with_till};

/// An English-speaking person's browser languages.
const ENGLISH: &str = "en-US,en";

/// Whether the page's `<html lang>` is `lang`.
async fn page_language_is(browser: &mut Browser, lang: &str) -> bool {
    browser.count_xpath(&format!("/html[@lang='{lang}']")).await == 1
}

#[tokio::test]
async fn an_english_browser_gets_english_pages_and_the_switch_keeps_russian() {
    let server = TestServer::spawn().await;
    let (merchant, _till, customer) = shop_with_customer(&server, "Anna").await;
    let link = personal_link(&server, customer).await;
    let mut browser = Browser::start_in_language("english_customer_pages", ENGLISH).await;

    // The phone page, in English because the browser asks for it.
    browser.open(&link.url).await;
    browser.wait_for_text("h1", "Hello, Anna!").await;
    browser.wait_for_text("h2", "Offers now").await;
    browser.wait_for_text("h2", "Recent purchases").await;
    // Roubles and kopecks, written the English way: 250,00 ₽ is ₽250.00.
    browser.wait_for_text("span", "₽250.00").await;
    let english = page_language_is(&mut browser, "en").await;
    browser.ensure(english, "<html lang=\"en\">").await;

    // Sign-up, in English too.
    browser
        .open(&format!("{}/join/{merchant}", server.base))
        .await;
    browser.wait_for_text("h2", "Get a card").await;
    browser.wait_for_text("label", "Name").await;
    browser.wait_for_text("button", "Get my card").await;

    // The person switches to Russian in the page header.
    browser.click_link("Русский").await;
    browser.wait_for_text("h2", "Заведите карту").await;
    let russian = page_language_is(&mut browser, "ru").await;
    browser
        .ensure(russian, "<html lang=\"ru\"> after the switch")
        .await;
    let url = browser.url().await;
    browser
        .ensure(
            url.ends_with(&format!("/join/{merchant}")),
            format!("the switch returns to the page it was on: {url}"),
        )
        .await;

    // The choice is kept: the next page, and the phone page, are Russian
    // although the browser still asks for English.
    browser
        .click_link("Уже есть карта, но потерялась ссылка?")
        .await;
    browser.wait_for_text("h1", "Вернуть ссылку на карту").await;
    browser.open(&link.url).await;
    browser.wait_for_text("h1", "Здравствуйте, Anna!").await;
    browser.wait_for_text("span", "250,00").await;

    // And back to English from the footer.
    browser
        .click_xpath("//footer//a[normalize-space(.)='English']", "English")
        .await;
    browser.wait_for_text("h1", "Hello, Anna!").await;

    // An English sign-up: its form errors and the new card are English.
    browser
        .open(&format!("{}/join/{merchant}", server.base))
        .await;
    browser.type_into("#join-name", "Bella").await;
    browser.click_button("Get my card").await;
    browser
        .wait_for_text("p", "Phone or e-mail: give at least one")
        .await;
    browser.type_into("#join-phone", "+7 916 765-43-21").await;
    browser.click("input[name=consent]").await;
    browser.click("input[name=marketing_sms]").await;
    browser.click_button("Get my card").await;
    browser.wait_for_text("h1", "Hello, Bella!").await;
    // The consent recorded is the wording the person read, and messages
    // to them will be in English.
    assert_eq!(
        server.count_rows(
            "SELECT count(*) FROM marketing_consents WHERE channel = 'sms' AND locale = 'en' \
             AND wording LIKE 'I agree to receive the shop''s offers and promotions by SMS%'"
        ),
        1
    );

    // An error page follows the language as well.
    browser
        .open(&format!("{}/c/no-such-link", server.base))
        .await;
    browser.wait_for_text("h1", "Page not found").await;
    browser.close().await;
}

#[tokio::test]
async fn hq_signs_in_and_shows_the_dashboard_in_english_to_an_english_browser() {
    let server = TestServer::spawn().await;
    let _shop = shop_with_customer(&server, "Anna").await;
    let mut browser = Browser::start_in_language("english_hq", ENGLISH).await;

    browser.open(&format!("{}/hq", server.base)).await;
    browser.wait_for_text("h1", "Sign in to HQ").await;
    browser.type_into("#token", ADMIN_TOKEN).await;
    browser.click_button("Sign in").await;
    browser.wait_for_text("h1", "Merchants").await;
    browser.click_link("Statistics").await;
    browser.wait_for_text("h1", "statistics").await;
    browser.wait_for_text("h2", "Sales by day").await;
    // Two sales, 250,00 ₽ and 12,50 ₽.
    browser.wait_for_text("dd", "₽262.50").await;
    let english = page_language_is(&mut browser, "en").await;
    browser.ensure(english, "<html lang=\"en\"> in HQ").await;
    browser.click_link("Setup").await;
    browser.wait_for_text("h2", "Stores and registers").await;
    browser.click_link("Analytics").await;
    browser.wait_for_text("h1", "analytics").await;
    browser.wait_for_text("h2", "Revenue over time").await;
    browser.wait_for_text("th", "Revenue, ₽").await;
    browser.click_link("Products").await;
    browser.wait_for_text("h2", "By product").await;

    // The header's switch works in HQ as well.
    browser
        .click_xpath("//header//a[normalize-space(.)='Русский']", "Русский")
        .await;
    browser.wait_for_text("h2", "По товарам").await;
    browser.click_link("Настройка").await;
    browser.wait_for_text("h2", "Магазины и кассы").await;
    browser.click_link("Статистика").await;
    browser.wait_for_text("dd", "262,50").await;
    browser.close().await;
}

#[tokio::test]
async fn a_russian_browser_gets_russian_and_a_page_without_languages_too() {
    let server = TestServer::spawn().await;
    let (merchant, _till, _customer) = shop_with_customer(&server, "Анна").await;
    let mut browser = Browser::start_in_language("russian_customer_pages", RUSSIAN).await;
    browser
        .open(&format!("{}/join/{merchant}", server.base))
        .await;
    browser.wait_for_text("h2", "Заведите карту").await;
    let russian = page_language_is(&mut browser, "ru").await;
    browser.ensure(russian, "<html lang=\"ru\">").await;
    browser.close().await;

    // A client that names no language gets Russian, and the reply says so.
    let response = reqwest::get(format!("{}/join/{merchant}", server.base))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-language"], "ru");
    assert!(
        response.headers()["vary"]
            .to_str()
            .unwrap()
            .contains("Accept-Language")
    );
    let html = response.text().await.unwrap();
    assert!(html.contains("<html lang=\"ru\">"), "{html}");
    assert!(html.contains("Заведите карту"));

    // A notice kept as a message id reads as its text.
    let expired = reqwest::get(format!(
        "{}/join/{merchant}/confirm/no-such-token",
        server.base
    ))
    .await
    .unwrap();
    assert_eq!(expired.status(), StatusCode::GONE);
    let html = expired.text().await.unwrap();
    assert!(
        html.contains("Код устарел или введён неверно слишком много раз"),
        "{html}"
    );

    // The switch keeps the choice in a cookie for the whole site and
    // returns only to a page of this server.
    let http = no_redirects();
    let switched = http
        .get(format!("{}/lang/en?back=/join/{merchant}", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(switched.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&switched), format!("/join/{merchant}"));
    let cookie = switched.headers()["set-cookie"].to_str().unwrap();
    for part in ["lang=en", "Path=/", "SameSite=Lax", "Max-Age="] {
        assert!(cookie.contains(part), "{part} in {cookie}");
    }
    let elsewhere = http
        .get(format!("{}/lang/ru?back=//evil.example/", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&elsewhere), "/hq");
    let unknown = http
        .get(format!("{}/lang/de?back=/hq", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn support_referrals_and_reviews_speak_english_to_an_english_browser() {
    let server = TestServer::spawn().await;
    let (merchant, _, mut till) = merchant_with_till(&server, 1).await;
    let m = merchant.id;
    let anna = server
        .customer(m, json!({"name": "Anna Petrova", "phone": "+79161234567"}))
        .await;
    // No ruleset: the 40 points of this sale are available at once.
    let batch = till.records([Purchase::sale(40_000).by(anna.id).points(40, 0)]);
    assert_eq!(till.upload(&batch).await.0, StatusCode::OK);
    let mut browser = Browser::start_in_language("english_support", ENGLISH).await;

    browser.open(&format!("{}/hq", server.base)).await;
    browser.type_into("#token", ADMIN_TOKEN).await;
    browser.click_button("Sign in").await;
    browser.wait_for_text("h1", "Merchants").await;
    browser
        .open(&format!("{}/hq/merchants/{m}/customers", server.base))
        .await;
    browser.wait_for_text("h1", "Customers").await;
    browser.type_into("#find-customer", "999999").await;
    browser.click_button("Find").await;
    browser
        .wait_for_text(
            "p",
            "Customer: this merchant has no customer with that number",
        )
        .await;
    browser
        .type_into("#find-customer", &anna.id.to_string())
        .await;
    browser.click_button("Find").await;
    browser
        .wait_for_text("h2", &format!("Anna Petrova · № {}", anna.id))
        .await;
    browser.wait_for_text("dt", "Points available").await;
    browser.wait_for_text("td", "Purchase ₽400.00").await;

    // A debit beyond the balance is refused in English, with the figures.
    browser.click("#adjust-debit").await;
    browser.type_into("#adjust-points", "100").await;
    browser
        .type_into("#adjust-reason", "Cashier's mistake")
        .await;
    browser.click_button("Apply").await;
    browser
        .wait_for_text(
            "p",
            "Debit: 40 pts available, 100 pts cannot be debited — the balance cannot go below zero",
        )
        .await;
    browser.type_into("#adjust-points", "many").await;
    browser.click_button("Apply").await;
    browser
        .wait_for_text("p", "Points: a whole number from 1 to 1,000,000")
        .await;
    browser.click("#adjust-credit").await;
    browser.type_into("#adjust-points", "60").await;
    browser.type_into("#adjust-reason", "Long queue").await;
    browser.click_button("Apply").await;
    browser.wait_for_text("td", "Long queue").await;
    browser
        .wait_for_text("h3", "Credits and debits outside purchases")
        .await;

    // The header's new sections, in English too.
    browser.click_link("Referrals").await;
    browser.wait_for_text("h2", "All referrals").await;
    browser.wait_for_text("p", "No referrals yet.").await;
    browser.click_link("Reviews").await;
    browser.wait_for_text("p", "No reviews yet.").await;
    let english = page_language_is(&mut browser, "en").await;
    browser
        .ensure(english, "<html lang=\"en\"> on the reviews page")
        .await;
    browser.close().await;
}
