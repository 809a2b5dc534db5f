//! Points held while HQ checks a flagged sale (issue 9, item 9): a sale
//! the server prices differently keeps its points pending for every
//! standing the server computes (the admin view, the registers' change
//! feed) until HQ releases them (the till's figures stand) or voids them
//! (the sale earns nothing, and a return of it claws nothing back).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shared::ids::{CustomerId, MerchantId, RulesetVersion};
use shared::points::held_until;
use shared::record::{PricingInputs, PurchaseRecord, RecordRef};
use shared::wire::sync::CustomerDeltaPage;
use sync_server::wire::PointsHoldView;
use sync_server::wire::admin::CustomerView;

use crate::helpers::{Purchase, TestServer, Till, merchant_with_till, promotion, ruleset};

async fn view(server: &TestServer, id: CustomerId) -> CustomerView {
    server
        .admin_ok(Method::GET, &format!("/api/v1/admin/customers/{id}"), None)
        .await
}

/// The till's snapshot of the customer from the change feed: available,
/// and the held points it was given.
async fn fed(till: &Till, id: CustomerId) -> (i64, i64) {
    let page: CustomerDeltaPage = till
        .get("/api/v1/customers/changes?after=0")
        .await
        .json()
        .await
        .unwrap();
    let c = page
        .customers
        .iter()
        .find(|c| c.id == id)
        .expect("the customer is in the feed");
    let held = c
        .points_pending
        .iter()
        .filter(|p| p.held && p.until == held_until())
        .map(|p| p.points)
        .sum();
    (c.points_balance, held)
}

async fn holds(server: &TestServer, merchant: i64, query: &str) -> Vec<PointsHoldView> {
    server
        .admin_ok(
            Method::GET,
            &format!("/api/v1/admin/merchants/{merchant}/holds{query}"),
            None,
        )
        .await
}

async fn resolve(
    server: &TestServer,
    merchant: i64,
    key: (i64, i64),
    what: &str,
) -> (StatusCode, Value) {
    server
        .admin(
            Method::POST,
            &format!(
                "/api/v1/admin/merchants/{merchant}/holds/{}/{}",
                key.0, key.1
            ),
            Some(json!({"resolution": what})),
        )
        .await
}

/// Publishes 10 % off milk and uploads three sales by `customer`: seq 1
/// without recorded inputs (not re-priced: its 5 points are available at
/// once), seq 2 and 3 a kopeck of discount short (flagged, earning 9 and
/// 40 points); waits for the re-pricer. Returns the record of seq 3.
pub async fn flagged_sales(
    server: &TestServer,
    merchant: MerchantId,
    till: &mut Till,
    customer: CustomerId,
) -> PurchaseRecord {
    let mut rules = ruleset();
    rules["promotions"] = json!([promotion("milk-10")]);
    let (status, reply) = server.publish(merchant, rules).await;
    assert!(status.is_success(), "{reply}");
    let short = |points: i64| {
        (
            Purchase::sale(100_000)
                .discounted(9_999, "milk-10", None)
                .by(customer)
                .points(points, 0),
            |r: &mut PurchaseRecord| {
                r.ruleset_version = Some(RulesetVersion::new(1).unwrap());
                r.pricing_inputs = Some(PricingInputs::default());
            },
        )
    };
    let (plain, _) = till.record(Purchase::sale(50_000).by(customer).points(5, 0));
    let (p, edit) = short(9);
    let (flagged_a, _) = till.record_edited(p, edit);
    let (p, edit) = short(40);
    let (flagged_b, record_b) = till.record_edited(p, edit);
    let (status, reply) = till.upload(&[plain, flagged_a, flagged_b]).await;
    assert!(status.is_success(), "{reply}");
    let report = server.repriced(merchant).await;
    assert_eq!(report.counts.mismatched, 2, "{report:?}");
    record_b
}

