//! The rulesets and baskets the pricing engine is timed and profiled on:
//! the chain's programme (the system tests' `scenario` re-exports it), and
//! [`many_rules`], generated promotions of every kind in a [`Mix`], with
//! the [`basket`] that meets them. The perf harness and the `pricing_load`
//! example use this one copy, so a profile measures what the harness times.

use chrono::{DateTime, NaiveTime, Utc};
use shared::basket::Line;
use shared::ids::{Category, PromotionId, Sku, StoreId};
use shared::money::{BasisPoints, Currency, Money, Quantity};
use shared::pricing::{
    CustomerStanding, Engine, PricedCheck, PricingContext, PricingError, PromotionUsage,
};
use shared::ruleset::{
    Apply, BundleItem, EarnRate, EarnRule, Group, GroupPolicy, HourRange, MinPrice, Programme,
    Promotion, Redemption, Reward, Ruleset, Stacking, Target, Tier,
};

fn money(minor: i64) -> Money {
    Money::from_minor(minor).expect("constant in range")
}

fn bp(v: u32) -> BasisPoints {
    BasisPoints::new(v).expect("constant in range")
}

/// The programme: Bronze from 0 ₽ (0 %), Silver from 20 000 ₽ (3 %), Gold
/// from 80 000 ₽ (7 %) lifetime; 1 point per full 100 ₽, none on tobacco;
/// points pay 1 ₽ each for up to half a check (from a balance of 10); and
/// 10 % off dairy.
pub fn programme() -> Ruleset {
    Ruleset {
        currency: Currency::RUB,
        programme: Programme {
            tiers: vec![
                Tier {
                    name: "Bronze".into(),
                    min_lifetime_spend: money(0),
                    discount: bp(0),
                    earn: None,
                },
                Tier {
                    name: "Silver".into(),
                    min_lifetime_spend: money(2_000_000),
                    discount: bp(300),
                    earn: None,
                },
                Tier {
                    name: "Gold".into(),
                    min_lifetime_spend: money(8_000_000),
                    discount: bp(700),
                    earn: None,
                },
            ],
            earn: Some(EarnRule {
                per: money(10_000),
                points: 1,
                excluded_categories: vec![Category::parse("tobacco").expect("constant")],
                excluded_skus: vec![],
                category_rates: vec![],
            }),
            redemption: Some(Redemption {
                points: 1,
                value: money(100),
                max_share: bp(5000),
                min_balance: 10,
                offline_cap_points: None,
            }),
            ..Programme::default()
        },
        promotions: vec![dairy_promotion()],
    }
}

/// The options of a promotion left at their defaults: no exclusions,
/// conditions, limits, group or coupon.
pub fn promotion_defaults() -> Promotion {
    Promotion {
        id: PromotionId::parse("defaults").expect("constant"),
        name: String::new(),
        description: String::new(),
        target: Target::Basket,
        reward: Reward::ExtraPoints { points: 1 },
        starts_at: None,
        ends_at: None,
        stores: vec![],
        priority: 0,
        combines_with_tier: false,
        funded_by: None,
        exclude: Default::default(),
        conditions: Default::default(),
        limits: Default::default(),
        group: None,
        coupon: None,
        holdout: None,
    }
}

/// 10 % off dairy, on top of the tier discount.
pub fn dairy_promotion() -> Promotion {
    Promotion {
        id: PromotionId::parse("dairy-10").expect("constant"),
        name: "Молочная неделя −10%".into(),
        description: "Скидка 10% на молочные продукты".into(),
        target: Target::Categories {
            categories: vec![Category::parse("dairy").expect("constant")],
        },
        reward: Reward::PercentOff {
            percent: bp(1000),
            apply: Apply::Each,
        },
        starts_at: None,
        ends_at: None,
        stores: vec![],
        priority: 0,
        combines_with_tier: true,
        funded_by: None,
        ..promotion_defaults()
    }
}

/// The kinds of promotion the harness mixes, one after another.
const KINDS: usize = 12;

/// How the rules target lines, and how baskets spread over categories.
#[derive(Clone, Copy)]
pub struct Mix {
    /// What the mix stands for, in the printed row.
    pub name: &'static str,
    /// One rule in this many targets a category …
    pub category_every: usize,
    /// … out of this many categories, which baskets spread over evenly.
    pub categories: usize,
    /// One rule in this many targets the whole basket (locked by a coupon
    /// or a segment more often than not, as such rules are).
    pub basket_every: usize,
    /// Products in the catalogue per rule (`None`: 2 000 products), which
    /// rules on products and baskets spread over evenly.
    pub products_per_rule: Option<usize>,
}

impl Mix {
    pub fn catalogue(&self, rules: usize) -> usize {
        self.products_per_rule.map_or(2_000, |n| n * rules)
    }
}

