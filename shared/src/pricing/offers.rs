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

use super::allocation::allocate_into;
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
    /// What it gives, when its `parts` were left out ([`Detail::Figures`]):
    /// evaluate it again with [`Detail::Parts`] to apply it.
    pub deferred: Option<i64>,
}

impl Offer {
    /// What it gives.
    pub fn value(&self) -> i64 {
        self.deferred
            .unwrap_or_else(|| self.parts.iter().map(|&(_, d)| d).sum())
    }
}

/// How much of an offer [`evaluate_into`] works out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Detail {
    /// Everything, its per-line `parts` included.
    Parts,
    /// Everything but the `parts` when they take a largest-remainder
    /// spreading (an amount or percentage off a set, a budget cutting an
    /// offer short), whose sum is known without it: enough to rank the
    /// offer and explain it. The greedy loop spreads only the offers it
    /// applies.
    Figures,
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

/// Buffers reused by the evaluations of one check, so re-evaluating an
/// offer in the greedy loop allocates nothing once they have grown.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    lines: Vec<u32>,
    weights: Vec<i64>,
    keys: Vec<u32>,
    parts: Vec<i64>,
    remainders: Vec<(u128, usize)>,
    raw: Vec<(u32, i64)>,
    used: Vec<u32>,
    pool: Vec<u32>,
    pool2: Vec<u32>,
    free: Vec<u64>,
    bought: Vec<u64>,
}

impl Offer {
    /// Empties the offer, keeping its buffers.
    fn reset(&mut self) {
        self.parts.clear();
        self.claimed.clear();
        self.depends.clear();
        self.raw = 0;
        self.floor_cut = 0;
        self.per_check_cut = false;
        self.budget_cut = false;
        self.deferred = None;
    }
}

/// Evaluates a promotion's discount reward on the available candidate
/// lines `avail` (by line index) at the current totals `cur`, into `out`,
/// reusing its buffers and `s`'s, in `detail`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn evaluate_into(
    p: &Promotion,
    prep: &Prepared<'_>,
    cur: &[i64],
    avail: &[Cand],
    budget_left: Option<i64>,
    detail: Detail,
    s: &mut Scratch,
    out: &mut Offer,
) -> Result<(), AmountError> {
    out.reset();
    let per_check = p.limits.per_check.map(u64::from);
    let targets = || avail.iter().filter(|c| c.target).map(|c| c.line);
    match &p.reward {
        Reward::PercentOff {
            percent,
            apply: Apply::Total,
        } => {
            let base: i64 = targets().map(|i| cur[i as usize]).sum();
            let raw = narrow(round_down(
                i128::from(base) * i128::from(percent.get()),
                10_000,
            ))?;
            spread(prep, cur, targets(), raw, detail, s, out);
        }
        Reward::AmountOff {
            amount,
            apply: Apply::Total,
        } => {
            let base: i64 = targets().map(|i| cur[i as usize]).sum();
            spread(
                prep,
                cur,
                targets(),
                amount.minor().min(base),
                detail,
                s,
                out,
            );
        }
        Reward::PercentOff { .. } | Reward::AmountOff { .. } | Reward::SpecialPrice { .. } => {
            each(p, prep, cur, targets(), per_check, s, out)?;
        }
        Reward::BuyXGetY {
            buy,
            get,
            free_sku,
            percent,
        } => {
            let (buy, get) = (u64::from(*buy), u64::from(*get));
            match free_sku {
                None => cheapest_free(
                    prep,
                    cur,
                    targets(),
                    (buy, get, percent.get()),
                    per_check,
                    s,
                    out,
                )?,
                Some(sku) => {
                    let free = avail
                        .iter()
                        .filter(|c| &prep.lines[c.line as usize].sku == sku)
                        .map(|c| c.line);
                    let buying = targets().filter(|&i| &prep.lines[i as usize].sku != sku);
                    sku_free(
                        prep,
                        cur,
                        (buying, free),
                        (buy, get, percent.get()),
                        per_check,
                        s,
                        out,
                    )?;
                }
            }
        }
        Reward::NthItem { n, percent } => nth_item(
            prep,
            cur,
            targets(),
            (u64::from(*n), percent.get()),
            per_check,
            s,
            out,
        )?,
        Reward::Bundle { items, price } => {
            let mut pools = Vec::with_capacity(items.len());
            for item in items {
                let pool: Vec<u32> = targets()
                    .filter(|&i| prep.lines[i as usize].sku == item.sku)
                    .collect();
                pools.push((pool, u64::from(item.quantity)));
            }
            *out = bundle(prep, cur, pools, price.minor(), per_check)?;
        }
        Reward::PointsMultiplier { .. } | Reward::ExtraPoints { .. } => {}
    }
    cap_budget(prep, out, budget_left, detail, s);
    Ok(())
}

