//! The analytics views as the admin API sends them and the HQ pages and
//! CSV exports render them. Money is integer kopecks, items are quantity
//! thousandths, days are the stores' local days.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use shared::ids::{BrandId, StoreId};

/// A period of local days, both ends inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Period {
    /// The first day.
    pub from: NaiveDate,
    /// The last day.
    pub to: NaiveDate,
}

/// Sums of sales over some rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Figures {
    /// Sales checks.
    pub checks: i64,
    /// Returns.
    pub returns: i64,
    /// Sales minus refunds, kopecks.
    pub revenue: i64,
    /// Sales totals, kopecks.
    pub sales: i64,
    /// Refunds, kopecks.
    pub refunds: i64,
    /// Discount given, net of returns, kopecks.
    pub discount: i64,
    /// Sales totals per sales check, rounded half up, kopecks.
    pub average_check: i64,
    /// Items sold net of returns, thousandths.
    pub items_milli: i64,
    /// Items per sales check, thousandths, rounded half up.
    pub items_per_check_milli: i64,
    /// Points earned.
    pub points_earned: i64,
    /// Points spent.
    pub points_spent: i64,
}

/// The filter every view takes, resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Scope {
    /// The period shown.
    pub period: Period,
    /// The period before it, of the same length.
    pub previous: Period,
    /// Only this store.
    pub store_id: Option<StoreId>,
    /// Only stores of this brand.
    pub brand_id: Option<BrandId>,
}

/// The totals of the period and of the previous one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Overview {
    /// The filter.
    pub scope: Scope,
    /// This period.
    pub totals: Figures,
    /// The previous period.
    pub previous: Figures,
}

/// One bucket of revenue over time with the previous period's bucket at
/// the same offset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TimeRow {
    /// `2026-03-02`, `2026-03-02` (a week's first day), `2026-03` or `14` (hour).
    pub label: String,
    /// This period's figures.
    pub figures: Figures,
    /// The previous period's revenue at the same offset, kopecks.
    pub previous_revenue: i64,
}

/// `sales`: revenue over time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SalesView {
    /// Totals.
    pub overview: Overview,
    /// `hour`, `day`, `week` or `month`.
    pub grain: String,
    /// The buckets in order.
    pub rows: Vec<TimeRow>,
}

/// A store's or brand's row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PlaceRow {
    /// Store or brand id (0: stores of no brand).
    pub id: i64,
    /// Its name.
    pub name: String,
    /// This period.
    pub figures: Figures,
    /// The previous period's revenue, kopecks.
    pub previous_revenue: i64,
}

/// `stores`: by store and by brand, highest revenue first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StoresView {
    /// Totals.
    pub overview: Overview,
    /// Per store.
    pub stores: Vec<PlaceRow>,
    /// Per brand.
    pub brands: Vec<PlaceRow>,
}

/// A product's or category's row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ItemRow {
    /// SKU or category (`—` for lines with none).
    pub key: String,
    /// The product's name (empty for categories).
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

/// `products`: by product and by category, highest revenue first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProductsView {
    /// Totals.
    pub overview: Overview,
    /// Per product.
    pub products: Vec<ItemRow>,
    /// Per category.
    pub categories: Vec<ItemRow>,
}

/// A group of identified customers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CustomerGroup {
    /// The group's code (`female`, `25-34`, `new`, `2-4`, `champions`).
    pub code: String,
    /// Customers.
    pub customers: i64,
    /// Days with a purchase, summed over the customers.
    pub visits: i64,
    /// Sales checks.
    pub checks: i64,
    /// Net revenue, kopecks.
    pub revenue: i64,
}

/// One cell of the cohort heat map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CohortRow {
    /// The month of first purchase, `YYYY-MM`.
    pub cohort: String,
    /// Customers of the cohort.
    pub size: i64,
    /// Active customers in each month from the cohort's, `YYYY-MM`.
    pub months: Vec<(String, i64)>,
}

