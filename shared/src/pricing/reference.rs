//! A straightforward reference implementation of the engine, written for
//! clarity rather than speed, for the differential test:
//!
//! - no indexes: every promotion is matched against every line;
//! - within a *best for customer* group, every offer of every promotion is
//!   evaluated afresh after each step and the best one taken;
//! - unit rewards (buy X get Y, N-th item, bundles) expand lines into their
//!   individual units and count them off a sorted list.
//!
//! It shares with the engine only the definitions that *are* the
//! specification: the basket preparation (amounts, floors, content rank,
//! local time), the conditions and limits, the per-line reward formulas,
//! and the phases after the promotions (tier, points as money, points
//! earned, assembly).

use super::explain::{BlockReason, Condition, Limit, Note};
use super::finish::{finish, points_promotions};
use super::offers::{Offer, cheaper, dearer, is_per_line};
use super::prepared::{Cand, Prepared, check_eligible, excluded};
use super::stacking::{Candidate, Facts, Running};
use super::{CustomerStanding, PricedCheck, PricingContext, PricingError, allocate};
use crate::basket::{BasketError, Line, validate_basket};
use crate::ids::Sku;
use crate::money::{AmountError, Money, narrow_bounded, narrow_index, round_down};
use crate::ruleset::{
    Apply, DEFAULT_GROUP, GroupPolicy, Promotion, Reward, Ruleset, Target, normalize_coupon,
};

fn targets_line(p: &Promotion, line: &Line) -> bool {
    let in_target = match &p.target {
        Target::Skus { skus } => skus.contains(&line.sku),
        Target::Categories { categories } => line
            .category
            .as_ref()
            .is_some_and(|c| categories.contains(c)),
        Target::Basket => true,
    };
    in_target && !excluded(p, line)
}

fn free_sku(p: &Promotion) -> Option<&Sku> {
    match &p.reward {
        Reward::BuyXGetY { free_sku, .. } => free_sku.as_ref(),
        _ => None,
    }
}

/// Prices a check the slow, obvious way.
pub(crate) fn price(
    ruleset: &Ruleset,
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
    let min_price = ruleset
        .programme
        .stacking
        .min_prices
        .iter()
        .map(|m| (m.sku.clone(), m.unit_price))
        .collect();
    let prep = Prepared::new(ruleset, &min_price, lines, amounts, customer, ctx);
    let mut running = Running::new(&prep);

    // Each promotion's rank by id, for tie-breaks and the explanation's order.
    let mut ids: Vec<&crate::ids::PromotionId> = ruleset.promotions.iter().map(|p| &p.id).collect();
    ids.sort();
    let id_rank: Vec<u32> = ruleset
        .promotions
        .iter()
        .map(|p| narrow_index(ids.iter().position(|id| **id == p.id).unwrap_or(0)))
        .collect();
    let mut rejected = Vec::new();
    for code in &prep.coupons {
        let unlocked: Vec<&Promotion> = ruleset
            .promotions
            .iter()
            .filter(|p| p.coupon.as_deref().map(normalize_coupon).as_ref() == Some(code))
            .collect();
        if unlocked.is_empty() {
            rejected.push(code.clone());
        }
        for p in unlocked {
            let touches = lines
                .iter()
                .any(|l| targets_line(p, l) || free_sku(p) == Some(&l.sku));
            if !touches {
                let reason = BlockReason::ConditionNotMet {
                    condition: Condition::NothingToDiscount,
                };
                let index = ruleset
                    .promotions
                    .iter()
                    .position(|q| q.id == p.id)
                    .unwrap_or(0);
                running
                    .notes
                    .push(Note::promotion(&p.id, id_rank[index], reason));
            }
        }
    }

    let mut matched: Vec<(usize, Vec<Cand>)> = Vec::new();
    for (index, p) in ruleset.promotions.iter().enumerate() {
        let cands: Vec<Cand> = lines
            .iter()
            .enumerate()
            .filter_map(|(i, l)| {
                let target = targets_line(p, l);
                let free = free_sku(p) == Some(&l.sku);
                (target || free).then_some(Cand {
                    line: narrow_index(i),
                    target,
                })
            })
            .collect();
        if cands.is_empty() {
            continue;
        }
        if let Some(code) = &p.coupon
            && !prep.coupons.contains(&normalize_coupon(code))
        {
            continue;
        }
        matched.push((index, cands));
    }
    let mut candidates = Vec::new();
    for (index, cands) in &matched {
        let p = &ruleset.promotions[*index];
        let targets = cands.iter().filter(|c| c.target).map(|c| c.line);
        match check_eligible(p, &prep, ctx, targets) {
            Ok(budget) => candidates.push(Candidate {
                index: narrow_index(*index),
                promo: p,
                id_rank: id_rank[*index],
                cands,
                budget_left: budget.map(|(left, _)| left),
                budget_limit: budget.map_or(Limit::Budget, |(_, limit)| limit),
                facts: Facts::of(p),
            }),
            Err(reason) => running
                .notes
                .push(Note::promotion(&p.id, id_rank[*index], reason)),
        }
    }

    let mut groups: Vec<(String, GroupPolicy)> = ruleset
        .programme
        .stacking
        .groups
        .iter()
        .map(|g| (g.name.clone(), g.policy))
        .collect();
    if !groups.iter().any(|(name, _)| name == DEFAULT_GROUP) {
        groups.insert(0, (DEFAULT_GROUP.to_owned(), GroupPolicy::BestForCustomer));
    }
    for (name, policy) in &groups {
        let members: Vec<&Candidate<'_>> = candidates
            .iter()
            .filter(|c| !c.promo.reward.is_points() && c.promo.group_name() == name)
            .collect();
        if !members.is_empty() {
            group(name, *policy, &members, &prep, &mut running)?;
        }
    }
    let points_members: Vec<&Candidate<'_>> = candidates
        .iter()
        .filter(|c| c.promo.reward.is_points())
        .collect();
    let points = points_promotions(&points_members, prep.len());
    Ok(finish(
        ruleset, &prep, ctx, running, &points, rejected, &id_rank,
    )?)
}

