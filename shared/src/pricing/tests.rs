//! Worked examples and properties of the engine.

use chrono::{DateTime, Utc};
use proptest::prelude::*;

use super::*;
use crate::money::{BasisPoints, Currency, Quantity};
use crate::ruleset::{EarnRule, Programme, Tier};

fn rub(minor: i64) -> Money {
    Money::from_minor(minor).unwrap()
}

fn line(sku: &str, cat: &str, qty: u64, price: i64) -> Line {
    Line {
        sku: Sku::parse(sku).unwrap(),
        name: format!("Item {sku}"),
        category: Some(Category::parse(cat).unwrap()),
        quantity: Quantity::from_milli(qty * 1000).unwrap(),
        unit_price: rub(price),
    }
}

fn ctx() -> PricingContext {
    PricingContext {
        store: StoreId::new(1).unwrap(),
        now: DateTime::<Utc>::from_timestamp(1_790_000_000, 0).unwrap(),
    }
}

fn promo(id: &str, target: Target, bp: u32) -> Promotion {
    Promotion {
        id: PromotionId::parse(id).unwrap(),
        name: format!("Promo {id}"),
        description: String::new(),
        target,
        reward: Reward::PercentOff {
            percent: BasisPoints::new(bp).unwrap(),
        },
        starts_at: None,
        ends_at: None,
        stores: vec![],
        priority: 0,
        combines_with_tier: false,
        funded_by: None,
    }
}

fn ruleset(promotions: Vec<Promotion>) -> Ruleset {
    Ruleset {
        currency: Currency::RUB,
        programme: Programme {
            tiers: vec![
                Tier {
                    name: "Bronze".into(),
                    min_lifetime_spend: rub(0),
                    discount: BasisPoints::new(0).unwrap(),
                },
                Tier {
                    name: "Silver".into(),
                    min_lifetime_spend: rub(1_000_000),
                    discount: BasisPoints::new(300).unwrap(),
                },
                Tier {
                    name: "Gold".into(),
                    min_lifetime_spend: rub(5_000_000),
                    discount: BasisPoints::new(700).unwrap(),
                },
            ],
            earn: Some(EarnRule {
                per: rub(10_000),
                points: 1,
                excluded_categories: vec![Category::parse("tobacco").unwrap()],
            }),
        },
        promotions,
    }
}

fn gold() -> CustomerStanding {
    CustomerStanding {
        lifetime_spend: rub(6_000_000),
        points_balance: 0,
    }
}

#[test]
fn gold_tier_discount_is_allocated_to_the_kopeck() {
    let engine = Engine::new(ruleset(vec![])).unwrap();
    let lines = [
        line("a", "dairy", 1, 3333),
        line("b", "dairy", 1, 3333),
        line("c", "dairy", 1, 3334),
    ];
    let p = engine.price(&lines, Some(&gold()), &ctx()).unwrap();
    // 7 % of 100.00 is exactly 7.00, spread 2.33 + 2.33 + 2.34.
    assert_eq!(p.subtotal, rub(10_000));
    assert_eq!(p.discount, rub(700));
    assert_eq!(
        p.lines
            .iter()
            .map(|l| l.discount.minor())
            .collect::<Vec<_>>(),
        vec![233, 233, 234]
    );
    assert_eq!(p.total, rub(9_300));
    assert_eq!(p.tier.as_deref(), Some("Gold"));
    assert_eq!(
        p.points_earned, 0,
        "93.00 earns nothing below a full 100.00"
    );
}

#[test]
fn a_split_order_never_gets_a_bigger_tier_discount() {
    // Odoo-style bug: rounding per line gives 3 × 0.35 = 1.05 on three 4.99
    // lines at 7 %; the check-level rule gives 1.05 either way, and splitting
    // the order never gains a kopeck over the whole.
    let engine = Engine::new(ruleset(vec![])).unwrap();
    let whole = engine
        .price(&[line("a", "x", 3, 499)], Some(&gold()), &ctx())
        .unwrap();
    let split = engine
        .price(
            &[
                line("a", "x", 1, 499),
                line("a", "x", 1, 499),
                line("a", "x", 1, 499),
            ],
            Some(&gold()),
            &ctx(),
        )
        .unwrap();
    assert_eq!(whole.discount, rub(105));
    assert!(split.discount <= whole.discount);
}