/// `customers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CustomersView {
    /// Totals.
    pub overview: Overview,
    /// By gender.
    pub genders: Vec<CustomerGroup>,
    /// By age band on the period's last day.
    pub ages: Vec<CustomerGroup>,
    /// `new` (first purchase in the period) and `returning`.
    pub new_returning: Vec<CustomerGroup>,
    /// By visits in the period: `1`, `2`, `3-4`, `5-9`, `10+`.
    pub frequency: Vec<CustomerGroup>,
    /// Cohort retention by month of first purchase.
    pub cohorts: Vec<CohortRow>,
    /// RFM segments.
    pub rfm: Vec<CustomerGroup>,
    /// How customers moved between RFM segments from the previous period
    /// to this one (`inactive`: no purchase in that period).
    pub rfm_transitions: Vec<RfmTransition>,
}

/// Customers who were in one RFM segment at the previous period's end and
/// are in another (or the same) at this one's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RfmTransition {
    /// The segment at the previous period's end, or `inactive`.
    pub from: String,
    /// The segment at this period's end, or `inactive`.
    pub to: String,
    /// Customers.
    pub customers: i64,
}

/// A promotion's row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PromotionRow {
    /// The promotion.
    pub promotion_id: String,
    /// Its name in the current ruleset, if still there.
    pub name: String,
    /// Net uses.
    pub uses: i64,
    /// Distinct identified customers.
    pub customers: i64,
    /// Discount given: its cost, kopecks.
    pub cost: i64,
    /// Who funds it.
    pub funded_by: Option<String>,
    /// Average basket with it, kopecks.
    pub basket_with: i64,
    /// Average basket of the other checks, kopecks.
    pub basket_without: i64,
    /// Items per basket with it, thousandths.
    pub items_with_milli: i64,
    /// Items per basket without it, thousandths.
    pub items_without_milli: i64,
}

/// A breakdown row of one promotion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PromotionSlice {
    /// Hour `0`..`23`, weekday `1` (Monday)..`7`, or store name.
    pub label: String,
    /// Net uses.
    pub uses: i64,
    /// Discount, kopecks.
    pub cost: i64,
}

/// `promotions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PromotionsView {
    /// Totals.
    pub overview: Overview,
    /// Per promotion, costliest first.
    pub promotions: Vec<PromotionRow>,
    /// The promotion broken down below.
    pub selected: Option<String>,
    /// Its uses by local hour.
    pub by_hour: Vec<PromotionSlice>,
    /// By weekday.
    pub by_weekday: Vec<PromotionSlice>,
    /// By store.
    pub by_store: Vec<PromotionSlice>,
    /// Each promotion of the current ruleset with a holdout that ran in
    /// the period, against its holdout, by promotion id.
    pub uplift: Vec<UpliftRow>,
}

/// What a promotion changed, measured against the customers it held out.
///
/// The customers compared are every identified customer with a visit (at
/// the filter's stores) in the `baseline` days, narrowed by the
/// promotion's genders and ages, split by [`shared::holdout`] into exposed
/// and held out whatever they did afterwards (intention to treat); each
/// one's net spend and visits over the `window` days count, zero included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UpliftRow {
    /// The promotion.
    pub promotion_id: String,
    /// Its name in the current ruleset.
    pub name: String,
    /// The share it holds out, basis points.
    pub holdout_bp: u32,
    /// The days measured: the period within the promotion's dates (in the
    /// zone of the merchant's first store).
    pub window: Period,
    /// The days that choose the customers: as many days, just before.
    pub baseline: Period,
    /// The customers it applied to.
    pub exposed: UpliftGroup,
    /// The customers it held out.
    pub held_out: UpliftGroup,
    /// Exposed less held out: mean net spend per customer, kopecks.
    pub spend: UpliftEstimate,
    /// Exposed less held out: mean visits (days with a record) per
    /// customer, thousandths.
    pub visits: UpliftEstimate,
}

/// One side of an uplift.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UpliftGroup {
    /// Customers.
    pub customers: i64,
    /// Mean net spend per customer over the window, kopecks, half up.
    pub spend: i64,
    /// Mean visits per customer over the window, thousandths, half up.
    pub visits_milli: i64,
}

