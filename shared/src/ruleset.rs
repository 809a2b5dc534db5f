//! The loyalty ruleset a merchant publishes: the programme (tiers, bonus
//! points, redemption, stacking policy) and the promotions. Immutable once
//! published; [`Ruleset::validate`] names the rule and field of every fault.
//!
//! # Compatibility
//!
//! Rulesets published before a field existed must keep parsing and pricing
//! the same: every field added since schema 1 has `#[serde(default)]` and a
//! default that changes nothing, and unknown fields are still refused.
//!
//! # Shape
//!
//! - [`Programme`]: [`Tier`]s by lifetime spend or by spend over a rolling
//!   window ([`TierBasis`]), each with a discount and optionally its own
//!   earn rate; the [`EarnRule`] with per-category rates and exclusions;
//!   welcome and [`BirthdayBonus`]es; [`Redemption`] of points as money;
//!   and the [`Stacking`] policy (exclusive groups and price floors).
//! - [`Promotion`]: a [`Target`] (SKUs, categories or the whole basket,
//!   minus [`Exclusions`]), a [`Reward`], [`Conditions`] (basket, place,
//!   local schedule, customer segment), [`Limits`], an exclusive group and
//!   an optional coupon code that unlocks it.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc, Weekday};
use serde::{Deserialize, Serialize};

use crate::identity::Gender;
use crate::ids::{BrandId, Category, PromotionId, Sku, StoreId};
use crate::money::{BasisPoints, Currency, Money, Quantity};

mod validate;

/// The schema version of [`Ruleset`] this build understands.
pub const SCHEMA_VERSION: u32 = 1;

/// The name of the exclusive group of promotions that name none.
pub const DEFAULT_GROUP: &str = "default";

/// A merchant's full set of rules at one version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Ruleset {
    /// The currency every amount in it is in.
    pub currency: Currency,
    /// The loyalty programme.
    pub programme: Programme,
    /// Promotions, active or scheduled.
    #[serde(default)]
    pub promotions: Vec<Promotion>,
}

/// The standing loyalty programme.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Programme {
    /// Accumulative discount tiers, ascending by `min_lifetime_spend`.
    #[serde(default)]
    pub tiers: Vec<Tier>,
    /// Which spend picks the tier: lifetime (the default) or a rolling
    /// window. Either way it is net of returns and supplied by the caller.
    #[serde(default)]
    pub tier_basis: TierBasis,
    /// Bonus points earned per amount spent.
    #[serde(default)]
    pub earn: Option<EarnRule>,
    /// Points given once, on the customer's first purchase.
    #[serde(default)]
    pub welcome_bonus: Option<i64>,
    /// Points given around the customer's birthday.
    #[serde(default)]
    pub birthday_bonus: Option<BirthdayBonus>,
    /// Paying with points.
    #[serde(default)]
    pub redemption: Option<Redemption>,
    /// How promotions combine, and how low a price may go.
    #[serde(default)]
    pub stacking: Stacking,
    /// Days from earning points to their becoming available (0: at once).
    /// Until then they show as pending and cannot be spent.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub points_pending_days: u32,
    /// Days from earning points to their expiry; none: they never expire.
    /// See [`crate::points`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points_expire_days: Option<u32>,
    /// Points to a customer who brought a friend and to the friend, once
    /// the friend's first purchase clears its pending period. Credited by
    /// the server as ledger adjustments (tills price nothing with it); left
    /// out of the bytes when absent, so older agents still take the
    /// ruleset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referral_reward: Option<ReferralReward>,
}

/// The referral reward: points to both sides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReferralReward {
    /// To the customer whose link the friend signed up through.
    pub referrer_points: i64,
    /// To the friend.
    pub friend_points: i64,
}

/// Which spend picks a customer's tier.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TierBasis {
    /// Lifetime spend net of returns.
    #[default]
    LifetimeSpend,
    /// Spend net of returns over the last `days` days, which the caller
    /// supplies as `CustomerStanding::window_spend`.
    RollingWindow {
        /// The window's length in days.
        days: u32,
    },
}

