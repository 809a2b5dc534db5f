//! Analytics kept as rollups at ingest and read as views.
//!
//! At ingest ([`rollup_record`], called by the ingest service in the
//! record's own transaction) each record adds to its store's local hour
//! and day, its products' and promotions' day and month (at the store and,
//! for products, chain-wide), its promotions' hour and its customer's
//! packed [`visits`]; a return is netted on the day of the return. Records
//! stored before the rollups existed are added once at start-up
//! ([`backfill`]). The views sum those rows over a filter (a period of
//! local days, a store, a brand) beside the previous period of the same
//! length; customer views read one row per customer. The promotions view
//! measures each promotion with a holdout against it ([`uplift`]).

pub mod basket_queue;
pub mod baskets;
pub mod uplift;
pub mod visits;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use chrono::{Datelike as _, Days, NaiveDate, Timelike as _};
use serde::Deserialize;
use shared::identity::AGE_BANDS;
use shared::ids::{BrandId, CustomerId, MerchantId, StoreId};
use shared::money::round_half_up;
use shared::record::{PurchaseRecord, RecordKind};
use shared::timezone::TimeZone;

use crate::db::analytics::{
    CustomerIds, CustomerVisitsRow, GroupKey, Month, ProductDelta, ProductRow, PromotionDelta,
    RollupAt, RollupFilter, Span, StoreFigures, StoreGrouping, StoreHour,
};
use crate::db::{DbError, Repository, Tx};
use crate::wire::analytics::{
    BasketsView, CohortRow, CustomerGroup, CustomersView, Figures, ItemRow, Overview, Period,
    PlaceRow, ProductsView, PromotionRow, PromotionSlice, PromotionsView, RfmTransition, SalesView,
    Scope, StoresView, TimeRow,
};

/// The longest period a view covers, in days.
pub const MAX_PERIOD_DAYS: u64 = 3 * 366;
/// The period shown when none is asked for: the last 30 days.
pub const DEFAULT_PERIOD_DAYS: u64 = 30;

/// How revenue over time is bucketed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Grain {
    /// Local hour of the day, over the whole period.
    Hour,
    /// Local day.
    #[default]
    Day,
    /// Seven days from the period's first.
    Week,
    /// Calendar month.
    Month,
}

impl Grain {
    /// The code in URLs and the API.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            Grain::Hour => "hour",
            Grain::Day => "day",
            Grain::Week => "week",
            Grain::Month => "month",
        }
    }
}

/// What a view is asked for, parsed at the edge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnalyticsQuery {
    /// The first day; default 29 days before `to`.
    pub from: Option<NaiveDate>,
    /// The last day; default today.
    pub to: Option<NaiveDate>,
    /// Only this store.
    pub store: Option<StoreId>,
    /// Only this brand's stores.
    pub brand: Option<BrandId>,
    /// Buckets of revenue over time.
    pub grain: Grain,
    /// The promotion to break down.
    pub promotion: Option<String>,
    /// Only customers with this segment tag (`rfm:loyal`, `seg:big`); the
    /// customers view only.
    pub segment: Option<String>,
    /// The product (SKU) whose pairs to show; the baskets view only.
    pub product: Option<String>,
    /// The least checks with both items a pair needs; the baskets view only.
    pub min_checks: Option<i64>,
}

/// Why a view could not be made.
#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    /// Storage failed, or the merchant does not exist.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The filter makes no sense: a message id of the pages' catalogues
    /// (`locales/*/analytics.ftl`), which the API writes in Russian.
    #[error("{0}")]
    Invalid(&'static str),
}

/// The analytics views of merchants.
#[derive(Clone)]
pub struct Analytics {
    repo: Arc<dyn Repository>,
    baskets: basket_queue::BasketQueue,
}

/// A resolved filter: the scope shown and the rollup filters of both periods.
struct Resolved {
    scope: Scope,
    current: RollupFilter,
    previous: RollupFilter,
    stores: Vec<crate::wire::admin::Store>,
}

impl Analytics {
    /// The service over `repo`, whose baskets view first adds what
    /// `baskets` still holds.
    pub fn new(repo: Arc<dyn Repository>, baskets: basket_queue::BasketQueue) -> Self {
        Analytics { repo, baskets }
    }

    /// Runs `view` over the resolved filter in one read; a segment filter
    /// is refused (only the customers view takes one).
    async fn run<T: Send + 'static>(
        &self,
        merchant: MerchantId,
        query: AnalyticsQuery,
        today: NaiveDate,
        view: impl FnOnce(&mut dyn Tx, &Resolved, &AnalyticsQuery) -> Result<T, DbError>
        + Send
        + 'static,
    ) -> Result<T, AnalyticsError> {
        if query.segment.is_some() {
            return Err(AnalyticsError::Invalid("analytics-error-segment-view"));
        }
        let resolved = self
            .repo
            .read(move |tx| {
                let resolved = match resolve(tx, merchant, &query, today)? {
                    Ok(resolved) => resolved,
                    Err(why) => return Ok(Err(why)),
                };
                Ok(Ok(view(tx, &resolved, &query)?))
            })
            .await?;
        resolved.map_err(AnalyticsError::Invalid)
    }

    /// The totals only.
    pub async fn overview(
        &self,
        merchant: MerchantId,
        query: AnalyticsQuery,
        today: NaiveDate,
    ) -> Result<Overview, AnalyticsError> {
        self.run(merchant, query, today, |tx, r, _| overview(tx, r))
            .await
    }

    /// Revenue over time with the previous period beside it.
    pub async fn sales(
        &self,
        merchant: MerchantId,
        query: AnalyticsQuery,
        today: NaiveDate,
    ) -> Result<SalesView, AnalyticsError> {
        self.run(merchant, query, today, |tx, r, q| sales(tx, r, q.grain))
            .await
    }

    /// By store and by brand.
    pub async fn stores(
        &self,
        merchant: MerchantId,
        query: AnalyticsQuery,
        today: NaiveDate,
    ) -> Result<StoresView, AnalyticsError> {
        self.run(merchant, query, today, |tx, r, _| stores(tx, r))
            .await
    }

    /// By product and by category.
    pub async fn products(
        &self,
        merchant: MerchantId,
        query: AnalyticsQuery,
        today: NaiveDate,
    ) -> Result<ProductsView, AnalyticsError> {
        // Sales stored before this page was asked for are on it (their
        // product rows are added off ingest, with their baskets).
        self.baskets.catch_up().await?;
        self.run(merchant, query, today, |tx, r, _| {
            let (products, categories) = item_figures(tx, &r.current)?;
            Ok(ProductsView {
                overview: overview(tx, r)?,
                products: products.into_iter().map(item_row).collect(),
                categories: categories.into_iter().map(item_row).collect(),
            })
        })
        .await
    }

    /// Who the customers are and how they come back.
    ///
    /// The pass over every customer's packed visits is cut by customer id
    /// into [`customer_shards`] shards, each read on a connection of its
    /// own at once, and their sums are added up here. Each shard reads in
    /// its own snapshot: a sale stored while they read is in the shards
    /// that read after it, and a customer is in exactly one shard.
    pub async fn customers(
        &self,
        merchant: MerchantId,
        query: AnalyticsQuery,
        today: NaiveDate,
    ) -> Result<CustomersView, AnalyticsError> {
        let first = self
            .repo
            .read(move |tx| {
                let resolved = match resolve(tx, merchant, &query, today)? {
                    Ok(resolved) => resolved,
                    Err(why) => return Ok(Err(why)),
                };
                let members: Option<HashSet<CustomerId>> = match query.segment.as_deref() {
                    Some(tag) => Some(tx.customers_with_tag(merchant, tag)?.into_iter().collect()),
                    None => None,
                };
                let bounds = tx.customer_visits_bounds()?;
                let overview = overview(tx, &resolved)?;
                Ok(Ok((resolved, members, bounds, overview)))
            })
            .await?;
        let (resolved, members, bounds, overview) = first.map_err(AnalyticsError::Invalid)?;
        let shared = Arc::new((resolved, members));
        let shards = bounds.map_or_else(Vec::new, |(least, greatest)| {
            CustomerIds::split(least, greatest, customer_shards())
        });
        let passes = futures::future::try_join_all(shards.into_iter().map(|ids| {
            let shared = Arc::clone(&shared);
            self.repo
                .read(move |tx| customers_pass(tx, &shared.0, shared.1.as_ref(), &ids))
        }))
        .await?;
        Ok(customers_view(&shared.0, overview, passes))
    }

    /// Which products and categories are bought together, over the whole
    /// months the period touches (see [`baskets`]).
    pub async fn baskets(
        &self,
        merchant: MerchantId,
        query: AnalyticsQuery,
        today: NaiveDate,
    ) -> Result<BasketsView, AnalyticsError> {
        let mut query = query;
        let to = query.to.unwrap_or(today);
        let from = query.from.unwrap_or_else(|| {
            to.checked_sub_days(Days::new(DEFAULT_PERIOD_DAYS - 1))
                .unwrap_or(to)
        });
        if from <= to {
            query.from = from.with_day(1);
            query.to = Month::of(to)
                .next()
                .first_day()
                .and_then(|d| d.pred_opt())
                .or(Some(to));
        }
        // Sales stored before this page was asked for are on it.
        self.baskets.catch_up().await?;
        self.run(merchant, query, today, |tx, r, q| {
            let names: Vec<(String, String)> = tx
                .current_ruleset(r.current.merchant_id)?
                .map(|c| c.ruleset.promotions)
                .unwrap_or_default()
                .iter()
                .map(|p| (p.id.to_string(), p.name.clone()))
                .collect();
            let promotion = q.promotion.as_deref().map(|id| {
                let name = names
                    .iter()
                    .find(|(p, _)| p == id)
                    .map_or("", |(_, n)| n.as_str());
                (id, name)
            });
            let reading = baskets::Reading {
                merchant_id: r.current.merchant_id,
                first: Month::of(r.current.from),
                last: Month::of(r.current.to),
                stores: r.current.stores.clone(),
            };
            let found =
                baskets::pairs(tx, &reading, q.min_checks, q.product.as_deref(), promotion)?;
            Ok(BasketsView {
                overview: overview(tx, r)?,
                checks: found.checks,
                min_checks: found.min_checks,
                pairs: found.pairs,
                categories: found.categories,
                product: found.product,
                promotion: found.promotion,
                promotions: names,
            })
        })
        .await
    }

    /// What each promotion did.
    pub async fn promotions(
        &self,
        merchant: MerchantId,
        query: AnalyticsQuery,
        today: NaiveDate,
    ) -> Result<PromotionsView, AnalyticsError> {
        self.run(merchant, query, today, |tx, r, q| {
            promotions(tx, r, q.promotion.as_deref())
        })
        .await
    }
}

