//! Points adjustments over the admin API (issue 12): a credit or debit not
//! tied to a purchase, with a reason and an idempotency key, counted in
//! every standing the server computes (the admin view, the registers'
//! change feed, the phone page), refused below zero with a clear message,
//! made once per key, and written to the audit trail.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shared::ids::CustomerId;
use shared::wire::sync::CustomerDeltaPage;
use sync_server::clock::ManualClock;
use sync_server::wire::admin::{AdjustmentKind, AdjustmentReceipt, AuditView, CustomerView};

use crate::helpers::{Purchase, TestServer, Till, merchant_with_till};

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// 1 point per 100 ₽, pending 14 days, expiring after 365.
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

async fn view(server: &TestServer, id: CustomerId) -> CustomerView {
    server
        .admin_ok(Method::GET, &format!("/api/v1/admin/customers/{id}"), None)
        .await
}

async fn adjust(server: &TestServer, id: CustomerId, body: Value) -> (StatusCode, Value) {
    server
        .admin(
            Method::POST,
            &format!("/api/v1/admin/customers/{id}/adjustments"),
            Some(body),
        )
        .await
}

/// The till's snapshot of the customer from the change feed.
async fn fed_balance(till: &Till, id: CustomerId) -> i64 {
    let page: CustomerDeltaPage = till
        .get("/api/v1/customers/changes?after=0")
        .await
        .json()
        .await
        .unwrap();
    page.customers
        .iter()
        .find(|c| c.id == id)
        .expect("the customer is in the feed")
        .points_balance
}