/// One accumulative-discount tier.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// The name shown to the cashier and the customer.
    pub name: String,
    /// The spend (lifetime, or in the window: see [`TierBasis`]) from which
    /// the tier applies.
    pub min_lifetime_spend: Money,
    /// The discount on the check.
    pub discount: BasisPoints,
    /// The tier's own earn rate, replacing the programme's base rate.
    #[serde(default)]
    pub earn: Option<EarnRate>,
}

/// `points` for every full `per` of the amount paid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EarnRate {
    /// The amount that earns `points`.
    pub per: Money,
    /// Points for each full `per`.
    pub points: i64,
}

/// Points earned: `points` for every full `per` of the amount paid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EarnRule {
    /// The amount that earns `points`.
    pub per: Money,
    /// Points for each full `per`.
    pub points: i64,
    /// Categories that earn nothing (tobacco, for example).
    #[serde(default)]
    pub excluded_categories: Vec<Category>,
    /// Products that earn nothing.
    #[serde(default)]
    pub excluded_skus: Vec<Sku>,
    /// Categories earning at their own rate, which overrides both the base
    /// and the tier's rate.
    #[serde(default)]
    pub category_rates: Vec<CategoryRate>,
}

impl EarnRule {
    /// The base rate.
    #[must_use]
    pub fn rate(&self) -> EarnRate {
        EarnRate {
            per: self.per,
            points: self.points,
        }
    }
}

/// A category's own earn rate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CategoryRate {
    /// The category.
    pub category: Category,
    /// The amount that earns `points`.
    pub per: Money,
    /// Points for each full `per`.
    pub points: i64,
}

/// Points given when a purchase falls near the customer's birthday (in the
/// store's local dates), once per birthday.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BirthdayBonus {
    /// Points given.
    pub points: i64,
    /// Days before the birthday.
    #[serde(default)]
    pub days_before: u32,
    /// Days after the birthday.
    #[serde(default)]
    pub days_after: u32,
}

impl BirthdayBonus {
    /// Its window.
    #[must_use]
    pub fn window(&self) -> DayWindow {
        DayWindow {
            days_before: self.days_before,
            days_after: self.days_after,
        }
    }
}

/// Days around a birthday, inclusive: `days_before` the birthday through
/// `days_after` it. A 29 February birthday falls on 28 February in other
/// years.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DayWindow {
    /// Days before the birthday.
    #[serde(default)]
    pub days_before: u32,
    /// Days after the birthday.
    #[serde(default)]
    pub days_after: u32,
}

/// Paying with points: `points` points are worth `value`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Redemption {
    /// Points …
    pub points: i64,
    /// … worth this much.
    pub value: Money,
    /// At most this share of the check (after discounts) may be paid with
    /// points.
    pub max_share: BasisPoints,
    /// Points may be spent only from a balance of at least this many.
    #[serde(default)]
    pub min_balance: i64,
    /// While a till cannot reach the server, it lets a customer spend at
    /// most this many points in records the server has not reflected yet;
    /// none: only the cached balance limits it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offline_cap_points: Option<i64>,
}

/// How promotions combine and how low a line's price may go.
///
/// Promotions apply group by group, in the order of `groups`; the
/// [`DEFAULT_GROUP`] of promotions naming no group comes first unless it is
/// listed. Within a group a line takes at most one promotion's discount,
/// chosen by the group's [`GroupPolicy`]; discounts of different groups
/// stack, each on the price the previous groups left.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Stacking {
    /// The exclusive groups, in order of application.
    #[serde(default)]
    pub groups: Vec<Group>,
    /// No line may lose more than this share of its amount to discounts
    /// (tier and points included).
    #[serde(default)]
    pub max_line_discount: Option<BasisPoints>,
    /// Minimum unit prices no discount may go below (minimum retail prices
    /// of tobacco or alcohol, for example).
    #[serde(default)]
    pub min_prices: Vec<MinPrice>,
}

