//! What the caller tells the engine besides the lines: the customer's
//! standing, and where, when and under which counts the check is priced.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::identity::Gender;
use crate::ids::{BrandId, PromotionId, StoreId};
use crate::money::Money;

/// What the engine knows about the customer, from the till's cache.
///
/// Fields added after the first release default to "unknown", which never
/// grants anything: no window spend means no window tier, unknown
/// purchases mean not a new customer, no birth date means no birthday.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerStanding {
    /// Lifetime spend net of returns, which picks the tier.
    pub lifetime_spend: Money,
    /// Available points.
    pub points_balance: i64,
    /// Spend net of returns over the programme's rolling window, when the
    /// tiers go by a window and the caller knows it.
    #[serde(default)]
    pub window_spend: Option<Money>,
    /// Purchases made so far, if known; `Some(0)` is a new customer.
    #[serde(default)]
    pub purchases: Option<u64>,
    /// Gender as given.
    #[serde(default)]
    pub gender: Gender,
    /// Birth date, if given.
    #[serde(default)]
    pub birth_date: Option<NaiveDate>,
    /// Tags the merchant gave the customer (segments such as `staff`).
    #[serde(default)]
    pub tags: Vec<String>,
    /// The local date the birthday bonus was last given, if known; it is
    /// given once per birthday window.
    #[serde(default)]
    pub last_birthday_bonus: Option<NaiveDate>,
}

/// Where, when and how the check is priced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PricingContext {
    /// The store of the register.
    pub store: StoreId,
    /// The time, from the caller's clock.
    pub now: DateTime<Utc>,
    /// The store's IANA time zone (`Europe/Moscow`): schedules, birthdays
    /// and ages use its local date and time. An unknown zone fails every
    /// condition that needs local time.
    pub timezone: String,
    /// The brand the store trades under, if known.
    pub brand: Option<BrandId>,
    /// Coupon codes entered on the check.
    pub coupons: Vec<String>,
    /// Points the customer asked to pay with (0 for none).
    pub redeem_points: i64,
    /// Usage of limited promotions known to the caller.
    pub usage: UsageCounts,
}

impl PricingContext {
    /// A context in UTC with no brand, coupons, redemption or usage.
    #[must_use]
    pub fn new(store: StoreId, now: DateTime<Utc>) -> Self {
        Self {
            store,
            now,
            timezone: "UTC".to_owned(),
            brand: None,
            coupons: Vec::new(),
            redeem_points: 0,
            usage: UsageCounts::default(),
        }
    }
}

/// What the caller knows of promotions' use, for their limits. While
/// offline a till knows its own counts and the customer's counts as last
/// synced; a promotion absent here has no known use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UsageCounts {
    /// Per promotion.
    pub promotions: BTreeMap<PromotionId, PromotionUsage>,
}

/// The known use of one promotion.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PromotionUsage {
    /// Checks it applied to, as far as the caller knows (the till's own,
    /// plus others' where synced), net of returns that gave uses back.
    pub uses: u64,
    /// Money it gave, likewise, net of refunds.
    pub spent: Money,
    /// Checks of the identified customer it applied to.
    pub customer_uses: u64,
    /// A share of the global quota leased to this register by the server.
    ///
    /// The place for register-leased quotas, which come with the sync
    /// protocol; until then it is always `None`. When `Some`, the till
    /// enforces the lease instead of the global `total_uses` and `budget`
    /// against the counts above: the lease is exactly what it may still
    /// give.
    pub leased: Option<LeasedQuota>,
}

/// What a register may still give of a promotion under its lease.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeasedQuota {
    /// Checks left.
    pub uses: u64,
    /// Money left.
    pub budget: Money,
}
