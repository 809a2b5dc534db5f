//! [`HoldsTx`] on SQLite.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension as _, Row, params};
use shared::ids::{CustomerId, MerchantId};

use super::SqliteTx;
use super::columns::{int, opt_time, parsed, sql_int, time, time_text};
use crate::db::{DbError, HoldRow, HoldStatus, HoldsTx, NewHold, RecordKey};
use crate::wire::MismatchedField;

const HOLD_COLUMNS: &str =
    "register_id, seq, customer_id, points, status, held_at, resolved_at, resolved_by";

fn hold_row(row: &Row<'_>) -> rusqlite::Result<HoldRow> {
    Ok(HoldRow {
        key: RecordKey {
            register_id: int(row, 0)?,
            seq: int(row, 1)?,
        },
        customer_id: int(row, 2)?,
        points: row.get(3)?,
        status: parsed(row, 4, HoldStatus::parse)?,
        held_at: time(row, 5)?,
        resolved_at: opt_time(row, 6)?,
        resolved_by: row.get(7)?,
    })
}

impl HoldsTx for SqliteTx<'_> {
    fn ledger_earned(&mut self, key: RecordKey) -> Result<Option<(CustomerId, i64)>, DbError> {
        Ok(self
            .tx
            .prepare_cached(
                "SELECT customer_id, earned FROM ledger WHERE register_id = ?1 AND seq = ?2",
            )?
            .query_row(params![key.register_id.get(), key.seq.get()], |row| {
                Ok((int(row, 0)?, row.get(1)?))
            })
            .optional()?)
    }

    fn insert_hold(&mut self, hold: &NewHold) -> Result<bool, DbError> {
        let stored = self.tx.execute(
            "INSERT INTO points_holds (register_id, seq, merchant_id, customer_id, points, held_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
            params![
                hold.key.register_id.get(),
                hold.key.seq.get(),
                hold.merchant_id.get(),
                hold.customer_id.get(),
                hold.points,
                time_text(hold.at),
            ],
        )?;
        Ok(stored == 1)
    }

    fn holds(
        &mut self,
        merchant: MerchantId,
        status: Option<HoldStatus>,
        limit: usize,
    ) -> Result<Vec<HoldRow>, DbError> {
        let mut stmt = self.tx.prepare_cached(&format!(
            "SELECT {HOLD_COLUMNS} FROM points_holds
             WHERE merchant_id = ?1 AND (?2 IS NULL OR status = ?2)
             ORDER BY held_at DESC, register_id, seq LIMIT ?3"
        ))?;
        let rows = stmt.query_map(
            params![
                merchant.get(),
                status.map(HoldStatus::as_str),
                sql_int(limit)
            ],
            hold_row,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn hold(&mut self, merchant: MerchantId, key: RecordKey) -> Result<Option<HoldRow>, DbError> {
        Ok(self
            .tx
            .prepare_cached(&format!(
                "SELECT {HOLD_COLUMNS} FROM points_holds
                 WHERE merchant_id = ?1 AND register_id = ?2 AND seq = ?3"
            ))?
            .query_row(
                params![merchant.get(), key.register_id.get(), key.seq.get()],
                hold_row,
            )
            .optional()?)
    }

    fn mismatched_fields(&mut self, key: RecordKey) -> Result<Vec<MismatchedField>, DbError> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT field, till, server FROM price_mismatches WHERE register_id = ?1 AND seq = ?2",
        )?;
        let rows = stmt.query_map(params![key.register_id.get(), key.seq.get()], |row| {
            Ok(MismatchedField {
                field: row.get(0)?,
                till: row.get(1)?,
                server: row.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn resolve_hold(
        &mut self,
        merchant: MerchantId,
        key: RecordKey,
        status: HoldStatus,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, DbError> {
        let changed = self.tx.execute(
            "UPDATE points_holds SET status = ?4, resolved_by = ?5, resolved_at = ?6
             WHERE merchant_id = ?1 AND register_id = ?2 AND seq = ?3 AND status = 'held'",
            params![
                merchant.get(),
                key.register_id.get(),
                key.seq.get(),
                status.as_str(),
                by,
                time_text(at),
            ],
        )?;
        Ok(changed == 1)
    }
}
