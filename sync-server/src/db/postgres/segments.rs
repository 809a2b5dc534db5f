//! [`SegmentsTx`] on PostgreSQL.

use chrono::{DateTime, NaiveDate, Utc};
use shared::ids::{CustomerId, MerchantId};

use super::PgTx;
use super::columns::{all, int};
use crate::db::{DbError, SegmentRow, SegmentsTx};

impl SegmentsTx for PgTx<'_, '_> {
    fn segments(&mut self, merchant: MerchantId) -> Result<Vec<SegmentRow>, DbError> {
        let rows = self.query(
            "SELECT code, name, filter, created_at FROM segments
             WHERE merchant_id = $1 ORDER BY code",
            &[&merchant.get()],
        )?;
        all(&rows, |row| {
            Ok(SegmentRow {
                code: row.try_get(0)?,
                name: row.try_get(1)?,
                filter: row.try_get(2)?,
                created_at: row.try_get(3)?,
            })
        })
    }

    fn insert_segment(&mut self, merchant: MerchantId, row: &SegmentRow) -> Result<bool, DbError> {
        let stored = self.execute(
            "INSERT INTO segments (merchant_id, code, name, filter, created_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            &[
                &merchant.get(),
                &row.code,
                &row.name,
                &row.filter,
                &row.created_at,
            ],
        )?;
        Ok(stored == 1)
    }

    fn delete_segment(&mut self, merchant: MerchantId, code: &str) -> Result<bool, DbError> {
        let deleted = self.execute(
            "DELETE FROM segments WHERE merchant_id = $1 AND code = $2",
            &[&merchant.get(), &code],
        )?;
        Ok(deleted == 1)
    }

    fn tags_with_prefixes(
        &mut self,
        merchant: MerchantId,
        prefixes: &[&str],
    ) -> Result<Vec<(CustomerId, String)>, DbError> {
        let rows = self.query(
            "SELECT t.customer_id, t.tag FROM customer_tags t
             JOIN customers c ON c.id = t.customer_id
             WHERE c.merchant_id = $1 ORDER BY t.customer_id, t.tag",
            &[&merchant.get()],
        )?;
        let mut tags = Vec::new();
        for row in &rows {
            let tag: String = row.try_get(1)?;
            if prefixes.iter().any(|p| tag.starts_with(p)) {
                tags.push((int::<CustomerId>(row, 0)?, tag));
            }
        }
        Ok(tags)
    }

    fn add_customer_tag(&mut self, customer: CustomerId, tag: &str) -> Result<(), DbError> {
        self.execute(
            "INSERT INTO customer_tags (customer_id, tag) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&customer.get(), &tag],
        )?;
        Ok(())
    }

    fn remove_customer_tag(&mut self, customer: CustomerId, tag: &str) -> Result<(), DbError> {
        self.execute(
            "DELETE FROM customer_tags WHERE customer_id = $1 AND tag = $2",
            &[&customer.get(), &tag],
        )?;
        Ok(())
    }

    fn tag_counts(&mut self, merchant: MerchantId) -> Result<Vec<(String, i64)>, DbError> {
        let rows = self.query(
            "SELECT t.tag, COUNT(*) FROM customer_tags t
             JOIN customers c ON c.id = t.customer_id
             WHERE c.merchant_id = $1 GROUP BY t.tag ORDER BY t.tag",
            &[&merchant.get()],
        )?;
        all(&rows, |row| Ok((row.try_get(0)?, row.try_get(1)?)))
    }

    fn customers_with_tag(
        &mut self,
        merchant: MerchantId,
        tag: &str,
    ) -> Result<Vec<CustomerId>, DbError> {
        let rows = self.query(
            "SELECT t.customer_id FROM customer_tags t
             JOIN customers c ON c.id = t.customer_id
             WHERE c.merchant_id = $1 AND t.tag = $2",
            &[&merchant.get(), &tag],
        )?;
        all(&rows, |row| int(row, 0))
    }

    fn customer_tags(&mut self, customer: CustomerId) -> Result<Vec<String>, DbError> {
        let rows = self.query(
            "SELECT tag FROM customer_tags WHERE customer_id = $1 ORDER BY tag",
            &[&customer.get()],
        )?;
        all(&rows, |row| Ok(row.try_get(0)?))
    }

    fn segments_as_of(&mut self, merchant: MerchantId) -> Result<Option<NaiveDate>, DbError> {
        self.query_opt(
            "SELECT as_of FROM segment_refreshes WHERE merchant_id = $1",
            &[&merchant.get()],
        )?
        .map(|row| row.try_get(0).map_err(DbError::from))
        .transpose()
    }

    fn set_segments_as_of(
        &mut self,
        merchant: MerchantId,
        day: NaiveDate,
        at: DateTime<Utc>,
    ) -> Result<(), DbError> {
        self.execute(
            "INSERT INTO segment_refreshes (merchant_id, as_of, at) VALUES ($1, $2, $3)
             ON CONFLICT (merchant_id) DO UPDATE SET as_of = excluded.as_of, at = excluded.at",
            &[&merchant.get(), &day, &at],
        )?;
        Ok(())
    }
}
