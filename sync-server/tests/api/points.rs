//! Points by batch: pending for the programme's period, then available,
//! expiring by batch, spent oldest first, as the admin view, the registers'
//! change feed and the phone page show them; and the overdraft report of
//! records that left a balance negative, on the API and the HQ dashboard.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shared::points::{ExpiringPoints, OverdraftCause, PendingPoints};
use shared::record::RecordRef;
use shared::wire::sync::CustomerDeltaPage;
use sync_server::clock::ManualClock;
use sync_server::wire::admin::{CustomerView, OverdraftReport};

use crate::helpers::{Purchase, TestServer, merchant_with_till};
use crate::web::Hq;

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// 1 point per 100 ₽, pending 14 days, expiring after 365; points pay.
fn rules() -> Value {
    json!({
        "currency": "RUB",
        "programme": {
            "earn": {"per": 10000, "points": 1},
            "points_pending_days": 14,
            "points_expire_days": 365,
            "redemption": {"points": 1, "value": 100, "max_share": 5000,
                           "offline_cap_points": 50}
        }
    })
}

async fn view(server: &TestServer, id: shared::ids::CustomerId) -> CustomerView {
    server
        .admin_ok(Method::GET, &format!("/api/v1/admin/customers/{id}"), None)
        .await
}

#[tokio::test]
async fn points_are_pending_then_available_and_expire_by_batch_everywhere_they_show() {
    let clock = Arc::new(ManualClock::new(at("2026-03-20T09:00:00Z")));
    let server = TestServer::spawn_with_clock(clock.clone()).await;
    let (merchant, _, mut till) = merchant_with_till(&server, 1).await;
    assert_eq!(
        server.publish(merchant.id, rules()).await.0,
        StatusCode::CREATED
    );
    let anna = server
        .customer(
            merchant.id,
            json!({"name": "Анна", "phone": "+79161234567"}),
        )
        .await;
    let batch = till.records([
        Purchase::sale(1_000_000)
            .by(anna.id)
            .points(100, 0)
            .at("2026-03-01T10:00:00Z"),
        Purchase::sale(300_000)
            .by(anna.id)
            .points(30, 0)
            .at("2026-03-18T10:00:00Z"),
        Purchase::sale(8_000)
            .by(anna.id)
            .points(0, 40)
            .at("2026-03-19T10:00:00Z"),
    ]);
    assert_eq!(till.upload(&batch).await.0, StatusCode::OK);

    let v = view(&server, anna.id).await;
    assert_eq!(v.points_balance, 60, "100 available, 40 spent; 30 pending");
    let pending = vec![PendingPoints {
        points: 30,
        until: at("2026-04-01T10:00:00Z"),
        expires: Some(at("2027-03-18T10:00:00Z")),
        held: false,
    }];
    assert_eq!(v.points_pending, pending);
    assert_eq!(
        v.points_expiring,
        vec![ExpiringPoints {
            points: 60,
            on: at("2027-03-01T10:00:00Z")
        }]
    );

    let page: CustomerDeltaPage = till
        .get("/api/v1/customers/changes?after=0")
        .await
        .json()
        .await
        .unwrap();
    let snapshot = page.customers.iter().find(|c| c.id == anna.id).unwrap();
    assert_eq!(snapshot.points_balance, 60);
    assert_eq!(snapshot.points_pending, pending);
    assert_eq!(snapshot.points_expiring, v.points_expiring);

    let link: Value = server
        .admin_ok(
            Method::POST,
            &format!("/api/v1/admin/customers/{}/link", anna.id),
            None,
        )
        .await;
    let url = link["url"].as_str().unwrap().to_owned();
    let html = reqwest::get(&url).await.unwrap().text().await.unwrap();
    assert!(html.contains("data-figure=\"points\">60<"), "{html}");
    assert!(
        html.contains("data-figure=\"pending\">30 б. в ожидании до 01.04.2026<"),
        "{html}"
    );
    assert!(
        html.contains("data-figure=\"expiring\">60 б. сгорят 01.03.2027<"),
        "{html}"
    );

    // Two weeks on the 30 are available; a year on the first batch expired.
    clock.advance(TimeDelta::days(13));
    let v = view(&server, anna.id).await;
    assert_eq!((v.points_balance, v.points_pending.len()), (90, 0));
    clock.advance(TimeDelta::days(334));
    let v = view(&server, anna.id).await;
    assert_eq!((v.points_balance, v.points_expired), (30, 60));
    assert_eq!(
        v.points_expiring,
        vec![ExpiringPoints {
            points: 30,
            on: at("2027-03-18T10:00:00Z")
        }]
    );
}