/// A supermarket's rules: most promotions are on products (each rule on
/// two, so about half the catalogue of four products per rule is on
/// promotion), one in twenty on one of 100 categories, one in two hundred
/// on the whole basket. The figures the issue sets are measured on this
/// mix.
pub const TYPICAL: Mix = Mix {
    name: "typical",
    category_every: 20,
    categories: 100,
    basket_every: 200,
    products_per_rule: Some(4),
};

/// The adversarial mix: one rule in four on one of only 50 categories, all
/// of them in every 200-line basket, so every category rule is a
/// candidate on every check (about 2 000 candidates, 300 applied and 1 500
/// explained). Its p99 is held to 1 ms.
pub const STRESS: Mix = Mix {
    name: "stress",
    category_every: 4,
    categories: 50,
    basket_every: usize::MAX,
    products_per_rule: None,
};

/// A ruleset with `n` promotions spread over SKUs and categories, every
/// kind of reward mixed in: percentages and amounts off each line or a set,
/// special prices, buy X get Y (cheapest and a given SKU), N-th item,
/// bundles, points multipliers and extra points; some with happy hours,
/// basket minimums, coupons, per-check limits or budgets; in three
/// exclusive groups with both policies; with price floors, a tier earn
/// rate, redemption and bonuses in the programme.
pub fn many_rules(n: usize, skus: usize, mix: Mix) -> Ruleset {
    let mut rs = programme();
    let sku = |i: usize| Sku::parse(format!("sku{}", i % skus)).expect("sku");
    let bp = |v: u32| BasisPoints::new(v).expect("bp");
    rs.programme.redemption = Some(Redemption {
        points: 1,
        value: Money::from_minor(100).expect("m"),
        max_share: bp(3_000),
        min_balance: 100,
        offline_cap_points: None,
    });
    rs.programme.welcome_bonus = Some(50);
    rs.programme.tiers[1].earn = Some(EarnRate {
        per: Money::from_minor(5_000).expect("m"),
        points: 1,
    });
    rs.programme.stacking = Stacking {
        groups: vec![
            Group {
                name: "default".into(),
                policy: GroupPolicy::BestForCustomer,
            },
            Group {
                name: "partner".into(),
                policy: GroupPolicy::FirstByPriority,
            },
            Group {
                name: "basket".into(),
                policy: GroupPolicy::BestForCustomer,
            },
        ],
        max_line_discount: Some(bp(9_000)),
        min_prices: (0..20)
            .map(|i| MinPrice {
                sku: sku(i * 97),
                unit_price: Money::from_minor(900).expect("m"),
            })
            .collect(),
    };
    rs.promotions = (0..n)
        .map(|i| {
            let target = if i % mix.category_every == 0 {
                let c = (i / mix.category_every) % mix.categories;
                Target::Categories {
                    categories: vec![Category::parse(format!("cat{c}")).expect("cat")],
                }
            } else if i % mix.basket_every == 7 {
                Target::Basket
            } else {
                Target::Skus {
                    skus: vec![sku(i * 7), sku(i * 7 + 1)],
                }
            };
            let reward = match i % KINDS {
                0 | 1 => Reward::PercentOff {
                    percent: bp(100 + (i as u32 % 30) * 100),
                    apply: Apply::Each,
                },
                2 => Reward::PercentOff {
                    percent: bp(500),
                    apply: Apply::Total,
                },
                3 => Reward::AmountOff {
                    amount: Money::from_minor(500).expect("m"),
                    apply: Apply::Each,
                },
                4 => Reward::SpecialPrice {
                    unit_price: Money::from_minor(2_000).expect("m"),
                },
                5 => Reward::BuyXGetY {
                    buy: 2,
                    get: 1,
                    free_sku: None,
                    percent: BasisPoints::FULL,
                },
                6 => Reward::BuyXGetY {
                    buy: 1,
                    get: 1,
                    free_sku: Some(sku(i * 7 + 3)),
                    percent: bp(5_000),
                },
                7 => Reward::NthItem {
                    n: 2,
                    percent: bp(5_000),
                },
                8 => Reward::AmountOff {
                    amount: Money::from_minor(10_000).expect("m"),
                    apply: Apply::Total,
                },
                9 => Reward::PointsMultiplier { percent: 200 },
                10 => Reward::ExtraPoints { points: 25 },
                _ => Reward::PercentOff {
                    percent: bp(1_500),
                    apply: Apply::Each,
                },
            };
            let (target, reward) = if i % 40 == 39 {
                let items = vec![
                    BundleItem {
                        sku: sku(i * 7),
                        quantity: 1,
                    },
                    BundleItem {
                        sku: sku(i * 7 + 1),
                        quantity: 1,
                    },
                ];
                (
                    Target::Skus {
                        skus: items.iter().map(|b| b.sku.clone()).collect(),
                    },
                    Reward::Bundle {
                        items,
                        price: Money::from_minor(5_000).expect("m"),
                    },
                )
            } else {
                (target, reward)
            };
            let mut p = Promotion {
                id: PromotionId::parse(format!("p{i}")).expect("id"),
                name: format!("Promotion {i}"),
                description: String::new(),
                target,
                reward,
                starts_at: None,
                ends_at: None,
                stores: vec![],
                priority: (i % 5) as i32,
                combines_with_tier: i % 2 == 0,
                funded_by: (i % 10 == 0).then(|| "Partner".to_owned()),
                exclude: Default::default(),
                conditions: Default::default(),
                limits: Default::default(),
                group: None,
                coupon: None,
                holdout: None,
            };
            if !p.reward.is_points() {
                p.group = match i % 7 {
                    0 => Some("partner".into()),
                    1 => Some("basket".into()),
                    _ => None,
                };
            }
            if p.target == Target::Basket {
                // Whole-basket offers are for coupon holders or a segment.
                if (i / mix.basket_every).is_multiple_of(2) {
                    p.coupon = Some(format!("C{}", i % 5));
                } else {
                    p.conditions.segment.tiers = vec!["Gold".into()];
                }
            }
            match i % 9 {
                0 => {
                    p.conditions.schedule.hours = vec![HourRange {
                        from: NaiveTime::from_hms_opt(10, 0, 0).expect("t"),
                        to: NaiveTime::from_hms_opt(22, 0, 0).expect("t"),
                    }]
                }
                1 => p.conditions.min_basket_amount = Some(Money::from_minor(50_000).expect("m")),
                2 => p.coupon = Some(format!("C{}", i % 3)),
                3 => p.limits.per_check = Some(2),
                4 => p.limits.budget = Some(Money::from_minor(1_000_000).expect("m")),
                5 => p.exclude.categories = vec![Category::parse("cat7").expect("cat")],
                _ => {}
            }
            p
        })
        .collect();
    rs
}

