//! A customer's points standing, replayed from their ledger: what is
//! available, what is pending and until when, what expires and when, what
//! has expired, and the overdrafts on the way.
//!
//! The caller passes the entries and the instant `now`; nothing here reads
//! a clock, so the till and the server replay the same entries alike.
//!
//! # The model
//!
//! - **Order.** Entries apply in the order of [`LedgerEntry::order`] (the
//!   server's sequence), never by wall time. The replay keeps a clock that
//!   never goes back: each entry applies at the latest wall time seen so
//!   far, so a register whose clock is behind cannot make points mature or
//!   expire twice. The standing is taken at `max(that clock, now)`.
//! - **Batches.** Every entry that earns points opens a [`Batch`]. It is
//!   *pending* until `earned_at + pending_days`, then *available*, and
//!   expires `expire_days` after it was earned (never when the programme
//!   has no expiry). The days are the entry's own [`LedgerEntry::terms`]
//!   (the programme's when the record was priced), so changing the
//!   programme later re-dates no points already earned; an entry without
//!   them takes the replay's policy. Expired points are counted in
//!   [`PointsStanding::expired`].
//! - **Spending** takes available batches oldest first (FIFO, by order).
//!   What no available batch covers is an **overdraft**: the balance goes
//!   negative by that much (a debt), the entry is listed in
//!   [`PointsStanding::overdrafts`], and batches pay the debt first as
//!   they become available. Tills only spend available points, so an
//!   overdraft comes from offline redemptions on several tills or a return
//!   of points already spent.
//! - **Claw-backs** (a return's negative `earned`) come out of the batch the
//!   original sale opened: its unspent points (pending or available), then
//!   the part of it that expired (those points are gone already, so the
//!   customer loses nothing twice); what is left is taken like a spend,
//!   oldest available batch first, and may overdraw.
//! - **Restored points** (a return's negative `redeemed`) first pay any
//!   debt, then go back to the batches the original sale spent them from,
//!   newest first, keeping those batches' dates (a batch that has expired
//!   meanwhile takes them as expired: a return never extends an expiry).
//!   Points the original did not spend from a batch (it is unknown, or
//!   overdrew) come back as a new batch, available at once (they were
//!   available when spent) and expiring like points earned at the return.
//! - Within one entry: claw-back, then spend, then restore, then earn.
//! - **Holds.** Points a sale earned while HQ checks it (the server priced
//!   it differently) are [`PointsHold::Held`]: their batch is pending
//!   until [`held_until`] (never, in practice), so no till and no replay
//!   makes them available; they still expire on their date. Once HQ
//!   releases them the entry is clear and they mature as earned. Points
//!   HQ voided ([`PointsHold::Voided`]) were never earned: the entry earns
//!   nothing and a return of that sale claws nothing back.
//!
//! For any entries, `available + pending = earned − redeemed − expired`
//! (the sums of the entries' `earned` and `redeemed`, claw-backs and
//! restorations included), so available never exceeds it.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};

use chrono::{DateTime, TimeDelta, Utc};
use foldhash::{HashMap, HashSet};
use serde::{Deserialize, Serialize};

use crate::ids::{RegisterId, Seq};
use crate::ruleset::Programme;

/// When points become available and when they expire.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PointsPolicy {
    /// Days from earning to available.
    pub pending_days: u32,
    /// Days from earning to expiry; none: never.
    pub expire_days: Option<u32>,
}

impl PointsPolicy {
    /// The programme's policy.
    #[must_use]
    pub fn of(programme: &Programme) -> Self {
        PointsPolicy {
            pending_days: programme.points_pending_days,
            expire_days: programme.points_expire_days,
        }
    }

    fn matures(&self, earned_at: DateTime<Utc>) -> DateTime<Utc> {
        earned_at + TimeDelta::days(i64::from(self.pending_days))
    }

    fn expires(&self, earned_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.expire_days
            .map(|d| earned_at + TimeDelta::days(i64::from(d)))
    }
}

/// A ledger entry's identity: the record it comes from, or the server's
/// adjustment. At one [`LedgerEntry::order`] a record comes before an
/// adjustment (the variants' order), and adjustments by their id.
///
/// Its serde form is untagged, so a record's key reads and writes exactly
/// as when the key was a struct of the record alone
/// (`{"register_id":1,"seq":5}`), and an adjustment's is `{"id":7}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum EntryKey {
    /// A purchase record.
    Record {
        /// The register that wrote the record.
        register_id: RegisterId,
        /// Its seq there.
        seq: Seq,
    },
    /// A points credit or debit made on the server, not tied to a record
    /// (support's adjustment, a referral reward): its id.
    Adjustment {
        /// The adjustment's id.
        id: i64,
    },
}

