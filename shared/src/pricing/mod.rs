//! The pricing engine: a basket, a customer's standing and the ruleset in;
//! per-line discounts that sum exactly, points to earn and to spend, an
//! explanation and receipt text out. Pure and deterministic; the caller
//! supplies the time, the store's time zone, coupons and usage counts.
//!
//! # Order of application
//!
//! 1. **Candidates.** Promotions are found through indexes by SKU and
//!    category (plus those targeting the whole basket), so the cost grows
//!    with the rules that can match the lines, not with all rules. A
//!    promotion locked by a coupon is a candidate only when its code was
//!    entered.
//! 2. **Conditions and limits** of each candidate: period, stores, brands,
//!    the local schedule in the store's time zone, basket minimums, required
//!    products, the customer segment, and the known usage against uses per
//!    customer, overall uses and budget. A failing candidate is explained
//!    and dropped.
//! 3. **Exclusive groups**, in the order of `programme.stacking.groups`
//!    (the default group first unless listed). Within a group a line takes
//!    at most one promotion's discount: *best for customer* applies the
//!    offer saving the most first (then higher priority, smaller id,
//!    content rank of the line) and re-evaluates the others on the lines
//!    left; *first by priority* lets promotions take free lines in priority
//!    order. Per-line rewards (a percentage or amount off each line, a
//!    special price) offer each line separately; buy X get Y, N-th item,
//!    bundles, amounts or percentages off a set, and any reward with a
//!    per-check limit or a budget make one offer over their lines. Later
//!    groups stack on the prices earlier ones left.
//! 4. **Tier discount.** The customer's tier percent of the sum of the
//!    lines whose promotions all `combine_with_tier`, taken once on the
//!    check (rounded down) and spread over them by largest remainder.
//! 5. **Points as money,** if asked: whole points at the programme's rate,
//!    at most `max_share` of what is left to pay, at most the balance.
//! 6. **Points earned** on the amount paid: lines grouped by earn rate
//!    (category rate, else the tier's, else the base) and multiplier, each
//!    group earning `points` per full `per`; extra points, the welcome bonus
//!    and the birthday bonus on top. Points are spread over the lines, so a
//!    return can claw back exactly what its lines earned.
//!
//! Every discount is cut to the line's **floor**: never below zero, never
//! below the merchant's minimum unit price, never more than
//! `max_line_discount` of the line. Every tie-break between lines goes by
//! their content ([`allocation`]), so the result never depends on the
//! order of lines. Rounding is declared in [`crate::money`].

pub mod allocation;
mod explain;
mod finish;
mod input;
mod offers;
mod prepared;
mod receipt;
mod stacking;

#[cfg(test)]
pub(crate) mod reference;

use foldhash::{HashMap, HashMapExt as _};
use serde::{Deserialize, Serialize};

use crate::basket::{BasketError, Line, validate_basket};
use crate::ids::{Category, Sku};
use crate::money::{AmountError, Money, narrow_index};
use crate::ruleset::{
    DEFAULT_GROUP, GroupPolicy, InvalidRuleset, Reward, Ruleset, Target, normalize_coupon,
};

pub use allocation::allocate;
use explain::Note;
pub use explain::{AppliedRule, BlockReason, BlockedRule, Condition, Limit, PointsAward, RuleRef};
pub use input::{CustomerStanding, LeasedQuota, PricingContext, PromotionUsage, UsageCounts};
pub use receipt::Receipt;

use prepared::{Cand, Prepared, check_eligible, excluded};
use stacking::{Candidate, Facts, Running, apply_group};

/// A priced line, in the order the lines came.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PricedLine {
    /// `unit_price × quantity`.
    pub amount: Money,
    /// Everything taken off this line.
    pub discount: Money,
    /// `amount − discount`, never below the line's floor.
    pub total: Money,
    /// Points this line earns.
    pub points: i64,
    /// Per-rule parts of `discount`, in the order applied.
    pub applied: Vec<AppliedRule>,
}