fn resolve(
    tx: &mut dyn Tx,
    merchant: MerchantId,
    query: &AnalyticsQuery,
    today: NaiveDate,
) -> Result<Result<Resolved, &'static str>, DbError> {
    tx.merchant_currency(merchant)?;
    let to = query.to.unwrap_or(today);
    let from = match query.from {
        Some(from) => from,
        None => to
            .checked_sub_days(Days::new(DEFAULT_PERIOD_DAYS - 1))
            .unwrap_or(to),
    };
    if from > to {
        return Ok(Err("analytics-error-reversed"));
    }
    let days = u64::try_from((to - from).num_days()).unwrap_or(u64::MAX) + 1;
    if days > MAX_PERIOD_DAYS {
        return Ok(Err("analytics-error-too-long"));
    }
    let Some(prev_to) = from.checked_sub_days(Days::new(1)) else {
        return Ok(Err("analytics-error-too-early"));
    };
    let Some(prev_from) = from.checked_sub_days(Days::new(days)) else {
        return Ok(Err("analytics-error-too-early"));
    };
    let stores = tx.stores(merchant)?;
    if let Some(store) = query.store
        && !stores.iter().any(|s| s.id == store)
    {
        return Ok(Err("analytics-error-no-store"));
    }
    if let Some(brand) = query.brand
        && !tx.brands(merchant)?.iter().any(|b| b.id == brand)
    {
        return Ok(Err("analytics-error-no-brand"));
    }
    let filter_stores = match (query.store, query.brand) {
        (None, None) => None,
        (store, brand) => Some(
            stores
                .iter()
                .filter(|s| store.is_none_or(|id| s.id == id))
                .filter(|s| brand.is_none_or(|b| s.brand_id == Some(b)))
                .map(|s| s.id)
                .collect(),
        ),
    };
    let filter = |from, to| RollupFilter {
        merchant_id: merchant,
        from,
        to,
        stores: filter_stores.clone(),
    };
    Ok(Ok(Resolved {
        scope: Scope {
            period: Period { from, to },
            previous: Period {
                from: prev_from,
                to: prev_to,
            },
            store_id: query.store,
            brand_id: query.brand,
        },
        current: filter(from, to),
        previous: filter(prev_from, prev_to),
        stores,
    }))
}

fn wide_to_i64(n: i128) -> i64 {
    i64::try_from(n).unwrap_or(if n < 0 { i64::MIN } else { i64::MAX })
}

/// Half-up `numerator / denominator`, 0 when nothing to divide by.
fn per(numerator: i64, denominator: i64) -> i64 {
    if denominator <= 0 {
        return 0;
    }
    wide_to_i64(round_half_up(
        i128::from(numerator),
        i128::from(denominator),
    ))
}

/// The figures of summed rows.
#[must_use]
pub fn figures(f: &StoreFigures) -> Figures {
    Figures {
        checks: f.checks,
        returns: f.returns,
        revenue: f.sales.saturating_sub(f.refunds),
        sales: f.sales,
        refunds: f.refunds,
        discount: f.discount,
        average_check: per(f.sales, f.checks),
        items_milli: f.items_milli,
        items_per_check_milli: per(f.items_milli, f.checks),
        points_earned: f.points_earned,
        points_spent: f.points_spent,
    }
}

fn total(tx: &mut dyn Tx, filter: &RollupFilter) -> Result<StoreFigures, DbError> {
    Ok(tx
        .store_figures(filter, StoreGrouping::Total)?
        .into_iter()
        .next()
        .map(|(_, f)| f)
        .unwrap_or_default())
}

fn overview(tx: &mut dyn Tx, r: &Resolved) -> Result<Overview, DbError> {
    Ok(Overview {
        scope: r.scope.clone(),
        totals: figures(&total(tx, &r.current)?),
        previous: figures(&total(tx, &r.previous)?),
    })
}

fn add(into: &mut StoreFigures, f: &StoreFigures) {
    into.checks += f.checks;
    into.returns += f.returns;
    into.sales += f.sales;
    into.refunds += f.refunds;
    into.discount += f.discount;
    into.items_milli += f.items_milli;
    into.points_earned += f.points_earned;
    into.points_spent += f.points_spent;
}

/// The bucket of `day` in a period starting `from`: its offset and label.
fn bucket(grain: Grain, from: NaiveDate, day: NaiveDate) -> (i64, String) {
    match grain {
        Grain::Hour => (0, String::new()),
        Grain::Day => ((day - from).num_days(), day.to_string()),
        Grain::Week => {
            let n = (day - from).num_days() / 7;
            let start = from
                .checked_add_days(Days::new(u64::try_from(n * 7).unwrap_or(0)))
                .unwrap_or(from);
            (n, start.to_string())
        }
        Grain::Month => {
            let months = (i64::from(day.year()) - i64::from(from.year())) * 12
                + i64::from(day.month())
                - i64::from(from.month());
            (months, format!("{:04}-{:02}", day.year(), day.month()))
        }
    }
}

/// The buckets of `filter`'s rows. A previous period's day counts in the
/// bucket of its counterpart `shift` days later in the period shown, so
/// each bucket sits beside the same stretch of days before it.
fn time_buckets(
    tx: &mut dyn Tx,
    filter: &RollupFilter,
    grain: Grain,
    start: NaiveDate,
    shift: Days,
) -> Result<BTreeMap<i64, (String, StoreFigures)>, DbError> {
    let mut out: BTreeMap<i64, (String, StoreFigures)> = BTreeMap::new();
    if grain == Grain::Hour {
        for (key, f) in tx.store_figures(filter, StoreGrouping::Hour)? {
            if let GroupKey::Hour(h) = key {
                out.insert(i64::from(h), (format!("{h:02}"), f));
            }
        }
        return Ok(out);
    }
    for (key, f) in tx.store_figures(filter, StoreGrouping::Day)? {
        if let GroupKey::Day(day) = key {
            let counterpart = day.checked_add_days(shift).unwrap_or(day);
            let (n, label) = bucket(grain, start, counterpart);
            add(
                &mut out.entry(n).or_insert((label, StoreFigures::default())).1,
                &f,
            );
        }
    }
    Ok(out)
}