#[tokio::test]
async fn a_flagged_sales_points_wait_for_hq_who_releases_or_voids_them() {
    let server = TestServer::spawn().await;
    let (merchant, _, mut till) = merchant_with_till(&server, 1).await;
    let anna = server
        .customer(
            merchant.id,
            json!({"name": "Анна", "phone": "+79161234567"}),
        )
        .await;
    let m = merchant.id.get();
    let record_b = flagged_sales(&server, merchant.id, &mut till, anna.id).await;

    // Both flagged sales are held, newest first, with what differs.
    let held = holds(&server, m, "").await;
    assert_eq!(
        held.iter()
            .map(|h| (h.seq.get(), h.points, h.status.as_str()))
            .collect::<Vec<_>>(),
        [(2, 9, "held"), (3, 40, "held")]
    );
    assert!(held.iter().all(|h| h.customer_id == anna.id));
    assert!(
        held.iter().all(|h| h
            .fields
            .iter()
            .any(|f| f.field == "discount" && f.till == 9_999 && f.server != 9_999)),
        "{held:?}"
    );

    // The admin view and the till's feed: 5 available, 49 held.
    let v = view(&server, anna.id).await;
    assert_eq!(v.points_balance, 5);
    let held_points: i64 = v
        .points_pending
        .iter()
        .filter(|p| p.held)
        .map(|p| p.points)
        .sum();
    assert_eq!(held_points, 49);
    assert_eq!(fed(&till, anna.id).await, (5, 49));
    // The phone page promises no date for them.
    let link: Value = server
        .admin_ok(
            Method::POST,
            &format!("/api/v1/admin/customers/{}/link", anna.id),
            None,
        )
        .await;
    let page = reqwest::get(link["url"].as_str().unwrap())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("49 б. на проверке у магазина"), "{page}");
    assert!(!page.contains("9999"), "{page}");

    // Released: the till's 9 points stand and are available at once (no
    // pending period in this programme); the feed carries it.
    let (status, body) = resolve(&server, m, (1, 2), "release").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "released");
    assert_eq!(body["resolved_by"], "admin-token");
    assert_eq!(view(&server, anna.id).await.points_balance, 14);
    assert_eq!(fed(&till, anna.id).await, (14, 40));
    // Once only.
    let (status, body) = resolve(&server, m, (1, 2), "void").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "hold_resolved");

    // Voided: the 40 points were never earned, and a return of that sale
    // claws nothing back.
    let (status, body) = resolve(&server, m, (1, 3), "void").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "voided");
    let (refund, _) = till.record(
        Purchase::refund(
            100_000 - 9_999,
            RecordRef {
                register_id: till.register_id,
                seq: record_b.seq,
                id: record_b.id,
            },
        )
        .by(anna.id)
        .points(-40, 0),
    );
    let (status, reply) = till.upload(&[refund]).await;
    assert!(status.is_success(), "{reply}");
    let v = view(&server, anna.id).await;
    assert_eq!(v.points_balance, 14);
    assert!(v.points_pending.is_empty(), "{:?}", v.points_pending);
    assert_eq!(fed(&till, anna.id).await, (14, 0));

    // The lists by status, and nothing left held.
    assert!(holds(&server, m, "").await.is_empty());
    assert_eq!(holds(&server, m, "?status=all").await.len(), 2);
    assert_eq!(holds(&server, m, "?status=voided").await[0].seq.get(), 3);
    let (status, body) = server
        .admin(
            Method::GET,
            &format!("/api/v1/admin/merchants/{m}/holds?status=maybe"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // A record without a hold, and another merchant's.
    let (status, _) = resolve(&server, m, (1, 1), "release").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let other = server.merchant("Другой").await;
    let (status, _) = resolve(&server, other.id.get(), (1, 2), "release").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = server
        .admin(Method::GET, "/api/v1/admin/merchants/999/holds", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The audit trail says who decided what.
    let audit: Value = server
        .admin_ok(
            Method::GET,
            &format!("/api/v1/admin/merchants/{m}/audit"),
            None,
        )
        .await;
    let text = audit.to_string();
    assert!(text.contains("points_hold.resolve"), "{text}");
    assert!(text.contains("voided 40 points"), "{text}");
}
