//! [`AnalyticsTx`] on PostgreSQL: rollup rows added with `ON CONFLICT DO
//! UPDATE`, views summed over their primary keys, a period as its whole
//! months plus its edge days. A store filter is passed as an array (`NULL`
//! for all stores).

use std::collections::HashMap;

use chrono::NaiveDate;
use postgres::Row;
use shared::ids::CustomerId;

use super::PgTx;
use super::columns::{int, opt_int};
use crate::db::DbError;
use crate::db::analytics::{
    AnalyticsTx, BackfillRecord, BasketFilter, BasketItemKind, BasketKey, BasketSum, CustomerIds,
    CustomerVisitsRow, GroupKey, PeriodParts, ProductDelta, ProductRow, PromotionDelta,
    PromotionFigures, QueuedRecord, RollupAt, RollupFilter, Span, StoreFigures, StoreGrouping,
    StoreHour, parse_day,
};
use shared::ids::MerchantId;

fn day_text(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

/// A stored record to add to the rollups: `(id, body, customer_id)`.
fn backfill_record(row: &Row) -> Result<BackfillRecord, DbError> {
    Ok(BackfillRecord {
        id: row.try_get(0)?,
        body: row.try_get(1)?,
        customer: opt_int(row, 2)?,
    })
}

/// The filter's parameters $1..$4: merchant, from, to, stores (or NULL).
fn filter_params(f: &RollupFilter) -> (i64, String, String, Option<Vec<i64>>) {
    (
        f.merchant_id.get(),
        day_text(f.from),
        day_text(f.to),
        f.stores
            .as_ref()
            .map(|stores| stores.iter().map(|s| s.get()).collect()),
    )
}

const WHERE: &str = "merchant_id = $1 AND local_day BETWEEN $2 AND $3
    AND ($4::BIGINT[] IS NULL OR store_id = ANY($4))";

/// The stores of the array in $8, or every store when it is NULL.
const IN_STORES_OR_ALL: &str = " AND ($8::BIGINT[] IS NULL OR store_id = ANY($8))";
/// A chain-wide table, without a store column: $8 is NULL for it.
const CHAIN_WIDE: &str = " AND $8::BIGINT[] IS NULL";

/// Rows of a period from a month table and its day table: $1 the merchant,
/// $2..$7 the [`PeriodParts::bounds`], then `store` ([`IN_STORES_OR_ALL`]
/// or [`CHAIN_WIDE`]) on both.
fn period_rows(columns: &str, months: &str, days: &str, store: &str) -> String {
    format!(
        "SELECT {columns} FROM {months} WHERE merchant_id = $1 AND month BETWEEN $2 AND $3{store}
         UNION ALL
         SELECT {columns} FROM {days} WHERE merchant_id = $1
             AND (local_day BETWEEN $4 AND $5 OR local_day BETWEEN $6 AND $7){store}"
    )
}

/// The parameters of [`period_rows`]: merchant, six bounds, stores.
fn period_params(f: &RollupFilter) -> (i64, [String; 6], Option<Vec<i64>>) {
    let (m, _, _, stores) = filter_params(f);
    (m, PeriodParts::of(f.from, f.to).bounds(), stores)
}

/// The key column of a product or promotion row's span, and its value.
fn span_key(span: Span) -> (&'static str, String) {
    match span {
        Span::Day(day) => ("local_day", day_text(day)),
        Span::Month(month) => ("month", month.text()),
    }
}

fn group_sql(grouping: StoreGrouping) -> &'static str {
    match grouping {
        StoreGrouping::Total => "NULL::TEXT",
        StoreGrouping::Day => "local_day",
        StoreGrouping::Hour => "hour",
        StoreGrouping::Store => "store_id",
    }
}

fn group_by(grouping: StoreGrouping) -> String {
    match grouping {
        StoreGrouping::Total => String::new(),
        other => {
            let g = group_sql(other);
            format!("GROUP BY {g} ORDER BY {g}")
        }
    }
}

fn group_key(row: &Row, grouping: StoreGrouping) -> Result<GroupKey, DbError> {
    Ok(match grouping {
        StoreGrouping::Total => GroupKey::Total,
        StoreGrouping::Day => GroupKey::Day(day_column(row, 0)?),
        StoreGrouping::Hour => GroupKey::Hour(int(row, 0)?),
        StoreGrouping::Store => GroupKey::Store(int(row, 0)?),
    })
}

fn day_column(row: &Row, idx: usize) -> Result<NaiveDate, DbError> {
    let text: &str = row.try_get(idx)?;
    parse_day(text)
}

/// The basket table of a filter or key: chain-wide, or per store.
fn basket_table(per_store: bool) -> &'static str {
    if per_store {
        "rollup_basket_store_months"
    } else {
        "rollup_basket_months"
    }
}

/// Basket rows of `f`: $1 merchant, $2 scope (its number), $3 kind,
/// $4..$5 months (`YYYYMM`), $6 the stores (per-store rows only), on the
/// table aliased `p`.
fn basket_where(f: &BasketFilter) -> String {
    let stores = if f.stores.is_some() {
        " AND p.store_id = ANY($6)"
    } else {
        " AND $6::BIGINT[] IS NULL"
    };
    format!(
        "p.merchant_id = $1 AND p.scope = $2 AND p.kind = $3 AND p.month BETWEEN $4 AND $5{stores}"
    )
}

/// `inner`'s rows (`a`, `b` numbers, `checks`) with their items' codes
/// and `a`'s name.
fn basket_named(inner: &str) -> String {
    format!(
        "SELECT COALESCE(ia.code, ''), COALESCE(ib.code, ''), COALESCE(ia.name, ''),
             s.checks::BIGINT
         FROM ({inner}) s
         LEFT JOIN rollup_basket_items ia ON ia.id = s.a
         LEFT JOIN rollup_basket_items ib ON ib.id = s.b"
    )
}

/// A filter's parameters, its scope as its number.
type BasketParams = (i64, i64, i64, i64, i64, Option<Vec<i64>>);

fn basket_sum(row: &Row) -> Result<BasketSum, DbError> {
    Ok(BasketSum {
        a: row.try_get(0)?,
        b: row.try_get(1)?,
        name: row.try_get(2)?,
        checks: row.try_get(3)?,
    })
}

impl PgTx<'_, '_> {
    /// The number of a basket item, if it was ever seen (`""`: 0, none).
    fn basket_item_number(
        &mut self,
        merchant: MerchantId,
        kind: BasketItemKind,
        code: &str,
    ) -> Result<Option<i64>, DbError> {
        if code.is_empty() {
            return Ok(Some(0));
        }
        self.query_opt(
            "SELECT id FROM rollup_basket_items
             WHERE merchant_id = $1 AND kind = $2 AND code = $3",
            &[&merchant.get(), &kind.code(), &code],
        )?
        .map(|row| row.try_get(0))
        .transpose()
        .map_err(DbError::from)
    }