/// The result of pricing a check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PricedCheck {
    /// Lines, in input order.
    pub lines: Vec<PricedLine>,
    /// Sum of line amounts.
    pub subtotal: Money,
    /// Sum of line discounts (points paid as money included).
    pub discount: Money,
    /// `subtotal − discount`.
    pub total: Money,
    /// Points earned by the check.
    pub points_earned: i64,
    /// Points spent on the check.
    #[serde(default)]
    pub points_redeemed: i64,
    /// The most points the customer could spend on this check.
    #[serde(default)]
    pub redeemable_points: i64,
    /// The customer's tier, if any.
    pub tier: Option<String>,
    /// Each rule's total discount over the check, sorted by rule; a
    /// promotion giving points only is listed with zero.
    pub applied: Vec<AppliedRule>,
    /// Points by rule.
    #[serde(default)]
    pub points: Vec<PointsAward>,
    /// Rules that did not apply or gave less, and why, sorted.
    pub blocked: Vec<BlockedRule>,
    /// Entered coupon codes that unlock no promotion.
    #[serde(default)]
    pub coupons_rejected: Vec<String>,
    /// Receipt text in Russian and English.
    pub receipt: Receipt,
}

/// Why a check could not be priced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    /// A line or the basket is invalid.
    #[error(transparent)]
    Basket(#[from] BasketError),
    /// A figure of the check left the money range while it was priced:
    /// refused, never replaced by zero.
    #[error("a figure of this check is out of range: {0}")]
    Amount(#[from] AmountError),
}

/// How a line reaches a promotion through the SKU index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Via {
    /// The SKU is in its target.
    Target,
    /// The SKU is its `free_sku`.
    Free,
}

/// The promotions a line reaches through the SKU and the category indexes.
type Reach<'e> = (&'e [(u32, Via)], Option<&'e OnCategory>);

/// The promotions on a category.
#[derive(Clone, Debug, Default)]
struct OnCategory {
    /// Its position among the categories of the ruleset's promotions.
    at: u32,
    /// Promotions on it found hit by hit, with the others: those on several
    /// categories, or with a free SKU.
    hits: Vec<u32>,
    /// Promotions on it alone, without a free SKU: their candidates are its
    /// lines they do not exclude, laid down in one run each.
    direct: Vec<u32>,
}

/// A validated ruleset with its promotions indexed by SKU and category.
#[derive(Clone, Debug)]
pub struct Engine {
    ruleset: Ruleset,
    by_sku: HashMap<Sku, Vec<(u32, Via)>>,
    by_category: HashMap<Category, OnCategory>,
    /// Promotions on the whole basket that a line also reaches as their
    /// free SKU: found hit by hit, with the others.
    basket_wide: Vec<u32>,
    /// The other promotions on the whole basket: their candidates are every
    /// line they do not exclude, laid down in one run each.
    basket_direct: Vec<u32>,
    coupons: HashMap<String, Vec<u32>>,
    coupon_of: Vec<Option<String>>,
    min_price: HashMap<Sku, Money>,
    groups: Vec<(String, GroupPolicy)>,
    group_of: Vec<usize>,
    id_rank: Vec<u32>,
    /// Per promotion, what pricing reads of it again and again.
    facts: Vec<Facts>,
}

