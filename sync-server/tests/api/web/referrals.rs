//! Referrals (issue 14) in a real Chromium with a real SMTP server: the
//! referrer's phone page hands out a share link carrying their referral
//! code; a friend follows it, is refused when they give the referrer's own
//! address, signs up with the code from their mail, and buys (a signed
//! record over the real HTTP API); once the purchase's points clear the
//! pending period on the server's clock, both are credited the
//! programme's reward exactly once, even when the reward runs again. The
//! same phone is not referred twice; HQ sees the referral per customer
//! and per offer.

use std::sync::Arc;
use std::time::Duration;

use test_kit::poll::Deadline;

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shared::ids::CustomerId;
use sync_server::clock::{Clock as _, ManualClock};
use sync_server::wire::admin::{AdjustmentKind, CustomerView};

use super::chrome::Browser;
use super::messaging::{notify, smtp_sink, wait_for_mail};
use super::{Hq, figure, no_redirects};
use crate::helpers::{Purchase, TestServer, merchant_with_till, promotion};

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// Pending 14 days; 300 points to the referrer and 150 to the friend; one
/// offer running.
fn rules() -> Value {
    json!({
        "currency": "RUB",
        "programme": {
            "earn": {"per": 10000, "points": 1},
            "points_pending_days": 14,
            "referral_reward": {"referrer_points": 300, "friend_points": 150}
        },
        "promotions": [promotion("milk")]
    })
}

async fn view(server: &TestServer, id: CustomerId) -> CustomerView {
    server
        .admin_ok(Method::GET, &format!("/api/v1/admin/customers/{id}"), None)
        .await
}

/// Waits until `done` holds of the customer's view (the reward task runs
/// on its own).
async fn wait_view(
    server: &TestServer,
    id: CustomerId,
    what: &str,
    done: impl Fn(&CustomerView) -> bool,
) -> CustomerView {
    let deadline = Deadline::after(Duration::from_secs(60));
    loop {
        let v = view(server, id).await;
        if done(&v) {
            return v;
        }
        if let Err(e) = deadline.tick(|| format!("{what}: {v:?}")).await {
            panic!("{e}");
        }
    }
}

fn referral_credits(v: &CustomerView) -> Vec<i64> {
    v.adjustments
        .iter()
        .filter(|a| a.kind == AdjustmentKind::Referral)
        .map(|a| a.points)
        .collect()
}