/// An exclusive group of promotions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// Its name, which promotions give as `group`.
    pub name: String,
    /// How a line's promotion is chosen within it.
    #[serde(default)]
    pub policy: GroupPolicy,
}

/// How a group chooses among promotions competing for the same lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum GroupPolicy {
    /// The offer saving the most goes first, then the next on the lines
    /// left, and so on; ties go to the higher priority, then the smaller id.
    #[default]
    BestForCustomer,
    /// Promotions go in order of priority (higher first, then the smaller
    /// id), each taking the lines still free.
    FirstByPriority,
}

/// A minimum unit price.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MinPrice {
    /// The product.
    pub sku: Sku,
    /// The lowest unit price it may be sold at.
    pub unit_price: Money,
}

/// A promotion: what it targets, what it gives, when, where and to whom.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Promotion {
    /// Unique within the ruleset.
    pub id: PromotionId,
    /// Title shown on the receipt and to customers.
    pub name: String,
    /// Longer text for the customer's phone.
    #[serde(default)]
    pub description: String,
    /// Which lines it applies to.
    pub target: Target,
    /// What it gives.
    pub reward: Reward,
    /// Publication period start (inclusive); none means already started.
    #[serde(default)]
    pub starts_at: Option<DateTime<Utc>>,
    /// Publication period end (exclusive); none means open-ended.
    #[serde(default)]
    pub ends_at: Option<DateTime<Utc>>,
    /// Stores where it runs; empty means every store of the merchant.
    #[serde(default)]
    pub stores: Vec<StoreId>,
    /// Higher wins a tie between offers saving the same; orders a
    /// first-by-priority group.
    #[serde(default)]
    pub priority: i32,
    /// Whether the customer's tier discount also applies on top of it.
    #[serde(default)]
    pub combines_with_tier: bool,
    /// Who funds it: empty for the merchant, else a partner (a producer).
    /// Carried into the purchase record with every discount it gives.
    #[serde(default)]
    pub funded_by: Option<String>,
    /// Lines of the target it never applies to.
    #[serde(default)]
    pub exclude: Exclusions,
    /// When it applies (boxed: most promotions have none, and it is the
    /// largest part).
    #[serde(default)]
    pub conditions: Box<Conditions>,
    /// How often and how much.
    #[serde(default)]
    pub limits: Limits,
    /// Its exclusive group ([`DEFAULT_GROUP`] if none). Points rewards take
    /// no part in groups.
    #[serde(default)]
    pub group: Option<String>,
    /// A coupon code that unlocks it: it applies only to checks where the
    /// code was entered (compared trimmed and case-insensitively).
    #[serde(default)]
    pub coupon: Option<String>,
    /// The share of identified customers held out of it (a control group,
    /// 0.01 %..=50 %), picked by [`crate::holdout::is_held_out`] from the
    /// customer's and the promotion's ids: it never applies to them, and
    /// the analytics compare them with the others. Anonymous checks are
    /// never held out. Left out of the bytes when absent, so agents built
    /// before holdouts still take rulesets without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout: Option<BasisPoints>,
}

/// The lines a promotion applies to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Target {
    /// Lines whose SKU is listed.
    Skus {
        /// The SKUs.
        skus: Vec<Sku>,
    },
    /// Lines whose category is listed.
    Categories {
        /// The categories.
        categories: Vec<Category>,
    },
    /// Every line of the check.
    Basket,
}

/// Lines excluded from a promotion's target.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct Exclusions {
    /// Products excluded.
    pub skus: Vec<Sku>,
    /// Categories excluded.
    pub categories: Vec<Category>,
}

/// Whether an amount or percentage applies to each targeted line or once
/// to the targeted lines together.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Apply {
    /// To each line (an amount: to each unit).
    #[default]
    Each,
    /// Once to the targeted lines together, spread over them.
    Total,
}

