//! Quota leases (issue 9, item 11) over real HTTP, on SQLite or (with
//! `LOYALTY_TEST_DATABASE=postgres`) PostgreSQL: shares of what remains,
//! reconciled with the stored records, bounded by the free pool, and given
//! back when they expire; HQ's report of leases and spend per register.

use std::sync::Arc;

use chrono::{TimeDelta, TimeZone as _, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::wire::sync::LeaseGrant;
use shared::wire::{FEATURES_HEADER, PROTOCOL_HEADER, PROTOCOL_VERSION};
use sync_server::clock::ManualClock;
use sync_server::wire::admin::{LeaseReport, PromotionLeases};

use crate::helpers::{Purchase, TestServer, Till, merchant_with_till, promotion, reply, ruleset};

/// A ruleset with `milk` (12 uses overall) and `kefir` (a budget of
/// 100.00).
fn limited() -> Value {
    let mut rules = ruleset();
    let mut milk = promotion("milk");
    milk["limits"] = json!({"total_uses": 12});
    let mut kefir = promotion("kefir");
    kefir["target"] = json!({"kind": "skus", "skus": ["4607001234565"]});
    kefir["limits"] = json!({"budget": 10_000});
    rules["promotions"] = json!([milk, kefir]);
    rules
}

/// `POST /api/v1/leases` as `till`.
async fn lease(till: &Till) -> LeaseGrant {
    let response = till
        .http
        .post(format!("{}/api/v1/leases", till.base))
        .bearer_auth(till.bearer())
        .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
        .json(&json!({}))
        .send()
        .await
        .expect("send");
    assert!(
        response
            .headers()
            .get(FEATURES_HEADER)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|f| f == "quota-leases")),
        "the reply announces the feature"
    );
    let (status, body) = reply(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_value(body).expect("a lease grant")
}

/// `(uses, kopecks)` of the grant's lease of `promotion`.
fn share(grant: &LeaseGrant, promotion: &str) -> (u64, i64) {
    let l = grant
        .leases
        .iter()
        .find(|l| l.promotion.as_str() == promotion)
        .unwrap_or_else(|| panic!("no lease of {promotion}: {grant:?}"));
    (l.uses, l.budget.minor())
}

async fn report(server: &TestServer, merchant: shared::ids::MerchantId) -> LeaseReport {
    server
        .admin_ok(
            reqwest::Method::GET,
            &format!("/api/v1/admin/merchants/{merchant}/leases"),
            None,
        )
        .await
}

fn of<'r>(report: &'r LeaseReport, id: &str) -> &'r PromotionLeases {
    report
        .promotions
        .iter()
        .find(|p| p.promotion_id.as_str() == id)
        .unwrap_or_else(|| panic!("no {id} in {report:?}"))
}

