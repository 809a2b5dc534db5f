//! The HQ dashboard shows exactly the JSON statistics: every amount to the
//! kopeck (in a `data-kopecks` attribute and as printed), every count, per
//! store, per day, per segment and per promotion, with and without a date
//! filter.

use reqwest::{Method, StatusCode};
use shared::record::RecordRef;
use sync_server::wire::admin::{SalesFigures, Stats};

use super::{Hq, count, figure, roubles};
use crate::helpers::{Purchase, TestServer, Till, TwoStoreChain};

/// Two stores in two time zones, three customers, sales with and without
/// promotions, a return; returns the Moscow till for more sales.
pub async fn trading_merchant(server: &TestServer) -> (sync_server::wire::admin::Merchant, Till) {
    let TwoStoreChain {
        merchant,
        mut moscow_till,
        mut far_till,
        anna,
        boris,
        vera,
        ..
    } = TwoStoreChain::create(server).await;

    let (first, first_record) = moscow_till.record(
        Purchase::sale(1_234_567)
            .by(anna.id)
            .discounted(12_345, "milk", Some("Молочный завод"))
            .points(123, 0),
    );
    let mut moscow_batch = vec![first];
    moscow_batch.extend(
        moscow_till.records([
            Purchase::sale(25_050)
                .by(boris.id)
                .points(2, 1)
                .at("2026-03-01T22:30:00Z"),
            Purchase::sale(999).at("2026-03-03T08:00:00Z"),
            Purchase::sale(4_001)
                .by(vera.id)
                .discounted(401, "bread", None),
            Purchase::refund(
                9_000,
                RecordRef {
                    register_id: first_record.register_id,
                    seq: first_record.seq,
                    id: first_record.id,
                },
            )
            .by(anna.id)
            .points(-9, 0),
        ]),
    );
    let far_batch = far_till.records([
        Purchase::sale(3_333)
            .by(anna.id)
            .discounted(333, "milk", Some("Молочный завод"))
            .at("2026-03-02T15:30:00Z"),
        Purchase::sale(7_777)
            .by(boris.id)
            .discounted(777, "milk", Some("Молочный завод")),
        Purchase::sale(1),
    ]);
    assert_eq!(moscow_till.upload(&moscow_batch).await.0, StatusCode::OK);
    assert_eq!(far_till.upload(&far_batch).await.0, StatusCode::OK);
    (merchant, moscow_till)
}

/// Asserts the figures in `scope` equal `expected`.
fn assert_figures(page: &str, scope: &str, expected: &SalesFigures) {
    for (key, kopecks) in [
        ("revenue", expected.revenue.minor()),
        ("average_check", expected.average_check.minor()),
        ("discount", expected.discount.minor()),
    ] {
        assert_eq!(
            figure(page, scope, key),
            (Some(kopecks), roubles(kopecks)),
            "{key} of {scope}"
        );
    }
    assert_eq!(
        figure(page, scope, "checks").1,
        count(expected.checks),
        "checks of {scope}"
    );
    assert_eq!(
        figure(page, scope, "returns").1,
        count(expected.returns),
        "returns of {scope}"
    );
    assert_eq!(
        figure(page, scope, "points_earned").1,
        count(expected.points_earned),
        "points of {scope}"
    );
}