fn sales(tx: &mut dyn Tx, r: &Resolved, grain: Grain) -> Result<SalesView, DbError> {
    let length =
        Days::new(u64::try_from((r.current.from - r.previous.from).num_days()).unwrap_or(0));
    let mut current = time_buckets(tx, &r.current, grain, r.current.from, Days::new(0))?;
    let previous = time_buckets(tx, &r.previous, grain, r.current.from, length)?;
    // Every bucket of the period is shown, empty ones included.
    let mut day = r.current.from;
    if grain == Grain::Hour {
        for h in 0..24 {
            current
                .entry(h)
                .or_insert_with(|| (format!("{h:02}"), StoreFigures::default()));
        }
    } else {
        while day <= r.current.to {
            let (n, label) = bucket(grain, r.current.from, day);
            current
                .entry(n)
                .or_insert_with(|| (label, StoreFigures::default()));
            day = day.succ_opt().unwrap_or(NaiveDate::MAX);
            if day == NaiveDate::MAX {
                break;
            }
        }
    }
    Ok(SalesView {
        overview: overview(tx, r)?,
        grain: grain.code().to_owned(),
        rows: current
            .into_iter()
            .map(|(n, (label, f))| TimeRow {
                label,
                figures: figures(&f),
                previous_revenue: previous
                    .get(&n)
                    .map_or(0, |(_, p)| p.sales.saturating_sub(p.refunds)),
            })
            .collect(),
    })
}

fn stores(tx: &mut dyn Tx, r: &Resolved) -> Result<StoresView, DbError> {
    let by_store = |tx: &mut dyn Tx, filter| -> Result<HashMap<StoreId, StoreFigures>, DbError> {
        Ok(tx
            .store_figures(filter, StoreGrouping::Store)?
            .into_iter()
            .filter_map(|(k, f)| match k {
                GroupKey::Store(id) => Some((id, f)),
                _ => None,
            })
            .collect())
    };
    let current = by_store(tx, &r.current)?;
    let previous = by_store(tx, &r.previous)?;
    let brands: HashMap<BrandId, String> = tx
        .brands(r.current.merchant_id)?
        .into_iter()
        .map(|b| (b.id, b.name))
        .collect();
    let mut store_rows = Vec::new();
    let mut brand_sums: BTreeMap<i64, (String, StoreFigures, i64)> = BTreeMap::new();
    for s in &r.stores {
        let (Some(f), p) = (current.get(&s.id), previous.get(&s.id)) else {
            continue;
        };
        let prev = p.map_or(0, |p| p.sales.saturating_sub(p.refunds));
        store_rows.push(PlaceRow {
            id: s.id.get(),
            name: s.name.clone(),
            figures: figures(f),
            previous_revenue: prev,
        });
        let (brand_id, brand_name) = match s.brand_id {
            Some(b) => (b.get(), brands.get(&b).cloned().unwrap_or_default()),
            None => (0, "Без бренда".to_owned()),
        };
        let entry = brand_sums
            .entry(brand_id)
            .or_insert((brand_name, StoreFigures::default(), 0));
        add(&mut entry.1, f);
        entry.2 += prev;
    }
    let mut brand_rows: Vec<PlaceRow> = brand_sums
        .into_iter()
        .map(|(id, (name, f, prev))| PlaceRow {
            id,
            name,
            figures: figures(&f),
            previous_revenue: prev,
        })
        .collect();
    let by_revenue = |a: &PlaceRow, b: &PlaceRow| {
        b.figures
            .revenue
            .cmp(&a.figures.revenue)
            .then(a.id.cmp(&b.id))
    };
    store_rows.sort_by(by_revenue);
    brand_rows.sort_by(by_revenue);
    Ok(StoresView {
        overview: overview(tx, r)?,
        stores: store_rows,
        brands: brand_rows,
    })
}

/// Sums of a product or category.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemFigures {
    /// The SKU or category (empty: none).
    pub key: String,
    /// A name seen on its lines (products only; the greatest, as text).
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

impl ItemFigures {
    fn add(&mut self, row: &ProductRow<'_>) {
        self.checks += row.checks;
        self.items_milli = self.items_milli.saturating_add(row.items_milli);
        self.revenue = self.revenue.saturating_add(row.revenue);
        self.discount = self.discount.saturating_add(row.discount);
    }
}

/// Products and categories over `filter`, each highest revenue first:
/// one pass over the period's product rows, summed here.
fn item_figures(
    tx: &mut dyn Tx,
    filter: &RollupFilter,
) -> Result<(Vec<ItemFigures>, Vec<ItemFigures>), DbError> {
    let mut products: HashMap<String, ItemFigures> = HashMap::new();
    let mut categories: HashMap<String, ItemFigures> = HashMap::new();
    tx.each_product_row(filter, &mut |row| {
        let product = match products.get_mut(row.sku) {
            Some(product) => product,
            None => products
                .entry(row.sku.to_owned())
                .or_insert_with(|| ItemFigures {
                    key: row.sku.to_owned(),
                    ..ItemFigures::default()
                }),
        };
        product.add(&row);
        if row.name > product.name.as_str() {
            row.name.clone_into(&mut product.name);
        }
        let category = match categories.get_mut(row.category) {
            Some(category) => category,
            None => categories
                .entry(row.category.to_owned())
                .or_insert_with(|| ItemFigures {
                    key: row.category.to_owned(),
                    ..ItemFigures::default()
                }),
        };
        category.add(&row);
    })?;
    let sorted = |map: HashMap<String, ItemFigures>| {
        let mut rows: Vec<ItemFigures> = map.into_values().collect();
        rows.sort_by(|a, b| b.revenue.cmp(&a.revenue).then_with(|| a.key.cmp(&b.key)));
        rows
    };
    Ok((sorted(products), sorted(categories)))
}

fn item_row(f: ItemFigures) -> ItemRow {
    ItemRow {
        key: if f.key.is_empty() {
            "—".to_owned()
        } else {
            f.key
        },
        name: f.name,
        checks: f.checks,
        items_milli: f.items_milli,
        revenue: f.revenue,
        discount: f.discount,
    }
}

/// One identified customer's activity in a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerActivity {
    /// Who.
    pub customer_id: CustomerId,
    /// Gender: `female`, `male` or `unspecified`.
    pub gender: &'static str,
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

/// Distinct customers by (month of first purchase, month active).
pub(crate) type CohortCells = BTreeMap<(Month, Month), i64>;

/// Every customer active in `filter`, and the cohort cells: customers
/// whose first purchase month is `filter`'s first month or later, by that
/// month and each month they were active in the period.
pub(crate) fn customer_activity(
    tx: &mut dyn Tx,
    filter: &RollupFilter,
) -> Result<(Vec<CustomerActivity>, CohortCells), DbError> {
    let months = Months::of(filter.from, filter.to);
    let mut cohorts = Cohorts::new(&months);
    let mut activity = Vec::new();
    each_active(
        tx,
        filter,
        None,
        None,
        &months,
        &CustomerIds::ALL,
        &mut |a| {
            let Some(now) = a.now else { return };
            cohorts.add(a.first_day, a.months);
            activity.push(CustomerActivity {
                customer_id: a.row.customer_id,
                gender: GENDERS[gender_index(a.row.gender)],
                birth_date: a.row.birth_date,
                first_day: date_of(a.first_day),
                last_day: date_of(now.last_day),
                visits: now.visits,
                checks: now.checks,
                revenue: now.revenue,
            });
        },
    )?;
    Ok((activity, cohorts.cells()))
}

/// A day's number ([`NaiveDate::num_days_from_ce`]) as the date (every
/// number a row gives is one: `visits` checks as it reads).
fn date_of(day: i32) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(day).unwrap_or(NaiveDate::MIN)
}

/// The gender codes the customer views group by, in their order.
const GENDERS: [&str; 3] = ["female", "male", "unspecified"];

/// A stored gender's place in [`GENDERS`] (anything else is unspecified).
fn gender_index(gender: &str) -> usize {
    match gender {
        "female" => 0,
        "male" => 1,
        _ => 2,
    }
}