/// Cuts per-line raw discounts to the floors, into `out` (emptied).
fn floored(prep: &Prepared<'_>, cur: &[i64], raw: &[(u32, i64)], out: &mut Offer) {
    for &(i, r) in raw {
        if r <= 0 {
            continue;
        }
        let room = cur[i as usize] - prep.floor[i as usize];
        let d = r.min(room).max(0);
        out.raw += r;
        out.floor_cut += r - d;
        out.claimed.push(i);
        out.depends.push(i);
        if d > 0 {
            out.parts.push((i, d));
        }
    }
}

/// One amount spread over `lines` in proportion to their room above the
/// floors; the lines are all claimed.
fn spread(
    prep: &Prepared<'_>,
    cur: &[i64],
    lines: impl Iterator<Item = u32>,
    raw: i64,
    detail: Detail,
    s: &mut Scratch,
    out: &mut Offer,
) {
    s.lines.clear();
    s.lines.extend(lines);
    s.weights.clear();
    s.weights.extend(
        s.lines
            .iter()
            .map(|&i| cur[i as usize] - prep.floor[i as usize]),
    );
    weighted(prep, raw.max(0), detail, s, out);
}

/// `raw` spread over `s.lines` by `s.weights` (each a cap), largest
/// remainder; the lines are all claimed, and all counted. The parts sum to
/// what is given (at most the room, which is positive when anything is
/// given), so [`Detail::Figures`] leaves them out.
fn weighted(prep: &Prepared<'_>, raw: i64, detail: Detail, s: &mut Scratch, out: &mut Offer) {
    let room: i64 = s.weights.iter().sum();
    let given = raw.min(room);
    if let [line] = s.lines[..] {
        // One line takes it all, as the allocation would give it.
        out.depends.push(line);
        out.claimed.push(line);
        if given > 0 {
            out.parts.push((line, given));
        }
        out.raw = raw;
        out.floor_cut = raw - given;
        return;
    }
    if detail == Detail::Figures {
        out.depends.extend_from_slice(&s.lines);
        out.claimed.extend_from_slice(&s.lines);
        out.raw = raw;
        out.floor_cut = raw - given;
        out.deferred = Some(given.max(0));
        return;
    }
    s.keys.clear();
    s.keys
        .extend(s.lines.iter().map(|&i| prep.rank[i as usize]));
    allocate_into(given, &s.weights, &s.keys, &mut s.parts, &mut s.remainders);
    out.depends.extend_from_slice(&s.lines);
    out.claimed.extend_from_slice(&s.lines);
    out.parts.extend(
        s.lines
            .iter()
            .zip(&s.parts)
            .filter(|&(_, &d)| d > 0)
            .map(|(&i, &d)| (i, d)),
    );
    out.raw = raw;
    out.floor_cut = raw - given;
}

