//! [`DraftsTx`] on SQLite.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension as _, Row, params};
use shared::ids::MerchantId;

use super::SqliteTx;
use super::columns::{int, opt_int, opt_time, parsed, sql_int, time, time_text, zone};
use crate::db::{DbError, DraftRow, DraftStatus, DraftsTx, NewDraft, StoredSale};

const COLUMNS: &str = "id, merchant_id, promotion_id, promotion, created_by, created_at, status,
     publish_at, claimed_at, published_version, published_at, failure";

fn draft_row(row: &Row<'_>) -> rusqlite::Result<DraftRow> {
    Ok(DraftRow {
        id: row.get(0)?,
        merchant_id: int(row, 1)?,
        promotion_id: row.get(2)?,
        promotion: row.get(3)?,
        created_by: row.get(4)?,
        created_at: time(row, 5)?,
        status: parsed(row, 6, DraftStatus::from_code)?,
        publish_at: opt_time(row, 7)?,
        claimed_at: opt_time(row, 8)?,
        published_version: opt_int(row, 9)?,
        published_at: opt_time(row, 10)?,
        failure: row.get(11)?,
    })
}

impl DraftsTx for SqliteTx<'_> {
    fn insert_draft(&mut self, merchant: MerchantId, draft: &NewDraft) -> Result<i64, DbError> {
        self.tx
            .prepare_cached(
                "INSERT INTO promotion_drafts
                     (merchant_id, promotion_id, promotion, created_by, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                merchant.get(),
                draft.promotion_id,
                draft.promotion,
                draft.created_by,
                time_text(draft.created_at)
            ])?;
        Ok(self.tx.last_insert_rowid())
    }

    fn drafts(&mut self, merchant: MerchantId) -> Result<Vec<DraftRow>, DbError> {
        let mut stmt = self.tx.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM promotion_drafts WHERE merchant_id = ?1 ORDER BY id DESC"
        ))?;
        let rows = stmt.query_map([merchant.get()], draft_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn draft(&mut self, merchant: MerchantId, id: i64) -> Result<Option<DraftRow>, DbError> {
        Ok(self
            .tx
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM promotion_drafts WHERE merchant_id = ?1 AND id = ?2"
            ))?
            .query_row(params![merchant.get(), id], draft_row)
            .optional()?)
    }

    fn delete_draft(&mut self, merchant: MerchantId, id: i64) -> Result<bool, DbError> {
        let n = self
            .tx
            .prepare_cached("DELETE FROM promotion_drafts WHERE merchant_id = ?1 AND id = ?2")?
            .execute(params![merchant.get(), id])?;
        Ok(n == 1)
    }

    fn set_draft_status(&mut self, id: i64, row: &DraftRow) -> Result<(), DbError> {
        self.tx
            .prepare_cached(
                "UPDATE promotion_drafts SET status = ?2, publish_at = ?3, claimed_at = ?4,
                     published_version = ?5, published_at = ?6, failure = ?7
                 WHERE id = ?1",
            )?
            .execute(params![
                id,
                row.status.code(),
                row.publish_at.map(time_text),
                row.claimed_at.map(time_text),
                row.published_version,
                row.published_at.map(time_text),
                row.failure
            ])?;
        Ok(())
    }

    fn drafts_due(
        &mut self,
        status: DraftStatus,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<DraftRow>, DbError> {
        // Instants are compared parsed: their text does not sort exactly.
        let column = if status == DraftStatus::Publishing {
            8
        } else {
            7
        };
        let mut stmt = self.tx.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM promotion_drafts WHERE status = ?1 ORDER BY id"
        ))?;
        let rows = stmt.query_map([status.code()], |row| {
            Ok((draft_row(row)?, opt_time(row, column)?))
        })?;
        let mut due = Vec::new();
        for row in rows {
            let (draft, at) = row?;
            if at.is_some_and(|at| at <= before) {
                due.push(draft);
            }
            if due.len() >= limit {
                break;
            }
        }
        Ok(due)
    }

    fn sales_since(
        &mut self,
        merchant: MerchantId,
        since: DateTime<Utc>,
        after_row: i64,
        limit: usize,
    ) -> Result<Vec<StoredSale>, DbError> {
        // Text instants sort to the second; a second's margin keeps every
        // sale at or after `since`, and the caller checks the exact time.
        let bound = time_text(since - chrono::TimeDelta::seconds(1));
        let mut stmt = self.tx.prepare_cached(
            "SELECT r.id, r.store_id, r.body, s.timezone, s.brand_id
             FROM records r JOIN stores s ON s.id = r.store_id
             WHERE r.merchant_id = ?1 AND r.id > ?2 AND r.kind = 'sale' AND r.wall_time >= ?3
             ORDER BY r.id LIMIT ?4",
        )?;
        let rows = stmt.query_map(
            params![merchant.get(), after_row, bound, sql_int(limit)],
            |row| {
                Ok(StoredSale {
                    row: row.get(0)?,
                    store_id: int(row, 1)?,
                    body: row.get(2)?,
                    store_timezone: zone(row, 3)?,
                    store_brand: opt_int(row, 4)?,
                })
            },
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