/// One step's choice: a member's offer, and for per-line members the line.
struct Choice {
    member: usize,
    line: Option<u32>,
    offer: Offer,
    full: i64,
}

fn group(
    name: &str,
    policy: GroupPolicy,
    members: &[&Candidate<'_>],
    prep: &Prepared<'_>,
    state: &mut Running,
) -> Result<(), AmountError> {
    let start = state.cur.clone();
    let mut claimed = vec![false; prep.len()];
    let mut done = vec![false; members.len()];
    let mut applied = vec![false; members.len()];
    let mut floor_cut = vec![0i64; members.len()];
    let mut per_check_cut = vec![false; members.len()];
    let mut budget_cut = vec![false; members.len()];
    let order: Vec<usize> = match policy {
        GroupPolicy::BestForCustomer => Vec::new(),
        GroupPolicy::FirstByPriority => {
            let mut o: Vec<usize> = (0..members.len()).collect();
            o.sort_by_key(|&m| {
                (
                    std::cmp::Reverse(members[m].promo.priority),
                    members[m].id_rank,
                )
            });
            o
        }
    };
    let mut turn = 0;
    loop {
        // Every offer still possible.
        let mut choices: Vec<Choice> = Vec::new();
        let allowed: Vec<usize> = match policy {
            GroupPolicy::BestForCustomer => (0..members.len()).filter(|&m| !done[m]).collect(),
            GroupPolicy::FirstByPriority => match order.get(turn) {
                Some(&m) => vec![m],
                None => break,
            },
        };
        for m in allowed {
            let c = members[m];
            let avail: Vec<Cand> = c
                .cands
                .iter()
                .copied()
                .filter(|c| !claimed[c.line as usize])
                .collect();
            if is_per_line(c.promo) {
                for cand in avail.iter().filter(|c| c.target) {
                    let i = cand.line as usize;
                    let full = line_full(&c.promo.reward, prep, i, state.cur[i]);
                    let given = full.min(state.cur[i] - prep.floor[i]).max(0);
                    choices.push(Choice {
                        member: m,
                        line: Some(cand.line),
                        offer: Offer {
                            parts: vec![(cand.line, given)],
                            claimed: vec![cand.line],
                            ..Offer::default()
                        },
                        full,
                    });
                }
            } else {
                let offer = evaluate(c.promo, prep, &state.cur, &avail, c.budget_left);
                choices.push(Choice {
                    member: m,
                    line: None,
                    offer,
                    full: 0,
                });
            }
        }
        choices.retain(|c| c.offer.value() > 0);
        let key = |c: &Choice| {
            (
                std::cmp::Reverse(c.offer.value()),
                std::cmp::Reverse(members[c.member].promo.priority),
                members[c.member].id_rank,
                c.line.map(|l| prep.rank[l as usize]),
            )
        };
        match policy {
            GroupPolicy::BestForCustomer => {
                let Some(best) = choices.into_iter().min_by_key(key) else {
                    break;
                };
                take(members, &best, state, &mut claimed);
                let m = best.member;
                applied[m] = true;
                floor_cut[m] += if best.line.is_some() {
                    best.full - best.offer.value()
                } else {
                    best.offer.floor_cut
                };
                per_check_cut[m] |= best.offer.per_check_cut;
                budget_cut[m] |= best.offer.budget_cut;
                if best.line.is_none() {
                    done[best.member] = true;
                }
            }
            GroupPolicy::FirstByPriority => {
                for choice in &choices {
                    let m = choice.member;
                    take(members, choice, state, &mut claimed);
                    applied[m] = true;
                    floor_cut[m] += if choice.line.is_some() {
                        choice.full - choice.offer.value()
                    } else {
                        choice.offer.floor_cut
                    };
                    per_check_cut[m] |= choice.offer.per_check_cut;
                    budget_cut[m] |= choice.offer.budget_cut;
                }
                turn += 1;
            }
        }
    }
    for (m, c) in members.iter().enumerate() {
        let note = |reason| Note::promotion(&c.promo.id, c.id_rank, reason);
        if applied[m] {
            if floor_cut[m] > 0 {
                let cut = Money::from_minor(floor_cut[m])?;
                state.notes.push(note(BlockReason::FloorReached { cut }));
            }
            if per_check_cut[m] {
                let reason = BlockReason::LimitReached {
                    limit: Limit::PerCheck,
                };
                state.notes.push(note(reason));
            }
            if budget_cut[m] {
                let reason = BlockReason::LimitReached {
                    limit: c.budget_limit,
                };
                state.notes.push(note(reason));
            }
            continue;
        }
        // What it would have given alone, at the group's start.
        let (raw, given) = if is_per_line(c.promo) {
            let mut raw = 0;
            let mut given = 0;
            for cand in c.cands.iter().filter(|c| c.target) {
                let i = cand.line as usize;
                let full = line_full(&c.promo.reward, prep, i, start[i]);
                raw += full;
                given += full.min(start[i] - prep.floor[i]).max(0);
            }
            (raw, given)
        } else {
            let offer = evaluate(c.promo, prep, &start, c.cands, c.budget_left);
            (offer.raw, offer.value())
        };
        let reason = if raw <= 0 {
            BlockReason::ConditionNotMet {
                condition: Condition::NothingToDiscount,
            }
        } else if given <= 0 {
            BlockReason::FloorReached {
                cut: Money::from_minor(raw)?,
            }
        } else {
            BlockReason::ExcludedByGroup {
                group: name.to_owned(),
            }
        };
        state.notes.push(note(reason));
    }
    Ok(())
}

fn take(members: &[&Candidate<'_>], choice: &Choice, state: &mut Running, claimed: &mut [bool]) {
    let index = members[choice.member].index;
    for &(line, d) in &choice.offer.parts {
        if d > 0 {
            state.give(index, line, d);
        }
    }
    for &line in &choice.offer.claimed {
        claimed[line as usize] = true;
    }
}

/// One whole unit of a line.
type Unit = u32;

fn expand(prep: &Prepared<'_>, lines: impl Iterator<Item = u32>) -> Vec<Unit> {
    lines
        .flat_map(|i| std::iter::repeat_n(i, units_count(prep.units[i as usize])))
        .collect()
}

fn count(units: &[Unit], line: u32) -> u64 {
    units.iter().filter(|&&u| u == line).count() as u64
}

fn capped(possible: u64, per_check: Option<u32>) -> (u64, bool) {
    match per_check.map(u64::from) {
        Some(n) if n < possible => (n, true),
        _ => (possible, false),
    }
}

/// A multi-line offer, the plain way.
fn evaluate(
    p: &Promotion,
    prep: &Prepared<'_>,
    cur: &[i64],
    avail: &[Cand],
    budget_left: Option<i64>,
) -> Offer {
    let targets: Vec<u32> = avail.iter().filter(|c| c.target).map(|c| c.line).collect();
    let room = |i: u32| (cur[i as usize] - prep.floor[i as usize]).max(0);
    // Per-line raw discounts, or one total spread by room.
    let mut raw: Vec<(u32, i64)> = Vec::new();
    let mut used: Vec<u32> = Vec::new();
    let mut total: Option<(i64, Vec<(u32, i64)>)> = None;
    let mut per_check_cut = false;
    match &p.reward {
        Reward::PercentOff {
            percent,
            apply: Apply::Total,
        } => {
            let base: i64 = targets.iter().map(|&i| cur[i as usize]).sum();
            let off = narrow_bounded(round_down(
                i128::from(base) * i128::from(percent.get()),
                10_000,
            ));
            total = Some((off, targets.iter().map(|&i| (i, room(i))).collect()));
            used = targets.clone();
        }
        Reward::AmountOff {
            amount,
            apply: Apply::Total,
        } => {
            let base: i64 = targets.iter().map(|&i| cur[i as usize]).sum();
            total = Some((
                amount.minor().min(base),
                targets.iter().map(|&i| (i, room(i))).collect(),
            ));
            used = targets.clone();
        }
        Reward::PercentOff { .. } | Reward::AmountOff { .. } | Reward::SpecialPrice { .. } => {
            let full: Vec<(u32, i64)> = targets
                .iter()
                .map(|&i| (i, line_full(&p.reward, prep, i as usize, cur[i as usize])))
                .filter(|&(_, d)| d > 0)
                .collect();
            match p.limits.per_check {
                None => raw = full,
                Some(n) => {
                    // Thousandths of a unit, the best discount per unit first.
                    let mut by_value = full.clone();
                    by_value.sort_by(|&(a, da), &(b, db)| {
                        let per_a = i128::from(da) * i128::from(prep.qty[b as usize]);
                        let per_b = i128::from(db) * i128::from(prep.qty[a as usize]);
                        per_b
                            .cmp(&per_a)
                            .then(prep.rank[a as usize].cmp(&prep.rank[b as usize]))
                    });
                    let mut left = u64::from(n) * 1000;
                    for (i, d) in by_value {
                        let q = prep.qty[i as usize];
                        let m = q.min(left);
                        left -= m;
                        if m < q {
                            per_check_cut = true;
                        }
                        raw.push((
                            i,
                            narrow_bounded(round_down(
                                i128::from(d) * i128::from(m),
                                i128::from(q),
                            )),
                        ));
                    }
                }
            }
            used = raw
                .iter()
                .filter(|&&(_, d)| d > 0)
                .map(|&(i, _)| i)
                .collect();
        }
        Reward::BuyXGetY {
            buy,
            get,
            free_sku,
            percent,
        } => {
            let (buy, get) = (u64::from(*buy), u64::from(*get));
            let (free_units, buy_units, k) = match free_sku {
                None => {
                    let mut units = expand(prep, targets.iter().copied());
                    units.sort_by(|&a, &b| cheaper(prep, cur, a, b));
                    let (k, cut) = capped(units.len() as u64 / (buy + get), p.limits.per_check);
                    per_check_cut = cut;
                    let free: Vec<Unit> = units[..units_count(k * get)].to_vec();
                    let bought: Vec<Unit> = units[units.len() - units_count(k * buy)..].to_vec();
                    (free, bought, k)
                }
                Some(sku) => {
                    let is_free = |i: &u32| &prep.lines[*i as usize].sku == sku;
                    let mut buying = expand(prep, targets.iter().copied().filter(|i| !is_free(i)));
                    let mut freebies = expand(prep, avail.iter().map(|c| c.line).filter(is_free));
                    buying.sort_by(|&a, &b| dearer(prep, cur, a, b));
                    freebies.sort_by(|&a, &b| cheaper(prep, cur, a, b));
                    let possible = (buying.len() as u64 / buy).min(freebies.len() as u64 / get);
                    let (k, cut) = capped(possible, p.limits.per_check);
                    per_check_cut = cut;
                    (
                        freebies[..units_count(k * get)].to_vec(),
                        buying[..units_count(k * buy)].to_vec(),
                        k,
                    )
                }
            };
            let _ = k;
            let mut lines: Vec<u32> = free_units.iter().chain(&buy_units).copied().collect();
            lines.sort_unstable();
            lines.dedup();
            for &i in &lines {
                let m = count(&free_units, i);
                raw.push((i, units_value(prep, cur, i as usize, m, percent.get())));
            }
            used = lines;
        }
        Reward::NthItem { n, percent } => {
            let n = u64::from(*n);
            let mut units = expand(prep, targets.iter().copied());
            units.sort_by(|&a, &b| dearer(prep, cur, a, b));
            let (k, cut) = capped(units.len() as u64 / n, p.limits.per_check);
            per_check_cut = cut;
            let reach = &units[..units_count(k * n)];
            let discounted: Vec<Unit> = reach
                .iter()
                .enumerate()
                .filter(|(pos, _)| (*pos as u64 + 1).is_multiple_of(n))
                .map(|(_, &u)| u)
                .collect();
            let mut lines: Vec<u32> = reach.to_vec();
            lines.sort_unstable();
            lines.dedup();
            for &i in &lines {
                let m = count(&discounted, i);
                raw.push((i, units_value(prep, cur, i as usize, m, percent.get())));
            }
            used = lines;
        }
        Reward::Bundle { items, price } => {
            let pools: Vec<(Vec<Unit>, u64)> = items
                .iter()
                .map(|item| {
                    let mut units = expand(
                        prep,
                        targets
                            .iter()
                            .copied()
                            .filter(|&i| prep.lines[i as usize].sku == item.sku),
                    );
                    units.sort_by(|&a, &b| dearer(prep, cur, a, b));
                    (units, u64::from(item.quantity))
                })
                .collect();
            let possible = pools
                .iter()
                .map(|(u, q)| u.len() as u64 / q)
                .min()
                .unwrap_or(0);
            let (k, cut) = capped(possible, p.limits.per_check);
            per_check_cut = cut;
            let taken: Vec<Unit> = pools
                .iter()
                .flat_map(|(u, q)| u[..units_count(k * q)].iter().copied())
                .collect();
            let mut lines: Vec<u32> = taken.clone();
            lines.sort_unstable();
            lines.dedup();
            let values: Vec<(u32, i64)> = lines
                .iter()
                .map(|&i| {
                    (
                        i,
                        units_value(prep, cur, i as usize, count(&taken, i), 10_000),
                    )
                })
                .collect();
            let worth: i64 = values.iter().map(|&(_, v)| v).sum();
            let off = (worth - k as i64 * price.minor()).max(0);
            if off > 0 {
                total = Some((
                    off,
                    values.iter().map(|&(i, v)| (i, v.min(room(i)))).collect(),
                ));
                used = lines;
            }
        }
        Reward::PointsMultiplier { .. } | Reward::ExtraPoints { .. } => {}
    }
    let mut offer = Offer {
        per_check_cut,
        ..Offer::default()
    };
    if let Some((off, weights)) = total {
        let given = off.min(weights.iter().map(|&(_, w)| w).sum());
        let w: Vec<i64> = weights.iter().map(|&(_, w)| w).collect();
        let keys: Vec<u32> = weights
            .iter()
            .map(|&(i, _)| prep.rank[i as usize])
            .collect();
        offer.parts = weights
            .iter()
            .zip(allocate(given, &w, &keys))
            .map(|(&(i, _), d)| (i, d))
            .filter(|&(_, d)| d > 0)
            .collect();
        offer.raw = off;
        offer.floor_cut = off - given;
        offer.claimed = used;
    } else {
        raw.sort_unstable_by_key(|&(i, _)| i);
        for (i, r) in raw {
            if r <= 0 {
                continue;
            }
            let d = r.min(room(i));
            offer.raw += r;
            offer.floor_cut += r - d;
            if d > 0 {
                offer.parts.push((i, d));
            }
        }
        offer.claimed = if offer.raw > 0 { used } else { Vec::new() };
    }
    if let Some(left) = budget_left
        && offer.value() > left
    {
        let w: Vec<i64> = offer.parts.iter().map(|&(_, d)| d).collect();
        let keys: Vec<u32> = offer
            .parts
            .iter()
            .map(|&(i, _)| prep.rank[i as usize])
            .collect();
        offer.parts = offer
            .parts
            .iter()
            .zip(allocate(left, &w, &keys))
            .map(|(&(i, _), d)| (i, d))
            .filter(|&(_, d)| d > 0)
            .collect();
        offer.budget_cut = true;
    }
    offer
}

/// A count of units as an index: at most the units of the basket, which
/// the reference holds in memory. Fallback: `usize::MAX`, which fails the
/// slice loudly rather than take fewer units.
fn units_count(units: u64) -> usize {
    usize::try_from(units).unwrap_or(usize::MAX)
}

/// The engine's [`super::offers::line_full`]. The oracle prices validated
/// baskets only, whose figures stay in range: an out-of-range one is a
/// defect and fails the test loudly.
fn line_full(reward: &crate::ruleset::Reward, prep: &Prepared<'_>, i: usize, cur: i64) -> i64 {
    super::offers::line_full(reward, prep, i, cur).expect("a line's discount in range")
}

/// The engine's [`super::offers::units_value`], likewise.
fn units_value(prep: &Prepared<'_>, cur: &[i64], i: usize, m: u64, bp: u32) -> i64 {
    super::offers::units_value(prep, cur, i, m, bp).expect("a value of units in range")
}
