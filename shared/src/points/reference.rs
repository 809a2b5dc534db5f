//! The replay as it was first written, for clarity rather than speed: a
//! `BTreeSet` of spendable batches, heaps of every maturity and expiry,
//! a vector of draws per entry. The differential test holds the replay
//! to it exactly.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};

use chrono::{DateTime, Utc};

use super::{
    Batch, EntryKey, ExpiringPoints, LedgerEntry, Overdraft, OverdraftCause, PendingPoints,
    PointsHold, PointsPolicy, PointsStanding, held_until, without_voided,
};

/// The replay's state.
struct Replay {
    policy: PointsPolicy,
    clock: Option<DateTime<Utc>>,
    batches: Vec<Batch>,
    /// Batch index by the entry that opened it.
    opened: HashMap<EntryKey, usize>,
    /// What each entry spent from which batch, not yet given back.
    draws: HashMap<EntryKey, Vec<(usize, i64)>>,
    debt: i64,
    expired: i64,
    overdrafts: Vec<Overdraft>,
    /// Batches not matured yet, soonest first, and batches that will
    /// expire, soonest first, so advancing the clock touches only the
    /// batches whose time came (a long ledger replays in n log n).
    to_mature: BinaryHeap<Reverse<(DateTime<Utc>, usize)>>,
    to_lapse: BinaryHeap<Reverse<(DateTime<Utc>, usize)>>,
    /// Available batches with points left, oldest first.
    spendable: BTreeSet<usize>,
    /// The points left in available batches.
    available_sum: i64,
}

impl Replay {
    fn new(policy: PointsPolicy) -> Self {
        Replay {
            policy,
            clock: None,
            batches: Vec::new(),
            opened: HashMap::new(),
            draws: HashMap::new(),
            debt: 0,
            expired: 0,
            overdrafts: Vec::new(),
            to_mature: BinaryHeap::new(),
            to_lapse: BinaryHeap::new(),
            spendable: BTreeSet::new(),
            available_sum: 0,
        }
    }

    /// Opens a batch; returns its index.
    fn open(&mut self, batch: Batch) -> usize {
        let i = self.batches.len();
        self.to_mature.push(Reverse((batch.matures_at, i)));
        if let Some(e) = batch.expires_at {
            self.to_lapse.push(Reverse((e, i)));
        }
        self.batches.push(batch);
        i
    }

    /// Due entries of `heap` at `now`, by batch index.
    fn due(
        heap: &mut BinaryHeap<Reverse<(DateTime<Utc>, usize)>>,
        now: DateTime<Utc>,
    ) -> Vec<usize> {
        let mut due = Vec::new();
        while let Some(Reverse((at, i))) = heap.peek().copied() {
            if at > now {
                break;
            }
            heap.pop();
            due.push(i);
        }
        due.sort_unstable();
        due
    }

    /// Matures and expires batches up to `t`; maturing batches pay the debt
    /// first, oldest batch first.
    fn advance(&mut self, t: DateTime<Utc>) {
        self.clock = Some(self.clock.map_or(t, |c| c.max(t)));
        let now = self.clock.unwrap_or(t);
        for i in Self::due(&mut self.to_mature, now) {
            let b = &mut self.batches[i];
            if b.matured {
                continue;
            }
            b.matured = true;
            let pay = self.debt.min(b.remaining);
            b.remaining -= pay;
            self.debt -= pay;
            if !b.lapsed {
                self.available_sum += b.remaining;
                if b.remaining > 0 {
                    self.spendable.insert(i);
                }
            }
        }
        for i in Self::due(&mut self.to_lapse, now) {
            let b = &mut self.batches[i];
            if b.lapsed {
                continue;
            }
            b.lapsed = true;
            if b.matured {
                self.available_sum -= b.remaining;
                self.spendable.remove(&i);
            }
            b.expired += b.remaining;
            self.expired += b.remaining;
            b.remaining = 0;
        }
    }

    fn available(&self) -> i64 {
        self.available_sum - self.debt
    }

    /// Takes `points` out of available batch `i`, keeping the sums.
    fn take_available(&mut self, i: usize, points: i64) {
        let b = &mut self.batches[i];
        b.remaining -= points;
        self.available_sum -= points;
        if b.remaining == 0 {
            self.spendable.remove(&i);
        }
    }

    /// Takes up to `points` from available batches oldest first; returns
    /// what it took from each.
    fn spend(&mut self, points: i64) -> (Vec<(usize, i64)>, i64) {
        let mut left = points;
        let mut taken = Vec::new();
        while left > 0 {
            let Some(&i) = self.spendable.first() else {
                break;
            };
            let take = left.min(self.batches[i].remaining);
            self.take_available(i, take);
            left -= take;
            taken.push((i, take));
        }
        self.debt += left;
        (taken, left)
    }

