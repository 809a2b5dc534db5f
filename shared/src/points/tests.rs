//! The points replay: examples of each rule, and properties over random
//! ledgers.

use chrono::{DateTime, TimeDelta, TimeZone as _, Utc};
use proptest::prelude::*;

use super::*;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

fn days(n: i64) -> DateTime<Utc> {
    t0() + TimeDelta::days(n)
}

fn key(seq: i64) -> EntryKey {
    EntryKey::record(RegisterId::new(1).unwrap(), Seq::new(seq).unwrap())
}

fn entry(seq: i64, at: DateTime<Utc>, earned: i64, redeemed: i64) -> LedgerEntry {
    LedgerEntry {
        order: seq,
        key: key(seq),
        at,
        earned,
        redeemed,
        original: None,
        terms: None,
        hold: PointsHold::Clear,
    }
}

fn ret(seq: i64, at: DateTime<Utc>, of: i64, clawed: i64, restored: i64) -> LedgerEntry {
    LedgerEntry {
        original: Some(key(of)),
        ..entry(seq, at, -clawed, -restored)
    }
}

const PENDING_14: PointsPolicy = PointsPolicy {
    pending_days: 14,
    expire_days: Some(365),
};

/// Points keep the terms they were earned under: a programme that later
/// shortens the expiry or lengthens the pending period re-dates nothing.
#[test]
fn earned_points_keep_the_terms_they_were_earned_under() {
    let earned_then = LedgerEntry {
        terms: Some(PointsPolicy {
            pending_days: 0,
            expire_days: None,
        }),
        ..entry(1, days(0), 100, 0)
    };
    let earned_now = entry(2, days(50), 40, 0);
    let stricter = PointsPolicy {
        pending_days: 14,
        expire_days: Some(30),
    };
    let s = replay(stricter, &[earned_then, earned_now], days(70));
    assert_eq!(s.available, 100 + 40, "the first 100 never expire");
    assert_eq!(s.expiring[0].on, days(80), "the 40 expire on today's terms");
    let s = replay(stricter, &[earned_then, earned_now], days(81));
    assert_eq!((s.available, s.expired), (100, 40));
}

/// An adjustment at the order of the last record stored before it comes
/// after that record: a credit (available at once) pays what it spent; a
/// debit takes the oldest available batch.
#[test]
fn adjustments_replay_after_the_record_of_their_order() {
    let credit = LedgerEntry {
        order: 2,
        key: EntryKey::Adjustment { id: 1 },
        at: days(1),
        earned: 50,
        redeemed: 0,
        original: None,
        terms: Some(PointsPolicy {
            pending_days: 0,
            expire_days: Some(365),
        }),
        hold: PointsHold::Clear,
    };
    let debit = LedgerEntry {
        key: EntryKey::Adjustment { id: 2 },
        earned: 0,
        redeemed: 30,
        terms: None,
        ..credit
    };
    let ledger = [
        debit,
        credit,
        entry(1, days(0), 100, 0),
        entry(2, days(1), 0, 40),
    ];
    let s = replay(PENDING_14, &ledger, days(2));
    // The record of order 2 spends 40 with nothing available (a debt of
    // 40); the credit pays it and leaves 10; the debit takes those and
    // owes 20 until the sale's 100 mature.
    assert_eq!(s.available, 50 - 40 - 30);
    assert_eq!(s.pending_total(), 100);
    let s = replay(PENDING_14, &ledger, days(15));
    assert_eq!(s.available, 100 + 50 - 40 - 30);
    assert!(
        EntryKey::record(RegisterId::new(9).unwrap(), Seq::new(9).unwrap())
            < EntryKey::Adjustment { id: 1 }
    );
}