/// A birth date's age band on `day`, as its place in [`AGE_BANDS`]
/// (`AGE_BANDS.len()`: unknown): [`shared::identity::age_band`] without
/// the label.
fn age_index(birth: Option<NaiveDate>, day: NaiveDate) -> usize {
    birth
        .and_then(|birth| {
            let age = shared::identity::age_on(birth, day);
            AGE_BANDS
                .iter()
                .position(|(_, lo, hi)| (*lo..=*hi).contains(&age))
        })
        .unwrap_or(AGE_BANDS.len())
}

/// One customer's figures in one period, the days as their numbers.
#[derive(Debug, Clone, Copy)]
struct Tally {
    /// Days with a record.
    visits: i64,
    /// Sales checks.
    checks: i64,
    /// Net revenue, kopecks.
    revenue: i64,
    /// The last day with a record.
    last_day: i32,
}

impl Tally {
    fn new(day: i32) -> Self {
        Tally {
            visits: 0,
            checks: 0,
            revenue: 0,
            last_day: day,
        }
    }

    /// Adds a visit (visits come in day order: a day at two stores is one).
    fn add(&mut self, visit: &visits::RawVisit) {
        if self.visits == 0 || self.last_day != visit.day {
            self.visits += 1;
        }
        self.last_day = visit.day;
        self.checks = self.checks.saturating_add(visit.figures.checks);
        self.revenue = self.revenue.saturating_add(visit.figures.revenue());
    }
}

/// The calendar months of a period, to place its days without dates
/// (at most 37: [`MAX_PERIOD_DAYS`]).
struct Months {
    /// The period's first month.
    first: Month,
    /// The number of the first day of each month after the first, to the
    /// period's last month.
    starts: Vec<i32>,
}

impl Months {
    fn of(from: NaiveDate, to: NaiveDate) -> Self {
        let (first, last) = (Month::of(from), Month::of(to));
        let mut starts = Vec::new();
        let mut month = first.next();
        while month <= last {
            let Some(day) = month.first_day() else { break };
            starts.push(day.num_days_from_ce());
            month = month.next();
        }
        Months { first, starts }
    }

    /// How many months there are.
    fn len(&self) -> usize {
        self.starts.len() + 1
    }

    /// The `i`-th month.
    fn nth(&self, i: usize) -> Month {
        (0..i).fold(self.first, |m, _| m.next())
    }

    /// The place of a day in the period's months (0 for any day before).
    fn index(&self, day: i32) -> usize {
        self.starts.partition_point(|start| *start <= day)
    }
}

/// Cohort cells over a period's months, one count per (first month, month).
struct Cohorts<'m> {
    months: &'m Months,
    /// The first day of the period's first month: earlier first purchases
    /// are in no cohort.
    floor: i32,
    cells: Vec<i64>,
}

impl<'m> Cohorts<'m> {
    fn new(months: &'m Months) -> Self {
        let n = months.len();
        Cohorts {
            months,
            floor: months
                .first
                .first_day()
                .map_or(i32::MAX, |d| d.num_days_from_ce()),
            cells: vec![0; n * n],
        }
    }

    /// A customer whose first purchase was on `first_day`, active in the
    /// months of the bits of `active`.
    fn add(&mut self, first_day: i32, active: u64) {
        if first_day < self.floor {
            return;
        }
        let n = self.months.len();
        let cohort = self.months.index(first_day).min(n - 1);
        let mut bits = active;
        while bits != 0 {
            let month = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            if let Some(cell) = self.cells.get_mut(cohort * n + month) {
                *cell += 1;
            }
        }
    }

    fn cells(&self) -> CohortCells {
        let n = self.months.len();
        let mut cells = CohortCells::new();
        for (i, count) in self.cells.iter().enumerate() {
            if *count > 0 {
                cells.insert((self.months.nth(i / n), self.months.nth(i % n)), *count);
            }
        }
        cells
    }
}

/// One customer active in the period or the one before, as the pass over
/// the packed visits found them.
struct Active<'r, 'a> {
    row: &'r CustomerVisitsRow<'a>,
    /// The first purchase day at the merchant, ever (any store).
    first_day: i32,
    /// In the period.
    now: Option<Tally>,
    /// In the period before.
    before: Option<Tally>,
    /// Bit `i`: a record in the period's `i`-th month.
    months: u64,
}

/// Calls `each` with every customer (only `members`, when given) with a
/// record at `filter`'s stores in its period or in `previous`'s, in one
/// pass over the packed visits that builds no date and allocates nothing
/// per customer.
fn each_active(
    tx: &mut dyn Tx,
    filter: &RollupFilter,
    previous: Option<&RollupFilter>,
    members: Option<&HashSet<CustomerId>>,
    months: &Months,
    ids: &CustomerIds,
    each: &mut dyn FnMut(&Active<'_, '_>),
) -> Result<(), DbError> {
    let stores: Option<Vec<StoreId>> = filter.stores.as_ref().map(|s| {
        let mut s = s.clone();
        s.sort_unstable();
        s
    });
    let (from, to) = (filter.from.num_days_from_ce(), filter.to.num_days_from_ce());
    // No previous period: a range no day is in.
    let (before_from, before_to) = previous.map_or((1, 0), |p| {
        (p.from.num_days_from_ce(), p.to.num_days_from_ce())
    });
    let mut damaged = None;
    tx.each_customer_visits_in(filter.merchant_id, ids, &mut |row| {
        if members.is_some_and(|m| !m.contains(&row.customer_id)) {
            return;
        }
        let mut first_day = None;
        let mut now: Option<Tally> = None;
        let mut before: Option<Tally> = None;
        let mut active = 0_u64;
        let mut month = 0_u32;
        let read = visits::for_each_raw(row.visits, |visit| {
            first_day.get_or_insert(visit.day);
            if let Some(stores) = &stores
                && stores.binary_search(&visit.store).is_err()
            {
                return;
            }
            let day = visit.day;
            if day >= before_from && day <= before_to {
                before.get_or_insert(Tally::new(day)).add(visit);
            }
            if day < from || day > to {
                return;
            }
            now.get_or_insert(Tally::new(day)).add(visit);
            while months
                .starts
                .get(month as usize)
                .is_some_and(|start| day >= *start)
            {
                month += 1;
            }
            active |= 1_u64.checked_shl(month).unwrap_or(0);
        });
        if let Err(e) = read {
            damaged.get_or_insert(e);
            return;
        }
        if let Some(first_day) = first_day
            && (now.is_some() || before.is_some())
        {
            each(&Active {
                row: &row,
                first_day,
                now,
                before,
                months: active,
            });
        }
    })?;
    match damaged {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The state of a customer with no purchase in a period, in transitions.
pub const INACTIVE: &str = "inactive";

/// Visits in the period, bucketed.
pub const FREQUENCY_BANDS: [(&str, i64, i64); 5] = [
    ("1", 1, 1),
    ("2", 2, 2),
    ("3-4", 3, 4),
    ("5-9", 5, 9),
    ("10+", 10, i64::MAX),
];

/// RFM segments, in the order shown.
pub const RFM_SEGMENTS: [&str; 6] = [
    "champions",
    "loyal",
    "new",
    "lapsed_high_spenders",
    "lapsing",
    "other",
];

/// A customer's RFM segment: recency by days from their last purchase to
/// the period's end (≤ 30 recent, ≤ 90 cooling, else lapsed), frequency
/// by visits (1, 2–4, 5+), money against `high` (the period's upper
/// third of spend, at least).
#[must_use]
pub fn rfm_segment(a: &CustomerActivity, end: NaiveDate, high: i64) -> &'static str {
    let tally = Tally {
        visits: a.visits,
        checks: a.checks,
        revenue: a.revenue,
        last_day: a.last_day.num_days_from_ce(),
    };
    RFM_SEGMENTS[RfmEnd::of(end).index(&tally, a.first_day.num_days_from_ce(), high)]
}

/// A period's end as [`rfm_segment`] measures against it, in day numbers.
#[derive(Debug, Clone, Copy)]
struct RfmEnd {
    end: i32,
    /// A first purchase on this day or later is new.
    new_from: i32,
}

impl RfmEnd {
    fn of(end: NaiveDate) -> Self {
        RfmEnd {
            end: end.num_days_from_ce(),
            new_from: end
                .checked_sub_days(Days::new(30))
                .unwrap_or(end)
                .num_days_from_ce(),
        }
    }

    /// The segment's place in [`RFM_SEGMENTS`].
    fn index(self, t: &Tally, first_day: i32, high: i64) -> usize {
        let since = i64::from(self.end) - i64::from(t.last_day);
        let recency = if since <= 30 {
            3
        } else if since <= 90 {
            2
        } else {
            1
        };
        let frequency = match t.visits {
            ..=1 => 1,
            2..=4 => 2,
            _ => 3,
        };
        let spends_high = t.revenue >= high && t.revenue > 0;
        match (recency, frequency, spends_high) {
            (3, 3, _) | (3, 2, true) => 0,
            (3 | 2, 2 | 3, _) => 1,
            (3, 1, _) if first_day >= self.new_from => 2,
            (1 | 2, _, true) => 3,
            (1, _, _) => 4,
            _ => 5,
        }
    }
}

/// The revenue at or above which a customer is a high spender: the lower
/// bound of the top third (by revenue, ties broken by id).
#[must_use]
pub fn high_spend_threshold(activity: &[CustomerActivity]) -> i64 {
    threshold_of(activity.iter().map(|a| a.revenue).collect())
}

/// [`high_spend_threshold`] of these spends.
fn threshold_of(mut spends: Vec<i64>) -> i64 {
    if spends.is_empty() {
        return i64::MAX;
    }
    let index = spends.len() - spends.len().div_ceil(3);
    *spends.select_nth_unstable(index).1
}

/// Customers, visits, checks and revenue of a group.
type GroupSums = [i64; 4];

fn add_to_group(sums: &mut GroupSums, t: &Tally) {
    sums[0] += 1;
    sums[1] = sums[1].saturating_add(t.visits);
    sums[2] = sums[2].saturating_add(t.checks);
    sums[3] = sums[3].saturating_add(t.revenue);
}

/// The groups with a customer, in `order`.
fn grouped<'a>(order: impl IntoIterator<Item = &'a str>, sums: &[GroupSums]) -> Vec<CustomerGroup> {
    order
        .into_iter()
        .zip(sums)
        .filter(|(_, sums)| sums[0] > 0)
        .map(
            |(code, [customers, visits, checks, revenue])| CustomerGroup {
                code: code.to_owned(),
                customers: *customers,
                visits: *visits,
                checks: *checks,
                revenue: *revenue,
            },
        )
        .collect()
}

