//! [`DraftsTx`] on PostgreSQL.

use chrono::{DateTime, Utc};
use postgres::Row;
use shared::ids::MerchantId;

use super::PgTx;
use super::columns::{all, int, opt_int, parsed, sql_int, zone};
use crate::db::{Access, DbError, DraftRow, DraftStatus, DraftsTx, NewDraft, StoredSale};

const COLUMNS: &str = "id, merchant_id, promotion_id, promotion, created_by, created_at, status,
     publish_at, claimed_at, published_version, published_at, failure";

fn draft_row(row: &Row) -> Result<DraftRow, DbError> {
    Ok(DraftRow {
        id: row.try_get(0)?,
        merchant_id: int(row, 1)?,
        promotion_id: row.try_get(2)?,
        promotion: row.try_get(3)?,
        created_by: row.try_get(4)?,
        created_at: row.try_get(5)?,
        status: parsed(row, 6, DraftStatus::from_code)?,
        publish_at: row.try_get(7)?,
        claimed_at: row.try_get(8)?,
        published_version: opt_int(row, 9)?,
        published_at: row.try_get(10)?,
        failure: row.try_get(11)?,
    })
}

impl DraftsTx for PgTx<'_, '_> {
    fn insert_draft(&mut self, merchant: MerchantId, draft: &NewDraft) -> Result<i64, DbError> {
        let row = self.query_one(
            "INSERT INTO promotion_drafts
                 (merchant_id, promotion_id, promotion, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
            &[
                &merchant.get(),
                &draft.promotion_id,
                &draft.promotion,
                &draft.created_by,
                &draft.created_at,
            ],
        )?;
        Ok(row.try_get(0)?)
    }

    fn drafts(&mut self, merchant: MerchantId) -> Result<Vec<DraftRow>, DbError> {
        let rows = self.query(
            &format!(
                "SELECT {COLUMNS} FROM promotion_drafts WHERE merchant_id = $1 ORDER BY id DESC"
            ),
            &[&merchant.get()],
        )?;
        all(&rows, draft_row)
    }

    fn draft(&mut self, merchant: MerchantId, id: i64) -> Result<Option<DraftRow>, DbError> {
        let lock = if self.access == Access::Write {
            " FOR UPDATE"
        } else {
            ""
        };
        self.query_opt(
            &format!(
                "SELECT {COLUMNS} FROM promotion_drafts WHERE merchant_id = $1 AND id = $2{lock}"
            ),
            &[&merchant.get(), &id],
        )?
        .as_ref()
        .map(draft_row)
        .transpose()
    }

    fn delete_draft(&mut self, merchant: MerchantId, id: i64) -> Result<bool, DbError> {
        let n = self.execute(
            "DELETE FROM promotion_drafts WHERE merchant_id = $1 AND id = $2",
            &[&merchant.get(), &id],
        )?;
        Ok(n == 1)
    }

    fn set_draft_status(&mut self, id: i64, row: &DraftRow) -> Result<(), DbError> {
        self.execute(
            "UPDATE promotion_drafts SET status = $2, publish_at = $3, claimed_at = $4,
                 published_version = $5, published_at = $6, failure = $7
             WHERE id = $1",
            &[
                &id,
                &row.status.code(),
                &row.publish_at,
                &row.claimed_at,
                &row.published_version,
                &row.published_at,
                &row.failure,
            ],
        )?;
        Ok(())
    }

    fn drafts_due(
        &mut self,
        status: DraftStatus,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<DraftRow>, DbError> {
        let column = if status == DraftStatus::Publishing {
            "claimed_at"
        } else {
            "publish_at"
        };
        // Another instance claiming at the same time skips these rows.
        let lock = if self.access == Access::Write {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let rows = self.query(
            &format!(
                "SELECT {COLUMNS} FROM promotion_drafts
                 WHERE status = $1 AND {column} <= $2 ORDER BY id LIMIT $3{lock}"
            ),
            &[&status.code(), &before, &sql_int(limit)],
        )?;
        all(&rows, draft_row)
    }

    fn sales_since(
        &mut self,
        merchant: MerchantId,
        since: DateTime<Utc>,
        after_row: i64,
        limit: usize,
    ) -> Result<Vec<StoredSale>, DbError> {
        let rows = self.query(
            "SELECT r.id, r.store_id, r.body, s.timezone, s.brand_id
             FROM records r JOIN stores s ON s.id = r.store_id
             WHERE r.merchant_id = $1 AND r.id > $2 AND r.kind = 'sale' AND r.wall_time >= $3
             ORDER BY r.id LIMIT $4",
            &[&merchant.get(), &after_row, &since, &sql_int(limit)],
        )?;
        all(&rows, |row| {
            Ok(StoredSale {
                row: row.try_get(0)?,
                store_id: int(row, 1)?,
                body: row.try_get(2)?,
                store_timezone: zone(row, 3)?,
                store_brand: opt_int(row, 4)?,
            })
        })
    }
}
