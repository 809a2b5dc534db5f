//! Primitives of the analytics rollups: the rows ingest adds to (per store
//! and local hour and day; per product and per promotion by day and by
//! month, chain-wide and per store; each customer's packed visits) and
//! the sums the analytics views read. What each delta holds is decided by
//! `services::analytics`; here rows are only added to and summed. A period
//! is read as its whole months plus the days at its edges
//! ([`PeriodParts`]), so a year reads a few thousand rows.

use std::collections::HashMap;

use chrono::{Datelike as _, Days, NaiveDate};
use shared::ids::{CustomerId, MerchantId, StoreId};

use super::DbError;

/// What one record adds to its store's local hour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreFigures {
    /// Sales checks.
    pub checks: i64,
    /// Return records.
    pub returns: i64,
    /// Sales totals, kopecks.
    pub sales: i64,
    /// Refunds (positive), kopecks.
    pub refunds: i64,
    /// Discount given on sales, kopecks.
    pub discount: i64,
    /// Items sold, net of returns, in quantity thousandths.
    pub items_milli: i64,
    /// Points earned (net of claw-backs).
    pub points_earned: i64,
    /// Points spent (net of give-backs).
    pub points_spent: i64,
}

/// A place in time of one store: its local day and hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct StoreHour {
    /// The merchant.
    pub merchant_id: MerchantId,
    /// The store.
    pub store_id: StoreId,
    /// The store's local day.
    pub local_day: NaiveDate,
    /// The store's local hour, 0..=23.
    pub hour: u32,
}

/// A calendar month, stored as `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    /// The year.
    pub year: i32,
    /// The month, 1..=12.
    pub month: u32,
}

impl Month {
    /// The month `day` is in.
    #[must_use]
    pub fn of(day: NaiveDate) -> Self {
        Month {
            year: day.year(),
            month: day.month(),
        }
    }

    /// `YYYY-MM`, as stored.
    #[must_use]
    pub fn text(self) -> String {
        format!("{:04}-{:02}", self.year, self.month)
    }

    /// `YYYYMM` as a number, as the basket rows store it.
    #[must_use]
    pub fn number(self) -> i64 {
        i64::from(self.year) * 100 + i64::from(self.month)
    }

    /// Its first day.
    #[must_use]
    pub fn first_day(self) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(self.year, self.month, 1)
    }

    /// The month after it.
    #[must_use]
    pub fn next(self) -> Self {
        if self.month == 12 {
            Month {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Month {
                month: self.month + 1,
                ..self
            }
        }
    }
}

/// The stretch of time a product or promotion row sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Span {
    /// A local day.
    Day(NaiveDate),
    /// A calendar month of local days.
    Month(Month),
}

/// A product or promotion row's place: its span, at one store or (for
/// products, `None`) chain-wide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RollupAt {
    /// The merchant.
    pub merchant_id: MerchantId,
    /// The store, or `None` for the chain's row.
    pub store_id: Option<StoreId>,
    /// The day or month.
    pub span: Span,
}

/// A period cut into the whole months it covers and the days at its edges
/// (each part `None` when empty). Text bounds are as stored; an empty part
/// binds as a range no row falls in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodParts {
    /// The first and last whole month.
    pub months: Option<(Month, Month)>,
    /// The days before the first whole month.
    pub head: Option<(NaiveDate, NaiveDate)>,
    /// The days after the last whole month.
    pub tail: Option<(NaiveDate, NaiveDate)>,
}

impl PeriodParts {
    /// The parts of the local days `from..=to`.
    #[must_use]
    pub fn of(from: NaiveDate, to: NaiveDate) -> Self {
        let whole = || -> Option<(Month, Month, NaiveDate, NaiveDate)> {
            let first = if from.day() == 1 {
                Month::of(from)
            } else {
                Month::of(from).next()
            };
            let after_to = to.checked_add_days(Days::new(1))?;
            let last_next = if after_to.day() == 1 {
                Month::of(after_to)
            } else {
                Month::of(to)
            };
            // `last_next` is the month after the last whole one.
            let start = first.first_day()?;
            let end = last_next.first_day()?.pred_opt()?;
            (start <= end).then(|| (first, Month::of(end), start, end))
        };
        match whole() {
            None => PeriodParts {
                months: None,
                head: (from <= to).then_some((from, to)),
                tail: None,
            },
            Some((first, last, start, end)) => PeriodParts {
                months: Some((first, last)),
                head: start.pred_opt().filter(|d| from <= *d).map(|d| (from, d)),
                tail: end.succ_opt().filter(|d| *d <= to).map(|d| (d, to)),
            },
        }
    }