    /// `f`'s parameters; `None` when its scope (a promotion) has no rows.
    fn basket_params(&mut self, f: &BasketFilter) -> Result<Option<BasketParams>, DbError> {
        let Some(scope) =
            self.basket_item_number(f.merchant_id, BasketItemKind::Promotion, &f.scope)?
        else {
            return Ok(None);
        };
        Ok(Some((
            f.merchant_id.get(),
            scope,
            f.kind.code(),
            f.first.number(),
            f.last.number(),
            f.stores
                .as_ref()
                .map(|stores| stores.iter().map(|s| s.get()).collect()),
        )))
    }
}

/// A basket row's key as its columns: merchant, scope, kind, store (0
/// chain-wide), a, b, month.
type BasketRowKey = (i64, i64, i64, i64, i64, i64, i64);

fn basket_row_key(key: &BasketKey) -> BasketRowKey {
    (
        key.merchant_id.get(),
        key.scope,
        key.kind.code(),
        key.store_id.map_or(0, |s| s.get()),
        key.a,
        key.b,
        key.month.number(),
    )
}

/// Store rows as one array per column, for one `INSERT … SELECT FROM UNNEST`.
struct StoreColumns {
    merchant: Vec<i64>,
    day: Vec<String>,
    store: Vec<i64>,
    checks: Vec<i64>,
    returns: Vec<i64>,
    sales: Vec<i64>,
    refunds: Vec<i64>,
    discount: Vec<i64>,
    items_milli: Vec<i64>,
    points_earned: Vec<i64>,
    points_spent: Vec<i64>,
}

/// The `SET` of a store rollup's upsert: each figure added to the row's.
macro_rules! store_figures_added {
    () => {
        "checks = t.checks + excluded.checks, returns = t.returns + excluded.returns,
         sales = t.sales + excluded.sales, refunds = t.refunds + excluded.refunds,
         discount = t.discount + excluded.discount,
         items_milli = t.items_milli + excluded.items_milli,
         points_earned = t.points_earned + excluded.points_earned,
         points_spent = t.points_spent + excluded.points_spent"
    };
}

impl StoreColumns {
    /// The columns as `$1` to `$11`, in the order the upserts name them.
    fn params(&self) -> Vec<&(dyn postgres::types::ToSql + Sync)> {
        vec![
            &self.merchant,
            &self.day,
            &self.store,
            &self.checks,
            &self.returns,
            &self.sales,
            &self.refunds,
            &self.discount,
            &self.items_milli,
            &self.points_earned,
            &self.points_spent,
        ]
    }

    fn of(rows: &[(StoreHour, StoreFigures)]) -> Self {
        let column = |f: fn(&StoreFigures) -> i64| rows.iter().map(|(_, x)| f(x)).collect();
        StoreColumns {
            merchant: rows.iter().map(|(at, _)| at.merchant_id.get()).collect(),
            day: rows.iter().map(|(at, _)| day_text(at.local_day)).collect(),
            store: rows.iter().map(|(at, _)| at.store_id.get()).collect(),
            checks: column(|f| f.checks),
            returns: column(|f| f.returns),
            sales: column(|f| f.sales),
            refunds: column(|f| f.refunds),
            discount: column(|f| f.discount),
            items_milli: column(|f| f.items_milli),
            points_earned: column(|f| f.points_earned),
            points_spent: column(|f| f.points_spent),
        }
    }
}

/// Promotion deltas' figures as one array per column.
struct PromotionColumns<'a> {
    checks: Vec<i64>,
    discount: Vec<i64>,
    sales: Vec<i64>,
    items_milli: Vec<i64>,
    funded_by: Vec<Option<&'a str>>,
}

impl<'a> PromotionColumns<'a> {
    fn of(deltas: impl Iterator<Item = &'a PromotionDelta> + Clone) -> Self {
        PromotionColumns {
            checks: deltas.clone().map(|d| d.checks).collect(),
            discount: deltas.clone().map(|d| d.discount).collect(),
            sales: deltas.clone().map(|d| d.sales).collect(),
            items_milli: deltas.clone().map(|d| d.items_milli).collect(),
            funded_by: deltas.map(|d| d.funded_by.as_deref()).collect(),
        }
    }
}

