//! Applying one exclusive group of promotions, as the engine does it: each
//! line's best per-line offer sorted once; multi-line offers ranked by
//! their figures, spread over their lines only when applied, and
//! re-evaluated only when a line they could use is taken.

use super::explain::{BlockReason, Condition, Limit, Note};
use super::offers::{Detail, Offer, Scratch, evaluate_into, is_per_line, line_full, only_loses};
use super::prepared::{Cand, Prepared};
use crate::money::{AmountError, Money, narrow_index};
use crate::ruleset::{GroupPolicy, Promotion};

/// What the engine reads of a promotion again and again, copied out of
/// it: the engine keeps these for every promotion in one dense array, so
/// finding and stacking candidates reads a few bytes each instead of the
/// promotion's scattered fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Facts {
    /// Its priority.
    pub priority: i32,
    /// Whether each line's discount is its own offer ([`is_per_line`]).
    pub per_line: bool,
    /// Whether its offer can only lose value ([`only_loses`]).
    pub only_loses: bool,
    /// Whether it gives points, not money.
    pub points: bool,
    /// Whether it has exclusions.
    pub excludes: bool,
    /// Whether it has a period, stores, conditions or limits to check.
    pub gated: bool,
}

impl Facts {
    /// The facts of `p`.
    pub fn of(p: &Promotion) -> Facts {
        Facts {
            priority: p.priority,
            per_line: is_per_line(p),
            only_loses: only_loses(p),
            points: p.reward.is_points(),
            excludes: !p.exclude.skus.is_empty() || !p.exclude.categories.is_empty(),
            gated: !super::prepared::always_eligible(p),
        }
    }
}

/// An eligible promotion with its candidate lines.
#[derive(Clone, Debug)]
pub(crate) struct Candidate<'r> {
    /// Its index in the ruleset.
    pub index: u32,
    /// The promotion.
    pub promo: &'r Promotion,
    /// Its position when promotions are sorted by id.
    pub id_rank: u32,
    /// Its candidate lines, by line index.
    pub cands: &'r [Cand],
    /// The money it may still give, if it has a budget.
    pub budget_left: Option<i64>,
    /// Where that money comes from: the budget, or the register's lease.
    pub budget_limit: Limit,
    /// Its facts.
    pub facts: Facts,
}

impl Candidate<'_> {
    /// Sort key among offers of equal value: higher priority, then smaller id.
    fn tie(&self) -> (std::cmp::Reverse<i32>, u32) {
        (std::cmp::Reverse(self.facts.priority), self.id_rank)
    }
}

/// The running state of the promotions phase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Running {
    /// Each line's current total.
    pub cur: Vec<i64>,
    /// Discounts on the lines, in the order applied.
    pub given: Given,
    /// Notes on promotions blocked or cut short.
    pub notes: Vec<Note>,
}

impl Running {
    /// The state before any promotion: every line at its amount.
    pub fn new(prep: &Prepared<'_>) -> Self {
        Running {
            cur: prep.amount.clone(),
            given: Given::default(),
            notes: Vec::new(),
        }
    }

    pub(crate) fn give(&mut self, promo: u32, line: u32, d: i64) {
        self.cur[line as usize] -= d;
        self.given.list.push((line, promo, d));
    }
}

/// The discounts given on the lines, `(line, promotion index, amount)`,
/// in the order applied: one list for the check, not one per line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Given {
    list: Vec<(u32, u32, i64)>,
}

impl Given {
    /// The discounts on each of `lines` lines, each line's in the order
    /// applied.
    pub fn by_line(&self, lines: usize) -> ByLine {
        let mut start = vec![0usize; lines + 1];
        for &(line, _, _) in &self.list {
            start[line as usize + 1] += 1;
        }
        for i in 0..lines {
            start[i + 1] += start[i];
        }
        let mut at = start.clone();
        let mut parts = vec![(0, 0); self.list.len()];
        for &(line, promo, d) in &self.list {
            let slot = &mut at[line as usize];
            parts[*slot] = (promo, d);
            *slot += 1;
        }
        ByLine { start, parts }
    }
}

/// The discounts on each line, `(promotion index, amount)`, in the order
/// applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ByLine {
    start: Vec<usize>,
    parts: Vec<(u32, i64)>,
}

impl ByLine {
    /// The discounts on line `i`.
    pub fn line(&self, i: usize) -> &[(u32, i64)] {
        &self.parts[self.start[i]..self.start[i + 1]]
    }
}