    /// The six text bounds: first and last month, head and tail days.
    #[must_use]
    pub fn bounds(&self) -> [String; 6] {
        let none = || ("9".to_owned(), "0".to_owned());
        let (m0, m1) = self.months.map_or_else(none, |(a, b)| (a.text(), b.text()));
        let days = |part: Option<(NaiveDate, NaiveDate)>| {
            part.map_or_else(none, |(a, b)| {
                (
                    a.format("%Y-%m-%d").to_string(),
                    b.format("%Y-%m-%d").to_string(),
                )
            })
        };
        let (h0, h1) = days(self.head);
        let (t0, t1) = days(self.tail);
        [m0, m1, h0, h1, t0, t1]
    }
}

/// What one record adds to one product's local day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductDelta {
    /// The product's code.
    pub sku: String,
    /// The category its line named, or empty.
    pub category: String,
    /// The name on the line.
    pub name: String,
    /// 1 when a sale has it, else 0.
    pub checks: i64,
    /// Quantity, net of returns, thousandths.
    pub items_milli: i64,
    /// Line totals, net of refunds, kopecks.
    pub revenue: i64,
    /// Discount on the lines, kopecks.
    pub discount: i64,
}

/// What one record adds to one promotion's local hour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromotionDelta {
    /// The promotion.
    pub promotion_id: String,
    /// Uses: +1 on a sale, −1 on a return giving it back.
    pub checks: i64,
    /// Discount it gave, kopecks.
    pub discount: i64,
    /// The basket's total (sales only), kopecks.
    pub sales: i64,
    /// The basket's items (sales only), thousandths.
    pub items_milli: i64,
    /// Who funds it.
    pub funded_by: Option<String>,
}

/// The rows a view reads: the merchant, local days from `from` to `to`
/// (both inclusive) and, when given, only these stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollupFilter {
    /// The merchant.
    pub merchant_id: MerchantId,
    /// The first local day.
    pub from: NaiveDate,
    /// The last local day.
    pub to: NaiveDate,
    /// Only these stores; `None` for all.
    pub stores: Option<Vec<StoreId>>,
}

/// How store figures are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreGrouping {
    /// One row.
    Total,
    /// Per local day.
    Day,
    /// Per local hour of the day (0..=23).
    Hour,
    /// Per store.
    Store,
}

/// The key of a group of figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum GroupKey {
    /// All rows.
    Total,
    /// A local day.
    Day(NaiveDate),
    /// A local hour.
    Hour(u32),
    /// A store.
    Store(StoreId),
}

/// One product row of a period: a day's or a month's sums of a product
/// (with the category its lines named), at a store or chain-wide.
#[derive(Debug, Clone, Copy)]
pub struct ProductRow<'a> {
    /// The SKU.
    pub sku: &'a str,
    /// The category, or empty.
    pub category: &'a str,
    /// A name seen on its lines.
    pub name: &'a str,
    /// Sales checks with it.
    pub checks: i64,
    /// Items, thousandths.
    pub items_milli: i64,
    /// Net revenue, kopecks.
    pub revenue: i64,
    /// Discount, kopecks.
    pub discount: i64,
}

/// Customer ids from `first` to `last`, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CustomerIds {
    /// The least id taken.
    pub first: i64,
    /// The greatest id taken.
    pub last: i64,
}

impl CustomerIds {
    /// Every id.
    pub const ALL: CustomerIds = CustomerIds {
        first: i64::MIN,
        last: i64::MAX,
    };

