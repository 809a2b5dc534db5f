//! [`AnalyticsTx`] on SQLite: rollup rows added with `ON CONFLICT DO
//! UPDATE`, views summed over their primary keys, a period as its whole
//! months plus its edge days. A store filter is passed as a JSON array and
//! read with `json_each`.

use chrono::NaiveDate;
use rusqlite::{OptionalExtension as _, Row, params};
use shared::ids::CustomerId;

use super::SqliteTx;
use super::columns::{int, opt_int};
use crate::db::DbError;
use crate::db::analytics::{
    AnalyticsTx, BackfillRecord, BasketFilter, BasketItemKind, BasketKey, BasketSum, CustomerIds,
    CustomerVisitsRow, GroupKey, PeriodParts, ProductDelta, ProductRow, PromotionDelta,
    PromotionFigures, QueuedRecord, RollupAt, RollupFilter, Span, StoreFigures, StoreGrouping,
    StoreHour, parse_day, stores_json,
};
use shared::ids::MerchantId;

fn day_text(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

/// The filter's parameters ?1..?4: merchant, from, to, stores (JSON or NULL).
fn filter_params(f: &RollupFilter) -> (i64, String, String, Option<String>) {
    (
        f.merchant_id.get(),
        day_text(f.from),
        day_text(f.to),
        stores_json(f),
    )
}

const WHERE: &str = "merchant_id = ?1 AND local_day BETWEEN ?2 AND ?3
    AND (?4 IS NULL OR store_id IN (SELECT value FROM json_each(?4)))";

/// Only the stores of the JSON array in ?8.
const IN_STORES: &str = " AND store_id IN (SELECT value FROM json_each(?8))";
/// The stores of the JSON array in ?8, or every store when it is NULL.
const IN_STORES_OR_ALL: &str = " AND (?8 IS NULL OR store_id IN (SELECT value FROM json_each(?8)))";

/// Rows of a period from a month table and its day table: ?1 the merchant,
/// ?2..?7 the [`PeriodParts::bounds`], then `store` (`""`, [`IN_STORES`] or
/// [`IN_STORES_OR_ALL`]) on each part.
///
/// The head and the tail days are two arms of their own: SQLite searches
/// its keys by one range a query, and with `local_day BETWEEN ?4 AND ?5 OR
/// local_day BETWEEN ?6 AND ?7` it read every day row of the merchant (or
/// of the store) and filtered them (1.8 million rows for a chain's year of
/// 5 000 products, 0.1–0.35 s on the shared machine, to find none).
fn period_rows(columns: &str, months: &str, days: &str, store: &str) -> String {
    format!(
        "SELECT {columns} FROM {months} WHERE merchant_id = ?1 AND month BETWEEN ?2 AND ?3{store}
         UNION ALL
         SELECT {columns} FROM {days} WHERE merchant_id = ?1 AND local_day BETWEEN ?4 AND ?5{store}
         UNION ALL
         SELECT {columns} FROM {days} WHERE merchant_id = ?1 AND local_day BETWEEN ?6 AND ?7{store}"
    )
}

/// The parameters of [`period_rows`]: merchant, six bounds, stores.
fn period_params(f: &RollupFilter) -> (i64, [String; 6], Option<String>) {
    (
        f.merchant_id.get(),
        PeriodParts::of(f.from, f.to).bounds(),
        stores_json(f),
    )
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
        StoreGrouping::Total => "NULL",
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

fn group_key(row: &Row<'_>, grouping: StoreGrouping) -> rusqlite::Result<GroupKey> {
    Ok(match grouping {
        StoreGrouping::Total => GroupKey::Total,
        StoreGrouping::Day => {
            let text: String = row.get(0)?;
            GroupKey::Day(parse_day(&text).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.into())
            })?)
        }
        StoreGrouping::Hour => GroupKey::Hour(int(row, 0)?),
        StoreGrouping::Store => GroupKey::Store(int(row, 0)?),
    })
}

/// A text column as `&str`, if it is text.
fn text_ref(value: rusqlite::types::ValueRef<'_>) -> Option<&str> {
    match value {
        rusqlite::types::ValueRef::Text(t) => std::str::from_utf8(t).ok(),
        _ => None,
    }
}

