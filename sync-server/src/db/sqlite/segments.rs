//! [`SegmentsTx`] on SQLite.

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{OptionalExtension as _, params};
use shared::ids::{CustomerId, MerchantId};

use super::SqliteTx;
use super::columns::{int, opt_date, time, time_text};
use crate::db::{DbError, SegmentRow, SegmentsTx};

impl SegmentsTx for SqliteTx<'_> {
    fn segments(&mut self, merchant: MerchantId) -> Result<Vec<SegmentRow>, DbError> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT code, name, filter, created_at FROM segments
             WHERE merchant_id = ?1 ORDER BY code",
        )?;
        let rows = stmt.query_map([merchant.get()], |row| {
            Ok(SegmentRow {
                code: row.get(0)?,
                name: row.get(1)?,
                filter: row.get(2)?,
                created_at: time(row, 3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn insert_segment(&mut self, merchant: MerchantId, row: &SegmentRow) -> Result<bool, DbError> {
        let stored = self.tx.execute(
            "INSERT INTO segments (merchant_id, code, name, filter, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
            params![
                merchant.get(),
                row.code,
                row.name,
                row.filter,
                time_text(row.created_at)
            ],
        )?;
        Ok(stored == 1)
    }

    fn delete_segment(&mut self, merchant: MerchantId, code: &str) -> Result<bool, DbError> {
        let deleted = self.tx.execute(
            "DELETE FROM segments WHERE merchant_id = ?1 AND code = ?2",
            params![merchant.get(), code],
        )?;
        Ok(deleted == 1)
    }

    fn tags_with_prefixes(
        &mut self,
        merchant: MerchantId,
        prefixes: &[&str],
    ) -> Result<Vec<(CustomerId, String)>, DbError> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT t.customer_id, t.tag FROM customer_tags t
             JOIN customers c ON c.id = t.customer_id
             WHERE c.merchant_id = ?1 ORDER BY t.customer_id, t.tag",
        )?;
        let rows = stmt.query_map([merchant.get()], |row| {
            Ok((int::<CustomerId>(row, 0)?, row.get::<_, String>(1)?))
        })?;
        let mut tags = Vec::new();
        for row in rows {
            let (customer, tag) = row?;
            if prefixes.iter().any(|p| tag.starts_with(p)) {
                tags.push((customer, tag));
            }
        }
        Ok(tags)
    }

    fn add_customer_tag(&mut self, customer: CustomerId, tag: &str) -> Result<(), DbError> {
        self.tx
            .prepare_cached(
                "INSERT INTO customer_tags (customer_id, tag) VALUES (?1, ?2)
                 ON CONFLICT DO NOTHING",
            )?
            .execute(params![customer.get(), tag])?;
        Ok(())
    }

    fn remove_customer_tag(&mut self, customer: CustomerId, tag: &str) -> Result<(), DbError> {
        self.tx
            .prepare_cached("DELETE FROM customer_tags WHERE customer_id = ?1 AND tag = ?2")?
            .execute(params![customer.get(), tag])?;
        Ok(())
    }

    fn tag_counts(&mut self, merchant: MerchantId) -> Result<Vec<(String, i64)>, DbError> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT t.tag, COUNT(*) FROM customer_tags t
             JOIN customers c ON c.id = t.customer_id
             WHERE c.merchant_id = ?1 GROUP BY t.tag ORDER BY t.tag",
        )?;
        let rows = stmt.query_map([merchant.get()], |row| Ok((row.get(0)?, row.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn customers_with_tag(
        &mut self,
        merchant: MerchantId,
        tag: &str,
    ) -> Result<Vec<CustomerId>, DbError> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT t.customer_id FROM customer_tags t
             JOIN customers c ON c.id = t.customer_id
             WHERE c.merchant_id = ?1 AND t.tag = ?2",
        )?;
        let rows = stmt.query_map(params![merchant.get(), tag], |row| int(row, 0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn customer_tags(&mut self, customer: CustomerId) -> Result<Vec<String>, DbError> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT tag FROM customer_tags WHERE customer_id = ?1 ORDER BY tag")?;
        let rows = stmt.query_map([customer.get()], |row| row.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn segments_as_of(&mut self, merchant: MerchantId) -> Result<Option<NaiveDate>, DbError> {
        Ok(self
            .tx
            .prepare_cached("SELECT as_of FROM segment_refreshes WHERE merchant_id = ?1")?
            .query_row([merchant.get()], |row| opt_date(row, 0))
            .optional()?
            .flatten())
    }

    fn set_segments_as_of(
        &mut self,
        merchant: MerchantId,
        day: NaiveDate,
        at: DateTime<Utc>,
    ) -> Result<(), DbError> {
        self.tx.execute(
            "INSERT INTO segment_refreshes (merchant_id, as_of, at) VALUES (?1, ?2, ?3)
             ON CONFLICT (merchant_id) DO UPDATE SET as_of = excluded.as_of, at = excluded.at",
            params![merchant.get(), day.to_string(), time_text(at)],
        )?;
        Ok(())
    }
}
