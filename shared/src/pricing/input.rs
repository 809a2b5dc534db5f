//! What the caller tells the engine besides the lines: the customer's
//! standing, and where, when and under which counts the check is priced.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::identity::{AgeAnchor, Gender, MonthDay};
use crate::ids::{BrandId, CustomerId, PromotionId, StoreId};
use crate::money::Money;

/// What the engine knows about the customer, from the till's cache.
///
/// Fields added after the first release default to "unknown", which never
/// grants anything: no window spend means no window tier, unknown
/// purchases mean not a new customer, no birthday means no birthday.
///
/// It holds no birth date (tills keep no one's personal data): the
/// birthday's month and day, and the age the customer turns on it in one
/// year, give every birthday window and age the date would. A standing
/// recorded before, with a `birth_date`, reads as the two.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(from = "StandingOnWire")]
pub struct CustomerStanding {
    /// Lifetime spend net of returns, which picks the tier.
    pub lifetime_spend: Money,
    /// Available points.
    pub points_balance: i64,
    /// Spend net of returns over the programme's rolling window, when the
    /// tiers go by a window and the caller knows it.
    pub window_spend: Option<Money>,
    /// Purchases made so far, if known; `Some(0)` is a new customer.
    pub purchases: Option<u64>,
    /// Gender as given.
    pub gender: Gender,
    /// The birthday's month and day, if given: birthday windows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birthday: Option<MonthDay>,
    /// The age they turn on their birthday in a year, with `birthday`:
    /// age conditions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age: Option<AgeAnchor>,
    /// Tags the merchant gave the customer (segments such as `staff`).
    pub tags: Vec<String>,
    /// The local date the birthday bonus was last given, if known; it is
    /// given once per birthday window.
    pub last_birthday_bonus: Option<NaiveDate>,
}

impl CustomerStanding {
    /// The birthday and age anchor of a birth date, as the server derives
    /// them for a till (the anchor in `year`).
    pub fn set_birth_date(&mut self, birth: Option<NaiveDate>, year: i32) {
        self.birthday = birth.map(MonthDay::of);
        self.age = birth.and_then(|b| AgeAnchor::of(b, year));
    }

    /// Full years of age on `day`, when the birthday and anchor are known.
    #[must_use]
    pub fn age_on(&self, day: NaiveDate) -> Option<u32> {
        self.age
            .zip(self.birthday)
            .and_then(|(a, b)| a.age_on(b, day))
    }
}

/// [`CustomerStanding`] as read: also a `birth_date` of older records.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
struct StandingOnWire {
    lifetime_spend: Money,
    points_balance: i64,
    #[serde(default)]
    window_spend: Option<Money>,
    #[serde(default)]
    purchases: Option<u64>,
    #[serde(default)]
    gender: Gender,
    #[serde(default)]
    birthday: Option<MonthDay>,
    #[serde(default)]
    age: Option<AgeAnchor>,
    #[serde(default)]
    birth_date: Option<NaiveDate>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    last_birthday_bonus: Option<NaiveDate>,
}

impl From<StandingOnWire> for CustomerStanding {
    fn from(w: StandingOnWire) -> Self {
        let mut standing = CustomerStanding {
            lifetime_spend: w.lifetime_spend,
            points_balance: w.points_balance,
            window_spend: w.window_spend,
            purchases: w.purchases,
            gender: w.gender,
            birthday: w.birthday,
            age: w.age,
            tags: w.tags,
            last_birthday_bonus: w.last_birthday_bonus,
        };
        if let Some(birth) = w.birth_date {
            standing.set_birth_date(Some(birth), birth.year());
        }
        standing
    }
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
    /// The identified customer's id, which decides their holdouts
    /// ([`crate::holdout`]); `None` on an anonymous check, which no
    /// promotion holds out. Pass it whenever a standing is passed.
    pub customer: Option<CustomerId>,
}

impl PricingContext {
    /// A context in UTC with no brand, coupons, redemption, usage or
    /// customer id.
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
            customer: None,
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
    /// What is left of the share of the global limits leased to this
    /// register by the server (`POST /api/v1/leases`), as the caller
    /// reckons it: the lease less what the till's own records gave under
    /// it. When `Some`, the engine enforces it instead of the global
    /// `total_uses` and `budget` against the counts above, and a spent
    /// lease blocks the promotion as [`Limit::LeasedUses`] or caps it as
    /// [`Limit::LeasedBudget`]; a till that holds no lease passes a zero
    /// one. `None` (a server that leases nothing) keeps the global limits.
    ///
    /// [`Limit::LeasedUses`]: super::Limit::LeasedUses
    /// [`Limit::LeasedBudget`]: super::Limit::LeasedBudget
    pub leased: Option<LeasedQuota>,
}

/// What a register may still give of a promotion under its lease.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LeasedQuota {
    /// Checks left.
    pub uses: u64,
    /// Money left.
    pub budget: Money,
}

#[cfg(test)]
mod standing_tests {
    use super::*;

    /// A standing recorded before tills lost the birth date reads as the
    /// birthday and an anchor that give the same ages; a new one writes
    /// no birth date.
    #[test]
    fn an_older_records_birth_date_reads_as_birthday_and_age() {
        let old = r#"{"lifetime_spend":0,"points_balance":5,"birth_date":"1990-09-23"}"#;
        let standing: CustomerStanding = serde_json::from_str(old).unwrap();
        assert_eq!(standing.birthday, MonthDay::new(9, 23));
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(standing.age_on(day(2026, 9, 22)), Some(35));
        assert_eq!(standing.age_on(day(2026, 9, 23)), Some(36));
        let written = serde_json::to_string(&standing).unwrap();
        assert!(!written.contains("1990-09-23"), "{written}");
        assert_eq!(
            serde_json::from_str::<CustomerStanding>(&written).unwrap(),
            standing
        );
    }
}