#[tokio::test]
async fn the_dashboard_shows_the_json_statistics_to_the_kopeck() {
    let server = TestServer::spawn().await;
    let (merchant, _) = trading_merchant(&server).await;
    let hq = Hq::sign_in(&server).await;

    for query in ["", "?from=2026-03-02&to=2026-03-02", "?from=2026-03-03&to="] {
        let stats: Stats = server
            .admin_ok(
                Method::GET,
                &format!(
                    "/api/v1/admin/merchants/{}/stats{}",
                    merchant.id,
                    query.trim_end_matches("&to=")
                ),
                None,
            )
            .await;
        let (status, page) = hq
            .get(&format!("/hq/merchants/{}{query}", merchant.id))
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");

        for (key, kopecks) in [
            ("totals.revenue", stats.totals.revenue.minor()),
            ("totals.average_check", stats.totals.average_check.minor()),
            ("totals.discount", stats.totals.discount.minor()),
            (
                "identified.average_check",
                stats.identified.average_check.minor(),
            ),
        ] {
            assert_eq!(
                figure(&page, "<dl class=\"kpis\">", key),
                (Some(kopecks), roubles(kopecks)),
                "{query} {key}"
            );
        }
        for (key, n) in [
            ("totals.checks", stats.totals.checks),
            ("totals.returns", stats.totals.returns),
            ("totals.points_earned", stats.totals.points_earned),
        ] {
            assert_eq!(
                figure(&page, "<dl class=\"kpis\">", key).1,
                count(n),
                "{query} {key}"
            );
        }
        assert_figures(&page, "data-store=\"all\"", &stats.totals);
        assert_figures(&page, "data-store=\"identified\"", &stats.identified);
        for store in &stats.by_store {
            let scope = format!("<tr data-store=\"{}\"><th scope=\"row\">", store.store_id);
            assert_figures(&page, &scope, &store.figures);
        }
        for day in &stats.by_day {
            let scope = format!("data-day=\"{}\" data-store=\"{}\"", day.day, day.store_id);
            assert_figures(&page, &scope, &day.figures);
        }
        for segment in stats.by_gender.iter().chain(&stats.by_age) {
            let scope = format!("data-segment=\"{}\"", segment.segment);
            assert_eq!(
                figure(&page, &scope, "customers").1,
                count(segment.customers)
            );
            let revenue = segment.figures.revenue.minor();
            assert_eq!(
                figure(&page, &scope, "revenue"),
                (Some(revenue), roubles(revenue))
            );
        }
        for promotion in &stats.promotions {
            let scope = format!("data-promotion=\"{}\"", promotion.promotion_id);
            let discount = promotion.discount.minor();
            assert_eq!(
                figure(&page, &scope, "discount"),
                (Some(discount), roubles(discount))
            );
            assert_eq!(figure(&page, &scope, "checks").1, count(promotion.checks));
            assert_eq!(
                figure(&page, &scope, "customers").1,
                count(promotion.customers)
            );
        }

        let charts = page
            .matches("<svg class=\"chart-svg\" role=\"img\"")
            .count();
        let expected_charts = if stats.by_day.is_empty() {
            0
        } else {
            2 + usize::from(!stats.by_gender.is_empty()) + usize::from(!stats.by_age.is_empty())
        };
        assert_eq!(charts, expected_charts, "{query}");
    }

    // The whole-period figures, spelled out once by hand.
    let (_, page) = hq.get(&format!("/hq/merchants/{}", merchant.id)).await;
    assert_eq!(
        figure(&page, "<dl class=\"kpis\">", "totals.revenue").1,
        "12\u{a0}528,72\u{a0}₽"
    );
    assert!(page.contains("Молочный завод"));
    assert!(page.contains("Тверская") && page.contains("Светланская"));
}

#[tokio::test]
async fn a_bad_filter_is_named_and_the_whole_period_shown() {
    let server = TestServer::spawn().await;
    let (merchant, _) = trading_merchant(&server).await;
    let hq = Hq::sign_in(&server).await;
    let (status, page) = hq
        .get(&format!(
            "/hq/merchants/{}?from=01.03.2026&to=",
            merchant.id
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("role=\"alert\">Даты вводятся как ГГГГ-ММ-ДД"));
    let all: Stats = server
        .admin_ok(
            Method::GET,
            &format!("/api/v1/admin/merchants/{}/stats", merchant.id),
            None,
        )
        .await;
    let revenue = all.totals.revenue.minor();
    assert_eq!(
        figure(&page, "<dl class=\"kpis\">", "totals.revenue"),
        (Some(revenue), roubles(revenue))
    );
}
