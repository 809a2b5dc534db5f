//! A basket prepared for pricing: amounts, quantities, floors, a
//! content rank for tie-breaks, the store's local time, and the checks of a
//! promotion's conditions and limits. Shared by the engine and the
//! reference implementation.

use std::cell::OnceCell;
use std::collections::BTreeSet;

use foldhash::HashMap;

use chrono::{Datelike, NaiveDate, NaiveDateTime};

use super::explain::{BlockReason, Condition, Limit};
use super::input::{CustomerStanding, PricingContext};
use crate::basket::Line;
use crate::holdout;
use crate::identity::MonthDay;
use crate::ids::{Category, Sku};
use crate::money::{Money, narrow_bounded, narrow_index, round_down, round_half_up};
use crate::ruleset::{DayWindow, Promotion, Ruleset, Tier, normalize_coupon};

/// A candidate line of a promotion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cand {
    /// The line's index.
    pub line: u32,
    /// Whether the line is in the promotion's target (else it is only a
    /// line of its `free_sku`).
    pub target: bool,
}

/// The basket as the engine works on it.
pub(crate) struct Prepared<'a> {
    pub lines: &'a [Line],
    /// `unit_price × quantity`, per line.
    pub amount: Vec<i64>,
    /// Quantity in thousandths, per line.
    pub qty: Vec<u64>,
    /// Whole units, per line.
    pub units: Vec<u64>,
    /// Position of each line when lines are sorted by content (SKU, price,
    /// quantity, name, category), then input position. Every tie-break
    /// between lines uses it, so results never depend on line order beyond
    /// lines identical in content, which are interchangeable.
    pub rank: Vec<u32>,
    /// The lowest total each line may reach.
    pub floor: Vec<i64>,
    /// Sum of amounts.
    pub subtotal: i64,
    /// Sum of quantities in thousandths.
    pub total_qty: u64,
    /// The store's local date and time, if the zone is known.
    pub local: Option<NaiveDateTime>,
    /// Entered coupon codes, normalised.
    pub coupons: BTreeSet<String>,
    /// The customer.
    pub customer: Option<&'a CustomerStanding>,
    /// The customer's tier.
    pub tier: Option<&'a Tier>,
    /// The SKUs and categories of the lines, built when a promotion
    /// requires products (most do not).
    present: OnceCell<(BTreeSet<&'a Sku>, BTreeSet<&'a Category>)>,
}

impl<'a> Prepared<'a> {
    /// Prepares validated lines (`amounts` are their amounts).
    pub fn new(
        ruleset: &'a Ruleset,
        min_price: &HashMap<Sku, Money>,
        lines: &'a [Line],
        amounts: Vec<i64>,
        customer: Option<&'a CustomerStanding>,
        ctx: &PricingContext,
    ) -> Self {
        let qty: Vec<u64> = lines.iter().map(|l| l.quantity.milli()).collect();
        let units = qty.iter().map(|q| q / 1000).collect();
        // Each line beside the first 16 bytes of its SKU, zero-padded and
        // read big-endian: where two differ, they order the SKUs as their
        // bytes do (a SKU ending there is a prefix of the other, and comes
        // first); only where they are equal is the whole content compared.
        let mut order: Vec<(u128, u32)> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| (sku_prefix(&l.sku), narrow_index(i)))
            .collect();
        // Sorted by prefix, then position; then each run of an equal prefix
        // by the whole content, ties to the input position: a total order,
        // so unstable is exact.
        order.sort_unstable();
        for run in order
            .chunk_by_mut(|a, b| a.0 == b.0)
            .filter(|run| run.len() > 1)
        {
            run.sort_unstable_by(|&(_, a), &(_, b)| {
                let (x, y) = (&lines[a as usize], &lines[b as usize]);
                (&x.sku, x.unit_price, x.quantity, &x.name, &x.category)
                    .cmp(&(&y.sku, y.unit_price, y.quantity, &y.name, &y.category))
                    .then(a.cmp(&b))
            });
        }
        let mut rank = vec![0u32; lines.len()];
        for (r, &(_, i)) in order.iter().enumerate() {
            rank[i as usize] = narrow_index(r);
        }
        let max_line = ruleset.programme.stacking.max_line_discount;
        let floor = lines
            .iter()
            .zip(&amounts)
            .map(|(l, &a)| {
                let by_price = min_price.get(&l.sku).map_or(0, |p| {
                    // Saturates when wide; clamped to the amount below.
                    narrow_bounded(round_half_up(
                        i128::from(p.minor()) * i128::from(l.quantity.milli()),
                        1000,
                    ))
                });
                let by_share = max_line.map_or(0, |bp| {
                    a - narrow_bounded(round_down(i128::from(a) * i128::from(bp.get()), 10_000))
                });
                by_price.max(by_share).clamp(0, a.max(0))
            })
            .collect();
        let local = ctx
            .timezone
            .parse::<chrono_tz::Tz>()
            .ok()
            .map(|tz| ctx.now.with_timezone(&tz).naive_local());
        let tier = customer.and_then(|c| ruleset.tier_for_standing(c));
        Prepared {
            lines,
            subtotal: amounts.iter().sum(),
            total_qty: qty.iter().sum(),
            amount: amounts,
            qty,
            units,
            rank,
            floor,
            local,
            coupons: ctx.coupons.iter().map(|c| normalize_coupon(c)).collect(),
            customer,
            tier,
            present: OnceCell::new(),
        }
    }

    /// The number of lines.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// The SKUs and the categories of the lines.
    fn present(&self) -> &(BTreeSet<&'a Sku>, BTreeSet<&'a Category>) {
        self.present.get_or_init(|| {
            (
                self.lines.iter().map(|l| &l.sku).collect(),
                self.lines
                    .iter()
                    .filter_map(|l| l.category.as_ref())
                    .collect(),
            )
        })
    }

    /// The local date, if known.
    pub fn local_date(&self) -> Option<NaiveDate> {
        self.local.map(|t| t.date())
    }
}