#[test]
fn a_100_percent_promotion_leaves_no_kopeck() {
    let engine = Engine::new(ruleset(vec![promo(
        "free",
        Target::Skus {
            skus: vec![Sku::parse("a").unwrap()],
        },
        10_000,
    )]))
    .unwrap();
    let p = engine
        .price(&[line("a", "x", 3, 333)], None, &ctx())
        .unwrap();
    assert_eq!(p.total, Money::ZERO);
    assert_eq!(p.discount, rub(999));
}

#[test]
fn best_promotion_wins_and_the_other_is_explained() {
    let engine = Engine::new(ruleset(vec![
        promo(
            "cat-10",
            Target::Categories {
                categories: vec![Category::parse("dairy").unwrap()],
            },
            1000,
        ),
        promo(
            "milk-15",
            Target::Skus {
                skus: vec![Sku::parse("milk").unwrap()],
            },
            1500,
        ),
    ]))
    .unwrap();
    let p = engine
        .price(&[line("milk", "dairy", 2, 8990)], Some(&gold()), &ctx())
        .unwrap();
    assert_eq!(
        p.lines[0].discount,
        rub(2697),
        "15 % of 179.80, no tier on a promoted line"
    );
    assert_eq!(p.applied.len(), 1);
    assert_eq!(
        p.blocked[0].rule,
        RuleRef::Promotion(PromotionId::parse("cat-10").unwrap())
    );
    assert!(
        p.receipt
            .ru
            .iter()
            .any(|l| l.contains("Акция «Promo milk-15»: −26.97")),
        "{:?}",
        p.receipt
    );
}

#[test]
fn excluded_categories_earn_no_points() {
    let engine = Engine::new(ruleset(vec![])).unwrap();
    let p = engine
        .price(
            &[
                line("cig", "tobacco", 1, 25_000),
                line("bread", "bakery", 1, 25_000),
            ],
            None,
            &ctx(),
        )
        .unwrap();
    assert_eq!(p.points_earned, 2);
    assert_eq!(p.lines[0].points, 0);
    assert_eq!(p.lines[1].points, 2);
}

#[test]
fn promotions_outside_their_period_or_store_do_not_apply() {
    let mut p = promo(
        "later",
        Target::Skus {
            skus: vec![Sku::parse("a").unwrap()],
        },
        5000,
    );
    p.starts_at = Some(ctx().now + chrono::Duration::hours(1));
    let mut q = promo(
        "elsewhere",
        Target::Skus {
            skus: vec![Sku::parse("a").unwrap()],
        },
        5000,
    );
    q.stores = vec![StoreId::new(2).unwrap()];
    let engine = Engine::new(ruleset(vec![p, q])).unwrap();
    let priced = engine
        .price(&[line("a", "x", 1, 1000)], None, &ctx())
        .unwrap();
    assert_eq!(priced.discount, Money::ZERO);
    assert_eq!(priced.blocked.len(), 2);
}

#[test]
fn invalid_baskets_are_refused() {
    let engine = Engine::new(ruleset(vec![])).unwrap();
    let mut l = line("a", "x", 1, 100);
    l.unit_price = Money::from_minor(-1).unwrap();
    assert_eq!(
        engine.price(&[l], None, &ctx()),
        Err(PricingError::Basket(BasketError::NegativePrice))
    );
    let mut huge = line("a", "x", 1, Money::MAX_MINOR);
    huge.quantity = Quantity::from_milli(2000).unwrap();
    assert!(engine.price(&[huge], None, &ctx()).is_err());
}