/// What the RFM groups and transitions need of a customer, kept from the
/// pass until both periods' high-spend thresholds are known.
struct Recent {
    first_day: i32,
    now: Option<Tally>,
    before: Option<Tally>,
}

/// The most shards the customers view's pass is cut into.
const MAX_CUSTOMER_SHARDS: usize = 4;

/// How many shards the customers view's pass is cut into: one per core,
/// at most [`MAX_CUSTOMER_SHARDS`], and never fewer than two, so that
/// every run (the tests' too) adds shards up.
fn customer_shards() -> usize {
    std::thread::available_parallelism()
        .map_or(2, std::num::NonZero::get)
        .clamp(2, MAX_CUSTOMER_SHARDS)
}

/// What one shard of the customers view's pass sums: every grouping but
/// RFM's, which waits for the periods' high-spend thresholds over every
/// shard.
struct CustomersPass {
    /// [`Cohorts`]' cells.
    cohorts: Vec<i64>,
    genders: [GroupSums; GENDERS.len()],
    ages: [GroupSums; AGE_BANDS.len() + 1],
    new_returning: [GroupSums; 2],
    frequency: [GroupSums; FREQUENCY_BANDS.len()],
    recent: Vec<Recent>,
}

impl CustomersPass {
    /// Adds `other`'s sums to these.
    fn merge(&mut self, other: CustomersPass) {
        fn add(into: &mut [GroupSums], from: &[GroupSums]) {
            for (a, b) in into.iter_mut().zip(from) {
                for (x, y) in a.iter_mut().zip(b) {
                    *x = x.saturating_add(*y);
                }
            }
        }
        for (a, b) in self.cohorts.iter_mut().zip(&other.cohorts) {
            *a += b;
        }
        add(&mut self.genders, &other.genders);
        add(&mut self.ages, &other.ages);
        add(&mut self.new_returning, &other.new_returning);
        add(&mut self.frequency, &other.frequency);
        self.recent.extend(other.recent);
    }
}

/// The customers view's pass over the customers in `ids`.
fn customers_pass(
    tx: &mut dyn Tx,
    r: &Resolved,
    members: Option<&HashSet<CustomerId>>,
    ids: &CustomerIds,
) -> Result<CustomersPass, DbError> {
    let end = r.current.to;
    let from = r.current.from.num_days_from_ce();
    let months = Months::of(r.current.from, r.current.to);
    let mut cohorts = Cohorts::new(&months);
    let mut genders = [GroupSums::default(); GENDERS.len()];
    let mut ages = [GroupSums::default(); AGE_BANDS.len() + 1];
    let mut new_returning = [GroupSums::default(); 2];
    let mut frequency = [GroupSums::default(); FREQUENCY_BANDS.len()];
    let mut recent: Vec<Recent> = Vec::new();
    each_active(
        tx,
        &r.current,
        Some(&r.previous),
        members,
        &months,
        ids,
        &mut |a| {
            if let Some(now) = &a.now {
                cohorts.add(a.first_day, a.months);
                add_to_group(&mut genders[gender_index(a.row.gender)], now);
                add_to_group(&mut ages[age_index(a.row.birth_date, end)], now);
                add_to_group(&mut new_returning[usize::from(a.first_day < from)], now);
                let band = FREQUENCY_BANDS
                    .iter()
                    .position(|(_, lo, hi)| (*lo..=*hi).contains(&now.visits))
                    .unwrap_or(0);
                add_to_group(&mut frequency[band], now);
            }
            recent.push(Recent {
                first_day: a.first_day,
                now: a.now,
                before: a.before,
            });
        },
    )?;
    Ok(CustomersPass {
        cohorts: cohorts.cells,
        genders,
        ages,
        new_returning,
        frequency,
        recent,
    })
}

/// The customers view from its shards' sums.
fn customers_view(r: &Resolved, overview: Overview, passes: Vec<CustomersPass>) -> CustomersView {
    let end = r.current.to;
    let months = Months::of(r.current.from, r.current.to);
    let mut cohorts = Cohorts::new(&months);
    let mut total = CustomersPass {
        cohorts: std::mem::take(&mut cohorts.cells),
        genders: Default::default(),
        ages: Default::default(),
        new_returning: Default::default(),
        frequency: Default::default(),
        recent: Vec::new(),
    };
    for pass in passes {
        total.merge(pass);
    }
    cohorts.cells = total.cohorts;
    let CustomersPass {
        genders,
        ages,
        new_returning,
        frequency,
        recent,
        ..
    } = total;
    let high = threshold_of(recent.iter().filter_map(|c| Some(c.now?.revenue)).collect());
    let high_before = threshold_of(
        recent
            .iter()
            .filter_map(|c| Some(c.before?.revenue))
            .collect(),
    );
    let (now_end, before_end) = (RfmEnd::of(end), RfmEnd::of(r.previous.to));
    let mut rfm = [GroupSums::default(); RFM_SEGMENTS.len()];
    // From (a segment, or inactive last) to (the same).
    let mut moves = [[0_i64; RFM_SEGMENTS.len() + 1]; RFM_SEGMENTS.len() + 1];
    for c in &recent {
        let was = c.before.as_ref().map_or(RFM_SEGMENTS.len(), |t| {
            before_end.index(t, c.first_day, high_before)
        });
        let is = match &c.now {
            Some(t) => {
                let is = now_end.index(t, c.first_day, high);
                add_to_group(&mut rfm[is], t);
                is
            }
            None => RFM_SEGMENTS.len(),
        };
        moves[was][is] += 1;
    }
    let state = |i: usize| RFM_SEGMENTS.get(i).copied().unwrap_or(INACTIVE);
    let mut rfm_transitions = Vec::new();
    for (was, row) in moves.iter().enumerate() {
        for (is, customers) in row.iter().enumerate() {
            if *customers > 0 {
                rfm_transitions.push(RfmTransition {
                    from: state(was).to_owned(),
                    to: state(is).to_owned(),
                    customers: *customers,
                });
            }
        }
    }
    let mut by_cohort: BTreeMap<String, Vec<(String, i64)>> = BTreeMap::new();
    for ((cohort, month), customers) in cohorts.cells() {
        by_cohort
            .entry(cohort.text())
            .or_default()
            .push((month.text(), customers));
    }
    CustomersView {
        overview,
        genders: grouped(GENDERS, &genders),
        ages: grouped(
            AGE_BANDS
                .iter()
                .map(|(band, _, _)| *band)
                .chain(["unknown"]),
            &ages,
        ),
        new_returning: grouped(["new", "returning"], &new_returning),
        frequency: grouped(FREQUENCY_BANDS.map(|(b, _, _)| b), &frequency),
        cohorts: by_cohort
            .into_iter()
            .map(|(cohort, months)| CohortRow {
                size: months
                    .iter()
                    .find(|(m, _)| *m == cohort)
                    .map_or(0, |(_, n)| *n),
                cohort,
                months,
            })
            .collect(),
        rfm: grouped(RFM_SEGMENTS, &rfm),
        rfm_transitions,
    }
}