#[tokio::test]
async fn leases_share_what_remains_and_reconcile_with_the_stored_records() {
    let server = TestServer::spawn().await;
    let (merchant, store, mut a) = merchant_with_till(&server, 1).await;
    let b = server.enroll(store.id, 2).await;
    let c = server.enroll(store.id, 3).await;

    // Nothing published: nothing to lease, and the report is empty.
    assert!(lease(&a).await.leases.is_empty());
    assert!(report(&server, merchant.id).await.promotions.is_empty());
    let (status, body) = server.publish(merchant.id, limited()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // Three registers: a third each (rounded up), within the free pool.
    let first = lease(&a).await;
    assert_eq!(share(&first, "milk"), (4, 0));
    assert_eq!(share(&first, "kefir"), (0, 3_334));
    assert_eq!(first.leases[0].through_seq, None, "nothing stored yet");
    assert_eq!(share(&lease(&b).await, "kefir"), (0, 3_334));
    assert_eq!(
        share(&lease(&c).await, "kefir"),
        (0, 3_332),
        "never more than the pool not leased to others"
    );
    let r = report(&server, merchant.id).await;
    assert_eq!(of(&r, "milk").outstanding.uses, 12);
    assert_eq!(of(&r, "kefir").outstanding.money.minor(), 10_000);

    // A spends 3 checks of its 4 (and 2.00 of kefir): the server counts
    // them from the records and holds back only what A may still give.
    let records = a.records([
        Purchase::sale(1_000).discounted(100, "milk", None),
        Purchase::sale(1_000).discounted(100, "milk", None),
        Purchase::sale(1_000).discounted(100, "milk", None),
        Purchase::sale(1_000).discounted(200, "kefir", None),
    ]);
    let (status, body) = a.upload(&records).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let r = report(&server, merchant.id).await;
    let milk = of(&r, "milk");
    assert_eq!(milk.counted.uses, 3);
    assert_eq!(
        milk.outstanding.uses, 9,
        "1 left with A, 4 with B and C each"
    );
    let a_row = milk
        .registers
        .iter()
        .find(|reg| reg.register_id == a.register_id)
        .expect("A in the report");
    assert_eq!(a_row.spent.uses, 3, "HQ sees the spend per register");
    let a_lease = a_row.lease.as_ref().expect("A's lease");
    assert_eq!(
        (
            a_lease.granted.uses,
            a_lease.used.uses,
            a_lease.outstanding.uses
        ),
        (4, 3, 1)
    );
    assert_eq!(of(&r, "kefir").counted.money.minor(), 200);
    assert_eq!(
        of(&r, "kefir").outstanding.money.minor(),
        3_134 + 3_334 + 3_332
    );

    // A renews: its old lease returns to the pool and it gets a share of
    // what remains (9 over three, 3), but only what B and C leave free (1).
    let renewed = lease(&a).await;
    assert_eq!(share(&renewed, "milk"), (1, 0));
    assert_eq!(renewed.leases[0].through_seq.map(|s| s.get()), Some(4));
    let r = report(&server, merchant.id).await;
    assert_eq!(
        of(&r, "milk").counted.uses + of(&r, "milk").outstanding.uses,
        12,
        "spend counted plus leases outstanding never pass the limit"
    );

    // A register that gives more than its lease (an agent before leases)
    // is stored and counted: what it took past its lease is the overspend,
    // and nothing more is leased until the spend is back under the limit.
    let records = a.records((0..3).map(|_| Purchase::sale(1_000).discounted(100, "milk", None)));
    let (status, body) = a.upload(&records).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let r = report(&server, merchant.id).await;
    assert_eq!(of(&r, "milk").counted.uses, 6);
    assert_eq!(
        of(&r, "milk").outstanding.uses,
        8,
        "A holds nothing back now"
    );
    assert_eq!(
        share(&lease(&b).await, "milk"),
        (2, 0),
        "6 remain, B and C share them: 2 for B"
    );
    assert_eq!(share(&lease(&c).await, "milk"), (2, 0));

    // The report is the admin API's: an unknown merchant is a JSON 404.
    let (status, body) = server
        .admin(
            reqwest::Method::GET,
            "/api/v1/admin/merchants/999/leases",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"], "not_found");
}

#[tokio::test]
async fn an_expired_lease_goes_back_to_the_pool() {
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap(),
    ));
    let server = TestServer::spawn_with_clock(clock.clone()).await;
    let (merchant, store, a) = merchant_with_till(&server, 1).await;
    let b = server.enroll(store.id, 2).await;
    let (status, body) = server.publish(merchant.id, limited()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Two registers, at most half each: 6 and 6, all of it.
    assert_eq!(share(&lease(&a).await, "milk"), (6, 0));
    assert_eq!(share(&lease(&b).await, "milk"), (6, 0));
    let c = server.enroll(store.id, 3).await;
    assert_eq!(
        share(&lease(&c).await, "milk"),
        (0, 0),
        "all of it is leased"
    );

    // A day later A has not renewed: its lease ends and returns to the
    // pool; B's renewal kept B's.
    clock.advance(TimeDelta::hours(23));
    assert_eq!(
        share(&lease(&b).await, "milk"),
        (4, 0),
        "12 over three, all free but C's 0"
    );
    clock.advance(TimeDelta::hours(2));
    let r = report(&server, merchant.id).await;
    let milk = of(&r, "milk");
    let a_lease = milk
        .registers
        .iter()
        .find(|reg| reg.register_id == a.register_id)
        .and_then(|reg| reg.lease.as_ref())
        .expect("A's lease");
    assert!(a_lease.expired, "{a_lease:?}");
    assert_eq!(a_lease.outstanding.uses, 0);
    assert_eq!(milk.outstanding.uses, 4, "only B's lease is held back");
    assert_eq!(
        share(&lease(&c).await, "milk"),
        (4, 0),
        "C gets a share of what A gave back"
    );
}

#[tokio::test]
async fn leases_need_the_registers_credentials() {
    let server = TestServer::spawn().await;
    let (_, _, a) = merchant_with_till(&server, 1).await;
    let response = a
        .http
        .post(format!("{}/api/v1/leases", a.base))
        .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
        .json(&json!({}))
        .send()
        .await
        .expect("send");
    let (status, body) = reply(response).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body["error"].is_string(), "{body}");
}

#[tokio::test]
async fn the_dashboard_shows_the_leases_and_the_spend_per_register() {
    let server = TestServer::spawn().await;
    let (merchant, store, mut a) = merchant_with_till(&server, 1).await;
    let b = server.enroll(store.id, 2).await;
    let (status, body) = server.publish(merchant.id, limited()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Two registers: half each.
    assert_eq!(share(&lease(&a).await, "milk"), (6, 0));
    assert_eq!(share(&lease(&b).await, "milk"), (6, 0));
    let records = a.records((0..2).map(|_| Purchase::sale(1_000).discounted(100, "milk", None)));
    assert_eq!(a.upload(&records).await.0, StatusCode::OK);

    let hq = crate::web::Hq::sign_in(&server).await;
    let (status, page) = hq.get(&format!("/hq/merchants/{}", merchant.id)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let start = page
        .find("<table id=\"leases-milk\"")
        .unwrap_or_else(|| panic!("no leases table for milk: {page}"));
    let table = &page[start..start + page[start..].find("</table>").expect("table end")];
    assert!(
        table.contains("израсходовано <span data-counted>2 чек.</span>")
            && table.contains("в долях у касс <span data-outstanding>10 чек.</span>"),
        "spend and leases outstanding: {table}"
    );
    let row = |register: shared::ids::RegisterId| {
        let at = table
            .find(&format!("<tr data-register=\"{register}\">"))
            .unwrap_or_else(|| panic!("no row of register {register}: {table}"));
        &table[at..at + table[at..].find("</tr>").expect("row end")]
    };
    let a_row = row(a.register_id);
    assert!(
        a_row.contains("<td data-spent>2 чек.</td><td>6 чек.</td><td>2 чек.</td><td>4 чек.</td>")
            && a_row.contains("действует"),
        "A's spend, lease, use of it and what is left: {a_row}"
    );
    assert!(
        row(b.register_id).contains("<td data-spent>0 чек.</td><td>6 чек.</td>"),
        "{table}"
    );
    assert!(
        page.contains("<table id=\"leases-kefir\""),
        "the budget's table too"
    );
}
