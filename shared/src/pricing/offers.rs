//! What a promotion's reward gives on the lines still available to it: an
//! [`Offer`] of per-line discounts, already cut to the floors and to the
//! promotion's budget.
//!
//! Units are whole units of a line (a weighed line of 1.5 kg holds one).
//! The value of `m` units of a line is `m/quantity` of its current total,
//! rounded down, so all units of a line are worth exactly its total.
//! Cheaper and dearer compare units by that value; ties go to the line's
//! content rank.

use std::cmp::Ordering;

use super::allocation::allocate;
use super::finish::narrow;
use super::prepared::{Cand, Prepared};
use crate::money::{AmountError, round_down, round_half_up};
use crate::ruleset::{Apply, Promotion, Reward};

/// Discounts a promotion offers on some lines.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Offer {
    /// `(line, discount)`, discounts above zero, by line index.
    pub parts: Vec<(u32, i64)>,
    /// Lines it uses (its exclusive group cannot give them another
    /// discount), by line index.
    pub claimed: Vec<u32>,
    /// Lines whose loss to another offer could change this one, by line
    /// index: every line it counts (units bought, given, discounted or put
    /// in a set, lines of a set total, lines with a discount). Taking any
    /// other line leaves it exactly as it is.
    pub depends: Vec<u32>,
    /// What it would give without floors and budget.
    pub raw: i64,
    /// What the floors kept back.
    pub floor_cut: i64,
    /// Whether the per-check limit cut it short.
    pub per_check_cut: bool,
    /// Whether the budget cut it short.
    pub budget_cut: bool,
}

impl Offer {
    /// What it gives.
    pub fn value(&self) -> i64 {
        self.parts.iter().map(|&(_, d)| d).sum()
    }
}

/// Whether the reward is priced line by line independently, so each line's
/// discount is its own offer: a percentage or amount off each line, or a
/// special price, without a per-check limit or a budget that would tie the
/// lines together.
pub(crate) fn is_per_line(p: &Promotion) -> bool {
    let per_line_reward = matches!(
        p.reward,
        Reward::PercentOff {
            apply: Apply::Each,
            ..
        } | Reward::AmountOff {
            apply: Apply::Each,
            ..
        } | Reward::SpecialPrice { .. }
    );
    per_line_reward && p.limits.per_check.is_none() && p.limits.budget.is_none()
}

/// Whether the promotion's offer can only lose value when lines are taken
/// from it: a percentage or amount off a set (its base and its room only
/// shrink), or a per-line reward whose lines are tied only by a budget.
/// Buy X get Y, bundles, N-th item and per-check limits can gain (a cheaper
/// unit gone, a set fewer, a line under its floor gone).
pub(crate) fn only_loses(p: &Promotion) -> bool {
    match p.reward {
        Reward::PercentOff {
            apply: Apply::Total,
            ..
        }
        | Reward::AmountOff {
            apply: Apply::Total,
            ..
        } => true,
        Reward::PercentOff { .. } | Reward::AmountOff { .. } | Reward::SpecialPrice { .. } => {
            p.limits.per_check.is_none()
        }
        _ => false,
    }
}

/// What a per-line reward takes off the whole of line `i` at its current
/// total `cur`, before floors. Zero for other rewards.
///
/// An error outside the money range (never on a validated basket: it is at
/// most `cur`).
pub(crate) fn line_full(
    reward: &Reward,
    prep: &Prepared<'_>,
    i: usize,
    cur: i64,
) -> Result<i64, AmountError> {
    let qty = i128::from(prep.qty[i]);
    match reward {
        Reward::PercentOff { percent, .. } => narrow(round_down(
            i128::from(cur) * i128::from(percent.get()),
            10_000,
        )),
        Reward::AmountOff { amount, .. } => {
            let off = round_down(i128::from(amount.minor()) * qty, 1000);
            narrow(off.min(i128::from(cur)))
        }
        Reward::SpecialPrice { unit_price } => {
            let target = round_half_up(i128::from(unit_price.minor()) * qty, 1000);
            narrow((i128::from(cur) - target).max(0))
        }
        _ => Ok(0),
    }
}

