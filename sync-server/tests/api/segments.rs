//! Customer segments: RFM and saved segments computed from the stored
//! purchases, kept as tags, and carried to the tills by the customer feed.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::{Method, StatusCode};
use serde_json::json;
use shared::ids::CustomerId;
use shared::wire::sync::CustomerDeltaPage;
use sync_server::clock::ManualClock;

use crate::helpers::{Purchase, TestServer, merchant_with_till, reply};

/// Every customer's tags as a till's feed serves them after `after`, and
/// the next cursor.
async fn fed_tags(
    till: &crate::helpers::Till,
    after: i64,
) -> (BTreeMap<CustomerId, Vec<String>>, i64) {
    let (status, body) = reply(
        till.get(&format!("/api/v1/customers/changes?after={after}"))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let page: CustomerDeltaPage = serde_json::from_value(body).unwrap();
    (
        page.customers.into_iter().map(|c| (c.id, c.tags)).collect(),
        page.next_cursor,
    )
}

fn tags(list: &[&str]) -> Vec<String> {
    list.iter().map(|t| (*t).to_owned()).collect()
}

#[tokio::test]
async fn segments_are_computed_from_purchases_and_reach_the_tills_as_tags() {
    let start: DateTime<Utc> = "2026-06-30T12:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let server = TestServer::spawn_with_clock(clock.clone()).await;
    let (merchant, _, mut till) = merchant_with_till(&server, 1).await;
    let m = merchant.id;
    let customer = async |name: &str, phone: &str| {
        server
            .customer(m, json!({ "name": name, "phone": phone }))
            .await
            .id
    };
    let lapsed = customer("Анна", "+79160000001").await;
    let champion = customer("Борис", "+79160000002").await;
    let newcomer = customer("Вера", "+79160000003").await;
    let lapsing = customer("Галина", "+79160000004").await;
    let never = customer("Дмитрий", "+79160000005").await;

    // Анна spent the most, three visits in January; Борис five visits in
    // June; Вера once ten days ago, her first; Галина once in February.
    let mut purchases = Vec::new();
    for day in ["2026-01-10", "2026-01-17", "2026-01-24"] {
        purchases.push(
            Purchase::sale(33_400)
                .by(lapsed)
                .at(&format!("{day}T09:00:00Z")),
        );
    }
    for day in 1..=5 {
        purchases.push(
            Purchase::sale(2_000)
                .by(champion)
                .at(&format!("2026-06-{:02}T09:00:00Z", day * 5)),
        );
    }
    purchases.push(
        Purchase::sale(1_000)
            .by(newcomer)
            .at("2026-06-20T09:00:00Z"),
    );
    purchases.push(Purchase::sale(500).by(lapsing).at("2026-02-03T09:00:00Z"));
    let records = till.records(purchases);
    let (status, body) = till.upload(&records).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A saved segment of big spenders (≥ 100 roubles in the year).
    let (status, body) = server
        .admin(
            Method::POST,
            &format!("/api/v1/admin/merchants/{m}/segments"),
            Some(json!({"code": "big", "name": "Крупные", "filter": {"min_revenue": 10_000}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["as_of"], "2026-06-30");
    assert_eq!(body["active"], 4, "{body}");
    assert_eq!(body["changed"], 4, "{body}");

    let (fed, cursor) = fed_tags(&till, 0).await;
    let expected = BTreeMap::from([
        (lapsed, tags(&["rfm:lapsed_high_spenders", "seg:big"])),
        (champion, tags(&["rfm:champions", "seg:big"])),
        (newcomer, tags(&["rfm:new"])),
        (lapsing, tags(&["rfm:lapsing"])),
        (never, tags(&[])),
    ]);
    assert_eq!(fed, expected);

    let (status, view) = server
        .admin(
            Method::GET,
            &format!("/api/v1/admin/merchants/{m}/segments"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    let sizes: BTreeMap<String, i64> = view["rfm"]
        .as_array()
        .unwrap()
        .iter()
        .chain(view["saved"].as_array().unwrap())
        .map(|s| {
            (
                s["tag"].as_str().unwrap().to_owned(),
                s["customers"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(sizes["rfm:lapsed_high_spenders"], 1);
    assert_eq!(sizes["rfm:champions"], 1);
    assert_eq!(sizes["rfm:loyal"], 0);
    assert_eq!(sizes["seg:big"], 2);
    assert_eq!(view["saved"][0]["name"], "Крупные");

    // The customers view counts a segment's customers only; other views
    // refuse the filter.
    let customers_in = async |segment: &str| -> i64 {
        let (status, view) = server
            .admin(
                Method::GET,
                &format!(
                    "/api/v1/admin/merchants/{m}/analytics/customers?from=2026-01-01&to=2026-06-30&segment={segment}"
                ),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{view}");
        view["genders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["customers"].as_i64().unwrap())
            .sum()
    };
    assert_eq!(customers_in("").await, 4);
    assert_eq!(customers_in("seg:big").await, 2);
    assert_eq!(customers_in("rfm:new").await, 1);
    let (status, body) = server
        .admin(
            Method::GET,
            &format!("/api/v1/admin/merchants/{m}/analytics/sales?segment=seg:big"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // Computing again changes nothing, and the feed has nothing new.
    let refresh = format!("/api/v1/admin/merchants/{m}/segments/refresh");
    let (status, body) = server.admin(Method::POST, &refresh, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["changed"], 0, "{body}");
    assert!(fed_tags(&till, cursor).await.0.is_empty());

    // Forty days on: Борис has cooled to loyal, Вера to other; only they
    // are fed again.
    clock.advance(TimeDelta::days(40));
    let (status, body) = server.admin(Method::POST, &refresh, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["as_of"], "2026-08-09");
    assert_eq!(body["changed"], 2, "{body}");
    let (fed, cursor) = fed_tags(&till, cursor).await;
    assert_eq!(
        fed,
        BTreeMap::from([
            (champion, tags(&["rfm:loyal", "seg:big"])),
            (newcomer, tags(&["rfm:other"])),
        ])
    );

    // Deleting the saved segment takes its tag away.
    let (status, body) = server
        .admin(
            Method::DELETE,
            &format!("/api/v1/admin/merchants/{m}/segments/big"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (fed, _) = fed_tags(&till, cursor).await;
    assert_eq!(
        fed,
        BTreeMap::from([
            (lapsed, tags(&["rfm:lapsed_high_spenders"])),
            (champion, tags(&["rfm:loyal"])),
        ])
    );
}

#[tokio::test]
async fn a_bad_segment_is_refused_naming_its_field_and_a_taken_code_is_a_conflict() {
    let server = TestServer::spawn().await;
    let (merchant, _, _) = merchant_with_till(&server, 1).await;
    let path = format!("/api/v1/admin/merchants/{}/segments", merchant.id);
    for (body, field) in [
        (json!({"code": "Big Ones", "name": "x"}), "code"),
        (json!({"code": "a", "name": ""}), "name"),
        (
            json!({"code": "a", "name": "x", "filter": {"rfm": ["vip"]}}),
            "rfm",
        ),
        (
            json!({"code": "a", "name": "x", "filter": {"age_bands": ["18-20"]}}),
            "age_bands",
        ),
        (
            json!({"code": "a", "name": "x", "filter": {"min_visits": 0}}),
            "min_visits",
        ),
    ] {
        let (status, reply) = server.admin(Method::POST, &path, Some(body.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {reply}");
        let message = reply["message"].as_str().unwrap_or_default();
        assert!(message.contains(field), "{body}: {reply}");
    }
    let ok = json!({"code": "women", "name": "Женщины", "filter": {"genders": ["female"]}});
    let (status, _) = server.admin(Method::POST, &path, Some(ok.clone())).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, reply) = server.admin(Method::POST, &path, Some(ok)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{reply}");
    assert_eq!(reply["error"], "segment_exists");
    let (status, _) = server
        .admin(Method::DELETE, &format!("{path}/nobody"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Another merchant id that does not exist: not found, never a 500.
    for (method, path) in [
        (Method::GET, "/api/v1/admin/merchants/999999/segments"),
        (
            Method::POST,
            "/api/v1/admin/merchants/999999/segments/refresh",
        ),
    ] {
        let (status, reply) = server.admin(method, path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {reply}");
    }
    let (status, reply) = server
        .admin(
            Method::POST,
            "/api/v1/admin/merchants/999999/segments",
            Some(json!({"code": "a", "name": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{reply}");
}

/// Visits are kept by the store's local day: after midnight in Moscow
/// (still yesterday in UTC) a first purchase is today's, and the segments
/// computed now count it.
#[tokio::test]
async fn segments_are_computed_as_of_the_stores_local_day() {
    // 01:30 on 1 July in Moscow, 22:30 on 30 June in UTC.
    let now: DateTime<Utc> = "2026-06-30T22:30:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(now));
    let server = TestServer::spawn_with_clock(clock.clone()).await;
    let (merchant, _, mut till) = merchant_with_till(&server, 1).await;
    let m = merchant.id;
    let newcomer = server
        .customer(m, json!({ "name": "Вера", "phone": "+79160000003" }))
        .await
        .id;
    let records = till.records(vec![Purchase::sale(1_000).by(newcomer).made_at(now)]);
    let (status, body) = till.upload(&records).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, body) = server
        .admin(
            Method::POST,
            &format!("/api/v1/admin/merchants/{m}/segments/refresh"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["as_of"], "2026-07-01", "{body}");
    assert_eq!(body["active"], 1, "{body}");
    let (fed, _) = fed_tags(&till, 0).await;
    assert_eq!(fed[&newcomer], tags(&["rfm:new"]));
}
