//! Each identified customer's visits, packed in one rollup row: the local
//! days they bought or returned on, at which store, with the sales checks
//! and net revenue of each. The customer views read one row per customer
//! however many records there are, and any period or store filter is
//! exact, because every day is kept.
//!
//! The packing is a version byte (1) and then 24 bytes per day and store,
//! in day order: the day (days from 0001-01-01, `i32`), the store (`i64`),
//! the checks (`i32`) and the revenue in kopecks (`i64`), little-endian.

use chrono::{Datelike as _, NaiveDate};
use shared::ids::StoreId;

use crate::db::DbError;

const VERSION: u8 = 1;
const ENTRY: usize = 24;

/// One day at one store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Visit {
    /// The store's local day.
    pub day: NaiveDate,
    /// The store.
    pub store: StoreId,
    /// Sales checks that day.
    pub checks: i64,
    /// Net revenue that day, kopecks (negative when only returns).
    pub revenue: i64,
}

/// A customer's visits, in (day, store) order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Visits(Vec<Visit>);

impl Visits {
    /// Unpacks a stored row.
    pub fn decode(bytes: &[u8]) -> Result<Self, DbError> {
        entries(bytes)?.collect::<Result<Vec<_>, _>>().map(Visits)
    }

    /// Adds a record's checks and revenue to its day at its store.
    pub fn add(&mut self, day: NaiveDate, store: StoreId, checks: i64, revenue: i64) {
        let key = (day, store);
        match self.0.binary_search_by(|v| (v.day, v.store).cmp(&key)) {
            Ok(i) => {
                self.0[i].checks = self.0[i].checks.saturating_add(checks);
                self.0[i].revenue = self.0[i].revenue.saturating_add(revenue);
            }
            Err(i) => self.0.insert(
                i,
                Visit {
                    day,
                    store,
                    checks,
                    revenue,
                },
            ),
        }
    }

    /// Packs the row.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + self.0.len() * ENTRY);
        out.push(VERSION);
        for v in &self.0 {
            out.extend_from_slice(&v.day.num_days_from_ce().to_le_bytes());
            out.extend_from_slice(&v.store.get().to_le_bytes());
            let checks = i32::try_from(v.checks).unwrap_or(if v.checks < 0 {
                i32::MIN
            } else {
                i32::MAX
            });
            out.extend_from_slice(&checks.to_le_bytes());
            out.extend_from_slice(&v.revenue.to_le_bytes());
        }
        out
    }
}

/// The visits of a stored row, in order, without unpacking them all.
pub fn entries(bytes: &[u8]) -> Result<impl Iterator<Item = Result<Visit, DbError>> + '_, DbError> {
    let body = match bytes.split_first() {
        Some((&VERSION, body)) if body.len() % ENTRY == 0 => body,
        Some((&VERSION, _)) => return Err(DbError::other("customer visits cut short")),
        Some((version, _)) => {
            return Err(DbError::other(format!(
                "customer visits packed as version {version}, this server reads {VERSION}"
            )));
        }
        None => return Err(DbError::other("customer visits empty")),
    };
    Ok(body.chunks_exact(ENTRY).map(|e| {
        let field = |at: usize, n: usize| &e[at..at + n];
        let day = i32::from_le_bytes(field(0, 4).try_into().unwrap_or_default());
        let store = i64::from_le_bytes(field(4, 8).try_into().unwrap_or_default());
        let checks = i32::from_le_bytes(field(12, 4).try_into().unwrap_or_default());
        let revenue = i64::from_le_bytes(field(16, 8).try_into().unwrap_or_default());
        Ok(Visit {
            day: NaiveDate::from_num_days_from_ce_opt(day)
                .ok_or_else(|| DbError::other(format!("customer visits: day {day}")))?,
            store: StoreId::new(store)
                .map_err(|_| DbError::other(format!("customer visits: store {store}")))?,
            checks: i64::from(checks),
            revenue,
        })
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
        let mut visits = Visits::default();
        visits.add(day(5), b, 1, 1_000);
        visits.add(day(2), a, 1, 250);
        visits.add(day(5), b, 1, 500);
        visits.add(day(5), a, 0, -300);
        let packed = visits.encode();
        assert_eq!(packed.len(), 1 + 3 * ENTRY);
        let back = Visits::decode(&packed).unwrap();
        assert_eq!(back, visits);
        let days: Vec<_> = back.0.iter().map(|v| (v.day, v.store, v.checks, v.revenue)).collect();
        assert_eq!(
            days,
            vec![
                (day(2), a, 1, 250),
                (day(5), a, 0, -300),
                (day(5), b, 2, 1_500)
            ]
        );
    }

    #[test]
    fn a_damaged_row_is_an_error_not_a_panic() {
        assert!(Visits::decode(&[]).is_err());
        assert!(Visits::decode(&[2]).is_err());
        assert!(Visits::decode(&[1, 0, 0]).is_err());
        let mut row = vec![1];
        row.extend_from_slice(&[0xff; ENTRY]);
        assert!(Visits::decode(&row).is_err());
    }
}