fn promotions(
    tx: &mut dyn Tx,
    r: &Resolved,
    selected: Option<&str>,
) -> Result<PromotionsView, DbError> {
    let all = figures(&total(tx, &r.current)?);
    let current = tx
        .current_ruleset(r.current.merchant_id)?
        .map(|c| c.ruleset.promotions)
        .unwrap_or_default();
    let names: HashMap<String, String> = current
        .iter()
        .map(|p| (p.id.to_string(), p.name.clone()))
        .collect();
    // Promotions' dates are read in the zone of the merchant's first store.
    let zone = r
        .stores
        .first()
        .map_or(chrono_tz::Tz::UTC, |s| s.timezone.tz());
    let uplift = uplift::uplift(tx, &r.current, &current, zone)?;
    let rows: Vec<PromotionRow> = tx
        .promotion_figures(&r.current)?
        .into_iter()
        .map(|p| {
            let sales_checks = p.checks.max(0);
            PromotionRow {
                name: names.get(&p.promotion_id).cloned().unwrap_or_default(),
                uses: p.checks,
                customers: p.customers,
                cost: p.discount,
                funded_by: p.funded_by,
                basket_with: per(p.sales, sales_checks),
                basket_without: per(all.sales - p.sales, all.checks - sales_checks),
                items_with_milli: per(p.items_milli, sales_checks),
                items_without_milli: per(
                    all.items_milli - p.items_milli,
                    all.checks - sales_checks,
                ),
                promotion_id: p.promotion_id,
            }
        })
        .collect();
    let selected = selected
        .filter(|id| rows.iter().any(|p| p.promotion_id == *id))
        .or_else(|| rows.first().map(|p| p.promotion_id.as_str()))
        .map(str::to_owned);
    let (mut by_hour, mut by_weekday, mut by_store) = (Vec::new(), Vec::new(), Vec::new());
    if let Some(id) = &selected {
        for (key, f) in tx.promotion_groups(&r.current, id, StoreGrouping::Hour)? {
            if let GroupKey::Hour(h) = key {
                by_hour.push(PromotionSlice {
                    label: format!("{h:02}"),
                    uses: f.checks,
                    cost: f.discount,
                });
            }
        }
        let mut weekdays = [(0_i64, 0_i64); 7];
        for (key, f) in tx.promotion_groups(&r.current, id, StoreGrouping::Day)? {
            if let GroupKey::Day(day) = key {
                let w = day.weekday().num_days_from_monday() as usize;
                weekdays[w].0 += f.checks;
                weekdays[w].1 += f.discount;
            }
        }
        by_weekday = weekdays
            .iter()
            .enumerate()
            .filter(|(_, (uses, cost))| *uses != 0 || *cost != 0)
            .map(|(w, (uses, cost))| PromotionSlice {
                label: (w + 1).to_string(),
                uses: *uses,
                cost: *cost,
            })
            .collect();
        let names: HashMap<StoreId, &str> =
            r.stores.iter().map(|s| (s.id, s.name.as_str())).collect();
        for (key, f) in tx.promotion_groups(&r.current, id, StoreGrouping::Store)? {
            if let GroupKey::Store(s) = key {
                by_store.push(PromotionSlice {
                    label: names.get(&s).copied().unwrap_or_default().to_owned(),
                    uses: f.checks,
                    cost: f.discount,
                });
            }
        }
        by_store.sort_by(|a, b| b.uses.cmp(&a.uses).then(a.label.cmp(&b.label)));
    }
    Ok(PromotionsView {
        overview: overview(tx, r)?,
        promotions: rows,
        selected,
        by_hour,
        by_weekday,
        by_store,
        uplift,
    })
}

/// What a record adds to its customer's visits: its day, store and figures.
type CustomerDay = (NaiveDate, StoreId, visits::VisitFigures);

/// The rollup deltas of several records, merged by row, so a batch adds
/// to each row once (most of a register's batch falls in a few hours).
#[derive(Debug, Default)]
pub struct Rollups {
    store_hours: BTreeMap<StoreHour, StoreFigures>,
    store_days: BTreeMap<StoreHour, StoreFigures>,
    products: BTreeMap<(RollupAt, String, String), ProductDelta>,
    customers: BTreeMap<(MerchantId, CustomerId), Vec<CustomerDay>>,
    promotion_hours: BTreeMap<(StoreHour, String), PromotionDelta>,
    promotions: BTreeMap<(RollupAt, String), PromotionDelta>,
    promotion_customers: BTreeSet<(StoreHour, String, CustomerId)>,
    baskets: baskets::BasketDeltas,
    /// Which of a record's rows it adds.
    rows: RowKinds,
}

/// The kinds of rows a [`Rollups`] adds: by default all of them. Ingest
/// adds a record's own rows and queues the sale for its line rows
/// (products and baskets: most of a many-line sale's rows), which
/// [`basket_queue`] adds.
#[derive(Debug, Clone, Copy)]
struct RowKinds {
    /// The store's hour and day, the customer's visits, the promotions'.
    own: bool,
    /// Each product's day and month, at the store and chain-wide.
    products: bool,
    /// The basket rows (see [`baskets`]).
    baskets: bool,
}

impl Default for RowKinds {
    fn default() -> Self {
        RowKinds {
            own: true,
            products: true,
            baskets: true,
        }
    }
}

/// The rows a record at `store` on `day` adds to: its day and month, at
/// the store and chain-wide.
fn spans(merchant: MerchantId, store: StoreId, day: NaiveDate) -> [RollupAt; 4] {
    let at = |store_id, span| RollupAt {
        merchant_id: merchant,
        store_id,
        span,
    };
    let month = Span::Month(Month::of(day));
    [
        at(Some(store), Span::Day(day)),
        at(None, Span::Day(day)),
        at(Some(store), month),
        at(None, month),
    ]
}

fn add_product(into: &mut ProductDelta, from: &ProductDelta) {
    from.name.clone_into(&mut into.name);
    into.checks += from.checks;
    into.items_milli = into.items_milli.saturating_add(from.items_milli);
    into.revenue = into.revenue.saturating_add(from.revenue);
    into.discount = into.discount.saturating_add(from.discount);
}

fn add_promotion(into: &mut PromotionDelta, from: &PromotionDelta) {
    into.checks += from.checks;
    into.discount = into.discount.saturating_add(from.discount);
    into.sales = into.sales.saturating_add(from.sales);
    into.items_milli = into.items_milli.saturating_add(from.items_milli);
    if into.funded_by.is_none() {
        into.funded_by.clone_from(&from.funded_by);
    }
}