#[tokio::test]
async fn records_that_overdraw_are_kept_and_listed_in_the_overdraft_report() {
    let server = TestServer::spawn().await;
    let (merchant, store, mut till) = merchant_with_till(&server, 1).await;
    let mut other = server.enroll(store.id, 2).await;
    let mut rules = rules();
    rules["programme"]["points_pending_days"] = json!(0);
    assert_eq!(
        server.publish(merchant.id, rules).await.0,
        StatusCode::CREATED
    );
    let anna = server
        .customer(
            merchant.id,
            json!({"name": "Анна", "phone": "+79161234567"}),
        )
        .await;
    let boris = server
        .customer(
            merchant.id,
            json!({"name": "Борис", "phone": "+79161234568"}),
        )
        .await;
    let (earned, earned_record) = till.record(Purchase::sale(1_000_000).by(anna.id).points(100, 0));
    assert_eq!(till.upload(&[earned]).await.0, StatusCode::OK);
    // Boris spends within his balance: never listed.
    let boris_batch = till.records([
        Purchase::sale(500_000).by(boris.id).points(50, 0),
        Purchase::sale(5_000).by(boris.id).points(0, 50),
    ]);
    assert_eq!(till.upload(&boris_batch).await.0, StatusCode::OK);

    // Both tills spent 80 of Anna's 100 while offline.
    let first = till.records([Purchase::sale(16_000).by(anna.id).points(0, 80)]);
    let (second, second_record) = other.record(Purchase::sale(16_000).by(anna.id).points(0, 80));
    assert_eq!(till.upload(&first).await.0, StatusCode::OK);
    assert_eq!(other.upload(&[second]).await.0, StatusCode::OK);
    // A return claws back points of a sale already spent.
    let claw = till.records([Purchase::refund(
        100_000,
        RecordRef {
            register_id: earned_record.register_id,
            seq: earned_record.seq,
            id: earned_record.id,
        },
    )
    .by(anna.id)
    .points(-10, 0)]);
    assert_eq!(till.upload(&claw).await.0, StatusCode::OK);

    assert_eq!(view(&server, anna.id).await.points_balance, -70);
    let report: OverdraftReport = server
        .admin_ok(
            Method::GET,
            &format!("/api/v1/admin/merchants/{}/overdrafts", merchant.id),
            None,
        )
        .await;
    assert_eq!(report.customers.len(), 1, "{report:?}");
    let c = &report.customers[0];
    assert_eq!((c.customer_id, c.name.as_str()), (anna.id, "Анна"));
    assert_eq!((c.points_balance, c.overdrawn), (-70, 70));
    let rows: Vec<_> = c
        .records
        .iter()
        .map(|r| {
            (
                r.register_id,
                r.cause,
                r.points_redeemed,
                r.overdrawn,
                r.balance_after,
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (other.register_id, OverdraftCause::Redemption, 80, 60, -60),
            (till.register_id, OverdraftCause::ClawBack, 0, 10, -70),
        ]
    );
    assert_eq!(c.records[0].record_id, second_record.id);

    let hq = Hq::sign_in(&server).await;
    let (status, html) = hq.get(&format!("/hq/merchants/{}", merchant.id)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Перерасход баллов"), "{html}");
    assert_eq!(
        html.matches(&format!("<tr data-customer=\"{}\">", anna.id))
            .count(),
        2
    );
    assert!(!html.contains(&format!("<tr data-customer=\"{}\">", boris.id)));
    assert!(html.contains("data-overdrawn=\"60\""));
    let (status, html) = hq
        .get(&format!("/hq/merchants/{}/setup", merchant.id))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(
            "Баллы доступны сразу, сгорают через 365 дн. после начисления; без связи с сервером \
             касса даёт списать не больше 50 б. на покупателя."
        ),
        "{html}"
    );

    let (status, _) = server
        .admin(Method::GET, "/api/v1/admin/merchants/999/overdrafts", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Points keep the terms of the ruleset they were priced with: a later
/// programme that shortens the expiry re-dates none of them.
#[tokio::test]
async fn points_keep_the_terms_of_the_ruleset_they_were_earned_under() {
    let clock = Arc::new(ManualClock::new(at("2026-03-01T09:00:00Z")));
    let server = TestServer::spawn_with_clock(clock.clone()).await;
    let (merchant, _, mut till) = merchant_with_till(&server, 1).await;
    let mut lenient = rules();
    lenient["programme"]["points_pending_days"] = json!(0);
    lenient["programme"]["points_expire_days"] = Value::Null;
    assert_eq!(
        server.publish(merchant.id, lenient).await.0,
        StatusCode::CREATED
    );
    let mut strict = rules();
    strict["programme"]["points_pending_days"] = json!(0);
    strict["programme"]["points_expire_days"] = json!(30);
    assert_eq!(
        server.publish(merchant.id, strict).await.0,
        StatusCode::CREATED
    );
    let anna = server
        .customer(
            merchant.id,
            json!({"name": "Анна", "phone": "+79161234567"}),
        )
        .await;
    let batch = till.records([
        Purchase::sale(1_000_000)
            .by(anna.id)
            .points(100, 0)
            .priced_with(1)
            .at("2026-03-01T10:00:00Z"),
        Purchase::sale(400_000)
            .by(anna.id)
            .points(40, 0)
            .priced_with(2)
            .at("2026-03-01T11:00:00Z"),
    ]);
    assert_eq!(till.upload(&batch).await.0, StatusCode::OK);
    let v = view(&server, anna.id).await;
    assert_eq!(v.points_balance, 140);
    assert_eq!(
        v.points_expiring,
        vec![ExpiringPoints {
            points: 40,
            on: at("2026-03-31T11:00:00Z")
        }],
        "only the points priced with the strict ruleset expire"
    );
    clock.advance(at("2026-04-15T00:00:00Z") - at("2026-03-01T09:00:00Z"));
    let v = view(&server, anna.id).await;
    assert_eq!((v.points_balance, v.points_expired), (100, 40));
}
