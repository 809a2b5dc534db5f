//! Draft → what-if → publish in a real Chromium (issue 11): a person fills
//! the promotion form, clicks «Сохранить черновик», runs the draft's
//! what-if over the sales the tills uploaded, reads its figures, and
//! publishes it with one click; the merchant's rules then hold it.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shared::ids::{RulesetVersion, Sku};
use shared::pricing::CustomerStanding;
use shared::record::PricingInputs;

use super::chrome::Browser;
use crate::helpers::{ADMIN_TOKEN, Purchase, TestServer, merchant_with_till, promotion, ruleset};

#[tokio::test]
async fn a_draft_is_saved_tried_on_past_sales_and_published_by_clicking_in_chromium() {
    let server = TestServer::spawn().await;
    let (merchant, _, mut till) = merchant_with_till(&server, 3).await;
    let customer = server
        .customer(
            merchant.id,
            json!({"name": "Анна", "phone": "+79160000001"}),
        )
        .await;
    let mut rules = ruleset();
    rules["promotions"] = json!([promotion("milk-10")]);
    let (status, reply) = server.publish(merchant.id, rules).await;
    assert!(status.is_success(), "{reply}");
    // Sales of the last hours: three checks of milk at 100 roubles (one of
    // them Анна's) and one of bread.
    let hours_ago = |h: i64| chrono::Utc::now() - chrono::TimeDelta::hours(h);
    let mut records = Vec::new();
    for (i, milk) in [true, true, true, false].into_iter().enumerate() {
        let hours = i64::try_from(i).expect("hours") + 1;
        let mut p = Purchase::sale(10_000).made_at(hours_ago(hours));
        if i == 0 {
            p = p.by(customer.id);
        }
        let (signed, _) = till.record_edited(p, |r| {
            r.ruleset_version = Some(RulesetVersion::new(1).expect("version"));
            if !milk {
                r.lines[0].sku = Sku::parse("4601234567894").expect("sku");
            }
            r.pricing_inputs = Some(PricingInputs {
                standing: (i == 0).then(CustomerStanding::default),
                ..PricingInputs::default()
            });
        });
        records.push(signed);
    }
    let (status, reply) = till.upload(&records).await;
    assert!(status.is_success(), "{reply}");

    let mut browser = Browser::start("draft_what_if_publish").await;
    browser.open(&format!("{}/hq", server.base)).await;
    browser.type_into("#token", ADMIN_TOKEN).await;
    browser.click_button("Войти").await;
    browser.wait_for_text("h1", "Продавцы").await;
    browser
        .open(&format!(
            "{}/hq/merchants/{}/setup#promotion-form",
            server.base, merchant.id
        ))
        .await;
    browser.type_into("#promo-id", "milk-20").await;
    browser.type_into("#promo-name", "Молоко −20 %").await;
    browser.type_into("#promo-targets", "4601234567893").await;
    browser.type_into("#promo-percent", "20").await;
    browser.click_button("Сохранить черновик").await;
    browser.wait_for_text("h1", "Черновик: Молоко −20 %").await;
    // Saved, not published.
    let current = current_ruleset(&server, merchant.id).await;
    assert_eq!(current["version"], 1, "a draft reaches no till");

    // The drafts page lists it; it opens from there.
    browser.click_link("← Все черновики").await;
    browser.wait_for_text("td", "Молоко −20 %").await;
    browser.click_link("Молоко −20 %").await;
    browser.wait_for_text("h1", "Черновик: Молоко −20 %").await;

    browser.click_button("Рассчитать").await;
    browser.wait_for("#what-if-summary").await;
    let touched = browser
        .text_of("#what-if-summary [data-figure='checks_touched']")
        .await;
    let customers = browser
        .text_of("#what-if-summary [data-figure='customers_touched']")
        .await;
    let cost = browser
        .text_of("#what-if-summary [data-figure='cost']")
        .await;
    let change = browser
        .text_of("#what-if-summary [data-figure='discount_change']")
        .await;
    let displaced = browser
        .text_of("#what-if-displaced tr[data-promotion='milk-10'] [data-figure='checks']")
        .await;
    browser
        .ensure(
            touched == "3"
                && customers == "1"
                && cost.starts_with("60,00")
                && change.starts_with("30,00")
                && displaced == "3",
            format!(
                "three milk checks at 20 % instead of 10 %: touched {touched}, customers \
                 {customers}, cost {cost}, change {change}, milk-10 displaced on {displaced}"
            ),
        )
        .await;

    browser.click_button("Опубликовать сейчас").await;
    browser.wait_for_text("dd", "опубликован").await;
    let current = current_ruleset(&server, merchant.id).await;
    assert_eq!(current["version"], 2);
    let published = current["ruleset"]["promotions"]
        .as_array()
        .and_then(|all| all.iter().find(|p| p["id"] == "milk-20"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(published["reward"]["percent"], 2000, "{current}");

    // A second draft, thought better of: deleted by its button, gone from
    // the list, and nothing published.
    browser
        .open(&format!(
            "{}/hq/merchants/{}/setup#promotion-form",
            server.base, merchant.id
        ))
        .await;
    browser.type_into("#promo-id", "kefir-50").await;
    browser.type_into("#promo-name", "Кефир −50 %").await;
    browser.type_into("#promo-targets", "4601234567893").await;
    browser.type_into("#promo-percent", "50").await;
    browser.click_button("Сохранить черновик").await;
    browser.wait_for_text("h1", "Черновик: Кефир −50 %").await;
    browser.click("#draft-delete").await;
    browser.wait_for_text("td", "Молоко −20 %").await;
    let left = browser
        .count_xpath("//td[contains(., 'Кефир −50 %')]")
        .await;
    browser
        .ensure(
            left == 0,
            format!("the deleted draft is listed {left} times"),
        )
        .await;
    assert_eq!(current_ruleset(&server, merchant.id).await["version"], 2);
    browser.close().await;
}

async fn current_ruleset(server: &TestServer, merchant: shared::ids::MerchantId) -> Value {
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

/// The draft page's own refusals and its schedule at a local time, over
/// plain HTTP (a client that sends no browser headers).
#[tokio::test]
async fn a_draft_page_schedules_at_a_local_time_and_refuses_by_field() {
    use std::sync::Arc;
    use sync_server::clock::ManualClock;

    use super::{Hq, location};

    let start: chrono::DateTime<chrono::Utc> = "2026-03-29T09:00:00Z".parse().expect("time");
    let clock = Arc::new(ManualClock::new(start));
    let server = TestServer::spawn_with_clock(clock.clone()).await;
    let merchant = server.merchant("Ромашка").await;
    let other = server.merchant("Лютик").await;
    server.store(merchant.id, "Тверская", "Europe/Moscow").await;
    let mut rules = ruleset();
    rules["promotions"] = json!([promotion("milk-10")]);
    let (status, reply) = server.publish(merchant.id, rules).await;
    assert!(status.is_success(), "{reply}");
    let mut draft = promotion("milk-20");
    draft["reward"]["percent"] = json!(2000);
    let (status, body) = server
        .admin(
            Method::POST,
            &format!("/api/v1/admin/merchants/{}/drafts", merchant.id),
            Some(draft),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_i64().expect("an id");
    let hq = Hq::sign_in(&server).await;
    let page = format!("/hq/merchants/{}/drafts/{id}", merchant.id);

    // Another merchant's path does not show it.
    let (status, _) = hq
        .get(&format!("/hq/merchants/{}/drafts/{id}", other.id))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A bad number of days is refused next to its field.
    let (status, html) = hq.get(&format!("{page}?days=0&what_if=1")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("id=\"what-if-days-error\""), "{html}");
    // A local time gone by is refused next to its field.
    let response = hq
        .post(
            &format!("{page}/publish"),
            &[("when", "at"), ("at", "2026-03-29T11:00")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        response
            .text()
            .await
            .expect("body")
            .contains("id=\"publish-at-error\"")
    );

    // 15:30 in Moscow is 12:30 UTC.
    let response = hq
        .post(
            &format!("{page}/publish"),
            &[("when", "at"), ("at", "2026-03-29T15:30")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), page);
    let (_, body) = server
        .admin(
            Method::GET,
            &format!("/api/v1/admin/merchants/{}/drafts/{id}", merchant.id),
            None,
        )
        .await;
    assert_eq!(body["status"], "scheduled", "{body}");
    assert_eq!(body["publish_at"], "2026-03-29T12:30:00Z");
    let (_, html) = hq.get(&page).await;
    assert!(
        html.contains("id=\"draft-scheduled-for\">29.03.2026 15:30"),
        "{html}"
    );

    clock.advance(chrono::TimeDelta::hours(4));
    let deadline = test_kit::poll::Deadline::after(std::time::Duration::from_secs(60));
    let mut published = false;
    loop {
        if current_ruleset(&server, merchant.id).await["version"] == 2 {
            published = true;
            break;
        }
        if deadline.tick(String::new).await.is_err() {
            break;
        }
    }
    assert!(published, "published by the task once its time came");
    let (_, html) = hq.get(&page).await;
    assert!(html.contains("id=\"draft-status\">опубликован"), "{html}");
    assert!(!html.contains("id=\"publish-now\""), "no second publish");
}