/// Spreads the remaining budget over the offer's parts when it gives more.
/// The parts then sum to what is left (they are all positive), so
/// [`Detail::Figures`] leaves them out.
fn cap_budget(
    prep: &Prepared<'_>,
    offer: &mut Offer,
    budget_left: Option<i64>,
    detail: Detail,
    s: &mut Scratch,
) {
    let Some(left) = budget_left else { return };
    let value = offer.value();
    if value <= left {
        return;
    }
    if detail == Detail::Figures {
        offer.deferred = Some(left.max(0));
        offer.budget_cut = true;
        return;
    }
    s.weights.clear();
    s.weights.extend(offer.parts.iter().map(|&(_, d)| d));
    s.keys.clear();
    s.keys
        .extend(offer.parts.iter().map(|&(i, _)| prep.rank[i as usize]));
    allocate_into(
        left.max(0),
        &s.weights,
        &s.keys,
        &mut s.parts,
        &mut s.remainders,
    );
    let mut kept = 0;
    for j in 0..offer.parts.len() {
        let d = s.parts[j];
        if d > 0 {
            offer.parts[kept] = (offer.parts[j].0, d);
            kept += 1;
        }
    }
    offer.parts.truncate(kept);
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
    s: &mut Scratch,
    out: &mut Offer,
) -> Result<(), AmountError> {
    let raw = &mut s.raw;
    raw.clear();
    for i in targets {
        let d = line_full(&p.reward, prep, i as usize, cur[i as usize])?;
        if d > 0 {
            raw.push((i, d));
        }
    }
    let mut cut = false;
    if let Some(n) = per_check {
        // Largest discount per unit first: d_a/q_a > d_b/q_b.
        raw.sort_by(|&(a, da), &(b, db)| {
            let (qa, qb) = (prep.qty[a as usize], prep.qty[b as usize]);
            (i128::from(db) * i128::from(qa))
                .cmp(&(i128::from(da) * i128::from(qb)))
                .then(prep.rank[a as usize].cmp(&prep.rank[b as usize]))
        });
        let mut left = n.saturating_mul(1000);
        for (i, d) in raw.iter_mut() {
            let q = prep.qty[*i as usize];
            let m = q.min(left);
            left -= m;
            if m < q {
                cut = true;
                *d = narrow(round_down(i128::from(*d) * i128::from(m), i128::from(q)))?;
            }
        }
        raw.sort_by_key(|&(i, _)| i);
    }
    floored(prep, cur, raw, out);
    if per_check.is_some() {
        // Every line with a discount counts: one given no units still makes
        // the limit cut the offer short.
        out.depends.clear();
        out.depends.extend(raw.iter().map(|&(i, _)| i));
    }
    out.per_check_cut = cut;
    Ok(())
}

/// The number of sets the basket allows, capped by the per-check limit.
fn sets(possible: u64, per_check: Option<u64>) -> (u64, bool) {
    match per_check {
        Some(n) if n < possible => (n, true),
        _ => (possible, false),
    }
}

/// Buy `buy` get `get` (`(buy, get, bp)`): the cheapest `sets × get` units
/// are discounted at `bp`, the dearest `sets × buy` units are the ones
/// bought.
fn cheapest_free(
    prep: &Prepared<'_>,
    cur: &[i64],
    targets: impl Iterator<Item = u32>,
    (buy, get, bp): (u64, u64, u32),
    per_check: Option<u64>,
    s: &mut Scratch,
    out: &mut Offer,
) -> Result<(), AmountError> {
    let pool = &mut s.pool;
    pool.clear();
    pool.extend(targets.filter(|&i| prep.units[i as usize] > 0));
    let total: u64 = pool.iter().map(|&i| prep.units[i as usize]).sum();
    let (k, cut) = sets(total / (buy + get), per_check);
    pool.sort_by(|&a, &b| cheaper(prep, cur, a, b));
    let free = &mut s.free;
    free.clear();
    free.resize(pool.len(), 0);
    let mut left = k * get;
    for (slot, &i) in pool.iter().enumerate() {
        let m = prep.units[i as usize].min(left);
        free[slot] = m;
        left -= m;
    }
    let bought = &mut s.bought;
    bought.clear();
    bought.resize(pool.len(), 0);
    let mut left = k * buy;
    for (slot, &i) in pool.iter().enumerate().rev() {
        let m = (prep.units[i as usize] - free[slot]).min(left);
        bought[slot] = m;
        left -= m;
    }
    s.raw.clear();
    for (&i, &m) in pool.iter().zip(free.iter()) {
        s.raw.push((i, units_value(prep, cur, i as usize, m, bp)?));
    }
    s.used.clear();
    s.used.extend(
        pool.iter()
            .enumerate()
            .filter(|&(slot, _)| free[slot] + bought[slot] > 0)
            .map(|(_, &i)| i),
    );
    s.used.sort_unstable();
    s.pool2.clear();
    finish_units(prep, cur, cut, s, out);
    Ok(())
}