/// What a promotion gives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Reward {
    /// A percentage off the targeted lines.
    PercentOff {
        /// The discount.
        percent: BasisPoints,
        /// Off each line (the default), or off their sum.
        #[serde(default)]
        apply: Apply,
    },
    /// A fixed amount off: off each targeted unit (the default; a weighed
    /// line pro rata), or once off the targeted lines together.
    AmountOff {
        /// The amount.
        amount: Money,
        /// Per unit, or once.
        #[serde(default)]
        apply: Apply,
    },
    /// The targeted lines at a unit price.
    SpecialPrice {
        /// The unit price.
        unit_price: Money,
    },
    /// For every `buy` units, `get` units free (or `percent` off): the
    /// cheapest targeted units, or units of `free_sku`. Applied as many
    /// times as the basket allows (buy 2 get 1 with 6 units: 2 free).
    BuyXGetY {
        /// Units to buy.
        buy: u32,
        /// Units given.
        get: u32,
        /// The product given; none means the cheapest targeted units.
        #[serde(default)]
        free_sku: Option<Sku>,
        /// Off the units given; 100 % (free) by default.
        #[serde(default = "full_percent")]
        percent: BasisPoints,
    },
    /// Every `n`-th targeted unit, counting from the dearest, at `percent`
    /// off.
    NthItem {
        /// Which unit: 2 for "every second".
        n: u32,
        /// Off that unit.
        percent: BasisPoints,
    },
    /// The listed items together at `price`, as many sets as the basket
    /// holds (the dearest units first). The target must list their SKUs.
    Bundle {
        /// The items of one set.
        items: Vec<BundleItem>,
        /// The price of one set.
        price: Money,
    },
    /// Points on the targeted lines multiplied by `percent` / 100 (200 is
    /// double points). Several on a line: the largest applies.
    PointsMultiplier {
        /// The factor in percent, above 100.
        percent: u32,
    },
    /// Extra points once per check.
    ExtraPoints {
        /// Points given.
        points: i64,
    },
}

/// Fields added later are left out of the bytes while at their default,
/// so agents built before them still take the ruleset.
#[allow(clippy::trivially_copy_pass_by_ref)] // serde's signature
fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn full_percent() -> BasisPoints {
    BasisPoints::FULL
}

impl Reward {
    /// Whether it gives points rather than money off.
    #[must_use]
    pub fn is_points(&self) -> bool {
        matches!(
            self,
            Reward::PointsMultiplier { .. } | Reward::ExtraPoints { .. }
        )
    }
}

/// One item of a bundle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BundleItem {
    /// The product.
    pub sku: Sku,
    /// Units of it in one set.
    pub quantity: u32,
}

/// When a promotion applies, besides its period and stores. Every condition
/// given must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct Conditions {
    /// The check's amount before discounts is at least this.
    pub min_basket_amount: Option<Money>,
    /// The check holds at least this many units.
    pub min_basket_quantity: Option<Quantity>,
    /// The targeted lines hold at least this many units.
    pub min_target_quantity: Option<Quantity>,
    /// The check holds one of these products.
    pub requires_skus: Vec<Sku>,
    /// The check holds a product of one of these categories.
    pub requires_categories: Vec<Category>,
    /// The store trades under one of these brands.
    pub brands: Vec<BrandId>,
    /// Local dates, weekdays and hours, in the store's time zone.
    pub schedule: Schedule,
    /// Who the customer must be.
    pub segment: Segment,
}

/// A recurring schedule in the store's local time ("happy hours").
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct Schedule {
    /// First local date (inclusive).
    pub from_date: Option<NaiveDate>,
    /// Last local date (inclusive).
    pub to_date: Option<NaiveDate>,
    /// Local weekdays; empty means every day.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<crate::openapi::WeekdayName>))]
    pub weekdays: Vec<Weekday>,
    /// Local hours; empty means all day.
    pub hours: Vec<HourRange>,
}