impl EntryKey {
    /// The key of a record.
    #[must_use]
    pub const fn record(register_id: RegisterId, seq: Seq) -> Self {
        EntryKey::Record { register_id, seq }
    }

    /// The record's register and seq; `None` for an adjustment.
    #[must_use]
    pub const fn as_record(&self) -> Option<(RegisterId, Seq)> {
        match *self {
            EntryKey::Record { register_id, seq } => Some((register_id, seq)),
            EntryKey::Adjustment { .. } => None,
        }
    }
}

/// One record of the customer, or one adjustment, as the points ledger
/// sees it. An adjustment credits as `earned` (with terms that make it
/// available at once) or debits as `redeemed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LedgerEntry {
    /// The order entries apply in: the server's sequence.
    pub order: i64,
    /// Which record or adjustment.
    pub key: EntryKey,
    /// The record's wall time (the register's clock).
    pub at: DateTime<Utc>,
    /// Points earned; negative for points a return claws back.
    pub earned: i64,
    /// Points spent; negative for points a return gives back.
    pub redeemed: i64,
    /// For a return, the sale it returns.
    pub original: Option<EntryKey>,
    /// The programme's terms when the record was priced, which the points
    /// it earns keep whatever the programme says later; `None`: the
    /// replay's policy.
    pub terms: Option<PointsPolicy>,
    /// Whether HQ holds or voided the points it earned.
    pub hold: PointsHold,
}

/// HQ's hold on the points a sale earned, while the server's pricing of it
/// is checked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PointsHold {
    /// No hold: the points mature as the terms say.
    #[default]
    Clear,
    /// Held: pending until HQ releases them.
    Held,
    /// Voided by HQ: the entry earns nothing.
    Voided,
}

/// The date held points show as pending until: the last second of year
/// 9999, which every RFC 3339 parser reads, so a till built before holds
/// keeps them pending too.
#[must_use]
pub fn held_until() -> DateTime<Utc> {
    DateTime::from_timestamp(253_402_300_799, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The entries as the replay applies them: a voided entry earns nothing,
/// and a return of a voided sale claws nothing back.
/// Most ledgers have no voided entry, and are replayed as they are.
fn without_voided(entries: &[LedgerEntry]) -> std::borrow::Cow<'_, [LedgerEntry]> {
    if entries.iter().all(|e| e.hold != PointsHold::Voided) {
        return std::borrow::Cow::Borrowed(entries);
    }
    let voided: std::collections::HashSet<EntryKey> = entries
        .iter()
        .filter(|e| e.hold == PointsHold::Voided)
        .map(|e| e.key)
        .collect();
    entries
        .iter()
        .map(|e| {
            let mut e = *e;
            if e.hold == PointsHold::Voided {
                e.earned = e.earned.min(0);
            }
            if e.earned < 0 && e.original.is_some_and(|o| voided.contains(&o)) {
                e.earned = 0;
            }
            e
        })
        .collect::<Vec<_>>()
        .into()
}

/// Points earned by one entry, as they stand.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Batch {
    /// The entry that earned them (or the return that gave them back).
    pub source: EntryKey,
    /// When they were earned (the replay's clock).
    pub earned_at: DateTime<Utc>,
    /// When they become available.
    pub matures_at: DateTime<Utc>,
    /// When they expire, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// Points not spent, clawed back or expired.
    pub remaining: i64,
    /// Points of it that expired.
    pub expired: i64,
    matured: bool,
    lapsed: bool,
}

/// Why an entry overdrew the balance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OverdraftCause {
    /// It spent more than was available.
    Redemption,
    /// It clawed back points already spent.
    ClawBack,
}

/// An entry that left the balance negative.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Overdraft {
    /// Which entry.
    pub key: EntryKey,
    /// Its order.
    pub order: i64,
    /// Its wall time.
    pub at: DateTime<Utc>,
    /// Why.
    pub cause: OverdraftCause,
    /// Points it took the balance below what was available (net of what
    /// the same record earned and made available at once).
    pub points: i64,
    /// The available balance after it (negative).
    pub balance_after: i64,
}

/// Points waiting to become available.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PendingPoints {
    /// How many.
    pub points: i64,
    /// When they become available.
    pub until: DateTime<Utc>,
    /// When they expire, if ever (so a cached standing can be aged; see
    /// [`PointsSnapshot::available_at`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<DateTime<Utc>>,
    /// Held by HQ while the sale that earned them is checked (`until` is
    /// then [`held_until`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub held: bool,
}

