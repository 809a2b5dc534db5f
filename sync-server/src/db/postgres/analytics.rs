//! [`AnalyticsTx`] on PostgreSQL: rollup rows added with `ON CONFLICT DO
//! UPDATE`, views summed over their primary keys. A store filter is passed
//! as an array (`NULL` for all stores).

use chrono::NaiveDate;
use postgres::Row;
use shared::ids::CustomerId;

use super::PgTx;
use super::columns::{int, opt_int};
use crate::db::DbError;
use crate::db::analytics::{
    AnalyticsTx, BackfillRecord, CohortCell, CustomerActivity, GroupKey, ItemFigures, ItemGrouping,
    ProductDelta, PromotionDelta, PromotionFigures, RollupFilter, StoreFigures, StoreGrouping,
    StoreHour, parse_day,
};

fn day_text(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
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

    fn add_product_day(&mut self, at: StoreHour, d: &ProductDelta) -> Result<(), DbError> {
        self.execute(
            "INSERT INTO rollup_product_days AS t (merchant_id, local_day, store_id, sku,
                 category, name, checks, items_milli, revenue, discount)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (merchant_id, local_day, store_id, sku, category) DO UPDATE SET
                 name = excluded.name, checks = t.checks + excluded.checks,
                 items_milli = t.items_milli + excluded.items_milli,
                 revenue = t.revenue + excluded.revenue,
                 discount = t.discount + excluded.discount",
            &[
                &at.merchant_id.get(),
                &day_text(at.local_day),
                &at.store_id.get(),
                &d.sku,
                &d.category,
                &d.name,
                &d.checks,
                &d.items_milli,
                &d.revenue,
                &d.discount,
            ],
        )?;
        Ok(())
    }

    fn add_customer_day(
        &mut self,
        at: StoreHour,
        customer: CustomerId,
        checks: i64,
        revenue: i64,
    ) -> Result<(), DbError> {
        self.execute(
            "INSERT INTO rollup_customer_days AS t (merchant_id, customer_id, local_day,
                 store_id, checks, revenue)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (merchant_id, customer_id, local_day, store_id) DO UPDATE SET
                 checks = t.checks + excluded.checks, revenue = t.revenue + excluded.revenue",
            &[
                &at.merchant_id.get(),
                &customer.get(),
                &day_text(at.local_day),
                &at.store_id.get(),
                &checks,
                &revenue,
            ],
        )?;
        Ok(())
    }

    fn add_promotion_hour(
        &mut self,
        at: StoreHour,
        d: &PromotionDelta,
        customer: Option<CustomerId>,
    ) -> Result<(), DbError> {
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
        if let Some(customer) = customer {
            self.execute(
                "INSERT INTO rollup_promotion_customers (merchant_id, promotion_id, customer_id,
                     local_day, store_id)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                &[
                    &at.merchant_id.get(),
                    &d.promotion_id,
                    &customer.get(),
                    &day_text(at.local_day),
                    &at.store_id.get(),
                ],
            )?;
        }
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
        .map(|row| {
            Ok(BackfillRecord {
                id: row.try_get(0)?,
                body: row.try_get(1)?,
                customer: opt_int(row, 2)?,
            })
        })
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
             FROM rollup_store_hours WHERE {WHERE} {}",
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
            "SELECT {key}, {name}, SUM(checks)::BIGINT, SUM(items_milli)::BIGINT,
                 SUM(revenue)::BIGINT, SUM(discount)::BIGINT
             FROM rollup_product_days WHERE {WHERE}
             GROUP BY {key} ORDER BY SUM(revenue) DESC, {key}"
        );
        let (m, from, to, stores) = filter_params(filter);
        self.query(&sql, &[&m, &from, &to, &stores])?
            .iter()
            .map(|row| {
                Ok(ItemFigures {
                    key: row.try_get(0)?,
                    name: row.try_get(1)?,
                    checks: row.try_get(2)?,
                    items_milli: row.try_get(3)?,
                    revenue: row.try_get(4)?,
                    discount: row.try_get(5)?,
                })
            })
            .collect()
    }

    fn customer_activity(
        &mut self,
        filter: &RollupFilter,
    ) -> Result<Vec<CustomerActivity>, DbError> {
        let sql = format!(
            "SELECT d.customer_id, c.gender, c.birth_date,
                 (SELECT MIN(f.local_day) FROM rollup_customer_days f
                  WHERE f.merchant_id = $1 AND f.customer_id = d.customer_id),
                 MAX(d.local_day), COUNT(DISTINCT d.local_day), SUM(d.checks)::BIGINT,
                 SUM(d.revenue)::BIGINT
             FROM (SELECT * FROM rollup_customer_days WHERE {WHERE}) d
             JOIN customers c ON c.id = d.customer_id
             GROUP BY d.customer_id, c.gender, c.birth_date ORDER BY d.customer_id"
        );
        let (m, from, to, stores) = filter_params(filter);
        self.query(&sql, &[&m, &from, &to, &stores])?
            .iter()
            .map(|row| {
                Ok(CustomerActivity {
                    customer_id: int(row, 0)?,
                    gender: row.try_get(1)?,
                    birth_date: row.try_get(2)?,
                    first_day: day_column(row, 3)?,
                    last_day: day_column(row, 4)?,
                    visits: row.try_get(5)?,
                    checks: row.try_get(6)?,
                    revenue: row.try_get(7)?,
                })
            })
            .collect()
    }

    fn cohorts(&mut self, filter: &RollupFilter) -> Result<Vec<CohortCell>, DbError> {
        let sql = format!(
            "WITH firsts AS (
                 SELECT customer_id, substr(MIN(local_day), 1, 7) AS cohort
                 FROM rollup_customer_days WHERE merchant_id = $1 GROUP BY customer_id)
             SELECT f.cohort, substr(d.local_day, 1, 7) AS month, COUNT(DISTINCT d.customer_id)
             FROM (SELECT * FROM rollup_customer_days WHERE {WHERE}) d
             JOIN firsts f ON f.customer_id = d.customer_id
             WHERE f.cohort >= substr($2, 1, 7)
             GROUP BY f.cohort, month ORDER BY f.cohort, month"
        );
        let (m, from, to, stores) = filter_params(filter);
        self.query(&sql, &[&m, &from, &to, &stores])?
            .iter()
            .map(|row| {
                Ok(CohortCell {
                    cohort: row.try_get(0)?,
                    month: row.try_get(1)?,
                    customers: row.try_get(2)?,
                })
            })
            .collect()
    }

    fn promotion_figures(
        &mut self,
        filter: &RollupFilter,
    ) -> Result<Vec<PromotionFigures>, DbError> {
        let sql = format!(
            "SELECT h.promotion_id, SUM(h.checks)::BIGINT, SUM(h.discount)::BIGINT,
                 SUM(h.sales)::BIGINT, SUM(h.items_milli)::BIGINT, MAX(h.funded_by),
                 (SELECT COUNT(DISTINCT c.customer_id) FROM rollup_promotion_customers c
                  WHERE c.promotion_id = h.promotion_id AND {WHERE})
             FROM rollup_promotion_hours h WHERE {WHERE}
             GROUP BY h.promotion_id ORDER BY SUM(h.discount) DESC, h.promotion_id"
        );
        let (m, from, to, stores) = filter_params(filter);
        self.query(&sql, &[&m, &from, &to, &stores])?
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
             FROM rollup_promotion_hours WHERE {WHERE} AND promotion_id = $5 {}",
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
}
