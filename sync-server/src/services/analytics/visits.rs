//! Each identified customer's visits, packed in one rollup row: the local
//! days they bought or returned on, at which store, with the figures of
//! each. The customer views read one row per customer however many records
//! there are, and any period or store filter is exact, because every day
//! is kept.
//!
//! The packing is a version byte (1) and then, per day and store in day
//! order, LEB128 varints: the day (days from 0001-01-01 for the first, then
//! the days since the one before), the store, and zigzag-coded the sales
//! checks, returns, sales, refunds, discount given (net of returns; kopecks)
//! and points earned. A typical day takes about a dozen bytes, so a
//! customer view reads little more than one small row per customer.

use chrono::{Datelike as _, NaiveDate};
use shared::ids::StoreId;

use crate::db::DbError;

const VERSION: u8 = 1;

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn put_signed(out: &mut Vec<u8>, n: i64) {
    put_varint(out, ((n << 1) ^ (n >> 63)) as u64);
}

/// Reads a varint at `at`, moving `at` past it.
fn varint(bytes: &[u8], at: &mut usize) -> Result<u64, DbError> {
    let mut n = 0_u64;
    for shift in (0..64).step_by(7) {
        let Some(&byte) = bytes.get(*at) else {
            return Err(DbError::other("customer visits cut short"));
        };
        *at += 1;
        n |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(n);
        }
    }
    Err(DbError::other("customer visits: a number too long"))
}

/// One day at one store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Visit {
    /// The store's local day.
    pub day: NaiveDate,
    /// The store.
    pub store: StoreId,
    /// What the customer's records added that day.
    pub figures: VisitFigures,
}

/// What a customer's records add to a day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VisitFigures {
    /// Sales checks.
    pub checks: i64,
    /// Return records.
    pub returns: i64,
    /// Paid on sales, kopecks.
    pub sales: i64,
    /// Refunded on returns (positive), kopecks.
    pub refunds: i64,
    /// Discount given, net of returns, kopecks.
    pub discount: i64,
    /// Points earned (net of claw-backs).
    pub points_earned: i64,
}

impl VisitFigures {
    /// Sales less refunds.
    #[must_use]
    pub fn revenue(&self) -> i64 {
        self.sales.saturating_sub(self.refunds)
    }

    /// Adds `other`.
    pub fn add(&mut self, other: &VisitFigures) {
        self.checks = self.checks.saturating_add(other.checks);
        self.returns = self.returns.saturating_add(other.returns);
        self.sales = self.sales.saturating_add(other.sales);
        self.refunds = self.refunds.saturating_add(other.refunds);
        self.discount = self.discount.saturating_add(other.discount);
        self.points_earned = self.points_earned.saturating_add(other.points_earned);
    }
}

/// A customer's visits, in (day, store) order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Visits(Vec<Visit>);

impl Visits {
    /// Unpacks a stored row.
    pub fn decode(bytes: &[u8]) -> Result<Self, DbError> {
        entries(bytes)?.collect::<Result<Vec<_>, _>>().map(Visits)
    }

    /// Adds a record's figures to its day at its store.
    pub fn add(&mut self, day: NaiveDate, store: StoreId, figures: &VisitFigures) {
        let key = (day, store);
        match self.0.binary_search_by(|v| (v.day, v.store).cmp(&key)) {
            Ok(i) => self.0[i].figures.add(figures),
            Err(i) => self.0.insert(
                i,
                Visit {
                    day,
                    store,
                    figures: *figures,
                },
            ),
        }
    }

    /// Packs the row.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + self.0.len() * 16);
        out.push(VERSION);
        let mut before = 0_i64;
        for v in &self.0 {
            let day = i64::from(v.day.num_days_from_ce());
            put_varint(&mut out, u64::try_from(day - before).unwrap_or(0));
            before = day;
            put_varint(&mut out, u64::try_from(v.store.get()).unwrap_or(0));
            let f = &v.figures;
            for n in [
                f.checks,
                f.returns,
                f.sales,
                f.refunds,
                f.discount,
                f.points_earned,
            ] {
                put_signed(&mut out, n);
            }
        }
        out
    }
}

/// One visit as a pass over many rows reads it: the day as its number
/// (days from 0001-01-01, which is day 1), which orders and subtracts as
/// the date does without building one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawVisit {
    /// The store's local day, as [`NaiveDate::num_days_from_ce`].
    pub day: i32,
    /// The store.
    pub store: StoreId,
    /// What the customer's records added that day.
    pub figures: VisitFigures,
}