#[tokio::test]
async fn adjustments_count_everywhere_once_per_key_and_never_below_zero() {
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
    // 100 points pending until 2 April.
    let batch = till.records([Purchase::sale(1_000_000)
        .by(anna.id)
        .points(100, 0)
        .at("2026-03-19T10:00:00Z")]);
    assert_eq!(till.upload(&batch).await.0, StatusCode::OK);
    assert_eq!(view(&server, anna.id).await.points_balance, 0);

    // A credit is available at once, on the view, the feed and the page.
    let (status, body) = adjust(
        &server,
        anna.id,
        json!({"points": 50, "reason": "Компенсация за очередь", "idempotency_key": "k1"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let receipt: AdjustmentReceipt = serde_json::from_value(body).unwrap();
    assert!(receipt.created);
    assert_eq!(receipt.points_balance, 50);
    assert_eq!(receipt.adjustment.kind, AdjustmentKind::Manual);
    assert_eq!(receipt.adjustment.actor, "admin-token");
    let v = view(&server, anna.id).await;
    assert_eq!(v.points_balance, 50);
    assert_eq!(v.points_pending.iter().map(|p| p.points).sum::<i64>(), 100);
    assert_eq!(v.adjustments.len(), 1);
    assert_eq!(v.adjustments[0].reason, "Компенсация за очередь");
    assert_eq!(fed_balance(&till, anna.id).await, 50);
    let link: Value = server
        .admin_ok(
            Method::POST,
            &format!("/api/v1/admin/customers/{}/link", anna.id),
            None,
        )
        .await;
    let html = reqwest::get(link["url"].as_str().unwrap())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("data-figure=\"points\">50<"), "{html}");
    assert!(html.contains("Компенсация за очередь"), "{html}");
    assert!(html.contains("+50 б."), "{html}");

    // A debit past the balance is refused and changes nothing.
    let (status, body) = adjust(
        &server,
        anna.id,
        json!({"points": -80, "reason": "Ошибка кассира", "idempotency_key": "k2"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"], "insufficient_points");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("below zero: 50 available"),
        "{body}"
    );
    assert_eq!(view(&server, anna.id).await.points_balance, 50);

    // A debit within it; the same key again makes nothing new.
    let debit = json!({"points": -30, "reason": "Ошибка кассира", "idempotency_key": "k2"});
    let (status, body) = adjust(&server, anna.id, debit.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["points_balance"], 20);
    let first_id = body["adjustment"]["id"].clone();
    let (status, body) = adjust(&server, anna.id, debit).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["created"], false);
    assert_eq!(body["adjustment"]["id"], first_id);
    assert_eq!(body["points_balance"], 20);
    // The key with other points is a conflict, not a second adjustment.
    let (status, body) = adjust(
        &server,
        anna.id,
        json!({"points": -5, "reason": "Ошибка кассира", "idempotency_key": "k2"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "idempotency_key_reused");
    assert_eq!(fed_balance(&till, anna.id).await, 20);

    // Bad input is refused by field.
    for (bad, field) in [
        (
            json!({"points": 0, "reason": "r", "idempotency_key": "z"}),
            "points",
        ),
        (
            json!({"points": 5, "reason": "  ", "idempotency_key": "z"}),
            "reason",
        ),
        (
            json!({"points": 5, "reason": "r", "idempotency_key": ""}),
            "idempotency_key",
        ),
    ] {
        let (status, body) = adjust(&server, anna.id, bad).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(
            body["message"].as_str().unwrap().starts_with(field),
            "{body}"
        );
    }
    let (status, _) = adjust(
        &server,
        CustomerId::new(999).unwrap(),
        json!({"points": 5, "reason": "r", "idempotency_key": "z"}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The pending sale matures on top of what the adjustments left.
    clock.advance(TimeDelta::days(14));
    assert_eq!(view(&server, anna.id).await.points_balance, 120);

    // The audit trail has each adjustment once, with the balances.
    let trail: Vec<AuditView> = server
        .admin_ok(
            Method::GET,
            &format!(
                "/api/v1/admin/merchants/{}/audit?action=customer.adjust_points",
                merchant.id
            ),
            None,
        )
        .await;
    assert_eq!(trail.len(), 3, "{trail:?}");
    assert_eq!(trail[0].before, "balance 20");
    assert_eq!(
        trail[0].after,
        format!(
            "balance 20; repeated key k2: adjustment {first_id} was made before, nothing changed"
        )
    );
    let debit = &trail[1];
    assert_eq!(debit.actor, "admin-token");
    assert_eq!(debit.subject, format!("customer {}", anna.id));
    assert_eq!(debit.before, "balance 50");
    assert!(
        debit
            .after
            .starts_with("balance 20; -30 points, reason: Ошибка кассира"),
        "{debit:?}"
    );
    assert_eq!(trail[2].before, "balance 0");
}

#[tokio::test]
async fn a_debit_spends_the_credit_and_records_after_it_replay_in_order() {
    let server = TestServer::spawn().await;
    let (merchant, _, mut till) = merchant_with_till(&server, 2).await;
    let boris = server
        .customer(
            merchant.id,
            json!({"name": "Борис", "phone": "+79160000002"}),
        )
        .await;
    // No ruleset: points are available at once.
    let batch = till.records([Purchase::sale(10_000).by(boris.id).points(10, 0)]);
    assert_eq!(till.upload(&batch).await.0, StatusCode::OK);
    let (status, _) = adjust(
        &server,
        boris.id,
        json!({"points": 25, "reason": "Подарок", "idempotency_key": "gift"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    // A till spends 30 of the 35 after the credit.
    let batch = till.records([Purchase::sale(10_000).by(boris.id).points(0, 30)]);
    assert_eq!(till.upload(&batch).await.0, StatusCode::OK);
    assert_eq!(view(&server, boris.id).await.points_balance, 5);
    let (status, body) = adjust(
        &server,
        boris.id,
        json!({"points": -6, "reason": "Списание", "idempotency_key": "take"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = adjust(
        &server,
        boris.id,
        json!({"points": -5, "reason": "Списание", "idempotency_key": "take"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["points_balance"], 0);
    let report: Value = server
        .admin_ok(
            Method::GET,
            &format!("/api/v1/admin/merchants/{}/overdrafts", merchant.id),
            None,
        )
        .await;
    assert_eq!(report["customers"], json!([]), "nothing overdrew");
}