pub fn basket(lines: usize, skus: usize, mix: Mix) -> Vec<Line> {
    (0..lines)
        .map(|i| Line {
            // Spread over the catalogue (97 is prime to its size).
            sku: Sku::parse(format!("sku{}", (i * 97 + 13) % skus)).expect("sku"),
            name: format!("Item {i}"),
            category: Some(Category::parse(format!("cat{}", i % mix.categories)).expect("cat")),
            quantity: Quantity::from_milli(1000 + (i as u64 % 3) * 500).expect("qty"),
            unit_price: Money::from_minor(1_000 + (i as i64 * 137) % 50_000).expect("price"),
        })
        .collect()
}

/// One check as the perf harness prices it: `lines` lines against `rules`
/// rules of a mix, a Silver customer with a balance on a first purchase,
/// two coupons entered, points asked for, half the budgets nearly spent.
pub struct Load {
    /// The ruleset.
    pub ruleset: Ruleset,
    /// The engine over it.
    pub engine: Engine,
    /// The basket.
    pub basket: Vec<Line>,
    /// The customer.
    pub customer: CustomerStanding,
    /// The context, at the instant given.
    pub ctx: PricingContext,
}

impl Load {
    /// The check of `lines` lines against `rules` rules of `mix`, priced at
    /// `now` (the happy hours are 10:00–22:00 in Moscow).
    #[must_use]
    pub fn new(lines: usize, rules: usize, mix: Mix, now: DateTime<Utc>) -> Load {
        let products = mix.catalogue(rules);
        let ruleset = many_rules(rules, products, mix);
        let engine = Engine::new(ruleset.clone()).expect("valid ruleset");
        let basket = basket(lines, products, mix);
        let customer = CustomerStanding {
            lifetime_spend: Money::from_minor(2_000_000).expect("m"),
            points_balance: 500,
            purchases: Some(0),
            ..CustomerStanding::default()
        };
        let mut ctx = PricingContext::new(StoreId::new(1).expect("id"), now);
        ctx.timezone = "Europe/Moscow".into();
        ctx.coupons = vec!["C0".into(), "C1".into()];
        ctx.redeem_points = 200;
        for p in ruleset
            .promotions
            .iter()
            .filter(|p| p.limits.budget.is_some())
            .step_by(2)
        {
            ctx.usage.promotions.insert(
                p.id.clone(),
                PromotionUsage {
                    uses: 10,
                    spent: Money::from_minor(999_000).expect("m"),
                    ..PromotionUsage::default()
                },
            );
        }
        Load {
            ruleset,
            engine,
            basket,
            customer,
            ctx,
        }
    }

    /// Prices the check once.
    pub fn price(&self) -> Result<PricedCheck, PricingError> {
        self.engine
            .price(&self.basket, Some(&self.customer), &self.ctx)
    }
}