impl AnalyticsTx for PgTx<'_, '_> {
    fn add_store_hour(&mut self, at: StoreHour, f: &StoreFigures) -> Result<(), DbError> {
        self.execute(
            "INSERT INTO rollup_store_hours AS t (merchant_id, local_day, store_id, hour, checks,
                 returns, sales, refunds, discount, items_milli, points_earned, points_spent)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             ON CONFLICT (merchant_id, local_day, store_id, hour) DO UPDATE SET
                 checks = t.checks + excluded.checks, returns = t.returns + excluded.returns,
                 sales = t.sales + excluded.sales, refunds = t.refunds + excluded.refunds,
                 discount = t.discount + excluded.discount,
                 items_milli = t.items_milli + excluded.items_milli,
                 points_earned = t.points_earned + excluded.points_earned,
                 points_spent = t.points_spent + excluded.points_spent",
            &[
                &at.merchant_id.get(),
                &day_text(at.local_day),
                &at.store_id.get(),
                &i64::from(at.hour),
                &f.checks,
                &f.returns,
                &f.sales,
                &f.refunds,
                &f.discount,
                &f.items_milli,
                &f.points_earned,
                &f.points_spent,
            ],
        )?;
        Ok(())
    }

    fn add_store_day(&mut self, at: StoreHour, f: &StoreFigures) -> Result<(), DbError> {
        self.execute(
            "INSERT INTO rollup_store_days AS t (merchant_id, local_day, store_id, checks,
                 returns, sales, refunds, discount, items_milli, points_earned, points_spent)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (merchant_id, local_day, store_id) DO UPDATE SET
                 checks = t.checks + excluded.checks, returns = t.returns + excluded.returns,
                 sales = t.sales + excluded.sales, refunds = t.refunds + excluded.refunds,
                 discount = t.discount + excluded.discount,
                 items_milli = t.items_milli + excluded.items_milli,
                 points_earned = t.points_earned + excluded.points_earned,
                 points_spent = t.points_spent + excluded.points_spent",
            &[
                &at.merchant_id.get(),
                &day_text(at.local_day),
                &at.store_id.get(),
                &f.checks,
                &f.returns,
                &f.sales,
                &f.refunds,
                &f.discount,
                &f.items_milli,
                &f.points_earned,
                &f.points_spent,
            ],
        )?;
        Ok(())
    }

    fn add_product(&mut self, at: RollupAt, d: &ProductDelta) -> Result<(), DbError> {
        let (span_column, span) = span_key(at.span);
        let table = match (at.span, at.store_id) {
            (Span::Day(_), None) => "rollup_product_days",
            (Span::Day(_), Some(_)) => "rollup_product_store_days",
            (Span::Month(_), None) => "rollup_product_months",
            (Span::Month(_), Some(_)) => "rollup_product_store_months",
        };
        let (store_column, store_value) = match at.store_id {
            Some(_) => ("store_id, ", "$10, "),
            None => ("", ""),
        };
        let sql = format!(
            "INSERT INTO {table} AS t (merchant_id, {store_column}{span_column}, sku, category,
                 name, checks, items_milli, revenue, discount)
             VALUES ($1, {store_value}$2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (merchant_id, {store_column}{span_column}, sku, category) DO UPDATE SET
                 name = excluded.name, checks = t.checks + excluded.checks,
                 items_milli = t.items_milli + excluded.items_milli,
                 revenue = t.revenue + excluded.revenue,
                 discount = t.discount + excluded.discount"
        );
        let merchant = at.merchant_id.get();
        let store = at.store_id.map(|s| s.get());
        let mut values: Vec<&(dyn postgres::types::ToSql + Sync)> = vec![
            &merchant,
            &span,
            &d.sku,
            &d.category,
            &d.name,
            &d.checks,
            &d.items_milli,
            &d.revenue,
            &d.discount,
        ];
        if let Some(store) = &store {
            values.push(store);
        }
        self.execute(&sql, &values)?;
        Ok(())
    }

    fn add_promotion_hour(&mut self, at: StoreHour, d: &PromotionDelta) -> Result<(), DbError> {
        self.execute(
            "INSERT INTO rollup_promotion_hours AS t (merchant_id, promotion_id, local_day,
                 store_id, hour, checks, discount, sales, items_milli, funded_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (merchant_id, promotion_id, local_day, store_id, hour) DO UPDATE SET
                 checks = t.checks + excluded.checks, discount = t.discount + excluded.discount,
                 sales = t.sales + excluded.sales,
                 items_milli = t.items_milli + excluded.items_milli,
                 funded_by = COALESCE(t.funded_by, excluded.funded_by)",
            &[
                &at.merchant_id.get(),
                &d.promotion_id,
                &day_text(at.local_day),
                &at.store_id.get(),
                &i64::from(at.hour),
                &d.checks,
                &d.discount,
                &d.sales,
                &d.items_milli,
                &d.funded_by,
            ],
        )?;
        Ok(())
    }

    fn add_promotion(&mut self, at: RollupAt, d: &PromotionDelta) -> Result<(), DbError> {
        let store = at
            .store_id
            .ok_or_else(|| DbError::other("a promotion's rollup row names its store"))?;
        let (span_column, span) = span_key(at.span);
        let (table, key) = match at.span {
            Span::Day(_) => ("rollup_promotion_days", "promotion_id, local_day, store_id"),
            Span::Month(_) => ("rollup_promotion_months", "month, promotion_id, store_id"),
        };
        let sql = format!(
            "INSERT INTO {table} AS t (merchant_id, promotion_id, {span_column}, store_id, checks,
                 discount, sales, items_milli, funded_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (merchant_id, {key}) DO UPDATE SET
                 checks = t.checks + excluded.checks, discount = t.discount + excluded.discount,
                 sales = t.sales + excluded.sales,
                 items_milli = t.items_milli + excluded.items_milli,
                 funded_by = COALESCE(t.funded_by, excluded.funded_by)"
        );
        self.execute(
            &sql,
            &[
                &at.merchant_id.get(),
                &d.promotion_id,
                &span,
                &store.get(),
                &d.checks,
                &d.discount,
                &d.sales,
                &d.items_milli,
                &d.funded_by,
            ],
        )?;
        Ok(())
    }

    fn add_promotion_customer(
        &mut self,
        at: StoreHour,
        promotion_id: &str,
        customer: CustomerId,
    ) -> Result<(), DbError> {
        self.execute(
            "INSERT INTO rollup_promotion_customers (merchant_id, promotion_id, customer_id,
                 local_day, store_id)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            &[
                &at.merchant_id.get(),
                &promotion_id,
                &customer.get(),
                &day_text(at.local_day),
                &at.store_id.get(),
            ],
        )?;
        Ok(())
    }

    fn customer_visits(
        &mut self,
        merchant: MerchantId,
        customer: CustomerId,
    ) -> Result<Option<Vec<u8>>, DbError> {
        self.query_opt(
            "SELECT visits FROM rollup_customer_visits WHERE customer_id = $1 AND merchant_id = $2",
            &[&customer.get(), &merchant.get()],
        )?
        .map(|row| Ok(row.try_get(0)?))
        .transpose()
    }

    fn put_customer_visits(
        &mut self,
        merchant: MerchantId,
        customer: CustomerId,
        visits: &[u8],
    ) -> Result<(), DbError> {
        self.execute(
            "INSERT INTO rollup_customer_visits (customer_id, merchant_id, visits)
             VALUES ($1, $2, $3)
             ON CONFLICT (customer_id) DO UPDATE SET visits = excluded.visits",
            &[&customer.get(), &merchant.get(), &visits],
        )?;
        Ok(())
    }

    fn add_store_hours(&mut self, rows: &[(StoreHour, StoreFigures)]) -> Result<(), DbError> {
        if rows.is_empty() {
            return Ok(());
        }
        let c = StoreColumns::of(rows);
        let hour: Vec<i64> = rows.iter().map(|(at, _)| i64::from(at.hour)).collect();
        self.execute(
            concat!(
                "INSERT INTO rollup_store_hours AS t (merchant_id, local_day, store_id, hour, checks,
                 returns, sales, refunds, discount, items_milli, points_earned, points_spent)
             SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::BIGINT[], $12::BIGINT[],
                 $4::BIGINT[], $5::BIGINT[], $6::BIGINT[], $7::BIGINT[], $8::BIGINT[],
                 $9::BIGINT[], $10::BIGINT[], $11::BIGINT[])
             ON CONFLICT (merchant_id, local_day, store_id, hour) DO UPDATE SET ",
                store_figures_added!()
            ),
            &[c.params(), vec![&hour]].concat(),
        )?;
        Ok(())
    }

    fn add_store_days(&mut self, rows: &[(StoreHour, StoreFigures)]) -> Result<(), DbError> {
        if rows.is_empty() {
            return Ok(());
        }
        let c = StoreColumns::of(rows);
        self.execute(
            concat!(
                "INSERT INTO rollup_store_days AS t (merchant_id, local_day, store_id, checks,
                 returns, sales, refunds, discount, items_milli, points_earned, points_spent)
             SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::BIGINT[], $4::BIGINT[],
                 $5::BIGINT[], $6::BIGINT[], $7::BIGINT[], $8::BIGINT[], $9::BIGINT[],
                 $10::BIGINT[], $11::BIGINT[])
             ON CONFLICT (merchant_id, local_day, store_id) DO UPDATE SET ",
                store_figures_added!()
            ),
            &c.params(),
        )?;
        Ok(())
    }

    fn add_products(&mut self, rows: &[(RollupAt, &ProductDelta)]) -> Result<(), DbError> {
        // One statement per table: by day or month, at a store or chain-wide.
        for (day, at_store) in [(true, true), (true, false), (false, true), (false, false)] {
            let part: Vec<&(RollupAt, &ProductDelta)> = rows
                .iter()
                .filter(|(at, _)| {
                    matches!(at.span, Span::Day(_)) == day && at.store_id.is_some() == at_store
                })
                .collect();
            if part.is_empty() {
                continue;
            }
            let (table, span_column) = match (day, at_store) {
                (true, false) => ("rollup_product_days", "local_day"),
                (true, true) => ("rollup_product_store_days", "local_day"),
                (false, false) => ("rollup_product_months", "month"),
                (false, true) => ("rollup_product_store_months", "month"),
            };
            let (store_column, store_value) = if at_store {
                ("store_id, ", "$10::BIGINT[], ")
            } else {
                ("", "")
            };
            let sql = format!(
                "INSERT INTO {table} AS t (merchant_id, {store_column}{span_column}, sku,
                     category, name, checks, items_milli, revenue, discount)
                 SELECT * FROM UNNEST($1::BIGINT[], {store_value}$2::TEXT[], $3::TEXT[],
                     $4::TEXT[], $5::TEXT[], $6::BIGINT[], $7::BIGINT[], $8::BIGINT[],
                     $9::BIGINT[])
                 ON CONFLICT (merchant_id, {store_column}{span_column}, sku, category)
                 DO UPDATE SET
                     name = excluded.name, checks = t.checks + excluded.checks,
                     items_milli = t.items_milli + excluded.items_milli,
                     revenue = t.revenue + excluded.revenue,
                     discount = t.discount + excluded.discount"
            );
            let merchant: Vec<i64> = part.iter().map(|(at, _)| at.merchant_id.get()).collect();
            let span: Vec<String> = part.iter().map(|(at, _)| span_key(at.span).1).collect();
            let sku: Vec<&str> = part.iter().map(|(_, d)| d.sku.as_str()).collect();
            let category: Vec<&str> = part.iter().map(|(_, d)| d.category.as_str()).collect();
            let name: Vec<&str> = part.iter().map(|(_, d)| d.name.as_str()).collect();
            let checks: Vec<i64> = part.iter().map(|(_, d)| d.checks).collect();
            let items: Vec<i64> = part.iter().map(|(_, d)| d.items_milli).collect();
            let revenue: Vec<i64> = part.iter().map(|(_, d)| d.revenue).collect();
            let discount: Vec<i64> = part.iter().map(|(_, d)| d.discount).collect();
            let store: Vec<i64> = part
                .iter()
                .map(|(at, _)| at.store_id.map_or(0, |s| s.get()))
                .collect();
            let mut values: Vec<&(dyn postgres::types::ToSql + Sync)> = vec![
                &merchant, &span, &sku, &category, &name, &checks, &items, &revenue, &discount,
            ];
            if at_store {
                values.push(&store);
            }
            self.execute(&sql, &values)?;
        }
        Ok(())
    }

    fn add_promotion_hours(
        &mut self,
        rows: &[(StoreHour, &PromotionDelta)],
    ) -> Result<(), DbError> {
        if rows.is_empty() {
            return Ok(());
        }
        let merchant: Vec<i64> = rows.iter().map(|(at, _)| at.merchant_id.get()).collect();
        let promotion: Vec<&str> = rows.iter().map(|(_, d)| d.promotion_id.as_str()).collect();
        let day: Vec<String> = rows.iter().map(|(at, _)| day_text(at.local_day)).collect();
        let store: Vec<i64> = rows.iter().map(|(at, _)| at.store_id.get()).collect();
        let hour: Vec<i64> = rows.iter().map(|(at, _)| i64::from(at.hour)).collect();
        let d = PromotionColumns::of(rows.iter().map(|(_, d)| *d));
        self.execute(
            "INSERT INTO rollup_promotion_hours AS t (merchant_id, promotion_id, local_day,
                 store_id, hour, checks, discount, sales, items_milli, funded_by)
             SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::BIGINT[],
                 $5::BIGINT[], $6::BIGINT[], $7::BIGINT[], $8::BIGINT[], $9::BIGINT[],
                 $10::TEXT[])
             ON CONFLICT (merchant_id, promotion_id, local_day, store_id, hour) DO UPDATE SET
                 checks = t.checks + excluded.checks, discount = t.discount + excluded.discount,
                 sales = t.sales + excluded.sales,
                 items_milli = t.items_milli + excluded.items_milli,
                 funded_by = COALESCE(t.funded_by, excluded.funded_by)",
            &[
                &merchant,
                &promotion,
                &day,
                &store,
                &hour,
                &d.checks,
                &d.discount,
                &d.sales,
                &d.items_milli,
                &d.funded_by,
            ],
        )?;
        Ok(())
    }

    fn add_promotions(&mut self, rows: &[(RollupAt, &PromotionDelta)]) -> Result<(), DbError> {
        for day in [true, false] {
            let part: Vec<&(RollupAt, &PromotionDelta)> = rows
                .iter()
                .filter(|(at, _)| matches!(at.span, Span::Day(_)) == day)
                .collect();
            if part.is_empty() {
                continue;
            }
            let (table, span_column, key) = if day {
                (
                    "rollup_promotion_days",
                    "local_day",
                    "promotion_id, local_day, store_id",
                )
            } else {
                (
                    "rollup_promotion_months",
                    "month",
                    "month, promotion_id, store_id",
                )
            };
            let sql = format!(
                "INSERT INTO {table} AS t (merchant_id, promotion_id, {span_column}, store_id,
                     checks, discount, sales, items_milli, funded_by)
                 SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::BIGINT[],
                     $5::BIGINT[], $6::BIGINT[], $7::BIGINT[], $8::BIGINT[], $9::TEXT[])
                 ON CONFLICT (merchant_id, {key}) DO UPDATE SET
                     checks = t.checks + excluded.checks,
                     discount = t.discount + excluded.discount,
                     sales = t.sales + excluded.sales,
                     items_milli = t.items_milli + excluded.items_milli,
                     funded_by = COALESCE(t.funded_by, excluded.funded_by)"
            );
            let merchant: Vec<i64> = part.iter().map(|(at, _)| at.merchant_id.get()).collect();
            let promotion: Vec<&str> = part.iter().map(|(_, d)| d.promotion_id.as_str()).collect();
            let span: Vec<String> = part.iter().map(|(at, _)| span_key(at.span).1).collect();
            let store = part
                .iter()
                .map(|(at, _)| {
                    at.store_id
                        .map(|s| s.get())
                        .ok_or_else(|| DbError::other("a promotion's rollup row names its store"))
                })
                .collect::<Result<Vec<i64>, DbError>>()?;
            let d = PromotionColumns::of(part.iter().map(|(_, d)| *d));
            self.execute(
                &sql,
                &[
                    &merchant,
                    &promotion,
                    &span,
                    &store,
                    &d.checks,
                    &d.discount,
                    &d.sales,
                    &d.items_milli,
                    &d.funded_by,
                ],
            )?;
        }
        Ok(())
    }

    fn add_promotion_customers(
        &mut self,
        rows: &[(StoreHour, &str, CustomerId)],
    ) -> Result<(), DbError> {
        if rows.is_empty() {
            return Ok(());
        }
        let merchant: Vec<i64> = rows.iter().map(|(at, _, _)| at.merchant_id.get()).collect();
        let promotion: Vec<&str> = rows.iter().map(|(_, p, _)| *p).collect();
        let customer: Vec<i64> = rows.iter().map(|(_, _, c)| c.get()).collect();
        let day: Vec<String> = rows
            .iter()
            .map(|(at, _, _)| day_text(at.local_day))
            .collect();
        let store: Vec<i64> = rows.iter().map(|(at, _, _)| at.store_id.get()).collect();
        self.execute(
            "INSERT INTO rollup_promotion_customers (merchant_id, promotion_id, customer_id,
                 local_day, store_id)
             SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::BIGINT[], $4::TEXT[],
                 $5::BIGINT[])
             ON CONFLICT DO NOTHING",
            &[&merchant, &promotion, &customer, &day, &store],
        )?;
        Ok(())
    }

    fn customers_visits(
        &mut self,
        merchant: MerchantId,
        customers: &[CustomerId],
    ) -> Result<HashMap<CustomerId, Vec<u8>>, DbError> {
        if customers.is_empty() {
            return Ok(HashMap::new());
        }
        let ids: Vec<i64> = customers.iter().map(|c| c.get()).collect();
        self.query(
            "SELECT customer_id, visits FROM rollup_customer_visits
             WHERE customer_id = ANY($1) AND merchant_id = $2",
            &[&ids, &merchant.get()],
        )?
        .iter()
        .map(|row| Ok((int(row, 0)?, row.try_get(1)?)))
        .collect()
    }

    fn put_customers_visits(
        &mut self,
        merchant: MerchantId,
        rows: &[(CustomerId, Vec<u8>)],
    ) -> Result<(), DbError> {
        if rows.is_empty() {
            return Ok(());
        }
        let customer: Vec<i64> = rows.iter().map(|(c, _)| c.get()).collect();
        let visits: Vec<&[u8]> = rows.iter().map(|(_, v)| v.as_slice()).collect();
        self.execute(
            "INSERT INTO rollup_customer_visits (customer_id, merchant_id, visits)
             SELECT customer_id, $2, visits FROM UNNEST($1::BIGINT[], $3::BYTEA[])
                 AS u (customer_id, visits)
             ON CONFLICT (customer_id) DO UPDATE SET visits = excluded.visits",
            &[&customer, &merchant.get(), &visits],
        )?;
        Ok(())
    }

    fn each_customer_visits_in(
        &mut self,
        merchant: MerchantId,
        ids: &CustomerIds,
        each: &mut dyn FnMut(CustomerVisitsRow<'_>),
    ) -> Result<(), DbError> {
        let rows = self.query(
            "SELECT v.customer_id, c.gender, c.birth_date, v.visits
             FROM rollup_customer_visits v JOIN customers c ON c.id = v.customer_id
             WHERE v.merchant_id = $1 AND v.customer_id BETWEEN $2 AND $3
             ORDER BY v.customer_id",
            &[&merchant.get(), &ids.first, &ids.last],
        )?;
        for row in &rows {
            each(CustomerVisitsRow {
                customer_id: int(row, 0)?,
                gender: row.try_get(1)?,
                birth_date: row.try_get(2)?,
                visits: row.try_get(3)?,
            });
        }
        Ok(())
    }

    fn customer_visits_bounds(&mut self) -> Result<Option<(i64, i64)>, DbError> {
        // Two ends of the primary key, not a scan (the merchant is checked
        // on the rows the pass reads).
        let row = self.query_one(
            "SELECT (SELECT MIN(customer_id) FROM rollup_customer_visits),
                    (SELECT MAX(customer_id) FROM rollup_customer_visits)",
            &[],
        )?;
        let least: Option<i64> = row.try_get(0)?;
        let greatest: Option<i64> = row.try_get(1)?;
        Ok(least.zip(greatest))
    }

    fn take_rollup_backfill(&mut self) -> Result<bool, DbError> {
        // Another instance starting at once waits on the row and then
        // finds it gone.
        Ok(self.execute("DELETE FROM rollup_backfill", &[])? > 0)
    }

    fn records_after(&mut self, after: i64, limit: i64) -> Result<Vec<BackfillRecord>, DbError> {
        self.query(
            "SELECT id, body, customer_id FROM records WHERE id > $1 ORDER BY id LIMIT $2",
            &[&after, &limit],
        )?
        .iter()
        .map(backfill_record)
        .collect()
    }

    fn store_figures(
        &mut self,
        filter: &RollupFilter,
        grouping: StoreGrouping,
    ) -> Result<Vec<(GroupKey, StoreFigures)>, DbError> {
        let group = group_sql(grouping);
        let sql = format!(
            "SELECT {group}, COALESCE(SUM(checks), 0)::BIGINT, COALESCE(SUM(returns), 0)::BIGINT,
                 COALESCE(SUM(sales), 0)::BIGINT, COALESCE(SUM(refunds), 0)::BIGINT,
                 COALESCE(SUM(discount), 0)::BIGINT, COALESCE(SUM(items_milli), 0)::BIGINT,
                 COALESCE(SUM(points_earned), 0)::BIGINT, COALESCE(SUM(points_spent), 0)::BIGINT
             FROM {} WHERE {WHERE} {}",
            if grouping == StoreGrouping::Hour {
                "rollup_store_hours"
            } else {
                "rollup_store_days"
            },
            group_by(grouping)
        );
        let (m, from, to, stores) = filter_params(filter);
        self.query(&sql, &[&m, &from, &to, &stores])?
            .iter()
            .map(|row| {
                Ok((
                    group_key(row, grouping)?,
                    StoreFigures {
                        checks: row.try_get(1)?,
                        returns: row.try_get(2)?,
                        sales: row.try_get(3)?,
                        refunds: row.try_get(4)?,
                        discount: row.try_get(5)?,
                        items_milli: row.try_get(6)?,
                        points_earned: row.try_get(7)?,
                        points_spent: row.try_get(8)?,
                    },
                ))
            })
            .collect()
    }

    fn each_product_row(
        &mut self,
        filter: &RollupFilter,
        each: &mut dyn FnMut(ProductRow<'_>),
    ) -> Result<(), DbError> {
        let (months, days) = if filter.stores.is_some() {
            ("rollup_product_store_months", "rollup_product_store_days")
        } else {
            ("rollup_product_months", "rollup_product_days")
        };
        let columns = "sku, category, name, checks, items_milli, revenue, discount";
        let store = if filter.stores.is_some() {
            IN_STORES_OR_ALL
        } else {
            CHAIN_WIDE
        };
        let sql = period_rows(columns, months, days, store);
        let (m, b, stores) = period_params(filter);
        for row in &self.query(
            &sql,
            &[&m, &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &stores],
        )? {
            each(ProductRow {
                sku: row.try_get(0)?,
                category: row.try_get(1)?,
                name: row.try_get(2)?,
                checks: row.try_get(3)?,
                items_milli: row.try_get(4)?,
                revenue: row.try_get(5)?,
                discount: row.try_get(6)?,
            });
        }
        Ok(())
    }

    fn promotion_figures(
        &mut self,
        filter: &RollupFilter,
    ) -> Result<Vec<PromotionFigures>, DbError> {
        let rows = period_rows(
            "promotion_id, checks, discount, sales, items_milli, funded_by",
            "rollup_promotion_months",
            "rollup_promotion_days",
            IN_STORES_OR_ALL,
        );
        let sql = format!(
            "SELECT h.promotion_id, SUM(h.checks)::BIGINT, SUM(h.discount)::BIGINT,
                 SUM(h.sales)::BIGINT, SUM(h.items_milli)::BIGINT, MAX(h.funded_by),
                 (SELECT COUNT(DISTINCT c.customer_id) FROM rollup_promotion_customers c
                  WHERE c.merchant_id = $1 AND c.promotion_id = h.promotion_id
                      AND c.local_day BETWEEN $9 AND $10
                      AND ($8::BIGINT[] IS NULL OR c.store_id = ANY($8)))
             FROM ({rows}) h
             GROUP BY h.promotion_id ORDER BY SUM(h.discount) DESC, h.promotion_id"
        );
        let (m, b, stores) = period_params(filter);
        let (from, to) = (day_text(filter.from), day_text(filter.to));
        self.query(
            &sql,
            &[
                &m, &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &stores, &from, &to,
            ],
        )?
        .iter()
        .map(|row| {
            Ok(PromotionFigures {
                promotion_id: row.try_get(0)?,
                checks: row.try_get(1)?,
                discount: row.try_get(2)?,
                sales: row.try_get(3)?,
                items_milli: row.try_get(4)?,
                funded_by: row.try_get(5)?,
                customers: row.try_get(6)?,
            })
        })
        .collect()
    }

    fn promotion_groups(
        &mut self,
        filter: &RollupFilter,
        promotion_id: &str,
        grouping: StoreGrouping,
    ) -> Result<Vec<(GroupKey, PromotionFigures)>, DbError> {
        let group = group_sql(grouping);
        let sql = format!(
            "SELECT {group}, COALESCE(SUM(checks), 0)::BIGINT, COALESCE(SUM(discount), 0)::BIGINT,
                 COALESCE(SUM(sales), 0)::BIGINT, COALESCE(SUM(items_milli), 0)::BIGINT,
                 MAX(funded_by)
             FROM {} WHERE {WHERE} AND promotion_id = $5 {}",
            if grouping == StoreGrouping::Hour {
                "rollup_promotion_hours"
            } else {
                "rollup_promotion_days"
            },
            group_by(grouping)
        );
        let (m, from, to, stores) = filter_params(filter);
        self.query(&sql, &[&m, &from, &to, &stores, &promotion_id])?
            .iter()
            .map(|row| {
                Ok((
                    group_key(row, grouping)?,
                    PromotionFigures {
                        promotion_id: promotion_id.to_owned(),
                        checks: row.try_get(1)?,
                        discount: row.try_get(2)?,
                        sales: row.try_get(3)?,
                        items_milli: row.try_get(4)?,
                        funded_by: row.try_get(5)?,
                        customers: 0,
                    },
                ))
            })
            .collect()
    }
    fn take_basket_backfill(&mut self) -> Result<bool, DbError> {
        Ok(self.execute("DELETE FROM rollup_basket_backfill", &[])? > 0)
    }
    fn refresh_planner_statistics(&mut self) -> Result<(), DbError> {
        // The analytics tables of this schema alone (a bare ANALYZE would
        // walk every schema of the database).
        let tables: Vec<String> = self
            .query(
                "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables \
                 WHERE schemaname = current_schema() AND tablename LIKE 'rollup\\_%'",
                &[],
            )?
            .iter()
            .map(|row| row.get(0))
            .collect();
        if !tables.is_empty() {
            self.tx
                .batch_execute(&format!("ANALYZE {}", tables.join(", ")))?;
        }
        Ok(())
    }

    fn queue_baskets(&mut self, records: &[crate::db::RecordKey]) -> Result<(), DbError> {
        if records.is_empty() {
            return Ok(());
        }
        let registers: Vec<i64> = records.iter().map(|s| s.register_id.get()).collect();
        let seqs: Vec<i64> = records.iter().map(|s| s.seq.get()).collect();
        self.execute(
            "INSERT INTO rollup_basket_queue (register_id, seq, products)
             SELECT r, s, TRUE FROM UNNEST($1::BIGINT[], $2::BIGINT[]) AS u (r, s)",
            &[&registers, &seqs],
        )?;
        Ok(())
    }

    fn queued_baskets(
        &mut self,
        limit: i64,
        skip_locked: bool,
    ) -> Result<Vec<QueuedRecord>, DbError> {
        let sql = if skip_locked {
            "SELECT q.id, r.body, r.customer_id, q.products FROM rollup_basket_queue q
             JOIN records r ON r.register_id = q.register_id AND r.seq = q.seq
             ORDER BY q.id LIMIT $1 FOR UPDATE OF q SKIP LOCKED"
        } else {
            "SELECT q.id, r.body, r.customer_id, q.products FROM rollup_basket_queue q
             JOIN records r ON r.register_id = q.register_id AND r.seq = q.seq
             ORDER BY q.id LIMIT $1 FOR UPDATE OF q"
        };
        self.query(sql, &[&limit])?
            .iter()
            .map(|row| {
                Ok(QueuedRecord {
                    stored: backfill_record(row)?,
                    products: row.try_get(3)?,
                })
            })
            .collect()
    }

    fn dequeue_baskets(&mut self, ids: &[i64]) -> Result<(), DbError> {
        if !ids.is_empty() {
            self.execute(
                "DELETE FROM rollup_basket_queue WHERE id = ANY($1)",
                &[&ids],
            )?;
        }
        Ok(())
    }

    fn basket_queue_len(&mut self) -> Result<i64, DbError> {
        Ok(self
            .query_one("SELECT COUNT(*) FROM rollup_basket_queue", &[])?
            .try_get(0)?)
    }

    fn basket_item(
        &mut self,
        merchant: MerchantId,
        kind: BasketItemKind,
        code: &str,
        name: &str,
    ) -> Result<i64, DbError> {
        let known = self.query_opt(
            "SELECT id, name FROM rollup_basket_items
             WHERE merchant_id = $1 AND kind = $2 AND code = $3",
            &[&merchant.get(), &kind.code(), &code],
        )?;
        if let Some(row) = known {
            let id: i64 = row.try_get(0)?;
            let known: String = row.try_get(1)?;
            if !name.is_empty() && known != name {
                self.execute(
                    "UPDATE rollup_basket_items SET name = $2 WHERE id = $1",
                    &[&id, &name],
                )?;
            }
            return Ok(id);
        }
        // Another instance may number it at the same time: the first
        // insert wins, and this one reads its number.
        if let Some(row) = self.query_opt(
            "INSERT INTO rollup_basket_items (merchant_id, kind, code, name)
             VALUES ($1, $2, $3, $4) ON CONFLICT (merchant_id, kind, code) DO NOTHING
             RETURNING id",
            &[&merchant.get(), &kind.code(), &code, &name],
        )? {
            return Ok(row.try_get(0)?);
        }
        self.basket_item_number(merchant, kind, code)?
            .ok_or_else(|| DbError::other(format!("basket item {code} was not numbered")))
    }

    fn add_basket(&mut self, key: &BasketKey, checks: i64) -> Result<i64, DbError> {
        Ok(self
            .add_baskets(&[(*key, checks)])?
            .first()
            .copied()
            .unwrap_or(checks))
    }

    fn add_baskets(&mut self, rows: &[(BasketKey, i64)]) -> Result<Vec<i64>, DbError> {
        // One statement per table; each row's count after it is matched
        // back by the row's key (RETURNING gives no order).
        let mut after: HashMap<BasketRowKey, i64> = HashMap::with_capacity(rows.len());
        for at_store in [false, true] {
            let part: Vec<&(BasketKey, i64)> = rows
                .iter()
                .filter(|(key, _)| key.store_id.is_some() == at_store)
                .collect();
            if part.is_empty() {
                continue;
            }
            let sql = if at_store {
                "INSERT INTO rollup_basket_store_months AS t (merchant_id, scope, kind, a, b,
                     month, checks, store_id)
                 SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::BIGINT[], $4::BIGINT[],
                     $5::BIGINT[], $6::BIGINT[], $7::BIGINT[], $8::BIGINT[])
                 ON CONFLICT (merchant_id, scope, kind, store_id, a, b, month) DO UPDATE SET
                     checks = t.checks + excluded.checks
                 RETURNING merchant_id, scope, kind, store_id, a, b, month, checks"
            } else {
                "INSERT INTO rollup_basket_months AS t (merchant_id, scope, kind, a, b, month,
                     checks)
                 SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::BIGINT[], $4::BIGINT[],
                     $5::BIGINT[], $6::BIGINT[], $7::BIGINT[])
                 ON CONFLICT (merchant_id, scope, kind, a, b, month) DO UPDATE SET
                     checks = t.checks + excluded.checks
                 RETURNING merchant_id, scope, kind, 0::BIGINT, a, b, month, checks"
            };
            let column = |f: &dyn Fn(&BasketKey, i64) -> i64| -> Vec<i64> {
                part.iter().map(|(k, c)| f(k, *c)).collect()
            };
            let merchant = column(&|k, _| k.merchant_id.get());
            let scope = column(&|k, _| k.scope);
            let kind = column(&|k, _| k.kind.code());
            let a = column(&|k, _| k.a);
            let b = column(&|k, _| k.b);
            let month = column(&|k, _| k.month.number());
            let checks = column(&|_, c| c);
            let store = column(&|k, _| k.store_id.map_or(0, |s| s.get()));
            let mut values: Vec<&(dyn postgres::types::ToSql + Sync)> =
                vec![&merchant, &scope, &kind, &a, &b, &month, &checks];
            if at_store {
                values.push(&store);
            }
            for row in self.query(sql, &values)? {
                let key = (
                    row.try_get::<_, i64>(0)?,
                    row.try_get::<_, i64>(1)?,
                    row.try_get::<_, i64>(2)?,
                    row.try_get::<_, i64>(3)?,
                    row.try_get::<_, i64>(4)?,
                    row.try_get::<_, i64>(5)?,
                    row.try_get::<_, i64>(6)?,
                );
                after.insert(key, row.try_get(7)?);
            }
        }
        rows.iter()
            .map(|(key, _)| {
                after.get(&basket_row_key(key)).copied().ok_or_else(|| {
                    DbError::other(format!("basket row {} / {} was not written", key.a, key.b))
                })
            })
            .collect()
    }

    fn add_basket_marks(&mut self, marks: &[(BasketKey, u32)]) -> Result<(), DbError> {
        if marks.is_empty() {
            return Ok(());
        }
        let column = |f: &dyn Fn(&BasketKey, u32) -> i64| -> Vec<i64> {
            marks.iter().map(|(k, l)| f(k, *l)).collect()
        };
        let merchant = column(&|k, _| k.merchant_id.get());
        let scope = column(&|k, _| k.scope);
        let kind = column(&|k, _| k.kind.code());
        let level = column(&|_, l| i64::from(l));
        let month = column(&|k, _| k.month.number());
        let store = column(&|k, _| k.store_id.map_or(0, |s| s.get()));
        let a = column(&|k, _| k.a);
        let b = column(&|k, _| k.b);
        self.execute(
            "INSERT INTO rollup_basket_marks (merchant_id, scope, kind, level, month, store_id,
                 a, b)
             SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::BIGINT[], $4::BIGINT[],
                 $5::BIGINT[], $6::BIGINT[], $7::BIGINT[], $8::BIGINT[])
             ON CONFLICT DO NOTHING",
            &[&merchant, &scope, &kind, &level, &month, &store, &a, &b],
        )?;
        Ok(())
    }

    fn add_basket_mark(&mut self, key: &BasketKey, level: u32) -> Result<(), DbError> {
        self.add_basket_marks(&[(*key, level)])
    }

    fn basket_sums(
        &mut self,
        filter: &BasketFilter,
        item: Option<&str>,
    ) -> Result<Vec<BasketSum>, DbError> {
        let Some((m, scope, kind, first, last, stores)) = self.basket_params(filter)? else {
            return Ok(Vec::new());
        };
        let item = match item {
            Some(code) => {
                match self.basket_item_number(filter.merchant_id, filter.kind.items(), code)? {
                    Some(number) => Some(number),
                    None => return Ok(Vec::new()),
                }
            }
            None => None,
        };
        let sql = basket_named(&format!(
            "SELECT p.a AS a, p.b AS b, SUM(p.checks) AS checks FROM {} p
             WHERE {}{} GROUP BY p.a, p.b",
            basket_table(filter.stores.is_some()),
            basket_where(filter),
            if item.is_some() {
                " AND p.a = $7"
            } else {
                " AND $7::BIGINT IS NULL"
            }
        ));
        self.query(&sql, &[&m, &scope, &kind, &first, &last, &stores, &item])?
            .iter()
            .map(basket_sum)
            .collect()
    }

    fn basket_marked_pairs(
        &mut self,
        filter: &BasketFilter,
        level: u32,
    ) -> Result<Vec<BasketSum>, DbError> {
        let Some((m, scope, kind, first, last, stores)) = self.basket_params(filter)? else {
            return Ok(Vec::new());
        };
        let marks_stores = if filter.stores.is_some() {
            "c.store_id = ANY($6)"
        } else {
            "c.store_id = 0"
        };
        // Each marked pair's rows are summed in a lateral subquery, which can only
        // be looked up by the pair in the primary key: joined, the planner chose
        // a scan of every pair's rows for each marked pair when the tables'
        // statistics were stale (a freshly backfilled table), minutes a view.
        let sql = basket_named(&format!(
            "SELECT k.a AS a, k.b AS b, s.checks AS checks
             FROM (SELECT DISTINCT c.a, c.b FROM rollup_basket_marks c
                   WHERE c.merchant_id = $1 AND c.scope = $2 AND c.kind = $3 AND c.level = $7
                       AND c.month BETWEEN $4 AND $5 AND {marks_stores}) k
             CROSS JOIN LATERAL (SELECT SUM(p.checks) AS checks FROM {} p
                 WHERE {} AND p.a = k.a AND p.b = k.b) s
             WHERE s.checks IS NOT NULL",
            basket_table(filter.stores.is_some()),
            basket_where(filter),
        ));
        self.query(
            &sql,
            &[&m, &scope, &kind, &first, &last, &stores, &i64::from(level)],
        )?
        .iter()
        .map(basket_sum)
        .collect()
    }

    fn basket_pairs_with(
        &mut self,
        filter: &BasketFilter,
        item: &str,
    ) -> Result<Vec<BasketSum>, DbError> {
        let Some((m, scope, kind, first, last, stores)) = self.basket_params(filter)? else {
            return Ok(Vec::new());
        };
        let Some(item) = self.basket_item_number(filter.merchant_id, filter.kind.items(), item)?
        else {
            return Ok(Vec::new());
        };
        let table = basket_table(filter.stores.is_some());
        let w = basket_where(filter);
        let sql = basket_named(&format!(
            "SELECT p.a AS a, p.b AS b, SUM(p.checks) AS checks FROM {table} p
             WHERE {w} AND p.a = $7 GROUP BY p.a, p.b
             UNION ALL
             SELECT p.a, p.b, SUM(p.checks) FROM {table} p
             WHERE {w} AND p.kind < 2 AND p.b = $7 GROUP BY p.a, p.b"
        ));
        self.query(&sql, &[&m, &scope, &kind, &first, &last, &stores, &item])?
            .iter()
            .map(basket_sum)
            .collect()
    }

    fn basket_pair_sums(
        &mut self,
        filter: &BasketFilter,
        pairs: &[(String, String)],
    ) -> Result<Vec<BasketSum>, DbError> {
        let Some((m, scope, kind, first, last, stores)) = self.basket_params(filter)? else {
            return Ok(Vec::new());
        };
        // The pairs' numbers first, then each pair's rows in a lateral subquery
        // (see `basket_marked_pairs`).
        let sql = basket_named(&format!(
            "SELECT k.a AS a, k.b AS b, s.checks AS checks
             FROM (SELECT DISTINCT ka.id AS a,
                       COALESCE(kb.id, CASE WHEN k.b = '' THEN 0 ELSE -1 END) AS b
                   FROM UNNEST($7::TEXT[], $8::TEXT[]) AS k(a, b)
                   JOIN rollup_basket_items ka ON ka.merchant_id = $1 AND ka.kind = $9
                       AND ka.code = k.a
                   LEFT JOIN rollup_basket_items kb ON kb.merchant_id = $1 AND kb.kind = $9
                       AND kb.code = k.b) k
             CROSS JOIN LATERAL (SELECT SUM(p.checks) AS checks FROM {} p
                 WHERE {} AND p.a = k.a AND p.b = k.b) s
             WHERE s.checks IS NOT NULL",
            basket_table(filter.stores.is_some()),
            basket_where(filter),
        ));
        let a: Vec<&str> = pairs.iter().map(|(a, _)| a.as_str()).collect();
        let b: Vec<&str> = pairs.iter().map(|(_, b)| b.as_str()).collect();
        let items = filter.kind.items().code();
        self.query(
            &sql,
            &[&m, &scope, &kind, &first, &last, &stores, &a, &b, &items],
        )?
        .iter()
        .map(basket_sum)
        .collect()
    }
}
