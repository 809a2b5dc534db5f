//! Returns: worked examples and properties over sales priced by the engine.

use chrono::DateTime;
use proptest::prelude::*;

use super::*;
use crate::basket::Line;
use crate::ids::{Category, CustomerId, PromotionId, Sku};
use crate::money::{BasisPoints, Currency};
use crate::pricing::{CustomerStanding, Engine, PricedCheck, PricingContext};
use crate::record::{IdentifiedBy, RecordCustomer};
use crate::ruleset::{EarnRule, Programme, Promotion, Redemption, Reward, Ruleset, Target, Tier};

fn rub(minor: i64) -> Money {
    Money::from_minor(minor).unwrap()
}

fn line(sku: &str, cat: &str, units: u64, price: i64) -> Line {
    Line {
        sku: Sku::parse(sku).unwrap(),
        name: format!("Item {sku}"),
        category: Some(Category::parse(cat).unwrap()),
        quantity: Quantity::from_milli(units * 1000).unwrap(),
        unit_price: rub(price),
    }
}

fn header(seq: i64) -> ReturnHeader {
    ReturnHeader {
        id: Uuid::from_u128(1000 + seq as u128),
        merchant_id: MerchantId::new(1).unwrap(),
        store_id: StoreId::new(1).unwrap(),
        register_id: RegisterId::new(7).unwrap(),
        seq: Seq::new(seq).unwrap(),
        prev_hash: Hash256::GENESIS,
        wall_time: DateTime::from_timestamp(1_790_100_000, 0).unwrap(),
    }
}

/// The record a till commits for a priced check.
pub(crate) fn sale(lines: &[Line], p: &PricedCheck) -> PurchaseRecord {
    PurchaseRecord {
        format: RECORD_FORMAT,
        id: Uuid::from_u128(1),
        merchant_id: MerchantId::new(1).unwrap(),
        store_id: StoreId::new(1).unwrap(),
        register_id: RegisterId::new(3).unwrap(),
        seq: Seq::new(5).unwrap(),
        prev_hash: Hash256::GENESIS,
        wall_time: DateTime::from_timestamp(1_790_000_000, 0).unwrap(),
        ruleset_version: None,
        kind: RecordKind::Sale,
        currency: Currency::RUB,
        customer: Some(RecordCustomer {
            id: CustomerId::new(9).unwrap(),
            identified_by: IdentifiedBy::Card,
        }),
        lines: lines
            .iter()
            .zip(&p.lines)
            .map(|(l, pl)| RecordLine {
                sku: l.sku.clone(),
                name: l.name.clone(),
                category: l.category.clone(),
                quantity: l.quantity,
                unit_price: l.unit_price,
                amount: pl.amount,
                discount: pl.discount,
                total: pl.total,
                points: pl.points,
                applied: pl.applied.clone(),
            })
            .collect(),
        subtotal: p.subtotal,
        discount: p.discount,
        total: p.total,
        points_earned: p.points_earned,
        points_redeemed: p.points_redeemed,
        applied: p.applied.clone(),
        point_awards: p.points.clone(),
        pricing_inputs: None,
    }
}

fn programme() -> Ruleset {
    Ruleset {
        currency: Currency::RUB,
        programme: Programme {
            tiers: vec![Tier {
                name: "Gold".into(),
                min_lifetime_spend: rub(0),
                discount: BasisPoints::new(500).unwrap(),
                earn: None,
            }],
            earn: Some(EarnRule {
                per: rub(1_000),
                points: 1,
                excluded_categories: vec![],
                excluded_skus: vec![],
                category_rates: vec![],
            }),
            redemption: Some(Redemption {
                points: 1,
                value: rub(100),
                max_share: BasisPoints::new(3_000).unwrap(),
                min_balance: 0,
                offline_cap_points: None,
            }),
            ..Programme::default()
        },
        promotions: vec![Promotion {
            id: PromotionId::parse("yogurt-2+1").unwrap(),
            name: "2+1".into(),
            description: String::new(),
            target: Target::Categories {
                categories: vec![Category::parse("yogurt").unwrap()],
            },
            reward: Reward::BuyXGetY {
                buy: 2,
                get: 1,
                free_sku: None,
                percent: BasisPoints::FULL,
            },
            starts_at: None,
            ends_at: None,
            stores: vec![],
            priority: 0,
            combines_with_tier: true,
            funded_by: Some("Молзавод".into()),
            exclude: Default::default(),
            conditions: Default::default(),
            limits: Default::default(),
            group: None,
            coupon: None,
            holdout: None,
        }],
    }
}