#[tokio::test]
async fn a_friend_who_signs_up_through_a_share_link_and_buys_earns_both_the_reward_once() {
    let smtp = smtp_sink();
    let clock = Arc::new(ManualClock::new(at("2026-03-20T09:00:00Z")));
    let server = TestServer::spawn_with_clock_and_notify(clock.clone(), notify(&smtp)).await;
    let (merchant, _, mut till) = merchant_with_till(&server, 7).await;
    let m = merchant.id;
    assert_eq!(server.publish(m, rules()).await.0, StatusCode::CREATED);
    let anna = server
        .customer(
            m,
            json!({"name": "Анна Петрова", "phone": "+79161234567", "email": "anna@example.com"}),
        )
        .await;
    let link: Value = server
        .admin_ok(
            Method::POST,
            &format!("/api/v1/admin/customers/{}/link", anna.id),
            None,
        )
        .await;
    let page_url = link["url"].as_str().unwrap().to_owned();

    // Anna's page: the offer's share link carries her code, not her id or
    // her page's secret.
    let mut browser = Browser::start("a_friend_signs_up_through_a_share_link").await;
    browser.open(&page_url).await;
    browser.wait_for_text("h2", "Пригласите друга").await;
    let share = browser
        .value_of("article[data-promotion='milk'] .share-link")
        .await;
    let secret = page_url.rsplit('/').next().unwrap().to_owned();
    let code = share.split("ref=").nth(1).unwrap_or_default().to_owned();
    browser
        .ensure(
            share.contains(&format!("/join/{m}?offer=milk&ref="))
                && code.len() == 10
                && !share.contains(&secret)
                && code != anna.id.to_string()
                && code != anna.card_number.to_string(),
            format!("the share link {share}"),
        )
        .await;

    // Anna follows her own link: refused, and told why.
    browser.open(&share).await;
    browser.wait_for_text("p", "по приглашению друга").await;
    browser.type_into("#join-name", "Анна").await;
    browser.type_into("#join-email", "anna@example.com").await;
    browser.click("input[name=consent]").await;
    browser.click_button("Получить карту").await;
    browser
        .wait_for_text("p", "нельзя пригласить самого себя")
        .await;

    // Boris, her friend, follows it and signs up with the code he is sent.
    browser.open(&share).await;
    browser.wait_for_text("h2", "Milk -10%").await;
    browser.type_into("#join-name", "Борис").await;
    browser.type_into("#join-phone", "+7 916 000-00-02").await;
    browser.type_into("#join-email", "boris@example.com").await;
    browser.click("input[name=consent]").await;
    browser.click_button("Получить карту").await;
    browser.wait_for_text("h1", "Подтвердите адрес").await;
    let mail = wait_for_mail(&smtp, "boris@example.com", |m| m.code().is_some()).await;
    browser
        .type_into("#join-code", &mail.code().expect("a code"))
        .await;
    browser.click_button("Подтвердить").await;
    browser.wait_for_text("h1", "Здравствуйте, Борис!").await;
    browser.close().await;
    let boris = CustomerId::new(
        server.count_rows("SELECT id FROM customers WHERE email = 'boris@example.com'"),
    )
    .unwrap();

    // The same phone through the link again: refused with its reason.
    let again = no_redirects()
        .post(format!("{}/join/{m}", server.base))
        .form(&[
            ("name", "Борис"),
            ("phone", "+79160000002"),
            ("consent", "on"),
            ("ref", code.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        again
            .text()
            .await
            .unwrap()
            .contains("этот телефон уже приглашали"),
    );

    // Boris buys: 50 points, pending 14 days.
    let sale = till.records([Purchase::sale(500_000)
        .by(boris)
        .points(50, 0)
        .priced_with(1)
        .made_at(clock.now())]);
    assert_eq!(till.upload(&sale).await.0, StatusCode::OK);
    let hq = Hq::sign_in(&server).await;
    let (status, html) = hq.get(&format!("/hq/merchants/{m}/referrals")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let row = format!("data-customer=\"{}\"", anna.id);
    assert_eq!(figure(&html, &row, "friends").1, "1");
    assert_eq!(figure(&html, &row, "bought").1, "1");
    assert_eq!(figure(&html, &row, "rewarded").1, "0");
    assert_eq!(figure(&html, "data-offer=\"milk\"", "friends").1, "1");

    // Fourteen days on, the points cleared: both are credited.
    clock.advance(TimeDelta::days(14));
    let anna_view = wait_view(&server, anna.id, "Anna's reward", |v| {
        !referral_credits(v).is_empty()
    })
    .await;
    assert_eq!(referral_credits(&anna_view), vec![300]);
    assert_eq!(anna_view.points_balance, 300);
    let boris_view = wait_view(&server, boris, "Boris's reward", |v| {
        !referral_credits(v).is_empty()
    })
    .await;
    assert_eq!(referral_credits(&boris_view), vec![150]);
    assert_eq!(boris_view.points_balance, 50 + 150);

    // The reward runs again over the same referral (as after a crash
    // between its steps): the keys credit nothing twice.
    server.execute("UPDATE referrals SET rewarded_at = NULL");
    let deadline = Deadline::after(Duration::from_secs(60));
    while server.count_rows("SELECT count(*) FROM referrals WHERE rewarded_at IS NULL") != 0
        && deadline.tick(String::new).await.is_ok()
    {}
    assert_eq!(
        server.count_rows("SELECT count(*) FROM referrals WHERE rewarded_at IS NULL"),
        0,
        "the reward ran again"
    );
    assert_eq!(referral_credits(&view(&server, anna.id).await), vec![300]);
    assert_eq!(view(&server, anna.id).await.points_balance, 300);
    assert_eq!(view(&server, boris).await.points_balance, 200);

    // Two weeks later the morning's session has ended: sign in again.
    let hq = Hq::sign_in(&server).await;
    let (_, html) = hq.get(&format!("/hq/merchants/{m}/referrals")).await;
    assert_eq!(figure(&html, &row, "rewarded").1, "1");
    assert_eq!(figure(&html, "data-offer=\"milk\"", "rewarded").1, "1");
    assert!(html.contains("Борис (№"), "{html}");
}