/// A stored record to add to the rollups: `(id, body, customer_id)`.
fn backfill_record(row: &Row<'_>) -> rusqlite::Result<BackfillRecord> {
    Ok(BackfillRecord {
        id: row.get(0)?,
        body: row.get(1)?,
        customer: opt_int(row, 2)?,
    })
}

/// The basket table of a filter or key: chain-wide, or per store.
fn basket_table(per_store: bool) -> &'static str {
    if per_store {
        "rollup_basket_store_months"
    } else {
        "rollup_basket_months"
    }
}

/// Basket rows of `f`: ?1 merchant, ?2 scope (its number), ?3 kind,
/// ?4..?5 months (`YYYYMM`), ?6 the stores as JSON (per-store rows only),
/// on the table aliased `p`.
fn basket_where(f: &BasketFilter) -> String {
    let stores = if f.stores.is_some() {
        " AND p.store_id IN (SELECT value FROM json_each(?6))"
    } else {
        " AND ?6 IS NULL"
    };
    format!(
        "p.merchant_id = ?1 AND p.scope = ?2 AND p.kind = ?3 AND p.month BETWEEN ?4 AND ?5{stores}"
    )
}

/// The pairs with item ?7 on either side, on the rows of `w`. Where it is
/// the second item they are found by the `_by_b` index, named: it is
/// partial (pairs only), which a bound kind does not prove, and the
/// planner read every pair of the period by the primary key instead
/// (813 ms for a popular product at 10 million records). The literal
/// `kind < 2` is what lets the index be used.
fn pairs_with_sql(per_store: bool, w: &str) -> String {
    let table = basket_table(per_store);
    format!(
        "SELECT p.a AS a, p.b AS b, SUM(p.checks) AS checks FROM {table} p
         WHERE {w} AND p.a = ?7 GROUP BY p.a, p.b
         UNION ALL
         SELECT p.a, p.b, SUM(p.checks) FROM {table} p INDEXED BY {table}_by_b
         WHERE {w} AND p.kind < 2 AND p.b = ?7 GROUP BY p.a, p.b"
    )
}

/// `inner`'s rows (`a`, `b` numbers, `checks`) with their items' codes
/// and `a`'s name.
fn basket_named(inner: &str) -> String {
    format!(
        "SELECT COALESCE(ia.code, ''), COALESCE(ib.code, ''), COALESCE(ia.name, ''), s.checks
         FROM ({inner}) s
         LEFT JOIN rollup_basket_items ia ON ia.id = s.a
         LEFT JOIN rollup_basket_items ib ON ib.id = s.b"
    )
}

/// A filter's parameters, its scope as its number.
type BasketParams = (i64, i64, i64, i64, i64, Option<String>);

fn basket_sum(row: &Row<'_>) -> rusqlite::Result<BasketSum> {
    Ok(BasketSum {
        a: row.get(0)?,
        b: row.get(1)?,
        name: row.get(2)?,
        checks: row.get(3)?,
    })
}

impl SqliteTx<'_> {
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
        Ok(self
            .tx
            .prepare_cached(
                "SELECT id FROM rollup_basket_items
                 WHERE merchant_id = ?1 AND kind = ?2 AND code = ?3",
            )?
            .query_row(params![merchant.get(), kind.code(), code], |row| row.get(0))
            .optional()?)
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
            f.stores.as_ref().map(|stores| {
                let ids: Vec<i64> = stores.iter().map(|s| s.get()).collect();
                serde_json::to_string(&ids).unwrap_or_else(|_| "[]".to_owned())
            }),
        )))
    }
}

