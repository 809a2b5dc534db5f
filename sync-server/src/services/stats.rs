//! CRM statistics computed from stored records: totals, identified
//! customers, per store, per local day, per gender, per age band and per
//! promotion. Every figure is an exact sum of record amounts in kopecks.
//!
//! Checks are sale records; returns count separately and subtract their
//! refund (the magnitude of their total) from revenue. A record's day is its
//! register time in its store's time zone; ages are taken on that day.
//! Outputs are sorted by store id, day, segment and promotion id.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use crate::wire::admin::{DaySales, PromotionStats, SalesFigures, SegmentSales, Stats, StoreSales};
use chrono::NaiveDate;
use chrono_tz::Tz;
use shared::identity::{AGE_BANDS, age_band};
use shared::ids::{CustomerId, MerchantId, PromotionId, StoreId};
use shared::money::{AmountError, Money, round_half_up};

use crate::db::{CheckFact, CheckKind, DbError, RecordKey, Repository, StatsFacts};

/// The local days to include, both ends inclusive.
#[derive(Debug, Clone, Copy, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DayRange {
    /// The first day.
    pub from: Option<NaiveDate>,
    /// The last day.
    pub to: Option<NaiveDate>,
}

impl DayRange {
    fn contains(&self, day: NaiveDate) -> bool {
        self.from.is_none_or(|from| day >= from) && self.to.is_none_or(|to| day <= to)
    }
}

/// Why statistics could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    /// Storage failed, or the merchant does not exist.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The computation's thread failed.
    #[error("the statistics computation failed: {0}")]
    Task(String),
    /// A record names a store the merchant does not have.
    #[error("a record names store {0}, which is not the merchant's")]
    UnknownStore(StoreId),
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

    /// The merchant's statistics over the local days in `range`, computed
    /// on a blocking thread.
    pub async fn stats(&self, merchant: MerchantId, range: DayRange) -> Result<Stats, StatsError> {
        let facts = self.repo.read(move |tx| tx.stats_facts(merchant)).await?;
        tokio::task::spawn_blocking(move || compute(&facts, range))
            .await
            .map_err(|e| StatsError::Task(e.to_string()))?
    }
}