impl Rollups {
    /// Adds one record: its store's local hour and day in `zone`, its
    /// products' and promotions' day and month, its promotions' hour and
    /// its customer's visits. A return takes its refund, items, discount
    /// and uses off on its own day.
    pub fn add(
        &mut self,
        record: &PurchaseRecord,
        customer: Option<CustomerId>,
        zone: TimeZone,
        promotion_uses: &[crate::db::PromotionUseRow],
    ) {
        let local = zone.local(record.wall_time);
        if self.rows.baskets {
            baskets::add_record(&mut self.baskets, record, local.date(), promotion_uses);
        }
        if !self.rows.own && !self.rows.products {
            return;
        }
        let at = StoreHour {
            merchant_id: record.merchant_id,
            store_id: record.store_id,
            local_day: local.date(),
            hour: local.hour(),
        };
        let day = StoreHour { hour: 0, ..at };
        let spans = spans(record.merchant_id, record.store_id, at.local_day);
        let is_sale = record.kind == RecordKind::Sale;
        // Returns may carry their amounts either way; their sign is decided here.
        let signed = |minor: i64| {
            if is_sale {
                minor
            } else {
                -minor.saturating_abs()
            }
        };
        let mut items = 0_i64;
        let mut lines: BTreeMap<(String, String), ProductDelta> = BTreeMap::new();
        for line in &record.lines {
            let quantity = signed(i64::try_from(line.quantity.milli()).unwrap_or(i64::MAX));
            items = items.saturating_add(quantity);
            if !self.rows.products {
                continue;
            }
            let category = line.category.as_ref().map_or("", |c| c.as_str());
            let key = (line.sku.as_str().to_owned(), category.to_owned());
            // A sale counts once per product row, however many lines it has.
            let delta = lines.entry(key).or_insert_with(|| ProductDelta {
                sku: line.sku.as_str().to_owned(),
                category: category.to_owned(),
                name: line.name.clone(),
                checks: i64::from(is_sale),
                items_milli: 0,
                revenue: 0,
                discount: 0,
            });
            line.name.clone_into(&mut delta.name);
            delta.items_milli = delta.items_milli.saturating_add(quantity);
            delta.revenue = delta.revenue.saturating_add(signed(line.total.minor()));
            delta.discount = delta.discount.saturating_add(signed(line.discount.minor()));
        }
        for ((sku, category), delta) in lines {
            for span in spans {
                let key = (span, sku.clone(), category.clone());
                match self.products.get_mut(&key) {
                    Some(into) => add_product(into, &delta),
                    None => {
                        self.products.insert(key, delta.clone());
                    }
                }
            }
        }
        if !self.rows.own {
            return;
        }
        let total = record.total.minor();
        let figures = StoreFigures {
            checks: i64::from(is_sale),
            returns: i64::from(!is_sale),
            sales: if is_sale { total } else { 0 },
            refunds: if is_sale { 0 } else { total.saturating_abs() },
            discount: signed(record.discount.minor()),
            items_milli: items,
            points_earned: record.points_earned,
            points_spent: record.points_redeemed,
        };
        add(self.store_hours.entry(at).or_default(), &figures);
        add(self.store_days.entry(day).or_default(), &figures);
        if let Some(customer) = customer {
            self.customers
                .entry((record.merchant_id, customer))
                .or_default()
                .push((
                    at.local_day,
                    record.store_id,
                    visits::VisitFigures {
                        checks: i64::from(is_sale),
                        returns: i64::from(!is_sale),
                        sales: figures.sales,
                        refunds: figures.refunds,
                        discount: figures.discount,
                        points_earned: record.points_earned,
                    },
                ));
        }
        for used in promotion_uses {
            let id = used.promotion_id.to_string();
            let delta = PromotionDelta {
                promotion_id: id.clone(),
                checks: used.uses,
                discount: signed(used.discount.minor()),
                sales: if is_sale { total } else { 0 },
                items_milli: if is_sale { items } else { 0 },
                funded_by: used.funded_by.clone(),
            };
            let rows = [spans[0], spans[2]];
            for span in rows {
                match self.promotions.get_mut(&(span, id.clone())) {
                    Some(into) => add_promotion(into, &delta),
                    None => {
                        self.promotions.insert((span, id.clone()), delta.clone());
                    }
                }
            }
            match self.promotion_hours.get_mut(&(at, id.clone())) {
                Some(into) => add_promotion(into, &delta),
                None => {
                    self.promotion_hours.insert((at, id.clone()), delta);
                }
            }
            if let Some(customer) = customer.filter(|_| is_sale && used.uses > 0) {
                self.promotion_customers.insert((day, id, customer));
            }
        }
    }

    /// Rollups that add the basket rows alone (their backfill).
    #[must_use]
    pub fn baskets_only() -> Self {
        Self::of(RowKinds {
            own: false,
            products: false,
            baskets: true,
        })
    }

    /// Rollups that add a record's line rows alone, its products' and its
    /// baskets' (the queue's pass, see [`basket_queue`]).
    #[must_use]
    pub fn lines_only() -> Self {
        Self::of(RowKinds {
            own: false,
            products: true,
            baskets: true,
        })
    }

    /// Rollups that add a record's own rows, not its lines' (ingest
    /// queues its sales for those, see [`basket_queue`]).
    #[must_use]
    pub fn at_ingest() -> Self {
        Self::of(RowKinds {
            own: true,
            products: false,
            baskets: false,
        })
    }

    /// Rollups that add every row but the baskets'.
    #[must_use]
    pub fn without_baskets() -> Self {
        Self::of(RowKinds {
            own: true,
            products: true,
            baskets: false,
        })
    }

    fn of(rows: RowKinds) -> Self {
        Rollups {
            rows,
            ..Rollups::default()
        }
    }

    /// Adds the merged deltas to the stored rows, a batched write per table.
    pub fn flush(self, tx: &mut dyn Tx) -> Result<(), DbError> {
        baskets::flush(&self.baskets, tx)?;
        let store_hours: Vec<_> = self.store_hours.into_iter().collect();
        tx.add_store_hours(&store_hours)?;
        let store_days: Vec<_> = self.store_days.into_iter().collect();
        tx.add_store_days(&store_days)?;
        let products: Vec<_> = self
            .products
            .iter()
            .map(|((at, _, _), delta)| (*at, delta))
            .collect();
        tx.add_products(&products)?;
        let mut by_merchant: BTreeMap<MerchantId, Vec<(CustomerId, &Vec<CustomerDay>)>> =
            BTreeMap::new();
        for ((merchant, customer), days) in &self.customers {
            by_merchant
                .entry(*merchant)
                .or_default()
                .push((*customer, days));
        }
        for (merchant, customers) in by_merchant {
            let ids: Vec<CustomerId> = customers.iter().map(|(id, _)| *id).collect();
            let mut stored = tx.customers_visits(merchant, &ids)?;
            let mut rows = Vec::with_capacity(customers.len());
            for (customer, days) in customers {
                let mut visits = match stored.remove(&customer) {
                    Some(stored) => visits::Visits::decode(&stored)?,
                    None => visits::Visits::default(),
                };
                for (day, store, figures) in days {
                    visits.add(*day, *store, figures);
                }
                rows.push((customer, visits.encode()));
            }
            tx.put_customers_visits(merchant, &rows)?;
        }
        let promotion_hours: Vec<_> = self
            .promotion_hours
            .iter()
            .map(|((at, _), delta)| (*at, delta))
            .collect();
        tx.add_promotion_hours(&promotion_hours)?;
        let promotions: Vec<_> = self
            .promotions
            .iter()
            .map(|((at, _), delta)| (*at, delta))
            .collect();
        tx.add_promotions(&promotions)?;
        let promotion_customers: Vec<_> = self
            .promotion_customers
            .iter()
            .map(|(day, id, customer)| (*day, id.as_str(), *customer))
            .collect();
        tx.add_promotion_customers(&promotion_customers)?;
        Ok(())
    }
}

/// Adds one new record to the rollups (see [`Rollups::add`]).
pub fn rollup_record(
    tx: &mut dyn Tx,
    record: &PurchaseRecord,
    customer: Option<CustomerId>,
    zone: TimeZone,
    promotion_uses: &[crate::db::PromotionUseRow],
) -> Result<(), DbError> {
    let mut rollups = Rollups::default();
    rollups.add(record, customer, zone, promotion_uses);
    rollups.flush(tx)
}

/// How many stored records one backfill step reads (and merges by row).
const BACKFILL_BATCH: i64 = 10_000;
/// A progress line in the log every this many records.
const BACKFILL_PROGRESS: u64 = 100_000;

/// Adds the records stored before the rollups existed, once: the
/// migration leaves a marker when there were any, and the first server
/// to start takes it and adds every record in the same transaction. A
/// large store of records takes minutes (the log says how far it is); the
/// server serves once it is done, and registers keep their sales until then.
/// The planner's statistics are refreshed after it, so the views are not
/// planned on tables that look empty.
pub async fn backfill(repo: &Arc<dyn Repository>) -> Result<u64, DbError> {
    let added = add_stored_records(repo).await?;
    if added > 0 {
        repo.write(|tx| tx.refresh_planner_statistics()).await?;
    }
    Ok(added)
}

