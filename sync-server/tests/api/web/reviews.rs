//! Review moderation (issue 14) in a real Chromium: a customer's review
//! waits in HQ's queue and is neither shown to other customers nor
//! counted; the merchant approves it with a reply, and the phone pages
//! show both and the dashboard the offer's average rating; hidden, it is
//! gone again.

use reqwest::Method;
use serde_json::Value;

use super::chrome::Browser;
use super::customer::{personal_link, shop_with_customer};
use crate::helpers::{ADMIN_TOKEN, TestServer};

#[tokio::test]
async fn a_review_is_shown_and_rated_only_once_approved_and_carries_the_reply() {
    let server = TestServer::spawn().await;
    let (m, _, anna) = shop_with_customer(&server, "Анна").await;
    let boris: Value = server
        .admin_ok(
            Method::POST,
            &format!("/api/v1/admin/merchants/{m}/customers"),
            Some(serde_json::json!({"name": "Борис", "phone": "+79160000002"})),
        )
        .await;
    let boris = shared::ids::CustomerId::new(boris["id"].as_i64().unwrap()).unwrap();
    let anna_link = personal_link(&server, anna).await;
    let boris_link = personal_link(&server, boris).await;
    let offer = "[data-promotion=milk]";

    // Anna reviews the offer on her phone page.
    let mut browser = Browser::start("a_review_is_moderated").await;
    browser.open(&anna_link.url).await;
    browser
        .click_xpath(
            "//article[@data-promotion='milk']//summary",
            "the review form",
        )
        .await;
    browser
        .click(&format!("{offer} input[name=rating][value='5']"))
        .await;
    browser
        .type_into(&format!("{offer} textarea[name=text]"), "Свежее и вкусное")
        .await;
    browser.click_button("Сохранить отзыв").await;
    browser
        .wait_for_text("p", "Ваш отзыв появится здесь после проверки")
        .await;

    // Boris sees neither the text nor a rating yet.
    browser.open(&boris_link.url).await;
    browser.wait_for_text("p", "Пока без оценок").await;
    let shown = browser
        .count_xpath("//li[contains(., 'Свежее и вкусное')]")
        .await;
    browser
        .ensure(shown == 0, "not shown before approval")
        .await;

    // HQ approves it with a reply.
    browser.open(&format!("{}/hq", server.base)).await;
    browser.type_into("#token", ADMIN_TOKEN).await;
    browser.click_button("Войти").await;
    browser
        .open(&format!("{}/hq/merchants/{m}", server.base))
        .await;
    browser.click_link("Отзывы").await;
    browser.wait_for_text("span", "ждёт проверки").await;
    let row = format!("#review-{anna}-milk");
    browser
        .type_into(&format!("{row} textarea[name=reply]"), "Спасибо, Анна!")
        .await;
    browser.click(&format!("{row} button[value=approve]")).await;
    browser.wait_for_text("td", "опубликован").await;

    // Boris's page shows the review, the reply and the rating.
    browser.open(&boris_link.url).await;
    browser.wait_for_text("li", "Свежее и вкусное").await;
    browser
        .wait_for_text("p", "Ответ магазина: Спасибо, Анна!")
        .await;
    browser.wait_for_text("p", "5,0 из 5 · 1 оц.").await;
    // The dashboard shows the offer's average rating.
    browser
        .open(&format!("{}/hq/merchants/{m}", server.base))
        .await;
    browser.wait_for_text("td", "★ 5,0").await;
    let reviews = browser
        .text_of("#offer-ratings tr[data-promotion=milk] [data-figure=reviews]")
        .await;
    browser
        .ensure(reviews == "1", format!("{reviews} reviews"))
        .await;

    // Hidden, it is gone from the customers' pages and the rating.
    browser
        .open(&format!("{}/hq/merchants/{m}/reviews", server.base))
        .await;
    browser.click(&format!("{row} button[value=hide]")).await;
    browser.wait_for_text("td", "скрыт").await;
    browser.open(&boris_link.url).await;
    browser.wait_for_text("p", "Пока без оценок").await;
    let shown = browser
        .count_xpath("//li[contains(., 'Свежее и вкусное')]")
        .await;
    browser.ensure(shown == 0, "hidden").await;
    browser.close().await;

    let trail: Value = server
        .admin_ok(
            Method::GET,
            &format!("/api/v1/admin/merchants/{m}/audit?action=review.moderate"),
            None,
        )
        .await;
    assert_eq!(trail.as_array().unwrap().len(), 2, "{trail}");
    assert!(
        trail[1]["after"]
            .as_str()
            .unwrap()
            .starts_with("approved; reply: Спасибо, Анна!"),
        "{trail}"
    );
}
