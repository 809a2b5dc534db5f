//! The re-pricer: the server prices every stored record again with the
//! same engine as the tills, flags what differs field by field with an
//! alert, and counts what it cannot price with the reason.

use reqwest::Method;
use serde_json::json;
use shared::ids::{PromotionId, RulesetVersion};
use shared::money::{Money, Quantity};
use shared::record::{PricingInputs, RecordRef};
use shared::returns::{ReturnHeader, ReturnLine, return_record};
use sync_server::wire::{AlertKind, MismatchedField};
use uuid::Uuid;

use crate::helpers::{Purchase, TestServer, merchant_with_till, promotion, ruleset};

fn v1() -> Option<RulesetVersion> {
    Some(RulesetVersion::new(1).expect("version"))
}

/// The ruleset of the helpers with 10 % off milk.
fn milk_ruleset() -> serde_json::Value {
    let mut rules = ruleset();
    rules["promotions"] = json!([promotion("milk-10")]);
    rules
}

#[tokio::test]
async fn a_record_priced_right_matches_and_a_kopeck_off_is_flagged_with_its_fields() {
    let server = TestServer::spawn().await;
    let (merchant, _, mut till) = merchant_with_till(&server, 1).await;
    let (status, reply) = server.publish(merchant.id, milk_ruleset()).await;
    assert!(status.is_success(), "{reply}");

    // 100.00 of milk, 10 % off: the engine says 10.00 off, 90.00 to pay.
    let right = till
        .record_edited(
            Purchase::sale(10_000).discounted(1_000, "milk-10", None),
            |r| {
                r.ruleset_version = v1();
                r.pricing_inputs = Some(PricingInputs::default());
            },
        )
        .0;
    // The same check where the till took a kopeck less off: signed, valid,
    // and wrong.
    let drifted = till
        .record_edited(
            Purchase::sale(10_000).discounted(999, "milk-10", None),
            |r| {
                r.ruleset_version = v1();
                r.pricing_inputs = Some(PricingInputs::default());
            },
        )
        .0;
    let (status, reply) = till.upload(&[right, drifted]).await;
    assert!(status.is_success(), "{reply}");

    let report = server.repriced(merchant.id).await;
    assert_eq!(
        (
            report.counts.repriced,
            report.counts.matched,
            report.counts.mismatched,
            report.counts.skipped
        ),
        (2, 1, 1, 0),
        "{report:?}"
    );
    let flagged = &report.mismatches[0];
    assert_eq!(flagged.seq.get(), 2);
    assert_eq!(flagged.kind, "sale");
    let field = |name: &str, till: i64, server: i64| MismatchedField {
        field: name.to_owned(),
        till,
        server,
    };
    assert_eq!(
        flagged.fields,
        [
            field("discount", 999, 1_000),
            field("total", 9_001, 9_000),
            field("lines[0].discount", 999, 1_000),
            field("lines[0].total", 9_001, 9_000),
        ]
    );
    let alerts = server.alerts(merchant.id).await;
    let alert = alerts
        .iter()
        .find(|a| a.kind == AlertKind::PriceMismatch)
        .expect("a price mismatch alert");
    assert_eq!(alert.seq.map(|s| s.get()), Some(2));
    assert!(
        alert.detail.contains("total till 9001 server 9000"),
        "{}",
        alert.detail
    );
}

/// The server decides a holdout as the till did, from the record's
/// customer: a held-out customer's sale without the promotion matches, and
/// one that got it anyway (a till that ignored the holdout) is flagged.
#[tokio::test]
async fn the_repricer_holds_out_the_customers_the_till_held_out() {
    let server = TestServer::spawn().await;
    let (merchant, _, mut till) = merchant_with_till(&server, 1).await;
    let mut milk = promotion("milk-10");
    milk["holdout"] = json!(5_000);
    let rules = json!({"currency": "RUB", "programme": {}, "promotions": [milk]});
    let (status, reply) = server.publish(merchant.id, rules).await;
    assert!(status.is_success(), "{reply}");
    let id = PromotionId::parse("milk-10").unwrap();
    let half = shared::money::BasisPoints::new(5_000).unwrap();
    let (mut held, mut exposed) = (None, None);
    for i in 0..40 {
        let c = server
            .customer(
                merchant.id,
                json!({"name": "Покупатель", "phone": format!("+7916555{i:04}")}),
            )
            .await;
        if shared::holdout::is_held_out(c.id, &id, half) {
            held.get_or_insert(c.id);
        } else {
            exposed.get_or_insert(c.id);
        }
    }
    let (held, exposed) = (held.unwrap(), exposed.unwrap());
    let inputs = || PricingInputs {
        standing: Some(shared::pricing::CustomerStanding::default()),
        ..PricingInputs::default()
    };
    let mut sale = |purchase: Purchase| {
        till.record_edited(purchase, |r| {
            r.ruleset_version = v1();
            r.pricing_inputs = Some(inputs());
        })
        .0
    };
    let records = [
        sale(Purchase::sale(10_000).by(held)),
        sale(
            Purchase::sale(10_000)
                .discounted(1_000, "milk-10", None)
                .by(exposed),
        ),
        sale(
            Purchase::sale(10_000)
                .discounted(1_000, "milk-10", None)
                .by(held),
        ),
    ];
    let (status, reply) = till.upload(&records).await;
    assert!(status.is_success(), "{reply}");
    let report = server.repriced(merchant.id).await;
    assert_eq!(
        (
            report.counts.repriced,
            report.counts.matched,
            report.counts.mismatched,
            report.counts.skipped
        ),
        (3, 2, 1, 0),
        "{report:?}"
    );
    assert_eq!(report.mismatches[0].seq.get(), 3);
    assert!(
        report.mismatches[0]
            .fields
            .iter()
            .any(|f| f.field == "discount" && f.till == 1_000 && f.server == 0),
        "{report:?}"
    );
}