/// The first 16 bytes of a SKU, zero-padded, as a big-endian number.
fn sku_prefix(sku: &Sku) -> u128 {
    let bytes = sku.as_bytes();
    let mut head = [0u8; 16];
    let n = bytes.len().min(head.len());
    head[..n].copy_from_slice(&bytes[..n]);
    u128::from_be_bytes(head)
}

/// Whether the promotion's exclusions take `line` out.
pub(crate) fn excluded(p: &Promotion, line: &Line) -> bool {
    p.exclude.skus.contains(&line.sku)
        || line
            .category
            .as_ref()
            .is_some_and(|c| p.exclude.categories.contains(c))
}

/// Whether the customer's birthday window includes `today`; returns the
/// window's first day.
pub(crate) fn birthday_window_start(
    birthday: MonthDay,
    today: NaiveDate,
    window: DayWindow,
) -> Option<NaiveDate> {
    for year in [today.year() - 1, today.year(), today.year() + 1] {
        let Some(day) = birthday.in_year(year) else {
            continue;
        };
        let start = day - chrono::Days::new(u64::from(window.days_before));
        let end = day + chrono::Days::new(u64::from(window.days_after));
        if start <= today && today <= end {
            return Some(start);
        }
    }
    None
}

/// Whether [`check_eligible`] passes the promotion whatever the basket,
/// customer and context: no period, stores, conditions, holdout or limits
/// that it checks. The engine marks these once, so the check of most candidates
/// reads no more of the promotion than a flag.
pub(crate) fn always_eligible(p: &Promotion) -> bool {
    p.starts_at.is_none()
        && p.ends_at.is_none()
        && p.stores.is_empty()
        && p.holdout.is_none()
        && *p.conditions == crate::ruleset::Conditions::default()
        && p.limits.per_customer.is_none()
        && p.limits.total_uses.is_none()
        && p.limits.budget.is_none()
}

