//! The merchant's statistics (`GET …/stats` and the HQ dashboard): totals,
//! identified customers, per store, per store and local day, per gender,
//! per age band and per promotion, summed from the analytics rollups that
//! ingest keeps (never from every record), so the figures are exact sums
//! in kopecks at any volume.
//!
//! Checks are sale records; returns count separately and subtract their
//! refund (the magnitude of their total) from revenue; discount and points
//! are net of returns, each on its own local day. A record's day is its
//! register time in its store's time zone; ages are taken on that day.
//! Outputs are sorted by store id, day, segment and promotion id.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use crate::wire::admin::{DaySales, PromotionStats, SalesFigures, SegmentSales, Stats, StoreSales};
use chrono::NaiveDate;
use shared::identity::{AGE_BANDS, age_band};
use shared::ids::{CustomerId, MerchantId, PromotionId};
use shared::money::{AmountError, Money, round_half_up};

use super::analytics::visits::{self, VisitFigures};
use crate::db::analytics::{GroupKey, RollupFilter, StoreFigures, StoreGrouping};
use crate::db::{DbError, Repository, Tx};

/// The local days to include, both ends inclusive.
#[derive(Debug, Clone, Copy, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DayRange {
    /// The first day.
    pub from: Option<NaiveDate>,
    /// The last day.
    pub to: Option<NaiveDate>,
}