impl RawVisit {
    /// The day as a date (every read day is one: [`for_each_raw`] checks).
    #[must_use]
    pub fn date(&self) -> NaiveDate {
        NaiveDate::from_num_days_from_ce_opt(self.day).unwrap_or(NaiveDate::MIN)
    }
}

/// Day numbers every date of which is certainly in the calendar (0001-01-01
/// to about the year 7900), checked without building the date.
const SURELY_DATES: std::ops::RangeInclusive<i64> = 1..=2_900_000;

/// A stored row's visits, read one at a time without unpacking them all.
struct Reader<'a> {
    body: &'a [u8],
    at: usize,
    day: i64,
}

impl Reader<'_> {
    /// A varint, one-byte ones (most of a row) without the loop.
    #[inline]
    fn varint(&mut self) -> Result<u64, DbError> {
        if let Some(&byte) = self.body.get(self.at)
            && byte < 0x80
        {
            self.at += 1;
            return Ok(u64::from(byte));
        }
        varint(self.body, &mut self.at)
    }

    #[inline]
    fn signed(&mut self) -> Result<i64, DbError> {
        let n = self.varint()?;
        Ok(((n >> 1) as i64) ^ -((n & 1) as i64))
    }

    /// The next visit, `None` at the row's end.
    #[inline]
    fn next(&mut self) -> Option<Result<RawVisit, DbError>> {
        if self.at >= self.body.len() {
            return None;
        }
        Some(self.visit())
    }

    fn visit(&mut self) -> Result<RawVisit, DbError> {
        let step = self.varint()?;
        self.day = self
            .day
            .saturating_add(i64::try_from(step).unwrap_or(i64::MAX));
        let store = self.varint()?;
        let checks = self.signed()?;
        let returns = self.signed()?;
        let sales = self.signed()?;
        let refunds = self.signed()?;
        let discount = self.signed()?;
        let points_earned = self.signed()?;
        let day = self.day;
        let day = if SURELY_DATES.contains(&day) {
            i32::try_from(day).ok()
        } else {
            i32::try_from(day)
                .ok()
                .filter(|d| NaiveDate::from_num_days_from_ce_opt(*d).is_some())
        }
        .ok_or_else(|| DbError::other(format!("customer visits: day {day}")))?;
        Ok(RawVisit {
            day,
            store: i64::try_from(store)
                .ok()
                .and_then(|s| StoreId::new(s).ok())
                .ok_or_else(|| DbError::other(format!("customer visits: store {store}")))?,
            figures: VisitFigures {
                checks,
                returns,
                sales,
                refunds,
                discount,
                points_earned,
            },
        })
    }
}

/// The row after its version byte.
fn body(bytes: &[u8]) -> Result<&[u8], DbError> {
    match bytes.split_first() {
        Some((&VERSION, body)) => Ok(body),
        Some((version, _)) => Err(DbError::other(format!(
            "customer visits packed as version {version}, this server reads {VERSION}"
        ))),
        None => Err(DbError::other("customer visits empty")),
    }
}

/// Calls `each` with the visits of a stored row, in order, without
/// unpacking them all; the first damaged visit ends the row with its error.
pub fn for_each(bytes: &[u8], mut each: impl FnMut(Visit)) -> Result<(), DbError> {
    for_each_raw(bytes, |v| {
        each(Visit {
            day: v.date(),
            store: v.store,
            figures: v.figures,
        });
    })
}

/// [`for_each`] with each day as its number: what a pass over every
/// customer reads, with no date built per visit and nothing allocated.
pub fn for_each_raw(bytes: &[u8], mut each: impl FnMut(&RawVisit)) -> Result<(), DbError> {
    let mut reader = Reader {
        body: body(bytes)?,
        at: 0,
        day: 0,
    };
    while let Some(visit) = reader.next() {
        each(&visit?);
    }
    Ok(())
}

