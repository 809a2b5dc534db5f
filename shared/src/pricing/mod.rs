//! The pricing engine: a basket, a customer's standing and the ruleset in;
//! per-line discounts that sum exactly, points to earn, an explanation and
//! receipt text out. Pure and deterministic; the caller supplies the time.
//!
//! # Order of application
//!
//! 1. **Line promotions.** Each line gets the single best active promotion
//!    targeting its SKU or category: the largest discount, then the higher
//!    priority, then the smaller id. Discounts are rounded per line.
//! 2. **Tier discount.** The customer's tier percent of the sum of eligible
//!    lines (those without a promotion, or whose promotion
//!    `combines_with_tier`), computed once on the check and allocated over
//!    those lines by largest remainder.
//! 3. **Points.** `points` per full `per` of the amount paid on lines not in
//!    an excluded category, rounded down, allocated over those lines.
//!
//! Rules are indexed by SKU and category, so the cost of pricing grows with
//! the rules that can match a line, not with all rules.

pub mod allocation;
mod receipt;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::basket::{BasketError, Line, validate_basket};
use crate::ids::{Category, PromotionId, Sku, StoreId};
use crate::money::{Money, round_half_up};
use crate::ruleset::{InvalidRuleset, Promotion, Reward, Ruleset, Target};

pub use allocation::allocate;
pub use receipt::Receipt;

/// What the engine knows about the customer, from the till's cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerStanding {
    /// Lifetime spend net of returns, which picks the tier.
    pub lifetime_spend: Money,
    /// Available points.
    pub points_balance: i64,
}

/// Where and when the check is priced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PricingContext {
    /// The store of the register.
    pub store: StoreId,
    /// The time, from the caller's clock.
    pub now: DateTime<Utc>,
}

/// A rule that gave something.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum RuleRef {
    /// A programme tier, by name.
    Tier(String),
    /// A promotion.
    Promotion(PromotionId),
}

/// A discount a rule gave on a line or on the check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedRule {
    /// The rule.
    pub rule: RuleRef,
    /// The amount it took off.
    pub discount: Money,
    /// Who funds it, for partner promotions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub funded_by: Option<String>,
}

/// Why a rule that could have applied did not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockedRule {
    /// The rule.
    pub rule: RuleRef,
    /// Why, in English.
    pub reason: String,
}

/// A priced line, in the order the lines came.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricedLine {
    /// `unit_price × quantity`.
    pub amount: Money,
    /// Everything taken off this line.
    pub discount: Money,
    /// `amount − discount`, never negative.
    pub total: Money,
    /// Points this line earns.
    pub points: i64,
    /// Per-rule parts of `discount`.
    pub applied: Vec<AppliedRule>,
}

/// The result of pricing a check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricedCheck {
    /// Lines, in input order.
    pub lines: Vec<PricedLine>,
    /// Sum of line amounts.
    pub subtotal: Money,
    /// Sum of line discounts.
    pub discount: Money,
    /// `subtotal − discount`.
    pub total: Money,
    /// Points earned by the check.
    pub points_earned: i64,
    /// The customer's tier, if any.
    pub tier: Option<String>,
    /// Each rule's total over the check, sorted by rule.
    pub applied: Vec<AppliedRule>,
    /// Rules that matched a line but gave nothing, and why.
    pub blocked: Vec<BlockedRule>,
    /// Receipt text in Russian and English.
    pub receipt: Receipt,
}

/// Why a check could not be priced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    /// A line or the basket is invalid.
    #[error(transparent)]
    Basket(#[from] BasketError),
}

/// A validated ruleset with its promotions indexed by SKU and category.
#[derive(Clone, Debug)]
pub struct Engine {
    ruleset: Ruleset,
    by_sku: HashMap<Sku, Vec<usize>>,
    by_category: HashMap<Category, Vec<usize>>,
}