impl Engine {
    /// Validates and indexes a ruleset.
    pub fn new(ruleset: Ruleset) -> Result<Self, InvalidRuleset> {
        ruleset.validate()?;
        let mut by_sku: HashMap<Sku, Vec<(u32, Via)>> = HashMap::new();
        let mut by_category: HashMap<Category, OnCategory> = HashMap::new();
        let mut basket_wide = Vec::new();
        let mut basket_direct = Vec::new();
        let mut coupons: HashMap<String, Vec<u32>> = HashMap::new();
        let mut coupon_of = Vec::with_capacity(ruleset.promotions.len());
        for (i, p) in ruleset.promotions.iter().enumerate() {
            let i = narrow_index(i);
            let free_sku = match &p.reward {
                Reward::BuyXGetY {
                    free_sku: Some(s), ..
                } => Some(s),
                _ => None,
            };
            match &p.target {
                Target::Skus { skus } => {
                    let mut skus: Vec<&Sku> = skus.iter().collect();
                    skus.sort();
                    skus.dedup();
                    for s in skus {
                        by_sku.entry(s.clone()).or_default().push((i, Via::Target));
                    }
                }
                Target::Categories { categories } => {
                    let mut cats: Vec<&Category> = categories.iter().collect();
                    cats.sort();
                    cats.dedup();
                    let direct = cats.len() == 1 && free_sku.is_none();
                    for c in cats {
                        let known = narrow_index(by_category.len());
                        let on = by_category.entry(c.clone()).or_insert_with(|| OnCategory {
                            at: known,
                            ..OnCategory::default()
                        });
                        if direct {
                            on.direct.push(i);
                        } else {
                            on.hits.push(i);
                        }
                    }
                }
                Target::Basket => {}
            }
            if let Some(s) = free_sku {
                by_sku.entry(s.clone()).or_default().push((i, Via::Free));
            }
            if p.target == Target::Basket {
                if free_sku.is_some() {
                    basket_wide.push(i);
                } else {
                    basket_direct.push(i);
                }
            }
            let code = p.coupon.as_deref().map(normalize_coupon);
            if let Some(code) = &code {
                coupons.entry(code.clone()).or_default().push(i);
            }
            coupon_of.push(code);
        }
        let declared = &ruleset.programme.stacking.groups;
        let mut groups: Vec<(String, GroupPolicy)> = declared
            .iter()
            .map(|g| (g.name.clone(), g.policy))
            .collect();
        if !declared.iter().any(|g| g.name == DEFAULT_GROUP) {
            groups.insert(0, (DEFAULT_GROUP.to_owned(), GroupPolicy::BestForCustomer));
        }
        let group_of = ruleset
            .promotions
            .iter()
            .map(|p| {
                groups
                    .iter()
                    .position(|(name, _)| name == p.group_name())
                    .unwrap_or(0)
            })
            .collect();
        let mut by_id: Vec<usize> = (0..ruleset.promotions.len()).collect();
        by_id.sort_by(|&a, &b| ruleset.promotions[a].id.cmp(&ruleset.promotions[b].id));
        let mut id_rank = vec![0u32; by_id.len()];
        for (r, &i) in by_id.iter().enumerate() {
            id_rank[i] = narrow_index(r);
        }
        let facts = ruleset.promotions.iter().map(Facts::of).collect();
        let min_price = ruleset
            .programme
            .stacking
            .min_prices
            .iter()
            .map(|m| (m.sku.clone(), m.unit_price))
            .collect();
        Ok(Engine {
            ruleset,
            by_sku,
            by_category,
            basket_wide,
            basket_direct,
            coupons,
            coupon_of,
            min_price,
            groups,
            group_of,
            id_rank,
            facts,
        })
    }

    /// The ruleset priced with.
    #[must_use]
    pub fn ruleset(&self) -> &Ruleset {
        &self.ruleset
    }

