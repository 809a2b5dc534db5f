//! Support adjusts a customer's points in a real Chromium (issue 12), by
//! clicking and typing: a support person finds the customer by number,
//! is refused a debit below zero with the balance in the message, credits
//! points with a reason, and sees them in the balance and the history;
//! the customer's phone page shows them; the audit trail names the person.

use reqwest::Method;
use serde_json::{Value, json};
use sync_server::wire::admin::{AuditView, CustomerView};

use super::chrome::Browser;
use crate::access::{PASSWORD, invite};
use crate::helpers::{Purchase, TestServer, merchant_with_till};

#[tokio::test]
async fn support_credits_points_with_a_reason_and_is_refused_a_debit_below_zero() {
    let server = TestServer::spawn().await;
    let (merchant, _, mut till) = merchant_with_till(&server, 1).await;
    let m = merchant.id;
    let anna = server
        .customer(m, json!({"name": "Анна Петрова", "phone": "+79161234567"}))
        .await;
    // No ruleset yet: the 40 points of this sale are available at once.
    let batch = till.records([Purchase::sale(40_000).by(anna.id).points(40, 0)]);
    assert_eq!(till.upload(&batch).await.0, reqwest::StatusCode::OK);
    let link = invite(&server, m, "help@romashka.example", "support", &[]).await;

    let mut browser = Browser::start("support_adjusts_points").await;
    browser.open(&link.link).await;
    browser.type_into("#new-password", PASSWORD).await;
    browser.type_into("#repeat-password", PASSWORD).await;
    browser.click_button("Сохранить пароль").await;
    browser.wait_for_text("h1", "Вход в HQ").await;
    browser.type_into("#email", "help@romashka.example").await;
    browser.type_into("#password", PASSWORD).await;
    browser.click_button("Войти").await;
    browser.wait_for_text("h1", "Продавцы").await;
    browser
        .open(&format!("{}/hq/merchants/{m}/customers", server.base))
        .await;
    browser.wait_for_text("h1", "Покупатели").await;
    browser
        .type_into("#find-customer", &anna.id.to_string())
        .await;
    browser.click_button("Найти").await;
    browser
        .wait_for_text("h2", &format!("Анна Петрова · № {}", anna.id))
        .await;
    let balance = browser.text_of("#balance").await;
    browser
        .ensure(balance == "40", format!("balance {balance}"))
        .await;

    // A debit of more than is available: refused, the balance in the message.
    browser.click("#adjust-debit").await;
    browser.type_into("#adjust-points", "100").await;
    browser.type_into("#adjust-reason", "Ошибка кассира").await;
    browser.click_button("Провести").await;
    browser
        .wait_for_text(
            "p",
            "Списание: доступно 40 б., списать 100 б. нельзя — баланс не может стать меньше нуля",
        )
        .await;
    let balance = browser.text_of("#balance").await;
    browser
        .ensure(balance == "40", format!("balance {balance}"))
        .await;

    // A credit with a reason.
    browser.click("#adjust-credit").await;
    browser.type_into("#adjust-points", "60").await;
    browser
        .type_into("#adjust-reason", "Компенсация за долгую очередь")
        .await;
    browser.click_button("Провести").await;
    browser
        .wait_for_text("td", "Компенсация за долгую очередь")
        .await;
    let balance = browser.text_of("#balance").await;
    browser
        .ensure(balance == "100", format!("balance {balance}"))
        .await;
    browser.wait_for_text("td", "+60").await;
    browser.wait_for_text("td", "help@romashka.example").await;
    // Without a reason nothing is sent (the field is required), and the
    // server refuses a blank one as well.
    browser.click("#adjust-debit").await;
    browser.type_into("#adjust-points", "10").await;
    browser.type_into("#adjust-reason", "   ").await;
    browser.click_button("Провести").await;
    browser
        .wait_for_text("p", "Причина: обязательна, не длиннее 500 знаков")
        .await;
    let rows = browser
        .count_xpath("//table[@id='adjustments']/tbody/tr")
        .await;
    browser
        .ensure(rows == 1, format!("{rows} adjustments"))
        .await;

    // The customer's phone page shows the credit.
    let link: Value = server
        .admin_ok(
            Method::POST,
            &format!("/api/v1/admin/customers/{}/link", anna.id),
            None,
        )
        .await;
    browser.open(link["url"].as_str().unwrap()).await;
    browser.wait_for_text("dd", "100").await;
    browser
        .wait_for_text("span", "Компенсация за долгую очередь")
        .await;
    browser.wait_for_text("span", "+60 б.").await;
    browser.close().await;

    let view: CustomerView = server
        .admin_ok(
            Method::GET,
            &format!("/api/v1/admin/customers/{}", anna.id),
            None,
        )
        .await;
    assert_eq!(view.points_balance, 100);
    assert_eq!(view.adjustments.len(), 1);
    assert_eq!(view.adjustments[0].actor, "help@romashka.example");
    let trail: Vec<AuditView> = server
        .admin_ok(
            Method::GET,
            &format!("/api/v1/admin/merchants/{m}/audit?action=customer.adjust_points"),
            None,
        )
        .await;
    assert_eq!(trail.len(), 1, "{trail:?}");
    assert_eq!(trail[0].actor, "help@romashka.example");
    assert_eq!(trail[0].before, "balance 40");
    assert!(
        trail[0]
            .after
            .starts_with("balance 100; +60 points, reason: Компенсация за долгую очередь"),
        "{trail:?}"
    );
}