/// What became of one promotion in its group.
#[derive(Default)]
pub(crate) struct Outcome {
    pub applied: bool,
    pub floor_cut: i64,
    pub per_check_cut: bool,
    pub budget_cut: bool,
}

impl Outcome {
    fn absorb(&mut self, offer: &Offer) {
        self.applied = true;
        self.floor_cut += offer.floor_cut;
        self.per_check_cut |= offer.per_check_cut;
        self.budget_cut |= offer.budget_cut;
    }

    fn absorb_kept(&mut self, offer: &Kept) {
        self.applied = true;
        self.floor_cut += offer.floor_cut;
        self.per_check_cut |= offer.per_check_cut;
        self.budget_cut |= offer.budget_cut;
    }
}

/// A multi-line offer as the greedy loop keeps it: its figures, and its
/// lines as ranges of the loop's [`Arena`], so keeping and re-evaluating
/// offers allocates nothing per offer.
#[derive(Clone, Copy, Debug, Default)]
struct Kept {
    /// What it gives ([`Offer::value`]).
    value: i64,
    raw: i64,
    floor_cut: i64,
    per_check_cut: bool,
    budget_cut: bool,
    /// Whether its parts were left out ([`Detail::Figures`]): it is
    /// evaluated again, in full, when it is applied.
    deferred: bool,
    /// Its `parts`, in [`Arena::parts`].
    parts: (u32, u32),
    /// Its `claimed` lines, in [`Arena::lines`].
    claimed: (u32, u32),
    /// Its `depends` lines, in [`Arena::lines`].
    depends: (u32, u32),
}

/// The lines of every kept offer, one after another; a re-evaluated offer
/// is appended, its former ranges left behind (the arena lives for one
/// group of one check).
#[derive(Debug, Default)]
struct Arena {
    parts: Vec<(u32, i64)>,
    lines: Vec<u32>,
}

impl Arena {
    /// Keeps a copy of `o`.
    fn keep(&mut self, o: &Offer) -> Kept {
        let at = |len: usize| narrow_index(len);
        let parts_at = at(self.parts.len());
        self.parts.extend_from_slice(&o.parts);
        let claimed_at = at(self.lines.len());
        self.lines.extend_from_slice(&o.claimed);
        let depends_at = at(self.lines.len());
        self.lines.extend_from_slice(&o.depends);
        Kept {
            value: o.value(),
            raw: o.raw,
            floor_cut: o.floor_cut,
            per_check_cut: o.per_check_cut,
            budget_cut: o.budget_cut,
            deferred: o.deferred.is_some(),
            parts: (parts_at, at(self.parts.len())),
            claimed: (claimed_at, depends_at),
            depends: (depends_at, at(self.lines.len())),
        }
    }

    fn parts(&self, k: &Kept) -> &[(u32, i64)] {
        &self.parts[k.parts.0 as usize..k.parts.1 as usize]
    }

    fn claimed(&self, k: &Kept) -> &[u32] {
        &self.lines[k.claimed.0 as usize..k.claimed.1 as usize]
    }

    fn depends(&self, k: &Kept) -> &[u32] {
        &self.lines[k.depends.0 as usize..k.depends.1 as usize]
    }
}

/// A line's discount offered by a per-line promotion.
#[derive(Clone, Copy)]
struct LineOffer {
    /// The order of offers: larger given first, then the member's tie,
    /// then the line's rank; kept beside the offer so sorting reads no
    /// member or line.
    key: (std::cmp::Reverse<i64>, (std::cmp::Reverse<i32>, u32), u32),
    member: usize,
    line: u32,
    full: i64,
    given: i64,
}