/// Checks a promotion's period, place, schedule, basket conditions,
/// segment, holdout and limits. `targets` are its target lines. On success returns
/// the money it may still give, if it has a budget, with the limit that
/// money comes from (the budget, or the register's lease of it).
pub(crate) fn check_eligible(
    p: &Promotion,
    prep: &Prepared<'_>,
    ctx: &PricingContext,
    targets: impl Iterator<Item = u32>,
) -> Result<Option<(i64, Limit)>, BlockReason> {
    let unmet = |condition| Err(BlockReason::ConditionNotMet { condition });
    if !(p.starts_at.is_none_or(|s| ctx.now >= s) && p.ends_at.is_none_or(|e| ctx.now < e)) {
        return unmet(Condition::Period);
    }
    if !p.stores.is_empty() && !p.stores.contains(&ctx.store) {
        return unmet(Condition::Store);
    }
    let c = &p.conditions;
    if !c.brands.is_empty() && !ctx.brand.is_some_and(|b| c.brands.contains(&b)) {
        return unmet(Condition::Brand);
    }
    if !c.schedule.is_always() {
        let Some(local) = prep.local else {
            return unmet(Condition::TimeZone);
        };
        let s = &c.schedule;
        let date = local.date();
        if s.from_date.is_some_and(|d| date < d) || s.to_date.is_some_and(|d| date > d) {
            return unmet(Condition::LocalDate);
        }
        if !s.weekdays.is_empty() && !s.weekdays.contains(&date.weekday()) {
            return unmet(Condition::Weekday);
        }
        if !s.hours.is_empty() && !s.hours.iter().any(|h| h.contains(local.time())) {
            return unmet(Condition::Hours);
        }
    }
    if c.min_basket_amount
        .is_some_and(|m| prep.subtotal < m.minor())
    {
        return unmet(Condition::MinBasketAmount);
    }
    if c.min_basket_quantity
        .is_some_and(|q| prep.total_qty < q.milli())
    {
        return unmet(Condition::MinBasketQuantity);
    }
    if let Some(q) = c.min_target_quantity {
        let units: u64 = targets.map(|i| prep.qty[i as usize]).sum();
        if units < q.milli() {
            return unmet(Condition::MinTargetQuantity);
        }
    }
    if (!c.requires_skus.is_empty() || !c.requires_categories.is_empty())
        && !c.requires_skus.iter().any(|s| prep.present().0.contains(s))
        && !c
            .requires_categories
            .iter()
            .any(|cat| prep.present().1.contains(cat))
    {
        return unmet(Condition::RequiredItems);
    }
    let seg = &c.segment;
    let needs_customer = !seg.is_anyone() || p.limits.per_customer.is_some();
    let customer = prep.customer;
    if needs_customer && customer.is_none() {
        return unmet(Condition::Customer);
    }
    if let Some(cust) = customer.filter(|_| !seg.is_anyone()) {
        if !seg.tiers.is_empty() && !prep.tier.is_some_and(|t| seg.tiers.contains(&t.name)) {
            return unmet(Condition::Tier);
        }
        if !seg.genders.is_empty() && !seg.genders.contains(&cust.gender) {
            return unmet(Condition::Gender);
        }
        if seg.min_age.is_some() || seg.max_age.is_some() {
            let age = prep.local_date().and_then(|d| cust.age_on(d));
            let ok = age.is_some_and(|a| {
                seg.min_age.is_none_or(|m| a >= m) && seg.max_age.is_none_or(|m| a <= m)
            });
            if !ok {
                return unmet(Condition::Age);
            }
        }
        if let Some(window) = seg.birthday {
            let within = cust
                .birthday
                .zip(prep.local_date())
                .and_then(|(b, d)| birthday_window_start(b, d, window));
            if within.is_none() {
                return unmet(Condition::Birthday);
            }
        }
        if seg.new_customer && cust.purchases != Some(0) {
            return unmet(Condition::NewCustomer);
        }
        if !seg.tags.is_empty() && !seg.tags.iter().any(|t| cust.tags.contains(t)) {
            return unmet(Condition::Tags);
        }
    }
    // Last of the conditions, so a held-out customer is told so only when
    // nothing else kept the promotion away. Anonymous checks have no
    // holdout: the split is of identified customers.
    if let (Some(share), Some(id)) = (p.holdout, ctx.customer)
        && holdout::is_held_out(id, &p.id, share)
    {
        return unmet(Condition::HeldOut);
    }
    let limit = |limit| Err(BlockReason::LimitReached { limit });
    if p.limits.per_customer.is_none() && p.limits.total_uses.is_none() && p.limits.budget.is_none()
    {
        return Ok(None);
    }
    let usage = ctx.usage.promotions.get(&p.id);
    let lease = usage.and_then(|u| u.leased);
    if let Some(max) = p.limits.per_customer
        && usage.is_some_and(|u| u.customer_uses >= u64::from(max))
    {
        return limit(Limit::PerCustomer);
    }
    if let Some(max) = p.limits.total_uses {
        match lease {
            Some(lease) if lease.uses == 0 => return limit(Limit::LeasedUses),
            Some(_) => {}
            None if usage.is_some_and(|u| u.uses >= max) => return limit(Limit::TotalUses),
            None => {}
        }
    }
    let Some(budget) = p.limits.budget else {
        return Ok(None);
    };
    let (left, source) = match lease {
        Some(lease) => (lease.budget.minor(), Limit::LeasedBudget),
        None => (
            budget.minor() - usage.map_or(0, |u| u.spent.minor()),
            Limit::Budget,
        ),
    };
    if left <= 0 {
        return limit(source);
    }
    Ok(Some((left, source)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Where the prefixes of two SKUs differ they order the SKUs as
        /// the SKUs themselves order.
        #[test]
        fn sku_prefixes_order_as_the_skus(
            a in "[a-c0-1ё-]{1,20}",
            b in "[a-c0-1ё-]{1,20}",
        ) {
            let (a, b) = (Sku::parse(a).expect("sku"), Sku::parse(b).expect("sku"));
            let (pa, pb) = (sku_prefix(&a), sku_prefix(&b));
            if pa != pb {
                prop_assert_eq!(pa.cmp(&pb), a.cmp(&b));
            }
        }
    }
}