/// Buy `buy` targeted units (other than `free_sku`), get `get` units of
/// `free_sku`: the cheapest of those are discounted at `bp`.
fn sku_free(
    prep: &Prepared<'_>,
    cur: &[i64],
    (buying, free): (impl Iterator<Item = u32>, impl Iterator<Item = u32>),
    (buy, get, bp): (u64, u64, u32),
    per_check: Option<u64>,
    s: &mut Scratch,
    out: &mut Offer,
) -> Result<(), AmountError> {
    let (buy_pool, free_pool) = (&mut s.pool, &mut s.pool2);
    buy_pool.clear();
    buy_pool.extend(buying.filter(|&i| prep.units[i as usize] > 0));
    free_pool.clear();
    free_pool.extend(free.filter(|&i| prep.units[i as usize] > 0));
    let ub: u64 = buy_pool.iter().map(|&i| prep.units[i as usize]).sum();
    let uf: u64 = free_pool.iter().map(|&i| prep.units[i as usize]).sum();
    let (k, cut) = sets((ub / buy).min(uf / get), per_check);
    free_pool.sort_by(|&a, &b| cheaper(prep, cur, a, b));
    buy_pool.sort_by(|&a, &b| dearer(prep, cur, a, b));
    s.raw.clear();
    s.used.clear();
    let mut left = k * get;
    for &i in free_pool.iter() {
        let m = prep.units[i as usize].min(left);
        left -= m;
        if m > 0 {
            s.used.push(i);
            s.raw.push((i, units_value(prep, cur, i as usize, m, bp)?));
        }
    }
    let mut left = k * buy;
    for &i in buy_pool.iter() {
        let m = prep.units[i as usize].min(left);
        left -= m;
        if m > 0 {
            s.used.push(i);
        }
    }
    s.used.sort_unstable();
    finish_units(prep, cur, cut, s, out);
    Ok(())
}

/// Every `n`-th unit counting from the dearest at `bp` off (`(n, bp)`).
fn nth_item(
    prep: &Prepared<'_>,
    cur: &[i64],
    targets: impl Iterator<Item = u32>,
    (n, bp): (u64, u32),
    per_check: Option<u64>,
    s: &mut Scratch,
    out: &mut Offer,
) -> Result<(), AmountError> {
    let pool = &mut s.pool;
    pool.clear();
    pool.extend(targets.filter(|&i| prep.units[i as usize] > 0));
    let total: u64 = pool.iter().map(|&i| prep.units[i as usize]).sum();
    let (k, cut) = sets(total / n, per_check);
    let reach = k * n;
    pool.sort_by(|&a, &b| dearer(prep, cur, a, b));
    s.raw.clear();
    s.used.clear();
    let mut start = 0u64;
    for &i in pool.iter() {
        let end = start + prep.units[i as usize];
        if start < reach {
            s.used.push(i);
            let m = end.min(reach) / n - start.min(reach) / n;
            s.raw.push((i, units_value(prep, cur, i as usize, m, bp)?));
        }
        start = end;
    }
    s.used.sort_unstable();
    s.pool2.clear();
    finish_units(prep, cur, cut, s, out);
    Ok(())
}

/// A unit reward's offer from `s.raw` and the lines it uses, `s.used`. It
/// depends on those lines, or, when the per-check limit cut it short, on
/// every line of its pools `s.pool` and `s.pool2` (one fewer could lift
/// the cut).
fn finish_units(prep: &Prepared<'_>, cur: &[i64], cut: bool, s: &mut Scratch, out: &mut Offer) {
    s.raw.sort_unstable_by_key(|&(i, _)| i);
    floored(prep, cur, &s.raw, out);
    out.claimed.clear();
    if out.raw > 0 {
        out.claimed.extend_from_slice(&s.used);
    }
    out.depends.clear();
    if cut {
        out.depends.extend_from_slice(&s.pool);
        out.depends.extend_from_slice(&s.pool2);
        out.depends.sort_unstable();
    } else {
        out.depends.extend_from_slice(&s.used);
    }
    out.per_check_cut = cut;
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
    let mut s = Scratch {
        lines: taken.iter().map(|&(i, _)| i).collect(),
        weights: taken
            .iter()
            .map(|&(i, v)| v.min(cur[i as usize] - prep.floor[i as usize]).max(0))
            .collect(),
        ..Scratch::default()
    };
    let mut offer = Offer::default();
    weighted(prep, raw, Detail::Parts, &mut s, &mut offer);
    offer.depends = depends;
    offer.per_check_cut = cut;
    Ok(offer)
}