impl Engine {
    /// Validates and indexes a ruleset.
    pub fn new(ruleset: Ruleset) -> Result<Self, InvalidRuleset> {
        ruleset.validate()?;
        let mut by_sku: HashMap<Sku, Vec<usize>> = HashMap::new();
        let mut by_category: HashMap<Category, Vec<usize>> = HashMap::new();
        for (i, p) in ruleset.promotions.iter().enumerate() {
            match &p.target {
                Target::Skus { skus } => {
                    for s in skus {
                        by_sku.entry(s.clone()).or_default().push(i);
                    }
                }
                Target::Categories { categories } => {
                    for c in categories {
                        by_category.entry(c.clone()).or_default().push(i);
                    }
                }
            }
        }
        Ok(Engine {
            ruleset,
            by_sku,
            by_category,
        })
    }

    /// The ruleset priced with.
    #[must_use]
    pub fn ruleset(&self) -> &Ruleset {
        &self.ruleset
    }

    fn candidates<'a>(&'a self, line: &Line) -> impl Iterator<Item = &'a Promotion> + 'a {
        let by_sku = self.by_sku.get(&line.sku).into_iter().flatten();
        let by_cat = line
            .category
            .as_ref()
            .and_then(|c| self.by_category.get(c))
            .into_iter()
            .flatten();
        by_sku.chain(by_cat).map(|&i| &self.ruleset.promotions[i])
    }

    /// Prices a check.
    pub fn price(
        &self,
        lines: &[Line],
        customer: Option<&CustomerStanding>,
        ctx: &PricingContext,
    ) -> Result<PricedCheck, PricingError> {
        let subtotal = validate_basket(lines)?;
        let amounts: Vec<Money> = lines
            .iter()
            .map(Line::amount)
            .collect::<Result<_, _>>()
            .map_err(BasketError::from)?;
        let keys: Vec<(&Sku, i64, u64, &str)> = lines
            .iter()
            .map(|l| {
                (
                    &l.sku,
                    l.unit_price.minor(),
                    l.quantity.milli(),
                    l.name.as_str(),
                )
            })
            .collect();

        let mut priced: Vec<PricedLine> = amounts
            .iter()
            .map(|&a| PricedLine {
                amount: a,
                discount: Money::ZERO,
                total: a,
                points: 0,
                applied: Vec::new(),
            })
            .collect();
        let mut blocked: Vec<BlockedRule> = Vec::new();
        let mut tier_eligible = vec![true; lines.len()];

        // 1. Line promotions.
        for (i, line) in lines.iter().enumerate() {
            let mut best: Option<(&Promotion, Money)> = None;
            for p in self.candidates(line) {
                if !p.is_active(ctx.now, ctx.store) {
                    blocked.push(BlockedRule {
                        rule: RuleRef::Promotion(p.id.clone()),
                        reason: "not active at this time or in this store".into(),
                    });
                    continue;
                }
                let discount = match p.reward {
                    Reward::PercentOff { percent } => amounts[i].percent(percent),
                };
                let better = match best {
                    None => true,
                    Some((b, bd)) => {
                        (discount, p.priority, std::cmp::Reverse(&p.id))
                            > (bd, b.priority, std::cmp::Reverse(&b.id))
                    }
                };
                if better {
                    if let Some((b, _)) = best {
                        blocked.push(BlockedRule {
                            rule: RuleRef::Promotion(b.id.clone()),
                            reason: format!("a better promotion applied to {}", line.sku),
                        });
                    }
                    best = Some((p, discount));
                } else {
                    blocked.push(BlockedRule {
                        rule: RuleRef::Promotion(p.id.clone()),
                        reason: format!("a better promotion applied to {}", line.sku),
                    });
                }
            }
            if let Some((p, discount)) = best {
                let pl = &mut priced[i];
                pl.discount = discount;
                pl.total =
                    Money::from_minor(pl.amount.minor() - discount.minor()).unwrap_or(Money::ZERO);
                pl.applied.push(AppliedRule {
                    rule: RuleRef::Promotion(p.id.clone()),
                    discount,
                    funded_by: p.funded_by.clone(),
                });
                tier_eligible[i] = p.combines_with_tier;
            }
        }

        // 2. Tier discount, once on the check, allocated over eligible lines.
        let tier = customer.and_then(|c| self.ruleset.tier_for(c.lifetime_spend));
        if let Some(tier) = tier.filter(|t| t.discount.get() > 0) {
            let weights: Vec<i64> = priced
                .iter()
                .zip(&tier_eligible)
                .map(|(pl, &ok)| if ok { pl.total.minor() } else { 0 })
                .collect();
            let base: i64 = weights.iter().sum();
            let total =
                round_half_up(i128::from(base) * i128::from(tier.discount.get()), 10_000) as i64;
            let parts = allocate(total, &weights, &keys);
            for (pl, part) in priced.iter_mut().zip(parts) {
                if part > 0 {
                    let part_m = Money::from_minor(part).unwrap_or(Money::ZERO);
                    pl.discount =
                        Money::from_minor(pl.discount.minor() + part).unwrap_or(pl.amount);
                    pl.total = Money::from_minor(pl.total.minor() - part).unwrap_or(Money::ZERO);
                    pl.applied.push(AppliedRule {
                        rule: RuleRef::Tier(tier.name.clone()),
                        discount: part_m,
                        funded_by: None,
                    });
                }
            }
        }

        // 3. Points on the amount paid.
        let mut points_earned = 0;
        if let Some(earn) = &self.ruleset.programme.earn {
            let weights: Vec<i64> = lines
                .iter()
                .zip(&priced)
                .map(|(l, pl)| {
                    let excluded = l
                        .category
                        .as_ref()
                        .is_some_and(|c| earn.excluded_categories.contains(c));
                    if excluded { 0 } else { pl.total.minor() }
                })
                .collect();
            let base: i128 = weights.iter().map(|&w| i128::from(w)).sum();
            // Points round down: a customer earns for every full `per`.
            points_earned = (base / i128::from(earn.per.minor()) * i128::from(earn.points)) as i64;
            for (pl, p) in priced
                .iter_mut()
                .zip(allocate(points_earned, &weights, &keys))
            {
                pl.points = p;
            }
        }

        let discount_minor: i64 = priced.iter().map(|pl| pl.discount.minor()).sum();
        let discount = Money::from_minor(discount_minor).unwrap_or(subtotal);
        let total = Money::from_minor(subtotal.minor() - discount_minor).unwrap_or(Money::ZERO);

        let mut per_rule: std::collections::BTreeMap<RuleRef, (i64, Option<String>)> =
            Default::default();
        for a in priced.iter().flat_map(|pl| &pl.applied) {
            let e = per_rule
                .entry(a.rule.clone())
                .or_insert((0, a.funded_by.clone()));
            e.0 += a.discount.minor();
        }
        let applied: Vec<AppliedRule> = per_rule
            .into_iter()
            .map(|(rule, (d, funded_by))| AppliedRule {
                rule,
                discount: Money::from_minor(d).unwrap_or(Money::ZERO),
                funded_by,
            })
            .collect();
        blocked.sort_by(|a, b| (&a.rule, &a.reason).cmp(&(&b.rule, &b.reason)));
        blocked.dedup();
        let applied_promotions: Vec<&Promotion> = applied
            .iter()
            .filter_map(|a| match &a.rule {
                RuleRef::Promotion(id) => self.ruleset.promotions.iter().find(|p| &p.id == id),
                RuleRef::Tier(_) => None,
            })
            .collect();
        let receipt = Receipt::build(&applied, &applied_promotions, tier, discount, points_earned);
        Ok(PricedCheck {
            lines: priced,
            subtotal,
            discount,
            total,
            points_earned,
            tier: tier.map(|t| t.name.clone()),
            applied,
            blocked,
            receipt,
        })
    }
}

#[cfg(test)]
mod tests;
