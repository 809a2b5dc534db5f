//! Worked examples and properties of the engine.

use chrono::{DateTime, Utc};
use proptest::prelude::*;

use super::*;
use crate::ids::{PromotionId, StoreId};
use crate::money::{BasisPoints, Currency, Quantity};
use crate::ruleset::{Apply, EarnRule, Exclusions, Limits, Programme, Promotion, Tier};

pub(super) fn rub(minor: i64) -> Money {
    Money::from_minor(minor).unwrap()
}

pub(super) fn bp(v: u32) -> BasisPoints {
    BasisPoints::new(v).unwrap()
}

pub(super) fn sku(s: &str) -> Sku {
    Sku::parse(s).unwrap()
}

pub(super) fn cat(s: &str) -> Category {
    Category::parse(s).unwrap()
}

pub(super) fn line(sku: &str, cat: &str, qty: u64, price: i64) -> Line {
    Line {
        sku: Sku::parse(sku).unwrap(),
        name: format!("Item {sku}"),
        category: Some(Category::parse(cat).unwrap()),
        quantity: Quantity::from_milli(qty * 1000).unwrap(),
        unit_price: rub(price),
    }
}

/// 2026-09-21 14:13:20 UTC, a Monday: 17:13 in Moscow.
pub(super) fn ctx() -> PricingContext {
    PricingContext::new(
        StoreId::new(1).unwrap(),
        DateTime::<Utc>::from_timestamp(1_790_000_000, 0).unwrap(),
    )
}

/// A promotion with the given reward and every option at its default.
pub(super) fn promotion(id: &str, target: Target, reward: Reward) -> Promotion {
    Promotion {
        id: PromotionId::parse(id).unwrap(),
        name: format!("Promo {id}"),
        description: String::new(),
        target,
        reward,
        starts_at: None,
        ends_at: None,
        stores: vec![],
        priority: 0,
        combines_with_tier: false,
        funded_by: None,
        exclude: Exclusions::default(),
        conditions: Box::default(),
        limits: Limits::default(),
        group: None,
        coupon: None,
        holdout: None,
    }
}

pub(super) fn promo(id: &str, target: Target, percent: u32) -> Promotion {
    promotion(
        id,
        target,
        Reward::PercentOff {
            percent: bp(percent),
            apply: Apply::Each,
        },
    )
}

pub(super) fn ruleset(promotions: Vec<Promotion>) -> Ruleset {
    Ruleset {
        currency: Currency::RUB,
        programme: Programme {
            tiers: vec![
                Tier {
                    name: "Bronze".into(),
                    min_lifetime_spend: rub(0),
                    discount: bp(0),
                    earn: None,
                },
                Tier {
                    name: "Silver".into(),
                    min_lifetime_spend: rub(1_000_000),
                    discount: bp(300),
                    earn: None,
                },
                Tier {
                    name: "Gold".into(),
                    min_lifetime_spend: rub(5_000_000),
                    discount: bp(700),
                    earn: None,
                },
            ],
            earn: Some(EarnRule {
                per: rub(10_000),
                points: 1,
                excluded_categories: vec![cat("tobacco")],
                excluded_skus: vec![],
                category_rates: vec![],
            }),
            ..Programme::default()
        },
        promotions,
    }
}

