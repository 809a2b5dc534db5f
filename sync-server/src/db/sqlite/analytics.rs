//! [`AnalyticsTx`] on SQLite: rollup rows added with `ON CONFLICT DO
//! UPDATE`, views summed over their primary keys. A store filter is passed
//! as a JSON array and read with `json_each`.

use chrono::NaiveDate;
use rusqlite::{Row, params};
use shared::ids::CustomerId;

use super::SqliteTx;
use super::columns::{int, opt_int};
use crate::db::DbError;
use crate::db::analytics::{
    AnalyticsTx, BackfillRecord, CohortCell, CustomerActivity, GroupKey, ItemFigures, ItemGrouping,
    ProductDelta, PromotionDelta, PromotionFigures, RollupFilter, StoreFigures, StoreGrouping,
    StoreHour, parse_day, stores_json,
};

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

fn day_column(row: &Row<'_>, idx: usize) -> rusqlite::Result<NaiveDate> {
    let text: String = row.get(idx)?;
    parse_day(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, e.into())
    })
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

    fn add_product_day(&mut self, at: StoreHour, d: &ProductDelta) -> Result<(), DbError> {
        self.tx
            .prepare_cached(
                "INSERT INTO rollup_product_days (merchant_id, local_day, store_id, sku, category,
                     name, checks, items_milli, revenue, discount)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT (merchant_id, local_day, store_id, sku, category) DO UPDATE SET
                     name = excluded.name, checks = checks + excluded.checks,
                     items_milli = items_milli + excluded.items_milli,
                     revenue = revenue + excluded.revenue,
                     discount = discount + excluded.discount",
            )?
            .execute(params![
                at.merchant_id.get(),
                day_text(at.local_day),
                at.store_id.get(),
                d.sku,
                d.category,
                d.name,
                d.checks,
                d.items_milli,
                d.revenue,
                d.discount,
            ])?;
        Ok(())
    }

    fn add_customer_day(
        &mut self,
        at: StoreHour,
        customer: CustomerId,
        checks: i64,
        revenue: i64,
    ) -> Result<(), DbError> {
        self.tx
            .prepare_cached(
                "INSERT INTO rollup_customer_days (merchant_id, customer_id, local_day, store_id,
                     checks, revenue)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (merchant_id, customer_id, local_day, store_id) DO UPDATE SET
                     checks = checks + excluded.checks, revenue = revenue + excluded.revenue",
            )?
            .execute(params![
                at.merchant_id.get(),
                customer.get(),
                day_text(at.local_day),
                at.store_id.get(),
                checks,
                revenue,
            ])?;
        Ok(())
    }

    fn add_promotion_hour(
        &mut self,
        at: StoreHour,
        d: &PromotionDelta,
        customer: Option<CustomerId>,
    ) -> Result<(), DbError> {
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
        if let Some(customer) = customer {
            self.tx
                .prepare_cached(
                    "INSERT INTO rollup_promotion_customers (merchant_id, promotion_id,
                         customer_id, local_day, store_id)
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
                )?
                .execute(params![
                    at.merchant_id.get(),
                    d.promotion_id,
                    customer.get(),
                    day_text(at.local_day),
                    at.store_id.get(),
                ])?;
        }
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
        let rows = stmt.query_map(params![after, limit], |row| {
            Ok(BackfillRecord {
                id: row.get(0)?,
                body: row.get(1)?,
                customer: opt_int(row, 2)?,
            })
        })?;
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
             FROM rollup_store_hours WHERE {WHERE} {}",
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

    fn item_figures(
        &mut self,
        filter: &RollupFilter,
        grouping: ItemGrouping,
    ) -> Result<Vec<ItemFigures>, DbError> {
        let (key, name) = match grouping {
            ItemGrouping::Product => ("sku", "MAX(name)"),
            ItemGrouping::Category => ("category", "''"),
        };
        let sql = format!(
            "SELECT {key}, {name}, SUM(checks), SUM(items_milli), SUM(revenue), SUM(discount)
             FROM rollup_product_days WHERE {WHERE}
             GROUP BY {key} ORDER BY SUM(revenue) DESC, {key}"
        );
        let (m, from, to, stores) = filter_params(filter);
        let mut stmt = self.tx.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![m, from, to, stores], |row| {
            Ok(ItemFigures {
                key: row.get(0)?,
                name: row.get(1)?,
                checks: row.get(2)?,
                items_milli: row.get(3)?,
                revenue: row.get(4)?,
                discount: row.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn customer_activity(
        &mut self,
        filter: &RollupFilter,
    ) -> Result<Vec<CustomerActivity>, DbError> {
        let sql = format!(
            "SELECT d.customer_id, c.gender, c.birth_date,
                 (SELECT MIN(f.local_day) FROM rollup_customer_days f
                  WHERE f.merchant_id = ?1 AND f.customer_id = d.customer_id),
                 MAX(d.local_day), COUNT(DISTINCT d.local_day), SUM(d.checks), SUM(d.revenue)
             FROM (SELECT * FROM rollup_customer_days WHERE {WHERE}) d
             JOIN customers c ON c.id = d.customer_id
             GROUP BY d.customer_id ORDER BY d.customer_id"
        );
        let (m, from, to, stores) = filter_params(filter);
        let mut stmt = self.tx.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![m, from, to, stores], |row| {
            let birth: Option<String> = row.get(2)?;
            Ok(CustomerActivity {
                customer_id: int(row, 0)?,
                gender: row.get(1)?,
                birth_date: birth.and_then(|b| parse_day(&b).ok()),
                first_day: day_column(row, 3)?,
                last_day: day_column(row, 4)?,
                visits: row.get(5)?,
                checks: row.get(6)?,
                revenue: row.get(7)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn cohorts(&mut self, filter: &RollupFilter) -> Result<Vec<CohortCell>, DbError> {
        let sql = format!(
            "WITH firsts AS (
                 SELECT customer_id, substr(MIN(local_day), 1, 7) AS cohort
                 FROM rollup_customer_days WHERE merchant_id = ?1 GROUP BY customer_id)
             SELECT f.cohort, substr(d.local_day, 1, 7) AS month, COUNT(DISTINCT d.customer_id)
             FROM (SELECT * FROM rollup_customer_days WHERE {WHERE}) d
             JOIN firsts f ON f.customer_id = d.customer_id
             WHERE f.cohort >= substr(?2, 1, 7)
             GROUP BY f.cohort, month ORDER BY f.cohort, month"
        );
        let (m, from, to, stores) = filter_params(filter);
        let mut stmt = self.tx.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![m, from, to, stores], |row| {
            Ok(CohortCell {
                cohort: row.get(0)?,
                month: row.get(1)?,
                customers: row.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn promotion_figures(
        &mut self,
        filter: &RollupFilter,
    ) -> Result<Vec<PromotionFigures>, DbError> {
        let sql = format!(
            "SELECT h.promotion_id, SUM(h.checks), SUM(h.discount), SUM(h.sales),
                 SUM(h.items_milli), MAX(h.funded_by),
                 (SELECT COUNT(DISTINCT c.customer_id) FROM rollup_promotion_customers c
                  WHERE c.promotion_id = h.promotion_id AND {WHERE})
             FROM rollup_promotion_hours h WHERE {WHERE}
             GROUP BY h.promotion_id ORDER BY SUM(h.discount) DESC, h.promotion_id"
        );
        let (m, from, to, stores) = filter_params(filter);
        let mut stmt = self.tx.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![m, from, to, stores], |row| {
            Ok(PromotionFigures {
                promotion_id: row.get(0)?,
                checks: row.get(1)?,
                discount: row.get(2)?,
                sales: row.get(3)?,
                items_milli: row.get(4)?,
                funded_by: row.get(5)?,
                customers: row.get(6)?,
            })
        })?;
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
             FROM rollup_promotion_hours WHERE {WHERE} AND promotion_id = ?5 {}",
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
}