/// Applies the group's promotions (all eligible, all giving money off) to
/// the lines by the group's policy.
pub(crate) fn apply_group(
    group: &str,
    policy: GroupPolicy,
    members: &[&Candidate<'_>],
    prep: &Prepared<'_>,
    state: &mut Running,
) -> Result<(), AmountError> {
    let start = state.cur.clone();
    let mut claimed = vec![false; prep.len()];
    let mut outcomes: Vec<Outcome> = members.iter().map(|_| Outcome::default()).collect();
    let initial = match policy {
        GroupPolicy::BestForCustomer => {
            best_for_customer(members, prep, state, &mut claimed, &mut outcomes)?
        }
        GroupPolicy::FirstByPriority => {
            first_by_priority(members, prep, state, &mut claimed, &mut outcomes)?;
            vec![None; members.len()]
        }
    };
    explain(
        group,
        members,
        prep,
        &start,
        &outcomes,
        &initial,
        &mut state.notes,
    )
}

fn room(prep: &Prepared<'_>, cur: &[i64], i: u32) -> i64 {
    cur[i as usize] - prep.floor[i as usize]
}

/// The candidate lines of `c` not claimed yet, into `out`.
fn avail_into(c: &Candidate<'_>, claimed: &[bool], out: &mut Vec<Cand>) {
    out.clear();
    out.extend(
        c.cands
            .iter()
            .copied()
            .filter(|c| !claimed[c.line as usize]),
    );
}

/// A multi-line offer in the heap: larger value first, then higher
/// priority, then smaller id; `version` tells a stale entry.
type HeapEntry = (i64, i32, std::cmp::Reverse<u32>, u32, u32);

/// The greedy choice. Returns, per member, what it would give alone at the
/// group's start `(raw, after floors and budget)`, for the explanation.
fn best_for_customer(
    members: &[&Candidate<'_>],
    prep: &Prepared<'_>,
    state: &mut Running,
    claimed: &mut [bool],
    outcomes: &mut [Outcome],
) -> Result<Vec<Option<(i64, i64)>>, AmountError> {
    let mut initial: Vec<Option<(i64, i64)>> = vec![Some((0, 0)); members.len()];
    // The multi-line offers touching each line, as one flat list per line
    // (`touching[touch_at[line]..touch_at[line + 1]]`), sized first.
    let mut touch_at = vec![0usize; prep.len() + 1];
    for c in members.iter().filter(|c| !c.facts.per_line) {
        for cand in c.cands {
            touch_at[cand.line as usize + 1] += 1;
        }
    }
    for i in 0..prep.len() {
        touch_at[i + 1] += touch_at[i];
    }
    let mut touching = vec![0u32; touch_at[prep.len()]];
    let mut touch_fill = touch_at.clone();
    // Per line, its best per-line offer: a per-line offer never changes in
    // the group (its line's total changes only when the line is taken), and
    // once the best is taken or its line is, the others on the line are
    // passed over, so only the best can be applied.
    let mut best_single: Vec<Option<LineOffer>> = vec![None; prep.len()];
    let mut multi: Vec<(usize, Kept)> = Vec::with_capacity(members.len());
    let mut buffers = Scratch::default();
    let mut work = Offer::default();
    let mut arena = Arena {
        parts: Vec::with_capacity(touching.len()),
        lines: Vec::with_capacity(touching.len() * 2),
    };
    for (m, c) in members.iter().enumerate() {
        if c.facts.per_line {
            let (mut raw, mut given_sum) = (0, 0);
            for cand in c.cands.iter().filter(|c| c.target) {
                let line = cand.line;
                let full = line_full(
                    &c.promo.reward,
                    prep,
                    line as usize,
                    state.cur[line as usize],
                )?;
                if full > 0 {
                    let given = full.min(room(prep, &state.cur, line)).max(0);
                    raw += full;
                    given_sum += given;
                    let key = (std::cmp::Reverse(given), c.tie(), prep.rank[line as usize]);
                    let best = &mut best_single[line as usize];
                    if given > 0 && best.as_ref().is_none_or(|b| key < b.key) {
                        *best = Some(LineOffer {
                            key,
                            member: m,
                            line,
                            full,
                            given,
                        });
                    }
                }
            }
            initial[m] = Some((raw, given_sum));
        } else {
            let slot = narrow_index(multi.len());
            for cand in c.cands {
                let at = &mut touch_fill[cand.line as usize];
                touching[*at] = slot;
                *at += 1;
            }
            evaluate_into(
                c.promo,
                prep,
                &state.cur,
                c.cands,
                c.budget_left,
                Detail::Figures,
                &mut buffers,
                &mut work,
            )?;
            let kept = arena.keep(&work);
            initial[m] = Some((kept.raw, kept.value));
            multi.push((m, kept));
        }
    }
    // Larger given first, then the member's tie, then the line's rank: a
    // total order (a member offers each line once), so unstable is exact.
    let mut singles: Vec<LineOffer> = best_single.into_iter().flatten().collect();
    singles.sort_unstable_by_key(|o| o.key);
    let member_of: Vec<usize> = multi.iter().map(|(m, _)| *m).collect();
    let entry = |slot: usize, value: i64, version: u32| -> HeapEntry {
        let c = members[member_of[slot]];
        (
            value,
            c.facts.priority,
            std::cmp::Reverse(c.id_rank),
            narrow_index(slot),
            version,
        )
    };
    let mut heap: std::collections::BinaryHeap<HeapEntry> = std::collections::BinaryHeap::new();
    for (slot, (_, offer)) in multi.iter().enumerate() {
        let value = offer.value;
        if value > 0 {
            heap.push(entry(slot, value, 0));
        }
    }
    let mut live = vec![true; multi.len()];
    let mut version = vec![0u32; multi.len()];
    let mut dirty = vec![false; multi.len()];
    // Offers that only lose value are re-evaluated lazily: their heap entry
    // stays as an upper bound until it reaches the top.
    let lazy: Vec<bool> = multi
        .iter()
        .map(|(m, _)| members[*m].facts.only_loses)
        .collect();
    let mut stale = vec![false; multi.len()];
    let mut dirty_list: Vec<u32> = Vec::new();
    let mut taken: Vec<u32> = Vec::new();
    let mut scratch: Vec<Cand> = Vec::new();
    let mut next = 0;
    loop {
        while next < singles.len() && claimed[singles[next].line as usize] {
            next += 1;
        }
        while let Some(&(_, _, _, slot, v)) = heap.peek() {
            let slot = slot as usize;
            if !live[slot] || version[slot] != v {
                heap.pop();
                continue;
            }
            if !stale[slot] {
                break;
            }
            // An upper bound at the top: evaluate it now, and let it fall
            // back in place if it lost.
            heap.pop();
            stale[slot] = false;
            let c = members[multi[slot].0];
            avail_into(c, claimed, &mut scratch);
            evaluate_into(
                c.promo,
                prep,
                &state.cur,
                &scratch,
                c.budget_left,
                Detail::Figures,
                &mut buffers,
                &mut work,
            )?;
            multi[slot].1 = arena.keep(&work);
            version[slot] += 1;
            let value = multi[slot].1.value;
            if value > 0 {
                heap.push(entry(slot, value, version[slot]));
            }
        }
        let single = singles.get(next);
        let best = heap.peek().copied();
        let take_multi = match (single, best) {
            (None, None) => break,
            (Some(_), None) => false,
            (None, Some(_)) => true,
            (Some(s), Some((value, priority, id_rank, _, _))) => {
                let single = members[s.member];
                (value, priority, id_rank)
                    > (
                        s.given,
                        single.facts.priority,
                        std::cmp::Reverse(single.id_rank),
                    )
            }
        };
        taken.clear();
        if take_multi {
            let slot = best.map_or(0, |b| b.3 as usize);
            heap.pop();
            let (m, mut offer) = multi[slot];
            if offer.deferred {
                // Its lines are as they were when it was evaluated (taking
                // one would have marked it), so this gives the same value.
                let c = members[m];
                avail_into(c, claimed, &mut scratch);
                evaluate_into(
                    c.promo,
                    prep,
                    &state.cur,
                    &scratch,
                    c.budget_left,
                    Detail::Parts,
                    &mut buffers,
                    &mut work,
                )?;
                debug_assert_eq!(work.value(), offer.value);
                offer = arena.keep(&work);
            }
            let index = members[m].index;
            for &(line, d) in arena.parts(&offer) {
                state.give(index, line, d);
            }
            outcomes[m].absorb_kept(&offer);
            taken.extend_from_slice(arena.claimed(&offer));
            live[slot] = false;
        } else if let Some(s) = single {
            state.give(members[s.member].index, s.line, s.given);
            let o = &mut outcomes[s.member];
            o.applied = true;
            o.floor_cut += s.full - s.given;
            taken.push(s.line);
            next += 1;
        }
        for &line in &taken {
            claimed[line as usize] = true;
            for &slot in &touching[touch_at[line as usize]..touch_at[line as usize + 1]] {
                let (s, depends) = (slot as usize, arena.depends(&multi[slot as usize].1));
                if lazy[s] && live[s] && depends.contains(&line) {
                    stale[s] = true;
                } else if live[s] && !dirty[s] && depends.contains(&line) {
                    dirty[slot as usize] = true;
                    dirty_list.push(slot);
                }
            }
        }
        for slot in dirty_list.drain(..) {
            let slot = slot as usize;
            dirty[slot] = false;
            let c = members[multi[slot].0];
            avail_into(c, claimed, &mut scratch);
            evaluate_into(
                c.promo,
                prep,
                &state.cur,
                &scratch,
                c.budget_left,
                Detail::Figures,
                &mut buffers,
                &mut work,
            )?;
            multi[slot].1 = arena.keep(&work);
            version[slot] += 1;
            let value = multi[slot].1.value;
            if value > 0 {
                heap.push(entry(slot, value, version[slot]));
            }
        }
    }
    Ok(initial)
}

fn first_by_priority(
    members: &[&Candidate<'_>],
    prep: &Prepared<'_>,
    state: &mut Running,
    claimed: &mut [bool],
    outcomes: &mut [Outcome],
) -> Result<(), AmountError> {
    let mut order: Vec<usize> = (0..members.len()).collect();
    order.sort_by_key(|&m| members[m].tie());
    let (mut lines, mut buffers, mut offer) = (Vec::new(), Scratch::default(), Offer::default());
    for m in order {
        let c = members[m];
        if c.facts.per_line {
            for cand in c.cands.iter().filter(|c| c.target) {
                if claimed[cand.line as usize] {
                    continue;
                }
                let full = line_full(
                    &c.promo.reward,
                    prep,
                    cand.line as usize,
                    state.cur[cand.line as usize],
                )?;
                let given = full.min(room(prep, &state.cur, cand.line)).max(0);
                if given > 0 {
                    state.give(c.index, cand.line, given);
                    claimed[cand.line as usize] = true;
                    outcomes[m].applied = true;
                    outcomes[m].floor_cut += full - given;
                }
            }
        } else {
            avail_into(c, claimed, &mut lines);
            evaluate_into(
                c.promo,
                prep,
                &state.cur,
                &lines,
                c.budget_left,
                Detail::Parts,
                &mut buffers,
                &mut offer,
            )?;
            if offer.value() > 0 {
                for &(line, d) in &offer.parts {
                    state.give(c.index, line, d);
                }
                for &line in &offer.claimed {
                    claimed[line as usize] = true;
                }
                outcomes[m].absorb(&offer);
            }
        }
    }
    Ok(())
}

/// What each member would have given on all its lines at the group's
/// start: `(raw, after floors and budget)`.
pub(crate) fn alone(
    c: &Candidate<'_>,
    prep: &Prepared<'_>,
    start: &[i64],
    (buffers, offer): (&mut Scratch, &mut Offer),
) -> Result<(i64, i64), AmountError> {
    if c.facts.per_line {
        c.cands
            .iter()
            .filter(|c| c.target)
            .try_fold((0, 0), |(r, g), cand| {
                let full = line_full(
                    &c.promo.reward,
                    prep,
                    cand.line as usize,
                    start[cand.line as usize],
                )?;
                Ok((r + full, g + full.min(room(prep, start, cand.line)).max(0)))
            })
    } else {
        let detail = Detail::Figures;
        evaluate_into(
            c.promo,
            prep,
            start,
            c.cands,
            c.budget_left,
            detail,
            buffers,
            offer,
        )?;
        Ok((offer.raw, offer.value()))
    }
}

/// Notes for the members of a group: why those that gave nothing did not,
/// and what cut the others short. `initial` holds what a member would give
/// alone at the group's start when it is already known.
pub(crate) fn explain(
    group: &str,
    members: &[&Candidate<'_>],
    prep: &Prepared<'_>,
    start: &[i64],
    outcomes: &[Outcome],
    initial: &[Option<(i64, i64)>],
    notes: &mut Vec<Note>,
) -> Result<(), AmountError> {
    let (mut buffers, mut offer) = (Scratch::default(), Offer::default());
    for ((c, o), known) in members.iter().zip(outcomes).zip(initial) {
        let note = |reason| Note::promotion(&c.promo.id, c.id_rank, reason);
        if o.applied {
            if o.floor_cut > 0 {
                let cut = Money::from_minor(o.floor_cut)?;
                notes.push(note(BlockReason::FloorReached { cut }));
            }
            if o.per_check_cut {
                let reason = BlockReason::LimitReached {
                    limit: Limit::PerCheck,
                };
                notes.push(note(reason));
            }
            if o.budget_cut {
                let reason = BlockReason::LimitReached {
                    limit: c.budget_limit,
                };
                notes.push(note(reason));
            }
            continue;
        }
        let (raw, given) = match known {
            Some(known) => *known,
            None => alone(c, prep, start, (&mut buffers, &mut offer))?,
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
                group: group.to_owned(),
            }
        };
        notes.push(note(reason));
    }
    Ok(())
}