/// A standing as a till caches it: the available points when it was taken,
/// with what was pending and what was going to expire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PointsSnapshot<'a> {
    /// Available when taken.
    pub available: i64,
    /// Pending then.
    pub pending: &'a [PendingPoints],
    /// Available then, with an expiry.
    pub expiring: &'a [ExpiringPoints],
}

impl PointsSnapshot<'_> {
    /// The available points at `t`, no earlier than the snapshot: pending
    /// points that became available are added, points that expired are
    /// taken off. Exact unless the customer was overdrawn when it was
    /// taken (points maturing then pay the debt before they can expire, so
    /// this may count fewer than the server will).
    #[must_use]
    pub fn available_at(&self, t: DateTime<Utc>) -> i64 {
        let matured: i64 = self
            .pending
            .iter()
            .filter(|p| p.until <= t)
            .map(|p| p.points)
            .sum();
        let lapsed: i64 = self
            .pending
            .iter()
            // Only points that matured were added; held points that lapse
            // while held never were.
            .filter(|p| p.until <= t && p.expires.is_some_and(|e| e <= t))
            .map(|p| p.points)
            .sum::<i64>()
            + self
                .expiring
                .iter()
                .filter(|e| e.on <= t)
                .map(|e| e.points)
                .sum::<i64>();
        self.available + matured - lapsed
    }

    /// The points still pending at `t`: earned, not available yet, not
    /// lapsed.
    #[must_use]
    pub fn pending_at(&self, t: DateTime<Utc>) -> i64 {
        self.pending
            .iter()
            .filter(|p| p.until > t && p.expires.is_none_or(|e| e > t))
            .map(|p| p.points)
            .sum()
    }
}

/// Available points that will expire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExpiringPoints {
    /// How many.
    pub points: i64,
    /// When they expire.
    pub on: DateTime<Utc>,
}

/// A customer's points at an instant.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PointsStanding {
    /// Spendable now; negative while overdrawn.
    pub available: i64,
    /// Not available yet, soonest first.
    pub pending: Vec<PendingPoints>,
    /// Available points with an expiry, soonest first.
    pub expiring: Vec<ExpiringPoints>,
    /// Points that expired unspent.
    pub expired: i64,
    /// The sum of `earned` over the entries.
    pub earned: i64,
    /// The sum of `redeemed` over the entries.
    pub redeemed: i64,
    /// Every batch, in order.
    pub batches: Vec<Batch>,
    /// Entries that left the balance negative, in order.
    pub overdrafts: Vec<Overdraft>,
    /// The instant the standing is taken at: `max(now, latest wall time)`.
    pub at: DateTime<Utc>,
}

impl PointsStanding {
    /// Points pending in total.
    #[must_use]
    pub fn pending_total(&self) -> i64 {
        self.pending.iter().map(|p| p.points).sum()
    }

    /// Points of the pending that HQ holds.
    #[must_use]
    pub fn held_total(&self) -> i64 {
        self.pending
            .iter()
            .filter(|p| p.held)
            .map(|p| p.points)
            .sum()
    }
}

/// Batches due at instants (to mature, or to lapse), soonest first.
/// Batches are opened in the order of the replay's clock, which never goes
/// back, so under one policy their instants come in order: those wait in a
/// queue, and only an instant earlier than the last queued (another
/// policy's terms, a restoration) goes to a heap. A long ledger replays in
/// linear time, however many batches wait.
#[derive(Default)]
struct Schedule {
    in_order: VecDeque<(DateTime<Utc>, usize)>,
    others: BinaryHeap<Reverse<(DateTime<Utc>, usize)>>,
}

impl Schedule {
    fn push(&mut self, at: DateTime<Utc>, i: usize) {
        if self.in_order.back().is_none_or(|&(last, _)| last <= at) {
            self.in_order.push_back((at, i));
        } else {
            self.others.push(Reverse((at, i)));
        }
    }

    /// Moves the batches due at `now` into `due`, sorted by batch index.
    fn take_due(&mut self, now: DateTime<Utc>, due: &mut Vec<usize>) {
        due.clear();
        while let Some(&(at, i)) = self.in_order.front() {
            if at > now {
                break;
            }
            self.in_order.pop_front();
            due.push(i);
        }
        while let Some(&Reverse((at, i))) = self.others.peek() {
            if at > now {
                break;
            }
            self.others.pop();
            due.push(i);
        }
        if due.len() > 1 {
            due.sort_unstable();
        }
    }
}

/// No draw: the end of an entry's list of draws.
const NO_DRAW: usize = usize::MAX;

/// Points an entry spent from a batch, not yet given back.
struct Draw {
    batch: usize,
    points: i64,
    /// The same entry's draw before this one, or [`NO_DRAW`].
    earlier: usize,
}

