//! Each identified customer's visits, packed in one rollup row: the local
//! days they bought or returned on, at which store, with the figures of
//! each. The customer views read one row per customer however many records
//! there are, and any period or store filter is exact, because every day
//! is kept.
//!
//! The packing is a version byte (1) and then 52 bytes per day and store,
//! in day order, little-endian: the day (days from 0001-01-01, `i32`), the
//! store (`i64`), the sales checks and the returns (`i32` each), then the
//! sales, refunds, discount given (net of returns; kopecks) and points earned
//! (`i64` each).

use chrono::{Datelike as _, NaiveDate};
use shared::ids::StoreId;

use crate::db::DbError;

const VERSION: u8 = 1;
const ENTRY: usize = 52;

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

fn narrow(n: i64) -> i32 {
    i32::try_from(n).unwrap_or(if n < 0 { i32::MIN } else { i32::MAX })
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
        let mut out = Vec::with_capacity(1 + self.0.len() * ENTRY);
        out.push(VERSION);
        for v in &self.0 {
            out.extend_from_slice(&v.day.num_days_from_ce().to_le_bytes());
            out.extend_from_slice(&v.store.get().to_le_bytes());
            let f = &v.figures;
            out.extend_from_slice(&narrow(f.checks).to_le_bytes());
            out.extend_from_slice(&narrow(f.returns).to_le_bytes());
            for n in [f.sales, f.refunds, f.discount, f.points_earned] {
                out.extend_from_slice(&n.to_le_bytes());
            }
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
        let small = |at: usize| i32::from_le_bytes(e[at..at + 4].try_into().unwrap_or_default());
        let wide = |at: usize| i64::from_le_bytes(e[at..at + 8].try_into().unwrap_or_default());
        let (day, store) = (small(0), wide(4));
        Ok(Visit {
            day: NaiveDate::from_num_days_from_ce_opt(day)
                .ok_or_else(|| DbError::other(format!("customer visits: day {day}")))?,
            store: StoreId::new(store)
                .map_err(|_| DbError::other(format!("customer visits: store {store}")))?,
            figures: VisitFigures {
                checks: i64::from(small(12)),
                returns: i64::from(small(16)),
                sales: wide(20),
                refunds: wide(28),
                discount: wide(36),
                points_earned: wide(44),
            },
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
        assert_eq!(packed.len(), 1 + 3 * ENTRY);
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
        assert!(Visits::decode(&[1, 0, 0]).is_err());
        let mut row = vec![1];
        row.extend_from_slice(&[0xff; ENTRY]);
        assert!(Visits::decode(&row).is_err());
    }
}