/// Support resolves the points of sales the server priced differently
/// (issue 9, item 9), clicking only: the list names each flagged sale with
/// what differs; voiding one removes it from the list and its points from
/// the customer; releasing the other makes its points available, and the
/// phone page then shows nothing under review.
#[tokio::test]
async fn support_releases_and_voids_the_points_of_flagged_sales_in_chromium() {
    let server = TestServer::spawn().await;
    let (merchant, _, mut till) = merchant_with_till(&server, 1).await;
    let m = merchant.id;
    let anna = server
        .customer(m, json!({"name": "Анна Петрова", "phone": "+79161234567"}))
        .await;
    crate::holds::flagged_sales(&server, m, &mut till, anna.id).await;
    let link = invite(&server, m, "help@romashka.example", "support", &[]).await;

    let mut browser = Browser::start("support_resolves_held_points").await;
    browser.open(&link.link).await;
    browser.type_into("#new-password", PASSWORD).await;
    browser.type_into("#repeat-password", PASSWORD).await;
    browser.click_button("Сохранить пароль").await;
    browser.wait_for_text("h1", "Вход в HQ").await;
    browser.type_into("#email", "help@romashka.example").await;
    browser.type_into("#password", PASSWORD).await;
    browser.click_button("Войти").await;
    browser.wait_for_text("h1", "Продавцы").await;
    browser
        .open(&format!("{}/hq/merchants/{m}/customers", server.base))
        .await;
    browser.wait_for_text("h2", "Баллы на проверке").await;
    browser.wait_for_text("td", "discount: 9999 → 10000").await;
    let rows = browser
        .count_xpath("//table[@id='held-points']/tbody/tr")
        .await;
    browser
        .ensure(rows == 2, format!("{rows} held sales"))
        .await;

    // The customer's card: 5 available, 49 under review.
    browser
        .type_into("#find-customer", &anna.id.to_string())
        .await;
    browser.click_button("Найти").await;
    browser
        .wait_for_text("h2", &format!("Анна Петрова · № {}", anna.id))
        .await;
    let (balance, held) = (
        browser.text_of("#balance").await,
        browser.text_of("[data-figure=points_held]").await,
    );
    browser
        .ensure(
            balance == "5" && held == "49",
            format!("balance {balance}, held {held}"),
        )
        .await;

    // Void the 40 points of seq 3, release the 9 of seq 2.
    browser
        .click("tr[data-sale='1-3'] button[data-action=void]")
        .await;
    browser.wait_for_text("h2", "Баллы на проверке").await;
    let rows = browser
        .count_xpath("//table[@id='held-points']/tbody/tr")
        .await;
    browser
        .ensure(rows == 1, format!("{rows} held sales"))
        .await;
    browser
        .click("tr[data-sale='1-2'] button[data-action=release]")
        .await;
    browser.wait_for_text("p", "Нет продаж на проверке.").await;
    browser
        .type_into("#find-customer", &anna.id.to_string())
        .await;
    browser.click_button("Найти").await;
    browser
        .wait_for_text("h2", &format!("Анна Петрова · № {}", anna.id))
        .await;
    let (balance, held) = (
        browser.text_of("#balance").await,
        browser.text_of("[data-figure=points_held]").await,
    );
    browser
        .ensure(
            balance == "14" && held == "0",
            format!("balance {balance}, held {held}"),
        )
        .await;
    browser.close().await;

    let view: CustomerView = server
        .admin_ok(
            Method::GET,
            &format!("/api/v1/admin/customers/{}", anna.id),
            None,
        )
        .await;
    assert_eq!(view.points_balance, 14);
    assert!(view.points_pending.is_empty());
    let trail: Vec<AuditView> = server
        .admin_ok(
            Method::GET,
            &format!("/api/v1/admin/merchants/{m}/audit?action=points_hold.resolve"),
            None,
        )
        .await;
    assert_eq!(trail.len(), 2, "{trail:?}");
    assert!(trail.iter().all(|t| t.actor == "help@romashka.example"));
}