/// A difference of means with its 95 % confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UpliftEstimate {
    /// Exposed mean less held-out mean, half up.
    pub difference: i64,
    /// The interval's lower end (normal approximation of Welch's test),
    /// when each group has at least two customers.
    pub low: Option<i64>,
    /// Its upper end.
    pub high: Option<i64>,
    /// What it says.
    pub verdict: UpliftVerdict,
}

/// What an uplift says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UpliftVerdict {
    /// A group has fewer customers than the minimum: too few to tell.
    TooFew,
    /// The interval holds zero: no difference can be told.
    Unclear,
    /// Exposed customers did more, beyond the interval.
    Higher,
    /// Exposed customers did less, beyond the interval.
    Lower,
}

/// Two items bought together: products (SKUs) or categories.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PairRow {
    /// The first item (for a chosen product's pairs, that product).
    pub a: String,
    /// Its name (products only).
    pub a_name: String,
    /// The second item.
    pub b: String,
    /// Its name (products only).
    pub b_name: String,
    /// Checks with both.
    pub checks: i64,
    /// Checks with `a`.
    pub a_checks: i64,
    /// Checks with `b`.
    pub b_checks: i64,
    /// Support: checks with both per million checks, half up.
    pub support_ppm: i64,
    /// Confidence a → b: checks with both per million checks with `a`.
    pub confidence_ab_ppm: i64,
    /// Confidence b → a: checks with both per million checks with `b`.
    pub confidence_ba_ppm: i64,
    /// Lift: support ÷ (support of a × support of b), thousandths, half up.
    pub lift_milli: i64,
}

/// A pair in the checks a promotion applied to, against the same pair in
/// the other checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PromotionPairRow {
    /// The first product.
    pub a: String,
    /// Its name.
    pub a_name: String,
    /// The second product.
    pub b: String,
    /// Its name.
    pub b_name: String,
    /// Checks with the promotion that have both.
    pub with_checks: i64,
    /// Of the checks with the promotion, per million.
    pub with_ppm: i64,
    /// Checks without the promotion that have both.
    pub without_checks: i64,
    /// Of the checks without the promotion, per million.
    pub without_ppm: i64,
    /// How many times more often the pair is bought with the promotion,
    /// thousandths; `None` when no check without it has the pair.
    pub uplift_milli: Option<i64>,
}

/// `baskets`: which products and categories are bought together, over
/// whole months (the period asked for is widened to them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BasketsView {
    /// Totals over the whole months.
    pub overview: Overview,
    /// Sales checks the basket figures count (returns leave baskets alone).
    pub checks: i64,
    /// The least checks with both items a pair needs to be listed.
    pub min_checks: i64,
    /// Product pairs, highest lift first (at most [`crate::services::analytics::baskets::TOP_PAIRS`]).
    pub pairs: Vec<PairRow>,
    /// Category pairs, highest lift first.
    pub categories: Vec<PairRow>,
    /// The chosen product's pairs (it is `a`), highest lift first.
    pub product: Option<ProductPairs>,
    /// The chosen promotion's pairs, most moved first.
    pub promotion: Option<PromotionPairs>,
    /// The promotions one can choose: id and name.
    pub promotions: Vec<(String, String)>,
}

/// One product's pairs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProductPairs {
    /// The SKU.
    pub sku: String,
    /// Its name.
    pub name: String,
    /// Checks with it.
    pub checks: i64,
    /// The least checks with both a pair needs.
    pub min_checks: i64,
    /// Its pairs.
    pub pairs: Vec<PairRow>,
}

/// One promotion's pairs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PromotionPairs {
    /// The promotion.
    pub promotion_id: String,
    /// Its name.
    pub name: String,
    /// Sales checks it applied to.
    pub checks: i64,
    /// The least checks with the promotion and both items a pair needs.
    pub min_checks: i64,
    /// Its pairs.
    pub pairs: Vec<PromotionPairRow>,
}