/// Why statistics could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    /// Storage failed, or the merchant does not exist.
    #[error(transparent)]
    Db(#[from] DbError),
    /// A rollup names a promotion id that does not parse.
    #[error("a rollup names promotion {0:?}, which is not a promotion id")]
    Promotion(String),
    /// A sum left the money range.
    #[error(transparent)]
    Amount(#[from] AmountError),
}

/// The statistics of merchants.
#[derive(Clone)]
pub struct Statistics {
    repo: Arc<dyn Repository>,
}

impl Statistics {
    /// The service over `repo`.
    pub fn new(repo: Arc<dyn Repository>) -> Self {
        Statistics { repo }
    }

    /// The merchant's statistics over the local days in `range`.
    pub async fn stats(&self, merchant: MerchantId, range: DayRange) -> Result<Stats, StatsError> {
        self.repo
            .read(move |tx| Ok(compute(tx, merchant, range)))
            .await?
    }
}

/// The widest days a stored day can be.
fn bounds(range: DayRange) -> (NaiveDate, NaiveDate) {
    let first = NaiveDate::from_ymd_opt(1, 1, 1).unwrap_or(NaiveDate::MIN);
    let last = NaiveDate::from_ymd_opt(9999, 12, 31).unwrap_or(NaiveDate::MAX);
    (range.from.unwrap_or(first), range.to.unwrap_or(last))
}

fn compute(tx: &mut dyn Tx, merchant: MerchantId, range: DayRange) -> Result<Stats, StatsError> {
    let currency = tx.merchant_currency(merchant)?;
    let stores = tx.stores(merchant)?;
    let (from, to) = bounds(range);
    let filter = RollupFilter {
        merchant_id: merchant,
        from,
        to,
        stores: None,
    };
    let totals = tx
        .store_figures(&filter, StoreGrouping::Total)?
        .into_iter()
        .next()
        .map(|(_, f)| f)
        .unwrap_or_default();
    let mut by_store = Vec::new();
    let mut by_day = Vec::new();
    for store in &stores {
        let only = RollupFilter {
            stores: Some(vec![store.id]),
            ..filter.clone()
        };
        for (key, f) in tx.store_figures(&only, StoreGrouping::Day)? {
            if let GroupKey::Day(day) = key {
                by_day.push(DaySales {
                    day,
                    store_id: store.id,
                    store_name: store.name.clone(),
                    figures: store_figures(&f)?,
                });
            }
        }
    }
    for (key, f) in tx.store_figures(&filter, StoreGrouping::Store)? {
        if let GroupKey::Store(id) = key {
            by_store.push(StoreSales {
                store_id: id,
                store_name: stores
                    .iter()
                    .find(|s| s.id == id)
                    .map(|s| s.name.clone())
                    .unwrap_or_default(),
                figures: store_figures(&f)?,
            });
        }
    }
    by_store.sort_by_key(|s| s.store_id);
    by_day.sort_by_key(|d| (d.day, d.store_id));

    let mut identified = VisitFigures::default();
    let mut by_gender: BTreeMap<&'static str, Segment> = BTreeMap::new();
    let mut by_age: BTreeMap<usize, Segment> = BTreeMap::new();
    let mut damaged = None;
    tx.each_customer_visits(merchant, &mut |row| {
        let gender = shared::identity::Gender::from_code(row.gender).code();
        let read = visits::for_each(row.visits, |visit| {
            if visit.day < from || visit.day > to {
                return;
            }
            identified.add(&visit.figures);
            by_gender
                .entry(gender)
                .or_default()
                .add(row.customer_id, &visit.figures);
            by_age
                .entry(age_band_rank(age_band(row.birth_date, visit.day)))
                .or_default()
                .add(row.customer_id, &visit.figures);
        });
        if let Err(e) = read {
            damaged.get_or_insert(e);
        }
    })?;
    if let Some(e) = damaged {
        return Err(e.into());
    }

    let promotions = tx
        .promotion_figures(&filter)?
        .into_iter()
        .map(|p| {
            Ok(PromotionStats {
                promotion_id: PromotionId::parse(p.promotion_id.clone())
                    .map_err(|_| StatsError::Promotion(p.promotion_id.clone()))?,
                checks: p.checks,
                customers: p.customers,
                discount: Money::from_minor(p.discount)?,
                funded_by: p.funded_by,
            })
        })
        .collect::<Result<Vec<_>, StatsError>>()?;
    let mut promotions = promotions;
    promotions.sort_by(|a, b| a.promotion_id.cmp(&b.promotion_id));

    Ok(Stats {
        currency,
        totals: store_figures(&totals)?,
        identified: sales_figures(&identified)?,
        by_store,
        by_day,
        by_gender: by_gender
            .into_iter()
            .map(|(label, s)| s.finish(label))
            .collect::<Result<_, _>>()?,
        by_age: by_age
            .into_iter()
            .map(|(rank, s)| s.finish(age_band_label(rank)))
            .collect::<Result<_, _>>()?,
        promotions,
    })
}

/// Age bands sort in their natural order, with `unknown` last.
fn age_band_rank(label: &str) -> usize {
    AGE_BANDS
        .iter()
        .position(|(band, _, _)| *band == label)
        .unwrap_or(AGE_BANDS.len())
}

fn age_band_label(rank: usize) -> &'static str {
    AGE_BANDS.get(rank).map_or("unknown", |(band, _, _)| band)
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn store_figures(f: &StoreFigures) -> Result<SalesFigures, AmountError> {
    sales_figures(&VisitFigures {
        checks: f.checks,
        returns: f.returns,
        sales: f.sales,
        refunds: f.refunds,
        discount: f.discount,
        points_earned: f.points_earned,
    })
}

fn sales_figures(f: &VisitFigures) -> Result<SalesFigures, AmountError> {
    let average = if f.checks == 0 {
        0
    } else {
        round_half_up(i128::from(f.sales), i128::from(f.checks))
    };
    Ok(SalesFigures {
        checks: f.checks,
        returns: f.returns,
        revenue: Money::from_wide(i128::from(f.sales) - i128::from(f.refunds))?,
        discount: Money::from_minor(f.discount)?,
        average_check: Money::from_wide(average)?,
        points_earned: f.points_earned,
    })
}

/// Figures of a customer segment, with its distinct buyers.
#[derive(Debug, Default)]
struct Segment {
    customers: HashSet<CustomerId>,
    figures: VisitFigures,
}

impl Segment {
    fn add(&mut self, customer: CustomerId, figures: &VisitFigures) {
        self.customers.insert(customer);
        self.figures.add(figures);
    }

    fn finish(self, label: &str) -> Result<SegmentSales, StatsError> {
        Ok(SegmentSales {
            segment: label.to_owned(),
            customers: count(self.customers.len()),
            figures: sales_figures(&self.figures)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_range_reaches_every_stored_day() {
        let (from, to) = bounds(DayRange::default());
        assert!(from <= NaiveDate::from_ymd_opt(1970, 1, 1).unwrap());
        assert!(to >= NaiveDate::from_ymd_opt(2999, 12, 31).unwrap());
        assert_eq!(from.format("%Y-%m-%d").to_string(), "0001-01-01");
        let day = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        assert_eq!(
            bounds(DayRange {
                from: Some(day),
                to: Some(day)
            }),
            (day, day)
        );
    }
}
