//! Primitives of the analytics rollups: the rows ingest adds to (per store
//! and local hour, per product and local day, per customer and local day,
//! per promotion and local hour) and the sums the analytics views read.
//! What each delta holds is decided by `services::analytics`; here rows
//! are only added to and summed.

use chrono::NaiveDate;
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

/// Sums of a product or category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemFigures {
    /// The SKU or category (empty: none).
    pub key: String,
    /// A name seen on its lines (products only).
    pub name: String,
    /// Sales checks with it.
    pub checks: i64,
    /// Items, thousandths.
    pub items_milli: i64,
    /// Net revenue, kopecks.
    pub revenue: i64,
    /// Discount, kopecks.
    pub discount: i64,
}

/// Products or categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemGrouping {
    /// Per SKU.
    Product,
    /// Per category.
    Category,
}

/// One identified customer's activity in a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerActivity {
    /// Who.
    pub customer_id: CustomerId,
    /// Gender code as stored.
    pub gender: String,
    /// Birth date, if given.
    pub birth_date: Option<NaiveDate>,
    /// The customer's first purchase day at the merchant, ever.
    pub first_day: NaiveDate,
    /// The last day with a record in the period.
    pub last_day: NaiveDate,
    /// Days with a record in the period (visits).
    pub visits: i64,
    /// Sales checks in the period.
    pub checks: i64,
    /// Net revenue in the period, kopecks.
    pub revenue: i64,
}

/// Customers of a cohort (month of first purchase) active in a month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CohortCell {
    /// First purchase month, `YYYY-MM`.
    pub cohort: String,
    /// Active month, `YYYY-MM`.
    pub month: String,
    /// Distinct customers.
    pub customers: i64,
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

/// Adds to and sums the rollups.
pub trait AnalyticsTx {
    /// Adds `figures` to a store's local hour.
    fn add_store_hour(&mut self, at: StoreHour, figures: &StoreFigures) -> Result<(), DbError>;
    /// Adds to a product's local day at a store.
    fn add_product_day(&mut self, at: StoreHour, delta: &ProductDelta) -> Result<(), DbError>;
    /// Adds a record of an identified customer to their local day.
    fn add_customer_day(
        &mut self,
        at: StoreHour,
        customer: CustomerId,
        checks: i64,
        revenue: i64,
    ) -> Result<(), DbError>;
    /// Adds to a promotion's local hour, and notes its customer.
    fn add_promotion_hour(
        &mut self,
        at: StoreHour,
        delta: &PromotionDelta,
        customer: Option<CustomerId>,
    ) -> Result<(), DbError>;
    /// Notes that `customer` took the promotion on `at`'s local day.
    fn add_promotion_customer(
        &mut self,
        at: StoreHour,
        promotion_id: &str,
        customer: CustomerId,
    ) -> Result<(), DbError>;
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
    /// Product or category figures over `filter`, highest revenue first.
    fn item_figures(
        &mut self,
        filter: &RollupFilter,
        grouping: ItemGrouping,
    ) -> Result<Vec<ItemFigures>, DbError>;
    /// Every identified customer active in `filter`.
    fn customer_activity(
        &mut self,
        filter: &RollupFilter,
    ) -> Result<Vec<CustomerActivity>, DbError>;
    /// Cohort retention: customers whose first purchase month is in the
    /// period, per month they were active in it.
    fn cohorts(&mut self, filter: &RollupFilter) -> Result<Vec<CohortCell>, DbError>;
    /// Promotion figures over `filter`.
    fn promotion_figures(
        &mut self,
        filter: &RollupFilter,
    ) -> Result<Vec<PromotionFigures>, DbError>;
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
