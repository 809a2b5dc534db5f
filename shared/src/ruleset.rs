//! The loyalty ruleset a merchant publishes: the programme (tiers by
//! lifetime spend, bonus points) and the promotions. Immutable once
//! published; [`Ruleset::validate`] names the rule and field of every fault.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{Category, PromotionId, Sku, StoreId};
use crate::money::{BasisPoints, Currency, Money};

/// The schema version of [`Ruleset`] this build understands.
pub const SCHEMA_VERSION: u32 = 1;

/// A merchant's full set of rules at one version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
#[serde(deny_unknown_fields)]
pub struct Programme {
    /// Accumulative discount tiers by lifetime spend (net of returns),
    /// ascending by `min_lifetime_spend`.
    #[serde(default)]
    pub tiers: Vec<Tier>,
    /// Bonus points earned per amount spent.
    #[serde(default)]
    pub earn: Option<EarnRule>,
}

/// One accumulative-discount tier.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// The name shown to the cashier and the customer.
    pub name: String,
    /// The lifetime spend from which the tier applies.
    pub min_lifetime_spend: Money,
    /// The discount on the check.
    pub discount: BasisPoints,
}

/// Points earned: `points` for every full `per` of the amount paid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarnRule {
    /// The amount that earns `points`.
    pub per: Money,
    /// Points for each full `per`.
    pub points: i64,
    /// Categories that earn nothing (tobacco, for example).
    #[serde(default)]
    pub excluded_categories: Vec<Category>,
}

/// A promotion: what it targets, what it gives, when and where.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Higher wins a tie between promotions giving the same amount.
    #[serde(default)]
    pub priority: i32,
    /// Whether the customer's tier discount also applies on top of it.
    #[serde(default)]
    pub combines_with_tier: bool,
    /// Who funds it: empty for the merchant, else a partner (a producer).
    #[serde(default)]
    pub funded_by: Option<String>,
}

/// The lines a promotion applies to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
}

/// What a promotion gives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Reward {
    /// A percentage off each targeted line.
    PercentOff {
        /// The discount.
        percent: BasisPoints,
    },
}

impl Promotion {
    /// Whether it runs at `now` in `store`.
    #[must_use]
    pub fn is_active(&self, now: DateTime<Utc>, store: StoreId) -> bool {
        self.starts_at.is_none_or(|s| now >= s)
            && self.ends_at.is_none_or(|e| now < e)
            && (self.stores.is_empty() || self.stores.contains(&store))
    }
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
    /// Checks everything the engine relies on and reports every fault.
    pub fn validate(&self) -> Result<(), InvalidRuleset> {
        let mut faults = Vec::new();
        let mut fault = |rule: String, field: &str, message: String| {
            faults.push(RulesetFault {
                rule,
                field: field.to_owned(),
                message,
            });
        };
        let mut last: Option<Money> = None;
        for (i, t) in self.programme.tiers.iter().enumerate() {
            let rule = format!("tier[{i}] {:?}", t.name);
            if t.name.trim().is_empty() {
                fault(rule.clone(), "name", "must not be empty".into());
            }
            if t.min_lifetime_spend < Money::ZERO {
                fault(
                    rule.clone(),
                    "min_lifetime_spend",
                    "must not be negative".into(),
                );
            }
            if let Some(prev) = last
                && t.min_lifetime_spend <= prev
            {
                fault(
                    rule.clone(),
                    "min_lifetime_spend",
                    format!("must be above the previous tier's {prev}"),
                );
            }
            last = Some(t.min_lifetime_spend);
        }
        if let Some(earn) = &self.programme.earn {
            if earn.per <= Money::ZERO {
                fault("programme.earn".into(), "per", "must be above zero".into());
            }
            if !(0..=1_000_000).contains(&earn.points) {
                fault(
                    "programme.earn".into(),
                    "points",
                    "must be in 0..=1000000".into(),
                );
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for p in &self.promotions {
            let rule = format!("promotion {:?}", p.id.as_str());
            if !seen.insert(&p.id) {
                fault(rule.clone(), "id", "is used by another promotion".into());
            }
            if p.name.trim().is_empty() {
                fault(rule.clone(), "name", "must not be empty".into());
            }
            match &p.target {
                Target::Skus { skus } if skus.is_empty() => {
                    fault(
                        rule.clone(),
                        "target.skus",
                        "must list at least one SKU".into(),
                    );
                }
                Target::Categories { categories } if categories.is_empty() => {
                    fault(
                        rule.clone(),
                        "target.categories",
                        "must list at least one category".into(),
                    );
                }
                _ => {}
            }
            if let (Some(s), Some(e)) = (p.starts_at, p.ends_at)
                && e <= s
            {
                fault(rule.clone(), "ends_at", "must be after starts_at".into());
            }
            if let Reward::PercentOff { percent } = p.reward
                && percent.get() == 0
            {
                fault(rule, "reward.percent", "must be above 0".into());
            }
        }
        if faults.is_empty() {
            Ok(())
        } else {
            Err(InvalidRuleset(faults))
        }
    }

    /// The tier for a lifetime spend: the highest whose threshold is reached.
    #[must_use]
    pub fn tier_for(&self, lifetime_spend: Money) -> Option<&Tier> {
        self.programme
            .tiers
            .iter()
            .rev()
            .find(|t| lifetime_spend >= t.min_lifetime_spend)
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
    fn unknown_fields_and_percent_over_100_are_refused_at_parse() {
        let bad = r#"{"currency":"RUB","programme":{"tiers":[{"name":"X","min_lifetime_spend":0,"discount":10001}]}}"#;
        assert!(serde_json::from_str::<Ruleset>(bad).is_err());
        let unknown = r#"{"currency":"RUB","programme":{},"bogus":1}"#;
        assert!(serde_json::from_str::<Ruleset>(unknown).is_err());
    }
}