/// Computes the statistics of `facts` over the local days in `range`.
pub fn compute(facts: &StatsFacts, range: DayRange) -> Result<Stats, StatsError> {
    let stores: HashMap<StoreId, (&str, Tz)> = facts
        .stores
        .iter()
        .map(|s| (s.id, (s.name.as_str(), s.timezone.tz())))
        .collect();

    let mut totals = Figures::default();
    let mut identified = Figures::default();
    let mut by_store: BTreeMap<StoreId, Figures> = BTreeMap::new();
    let mut by_day: BTreeMap<(NaiveDate, StoreId), Figures> = BTreeMap::new();
    let mut by_gender: BTreeMap<&'static str, Segment> = BTreeMap::new();
    let mut by_age: BTreeMap<usize, Segment> = BTreeMap::new();
    let mut included: HashMap<RecordKey, &CheckFact> = HashMap::new();

    for check in &facts.checks {
        let (_, tz) = stores
            .get(&check.store_id)
            .ok_or(StatsError::UnknownStore(check.store_id))?;
        let day = check.wall_time.with_timezone(tz).date_naive();
        if !range.contains(day) {
            continue;
        }
        included.insert(check.key, check);
        totals.add(check);
        by_store.entry(check.store_id).or_default().add(check);
        by_day.entry((day, check.store_id)).or_default().add(check);
        if let Some(customer) = check.customer {
            identified.add(check);
            by_gender
                .entry(customer.gender.code())
                .or_default()
                .add(customer.id, check);
            by_age
                .entry(age_band_rank(age_band(customer.birth_date, day)))
                .or_default()
                .add(customer.id, check);
        }
    }

    let store_name = |id: &StoreId| stores.get(id).map_or("", |(name, _)| name).to_owned();
    Ok(Stats {
        currency: facts.currency,
        totals: totals.finish()?,
        identified: identified.finish()?,
        by_store: by_store
            .into_iter()
            .map(|(store_id, f)| {
                Ok(StoreSales {
                    store_name: store_name(&store_id),
                    store_id,
                    figures: f.finish()?,
                })
            })
            .collect::<Result<_, StatsError>>()?,
        by_day: by_day
            .into_iter()
            .map(|((day, store_id), f)| {
                Ok(DaySales {
                    day,
                    store_name: store_name(&store_id),
                    store_id,
                    figures: f.finish()?,
                })
            })
            .collect::<Result<_, StatsError>>()?,
        by_gender: by_gender
            .into_iter()
            .map(|(label, s)| s.finish(label))
            .collect::<Result<_, _>>()?,
        by_age: by_age
            .into_iter()
            .map(|(rank, s)| s.finish(age_band_label(rank)))
            .collect::<Result<_, _>>()?,
        promotions: promotions(facts, &included)?,
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

/// Promotion figures over the included sales.
fn promotions(
    facts: &StatsFacts,
    included: &HashMap<RecordKey, &CheckFact>,
) -> Result<Vec<PromotionStats>, StatsError> {
    #[derive(Default)]
    struct Uses<'a> {
        checks: BTreeSet<RecordKey>,
        customers: HashSet<CustomerId>,
        discount: i128,
        funded_by: Option<&'a str>,
    }
    let mut by_promotion: BTreeMap<&PromotionId, Uses<'_>> = BTreeMap::new();
    for used in &facts.promotion_uses {
        let Some(check) = included.get(&used.record) else {
            continue;
        };
        if check.kind != CheckKind::Sale {
            continue;
        }
        let uses = by_promotion.entry(&used.promotion_id).or_default();
        uses.checks.insert(used.record);
        uses.customers.extend(check.customer.map(|c| c.id));
        uses.discount += i128::from(used.discount.minor());
        uses.funded_by = uses.funded_by.or(used.funded_by.as_deref());
    }
    by_promotion
        .into_iter()
        .map(|(id, uses)| {
            Ok(PromotionStats {
                promotion_id: id.clone(),
                checks: count(uses.checks.len()),
                customers: count(uses.customers.len()),
                discount: Money::from_wide(uses.discount)?,
                funded_by: uses.funded_by.map(str::to_owned),
            })
        })
        .collect()
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Running sums over a set of records, in wide integers.
#[derive(Debug, Default)]
struct Figures {
    checks: i64,
    returns: i64,
    sales_total: i128,
    refunds: i128,
    discount: i128,
    points_earned: i64,
}

impl Figures {
    fn add(&mut self, check: &CheckFact) {
        match check.kind {
            CheckKind::Sale => {
                self.checks += 1;
                self.sales_total += i128::from(check.total.minor());
                self.discount += i128::from(check.discount.minor());
            }
            CheckKind::Return => {
                self.returns += 1;
                self.refunds += i128::from(check.total.minor().unsigned_abs());
            }
        }
        self.points_earned = self.points_earned.saturating_add(check.points_earned);
    }

    fn finish(self) -> Result<SalesFigures, AmountError> {
        let average = if self.checks == 0 {
            0
        } else {
            round_half_up(self.sales_total, i128::from(self.checks))
        };
        Ok(SalesFigures {
            checks: self.checks,
            returns: self.returns,
            revenue: Money::from_wide(self.sales_total - self.refunds)?,
            discount: Money::from_wide(self.discount)?,
            average_check: Money::from_wide(average)?,
            points_earned: self.points_earned,
        })
    }
}

/// Figures of a customer segment, with its distinct buyers.
#[derive(Debug, Default)]
struct Segment {
    customers: HashSet<CustomerId>,
    figures: Figures,
}

impl Segment {
    fn add(&mut self, customer: CustomerId, check: &CheckFact) {
        self.customers.insert(customer);
        self.figures.add(check);
    }

    fn finish(self, label: &str) -> Result<SegmentSales, StatsError> {
        Ok(SegmentSales {
            segment: label.to_owned(),
            customers: count(self.customers.len()),
            figures: self.figures.finish()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use shared::identity::Gender;
    use shared::ids::{RegisterId, Seq};
    use shared::money::Currency;

    use crate::db::{CustomerFact, PromotionUseFact, StoreFact};

    fn money(minor: i64) -> Money {
        Money::from_minor(minor).unwrap()
    }

    fn at(rfc3339: &str) -> DateTime<Utc> {
        rfc3339.parse().unwrap()
    }

    fn check(
        seq: i64,
        store: i64,
        kind: CheckKind,
        total: i64,
        customer: Option<CustomerFact>,
        when: &str,
    ) -> CheckFact {
        CheckFact {
            key: RecordKey {
                register_id: RegisterId::new(1).unwrap(),
                seq: Seq::new(seq).unwrap(),
            },
            store_id: StoreId::new(store).unwrap(),
            kind,
            customer,
            wall_time: at(when),
            discount: money(if kind == CheckKind::Sale { 100 } else { 0 }),
            total: money(total),
            points_earned: if kind == CheckKind::Sale { 10 } else { -10 },
        }
    }

    fn customer(id: i64, gender: Gender, birth: Option<&str>) -> Option<CustomerFact> {
        Some(CustomerFact {
            id: CustomerId::new(id).unwrap(),
            gender,
            birth_date: birth.map(|b| b.parse().unwrap()),
        })
    }

    fn facts() -> StatsFacts {
        let anna = customer(1, Gender::Female, Some("1990-06-15"));
        let boris = customer(2, Gender::Male, None);
        StatsFacts {
            currency: Currency::RUB,
            stores: vec![
                StoreFact {
                    id: StoreId::new(1).unwrap(),
                    name: "Moscow".into(),
                    timezone: "Europe/Moscow".parse().unwrap(),
                },
                StoreFact {
                    id: StoreId::new(2).unwrap(),
                    name: "Vladivostok".into(),
                    timezone: "Asia/Vladivostok".parse().unwrap(),
                },
            ],
            checks: vec![
                // 23:30 UTC is already the next day in Moscow (UTC+3).
                check(1, 1, CheckKind::Sale, 1000, anna, "2026-03-01T23:30:00Z"),
                check(2, 1, CheckKind::Sale, 2001, None, "2026-03-02T10:00:00Z"),
                check(3, 2, CheckKind::Sale, 500, boris, "2026-03-02T10:00:00Z"),
                check(4, 1, CheckKind::Return, 1000, anna, "2026-03-03T10:00:00Z"),
            ],
            promotion_uses: vec![
                PromotionUseFact {
                    record: RecordKey {
                        register_id: RegisterId::new(1).unwrap(),
                        seq: Seq::new(1).unwrap(),
                    },
                    promotion_id: PromotionId::parse("milk").unwrap(),
                    discount: money(100),
                    funded_by: Some("Dairy Co".into()),
                },
                PromotionUseFact {
                    record: RecordKey {
                        register_id: RegisterId::new(1).unwrap(),
                        seq: Seq::new(3).unwrap(),
                    },
                    promotion_id: PromotionId::parse("milk").unwrap(),
                    discount: money(50),
                    funded_by: Some("Dairy Co".into()),
                },
            ],
        }
    }

    #[test]
    fn figures_are_exact_sums() {
        let stats = compute(&facts(), DayRange::default()).unwrap();
        assert_eq!(stats.totals.checks, 3);
        assert_eq!(stats.totals.returns, 1);
        assert_eq!(stats.totals.revenue, money(1000 + 2001 + 500 - 1000));
        assert_eq!(stats.totals.discount, money(300));
        // 3501 / 3 = 1167
        assert_eq!(stats.totals.average_check, money(1167));
        assert_eq!(stats.totals.points_earned, 20);
        assert_eq!(stats.identified.checks, 2);
        assert_eq!(stats.identified.revenue, money(500));

        let stores: Vec<(i64, i64)> = stats
            .by_store
            .iter()
            .map(|s| (s.store_id.get(), s.figures.revenue.minor()))
            .collect();
        assert_eq!(stores, vec![(1, 2001), (2, 500)]);

        let days: Vec<(String, i64)> = stats
            .by_day
            .iter()
            .map(|d| (d.day.to_string(), d.store_id.get()))
            .collect();
        assert_eq!(
            days,
            vec![
                ("2026-03-02".into(), 1),
                ("2026-03-02".into(), 2),
                ("2026-03-03".into(), 1)
            ]
        );
    }

    #[test]
    fn segments_and_promotions() {
        let stats = compute(&facts(), DayRange::default()).unwrap();
        let genders: Vec<(&str, i64, i64)> = stats
            .by_gender
            .iter()
            .map(|s| (s.segment.as_str(), s.customers, s.figures.revenue.minor()))
            .collect();
        assert_eq!(genders, vec![("female", 1, 0), ("male", 1, 500)]);
        let ages: Vec<&str> = stats.by_age.iter().map(|s| s.segment.as_str()).collect();
        assert_eq!(ages, vec!["35-44", "unknown"]);

        assert_eq!(stats.promotions.len(), 1);
        let milk = &stats.promotions[0];
        assert_eq!((milk.checks, milk.customers), (2, 2));
        assert_eq!(milk.discount, money(150));
        assert_eq!(milk.funded_by.as_deref(), Some("Dairy Co"));
    }

    #[test]
    fn a_day_range_selects_local_days() {
        let range = DayRange {
            from: Some("2026-03-03".parse().unwrap()),
            to: None,
        };
        let stats = compute(&facts(), range).unwrap();
        assert_eq!(stats.totals.checks, 0);
        assert_eq!(stats.totals.returns, 1);
        assert!(stats.promotions.is_empty());
    }
}