fn arb_line() -> impl Strategy<Value = Line> {
    (0u8..6, 0u8..3, 1u64..5000, 0i64..200_000).prop_map(|(sku, cat, qty_milli, price)| Line {
        sku: Sku::parse(format!("sku{sku}")).unwrap(),
        name: format!("n{sku}"),
        category: Some(Category::parse(["dairy", "bakery", "tobacco"][cat as usize]).unwrap()),
        quantity: Quantity::from_milli(qty_milli).unwrap(),
        unit_price: rub(price),
    })
}

fn arb_ruleset() -> impl Strategy<Value = Ruleset> {
    proptest::collection::vec((0u8..6, 1u32..=10_000, any::<bool>(), -3i32..3), 0..6).prop_map(
        |ps| {
            let promos = ps
                .into_iter()
                .enumerate()
                .map(|(i, (sku, bp, by_cat, prio))| {
                    let target = if by_cat {
                        Target::Categories {
                            categories: vec![
                                Category::parse(["dairy", "bakery"][(sku % 2) as usize]).unwrap(),
                            ],
                        }
                    } else {
                        Target::Skus {
                            skus: vec![Sku::parse(format!("sku{sku}")).unwrap()],
                        }
                    };
                    let mut p = promo(&format!("p{i}"), target, bp);
                    p.priority = prio;
                    p.combines_with_tier = sku % 2 == 0;
                    p
                })
                .collect();
            ruleset(promos)
        },
    )
}

proptest! {
    #[test]
    fn totals_are_exact_non_negative_and_order_independent(
        rs in arb_ruleset(),
        lines in proptest::collection::vec(arb_line(), 1..30),
        spend in 0i64..10_000_000,
        seed in any::<u64>(),
    ) {
        let engine = Engine::new(rs).unwrap();
        let customer = CustomerStanding { lifetime_spend: rub(spend), points_balance: 0 };
        let p = engine.price(&lines, Some(&customer), &ctx()).unwrap();
        prop_assert_eq!(p.lines.iter().map(|l| l.discount.minor()).sum::<i64>(), p.discount.minor());
        prop_assert_eq!(p.subtotal.minor() - p.discount.minor(), p.total.minor());
        prop_assert_eq!(p.lines.iter().map(|l| l.points).sum::<i64>(), p.points_earned);
        for l in &p.lines {
            prop_assert!(l.total >= Money::ZERO && l.discount >= Money::ZERO);
            prop_assert_eq!(l.amount.minor() - l.discount.minor(), l.total.minor());
            prop_assert_eq!(l.applied.iter().map(|a| a.discount.minor()).sum::<i64>(), l.discount.minor());
        }
        // Re-pricing gives the same result.
        prop_assert_eq!(&engine.price(&lines, Some(&customer), &ctx()).unwrap(), &p);

        // Any permutation of lines gives the same per-line results.
        let mut order: Vec<usize> = (0..lines.len()).collect();
        let mut s = seed;
        for i in (1..order.len()).rev() {
            s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            order.swap(i, (s >> 33) as usize % (i + 1));
        }
        let shuffled: Vec<Line> = order.iter().map(|&i| lines[i].clone()).collect();
        let q = engine.price(&shuffled, Some(&customer), &ctx()).unwrap();
        prop_assert_eq!(q.discount, p.discount);
        prop_assert_eq!(q.points_earned, p.points_earned);
        let mut a: Vec<_> = p.lines.iter().zip(&lines).map(|(pl, l)| (l.clone(), pl.discount, pl.points)).collect();
        let mut b: Vec<_> = q.lines.iter().zip(&shuffled).map(|(pl, l)| (l.clone(), pl.discount, pl.points)).collect();
        let key = |x: &(Line, Money, i64)| (x.0.sku.clone(), x.0.unit_price, x.0.quantity, x.0.name.clone(), x.1, x.2);
        a.sort_by_key(key);
        b.sort_by_key(key);
        prop_assert_eq!(a, b);
    }
}
