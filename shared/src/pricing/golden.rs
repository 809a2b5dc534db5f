//! Worked examples as readable golden tests, including the anchors' known
//! bugs, each shown impossible here. Each check is rendered as a small
//! table (line: amount − discount = total, points, rules), then its
//! explanation and receipt; `UPDATE_EXPECT=1 cargo test` refreshes them,
//! and the diff is the review.

use std::fmt::Write as _;

use chrono::{NaiveDate, NaiveTime, Weekday};
use expect_test::{Expect, expect};

use super::tests::{bp, cat, ctx, gold, line, promo, promotion, rub, ruleset, sku};
use super::*;
use crate::money::{BasisPoints, Quantity};
use crate::ruleset::{
    Apply, BundleItem, Group, GroupPolicy, HourRange, MinPrice, Redemption, Target,
};

fn render(lines: &[Line], p: &PricedCheck) -> String {
    let mut out = String::new();
    for (l, pl) in lines.iter().zip(&p.lines) {
        let rules: Vec<String> = pl
            .applied
            .iter()
            .map(|a| format!("{}:{}", rule(&a.rule), a.discount))
            .collect();
        let _ = writeln!(
            out,
            "{:<9} {:>5} × {:>7} = {:>8} − {:>7} = {:>8}  {:>3} pt  {}",
            l.sku.as_str(),
            l.quantity.to_string(),
            l.unit_price.to_string(),
            pl.amount.to_string(),
            pl.discount.to_string(),
            pl.total.to_string(),
            pl.points,
            rules.join(" ")
        );
    }
    let _ = writeln!(
        out,
        "total {} − {} = {}; points +{} −{} (could spend {}); tier {}",
        p.subtotal,
        p.discount,
        p.total,
        p.points_earned,
        p.points_redeemed,
        p.redeemable_points,
        p.tier.as_deref().unwrap_or("-")
    );
    for b in &p.blocked {
        let group = match &b.reason {
            BlockReason::ExcludedByGroup { group } => format!(" ({group})"),
            _ => String::new(),
        };
        let _ = writeln!(out, "blocked {}: {}{group}", rule(&b.rule), b.message);
    }
    for c in &p.coupons_rejected {
        let _ = writeln!(out, "coupon rejected: {c}");
    }
    for (ru, en) in p.receipt.ru.iter().zip(&p.receipt.en) {
        let _ = writeln!(out, "| {ru} | {en}");
    }
    out
}

fn rule(r: &RuleRef) -> String {
    match r {
        RuleRef::Tier(t) => format!("tier {t}"),
        RuleRef::Promotion(p) => p.to_string(),
        RuleRef::Redemption => "points".into(),
        RuleRef::Earn => "earn".into(),
        RuleRef::WelcomeBonus => "welcome".into(),
        RuleRef::BirthdayBonus => "birthday".into(),
    }
}

fn check(
    rs: Ruleset,
    lines: &[Line],
    customer: Option<&CustomerStanding>,
    ctx: &PricingContext,
    expected: Expect,
) -> PricedCheck {
    let engine = Engine::new(rs.clone()).unwrap();
    let p = engine.price(lines, customer, ctx).unwrap();
    assert_eq!(
        p,
        reference::price(&rs, lines, customer, ctx).unwrap(),
        "the reference agrees"
    );
    expected.assert_eq(&render(lines, &p));
    p
}

fn skus(list: &[&str]) -> Target {
    Target::Skus {
        skus: list.iter().map(|s| sku(s)).collect(),
    }
}

fn cats(list: &[&str]) -> Target {
    Target::Categories {
        categories: list.iter().map(|s| cat(s)).collect(),
    }
}

fn weighed(sku: &str, category: &str, milli: u64, price: i64) -> Line {
    let mut l = line(sku, category, 1, price);
    l.quantity = Quantity::from_milli(milli).unwrap();
    l
}