async fn add_stored_records(repo: &Arc<dyn Repository>) -> Result<u64, DbError> {
    repo.write(|tx| {
        // Both markers are taken: a full backfill adds the baskets too.
        let all = tx.take_rollup_backfill()?;
        let baskets = tx.take_basket_backfill()?;
        if !all && !baskets {
            return Ok(0);
        }
        let fresh = || {
            if all {
                Rollups::default()
            } else {
                Rollups::baskets_only()
            }
        };
        let started = std::time::Instant::now();
        tracing::info!("adding the stored records to the analytics rollups");
        let mut zones: HashMap<StoreId, TimeZone> = HashMap::new();
        // The records still queued for their line rows are among those
        // added here: the queue is emptied first, a basket backfill
        // adding the product rows it still owed.
        loop {
            let queued = tx.queued_baskets(BACKFILL_BATCH, false)?;
            if queued.is_empty() {
                break;
            }
            let mut products = Rollups::of(RowKinds {
                own: false,
                products: true,
                baskets: false,
            });
            for queued in queued.iter().filter(|q| q.products && !all) {
                basket_queue::add_stored(tx, &mut zones, &mut products, &queued.stored)?;
            }
            products.flush(tx)?;
            let ids: Vec<i64> = queued.iter().map(|q| q.stored.id).collect();
            tx.dequeue_baskets(&ids)?;
        }
        let mut cursor = 0;
        let mut added = 0_u64;
        loop {
            let batch = tx.records_after(cursor, BACKFILL_BATCH)?;
            let Some(last) = batch.last() else { break };
            cursor = last.id;
            let mut rollups = fresh();
            for stored in batch {
                basket_queue::add_stored(tx, &mut zones, &mut rollups, &stored)?;
                added += 1;
                if added.is_multiple_of(BACKFILL_PROGRESS) {
                    tracing::info!(
                        records = added,
                        seconds = started.elapsed().as_secs(),
                        "analytics rollups: records added so far"
                    );
                }
            }
            rollups.flush(tx)?;
        }
        tracing::info!(
            records = added,
            "analytics rollups filled in for earlier records"
        );
        Ok(added)
    })
    .await
}

/// A view's filter as a form or URL sends it: every field a string, empty
/// meaning "not set".
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AnalyticsParams {
    /// `YYYY-MM-DD`.
    #[serde(default)]
    pub from: String,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    pub to: String,
    /// A store id.
    #[serde(default)]
    pub store: String,
    /// A brand id.
    #[serde(default)]
    pub brand: String,
    /// `hour`, `day`, `week` or `month`.
    #[serde(default)]
    pub grain: String,
    /// A promotion id.
    #[serde(default)]
    pub promotion: String,
    /// A segment's tag (`rfm:loyal`, `seg:big`): only its customers, in
    /// the customers view (other views refuse it).
    #[serde(default)]
    pub segment: String,
    /// A product's SKU: its pairs, in the baskets view.
    #[serde(default)]
    pub product: String,
    /// The least checks with both items a pair needs (baskets view).
    #[serde(default)]
    pub min_checks: String,
}

/// The longest promotion id, segment tag or SKU a filter takes.
const MAX_CODE_CHARS: usize = 200;

impl AnalyticsParams {
    /// The query, or what is wrong with it (a message id).
    pub fn parse(&self) -> Result<AnalyticsQuery, &'static str> {
        fn opt<T: std::str::FromStr>(
            text: &str,
            why: &'static str,
        ) -> Result<Option<T>, &'static str> {
            let text = text.trim();
            if text.is_empty() {
                Ok(None)
            } else {
                text.parse().map(Some).map_err(|_| why)
            }
        }
        let id = |text: &str, why| -> Result<Option<i64>, &'static str> { opt(text, why) };
        // A code (a promotion id, a segment's tag, a SKU): no control
        // characters (PostgreSQL refuses a NUL in text), and not endless.
        let code = |text: &str, why| -> Result<Option<String>, &'static str> {
            let text = text.trim();
            if text.is_empty() {
                Ok(None)
            } else if text.chars().any(char::is_control) || text.chars().count() > MAX_CODE_CHARS {
                Err(why)
            } else {
                Ok(Some(text.to_owned()))
            }
        };
        Ok(AnalyticsQuery {
            from: opt(&self.from, "analytics-error-date")?,
            to: opt(&self.to, "analytics-error-date")?,
            store: id(&self.store, "analytics-error-store")?
                .map(StoreId::new)
                .transpose()
                .map_err(|_| "analytics-error-store")?,
            brand: id(&self.brand, "analytics-error-brand")?
                .map(BrandId::new)
                .transpose()
                .map_err(|_| "analytics-error-brand")?,
            grain: match self.grain.trim() {
                "" | "day" => Grain::Day,
                "hour" => Grain::Hour,
                "week" => Grain::Week,
                "month" => Grain::Month,
                _ => return Err("analytics-error-grain"),
            },
            promotion: code(&self.promotion, "analytics-error-promotion")?,
            segment: code(&self.segment, "analytics-error-segment")?,
            product: code(&self.product, "analytics-error-product")?,
            min_checks: match opt::<i64>(&self.min_checks, "analytics-error-min-checks")? {
                Some(n) if n < 1 => return Err("analytics-error-min-checks"),
                n => n,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Datelike as _, NaiveDate};

    use super::{AnalyticsParams, Cohorts, Month, Months, threshold_of};

    #[test]
    fn days_are_placed_in_their_months_and_cohorts_without_dates() {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let n = |d: NaiveDate| d.num_days_from_ce();
        let months = Months::of(day(2025, 11, 20), day(2026, 2, 3));
        assert_eq!(months.len(), 4);
        assert_eq!(
            months.nth(3),
            Month {
                year: 2026,
                month: 2
            }
        );
        for (d, at) in [
            (day(2025, 11, 20), 0),
            (day(2025, 11, 30), 0),
            (day(2025, 12, 1), 1),
            (day(2025, 12, 31), 1),
            (day(2026, 1, 1), 2),
            (day(2026, 2, 3), 3),
        ] {
            assert_eq!(months.index(n(d)), at, "{d}");
        }
        let mut cohorts = Cohorts::new(&months);
        // First bought before the period's first month: no cohort.
        cohorts.add(n(day(2025, 10, 31)), 0b1111);
        // In the first month before the period's first day: its cohort.
        cohorts.add(n(day(2025, 11, 2)), 0b0101);
        cohorts.add(n(day(2026, 1, 9)), 0b1100);
        cohorts.add(n(day(2026, 1, 31)), 0b0100);
        let m = |year, month| Month { year, month };
        assert_eq!(
            cohorts.cells().into_iter().collect::<Vec<_>>(),
            vec![
                ((m(2025, 11), m(2025, 11)), 1),
                ((m(2025, 11), m(2026, 1)), 1),
                ((m(2026, 1), m(2026, 1)), 2),
                ((m(2026, 1), m(2026, 2)), 1),
            ]
        );
    }

    #[test]
    fn the_high_spend_threshold_is_the_lower_bound_of_the_top_third() {
        let sorted = |mut v: Vec<i64>| {
            v.sort_unstable();
            v[v.len() - v.len().div_ceil(3)]
        };
        assert_eq!(threshold_of(Vec::new()), i64::MAX);
        for spends in [
            vec![5],
            vec![3, 1],
            vec![9, 9, 1, 4, 4, 7, -2],
            (0..1_000).map(|i| (i * 7_919) % 1_009 - 300).collect(),
        ] {
            assert_eq!(threshold_of(spends.clone()), sorted(spends));
        }
    }

    #[test]
    fn codes_with_control_characters_are_refused_by_name() {
        let with = |f: fn(&mut AnalyticsParams)| {
            let mut p = AnalyticsParams::default();
            f(&mut p);
            p.parse().err()
        };
        assert_eq!(
            with(|p| p.product = "milk\0".into()),
            Some("analytics-error-product")
        );
        assert_eq!(
            with(|p| p.segment = "9\0#!".into()),
            Some("analytics-error-segment")
        );
        assert_eq!(
            with(|p| p.promotion = "x".repeat(201)),
            Some("analytics-error-promotion")
        );
        let fine = AnalyticsParams {
            product: " 4600000000017 ".into(),
            promotion: "dairy-10".into(),
            ..AnalyticsParams::default()
        }
        .parse()
        .expect("fine");
        assert_eq!(fine.product.as_deref(), Some("4600000000017"));
        assert_eq!(fine.promotion.as_deref(), Some("dairy-10"));
    }
}