fn summary(r: &PurchaseRecord) -> String {
    let mut out = String::new();
    for l in &r.lines {
        let rules: Vec<String> = l
            .applied
            .iter()
            .map(|a| format!("{:?}:{}", a.rule, a.discount))
            .collect();
        out += &format!(
            "{} × {}: amount {} discount {} total {} points {} [{}]\n",
            l.sku,
            l.quantity,
            l.amount,
            l.discount,
            l.total,
            l.points,
            rules.join(", ")
        );
    }
    out += &format!(
        "record: subtotal {} discount {} total {} points earned {} redeemed {}\n",
        r.subtotal, r.discount, r.total, r.points_earned, r.points_redeemed
    );
    if let RecordKind::Return {
        original_lines,
        uses_returned,
        ..
    } = &r.kind
    {
        out += &format!("original lines {original_lines:?}, uses returned {uses_returned:?}\n");
    }
    out
}

/// Anchor bug: refunds that kept the points (or earned more on refund
/// lines). A return claws back exactly what its lines earned and gives
/// back the points spent on them; a return never earns.
#[test]
fn a_partial_then_full_return_claws_back_and_restores_exactly() {
    let engine = Engine::new(programme()).unwrap();
    let lines = [
        line("yogurt", "yogurt", 3, 4_500),
        line("coffee", "grocery", 1, 39_900),
    ];
    let customer = CustomerStanding {
        points_balance: 100,
        ..CustomerStanding::default()
    };
    let mut ctx = PricingContext::new(
        StoreId::new(1).unwrap(),
        DateTime::from_timestamp(1_790_000_000, 0).unwrap(),
    );
    ctx.redeem_points = 100;
    let priced = engine.price(&lines, Some(&customer), &ctx).unwrap();
    let original = sale(&lines, &priced);
    expect_test::expect![[r#"
        yogurt × 3: amount 135.00 discount 67.90 total 67.10 points 7 [Promotion(PromotionId("yogurt-2+1")):45.00, Tier("Gold"):4.50, Redemption:18.40]
        coffee × 1: amount 399.00 discount 101.55 total 297.45 points 29 [Tier("Gold"):19.95, Redemption:81.60]
        record: subtotal 534.00 discount 169.45 total 364.55 points earned 36 redeemed 100
    "#]]
    .assert_eq(&summary(&original));

    // One yogurt comes back, then the coffee.
    let first = return_record(
        &original,
        &[],
        &[ReturnLine {
            line_no: 0,
            quantity: Quantity::ONE,
        }],
        header(1),
    )
    .unwrap();
    expect_test::expect![[r#"
        yogurt × 1: amount -45.00 discount -22.63 total -22.37 points -2 [Promotion(PromotionId("yogurt-2+1")):-15.00, Tier("Gold"):-1.50, Redemption:-6.13]
        record: subtotal -45.00 discount -22.63 total -22.37 points earned -2 redeemed -6
        original lines [0], uses returned []
    "#]]
    .assert_eq(&summary(&first));
    let second = return_record(
        &original,
        std::slice::from_ref(&first),
        &[ReturnLine {
            line_no: 1,
            quantity: Quantity::ONE,
        }],
        header(2),
    )
    .unwrap();
    expect_test::expect![[r#"
        coffee × 1: amount -399.00 discount -101.55 total -297.45 points -29 [Tier("Gold"):-19.95, Redemption:-81.60]
        record: subtotal -399.00 discount -101.55 total -297.45 points earned -29 redeemed -82
        original lines [1], uses returned []
    "#]]
    .assert_eq(&summary(&second));
    // The last two yogurts: the promotion's use comes back with them.
    let third = return_record(
        &original,
        &[first.clone(), second.clone()],
        &[ReturnLine {
            line_no: 0,
            quantity: Quantity::from_units(2).unwrap(),
        }],
        header(3),
    )
    .unwrap();
    expect_test::expect![[r#"
        yogurt × 2: amount -90.00 discount -45.27 total -44.73 points -5 [Promotion(PromotionId("yogurt-2+1")):-30.00, Tier("Gold"):-3.00, Redemption:-12.27]
        record: subtotal -90.00 discount -45.27 total -44.73 points earned -5 redeemed -12
        original lines [0], uses returned [PromotionId("yogurt-2+1")]
    "#]]
    .assert_eq(&summary(&third));
    let returns = [first, second, third];
    let refunded: i64 = returns.iter().map(|r| r.total.minor()).sum();
    assert_eq!(refunded, -original.total.minor());
    let balance_moves: i64 = std::iter::once(&original)
        .chain(&returns)
        .map(|r| r.points_earned - r.points_redeemed)
        .sum();
    assert_eq!(balance_moves, 0, "the balance is back where it was");
    assert!(returns.iter().all(|r| r.points_earned <= 0));

    // Nothing is left to return.
    assert!(matches!(
        return_record(
            &original,
            &returns,
            &[ReturnLine {
                line_no: 1,
                quantity: Quantity::ONE
            }],
            header(4)
        ),
        Err(ReturnError::TooMuch { line_no: 1, .. })
    ));
}

#[test]
fn bad_requests_are_refused() {
    let engine = Engine::new(programme()).unwrap();
    let lines = [line("coffee", "grocery", 1, 39_900)];
    let ctx = PricingContext::new(
        StoreId::new(1).unwrap(),
        DateTime::from_timestamp(1_790_000_000, 0).unwrap(),
    );
    let original = sale(&lines, &engine.price(&lines, None, &ctx).unwrap());
    let one = |line_no| ReturnLine {
        line_no,
        quantity: Quantity::ONE,
    };
    assert_eq!(
        return_record(&original, &[], &[], header(1)),
        Err(ReturnError::Empty)
    );
    assert_eq!(
        return_record(&original, &[], &[one(4)], header(1)),
        Err(ReturnError::UnknownLine {
            line_no: 4,
            lines: 1
        })
    );
    let err = return_record(&original, &[], &[one(0), one(0)], header(1)).unwrap_err();
    assert_eq!(err.to_string(), "line 0: 2 asked back, 1 left to return");
    let ret = return_record(&original, &[], &[one(0)], header(1)).unwrap();
    assert_eq!(
        return_record(&ret, &[], &[one(0)], header(2)),
        Err(ReturnError::NotASale(ret.id))
    );
    let mut foreign = ret.clone();
    foreign.kind = RecordKind::refund_of(RecordRef {
        register_id: RegisterId::new(3).unwrap(),
        seq: Seq::new(99).unwrap(),
        id: Uuid::from_u128(99),
    });
    assert_eq!(
        return_record(&original, &[foreign], &[one(0)], header(2)),
        Err(ReturnError::NotThisSale(ret.id))
    );
}

#[test]
fn return_records_serialise_their_line_map_and_old_ones_still_parse() {
    let engine = Engine::new(programme()).unwrap();
    let lines = [line("coffee", "grocery", 1, 39_900)];
    let ctx = PricingContext::new(
        StoreId::new(1).unwrap(),
        DateTime::from_timestamp(1_790_000_000, 0).unwrap(),
    );
    let original = sale(&lines, &engine.price(&lines, None, &ctx).unwrap());
    let ret = return_record(
        &original,
        &[],
        &[ReturnLine {
            line_no: 0,
            quantity: Quantity::ONE,
        }],
        header(1),
    )
    .unwrap();
    let json = serde_json::to_value(&ret).unwrap();
    assert_eq!(json["kind"], "return");
    assert_eq!(json["original_lines"], serde_json::json!([0]));
    let back: PurchaseRecord = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(back, ret);
    // A return written before the line map existed.
    let mut old = json;
    old.as_object_mut().unwrap().remove("original_lines");
    let parsed: PurchaseRecord = serde_json::from_value(old).unwrap();
    assert_eq!(
        parsed.kind,
        RecordKind::refund_of(RecordRef {
            register_id: original.register_id,
            seq: original.seq,
            id: original.id
        })
    );
}

proptest! {
    #![proptest_config(crate::pricing::tests::cases())]

    /// Returning everything, in any number of parts, refunds exactly the
    /// original total and every line's figures, and restores the points
    /// balance exactly; each part refunds, never charges.
    #[test]
    fn returns_add_up_to_the_original(
        world in crate::pricing::tests::arb_world(),
        lines in proptest::collection::vec(crate::pricing::tests::arb_line(), 1..10),
        cuts in proptest::collection::vec((0usize..10, 1u64..4000), 0..12),
    ) {
        let engine = Engine::new(world.ruleset.clone()).unwrap();
        let priced = engine.price(&lines, world.customer.as_ref(), &world.ctx).unwrap();
        let original = sale(&lines, &priced);
        let mut returns: Vec<PurchaseRecord> = Vec::new();
        let mut left: Vec<u64> = original.lines.iter().map(|l| l.quantity.milli()).collect();
        // Partial returns as the cuts say, then the rest.
        let mut plan: Vec<Vec<ReturnLine>> = Vec::new();
        for (j, q) in cuts {
            let j = j % lines.len();
            let q = q.min(left[j]);
            if q == 0 { continue; }
            left[j] -= q;
            plan.push(vec![ReturnLine { line_no: u32::try_from(j).unwrap(), quantity: Quantity::from_milli(q).unwrap() }]);
        }
        let rest: Vec<ReturnLine> = left.iter().enumerate().filter(|&(_, &q)| q > 0)
            .map(|(j, &q)| ReturnLine { line_no: u32::try_from(j).unwrap(), quantity: Quantity::from_milli(q).unwrap() })
            .collect();
        if !rest.is_empty() { plan.push(rest); }
        for (k, request) in plan.iter().enumerate() {
            let r = return_record(&original, &returns, request, header(k as i64 + 1)).unwrap();
            prop_assert!(r.total <= Money::ZERO && r.discount <= Money::ZERO && r.subtotal <= Money::ZERO);
            prop_assert!(r.points_earned <= 0 && r.points_redeemed <= 0);
            prop_assert_eq!(r.subtotal.minor() - r.discount.minor(), r.total.minor());
            for l in &r.lines {
                prop_assert!(l.total <= Money::ZERO && l.discount <= Money::ZERO && l.points <= 0);
                prop_assert_eq!(l.applied.iter().map(|a| a.discount.minor()).sum::<i64>(), l.discount.minor());
            }
            returns.push(r);
        }
        let sum = |f: &dyn Fn(&PurchaseRecord) -> i64| returns.iter().map(f).sum::<i64>();
        prop_assert_eq!(sum(&|r| r.total.minor()), -original.total.minor());
        prop_assert_eq!(sum(&|r| r.discount.minor()), -original.discount.minor());
        prop_assert_eq!(sum(&|r| r.subtotal.minor()), -original.subtotal.minor());
        prop_assert_eq!(sum(&|r| r.points_earned), -original.points_earned);
        prop_assert_eq!(sum(&|r| r.points_redeemed), -original.points_redeemed);
        prop_assert_eq!(
            original.points_earned - original.points_redeemed
                + sum(&|r| r.points_earned - r.points_redeemed),
            0,
            "a full return restores the balance exactly"
        );
        // Every rule's discount comes back exactly, and every use once.
        let mut by_rule: BTreeMap<RuleRef, i64> = BTreeMap::new();
        for a in &original.applied { *by_rule.entry(a.rule.clone()).or_default() += a.discount.minor(); }
        for a in returns.iter().flat_map(|r| &r.applied) { *by_rule.entry(a.rule.clone()).or_default() += a.discount.minor(); }
        prop_assert!(by_rule.values().all(|&v| v == 0), "{:?}", by_rule);
        let mut uses: Vec<PromotionId> = returns.iter().flat_map(|r| match &r.kind {
            RecordKind::Return { uses_returned, .. } => uses_returned.clone(),
            RecordKind::Sale => vec![],
        }).collect();
        uses.sort();
        let mut used: Vec<PromotionId> = original.applied.iter().filter_map(|a| match &a.rule {
            RuleRef::Promotion(id) => Some(id.clone()),
            _ => None,
        }).collect();
        used.sort();
        prop_assert_eq!(uses, used);
    }
}