    /// `first..=last` cut into at most `parts` ranges of about as many ids
    /// each, in order, together covering it exactly.
    #[must_use]
    pub fn split(first: i64, last: i64, parts: usize) -> Vec<CustomerIds> {
        if last < first {
            return Vec::new();
        }
        let span = i128::from(last) - i128::from(first) + 1;
        let parts = i128::try_from(parts.max(1)).unwrap_or(1).min(span);
        let step = (span + parts - 1) / parts;
        let mut out = Vec::new();
        let mut from = i128::from(first);
        while from <= i128::from(last) {
            let to = (from + step - 1).min(i128::from(last));
            // Both ends lie within `first..=last`, so they fit.
            out.push(CustomerIds {
                first: i64::try_from(from).unwrap_or(i64::MAX),
                last: i64::try_from(to).unwrap_or(i64::MAX),
            });
            from = to + 1;
        }
        out
    }
}

/// One identified customer's packed visits, with what the views group by.
#[derive(Debug, Clone, Copy)]
pub struct CustomerVisitsRow<'a> {
    /// Who.
    pub customer_id: CustomerId,
    /// Gender code as stored.
    pub gender: &'a str,
    /// Birth date, if given.
    pub birth_date: Option<NaiveDate>,
    /// The visits as the analytics service packed them.
    pub visits: &'a [u8],
}

/// Sums of a promotion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromotionFigures {
    /// The promotion.
    pub promotion_id: String,
    /// Net uses.
    pub checks: i64,
    /// Discount, kopecks.
    pub discount: i64,
    /// Baskets' totals, kopecks.
    pub sales: i64,
    /// Baskets' items, thousandths.
    pub items_milli: i64,
    /// Who funds it.
    pub funded_by: Option<String>,
    /// Distinct identified customers.
    pub customers: i64,
}

/// A record stored before the rollups, to add at start-up.
#[derive(Debug, Clone)]
pub struct BackfillRecord {
    /// Its `records.id`, the cursor.
    pub id: i64,
    /// The signed body.
    pub body: Vec<u8>,
    /// The customer as stored (the merchant's only).
    pub customer: Option<CustomerId>,
}

/// A record queued for its line rows (`rollup_basket_queue`).
#[derive(Debug, Clone)]
pub struct QueuedRecord {
    /// The record, `id` the queue's.
    pub stored: BackfillRecord,
    /// Whether its product rows are still to add, with its baskets (false
    /// for records queued before product rows left ingest: theirs were
    /// added then).
    pub products: bool,
}

/// What a basket rollup row counts (see `services::analytics::baskets`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BasketKind {
    /// Checks with both products `a` and `b` (in their SKUs' order).
    ProductPair,
    /// Checks with both categories `a` and `b` (in their codes' order).
    CategoryPair,
    /// Checks with the product `a` (`b` none).
    Product,
    /// Checks with the category `a` (`b` none).
    Category,
    /// Checks (`a` and `b` none).
    Checks,
}

impl BasketKind {
    /// The stored code.
    #[must_use]
    pub const fn code(self) -> i64 {
        match self {
            BasketKind::ProductPair => 0,
            BasketKind::CategoryPair => 1,
            BasketKind::Product => 2,
            BasketKind::Category => 3,
            BasketKind::Checks => 4,
        }
    }

    /// Whether rows of this kind are pairs (and get marks).
    #[must_use]
    pub const fn is_pair(self) -> bool {
        matches!(self, BasketKind::ProductPair | BasketKind::CategoryPair)
    }
}

/// What a basket item names: a product (its SKU), a category, or a
/// promotion (its id; a row's scope). Basket rows hold items by their
/// number in `rollup_basket_items`, given on first sight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BasketItemKind {
    /// A product, by SKU.
    Product,
    /// A category.
    Category,
    /// A promotion, by id.
    Promotion,
}

impl BasketItemKind {
    /// The stored code.
    #[must_use]
    pub const fn code(self) -> i64 {
        match self {
            BasketItemKind::Product => 0,
            BasketItemKind::Category => 1,
            BasketItemKind::Promotion => 2,
        }
    }
}

impl BasketKind {
    /// The kind of item `a` and `b` are (`Checks` has none; product).
    #[must_use]
    pub const fn items(self) -> BasketItemKind {
        match self {
            BasketKind::CategoryPair | BasketKind::Category => BasketItemKind::Category,
            _ => BasketItemKind::Product,
        }
    }
}