#[tokio::test]
async fn records_that_cannot_be_repriced_are_counted_with_the_reason() {
    let server = TestServer::spawn().await;
    let (merchant, _, mut till) = merchant_with_till(&server, 1).await;
    let (status, reply) = server.publish(merchant.id, ruleset()).await;
    assert!(status.is_success(), "{reply}");

    let records = vec![
        // An older agent: no inputs.
        till.record_edited(Purchase::sale(5_000), |r| r.ruleset_version = v1())
            .0,
        // Priced with a version the server never published.
        till.record_edited(Purchase::sale(5_000), |r| {
            r.ruleset_version = Some(RulesetVersion::new(7).expect("version"));
            r.pricing_inputs = Some(PricingInputs::default());
        })
        .0,
        // Priced without any ruleset.
        till.record_edited(Purchase::sale(5_000), |r| {
            r.pricing_inputs = Some(PricingInputs::default());
        })
        .0,
        // A refund entered by hand, without its line mapping.
        till.record(Purchase::refund(
            5_000,
            RecordRef {
                register_id: till.register_id,
                seq: shared::ids::Seq::FIRST,
                id: Uuid::now_v7(),
            },
        ))
        .0,
    ];
    let (status, reply) = till.upload(&records).await;
    assert!(status.is_success(), "{reply}");

    let report = server.repriced(merchant.id).await;
    assert_eq!((report.counts.repriced, report.counts.skipped), (0, 4));
    let mut reasons: Vec<(String, i64)> = report
        .skipped
        .iter()
        .map(|s| (s.reason.clone(), s.records))
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        [
            ("a refund without its line mapping".to_owned(), 1),
            ("no pricing inputs recorded (an older agent)".to_owned(), 1),
            ("priced without a ruleset".to_owned(), 1),
            ("unknown ruleset version 7".to_owned(), 1),
        ]
    );
    assert!(report.mismatches.is_empty());
}

#[tokio::test]
async fn returns_are_computed_again_from_their_original_and_a_restart_counts_nothing_twice() {
    let server = TestServer::spawn().await;
    let (merchant, _, mut till) = merchant_with_till(&server, 1).await;
    let (status, reply) = server.publish(merchant.id, milk_ruleset()).await;
    assert!(status.is_success(), "{reply}");

    // A sale of 3 milk at 33.33, 10 % off (9.99 over the line).
    let (sale_signed, sale) = till.record_edited(
        Purchase::sale(9_999).discounted(999, "milk-10", None),
        |r| {
            r.ruleset_version = v1();
            r.pricing_inputs = Some(PricingInputs::default());
            r.lines[0].quantity = Quantity::from_milli(3_000).expect("qty");
            r.lines[0].unit_price = Money::from_minor(3_333).expect("money");
        },
    );
    let header = |till: &crate::helpers::Till| ReturnHeader {
        id: Uuid::now_v7(),
        merchant_id: till.merchant_id,
        store_id: till.store_id,
        register_id: till.register_id,
        seq: till.next_seq,
        prev_hash: till.prev_hash,
        wall_time: sale.wall_time,
    };
    let one = |n| ReturnLine {
        line_no: 0,
        quantity: Quantity::from_milli(n).expect("qty"),
    };
    // One unit back, computed as the till does: matches.
    let first = return_record(&sale, &[], &[one(1_000)], header(&till)).expect("return");
    let first_signed = till.seal_next(first.clone());
    // The other two back, computed after the first, but a kopeck more
    // refunded (a kopeck less discount given back): the record's own sums
    // still add up, so it is stored, and re-pricing flags it.
    let mut second = return_record(&sale, &[first], &[one(2_000)], header(&till)).expect("return");
    let kopeck = |m: Money, by: i64| Money::from_minor(m.minor() + by).expect("money");
    second.total = kopeck(second.total, -1);
    second.discount = kopeck(second.discount, 1);
    second.lines[0].total = kopeck(second.lines[0].total, -1);
    second.lines[0].discount = kopeck(second.lines[0].discount, 1);
    let second_signed = till.seal_next(second.clone());
    let (status, reply) = till
        .upload(&[sale_signed, first_signed, second_signed])
        .await;
    assert!(status.is_success(), "{reply}");

    let report = server.repriced(merchant.id).await;
    assert_eq!(
        (report.counts.matched, report.counts.mismatched),
        (2, 1),
        "{report:?}"
    );
    let flagged = &report.mismatches[0];
    assert_eq!((flagged.seq.get(), flagged.kind.as_str()), (3, "return"));
    let field = |name: &str, till: Money, by: i64| MismatchedField {
        field: name.into(),
        till: till.minor(),
        server: till.minor() + by,
    };
    assert_eq!(
        flagged.fields,
        [
            field("discount", second.discount, -1),
            field("total", second.total, 1),
            field("lines[0].discount", second.lines[0].discount, -1),
            field("lines[0].total", second.lines[0].total, 1),
        ]
    );
    // The promotion use comes back with the last unit.
    assert_eq!(
        second_uses(&second),
        [PromotionId::parse("milk-10").expect("id")]
    );

    // A restart carries on from the cursor: nothing is counted twice.
    let server = server.restart().await;
    let again = server.repriced(merchant.id).await;
    assert_eq!(again.counts, report.counts);
    let raised = server
        .alerts(merchant.id)
        .await
        .into_iter()
        .filter(|a| a.kind == AlertKind::PriceMismatch)
        .count();
    assert_eq!(raised, 1);
}