    fn claw_back(&mut self, points: i64, original: Option<EntryKey>) -> i64 {
        let mut left = points;
        if let Some(&i) = original.and_then(|o| self.opened.get(&o)) {
            let from_remaining = left.min(self.batches[i].remaining);
            if self.batches[i].matured && !self.batches[i].lapsed {
                self.take_available(i, from_remaining);
            } else {
                self.batches[i].remaining -= from_remaining;
            }
            left -= from_remaining;
            let b = &mut self.batches[i];
            let from_expired = left.min(b.expired);
            b.expired -= from_expired;
            self.expired -= from_expired;
            left -= from_expired;
        }
        // A claw-back is not a spend the customer can take back, so its
        // draws are not kept.
        self.spend(left).1
    }

    fn restore(
        &mut self,
        points: i64,
        key: EntryKey,
        original: Option<EntryKey>,
        terms: PointsPolicy,
    ) {
        let mut left = points;
        let pay = self.debt.min(left);
        self.debt -= pay;
        left -= pay;
        if let Some(draws) = original.and_then(|o| self.draws.get_mut(&o)) {
            for (i, drawn) in draws.iter_mut().rev() {
                if left == 0 {
                    break;
                }
                let back = left.min(*drawn);
                *drawn -= back;
                left -= back;
                let b = &mut self.batches[*i];
                if b.lapsed {
                    b.expired += back;
                    self.expired += back;
                } else {
                    b.remaining += back;
                    if b.matured {
                        self.available_sum += back;
                        if back > 0 {
                            self.spendable.insert(*i);
                        }
                    }
                }
            }
        }
        if left > 0 {
            let now = self.clock.unwrap_or_default();
            self.open(Batch {
                source: key,
                earned_at: now,
                matures_at: now,
                expires_at: terms.expires(now),
                remaining: left,
                expired: 0,
                matured: false,
                lapsed: false,
            });
        }
    }

    fn earn(&mut self, points: i64, key: EntryKey, terms: PointsPolicy, hold: PointsHold) {
        let now = self.clock.unwrap_or_default();
        let i = self.open(Batch {
            source: key,
            earned_at: now,
            matures_at: if hold == PointsHold::Held {
                held_until()
            } else {
                terms.matures(now)
            },
            expires_at: terms.expires(now),
            remaining: points,
            expired: 0,
            matured: false,
            lapsed: false,
        });
        self.opened.insert(key, i);
    }

    fn apply(&mut self, e: &LedgerEntry) {
        self.advance(e.at);
        let debt_before = self.debt;
        let mut cause = None;
        if e.earned < 0 && self.claw_back(-e.earned, e.original) > 0 {
            cause = Some(OverdraftCause::ClawBack);
        }
        if e.redeemed > 0 {
            let (taken, short) = self.spend(e.redeemed);
            self.draws.entry(e.key).or_default().extend(taken);
            if short > 0 {
                cause = Some(OverdraftCause::Redemption);
            }
        }
        let terms = e.terms.unwrap_or(self.policy);
        if e.redeemed < 0 {
            self.restore(-e.redeemed, e.key, e.original, terms);
        }
        if e.earned > 0 {
            self.earn(e.earned, e.key, terms, e.hold);
        }
        // Points available at once (no pending period) pay the debt now.
        self.advance(e.at);
        if let Some(cause) = cause
            && self.debt > debt_before
            && self.debt > 0
        {
            self.overdrafts.push(Overdraft {
                key: e.key,
                order: e.order,
                at: e.at,
                cause,
                points: self.debt - debt_before,
                balance_after: self.available(),
            });
        }
    }
}

/// Replays `entries` (in any order: they are sorted by
/// [`LedgerEntry::order`]) under `policy` and takes the standing at `now`.
#[must_use]
pub fn replay(policy: PointsPolicy, entries: &[LedgerEntry], now: DateTime<Utc>) -> PointsStanding {
    let entries = without_voided(entries);
    let mut sorted: Vec<&LedgerEntry> = entries.iter().collect();
    sorted.sort_by_key(|e| (e.order, e.key));
    let mut r = Replay::new(policy);
    for e in &sorted {
        r.apply(e);
    }
    r.advance(now);
    let at = r.clock.unwrap_or(now);
    let mut pending: BTreeMap<(DateTime<Utc>, Option<DateTime<Utc>>), i64> = BTreeMap::new();
    let mut expiring: BTreeMap<DateTime<Utc>, i64> = BTreeMap::new();
    for b in r.batches.iter().filter(|b| !b.lapsed && b.remaining > 0) {
        if !b.matured {
            *pending.entry((b.matures_at, b.expires_at)).or_default() += b.remaining;
        } else if let Some(on) = b.expires_at {
            *expiring.entry(on).or_default() += b.remaining;
        }
    }
    PointsStanding {
        available: r.available(),
        pending: pending
            .into_iter()
            .map(|((until, expires), points)| PendingPoints {
                points,
                until,
                expires,
                held: until == held_until(),
            })
            .collect(),
        expiring: expiring
            .into_iter()
            .map(|(on, points)| ExpiringPoints { points, on })
            .collect(),
        expired: r.expired,
        earned: sorted.iter().map(|e| e.earned).sum(),
        redeemed: sorted.iter().map(|e| e.redeemed).sum(),
        batches: r.batches,
        overdrafts: r.overdrafts,
        at,
    }
}