/// The value of `m` whole units of line `i` at `percent`/10000 of it.
/// At most the line's current total (`m` units of its quantity); an error
/// outside the money range.
pub(crate) fn units_value(
    prep: &Prepared<'_>,
    cur: &[i64],
    i: usize,
    m: u64,
    bp: u32,
) -> Result<i64, AmountError> {
    narrow(round_down(
        i128::from(cur[i]) * i128::from(m) * 1000 * i128::from(bp),
        i128::from(prep.qty[i]) * 10_000,
    ))
}

/// Orders lines by the current value of one unit, cheapest first, then by
/// content rank.
pub(crate) fn cheaper(prep: &Prepared<'_>, cur: &[i64], a: u32, b: u32) -> Ordering {
    let (a, b) = (a as usize, b as usize);
    (i128::from(cur[a]) * i128::from(prep.qty[b]))
        .cmp(&(i128::from(cur[b]) * i128::from(prep.qty[a])))
        .then(prep.rank[a].cmp(&prep.rank[b]))
}

/// Orders lines by the current value of one unit, dearest first, then by
/// content rank.
pub(crate) fn dearer(prep: &Prepared<'_>, cur: &[i64], a: u32, b: u32) -> Ordering {
    let (ai, bi) = (a as usize, b as usize);
    (i128::from(cur[bi]) * i128::from(prep.qty[ai]))
        .cmp(&(i128::from(cur[ai]) * i128::from(prep.qty[bi])))
        .then(prep.rank[ai].cmp(&prep.rank[bi]))
}

/// Evaluates a promotion's discount reward on the available candidate
/// lines `avail` (by line index) at the current totals `cur`.
pub(crate) fn evaluate(
    p: &Promotion,
    prep: &Prepared<'_>,
    cur: &[i64],
    avail: &[Cand],
    budget_left: Option<i64>,
) -> Result<Offer, AmountError> {
    let per_check = p.limits.per_check.map(u64::from);
    let targets = || avail.iter().filter(|c| c.target).map(|c| c.line);
    let mut offer = match &p.reward {
        Reward::PercentOff {
            percent,
            apply: Apply::Total,
        } => {
            let base: i64 = targets().map(|i| cur[i as usize]).sum();
            let raw = narrow(round_down(
                i128::from(base) * i128::from(percent.get()),
                10_000,
            ))?;
            spread(prep, cur, targets().collect(), raw)
        }
        Reward::AmountOff {
            amount,
            apply: Apply::Total,
        } => {
            let base: i64 = targets().map(|i| cur[i as usize]).sum();
            spread(prep, cur, targets().collect(), amount.minor().min(base))
        }
        Reward::PercentOff { .. } | Reward::AmountOff { .. } | Reward::SpecialPrice { .. } => {
            each(p, prep, cur, targets(), per_check)?
        }
        Reward::BuyXGetY {
            buy,
            get,
            free_sku,
            percent,
        } => {
            let (buy, get) = (u64::from(*buy), u64::from(*get));
            match free_sku {
                None => cheapest_free(prep, cur, targets(), buy, get, percent.get(), per_check)?,
                Some(sku) => {
                    let free = avail
                        .iter()
                        .filter(|c| &prep.lines[c.line as usize].sku == sku)
                        .map(|c| c.line);
                    let buying = targets().filter(|&i| &prep.lines[i as usize].sku != sku);
                    sku_free(prep, cur, buying, free, buy, get, percent.get(), per_check)?
                }
            }
        }
        Reward::NthItem { n, percent } => nth_item(
            prep,
            cur,
            targets(),
            u64::from(*n),
            percent.get(),
            per_check,
        )?,
        Reward::Bundle { items, price } => {
            let mut pools = Vec::with_capacity(items.len());
            for item in items {
                let pool: Vec<u32> = targets()
                    .filter(|&i| prep.lines[i as usize].sku == item.sku)
                    .collect();
                pools.push((pool, u64::from(item.quantity)));
            }
            bundle(prep, cur, pools, price.minor(), per_check)?
        }
        Reward::PointsMultiplier { .. } | Reward::ExtraPoints { .. } => Offer::default(),
    };
    cap_budget(prep, &mut offer, budget_left);
    Ok(offer)
}