/// The replay's state.
struct Replay {
    policy: PointsPolicy,
    clock: Option<DateTime<Utc>>,
    batches: Vec<Batch>,
    /// The keys some entry names as its `original`: only their batches
    /// and draws are ever looked up, so only theirs are kept (a long
    /// ledger then fills no map as large as itself).
    referenced: HashSet<EntryKey>,
    /// Batch index by the (referenced) entry that opened it.
    opened: HashMap<EntryKey, usize>,
    /// Every draw; an entry's draws are linked newest first from
    /// `last_draw`.
    draws: Vec<Draw>,
    last_draw: HashMap<EntryKey, usize>,
    debt: i64,
    expired: i64,
    overdrafts: Vec<Overdraft>,
    /// Batches not matured yet, and batches that will expire, so advancing
    /// the clock touches only the batches whose time came.
    to_mature: Schedule,
    to_lapse: Schedule,
    /// Available batches with points left, oldest first: a batch is in it
    /// exactly when it is matured, not lapsed and holds points. Kept
    /// lazily: batch indices are queued (in order, mostly, as batches
    /// mature in order; else in a heap) and one that left is dropped only
    /// when it reaches the front. `queued` tells which are in either.
    spendable_in_order: VecDeque<usize>,
    spendable_others: BinaryHeap<Reverse<usize>>,
    queued: Vec<bool>,
    /// The points left in available batches.
    available_sum: i64,
    /// Scratch for the batches due.
    due: Vec<usize>,
}

impl Replay {
    fn new(policy: PointsPolicy, entries: usize, referenced: HashSet<EntryKey>) -> Self {
        Replay {
            policy,
            clock: None,
            batches: Vec::with_capacity(entries),
            opened: HashMap::with_capacity_and_hasher(referenced.len(), Default::default()),
            referenced,
            draws: Vec::new(),
            last_draw: HashMap::default(),
            debt: 0,
            expired: 0,
            overdrafts: Vec::new(),
            to_mature: Schedule::default(),
            to_lapse: Schedule::default(),
            spendable_in_order: VecDeque::new(),
            spendable_others: BinaryHeap::new(),
            queued: Vec::with_capacity(entries),
            available_sum: 0,
            due: Vec::new(),
        }
    }

    /// Opens a batch; returns its index.
    fn open(&mut self, batch: Batch) -> usize {
        let i = self.batches.len();
        self.to_mature.push(batch.matures_at, i);
        if let Some(e) = batch.expires_at {
            self.to_lapse.push(e, i);
        }
        self.batches.push(batch);
        self.queued.push(false);
        i
    }

    /// Whether batch `i` can be spent from.
    fn is_spendable(&self, i: usize) -> bool {
        let b = &self.batches[i];
        b.matured && !b.lapsed && b.remaining > 0
    }

    /// Notes that batch `i` became spendable.
    fn mark_spendable(&mut self, i: usize) {
        if self.queued[i] {
            return;
        }
        self.queued[i] = true;
        if self.spendable_in_order.back().is_none_or(|&last| last < i) {
            self.spendable_in_order.push_back(i);
        } else {
            self.spendable_others.push(Reverse(i));
        }
    }

    /// The oldest spendable batch, dropping those that left on the way.
    fn first_spendable(&mut self) -> Option<usize> {
        loop {
            let front = self.spendable_in_order.front().copied();
            let other = self.spendable_others.peek().map(|r| r.0);
            let (i, from_queue) = match (front, other) {
                (None, None) => return None,
                (Some(f), None) => (f, true),
                (None, Some(o)) => (o, false),
                (Some(f), Some(o)) => {
                    if f < o {
                        (f, true)
                    } else {
                        (o, false)
                    }
                }
            };
            if self.is_spendable(i) {
                return Some(i);
            }
            if from_queue {
                self.spendable_in_order.pop_front();
            } else {
                self.spendable_others.pop();
            }
            self.queued[i] = false;
        }
    }