fn second_uses(record: &shared::record::PurchaseRecord) -> Vec<PromotionId> {
    match &record.kind {
        shared::record::RecordKind::Return { uses_returned, .. } => uses_returned.clone(),
        shared::record::RecordKind::Sale => Vec::new(),
    }
}

#[tokio::test]
async fn the_mismatches_of_an_unknown_merchant_are_not_found() {
    let server = TestServer::spawn().await;
    let (status, _) = server
        .admin(Method::GET, "/api/v1/admin/merchants/99/mismatches", None)
        .await;
    assert_eq!(status, reqwest::StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_dashboard_shows_the_counts_and_the_fields_of_a_mismatch() {
    let server = TestServer::spawn().await;
    let (merchant, _, mut till) = merchant_with_till(&server, 1).await;
    let (status, reply) = server.publish(merchant.id, milk_ruleset()).await;
    assert!(status.is_success(), "{reply}");
    let records = vec![
        till.record_edited(
            Purchase::sale(10_000).discounted(1_000, "milk-10", None),
            |r| {
                r.ruleset_version = v1();
                r.pricing_inputs = Some(PricingInputs::default());
            },
        )
        .0,
        till.record_edited(
            Purchase::sale(10_000).discounted(1_001, "milk-10", None),
            |r| {
                r.ruleset_version = v1();
                r.pricing_inputs = Some(PricingInputs::default());
            },
        )
        .0,
        till.record(Purchase::sale(500)).0,
    ];
    let (status, reply) = till.upload(&records).await;
    assert!(status.is_success(), "{reply}");
    server.repriced(merchant.id).await;

    let hq = crate::web::Hq::sign_in(&server).await;
    let (status, page) = hq.get(&format!("/hq/merchants/{}", merchant.id)).await;
    assert_eq!(status, reqwest::StatusCode::OK);
    for (count, n) in [
        ("repriced", 2),
        ("matched", 1),
        ("mismatched", 1),
        ("skipped", 1),
        ("pending", 0),
    ] {
        assert!(
            page.contains(&format!("<span data-count=\"{count}\">{n}</span>")),
            "{count} = {n}"
        );
    }
    assert!(page.contains("no pricing inputs recorded (an older agent): 1"));
    let table = &page[page.find("<table id=\"mismatches\">").expect("the table")..];
    assert!(
        table.contains("<td>total</td><td class=\"num\">8999</td><td class=\"num\">9000</td>"),
        "{table}"
    );
}

#[tokio::test]
async fn a_backlog_longer_than_a_batch_is_repriced_whole_across_batches() {
    let server = TestServer::spawn().await;
    let (merchant, _, mut till) = merchant_with_till(&server, 1).await;
    let (status, reply) = server.publish(merchant.id, ruleset()).await;
    assert!(status.is_success(), "{reply}");
    let records: Vec<_> = (0..450)
        .map(|i| {
            till.record_edited(Purchase::sale(1_000 + i), |r| {
                r.ruleset_version = v1();
                r.pricing_inputs = Some(PricingInputs::default());
            })
            .0
        })
        .collect();
    let (status, reply) = till.upload(&records).await;
    assert!(status.is_success(), "{reply}");
    let report = server.repriced(merchant.id).await;
    assert_eq!(
        (
            report.counts.matched,
            report.counts.mismatched,
            report.counts.skipped
        ),
        (450, 0, 0)
    );
}