impl Schedule {
    /// Whether it constrains anything.
    #[must_use]
    pub fn is_always(&self) -> bool {
        self.from_date.is_none()
            && self.to_date.is_none()
            && self.weekdays.is_empty()
            && self.hours.is_empty()
    }
}

/// Local hours `[from, to)`; a range with `from` after `to` runs past
/// midnight (the weekday is the one of the moment priced).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HourRange {
    /// Start (inclusive).
    pub from: NaiveTime,
    /// End (exclusive).
    pub to: NaiveTime,
}

impl HourRange {
    /// Whether `t` falls in the range.
    #[must_use]
    pub fn contains(&self, t: NaiveTime) -> bool {
        if self.from <= self.to {
            self.from <= t && t < self.to
        } else {
            t >= self.from || t < self.to
        }
    }
}

/// Who the customer must be. Any condition given needs an identified
/// customer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct Segment {
    /// Their tier is one of these (by name).
    pub tiers: Vec<String>,
    /// Their gender is one of these.
    pub genders: Vec<Gender>,
    /// They are at least this old (full years on the store's local date).
    pub min_age: Option<u32>,
    /// They are at most this old.
    pub max_age: Option<u32>,
    /// The purchase falls in this window around their birthday.
    pub birthday: Option<DayWindow>,
    /// They have made no purchase yet.
    pub new_customer: bool,
    /// They carry one of these tags.
    pub tags: Vec<String>,
}

impl Segment {
    /// Whether it constrains anything.
    #[must_use]
    pub fn is_anyone(&self) -> bool {
        self == &Segment::default()
    }
}

/// How often and how much a promotion may give.
///
/// While offline the till enforces what it knows: its own counts and the
/// customer's counts as last synced, passed in the pricing context.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Checks per customer.
    pub per_customer: Option<u32>,
    /// Applications within one check: sets of buy X get Y, N-th units,
    /// bundles, or discounted units of a per-unit reward.
    pub per_check: Option<u32>,
    /// Checks overall.
    pub total_uses: Option<u64>,
    /// Money given overall.
    pub budget: Option<Money>,
}

impl Promotion {
    /// Whether its publication period and stores include `now` and `store`.
    #[must_use]
    pub fn is_active(&self, now: DateTime<Utc>, store: StoreId) -> bool {
        self.starts_at.is_none_or(|s| now >= s)
            && self.ends_at.is_none_or(|e| now < e)
            && (self.stores.is_empty() || self.stores.contains(&store))
    }

    /// The exclusive group it belongs to.
    #[must_use]
    pub fn group_name(&self) -> &str {
        self.group.as_deref().unwrap_or(DEFAULT_GROUP)
    }
}

/// A coupon code as compared: trimmed, ASCII upper-case.
#[must_use]
pub fn normalize_coupon(code: &str) -> String {
    code.trim().to_ascii_uppercase()
}

/// One fault in a ruleset, naming the rule and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{rule}: {field}: {message}")]
pub struct RulesetFault {
    /// The rule: `programme`, `tier[2] "Gold"`, `promotion "milk-10"`.
    pub rule: String,
    /// The field within it.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// A ruleset that cannot be priced, with every fault found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ruleset is invalid: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct InvalidRuleset(pub Vec<RulesetFault>);

impl Ruleset {
    /// The tier for a spend: the highest whose threshold is reached.
    #[must_use]
    pub fn tier_for(&self, spend: Money) -> Option<&Tier> {
        self.programme
            .tiers
            .iter()
            .rev()
            .find(|t| spend >= t.min_lifetime_spend)
    }