/// One basket rollup row: a month's count of checks in a scope (all
/// checks, 0, or the checks a promotion applied to, its item number), at
/// a store or (`store_id` `None`) chain-wide. Items are numbers from
/// `rollup_basket_items` (0: none). The fields are in the order of the
/// tables' primary keys (a store's rows after the chain's), so rows
/// sorted by key are written in the B-trees' order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BasketKey {
    /// The merchant.
    pub merchant_id: MerchantId,
    /// 0 for every check, else a promotion's item number.
    pub scope: i64,
    /// What is counted.
    pub kind: BasketKind,
    /// The store, or `None` for the chain's row.
    pub store_id: Option<StoreId>,
    /// The first item (0: none). A pair's items are in their codes' order.
    pub a: i64,
    /// The second item (0: none).
    pub b: i64,
    /// The month of local days.
    pub month: Month,
}

/// Which basket rows a read sums: one scope and kind, whole months, the
/// chain's rows or these stores' rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasketFilter {
    /// The merchant.
    pub merchant_id: MerchantId,
    /// `""` or a promotion's id.
    pub scope: String,
    /// What is summed.
    pub kind: BasketKind,
    /// The first month.
    pub first: Month,
    /// The last month.
    pub last: Month,
    /// `None`: the chain-wide rows; else only these stores' rows.
    pub stores: Option<Vec<StoreId>>,
}

/// A basket row summed over a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasketSum {
    /// The first item.
    pub a: String,
    /// The second item.
    pub b: String,
    /// The product `a`'s name, the last one seen (products only).
    pub name: String,
    /// Checks.
    pub checks: i64,
}