#[test]
fn a_record_key_keeps_the_serde_form_it_had_as_a_struct() {
    // The form of the key before adjustments existed: the record alone.
    let old = r#"{"register_id":3,"seq":41}"#;
    let record = EntryKey::record(RegisterId::new(3).unwrap(), Seq::new(41).unwrap());
    assert_eq!(serde_json::from_str::<EntryKey>(old).unwrap(), record);
    assert_eq!(serde_json::to_string(&record).unwrap(), old);
    let adjustment = EntryKey::Adjustment { id: 7 };
    assert_eq!(serde_json::to_string(&adjustment).unwrap(), r#"{"id":7}"#);
    assert_eq!(
        serde_json::from_str::<EntryKey>(r#"{"id":7}"#).unwrap(),
        adjustment
    );
    // A batch or an overdraft of an older writer still reads.
    let overdraft: Overdraft = serde_json::from_str(
        r#"{"key":{"register_id":3,"seq":41},"order":9,"at":"2026-03-01T12:00:00Z",
            "cause":"redemption","points":5,"balance_after":-5}"#,
    )
    .unwrap();
    assert_eq!(overdraft.key, record);
    assert!(serde_json::from_str::<EntryKey>(r#"{"register_id":0,"seq":1}"#).is_err());
    assert!(serde_json::from_str::<EntryKey>(r#"{"seq":1}"#).is_err());
}

#[test]
fn points_are_pending_for_the_period_then_available_until_they_expire() {
    let ledger = [entry(1, days(0), 100, 0)];
    let s = replay(PENDING_14, &ledger, days(1));
    assert_eq!(s.available, 0);
    assert_eq!(
        s.pending,
        vec![PendingPoints {
            points: 100,
            until: days(14),
            expires: Some(days(365)),
            held: false,
        }]
    );
    assert!(s.expiring.is_empty());

    let s = replay(PENDING_14, &ledger, days(14));
    assert_eq!((s.available, s.pending_total()), (100, 0));
    assert_eq!(
        s.expiring,
        vec![ExpiringPoints {
            points: 100,
            on: days(365)
        }]
    );

    let s = replay(PENDING_14, &ledger, days(365));
    assert_eq!((s.available, s.expired), (0, 100));
    assert!(s.expiring.is_empty());
}

#[test]
fn spending_takes_the_oldest_available_batch_first() {
    let ledger = [
        entry(1, days(0), 100, 0),
        entry(2, days(10), 50, 0),
        entry(3, days(30), 0, 120),
    ];
    let s = replay(PENDING_14, &ledger, days(30));
    assert_eq!(s.available, 30);
    assert_eq!(
        s.batches.iter().map(|b| b.remaining).collect::<Vec<_>>(),
        [0, 30]
    );
    assert_eq!(
        s.expiring,
        vec![ExpiringPoints {
            points: 30,
            on: days(375)
        }]
    );
    assert!(s.overdrafts.is_empty());
    // The first batch was spent, so nothing expires on day 365.
    assert_eq!(replay(PENDING_14, &ledger, days(366)).expired, 0);
}

#[test]
fn pending_points_cannot_be_spent_and_a_redemption_beyond_available_overdraws() {
    let ledger = [
        entry(1, days(0), 100, 0),
        entry(2, days(20), 40, 0),
        // Two tills offline spend 80 each of the 100 available.
        entry(3, days(21), 0, 80),
        entry(4, days(21), 0, 80),
    ];
    let s = replay(PENDING_14, &ledger, days(22));
    assert_eq!(s.available, -60);
    assert_eq!(s.pending_total(), 40);
    assert_eq!(
        s.overdrafts,
        vec![Overdraft {
            key: key(4),
            order: 4,
            at: days(21),
            cause: OverdraftCause::Redemption,
            points: 60,
            balance_after: -60,
        }]
    );
    // The pending batch pays the debt first when it becomes available.
    let s = replay(PENDING_14, &ledger, days(34));
    assert_eq!((s.available, s.pending_total()), (-20, 0));
    assert_eq!(s.batches[1].remaining, 0);
}

#[test]
fn a_return_claws_back_its_own_batch_even_while_pending() {
    let ledger = [
        entry(1, days(0), 100, 0),
        entry(2, days(20), 30, 0),
        ret(3, days(21), 2, 30, 0),
    ];
    let s = replay(PENDING_14, &ledger, days(21));
    assert_eq!((s.available, s.pending_total()), (100, 0));
    assert!(s.overdrafts.is_empty());
}

#[test]
fn clawing_back_spent_points_overdraws_and_is_listed() {
    let ledger = [
        entry(1, days(0), 50, 0),
        entry(2, days(15), 0, 50),
        ret(3, days(16), 1, 50, 0),
    ];
    let s = replay(PENDING_14, &ledger, days(16));
    assert_eq!(s.available, -50);
    assert_eq!(s.overdrafts.len(), 1);
    assert_eq!(s.overdrafts[0].cause, OverdraftCause::ClawBack);
    assert_eq!(s.overdrafts[0].points, 50);
}

#[test]
fn clawing_back_expired_points_costs_nothing_more() {
    let policy = PointsPolicy {
        pending_days: 0,
        expire_days: Some(30),
    };
    let ledger = [entry(1, days(0), 50, 0), ret(2, days(40), 1, 50, 0)];
    let s = replay(policy, &ledger, days(40));
    assert_eq!((s.available, s.expired), (0, 0));
    assert!(s.overdrafts.is_empty());
}

#[test]
fn restored_points_go_back_to_their_batch_and_keep_its_expiry() {
    let policy = PointsPolicy {
        pending_days: 0,
        expire_days: Some(100),
    };
    let ledger = [
        entry(1, days(0), 100, 0),
        // A sale paid with 60 points, then returned.
        entry(2, days(10), 0, 60),
        ret(3, days(20), 2, 0, 60),
    ];
    let s = replay(policy, &ledger, days(20));
    assert_eq!(s.available, 100);
    assert_eq!(s.batches.len(), 1);
    assert_eq!(
        s.expiring,
        vec![ExpiringPoints {
            points: 100,
            on: days(100)
        }]
    );
    // Returned after the batch expired: the points come back expired.
    let late = [ledger[0], ledger[1], ret(3, days(120), 2, 0, 60)];
    let s = replay(policy, &late, days(120));
    assert_eq!((s.available, s.expired), (0, 100));
}

#[test]
fn restored_points_first_pay_the_debt() {
    let ledger = [
        entry(1, days(0), 10, 0),
        entry(2, days(20), 0, 10),
        entry(3, days(20), 0, 10),
        ret(4, days(21), 3, 0, 10),
    ];
    let s = replay(PENDING_14, &ledger, days(21));
    assert_eq!(s.available, 0);
    assert_eq!(s.overdrafts.len(), 1);
}

#[test]
fn a_register_clock_behind_never_steps_the_replay_back() {
    let policy = PointsPolicy {
        pending_days: 0,
        expire_days: Some(30),
    };
    // The second record comes from a till whose clock is 40 days behind:
    // the batch already expired at the first record's time.
    let ledger = [
        entry(1, days(0), 50, 0),
        entry(2, days(31), 0, 0),
        entry(3, days(-9), 0, 50),
    ];
    let s = replay(policy, &ledger, days(31));
    assert_eq!(s.expired, 50);
    assert_eq!(s.available, -50);
}

#[test]
fn the_policy_comes_from_the_programme() {
    let programme = Programme {
        points_pending_days: 14,
        points_expire_days: Some(365),
        ..Programme::default()
    };
    assert_eq!(PointsPolicy::of(&programme), PENDING_14);
    assert_eq!(
        PointsPolicy::of(&Programme::default()),
        PointsPolicy::default()
    );
}

/// What a random ledger is made of.
#[derive(Clone, Debug)]
enum Op {
    Earn(i64, PointsHold),
    Redeem(i64),
    /// A return of an earlier entry (by index): share of its earned and
    /// redeemed points, in percent.
    Return(usize, i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (1..500i64, prop_oneof![
            6 => Just(PointsHold::Clear),
            1 => Just(PointsHold::Held),
            1 => Just(PointsHold::Voided),
        ])
            .prop_map(|(p, hold)| Op::Earn(p, hold)),
        2 => (1..400i64).prop_map(Op::Redeem),
        1 => (any::<prop::sample::Index>().prop_map(|i| i.index(1000)), 1..=100i64)
            .prop_map(|(i, pct)| Op::Return(i, pct)),
    ]
}

fn policy() -> impl Strategy<Value = PointsPolicy> {
    (0..30u32, prop::option::of(1..400u32)).prop_map(|(pending_days, extra)| PointsPolicy {
        pending_days,
        expire_days: extra.map(|e| pending_days + e),
    })
}

/// Entries from ops, at hours from `t0()` (some going back, as skewed
/// register clocks do).
fn ledger(ops: &[(Op, i64)]) -> Vec<LedgerEntry> {
    let mut out: Vec<LedgerEntry> = Vec::new();
    for (i, (op, hours)) in ops.iter().enumerate() {
        let seq = i64::try_from(i).unwrap() + 1;
        let at = t0() + TimeDelta::hours(*hours);
        let e = match op {
            Op::Earn(p, hold) => LedgerEntry {
                hold: *hold,
                ..entry(seq, at, *p, 0)
            },
            Op::Redeem(p) => entry(seq, at, 0, *p),
            Op::Return(of, pct) => {
                let sales: Vec<&LedgerEntry> =
                    out.iter().filter(|e| e.original.is_none()).collect();
                if sales.is_empty() {
                    entry(seq, at, 0, 0)
                } else {
                    let o = sales[of % sales.len()];
                    let clawed = o.earned * pct / 100;
                    let restored = o.redeemed * pct / 100;
                    ret(
                        seq,
                        at,
                        o.key.as_record().expect("a record").1.get(),
                        clawed,
                        restored,
                    )
                }
            }
        };
        out.push(e);
    }
    out
}

fn ops() -> impl Strategy<Value = Vec<(Op, i64)>> {
    prop::collection::vec((op(), -200..20_000i64), 0..40)
}

/// Points HQ holds stay pending whatever the date, a till's cached
/// standing never makes them available, and once released they mature as
/// earned; voided points were never earned and their return claws
/// nothing back.
#[test]
fn held_points_wait_for_hq_and_voided_points_were_never_earned() {
    let held = LedgerEntry {
        hold: PointsHold::Held,
        ..entry(2, days(1), 70, 0)
    };
    let ledger = [entry(1, days(0), 100, 0), held];
    let s = replay(PENDING_14, &ledger, days(300));
    assert_eq!(
        (s.available, s.held_total(), s.pending_total()),
        (100, 70, 70)
    );
    // They still expire on their date.
    let s = replay(PENDING_14, &ledger, days(400));
    assert_eq!((s.available, s.held_total(), s.expired), (0, 0, 170));
    let taken = replay(PENDING_14, &ledger, days(20));
    assert_eq!((taken.available, taken.held_total()), (100, 70));
    let snapshot = PointsSnapshot {
        available: taken.available,
        pending: &taken.pending,
        expiring: &taken.expiring,
    };
    assert_eq!(snapshot.available_at(days(300)), 100);
    assert!(
        taken
            .pending
            .iter()
            .all(|p| p.held && p.until == held_until())
    );
    let json = serde_json::to_string(&taken.pending[0]).unwrap();
    assert!(json.contains("\"held\":true"), "{json}");
    assert!(json.contains("9999-12-31T23:59:59Z"), "{json}");

    // Released: the same entry, clear, matures 14 days after it was earned.
    let released = [entry(1, days(0), 100, 0), entry(2, days(1), 70, 0)];
    assert_eq!(replay(PENDING_14, &released, days(15)).available, 170);

    // Voided: it earns nothing, and a return of half of it claws nothing.
    let voided = [
        entry(1, days(0), 100, 0),
        LedgerEntry {
            hold: PointsHold::Voided,
            ..entry(2, days(1), 70, 0)
        },
        ret(3, days(2), 2, 35, 0),
    ];
    let s = replay(PENDING_14, &voided, days(20));
    assert_eq!((s.available, s.pending_total(), s.earned), (100, 0, 100));
    assert!(s.overdrafts.is_empty());
}

#[test]
fn a_cached_standing_ages_like_the_replay() {
    let ledger = [
        entry(1, days(0), 100, 0),
        entry(2, days(10), 50, 0),
        entry(3, days(20), 0, 30),
    ];
    let taken = replay(PENDING_14, &ledger, days(20));
    let snapshot = PointsSnapshot {
        available: taken.available,
        pending: &taken.pending,
        expiring: &taken.expiring,
    };
    for day in [20, 23, 24, 100, 364, 365, 374, 375, 400] {
        assert_eq!(
            snapshot.available_at(days(day)),
            replay(PENDING_14, &ledger, days(day)).available,
            "day {day}"
        );
    }
}

proptest! {
    #[test]
    fn available_never_exceeds_earned_less_redeemed_less_expired(
        policy in policy(),
        ops in ops(),
        now_hours in 0..30_000i64,
    ) {
        let ledger = ledger(&ops);
        let s = replay(policy, &ledger, t0() + TimeDelta::hours(now_hours));
        prop_assert!(s.available <= s.earned - s.redeemed - s.expired);
        prop_assert_eq!(s.available + s.pending_total(), s.earned - s.redeemed - s.expired);
        prop_assert!(s.expired >= 0);
        prop_assert!(s.batches.iter().all(|b| b.remaining >= 0 && b.expired >= 0));
        prop_assert!(s.overdrafts.iter().all(|o| o.points > 0 && o.balance_after < 0));
    }

    #[test]
    fn replaying_is_deterministic_whatever_order_the_entries_arrive_in(
        policy in policy(),
        ops in ops(),
        now_hours in 0..30_000i64,
        seed in any::<u64>(),
    ) {
        let ledger = ledger(&ops);
        let now = t0() + TimeDelta::hours(now_hours);
        let first = replay(policy, &ledger, now);
        prop_assert_eq!(&first, &replay(policy, &ledger, now));
        let mut shuffled = ledger.clone();
        // A fixed permutation from the seed: rotate, then reverse halves.
        let n = shuffled.len().max(1);
        shuffled.rotate_left(usize::try_from(seed % n as u64).unwrap());
        shuffled.reverse();
        prop_assert_eq!(&first, &replay(policy, &shuffled, now));
    }

    #[test]
    fn a_cached_standing_ages_exactly_unless_overdrawn(
        policy in policy(),
        ops in ops(),
        now_hours in 0..30_000i64,
        later_hours in 0..30_000i64,
    ) {
        let ledger = ledger(&ops);
        let taken = replay(policy, &ledger, t0() + TimeDelta::hours(now_hours));
        let snapshot = PointsSnapshot {
            available: taken.available,
            pending: &taken.pending,
            expiring: &taken.expiring,
        };
        let later = taken.at + TimeDelta::hours(later_hours);
        let aged = snapshot.available_at(later);
        let truth = replay(policy, &ledger, later).available;
        if taken.available >= 0 {
            prop_assert_eq!(aged, truth);
        } else {
            prop_assert!(aged <= truth, "aged {} above {}", aged, truth);
        }
    }

    #[test]
    fn spending_is_oldest_first(
        ops in prop::collection::vec(
            prop_oneof![
                (1..500i64).prop_map(|p| Op::Earn(p, PointsHold::Clear)),
                (1..400i64).prop_map(Op::Redeem)
            ],
            0..40,
        ),
    ) {
        let timed: Vec<(Op, i64)> = ops.into_iter().zip(0..).collect();
        let ledger = ledger(&timed);
        let s = replay(PointsPolicy::default(), &ledger, t0() + TimeDelta::days(1));
        // Spent batches come first: once a batch holds points, every later
        // one is untouched.
        let earned: Vec<i64> = ledger.iter().filter(|e| e.earned > 0).map(|e| e.earned).collect();
        let mut untouched_from = None;
        for (i, b) in s.batches.iter().enumerate() {
            if untouched_from.is_some() {
                prop_assert_eq!(b.remaining, earned[i], "batch {} was spent before batch {}", i, i - 1);
            } else if b.remaining > 0 {
                untouched_from = Some(i);
            }
        }
    }
}

/// Entries of `ledger(ops)` with their own terms where `terms` gives them
/// (cycled), as records priced under several programmes are.
fn with_terms(ops: &[(Op, i64)], terms: &[Option<PointsPolicy>]) -> Vec<LedgerEntry> {
    let mut entries = ledger(ops);
    if !terms.is_empty() {
        for (i, e) in entries.iter_mut().enumerate() {
            e.terms = terms[i % terms.len()];
        }
    }
    entries
}

/// A long ledger in the harness's shape: earning every day, a redemption
/// every third entry, a return every fiftieth.
#[test]
fn a_long_ledger_replays_as_the_reference_does() {
    let entries: Vec<LedgerEntry> = (1..=3_000i64)
        .map(|i| {
            let at = days(0) + TimeDelta::hours(i * 3);
            if i % 50 == 0 {
                ret(i, at, i - 1, 5, 6)
            } else {
                entry(i, at, 10, if i % 3 == 2 { 12 } else { 0 })
            }
        })
        .collect();
    for now in [days(0), days(100), days(380), days(800)] {
        assert_eq!(
            replay(PENDING_14, &entries, now),
            reference::replay(PENDING_14, &entries, now)
        );
    }
}

proptest! {
    /// The replay and the straightforward reference agree exactly, whatever
    /// the terms each entry carries (so batches mature and lapse out of
    /// the order they were opened in).
    #[test]
    fn the_replay_matches_the_reference(
        policy in policy(),
        ops in prop::collection::vec((op(), -200..20_000i64), 0..80),
        terms in prop::collection::vec(prop::option::of(policy()), 0..4),
        now_hours in 0..30_000i64,
    ) {
        let entries = with_terms(&ops, &terms);
        let now = t0() + TimeDelta::hours(now_hours);
        prop_assert_eq!(replay(policy, &entries, now), reference::replay(policy, &entries, now));
    }
}
