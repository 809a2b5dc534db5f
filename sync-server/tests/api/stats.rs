//! Statistics equal the sums of the records the registers signed.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use chrono_tz::Tz;
use reqwest::{Method, StatusCode};
use shared::identity::{Gender, age_band};
use shared::ids::{CustomerId, StoreId};
use shared::pricing::RuleRef;
use shared::record::{PurchaseRecord, RecordKind, RecordRef};
use sync_server::wire::admin::Stats;

use crate::helpers::{Purchase, TestServer, TwoStoreChain};

/// Per segment: checks, distinct customers, revenue.
type Expected = BTreeMap<String, (i64, BTreeSet<CustomerId>, i64)>;

fn add(map: &mut Expected, key: String, record: &PurchaseRecord) {
    let entry = map.entry(key).or_default();
    match record.kind {
        RecordKind::Sale => {
            entry.0 += 1;
            entry.2 += record.total.minor();
        }
        RecordKind::Return { .. } => entry.2 -= record.total.minor(),
    }
    entry.1.extend(record.customer.map(|c| c.id));
}

#[tokio::test]
async fn statistics_are_the_sums_of_the_records() {
    let server = TestServer::spawn().await;
    let TwoStoreChain {
        merchant,
        moscow,
        far: vladivostok,
        mut moscow_till,
        mut far_till,
        anna,
        boris,
        vera,
    } = TwoStoreChain::create(&server).await;
    let profiles: BTreeMap<CustomerId, (Gender, Option<NaiveDate>)> = [&anna, &boris, &vera]
        .into_iter()
        .map(|c| (c.id, (c.gender, c.birth_date)))
        .collect();

    let (first, first_record) = moscow_till.record(
        Purchase::sale(10_000)
            .by(anna.id)
            .discounted(1_000, "milk", Some("Молочный завод"))
            .points(9, 0),
    );
    let mut moscow_records = vec![(first.clone(), first_record.clone())];
    for p in [
        Purchase::sale(25_050)
            .by(boris.id)
            .points(2, 1)
            .at("2026-03-01T22:30:00Z"),
        Purchase::sale(999).at("2026-03-03T08:00:00Z"),
        Purchase::sale(4_000)
            .by(vera.id)
            .discounted(400, "bread", None),
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
    ] {
        moscow_records.push(moscow_till.record(p));
    }
    let mut far_records = Vec::new();
    for p in [
        Purchase::sale(3_333)
            .by(anna.id)
            .discounted(333, "milk", Some("Молочный завод"))
            .at("2026-03-02T15:30:00Z"),
        Purchase::sale(7_777)
            .by(boris.id)
            .discounted(777, "milk", Some("Молочный завод")),
        Purchase::sale(1),
    ] {
        far_records.push(far_till.record(p));
    }
    let signed = |records: &[(shared::record::SignedRecord, PurchaseRecord)]| -> Vec<_> {
        records.iter().map(|(s, _)| s.clone()).collect()
    };
    assert_eq!(
        moscow_till.upload(&signed(&moscow_records)).await.0,
        StatusCode::OK
    );
    assert_eq!(
        far_till.upload(&signed(&far_records)).await.0,
        StatusCode::OK
    );

    // What the registers' outboxes add up to.
    let zones: BTreeMap<StoreId, Tz> = [
        (moscow.id, chrono_tz::Europe::Moscow),
        (vladivostok.id, chrono_tz::Asia::Vladivostok),
    ]
    .into();
    let all: Vec<&PurchaseRecord> = moscow_records
        .iter()
        .chain(&far_records)
        .map(|(_, r)| r)
        .collect();
    let sales: Vec<&&PurchaseRecord> = all.iter().filter(|r| r.kind == RecordKind::Sale).collect();
    let sales_total: i64 = sales.iter().map(|r| r.total.minor()).sum();
    let refunds: i64 = all
        .iter()
        .filter(|r| r.kind != RecordKind::Sale)
        .map(|r| r.total.minor())
        .sum();
    let (mut by_store, mut by_gender, mut by_age, mut by_day) = (
        Expected::new(),
        Expected::new(),
        Expected::new(),
        Expected::new(),
    );
    let mut promotions: BTreeMap<String, (i64, BTreeSet<CustomerId>, i64)> = BTreeMap::new();
    for r in &all {
        let day = r.wall_time.with_timezone(&zones[&r.store_id]).date_naive();
        add(&mut by_store, r.store_id.to_string(), r);
        add(&mut by_day, format!("{day} {}", r.store_id), r);
        if let Some(c) = r.customer {
            let (gender, birth) = profiles[&c.id];
            add(&mut by_gender, gender.code().to_owned(), r);
            add(&mut by_age, age_band(birth, day).to_owned(), r);
        }
        if r.kind == RecordKind::Sale {
            for applied in r.lines.iter().flat_map(|l| &l.applied) {
                if let RuleRef::Promotion(id) = &applied.rule {
                    let entry = promotions.entry(id.to_string()).or_default();
                    entry.0 += 1;
                    entry.1.extend(r.customer.map(|c| c.id));
                    entry.2 += applied.discount.minor();
                }
            }
        }
    }

    let stats: Stats = server
        .admin_ok(
            Method::GET,
            &format!("/api/v1/admin/merchants/{}/stats", merchant.id),
            None,
        )
        .await;
    assert_eq!(stats.totals.checks, i64::try_from(sales.len()).unwrap());
    assert_eq!(stats.totals.returns, 1);
    assert_eq!(stats.totals.revenue.minor(), sales_total - refunds);
    assert_eq!(
        stats.totals.discount.minor(),
        sales.iter().map(|r| r.discount.minor()).sum::<i64>()
    );
    assert_eq!(
        stats.totals.average_check.minor(),
        i64::try_from(shared::money::round_half_up(
            sales_total.into(),
            i128::try_from(sales.len()).unwrap()
        ))
        .unwrap()
    );
    assert_eq!(
        stats.totals.points_earned,
        all.iter().map(|r| r.points_earned).sum::<i64>()
    );
    let identified = sales.iter().filter(|r| r.customer.is_some()).count();
    assert_eq!(stats.identified.checks, i64::try_from(identified).unwrap());

    let flatten = |e: &Expected| -> Vec<(String, i64, i64, i64)> {
        e.iter()
            .map(|(k, (checks, customers, revenue))| {
                (
                    k.clone(),
                    *checks,
                    i64::try_from(customers.len()).unwrap(),
                    *revenue,
                )
            })
            .collect()
    };
    let got_stores: Vec<(String, i64, i64)> = stats
        .by_store
        .iter()
        .map(|s| {
            (
                s.store_id.to_string(),
                s.figures.checks,
                s.figures.revenue.minor(),
            )
        })
        .collect();
    let want_stores: Vec<(String, i64, i64)> = flatten(&by_store)
        .into_iter()
        .map(|(k, c, _, r)| (k, c, r))
        .collect();
    assert_eq!(got_stores, want_stores);

    let got_days: Vec<(String, i64, i64)> = stats
        .by_day
        .iter()
        .map(|d| {
            (
                format!("{} {}", d.day, d.store_id),
                d.figures.checks,
                d.figures.revenue.minor(),
            )
        })
        .collect();
    let want_days: Vec<(String, i64, i64)> = flatten(&by_day)
        .into_iter()
        .map(|(k, c, _, r)| (k, c, r))
        .collect();
    assert_eq!(got_days, want_days);

    let segments =
        |s: &[sync_server::wire::admin::SegmentSales]| -> BTreeMap<String, (i64, i64, i64)> {
            s.iter()
                .map(|s| {
                    (
                        s.segment.clone(),
                        (s.figures.checks, s.customers, s.figures.revenue.minor()),
                    )
                })
                .collect()
        };
    let want = |e: &Expected| -> BTreeMap<String, (i64, i64, i64)> {
        flatten(e)
            .into_iter()
            .map(|(k, c, n, r)| (k, (c, n, r)))
            .collect()
    };
    assert_eq!(segments(&stats.by_gender), want(&by_gender));
    assert_eq!(segments(&stats.by_age), want(&by_age));
    assert_eq!(
        stats
            .by_age
            .iter()
            .map(|s| s.segment.as_str())
            .collect::<Vec<_>>(),
        vec!["under 25", "35-44", "unknown"],
        "age bands in their natural order"
    );

    let got_promotions: BTreeMap<String, (i64, i64, i64, Option<String>)> = stats
        .promotions
        .iter()
        .map(|p| {
            (
                p.promotion_id.to_string(),
                (
                    p.checks,
                    p.customers,
                    p.discount.minor(),
                    p.funded_by.clone(),
                ),
            )
        })
        .collect();
    let want_promotions: BTreeMap<String, (i64, i64, i64, Option<String>)> = promotions
        .into_iter()
        .map(|(id, (checks, customers, discount))| {
            let funded = (id == "milk").then(|| "Молочный завод".to_owned());
            (
                id,
                (
                    checks,
                    i64::try_from(customers.len()).unwrap(),
                    discount,
                    funded,
                ),
            )
        })
        .collect();
    assert_eq!(got_promotions, want_promotions);

    // A day range selects local days: 08:00Z in Moscow and 15:30Z the day
    // before in Vladivostok (UTC+10) are both on 3 March.
    let only: Stats = server
        .admin_ok(
            Method::GET,
            &format!(
                "/api/v1/admin/merchants/{}/stats?from=2026-03-03&to=2026-03-03",
                merchant.id
            ),
            None,
        )
        .await;
    assert_eq!(
        (only.totals.checks, only.totals.revenue.minor()),
        (2, 999 + 3_000)
    );
}