/// Adds to and sums the rollups.
pub trait AnalyticsTx {
    /// Adds `figures` to a store's local hour.
    fn add_store_hour(&mut self, at: StoreHour, figures: &StoreFigures) -> Result<(), DbError>;
    /// Adds `figures` to a store's local day (`at.hour` is not read).
    fn add_store_day(&mut self, at: StoreHour, figures: &StoreFigures) -> Result<(), DbError>;
    /// Adds to a product's day or month, at a store or chain-wide.
    fn add_product(&mut self, at: RollupAt, delta: &ProductDelta) -> Result<(), DbError>;
    /// Adds to a promotion's local hour at a store.
    fn add_promotion_hour(&mut self, at: StoreHour, delta: &PromotionDelta) -> Result<(), DbError>;
    /// Adds to a promotion's day or month at a store (`at.store_id` is set).
    fn add_promotion(&mut self, at: RollupAt, delta: &PromotionDelta) -> Result<(), DbError>;
    /// Notes that `customer` took the promotion on `at`'s local day.
    fn add_promotion_customer(
        &mut self,
        at: StoreHour,
        promotion_id: &str,
        customer: CustomerId,
    ) -> Result<(), DbError>;
    /// A customer's packed visits, if any.
    fn customer_visits(
        &mut self,
        merchant: MerchantId,
        customer: CustomerId,
    ) -> Result<Option<Vec<u8>>, DbError>;
    /// Replaces a customer's packed visits.
    fn put_customer_visits(
        &mut self,
        merchant: MerchantId,
        customer: CustomerId,
        visits: &[u8],
    ) -> Result<(), DbError>;
    /// [`add_store_hour`](Self::add_store_hour) of several rows (distinct
    /// keys) at once.
    fn add_store_hours(&mut self, rows: &[(StoreHour, StoreFigures)]) -> Result<(), DbError> {
        rows.iter()
            .try_for_each(|(at, figures)| self.add_store_hour(*at, figures))
    }
    /// [`add_store_day`](Self::add_store_day) of several rows (distinct
    /// keys) at once.
    fn add_store_days(&mut self, rows: &[(StoreHour, StoreFigures)]) -> Result<(), DbError> {
        rows.iter()
            .try_for_each(|(at, figures)| self.add_store_day(*at, figures))
    }
    /// [`add_product`](Self::add_product) of several rows (distinct keys)
    /// at once.
    fn add_products(&mut self, rows: &[(RollupAt, &ProductDelta)]) -> Result<(), DbError> {
        rows.iter()
            .try_for_each(|(at, delta)| self.add_product(*at, delta))
    }
    /// [`add_promotion_hour`](Self::add_promotion_hour) of several rows
    /// (distinct keys) at once.
    fn add_promotion_hours(
        &mut self,
        rows: &[(StoreHour, &PromotionDelta)],
    ) -> Result<(), DbError> {
        rows.iter()
            .try_for_each(|(at, delta)| self.add_promotion_hour(*at, delta))
    }
    /// [`add_promotion`](Self::add_promotion) of several rows (distinct
    /// keys) at once.
    fn add_promotions(&mut self, rows: &[(RollupAt, &PromotionDelta)]) -> Result<(), DbError> {
        rows.iter()
            .try_for_each(|(at, delta)| self.add_promotion(*at, delta))
    }
    /// [`add_promotion_customer`](Self::add_promotion_customer) of several
    /// rows at once.
    fn add_promotion_customers(
        &mut self,
        rows: &[(StoreHour, &str, CustomerId)],
    ) -> Result<(), DbError> {
        rows.iter().try_for_each(|(at, promotion, customer)| {
            self.add_promotion_customer(*at, promotion, *customer)
        })
    }
    /// The packed visits of those of `customers` who have any.
    fn customers_visits(
        &mut self,
        merchant: MerchantId,
        customers: &[CustomerId],
    ) -> Result<HashMap<CustomerId, Vec<u8>>, DbError> {
        let mut found = HashMap::with_capacity(customers.len());
        for &customer in customers {
            if let Some(visits) = self.customer_visits(merchant, customer)? {
                found.insert(customer, visits);
            }
        }
        Ok(found)
    }
    /// [`put_customer_visits`](Self::put_customer_visits) of several
    /// customers (distinct) at once.
    fn put_customers_visits(
        &mut self,
        merchant: MerchantId,
        rows: &[(CustomerId, Vec<u8>)],
    ) -> Result<(), DbError> {
        rows.iter().try_for_each(|(customer, visits)| {
            self.put_customer_visits(merchant, *customer, visits)
        })
    }
    /// Calls `each` with every customer of `merchant` who has visits, in
    /// id order.
    fn each_customer_visits(
        &mut self,
        merchant: MerchantId,
        each: &mut dyn FnMut(CustomerVisitsRow<'_>),
    ) -> Result<(), DbError> {
        self.each_customer_visits_in(merchant, &CustomerIds::ALL, each)
    }
    /// [`each_customer_visits`](Self::each_customer_visits) of the
    /// customers whose ids are in `ids` (a shard of a parallel pass).
    fn each_customer_visits_in(
        &mut self,
        merchant: MerchantId,
        ids: &CustomerIds,
        each: &mut dyn FnMut(CustomerVisitsRow<'_>),
    ) -> Result<(), DbError>;
    /// The least and the greatest id of the customers (of any merchant)
    /// who have visits; `None` when none has.
    fn customer_visits_bounds(&mut self) -> Result<Option<(i64, i64)>, DbError>;
    /// Takes the start-up backfill marker: true once, for the transaction
    /// that must add the records stored before the rollups.
    fn take_rollup_backfill(&mut self) -> Result<bool, DbError>;
    /// Stored records after `after` (by `records.id`), at most `limit`.
    fn records_after(&mut self, after: i64, limit: i64) -> Result<Vec<BackfillRecord>, DbError>;

    /// Store figures over `filter`, grouped.
    fn store_figures(
        &mut self,
        filter: &RollupFilter,
        grouping: StoreGrouping,
    ) -> Result<Vec<(GroupKey, StoreFigures)>, DbError>;
    /// Calls `each` with every product row of `filter`'s period: its whole
    /// months' rows and its edge days' rows, at its stores or chain-wide.
    fn each_product_row(
        &mut self,
        filter: &RollupFilter,
        each: &mut dyn FnMut(ProductRow<'_>),
    ) -> Result<(), DbError>;
    /// Promotion figures over `filter`.
    fn promotion_figures(
        &mut self,
        filter: &RollupFilter,
    ) -> Result<Vec<PromotionFigures>, DbError>;
    /// Takes the basket backfill marker: true once, for the transaction
    /// that must add the records stored before the basket rollups (to
    /// those alone).
    fn take_basket_backfill(&mut self) -> Result<bool, DbError>;
    /// Refreshes the query planner's statistics of the analytics tables
    /// after a bulk change (a backfill of many records): without it a
    /// freshly filled table is planned as if it were empty until
    /// PostgreSQL's autovacuum or SQLite's `PRAGMA optimize` comes round.
    fn refresh_planner_statistics(&mut self) -> Result<(), DbError>;
    /// Queues stored records for their line rows, products and baskets
    /// (`rollup_basket_queue`).
    fn queue_baskets(&mut self, records: &[super::RecordKey]) -> Result<(), DbError>;
    /// The oldest queued records, at most `limit`, with their bodies. On
    /// PostgreSQL the queue rows are locked until the transaction ends:
    /// another instance's pass takes the next ones (`skip_locked`) or
    /// waits for these to be added and removed.
    fn queued_baskets(
        &mut self,
        limit: i64,
        skip_locked: bool,
    ) -> Result<Vec<QueuedRecord>, DbError>;
    /// Removes these queued records (ids from [`queued_baskets`](Self::queued_baskets)).
    fn dequeue_baskets(&mut self, ids: &[i64]) -> Result<(), DbError>;
    /// How many records are queued.
    fn basket_queue_len(&mut self) -> Result<i64, DbError>;
    /// The number of a basket item (`rollup_basket_items`), given on its
    /// first sight; a product's name is set when `name` is not empty and
    /// differs.
    fn basket_item(
        &mut self,
        merchant: MerchantId,
        kind: BasketItemKind,
        code: &str,
        name: &str,
    ) -> Result<i64, DbError>;
    /// Adds `checks` to a basket row and returns the row's count after it.
    fn add_basket(&mut self, key: &BasketKey, checks: i64) -> Result<i64, DbError>;
    /// Notes that a pair row's count reached `2^level` (once per level).
    fn add_basket_mark(&mut self, key: &BasketKey, level: u32) -> Result<(), DbError>;
    /// [`add_basket`](Self::add_basket) of several rows (distinct keys) at
    /// once: each row's count after it, in `rows`' order.
    fn add_baskets(&mut self, rows: &[(BasketKey, i64)]) -> Result<Vec<i64>, DbError> {
        rows.iter()
            .map(|(key, checks)| self.add_basket(key, *checks))
            .collect()
    }
    /// [`add_basket_mark`](Self::add_basket_mark) of several marks at once.
    fn add_basket_marks(&mut self, marks: &[(BasketKey, u32)]) -> Result<(), DbError> {
        marks
            .iter()
            .try_for_each(|(key, level)| self.add_basket_mark(key, *level))
    }
    /// The rows of `filter` summed by item (`a`, `b`); only `a == item` when given.
    fn basket_sums(
        &mut self,
        filter: &BasketFilter,
        item: Option<&str>,
    ) -> Result<Vec<BasketSum>, DbError>;
    /// The pairs of `filter` with a mark of `level` in one of its months
    /// (at one of its stores, or chain-wide), each summed over `filter`.
    fn basket_marked_pairs(
        &mut self,
        filter: &BasketFilter,
        level: u32,
    ) -> Result<Vec<BasketSum>, DbError>;
    /// The pairs of `filter` that have `item` on either side, summed.
    fn basket_pairs_with(
        &mut self,
        filter: &BasketFilter,
        item: &str,
    ) -> Result<Vec<BasketSum>, DbError>;
    /// These pairs summed over `filter` (pairs without rows are left out).
    fn basket_pair_sums(
        &mut self,
        filter: &BasketFilter,
        pairs: &[(String, String)],
    ) -> Result<Vec<BasketSum>, DbError>;
    /// One promotion's figures over `filter`, grouped (`Day`, `Hour`, `Store`).
    fn promotion_groups(
        &mut self,
        filter: &RollupFilter,
        promotion_id: &str,
        grouping: StoreGrouping,
    ) -> Result<Vec<(GroupKey, PromotionFigures)>, DbError>;
}

/// A stored `YYYY-MM-DD` day.
pub(super) fn parse_day(text: &str) -> Result<NaiveDate, DbError> {
    // `YYYY-MM-DD`, as every day is stored, without the format parser (a
    // customer view reads one per customer); anything else goes to it.
    if let [y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1] = *text.as_bytes() {
        let digits = [y0, y1, y2, y3, m0, m1, d0, d1];
        if digits.iter().all(u8::is_ascii_digit) {
            let n = |ds: &[u8]| ds.iter().fold(0_u32, |n, d| n * 10 + u32::from(d - b'0'));
            if let Some(day) = i32::try_from(n(&digits[..4]))
                .ok()
                .and_then(|y| NaiveDate::from_ymd_opt(y, n(&digits[4..6]), n(&digits[6..])))
            {
                return Ok(day);
            }
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|e| DbError::other(format!("a stored day {text:?}: {e}")))
}

/// The store filter as a JSON array of ids, or `None` for all stores.
pub(super) fn stores_json(filter: &RollupFilter) -> Option<String> {
    filter.stores.as_ref().map(|stores| {
        let ids: Vec<i64> = stores.iter().map(|s| s.get()).collect();
        serde_json::to_string(&ids).unwrap_or_else(|_| "[]".to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn a_period_is_its_whole_months_and_the_days_at_its_edges() {
        let ym = |year, month| Month { year, month };
        assert_eq!(
            PeriodParts::of(d(2025, 12, 1), d(2026, 11, 30)),
            PeriodParts {
                months: Some((ym(2025, 12), ym(2026, 11))),
                head: None,
                tail: None
            }
        );
        assert_eq!(
            PeriodParts::of(d(2026, 1, 15), d(2026, 3, 3)),
            PeriodParts {
                months: Some((ym(2026, 2), ym(2026, 2))),
                head: Some((d(2026, 1, 15), d(2026, 1, 31))),
                tail: Some((d(2026, 3, 1), d(2026, 3, 3)))
            }
        );
        assert_eq!(
            PeriodParts::of(d(2026, 2, 2), d(2026, 2, 27)),
            PeriodParts {
                months: None,
                head: Some((d(2026, 2, 2), d(2026, 2, 27))),
                tail: None
            }
        );
        assert_eq!(
            PeriodParts::of(d(2026, 2, 2), d(2026, 3, 31)),
            PeriodParts {
                months: Some((ym(2026, 3), ym(2026, 3))),
                head: Some((d(2026, 2, 2), d(2026, 2, 28))),
                tail: None
            }
        );
        assert_eq!(
            PeriodParts::of(d(2026, 12, 1), d(2026, 12, 31)).bounds(),
            ["2026-12", "2026-12", "9", "0", "9", "0"].map(str::to_owned)
        );
    }

    #[test]
    fn stored_days_read_as_the_format_parser_reads_them() {
        for text in [
            "2026-03-05",
            "1945-12-31",
            "2024-02-29",
            "0001-01-01",
            "9999-12-31",
            "2026-3-5",
            "+2026-03-05",
        ] {
            assert_eq!(
                parse_day(text).ok(),
                NaiveDate::parse_from_str(text, "%Y-%m-%d").ok(),
                "{text}"
            );
        }
        for bad in [
            "2025-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-01-32",
            "2026-01-00",
            "2026/01/10",
            "20a6-01-10",
            "",
        ] {
            assert!(parse_day(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn customer_ids_split_into_contiguous_ranges_that_cover_exactly() {
        for (first, last, parts) in [
            (1, 200_000, 2),
            (1, 200_001, 3),
            (7, 7, 4),
            (1, 3, 8),
            (i64::MIN, i64::MAX, 4),
            (i64::MAX - 2, i64::MAX, 2),
        ] {
            let ranges = CustomerIds::split(first, last, parts);
            assert!(!ranges.is_empty() && ranges.len() <= parts, "{ranges:?}");
            assert_eq!(ranges[0].first, first);
            assert_eq!(ranges[ranges.len() - 1].last, last);
            for pair in ranges.windows(2) {
                assert_eq!(
                    pair[0].last.checked_add(1),
                    Some(pair[1].first),
                    "{ranges:?}"
                );
            }
            for r in &ranges {
                assert!(r.first <= r.last, "{ranges:?}");
            }
        }
        let halves = CustomerIds::split(1, 200_000, 2);
        assert_eq!(halves[0].last, 100_000);
        assert!(CustomerIds::split(5, 4, 2).is_empty());
    }
}