/// Cuts per-line raw discounts to the floors.
fn floored(prep: &Prepared<'_>, cur: &[i64], raw: Vec<(u32, i64)>) -> Offer {
    let mut offer = Offer {
        claimed: Vec::with_capacity(raw.len()),
        depends: Vec::with_capacity(raw.len()),
        parts: Vec::with_capacity(raw.len()),
        ..Offer::default()
    };
    for (i, r) in raw {
        if r <= 0 {
            continue;
        }
        let room = cur[i as usize] - prep.floor[i as usize];
        let d = r.min(room).max(0);
        offer.raw += r;
        offer.floor_cut += r - d;
        offer.claimed.push(i);
        offer.depends.push(i);
        if d > 0 {
            offer.parts.push((i, d));
        }
    }
    offer
}

/// One amount spread over `lines` in proportion to their room above the
/// floors; the lines are all claimed.
fn spread(prep: &Prepared<'_>, cur: &[i64], lines: Vec<u32>, raw: i64) -> Offer {
    let rooms: Vec<i64> = lines
        .iter()
        .map(|&i| cur[i as usize] - prep.floor[i as usize])
        .collect();
    weighted(prep, lines.clone(), rooms, raw.max(0), lines)
}

/// `raw` spread over `lines` by `weights` (each a cap), largest remainder.
fn weighted(
    prep: &Prepared<'_>,
    lines: Vec<u32>,
    weights: Vec<i64>,
    raw: i64,
    claimed: Vec<u32>,
) -> Offer {
    let room: i64 = weights.iter().sum();
    let given = raw.min(room);
    let keys: Vec<u32> = lines.iter().map(|&i| prep.rank[i as usize]).collect();
    let parts = allocate(given, &weights, &keys);
    Offer {
        depends: lines.clone(),
        parts: lines
            .into_iter()
            .zip(parts)
            .filter(|&(_, d)| d > 0)
            .collect(),
        claimed,
        raw,
        floor_cut: raw - given,
        ..Offer::default()
    }
}

/// Spreads the remaining budget over the offer's parts when it gives more.
fn cap_budget(prep: &Prepared<'_>, offer: &mut Offer, budget_left: Option<i64>) {
    let Some(left) = budget_left else { return };
    let value = offer.value();
    if value <= left {
        return;
    }
    let weights: Vec<i64> = offer.parts.iter().map(|&(_, d)| d).collect();
    let keys: Vec<u32> = offer
        .parts
        .iter()
        .map(|&(i, _)| prep.rank[i as usize])
        .collect();
    let parts = allocate(left.max(0), &weights, &keys);
    offer.parts = offer
        .parts
        .iter()
        .zip(parts)
        .map(|(&(i, _), d)| (i, d))
        .filter(|&(_, d)| d > 0)
        .collect();
    offer.budget_cut = true;
}

/// A per-line reward, optionally limited to `per_check` units (the lines
/// with the largest discount per unit first).
fn each(
    p: &Promotion,
    prep: &Prepared<'_>,
    cur: &[i64],
    targets: impl Iterator<Item = u32>,
    per_check: Option<u64>,
) -> Result<Offer, AmountError> {
    let mut raw: Vec<(u32, i64)> = targets
        .map(|i| line_full(&p.reward, prep, i as usize, cur[i as usize]).map(|d| (i, d)))
        .collect::<Result<_, _>>()?;
    raw.retain(|&(_, d)| d > 0);
    let mut cut = false;
    let mut covered: Option<Vec<u32>> = None;
    if let Some(n) = per_check {
        // Largest discount per unit first: d_a/q_a > d_b/q_b.
        raw.sort_by(|&(a, da), &(b, db)| {
            let (qa, qb) = (prep.qty[a as usize], prep.qty[b as usize]);
            (i128::from(db) * i128::from(qa))
                .cmp(&(i128::from(da) * i128::from(qb)))
                .then(prep.rank[a as usize].cmp(&prep.rank[b as usize]))
        });
        let mut left = n.saturating_mul(1000);
        for (i, d) in &mut raw {
            let q = prep.qty[*i as usize];
            let m = q.min(left);
            left -= m;
            if m < q {
                cut = true;
                *d = narrow(round_down(i128::from(*d) * i128::from(m), i128::from(q)))?;
            }
        }
        raw.sort_by_key(|&(i, _)| i);
        // Every line with a discount counts: one given no units still makes
        // the limit cut the offer short.
        covered = Some(raw.iter().map(|&(i, _)| i).collect());
    }
    let mut offer = floored(prep, cur, raw);
    if let Some(covered) = covered {
        offer.depends = covered;
    }
    offer.per_check_cut = cut;
    Ok(offer)
}

