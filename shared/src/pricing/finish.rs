//! After the promotions: the tier discount, points paid as money, points
//! earned, and the priced check with its explanation and receipt. Shared
//! by the engine and the reference implementation.

use std::collections::BTreeMap;

use super::allocation::{allocate, allocate_into};
use super::explain::{AppliedRule, BlockReason, Condition, Limit, Note, PointsAward, RuleRef};
use super::input::PricingContext;
use super::prepared::{Prepared, birthday_window_start};
use super::receipt::Receipt;
use super::stacking::{Candidate, Running};
use super::{PricedCheck, PricedLine};
use crate::money::{AmountError, Money, clamp_points, narrow_index, round_down};
use crate::ruleset::{EarnRate, Reward, Ruleset};

/// The group name under which a larger multiplier excludes a smaller one.
pub(crate) const MULTIPLIER_GROUP: &str = "points multiplier";

/// Points promotions as they fall on the lines.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct PointsPromotions {
    /// Per line, the multiplier that applies: `(promotion index, percent)`.
    pub multiplier: Vec<Option<(u32, u32)>>,
    /// Extra points: `(promotion index, points, target lines)`.
    pub extra: Vec<(u32, i64, Vec<u32>)>,
    /// Eligible multipliers that no line took.
    pub outdone: Vec<u32>,
}