    /// The tier for a customer's standing by the programme's
    /// [`TierBasis`]; with a rolling window whose spend the caller does not
    /// know, none.
    #[must_use]
    pub fn tier_for_standing(&self, standing: &crate::pricing::CustomerStanding) -> Option<&Tier> {
        match self.programme.tier_basis {
            TierBasis::LifetimeSpend => self.tier_for(standing.lifetime_spend),
            TierBasis::RollingWindow { .. } => standing.window_spend.and_then(|s| self.tier_for(s)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_rule_and_field() {
        let json = r#"{
            "currency": "RUB",
            "programme": {"tiers": [
                {"name": "Silver", "min_lifetime_spend": 0, "discount": 300},
                {"name": "Gold", "min_lifetime_spend": 0, "discount": 500}
            ]},
            "promotions": [
                {"id": "p", "name": "P", "target": {"kind": "skus", "skus": []},
                 "reward": {"kind": "percent_off", "percent": 1000}}
            ]
        }"#;
        let rs: Ruleset = serde_json::from_str(json).unwrap();
        let err = rs.validate().unwrap_err().to_string();
        assert!(
            err.contains(
                r#"tier[1] "Gold": min_lifetime_spend: must be above the previous tier's 0.00"#
            ),
            "{err}"
        );
        assert!(
            err.contains(r#"promotion "p": target.skus: must list at least one SKU"#),
            "{err}"
        );
    }

    #[test]
    fn points_periods_and_the_offline_cap_are_validated() {
        let json = r#"{
            "currency": "RUB",
            "programme": {
                "points_pending_days": 30, "points_expire_days": 30,
                "redemption": {"points": 1, "value": 100, "max_share": 5000,
                               "offline_cap_points": -1}
            }
        }"#;
        let rs: Ruleset = serde_json::from_str(json).unwrap();
        let err = rs.validate().unwrap_err().to_string();
        assert!(
            err.contains("programme: points_expire_days: must be above points_pending_days (30)"),
            "{err}"
        );
        assert!(
            err.contains("programme.redemption: offline_cap_points: must be in 0..=1000000"),
            "{err}"
        );
        let old = r#"{"currency":"RUB","programme":{"redemption":
            {"points": 1, "value": 100, "max_share": 5000}}}"#;
        let rs: Ruleset = serde_json::from_str(old).unwrap();
        assert_eq!(rs.programme.points_pending_days, 0);
        assert_eq!(rs.programme.points_expire_days, None);
        assert_eq!(rs.programme.redemption.unwrap().offline_cap_points, None);
        rs.validate().unwrap();
    }

    #[test]
    fn a_holdout_is_validated_and_absent_from_the_bytes_without_one() {
        let with = |share: u32| {
            format!(
                r#"{{"currency":"RUB","programme":{{}},"promotions":[
                {{"id":"p","name":"P","target":{{"kind":"basket"}},
                 "reward":{{"kind":"percent_off","percent":1000}},"holdout":{share}}}]}}"#
            )
        };
        for bad in [0, 5_001, 10_000] {
            let rs: Ruleset = serde_json::from_str(&with(bad)).unwrap();
            let err = rs.validate().unwrap_err().to_string();
            assert!(
                err.contains(r#"promotion "p": holdout: must be in 1..=5000 basis points"#),
                "{err}"
            );
        }
        assert!(serde_json::from_str::<Ruleset>(&with(10_001)).is_err());
        let rs: Ruleset = serde_json::from_str(&with(1_000)).unwrap();
        rs.validate().unwrap();
        assert_eq!(rs.promotions[0].holdout, BasisPoints::new(1_000).ok());
        assert!(
            serde_json::to_string(&rs)
                .unwrap()
                .contains(r#""holdout":1000"#)
        );
        let mut none = rs;
        none.promotions[0].holdout = None;
        let bytes = serde_json::to_string(&none).unwrap();
        assert!(!bytes.contains("holdout"), "older agents take it: {bytes}");
    }

    #[test]
    fn unknown_fields_and_percent_over_100_are_refused_at_parse() {
        let bad = r#"{"currency":"RUB","programme":{"tiers":[{"name":"X","min_lifetime_spend":0,"discount":10001}]}}"#;
        assert!(serde_json::from_str::<Ruleset>(bad).is_err());
        let unknown = r#"{"currency":"RUB","programme":{},"bogus":1}"#;
        assert!(serde_json::from_str::<Ruleset>(unknown).is_err());
    }
}