/// The number of sets the basket allows, capped by the per-check limit.
fn sets(possible: u64, per_check: Option<u64>) -> (u64, bool) {
    match per_check {
        Some(n) if n < possible => (n, true),
        _ => (possible, false),
    }
}

/// Buy `buy` get `get`: the cheapest `sets × get` units are discounted,
/// the dearest `sets × buy` units are the ones bought.
fn cheapest_free(
    prep: &Prepared<'_>,
    cur: &[i64],
    targets: impl Iterator<Item = u32>,
    buy: u64,
    get: u64,
    bp: u32,
    per_check: Option<u64>,
) -> Result<Offer, AmountError> {
    let mut pool: Vec<u32> = targets.filter(|&i| prep.units[i as usize] > 0).collect();
    let total: u64 = pool.iter().map(|&i| prep.units[i as usize]).sum();
    let (k, cut) = sets(total / (buy + get), per_check);
    pool.sort_by(|&a, &b| cheaper(prep, cur, a, b));
    let mut free = vec![0u64; pool.len()];
    let mut left = k * get;
    for (slot, &i) in pool.iter().enumerate() {
        let m = prep.units[i as usize].min(left);
        free[slot] = m;
        left -= m;
    }
    let mut bought = vec![0u64; pool.len()];
    let mut left = k * buy;
    for (slot, &i) in pool.iter().enumerate().rev() {
        let m = (prep.units[i as usize] - free[slot]).min(left);
        bought[slot] = m;
        left -= m;
    }
    let raw = pool
        .iter()
        .zip(&free)
        .map(|(&i, &m)| units_value(prep, cur, i as usize, m, bp).map(|v| (i, v)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut used: Vec<u32> = pool
        .iter()
        .enumerate()
        .filter(|&(slot, _)| free[slot] + bought[slot] > 0)
        .map(|(_, &i)| i)
        .collect();
    used.sort_unstable();
    Ok(finish_units(prep, cur, raw, used, cut, &pool))
}

/// Buy `buy` targeted units (other than `free_sku`), get `get` units of
/// `free_sku`: the cheapest of those are discounted.
#[allow(clippy::too_many_arguments)]
fn sku_free(
    prep: &Prepared<'_>,
    cur: &[i64],
    buying: impl Iterator<Item = u32>,
    free: impl Iterator<Item = u32>,
    buy: u64,
    get: u64,
    bp: u32,
    per_check: Option<u64>,
) -> Result<Offer, AmountError> {
    let mut buy_pool: Vec<u32> = buying.filter(|&i| prep.units[i as usize] > 0).collect();
    let mut free_pool: Vec<u32> = free.filter(|&i| prep.units[i as usize] > 0).collect();
    let ub: u64 = buy_pool.iter().map(|&i| prep.units[i as usize]).sum();
    let uf: u64 = free_pool.iter().map(|&i| prep.units[i as usize]).sum();
    let (k, cut) = sets((ub / buy).min(uf / get), per_check);
    free_pool.sort_by(|&a, &b| cheaper(prep, cur, a, b));
    buy_pool.sort_by(|&a, &b| dearer(prep, cur, a, b));
    let mut raw = Vec::new();
    let mut used = Vec::new();
    let mut left = k * get;
    for &i in &free_pool {
        let m = prep.units[i as usize].min(left);
        left -= m;
        if m > 0 {
            used.push(i);
            raw.push((i, units_value(prep, cur, i as usize, m, bp)?));
        }
    }
    let mut left = k * buy;
    for &i in &buy_pool {
        let m = prep.units[i as usize].min(left);
        left -= m;
        if m > 0 {
            used.push(i);
        }
    }
    used.sort_unstable();
    raw.sort_unstable_by_key(|&(i, _)| i);
    Ok(finish_units(
        prep,
        cur,
        raw,
        used,
        cut,
        &[buy_pool, free_pool].concat(),
    ))
}

/// Every `n`-th unit counting from the dearest at `bp` off.
fn nth_item(
    prep: &Prepared<'_>,
    cur: &[i64],
    targets: impl Iterator<Item = u32>,
    n: u64,
    bp: u32,
    per_check: Option<u64>,
) -> Result<Offer, AmountError> {
    let mut pool: Vec<u32> = targets.filter(|&i| prep.units[i as usize] > 0).collect();
    let total: u64 = pool.iter().map(|&i| prep.units[i as usize]).sum();
    let (k, cut) = sets(total / n, per_check);
    let reach = k * n;
    pool.sort_by(|&a, &b| dearer(prep, cur, a, b));
    let mut raw = Vec::new();
    let mut used = Vec::new();
    let mut start = 0u64;
    for &i in &pool {
        let end = start + prep.units[i as usize];
        if start < reach {
            used.push(i);
            let m = end.min(reach) / n - start.min(reach) / n;
            raw.push((i, units_value(prep, cur, i as usize, m, bp)?));
        }
        start = end;
    }
    used.sort_unstable();
    raw.sort_unstable_by_key(|&(i, _)| i);
    Ok(finish_units(prep, cur, raw, used, cut, &pool))
}

/// A unit reward's offer. It depends on the lines whose units it uses, or,
/// when the per-check limit cut it short, on every line of its `pool` (one
/// fewer could lift the cut).
fn finish_units(
    prep: &Prepared<'_>,
    cur: &[i64],
    raw: Vec<(u32, i64)>,
    used: Vec<u32>,
    cut: bool,
    pool: &[u32],
) -> Offer {
    let mut raw = raw;
    raw.sort_unstable_by_key(|&(i, _)| i);
    let mut offer = floored(prep, cur, raw);
    offer.claimed = if offer.raw > 0 {
        used.clone()
    } else {
        Vec::new()
    };
    offer.depends = if cut {
        let mut all = pool.to_vec();
        all.sort_unstable();
        all
    } else {
        used
    };
    offer.per_check_cut = cut;
    offer
}

/// Bundles: each item's pool of lines and units per set; the dearest units
/// go into sets, which cost `price` each.
fn bundle(
    prep: &Prepared<'_>,
    cur: &[i64],
    pools: Vec<(Vec<u32>, u64)>,
    price: i64,
    per_check: Option<u64>,
) -> Result<Offer, AmountError> {
    let possible = pools
        .iter()
        .map(|(pool, q)| pool.iter().map(|&i| prep.units[i as usize]).sum::<u64>() / q)
        .min()
        .unwrap_or(0);
    let (k, cut) = sets(possible, per_check);
    let every: Vec<u32> = pools
        .iter()
        .flat_map(|(pool, _)| pool.iter().copied())
        .collect();
    let mut taken: Vec<(u32, i64)> = Vec::new();
    for (mut pool, q) in pools {
        pool.sort_by(|&a, &b| dearer(prep, cur, a, b));
        let mut left = k * q;
        for i in pool {
            let m = prep.units[i as usize].min(left);
            left -= m;
            if m > 0 {
                taken.push((i, units_value(prep, cur, i as usize, m, 10_000)?));
            }
        }
    }
    taken.sort_unstable_by_key(|&(i, _)| i);
    let value: i128 = taken.iter().map(|&(_, v)| i128::from(v)).sum();
    // At most the value of the lines taken, a part of the subtotal.
    let raw = narrow((value - i128::from(k) * i128::from(price)).max(0))?;
    let depends = if cut {
        let mut every = every;
        every.sort_unstable();
        every
    } else {
        taken.iter().map(|&(i, _)| i).collect()
    };
    if raw == 0 {
        return Ok(Offer {
            depends,
            per_check_cut: cut,
            ..Offer::default()
        });
    }
    let lines: Vec<u32> = taken.iter().map(|&(i, _)| i).collect();
    let weights: Vec<i64> = taken
        .iter()
        .map(|&(i, v)| v.min(cur[i as usize] - prep.floor[i as usize]).max(0))
        .collect();
    let mut offer = weighted(prep, lines.clone(), weights, raw, lines);
    offer.depends = depends;
    offer.per_check_cut = cut;
    Ok(offer)
}