/// Places the eligible points promotions: on each line the largest
/// multiplier (then the higher priority, then the smaller id); every extra
/// points promotion once.
pub(crate) fn points_promotions(members: &[&Candidate<'_>], lines: usize) -> PointsPromotions {
    let mut out = PointsPromotions {
        multiplier: vec![None; lines],
        ..PointsPromotions::default()
    };
    // Per line, the best multiplier's key: larger percent, higher priority,
    // smaller id.
    type Key = (std::cmp::Reverse<u32>, std::cmp::Reverse<i32>, u32);
    let mut best: Vec<Option<Key>> = vec![None; lines];
    for c in members {
        match c.promo.reward {
            Reward::PointsMultiplier { percent } => {
                let key = (
                    std::cmp::Reverse(percent),
                    std::cmp::Reverse(c.facts.priority),
                    c.id_rank,
                );
                for cand in c.cands.iter().filter(|c| c.target) {
                    let slot = &mut best[cand.line as usize];
                    if slot.is_none_or(|k| key < k) {
                        *slot = Some(key);
                        out.multiplier[cand.line as usize] = Some((c.index, percent));
                    }
                }
            }
            Reward::ExtraPoints { points } => {
                let targets: Vec<u32> = c
                    .cands
                    .iter()
                    .filter(|c| c.target)
                    .map(|c| c.line)
                    .collect();
                if !targets.is_empty() {
                    out.extra.push((c.index, points, targets));
                }
            }
            _ => {}
        }
    }
    // The multipliers some line took, sorted, so each member is looked up
    // rather than searched for over every line.
    let mut chosen: Vec<u32> = out.multiplier.iter().flatten().map(|&(p, _)| p).collect();
    chosen.sort_unstable();
    chosen.dedup();
    for c in members {
        if matches!(c.promo.reward, Reward::PointsMultiplier { .. })
            && chosen.binary_search(&c.index).is_err()
        {
            out.outdone.push(c.index);
        }
    }
    out
}

/// Buffers reused by every spreading of points over lines in one check.
#[derive(Debug, Default)]
struct SpreadBuffers {
    weights: Vec<i64>,
    keys: Vec<u32>,
    parts: Vec<i64>,
    remainders: Vec<(u128, usize)>,
}

/// Weights for spreading points over `lines`, into `weights`: what was
/// paid; if nothing, the amounts; if nothing either, equal.
fn points_weights(prep: &Prepared<'_>, cur: &[i64], lines: &[u32], weights: &mut Vec<i64>) {
    weights.clear();
    weights.extend(lines.iter().map(|&i| cur[i as usize].max(0)));
    if weights.iter().any(|&w| w > 0) {
        return;
    }
    weights.clear();
    weights.extend(lines.iter().map(|&i| prep.amount[i as usize].max(0)));
    if weights.iter().any(|&w| w > 0) {
        return;
    }
    weights.clear();
    weights.resize(lines.len(), 1);
}

fn spread_points(
    (prep, cur): (&Prepared<'_>, &[i64]),
    lines: &[u32],
    points: i64,
    into: &mut [i64],
    b: &mut SpreadBuffers,
) {
    points_weights(prep, cur, lines, &mut b.weights);
    b.keys.clear();
    b.keys.extend(lines.iter().map(|&i| prep.rank[i as usize]));
    allocate_into(points, &b.weights, &b.keys, &mut b.parts, &mut b.remainders);
    for (&i, &p) in lines.iter().zip(&b.parts) {
        into[i as usize] += p;
    }
}

/// Everything after the promotions.
pub(crate) fn finish(
    ruleset: &Ruleset,
    prep: &Prepared<'_>,
    ctx: &PricingContext,
    running: Running,
    points: &PointsPromotions,
    rejected_coupons: Vec<String>,
    id_rank: &[u32],
) -> Result<PricedCheck, AmountError> {
    let Running {
        mut cur,
        given,
        mut notes,
    } = running;
    let n = prep.len();
    let on_line = given.by_line(n);
    let all: Vec<u32> = (0..n).map(narrow_index).collect();
    let keys: Vec<u32> = prep.rank.clone();
    // What the tier and points paid as money take off each line, after
    // the promotions (zero: nothing).
    let mut tier_part = vec![0i64; n];
    let mut redeemed_part = vec![0i64; n];
    let mut tier_rule: Option<RuleRef> = None;
    let room = |cur: &[i64], i: usize| (cur[i] - prep.floor[i]).max(0);

    // Tier discount: once on the eligible lines, spread by their room.
    let tier = prep.tier;
    if let Some(t) = tier.filter(|t| t.discount.get() > 0) {
        let eligible: Vec<bool> = (0..n)
            .map(|i| {
                on_line
                    .line(i)
                    .iter()
                    .all(|&(p, _)| ruleset.promotions[p as usize].combines_with_tier)
            })
            .collect();
        let base: i64 = (0..n).filter(|&i| eligible[i]).map(|i| cur[i]).sum();
        let weights: Vec<i64> = (0..n)
            .map(|i| if eligible[i] { room(&cur, i) } else { 0 })
            .collect();
        let raw = narrow(round_down(
            i128::from(base) * i128::from(t.discount.get()),
            10_000,
        ))?;
        let given = raw.min(weights.iter().sum());
        let rule = RuleRef::Tier(t.name.clone());
        if n > 0 && !eligible.iter().any(|&e| e) {
            notes.push(Note::rule(rule.clone(), BlockReason::NotCombinable));
        }
        if raw > given {
            let cut = Money::from_minor(raw - given)?;
            notes.push(Note::rule(rule.clone(), BlockReason::FloorReached { cut }));
        }
        for (i, part) in allocate(given, &weights, &keys).into_iter().enumerate() {
            if part > 0 {
                cur[i] -= part;
                tier_part[i] = part;
            }
        }
        tier_rule = Some(rule);
    }

    // Points paid as money.
    let requested = ctx.redeem_points.max(0);
    let mut redeemable = 0;
    let mut redeemed = 0;
    let mut redeemed_money = 0;
    let redemption_note = |condition| {
        Note::rule(
            RuleRef::Redemption,
            BlockReason::ConditionNotMet { condition },
        )
    };
    match (prep.customer, &ruleset.programme.redemption) {
        (Some(c), Some(r)) if c.points_balance > 0 && c.points_balance >= r.min_balance => {
            let base: i64 = cur.iter().sum();
            let rooms: i64 = (0..n).map(|i| room(&cur, i)).sum();
            let cap = narrow(round_down(
                i128::from(base) * i128::from(r.max_share.get()),
                10_000,
            ))?
            .min(rooms);
            let by_cap = round_down(
                i128::from(cap) * i128::from(r.points),
                i128::from(r.value.minor()),
            );
            redeemable = clamp_points(by_cap.min(i128::from(c.points_balance))).max(0);
            if requested > 0 {
                let wanted = requested.min(redeemable);
                redeemed_money = narrow(round_down(
                    i128::from(wanted) * i128::from(r.value.minor()),
                    i128::from(r.points),
                ))?;
                // The fewest whole points that buy that money.
                redeemed = clamp_points(-round_down(
                    -i128::from(redeemed_money) * i128::from(r.points),
                    i128::from(r.value.minor()),
                ));
                if redeemed < requested {
                    let reason = BlockReason::LimitReached {
                        limit: Limit::RedemptionCap,
                    };
                    notes.push(Note::rule(RuleRef::Redemption, reason));
                }
                let weights: Vec<i64> = (0..n).map(|i| room(&cur, i)).collect();
                for (i, part) in allocate(redeemed_money, &weights, &keys)
                    .into_iter()
                    .enumerate()
                {
                    if part > 0 {
                        cur[i] -= part;
                        redeemed_part[i] = part;
                    }
                }
            }
        }
        (Some(_), Some(_)) if requested > 0 => notes.push(redemption_note(Condition::MinBalance)),
        (Some(_), None) if requested > 0 => notes.push(redemption_note(Condition::Redemption)),
        (None, _) if requested > 0 => notes.push(redemption_note(Condition::Customer)),
        _ => {}
    }

    // Points earned on what is paid, only by an identified customer: an
    // anonymous check has no one to credit.
    let earning = prep.customer.is_some();
    let mut line_points = vec![0i64; n];
    let mut spreads = SpreadBuffers::default();
    let mut earned = 0i64;
    // Points by promotion index, in the order given.
    let mut promo_points: Vec<(u32, i64)> = Vec::new();
    let earn = ruleset.programme.earn.as_ref();
    let base_rate = tier.and_then(|t| t.earn).or(earn.map(|e| e.rate()));
    // Lines by earn rate and multiplier `(promotion index, percent)`.
    type RateGroup = (EarnRate, Option<(u32, u32)>);
    let mut groups: BTreeMap<RateGroup, Vec<u32>> = BTreeMap::new();
    for (i, line) in prep.lines.iter().enumerate().filter(|_| earning) {
        let cat = line.category.as_ref();
        let excluded = earn.is_some_and(|e| {
            e.excluded_skus.contains(&line.sku)
                || cat.is_some_and(|c| e.excluded_categories.contains(c))
        });
        if excluded {
            continue;
        }
        let own = earn.and_then(|e| {
            cat.and_then(|c| e.category_rates.iter().find(|r| &r.category == c))
                .map(|r| EarnRate {
                    per: r.per,
                    points: r.points,
                })
        });
        if let Some(rate) = own.or(base_rate) {
            groups
                .entry((rate, points.multiplier[i]))
                .or_default()
                .push(narrow_index(i));
        }
    }
    let mut multiplied: BTreeMap<u32, i64> = BTreeMap::new();
    for ((rate, mult), lines) in &groups {
        let paid: i128 = lines
            .iter()
            .map(|&i| i128::from(cur[i as usize].max(0)))
            .sum();
        let full = paid / i128::from(rate.per.minor().max(1));
        let base = full * i128::from(rate.points);
        let total = match mult {
            Some((_, pct)) => full * i128::from(rate.points) * i128::from(*pct) / 100,
            None => base,
        };
        let (base, total) = (clamp_points(base), clamp_points(total));
        earned += base;
        if let Some((p, _)) = mult {
            *multiplied.entry(*p).or_default() += total - base;
        }
        spread_points((prep, &cur), lines, total, &mut line_points, &mut spreads);
    }
    let promo_rule = |p: u32| RuleRef::Promotion(ruleset.promotions[p as usize].id.clone());
    let promo_note = |p: u32, reason| {
        Note::promotion(
            &ruleset.promotions[p as usize].id,
            id_rank[p as usize],
            reason,
        )
    };
    let mut points_applied: Vec<u32> = Vec::new();
    let chosen: std::collections::BTreeSet<u32> = points
        .multiplier
        .iter()
        .flatten()
        .map(|&(p, _)| p)
        .collect();
    let no_customer = BlockReason::ConditionNotMet {
        condition: Condition::Customer,
    };
    for p in chosen {
        let gain = multiplied.get(&p).copied().unwrap_or(0);
        if !earning {
            notes.push(promo_note(p, no_customer.clone()));
        } else if gain > 0 {
            promo_points.push((p, gain));
            points_applied.push(p);
        } else {
            let reason = BlockReason::ConditionNotMet {
                condition: Condition::NothingToDiscount,
            };
            notes.push(promo_note(p, reason));
        }
    }
    for &p in &points.outdone {
        let reason = BlockReason::ExcludedByGroup {
            group: MULTIPLIER_GROUP.to_owned(),
        };
        notes.push(promo_note(p, reason));
    }
    for (p, pts, lines) in &points.extra {
        if !earning {
            notes.push(promo_note(*p, no_customer.clone()));
            continue;
        }
        promo_points.push((*p, *pts));
        points_applied.push(*p);
        spread_points((prep, &cur), lines, *pts, &mut line_points, &mut spreads);
    }
    let mut bonuses: Vec<(RuleRef, i64)> = Vec::new();
    if let Some(c) = prep.customer {
        if let Some(bonus) = ruleset.programme.welcome_bonus
            && c.purchases == Some(0)
        {
            bonuses.push((RuleRef::WelcomeBonus, bonus));
            spread_points((prep, &cur), &all, bonus, &mut line_points, &mut spreads);
        }
        if let Some(b) = ruleset.programme.birthday_bonus
            && let Some(start) = c
                .birthday
                .zip(prep.local_date())
                .and_then(|(birth, today)| birthday_window_start(birth, today, b.window()))
        {
            if c.last_birthday_bonus.is_some_and(|last| last >= start) {
                let reason = BlockReason::LimitReached {
                    limit: Limit::OncePerBirthday,
                };
                notes.push(Note::rule(RuleRef::BirthdayBonus, reason));
            } else {
                bonuses.push((RuleRef::BirthdayBonus, b.points));
                spread_points((prep, &cur), &all, b.points, &mut line_points, &mut spreads);
            }
        }
    }
    // Points by rule, in the order of rules: promotions by id, then the
    // programme's earn rate and bonuses.
    promo_points.sort_unstable_by_key(|&(p, _)| id_rank[p as usize]);
    let mut award_names: Vec<&str> = Vec::new();
    let mut awards: Vec<PointsAward> = Vec::new();
    for &(p, points) in &promo_points {
        award_names.push(&ruleset.promotions[p as usize].name);
        awards.push(PointsAward {
            rule: promo_rule(p),
            points,
        });
    }
    for (rule, points) in std::iter::once((RuleRef::Earn, earned)).chain(bonuses) {
        award_names.push("");
        awards.push(PointsAward { rule, points });
    }
    let kept: Vec<bool> = awards.iter().map(|a| a.points != 0).collect();
    let mut keep = kept.iter();
    awards.retain(|_| *keep.next().unwrap_or(&false));
    let mut keep = kept.iter();
    award_names.retain(|_| *keep.next().unwrap_or(&false));

    // The priced check.
    // Each rule's total over the check, in the order of rules: the tier,
    // promotions by id, points as money.
    // `(rank by id, promotion index, discount)`.
    let mut by_promo: Vec<(u32, u32, i64)> = Vec::new();
    let mut tier_total: Option<(RuleRef, i64)> = None;
    let mut redemption_total = 0i64;
    let mut priced = Vec::with_capacity(n);
    for i in 0..n {
        let (tier_d, redeemed_d) = (tier_part[i], redeemed_part[i]);
        let extra = usize::from(tier_d > 0) + usize::from(redeemed_d > 0);
        let mut rules: Vec<AppliedRule> = Vec::with_capacity(on_line.line(i).len() + extra);
        for &(p, d) in on_line.line(i) {
            let promo = &ruleset.promotions[p as usize];
            by_promo.push((id_rank[p as usize], p, d));
            rules.push(applied(promo_rule(p), d, promo.funded_by.clone())?);
        }
        if let Some(rule) = tier_rule.as_ref().filter(|_| tier_d > 0) {
            match &mut tier_total {
                Some((_, total)) => *total += tier_d,
                None => tier_total = Some((rule.clone(), tier_d)),
            }
            rules.push(applied(rule.clone(), tier_d, None)?);
        }
        if redeemed_d > 0 {
            redemption_total += redeemed_d;
            rules.push(applied(RuleRef::Redemption, redeemed_d, None)?);
        }
        let discount: i64 = rules.iter().map(|a| a.discount.minor()).sum();
        priced.push(PricedLine {
            amount: money(prep.amount[i])?,
            discount: money(discount)?,
            total: money(cur[i])?,
            points: line_points[i],
            applied: rules,
        });
    }
    by_promo.extend(points_applied.iter().map(|&p| (id_rank[p as usize], p, 0)));
    by_promo.sort_unstable_by_key(|&(rank, _, _)| rank);
    let mut applied_rules: Vec<AppliedRule> = Vec::new();
    let mut applied_names: Vec<&str> = Vec::new();
    if let Some((rule, total)) = tier_total {
        applied_rules.push(applied(rule, total, None)?);
        applied_names.push("");
    }
    let mut k = 0;
    while k < by_promo.len() {
        let p = by_promo[k].1;
        let mut total = 0;
        while k < by_promo.len() && by_promo[k].1 == p {
            total += by_promo[k].2;
            k += 1;
        }
        let promo = &ruleset.promotions[p as usize];
        applied_rules.push(applied(promo_rule(p), total, promo.funded_by.clone())?);
        applied_names.push(&promo.name);
    }
    if redemption_total > 0 {
        applied_rules.push(applied(RuleRef::Redemption, redemption_total, None)?);
        applied_names.push("");
    }
    let blocked = Note::sorted(notes);
    let discount: i64 = priced.iter().map(|l| l.discount.minor()).sum();
    let points_earned: i64 = line_points.iter().sum();
    let receipt = Receipt::build(
        (&applied_rules, &applied_names),
        (&awards, &award_names),
        tier,
        (redeemed, money(redeemed_money)?),
        money(discount)?,
        points_earned,
    );
    Ok(PricedCheck {
        lines: priced,
        subtotal: money(prep.subtotal)?,
        discount: money(discount)?,
        total: money(prep.subtotal - discount)?,
        points_earned,
        points_redeemed: redeemed,
        redeemable_points: redeemable,
        tier: tier.map(|t| t.name.clone()),
        applied: applied_rules,
        points: awards,
        blocked,
        coupons_rejected: rejected_coupons,
        receipt,
    })
}

/// A figure of the check as money. Every figure here is a part of the
/// validated subtotal, so this never fails on a sound engine; should one
/// leave the range it is an error, never zero.
fn money(minor: i64) -> Result<Money, AmountError> {
    Money::from_minor(minor)
}

/// A wide intermediate result narrowed to `i64`, an error when it does not
/// fit in the money range.
pub(crate) fn narrow(wide: i128) -> Result<i64, AmountError> {
    Money::from_wide(wide).map(Money::minor)
}

fn applied(
    rule: RuleRef,
    discount: i64,
    funded_by: Option<String>,
) -> Result<AppliedRule, AmountError> {
    Ok(AppliedRule {
        rule,
        discount: money(discount)?,
        funded_by,
    })
}