    /// Matures and expires batches up to `t`; maturing batches pay the debt
    /// first, oldest batch first.
    fn advance(&mut self, t: DateTime<Utc>) {
        self.clock = Some(self.clock.map_or(t, |c| c.max(t)));
        let now = self.clock.unwrap_or(t);
        let mut due = std::mem::take(&mut self.due);
        self.to_mature.take_due(now, &mut due);
        for &i in &due {
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
                    self.mark_spendable(i);
                }
            }
        }
        self.to_lapse.take_due(now, &mut due);
        for &i in &due {
            let b = &mut self.batches[i];
            if b.lapsed {
                continue;
            }
            b.lapsed = true;
            if b.matured {
                self.available_sum -= b.remaining;
            }
            b.expired += b.remaining;
            self.expired += b.remaining;
            b.remaining = 0;
        }
        self.due = due;
    }

    fn available(&self) -> i64 {
        self.available_sum - self.debt
    }

    /// Takes `points` out of available batch `i`, keeping the sums.
    fn take_available(&mut self, i: usize, points: i64) {
        self.batches[i].remaining -= points;
        self.available_sum -= points;
    }

    /// Takes up to `points` from available batches oldest first; with
    /// `key`, records what it took from each as that entry's draws.
    /// Returns the points no batch covered.
    fn spend(&mut self, points: i64, key: Option<EntryKey>) -> i64 {
        // Draws no later entry can give back are not kept.
        let key = key.filter(|k| self.referenced.contains(k));
        let mut left = points;
        let mut last = key.map_or(NO_DRAW, |k| {
            self.last_draw.get(&k).copied().unwrap_or(NO_DRAW)
        });
        let before = last;
        while left > 0 {
            let Some(i) = self.first_spendable() else {
                break;
            };
            let take = left.min(self.batches[i].remaining);
            self.take_available(i, take);
            left -= take;
            if key.is_some() {
                self.draws.push(Draw {
                    batch: i,
                    points: take,
                    earlier: last,
                });
                last = self.draws.len() - 1;
            }
        }
        if let Some(k) = key
            && last != before
        {
            self.last_draw.insert(k, last);
        }
        self.debt += left;
        left
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
        self.spend(left, None)
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
        let mut d = original
            .and_then(|o| self.last_draw.get(&o).copied())
            .unwrap_or(NO_DRAW);
        while d != NO_DRAW && left > 0 {
            let draw = &mut self.draws[d];
            let (i, earlier) = (draw.batch, draw.earlier);
            let back = left.min(draw.points);
            draw.points -= back;
            left -= back;
            let b = &mut self.batches[i];
            if b.lapsed {
                b.expired += back;
                self.expired += back;
            } else {
                b.remaining += back;
                if b.matured {
                    self.available_sum += back;
                    if back > 0 {
                        self.mark_spendable(i);
                    }
                }
            }
            d = earlier;
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
        if self.referenced.contains(&key) {
            self.opened.insert(key, i);
        }
    }

    fn apply(&mut self, e: &LedgerEntry) {
        self.advance(e.at);
        let debt_before = self.debt;
        let mut cause = None;
        if e.earned < 0 && self.claw_back(-e.earned, e.original) > 0 {
            cause = Some(OverdraftCause::ClawBack);
        }
        if e.redeemed > 0 && self.spend(e.redeemed, Some(e.key)) > 0 {
            cause = Some(OverdraftCause::Redemption);
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
    let mut sorted = without_voided(entries);
    // A ledger is read in order, mostly: copied and sorted only when it
    // is not.
    if !sorted.is_sorted_by_key(|e| (e.order, e.key)) {
        sorted.to_mut().sort_by_key(|e| (e.order, e.key));
    }
    let referenced = sorted.iter().filter_map(|e| e.original).collect();
    let mut r = Replay::new(policy, sorted.len(), referenced);
    for e in sorted.iter() {
        r.apply(e);
    }
    r.advance(now);
    let at = r.clock.unwrap_or(now);
    let mut pending: BTreeMap<(DateTime<Utc>, Option<DateTime<Utc>>), i64> = BTreeMap::new();
    // Batches expire in the order they were opened, mostly: sorted, then
    // summed by day.
    let mut expiring: Vec<(DateTime<Utc>, i64)> = Vec::new();
    for b in r.batches.iter().filter(|b| !b.lapsed && b.remaining > 0) {
        if !b.matured {
            *pending.entry((b.matures_at, b.expires_at)).or_default() += b.remaining;
        } else if let Some(on) = b.expires_at {
            expiring.push((on, b.remaining));
        }
    }
    expiring.sort_by_key(|&(on, _)| on);
    let mut merged: Vec<ExpiringPoints> = Vec::new();
    for (on, points) in expiring {
        match merged.last_mut() {
            Some(last) if last.on == on => last.points += points,
            _ => merged.push(ExpiringPoints { points, on }),
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
        expiring: merged,
        expired: r.expired,
        earned: sorted.iter().map(|e| e.earned).sum(),
        redeemed: sorted.iter().map(|e| e.redeemed).sum(),
        batches: r.batches,
        overdrafts: r.overdrafts,
        at,
    }
}

#[cfg(test)]
mod reference;

#[cfg(test)]
mod tests;