    /// Prices a check.
    pub fn price(
        &self,
        lines: &[Line],
        customer: Option<&CustomerStanding>,
        ctx: &PricingContext,
    ) -> Result<PricedCheck, PricingError> {
        validate_basket(lines)?;
        let amounts: Vec<i64> = lines
            .iter()
            .map(|l| l.amount().map(Money::minor))
            .collect::<Result<_, _>>()
            .map_err(BasketError::from)?;
        let prep = Prepared::new(
            &self.ruleset,
            &self.min_price,
            lines,
            amounts,
            customer,
            ctx,
        );
        let promos = &self.ruleset.promotions;
        // A promotion locked by a coupon not entered is no candidate: those
        // on the whole basket and those laid down in one run are passed
        // over before their lines are visited (the others after their hits
        // are grouped, when the candidates are checked).
        let unlocked = |p: &u32| {
            self.coupon_of[*p as usize]
                .as_ref()
                .is_none_or(|code| prep.coupons.contains(code))
        };
        let basket_wide: Vec<u32> = self.basket_wide.iter().copied().filter(unlocked).collect();

        // 1. Candidates through the indexes: every (promotion, line) hit,
        //    then grouped by promotion, lines in order.
        let found: Vec<Reach<'_>> = lines
            .iter()
            .map(|line| {
                let by_sku = self.by_sku.get(&line.sku).map_or(&[][..], Vec::as_slice);
                let on = line.category.as_ref().and_then(|c| self.by_category.get(c));
                (by_sku, on)
            })
            .collect();
        let reached = found
            .iter()
            .map(|(s, c)| s.len() + c.map_or(0, |c| c.hits.len()))
            .sum::<usize>()
            + lines.len() * basket_wide.len();
        let mut hits: Vec<(u32, Cand)> = Vec::with_capacity(reached);
        for (i, (line, &(by_sku, on))) in lines.iter().zip(&found).enumerate() {
            let i = narrow_index(i);
            let mut visit = |p: u32, target: bool, free: bool| {
                let target = target
                    && !(self.facts[p as usize].excludes && excluded(&promos[p as usize], line));
                if target || free {
                    hits.push((p, Cand { line: i, target }));
                }
            };
            for &(p, via) in by_sku {
                visit(p, via == Via::Target, via == Via::Free);
            }
            for &p in on.map_or(&[][..], |on| on.hits.as_slice()) {
                visit(p, true, false);
            }
            for &p in &basket_wide {
                visit(p, true, false);
            }
        }
        // Group the hits by promotion (a counting sort: hits come in line
        // order, so each promotion's lines stay in order); a line reached
        // twice (by SKU and category, or as a free SKU) is one candidate,
        // targeted if either way targets it.
        let mut slot = vec![u32::MAX; promos.len()];
        let mut order: Vec<u32> = Vec::new();
        let mut start: Vec<usize> = Vec::new();
        for &(p, _) in &hits {
            let s = &mut slot[p as usize];
            if *s == u32::MAX {
                *s = narrow_index(order.len());
                order.push(p);
                start.push(0);
            }
            start[*s as usize] += 1;
        }
        let mut at = 0;
        for n in &mut start {
            let count = *n;
            *n = at;
            at += count;
        }
        let mut end = start.clone();
        // Room for the hits and for every line of every run laid down
        // directly (below).
        let direct = found
            .iter()
            .map(|(_, on)| on.map_or(0, |on| on.direct.len()))
            .sum::<usize>()
            + lines.len() * self.basket_direct.len();
        let mut flat = Vec::with_capacity(hits.len() + direct);
        flat.resize(
            hits.len(),
            Cand {
                line: 0,
                target: false,
            },
        );
        for &(p, cand) in &hits {
            let d = slot[p as usize] as usize;
            if end[d] > start[d] && flat[end[d] - 1].line == cand.line {
                flat[end[d] - 1].target |= cand.target;
            } else {
                flat[end[d]] = cand;
                end[d] += 1;
            }
        }
        // The promotions laid down directly, each in one run after the
        // hits' runs: on one category, its lines (lines ordered by category,
        // then position); on the whole basket, every line. Those it does not
        // exclude, in order. Lines with such a category, as `(category
        // position, line)` in one number, sorted:
        let mut by_category: Vec<u64> = found
            .iter()
            .enumerate()
            .filter_map(|(i, (_, on))| {
                on.filter(|on| !on.direct.is_empty())
                    .map(|on| (u64::from(on.at) << 32) | u64::from(narrow_index(i)))
            })
            .collect();
        by_category.sort_unstable();
        let line_of = |key: u64| u32::try_from(key & u64::from(u32::MAX)).unwrap_or(u32::MAX);
        let mut lay = |promotions: &[u32], of_lines: &[u32]| {
            for &p in promotions.iter().filter(|p| unlocked(p)) {
                let (promo, from) = (&promos[p as usize], flat.len());
                let excludes = self.facts[p as usize].excludes;
                for &i in of_lines {
                    if !(excludes && excluded(promo, &lines[i as usize])) {
                        flat.push(Cand {
                            line: i,
                            target: true,
                        });
                    }
                }
                if flat.len() > from {
                    slot[p as usize] = narrow_index(order.len());
                    order.push(p);
                    start.push(from);
                    end.push(flat.len());
                }
            }
        };
        let mut of_lines: Vec<u32> = Vec::with_capacity(lines.len());
        for group in by_category.chunk_by(|a, b| a >> 32 == b >> 32) {
            of_lines.clear();
            of_lines.extend(group.iter().map(|&key| line_of(key)));
            if let Some(on) = found[line_of(group[0]) as usize].1 {
                lay(&on.direct, &of_lines);
            }
        }
        if !self.basket_direct.is_empty() {
            of_lines.clear();
            of_lines.extend((0..lines.len()).map(narrow_index));
            lay(&self.basket_direct, &of_lines);
        }
        // The runs by promotion: when many promotions are candidates, read
        // off the slots in promotion order rather than sorted.
        let runs: Vec<(u32, std::ops::Range<usize>)> = if order.len() * 16 >= promos.len() {
            let mut runs = Vec::with_capacity(order.len());
            for (p, &d) in slot.iter().enumerate() {
                if d != u32::MAX {
                    let d = d as usize;
                    runs.push((narrow_index(p), start[d]..end[d]));
                }
            }
            runs
        } else {
            let mut runs: Vec<(u32, std::ops::Range<usize>)> = order
                .iter()
                .enumerate()
                .map(|(d, &p)| (p, start[d]..end[d]))
                .collect();
            runs.sort_unstable_by_key(|(p, _)| *p);
            runs
        };

        // 2. Coupons, conditions and limits.
        let mut running = Running::new(&prep);
        running.notes.reserve(runs.len());
        let mut rejected = Vec::new();
        for code in &prep.coupons {
            match self.coupons.get(code) {
                None => rejected.push(code.clone()),
                Some(unlocked) => {
                    for &p in unlocked {
                        if runs.binary_search_by_key(&p, |(q, _)| *q).is_err() {
                            let reason = BlockReason::ConditionNotMet {
                                condition: Condition::NothingToDiscount,
                            };
                            let promo = &promos[p as usize];
                            running.notes.push(Note::promotion(
                                &promo.id,
                                self.id_rank[p as usize],
                                reason,
                            ));
                        }
                    }
                }
            }
        }
        let mut candidates: Vec<Candidate<'_>> = Vec::with_capacity(runs.len());
        for (p, range) in runs {
            let promo = &promos[p as usize];
            if let Some(code) = &self.coupon_of[p as usize]
                && !prep.coupons.contains(code)
            {
                continue;
            }
            let cands = &flat[range];
            let targets = cands.iter().filter(|c| c.target).map(|c| c.line);
            let facts = self.facts[p as usize];
            let eligible = if facts.gated {
                check_eligible(promo, &prep, ctx, targets)
            } else {
                Ok(None)
            };
            match eligible {
                Ok(budget) => candidates.push(Candidate {
                    index: p,
                    promo,
                    id_rank: self.id_rank[p as usize],
                    cands,
                    budget_left: budget.map(|(left, _)| left),
                    budget_limit: budget.map_or(Limit::Budget, |(_, limit)| limit),
                    facts,
                }),
                Err(reason) => {
                    let note = Note::promotion(&promo.id, self.id_rank[p as usize], reason);
                    running.notes.push(note);
                }
            }
        }

        // 3. Exclusive groups, in order.
        for (g, (name, policy)) in self.groups.iter().enumerate() {
            let members: Vec<&Candidate<'_>> = candidates
                .iter()
                .filter(|c| !c.facts.points && self.group_of[c.index as usize] == g)
                .collect();
            if !members.is_empty() {
                apply_group(name, *policy, &members, &prep, &mut running)?;
            }
        }

        // 4–6. Tier, points as money, points earned.
        let points_members: Vec<&Candidate<'_>> =
            candidates.iter().filter(|c| c.facts.points).collect();
        let points = finish::points_promotions(&points_members, prep.len());
        Ok(finish::finish(
            &self.ruleset,
            &prep,
            ctx,
            running,
            &points,
            rejected,
            &self.id_rank,
        )?)
    }
}

#[cfg(test)]
pub(crate) mod tests;

#[cfg(test)]
mod golden;