/// The visits of a stored row, in order, without unpacking them all.
pub fn entries(bytes: &[u8]) -> Result<impl Iterator<Item = Result<Visit, DbError>> + '_, DbError> {
    let mut reader = Reader {
        body: body(bytes)?,
        at: 0,
        day: 0,
    };
    let mut failed = false;
    Ok(std::iter::from_fn(move || {
        if failed {
            return None;
        }
        let visit = reader.next()?.map(|v| Visit {
            day: v.date(),
            store: v.store,
            figures: v.figures,
        });
        failed = visit.is_err();
        Some(visit)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
    }

    #[test]
    fn visits_merge_by_day_and_store_and_survive_packing() {
        let (a, b) = (StoreId::new(1).unwrap(), StoreId::new(7).unwrap());
        let sale = |sales, discount, points_earned| VisitFigures {
            checks: 1,
            sales,
            discount,
            points_earned,
            ..VisitFigures::default()
        };
        let mut visits = Visits::default();
        visits.add(day(5), b, &sale(1_000, 100, 10));
        visits.add(day(2), a, &sale(250, 0, 2));
        visits.add(day(5), b, &sale(500, 50, 5));
        let refund = VisitFigures {
            returns: 1,
            refunds: 300,
            points_earned: -3,
            ..VisitFigures::default()
        };
        visits.add(day(5), a, &refund);
        let packed = visits.encode();
        assert!(
            packed.len() < 1 + 3 * 16,
            "a dozen bytes a day: {}",
            packed.len()
        );
        let back = Visits::decode(&packed).unwrap();
        assert_eq!(back, visits);
        let days: Vec<_> = back.0.iter().map(|v| (v.day, v.store, v.figures)).collect();
        assert_eq!(
            days,
            vec![
                (day(2), a, sale(250, 0, 2)),
                (day(5), a, refund),
                (
                    day(5),
                    b,
                    VisitFigures {
                        checks: 2,
                        ..sale(1_500, 150, 15)
                    }
                )
            ]
        );
        assert_eq!(days[1].2.revenue(), -300);
    }

    #[test]
    fn a_damaged_row_is_an_error_not_a_panic() {
        assert!(Visits::decode(&[]).is_err());
        assert!(Visits::decode(&[2]).is_err());
        assert_eq!(Visits::decode(&[1]).unwrap(), Visits::default());
        // Cut inside an entry.
        assert!(Visits::decode(&[1, 0x80]).is_err());
        assert!(Visits::decode(&[1, 5, 1, 2]).is_err());
        // A number longer than 64 bits, a day past the calendar, store 0.
        let mut row = vec![1];
        row.extend_from_slice(&[0xff; 11]);
        assert!(Visits::decode(&row).is_err());
        assert!(Visits::decode(&[1, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(Visits::decode(&[1, 5, 0, 0, 0, 0, 0, 0, 0]).is_err());
        // Extremes survive.
        let mut visits = Visits::default();
        let day = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let extreme = VisitFigures {
            checks: i64::MAX,
            returns: i64::MIN,
            sales: i64::MIN,
            refunds: i64::MAX,
            discount: -1,
            points_earned: 0,
        };
        visits.add(day, StoreId::new(i64::MAX).unwrap(), &extreme);
        assert_eq!(Visits::decode(&visits.encode()).unwrap(), visits);
    }

    #[test]
    fn the_raw_pass_reads_what_decoding_reads() {
        let (a, b) = (StoreId::new(3).unwrap(), StoreId::new(900).unwrap());
        let mut visits = Visits::default();
        for (i, d) in [1_u32, 2, 2, 9, 28].into_iter().enumerate() {
            let n = i64::try_from(i).unwrap();
            visits.add(
                day(d),
                if i % 2 == 0 { a } else { b },
                &VisitFigures {
                    checks: n + 1,
                    returns: n % 2,
                    sales: 100_000 * (n + 1),
                    refunds: 300 * n,
                    discount: -n,
                    points_earned: 1_000_000_000 * n,
                },
            );
        }
        visits.add(
            NaiveDate::from_ymd_opt(2031, 1, 1).unwrap(),
            b,
            &VisitFigures::default(),
        );
        let packed = visits.encode();
        let mut raw = Vec::new();
        for_each_raw(&packed, |v| raw.push(*v)).unwrap();
        let decoded = Visits::decode(&packed).unwrap().0;
        assert_eq!(raw.len(), decoded.len());
        for (r, v) in raw.iter().zip(&decoded) {
            assert_eq!(r.day, v.day.num_days_from_ce());
            assert_eq!(r.date(), v.day);
            assert_eq!((r.store, r.figures), (v.store, v.figures));
        }
        // A damaged row is the same error either way, after the visits
        // before the damage.
        let cut = &packed[..packed.len() - 1];
        let mut seen = 0;
        assert!(for_each_raw(cut, |_| seen += 1).is_err());
        assert_eq!(seen, raw.len() - 1);
        assert!(for_each_raw(&[], |_| {}).is_err());
        assert!(for_each_raw(&[2], |_| {}).is_err());
    }
}