impl AnalyticsTx for SqliteTx<'_> {
    fn add_store_hour(&mut self, at: StoreHour, f: &StoreFigures) -> Result<(), DbError> {
        self.tx
            .prepare_cached(
                "INSERT INTO rollup_store_hours (merchant_id, local_day, store_id, hour, checks,
                     returns, sales, refunds, discount, items_milli, points_earned, points_spent)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                 ON CONFLICT (merchant_id, local_day, store_id, hour) DO UPDATE SET
                     checks = checks + excluded.checks, returns = returns + excluded.returns,
                     sales = sales + excluded.sales, refunds = refunds + excluded.refunds,
                     discount = discount + excluded.discount,
                     items_milli = items_milli + excluded.items_milli,
                     points_earned = points_earned + excluded.points_earned,
                     points_spent = points_spent + excluded.points_spent",
            )?
            .execute(params![
                at.merchant_id.get(),
                day_text(at.local_day),
                at.store_id.get(),
                at.hour,
                f.checks,
                f.returns,
                f.sales,
                f.refunds,
                f.discount,
                f.items_milli,
                f.points_earned,
                f.points_spent,
            ])?;
        Ok(())
    }

    fn add_store_day(&mut self, at: StoreHour, f: &StoreFigures) -> Result<(), DbError> {
        self.tx
            .prepare_cached(
                "INSERT INTO rollup_store_days (merchant_id, local_day, store_id, checks,
                     returns, sales, refunds, discount, items_milli, points_earned, points_spent)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT (merchant_id, local_day, store_id) DO UPDATE SET
                     checks = checks + excluded.checks, returns = returns + excluded.returns,
                     sales = sales + excluded.sales, refunds = refunds + excluded.refunds,
                     discount = discount + excluded.discount,
                     items_milli = items_milli + excluded.items_milli,
                     points_earned = points_earned + excluded.points_earned,
                     points_spent = points_spent + excluded.points_spent",
            )?
            .execute(params![
                at.merchant_id.get(),
                day_text(at.local_day),
                at.store_id.get(),
                f.checks,
                f.returns,
                f.sales,
                f.refunds,
                f.discount,
                f.items_milli,
                f.points_earned,
                f.points_spent,
            ])?;
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
        // The chain's rows bind NULL for ?10 and do not name a store.
        let (store_column, store_value) = match at.store_id {
            Some(_) => ("store_id, ", "?10, "),
            None => ("", ""),
        };
        let sql = format!(
            "INSERT INTO {table} (merchant_id, {store_column}{span_column}, sku, category,
                 name, checks, items_milli, revenue, discount)
             VALUES (?1, {store_value}?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (merchant_id, {store_column}{span_column}, sku, category) DO UPDATE SET
                 name = excluded.name, checks = checks + excluded.checks,
                 items_milli = items_milli + excluded.items_milli,
                 revenue = revenue + excluded.revenue,
                 discount = discount + excluded.discount"
        );
        let mut stmt = self.tx.prepare_cached(&sql)?;
        let merchant = at.merchant_id.get();
        let store = at.store_id.map(|s| s.get());
        let mut values: Vec<&dyn rusqlite::ToSql> = vec![
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
        stmt.execute(values.as_slice())?;
        Ok(())
    }

    fn add_promotion_hour(&mut self, at: StoreHour, d: &PromotionDelta) -> Result<(), DbError> {
        self.tx
            .prepare_cached(
                "INSERT INTO rollup_promotion_hours (merchant_id, promotion_id, local_day,
                     store_id, hour, checks, discount, sales, items_milli, funded_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT (merchant_id, promotion_id, local_day, store_id, hour) DO UPDATE SET
                     checks = checks + excluded.checks, discount = discount + excluded.discount,
                     sales = sales + excluded.sales,
                     items_milli = items_milli + excluded.items_milli,
                     funded_by = COALESCE(funded_by, excluded.funded_by)",
            )?
            .execute(params![
                at.merchant_id.get(),
                d.promotion_id,
                day_text(at.local_day),
                at.store_id.get(),
                at.hour,
                d.checks,
                d.discount,
                d.sales,
                d.items_milli,
                d.funded_by,
            ])?;
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
            "INSERT INTO {table} (merchant_id, promotion_id, {span_column}, store_id, checks,
                 discount, sales, items_milli, funded_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (merchant_id, {key}) DO UPDATE SET
                 checks = checks + excluded.checks, discount = discount + excluded.discount,
                 sales = sales + excluded.sales,
                 items_milli = items_milli + excluded.items_milli,
                 funded_by = COALESCE(funded_by, excluded.funded_by)"
        );
        self.tx.prepare_cached(&sql)?.execute(params![
            at.merchant_id.get(),
            d.promotion_id,
            span,
            store.get(),
            d.checks,
            d.discount,
            d.sales,
            d.items_milli,
            d.funded_by,
        ])?;
        Ok(())
    }

    fn add_promotion_customer(
        &mut self,
        at: StoreHour,
        promotion_id: &str,
        customer: CustomerId,
    ) -> Result<(), DbError> {
        self.tx
            .prepare_cached(
                "INSERT INTO rollup_promotion_customers (merchant_id, promotion_id,
                     customer_id, local_day, store_id)
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
            )?
            .execute(params![
                at.merchant_id.get(),
                promotion_id,
                customer.get(),
                day_text(at.local_day),
                at.store_id.get(),
            ])?;
        Ok(())
    }

    fn customer_visits(
        &mut self,
        merchant: MerchantId,
        customer: CustomerId,
    ) -> Result<Option<Vec<u8>>, DbError> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT visits FROM rollup_customer_visits WHERE customer_id = ?1 AND merchant_id = ?2",
        )?;
        let mut rows = stmt.query(params![customer.get(), merchant.get()])?;
        Ok(match rows.next()? {
            Some(row) => Some(row.get(0)?),
            None => None,
        })
    }

    fn put_customer_visits(
        &mut self,
        merchant: MerchantId,
        customer: CustomerId,
        visits: &[u8],
    ) -> Result<(), DbError> {
        self.tx
            .prepare_cached(
                "INSERT INTO rollup_customer_visits (customer_id, merchant_id, visits)
                 VALUES (?1, ?2, ?3)
                 ON CONFLICT (customer_id) DO UPDATE SET visits = excluded.visits",
            )?
            .execute(params![customer.get(), merchant.get(), visits])?;
        Ok(())
    }

    fn each_customer_visits_in(
        &mut self,
        merchant: MerchantId,
        ids: &CustomerIds,
        each: &mut dyn FnMut(CustomerVisitsRow<'_>),
    ) -> Result<(), DbError> {
        use rusqlite::types::ValueRef;
        // Both tables are read in id order, each in one pass over its rows
        // (ids are their rowids, so a range is a range of the table), and
        // joined here: a lookup of each customer by key would cost more
        // than the whole scan.
        let mut visits = self.tx.prepare_cached(
            "SELECT customer_id, visits FROM rollup_customer_visits NOT INDEXED
             WHERE merchant_id = ?1 AND customer_id BETWEEN ?2 AND ?3 ORDER BY customer_id",
        )?;
        let mut people = self.tx.prepare_cached(
            "SELECT id, gender, birth_date FROM customers NOT INDEXED
             WHERE merchant_id = ?1 AND id BETWEEN ?2 AND ?3 ORDER BY id",
        )?;
        let range = params![merchant.get(), ids.first, ids.last];
        let mut visits = visits.query(range)?;
        let mut people = people.query(range)?;
        let mut person = people.next()?;
        while let Some(row) = visits.next()? {
            let customer: i64 = row.get(0)?;
            while let Some(p) = person {
                if p.get::<_, i64>(0)? >= customer {
                    break;
                }
                person = people.next()?;
            }
            let Some(p) = person else { break };
            if p.get::<_, i64>(0)? != customer {
                continue;
            }
            let gender = text_ref(p.get_ref(1)?).unwrap_or("");
            let birth_date = text_ref(p.get_ref(2)?).and_then(|t| parse_day(t).ok());
            let packed = match row.get_ref(1)? {
                ValueRef::Blob(b) => b,
                _ => &[],
            };
            each(CustomerVisitsRow {
                customer_id: int(row, 0)?,
                gender,
                birth_date,
                visits: packed,
            });
        }
        Ok(())
    }

    fn customer_visits_bounds(&mut self) -> Result<Option<(i64, i64)>, DbError> {
        // Two ends of the rowid, not a scan (the merchant is checked on
        // the rows a pass reads).
        let bounds: (Option<i64>, Option<i64>) = self.tx.query_row(
            "SELECT (SELECT MIN(customer_id) FROM rollup_customer_visits),
                    (SELECT MAX(customer_id) FROM rollup_customer_visits)",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        Ok(match bounds {
            (Some(least), Some(greatest)) => Some((least, greatest)),
            _ => None,
        })
    }

    fn take_rollup_backfill(&mut self) -> Result<bool, DbError> {
        Ok(self
            .tx
            .prepare_cached("DELETE FROM rollup_backfill")?
            .execute([])?
            > 0)
    }

    fn records_after(&mut self, after: i64, limit: i64) -> Result<Vec<BackfillRecord>, DbError> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT id, body, customer_id FROM records WHERE id > ?1 ORDER BY id LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![after, limit], backfill_record)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn store_figures(
        &mut self,
        filter: &RollupFilter,
        grouping: StoreGrouping,
    ) -> Result<Vec<(GroupKey, StoreFigures)>, DbError> {
        let group = group_sql(grouping);
        let sql = format!(
            "SELECT {group}, COALESCE(SUM(checks), 0), COALESCE(SUM(returns), 0),
                 COALESCE(SUM(sales), 0), COALESCE(SUM(refunds), 0), COALESCE(SUM(discount), 0),
                 COALESCE(SUM(items_milli), 0), COALESCE(SUM(points_earned), 0),
                 COALESCE(SUM(points_spent), 0)
             FROM {} WHERE {WHERE} {}",
            if grouping == StoreGrouping::Hour {
                "rollup_store_hours"
            } else {
                "rollup_store_days"
            },
            group_by(grouping)
        );
        let (m, from, to, stores) = filter_params(filter);
        let mut stmt = self.tx.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![m, from, to, stores], |row| {
            Ok((
                group_key(row, grouping)?,
                StoreFigures {
                    checks: row.get(1)?,
                    returns: row.get(2)?,
                    sales: row.get(3)?,
                    refunds: row.get(4)?,
                    discount: row.get(5)?,
                    items_milli: row.get(6)?,
                    points_earned: row.get(7)?,
                    points_spent: row.get(8)?,
                },
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
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
        let sql = period_rows(
            "sku, category, name, checks, items_milli, revenue, discount",
            months,
            days,
            if filter.stores.is_some() {
                IN_STORES
            } else {
                ""
            },
        );
        let (m, b, stores) = period_params(filter);
        let mut stmt = self.tx.prepare_cached(&sql)?;
        let mut values: Vec<&dyn rusqlite::ToSql> = vec![&m];
        values.extend(b.iter().map(|b| b as &dyn rusqlite::ToSql));
        if let Some(stores) = &stores {
            values.push(stores);
        }
        let mut rows = stmt.query(values.as_slice())?;
        while let Some(row) = rows.next()? {
            each(ProductRow {
                sku: text_ref(row.get_ref(0)?).unwrap_or(""),
                category: text_ref(row.get_ref(1)?).unwrap_or(""),
                name: text_ref(row.get_ref(2)?).unwrap_or(""),
                checks: row.get(3)?,
                items_milli: row.get(4)?,
                revenue: row.get(5)?,
                discount: row.get(6)?,
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
        // ?9 and ?10 are the period, for the customers.
        let sql = format!(
            "SELECT h.promotion_id, SUM(h.checks), SUM(h.discount), SUM(h.sales),
                 SUM(h.items_milli), MAX(h.funded_by),
                 (SELECT COUNT(DISTINCT c.customer_id) FROM rollup_promotion_customers c
                  WHERE c.merchant_id = ?1 AND c.promotion_id = h.promotion_id
                      AND c.local_day BETWEEN ?9 AND ?10
                      AND (?8 IS NULL OR c.store_id IN (SELECT value FROM json_each(?8))))
             FROM ({rows}) h
             GROUP BY h.promotion_id ORDER BY SUM(h.discount) DESC, h.promotion_id"
        );
        let (m, b, stores) = period_params(filter);
        let (from, to) = (day_text(filter.from), day_text(filter.to));
        let mut stmt = self.tx.prepare_cached(&sql)?;
        let rows = stmt.query_map(
            params![m, b[0], b[1], b[2], b[3], b[4], b[5], stores, from, to],
            |row| {
                Ok(PromotionFigures {
                    promotion_id: row.get(0)?,
                    checks: row.get(1)?,
                    discount: row.get(2)?,
                    sales: row.get(3)?,
                    items_milli: row.get(4)?,
                    funded_by: row.get(5)?,
                    customers: row.get(6)?,
                })
            },
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn promotion_groups(
        &mut self,
        filter: &RollupFilter,
        promotion_id: &str,
        grouping: StoreGrouping,
    ) -> Result<Vec<(GroupKey, PromotionFigures)>, DbError> {
        let group = group_sql(grouping);
        let sql = format!(
            "SELECT {group}, COALESCE(SUM(checks), 0), COALESCE(SUM(discount), 0),
                 COALESCE(SUM(sales), 0), COALESCE(SUM(items_milli), 0), MAX(funded_by)
             FROM {} WHERE {WHERE} AND promotion_id = ?5 {}",
            if grouping == StoreGrouping::Hour {
                "rollup_promotion_hours"
            } else {
                "rollup_promotion_days"
            },
            group_by(grouping)
        );
        let (m, from, to, stores) = filter_params(filter);
        let mut stmt = self.tx.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![m, from, to, stores, promotion_id], |row| {
            Ok((
                group_key(row, grouping)?,
                PromotionFigures {
                    promotion_id: promotion_id.to_owned(),
                    checks: row.get(1)?,
                    discount: row.get(2)?,
                    sales: row.get(3)?,
                    items_milli: row.get(4)?,
                    funded_by: row.get(5)?,
                    customers: 0,
                },
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
    fn take_basket_backfill(&mut self) -> Result<bool, DbError> {
        Ok(self
            .tx
            .prepare_cached("DELETE FROM rollup_basket_backfill")?
            .execute([])?
            > 0)
    }
    fn refresh_planner_statistics(&mut self) -> Result<(), DbError> {
        // Nothing: SQLite plans from the indexes alone while it keeps no
        // `sqlite_stat1`, the plans the views were tested and timed with;
        // an ANALYZE would change every query's plan, ingest's too.
        Ok(())
    }

    fn queue_baskets(&mut self, records: &[crate::db::RecordKey]) -> Result<(), DbError> {
        let mut stmt = self.tx.prepare_cached(
            "INSERT INTO rollup_basket_queue (register_id, seq, products) VALUES (?1, ?2, 1)",
        )?;
        for record in records {
            stmt.execute(params![record.register_id.get(), record.seq.get()])?;
        }
        Ok(())
    }

    fn queued_baskets(
        &mut self,
        limit: i64,
        _skip_locked: bool,
    ) -> Result<Vec<QueuedRecord>, DbError> {
        // One writer at a time: the write transaction holds the queue.
        let mut stmt = self.tx.prepare_cached(
            "SELECT q.id, r.body, r.customer_id, q.products FROM rollup_basket_queue q
             JOIN records r ON r.register_id = q.register_id AND r.seq = q.seq
             ORDER BY q.id LIMIT ?1",
        )?;
        let rows = stmt.query_map(params![limit], |row| {
            Ok(QueuedRecord {
                stored: backfill_record(row)?,
                products: row.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn dequeue_baskets(&mut self, ids: &[i64]) -> Result<(), DbError> {
        let mut stmt = self
            .tx
            .prepare_cached("DELETE FROM rollup_basket_queue WHERE id = ?1")?;
        for id in ids {
            stmt.execute(params![id])?;
        }
        Ok(())
    }

    fn basket_queue_len(&mut self) -> Result<i64, DbError> {
        Ok(self
            .tx
            .prepare_cached("SELECT COUNT(*) FROM rollup_basket_queue")?
            .query_row([], |row| row.get(0))?)
    }

    fn basket_item(
        &mut self,
        merchant: MerchantId,
        kind: BasketItemKind,
        code: &str,
        name: &str,
    ) -> Result<i64, DbError> {
        let known: Option<(i64, String)> = self
            .tx
            .prepare_cached(
                "SELECT id, name FROM rollup_basket_items
                 WHERE merchant_id = ?1 AND kind = ?2 AND code = ?3",
            )?
            .query_row(params![merchant.get(), kind.code(), code], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .optional()?;
        match known {
            Some((id, known)) => {
                if !name.is_empty() && known != name {
                    self.tx
                        .prepare_cached("UPDATE rollup_basket_items SET name = ?2 WHERE id = ?1")?
                        .execute(params![id, name])?;
                }
                Ok(id)
            }
            None => Ok(self
                .tx
                .prepare_cached(
                    "INSERT INTO rollup_basket_items (merchant_id, kind, code, name)
                     VALUES (?1, ?2, ?3, ?4) RETURNING id",
                )?
                .query_row(params![merchant.get(), kind.code(), code, name], |row| {
                    row.get(0)
                })?),
        }
    }

    fn add_basket(&mut self, key: &BasketKey, checks: i64) -> Result<i64, DbError> {
        let merchant = key.merchant_id.get();
        let kind = key.kind.code();
        let month = key.month.number();
        Ok(match key.store_id {
            None => self
                .tx
                .prepare_cached(
                    "INSERT INTO rollup_basket_months (merchant_id, scope, kind, a, b, month,
                         checks)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (merchant_id, scope, kind, a, b, month) DO UPDATE SET
                         checks = checks + excluded.checks
                     RETURNING checks",
                )?
                .query_row(
                    params![merchant, key.scope, kind, key.a, key.b, month, checks],
                    |row| row.get(0),
                )?,
            Some(store) => self
                .tx
                .prepare_cached(
                    "INSERT INTO rollup_basket_store_months (merchant_id, scope, kind, store_id,
                         a, b, month, checks)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT (merchant_id, scope, kind, store_id, a, b, month) DO UPDATE SET
                         checks = checks + excluded.checks
                     RETURNING checks",
                )?
                .query_row(
                    params![
                        merchant,
                        key.scope,
                        kind,
                        store.get(),
                        key.a,
                        key.b,
                        month,
                        checks
                    ],
                    |row| row.get(0),
                )?,
        })
    }

    fn add_basket_mark(&mut self, key: &BasketKey, level: u32) -> Result<(), DbError> {
        self.tx
            .prepare_cached(
                "INSERT INTO rollup_basket_marks (merchant_id, scope, kind, level, month,
                     store_id, a, b)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING",
            )?
            .execute(params![
                key.merchant_id.get(),
                key.scope,
                key.kind.code(),
                level,
                key.month.number(),
                key.store_id.map_or(0, |s| s.get()),
                key.a,
                key.b,
            ])?;
        Ok(())
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
                " AND p.a = ?7"
            } else {
                " AND ?7 IS NULL"
            }
        ));
        let mut stmt = self.tx.prepare_cached(&sql)?;
        let rows = stmt.query_map(
            params![m, scope, kind, first, last, stores, item],
            basket_sum,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
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
            "c.store_id IN (SELECT value FROM json_each(?6))"
        } else {
            "c.store_id = 0"
        };
        let sql = basket_named(&format!(
            "SELECT p.a AS a, p.b AS b, SUM(p.checks) AS checks
             FROM (SELECT DISTINCT c.a, c.b FROM rollup_basket_marks c
                   WHERE c.merchant_id = ?1 AND c.scope = ?2 AND c.kind = ?3 AND c.level = ?7
                       AND c.month BETWEEN ?4 AND ?5 AND {marks_stores}) k
             JOIN {} p ON p.merchant_id = ?1 AND p.scope = ?2 AND p.kind = ?3
                 AND p.a = k.a AND p.b = k.b
             WHERE {} GROUP BY p.a, p.b",
            basket_table(filter.stores.is_some()),
            basket_where(filter),
        ));
        let mut stmt = self.tx.prepare_cached(&sql)?;
        let rows = stmt.query_map(
            params![m, scope, kind, first, last, stores, level],
            basket_sum,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
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
        let sql = basket_named(&pairs_with_sql(
            filter.stores.is_some(),
            &basket_where(filter),
        ));
        let mut stmt = self.tx.prepare_cached(&sql)?;
        let rows = stmt.query_map(
            params![m, scope, kind, first, last, stores, item],
            basket_sum,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn basket_pair_sums(
        &mut self,
        filter: &BasketFilter,
        pairs: &[(String, String)],
    ) -> Result<Vec<BasketSum>, DbError> {
        let Some((m, scope, kind, first, last, stores)) = self.basket_params(filter)? else {
            return Ok(Vec::new());
        };
        let sql = format!(
            "SELECT SUM(p.checks) FROM {} p WHERE {} AND p.a = ?7 AND p.b = ?8",
            basket_table(filter.stores.is_some()),
            basket_where(filter),
        );
        let items = filter.kind.items();
        let mut out = Vec::new();
        for (a, b) in pairs {
            let (Some(na), Some(nb)) = (
                self.basket_item_number(filter.merchant_id, items, a)?,
                self.basket_item_number(filter.merchant_id, items, b)?,
            ) else {
                continue;
            };
            let checks: Option<i64> = self.tx.prepare_cached(&sql)?.query_row(
                params![m, scope, kind, first, last, stores, na, nb],
                |row| row.get(0),
            )?;
            let Some(checks) = checks else { continue };
            let name = if b.is_empty() {
                self.tx
                    .prepare_cached("SELECT name FROM rollup_basket_items WHERE id = ?1")?
                    .query_row(params![na], |row| row.get(0))
                    .optional()?
                    .unwrap_or_default()
            } else {
                String::new()
            };
            out.push(BasketSum {
                a: a.clone(),
                b: b.clone(),
                name,
                checks,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan's lines of `sql` (its parameters bound to NULL).
    fn plan(conn: &rusqlite::Connection, sql: &str) -> Vec<String> {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let nulls = std::iter::repeat_n(rusqlite::types::Null, stmt.parameter_count());
        stmt.query_map(rusqlite::params_from_iter(nulls), |row| {
            row.get::<_, String>(3)
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    }

    #[test]
    fn a_products_pairs_are_found_by_either_item_not_by_reading_every_pair() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = super::super::connect(&dir.path().join("test.db")).unwrap();
        super::super::migrations().to_latest(&mut conn).unwrap();
        for per_store in [false, true] {
            let filter = BasketFilter {
                merchant_id: shared::ids::MerchantId::new(1).unwrap(),
                scope: String::new(),
                kind: crate::db::analytics::BasketKind::ProductPair,
                first: crate::db::analytics::Month {
                    year: 2026,
                    month: 1,
                },
                last: crate::db::analytics::Month {
                    year: 2026,
                    month: 12,
                },
                stores: per_store.then(|| vec![shared::ids::StoreId::new(1).unwrap()]),
            };
            let lines = plan(&conn, &pairs_with_sql(per_store, &basket_where(&filter)));
            let table = basket_table(per_store);
            assert!(
                lines
                    .iter()
                    .any(|l| l.contains(&format!("{table}_by_b")) && l.contains("b=?")),
                "the second item's pairs by the index: {lines:#?}"
            );
            assert!(
                !lines
                    .iter()
                    .any(|l| l.starts_with("SCAN") && !l.contains("json_each")),
                "nothing read whole: {lines:#?}"
            );
        }
    }

    #[test]
    fn a_periods_edge_days_are_searched_by_their_days_not_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = super::super::connect(&dir.path().join("test.db")).unwrap();
        super::super::migrations().to_latest(&mut conn).unwrap();
        for (columns, months, days, store) in [
            (
                "sku, name",
                "rollup_product_months",
                "rollup_product_days",
                "",
            ),
            (
                "sku, name",
                "rollup_product_store_months",
                "rollup_product_store_days",
                IN_STORES,
            ),
            (
                "promotion_id, checks",
                "rollup_promotion_months",
                "rollup_promotion_days",
                IN_STORES_OR_ALL,
            ),
        ] {
            let lines = plan(&conn, &period_rows(columns, months, days, store));
            let searches: Vec<&String> = lines.iter().filter(|l| l.contains(days)).collect();
            assert_eq!(searches.len(), 2, "{days}: {lines:#?}");
            for line in searches {
                assert!(
                    line.contains("local_day>? AND local_day<?"),
                    "{days} is read beyond the edge days: {lines:#?}"
                );
            }
        }
    }
}