/// Anchor bug: an order split into lines, or into checks, got a bigger
/// discount (each part rounded up, or each part given a fixed amount that
/// exceeded the item). Percentages are taken once on a sum and rounded
/// down, so splitting can only lose: here 5 × 0.50 at 7 % is 17 kopecks as
/// one line or five, and five separate checks give 3 each, 15 in all.
#[test]
fn a_split_order_never_gets_a_bigger_discount() {
    let whole = check(
        ruleset(vec![]),
        &[line("gum", "x", 5, 50)],
        Some(&gold()),
        &ctx(),
        expect![[r#"
            gum           5 ×    0.50 =     2.50 −    0.17 =     2.33    0 pt  tier Gold:0.17
            total 2.50 − 0.17 = 2.33; points +0 −0 (could spend 0); tier Gold
            | Скидка по карте «Gold» 7%: −0.17 | Loyalty tier "Gold" 7%: -0.17
            | Ваша скидка: 0.17 | You saved: 0.17
        "#]],
    );
    let split = check(
        ruleset(vec![]),
        &vec![line("gum", "x", 1, 50); 5],
        Some(&gold()),
        &ctx(),
        expect![[r#"
            gum           1 ×    0.50 =     0.50 −    0.04 =     0.46    0 pt  tier Gold:0.04
            gum           1 ×    0.50 =     0.50 −    0.04 =     0.46    0 pt  tier Gold:0.04
            gum           1 ×    0.50 =     0.50 −    0.03 =     0.47    0 pt  tier Gold:0.03
            gum           1 ×    0.50 =     0.50 −    0.03 =     0.47    0 pt  tier Gold:0.03
            gum           1 ×    0.50 =     0.50 −    0.03 =     0.47    0 pt  tier Gold:0.03
            total 2.50 − 0.17 = 2.33; points +0 −0 (could spend 0); tier Gold
            | Скидка по карте «Gold» 7%: −0.17 | Loyalty tier "Gold" 7%: -0.17
            | Ваша скидка: 0.17 | You saved: 0.17
        "#]],
    );
    assert_eq!(split.discount, whole.discount);
    let engine = Engine::new(ruleset(vec![])).unwrap();
    let one = engine
        .price(&[line("gum", "x", 1, 50)], Some(&gold()), &ctx())
        .unwrap();
    assert_eq!(one.discount, rub(3), "7 % of 0.50 is 0.035, rounded down");
    assert!(5 * one.discount.minor() <= whole.discount.minor());

    // A fixed amount off each unit never exceeds the unit: 100.00 off a
    // 40.00 item gives 40.00, and splitting the units changes nothing.
    let off = promotion(
        "minus-100",
        skus(&["cup"]),
        Reward::AmountOff {
            amount: rub(10_000),
            apply: Apply::Each,
        },
    );
    let p = check(
        ruleset(vec![off]),
        &[line("cup", "x", 2, 4_000), line("cup", "x", 1, 4_000)],
        None,
        &ctx(),
        expect![[r#"
            cup           2 ×   40.00 =    80.00 −   80.00 =     0.00    0 pt  minus-100:80.00
            cup           1 ×   40.00 =    40.00 −   40.00 =     0.00    0 pt  minus-100:40.00
            total 120.00 − 120.00 = 0.00; points +0 −0 (could spend 0); tier -
            | Акция «Promo minus-100»: −120.00 | Promotion "Promo minus-100": -120.00
            | Ваша скидка: 120.00 | You saved: 120.00
        "#]],
    );
    assert!(p.lines.iter().all(|l| l.total >= Money::ZERO));
}

/// Anchor bug: buy X get Y applied once however many sets the basket held.
/// Here buy 2 get 1: six units give two free, seven still two, nine three;
/// the cheapest units go free, across lines.
#[test]
fn buy_x_get_y_is_multiplied() {
    let b2g1 = || {
        promotion(
            "yogurt-2+1",
            cats(&["yogurt"]),
            Reward::BuyXGetY {
                buy: 2,
                get: 1,
                free_sku: None,
                percent: BasisPoints::FULL,
            },
        )
    };
    check(
        ruleset(vec![b2g1()]),
        &[line("straw", "yogurt", 6, 5_000)],
        None,
        &ctx(),
        expect![[r#"
            straw         6 ×   50.00 =   300.00 −  100.00 =   200.00    0 pt  yogurt-2+1:100.00
            total 300.00 − 100.00 = 200.00; points +0 −0 (could spend 0); tier -
            | Акция «Promo yogurt-2+1»: −100.00 | Promotion "Promo yogurt-2+1": -100.00
            | Ваша скидка: 100.00 | You saved: 100.00
        "#]],
    );
    check(
        ruleset(vec![b2g1()]),
        &[
            line("straw", "yogurt", 4, 5_000),
            line("peach", "yogurt", 3, 4_500),
            line("plain", "yogurt", 2, 4_000),
        ],
        None,
        &ctx(),
        expect![[r#"
            straw         4 ×   50.00 =   200.00 −    0.00 =   200.00    0 pt  
            peach         3 ×   45.00 =   135.00 −   45.00 =    90.00    0 pt  yogurt-2+1:45.00
            plain         2 ×   40.00 =    80.00 −   80.00 =     0.00    0 pt  yogurt-2+1:80.00
            total 415.00 − 125.00 = 290.00; points +0 −0 (could spend 0); tier -
            | Акция «Promo yogurt-2+1»: −125.00 | Promotion "Promo yogurt-2+1": -125.00
            | Ваша скидка: 125.00 | You saved: 125.00
        "#]],
    );
    // At most one set per check when the merchant says so.
    let mut once = b2g1();
    once.limits.per_check = Some(1);
    check(
        ruleset(vec![once]),
        &[line("straw", "yogurt", 6, 5_000)],
        None,
        &ctx(),
        expect![[r#"
            straw         6 ×   50.00 =   300.00 −   50.00 =   250.00    0 pt  yogurt-2+1:50.00
            total 300.00 − 50.00 = 250.00; points +0 −0 (could spend 0); tier -
            blocked yogurt-2+1: applied as often as allowed on one check
            | Акция «Promo yogurt-2+1»: −50.00 | Promotion "Promo yogurt-2+1": -50.00
            | Ваша скидка: 50.00 | You saved: 50.00
        "#]],
    );
    // Buy two coffees, get a mug: two coffees and three mugs give one mug.
    let mug = promotion(
        "coffee-mug",
        skus(&["coffee"]),
        Reward::BuyXGetY {
            buy: 2,
            get: 1,
            free_sku: Some(sku("mug")),
            percent: BasisPoints::FULL,
        },
    );
    check(
        ruleset(vec![mug]),
        &[
            line("coffee", "grocery", 2, 60_000),
            line("mug", "home", 3, 30_000),
        ],
        None,
        &ctx(),
        expect![[r#"
            coffee        2 ×  600.00 =  1200.00 −    0.00 =  1200.00    0 pt  
            mug           3 ×  300.00 =   900.00 −  300.00 =   600.00    0 pt  coffee-mug:300.00
            total 2100.00 − 300.00 = 1800.00; points +0 −0 (could spend 0); tier -
            | Акция «Promo coffee-mug»: −300.00 | Promotion "Promo coffee-mug": -300.00
            | Ваша скидка: 300.00 | You saved: 300.00
        "#]],
    );
}

/// Anchor bug: a 100 % discount left a kopeck to pay (percent of each
/// unit, rounded, times the quantity). Here 100 % takes the whole line,
/// weighed lines included, and nothing below zero is left for the tier.
#[test]
fn a_100_percent_discount_leaves_no_kopeck() {
    let free = promo("free", cats(&["x"]), 10_000);
    let p = check(
        ruleset(vec![free]),
        &[line("a", "x", 3, 333), weighed("b", "x", 1_337, 999)],
        Some(&gold()),
        &ctx(),
        expect![[r#"
            a             3 ×    3.33 =     9.99 −    9.99 =     0.00    0 pt  free:9.99
            b         1.337 ×    9.99 =    13.36 −   13.36 =     0.00    0 pt  free:13.36
            total 23.35 − 23.35 = 0.00; points +0 −0 (could spend 0); tier Gold
            blocked tier Gold: the promotions on the lines do not combine with the tier discount
            | Акция «Promo free»: −23.35 | Promotion "Promo free": -23.35
            | Ваша скидка: 23.35 | You saved: 23.35
        "#]],
    );
    assert_eq!(p.total, Money::ZERO);
}

/// Happy hours run in the store's time zone. 14:13 UTC on Monday
/// 21 September 2026 is 17:13 in Moscow, inside 17:00–19:00, and 21:13 in
/// Novosibirsk, outside; an unknown zone never matches.
#[test]
fn happy_hours_follow_the_store_time_zone() {
    let mut happy = promo("happy", cats(&["coffee"]), 3_000);
    happy.conditions.schedule.weekdays = vec![Weekday::Mon, Weekday::Tue];
    happy.conditions.schedule.hours = vec![HourRange {
        from: NaiveTime::from_hms_opt(17, 0, 0).unwrap(),
        to: NaiveTime::from_hms_opt(19, 0, 0).unwrap(),
    }];
    let lines = [line("latte", "coffee", 1, 25_000)];
    let mut moscow = ctx();
    moscow.timezone = "Europe/Moscow".into();
    check(
        ruleset(vec![happy.clone()]),
        &lines,
        None,
        &moscow,
        expect![[r#"
            latte         1 ×  250.00 =   250.00 −   75.00 =   175.00    0 pt  happy:75.00
            total 250.00 − 75.00 = 175.00; points +0 −0 (could spend 0); tier -
            | Акция «Promo happy»: −75.00 | Promotion "Promo happy": -75.00
            | Ваша скидка: 75.00 | You saved: 75.00
        "#]],
    );
    let mut novosibirsk = ctx();
    novosibirsk.timezone = "Asia/Novosibirsk".into();
    check(
        ruleset(vec![happy.clone()]),
        &lines,
        None,
        &novosibirsk,
        expect![[r#"
            latte         1 ×  250.00 =   250.00 −    0.00 =   250.00    0 pt  
            total 250.00 − 0.00 = 250.00; points +0 −0 (could spend 0); tier -
            blocked happy: not running at this local hour
        "#]],
    );
    let mut nowhere = ctx();
    nowhere.timezone = "Mars/Olympus".into();
    let p = Engine::new(ruleset(vec![happy]))
        .unwrap()
        .price(&lines, None, &nowhere)
        .unwrap();
    assert_eq!(
        p.blocked[0].reason,
        BlockReason::ConditionNotMet {
            condition: Condition::TimeZone
        }
    );
}

/// Exclusive groups: within a group a line takes one discount, the best
/// for the customer (or the first by priority); groups stack in order.
#[test]
fn exclusive_groups_and_stacking() {
    let mut rs = ruleset(vec![
        promo("dairy-10", cats(&["dairy"]), 1_000),
        promo("milk-25", skus(&["milk"]), 2_500),
        {
            let mut p = promotion(
                "basket-5",
                Target::Basket,
                Reward::PercentOff {
                    percent: bp(500),
                    apply: Apply::Total,
                },
            );
            p.group = Some("basket".into());
            p.combines_with_tier = true;
            p
        },
        {
            let mut p = promo("cheese-30", skus(&["cheese"]), 3_000);
            p.group = Some("partner".into());
            p.priority = 1;
            p.funded_by = Some("Сыроварня".into());
            p
        },
        {
            let mut p = promo("cheese-50", skus(&["cheese"]), 5_000);
            p.group = Some("partner".into());
            p
        },
    ]);
    rs.programme.stacking.groups = vec![
        Group {
            name: "partner".into(),
            policy: GroupPolicy::FirstByPriority,
        },
        Group {
            name: "default".into(),
            policy: GroupPolicy::BestForCustomer,
        },
        Group {
            name: "basket".into(),
            policy: GroupPolicy::BestForCustomer,
        },
    ];
    check(
        rs,
        &[
            line("milk", "dairy", 2, 8_990),
            line("kefir", "dairy", 1, 7_450),
            line("cheese", "dairy", 1, 23_900),
            line("bread", "bakery", 1, 6_290),
        ],
        Some(&gold()),
        &ctx(),
        expect![[r#"
            milk          2 ×   89.90 =   179.80 −   51.69 =   128.11    1 pt  milk-25:44.95 basket-5:6.74
            kefir         1 ×   74.50 =    74.50 −   10.80 =    63.70    1 pt  dairy-10:7.45 basket-5:3.35
            cheese        1 ×  239.00 =   239.00 −   95.96 =   143.04    1 pt  cheese-30:71.70 dairy-10:16.73 basket-5:7.53
            bread         1 ×   62.90 =    62.90 −    7.32 =    55.58    0 pt  basket-5:3.14 tier Gold:4.18
            total 556.20 − 165.77 = 390.43; points +3 −0 (could spend 0); tier Gold
            blocked cheese-50: another promotion of its exclusive group took its lines (partner)
            | Скидка по карте «Gold» 7%: −4.18 | Loyalty tier "Gold" 7%: -4.18
            | Акция «Promo basket-5»: −20.76 | Promotion "Promo basket-5": -20.76
            | Акция «Promo cheese-30»: −71.70 (при поддержке Сыроварня) | Promotion "Promo cheese-30": -71.70 (funded by Сыроварня)
            | Акция «Promo dairy-10»: −24.18 | Promotion "Promo dairy-10": -24.18
            | Акция «Promo milk-25»: −44.95 | Promotion "Promo milk-25": -44.95
            | Ваша скидка: 165.77 | You saved: 165.77
            | Начислено баллов: 3 | Points earned: 3
        "#]],
    );
}

/// Price floors: the minimum retail price of cigarettes and a 50 % cap per
/// line hold against every discount, points included.
#[test]
fn floors_hold_against_every_discount() {
    let mut rs = ruleset(vec![promo("all-60", Target::Basket, 6_000)]);
    rs.programme.stacking.max_line_discount = Some(bp(5_000));
    rs.programme.stacking.min_prices = vec![MinPrice {
        sku: sku("cig"),
        unit_price: rub(19_000),
    }];
    rs.programme.redemption = Some(Redemption {
        points: 1,
        value: rub(100),
        max_share: bp(10_000),
        min_balance: 0,
        offline_cap_points: None,
    });
    let customer = CustomerStanding {
        points_balance: 1_000,
        ..gold()
    };
    let mut ctx = ctx();
    ctx.redeem_points = 1_000;
    let p = check(
        rs,
        &[
            line("cig", "tobacco", 1, 21_500),
            line("bread", "bakery", 2, 6_290),
        ],
        Some(&customer),
        &ctx,
        expect![[r#"
            cig           1 ×  215.00 =   215.00 −   25.00 =   190.00    0 pt  all-60:25.00
            bread         2 ×   62.90 =   125.80 −   62.90 =    62.90    0 pt  all-60:62.90
            total 340.80 − 87.90 = 252.90; points +0 −0 (could spend 0); tier Gold
            blocked tier Gold: the promotions on the lines do not combine with the tier discount
            blocked all-60: price floors kept back 116.58
            blocked points: capped by the share of the check payable with points, the floors or the balance
            | Акция «Promo all-60»: −87.90 | Promotion "Promo all-60": -87.90
            | Ваша скидка: 87.90 | You saved: 87.90
        "#]],
    );
    assert_eq!(p.lines[0].total, rub(19_000));
}

/// Special price, N-th item, bundle, and a coupon that unlocks a promotion.
#[test]
fn special_price_nth_item_bundle_and_coupon() {
    let mut coupon = promo("welcome-coupon", Target::Basket, 1_000);
    coupon.coupon = Some("HELLO10".into());
    coupon.group = Some("coupons".into());
    let mut rs = ruleset(vec![
        promotion(
            "bread-49",
            skus(&["bread"]),
            Reward::SpecialPrice {
                unit_price: rub(4_900),
            },
        ),
        promotion(
            "second-half",
            cats(&["sweets"]),
            Reward::NthItem {
                n: 2,
                percent: bp(5_000),
            },
        ),
        promotion(
            "breakfast",
            skus(&["coffee", "croissant"]),
            Reward::Bundle {
                items: vec![
                    BundleItem {
                        sku: sku("coffee"),
                        quantity: 1,
                    },
                    BundleItem {
                        sku: sku("croissant"),
                        quantity: 2,
                    },
                ],
                price: rub(25_000),
            },
        ),
        coupon,
    ]);
    rs.programme.stacking.groups = vec![Group {
        name: "coupons".into(),
        policy: GroupPolicy::BestForCustomer,
    }];
    let mut ctx = ctx();
    ctx.coupons = vec![" hello10".into(), "BOGUS".into()];
    check(
        rs,
        &[
            line("bread", "bakery", 2, 6_290),
            line("choc", "sweets", 3, 13_990),
            line("candy", "sweets", 1, 5_000),
            line("coffee", "coffee", 1, 18_000),
            line("croissant", "bakery", 3, 6_000),
        ],
        None,
        &ctx,
        expect![[r#"
            bread         2 ×   62.90 =   125.80 −   37.60 =    88.20    0 pt  bread-49:27.80 welcome-coupon:9.80
            choc          3 ×  139.90 =   419.70 −  104.92 =   314.78    0 pt  second-half:69.95 welcome-coupon:34.97
            candy         1 ×   50.00 =    50.00 −   27.50 =    22.50    0 pt  second-half:25.00 welcome-coupon:2.50
            coffee        1 ×  180.00 =   180.00 −   45.00 =   135.00    0 pt  breakfast:30.00 welcome-coupon:15.00
            croissant     3 ×   60.00 =   180.00 −   36.00 =   144.00    0 pt  breakfast:20.00 welcome-coupon:16.00
            total 955.50 − 251.02 = 704.48; points +0 −0 (could spend 0); tier -
            coupon rejected: BOGUS
            | Акция «Promo bread-49»: −27.80 | Promotion "Promo bread-49": -27.80
            | Акция «Promo breakfast»: −50.00 | Promotion "Promo breakfast": -50.00
            | Акция «Promo second-half»: −94.95 | Promotion "Promo second-half": -94.95
            | Акция «Promo welcome-coupon»: −78.27 | Promotion "Promo welcome-coupon": -78.27
            | Ваша скидка: 251.02 | You saved: 251.02
        "#]],
    );
}

/// Limits: what the till knows of uses and budget. The 8.00 left of the
/// budget is spread over the lines in proportion to what the promotion
/// would give (7.50 and 2.50); a customer who used a promotion up is told
/// so.
#[test]
fn limits_use_the_counts_the_till_knows() {
    let mut budgeted = promo("budget", cats(&["x"]), 5_000);
    budgeted.limits.budget = Some(rub(100_000));
    let mut once = promo("once", cats(&["y"]), 5_000);
    once.limits.per_customer = Some(1);
    let mut ctx = ctx();
    ctx.usage.promotions.insert(
        budgeted.id.clone(),
        PromotionUsage {
            uses: 40,
            spent: rub(99_200),
            ..PromotionUsage::default()
        },
    );
    ctx.usage.promotions.insert(
        once.id.clone(),
        PromotionUsage {
            customer_uses: 1,
            ..PromotionUsage::default()
        },
    );
    check(
        ruleset(vec![budgeted, once]),
        &[
            line("a", "x", 1, 1_500),
            line("b", "x", 1, 500),
            line("c", "y", 1, 1_000),
        ],
        Some(&CustomerStanding::default()),
        &ctx,
        expect![[r#"
            a             1 ×   15.00 =    15.00 −    6.00 =     9.00    0 pt  budget:6.00
            b             1 ×    5.00 =     5.00 −    2.00 =     3.00    0 pt  budget:2.00
            c             1 ×   10.00 =    10.00 −    0.00 =    10.00    0 pt  
            total 30.00 − 8.00 = 22.00; points +0 −0 (could spend 0); tier Bronze
            blocked budget: its budget is spent
            blocked once: the customer has used it as often as allowed
            | Акция «Promo budget»: −8.00 | Promotion "Promo budget": -8.00
            | Ваша скидка: 8.00 | You saved: 8.00
        "#]],
    );
}

/// Quota leases: a till that holds a lease enforces it instead of the
/// global counts. A spent lease refuses the promotion though the global
/// count would allow it, a lease of 3.00 caps a budget of 1 000.00, and a
/// lease left lets a promotion the till counts as used up globally apply
/// (the server leased it from what really remains). Each refusal names
/// the till's share.
#[test]
fn a_registers_lease_bounds_the_global_limits() {
    let mut spent = promo("spent-lease", cats(&["x"]), 1_000);
    spent.limits.total_uses = Some(100);
    let mut capped = promo("capped", cats(&["y"]), 5_000);
    capped.limits.budget = Some(rub(100_000));
    let mut left = promo("lease-left", cats(&["z"]), 1_000);
    left.limits.total_uses = Some(5);
    let mut ctx = ctx();
    let lease = |uses, budget| PromotionUsage {
        uses: 5,
        leased: Some(LeasedQuota {
            uses,
            budget: rub(budget),
        }),
        ..PromotionUsage::default()
    };
    ctx.usage.promotions.insert(spent.id.clone(), lease(0, 0));
    ctx.usage
        .promotions
        .insert(capped.id.clone(), lease(0, 300));
    ctx.usage.promotions.insert(left.id.clone(), lease(2, 0));
    check(
        ruleset(vec![spent, capped, left]),
        &[
            line("a", "x", 1, 1_000),
            line("b", "y", 1, 1_000),
            line("c", "z", 1, 1_000),
        ],
        None,
        &ctx,
        expect![[r#"
            a             1 ×   10.00 =    10.00 −    0.00 =    10.00    0 pt  
            b             1 ×   10.00 =    10.00 −    3.00 =     7.00    0 pt  capped:3.00
            c             1 ×   10.00 =    10.00 −    1.00 =     9.00    0 pt  lease-left:1.00
            total 30.00 − 4.00 = 26.00; points +0 −0 (could spend 0); tier -
            blocked capped: this till's share of its budget is spent; the till gets a new share when it syncs with the server
            blocked spent-lease: this till's share of its total uses is spent; the till gets a new share when it syncs with the server
            | Акция «Promo capped»: −3.00 | Promotion "Promo capped": -3.00
            | Акция «Promo lease-left»: −1.00 | Promotion "Promo lease-left": -1.00
            | Ваша скидка: 4.00 | You saved: 4.00
        "#]],
    );
}

/// The programme: a tier with its own earn rate, a category rate, an
/// excluded product, double points, welcome and birthday bonuses, and
/// points paid as money capped at half the check.
#[test]
fn points_earned_and_spent() {
    let mut rs = ruleset(vec![
        promotion(
            "double-coffee",
            cats(&["coffee"]),
            Reward::PointsMultiplier { percent: 200 },
        ),
        promotion(
            "bakery-bonus",
            cats(&["bakery"]),
            Reward::ExtraPoints { points: 15 },
        ),
    ]);
    rs.programme.tiers[2].earn = Some(crate::ruleset::EarnRate {
        per: rub(5_000),
        points: 1,
    });
    if let Some(earn) = &mut rs.programme.earn {
        earn.excluded_skus = vec![sku("lottery")];
        earn.category_rates = vec![crate::ruleset::CategoryRate {
            category: cat("coffee"),
            per: rub(2_500),
            points: 1,
        }];
    }
    rs.programme.welcome_bonus = Some(100);
    rs.programme.birthday_bonus = Some(crate::ruleset::BirthdayBonus {
        points: 50,
        days_before: 3,
        days_after: 3,
    });
    rs.programme.redemption = Some(Redemption {
        points: 1,
        value: rub(100),
        max_share: bp(5_000),
        min_balance: 100,
        offline_cap_points: None,
    });
    let mut customer = CustomerStanding {
        points_balance: 400,
        purchases: Some(0),
        ..gold()
    };
    customer.set_birth_date(NaiveDate::from_ymd_opt(1990, 9, 23), 2026);
    let mut ctx = ctx();
    ctx.redeem_points = 400;
    check(
        rs,
        &[
            line("latte", "coffee", 2, 25_000),
            line("bun", "bakery", 2, 7_000),
            line("lottery", "other", 1, 10_000),
        ],
        Some(&customer),
        &ctx,
        expect![[r#"
            latte         2 ×  250.00 =   500.00 −  267.43 =   232.57  120 pt  tier Gold:35.00 points:232.43
            bun           2 ×   70.00 =   140.00 −   74.88 =    65.12   44 pt  tier Gold:9.80 points:65.08
            lottery       1 ×  100.00 =   100.00 −   53.49 =    46.51   20 pt  tier Gold:7.00 points:46.49
            total 740.00 − 395.80 = 344.20; points +184 −344 (could spend 344); tier Gold
            blocked points: capped by the share of the check payable with points, the floors or the balance
            | Скидка по карте «Gold» 7%: −51.80 | Loyalty tier "Gold" 7%: -51.80
            | Оплачено баллами: 344 (−344.00) | Paid with points: 344 (-344.00)
            | Ваша скидка: 395.80 | You saved: 395.80
            | Бонусные баллы «Promo bakery-bonus»: +15 | Bonus points "Promo bakery-bonus": +15
            | Бонусные баллы «Promo double-coffee»: +9 | Bonus points "Promo double-coffee": +9
            | Приветственные баллы: +100 | Welcome bonus: +100 points
            | Баллы ко дню рождения: +50 | Birthday bonus: +50 points
            | Начислено баллов: 184 | Points earned: 184
        "#]],
    );
}

/// The promotions phase of a realistic ruleset; the explanation says why
/// each rule that could have applied did not.
#[test]
fn every_blocked_rule_is_explained() {
    let mut later = promo("later", cats(&["x"]), 1_000);
    later.starts_at = Some(ctx().now + chrono::Duration::days(1));
    let mut elsewhere = promo("elsewhere", cats(&["x"]), 1_000);
    elsewhere.stores = vec![crate::ids::StoreId::new(2).unwrap()];
    let mut big = promo("big-baskets", cats(&["x"]), 1_000);
    big.conditions.min_basket_amount = Some(rub(100_000));
    let mut women = promo("women", cats(&["x"]), 1_000);
    women.conditions.segment.genders = vec![crate::identity::Gender::Female];
    let mut silver = promo("silver-only", cats(&["x"]), 1_000);
    silver.conditions.segment.tiers = vec!["Silver".into()];
    let mut used = promo("used-up", cats(&["x"]), 1_000);
    used.limits.total_uses = Some(10);
    let mut ctx = ctx();
    ctx.usage.promotions.insert(
        used.id.clone(),
        PromotionUsage {
            uses: 10,
            ..PromotionUsage::default()
        },
    );
    let cheap = promotion(
        "cheap",
        cats(&["x"]),
        Reward::SpecialPrice {
            unit_price: rub(5_000),
        },
    );
    check(
        ruleset(vec![later, elsewhere, big, women, silver, used, cheap]),
        &[line("a", "x", 1, 1_000)],
        Some(&gold()),
        &ctx,
        expect![[r#"
            a             1 ×   10.00 =    10.00 −    0.70 =     9.30    0 pt  tier Gold:0.70
            total 10.00 − 0.70 = 9.30; points +0 −0 (could spend 0); tier Gold
            blocked big-baskets: the check's amount is below the minimum
            blocked cheap: the lines give it nothing to take off
            blocked elsewhere: not running in this store
            blocked later: not running at this time
            blocked silver-only: the customer's tier is not eligible
            blocked used-up: used as often as allowed overall
            blocked women: the customer's gender is not eligible
            | Скидка по карте «Gold» 7%: −0.70 | Loyalty tier "Gold" 7%: -0.70
            | Ваша скидка: 0.70 | You saved: 0.70
        "#]],
    );
}