pub(super) fn gold() -> CustomerStanding {
    CustomerStanding {
        lifetime_spend: rub(6_000_000),
        ..CustomerStanding::default()
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
    // lines at 7 %; the check-level rule takes 7 % of 14.97 = 1.0479 once,
    // rounded down, so splitting the order never gains a kopeck.
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
    assert_eq!(whole.discount, rub(104));
    assert_eq!(split.discount, whole.discount);
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
        p.blocked,
        vec![
            BlockedRule::new(RuleRef::Tier("Gold".into()), BlockReason::NotCombinable),
            BlockedRule::new(
                RuleRef::Promotion(PromotionId::parse("cat-10").unwrap()),
                BlockReason::ExcludedByGroup {
                    group: "default".into()
                }
            ),
        ]
    );
    assert_eq!(
        p.blocked[1].message,
        "another promotion of its exclusive group took its lines"
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
    let basket = [
        line("cig", "tobacco", 1, 25_000),
        line("bread", "bakery", 1, 25_000),
    ];
    let customer = CustomerStanding::default();
    let p = engine.price(&basket, Some(&customer), &ctx()).unwrap();
    assert_eq!(p.points_earned, 2);
    assert_eq!(p.lines[0].points, 0);
    assert_eq!(p.lines[1].points, 2);
}

#[test]
fn an_anonymous_check_earns_no_points() {
    let mut rules = ruleset(vec![]);
    rules.promotions.push(
        serde_json::from_value(serde_json::json!({
            "id": "extra", "name": "Extra",
            "target": {"kind": "basket"},
            "reward": {"kind": "extra_points", "points": 50}
        }))
        .unwrap(),
    );
    let engine = Engine::new(rules).unwrap();
    let basket = [line("bread", "bakery", 2, 25_000)];
    let anonymous = engine.price(&basket, None, &ctx()).unwrap();
    assert_eq!(anonymous.points_earned, 0);
    assert!(anonymous.lines.iter().all(|l| l.points == 0));
    assert_eq!(
        anonymous.blocked[0].reason,
        BlockReason::ConditionNotMet {
            condition: Condition::Customer
        }
    );
    let customer = CustomerStanding::default();
    let known = engine.price(&basket, Some(&customer), &ctx()).unwrap();
    assert_eq!(known.points_earned, 5 + 50);
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

/// A held-out customer does not get the promotion and is told why; an
/// exposed customer and an anonymous check get it as before.
#[test]
fn a_held_out_customer_is_priced_without_the_promotion() {
    let mut p = promo(
        "milk-10",
        Target::Skus {
            skus: vec![Sku::parse("a").unwrap()],
        },
        1000,
    );
    p.holdout = Some(bp(3000));
    let engine = Engine::new(ruleset(vec![p])).unwrap();
    let id = |n| crate::ids::CustomerId::new(n).unwrap();
    let share = bp(3000);
    let promotion = PromotionId::parse("milk-10").unwrap();
    let held = (1..)
        .map(id)
        .find(|&c| crate::holdout::is_held_out(c, &promotion, share))
        .unwrap();
    let exposed = (1..)
        .map(id)
        .find(|&c| !crate::holdout::is_held_out(c, &promotion, share))
        .unwrap();
    let basket = [line("a", "x", 1, 1000)];
    let standing = CustomerStanding::default();
    let price = |customer: Option<crate::ids::CustomerId>| {
        let ctx = PricingContext { customer, ..ctx() };
        engine
            .price(&basket, customer.map(|_| &standing), &ctx)
            .unwrap()
    };
    let held_out = price(Some(held));
    assert_eq!(held_out.discount, Money::ZERO);
    assert_eq!(held_out.blocked.len(), 1);
    assert_eq!(
        held_out.blocked[0].reason,
        BlockReason::ConditionNotMet {
            condition: Condition::HeldOut
        }
    );
    assert!(held_out.blocked[0].message.contains("holdout"));
    assert_eq!(price(Some(exposed)).discount, rub(100));
    assert_eq!(
        price(None).discount,
        rub(100),
        "anonymous checks have no holdout"
    );
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

// ---------------------------------------------------------------------------
// Properties on random baskets and random rulesets.
// ---------------------------------------------------------------------------

const CATS: [&str; 3] = ["dairy", "bakery", "tobacco"];

pub(crate) fn arb_line() -> impl Strategy<Value = Line> {
    (0u8..6, 0u8..3, 0u8..8, 1u64..5, 0i64..30_000).prop_map(|(s, c, q, units, price)| {
        // Mostly whole units; now and then a weighed quantity.
        let milli = if q == 0 {
            250 + units * 333
        } else {
            units * 1000
        };
        Line {
            sku: sku(&format!("sku{s}")),
            name: format!("n{s}"),
            category: Some(cat(CATS[c as usize])),
            quantity: Quantity::from_milli(milli).unwrap(),
            unit_price: rub(price),
        }
    })
}

fn arb_target() -> impl Strategy<Value = Target> {
    prop_oneof![
        (0u8..6).prop_map(|s| Target::Skus {
            skus: vec![sku(&format!("sku{s}"))]
        }),
        (0u8..6, 0u8..6).prop_map(|(a, b)| Target::Skus {
            skus: vec![sku(&format!("sku{a}")), sku(&format!("sku{b}"))]
        }),
        (0u8..3).prop_map(|c| Target::Categories {
            categories: vec![cat(CATS[c as usize])]
        }),
        Just(Target::Basket),
    ]
}

fn arb_reward() -> impl Strategy<Value = Reward> {
    let apply = prop_oneof![Just(Apply::Each), Just(Apply::Total)];
    prop_oneof![
        (1u32..=10_000, apply.clone()).prop_map(|(p, apply)| Reward::PercentOff {
            percent: bp(p),
            apply
        }),
        (1i64..5_000, apply).prop_map(|(a, apply)| Reward::AmountOff {
            amount: rub(a),
            apply
        }),
        (0i64..20_000).prop_map(|p| Reward::SpecialPrice { unit_price: rub(p) }),
        (
            1u32..4,
            1u32..3,
            proptest::option::of(0u8..6),
            prop_oneof![Just(10_000u32), 1u32..10_000]
        )
            .prop_map(|(buy, get, free, p)| Reward::BuyXGetY {
                buy,
                get,
                free_sku: free.map(|s| sku(&format!("sku{s}"))),
                percent: bp(p),
            }),
        (2u32..4, 1u32..=10_000).prop_map(|(n, p)| Reward::NthItem { n, percent: bp(p) }),
        (0i64..30_000).prop_map(|price| Reward::Bundle {
            items: vec![],
            price: rub(price)
        }),
        (101u32..400).prop_map(|percent| Reward::PointsMultiplier { percent }),
        (1i64..50).prop_map(|points| Reward::ExtraPoints { points }),
    ]
}

#[derive(Clone, Debug)]
struct PromoSpec {
    target: Target,
    reward: Reward,
    priority: i32,
    combines: bool,
    group: u8,
    per_check: Option<u32>,
    budget: Option<i64>,
    min_amount: Option<i64>,
    coupon: bool,
    exclude_tobacco: bool,
    happy_hour: Option<u32>,
    new_customer: bool,
    total_uses: Option<u64>,
    holdout: Option<u32>,
}

fn arb_promo() -> impl Strategy<Value = PromoSpec> {
    (
        (arb_target(), arb_reward(), -2i32..3, any::<bool>(), 0u8..3),
        (
            proptest::option::weighted(0.2, 1u32..4),
            proptest::option::weighted(0.2, 1i64..20_000),
            proptest::option::weighted(0.15, 0i64..60_000),
            proptest::bool::weighted(0.15),
            proptest::bool::weighted(0.2),
            proptest::option::weighted(0.15, 0u32..24),
            proptest::bool::weighted(0.1),
            proptest::option::weighted(0.1, 1u64..4),
            proptest::option::weighted(0.2, 1u32..=5_000),
        ),
    )
        .prop_map(
            |(
                (target, reward, priority, combines, group),
                (
                    per_check,
                    budget,
                    min_amount,
                    coupon,
                    exclude_tobacco,
                    happy_hour,
                    new_customer,
                    total_uses,
                    holdout,
                ),
            )| PromoSpec {
                target,
                reward,
                priority,
                combines,
                group,
                per_check,
                budget,
                min_amount,
                coupon,
                exclude_tobacco,
                happy_hour,
                new_customer,
                total_uses,
                holdout,
            },
        )
}

#[derive(Clone, Debug)]
pub(crate) struct World {
    pub ruleset: Ruleset,
    pub customer: Option<CustomerStanding>,
    pub ctx: PricingContext,
}

#[allow(clippy::too_many_arguments)]
fn build_world(
    specs: Vec<PromoSpec>,
    policies: (bool, bool, bool),
    floors: (Option<u32>, Option<i64>),
    extras: (bool, bool, bool),
    customer: Option<(i64, i64, Option<u64>, i64)>,
    redeem: i64,
    coupon_entered: bool,
    uses: u64,
) -> World {
    let mut rs = ruleset(vec![]);
    let (silver_rate, redemption, welcome) = extras;
    if silver_rate {
        rs.programme.tiers[1].earn = Some(crate::ruleset::EarnRate {
            per: rub(5_000),
            points: 1,
        });
        if let Some(earn) = &mut rs.programme.earn {
            earn.category_rates.push(crate::ruleset::CategoryRate {
                category: cat("bakery"),
                per: rub(2_000),
                points: 1,
            });
        }
    }
    if redemption {
        rs.programme.redemption = Some(crate::ruleset::Redemption {
            points: 1,
            value: rub(100),
            max_share: bp(5000),
            min_balance: 10,
            offline_cap_points: None,
        });
    }
    if welcome {
        rs.programme.welcome_bonus = Some(25);
    }
    let (default_listed, g1_first, g2_first) = policies;
    let policy = |first: bool| {
        if first {
            crate::ruleset::GroupPolicy::FirstByPriority
        } else {
            crate::ruleset::GroupPolicy::BestForCustomer
        }
    };
    let mut groups = vec![
        crate::ruleset::Group {
            name: "g1".into(),
            policy: policy(g1_first),
        },
        crate::ruleset::Group {
            name: "g2".into(),
            policy: policy(g2_first),
        },
    ];
    if default_listed {
        groups.push(crate::ruleset::Group {
            name: crate::ruleset::DEFAULT_GROUP.into(),
            policy: policy(g1_first),
        });
    }
    rs.programme.stacking.groups = groups;
    rs.programme.stacking.max_line_discount = floors.0.map(bp);
    if let Some(min) = floors.1 {
        rs.programme
            .stacking
            .min_prices
            .push(crate::ruleset::MinPrice {
                sku: sku("sku1"),
                unit_price: rub(min),
            });
    }
    let mut usage = UsageCounts::default();
    for (i, s) in specs.into_iter().enumerate() {
        let mut target = s.target;
        let mut reward = s.reward;
        if let Reward::Bundle { items, .. } = &mut reward {
            let skus = match &target {
                Target::Skus { skus } => skus.clone(),
                _ => vec![sku("sku0"), sku("sku2")],
            };
            let mut skus = skus;
            skus.sort();
            skus.dedup();
            *items = skus
                .iter()
                .enumerate()
                .map(|(k, s)| crate::ruleset::BundleItem {
                    sku: s.clone(),
                    quantity: 1 + u32::try_from(k).unwrap(),
                })
                .collect();
            target = Target::Skus { skus };
        }
        let mut p = promotion(&format!("p{i}"), target, reward);
        p.priority = s.priority;
        p.combines_with_tier = s.combines;
        if !p.reward.is_points() {
            p.group = match s.group {
                0 => None,
                1 => Some("g1".into()),
                _ => Some("g2".into()),
            };
        }
        p.limits.per_check = s.per_check;
        p.limits.budget = s.budget.map(rub);
        p.limits.total_uses = s.total_uses;
        p.conditions.min_basket_amount = s.min_amount.map(rub);
        p.conditions.segment.new_customer = s.new_customer;
        p.holdout = s.holdout.map(bp);
        if let Some(h) = s.happy_hour {
            p.conditions.schedule.hours = vec![crate::ruleset::HourRange {
                from: chrono::NaiveTime::from_hms_opt(h, 0, 0).unwrap(),
                to: chrono::NaiveTime::from_hms_opt((h + 3) % 24, 0, 0).unwrap(),
            }];
        }
        if s.coupon {
            p.coupon = Some(format!("code{}", i % 2));
        }
        if s.exclude_tobacco {
            p.exclude.categories = vec![cat("tobacco")];
        }
        if s.total_uses.is_some() || s.budget.is_some() {
            usage.promotions.insert(
                p.id.clone(),
                PromotionUsage {
                    uses,
                    spent: rub(uses as i64 * 1_000),
                    customer_uses: uses,
                    leased: None,
                },
            );
        }
        rs.promotions.push(p);
    }
    let mut ctx = ctx();
    ctx.timezone = "Europe/Moscow".into();
    ctx.redeem_points = redeem;
    ctx.usage = usage;
    if coupon_entered {
        ctx.coupons = vec![" CODE0 ".into(), "nope".into()];
    }
    ctx.customer = customer.map(|c| crate::ids::CustomerId::new(c.3).unwrap());
    let customer = customer.map(|(spend, balance, purchases, _)| CustomerStanding {
        lifetime_spend: rub(spend),
        points_balance: balance,
        purchases,
        ..CustomerStanding::default()
    });
    World {
        ruleset: rs,
        customer,
        ctx,
    }
}

pub(crate) fn arb_world() -> impl Strategy<Value = World> {
    (
        proptest::collection::vec(arb_promo(), 0..8),
        (any::<bool>(), any::<bool>(), any::<bool>()),
        (
            proptest::option::weighted(0.2, 1000u32..10_000),
            proptest::option::weighted(0.2, 0i64..20_000),
        ),
        (any::<bool>(), any::<bool>(), any::<bool>()),
        proptest::option::weighted(
            0.8,
            (
                0i64..10_000_000,
                0i64..5_000,
                proptest::option::of(0u64..3),
                1i64..1_000,
            ),
        ),
        prop_oneof![Just(0i64), 0i64..3_000],
        any::<bool>(),
        0u64..3,
    )
        .prop_map(
            |(specs, policies, floors, extras, customer, redeem, coupon, uses)| {
                build_world(
                    specs, policies, floors, extras, customer, redeem, coupon, uses,
                )
            },
        )
}

/// The floor of each line, computed independently of the engine.
fn floors(rs: &Ruleset, lines: &[Line]) -> Vec<i64> {
    lines
        .iter()
        .map(|l| {
            let amount = l.amount().unwrap().minor();
            let by_price = rs
                .programme
                .stacking
                .min_prices
                .iter()
                .find(|m| m.sku == l.sku)
                .map_or(0, |m| {
                    Quantity::extend(l.quantity, m.unit_price).unwrap().minor()
                });
            let by_share = rs
                .programme
                .stacking
                .max_line_discount
                .map_or(0, |p| amount - amount * i64::from(p.get()) / 10_000);
            by_price.max(by_share).min(amount)
        })
        .collect()
}

fn shuffled<T: Clone>(items: &[T], seed: u64) -> (Vec<T>, Vec<usize>) {
    let mut order: Vec<usize> = (0..items.len()).collect();
    let mut s = seed;
    for i in (1..order.len()).rev() {
        s = s
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        order.swap(i, (s >> 33) as usize % (i + 1));
    }
    (order.iter().map(|&i| items[i].clone()).collect(), order)
}

/// 400 cases, or `PROPTEST_CASES` for a deeper run.
pub(crate) fn cases() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    ProptestConfig::with_cases(cases)
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn totals_are_exact_never_below_floors_and_order_independent(
        world in arb_world(),
        lines in proptest::collection::vec(arb_line(), 1..14),
        seed in any::<u64>(),
    ) {
        let engine = Engine::new(world.ruleset.clone()).unwrap();
        let p = engine.price(&lines, world.customer.as_ref(), &world.ctx).unwrap();
        prop_assert_eq!(p.lines.iter().map(|l| l.discount.minor()).sum::<i64>(), p.discount.minor());
        prop_assert_eq!(p.subtotal.minor() - p.discount.minor(), p.total.minor());
        prop_assert!(p.total >= Money::ZERO);
        prop_assert_eq!(p.lines.iter().map(|l| l.points).sum::<i64>(), p.points_earned);
        prop_assert_eq!(p.points.iter().map(|a| a.points).sum::<i64>(), p.points_earned);
        prop_assert!(p.points_earned >= 0 && p.points_redeemed >= 0);
        prop_assert!(p.points_redeemed <= world.ctx.redeem_points.max(0));
        if let Some(c) = &world.customer {
            prop_assert!(p.points_redeemed <= c.points_balance.max(0));
        }
        for ((l, floor), a) in p.lines.iter().zip(floors(&world.ruleset, &lines)).zip(&lines) {
            prop_assert!(l.total.minor() >= floor, "line {:?} total {} below floor {}", a, l.total, floor);
            prop_assert!(l.discount >= Money::ZERO);
            prop_assert_eq!(l.amount.minor() - l.discount.minor(), l.total.minor());
            prop_assert_eq!(l.applied.iter().map(|a| a.discount.minor()).sum::<i64>(), l.discount.minor());
            prop_assert!(l.applied.iter().all(|a| a.discount > Money::ZERO));
        }
        let by_rule: i64 = p.applied.iter().map(|a| a.discount.minor()).sum();
        prop_assert_eq!(by_rule, p.discount.minor());

        // Re-pricing gives the same result.
        prop_assert_eq!(&engine.price(&lines, world.customer.as_ref(), &world.ctx).unwrap(), &p);

        // Any permutation gives the same check, line for line up to lines
        // identical in content.
        let (moved, _) = shuffled(&lines, seed);
        let q = engine.price(&moved, world.customer.as_ref(), &world.ctx).unwrap();
        prop_assert_eq!(q.discount, p.discount);
        prop_assert_eq!(q.points_earned, p.points_earned);
        prop_assert_eq!(&q.applied, &p.applied);
        prop_assert_eq!(&q.blocked, &p.blocked);
        prop_assert_eq!(&q.receipt, &p.receipt);
        let key = |l: &Line, pl: &PricedLine| (l.sku.clone(), l.unit_price, l.quantity, l.name.clone(), pl.discount, pl.points, format!("{:?}", pl.applied));
        let mut a: Vec<_> = lines.iter().zip(&p.lines).map(|(l, pl)| key(l, pl)).collect();
        let mut b: Vec<_> = moved.iter().zip(&q.lines).map(|(l, pl)| key(l, pl)).collect();
        a.sort();
        b.sort();
        prop_assert_eq!(a, b);
    }

    /// The engine and the reference implementation agree exactly.
    #[test]
    fn the_engine_matches_the_reference_implementation(
        world in arb_world(),
        lines in proptest::collection::vec(arb_line(), 1..14),
    ) {
        let engine = Engine::new(world.ruleset.clone()).unwrap();
        let fast = engine.price(&lines, world.customer.as_ref(), &world.ctx).unwrap();
        let slow = reference::price(&world.ruleset, &lines, world.customer.as_ref(), &world.ctx).unwrap();
        prop_assert_eq!(fast, slow);
    }

    /// Pricing never panics, whatever the standing and context say.
    #[test]
    fn odd_standings_and_contexts_never_panic(
        world in arb_world(),
        lines in proptest::collection::vec(arb_line(), 0..6),
        balance in any::<i64>(),
        redeem in any::<i64>(),
        tz in prop_oneof![Just("Asia/Novosibirsk".to_owned()), Just("Mars/Olympus".to_owned()), Just(String::new())],
    ) {
        let engine = Engine::new(world.ruleset.clone()).unwrap();
        let mut ctx = world.ctx.clone();
        ctx.redeem_points = redeem;
        ctx.timezone = tz;
        let customer = CustomerStanding { points_balance: balance, ..world.customer.clone().unwrap_or_default() };
        let p = engine.price(&lines, Some(&customer), &ctx).unwrap();
        prop_assert!(p.total >= Money::ZERO);
        prop_assert_eq!(p, reference::price(&world.ruleset, &lines, Some(&customer), &ctx).unwrap());
    }
}
